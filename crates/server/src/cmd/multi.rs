//! Transactions (Redis's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks the union of the shards every queued command needs, once, in ascending order,
//! and runs the whole queue under those locks: no other client can see or interleave with a
//! partial transaction, on any core. WATCH registers the client's dirty flag with each key's
//! database; a write that changes a watched key sets the flag (see `dispatch::run_locked`),
//! and EXEC also fails when a key that was live at WATCH time has since expired.

use std::sync::atomic::Ordering;

use cinnabar_commands::{flags, Group};
use cinnabar_engine::{hash_key, Error, Result};
use smallvec::SmallVec;

use crate::dispatch::{run_locked, Access, Client, Ctx, Multi, Registry};
use crate::server::Server;

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

/// True when a queued command needs every shard: keyspace-wide commands, and keyless server
/// commands (INFO, CONFIG, DEBUG, MEMORY...) that walk shards on their own, which must not
/// take locks out of order while the transaction holds some.
/// Server commands that never look at the keyspace (TIME, LASTSAVE, ROLE, LOLWUT, COMMAND ...)
/// are exempt: locking every shard for them made `redis.call('TIME')` in a script six times
/// slower than in Redis.
pub fn needs_all_shards(access: Access, def: &cinnabar_commands::CommandDef) -> bool {
    access == Access::All
        || (def.first_key <= 0
            && def.flags & flags::MOVABLE_KEYS == 0
            && def.group == Group::Server
            && !matches!(
                def.name,
                "time"
                    | "lastsave"
                    | "role"
                    | "lolwut"
                    | "command"
                    | "command|count"
                    | "command|docs"
                    | "command|getkeys"
                    | "command|getkeysandflags"
                    | "command|info"
                    | "command|list"
            ))
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
    let mut all = false;
    let mut shards: SmallVec<[usize; 8]> = SmallVec::new();
    let mut pos = Vec::new();
    for q in &multi.queue {
        let entry = server.registry.at(q.idx);
        if needs_all_shards(entry.access, entry.def) {
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
    ctx.client.in_exec = true;
    for q in &multi.queue {
        let entry = server.registry.at(q.idx);
        let args = multi.args(q);
        ctx.client.shared.last_cmd.store(q.idx, Ordering::Relaxed);
        run_locked(
            server,
            ctx.worker,
            ctx.client,
            ctx.out,
            &args,
            entry,
            &mut locked,
        );
    }
    ctx.client.in_exec = false;
    Ok(())
}

/// Redis's isWatchedKeyExpired: a key that was live when WATCHed and is not live now has
/// expired (a deletion would already have flagged the client).
fn watched_key_expired(server: &Server, client: &Client, now: i64) -> bool {
    client.watched.iter().any(|(db, key, was_live)| {
        if !was_live {
            return false;
        }
        let h = hash_key(key);
        let shard = server
            .keyspace
            .lock_shard(server.keyspace.shard_of_key(key));
        !shard.dbs[*db].is_live(h, key, now)
    })
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

/// Forgets every key the client watches and clears its dirty flag. Locks one shard at a time,
/// so the caller must hold no shard lock (UNWATCH, EXEC, DISCARD and RESET are keyless, and
/// a closing connection holds none).
pub fn unwatch_all(server: &Server, client: &mut Client) {
    for (db, key, _) in client.watched.drain(..) {
        let mut shard = server
            .keyspace
            .lock_shard(server.keyspace.shard_of_key(&key));
        shard.dbs[db].unwatch(&key, &client.dirty);
        server.watching.fetch_sub(1, Ordering::Relaxed);
    }
    client.dirty.store(false, Ordering::Relaxed);
}
