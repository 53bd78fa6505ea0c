//! String commands (Redis's t_string.c): GET/SET and friends, counters, ranges, LCS.
//!
//! Values that are canonical 64-bit integers are stored as binary integers inside the entry
//! (INCR never parses text); other values are stored as bytes.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::{lcs, num, Entry, Error, NewValue, Object, Result};

use super::{int_arg, is, str_value, StrVal};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, STRING};

pub fn register(r: &mut Registry) {
    r.add("get", get);
    r.add("set", set);
    r.add("setnx", setnx);
    r.add("setex", setex);
    r.add("psetex", psetex);
    r.add("getset", getset);
    r.add("getdel", getdel);
    r.add("getex", getex);
    r.add("mget", mget);
    r.add("mset", mset);
    r.add("msetnx", msetnx);
    r.add("append", append);
    r.add("strlen", strlen);
    r.add("getrange", getrange);
    r.add("substr", getrange);
    r.add("setrange", setrange);
    r.add("incr", incr);
    r.add("decr", decr);
    r.add("incrby", incrby);
    r.add("decrby", decrby);
    r.add("incrbyfloat", incrbyfloat);
    r.add("lcs", lcs_cmd);
}

/// Largest string a command may build (proto-max-bulk-len), as Redis's checkStringLength.
fn check_len(ctx: &Ctx, total: u64) -> Result<()> {
    let max = ctx
        .server
        .config
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    if total > max {
        return Err(Error::StringTooLong);
    }
    Ok(())
}

fn get(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let (now, server, touch) = (ctx.now, ctx.server, !ctx.client.no_touch);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        Some(slot) => {
            db.hits += 1;
            if touch {
                db.touch(slot, now);
            }
            str_value(db.entry(slot))?.reply(ctx.out);
        }
        None => {
            super::read_miss(server, db, key);
            ctx.out.null();
        }
    }
    Ok(())
}

/// The expiry part of SET/GETEX options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireOpt {
    None,
    /// Absolute deadline in ms.
    At(i64),
    KeepTtl,
    Persist,
}

/// Turns an EX/PX/EXAT/PXAT argument into an absolute deadline, with Redis's checks.
pub fn deadline_from(
    arg: &[u8],
    unit_secs: bool,
    relative: bool,
    now: i64,
    cmd: &'static str,
) -> Result<i64> {
    let n = int_arg(arg)?;
    if n <= 0 || (unit_secs && n > i64::MAX / 1000) {
        return Err(Error::InvalidExpireTime(cmd));
    }
    let ms = if unit_secs { n * 1000 } else { n };
    let at = if relative {
        ms.checked_add(now).ok_or(Error::InvalidExpireTime(cmd))?
    } else {
        ms
    };
    Ok(at)
}

struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    expire: ExpireOpt,
    /// The deadline was given as PXAT: the command propagates as given.
    pxat: bool,
}

/// Parses SET/GETEX options from `args[from..]`. `getex` allows PERSIST and forbids NX/XX/GET.
fn parse_set_opts(ctx: &Ctx, from: usize, getex: bool) -> Result<SetOpts> {
    let cmd: &'static str = if getex { "getex" } else { "set" };
    let mut o = SetOpts {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::None,
        pxat: false,
    };
    let mut has_expire = false;
    let mut i = from;
    let args = ctx.args;
    while i < args.len() {
        let a = args[i];
        let next = args.get(i + 1);
        if !getex && is(a, "nx") && !o.xx {
            o.nx = true;
        } else if !getex && is(a, "xx") && !o.nx {
            o.xx = true;
        } else if !getex && is(a, "get") {
            o.get = true;
        } else if !getex && is(a, "keepttl") && !has_expire {
            has_expire = true;
            o.expire = ExpireOpt::KeepTtl;
        } else if getex && is(a, "persist") && !has_expire {
            has_expire = true;
            o.expire = ExpireOpt::Persist;
        } else if !has_expire
            && next.is_some()
            && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
        {
            // Parse after all options are known, as Redis validates the syntax first.
            has_expire = true;
            o.expire = ExpireOpt::At(i as i64); // position, resolved below
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if let ExpireOpt::At(pos) = o.expire {
        let pos = pos as usize;
        let word = args[pos];
        let secs = is(word, "ex") || is(word, "exat");
        let relative = is(word, "ex") || is(word, "px");
        o.pxat = is(word, "pxat");
        o.expire = ExpireOpt::At(deadline_from(args[pos + 1], secs, relative, ctx.now, cmd)?);
    }
    Ok(o)
}

/// SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t | KEEPTTL]
fn set(ctx: &mut Ctx) -> Result<()> {
    let opts = parse_set_opts(ctx, 3, false)?;
    set_generic(ctx, ctx.arg(1), ctx.arg(2), opts)
}

fn set_generic<'a>(
    ctx: &mut Ctx<'a, '_>,
    key: &'a [u8],
    value: &'a [u8],
    opts: SetOpts,
) -> Result<()> {
    let now = ctx.now;
    let (db, h) = crate::key_db!(ctx, key);
    let slot = db.lookup(h, key, now);
    // GET needs the old value to be a string before anything changes.
    let old: Option<Vec<u8>> = match (slot, opts.get) {
        (Some(s), true) => Some(str_value(db.entry(s))?.to_vec()),
        _ => None,
    };
    let exists = slot.is_some();
    if (opts.nx && exists) || (opts.xx && !exists) {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let expire = match opts.expire {
        ExpireOpt::At(t) => Some(t),
        ExpireOpt::KeepTtl => slot.and_then(|s| db.entry(s).expire()),
        _ => None,
    };
    if matches!(expire, Some(t) if t <= now) {
        // A deadline already in the past: the key is gone at once (Redis keeps it, expired,
        // until it is next looked at; nobody can tell the difference).
        if let Some(s) = slot {
            db.remove_slot(s);
        }
    } else if let Some(s) = slot {
        db.overwrite(s, cinnabar_engine::NewValue::string(value), expire, now);
    } else {
        let clock = db.fresh_clock(now);
        db.insert_new(
            h,
            Entry::new(key, cinnabar_engine::NewValue::string(value), expire, clock),
        );
    }
    // Redis's setKey and setGenericCommand: new key, modified, "set", then "expire".
    if !exists {
        ctx.added(key);
    }
    ctx.wrote(STRING, "set", key);
    if let ExpireOpt::At(t) = opts.expire {
        ctx.event(GENERIC, "expire", key);
        // Relative deadlines propagate as the absolute one they gave.
        if !opts.pxat && ctx.fx.propagating() {
            ctx.fx
                .propagate_as(|| argv![b"SET", key, value, b"PXAT", itoa::Buffer::new().format(t)]);
        }
    } else if opts.get && ctx.fx.propagating() && ctx.arg(0).eq_ignore_ascii_case(b"set") {
        // SET ... GET propagates without GET (GETSET: as SET key value).
        let argv = ctx
            .args
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !is(a, "get"))
            .map(|(_, a)| a.to_vec())
            .collect();
        ctx.fx.propagate_as(|| argv);
    } else if opts.get && ctx.fx.propagating() {
        ctx.fx.propagate_as(|| argv![b"SET", key, value]);
    }
    if opts.get {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx) -> Result<()> {
    let (key, value, now) = (ctx.arg(1), ctx.arg(2), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    if db.lookup(h, key, now).is_some() {
        ctx.out.integer(0);
    } else {
        db.put(
            h,
            Entry::new(
                key,
                cinnabar_engine::NewValue::string(value),
                None,
                db.fresh_clock(now),
            ),
        );
        ctx.added(key);
        ctx.wrote(STRING, "set", key);
        ctx.out.integer(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx, secs: bool) -> Result<()> {
    let cmd = if secs { "setex" } else { "psetex" };
    let at = deadline_from(ctx.arg(2), secs, true, ctx.now, cmd)?;
    let opts = SetOpts {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::At(at),
        pxat: false,
    };
    set_generic(ctx, ctx.arg(1), ctx.arg(3), opts)
}

fn setex(ctx: &mut Ctx) -> Result<()> {
    setex_generic(ctx, true)
}

fn psetex(ctx: &mut Ctx) -> Result<()> {
    setex_generic(ctx, false)
}

fn getset(ctx: &mut Ctx) -> Result<()> {
    let opts = SetOpts {
        nx: false,
        xx: false,
        get: true,
        expire: ExpireOpt::None,
        pxat: false,
    };
    set_generic(ctx, ctx.arg(1), ctx.arg(2), opts)
}

fn getdel(ctx: &mut Ctx) -> Result<()> {
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        Some(slot) => {
            str_value(db.entry(slot))?.reply(ctx.out);
            db.remove_slot(slot);
            ctx.wrote(GENERIC, "del", key);
            ctx.fx.propagate_as(|| argv![b"DEL", key]);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// GETEX key [EX|PX|EXAT|PXAT t | PERSIST]
fn getex(ctx: &mut Ctx) -> Result<()> {
    let opts = parse_set_opts(ctx, 2, true)?;
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = db.lookup(h, key, now) else {
        ctx.out.null();
        return Ok(());
    };
    str_value(db.entry(slot))?.reply(ctx.out);
    // Never propagated as given: as DEL, PEXPIREAT or PERSIST.
    match opts.expire {
        ExpireOpt::At(t) if t <= now => {
            db.remove_slot(slot);
            ctx.wrote(GENERIC, "del", key);
            ctx.fx.propagate_as(|| argv![b"DEL", key]);
        }
        ExpireOpt::At(t) => {
            db.set_expire(slot, Some(t));
            ctx.wrote(GENERIC, "expire", key);
            ctx.fx
                .propagate_as(|| argv![b"PEXPIREAT", key, itoa::Buffer::new().format(t)]);
        }
        ExpireOpt::Persist if db.entry(slot).expire().is_some() => {
            db.set_expire(slot, None);
            ctx.wrote(GENERIC, "persist", key);
            ctx.fx.propagate_as(|| argv![b"PERSIST", key]);
        }
        _ => {}
    }
    Ok(())
}

fn mget(ctx: &mut Ctx) -> Result<()> {
    let (now, server) = (ctx.now, ctx.server);
    let n = ctx.args.len() - 1;
    ctx.out.array(n);
    for i in 1..=n {
        let key = ctx.arg(i);
        let (db, h) = crate::key_db!(ctx, key);
        match db.lookup(h, key, now) {
            Some(slot) => {
                db.hits += 1;
                match str_value(db.entry(slot)) {
                    Ok(v) => v.reply(ctx.out),
                    Err(_) => ctx.out.null(),
                }
            }
            None => {
                super::read_miss(server, db, key);
                ctx.out.null()
            }
        }
    }
    Ok(())
}

fn mset_pairs(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len().is_multiple_of(2) {
        return Err(Error::WrongArity(
            ctx.arg(0)
                .to_ascii_lowercase()
                .iter()
                .map(|&b| b as char)
                .collect(),
        ));
    }
    Ok(())
}

fn mset(ctx: &mut Ctx) -> Result<()> {
    mset_pairs(ctx)?;
    set_pairs(ctx);
    ctx.out.ok();
    Ok(())
}

/// Sets every key-value pair of MSET / MSETNX, with Redis's effects per key.
fn set_pairs(ctx: &mut Ctx) {
    let now = ctx.now;
    for i in (1..ctx.args.len()).step_by(2) {
        let (key, value) = (ctx.arg(i), ctx.arg(i + 1));
        let (db, h) = crate::key_db!(ctx, key);
        let old = db.put(
            h,
            Entry::new(
                key,
                cinnabar_engine::NewValue::string(value),
                None,
                db.fresh_clock(now),
            ),
        );
        if old.is_none() {
            ctx.added(key);
        }
        ctx.wrote(STRING, "set", key);
    }
}

fn msetnx(ctx: &mut Ctx) -> Result<()> {
    mset_pairs(ctx)?;
    let now = ctx.now;
    for i in (1..ctx.args.len()).step_by(2) {
        let key = ctx.arg(i);
        let (db, h) = crate::key_db!(ctx, key);
        if db.lookup(h, key, now).is_some() {
            ctx.out.integer(0);
            return Ok(());
        }
    }
    set_pairs(ctx);
    ctx.out.integer(1);
    Ok(())
}

/// Makes the entry's value a growable `Object::Str` (for in-place edits) and returns it.
pub(crate) fn raw_string(e: &mut Entry) -> Result<&mut Vec<u8>> {
    let owned = match e.value() {
        ValueRef::Str(b) => Some(b.to_vec()),
        ValueRef::Int(n) => Some(itoa::Buffer::new().format(n).as_bytes().to_vec()),
        ValueRef::Obj(Object::Str(_)) => None,
        #[allow(unreachable_patterns)]
        ValueRef::Obj(_) => return Err(Error::WrongType),
    };
    if let Some(v) = owned {
        e.set_value(NewValue::Obj(Box::new(Object::Str(v))));
    }
    match e.obj_mut() {
        Some(Object::Str(v)) => Ok(v),
        #[allow(unreachable_patterns)]
        _ => Err(Error::WrongType),
    }
}

fn append(ctx: &mut Ctx) -> Result<()> {
    let (key, value, now) = (ctx.arg(1), ctx.arg(2), ctx.now);
    let max = ctx
        .server
        .config
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        None => {
            db.put(
                h,
                Entry::new(key, NewValue::Str(value), None, db.fresh_clock(now)),
            );
            ctx.added(key);
            ctx.out.integer(value.len() as i64);
        }
        Some(slot) => {
            let cur = str_value(db.entry(slot))?.len();
            if (cur + value.len()) as u64 > max {
                return Err(Error::StringTooLong);
            }
            let v = raw_string(db.entry_mut(slot))?;
            v.extend_from_slice(value);
            ctx.out.integer(v.len() as i64);
        }
    }
    ctx.wrote(STRING, "append", key);
    Ok(())
}

fn strlen(ctx: &mut Ctx) -> Result<()> {
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let n = match db.lookup(h, key, now) {
        Some(slot) => str_value(db.entry(slot))?.len(),
        None => 0,
    };
    ctx.out.integer(n as i64);
    Ok(())
}

/// GETRANGE key start end: inclusive, negative offsets from the end, clamped as Redis.
fn getrange(ctx: &mut Ctx) -> Result<()> {
    let mut start = int_arg(ctx.arg(2))?;
    let mut end = int_arg(ctx.arg(3))?;
    let (key, now) = (ctx.arg(1), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = db.lookup(h, key, now) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let v = str_value(db.entry(slot))?;
    let mut scratch = itoa::Buffer::new();
    let s = v.bytes(&mut scratch);
    let len = s.len() as i64;
    // Redis: both negative and start > end is empty; then clamp.
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx) -> Result<()> {
    let offset = int_arg(ctx.arg(2))?;
    if offset < 0 {
        return Err(Error::msg("ERR offset is out of range"));
    }
    let (key, value, now) = (ctx.arg(1), ctx.arg(3), ctx.now);
    let offset = offset as usize;
    let (db, h) = crate::key_db!(ctx, key);
    let slot = db.lookup(h, key, now);
    let cur_len = match slot {
        Some(s) => str_value(db.entry(s))?.len(),
        None => 0,
    };
    if value.is_empty() {
        // Nothing to write: report the current length without creating the key.
        ctx.out.integer(cur_len as i64);
        return Ok(());
    }
    check_len(ctx, (offset + value.len()) as u64)?;
    let (db, h) = crate::key_db!(ctx, key);
    let slot = match slot {
        Some(s) => s,
        None => {
            db.put(
                h,
                Entry::new(
                    key,
                    NewValue::Obj(Box::new(Object::Str(Vec::new()))),
                    None,
                    db.fresh_clock(now),
                ),
            );
            let s = db.lookup(h, key, now).expect("just inserted");
            ctx.fx.added(ctx.client.db, key);
            s
        }
    };
    let v = raw_string(db.entry_mut(slot))?;
    if v.len() < offset + value.len() {
        v.resize(offset + value.len(), 0);
    }
    v[offset..offset + value.len()].copy_from_slice(value);
    ctx.out.integer(v.len() as i64);
    ctx.wrote(STRING, "setrange", key);
    Ok(())
}

/// INCR/DECR/INCRBY/DECRBY: integers stay binary; text that is an integer is converted.
fn incr_generic(ctx: &mut Ctx, by: i64) -> Result<()> {
    let (key, now, touch) = (ctx.arg(1), ctx.now, !ctx.client.no_touch);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        None => {
            db.put(
                h,
                Entry::new(key, NewValue::Int(by), None, db.fresh_clock(now)),
            );
            ctx.added(key);
            ctx.out.integer(by);
        }
        Some(slot) => {
            let e = db.entry_mut(slot);
            let cur = match str_value(e)? {
                StrVal::Int(n) => n,
                StrVal::Bytes(b) => num::parse_i64(b).ok_or(Error::NotInteger)?,
            };
            let new = cur.checked_add(by).ok_or(Error::Overflow)?;
            e.set_value(NewValue::Int(new));
            if touch {
                db.touch(slot, now);
            }
            ctx.out.integer(new);
        }
    }
    ctx.wrote(STRING, "incrby", key);
    Ok(())
}

fn incr(ctx: &mut Ctx) -> Result<()> {
    incr_generic(ctx, 1)
}

fn decr(ctx: &mut Ctx) -> Result<()> {
    incr_generic(ctx, -1)
}

fn incrby(ctx: &mut Ctx) -> Result<()> {
    let by = int_arg(ctx.arg(2))?;
    incr_generic(ctx, by)
}

fn decrby(ctx: &mut Ctx) -> Result<()> {
    let by = int_arg(ctx.arg(2))?;
    if by == i64::MIN {
        return Err(Error::msg("ERR decrement would overflow"));
    }
    incr_generic(ctx, -by)
}

/// INCRBYFLOAT key increment: computed in 80-bit extended precision and formatted exactly as
/// Redis does (see `num::incrbyfloat`), stored as text. Checks in Redis's order: type, stored
/// value, increment.
fn incrbyfloat(ctx: &mut Ctx) -> Result<()> {
    let (key, incr, now) = (ctx.arg(1), ctx.arg(2), ctx.now);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = db.lookup(h, key, now);
    let text = {
        let mut scratch = itoa::Buffer::new();
        let cur = match slot {
            Some(s) => Some(str_value(db.entry(s))?),
            None => None,
        };
        let cur_bytes = cur.as_ref().map(|v| v.bytes(&mut scratch));
        num::incrbyfloat(cur_bytes, incr).map_err(|e| Error::msg(e.to_string()))?
    };
    match slot {
        Some(s) => db.entry_mut(s).set_value(NewValue::Str(&text)),
        None => {
            db.put(
                h,
                Entry::new(key, NewValue::Str(&text), None, db.fresh_clock(now)),
            );
            ctx.added(key);
        }
    }
    ctx.out.bulk(&text);
    ctx.wrote(STRING, "incrbyfloat", key);
    // Replayed as the value it produced: float formatting must not differ on replay.
    ctx.fx
        .propagate_as(|| argv![b"SET", key, &text, b"KEEPTTL"]);
    Ok(())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]
fn lcs_cmd(ctx: &mut Ctx) -> Result<()> {
    let (mut want_len, mut want_idx, mut with_match_len, mut min_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < ctx.args.len() {
        let a = ctx.arg(i);
        if is(a, "idx") {
            want_idx = true;
        } else if is(a, "len") {
            want_len = true;
        } else if is(a, "withmatchlen") {
            with_match_len = true;
        } else if is(a, "minmatchlen") && i + 1 < ctx.args.len() {
            min_len = int_arg(ctx.arg(i + 1))?.max(0);
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(Error::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let now = ctx.now;
    let load = |ctx: &mut Ctx, key: &[u8]| -> Result<Vec<u8>> {
        let (db, h) = crate::key_db!(ctx, key);
        Ok(match db.lookup(h, key, now) {
            Some(s) => str_value(db.entry(s))
                .map_err(|_| Error::msg("ERR The specified keys must contain string values"))?
                .to_vec(),
            None => Vec::new(),
        })
    };
    let a = load(ctx, ctx.arg(1))?;
    let b = load(ctx, ctx.arg(2))?;
    let max = ctx
        .server
        .config
        .live
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    let res = lcs::lcs_with_limit(
        &a,
        &b,
        !want_len && !want_idx,
        want_idx,
        min_len as usize,
        max,
    )
    .map_err(|e| Error::msg(e.to_string()))?;
    let out = &mut *ctx.out;
    if want_idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(res.matches.len());
        for m in &res.matches {
            out.array(if with_match_len { 3 } else { 2 });
            out.array(2);
            out.integer(m.a.0 as i64);
            out.integer(m.a.1 as i64);
            out.array(2);
            out.integer(m.b.0 as i64);
            out.integer(m.b.1 as i64);
            if with_match_len {
                out.integer(m.len as i64);
            }
        }
        out.bulk(b"len");
        out.integer(res.len as i64);
    } else if want_len {
        out.integer(res.len as i64);
    } else {
        out.bulk(&res.string);
    }
    Ok(())
}
