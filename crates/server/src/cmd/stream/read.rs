//! XRANGE, XREVRANGE, XLEN, XREAD and XREADGROUP.
//!
//! XREAD and XREADGROUP are one command in Redis (xreadCommand) and here: options, then one
//! pass over the streams that checks each key's type, its group and its ID (so errors come
//! in the order the streams are named), then one pass that serves them. XREADGROUP changes
//! group state (delivery cursor, PELs, consumers) but is never propagated itself: each
//! delivery becomes an `XCLAIM ... FORCE JUSTID LASTID <id>` (streamPropagateXCLAIM), and
//! with NOACK, where there is no PEL entry to carry the cursor, `XGROUP SETID ... ENTRIESREAD`
//! and `XGROUP CREATECONSUMER` instead.
//!
//! When nothing can be served and BLOCK was given, the client blocks (see `crate::blocking`):
//! `$` becomes the stream's current last ID first, so that being woken re-runs the same
//! read. Inside MULTI a read never blocks (a null reply, as on timeout); scripts get Redis's
//! error for BLOCK.

use cinnabar_engine::types::stream::id::{
    err_block_in_script, err_nogroup_xreadgroup, err_unbalanced,
};
use cinnabar_engine::types::stream::{StreamError, StreamId};
use cinnabar_engine::{Error, Result};
use cinnabar_resp::Protocol;
use smallvec::SmallVec;

use super::{clock, find, reply_entries, reply_entry, reply_id, stream_mut, stream_ref, IdText};
use crate::argv;
use crate::blocking::Kind;
use crate::cmd::{int_arg, is};
use crate::dispatch::Ctx;
use crate::notify::STREAM;

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx) -> Result<()> {
    range_generic(ctx, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx) -> Result<()> {
    range_generic(ctx, true)
}

fn range_generic(ctx: &mut Ctx, rev: bool) -> Result<()> {
    let (start_arg, end_arg) = if rev {
        (ctx.arg(3), ctx.arg(2))
    } else {
        (ctx.arg(2), ctx.arg(3))
    };
    let start = StreamId::parse_interval_start(start_arg)?;
    let end = StreamId::parse_interval_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < ctx.args.len() {
        if is(ctx.arg(j), "count") && j + 1 < ctx.args.len() {
            count = int_arg(ctx.arg(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.arg(1);
    let Some(slot) = find(ctx, key, true)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let count = if count < 0 { 0 } else { count as usize };
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    if rev {
        reply_entries(ctx.out, s.rev_range(start, end), count);
    } else {
        reply_entries(ctx.out, s.range(start, end), count);
    }
    Ok(())
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let n = match find(ctx, key, true)? {
        Some(slot) => {
            let (db, _) = crate::key_db!(ctx, key);
            stream_ref(db, slot).len() as i64
        }
        None => 0,
    };
    ctx.out.integer(n);
    Ok(())
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx) -> Result<()> {
    read_generic(ctx, false)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx) -> Result<()> {
    read_generic(ctx, true)
}

/// The `>` ID (Redis marks it as the largest ID, so an explicit largest ID means `>` too).
const NEW: StreamId = StreamId::MAX;

/// XREAD/XREADGROUP's parsed options.
pub(crate) struct ReadArgs<'a> {
    /// BLOCK: the deadline in ms (0: forever), `None` without BLOCK.
    pub block: Option<i64>,
    pub count: usize,
    pub noack: bool,
    pub group: Option<(&'a [u8], &'a [u8])>,
    /// Index of the first key.
    pub streams_at: usize,
    pub nkeys: usize,
}

/// The option loop of xreadCommand.
pub(crate) fn parse_read<'a>(ctx: &Ctx<'a, '_>, xreadgroup: bool) -> Result<ReadArgs<'a>> {
    let args = ctx.args;
    let argc = args.len();
    let mut r = ReadArgs {
        block: None,
        count: 0,
        noack: false,
        group: None,
        streams_at: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < argc {
        let more = argc - 1 - i;
        let o = args[i];
        if is(o, "block") && more > 0 {
            if ctx.client.in_script {
                return Err(err_block_in_script(args[0]));
            }
            i += 1;
            r.block = Some(block_timeout(args[i], ctx.now)?);
        } else if is(o, "count") && more > 0 {
            i += 1;
            r.count = int_arg(args[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = argc - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(err_unbalanced(xreadgroup));
            }
            r.nkeys = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(StreamError::GroupInXread.into());
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if is(o, "noack") {
            if !xreadgroup {
                return Err(StreamError::NoackInXread.into());
            }
            r.noack = true;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(Error::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(StreamError::MissingGroup.into());
    }
    Ok(r)
}

/// getTimeoutFromObjectOrReply in milliseconds: the absolute deadline, 0 for none.
fn block_timeout(arg: &[u8], now: i64) -> Result<i64> {
    let ms = cinnabar_engine::num::parse_i64(arg)
        .ok_or_else(|| Error::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    if ms == 0 {
        return Ok(0);
    }
    ms.checked_add(now)
        .ok_or_else(|| Error::msg("ERR timeout is out of range"))
}

/// Keys whose shard the command did not lock: Redis's key extraction for XREAD can disagree
/// with the command's own parsing on pathological input (a consumer named STREAMS before the
/// real keyword). Such a key must not be touched without its lock.
fn check_locked(ctx: &mut Ctx, r: &ReadArgs) -> Result<()> {
    let ks = ctx.data.keyspace();
    for i in 0..r.nkeys {
        let shard = ks.shard_of_key(ctx.arg(r.streams_at + i));
        if !ctx.data.holds(shard) {
            if ctx.client.in_script {
                ctx.data.extend(shard);
            } else {
                return Err(Error::msg("ERR Invalid arguments specified for command"));
            }
        }
    }
    Ok(())
}

fn read_generic(ctx: &mut Ctx, xreadgroup: bool) -> Result<()> {
    let r = parse_read(ctx, xreadgroup)?;
    check_locked(ctx, &r)?;
    // Redis's first pass: type, group and ID of each stream, in order.
    let mut ids: SmallVec<[StreamId; 8]> = SmallVec::with_capacity(r.nkeys);
    for i in 0..r.nkeys {
        let key = ctx.arg(r.streams_at + i);
        let idarg = ctx.arg(r.streams_at + r.nkeys + i);
        let slot = find(ctx, key, true)?;
        if let Some((group, _)) = r.group {
            let exists = slot.is_some_and(|s| {
                let (db, _) = crate::key_db!(ctx, key);
                stream_ref(db, s).group(group).is_some()
            });
            if !exists {
                return Err(err_nogroup_xreadgroup(key, group));
            }
        }
        if idarg == b"$" {
            if xreadgroup {
                return Err(StreamError::DollarInXreadgroup.into());
            }
            ids.push(match slot {
                Some(s) => {
                    let (db, _) = crate::key_db!(ctx, key);
                    stream_ref(db, s).last_id()
                }
                None => StreamId::MIN,
            });
        } else if idarg == b">" {
            if !xreadgroup {
                return Err(StreamError::GreaterInXread.into());
            }
            ids.push(NEW);
        } else {
            ids.push(StreamId::parse_strict(idarg, 0)?);
        }
    }
    let served = match r.group {
        None => serve_plain(ctx, &r, &ids),
        Some((group, consumer)) => serve_group(ctx, &r, &ids, group, consumer),
    };
    // The command itself never propagates: XREADGROUP propagates what it did (above).
    ctx.fx.propagate_nothing();
    if served {
        return Ok(());
    }
    match r.block {
        // Inside MULTI (and for AOF replay) a read cannot block: as a timeout.
        Some(deadline) if !ctx.client.in_exec => block(ctx, &r, &ids, deadline, xreadgroup),
        _ => {
            ctx.out.null_array();
            Ok(())
        }
    }
}

/// Blocks the client on its streams (see `crate::blocking`): the waiter re-runs this read
/// without BLOCK whenever one of its keys is written, with `$` replaced by the last ID the
/// stream had now, so that being woken does not move its starting point.
fn block(
    ctx: &mut Ctx,
    r: &ReadArgs,
    ids: &[StreamId],
    deadline: i64,
    xreadgroup: bool,
) -> Result<()> {
    let args = ctx.args;
    let mut template: Vec<Vec<u8>> = Vec::with_capacity(args.len());
    template.push(args[0].to_vec());
    // The options as parsed, every BLOCK left out.
    let mut i = 1;
    while i < r.streams_at {
        let words = if is(args[i], "block") || is(args[i], "count") {
            2
        } else if is(args[i], "group") {
            3
        } else {
            1
        };
        if !is(args[i], "block") {
            template.extend(args[i..i + words].iter().map(|a| a.to_vec()));
        }
        i += words;
    }
    for (i, a) in args.iter().enumerate().skip(r.streams_at) {
        if i >= r.streams_at + r.nkeys && *a == b"$" {
            template.push(
                IdText::new(ids[i - r.streams_at - r.nkeys])
                    .as_bytes()
                    .to_vec(),
            );
        } else {
            template.push(a.to_vec());
        }
    }
    let keys = ctx.args[r.streams_at..r.streams_at + r.nkeys]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    let on = ctx.server.blocking.block(
        ctx.client,
        ctx.out.proto,
        keys,
        template,
        Kind::Stream { nokey: xreadgroup },
        (deadline != 0).then_some(deadline),
    );
    ctx.client.blocked = Some(on);
    Ok(())
}

/// Starts the reply of a served read: a map of key -> entries (RESP3) or an array of
/// [key, entries] pairs (RESP2); the length is filled in by [`end_reply`].
fn begin_stream(ctx: &mut Ctx, outer: &mut Option<cinnabar_resp::Deferred>, key: &[u8]) {
    if outer.is_none() {
        *outer = Some(if ctx.out.proto == Protocol::Resp2 {
            ctx.out.deferred_array()
        } else {
            ctx.out.deferred_map()
        });
    }
    if ctx.out.proto == Protocol::Resp2 {
        ctx.out.array(2);
    }
    ctx.out.bulk(key);
}

fn end_reply(ctx: &mut Ctx, outer: Option<cinnabar_resp::Deferred>, n: usize) -> bool {
    match outer {
        Some(d) => {
            if ctx.out.proto == Protocol::Resp2 {
                ctx.out.set_deferred_array(d, n);
            } else {
                ctx.out.set_deferred_map(d, n);
            }
            true
        }
        None => false,
    }
}

/// XREAD: every stream with an entry above its ID. Returns whether anything was served.
fn serve_plain(ctx: &mut Ctx, r: &ReadArgs, ids: &[StreamId]) -> bool {
    let mut outer = None;
    let mut n = 0;
    for (i, &gt) in ids.iter().enumerate() {
        let key = ctx.arg(r.streams_at + i);
        // Redis looks every key up again here (a second keyspace hit or miss).
        let Ok(Some(slot)) = find(ctx, key, true) else {
            continue;
        };
        let (db, _) = crate::key_db!(ctx, key);
        let s = stream_ref(db, slot);
        if s.last_entry_id().is_none_or(|top| top <= gt) {
            continue;
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        begin_stream(ctx, &mut outer, key);
        let (db, _) = crate::key_db!(ctx, key);
        let s = stream_ref(db, slot);
        reply_entries(ctx.out, s.range(start, StreamId::MAX), r.count);
        n += 1;
    }
    end_reply(ctx, outer, n)
}

/// XREADGROUP: new entries for `>`, the consumer's own history for an ID. Returns whether
/// anything was served (a history read always is).
fn serve_group<'a>(
    ctx: &mut Ctx<'a, '_>,
    r: &ReadArgs<'a>,
    ids: &[StreamId],
    group: &'a [u8],
    consumer: &'a [u8],
) -> bool {
    let now = clock(ctx);
    let dbi = ctx.client.db;
    let mut outer = None;
    let mut n = 0;
    for (i, &gt) in ids.iter().enumerate() {
        let key = ctx.arg(r.streams_at + i);
        let Ok(Some(slot)) = find(ctx, key, true) else {
            continue;
        };
        let (db, _) = crate::key_db!(ctx, key);
        let s = stream_mut(db, slot);
        if gt != NEW {
            // History: the consumer's own pending entries above the ID.
            let Some(h) = s.read_group_history(group, consumer, gt, r.count, now) else {
                continue;
            };
            if h.consumer_created {
                consumer_created(ctx, key, group, consumer, r.noack);
            }
            begin_stream(ctx, &mut outer, key);
            let (db, _) = crate::key_db!(ctx, key);
            let s = stream_ref(db, slot);
            ctx.out.array(h.ids.len());
            for id in h.ids {
                match s.get(id) {
                    Some(e) => reply_entry(ctx.out, &e),
                    None => {
                        ctx.out.array(2);
                        reply_id(ctx.out, id);
                        ctx.out.null_array();
                    }
                }
            }
            ctx.fx.dirty += 1;
            n += 1;
            continue;
        }
        let Some(got) = s.read_group_new(group, consumer, r.count, r.noack, now) else {
            continue;
        };
        if got.consumer_created {
            consumer_created(ctx, key, group, consumer, r.noack);
        }
        if got.count == 0 {
            continue;
        }
        begin_stream(ctx, &mut outer, key);
        let (db, _) = crate::key_db!(ctx, key);
        let s = stream_ref(db, slot);
        reply_entries(ctx.out, s.range(got.first, got.last), 0);
        ctx.fx.dirty += 1;
        n += 1;
        if ctx.fx.propagating() {
            let (db, _) = crate::key_db!(ctx, key);
            let s = stream_ref(db, slot);
            if r.noack {
                let g = s.group(group).expect("group just read");
                let read = g.entries_read().unwrap_or(-1);
                ctx.fx.also(dbi, || {
                    argv![
                        b"XGROUP",
                        b"SETID",
                        key,
                        group,
                        IdText::new(g.last_id()),
                        b"ENTRIESREAD",
                        itoa::Buffer::new().format(read)
                    ]
                });
            } else {
                let time = itoa::Buffer::new().format(now).to_string();
                let claims: Vec<_> = s
                    .range(got.first, got.last)
                    .map(|e| {
                        let id = IdText::new(e.id);
                        argv![
                            b"XCLAIM",
                            key,
                            group,
                            consumer,
                            b"0",
                            id,
                            b"TIME",
                            time,
                            b"RETRYCOUNT",
                            b"1",
                            b"FORCE",
                            b"JUSTID",
                            b"LASTID",
                            id
                        ]
                    })
                    .collect();
                for c in claims {
                    ctx.fx.also(dbi, || c);
                }
            }
        }
    }
    end_reply(ctx, outer, n)
}

/// XREADGROUP created the consumer (streamCreateConsumer): one change, its event, and with
/// NOACK its propagation (without NOACK the XCLAIMs create it on replay).
fn consumer_created<'a>(
    ctx: &mut Ctx<'a, '_>,
    key: &'a [u8],
    group: &[u8],
    consumer: &[u8],
    noack: bool,
) {
    let dbi = ctx.client.db;
    ctx.fx.dirty += 1;
    ctx.fx.event(STREAM, "xgroup-createconsumer", dbi, key);
    if noack {
        ctx.fx.also(dbi, || {
            argv![b"XGROUP", b"CREATECONSUMER", key, group, consumer]
        });
    }
}
