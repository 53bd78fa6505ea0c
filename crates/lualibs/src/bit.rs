//! `bit`: the LuaBitOp library. Every argument is normalised to a 32-bit integer the way
//! LuaBitOp does on Lua 5.1 with double numbers (adding 2^52+2^51 and keeping the low word of
//! the result, i.e. rounding to nearest-even modulo 2^32), and results come back as signed
//! 32-bit numbers.

use crate::util::{as_num, to_number, typename, wrap, LResult, LuaErr};
use mlua::{Lua, MultiValue, Table, Value};

/// LuaBitOp's `barg`: the 32-bit pattern of argument `narg`. Like the 5.1 build of the C
/// library, anything `lua_tonumber` cannot convert counts as 0 and is only an error when the
/// resulting pattern is 0 too (so `bit.tobit({})` fails but the check is that lenient).
fn barg(lua: &Lua, args: &MultiValue, narg: usize) -> LResult<u32> {
    let v = args.get(narg - 1);
    let n = match v.and_then(as_num) {
        Some(n) => Some(n),
        None => to_number(lua, v)?,
    };
    let b = normalise(n.unwrap_or(0.0));
    if b == 0 && n.is_none() {
        return Err(LuaErr::Arg(
            narg as i32,
            format!("number expected, got {}", typename(v)).into_bytes(),
        ));
    }
    Ok(b)
}

/// The 2^52+2^51 trick: after the addition the low 32 bits of the double's representation hold
/// the number rounded to an integer, modulo 2^32 (for |n| < 2^51).
fn normalise(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

fn ret(b: u32) -> LResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Number(b as i32 as f64)]))
}

/// A variadic fold (band/bor/bxor): the C library folds from the last argument down to the
/// first, which only matters for which bad argument is reported first.
fn fold(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> LResult<MultiValue> {
    let mut b = barg(lua, args, 1)?;
    for i in (2..=args.len()).rev() {
        b = op(b, barg(lua, args, i)?);
    }
    ret(b)
}

/// A shift or rotation: the count is taken modulo 32.
fn shift(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> LResult<MultiValue> {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    ret(op(b, n))
}

/// `bit.tohex(x [, n])`: `n` hex digits of `x` (8 by default; negative for upper case; at most
/// 8, the lowest digits are kept).
fn tohex(lua: &Lua, args: &MultiValue) -> LResult<MultiValue> {
    let mut b = barg(lua, args, 1)?;
    let n: i32 = if args.len() < 2 {
        8
    } else {
        barg(lua, args, 2)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    // Negative means upper case; INT_MIN, whose negation overflows in C, comes out of Redis's
    // build as 8 digits like any other large width.
    let n = n.unsigned_abs().min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&buf[..n])?,
    )]))
}

pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", wrap(lua, |lua, a| ret(barg(lua, &a, 1)?))?)?;
    t.raw_set("bnot", wrap(lua, |lua, a| ret(!barg(lua, &a, 1)?))?)?;
    t.raw_set("band", wrap(lua, |lua, a| fold(lua, &a, |x, y| x & y))?)?;
    t.raw_set("bor", wrap(lua, |lua, a| fold(lua, &a, |x, y| x | y))?)?;
    t.raw_set("bxor", wrap(lua, |lua, a| fold(lua, &a, |x, y| x ^ y))?)?;
    t.raw_set("lshift", wrap(lua, |lua, a| shift(lua, &a, |b, n| b << n))?)?;
    t.raw_set("rshift", wrap(lua, |lua, a| shift(lua, &a, |b, n| b >> n))?)?;
    t.raw_set(
        "arshift",
        wrap(lua, |lua, a| {
            shift(lua, &a, |b, n| ((b as i32) >> n) as u32)
        })?,
    )?;
    t.raw_set(
        "rol",
        wrap(lua, |lua, a| shift(lua, &a, |b, n| b.rotate_left(n)))?,
    )?;
    t.raw_set(
        "ror",
        wrap(lua, |lua, a| shift(lua, &a, |b, n| b.rotate_right(n)))?,
    )?;
    t.raw_set(
        "bswap",
        wrap(lua, |lua, a| ret(barg(lua, &a, 1)?.swap_bytes()))?,
    )?;
    t.raw_set("tohex", wrap(lua, |lua, a| tohex(lua, &a))?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, eval_bytes, eval_err, lua};

    /// Expected values come from Redis 7.0 (`EVAL "return ..." 0`).
    #[test]
    fn matches_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            ("bit.tobit(1)", "1"),
            ("bit.tobit(0xffffffff)", "-1"),
            ("bit.tobit(2^32 + 5)", "5"),
            ("bit.tobit(1.5)", "2"),
            ("bit.tobit(2.5)", "2"),
            ("bit.tobit(-1.5)", "-2"),
            ("bit.tobit('12')", "12"),
            ("bit.band(1)", "1"),
            ("bit.bxor(1, 2)", "3"),
            ("bit.bor(1,2,4,8,16,32,64,128)", "255"),
            ("bit.band(0xff00ff, 0x0ff0f0, 0xfffff0)", "983280"),
            ("bit.bnot(0)", "-1"),
            ("bit.bnot(0x12345678)", "-305419897"),
            ("bit.lshift(1, 31)", "-2147483648"),
            ("bit.lshift(1, 32)", "1"),
            ("bit.lshift(1, 33)", "2"),
            ("bit.rshift(-1, 28)", "15"),
            ("bit.arshift(-256, 4)", "-16"),
            ("bit.arshift(256, 4)", "16"),
            ("bit.rol(0x12345678, 12)", "1164411171"),
            ("bit.ror(0x12345678, 12)", "1736516421"),
            ("bit.bswap(0x12345678)", "2018915346"),
            ("bit.tohex(1)", "00000001"),
            ("bit.tohex(-1)", "ffffffff"),
            ("bit.tohex(0xdeadbeef, -4)", "BEEF"),
            ("bit.tohex(0xdeadbeef, 3)", "eef"),
            ("bit.tohex(0xdeadbeef, 20)", "deadbeef"),
            ("bit.tohex(255, 0)", ""),
            ("bit.tohex(-1, -2^31)", "FFFFFFFF"),
            ("bit.tohex(1, 2^31)", "00000001"),
            ("bit.tobit(1e20)", "2025163840"),
            ("bit.tobit(-2^31)", "-2147483648"),
            ("bit.tobit(2^31)", "-2147483648"),
        ];
        for (expr, want) in cases {
            let got = eval_bytes(&l, &format!("return tostring({expr})"));
            assert_eq!(String::from_utf8_lossy(&got), *want, "{expr}");
        }
    }

    #[test]
    fn redis_test_suite_cases() {
        let l = lua();
        // "EVAL - Verify minimal bitop functionality" and the numerical sanity check.
        let ok: bool = eval(
            &l,
            "assert(bit.tobit(1) == 1); assert(bit.band(1) == 1); assert(bit.bxor(1,2) == 3);
             assert(bit.bor(1,2,4,8,16,32,64,128) == 255)
             assert(0x7fffffff == 2147483647, 'broken hex literals')
             return true",
        );
        assert!(ok);
    }

    #[test]
    fn errors() {
        let l = lua();
        assert_eq!(
            eval_err(&l, "return bit.band(1, {})"),
            "user_script:1: bad argument #2 to 'band' (number expected, got table)"
        );
        assert_eq!(
            eval_err(&l, "return bit.tobit()"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        assert_eq!(
            eval_err(&l, "return bit.tobit('x')"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got string)"
        );
        let e: String = eval(&l, "local ok, e = pcall(bit.tobit, nil) return e");
        assert_eq!(e, "bad argument #1 to '?' (number expected, got nil)");
    }
}
