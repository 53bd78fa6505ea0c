//! SORT and SORT_RO against a real server on a free port, through raw RESP: every option,
//! the patterns (`*`, `->field`, `#`), STORE, the errors in Redis's order, expired keys, and
//! a randomized comparison with a model.

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, RawConn, TestServer};
use rand::Rng;

/// An array reply of bulk strings, `None` standing for nil.
fn arr(items: &[Option<&str>]) -> Frame {
    Frame::Array(items.iter().map(|i| i.map_or(Frame::Null, bulk)).collect())
}

/// An array reply of bulk strings.
fn strs(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

/// Sends a command and checks the reply.
fn check(r: &mut RawConn, cmd: &[&str], want: Frame) {
    assert_eq!(r.cmd(cmd), want, "{cmd:?}");
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SCORE: &str = "ERR One or more scores can't be converted into double";

#[test]
fn numeric_and_alpha_sorts_of_each_type() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "3", "1.5", "-2", "10", "1e1", "0x10"]);
    // Hex floats are valid for strtod; equal scores fall back to byte order.
    check(
        &mut r,
        &["SORT", "l"],
        strs(&["-2", "1.5", "3", "10", "1e1", "0x10"]),
    );
    r.cmd(&["DEL", "l"]);
    r.cmd(&["RPUSH", "l", "3", "1.5", "-2", "10", "1e1"]);
    check(
        &mut r,
        &["SORT", "l"],
        strs(&["-2", "1.5", "3", "10", "1e1"]),
    );
    check(
        &mut r,
        &["SORT", "l", "DESC"],
        strs(&["1e1", "10", "3", "1.5", "-2"]),
    );
    check(
        &mut r,
        &["SORT", "l", "ALPHA"],
        strs(&["-2", "1.5", "10", "1e1", "3"]),
    );
    check(
        &mut r,
        &["sort", "l", "alpha", "desc", "asc"],
        strs(&["-2", "1.5", "10", "1e1", "3"]),
    );

    r.cmd(&["SADD", "s", "5", "3", "40", "1"]);
    check(&mut r, &["SORT", "s"], strs(&["1", "3", "5", "40"]));
    check(
        &mut r,
        &["SORT", "s", "ALPHA"],
        strs(&["1", "3", "40", "5"]),
    );
    r.cmd(&["SADD", "s2", "b", "a", "c"]);
    check(
        &mut r,
        &["SORT", "s2", "ALPHA", "DESC"],
        strs(&["c", "b", "a"]),
    );
    check(&mut r, &["SORT", "s2"], err(SCORE));

    r.cmd(&[
        "ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e",
    ]);
    check(
        &mut r,
        &["SORT", "z", "ALPHA", "DESC"],
        strs(&["e", "d", "c", "b", "a"]),
    );
    // The members are sorted, not the scores.
    check(&mut r, &["SORT", "z"], err(SCORE));

    // ALPHA is byte-wise.
    r.cmd(&["RPUSH", "bytes", "b", "B", "a", "\u{e9}", "A"]);
    check(
        &mut r,
        &["SORT", "bytes", "ALPHA"],
        strs(&["A", "B", "a", "b", "\u{e9}"]),
    );
}

#[test]
fn score_parsing_follows_strtod() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // Leading whitespace and an empty string (0) are accepted; inf too.
    r.cmd(&["RPUSH", "l", " 2", "", "-inf", "inf", "1"]);
    check(
        &mut r,
        &["SORT", "l"],
        strs(&["-inf", "", "1", " 2", "inf"]),
    );
    for bad in [
        "nan", "2 ", "1e400", "abc", "-", " ", "1e-400", "4.9e-324", "1e-310",
    ] {
        r.cmd(&["DEL", "b"]);
        r.cmd(&["RPUSH", "b", "1", bad]);
        check(&mut r, &["SORT", "b"], err(SCORE));
    }
    // Exact subnormals (hex) and the smallest normal are fine.
    r.cmd(&["RPUSH", "tiny", "1", "0x1p-1074", "2.2250738585072014e-308"]);
    check(
        &mut r,
        &["SORT", "tiny"],
        strs(&["0x1p-1074", "2.2250738585072014e-308", "1"]),
    );
    // The error also applies to BY weights, and prevents STORE.
    r.cmd(&["RPUSH", "w", "1", "2"]);
    r.cmd(&["SET", "weight_1", "x"]);
    check(&mut r, &["SORT", "w", "BY", "weight_*"], err(SCORE));
    r.cmd(&["SET", "dst", "keep"]);
    check(
        &mut r,
        &["SORT", "w", "BY", "weight_*", "STORE", "dst"],
        err(SCORE),
    );
    check(&mut r, &["GET", "dst"], bulk("keep"));
    // No sort, no parse: BY a constant never fails.
    check(&mut r, &["SORT", "w", "BY", "nosort"], strs(&["1", "2"]));
}

#[test]
fn by_patterns() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "1", "2", "3", "4"]);
    r.cmd(&["MSET", "w_1", "30", "w_2", "10", "w_3", "20"]);
    // w_4 is missing: weight 0.
    check(
        &mut r,
        &["SORT", "l", "BY", "w_*"],
        strs(&["4", "2", "3", "1"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "w_*", "DESC"],
        strs(&["1", "3", "2", "4"]),
    );
    // Equal weights: ties broken by the elements.
    r.cmd(&["SET", "w_4", "10"]);
    check(
        &mut r,
        &["SORT", "l", "BY", "w_*"],
        strs(&["2", "4", "3", "1"]),
    );

    // Hash fields; a key that is not a hash, or a missing field, weighs 0.
    r.cmd(&["HSET", "h_1", "f", "3", "g", "b"]);
    r.cmd(&["HSET", "h_2", "f", "1", "g", "a"]);
    r.cmd(&["HSET", "h_3", "g", "c"]);
    r.cmd(&["SET", "h_4", "100"]);
    check(
        &mut r,
        &["SORT", "l", "BY", "h_*->f"],
        strs(&["3", "4", "2", "1"]),
    );
    // ALPHA with BY: missing weights first, then byte order of the weights.
    check(
        &mut r,
        &["SORT", "l", "BY", "h_*->g", "ALPHA"],
        strs(&["4", "2", "1", "3"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "h_*->g", "ALPHA", "DESC"],
        strs(&["3", "1", "2", "4"]),
    );

    // `*` in the middle, and only the first `*` is substituted.
    r.cmd(&["RPUSH", "m", "a", "b"]);
    r.cmd(&["MSET", "pre_a_post", "2", "pre_b_post", "1"]);
    check(
        &mut r,
        &["SORT", "m", "BY", "pre_*_post"],
        strs(&["b", "a"]),
    );
    r.cmd(&["MSET", "x_a*", "1", "x_b*", "2"]);
    check(&mut r, &["SORT", "m", "BY", "x_**"], strs(&["a", "b"]));
    r.cmd(&["MSET", "x_a*", "3"]);
    check(&mut r, &["SORT", "m", "BY", "x_**"], strs(&["b", "a"]));
}

#[test]
fn by_constant_keeps_native_order() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["LPUSH", "l", "2", "1", "4", "3", "5"]);
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort"],
        strs(&["5", "3", "4", "1", "2"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort", "DESC"],
        strs(&["2", "1", "4", "3", "5"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort", "LIMIT", "1", "2"],
        strs(&["3", "4"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
        strs(&["1", "4"]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort", "LIMIT", "10", "2"],
        strs(&[]),
    );
    check(
        &mut r,
        &["SORT", "l", "BY", "nosort", "LIMIT", "0", "3", "STORE", "d"],
        int(3),
    );
    check(&mut r, &["LRANGE", "d", "0", "-1"], strs(&["5", "3", "4"]));

    // Sorted sets keep score order; DESC reverses it; LIMIT selects in that order.
    r.cmd(&[
        "ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e",
    ]);
    let z = |extra: &[&'static str]| {
        let mut v = vec!["SORT", "z", "BY", "nosort"];
        v.extend_from_slice(extra);
        v
    };
    check(&mut r, &z(&[]), strs(&["a", "c", "e", "b", "d"]));
    check(&mut r, &z(&["DESC"]), strs(&["d", "b", "e", "c", "a"]));
    check(&mut r, &z(&["ASC", "LIMIT", "0", "1"]), strs(&["a"]));
    check(&mut r, &z(&["DESC", "LIMIT", "0", "1"]), strs(&["d"]));
    check(&mut r, &z(&["ASC", "LIMIT", "0", "2"]), strs(&["a", "c"]));
    check(&mut r, &z(&["DESC", "LIMIT", "0", "2"]), strs(&["d", "b"]));
    check(&mut r, &z(&["DESC", "LIMIT", "1", "2"]), strs(&["b", "e"]));
    check(&mut r, &z(&["LIMIT", "5", "10"]), strs(&[]));
    check(
        &mut r,
        &z(&["LIMIT", "-10", "100"]),
        strs(&["a", "c", "e", "b", "d"]),
    );
    // ALPHA has no effect without sorting.
    check(
        &mut r,
        &z(&["ALPHA", "DESC"]),
        strs(&["d", "b", "e", "c", "a"]),
    );

    // A set without STORE comes in storage order; with STORE it is sorted byte-wise so
    // that the stored list is deterministic.
    r.cmd(&["SADD", "s", "c", "a", "b", "10", "9"]);
    let mut got = match r.cmd(&["SORT", "s", "BY", "nosort"]) {
        Frame::Array(v) => v,
        other => panic!("{other:?}"),
    };
    got.sort_by_key(|f| format!("{f:?}"));
    let mut want = match strs(&["10", "9", "a", "b", "c"]) {
        Frame::Array(v) => v,
        _ => unreachable!(),
    };
    want.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(got, want);
    check(
        &mut r,
        &["SORT", "s", "BY", "nosort", "DESC", "STORE", "d"],
        int(5),
    );
    check(
        &mut r,
        &["LRANGE", "d", "0", "-1"],
        strs(&["c", "b", "a", "9", "10"]),
    );
}

#[test]
fn get_patterns() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "2", "1", "3"]);
    r.cmd(&["MSET", "name_1", "one", "name_2", "two"]);
    r.cmd(&["HSET", "obj_1", "f", "x1"]);
    r.cmd(&["HSET", "obj_3", "f", "x3"]);
    r.cmd(&["SADD", "name_3", "not a string"]);
    check(
        &mut r,
        &["SORT", "l", "GET", "name_*"],
        arr(&[Some("one"), Some("two"), None]),
    );
    check(
        &mut r,
        &["SORT", "l", "GET", "#", "GET", "obj_*->f", "DESC"],
        arr(&[
            Some("3"),
            Some("x3"),
            Some("2"),
            None,
            Some("1"),
            Some("x1"),
        ]),
    );
    // A field lookup on a string, and a string lookup on a hash, give nil.
    check(
        &mut r,
        &["SORT", "l", "GET", "name_*->f", "GET", "obj_*"],
        arr(&[None, None, None, None, None, None]),
    );
    // A pattern without `*` names no key at all, even an existing one.
    r.cmd(&["SET", "const", "v"]);
    check(
        &mut r,
        &["SORT", "l", "GET", "const"],
        arr(&[None, None, None]),
    );
    // `->` with nothing after it is part of the key name.
    r.cmd(&["SET", "name_1->", "arrow"]);
    check(
        &mut r,
        &["SORT", "l", "LIMIT", "0", "1", "GET", "name_*->"],
        arr(&[Some("arrow")]),
    );
    // `->` before the `*` is part of the key name; only the first `->` after it splits.
    r.cmd(&["SET", "a->1", "pre"]);
    r.cmd(&["HSET", "b_1", "c->d", "deep"]);
    check(
        &mut r,
        &[
            "SORT",
            "l",
            "LIMIT",
            "0",
            "1",
            "GET",
            "a->*",
            "GET",
            "b_*->c->d",
        ],
        arr(&[Some("pre"), Some("deep")]),
    );
    // Integers stored compactly come back as their text.
    r.cmd(&["SET", "num_1", "12345"]);
    check(
        &mut r,
        &["SORT", "l", "LIMIT", "0", "1", "GET", "num_*"],
        arr(&[Some("12345")]),
    );
    // GET with BY and LIMIT together.
    r.cmd(&["MSET", "w_1", "3", "w_2", "2", "w_3", "1"]);
    check(
        &mut r,
        &[
            "SORT", "l", "BY", "w_*", "LIMIT", "1", "2", "GET", "#", "GET", "name_*",
        ],
        arr(&[Some("2"), Some("two"), Some("1"), Some("one")]),
    );
    // SORT_RO accepts BY and GET.
    check(
        &mut r,
        &["SORT_RO", "l", "BY", "w_*", "GET", "name_*"],
        arr(&[None, Some("two"), Some("one")]),
    );
}

#[test]
fn limit_clamping() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "5", "4", "3", "2", "1"]);
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "2", &["1", "2"]),
        ("3", "10", &["4", "5"]),
        ("-5", "2", &["1", "2"]),
        ("2", "-1", &["3", "4", "5"]),
        ("2", "-7", &["3", "4", "5"]),
        ("2", "0", &[]),
        ("5", "1", &[]),
        ("100", "-1", &[]),
        ("4", "1", &["5"]),
        ("0", "9223372036854775807", &["1", "2", "3", "4", "5"]),
        ("-9223372036854775808", "1", &["1"]),
    ];
    for (start, count, want) in cases {
        check(&mut r, &["SORT", "l", "LIMIT", start, count], strs(want));
    }
    check(&mut r, &["SORT", "missing", "LIMIT", "0", "1"], strs(&[]));
}

#[test]
fn store() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "3", "1", "2"]);
    // STORE replaces a value of any type and its deadline.
    r.cmd(&["SET", "dst", "old", "EX", "100"]);
    check(&mut r, &["SORT", "l", "STORE", "dst"], int(3));
    check(&mut r, &["TYPE", "dst"], Frame::Simple("list".into()));
    check(&mut r, &["TTL", "dst"], int(-1));
    check(
        &mut r,
        &["LRANGE", "dst", "0", "-1"],
        strs(&["1", "2", "3"]),
    );

    // With GET, each pattern stores one element; nothing found stores "".
    r.cmd(&["MSET", "n_1", "one", "n_3", "three"]);
    check(
        &mut r,
        &["SORT", "l", "GET", "#", "GET", "n_*", "STORE", "dst"],
        int(6),
    );
    check(
        &mut r,
        &["LRANGE", "dst", "0", "-1"],
        strs(&["1", "one", "2", "", "3", "three"]),
    );

    // An empty result deletes the destination.
    check(
        &mut r,
        &["SORT", "l", "LIMIT", "0", "0", "STORE", "dst"],
        int(0),
    );
    check(&mut r, &["EXISTS", "dst"], int(0));
    r.cmd(&["SET", "dst", "x"]);
    check(&mut r, &["SORT", "missing", "STORE", "dst"], int(0));
    check(&mut r, &["EXISTS", "dst"], int(0));

    // Storing into the source itself.
    check(&mut r, &["SORT", "l", "DESC", "STORE", "l"], int(3));
    check(&mut r, &["LRANGE", "l", "0", "-1"], strs(&["3", "2", "1"]));

    // STORE compares byte-wise too (no collation).
    r.cmd(&["SADD", "s", "b", "a\u{0}z", "a"]);
    check(&mut r, &["SORT", "s", "ALPHA", "STORE", "d2"], int(3));
    check(
        &mut r,
        &["LRANGE", "d2", "0", "-1"],
        strs(&["a", "a\u{0}z", "b"]),
    );

    // Big results become a proper list.
    let elems: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let mut cmd = vec!["RPUSH", "big"];
    cmd.extend(elems.iter().map(String::as_str));
    r.cmd(&cmd);
    check(&mut r, &["SORT", "big", "DESC", "STORE", "bigd"], int(300));
    check(&mut r, &["LLEN", "bigd"], int(300));
    check(&mut r, &["LINDEX", "bigd", "0"], bulk("299"));
    check(&mut r, &["LINDEX", "bigd", "-1"], bulk("0"));
}

#[test]
fn errors_in_redis_order() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "str", "1"]);
    r.cmd(&["HSET", "h", "f", "1"]);
    r.cmd(&["RPUSH", "l", "1"]);
    check(&mut r, &["SORT", "str"], err(WRONGTYPE));
    check(&mut r, &["SORT", "h"], err(WRONGTYPE));
    check(&mut r, &["SORT_RO", "str"], err(WRONGTYPE));
    check(
        &mut r,
        &["SORT"],
        err("ERR wrong number of arguments for 'sort' command"),
    );
    check(
        &mut r,
        &["SORT_RO"],
        err("ERR wrong number of arguments for 'sort_ro' command"),
    );
    // Options are parsed before the key is looked up.
    check(&mut r, &["SORT", "str", "LIMIT", "a", "1"], err(NOT_INT));
    check(&mut r, &["SORT", "str", "LIMIT", "0", "1.5"], err(NOT_INT));
    check(&mut r, &["SORT", "str", "BOGUS"], err(SYNTAX));
    // Options missing their arguments are syntax errors.
    check(&mut r, &["SORT", "l", "LIMIT", "0"], err(SYNTAX));
    check(&mut r, &["SORT", "l", "BY"], err(SYNTAX));
    check(&mut r, &["SORT", "l", "GET"], err(SYNTAX));
    check(&mut r, &["SORT", "l", "STORE"], err(SYNTAX));
    // SORT_RO has no STORE.
    check(&mut r, &["SORT_RO", "l", "STORE", "d"], err(SYNTAX));
    check(&mut r, &["SORT_RO", "foolist", "STORE", "bar"], err(SYNTAX));
    check(&mut r, &["EXISTS", "d"], int(0));
    // A missing key sorts as an empty list.
    check(&mut r, &["SORT", "nokey"], strs(&[]));
    check(&mut r, &["SORT_RO", "nokey", "GET", "#"], strs(&[]));
}

#[test]
fn expired_keys() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "1", "2", "3"]);
    r.cmd(&["MSET", "w_1", "3", "w_2", "2", "w_3", "1"]);
    r.cmd(&["MSET", "v_1", "a", "v_2", "b", "v_3", "c"]);
    r.cmd(&["HSET", "h_2", "f", "hf"]);
    r.cmd(&["PEXPIRE", "w_3", "1"]);
    r.cmd(&["PEXPIRE", "v_2", "1"]);
    r.cmd(&["PEXPIRE", "h_2", "1"]);
    r.cmd(&["RPUSH", "gone", "9"]);
    r.cmd(&["PEXPIRE", "gone", "1"]);
    r.cmd(&["RPUSH", "gonedst", "9"]);
    r.cmd(&["PEXPIRE", "gonedst", "1"]);
    srv.advance_clock(2);
    // w_3 expired: weight 0; v_2 and h_2 expired: nil.
    check(
        &mut r,
        &[
            "SORT", "l", "BY", "w_*", "GET", "#", "GET", "v_*", "GET", "h_*->f",
        ],
        arr(&[
            Some("3"),
            Some("c"),
            None,
            Some("2"),
            None,
            None,
            Some("1"),
            Some("a"),
            None,
        ]),
    );
    // An expired source is missing.
    check(&mut r, &["SORT", "gone"], strs(&[]));
    check(&mut r, &["SORT", "gone", "STORE", "gonedst"], int(0));
    check(&mut r, &["EXISTS", "gone", "gonedst"], int(0));
    // A destination that expired is simply replaced.
    r.cmd(&["RPUSH", "d", "x"]);
    r.cmd(&["PEXPIRE", "d", "1"]);
    srv.advance_clock(2);
    check(&mut r, &["SORT", "l", "STORE", "d"], int(3));
    check(&mut r, &["TTL", "d"], int(-1));
    check(&mut r, &["LRANGE", "d", "0", "-1"], strs(&["1", "2", "3"]));
}

#[test]
fn store_wakes_blocked_clients_and_works_in_multi() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut waiter = srv.raw();
    r.cmd(&["RPUSH", "l", "2", "1"]);
    waiter.send(&[b"BLPOP", b"dst", b"5"]);
    r.wait_blocked(1);
    check(&mut r, &["SORT", "l", "STORE", "dst"], int(2));
    assert_eq!(waiter.read(), Frame::Array(vec![bulk("dst"), bulk("1")]));
    check(&mut r, &["LRANGE", "dst", "0", "-1"], strs(&["2"]));

    check(&mut r, &["MULTI"], Frame::Simple("OK".into()));
    check(
        &mut r,
        &["SORT", "l", "DESC"],
        Frame::Simple("QUEUED".into()),
    );
    check(&mut r, &["SORT_RO", "l"], Frame::Simple("QUEUED".into()));
    check(
        &mut r,
        &["EXEC"],
        Frame::Array(vec![strs(&["2", "1"]), strs(&["1", "2"])]),
    );
}

/// Random lists and sets with random weights (strings or hash fields), compared with a
/// model sort for every combination of BY, LIMIT, DESC and GET.
#[test]
fn randomized_against_model() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = rand::thread_rng();
    for round in 0..30 {
        r.cmd(&["FLUSHDB"]);
        let n = rng.gen_range(0..40);
        let kind = if round % 2 == 0 { "RPUSH" } else { "SADD" };
        // Distinct weights keep the expected order unique whatever the tie-breaks.
        let mut elems: Vec<(String, f64)> = Vec::new();
        for i in 0..n {
            let e = format!("e{i}");
            let w = (i as f64) * 1.5 - rng.gen_range(0..1000) as f64 * 1000.0;
            r.cmd(&[kind, "src", &e]);
            r.cmd(&["SET", &format!("w_{e}"), &w.to_string()]);
            r.cmd(&["HSET", &format!("h_{e}"), "w", &w.to_string(), "v", &e]);
            elems.push((e, w));
        }
        elems.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
        for desc in [false, true] {
            let mut model: Vec<String> = elems.iter().map(|x| x.0.clone()).collect();
            if desc {
                model.reverse();
            }
            let start = rng.gen_range(-2..n as i64 + 3);
            let count = rng.gen_range(-2..n as i64 + 3);
            let s = start.clamp(0, n as i64) as usize;
            let want: Vec<String> = if count < 0 {
                model[s..].to_vec()
            } else {
                model[s..(s + count as usize).min(n)].to_vec()
            };
            let want = Frame::Array(want.iter().map(|e| bulk(e)).collect());
            let (st, ct) = (start.to_string(), count.to_string());
            for by in ["w_*", "h_*->w"] {
                let mut cmd = vec!["SORT", "src", "BY", by, "LIMIT", &st, &ct];
                if desc {
                    cmd.push("DESC");
                }
                check(&mut r, &cmd, want.clone());
                cmd.extend_from_slice(&["GET", "h_*->v"]);
                check(&mut r, &cmd, want.clone());
            }
        }
    }
}
