//! Stream IDs (`<ms>-<seq>`, two u64) and the errors of the stream commands.
//!
//! IDs are parsed exactly as Redis 7.2 parses them, quirks included, because clients see the
//! difference: each half goes through `string2ull` ([`crate::num::parse_u64`]: leading spaces,
//! `+`, leading zeros and even a `-` that negates modulo 2^64 are accepted), a missing
//! sequence is filled in by the caller's rule (0 for a range start, `u64::MAX` for a range
//! end), and inputs over 127 bytes are refused outright. `-` and `+` are the smallest and
//! largest IDs except where Redis wants a "strict" ID (XADD, XDEL, XACK, XCLAIM, MINID...).
//!
//! The error texts are Redis's, code included, so the command layer can reply with
//! `StreamError`'s `Display` (or [`StreamError::as_str`]) unchanged. Errors that name a key
//! or a group (NOGROUP) are built by the functions at the end of this module.

use std::fmt;

use crate::error::Error;

/// A stream entry ID. Ordered as Redis orders them: by `ms`, then by `seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, the smallest ID (`-` in a range); never the ID of an entry.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID (`+` in a range).
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID, or `None` after [`StreamId::MAX`] (Redis's streamIncrID fails there).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, or `None` before `0-0` (streamDecrID fails there).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The 128-bit big-endian form Redis uses as radix tree key and in RDB PELs.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: [u8; 16]) -> StreamId {
        StreamId::new(
            u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
        )
    }

    /// Appends `ms-seq` to `out` (the reply form).
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    /// `ms-seq` as bytes.
    pub fn to_vec(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        self.write_to(&mut v);
        v
    }

    /// Parses an ID where `-` and `+` are allowed (XRANGE bounds, XGROUP SETID, XPENDING):
    /// `missing_seq` fills in the sequence of a bare `<ms>`.
    pub fn parse(s: &[u8], missing_seq: u64) -> Result<StreamId, StreamError> {
        match parse_generic(s, missing_seq, false, false)? {
            (id, true) => Ok(id),
            (_, false) => Err(StreamError::InvalidId),
        }
    }

    /// Parses a "strict" ID: `-` and `+` are invalid (XADD, XDEL, XACK, XCLAIM, XSETID,
    /// MINID, XREAD/XREADGROUP IDs, XGROUP CREATE).
    pub fn parse_strict(s: &[u8], missing_seq: u64) -> Result<StreamId, StreamError> {
        match parse_generic(s, missing_seq, true, false)? {
            (id, true) => Ok(id),
            (_, false) => Err(StreamError::InvalidId),
        }
    }

    /// Parses the start of an interval (XRANGE start, XREVRANGE's second bound, XPENDING,
    /// XAUTOCLAIM): a bare `<ms>` means `<ms>-0`, and `(id` (exclusive) means the ID after
    /// `id` ("invalid start ID for the interval" when there is none).
    pub fn parse_interval_start(s: &[u8]) -> Result<StreamId, StreamError> {
        if s.len() > 1 && s[0] == b'(' {
            let id = StreamId::parse_strict(&s[1..], 0)?;
            id.incr().ok_or(StreamError::InvalidStartInterval)
        } else {
            StreamId::parse(s, 0)
        }
    }

    /// Parses the end of an interval: a bare `<ms>` means `<ms>-18446744073709551615`, and
    /// `(id` the ID before `id` ("invalid end ID for the interval" when there is none).
    pub fn parse_interval_end(s: &[u8]) -> Result<StreamId, StreamError> {
        if s.len() > 1 && s[0] == b'(' {
            let id = StreamId::parse_strict(&s[1..], u64::MAX)?;
            id.decr().ok_or(StreamError::InvalidEndInterval)
        } else {
            StreamId::parse(s, u64::MAX)
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The ID argument of XADD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddId {
    /// `*`: generated from the clock (or the last ID when the clock is behind).
    Auto,
    /// `<ms>-*`: this millisecond, with the next free sequence number.
    AutoSeq(u64),
    /// An explicit ID (a bare `<ms>` means `<ms>-0`).
    Explicit(StreamId),
}

impl AddId {
    /// Parses XADD's ID argument: `*`, `<ms>-*`, or a strict ID. Explicit `0-0` is accepted
    /// here; [`Stream::add`](super::Stream::add) refuses it with [`StreamError::IdZero`]
    /// (Redis checks it before looking the key up: the command layer should too, with
    /// [`AddId::is_zero`], so that `XADD missing NOMKSTREAM 0-0` still errors).
    pub fn parse(s: &[u8]) -> Result<AddId, StreamError> {
        if s == b"*" {
            return Ok(AddId::Auto);
        }
        match parse_generic(s, 0, true, true)? {
            (id, true) => Ok(AddId::Explicit(id)),
            (id, false) => Ok(AddId::AutoSeq(id.ms)),
        }
    }

    /// True for an explicit `0-0`, which XADD refuses before anything else.
    pub fn is_zero(self) -> bool {
        self == AddId::Explicit(StreamId::MIN)
    }
}

/// Redis's streamGenericParseIDOrReply: returns the ID and whether the sequence was given
/// (false only for `<ms>-*` when `seq_star` allows that form).
fn parse_generic(
    s: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), StreamError> {
    if s.len() > 127 {
        return Err(StreamError::InvalidId);
    }
    // Redis copies the argument into a C string: an embedded NUL ends it.
    let s = match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    match s {
        b"-" | b"+" if strict => return Err(StreamError::InvalidId),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms_part, seq_part) = match s.iter().position(|&c| c == b'-') {
        Some(dash) => (&s[..dash], Some(&s[dash + 1..])),
        None => (s, None),
    };
    let ms = crate::num::parse_u64(ms_part).ok_or(StreamError::InvalidId)?;
    match seq_part {
        None => Ok((StreamId::new(ms, missing_seq), true)),
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => {
            let seq = crate::num::parse_u64(seq).ok_or(StreamError::InvalidId)?;
            Ok((StreamId::new(ms, seq), true))
        }
    }
}

/// The fixed error replies of the stream commands (text as Redis sends it, after the `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    InvalidId,
    IdTooSmall,
    IdZero,
    Exhausted,
    TooLarge,
    InvalidStartInterval,
    InvalidEndInterval,
    NegativeMaxLen,
    NegativeLimit,
    MaxLenAndMinId,
    LimitWithoutStrategy,
    LimitWithoutApprox,
    XtrimWithoutStrategy,
    BusyGroup,
    BadEntriesRead,
    XgroupNoKey,
    SetIdBelowTop,
    SetIdBelowMaxDeleted,
    SetIdBelowGivenMaxDeleted,
    SetIdEntriesAddedBelowLength,
    NegativeEntriesAdded,
    XclaimMinIdle,
    XclaimIdle,
    XclaimTime,
    XclaimRetryCount,
    XautoclaimMinIdle,
    XautoclaimCount,
    MissingGroup,
    GroupInXread,
    NoackInXread,
    DollarInXreadgroup,
    GreaterInXread,
}

impl StreamError {
    /// The error text (what `Display` writes), as a static string.
    pub fn as_str(self) -> &'static str {
        use StreamError::*;
        match self {
            InvalidId => "ERR Invalid stream ID specified as stream command argument",
            IdTooSmall => "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            IdZero => "ERR The ID specified in XADD must be greater than 0-0",
            Exhausted => "ERR The stream has exhausted the last possible ID, unable to add more items",
            TooLarge => "ERR Elements are too large to be stored",
            InvalidStartInterval => "ERR invalid start ID for the interval",
            InvalidEndInterval => "ERR invalid end ID for the interval",
            NegativeMaxLen => "ERR The MAXLEN argument must be >= 0.",
            NegativeLimit => "ERR The LIMIT argument must be >= 0.",
            MaxLenAndMinId => "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            LimitWithoutStrategy => "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            LimitWithoutApprox => "ERR syntax error, LIMIT cannot be used without the special ~ option",
            XtrimWithoutStrategy => "ERR syntax error, XTRIM must be called with a trimming strategy",
            BusyGroup => "BUSYGROUP Consumer Group name already exists",
            BadEntriesRead => "ERR value for ENTRIESREAD must be positive or -1",
            XgroupNoKey => "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            SetIdBelowTop => "ERR The ID specified in XSETID is smaller than the target stream top item",
            SetIdBelowMaxDeleted => "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
            SetIdBelowGivenMaxDeleted => "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
            SetIdEntriesAddedBelowLength => "ERR The entries_added specified in XSETID is smaller than the target stream length",
            NegativeEntriesAdded => "ERR entries_added must be positive",
            XclaimMinIdle => "ERR Invalid min-idle-time argument for XCLAIM",
            XclaimIdle => "ERR Invalid IDLE option argument for XCLAIM",
            XclaimTime => "ERR Invalid TIME option argument for XCLAIM",
            XclaimRetryCount => "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            XautoclaimMinIdle => "ERR Invalid min-idle-time argument for XAUTOCLAIM",
            XautoclaimCount => "ERR COUNT must be > 0",
            MissingGroup => "ERR Missing GROUP option for XREADGROUP",
            GroupInXread => "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            NoackInXread => "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            DollarInXreadgroup => "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            GreaterInXread => "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for StreamError {}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    // Redis formats names with %s: the bytes up to the first NUL.
    let b = match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    };
    String::from_utf8_lossy(b)
}

/// XREADGROUP on a missing key or group.
pub fn err_nogroup_xreadgroup(key: &[u8], group: &[u8]) -> Error {
    Error::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        lossy(key),
        lossy(group)
    ))
}

/// XPENDING, XCLAIM and XAUTOCLAIM on a missing key or group.
pub fn err_nogroup_key_or_group(key: &[u8], group: &[u8]) -> Error {
    Error::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

/// XGROUP SETID/CREATECONSUMER/DELCONSUMER and XINFO CONSUMERS on a missing group.
pub fn err_nogroup_for_key(group: &[u8], key: &[u8]) -> Error {
    Error::msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        lossy(group),
        lossy(key)
    ))
}

/// XREAD/XREADGROUP with an odd number of arguments after STREAMS (`xreadgroup` picks the
/// command name and the symbol Redis suggests: `>` or `$`).
pub fn err_unbalanced(xreadgroup: bool) -> Error {
    let (name, sym) = if xreadgroup {
        ("xreadgroup", '>')
    } else {
        ("xread", '$')
    };
    Error::msg(format!(
        "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{sym}' must be specified."
    ))
}

/// XCLAIM with an unknown trailing option.
pub fn err_xclaim_option(opt: &[u8]) -> Error {
    Error::msg(format!("ERR Unrecognized XCLAIM option '{}'", lossy(opt)))
}

/// XREAD/XREADGROUP with BLOCK inside a script (`name` as the client typed it).
pub fn err_block_in_script(name: &[u8]) -> Error {
    Error::msg(format!(
        "ERR {} command is not allowed with BLOCK option from scripts",
        lossy(name)
    ))
}
