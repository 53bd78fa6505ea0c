//! Operations details that Redis 7.2.4's own suite checks (unit/querybuf, unit/lazyfree,
//! unit/pause, unit/introspection): query buffers that shrink, lazy-free counters, expiry held
//! during CLIENT PAUSE, CONFIG SET port, and the cluster commands of a non-cluster server.

use std::path::Path;

use cinnabar_resp::Frame;

use cinnabar_testkit::{eventually, int, ok, text, ChildServer, RawConn, TestServer, PATIENCE};

/// qbuf + qbuf-free of the client named `name`, from CLIENT LIST.
fn query_buffer(c: &mut RawConn, name: &str) -> usize {
    let list = text(&c.cmd(&["CLIENT", "LIST"]));
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client named {name} in {list}"));
    let field = |f: &str| -> usize {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(f))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {f} in {line}"))
    };
    field("qbuf=") + field("qbuf-free=")
}

#[test]
fn query_buffer_is_16k_after_a_command_and_given_back_when_idle() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "q"]), ok());
    let size = query_buffer(&mut admin, "q");
    assert!((16384..32768).contains(&size), "{size}");
    // Idle for more than 2 seconds: the cron has the connection give back its buffer.
    srv.advance_clock(3000);
    eventually(PATIENCE, "the idle buffer to be freed", || {
        query_buffer(&mut admin, "q") == 0
    });
    // The connection still works, with a fresh buffer.
    assert_eq!(text(&c.cmd(&["PING"])), "PONG");
}

#[test]
fn a_big_argument_gets_its_exact_buffer_which_shrinks_when_idle() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "fat"]), ok());
    c.send_raw(b"*3\r\n$3\r\nset\r\n$1\r\na\r\n$1000000\r\n");
    let full = eventually(PATIENCE, "a buffer for the whole argument", || {
        let n = query_buffer(&mut admin, "fat");
        (n >= 1_000_000).then_some(n)
    });
    assert!(full < 1_100_000, "grown exactly, not doubled: {full}");
    srv.advance_clock(3000);
    eventually(PATIENCE, "the half-read command's buffer to shrink", || {
        query_buffer(&mut admin, "fat") < 1_000_000
    });
    // The rest of the argument still completes the command.
    let mut rest = vec![b'x'; 1_000_000];
    rest.extend_from_slice(b"\r\n");
    c.send_raw(&rest);
    assert_eq!(c.read(), ok());
    assert_eq!(admin.cmd(&["STRLEN", "a"]), int(1_000_000));
}

#[test]
fn a_busy_client_buffer_shrinks_to_its_recent_peak() {
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut admin = srv.raw();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "busy"]), ok());
    assert_eq!(admin.cmd(&["CONFIG", "SET", "hz", "100"]), ok());
    assert_eq!(admin.cmd(&["DEBUG", "PAUSE-CRON", "1"]), ok());
    let big = "A".repeat(400_000);
    assert_eq!(c.cmd(&["SET", "x", &big]), ok());
    let grown = query_buffer(&mut admin, "busy");
    assert!(grown > 32768, "{grown}");
    assert_eq!(admin.cmd(&["DEBUG", "PAUSE-CRON", "0"]), ok());
    let shrunk = eventually(
        PATIENCE,
        "the buffer to shrink under small commands",
        || {
            assert_eq!(c.cmd(&["SET", "x", "small"]), ok());
            let n = query_buffer(&mut admin, "busy");
            (n < grown).then_some(n)
        },
    );
    assert!(shrunk > 0, "a busy client keeps room for its next read");
}

fn child() -> ChildServer {
    ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &["--save", "", "--loglevel", "warning"],
    )
}

fn info_num(c: &mut RawConn, field: &str) -> i64 {
    c.info_field("memory", field)
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number"))
}

/// The counters are the process's, so this runs in a server process of its own.
#[test]
fn lazyfree_counters_count_objects_freed_in_the_background() {
    let srv = child();
    let mut c = srv.conn();
    let members: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "big"];
    sadd.extend(members.iter().map(String::as_str));
    c.cmd(&sadd);
    c.cmd(&["SADD", "small", "a", "b"]);
    // A small value is freed in place even by UNLINK; a big one in the background.
    assert_eq!(c.cmd(&["UNLINK", "small", "big"]), int(2));
    eventually(PATIENCE, "one object freed in the background", || {
        info_num(&mut c, "lazyfree_pending_objects") == 0
            && info_num(&mut c, "lazyfreed_objects") == 1
    });
    // DEL frees in place unless lazyfree-lazy-user-del is on.
    c.cmd(&sadd);
    assert_eq!(c.cmd(&["DEL", "big"]), int(1));
    assert_eq!(info_num(&mut c, "lazyfreed_objects"), 1);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]),
        ok()
    );
    c.cmd(&sadd);
    assert_eq!(c.cmd(&["DEL", "big"]), int(1));
    eventually(PATIENCE, "DEL freeing lazily", || {
        info_num(&mut c, "lazyfreed_objects") == 2
    });
    // FLUSHALL ASYNC counts one object per key.
    for k in ["a", "b", "c"] {
        c.cmd(&["SET", k, "v"]);
    }
    assert_eq!(c.cmd(&["FLUSHALL", "ASYNC"]), ok());
    eventually(PATIENCE, "the flushed keys freed", || {
        info_num(&mut c, "lazyfreed_objects") == 5
    });
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    assert_eq!(info_num(&mut c, "lazyfreed_objects"), 0);
}

#[test]
fn expiry_is_held_during_client_pause() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let expired =
        |c: &mut RawConn| -> i64 { c.info_field("stats", "expired_keys").parse().unwrap() };
    let before = expired(&mut c);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "PX", "10"]),
        Frame::Simple("QUEUED".into())
    );
    c.cmd(&["SET", "bar", "foo", "PX", "10"]);
    c.cmd(&["CLIENT", "PAUSE", "50000", "WRITE"]);
    c.cmd(&["EXEC"]);
    srv.advance_clock(1000);
    // Logically expired for reads, but not removed while the pause lasts (the cron does not
    // remove them either).
    assert_eq!(c.cmd(&["GET", "foo"]), Frame::Null);
    assert_eq!(c.cmd(&["EXISTS", "bar"]), int(0));
    srv.wait_cron_runs(3);
    assert_eq!(expired(&mut c), before);
    assert_eq!(c.cmd(&["DBSIZE"]), int(2));
    assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), ok());
    c.cmd(&["GET", "foo"]);
    c.cmd(&["GET", "bar"]);
    assert_eq!(expired(&mut c), before + 2);
}

#[test]
fn cluster_commands_answer_as_a_server_without_cluster_support() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let disabled = cinnabar_testkit::err("ERR This instance has cluster support disabled");
    for cmd in [
        &["CLUSTER", "INFO"][..],
        &["CLUSTER", "HELP"],
        &["CLUSTER", "RESET", "HARD"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
    ] {
        assert_eq!(c.cmd(cmd), disabled, "{cmd:?}");
    }
    // Listed like every other container's subcommands.
    let list = text(&c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "cluster*"]));
    assert!(list.split(',').any(|n| n == "cluster|help"), "{list}");
    // A script cannot run it (it is flagged noscript).
    let e = text(&c.cmd(&["EVAL", "return redis.call('cluster','reset','hard')", "0"]));
    assert!(e.contains("not allowed"), "{e}");
}

#[test]
fn migrate_moves_keys_with_their_ttl_and_answers_nokey_for_none() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let mut a = src.raw();
    let mut b = dst.raw();
    let port = dst.addr().port().to_string();
    assert_eq!(
        a.cmd(&["MIGRATE", "127.0.0.1", &port, "nokey", "0", "1000"]),
        Frame::Simple("NOKEY".into())
    );
    a.cmd(&["SET", "k", "v", "EX", "100"]);
    a.cmd(&["RPUSH", "l", "1", "2"]);
    assert_eq!(
        a.cmd(&["MIGRATE", "127.0.0.1", &port, "k", "3", "1000"]),
        ok()
    );
    assert_eq!(a.cmd(&["EXISTS", "k"]), int(0));
    b.cmd(&["SELECT", "3"]);
    assert_eq!(b.cmd(&["GET", "k"]), cinnabar_testkit::bulk("v"));
    let ttl = text(&b.cmd(&["TTL", "k"])).parse::<i64>().unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");
    // COPY keeps the source; an existing key without REPLACE is the target's error.
    a.cmd(&["SET", "k", "w"]);
    let busy = text(&a.cmd(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "3",
        "1000",
        "COPY",
        "KEYS",
        "k",
        "l",
    ]));
    assert_eq!(
        busy,
        "ERR:ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(
        a.cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "",
            "3",
            "1000",
            "COPY",
            "REPLACE",
            "KEYS",
            "k",
            "l"
        ]),
        ok()
    );
    assert_eq!(a.cmd(&["EXISTS", "k", "l"]), int(2));
    assert_eq!(b.cmd(&["GET", "k"]), cinnabar_testkit::bulk("w"));
    assert_eq!(text(&b.cmd(&["LRANGE", "l", "0", "-1"])), "1,2");
    // Errors of our own.
    assert_eq!(
        text(&a.cmd(&["MIGRATE", "127.0.0.1", &port, "k", "3", "1000", "KEYS", "l"])),
        "ERR:ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    assert_eq!(
        text(&a.cmd(&["MIGRATE", "127.0.0.1", &port, "k", "3", "1000", "AUTH"])),
        "ERR:ERR syntax error"
    );
    let closed = cinnabar_testkit::free_port().to_string();
    assert_eq!(
        text(&a.cmd(&["MIGRATE", "127.0.0.1", &closed, "k", "3", "100"])),
        "ERR:IOERR error or timeout connecting to the client"
    );
}

#[test]
fn config_set_port_moves_the_listener_and_rolls_back_when_it_cannot() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let old = srv.addr().port().to_string();
    // Its own value: nothing to do.
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &old]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]), ok());
    // A port in use: Redis's error, and every parameter of the call keeps its old value.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let e = text(&c.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "10000001",
        "port",
        &taken_port,
        "hz",
        "50",
    ]));
    assert_eq!(
        e,
        "ERR:ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
    );
    assert_eq!(text(&c.cmd(&["CONFIG", "GET", "maxmemory"])), "maxmemory,0");
    assert_eq!(
        text(&c.cmd(&["CONFIG", "GET", "port"])),
        format!("port,{old}")
    );
    assert_eq!(text(&c.cmd(&["CONFIG", "GET", "hz"])), "hz,10");
    assert_eq!(text(&srv.raw().cmd(&["PING"])), "PONG");
    drop(taken);
    // A free port: new connections go there, the old port closes, this connection stays.
    let new = cinnabar_testkit::free_port();
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &new.to_string()]), ok());
    let new_addr = std::net::SocketAddr::from(([127, 0, 0, 1], new));
    let mut moved = RawConn::connect(new_addr);
    assert_eq!(moved.info_field("server", "tcp_port"), new.to_string());
    eventually(PATIENCE, "the old port to close", || {
        std::net::TcpStream::connect(srv.addr()).is_err()
    });
    assert_eq!(text(&c.cmd(&["PING"])), "PONG");
}

/// DEBUG OBJECT's `lru` field (the last access on a seconds clock), which CLIENT NO-TOUCH
/// leaves alone for GET and INCR.
#[test]
fn debug_object_lru_moves_with_access_but_not_in_no_touch_mode() {
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    let lru = |c: &mut RawConn, key: &str| -> u64 {
        let line = text(&c.cmd(&["DEBUG", "OBJECT", key]));
        line.split(' ')
            .find_map(|f| f.strip_prefix("lru:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no lru in {line}"))
    };
    c.cmd(&["SET", "foo", "bar"]);
    c.cmd(&["SET", "n", "1"]);
    let (foo0, n0) = (lru(&mut c, "foo"), lru(&mut c, "n"));
    assert!(foo0 > 0);
    assert_eq!(c.cmd(&["CLIENT", "NO-TOUCH", "ON"]), ok());
    srv.advance_clock(2000);
    c.cmd(&["GET", "foo"]);
    c.cmd(&["INCR", "n"]);
    assert_eq!((lru(&mut c, "foo"), lru(&mut c, "n")), (foo0, n0));
    assert_eq!(c.cmd(&["CLIENT", "NO-TOUCH", "OFF"]), ok());
    c.cmd(&["GET", "foo"]);
    c.cmd(&["INCR", "n"]);
    assert!(lru(&mut c, "foo") >= foo0 + 2);
    assert!(lru(&mut c, "n") >= n0 + 2);
}

/// With save rules, FLUSHALL saves the empty dataset at once (Redis's
/// flushAllDataAndResetRDB), so nothing counts as changed since; without, the count stays.
#[test]
fn flushall_with_save_rules_saves_and_resets_the_change_count() {
    let dir = cinnabar_testkit::temp_dir("flushall-save");
    let srv = TestServer::in_dir(&dir, &[("save", "")]);
    let mut c = srv.raw();
    let changes = |c: &mut RawConn| -> i64 {
        c.info_field("persistence", "rdb_changes_since_last_save")
            .parse()
            .unwrap()
    };
    c.cmd(&["SET", "key", "value"]);
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert!(changes(&mut c) > 0);
    assert!(!dir.join("dump.rdb").exists());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "save", "3600 1 300 100 60 10000"]),
        ok()
    );
    c.cmd(&["SET", "key", "value"]);
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_eq!(changes(&mut c), 0);
    assert!(dir.join("dump.rdb").exists());
}

/// Command-line options are turned into configuration lines as redis-server's main() does.
#[test]
fn command_line_options_follow_redis_server_rules() {
    use cinnabar_server::config::Config;
    let parse = |args: &[&str]| -> Result<Config, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Config::from_args(&v)
    };
    let err = |args: &[&str]| parse(args).err().expect("an error");
    assert!(err(&["--invalid"]).contains("Bad directive or wrong number of arguments"));
    let e = err(&["--port"]);
    assert!(
        e.contains("'port'") && e.contains("wrong number of arguments"),
        "{e}"
    );
    let e = err(&["--port", "6379", "6380"]);
    assert!(e.contains(r#"'port "6379" "6380"'"#), "{e}");
    let e = err(&["--port", "--loglevel", "verbose"]);
    assert!(e.contains(r#"'port "--loglevel" "verbose"'"#), "{e}");
    let e = err(&["--port", "--bla", "--loglevel", "verbose"]);
    assert!(
        e.contains(r#"'port "--bla"'"#) && e.contains("couldn't be parsed into an integer"),
        "{e}"
    );
    let e = err(&["--shutdown-on-sigint"]);
    assert!(
        e.contains("argument(s) must be one of the following"),
        "{e}"
    );
    let e = err(&["--replicaof", "127.0.0.1", "abc"]);
    assert!(
        e.contains(r#"'replicaof "127.0.0.1" "abc"'"#) && e.contains("Invalid master port"),
        "{e}"
    );
    let e = err(&["--replicaof", "--127.0.0.1", "--abc"]);
    assert!(
        e.contains(r#"'replicaof "--127.0.0.1"'"#) && e.contains("wrong number of arguments"),
        "{e}"
    );
    // Supported anyway: a bare first option, name and value in one argument, values that
    // start with `--`, and `--save` with no value.
    let conf = cinnabar_testkit::temp_dir("cmdline").join("empty.conf");
    std::fs::write(&conf, "").unwrap();
    let conf = conf.display().to_string();
    let c = parse(&[&conf, "loglevel", "verbose", "--maxmemory '700mb'"]).unwrap();
    assert_eq!(
        (c.get("loglevel"), c.get("maxmemory")),
        ("verbose".into(), "734003200".into())
    );
    let c = parse(&[
        "--proc-title-template",
        "--my--title--template",
        "--loglevel",
        "verbose",
    ])
    .unwrap();
    assert_eq!(c.get("proc-title-template"), "--my--title--template");
    for args in [
        &["--save", "--loglevel", "verbose"][..],
        &["--loglevel", "verbose", "--save"],
    ] {
        let c = parse(args).unwrap();
        assert_eq!(
            (c.get("save"), c.get("loglevel")),
            (String::new(), "verbose".into())
        );
    }
    let c = parse(&["--replicaof", "127.0.0.1 6380"]).unwrap();
    assert_eq!(c.get("replicaof"), "127.0.0.1 6380");
    let c = parse(&["--shutdown-on-sigint", "nosave", "force", "now"]).unwrap();
    assert_eq!(c.get("shutdown-on-sigint"), "nosave now force");
}

/// BGREWRITEAOF with the AOF off writes a base and a manifest; DEBUG LOADAOF loads the
/// dataset back from them, and with the AOF on from the base and what was logged since.
#[test]
fn aof_rewrite_while_off_and_debug_loadaof() {
    let dir = cinnabar_testkit::temp_dir("loadaof");
    let srv = TestServer::in_dir(&dir, &[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    c.cmd(&["SET", "x", "10"]);
    c.cmd(&["EXPIRE", "x", "1000"]);
    c.cmd(&["RPUSH", "l", "a", "b"]);
    let digest = text(&c.cmd(&["DEBUG", "DIGEST"]));
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Frame::Simple("Background append only file rewriting started".into())
    );
    assert!(dir
        .join("appendonlydir")
        .join("appendonly.aof.manifest")
        .exists());
    c.cmd(&["SET", "later", "1"]);
    assert_eq!(c.cmd(&["DEBUG", "LOADAOF"]), ok());
    assert_eq!(text(&c.cmd(&["DEBUG", "DIGEST"])), digest);
    assert_eq!(c.cmd(&["EXISTS", "later"]), int(0));
    let ttl: i64 = text(&c.cmd(&["TTL", "x"])).parse().unwrap();
    assert!(ttl > 900 && ttl <= 1000, "{ttl}");
    // With the AOF on: what was logged after the base comes back too, and logging goes on.
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), ok());
    eventually(PATIENCE, "the AOF to be on", || {
        c.info_field("persistence", "aof_enabled") == "1"
            && c.info_field("persistence", "aof_rewrite_in_progress") == "0"
    });
    c.cmd(&["SET", "y", "v"]);
    c.cmd(&["PEXPIRE", "y", "2000000"]);
    assert_eq!(c.cmd(&["DEBUG", "LOADAOF"]), ok());
    assert_eq!(c.cmd(&["GET", "y"]), cinnabar_testkit::bulk("v"));
    let pttl: i64 = text(&c.cmd(&["PTTL", "y"])).parse().unwrap();
    assert!(pttl > 1_900_000, "{pttl}");
    c.cmd(&["SET", "z", "after"]);
    assert_eq!(c.cmd(&["DEBUG", "LOADAOF"]), ok());
    assert_eq!(c.cmd(&["GET", "z"]), cinnabar_testkit::bulk("after"));
}

/// DEBUG CONFIG-REWRITE-FORCE-ALL writes every parameter, and the file loads back with the
/// same values.
#[test]
fn config_rewrite_force_all_round_trips() {
    let dir = cinnabar_testkit::temp_dir("force-all");
    let path = dir.join("c.conf");
    std::fs::write(
        &path,
        "port 0\nbind 127.0.0.1\nsave \"\"\nenable-debug-command yes\n",
    )
    .unwrap();
    let p = path.display().to_string();
    let config = cinnabar_server::config::Config::from_args(std::slice::from_ref(&p)).unwrap();
    let handle = cinnabar_server::start(config).unwrap();
    let mut c = RawConn::connect(handle.addr());
    assert_eq!(c.cmd(&["DEBUG", "CONFIG-REWRITE-FORCE-ALL"]), ok());
    let text_written = std::fs::read_to_string(&path).unwrap();
    assert!(
        text_written.contains("\nhz 10\n"),
        "defaults written: {text_written}"
    );
    let before = text(&c.cmd(&["CONFIG", "GET", "*"]));
    let again = cinnabar_server::config::Config::from_args(std::slice::from_ref(&p)).unwrap();
    handle.shutdown();
    let handle = cinnabar_server::start(again).unwrap();
    let mut c = RawConn::connect(handle.addr());
    assert_eq!(text(&c.cmd(&["CONFIG", "GET", "*"])), before);
    handle.shutdown();
}

/// `dir` and `dbfilename` are protected configs: CONFIG SET changes them only as
/// enable-protected-configs allows.
#[test]
fn protected_configs_follow_enable_protected_configs() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        text(&c.cmd(&["CONFIG", "SET", "dir", "somedir"])),
        "ERR:ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    );
    let dir = cinnabar_testkit::temp_dir("protected");
    let local = TestServer::with_args(&[("enable-protected-configs", "local")]);
    let d = dir.display().to_string();
    assert_eq!(local.raw().cmd(&["CONFIG", "SET", "dir", &d]), ok());
    assert_eq!(
        local.raw().cmd(&["CONFIG", "SET", "dbfilename", "x.rdb"]),
        ok()
    );
}
