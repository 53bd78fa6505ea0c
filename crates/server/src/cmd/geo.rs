//! Geospatial commands (Redis's geo.c): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms.
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit geohashes; the math (scores,
//! cells, distances, membership tests, reply formats) lives in `cinnabar_engine::geo`, and
//! the set is the engine's `ZSet`, used directly so that this file does not depend on the
//! sorted-set command family. What is here is Redis's argument handling (every error in
//! the order geo.c raises it), the scan of the score ranges the engine asks for, and the
//! effects:
//!
//! - GEOADD is Redis's ZADD on the computed scores: `new` for a created key, then signal and
//!   `zadd` when a member was added or moved, `dirty` = added + updated, and it propagates
//!   as the ZADD it became (Redis rewrites the command vector before calling zaddCommand),
//!   so replicas and the AOF never redo the geohash arithmetic;
//! - the STORE forms (GEORADIUS* STORE/STOREDIST, GEOSEARCHSTORE) replace the destination
//!   as setKey does (`new` if created, signal, deadline dropped), raise `georadiusstore` or
//!   `geosearchstore` and count one change per stored member; an empty result deletes the
//!   destination (`del`, one change) and a missing source does the same. They propagate as
//!   given: the search is deterministic over the same data.
//!
//! Results are sorted with a stable sort. Redis uses qsort for a full sort (glibc's is a
//! merge sort, also stable) but its own partial quicksort when COUNT cuts the list, so
//! among members at exactly the same distance across the COUNT boundary, which one is kept
//! may differ from Redis.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::geo::{self, Found, Shape};
use cinnabar_engine::types::zset::{Limits, ScoreRange, ZSet};
use cinnabar_engine::{num, Db, Entry, Error, NewValue, Object, Result};

use super::{float_arg, int_arg, is, Look};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::key_db;
use crate::notify::{GENERIC, ZSET};

pub fn register(r: &mut Registry) {
    r.add("geoadd", geoadd);
    r.add("geodist", geodist);
    r.add("geohash", geohash);
    r.add("geopos", geopos);
    r.add("georadius", georadius);
    r.add("georadius_ro", georadius_ro);
    r.add("georadiusbymember", georadiusbymember);
    r.add("georadiusbymember_ro", georadiusbymember_ro);
    r.add("geosearch", geosearch);
    r.add("geosearchstore", geosearchstore);
}

fn is_zset(o: &Object) -> bool {
    matches!(o, Object::ZSet(_))
}

/// The sorted set in `slot` (found with `is_zset`).
fn zset(db: &Db, slot: usize) -> &ZSet {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::ZSet(z)) => z,
        _ => unreachable!("slot holds a sorted set"),
    }
}

fn zset_mut(db: &mut Db, slot: usize) -> &mut ZSet {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::ZSet(z)) => z,
        _ => unreachable!("slot holds a sorted set"),
    }
}

/// The sorted-set encoding thresholds from the live configuration.
fn zset_limits(ctx: &Ctx) -> Limits {
    let [entries, value] = &ctx.server.config.live.zset_limits;
    let get = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    Limits {
        max_entries: get(entries) as usize,
        max_value: get(value) as usize,
    }
}

/// A longitude/latitude pair of arguments (Redis's extractLongLatOrReply): both parsed as
/// doubles, then checked against the geohash limits.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64)> {
    let lon = float_arg(lon)?;
    let lat = float_arg(lat)?;
    geo::check_lonlat(lon, lat)?;
    Ok((lon, lat))
}

/// A double argument with Redis's custom error text (getDoubleFromObjectOrReply with a
/// message).
fn double_or(arg: &[u8], msg: &'static str) -> Result<f64> {
    num::parse_f64(arg).ok_or(Error::msg(msg))
}

/// `radius unit` (extractDistanceOrReply): the radius in the unit, and the unit's size in
/// metres.
fn radius_arg(radius: &[u8], unit: &[u8]) -> Result<(f64, f64)> {
    let r = double_or(radius, geo::ERR_NEED_NUMERIC_RADIUS)?;
    if r < 0.0 {
        return Err(Error::msg(geo::ERR_NEGATIVE_RADIUS));
    }
    Ok((r, geo::parse_unit(unit)?))
}

/// `width height unit` (extractBoxOrReply).
fn box_arg(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64)> {
    let w = double_or(width, geo::ERR_NEED_NUMERIC_WIDTH)?;
    let h = double_or(height, geo::ERR_NEED_NUMERIC_HEIGHT)?;
    if h < 0.0 || w < 0.0 {
        return Err(Error::msg(geo::ERR_NEGATIVE_BOX));
    }
    Ok((w, h, geo::parse_unit(unit)?))
}

/// A coordinate as addReplyHumanLongDouble sends it: a bulk string in RESP2, a double in
/// RESP3, with the `%.17Lf` text trimmed of trailing zeros.
fn reply_coord(ctx: &mut Ctx, c: f64) {
    ctx.out.double_text(geo::format_coord(c).as_bytes());
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]
fn geoadd(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut first = 2;
    while first < args.len() {
        let a = args[first];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let rest = args.len() - first;
    // No triplet at all is the ZADD it becomes failing on its missing pairs.
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        return Err(Error::Syntax);
    }
    // Every coordinate is checked before the key is looked at.
    let mut points: Vec<(u64, &[u8])> = Vec::with_capacity(rest / 3);
    for t in args[first..].chunks_exact(3) {
        let (lon, lat) = lon_lat(t[0], t[1])?;
        points.push((geo::score_bits(lon, lat)?, t[2]));
    }

    let key = ctx.arg(1);
    let look = Look::new(ctx);
    let limits = zset_limits(ctx);
    let (db, h) = key_db!(ctx, key);
    let slot = match look.find(db, h, key, false, is_zset)? {
        Some(slot) => {
            zset_mut(db, slot).reserve_hint(points.len(), limits);
            slot
        }
        None if xx => {
            ctx.out.integer(0);
            return Ok(());
        }
        None => {
            let z = ZSet::with_hint(points.len(), points[0].1.len(), limits);
            let slot = db.insert_new(
                h,
                Entry::new(
                    key,
                    NewValue::Obj(Box::new(Object::ZSet(z))),
                    None,
                    db.fresh_clock(look.now),
                ),
            );
            ctx.fx.added(ctx.client.db, key);
            slot
        }
    };
    let z = zset_mut(db, slot);
    if points.len() > 1 {
        let members: Vec<&[u8]> = points.iter().map(|p| p.1).collect();
        z.reserve_members(&members, limits);
    }
    let (mut added, mut updated) = (0u64, 0u64);
    for &(bits, member) in &points {
        // ZADD parses the decimal text of the bits: the nearest double.
        let score = bits as f64;
        match z.score(member) {
            Some(_) if nx => {}
            Some(cur) => {
                if cur != score {
                    z.insert(member, score, limits);
                    updated += 1;
                }
            }
            None if xx => {}
            None => {
                z.insert(member, score, limits);
                added += 1;
            }
        }
    }
    if points.len() > 1 {
        z.fit();
    }
    ctx.out
        .integer((if ch { added + updated } else { added }) as i64);
    if added + updated > 0 {
        ctx.dirty(added + updated);
        ctx.modified(key);
        ctx.event(ZSET, "zadd", key);
        if ctx.fx.propagating() {
            let mut zadd = argv![b"zadd"];
            zadd.extend(args[1..first].iter().map(|a| a.to_vec()));
            let mut digits = itoa::Buffer::new();
            for &(bits, member) in &points {
                zadd.push(digits.format(bits).as_bytes().to_vec());
                zadd.push(member.to_vec());
            }
            ctx.fx.propagate_as(|| zadd);
        }
    }
    Ok(())
}

/// The score of `member` in the sorted set `key` found in `slot`.
fn member_score(ctx: &mut Ctx, key: &[u8], slot: usize, member: &[u8]) -> Option<f64> {
    let (db, _) = key_db!(ctx, key);
    zset(db, slot).score(member)
}

/// Looks up the geo set of a read command (lookupKeyRead: a hit or a miss is counted).
fn find_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<usize>> {
    let look = Look::new(ctx);
    let (db, h) = key_db!(ctx, key);
    look.find(db, h, key, true, is_zset)
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut Ctx) -> Result<()> {
    let to_meters = match ctx.args.len() {
        5 => geo::parse_unit(ctx.arg(4))?,
        n if n > 5 => return Err(Error::Syntax),
        _ => 1.0,
    };
    let key = ctx.arg(1);
    let Some(slot) = find_read(ctx, key)? else {
        ctx.out.null();
        return Ok(());
    };
    let (db, _) = key_db!(ctx, key);
    let z = zset(db, slot);
    match (z.score(ctx.args[2]), z.score(ctx.args[3])) {
        (Some(a), Some(b)) => {
            let d = geo::distance_between_scores(a, b, to_meters);
            ctx.out.bulk(geo::format_distance(d).as_bytes());
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

/// GEOHASH key [member ...]
fn geohash(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let slot = find_read(ctx, key)?;
    let (db, _) = key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - 2);
    for &member in &ctx.args[2..] {
        match slot.and_then(|s| zset(db, s).score(member)) {
            Some(score) => ctx.out.bulk(&geo::geohash_string(score)),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let slot = find_read(ctx, key)?;
    let (db, _) = key_db!(ctx, key);
    ctx.out.array(ctx.args.len() - 2);
    for &member in &ctx.args[2..] {
        match slot.and_then(|s| zset(db, s).score(member)) {
            Some(score) => {
                let (lon, lat) = geo::decode_score(score);
                ctx.out.array(2);
                ctx.out.double_text(geo::format_coord(lon).as_bytes());
                ctx.out.double_text(geo::format_coord(lat).as_bytes());
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

/// Where a search takes its centre and size from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Center {
    /// GEORADIUS[_RO]: centre and radius are positional.
    Coords,
    /// GEORADIUSBYMEMBER[_RO]: member and radius are positional.
    Member,
    /// GEOSEARCH / GEOSEARCHSTORE: FROMMEMBER/FROMLONLAT and BYRADIUS/BYBOX options.
    Options,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn georadius(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Coords, false, false)
}

fn georadius_ro(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Coords, true, false)
}

fn georadiusbymember(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Member, false, false)
}

fn georadiusbymember_ro(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Member, true, false)
}

fn geosearch(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Options, true, false)
}

fn geosearchstore(ctx: &mut Ctx) -> Result<()> {
    search_generic(ctx, Center::Options, true, true)
}

/// Redis's georadiusGeneric. `nostore`: STORE/STOREDIST options are refused (the _RO forms,
/// and GEOSEARCH, whose only store form is GEOSEARCHSTORE); `searchstore`: GEOSEARCHSTORE.
fn search_generic(ctx: &mut Ctx, from: Center, nostore: bool, searchstore: bool) -> Result<()> {
    let args = ctx.args;
    let src_idx = if searchstore { 2 } else { 1 };
    let src = ctx.arg(src_idx);
    let search = from == Center::Options;
    let zslot = find_read(ctx, src)?;

    let mut center = (0.0, 0.0);
    // (radius) or (width, height), in the unit; and the unit's size in metres.
    let mut radius: Option<f64> = None;
    let mut rect: Option<(f64, f64)> = None;
    let mut conversion = 1.0;
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let base = match from {
        Center::Coords => {
            center = lon_lat(args[2], args[3])?;
            let (r, c) = radius_arg(args[4], args[5])?;
            (radius, conversion) = (Some(r), c);
            6
        }
        Center::Member => {
            // Without a source the member and radius are not looked at, but the options
            // are still parsed, so that the reply matches STORE or not.
            if let Some(slot) = zslot {
                let score =
                    member_score(ctx, src, slot, args[2]).ok_or(Error::msg(geo::ERR_MEMBER))?;
                center = geo::decode_score(score);
                let (r, c) = radius_arg(args[3], args[4])?;
                (radius, conversion) = (Some(r), c);
            }
            5
        }
        Center::Options if searchstore => {
            storekey = Some(args[1]);
            3
        }
        Center::Options => 2,
    };

    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut i = base;
    while i < args.len() {
        let a = args[i];
        // How many arguments follow this one.
        let after = args.len() - i - 1;
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && after >= 1 {
            count = int_arg(args[i + 1])?;
            if count <= 0 {
                return Err(Error::msg(geo::ERR_COUNT));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && after >= 1 && !nostore && !search {
            storekey = Some(args[i + 1]);
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && searchstore {
            storedist = true;
        } else if is(a, "frommember") && after >= 1 && search && !fromloc {
            // Without a source the member cannot be looked up: parsing goes on, and the
            // missing key decides the reply.
            if let Some(slot) = zslot {
                let score =
                    member_score(ctx, src, slot, args[i + 1]).ok_or(Error::msg(geo::ERR_MEMBER))?;
                center = geo::decode_score(score);
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && after >= 2 && search && !frommember {
            center = lon_lat(args[i + 1], args[i + 2])?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && after >= 2 && search && !bybox {
            let (r, c) = radius_arg(args[i + 1], args[i + 2])?;
            (radius, conversion) = (Some(r), c);
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && after >= 3 && search && !byradius {
            let (w, h, c) = box_arg(args[i + 1], args[i + 2], args[i + 3])?;
            (rect, conversion) = (Some((w, h)), c);
            bybox = true;
            i += 3;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoord) {
        return Err(Error::msg(geo::err_store_with_options(searchstore)));
    }
    if search && !(frommember || fromloc) {
        return Err(Error::msg(geo::err_from_missing(&super::lossy(args[0]))));
    }
    if search && !(byradius || bybox) {
        return Err(Error::msg(geo::err_by_missing(&super::lossy(args[0]))));
    }
    if any && count == 0 {
        return Err(Error::msg(geo::ERR_ANY_WITHOUT_COUNT));
    }

    let Some(slot) = zslot else {
        match storekey {
            Some(dst) => {
                delete_dest(ctx, dst);
                ctx.out.integer(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(());
    };

    // COUNT without ANY returns the nearest ones: sorted ascending unless told otherwise.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = match (radius, rect) {
        (_, Some((w, h))) => Shape::rect(center.0, center.1, w, h, conversion),
        (r, None) => Shape::radius(center.0, center.1, r.unwrap_or(0.0), conversion),
    };
    let any_limit = if any {
        usize::try_from(count).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut found = {
        let (db, _) = key_db!(ctx, src);
        scan(zset(db, slot), &shape, any_limit)
    };

    if found.is_empty() && storekey.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    let returned = match usize::try_from(count) {
        Ok(c) if c != 0 && c < found.len() => c,
        _ => found.len(),
    };
    if sort != Sort::None {
        geo::sort_found(&mut found, sort == Sort::Desc);
    }
    found.truncate(returned);

    match storekey {
        None => reply_found(ctx, &found, conversion, withdist, withhash, withcoord),
        Some(dst) => {
            let n = store_found(ctx, dst, found, conversion, storedist, search);
            ctx.out.integer(n as i64);
        }
    }
    Ok(())
}

/// Scans the sorted set over the score ranges of `shape`, in Redis's order.
fn scan(z: &ZSet, shape: &Shape, any_limit: usize) -> Vec<Found> {
    shape.search(any_limit, |range, visit| {
        let r = ScoreRange {
            min: range.min,
            minex: false,
            max: range.max,
            maxex: true,
        };
        let (start, end) = z.score_ranks(&r);
        let mut more = true;
        z.range(start, end, false, |member, score| {
            if more {
                more = visit(member, score);
            }
        });
    })
}

/// The reply of a search without STORE: members, each with its distance, hash and
/// coordinates when asked (in that order).
fn reply_found(
    ctx: &mut Ctx,
    found: &[Found],
    conversion: f64,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
) {
    let extra = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
    ctx.out.array(found.len());
    for f in found {
        if extra > 0 {
            ctx.out.array(extra + 1);
        }
        ctx.out.bulk(&f.member);
        if withdist {
            ctx.out
                .bulk(geo::format_distance(f.dist / conversion).as_bytes());
        }
        if withhash {
            ctx.out.integer(geo::c_double_to_i64(f.score));
        }
        if withcoord {
            ctx.out.array(2);
            reply_coord(ctx, f.lon);
            reply_coord(ctx, f.lat);
        }
    }
}

/// Stores a search's results in `dst` (scores: the geohashes, or the distances in the unit
/// with STOREDIST) as setKey does, or deletes `dst` when there are none. Returns how many
/// members were stored.
fn store_found<'a>(
    ctx: &mut Ctx<'a, '_>,
    dst: &'a [u8],
    found: Vec<Found>,
    conversion: f64,
    storedist: bool,
    search: bool,
) -> usize {
    if found.is_empty() {
        delete_dest(ctx, dst);
        return 0;
    }
    // A member can be found twice when two scanned cells coincide (huge radii); Redis would
    // stop on an assertion there, a set keeps it once.
    let mut seen = std::collections::HashSet::with_capacity(found.len());
    let items: Vec<(Vec<u8>, f64)> = found
        .into_iter()
        .filter(|f| seen.insert(f.member.clone()))
        .map(|f| {
            let score = if storedist {
                f.dist / conversion
            } else {
                f.score
            };
            (f.member, score)
        })
        .collect();
    let n = items.len();
    let z = ZSet::from_members(items, zset_limits(ctx));
    let now = ctx.now;
    let (db, h) = key_db!(ctx, dst);
    let existed = db.lookup(h, dst, now).is_some();
    db.put(
        h,
        Entry::new(
            dst,
            NewValue::Obj(Box::new(Object::ZSet(z))),
            None,
            db.fresh_clock(now),
        ),
    );
    if !existed {
        ctx.added(dst);
    }
    ctx.modified(dst);
    let event = if search {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    ctx.event(ZSET, event, dst);
    ctx.dirty(n as u64);
    n
}

/// Deletes the destination of a search that stored nothing (Redis's dbDelete): signal,
/// `del` and one change if it existed.
fn delete_dest<'a>(ctx: &mut Ctx<'a, '_>, dst: &'a [u8]) {
    let now = ctx.now;
    let (db, h) = key_db!(ctx, dst);
    if let Some(slot) = db.lookup(h, dst, now) {
        db.remove_slot(slot);
        ctx.wrote(GENERIC, "del", dst);
    }
}
