//! `unixsocket` / `unixsocketperm`: a unix domain socket served beside TCP, as Redis 7.2.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};
use cinnabar_testkit::{err, int, ok, temp_dir, text, words, ChildServer, RedisCli, TestServer};

/// A blocking RESP connection over a unix socket.
struct UnixConn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl UnixConn {
    fn connect(path: &Path) -> UnixConn {
        let stream = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        UnixConn {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, words: &[&str]) {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut out = Vec::new();
        encode_command(&args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    fn cmd(&mut self, words: &[&str]) -> Frame {
        self.send(words);
        self.read()
    }

    fn read(&mut self) -> Frame {
        loop {
            if let Some((frame, n)) = Frame::parse(&self.buf).expect("bad frame") {
                self.buf.drain(..n);
                return frame;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("no reply");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The value of `field=` in a CLIENT LIST / CLIENT INFO line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn socket_in(dir: &Path) -> PathBuf {
    dir.join("cinnabar.sock")
}

#[test]
fn serves_a_unix_socket_beside_tcp() {
    let dir = temp_dir("unix-beside-tcp");
    let sock = socket_in(&dir);
    let s = sock.to_str().unwrap();
    let srv = ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &["--unixsocket", s, "--unixsocketperm", "0700", "--save", ""],
    );
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    let mut u = UnixConn::connect(&sock);
    assert_eq!(u.cmd(&["SET", "k", "via-unix"]), ok());
    let mut t = srv.conn();
    assert_eq!(text(&t.cmd(&["GET", "k"])), "via-unix");

    // Redis prints `unixsocket:0` for both ends of a unix client, and flag U.
    let me = text(&u.cmd(&["CLIENT", "INFO"]));
    let want = format!("{s}:0");
    assert_eq!(field(&me, "addr"), want);
    assert_eq!(field(&me, "laddr"), want);
    assert_eq!(field(&me, "flags"), "U");
    let list = text(&t.cmd(&["CLIENT", "LIST"]));
    let tcp_line = list
        .lines()
        .find(|l| l.contains("cmd=client|list"))
        .unwrap();
    assert_eq!(field(tcp_line, "flags"), "N");
    assert!(list.lines().any(|l| field(l, "addr") == want));
    // CLIENT KILL ADDR finds it by that name.
    assert_eq!(
        t.cmd(&["CLIENT", "KILL", "ADDR", &want]),
        int(1),
        "killed by its address"
    );
    let mut rest = Vec::new();
    assert_eq!(u.stream.read_to_end(&mut rest).unwrap(), 0, "closed");

    // Listeners as Redis numbers them; the parameters are immutable, perm in octal.
    let info = text(&t.cmd(&["INFO", "server"]));
    assert!(
        info.lines()
            .any(|l| l.trim() == format!("listener1:name=unix,bind={s}")),
        "{info}"
    );
    assert_eq!(
        words(t.cmd(&["CONFIG", "GET", "unixsocket*"])),
        ["unixsocket", s, "unixsocketperm", "700"]
    );
    assert_eq!(
        t.cmd(&["CONFIG", "SET", "unixsocketperm", "777"]),
        err("ERR CONFIG SET failed (possibly related to argument 'unixsocketperm') - can't set immutable config")
    );
    assert_eq!(
        t.cmd(&["CONFIG", "SET", "unixsocket", "/tmp/x.sock"]),
        err("ERR CONFIG SET failed (possibly related to argument 'unixsocket') - can't set immutable config")
    );
}

#[test]
fn socket_file_replaced_at_start_and_removed_at_shutdown() {
    let dir = temp_dir("unix-lifecycle");
    let sock = socket_in(&dir);
    // A stale file where the socket goes (a crashed server's) is replaced, as Redis
    // unlinks the path before binding.
    std::fs::write(&sock, b"stale").unwrap();
    let s = sock.to_str().unwrap();
    let mut srv = ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &["--unixsocket", s, "--save", ""],
    );
    assert!(std::fs::metadata(&sock).unwrap().file_type().is_socket());
    let mut u = UnixConn::connect(&sock);
    assert_eq!(u.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // SIGTERM: a clean shutdown removes the file.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    assert!(srv.wait_exit().success());
    assert!(!sock.exists(), "the socket file is removed at shutdown");

    // SHUTDOWN over the socket itself removes it too.
    let mut srv = ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &["--unixsocket", s, "--save", ""],
    );
    let mut u = UnixConn::connect(&sock);
    let _ = u.stream.write_all(b"SHUTDOWN NOSAVE\r\n");
    assert!(srv.wait_exit().success());
    assert!(!sock.exists(), "the socket file is removed at shutdown");
}

#[test]
fn unixsocketperm_parses_octal_as_redis() {
    use cinnabar_server::config::Config;
    let get = |v: &str| {
        Config::from_args(&["--unixsocketperm".to_string(), v.to_string()])
            .map(|c| c.get("unixsocketperm"))
            .map_err(|e| e.to_string())
    };
    assert_eq!(get("700").unwrap(), "700");
    assert_eq!(get("0770").unwrap(), "770");
    assert_eq!(get("0").unwrap(), "0");
    let e = get("800").unwrap_err();
    assert!(
        e.contains("argument couldn't be parsed as an octal number"),
        "{e}"
    );
    let e = get("1000").unwrap_err();
    assert!(
        e.contains("argument must be between 0 and 777 inclusive"),
        "{e}"
    );
    let e = get("-1").unwrap_err();
    assert!(
        e.contains("argument must be between 0 and 777 inclusive"),
        "{e}"
    );
}

#[test]
fn unix_clients_are_local() {
    let dir = temp_dir("unix-local");
    let sock = socket_in(&dir);
    // `port 0` with a unix socket: the unix socket only, as in Redis.
    let srv = TestServer::with_args(&[
        ("unixsocket", sock.to_str().unwrap()),
        ("enable-debug-command", "local"),
        ("protected-mode", "yes"),
    ]);
    assert!(srv.handle.addrs.is_empty(), "port 0: no TCP listener");
    let mut u = UnixConn::connect(&sock);
    // Protected mode served it (no password, not loopback TCP) and DEBUG is allowed to
    // local clients only.
    assert_eq!(u.cmd(&["DEBUG", "SLEEP", "0"]), ok());
    drop(srv);
    assert!(!sock.exists(), "the socket file is removed at shutdown");
}

#[test]
fn redis_cli_over_the_unix_socket() {
    let Some(cli) = RedisCli::find() else { return };
    let dir = temp_dir("unix-redis-cli");
    let sock = socket_in(&dir);
    let s = sock.to_str().unwrap();
    let _srv = TestServer::with_args(&[("unixsocket", s)]);
    let run = |args: &[&str]| {
        let o = Command::new(&cli)
            .args(["-s", s])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(run(&["SET", "greeting", "hello"]), "OK\n");
    assert_eq!(run(&["GET", "greeting"]), "hello\n");
    let info = run(&["CLIENT", "INFO"]);
    assert_eq!(field(info.trim(), "addr"), format!("{s}:0"));
    // Mass insertion over the socket.
    let mut child = Command::new(&cli)
        .args(["-s", s, "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = Vec::new();
    for i in 0..1000 {
        encode_command(&[b"RPUSH", b"piped", i.to_string().as_bytes()], &mut input);
    }
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("errors: 0, replies: 1000"), "{out}");
    assert_eq!(run(&["LLEN", "piped"]), "1000\n");
}

#[test]
fn a_socket_path_that_cannot_be_bound_stops_the_start() {
    let dir = temp_dir("unix-bad-path");
    let sock = dir.join("missing-dir").join("s.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--unixsocket",
            sock.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(all.contains("Failed opening Unix socket"), "{all}");
}

#[test]
fn empty_bind_leaves_the_unix_socket() {
    let dir = temp_dir("unix-empty-bind");
    let sock = socket_in(&dir);
    let s = sock.to_str().unwrap();
    let srv = ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &["--unixsocket", s, "--save", ""],
    );
    let mut u = UnixConn::connect(&sock);
    // `bind ""` stops listening on TCP, as in Redis; the unix socket still serves.
    assert_eq!(u.cmd(&["CONFIG", "SET", "bind", ""]), ok());
    assert_eq!(words(u.cmd(&["CONFIG", "GET", "bind"])), ["bind", ""]);
    assert!(
        std::net::TcpStream::connect(srv.addr()).is_err(),
        "no TCP listener"
    );
    assert_eq!(u.cmd(&["CONFIG", "SET", "bind", "127.0.0.1"]), ok());
    assert_eq!(srv.conn().cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn busy_script_answers_unix_clients() {
    let dir = temp_dir("unix-busy");
    let sock = socket_in(&dir);
    let srv = TestServer::with_args(&[
        ("unixsocket", sock.to_str().unwrap()),
        ("threads", "1"),
        ("busy-reply-threshold", "50"),
    ]);
    let mut runner = UnixConn::connect(&sock);
    let mut other = UnixConn::connect(&sock);
    runner.send(&["EVAL", "while true do end", "0"]);
    // The worker is stuck in the script: the busy responder answers its unix clients.
    let e = cinnabar_testkit::eventually(
        cinnabar_testkit::PATIENCE,
        "the script to be reported busy",
        || match other.cmd(&["GET", "x"]) {
            Frame::Error(e) => Some(e),
            _ => None,
        },
    );
    assert!(e.starts_with("BUSY Redis is busy running a script"), "{e}");
    // A unix client that connects meanwhile is accepted and answered too.
    let mut late = UnixConn::connect(&sock);
    assert!(text(&late.cmd(&["PING"])).starts_with("ERR:BUSY"));
    assert_eq!(late.cmd(&["SCRIPT", "KILL"]), ok());
    let e = text(&runner.read());
    assert!(e.contains("Script killed by user with SCRIPT KILL"), "{e}");
    // Handed back to the worker, all three are served normally, still as unix clients.
    assert_eq!(runner.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(other.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let me = text(&late.cmd(&["CLIENT", "INFO"]));
    assert_eq!(field(&me, "flags"), "U");
    drop(srv);
}
