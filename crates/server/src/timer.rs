//! Timers for tasks on the worker runtimes, kept on a runtime of their own.
//!
//! The workers' runtimes have no time driver: with one, every park of a worker (one per
//! request at pipeline depth 1) locked the timer wheel twice, read the clock and polled the
//! wheel, about 350 instructions, although the hot path arms no timer (the idle `timeout` is
//! enforced by the cron, see `net::conn::nudge_idle`). The timers that remain (a blocked
//! command's timeout, CLIENT PAUSE, the output-buffer soft limit, replication and WAIT) are
//! rare, so they live in one small runtime on the `cinnabar-timer` thread: a [`Sleep`] made
//! here registers with that runtime, and its expiry wakes the waiting task wherever it runs.
//!
//! Use these functions rather than `tokio::time::{sleep, timeout, ...}` in anything that may
//! run on a worker: tokio's own panic there for want of a time driver.

use std::future::IntoFuture;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, Interval, Sleep, Timeout};

/// The timer runtime's handle, started on first use; it runs until the process exits.
fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("timer runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("cinnabar-timer".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("timer thread");
        handle
    })
}

/// `tokio::time::sleep` on the timer runtime.
pub fn sleep(d: Duration) -> Sleep {
    let _in = handle().enter();
    tokio::time::sleep(d)
}

/// `tokio::time::sleep_until` on the timer runtime.
pub fn sleep_until(deadline: Instant) -> Sleep {
    let _in = handle().enter();
    tokio::time::sleep_until(deadline)
}

/// `tokio::time::timeout` on the timer runtime.
pub fn timeout<F: IntoFuture>(d: Duration, f: F) -> Timeout<F::IntoFuture> {
    let _in = handle().enter();
    tokio::time::timeout(d, f)
}

/// `tokio::time::timeout_at` on the timer runtime.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, f: F) -> Timeout<F::IntoFuture> {
    let _in = handle().enter();
    tokio::time::timeout_at(deadline, f)
}

/// `tokio::time::interval` on the timer runtime.
pub fn interval(period: Duration) -> Interval {
    let _in = handle().enter();
    tokio::time::interval(period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_on_a_runtime_without_a_time_driver() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            let r = timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
            assert!(r.is_err());
            assert_eq!(
                timeout(Duration::from_secs(5), async { 7 }).await.unwrap(),
                7
            );
            let mut tick = interval(Duration::from_millis(5));
            tick.tick().await;
            tick.tick().await;
        });
    }
}
