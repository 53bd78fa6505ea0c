//! Command errors and the one place that maps them to Redis's error strings.

use std::borrow::Cow;

/// An error reply. `Display` is the exact text Redis sends after the `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR {0}")]
    Gcra(#[from] crate::gcra::GcraError),
    /// A stream command's error (its text carries its own code).
    #[error("{0}")]
    Stream(#[from] crate::types::stream::StreamError),
    /// Any other error, with its full text including the code (e.g. "ERR ...", "NOAUTH ...").
    #[error("{0}")]
    Other(Cow<'static, str>),
}

impl Error {
    /// An error with a full message, code included.
    pub fn msg(s: impl Into<Cow<'static, str>>) -> Error {
        Error::Other(s.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
