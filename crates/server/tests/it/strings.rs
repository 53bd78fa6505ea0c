//! String commands against a real server on a free port, through the `redis` crate and raw RESP.

use cinnabar_resp::Frame;
use cinnabar_testkit::TestServer;
use cinnabar_testkit::{bulk, err};

use redis::Commands;

fn conn(srv: &TestServer) -> redis::Connection {
    redis::Client::open(srv.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn get_set_and_binary_values() {
    let srv = TestServer::start();
    let mut c = conn(&srv);
    let v: Option<String> = c.get("missing").unwrap();
    assert_eq!(v, None);
    let _: () = c.set("k", "v").unwrap();
    let v: String = c.get("k").unwrap();
    assert_eq!(v, "v");
    let bin: Vec<u8> = (0..=255u8).collect();
    let _: () = c.set(&bin[..], &bin[..]).unwrap();
    let got: Vec<u8> = c.get(&bin[..]).unwrap();
    assert_eq!(got, bin);
    let big = vec![b'x'; 1 << 20];
    let _: () = c.set("big", &big[..]).unwrap();
    let got: Vec<u8> = c.get("big").unwrap();
    assert_eq!(got.len(), 1 << 20);
}

#[test]
fn set_options() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "1", "NX"]), Frame::Simple("OK".into()));
    assert_eq!(r.cmd(&["SET", "k", "2", "NX"]), Frame::Null);
    assert_eq!(r.cmd(&["SET", "k", "3", "XX", "GET"]), bulk("1"));
    assert_eq!(r.cmd(&["SET", "nokey", "3", "XX"]), Frame::Null);
    assert_eq!(r.cmd(&["SET", "k", "4", "NX", "GET"]), bulk("3"));
    assert_eq!(
        r.cmd(&["SET", "k", "5", "NX", "XX"]),
        err("ERR syntax error")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "10", "PX", "100"]),
        err("ERR syntax error")
    );
    assert_eq!(r.cmd(&["SET", "k", "5", "EX"]), err("ERR syntax error"));
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "0"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "-1"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "9223372036854775807"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "PX", "9223372036854775807"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        r.cmd(&["SET", "k", "5", "EX", "100"]),
        Frame::Simple("OK".into())
    );
    let Frame::Integer(ttl) = r.cmd(&["TTL", "k"]) else {
        panic!()
    };
    assert!((99..=100).contains(&ttl));
    assert_eq!(
        r.cmd(&["SET", "k", "6", "KEEPTTL"]),
        Frame::Simple("OK".into())
    );
    let Frame::Integer(ttl) = r.cmd(&["TTL", "k"]) else {
        panic!()
    };
    assert!((99..=100).contains(&ttl));
    assert_eq!(r.cmd(&["SET", "k", "7"]), Frame::Simple("OK".into()));
    assert_eq!(r.cmd(&["TTL", "k"]), Frame::Integer(-1));
    // An absolute deadline in the past deletes the key.
    assert_eq!(
        r.cmd(&["SET", "k", "8", "PXAT", "1"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(r.cmd(&["EXISTS", "k"]), Frame::Integer(0));
    // GET on a non-string is WRONGTYPE and changes nothing (needs a non-string type: skip).
    assert_eq!(r.cmd(&["SET", "k", "v", "px", "100", "get"]), Frame::Null);
}

#[test]
fn setnx_setex_psetex_getset_getdel() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SETNX", "a", "1"]), Frame::Integer(1));
    assert_eq!(r.cmd(&["SETNX", "a", "2"]), Frame::Integer(0));
    assert_eq!(
        r.cmd(&["SETEX", "b", "100", "x"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.cmd(&["SETEX", "b", "0", "x"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        r.cmd(&["PSETEX", "c", "100000", "y"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.cmd(&["PSETEX", "c", "-5", "y"]),
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(r.cmd(&["GETSET", "a", "3"]), bulk("1"));
    assert_eq!(r.cmd(&["GETSET", "new", "3"]), Frame::Null);
    assert_eq!(r.cmd(&["GETDEL", "a"]), bulk("3"));
    assert_eq!(r.cmd(&["GETDEL", "a"]), Frame::Null);
}

#[test]
fn getex_options() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "k", "v"]);
    assert_eq!(r.cmd(&["GETEX", "k", "EX", "100"]), bulk("v"));
    let Frame::Integer(ttl) = r.cmd(&["TTL", "k"]) else {
        panic!()
    };
    assert!(ttl > 90);
    assert_eq!(r.cmd(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(r.cmd(&["TTL", "k"]), Frame::Integer(-1));
    assert_eq!(
        r.cmd(&["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        r.cmd(&["GETEX", "k", "EX", "10", "PERSIST"]),
        err("ERR syntax error")
    );
    assert_eq!(r.cmd(&["GETEX", "k", "NX"]), err("ERR syntax error"));
    assert_eq!(r.cmd(&["GETEX", "missing", "EX", "10"]), Frame::Null);
    assert_eq!(r.cmd(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
    assert_eq!(r.cmd(&["EXISTS", "k"]), Frame::Integer(0));
}

#[test]
fn mget_mset_msetnx() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["MSET", "a", "1", "b", "2"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.cmd(&["MGET", "a", "b", "c"]),
        Frame::Array(vec![bulk("1"), bulk("2"), Frame::Null])
    );
    assert_eq!(
        r.cmd(&["MSET", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(r.cmd(&["MSETNX", "c", "3", "a", "9"]), Frame::Integer(0));
    assert_eq!(r.cmd(&["GET", "c"]), Frame::Null);
    assert_eq!(r.cmd(&["MSETNX", "c", "3", "d", "4"]), Frame::Integer(1));
    assert_eq!(
        r.cmd(&["MGET", "c", "d"]),
        Frame::Array(vec![bulk("3"), bulk("4")])
    );
}

#[test]
fn counters() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["INCR", "n"]), Frame::Integer(1));
    assert_eq!(r.cmd(&["INCRBY", "n", "10"]), Frame::Integer(11));
    assert_eq!(r.cmd(&["DECR", "n"]), Frame::Integer(10));
    assert_eq!(r.cmd(&["DECRBY", "n", "20"]), Frame::Integer(-10));
    assert_eq!(r.cmd(&["GET", "n"]), bulk("-10"));
    r.cmd(&["SET", "n", "9223372036854775807"]);
    assert_eq!(
        r.cmd(&["INCR", "n"]),
        err("ERR increment or decrement would overflow")
    );
    r.cmd(&["SET", "s", "abc"]);
    assert_eq!(
        r.cmd(&["INCR", "s"]),
        err("ERR value is not an integer or out of range")
    );
    r.cmd(&["SET", "s", " 1"]);
    assert_eq!(
        r.cmd(&["INCR", "s"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["INCRBY", "x", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["DECRBY", "x", "-9223372036854775808"]),
        err("ERR decrement would overflow")
    );
    // INCR keeps the TTL.
    r.cmd(&["SET", "t", "1", "EX", "100"]);
    r.cmd(&["INCR", "t"]);
    let Frame::Integer(ttl) = r.cmd(&["TTL", "t"]) else {
        panic!()
    };
    assert!(ttl > 90);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "t"]), bulk("int"));
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "-10.6"]), bulk("0"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "5.0e3"]), bulk("5000"));
    // Extended precision, as Redis: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    assert_eq!(r.cmd(&["INCRBYFLOAT", "g", "0.1"]), bulk("0.1"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "g", "0.2"]), bulk("0.3"));
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "f", "abc"]),
        err("ERR value is not a valid float")
    );
    r.cmd(&["SET", "s", "x"]);
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "s", "1"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "big", "inf"]),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(r.cmd(&["EXISTS", "big"]), Frame::Integer(0));
}

#[test]
fn append_strlen_ranges() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["APPEND", "s", "Hello"]), Frame::Integer(5));
    assert_eq!(r.cmd(&["APPEND", "s", " World"]), Frame::Integer(11));
    assert_eq!(r.cmd(&["STRLEN", "s"]), Frame::Integer(11));
    assert_eq!(r.cmd(&["STRLEN", "nope"]), Frame::Integer(0));
    assert_eq!(r.cmd(&["GETRANGE", "s", "0", "4"]), bulk("Hello"));
    assert_eq!(r.cmd(&["GETRANGE", "s", "-5", "-1"]), bulk("World"));
    assert_eq!(r.cmd(&["GETRANGE", "s", "5", "2"]), bulk(""));
    assert_eq!(r.cmd(&["GETRANGE", "s", "0", "1000"]), bulk("Hello World"));
    assert_eq!(r.cmd(&["GETRANGE", "s", "-1", "-5"]), bulk(""));
    assert_eq!(r.cmd(&["SUBSTR", "s", "0", "0"]), bulk("H"));
    assert_eq!(r.cmd(&["GETRANGE", "nope", "0", "-1"]), bulk(""));
    assert_eq!(r.cmd(&["SETRANGE", "s", "6", "Redis"]), Frame::Integer(11));
    assert_eq!(r.cmd(&["GET", "s"]), bulk("Hello Redis"));
    assert_eq!(r.cmd(&["SETRANGE", "z", "3", "ab"]), Frame::Integer(5));
    assert_eq!(
        r.cmd(&["GET", "z"]),
        Frame::Bulk(b"\0\0\0ab".to_vec().into())
    );
    assert_eq!(r.cmd(&["SETRANGE", "e", "0", ""]), Frame::Integer(0));
    assert_eq!(r.cmd(&["EXISTS", "e"]), Frame::Integer(0));
    assert_eq!(
        r.cmd(&["SETRANGE", "s", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        r.cmd(&["SETRANGE", "s", "536870911", "xx"]),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    r.cmd(&["SET", "i", "12345"]);
    assert_eq!(r.cmd(&["STRLEN", "i"]), Frame::Integer(5));
    assert_eq!(r.cmd(&["APPEND", "i", "6"]), Frame::Integer(6));
    assert_eq!(r.cmd(&["GET", "i"]), bulk("123456"));
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "i"]), bulk("raw"));
}

#[test]
fn lcs() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(r.cmd(&["LCS", "key1", "key2"]), bulk("mytext"));
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "LEN"]), Frame::Integer(6));
    let Frame::Array(idx) = r.cmd(&[
        "LCS",
        "key1",
        "key2",
        "IDX",
        "MINMATCHLEN",
        "4",
        "WITHMATCHLEN",
    ]) else {
        panic!()
    };
    assert_eq!(idx[0], bulk("matches"));
    assert_eq!(
        idx[1],
        Frame::Array(vec![Frame::Array(vec![
            Frame::Array(vec![Frame::Integer(4), Frame::Integer(7)]),
            Frame::Array(vec![Frame::Integer(5), Frame::Integer(8)]),
            Frame::Integer(4)
        ])])
    );
    assert_eq!(idx[3], Frame::Integer(6));
    assert_eq!(
        r.cmd(&["LCS", "key1", "key2", "LEN", "IDX"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
}

#[test]
fn wrong_arity_and_unknown_commands() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        r.cmd(&["PING", "x", "y"]),
        err("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(
        r.cmd(&["GET", "a", "b"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        r.cmd(&["FOO", "a", "b"]),
        err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        r.cmd(&["CLIENT", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    );
    assert_eq!(
        r.cmd(&["client", "setname"]),
        err("ERR wrong number of arguments for 'client|setname' command")
    );
}
