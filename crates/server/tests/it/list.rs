//! List commands against a real server on a free port: exact replies and errors (RESP2 and
//! RESP3), encodings, and a randomized comparison against a `VecDeque` model.

use std::collections::VecDeque;
use std::io::Read;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, RawConn, TestServer};
use rand::{Rng, SeedableRng};

fn arr(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Frame {
    Frame::Array(items.iter().map(|&n| int(n)).collect())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Sends a command and returns the raw reply bytes (for replies that `Frame` cannot tell
/// apart, like RESP2's null bulk and null array). Only for short single-packet replies.
fn raw_reply(r: &mut RawConn, words: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    r.send(&args);
    let mut buf = [0u8; 256];
    let n = r.stream.read(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn encoding(r: &mut RawConn, key: &str) -> Frame {
    r.cmd(&["OBJECT", "ENCODING", key])
}

#[test]
fn push_pop_len_range_index() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["LPUSH", "l", "a", "b", "c", "d"]), int(4));
    assert_eq!(r.cmd(&["RPUSH", "l", "0", "1", "2", "3"]), int(8));
    assert_eq!(
        r.cmd(&["LRANGE", "l", "0", "-1"]),
        arr(&["d", "c", "b", "a", "0", "1", "2", "3"])
    );
    assert_eq!(r.cmd(&["LLEN", "l"]), int(8));
    assert_eq!(r.cmd(&["LINDEX", "l", "0"]), bulk("d"));
    assert_eq!(r.cmd(&["LINDEX", "l", "-1"]), bulk("3"));
    assert_eq!(r.cmd(&["LINDEX", "l", "100"]), Frame::Null);
    assert_eq!(
        r.cmd(&["LINDEX", "l", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["LINDEX", "nokey", "x"]), Frame::Null);
    assert_eq!(r.cmd(&["LRANGE", "l", "-3", "-2"]), arr(&["1", "2"]));
    assert_eq!(r.cmd(&["LRANGE", "l", "5", "1"]), arr(&[]));
    assert_eq!(r.cmd(&["LRANGE", "l", "-100", "1"]), arr(&["d", "c"]));
    assert_eq!(r.cmd(&["LRANGE", "l", "6", "100"]), arr(&["2", "3"]));
    assert_eq!(
        r.cmd(&["LRANGE", "l", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["LRANGE", "nokey", "0", "-1"]), arr(&[]));
    assert_eq!(r.cmd(&["LPOP", "l"]), bulk("d"));
    assert_eq!(r.cmd(&["RPOP", "l"]), bulk("3"));
    assert_eq!(r.cmd(&["LPOP", "l", "2"]), arr(&["c", "b"]));
    assert_eq!(r.cmd(&["RPOP", "l", "2"]), arr(&["2", "1"]));
    assert_eq!(r.cmd(&["RPOP", "l", "100"]), arr(&["0", "a"]));
    assert_eq!(r.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(r.cmd(&["LLEN", "l"]), int(0));
    assert_eq!(r.cmd(&["LPOP", "l"]), Frame::Null);
    assert_eq!(
        r.cmd(&["LPOP", "l", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        r.cmd(&["LPOP", "l", "x"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        r.cmd(&["LPOP", "l", "1", "1"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(r.cmd(&["LPUSHX", "l", "a"]), int(0));
    assert_eq!(r.cmd(&["RPUSHX", "l", "a"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(r.cmd(&["RPUSH", "l", "x"]), int(1));
    assert_eq!(r.cmd(&["LPUSHX", "l", "a", "b"]), int(3));
    assert_eq!(r.cmd(&["RPUSHX", "l", "c"]), int(4));
    assert_eq!(
        r.cmd(&["LRANGE", "l", "0", "-1"]),
        arr(&["b", "a", "x", "c"])
    );
    assert_eq!(r.cmd(&["LPOP", "l", "0"]), arr(&[]));
    assert_eq!(r.cmd(&["TYPE", "l"]), Frame::Simple("list".into()));
}

#[test]
fn null_replies_in_resp2_and_resp3() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(raw_reply(&mut r, &["LPOP", "none"]), b"$-1\r\n");
    assert_eq!(raw_reply(&mut r, &["LPOP", "none", "1"]), b"*-1\r\n");
    assert_eq!(raw_reply(&mut r, &["RPOP", "none", "0"]), b"*-1\r\n");
    assert_eq!(
        raw_reply(&mut r, &["LMPOP", "1", "none", "LEFT"]),
        b"*-1\r\n"
    );
    assert_eq!(raw_reply(&mut r, &["LPOS", "none", "x"]), b"$-1\r\n");
    assert_eq!(
        raw_reply(&mut r, &["LPOS", "none", "x", "COUNT", "0"]),
        b"*0\r\n"
    );
    r.cmd(&["RPUSH", "k", "a"]);
    assert_eq!(raw_reply(&mut r, &["LPOP", "k", "0"]), b"*0\r\n");
    assert!(matches!(r.cmd(&["HELLO", "3"]), Frame::Map(_)));
    for cmd in [
        &["LPOP", "none"][..],
        &["LPOP", "none", "1"],
        &["LMPOP", "1", "none", "LEFT"],
        &["LINDEX", "k", "5"],
        &["LMOVE", "none", "k", "LEFT", "LEFT"],
        &["LPOS", "k", "zz"],
    ] {
        assert_eq!(raw_reply(&mut r, cmd), b"_\r\n", "{cmd:?}");
    }
    assert_eq!(raw_reply(&mut r, &["LPOP", "k", "0"]), b"*0\r\n");
}

#[test]
fn wrong_type_everywhere() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "s", "v"]);
    r.cmd(&["RPUSH", "l", "a"]);
    let cmds: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "x"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "l", "s"],
        &["LMPOP", "2", "nokey", "s", "LEFT"],
    ];
    for c in cmds {
        assert_eq!(r.cmd(c), err(WRONGTYPE), "{c:?}");
    }
    // Nothing moved: the source still has its element, the string is intact.
    assert_eq!(r.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["a"]));
    assert_eq!(r.cmd(&["GET", "s"]), bulk("v"));
    // A missing source wins over a wrong-type destination, as in Redis.
    assert_eq!(r.cmd(&["LMOVE", "nokey", "s", "LEFT", "LEFT"]), Frame::Null);
    // LMPOP stops at the first non-empty list before reaching the string.
    assert_eq!(
        r.cmd(&["LMPOP", "2", "l", "s", "LEFT"]),
        Frame::Array(vec![bulk("l"), arr(&["a"])])
    );
}

#[test]
fn lset_linsert_lrem_ltrim() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["LSET", "nokey", "0", "x"]), err("ERR no such key"));
    assert_eq!(r.cmd(&["LSET", "nokey", "x", "x"]), err("ERR no such key"));
    r.cmd(&["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(r.cmd(&["LSET", "l", "1", "B"]), ok());
    assert_eq!(r.cmd(&["LSET", "l", "-1", "C"]), ok());
    assert_eq!(
        r.cmd(&["LSET", "l", "3", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(
        r.cmd(&["LSET", "l", "-4", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(
        r.cmd(&["LSET", "l", "z", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["a", "B", "C"]));

    assert_eq!(r.cmd(&["LINSERT", "l", "BEFORE", "B", "x"]), int(4));
    assert_eq!(r.cmd(&["LINSERT", "l", "after", "C", "y"]), int(5));
    assert_eq!(r.cmd(&["LINSERT", "l", "after", "zz", "y"]), int(-1));
    assert_eq!(
        r.cmd(&["LINSERT", "l", "middle", "C", "y"]),
        err("ERR syntax error")
    );
    assert_eq!(r.cmd(&["LINSERT", "nokey", "before", "C", "y"]), int(0));
    assert_eq!(
        r.cmd(&["LINSERT", "nokey", "bad", "C", "y"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LRANGE", "l", "0", "-1"]),
        arr(&["a", "x", "B", "C", "y"])
    );

    r.cmd(&["DEL", "r"]);
    r.cmd(&["RPUSH", "r", "x", "a", "x", "b", "x", "c", "x"]);
    assert_eq!(r.cmd(&["LREM", "r", "-2", "x"]), int(2));
    assert_eq!(
        r.cmd(&["LRANGE", "r", "0", "-1"]),
        arr(&["x", "a", "x", "b", "c"])
    );
    assert_eq!(r.cmd(&["LREM", "r", "1", "x"]), int(1));
    assert_eq!(r.cmd(&["LREM", "r", "0", "x"]), int(1));
    assert_eq!(r.cmd(&["LREM", "r", "0", "zz"]), int(0));
    assert_eq!(
        r.cmd(&["LREM", "r", "x", "zz"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["LREM", "nokey", "0", "zz"]), int(0));
    assert_eq!(r.cmd(&["LREM", "r", "0", "a"]), int(1));
    assert_eq!(r.cmd(&["LREM", "r", "0", "b"]), int(1));
    assert_eq!(r.cmd(&["LREM", "r", "0", "c"]), int(1));
    assert_eq!(r.cmd(&["EXISTS", "r"]), int(0));

    r.cmd(&["RPUSH", "t", "1", "2", "3", "4", "5"]);
    assert_eq!(r.cmd(&["LTRIM", "t", "1", "-2"]), ok());
    assert_eq!(r.cmd(&["LRANGE", "t", "0", "-1"]), arr(&["2", "3", "4"]));
    assert_eq!(r.cmd(&["LTRIM", "t", "-100", "100"]), ok());
    assert_eq!(r.cmd(&["LLEN", "t"]), int(3));
    assert_eq!(
        r.cmd(&["LTRIM", "t", "x", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(r.cmd(&["LTRIM", "t", "2", "1"]), ok());
    assert_eq!(r.cmd(&["EXISTS", "t"]), int(0));
    assert_eq!(r.cmd(&["LTRIM", "nokey", "0", "1"]), ok());
}

#[test]
fn lpos_options_and_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(r.cmd(&["LPOS", "l", "a"]), int(0));
    assert_eq!(r.cmd(&["LPOS", "l", "c"]), int(2));
    assert_eq!(r.cmd(&["LPOS", "l", "c", "RANK", "2"]), int(6));
    assert_eq!(r.cmd(&["LPOS", "l", "c", "RANK", "4"]), Frame::Null);
    assert_eq!(r.cmd(&["LPOS", "l", "c", "RANK", "-1"]), int(7));
    assert_eq!(r.cmd(&["LPOS", "l", "c", "RANK", "-2"]), int(6));
    assert_eq!(r.cmd(&["LPOS", "l", "c", "COUNT", "0"]), ints(&[2, 6, 7]));
    assert_eq!(r.cmd(&["LPOS", "l", "c", "COUNT", "2"]), ints(&[2, 6]));
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "0", "RANK", "2"]),
        ints(&[6, 7])
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"]),
        ints(&[7, 6])
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "1"]),
        ints(&[])
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3"]),
        ints(&[2])
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3", "RANK", "-1"]),
        ints(&[7, 6])
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "x", "COUNT", "2", "RANK", "-1"]),
        ints(&[])
    );
    assert_eq!(r.cmd(&["LPOS", "nokey", "c", "COUNT", "0"]), ints(&[]));
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "RANK", "0"]),
        err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "RANK", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "-1"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "COUNT", "x"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "MAXLEN", "-1"]),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(r.cmd(&["LPOS", "l", "c", "RANK"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["LPOS", "l", "c", "FOO", "1"]),
        err("ERR syntax error")
    );
    // Options are validated before the key is looked up.
    assert_eq!(
        r.cmd(&["LPOS", "nokey", "c", "COUNT", "-1"]),
        err("ERR COUNT can't be negative")
    );
}

#[test]
fn lmove_rpoplpush_and_rotation() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "src", "a", "b", "c", "d"]);
    assert_eq!(r.cmd(&["RPOPLPUSH", "src", "dst"]), bulk("d"));
    assert_eq!(r.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(r.cmd(&["LMOVE", "src", "dst", "right", "left"]), bulk("c"));
    assert_eq!(r.cmd(&["LMOVE", "src", "dst", "left", "left"]), bulk("b"));
    assert_eq!(r.cmd(&["EXISTS", "src"]), int(0));
    assert_eq!(
        r.cmd(&["LRANGE", "dst", "0", "-1"]),
        arr(&["b", "c", "d", "a"])
    );
    assert_eq!(r.cmd(&["LMOVE", "src", "dst", "left", "left"]), Frame::Null);
    assert_eq!(r.cmd(&["RPOPLPUSH", "src", "dst"]), Frame::Null);
    assert_eq!(
        r.cmd(&["LMOVE", "src", "dst", "up", "left"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LMOVE", "src", "dst", "left", "down"]),
        err("ERR syntax error")
    );

    // Rotation of a single key keeps the key and its TTL.
    assert_eq!(r.cmd(&["EXPIRE", "dst", "100"]), int(1));
    assert_eq!(r.cmd(&["RPOPLPUSH", "dst", "dst"]), bulk("a"));
    assert_eq!(
        r.cmd(&["LRANGE", "dst", "0", "-1"]),
        arr(&["a", "b", "c", "d"])
    );
    assert_eq!(r.cmd(&["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(r.cmd(&["LMOVE", "dst", "dst", "LEFT", "LEFT"]), bulk("b"));
    assert_eq!(
        r.cmd(&["LRANGE", "dst", "0", "-1"]),
        arr(&["b", "c", "d", "a"])
    );
    r.cmd(&["RPUSH", "one", "x"]);
    r.cmd(&["EXPIRE", "one", "100"]);
    assert_eq!(r.cmd(&["RPOPLPUSH", "one", "one"]), bulk("x"));
    assert_eq!(r.cmd(&["LRANGE", "one", "0", "-1"]), arr(&["x"]));
    let Frame::Integer(ttl) = r.cmd(&["TTL", "one"]) else {
        panic!()
    };
    assert!(ttl > 90);
}

#[test]
fn lmpop_parsing_and_replies() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "b", "1", "2", "3", "4"]);
    assert_eq!(
        r.cmd(&["LMPOP", "2", "a", "b", "LEFT"]),
        Frame::Array(vec![bulk("b"), arr(&["1"])])
    );
    assert_eq!(
        r.cmd(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2"]),
        Frame::Array(vec![bulk("b"), arr(&["4", "3"])])
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "b", "left", "count", "10"]),
        Frame::Array(vec![bulk("b"), arr(&["2"])])
    );
    assert_eq!(r.cmd(&["EXISTS", "b"]), int(0));
    assert_eq!(r.cmd(&["LMPOP", "2", "a", "b", "LEFT"]), Frame::Null);
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(r.cmd(&["LMPOP", "0", "a", "LEFT"]), numkeys);
    assert_eq!(r.cmd(&["LMPOP", "-1", "a", "LEFT"]), numkeys);
    assert_eq!(r.cmd(&["LMPOP", "x", "a", "LEFT"]), numkeys);
    assert_eq!(r.cmd(&["LMPOP", "5", "a", "LEFT"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "MIDDLE"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "x"]),
        err("ERR count should be greater than 0")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a", "LEFT", "FOO"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["LMPOP", "1", "a"]),
        err("ERR wrong number of arguments for 'lmpop' command")
    );
}

#[test]
fn encodings_follow_redis_72() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let listpack = Frame::Bulk("listpack".into());
    let quicklist = Frame::Bulk("quicklist".into());
    r.cmd(&["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(encoding(&mut r, "l"), listpack);
    let big = "x".repeat(9000);
    r.cmd(&["RPUSH", "l", &big]);
    assert_eq!(encoding(&mut r, "l"), quicklist);
    r.cmd(&["RPOP", "l"]);
    assert_eq!(encoding(&mut r, "l"), listpack);

    // Count-based limits, as the Redis tests use.
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "list-max-listpack-size", "3"]),
        ok()
    );
    let fill = |r: &mut RawConn, items: &[&str]| {
        r.cmd(&["DEL", "q"]);
        for i in items {
            r.cmd(&["RPUSH", "q", i]);
        }
    };
    fill(&mut r, &["a", "b", "c", "d"]);
    assert_eq!(encoding(&mut r, "q"), quicklist);
    r.cmd(&["RPOP", "q", "3"]);
    assert_eq!(encoding(&mut r, "q"), listpack);
    fill(&mut r, &["a", "a", "a", "d"]);
    r.cmd(&["LREM", "q", "3", "a"]);
    assert_eq!(encoding(&mut r, "q"), listpack);
    fill(&mut r, &["a", "b", "c", "d"]);
    r.cmd(&["LTRIM", "q", "1", "1"]);
    assert_eq!(encoding(&mut r, "q"), listpack);
    // LSET counts the new element before replacing, as Redis's listTypeTryConversionAppend.
    for (cmd, want) in [
        (&["RPUSH", "q", "x"][..], &quicklist),
        (&["LSET", "q", "0", "long"], &quicklist),
        (&["LINSERT", "q", "AFTER", "nopivot", "x"], &quicklist),
    ] {
        fill(&mut r, &["a", "b", "c"]);
        assert_eq!(encoding(&mut r, "q"), listpack);
        r.cmd(cmd);
        assert_eq!(&encoding(&mut r, "q"), want, "{cmd:?}");
    }
    fill(&mut r, &["a", "b"]);
    r.cmd(&["LSET", "q", "0", "long"]);
    assert_eq!(encoding(&mut r, "q"), listpack);
    fill(&mut r, &["d", "e", "f"]);
    r.cmd(&["RPUSH", "src", "a"]);
    r.cmd(&["LMOVE", "src", "q", "RIGHT", "RIGHT"]);
    assert_eq!(encoding(&mut r, "q"), quicklist);
    assert_eq!(
        r.cmd(&["LRANGE", "q", "0", "-1"]),
        arr(&["d", "e", "f", "a"])
    );

    // Consistency of indexing across many nodes.
    r.cmd(&["DEL", "n"]);
    for i in 0..250 {
        r.cmd(&["RPUSH", "n", &i.to_string()]);
    }
    assert_eq!(encoding(&mut r, "n"), quicklist);
    for i in 0..250i64 {
        assert_eq!(
            r.cmd(&["LINDEX", "n", &i.to_string()]),
            bulk(&i.to_string())
        );
        assert_eq!(
            r.cmd(&["LINDEX", "n", &(-i - 1).to_string()]),
            bulk(&(249 - i).to_string())
        );
    }
}

#[test]
fn memory_usage_of_a_100_element_list() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 0..100 {
        r.cmd(&["RPUSH", "m", &format!("{i:016}")]);
    }
    let Frame::Integer(bytes) = r.cmd(&["MEMORY", "USAGE", "m"]) else {
        panic!()
    };
    // One 1,792-byte node block (17 bytes an element), the 32-byte object and the key.
    assert!(bytes / 100 <= 19, "{bytes} bytes for 100 elements");
}

/// list-max-listpack-size takes any C int, as in Redis: 0 acts as 1 and anything below -5
/// as -5 (Redis 7.2's "List invalid list-max-listpack-size config").
#[test]
fn list_max_listpack_size_out_of_range_values() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let enc = |r: &mut RawConn| r.cmd(&["OBJECT", "ENCODING", "lst"]);
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "list-max-listpack-size", "0"]),
        ok()
    );
    r.cmd(&["RPUSH", "lst", "a"]);
    assert_eq!(enc(&mut r), bulk("listpack"));
    r.cmd(&["RPUSH", "lst", "b"]);
    assert_eq!(enc(&mut r), bulk("quicklist"));
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "list-max-listpack-size", "-6"]),
        ok()
    );
    r.cmd(&["DEL", "lst"]);
    r.cmd(&["RPUSH", "lst", &"x".repeat(60000)]);
    assert_eq!(enc(&mut r), bulk("listpack"));
    r.cmd(&["RPUSH", "lst", &"x".repeat(5536)]);
    assert_eq!(enc(&mut r), bulk("quicklist"));
    for v in ["-2147483648", "2147483647"] {
        assert_eq!(r.cmd(&["CONFIG", "SET", "list-max-ziplist-size", v]), ok());
    }
    assert!(matches!(
        r.cmd(&["CONFIG", "SET", "list-max-listpack-size", "2147483648"]),
        Frame::Error(_)
    ));
}

#[test]
fn randomized_against_model() {
    for fill in ["-2", "2", "5"] {
        let srv = TestServer::start();
        let mut r = srv.raw();
        assert_eq!(
            r.cmd(&["CONFIG", "SET", "list-max-listpack-size", fill]),
            ok()
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let keys = ["k0", "k1"];
        let mut model: [VecDeque<String>; 2] = [VecDeque::new(), VecDeque::new()];
        for step in 0..1500 {
            let k = rng.gen_range(0..2);
            let key = keys[k];
            let v = format!("v{}", rng.gen_range(0..6));
            let m = &mut model[k];
            let op = rng.gen_range(0..10);
            match op {
                0 => {
                    let n = rng.gen_range(1..4);
                    let vals: Vec<String> = (0..n).map(|i| format!("{v}{i}")).collect();
                    let mut cmd = vec!["LPUSH", key];
                    cmd.extend(vals.iter().map(|s| s.as_str()));
                    for s in &vals {
                        m.push_front(s.clone());
                    }
                    assert_eq!(r.cmd(&cmd), int(m.len() as i64));
                }
                1 => {
                    m.push_back(v.clone());
                    assert_eq!(r.cmd(&["RPUSH", key, &v]), int(m.len() as i64));
                }
                2 => {
                    let n = rng.gen_range(1..4);
                    let want: Vec<String> = (0..n).map_while(|_| m.pop_back()).collect();
                    let got = r.cmd(&["RPOP", key, &n.to_string()]);
                    if want.is_empty() {
                        assert_eq!(got, Frame::Null);
                    } else {
                        assert_eq!(
                            got,
                            arr(&want.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                        );
                    }
                }
                3 => {
                    let got = r.cmd(&["LPOP", key]);
                    match m.pop_front() {
                        Some(s) => assert_eq!(got, bulk(&s)),
                        None => assert_eq!(got, Frame::Null),
                    }
                }
                4 => {
                    let count = rng.gen_range(-2..3);
                    let got = r.cmd(&["LREM", key, &count.to_string(), &v]);
                    let mut left = if count == 0 {
                        usize::MAX
                    } else {
                        (count as i64).unsigned_abs() as usize
                    };
                    let idx: Vec<usize> = if count < 0 {
                        (0..m.len()).rev().collect()
                    } else {
                        (0..m.len()).collect()
                    };
                    let mut kill = vec![false; m.len()];
                    let mut n = 0;
                    for i in idx {
                        if left > 0 && m[i] == v {
                            kill[i] = true;
                            left -= 1;
                            n += 1;
                        }
                    }
                    let mut it = kill.iter();
                    m.retain(|_| !*it.next().unwrap());
                    assert_eq!(got, int(n));
                }
                5 => {
                    let (a, b) = (rng.gen_range(-6..6i64), rng.gen_range(-6..6i64));
                    let len = m.len() as i64;
                    let norm = |i: i64| if i < 0 { len + i } else { i };
                    let (s, e) = (norm(a).max(0), norm(b).min(len - 1));
                    let want: Vec<&str> = if s > e || s >= len {
                        vec![]
                    } else {
                        m.range(s as usize..=e as usize)
                            .map(|x| x.as_str())
                            .collect()
                    };
                    assert_eq!(
                        r.cmd(&["LRANGE", key, &a.to_string(), &b.to_string()]),
                        arr(&want),
                        "step {step}"
                    );
                }
                6 => {
                    let i = rng.gen_range(-5..5i64);
                    let idx = if i < 0 { m.len() as i64 + i } else { i };
                    let got = r.cmd(&["LSET", key, &i.to_string(), &v]);
                    if m.is_empty() {
                        assert_eq!(got, err("ERR no such key"));
                    } else if idx < 0 || idx as usize >= m.len() {
                        assert_eq!(got, err("ERR index out of range"));
                    } else {
                        m[idx as usize] = v.clone();
                        assert_eq!(got, ok());
                    }
                }
                7 => {
                    let pivot = format!("v{}", rng.gen_range(0..6));
                    let got = r.cmd(&["LINSERT", key, "BEFORE", &pivot, &v]);
                    if m.is_empty() {
                        assert_eq!(got, int(0));
                    } else {
                        match m.iter().position(|x| *x == pivot) {
                            Some(p) => {
                                m.insert(p, v.clone());
                                assert_eq!(got, int(m.len() as i64));
                            }
                            None => assert_eq!(got, int(-1)),
                        }
                    }
                }
                8 => {
                    let other = 1 - k;
                    let got = r.cmd(&["LMOVE", key, keys[other], "LEFT", "RIGHT"]);
                    match model[k].pop_front() {
                        Some(s) => {
                            model[other].push_back(s.clone());
                            assert_eq!(got, bulk(&s));
                        }
                        None => assert_eq!(got, Frame::Null),
                    }
                }
                _ => {
                    let got = r.cmd(&["LPOS", key, &v, "RANK", "-1"]);
                    match m.iter().rposition(|x| *x == v) {
                        Some(p) => assert_eq!(got, int(p as i64)),
                        None => assert_eq!(got, Frame::Null),
                    }
                }
            }
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(
                    r.cmd(&["LLEN", key]),
                    int(model[i].len() as i64),
                    "step {step} op {op}"
                );
            }
        }
        for (i, key) in keys.iter().enumerate() {
            let want: Vec<&str> = model[i].iter().map(|s| s.as_str()).collect();
            assert_eq!(r.cmd(&["LRANGE", key, "0", "-1"]), arr(&want));
        }
    }
}
