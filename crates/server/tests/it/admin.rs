//! Server administration commands: INFO, CONFIG, COMMAND, TIME, LASTSAVE, DEBUG, SHUTDOWN,
//! MEMORY, SLOWLOG, LATENCY, and the freshness of docs/commands.md.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cinnabar_resp::Frame;
use cinnabar_server::cmd::config::rewrite_config_text;
use cinnabar_server::cmd::docs::commands_markdown;
use cinnabar_server::config::Config;
use cinnabar_testkit::{eventually, RawConn, TestServer, PATIENCE};

// --- helpers ---------------------------------------------------------------------------

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Verbatim { text, .. } => String::from_utf8_lossy(text).into_owned(),
        Frame::Simple(s) => s.clone(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

fn err(f: &Frame) -> String {
    match f {
        Frame::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn array(f: &Frame) -> &[Frame] {
    match f {
        Frame::Array(a) | Frame::Set(a) => a,
        other => panic!("expected an array, got {other:?}"),
    }
}

fn strings(f: &Frame) -> Vec<String> {
    array(f).iter().map(text).collect()
}

fn ok(f: &Frame) {
    assert_eq!(f, &Frame::Simple("OK".into()));
}

fn info(c: &mut RawConn, sections: &[&str]) -> String {
    let mut words = vec!["INFO"];
    words.extend_from_slice(sections);
    text(&c.cmd(&words))
}

/// The value of `name:` in an INFO text.
fn field(info: &str, name: &str) -> Option<String> {
    info.split("\r\n").find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::to_string)
    })
}

fn num(info: &str, name: &str) -> i64 {
    field(info, name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .parse()
        .unwrap()
}

fn headers(info: &str) -> Vec<&str> {
    info.split("\r\n").filter(|l| l.starts_with("# ")).collect()
}

fn debug_server() -> TestServer {
    TestServer::with_args(&[("enable-debug-command", "yes")])
}

// --- INFO ------------------------------------------------------------------------------

#[test]
fn info_default_sections_in_redis_order_with_crlf() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let text = info(&mut c, &[]);
    assert_eq!(
        headers(&text),
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    assert!(
        text.starts_with("# Server\r\nredis_version:7.2.4\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "every line ends with CRLF"
    );
    assert!(
        text.contains("\r\n\r\n# Clients\r\n"),
        "sections are separated by an empty line"
    );
    for line in text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(line.contains(':'), "line without a field name: {line:?}");
    }
}

#[test]
fn info_section_selection() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(headers(&info(&mut c, &["server"])), ["# Server"]);
    assert_eq!(
        headers(&info(&mut c, &["CPU", "clients"])),
        ["# Clients", "# CPU"]
    );
    assert_eq!(info(&mut c, &["nosuchsection"]), "");
    let all = info(&mut c, &["all"]);
    assert!(headers(&all).contains(&"# Commandstats") && headers(&all).contains(&"# Latencystats"));
    assert_eq!(headers(&all).len(), 13);
    assert_eq!(headers(&info(&mut c, &["everything"])), headers(&all));
    let dflt = info(&mut c, &["default", "commandstats"]);
    assert_eq!(headers(&dflt).len(), 12);
    assert!(headers(&dflt).contains(&"# Commandstats"));
}

#[test]
fn info_server_fields() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let s = info(&mut c, &["server"]);
    assert_eq!(field(&s, "redis_mode").as_deref(), Some("standalone"));
    assert_eq!(field(&s, "redis_git_sha1").as_deref(), Some("00000000"));
    assert_eq!(num(&s, "tcp_port"), srv.addr().port() as i64);
    assert_eq!(num(&s, "process_id"), std::process::id() as i64);
    let run_id = field(&s, "run_id").unwrap();
    assert_eq!(run_id.len(), 40);
    assert!(run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(run_id, srv.handle.server.run_id);
    assert_eq!(
        field(&s, "cinnabar_version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        num(&s, "cinnabar_threads"),
        srv.handle.server.workers.len() as i64
    );
    assert_eq!(
        num(&s, "cinnabar_shards"),
        srv.handle.server.keyspace.shard_count() as i64
    );
    assert_eq!(num(&s, "hz"), 10);
    assert_eq!(field(&s, "config_file").as_deref(), Some(""));
    assert!(num(&s, "uptime_in_seconds") >= 0);
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!((num(&s, "server_time_usec") - now_us).abs() < 5_000_000);
    assert_eq!(
        field(&s, "listener0"),
        Some(format!(
            "name=tcp,bind=127.0.0.1,port={}",
            srv.addr().port()
        ))
    );

    let r = info(&mut c, &["replication"]);
    assert_eq!(field(&r, "role").as_deref(), Some("master"));
    assert_eq!(num(&r, "connected_slaves"), 0);
    assert_eq!(field(&r, "master_replid").map(|s| s.len()), Some(40));

    let m = info(&mut c, &["memory"]);
    assert!(num(&m, "used_memory") > 0);
    assert!(field(&m, "used_memory_human")
        .unwrap()
        .ends_with(['B', 'K', 'M', 'G']));
    assert_eq!(field(&m, "maxmemory_policy").as_deref(), Some("noeviction"));
    // As Redis's "jemalloc-5.3.0": the allocator and its version.
    assert!(field(&m, "mem_allocator").unwrap().starts_with("mimalloc-"));

    let p = info(&mut c, &["persistence"]);
    assert_eq!(num(&p, "loading"), 0);
    assert_eq!(num(&p, "rdb_bgsave_in_progress"), 0);
    assert!(num(&p, "rdb_last_save_time") > 1_600_000_000);

    let cpu = info(&mut c, &["cpu"]);
    let sys = field(&cpu, "used_cpu_sys").unwrap();
    assert_eq!(sys.split('.').nth(1).map(str::len), Some(6), "{sys}");
}

#[test]
fn info_clients_counts_connections() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let _others: Vec<RawConn> = (0..3).map(|_| srv.raw()).collect();
    eventually(PATIENCE, "4 connected clients", || {
        num(&info(&mut c, &["clients"]), "connected_clients") == 4
    });
    let s = info(&mut c, &["clients"]);
    assert_eq!(num(&s, "maxclients"), 10000);
    assert_eq!(num(&s, "blocked_clients"), 0);
}

#[test]
fn info_keyspace_lists_non_empty_databases() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(info(&mut c, &["keyspace"]), "# Keyspace\r\n");
    ok(&c.cmd(&["SET", "a", "1"]));
    ok(&c.cmd(&["SET", "b", "2"]));
    ok(&c.cmd(&["SET", "t", "3", "EX", "100"]));
    ok(&c.cmd(&["SELECT", "3"]));
    ok(&c.cmd(&["SET", "x", "1"]));
    let ks = info(&mut c, &["keyspace"]);
    let db0 = field(&ks, "db0").unwrap();
    let (head, ttl) = db0.rsplit_once(",avg_ttl=").unwrap();
    assert_eq!(head, "keys=3,expires=1");
    let ttl: i64 = ttl.parse().unwrap();
    assert!(ttl > 90_000 && ttl <= 100_000, "avg_ttl {ttl}");
    assert_eq!(
        field(&ks, "db3").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert_eq!(field(&ks, "db1"), None);
}

#[test]
fn info_stats_count_commands_hits_misses_and_expiry() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    ok(&c.cmd(&["SET", "k", "v"]));
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    ok(&c.cmd(&["SET", "gone", "v", "PX", "1"]));
    srv.advance_clock(2);
    assert_eq!(c.cmd(&["GET", "gone"]), Frame::Null);
    c.cmd(&["GET"]); // wrong arity: a rejected call
    c.cmd(&["NOSUCHCOMMAND"]); // unknown: rejected too
    let s = info(&mut c, &["stats"]);
    assert_eq!(num(&s, "keyspace_hits"), 2);
    assert_eq!(num(&s, "keyspace_misses"), 2);
    assert_eq!(num(&s, "expired_keys"), 1);
    // Rejected calls never ran, so like Redis they are not counted as processed.
    assert_eq!(num(&s, "total_commands_processed"), 6);
    assert_eq!(num(&s, "total_error_replies"), 2);
    assert!(num(&s, "total_connections_received") >= 1);
    assert!(num(&s, "total_net_input_bytes") > 0);
    assert!(num(&s, "total_net_output_bytes") > 0);
    assert_eq!(num(&s, "evicted_keys"), 0);
    assert!(field(&s, "instantaneous_ops_per_sec").is_some());
    assert!(field(&s, "instantaneous_input_kbps").unwrap().contains('.'));
}

#[test]
fn info_instantaneous_ops_reflect_recent_traffic() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    info(&mut c, &["stats"]);
    // The rate is sampled over a moving window: keep the traffic up until it shows.
    eventually(PATIENCE, "instantaneous_ops_per_sec above 10", || {
        for _ in 0..50 {
            c.cmd(&["PING"]);
        }
        num(&info(&mut c, &["stats"]), "instantaneous_ops_per_sec") > 10
    });
}

#[test]
fn info_commandstats_per_command_and_subcommand() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for _ in 0..3 {
        c.cmd(&["GET", "x"]);
    }
    c.cmd(&["GET"]);
    c.cmd(&["CONFIG", "GET", "port"]);
    err(&c.cmd(&["CONFIG", "SET", "nosuch", "1"]));
    let s = info(&mut c, &["commandstats"]);
    let get = field(&s, "cmdstat_get").unwrap();
    assert!(get.starts_with("calls=3,usec="), "{get}");
    assert!(get.ends_with(",rejected_calls=1,failed_calls=0"), "{get}");
    let per_call = get
        .split("usec_per_call=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(
        per_call.split('.').nth(1).map(str::len),
        Some(2),
        "two decimals: {per_call}"
    );
    assert!(field(&s, "cmdstat_config|get")
        .unwrap()
        .starts_with("calls=1,"));
    assert!(field(&s, "cmdstat_config|set")
        .unwrap()
        .ends_with("rejected_calls=0,failed_calls=1"));
    assert_eq!(
        field(&s, "cmdstat_set"),
        None,
        "commands never called are not listed"
    );
}

#[test]
fn info_replies_verbatim_in_resp3() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["HELLO", "3"]);
    match c.cmd(&["INFO", "server"]) {
        Frame::Verbatim { format, text } => {
            assert_eq!(format, "txt");
            assert!(text.starts_with(b"# Server\r\n"));
        }
        other => panic!("expected a verbatim string, got {other:?}"),
    }
}

#[test]
fn info_requires_auth_when_a_password_is_set() {
    let srv = TestServer::with_args(&[("requirepass", "secret")]);
    let mut c = srv.raw();
    assert!(err(&c.cmd(&["INFO"])).starts_with("NOAUTH"));
    ok(&c.cmd(&["AUTH", "secret"]));
    assert!(info(&mut c, &["server"]).starts_with("# Server"));
}

// --- TIME, LASTSAVE --------------------------------------------------------------------

#[test]
fn time_and_lastsave() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let t = strings(&c.cmd(&["TIME"]));
    assert_eq!(t.len(), 2);
    let secs: i64 = t[0].parse().unwrap();
    let usecs: i64 = t[1].parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((secs - now).abs() <= 2);
    assert!((0..1_000_000).contains(&usecs));
    match c.cmd(&["LASTSAVE"]) {
        Frame::Integer(n) => assert!((n - now).abs() <= 60),
        other => panic!("{other:?}"),
    }
    assert!(err(&c.cmd(&["TIME", "x"])).contains("wrong number of arguments for 'time'"));
}

// --- CONFIG ----------------------------------------------------------------------------

#[test]
fn config_get_names_globs_and_aliases() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "maxmemory"])),
        ["maxmemory", "0"]
    );
    // A plain name is echoed as typed and not repeated for a second spelling.
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "MAXMEMORY", "maxmemory"])),
        ["MAXMEMORY", "0"]
    );
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "hash-max-ziplist-value"])),
        ["hash-max-ziplist-value", "64"]
    );
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "nosuch"])),
        Vec::<String>::new()
    );
    let pairs = strings(&c.cmd(&["CONFIG", "GET", "maxmemory*", "maxmemory-policy"]));
    let names: Vec<&str> = pairs.iter().step_by(2).map(String::as_str).collect();
    assert!(
        names.contains(&"maxmemory")
            && names.contains(&"maxmemory-policy")
            && names.contains(&"maxmemory-samples")
    );
    assert_eq!(
        names.iter().filter(|n| **n == "maxmemory-policy").count(),
        1
    );
    let all = strings(&c.cmd(&["CONFIG", "GET", "*"]));
    assert!(all.len() > 200 && all.len() & 1 == 0);
    let zip = strings(&c.cmd(&["CONFIG", "GET", "*ZIPLIST*"]));
    assert!(
        zip.iter().step_by(2).all(|n| n.contains("ziplist")),
        "{zip:?}"
    );

    c.cmd(&["HELLO", "3"]);
    match c.cmd(&["CONFIG", "GET", "port", "databases"]) {
        Frame::Map(m) => {
            assert_eq!(m.len(), 2);
            assert_eq!(text(&m[1].0), "databases");
            assert_eq!(text(&m[1].1), "16");
        }
        other => panic!("expected a map, got {other:?}"),
    }
}

#[test]
fn config_set_applies_all_or_nothing_with_redis_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    ok(&c.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "10mb",
        "maxmemory-policy",
        "allkeys-lru",
    ]));
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "maxmemory"])),
        ["maxmemory", "10485760"]
    );
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "maxmemory-policy"])),
        ["maxmemory-policy", "allkeys-lru"]
    );
    ok(&c.cmd(&["CONFIG", "SET", "HASH-MAX-ZIPLIST-VALUE", "32"]));
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "hash-max-listpack-value"])),
        ["hash-max-listpack-value", "32"]
    );

    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "foo", "bar"])),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "maxmemory", "abc"])),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    // Value errors name the canonical parameter, name errors the argument as typed.
    assert!(
        err(&c.cmd(&["CONFIG", "SET", "hash-max-ziplist-value", "x"]))
            .contains("argument 'hash-max-listpack-value'")
    );
    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "Daemonize", "yes"])),
        "ERR CONFIG SET failed (possibly related to argument 'Daemonize') - can't set immutable config"
    );
    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "maxmemory", "1", "MAXMEMORY", "2"])),
        "ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter"
    );
    // An unknown name is reported even when an earlier value is bad: names are checked first.
    assert!(
        err(&c.cmd(&["CONFIG", "SET", "maxmemory", "abc", "foo", "1"]))
            .starts_with("ERR Unknown option")
    );
    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "maxmemory", "1", "hz"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(&c.cmd(&["CONFIG", "SET", "maxmemory"])),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert!(err(&c.cmd(&["CONFIG", "SET", "hz", "0"]))
        .ends_with("argument must be between 1 and 500 inclusive"));
    assert!(err(&c.cmd(&["CONFIG", "SET", "appendonly", "maybe"]))
        .ends_with("argument must be 'yes' or 'no'"));

    // Nothing changes when any pair is invalid.
    err(&c.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "20mb",
        "maxmemory-policy",
        "nonsense",
    ]));
    assert_eq!(
        strings(&c.cmd(&["CONFIG", "GET", "maxmemory"])),
        ["maxmemory", "10485760"]
    );

    // Live parameters take effect at once.
    ok(&c.cmd(&["CONFIG", "SET", "hz", "50"]));
    assert_eq!(num(&info(&mut c, &["server"]), "hz"), 50);
    ok(&c.cmd(&["CONFIG", "SET", "maxclients", "123"]));
    assert_eq!(num(&info(&mut c, &["clients"]), "maxclients"), 123);
}

#[test]
fn config_set_requirepass_takes_effect_for_new_connections() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    ok(&c.cmd(&["CONFIG", "SET", "requirepass", "pw"]));
    let mut other = srv.raw();
    assert!(err(&other.cmd(&["PING"])).starts_with("NOAUTH"));
    ok(&other.cmd(&["AUTH", "pw"]));
}

#[test]
fn config_resetstat_zeroes_statistics() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    ok(&c.cmd(&["SET", "k", "v"]));
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "nope"]);
    c.cmd(&["GET"]);
    ok(&c.cmd(&["CONFIG", "RESETSTAT"]));
    let s = info(&mut c, &["stats", "commandstats"]);
    assert_eq!(num(&s, "keyspace_hits"), 0);
    assert_eq!(num(&s, "keyspace_misses"), 0);
    assert_eq!(num(&s, "total_error_replies"), 0);
    assert_eq!(num(&s, "total_connections_received"), 0);
    // Only RESETSTAT itself ran since the reset (INFO counts after it replies).
    assert_eq!(num(&s, "total_commands_processed"), 1);
    let cmdstats: Vec<&str> = s
        .split("\r\n")
        .filter(|l| l.starts_with("cmdstat_"))
        .collect();
    assert_eq!(cmdstats.len(), 1, "{cmdstats:?}");
    assert!(cmdstats[0].starts_with("cmdstat_config|resetstat:calls=1,"));
    // Data is untouched.
    assert_eq!(text(&c.cmd(&["GET", "k"])), "v");
}

#[test]
fn config_rewrite_without_a_file_is_an_error() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        err(&c.cmd(&["CONFIG", "REWRITE"])),
        "ERR The server is running without a config file"
    );
}

#[test]
fn config_rewrite_updates_the_file_and_it_loads_back() {
    let dir = std::env::temp_dir().join(format!(
        "cinnabar-rewrite-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cinnabar.conf");
    std::fs::write(
        &path,
        "# My settings\nport 0\nbind 127.0.0.1\n\nmaxmemory 1mb\nhash-max-ziplist-value 32\n# keep me\nsave \"\"\n",
    )
    .unwrap();
    let path_s = path.display().to_string();
    let config = Config::from_args(std::slice::from_ref(&path_s)).unwrap();
    let handle = cinnabar_server::start(config).unwrap();
    let mut c = RawConn::connect(handle.addr());
    assert_eq!(
        field(&info(&mut c, &["server"]), "config_file").as_deref(),
        Some(path_s.as_str())
    );
    ok(&c.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "2mb",
        "maxmemory-policy",
        "allkeys-lfu",
        "requirepass",
        "a b",
    ]));
    ok(&c.cmd(&["CONFIG", "REWRITE"]));
    let written = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        &lines[..3],
        ["# My settings", "port 0", "bind 127.0.0.1"],
        "{written}"
    );
    assert!(lines.contains(&"maxmemory 2mb"), "{written}");
    assert!(
        lines.contains(&"hash-max-listpack-value 32"),
        "aliases become canonical: {written}"
    );
    assert!(lines.contains(&"# keep me"));
    assert!(lines.contains(&"save \"\""));
    let sig = lines
        .iter()
        .position(|l| *l == "# Generated by CONFIG REWRITE")
        .expect("signature");
    assert!(lines[sig..].contains(&"maxmemory-policy allkeys-lfu"));
    assert!(lines[sig..].contains(&"requirepass \"a b\""));
    assert!(
        !lines.iter().any(|l| l.starts_with("hz ")),
        "defaults are not written"
    );

    let reloaded = Config::from_args(&[path_s]).unwrap();
    assert_eq!(reloaded.get("maxmemory"), "2097152");
    assert_eq!(reloaded.get("maxmemory-policy"), "allkeys-lfu");
    assert_eq!(reloaded.get("requirepass"), "a b");
    assert_eq!(reloaded.get("hash-max-listpack-value"), "32");
    assert_eq!(reloaded.get("save"), "");
    handle.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rewrite_text_keeps_layout_and_drops_repeats() {
    let values: Vec<(&'static str, String)> = cinnabar_server::config::PARAMS
        .iter()
        .map(|p| {
            let v = match p.name {
                "maxmemory" => "3221225472".to_string(),
                "save" => "60 100".to_string(),
                "notify-keyspace-events" => "".to_string(),
                _ => p.default.to_string(),
            };
            (p.name, v)
        })
        .collect();
    let old = "# head\r\nsave 900 1\nsave 300 10\n\n\n\nbogus-directive 1\ninclude /etc/other.conf\nmaxmemory 1gb\nhz 10\n";
    let new = rewrite_config_text(old, &values);
    assert_eq!(
        new,
        "# head\nsave 60 100\n\n# ??? bogus-directive 1\ninclude /etc/other.conf\nmaxmemory 3gb\nhz 10\n# Generated by CONFIG REWRITE\ndir \"\"\n"
    );
    // A second rewrite is stable and adds no second signature.
    assert_eq!(rewrite_config_text(&new, &values), new);
}

#[test]
fn config_help_lists_subcommands() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let lines = strings(&c.cmd(&["CONFIG", "HELP"]));
    assert_eq!(
        lines[0],
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    assert!(lines.iter().any(|l| l.starts_with("RESETSTAT")));
    assert_eq!(lines.last().unwrap(), "    Print this help.");
    assert!(err(&c.cmd(&["CONFIG", "NOPE"]))
        .starts_with("ERR unknown subcommand 'NOPE'. Try CONFIG HELP."));
}

// --- COMMAND ---------------------------------------------------------------------------

/// The fields of one COMMAND INFO entry: (name, arity, subcommand names).
fn command_entry(f: &Frame) -> (String, i64, Vec<String>) {
    let a = array(f);
    assert_eq!(a.len(), 10, "{f:?}");
    let arity = match a[1] {
        Frame::Integer(n) => n,
        ref other => panic!("{other:?}"),
    };
    let subs = array(&a[9]).iter().map(|s| text(&array(s)[0])).collect();
    (text(&a[0]), arity, subs)
}

#[test]
fn command_lists_only_implemented_commands() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let count = match c.cmd(&["COMMAND", "COUNT"]) {
        Frame::Integer(n) => n as usize,
        other => panic!("{other:?}"),
    };
    let all = c.cmd(&["COMMAND"]);
    let entries: Vec<_> = array(&all).iter().map(command_entry).collect();
    assert_eq!(entries.len(), count);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    for expected in ["get", "set", "info", "config", "command", "ping", "time"] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    let registry = cinnabar_server::cmd::registry();
    for (name, _, subs) in &entries {
        let def = cinnabar_commands::lookup(name.as_bytes()).unwrap();
        if def.subcommands.is_empty() {
            assert!(
                registry.get(name.as_bytes()).is_some(),
                "{name} listed but not implemented"
            );
        }
        for s in subs {
            assert!(
                registry.get(s.as_bytes()).is_some(),
                "{s} listed but not implemented"
            );
        }
    }
    let config = entries.iter().find(|e| e.0 == "config").unwrap();
    let mut subs = config.2.clone();
    subs.sort();
    assert_eq!(
        subs,
        [
            "config|get",
            "config|help",
            "config|resetstat",
            "config|rewrite",
            "config|set"
        ]
    );
    assert_eq!(array(&c.cmd(&["COMMAND", "INFO"])).len(), count);
}

#[test]
fn command_info_by_name() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let reply = c.cmd(&["COMMAND", "INFO", "GET", "nosuchcmd", "config|get", "get|x"]);
    let a = array(&reply);
    assert_eq!(a.len(), 4);
    let (name, arity, subs) = command_entry(&a[0]);
    assert_eq!((name.as_str(), arity, subs.len()), ("get", 2, 0));
    let get = array(&a[0]);
    assert_eq!(strings(&get[2]), ["readonly", "fast"]);
    assert_eq!(
        (&get[3], &get[4], &get[5]),
        (&Frame::Integer(1), &Frame::Integer(1), &Frame::Integer(1))
    );
    assert_eq!(strings(&get[6]), ["@read", "@string", "@fast"]);
    assert_eq!(a[1], Frame::Null);
    assert_eq!(command_entry(&a[2]).0, "config|get");
    assert_eq!(a[3], Frame::Null);
}

#[test]
fn command_docs_map() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let reply = c.cmd(&["COMMAND", "DOCS", "get", "nosuchcmd"]);
    let a = array(&reply);
    assert_eq!(a.len(), 2, "one name/doc pair: unknown names are skipped");
    assert_eq!(text(&a[0]), "get");
    let doc = strings(&Frame::Array(
        array(&a[1]).iter().step_by(2).cloned().collect(),
    ));
    assert_eq!(&doc[..3], ["summary", "since", "group"]);
    assert_eq!(text(&array(&a[1])[3]), "1.0.0");
    assert_eq!(text(&array(&a[1])[5]), "string");

    c.cmd(&["HELLO", "3"]);
    match c.cmd(&["COMMAND", "DOCS", "config"]) {
        Frame::Map(m) => {
            assert_eq!(text(&m[0].0), "config");
            let Frame::Map(fields) = &m[0].1 else {
                panic!("{:?}", m[0].1)
            };
            let (_, subs) = fields
                .iter()
                .find(|(k, _)| text(k) == "subcommands")
                .expect("subcommands");
            let Frame::Map(subs) = subs else {
                panic!("{subs:?}")
            };
            assert_eq!(subs.len(), 5);
        }
        other => panic!("{other:?}"),
    }
    let all = c.cmd(&["COMMAND", "DOCS"]);
    let Frame::Map(all) = all else { panic!() };
    let Frame::Integer(count) = c.cmd(&["COMMAND", "COUNT"]) else {
        panic!()
    };
    assert_eq!(all.len() as i64, count);
}

#[test]
fn command_list_with_filters() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let all = strings(&c.cmd(&["COMMAND", "LIST"]));
    assert!(all.contains(&"get".to_string()) && all.contains(&"config|get".to_string()));
    for name in &all {
        assert_ne!(
            c.cmd(&["COMMAND", "INFO", name]),
            Frame::Array(vec![Frame::Null]),
            "{name}"
        );
    }
    let mut config = strings(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*"]));
    config.sort();
    assert_eq!(
        config,
        [
            "config",
            "config|get",
            "config|help",
            "config|resetstat",
            "config|rewrite",
            "config|set"
        ]
    );
    let strings_cat = strings(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"]));
    assert!(strings_cat.contains(&"get".to_string()) && !strings_cat.contains(&"ping".to_string()));
    assert!(strings(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuchcat"])).is_empty());
    assert!(strings(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "MODULE", "x"])).is_empty());
    assert_eq!(
        err(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "COLOUR", "x"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN"])),
        "ERR syntax error"
    );
}

#[test]
fn command_getkeys_and_flags() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        strings(&c.cmd(&["COMMAND", "GETKEYS", "SET", "a", "b"])),
        ["a"]
    );
    assert_eq!(
        strings(&c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"])),
        ["a", "b"]
    );
    assert_eq!(
        strings(&c.cmd(&["COMMAND", "GETKEYS", "memory", "usage", "k"])),
        ["k"]
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS", "GET", "a", "b"])),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS", "PING", "x"])),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS", "nosuch", "x"])),
        "ERR Invalid command specified"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS", "config", "nosuch"])),
        "ERR Invalid command specified"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS", "GET"])),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        err(&c.cmd(&["COMMAND", "GETKEYS"])),
        "ERR wrong number of arguments for 'command|getkeys' command"
    );

    let reply = c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "SET", "a", "b"]);
    let a = array(&reply);
    assert_eq!(a.len(), 1);
    let pair = array(&a[0]);
    assert_eq!(text(&pair[0]), "a");
    assert_eq!(strings(&pair[1]), ["OW", "update"]);
    // SET's spec has variable flags: with GET it also reads the old value.
    let reply = c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "SET", "a", "b", "GET"]);
    assert_eq!(
        strings(&array(&array(&reply)[0])[1]),
        ["RW", "access", "update"]
    );
    let reply = c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "GET", "k"]);
    assert_eq!(strings(&array(&array(&reply)[0])[1]), ["RO", "access"]);
}

#[test]
fn command_help() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let lines = strings(&c.cmd(&["COMMAND", "HELP"]));
    assert!(lines[0].starts_with("COMMAND <subcommand>"));
    assert!(lines.iter().any(|l| l.starts_with("GETKEYSANDFLAGS")));
}

// --- DEBUG -----------------------------------------------------------------------------

#[test]
fn debug_is_refused_unless_enabled() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let e = err(&c.cmd(&["DEBUG", "SLEEP", "0"]));
    assert!(e.starts_with("ERR DEBUG command not allowed."), "{e}");
    // The local setting admits loopback clients.
    let local = TestServer::with_args(&[("enable-debug-command", "local")]);
    ok(&local.raw().cmd(&["DEBUG", "SLEEP", "0"]));
}

#[test]
fn debug_sleep_blocks_the_caller() {
    let srv = debug_server();
    let mut c = srv.raw();
    let start = Instant::now();
    ok(&c.cmd(&["DEBUG", "SLEEP", "0.2"]));
    assert!(start.elapsed() >= Duration::from_millis(200));
    ok(&c.cmd(&["DEBUG", "SLEEP", "not-a-number"]));
    assert!(err(&c.cmd(&["DEBUG", "SLEEP"]))
        .starts_with("ERR unknown subcommand or wrong number of arguments for 'SLEEP'"));
}

#[test]
fn debug_sleep_holds_no_shard_lock() {
    // Two worker threads so the sleeper and the other client are on different threads.
    let srv = TestServer::with_args(&[("enable-debug-command", "yes"), ("threads", "2")]);
    let mut sleeper = srv.raw();
    let mut other = srv.raw();
    let Frame::Integer(id) = sleeper.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let id = id.to_string();
    sleeper.send(&[b"DEBUG", b"SLEEP", b"3"]);
    eventually(PATIENCE, "DEBUG SLEEP to be running", || {
        text(&other.cmd(&["CLIENT", "LIST", "ID", &id])).contains(" cmd=debug ")
    });
    // Keys in every shard stay reachable while DEBUG SLEEP runs: all written while the
    // sleeper still has no reply.
    for i in 0..64 {
        ok(&other.cmd(&["SET", &format!("k{i}"), "v"]));
    }
    assert!(!sleeper.has_reply(), "writes waited for the sleeper");
    ok(&sleeper.read());
}

#[test]
fn debug_set_active_expire_controls_background_expiry() {
    let srv = debug_server();
    let mut c = srv.raw();
    ok(&c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]));
    assert!(!srv
        .handle
        .server
        .config
        .live
        .active_expire_enabled
        .load(Ordering::Relaxed));
    ok(&c.cmd(&["SET", "k", "v", "PX", "10"]));
    ok(&c.cmd(&["DEBUG", "ADVANCE-CLOCK", "11"]));
    // Expired, and three cron cycles later still stored: no background expiry ran.
    srv.wait_cron_runs(3);
    assert_eq!(
        field(&info(&mut c, &["keyspace"]), "db0")
            .as_deref()
            .map(|s| &s[..16]),
        Some("keys=1,expires=1")
    );
    ok(&c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]));
    assert!(srv
        .handle
        .server
        .config
        .live
        .active_expire_enabled
        .load(Ordering::Relaxed));
    eventually(PATIENCE, "active expiry to reclaim the key", || {
        field(&info(&mut c, &["keyspace"]), "db0").is_none()
    });
    assert_eq!(num(&info(&mut c, &["stats"]), "expired_keys"), 1);
}

#[test]
fn debug_populate_protocol_and_misc() {
    let srv = debug_server();
    let mut c = srv.raw();
    ok(&c.cmd(&["DEBUG", "POPULATE", "100"]));
    assert!(field(&info(&mut c, &["keyspace"]), "db0")
        .unwrap()
        .starts_with("keys=100,"));
    assert_eq!(text(&c.cmd(&["GET", "key:42"])), "value:42");
    ok(&c.cmd(&["SET", "key:1", "mine"]));
    ok(&c.cmd(&["DEBUG", "POPULATE", "3"]));
    assert_eq!(
        text(&c.cmd(&["GET", "key:1"])),
        "mine",
        "existing keys are left alone"
    );
    ok(&c.cmd(&["DEBUG", "POPULATE", "2", "p", "12"]));
    assert_eq!(text(&c.cmd(&["GET", "p:1"])), "value:1\0\0\0\0\0");
    ok(&c.cmd(&["DEBUG", "POPULATE", "2", "q", "3"]));
    assert_eq!(text(&c.cmd(&["GET", "q:1"])), "val");
    assert_eq!(
        err(&c.cmd(&["DEBUG", "POPULATE", "-1"])),
        "ERR value is out of range, must be positive"
    );

    assert_eq!(
        text(&c.cmd(&["DEBUG", "PROTOCOL", "string"])),
        "Hello World"
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "integer"]),
        Frame::Integer(12345)
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "array"]),
        Frame::Array((0..3).map(Frame::Integer).collect())
    );
    assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", "true"]), Frame::Integer(1));
    assert_eq!(
        text(&c.cmd(&["DEBUG", "PROTOCOL", "attrib"])),
        "Some real reply following the attribute"
    );
    assert_eq!(
        err(&c.cmd(&["DEBUG", "PROTOCOL", "push"])),
        "ERR RESP2 is not supported by this command"
    );
    assert!(
        err(&c.cmd(&["DEBUG", "PROTOCOL", "nope"])).starts_with("ERR Wrong protocol type name.")
    );
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", "true"]), Frame::Boolean(true));
    // Redis's sample value, not an approximation of pi.
    #[allow(clippy::approx_constant)]
    let sample = 3.141;
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "double"]),
        Frame::Double(sample)
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "bignum"]),
        Frame::BigNumber("1234567999999999999999999999999999999".into())
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "map"]),
        Frame::Map(
            (0..3)
                .map(|i| (Frame::Integer(i), Frame::Boolean(i == 1)))
                .collect()
        )
    );
    assert_eq!(
        text(&c.cmd(&["DEBUG", "PROTOCOL", "attrib"])),
        "Some real reply following the attribute"
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "push"]),
        Frame::Push(vec![
            Frame::Bulk("server-cpu-usage".into()),
            Frame::Integer(42)
        ])
    );
    assert_eq!(text(&c.read()), "Some real reply following the push reply");
    c.cmd(&["HELLO", "2"]);

    // Line breaks cannot travel in an error reply: they become spaces.
    assert_eq!(
        err(&c.cmd(&["DEBUG", "ERROR", "MYERR custom\r\nerror"])),
        "MYERR custom  error"
    );
    ok(&c.cmd(&["DEBUG", "LOG", "hello"]));
    ok(&c.cmd(&["DEBUG", "CHANGE-REPL-ID"]));
    ok(&c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1mb"]));
    assert!(
        err(&c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"])).contains("smaller than 4gb")
    );
    ok(&c.cmd(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "NEVER"]));
    let help = strings(&c.cmd(&["DEBUG", "HELP"]));
    assert!(
        help[0].starts_with("DEBUG <subcommand>") && help.iter().any(|l| l.starts_with("SLEEP"))
    );
    assert_eq!(
        err(&c.cmd(&["DEBUG", "nosuch"])),
        "ERR unknown subcommand or wrong number of arguments for 'nosuch'. Try DEBUG HELP."
    );
    assert_eq!(
        err(&c.cmd(&["DEBUG"])),
        "ERR wrong number of arguments for 'debug' command"
    );
}

// --- SHUTDOWN --------------------------------------------------------------------------

#[test]
fn shutdown_closes_without_reply_and_stops_the_server() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        err(&c.cmd(&["SHUTDOWN", "ABORT"])),
        "ERR No shutdown in progress."
    );
    assert_eq!(err(&c.cmd(&["SHUTDOWN", "sometimes"])), "ERR syntax error");
    assert_eq!(
        err(&c.cmd(&["SHUTDOWN", "SAVE", "NOSAVE"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(&c.cmd(&["SHUTDOWN", "ABORT", "NOW"])),
        "ERR syntax error"
    );
    assert!(!srv.handle.server.is_shutting_down());
    c.send(&[b"SHUTDOWN", b"NOSAVE", b"NOW"]);
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed, "the connection closes");
    assert!(
        bytes.is_empty(),
        "no reply: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(srv.handle.server.is_shutting_down());
    let addr = srv.addr();
    eventually(PATIENCE, "the listener to stop", || {
        std::net::TcpStream::connect(addr).is_err()
    });
}

// --- MEMORY, SLOWLOG, LATENCY ----------------------------------------------------------

#[test]
fn memory_usage_and_stats() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let value = "x".repeat(1000);
    ok(&c.cmd(&["SET", "big", &value]));
    ok(&c.cmd(&["SET", "small", "1"]));
    let usage = |c: &mut RawConn, k: &str| match c.cmd(&["MEMORY", "USAGE", k]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    let big = usage(&mut c, "big");
    let small = usage(&mut c, "small");
    assert!(big >= 1000 + 3, "{big}");
    assert!(small > 0 && small < big, "{small}");
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "missing"]), Frame::Null);
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "0"]),
        Frame::Integer(big)
    );
    assert_eq!(
        err(&c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "-1"])),
        "ERR syntax error"
    );
    assert_eq!(
        err(&c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "x"])),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&c.cmd(&["MEMORY", "USAGE", "big", "FOO"])),
        "ERR syntax error"
    );

    let stats = c.cmd(&["MEMORY", "STATS"]);
    let flat = array(&stats);
    assert_eq!(flat.len(), 2 * 28, "27 fields and one database");
    let keys: Vec<String> = flat.iter().step_by(2).map(text).collect();
    assert_eq!(keys[0], "peak.allocated");
    let at = |name: &str| {
        &flat[2 * keys
            .iter()
            .position(|k| k == name)
            .unwrap_or_else(|| panic!("{name}"))
            + 1]
    };
    assert_eq!(at("keys.count"), &Frame::Integer(2));
    assert!(matches!(at("total.allocated"), Frame::Integer(n) if *n > 0));
    assert_eq!(array(at("db.0")).len(), 6);
    assert_eq!(keys.last().unwrap(), "fragmentation.bytes");

    ok(&c.cmd(&["MEMORY", "PURGE"]));
    assert!(!text(&c.cmd(&["MEMORY", "DOCTOR"])).is_empty());
    assert!(!text(&c.cmd(&["MEMORY", "MALLOC-STATS"])).is_empty());
    assert!(strings(&c.cmd(&["MEMORY", "HELP"]))
        .iter()
        .any(|l| l.starts_with("USAGE")));
}

#[test]
fn slowlog_and_latency_errors_and_help() {
    // Their behaviour is tested in tests/ops.rs.
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        err(&c.cmd(&["SLOWLOG", "GET", "-2"])),
        "ERR count should be greater than or equal to -1"
    );
    assert_eq!(
        err(&c.cmd(&["SLOWLOG", "GET", "x"])),
        "ERR count should be greater than or equal to -1"
    );
    ok(&c.cmd(&["SLOWLOG", "RESET"]));
    assert!(strings(&c.cmd(&["SLOWLOG", "HELP"]))
        .iter()
        .any(|l| l.starts_with("GET")));
    assert_eq!(
        c.cmd(&["LATENCY", "HISTORY", "nosuch"]),
        Frame::Array(vec![])
    );
    assert_eq!(c.cmd(&["LATENCY", "RESET", "nosuch"]), Frame::Integer(0));
    assert_eq!(
        err(&c.cmd(&["LATENCY", "GRAPH", "nosuch"])),
        "ERR No samples available for event 'nosuch'"
    );
    assert!(!text(&c.cmd(&["LATENCY", "DOCTOR"])).is_empty());
}

// --- docs/commands.md ------------------------------------------------------------------

#[test]
fn commands_doc_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/commands.md");
    let generated = commands_markdown(&cinnabar_server::cmd::registry());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/commands.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/commands.md is out of date with the command registry; refresh it with

             UPDATE_DOCS=1 cargo test -p cinnabar-server --test it commands_doc
"
    );
}

#[test]
fn commands_doc_lists_every_command() {
    let md = commands_markdown(&cinnabar_server::cmd::registry());
    for def in cinnabar_commands::iter_all() {
        let row = format!("| `{}` |", def.name.replace('|', " ").to_uppercase());
        assert!(md.contains(&row), "{} missing", def.name);
    }
    assert!(md.contains("| `GET` | implemented |"));
    assert!(md.contains("| `CONFIG GET` | implemented |"));
}

#[test]
fn rewrite_writes_replicaof_as_redis_reads_it() {
    let values = |replicaof: &str| -> Vec<(&'static str, String)> {
        cinnabar_server::config::all_params()
            .map(|p| {
                let v = match p.name {
                    "replicaof" => replicaof.to_string(),
                    "dir" => "/d".to_string(),
                    _ => p.default.to_string(),
                };
                (p.name, v)
            })
            .collect()
    };
    // A replica: its line is `replicaof host port` (two words, unquoted), in place.
    let old = "port 7001\nreplicaof 10.0.0.1 6379\nslaveof 10.0.0.2 6379\n";
    let new = rewrite_config_text(old, &values("127.0.0.1 7000"));
    assert!(
        new.starts_with("port 6379\nreplicaof 127.0.0.1 7000\n"),
        "{new}"
    );
    assert_eq!(new.matches("slaveof").count(), 0, "{new}");
    let reloaded = Config::from_text(&new).unwrap();
    assert_eq!(reloaded.get("replicaof"), "127.0.0.1 7000");
    // Appended when the file had none.
    let new = rewrite_config_text("port 7001\n", &values("127.0.0.1 7000"));
    assert!(new.contains("\nreplicaof 127.0.0.1 7000\n"), "{new}");
    // A primary (REPLICAOF NO ONE): every replicaof line goes.
    let new = rewrite_config_text(old, &values(""));
    assert!(
        !new.contains("replicaof") && !new.contains("slaveof"),
        "{new}"
    );
}
