//! The cache in the database: entries with a TTL, and the cross-instance fill lock.
//!
//! Keys (all under one prefix, `apicache:` by default):
//! - `apicache:stars:<owner/name>`: the star count in decimal, or `!notfound` for a
//!   repository the upstream said does not exist (a negative entry, so it can never be read
//!   back as a number);
//! - `apicache:lock:<owner/name>`: held (with a random token and a short PX) by the one
//!   instance fetching that repository right now.

use std::time::Duration;

use redis::{RedisError, Script};

use crate::db::Db;

/// Marks a negative entry. Not a number, so no reader can mistake it for a star count.
const NOT_FOUND: &str = "!notfound";

/// Deletes the lock only if it still holds our token: after our PX ran out another instance
/// may have taken it, and a plain DEL would free *its* lock.
const RELEASE_LOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

/// What a cache entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Stars(u64),
    NotFound,
}

/// A live entry and how long it has left (None: the key has no expiry, e.g. set by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub value: Cached,
    pub ttl: Option<Duration>,
}

/// The database side of the cache. Cheap to clone: every request shares one multiplexed
/// connection, reconnected after a failure (see [`Db`]).
#[derive(Clone)]
pub struct Store {
    conn: Db,
    prefix: String,
    release: Script,
}

impl Store {
    pub async fn connect(url: &str, timeout: Duration, prefix: &str) -> Result<Store, RedisError> {
        let conn = Db::connect(url, timeout).await?;
        Ok(Store {
            conn,
            prefix: prefix.to_string(),
            release: Script::new(RELEASE_LOCK),
        })
    }

    fn entry_key(&self, id: &str) -> String {
        format!("{}stars:{}", self.prefix, id)
    }

    fn lock_key(&self, id: &str) -> String {
        format!("{}lock:{}", self.prefix, id)
    }

    /// Reads an entry and its remaining TTL in one round trip. GET and PTTL run in one
    /// MULTI/EXEC so the TTL reported is the one of the value read. A value that is neither a
    /// number nor the negative marker (someone wrote the key by hand) counts as a miss and
    /// will be overwritten by the next fill.
    pub async fn get(&self, id: &str) -> Result<Option<Entry>, RedisError> {
        let key = self.entry_key(id);
        let mut conn = self.conn.clone();
        let (value, pttl): (Option<String>, i64) = redis::pipe()
            .atomic()
            .get(&key)
            .pttl(&key)
            .query_async(&mut conn)
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let value = if value == NOT_FOUND {
            Cached::NotFound
        } else if let Ok(n) = value.parse::<u64>() {
            Cached::Stars(n)
        } else {
            tracing::warn!(key, value, "unexpected cache value, treated as a miss");
            return Ok(None);
        };
        let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok(Some(Entry { value, ttl }))
    }

    /// Stores an entry with an expiry (SET ... PX, so value and TTL appear together).
    pub async fn put(&self, id: &str, value: Cached, ttl: Duration) -> Result<(), RedisError> {
        let text = match value {
            Cached::Stars(n) => n.to_string(),
            Cached::NotFound => NOT_FOUND.to_string(),
        };
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(self.entry_key(id))
            .arg(text)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await
    }

    /// Tries to become the one instance that fills `id`: SET NX PX with a token only we know.
    pub async fn try_lock(&self, id: &str, token: &str, ttl: Duration) -> Result<bool, RedisError> {
        let mut conn = self.conn.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.lock_key(id))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await?;
        Ok(reply.is_some())
    }

    /// Frees the lock if it is still ours (see [`RELEASE_LOCK`]).
    pub async fn unlock(&self, id: &str, token: &str) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .release
            .key(self.lock_key(id))
            .arg(token)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// PING, for the health check.
    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
