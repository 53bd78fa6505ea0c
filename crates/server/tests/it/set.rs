//! Set commands against a real server on a free port, through raw RESP (exact replies and
//! errors) and a randomized comparison with a model.

use std::collections::BTreeSet;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, RawConn, TestServer};
use rand::Rng;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The members of an array or set reply, sorted.
fn members(f: Frame) -> Vec<String> {
    let items = match f {
        Frame::Array(v) | Frame::Set(v) => v,
        other => panic!("not a collection: {other:?}"),
    };
    let mut out: Vec<String> = items
        .into_iter()
        .map(|x| match x {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

fn encoding(r: &mut RawConn, key: &str) -> Frame {
    r.cmd(&["OBJECT", "ENCODING", key])
}

#[test]
fn sadd_srem_scard_sismember() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SADD", "s", "a", "b", "a"]), int(2));
    assert_eq!(r.cmd(&["SADD", "s", "b", "c"]), int(1));
    assert_eq!(r.cmd(&["SCARD", "s"]), int(3));
    assert_eq!(r.cmd(&["SCARD", "nokey"]), int(0));
    assert_eq!(r.cmd(&["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(r.cmd(&["SISMEMBER", "s", "z"]), int(0));
    assert_eq!(r.cmd(&["SISMEMBER", "nokey", "a"]), int(0));
    assert_eq!(
        r.cmd(&["SMISMEMBER", "s", "a", "z", "c"]),
        Frame::Array(vec![int(1), int(0), int(1)])
    );
    assert_eq!(
        r.cmd(&["SMISMEMBER", "nokey", "a", "b"]),
        Frame::Array(vec![int(0), int(0)])
    );
    assert_eq!(members(r.cmd(&["SMEMBERS", "s"])), strs(&["a", "b", "c"]));
    assert_eq!(r.cmd(&["SMEMBERS", "nokey"]), Frame::Array(vec![]));
    assert_eq!(r.cmd(&["SREM", "s", "a", "z"]), int(1));
    assert_eq!(r.cmd(&["SREM", "nokey", "a"]), int(0));
    assert_eq!(r.cmd(&["SREM", "s", "b", "c", "b"]), int(2));
    assert_eq!(r.cmd(&["EXISTS", "s"]), int(0));
    assert_eq!(r.cmd(&["TYPE", "s"]), Frame::Simple("none".into()));
    assert_eq!(
        r.cmd(&["SADD", "s"]),
        err("ERR wrong number of arguments for 'sadd' command")
    );
}

#[test]
fn wrongtype_everywhere() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "str", "x"]);
    r.cmd(&["SADD", "s", "a"]);
    let wt = err(WRONGTYPE);
    for c in [
        vec!["SADD", "str", "a"],
        vec!["SREM", "str", "a"],
        vec!["SCARD", "str"],
        vec!["SISMEMBER", "str", "a"],
        vec!["SMISMEMBER", "str", "a"],
        vec!["SMEMBERS", "str"],
        vec!["SPOP", "str"],
        vec!["SPOP", "str", "2"],
        vec!["SRANDMEMBER", "str"],
        vec!["SRANDMEMBER", "str", "2"],
        vec!["SINTER", "s", "str"],
        vec!["SINTER", "nokey", "str"],
        vec!["SINTER", "str", "nokey"],
        vec!["SINTERCARD", "2", "nokey", "str"],
        vec!["SINTERSTORE", "d", "nokey", "str"],
        vec!["SUNION", "s", "str"],
        vec!["SUNIONSTORE", "d", "str", "s"],
        vec!["SDIFF", "s", "str"],
        vec!["SDIFF", "nokey", "str"],
        vec!["SDIFFSTORE", "d", "s", "str"],
        vec!["SSCAN", "str", "0"],
        vec!["SMOVE", "str", "s", "a"],
        vec!["SMOVE", "s", "str", "a"],
    ] {
        assert_eq!(r.cmd(&c), wt, "{c:?}");
    }
    // The failed commands left the operands intact and created nothing.
    assert_eq!(members(r.cmd(&["SMEMBERS", "s"])), strs(&["a"]));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    // SMOVE with a missing source answers 0 before checking the destination's type.
    assert_eq!(r.cmd(&["SMOVE", "nokey", "str", "a"]), int(0));
    // A missing member is still a type error when the destination is not a set.
    assert_eq!(r.cmd(&["SMOVE", "s", "str", "zz"]), wt);
}

#[test]
fn encodings_and_conversions() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SADD", "i", "1", "2", "-3"]);
    assert_eq!(encoding(&mut r, "i"), bulk("intset"));
    // Intsets reply in ascending order.
    assert_eq!(
        r.cmd(&["SMEMBERS", "i"]),
        Frame::Array(vec![bulk("-3"), bulk("1"), bulk("2")])
    );
    r.cmd(&["SADD", "i", "x"]);
    assert_eq!(encoding(&mut r, "i"), bulk("listpack"));
    // Non-canonical integers are strings.
    r.cmd(&["SADD", "j", "01"]);
    assert_eq!(encoding(&mut r, "j"), bulk("listpack"));

    let args: Vec<String> = (0..512).map(|i| i.to_string()).collect();
    let mut cmd = vec!["SADD", "big"];
    cmd.extend(args.iter().map(|s| s.as_str()));
    assert_eq!(r.cmd(&cmd), int(512));
    assert_eq!(encoding(&mut r, "big"), bulk("intset"));
    r.cmd(&["SADD", "big", "512"]);
    assert_eq!(encoding(&mut r, "big"), bulk("hashtable"));

    // 128 strings fit a listpack, the 129th converts.
    let args: Vec<String> = (0..128).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "lp"];
    cmd.extend(args.iter().map(|s| s.as_str()));
    r.cmd(&cmd);
    assert_eq!(encoding(&mut r, "lp"), bulk("listpack"));
    r.cmd(&["SADD", "lp", "more"]);
    assert_eq!(encoding(&mut r, "lp"), bulk("hashtable"));

    // A long member converts at once; a batch larger than the limit creates a hashtable.
    r.cmd(&["SADD", "long", "a"]);
    r.cmd(&["SADD", "long", &"x".repeat(65)]);
    assert_eq!(encoding(&mut r, "long"), bulk("hashtable"));
    let args: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "batch"];
    cmd.extend(args.iter().map(|s| s.as_str()));
    r.cmd(&cmd);
    assert_eq!(encoding(&mut r, "batch"), bulk("hashtable"));

    // Thresholds come from CONFIG.
    r.cmd(&["CONFIG", "SET", "set-max-intset-entries", "2"]);
    r.cmd(&["SADD", "c", "1", "2"]);
    assert_eq!(encoding(&mut r, "c"), bulk("intset"));
    r.cmd(&["SADD", "c", "3"]);
    assert_eq!(encoding(&mut r, "c"), bulk("hashtable"));
    r.cmd(&["CONFIG", "SET", "set-max-listpack-value", "3"]);
    r.cmd(&["SADD", "d", "abc"]);
    assert_eq!(encoding(&mut r, "d"), bulk("listpack"));
    r.cmd(&["SADD", "d", "abcd"]);
    assert_eq!(encoding(&mut r, "d"), bulk("hashtable"));
}

#[test]
fn smove() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SADD", "src", "a", "b"]);
    r.cmd(&["SADD", "dst", "1"]);
    assert_eq!(r.cmd(&["SMOVE", "src", "dst", "a"]), int(1));
    assert_eq!(r.cmd(&["SMOVE", "src", "dst", "zz"]), int(0));
    assert_eq!(members(r.cmd(&["SMEMBERS", "dst"])), strs(&["1", "a"]));
    assert_eq!(encoding(&mut r, "dst"), bulk("listpack"));
    assert_eq!(r.cmd(&["SMOVE", "src", "src", "b"]), int(1));
    assert_eq!(r.cmd(&["SMOVE", "src", "src", "zz"]), int(0));
    assert_eq!(r.cmd(&["SMOVE", "src", "new", "b"]), int(1));
    assert_eq!(r.cmd(&["EXISTS", "src"]), int(0));
    assert_eq!(members(r.cmd(&["SMEMBERS", "new"])), strs(&["b"]));
    // Moving a member the destination already has still counts.
    r.cmd(&["SADD", "x", "b"]);
    assert_eq!(r.cmd(&["SMOVE", "x", "new", "b"]), int(1));
    assert_eq!(r.cmd(&["SCARD", "new"]), int(1));
    r.cmd(&["SADD", "n", "5"]);
    assert_eq!(r.cmd(&["SMOVE", "n", "ints", "5"]), int(1));
    assert_eq!(encoding(&mut r, "ints"), bulk("intset"));
}

#[test]
fn spop() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SPOP", "nokey"]), Frame::Null);
    assert_eq!(r.cmd(&["SPOP", "nokey", "3"]), Frame::Array(vec![]));
    assert_eq!(
        r.cmd(&["SPOP", "nokey", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        r.cmd(&["SPOP", "nokey", "x"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(r.cmd(&["SPOP", "nokey", "1", "2"]), err("ERR syntax error"));
    r.cmd(&["SADD", "s", "a", "b", "c"]);
    assert_eq!(r.cmd(&["SPOP", "s", "0"]), Frame::Array(vec![]));
    let Frame::Bulk(one) = r.cmd(&["SPOP", "s"]) else {
        panic!()
    };
    assert!(["a", "b", "c"].contains(&std::str::from_utf8(&one).unwrap()));
    assert_eq!(r.cmd(&["SCARD", "s"]), int(2));
    let rest = members(r.cmd(&["SPOP", "s", "10"]));
    assert_eq!(rest.len(), 2);
    assert_eq!(r.cmd(&["EXISTS", "s"]), int(0));
    r.cmd(&["SADD", "s", "only"]);
    assert_eq!(r.cmd(&["SPOP", "s"]), bulk("only"));
    assert_eq!(r.cmd(&["EXISTS", "s"]), int(0));

    // Every code path: small and large sets, few and most members popped.
    for (n, count) in [(20, 3), (20, 19), (1000, 10), (1000, 990), (300, 250)] {
        for prefix in ["", "m"] {
            let all: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
            let mut cmd = vec!["SADD", "p"];
            cmd.extend(all.iter().map(|s| s.as_str()));
            r.cmd(&cmd);
            let popped = members(r.cmd(&["SPOP", "p", &count.to_string()]));
            assert_eq!(popped.len(), count);
            let left = members(r.cmd(&["SMEMBERS", "p"]));
            assert_eq!(left.len(), n - count);
            let mut union: Vec<String> = popped.iter().chain(&left).cloned().collect();
            union.sort();
            union.dedup();
            let mut expect = all.clone();
            expect.sort();
            assert_eq!(union, expect);
            r.cmd(&["DEL", "p"]);
        }
    }
}

#[test]
fn srandmember() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SRANDMEMBER", "nokey"]), Frame::Null);
    assert_eq!(r.cmd(&["SRANDMEMBER", "nokey", "3"]), Frame::Array(vec![]));
    assert_eq!(
        r.cmd(&["SRANDMEMBER", "s", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        r.cmd(&["SRANDMEMBER", "s", "1", "2"]),
        err("ERR syntax error")
    );
    for (key, n) in [("small", 10), ("ints", 100), ("big", 500)] {
        let all: Vec<String> = (0..n)
            .map(|i| {
                if key == "ints" {
                    i.to_string()
                } else {
                    format!("m{i}")
                }
            })
            .collect();
        let mut cmd = vec!["SADD", key];
        cmd.extend(all.iter().map(|s| s.as_str()));
        r.cmd(&cmd);
        let mut expect = all.clone();
        expect.sort();
        assert_eq!(
            members(r.cmd(&["SRANDMEMBER", key, &(n + 5).to_string()])),
            expect
        );
        assert_eq!(r.cmd(&["SRANDMEMBER", key, "0"]), Frame::Array(vec![]));
        for count in [1, 5, n - 1] {
            let got = members(r.cmd(&["SRANDMEMBER", key, &count.to_string()]));
            assert_eq!(got.len(), count);
            let distinct: BTreeSet<&String> = got.iter().collect();
            assert_eq!(distinct.len(), count);
            assert!(got.iter().all(|m| all.contains(m)));
        }
        let got = members(r.cmd(&["SRANDMEMBER", key, "-2000"]));
        assert_eq!(got.len(), 2000);
        assert!(got.iter().all(|m| all.contains(m)));
        // Uniform enough: with 2000 draws over at most 500 members, nearly all appear.
        let distinct: BTreeSet<&String> = got.iter().collect();
        assert!(
            distinct.len() * 10 >= n * 9 || n == 500,
            "{key}: {}",
            distinct.len()
        );
        let Frame::Bulk(one) = r.cmd(&["SRANDMEMBER", key]) else {
            panic!()
        };
        assert!(all.contains(&String::from_utf8(one.to_vec()).unwrap()));
    }
    assert_eq!(r.cmd(&["SCARD", "big"]), int(500));
}

#[test]
fn srandmember_distribution_is_uniform() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SADD", "s", "a", "b", "c", "d", "e"]);
    let got = members(r.cmd(&["SRANDMEMBER", "s", "-50000"]));
    let mut counts = std::collections::HashMap::new();
    for m in got {
        *counts.entry(m).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 5);
    for (_, c) in counts {
        assert!((9000..11000).contains(&c), "{c}");
    }
}

#[test]
fn inter_union_diff() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SADD", "a", "1", "2", "3", "4"]);
    r.cmd(&["SADD", "b", "3", "4", "5"]);
    r.cmd(&["SADD", "c", "x", "4", "3"]);
    assert_eq!(members(r.cmd(&["SINTER", "a", "b"])), strs(&["3", "4"]));
    assert_eq!(
        members(r.cmd(&["SINTER", "a", "b", "c"])),
        strs(&["3", "4"])
    );
    assert_eq!(
        members(r.cmd(&["SINTER", "a"])),
        strs(&["1", "2", "3", "4"])
    );
    assert_eq!(
        members(r.cmd(&["SINTER", "a", "a"])),
        strs(&["1", "2", "3", "4"])
    );
    assert_eq!(r.cmd(&["SINTER", "a", "nokey"]), Frame::Array(vec![]));
    assert_eq!(
        members(r.cmd(&["SUNION", "a", "b", "nokey"])),
        strs(&["1", "2", "3", "4", "5"])
    );
    assert_eq!(r.cmd(&["SUNION", "nokey"]), Frame::Array(vec![]));
    // A union of intsets is an intset: sorted.
    assert_eq!(
        r.cmd(&["SUNION", "b", "a"]),
        Frame::Array(["1", "2", "3", "4", "5"].iter().map(|s| bulk(s)).collect())
    );
    assert_eq!(members(r.cmd(&["SDIFF", "a", "b"])), strs(&["1", "2"]));
    assert_eq!(
        members(r.cmd(&["SDIFF", "a", "b", "c", "nokey"])),
        strs(&["1", "2"])
    );
    assert_eq!(
        members(r.cmd(&["SDIFF", "a", "nokey"])),
        strs(&["1", "2", "3", "4"])
    );
    assert_eq!(r.cmd(&["SDIFF", "nokey", "a"]), Frame::Array(vec![]));
    assert_eq!(r.cmd(&["SDIFF", "a", "a"]), Frame::Array(vec![]));
    assert_eq!(r.cmd(&["SDIFF", "a", "b", "a"]), Frame::Array(vec![]));

    // SINTERCARD
    assert_eq!(r.cmd(&["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(r.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    assert_eq!(r.cmd(&["SINTERCARD", "2", "a", "b", "limit", "0"]), int(2));
    assert_eq!(r.cmd(&["SINTERCARD", "2", "a", "nokey"]), int(0));
    assert_eq!(r.cmd(&["SINTERCARD", "1", "a"]), int(4));
    assert_eq!(
        r.cmd(&["SINTERCARD", "0", "a"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "x", "a"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "3", "a", "b"]),
        err("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "1", "a", "b"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "1", "a", "LIMIT"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "1", "a", "LIMIT", "-1"]),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD", "1", "a", "LIMIT", "x"]),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        r.cmd(&["SINTERCARD"]),
        err("ERR wrong number of arguments for 'sintercard' command")
    );

    // STORE forms: result, encoding, empty result deletes the destination, TTL cleared.
    r.cmd(&["SET", "d", "string"]);
    r.cmd(&["EXPIRE", "d", "100"]);
    assert_eq!(r.cmd(&["SINTERSTORE", "d", "a", "b"]), int(2));
    assert_eq!(r.cmd(&["TTL", "d"]), int(-1));
    assert_eq!(encoding(&mut r, "d"), bulk("intset"));
    assert_eq!(r.cmd(&["SINTERSTORE", "d", "c", "a"]), int(2));
    assert_eq!(encoding(&mut r, "d"), bulk("intset"));
    assert_eq!(r.cmd(&["SINTERSTORE", "d", "a", "nokey"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(r.cmd(&["SUNIONSTORE", "d", "a", "c"]), int(5));
    assert_eq!(encoding(&mut r, "d"), bulk("listpack"));
    assert_eq!(r.cmd(&["SUNIONSTORE", "d", "nokey"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(r.cmd(&["SDIFFSTORE", "d", "a", "b"]), int(2));
    assert_eq!(members(r.cmd(&["SMEMBERS", "d"])), strs(&["1", "2"]));
    assert_eq!(r.cmd(&["SDIFFSTORE", "d", "a", "a"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    // The destination may be an operand.
    assert_eq!(r.cmd(&["SUNIONSTORE", "a", "a", "b"]), int(5));
    assert_eq!(r.cmd(&["SINTERSTORE", "b", "a", "b"]), int(3));
    assert_eq!(r.cmd(&["SDIFFSTORE", "a", "a", "b"]), int(2));
    assert_eq!(members(r.cmd(&["SMEMBERS", "a"])), strs(&["1", "2"]));

    // A large intersection of hashtables goes through the pack into a hashtable.
    let big: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "h1"];
    cmd.extend(big.iter().map(|s| s.as_str()));
    r.cmd(&cmd);
    cmd[1] = "h2";
    r.cmd(&cmd);
    assert_eq!(r.cmd(&["SINTERSTORE", "h3", "h1", "h2"]), int(300));
    assert_eq!(encoding(&mut r, "h3"), bulk("hashtable"));
    assert_eq!(r.cmd(&["SDIFFSTORE", "h3", "h1", "h2"]), int(0));
}

#[test]
fn resp3_set_replies() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HELLO", "3"]);
    r.cmd(&["SADD", "a", "1", "2"]);
    r.cmd(&["SADD", "b", "2"]);
    assert_eq!(
        r.cmd(&["SMEMBERS", "a"]),
        Frame::Set(vec![bulk("1"), bulk("2")])
    );
    assert_eq!(r.cmd(&["SMEMBERS", "nokey"]), Frame::Set(vec![]));
    assert_eq!(r.cmd(&["SINTER", "a", "b"]), Frame::Set(vec![bulk("2")]));
    assert_eq!(r.cmd(&["SINTER", "a", "nokey"]), Frame::Set(vec![]));
    assert_eq!(
        r.cmd(&["SUNION", "a", "b"]),
        Frame::Set(vec![bulk("1"), bulk("2")])
    );
    assert_eq!(r.cmd(&["SDIFF", "a", "b"]), Frame::Set(vec![bulk("1")]));
    assert_eq!(r.cmd(&["SPOP", "nokey", "2"]), Frame::Set(vec![]));
    assert_eq!(r.cmd(&["SPOP", "nokey"]), Frame::Null);
    assert!(matches!(r.cmd(&["SPOP", "a", "1"]), Frame::Set(v) if v.len() == 1));
    assert!(matches!(r.cmd(&["SRANDMEMBER", "b", "1"]), Frame::Array(v) if v.len() == 1));
    assert_eq!(r.cmd(&["SRANDMEMBER", "nokey", "1"]), Frame::Array(vec![]));
    assert_eq!(r.cmd(&["SRANDMEMBER", "nokey"]), Frame::Null);
}

fn scan_all(r: &mut RawConn, key: &str, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let mut cmd = vec!["SSCAN", key, cursor.as_str()];
        cmd.extend_from_slice(extra);
        let Frame::Array(mut parts) = r.cmd(&cmd) else {
            panic!()
        };
        calls += 1;
        let batch = parts.pop().unwrap();
        let Frame::Bulk(c) = parts.pop().unwrap() else {
            panic!()
        };
        seen.extend(members(batch));
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    seen.sort();
    (seen, calls)
}

#[test]
fn sscan() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["SSCAN", "nokey", "0"]),
        Frame::Array(vec![bulk("0"), Frame::Array(vec![])])
    );
    // A missing key ignores bad options, as Redis looks the key up first.
    assert_eq!(
        r.cmd(&["SSCAN", "nokey", "0", "COUNT", "0"]),
        Frame::Array(vec![bulk("0"), Frame::Array(vec![])])
    );
    assert_eq!(r.cmd(&["SSCAN", "nokey", "x"]), err("ERR invalid cursor"));
    r.cmd(&["SADD", "small", "a", "b", "1"]);
    assert_eq!(
        r.cmd(&["SSCAN", "small", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SSCAN", "small", "0", "TYPE", "set"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SSCAN", "small", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["SSCAN", "small", "0", "MATCH"]),
        err("ERR syntax error")
    );
    // Small encodings come back whole with cursor 0.
    let (all, calls) = scan_all(&mut r, "small", &["COUNT", "1"]);
    assert_eq!((all, calls), (strs(&["1", "a", "b"]), 1));
    let (m, _) = scan_all(&mut r, "small", &["MATCH", "[a-z]"]);
    assert_eq!(m, strs(&["a", "b"]));

    let big: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "big"];
    cmd.extend(big.iter().map(|s| s.as_str()));
    r.cmd(&cmd);
    let (all, calls) = scan_all(&mut r, "big", &[]);
    let mut expect = big.clone();
    expect.sort();
    assert_eq!(all, expect);
    assert!(calls > 10);
    let (m, _) = scan_all(&mut r, "big", &["MATCH", "m99*", "COUNT", "100"]);
    assert_eq!(
        m,
        strs(&[
            "m99", "m990", "m991", "m992", "m993", "m994", "m995", "m996", "m997", "m998", "m999"
        ])
    );

    // Members present throughout a scan that deletes and adds are all returned.
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut step = 0;
    loop {
        let Frame::Array(mut parts) = r.cmd(&["SSCAN", "big", &cursor, "COUNT", "25"]) else {
            panic!()
        };
        let batch = parts.pop().unwrap();
        let Frame::Bulk(c) = parts.pop().unwrap() else {
            panic!()
        };
        seen.extend(members(batch));
        r.cmd(&["SREM", "big", &format!("m{}", step * 2)]);
        r.cmd(&["SADD", "big", &format!("new{step}")]);
        step += 1;
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..1000 {
        if i % 2 == 1 || i / 2 >= step {
            assert!(seen.contains(&format!("m{i}")), "m{i} missing");
        }
    }
}

#[test]
fn expired_keys_are_missing() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SADD", "s", "a"]);
    r.cmd(&["PEXPIRE", "s", "1"]);
    srv.advance_clock(2);
    assert_eq!(r.cmd(&["SCARD", "s"]), int(0));
    r.cmd(&["SADD", "t", "a"]);
    r.cmd(&["PEXPIRE", "t", "1"]);
    srv.advance_clock(2);
    assert_eq!(r.cmd(&["SADD", "t", "b"]), int(1));
    assert_eq!(r.cmd(&["TTL", "t"]), int(-1));
    assert_eq!(members(r.cmd(&["SMEMBERS", "t"])), strs(&["b"]));
    // COPY clones the set.
    assert_eq!(r.cmd(&["COPY", "t", "t2"]), int(1));
    r.cmd(&["SADD", "t2", "c"]);
    assert_eq!(r.cmd(&["SCARD", "t"]), int(1));
    assert_eq!(r.cmd(&["SCARD", "t2"]), int(2));
}

/// Random commands against a model; sets of different sizes so every encoding appears.
#[test]
fn randomized_against_model() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = rand::thread_rng();
    let keys = ["k0", "k1", "k2"];
    let mut model: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
    for _ in 0..3000 {
        let k = rng.gen_range(0..3);
        let universe = [10, 200, 700][k];
        let member = || -> String {
            let mut rng = rand::thread_rng();
            let v = rng.gen_range(0..universe);
            if rng.gen_bool(0.7) {
                v.to_string()
            } else {
                format!("s{v}")
            }
        };
        match rng.gen_range(0..9) {
            0..=2 => {
                let ms: Vec<String> = (0..rng.gen_range(1..8)).map(|_| member()).collect();
                let mut cmd = vec!["SADD", keys[k]];
                cmd.extend(ms.iter().map(|s| s.as_str()));
                let added = ms.iter().filter(|m| model[k].insert((*m).clone())).count();
                assert_eq!(r.cmd(&cmd), int(added as i64));
            }
            3 => {
                let ms: Vec<String> = (0..rng.gen_range(1..4)).map(|_| member()).collect();
                let mut cmd = vec!["SREM", keys[k]];
                cmd.extend(ms.iter().map(|s| s.as_str()));
                let removed = ms.iter().filter(|m| model[k].remove(*m)).count();
                assert_eq!(r.cmd(&cmd), int(removed as i64));
            }
            4 => {
                let m = member();
                assert_eq!(
                    r.cmd(&["SISMEMBER", keys[k], &m]),
                    int(model[k].contains(&m) as i64)
                );
            }
            5 => {
                let count = rng.gen_range(0..20);
                let popped = members(r.cmd(&["SPOP", keys[k], &count.to_string()]));
                assert_eq!(popped.len(), count.min(model[k].len()));
                for p in popped {
                    assert!(model[k].remove(&p));
                }
            }
            6 => {
                let j = rng.gen_range(0..3);
                let inter: Vec<String> = model[k].intersection(&model[j]).cloned().collect();
                assert_eq!(members(r.cmd(&["SINTER", keys[k], keys[j]])), inter);
                let diff: Vec<String> = model[k].difference(&model[j]).cloned().collect();
                assert_eq!(members(r.cmd(&["SDIFF", keys[k], keys[j]])), diff);
                let union: Vec<String> = model[k].union(&model[j]).cloned().collect();
                assert_eq!(members(r.cmd(&["SUNION", keys[k], keys[j]])), union);
            }
            7 => {
                let j = rng.gen_range(0..3);
                let m = member();
                let moved = model[k].contains(&m);
                assert_eq!(r.cmd(&["SMOVE", keys[k], keys[j], &m]), int(moved as i64));
                if moved && j != k {
                    model[k].remove(&m);
                    model[j].insert(m);
                }
            }
            _ => {
                let expect: Vec<String> = model[k].iter().cloned().collect();
                assert_eq!(members(r.cmd(&["SMEMBERS", keys[k]])), expect);
                assert_eq!(r.cmd(&["SCARD", keys[k]]), int(expect.len() as i64));
                let (scanned, _) = scan_all(&mut r, keys[k], &["COUNT", "7"]);
                assert_eq!(scanned, expect);
            }
        }
    }
}
