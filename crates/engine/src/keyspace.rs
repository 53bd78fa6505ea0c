//! The keyspace: all databases, split into shards by key hash, each behind its own mutex.
//!
//! Every connection runs its commands on the thread that reads its socket; there is no
//! hand-off of commands between threads. Atomicity comes from locking: a command locks the
//! shards of all the keys it names (in ascending shard order, so two multi-key commands can
//! never deadlock), does all of its work, then unlocks. A keyspace-wide command (KEYS, SCAN,
//! FLUSHALL, SWAPDB...) locks every shard. A transaction or script locks the union of the
//! shards its commands need, once, for its whole run. See docs/ARCHITECTURE.md.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard, RwLock};
use smallvec::SmallVec;

use crate::access::Access;
use crate::db::Db;
use crate::entry::ValueRef;
use crate::hash_key;
use crate::object::Object;

/// All the databases of one shard.
pub struct Shard {
    pub dbs: Box<[Db]>,
}

impl Shard {
    #[inline]
    pub fn db(&mut self, db: usize) -> &mut Db {
        &mut self.dbs[db]
    }
}

/// Keeps each shard's mutex on its own cache line so that threads working on neighbouring
/// shards do not invalidate each other's lines.
#[repr(align(128))]
struct Padded<T>(T);

pub struct Keyspace {
    /// How entries record accesses (LRU or LFU, and LFU's parameters), shared by every db.
    pub access: Arc<Access>,
    /// Set while anyone needs to hear of removals by expiry (keyspace events, tracking, the
    /// AOF): every db then logs them in the expiring thread's log (see [`crate::db::Expired`]).
    pub log_expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Set while the server is a replica (see [`crate::db::Db::replica_expiry`]).
    pub replica_expiry: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Expired keys stay until this time (see [`crate::db::Db::expiry_held_until`]).
    pub expiry_held_until: std::sync::Arc<std::sync::atomic::AtomicI64>,
    shards: Box<[Padded<Mutex<Shard>>]>,
    mask: usize,
    ndb: usize,
    /// The shard a running script waits for out of order (see `Locked::extend`), or `NONE`.
    ooo_wanted: AtomicUsize,
    /// True while a point-in-time snapshot runs: the only cost of snapshots on the lock path
    /// while none runs is this one relaxed load.
    snapshot_on: AtomicBool,
    /// Per shard: not yet handed to the running snapshot.
    pending: Box<[AtomicBool]>,
    /// The running snapshot's visitor. Read only by a thread holding the lock of a pending
    /// shard; written only while every shard is locked (start) or none is pending (end).
    visit: RwLock<Option<Visitor>>,
    /// Serialises starting and ending snapshots.
    snapshot_gate: Mutex<()>,
}

/// Called once per shard of a point-in-time snapshot (BGSAVE, AOF rewrite), taken without
/// fork: by whoever locks the shard first after the snapshot started (the snapshot thread
/// walking the shards, or a command about to change it), with that lock held and before any
/// change. So every shard is seen exactly as it was when the snapshot started.
pub type Visitor = Arc<dyn Fn(usize, &Shard) + Send + Sync>;

const NONE: usize = usize::MAX;

type Guards<'a> = SmallVec<[(usize, MutexGuard<'a, Shard>); 8]>;

/// Shard index of a key hash. Uses bits 40.. of the hash: a shard's key index takes its home
/// bucket from the low 32 bits and its tags from the others (see [`crate::dense`]), so
/// reusing those would cluster keys inside a shard's table.
#[inline]
pub fn shard_of_hash(hash: u64, mask: usize) -> usize {
    ((hash >> 40) as usize) & mask
}

impl Keyspace {
    /// `shards` is rounded up to a power of two; `databases` is the `databases` config (16).
    pub fn new(shards: usize, databases: usize) -> Keyspace {
        let n = shards.max(1).next_power_of_two();
        let log_expired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let access = Arc::new(Access::default());
        let replica_expiry = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let expiry_held_until = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let shards = (0..n)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    dbs: (0..databases)
                        .map(|id| Db {
                            id,
                            log_expired: log_expired.clone(),
                            access: access.clone(),
                            replica_expiry: replica_expiry.clone(),
                            expiry_held_until: expiry_held_until.clone(),
                            ..Db::default()
                        })
                        .collect(),
                }))
            })
            .collect();
        Keyspace {
            access,
            log_expired,
            replica_expiry,
            expiry_held_until,
            shards,
            mask: n - 1,
            ndb: databases,
            ooo_wanted: AtomicUsize::new(NONE),
            snapshot_on: AtomicBool::new(false),
            pending: (0..n).map(|_| AtomicBool::new(false)).collect(),
            visit: RwLock::new(None),
            snapshot_gate: Mutex::new(()),
        }
    }

    /// Starts a point-in-time snapshot: `visit(shard index, shard)` will be called once per
    /// shard, with its lock held, before anything changes it. Returns false if one already
    /// runs. The start is atomic: every shard is locked while the snapshot is armed.
    pub fn begin_snapshot(&self, visit: Visitor) -> bool {
        self.begin_snapshot_with(visit, || {})
    }

    /// Like [`Keyspace::begin_snapshot`], also running `at_start` while every shard is
    /// locked: the AOF rewrite switches to a new incremental file at exactly the snapshot's
    /// point in time.
    pub fn begin_snapshot_with(&self, visit: Visitor, at_start: impl FnOnce()) -> bool {
        let _gate = self.snapshot_gate.lock();
        if self.snapshot_on.load(Ordering::Relaxed) {
            return false;
        }
        // Ordered locking that steps aside for a script locking out of order.
        let all = self.acquire_in_order(0..self.shards.len());
        at_start();
        *self.visit.write() = Some(visit);
        for p in self.pending.iter() {
            p.store(true, Ordering::Relaxed);
        }
        self.snapshot_on.store(true, Ordering::Release);
        drop(all);
        true
    }

    /// Visits every shard not visited yet (walking them in order, one lock at a time) and
    /// ends the snapshot. Run by the snapshot's own thread.
    pub fn finish_snapshot(&self) {
        let _gate = self.snapshot_gate.lock();
        for i in 0..self.shards.len() {
            drop(self.lock_shard(i));
        }
        self.snapshot_on.store(false, Ordering::Release);
        *self.visit.write() = None;
    }

    /// True while a snapshot runs.
    pub fn snapshot_running(&self) -> bool {
        self.snapshot_on.load(Ordering::Relaxed)
    }

    /// Called right after a shard lock is taken: feeds the shard to a running snapshot.
    #[inline]
    fn snap_hook(&self, idx: usize, shard: &Shard) {
        if self.snapshot_on.load(Ordering::Relaxed) {
            self.snap_hook_slow(idx, shard);
        }
    }

    #[cold]
    fn snap_hook_slow(&self, idx: usize, shard: &Shard) {
        if self.pending[idx].load(Ordering::Acquire)
            && self.pending[idx].swap(false, Ordering::AcqRel)
        {
            let v = self.visit.read().clone();
            if let Some(v) = v {
                v(idx, shard);
            }
        }
    }

    #[inline]
    pub fn shard_count(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    pub fn databases(&self) -> usize {
        self.ndb
    }

    #[inline]
    pub fn shard_of_key(&self, key: &[u8]) -> usize {
        self.shard_of(hash_key(key))
    }

    /// The shard holding keys of hash `hash`.
    #[inline]
    pub fn shard_of(&self, hash: u64) -> usize {
        shard_of_hash(hash, self.mask)
    }

    /// Locks nothing: for commands that touch no data.
    pub fn lock_none(&self) -> Locked<'_> {
        Locked {
            ks: self,
            guards: SmallVec::new(),
            all: false,
            hinted: KeyHint::default(),
        }
    }

    /// Locks the given shards (any order, duplicates allowed) in ascending order.
    pub fn lock_shards(&self, shards: &mut SmallVec<[usize; 8]>) -> Locked<'_> {
        if shards.len() > 1 {
            shards.sort_unstable();
            shards.dedup();
        }
        Locked {
            ks: self,
            guards: self.acquire_in_order(shards.iter().copied()),
            all: false,
            hinted: KeyHint::default(),
        }
    }

    /// Locks shards given in ascending order. The first is waited for plainly (nothing is
    /// held yet). For the others, a busy shard is waited for in short slices: if meanwhile a
    /// script needs, out of order, a shard this caller already holds, the caller lets go of
    /// everything and starts again, so the script can finish (see `Locked::extend`). Without
    /// a script in the way this is ordinary ordered locking, deadlock-free by the order.
    fn acquire_in_order(&self, order: impl Iterator<Item = usize> + Clone) -> Guards<'_> {
        'retry: loop {
            let mut guards: Guards<'_> = SmallVec::new();
            for i in order.clone() {
                if guards.is_empty() {
                    let g = self.shards[i].0.lock();
                    self.snap_hook(i, &g);
                    guards.push((i, g));
                    continue;
                }
                let g = match self.shards[i].0.try_lock() {
                    Some(g) => g,
                    None => loop {
                        if let Some(g) = self.shards[i].0.try_lock_for(Duration::from_micros(200)) {
                            break g;
                        }
                        let wanted = self.ooo_wanted.load(Ordering::Acquire);
                        if wanted != NONE && guards.iter().any(|(j, _)| *j == wanted) {
                            drop(guards);
                            while self.ooo_wanted.load(Ordering::Acquire) == wanted {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                            continue 'retry;
                        }
                    },
                };
                self.snap_hook(i, &g);
                guards.push((i, g));
            }
            return guards;
        }
    }

    /// Locks the shard of one key: the common fast path.
    #[inline]
    pub fn lock_one(&self, shard: usize) -> Locked<'_> {
        let mut guards = SmallVec::new();
        let g = self.shards[shard].0.lock();
        self.snap_hook(shard, &g);
        guards.push((shard, g));
        Locked {
            ks: self,
            guards,
            all: false,
            hinted: KeyHint::default(),
        }
    }

    /// Locks the shard of `key`, remembering its hash for [`Locked::key_hash`].
    #[inline]
    pub fn lock_key(&self, key: &[u8]) -> Locked<'_> {
        let hash = hash_key(key);
        let shard = shard_of_hash(hash, self.mask);
        let mut guards = SmallVec::new();
        let g = self.shards[shard].0.lock();
        self.snap_hook(shard, &g);
        guards.push((shard, g));
        // Built in place (through `lock_one` it was built there and then copied).
        Locked {
            ks: self,
            guards,
            all: false,
            hinted: KeyHint {
                ptr: key.as_ptr() as usize,
                len: key.len(),
                hash,
            },
        }
    }

    /// Locks every shard, in order.
    pub fn lock_all(&self) -> Locked<'_> {
        Locked {
            ks: self,
            guards: self.acquire_in_order(0..self.shards.len()),
            all: true,
            hinted: KeyHint::default(),
        }
    }

    /// Locks one shard by index, for maintenance work that walks shards one at a time
    /// (active expiry, INFO keyspace counts).
    pub fn lock_shard(&self, shard: usize) -> MutexGuard<'_, Shard> {
        let g = self.shards[shard].0.lock();
        self.snap_hook(shard, &g);
        g
    }

    /// Starts loading the index bucket where a key of hash `hash` is looked up in database
    /// `db`, for a command that will run shortly (the connection looks ahead in a
    /// pipeline). A hint: skipped when the shard is busy, and harmless if the command turns
    /// out to use the bytes otherwise.
    pub fn prefetch(&self, db: usize, hash: u64, stage: crate::Stage) {
        let shard = shard_of_hash(hash, self.mask);
        if let Some(g) = self.shards[shard].0.try_lock() {
            if let Some(d) = g.dbs.get(db) {
                d.table.prefetch(hash, stage);
            }
        }
    }

    /// Calls `f` with the boxed value of `key` (of hash `hash`) in database `db`, for hints
    /// only (the connection prefetches the members a pipeline's next commands will look up
    /// in one big set or hash): skipped when the shard is busy or the key holds no boxed
    /// value, and the value may be logically expired.
    pub fn peek_object(&self, db: usize, hash: u64, key: &[u8], f: impl FnOnce(&Object)) {
        let shard = shard_of_hash(hash, self.mask);
        if let Some(g) = self.shards[shard].0.try_lock() {
            if let Some(d) = g.dbs.get(db) {
                if let Some(slot) = d.table.find(hash, key) {
                    if let ValueRef::Obj(o) = d.table.at(slot).value() {
                        f(o);
                    }
                }
            }
        }
    }

    /// Locks one shard if nobody holds it: eviction samples shards this way, so it never
    /// waits behind a long transaction or script, and never holds a shard while waiting.
    pub fn try_lock_shard(&self, shard: usize) -> Option<MutexGuard<'_, Shard>> {
        let g = self.shards[shard].0.try_lock()?;
        self.snap_hook(shard, &g);
        Some(g)
    }
}

/// The set of shards a command holds locked. Dropping it unlocks them.
pub struct Locked<'a> {
    ks: &'a Keyspace,
    guards: Guards<'a>,
    all: bool,
    /// The key [`Keyspace::lock_key`] hashed to pick the shard: its address, length and
    /// hash, so the command's lookup of that same argument does not hash it again.
    hinted: KeyHint,
}

/// See [`Locked::key_hash`]. An address identifies the key only while the command runs:
/// its arguments are borrowed, immutable and alive for as long as its `Locked`.
#[derive(Clone, Copy, Default)]
struct KeyHint {
    ptr: usize,
    len: usize,
    hash: u64,
}

impl<'a> Locked<'a> {
    pub fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// True when every shard is held.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// [`hash_key`] of `key`, without hashing again when `key` is the very argument
    /// [`Keyspace::lock_key`] locked (same address and length: the same bytes).
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        if key.as_ptr() as usize == self.hinted.ptr && key.len() == self.hinted.len {
            self.hinted.hash
        } else {
            hash_key(key)
        }
    }

    /// Starts loading, by [`Stage`](crate::Stage), where a lookup of `hash` in database `db`
    /// goes, if its shard is held: a multi-key command prefetches its keys so that their
    /// lookups' cache misses overlap instead of following one another.
    pub fn prefetch(&self, db: usize, hash: u64, stage: crate::Stage) {
        let idx = shard_of_hash(hash, self.ks.mask);
        let shard = if self.all {
            self.guards.get(idx)
        } else {
            self.guards.iter().find(|(i, _)| *i == idx)
        };
        if let Some(d) = shard.and_then(|(_, g)| g.dbs.get(db)) {
            d.table.prefetch(hash, stage);
        }
    }

    /// The shard holding `hash`. Panics if the command did not lock it: that is a bug in the
    /// command's key declaration, caught by the tests, never a user error.
    #[inline]
    pub fn shard(&mut self, hash: u64) -> &mut Shard {
        let idx = shard_of_hash(hash, self.ks.mask);
        if self.all {
            return &mut self.guards[idx].1;
        }
        for (i, g) in self.guards.iter_mut() {
            if *i == idx {
                return g;
            }
        }
        panic!("shard {idx} used without being locked");
    }

    /// Database `db` in the shard holding `hash`.
    #[inline]
    pub fn db(&mut self, db: usize, hash: u64) -> &mut Db {
        self.shard(hash).db(db)
    }

    /// Every locked shard, in ascending order.
    pub fn shards<'s>(&'s mut self) -> impl Iterator<Item = &'s mut Shard> + use<'s, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }

    /// The locked shard with index `idx`, if held.
    pub fn shard_at(&mut self, idx: usize) -> Option<&mut Shard> {
        if self.all {
            return self.guards.get_mut(idx).map(|(_, g)| &mut **g);
        }
        self.guards
            .iter_mut()
            .find(|(i, _)| *i == idx)
            .map(|(_, g)| &mut **g)
    }

    /// True when shard `idx` is held.
    pub fn holds(&self, idx: usize) -> bool {
        self.all || self.guards.iter().any(|(i, _)| *i == idx)
    }

    /// Adds shard `idx` to the held set, for a script that touches a key it did not declare.
    ///
    /// Scripts run one at a time (the caller guarantees it), so at most one thread ever
    /// locks out of order. A free shard is simply taken. A busy shard above every held one
    /// is waited for plainly: that is ordinary ordered locking. A busy shard below a held one
    /// is the dangerous case: its holder may be an ordered locker waiting for one of ours.
    /// The script then announces the shard in `ooo_wanted`; ordered lockers waiting for a
    /// shard notice within a short slice that they hold the wanted one and let go of all
    /// they hold (`Keyspace::acquire_in_order`), and single-shard holders never wait while
    /// holding, so the wait always ends.
    pub fn extend(&mut self, idx: usize) {
        if self.holds(idx) {
            return;
        }
        let m = &self.ks.shards[idx].0;
        let g = match m.try_lock() {
            Some(g) => g,
            None if self.guards.last().is_none_or(|(top, _)| *top < idx) => m.lock(),
            None => {
                self.ks.ooo_wanted.store(idx, Ordering::Release);
                let g = m.lock();
                self.ks.ooo_wanted.store(NONE, Ordering::Release);
                g
            }
        };
        self.ks.snap_hook(idx, &g);
        let at = self.guards.partition_point(|(i, _)| *i < idx);
        self.guards.insert(at, (idx, g));
        if self.guards.len() == self.ks.shards.len() {
            self.all = true;
        }
    }

    /// Holds every shard from now on (a script running a keyspace-wide command).
    pub fn extend_all(&mut self) {
        for i in 0..self.ks.shards.len() {
            self.extend(i);
        }
    }

    /// Number of keys in `db` across the locked shards.
    pub fn dbsize(&mut self, db: usize) -> usize {
        self.shards().map(|s| s.dbs[db].len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, NewValue};

    #[test]
    fn keys_spread_over_shards_and_can_be_found() {
        let ks = Keyspace::new(16, 16);
        let mut used = [0usize; 16];
        for i in 0..10_000 {
            let key = format!("key:{i}");
            let h = hash_key(key.as_bytes());
            let s = ks.shard_of_key(key.as_bytes());
            used[s] += 1;
            let mut l = ks.lock_one(s);
            l.db(0, h)
                .put(h, Entry::new(key.as_bytes(), NewValue::Int(i), None, 0));
        }
        assert!(used.iter().all(|&n| n > 400), "{used:?}");
        assert_eq!(ks.lock_all().dbsize(0), 10_000);
    }

    #[test]
    fn locking_many_shards_sorts_and_dedups() {
        let ks = Keyspace::new(8, 1);
        let mut want: SmallVec<[usize; 8]> = SmallVec::from_slice(&[5, 1, 5, 3]);
        let mut l = ks.lock_shards(&mut want);
        assert_eq!(want.as_slice(), &[1, 3, 5]);
        assert!(l.shard_at(3).is_some());
        assert!(l.shard_at(2).is_none());
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::entry::{Entry, NewValue};
    use std::sync::Mutex as StdMutex;

    /// A snapshot sees every shard as it was when it started, even when commands change
    /// shards before the snapshot thread reaches them.
    #[test]
    fn snapshot_is_point_in_time() {
        let ks = Keyspace::new(8, 1);
        for i in 0..100i64 {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            ks.lock_one(ks.shard_of_key(k.as_bytes()))
                .db(0, h)
                .put(h, Entry::new(k.as_bytes(), NewValue::Int(i), None, 0));
        }
        let seen: Arc<StdMutex<Vec<(usize, usize)>>> = Arc::default();
        let s2 = seen.clone();
        assert!(ks.begin_snapshot(Arc::new(move |i, shard: &Shard| {
            s2.lock().unwrap().push((i, shard.dbs[0].len()))
        })));
        assert!(!ks.begin_snapshot(Arc::new(|_, _| {})));
        // Writes after the start: each first serialises its shard as it was.
        for i in 100..200i64 {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            ks.lock_one(ks.shard_of_key(k.as_bytes()))
                .db(0, h)
                .put(h, Entry::new(k.as_bytes(), NewValue::Int(i), None, 0));
        }
        ks.finish_snapshot();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 8);
        assert_eq!(seen.iter().map(|x| x.1).sum::<usize>(), 100);
        assert!(!ks.snapshot_running());
    }
}
