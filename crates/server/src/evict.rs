//! `maxmemory`: checking memory use before commands and evicting keys, as Redis 7.2's
//! evict.c and processCommand do, on a multi-threaded keyspace.
//!
//! # When
//! Before every command, while `maxmemory` is set, the worker compares the allocator's byte
//! count (`crate::alloc`) with the limit. With `maxmemory 0` (the default) the whole
//! feature costs the hot path one relaxed load and a branch. With a limit, one more load of
//! the approximate counter; only when it comes near the limit does the worker sum the exact
//! per-thread counters, and only above the limit does it evict.
//!
//! Eviction runs in the worker that is about to execute the command, **before** the
//! command takes any shard lock (like Redis's processCommand calling performEvictions). So
//! an evicting thread holds at most one shard lock at a time, never waits for a shard while
//! holding one, and can never deadlock with ordered lockers, transactions or scripts.
//! Shards are taken with `try_lock` while sampling: eviction skips a busy shard rather than
//! wait behind a long transaction.
//!
//! # Which keys
//! Policies are Redis's eight. The approximated LRU/LFU/TTL policies keep Redis's design:
//! each round samples `maxmemory-samples` keys and merges them into a pool of the 16 best
//! candidates kept across rounds (evictionPoolPopulate); the best live candidate goes.
//! Samples are uniform: a random shard, then random slots of its dense entry vector (Redis
//! samples runs of neighbouring hash buckets). A candidate whose score dropped since it was
//! sampled (the key was used meanwhile) is skipped instead of evicted. `volatile-*`
//! policies sample only keys with a deadline and fail when none is left. Expired keys met
//! while sampling are removed as expired, not counted as evicted.
//!
//! Evictions are serialised by the pool's mutex: concurrent writers do not evict twice for
//! the same shortfall. The time one call may spend is bounded by
//! `maxmemory-eviction-tenacity` (Redis's formula); past it the command runs anyway (the
//! limit is being worked on) and the background thread carries on, like Redis's
//! evictionTimeProc.
//!
//! # Side effects of an eviction
//! Under the key's shard lock: WATCHers of the key are made dirty, a DEL goes to the AOF,
//! the `evicted` keyspace event (class `e`) is published, tracking clients get an
//! invalidation, and INFO `evicted_keys` counts it.
//!
//! # Latency events
//! As Redis's performEvictions: `eviction-cycle` times a run that had memory to free (from
//! the choice of the amount to free to the outcome), `eviction-del` each key's deletion
//! (not its side effects). Redis's `eviction-lazyfree` (a run that found nothing to evict
//! waiting for the lazy-free thread) has no counterpart: a run here never waits for it.
//!
//! # The process bound
//! See [`Guard`]: on top of Redis's rule, a feedback loop keeps the resident set size close
//! to `maxmemory` by lowering the eviction target when fragmentation makes RSS exceed the
//! limit.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cinnabar_engine::keyspace::Shard;
use cinnabar_engine::{hash_key, Entry};
use parking_lot::{Mutex, MutexGuard};
use rand::Rng;

use crate::alloc;
use crate::dispatch::Client;
use crate::ops::latency;
use crate::server::{now_ms, Server};

/// The error of a write refused because memory is full.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Candidates kept between eviction rounds (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;

/// The approximate counter may lag the exact one by about this much (see `crate::alloc`):
/// below `limit - SLACK` no exact sum is needed.
const SLACK: u64 = 16 * alloc::PUBLISH as u64;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    NoEviction = 0,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(s: &str) -> Policy {
        match s {
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    fn from_u8(n: u8) -> Policy {
        match n {
            1 => Policy::AllkeysLru,
            2 => Policy::AllkeysLfu,
            3 => Policy::AllkeysRandom,
            4 => Policy::VolatileLru,
            5 => Policy::VolatileLfu,
            6 => Policy::VolatileRandom,
            7 => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    /// Only keys with a deadline may go.
    fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn is_lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }

    fn is_random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// The result of checking memory before a command (Redis's EVICT_OK/RUNNING/FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Within the limit (or eviction is not allowed right now).
    Ok,
    /// Over the limit, keys are being evicted (in the background).
    Running,
    /// Over the limit and nothing can be evicted: deny-oom commands are refused.
    Fail,
}

/// One candidate of the pool. Key buffers are reused between rounds.
struct Candidate {
    score: u64,
    shard: usize,
    db: usize,
    key: Vec<u8>,
}

/// The eviction pool, sorted by ascending score (the best candidate last).
#[derive(Default)]
struct Pool {
    entries: Vec<Candidate>,
    spare: Vec<Vec<u8>>,
    /// Bytes given back by expired keys removed while sampling, not yet counted as freed.
    expired_freed: u64,
}

impl Pool {
    /// Merges a sample: kept if the pool has room or it beats the worst candidate.
    fn offer(&mut self, score: u64, shard: usize, db: usize, key: &[u8]) {
        if self.entries.len() == POOL_SIZE && score <= self.entries[0].score {
            return;
        }
        if self
            .entries
            .iter()
            .any(|c| c.shard == shard && c.db == db && c.key == key)
        {
            return;
        }
        let mut buf = if self.entries.len() == POOL_SIZE {
            self.entries.remove(0).key
        } else {
            self.spare.pop().unwrap_or_default()
        };
        buf.clear();
        buf.extend_from_slice(key);
        let at = self.entries.partition_point(|c| c.score <= score);
        self.entries.insert(
            at,
            Candidate {
                score,
                shard,
                db,
                key: buf,
            },
        );
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }

    fn recycle(&mut self, key: Vec<u8>) {
        if key.capacity() <= 256 {
            self.spare.push(key);
        }
    }

    fn clear(&mut self) {
        while let Some(c) = self.entries.pop() {
            self.recycle(c.key);
        }
    }
}

/// The RSS bound (Cinnabar's addition to Redis's rule).
///
/// `used_memory` counts the bytes of live blocks; the process's resident set is larger by
/// the allocator's fragmentation (partly filled pages, size-class rounding already counted),
/// its caches and the program itself. Under a churn of mixed value sizes that difference
/// is what lets RSS run away from `maxmemory`. Every tick of the background thread compares
/// RSS with `maxmemory * (1 + RSS_MARGIN) + base`, where `base` is the RSS the server had
/// before it held data; while RSS is above, the eviction target is lowered by the excess
/// (and the allocator asked to return free pages); while it is comfortably below, the
/// target climbs back to `maxmemory`. Eviction never aims *above* `maxmemory`, so Redis's
/// rule (used_memory <= maxmemory) always holds.
pub struct Guard {
    /// The target eviction aims at (bytes of used_memory); equals maxmemory when unneeded.
    target: AtomicU64,
    /// RSS of the process before it held data (binary, stacks, runtime), measured once.
    base: AtomicU64,
}

/// RSS may exceed maxmemory by this fraction (plus the base) before the guard acts.
const RSS_MARGIN: f64 = 0.05;
/// The guard only acts for limits of at least this size: below it the process's fixed
/// costs (thread stacks, buffers, the binary) dominate RSS, and no amount of eviction would
/// bring RSS near the limit.
const GUARD_MIN: u64 = 64 << 20;

/// Progress of the LRU sweep (see `cinnabar_engine::access`): where it is and how many
/// entries it may visit per tick, sized so that a whole pass takes about [`SWEEP_PASS`].
struct Sweep {
    shard: usize,
    db: usize,
    budget: usize,
    pass_keys: usize,
}

/// Target duration of one pass of the LRU sweep over every key; it must stay well below
/// the 29 hours after which an unswept fine stamp would wrap.
const SWEEP_PASS: Duration = Duration::from_secs(30 * 60);
/// Ticks of the background thread per second.
const TICKS_PER_SEC: u64 = 10;
/// Fewest entries the sweep visits per tick, and most per shard lock hold.
const SWEEP_MIN: usize = 1000;

/// Eviction state of a server.
pub struct State {
    /// `maxmemory` in bytes; 0: no limit. The only thing the hot path reads while 0.
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicUsize,
    tenacity: AtomicU32,
    lazy: AtomicBool,
    guard: Guard,
    /// The pool; its mutex also serialises evictions.
    pool: Mutex<Pool>,
    /// INFO evicted_keys.
    pub evicted_keys: AtomicU64,
    /// When the limit started being exceeded (µs since the epoch, 0: not exceeded), and the
    /// total of finished periods (INFO *_eviction_exceeded_time).
    exceeded_since_us: AtomicU64,
    exceeded_total_us: AtomicU64,
    /// Wakes the background thread: set when a foreground eviction ran out of time or the
    /// limit changed.
    wake: std::sync::Mutex<bool>,
    cv: Condvar,
    /// Highest used_memory seen (INFO used_memory_peak).
    pub peak: AtomicU64,
    /// used_memory when the server had started (INFO used_memory_startup).
    pub startup: AtomicU64,
    sweep: Mutex<Sweep>,
    /// Until this time (ms), nothing was found to evict: commands over the limit fail fast
    /// instead of each searching every shard again (see [`NOTHING_TO_EVICT_MS`]).
    nothing_until_ms: AtomicU64,
}

/// How long "nothing to evict" is believed: finding out takes a look at every shard, which
/// Redis does not need (it keeps per-db counts) and which must not run on every command of a
/// server stuck at its limit.
const NOTHING_TO_EVICT_MS: u64 = 100;

impl Default for State {
    fn default() -> State {
        State {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(Policy::NoEviction as u8),
            samples: AtomicUsize::new(5),
            tenacity: AtomicU32::new(10),
            lazy: AtomicBool::new(false),
            guard: Guard {
                target: AtomicU64::new(0),
                base: AtomicU64::new(0),
            },
            pool: Mutex::new(Pool::default()),
            evicted_keys: AtomicU64::new(0),
            exceeded_since_us: AtomicU64::new(0),
            exceeded_total_us: AtomicU64::new(0),
            wake: std::sync::Mutex::new(false),
            cv: Condvar::new(),
            peak: AtomicU64::new(0),
            startup: AtomicU64::new(0),
            sweep: Mutex::new(Sweep {
                shard: 0,
                db: 0,
                budget: SWEEP_MIN,
                pass_keys: 0,
            }),
            nothing_until_ms: AtomicU64::new(0),
        }
    }
}

impl State {
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// The used_memory figure eviction aims at: maxmemory, or lower while the RSS guard
    /// holds it down. Under noeviction it is maxmemory itself: the guard never makes writes
    /// fail before the limit.
    pub fn target(&self) -> u64 {
        let max = self.maxmemory.load(Ordering::Relaxed);
        let t = self.guard.target.load(Ordering::Relaxed);
        if t == 0 || self.policy() == Policy::NoEviction {
            max
        } else {
            t.min(max)
        }
    }

    /// Milliseconds the limit has been exceeded, in total and in the current period.
    pub fn exceeded_ms(&self) -> (u64, u64) {
        let since = self.exceeded_since_us.load(Ordering::Relaxed);
        let current = if since == 0 {
            0
        } else {
            (crate::server::now_us() as u64).saturating_sub(since)
        };
        (
            (self.exceeded_total_us.load(Ordering::Relaxed) + current) / 1000,
            current / 1000,
        )
    }

    /// Forgets the eviction statistics (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        self.evicted_keys.store(0, Ordering::Relaxed);
        self.exceeded_total_us.store(0, Ordering::Relaxed);
        let since = self.exceeded_since_us.load(Ordering::Relaxed);
        if since != 0 {
            self.exceeded_since_us
                .store(crate::server::now_us() as u64, Ordering::Relaxed);
        }
    }

    fn note_outcome(&self, outcome: Outcome) {
        let since = self.exceeded_since_us.load(Ordering::Relaxed);
        match outcome {
            Outcome::Ok
                if since != 0
                    && self
                        .exceeded_since_us
                        .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok() =>
            {
                let now = crate::server::now_us() as u64;
                self.exceeded_total_us
                    .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
            }
            Outcome::Running | Outcome::Fail if since == 0 => {
                let _ = self.exceeded_since_us.compare_exchange(
                    0,
                    crate::server::now_us() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            _ => {}
        }
    }

    /// Wakes the background eviction thread.
    pub fn kick(&self) {
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        *w = true;
        self.cv.notify_one();
    }

    /// Updates the peak with the current figure and returns it.
    pub fn note_peak(&self, used: u64) -> u64 {
        self.peak.fetch_max(used, Ordering::Relaxed).max(used)
    }
}

/// Reads the eviction parameters from the configuration (at start-up and after CONFIG SET),
/// including the keyspace's LRU/LFU mode, and wakes the background thread if the new limit
/// is already exceeded.
pub fn configure(server: &Server) {
    let c = &server.config;
    let st = &server.evict;
    let policy = Policy::parse(&c.get("maxmemory-policy"));
    st.policy.store(policy as u8, Ordering::Relaxed);
    st.samples.store(
        c.get_i64("maxmemory-samples").clamp(1, MAX_SAMPLES as i64) as usize,
        Ordering::Relaxed,
    );
    st.tenacity.store(
        c.get_i64("maxmemory-eviction-tenacity").clamp(0, 100) as u32,
        Ordering::Relaxed,
    );
    st.lazy
        .store(c.get_bool("lazyfree-lazy-eviction"), Ordering::Relaxed);
    server.keyspace.access.configure(
        policy.is_lfu(),
        c.get_i64("lfu-log-factor").clamp(0, u32::MAX as i64) as u32,
        c.get_i64("lfu-decay-time").clamp(0, u32::MAX as i64) as u32,
    );
    let max = c.get_i64("maxmemory").max(0) as u64;
    st.nothing_until_ms.store(0, Ordering::Relaxed);
    let old = st.maxmemory.swap(max, Ordering::Relaxed);
    if old != max {
        // Candidates are re-checked before eviction anyway; try_lock because CONFIG SET may
        // run inside EXEC holding shard locks an evictor (holding the pool) may wait for.
        if let Some(mut pool) = st.pool.try_lock() {
            pool.clear();
        }
        st.guard.target.store(0, Ordering::Relaxed);
        if max != 0 {
            // Lower limits take effect promptly: rounding the counter now avoids waiting for
            // the next resync, and the background thread starts evicting down.
            alloc::resync();
            if alloc::used() > max {
                tracing::warn!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.",
                    alloc::used()
                );
            }
            st.kick();
        }
    }
    // Keys freed by eviction should leave the process soon, not a second later.
    alloc::set_purge_delay(if max != 0 { 10 } else { 1000 });
    // `disable-thp yes` (Redis's default) turns huge pages off for the process, as Redis
    // does: a 2 MB huge page stays resident while any 4 KB of it is used, which kept RSS
    // far above what the data needs once eviction frees memory here and there, made each
    // idle connection's query buffer cost all its pages, and made a flooded subscriber cost
    // 44 MB of RSS under a 32 MB limit (33.5 MB without; Redis 7.2.4 33.7 MB).
    if c.get_bool("disable-thp") {
        alloc::disable_thp();
    }
}

/// Memory the limit does not count (Redis's freeMemoryGetNotCountedMemory): the AOF buffer,
/// and the messages queued for Pub/Sub and tracking clients (Redis writes those to the
/// sockets before its next command; here they may still wait in mailboxes, and they are
/// mostly what eviction itself produced).
pub fn not_counted(server: &Server) -> u64 {
    crate::persist::aof::buffer_bytes(server)
        + crate::pubsub::QUEUED_BYTES.load(Ordering::Relaxed) as u64
}

/// True when used memory, as the limit counts it, is above `target`.
fn over(server: &Server, target: u64) -> bool {
    alloc::used().saturating_sub(not_counted(server)) > target
}

/// Redis's evictionTimeLimitUs: how long one call may evict, from the tenacity (0..100).
fn time_limit(tenacity: u32) -> Duration {
    let us = if tenacity <= 10 {
        50 * tenacity as u64
    } else if tenacity < 100 {
        (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64
    } else {
        u64::MAX
    };
    Duration::from_micros(us)
}

/// Called by the dispatcher before a command while `maxmemory` is set. Evicts if needed and
/// returns true when memory is over the limit and nothing could be evicted (Redis's
/// `performEvictions() == EVICT_FAIL`): deny-oom commands must then be refused.
#[inline]
pub fn before_command(server: &Server, client: &mut Client) -> bool {
    let st = &server.evict;
    let target = st.target();
    if alloc::used_approx() + SLACK <= target {
        if st.exceeded_since_us.load(Ordering::Relaxed) != 0 {
            st.note_outcome(Outcome::Ok);
        }
        return false;
    }
    perform(server, Some(client), target, false) == Outcome::Fail
}

/// Redis's performEvictions: evicts until used memory is within `target`, nothing is left
/// to evict, or the time limit is reached (`background` callers have none).
fn perform(server: &Server, mut me: Option<&mut Client>, target: u64, background: bool) -> Outcome {
    let st = &server.evict;
    // No eviction while a script is stuck (busy) or the dataset loads (isSafeToPerformEvictions).
    if server.scripts.busy.load(Ordering::Relaxed) || server.persist.is_loading() {
        return Outcome::Ok;
    }
    if !over(server, target) {
        st.note_outcome(Outcome::Ok);
        return Outcome::Ok;
    }
    let policy = st.policy();
    if policy == Policy::NoEviction
        || now_ms() as u64 <= st.nothing_until_ms.load(Ordering::Relaxed)
    {
        st.note_outcome(Outcome::Fail);
        return Outcome::Fail;
    }
    let limit = if background {
        Duration::from_millis(2)
    } else {
        time_limit(st.tenacity.load(Ordering::Relaxed))
    };
    let start = Instant::now();
    let cycle = latency::Timer::start(server);
    let mut pool = st.pool.lock();
    let lazy = st.lazy.load(Ordering::Relaxed);
    // As Redis: the amount to free is fixed now, and each deletion counts only what the
    // deletion itself gave back. Memory its side effects take (invalidation messages, events,
    // the AOF's DEL) does not make this call evict more: that would feed back into itself.
    let to_free = alloc::used()
        .saturating_sub(not_counted(server))
        .saturating_sub(target);
    let mut freed = 0u64;
    let mut evicted = 0u64;
    let outcome = loop {
        if freed >= to_free {
            break Outcome::Ok;
        }
        // The limit may be lifted while a long run is under way (the background thread's):
        // what is written after `CONFIG SET maxmemory 0` must not be evicted by a run that
        // aimed at the old limit.
        if st.maxmemory.load(Ordering::Relaxed) == 0 {
            break Outcome::Ok;
        }
        match evict_one(server, &mut pool, me.as_deref_mut(), policy, lazy) {
            Some(bytes) => {
                freed += bytes + std::mem::take(&mut pool.expired_freed);
                evicted += 1;
            }
            None => {
                st.nothing_until_ms
                    .store(now_ms() as u64 + NOTHING_TO_EVICT_MS, Ordering::Relaxed);
                break Outcome::Fail;
            }
        }
        if evicted.is_multiple_of(16) {
            // Values freed by the lazy-free thread may already have got us there.
            if lazy && !over(server, target) {
                break Outcome::Ok;
            }
            if start.elapsed() > limit {
                if !background {
                    st.kick();
                }
                break Outcome::Running;
            }
        }
    };
    drop(pool);
    cycle.end(server, "eviction-cycle");
    st.note_outcome(outcome);
    outcome
}

/// A key's score in the pool: higher is a better candidate (Redis's "idle").
fn score(server: &Server, policy: Policy, e: &Entry, now: i64) -> u64 {
    let access = &server.keyspace.access;
    match policy {
        Policy::VolatileTtl => u64::MAX - e.expire().unwrap_or(i64::MAX).max(0) as u64,
        p if p.is_lfu() => 255 - access.freq(e.clock(), now).min(255) as u64,
        _ => access.idle_ms(e.clock(), now),
    }
}

/// Evicts one key. Returns the bytes it gave back (freed here, or handed to the lazy-free
/// thread), or None when no key can be evicted.
fn evict_one(
    server: &Server,
    pool: &mut Pool,
    me: Option<&mut Client>,
    policy: Policy,
    lazy: bool,
) -> Option<u64> {
    if policy.is_random() {
        return evict_random(server, me, policy, lazy);
    }
    let mut me = me;
    let samples = server.evict.samples.load(Ordering::Relaxed);
    // Rounds that found candidates but could not evict any (all used meanwhile, or their
    // shards busy): bounded so a pathological case cannot spin forever.
    for _ in 0..1000 {
        let now = now_ms();
        if !populate(server, pool, policy, samples, now) && pool.entries.is_empty() {
            return None;
        }
        while let Some(c) = pool.pop_best() {
            let done = try_evict(server, me.as_deref_mut(), &c, policy, lazy, now);
            pool.recycle(c.key);
            if let Some(r) = done {
                return Some(r);
            }
        }
    }
    None
}

/// The most keys a round samples (`maxmemory-samples` is clamped to it, as Redis's range).
const MAX_SAMPLES: usize = 64;

/// Samples up to `samples` eligible keys into the pool, from random shards (all shards, in
/// order, when random picks find nothing: the keyspace may be nearly empty). Returns whether
/// any eligible key exists.
fn populate(server: &Server, pool: &mut Pool, policy: Policy, samples: usize, now: i64) -> bool {
    let ks = &server.keyspace;
    let n = ks.shard_count();
    let mut rng = rand::thread_rng();
    let mut got = 0;
    for _ in 0..samples * 2 + 8 {
        if got >= samples {
            return true;
        }
        let s = rng.gen_range(0..n);
        if let Some(mut shard) = ks.try_lock_shard(s) {
            got += sample_shard(server, &mut shard, s, pool, policy, samples - got, now);
        }
    }
    if got > 0 {
        return true;
    }
    let start = rng.gen_range(0..n);
    for i in 0..n {
        let s = (start + i) % n;
        let mut shard = ks.lock_shard(s);
        got += sample_shard(server, &mut shard, s, pool, policy, samples - got, now);
        drop(shard);
        if got >= samples {
            break;
        }
    }
    got > 0
}

/// Samples up to `want` eligible keys of one shard (across its databases) into the pool.
fn sample_shard(
    server: &Server,
    shard: &mut MutexGuard<'_, Shard>,
    s: usize,
    pool: &mut Pool,
    policy: Policy,
    want: usize,
    now: i64,
) -> usize {
    let volatile = policy.volatile_only();
    let mut rng = rand::thread_rng();
    let mut got = 0;
    for (dbi, db) in shard.dbs.iter_mut().enumerate() {
        if got >= want {
            break;
        }
        if db.is_empty() || (volatile && db.volatile == 0) {
            continue;
        }
        let len = db.len();
        if !volatile {
            // The slots are picked first and their entries prefetched: a sampled entry is
            // cold (that is the point of sampling), and the misses then overlap instead of
            // following each other (they were the eviction's main cost under a churn).
            let k = (want - got).min(len).min(MAX_SAMPLES);
            let mut slots = [0usize; MAX_SAMPLES];
            for slot in &mut slots[..k] {
                *slot = rng.gen_range(0..len);
                db.entry(*slot).prefetch();
            }
            for &slot in &slots[..k] {
                // An expired key removed below moved the last entry into its slot.
                if slot >= db.len() {
                    continue;
                }
                if db.entry(slot).is_expired(now) {
                    pool.expired_freed += remove_expired(server, db, slot);
                    continue;
                }
                let e = db.entry(slot);
                pool.offer(score(server, policy, e, now), s, dbi, e.key());
                got += 1;
            }
        } else {
            // Keys with a deadline are interleaved with the others: walk from a random slot.
            let mut slot = rng.gen_range(0..len);
            let mut visits = len.min(256 * want);
            while got < want && visits > 0 && !db.is_empty() {
                visits -= 1;
                slot %= db.len();
                let e = db.entry(slot);
                if e.expire().is_some() {
                    if e.is_expired(now) {
                        // The last entry moves into `slot`: look at it next.
                        pool.expired_freed += remove_expired(server, db, slot);
                        continue;
                    }
                    pool.offer(score(server, policy, e, now), s, dbi, e.key());
                    got += 1;
                }
                slot += 1;
            }
        }
    }
    got
}

/// Evicts a pool candidate if it still qualifies: present, eligible, and not used since it
/// was sampled (its score did not drop).
fn try_evict(
    server: &Server,
    me: Option<&mut Client>,
    c: &Candidate,
    policy: Policy,
    lazy: bool,
    now: i64,
) -> Option<u64> {
    let ks = &server.keyspace;
    // A busy shard: another candidate will do.
    let mut shard = ks.try_lock_shard(c.shard)?;
    let db = shard.db(c.db);
    let h = hash_key(&c.key);
    let slot = db.find_raw(h, &c.key)?;
    let e = db.entry(slot);
    if policy.volatile_only() && e.expire().is_none() {
        return None;
    }
    if e.is_expired(now) {
        return Some(remove_expired(server, db, slot));
    }
    if score(server, policy, e, now) < c.score {
        return None;
    }
    Some(delete(server, me, &mut shard, c.db, slot, lazy))
}

/// allkeys-random / volatile-random: a random key of a random shard.
fn evict_random(
    server: &Server,
    me: Option<&mut Client>,
    policy: Policy,
    lazy: bool,
) -> Option<u64> {
    let ks = &server.keyspace;
    let n = ks.shard_count();
    let volatile = policy.volatile_only();
    let mut rng = rand::thread_rng();
    let now = now_ms();
    let start = rng.gen_range(0..n);
    // Random shards first; then every shard in order, so a nearly empty keyspace is found.
    let picks: [usize; 32] = std::array::from_fn(|_| rng.gen_range(0..n));
    let order = picks.into_iter().chain((0..n).map(|i| (start + i) % n));
    for (tries, s) in order.enumerate() {
        let mut shard = if tries < 32 {
            match ks.try_lock_shard(s) {
                Some(g) => g,
                None => continue,
            }
        } else {
            ks.lock_shard(s)
        };
        let ndb = shard.dbs.len();
        let first_db = rng.gen_range(0..ndb);
        for j in 0..ndb {
            let dbi = (first_db + j) % ndb;
            let db = shard.db(dbi);
            if db.is_empty() || (volatile && db.volatile == 0) {
                continue;
            }
            let len = db.len();
            let mut slot = rng.gen_range(0..len);
            if volatile {
                let mut found = None;
                for _ in 0..len {
                    if db.entry(slot).expire().is_some() {
                        found = Some(slot);
                        break;
                    }
                    slot = (slot + 1) % len;
                }
                match found {
                    Some(f) => slot = f,
                    None => continue,
                }
            }
            if db.entry(slot).is_expired(now) {
                return Some(remove_expired(server, db, slot));
            }
            return Some(delete(server, me, &mut shard, dbi, slot, lazy));
        }
    }
    None
}

/// Bytes the calling thread gave back while running `f`.
fn freed_by(f: impl FnOnce()) -> u64 {
    let before = alloc::thread_net();
    f();
    (before - alloc::thread_net()).max(0) as u64
}

/// Removes an expired key met while evicting (it counts as expired, not evicted); returns
/// the bytes it gave back.
/// Its effects (event, invalidations, the DEL) are delivered at once, under the shard's lock,
/// so the DEL reaches the propagation stream before any later write of the key.
fn remove_expired(server: &Server, db: &mut cinnabar_engine::Db, slot: usize) -> u64 {
    let freed = freed_by(|| db.remove_expired(slot));
    if cinnabar_engine::db::has_expired() {
        crate::dispatch::sink::expired(server, None, crate::propagate::on(server));
    }
    freed
}

/// Removes the key in `slot` as evicted, with its side effects (see the module docs).
/// Returns the bytes the deletion itself gave back (measured, or estimated for a value
/// handed to the lazy-free thread), not counting what the side effects take.
fn delete(
    server: &Server,
    me: Option<&mut Client>,
    shard: &mut MutexGuard<'_, Shard>,
    dbi: usize,
    slot: usize,
    lazy: bool,
) -> u64 {
    let db = shard.db(dbi);
    let key: smallvec::SmallVec<[u8; 64]> = smallvec::SmallVec::from_slice(db.entry(slot).key());
    let mut lazily = 0;
    let del = latency::Timer::start(server);
    let freed = freed_by(|| {
        let e = db.remove_slot(slot);
        if lazy && cinnabar_engine::lazyfree::free_effort(&e) > cinnabar_engine::lazyfree::THRESHOLD
        {
            lazily = e.mem_usage() as u64;
            cinnabar_engine::lazyfree::dispose(e);
        }
    });
    del.end(server, "eviction-del");
    crate::dispatch::sink::evicted(server, me, db, &key);
    server.evict.evicted_keys.fetch_add(1, Ordering::Relaxed);
    freed + lazily
}

/// Starts the background eviction thread: it finishes evictions that foreground calls left
/// over (time limit) or that a lower `maxmemory` requires, and ticks ten times a second to
/// keep the memory figures (peak, approximate counter) and the RSS guard up to date.
pub fn spawn(server: Arc<Server>) -> std::io::Result<JoinHandle<()>> {
    server.evict.startup.store(alloc::used(), Ordering::Relaxed);
    server
        .evict
        .guard
        .base
        .store(crate::info::rss_bytes(), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("cinnabar-evict".into())
        .spawn(move || {
            let st = &server.evict;
            let mut ticks = 0u64;
            while !server.is_shutting_down() {
                let kicked = {
                    let w = st.wake.lock().unwrap_or_else(|e| e.into_inner());
                    let (mut w, _) = st
                        .cv
                        .wait_timeout_while(w, Duration::from_millis(1000 / TICKS_PER_SEC), |w| !*w)
                        .unwrap_or_else(|e| e.into_inner());
                    std::mem::take(&mut *w)
                };
                alloc::resync();
                st.note_peak(alloc::used());
                ticks += 1;
                if ticks.is_multiple_of(TICKS_PER_SEC) {
                    alloc::collect_expired();
                }
                sweep_tick(&server);
                if st.maxmemory.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let lowered = guard_tick(&server);
                // Like Redis, no eviction without a reason: a command that ran out of time,
                // a lower limit, or the guard. Short batches release the pool in between so
                // foreground evictions interleave.
                if kicked || lowered {
                    while !server.is_shutting_down()
                        && perform(&server, None, st.target(), true) == Outcome::Running
                    {
                    }
                }
            }
        })
}

/// One tick of the LRU sweep: rewrites old fine LRU stamps as coarse ones, visiting
/// `budget` entries, one shard lock (and at most [`SWEEP_MIN`] entries) at a time.
fn sweep_tick(server: &Server) {
    let ks = &server.keyspace;
    if ks.access.is_lfu() {
        return;
    }
    let mut sw = server.evict.sweep.lock();
    let now = now_ms();
    let mut left = sw.budget;
    while left > 0 && !server.is_shutting_down() {
        let (shard, dbi) = (sw.shard, sw.db);
        let (visited, done) = ks
            .lock_shard(shard)
            .db(dbi)
            .age_sample(now, left.min(SWEEP_MIN));
        left = left.saturating_sub(visited.max(1));
        sw.pass_keys += visited;
        if done {
            sw.db += 1;
            if sw.db == ks.databases() {
                sw.db = 0;
                sw.shard += 1;
                if sw.shard == ks.shard_count() {
                    sw.shard = 0;
                    let ticks = (SWEEP_PASS.as_secs() * TICKS_PER_SEC) as usize;
                    sw.budget = (sw.pass_keys / ticks).max(SWEEP_MIN);
                    sw.pass_keys = 0;
                }
            }
        }
    }
}

/// One step of the RSS guard (see [`Guard`]). Returns true when it lowered the target.
fn guard_tick(server: &Server) -> bool {
    let st = &server.evict;
    let max = st.maxmemory.load(Ordering::Relaxed);
    if max < GUARD_MIN {
        st.guard.target.store(0, Ordering::Relaxed);
        return false;
    }
    let rss = crate::info::rss_bytes();
    if rss == 0 {
        return false;
    }
    let base = st.guard.base.load(Ordering::Relaxed);
    let bound = (max as f64 * (1.0 + RSS_MARGIN)) as u64 + base;
    let target = st.target();
    let new = if rss > bound {
        // Over: give pages back first, then lower the target by the excess.
        alloc::purge();
        let rss = crate::info::rss_bytes();
        if rss > bound {
            target.saturating_sub(rss - bound).max(max / 2)
        } else {
            target
        }
    } else if rss + max / 50 < bound && target < max {
        // Comfortably below: climb back towards maxmemory in small steps.
        (target + max / 100).min(max)
    } else {
        target
    };
    if new != target {
        st.guard
            .target
            .store(if new >= max { 0 } else { new }, Ordering::Relaxed);
    }
    new < target
}
