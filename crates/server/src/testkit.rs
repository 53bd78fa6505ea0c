//! Starts a server on a free loopback port for tests, and talks raw RESP to it.
//!
//! Integration tests never assume a server is already running: each starts its own with
//! [`TestServer::start`] (port 0, so the kernel picks a free port) and it stops when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};

use crate::config::Config;
use crate::net::{start, ServerHandle};

pub struct TestServer {
    pub handle: ServerHandle,
}

impl TestServer {
    /// A server with default settings on 127.0.0.1 and a free port.
    pub fn start() -> TestServer {
        TestServer::with_args(&[])
    }

    /// A server with extra `--name value` style settings, e.g. `&["requirepass", "pw"]` as
    /// (name, value) pairs.
    pub fn with_args(pairs: &[(&str, &str)]) -> TestServer {
        let mut args: Vec<String> = vec![
            "--port".into(),
            "0".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
        ];
        for (k, v) in pairs {
            args.push(format!("--{k}"));
            args.push(v.to_string());
        }
        let config = Config::from_args(&args).expect("test config");
        TestServer {
            handle: start(config).expect("server start"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    /// A `redis://` URL for the `redis` crate.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// A raw connection.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.addr())
    }
}

/// A blocking TCP connection that sends commands and reads frames, for byte-exact tests.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
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

    /// Reads one reply frame.
    pub fn read(&mut self) -> Frame {
        loop {
            if let Some((frame, n)) = Frame::parse(&self.buf).expect("bad frame from server") {
                self.buf.drain(..n);
                return frame;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command given as words and reads its reply.
    pub fn cmd(&mut self, words: &[&str]) -> Frame {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.send(&args);
        self.read()
    }

    /// Reads exactly what the server sends until it closes or `timeout` passes.
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

/// A real `redis-server` started for comparison tests (`REDIS_SERVER` names the binary,
/// default `redis-server` on PATH), on a free loopback port, without persistence. Killed
/// when dropped.
pub struct RealRedis {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub port: u16,
    /// (major, minor) of the binary.
    pub version: (u32, u32),
}

impl RealRedis {
    /// The binary to compare with and its version; None when it is not installed.
    pub fn binary() -> Option<(String, (u32, u32))> {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let out = std::process::Command::new(&bin)
            .arg("--version")
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        let v = s.split("v=").nth(1)?.split_whitespace().next()?.to_string();
        let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        Some((bin, (it.next()?, it.next()?)))
    }

    /// Starts one, or panics saying how to get one: comparison tests never pass by
    /// skipping. Set `CINNABAR_NO_REDIS=1` to skip them knowingly on a machine without
    /// redis-server (CI installs it).
    pub fn start(extra: &[&str]) -> Option<RealRedis> {
        let Some((bin, version)) = RealRedis::binary() else {
            if std::env::var_os("CINNABAR_NO_REDIS").is_some() {
                eprintln!("redis-server not found: comparison skipped (CINNABAR_NO_REDIS)");
                return None;
            }
            panic!(
                "this test compares with a real redis-server, which was not found: install \
                 it (Debian: apt-get install redis-server), point REDIS_SERVER at one, or set \
                 CINNABAR_NO_REDIS=1 to skip comparison tests"
            );
        };
        Some(RealRedis::start_binary(&bin, version, extra))
    }

    /// Starts the given binary (of `version`), as [`RealRedis::start`] does.
    pub fn start_binary(bin: &str, version: (u32, u32), extra: &[&str]) -> RealRedis {
        // A directory of its own, so no dump.rdb another server left is loaded; and a
        // port checked to be served by this child (another process may take the free port
        // picked here before redis-server binds it: then it exits and we try another).
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for _attempt in 0..5 {
            let dir = std::env::temp_dir().join(format!(
                "cinnabar-real-redis-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir for redis-server");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut real = RealRedis {
                child,
                dir,
                port,
                version,
            };
            if real.wait_ready() {
                return real;
            }
        }
        panic!("redis-server did not start on a free port in 5 attempts");
    }

    /// Waits (10 s at most) until this child answers on its port; false if it exited
    /// (its port was taken) or another process answers there.
    fn wait_ready(&mut self) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(s) = TcpStream::connect(self.addr()) {
                drop(s);
                let info = text(&self.conn().cmd(&["INFO", "server"]));
                let pid = format!("process_id:{}", self.child.id());
                return info.lines().any(|l| l.trim() == pid);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not answer within 10 s on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr())
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every key of the given databases with its type, content and absolute deadline in ms
/// (PEXPIRETIME), one line per key, sorted: for tests that compare whole data sets (a
/// restart, an AOF replayed elsewhere, another server). Leaves the connection in db 0.
pub fn describe_dataset(r: &mut RawConn, dbs: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for db in dbs {
        let db = db.to_string();
        assert_eq!(r.cmd(&["SELECT", &db]), ok());
        let mut keys = words(r.cmd(&["KEYS", "*"]));
        keys.sort();
        for k in keys {
            let t = text(&r.cmd(&["TYPE", &k]));
            let sorted = |mut v: Vec<String>| {
                v.sort();
                v.join(",")
            };
            let content = match t.as_str() {
                "string" => text(&r.cmd(&["GET", &k])),
                "list" => words(r.cmd(&["LRANGE", &k, "0", "-1"])).join(","),
                "set" => sorted(words(r.cmd(&["SMEMBERS", &k]))),
                "hash" => {
                    let flat = words(r.cmd(&["HGETALL", &k]));
                    sorted(
                        flat.chunks(2)
                            .map(|c| format!("{}={}", c[0], c[1]))
                            .collect(),
                    )
                }
                "zset" => words(r.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"])).join(","),
                "stream" => text(&r.cmd(&["XRANGE", &k, "-", "+"])),
                other => other.to_string(),
            };
            let at = text(&r.cmd(&["PEXPIRETIME", &k]));
            out.push(format!("db{db} {k} {t} at={at} {content}"));
        }
    }
    assert_eq!(r.cmd(&["SELECT", "0"]), ok());
    out
}
