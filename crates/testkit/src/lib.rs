//! The test kit every Cinnabar test suite uses (a dev-dependency only).
//!
//! Rules it enforces, so that a test can fail but never hang or pass by chance:
//! - Nothing waits without a deadline: every wait goes through [`eventually`] (or its async
//!   twin) and fails with a message naming what it waited for. No test outcome is decided
//!   by a sleep; tests wait for the state they need (a client blocked, a file loaded, a key
//!   expired after `DEBUG ADVANCE-CLOCK`).
//! - Servers run on free loopback ports, never an assumed one: [`TestServer`] in-process,
//!   [`ChildServer`] as a `cinnabar-server` process (for SIGKILL and start-up tests),
//!   [`RealRedis`] as a real `redis-server` to compare with.
//! - Comparison tests never skip silently: without redis-server/redis-cli they fail, unless
//!   `CINNABAR_NO_REDIS=1` says to skip them knowingly; `REQUIRE_REDIS=1` (CI) overrides
//!   that and also turns a too-old binary into a failure (see [`real`]).

pub mod conn;
pub mod dataset;
pub mod real;
pub mod relay;
pub mod server;
pub mod tls;
pub mod wait;

pub use conn::{assert_watch_outcomes, bulk, err, int, ok, text, words, RawConn};
pub use dataset::{assert_same_dataset, describe_dataset, Dump};
pub use real::{RealRedis, RealSentinel, RedisCli};
pub use relay::Relay;
pub use server::{free_port, temp_dir, wait_exit, ChildServer, TestServer};
pub use tls::{Pki, TlsConn};
pub use wait::{eventually, eventually_async, Outcome, PATIENCE};
