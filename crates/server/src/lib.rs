//! The Cinnabar server: a Redis-compatible in-memory database.
//!
//! Layers, from the socket down (docs/ARCHITECTURE.md has the picture):
//! - [`net`]: listeners, the worker threads that own connections, and each connection's
//!   read-parse-execute-write loop ([`net::conn`]).
//! - [`dispatch`]: the core every command goes through: lookup in the [`dispatch::Registry`],
//!   the checks Redis's processCommand makes, shard locking, running the handler, and the
//!   effects sink ([`dispatch::effects`], [`dispatch::sink`]) that delivers what it changed.
//! - [`cmd`]: the command families, one file per data type or area (like Redis's t_*.c),
//!   each registering its handlers.
//! - Subsystems the core and families call, which never import a family: [`acl`] (users and
//!   permissions), [`propagate`] (the
//!   stream of changes the AOF reads), [`persist`] (RDB, AOF), [`scripting`], [`pubsub`],
//!   [`notify`] (keyspace events), [`tracking`] (client-side caching), [`blocking`] (blocked
//!   clients), [`evict`] and [`alloc`] (maxmemory), [`cron`], [`info`], [`config`].
//! - [`server`]: the state shared by all connections. (Tests use the `cinnabar-testkit`
//!   crate.)

pub mod acl;
pub mod alloc;
pub mod blocking;
pub mod climem;
pub mod cmd;
pub mod config;
pub mod config_compat;
pub mod cron;
pub mod dispatch;
pub mod evict;
pub mod info;
pub mod net;
pub mod notify;
pub mod ops;
pub mod pause;
pub mod persist;
pub mod propagate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod shutdown;
pub mod timer;
pub mod tracking;

pub use net::{start, ServerHandle};
