//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP),
//! XACK, XPENDING, XCLAIM and XAUTOCLAIM.
//!
//! XGROUP's subcommands are separate table entries, but Redis parses them in one function:
//! the options of CREATE/SETID first, then the key, then the group, then the subcommand's own
//! argument count. [`xgroup_prelude`] keeps that order for all of them.
//!
//! XCLAIM and XAUTOCLAIM are propagated as one idempotent
//! `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last` per pending
//! entry they moved (its state after the move) or dropped because its entry was deleted (its
//! state before, under its old owner; replaying it finds no entry and drops the PEL entry
//! too), in the order they happened. The engine reports what was claimed and dropped; the
//! states Redis propagated in between (a repeated ID, a dropped NACK's old owner) are taken
//! from a snapshot before the call, and only while something propagates.

use cinnabar_engine::types::stream::id::{
    err_nogroup_for_key, err_nogroup_key_or_group, err_xclaim_option,
};
use cinnabar_engine::types::stream::{ClaimOpts, Stream, StreamError, StreamId};
use cinnabar_engine::{num, Error, Result};

use super::{clock, create_stream, find, reply_entry, reply_id, stream_mut, stream_ref, IdText};
use crate::argv;
use crate::cmd::{container_help, int_arg, is, unknown_subcommand};
use crate::dispatch::Ctx;
use crate::notify::STREAM;

// ---------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------

/// What every XGROUP subcommand but HELP establishes before it acts.
struct Prelude {
    slot: Option<usize>,
    mkstream: bool,
    entries_read: Option<i64>,
}

/// xgroupCommand up to its dispatch: CREATE/SETID options, the key (WRONGTYPE), the key's
/// existence unless MKSTREAM, and the group for SETID, CREATECONSUMER and DELCONSUMER.
fn xgroup_prelude(ctx: &mut Ctx, needs_group: bool) -> Result<Prelude> {
    let sub = ctx.arg(1);
    let create_sub = is(sub, "create");
    let setid_sub = is(sub, "setid");
    let mut p = Prelude {
        slot: None,
        mkstream: false,
        entries_read: None,
    };
    let argc = ctx.args.len();
    let mut i = 5;
    while i < argc {
        let a = ctx.arg(i);
        if create_sub && is(a, "mkstream") {
            p.mkstream = true;
            i += 1;
        } else if (create_sub || setid_sub) && is(a, "entriesread") && i + 1 < argc {
            let n = int_arg(ctx.arg(i + 1))?;
            if n < 0 && n != -1 {
                return Err(StreamError::BadEntriesRead.into());
            }
            p.entries_read = Some(n);
            i += 2;
        } else {
            return Err(unknown_subcommand(ctx));
        }
    }
    let key = ctx.arg(2);
    p.slot = find(ctx, key, false)?;
    if !p.mkstream {
        let Some(slot) = p.slot else {
            return Err(StreamError::XgroupNoKey.into());
        };
        let group = ctx.arg(3);
        let (db, _) = crate::key_db!(ctx, key);
        if needs_group && stream_ref(db, slot).group(group).is_none() {
            return Err(err_nogroup_for_key(group, key));
        }
    }
    Ok(p)
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]
pub fn create(ctx: &mut Ctx) -> Result<()> {
    let p = xgroup_prelude(ctx, false)?;
    let argc = ctx.args.len();
    if !(5..=8).contains(&argc) {
        return Err(unknown_subcommand(ctx));
    }
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let id = if ctx.arg(4) == b"$" {
        match p.slot {
            Some(slot) => {
                let (db, _) = crate::key_db!(ctx, key);
                stream_ref(db, slot).last_id()
            }
            None => StreamId::MIN,
        }
    } else {
        StreamId::parse_strict(ctx.arg(4), 0)?
    };
    let dbi = ctx.client.db;
    let slot = match p.slot {
        Some(s) => s,
        None => {
            // MKSTREAM, now that the command can no longer fail.
            let s = create_stream(ctx, key);
            ctx.fx.added(dbi, key);
            ctx.fx.modified(dbi, key);
            s
        }
    };
    let (db, _) = crate::key_db!(ctx, key);
    stream_mut(db, slot).create_group(group, id, p.entries_read)?;
    ctx.out.ok();
    ctx.fx.dirty += 1;
    ctx.fx.event(STREAM, "xgroup-create", dbi, key);
    Ok(())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD n]
pub fn setid(ctx: &mut Ctx) -> Result<()> {
    let p = xgroup_prelude(ctx, true)?;
    let argc = ctx.args.len();
    if argc != 5 && argc != 7 {
        return Err(unknown_subcommand(ctx));
    }
    let (key, group, idarg) = (ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let slot = p.slot.expect("checked by the prelude");
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    let id = if idarg == b"$" {
        s.last_id()
    } else {
        StreamId::parse(idarg, 0)?
    };
    s.set_group_id(group, id, p.entries_read);
    ctx.out.ok();
    let dbi = ctx.client.db;
    ctx.fx.dirty += 1;
    ctx.fx.event(STREAM, "xgroup-setid", dbi, key);
    Ok(())
}

/// XGROUP DESTROY key group
pub fn destroy(ctx: &mut Ctx) -> Result<()> {
    let p = xgroup_prelude(ctx, false)?;
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let slot = p.slot.expect("checked by the prelude");
    let (db, _) = crate::key_db!(ctx, key);
    if !stream_mut(db, slot).destroy_group(group) {
        ctx.out.integer(0);
        return Ok(());
    }
    ctx.out.integer(1);
    let dbi = ctx.client.db;
    ctx.fx.dirty += 1;
    ctx.fx.event(STREAM, "xgroup-destroy", dbi, key);
    // Clients blocked in XREADGROUP on this group must get -NOGROUP (signalKeyAsReady).
    if ctx
        .server
        .blocking
        .count
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        ctx.client.ready_keys.push((dbi, key.to_vec()));
    }
    Ok(())
}

/// XGROUP CREATECONSUMER key group consumer
pub fn createconsumer(ctx: &mut Ctx) -> Result<()> {
    let p = xgroup_prelude(ctx, true)?;
    let (key, group, consumer) = (ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let slot = p.slot.expect("checked by the prelude");
    let now = clock(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    let created = stream_mut(db, slot)
        .create_consumer(group, consumer, now)
        .expect("checked by the prelude");
    if created {
        let dbi = ctx.client.db;
        ctx.fx.dirty += 1;
        ctx.fx.event(STREAM, "xgroup-createconsumer", dbi, key);
    }
    ctx.out.integer(created as i64);
    Ok(())
}

/// XGROUP DELCONSUMER key group consumer
pub fn delconsumer(ctx: &mut Ctx) -> Result<()> {
    let p = xgroup_prelude(ctx, true)?;
    let (key, group, consumer) = (ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let slot = p.slot.expect("checked by the prelude");
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    let existed = s
        .group(group)
        .is_some_and(|g| g.consumer(consumer).is_some());
    let pending = s
        .delete_consumer(group, consumer)
        .expect("checked by the prelude");
    if existed {
        let dbi = ctx.client.db;
        ctx.fx.dirty += 1;
        ctx.fx.event(STREAM, "xgroup-delconsumer", dbi, key);
    }
    ctx.out.integer(pending as i64);
    Ok(())
}

/// XGROUP HELP
pub fn help(ctx: &mut Ctx) -> Result<()> {
    container_help(
        ctx,
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------------------

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx) -> Result<()> {
    let (key, group) = (ctx.arg(1), ctx.arg(2));
    let slot = find(ctx, key, true)?;
    let has_group = slot.is_some_and(|s| {
        let (db, _) = crate::key_db!(ctx, key);
        stream_ref(db, s).group(group).is_some()
    });
    // No key or group: nothing to acknowledge, whatever the IDs.
    let (Some(slot), true) = (slot, has_group) else {
        ctx.out.integer(0);
        return Ok(());
    };
    let ids = ctx.args[3..]
        .iter()
        .map(|a| StreamId::parse_strict(a, 0))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (db, _) = crate::key_db!(ctx, key);
    let acked = stream_mut(db, slot).ack(group, &ids).unwrap_or(0);
    ctx.fx.dirty += acked;
    ctx.out.integer(acked as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx) -> Result<()> {
    let argc = ctx.args.len();
    let summary = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Error::Syntax);
    }
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count: i64 = 0;
    let mut min_idle: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut at = 3;
        if is(ctx.arg(3), "idle") {
            min_idle = int_arg(ctx.arg(4))?;
            if argc < 8 {
                return Err(Error::Syntax);
            }
            at += 2;
        }
        count = int_arg(ctx.arg(at + 2))?.max(0);
        range.0 = StreamId::parse_interval_start(ctx.arg(at))?;
        range.1 = StreamId::parse_interval_end(ctx.arg(at + 1))?;
        if at + 3 < argc {
            consumer = Some(ctx.arg(at + 3));
        }
    }
    let (key, group) = (ctx.arg(1), ctx.arg(2));
    let slot = find(ctx, key, true)?;
    let now = clock(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    let Some(g) = slot.and_then(|s| stream_ref(db, s).group(group)) else {
        return Err(err_nogroup_key_or_group(key, group));
    };
    let out = &mut *ctx.out;
    if summary {
        out.array(4);
        out.integer(g.pending_len() as i64);
        match g.pending_bounds() {
            None => {
                out.null();
                out.null();
                out.null_array();
            }
            Some((first, last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let owners: Vec<_> = g.consumers().filter(|c| c.pending_len() > 0).collect();
                out.array(owners.len());
                for c in owners {
                    out.array(2);
                    out.bulk(c.name());
                    out.bulk_int(c.pending_len() as i64);
                }
            }
        }
        return Ok(());
    }
    if let Some(name) = consumer {
        if g.consumer(name).is_none() {
            out.array(0);
            return Ok(());
        }
    }
    let d = out.deferred_array();
    let mut n = 0;
    for p in g
        .pending_idle(range.0, range.1, consumer, min_idle, now)
        .take(count as usize)
    {
        out.array(4);
        reply_id(out, p.id);
        out.bulk(p.consumer);
        out.integer(p.idle(now));
        out.integer(p.delivery_count as i64);
        n += 1;
    }
    out.set_deferred_array(d, n);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------------------

/// A NACK's state as propagated: owner, delivery time, delivery count.
type NackState = (Vec<u8>, i64, u64);

/// streamPropagateXCLAIM.
#[allow(clippy::too_many_arguments)]
fn propagate_claim(
    ctx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    id: &[u8],
    nack: &NackState,
    last_id: StreamId,
) {
    let dbi = ctx.client.db;
    let mut t = itoa::Buffer::new();
    let mut c = itoa::Buffer::new();
    ctx.fx.also(dbi, || {
        argv![
            b"XCLAIM",
            key,
            group,
            nack.0,
            b"0",
            id,
            b"TIME",
            t.format(nack.1),
            b"RETRYCOUNT",
            c.format(nack.2),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            IdText::new(last_id)
        ]
    });
}

/// XGROUP SETID with the group's read counter (streamPropagateGroupID).
fn propagate_group_id(ctx: &mut Ctx, key: &[u8], group: &[u8], last: StreamId, read: i64) {
    let dbi = ctx.client.db;
    ctx.fx.also(dbi, || {
        argv![
            b"XGROUP",
            b"SETID",
            key,
            group,
            IdText::new(last),
            b"ENTRIESREAD",
            itoa::Buffer::new().format(read)
        ]
    });
}

/// The state of pending entry `id` in `group`, if any.
fn nack_of(s: &Stream, group: &[u8], id: StreamId) -> Option<NackState> {
    let p = s.group(group)?.pending_entry(id)?;
    Some((p.consumer.to_vec(), p.delivery_time, p.delivery_count))
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(ctx: &mut Ctx) -> Result<()> {
    let (key, group, consumer) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let slot = find(ctx, key, true)?;
    let has_group = slot.is_some_and(|s| {
        let (db, _) = crate::key_db!(ctx, key);
        stream_ref(db, s).group(group).is_some()
    });
    let (Some(slot), true) = (slot, has_group) else {
        return Err(err_nogroup_key_or_group(key, group));
    };
    let min_idle = num::parse_i64(ctx.arg(4))
        .ok_or(Error::Stream(StreamError::XclaimMinIdle))?
        .max(0);
    // IDs up to the first argument that is not one; the rest are options.
    let argc = ctx.args.len();
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match StreamId::parse_strict(ctx.arg(j), 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = clock(ctx);
    let mut opts = ClaimOpts {
        min_idle,
        ..ClaimOpts::default()
    };
    let mut delivery_time: i64 = -1;
    while j < argc {
        let more = argc - 1 - j;
        let opt = ctx.arg(j);
        if is(opt, "force") {
            opts.force = true;
        } else if is(opt, "justid") {
            opts.justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            let idle = num::parse_i64(ctx.arg(j)).ok_or(StreamError::XclaimIdle)?;
            delivery_time = now.wrapping_sub(idle);
        } else if is(opt, "time") && more > 0 {
            j += 1;
            delivery_time = num::parse_i64(ctx.arg(j)).ok_or(StreamError::XclaimTime)?;
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            let n = num::parse_i64(ctx.arg(j)).ok_or(StreamError::XclaimRetryCount)?;
            opts.retry_count = (n >= 0).then_some(n as u64);
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            opts.last_id = Some(StreamId::parse_strict(ctx.arg(j), 0)?);
        } else {
            return Err(err_xclaim_option(opt));
        }
        j += 1;
    }
    if delivery_time != -1 {
        opts.delivery_time = Some(delivery_time);
    }
    let propagating = ctx.fx.propagating();
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    // For propagation: each ID's entry existence and NACK before the claim.
    let before: Vec<(bool, Option<NackState>)> = if propagating {
        ids.iter()
            .map(|&id| (s.contains(id), nack_of(s, group, id)))
            .collect()
    } else {
        Vec::new()
    };
    let got = s
        .claim(group, consumer, &ids, &opts, now)
        .expect("group checked above");
    let dbi = ctx.client.db;
    if got.consumer_created {
        ctx.fx.dirty += 1;
        ctx.fx.event(STREAM, "xgroup-createconsumer", dbi, key);
    }
    ctx.out.array(got.claimed.len());
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    for &id in &got.claimed {
        if opts.justid {
            reply_id(ctx.out, id);
        } else {
            reply_entry(ctx.out, &s.get(id).expect("claimed entries exist"));
        }
    }
    ctx.fx.dirty += (got.claimed.len() + got.deleted.len()) as u64;
    let g = s.group(group).expect("group checked above");
    let (last_id, entries_read) = (g.last_id(), g.entries_read().unwrap_or(-1));
    if propagating {
        let time = match opts.delivery_time {
            Some(t) if (0..=now).contains(&t) => t,
            _ => now,
        };
        // Replay the claims in argument order, with the state each one left.
        let mut counts: std::collections::HashMap<StreamId, u64> = Default::default();
        let mut dropped: std::collections::HashSet<StreamId> = Default::default();
        let mut next_claimed = 0;
        let mut steps: Vec<(usize, NackState)> = Vec::new();
        for (k, &id) in ids.iter().enumerate() {
            let (exists, nack) = &before[k];
            if !exists {
                if let Some(n) = nack {
                    if dropped.insert(id) {
                        steps.push((k, n.clone()));
                    }
                }
                continue;
            }
            if got.claimed.get(next_claimed) != Some(&id) {
                continue;
            }
            next_claimed += 1;
            let prev = *counts
                .entry(id)
                .or_insert_with(|| nack.as_ref().map_or(1, |n| n.2));
            let count = match opts.retry_count {
                Some(c) => c,
                None if !opts.justid => prev.wrapping_add(1),
                None => prev,
            };
            counts.insert(id, count);
            steps.push((k, (consumer.to_vec(), time, count)));
        }
        for (k, nack) in &steps {
            propagate_claim(ctx, key, group, ctx.arg(5 + k), nack, last_id);
        }
        if got.last_id_changed && steps.is_empty() {
            propagate_group_id(ctx, key, group, last_id, entries_read);
        }
    }
    if got.last_id_changed && got.claimed.is_empty() && got.deleted.is_empty() {
        ctx.fx.dirty += 1;
    }
    ctx.fx.propagate_nothing();
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx) -> Result<()> {
    let min_idle = num::parse_i64(ctx.arg(4))
        .ok_or(StreamError::XautoclaimMinIdle)?
        .max(0);
    let start = StreamId::parse_interval_start(ctx.arg(5))?;
    let argc = ctx.args.len();
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argc {
        let more = argc - 1 - j;
        let opt = ctx.arg(j);
        if is(opt, "count") && more > 0 {
            // LONG_MAX / max(sizeof(streamID), attempts factor 10).
            const MAX: i64 = i64::MAX / 16;
            count = num::parse_i64(ctx.arg(j + 1))
                .filter(|n| (1..=MAX).contains(n))
                .ok_or(StreamError::XautoclaimCount)?;
            j += 1;
        } else if is(opt, "justid") {
            justid = true;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let (key, group, consumer) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let slot = find(ctx, key, true)?;
    let has_group = slot.is_some_and(|s| {
        let (db, _) = crate::key_db!(ctx, key);
        stream_ref(db, s).group(group).is_some()
    });
    let (Some(slot), true) = (slot, has_group) else {
        return Err(err_nogroup_key_or_group(key, group));
    };
    let now = clock(ctx);
    let propagating = ctx.fx.propagating();
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    // For propagation: the NACKs the scan may drop (their entries are gone), before.
    let dropped_before: Vec<(StreamId, NackState)> = if propagating {
        let g = s.group(group).expect("group checked above");
        g.pending(start, StreamId::MAX, None)
            .take((count as usize).saturating_mul(10))
            .filter(|p| !s.contains(p.id))
            .map(|p| {
                (
                    p.id,
                    (p.consumer.to_vec(), p.delivery_time, p.delivery_count),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let got = s
        .autoclaim(group, consumer, min_idle, start, count as u64, justid, now)
        .expect("group checked above");
    let dbi = ctx.client.db;
    if got.consumer_created {
        ctx.fx.dirty += 1;
        ctx.fx.event(STREAM, "xgroup-createconsumer", dbi, key);
    }
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    let out = &mut *ctx.out;
    out.array(3);
    reply_id(out, got.next);
    out.array(got.claimed.len());
    for &id in &got.claimed {
        if justid {
            reply_id(out, id);
        } else {
            reply_entry(out, &s.get(id).expect("claimed entries exist"));
        }
    }
    out.array(got.deleted.len());
    for &id in &got.deleted {
        reply_id(out, id);
    }
    ctx.fx.dirty += (got.claimed.len() + got.deleted.len()) as u64;
    if propagating {
        let g = s.group(group).expect("group checked above");
        let last_id = g.last_id();
        // Claimed and dropped entries, merged back into PEL order.
        let mut steps: Vec<(StreamId, NackState)> = got
            .claimed
            .iter()
            .map(|&id| {
                let n = g.pending_entry(id).expect("claimed entries are pending");
                (id, (consumer.to_vec(), n.delivery_time, n.delivery_count))
            })
            .chain(
                dropped_before
                    .into_iter()
                    .filter(|(id, _)| got.deleted.binary_search(id).is_ok()),
            )
            .collect();
        steps.sort_by_key(|(id, _)| *id);
        for (id, nack) in &steps {
            propagate_claim(ctx, key, group, IdText::new(*id).as_bytes(), nack, last_id);
        }
    }
    ctx.fx.propagate_nothing();
    Ok(())
}
