//! A generic, owned RESP2/RESP3 value with a parser and encoders.
//!
//! Used by clients (the CLI), tests and tools, not on the server's request
//! path, so it favours simplicity: the parser is stateless and re-parses
//! from the start of the buffer when called again after `Ok(None)`. Bulk
//! payloads are still skipped by length, so that costs O(number of frames).

use bytes::Bytes;

use crate::reply::{format_double, DoubleText, Protocol};
use crate::{find_byte, parse_i64};

/// Maximum nesting of aggregates accepted by [`Frame::parse`]. The parser is
/// recursive; this keeps hostile input such as `*1\r\n*1\r\n...` from
/// overflowing the stack.
pub const MAX_DEPTH: usize = 512;

/// Initial capacity cap for aggregates: a declared element count is not
/// trusted (a few bytes can announce billions of elements, repeated at every
/// nesting level), so vectors start small and grow as elements arrive.
const MAX_PREALLOC: usize = 64;

/// One RESP value.
///
/// RESP2 null bulk strings and null arrays both parse to [`Frame::Null`].
/// RESP3 blob errors (`!`) parse to [`Frame::Error`]. Attributes (`|`) are
/// parsed and dropped: the frame they annotate is returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Double(f64),
    Boolean(bool),
    BigNumber(String),
    Verbatim { format: String, text: Bytes },
    Push(Vec<Frame>),
}

/// Malformed RESP input.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The first byte of a frame is not a known RESP type.
    #[error("invalid frame type byte {:?}", char::from(*.0))]
    InvalidType(u8),
    /// A length or element count that is not a valid integer or is negative
    /// (other than the RESP2 null `-1`).
    #[error("invalid length")]
    InvalidLength,
    #[error("invalid integer")]
    InvalidInteger,
    #[error("invalid double")]
    InvalidDouble,
    #[error("invalid boolean")]
    InvalidBoolean,
    #[error("invalid big number")]
    InvalidBigNumber,
    /// A verbatim string shorter than its `fmt:` prefix or without the `:`.
    #[error("invalid verbatim string")]
    InvalidVerbatim,
    /// `_` followed by something other than `\r\n`.
    #[error("invalid null")]
    InvalidNull,
    /// A line or payload not terminated by `\r\n`.
    #[error("expected CRLF")]
    ExpectedCrlf,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    #[error("frame nesting too deep")]
    TooDeep,
}

/// Why parsing stopped early: not enough bytes yet, or bad bytes.
enum Stop {
    Incomplete,
    Invalid(FrameError),
}

impl From<FrameError> for Stop {
    fn from(e: FrameError) -> Self {
        Stop::Invalid(e)
    }
}

type Step<T> = Result<T, Stop>;

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The rest of a line up to `\r\n`, which is consumed.
    fn line(&mut self) -> Step<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let cr = find_byte(rest, b'\r').ok_or(Stop::Incomplete)?;
        match rest.get(cr + 1) {
            None => Err(Stop::Incomplete),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(&rest[..cr])
            }
            Some(_) => Err(FrameError::ExpectedCrlf.into()),
        }
    }

    /// A length line: `None` for `-1` when `allow_null`.
    fn length(&mut self, allow_null: bool) -> Step<Option<usize>> {
        match parse_i64(self.line()?) {
            Some(-1) if allow_null => Ok(None),
            Some(n) => match usize::try_from(n) {
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(FrameError::InvalidLength.into()),
            },
            None => Err(FrameError::InvalidLength.into()),
        }
    }

    /// `len` payload bytes followed by `\r\n`, skipped by length.
    fn payload(&mut self, len: usize) -> Step<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        match rest.get(len..) {
            Some([b'\r', b'\n', ..]) => {
                self.pos += len + 2;
                Ok(&rest[..len])
            }
            Some([]) | Some([b'\r']) | None => Err(Stop::Incomplete),
            Some(_) => Err(FrameError::ExpectedCrlf.into()),
        }
    }

    fn elements(&mut self, n: usize, depth: usize) -> Step<Vec<Frame>> {
        let mut items = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            items.push(self.frame(depth + 1)?);
        }
        Ok(items)
    }

    fn pairs(&mut self, n: usize, depth: usize) -> Step<Vec<(Frame, Frame)>> {
        let mut items = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            let key = self.frame(depth + 1)?;
            let value = self.frame(depth + 1)?;
            items.push((key, value));
        }
        Ok(items)
    }

    fn frame(&mut self, depth: usize) -> Step<Frame> {
        if depth > MAX_DEPTH {
            return Err(FrameError::TooDeep.into());
        }
        loop {
            let kind = *self.buf.get(self.pos).ok_or(Stop::Incomplete)?;
            self.pos += 1;
            let frame = match kind {
                b'+' => Frame::Simple(lossy(self.line()?)),
                b'-' => Frame::Error(lossy(self.line()?)),
                b':' => Frame::Integer(parse_i64(self.line()?).ok_or(FrameError::InvalidInteger)?),
                b'$' => match self.length(true)? {
                    None => Frame::Null,
                    Some(len) => Frame::Bulk(Bytes::copy_from_slice(self.payload(len)?)),
                },
                b'!' => {
                    let len = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    Frame::Error(lossy(self.payload(len)?))
                }
                b'*' => match self.length(true)? {
                    None => Frame::Null,
                    Some(n) => Frame::Array(self.elements(n, depth)?),
                },
                b'~' => {
                    let n = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    Frame::Set(self.elements(n, depth)?)
                }
                b'>' => {
                    let n = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    Frame::Push(self.elements(n, depth)?)
                }
                b'%' => {
                    let n = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    Frame::Map(self.pairs(n, depth)?)
                }
                b'|' => {
                    // Attributes annotate the next frame; clients may ignore
                    // them, and so do we. Looping (rather than recursing)
                    // keeps a run of attributes from consuming stack.
                    let n = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    self.pairs(n, depth)?;
                    continue;
                }
                b'_' => {
                    if !self.line()?.is_empty() {
                        return Err(FrameError::InvalidNull.into());
                    }
                    Frame::Null
                }
                b',' => Frame::Double(parse_double(self.line()?)?),
                b'#' => match self.line()? {
                    b"t" => Frame::Boolean(true),
                    b"f" => Frame::Boolean(false),
                    _ => return Err(FrameError::InvalidBoolean.into()),
                },
                b'(' => {
                    let line = self.line()?;
                    let digits = line.strip_prefix(b"-").unwrap_or(line);
                    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                        return Err(FrameError::InvalidBigNumber.into());
                    }
                    Frame::BigNumber(lossy(line))
                }
                b'=' => {
                    let len = self.length(false)?.ok_or(FrameError::InvalidLength)?;
                    let body = self.payload(len)?;
                    match body {
                        [f0, f1, f2, b':', text @ ..] => Frame::Verbatim {
                            format: lossy(&[*f0, *f1, *f2]),
                            text: Bytes::copy_from_slice(text),
                        },
                        _ => return Err(FrameError::InvalidVerbatim.into()),
                    }
                }
                other => return Err(FrameError::InvalidType(other).into()),
            };
            return Ok(frame);
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_double(line: &[u8]) -> Result<f64, FrameError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(FrameError::InvalidDouble)
}

impl Frame {
    /// Parse one frame at the start of `buf`.
    ///
    /// `Ok(Some((frame, consumed)))` on success, `Ok(None)` if `buf` holds
    /// only a prefix of a frame, `Err` if the bytes cannot be RESP. Strings
    /// that are not UTF-8 (simple strings, errors, verbatim formats) are
    /// converted lossily.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let mut parser = Parser { buf, pos: 0 };
        match parser.frame(0) {
            Ok(frame) => Ok(Some((frame, parser.pos))),
            Err(Stop::Incomplete) => Ok(None),
            Err(Stop::Invalid(e)) => Err(e),
        }
    }

    /// Append the RESP3 encoding of this frame.
    ///
    /// Content that a type cannot carry is adjusted so the output always
    /// stays well-formed: an error containing `\r` or `\n` is sent as a blob
    /// error (`!`), a simple string gets them replaced by spaces, and a
    /// verbatim `format` that is not exactly 3 bytes becomes `txt`. Big
    /// numbers are written as given and must be digits.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(out, Protocol::Resp3);
    }

    /// Append the RESP2 encoding of this frame, degrading RESP3 types as
    /// Redis does: null -> `$-1`, map -> flat array, set/push -> array,
    /// double/big number/verbatim -> bulk string, boolean -> `:1`/`:0`.
    /// RESP2 has no blob error, so line breaks in simple strings and errors
    /// become spaces (as Redis does for error replies).
    pub fn encode_resp2(&self, out: &mut Vec<u8>) {
        self.write(out, Protocol::Resp2);
    }

    fn write(&self, out: &mut Vec<u8>, proto: Protocol) {
        let resp3 = proto == Protocol::Resp3;
        match self {
            Frame::Simple(s) => single_line(out, b'+', s.as_bytes()),
            Frame::Error(s) if resp3 && has_newline(s.as_bytes()) => {
                // Only a blob error can carry a line break intact.
                header(out, b'!', s.len());
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Frame::Error(s) => single_line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => line(out, b':', itoa::Buffer::new().format(*n).as_bytes()),
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|f| f.write(out, proto));
            }
            Frame::Set(items) | Frame::Push(items) => {
                let kind = match (self, resp3) {
                    (_, false) => b'*',
                    (Frame::Set(_), true) => b'~',
                    _ => b'>',
                };
                header(out, kind, items.len());
                items.iter().for_each(|f| f.write(out, proto));
            }
            Frame::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', 2 * pairs.len());
                }
                for (k, v) in pairs {
                    k.write(out, proto);
                    v.write(out, proto);
                }
            }
            Frame::Double(v) => {
                let mut text = DoubleText::new();
                let repr = format_double(*v, &mut text);
                if resp3 {
                    line(out, b',', repr);
                } else {
                    bulk(out, repr);
                }
            }
            Frame::Boolean(b) => out.extend_from_slice(match (resp3, b) {
                (true, true) => b"#t\r\n",
                (true, false) => b"#f\r\n",
                (false, true) => b":1\r\n",
                (false, false) => b":0\r\n",
            }),
            Frame::BigNumber(digits) if resp3 => line(out, b'(', digits.as_bytes()),
            Frame::BigNumber(digits) => bulk(out, digits.as_bytes()),
            Frame::Verbatim { format, text } if resp3 => {
                let format = match format.as_bytes() {
                    f @ [_, _, _] => f,
                    _ => b"txt",
                };
                header(out, b'=', text.len() + 4);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Verbatim { text, .. } => bulk(out, text),
        }
    }
}

fn has_newline(s: &[u8]) -> bool {
    s.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// A `+`/`-` line whose body must not break the framing.
fn single_line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let start = out.len() + 1;
    line(out, kind, body);
    let end = out.len() - 2;
    for b in &mut out[start..end] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
}

/// `<kind><n>\r\n`; one- and two-digit lengths (nearly every argument of a propagated
/// command) without the digit loop.
#[inline]
fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    if n < 10 {
        out.extend_from_slice(&[kind, b'0' + n as u8, b'\r', b'\n']);
    } else if n < 100 {
        out.extend_from_slice(&[
            kind,
            b'0' + (n / 10) as u8,
            b'0' + (n % 10) as u8,
            b'\r',
            b'\n',
        ]);
    } else {
        line(out, kind, itoa::Buffer::new().format(n).as_bytes());
    }
}

fn line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.push(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, payload: &[u8]) {
    out.reserve(payload.len() + 16);
    header(out, b'$', payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Append `args` as a RESP array of bulk strings: the form in which clients
/// send commands. On the write path (every propagated command is encoded once), so it
/// reserves once.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    // A header is at most 1 + 20 digits + 2; a bulk adds its CRLF.
    let need = 23 + args.iter().map(|a| a.as_ref().len() + 25).sum::<usize>();
    out.reserve(need);
    header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests;
