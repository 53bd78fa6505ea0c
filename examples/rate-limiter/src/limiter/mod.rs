//! The limiting algorithms. Each one is a single atomic step in the database per request
//! (a Lua script, or the native CL.THROTTLE command), so concurrent requests through any
//! number of instances can never both take the last slot.

pub mod fixed_window;
pub mod gcra;
pub mod sliding_log;

use std::time::Duration;

use redis::RedisError;

use crate::db::Db;

use crate::config::{Algorithm, Config};

/// The verdict for one request, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests allowed per window (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests left now (`RateLimit-Remaining`).
    pub remaining: u64,
    /// Until the quota grows again (`RateLimit-Reset`).
    pub reset_after: Duration,
    /// For a refused request: when a retry can succeed (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// One of the three algorithms, set up from the configuration.
#[derive(Clone)]
pub enum Limiter {
    FixedWindow(fixed_window::FixedWindow),
    SlidingLog(sliding_log::SlidingLog),
    Gcra(gcra::Gcra),
}

/// A configuration the algorithms cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("--limit must be at least 1")]
    ZeroLimit,
    #[error("--window-secs must be at least 1")]
    ZeroWindow,
    #[error("the database does not support CL.THROTTLE (needed by --algorithm gcra): {0}")]
    NoThrottle(String),
    #[error(transparent)]
    Redis(#[from] RedisError),
}

impl Limiter {
    /// Builds the configured algorithm. For GCRA, checks that the server has CL.THROTTLE,
    /// so a server without it fails at start-up rather than on every request.
    pub async fn new(config: &Config, conn: &mut Db) -> Result<Limiter, LimiterError> {
        if config.limit == 0 {
            return Err(LimiterError::ZeroLimit);
        }
        if config.window_secs == 0 {
            return Err(LimiterError::ZeroWindow);
        }
        let prefix = format!("{}:{}:", config.key_prefix, config.algorithm.key_part());
        Ok(match config.algorithm {
            Algorithm::FixedWindow => Limiter::FixedWindow(fixed_window::FixedWindow::new(
                prefix,
                config.limit,
                config.window(),
            )),
            Algorithm::SlidingLog => Limiter::SlidingLog(sliding_log::SlidingLog::new(
                prefix,
                config.limit,
                config.window(),
            )),
            Algorithm::Gcra => {
                let burst = config.gcra_burst.unwrap_or(config.limit - 1);
                let gcra = gcra::Gcra::new(prefix, burst, config.limit, config.window_secs);
                gcra.probe(conn).await?;
                Limiter::Gcra(gcra)
            }
        })
    }

    /// Counts one request of `client` and says whether it may go on.
    pub async fn check(&self, conn: &mut Db, client: &str) -> Result<Decision, RedisError> {
        match self {
            Limiter::FixedWindow(l) => l.check(conn, client).await,
            Limiter::SlidingLog(l) => l.check(conn, client).await,
            Limiter::Gcra(l) => l.check(conn, client).await,
        }
    }

    /// The limit advertised in `RateLimit-Limit`.
    pub fn limit(&self) -> u64 {
        match self {
            Limiter::FixedWindow(l) => l.limit,
            Limiter::SlidingLog(l) => l.limit,
            Limiter::Gcra(l) => l.max_burst + 1,
        }
    }
}

/// Milliseconds from the database (never negative) as a duration.
pub(crate) fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}
