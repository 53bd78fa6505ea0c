//! Sliding window log: the time of every allowed request, per client, in a sorted set.
//!
//! A request is allowed when fewer than `limit` requests were allowed in the last `window`.
//! Exact (no boundary burst, unlike the fixed window), at the price of one sorted-set member
//! per allowed request: memory grows with the limit, so it suits small limits such as login
//! attempts. Refused requests are not logged, so a client that keeps trying is not kept out
//! forever by its own refused attempts (repeated abuse is handled by blocking instead).

use std::time::Duration;

use rand::Rng;

use redis::{RedisError, Script};

use crate::db::Db;

use super::{millis, Decision};

/// One atomic step: drop entries older than the window, count, add this request if there is
/// room, refresh the key's expiry (so an idle client's log disappears by itself), and report
/// when the oldest entry leaves the window.
///
/// Time comes from the server (TIME), not from the instances, so instances whose clocks
/// disagree still share one consistent log.
///
/// KEYS[1] log; ARGV[1] window in ms; ARGV[2] limit; ARGV[3] random member suffix (two
/// requests in the same millisecond must not collapse into one member).
/// Returns {allowed 0/1, count including this request if allowed, ms until the oldest entry
/// leaves the window}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
    allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
return {allowed, count, reset}
";

#[derive(Clone)]
pub struct SlidingLog {
    prefix: String,
    pub(crate) limit: u64,
    window: Duration,
    script: Script,
}

impl SlidingLog {
    pub fn new(prefix: String, limit: u64, window: Duration) -> SlidingLog {
        SlidingLog {
            prefix,
            limit,
            window,
            script: Script::new(SCRIPT),
        }
    }

    pub async fn check(&self, conn: &mut Db, client: &str) -> Result<Decision, RedisError> {
        let nonce: u64 = rand::thread_rng().gen();
        let (allowed, count, reset): (i64, u64, i64) = self
            .script
            .key(format!("{}{}", self.prefix, client))
            .arg(self.window.as_millis() as u64)
            .arg(self.limit)
            .arg(format!("{nonce:016x}"))
            .invoke_async(conn)
            .await?;
        Ok(decide(self.limit, allowed == 1, count, millis(reset)))
    }
}

/// The verdict from the script's answer: `count` requests in the window, the oldest leaving
/// in `reset`.
fn decide(limit: u64, allowed: bool, count: u64, reset: Duration) -> Decision {
    Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(count),
        reset_after: reset,
        retry_after: (!allowed).then_some(reset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_waits_for_the_oldest_entry() {
        let reset = Duration::from_millis(700);
        let d = decide(2, true, 1, reset);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.retry_after), (1, None));
        let d = decide(2, false, 2, reset);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.retry_after), (0, Some(reset)));
    }
}
