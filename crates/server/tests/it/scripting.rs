//! Lua scripting: EVAL/EVALSHA/SCRIPT, the redis API, conversions, errors, FUNCTION/FCALL,
//! and isolation of scripts on a multi-threaded server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, eventually, int, ok, RawConn, TestServer, PATIENCE};

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

fn conn(srv: &TestServer) -> redis::Connection {
    redis::Client::open(srv.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn eval(c: &mut RawConn, script: &str, keys: &[&str], args: &[&str]) -> Frame {
    let n = keys.len().to_string();
    let mut words = vec!["EVAL", script, &n];
    words.extend_from_slice(keys);
    words.extend_from_slice(args);
    c.cmd(&words)
}

fn error_text(f: &Frame) -> String {
    match f {
        Frame::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn keys_argv_and_reply_conversions() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        eval(
            &mut c,
            "return {KEYS[1], KEYS[2], ARGV[1]}",
            &["a", "b"],
            &["x"]
        ),
        arr(vec![bulk("a"), bulk("b"), bulk("x")])
    );
    // Numbers truncate to integers, true is 1, false is nil, an array stops at the first nil.
    assert_eq!(
        eval(&mut c, "return {1, 2.9, -3.7, true, false, 'x'}", &[], &[]),
        arr(vec![
            int(1),
            int(2),
            int(-3),
            int(1),
            Frame::Null,
            bulk("x")
        ])
    );
    assert_eq!(
        eval(&mut c, "return {1, nil, 3}", &[], &[]),
        arr(vec![int(1)])
    );
    assert_eq!(eval(&mut c, "return nil", &[], &[]), Frame::Null);
    assert_eq!(
        eval(&mut c, "return {ok='fine'}", &[], &[]),
        Frame::Simple("fine".into())
    );
    assert_eq!(
        eval(&mut c, "return redis.status_reply('STATUS')", &[], &[]),
        Frame::Simple("STATUS".into())
    );
    assert_eq!(
        eval(&mut c, "return {err='My Error'}", &[], &[]),
        err("My Error")
    );
    assert_eq!(
        eval(&mut c, "return redis.error_reply('MY_CODE oops')", &[], &[]),
        err("MY_CODE oops")
    );
    assert_eq!(
        eval(&mut c, "return redis.error_reply('nocode')", &[], &[]),
        err("ERR nocode")
    );
    // Command replies to Lua: integers are numbers, missing values false, status tables.
    c.cmd(&["SET", "s", "v"]);
    assert_eq!(
        eval(
            &mut c,
            "local t = {} t[1] = type(redis.call('incr', 'n')) t[2] = tostring(redis.call('get', 'nothing')) t[3] = redis.call('set', 'k', 'v').ok t[4] = redis.call('get', 's') return t",
            &[],
            &[]
        ),
        arr(vec![bulk("number"), bulk("false"), bulk("OK"), bulk("v")])
    );
    // Lua numbers as arguments: integers print without a fraction.
    assert_eq!(
        eval(
            &mut c,
            "redis.call('set', 'num', 42) return redis.call('get', 'num')",
            &[],
            &[]
        ),
        bulk("42")
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.call('set', 'num', 1.5) return redis.call('get', 'num')",
            &[],
            &[]
        ),
        bulk("1.5")
    );
}

#[test]
fn resp3_conversions_with_setresp() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["HSET", "h", "f", "v"]);
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3) return redis.call('hgetall', 'h')",
            &[],
            &[]
        ),
        Frame::Map(vec![(bulk("f"), bulk("v"))])
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3) return {true, false, {double=1.5}}",
            &[],
            &[]
        ),
        arr(vec![
            Frame::Boolean(true),
            Frame::Boolean(false),
            Frame::Double(1.5)
        ])
    );
    // The map reply arrives in Lua as {map={...}}.
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3) return redis.call('hgetall', 'h').map.f",
            &[],
            &[]
        ),
        bulk("v")
    );
}

#[test]
fn evalsha_script_load_exists_flush() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    assert_eq!(c.cmd(&["SCRIPT", "LOAD", "return 1"]), bulk(sha));
    assert_eq!(c.cmd(&["EVALSHA", sha, "0"]), int(1));
    assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "0"]), int(1));
    assert_eq!(
        c.cmd(&[
            "SCRIPT",
            "EXISTS",
            sha,
            "ffffffffffffffffffffffffffffffffffffffff"
        ]),
        arr(vec![int(1), int(0)])
    );
    // EVAL caches the script too: EVALSHA works on any connection afterwards.
    eval(&mut c, "return 2", &[], &[]);
    let mut other = srv.raw();
    assert_eq!(
        other.cmd(&["EVALSHA", "7f923f79fe76194c868d7e1d0820de36700eb649", "0"]),
        int(2)
    );
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH"]), ok());
    assert_eq!(
        c.cmd(&["EVALSHA", sha, "0"]),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(
        c.cmd(&["EVALSHA", "short", "0"]),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(
        c.cmd(&["SCRIPT", "FLUSH", "LATER"]),
        err("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    );
}

#[test]
fn errors_have_redis_format() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let e = error_text(&eval(&mut c, "return redis.call('nosuch')", &[], &[]));
    assert!(
        e.starts_with("ERR Unknown Redis command called from script script: ")
            && e.ends_with(", on @user_script:1."),
        "{e}"
    );
    let e = error_text(&eval(&mut c, "return redis.call('get')", &[], &[]));
    assert!(
        e.starts_with("ERR Wrong number of args calling Redis command from script"),
        "{e}"
    );
    c.cmd(&["SET", "str", "x"]);
    let e = error_text(&eval(
        &mut c,
        "\nreturn redis.call('incr', 'str')",
        &[],
        &[],
    ));
    assert!(
        e.starts_with("ERR value is not an integer or out of range script: ")
            && e.ends_with("on @user_script:2."),
        "{e}"
    );
    let e = error_text(&eval(
        &mut c,
        "return redis.call('lpush', 'str', 1)",
        &[],
        &[],
    ));
    assert!(e.starts_with("WRONGTYPE Operation against a key"), "{e}");
    // pcall gets the error as a value.
    assert_eq!(
        eval(&mut c, "return redis.pcall('incr', 'str')", &[], &[]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        eval(
            &mut c,
            "local ok, e = pcall(redis.call, 'incr', 'str') return e",
            &[],
            &[]
        ),
        bulk("ERR value is not an integer or out of range")
    );
    let e = error_text(&eval(&mut c, "error('boom')", &[], &[]));
    assert!(e.starts_with("ERR user_script:1: boom script: "), "{e}");
    let e = error_text(&eval(&mut c, "return 'x' ..", &[], &[]));
    assert!(
        e.starts_with("ERR Error compiling script (new function): user_script:1:"),
        "{e}"
    );
    let e = error_text(&eval(&mut c, "return redis.call('get', {})", &[], &[]));
    assert!(
        e.contains("Lua redis lib command arguments must be strings or integers"),
        "{e}"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "2", "a"]),
        err("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "-1"]),
        err("ERR Number of keys can't be negative")
    );
    // Commands that are not allowed in scripts.
    let e = error_text(&eval(&mut c, "return redis.call('multi')", &[], &[]));
    assert!(
        e.starts_with("ERR This Redis command is not allowed from script"),
        "{e}"
    );
}

#[test]
fn globals_are_protected() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for script in [
        "a = 1",
        "redis = 1",
        "_G = {}",
        "redis.call = 1",
        "string.len = 1",
        "setmetatable(_G, {})",
    ] {
        let e = error_text(&eval(&mut c, script, &[], &[]));
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{script}: {e}"
        );
    }
    let e = error_text(&eval(&mut c, "return undefined_thing", &[], &[]));
    assert!(
        e.contains("Script attempted to access nonexistent global variable 'undefined_thing'"),
        "{e}"
    );
    for gone in ["print", "dofile", "loadfile", "debug"] {
        let e = error_text(&eval(&mut c, &format!("return {gone}"), &[], &[]));
        assert!(e.contains("nonexistent global variable"), "{gone}: {e}");
    }
    // Local variables and functions are fine; globals do not leak between runs.
    assert_eq!(
        eval(
            &mut c,
            "local x = 5 local function f() return x * 2 end return f()",
            &[],
            &[]
        ),
        int(10)
    );
    // Bytecode is refused.
    let e = error_text(&eval(
        &mut c,
        "return loadstring(string.dump(function() return 1 end))()",
        &[],
        &[],
    ));
    assert!(e.contains("attempt to call a nil value"), "{e}");
}

#[test]
fn read_only_scripts_and_shebang_flags() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]),
        bulk("v")
    );
    let e = error_text(&c.cmd(&["EVAL_RO", "return redis.call('set', 'k', 'x')", "0"]));
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    let e = error_text(&eval(
        &mut c,
        "#!lua flags=no-writes\nreturn redis.call('del', 'k')",
        &[],
        &[],
    ));
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "#!lua\nreturn 1", "0"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        eval(&mut c, "#!lua flags=bogus\nreturn 1", &[], &[]),
        err("ERR Unexpected flag in script shebang: bogus")
    );
    assert_eq!(
        eval(&mut c, "#!ruby\nreturn 1", &[], &[]),
        err("ERR Unexpected engine in script shebang: #!ruby")
    );
    // The shebang line keeps line numbers.
    let e = error_text(&eval(&mut c, "#!lua\n\nerror('x')", &[], &[]));
    assert!(e.contains("user_script:3: x"), "{e}");
}

#[test]
fn select_inside_a_script_does_not_leak() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        eval(
            &mut c,
            "redis.call('select', 5) redis.call('set', 'in5', 'yes') return 1",
            &[],
            &[]
        ),
        int(1)
    );
    assert_eq!(c.cmd(&["GET", "in5"]), Frame::Null);
    c.cmd(&["SELECT", "5"]);
    assert_eq!(c.cmd(&["GET", "in5"]), bulk("yes"));
}

#[test]
fn undeclared_keys_and_keyspace_commands_work() {
    let srv = TestServer::with_args(&[("threads", "2")]);
    let mut c = srv.raw();
    // Touch many keys that were not declared: every shard they live in is locked on demand.
    assert_eq!(
        eval(
            &mut c,
            "for i = 1, 200 do redis.call('set', 'u:' .. i, i) end return redis.call('dbsize')",
            &[],
            &[]
        ),
        int(200)
    );
    assert_eq!(
        eval(&mut c, "return #redis.call('keys', 'u:*')", &[], &[]),
        int(200)
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.call('flushdb') return redis.call('dbsize')",
            &[],
            &[]
        ),
        int(0)
    );
}

#[test]
fn blocking_commands_do_not_block_in_scripts() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        eval(&mut c, "return redis.call('blpop', 'empty', 0)", &[], &[]),
        Frame::Null
    );
    c.cmd(&["RPUSH", "l", "a"]);
    assert_eq!(
        eval(&mut c, "return redis.call('blpop', 'l', 0)", &[], &[]),
        arr(vec![bulk("l"), bulk("a")])
    );
}

#[test]
fn sort_by_constant_is_ordered_in_scripts() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SADD", "s", "b", "c", "a", "aa"]);
    assert_eq!(
        eval(
            &mut c,
            "return redis.call('sort', KEYS[1], 'by', 'nosort')",
            &["s"],
            &[]
        ),
        arr(vec![bulk("a"), bulk("aa"), bulk("b"), bulk("c")])
    );
}

#[test]
fn a_push_inside_a_script_wakes_a_blocked_client_after_the_script() {
    let srv = TestServer::start();
    let mut waiter = srv.raw();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    let mut c = srv.raw();
    c.wait_blocked(1);
    assert_eq!(
        eval(
            &mut c,
            "redis.call('rpush', 'q', 'x') return redis.call('llen', 'q')",
            &[],
            &[]
        ),
        int(1)
    );
    assert_eq!(waiter.read(), arr(vec![bulk("q"), bulk("x")]));
}

#[test]
fn functions_load_call_list_delete() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let lib = "#!lua name=mylib\n\
               redis.register_function('myset', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
               redis.register_function{function_name='myget', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), bulk("mylib"));
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", lib]),
        err("ERR Library 'mylib' already exists")
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", "REPLACE", lib]), bulk("mylib"));
    assert_eq!(c.cmd(&["FCALL", "myset", "1", "k", "v"]), ok());
    assert_eq!(c.cmd(&["FCALL", "MYGET", "1", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["FCALL_RO", "myget", "1", "k"]), bulk("v"));
    assert_eq!(
        c.cmd(&["FCALL_RO", "myset", "1", "k", "v"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        c.cmd(&["FCALL", "nope", "0"]),
        err("ERR Function not found")
    );
    assert_eq!(
        c.cmd(&["FCALL", "myget", "x"]),
        err("ERR Bad number of keys provided")
    );
    // Another connection (possibly another thread) sees the library.
    let mut other = srv.raw();
    assert_eq!(other.cmd(&["FCALL", "myget", "1", "k"]), bulk("v"));
    let list = c.cmd(&["FUNCTION", "LIST"]);
    let text = format!("{list:?}");
    assert!(
        text.contains("mylib")
            && text.contains("myget")
            && text.contains("no-writes")
            && text.contains("reads"),
        "{text}"
    );
    // A second library cannot take an existing function name.
    assert_eq!(
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=other\nredis.register_function('myget', function() return 1 end)"
        ]),
        err("ERR Function myget already exists")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=empty\nlocal a = 1"]),
        err("ERR No functions registered")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "return 1"]),
        err("ERR Missing library metadata")
    );
    let e = error_text(&c.cmd(&["FUNCTION", "LOAD", "#!lua name=bad\nredis.call('ping')"]));
    assert!(e.contains("nonexistent global variable 'call'"), "{e}");
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "mylib"]), ok());
    assert_eq!(
        c.cmd(&["FCALL", "myget", "1", "k"]),
        err("ERR Function not found")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "mylib"]),
        err("ERR Library not found")
    );
    c.cmd(&["FUNCTION", "LOAD", lib]);
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), ok());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), arr(vec![]));
}

#[test]
fn function_load_times_out() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let e = error_text(&c.cmd(&["FUNCTION", "LOAD", "#!lua name=slow\nwhile true do end"]));
    assert!(e.contains("FUNCTION LOAD timeout"), "{e}");
    // The server is fine afterwards.
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn busy_script_gets_busy_errors_and_script_kill_even_with_one_worker() {
    let srv = TestServer::with_args(&[("threads", "1"), ("busy-reply-threshold", "50")]);
    let mut runner = srv.raw();
    runner.send(&[b"EVAL", b"while true do end", b"0"]);
    let mut other = srv.raw();
    // Past busy-reply-threshold, other clients get BUSY (before the script starts, GET
    // simply runs).
    let e = eventually(PATIENCE, "the script to be reported busy", || {
        match other.cmd(&["GET", "x"]) {
            Frame::Error(e) => Some(e),
            _ => None,
        }
    });
    assert!(e.starts_with("BUSY Redis is busy running a script"), "{e}");
    // HELLO is allowed during a busy script, as in Redis (its SETNAME applies at once).
    let hello = other.cmd(&["HELLO", "2", "SETNAME", "while-busy"]);
    assert!(
        cinnabar_testkit::text(&hello).starts_with("server,redis,version,"),
        "{hello:?}"
    );
    // Commands Redis also runs during a busy script but that need the connection's own state
    // (a protocol switch, WATCH, RESET...) are run when the script ends, in order with what
    // the client sent after them.
    let mut third = srv.raw();
    third.send(&[b"HELLO", b"3"]);
    third.send(&[b"WATCH", b"x"]);
    third.send(&[b"RESET"]);
    third.send(&[b"PING"]);
    other.cmd(&["PING"]);
    assert!(!third.has_reply(), "answered before the script ended");
    // A transaction started meanwhile fails as in Redis.
    assert_eq!(other.cmd(&["MULTI"]), ok());
    assert!(error_text(&other.cmd(&["INCR", "x"])).starts_with("BUSY"));
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), ok());
    let e = error_text(&runner.read());
    assert!(e.contains("Script killed by user with SCRIPT KILL"), "{e}");
    assert_eq!(
        other.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(other.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(
        cinnabar_testkit::text(&other.cmd(&["CLIENT", "GETNAME"])),
        "while-busy"
    );
    assert!(
        matches!(third.read(), Frame::Map(_)),
        "HELLO 3's map expected"
    );
    assert_eq!(third.read(), ok());
    assert_eq!(third.read(), Frame::Simple("RESET".into()));
    assert_eq!(third.read(), Frame::Simple("PONG".into()));
    assert_eq!(runner.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]),
        err("NOTBUSY No scripts in execution right now.")
    );
}

/// Clients that connect while a worker is stuck in a script and are handed to that worker
/// (the acceptor deals them out in turn) are answered by the busy responder; they would
/// otherwise wait, unread, until the script ends.
#[test]
fn clients_connecting_to_a_stuck_worker_are_answered() {
    let srv = TestServer::with_args(&[("threads", "2"), ("busy-reply-threshold", "50")]);
    // Two clients accepted one after the other are on different workers: the script runs
    // from each in turn, so that one of the rounds sticks the worker that does not accept.
    let mut pair = [srv.raw(), srv.raw()];
    for round in 0..2 {
        let (a, b) = pair.split_at_mut(1);
        let (runner, other) = if round == 0 {
            (&mut a[0], &mut b[0])
        } else {
            (&mut b[0], &mut a[0])
        };
        runner.send(&[b"EVAL", b"while true do end", b"0"]);
        eventually(PATIENCE, "the script to be reported busy", || {
            matches!(other.cmd(&["GET", "x"]), Frame::Error(_)).then_some(())
        });
        // Four new clients: two of them go to the stuck worker.
        let mut late: Vec<_> = (0..4).map(|_| srv.raw()).collect();
        for c in &mut late {
            let e = error_text(&c.cmd(&["PING"]));
            assert!(e.starts_with("BUSY Redis is busy running a script"), "{e}");
        }
        assert_eq!(late[0].cmd(&["SCRIPT", "KILL"]), ok());
        let e = error_text(&runner.read());
        assert!(e.contains("Script killed by user with SCRIPT KILL"), "{e}");
        for c in &mut late {
            assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
        }
    }
}

#[test]
fn a_script_that_wrote_cannot_be_killed() {
    let srv = TestServer::with_args(&[
        ("threads", "2"),
        ("busy-reply-threshold", "50"),
        ("enable-debug-command", "yes"),
    ]);
    let mut runner = srv.raw();
    // A script that ends by itself after 1.5 s (TIME is frozen inside a script, so it
    // sleeps), with Lua loops between the sleeps for the busy check to run.
    assert_eq!(
        runner.cmd(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]),
        ok()
    );
    runner.send(&[
        b"EVAL",
        b"redis.call('set', 'w', 1) \
          for i = 1, 30 do redis.call('debug', 'sleep', '0.05') for j = 1, 300000 do end end \
          return 'done'",
        b"0",
    ]);
    let mut other = srv.raw();
    // Wait for the script to become busy (NOTBUSY until then), then try to kill it.
    let e = eventually(PATIENCE, "the script to be busy", || {
        let e = error_text(&other.cmd(&["SCRIPT", "KILL"]));
        (!e.starts_with("NOTBUSY")).then_some(e)
    });
    assert!(e.starts_with("UNKILLABLE"), "{e}");
    assert_eq!(runner.read(), bulk("done"));
}

/// A token bucket in Lua, run by many clients at once on several worker threads against a
/// handful of buckets, while readers watch: every grant is counted exactly once.
#[test]
fn concurrent_lua_token_bucket_is_exact() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    const SCRIPT: &str = "
        local tokens = tonumber(redis.call('get', KEYS[1]) or ARGV[1])
        if tokens > 0 then
            redis.call('set', KEYS[1], tokens - 1)
            redis.call('incr', KEYS[2])
            return 1
        end
        return 0";
    let buckets = 4;
    let capacity = 500;
    let clients = 8;
    let attempts = 400;
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let mut c = conn(&srv);
            std::thread::spawn(move || {
                let mut granted = 0i64;
                for i in 0..attempts {
                    let b = (t + i) % buckets;
                    let r: i64 = redis::cmd("EVAL")
                        .arg(SCRIPT)
                        .arg(2)
                        .arg(format!("bucket:{b}"))
                        .arg(format!("granted:{b}"))
                        .arg(capacity)
                        .query(&mut c)
                        .unwrap();
                    granted += r;
                }
                granted
            })
        })
        .collect();
    let total: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut c = conn(&srv);
    let mut counted = 0;
    for b in 0..buckets {
        let left: i64 = redis::cmd("GET")
            .arg(format!("bucket:{b}"))
            .query(&mut c)
            .unwrap();
        let granted: i64 = redis::cmd("GET")
            .arg(format!("granted:{b}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(left + granted, capacity as i64, "bucket {b}");
        counted += granted;
    }
    assert_eq!(total, counted);
    // More attempts than tokens: every token was granted, none twice.
    assert_eq!(total, (buckets * capacity) as i64);
}

/// Scripts that touch keys they did not declare are still isolated: a script moving units
/// between undeclared keys never lets a reader see a torn total.
#[test]
fn scripts_with_undeclared_keys_are_isolated() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let mut c = conn(&srv);
    let accounts = 16;
    for i in 0..accounts {
        let _: () = redis::cmd("SET")
            .arg(format!("acct:{i}"))
            .arg(100)
            .query(&mut c)
            .unwrap();
    }
    const MOVE: &str = "
        local from = 'acct:' .. ARGV[1]
        local to = 'acct:' .. ARGV[2]
        redis.call('decrby', from, 1)
        redis.call('incrby', to, 1)
        return 1";
    const TOTAL: &str = "
        local sum = 0
        for i = 0, tonumber(ARGV[1]) - 1 do sum = sum + tonumber(redis.call('get', 'acct:' .. i)) end
        return sum";
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..4)
        .map(|t| {
            let mut c = conn(&srv);
            std::thread::spawn(move || {
                for i in 0..500usize {
                    let from = (i * 7 + t) % accounts;
                    let to = (i * 3 + t + 1) % accounts;
                    let _: i64 = redis::cmd("EVAL")
                        .arg(MOVE)
                        .arg(0)
                        .arg(from)
                        .arg(to)
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let mut c = conn(&srv);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let sum: i64 = redis::cmd("EVAL")
                    .arg(TOTAL)
                    .arg(0)
                    .arg(accounts)
                    .query(&mut c)
                    .unwrap();
                assert_eq!(sum, 100 * accounts as i64);
                // MGET (not a script) must not see a torn total either.
                let keys: Vec<String> = (0..accounts).map(|i| format!("acct:{i}")).collect();
                let vals: Vec<i64> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
                assert_eq!(vals.iter().sum::<i64>(), 100 * accounts as i64);
                reads += 1;
            }
            reads
        })
    };
    for m in movers {
        m.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

/// The classic fixed-window rate limiter: INCR + EXPIRE in MULTI from many clients.
#[test]
fn concurrent_multi_incr_expire_is_exact() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = conn(&srv);
            std::thread::spawn(move || {
                for _ in 0..300 {
                    let (n, _): (i64, i64) = redis::pipe()
                        .atomic()
                        .cmd("INCR")
                        .arg("window")
                        .cmd("EXPIRE")
                        .arg("window")
                        .arg(60)
                        .query(&mut c)
                        .unwrap();
                    assert!(n >= 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = conn(&srv);
    let n: i64 = redis::cmd("GET").arg("window").query(&mut c).unwrap();
    assert_eq!(n, 2400);
    let ttl: i64 = redis::cmd("TTL").arg("window").query(&mut c).unwrap();
    assert!(ttl > 0 && ttl <= 60);
}

#[test]
fn eval_inside_multi_runs_at_exec() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]),
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('incr', 'undeclared')", "0"]),
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(1), int(1)]));
}

#[test]
fn info_reports_cached_scripts_and_functions() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SCRIPT", "LOAD", "return 1"]);
    c.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=l\nredis.register_function('f', function() return 1 end)",
    ]);
    let Frame::Bulk(info) = c.cmd(&["INFO", "memory"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("number_of_cached_scripts:1"), "{info}");
    assert!(info.contains("number_of_functions:1"), "{info}");
    assert!(info.contains("number_of_libraries:1"), "{info}");
}

#[test]
fn errorstats_count_error_replies_by_code() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "s", "x"]);
    c.cmd(&["INCR", "s"]);
    c.cmd(&["LPUSH", "s", "a"]);
    c.cmd(&["NOSUCHCOMMAND"]);
    eval(
        &mut c,
        "return redis.error_reply('MY_ERR_CODE custom')",
        &[],
        &[],
    );
    let Frame::Bulk(info) = c.cmd(&["INFO", "errorstats"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("errorstat_ERR:count=2\r\n"), "{info}");
    assert!(info.contains("errorstat_WRONGTYPE:count=1\r\n"), "{info}");
    assert!(info.contains("errorstat_MY_ERR_CODE:count=1\r\n"), "{info}");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    let Frame::Bulk(info) = c.cmd(&["INFO", "errorstats"]) else {
        panic!()
    };
    assert!(!String::from_utf8_lossy(&info).contains("errorstat_"));
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS 1 lets scripts call `noscript` commands (Redis's test knob,
/// used with DEBUG PROTOCOL); 0 restores the refusal.
#[test]
fn debug_set_disable_deny_scripts_lets_noscript_commands_run() {
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    let script = "return redis.call('debug', 'protocol', 'bignum')";
    let refused = cinnabar_testkit::text(&c.cmd(&["EVAL", script, "0"]));
    assert!(
        refused.contains("This Redis command is not allowed from script"),
        "{refused}"
    );
    assert_eq!(c.cmd(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]), ok());
    assert_eq!(
        cinnabar_testkit::text(&c.cmd(&["EVAL", script, "0"])),
        "1234567999999999999999999999999999999"
    );
    assert_eq!(c.cmd(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"]), ok());
    let refused = cinnabar_testkit::text(&c.cmd(&["EVAL", script, "0"]));
    assert!(refused.contains("not allowed from script"), "{refused}");
}

/// A script and a transaction each run at one time, the time they started (Redis's
/// commandTimeSnapshot): a key set to expire in 1 ms still exists after a 10 ms sleep inside
/// the script, every TIME inside reads the same value, and expirations set at different
/// moments of the script are the same deadline.
#[test]
fn time_is_frozen_for_a_whole_script_or_transaction() {
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    // DEBUG SLEEP from a script, as Redis's own test does.
    assert_eq!(c.cmd(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]), ok());
    let script = "redis.call('SET', KEYS[1], 'v', 'PX', 1) \
                  redis.call('DEBUG', 'SLEEP', '0.01') \
                  return redis.call('EXISTS', KEYS[1])";
    assert_eq!(eval(&mut c, script, &["k"], &[]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));

    let script = "local a = redis.call('TIME') \
                  redis.call('DEBUG', 'SLEEP', '0.01') \
                  local b = redis.call('TIME') \
                  return {a[1], a[2], b[1], b[2]}";
    let Frame::Array(t) = eval(&mut c, script, &[], &[]) else {
        panic!("TIME pairs expected")
    };
    assert_eq!(t[0..2], t[2..4], "TIME moved inside a script");

    let script = "redis.call('SET', KEYS[1], 'v', 'PX', 5000) \
                  redis.call('DEBUG', 'SLEEP', '0.01') \
                  redis.call('SET', KEYS[2], 'v') \
                  redis.call('PEXPIRE', KEYS[2], 5000) \
                  redis.call('DEBUG', 'SLEEP', '0.01') \
                  return {redis.call('PEXPIRETIME', KEYS[1]), redis.call('PEXPIRETIME', KEYS[2]), \
                          redis.call('PTTL', KEYS[1])}";
    let Frame::Array(t) = eval(&mut c, script, &["a{t}", "b{t}"], &[]) else {
        panic!("deadlines expected")
    };
    assert_eq!(
        t[0], t[1],
        "deadlines set at different moments of one script differ"
    );
    assert_eq!(
        t[2],
        int(5000),
        "PTTL inside the script counts from its start"
    );

    // A transaction is one unit too.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    c.cmd(&["TIME"]);
    c.cmd(&["DEBUG", "SLEEP", "0.01"]);
    c.cmd(&["TIME"]);
    let Frame::Array(r) = c.cmd(&["EXEC"]) else {
        panic!("EXEC's replies expected")
    };
    assert_eq!(r[0], r[2], "TIME moved inside a transaction");

    // Outside a unit the clock moves: two TIMEs 10 ms apart differ.
    let a = c.cmd(&["TIME"]);
    c.cmd(&["DEBUG", "SLEEP", "0.01"]);
    assert_ne!(a, c.cmd(&["TIME"]));
}
