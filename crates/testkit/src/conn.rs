//! A raw RESP connection for byte-exact tests, and reply builders for assertions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};

use crate::wait::{eventually, PATIENCE};

/// How long a read waits for a reply before the test fails (a hung server is a failure,
/// not a hang of the suite).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A blocking TCP connection that sends commands and reads frames, for byte-exact tests.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one command as a RESP array.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one reply frame (fails after 30 s without one).
    pub fn read(&mut self) -> Frame {
        match self.try_read() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                panic!("server closed the connection")
            }
            Err(e) => panic!("no reply within {READ_TIMEOUT:?}: {e}"),
        }
    }

    /// Reads one reply frame, or the error that ended the wait: the connection closed or
    /// reset, or 30 s without a reply.
    pub fn try_read(&mut self) -> std::io::Result<Frame> {
        loop {
            if let Some((frame, n)) = Frame::parse(&self.buf).expect("bad frame from server") {
                self.buf.drain(..n);
                return Ok(frame);
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether a complete reply is already waiting (reads what has arrived, never blocks).
    pub fn has_reply(&mut self) -> bool {
        if matches!(Frame::parse(&self.buf), Ok(Some(_))) {
            return true;
        }
        self.stream.set_nonblocking(true).unwrap();
        let mut chunk = [0u8; 65536];
        let r = self.stream.read(&mut chunk);
        self.stream.set_nonblocking(false).unwrap();
        if let Ok(n) = r {
            self.buf.extend_from_slice(&chunk[..n]);
        }
        matches!(Frame::parse(&self.buf), Ok(Some(_)))
    }

    /// Sends a command given as words and reads its reply.
    pub fn cmd(&mut self, words: &[&str]) -> Frame {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.send(&args);
        self.read()
    }

    /// [`RawConn::cmd`] for a server that may go away: the error instead of a panic.
    pub fn try_cmd(&mut self, words: &[&str]) -> std::io::Result<Frame> {
        let mut out = Vec::new();
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        encode_command(&args, &mut out);
        self.stream.write_all(&out)?;
        self.try_read()
    }

    /// An INFO section as text.
    pub fn info(&mut self, section: &str) -> String {
        text(&self.cmd(&["INFO", section]))
    }

    /// One field of an INFO section, as text; panics when the field is missing.
    pub fn info_field(&mut self, section: &str, field: &str) -> String {
        let info = self.info(section);
        let prefix = format!("{field}:");
        info.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
            .trim()
            .to_string()
    }

    /// LATENCY LATEST as (event, latest sample in ms, all-time maximum in ms), in the
    /// server's order.
    pub fn latency_latest(&mut self) -> Vec<(String, i64, i64)> {
        let Frame::Array(events) = self.cmd(&["LATENCY", "LATEST"]) else {
            panic!("LATENCY LATEST is not an array");
        };
        events
            .into_iter()
            .map(|e| match e {
                Frame::Array(f) => match f.as_slice() {
                    [name, Frame::Integer(_), Frame::Integer(last), Frame::Integer(max)] => {
                        (text(name), *last, *max)
                    }
                    other => panic!("LATENCY LATEST entry {other:?}"),
                },
                other => panic!("LATENCY LATEST entry {other:?}"),
            })
            .collect()
    }

    /// Cinnabar's `DEBUG LATENCY-DELAY`: the timed step of `event` takes `ms` longer (0:
    /// as long as it takes). Needs `enable-debug-command`.
    pub fn latency_delay(&mut self, event: &str, ms: u64) {
        assert_eq!(
            self.cmd(&["DEBUG", "LATENCY-DELAY", event, &ms.to_string()]),
            ok(),
            "DEBUG LATENCY-DELAY {event} {ms}"
        );
    }

    /// Asserts that LATENCY LATEST lists `event` with a latest sample and an all-time high
    /// of at least `ms`, and that its LATENCY HISTORY is made of such samples.
    pub fn assert_latency_at_least(&mut self, event: &str, ms: i64) {
        let latest = self.latency_latest();
        let Some((_, last, max)) = latest.iter().find(|(e, ..)| e == event) else {
            panic!("no {event} in LATENCY LATEST: {latest:?}");
        };
        assert!(*last >= ms && *max >= ms, "{event}: {latest:?}");
        let history = self.latency_history(event);
        assert!(
            !history.is_empty() && history.iter().all(|&h| h >= ms),
            "{event}: {history:?}"
        );
    }

    /// LATENCY HISTORY of `event`: the samples' latencies in ms, oldest first.
    pub fn latency_history(&mut self, event: &str) -> Vec<i64> {
        let Frame::Array(samples) = self.cmd(&["LATENCY", "HISTORY", event]) else {
            panic!("LATENCY HISTORY is not an array");
        };
        samples
            .into_iter()
            .map(|s| match s {
                Frame::Array(f) => match f.as_slice() {
                    [Frame::Integer(_), Frame::Integer(ms)] => *ms,
                    other => panic!("LATENCY HISTORY sample {other:?}"),
                },
                other => panic!("LATENCY HISTORY sample {other:?}"),
            })
            .collect()
    }

    /// Waits ([`PATIENCE`] at most) until INFO reports `n` blocked clients.
    pub fn wait_blocked(&mut self, n: usize) {
        let want = n.to_string();
        eventually(PATIENCE, format_args!("{n} blocked clients"), || {
            self.info_field("clients", "blocked_clients") == want
        });
    }

    /// PSUBSCRIBE to one pattern, asserting the confirmation (the connection's first
    /// subscription).
    pub fn psubscribe(&mut self, pattern: &str) {
        assert_eq!(
            self.cmd(&["PSUBSCRIBE", pattern]),
            Frame::Array(vec![bulk("psubscribe"), bulk(pattern), int(1)])
        );
    }

    /// Reads one pub/sub message (`message` or `pmessage`, RESP2 or RESP3) and returns its
    /// channel and payload.
    pub fn read_message(&mut self) -> (String, String) {
        match self.read() {
            Frame::Array(v) | Frame::Push(v) => match v.as_slice() {
                [kind, _, channel, payload] if *kind == bulk("pmessage") => {
                    (text(channel), text(payload))
                }
                [kind, channel, payload] if *kind == bulk("message") => {
                    (text(channel), text(payload))
                }
                other => panic!("not a pub/sub message: {other:?}"),
            },
            other => panic!("not a pub/sub message: {other:?}"),
        }
    }

    /// Reads exactly what the server sends until it closes or `timeout` passes; the flag
    /// says whether it closed.
    pub fn read_until_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut all = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (all, true),
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(_) => return (all, false),
            }
        }
    }
}

/// For each `(command, fails)`: `watcher` WATCHes `key` and queues a PING, `writer` runs the
/// command, and the EXEC of `watcher` fails (a null reply) exactly when `fails` says.
pub fn assert_watch_outcomes(
    watcher: &mut RawConn,
    writer: &mut RawConn,
    key: &str,
    cases: &[(&[&str], bool)],
) {
    for (cmd, fails) in cases {
        assert_eq!(watcher.cmd(&["WATCH", key]), ok());
        assert_eq!(watcher.cmd(&["MULTI"]), ok());
        assert_eq!(watcher.cmd(&["PING"]), Frame::Simple("QUEUED".into()));
        writer.cmd(cmd);
        let exec = watcher.cmd(&["EXEC"]);
        assert_eq!(exec == Frame::Null, *fails, "{cmd:?}: {exec:?}");
    }
}

/// Reply builders for assertions: `assert_eq!(r.cmd(&["GET", "k"]), bulk("v"))`.
pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec().into())
}

/// An error reply with its full text, code included.
pub fn err(s: &str) -> Frame {
    Frame::Error(s.to_string())
}

pub fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// The `+OK` reply.
pub fn ok() -> Frame {
    Frame::Simple("OK".into())
}

/// A reply as plain text, for tests that compare whole data sets: bulk and simple strings as
/// they are, integers in decimal, nil as `(nil)`, errors as `ERR:<message>`, arrays joined by
/// commas.
pub fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) => s.clone(),
        Frame::Integer(n) => n.to_string(),
        Frame::Null => "(nil)".into(),
        Frame::Double(d) => d.to_string(),
        Frame::Error(e) => format!("ERR:{e}"),
        Frame::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

/// The elements of an array reply, each as `text` gives it.
pub fn words(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(a) => a.iter().map(text).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}
