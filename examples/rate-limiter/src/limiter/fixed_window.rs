//! Fixed window: a counter per client that expires with its window.
//!
//! The window starts at the client's first request (the counter's creation) and lasts
//! `window`; every request in it increments the counter, and the request is allowed while the
//! count is at most `limit`. Cheapest of the three (one small string per client), but a
//! client can send up to `2 * limit` requests across a window boundary (the end of one window
//! and the start of the next).

use std::time::Duration;

use redis::{RedisError, Script};

use crate::db::Db;

use super::{millis, Decision};

/// INCR and the window's expiry in one atomic step: with INCR then EXPIRE as two commands, a
/// client dying between them (or a lost reply) would leave a counter that never expires and a
/// client limited forever. A counter found without expiry is given one.
///
/// KEYS[1] counter; ARGV[1] window in ms. Returns {count, ms left in the window}.
const SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

#[derive(Clone)]
pub struct FixedWindow {
    prefix: String,
    pub(crate) limit: u64,
    window: Duration,
    script: Script,
}

impl FixedWindow {
    pub fn new(prefix: String, limit: u64, window: Duration) -> FixedWindow {
        FixedWindow {
            prefix,
            limit,
            window,
            script: Script::new(SCRIPT),
        }
    }

    pub async fn check(&self, conn: &mut Db, client: &str) -> Result<Decision, RedisError> {
        let (count, ttl): (u64, i64) = self
            .script
            .key(format!("{}{}", self.prefix, client))
            .arg(self.window.as_millis() as u64)
            .invoke_async(conn)
            .await?;
        Ok(decide(self.limit, count, millis(ttl)))
    }
}

/// The verdict for the `count`-th request of a window with `left` to run.
fn decide(limit: u64, count: u64, left: Duration) -> Decision {
    let allowed = count <= limit;
    Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(count),
        reset_after: left,
        retry_after: (!allowed).then_some(left),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_to_the_limit() {
        let left = Duration::from_millis(1500);
        let d = decide(3, 1, left);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.retry_after), (2, None));
        let d = decide(3, 3, left);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let d = decide(3, 4, left);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.retry_after), (0, Some(left)));
        assert_eq!(d.reset_after, left);
    }
}
