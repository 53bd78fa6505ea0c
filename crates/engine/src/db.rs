//! One database (0..15) of one shard: a hash index over a dense vector of entries.
//!
//! The entries live in a `Vec` in arbitrary order and the hash index maps a key to its slot.
//! Removal swaps the last entry into the hole. That layout gives three things Redis needs:
//! - `SCAN` walks the vector from the end towards the start, and a key present for the whole
//!   scan is returned at least once: the only entry that ever moves is the *last* one, which a
//!   backwards walk has already visited, into a hole, whichever side of the cursor the hole is.
//!   Resizing the index never reorders the vector, so growth needs no reverse-bit cursor trick.
//! - `RANDOMKEY`, eviction and active-expiry sampling pick a uniform slot in O(1).
//! - Per key the table costs a 4-byte index bucket (53-80% full) plus an 8-byte entry pointer
//!   in chunks that never move (see [`crate::dense`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use crate::access::Access;
use crate::dense::{ChunkVec, SlotIndex};
use crate::entry::{Entry, NewValue};
use crate::hash_key;

/// Hash index plus dense entry vector (see [`crate::dense`]). Keys are unique.
#[derive(Default)]
pub struct Table {
    index: SlotIndex,
    entries: ChunkVec<Entry>,
}

impl Table {
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Slot of `key`, whose hash is `hash`.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index.find(hash, |i| entries.get(i).key() == key)
    }

    /// [`Table::find`] for a lookup that may reorder the index: a key found far from its
    /// home bucket is moved there (`SlotIndex::find_promote`), so a hot key is one probe.
    #[inline]
    pub fn find_promote(&mut self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find_promote(hash, |i| entries.get(i).key() == key)
    }

    /// See `Keyspace::prefetch`: the index bucket, the entry's place in the entry vector,
    /// the entry's header.
    #[inline]
    pub fn prefetch(&self, hash: u64, stage: crate::Stage) {
        match stage {
            crate::Stage::Bucket => self.index.prefetch(hash),
            _ => {
                if let Some(slot) = self.index.guess(hash) {
                    let e = self.entries.get(slot);
                    if stage == crate::Stage::Slot {
                        crate::prefetch(e);
                    } else {
                        e.prefetch();
                    }
                }
            }
        }
    }

    #[inline]
    pub fn at(&self, slot: usize) -> &Entry {
        self.entries.get(slot)
    }

    #[inline]
    pub fn at_mut(&mut self, slot: usize) -> &mut Entry {
        self.entries.get_mut(slot)
    }

    /// Adds an entry whose key is not present yet; returns its slot.
    pub fn insert_new(&mut self, hash: u64, entry: Entry) -> usize {
        let slot = self.entries.len();
        assert!(
            slot < (u32::MAX >> 1) as usize,
            "too many keys in one shard"
        );
        self.entries.push(entry);
        let entries = &self.entries;
        self.index
            .insert(hash, slot, |i| hash_key(entries.get(i).key()));
        slot
    }

    /// Removes the entry in `slot`; the last entry moves into the hole.
    pub fn remove_at(&mut self, slot: usize) -> Entry {
        let hash = hash_key(self.entries.get(slot).key());
        self.index.remove(hash, slot);
        let last = self.entries.len() - 1;
        if slot != last {
            let moved_hash = hash_key(self.entries.get(last).key());
            self.index.relocate(moved_hash, last, slot);
        }
        let removed = self.entries.swap_remove(slot);
        let entries = &self.entries;
        self.index.maybe_shrink(|i| hash_key(entries.get(i).key()));
        removed
    }

    pub fn clear(&mut self) {
        self.index = SlotIndex::default();
        self.entries = ChunkVec::default();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.iter()
    }

    /// Heap bytes of the index and entry vector (not the entries' own allocations).
    pub fn overhead_bytes(&self) -> usize {
        self.index.heap_bytes() + self.entries.heap_bytes()
    }

    /// One key's share of the table (MEMORY USAGE): its slot in the entry vector and its
    /// share of the index. Not `overhead_bytes / len`, which would charge the entry
    /// vector's first chunk, reserved for the keys to come, to a db's only key.
    pub fn key_overhead_bytes(&self) -> usize {
        std::mem::size_of::<Entry>() + self.index.heap_bytes() / self.entries.len().max(1)
    }
}

/// Result of a lookup that may find an expired key.
pub enum Lookup {
    Found(usize),
    Missing,
}

/// A removal the engine made on its own because a deadline passed. The server must hear of
/// each (the `expired` / `hexpired` keyspace events, tracking invalidations, and the DEL or
/// HDEL it propagates so that AOF replay and replicas remove the same data at the same
/// point), but the engine does no I/O: it logs them, and the server drains the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired {
    /// A key whose deadline passed, removed.
    Key { db: usize, key: Box<[u8]> },
    /// Hash fields whose deadlines passed, removed; `emptied` when the hash went with them.
    Fields {
        db: usize,
        key: Box<[u8]>,
        fields: Vec<Box<[u8]>>,
        emptied: bool,
    },
}

thread_local! {
    /// This thread's expiry log: whoever holds a shard's lock when data expires (a command's
    /// lookup, the cron's active cycle, eviction's sampling) finds the removals here, so the
    /// log costs one thread-local check per command and never needs a lock of its own.
    static EXPIRED: std::cell::RefCell<Vec<Expired>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes what this thread's expiry log holds (in the order things expired).
pub fn take_expired() -> Vec<Expired> {
    EXPIRED.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// How a lookup treats an expired key while the keyspace is a replica's (see
/// [`Db::replica_expiry`]): set per command by the server, on the command's thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaExpiry {
    /// A client's read: the key looks missing but stays (only the primary's DEL removes it).
    Hide,
    /// The primary's own commands: the key is still there until the primary deletes it.
    Keep,
    /// A client's write on a writable replica: the key is removed, as on a primary.
    Delete,
}

thread_local! {
    static REPLICA_EXPIRY: std::cell::Cell<ReplicaExpiry> = const { std::cell::Cell::new(ReplicaExpiry::Hide) };
}

/// Sets how this thread's lookups treat expired keys on a replica (ignored elsewhere).
#[inline]
pub fn set_replica_expiry(mode: ReplicaExpiry) {
    REPLICA_EXPIRY.with(|m| m.set(mode));
}

/// Whether this thread's expiry log holds anything.
#[inline]
pub fn has_expired() -> bool {
    EXPIRED.with(|l| !l.borrow().is_empty())
}

/// One logical database inside one shard.
#[derive(Default)]
pub struct Db {
    /// The database's number (0..databases); SWAPDB swaps the contents, not the numbers.
    pub id: usize,
    pub table: Table,
    /// Number of entries that have a deadline (for INFO keyspace and to skip active expiry).
    pub volatile: usize,
    /// Where the active expiry cycle resumes its walk.
    pub expire_cursor: usize,
    /// Where the active hash-field expiry walk resumes.
    pub field_expire_cursor: usize,
    /// Where the LRU sweep (see [`Db::age_sample`]) resumes.
    pub age_cursor: usize,
    /// Number of hashes that have fields with deadlines; the walk is skipped while 0.
    /// Maintained approximately by the hash commands via [`Db::note_field_ttls`].
    pub hashes_with_field_ttls: usize,
    /// Keys removed because their deadline passed (INFO expired_keys).
    pub expired_keys: u64,
    /// Lookups that found / did not find the key (INFO keyspace_hits / keyspace_misses).
    pub hits: u64,
    pub misses: u64,
    /// WATCHed keys of this db: key -> the dirty flags of the clients watching it. Empty, and
    /// so without allocation, while nobody watches.
    pub watched: HashMap<Box<[u8]>, Vec<Arc<AtomicBool>>>,
    /// Shared with the keyspace: while set, removals by expiry are logged in this thread's
    /// expiry log (see [`Expired`]); the server sets it while anyone needs to hear of them.
    pub log_expired: Arc<AtomicBool>,
    /// How entries' access bits are kept (LRU time or LFU counter), shared by every db of
    /// the keyspace.
    pub access: Arc<Access>,
    /// Shared with the keyspace: set while the server is a replica, whose keys expire only
    /// through the primary's DELs; lookups then follow [`set_replica_expiry`]. Read only
    /// when a lookup meets an expired key.
    pub replica_expiry: Arc<AtomicBool>,
    /// Shared with the keyspace: until this time (ms, the lookups' clock) expired keys look
    /// missing but are not removed (CLIENT PAUSE holds expiry, as Redis's
    /// PAUSE_ACTION_EXPIRE). Read only when a lookup meets an expired key.
    pub expiry_held_until: Arc<AtomicI64>,
}

impl Db {
    /// Whether expired keys must stay where they are at `now_ms` (see
    /// [`Db::expiry_held_until`]); callers then skip them as missing.
    #[inline]
    pub fn expiry_held(&self, now_ms: i64) -> bool {
        self.expiry_held_until.load(Ordering::Relaxed) > now_ms
    }

    /// Whether removals by expiry must be logged (see [`Expired`]).
    #[inline]
    pub fn logs_expired(&self) -> bool {
        self.log_expired.load(Ordering::Relaxed)
    }

    /// Logs an expired key, if anyone listens.
    #[inline]
    fn note_expired(&self, e: &Entry) {
        if self.logs_expired() {
            let (db, key) = (self.id, e.key().into());
            EXPIRED.with(|l| l.borrow_mut().push(Expired::Key { db, key }));
        }
    }

    /// Logs hash fields removed by expiry from `key` (the caller checked [`Db::logs_expired`]).
    pub fn note_expired_fields(&self, key: &[u8], fields: Vec<Box<[u8]>>, emptied: bool) {
        let db = self.id;
        EXPIRED.with(|l| {
            l.borrow_mut().push(Expired::Fields {
                db,
                key: key.into(),
                fields,
                emptied,
            })
        });
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Finds a live key. An expired key is removed on the spot (lazy expiry) and reported
    /// missing, so no command ever sees it.
    #[inline]
    pub fn lookup(&mut self, hash: u64, key: &[u8], now_ms: i64) -> Option<usize> {
        let slot = self.table.find_promote(hash, key)?;
        if self.table.at(slot).is_expired(now_ms) {
            if self.expiry_held(now_ms) {
                return None;
            }
            if self.replica_expiry.load(Ordering::Relaxed) {
                match REPLICA_EXPIRY.with(|m| m.get()) {
                    ReplicaExpiry::Hide => return None,
                    ReplicaExpiry::Keep => return Some(slot),
                    ReplicaExpiry::Delete => {}
                }
            }
            self.remove_expired(slot);
            return None;
        }
        Some(slot)
    }

    /// Removes the key in `slot` because its deadline passed, counting it and logging it for
    /// keyspace events when asked to.
    pub fn remove_expired(&mut self, slot: usize) {
        let e = self.remove_slot(slot);
        self.note_expired(&e);
        crate::lazyfree::dispose(e);
        self.expired_keys += 1;
    }

    /// Finds a key, ignoring whether it has expired (for introspection that must not delete).
    #[inline]
    pub fn find_raw(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.table.find(hash, key)
    }

    #[inline]
    pub fn entry(&self, slot: usize) -> &Entry {
        self.table.at(slot)
    }

    #[inline]
    pub fn entry_mut(&mut self, slot: usize) -> &mut Entry {
        self.table.at_mut(slot)
    }

    /// Records an access to the key in `slot`: its LRU time or LFU counter (see
    /// [`crate::access`]). The entry is written only when the bits change.
    #[inline]
    pub fn touch(&mut self, slot: usize, now_ms: i64) {
        let e = self.table.at_mut(slot);
        let old = e.clock();
        let new = self.access.touched(old, now_ms);
        if new != old {
            e.set_clock(new);
        }
    }

    /// One step of the LRU sweep (see [`crate::access`]): visits up to `max` entries from
    /// the sweep's cursor and rewrites fine stamps older than an hour as coarse ones, before
    /// they can wrap. Returns the entries visited and whether the walk reached the end of
    /// the table (the cursor then starts over).
    pub fn age_sample(&mut self, now_ms: i64, max: usize) -> (usize, bool) {
        let len = self.table.len();
        if self.age_cursor >= len {
            self.age_cursor = 0;
            return (0, true);
        }
        let end = (self.age_cursor + max).min(len);
        for slot in self.age_cursor..end {
            let e = self.table.at_mut(slot);
            if let Some(bits) = self.access.aged(e.clock(), now_ms) {
                e.set_clock(bits);
            }
        }
        let visited = end - self.age_cursor;
        self.age_cursor = if end >= len { 0 } else { end };
        (visited, end >= len)
    }

    /// The access bits of a key created at `now_ms`.
    #[inline]
    pub fn fresh_clock(&self, now_ms: i64) -> u32 {
        self.access.fresh(now_ms)
    }

    /// Inserts or replaces the entry for its key. Returns the replaced entry, if any.
    /// Under an LFU policy a replacing value keeps the old one's counter, as Redis's
    /// dbSetValue does: overwriting a hot key does not make it look new.
    pub fn put(&mut self, hash: u64, mut entry: Entry) -> Option<Entry> {
        let new_volatile = entry.expire().is_some();
        match self.table.find(hash, entry.key()) {
            Some(slot) => {
                if self.access.is_lfu() {
                    entry.set_clock(self.table.at(slot).clock());
                }
                let old = std::mem::replace(self.table.at_mut(slot), entry);
                match (old.expire().is_some(), new_volatile) {
                    (true, false) => self.volatile -= 1,
                    (false, true) => self.volatile += 1,
                    _ => {}
                }
                Some(old)
            }
            None => {
                if new_volatile {
                    self.volatile += 1;
                }
                self.table.insert_new(hash, entry);
                None
            }
        }
    }

    /// Gives the key in `slot` (found by a lookup) a new value and deadline, as [`Db::put`]
    /// of a new entry would (fresh access bits, but an LFU counter is kept), without a
    /// second lookup, and in the same allocation when the value has the same size.
    pub fn overwrite(
        &mut self,
        slot: usize,
        value: NewValue<'_>,
        expire: Option<i64>,
        now_ms: i64,
    ) {
        let lfu = self.access.is_lfu();
        let fresh = self.access.fresh(now_ms);
        let e = self.table.at_mut(slot);
        let was_volatile = e.expire().is_some();
        if e.overwrite_in_place(&value, expire) {
            if !lfu {
                e.set_clock(fresh);
            }
        } else {
            let clock = if lfu { e.clock() } else { fresh };
            let new = Entry::new(e.key(), value, expire, clock);
            drop(std::mem::replace(e, new));
        }
        match (was_volatile, expire.is_some()) {
            (true, false) => self.volatile -= 1,
            (false, true) => self.volatile += 1,
            _ => {}
        }
    }

    /// Adds an entry whose key is known to be absent (after a failed lookup); returns its slot.
    pub fn insert_new(&mut self, hash: u64, entry: Entry) -> usize {
        if entry.expire().is_some() {
            self.volatile += 1;
        }
        self.table.insert_new(hash, entry)
    }

    /// Removes the entry in `slot`.
    pub fn remove_slot(&mut self, slot: usize) -> Entry {
        let e = self.table.remove_at(slot);
        if e.expire().is_some() {
            self.volatile -= 1;
        }
        e
    }

    /// Sets or clears the deadline of the entry in `slot`, keeping the volatile count right.
    pub fn set_expire(&mut self, slot: usize, expire: Option<i64>) {
        let e = self.table.at_mut(slot);
        match (e.expire().is_some(), expire.is_some()) {
            (true, false) => self.volatile -= 1,
            (false, true) => self.volatile += 1,
            _ => {}
        }
        e.set_expire(expire);
    }

    /// Exchanges the data (keys and their counts) with `other`, keeping each side's number,
    /// WATCH registrations, statistics and shared settings: a replica's swapdb load puts the
    /// dataset it built aside in place at once. Walk cursors restart.
    pub fn swap_data(&mut self, other: &mut Db) {
        std::mem::swap(&mut self.table, &mut other.table);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
        std::mem::swap(
            &mut self.hashes_with_field_ttls,
            &mut other.hashes_with_field_ttls,
        );
        for d in [&mut *self, other] {
            d.expire_cursor = 0;
            d.field_expire_cursor = 0;
            d.age_cursor = 0;
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.table.clear();
        self.volatile = 0;
        self.expire_cursor = 0;
    }

    /// One sampling round of active expiry: visits up to `max_visit` entries from the cursor,
    /// checks up to `sample` entries that have a deadline, removes the expired ones.
    /// Returns (checked, expired).
    pub fn expire_sample(
        &mut self,
        now_ms: i64,
        sample: usize,
        max_visit: usize,
    ) -> (usize, usize) {
        let (mut checked, mut expired, mut visited) = (0, 0, 0);
        while checked < sample && visited < max_visit && self.volatile > 0 {
            if self.expire_cursor >= self.table.len() {
                self.expire_cursor = 0;
                if self.table.is_empty() {
                    break;
                }
            }
            visited += 1;
            let slot = self.expire_cursor;
            if let Some(t) = self.table.at(slot).expire() {
                checked += 1;
                if t <= now_ms {
                    // The last entry moves into `slot`: look at it next, do not advance.
                    self.remove_expired(slot);
                    expired += 1;
                    continue;
                }
            }
            self.expire_cursor += 1;
        }
        (checked, expired)
    }

    /// Records that a hash of this db got field deadlines, so the active walk visits it.
    pub fn note_field_ttls(&mut self) {
        self.hashes_with_field_ttls = self.hashes_with_field_ttls.saturating_add(1);
    }

    /// One round of active hash-field expiry: visits up to `max_visit` entries from the walk's
    /// cursor and removes up to `per_hash` expired fields from each hash that has some, deleting
    /// hashes left empty. Returns the number of fields removed. When a full pass finds no hash
    /// with field deadlines, the walk stops until a hash command notes new ones.
    pub fn expire_hash_fields(&mut self, now_ms: i64, max_visit: usize, per_hash: usize) -> usize {
        use crate::object::Object;
        if self.hashes_with_field_ttls == 0 || self.table.is_empty() {
            return 0;
        }
        let (mut removed, mut visited, mut seen_ttls) = (0, 0, false);
        let log = self.logs_expired();
        while visited < max_visit {
            if self.field_expire_cursor >= self.table.len() {
                self.field_expire_cursor = 0;
                if !seen_ttls && visited >= self.table.len() {
                    self.hashes_with_field_ttls = 0;
                }
                if visited >= self.table.len() {
                    break;
                }
            }
            visited += 1;
            let slot = self.field_expire_cursor;
            if let Some(Object::Hash(h)) = self.table.at_mut(slot).obj_mut() {
                if h.has_field_ttls() {
                    seen_ttls = true;
                    let mut dead = Vec::new();
                    removed += h.expire_fields_into(now_ms, per_hash, log.then_some(&mut dead));
                    let emptied = h.is_empty();
                    if log && !dead.is_empty() {
                        let key = self.table.at(slot).key().to_vec();
                        self.note_expired_fields(&key, dead, emptied);
                    }
                    if emptied {
                        // The last entry moves into `slot`: look at it next.
                        self.remove_slot(slot);
                        self.expired_keys += 1;
                        continue;
                    }
                }
            }
            self.field_expire_cursor += 1;
        }
        removed
    }

    /// True when `key` exists and has not expired at `now_ms` (no lazy deletion: WATCH and
    /// its checks must not change the keyspace).
    pub fn is_live(&self, hash: u64, key: &[u8], now_ms: i64) -> bool {
        self.table
            .find(hash, key)
            .is_some_and(|s| !self.table.at(s).is_expired(now_ms))
    }

    /// Registers a client's dirty flag as watching `key`.
    pub fn watch(&mut self, key: &[u8], flag: &Arc<AtomicBool>) {
        self.watched
            .entry(key.into())
            .or_default()
            .push(flag.clone());
    }

    /// Removes a client's dirty flag from the watchers of `key`.
    pub fn unwatch(&mut self, key: &[u8], flag: &Arc<AtomicBool>) {
        if let Some(list) = self.watched.get_mut(key) {
            list.retain(|f| !Arc::ptr_eq(f, flag));
            if list.is_empty() {
                self.watched.remove(key);
                if self.watched.is_empty() {
                    self.watched = HashMap::new();
                }
            }
        }
    }

    /// Marks every client watching `key` as dirty (its EXEC will fail).
    pub fn touch_watched(&self, key: &[u8]) {
        if let Some(list) = self.watched.get(key) {
            for f in list {
                f.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Sum of remaining TTLs and count of volatile keys, sampled, for INFO's avg_ttl.
    pub fn ttl_stats(&self, now_ms: i64) -> (i64, usize) {
        let mut sum = 0i64;
        let mut n = 0usize;
        for e in self.table.iter().take(10_000) {
            if let Some(t) = e.expire() {
                sum = sum.saturating_add((t - now_ms).max(0));
                n += 1;
            }
        }
        (sum, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(db: &mut Db, k: &[u8], exp: Option<i64>) {
        db.put(hash_key(k), Entry::new(k, NewValue::Int(1), exp, 0));
    }

    #[test]
    fn insert_find_remove_keeps_index_consistent() {
        let mut db = Db::default();
        for i in 0..1000 {
            put(&mut db, format!("k{i}").as_bytes(), None);
        }
        assert_eq!(db.len(), 1000);
        for i in (0..1000).step_by(3) {
            let k = format!("k{i}");
            let slot = db.lookup(hash_key(k.as_bytes()), k.as_bytes(), 0).unwrap();
            db.remove_slot(slot);
        }
        for i in 0..1000 {
            let k = format!("k{i}");
            let found = db.lookup(hash_key(k.as_bytes()), k.as_bytes(), 0).is_some();
            assert_eq!(found, i % 3 != 0, "{k}");
        }
    }

    #[test]
    fn overwrite_keeps_counts_and_matches_put() {
        let mut db = Db::default();
        put(&mut db, b"a", None);
        let h = hash_key(b"a");
        let s = db.lookup(h, b"a", 0).unwrap();
        db.overwrite(s, NewValue::Str(b"hello"), Some(50), 0);
        assert_eq!(db.volatile, 1);
        let s = db.lookup(h, b"a", 0).unwrap();
        assert_eq!(db.entry(s).expire(), Some(50));
        db.overwrite(s, NewValue::Str(b"world"), None, 0);
        assert_eq!(db.volatile, 0);
        let s = db.lookup(h, b"a", 100).unwrap();
        assert!(matches!(
            db.entry(s).value(),
            crate::ValueRef::Str(b"world")
        ));
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn lazy_expiry_hides_and_removes() {
        let mut db = Db::default();
        put(&mut db, b"a", Some(100));
        put(&mut db, b"b", None);
        assert_eq!(db.volatile, 1);
        assert!(db.lookup(hash_key(b"a"), b"a", 99).is_some());
        assert!(db.lookup(hash_key(b"a"), b"a", 100).is_none());
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile, 0);
        assert_eq!(db.expired_keys, 1);
    }

    #[test]
    fn active_expiry_sampling_removes_expired() {
        let mut db = Db::default();
        for i in 0..100 {
            put(
                &mut db,
                format!("v{i}").as_bytes(),
                Some(if i % 2 == 0 { 10 } else { 1000 }),
            );
            put(&mut db, format!("p{i}").as_bytes(), None);
        }
        let mut total = 0;
        for _ in 0..50 {
            total += db.expire_sample(500, 20, 400).1;
        }
        assert_eq!(total, 50);
        assert_eq!(db.volatile, 50);
        assert_eq!(db.len(), 150);
    }
}
