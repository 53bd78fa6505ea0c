//! Stream commands (Redis's t_stream.c): XADD, XTRIM, XDEL, XSETID, XRANGE, XREVRANGE, XLEN,
//! XREAD, XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO.
//!
//! The data structure, its ID rules and its error texts live in
//! [`cinnabar_engine::types::stream`]; this family parses arguments in exactly the order
//! Redis 7.2 does (so the same error wins when several apply, including the errors Redis
//! reports before it even looks the key up), calls the stream under the shard lock, writes
//! replies, and records effects as Redis raises them:
//!
//! - Events are raised per command and sub-operation (`xadd`, `xtrim`, `xdel`, `xsetid`,
//!   `xgroup-*`), and `signalModifiedKey` only where Redis calls it: XADD, XTRIM, XDEL and
//!   XGROUP CREATE ... MKSTREAM. Redis does not signal XGROUP, XSETID, XACK, XCLAIM or
//!   XREADGROUP as modifications, so WATCH does not see them either; XGROUP DESTROY only
//!   makes the key ready for blocked readers.
//! - Propagation keeps the AOF deterministic as Redis does: XADD is propagated with the ID it
//!   generated and an approximate trim as an exact one (`= <length>` / `= <first id>`);
//!   XREADGROUP, XCLAIM and XAUTOCLAIM are never propagated themselves but as one
//!   `XCLAIM ... FORCE JUSTID LASTID` per pending entry they created, moved or dropped, plus
//!   `XGROUP SETID` / `XGROUP CREATECONSUMER` where Redis adds them.
//! - Replay from the AOF is Redis's "must obey" client: LIMIT is ignored there (an
//!   approximate trim was already rewritten as an exact one), and stream times (delivery
//!   times, consumers' seen/active times) come from the real clock rather than the stopped
//!   clock replay uses for key expiry, so `XCLAIM ... TIME t` keeps its delivery time.
//!
//! Files: [`add`] (XADD, XTRIM, XDEL, XSETID), [`read`] (XRANGE, XREVRANGE, XLEN, XREAD,
//! XREADGROUP), [`group`] (XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), [`info`] (XINFO).

use std::sync::atomic::Ordering;

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::types::stream::{NodeLimits, Stream, StreamEntry, StreamId, Value};
use cinnabar_engine::{Db, Entry, NewValue, Object, Result};
use cinnabar_resp::ReplyBuf;

use super::Look;
use crate::dispatch::{Ctx, Registry};

pub mod add;
pub mod group;
pub mod info;
pub mod read;

pub fn register(r: &mut Registry) {
    r.add("xadd", add::xadd);
    r.add("xtrim", add::xtrim);
    r.add("xdel", add::xdel);
    r.add("xsetid", add::xsetid);
    r.add("xrange", read::xrange);
    r.add("xrevrange", read::xrevrange);
    r.add("xlen", read::xlen);
    r.add("xread", read::xread);
    r.add("xreadgroup", read::xreadgroup);
    r.add("xgroup|create", group::create);
    r.add("xgroup|setid", group::setid);
    r.add("xgroup|destroy", group::destroy);
    r.add("xgroup|createconsumer", group::createconsumer);
    r.add("xgroup|delconsumer", group::delconsumer);
    r.add("xgroup|help", group::help);
    r.add("xack", group::xack);
    r.add("xpending", group::xpending);
    r.add("xclaim", group::xclaim);
    r.add("xautoclaim", group::xautoclaim);
    r.add("xinfo|stream", info::stream);
    r.add("xinfo|groups", info::groups);
    r.add("xinfo|consumers", info::consumers);
    r.add("xinfo|help", info::help);
}

pub(crate) fn is_stream(o: &Object) -> bool {
    matches!(o, Object::Stream(_))
}

/// The stream in `slot` (the caller checked the type).
pub(crate) fn stream_mut(db: &mut Db, slot: usize) -> &mut Stream {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::Stream(s)) => s,
        _ => unreachable!("slot checked to hold a stream"),
    }
}

pub(crate) fn stream_ref(db: &Db, slot: usize) -> &Stream {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::Stream(s)) => s,
        _ => unreachable!("slot checked to hold a stream"),
    }
}

/// Looks up a stream key as Redis's lookupKeyRead (`read`: counts a hit or a miss) or
/// lookupKeyWrite; WRONGTYPE for another type.
pub(crate) fn find(ctx: &mut Ctx, key: &[u8], read: bool) -> Result<Option<usize>> {
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    look.find(db, h, key, read, is_stream)
}

/// Creates an empty stream at `key` (missing), returning its slot (Redis's dbAdd of
/// createStreamObject). The caller records the `new` event.
pub(crate) fn create_stream(ctx: &mut Ctx, key: &[u8]) -> usize {
    let now = ctx.now;
    let (db, h) = crate::key_db!(ctx, key);
    db.insert_new(
        h,
        Entry::new(
            key,
            NewValue::Obj(Box::new(Object::Stream(Box::default()))),
            None,
            db.fresh_clock(now),
        ),
    )
}

/// `stream-node-max-bytes` and `stream-node-max-entries`, read per write so CONFIG SET
/// applies to the next command.
pub(crate) fn node_limits(ctx: &Ctx) -> NodeLimits {
    let [bytes, entries] = &ctx.server.config.live.stream_limits;
    NodeLimits {
        max_bytes: bytes.load(Ordering::Relaxed) as usize,
        max_entries: entries.load(Ordering::Relaxed),
    }
}

/// Redis's mustObeyClient: the command is replayed from the AOF (the only commands that run
/// while loading).
pub(crate) fn obeying(ctx: &Ctx) -> bool {
    ctx.server.persist.is_loading()
}

/// The time stream bookkeeping uses (commandTimeSnapshot): the command's time, or the real
/// clock while replaying (replay stops `ctx.now` for key expiry only).
pub(crate) fn clock(ctx: &Ctx) -> i64 {
    if obeying(ctx) {
        crate::server::now_ms()
    } else {
        ctx.now
    }
}

/// `ms-seq` in a stack buffer.
pub(crate) struct IdText {
    buf: [u8; 41],
    len: usize,
}

impl IdText {
    pub fn new(id: StreamId) -> IdText {
        let mut buf = [0u8; 41];
        let mut f = itoa::Buffer::new();
        let ms = f.format(id.ms).as_bytes();
        buf[..ms.len()].copy_from_slice(ms);
        let mut len = ms.len();
        buf[len] = b'-';
        len += 1;
        let seq = f.format(id.seq).as_bytes();
        buf[len..len + seq.len()].copy_from_slice(seq);
        len += seq.len();
        IdText { buf, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsRef<[u8]> for IdText {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// An ID as a bulk string (addReplyStreamID).
#[inline]
pub(crate) fn reply_id(out: &mut ReplyBuf, id: StreamId) {
    out.bulk(IdText::new(id).as_bytes());
}

fn reply_value(out: &mut ReplyBuf, v: Value<'_>) {
    match v {
        Value::Bytes(b) => out.bulk(b),
        Value::Int(n) => out.bulk_int(n),
    }
}

/// One entry: `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut ReplyBuf, e: &StreamEntry<'_>) {
    out.array(2);
    reply_id(out, e.id);
    out.array(e.len() * 2);
    for (f, v) in e.fields() {
        reply_value(out, f);
        reply_value(out, v);
    }
}

/// Entries as an array, at most `count` of them (0: all); returns how many.
pub(crate) fn reply_entries<'s>(
    out: &mut ReplyBuf,
    entries: impl Iterator<Item = StreamEntry<'s>>,
    count: usize,
) -> usize {
    let d = out.deferred_array();
    let mut n = 0;
    for e in entries {
        reply_entry(out, &e);
        n += 1;
        if n == count {
            break;
        }
    }
    out.set_deferred_array(d, n);
    n
}
