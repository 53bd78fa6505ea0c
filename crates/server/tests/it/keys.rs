//! Generic keyspace commands (DEL, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, COPY, MOVE,
//! FLUSHDB/FLUSHALL, SWAPDB, OBJECT, the EXPIRE and TTL families) against a real server on a
//! free port, through the `redis` crate and raw RESP for exact error strings.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, eventually, int, ok, RawConn, TestServer, PATIENCE};
use redis::Commands;

fn conn(srv: &TestServer) -> redis::Connection {
    redis::Client::open(srv.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn integer(f: Frame) -> i64 {
    match f {
        Frame::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// Stops the background expiry cycle so a test can observe what lookups alone do.
fn no_active_expiry(srv: &TestServer) {
    srv.handle
        .server
        .config
        .live
        .active_expire_enabled
        .store(false, Ordering::Relaxed);
}

/// Sorted KEYS reply.
fn keys(r: &mut RawConn, pattern: &str) -> Vec<String> {
    let Frame::Array(items) = r.cmd(&["KEYS", pattern]) else {
        panic!("KEYS did not answer an array")
    };
    let mut out: Vec<String> = items
        .into_iter()
        .map(|f| match f {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// Runs a whole SCAN iteration and returns every key it produced, with repetitions.
fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut all = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg(extra).query(c).unwrap();
        all.extend(batch);
        if next == 0 {
            return all;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_exists_type_touch() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), ok());
    assert_eq!(
        r.cmd(&["EXISTS", "a", "a", "b", "nope"]),
        int(3),
        "duplicates count"
    );
    assert_eq!(r.cmd(&["TYPE", "a"]), Frame::Simple("string".into()));
    assert_eq!(r.cmd(&["TYPE", "nope"]), Frame::Simple("none".into()));
    assert_eq!(r.cmd(&["APPEND", "boxed", "x"]), int(1));
    assert_eq!(r.cmd(&["TYPE", "boxed"]), Frame::Simple("string".into()));
    assert_eq!(r.cmd(&["TOUCH", "a", "b", "nope", "a"]), int(3));
    assert_eq!(
        r.cmd(&["DEL", "a", "a", "nope"]),
        int(1),
        "a key is deleted once"
    );
    assert_eq!(r.cmd(&["UNLINK", "b", "c", "boxed"]), int(3));
    assert_eq!(r.cmd(&["EXISTS", "a", "b", "c"]), int(0));
    assert_eq!(
        r.cmd(&["DEL"]),
        err("ERR wrong number of arguments for 'del' command")
    );
    assert_eq!(
        r.cmd(&["EXISTS"]),
        err("ERR wrong number of arguments for 'exists' command")
    );
    assert_eq!(
        r.cmd(&["TYPE"]),
        err("ERR wrong number of arguments for 'type' command")
    );

    let mut c = conn(&srv);
    let _: () = c.set("x", "1").unwrap();
    let n: i64 = c.del(&["x", "y"]).unwrap();
    assert_eq!(n, 1);
    let e: bool = c.exists("x").unwrap();
    assert!(!e);
}

#[test]
fn expired_keys_are_invisible_to_every_command() {
    let srv = TestServer::start();
    no_active_expiry(&srv);
    let mut r = srv.raw();
    for k in ["e1", "e2", "e3", "e4", "e5", "e6"] {
        assert_eq!(r.cmd(&["SET", k, "v", "PX", "30"]), ok());
    }
    assert_eq!(r.cmd(&["SET", "live", "v"]), ok());
    srv.advance_clock(31);
    // Nothing read them: they are still stored and DBSIZE counts them, as in Redis.
    assert_eq!(r.cmd(&["DBSIZE"]), int(7));
    assert_eq!(keys(&mut r, "*"), vec!["live"], "KEYS skips expired keys");
    assert_eq!(r.cmd(&["KEYS", "e1"]), Frame::Array(vec![]));
    assert_eq!(r.cmd(&["DBSIZE"]), int(7), "KEYS does not delete");
    assert_eq!(r.cmd(&["EXISTS", "e1"]), int(0));
    assert_eq!(r.cmd(&["TYPE", "e2"]), Frame::Simple("none".into()));
    assert_eq!(r.cmd(&["DEL", "e3"]), int(0));
    assert_eq!(r.cmd(&["TTL", "e4"]), int(-2));
    assert_eq!(r.cmd(&["RENAME", "e5", "x"]), err("ERR no such key"));
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "e6"]), Frame::Null);
    assert_eq!(
        r.cmd(&["DBSIZE"]),
        int(1),
        "each lookup removed the expired key it met"
    );
}

#[test]
fn lazy_expiry_on_read_after_px_deadline() {
    let srv = TestServer::start();
    no_active_expiry(&srv);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "v", "PX", "100"]), ok());
    assert_eq!(r.cmd(&["GET", "k"]), bulk("v"));
    srv.advance_clock(101);
    assert_eq!(r.cmd(&["DBSIZE"]), int(1));
    assert_eq!(r.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
}

#[test]
fn active_expiry_reclaims_keys_nobody_reads() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 0..1000 {
        r.send(&[b"SET", format!("tmp:{i}").as_bytes(), b"v", b"PX", b"50"]);
    }
    for _ in 0..1000 {
        assert_eq!(r.read(), ok());
    }
    assert_eq!(r.cmd(&["SET", "keep", "v"]), ok());
    srv.advance_clock(51);
    eventually(PATIENCE, "active expiry to reclaim 1000 keys", || {
        r.cmd(&["DBSIZE"]) == int(1)
    });
}

#[test]
fn keys_patterns() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other", "",
    ] {
        assert_eq!(r.cmd(&["SET", k, "1"]), ok());
    }
    assert_eq!(
        keys(&mut r, "h?llo"),
        vec!["h*llo", "hallo", "hello", "hxllo"]
    );
    assert_eq!(
        keys(&mut r, "h*llo"),
        vec!["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut r, "h[ae]llo"), vec!["hallo", "hello"]);
    assert_eq!(keys(&mut r, "h[^e]llo"), vec!["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut r, "h[a-b]llo"), vec!["hallo"]);
    assert_eq!(keys(&mut r, "h\\*llo"), vec!["h*llo"]);
    assert_eq!(keys(&mut r, "hello"), vec!["hello"], "literal pattern");
    assert_eq!(keys(&mut r, "nope"), Vec::<String>::new());
    assert_eq!(
        keys(&mut r, ""),
        vec![""],
        "the empty pattern names the empty key"
    );
    assert_eq!(keys(&mut r, "*").len(), 8, "'*' also matches the empty key");
    assert_eq!(
        keys(&mut r, "?*").len(),
        7,
        "a real pattern never matches the empty key"
    );
    // Another database is separate.
    assert_eq!(r.cmd(&["SELECT", "3"]), ok());
    assert_eq!(keys(&mut r, "*"), Vec::<String>::new());
}

#[test]
fn keys_spread_over_many_keys() {
    let srv = TestServer::start();
    let mut c = conn(&srv);
    for i in 0..500 {
        let _: () = c.set(format!("user:{i}"), i).unwrap();
        let _: () = c.set(format!("item:{i}"), i).unwrap();
    }
    let mut users: Vec<String> = c.keys("user:*").unwrap();
    users.sort();
    let mut want: Vec<String> = (0..500).map(|i| format!("user:{i}")).collect();
    want.sort();
    assert_eq!(users, want);
    let n: Vec<String> = c.keys("*:1?").unwrap();
    assert_eq!(n.len(), 20);
}

#[test]
fn scan_basics_and_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["SCAN", "0"]),
        Frame::Array(vec![bulk("0"), Frame::Array(vec![])])
    );
    for i in 0..300 {
        assert_eq!(r.cmd(&["SET", &format!("key:{i}"), "v"]), ok());
    }
    assert_eq!(r.cmd(&["APPEND", "boxed", "v"]), int(1));
    let mut c = conn(&srv);

    // A whole iteration over a keyspace nobody changes returns every key exactly once.
    let all = scan_all(&mut c, &[]);
    assert_eq!(all.len(), 301);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 301);
    for count in ["1", "7", "1000"] {
        let all = scan_all(&mut c, &["COUNT", count]);
        assert_eq!(all.len(), 301, "COUNT {count}");
    }
    // COUNT bounds what one call returns.
    let (_, batch): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(5)
        .query(&mut c)
        .unwrap();
    assert!(batch.len() <= 5);

    let mut m = scan_all(&mut c, &["MATCH", "key:1?"]);
    m.sort();
    let mut want: Vec<String> = (10..20).map(|i| format!("key:{i}")).collect();
    want.sort();
    assert_eq!(m, want);
    assert_eq!(scan_all(&mut c, &["MATCH", "*"]).len(), 301);
    assert_eq!(scan_all(&mut c, &["TYPE", "string"]).len(), 301);
    assert_eq!(
        scan_all(&mut c, &["TYPE", "STRING", "MATCH", "boxed"]),
        vec!["boxed"]
    );
    assert_eq!(scan_all(&mut c, &["TYPE", "list"]).len(), 0);
    assert_eq!(
        scan_all(&mut c, &["TYPE", "nosuchtype"]).len(),
        0,
        "unknown type matches nothing"
    );

    assert_eq!(r.cmd(&["SCAN", "0", "COUNT", "0"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["SCAN", "0", "COUNT", "-1"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SCAN", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["SCAN", "0", "MATCH"]), err("ERR syntax error"));
    assert_eq!(r.cmd(&["SCAN", "0", "FOO", "bar"]), err("ERR syntax error"));
    for bad in [
        "abc",
        " 1",
        "1 ",
        "1x",
        "-",
        "+",
        "18446744073709551616",
        "0x10",
    ] {
        assert_eq!(
            r.cmd(&["SCAN", bad]),
            err("ERR invalid cursor"),
            "cursor {bad:?}"
        );
    }
    // What strtoul accepts, Redis accepts: empty, signs, the full u64 range.
    for good in ["", "+0", "-0", "18446744073709551615", "-1"] {
        let Frame::Array(parts) = r.cmd(&["SCAN", good]) else {
            panic!("cursor {good:?}")
        };
        assert_eq!(parts.len(), 2);
    }
    assert_eq!(
        r.cmd(&["SCAN"]),
        err("ERR wrong number of arguments for 'scan' command")
    );
}

#[test]
fn scan_skips_and_reclaims_expired_keys() {
    let srv = TestServer::start();
    no_active_expiry(&srv);
    let mut r = srv.raw();
    for i in 0..50 {
        assert_eq!(r.cmd(&["SET", &format!("gone:{i}"), "v", "PX", "20"]), ok());
        assert_eq!(r.cmd(&["SET", &format!("live:{i}"), "v"]), ok());
    }
    srv.advance_clock(21);
    let mut c = conn(&srv);
    let mut all = scan_all(&mut c, &["COUNT", "3"]);
    all.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("live:{i}")).collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(
        r.cmd(&["DBSIZE"]),
        int(50),
        "SCAN deleted the expired keys it met"
    );
}

/// The SCAN guarantee: a key present from the start to the end of a full iteration is
/// returned at least once, whatever happens to other keys in between and meanwhile.
fn scan_guarantee(srv: &TestServer) {
    let mut c = conn(srv);
    let mut w = conn(srv);
    let stable: Vec<String> = (0..2000).map(|i| format!("stable:{i}")).collect();
    for chunk in stable.chunks(500) {
        let pairs: Vec<(&str, i32)> = chunk.iter().map(|k| (k.as_str(), 1)).collect();
        let _: () = c.mset(&pairs).unwrap();
    }
    for i in 0..2000 {
        let _: () = c.set(format!("churn:{i}"), 1).unwrap();
    }

    // A second client deletes and creates other keys while the scan runs.
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let stop = stop.clone();
        let mut cc = conn(srv);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: i64 = cc.del(format!("churn:{}", i % 4000)).unwrap();
                let _: () = cc.set(format!("churn:{}", (i * 7 + 13) % 4000), 1).unwrap();
                let _: () = cc.set(format!("bg:{i}"), 1).unwrap();
                if i.is_multiple_of(3) {
                    let _: i64 = cc.del(format!("bg:{}", i / 2)).unwrap();
                }
                i += 1;
            }
        })
    };

    let mut seen: HashSet<String> = HashSet::new();
    let mut cursor: u64 = 0;
    let mut round = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(17)
            .query(&mut c)
            .unwrap();
        seen.extend(batch);
        // Between calls, remove and add many keys so entries keep moving inside the tables.
        for j in 0..25 {
            let _: i64 = w.del(format!("churn:{}", (round * 25 + j) % 2000)).unwrap();
            let _: () = w.set(format!("new:{round}:{j}"), 1).unwrap();
        }
        round += 1;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    stop.store(true, Ordering::Relaxed);
    churner.join().unwrap();
    let missing: Vec<&String> = stable.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} stable keys never returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn scan_guarantee_many_shards() {
    scan_guarantee(&TestServer::start());
}

#[test]
fn scan_guarantee_one_shard() {
    scan_guarantee(&TestServer::with_args(&[("shards", "1")]));
}

#[test]
fn scan_guarantee_odd_shard_count() {
    // Rounded up to 8: cursors carry 3 shard bits.
    scan_guarantee(&TestServer::with_args(&[("shards", "5")]));
}

#[test]
fn randomkey() {
    let srv = TestServer::start();
    no_active_expiry(&srv);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["RANDOMKEY"]), Frame::Null);
    for i in 0..10 {
        assert_eq!(r.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..3000 {
        match r.cmd(&["RANDOMKEY"]) {
            Frame::Bulk(b) => {
                *counts
                    .entry(String::from_utf8(b.to_vec()).unwrap())
                    .or_default() += 1
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(counts.len(), 10);
    // Expected 300 each; a uniform draw stays far inside these bounds.
    for (k, n) in &counts {
        assert!((180..=420).contains(n), "{k} drawn {n} times out of 3000");
    }

    // Never an expired key: with only expired keys left the answer is nil.
    assert_eq!(r.cmd(&["FLUSHDB"]), ok());
    for i in 0..20 {
        assert_eq!(r.cmd(&["SET", &format!("t{i}"), "v", "PX", "20"]), ok());
    }
    assert_eq!(r.cmd(&["SET", "survivor", "v"]), ok());
    srv.advance_clock(21);
    for _ in 0..20 {
        assert_eq!(r.cmd(&["RANDOMKEY"]), bulk("survivor"));
    }
    assert_eq!(r.cmd(&["DEL", "survivor"]), int(1));
    assert_eq!(r.cmd(&["RANDOMKEY"]), Frame::Null);
}

#[test]
fn rename_and_renamenx() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["RENAME", "nope", "x"]), err("ERR no such key"));
    assert_eq!(r.cmd(&["RENAME", "nope", "nope"]), err("ERR no such key"));
    assert_eq!(r.cmd(&["RENAMENX", "nope", "x"]), err("ERR no such key"));
    assert_eq!(r.cmd(&["SET", "a", "1", "EX", "100"]), ok());
    assert_eq!(
        r.cmd(&["RENAME", "a", "a"]),
        ok(),
        "same key is allowed when it exists"
    );
    assert_eq!(r.cmd(&["RENAMENX", "a", "a"]), int(0));
    assert_eq!(r.cmd(&["RENAME", "a", "b"]), ok());
    assert_eq!(r.cmd(&["EXISTS", "a"]), int(0));
    assert_eq!(r.cmd(&["GET", "b"]), bulk("1"));
    let ttl = integer(r.cmd(&["TTL", "b"]));
    assert!((99..=100).contains(&ttl), "the deadline moves with the key");

    // Overwriting takes the source's deadline (or none) and value.
    assert_eq!(r.cmd(&["SET", "c", "2"]), ok());
    assert_eq!(r.cmd(&["RENAME", "c", "b"]), ok());
    assert_eq!(r.cmd(&["GET", "b"]), bulk("2"));
    assert_eq!(r.cmd(&["TTL", "b"]), int(-1));

    assert_eq!(r.cmd(&["SET", "d", "3"]), ok());
    assert_eq!(r.cmd(&["RENAMENX", "d", "b"]), int(0));
    assert_eq!(r.cmd(&["GET", "b"]), bulk("2"));
    assert_eq!(r.cmd(&["RENAMENX", "d", "e"]), int(1));
    assert_eq!(r.cmd(&["GET", "e"]), bulk("3"));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));

    // Boxed values and many keys (different shards, same shard) keep their values.
    assert_eq!(r.cmd(&["APPEND", "boxed", "abc"]), int(3));
    assert_eq!(r.cmd(&["RENAME", "boxed", "boxed2"]), ok());
    assert_eq!(r.cmd(&["GET", "boxed2"]), bulk("abc"));
    for i in 0..200 {
        assert_eq!(r.cmd(&["SET", &format!("src{i}"), &i.to_string()]), ok());
    }
    for i in 0..200 {
        assert_eq!(
            r.cmd(&[
                "RENAME",
                &format!("src{i}"),
                &format!("src{}", (i + 1) % 200)
            ]),
            ok()
        );
    }
    assert_eq!(r.cmd(&["DBSIZE"]), int(1 + 1 + 1 + 1));
    // The original value of src0 was carried along the whole chain and back.
    assert_eq!(r.cmd(&["GET", "src0"]), bulk("0"));
}

#[test]
fn rename_onto_an_expired_destination() {
    let srv = TestServer::start();
    no_active_expiry(&srv);
    let mut r = srv.raw();
    // Many keys so that a lazily deleted destination moves other entries around.
    for i in 0..100 {
        assert_eq!(r.cmd(&["SET", &format!("dst{i}"), "old", "PX", "20"]), ok());
        assert_eq!(
            r.cmd(&["SET", &format!("src{i}"), &format!("new{i}")]),
            ok()
        );
    }
    srv.advance_clock(21);
    for i in 0..100 {
        assert_eq!(
            r.cmd(&["RENAMENX", &format!("src{i}"), &format!("dst{i}")]),
            int(1)
        );
    }
    for i in 0..100 {
        assert_eq!(
            r.cmd(&["GET", &format!("dst{i}")]),
            bulk(&format!("new{i}"))
        );
    }
    assert_eq!(r.cmd(&["DBSIZE"]), int(100));
}

#[test]
fn copy_command() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["COPY", "nope", "x"]), int(0));
    assert_eq!(r.cmd(&["SET", "a", "hello", "EX", "100"]), ok());
    assert_eq!(
        r.cmd(&["COPY", "a", "a"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        r.cmd(&["COPY", "a", "a", "DB", "0"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(r.cmd(&["COPY", "a", "b", "DB"]), err("ERR syntax error"));
    assert_eq!(r.cmd(&["COPY", "a", "b", "FOO"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["COPY", "a", "b", "DB", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["COPY", "a", "b", "DB", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        r.cmd(&["COPY", "a", "b", "DB", "-1"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        r.cmd(&["COPY", "a", "b", "DB", "4294967296"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );

    assert_eq!(r.cmd(&["COPY", "a", "b"]), int(1));
    assert_eq!(r.cmd(&["GET", "b"]), bulk("hello"));
    let ttl = integer(r.cmd(&["TTL", "b"]));
    assert!((99..=100).contains(&ttl), "the copy keeps the deadline");
    assert_eq!(r.cmd(&["SET", "c", "other"]), ok());
    assert_eq!(
        r.cmd(&["COPY", "a", "c"]),
        int(0),
        "no overwrite without REPLACE"
    );
    assert_eq!(r.cmd(&["GET", "c"]), bulk("other"));
    assert_eq!(r.cmd(&["COPY", "a", "c", "REPLACE"]), int(1));
    assert_eq!(r.cmd(&["GET", "c"]), bulk("hello"));

    // Deep copy: changing the copy of a boxed value leaves the source alone.
    assert_eq!(r.cmd(&["APPEND", "boxed", "abc"]), int(3));
    assert_eq!(r.cmd(&["COPY", "boxed", "boxed2"]), int(1));
    assert_eq!(r.cmd(&["APPEND", "boxed2", "def"]), int(6));
    assert_eq!(r.cmd(&["GET", "boxed"]), bulk("abc"));
    assert_eq!(r.cmd(&["GET", "boxed2"]), bulk("abcdef"));
    assert_eq!(r.cmd(&["SET", "n", "42"]), ok());
    assert_eq!(r.cmd(&["COPY", "n", "n2"]), int(1));
    assert_eq!(r.cmd(&["INCR", "n2"]), int(43));
    assert_eq!(r.cmd(&["GET", "n"]), bulk("42"));

    // Across databases, including the same key name.
    assert_eq!(r.cmd(&["COPY", "a", "a", "DB", "1"]), int(1));
    assert_eq!(r.cmd(&["COPY", "a", "a", "db", "1"]), int(0));
    assert_eq!(r.cmd(&["COPY", "a", "a", "REPLACE", "DB", "1"]), int(1));
    assert_eq!(r.cmd(&["COPY", "boxed", "z", "DB", "2", "REPLACE"]), int(1));
    assert_eq!(r.cmd(&["SELECT", "1"]), ok());
    assert_eq!(r.cmd(&["GET", "a"]), bulk("hello"));
    let ttl = integer(r.cmd(&["TTL", "a"]));
    assert!((99..=100).contains(&ttl));
    assert_eq!(r.cmd(&["SELECT", "2"]), ok());
    assert_eq!(r.cmd(&["GET", "z"]), bulk("abc"));
    // From db 2 back into db 0.
    assert_eq!(r.cmd(&["COPY", "z", "fromtwo", "DB", "0"]), int(1));
    assert_eq!(r.cmd(&["SELECT", "0"]), ok());
    assert_eq!(r.cmd(&["GET", "fromtwo"]), bulk("abc"));
}

#[test]
fn move_command() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "100"]), ok());
    assert_eq!(
        r.cmd(&["MOVE", "k", "0"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        r.cmd(&["MOVE", "k", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        r.cmd(&["MOVE", "k", "-1"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        r.cmd(&["MOVE", "k", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["MOVE", "k", "5000000000"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(r.cmd(&["MOVE", "nope", "1"]), int(0));
    assert_eq!(r.cmd(&["MOVE", "k", "1"]), int(1));
    assert_eq!(r.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(r.cmd(&["SET", "k", "again"]), ok());
    assert_eq!(
        r.cmd(&["MOVE", "k", "1"]),
        int(0),
        "target already has the key"
    );
    assert_eq!(r.cmd(&["GET", "k"]), bulk("again"));
    assert_eq!(r.cmd(&["SELECT", "1"]), ok());
    assert_eq!(r.cmd(&["GET", "k"]), bulk("v"));
    let ttl = integer(r.cmd(&["TTL", "k"]));
    assert!((99..=100).contains(&ttl), "the deadline moves with the key");
    assert_eq!(r.cmd(&["MOVE", "k", "0"]), int(0));
    assert_eq!(r.cmd(&["DEL", "k"]), int(1));
    // Moving many keys keeps both databases consistent.
    for i in 0..100 {
        assert_eq!(r.cmd(&["SET", &format!("m{i}"), &i.to_string()]), ok());
    }
    for i in 0..100 {
        assert_eq!(r.cmd(&["MOVE", &format!("m{i}"), "5"]), int(1));
    }
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
    assert_eq!(r.cmd(&["SELECT", "5"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(100));
    assert_eq!(r.cmd(&["GET", "m42"]), bulk("42"));
}

#[test]
fn dbsize_flushdb_flushall() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut other = srv.raw();
    assert_eq!(other.cmd(&["SELECT", "1"]), ok());
    for i in 0..100 {
        assert_eq!(r.cmd(&["SET", &format!("a{i}"), "v"]), ok());
        assert_eq!(other.cmd(&["SET", &format!("b{i}"), "v"]), ok());
    }
    assert_eq!(r.cmd(&["DBSIZE"]), int(100));
    assert_eq!(r.cmd(&["FLUSHDB", "FOO"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["FLUSHDB", "SYNC", "ASYNC"]),
        err("ERR syntax error")
    );
    assert_eq!(r.cmd(&["FLUSHALL", "NOW"]), err("ERR syntax error"));
    assert_eq!(r.cmd(&["FLUSHDB"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
    assert_eq!(
        other.cmd(&["DBSIZE"]),
        int(100),
        "FLUSHDB only empties the current db"
    );
    assert_eq!(r.cmd(&["SET", "x", "1"]), ok());
    assert_eq!(r.cmd(&["FLUSHDB", "async"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
    assert_eq!(r.cmd(&["SET", "x", "1"]), ok());
    assert_eq!(r.cmd(&["FLUSHDB", "SYNC"]), ok());
    assert_eq!(r.cmd(&["GET", "x"]), Frame::Null);
    assert_eq!(r.cmd(&["SET", "x", "1", "EX", "100"]), ok());
    assert_eq!(r.cmd(&["FLUSHALL"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
    assert_eq!(other.cmd(&["DBSIZE"]), int(0));
    for i in 0..1000 {
        assert_eq!(other.cmd(&["SET", &format!("b{i}"), "v"]), ok());
    }
    assert_eq!(r.cmd(&["FLUSHALL", "ASYNC"]), ok());
    assert_eq!(other.cmd(&["DBSIZE"]), int(0));
    assert_eq!(other.cmd(&["GET", "b1"]), Frame::Null);
    assert_eq!(r.cmd(&["FLUSHALL", "sync"]), ok());
    // The databases work normally after a flush.
    assert_eq!(r.cmd(&["SET", "after", "1", "PX", "100000"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(1));
    assert_eq!(
        r.cmd(&["DBSIZE", "x"]),
        err("ERR wrong number of arguments for 'dbsize' command")
    );
}

#[test]
fn swapdb_command() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut in1 = srv.raw();
    assert_eq!(in1.cmd(&["SELECT", "1"]), ok());
    for i in 0..50 {
        assert_eq!(r.cmd(&["SET", &format!("zero{i}"), "0"]), ok());
    }
    assert_eq!(in1.cmd(&["SET", "one", "1", "EX", "100"]), ok());
    assert_eq!(
        r.cmd(&["SWAPDB", "a", "1"]),
        err("ERR invalid first DB index")
    );
    assert_eq!(
        r.cmd(&["SWAPDB", "0", "b"]),
        err("ERR invalid second DB index")
    );
    assert_eq!(
        r.cmd(&["SWAPDB", "0", "5000000000"]),
        err("ERR invalid second DB index")
    );
    assert_eq!(
        r.cmd(&["SWAPDB", "0", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        r.cmd(&["SWAPDB", "-1", "0"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(r.cmd(&["SWAPDB", "0", "0"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(50));

    assert_eq!(r.cmd(&["SWAPDB", "0", "1"]), ok());
    // Clients keep their db index and see the other data.
    assert_eq!(r.cmd(&["DBSIZE"]), int(1));
    assert_eq!(r.cmd(&["GET", "one"]), bulk("1"));
    let ttl = integer(r.cmd(&["TTL", "one"]));
    assert!((99..=100).contains(&ttl));
    assert_eq!(in1.cmd(&["DBSIZE"]), int(50));
    assert_eq!(in1.cmd(&["GET", "zero7"]), bulk("0"));
    assert_eq!(r.cmd(&["SWAPDB", "1", "0"]), ok());
    assert_eq!(r.cmd(&["GET", "zero7"]), bulk("0"));
    assert_eq!(in1.cmd(&["GET", "one"]), bulk("1"));
    assert_eq!(r.cmd(&["SWAPDB", "0", "15"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
    assert_eq!(r.cmd(&["SELECT", "15"]), ok());
    assert_eq!(r.cmd(&["DBSIZE"]), int(50));
}

#[test]
fn object_subcommands() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "nope"]), Frame::Null);
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "nope"]), Frame::Null);
    assert_eq!(r.cmd(&["OBJECT", "IDLETIME", "nope"]), Frame::Null);
    assert_eq!(r.cmd(&["OBJECT", "FREQ", "nope"]), Frame::Null);

    assert_eq!(r.cmd(&["SET", "i", "12345"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "i"]), bulk("int"));
    assert_eq!(r.cmd(&["SET", "e", "x".repeat(44).as_str()]), ok());
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "e"]), bulk("embstr"));
    assert_eq!(r.cmd(&["SET", "raw", "x".repeat(45).as_str()]), ok());
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "raw"]), bulk("raw"));
    assert_eq!(r.cmd(&["SET", "s", "abc"]), ok());
    assert_eq!(r.cmd(&["APPEND", "s", "d"]), int(4));
    assert_eq!(
        r.cmd(&["OBJECT", "encoding", "s"]),
        bulk("raw"),
        "APPEND makes a raw string"
    );
    assert_eq!(r.cmd(&["SET", "notint", "007"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "notint"]), bulk("embstr"));

    // Redis answers INT_MAX for its shared integers 0..9999, 1 for everything else.
    assert_eq!(r.cmd(&["SET", "small", "100"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "small"]), int(2147483647));
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "i"]), int(1));
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "s"]), int(1));
    assert!(
        integer(r.cmd(&["OBJECT", "IDLETIME", "i"])) <= 1,
        "just written"
    );

    assert_eq!(
        r.cmd(&["OBJECT", "FREQ", "i"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(
        r.cmd(&["OBJECT", "NOSUCH", "i"]),
        err("ERR unknown subcommand 'NOSUCH'. Try OBJECT HELP.")
    );
    assert_eq!(
        r.cmd(&["OBJECT", "ENCODING"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );

    let Frame::Array(help) = r.cmd(&["OBJECT", "HELP"]) else {
        panic!()
    };
    assert_eq!(help.len(), 15);
    assert_eq!(
        help[0],
        Frame::Simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
    );
    assert_eq!(help[14], Frame::Simple("    Print this help.".into()));
}

#[test]
fn object_idletime_counts_seconds_and_touch_resets_it() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "a", "1"]), ok());
    assert_eq!(r.cmd(&["SET", "b", "1"]), ok());
    srv.advance_clock(2100);
    let idle = integer(r.cmd(&["OBJECT", "IDLETIME", "a"]));
    assert!((1..=3).contains(&idle), "idle {idle}");
    // Introspection does not count as access; TOUCH and reads do.
    assert!(integer(r.cmd(&["OBJECT", "IDLETIME", "a"])) >= idle);
    assert_eq!(r.cmd(&["EXISTS", "a"]), int(1));
    assert_eq!(r.cmd(&["TTL", "a"]), int(-1));
    assert!(integer(r.cmd(&["OBJECT", "IDLETIME", "a"])) >= 1);
    // The clock has one-second resolution, so "just touched" reads as 0 or 1.
    assert_eq!(r.cmd(&["TOUCH", "a"]), int(1));
    assert!(integer(r.cmd(&["OBJECT", "IDLETIME", "a"])) <= 1);
    assert_eq!(r.cmd(&["GET", "b"]), bulk("1"));
    assert!(integer(r.cmd(&["OBJECT", "IDLETIME", "b"])) <= 1);
}

#[test]
fn object_under_lfu_and_lru_policies() {
    let srv = TestServer::with_args(&[("maxmemory-policy", "allkeys-lfu")]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "1"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "FREQ", "k"]), int(5));
    assert_eq!(
        r.cmd(&["OBJECT", "IDLETIME", "k"]),
        err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );

    // With a memory limit and an LRU policy Redis does not share integers.
    let srv = TestServer::with_args(&[("maxmemory", "100mb"), ("maxmemory-policy", "allkeys-lru")]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "1"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "k"]), int(1));
}

#[test]
fn expire_family_basics() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["EXPIRE", "nope", "100"]), int(0));
    assert_eq!(r.cmd(&["TTL", "nope"]), int(-2));
    assert_eq!(r.cmd(&["PTTL", "nope"]), int(-2));
    assert_eq!(r.cmd(&["EXPIRETIME", "nope"]), int(-2));
    assert_eq!(r.cmd(&["PEXPIRETIME", "nope"]), int(-2));
    assert_eq!(r.cmd(&["PERSIST", "nope"]), int(0));

    assert_eq!(r.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(r.cmd(&["PTTL", "k"]), int(-1));
    assert_eq!(r.cmd(&["EXPIRETIME", "k"]), int(-1));
    assert_eq!(r.cmd(&["PEXPIRETIME", "k"]), int(-1));
    assert_eq!(r.cmd(&["PERSIST", "k"]), int(0));

    assert_eq!(r.cmd(&["EXPIRE", "k", "100"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(100));
    let pttl = integer(r.cmd(&["PTTL", "k"]));
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(r.cmd(&["PEXPIRE", "k", "2400"]), int(1));
    assert_eq!(
        r.cmd(&["TTL", "k"]),
        int(2),
        "seconds are rounded to nearest"
    );
    assert_eq!(r.cmd(&["PEXPIRE", "k", "1600"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(2));
    assert_eq!(r.cmd(&["PEXPIRE", "k", "1400"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(1));

    let at = now_ms() / 1000 + 1000;
    assert_eq!(r.cmd(&["EXPIREAT", "k", &at.to_string()]), int(1));
    assert_eq!(r.cmd(&["EXPIRETIME", "k"]), int(at));
    assert_eq!(r.cmd(&["PEXPIRETIME", "k"]), int(at * 1000));
    assert_eq!(
        r.cmd(&["PEXPIREAT", "k", &(at * 1000 + 123).to_string()]),
        int(1)
    );
    assert_eq!(r.cmd(&["PEXPIRETIME", "k"]), int(at * 1000 + 123));
    assert_eq!(
        r.cmd(&["EXPIRETIME", "k"]),
        int(at),
        "absolute seconds round to nearest too"
    );

    assert_eq!(r.cmd(&["PERSIST", "k"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(r.cmd(&["PERSIST", "k"]), int(0));

    // Overwriting with SET clears the deadline.
    assert_eq!(r.cmd(&["EXPIRE", "k", "100"]), int(1));
    assert_eq!(r.cmd(&["SET", "k", "v2"]), ok());
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1));

    let mut c = conn(&srv);
    let set: bool = c.expire("k", 50).unwrap();
    assert!(set);
    let t: i64 = c.ttl("k").unwrap();
    assert_eq!(t, 50);
}

#[test]
fn expire_deadlines_in_the_past_delete() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let cases: [&[&str]; 6] = [
        &["EXPIRE", "k", "0"],
        &["EXPIRE", "k", "-1"],
        &["PEXPIRE", "k", "0"],
        &["PEXPIRE", "k", "-9223372036854775808"],
        &["EXPIREAT", "k", "1"],
        &["PEXPIREAT", "k", "-5"],
    ];
    for case in cases {
        assert_eq!(r.cmd(&["SET", "k", "v"]), ok());
        assert_eq!(r.cmd(case), int(1), "{case:?}");
        assert_eq!(r.cmd(&["EXISTS", "k"]), int(0), "{case:?}");
    }
    let past = (now_ms() - 1).to_string();
    assert_eq!(r.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &past]), int(1));
    assert_eq!(r.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(r.cmd(&["DBSIZE"]), int(0));
}

#[test]
fn expire_huge_and_overflowing_times() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "v"]), ok());
    let max = i64::MAX.to_string();
    assert_eq!(
        r.cmd(&["EXPIRE", "k", &max]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "9223372036854775"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "-9223372036854776"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        r.cmd(&["PEXPIRE", "k", &max]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        r.cmd(&["EXPIREAT", "k", &max]),
        err("ERR invalid expire time in 'expireat' command")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "9223372036854775808"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1), "errors leave the key alone");

    // The largest absolute deadline is accepted as is.
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &max]), int(1));
    assert_eq!(r.cmd(&["PEXPIRETIME", "k"]), int(i64::MAX));
    assert_eq!(r.cmd(&["EXPIRETIME", "k"]), int(i64::MAX / 1000 + 1));
    assert!(integer(r.cmd(&["PTTL", "k"])) > i64::MAX / 2);
    assert_eq!(r.cmd(&["GET", "k"]), bulk("v"));
    // A long relative TTL: 3000 years.
    assert_eq!(r.cmd(&["EXPIRE", "k", "100000000000"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(100_000_000_000));
}

#[test]
fn expire_nx_xx_gt_lt_matrix() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "v"]), ok());

    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100", "NX", "GT"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100", "lt", "nx"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "100", "FOO"]),
        err("ERR Unsupported option FOO")
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "k", "abc", "FOO"]),
        err("ERR Unsupported option FOO"),
        "options are checked first"
    );
    assert_eq!(
        r.cmd(&["EXPIRE", "nope", "100", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1));

    // No deadline: GT and XX fail (no deadline counts as infinite), NX and LT apply.
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "GT"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "XX", "GT"]), int(0));
    assert_eq!(r.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(100));
    assert_eq!(r.cmd(&["PERSIST", "k"]), int(1));
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "LT"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(100));

    // Deadline of 100 s.
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "NX"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "LT"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "XX", "LT"]), int(0));
    assert_eq!(r.cmd(&["TTL", "k"]), int(100));
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "GT"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(200));
    assert_eq!(r.cmd(&["EXPIRE", "k", "50", "GT"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "k", "50", "LT"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(50));
    assert_eq!(r.cmd(&["EXPIRE", "k", "150", "XX"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(150));
    assert_eq!(r.cmd(&["EXPIRE", "k", "170", "XX", "GT"]), int(1));
    assert_eq!(r.cmd(&["EXPIRE", "k", "160", "xx", "lt"]), int(1));
    assert_eq!(r.cmd(&["TTL", "k"]), int(160));

    // Equal deadlines are neither greater nor less.
    let at = (now_ms() + 500_000).to_string();
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &at]), int(1));
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &at, "GT"]), int(0));
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &at, "LT"]), int(0));
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &at, "XX"]), int(1));

    // A condition that fails protects the key even from a past deadline; one that holds
    // lets the past deadline delete it.
    assert_eq!(r.cmd(&["SET", "p", "v"]), ok());
    assert_eq!(r.cmd(&["EXPIRE", "p", "-10", "GT"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "p", "-10", "XX"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "p"]), int(1));
    assert_eq!(r.cmd(&["EXPIRE", "p", "-10", "LT"]), int(1));
    assert_eq!(r.cmd(&["EXISTS", "p"]), int(0));
    assert_eq!(r.cmd(&["SET", "p", "v", "EX", "100"]), ok());
    assert_eq!(r.cmd(&["EXPIRE", "p", "0", "GT"]), int(0));
    assert_eq!(r.cmd(&["EXPIRE", "p", "0", "LT"]), int(1));
    assert_eq!(r.cmd(&["EXISTS", "p"]), int(0));
}

#[test]
fn expiry_survives_rename_move_copy_and_is_cleared_by_persist() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "v", "PX", "150"]), ok());
    assert_eq!(r.cmd(&["RENAME", "k", "k2"]), ok());
    assert_eq!(r.cmd(&["COPY", "k2", "k3"]), int(1));
    assert_eq!(r.cmd(&["MOVE", "k3", "1"]), int(1));
    srv.advance_clock(151);
    assert_eq!(r.cmd(&["EXISTS", "k2"]), int(0));
    assert_eq!(r.cmd(&["SELECT", "1"]), ok());
    assert_eq!(r.cmd(&["EXISTS", "k3"]), int(0));
    assert_eq!(r.cmd(&["SET", "p", "v", "PX", "100"]), ok());
    assert_eq!(r.cmd(&["PERSIST", "p"]), int(1));
    srv.advance_clock(101);
    assert_eq!(r.cmd(&["GET", "p"]), bulk("v"));
}

#[test]
fn arity_and_unknown_words() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["EXPIRE", "k"]),
        err("ERR wrong number of arguments for 'expire' command")
    );
    assert_eq!(
        r.cmd(&["TTL"]),
        err("ERR wrong number of arguments for 'ttl' command")
    );
    assert_eq!(
        r.cmd(&["RENAME", "a"]),
        err("ERR wrong number of arguments for 'rename' command")
    );
    assert_eq!(
        r.cmd(&["MOVE", "a"]),
        err("ERR wrong number of arguments for 'move' command")
    );
    assert_eq!(
        r.cmd(&["SWAPDB", "0"]),
        err("ERR wrong number of arguments for 'swapdb' command")
    );
    assert_eq!(
        r.cmd(&["KEYS"]),
        err("ERR wrong number of arguments for 'keys' command")
    );
    assert_eq!(
        r.cmd(&["RANDOMKEY", "x"]),
        err("ERR wrong number of arguments for 'randomkey' command")
    );
    assert_eq!(
        r.cmd(&["COPY", "a"]),
        err("ERR wrong number of arguments for 'copy' command")
    );
}
