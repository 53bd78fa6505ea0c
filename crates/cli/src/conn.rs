//! A blocking connection (TCP or unix socket) that sends commands and reads
//! RESP2/RESP3 replies, plus the session setup redis-cli does on connect
//! (AUTH, SELECT, HELLO 3).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};

use crate::args::{Settings, Target};

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<crate::tls::TlsStream>),
}

impl Stream {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(b),
            Stream::Unix(s) => s.write_all(b),
            Stream::Tls(s) => {
                s.write_all(b)?;
                s.flush()
            }
        }
    }

    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
            Stream::Tls(s) => match s.read(b) {
                // A server that closes without close_notify (as redis-server does at
                // QUIT) is an end of file, not an error.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

pub struct Conn {
    stream: Stream,
    /// Bytes read but not parsed yet start at `pos`: consumed frames only move the
    /// offset, and the buffer is compacted before reading more, so a burst of small
    /// replies (--pipe) costs no quadratic copying.
    buf: Vec<u8>,
    pos: usize,
    /// Progress of the search for the end of the frame being received, so that a
    /// big reply arriving in many reads is scanned once, not re-parsed per read.
    scan: FrameScan,
}

/// Finds where a complete RESP frame ends, resumably: `off` is where the next
/// element header starts (relative to the unparsed data), `pending` the elements
/// still expected by each open aggregate.
#[derive(Default, Debug, Clone)]
pub(crate) struct FrameScan {
    off: usize,
    pending: Vec<u64>,
}

impl FrameScan {
    /// The length of the first complete frame of `buf`, `Ok(None)` if more bytes are
    /// needed (the progress is kept), `Err` for malformed headers.
    pub(crate) fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ()> {
        loop {
            let Some(nl) = buf
                .get(self.off..)
                .and_then(|b| b.windows(2).position(|w| w == b"\r\n"))
                .map(|i| self.off + i)
            else {
                return Ok(None);
            };
            let t = buf[self.off];
            let num = || -> Result<i64, ()> {
                std::str::from_utf8(&buf[self.off + 1..nl])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(())
            };
            let mut next = nl + 2;
            match t {
                b'$' | b'!' | b'=' => {
                    let n = num()?;
                    if n >= 0 {
                        next = nl + 2 + n as usize + 2;
                        if next > buf.len() {
                            return Ok(None);
                        }
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = num()?;
                    if n > 0 {
                        let n = n as u64;
                        let count = match t {
                            b'%' => n * 2,
                            b'|' => n * 2 + 1, // the pairs, then the annotated value
                            _ => n,
                        };
                        self.pending.push(count);
                        self.off = next;
                        continue;
                    }
                }
                b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => {}
                _ => return Err(()),
            }
            self.off = next;
            // One element done: close the aggregates it completes.
            loop {
                match self.pending.last_mut() {
                    None => {
                        let end = self.off;
                        self.off = 0;
                        return Ok(Some(end));
                    }
                    Some(c) => {
                        *c -= 1;
                        if *c > 0 {
                            break;
                        }
                        self.pending.pop();
                    }
                }
            }
        }
    }
}

/// A second handle on the same socket, for a writer thread (`--pipe`) or for
/// aborting a blocking read from a signal handler.
pub enum Writer {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Write for Writer {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Writer::Tcp(s) => s.write(b),
            Writer::Unix(s) => s.write(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Writer {
    /// Close both directions, so a blocked reader wakes up with end-of-file.
    pub fn shutdown(&self) {
        let _ = match self {
            Writer::Tcp(s) => s.shutdown(Shutdown::Both),
            Writer::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Conn {
    /// Connect to `host:port`. The error text is the OS reason (e.g. "Connection refused").
    pub fn connect(host: &str, port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect((host, port))?;
        stream.set_nodelay(true).ok();
        let stream = match crate::tls::wrap(stream, host)? {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            Err(plain) => Stream::Tcp(plain),
        };
        Ok(Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
            scan: FrameScan::default(),
        })
    }

    /// Connect to a unix socket.
    pub fn connect_unix(path: &str) -> io::Result<Conn> {
        Ok(Conn {
            stream: Stream::Unix(UnixStream::connect(path)?),
            buf: Vec::new(),
            pos: 0,
            scan: FrameScan::default(),
        })
    }

    /// Connect to the settings' target.
    pub fn open(target: &Target) -> io::Result<Conn> {
        match target {
            Target::Tcp { host, port } => Conn::connect(host, *port),
            Target::Unix(path) => Conn::connect_unix(path),
        }
    }

    /// A second handle for a writer thread. Not over TLS: the session's state cannot be
    /// shared by two threads writing and reading at once.
    pub fn writer(&self) -> io::Result<Writer> {
        Ok(match &self.stream {
            Stream::Tcp(s) => Writer::Tcp(s.try_clone()?),
            Stream::Unix(s) => Writer::Unix(s.try_clone()?),
            Stream::Tls(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "not supported over TLS",
                ))
            }
        })
    }

    /// The TLS session of a TLS connection (for `--pipe`, which drives it itself), with the
    /// bytes already received but not parsed; else the connection back.
    pub fn into_tls(self) -> Result<(crate::tls::TlsStream, Vec<u8>), Conn> {
        match self.stream {
            Stream::Tls(s) => Ok((*s, self.buf[self.pos..].to_vec())),
            stream => Err(Conn { stream, ..self }),
        }
    }

    /// The socket's file descriptor (for aborting a blocking read from a signal handler).
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.sock.as_raw_fd(),
        }
    }

    /// A read timeout for the following reads (`None`: block).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.sock.set_read_timeout(t),
        }
    }

    /// Send one command without waiting for its reply (pipelining).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out)
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Send one command and read its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Frame> {
        self.send(args)?;
        self.read_frame()
    }

    /// A complete frame already buffered, without reading from the socket.
    pub fn buffered_frame(&mut self) -> io::Result<Option<Frame>> {
        let data = &self.buf[self.pos..];
        let end = match self.scan.scan(data) {
            Ok(None) => return Ok(None),
            Ok(Some(end)) => end,
            // Malformed: the parser names the problem (it fails on what is there).
            Err(()) => {
                self.scan = FrameScan::default();
                if let Ok(Some((frame, used))) = Frame::parse(data) {
                    self.pos += used;
                    return Ok(Some(frame));
                }
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    match Frame::parse(data) {
                        Err(e) => format!("Protocol error: {e}"),
                        _ => "Protocol error".to_string(),
                    },
                ));
            }
        };
        match Frame::parse(&data[..end]) {
            Ok(Some((frame, used))) => {
                self.pos += used;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Protocol error: {e}"),
            )),
        }
    }

    /// Read the next reply frame.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        loop {
            if let Some(f) = self.buffered_frame()? {
                return Ok(f);
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The OS reason of a connect error without Rust's " (os error N)" suffix, as redis-cli prints it.
pub fn error_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// "host:port" or the socket path, as redis-cli names the server in its errors.
pub fn target_name(t: &Target) -> String {
    match t {
        Target::Tcp { host, port } => format!("{host}:{port}"),
        Target::Unix(p) => p.clone(),
    }
}

/// A connection after redis-cli's setup steps.
pub struct Setup {
    pub conn: Conn,
    /// AUTH, SELECT and HELLO 3 (as asked) all succeeded.
    pub ok: bool,
    /// HELLO 3 succeeded: the connection speaks RESP3.
    pub resp3: bool,
    /// The db the connection is in (0 when SELECT was refused or not reached).
    pub db: i64,
}

/// Connect and set the session up as redis-cli's cliConnect does: AUTH, then SELECT
/// when the db is not 0, then HELLO 3 when asked, stopping at the first failure
/// (reported on stderr; with --json a refused HELLO 3 is not a failure). The
/// connection is kept either way: redis-cli's one-shot and REPL modes go on with it,
/// its special modes give up. With `quiet`, a connect failure is not reported.
pub fn connect_setup(s: &Settings, quiet: bool) -> Option<Setup> {
    let mut conn = match Conn::open(&s.target) {
        Ok(c) => c,
        Err(e) => {
            if !quiet {
                eprintln!(
                    "Could not connect to Redis at {}: {}",
                    target_name(&s.target),
                    error_reason(&e)
                );
            }
            return None;
        }
    };
    // Some(true) done, Some(false) refused (reported), None: the link failed.
    let mut step = |args: Vec<String>, what: &str| -> Option<bool> {
        match conn.call(&args) {
            Ok(Frame::Error(e)) => {
                eprintln!("{what} failed: {e}");
                Some(false)
            }
            Ok(_) => Some(true),
            Err(_) => {
                eprintln!("\nI/O error");
                None
            }
        }
    };
    let mut ok = true;
    let mut resp3 = false;
    if let Some(pw) = &s.password {
        let mut a = vec!["AUTH".to_string()];
        a.extend(s.user.clone());
        a.push(pw.clone());
        ok = step(a, "AUTH")?;
    }
    let mut db = 0;
    if ok && s.db != 0 {
        ok = step(
            vec!["SELECT".into(), s.db.to_string()],
            &format!("SELECT {}", s.db),
        )?;
        if ok {
            db = s.db;
        }
    }
    if ok && s.resp3 != 0 {
        resp3 = step(vec!["HELLO".into(), "3".into()], "HELLO 3")?;
        ok = resp3 || s.resp3 == 2;
    }
    Some(Setup {
        conn,
        ok,
        resp3,
        db,
    })
}

/// Connect for the special modes (--scan, --stat...): `None` unless every setup
/// step succeeded, as those modes exit when redis-cli's cliConnect fails.
pub fn connect(s: &Settings, quiet: bool) -> Option<Conn> {
    connect_setup(s, quiet).filter(|c| c.ok).map(|c| c.conn)
}

#[cfg(test)]
mod tests {
    use super::FrameScan;

    /// Feeding a frame byte by byte finds its end exactly once, at the right place.
    fn ends(data: &[u8]) -> Vec<usize> {
        let mut scan = FrameScan::default();
        let mut found = Vec::new();
        let mut start = 0;
        for i in 1..=data.len() {
            if let Some(len) = scan.scan(&data[start..i]).unwrap() {
                start += len;
                found.push(start);
            }
        }
        found
    }

    #[test]
    fn frame_ends() {
        assert_eq!(ends(b"+OK\r\n:1\r\n"), vec![5, 9]);
        assert_eq!(ends(b"$3\r\na\r\n\r\n$-1\r\n"), vec![9, 14]);
        assert_eq!(
            ends(b"*2\r\n$1\r\na\r\n*1\r\n:2\r\n*0\r\n*-1\r\n"),
            vec![19, 23, 28]
        );
        assert_eq!(ends(b"%1\r\n+k\r\n~2\r\n#t\r\n_\r\n,1.5\r\n"), vec![19, 25]);
        assert_eq!(
            ends(b"|1\r\n+a\r\n:1\r\n+v\r\n>1\r\n=7\r\ntxt:abc\r\n"),
            vec![16, 33]
        );
        assert!(FrameScan::default().scan(b"?x\r\n").is_err());
        assert!(FrameScan::default().scan(b"$x\r\n").is_err());
    }
}
