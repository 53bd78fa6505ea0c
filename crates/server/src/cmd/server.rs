//! INFO, TIME and LASTSAVE (Redis's server.c commands that report on the server itself).
//!
//! INFO walks the shards one at a time through [`info::for_each_shard`] rather than stopping
//! every client for the whole walk; its sections are built in `crate::info`.

use std::sync::atomic::Ordering;

use cinnabar_engine::Result;

use crate::dispatch::{Ctx, Registry};
use crate::info::{self, Selection};

pub fn register(r: &mut Registry) {
    r.add("info", info_cmd);
    r.add_nothing("time", time);
    r.add_nothing("lastsave", lastsave);
}

/// INFO [section ...]: a verbatim string (a bulk string in RESP2), as Redis replies.
fn info_cmd(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let sel = Selection::parse(&ctx.args[1..]);
    let text = info::generate(ctx.server, ctx.data, &sel, ctx.now, used);
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// TIME: seconds and the microseconds within the second, both as bulk strings.
fn time(ctx: &mut Ctx) -> Result<()> {
    // The execution unit's time (a script reads the same TIME throughout, as Redis's cached
    // time). DEBUG ADVANCE-CLOCK moves TIME too: scripts see the same clock as expiry.
    let us =
        crate::dispatch::sink::unit_us() + ctx.server.clock_shift_ms.load(Ordering::Relaxed) * 1000;
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(())
}

fn lastsave(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(ctx.server.lastsave.load(Ordering::Relaxed));
    Ok(())
}
