//! Native rate limiting: `CL.THROTTLE`, compatible with the redis-cell module.
//!
//! The state of a limiter is one string key holding its theoretical arrival time (TAT) in
//! nanoseconds since the epoch (the same value redis-cell stores), expiring exactly when the
//! TAT passes: an expired limiter and a full bucket are the same thing, so idle limiters cost
//! nothing. The algorithm itself is the pure [`cinnabar_engine::gcra::throttle`]; this file
//! parses, reads the key and writes the new TAT. The whole command runs under its key's shard
//! lock, so concurrent requests on one limiter are serialised without redis-cell's
//! compare-and-swap retries. A granted request is one change to the key (modified, `new`
//! when it creates the limiter, no other event) and propagates as its effect, `SET key tat
//! PXAT deadline`; a refused request changes nothing and propagates nothing.

use std::sync::atomic::Ordering;

use cinnabar_engine::gcra::{throttle, Quota};
use cinnabar_engine::{Entry, Error, NewValue, Result};

use super::{int_arg, str_value, StrVal};
use crate::argv;
use crate::dispatch::{Ctx, Registry};

pub fn register(r: &mut Registry) {
    r.add("cl.throttle", cl_throttle);
}

/// Nanoseconds since the epoch for a command that started at `now_ms`: the real clock, so
/// successive requests see time move forward with sub-millisecond precision. (Falling back to
/// a frozen millisecond, e.g. a script's start time, could go back in time by up to 1 ms
/// against a TAT stored from the real clock, and refuse a request that fits.) `shift_ms` is
/// the server's `DEBUG ADVANCE-CLOCK` shift, which `now_ms` already includes.
fn now_ns(now_ms: i64, shift_ms: i64) -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    (real + shift_ms.saturating_mul(1_000_000)).max(now_ms.saturating_mul(1_000_000))
}

/// CL.THROTTLE key max_burst count_per_period period [quantity]
///
/// Replies `[limited, limit, remaining, retry_after, reset_after]` (seconds; retry_after is -1
/// when allowed). A request that is refused changes nothing.
fn cl_throttle<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    if ctx.args.len() > 6 {
        return Err(Error::WrongArity("cl.throttle".into()));
    }
    let shift_ms = ctx.server.clock_shift_ms.load(Ordering::Relaxed);
    let quota = Quota {
        max_burst: int_arg(ctx.arg(2))?,
        count: int_arg(ctx.arg(3))?,
        period_secs: int_arg(ctx.arg(4))?,
    };
    let quantity = match ctx.args.get(5) {
        Some(a) => int_arg(a)?,
        None => 1,
    };
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = db.lookup(h, key, now);
    let tat = match slot {
        None => None,
        Some(s) => Some(match str_value(db.entry(s))? {
            StrVal::Int(n) => n,
            StrVal::Bytes(b) => int_arg(b)?,
        }),
    };
    let out = throttle(quota, quantity, tat, now_ns(now, shift_ms))?;
    // Quantity 0 only asks: the TAT does not move, so there is nothing to store.
    if let Some(new_tat) = out.new_tat.filter(|_| quantity > 0) {
        // Expire at the first millisecond at or after the TAT.
        let deadline = new_tat / 1_000_000 + (new_tat % 1_000_000 != 0) as i64;
        match slot {
            Some(s) => {
                db.entry_mut(s).set_value(NewValue::Int(new_tat));
                db.touch(s, now);
                db.set_expire(s, Some(deadline));
            }
            None => {
                db.put(
                    h,
                    Entry::new(
                        key,
                        NewValue::Int(new_tat),
                        Some(deadline),
                        db.fresh_clock(now),
                    ),
                );
                ctx.added(key);
            }
        }
        ctx.modified(key);
        ctx.dirty(1);
        if ctx.fx.propagating() {
            let mut t = itoa::Buffer::new();
            let mut d = itoa::Buffer::new();
            ctx.fx.propagate_as(|| {
                argv![b"SET", key, t.format(new_tat), b"PXAT", d.format(deadline)]
            });
        }
    }
    ctx.out.array(5);
    ctx.out.integer(out.limited as i64);
    ctx.out.integer(out.limit);
    ctx.out.integer(out.remaining);
    ctx.out.integer(out.retry_after);
    ctx.out.integer(out.reset_after);
    Ok(())
}
