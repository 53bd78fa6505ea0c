//! MONITOR, SLOWLOG and LATENCY as Redis 7.2 answers them.

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, eventually, int, ok, temp_dir, text, RawConn, TestServer, PATIENCE};

/// Reads one monitor line, checks its shape `+<secs>.<usecs> [<db> <addr>] ...` and returns
/// the part after the timestamp.
fn monitor_line(m: &mut RawConn) -> String {
    let Frame::Simple(line) = m.read() else {
        panic!("monitor lines are simple strings")
    };
    let line = String::from_utf8_lossy(line.as_ref()).into_owned();
    let (stamp, rest) = line.split_once(' ').expect("a timestamp first");
    let (secs, usecs) = stamp.split_once('.').expect("secs.usecs");
    assert!(secs.parse::<u64>().is_ok() && usecs.len() == 6, "{line}");
    assert!(usecs.parse::<u32>().is_ok(), "{line}");
    rest.to_string()
}

fn start_monitor(srv: &TestServer) -> RawConn {
    let mut m = srv.raw();
    assert_eq!(m.cmd(&["MONITOR"]), ok());
    m
}

#[test]
fn monitor_shows_commands_scripts_and_transactions_in_order() {
    let srv = TestServer::start();
    let mut m = start_monitor(&srv);
    let mut c = srv.raw();
    let addr = c.stream.local_addr().unwrap().to_string();
    assert_eq!(c.cmd(&["SET", "foo", "a \"b\"\n\x01"]), ok());
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[0 {addr}] "SET" "foo" "a \"b\"\n\x01""#)
    );
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "SELECT" "2""#));
    c.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "k"]);
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[2 {addr}] "EVAL" "return redis.call('set', KEYS[1], 'v')" "1" "k""#)
    );
    assert_eq!(monitor_line(&mut m), r#"[2 lua] "set" "k" "v""#);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["INCR", "n"]), Frame::Simple("QUEUED".into()));
    c.cmd(&["EXEC"]);
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "MULTI""#));
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "INCR" "n""#));
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "EXEC""#));
    // A transaction that fails to queue shows MULTI and EXEC only.
    c.cmd(&["MULTI"]);
    c.cmd(&["NOSUCHCOMMAND"]);
    c.cmd(&["EXEC"]);
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "MULTI""#));
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {addr}] "EXEC""#));
    // Admin commands are not shown; passwords are redacted.
    c.cmd(&["CONFIG", "SET", "hz", "10"]);
    c.cmd(&["AUTH", "user", "secret"]);
    c.cmd(&["HELLO", "2", "AUTH", "user", "secret"]);
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[2 {addr}] "AUTH" "(redacted)" "(redacted)""#)
    );
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[2 {addr}] "HELLO" "2" "AUTH" "(redacted)" "(redacted)""#)
    );
}

#[test]
fn monitor_shows_a_blocked_command_once_and_reset_leaves_monitor_mode() {
    let srv = TestServer::start();
    let mut m = start_monitor(&srv);
    let mut b = srv.raw();
    let mut c = srv.raw();
    b.send(&[b"BLPOP", b"list", b"0"]);
    assert!(monitor_line(&mut m).ends_with(r#""BLPOP" "list" "0""#));
    assert_eq!(c.cmd(&["LPUSH", "list", "x"]), int(1));
    assert!(monitor_line(&mut m).ends_with(r#""LPUSH" "list" "x""#));
    assert_eq!(b.read(), Frame::Array(vec![bulk("list"), bulk("x")]));
    c.cmd(&["PING"]);
    assert!(monitor_line(&mut m).ends_with(r#""PING""#));
    // The monitor runs commands itself; RESET ends monitor mode.
    assert_eq!(m.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    c.cmd(&["SET", "after", "reset"]);
    assert_eq!(m.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // Inside a transaction MONITOR is refused.
    c.cmd(&["MULTI"]);
    c.cmd(&["MONITOR"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Error(
            "ERR MONITOR isn't allowed for DENY BLOCKING client".into()
        )])
    );
}

fn slowlog_args(entry: &Frame) -> Vec<String> {
    let Frame::Array(fields) = entry else {
        panic!("entry {entry:?}")
    };
    assert_eq!(fields.len(), 6);
    let Frame::Array(args) = &fields[3] else {
        panic!("args {:?}", fields[3])
    };
    args.iter().map(text).collect()
}

fn entries(f: Frame) -> Vec<Frame> {
    match f {
        Frame::Array(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn slowlog_keeps_commands_as_sent_trimmed_and_redacted() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), int(0));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "tester"]), ok());
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["SADD", "s", "a", "b", "c"]);
    c.cmd(&["SPOP", "s", "10"]);
    let e = entries(c.cmd(&["SLOWLOG", "GET", "1"]));
    assert_eq!(slowlog_args(&e[0]), ["SPOP", "s", "10"]);
    let Frame::Array(fields) = &e[0] else {
        panic!()
    };
    assert_eq!(text(&fields[5]), "tester");
    assert_eq!(text(&fields[4]), c.stream.local_addr().unwrap().to_string());
    // Ids grow, newest first.
    let all = entries(c.cmd(&["SLOWLOG", "GET", "-1"]));
    let ids: Vec<i64> = all
        .iter()
        .map(|e| match e {
            Frame::Array(f) => match f[0] {
                Frame::Integer(n) => n,
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");

    // 33 arguments: 31 kept and a note; 129 bytes: 128 kept and a note.
    c.cmd(&["SLOWLOG", "RESET"]);
    let mut many = vec!["SADD", "set"];
    let nums: Vec<String> = (3..=33).map(|n| n.to_string()).collect();
    many.extend(nums.iter().map(String::as_str));
    c.cmd(&many);
    let e = entries(c.cmd(&["SLOWLOG", "GET"]));
    let args = slowlog_args(&e[e.len() - 2]);
    assert_eq!(args.len(), 32);
    assert_eq!(args[31], "... (2 more arguments)");
    c.cmd(&["SLOWLOG", "RESET"]);
    let long = "A".repeat(129);
    c.cmd(&["SADD", "set", "foo", &long]);
    let e = entries(c.cmd(&["SLOWLOG", "GET"]));
    assert_eq!(
        slowlog_args(&e[e.len() - 2])[3],
        format!("{}... (1 more bytes)", "A".repeat(128))
    );

    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["CONFIG", "SET", "masterauth", "secret"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "in", "multi"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    let e = entries(c.cmd(&["SLOWLOG", "GET"]));
    let shown: Vec<Vec<String>> = e.iter().map(slowlog_args).collect();
    // EXEC is not logged, its commands are; MULTI is.
    assert_eq!(
        shown,
        vec![
            vec!["SET", "in", "multi"],
            vec!["MULTI"],
            vec!["CONFIG", "SET", "masterauth", "(redacted)"],
            vec!["SLOWLOG", "RESET"],
        ]
    );

    // slowlog-max-len bounds the log.
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["CONFIG", "SET", "slowlog-max-len", "3"]);
    for _ in 0..10 {
        c.cmd(&["PING"]);
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), int(3));
    assert_eq!(entries(c.cmd(&["SLOWLOG", "GET", "0"])).len(), 0);
    assert_eq!(entries(c.cmd(&["SLOWLOG", "GET", "-1"])).len(), 3);
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "-2"]),
        Frame::Error("ERR count should be greater than or equal to -1".into())
    );
}

#[test]
fn latency_monitor_records_slow_commands() {
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "50"]);
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.1"]), ok());
    let Frame::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else {
        panic!()
    };
    assert_eq!(latest.len(), 1);
    let Frame::Array(ev) = &latest[0] else {
        panic!()
    };
    assert_eq!(ev[0], bulk("command"));
    let ms = |f: &Frame| match f {
        Frame::Integer(n) => *n,
        other => panic!("{other:?}"),
    };
    assert!(ms(&ev[2]) >= 100 && ms(&ev[3]) >= 100, "{ev:?}");
    let Frame::Array(history) = c.cmd(&["LATENCY", "HISTORY", "command"]) else {
        panic!()
    };
    assert_eq!(history.len(), 1);
    let graph = text(&c.cmd(&["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with("command - high "), "{graph}");
    assert!(!text(&c.cmd(&["LATENCY", "DOCTOR"])).is_empty());
    assert_eq!(c.cmd(&["LATENCY", "RESET", "nosuch"]), int(0));
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), int(1));
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
    assert_eq!(
        c.cmd(&["LATENCY", "GRAPH", "command"]),
        Frame::Error("ERR No samples available for event 'command'".into())
    );
}

#[test]
fn slow_aof_fsync_write_and_rename_show_in_latency_latest_and_history() {
    let dir = temp_dir("latency-aof");
    let srv = TestServer::in_dir(
        &dir,
        &[
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("enable-debug-command", "yes"),
        ],
    );
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["SET", "before", "1"]), ok());
    assert_eq!(c.latency_latest(), vec![]);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"]),
        ok()
    );
    // The fsync, and the write before it, take at least this long: over the threshold
    // whatever the disk.
    c.latency_delay("aof-fsync-always", 5);
    c.latency_delay("aof-write", 3);
    // The reply waits for the fsync, which records its sample before it lets replies go.
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    c.assert_latency_at_least("aof-fsync-always", 5);
    c.assert_latency_at_least("aof-write", 3);
    c.assert_latency_at_least("aof-write-alone", 3);
    // A rewrite puts its new base file in place with a rename.
    c.latency_delay("aof-rename", 2);
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Frame::Simple("Background append only file rewriting started".into())
    );
    eventually(PATIENCE, "the rewrite's aof-rename sample", || {
        c.latency_latest().iter().any(|(e, ..)| e == "aof-rename")
    });
    c.assert_latency_at_least("aof-rename", 2);
    assert_eq!(c.cmd(&["LATENCY", "RESET", "aof-fsync-always"]), int(1));
    assert_eq!(
        c.cmd(&["DEBUG", "LATENCY-DELAY", "aof-fsync-always", "-1"]),
        Frame::Error("ERR the delay must be 0 or more milliseconds".into())
    );
}

fn blocked_clients(c: &mut RawConn) -> i64 {
    let info = text(&c.cmd(&["INFO", "clients"]));
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

fn wait_blocked(c: &mut RawConn, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while blocked_clients(c) != n {
        assert!(
            std::time::Instant::now() < deadline,
            "blocked_clients never reached {n}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn client_pause_write_holds_what_may_write_and_nothing_else() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["SET", "x", "y"]), ok());
    // A transaction queued before the pause, with a write in it.
    let mut tx = srv.raw();
    assert_eq!(tx.cmd(&["MULTI"]), ok());
    assert_eq!(
        tx.cmd(&["SET", "foo", "bar"]),
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), ok());

    // Reads, read-only scripts and scripts declaring no-writes run at once.
    assert_eq!(c.cmd(&["GET", "x"]), bulk("y"));
    assert_eq!(
        c.cmd(&["EVAL", "#!lua flags=no-writes\nreturn 'ro'", "0"]),
        bulk("ro")
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "x"]),
        bulk("y")
    );
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["GET", "x"]), Frame::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![bulk("y")]));
    // A syntax error is answered at once.
    assert_eq!(
        c.cmd(&["SET", "x"]),
        Frame::Error("ERR wrong number of arguments for 'set' command".into())
    );

    // EXEC of a queued write, a plain EVAL and a write wait for the end of the pause.
    tx.send(&[b"EXEC"]);
    let mut script = srv.raw();
    script.send(&[b"EVAL", b"return 1", b"0"]);
    let mut w = srv.raw();
    w.send(&[b"SET", b"x", b"z"]);
    wait_blocked(&mut admin, 3);
    assert_eq!(c.cmd(&["GET", "x"]), bulk("y"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(tx.read(), Frame::Array(vec![ok()]));
    assert_eq!(script.read(), int(1));
    assert_eq!(w.read(), ok());
    assert_eq!(c.cmd(&["GET", "x"]), bulk("z"));
}

#[test]
fn slowlog_logs_a_blocked_command_once_when_served() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    let mut b = srv.raw();
    b.send(&[b"BLPOP", b"l", b"0"]);
    wait_blocked(&mut c, 1);
    let logged = |c: &mut RawConn| {
        entries(c.cmd(&["SLOWLOG", "GET", "-1"]))
            .iter()
            .filter(|e| slowlog_args(e)[0] == "BLPOP")
            .count()
    };
    assert_eq!(logged(&mut c), 0);
    assert_eq!(c.cmd(&["RPUSH", "l", "v"]), int(1));
    assert_eq!(b.read(), Frame::Array(vec![bulk("l"), bulk("v")]));
    assert_eq!(logged(&mut c), 1);
}

#[test]
fn latency_histograms_per_command_and_info_latencystats() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["SET", "a", "b"]);
    c.cmd(&["SET", "c", "d"]);
    c.cmd(&["CLIENT", "ID"]);
    let all = pairs(c.cmd(&["LATENCY", "HISTOGRAM"]));
    let names: Vec<String> = all.iter().map(|(k, _)| text(k)).collect();
    for want in ["config|resetstat", "set", "client|id"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let one = pairs(c.cmd(&["LATENCY", "HISTOGRAM", "nosuch", "SET", "client"]));
    assert_eq!(one.len(), 2);
    assert_eq!(text(&one[0].0), "set");
    let fields = pairs(one[0].1.clone());
    assert_eq!(text(&fields[0].0), "calls");
    assert_eq!(fields[0].1, int(2));
    let cdf = pairs(fields[1].1.clone());
    assert!(!cdf.is_empty());
    assert_eq!(cdf.last().unwrap().1, int(2));
    assert_eq!(text(&one[1].0), "client|id");

    let info = text(&c.cmd(&["INFO", "latencystats"]));
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .expect("set's percentiles");
    assert!(line.contains("p50=") && line.contains(",p99=") && line.contains(",p99.9="));
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 50.0 100.0"
        ]),
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "latency-tracking-info-percentiles"]),
        Frame::Array(vec![
            bulk("latency-tracking-info-percentiles"),
            bulk("0 50 100")
        ])
    );
    assert!(matches!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "10 101"
        ]),
        Frame::Error(_)
    ));
    let info = text(&c.cmd(&["INFO", "latencystats"]));
    assert!(!info.contains("latency_percentiles_usec_get"));
    assert!(info
        .lines()
        .any(|l| l.starts_with("latency_percentiles_usec_set:p0=") && l.contains(",p100=")));
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.cmd(&["SET", "a", "b"]);
    let info = text(&c.cmd(&["INFO", "latencystats"]));
    assert!(!info.contains("latency_percentiles_usec_set"), "{info}");
}

/// A map reply read over RESP2 (a flat array of keys and values) as pairs.
fn pairs(f: Frame) -> Vec<(Frame, Frame)> {
    match f {
        Frame::Array(v) => {
            assert!(v.len() % 2 == 0, "odd map {v:?}");
            v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
        }
        Frame::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

#[test]
fn introspection_corners_as_redis() {
    let srv = TestServer::with_args(&[("enable-module-command", "yes")]);
    let mut c = srv.raw();
    // The query buffer holds the running command, as in Redis (26 bytes here).
    let info = text(&c.cmd(&["CLIENT", "INFO"]));
    assert!(info.contains(" qbuf=26 "), "{info}");
    assert!(info.contains(" cmd=client|info "), "{info}");
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "USER", "nobody"]),
        Frame::Error("ERR No such user 'nobody'".into())
    );
    // Subcommand names are not command names.
    assert_eq!(
        c.cmd(&["CONFIG|GET", "x"]),
        Frame::Error("ERR unknown command 'CONFIG|GET', with args beginning with: 'x' ".into())
    );
    assert!(text(&c.cmd(&["MODULE", "HELP"])).starts_with("MODULE <subcommand>"));
    assert_eq!(c.cmd(&["MODULE", "LIST"]), Frame::Array(vec![]));
    assert_eq!(
        c.cmd(&["MODULE", "LOAD", "/nonexistent.so"]),
        Frame::Error("ERR Error loading the extension. Please check the server logs.".into())
    );
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["MODULE", "UNLOAD", "x"]),
        Frame::Error("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".into())
    );
}

fn cmdstat(c: &mut RawConn, name: &str) -> Option<String> {
    let info = text(&c.cmd(&["INFO", "commandstats"]));
    let prefix = format!("cmdstat_{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

#[test]
fn a_blocking_pop_counts_as_itself_not_its_non_blocking_form() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["LPUSH", "list", "foo"]);
    assert_eq!(
        c.cmd(&["BRPOP", "list", "0"]),
        Frame::Array(vec![bulk("list"), bulk("foo")])
    );
    assert!(cmdstat(&mut c, "brpop").unwrap().starts_with("calls=1,"));
    assert_eq!(cmdstat(&mut c, "rpop"), None);
    // Served later: counted once, as BLPOP.
    let mut b = srv.raw();
    b.send(&[b"BLPOP", b"other", b"0"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["RPUSH", "other", "x"]);
    assert_eq!(b.read(), Frame::Array(vec![bulk("other"), bulk("x")]));
    assert!(cmdstat(&mut c, "blpop").unwrap().starts_with("calls=1,"));
    assert_eq!(cmdstat(&mut c, "lpop"), None);
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics port");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP head");
    (head.to_string(), body.to_string())
}

#[test]
fn metrics_endpoint_serves_prometheus_text() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "metrics-port"]),
        Frame::Array(vec![bulk("metrics-port"), bulk("0")])
    );
    // Find a free port, then move the endpoint there (retried if another process took it).
    let mut port = 0;
    for _ in 0..20 {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if c.cmd(&["CONFIG", "SET", "metrics-port", &p.to_string()]) == ok() {
            port = p;
            break;
        }
    }
    assert_ne!(port, 0, "no free port for the metrics endpoint");
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SET", "e", "v", "EX", "100"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["INCR", "k"]);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let (head, body) = http_get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("openmetrics-text"), "{head}");

    // A real Prometheus text parser reads it.
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parsable metrics");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name} is not a number"),
            })
            .unwrap_or_else(|| panic!("{name} {label:?} missing in\n{body}"))
    };
    assert_eq!(
        value("cinnabar_command_calls_total", Some(("cmd", "set"))),
        2.0
    );
    assert_eq!(
        value("cinnabar_command_calls_total", Some(("cmd", "get"))),
        1.0
    );
    assert_eq!(
        value("cinnabar_command_failed_calls_total", Some(("cmd", "incr"))),
        1.0
    );
    assert_eq!(value("cinnabar_errors_total", Some(("code", "ERR"))), 1.0);
    assert_eq!(value("cinnabar_db_keys", Some(("db", "0"))), 2.0);
    assert_eq!(value("cinnabar_db_keys_expiring", Some(("db", "0"))), 1.0);
    assert!(value("cinnabar_connected_clients", None) >= 1.0);
    assert!(value("cinnabar_memory_used_bytes", None) > 0.0);
    // Per-command latency as a real histogram.
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "cinnabar_command_latency_seconds" && s.labels.get("cmd") == Some("set")
        })
        .expect("set's latency histogram");
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
        panic!("not a histogram: {:?}", hist.value)
    };
    assert_eq!(buckets.last().map(|b| b.count), Some(2.0));
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));

    let (head, _) = http_get(addr, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // Port 0 turns it off.
    assert_eq!(c.cmd(&["CONFIG", "SET", "metrics-port", "0"]), ok());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(std::time::Instant::now() < deadline, "endpoint still up");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn field(line: &str, name: &str) -> i64 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {line}"))
}

#[test]
fn client_list_reports_buffers_and_transactions() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut tx = srv.raw();
    let tx_id = match tx.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    tx.cmd(&["MULTI"]);
    tx.cmd(&["SET", "k", "v"]);
    tx.cmd(&["SET", "k2", "v2"]);
    c.cmd(&["PING"]);
    // The reply buffer has been used once now.
    let me = text(&c.cmd(&["CLIENT", "INFO"]));
    assert_eq!(field(&me, "multi"), -1);
    assert_eq!(field(&me, "argv-mem"), 10, "{me}");
    assert!(field(&me, "qbuf-free") > 0, "{me}");
    assert!(field(&me, "rbs") > 0, "{me}");
    assert!(field(&me, "tot-mem") > field(&me, "rbs"), "{me}");
    // The other client's figures are as of its last wait for input.
    let id = tx_id.to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let line = text(&c.cmd(&["CLIENT", "LIST", "ID", &id]));
        if field(&line, "multi") == 2 {
            assert!(field(&line, "multi-mem") > 0, "{line}");
            assert_eq!(field(&line, "argv-mem"), 0, "{line}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{line}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    tx.cmd(&["EXEC"]);
}
