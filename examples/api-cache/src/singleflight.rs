//! In-process request coalescing ("single flight"): concurrent misses for one key inside this
//! process share one fill.
//!
//! The first caller for a key starts the fill as a spawned task; every caller, the first
//! included, waits for its result on a watch channel. Spawning (rather than running the fill
//! in the first caller's own future) matters: if that client disconnects, axum drops its
//! handler future, and a fill running inside it would be cancelled half-way, leaving the
//! cross-instance lock held until its PX runs out and every other waiter stuck behind it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type Flights<V> = Arc<Mutex<HashMap<String, watch::Receiver<Option<V>>>>>;

/// Fills in progress, by key.
pub struct SingleFlight<V> {
    flights: Flights<V>,
}

impl<V> Clone for SingleFlight<V> {
    fn clone(&self) -> Self {
        SingleFlight {
            flights: self.flights.clone(),
        }
    }
}

impl<V> Default for SingleFlight<V> {
    fn default() -> Self {
        SingleFlight {
            flights: Arc::default(),
        }
    }
}

/// How a caller took part in a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started the fill.
    Leader,
    /// Found a fill already running and waited for it.
    Follower,
}

/// Removes the key from the table when the fill task ends, however it ends (a panic
/// included), so a failed fill never blocks later callers.
struct Landing<V> {
    flights: Flights<V>,
    key: String,
}

impl<V> Drop for Landing<V> {
    fn drop(&mut self) {
        lock(&self.flights).remove(&self.key);
    }
}

fn lock<V>(
    flights: &Flights<V>,
) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Option<V>>>> {
    // A panic while holding this lock can only come from HashMap itself; the table is still
    // consistent, so carry on with it.
    flights.lock().unwrap_or_else(|e| e.into_inner())
}

impl<V: Clone + Send + Sync + 'static> SingleFlight<V> {
    /// Runs `fill` for `key` unless a fill for it is already running, and returns its
    /// result with this caller's role. `None` only if the fill task panicked.
    ///
    /// The key is removed from the table *before* the result is published: a caller arriving
    /// after that starts a new flight instead of reading a result that may be stale by then
    /// (in practice it finds the value in the database first).
    pub async fn run<F, Fut>(&self, key: &str, fill: F) -> (Option<V>, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (mut rx, role) = {
            let mut table = lock(&self.flights);
            match table.get(key) {
                Some(rx) => (rx.clone(), Role::Follower),
                None => {
                    let (tx, rx) = watch::channel(None);
                    table.insert(key.to_string(), rx.clone());
                    let landing = Landing {
                        flights: self.flights.clone(),
                        key: key.to_string(),
                    };
                    let fut = fill();
                    tokio::spawn(async move {
                        let value = fut.await;
                        drop(landing);
                        // Nobody listening is fine: every caller may have gone away.
                        let _ = tx.send(Some(value));
                    });
                    (rx, Role::Leader)
                }
            }
        };
        let result = rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|v| v.clone());
        (result, role)
    }

    /// Number of fills running (for tests and the health answer).
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_fill() {
        let sf: SingleFlight<u32> = SingleFlight::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let sf = sf.clone();
            let calls = calls.clone();
            let mut release_rx = release_rx.clone();
            tasks.push(tokio::spawn(async move {
                sf.run("k", move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Hold the fill open until every caller has joined.
                    release_rx.wait_for(|r| *r).await.unwrap();
                    7
                })
                .await
            }));
        }
        // Every caller has either started the flight or joined it once 20 tasks have run up
        // to their first await; yield until the one flight is registered.
        while sf.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release_tx.send(true).unwrap();
        let mut leaders = 0;
        for t in tasks {
            let (v, role) = t.await.unwrap();
            assert_eq!(v, Some(7));
            if role == Role::Leader {
                leaders += 1;
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(sf.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_fill_frees_the_key() {
        let sf: SingleFlight<u32> = SingleFlight::default();
        let (v, role) = sf
            .run("k", || async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                panic!("fill failed");
            })
            .await;
        assert_eq!((v, role), (None, Role::Leader));
        assert_eq!(sf.in_flight(), 0);
        let (v, _) = sf.run("k", || async { 3 }).await;
        assert_eq!(v, Some(3));
    }
}
