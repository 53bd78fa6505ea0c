//! The per-key access information eviction ranks keys by, kept in the 21 "access" bits of
//! each entry's meta (see [`crate::entry`]), like Redis keeps it in the 24-bit `lru` field of
//! every object. What the bits mean depends on the `maxmemory-policy`:
//!
//! - **LRU** (every policy but the `*-lfu` ones): the time of the last access, in one of two
//!   formats told apart by the top bit:
//!
//!   ```text
//!    1 bit   20 bits
//!   +-----+-------------------------------------------+
//!   |  0  | last access, in 100 ms ticks (wraps: 29 h) |   recent keys
//!   |  1  | last access, in minutes (wraps: 2 years)   |   keys idle for an hour or more
//!   +-----+-------------------------------------------+
//!   ```
//!
//!   An access always writes the fine format. The eviction thread's sweep ([`Access::aged`],
//!   `Db::age_sample`) rewrites fine stamps older than [`AGE_MS`] in the coarse format, well
//!   before they could wrap. So eviction ranks recently used keys at 100 ms precision (under
//!   a churning cache the whole working set turns over in seconds, and Redis's one-second
//!   clock then cannot tell most candidates apart), while OBJECT IDLETIME stays meaningful
//!   for keys idle up to two years (Redis: 194 days).
//! - **LFU** (`allkeys-lfu`, `volatile-lfu`):
//!
//!   ```text
//!     13 bits                 8 bits
//!   +-----------------------+---------+
//!   | last decrement, min.  | counter |
//!   +-----------------------+---------+
//!   ```
//!
//!   `counter` is Redis's logarithmic access counter: a new key starts at [`LFU_INIT_VAL`];
//!   an access increments it with probability `1 / (1 + lfu-log-factor * (counter -
//!   LFU_INIT_VAL))`, so it reaches 255 only after about a million hits (factor 10). It decays by
//!   one per `lfu-decay-time` minutes without access, measured from the minute stamp, which
//!   wraps after 8192 minutes (5.7 days; Redis keeps 16 bits, 45 days): a key idle longer
//!   than that decays less than it should, which only matters for keys nobody touched in
//!   days.
//!
//! Switching between LRU and LFU at run time reinterprets the bits, as in Redis: ranks are
//! meaningless until keys are touched again ("LRU and LFU data will take some time to
//! adjust", says Redis's OBJECT error).
//!
//! The mode and the LFU parameters live in one [`Access`] per keyspace (shared with every
//! [`crate::Db`] through an `Arc`), so each server in a process has its own.
//!
//! Updating on access costs a relaxed load of the mode and, for LRU, a compare: the three
//! meta bytes are written only when the tick changed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The counter of a new key (Redis's LFU_INIT_VAL): new keys get a chance to collect hits
/// before they rank as the least used.
pub const LFU_INIT_VAL: u32 = 5;
const COUNTER_MASK: u32 = 0xff;
/// Bits of the LFU minute stamp.
const MINUTES_BITS: u32 = 13;
const MINUTES_MAX: u32 = (1 << MINUTES_BITS) - 1;

/// How the access bits of a keyspace's entries are kept, and the LFU parameters.
#[derive(Debug)]
pub struct Access {
    lfu: AtomicBool,
    log_factor: AtomicU32,
    decay_minutes: AtomicU32,
}

impl Default for Access {
    fn default() -> Access {
        Access {
            lfu: AtomicBool::new(false),
            log_factor: AtomicU32::new(10),
            decay_minutes: AtomicU32::new(1),
        }
    }
}

/// Resolution of the fine LRU format, in milliseconds.
pub const FINE_MS: i64 = 100;
/// Resolution of the coarse LRU format, in milliseconds.
pub const COARSE_MS: i64 = 60_000;
/// Fine stamps older than this are rewritten in the coarse format by the sweep; the sweep
/// must visit every key within the fine format's wrap (29 hours) minus this.
pub const AGE_MS: i64 = 3_600_000;
/// The format bit of an LRU stamp: set for the coarse (minutes) format.
const COARSE: u32 = 1 << 20;
const STAMP_MASK: u32 = COARSE - 1;

/// Fine LRU stamp of `now_ms`.
#[inline]
fn ticks(now_ms: i64) -> u32 {
    ((now_ms / FINE_MS) as u32) & STAMP_MASK
}

/// Coarse LRU stamp of `now_ms`.
#[inline]
fn coarse(now_ms: i64) -> u32 {
    COARSE | (((now_ms / COARSE_MS) as u32) & STAMP_MASK)
}

/// Units elapsed from stamp `then` to stamp `now` of a 20-bit wrapping clock.
#[inline]
fn elapsed20(now: u32, then: u32) -> u64 {
    (now.wrapping_sub(then) & STAMP_MASK) as u64
}

/// Minute stamp of `now_ms`, as kept in LFU mode.
#[inline]
fn minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u32) & MINUTES_MAX
}

thread_local! {
    /// State of a xorshift generator for the LFU increment's coin flip (no lock, no syscall).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A uniform number in [0, 1).
fn coin() -> f64 {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = rand::random::<u64>() | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Access {
    /// Sets the mode (`maxmemory-policy` ends in `-lfu`) and the LFU parameters.
    pub fn configure(&self, lfu: bool, log_factor: u32, decay_minutes: u32) {
        self.lfu.store(lfu, Ordering::Relaxed);
        self.log_factor.store(log_factor, Ordering::Relaxed);
        self.decay_minutes.store(decay_minutes, Ordering::Relaxed);
    }

    /// True when the bits hold LFU counters.
    #[inline]
    pub fn is_lfu(&self) -> bool {
        self.lfu.load(Ordering::Relaxed)
    }

    /// The bits of a key created at `now_ms`.
    #[inline]
    pub fn fresh(&self, now_ms: i64) -> u32 {
        if self.is_lfu() {
            (minutes(now_ms) << 8) | LFU_INIT_VAL
        } else {
            ticks(now_ms)
        }
    }

    /// The bits after an access at `now_ms` (Redis's updateLFU / LRU_CLOCK on lookup).
    #[inline]
    pub fn touched(&self, bits: u32, now_ms: i64) -> u32 {
        if !self.is_lfu() {
            return ticks(now_ms);
        }
        let counter = self.log_incr(self.freq(bits, now_ms));
        (minutes(now_ms) << 8) | counter
    }

    /// Bits for a key restored with an idle time (RESTORE IDLETIME, RDB idle opcode): only
    /// meaningful under LRU; under LFU the key starts fresh, as Redis's objectSetLRUOrLFU.
    pub fn with_idle(&self, now_ms: i64, idle_secs: u64) -> u32 {
        if self.is_lfu() {
            return self.fresh(now_ms);
        }
        let idle_ms = idle_secs.saturating_mul(1000).min(i64::MAX as u64 / 2) as i64;
        if idle_ms < AGE_MS {
            ticks(now_ms - idle_ms)
        } else {
            let max = STAMP_MASK as i64 * COARSE_MS;
            coarse(now_ms - idle_ms.min(max))
        }
    }

    /// Bits for a key restored with a frequency (RESTORE FREQ, RDB freq opcode): only
    /// meaningful under LFU.
    pub fn with_freq(&self, now_ms: i64, freq: u8) -> u32 {
        if self.is_lfu() {
            (minutes(now_ms) << 8) | freq as u32
        } else {
            self.fresh(now_ms)
        }
    }

    /// LRU reading: milliseconds since the last access (100 ms precision for recent keys,
    /// a minute for keys idle an hour or more).
    pub fn idle_ms(&self, bits: u32, now_ms: i64) -> u64 {
        let stamp = bits & STAMP_MASK;
        if bits & COARSE == 0 {
            elapsed20(ticks(now_ms), stamp) * FINE_MS as u64
        } else {
            elapsed20(coarse(now_ms) & STAMP_MASK, stamp) * COARSE_MS as u64
        }
    }

    /// The sweep's step for one key (LRU only): a fine stamp older than [`AGE_MS`] becomes
    /// a coarse one for the same minute, so it cannot wrap. None when nothing changes.
    #[inline]
    pub fn aged(&self, bits: u32, now_ms: i64) -> Option<u32> {
        if self.is_lfu() || bits & COARSE != 0 {
            return None;
        }
        let idle = self.idle_ms(bits, now_ms) as i64;
        (idle >= AGE_MS).then(|| coarse(now_ms - idle))
    }

    /// LRU reading in seconds (OBJECT IDLETIME).
    pub fn idle_secs(&self, bits: u32, now_ms: i64) -> u64 {
        self.idle_ms(bits, now_ms) / 1000
    }

    /// LFU reading: the counter decayed by the minutes elapsed since its stamp, without
    /// storing the decay (Redis's LFUDecrAndReturn; OBJECT FREQ, eviction ranking).
    pub fn freq(&self, bits: u32, now_ms: i64) -> u32 {
        let counter = bits & COUNTER_MASK;
        let decay = self.decay_minutes.load(Ordering::Relaxed);
        if decay == 0 {
            return counter;
        }
        let stamp = (bits >> 8) & MINUTES_MAX;
        let now = minutes(now_ms);
        let elapsed = if now >= stamp {
            now - stamp
        } else {
            MINUTES_MAX + 1 - stamp + now
        };
        counter.saturating_sub(elapsed / decay)
    }

    /// Redis's LFULogIncr: increments with a probability that falls as the counter grows.
    fn log_incr(&self, counter: u32) -> u32 {
        if counter >= 255 {
            return 255;
        }
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.log_factor.load(Ordering::Relaxed) as f64 + 1.0);
        if coin() < p {
            counter + 1
        } else {
            counter
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn lru_stamps_are_fine_when_recent_and_coarse_when_old() {
        let a = Access::default();
        let t0 = 1_700_000_000_000;
        let b = a.fresh(t0);
        assert_eq!(a.idle_secs(b, t0), 0);
        assert_eq!(a.idle_ms(b, t0 + 7_550), 7_500);
        assert_eq!(a.idle_secs(b, t0 + 7_550), 7);
        assert_eq!(a.touched(b, t0 + 9_000), a.fresh(t0 + 9_000));
        // Across the wrap of the 20-bit tick counter.
        let wrap = (STAMP_MASK as i64 + 1) * FINE_MS;
        let early = a.fresh(wrap - 500);
        assert_eq!(a.idle_ms(early, wrap + 600), 1_100);
        // The sweep leaves recent stamps alone and turns old ones coarse, same idle time.
        assert_eq!(a.aged(b, t0 + 60_000), None);
        let old = a.aged(b, t0 + AGE_MS + 90_000).expect("aged");
        assert_eq!(a.aged(old, t0 + AGE_MS + 90_000), None);
        let idle = a.idle_secs(old, t0 + AGE_MS + 90_000) as i64;
        assert!(
            (AGE_MS / 1000 + 30..=AGE_MS / 1000 + 90).contains(&idle),
            "{idle}"
        );
        // A coarse stamp stays right for months; touching makes it fine again.
        let month = 30 * 24 * 3_600_000;
        let hours = a.idle_secs(old, t0 + month) / 3600;
        assert!((719..=720).contains(&hours), "{hours}");
        assert_eq!(a.idle_secs(a.touched(old, t0 + month), t0 + month), 0);
        // Restored idle times: short ones fine, long ones coarse.
        assert_eq!(a.idle_secs(a.with_idle(t0, 100), t0), 100);
        assert_eq!(a.idle_secs(a.with_idle(t0, 86_400 * 10), t0) / 60, 14_400);
    }

    #[test]
    fn lfu_counter_starts_at_init_grows_logarithmically_and_decays() {
        let a = Access::default();
        a.configure(true, 10, 1);
        let t0 = 1_700_000_000_000;
        let mut b = a.fresh(t0);
        assert_eq!(a.freq(b, t0), LFU_INIT_VAL);
        for _ in 0..1000 {
            b = a.touched(b, t0);
        }
        let f = a.freq(b, t0);
        // Factor 10: about 1000 hits bring the counter to ~18 (Redis's table in redis.conf).
        assert!((12..=25).contains(&f), "{f}");
        // One point per minute of idleness, not stored.
        assert_eq!(a.freq(b, t0 + 3 * MIN), f - 3);
        assert_eq!(a.freq(b, t0 + 1000 * MIN), 0);
        assert_eq!(a.freq(b, t0), f);
        // decay-time 0: no decay at all.
        a.configure(true, 10, 0);
        assert_eq!(a.freq(b, t0 + 1000 * MIN), f);
        // Factor 0: every hit counts, up to 255.
        a.configure(true, 0, 1);
        let mut c = a.fresh(t0);
        for _ in 0..300 {
            c = a.touched(c, t0);
        }
        assert_eq!(a.freq(c, t0), 255);
        assert_eq!(a.freq(a.with_freq(t0, 77), t0), 77);
    }

    #[test]
    fn lfu_minute_stamp_wraps() {
        let a = Access::default();
        a.configure(true, 10, 1);
        let before_wrap = (MINUTES_MAX as i64 - 1) * MIN;
        let b = a.with_freq(before_wrap, 50);
        assert_eq!(a.freq(b, before_wrap + 4 * MIN), 46);
    }
}
