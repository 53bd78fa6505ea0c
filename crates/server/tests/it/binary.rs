//! The `cinnabar-server` binary: start-up from a config file plus arguments, the ready log
//! line, refusal of unknown parameters, and a clean stop on SIGTERM and SHUTDOWN.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{wait_exit, RawConn};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child server that is killed (SIGKILL, by its own PID) and reaped when dropped unless
/// it already exited: a test that fails half-way never leaves its server running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts the binary and waits for its "ready to accept connections" line.
fn spawn(args: &[&str]) -> Reaped {
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("server exited before it was ready")
            .unwrap();
        if line.contains("ready to accept connections") {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

#[test]
fn config_file_and_arguments_then_sigterm() {
    let dir = std::env::temp_dir().join(format!("cinnabar-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("redis.conf");
    std::fs::write(
        &conf,
        "# a comment\nrequirepass \"from file\"\nsave 900 1\nsave 300 10\ndatabases 4\n",
    )
    .unwrap();
    let port = free_port();
    let mut child = spawn(&[
        conf.to_str().unwrap(),
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let mut c = RawConn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(
        c.cmd(&["PING"]),
        Frame::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(c.cmd(&["AUTH", "from file"]), Frame::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["SELECT", "4"]),
        Frame::Error("ERR DB index is out of range".into())
    );
    let Frame::Array(save) = c.cmd(&["CONFIG", "GET", "save"]) else {
        panic!()
    };
    assert_eq!(save[1], Frame::Bulk(b"900 1 300 10".to_vec().into()));
    // SAFETY: sending a signal to the child process we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_parameter_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .args(["--no-such-option", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad directive"));
}

#[test]
fn shutdown_command_stops_the_process() {
    let port = free_port();
    let mut child = spawn(&[
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ]);
    let mut c = RawConn::connect(([127, 0, 0, 1], port).into());
    c.send(&[b"SHUTDOWN"]);
    let (_, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed);
    assert!(wait_exit(&mut child).success());
}

/// A server whose output pipe's reader has gone (`cinnabar-server | head`) keeps working:
/// log lines that cannot be written are dropped. Before, the failed write was reported
/// with eprintln! on the same closed pipe, which panicked the logging thread: a loader
/// that logged left the server answering -LOADING for good.
#[test]
fn closed_output_pipe_drops_log_lines_and_keeps_serving() {
    let dir = cinnabar_testkit::temp_dir("closed-stdout");
    let port = free_port();
    // Killed if the test fails before it stops it.
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--enable-debug-command", "yes", "--save", ""])
            .args(["--dir", dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .expect("server exited before it was ready")
        .unwrap()
        .contains("ready to accept connections")
    {}
    // Both readers gone: every later log line meets a closed pipe.
    drop(lines);
    drop(child.stderr.take());
    let mut c = RawConn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(c.cmd(&["SET", "k", "v"]), Frame::Simple("OK".into()));
    // SAVE and DEBUG RELOAD log from the saving and loading code.
    assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Bulk(b"v".to_vec().into()));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // SAFETY: sending a signal to the child process we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(wait_exit(&mut child).success());
    let _ = std::fs::remove_dir_all(&dir);
}
