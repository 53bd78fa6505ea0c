//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP.
//!
//! The replies are maps in Redis's field order (flat arrays in RESP2). The figures that
//! describe Redis's own layout (`radix-tree-keys`, `radix-tree-nodes`) come from the engine,
//! which computes what Redis's radix tree would hold for the same nodes.

use cinnabar_engine::types::stream::id::err_nogroup_for_key;
use cinnabar_engine::types::stream::{Group, Stream, StreamId};
use cinnabar_engine::{Error, Result};
use cinnabar_resp::ReplyBuf;

use super::{clock, find, reply_entries, reply_entry, reply_id, stream_ref};
use crate::cmd::{container_help, int_arg, is, unknown_subcommand};
use crate::dispatch::Ctx;

/// The stream at argv[2], or ERR no such key / WRONGTYPE.
fn lookup(ctx: &mut Ctx) -> Result<usize> {
    let key = ctx.arg(2);
    find(ctx, key, true)?.ok_or(Error::NoSuchKey)
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn stream(ctx: &mut Ctx) -> Result<()> {
    let slot = lookup(ctx)?;
    let opts = &ctx.args[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !is(opts[0], "full") {
            return Err(unknown_subcommand(ctx));
        }
        if opts.len() == 3 {
            if !is(opts[1], "count") {
                return Err(unknown_subcommand(ctx));
            }
            count = int_arg(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
        full = true;
    }
    let key = ctx.arg(2);
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    let out = &mut *ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.integer(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.integer(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.integer(s.radix_tree_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id());
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id());
    out.bulk(b"entries-added");
    out.integer(s.entries_added() as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id());
    if !full {
        out.bulk(b"groups");
        out.integer(s.groups_len() as i64);
        out.bulk(b"first-entry");
        match s.first_entry() {
            Some(e) => reply_entry(out, &e),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.last_entry() {
            Some(e) => reply_entry(out, &e),
            None => out.null(),
        }
        return Ok(());
    }
    let count = count as usize;
    out.bulk(b"entries");
    reply_entries(out, s.range(StreamId::MIN, StreamId::MAX), count);
    out.bulk(b"groups");
    out.array(s.groups_len());
    for (name, g) in s.groups() {
        full_group(out, s, name, g, count);
    }
    Ok(())
}

/// One group of XINFO STREAM FULL.
fn full_group(out: &mut ReplyBuf, s: &Stream, name: &[u8], g: &Group, count: usize) {
    let limit = if count == 0 { usize::MAX } else { count };
    out.map(7);
    out.bulk(b"name");
    out.bulk(name);
    out.bulk(b"last-delivered-id");
    reply_id(out, g.last_id());
    out.bulk(b"entries-read");
    entries_read(out, g);
    out.bulk(b"lag");
    lag(out, s, g);
    out.bulk(b"pel-count");
    out.integer(g.pending_len() as i64);
    out.bulk(b"pending");
    out.array(g.pending_len().min(limit));
    for p in g.pending(StreamId::MIN, StreamId::MAX, None).take(limit) {
        out.array(4);
        reply_id(out, p.id);
        out.bulk(p.consumer);
        out.integer(p.delivery_time);
        out.integer(p.delivery_count as i64);
    }
    out.bulk(b"consumers");
    out.array(g.consumers_len());
    for c in g.consumers() {
        out.map(5);
        out.bulk(b"name");
        out.bulk(c.name());
        out.bulk(b"seen-time");
        out.integer(c.seen_time());
        out.bulk(b"active-time");
        out.integer(c.active_time());
        out.bulk(b"pel-count");
        out.integer(c.pending_len() as i64);
        out.bulk(b"pending");
        out.array(c.pending_len().min(limit));
        for id in c.pending_ids().take(limit) {
            let p = g
                .pending_entry(id)
                .expect("a consumer's entries are pending");
            out.array(3);
            reply_id(out, id);
            out.integer(p.delivery_time);
            out.integer(p.delivery_count as i64);
        }
    }
}

fn entries_read(out: &mut ReplyBuf, g: &Group) {
    match g.entries_read() {
        Some(n) => out.integer(n),
        None => out.null(),
    }
}

/// streamReplyWithCGLag.
fn lag(out: &mut ReplyBuf, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(n) => out.integer(n),
        None => out.null(),
    }
}

/// XINFO GROUPS key
pub fn groups(ctx: &mut Ctx) -> Result<()> {
    let slot = lookup(ctx)?;
    let key = ctx.arg(2);
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    let out = &mut *ctx.out;
    out.array(s.groups_len());
    for (name, g) in s.groups() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.integer(g.consumers_len() as i64);
        out.bulk(b"pending");
        out.integer(g.pending_len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id());
        out.bulk(b"entries-read");
        entries_read(out, g);
        out.bulk(b"lag");
        lag(out, s, g);
    }
    Ok(())
}

/// XINFO CONSUMERS key group
pub fn consumers(ctx: &mut Ctx) -> Result<()> {
    let slot = lookup(ctx)?;
    let (key, group) = (ctx.arg(2), ctx.arg(3));
    let now = clock(ctx);
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_ref(db, slot);
    let Some(g) = s.group(group) else {
        return Err(err_nogroup_for_key(group, key));
    };
    let out = &mut *ctx.out;
    out.array(g.consumers_len());
    for c in g.consumers() {
        out.map(4);
        out.bulk(b"name");
        out.bulk(c.name());
        out.bulk(b"pending");
        out.integer(c.pending_len() as i64);
        out.bulk(b"idle");
        out.integer(c.idle(now));
        out.bulk(b"inactive");
        out.integer(c.inactive(now));
    }
    Ok(())
}

/// XINFO HELP
pub fn help(ctx: &mut Ctx) -> Result<()> {
    container_help(
        ctx,
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}
