//! Cinnabar servers for tests: in-process ([`TestServer`]) or as a child process
//! ([`ChildServer`]), each on a free loopback port and stopped when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinnabar_server::config::Config;
use cinnabar_server::server::Server;
use cinnabar_server::{start, ServerHandle};

use crate::conn::{text, RawConn};
use crate::wait::{eventually, PATIENCE};

/// A server running in this process, on 127.0.0.1 and a port the kernel picked, without
/// `save` rules (no dump.rdb written behind a test's back). Stops when dropped.
pub struct TestServer {
    pub handle: ServerHandle,
    /// The directory of its own it works in unless given `dir`, removed after the server
    /// stopped (fields drop in order). Servers of one test process never share files: a
    /// replica writes the RDB it receives there, as Redis does with disk-based loading.
    _dir: OwnDir,
}

struct OwnDir(PathBuf);

impl Drop for OwnDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    /// A server with default settings.
    pub fn start() -> TestServer {
        TestServer::with_args(&[])
    }

    /// A server with extra settings as (name, value) pairs, e.g. `&[("requirepass", "pw")]`.
    pub fn with_args(pairs: &[(&str, &str)]) -> TestServer {
        let mut argv: Vec<String> = Vec::new();
        for (k, v) in pairs {
            argv.push(format!("--{k}"));
            argv.push(v.to_string());
        }
        TestServer::with_argv(&argv)
    }

    /// A server with extra command-line arguments as redis-server takes them, for settings
    /// of several words: `&["--replicaof", "127.0.0.1", "6379"]`.
    pub fn with_argv<S: AsRef<str>>(extra: &[S]) -> TestServer {
        let dir = temp_dir("srv");
        let mut args: Vec<String> = vec![
            "--port".into(),
            "0".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            // Before the caller's arguments: a `dir` of theirs wins.
            "--dir".into(),
            dir.to_str().expect("utf-8 temp dir").into(),
        ];
        args.extend(extra.iter().map(|a| a.as_ref().to_string()));
        let config = Config::from_args(&args).expect("test config");
        TestServer {
            handle: start(config).expect("server start"),
            _dir: OwnDir(dir),
        }
    }

    /// A server working in `dir` (its RDB and AOF files), returned once start-up loading
    /// is over.
    pub fn in_dir(dir: &Path, extra: &[(&str, &str)]) -> TestServer {
        let d = dir.to_str().expect("utf-8 temp dir").to_string();
        let mut args: Vec<(&str, &str)> = vec![("dir", &d)];
        args.extend_from_slice(extra);
        let srv = TestServer::with_args(&args);
        srv.wait_loaded();
        srv
    }

    /// Waits until start-up loading is over (commands get -LOADING meanwhile).
    pub fn wait_loaded(&self) {
        eventually(PATIENCE, "the server to finish loading", || {
            !self.handle.server.persist.is_loading()
        });
    }

    /// The shared server state, for tests that look inside.
    pub fn server(&self) -> &Arc<Server> {
        &self.handle.server
    }

    /// Moves this server's clock `ms` milliseconds forward (`DEBUG ADVANCE-CLOCK`): keys and
    /// fields whose deadline is now past are expired, idle times grow, without waiting.
    pub fn advance_clock(&self, ms: u64) {
        self.handle.server.advance_clock(ms as i64);
    }

    /// Waits until `n` more cron cycles (active expiry, save rules, ...) have run.
    pub fn wait_cron_runs(&self, n: u64) {
        let runs = &self.handle.server.cron_runs;
        let until = runs.load(Ordering::Relaxed) + n;
        eventually(PATIENCE, format_args!("{n} cron cycles"), || {
            runs.load(Ordering::Relaxed) >= until
        });
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

/// A free TCP port on 127.0.0.1 at the time of asking (another process may take it before
/// it is used: spawners check that their child serves it, and retry).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh empty directory for one test's files, named after the test (`label`), this
/// process and a counter.
pub fn temp_dir(label: &str) -> PathBuf {
    static DIRS: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "cinnabar-test-{}-{}-{label}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// A server binary (`cinnabar-server` or `redis-server`, which take the same `--port`,
/// `--bind` and `--dir` arguments) running as a child process on a free port. Killed
/// (SIGKILL) when dropped.
pub struct ChildServer {
    pub child: Child,
    pub port: u16,
}

impl ChildServer {
    /// Starts `bin` with `--port <free> --bind 127.0.0.1` and `args`, and returns once this
    /// child serves that port and has loaded its files (checked by its process id in INFO,
    /// so a process that took the port meanwhile is never mistaken for it; then another
    /// port is tried).
    pub fn start(bin: &Path, args: &[&str]) -> ChildServer {
        ChildServer::start_after(bin, &[], args)
    }

    /// [`ChildServer::start`] with `lead` before the port arguments: a config file (which
    /// must come first) and, for redis-server, `--sentinel`.
    pub fn start_after(bin: &Path, lead: &[&str], args: &[&str]) -> ChildServer {
        ChildServer::spawn(bin, lead, args, false)
    }

    /// [`ChildServer::start`] that returns as soon as this child answers, while it still
    /// loads its files (`-LOADING`), for tests of what a loading server does.
    pub fn start_loading(bin: &Path, args: &[&str]) -> ChildServer {
        ChildServer::spawn(bin, &[], args, true)
    }

    fn spawn(bin: &Path, lead: &[&str], args: &[&str], loading_ok: bool) -> ChildServer {
        for _attempt in 0..5 {
            let port = free_port();
            let child = Command::new(bin)
                .args(lead)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let mut s = ChildServer { child, port };
            if s.wait_ready(loading_ok) {
                return s;
            }
        }
        panic!(
            "{} did not start on a free port in 5 attempts",
            bin.display()
        );
    }

    /// True once this child serves its port (and has loaded its files, unless
    /// `loading_ok`); false if it exited (its port was taken) or another process answers
    /// there.
    fn wait_ready(&mut self, loading_ok: bool) -> bool {
        let pid = format!("process_id:{}", self.child.id());
        let addr = self.addr();
        let port = self.port;
        let child = &mut self.child;
        eventually(
            PATIENCE,
            format_args!("a server to answer on port {port}"),
            || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false);
                }
                let mut c = std::net::TcpStream::connect(addr)
                    .ok()
                    .map(|_| RawConn::connect(addr))?;
                // A server that accepts and then fails its start-up (a port it cannot
                // bind, e.g. a cluster bus port) resets the probe: try again, and the exit
                // is seen above.
                // Not ready while loading its files (INFO answers then, PING does not).
                match text(&c.try_cmd(&["PING"]).ok()?) {
                    p if p.starts_with("ERR:LOADING") && !loading_ok => return None,
                    // With requirepass the process id cannot be read: answering is enough.
                    p if p.starts_with("ERR:NOAUTH") => return Some(true),
                    _ => {}
                }
                let info = text(&c.try_cmd(&["INFO", "server"]).ok()?);
                Some(info.lines().any(|l| l.trim() == pid))
            },
        )
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr())
    }

    /// The process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_exit(&mut self.child)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a child process to exit, [`PATIENCE`] at most; kills it and fails after that.
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {PATIENCE:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
