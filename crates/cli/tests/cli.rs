//! Runs the cinnabar-cli binary in one-shot mode against an in-process server.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cinnabar_testkit::TestServer;

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

fn cli_env(srv: &TestServer, args: &[&str], env: &[(&str, &str)], input: Option<&[u8]>) -> Output {
    let addr = srv.addr();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"));
    cmd.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn cinnabar-cli");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn csv_and_json_output() {
    let srv = TestServer::start();
    cli(&srv, &["RPUSH", "l", "a", "b\"c"]);
    cli(&srv, &["HSET", "h", "f", "v"]);
    assert_eq!(
        stdout(&cli(&srv, &["--csv", "LRANGE", "l", "0", "-1"])),
        "\"a\",\"b\\\"c\"\n"
    );
    assert_eq!(stdout(&cli(&srv, &["--csv", "GET", "none"])), "NULL\n");
    assert_eq!(
        stdout(&cli(&srv, &["--csv", "INCR", "l"])),
        "ERROR,\"WRONGTYPE Operation against a key holding the wrong kind of value\"\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--json", "HGETALL", "h"])),
        "{\"f\":\"v\"}\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--json", "-2", "HGETALL", "h"])),
        "[\"f\",\"v\"]\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--json", "LRANGE", "l", "0", "-1"])),
        "[\"a\",\"b\\\"c\"]\n"
    );
}

#[test]
fn env_auth_and_errcode() {
    let srv = TestServer::with_args(&[("requirepass", "pw")]);
    let o = cli_env(&srv, &["PING"], &[("REDISCLI_AUTH", "pw")], None);
    assert_eq!(stdout(&o), "PONG\n");
    assert!(
        o.stderr.is_empty(),
        "no warning for the environment variable"
    );
    let o = cli_env(&srv, &["-e", "GET"], &[("REDISCLI_AUTH", "pw")], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ERR wrong number of arguments for 'get' command\n"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn repeat_with_interval() {
    let srv = TestServer::start();
    let o = cli(&srv, &["-r", "3", "-i", "0.01", "INCR", "n"]);
    assert_eq!(stdout(&o), "1\n2\n3\n");
}

#[test]
fn pipe_mass_insertion() {
    let srv = TestServer::start();
    let mut input = Vec::new();
    for i in 0..1000 {
        let k = format!("k{i}");
        input.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$1\r\nv\r\n", k.len()).as_bytes(),
        );
    }
    let o = cli_stdin(&srv, &["--pipe"], Some(&input));
    assert_eq!(
        stdout(&o),
        "All data transferred. Waiting for the last reply...\n\
         Last reply received from server.\n\
         errors: 0, replies: 1000\n"
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&cli(&srv, &["DBSIZE"])), "1000\n");
    // Errors are printed on stderr, counted, and make the exit status 1.
    let o = cli_stdin(&srv, &["--pipe"], Some(b"SET a 1\r\nINCR a b\r\nGET a\r\n"));
    assert!(
        stdout(&o).ends_with("errors: 1, replies: 3\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ERR wrong number of arguments for 'incr' command\n"
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn scan_mode_lists_every_key() {
    let srv = TestServer::start();
    for i in 0..250 {
        cli(&srv, &["SET", &format!("user:{i}"), "x"]);
    }
    cli(&srv, &["SET", "other", "x"]);
    let mut keys: Vec<String> = stdout(&cli(
        &srv,
        &["--scan", "--pattern", "user:*", "--count", "7"],
    ))
    .lines()
    .map(String::from)
    .collect();
    keys.sort();
    keys.dedup();
    let mut want: Vec<String> = (0..250).map(|i| format!("user:{i}")).collect();
    want.sort();
    assert_eq!(keys, want);
    let quoted = stdout(&cli(&srv, &["--no-raw", "--scan", "--pattern", "oth*"]));
    assert_eq!(quoted, "\"other\"\n");
}

#[test]
fn bigkeys_and_memkeys_reports() {
    let srv = TestServer::start();
    cli(&srv, &["SET", "small", "ab"]);
    cli(&srv, &["SET", "big", "abcdefghij"]);
    cli(&srv, &["RPUSH", "list", "1", "2", "3"]);
    cli(&srv, &["HSET", "hash", "a", "1", "b", "2"]);
    let out = stdout(&cli(&srv, &["--bigkeys"]));
    assert!(
        out.starts_with("\n# Scanning the entire keyspace to find biggest keys as well as\n"),
        "{out}"
    );
    assert!(
        out.contains("\n-------- summary -------\n\nSampled 4 keys in the keyspace!\n"),
        "{out}"
    );
    assert!(
        out.contains("Total key length in bytes is 16 (avg len 4.00)\n"),
        "{out}"
    );
    assert!(
        out.contains("Biggest string found '\"big\"' has 10 bytes\n"),
        "{out}"
    );
    assert!(
        out.contains("Biggest   list found '\"list\"' has 3 items\n"),
        "{out}"
    );
    assert!(
        out.contains("Biggest   hash found '\"hash\"' has 2 fields\n"),
        "{out}"
    );
    assert!(
        out.contains("2 strings with 12 bytes (50.00% of keys, avg size 6.00)\n"),
        "{out}"
    );
    assert!(
        out.contains("0 zsets with 0 members (00.00% of keys, avg size 0.00)\n"),
        "{out}"
    );
    let out = stdout(&cli(&srv, &["--memkeys"]));
    assert!(out.contains("Sampled 4 keys in the keyspace!\n"), "{out}");
    assert!(out.contains("1 lists with "), "{out}");
    assert!(!out.contains("items"), "memkeys sizes are bytes: {out}");
}

#[test]
fn stat_and_latency_lines() {
    let srv = TestServer::start();
    cli(&srv, &["SET", "a", "1"]);
    let out = stdout(&cli(&srv, &["--stat", "-r", "2", "-i", "0.01"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        "------- data ------ --------------------- load -------------------- - child -"
    );
    assert!(lines[2].starts_with("1          "), "{out}");
    assert!(lines[2].contains(" (+0)"), "{out}");
    // --latency with raw output prints one "min max avg count" line after -i seconds.
    let out = stdout(&cli(&srv, &["--latency", "--raw", "-i", "0.05"]));
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "{out}");
    assert!(fields.iter().all(|f| f.parse::<f64>().is_ok()), "{out}");
    let out = stdout(&cli(&srv, &["--latency", "--csv", "-i", "0.05"]));
    assert_eq!(out.trim_end().split(',').count(), 4, "{out}");
}

#[test]
fn help_from_the_servers_command_docs() {
    let srv = TestServer::start();
    let out = stdout(&cli(&srv, &["HELP", "GET"]));
    assert_eq!(
        out,
        "\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n  \x1b[33msummary:\x1b[0m Read the string value of a key.\r\n  \x1b[33msince:\x1b[0m 1.0.0\r\n  \x1b[33mgroup:\x1b[0m string\r\n\r\n"
    );
    let out = stdout(&cli(&srv, &["HELP", "@hash"]));
    assert!(
        out.contains("\x1b[1mHSET\x1b[0m \x1b[90mkey field value [field value ...]\x1b[0m"),
        "{out}"
    );
    assert!(!out.contains("group:"), "{out}");
}

#[test]
fn pretty_json_values() {
    let srv = TestServer::start();
    cli(&srv, &["SET", "j", r#"{"a":[1,2],"b":{"c":"x y"},"e":[]}"#]);
    cli(&srv, &["SET", "nj", "{not json"]);
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "--pretty", "GET", "j"])),
        "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {\n    \"c\": \"x y\"\n  },\n  \"e\": []\n}\n"
    );
    // Raw output (a pipe) is pretty too when asked.
    assert_eq!(
        stdout(&cli(&srv, &["--pretty", "GET", "j"])),
        "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {\n    \"c\": \"x y\"\n  },\n  \"e\": []\n}\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "--pretty", "GET", "nj"])),
        "\"{not json\"\n"
    );
    assert_eq!(
        stdout(&cli(&srv, &["--no-raw", "--pretty", "MGET", "nj", "j"])),
        "1) \"{not json\"\n2) {\n     \"a\": [\n       1,\n       2\n     ],\n     \"b\": {\n       \"c\": \"x y\"\n     },\n     \"e\": []\n   }\n"
    );
}

#[test]
fn repl_reconnects_after_server_restart() {
    use std::io::{BufRead, BufReader};
    let srv = TestServer::start();
    let addr = srv.addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdin.write_all(b"SET a 1\n").unwrap();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n");
    srv.handle.shutdown();
    // The first command after the restart finds the link dead and reports it...
    stdin.write_all(b"PING\n").unwrap();
    stdin.flush().unwrap();
    let port = addr.port().to_string();
    let srv2 = TestServer::with_args(&[("port", &port)]);
    // ...and the next one reconnects.
    stdin.write_all(b"PING\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\n");
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Error: Server closed the connection")
            || err.contains("Error: Connection reset by peer")
            || err.contains("Error: Broken pipe"),
        "{err}"
    );
    drop(srv2);
}

#[test]
fn version_flag() {
    let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .arg("-v")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("cinnabar-cli {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_options_as_redis_cli() {
    for (args, bad) in [(&["--foo", "PING"][..], "--foo"), (&["-p"], "-p")] {
        let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("Unrecognized option or bad number of args for: '{bad}'\n")
        );
    }
}

#[test]
fn intrinsic_latency_report() {
    let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args(["--intrinsic-latency", "1"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Max latency so far: "), "{out}");
    let n = lines.len();
    assert_eq!(lines[n - 3], "", "{out}");
    assert!(lines[n - 2].contains(" total runs (avg latency: "), "{out}");
    assert!(lines[n - 2].ends_with(" nanoseconds per run)."), "{out}");
    assert!(lines[n - 1].starts_with("Worst run took "), "{out}");
    assert!(
        lines[n - 1].ends_with("x longer than the average latency."),
        "{out}"
    );
}

#[test]
fn latency_dist_spectrum() {
    let srv = TestServer::start();
    let out = stdout(&cli(&srv, &["--latency-dist", "-i", "0.05", "-r", "2"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10, "{out}");
    assert_eq!(lines[0], "---------------------------------------------");
    assert_eq!(lines[1], ". - * #          .01 .125 .25 .5 milliseconds");
    assert!(
        lines[6].starts_with("From 0 to 100%: \x1b[48;5;0m "),
        "{out}"
    );
    for spectrum in &lines[8..] {
        assert!(spectrum.starts_with("\x1b[38;5;0m\x1b[48;5;"), "{out}");
        assert_eq!(spectrum.matches("\x1b[48;5;").count(), 31, "{out}");
    }
}

/// A server listening for TLS only, on a free port, with the PKI's server certificate.
fn tls_only_server(pki: &cinnabar_testkit::Pki, auth: &str) -> TestServer {
    let mut args = pki.server_args(cinnabar_testkit::free_port());
    args.push(("tls-auth-clients".into(), auth.into()));
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::with_args(&pairs)
}

#[test]
fn tls_with_cacert_client_certificate_sni_and_uri() {
    let pki = cinnabar_testkit::Pki::generate("cli-tls");
    let srv = tls_only_server(&pki, "yes");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ca, cert, key) = (path(&pki.ca), path(&pki.client_cert), path(&pki.client_key));
    let tls = ["--tls", "--cacert", &ca, "--cert", &cert, "--key", &key];
    let o = cli(&srv, &[&tls[..], &["SET", "k", "over tls"]].concat());
    assert_eq!(stdout(&o), "OK\n", "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli(
        &srv,
        &[&tls[..], &["--sni", "localhost", "GET", "k"]].concat(),
    );
    assert_eq!(stdout(&o), "over tls\n");
    // rediss:// turns TLS on, as in redis-cli.
    let uri = format!("rediss://127.0.0.1:{}", srv.addr().port());
    let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
        .args([
            "-u", &uri, "--cacert", &ca, "--cert", &cert, "--key", &key, "GET", "k",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "over tls\n");
    // The server requires a client certificate.
    let o = cli(&srv, &["--tls", "--cacert", &ca, "PING"]);
    assert!(!stdout(&o).contains("PONG"));
    // Plain RESP on the TLS port gets no answer.
    let o = cli(&srv, &["PING"]);
    assert!(!stdout(&o).contains("PONG"));
}

#[test]
fn tls_verifies_the_server_unless_insecure() {
    let pki = cinnabar_testkit::Pki::generate("cli-tls-verify");
    let srv = tls_only_server(&pki, "no");
    let other = pki.other_ca.to_str().unwrap();
    let o = cli(&srv, &["--tls", "--cacert", other, "PING"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("PONG"));
    let o = cli(&srv, &["--tls", "--insecure", "PING"]);
    assert_eq!(
        stdout(&o),
        "PONG\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cli(&srv, &["--tls", "--cacert", "/nonexistent/ca.crt", "PING"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Could not create an SSL context"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn unix_socket_with_s() {
    let dir = cinnabar_testkit::temp_dir("cli-unix");
    let sock = dir.join("s.sock");
    let s = sock.to_str().unwrap();
    let _srv = TestServer::with_args(&[("unixsocket", s)]);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_cinnabar-cli"))
            .args(["-s", s])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        stdout(&o)
    };
    assert_eq!(run(&["SET", "k", "over unix"]), "OK\n");
    assert_eq!(run(&["GET", "k"]), "over unix\n");
    let info = run(&["CLIENT", "INFO"]);
    assert!(
        info.contains(&format!(" addr={s}:0 laddr={s}:0 ")),
        "{info}"
    );
    assert!(info.contains(" flags=U "), "{info}");
}

#[test]
fn pipe_over_tls() {
    let pki = cinnabar_testkit::Pki::generate("cli-tls-pipe");
    let srv = tls_only_server(&pki, "yes");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ca, cert, key) = (path(&pki.ca), path(&pki.client_cert), path(&pki.client_key));
    let tls = ["--tls", "--cacert", &ca, "--cert", &cert, "--key", &key];
    // Enough to fill the socket buffers both ways: replies come back while stdin is still
    // being sent.
    let mut input = Vec::new();
    for i in 0..20_000 {
        cinnabar_resp::encode_command(
            &[b"RPUSH".as_slice(), b"l", format!("{i:0>64}").as_bytes()],
            &mut input,
        );
    }
    input.extend_from_slice(b"INCR notanumber extra\r\n");
    let o = cli_stdin(&srv, &[&tls[..], &["--pipe"]].concat(), Some(&input));
    let out = stdout(&o);
    assert!(
        out.ends_with("Last reply received from server.\nerrors: 1, replies: 20001\n"),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "an error reply: exit 1, as redis-cli"
    );
    let o = cli(&srv, &[&tls[..], &["LLEN", "l"]].concat());
    assert_eq!(stdout(&o), "20000\n");
}
