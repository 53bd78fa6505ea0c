//! Redis's replacement for `math.random` / `math.randomseed`: the `lrand48` recurrence of
//! `redisLrand48` (x' = 0x5DEECE66D * x + 0xB mod 2^48, output the top 31 bits), scaled the way
//! Lua 5.1's own `math.random` scales `rand()`, so scripts get the same numbers as in Redis.

use crate::util::{arg_err, check_int, msg_err, wrap, LResult};
use mlua::{Lua, MultiValue, Table, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

const MULT: u64 = 0x5_DEEC_E66D;
const ADD: u64 = 0xB;
const MASK48: u64 = (1 << 48) - 1;
/// Redis's generator before any seeding: x = 0x1234_ABCD_330E (what `srand48(0x1234ABCD)` sets).
const INITIAL: u64 = 0x1234_ABCD_330E;
/// `REDIS_LRAND48_MAX`.
const LRAND48_MAX: i64 = i32::MAX as i64;

/// A handle on a `redisLrand48` generator; clones share the state. Redis has one per process,
/// shared by every script ([`Prng::global`]).
#[derive(Clone, Debug)]
pub struct Prng(Arc<AtomicU64>);

impl Default for Prng {
    fn default() -> Self {
        Self::new()
    }
}

impl Prng {
    /// A private generator in Redis's start-up state.
    pub fn new() -> Self {
        Prng(Arc::new(AtomicU64::new(INITIAL)))
    }

    /// The process-wide generator that [`crate::install_random`] uses.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Prng> = OnceLock::new();
        GLOBAL.get_or_init(Prng::new).clone()
    }

    /// `redisSrand48(seed)`: the low 32 bits of the seed become the high bits of the state.
    pub fn seed(&self, seed: i32) {
        self.0
            .store(((seed as u32 as u64) << 16) | 0x330E, Ordering::Relaxed);
    }

    /// `redisLrand48()`: the next value in `0..2^31`.
    pub fn next_u31(&self) -> i32 {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = cur.wrapping_mul(MULT).wrapping_add(ADD) & MASK48;
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (next >> 17) as i32,
                Err(now) => cur = now,
            }
        }
    }

    /// The float in `[0, 1)` that Redis's `math.random()` derives from one output.
    pub fn next_f64(&self) -> f64 {
        (self.next_u31() as i64 % LRAND48_MAX) as f64 / LRAND48_MAX as f64
    }
}

/// `math.random([m [, n]])` as Redis defines it (Lua 5.1's, with `rand()` replaced).
fn random(lua: &Lua, prng: &Prng, args: &MultiValue) -> LResult<MultiValue> {
    let r = prng.next_f64();
    let v = match args.len() {
        0 => r,
        1 => {
            let u = check_int(lua, args, 1)?;
            if u < 1 {
                return arg_err(1, "interval is empty");
            }
            (r * u as f64).floor() + 1.0
        }
        2 => {
            let l = check_int(lua, args, 1)?;
            let u = check_int(lua, args, 2)?;
            if l > u {
                return arg_err(2, "interval is empty");
            }
            // `u-l+1` is int arithmetic in C; it wraps for the widest intervals.
            let width = u.wrapping_sub(l).wrapping_add(1);
            (r * width as f64).floor() + l as f64
        }
        _ => return msg_err("wrong number of arguments"),
    };
    Ok(MultiValue::from_vec(vec![Value::Number(v)]))
}

pub(crate) fn install(lua: &Lua, prng: Prng) -> mlua::Result<()> {
    let math: Table = lua.globals().raw_get("math")?;
    let p = prng.clone();
    math.raw_set("random", wrap(lua, move |lua, a| random(lua, &p, &a))?)?;
    let p = prng.clone();
    math.raw_set(
        "randomseed",
        wrap(lua, move |lua, a| {
            p.seed(check_int(lua, &a, 1)?);
            Ok(MultiValue::new())
        })?,
    )?;
    lua.set_app_data(prng);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, eval_bytes, eval_err, lua};

    /// The first numbers a freshly started Redis 7.0 gives (`tostring` of each).
    #[test]
    fn fresh_sequence_matches_redis() {
        let l = lua();
        let got = eval_bytes(
            &l,
            "return tostring(math.random()) .. ' ' .. math.random(10) .. ' ' .. math.random(5, 100)",
        );
        assert_eq!(String::from_utf8_lossy(&got), "0.39646477363839 9 38");
    }

    #[test]
    fn seeded_sequences_match_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            (
                "math.randomseed(0)",
                "0.17082803611217 0.74990198051087 0.09637165539729",
            ),
            (
                "math.randomseed(10)",
                "0.87885112309775 0.7958066229689 0.48082728100979",
            ),
            (
                "math.randomseed(-7)",
                "0.07521187517569 0.81776873106964 0.9272527182136",
            ),
        ];
        for (seed, want) in cases {
            let got = eval_bytes(
                &l,
                &format!(
                    "{seed} return tostring(math.random()) .. ' ' .. tostring(math.random()) \
                     .. ' ' .. tostring(math.random())"
                ),
            );
            assert_eq!(String::from_utf8_lossy(&got), *want, "{seed}");
        }
        let got = eval_bytes(
            &l,
            "math.randomseed(42) local t = {} for i = 1, 8 do t[i] = math.random(6) end \
             t[9] = math.random(-3, 3) t[10] = math.random(1000000, 1000005) \
             return table.concat(t, ' ')",
        );
        assert_eq!(String::from_utf8_lossy(&got), "5 3 1 3 1 6 3 3 1 1000005");
    }

    #[test]
    fn redis_suite_seeding() {
        // "Scripting engine PRNG can be seeded correctly".
        let l = lua();
        let a: String = eval(&l, "math.randomseed(10); return tostring(math.random())");
        let b: String = eval(&l, "math.randomseed(10); return tostring(math.random())");
        let c: String = eval(&l, "math.randomseed(20); return tostring(math.random())");
        assert_eq!(a, b);
        assert_ne!(b, c);
        // Not reseeded between scripts: consecutive runs differ ("random numbers are random now").
        let d: String = eval(&l, "return tostring(math.random())");
        let e: String = eval(&l, "return tostring(math.random())");
        assert_ne!(d, e);
        crate::reset_random_seed(&l);
        let f: String = eval(&l, "return tostring(math.random())");
        assert_eq!(f, "0.17082803611217");
    }

    /// `install_random` uses the process-wide generator (the only test that touches it).
    #[test]
    fn install_random_uses_the_global_generator() {
        let l = mlua::Lua::new();
        crate::install_random(&l).unwrap();
        let got: f64 = eval(&l, "math.randomseed(7) return math.random()");
        let private = super::Prng::new();
        private.seed(7);
        assert_eq!(got, private.next_f64());
        // The handle reads the same state the script advanced.
        let next = super::Prng::global().next_f64();
        assert_eq!(next, private.next_f64());
        crate::reset_random_seed(&l);
        let after_reset: f64 = eval(&l, "return math.random()");
        private.seed(0);
        assert_eq!(after_reset, private.next_f64());
    }

    #[test]
    fn errors_match_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            (
                "math.random(0)",
                "bad argument #1 to 'random' (interval is empty)",
            ),
            (
                "math.random(5, 4)",
                "bad argument #2 to 'random' (interval is empty)",
            ),
            ("math.random(1, 2, 3)", "wrong number of arguments"),
            (
                "math.random('x')",
                "bad argument #1 to 'random' (number expected, got string)",
            ),
            (
                "math.randomseed()",
                "bad argument #1 to 'randomseed' (number expected, got no value)",
            ),
        ];
        for (expr, want) in cases {
            let got = eval_err(&l, &format!("return {expr}"));
            assert_eq!(got, format!("user_script:1: {want}"), "{expr}");
        }
    }
}
