//! cinnabar-cli: a redis-cli compatible command-line client.
//!
//! The library part holds everything testable without a terminal: reply formatting
//! ([`format`]), line splitting ([`split_args`]) and the connection ([`conn`]).

pub mod conn;
pub mod format;
pub mod split;

pub use format::{format_raw, format_tty};
pub use split::split_args;
