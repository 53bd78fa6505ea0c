//! Reply formatting, byte for byte as redis-cli (`cliFormatReplyTTY` / `cliFormatReplyRaw`).

use cinnabar_resp::Frame;

/// Append `s` quoted as redis-cli's `sdscatrepr` does.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// A double as the server would send it (shortest round-trip form, `inf`, `-inf`, `nan`).
pub fn double_str(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if d != 0.0 && (d.abs() >= 1e17 || d.abs() < 1e-5) {
        // Exponent form like printf's %g: 1e+300, 1.5e-07.
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        format!("{d}")
    }
}

/// Human-readable form, as redis-cli prints to a terminal (or with `--no-raw`).
/// The result ends with a newline.
pub fn format_tty(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    tty(frame, "", false, &mut out);
    out
}

/// Like [`format_tty`], but string values holding a JSON object or array are shown
/// as indented JSON (`--pretty`), each line under the element's indentation.
pub fn format_tty_pretty(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    tty(frame, "", true, &mut out);
    out
}

fn tty(frame: &Frame, prefix: &str, pretty: bool, out: &mut Vec<u8>) {
    match frame {
        Frame::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(s) => {
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Frame::Integer(i) => out.extend_from_slice(format!("(integer) {i}\n").as_bytes()),
        Frame::Double(d) => {
            out.extend_from_slice(format!("(double) {}\n", double_str(*d)).as_bytes())
        }
        Frame::BigNumber(n) => out.extend_from_slice(format!("(big number) {n}\n").as_bytes()),
        Frame::Bulk(b) => {
            match pretty.then(|| pretty_json(b)).flatten() {
                Some(json) => {
                    let pad = format!("\n{prefix}");
                    out.extend_from_slice(json.replace('\n', &pad).as_bytes());
                }
                None => repr(out, b),
            }
            out.push(b'\n');
        }
        Frame::Verbatim { text, .. } => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Frame::Null => out.extend_from_slice(b"(nil)\n"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let (sep, empty) = match frame {
                Frame::Set(_) => ('~', "(empty set)\n"),
                Frame::Push(_) => (')', "(empty push)\n"),
                _ => (')', "(empty array)\n"),
            };
            if items.is_empty() {
                out.extend_from_slice(empty.as_bytes());
                return;
            }
            let (width, child) = layout(items.len(), prefix);
            for (i, item) in items.iter().enumerate() {
                index(out, if i == 0 { "" } else { prefix }, i + 1, width, sep);
                tty(item, &child, pretty, out);
            }
        }
        Frame::Map(pairs) => {
            if pairs.is_empty() {
                out.extend_from_slice(b"(empty hash)\n");
                return;
            }
            let (width, child) = layout(pairs.len(), prefix);
            for (i, (k, v)) in pairs.iter().enumerate() {
                index(out, if i == 0 { "" } else { prefix }, i + 1, width, '#');
                tty(k, &child, pretty, out);
                out.pop(); // the key's newline
                out.extend_from_slice(b" => ");
                // A value spanning several lines starts on its own line, indented
                // (redis-cli 7.2's cliIsMultilineValueTTY).
                let nested = is_multiline(v);
                if nested {
                    out.push(b'\n');
                    out.extend_from_slice(child.as_bytes());
                }
                tty(v, &child, pretty, out);
            }
        }
    }
}

/// Whether the formatted value takes more than one line.
fn is_multiline(f: &Frame) -> bool {
    match f {
        Frame::Array(x) | Frame::Set(x) | Frame::Push(x) => match x.len() {
            0 => false,
            1 => is_multiline(&x[0]),
            _ => true,
        },
        Frame::Map(x) => match x.len() {
            0 => false,
            1 => is_multiline(&x[0].1),
            _ => true,
        },
        _ => false,
    }
}

/// Width of the largest index and the prefix for nested elements (grows by width + 2).
fn layout(n: usize, prefix: &str) -> (usize, String) {
    let width = n.to_string().len();
    (width, format!("{prefix}{}", " ".repeat(width + 2)))
}

fn index(out: &mut Vec<u8>, prefix: &str, n: usize, width: usize, sep: char) {
    out.extend_from_slice(format!("{prefix}{n:>width$}{sep} ").as_bytes());
}

/// Raw form, as redis-cli prints when stdout is not a terminal (or with `--raw`).
/// The result ends with a newline (redis-cli's command delimiter).
pub fn format_raw(frame: &Frame) -> Vec<u8> {
    format_raw_delim(frame, b"\n", b"\n")
}

/// Raw form with redis-cli's `-d` (between elements of an aggregate) and `-D`
/// (after each reply) delimiters.
pub fn format_raw_delim(frame: &Frame, mb_delim: &[u8], cmd_delim: &[u8]) -> Vec<u8> {
    format_raw_opts(frame, mb_delim, cmd_delim, false)
}

/// Raw form; with `pretty`, string values holding JSON objects or arrays are
/// re-indented (`--pretty --raw`).
pub fn format_raw_opts(frame: &Frame, mb_delim: &[u8], cmd_delim: &[u8], pretty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    raw_d(frame, mb_delim, pretty, &mut out);
    out.extend_from_slice(cmd_delim);
    out
}

fn raw(frame: &Frame, out: &mut Vec<u8>) {
    raw_d(frame, b"\n", false, out)
}

fn raw_d(frame: &Frame, delim: &[u8], pretty: bool, out: &mut Vec<u8>) {
    match frame {
        Frame::Null => {}
        Frame::Error(e) => {
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(s) | Frame::BigNumber(s) => out.extend_from_slice(s.as_bytes()),
        Frame::Bulk(b) => match pretty.then(|| pretty_json(b)).flatten() {
            Some(json) => out.extend_from_slice(json.as_bytes()),
            None => out.extend_from_slice(b),
        },
        Frame::Verbatim { text: b, .. } => out.extend_from_slice(b),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Frame::Double(d) => out.extend_from_slice(double_str(*d).as_bytes()),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_d(item, delim, pretty, out);
            }
        }
        Frame::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(delim);
                }
                raw_d(k, delim, pretty, out);
                out.push(b' ');
                raw_d(v, delim, pretty, out);
            }
        }
    }
}

/// How replies are printed (redis-cli's `config.output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// For humans: `"value"`, `(integer) 1`, numbered arrays.
    Standard,
    /// The bare values, one per line.
    Raw,
    Csv,
    Json,
    /// JSON with strings quoted ASCII-safe, as redis-cli's `--quoted-json`.
    QuotedJson,
}

/// Format one reply for `output`. `raw_strings` is redis-cli's forced raw output for
/// INFO, CLIENT LIST and friends, whose text is meant to be read as is.
pub fn format_reply(frame: &Frame, output: Output, raw_strings: bool, pretty: bool) -> Vec<u8> {
    format_reply_delim(frame, output, raw_strings, pretty, b"\n", b"\n")
}

/// [`format_reply`] with the raw-mode delimiters of `-d` and `-D`.
pub fn format_reply_delim(
    frame: &Frame,
    output: Output,
    raw_strings: bool,
    pretty: bool,
    mb_delim: &[u8],
    cmd_delim: &[u8],
) -> Vec<u8> {
    if raw_strings {
        let mut out = Vec::new();
        // As redis-cli: the text as is, whatever the output mode, no delimiter added.
        raw(frame, &mut out);
        return out;
    }
    match output {
        Output::Standard if pretty => format_tty_pretty(frame),
        Output::Standard => format_tty(frame),
        Output::Raw => format_raw_opts(frame, mb_delim, cmd_delim, pretty),
        Output::Csv => format_csv(frame),
        Output::Json | Output::QuotedJson => format_json(frame, output == Output::QuotedJson),
    }
}

/// Whether redis-cli prints this command's reply raw even on a terminal
/// (its text is a report meant to be read as is).
pub fn wants_raw_output(argv: &[Vec<u8>]) -> bool {
    let w = |i: usize| {
        argv.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (cmd, sub, n) = (w(0), w(1), argv.len());
    match cmd.as_str() {
        "info" | "lolwut" => true,
        "debug" => n >= 2 && matches!(sub.as_str(), "htstats" | "htstats-key" | "client-eviction"),
        "memory" => n >= 2 && matches!(sub.as_str(), "malloc-stats" | "doctor"),
        "cluster" => n == 2 && matches!(sub.as_str(), "nodes" | "info"),
        "client" => n >= 2 && matches!(sub.as_str(), "list" | "info"),
        "latency" => (n == 3 && sub == "graph") || (n == 2 && sub == "doctor"),
        "proxy" => n >= 2 && sub == "info",
        _ => false,
    }
}

/// CSV form (`--csv`), as redis-cli's `cliFormatReplyCSV`; ends with a newline.
pub fn format_csv(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    csv(frame, &mut out);
    out.push(b'\n');
    out
}

fn csv(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Error(e) => {
            out.extend_from_slice(b"ERROR,");
            repr(out, e.as_bytes());
        }
        Frame::Simple(s) => repr(out, s.as_bytes()),
        Frame::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Frame::Double(d) => out.extend_from_slice(double_str(*d).as_bytes()),
        Frame::BigNumber(n) => out.extend_from_slice(n.as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => repr(out, b),
        Frame::Null => out.extend_from_slice(b"NULL"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(item, out);
            }
        }
        Frame::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                csv(k, out);
                out.push(b',');
                csv(v, out);
            }
        }
    }
}

/// JSON form (`--json`, or `--quoted-json` with `quoted`), as redis-cli's
/// `cliFormatReplyJson`; ends with a newline.
pub fn format_json(frame: &Frame, quoted: bool) -> Vec<u8> {
    let mut out = Vec::new();
    json(frame, quoted, &mut out);
    out.push(b'\n');
    out
}

/// A JSON string: `--json` escapes as redis-cli's `escapeJsonString` (other bytes
/// pass through); `--quoted-json` takes the `sdscatrepr` form and doubles its backslashes.
fn json_string(out: &mut Vec<u8>, s: &[u8], quoted: bool) {
    if quoted {
        let mut r = Vec::new();
        repr(&mut r, s);
        for c in r {
            if c == b'\\' {
                out.extend_from_slice(b"\\\\");
            } else {
                out.push(c);
            }
        }
        return;
    }
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0..=0x1f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn json(frame: &Frame, quoted: bool, out: &mut Vec<u8>) {
    match frame {
        Frame::Error(e) => {
            out.extend_from_slice(b"error:");
            json_string(out, e.as_bytes(), quoted);
        }
        Frame::Simple(s) => json_string(out, s.as_bytes(), quoted),
        Frame::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Frame::Double(d) => out.extend_from_slice(double_str(*d).as_bytes()),
        Frame::BigNumber(n) => out.extend_from_slice(n.as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => json_string(out, b, quoted),
        Frame::Null => out.extend_from_slice(b"null"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(item, quoted, out);
            }
            out.push(b']');
        }
        Frame::Map(pairs) => {
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match k {
                    Frame::Error(_)
                    | Frame::Simple(_)
                    | Frame::Bulk(_)
                    | Frame::Verbatim { .. } => json(k, quoted, out),
                    // JSON keys are strings: other key types are quoted once formatted.
                    _ => {
                        let mut ks = Vec::new();
                        json(k, quoted, &mut ks);
                        if ks.first() == Some(&b'"') {
                            out.extend_from_slice(&ks);
                        } else {
                            out.push(b'"');
                            out.extend_from_slice(&ks);
                            out.push(b'"');
                        }
                    }
                }
                out.push(b':');
                json(v, quoted, out);
            }
            out.push(b'}');
        }
    }
}

/// `s` re-indented (two spaces a level) when it is a JSON object or array, else
/// `None`. Numbers and strings are kept as written.
pub fn pretty_json(s: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(s).ok()?;
    let first = text.trim_start().as_bytes().first()?;
    if *first != b'{' && *first != b'[' {
        return None;
    }
    let mut p = JsonPretty {
        s: text.as_bytes(),
        i: 0,
        out: String::new(),
    };
    p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(p.out)
}

struct JsonPretty<'a> {
    s: &'a [u8],
    i: usize,
    out: String,
}

impl JsonPretty<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    /// One value at nesting `depth`; `None` when the text is not valid JSON.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > 128 {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' | b'[' => {
                let open = self.peek()?;
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.out.push(open as char);
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    self.out.push(close as char);
                    return Some(());
                }
                loop {
                    self.newline(depth + 1);
                    if open == b'{' {
                        self.ws();
                        if self.peek()? != b'"' {
                            return None;
                        }
                        self.string()?;
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        self.out.push_str(": ");
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.out.push(',');
                        }
                        c if c == close => {
                            self.i += 1;
                            self.newline(depth);
                            self.out.push(close as char);
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string(),
            b't' | b'f' | b'n' => {
                for word in ["true", "false", "null"] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        self.out.push_str(word);
                        return Some(());
                    }
                }
                None
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let num = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                num.parse::<f64>().ok()?;
                self.out.push_str(num);
                Some(())
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<()> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => self.i += 2,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        self.out
            .push_str(std::str::from_utf8(self.s.get(start..self.i)?).ok()?);
        Some(())
    }
}

/// An out-of-band RESP3 push (client-side caching invalidations and such) met while
/// waiting for a reply, as redis-cli shows it on a terminal:
/// `-> invalidate: 'k1', 'k2'` for invalidations, the usual formatting otherwise.
pub fn format_push(frame: &Frame, output: Output, pretty: bool) -> Vec<u8> {
    if output == Output::Standard {
        if let Frame::Push(items) = frame {
            if let [Frame::Bulk(kind), Frame::Array(keys)] = items.as_slice() {
                if kind.starts_with(b"invalidate") {
                    let mut out = b"-> invalidate: ".to_vec();
                    for (i, k) in keys.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.push(b'\'');
                        if let Frame::Bulk(k) = k {
                            out.extend_from_slice(k);
                        }
                        out.push(b'\'');
                    }
                    out.push(b'\n');
                    return out;
                }
            }
        }
    }
    format_reply(frame, output, false, pretty)
}
