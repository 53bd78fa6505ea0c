//! SORT and SORT_RO (Redis's sort.c): sort the elements of a list, set or sorted set
//! numerically or byte-wise, optionally by weights read from other keys (`BY pattern`),
//! returning other keys' values (`GET pattern`) and storing the result as a list (`STORE`).
//!
//! Both commands are registered as keyspace-wide: a BY or GET pattern names keys that only
//! become known while the command runs, in any shard, so every shard must be locked for the
//! command to stay atomic.
//!
//! The order of checks and the edge cases follow Redis 7.2: options are parsed first (so a
//! bad LIMIT beats WRONGTYPE), the source key is looked up next, and a score that does not
//! convert to a double fails only after everything was read, and only when a sort happens.

use std::cmp::Ordering;

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::types::list::List;
use cinnabar_engine::{Entry, Error, NewValue, Object, Result};

use super::{int_arg, is, str_value};
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, LIST};

pub fn register(r: &mut Registry) {
    r.add_all("sort", sort);
    r.add_all("sort_ro", sort_ro);
}

fn sort(ctx: &mut Ctx) -> Result<()> {
    sort_generic(ctx, false)
}

/// SORT_RO: SORT without STORE, so that it can run on replicas. STORE is not an option
/// there at all, so it falls through to the syntax error like any unknown word.
fn sort_ro(ctx: &mut Ctx) -> Result<()> {
    sort_generic(ctx, true)
}

const SCORE_ERROR: &str = "ERR One or more scores can't be converted into double";

/// The parsed options of a SORT command.
struct Options<'a> {
    /// The BY pattern, when it contains `*` (a constant pattern means "do not sort").
    by: Option<&'a [u8]>,
    /// `BY` with a constant pattern (conventionally `nosort`): keep the source's own order.
    dontsort: bool,
    limit_start: i64,
    limit_count: i64,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

/// Parses the options after the key, as Redis does: later words override earlier ones, an
/// option without enough arguments after it is a syntax error, and LIMIT's numbers must be
/// integers.
fn parse_options<'a>(
    args: &[&'a [u8]],
    readonly: bool,
    full_key_access: impl Fn() -> bool,
) -> Result<Options<'a>> {
    let mut o = Options {
        by: None,
        dontsort: false,
        limit_start: 0,
        limit_count: -1,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit_start = int_arg(args[j + 1])?;
            o.limit_count = int_arg(args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            // A pattern without `*` names one fixed key for every element: all weights
            // would be equal, so Redis skips sorting (and the lookups) altogether.
            let pattern = args[j + 1];
            o.dontsort = !pattern.contains(&b'*');
            o.by = (!o.dontsort).then_some(pattern);
            // A real pattern reads keys the ACL check could not see.
            if !o.dontsort && !full_key_access() {
                return Err(Error::msg(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if !full_key_access() {
                return Err(Error::msg(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args[j + 1]);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// One element to sort, with what it is compared by.
struct Item {
    elem: Vec<u8>,
    /// Numeric sort: the weight (0 when the BY key is missing).
    score: f64,
    /// ALPHA with BY: the weight's bytes; None (sorted first) when the BY key is missing.
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(elem: Vec<u8>) -> Item {
        Item {
            elem,
            score: 0.0,
            cmp: None,
        }
    }
}

/// How two items compare, as Redis's sortCompare: numeric by score with ties broken by the
/// elements' bytes; ALPHA by the BY weights (missing ones first) or by the elements.
/// Without STORE Redis compares with strcoll on C strings, which stops at a NUL byte; we
/// mirror that cut-off but compare bytes (the C locale's order).
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| {
        if store {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    if !alpha {
        a.score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.cmp(&b.elem))
    } else if by {
        match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => text(x, y),
        }
    } else {
        text(&a.elem, &b.elem)
    }
}

/// The bytes before the first NUL, as C string functions see them.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// A weight as Redis's SORT reads it: `strtod` over the whole C string, failing on
/// `ERANGE`. Unlike the stricter parse of ZADD scores, leading whitespace is skipped, the
/// text ends at a NUL byte, and an empty string is 0. NaN is an error, and so is any result
/// glibc flags as out of range: overflow, underflow to zero, and an inexact subnormal. A
/// decimal subnormal is always inexact in practice; a hexadecimal one is taken as exact.
fn sort_score(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let text = &s[start..];
    let v = cinnabar_engine::num::parse_f64(text)?;
    let digits = text
        .strip_prefix(b"-")
        .or(text.strip_prefix(b"+"))
        .unwrap_or(text);
    let hex = digits.len() > 1 && digits[0] == b'0' && matches!(digits[1], b'x' | b'X');
    if v.is_subnormal() && !hex {
        return None;
    }
    Some(v)
}

/// Looks a key up as Redis's lookupKeyRead: expired keys are deleted, the keyspace hit and
/// miss counters move (a miss raises `keymiss`), and the access clock is refreshed unless
/// the client is NO-TOUCH. Returns the slot in the key's database.
fn lookup_read(ctx: &mut Ctx, key: &[u8]) -> Option<usize> {
    let (now, touch, server) = (ctx.now, !ctx.client.no_touch, ctx.server);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        None => {
            super::read_miss(server, db, key);
            None
        }
        Some(slot) => {
            db.hits += 1;
            if touch {
                db.touch(slot, now);
            }
            Some(slot)
        }
    }
}

/// The value a BY or GET pattern yields for `elem`, as Redis's lookupKeyByPattern: `#` is
/// the element itself; otherwise the first `*` is replaced by the element, and a `->field`
/// suffix after it (with a non-empty field) reads that field of a hash. A pattern without
/// `*`, a missing key, a key of the wrong type or a missing field give None.
fn lookup_pattern(ctx: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let rest = &pattern[star + 1..];
    let (suffix, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < rest.len() => (&rest[..i], Some(&rest[i + 2..])),
        _ => (rest, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + suffix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(suffix);

    let slot = lookup_read(ctx, &key)?;
    let now = ctx.now;
    let (db, _) = crate::key_db!(ctx, &key);
    let e = db.entry(slot);
    match field {
        Some(f) => match e.value() {
            ValueRef::Obj(Object::Hash(hash)) => match hash.field_expire(f)? {
                // A field past its deadline is gone, even before the hash is purged.
                Some(when) if when <= now => None,
                _ => hash.get(f).map(<[u8]>::to_vec),
            },
            _ => None,
        },
        None => str_value(e).ok().map(|v| v.to_vec()),
    }
}

/// The elements of the source key in `slot`, loaded the way Redis does it. With
/// `dontsort`, lists and sorted sets keep their own order (reversed by DESC) and only the
/// LIMIT range is loaded, so `start`/`end` are rebased to that range; sets come in storage
/// order.
fn load(
    ctx: &mut Ctx,
    key: &[u8],
    slot: usize,
    o: &Options,
    start: &mut i64,
    end: &mut i64,
) -> Vec<Item> {
    let (db, _) = crate::key_db!(ctx, key);
    match db.entry(slot).value() {
        ValueRef::Obj(Object::List(l)) if o.dontsort => {
            let mut v = Vec::new();
            if *end >= *start {
                let n = (*end - *start + 1) as usize;
                let s = *start as usize;
                if o.desc {
                    let it = l.iter_rev_from(l.len() - s - 1);
                    v.extend(it.take(n).map(|e| Item::new(e.to_vec())));
                } else {
                    v.extend(l.iter_from(s).take(n).map(|e| Item::new(e.to_vec())));
                }
                *end -= *start;
                *start = 0;
            }
            v
        }
        ValueRef::Obj(Object::List(l)) => l.iter().map(|e| Item::new(e.to_vec())).collect(),
        ValueRef::Obj(Object::Set(s)) => s.iter().map(|m| Item::new(m.to_vec())).collect(),
        ValueRef::Obj(Object::ZSet(z)) if o.dontsort => {
            let n = (*end - *start + 1).max(0) as usize;
            let s = (*start).max(0) as usize;
            let mut v = Vec::with_capacity(n);
            if n > 0 {
                let (a, b) = if o.desc {
                    (z.len() - s - n, z.len() - s)
                } else {
                    (s, s + n)
                };
                z.range(a, b, o.desc, |m, _| v.push(Item::new(m.to_vec())));
            }
            *end -= *start;
            *start = 0;
            v
        }
        ValueRef::Obj(Object::ZSet(z)) => {
            let mut v = Vec::with_capacity(z.len());
            z.for_each(|m, _| v.push(Item::new(m.to_vec())));
            v
        }
        _ => unreachable!("source type checked by `source`"),
    }
}

/// Looks the source key up (counting a keyspace hit or miss): its slot and length, and
/// whether it is a set; None when missing, WRONGTYPE unless a list, set or sorted set.
fn source(ctx: &mut Ctx, key: &[u8]) -> Result<Option<(usize, usize, bool)>> {
    let Some(slot) = lookup_read(ctx, key) else {
        return Ok(None);
    };
    let (db, _) = crate::key_db!(ctx, key);
    match db.entry(slot).value() {
        ValueRef::Obj(Object::List(l)) => Ok(Some((slot, l.len(), false))),
        ValueRef::Obj(Object::Set(s)) => Ok(Some((slot, s.len(), true))),
        ValueRef::Obj(Object::ZSet(z)) => Ok(Some((slot, z.len(), false))),
        _ => Err(Error::WrongType),
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination], and SORT_RO (the same without STORE).
fn sort_generic<'a>(ctx: &mut Ctx<'a, '_>, readonly: bool) -> Result<()> {
    let key = ctx.arg(1);
    let (server, user, args) = (ctx.server, &ctx.client.user, ctx.args);
    let full_key_access = || {
        let acl = &server.acl;
        acl.unrestricted(user) || {
            let def = server.registry.resolve(args).map(|e| e.def);
            def.is_ok_and(|d| {
                acl.user_of(user).get().unrestricted_key_access(
                    d,
                    args,
                    cinnabar_commands::keyspec_flags::ACCESS,
                )
            })
        }
    };
    let mut o = parse_options(ctx.args, readonly, full_key_access)?;
    let src = source(ctx, key)?;
    let (len, is_set) = src.map_or((0, false), |(_, n, set)| (n, set));

    // A set has no order of its own: when the result is stored (and so replicated), or goes
    // to a script, Redis sorts it byte-wise anyway so that the result is deterministic.
    if o.dontsort && is_set && (o.store.is_some() || ctx.client.in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    // LIMIT, clamped to the source's size as Redis does (which also keeps it from
    // overflowing); an empty range ends with `end < start`.
    let vlen = len as i64;
    let mut start = o.limit_start.clamp(0, vlen);
    let count = o.limit_count.clamp(-1, vlen);
    let mut end = if count < 0 {
        vlen - 1
    } else {
        start + count - 1
    };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    end = end.min(vlen - 1);

    let mut items = match src {
        Some((slot, _, _)) => load(ctx, key, slot, &o, &mut start, &mut end),
        None => Vec::new(),
    };

    if !o.dontsort {
        let mut bad_score = false;
        for it in items.iter_mut() {
            match o.by {
                Some(p) => {
                    // A missing weight leaves the defaults: score 0, or first with ALPHA.
                    let Some(w) = lookup_pattern(ctx, p, &it.elem) else {
                        continue;
                    };
                    if o.alpha {
                        it.cmp = Some(w);
                    } else {
                        match sort_score(&w) {
                            Some(s) => it.score = s,
                            None => bad_score = true,
                        }
                    }
                }
                None if !o.alpha => match sort_score(&it.elem) {
                    Some(s) => it.score = s,
                    None => bad_score = true,
                },
                None => {}
            }
        }
        if bad_score {
            return Err(Error::msg(SCORE_ERROR));
        }
        let (alpha, by, store) = (o.alpha, o.by.is_some(), o.store.is_some());
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, by, store);
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let range = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[..0]
    };
    match o.store {
        None => reply(ctx, range, &o.gets),
        Some(dst) => store(ctx, dst, range, &o.gets),
    }
    Ok(())
}

/// Replies with the selected elements, or for each of them the values of the GET patterns
/// (nil where a pattern yields nothing).
fn reply(ctx: &mut Ctx, range: &[Item], gets: &[&[u8]]) {
    if gets.is_empty() {
        ctx.out.array(range.len());
        for it in range {
            ctx.out.bulk(&it.elem);
        }
        return;
    }
    ctx.out.array(range.len() * gets.len());
    for it in range {
        for g in gets {
            match lookup_pattern(ctx, g, &it.elem) {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
        }
    }
}

/// STORE: replaces `dst` (value and deadline) with a list of the result, where a GET that
/// yields nothing stores an empty string; an empty result deletes `dst`. Replies with the
/// stored length.
///
/// Effects as Redis's sortCommand: a stored list is set as setKey does it (`new` if the key
/// did not exist, modified), raises `sortstore` and counts one change per element; an empty
/// result deletes `dst` if it is there at all (Redis's dbDelete, which does not look at
/// deadlines): modified, `del`, one change.
fn store<'a>(ctx: &mut Ctx<'a, '_>, dst: &'a [u8], range: &[Item], gets: &[&[u8]]) {
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(range.len() * gets.len().max(1));
    for it in range {
        if gets.is_empty() {
            values.push(it.elem.clone());
        }
        for g in gets {
            values.push(lookup_pattern(ctx, g, &it.elem).unwrap_or_default());
        }
    }
    let lim = super::list::limit(ctx);
    let now = ctx.now;
    let (db, h) = crate::key_db!(ctx, dst);
    if values.is_empty() {
        if let Some(slot) = db.find_raw(h, dst) {
            db.remove_slot(slot);
            ctx.wrote(GENERIC, "del", dst);
        }
    } else {
        let list = List::from_elems(values.iter().map(Vec::as_slice), lim);
        let existed = db.lookup(h, dst, now).is_some();
        db.put(
            h,
            Entry::new(
                dst,
                NewValue::Obj(Box::new(Object::List(list))),
                None,
                db.fresh_clock(now),
            ),
        );
        if !existed {
            ctx.added(dst);
        }
        ctx.modified(dst);
        ctx.event(LIST, "sortstore", dst);
        ctx.dirty(values.len() as u64);
    }
    ctx.out.integer(values.len() as i64);
}
