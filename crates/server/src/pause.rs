//! Paused clients, as Redis 7.2's pauseActions: several purposes may pause at once (CLIENT
//! PAUSE, a shutdown waiting for its replicas, a FAILOVER), each with its own end and
//! extent, and ending one (CLIENT UNPAUSE, an aborted shutdown) leaves the others in force.
//! What is paused is the union: any purpose pausing everything pauses everything, and the
//! pause lasts as long as the longest purpose.
//!
//! The hot path reads only [`Pause::until_ms`] (0 while nothing was ever paused or after
//! the last purpose ended); the rest is looked at once a command finds it set.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use cinnabar_engine::Keyspace;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Who paused. Each has one slot: a new pause of the same purpose replaces its last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CLIENT PAUSE / CLIENT UNPAUSE.
    Client = 0,
    /// SHUTDOWN (or a signal) waiting for lagging replicas (`shutdown-timeout`).
    Shutdown = 1,
    /// FAILOVER waiting for its target to catch up.
    Failover = 2,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// End, ms since the epoch; 0: this purpose pauses nothing.
    until: i64,
    /// Only writes (and what may replicate) are held, as CLIENT PAUSE WRITE.
    writes_only: bool,
}

#[derive(Default)]
pub struct Pause {
    /// The latest end over all purposes (ms since the epoch); 0: none paused.
    pub until_ms: AtomicI64,
    slots: Mutex<[Slot; 3]>,
    /// Woken when a purpose ends early (UNPAUSE, an aborted shutdown or failover).
    pub unpaused: Notify,
    /// Clients currently held by the pause (reported as blocked, as Redis does).
    pub waiting: AtomicUsize,
}

/// What is paused at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paused {
    /// When this state may change next (the earliest end among the purposes in force).
    pub until: i64,
    pub writes_only: bool,
}

impl Pause {
    /// Pauses for `purpose` until `until` (replacing its earlier pause); `expiry` holds the
    /// keyspace's expiry for as long as anything is paused (Redis's PAUSE_ACTION_EXPIRE,
    /// part of both WRITE and ALL).
    pub fn set(&self, keyspace: &Keyspace, purpose: Purpose, until: i64, writes_only: bool) {
        let mut slots = self.slots.lock();
        slots[purpose as usize] = Slot { until, writes_only };
        self.publish(keyspace, &slots);
    }

    /// Ends `purpose`'s pause; what the others pause stays.
    pub fn clear(&self, keyspace: &Keyspace, purpose: Purpose) {
        let mut slots = self.slots.lock();
        slots[purpose as usize] = Slot::default();
        self.publish(keyspace, &slots);
        drop(slots);
        self.unpaused.notify_waiters();
    }

    /// `purpose`'s own pause, if it lasts past `now`: (until, writes_only).
    pub fn of(&self, purpose: Purpose, now: i64) -> Option<(i64, bool)> {
        let s = self.slots.lock()[purpose as usize];
        (s.until > now).then_some((s.until, s.writes_only))
    }

    /// What is paused at `now`, if anything.
    pub fn state(&self, now: i64) -> Option<Paused> {
        if self.until_ms.load(Ordering::Relaxed) <= now {
            return None;
        }
        let slots = self.slots.lock();
        let live = || slots.iter().filter(|s| s.until > now);
        let until = live().map(|s| s.until).min()?;
        Some(Paused {
            until,
            writes_only: live().all(|s| s.writes_only),
        })
    }

    fn publish(&self, keyspace: &Keyspace, slots: &[Slot; 3]) {
        let until = slots.iter().map(|s| s.until).max().unwrap_or(0);
        self.until_ms.store(until, Ordering::Relaxed);
        keyspace.expiry_held_until.store(until, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        Keyspace::new(1, 16)
    }

    #[test]
    fn the_union_of_the_purposes_is_paused() {
        let (ks, p) = (ks(), Pause::default());
        assert_eq!(p.state(100), None);
        p.set(&ks, Purpose::Shutdown, i64::MAX, true);
        p.set(&ks, Purpose::Client, 500, false);
        // ALL (the client's) while it lasts, then WRITE (the shutdown's) alone.
        let s = p.state(100).unwrap();
        assert_eq!((s.until, s.writes_only), (500, false));
        let s = p.state(600).unwrap();
        assert_eq!((s.until, s.writes_only), (i64::MAX, true));
        assert_eq!(ks.expiry_held_until.load(Ordering::Relaxed), i64::MAX);
    }

    #[test]
    fn clearing_one_purpose_leaves_the_others() {
        let (ks, p) = (ks(), Pause::default());
        p.set(&ks, Purpose::Failover, i64::MAX, true);
        p.set(&ks, Purpose::Client, 1_000, false);
        p.clear(&ks, Purpose::Client);
        assert_eq!(p.of(Purpose::Client, 0), None);
        assert!(p.state(0).unwrap().writes_only);
        p.clear(&ks, Purpose::Failover);
        assert_eq!(p.state(0), None);
        assert_eq!(p.until_ms.load(Ordering::Relaxed), 0);
        assert_eq!(ks.expiry_held_until.load(Ordering::Relaxed), 0);
    }
}
