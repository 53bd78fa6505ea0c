//! The REPL driven through a pseudo-terminal: typing, reading the screen, and
//! checking hints, completion, highlighting, the prompt, history, the large-db
//! confirmation, reconnection, and (against a real redis-server, see the test kit's policy)
//! SUBSCRIBE / MONITOR streaming stopped by Ctrl-C and hints identical to redis-cli's.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use cinnabar_testkit::{RealRedis, RedisCli, TestServer};
use rexpect::session::{spawn_command, PtySession};

/// Upper bound for any single wait on the screen (a failure bound, not a timing check).
const WAIT_MS: u64 = 15_000;

struct TempHome(PathBuf);

impl TempHome {
    fn new(tag: &str) -> TempHome {
        let p = std::env::temp_dir().join(format!("cinnabar-cli-pty-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempHome(p)
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spawn_cli(bin: &str, port: u16, home: &TempHome, extra: &[&str]) -> PtySession {
    let mut cmd = Command::new(bin);
    cmd.args(["-p", &port.to_string()])
        .args(extra)
        .env("HOME", &home.0)
        .env("TERM", "xterm")
        .env_remove("CINNABAR_CLI_HISTFILE")
        .env_remove("REDISCLI_HISTFILE")
        .env_remove("REDISCLI_AUTH")
        .env_remove("CINNABAR_CLI_RCFILE");
    spawn_command(cmd, Some(WAIT_MS)).expect("spawn in a pty")
}

const CLI: &str = env!("CARGO_BIN_EXE_cinnabar-cli");

#[test]
fn hints_completion_highlighting_and_history() {
    let srv = TestServer::start();
    let port = srv.addr().port();
    let home = TempHome::new("basic");
    let prompt = format!("127.0.0.1:{port}> ");
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string(&prompt).unwrap();

    // The grey hint lists the arguments still to type.
    p.send("set ").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[90mkey value [NX|XX]").unwrap();
    p.send("k ").unwrap();
    p.flush().unwrap();
    // The command name is highlighted as a known command, then comes the hint.
    p.exp_string("\x1b[1;33mset\x1b[0m k ").unwrap();
    p.exp_string("\x1b[90mvalue [NX|XX]").unwrap();
    p.send_line("\"hello world\"").unwrap();
    p.exp_string("OK\r\n").unwrap();
    p.exp_string(&prompt).unwrap();

    // Tab completes the command name (upper case, as redis-cli).
    p.send("hgeta").unwrap();
    p.flush().unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("HGETALL").unwrap();
    p.send_line(" nohash").unwrap();
    p.exp_string("(empty array)\r\n").unwrap();

    // Subcommands complete too.
    p.send("config resets").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[1;33mCONFIG\x1b[0m \x1b[1;33mRESETSTAT\x1b[0m")
        .unwrap();
    p.send_line("").unwrap();
    p.exp_string("OK\r\n").unwrap();

    // Formatted replies, and the db in the prompt.
    p.send_line("get k").unwrap();
    p.exp_string("\"hello world\"\r\n").unwrap();
    p.send_line("select 2").unwrap();
    p.exp_string(&format!("127.0.0.1:{port}[2]> ")).unwrap();
    p.send_line("multi").unwrap();
    p.exp_string(&format!("127.0.0.1:{port}[2](TX)> ")).unwrap();
    p.send_line("discard").unwrap();
    p.exp_string(&format!("127.0.0.1:{port}[2]> ")).unwrap();
    p.send_line("auth secret").unwrap();
    p.exp_string("(error)").unwrap();
    p.send_line("help get").unwrap();
    p.exp_string("summary:").unwrap();
    p.send_line("3 incr n").unwrap();
    p.exp_string("(integer) 3\r\n").unwrap();

    // Ctrl-D leaves; history is saved without the AUTH line.
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let hist = std::fs::read_to_string(home.0.join(".cinnabar_cli_history")).unwrap();
    assert!(hist.contains("set k \"hello world\""), "{hist}");
    assert!(hist.contains("select 2"), "{hist}");
    assert!(!hist.contains("auth"), "{hist}");

    // History is loaded by the next session: Up recalls the last line.
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string(&prompt).unwrap();
    p.send("\x1b[A").unwrap();
    p.flush().unwrap();
    p.exp_string("incr n").unwrap();
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn confirm_before_keys_and_flush_on_a_large_db() {
    let srv = TestServer::start();
    let port = srv.addr().port();
    let home = TempHome::new("confirm");
    let prompt = format!("127.0.0.1:{port}> ");
    let mut p = spawn_cli(CLI, port, &home, &["--confirm-above", "2"]);
    p.exp_string(&prompt).unwrap();
    p.send_line("mset a 1 b 2").unwrap();
    p.exp_string("OK").unwrap();
    // Two keys: at the threshold, no question.
    p.send_line("keys a").unwrap();
    p.exp_string("1) \"a\"").unwrap();
    p.send_line("set c 3").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line("keys *").unwrap();
    p.exp_string("Warning: KEYS on a database of 3 keys")
        .unwrap();
    p.exp_string("Run it? (y/N) ").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("(not run)").unwrap();
    p.send_line("flushall").unwrap();
    p.exp_string("Warning: FLUSHALL on a database of 3 keys deletes them all")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line("dbsize").unwrap();
    p.exp_string("(integer) 0").unwrap();
    p.send_line("quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn not_connected_prompt_and_reconnect() {
    let srv = TestServer::start();
    let port = srv.addr().port();
    let home = TempHome::new("reconnect");
    let prompt = format!("127.0.0.1:{port}> ");
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string(&prompt).unwrap();
    p.send_line("ping").unwrap();
    p.exp_string("PONG").unwrap();
    srv.handle.shutdown();
    p.send_line("ping").unwrap();
    p.exp_string("Error: ").unwrap();
    p.exp_string("not connected> ").unwrap();
    p.send_line("ping").unwrap();
    p.exp_string("Could not connect to Redis at 127.0.0.1:")
        .unwrap();
    p.exp_string("not connected> ").unwrap();
    let port_s = port.to_string();
    let _srv2 = TestServer::with_args(&[("port", &port_s)]);
    p.send_line("ping").unwrap();
    p.exp_string("PONG").unwrap();
    p.exp_string(&prompt).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

/// A real redis-server on a free port (the test kit's, killed when dropped).
type Redis = RealRedis;

/// redis-server and redis-cli, or None when they are missing and the test kit's policy
/// allows skipping (never under REQUIRE_REDIS=1).
fn start_redis() -> Option<Redis> {
    RedisCli::find()?;
    RealRedis::start(&[])
}

fn redis_cli_bin() -> String {
    RedisCli::binary().unwrap().to_string_lossy().into_owned()
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let o = Command::new(redis_cli_bin())
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn subscribe_and_monitor_stream_until_ctrl_c() {
    let Some(r) = start_redis() else { return };
    let home = TempHome::new("stream");
    let prompt = format!("127.0.0.1:{}> ", r.port);
    let mut p = spawn_cli(CLI, r.port, &home, &[]);
    p.exp_string(&prompt).unwrap();
    p.send_line("subscribe ch").unwrap();
    p.exp_string("1) \"subscribe\"\r\n2) \"ch\"\r\n3) (integer) 1\r\n")
        .unwrap();
    // redis-cli 7.2's subscribed mode: messages shown while waiting for a key.
    p.exp_string("Reading messages... (press Ctrl-C to quit or any key to type command)")
        .unwrap();
    assert_eq!(redis_cli(r.port, &["PUBLISH", "ch", "hello"]), "1\n");
    p.exp_string("1) \"message\"\r\n2) \"ch\"\r\n3) \"hello\"\r\n")
        .unwrap();
    // A key switches to typing a command (the key is its first letter), with the
    // mode in the prompt.
    p.send("p").unwrap();
    p.flush().unwrap();
    let sub_prompt = format!("127.0.0.1:{}(subscribed mode)> ", r.port);
    p.exp_string(&sub_prompt).unwrap();
    p.send_line("ing").unwrap();
    p.exp_string("1) \"pong\"\r\n2) \"\"\r\n").unwrap();
    p.exp_string("Reading messages...").unwrap();
    p.send("s").unwrap();
    p.flush().unwrap();
    p.exp_string(&sub_prompt).unwrap();
    p.send_line("ubscribe other").unwrap();
    p.exp_string("1) \"subscribe\"\r\n2) \"other\"\r\n3) (integer) 2\r\n")
        .unwrap();
    p.exp_string("Reading messages...").unwrap();
    assert_eq!(redis_cli(r.port, &["PUBLISH", "other", "second"]), "1\n");
    p.exp_string("3) \"second\"\r\n").unwrap();
    // Ctrl-C leaves subscribed mode on a new connection.
    p.send_control('c').unwrap();
    p.exp_string(&prompt).unwrap();
    // Back in the REPL on a fresh connection: no longer subscribed.
    p.send_line("ping").unwrap();
    p.exp_string("PONG").unwrap();
    assert_eq!(redis_cli(r.port, &["PUBSUB", "NUMSUB", "ch"]), "ch\n0\n");

    p.send_line("monitor").unwrap();
    p.exp_string("OK\r\n").unwrap();
    redis_cli(r.port, &["SET", "mkey", "mval"]);
    p.exp_regex(r#"\d+\.\d+ \[0 127\.0\.0\.1:\d+\] "SET" "mkey" "mval""#)
        .unwrap();
    p.send_control('c').unwrap();
    p.exp_string(&prompt).unwrap();

    // RESP3 invalidation pushes are shown before the next reply.
    p.send_line("hello 3").unwrap();
    p.exp_string("proto").unwrap();
    p.send_line("client tracking on").unwrap();
    p.exp_string("OK\r\n").unwrap();
    p.send_line("get tracked").unwrap();
    p.exp_string("(nil)\r\n").unwrap();
    redis_cli(r.port, &["SET", "tracked", "1"]);
    p.send_line("ping").unwrap();
    p.exp_string("-> invalidate: 'tracked'\r\nPONG\r\n")
        .unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

/// The hint after `line`, as shown by a client in a pty: ours uses `\x1b[90m`,
/// redis-cli's linenoise `\x1b[0;90;49m`; both end with `\x1b[0m`.
fn hint_of(bin: &str, port: u16, line: &str, marker: &str) -> String {
    use rexpect::ReadUntil;
    let home = TempHome::new(&format!("hint{}", bin.len()));
    let mut p = spawn_cli(bin, port, &home, &[]);
    // linenoise asks the terminal for the cursor position to learn its width;
    // answer as a 250-column terminal would (so that it does not cut hints short).
    let answer_until = |p: &mut PtySession, what: &str| loop {
        let (_, found) = p
            .exp_any(vec![
                ReadUntil::String(what.to_string()),
                ReadUntil::String("\x1b[6n".to_string()),
            ])
            .unwrap();
        if found == "\x1b[6n" {
            p.send("\x1b[1;250R").unwrap();
            p.flush().unwrap();
        } else {
            break;
        }
    };
    answer_until(&mut p, &format!("127.0.0.1:{port}> "));
    p.send(line).unwrap();
    // Each key typed redraws the line with its hint; Ctrl-L clears the screen
    // ("\x1b[H...") and redraws once more: the hint after that is the final one.
    p.send("\x0c").unwrap();
    p.flush().unwrap();
    answer_until(&mut p, "\x1b[H");
    answer_until(&mut p, marker);
    let hint = p.exp_string("\x1b[0m").unwrap();
    p.send_control('c').unwrap();
    let _ = p.exp_eof();
    hint
}

#[test]
fn hints_match_redis_cli() {
    let Some(r) = start_redis() else { return };
    for line in [
        "set ",
        "set k",
        "set k v ",
        "zadd z ",
        "zadd z nx ",
        "config set ",
        "get",
        "hset h f v ",
        "GEOSEARCH k ",
        "client kill ",
    ] {
        let ours = hint_of(CLI, r.port, line, "\x1b[90m");
        let theirs = hint_of(&redis_cli_bin(), r.port, line, "\x1b[0;90;49m");
        // linenoise cuts a hint at the terminal's width (250 columns here).
        let cut = 250 - format!("127.0.0.1:{}> ", r.port).len() - line.len();
        assert!(
            ours == theirs || (theirs.len() == cut && ours.starts_with(&theirs)),
            "hint after {line:?}: ours {ours:?}, redis-cli {theirs:?}"
        );
    }
}

#[test]
fn askpass_reads_the_password_without_echo() {
    let srv = TestServer::with_args(&[("requirepass", "s3cret")]);
    let port = srv.addr().port();
    let home = TempHome::new("askpass");
    let mut p = spawn_cli(CLI, port, &home, &["--askpass", "PING"]);
    p.exp_string("Please input password: ").unwrap();
    p.send_line("s3cret").unwrap();
    let rest = p.exp_string("PONG").unwrap();
    assert!(!rest.contains("s3cret"), "password echoed: {rest:?}");
    p.exp_eof().unwrap();
}

#[test]
fn connect_command_and_hint_preference() {
    let a = TestServer::start();
    let b = TestServer::start();
    let (pa, pb) = (a.addr().port(), b.addr().port());
    let home = TempHome::new("connect");
    let mut p = spawn_cli(CLI, pa, &home, &[]);
    p.exp_string(&format!("127.0.0.1:{pa}> ")).unwrap();
    p.send_line("set where a").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line(&format!("connect 127.0.0.1 {pb}")).unwrap();
    p.exp_string(&format!("127.0.0.1:{pb}> ")).unwrap();
    p.send_line("get where").unwrap();
    p.exp_string("(nil)").unwrap();
    p.send_line(":set nohints").unwrap();
    p.exp_string(&format!("127.0.0.1:{pb}> ")).unwrap();
    p.send_line("get nohint").unwrap();
    let shown = p.exp_string("(nil)").unwrap();
    assert!(!shown.contains("\x1b[90m"), "hint shown: {shown:?}");
    p.send_line(":set hints").unwrap();
    p.exp_string(&format!("127.0.0.1:{pb}> ")).unwrap();
    p.send("get ").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[90mkey").unwrap();
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pasted_lines_run_one_by_one() {
    let srv = TestServer::start();
    let port = srv.addr().port();
    let home = TempHome::new("paste");
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string(&format!("127.0.0.1:{port}> ")).unwrap();
    p.send("set p1 one\rset p2 two\rmget p1 p2\r").unwrap();
    p.flush().unwrap();
    p.exp_string("1) \"one\"\r\n2) \"two\"\r\n").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn started_without_a_server_gets_hints_once_connected() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = TempHome::new("late");
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string("Could not connect to Redis at").unwrap();
    p.exp_string("not connected> ").unwrap();
    let port_s = port.to_string();
    let _srv = TestServer::with_args(&[("port", &port_s)]);
    p.send_line("ping").unwrap();
    p.exp_string("PONG\r\n").unwrap();
    p.send("get ").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[90mkey").unwrap();
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn preferences_file_turns_hints_off() {
    let srv = TestServer::start();
    let port = srv.addr().port();
    let home = TempHome::new("rc");
    std::fs::write(home.0.join(".cinnabarclirc"), ":set nohints\n").unwrap();
    let mut p = spawn_cli(CLI, port, &home, &[]);
    p.exp_string(&format!("127.0.0.1:{port}> ")).unwrap();
    p.send_line("get k").unwrap();
    let shown = p.exp_string("(nil)").unwrap();
    assert!(!shown.contains("\x1b[90m"), "hint shown: {shown:?}");
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}
