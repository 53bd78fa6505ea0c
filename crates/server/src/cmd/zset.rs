//! Sorted set commands (Redis's t_zset.c). Parsing, key lookup and replies live here; the
//! data structure and its algorithms are in `cinnabar_engine::types::zset`.
//!
//! Scores are replied with Redis's `addReplyDouble` text (`num::format_double`): a bulk
//! string in RESP2, a `,` double in RESP3. Commands returning members with scores reply a
//! flat array in RESP2 and an array of `[member, score]` pairs in RESP3, as Redis 7.2 does.
//!
//! Set keys are accepted as sources of ZUNION/ZINTER/ZDIFF and their variants, with every
//! score 1, as in Redis.
//!
//! Writes record their effects as Redis 7.2's t_zset.c raises them: the events (`zadd`,
//! `zincr`, `zrem`, `zremrangebyrank|score|lex`, `zpopmin|max`, the `*store` events, `new`
//! and `del`), signalModifiedKey where Redis calls it (never for a no-op) and `dirty`, per
//! element where Redis counts per element. ZMPOP propagates as ZPOPMIN/ZPOPMAX key count.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::types::zset::{Elements, LexRange, Limits, ScoreRange, ZSet};
use cinnabar_engine::{glob, num, Db, Entry, Error, NewValue, Object, Result};
use cinnabar_resp::{Protocol, ReplyBuf};
use rand::Rng;

use super::{int_arg, is, lookup_kind, remove_if_empty, Look};
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, ZSET};
use crate::{argv, key_db};

pub fn register(r: &mut Registry) {
    r.add("zadd", zadd);
    r.add("zincrby", zincrby);
    r.add("zrem", zrem);
    r.add("zcard", zcard);
    r.add("zscore", zscore);
    r.add("zmscore", zmscore);
    r.add("zcount", zcount);
    r.add("zlexcount", zlexcount);
    r.add("zrank", zrank);
    r.add("zrevrank", zrevrank);
    r.add("zrange", zrange);
    r.add("zrangestore", zrangestore);
    r.add("zrevrange", zrevrange);
    r.add("zrangebyscore", zrangebyscore);
    r.add("zrevrangebyscore", zrevrangebyscore);
    r.add("zrangebylex", zrangebylex);
    r.add("zrevrangebylex", zrevrangebylex);
    r.add("zremrangebyrank", zremrangebyrank);
    r.add("zremrangebyscore", zremrangebyscore);
    r.add("zremrangebylex", zremrangebylex);
    r.add("zpopmin", zpopmin);
    r.add("zpopmax", zpopmax);
    r.add("zmpop", zmpop);
    r.add("zrandmember", zrandmember);
    r.add("zunion", zunion);
    r.add("zinter", zinter);
    r.add("zdiff", zdiff);
    r.add("zunionstore", zunionstore);
    r.add("zinterstore", zinterstore);
    r.add("zdiffstore", zdiffstore);
    r.add("zintercard", zintercard);
    r.add("zscan", zscan);
}

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

fn is_zset(o: &Object) -> bool {
    matches!(o, Object::ZSet(_))
}

fn zset_is_empty(o: &Object) -> bool {
    matches!(o, Object::ZSet(z) if z.is_empty())
}

/// The sorted set in `slot` (found with `lookup_kind(.., is_zset)`).
fn zset_at(db: &Db, slot: usize) -> &ZSet {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::ZSet(z)) => z,
        _ => unreachable!("slot holds a zset"),
    }
}

fn zset_at_mut(db: &mut Db, slot: usize) -> &mut ZSet {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::ZSet(z)) => z,
        _ => unreachable!("slot holds a zset"),
    }
}

/// The compact-encoding thresholds from the live configuration.
fn limits(ctx: &Ctx) -> Limits {
    let [entries, value] = &ctx.server.config.live.zset_limits;
    let get = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    Limits {
        max_entries: get(entries) as usize,
        max_value: get(value) as usize,
    }
}

fn resp3(out: &ReplyBuf) -> bool {
    out.proto == Protocol::Resp3
}

/// Replies a score as Redis's addReplyDouble, with the text of `num::format_double` (Redis's
/// exact d2string formatting) rather than `ReplyBuf::double`'s shortest form.
pub fn reply_score(out: &mut ReplyBuf, v: f64) {
    // Integral scores, the common case, are formatted on the stack (Redis's double2ll fast
    // path gives the same text; -0 keeps its sign through format_double).
    if v.trunc() == v
        && v.abs() <= 4_611_686_018_427_387_904.0
        && (v != 0.0 || v.is_sign_positive())
    {
        out.double_text(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    let mut text = Vec::with_capacity(24);
    num::format_double(v, &mut text);
    out.double_text(&text);
}

/// Header of a reply of `n` members, with scores when `withscores` (flat in RESP2).
fn elems_header(out: &mut ReplyBuf, n: usize, withscores: bool) {
    if withscores && !resp3(out) {
        out.array(2 * n);
    } else {
        out.array(n);
    }
}

/// One member of such a reply.
fn elem(out: &mut ReplyBuf, m: &[u8], s: f64, withscores: bool) {
    if withscores && resp3(out) {
        out.array(2);
    }
    out.bulk(m);
    if withscores {
        reply_score(out, s);
    }
}

/// Stores `z` under `key` as Redis's setKey (replacing any value and its TTL), or deletes
/// `key` when `z` is empty. Returns the stored length. Effects as Redis's *STORE commands:
/// `new` if the key did not exist, modified, `event`, one change; for an empty result,
/// modified, `del` and one change if there was a key to delete, else nothing.
fn store<'a>(ctx: &mut Ctx<'a, '_>, key: &'a [u8], z: ZSet, event: &'static str) -> usize {
    let now = ctx.now;
    let n = z.len();
    let (db, h) = key_db!(ctx, key);
    if n == 0 {
        // Redis's dbDelete, which finds a key past its deadline too (and says `del`).
        if let Some(slot) = db.find_raw(h, key) {
            db.remove_slot(slot);
            ctx.wrote(GENERIC, "del", key);
        }
    } else {
        // setKey looks the key up first: one past its deadline expires (and is logged).
        let existing = db.lookup(h, key, now);
        db.put(
            h,
            Entry::new(
                key,
                NewValue::Obj(Box::new(Object::ZSet(z))),
                None,
                db.fresh_clock(now),
            ),
        );
        if existing.is_none() {
            ctx.added(key);
        }
        ctx.wrote(ZSET, event, key);
    }
    n
}

/// A long argument restricted to `min..=max`, as Redis's getRangeLongFromObjectOrReply:
/// `msg` (if any) replaces both the not-an-integer and the out-of-range error.
fn range_long(arg: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64> {
    let err_int = || msg.map_or(Error::NotInteger, Error::msg);
    let n = num::parse_i64(arg).ok_or_else(err_int)?;
    if n < min || n > max {
        return Err(match msg {
            Some(m) => Error::msg(m),
            None => Error::msg(format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        });
    }
    Ok(n)
}

/// Redis's getPositiveLongFromObjectOrReply: its message covers non-integers too.
fn positive_long(arg: &[u8]) -> Result<i64> {
    range_long(
        arg,
        0,
        i64::MAX,
        Some("ERR value is out of range, must be positive"),
    )
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    if f.nx && f.xx {
        return Err(Error::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(Error::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(Error::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks(2)
        .map(|p| Ok((num::parse_f64(p[0]).ok_or(Error::NotFloat)?, p[1])))
        .collect::<Result<Vec<(f64, &[u8])>>>()?;
    zadd_core(ctx, f, &pairs)
}

/// ZINCRBY key increment member: ZADD INCR with one pair.
fn zincrby(ctx: &mut Ctx) -> Result<()> {
    let incr = num::parse_f64(ctx.arg(2)).ok_or(Error::NotFloat)?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_core(ctx, f, &[(incr, ctx.arg(3))])
}

/// The update loop of ZADD (Redis's zsetAdd per pair) and its reply.
fn zadd_core(ctx: &mut Ctx, f: AddFlags, pairs: &[(f64, &[u8])]) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let now = ctx.now;
    let limits = limits(ctx);
    let (db, h) = key_db!(ctx, key);
    let mut created = false;
    let slot = match look.find(db, h, key, false, is_zset)? {
        Some(slot) => {
            zset_at_mut(db, slot).reserve_hint(pairs.len(), limits);
            slot
        }
        None if f.xx => {
            if f.incr {
                ctx.out.null();
            } else {
                ctx.out.integer(0);
            }
            return Ok(());
        }
        None => {
            let z = ZSet::with_hint(pairs.len(), pairs[0].1.len(), limits);
            created = true;
            db.insert_new(
                h,
                Entry::new(
                    key,
                    NewValue::Obj(Box::new(Object::ZSet(z))),
                    None,
                    db.fresh_clock(now),
                ),
            )
        }
    };
    let z = zset_at_mut(db, slot);
    if pairs.len() > 1 {
        let members: Vec<&[u8]> = pairs.iter().map(|p| p.1).collect();
        z.reserve_members(&members, limits);
    }
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0);
    let mut last = 0.0;
    for &(score, member) in pairs {
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let mut new = score;
                if f.incr {
                    new += cur;
                    if new.is_nan() {
                        return Err(Error::msg("ERR resulting score is not a number (NaN)"));
                    }
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                last = new;
                processed += 1;
                if new != cur {
                    z.insert(member, new, limits);
                    updated += 1;
                }
            }
            None if !f.xx => {
                z.insert(member, score, limits);
                added += 1;
                processed += 1;
                last = score;
            }
            None => {}
        }
    }
    if pairs.len() > 1 {
        z.fit();
    }
    // Redis's zaddGenericCommand: `new` from dbAdd, then, only when a score was added or
    // changed, modified and `zadd` / `zincr`; one change per member added or updated.
    if created {
        ctx.added(key);
    }
    if added + updated > 0 {
        ctx.modified(key);
        ctx.event(ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        ctx.dirty((added + updated) as u64);
    }
    if f.incr {
        if processed > 0 {
            reply_score(ctx.out, last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.integer(if f.ch { added + updated } else { added });
    }
    Ok(())
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let mut removed = 0;
    let mut key_removed = false;
    if let Some(slot) = look.find(db, h, key, false, is_zset)? {
        let z = zset_at_mut(db, slot);
        for m in &ctx.args[2..] {
            if z.remove(m).is_some() {
                removed += 1;
                if z.is_empty() {
                    break;
                }
            }
        }
        key_removed = remove_if_empty(db, slot, zset_is_empty);
    }
    ctx.out.integer(removed);
    // Redis's zremCommand: `zrem`, `del`, then modified.
    if removed > 0 {
        ctx.event(ZSET, "zrem", key);
        if key_removed {
            ctx.event(GENERIC, "del", key);
        }
        ctx.modified(key);
        ctx.dirty(removed as u64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads of single members and counts
// ---------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let n = match look.find(db, h, key, true, is_zset)? {
        Some(slot) => zset_at(db, slot).len(),
        None => 0,
    };
    ctx.out.integer(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let score = match look.find(db, h, key, true, is_zset)? {
        Some(slot) => zset_at(db, slot).score(ctx.args[2]),
        None => None,
    };
    match score {
        Some(s) => reply_score(ctx.out, s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let slot = look.find(db, h, key, true, is_zset)?;
    let members = &ctx.args[2..];
    ctx.out.array(members.len());
    for m in members {
        match slot.and_then(|s| zset_at(db, s).score(m)) {
            Some(s) => reply_score(ctx.out, s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let range = ScoreRange::parse(ctx.arg(2), ctx.arg(3)).ok_or(Error::msg(NOT_FLOAT_RANGE))?;
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let n = match look.find(db, h, key, true, is_zset)? {
        Some(slot) => {
            let (a, b) = zset_at(db, slot).score_ranks(&range);
            b - a
        }
        None => 0,
    };
    ctx.out.integer(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let range = LexRange::parse(ctx.arg(2), ctx.arg(3)).ok_or(Error::msg(NOT_LEX_RANGE))?;
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let n = match look.find(db, h, key, true, is_zset)? {
        Some(slot) => {
            let (a, b) = zset_at(db, slot).lex_ranks(&range);
            b - a
        }
        None => 0,
    };
    ctx.out.integer(n as i64);
    Ok(())
}

fn zrank(ctx: &mut Ctx) -> Result<()> {
    rank_generic(ctx, false)
}

fn zrevrank(ctx: &mut Ctx) -> Result<()> {
    rank_generic(ctx, true)
}

/// Z[REV]RANK key member [WITHSCORE]
fn rank_generic(ctx: &mut Ctx, rev: bool) -> Result<()> {
    let look = Look::new(ctx);
    if ctx.args.len() > 4 {
        return Err(Error::WrongArity(
            if rev { "zrevrank" } else { "zrank" }.into(),
        ));
    }
    let withscore = match ctx.args.get(3) {
        None => false,
        Some(a) if is(a, "withscore") => true,
        Some(_) => return Err(Error::Syntax),
    };
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let found = match look.find(db, h, key, true, is_zset)? {
        Some(slot) => zset_at(db, slot).rank(ctx.args[2], rev),
        None => None,
    };
    match (found, withscore) {
        (Some((r, _)), false) => ctx.out.integer(r as i64),
        (Some((r, s)), true) => {
            ctx.out.array(2);
            ctx.out.integer(r as i64);
            reply_score(ctx.out, s);
        }
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANGE and its variants
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// A parsed range of any type.
enum Spec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zrange(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Auto, Direction::Auto)
}

fn zrangestore(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 2, true, RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx) -> Result<()> {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Reverse)
}

/// Normalises a rank range as Redis does (negative indexes count from the end, clamping);
/// returns ascending `start..end` or None when empty.
fn rank_window(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize + 1))
}

/// Applies LIMIT offset count to the matching ranks `a..b`, taken from the low end (or the
/// high end when `rev`). A negative offset selects nothing and a negative count means all,
/// as Redis's skip/emit loops behave.
fn apply_limit(a: usize, b: usize, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    if offset < 0 {
        return (a, a);
    }
    let n = b - a;
    let skip = (offset as u64).min(n as u64) as usize;
    let take = if limit < 0 {
        n - skip
    } else {
        (limit as u64).min((n - skip) as u64) as usize
    };
    if rev {
        (b - skip - take, b - skip)
    } else {
        (a + skip, a + skip + take)
    }
}

/// ZRANGE / ZRANGESTORE and the legacy Z[REV]RANGE[BYSCORE|BYLEX] commands, as Redis's
/// zrangeGenericCommand: `argc_start` is the index of the source key; the arguments after
/// `min max` are parsed first, then the range, then the key is read.
fn zrange_generic(
    ctx: &mut Ctx,
    argc_start: usize,
    store_result: bool,
    mut rt: RangeType,
    mut dir: Direction,
) -> Result<()> {
    let look = Look::new(ctx);
    let args = ctx.args;
    let key = args[argc_start];
    let (mut minidx, mut maxidx) = (argc_start + 1, argc_start + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = argc_start + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if !store_result && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(args[j + 1])?;
            limit = int_arg(args[j + 2])?;
            j += 2;
        } else if dir == Direction::Auto && is(a, "rev") {
            dir = Direction::Reverse;
        } else if rt == RangeType::Auto && is(a, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && is(a, "byscore") {
            rt = RangeType::Score;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let rev = dir == Direction::Reverse;
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return Err(Error::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rt == RangeType::Lex {
        return Err(Error::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let spec = match rt {
        RangeType::Score => Spec::Score(
            ScoreRange::parse(args[minidx], args[maxidx]).ok_or(Error::msg(NOT_FLOAT_RANGE))?,
        ),
        RangeType::Lex => {
            Spec::Lex(LexRange::parse(args[minidx], args[maxidx]).ok_or(Error::msg(NOT_LEX_RANGE))?)
        }
        _ => Spec::Rank(int_arg(args[minidx])?, int_arg(args[maxidx])?),
    };

    let lim = limits(ctx);
    let (db, h) = key_db!(ctx, key);
    let slot = look.find(db, h, key, true, is_zset)?;
    let window = slot.map(|slot| {
        let z = zset_at(db, slot);
        let (a, b) = match &spec {
            Spec::Rank(s, e) => match rank_window(*s, *e, z.len()) {
                // Reverse ranks count from the top.
                Some((a, b)) if rev => (z.len() - b, z.len() - a),
                Some(w) => w,
                None => (0, 0),
            },
            Spec::Score(r) => {
                let (a, b) = z.score_ranks(r);
                apply_limit(a, b, rev, offset, limit)
            }
            Spec::Lex(r) => {
                let (a, b) = z.lex_ranks(r);
                apply_limit(a, b, rev, offset, limit)
            }
        };
        (slot, a, b)
    });

    if store_result {
        let mut items = Vec::new();
        if let Some((slot, a, b)) = window {
            zset_at(db, slot).range(a, b, rev, |m, s| items.push((m.to_vec(), s)));
        }
        // Redis sizes the destination from the result length when it is known in advance
        // (rank ranges); for score and lex ranges it always creates a skiplist.
        let dst_limits = if rt == RangeType::Rank {
            lim
        } else {
            Limits {
                max_entries: 0,
                max_value: 0,
            }
        };
        let z = ZSet::from_members(items, dst_limits);
        let n = store(ctx, args[1], z, "zrangestore");
        ctx.out.integer(n as i64);
        return Ok(());
    }
    match window {
        None => ctx.out.array(0),
        Some((slot, a, b)) => {
            let out = &mut *ctx.out;
            elems_header(out, b - a, withscores);
            zset_at(db, slot).range(a, b, rev, |m, s| elem(out, m, s, withscores));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx) -> Result<()> {
    let spec = Spec::Rank(int_arg(ctx.arg(2))?, int_arg(ctx.arg(3))?);
    zremrange_generic(ctx, spec, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx) -> Result<()> {
    let r = ScoreRange::parse(ctx.arg(2), ctx.arg(3)).ok_or(Error::msg(NOT_FLOAT_RANGE))?;
    zremrange_generic(ctx, Spec::Score(r), "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx) -> Result<()> {
    let r = LexRange::parse(ctx.arg(2), ctx.arg(3)).ok_or(Error::msg(NOT_LEX_RANGE))?;
    zremrange_generic(ctx, Spec::Lex(r), "zremrangebylex")
}

/// Removes the elements of a range; deletes the key when it empties. Effects as Redis's
/// zremrangeGenericCommand: modified, `event` (the command's name, as Redis names it), `del`
/// when the key went, one change per element removed; nothing when none was.
fn zremrange_generic(ctx: &mut Ctx, spec: Spec, event: &'static str) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = key_db!(ctx, key);
    let mut removed = 0;
    let mut key_removed = false;
    if let Some(slot) = look.find(db, h, key, false, is_zset)? {
        let z = zset_at_mut(db, slot);
        let (a, b) = match &spec {
            Spec::Rank(s, e) => rank_window(*s, *e, z.len()).unwrap_or((0, 0)),
            Spec::Score(r) => z.score_ranks(r),
            Spec::Lex(r) => z.lex_ranks(r),
        };
        removed = z.remove_ranks(a, b);
        key_removed = remove_if_empty(db, slot, zset_is_empty);
    }
    ctx.out.integer(removed as i64);
    if removed > 0 {
        ctx.modified(key);
        ctx.event(ZSET, event, key);
        if key_removed {
            ctx.event(GENERIC, "del", key);
        }
        ctx.dirty(removed as u64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Pops and random members
// ---------------------------------------------------------------------------

/// Pops up to `count` elements from the sorted set at `key` (lowest first, or highest with
/// `max`), deleting the key when it empties. None when the key does not exist; else the
/// elements and whether the key went.
fn pop_from(
    db: &mut Db,
    h: u64,
    key: &[u8],
    now: i64,
    count: usize,
    max: bool,
) -> Result<Option<(Elements, bool)>> {
    let Some(slot) = lookup_kind(db, h, key, now, is_zset)? else {
        return Ok(None);
    };
    let popped = zset_at_mut(db, slot).pop(count, max);
    let removed = remove_if_empty(db, slot, zset_is_empty);
    Ok(Some((popped, removed)))
}

/// The effects of popping `n` (at least one) elements from `key`, as Redis's
/// genericZpopCommand: one change each, `zpopmin` / `zpopmax` and modified once, `del` if
/// the key went.
fn popped<'a>(ctx: &mut Ctx<'a, '_>, key: &'a [u8], n: usize, max: bool, removed: bool) {
    ctx.dirty(n as u64);
    ctx.event(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    ctx.modified(key);
    if removed {
        ctx.event(GENERIC, "del", key);
    }
}

/// Writes popped elements: a flat array, or `[member, score]` pairs when `nested`.
pub fn reply_popped(out: &mut ReplyBuf, items: &[(Vec<u8>, f64)], nested: bool) {
    out.array(if nested { items.len() } else { 2 * items.len() });
    for (m, s) in items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        reply_score(out, *s);
    }
}

/// The reply of ZMPOP/BZMPOP: `[key, [[member, score], ...]]` in both protocols.
pub fn reply_zmpop(out: &mut ReplyBuf, key: &[u8], items: &[(Vec<u8>, f64)]) {
    out.array(2);
    out.bulk(key);
    reply_popped(out, items, true);
}

fn zpopmin(ctx: &mut Ctx) -> Result<()> {
    zpop_generic(ctx, false)
}

fn zpopmax(ctx: &mut Ctx) -> Result<()> {
    zpop_generic(ctx, true)
}

/// ZPOPMIN/ZPOPMAX key [count]: RESP3 nests pairs only when a count is given.
fn zpop_generic(ctx: &mut Ctx, max: bool) -> Result<()> {
    let look = Look::new(ctx);
    if ctx.args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match ctx.args.get(2) {
        Some(a) => Some(positive_long(a)?),
        None => None,
    };
    let key = ctx.arg(1);
    let now = ctx.now;
    let (db, h) = key_db!(ctx, key);
    if look.find(db, h, key, false, is_zset)?.is_none() || count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    let n = count.unwrap_or(1) as usize;
    let (items, removed) = pop_from(db, h, key, now, n, max)?.unwrap_or_default();
    let nested = resp3(ctx.out) && count.is_some();
    reply_popped(ctx.out, &items, nested);
    if !items.is_empty() {
        popped(ctx, key, items.len(), max, removed);
    }
    Ok(())
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let numkeys = range_long(
        args[1],
        1,
        i64::MAX,
        Some("ERR numkeys should be greater than 0"),
    )? as usize;
    let where_idx = match numkeys.checked_add(2) {
        Some(i) if i < args.len() => i,
        _ => return Err(Error::Syntax),
    };
    let max = if is(args[where_idx], "min") {
        false
    } else if is(args[where_idx], "max") {
        true
    } else {
        return Err(Error::Syntax);
    };
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count == -1 && is(args[j], "count") && j + 1 < args.len() {
            count = range_long(
                args[j + 1],
                1,
                i64::MAX,
                Some("ERR count should be greater than 0"),
            )?;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let count = if count == -1 { 1 } else { count as usize };
    let now = ctx.now;
    for &key in &args[2..where_idx] {
        let (db, h) = key_db!(ctx, key);
        if let Some((items, removed)) = pop_from(db, h, key, now, count, max)? {
            reply_zmpop(ctx.out, key, &items);
            popped(ctx, key, items.len(), max, removed);
            // Replicated as ZPOPMIN/ZPOPMAX key <how many it popped>, as Redis does.
            if ctx.fx.propagating() {
                let cmd: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                ctx.fx
                    .propagate_as(|| argv![cmd, key, itoa::Buffer::new().format(items.len())]);
            }
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let args = ctx.args;
    let key = args[1];
    if args.len() == 2 {
        let (db, h) = key_db!(ctx, key);
        match look.find(db, h, key, true, is_zset)? {
            None => ctx.out.null(),
            Some(slot) => {
                let z = zset_at(db, slot);
                let i = rand::thread_rng().gen_range(0..z.len());
                z.range(i, i + 1, false, |m, _| ctx.out.bulk(m));
            }
        }
        return Ok(());
    }
    let l = range_long(args[2], -i64::MAX, i64::MAX, None)?;
    let withscores = match args.len() {
        3 => false,
        4 if is(args[3], "withscores") => {
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
                return Err(Error::msg("ERR value is out of range"));
            }
            true
        }
        _ => return Err(Error::Syntax),
    };
    let (db, h) = key_db!(ctx, key);
    let Some(slot) = look.find(db, h, key, true, is_zset)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let z = zset_at(db, slot);
    let size = z.len();
    let out = &mut *ctx.out;
    let mut rng = rand::thread_rng();
    if l == 0 {
        out.array(0);
    } else if l < 0 || l == 1 {
        // With repetitions: independent uniform picks.
        let count = l.unsigned_abs() as usize;
        elems_header(out, count, withscores);
        let all = if matches!(z, ZSet::Packed(_)) {
            Some(z.to_vec())
        } else {
            None
        };
        for _ in 0..count {
            // Past the output buffer limit the client is being closed (Redis stops too).
            if out.over_limit() {
                break;
            }
            let i = rng.gen_range(0..size);
            match &all {
                Some(v) => elem(out, &v[i].0, v[i].1, withscores),
                None => z.range(i, i + 1, false, |m, s| elem(out, m, s, withscores)),
            }
        }
    } else if l as usize >= size {
        // The whole set, in the order Redis's zset iterator walks it: highest first.
        elems_header(out, size, withscores);
        z.range(0, size, true, |m, s| elem(out, m, s, withscores));
    } else {
        // Distinct members: a uniform sample of ranks.
        let count = l as usize;
        elems_header(out, count, withscores);
        let all = if matches!(z, ZSet::Packed(_)) {
            Some(z.to_vec())
        } else {
            None
        };
        for i in rand::seq::index::sample(&mut rng, size, count) {
            match &all {
                Some(v) => elem(out, &v[i].0, v[i].1, withscores),
                None => z.range(i, i + 1, false, |m, s| elem(out, m, s, withscores)),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Combines `val` into `target` as Redis's zunionInterAggregate (inf + -inf gives 0).
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

fn zunion(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, false, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, false, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, false, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, true, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, true, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, true, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx) -> Result<()> {
    setop_generic(ctx, false, SetOp::Inter, true)
}

/// Member -> score, for the set operations.
type ScoreMap<K> = std::collections::HashMap<K, f64, foldhash::fast::RandomState>;

/// One input of a set operation: its elements (empty for a missing key) and weight.
struct Source {
    items: Vec<(Vec<u8>, f64)>,
    weight: f64,
}

impl Source {
    fn lookup(&self) -> ScoreMap<&[u8]> {
        self.items.iter().map(|(m, s)| (m.as_slice(), *s)).collect()
    }
}

/// Redis's zunionInterDiffGenericCommand. Sources are read (and type-checked) before the
/// options are parsed, as in Redis, so WRONGTYPE wins over a syntax error. Each source is
/// copied out of its shard because the keys may live in different shards.
fn setop_generic(ctx: &mut Ctx, has_dst: bool, op: SetOp, cardinality_only: bool) -> Result<()> {
    let look = Look::new(ctx);
    let args = ctx.args;
    let numkeys_idx = if has_dst { 2 } else { 1 };
    let setnum = int_arg(args[numkeys_idx])?;
    if setnum < 1 {
        return Err(Error::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(args[0]).to_lowercase()
        )));
    }
    if setnum > (args.len() - numkeys_idx - 1) as i64 {
        return Err(Error::Syntax);
    }
    let setnum = setnum as usize;
    let mut srcs = Vec::with_capacity(setnum);
    for key in &args[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        let (db, h) = key_db!(ctx, key);
        let items = match look.find(db, h, key, true, |o| {
            matches!(o, Object::ZSet(_) | Object::Set(_))
        })? {
            Some(slot) => match db.entry(slot).value() {
                ValueRef::Obj(Object::ZSet(z)) => z.to_vec(),
                // A set is a sorted set whose scores are all 1.
                ValueRef::Obj(Object::Set(s)) => s.iter().map(|m| (m.to_vec(), 1.0)).collect(),
                _ => unreachable!("checked by lookup_kind"),
            },
            None => Vec::new(),
        };
        srcs.push(Source { items, weight: 1.0 });
    }

    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = args[j];
        if op != SetOp::Diff && !cardinality_only && remaining > setnum && is(a, "weights") {
            for (i, src) in srcs.iter_mut().enumerate() {
                src.weight = num::parse_f64(args[j + 1 + i])
                    .ok_or(Error::msg("ERR weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !cardinality_only && remaining >= 2 && is(a, "aggregate") {
            let v = args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(Error::Syntax);
            };
            j += 2;
        } else if !has_dst && !cardinality_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if cardinality_only && remaining >= 2 && is(a, "limit") {
            let n = num::parse_i64(args[j + 1]).ok_or(Error::msg("ERR LIMIT can't be negative"))?;
            if n < 0 {
                return Err(Error::msg("ERR LIMIT can't be negative"));
            }
            limit = n as usize;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }

    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            // Smallest input first: it bounds the result.
            srcs.sort_by_key(|s| s.items.len());
            let others: Vec<ScoreMap<&[u8]>> = srcs[1..].iter().map(Source::lookup).collect();
            for (m, s) in &srcs[0].items {
                let mut score = srcs[0].weight * s;
                if score.is_nan() {
                    score = 0.0;
                }
                let mut in_all = true;
                for (k, map) in others.iter().enumerate() {
                    match map.get(m.as_slice()) {
                        Some(v) => aggregate(&mut score, v * srcs[k + 1].weight, agg),
                        None => {
                            in_all = false;
                            break;
                        }
                    }
                }
                if !in_all {
                    continue;
                }
                if cardinality_only {
                    cardinality += 1;
                    if limit != 0 && cardinality >= limit {
                        break;
                    }
                } else {
                    result.push((m.clone(), score));
                }
            }
        }
        SetOp::Union => {
            srcs.sort_by_key(|s| s.items.len());
            let mut acc: ScoreMap<Vec<u8>> = ScoreMap::default();
            for src in &srcs {
                for (m, s) in &src.items {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m.as_slice()) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.clone(), score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let others: Vec<ScoreMap<&[u8]>> = srcs[1..].iter().map(Source::lookup).collect();
            for (m, s) in &srcs[0].items {
                if !others.iter().any(|o| o.contains_key(m.as_slice())) {
                    result.push((m.clone(), *s));
                }
            }
        }
    }

    if cardinality_only {
        ctx.out.integer(cardinality as i64);
        return Ok(());
    }
    let lim = limits(ctx);
    let z = ZSet::from_members(result, lim);
    if has_dst {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        let n = store(ctx, args[1], z, event);
        ctx.out.integer(n as i64);
    } else {
        let out = &mut *ctx.out;
        elems_header(out, z.len(), withscores);
        z.for_each(|m, s| elem(out, m, s, withscores));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------

/// Formats `v` as C's `%.17g`, the text Redis's ZSCAN uses for skiplist scores
/// (ld2string with LD_STR_AUTO).
fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", trim(mantissa), sign, exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
///
/// A compact set is returned whole with cursor 0, as Redis does for listpacks. A large set
/// is walked in score order and the cursor is the next rank: every element present for the
/// whole scan is returned, unless elements ranked before the cursor are removed between
/// calls (which shifts later ones down); additions may be returned twice.
fn zscan(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let args = ctx.args;
    let cursor = super::cursor_arg(args[2])?;
    let key = args[1];
    let (db, h) = key_db!(ctx, key);
    let Some(slot) = look.find(db, h, key, true, is_zset)? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let mut count: u64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if is(args[i], "count") && has_value {
            let n = int_arg(args[i + 1])?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            count = n as u64;
        } else if is(args[i], "match") && has_value {
            let p = args[i + 1];
            pattern = if glob::is_match_all(p) { None } else { Some(p) };
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let z = zset_at(db, slot);
    let len = z.len() as u64;
    let mut found: Vec<(Vec<u8>, String)> = Vec::new();
    let keep = |m: &[u8]| pattern.is_none_or(|p| glob::glob_match(p, m, false));
    let next = if matches!(z, ZSet::Packed(_)) {
        z.for_each(|m, s| {
            if keep(m) {
                found.push((m.to_vec(), num::double_to_string(s)));
            }
        });
        0
    } else {
        let start = cursor.min(len);
        let end = start.saturating_add(count).min(len);
        z.range(start as usize, end as usize, false, |m, s| {
            if keep(m) {
                found.push((m.to_vec(), format_g17(s)));
            }
        });
        if end >= len {
            0
        } else {
            end
        }
    };
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk_int(next as i64);
    out.array(found.len() * 2);
    for (m, s) in &found {
        out.bulk(m);
        out.bulk(s.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g17(123456.0), "123456");
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(0.0001), "0.0001");
    }

    #[test]
    fn limit_windows() {
        assert_eq!(apply_limit(2, 8, false, 1, 2), (3, 5));
        assert_eq!(apply_limit(2, 8, true, 1, 2), (5, 7));
        assert_eq!(apply_limit(2, 8, false, 0, -1), (2, 8));
        assert_eq!(apply_limit(2, 8, false, -1, 2), (2, 2));
        assert_eq!(apply_limit(2, 8, false, 10, 2), (8, 8));
        assert_eq!(rank_window(-2, -1, 5), Some((3, 5)));
        assert_eq!(rank_window(3, 1, 5), None);
        assert_eq!(rank_window(-100, 100, 5), Some((0, 5)));
    }
}
