//! cinnabar-cli: a redis-cli compatible command-line client.
//!
//! The library holds everything, so that tests reach it without a terminal:
//! options ([`args`]), the connection ([`conn`]), reply formatting ([`format`]),
//! line splitting ([`split`]), the help table behind HELP, hints and completion
//! ([`help`]), command execution ([`session`]), the REPL ([`repl`]) and the
//! special modes ([`modes`]).

pub mod args;
pub mod conn;
pub mod format;
pub mod help;
pub mod modes;
pub mod repl;
pub mod session;
pub mod split;
pub mod tls;

pub use format::{format_raw, format_tty};
pub use split::split_args;
