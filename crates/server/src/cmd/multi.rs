//! Transactions (Redis's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks the union of the shards every queued command needs, once, in ascending order,
//! and runs the whole queue under those locks: no other client can see or interleave with a
//! partial transaction, on any core. WATCH registers the client's dirty flag with each key's
//! database; a write that changes a watched key sets the flag (see `dispatch::run_locked`),
//! and EXEC also fails when a key that was live at WATCH time has since expired.

use std::sync::atomic::Ordering;

use cinnabar_commands::flags;
use cinnabar_engine::{Error, Result};
use smallvec::SmallVec;

use crate::dispatch::watch::{unwatch_all, watched_key_expired};
use crate::dispatch::{run_called, Access, Ctx, Multi, Registry};

pub fn register(r: &mut Registry) {
    r.add("multi", multi);
    r.add("exec", exec);
    r.add("discard", discard);
    r.add("watch", watch);
    r.add("unwatch", unwatch);
}

fn multi(ctx: &mut Ctx) -> Result<()> {
    if ctx.client.multi.is_some() {
        return Err(Error::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx) -> Result<()> {
    if ctx.client.multi.take().is_none() {
        return Err(Error::msg("ERR DISCARD without MULTI"));
    }
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx) -> Result<()> {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(Error::msg("ERR EXEC without MULTI"));
    };
    let server = ctx.server;
    if watched_key_expired(server, ctx.client, ctx.now) {
        ctx.client.dirty.store(true, Ordering::Relaxed);
    }
    let dirty = ctx.client.dirty.load(Ordering::Relaxed);
    unwatch_all(server, ctx.client);
    if multi.error {
        return Err(Error::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if dirty {
        ctx.out.null_array();
        return Ok(());
    }

    // A queued script may lock keys it did not declare: like any script run, the transaction
    // then takes the script mutex before its shard locks (see `crate::scripting`).
    let _script_guard = multi
        .queue
        .iter()
        .any(|q| server.registry.at(q.idx).access == Access::Script)
        .then(|| server.scripts.run.lock());
    // Lock the union of the shards of every queued command, once.
    let ks = &server.keyspace;
    // An exclusive transaction (see `dispatch::gate`) runs alone: every shard too, so that
    // nothing else (active expiry, eviction) changes data under it either.
    let mut all = multi.exclusive;
    let mut shards: SmallVec<[usize; 8]> = SmallVec::new();
    let mut pos = Vec::new();
    for q in &multi.queue {
        let entry = server.registry.at(q.idx);
        if all || entry.tx_locks_all {
            all = true;
            break;
        }
        if entry.def.first_key > 0 || entry.def.flags & flags::MOVABLE_KEYS != 0 {
            let args = multi.args(q);
            if cinnabar_commands::key_positions(entry.def, &args, &mut pos).is_ok() {
                shards.extend(pos.iter().map(|&i| ks.shard_of_key(args[i])));
            }
        }
    }
    let mut locked = if all {
        ks.lock_all()
    } else {
        ks.lock_shards(&mut shards)
    };

    ctx.out.array(multi.queue.len());
    // The client's command stays EXEC for the ACL log, as Redis's lastcmd does.
    let exec_idx = ctx.client.shared.last_cmd.load(Ordering::Relaxed);
    ctx.client.in_exec = true;
    for q in &multi.queue {
        let entry = server.registry.at(q.idx);
        let args = multi.args(q);
        // Permissions may have changed since the command was queued: checked again.
        if !server.acl.unrestricted(&ctx.client.user) {
            ctx.client
                .shared
                .last_cmd
                .store(exec_idx, Ordering::Relaxed);
            if let Err((d, _)) = crate::acl::check(
                server,
                ctx.client,
                entry.def,
                &args,
                crate::acl::LogContext::Multi,
            ) {
                let msg = format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}", crate::acl::exec_reason(d));
                ctx.worker.count_error(msg.as_bytes());
                crate::server::bump(&ctx.worker.rejected_calls, 1);
                ctx.out.error(msg.as_bytes());
                continue;
            }
        }
        ctx.client.shared.last_cmd.store(q.idx, Ordering::Relaxed);
        run_called(
            server,
            ctx.worker,
            ctx.client,
            ctx.out,
            &args,
            entry,
            &mut locked,
        );
        if crate::replication::writable::tracks(server, ctx.client, entry.def) {
            crate::replication::writable::remember(
                server,
                ctx.client.db,
                entry.def,
                &args,
                &mut locked,
            );
        }
    }
    ctx.client.in_exec = false;
    Ok(())
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx) -> Result<()> {
    if ctx.client.multi.is_some() {
        return Err(Error::msg("ERR WATCH inside MULTI is not allowed"));
    }
    // No point in watching more once the client is already dirty.
    if !ctx.client.dirty.load(Ordering::Relaxed) {
        let dbi = ctx.client.db;
        for &key in &ctx.args[1..] {
            if ctx
                .client
                .watched
                .iter()
                .any(|(d, k, _)| *d == dbi && &**k == key)
            {
                continue;
            }
            let (db, h) = crate::key_db!(ctx, key);
            db.watch(key, &ctx.client.dirty);
            let live = db.is_live(h, key, ctx.now);
            ctx.client.watched.push((dbi, key.into(), live));
            ctx.server.watching.fetch_add(1, Ordering::Relaxed);
        }
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx) -> Result<()> {
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}
