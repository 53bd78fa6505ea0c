//! The Cinnabar server: a Redis-compatible in-memory database.
//!
//! - [`config`]: parameters, redis.conf parsing, CONFIG GET/SET values.
//! - [`server`]: the state shared by all connections.
//! - [`net`]: listeners and the worker threads that own connections.
//! - [`conn`]: one connection's read-parse-execute-write loop.
//! - [`dispatch`]: command lookup, central checks, shard locking, statistics.
//! - [`alloc`]: the counting allocator behind used_memory; [`evict`]: maxmemory and eviction.
//! - [`cmd`]: the command families, one file per data type or area, like Redis's t_*.c.
//! - [`testkit`]: start a server on a free port, for tests.

pub mod alloc;
pub mod blocking;
pub mod cmd;
pub mod config;
pub mod cron;
pub mod dispatch;
pub mod evict;
pub mod info;
pub mod net;
pub mod notify;
pub mod persist;
pub mod propagate;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod testkit;
pub mod tracking;

pub use net::{start, ServerHandle};
