//! The database connection: one multiplexed connection, reconnected on failure, that fails
//! fast while the database is away.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// A [`ConnectionManager`] that retries a command once when it was refused a connection.
///
/// The manager's defaults would make requests wait for many seconds while the database is
/// away (six reconnection attempts with pauses of a second and more, no timeouts). Without
/// retries, a request costs at most one connection attempt, refused at once, so the service
/// answers 503 promptly. But the manager then keeps that failed attempt until a request
/// notices it, so the first request after the database is back would fail too; hence the one
/// retry. It is safe: a refused connection means the command was never sent.
#[derive(Clone)]
pub struct Db(ConnectionManager);

impl Db {
    /// Connects; `timeout` bounds each connection attempt and each command's answer.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Db, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(0);
        Ok(Db(ConnectionManager::new_with_config(client, config).await?))
    }
}

impl ConnectionLike for Db {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self.0.req_packed_command(cmd).await {
                Err(e) if e.is_connection_refusal() => self.0.req_packed_command(cmd).await,
                other => other,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self.0.req_packed_commands(cmd, offset, count).await {
                Err(e) if e.is_connection_refusal() => {
                    self.0.req_packed_commands(cmd, offset, count).await
                }
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
