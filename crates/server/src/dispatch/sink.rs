//! The one place a command's effects go (see [`super::effects`]): after the handler returns,
//! with the command's shard locks still held, [`apply`] delivers its record to WATCH, client
//! tracking, keyspace notifications, blocked clients, the dirty counter and the propagation
//! stream, in the order Redis 7.2 does:
//!
//! 1. what expired during the command (lazy expiry in its lookups): `expired` / `hexpired`
//!    events, tracking invalidations, and the DEL / HDEL propagated before the command;
//! 2. the handler's record in the order it was raised: a modified key marks its WATCHers
//!    dirty, invalidates it for tracking clients (other clients' messages go out at once,
//!    the writer's own follow its reply) and, if clients block on it, makes it ready; an
//!    event is published;
//! 3. `dirty` is added to the worker's changes-since-last-save;
//! 4. what the command propagates joins its execution unit.
//!
//! An execution unit is a top-level command with everything it runs inside (EXEC's queue, a
//! script's calls): its propagated commands go to the stream together when it ends, wrapped
//! in MULTI/EXEC when there are several (Redis's propagatePendingCommands). Its time is
//! frozen: every command in it sees the time the unit started (Redis's
//! commandTimeSnapshot), so a key cannot expire in the middle of a script or a transaction,
//! and TIME returns the same value throughout.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

use cinnabar_engine::db::Expired;
use cinnabar_engine::{hash_key, Locked};

use super::effects::{Effects, Fx, Own};
use super::Client;
use crate::notify;
use crate::propagate::Unit;
use crate::server::{bump, Server, WorkerStats};

thread_local! {
    /// Nesting of the execution unit running on this thread (commands nest only on their
    /// own thread): 0 outside any command.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The commands the running unit propagates, collected until it ends; `PENDING` says
    /// whether there are any, so a unit that propagates nothing costs two cell updates.
    static OPS: RefCell<Unit> = RefCell::new(Unit::default());
    static PENDING: Cell<bool> = const { Cell::new(false) };
    /// The running unit's time: (ms since epoch as commands see it, the clock in µs).
    static CLOCK: Cell<(i64, i64)> = const { Cell::new((0, 0)) };
    /// Where the running commands' own propagation goes (`propagate::TO_*`): everywhere,
    /// unless a script narrowed it with `redis.set_repl` until it ends.
    static TARGET: Cell<u8> = const { Cell::new(crate::propagate::TO_ALL) };
}

/// Sets where commands' own propagation goes (`propagate::TO_*`) until set again: a script
/// sets it for its calls (`redis.set_repl`) and back to `TO_ALL` when it ends.
pub fn set_target(to: u8) {
    TARGET.with(|t| t.set(to));
}

/// The time a command about to start runs at: `(now_ms, clock_us)` itself when it starts a
/// unit (recorded for the commands nested in it), the unit's when it is nested.
#[inline]
pub fn unit_clock(now_ms: i64, clock_us: i64) -> (i64, i64) {
    if DEPTH.with(|d| d.get()) == 0 {
        CLOCK.with(|c| c.set((now_ms, clock_us)));
        (now_ms, clock_us)
    } else {
        CLOCK.with(|c| c.get())
    }
}

/// The running unit's clock in µs (what TIME answers).
pub fn unit_us() -> i64 {
    CLOCK.with(|c| c.get().1)
}

/// A command starts: it is the unit, or nested in one.
#[inline]
pub fn enter_unit() {
    DEPTH.with(|d| d.set(d.get() + 1));
}

/// A command ends: if it was the unit, what the unit propagated goes to the stream (AOF,
/// replicas), and `client`'s replies wait for it as `appendfsync` says.
#[inline]
pub fn leave_unit(server: &Server, client: &mut Client) {
    let depth = DEPTH.with(|d| {
        let n = d.get() - 1;
        d.set(n);
        n
    });
    if depth == 0 && PENDING.with(|p| p.replace(false)) {
        flush_unit(server, client);
    }
}

#[cold]
fn flush_unit(server: &Server, client: &mut Client) {
    let ops = OPS.with(|o| std::mem::take(&mut *o.borrow_mut()));
    let seq = crate::propagate::feed(server, &ops);
    client.aof_seq = client.aof_seq.max(seq);
    client.repl_woff = crate::replication::last_woff();
    if seq > 0 {
        client.aof_woff = seq;
    }
    if ops.capacity() <= 64 << 10 {
        // Keep the buffer for the next unit (no allocation per write).
        let mut ops = ops;
        ops.clear();
        OPS.with(|o| *o.borrow_mut() = ops);
    }
}

/// Adds a propagated command for the streams `to` names to the running unit.
fn push_op<A: AsRef<[u8]>>(db: usize, args: &[A], to: u8) {
    if to == 0 {
        return;
    }
    OPS.with(|o| o.borrow_mut().push_to(db, args, to));
    PENDING.with(|p| p.set(true));
}

/// Delivers one command's effects (see the module docs). `args` is the command as given,
/// propagated when it changed something and was not rewritten. Inlined: with nothing
/// listening, this is a few tests in the dispatcher, the work is in the functions it calls.
#[inline(always)]
pub fn apply(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    locked: &mut Locked<'_>,
    args: &[&[u8]],
    fx: &mut Effects<'_>,
) {
    if server.keyspace.log_expired.load(Ordering::Relaxed) && cinnabar_engine::db::has_expired() {
        expired(server, Some(&mut *client), fx.propagating());
    }
    let flags = fx.notify_flags();
    if flags & notify::KEY_MISS != 0 {
        keymisses(server, client, flags);
    }
    if !fx.items().is_empty() {
        deliver(server, client, locked, fx);
    }
    if fx.dirty > 0 {
        bump(&worker.dirty, fx.dirty);
    }
    if fx.propagating() {
        propagate(client, args, fx);
    }
}

/// `keymiss` events for what the command's reads missed.
#[inline(never)]
fn keymisses(server: &Server, client: &mut Client, flags: u32) {
    for (db, key) in super::effects::take_keymisses() {
        let me = Some(&mut *client);
        notify::emit(server, me, flags, notify::KEY_MISS, "keymiss", &key, db);
    }
}

/// What the command propagates joins its execution unit.
#[inline(never)]
fn propagate(client: &mut Client, args: &[&[u8]], fx: &mut Effects<'_>) {
    let (dirty, force) = (fx.dirty, fx.force);
    let own = std::mem::take(&mut fx.own);
    let db = client.db;
    let to = TARGET.with(|t| t.get());
    for (d, argv) in std::mem::take(&mut fx.also) {
        push_op(d, &argv, to);
    }
    if dirty > 0 || force {
        match own {
            Own::AsGiven => push_op(db, args, to),
            Own::Rewritten(argv) => push_op(db, &argv, to),
            Own::Nothing => {}
        }
    }
}

/// WATCH, tracking, blocked clients and keyspace events, in the order they were recorded.
#[inline(never)]
fn deliver(server: &Server, client: &mut Client, locked: &mut Locked<'_>, fx: &Effects<'_>) {
    let watching = server.watching.load(Ordering::Relaxed) > 0;
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    let blocking = server.blocking.count.load(Ordering::Relaxed) > 0;
    let flags = fx.notify_flags();
    for item in fx.items() {
        match *item {
            Fx::Modified { db, key } => {
                if watching {
                    let h = hash_key(key);
                    locked.db(db, h).touch_watched(key);
                }
                if tracking {
                    crate::tracking::invalidate(server, Some(&mut *client), key, true);
                }
                if blocking {
                    client.ready_keys.push((db, key.to_vec()));
                }
            }
            Fx::Event {
                class,
                name,
                db,
                key,
            } => notify::emit(server, Some(&mut *client), flags, class, name, key, db),
            Fx::Flushed { db, ref watched } => {
                for (d, key) in watched {
                    locked.db(*d, hash_key(key)).touch_watched(key);
                }
                // Redis's trackingInvalidateKeysOnFlush: every tracking client is told, and
                // the table is emptied even when nobody tracks any more.
                let _ = db;
                crate::tracking::flushed(server, client);
                if blocking {
                    client
                        .ready_keys
                        .push((crate::blocking::ALL_DBS, Vec::new()));
                }
            }
            Fx::Swapped { a, b } => {
                if watching {
                    touch_swapped(locked, a, b);
                }
                if blocking {
                    client
                        .ready_keys
                        .push((crate::blocking::ALL_DBS, Vec::new()));
                }
            }
        }
    }
}

/// SWAPDB (which holds every shard): as Redis's touchAllWatchedKeysInDb, a watched key of
/// either database changes if it exists in either of them.
fn touch_swapped(locked: &mut Locked<'_>, a: usize, b: usize) {
    for shard in locked.shards() {
        for d in [a, b] {
            if shard.dbs[d].watched.is_empty() {
                continue;
            }
            let keys: Vec<Box<[u8]>> = shard.dbs[d].watched.keys().cloned().collect();
            for key in keys {
                let h = hash_key(&key);
                if [a, b]
                    .iter()
                    .any(|&o| shard.dbs[o].find_raw(h, &key).is_some())
                {
                    shard.dbs[d].touch_watched(&key);
                }
            }
        }
    }
}

/// Delivers what this thread's expiry log holds (removals by expiry): the `expired` and
/// `hexpired` events, tracking invalidations, and the DEL / HDEL that make AOF replay and
/// replicas remove the same data. `client` is the one whose command expired them (its own
/// messages follow its reply); None for the cron and eviction. `propagate`: the AOF or
/// replicas are on. Inside a command the deletions join its unit, before its own commands.
pub fn expired(server: &Server, mut client: Option<&mut Client>, propagate: bool) {
    let flags = server.config.live.notify_flags.load(Ordering::Relaxed);
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    for e in cinnabar_engine::db::take_expired() {
        match e {
            Expired::Key { db, key } => {
                notify::emit(
                    server,
                    client.as_deref_mut(),
                    flags,
                    notify::EXPIRED,
                    "expired",
                    &key,
                    db,
                );
                if tracking {
                    crate::tracking::invalidate(server, client.as_deref_mut(), &key, false);
                }
                if propagate {
                    own_or_unit(server, client.is_some(), db, &[&b"DEL"[..], &key]);
                }
            }
            Expired::Fields {
                db,
                key,
                fields,
                emptied,
            } => {
                if propagate {
                    for f in fields {
                        own_or_unit(server, client.is_some(), db, &[&b"HDEL"[..], &key, &f]);
                    }
                }
                let me = client.as_deref_mut();
                notify::emit(server, me, flags, notify::HASH, "hexpired", &key, db);
                if emptied {
                    let me = client.as_deref_mut();
                    notify::emit(server, me, flags, notify::GENERIC, "del", &key, db);
                }
                if tracking {
                    crate::tracking::invalidate(server, client.as_deref_mut(), &key, false);
                }
            }
        }
    }
}

/// Eviction removed `key` from `db` (its shard lock held): the same noise as a deletion, in
/// Redis's order: the DEL propagated, the `evicted` event, its WATCHers made dirty and its
/// tracking clients told (`me`, the client whose command evicted, gets its invalidation
/// before its reply: it is about the value before the command).
pub fn evicted(server: &Server, me: Option<&mut Client>, db: &mut cinnabar_engine::Db, key: &[u8]) {
    if crate::propagate::on(server) {
        crate::propagate::feed(server, &Unit::one(db.id, &[&b"DEL"[..], key]));
    }
    let flags = server.config.live.notify_flags.load(Ordering::Relaxed);
    let mut me = me;
    notify::emit(
        server,
        me.as_deref_mut(),
        flags,
        notify::EVICTED,
        "evicted",
        key,
        db.id,
    );
    if server.watching.load(Ordering::Relaxed) > 0 {
        db.touch_watched(key);
    }
    if server.tracking.clients.load(Ordering::Relaxed) > 0 {
        crate::tracking::invalidate(server, me, key, false);
    }
}

/// Inside a command, a deletion joins its unit; otherwise (cron, eviction) it goes to the
/// stream at once, as a unit of its own.
fn own_or_unit(server: &Server, in_command: bool, db: usize, args: &[&[u8]]) {
    if in_command && DEPTH.with(|d| d.get() > 0) {
        push_op(db, args, crate::propagate::TO_ALL);
    } else {
        crate::propagate::feed(server, &Unit::one(db, args));
    }
}

/// Whether anyone needs to hear of removals by expiry: keyspace events of classes `x` or
/// `h`, client tracking, the AOF. Sets the keyspace's logging flag to match; turning it
/// off drops what this thread logged meanwhile (other threads drop theirs as they drain).
pub fn refresh_expiry_log(server: &Server) {
    let flags = server.config.live.notify_flags.load(Ordering::Relaxed);
    let want = flags & (notify::EXPIRED | notify::HASH) != 0
        || server.tracking.clients.load(Ordering::Relaxed) > 0
        || crate::propagate::on(server);
    let log = &server.keyspace.log_expired;
    if log.load(Ordering::Relaxed) != want {
        log.store(want, Ordering::Relaxed);
        if !want {
            drop(cinnabar_engine::db::take_expired());
        }
    }
}
