//! Bounded waiting: the one way a test waits for something.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// The deadline tests use when nothing tighter makes sense: long enough for a loaded 2-core
/// CI machine, short enough that a hang is reported as a failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What a polled check returns: `bool` (done or not) or `Option<T>` (the value once there).
pub trait Outcome {
    type Value;
    fn ready(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `check` until it is ready and returns its value; panics naming `what` once
/// `within` has passed. Polls every millisecond at first, then less often (up to 20 ms).
pub fn eventually<R: Outcome>(
    within: Duration,
    what: impl Display,
    mut check: impl FnMut() -> R,
) -> R::Value {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = check().ready() {
            return v;
        }
        if start.elapsed() >= within {
            panic!("timed out after {within:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// [`eventually`] for async checks, pausing on the tokio timer.
pub async fn eventually_async<R: Outcome, F: Future<Output = R>>(
    within: Duration,
    what: impl Display,
    mut check: impl FnMut() -> F,
) -> R::Value {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = check().await.ready() {
            return v;
        }
        if start.elapsed() >= within {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
