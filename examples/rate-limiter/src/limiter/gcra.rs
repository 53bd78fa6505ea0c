//! GCRA (generic cell rate algorithm) through the server's native `CL.THROTTLE`, the
//! command of the redis-cell module.
//!
//! `CL.THROTTLE key max_burst count_per_period period [quantity]` answers
//! `[limited 0/1, limit (= max_burst + 1), remaining, retry_after seconds or -1,
//! reset_after seconds]`.
//!
//! GCRA keeps one timestamp per client (the "theoretical arrival time"): requests are spaced
//! `period / count` apart on average, and up to `max_burst + 1` may come at once. Smooth (no
//! boundary burst as with a fixed window), exact, and O(1) memory per client, unlike the
//! sliding log. Refused requests use nothing up.

use redis::{RedisError, Value};

use crate::db::Db;
use std::time::Duration;

use super::{Decision, LimiterError};

#[derive(Clone)]
pub struct Gcra {
    prefix: String,
    pub(crate) max_burst: u64,
    count: u64,
    period_secs: u64,
}

impl Gcra {
    /// `count` requests per `period_secs`, with bursts of up to `max_burst + 1`.
    pub fn new(prefix: String, max_burst: u64, count: u64, period_secs: u64) -> Gcra {
        Gcra {
            prefix,
            max_burst,
            count,
            period_secs,
        }
    }

    /// The command for one request of `client`.
    fn command(&self, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("CL.THROTTLE");
        cmd.arg(key)
            .arg(self.max_burst)
            .arg(self.count)
            .arg(self.period_secs)
            .arg(1);
        cmd
    }

    /// Checks once, at start-up, that the server knows CL.THROTTLE (on a key of its own,
    /// deleted afterwards), so a server without it is reported clearly.
    pub async fn probe(&self, conn: &mut Db) -> Result<(), LimiterError> {
        let key = format!("{}probe", self.prefix);
        let reply: Result<Value, RedisError> = self.command(&key).query_async(conn).await;
        match reply {
            Ok(v) => {
                parse_reply(&v).map_err(|e| LimiterError::NoThrottle(e.to_string()))?;
                let _: i64 = redis::cmd("DEL").arg(&key).query_async(conn).await?;
                Ok(())
            }
            Err(e) if e.kind() == redis::ErrorKind::ResponseError => {
                Err(LimiterError::NoThrottle(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn check(&self, conn: &mut Db, client: &str) -> Result<Decision, RedisError> {
        let key = format!("{}{}", self.prefix, client);
        let reply: Value = self.command(&key).query_async(conn).await?;
        parse_reply(&reply)
    }
}

/// Turns CL.THROTTLE's five integers into a decision. The reply counts in whole seconds; a
/// refused request's `Retry-After` is at least one second (0 would invite an immediate,
/// doomed retry).
pub fn parse_reply(reply: &Value) -> Result<Decision, RedisError> {
    let bad = || {
        RedisError::from((
            redis::ErrorKind::TypeError,
            "unexpected CL.THROTTLE reply",
            format!("{reply:?}"),
        ))
    };
    let Value::Array(items) = reply else {
        return Err(bad());
    };
    let mut n = [0i64; 5];
    if items.len() != 5 {
        return Err(bad());
    }
    for (slot, item) in n.iter_mut().zip(items) {
        let Value::Int(v) = item else {
            return Err(bad());
        };
        *slot = *v;
    }
    let [limited, limit, remaining, retry_after, reset_after] = n;
    if !(limited == 0 || limited == 1) || limit < 1 || remaining < 0 {
        return Err(bad());
    }
    let allowed = limited == 0;
    Ok(Decision {
        allowed,
        limit: limit as u64,
        remaining: remaining as u64,
        reset_after: Duration::from_secs(reset_after.max(0) as u64),
        retry_after: (!allowed).then(|| Duration::from_secs(retry_after.max(1) as u64)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(n: [i64; 5]) -> Value {
        Value::Array(n.iter().map(|&v| Value::Int(v)).collect())
    }

    #[test]
    fn allowed_reply() {
        let d = parse_reply(&reply([0, 5, 4, -1, 2])).unwrap();
        assert_eq!(
            d,
            Decision {
                allowed: true,
                limit: 5,
                remaining: 4,
                reset_after: Duration::from_secs(2),
                retry_after: None,
            }
        );
    }

    #[test]
    fn limited_reply_retry_after_at_least_one_second() {
        let d = parse_reply(&reply([1, 5, 0, 3, 12])).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(d.reset_after, Duration::from_secs(12));
        let d = parse_reply(&reply([1, 5, 0, 0, 1])).unwrap();
        assert_eq!(d.retry_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(parse_reply(&Value::Int(1)).is_err());
        assert!(parse_reply(&Value::Array(vec![Value::Int(0); 4])).is_err());
        assert!(parse_reply(&reply([2, 5, 4, -1, 2])).is_err());
        assert!(parse_reply(&reply([0, 0, 4, -1, 2])).is_err());
        assert!(parse_reply(&Value::Array(vec![
            Value::Int(0),
            Value::Int(5),
            Value::SimpleString("4".into()),
            Value::Int(-1),
            Value::Int(2),
        ]))
        .is_err());
    }

    #[test]
    fn command_follows_the_contract() {
        let g = Gcra::new("rl:gcra:".into(), 4, 5, 60);
        let packed = g.command("rl:gcra:127.0.0.1").get_packed_command();
        let text = String::from_utf8(packed).unwrap();
        let words: Vec<&str> = text
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']))
            .collect();
        assert_eq!(
            words,
            ["CL.THROTTLE", "rl:gcra:127.0.0.1", "4", "5", "60", "1", ""]
        );
    }
}
