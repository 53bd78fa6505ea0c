//! Runs the cinnabar-cli binary in one-shot mode against an in-process server.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cinnabar_server::testkit::TestServer;

fn cli(srv: &TestServer, args: &[&str]) -> Output {
    cli_stdin(srv, args, None)
}

fn cli_stdin(srv: &TestServer, args: &[&str], input: Option<&[u8]>) -> Output {
    let addr = srv.addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cinnabar-cli");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn raw_output_when_piped() {
    let srv = TestServer::start();
    assert_eq!(stdout(&cli(&srv, &["SET", "k", "hello world"])), "OK\n");
    assert_eq!(stdout(&cli(&srv, &["GET", "k"])), "hello world\n");
    assert_eq!(stdout(&cli(&srv, &["GET", "missing"])), "\n");
    assert_eq!(stdout(&cli(&srv, &["INCR", "n"])), "1\n");
    assert_eq!(stdout(&cli(&srv, &["INCR", "n"])), "2\n");
    let err = cli(&srv, &["INCR", "k"]);
    assert_eq!(
        stdout(&err),
        "ERR value is not an integer or out of range\n\n"
    );
    assert_eq!(
        err.status.code(),
        Some(0),
        "redis-cli 7.2 exits 0 after an error reply"
    );
    assert_eq!(stdout(&cli(&srv, &["RPUSH", "l", "a", "b", "c d"])), "3\n");
    assert_eq!(
        stdout(&cli(&srv, &["LRANGE", "l", "0", "-1"])),
        "a\nb\nc d\n"
    );
}

#[test]
fn formatted_output_with_no_raw() {
    let srv = TestServer::start();
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "SET", "k", "a\"b\n"])),
        "OK\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "GET", "k"])),
        "\"a\\\"b\\n\"\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "GET", "missing"])),
        "(nil)\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "INCR", "n"])),
        "(integer) 1\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "INCR", "k"])),
        "(error) ERR value is not an integer or out of range\n"
    );
    cli(&srv, &["RPUSH", "l", "a", "b"]);
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "LRANGE", "l", "0", "-1"])),
        "1) \"a\"\n2) \"b\"\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "LRANGE", "none", "0", "-1"])),
        "(empty array)\n"
    );
    cli(&srv, &["HSET", "h", "f", "v"]);
    assert_eq!(
        stdout(&cli(&srv, &["-3", "--no-raw", "HGETALL", "h"])),
        "1# \"f\" => \"v\"\n"
    );
}

#[test]
fn db_uri_and_stdin() {
    let srv = TestServer::start();
    assert_eq!(stdout(&cli(&srv, &["-n", "2", "SET", "k", "two"])), "OK\n");
    assert_eq!(stdout(&cli(&srv, &["GET", "k"])), "\n");
    assert_eq!(stdout(&cli(&srv, &["-n", "2", "GET", "k"])), "two\n");
    let uri = format!("redis://{}/2", srv.addr());
    assert_eq!(stdout(&cli(&srv, &["-u", &uri, "GET", "k"])), "two\n");
    let o = cli_stdin(&srv, &["-x", "SET", "x"], Some(b"from\nstdin"));
    assert_eq!(stdout(&o), "OK\n");
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "GET", "x"])),
        "\"from\\nstdin\"\n"
    );
}

#[test]
fn auth_with_password() {
    let srv = TestServer::with_args(&[("requirepass", "pw")]);
    let o = cli(&srv, &["PING"]);
    assert!(stdout(&o).starts_with("NOAUTH"), "{}", stdout(&o));
    let o = cli(&srv, &["-a", "pw", "PING"]);
    assert_eq!(stdout(&o), "PONG\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("Warning: Using a password"));
    let o = cli(&srv, &["-a", "pw", "--no-auth-warning", "PING"]);
    assert!(o.stderr.is_empty());
}

#[test]
fn connection_refused() {
    let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args(["-p", "1", "PING"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Could not connect to Redis at 127.0.0.1:1: Connection refused\n"
    );
}

#[test]
fn repl_from_piped_stdin() {
    let srv = TestServer::start();
    let o = cli_stdin(
        &srv,
        &[],
        Some(b"set a \"x y\"\nget a\nselect 3\nget a\nquit\nping\n"),
    );
    assert_eq!(stdout(&o), "OK\nx y\nOK\n\n");
}
