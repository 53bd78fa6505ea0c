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
    tty(frame, "", &mut out);
    out
}

fn tty(frame: &Frame, prefix: &str, out: &mut Vec<u8>) {
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
            repr(out, b);
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
                tty(item, &child, out);
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
                tty(k, &child, out);
                out.pop(); // the key's newline
                out.extend_from_slice(b" => ");
                // A non-empty aggregate value starts on its own line, indented (redis-cli 7.2).
                let nested = match v {
                    Frame::Array(x) | Frame::Set(x) | Frame::Push(x) => !x.is_empty(),
                    Frame::Map(x) => !x.is_empty(),
                    _ => false,
                };
                if nested {
                    out.push(b'\n');
                    out.extend_from_slice(child.as_bytes());
                }
                tty(v, &child, out);
            }
        }
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
    let mut out = Vec::new();
    raw(frame, &mut out);
    out.push(b'\n');
    out
}

fn raw(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Null => {}
        Frame::Error(e) => {
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(s) | Frame::BigNumber(s) => out.extend_from_slice(s.as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => out.extend_from_slice(b),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Frame::Double(d) => out.extend_from_slice(double_str(*d).as_bytes()),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                raw(item, out);
            }
        }
        Frame::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                raw(k, out);
                out.push(b' ');
                raw(v, out);
            }
        }
    }
}
