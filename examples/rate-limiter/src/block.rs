//! Blocking clients that keep exceeding their limit.
//!
//! Every refusal adds a strike to a counter that lives for one window; the strike that
//! reaches the threshold sets a block key with the block's duration as TTL. While that key
//! exists the client is answered 429 before any limiter runs, so an abusive client costs one
//! PTTL per request and cannot keep its limiter state busy.

use std::time::Duration;

use redis::{RedisError, Script};

use crate::db::Db;

/// One atomic step per refusal: count the strike (the counter expires with the window, so
/// only strikes close together add up) and, at the threshold, block and start counting
/// afresh.
///
/// KEYS[1] strikes, KEYS[2] block; ARGV[1] window ms, ARGV[2] threshold, ARGV[3] block ms.
/// Returns the block's length in ms if this strike blocked the client, else 0.
const STRIKE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if n >= tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
    redis.call('DEL', KEYS[1])
    return tonumber(ARGV[3])
end
return 0
";

#[derive(Clone)]
pub struct Blocker {
    prefix: String,
    /// Strikes that block; 0 disables blocking.
    after: u64,
    window: Duration,
    block: Duration,
    script: Script,
}

impl Blocker {
    pub fn new(prefix: &str, after: u64, window: Duration, block: Duration) -> Blocker {
        Blocker {
            prefix: prefix.to_string(),
            after,
            window,
            block,
            script: Script::new(STRIKE),
        }
    }

    pub fn enabled(&self) -> bool {
        self.after > 0 && !self.block.is_zero()
    }

    fn block_key(&self, client: &str) -> String {
        format!("{}:block:{}", self.prefix, client)
    }

    /// How long `client` stays blocked, if it is.
    pub async fn blocked(
        &self,
        conn: &mut Db,
        client: &str,
    ) -> Result<Option<Duration>, RedisError> {
        if !self.enabled() {
            return Ok(None);
        }
        let pttl: i64 = redis::cmd("PTTL")
            .arg(self.block_key(client))
            .query_async(conn)
            .await?;
        Ok(match pttl {
            // -2: no block. -1 (a block key without expiry, set by hand): blocked until
            // someone deletes it; report the configured length.
            -2 => None,
            -1 => Some(self.block),
            ms => Some(Duration::from_millis(ms.max(1) as u64)),
        })
    }

    /// Records a refusal; returns the block's length if this one blocked the client.
    pub async fn strike(
        &self,
        conn: &mut Db,
        client: &str,
    ) -> Result<Option<Duration>, RedisError> {
        if !self.enabled() {
            return Ok(None);
        }
        let blocked_ms: u64 = self
            .script
            .key(format!("{}:strikes:{}", self.prefix, client))
            .key(self.block_key(client))
            .arg(self.window.as_millis() as u64)
            .arg(self.after)
            .arg(self.block.as_millis() as u64)
            .invoke_async(conn)
            .await?;
        Ok((blocked_ms > 0).then(|| Duration::from_millis(blocked_ms)))
    }
}
