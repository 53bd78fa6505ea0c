//! Hash commands against a real server on a free port, through raw RESP.

use std::collections::BTreeMap;

use cinnabar_resp::Frame;
use cinnabar_testkit::TestServer;
use cinnabar_testkit::{bulk, err, int, ok};

use rand::{Rng, SeedableRng};

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

fn bulks(items: &[&str]) -> Frame {
    arr(items.iter().map(|s| bulk(s)).collect())
}

/// The bulk strings of a flat array reply.
fn strings(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v
            .into_iter()
            .map(|x| match x {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

const HUGE: &str = "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096";

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn hset_hget_hmset_hsetnx() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(r.cmd(&["HSET", "h", "a", "10", "c", "3"]), int(1));
    assert_eq!(r.cmd(&["HGET", "h", "a"]), bulk("10"));
    assert_eq!(r.cmd(&["HGET", "h", "zz"]), Frame::Null);
    assert_eq!(r.cmd(&["HGET", "nokey", "a"]), Frame::Null);
    assert_eq!(r.cmd(&["HMSET", "h", "d", "4"]), ok());
    assert_eq!(
        r.cmd(&["HSET", "h", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(
        r.cmd(&["HMSET", "h", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'hmset' command")
    );
    assert_eq!(
        r.cmd(&["HSET", "h", "a"]),
        err("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(r.cmd(&["HSETNX", "h", "a", "x"]), int(0));
    assert_eq!(r.cmd(&["HSETNX", "h", "e", "5"]), int(1));
    assert_eq!(r.cmd(&["HSETNX", "new", "e", "5"]), int(1));
    assert_eq!(r.cmd(&["HGET", "h", "e"]), bulk("5"));
    assert_eq!(
        r.cmd(&["HMGET", "h", "a", "zz", "e"]),
        arr(vec![bulk("10"), Frame::Null, bulk("5")])
    );
    assert_eq!(
        r.cmd(&["HMGET", "nokey", "a", "b"]),
        arr(vec![Frame::Null, Frame::Null])
    );
    assert_eq!(r.cmd(&["TYPE", "h"]), Frame::Simple("hash".into()));
}

#[test]
fn wrongtype_everywhere() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "s", "x"]);
    for c in [
        vec!["HSET", "s", "a", "1"],
        vec!["HMSET", "s", "a", "1"],
        vec!["HSETNX", "s", "a", "1"],
        vec!["HGET", "s", "a"],
        vec!["HMGET", "s", "a"],
        vec!["HDEL", "s", "a"],
        vec!["HLEN", "s"],
        vec!["HSTRLEN", "s", "a"],
        vec!["HEXISTS", "s", "a"],
        vec!["HKEYS", "s"],
        vec!["HVALS", "s"],
        vec!["HGETALL", "s"],
        vec!["HINCRBY", "s", "a", "1"],
        vec!["HINCRBYFLOAT", "s", "a", "1"],
        vec!["HRANDFIELD", "s"],
        vec!["HRANDFIELD", "s", "2"],
        vec!["HSCAN", "s", "0"],
    ] {
        assert_eq!(r.cmd(&c), err(WRONGTYPE), "{c:?}");
    }
    // Argument errors that Redis checks before the key.
    assert_eq!(
        r.cmd(&["HINCRBY", "s", "a", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["HINCRBYFLOAT", "s", "a", "x"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(r.cmd(&["HSCAN", "s", "x"]), err("ERR invalid cursor"));
    assert_eq!(
        r.cmd(&["HRANDFIELD", "s", "x"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn hdel_hlen_hexists_hstrlen() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HSET", "h", "a", "1", "b", "22", "c", "333"]);
    assert_eq!(r.cmd(&["HLEN", "h"]), int(3));
    assert_eq!(r.cmd(&["HLEN", "nokey"]), int(0));
    assert_eq!(r.cmd(&["HSTRLEN", "h", "c"]), int(3));
    assert_eq!(r.cmd(&["HSTRLEN", "h", "z"]), int(0));
    assert_eq!(r.cmd(&["HSTRLEN", "nokey", "z"]), int(0));
    assert_eq!(r.cmd(&["HEXISTS", "h", "a"]), int(1));
    assert_eq!(r.cmd(&["HEXISTS", "h", "z"]), int(0));
    assert_eq!(r.cmd(&["HEXISTS", "nokey", "z"]), int(0));
    assert_eq!(r.cmd(&["HDEL", "h", "a", "a", "z"]), int(1));
    assert_eq!(r.cmd(&["HDEL", "nokey", "a"]), int(0));
    assert_eq!(r.cmd(&["HDEL", "h", "b", "c", "d"]), int(2));
    assert_eq!(r.cmd(&["EXISTS", "h"]), int(0));
}

#[test]
fn hgetall_hkeys_hvals_order_and_resp3() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HSET", "h", "z", "1", "a", "2", "m", "3"]);
    assert_eq!(
        r.cmd(&["HGETALL", "h"]),
        bulks(&["z", "1", "a", "2", "m", "3"])
    );
    assert_eq!(r.cmd(&["HKEYS", "h"]), bulks(&["z", "a", "m"]));
    assert_eq!(r.cmd(&["HVALS", "h"]), bulks(&["1", "2", "3"]));
    assert_eq!(r.cmd(&["HGETALL", "nokey"]), arr(vec![]));
    assert_eq!(r.cmd(&["HKEYS", "nokey"]), arr(vec![]));
    r.cmd(&["HELLO", "3"]);
    assert_eq!(
        r.cmd(&["HGETALL", "h"]),
        Frame::Map(vec![
            (bulk("z"), bulk("1")),
            (bulk("a"), bulk("2")),
            (bulk("m"), bulk("3"))
        ])
    );
    assert_eq!(r.cmd(&["HGETALL", "nokey"]), Frame::Map(vec![]));
    assert_eq!(r.cmd(&["HKEYS", "h"]), bulks(&["z", "a", "m"]));
}

#[test]
fn hincrby_and_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(r.cmd(&["HINCRBY", "h", "n", "-7"]), int(-2));
    r.cmd(&[
        "HSET",
        "h",
        "s",
        "abc",
        "sp",
        " 1",
        "big",
        "9223372036854775807",
    ]);
    assert_eq!(
        r.cmd(&["HINCRBY", "h", "s", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        r.cmd(&["HINCRBY", "h", "sp", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        r.cmd(&["HINCRBY", "h", "big", "1"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(r.cmd(&["HINCRBY", "h", "big", "0"]), int(i64::MAX));
    assert_eq!(
        r.cmd(&["HINCRBY", "h", "n", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["HINCRBY", "h", "n", "99999999999999999999"]),
        err("ERR value is not an integer or out of range")
    );
    r.cmd(&["HSET", "m", "x", "-9223372036854775808"]);
    assert_eq!(
        r.cmd(&["HINCRBY", "m", "x", "-1"]),
        err("ERR increment or decrement would overflow")
    );
    // A failed increment on a new key leaves no empty key behind.
    assert_eq!(r.cmd(&["EXISTS", "nokey"]), int(0));
}

#[test]
fn hincrbyfloat_exact() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "-10.6"]), bulk("0"));
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "5.0e3"]), bulk("5000"));
    r.cmd(&["HSET", "h", "i", "17"]);
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "i", "1.5"]), bulk("18.5"));
    r.cmd(&["HSET", "h", "s", "abc"]);
    assert_eq!(
        r.cmd(&["HINCRBYFLOAT", "h", "s", "1"]),
        err("ERR hash value is not a float")
    );
    assert_eq!(
        r.cmd(&["HINCRBYFLOAT", "h", "f", "abc"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        r.cmd(&["HINCRBYFLOAT", "h", "f", "inf"]),
        err("ERR value is NaN or Infinity")
    );
    r.cmd(&["HSET", "h", "huge", "1e308"]);
    // 2e308 overflows a double but not Redis's long double: printed in full (from Redis 7.0).
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "huge", "1e308"]), bulk(HUGE));
}

#[test]
fn hrandfield_shapes() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["HRANDFIELD", "nokey"]), Frame::Null);
    assert_eq!(r.cmd(&["HRANDFIELD", "nokey", "3"]), arr(vec![]));
    r.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let Frame::Bulk(f) = r.cmd(&["HRANDFIELD", "h"]) else {
        panic!()
    };
    assert!([&b"a"[..], b"b", b"c"].contains(&&f[..]));
    assert_eq!(r.cmd(&["HRANDFIELD", "h", "0"]), arr(vec![]));
    assert_eq!(r.cmd(&["HRANDFIELD", "h", "5"]), bulks(&["a", "b", "c"]));
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
        bulks(&["a", "1", "b", "2", "c", "3"])
    );
    let two = strings(r.cmd(&["HRANDFIELD", "h", "2"]));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let many = strings(r.cmd(&["HRANDFIELD", "h", "-10"]));
    assert_eq!(many.len(), 10);
    let pairs = strings(r.cmd(&["HRANDFIELD", "h", "-6", "withvalues"]));
    assert_eq!(pairs.len(), 12);
    for p in pairs.chunks(2) {
        let want = match p[0].as_str() {
            "a" => "1",
            "b" => "2",
            "c" => "3",
            other => panic!("{other}"),
        };
        assert_eq!(p[1], want);
    }
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "1", "x"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "1", "withvalues", "x"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "-9223372036854775807", "withvalues"]),
        err("ERR value is out of range")
    );
    r.cmd(&["HELLO", "3"]);
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
        arr(vec![
            bulks(&["a", "1"]),
            bulks(&["b", "2"]),
            bulks(&["c", "3"])
        ])
    );
    let Frame::Array(v) = r.cmd(&["HRANDFIELD", "h", "-4", "WITHVALUES"]) else {
        panic!()
    };
    assert_eq!(v.len(), 4);
    assert!(v
        .iter()
        .all(|p| matches!(p, Frame::Array(x) if x.len() == 2)));
    let Frame::Array(v) = r.cmd(&["HRANDFIELD", "h", "1", "WITHVALUES"]) else {
        panic!()
    };
    assert_eq!(v.len(), 1);
}

#[test]
fn hrandfield_large_hash_distinct() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 0..300 {
        r.cmd(&["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    for count in ["10", "150", "299", "300", "1000"] {
        let got = strings(r.cmd(&["HRANDFIELD", "h", count]));
        let set: std::collections::HashSet<_> = got.iter().collect();
        assert_eq!(set.len(), got.len());
        assert_eq!(got.len(), count.parse::<usize>().unwrap().min(300));
    }
}

#[test]
fn encoding_conversion_and_config() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 0..128 {
        r.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    r.cmd(&["HSET", "h", "f128", "v"]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    assert_eq!(r.cmd(&["HLEN", "h"]), int(129));
    r.cmd(&["HSET", "v", "a", &"x".repeat(64)]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "v"]), bulk("listpack"));
    r.cmd(&["HSET", "v", "a", &"x".repeat(65)]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "v"]), bulk("hashtable"));
    r.cmd(&["HSET", "k", &"k".repeat(65), "1"]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "k"]), bulk("hashtable"));
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]),
        ok()
    );
    r.cmd(&["HSET", "c", "a", "1", "b", "2"]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "c"]), bulk("listpack"));
    r.cmd(&["HINCRBY", "c", "n", "1"]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "c"]), bulk("hashtable"));
    assert_eq!(r.cmd(&["HGET", "c", "n"]), bulk("1"));
    // COPY duplicates the whole hash.
    assert_eq!(r.cmd(&["COPY", "c", "c2"]), int(1));
    assert_eq!(r.cmd(&["HGET", "c2", "a"]), bulk("1"));
}

#[test]
fn hscan_small_and_large() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["HSCAN", "nokey", "0"]),
        arr(vec![bulk("0"), arr(vec![])])
    );
    assert_eq!(
        r.cmd(&["HSCAN", "nokey", "0", "BADOPT"]),
        arr(vec![bulk("0"), arr(vec![])])
    );
    r.cmd(&["HSET", "h", "a", "1", "b", "2", "ab", "3"]);
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0"]),
        arr(vec![bulk("0"), bulks(&["a", "1", "b", "2", "ab", "3"])])
    );
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0", "MATCH", "a*"]),
        arr(vec![bulk("0"), bulks(&["a", "1", "ab", "3"])])
    );
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0", "MATCH"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["HSCAN", "h", "0", "TYPE", "string"]),
        err("ERR syntax error")
    );
    assert_eq!(r.cmd(&["HSCAN", "h", "abc"]), err("ERR invalid cursor"));
    for i in 0..500 {
        r.cmd(&["HSET", "big", &format!("f{i}"), &format!("{i}")]);
    }
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let Frame::Array(mut v) = r.cmd(&["HSCAN", "big", &cursor, "COUNT", "50"]) else {
            panic!()
        };
        let items = strings(v.pop().unwrap());
        let Frame::Bulk(c) = v.pop().unwrap() else {
            panic!()
        };
        cursor = String::from_utf8(c.to_vec()).unwrap();
        for p in items.chunks(2) {
            seen.insert(p[0].clone(), p[1].clone());
        }
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 1);
    assert_eq!(seen.len(), 500);
    assert_eq!(seen["f42"], "42");
    let Frame::Array(v) = r.cmd(&["HSCAN", "big", "0", "MATCH", "f1*", "COUNT", "1000"]) else {
        panic!()
    };
    assert_eq!(strings(v[1].clone()).len(), 2 * 111);
}

fn ints(f: Frame) -> Vec<i64> {
    match f {
        Frame::Array(v) => v
            .into_iter()
            .map(|x| match x {
                Frame::Integer(n) => n,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// HEXPIRE and friends run only once the command table lists them (Redis 7.4 commands).
#[test]
fn field_expiry_commands() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz"])),
        vec![1, -2]
    );
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "nokey", "100", "FIELDS", "1", "a"])),
        vec![-2]
    );
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "h", "200", "NX", "FIELDS", "2", "a", "b"])),
        vec![0, 1]
    );
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "h", "50", "XX", "FIELDS", "2", "a", "c"])),
        vec![1, 0]
    );
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "h", "60", "GT", "FIELDS", "2", "a", "c"])),
        vec![1, 0]
    );
    assert_eq!(
        ints(r.cmd(&["HEXPIRE", "h", "70", "LT", "FIELDS", "2", "a", "c"])),
        vec![0, 1]
    );
    assert_eq!(
        ints(r.cmd(&["HTTL", "h", "FIELDS", "4", "a", "b", "c", "zz"])),
        vec![60, 200, 70, -2]
    );
    let p = ints(r.cmd(&["HPTTL", "h", "FIELDS", "1", "a"]))[0];
    assert!((59_000..=60_000).contains(&p));
    let t = ints(r.cmd(&["HEXPIRETIME", "h", "FIELDS", "1", "a"]))[0];
    let pt = ints(r.cmd(&["HPEXPIRETIME", "h", "FIELDS", "1", "a"]))[0];
    assert_eq!(t, (pt + 999) / 1000);
    assert_eq!(
        ints(r.cmd(&["HPERSIST", "h", "FIELDS", "3", "a", "a", "zz"])),
        vec![1, -1, -2]
    );
    assert_eq!(ints(r.cmd(&["HTTL", "h", "FIELDS", "1", "a"])), vec![-1]);
    // HSET clears a field's TTL, HINCRBY keeps it.
    r.cmd(&["HSET", "h", "c", "9"]);
    assert_eq!(ints(r.cmd(&["HTTL", "h", "FIELDS", "1", "c"])), vec![-1]);
    r.cmd(&["HSET", "h", "n", "1"]);
    r.cmd(&["HEXPIRE", "h", "100", "FIELDS", "1", "n"]);
    r.cmd(&["HINCRBY", "h", "n", "1"]);
    assert_eq!(ints(r.cmd(&["HTTL", "h", "FIELDS", "1", "n"])), vec![100]);
    // A time in the past deletes; the key goes with its last field.
    assert_eq!(
        ints(r.cmd(&["HPEXPIREAT", "h", "1", "FIELDS", "1", "a"])),
        vec![2]
    );
    assert_eq!(r.cmd(&["HEXISTS", "h", "a"]), int(0));
    r.cmd(&["HSET", "one", "f", "v"]);
    assert_eq!(
        ints(r.cmd(&["HEXPIREAT", "one", "0", "FIELDS", "1", "f"])),
        vec![2]
    );
    assert_eq!(r.cmd(&["EXISTS", "one"]), int(0));
    // Errors.
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "10", "FIELDS", "0", "a"]),
        err("ERR Parameter `numFields` should be greater than 0")
    );
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "10", "FIELDS", "2", "a"]),
        err("ERR The `numfields` parameter must match the number of arguments")
    );
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "-1", "FIELDS", "1", "a"]),
        err("ERR invalid expire time, must be >= 0")
    );
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "x", "FIELDS", "1", "a"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "99999999999999", "FIELDS", "1", "a"]),
        err("ERR invalid expire time in 'hexpire' command")
    );
    assert_eq!(
        r.cmd(&["HEXPIRE", "h", "10", "BAD", "1", "a"]),
        err("ERR Mandatory argument FIELDS is missing or not at the right position")
    );
    assert_eq!(
        r.cmd(&["HTTL", "h", "FIELDS", "0", "a"]),
        err("ERR Number of fields must be a positive integer")
    );
    assert_eq!(
        r.cmd(&["HPERSIST", "h", "FIELDS", "2", "a"]),
        err("ERR The `numfields` parameter must match the number of arguments")
    );
    r.cmd(&["SET", "s", "x"]);
    assert_eq!(
        r.cmd(&["HEXPIRE", "s", "10", "FIELDS", "1", "a"]),
        err(WRONGTYPE)
    );
    assert_eq!(r.cmd(&["HTTL", "s", "FIELDS", "1", "a"]), err(WRONGTYPE));
}

#[test]
fn expired_fields_are_invisible() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    r.cmd(&["HPEXPIRE", "h", "50", "FIELDS", "1", "a"]);
    srv.advance_clock(51);
    assert_eq!(r.cmd(&["HGET", "h", "a"]), Frame::Null);
    assert_eq!(r.cmd(&["HLEN", "h"]), int(1));
    assert_eq!(r.cmd(&["HGETALL", "h"]), bulks(&["b", "2"]));
    r.cmd(&["HPEXPIRE", "h", "50", "FIELDS", "1", "b"]);
    srv.advance_clock(51);
    assert_eq!(r.cmd(&["HLEN", "h"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "h"]), int(0));
}

/// Random operations against a BTreeMap model, on a hash that crosses the encoding limit.
#[test]
fn randomized_against_model() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    for step in 0..3000 {
        let f = format!("f{}", rng.gen_range(0..200));
        match rng.gen_range(0..6) {
            0 | 1 => {
                let v = format!("v{step}");
                let new = model.insert(f.clone(), v.clone()).is_none();
                assert_eq!(r.cmd(&["HSET", "h", &f, &v]), int(new as i64));
            }
            2 => {
                let gone = model.remove(&f).is_some();
                assert_eq!(r.cmd(&["HDEL", "h", &f]), int(gone as i64));
            }
            3 => {
                let want = model.get(&f).map_or(Frame::Null, |v| bulk(v));
                assert_eq!(r.cmd(&["HGET", "h", &f]), want);
            }
            4 => assert_eq!(r.cmd(&["HLEN", "h"]), int(model.len() as i64)),
            _ => {
                let want = model.contains_key(&f) as i64;
                assert_eq!(r.cmd(&["HEXISTS", "h", &f]), int(want));
            }
        }
    }
    let got: Vec<String> = strings(r.cmd(&["HGETALL", "h"]));
    let mut pairs: Vec<(String, String)> = got
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    pairs.sort();
    assert_eq!(pairs, model.into_iter().collect::<Vec<_>>());
}

/// Fields with deadlines are reclaimed by the active expiry cycle even if nobody reads them.
#[test]
fn expired_fields_are_reclaimed_actively() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 0..50 {
        let key = format!("h{i}");
        r.cmd(&["HSET", &key, "a", "1", "b", "2"]);
        r.cmd(&["HPEXPIRE", &key, "30", "FIELDS", "2", "a", "b"]);
    }
    r.cmd(&["HSET", "keep", "a", "1", "b", "2"]);
    r.cmd(&["HPEXPIRE", "keep", "30", "FIELDS", "1", "a"]);
    srv.advance_clock(31);
    // DBSIZE does not read the hashes, so only the active cycle can remove them.
    cinnabar_testkit::eventually(
        cinnabar_testkit::PATIENCE,
        "the active cycle to reclaim hashes with expired fields",
        || r.cmd(&["DBSIZE"]) == Frame::Integer(1),
    );
    assert_eq!(r.cmd(&["HLEN", "keep"]), Frame::Integer(1));
}

/// INFO persistence rdb_changes_since_last_save.
fn changes(r: &mut cinnabar_testkit::RawConn) -> i64 {
    let info = cinnabar_testkit::text(&r.cmd(&["INFO", "persistence"]));
    info.split("\r\n")
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .unwrap()
        .parse()
        .unwrap()
}

/// HGETEX, HSETEX and HGETDEL (Redis 8.0): replies, deadlines, the key going with its last
/// field, and Redis's errors in its order of checks.
#[test]
fn hgetex_hsetex_hgetdel() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // HSETEX: all or nothing under FNX / FXX; a time, KEEPTTL, or neither (HSET's clearing).
    assert_eq!(
        r.cmd(&["HSETEX", "h", "FXX", "FIELDS", "1", "a", "1"]),
        int(0)
    );
    assert_eq!(r.cmd(&["EXISTS", "h"]), int(0));
    assert_eq!(
        r.cmd(&["HSETEX", "h", "EX", "100", "FIELDS", "2", "a", "1", "b", "2"]),
        int(1)
    );
    assert_eq!(
        ints(r.cmd(&["HTTL", "h", "FIELDS", "2", "a", "b"])),
        vec![100, 100]
    );
    assert_eq!(
        r.cmd(&["HSETEX", "h", "FNX", "FIELDS", "2", "c", "3", "a", "9"]),
        int(0)
    );
    assert_eq!(
        r.cmd(&["HSETEX", "h", "FXX", "FIELDS", "2", "a", "9", "c", "3"]),
        int(0)
    );
    assert_eq!(r.cmd(&["HGET", "h", "a"]), bulk("1"));
    assert_eq!(
        r.cmd(&["HSETEX", "h", "FXX", "KEEPTTL", "FIELDS", "1", "a", "5"]),
        int(1)
    );
    assert_eq!(ints(r.cmd(&["HTTL", "h", "FIELDS", "1", "a"])), vec![100]);
    assert_eq!(r.cmd(&["HSETEX", "h", "FIELDS", "1", "a", "6"]), int(1));
    assert_eq!(ints(r.cmd(&["HTTL", "h", "FIELDS", "1", "a"])), vec![-1]);
    assert_eq!(
        r.cmd(&["HSETEX", "h", "FNX", "PX", "50000", "FIELDS", "1", "c", "3"]),
        int(1)
    );
    let pttl = ints(r.cmd(&["HPTTL", "h", "FIELDS", "1", "c"]))[0];
    assert!((49_000..=50_000).contains(&pttl), "{pttl}");
    // A time in the past deletes the fields just set; the key goes with its last field.
    assert_eq!(
        r.cmd(&["HSETEX", "gone", "PXAT", "1", "FIELDS", "1", "a", "1"]),
        int(1)
    );
    assert_eq!(r.cmd(&["EXISTS", "gone"]), int(0));

    // HGETEX: values, then the deadline change of the fields found.
    assert_eq!(
        r.cmd(&["HGETEX", "h", "FIELDS", "3", "a", "zz", "c"]),
        arr(vec![bulk("6"), Frame::Null, bulk("3")])
    );
    assert_eq!(
        r.cmd(&["HGETEX", "h", "EX", "70", "FIELDS", "2", "a", "zz"]),
        arr(vec![bulk("6"), Frame::Null])
    );
    assert_eq!(
        ints(r.cmd(&["HTTL", "h", "FIELDS", "3", "a", "b", "zz"])),
        vec![70, 100, -2]
    );
    assert_eq!(
        r.cmd(&["HGETEX", "h", "PERSIST", "FIELDS", "2", "a", "b"]),
        bulks(&["6", "2"])
    );
    assert_eq!(
        ints(r.cmd(&["HTTL", "h", "FIELDS", "2", "a", "b"])),
        vec![-1, -1]
    );
    assert_eq!(
        r.cmd(&["HGETEX", "h", "EXAT", "1", "FIELDS", "1", "a"]),
        bulks(&["6"])
    );
    assert_eq!(r.cmd(&["HEXISTS", "h", "a"]), int(0));
    assert_eq!(
        r.cmd(&["HGETEX", "nokey", "PX", "10", "FIELDS", "2", "a", "b"]),
        arr(vec![Frame::Null, Frame::Null])
    );

    // HGETDEL: values, each found field deleted once.
    assert_eq!(
        r.cmd(&["HGETDEL", "h", "FIELDS", "3", "b", "zz", "b"]),
        arr(vec![bulk("2"), Frame::Null, Frame::Null])
    );
    assert_eq!(r.cmd(&["HGETDEL", "h", "FIELDS", "1", "c"]), bulks(&["3"]));
    assert_eq!(r.cmd(&["EXISTS", "h"]), int(0));
    assert_eq!(
        r.cmd(&["HGETDEL", "h", "FIELDS", "1", "c"]),
        arr(vec![Frame::Null])
    );

    // Errors.
    let expiration = "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";
    for (cmd, want) in [
        (
            &["HSETEX", "h", "EX", "1", "PX", "1", "FIELDS", "1", "a", "1"][..],
            expiration,
        ),
        (
            &["HSETEX", "h", "KEEPTTL", "EX", "1", "FIELDS", "1", "a", "1"],
            expiration,
        ),
        (
            &["HSETEX", "h", "FNX", "FXX", "FIELDS", "1", "a", "1"],
            "ERR Only one of FXX or FNX arguments can be specified",
        ),
        (
            &["HSETEX", "h", "NX", "FIELDS", "1", "a", "1"],
            "ERR unknown argument: NX",
        ),
        (
            &["HSETEX", "h", "FIELDS", "0", "a", "1"],
            "ERR invalid number of fields",
        ),
        (
            &["HSETEX", "h", "FIELDS", "2", "a", "1"],
            "ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            &["HSETEX", "h", "FIELDS", "1", "a", "1", "b"],
            "ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            &["HSETEX", "h", "FNX", "KEEPTTL", "FIELDS", "1"],
            "ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            &["HSETEX", "h", "FNX", "KEEPTTL", "FXX", "EX"],
            "ERR Only one of FXX or FNX arguments can be specified",
        ),
        (&["HSETEX", "h", "FNX", "KEEPTTL", "PX", "EX"], expiration),
        (
            &["HSETEX", "h", "FNX", "FXX", "KEEPTTL", "EX"],
            "ERR Only one of FXX or FNX arguments can be specified",
        ),
        (
            &["HSETEX", "h", "FNX", "KEEPTTL", "FIELDS", "EX"],
            "ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            &["HSETEX", "h", "EX", "-1", "FIELDS", "1", "a", "1"],
            "ERR invalid expire time, must be >= 0",
        ),
        (
            &[
                "HSETEX",
                "h",
                "EX",
                "99999999999999",
                "FIELDS",
                "1",
                "a",
                "1",
            ],
            "ERR invalid expire time in 'hsetex' command",
        ),
        (
            &["HGETEX", "h", "PX", "x", "FIELDS", "1", "a"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["HGETEX", "h", "EX", "99999999999999", "FIELDS", "1", "a"],
            "ERR invalid expire time in 'hgetex' command",
        ),
        (
            &["HGETEX", "h", "PERSIST", "FIELD", "1", "a"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            &["HGETEX", "h", "FIELDS", "0", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HGETEX", "h", "EX", "10", "FIELDS", "2", "a"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HGETEX", "h", "PX", "10", "FIELDS"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HGETDEL", "h", "FIELDS", "x", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HGETDEL", "h", "FIELD", "1", "a"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            &["HGETDEL", "h", "FIELDS", "2", "a"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
    ] {
        assert_eq!(r.cmd(cmd), err(want), "{cmd:?}");
    }
    // WRONGTYPE comes first for HGETEX and HGETDEL, after the options for HSETEX.
    r.cmd(&["SET", "s", "x"]);
    assert_eq!(r.cmd(&["HGETEX", "s", "FIELDS", "0", "a"]), err(WRONGTYPE));
    assert_eq!(r.cmd(&["HGETDEL", "s", "FIELDS", "0", "a"]), err(WRONGTYPE));
    assert_eq!(
        r.cmd(&["HSETEX", "s", "FIELDS", "0", "a", "1"]),
        err("ERR invalid number of fields")
    );
    assert_eq!(
        r.cmd(&["HSETEX", "s", "FIELDS", "1", "a", "1"]),
        err(WRONGTYPE)
    );
}

/// rdb_changes_since_last_save counts what Redis's `dirty` counts: HSET every pair given,
/// HDEL / HGETDEL every field removed, the field-expiry commands every field whose deadline
/// was set or that was deleted, HPERSIST one per command; nothing for no-ops.
#[test]
fn hash_writes_count_changes_as_redis() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let cases: &[(&[&str], i64)] = &[
        (&["HSET", "h", "a", "1", "b", "2"], 2),
        (&["HSET", "h", "a", "1"], 1),
        (&["HMSET", "h", "a", "1", "c", "3"], 2),
        (&["HSETNX", "h", "a", "x"], 0),
        (&["HSETNX", "h", "d", "4"], 1),
        (&["HINCRBY", "h", "n", "1"], 1),
        (&["HINCRBYFLOAT", "h", "n", "1.5"], 1),
        (&["HINCRBY", "h", "a", "x"], 0),
        (&["HDEL", "h", "zz", "d", "n"], 2),
        (&["HDEL", "nokey", "a"], 0),
        (&["HEXPIRE", "h", "100", "FIELDS", "3", "a", "b", "zz"], 2),
        (&["HEXPIRE", "h", "100", "NX", "FIELDS", "2", "a", "c"], 1),
        (&["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "a"], 0),
        (&["HPERSIST", "h", "FIELDS", "3", "a", "b", "zz"], 1),
        (&["HPERSIST", "h", "FIELDS", "1", "a"], 0),
        (&["HPEXPIRE", "h", "0", "FIELDS", "2", "a", "zz"], 1),
        (&["HSETEX", "h", "FNX", "FIELDS", "1", "b", "9"], 0),
        (
            &["HSETEX", "h", "EX", "10", "FIELDS", "2", "x", "1", "y", "2"],
            2,
        ),
        (&["HGETEX", "h", "FIELDS", "2", "x", "y"], 0),
        (
            &["HGETEX", "h", "PERSIST", "FIELDS", "3", "x", "y", "zz"],
            2,
        ),
        (&["HGETEX", "h", "PERSIST", "FIELDS", "1", "x"], 0),
        (&["HGETEX", "h", "EX", "0", "FIELDS", "2", "x", "zz"], 1),
        (&["HGETDEL", "h", "FIELDS", "3", "y", "zz", "y"], 1),
        (&["HGETDEL", "h", "FIELDS", "1", "zz"], 0),
    ];
    for &(cmd, want) in cases {
        let before = changes(&mut r);
        r.cmd(cmd);
        assert_eq!(changes(&mut r) - before, want, "{cmd:?}");
    }
}

/// WATCH (signalModifiedKey) sees only writes that changed the hash.
#[test]
fn watch_sees_only_real_hash_changes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    c.cmd(&["HSET", "h", "f", "v", "g", "w"]);
    c.cmd(&["HEXPIRE", "h", "100", "FIELDS", "1", "g"]);
    let cases: &[(&[&str], bool)] = &[
        (&["HSETNX", "h", "f", "x"], false),
        (
            &["HEXPIRE", "h", "100", "NX", "FIELDS", "2", "g", "zz"],
            false,
        ),
        (&["HPERSIST", "h", "FIELDS", "2", "f", "zz"], false),
        (&["HGETEX", "h", "FIELDS", "1", "f"], false),
        (&["HGETEX", "h", "PERSIST", "FIELDS", "1", "f"], false),
        (&["HGETDEL", "h", "FIELDS", "1", "zz"], false),
        (&["HSETEX", "h", "FNX", "FIELDS", "1", "f", "x"], false),
        (&["HSETEX", "h", "FXX", "FIELDS", "1", "f", "x"], true),
        (&["HGETEX", "h", "EX", "50", "FIELDS", "1", "g"], true),
        (&["HPERSIST", "h", "FIELDS", "1", "g"], true),
        (&["HGETDEL", "h", "FIELDS", "1", "g"], true),
    ];
    for &(cmd, aborts) in cases {
        assert_eq!(c.cmd(&["WATCH", "h"]), ok());
        assert_eq!(c.cmd(&["MULTI"]), ok());
        c.cmd(&["PING"]);
        other.cmd(cmd);
        let want = if aborts {
            Frame::Null
        } else {
            arr(vec![Frame::Simple("PONG".into())])
        };
        assert_eq!(c.cmd(&["EXEC"]), want, "{cmd:?}");
    }
}
