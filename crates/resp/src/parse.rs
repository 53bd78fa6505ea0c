//! Server-side command framing: bytes from a client -> one command's arguments.
//!
//! This is the request hot path, so it is built around two rules:
//!
//! * **Check, then parse.** [`parse_command`] is stateless: it looks at the
//!   start of the connection's buffer and either finds one complete command
//!   or reports that more bytes are needed. The caller simply calls it again
//!   once more bytes arrived. Only the short `*<n>` / `$<len>` header lines
//!   are re-scanned on each call; bulk payloads are skipped by their declared
//!   length and never inspected byte by byte, so a large value trickling in
//!   costs O(number of arguments) per call, not O(bytes).
//! * **No allocation per command.** Arguments are recorded as spans into the
//!   caller's buffer inside a reusable [`Argv`]. Only inline commands (the
//!   telnet-style protocol, where quotes and escapes have to be rewritten)
//!   copy their arguments, into a scratch buffer owned by the same `Argv`.
//!
//! Framing rules and error messages follow Redis 7.2 (`processInlineBuffer`,
//! `processMultibulkBuffer` and `sdssplitargs`), with two deliberate
//! tightenings: the `\r` ending a header line must be followed by `\n`
//! (Redis skips whatever byte follows), and a bulk payload must be followed
//! by `\r\n` (Redis skips any two bytes). Both would otherwise let a
//! desynchronised client be silently misread.

use crate::{find_byte, parse_i64};

/// Size limits applied while framing a command.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted bulk argument (`proto-max-bulk-len`, 512 MiB).
    pub max_bulk_len: usize,
    /// Largest accepted argument count of a multibulk command (1 Mi).
    pub max_multibulk_len: usize,
    /// Longest inline command line, and longest `*`/`$` header line, that
    /// may be buffered without its terminator (Redis's
    /// `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub max_inline_len: usize,
    /// The client has not authenticated yet: at most 10 arguments of at most 16 KiB each
    /// (Redis's limits before AUTH, so an anonymous client cannot make the server buffer
    /// a huge request).
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            unauthenticated: false,
        }
    }
}

/// A malformed request. The connection cannot be resynchronised after one
/// of these: the server replies `-ERR Protocol error: {self}` and closes.
///
/// `Display` is exactly the text Redis 7.2 puts after `Protocol error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*<n>` with a non-numeric, out-of-range or badly terminated count.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<len>` with a non-numeric, negative, too large or badly terminated
    /// length.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// More than 10 arguments before the client authenticated.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk argument over 16 KiB before the client authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// An argument of a multibulk command did not start with `$`. Carries
    /// the offending byte (rendered as a char, as Redis's `%c` does).
    #[error("expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// A bulk payload was not followed by `\r\n`. Redis does not check
    /// this; see the module docs.
    #[error("expected CRLF after bulk data")]
    ExpectedCrlfAfterBulk,
    /// More than `max_inline_len` bytes buffered without a newline.
    #[error("too big inline request")]
    TooBigInlineRequest,
    /// A `*<n>` line longer than `max_inline_len` without `\r`.
    #[error("too big mbulk count string")]
    TooBigMbulkCountString,
    /// A `$<len>` line longer than `max_inline_len` without `\r`.
    #[error("too big bulk count string")]
    TooBigBulkCountString,
    /// An inline command with an unterminated quote, or a closing quote not
    /// followed by whitespace.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
}

/// Byte range of one argument.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

/// The arguments of the most recently parsed command.
///
/// Meant to live as long as the connection and be passed to every
/// [`parse_command`] call: it is cleared, never shrunk, so after the first
/// few commands parsing allocates nothing.
///
/// For multibulk commands the spans index the buffer given to
/// `parse_command`; for inline commands they index an internal scratch
/// buffer holding the unquoted, unescaped arguments. Either way, use
/// [`Argv::get`] / [`Argv::iter`] with that same buffer.
#[derive(Clone, Debug, Default)]
pub struct Argv {
    spans: Vec<Span>,
    scratch: Vec<u8>,
    inline: bool,
}

impl Argv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of arguments, command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Bytes this vector holds on the heap (its spans and scratch space), so a connection
    /// can give it back after an unusually long command.
    pub fn heap_bytes(&self) -> usize {
        self.spans.capacity() * std::mem::size_of::<Span>() + self.scratch.capacity()
    }

    /// Whether the command came in the inline (telnet) format.
    #[cfg(test)]
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// Argument `i`. `buf` must be the buffer that was given to
    /// [`parse_command`] (unchanged since). Panics if `i >= self.len()`.
    pub fn get<'a>(&'a self, buf: &'a [u8], i: usize) -> &'a [u8] {
        let span = self.spans[i];
        &self.source(buf)[span.start..span.end]
    }

    /// All arguments in order; `buf` as for [`Argv::get`].
    pub fn iter<'a>(&'a self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let source = self.source(buf);
        self.spans.iter().map(move |s| &source[s.start..s.end])
    }

    fn source<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        if self.inline {
            &self.scratch
        } else {
            buf
        }
    }

    fn reset(&mut self, inline: bool) {
        self.spans.clear();
        self.scratch.clear();
        self.inline = inline;
    }
}

/// A quick look at the canonical command frame (`*N`, then `N` times `$L` and `L` bytes) at
/// the start of `buf`: its argument `want` and the frame's length. None when the frame is
/// incomplete, inline, or anything but plain bulks. Unlike [`parse_command`] it enforces no
/// limits and checks no terminators: it is for hints (the connection prefetches the keys of
/// a pipeline's next commands), the command itself is parsed properly before it runs.
pub fn peek_arg(buf: &[u8], want: usize) -> Option<(&[u8], usize)> {
    /// A decimal at `p` ended by CRLF: its value and the position after the CRLF.
    #[inline(always)]
    fn number(buf: &[u8], p: usize) -> Option<(usize, usize)> {
        let digits = buf.get(p..)?;
        let mut v = 0usize;
        let mut i = 0;
        while i < digits.len() && digits[i].is_ascii_digit() {
            if i == 18 {
                return None;
            }
            v = v * 10 + (digits[i] - b'0') as usize;
            i += 1;
        }
        (i > 0 && digits.get(i..i + 2) == Some(b"\r\n")).then_some((v, p + i + 2))
    }
    if buf.first() != Some(&b'*') {
        return None;
    }
    let (n, mut p) = number(buf, 1)?;
    let mut found = None;
    for i in 0..n {
        if buf.get(p) != Some(&b'$') {
            return None;
        }
        let (len, at) = number(buf, p + 1)?;
        let end = at.checked_add(len)?;
        if end.checked_add(2)? > buf.len() {
            return None;
        }
        if i == want {
            found = Some(&buf[at..end]);
        }
        p = end + 2;
    }
    Some((found?, p))
}

/// Try to parse one command at the start of `buf`.
///
/// * `Ok(Some(n))`: a complete command occupies `buf[..n]` and `argv` holds
///   its arguments. `argv` may be empty (a blank inline line, `*0`, or a
///   negative count such as `*-1`); callers skip such commands, as Redis does.
/// * `Ok(None)`: the command is incomplete; call again when more bytes have
///   arrived. `argv` content is unspecified.
/// * `Err(e)`: the client violated the protocol; reply
///   `-ERR Protocol error: {e}` and close the connection.
///
/// A buffer starting with `*` is a multibulk (RESP) command; anything else
/// is an inline command.
pub fn parse_command(
    buf: &[u8],
    limits: &Limits,
    argv: &mut Argv,
) -> Result<Option<usize>, ProtocolError> {
    match buf.first() {
        None => {
            argv.reset(false);
            Ok(None)
        }
        Some(b'*') => {
            argv.reset(false);
            parse_multibulk(buf, limits, argv)
        }
        Some(_) => {
            argv.reset(true);
            parse_inline(buf, limits, argv)
        }
    }
}

/// Find the `\r` ending the header line that starts at `buf[pos]`.
///
/// Like Redis, the line counts as complete only once the byte after `\r` has
/// arrived, and the search is not limited to a maximum line length: if the
/// first `\r` is far away the number simply fails to parse. `too_big` is
/// returned when no `\r` is buffered and more than `max_inline_len` bytes
/// are waiting, so a client cannot make us buffer an endless header.
fn find_header_end(
    buf: &[u8],
    pos: usize,
    max_inline_len: usize,
    too_big: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[pos..];
    // Real header lines are a handful of bytes: a plain scan of the first
    // few is cheaper than setting up the word-at-a-time search.
    const SHORT: usize = 16;
    let cr = match rest[..rest.len().min(SHORT)]
        .iter()
        .position(|&b| b == b'\r')
    {
        Some(cr) => Some(cr),
        None if rest.len() > SHORT => find_byte(&rest[SHORT..], b'\r').map(|i| i + SHORT),
        None => None,
    };
    match cr {
        Some(cr) if cr + 1 < rest.len() => Ok(Some(pos + cr)),
        Some(_) => Ok(None),
        None if rest.len() > max_inline_len => Err(too_big),
        None => Ok(None),
    }
}

fn parse_multibulk(
    buf: &[u8],
    limits: &Limits,
    argv: &mut Argv,
) -> Result<Option<usize>, ProtocolError> {
    // Headers as every client writes them are read in one pass; anything else (not all
    // arrived, odd numbers, errors) goes through the general path. Both then meet the same
    // checks.
    let (count, mut pos) = match canonical_header(buf, 0, b'*') {
        Some((n, cr)) => (Some(n), cr + 2),
        None => {
            let Some(cr) = find_header_end(
                buf,
                0,
                limits.max_inline_len,
                ProtocolError::TooBigMbulkCountString,
            )?
            else {
                return Ok(None);
            };
            if buf[cr + 1] != b'\n' {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            (parse_i64(&buf[1..cr]), cr + 2)
        }
    };
    let count = count.ok_or(ProtocolError::InvalidMultibulkLength)?;
    if count <= 0 {
        // Redis treats every non-positive count as an empty command.
        return Ok(Some(pos));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| n <= limits.max_multibulk_len)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    if limits.unauthenticated && count > 10 {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    // The count is client-controlled: only trust it up to a modest size, and
    // let the Vec grow (once, then it is reused) if the command really is
    // that long.
    argv.spans.reserve(count.min(1024));

    for _ in 0..count {
        let (len, cr) = match canonical_header(buf, pos, b'$') {
            Some((n, cr)) => (Some(n), cr),
            None => {
                let Some(cr) = find_header_end(
                    buf,
                    pos,
                    limits.max_inline_len,
                    ProtocolError::TooBigBulkCountString,
                )?
                else {
                    return Ok(None);
                };
                if buf[pos] != b'$' {
                    return Err(ProtocolError::ExpectedDollar(buf[pos]));
                }
                if buf[cr + 1] != b'\n' {
                    return Err(ProtocolError::InvalidBulkLength);
                }
                (parse_i64(&buf[pos + 1..cr]), cr)
            }
        };
        let len = len
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= limits.max_bulk_len)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        if limits.unauthenticated && len > 16384 {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let start = cr + 2;
        let end = start
            .checked_add(len)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        // Skip the payload by length; only its terminator is examined.
        // Check whichever terminator bytes have already arrived so a
        // desynchronised stream fails as early as possible.
        match buf.get(end..) {
            Some([b'\r', b'\n', ..]) => {}
            Some([]) | Some([b'\r']) | None => {
                return Ok(None);
            }
            Some(_) => return Err(ProtocolError::ExpectedCrlfAfterBulk),
        }
        argv.spans.push(Span { start, end });
        pos = end + 2;
    }
    Ok(Some(pos))
}

/// The number and the position of the `\r` of a header `*<n>\r\n` or `$<n>\r\n` (`kind`)
/// at `buf[pos]` when it is written the way every client writes it: a positive number
/// without sign or leading zero, of at most 17 digits (so no overflow), and the `\n`
/// already buffered: the value `parse_i64` would give. One pass over the bytes instead of a search for `\r` and then a
/// number parse; `None` sends the header to the general path.
#[inline]
fn canonical_header(buf: &[u8], pos: usize, kind: u8) -> Option<(i64, usize)> {
    let h = buf.get(pos..)?;
    if h.len() < 4 || h[0] != kind || !(b'1'..=b'9').contains(&h[1]) {
        return None;
    }
    // One or two digits (argument counts, command names, keys, small values): no loop.
    if h[2] == b'\r' {
        return (h[3] == b'\n').then(|| (i64::from(h[1] - b'0'), pos + 2));
    }
    let d2 = h[2].wrapping_sub(b'0');
    if d2 <= 9 && h.len() >= 5 && h[3] == b'\r' && h[4] == b'\n' {
        return Some((i64::from(h[1] - b'0') * 10 + i64::from(d2), pos + 3));
    }
    let mut n = i64::from(h[1] - b'0');
    let mut i = 2;
    while i < h.len() && i < 19 {
        let d = h[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        n = n * 10 + i64::from(d);
        i += 1;
    }
    if i < 19 && h.get(i..i + 2) == Some(b"\r\n") {
        Some((n, pos + i))
    } else {
        None
    }
}

fn parse_inline(
    buf: &[u8],
    limits: &Limits,
    argv: &mut Argv,
) -> Result<Option<usize>, ProtocolError> {
    let Some(newline) = find_byte(buf, b'\n') else {
        return if buf.len() > limits.max_inline_len {
            Err(ProtocolError::TooBigInlineRequest)
        } else {
            Ok(None)
        };
    };
    let mut line = &buf[..newline];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    split_args(line, argv)?;
    Ok(Some(newline + 1))
}

/// `isspace` in the C locale, which is what `sdssplitargs` uses to skip the
/// blanks between arguments.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Split an inline command line into `argv.scratch`, with the semantics of
/// Redis's `sdssplitargs`:
///
/// * arguments are separated by C whitespace;
/// * `"double quotes"` understand `\n \r \t \b \a \xHH` and `\<any>` (which
///   yields `<any>`), `'single quotes'` only `\'`;
/// * quotes may start in the middle of an argument (`a"b c"` is `ab c`);
/// * a closing quote must be followed by whitespace or the end of the line;
/// * since Redis works on a C string, a NUL byte ends the line.
fn split_args(line: &[u8], argv: &mut Argv) -> Result<(), ProtocolError> {
    let line = match find_byte(line, 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    // Reading past the end yields 0, mirroring the C string terminator the
    // original algorithm relies on.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let out = &mut argv.scratch;
    let mut i = 0;
    loop {
        while i < line.len() && is_c_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = at(i);
            if in_double {
                if c == b'\\'
                    && at(i + 1) == b'x'
                    && at(i + 2).is_ascii_hexdigit()
                    && at(i + 3).is_ascii_hexdigit()
                {
                    out.push(hex_value(at(i + 2)) << 4 | hex_value(at(i + 3)));
                    i += 4;
                } else if c == b'\\' && at(i + 1) != 0 {
                    out.push(match at(i + 1) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                    i += 1;
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    out.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                    i += 1;
                }
            } else {
                match c {
                    // Unlike the blank skipping above, only these end an
                    // unquoted argument (\v and \f are kept), as in Redis.
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => out.push(c),
                }
                i += 1;
            }
        }
        argv.spans.push(Span {
            start,
            end: out.len(),
        });
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests;
