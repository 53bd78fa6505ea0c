//! Keys a writable replica's own clients gave a deadline (Redis's slaveKeysWithExpire): a
//! replica expires nothing of its primary's (the primary's DELs do that), but a key written
//! on the replica itself has no primary to delete it, so the replica's cron expires it.
//!
//! Only clients' write commands on a replica pay for this (dispatch asks [`tracks`] only
//! while the replica checks run); a primary never does.

use std::collections::HashMap;

use cinnabar_commands::{flags, CommandDef};
use cinnabar_engine::keyspace::Locked;

use crate::dispatch::Client;
use crate::server::Server;

/// Keys per cron pass (Redis samples 20 per cycle, repeating within 1 ms).
const KEYS_PER_PASS: usize = 64;

/// Whether a client's command on this replica writes (so it may set a deadline to remember):
/// the command's flags first, so a read pays one branch.
#[inline]
pub fn tracks(server: &Server, client: &Client, def: &CommandDef) -> bool {
    def.flags & flags::WRITE != 0
        && server.repl.is_replica()
        && !client.repl.as_ref().is_some_and(|r| r.is_master)
}

/// After a client's write on a writable replica, with its shards still locked: remembers
/// each of the command's keys that now has a deadline, with the database it is in.
pub fn remember(
    server: &Server,
    db: usize,
    def: &CommandDef,
    args: &[&[u8]],
    locked: &mut Locked<'_>,
) {
    if db >= 64 {
        // Redis's bitmap of databases has 64 bits; keys in others are not tracked.
        return;
    }
    let mut pos = Vec::new();
    if cinnabar_commands::key_positions(def, args, &mut pos).is_err() {
        return;
    }
    let mut found = Vec::new();
    for &i in &pos {
        let Some(key) = args.get(i) else { continue };
        let hash = locked.key_hash(key);
        if !locked.holds(locked.keyspace().shard_of_key(key)) {
            continue;
        }
        let d = locked.db(db, hash);
        if d.find_raw(hash, key)
            .is_some_and(|s| d.entry(s).expire().is_some())
        {
            found.push(*key);
        }
    }
    if found.is_empty() {
        return;
    }
    let mut map = server.repl.replica_keys.lock();
    for key in found {
        *map.entry(Box::from(key)).or_insert(0) |= 1u64 << db;
    }
}

/// Forgets every remembered key (the dataset was replaced, or the server is a primary now
/// and its own active expiry covers them).
pub fn clear(server: &Server) {
    let mut map = server.repl.replica_keys.lock();
    if !map.is_empty() {
        *map = HashMap::new();
    }
}

/// Cron on a replica: checks some remembered keys; one whose deadline passed is deleted
/// (events as for any expiry; nothing is propagated, a replica's replicas follow its
/// primary's stream), one that lost its deadline or is gone is forgotten in that database.
pub fn expire_cycle(server: &Server) {
    let picked: Vec<(Box<[u8]>, u64)> = {
        let map = server.repl.replica_keys.lock();
        if map.is_empty() {
            return;
        }
        let start = if map.len() > KEYS_PER_PASS {
            rand::random::<u64>() as usize % map.len()
        } else {
            0
        };
        map.iter()
            .skip(start)
            .chain(map.iter().take(start))
            .take(KEYS_PER_PASS)
            .map(|(k, &b)| (k.clone(), b))
            .collect()
    };
    let ks = &server.keyspace;
    let now = server.now_ms();
    let mut results = Vec::with_capacity(picked.len());
    for (key, bits) in picked {
        let mut left = bits;
        let mut locked = ks.lock_key(&key);
        let hash = locked.key_hash(&key);
        for db in 0..64usize.min(ks.databases()) {
            if bits & (1u64 << db) == 0 {
                continue;
            }
            let d = locked.db(db, hash);
            match d.find_raw(hash, &key) {
                Some(slot) if d.entry(slot).is_expired(now) => {
                    d.remove_expired(slot);
                    left &= !(1u64 << db);
                }
                Some(slot) if d.entry(slot).expire().is_some() => {}
                _ => left &= !(1u64 << db),
            }
        }
        if cinnabar_engine::db::has_expired() {
            crate::dispatch::sink::expired(server, None, false);
        }
        drop(locked);
        results.push((key, bits, left));
    }
    let mut map = server.repl.replica_keys.lock();
    for (key, before, left) in results {
        if let Some(b) = map.get_mut(&key) {
            // Bits added meanwhile (a new deadline set since) stay.
            *b = (*b & !before) | left;
            if *b == 0 {
                map.remove(&key);
            }
        }
    }
}
