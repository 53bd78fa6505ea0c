//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Each first tries its non-blocking form (LPOP, LMOVE, ZPOPMIN, LMPOP ...) on its keys, in
//! order, under the locks the dispatcher took for all of them. If nothing can be popped it
//! registers the client as a waiter (see `crate::blocking`) before releasing those locks, so a
//! concurrent push cannot be missed. Inside MULTI/EXEC it answers as on timeout instead.
//!
//! The blocking command itself records no effects: the non-blocking form it runs (now, or
//! when served later) records them as any command does, which gives what Redis 7.2's
//! rewrites give: BLPOP/BRPOP propagate as `LPOP|RPOP key`, BLMOVE as LMOVE, BRPOPLPUSH as
//! RPOPLPUSH, BLMPOP as `LPOP|RPOP key count` (LMPOP's rewrite), BZPOPMIN/BZPOPMAX as
//! `ZPOPMIN|ZPOPMAX key`, BZMPOP as ZMPOP's rewrite; events, `dirty`, WATCH and tracking
//! once, when something is popped; an attempt that finds nothing (and blocks) records
//! nothing.

use cinnabar_engine::{num, Error, Result};
use cinnabar_resp::ReplyBuf;
use smallvec::SmallVec;

use super::is;
use crate::blocking::{Kind, KEY_SLOT};
use crate::dispatch::{run_locked, Ctx, Registry};

pub fn register(r: &mut Registry) {
    r.add("blpop", blpop);
    r.add("brpop", brpop);
    r.add("brpoplpush", brpoplpush);
    r.add("blmove", blmove);
    r.add("blmpop", blmpop);
    r.add("bzpopmin", bzpopmin);
    r.add("bzpopmax", bzpopmax);
    r.add("bzmpop", bzmpop);
}

/// Parses a blocking timeout in (fractional) seconds into an absolute deadline in ms, or None
/// for 0 (wait forever), with Redis's errors.
fn deadline(arg: &[u8], now: i64) -> Result<Option<i64>> {
    let secs = num::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::msg("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms > (i64::MAX / 2) as f64 {
        return Err(Error::msg("ERR timeout is out of range"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(now + ms as i64))
}

/// Runs `argv` (a non-blocking command) under the locks already held. Ok(Some(reply)) when it
/// produced something, Ok(None) when there was nothing to pop, Err for its error (WRONGTYPE,
/// a bad argument), which the blocking command reports at once.
fn try_now(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let entry = ctx.server.registry.resolve(argv)?;
    let mut tmp = ReplyBuf::new(ctx.out.proto);
    ctx.client.uncounted = crate::dispatch::Uncounted::Entirely;
    run_locked(
        ctx.server, ctx.worker, ctx.client, &mut tmp, argv, entry, ctx.data,
    );
    ctx.client.uncounted = crate::dispatch::Uncounted::No;
    if tmp.buf.first() == Some(&b'-') {
        let text = String::from_utf8_lossy(&tmp.buf[1..])
            .trim_end()
            .to_string();
        return Err(Error::msg(text));
    }
    Ok(crate::blocking::shape(kind, ctx.out.proto, key, &tmp.buf))
}

/// The common path: try each key now; else block on all of them.
fn block_on(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    template: &[&[u8]],
    kind: Kind,
    until: Option<i64>,
) -> Result<()> {
    for &key in keys {
        let argv: SmallVec<[&[u8]; 8]> = template
            .iter()
            .map(|&a| if a == KEY_SLOT { key } else { a })
            .collect();
        if let Some(reply) = try_now(ctx, &argv, kind, key)? {
            ctx.out.buf.extend_from_slice(&reply);
            return Ok(());
        }
    }
    if ctx.client.in_exec {
        ctx.out.null_array();
        return Ok(());
    }
    let keys = keys.iter().map(|k| k.to_vec()).collect();
    let template = template.iter().map(|a| a.to_vec()).collect();
    let on = ctx
        .server
        .blocking
        .block(ctx.client, ctx.out.proto, keys, template, kind, until);
    ctx.client.blocked = Some(on);
    Ok(())
}

fn pop_generic(ctx: &mut Ctx, cmd: &'static [u8], kind: Kind) -> Result<()> {
    let n = ctx.args.len();
    let until = deadline(ctx.arg(n - 1), ctx.now)?;
    let keys: SmallVec<[&[u8]; 8]> = ctx.args[1..n - 1].iter().copied().collect();
    block_on(ctx, &keys, &[cmd, KEY_SLOT], kind, until)
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, b"LPOP", Kind::PopOne { left: true })
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, b"RPOP", Kind::PopOne { left: false })
}

/// BZPOPMIN key [key ...] timeout
fn bzpopmin(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, b"ZPOPMIN", Kind::ZPopOne { min: true })
}

/// BZPOPMAX key [key ...] timeout
fn bzpopmax(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, b"ZPOPMAX", Kind::ZPopOne { min: false })
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx) -> Result<()> {
    let until = deadline(ctx.arg(3), ctx.now)?;
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    block_on(
        ctx,
        &[src],
        &[b"RPOPLPUSH", KEY_SLOT, dst],
        Kind::Rewrite,
        until,
    )
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx) -> Result<()> {
    for &w in &ctx.args[3..5] {
        if !(is(w, "left") || is(w, "right")) {
            return Err(Error::Syntax);
        }
    }
    let until = deadline(ctx.arg(5), ctx.now)?;
    let (src, dst, from, to) = (ctx.arg(1), ctx.arg(2), ctx.arg(3), ctx.arg(4));
    block_on(
        ctx,
        &[src],
        &[b"LMOVE", KEY_SLOT, dst, from, to],
        Kind::Rewrite,
        until,
    )
}

/// BLMPOP / BZMPOP timeout numkeys key [key ...] <where> [COUNT count]: validated by running
/// the non-blocking form over all keys first, then served key by key as `xMPOP 1 key ...`.
fn mpop_generic(ctx: &mut Ctx, cmd: &'static [u8]) -> Result<()> {
    let until = deadline(ctx.arg(1), ctx.now)?;
    let numkeys = num::parse_i64(ctx.arg(2))
        .ok_or_else(|| Error::msg("ERR numkeys should be greater than 0"))?;
    if numkeys <= 0 {
        return Err(Error::msg("ERR numkeys should be greater than 0"));
    }
    let numkeys = numkeys as usize;
    if 3 + numkeys >= ctx.args.len() {
        return Err(Error::Syntax);
    }
    let keys: SmallVec<[&[u8]; 8]> = ctx.args[3..3 + numkeys].iter().copied().collect();
    let rest: SmallVec<[&[u8]; 4]> = ctx.args[3 + numkeys..].iter().copied().collect();
    // Whole-command check and attempt: LMPOP numkeys key... rest.
    let mut full: SmallVec<[&[u8]; 12]> = SmallVec::new();
    full.push(cmd);
    full.push(ctx.arg(2));
    full.extend(keys.iter().copied());
    full.extend(rest.iter().copied());
    if let Some(reply) = try_now(ctx, &full, Kind::Rewrite, b"")? {
        ctx.out.buf.extend_from_slice(&reply);
        return Ok(());
    }
    if ctx.client.in_exec {
        ctx.out.null_array();
        return Ok(());
    }
    let mut template: Vec<&[u8]> = vec![cmd, b"1", KEY_SLOT];
    template.extend(rest.iter().copied());
    let keys = keys.iter().map(|k| k.to_vec()).collect();
    let template = template.iter().map(|a| a.to_vec()).collect();
    let on = ctx.server.blocking.block(
        ctx.client,
        ctx.out.proto,
        keys,
        template,
        Kind::Rewrite,
        until,
    );
    ctx.client.blocked = Some(on);
    Ok(())
}

fn blmpop(ctx: &mut Ctx) -> Result<()> {
    mpop_generic(ctx, b"LMPOP")
}

fn bzmpop(ctx: &mut Ctx) -> Result<()> {
    mpop_generic(ctx, b"ZMPOP")
}
