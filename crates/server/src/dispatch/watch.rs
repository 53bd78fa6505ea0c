//! WATCH bookkeeping (Redis's multi.c watch half): each database maps a watched key to the
//! dirty flags of its watchers; a write that changes a watched key sets them, and EXEC fails
//! for a dirty client or for a key that was live at WATCH time and has expired since.

use std::sync::atomic::Ordering;

use cinnabar_engine::{hash_key, Locked};

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

/// Before FLUSHDB / FLUSHALL empties `dbs` (None: every database): the WATCHed keys that are
/// live in them, whose watchers the flush makes dirty (Redis's touchAllWatchedKeysInDb).
/// Empty, without looking, while nobody watches.
pub fn live_watched(
    server: &Server,
    locked: &mut Locked<'_>,
    dbs: Option<usize>,
    now: i64,
) -> Vec<(usize, Box<[u8]>)> {
    let mut found = Vec::new();
    if server.watching.load(Ordering::Relaxed) == 0 {
        return found;
    }
    for shard in locked.shards() {
        for (d, db) in shard.dbs.iter().enumerate() {
            if dbs.is_some_and(|x| x != d) {
                continue;
            }
            for key in db.watched.keys() {
                if db.is_live(hash_key(key), key, now) {
                    found.push((d, key.clone()));
                }
            }
        }
    }
    found
}
