//! Filling a missing entry: one upstream call per key across every instance.
//!
//! Two layers of stampede protection:
//! 1. inside one process, concurrent misses for a key join one fill ([`SingleFlight`]);
//! 2. across processes, the fill first takes a lock in the database (`SET lock token NX PX`).
//!    An instance that does not get it polls, with growing randomised back-off, until the
//!    value appears (the holder stored it) or the lock is free (the holder failed or died,
//!    and its PX ran out), in which case it takes the lock and fetches itself.
//!
//! After taking the lock the entry is read again: another instance may have filled it and
//! released the lock between our miss and our SET NX.
//!
//! [`SingleFlight`]: crate::singleflight::SingleFlight

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::repo::RepoName;
use crate::store::{Cached, Entry, Store};
use crate::upstream::{Lookup, Upstream, UpstreamError};

/// What the fill did, for the answer's body and `Cache-Status` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    /// We called the upstream. `stored` is the TTL given to the entry, None if not stored
    /// (a 404 with negative caching off, or the database write failed).
    Fetched {
        value: Cached,
        stored: Option<Duration>,
    },
    /// Another instance filled it while we waited for its lock; read from the database.
    FromCache(Entry),
}

/// Why a fill produced no value. Nothing is cached for any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cache unavailable: {0}")]
    Store(String),
    #[error("gave up after {} ms waiting for another instance to fetch it", .0.as_millis())]
    LockWait(Duration),
}

impl From<redis::RedisError> for FillError {
    fn from(e: redis::RedisError) -> Self {
        FillError::Store(e.to_string())
    }
}

/// Everything a fill needs, cloned into the spawned fill task.
#[derive(Clone)]
pub struct Filler {
    pub store: Store,
    pub upstream: Upstream,
    pub ttl: Duration,
    pub ttl_jitter: Duration,
    pub negative_ttl: Duration,
    pub lock_ttl: Duration,
}

/// First and largest pause between two looks at a lock held by another instance.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(200);

impl Filler {
    /// Fills `repo`'s entry, taking the cross-instance lock or waiting for its holder.
    ///
    /// A waiter gives up after twice the lock's lifetime: by then a live holder has either
    /// stored the value or let go, and a dead holder's lock has expired, so only a database
    /// that keeps refusing us gets that far.
    pub async fn fill(self, repo: RepoName) -> Result<Filled, FillError> {
        let id = repo.cache_id();
        let token = format!("{:032x}", rand::thread_rng().gen::<u128>());
        let give_up = Instant::now() + 2 * self.lock_ttl;
        let mut pause = POLL_FIRST;
        loop {
            if self.store.try_lock(&id, &token, self.lock_ttl).await? {
                let result = self.fill_locked(&repo, &id).await;
                if let Err(e) = self.store.unlock(&id, &token).await {
                    // The lock's PX frees it soon anyway.
                    tracing::warn!(%repo, error = %e, "could not release the fill lock");
                }
                return result;
            }
            if Instant::now() + pause > give_up {
                return Err(FillError::LockWait(2 * self.lock_ttl));
            }
            // Random spread (50-100% of the pause), so the waiters of many instances do not
            // poll in step.
            let spread = rand::thread_rng().gen_range(pause / 2..=pause);
            tokio::time::sleep(spread).await;
            pause = (pause * 2).min(POLL_MAX);
            if let Some(entry) = self.store.get(&id).await? {
                return Ok(Filled::FromCache(entry));
            }
        }
    }

    /// The part done while holding the lock: look again, call the upstream, store.
    async fn fill_locked(&self, repo: &RepoName, id: &str) -> Result<Filled, FillError> {
        if let Some(entry) = self.store.get(id).await? {
            return Ok(Filled::FromCache(entry));
        }
        let (value, ttl) = match self.upstream.stars(repo).await? {
            Lookup::Found { stars } => (Cached::Stars(stars), Some(self.jittered_ttl())),
            Lookup::NotFound => (
                Cached::NotFound,
                Some(self.negative_ttl).filter(|t| !t.is_zero()),
            ),
        };
        let mut stored = None;
        if let Some(ttl) = ttl {
            // The answer is good even if it cannot be cached; the next request will simply
            // miss again.
            match self.store.put(id, value, ttl).await {
                Ok(()) => stored = Some(ttl),
                Err(e) => tracing::warn!(%repo, error = %e, "could not store the entry"),
            }
        }
        Ok(Filled::Fetched { value, stored })
    }

    /// The TTL minus a random part of the jitter. Subtracting (never adding) keeps the
    /// promise that no answer is older than the configured TTL, while entries filled in the
    /// same instant (a cold start, a burst of new keys) spread their expiries over the jitter
    /// range instead of all missing, and all hitting the upstream, in the same second.
    pub fn jittered_ttl(&self) -> Duration {
        if self.ttl_jitter.is_zero() {
            return self.ttl;
        }
        let jitter = rand::thread_rng().gen_range(Duration::ZERO..=self.ttl_jitter);
        self.ttl
            .saturating_sub(jitter)
            .max(Duration::from_millis(1))
    }
}
