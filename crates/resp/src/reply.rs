//! Reply encoding into a reusable, append-only buffer.
//!
//! [`ReplyBuf`] knows which protocol the connection negotiated (`HELLO`), so
//! command implementations write RESP3 types unconditionally and the buffer
//! degrades them to RESP2 exactly as Redis 7.2 does (maps become flat arrays,
//! doubles become bulk strings, booleans become integers, ...).
//!
//! Nothing here allocates beyond growing `buf`: integers and doubles are
//! formatted on the stack.

use std::fmt::Write as _;

/// The protocol version a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Token for an aggregate header whose length is written later; see
/// [`ReplyBuf::deferred_array`].
#[derive(Debug)]
#[must_use = "a deferred length must be filled with set_deferred_*"]
pub struct Deferred(usize);

/// Encoded replies waiting to be written to a client.
#[derive(Clone, Debug)]
pub struct ReplyBuf {
    /// The encoded bytes; write them to the socket, then [`ReplyBuf::clear`].
    pub buf: Vec<u8>,
    pub proto: Protocol,
    /// Insertion points of deferred headers, indexed by `Deferred.0`;
    /// `usize::MAX` once filled (or discarded by `truncate`). Kept so that
    /// filling one header can shift the positions of the others, which makes
    /// deferred lengths correct whatever order they are filled in.
    pending: Vec<usize>,
    /// Number of entries of `pending` not yet filled.
    open: usize,
    /// Once `buf` holds more than this many bytes, further writes are dropped (Redis stops
    /// adding to the reply of a client marked close-asap for passing its output buffer
    /// limit). `usize::MAX`: no limit.
    limit: usize,
}

const FILLED: usize = usize::MAX;

impl Default for ReplyBuf {
    fn default() -> Self {
        ReplyBuf::new(Protocol::Resp2)
    }
}

impl ReplyBuf {
    pub fn new(proto: Protocol) -> Self {
        ReplyBuf {
            buf: Vec::new(),
            proto,
            pending: Vec::new(),
            open: 0,
            limit: usize::MAX,
        }
    }

    /// Sets the size past which writes are dropped (see [`ReplyBuf::over_limit`]);
    /// `usize::MAX` lifts it.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// More bytes than the limit are buffered: the client is to be closed, every further
    /// write is dropped, and a command producing a long reply may stop early (Redis's
    /// `CLIENT_CLOSE_ASAP` checks in HRANDFIELD, SRANDMEMBER, ZRANDMEMBER and KEYS).
    #[inline]
    pub fn over_limit(&self) -> bool {
        self.buf.len() > self.limit
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Empty the buffer (keeping its capacity) and forget deferred headers.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pending.clear();
        self.open = 0;
    }

    /// Drop everything after the first `len` bytes, e.g. to discard a
    /// partially written reply. Deferred headers placed after `len` are
    /// discarded too and must not be filled.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
        for pos in &mut self.pending {
            if *pos != FILLED && *pos > len {
                *pos = FILLED;
                self.open -= 1;
            }
        }
    }

    /// `+s\r\n`. `s` must not contain `\r` or `\n`.
    pub fn simple(&mut self, s: &[u8]) {
        if self.over_limit() {
            return;
        }
        self.buf.reserve(s.len() + 3);
        self.buf.push(b'+');
        self.buf.extend_from_slice(s);
        self.crlf();
    }

    /// `+OK\r\n`.
    pub fn ok(&mut self) {
        if self.over_limit() {
            return;
        }
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `-msg\r\n`. `msg` starts with the error code (`b"ERR syntax error"`);
    /// a leading `-` is tolerated and not doubled. Like Redis, any `\r` or
    /// `\n` inside the message is replaced by a space, because an error
    /// reply is a single line and a stray newline would desynchronise the
    /// client.
    pub fn error(&mut self, msg: &[u8]) {
        if self.over_limit() {
            return;
        }
        let msg = msg.strip_prefix(b"-").unwrap_or(msg);
        self.buf.reserve(msg.len() + 3);
        self.buf.push(b'-');
        let start = self.buf.len();
        self.buf.extend_from_slice(msg);
        for b in &mut self.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        self.crlf();
    }

    /// `:n\r\n`.
    pub fn integer(&mut self, n: i64) {
        if self.over_limit() {
            return;
        }
        if (0..10).contains(&n) {
            // The count most writes answer (SADD, HSET, DEL, EXISTS...): one small copy.
            self.buf
                .extend_from_slice(&[b':', b'0' + n as u8, b'\r', b'\n']);
            return;
        }
        self.buf.push(b':');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.crlf();
    }

    /// `$len\r\nb\r\n`.
    pub fn bulk(&mut self, b: &[u8]) {
        if self.over_limit() {
            return;
        }
        self.buf.reserve(b.len() + 16);
        self.header(b'$', b.len());
        self.buf.extend_from_slice(b);
        self.crlf();
    }

    /// `n` in decimal, as a bulk string.
    pub fn bulk_int(&mut self, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.bulk(digits.format(n).as_bytes());
    }

    /// The null reply: RESP2 null bulk `$-1`, RESP3 `_`.
    pub fn null(&mut self) {
        if self.over_limit() {
            return;
        }
        self.buf.extend_from_slice(match self.proto {
            Protocol::Resp2 => b"$-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    /// The null array: RESP2 `*-1`, RESP3 `_`.
    pub fn null_array(&mut self) {
        if self.over_limit() {
            return;
        }
        self.buf.extend_from_slice(match self.proto {
            Protocol::Resp2 => b"*-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    /// Header of an array of `n` elements, which must follow.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// Header of a map of `n` key/value pairs (`2n` elements must follow).
    /// RESP2 has no map type: it becomes a flat array of `2n` elements.
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', 2 * n),
            Protocol::Resp3 => self.header(b'%', n),
        }
    }

    /// Header of a set of `n` elements (a plain array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'~', n),
        }
    }

    /// Header of an out-of-band push of `n` elements (an array in RESP2).
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'>', n),
        }
    }

    /// A double: RESP3 `,repr`, RESP2 the same text as a bulk string.
    /// See [`format_double`] for the text.
    pub fn double(&mut self, v: f64) {
        let mut text = DoubleText::new();
        let repr = format_double(v, &mut text);
        self.double_text(repr);
    }

    /// A double whose text the caller already formatted (for example with Redis's exact
    /// `d2string` rules): RESP3 `,text`, RESP2 the same text as a bulk string.
    pub fn double_text(&mut self, text: &[u8]) {
        if self.over_limit() {
            return;
        }
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.buf.push(b',');
                self.buf.extend_from_slice(text);
                self.crlf();
            }
        }
    }

    /// RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    pub fn boolean(&mut self, b: bool) {
        if self.over_limit() {
            return;
        }
        self.buf.extend_from_slice(match (self.proto, b) {
            (Protocol::Resp2, true) => b":1\r\n",
            (Protocol::Resp2, false) => b":0\r\n",
            (Protocol::Resp3, true) => b"#t\r\n",
            (Protocol::Resp3, false) => b"#f\r\n",
        });
    }

    /// RESP3 verbatim string `=len\r\nfmt:text\r\n` (e.g. format `b"txt"`);
    /// RESP2 a plain bulk string of `text`.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.over_limit() {
            return;
        }
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.buf.reserve(text.len() + 20);
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(format);
                self.buf.push(b':');
                self.buf.extend_from_slice(text);
                self.crlf();
            }
        }
    }

    /// RESP3 big number `(digits`; RESP2 a bulk string of the digits.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.over_limit() {
            return;
        }
        match self.proto {
            Protocol::Resp2 => self.bulk(digits),
            Protocol::Resp3 => {
                self.buf.push(b'(');
                self.buf.extend_from_slice(digits);
                self.crlf();
            }
        }
    }

    /// Start an array whose length is not known yet (Redis's
    /// `addReplyDeferredLen`): write the elements, then call
    /// [`ReplyBuf::set_deferred_array`] with the token.
    ///
    /// The header is inserted when it is filled (moving the bytes written
    /// after it once), so tokens may be filled in any order and nested
    /// freely.
    pub fn deferred_array(&mut self) -> Deferred {
        self.defer()
    }

    /// Fill a header started with [`ReplyBuf::deferred_array`].
    pub fn set_deferred_array(&mut self, d: Deferred, n: usize) {
        self.fill(d, b'*', n);
    }

    /// Like [`ReplyBuf::deferred_array`], for a map.
    pub fn deferred_map(&mut self) -> Deferred {
        self.defer()
    }

    /// Fill a header started with [`ReplyBuf::deferred_map`]: `n` pairs
    /// (RESP2: an array of `2n` elements).
    pub fn set_deferred_map(&mut self, d: Deferred, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.fill(d, b'*', 2 * n),
            Protocol::Resp3 => self.fill(d, b'%', n),
        }
    }

    fn defer(&mut self) -> Deferred {
        if self.open == 0 {
            // Every earlier token is filled; recycle the bookkeeping so it
            // stays small even if the caller never calls clear().
            self.pending.clear();
        }
        self.pending.push(self.buf.len());
        self.open += 1;
        Deferred(self.pending.len() - 1)
    }

    fn fill(&mut self, d: Deferred, prefix: u8, n: usize) {
        let Some(&pos) = self.pending.get(d.0) else {
            debug_assert!(
                false,
                "deferred token from another ReplyBuf or a cleared one"
            );
            return;
        };
        if pos == FILLED || pos > self.buf.len() {
            debug_assert!(false, "deferred length filled twice or truncated away");
            return;
        }
        if self.over_limit() {
            // The reply is being dropped: no need to move what follows the header.
            self.pending[d.0] = FILLED;
            self.open -= 1;
            return;
        }
        let mut header = [0u8; 24];
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        header[0] = prefix;
        header[1..=digits.len()].copy_from_slice(digits);
        header[digits.len() + 1..digits.len() + 3].copy_from_slice(b"\r\n");
        let header = &header[..digits.len() + 3];
        self.buf.splice(pos..pos, header.iter().copied());

        // Headers placed after this one moved. A token at the same position
        // created later belongs to an aggregate nested inside this one, so
        // its header must come after ours.
        for (i, other) in self.pending.iter_mut().enumerate() {
            if *other != FILLED && (*other > pos || (*other == pos && i > d.0)) {
                *other += header.len();
            }
        }
        self.pending[d.0] = FILLED;
        self.open -= 1;
    }

    fn header(&mut self, prefix: u8, n: usize) {
        if self.over_limit() {
            return;
        }
        self.buf.push(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.crlf();
    }

    fn crlf(&mut self) {
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// Stack buffer receiving the text of a double; large enough for every
/// representation [`format_double`] produces (at most 25 bytes).
pub(crate) struct DoubleText {
    bytes: [u8; 40],
    len: usize,
}

impl DoubleText {
    pub(crate) fn new() -> Self {
        DoubleText {
            bytes: [0; 40],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    fn extend(&mut self, s: &[u8]) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.extend(s.as_bytes());
        Ok(())
    }
}

/// Format a double the way Redis 7.2's `d2string` does for replies:
///
/// * `nan`, `inf`, `-inf`, and `0` / `-0` for the zeros;
/// * integral values within ±2^62 print as integers (`3.0` -> `3`);
/// * anything else uses the shortest digit string that round-trips, laid
///   out with the rules of the `fpconv_dtoa` routine Redis uses: plain
///   digits while the exponent is moderate, otherwise scientific notation
///   with an explicit sign and no exponent padding (`1e+20`, `1.5e-7`).
pub(crate) fn format_double(v: f64, out: &mut DoubleText) -> &[u8] {
    out.len = 0;
    if v.is_nan() {
        out.extend(b"nan");
    } else if v.is_infinite() {
        out.extend(if v < 0.0 { b"-inf" } else { b"inf" });
    } else if v == 0.0 {
        out.extend(if v.is_sign_negative() { b"-0" } else { b"0" });
    } else if v.abs() <= (1u64 << 62) as f64 && v.trunc() == v {
        out.extend(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        format_shortest(v, out);
    }
    &out.bytes[..out.len]
}

/// The non-integral case of [`format_double`].
fn format_shortest(v: f64, out: &mut DoubleText) {
    // `{:e}` yields the shortest round-trip digits as `d[.ddd]e[-]x`;
    // re-lay them out in Redis's format.
    let mut sci = DoubleText::new();
    write!(sci, "{:e}", v.abs()).expect("fits in the stack buffer");
    let sci = &sci.bytes[..sci.len];
    let e_at = sci.iter().position(|&b| b == b'e').expect("exponent");
    let mut digits = [0u8; 20];
    let mut ndigits = 0usize;
    for &b in sci[..e_at].iter().filter(|&&b| b != b'.') {
        digits[ndigits] = b;
        ndigits += 1;
    }
    let digits = &digits[..ndigits];
    let exp10: i32 = std::str::from_utf8(&sci[e_at + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("decimal exponent");
    let nd = ndigits as i32;
    // value = digits * 10^k
    let k = exp10 - (nd - 1);
    let exp_abs = exp10.abs();

    if v < 0.0 {
        out.push(b'-');
    }
    if k >= 0 && exp_abs < nd + 7 {
        out.extend(digits);
        for _ in 0..k {
            out.push(b'0');
        }
    } else if k < 0 && (k > -7 || exp_abs < 4) {
        let int_digits = nd + k;
        if int_digits <= 0 {
            out.extend(b"0.");
            for _ in 0..-int_digits {
                out.push(b'0');
            }
            out.extend(digits);
        } else {
            let split = int_digits as usize;
            out.extend(&digits[..split]);
            out.push(b'.');
            out.extend(&digits[split..]);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp10 < 0 { b'-' } else { b'+' });
        out.extend(itoa::Buffer::new().format(exp_abs).as_bytes());
    }
}

#[cfg(test)]
mod tests;
