//! SHUTDOWN and SIGTERM as Redis 7.2: a primary first waits (up to `shutdown-timeout`) for
//! its replicas to acknowledge its whole stream, with writes paused; SHUTDOWN blocks
//! meanwhile and SHUTDOWN ABORT cancels; a save that fails (without FORCE) cancels the
//! shutdown and the server goes on. The replica is played by the test, so it acknowledges
//! exactly when the test says; the server runs as a child process whose log is read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Instant;

use cinnabar_testkit::{eventually, ok, text, ChildServer, RawConn, PATIENCE};

const ERRORS: &str = "ERR:ERR Errors trying to SHUTDOWN. Check logs.";

struct Server {
    server: ChildServer,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(tag: &str, args: &[&str]) -> Server {
        let mut all = vec!["--repl-diskless-sync-delay", "0", "--hz", "100"];
        all.extend_from_slice(args);
        let (server, dir, log) = crate::replication_shared::start_logged(tag, &all);
        Server { server, dir, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, line: &str) {
        eventually(PATIENCE, format_args!("the log line {line:?}"), || {
            self.log().contains(line)
        });
    }

    fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a signal to the child process this test started.
        unsafe { libc::kill(self.server.pid() as i32, sig) };
    }

    /// Waits for the grace period to start (INFO `shutdown_in_milliseconds`).
    fn wait_grace(&self, c: &mut RawConn) {
        eventually(PATIENCE, "the shutdown to wait for the replica", || {
            grace_left(c).is_some_and(|ms| ms > 0)
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica played by the test: synced from scratch (disk-based transfer), then reading
/// the stream and acknowledging only when told.
struct FakeReplica {
    link: TcpStream,
    buf: Vec<u8>,
    /// The offset of the last byte of the stream read.
    offset: u64,
}

impl FakeReplica {
    fn attach(addr: SocketAddr) -> FakeReplica {
        let link = TcpStream::connect(addr).unwrap();
        link.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut r = FakeReplica {
            link,
            buf: Vec::new(),
            offset: 0,
        };
        r.link
            .write_all(b"REPLCONF listening-port 7777\r\nPSYNC ? -1\r\n")
            .unwrap();
        assert_eq!(r.line(), "+OK");
        let head = r.line();
        let f: Vec<&str> = head.split(' ').collect();
        assert_eq!(f[0], "+FULLRESYNC", "{head}");
        r.offset = f[2].parse().unwrap();
        // Newlines keep the link alive until the RDB's length comes.
        let len = loop {
            let l = r.line();
            if let Some(n) = l.strip_prefix('$') {
                break n.parse::<usize>().unwrap();
            }
            assert!(l.is_empty(), "{l:?}");
        };
        while r.buf.len() < len {
            r.fill();
        }
        r.buf.drain(..len);
        r
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        let n = self.link.read(&mut chunk).expect("the primary's stream");
        assert!(n > 0, "the primary closed the link");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&l).trim_end().to_string();
            }
            self.fill();
        }
    }

    /// Reads the stream up to the primary's offset `end`.
    fn read_to(&mut self, end: u64) {
        let start = Instant::now();
        while self.offset + (self.buf.len() as u64) < end {
            assert!(start.elapsed() < PATIENCE, "the stream up to {end}");
            self.fill();
        }
        let take = (end - self.offset) as usize;
        self.buf.drain(..take);
        self.offset = end;
    }

    fn ack(&mut self) {
        let off = self.offset.to_string();
        let cmd = format!(
            "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{off}\r\n",
            off.len()
        );
        self.link.write_all(cmd.as_bytes()).unwrap();
    }
}

/// INFO's `shutdown_in_milliseconds`, shown only while a shutdown waits.
fn grace_left(c: &mut RawConn) -> Option<i64> {
    c.info("server")
        .lines()
        .find_map(|l| l.strip_prefix("shutdown_in_milliseconds:"))
        .map(|v| v.trim().parse().unwrap())
}

fn offset(c: &mut RawConn) -> u64 {
    c.info_field("replication", "master_repl_offset")
        .parse()
        .unwrap()
}

/// Waits for the child to exit and returns its status.
fn exited(s: &mut Server) -> std::process::ExitStatus {
    s.server.wait_exit()
}

#[test]
fn shutdown_waits_for_a_lagging_replica_to_catch_up() {
    for how in ["SHUTDOWN", "SIGTERM"] {
        let mut s = Server::start("shutdown-wait", &["--shutdown-timeout", "300"]);
        let mut c = s.server.conn();
        let mut replica = FakeReplica::attach(s.server.addr());
        assert_eq!(c.cmd(&["INCR", "k"]), cinnabar_testkit::int(1));
        // The replica has not acknowledged the INCR: the shutdown waits.
        let mut shut = s.server.conn();
        if how == "SHUTDOWN" {
            shut.send(&[b"SHUTDOWN"]);
        } else {
            s.sigterm();
        }
        s.wait_grace(&mut c);
        assert!(s
            .log()
            .contains("Waiting for replicas before shutting down."));
        // Writes wait meanwhile (reported as blocked clients); reads go on.
        let mut writer = s.server.conn();
        writer.send(&[b"SET", b"during", b"grace"]);
        let blocked = if how == "SHUTDOWN" { "2" } else { "1" };
        eventually(PATIENCE, "the write and SHUTDOWN held", || {
            c.info_field("clients", "blocked_clients") == blocked
        });
        assert_eq!(text(&c.cmd(&["GET", "k"])), "1");
        // The replica catches up (its primary asked it for an ACK): the server exits.
        let end = offset(&mut c);
        replica.read_to(end);
        replica.ack();
        assert!(exited(&mut s).success(), "{how}");
        let log = s.log();
        assert!(
            log.contains("1 of 1 replicas are in sync when shutting down."),
            "{log}"
        );
        assert!(!log.contains("Lagging replica"), "{log}");
        assert!(log.contains("ready to exit, bye bye"), "{log}");
        if how == "SHUTDOWN" {
            let (_, closed) = shut.read_until_close(PATIENCE);
            assert!(closed, "SHUTDOWN's connection closes without a reply");
        }
    }
}

#[test]
fn shutdown_gives_up_on_a_replica_after_the_timeout() {
    let mut s = Server::start("shutdown-timeout", &["--shutdown-timeout", "1"]);
    let mut c = s.server.conn();
    let _replica = FakeReplica::attach(s.server.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    s.sigterm();
    s.wait_grace(&mut c);
    assert!(exited(&mut s).success());
    let log = s.log();
    assert!(
        log.contains("Lagging replica 127.0.0.1:7777 reported offset"),
        "{log}"
    );
    assert!(
        log.contains("0 of 1 replicas are in sync when shutting down."),
        "{log}"
    );
}

#[test]
fn shutdown_now_and_a_zero_timeout_do_not_wait() {
    let mut s = Server::start("shutdown-now", &["--shutdown-timeout", "300"]);
    let mut c = s.server.conn();
    let _replica = FakeReplica::attach(s.server.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    c.send(&[b"SHUTDOWN", b"NOW"]);
    assert!(exited(&mut s).success());
    assert!(s
        .log()
        .contains("0 of 1 replicas are in sync when shutting down."));

    let mut s = Server::start("shutdown-zero", &["--shutdown-timeout", "0"]);
    let mut c = s.server.conn();
    let _replica = FakeReplica::attach(s.server.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    c.send(&[b"SHUTDOWN"]);
    assert!(exited(&mut s).success());
}

#[test]
fn shutdown_abort_answers_every_blocked_shutdown_and_resumes_writes() {
    let s = Server::start("shutdown-abort", &["--shutdown-timeout", "300"]);
    let mut c = s.server.conn();
    let _replica = FakeReplica::attach(s.server.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    let (mut rd1, mut rd2) = (s.server.conn(), s.server.conn());
    rd1.send(&[b"SHUTDOWN"]);
    s.wait_grace(&mut c);
    rd2.send(&[b"SHUTDOWN"]);
    eventually(PATIENCE, "both SHUTDOWNs blocked", || {
        c.info_field("clients", "blocked_clients") == "2"
    });
    // Three clients: the replica's link is not counted, as in Redis.
    assert_eq!(c.info_field("clients", "connected_clients"), "3");
    let mut writer = s.server.conn();
    writer.send(&[b"SET", b"k", b"after"]);
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]), ok());
    assert_eq!(text(&rd1.read()), ERRORS);
    assert_eq!(text(&rd2.read()), ERRORS);
    // The paused write runs now.
    assert_eq!(writer.read(), ok());
    assert_eq!(text(&c.cmd(&["GET", "k"])), "after");
    assert_eq!(grace_left(&mut c), None);
    assert!(s.log().contains("Shutdown manually aborted."));
    assert_eq!(
        text(&c.cmd(&["SHUTDOWN", "ABORT"])),
        "ERR:ERR No shutdown in progress."
    );
}

#[test]
fn a_failed_save_cancels_the_shutdown_and_the_server_goes_on() {
    let mut s = Server::start("shutdown-save-fails", &["--save", "900 1"]);
    let mut c = s.server.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    // A directory where the RDB file goes: the save's rename fails.
    std::fs::create_dir_all(s.dir.join("dump.rdb")).unwrap();
    s.sigterm();
    s.wait_log("Error trying to save the DB, can't exit.");
    s.wait_log("Errors trying to shut down the server. Check the logs for more information.");
    assert_eq!(text(&c.cmd(&["PING"])), "PONG");
    assert_eq!(text(&c.cmd(&["SHUTDOWN"])), ERRORS);
    assert_eq!(text(&c.cmd(&["SET", "k2", "v"])), "OK", "writes resume");
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(exited(&mut s).success());
}

/// A SIGTERM the cron has not acted on yet (DEBUG PAUSE-CRON) is cancelled by SHUTDOWN
/// ABORT, as Redis's abortShutdown clears `shutdown_asap`.
#[test]
fn shutdown_abort_cancels_a_pending_signal() {
    let s = Server::start("shutdown-abort-signal", &["--enable-debug-command", "yes"]);
    let mut c = s.server.conn();
    assert_eq!(c.cmd(&["DEBUG", "PAUSE-CRON", "1"]), ok());
    s.sigterm();
    s.wait_log("Received SIGTERM scheduling shutdown...");
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]), ok());
    assert!(s.log().contains("Shutdown manually aborted."));
    assert_eq!(c.cmd(&["DEBUG", "PAUSE-CRON", "0"]), ok());
    // The cron runs again (a key's deadline is acted on by its active expiry) and the
    // server stays up.
    assert_eq!(c.cmd(&["SET", "tmp", "v", "PX", "1"]), ok());
    eventually(PATIENCE, "the cron to expire a key", || {
        c.info_field("stats", "expired_keys") == "1"
    });
    assert_eq!(text(&c.cmd(&["PING"])), "PONG");
}

/// A second SIGINT exits at once, with status 1, and deletes the file the shutdown's save
/// was writing (Redis's rdbRemoveTempFile).
#[test]
fn a_second_sigint_exits_now_and_removes_the_save_in_progress() {
    let mut s = Server::start("shutdown-insist", &["--save", "900 1"]);
    let mut c = s.server.conn();
    for i in 0..20 {
        assert_eq!(c.cmd(&["SET", &i.to_string(), "v"]), ok());
    }
    // 100 ms per key: the shutdown's save lasts two seconds.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]),
        ok()
    );
    let temp = s.dir.join(format!("temp-{}.rdb", s.server.pid()));
    s.signal(libc::SIGINT);
    eventually(PATIENCE, "the shutdown's save to start", || temp.exists());
    s.signal(libc::SIGINT);
    let status = exited(&mut s);
    assert_eq!(status.code(), Some(1));
    assert!(!temp.exists(), "the temporary file is deleted");
    assert!(s.log().contains("You insist... exiting now."));
}

/// Sends SHUTDOWN NOSAVE on `c` and checks, once its connection has ended, that a new
/// connection is refused: the listening sockets close before any client's connection (as
/// Redis closes its listeners first), so a client that reconnects at once is not accepted by
/// a server on its way out.
fn shutdown_then_refused(server: &mut Server, c: &mut RawConn) {
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    let (_, closed) = c.read_until_close(PATIENCE);
    assert!(closed, "the connection did not end after SHUTDOWN NOSAVE");
    let e = TcpStream::connect(server.server.addr()).expect_err("accepted after SHUTDOWN");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    server.server.wait_exit();
}

#[test]
fn a_server_that_shut_down_refuses_connections_at_once() {
    let mut s = Server::start("shutdown-refused", &["--threads", "1"]);
    let mut c = s.server.conn();
    shutdown_then_refused(&mut s, &mut c);
}

/// The same when SHUTDOWN NOSAVE ends a busy script (the busy responder exits the process).
#[test]
fn a_busy_script_ended_by_shutdown_nosave_leaves_nothing_listening() {
    let mut s = Server::start(
        "shutdown-busy",
        &["--threads", "1", "--busy-reply-threshold", "50"],
    );
    let mut runner = s.server.conn();
    runner.send(&[b"EVAL", b"while true do end", b"0"]);
    let mut other = s.server.conn();
    eventually(
        PATIENCE,
        "the script to be reported busy",
        || matches!(other.cmd(&["PING"]), cinnabar_resp::Frame::Error(e) if e.starts_with("BUSY")),
    );
    shutdown_then_refused(&mut s, &mut other);
}

/// SIGTERM ends a server listening on a unix socket while clients are connected. Its accept
/// loop once spun on the unix listener after shutdown (EAGAIN forever), so the process never
/// exited; the race took one start in two to eight, hence several rounds.
#[test]
fn sigterm_ends_a_server_with_a_unix_socket_and_clients() {
    for round in 0..6 {
        let tag = format!("shutdown-unix-{round}");
        let dir = cinnabar_testkit::temp_dir(&tag);
        let sock = dir.join("s.sock");
        let mut s = Server::start(&tag, &["--unixsocket", sock.to_str().unwrap()]);
        let mut clients: Vec<RawConn> = (0..3).map(|_| s.server.conn()).collect();
        for c in &mut clients {
            assert_eq!(c.cmd(&["SELECT", "9"]), ok());
        }
        s.sigterm();
        s.server.wait_exit();
        assert!(!sock.exists(), "round {round}: the socket file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
