//! The hash commands (Redis's t_hash.c), plus Redis 7.4's per-field expiry commands
//! (HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME,
//! HPERSIST), which are registered only when the command table knows them.
//!
//! Every lookup goes through [`lookup_hash`], which purges the hash's expired fields first
//! (deleting the key if nothing is left), so no command ever sees an expired field. Those
//! removals are logged by the engine (`hexpired`, HDEL); handlers record only what they
//! change themselves, with the events, `dirty` and propagation of Redis's t_hash.c.
//!
//! Also Redis 8.0's HGETEX, HSETEX and HGETDEL, registered like the 7.4 commands.

use std::borrow::Cow;

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::glob::glob_match;
use cinnabar_engine::num::{self, IncrFloatError};
use cinnabar_engine::types::hash::{
    ExpireCond, Hash, Limits, HFE_DELETED, HFE_NO_FIELD, HFE_NO_TTL, HFE_SET,
};
use cinnabar_engine::{Db, Entry, Error, NewValue, Object, Result};
use cinnabar_resp::reply::Protocol;
use cinnabar_resp::ReplyBuf;

use super::{int_arg, is, Look};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, HASH};

pub fn register(r: &mut Registry) {
    r.add("hset", hset);
    r.add("hmset", hset);
    r.add("hsetnx", hsetnx);
    r.add("hget", hget);
    r.add("hmget", hmget);
    r.add("hdel", hdel);
    r.add("hlen", hlen);
    r.add("hstrlen", hstrlen);
    r.add("hexists", hexists);
    r.add("hkeys", hkeys);
    r.add("hvals", hvals);
    r.add("hgetall", hgetall);
    r.add("hincrby", hincrby);
    r.add("hincrbyfloat", hincrbyfloat);
    r.add("hrandfield", hrandfield);
    r.add("hscan", hscan);
    // Redis 7.4 and 8.0 commands: only once the command table has entries for them.
    let hfe: [(&str, crate::dispatch::Handler); 12] = [
        ("hexpire", hexpire),
        ("hpexpire", hpexpire),
        ("hexpireat", hexpireat),
        ("hpexpireat", hpexpireat),
        ("httl", httl),
        ("hpttl", hpttl),
        ("hexpiretime", hexpiretime),
        ("hpexpiretime", hpexpiretime),
        ("hpersist", hpersist),
        ("hgetex", hgetex),
        ("hsetex", hsetex),
        ("hgetdel", hgetdel),
    ];
    for (name, handler) in hfe {
        if cinnabar_commands::lookup(name.as_bytes()).is_some() {
            r.add(name, handler);
        }
    }
}

fn is_hash(o: &Object) -> bool {
    matches!(o, Object::Hash(_))
}

/// The hash in `slot` (which must hold one).
fn hash_mut(db: &mut Db, slot: usize) -> &mut Hash {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::Hash(h)) => h,
        _ => unreachable!("slot checked to hold a hash"),
    }
}

fn hash_ref(db: &Db, slot: usize) -> &Hash {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::Hash(h)) => h,
        _ => unreachable!("slot checked to hold a hash"),
    }
}

/// Finds a hash key: Ok(None) if missing, WRONGTYPE for another type. Expired fields are
/// removed first, and a hash left empty by that is deleted and reported missing, so a
/// command never observes an expired field nor an empty hash.
fn lookup_hash(db: &mut Db, h: u64, key: &[u8], look: Look, read: bool) -> Result<Option<usize>> {
    let Some(slot) = look.find(db, h, key, read, is_hash)? else {
        return Ok(None);
    };
    let now = look.now;
    // Expired fields are removed before anything looks at them; when anyone listens
    // (events, tracking, the AOF) they are logged: `hexpired`, and an HDEL each.
    let log = db.logs_expired();
    let mut dead = Vec::new();
    let purged = hash_mut(db, slot).expire_fields_into(now, usize::MAX, log.then_some(&mut dead));
    let emptied = purged > 0 && hash_ref(db, slot).is_empty();
    if !dead.is_empty() {
        db.note_expired_fields(key, dead, emptied);
    }
    if emptied {
        db.remove_slot(slot);
        return Ok(None);
    }
    Ok(Some(slot))
}

/// Like [`lookup_hash`], creating an empty hash when the key is missing (Redis's
/// hashTypeLookupWriteOrCreate); also says whether it was created, for the `new` event. The
/// caller must add a field (or delete the key) before returning.
fn lookup_or_create(db: &mut Db, h: u64, key: &[u8], look: Look) -> Result<(usize, bool)> {
    let now = look.now;
    match lookup_hash(db, h, key, look, false)? {
        Some(slot) => Ok((slot, false)),
        None => Ok((
            db.insert_new(
                h,
                Entry::new(
                    key,
                    NewValue::Obj(Box::new(Object::Hash(Hash::new()))),
                    None,
                    db.fresh_clock(now),
                ),
            ),
            true,
        )),
    }
}

/// The listpack thresholds from the configuration.
fn limits(ctx: &Ctx) -> Limits {
    let [entries, value] = &ctx.server.config.live.hash_limits;
    let get = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    Limits {
        max_entries: get(entries) as usize,
        max_value: get(value) as usize,
    }
}

/// Deletes the key in `slot` if its hash is empty; says whether it did.
fn remove_if_empty(db: &mut Db, slot: usize) -> bool {
    super::remove_if_empty(db, slot, |o| matches!(o, Object::Hash(h) if h.is_empty()))
}

// ---------------------------------------------------------------------------------------
// HSET, HMSET, HSETNX, HDEL
// ---------------------------------------------------------------------------------------

/// HSET key field value [field value ...] answers the number of new fields; HMSET (same
/// handler, told apart by name as Redis does) answers OK. An odd argument count is an arity
/// error, checked before the key. Redis's effects: `new` for a created key, modified,
/// `hset`, and one change per pair given (new or not).
fn hset(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    if !ctx.args.len().is_multiple_of(2) {
        return Err(Error::WrongArity(
            String::from_utf8_lossy(ctx.arg(0)).to_lowercase(),
        ));
    }
    let lim = limits(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = lookup_or_create(db, h, key, look)?;
    let new_fields = hash_mut(db, slot).set_many(&ctx.args[2..], lim) as i64;
    if is(ctx.arg(0), "hmset") {
        ctx.out.ok();
    } else {
        ctx.out.integer(new_fields);
    }
    if created {
        ctx.added(key);
    }
    ctx.modified(key);
    ctx.event(HASH, "hset", key);
    ctx.dirty((ctx.args.len() as u64 - 2) / 2);
    Ok(())
}

/// HSETNX key field value: sets the field only when it is missing. Effects only when it did:
/// `new` for a created key, modified, `hset`, one change.
fn hsetnx(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let lim = limits(ctx);
    let (key, field, value) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = lookup_or_create(db, h, key, look)?;
    let hash = hash_mut(db, slot);
    let set = !hash.contains(field);
    if set {
        hash.set(field, value, lim);
    }
    ctx.out.integer(set as i64);
    if created {
        ctx.added(key);
    }
    if set {
        ctx.wrote(HASH, "hset", key);
    }
    Ok(())
}

/// HDEL key field [field ...]: `hdel` (and `del` when the hash empties) and one change per
/// field removed; nothing when none was there.
fn hdel(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_hash(db, h, key, look, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let hash = hash_mut(db, slot);
    let mut deleted = 0;
    for &f in &ctx.args[2..] {
        if hash.remove(f) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    let removed = remove_if_empty(db, slot);
    ctx.out.integer(deleted);
    if deleted > 0 {
        ctx.modified(key);
        ctx.event(HASH, "hdel", key);
        if removed {
            ctx.event(GENERIC, "del", key);
        }
        ctx.dirty(deleted as u64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HGET, HMGET, HLEN, HSTRLEN, HEXISTS, HKEYS, HVALS, HGETALL
// ---------------------------------------------------------------------------------------

fn hget(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    match lookup_hash(db, h, key, look, true)?.and_then(|s| hash_ref(db, s).get(field)) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// HMGET: a missing key is an empty hash (all nils), but the wrong type is still an error.
fn hmget(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, true)?;
    ctx.out.array(ctx.args.len() - 2);
    for &f in &ctx.args[2..] {
        match slot.and_then(|s| hash_ref(db, s).get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let n = lookup_hash(db, h, key, look, true)?.map_or(0, |s| hash_ref(db, s).len());
    ctx.out.integer(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    let n = lookup_hash(db, h, key, look, true)?
        .and_then(|s| hash_ref(db, s).get(field))
        .map_or(0, |v| v.len());
    ctx.out.integer(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    let found =
        lookup_hash(db, h, key, look, true)?.is_some_and(|s| hash_ref(db, s).contains(field));
    ctx.out.integer(found as i64);
    Ok(())
}

/// What HKEYS / HVALS / HGETALL return.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Values,
    Both,
}

/// HKEYS and HVALS are flat arrays; HGETALL is a map (a flat array in RESP2).
fn hgetall_generic(ctx: &mut Ctx, part: Part) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_hash(db, h, key, look, true)? else {
        if part == Part::Both {
            ctx.out.map(0);
        } else {
            ctx.out.array(0);
        }
        return Ok(());
    };
    let hash = hash_ref(db, slot);
    match part {
        Part::Both => ctx.out.map(hash.len()),
        _ => ctx.out.array(hash.len()),
    }
    let out = &mut *ctx.out;
    hash.for_each(|f, v| {
        if part != Part::Values {
            out.bulk(f);
        }
        if part != Part::Keys {
            out.bulk(v);
        }
    });
    Ok(())
}

fn hkeys(ctx: &mut Ctx) -> Result<()> {
    hgetall_generic(ctx, Part::Keys)
}

fn hvals(ctx: &mut Ctx) -> Result<()> {
    hgetall_generic(ctx, Part::Values)
}

fn hgetall(ctx: &mut Ctx) -> Result<()> {
    hgetall_generic(ctx, Part::Both)
}

// ---------------------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT
// ---------------------------------------------------------------------------------------

/// HINCRBY key field increment. The increment is parsed before the key is looked up (so its
/// error wins over WRONGTYPE), the stored value must be a canonical integer ("hash value is
/// not an integer"), and the field keeps its deadline, as in Redis 7.4. Propagated as given.
fn hincrby(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let incr = int_arg(ctx.arg(3))?;
    let lim = limits(ctx);
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = lookup_or_create(db, h, key, look)?;
    let hash = hash_mut(db, slot);
    let old = match hash.get(field) {
        Some(v) => num::parse_i64(v).ok_or_else(|| Error::msg("ERR hash value is not an integer")),
        None => Ok(0),
    };
    let result = old.and_then(|old| old.checked_add(incr).ok_or(Error::Overflow));
    let new = match result {
        Ok(n) => n,
        Err(e) => {
            remove_if_empty(db, slot);
            return Err(e);
        }
    };
    hash.set_keep_ttl(field, itoa::Buffer::new().format(new).as_bytes(), lim);
    ctx.out.integer(new);
    if created {
        ctx.added(key);
    }
    ctx.wrote(HASH, "hincrby", key);
    Ok(())
}

fn float_err(e: IncrFloatError) -> Error {
    Error::msg(e.to_string())
}

/// HINCRBYFLOAT key field increment: 80-bit long double arithmetic and formatting exactly
/// as Redis, with its error order (increment checks, then WRONGTYPE, then the value).
/// Propagated as the value it produced, so that replay cannot format it differently: as
/// Redis 7.2's `HSET key field value`, or, when the field has a deadline (which HSET would
/// clear), as Redis 8.0's `HSETEX key KEEPTTL FIELDS 1 field value`.
fn hincrbyfloat(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let incr = num::hincrbyfloat_parse_increment(ctx.arg(3)).map_err(float_err)?;
    let lim = limits(ctx);
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = lookup_or_create(db, h, key, look)?;
    let hash = hash_mut(db, slot);
    let new = match num::hincrbyfloat_apply(hash.get(field), incr) {
        Ok(new) => new,
        Err(e) => {
            remove_if_empty(db, slot);
            return Err(float_err(e));
        }
    };
    hash.set_keep_ttl(field, &new, lim);
    let keeps_ttl = matches!(hash.field_expire(field), Some(Some(_)));
    ctx.out.bulk(&new);
    if created {
        ctx.added(key);
    }
    ctx.wrote(HASH, "hincrbyfloat", key);
    if ctx.fx.propagating() {
        ctx.fx.propagate_as(|| {
            if keeps_ttl {
                argv![b"HSETEX", key, b"KEEPTTL", b"FIELDS", b"1", field, &new]
            } else {
                argv![b"HSET", key, field, &new]
            }
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------------------

/// HRANDFIELD key [count [WITHVALUES]].
fn hrandfield(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    if ctx.args.len() >= 3 {
        let l = int_arg(ctx.arg(2))?;
        if l == i64::MIN {
            return Err(Error::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if ctx.args.len() > 4 || (ctx.args.len() == 4 && !is(ctx.arg(3), "withvalues")) {
            return Err(Error::Syntax);
        }
        let withvalues = ctx.args.len() == 4;
        if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
            return Err(Error::msg("ERR value is out of range"));
        }
        return hrandfield_count(ctx, l, withvalues);
    }
    let (db, h) = crate::key_db!(ctx, key);
    match lookup_hash(db, h, key, look, true)? {
        Some(slot) => {
            let (f, _) = hash_ref(db, slot).random_pair(&mut rand::thread_rng());
            ctx.out.bulk(&f);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// HRANDFIELD with a count, after Redis 7.2's hrandfieldWithCountCommand: a negative count
/// returns that many independent picks, a positive one distinct fields (the whole hash, in
/// its order, when the count reaches its size). With WITHVALUES, RESP2 gets a flat array
/// and RESP3 an array of [field, value] pairs.
fn hrandfield_count(ctx: &mut Ctx, l: i64, withvalues: bool) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_hash(db, h, key, look, true)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let hash = hash_ref(db, slot);
    let (count, uniq) = (l.unsigned_abs(), l >= 0);
    if count == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    let size = hash.len() as u64;
    if !uniq {
        // Independent picks, drawn and answered in chunks so a huge count needs no huge
        // vector; stops once the client passed its output buffer limit (as Redis does).
        let resp3 = ctx.out.proto == Protocol::Resp3;
        ctx.out.array(if withvalues && !resp3 {
            count as usize * 2
        } else {
            count as usize
        });
        let mut left = count;
        while left > 0 && !ctx.out.over_limit() {
            let chunk = left.min(1024);
            left -= chunk;
            for (f, v) in hash.random_pairs(chunk as usize, &mut rng) {
                reply_pair(ctx.out, &f, v, withvalues);
            }
        }
        return Ok(());
    }
    let picks: Vec<(Cow<[u8]>, &[u8])> = if count >= size {
        hash.iter().collect()
    } else {
        hash.random_distinct(count as usize, &mut rng)
    };
    reply_pairs(ctx.out, &picks, withvalues);
    Ok(())
}

fn reply_pairs(out: &mut ReplyBuf, picks: &[(Cow<[u8]>, &[u8])], withvalues: bool) {
    let resp3 = out.proto == Protocol::Resp3;
    out.array(if withvalues && !resp3 {
        picks.len() * 2
    } else {
        picks.len()
    });
    for (f, v) in picks {
        reply_pair(out, f, v, withvalues);
    }
}

/// One pick: the field, or with WITHVALUES the field and its value (a pair in RESP3).
fn reply_pair(out: &mut ReplyBuf, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.proto == Protocol::Resp3 {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

// ---------------------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------------------

/// HSCAN key cursor [MATCH pattern] [COUNT count]. Order of checks as Redis: the cursor,
/// then the key (a missing key answers an empty scan without looking at the options), then
/// the options. A listpack is returned whole with cursor 0.
fn hscan(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let cursor = super::cursor_arg(ctx.arg(2))?;
    let (args, key) = (ctx.args, ctx.arg(1));
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_hash(db, h, key, look, true)? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(args[i], "count") && more {
            let n = int_arg(args[i + 1])?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            count = n as usize;
        } else if is(args[i], "match") && more {
            let p = args[i + 1];
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let hash = hash_ref(db, slot);
    let mut items: Vec<(Cow<[u8]>, &[u8])> = Vec::new();
    let next = hash.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob_match(p, &f, false)) {
            items.push((f, v));
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(items.len() * 2);
    for (f, v) in items {
        ctx.out.bulk(&f);
        ctx.out.bulk(v);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Field expiry (Redis 7.4)
// ---------------------------------------------------------------------------------------

/// The largest absolute field deadline Redis 7.4 accepts (EB_EXPIRE_TIME_MAX >> 2), in ms.
const HFE_MAX_ABS_TIME_MSEC: i64 = 0x0000_FFFF_FFFF_FFFF >> 2;

/// Validates `FIELDS numfields field...` where `at` is the index of the FIELDS token, with
/// the given error for a count that is not a positive integer; returns the index of the
/// first field.
fn parse_fields(ctx: &Ctx, at: usize, count_err: &'static str) -> Result<usize> {
    if !is(ctx.arg(at), "fields") {
        return Err(Error::msg(
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ));
    }
    // Redis passes its message to getRangeLong..., so it covers non-integers too. FIELDS
    // as the last argument (possible for HGETEX) has no count: the counts cannot match.
    let Some(&count) = ctx.args.get(at + 1) else {
        return Err(Error::msg(
            "ERR The `numfields` parameter must match the number of arguments",
        ));
    };
    let n = num::parse_i64(count)
        .filter(|&n| n >= 1)
        .ok_or(Error::msg(count_err))?;
    if n as u64 != (ctx.args.len() - at - 2) as u64 {
        return Err(Error::msg(
            "ERR The `numfields` parameter must match the number of arguments",
        ));
    }
    Ok(at + 2)
}

/// Redis's parseExpireTime (t_hash.c): a field deadline argument in seconds or ms, relative
/// to `base` (0 for absolute times), as an absolute time in ms, with Redis's errors.
fn parse_expire_time(ctx: &Ctx, arg: &[u8], seconds: bool, base: i64) -> Result<i64> {
    let mut when = int_arg(arg)?;
    if when < 0 {
        return Err(Error::msg("ERR invalid expire time, must be >= 0"));
    }
    let expire_err = || {
        Error::msg(format!(
            "ERR invalid expire time in '{}' command",
            String::from_utf8_lossy(ctx.arg(0)).to_lowercase()
        ))
    };
    if seconds {
        if when > HFE_MAX_ABS_TIME_MSEC / 1000 {
            return Err(expire_err());
        }
        when *= 1000;
    }
    if when > HFE_MAX_ABS_TIME_MSEC - base {
        return Err(expire_err());
    }
    Ok(when + base)
}

/// HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT key time [NX|XX|GT|LT] FIELDS n field...,
/// in Redis 7.4's order of checks: WRONGTYPE, the time, the condition, FIELDS, the count.
/// Each field answers -2 (no such field), 0 (condition not met), 1 (set) or 2 (deleted,
/// the time being in the past). The key goes when its last field does.
///
/// Effects as Redis's hexpireGenericCommand: one change per field set or deleted, `hexpire`
/// (or `hdel` when a past time deleted fields; `del` if the hash emptied). A deleted field
/// propagates as `HDEL key field`; the command propagates as `HPEXPIREAT key ms [cond]
/// FIELDS n field...` with the absolute time and only the fields it set, or not at all
/// when it set none.
fn hexpire_generic(ctx: &mut Ctx, relative: bool, seconds: bool) -> Result<()> {
    let look = Look::new(ctx);
    let (key, now, dbi) = (ctx.arg(1), ctx.now, ctx.client.db);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, false)?;
    let when = parse_expire_time(ctx, ctx.arg(2), seconds, if relative { now } else { 0 })?;
    let opt = ctx.arg(3);
    let cond = if is(opt, "nx") {
        ExpireCond::Nx
    } else if is(opt, "xx") {
        ExpireCond::Xx
    } else if is(opt, "gt") {
        ExpireCond::Gt
    } else if is(opt, "lt") {
        ExpireCond::Lt
    } else {
        ExpireCond::Always
    };
    let fields_at = if cond == ExpireCond::Always { 3 } else { 4 };
    let first = parse_fields(
        ctx,
        fields_at,
        "ERR Parameter `numFields` should be greater than 0",
    )?;
    let (db, _) = crate::key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - first);
    let Some(slot) = slot else {
        for _ in first..ctx.args.len() {
            ctx.out.integer(HFE_NO_FIELD);
        }
        return Ok(());
    };
    let hash = hash_mut(db, slot);
    let (mut updated, mut deleted) = (0u64, 0u64);
    let propagating = ctx.fx.propagating();
    let mut set_fields: Vec<&[u8]> = Vec::new();
    for &f in &ctx.args[first..] {
        let code = hash.set_field_expire(f, when, cond, now);
        match code {
            HFE_SET => {
                updated += 1;
                if propagating {
                    set_fields.push(f);
                }
            }
            HFE_DELETED => {
                deleted += 1;
                ctx.fx.also(dbi, || argv![b"HDEL", key, f]);
            }
            _ => {}
        }
        ctx.out.integer(code);
    }
    if hash.has_field_ttls() {
        // Let the active expiry walk visit this db's hashes.
        db.note_field_ttls();
    }
    let removed = remove_if_empty(db, slot);
    if updated + deleted > 0 {
        ctx.dirty(updated + deleted);
        ctx.modified(key);
        ctx.event(HASH, if deleted > 0 { "hdel" } else { "hexpire" }, key);
    }
    if removed {
        ctx.event(GENERIC, "del", key);
    }
    if updated == 0 {
        ctx.fx.propagate_nothing();
    } else if propagating {
        let mut v = argv![b"HPEXPIREAT", key, itoa::Buffer::new().format(when),];
        if cond != ExpireCond::Always {
            v.push(opt.to_vec());
        }
        v.push(b"FIELDS".to_vec());
        v.push(itoa::Buffer::new().format(updated).as_bytes().to_vec());
        v.extend(set_fields.iter().map(|f| f.to_vec()));
        ctx.fx.propagate_as(|| v);
    }
    Ok(())
}

fn hexpire(ctx: &mut Ctx) -> Result<()> {
    hexpire_generic(ctx, true, true)
}

fn hpexpire(ctx: &mut Ctx) -> Result<()> {
    hexpire_generic(ctx, true, false)
}

fn hexpireat(ctx: &mut Ctx) -> Result<()> {
    hexpire_generic(ctx, false, true)
}

fn hpexpireat(ctx: &mut Ctx) -> Result<()> {
    hexpire_generic(ctx, false, false)
}

/// HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME key FIELDS n field...: per field -2 (no such
/// field), -1 (no deadline) or the time; seconds are rounded up as Redis 7.4 does.
fn httl_generic(ctx: &mut Ctx, relative: bool, seconds: bool) -> Result<()> {
    let look = Look::new(ctx);
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, true)?;
    let first = parse_fields(ctx, 2, "ERR Number of fields must be a positive integer")?;
    let (db, _) = crate::key_db!(ctx, key);
    let base = if relative { now } else { 0 };
    ctx.out.array(ctx.args.len() - first);
    for &f in &ctx.args[first..] {
        let code = match slot.map(|s| hash_ref(db, s).field_expire(f)) {
            None | Some(None) => HFE_NO_FIELD,
            Some(Some(None)) => HFE_NO_TTL,
            Some(Some(Some(t))) if seconds => (t + 999 - base) / 1000,
            Some(Some(Some(t))) => t - base,
        };
        ctx.out.integer(code);
    }
    Ok(())
}

fn httl(ctx: &mut Ctx) -> Result<()> {
    httl_generic(ctx, true, true)
}

fn hpttl(ctx: &mut Ctx) -> Result<()> {
    httl_generic(ctx, true, false)
}

fn hexpiretime(ctx: &mut Ctx) -> Result<()> {
    httl_generic(ctx, false, true)
}

fn hpexpiretime(ctx: &mut Ctx) -> Result<()> {
    httl_generic(ctx, false, false)
}

/// HPERSIST key FIELDS n field...: per field -2 (no such field), -1 (no deadline), 1.
/// Effects when a deadline was removed: `hpersist`, modified, one change (not one per
/// field, as Redis); propagated as given.
fn hpersist(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, false)?;
    let first = parse_fields(ctx, 2, "ERR Number of fields must be a positive integer")?;
    let (db, _) = crate::key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - first);
    let mut changed = false;
    for &f in &ctx.args[first..] {
        let code = match slot {
            Some(s) => hash_mut(db, s).persist_field(f),
            None => HFE_NO_FIELD,
        };
        changed |= code == 1;
        ctx.out.integer(code);
    }
    if changed {
        ctx.event(HASH, "hpersist", key);
        ctx.modified(key);
        ctx.dirty(1);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HGETEX, HSETEX, HGETDEL (Redis 8.0)
// ---------------------------------------------------------------------------------------

/// What HGETEX does to the deadlines of the fields it returns.
#[derive(Clone, Copy, PartialEq)]
enum GetExOpt {
    Keep,
    Persist,
    At(i64),
}

/// HGETEX key [EX seconds | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST] FIELDS n field...:
/// the values (nil for a missing field), then each found field gets the new deadline (a
/// time in the past deletes it) or loses its deadline. Checks in Redis 8.0's order:
/// WRONGTYPE, the time, FIELDS, the count.
///
/// Effects as Redis's hgetexCommand: one change per field whose deadline was set, removed
/// or that was deleted; `hexpire`, `hpersist` or `hdel` (and `del` if the hash emptied).
/// Never propagated as given: as `HPEXPIREAT key ms FIELDS n field...`, as `HPERSIST key
/// FIELDS n field...`, or as the `HDEL key field` of each field a past time deleted.
fn hgetex(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (key, now, dbi) = (ctx.arg(1), ctx.now, ctx.client.db);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, false)?;
    let o = ctx.arg(2);
    let (opt, fields_at) = if is(o, "ex") || is(o, "px") || is(o, "exat") || is(o, "pxat") {
        let seconds = is(o, "ex") || is(o, "exat");
        let base = if is(o, "ex") || is(o, "px") { now } else { 0 };
        let when = parse_expire_time(ctx, ctx.arg(3), seconds, base)?;
        (GetExOpt::At(when), 4)
    } else if is(o, "persist") {
        (GetExOpt::Persist, 3)
    } else {
        (GetExOpt::Keep, 2)
    };
    let first = parse_fields(
        ctx,
        fields_at,
        "ERR Number of fields must be a positive integer",
    )?;
    let (db, _) = crate::key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - first);
    let Some(slot) = slot else {
        for _ in first..ctx.args.len() {
            ctx.out.null();
        }
        return Ok(());
    };
    let hash = hash_mut(db, slot);
    let (mut updated, mut deleted) = (0u64, 0u64);
    for &f in &ctx.args[first..] {
        match hash.get(f) {
            Some(v) => ctx.out.bulk(v),
            None => {
                ctx.out.null();
                continue;
            }
        }
        match opt {
            GetExOpt::Keep => {}
            GetExOpt::Persist => {
                if hash.persist_field(f) == 1 {
                    updated += 1;
                }
            }
            GetExOpt::At(when) => match hash.set_field_expire(f, when, ExpireCond::Always, now) {
                HFE_SET => updated += 1,
                HFE_DELETED => {
                    deleted += 1;
                    ctx.fx.also(dbi, || argv![b"HDEL", key, f]);
                }
                _ => {}
            },
        }
    }
    if matches!(opt, GetExOpt::At(_)) && hash.has_field_ttls() {
        db.note_field_ttls();
    }
    let removed = remove_if_empty(db, slot);
    if updated + deleted == 0 {
        return Ok(());
    }
    ctx.dirty(updated + deleted);
    ctx.modified(key);
    if updated > 0 {
        let fields = &ctx.args[fields_at..];
        let mut v = match opt {
            GetExOpt::At(when) => {
                ctx.event(HASH, "hexpire", key);
                argv![b"HPEXPIREAT", key, itoa::Buffer::new().format(when)]
            }
            _ => {
                ctx.event(HASH, "hpersist", key);
                argv![b"HPERSIST", key]
            }
        };
        if ctx.fx.propagating() {
            v.extend(fields.iter().map(|a| a.to_vec()));
            ctx.fx.propagate_as(|| v);
        }
    } else {
        // Deleted by a past time: their HDELs are all that propagates.
        ctx.event(HASH, "hdel", key);
        ctx.fx.propagate_nothing();
    }
    if removed {
        ctx.event(GENERIC, "del", key);
    }
    Ok(())
}

/// HSETEX key [FNX | FXX] [EX seconds | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]
/// FIELDS n field value...: sets every pair (1) or, when FNX finds a field or FXX misses
/// one, none (0). Without a time or KEEPTTL a set field loses its deadline, as with HSET;
/// a time in the past deletes the fields just set. The options are parsed before the key
/// is looked up, with Redis 8.0's errors.
///
/// Effects as Redis's hsetexCommand: `new` for a created key, one change per pair, `hset`,
/// then `hexpire` (or `hdel` when a past time deleted the fields; `del` if the hash
/// emptied). A relative time propagates as `PXAT` with the absolute one; fields deleted by
/// a past time propagate as their `HDEL`s only.
fn hsetex(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let lim = limits(ctx);
    let (key, now, dbi) = (ctx.arg(1), ctx.now, ctx.client.db);
    let len = ctx.args.len();
    let arity = || Error::WrongArity("hsetex".into());
    let (mut fnx, mut fxx, mut keepttl) = (false, false, false);
    // (index of the EX/PX/EXAT/PXAT token, absolute deadline in ms)
    let mut expire: Option<(usize, i64)> = None;
    let mut first = None;
    let mut i = 2;
    while i < len {
        let a = ctx.arg(i);
        if is(a, "fields") {
            if i + 3 >= len {
                return Err(arity());
            }
            let n = num::parse_i64(ctx.arg(i + 1))
                .filter(|n| (1..=i32::MAX as i64).contains(n))
                .ok_or(Error::msg("ERR invalid number of fields"))?;
            let remaining = (len - i - 2) as i64;
            if remaining % 2 != 0 || n != remaining / 2 {
                return Err(arity());
            }
            first = Some(i + 2);
            break;
        } else if is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat") {
            if expire.is_some() || keepttl {
                return Err(only_one_expiration());
            }
            if i + 1 >= len {
                return Err(Error::msg("ERR missing expire time"));
            }
            let seconds = is(a, "ex") || is(a, "exat");
            let base = if is(a, "ex") || is(a, "px") { now } else { 0 };
            expire = Some((i, parse_expire_time(ctx, ctx.arg(i + 1), seconds, base)?));
            i += 1;
        } else if is(a, "keepttl") {
            if expire.is_some() || keepttl {
                return Err(only_one_expiration());
            }
            keepttl = true;
        } else if is(a, "fxx") || is(a, "fnx") {
            if fxx || fnx {
                return Err(Error::msg(
                    "ERR Only one of FXX or FNX arguments can be specified",
                ));
            }
            fxx = is(a, "fxx");
            fnx = !fxx;
        } else {
            return Err(Error::msg(format!(
                "ERR unknown argument: {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    // Unreachable with the arity of -6: every other path returns an error first.
    let first = first.ok_or(Error::Syntax)?;
    let pairs = &ctx.args[first..];

    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = match lookup_hash(db, h, key, look, false)? {
        Some(slot) => (slot, false),
        None if fxx => {
            ctx.out.integer(0);
            return Ok(());
        }
        None => lookup_or_create(db, h, key, look)?,
    };
    let hash = hash_mut(db, slot);
    if fnx || fxx {
        let found = pairs
            .chunks_exact(2)
            .take_while(|p| hash.contains(p[0]) == fxx)
            .count();
        if found != pairs.len() / 2 {
            ctx.out.integer(0);
            return Ok(());
        }
    }
    let (mut updated, mut deleted) = (0u64, 0u64);
    for p in pairs.chunks_exact(2) {
        let (f, v) = (p[0], p[1]);
        if expire.is_some() || keepttl {
            hash.set_keep_ttl(f, v, lim);
        } else {
            hash.set(f, v, lim);
        }
        if let Some((_, when)) = expire {
            match hash.set_field_expire(f, when, ExpireCond::Always, now) {
                HFE_SET => updated += 1,
                HFE_DELETED => {
                    deleted += 1;
                    ctx.fx.also(dbi, || argv![b"HDEL", key, f]);
                }
                _ => {}
            }
        }
    }
    if expire.is_some() && hash.has_field_ttls() {
        db.note_field_ttls();
    }
    let removed = remove_if_empty(db, slot);
    ctx.out.integer(1);
    if created {
        ctx.added(key);
    }
    ctx.dirty(pairs.len() as u64 / 2);
    ctx.modified(key);
    ctx.event(HASH, "hset", key);
    if deleted + updated > 0 {
        ctx.event(HASH, if deleted > 0 { "hdel" } else { "hexpire" }, key);
    }
    if removed {
        ctx.event(GENERIC, "del", key);
    }
    if deleted > 0 {
        ctx.fx.propagate_nothing();
    } else if let Some((at, when)) = expire {
        if ctx.fx.propagating() && !is(ctx.arg(at), "pxat") {
            let mut v: Vec<Vec<u8>> = ctx.args.iter().map(|a| a.to_vec()).collect();
            v[at] = b"PXAT".to_vec();
            v[at + 1] = itoa::Buffer::new().format(when).as_bytes().to_vec();
            ctx.fx.propagate_as(|| v);
        }
    }
    Ok(())
}

fn only_one_expiration() -> Error {
    Error::msg("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified")
}

/// HGETDEL key FIELDS n field...: the values (nil for a missing field), each found field
/// deleted, the key with its last field. Effects as Redis's hgetdelCommand: one change per
/// field deleted, `hdel` (and `del`); propagated as `HDEL key field...` (every field named).
fn hgetdel(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = lookup_hash(db, h, key, look, false)?;
    let first = parse_fields(ctx, 2, "ERR Number of fields must be a positive integer")?;
    let (db, _) = crate::key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - first);
    let Some(slot) = slot else {
        for _ in first..ctx.args.len() {
            ctx.out.null();
        }
        return Ok(());
    };
    let hash = hash_mut(db, slot);
    let mut deleted = 0u64;
    for &f in &ctx.args[first..] {
        match hash.get(f) {
            Some(v) => ctx.out.bulk(v),
            None => {
                ctx.out.null();
                continue;
            }
        }
        hash.remove(f);
        deleted += 1;
    }
    let removed = remove_if_empty(db, slot);
    if deleted > 0 {
        ctx.modified(key);
        ctx.event(HASH, "hdel", key);
        ctx.dirty(deleted);
        if ctx.fx.propagating() {
            let mut v = argv![b"HDEL", key];
            v.extend(ctx.args[first..].iter().map(|f| f.to_vec()));
            ctx.fx.propagate_as(|| v);
        }
    }
    if removed {
        ctx.event(GENERIC, "del", key);
    }
    Ok(())
}
