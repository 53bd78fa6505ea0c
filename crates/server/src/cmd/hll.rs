//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! An HLL is not a type of its own but a plain string in Redis's byte layout, so that GET,
//! SET, DUMP/RESTORE, RDB files and the AOF carry it unchanged; the layout and every
//! computation on it live in `cinnabar_engine::hll`. This file looks keys up as Redis does
//! (reads count keyspace hits and misses, writes do not), tells a non-string (plain
//! WRONGTYPE) from a string that is not an HLL (the HLL WRONGTYPE), and records effects as
//! hyperloglog.c raises them:
//!
//! - PFADD: `new` for a created key, then, if the key was created or any register changed,
//!   the key is signalled, `pfadd` fires and `dirty` grows by one for the creation plus one
//!   per element that changed a register;
//! - PFCOUNT of one key rewrites the cached cardinality inside the string when it was stale:
//!   Redis then signals the key and counts a change (no event), so PFCOUNT is propagated as
//!   given, like a write, while staying a read-only command;
//! - PFMERGE always writes its destination: `new` if created, signal, `pfadd`, one change;
//! - PFDEBUG GETREG/TODENSE count a change when they converted a sparse value to dense (so
//!   the conversion propagates), without signal or event, as Redis.
//!
//! A value being edited is first made a growable `Object::Str` (Redis's
//! dbUnshareStringValue), so PFADD on a dense HLL edits its 12 KB in place.

use std::sync::atomic::Ordering;

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::hll::{self, HllError, Union};
use cinnabar_engine::{Db, Entry, Error, NewValue, Object, Result};

use super::{is, Look};
use crate::dispatch::{Ctx, Registry};
use crate::key_db;
use crate::notify::STRING;

pub fn register(r: &mut Registry) {
    r.add("pfadd", pfadd);
    r.add("pfcount", pfcount);
    r.add("pfmerge", pfmerge);
    r.add("pfdebug", pfdebug);
    r.add("pfselftest", pfselftest);
}

/// The live `hll-sparse-max-bytes`.
fn sparse_max(ctx: &Ctx) -> usize {
    let v = ctx
        .server
        .config
        .live
        .hll_sparse_max_bytes
        .load(Ordering::Relaxed);
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Looks `key` up as Redis's lookupKeyRead (`read`: counts a hit or a miss) or lookupKeyWrite,
/// refreshing its access bits unless the client asked for NO-TOUCH.
fn find(look: &Look, db: &mut Db, h: u64, key: &[u8], read: bool) -> Option<usize> {
    let slot = db.lookup(h, key, look.now);
    if read {
        match slot {
            Some(_) => db.hits += 1,
            None => db.misses += 1,
        }
    }
    if let Some(s) = slot {
        if look.touch {
            db.touch(s, look.now);
        }
    }
    slot
}

/// The bytes of a string value as isHLLObjectOrReply sees them: a non-string is the plain
/// WRONGTYPE; an integer-encoded string is never an HLL (Redis rejects it before looking at
/// it, and its text is too short anyway).
fn string_bytes(e: &Entry) -> Result<&[u8]> {
    match e.value() {
        ValueRef::Str(b) => Ok(b),
        ValueRef::Obj(Object::Str(v)) => Ok(v),
        ValueRef::Int(_) => Err(HllError::NotHll.into()),
        #[allow(unreachable_patterns)]
        ValueRef::Obj(_) => Err(Error::WrongType),
    }
}

/// The value in `slot` as a growable string for in-place edits (it was checked to be one).
fn string_mut(db: &mut Db, slot: usize) -> Result<&mut Vec<u8>> {
    super::string::raw_string(db.entry_mut(slot))
}

/// Replaces the string in `slot` by `v`, keeping the key's deadline.
fn replace_value(db: &mut Db, slot: usize, v: Vec<u8>) {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::Str(cur)) => *cur = v,
        _ => db
            .entry_mut(slot)
            .set_value(NewValue::Obj(Box::new(Object::Str(v)))),
    }
}

/// A new key holding the HLL string `v`.
fn insert_value(db: &mut Db, h: u64, key: &[u8], v: Vec<u8>, now: i64) {
    db.insert_new(
        h,
        Entry::new(
            key,
            NewValue::Obj(Box::new(Object::Str(v))),
            None,
            db.fresh_clock(now),
        ),
    );
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let elements = &ctx.args[2..];
    let max = sparse_max(ctx);
    let look = Look::new(ctx);
    let (db, h) = key_db!(ctx, key);
    let updated = match find(&look, db, h, key, false) {
        None => {
            let (v, changed) = hll::create_counted(elements, max);
            insert_value(db, h, key, v, look.now);
            ctx.fx.added(ctx.client.db, key);
            1 + changed
        }
        Some(slot) => {
            hll::check(string_bytes(db.entry(slot))?)?;
            hll::add_counted(string_mut(db, slot)?, elements, max)?
        }
    };
    if updated > 0 {
        ctx.modified(key);
        ctx.event(STRING, "pfadd", key);
        ctx.dirty(updated as u64);
    }
    ctx.out.integer(i64::from(updated > 0));
    Ok(())
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    if ctx.args.len() > 2 {
        // The union of several HLLs; nothing is cached or written.
        let mut union = Union::new();
        for i in 1..ctx.args.len() {
            let key = ctx.arg(i);
            let (db, h) = key_db!(ctx, key);
            if let Some(slot) = find(&look, db, h, key, true) {
                union.add(string_bytes(db.entry(slot))?)?;
            }
        }
        ctx.out.integer(union.count() as i64);
        return Ok(());
    }
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let Some(slot) = find(&look, db, h, key, true) else {
        ctx.out.integer(0);
        return Ok(());
    };
    let cur = string_bytes(db.entry(slot))?;
    hll::check(cur)?;
    if let Some(card) = hll::cached_count(cur) {
        ctx.out.integer(card as i64);
        return Ok(());
    }
    let (card, rewritten) = hll::count(string_mut(db, slot)?)?;
    if rewritten {
        // The cache lives in the string: Redis signals the key and propagates PFCOUNT.
        ctx.modified(key);
        ctx.dirty(1);
    }
    ctx.out.integer(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination counts as the first source.
fn pfmerge(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let max = sparse_max(ctx);
    let mut union = Union::new();
    for i in 1..ctx.args.len() {
        let key = ctx.arg(i);
        let (db, h) = key_db!(ctx, key);
        if let Some(slot) = find(&look, db, h, key, true) {
            union.add(string_bytes(db.entry(slot))?)?;
        }
    }
    let dest = ctx.arg(1);
    let (db, h) = key_db!(ctx, dest);
    match find(&look, db, h, dest, false) {
        None => {
            let v = union.store(None, max)?;
            insert_value(db, h, dest, v, look.now);
            ctx.fx.added(ctx.client.db, dest);
        }
        Some(slot) => {
            let v = union.store(Some(string_bytes(db.entry(slot))?), max)?;
            replace_value(db, slot, v);
        }
    }
    // Redis raises `pfadd` for PFMERGE too: a merge is a mass add.
    ctx.wrote(STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (sub, key) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = key_db!(ctx, key);
    let Some(slot) = find(&look, db, h, key, false) else {
        return Err(Error::msg(hll::ERR_PFDEBUG_NO_KEY));
    };
    hll::check(string_bytes(db.entry(slot))?)?;
    let v = string_mut(db, slot)?;
    if is(sub, "getreg") {
        let (regs, converted) = hll::debug_getreg(v)?;
        if converted {
            // Redis forces the propagation of the encoding change, without a signal.
            ctx.dirty(1);
        }
        ctx.out.array(regs.len());
        for r in regs {
            ctx.out.integer(i64::from(r));
        }
    } else if is(sub, "decode") {
        let text = hll::debug_decode(v)?;
        ctx.out.bulk(text.as_bytes());
    } else if is(sub, "encoding") {
        let enc = hll::check(v)?;
        ctx.out.simple(enc.as_str().as_bytes());
    } else if is(sub, "todense") {
        let converted = hll::to_dense(v)?;
        if converted {
            ctx.dirty(1);
        }
        ctx.out.integer(i64::from(converted));
    } else {
        return Err(Error::msg(hll::err_pfdebug_unknown(&super::lossy(
            c_string(sub),
        ))));
    }
    Ok(())
}

/// An argument as C's `%s` prints it: up to its first NUL byte.
fn c_string(arg: &[u8]) -> &[u8] {
    arg.iter().position(|&b| b == 0).map_or(arg, |n| &arg[..n])
}

/// PFSELFTEST: Redis's self test of the register code and the estimator (about a second).
fn pfselftest(ctx: &mut Ctx) -> Result<()> {
    hll::selftest(sparse_max(ctx))?;
    ctx.out.ok();
    Ok(())
}
