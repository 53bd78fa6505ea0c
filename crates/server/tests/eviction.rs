//! maxmemory and eviction: each policy's choice of keys (LRU keeps recently used keys, LFU
//! frequently used ones, volatile-* only keys with a deadline, volatile-ttl the shortest
//! deadlines first), OOM replies under noeviction and when nothing can be evicted (plain
//! commands, MULTI/EXEC, scripts), CONFIG SET maxmemory below the current use, and the side
//! effects of an eviction: the `evicted` event, WATCH, client tracking.
//!
//! used_memory counts the whole process, and this file's tests run in one process: each
//! test holds [`serial`] so that only one server is busy at a time. Limits are set relative
//! to the memory in use, as Redis's own maxmemory tests do.

use std::sync::Mutex;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, text, RawConn, TestServer};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A field of INFO (any section) as a number.
fn info(c: &mut RawConn, field: &str) -> u64 {
    let reply = c.cmd(&["INFO", "everything"]);
    let body = match &reply {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Verbatim { text, .. } => String::from_utf8_lossy(text).into_owned(),
        other => panic!("INFO answered {other:?}"),
    };
    body.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number"))
}

/// Polls `cond` until it holds (eviction down to a new limit runs in the background).
fn eventually(what: &str, cond: impl FnMut() -> bool) {
    cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, what, cond);
}

fn value(n: usize) -> String {
    "v".repeat(n)
}

/// Writes keys `{prefix}{i}` for i in range, each with a 1000-byte value, pipelined.
fn fill(c: &mut RawConn, prefix: &str, range: std::ops::Range<usize>, ex: Option<u64>) {
    let v = value(1000);
    let n = range.len();
    for i in range {
        let key = format!("{prefix}{i}");
        match ex {
            Some(secs) => c.send(&[
                b"SET",
                key.as_bytes(),
                v.as_bytes(),
                b"EX",
                secs.to_string().as_bytes(),
            ]),
            None => c.send(&[b"SET", key.as_bytes(), v.as_bytes()]),
        }
    }
    for _ in 0..n {
        assert_eq!(c.read(), ok());
    }
}

fn exists(c: &mut RawConn, key: &str) -> bool {
    c.cmd(&["EXISTS", key]) == int(1)
}

/// Keys of `prefix{i}`, i in range, that still exist.
fn surviving(c: &mut RawConn, prefix: &str, range: std::ops::Range<usize>) -> Vec<usize> {
    range
        .filter(|i| exists(c, &format!("{prefix}{i}")))
        .collect()
}

/// Memory as the limit counts it (used_memory minus the buffers eviction does not count,
/// INFO mem_not_counted_for_evict, as in Redis) is within `limit`.
fn under_limit(c: &mut RawConn, limit: u64) -> bool {
    info(c, "used_memory").saturating_sub(info(c, "mem_not_counted_for_evict")) <= limit
}

/// Sets maxmemory `below` bytes under the current use and waits until eviction got there.
fn squeeze(c: &mut RawConn, below: u64) -> u64 {
    let limit = info(c, "used_memory") - below;
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]),
        ok()
    );
    eventually("used_memory under maxmemory", || under_limit(c, limit));
    limit
}

fn server(policy: &str) -> (TestServer, RawConn) {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]), ok());
    // Near-exact ranking, so the assertions on which keys go need no statistics.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-samples", "64"]), ok());
    (srv, c)
}

// ---------------------------------------------------------------------------------------
// OOM
// ---------------------------------------------------------------------------------------

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SET", "n", "1"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]), err(OOM));
    assert_eq!(c.cmd(&["INCR", "n"]), err(OOM));
    assert_eq!(c.cmd(&["LPUSH", "l", "a"]), err(OOM));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(1));
    assert_eq!(c.cmd(&["DEL", "k"]), int(1));
    // Not deny-oom: EXPIRE, and commands that free memory.
    assert_eq!(c.cmd(&["EXPIRE", "n", "100"]), int(1));
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    // Nothing left to free, still over: writes keep failing, and INFO says why.
    assert_eq!(c.cmd(&["SET", "x", "1"]), err(OOM));
    assert_eq!(info(&mut c, "maxmemory"), 1);
    assert_eq!(info(&mut c, "evicted_keys"), 0);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]), ok());
}

#[test]
fn maxmemory_accepts_units_and_reports_them() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "100mb"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        Frame::Array(vec![bulk("maxmemory"), bulk("104857600")])
    );
    assert_eq!(info(&mut c, "maxmemory"), 104_857_600);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1gb"]), ok());
    assert_eq!(info(&mut c, "maxmemory"), 1 << 30);
    let body = text(&c.cmd(&["INFO", "memory"]));
    assert!(body.contains("maxmemory_human:1.00G\r\n"), "{body}");
    assert!(body.contains("maxmemory_policy:noeviction\r\n"), "{body}");
    for field in [
        "used_memory_human:",
        "used_memory_rss:",
        "used_memory_rss_human:",
        "used_memory_peak_human:",
        "mem_fragmentation_ratio:",
        "allocator_frag_ratio:",
        "mem_not_counted_for_evict:0\r\n",
    ] {
        assert!(body.contains(field), "{field} missing in {body}");
    }
    assert!(info(&mut c, "used_memory_rss") > 0);
    assert!(info(&mut c, "used_memory_peak") >= info(&mut c, "used_memory_startup"));
    for name in [
        "maxmemory-samples",
        "maxmemory-eviction-tenacity",
        "lfu-log-factor",
        "lfu-decay-time",
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, "7"]), ok());
    }
}

#[test]
fn multi_under_oom_follows_redis() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut admin = srv.raw();
    c.cmd(&["SET", "x", "value"]);
    // Queued before memory ran out: EXEC of reads only runs; with a write it is aborted.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    c.cmd(&["GET", "x"]);
    c.cmd(&["PING"]);
    admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![bulk("value"), Frame::Simple("PONG".into())])
    );
    admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    c.cmd(&["SET", "x", "1"]);
    c.cmd(&["GET", "x"]);
    admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        err(&format!(
            "EXECABORT Transaction discarded because of: {OOM}"
        ))
    );
    // The transaction is gone.
    assert_eq!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    // While memory is full, queueing anything is refused, DISCARD is not.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["GET", "x"]), err(OOM));
    assert_eq!(c.cmd(&["DISCARD"]), ok());
    admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(c.cmd(&["GET", "x"]), bulk("value"));
}

#[test]
fn scripts_under_oom_follow_their_flags() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "x", "123"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    // No shebang: runs, but its first deny-oom write fails.
    let Frame::Error(e) = c.cmd(&["EVAL", "redis.call('set','x',1) return 1", "1", "x"]) else {
        panic!("the write was not refused")
    };
    assert!(e.starts_with(OOM), "{e}");
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('get','x')", "1", "x"]),
        bulk("123")
    );
    // Declared flags without allow-oom: refused before running.
    assert_eq!(c.cmd(&["EVAL", "#!lua flags=\nreturn 1", "0"]), err(OOM));
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "#!lua flags=allow-oom\nredis.call('set','x',1)\nreturn 1",
            "1",
            "x"
        ]),
        int(1)
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get','x')",
            "0"
        ]),
        bulk("1")
    );
    // Inside MULTI (queued before OOM) a flagged script gets Redis's allow-oom error.
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    c.cmd(&["EVAL", "#!lua flags=\nreturn 1", "0"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            err("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'")
        ])
    );
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
}

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

/// DUMP payload of a 1000-byte string, to create keys with a chosen idle time or frequency.
fn payload(c: &mut RawConn) -> Vec<u8> {
    c.cmd(&["SET", "tmp", &value(1000)]);
    let Frame::Bulk(p) = c.cmd(&["DUMP", "tmp"]) else {
        panic!()
    };
    c.cmd(&["DEL", "tmp"]);
    p.to_vec()
}

#[test]
fn allkeys_lru_evicts_idle_keys_and_keeps_recently_used_ones() {
    let _s = serial();
    let (_srv, mut c) = server("allkeys-lru");
    // 1000 keys idle for 1000 s; then half of them are read.
    let p = payload(&mut c);
    for i in 0..1000 {
        let k = format!("k{i}");
        c.send(&[b"RESTORE", k.as_bytes(), b"0", &p, b"IDLETIME", b"1000"]);
    }
    for _ in 0..1000 {
        assert_eq!(c.read(), ok());
    }
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k1"]), int(1000));
    for i in 0..500 {
        c.cmd(&["GET", &format!("k{i}")]);
    }
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k1"]), int(0));
    // Room for about 700 keys: 300 idle ones must go.
    squeeze(&mut c, 300 * 1100);
    let evicted = info(&mut c, "evicted_keys");
    assert!(evicted >= 250, "evicted {evicted}");
    assert_eq!(surviving(&mut c, "k", 0..500).len(), 500);
    assert!(surviving(&mut c, "k", 500..1000).len() <= 250);
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let _s = serial();
    let (_srv, mut c) = server("allkeys-lfu");
    // Factor 0: every hit counts; no decay during the test.
    c.cmd(&["CONFIG", "SET", "lfu-log-factor", "0"]);
    c.cmd(&["CONFIG", "SET", "lfu-decay-time", "0"]);
    fill(&mut c, "k", 0..1000, None);
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k0"]), int(5));
    for _ in 0..10 {
        for i in 0..500 {
            c.send(&[b"GET", format!("k{i}").as_bytes()]);
        }
        for _ in 0..500 {
            c.read();
        }
    }
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k0"]), int(15));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k999"]), int(5));
    squeeze(&mut c, 300 * 1100);
    assert!(info(&mut c, "evicted_keys") >= 250);
    assert_eq!(surviving(&mut c, "k", 0..500).len(), 500);
    assert!(surviving(&mut c, "k", 500..1000).len() <= 250);
}

#[test]
fn lfu_counter_grows_logarithmically_and_restore_sets_it() {
    let _s = serial();
    let (_srv, mut c) = server("allkeys-lfu");
    c.cmd(&["CONFIG", "SET", "lfu-decay-time", "0"]);
    c.cmd(&["SET", "hot", "1"]);
    for _ in 0..2000 {
        c.send(&[b"GET", b"hot"]);
    }
    for _ in 0..2000 {
        c.read();
    }
    // With lfu-log-factor 10, 2000 hits take the counter from 5 to about 20 (never 255).
    let Frame::Integer(f) = c.cmd(&["OBJECT", "FREQ", "hot"]) else {
        panic!()
    };
    assert!((10..=40).contains(&f), "freq {f}");
    let Frame::Bulk(p) = c.cmd(&["DUMP", "hot"]) else {
        panic!()
    };
    c.send(&[b"RESTORE", b"copy", b"0", &p, b"FREQ", b"100"]);
    assert_eq!(c.read(), ok());
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "copy"]), int(100));
}

#[test]
fn object_freq_and_idletime_error_like_redis() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["OBJECT", "FREQ", "k"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-lfu"]);
    assert_eq!(
        c.cmd(&["OBJECT", "IDLETIME", "k"]),
        err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "nokey"]), Frame::Null);
    // New keys start at LFU_INIT_VAL.
    c.cmd(&["SET", "k2", "v"]);
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k2"]), int(5));
}

#[test]
fn volatile_policies_evict_only_keys_with_a_deadline() {
    let _s = serial();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_srv, mut c) = server(policy);
        fill(&mut c, "p", 0..300, None);
        fill(&mut c, "v", 0..300, Some(10_000));
        squeeze(&mut c, 150 * 1100);
        assert!(info(&mut c, "evicted_keys") >= 100, "{policy}");
        assert_eq!(surviving(&mut c, "p", 0..300).len(), 300, "{policy}");
        // Below what the persistent keys take: every volatile key goes, then writes fail.
        let limit = info(&mut c, "used_memory") - 300 * 1100;
        c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
        eventually("volatile keys gone", || {
            surviving(&mut c, "v", 0..300).is_empty()
        });
        assert_eq!(c.cmd(&["SET", "new", "1"]), err(OOM), "{policy}");
        assert_eq!(surviving(&mut c, "p", 0..300).len(), 300, "{policy}");
    }
}

#[test]
fn volatile_ttl_evicts_the_shortest_deadlines_first() {
    let _s = serial();
    let (_srv, mut c) = server("volatile-ttl");
    let v = value(1000);
    for i in 0..600 {
        let ttl = (10_000 + i).to_string();
        c.send(&[
            b"SET",
            format!("t{i}").as_bytes(),
            v.as_bytes(),
            b"EX",
            ttl.as_bytes(),
        ]);
    }
    for _ in 0..600 {
        c.read();
    }
    squeeze(&mut c, 200 * 1100);
    let left = surviving(&mut c, "t", 0..600);
    assert!(left.len() <= 450, "{} left", left.len());
    // The survivors are the longest deadlines: those of the last 400 keys.
    assert!(left.iter().all(|&i| i >= 150), "{left:?}");
    assert_eq!(surviving(&mut c, "t", 450..600).len(), 150);
}

#[test]
fn allkeys_random_stays_under_the_limit_while_writing() {
    let _s = serial();
    let (_srv, mut c) = server("allkeys-random");
    let limit = info(&mut c, "used_memory") + 500 * 1024;
    c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    // Several times the limit in writes: every one succeeds.
    fill(&mut c, "k", 0..2000, None);
    assert!(info(&mut c, "used_memory") < limit + 64 * 1024);
    assert!(info(&mut c, "evicted_keys") > 1000);
    let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
        panic!()
    };
    assert!((100..1000).contains(&n), "dbsize {n}");
}

#[test]
fn config_set_maxmemory_below_use_evicts_down() {
    let _s = serial();
    let (_srv, mut c) = server("allkeys-lru");
    fill(&mut c, "k", 0..2000, None);
    let limit = squeeze(&mut c, 1000 * 1100);
    let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
        panic!()
    };
    assert!(n < 1100, "dbsize {n}");
    assert!(info(&mut c, "evicted_keys") >= 900);
    // Writes keep working at the limit.
    fill(&mut c, "new", 0..500, None);
    assert!(info(&mut c, "used_memory") <= limit + 64 * 1024);
    assert_eq!(surviving(&mut c, "new", 400..500).len(), 100);
}

#[test]
fn eviction_under_concurrent_writers_transactions_and_scripts() {
    let _s = serial();
    let srv = TestServer::with_args(&[("threads", "3")]);
    let mut c = srv.raw();
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    // Room for the clients' buffers and about 800 keys; the writers write 2000.
    let limit = info(&mut c, "used_memory") + 1024 * 1024;
    c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let addr = srv.addr();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut r = RawConn::connect(addr);
                let v = value(900);
                for i in 0..1000 {
                    let k = format!("k{}", (i * 7 + t * 13) % 2000);
                    let k2 = format!("k{}", (i * 11 + t) % 2000);
                    match i % 5 {
                        0 => assert_eq!(r.cmd(&["SET", &k, &v]), ok()),
                        1 => {
                            r.cmd(&["GET", &k]);
                        }
                        2 => {
                            // A transaction over several shards, evicting around it.
                            assert_eq!(r.cmd(&["MULTI"]), ok());
                            r.cmd(&["SET", &k, &v]);
                            r.cmd(&["SET", &k2, &v]);
                            let Frame::Array(a) = r.cmd(&["EXEC"]) else {
                                panic!("EXEC failed")
                            };
                            assert_eq!(a.len(), 2);
                        }
                        3 => {
                            let script = "redis.call('set', KEYS[1], ARGV[1]) \
                                          return redis.call('get', KEYS[2])";
                            r.cmd(&["EVAL", script, "2", &k, &k2, &v]);
                        }
                        _ => {
                            // Limits changing under the writers, inside and outside MULTI.
                            let l = (limit + (i as u64 % 3) * 100 * 1024).to_string();
                            if t == 0 {
                                assert_eq!(r.cmd(&["MULTI"]), ok());
                                r.cmd(&["CONFIG", "SET", "maxmemory", &l]);
                                r.cmd(&["EXEC"]);
                            } else {
                                r.cmd(&["CONFIG", "SET", "maxmemory", &l]);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread failed");
    }
    c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    eventually("used_memory under maxmemory", || under_limit(&mut c, limit));
    assert!(info(&mut c, "evicted_keys") > 0);
}

// ---------------------------------------------------------------------------------------
// Side effects of an eviction
// ---------------------------------------------------------------------------------------

#[test]
fn eviction_publishes_evicted_events() {
    let _s = serial();
    let (srv, mut c) = server("allkeys-random");
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    let mut sub = srv.raw();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    fill(&mut c, "k", 0..100, None);
    squeeze(&mut c, 20 * 1100);
    let evicted = info(&mut c, "evicted_keys");
    assert!(evicted > 0);
    let mut seen = Vec::new();
    for _ in 0..evicted {
        match sub.read() {
            Frame::Array(v) => {
                assert_eq!(v[1], bulk("__keyevent@0__:evicted"));
                seen.push(text(&v[2]));
            }
            other => panic!("{other:?}"),
        }
    }
    for k in &seen {
        assert!(k.starts_with('k'));
        assert!(!exists(&mut c, k), "{k} was reported evicted but exists");
    }
}

#[test]
fn evicting_a_watched_key_aborts_the_transaction() {
    let _s = serial();
    let (srv, mut c) = server("allkeys-lru");
    let mut w = srv.raw();
    fill(&mut c, "k", 0..200, None);
    assert_eq!(w.cmd(&["WATCH", "k7"]), ok());
    // Evict everything, then lift the limit so the transaction can be queued.
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    eventually("all keys evicted", || c.cmd(&["DBSIZE"]) == int(0));
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(w.cmd(&["MULTI"]), ok());
    w.cmd(&["SET", "other", "1"]);
    assert_eq!(w.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(w.cmd(&["GET", "other"]), Frame::Null);
}

#[test]
fn tracking_clients_are_told_about_evicted_keys() {
    let _s = serial();
    let (srv, mut c) = server("allkeys-lru");
    let mut t = srv.raw();
    let Frame::Map(_) = t.cmd(&["HELLO", "3"]) else {
        panic!()
    };
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    c.cmd(&["SET", "cached", "v"]);
    assert_eq!(t.cmd(&["GET", "cached"]), bulk("v"));
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    eventually("all keys evicted", || c.cmd(&["DBSIZE"]) == int(0));
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(
        t.read(),
        Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("cached")])])
    );
}

#[test]
fn evicted_keys_are_deleted_in_the_append_only_file() {
    let _s = serial();
    let dir = std::env::temp_dir().join(format!("cinnabar-evict-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let args = [
        ("dir", d.as_str()),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ];
    let wait_loaded = |srv: &TestServer| {
        srv.wait_loaded();
    };
    {
        let srv = TestServer::with_args(&args);
        wait_loaded(&srv);
        let mut c = srv.raw();
        fill(&mut c, "k", 0..50, None);
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
        c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
        eventually("all keys evicted", || c.cmd(&["DBSIZE"]) == int(0));
        c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(c.cmd(&["SET", "after", "1"]), ok());
    }
    // Replaying the log gives the same dataset: the evicted keys were logged as DELs.
    let srv = TestServer::with_args(&args);
    wait_loaded(&srv);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), int(1));
    assert_eq!(c.cmd(&["GET", "after"]), bulk("1"));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalidation_of_a_key_evicted_before_a_command_precedes_its_reply() {
    let _s = serial();
    let (_srv, mut c) = server("volatile-random");
    let Frame::Map(_) = c.cmd(&["HELLO", "3"]) else {
        panic!()
    };
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    let limit = info(&mut c, "used_memory") + 100 * 1024;
    c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    c.cmd(&["SETEX", "volatile-key", "10000", "x"]);
    c.cmd(&["GET", "volatile-key"]);
    // 200 KB at once: the next command finds memory over the limit and evicts first.
    assert_eq!(c.cmd(&["SETBIT", "big-key", "1600000", "0"]), int(0));
    assert_eq!(
        c.cmd(&["GETBIT", "big-key", "0"]),
        Frame::Push(vec![
            bulk("invalidate"),
            Frame::Array(vec![bulk("volatile-key")])
        ])
    );
    assert_eq!(c.read(), int(0));
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
}

// ---------------------------------------------------------------------------------------
// Memory accounting
// ---------------------------------------------------------------------------------------

/// MEMORY USAGE of a key against what storing such keys really added to used_memory.
fn usage_matches(c: &mut RawConn, prefix: &str, n: usize, make: impl Fn(&mut RawConn, &str)) {
    let before = info(c, "used_memory");
    for i in 0..n {
        make(c, &format!("{prefix}{i}"));
    }
    let after = info(c, "used_memory");
    let real = (after - before) as f64 / n as f64;
    let Frame::Integer(reported) = c.cmd(&["MEMORY", "USAGE", &format!("{prefix}0")]) else {
        panic!()
    };
    let ratio = reported as f64 / real;
    assert!(
        (0.8..1.25).contains(&ratio),
        "{prefix}: MEMORY USAGE {reported} vs {real:.0} bytes per key really used"
    );
}

#[test]
fn memory_usage_is_close_to_the_real_size() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    let big = value(1000);
    usage_matches(&mut c, "str", 5000, |c, k| {
        assert_eq!(c.cmd(&["SET", k, &big]), ok());
    });
    let small = value(10);
    usage_matches(&mut c, "small", 5000, |c, k| {
        assert_eq!(c.cmd(&["SET", k, &small]), ok());
    });
    usage_matches(&mut c, "hash", 200, |c, k| {
        for f in 0..200 {
            c.send(&[
                b"HSET",
                k.as_bytes(),
                format!("field{f}").as_bytes(),
                big.as_bytes(),
            ]);
        }
        for _ in 0..200 {
            c.read();
        }
    });
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "nokey"]), Frame::Null);
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "str0", "SAMPLES", "0"]),
        c.cmd(&["MEMORY", "USAGE", "str0"])
    );
    assert_eq!(
        c.cmd(&["MEMORY", "USAGE", "str0", "SAMPLES", "-1"]),
        err("ERR syntax error")
    );
}

#[test]
fn memory_subcommands_answer() {
    let _s = serial();
    let srv = TestServer::start();
    let mut c = srv.raw();
    // A map, sent flat to this RESP2 client: names at even positions.
    let Frame::Array(stats) = c.cmd(&["MEMORY", "STATS"]) else {
        panic!()
    };
    let names: Vec<String> = stats.iter().step_by(2).map(text).collect();
    for n in [
        "peak.allocated",
        "total.allocated",
        "startup.allocated",
        "dataset.bytes",
        "allocator.allocated",
        "fragmentation",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
    }
    // Verbatim strings, sent as bulk strings to this RESP2 client.
    let doctor = text(&c.cmd(&["MEMORY", "DOCTOR"]));
    assert!(doctor.contains("instance"), "{doctor}");
    let malloc = text(&c.cmd(&["MEMORY", "MALLOC-STATS"]));
    assert!(malloc.contains("committed"), "{malloc}");
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), ok());
    let Frame::Array(help) = c.cmd(&["MEMORY", "HELP"]) else {
        panic!()
    };
    assert!(help.len() > 5);
}

// ---------------------------------------------------------------------------------------
// Latency monitor
// ---------------------------------------------------------------------------------------

#[test]
fn a_slow_eviction_cycle_shows_in_latency_latest_and_history() {
    let _s = serial();
    let srv = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]),
        ok()
    );
    fill(&mut c, "k", 0..400, None);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"]),
        ok()
    );
    // Each eviction run, and each key's deletion, takes at least this long: over the
    // threshold whatever the machine's speed.
    c.latency_delay("eviction-cycle", 5);
    c.latency_delay("eviction-del", 2);
    assert!(c
        .latency_latest()
        .iter()
        .all(|(e, ..)| !e.starts_with("eviction")));
    squeeze(&mut c, 100 * 1100);
    assert!(info(&mut c, "evicted_keys") > 0);
    // The background thread may finish the run after the limit is met.
    eventually("eviction events in LATENCY LATEST", || {
        let latest = c.latency_latest();
        ["eviction-cycle", "eviction-del"]
            .iter()
            .all(|e| latest.iter().any(|(n, ..)| n == e))
    });
    c.assert_latency_at_least("eviction-cycle", 5);
    c.assert_latency_at_least("eviction-del", 2);
    c.latency_delay("eviction-cycle", 0);
    c.latency_delay("eviction-del", 0);
}
