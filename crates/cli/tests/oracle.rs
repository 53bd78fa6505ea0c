//! Byte-for-byte comparison with redis-cli: both clients run the same command
//! lines against one real redis-server started here, in every output mode. Without
//! redis-server/redis-cli the tests fail, or skip under CINNABAR_NO_REDIS=1 (never under
//! REQUIRE_REDIS=1): the test kit's policy.

use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use cinnabar_testkit::{eventually, RealRedis, RedisCli, PATIENCE};

/// A real redis-server on a free port and a unix socket (the test kit's, killed when
/// dropped).
type Redis = RealRedis;

/// The redis-cli to compare with; set once [`start_redis_with`] found it.
static REDIS_CLI_BIN: OnceLock<String> = OnceLock::new();

fn redis_cli() -> &'static str {
    REDIS_CLI_BIN.get().expect("start_redis first")
}

fn start_redis() -> Option<Redis> {
    start_redis_with(&[])
}

/// redis-server and redis-cli, or None when they are missing and the test kit's policy
/// allows skipping (never under REQUIRE_REDIS=1).
fn start_redis_with(extra: &[&str]) -> Option<Redis> {
    let cli = RedisCli::find()?;
    let _ = REDIS_CLI_BIN.set(cli.to_string_lossy().into_owned());
    RealRedis::start_with_socket(extra)
}

/// The server's unix socket path.
fn socket(r: &Redis) -> String {
    r.socket.as_ref().unwrap().to_string_lossy().into_owned()
}

fn run(bin: &str, port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        // A client that does not read all of stdin may exit first: a broken pipe here is
        // not an error, the outputs are what is compared.
        if let Err(e) = i.write_all(data) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    drop(i);
    child.wait_with_output().unwrap()
}

/// Both clients give the same stdout, stderr and exit status.
fn same(r: &Redis, args: &[&str]) {
    let ours = run(env!("CARGO_BIN_EXE_cinnabar-cli"), r.port, args, None);
    let theirs = run(redis_cli(), r.port, args, None);
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout),
        "stdout of {args:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr),
        "stderr of {args:?}"
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "status of {args:?}"
    );
}

const MODES: &[&[&str]] = &[
    &[],
    &["--no-raw"],
    &["--csv"],
    &["--json"],
    &["--quoted-json"],
];

#[test]
fn replies_in_every_output_mode() {
    let Some(r) = start_redis() else { return };
    let setup: &[&[&str]] = &[
        &["RPUSH", "l", "a", "b c", "q\"x\n\x01\u{e9}"],
        &["HSET", "h", "f1", "v1", "f2", "2"],
        &["ZADD", "z", "1.5", "a", "2", "b"],
        &["SET", "s", "tab\there \\ back"],
        &["XADD", "st", "1-1", "f", "v", "g", "w"],
    ];
    for c in setup {
        run(redis_cli(), r.port, c, None);
    }
    let cases: &[&[&str]] = &[
        &["PING"],
        &["GET", "s"],
        &["GET", "missing"],
        &["LRANGE", "l", "0", "-1"],
        &["LRANGE", "none", "0", "-1"],
        &["INCR", "l"],
        &["GET", "l"],
        &["HGETALL", "h"],
        &["-3", "HGETALL", "h"],
        &["-3", "HGETALL", "none"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["-3", "ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["-3", "ZSCORE", "z", "a"],
        &["-3", "SMEMBERS", "none"],
        &["XRANGE", "st", "-", "+"],
        &["-3", "XRANGE", "st", "-", "+"],
        &[
            "EVAL",
            "return {1,{2,{3,'x'}},'y',{},{'a','b','c','d','e','f','g','h','i','j','k'}}",
            "0",
        ],
        &[
            "-3",
            "EVAL",
            "redis.setresp(3); return {map={a=1,b={set={x=true}}}}",
            "0",
        ],
        &[
            "-3",
            "EVAL",
            "redis.setresp(3); return {true, false, {double=-0.25}, {double=3}}",
            "0",
        ],
        &[
            "-3",
            "EVAL",
            "redis.setresp(3); return {verbatim_string={format='txt',string='hi\\nthere'}}",
            "0",
        ],
        &[
            "-3",
            "EVAL",
            "redis.setresp(3); return {map={k={map={x=1}}}}",
            "0",
        ],
        &[
            "-3",
            "EVAL",
            "redis.setresp(3); return {map={k={'only'}}}",
            "0",
        ],
        &["NOSUCHCOMMAND", "x"],
        &["-3", "CONFIG", "GET", "maxmemory-policy"],
    ];
    for mode in MODES {
        for c in cases {
            let args: Vec<&str> = mode.iter().chain(c.iter()).copied().collect();
            same(&r, &args);
        }
    }
    // -e: an error reply goes to stderr with exit status 1.
    same(&r, &["-e", "INCR", "l"]);
    same(&r, &["-e", "GET", "s"]);
    // INFO-like replies are printed as is, even formatted.
    same(&r, &["--no-raw", "CLIENT", "LIST", "ID", "999999"]);
    // -r repeats.
    same(&r, &["-r", "3", "--no-raw", "LLEN", "l"]);
}

#[test]
fn help_scan_pipe_and_stdin_match() {
    let Some(r) = start_redis() else { return };
    for args in [
        &["HELP", "SET"][..],
        &["HELP", "@string"],
        &["HELP", "config", "set"],
        &["HELP", "CONFIG"],
        &["HELP", "nosuch"],
    ] {
        same(&r, args);
    }
    for i in 0..30 {
        run(
            redis_cli(),
            r.port,
            &["SET", &format!("key:{i}"), "v"],
            None,
        );
    }
    // SCAN order is the server's; compare as sorted sets of lines.
    // (--count came with redis-cli 7.2: compared with the 7.0 output without it.)
    for (args, theirs) in [
        (&["--scan"][..], &["--scan"][..]),
        (
            &["--scan", "--pattern", "key:1*"],
            &["--scan", "--pattern", "key:1*"],
        ),
        (
            &["--no-raw", "--scan", "--count", "5"],
            &["--no-raw", "--scan"],
        ),
    ] {
        let sorted = |o: Output| {
            let mut l: Vec<String> = String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            l.sort();
            l
        };
        assert_eq!(
            sorted(run(env!("CARGO_BIN_EXE_cinnabar-cli"), r.port, args, None)),
            sorted(run(redis_cli(), r.port, theirs, None)),
            "{args:?}"
        );
    }
    let mass =
        b"SET p1 1\r\n*3\r\n$3\r\nSET\r\n$2\r\np2\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nl\r\n";
    let ours = run(
        env!("CARGO_BIN_EXE_cinnabar-cli"),
        r.port,
        &["--pipe"],
        Some(mass),
    );
    let theirs = run(redis_cli(), r.port, &["--pipe"], Some(mass));
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(ours.stderr, theirs.stderr);
    assert_eq!(ours.status.code(), theirs.status.code());
    let ours = run(
        env!("CARGO_BIN_EXE_cinnabar-cli"),
        r.port,
        &["-x", "SET", "fromstdin"],
        Some(b"a\nb"),
    );
    let theirs = run(
        redis_cli(),
        r.port,
        &["-x", "SET", "fromstdin2"],
        Some(b"a\nb"),
    );
    assert_eq!(ours.stdout, theirs.stdout);
    same(&r, &["--no-raw", "MGET", "fromstdin", "fromstdin2"]);
}

#[test]
fn unix_socket_and_connect_errors() {
    let Some(r) = start_redis() else { return };
    same(&r, &["-s", &socket(&r), "--no-raw", "PING"]);
    same(&r, &["-s", "/nonexistent/sock", "PING"]);
    let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args(["-s", &socket(&r), "SET", "viaunix", "1"])
        .output()
        .unwrap();
    assert_eq!(o.stdout, b"OK\n");
}

#[test]
fn line_splitting_matches_redis_cli() {
    let Some(r) = start_redis() else { return };
    // Each line goes through the REPL reading stdin; ECHO / RPUSH show the arguments.
    let lines = [
        r#"echo plain"#,
        r#"echo "a b""#,
        r#"echo 'single \'quoted\''"#,
        r#"echo "\x41\x7a\xff\x0" "\n\r\t\b\a" "\"" "\\""#,
        r#"echo "\xZZ""#,
        r#"echo 'no \n escapes'"#,
        r#"rpush l1 a"b c" 'x'y "" ''"#,
        r#"echo "unterminated"#,
        r#"echo 'unterminated"#,
        r#"echo "closed"next"#,
        "echo \ttabs\t \t",
        r#"lrange l1 0 -1"#,
        r#"3 echo rep"#,
        r#"0 echo rep"#,
        r#"-2 echo rep"#,
        r#"99999999999999999999 echo rep"#,
    ];
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    for mode in [&[][..], &["--no-raw"]] {
        let ours = run(
            env!("CARGO_BIN_EXE_cinnabar-cli"),
            r.port,
            mode,
            Some(&input),
        );
        run(redis_cli(), r.port, &["DEL", "l1"], None);
        let theirs = run(redis_cli(), r.port, mode, Some(&input));
        run(redis_cli(), r.port, &["DEL", "l1"], None);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{mode:?}"
        );
    }
}

#[test]
fn delimiters_eval_quoted_input_stdin_tag_and_hotkeys_match() {
    let Some(r) = start_redis() else { return };
    run(redis_cli(), r.port, &["RPUSH", "dl", "a", "b", "c"], None);
    let dir = std::env::temp_dir().join(format!("cinnabar-cli-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("s.lua");
    std::fs::write(&script, "return {KEYS[1], ARGV[1], #KEYS, #ARGV}").unwrap();
    let script = script.to_string_lossy().into_owned();
    for args in [
        &["-d", ",", "LRANGE", "dl", "0", "-1"][..],
        &["-D", "|", "-d", ":", "LRANGE", "dl", "0", "-1"],
        &["-d", ",", "--no-raw", "LRANGE", "dl", "0", "-1"],
        &["--eval", &script, "k1", "k2", ",", "a1", "a2"],
        &["--eval", &script],
        &["--eval", "/nonexistent/x.lua"],
        &["--quoted-input", "ECHO", "\"a\\x41 b\""],
        &["--quoted-input", "ECHO", "\"a\" b"],
    ] {
        same(&r, args);
    }
    let ours = run(
        env!("CARGO_BIN_EXE_cinnabar-cli"),
        r.port,
        &["-X", "TAG", "SET", "TAG", "v"],
        Some(b"fromtag"),
    );
    assert_eq!(ours.stdout, b"OK\n");
    same(&r, &["GET", "fromtag"]);
    let ours = run(
        env!("CARGO_BIN_EXE_cinnabar-cli"),
        r.port,
        &["-X", "TAG", "SET", "a", "b"],
        Some(b"x"),
    );
    let theirs = run(
        redis_cli(),
        r.port,
        &["-X", "TAG", "SET", "a", "b"],
        Some(b"x"),
    );
    assert_eq!(ours.stderr, theirs.stderr);
    assert_eq!(ours.status.code(), theirs.status.code());
    // --hotkeys: the server's error without an LFU policy, the report with one.
    let hot = |bin: &str| run(bin, r.port, &["--hotkeys"], None);
    let (o, t) = (hot(env!("CARGO_BIN_EXE_cinnabar-cli")), hot(redis_cli()));
    assert_eq!(
        (o.stdout, o.stderr, o.status.code()),
        (t.stdout, t.stderr, t.status.code())
    );
    run(
        redis_cli(),
        r.port,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        None,
    );
    // Keys written under LFU start with a counter; reads raise it.
    run(redis_cli(), r.port, &["SET", "hot", "1"], None);
    for _ in 0..3 {
        run(redis_cli(), r.port, &["GET", "hot"], None);
    }
    let (o, t) = (hot(env!("CARGO_BIN_EXE_cinnabar-cli")), hot(redis_cli()));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("hot key found with counter: "), "{out}");
    // LFU counters decay with the minutes: compare with the numbers masked.
    let mask = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    assert_eq!(mask(&out), mask(&String::from_utf8_lossy(&t.stdout)));
    assert_eq!(o.status.code(), t.status.code());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_is_quiet() {
    // Each client stops its own server: no output, status 0.
    for ours in [true, false] {
        let Some(r) = start_redis() else { return };
        let bin = if ours {
            env!("CARGO_BIN_EXE_cinnabar-cli")
        } else {
            redis_cli()
        };
        let o = run(bin, r.port, &["SHUTDOWN", "NOSAVE"], None);
        assert_eq!(
            (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
                o.status.code()
            ),
            (String::new(), String::new(), Some(0)),
            "{bin}"
        );
    }
}

/// Spawn a client subscribed to `ch` with stdout piped; its lines come through a channel.
fn subscriber(bin: &str, port: u16) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(bin)
        .args(["-p", &port.to_string(), "SUBSCRIBE", "ch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn one_shot_subscribe_streams_like_redis_cli() {
    let Some(r) = start_redis() else { return };
    let (mut ours, ours_rx) = subscriber(env!("CARGO_BIN_EXE_cinnabar-cli"), r.port);
    let (mut theirs, theirs_rx) = subscriber(redis_cli(), r.port);
    // A generous bound so that a broken client fails the test instead of hanging it.
    let bound = Duration::from_secs(30);
    let take = |rx: &std::sync::mpsc::Receiver<String>, n: usize| -> Vec<String> {
        (0..n)
            .map(|_| rx.recv_timeout(bound).expect("a line"))
            .collect()
    };
    // Both subscribed: each prints its confirmation.
    let (a, b) = (take(&ours_rx, 3), take(&theirs_rx, 3));
    assert_eq!(a, vec!["subscribe", "ch", "1"]);
    assert_eq!(a, b);
    for msg in ["hello", "two words", "x\ny"] {
        let n = run(redis_cli(), r.port, &["PUBLISH", "ch", msg], None);
        assert_eq!(n.stdout, b"2\n");
    }
    let (a, b) = (take(&ours_rx, 10), take(&theirs_rx, 10));
    assert_eq!(a, b);
    assert_eq!(&a[..3], &["message", "ch", "hello"]);
    let _ = ours.kill();
    let _ = ours.wait();
    let _ = theirs.kill();
    let _ = theirs.wait();
}

#[test]
fn authentication_and_db_selection_match() {
    let Some(r) = start_redis_with(&["--requirepass", "pw"]) else {
        return;
    };
    for args in [
        &["PING"][..],
        &["-a", "bad", "PING"],
        &["-a", "pw", "PING"],
        &["--no-auth-warning", "-a", "pw", "PING"],
        &[
            "--no-auth-warning",
            "--user",
            "default",
            "--pass",
            "pw",
            "PING",
        ],
        &[
            "--no-auth-warning",
            "--user",
            "nobody",
            "--pass",
            "pw",
            "PING",
        ],
        &["--no-auth-warning", "-a", "pw", "-n", "99", "PING"],
        &[
            "--no-auth-warning",
            "-a",
            "pw",
            "-n",
            "3",
            "SET",
            "indb3",
            "x",
        ],
        &["--no-auth-warning", "-a", "pw", "-n", "3", "GET", "indb3"],
        &["--no-auth-warning", "-a", "pw", "GET", "indb3"],
        &["--no-auth-warning", "-a", "bad", "-n", "3", "GET", "indb3"],
        &["--no-auth-warning", "-a", "pw", "-3", "PING"],
    ] {
        same(&r, args);
    }
    let uri = format!("redis://default:pw@127.0.0.1:{}/3", r.port);
    same(&r, &["--no-auth-warning", "-u", &uri, "GET", "indb3"]);
    let uri = format!("redis://pw@127.0.0.1:{}/3", r.port);
    same(&r, &["--no-auth-warning", "-u", &uri, "GET", "indb3"]);
    // REDISCLI_AUTH is used when no password is given on the command line.
    let env_run = |bin: &str| {
        Command::new(bin)
            .args(["-p", &r.port.to_string(), "PING"])
            .env("REDISCLI_AUTH", "pw")
            .output()
            .unwrap()
    };
    let (o, t) = (
        env_run(env!("CARGO_BIN_EXE_cinnabar-cli")),
        env_run(redis_cli()),
    );
    assert_eq!((o.stdout, o.stderr), (t.stdout, t.stderr));
}

#[test]
fn cluster_redirects_are_followed_with_dash_c() {
    let cluster = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ];
    let Some(a) = start_redis_with(&cluster) else {
        return;
    };
    let Some(b) = start_redis_with(&cluster) else {
        return;
    };
    run(
        redis_cli(),
        a.port,
        &["CLUSTER", "ADDSLOTSRANGE", "0", "8191"],
        None,
    );
    run(
        redis_cli(),
        b.port,
        &["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"],
        None,
    );
    run(
        redis_cli(),
        a.port,
        &["CLUSTER", "MEET", "127.0.0.1", &b.port.to_string()],
        None,
    );
    // Wait (bounded) until both nodes see the whole cluster as ok.
    let ok = |p: u16| {
        String::from_utf8(run(redis_cli(), p, &["CLUSTER", "INFO"], None).stdout)
            .unwrap()
            .contains("cluster_state:ok")
    };
    eventually(
        PATIENCE,
        "both cluster nodes to report cluster_state:ok",
        || ok(a.port) && ok(b.port),
    );
    // "foo" is in slot 12182 (node b), "bar" in 5061 (node a).
    same(&a, &["-c", "SET", "foo", "1"]);
    let incr = |bin: &str| run(bin, a.port, &["-c", "-r", "2", "INCR", "foo"], None).stdout;
    assert_eq!(incr(env!("CARGO_BIN_EXE_cinnabar-cli")), b"2\n3\n");
    assert_eq!(incr(redis_cli()), b"4\n5\n");
    same(&a, &["GET", "foo"]);
    let lines = b"set foo 10\nget foo\nget bar\nincr foo\n";
    let ours = run(
        env!("CARGO_BIN_EXE_cinnabar-cli"),
        a.port,
        &["-c"],
        Some(lines),
    );
    let theirs = run(redis_cli(), a.port, &["-c"], Some(lines));
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
    assert!(String::from_utf8_lossy(&ours.stdout)
        .contains("-> Redirected to slot [12182] located at 127.0.0.1:"));
}
