//! List commands (Redis's t_list.c): pushes and pops at both ends, indexed access, ranges,
//! LINSERT/LREM/LTRIM/LPOS, LMOVE/RPOPLPUSH and LMPOP.
//!
//! The data structure lives in [`cinnabar_engine::types::list`]; this file parses arguments in
//! the order Redis does (so the same error wins when several apply), looks keys up, calls the
//! list, deletes keys whose list became empty, and writes replies.
//!
//! Each handler records its effects as t_list.c raises them (see `dispatch::effects`): `new`
//! when a push or move creates its key, the command's event, `del` after it when a list
//! empties; `dirty` per element pushed, popped, removed or trimmed (one for LSET, LINSERT
//! and a move); the key modified only when something changed, except LTRIM, which, as in
//! Redis, signals and raises `ltrim` even when it trims nothing. LMPOP propagates as
//! `LPOP|RPOP key count`.
//!
//! The blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, in `cmd/blocking.rs`) run
//! LPOP, RPOP, LMOVE, RPOPLPUSH and LMPOP through dispatch, so their effects are these.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::types::list::{clamp_range, End, Limit, List};
use cinnabar_engine::{Db, Error, Object, Result};

use super::{int_arg, is, lookup_or_create, remove_if_empty, Look};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, LIST};

pub fn register(r: &mut Registry) {
    r.add("lpush", lpush);
    r.add("rpush", rpush);
    r.add("lpushx", lpushx);
    r.add("rpushx", rpushx);
    r.add("lpop", lpop);
    r.add("rpop", rpop);
    r.add("llen", llen);
    r.add("lrange", lrange);
    r.add("lindex", lindex);
    r.add("lset", lset);
    r.add("linsert", linsert);
    r.add("lrem", lrem);
    r.add("ltrim", ltrim);
    r.add("lpos", lpos);
    r.add("lmove", lmove);
    r.add("rpoplpush", rpoplpush);
    r.add("lmpop", lmpop);
}

fn is_list(o: &Object) -> bool {
    matches!(o, Object::List(_))
}

/// The node limits from `list-max-listpack-size`, read per write command so CONFIG SET
/// applies to the next command.
pub fn limit(ctx: &Ctx) -> Limit {
    Limit::from_fill(
        ctx.server
            .config
            .live
            .list_fill
            .load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// The list in `slot` (the caller checked the type with [`super::lookup_kind`]).
fn list_mut(db: &mut Db, slot: usize) -> &mut List {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::List(l)) => l,
        _ => unreachable!("slot checked to hold a list"),
    }
}

fn list_ref(db: &Db, slot: usize) -> &List {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::List(l)) => l,
        _ => unreachable!("slot checked to hold a list"),
    }
}

/// Looks up a list key the way Redis's lookupKeyRead (`read`) / lookupKeyWrite do.
fn find(ctx: &mut Ctx, key: &[u8], read: bool) -> Result<Option<usize>> {
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    look.find(db, h, key, read, is_list)
}

/// LEFT / RIGHT, case-insensitively; anything else is a syntax error.
fn end_arg(arg: &[u8]) -> Result<End> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(Error::Syntax)
    }
}

/// A non-negative count with a custom error for both non-integers and negatives, as Redis's
/// getPositiveLongFromObjectOrReply with a message.
fn positive_arg(arg: &[u8], msg: &'static str) -> Result<i64> {
    match cinnabar_engine::num::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(Error::msg(msg)),
    }
}

const POSITIVE: &str = "ERR value is out of range, must be positive";

// ---------------------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx) -> Result<()> {
    push_generic(ctx, End::Left, false)
}

fn rpush(ctx: &mut Ctx) -> Result<()> {
    push_generic(ctx, End::Right, false)
}

fn lpushx(ctx: &mut Ctx) -> Result<()> {
    push_generic(ctx, End::Left, true)
}

fn rpushx(ctx: &mut Ctx) -> Result<()> {
    push_generic(ctx, End::Right, true)
}

/// [LR]PUSH[X] key element [element ...]: the length after the pushes. The X forms only push
/// onto an existing list (reply 0 otherwise).
fn push_generic(ctx: &mut Ctx, end: End, existing_only: bool) -> Result<()> {
    let key = ctx.arg(1);
    let lim = limit(ctx);
    let slot = match find(ctx, key, false)? {
        Some(s) => s,
        None if existing_only => {
            ctx.out.integer(0);
            return Ok(());
        }
        None => {
            let now = ctx.now;
            let (db, h) = crate::key_db!(ctx, key);
            let slot = lookup_or_create(db, h, key, now, is_list, || Object::List(List::new()))?;
            ctx.added(key);
            slot
        }
    };
    let (db, _) = crate::key_db!(ctx, key);
    let l = list_mut(db, slot);
    let elems = &ctx.args[2..];
    l.prepare_grow(elems, lim);
    l.push_all(end, elems, lim);
    ctx.out.integer(l.len() as i64);
    // Redis's pushGenericCommand: dirty per element, then the key and its event.
    ctx.dirty(elems.len() as u64);
    ctx.modified(key);
    ctx.event(LIST, push_event(end), key);
    Ok(())
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// The effects of popping `n` elements from `key` (Redis's listElementsRemoved with
/// `signal` set): the pop event, `del` if the list emptied (the caller deleted the key), the
/// key modified, and one change per element.
fn popped<'a>(ctx: &mut Ctx<'a, '_>, key: &'a [u8], end: End, n: usize, emptied: bool) {
    ctx.event(LIST, pop_event(end), key);
    if emptied {
        ctx.event(GENERIC, "del", key);
    }
    ctx.modified(key);
    ctx.dirty(n as u64);
}

// ---------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, End::Left)
}

fn rpop(ctx: &mut Ctx) -> Result<()> {
    pop_generic(ctx, End::Right)
}

/// [LR]POP key [count]: one element as a bulk string, or with a count an array of up to
/// `count` elements (null array for a missing key, empty array for count 0).
fn pop_generic(ctx: &mut Ctx, end: End) -> Result<()> {
    let key = ctx.arg(1);
    if ctx.args.len() > 3 {
        return Err(Error::WrongArity(
            String::from_utf8_lossy(ctx.arg(0)).to_lowercase(),
        ));
    }
    let count = match ctx.args.get(2) {
        Some(a) => Some(positive_arg(a, POSITIVE)? as usize),
        None => None,
    };
    let lim = limit(ctx);
    let Some(slot) = find(ctx, key, false)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let (db, _) = crate::key_db!(ctx, key);
    let l = list_mut(db, slot);
    let n = match count {
        None => {
            let out = &mut *ctx.out;
            l.pop_n(end, 1, lim, |e| out.bulk(e))
        }
        // Redis's fast exit: nothing popped, nothing changed.
        Some(0) => {
            ctx.out.array(0);
            return Ok(());
        }
        Some(n) => {
            let n = n.min(l.len());
            let out = &mut *ctx.out;
            out.array(n);
            l.pop_n(end, n, lim, |e| out.bulk(e))
        }
    };
    let emptied = remove_if_empty(db, slot, |o| matches!(o, Object::List(l) if l.is_empty()));
    popped(ctx, key, end, n, emptied);
    Ok(())
}

/// How [`pop_first_reply`] shapes its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopReply {
    /// BLPOP / BRPOP: `[key, element]`.
    KeyElement,
    /// LMPOP / BLMPOP: `[key, [element ...]]` with up to `count` elements.
    KeyElements(usize),
}

/// Pops from the first non-empty list among `keys` (Redis's mpopGenericCommand and the
/// serving half of blockingPopGenericCommand). Writes the reply and returns true when it
/// popped; returns false and writes nothing when every key is missing, so the caller can reply
/// null or block. A key holding another type is a WRONGTYPE error, as soon as it is reached.
/// Empty lists are deleted. Records the pop's effects and, as Redis replicates both LMPOP
/// and BLPOP, propagates it as `LPOP|RPOP key` (`KeyElement`) or `LPOP|RPOP key count`
/// (`KeyElements`, with the count actually popped). Meant to be called with the keys' shards
/// locked.
pub fn pop_first_reply<'a>(
    ctx: &mut Ctx<'a, '_>,
    keys: &[&'a [u8]],
    end: End,
    style: PopReply,
) -> Result<bool> {
    let lim = limit(ctx);
    for &key in keys {
        let Some(slot) = find(ctx, key, false)? else {
            continue;
        };
        let (db, _) = crate::key_db!(ctx, key);
        let l = list_mut(db, slot);
        if l.is_empty() {
            continue;
        }
        let out = &mut *ctx.out;
        out.array(2);
        out.bulk(key);
        let n = match style {
            PopReply::KeyElement => l.pop_n(end, 1, lim, |e| out.bulk(e)),
            PopReply::KeyElements(count) => {
                let n = count.min(l.len());
                out.array(n);
                l.pop_n(end, n, lim, |e| out.bulk(e))
            }
        };
        let emptied = remove_if_empty(db, slot, |o| matches!(o, Object::List(l) if l.is_empty()));
        popped(ctx, key, end, n, emptied);
        if ctx.fx.propagating() {
            let cmd: &[u8] = match end {
                End::Left => b"LPOP",
                End::Right => b"RPOP",
            };
            ctx.fx.propagate_as(|| match style {
                PopReply::KeyElement => argv![cmd, key],
                PopReply::KeyElements(_) => {
                    argv![cmd, key, itoa::Buffer::new().format(n)]
                }
            });
        }
        return Ok(true);
    }
    Ok(false)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx) -> Result<()> {
    let (keys, end, count) = parse_mpop(ctx.args, 1)?;
    if !pop_first_reply(ctx, keys, end, PopReply::KeyElements(count))? {
        ctx.out.null_array();
    }
    Ok(())
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `args[numkeys_at]`, with Redis's
/// errors and order of checks (lmpopGenericCommand). Shared with BLMPOP (numkeys_at = 2).
/// Returns (keys, end, count); count defaults to 1.
pub fn parse_mpop<'a>(
    args: &'a [&'a [u8]],
    numkeys_at: usize,
) -> Result<(&'a [&'a [u8]], End, usize)> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    const COUNT: &str = "ERR count should be greater than 0";
    let numkeys = match cinnabar_engine::num::parse_i64(args[numkeys_at]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(Error::msg(NUMKEYS)),
    };
    let where_at = numkeys_at.saturating_add(numkeys).saturating_add(1);
    if where_at >= args.len() {
        return Err(Error::Syntax);
    }
    let end = end_arg(args[where_at])?;
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(args[j], "count") && j + 1 < args.len() {
            j += 1;
            match cinnabar_engine::num::parse_i64(args[j]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(Error::msg(COUNT)),
            }
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok((&args[numkeys_at + 1..where_at], end, count.unwrap_or(1)))
}

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let n = match find(ctx, key, true)? {
        Some(slot) => {
            let (db, _) = crate::key_db!(ctx, key);
            list_ref(db, slot).len() as i64
        }
        None => 0,
    };
    ctx.out.integer(n);
    Ok(())
}

/// LRANGE key start stop (the indexes are parsed before the key is looked up, as in Redis).
fn lrange(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let start = int_arg(ctx.arg(2))?;
    let stop = int_arg(ctx.arg(3))?;
    let Some(slot) = find(ctx, key, true)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (db, _) = crate::key_db!(ctx, key);
    let l = list_ref(db, slot);
    match clamp_range(l.len(), start, stop) {
        None => ctx.out.array(0),
        Some((first, n)) => {
            ctx.out.array(n);
            for e in l.iter_from(first).take(n) {
                ctx.out.bulk(e);
            }
        }
    }
    Ok(())
}

/// LINDEX key index (the key is looked up first: a missing key is null whatever the index).
fn lindex(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let Some(slot) = find(ctx, key, true)? else {
        ctx.out.null();
        return Ok(());
    };
    let index = int_arg(ctx.arg(2))?;
    let (db, _) = crate::key_db!(ctx, key);
    match list_ref(db, slot).get(index) {
        Some(e) => ctx.out.bulk(e),
        None => ctx.out.null(),
    }
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let elem = ctx.arg(2);
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let args = ctx.args;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(args[j], "rank") && more {
            j += 1;
            rank = int_arg(args[j])?;
            if rank == i64::MIN {
                return Err(Error::msg(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if rank == 0 {
                return Err(Error::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(args[j], "count") && more {
            j += 1;
            count = Some(positive_arg(args[j], "ERR COUNT can't be negative")? as usize);
        } else if is(args[j], "maxlen") && more {
            j += 1;
            maxlen = positive_arg(args[j], "ERR MAXLEN can't be negative")? as usize;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let found = match find(ctx, key, true)? {
        None => Vec::new(),
        Some(slot) => {
            let (db, _) = crate::key_db!(ctx, key);
            list_ref(db, slot).positions(elem, rank, count.unwrap_or(1), maxlen)
        }
    };
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.integer(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => ctx.out.integer(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// In-place edits
// ---------------------------------------------------------------------------------------

/// LSET key index element: "no such key" for a missing key, checked before the index.
fn lset(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let Some(slot) = find(ctx, key, false)? else {
        return Err(Error::NoSuchKey);
    };
    let index = int_arg(ctx.arg(2))?;
    let lim = limit(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    if list_mut(db, slot).set(index, ctx.args[3], lim) {
        ctx.out.ok();
        ctx.wrote(LIST, "lset", key);
        Ok(())
    } else {
        Err(Error::msg("ERR index out of range"))
    }
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without
/// the key.
fn linsert(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let after = if is(ctx.arg(2), "after") {
        true
    } else if is(ctx.arg(2), "before") {
        false
    } else {
        return Err(Error::Syntax);
    };
    let Some(slot) = find(ctx, key, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let lim = limit(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    let l = list_mut(db, slot);
    if l.insert(ctx.args[3], ctx.args[4], after, lim) {
        ctx.out.integer(l.len() as i64);
        ctx.wrote(LIST, "linsert", key);
    } else {
        ctx.out.integer(-1);
    }
    Ok(())
}

/// LREM key count element: removes up to |count| matches (all for 0; from the tail when
/// negative) and replies how many went.
fn lrem(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let count = int_arg(ctx.arg(2))?;
    let Some(slot) = find(ctx, key, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let lim = limit(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    let n = list_mut(db, slot).remove(ctx.args[3], count, lim);
    let emptied = remove_if_empty(db, slot, |o| matches!(o, Object::List(l) if l.is_empty()));
    ctx.out.integer(n as i64);
    // Redis's lremCommand: one change per element removed; nothing at all for none.
    ctx.dirty(n as u64);
    if n > 0 {
        ctx.modified(key);
        ctx.event(LIST, "lrem", key);
    }
    if emptied {
        ctx.event(GENERIC, "del", key);
    }
    Ok(())
}

/// LTRIM key start stop: keeps the range, deleting the key when nothing is left.
fn ltrim(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let start = int_arg(ctx.arg(2))?;
    let stop = int_arg(ctx.arg(3))?;
    if let Some(slot) = find(ctx, key, false)? {
        let lim = limit(ctx);
        let (db, _) = crate::key_db!(ctx, key);
        let l = list_mut(db, slot);
        let before = l.len();
        l.trim(start, stop, lim);
        let removed = before - l.len();
        let emptied = remove_if_empty(db, slot, |o| matches!(o, Object::List(l) if l.is_empty()));
        // Redis's ltrimCommand: the event and the signal even when nothing was trimmed (only
        // the count, so the propagation, depends on what went).
        ctx.event(LIST, "ltrim", key);
        if emptied {
            ctx.event(GENERIC, "del", key);
        }
        ctx.modified(key);
        ctx.dirty(removed as u64);
    }
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------------------

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx) -> Result<()> {
    let from = end_arg(ctx.arg(3))?;
    let to = end_arg(ctx.arg(4))?;
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    if !lmove_generic(ctx, src, dst, from, to)? {
        ctx.out.null();
    }
    Ok(())
}

/// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
fn rpoplpush(ctx: &mut Ctx) -> Result<()> {
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    if !lmove_generic(ctx, src, dst, End::Right, End::Left)? {
        ctx.out.null();
    }
    Ok(())
}

/// Moves one element from `from` of `src` to `to` of `dst` and replies it as a bulk string
/// (Redis's lmoveGenericCommand). Returns false and writes nothing when `src` is missing, so
/// the caller replies null or blocks (BLMOVE, BRPOPLPUSH). WRONGTYPE when either key holds
/// another type — the destination is checked only when the source exists, and before
/// anything changes. With `src == dst` the list rotates in place (the key, and its TTL, are
/// never deleted and recreated).
///
/// Effects in Redis's order (lmoveHandlePush, then listElementsRemoved): `new` if the
/// destination was created, the destination modified and its push event, then the source's
/// pop event, its `del` if it emptied, the source modified; one change in all.
pub fn lmove_generic<'a>(
    ctx: &mut Ctx<'a, '_>,
    src: &'a [u8],
    dst: &'a [u8],
    from: End,
    to: End,
) -> Result<bool> {
    let lim = limit(ctx);
    let Some(slot) = find(ctx, src, false)? else {
        return Ok(false);
    };
    if src == dst {
        let (db, _) = crate::key_db!(ctx, src);
        let l = list_mut(db, slot);
        let idx = if from == End::Left { 0 } else { -1 };
        let Some(v) = l.get(idx).map(|e| e.to_vec()) else {
            return Ok(false);
        };
        // Push first, then pop, as Redis does: the encoding checks see the same sizes.
        l.push(to, &v, lim);
        l.pop(from, lim);
        ctx.out.bulk(&v);
        moved(ctx, src, dst, from, to, false, false);
        return Ok(true);
    }
    // Checking the destination may delete it if expired, which can move entries around in
    // the shard: look the source up again afterwards rather than trusting `slot`.
    let dst_exists = find(ctx, dst, false)?.is_some();
    let Some(slot) = find(ctx, src, false)? else {
        return Ok(false);
    };
    let (db, _) = crate::key_db!(ctx, src);
    let l = list_mut(db, slot);
    let Some(v) = l.pop(from, lim) else {
        return Ok(false);
    };
    let emptied = remove_if_empty(db, slot, |o| matches!(o, Object::List(l) if l.is_empty()));
    let now = ctx.now;
    let (db, h) = crate::key_db!(ctx, dst);
    let dslot = lookup_or_create(db, h, dst, now, is_list, || Object::List(List::new()))?;
    let d = list_mut(db, dslot);
    d.prepare_grow(&[&v], lim);
    d.push(to, &v, lim);
    ctx.out.bulk(&v);
    moved(ctx, src, dst, from, to, !dst_exists, emptied);
    Ok(true)
}

/// The effects of one LMOVE, in Redis's order (see [`lmove_generic`]).
fn moved<'a>(
    ctx: &mut Ctx<'a, '_>,
    src: &'a [u8],
    dst: &'a [u8],
    from: End,
    to: End,
    created: bool,
    emptied: bool,
) {
    if created {
        ctx.added(dst);
    }
    ctx.modified(dst);
    ctx.event(LIST, push_event(to), dst);
    popped(ctx, src, from, 1, emptied);
}
