//! WATCH bookkeeping (Redis's multi.c watch half): each database maps a watched key to the
//! dirty flags of its watchers; a write that changes a watched key sets them, and EXEC fails
//! for a dirty client or for a key that was live at WATCH time and has expired since.

use std::sync::atomic::Ordering;

use cinnabar_commands::{self as commands, CommandDef};
use cinnabar_engine::{hash_key, Locked};
use smallvec::SmallVec;

use super::Client;
use crate::server::Server;

/// Redis's isWatchedKeyExpired: a key that was live when WATCHed and is not live now has
/// expired (a deletion would already have flagged the client).
pub fn watched_key_expired(server: &Server, client: &Client, now: i64) -> bool {
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

/// A watched key a write command may change: (db, key, hash, was live before the command).
pub(super) type WatchProbe = SmallVec<[(usize, Vec<u8>, u64, bool); 4]>;

/// Before a write: for each key the command names that someone WATCHes, whether it is live.
/// FLUSHALL/FLUSHDB/SWAPDB name no keys: for them every watched key of the affected dbs is
/// probed. A watched key is signalled afterwards only if it was live before or is live after,
/// so deleting a missing or already expired key does not fail anyone's EXEC, as in Redis.
pub(super) fn watched_before(
    def: &CommandDef,
    args: &[&[u8]],
    db: usize,
    locked: &mut Locked<'_>,
    now: i64,
) -> Option<WatchProbe> {
    let mut probe = WatchProbe::new();
    let dbs: SmallVec<[usize; 2]> = match def.name {
        "flushall" => (0..locked.keyspace().databases()).collect(),
        "flushdb" => SmallVec::from_slice(&[db]),
        "swapdb" => args[1..3]
            .iter()
            .filter_map(|a| cinnabar_engine::num::parse_i64(a))
            .map(|n| n as usize)
            .filter(|&n| n < locked.keyspace().databases())
            .collect(),
        _ => SmallVec::new(),
    };
    if !dbs.is_empty() {
        for shard in locked.shards() {
            for &d in &dbs {
                for key in shard.dbs[d].watched.keys() {
                    let h = cinnabar_engine::hash_key(key);
                    // SWAPDB: a key counts as live when it is live in either db.
                    let live = dbs.iter().any(|&o| shard.dbs[o].is_live(h, key, now));
                    probe.push((d, key.to_vec(), h, live));
                }
            }
        }
        return Some(probe);
    }
    let mut pos = Vec::new();
    if commands::key_positions(def, args, &mut pos).is_err() {
        return None;
    }
    // MOVE key db and COPY ... DB db also write the key in another database.
    let mut dbs: SmallVec<[usize; 2]> = SmallVec::from_slice(&[db]);
    let other = match def.name {
        "move" => args.get(2),
        "copy" => args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"db"))
            .and_then(|i| args.get(i + 1)),
        _ => None,
    };
    if let Some(n) = other.and_then(|a| cinnabar_engine::num::parse_i64(a)) {
        if n >= 0 && (n as usize) < locked.keyspace().databases() && n as usize != db {
            dbs.push(n as usize);
        }
    }
    for &i in &pos {
        let key = args[i];
        let h = cinnabar_engine::hash_key(key);
        let Some(shard) = locked.shard_at(cinnabar_engine::keyspace::shard_of_hash(
            h,
            locked.keyspace().shard_count() - 1,
        )) else {
            continue;
        };
        for &d in &dbs {
            let dbr = &shard.dbs[d];
            if dbr.watched.contains_key(key) {
                probe.push((d, key.to_vec(), h, dbr.is_live(h, key, now)));
            }
        }
    }
    Some(probe)
}

/// After a successful write: mark dirty the watchers of probed keys that were or are live,
/// except those the command reported `unchanged`.
pub(super) fn signal_watched(
    probe: WatchProbe,
    locked: &mut Locked<'_>,
    now: i64,
    unchanged: &[&[u8]],
) {
    for (d, key, h, was_live) in probe {
        if unchanged.contains(&key.as_slice()) {
            continue;
        }
        let db = locked.db(d, h);
        if was_live || db.is_live(h, &key, now) {
            db.touch_watched(&key);
        }
    }
}
