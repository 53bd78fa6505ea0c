//! The server's integration tests, one module per area, linked into one test binary: each
//! binary links the whole server, and on a small machine linking dominated the test build
//! when every file was a binary of its own. A new area is a new module here (its file next
//! to this one); helpers shared by several modules are modules too (`redis_oracle`,
//! `streams_common`). Every test starts its own servers (see the `cinnabar-testkit` crate).
//!
//! Not here: tests/eviction.rs, a binary of its own, because used_memory counts the whole
//! process and its limits would move with whatever the other tests allocate.

mod abuse;
mod acl;
mod admin;
mod aof;
mod aof_files;
mod binary;
mod bitops;
mod blocking;
mod collections;
mod concurrency;
mod effects_diff;
mod effects_keys;
mod geo;
mod hash;
mod hll;
mod keys;
mod limits;
mod list;
mod list_set_effects;
mod loading;
mod multi;
mod networking;
mod notify;
mod ops;
mod ops_compat;
mod persist;
mod propagation;
mod protocol;
mod pubsub;
mod ratelimit;
mod redis_conf;
mod redis_oracle;
mod replication;
mod replication_link;
mod replication_load;
mod replication_shared;
mod replication_switch;
mod scripting;
mod sentinel;
mod set;
mod shutdown;
mod sort;
mod streams;
mod streams_blocking;
mod streams_common;
mod streams_diff;
mod streams_model;
mod streams_persist;
mod strings;
mod tls;
mod tracking;
mod tx_atomicity;
mod unix_socket;
mod zset;
