//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) against a
//! real server on a free port: exact replies and error strings through raw RESP, a smoke test
//! through the `redis` crate, and randomised comparisons against a local model of the bitmap.
//!
//! Many cases come from Redis 7.2's tests/unit/bitops.tcl, bitfield.tcl and the SETBIT/GETBIT
//! tests of type/string.tcl, so the expected values are Redis's own.

use cinnabar_resp::Frame;
use cinnabar_testkit::{err, int, ok, RawConn, TestServer};
use redis::Commands;

const ERR_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT: &str = "ERR bit is not an integer or out of range";
const ERR_NOT_INT: &str = "ERR value is not an integer or out of range";
const ERR_SYNTAX: &str = "ERR syntax error";
const ERR_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(b.to_vec().into())
}

fn ints(v: &[i64]) -> Frame {
    Frame::Array(v.iter().map(|&n| int(n)).collect())
}

/// A BITFIELD reply: `None` is a nil (a write refused by OVERFLOW FAIL).
fn fields(v: &[Option<i64>]) -> Frame {
    Frame::Array(v.iter().map(|n| n.map_or(Frame::Null, int)).collect())
}

/// Sends a command whose arguments may be binary.
fn cmdb(r: &mut RawConn, args: &[&[u8]]) -> Frame {
    r.send(args);
    r.read()
}

/// Sets `key` to binary `value`.
fn set(r: &mut RawConn, key: &str, value: &[u8]) {
    assert_eq!(cmdb(r, &[b"SET", key.as_bytes(), value]), ok());
}

/// The value of `key` (nil as an empty Vec, which the tests tell apart with EXISTS).
fn get(r: &mut RawConn, key: &str) -> Vec<u8> {
    match r.cmd(&["GET", key]) {
        Frame::Bulk(b) => b.to_vec(),
        Frame::Null => Vec::new(),
        other => panic!("GET {key}: {other:?}"),
    }
}

fn wrong_arity(cmd: &str) -> Frame {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

// ---------------------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------------------

#[test]
fn setbit_creates_and_grows_the_string() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // SETBIT against a missing key (string.tcl): bit 1 is 0x40.
    assert_eq!(r.cmd(&["SETBIT", "k", "1", "1"]), int(0));
    assert_eq!(get(&mut r, "k"), b"\x40");
    assert_eq!(r.cmd(&["SETBIT", "k", "1", "1"]), int(1));
    assert_eq!(r.cmd(&["SETBIT", "k", "1", "0"]), int(1));
    assert_eq!(get(&mut r, "k"), b"\x00");
    // Growth zero-pads up to the byte that holds the offset.
    assert_eq!(r.cmd(&["SETBIT", "k", "100", "1"]), int(0));
    assert_eq!(r.cmd(&["STRLEN", "k"]), int(13));
    let mut want = vec![0u8; 13];
    want[12] = 0x08;
    assert_eq!(get(&mut r, "k"), want);
    // Storing a 0 still creates the key, and still grows an existing one.
    assert_eq!(r.cmd(&["SETBIT", "z", "0", "0"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "z"]), int(1));
    assert_eq!(get(&mut r, "z"), b"\x00");
    assert_eq!(r.cmd(&["SETBIT", "z", "23", "0"]), int(0));
    assert_eq!(get(&mut r, "z"), b"\x00\x00\x00");
    // Edited bitmaps are raw strings, as in Redis.
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "k"]), bulk(b"raw"));
}

#[test]
fn setbit_on_string_and_integer_encoded_values() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // string.tcl "SETBIT against string-encoded key": "@" is 0x40.
    set(&mut r, "s", b"@");
    assert_eq!(r.cmd(&["SETBIT", "s", "2", "1"]), int(0));
    assert_eq!(get(&mut r, "s"), b"\x60");
    assert_eq!(r.cmd(&["SETBIT", "s", "1", "0"]), int(1));
    assert_eq!(get(&mut r, "s"), b"\x20");
    // "SETBIT against integer-encoded key": "1" is 0x31, edited as its text.
    assert_eq!(r.cmd(&["SET", "n", "1"]), ok());
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "n"]), bulk(b"int"));
    assert_eq!(r.cmd(&["SETBIT", "n", "6", "1"]), int(0));
    assert_eq!(get(&mut r, "n"), b"3");
    assert_eq!(r.cmd(&["SETBIT", "n", "2", "0"]), int(1));
    assert_eq!(get(&mut r, "n"), b"\x13");
    // Negative and multi-digit integers are their decimal text too.
    assert_eq!(r.cmd(&["SET", "m", "-12"]), ok());
    assert_eq!(r.cmd(&["SETBIT", "m", "31", "1"]), int(0));
    assert_eq!(get(&mut r, "m"), b"-12\x01");
}

#[test]
fn setbit_keeps_the_ttl() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["SET", "k", "x", "EX", "100"]), ok());
    assert_eq!(r.cmd(&["SETBIT", "k", "100", "1"]), int(0));
    let Frame::Integer(ttl) = r.cmd(&["TTL", "k"]) else {
        panic!()
    };
    assert!((99..=100).contains(&ttl));
}

#[test]
fn getbit_reads_strings_integers_and_missing_keys() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GETBIT", "missing", "0"]), int(0));
    assert_eq!(r.cmd(&["GETBIT", "missing", "4294967295"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "missing"]), int(0));
    // "`" is 0x60 (string.tcl "GETBIT against string-encoded key").
    set(&mut r, "s", b"`");
    let bits: Vec<Frame> = (0..8)
        .map(|i| r.cmd(&["GETBIT", "s", &i.to_string()]))
        .collect();
    assert_eq!(bits, [0, 1, 1, 0, 0, 0, 0, 0].map(int));
    for far in ["8", "100", "10000", "4294967295"] {
        assert_eq!(r.cmd(&["GETBIT", "s", far]), int(0));
    }
    assert_eq!(
        r.cmd(&["STRLEN", "s"]),
        int(1),
        "GETBIT never grows the string"
    );
    // "1" is 0x31 = 00110001.
    assert_eq!(r.cmd(&["SET", "n", "1"]), ok());
    let bits: Vec<Frame> = (0..8)
        .map(|i| r.cmd(&["GETBIT", "n", &i.to_string()]))
        .collect();
    assert_eq!(bits, [0, 0, 1, 1, 0, 0, 0, 1].map(int));
    assert_eq!(r.cmd(&["GETBIT", "n", "8"]), int(0));
}

#[test]
fn setbit_getbit_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for bad in [
        "-1",
        "4294967296",
        "abc",
        "01",
        "1.5",
        "#1",
        "",
        "18446744073709551616",
    ] {
        assert_eq!(
            r.cmd(&["SETBIT", "k", bad, "1"]),
            err(ERR_OFFSET),
            "offset {bad:?}"
        );
        assert_eq!(
            r.cmd(&["GETBIT", "k", bad]),
            err(ERR_OFFSET),
            "offset {bad:?}"
        );
    }
    for bad in ["2", "-1", "10", "abc", "01", "", "1.0"] {
        assert_eq!(
            r.cmd(&["SETBIT", "k", "0", bad]),
            err(ERR_BIT),
            "value {bad:?}"
        );
    }
    // The offset is checked before the value.
    assert_eq!(r.cmd(&["SETBIT", "k", "-1", "2"]), err(ERR_OFFSET));
    assert_eq!(
        r.cmd(&["EXISTS", "k"]),
        int(0),
        "failed SETBITs create nothing"
    );
    assert_eq!(r.cmd(&["SETBIT", "k", "1"]), wrong_arity("setbit"));
    assert_eq!(
        r.cmd(&["SETBIT", "k", "1", "1", "1"]),
        wrong_arity("setbit")
    );
    assert_eq!(r.cmd(&["GETBIT", "k"]), wrong_arity("getbit"));
}

#[test]
fn offsets_are_bounded_by_proto_max_bulk_len() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]), ok());
    let max_bit = (1u64 << 23) - 1; // the last bit of a 1 MiB string
    let past = (max_bit + 1).to_string();
    assert_eq!(r.cmd(&["SETBIT", "k", &past, "1"]), err(ERR_OFFSET));
    assert_eq!(r.cmd(&["GETBIT", "k", &past]), err(ERR_OFFSET));
    assert_eq!(r.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(r.cmd(&["SETBIT", "k", &max_bit.to_string(), "1"]), int(0));
    assert_eq!(r.cmd(&["STRLEN", "k"]), int(1 << 20));
    assert_eq!(r.cmd(&["GETBIT", "k", &max_bit.to_string()]), int(1));
    assert_eq!(r.cmd(&["BITCOUNT", "k"]), int(1));
    assert_eq!(r.cmd(&["BITPOS", "k", "1"]), int(max_bit as i64));
    // BITFIELD offsets, including the #N form, obey the same limit.
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "SET", "u8", &past, "1"]),
        err(ERR_OFFSET)
    );
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "GET", "u8", "#1048576"]),
        err(ERR_OFFSET)
    );
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "GET", "u8", "#1048575"]),
        ints(&[1])
    );
    // As in Redis only the field's start is bounded: a wide field may end past the limit.
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "INCRBY", "u16", &max_bit.to_string(), "1"]),
        ints(&[0x8001])
    );
    assert_eq!(r.cmd(&["STRLEN", "k"]), int((1 << 20) + 2));
    // The default limit is 512 MiB: offset 2^32 is refused, 2^32 - 1 readable.
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "536870912"]),
        ok()
    );
    assert_eq!(r.cmd(&["SETBIT", "k", "4294967296", "1"]), err(ERR_OFFSET));
    assert_eq!(r.cmd(&["GETBIT", "k", "4294967295"]), int(0));
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "GET", "u8", "4294967295"]),
        ints(&[0])
    );
    assert_eq!(
        r.cmd(&["BITFIELD", "k", "GET", "u8", "#536870912"]),
        err(ERR_OFFSET)
    );
}

#[test]
fn expired_keys_read_as_missing() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for k in ["a", "b", "c", "d", "e", "f"] {
        set(&mut r, k, b"\xff");
        assert_eq!(r.cmd(&["PEXPIRE", k, "1"]), int(1));
    }
    srv.advance_clock(2);
    assert_eq!(r.cmd(&["GETBIT", "a", "0"]), int(0));
    assert_eq!(r.cmd(&["BITCOUNT", "b"]), int(0));
    assert_eq!(r.cmd(&["BITPOS", "c", "0"]), int(0));
    assert_eq!(r.cmd(&["BITFIELD_RO", "d", "GET", "u8", "0"]), ints(&[0]));
    // Writes start from an empty string with no deadline.
    assert_eq!(r.cmd(&["SETBIT", "e", "7", "1"]), int(0));
    assert_eq!(get(&mut r, "e"), b"\x01");
    assert_eq!(r.cmd(&["TTL", "e"]), int(-1));
    assert_eq!(r.cmd(&["BITOP", "OR", "x", "f", "nothing"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "x"]), int(0));
}

// ---------------------------------------------------------------------------------------
// BITCOUNT
// ---------------------------------------------------------------------------------------

#[test]
fn bitcount_whole_and_ranges() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["BITCOUNT", "no-key"]), int(0));
    assert_eq!(r.cmd(&["BITCOUNT", "no-key", "0", "1000", "bit"]), int(0));
    set(&mut r, "s", b"foobar");
    let cases: &[(&[&str], i64)] = &[
        (&[], 26),
        (&["0", "0"], 4),
        (&["1", "1"], 6),
        (&["1", "1", "BYTE"], 6),
        (&["1", "1", "BIT"], 1),
        (&["5", "30", "bit"], 17),
        (&["0", "-1"], 26),
        (&["1", "-2"], 18),   // "ooba"
        (&["-2", "1"], 0),    // start after end once converted
        (&["-2", "-1"], 7),   // "ar"
        (&["-1", "-2"], 0),   // both negative, reversed
        (&["0", "1000"], 26), // clamped
        (&["100", "200"], 0),
        (&["-100", "100"], 26),
        (&["0", "4294967296"], 26), // github issue #582: not an error on 64-bit
        (&["0", "-1", "bit"], 26),
        (&["10", "14", "bit"], 4),
        (&["3", "14", "bit"], 7),
        (&["3", "29", "bit"], 16),
        (&["10", "-34", "bit"], 4), // -34 is bit 14 of 48
        (&["3", "-34", "bit"], 7),
        (&["3", "-19", "bit"], 16),
        (&["-2", "1", "bit"], 0),
        (&["-1", "-1", "bit"], 0), // the last bit of 'r' (0x72)
        (&["-2", "-2", "bit"], 1),
        (&["0", "1000", "bit"], 26),
        (&["-9223372036854775808", "9223372036854775807", "bit"], 26),
    ];
    for (range, want) in cases {
        let mut args = vec!["BITCOUNT", "s"];
        args.extend_from_slice(range);
        assert_eq!(r.cmd(&args), int(*want), "{args:?}");
    }
    // The Redis quirk: both negative and reversed answers 0 before the unit is even read.
    assert_eq!(r.cmd(&["BITCOUNT", "s", "-1", "-2", "junk"]), int(0));
    // Redis's misaligned-range regression tests.
    set(&mut r, "s", b"ab");
    assert_eq!(r.cmd(&["BITCOUNT", "s", "1", "-1"]), int(3));
    set(&mut r, "s", b"__PPxxxxxxxxxxxxxxxxRR__");
    assert_eq!(r.cmd(&["BITCOUNT", "s", "2", "-3"]), int(74));
    // Test vectors, including an integer-encoded value counted as its text.
    for (v, n) in [
        (&b""[..], 0),
        (b"\xaa", 4),
        (b"\x00\x00\xff", 8),
        (b"123", 10),
    ] {
        set(&mut r, "v", v);
        assert_eq!(r.cmd(&["BITCOUNT", "v"]), int(n));
        assert_eq!(r.cmd(&["BITCOUNT", "v", "0", "-1", "bit"]), int(n));
    }
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "v"]), bulk(b"int"));
    assert_eq!(r.cmd(&["BITCOUNT", "v", "1", "1"]), int(3)); // '2' is 0x32
}

#[test]
fn bitcount_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    set(&mut r, "s", b"foobar");
    assert_eq!(r.cmd(&["BITCOUNT", "s", "0"]), err(ERR_SYNTAX));
    assert_eq!(
        r.cmd(&["BITCOUNT", "s", "0", "1", "hello"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(
        r.cmd(&["BITCOUNT", "s", "0", "1", "bit", "x"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(r.cmd(&["BITCOUNT", "s", "a", "1"]), err(ERR_NOT_INT));
    assert_eq!(r.cmd(&["BITCOUNT", "s", "0", "b"]), err(ERR_NOT_INT));
    assert_eq!(
        r.cmd(&["BITCOUNT", "s", "0", "b", "junk"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        r.cmd(&["BITCOUNT", "s", "0", "9223372036854775808"]),
        err(ERR_NOT_INT)
    );
    // Redis 7.2 looks the key up first: a missing key is 0 whatever follows.
    assert_eq!(r.cmd(&["BITCOUNT", "nokey", "0"]), int(0));
    assert_eq!(r.cmd(&["BITCOUNT", "nokey", "x", "y", "z"]), int(0));
    assert_eq!(r.cmd(&["BITCOUNT"]), wrong_arity("bitcount"));
}

// ---------------------------------------------------------------------------------------
// BITPOS
// ---------------------------------------------------------------------------------------

/// BITPOS with the given extra arguments.
fn bitpos(r: &mut RawConn, key: &str, rest: &[&str]) -> Frame {
    let mut args = vec!["BITPOS", key];
    args.extend_from_slice(rest);
    r.cmd(&args)
}

#[test]
fn bitpos_missing_and_empty() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // A missing key is an endless run of zeros; its range is not even parsed.
    assert_eq!(bitpos(&mut r, "nokey", &["0"]), int(0));
    assert_eq!(bitpos(&mut r, "nokey", &["0", "0", "-1", "bit"]), int(0));
    assert_eq!(bitpos(&mut r, "nokey", &["1"]), int(-1));
    assert_eq!(bitpos(&mut r, "nokey", &["1", "0", "-1"]), int(-1));
    assert_eq!(bitpos(&mut r, "nokey", &["1", "x", "y", "z", "w"]), int(-1));
    // An empty string holds neither a 0 nor a 1.
    set(&mut r, "e", b"");
    assert_eq!(bitpos(&mut r, "e", &["0"]), int(-1));
    assert_eq!(bitpos(&mut r, "e", &["1"]), int(-1));
    assert_eq!(bitpos(&mut r, "e", &["0", "0"]), int(-1));
    assert_eq!(bitpos(&mut r, "e", &["0", "0", "-1", "bit"]), int(-1));
}

#[test]
fn bitpos_all_ones_and_all_zeros() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // All ones looking for 0: the padding past the end counts unless an end is given.
    set(&mut r, "ones", b"\xff\xff\xff");
    assert_eq!(bitpos(&mut r, "ones", &["0"]), int(24));
    assert_eq!(bitpos(&mut r, "ones", &["0", "0"]), int(24));
    assert_eq!(bitpos(&mut r, "ones", &["0", "2"]), int(24));
    assert_eq!(bitpos(&mut r, "ones", &["0", "-1"]), int(24));
    assert_eq!(bitpos(&mut r, "ones", &["0", "0", "-1"]), int(-1));
    assert_eq!(bitpos(&mut r, "ones", &["0", "0", "2"]), int(-1));
    assert_eq!(bitpos(&mut r, "ones", &["0", "0", "-1", "bit"]), int(-1));
    assert_eq!(bitpos(&mut r, "ones", &["0", "3", "20", "bit"]), int(-1));
    assert_eq!(
        bitpos(&mut r, "ones", &["0", "5"]),
        int(-1),
        "start past the end"
    );
    assert_eq!(bitpos(&mut r, "ones", &["1"]), int(0));
    assert_eq!(bitpos(&mut r, "ones", &["1", "2"]), int(16));
    assert_eq!(bitpos(&mut r, "ones", &["1", "5", "10", "bit"]), int(5));
    // All zeros looking for 1: never found; looking for 0: the first bit of the range.
    set(&mut r, "zeros", &[0u8; 20]);
    assert_eq!(bitpos(&mut r, "zeros", &["1"]), int(-1));
    assert_eq!(bitpos(&mut r, "zeros", &["1", "0", "-1", "bit"]), int(-1));
    assert_eq!(bitpos(&mut r, "zeros", &["1", "3"]), int(-1));
    assert_eq!(bitpos(&mut r, "zeros", &["0", "3"]), int(24));
    assert_eq!(bitpos(&mut r, "zeros", &["0", "-1"]), int(152));
    assert_eq!(bitpos(&mut r, "zeros", &["0", "13", "17", "BIT"]), int(13));
}

#[test]
fn bitpos_ranges_and_units() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // The cases of bitops.tcl and the Redis documentation.
    set(&mut r, "s", b"\xff\xf0\x00");
    assert_eq!(bitpos(&mut r, "s", &["0"]), int(12));
    assert_eq!(bitpos(&mut r, "s", &["0", "0", "-1", "bit"]), int(12));
    assert_eq!(bitpos(&mut r, "s", &["0", "1"]), int(12));
    assert_eq!(bitpos(&mut r, "s", &["0", "1", "-1", "bit"]), int(12));
    set(&mut r, "s", b"\x00\x0f\x00");
    assert_eq!(bitpos(&mut r, "s", &["1"]), int(12));
    assert_eq!(bitpos(&mut r, "s", &["1", "0", "-1", "bit"]), int(12));
    set(&mut r, "s", b"\x00\xff\xf0");
    assert_eq!(bitpos(&mut r, "s", &["1", "0"]), int(8));
    assert_eq!(bitpos(&mut r, "s", &["1", "2"]), int(16));
    assert_eq!(bitpos(&mut r, "s", &["1", "2", "-1", "byte"]), int(16));
    assert_eq!(bitpos(&mut r, "s", &["1", "7", "15", "bit"]), int(8));
    assert_eq!(bitpos(&mut r, "s", &["1", "7", "-3", "bit"]), int(8));
    set(&mut r, "s", b"\x00\xff\x00");
    let cases: &[(&[&str], i64)] = &[
        (&["0", "0", "-1"], 0),
        (&["0", "1", "-1"], 16),
        (&["0", "2", "-1"], 16),
        (&["0", "2", "200"], 16),
        (&["0", "1", "1"], -1),
        (&["0", "0", "-1", "bit"], 0),
        (&["0", "8", "-1", "bit"], 16),
        (&["0", "16", "200", "bit"], 16),
        (&["0", "8", "8", "bit"], -1),
        (&["1", "0", "-1"], 8),
        (&["1", "1", "-1"], 8),
        (&["1", "2", "-1"], -1),
        (&["1", "2", "200"], -1),
        (&["1", "1", "1"], 8),
        (&["1", "8", "-1", "bit"], 8),
        (&["1", "16", "-1", "bit"], -1),
        (&["1", "8", "8", "bit"], 8),
        (&["1", "9", "9", "bit"], 9),
        (&["1", "2", "1"], -1),   // empty range
        (&["0", "-1", "-3"], -1), // empty range after conversion
        (&["1", "-100", "100"], 8),
    ];
    for (rest, want) in cases {
        assert_eq!(bitpos(&mut r, "s", rest), int(*want), "BITPOS s {rest:?}");
    }
    // Partial edge bytes of bit ranges.
    set(&mut r, "p", b"\x00\x01");
    assert_eq!(bitpos(&mut r, "p", &["1", "0", "14", "bit"]), int(-1));
    assert_eq!(bitpos(&mut r, "p", &["1", "0", "15", "bit"]), int(15));
    set(&mut r, "p", b"\x80\x00\x01");
    assert_eq!(bitpos(&mut r, "p", &["1", "1", "-1", "bit"]), int(23));
    // Unaligned start + full words + remainder (bitops.tcl).
    let mut v = vec![0xffu8; 27];
    v.push(0x0f);
    set(&mut r, "w", &v);
    for start in 0..=8 {
        assert_eq!(bitpos(&mut r, "w", &["0", &start.to_string()]), int(216));
    }
    for start in [1, 9, 17, 25, 33, 41, 49, 57, 65] {
        assert_eq!(
            bitpos(&mut r, "w", &["0", &start.to_string(), "-1", "bit"]),
            int(216)
        );
    }
    // An integer-encoded value: "0" is 0x30.
    assert_eq!(r.cmd(&["SET", "n", "0"]), ok());
    assert_eq!(bitpos(&mut r, "n", &["1"]), int(2));
    assert_eq!(bitpos(&mut r, "n", &["0"]), int(0));
    assert_eq!(bitpos(&mut r, "n", &["0", "2", "3", "bit"]), int(-1));
}

#[test]
fn bitpos_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    set(&mut r, "s", b"\x00\xff");
    for bad in ["2", "-1", "10"] {
        assert_eq!(
            bitpos(&mut r, "s", &[bad]),
            err("ERR The bit argument must be 1 or 0.")
        );
        assert_eq!(
            bitpos(&mut r, "nokey", &[bad]),
            err("ERR The bit argument must be 1 or 0.")
        );
    }
    assert_eq!(bitpos(&mut r, "s", &["x"]), err(ERR_NOT_INT));
    assert_eq!(bitpos(&mut r, "nokey", &["01"]), err(ERR_NOT_INT));
    assert_eq!(bitpos(&mut r, "s", &["1", "x"]), err(ERR_NOT_INT));
    assert_eq!(bitpos(&mut r, "s", &["1", "0", "x"]), err(ERR_NOT_INT));
    // Redis reads the unit before the end.
    assert_eq!(
        bitpos(&mut r, "s", &["1", "0", "x", "junk"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(
        bitpos(&mut r, "s", &["1", "0", "x", "bit"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        bitpos(&mut r, "s", &["1", "0", "-1", "bits"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(
        bitpos(&mut r, "s", &["1", "0", "-1", "bit", "x"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(r.cmd(&["BITPOS", "s"]), wrong_arity("bitpos"));
}

// ---------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------

#[test]
fn bitop_operations() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    set(&mut r, "a", b"foobar");
    set(&mut r, "b", b"abcdef");
    assert_eq!(r.cmd(&["BITOP", "AND", "d", "a", "b"]), int(6));
    assert_eq!(get(&mut r, "d"), b"`bc`ab");
    assert_eq!(r.cmd(&["BITOP", "or", "d", "a", "b"]), int(6));
    assert_eq!(get(&mut r, "d"), b"goofev");
    assert_eq!(r.cmd(&["BITOP", "XoR", "d", "a", "b"]), int(6));
    assert_eq!(get(&mut r, "d"), b"\x07\x0d\x0c\x06\x04\x14");
    set(&mut r, "n", b"\xaa\x00\xff\x55");
    assert_eq!(r.cmd(&["BITOP", "NOT", "d", "n"]), int(4));
    assert_eq!(get(&mut r, "d"), b"\x55\xff\x00\xaa");
    // Destination and source may be the same key.
    assert_eq!(r.cmd(&["BITOP", "NOT", "n", "n"]), int(4));
    assert_eq!(get(&mut r, "n"), b"\x55\xff\x00\xaa");
    // AND/OR/XOR of a single key copy it.
    set(&mut r, "a", b"\x01\x02\xff");
    for op in ["AND", "OR", "XOR"] {
        assert_eq!(r.cmd(&["BITOP", op, "d", "a"]), int(3));
        assert_eq!(get(&mut r, "d"), b"\x01\x02\xff");
    }
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "d"]), bulk(b"raw"));
}

#[test]
fn bitop_lengths_missing_keys_and_destination() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // Shorter keys are zero-padded to the longest.
    set(&mut r, "a", b"\x01\x02\xff\xff");
    set(&mut r, "b", b"\x01\x02\xff");
    assert_eq!(r.cmd(&["BITOP", "AND", "r1", "a", "b"]), int(4));
    assert_eq!(r.cmd(&["BITOP", "OR", "r2", "a", "b"]), int(4));
    assert_eq!(r.cmd(&["BITOP", "XOR", "r3", "a", "b"]), int(4));
    assert_eq!(get(&mut r, "r1"), b"\x01\x02\xff\x00");
    assert_eq!(get(&mut r, "r2"), b"\x01\x02\xff\xff");
    assert_eq!(get(&mut r, "r3"), b"\x00\x00\x00\xff");
    // The shorter key first gives the same result.
    assert_eq!(r.cmd(&["BITOP", "AND", "r1", "b", "a"]), int(4));
    assert_eq!(get(&mut r, "r1"), b"\x01\x02\xff\x00");
    // Missing keys are streams of zeros.
    assert_eq!(r.cmd(&["BITOP", "AND", "r1", "no-such-key", "b"]), int(3));
    assert_eq!(get(&mut r, "r1"), b"\x00\x00\x00");
    assert_eq!(
        r.cmd(&["BITOP", "OR", "r2", "no-such-key", "b", "other"]),
        int(3)
    );
    assert_eq!(get(&mut r, "r2"), b"\x01\x02\xff");
    assert_eq!(r.cmd(&["BITOP", "NOT", "r3", "no-such-key"]), int(0));
    // Issue #529: an empty string after a non-empty one.
    set(&mut r, "z", &[0u8; 32]);
    assert_eq!(r.cmd(&["BITOP", "OR", "x", "z", "no-such-key"]), int(32));
    // Integer-encoded sources act as their text: "1" ^ "2" ^ "1" = "2".
    assert_eq!(r.cmd(&["SET", "i1", "1"]), ok());
    assert_eq!(r.cmd(&["SET", "i2", "2"]), ok());
    assert_eq!(r.cmd(&["BITOP", "XOR", "d", "i1", "i2", "i1"]), int(1));
    assert_eq!(get(&mut r, "d"), b"2");
    // The destination is overwritten and loses its TTL.
    assert_eq!(r.cmd(&["SET", "d", "old value", "EX", "100"]), ok());
    assert_eq!(r.cmd(&["BITOP", "OR", "d", "b"]), int(3));
    assert_eq!(r.cmd(&["TTL", "d"]), int(-1));
    // An empty result deletes the destination.
    set(&mut r, "empty", b"");
    assert_eq!(r.cmd(&["BITOP", "OR", "d", "empty", "missing"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(r.cmd(&["BITOP", "NOT", "d", "empty"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(r.cmd(&["BITOP", "AND", "d", "missing"]), int(0));
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
}

#[test]
fn bitop_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    set(&mut r, "a", b"x");
    assert_eq!(r.cmd(&["BITOP", "NAND", "d", "a"]), err(ERR_SYNTAX));
    assert_eq!(r.cmd(&["BITOP", "AN", "d", "a"]), err(ERR_SYNTAX));
    let not_err = err("ERR BITOP NOT must be called with a single source key.");
    assert_eq!(r.cmd(&["BITOP", "NOT", "d", "a", "a"]), not_err);
    assert_eq!(r.cmd(&["BITOP", "not", "d", "a", "b", "c"]), not_err);
    assert_eq!(r.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(r.cmd(&["BITOP", "AND", "d"]), wrong_arity("bitop"));
    assert_eq!(r.cmd(&["BITOP", "AND"]), wrong_arity("bitop"));
}

// ---------------------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------------------

fn bitfield(r: &mut RawConn, key: &str, rest: &[&str]) -> Frame {
    let mut args = vec!["BITFIELD", key];
    args.extend_from_slice(rest);
    r.cmd(&args)
}

#[test]
fn bitfield_basics_from_redis_tests() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        bitfield(&mut r, "bits", &["set", "i8", "0", "-100"]),
        ints(&[0])
    );
    assert_eq!(
        bitfield(&mut r, "bits", &["set", "i8", "0", "101"]),
        ints(&[-100])
    );
    assert_eq!(bitfield(&mut r, "bits", &["get", "i8", "0"]), ints(&[101]));
    r.cmd(&["DEL", "bits"]);
    assert_eq!(
        bitfield(&mut r, "bits", &["set", "u8", "0", "255"]),
        ints(&[0])
    );
    assert_eq!(
        bitfield(&mut r, "bits", &["set", "u8", "0", "100"]),
        ints(&[255])
    );
    assert_eq!(bitfield(&mut r, "bits", &["get", "u8", "0"]), ints(&[100]));
    r.cmd(&["DEL", "bits"]);
    let rest = [
        "set", "i8", "0", "255", "set", "i8", "0", "100", "get", "i8", "0",
    ];
    assert_eq!(bitfield(&mut r, "bits", &rest), ints(&[0, -1, 100]));
    r.cmd(&["DEL", "bits"]);
    let rest = [
        "set", "u8", "0", "255", "incrby", "u8", "0", "100", "get", "u8", "0",
    ];
    assert_eq!(bitfield(&mut r, "bits", &rest), ints(&[0, 99, 99]));
    // The #N form: the N-th field of the type's width.
    r.cmd(&["DEL", "bits"]);
    for (i, c) in ["65", "66", "67"].iter().enumerate() {
        let idx = format!("#{i}");
        assert_eq!(
            bitfield(&mut r, "bits", &["SET", "u8", &idx, c]),
            ints(&[0])
        );
    }
    assert_eq!(get(&mut r, "bits"), b"ABC");
    assert_eq!(
        bitfield(&mut r, "bits", &["GET", "u4", "#3", "GET", "i4", "#3"]),
        ints(&[2, 2])
    );
    r.cmd(&["DEL", "bits"]);
    r.cmd(&["BITFIELD", "bits", "set", "u8", "#0", "10"]);
    let rest = ["incrby", "u8", "#0", "100", "incrby", "u8", "#0", "100"];
    assert_eq!(bitfield(&mut r, "bits", &rest), ints(&[110, 210]));
    // Regression #3221: "1" is 0x31, so its first bit is 0.
    assert_eq!(r.cmd(&["SET", "bits", "1"]), ok());
    assert_eq!(bitfield(&mut r, "bits", &["get", "u1", "0"]), ints(&[0]));
    // Regression #3564.
    r.cmd(&["DEL", "mystring"]);
    let rest = [
        "SET", "i8", "0", "10", "SET", "i8", "64", "10", "INCRBY", "i8", "10", "99900",
    ];
    assert_eq!(bitfield(&mut r, "mystring", &rest), ints(&[0, 0, 60]));
}

#[test]
fn bitfield_overflow_modes() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // bitfield.tcl: unsigned and signed WRAP and SAT.
    bitfield(&mut r, "u", &["set", "u8", "#0", "100"]);
    assert_eq!(
        bitfield(
            &mut r,
            "u",
            &["overflow", "wrap", "incrby", "u8", "#0", "257"]
        ),
        ints(&[101])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "u",
            &["overflow", "wrap", "incrby", "u8", "#0", "255"]
        ),
        ints(&[100])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "u",
            &["overflow", "sat", "incrby", "u8", "#0", "257"]
        ),
        ints(&[255])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "u",
            &["overflow", "sat", "incrby", "u8", "#0", "-255"]
        ),
        ints(&[0])
    );
    bitfield(&mut r, "i", &["set", "i8", "#0", "100"]);
    assert_eq!(
        bitfield(
            &mut r,
            "i",
            &["overflow", "wrap", "incrby", "i8", "#0", "257"]
        ),
        ints(&[101])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "i",
            &["overflow", "wrap", "incrby", "i8", "#0", "255"]
        ),
        ints(&[100])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "i",
            &["overflow", "sat", "incrby", "i8", "#0", "257"]
        ),
        ints(&[127])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "i",
            &["overflow", "sat", "incrby", "i8", "#0", "-255"]
        ),
        ints(&[-128])
    );
    // The documentation's u2 example: WRAP at 100, SAT at 102, FAIL at 104.
    let rest = [
        "incrby", "u2", "100", "1", "overflow", "sat", "incrby", "u2", "102", "1", "overflow",
        "fail", "incrby", "u2", "104", "1",
    ];
    assert_eq!(bitfield(&mut r, "d", &rest), ints(&[1, 1, 1]));
    assert_eq!(bitfield(&mut r, "d", &rest), ints(&[2, 2, 2]));
    assert_eq!(bitfield(&mut r, "d", &rest), ints(&[3, 3, 3]));
    assert_eq!(
        bitfield(&mut r, "d", &rest),
        fields(&[Some(0), Some(3), None])
    );
    assert_eq!(bitfield(&mut r, "d", &["get", "u2", "104"]), ints(&[3]));
    // OVERFLOW applies to the subcommands after it, and can change several times.
    let rest = [
        "SET", "u8", "0", "255", "INCRBY", "u8", "0", "1", "OVERFLOW", "SAT", "INCRBY", "u8", "0",
        "300", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300", "SET", "u8", "0", "256", "OVERFLOW",
        "WRAP", "SET", "u8", "0", "257",
    ];
    assert_eq!(
        bitfield(&mut r, "o", &rest),
        fields(&[Some(0), Some(0), Some(255), None, None, Some(255)])
    );
    assert_eq!(bitfield(&mut r, "o", &["GET", "u8", "0"]), ints(&[1]));
    // SET under WRAP/SAT/FAIL with out-of-range values.
    let set_then_get = |r: &mut RawConn, ty: &str, ov: &str, v: &str| {
        r.cmd(&["DEL", "f"]);
        let set = bitfield(r, "f", &["OVERFLOW", ov, "SET", ty, "0", v]);
        (set, bitfield(r, "f", &["GET", ty, "0"]))
    };
    assert_eq!(
        set_then_get(&mut r, "i8", "WRAP", "128"),
        (ints(&[0]), ints(&[-128]))
    );
    assert_eq!(
        set_then_get(&mut r, "i8", "SAT", "128"),
        (ints(&[0]), ints(&[127]))
    );
    assert_eq!(
        set_then_get(&mut r, "i8", "SAT", "-129"),
        (ints(&[0]), ints(&[-128]))
    );
    assert_eq!(
        set_then_get(&mut r, "i8", "WRAP", "-129"),
        (ints(&[0]), ints(&[127]))
    );
    assert_eq!(
        set_then_get(&mut r, "i8", "FAIL", "128"),
        (fields(&[None]), ints(&[0]))
    );
    // Redis quirk: a hugely negative SET into a narrow signed field counts as an overflow.
    assert_eq!(
        set_then_get(&mut r, "i8", "SAT", "-9223372036854775808"),
        (ints(&[0]), ints(&[127]))
    );
    assert_eq!(
        set_then_get(&mut r, "u8", "WRAP", "-1"),
        (ints(&[0]), ints(&[255]))
    );
    assert_eq!(
        set_then_get(&mut r, "u8", "SAT", "-1"),
        (ints(&[0]), ints(&[255]))
    );
    assert_eq!(
        set_then_get(&mut r, "u8", "SAT", "256"),
        (ints(&[0]), ints(&[255]))
    );
    assert_eq!(
        set_then_get(&mut r, "u1", "WRAP", "3"),
        (ints(&[0]), ints(&[1]))
    );
    assert_eq!(
        set_then_get(&mut r, "i1", "SAT", "1"),
        (ints(&[0]), ints(&[0]))
    );
    assert_eq!(
        set_then_get(&mut r, "i1", "WRAP", "1"),
        (ints(&[0]), ints(&[-1]))
    );
}

#[test]
fn bitfield_64_bit_edges() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    const MAX: &str = "9223372036854775807";
    const MIN: &str = "-9223372036854775808";
    let incr = |r: &mut RawConn, ty: &str, start: &str, by: &str, ov: &str| {
        r.cmd(&["DEL", "e"]);
        bitfield(r, "e", &["SET", ty, "3", start]);
        bitfield(
            r,
            "e",
            &["OVERFLOW", ov, "INCRBY", ty, "3", by, "GET", ty, "3"],
        )
    };
    // i64 at an unaligned offset.
    assert_eq!(
        incr(&mut r, "i64", MAX, "1", "WRAP"),
        ints(&[i64::MIN, i64::MIN])
    );
    assert_eq!(
        incr(&mut r, "i64", MAX, "1", "SAT"),
        ints(&[i64::MAX, i64::MAX])
    );
    assert_eq!(
        incr(&mut r, "i64", MAX, "1", "FAIL"),
        fields(&[None, Some(i64::MAX)])
    );
    assert_eq!(
        incr(&mut r, "i64", MIN, "-1", "WRAP"),
        ints(&[i64::MAX, i64::MAX])
    );
    assert_eq!(
        incr(&mut r, "i64", MIN, "-1", "SAT"),
        ints(&[i64::MIN, i64::MIN])
    );
    assert_eq!(
        incr(&mut r, "i64", "-1", MIN, "SAT"),
        ints(&[i64::MIN, i64::MIN])
    );
    assert_eq!(
        incr(&mut r, "i64", "-2", MIN, "FAIL"),
        fields(&[None, Some(-2)])
    );
    assert_eq!(
        incr(&mut r, "i64", "5", MIN, "FAIL"),
        ints(&[i64::MIN + 5, i64::MIN + 5])
    );
    assert_eq!(incr(&mut r, "i64", MIN, MAX, "FAIL"), ints(&[-1, -1]));
    // u63: the widest unsigned type.
    assert_eq!(
        incr(&mut r, "u63", MAX, "0", "FAIL"),
        ints(&[i64::MAX, i64::MAX])
    );
    assert_eq!(incr(&mut r, "u63", MAX, "1", "WRAP"), ints(&[0, 0]));
    assert_eq!(
        incr(&mut r, "u63", MAX, "1", "SAT"),
        ints(&[i64::MAX, i64::MAX])
    );
    assert_eq!(
        incr(&mut r, "u63", MAX, "1", "FAIL"),
        fields(&[None, Some(i64::MAX)])
    );
    assert_eq!(
        incr(&mut r, "u63", "0", "-1", "WRAP"),
        ints(&[i64::MAX, i64::MAX])
    );
    assert_eq!(incr(&mut r, "u63", "0", "-1", "SAT"), ints(&[0, 0]));
    assert_eq!(incr(&mut r, "u63", "0", MIN, "WRAP"), ints(&[0, 0]));
    // SET of a negative value into u63 is a huge unsigned number.
    r.cmd(&["DEL", "e"]);
    assert_eq!(
        bitfield(
            &mut r,
            "e",
            &["OVERFLOW", "SAT", "SET", "u63", "0", "-1", "GET", "u63", "0"]
        ),
        ints(&[0, i64::MAX])
    );
    assert_eq!(
        bitfield(&mut r, "e", &["OVERFLOW", "FAIL", "SET", "u63", "0", "-1"]),
        fields(&[None])
    );
    assert_eq!(
        bitfield(
            &mut r,
            "e",
            &["SET", "i64", "0", MIN, "GET", "u63", "0", "GET", "u63", "1"]
        ),
        ints(&[-2, 1 << 62, 0])
    );
    // Reads past the end are zero-padded; a short string gives a partial field.
    set(&mut r, "p", b"\xff");
    let rest = [
        "GET", "i64", "0", "GET", "u8", "4", "GET", "i64", "8", "GET", "u63", "1", "GET", "i8", "0",
    ];
    assert_eq!(
        bitfield(&mut r, "p", &rest),
        ints(&[-72_057_594_037_927_936, 0xf0, 0, 0x7f << 56, -1])
    );
    // C's wrapping multiply in the #N form: 2^58 + 1 fields of 64 bits is offset 64.
    set(
        &mut r,
        "w",
        b"\0\0\0\0\0\0\0\0\x12\x34\x56\x78\x9a\xbc\xde\xf0",
    );
    assert_eq!(
        bitfield(
            &mut r,
            "w",
            &["GET", "i64", "#288230376151711745", "GET", "i64", "64"]
        ),
        ints(&[0x1234_5678_9abc_def0, 0x1234_5678_9abc_def0])
    );
}

#[test]
fn bitfield_key_creation_and_growth() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // No subcommand: an empty array, and no key.
    assert_eq!(bitfield(&mut r, "k", &[]), Frame::Array(vec![]));
    assert_eq!(
        bitfield(&mut r, "k", &["OVERFLOW", "SAT"]),
        Frame::Array(vec![])
    );
    // Only reads: the key is never created.
    assert_eq!(
        bitfield(&mut r, "k", &["GET", "u8", "0", "GET", "i16", "100"]),
        ints(&[0, 0])
    );
    assert_eq!(r.cmd(&["EXISTS", "k"]), int(0));
    // A write grows the string to the furthest bit written, before any subcommand runs, so
    // even a write refused by OVERFLOW FAIL creates the key (as in Redis).
    assert_eq!(
        bitfield(&mut r, "k", &["OVERFLOW", "FAIL", "SET", "u2", "0", "5"]),
        fields(&[None])
    );
    assert_eq!(get(&mut r, "k"), b"\x00");
    assert_eq!(
        bitfield(
            &mut r,
            "k",
            &["OVERFLOW", "FAIL", "SET", "u8", "100", "256"]
        ),
        fields(&[None])
    );
    assert_eq!(r.cmd(&["STRLEN", "k"]), int(14));
    // Growth covers the whole field: i5 at bit 90 ends at bit 94, in byte 11.
    assert_eq!(bitfield(&mut r, "g", &["SET", "i5", "90", "0"]), ints(&[0]));
    assert_eq!(r.cmd(&["STRLEN", "g"]), int(12));
    assert_eq!(
        bitfield(&mut r, "g", &["SET", "u8", "95", "255"]),
        ints(&[0])
    );
    assert_eq!(r.cmd(&["STRLEN", "g"]), int(13));
    assert_eq!(get(&mut r, "g")[11..], [0x01, 0xfe]);
    // Reads beyond the write furthest away do not grow it further.
    assert_eq!(
        bitfield(&mut r, "g", &["SET", "u8", "0", "1", "GET", "u8", "1000"]),
        ints(&[0, 0])
    );
    assert_eq!(r.cmd(&["STRLEN", "g"]), int(13));
    // Integer-encoded values are read and edited as their text.
    assert_eq!(r.cmd(&["SET", "n", "1"]), ok());
    assert_eq!(bitfield(&mut r, "n", &["GET", "u8", "0"]), ints(&[49]));
    assert_eq!(
        bitfield(&mut r, "n", &["SET", "u8", "#1", "50"]),
        ints(&[0])
    );
    assert_eq!(get(&mut r, "n"), b"12");
    // The TTL survives.
    assert_eq!(r.cmd(&["EXPIRE", "n", "100"]), int(1));
    assert_eq!(
        bitfield(&mut r, "n", &["INCRBY", "u8", "#1", "1"]),
        ints(&[51])
    );
    assert_ne!(r.cmd(&["TTL", "n"]), int(-1));
}

#[test]
fn bitfield_errors_change_nothing() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for bad in [
        "u64", "i65", "u0", "i0", "x8", "I8", "i08", "i", "", "8", "u-1", "i 8",
    ] {
        assert_eq!(
            bitfield(&mut r, "k", &["GET", bad, "0"]),
            err(ERR_TYPE),
            "type {bad:?}"
        );
        assert_eq!(
            bitfield(&mut r, "k", &["SET", bad, "0", "1"]),
            err(ERR_TYPE),
            "type {bad:?}"
        );
    }
    for bad in [
        "-1",
        "#-1",
        "#",
        "abc",
        "1.5",
        "##1",
        "4294967296",
        "#536870912",
    ] {
        assert_eq!(
            bitfield(&mut r, "k", &["GET", "u8", bad]),
            err(ERR_OFFSET),
            "offset {bad:?}"
        );
    }
    assert_eq!(
        bitfield(&mut r, "k", &["SET", "u8", "0", "x"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        bitfield(&mut r, "k", &["INCRBY", "u8", "0", "1.5"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        bitfield(&mut r, "k", &["INCRBY", "u8", "0", "9223372036854775808"]),
        err(ERR_NOT_INT)
    );
    let bad_ov = err("ERR Invalid OVERFLOW type specified");
    assert_eq!(
        bitfield(&mut r, "k", &["OVERFLOW", "saturate", "GET", "u8", "0"]),
        bad_ov
    );
    // Unknown subcommands and missing arguments are syntax errors.
    for rest in [
        &["FOO", "u8", "0"][..],
        &["GET", "u8"],
        &["SET", "u8", "0"],
        &["INCRBY", "u8", "0"],
        &["OVERFLOW"],
        &["GET", "u8", "0", "GET"],
    ] {
        assert_eq!(bitfield(&mut r, "k", rest), err(ERR_SYNTAX), "{rest:?}");
    }
    // Arguments are validated left to right, all before anything runs: a valid write
    // followed by an invalid subcommand neither creates nor changes the key.
    assert_eq!(
        bitfield(&mut r, "k", &["SET", "u8", "0", "1", "SET", "u8", "0", "x"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        bitfield(
            &mut r,
            "k",
            &["SET", "u8", "0", "1", "SET", "u64", "0", "x"]
        ),
        err(ERR_TYPE)
    );
    assert_eq!(
        bitfield(&mut r, "k", &["SET", "u8", "0", "1", "GET", "u8", "-1"]),
        err(ERR_OFFSET)
    );
    assert_eq!(
        bitfield(&mut r, "k", &["SET", "u8", "0", "1", "OVERFLOW", "x"]),
        bad_ov
    );
    assert_eq!(
        bitfield(&mut r, "k", &["SET", "u8", "0", "1", "BOGUS"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(r.cmd(&["EXISTS", "k"]), int(0));
    set(&mut r, "k", b"\x07");
    assert_eq!(
        bitfield(
            &mut r,
            "k",
            &["INCRBY", "u8", "0", "1", "SET", "u8", "800", "x"]
        ),
        err(ERR_NOT_INT)
    );
    assert_eq!(get(&mut r, "k"), b"\x07");
    assert_eq!(r.cmd(&["BITFIELD"]), wrong_arity("bitfield"));
}

#[test]
fn bitfield_ro() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        bitfield(&mut r, "bits", &["SET", "u8", "0", "255"]),
        ints(&[0])
    );
    assert_eq!(
        bitfield(&mut r, "bits", &["SET", "u8", "0", "100"]),
        ints(&[255])
    );
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "bits", "GET", "u8", "0"]),
        ints(&[100])
    );
    assert_eq!(
        r.cmd(&["bitfield_ro", "bits", "get", "u4", "#1", "get", "i8", "4"]),
        ints(&[4, 0x40])
    );
    assert_eq!(r.cmd(&["BITFIELD_RO", "bits"]), Frame::Array(vec![]));
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "missing", "GET", "i8", "0"]),
        ints(&[0])
    );
    assert_eq!(r.cmd(&["EXISTS", "missing"]), int(0));
    let ro_err = err("ERR BITFIELD_RO only supports the GET subcommand");
    assert_eq!(
        r.cmd(&[
            "BITFIELD_RO",
            "bits",
            "SET",
            "u8",
            "0",
            "100",
            "GET",
            "u8",
            "0"
        ]),
        ro_err
    );
    assert_eq!(
        r.cmd(&[
            "BITFIELD_RO",
            "bits",
            "GET",
            "u8",
            "0",
            "INCRBY",
            "u8",
            "0",
            "1"
        ]),
        ro_err
    );
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "missing", "INCRBY", "u8", "0", "1"]),
        ro_err
    );
    assert_eq!(r.cmd(&["EXISTS", "missing"]), int(0));
    // OVERFLOW alone is not a write; argument errors come before the read-only check.
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "bits", "OVERFLOW", "FAIL"]),
        Frame::Array(vec![])
    );
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "bits", "SET", "u8", "0", "x"]),
        err(ERR_NOT_INT)
    );
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "bits", "GET", "u64", "0"]),
        err(ERR_TYPE)
    );
    assert_eq!(
        r.cmd(&["BITFIELD_RO", "bits", "GET", "u8"]),
        err(ERR_SYNTAX)
    );
    assert_eq!(get(&mut r, "bits"), b"\x64");
    assert_eq!(r.cmd(&["BITFIELD_RO"]), wrong_arity("bitfield_ro"));
}

// ---------------------------------------------------------------------------------------
// WRONGTYPE
// ---------------------------------------------------------------------------------------

#[test]
fn wrongtype_for_non_string_keys() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["LPUSH", "wt", "x"]), int(1));
    let ty = "list";
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    let cases: [&[&str]; 12] = [
        &["SETBIT", "wt", "0", "1"],
        &["GETBIT", "wt", "0"],
        &["BITCOUNT", "wt"],
        &["BITCOUNT", "wt", "0"], // the type is checked before the syntax
        &["BITPOS", "wt", "1"],
        &["BITPOS", "wt", "0", "x", "y", "z"],
        &["BITOP", "AND", "dest", "s", "wt"],
        &["BITOP", "NOT", "dest", "wt"],
        &["BITFIELD", "wt"],
        &["BITFIELD", "wt", "GET", "u8", "0"],
        &["BITFIELD", "wt", "INCRBY", "u8", "0", "1"],
        &["BITFIELD_RO", "wt", "GET", "u8", "0"],
    ];
    set(&mut r, "s", b"abc");
    for args in cases {
        assert_eq!(r.cmd(args), wrongtype, "{args:?}");
    }
    assert_eq!(
        r.cmd(&["TYPE", "wt"]),
        Frame::Simple(ty.into()),
        "the key is untouched"
    );
    assert_eq!(
        r.cmd(&["EXISTS", "dest"]),
        int(0),
        "a failed BITOP writes nothing"
    );
    // Argument errors that Redis checks before the lookup still come first.
    assert_eq!(r.cmd(&["SETBIT", "wt", "-1", "1"]), err(ERR_OFFSET));
    assert_eq!(r.cmd(&["GETBIT", "wt", "x"]), err(ERR_OFFSET));
    assert_eq!(
        r.cmd(&["BITPOS", "wt", "2"]),
        err("ERR The bit argument must be 1 or 0.")
    );
    assert_eq!(r.cmd(&["BITFIELD", "wt", "GET", "u64", "0"]), err(ERR_TYPE));
    // A destination of another type is simply replaced.
    assert_eq!(r.cmd(&["BITOP", "OR", "wt", "s"]), int(3));
    assert_eq!(get(&mut r, "wt"), b"abc");
}

// ---------------------------------------------------------------------------------------
// Through the `redis` crate
// ---------------------------------------------------------------------------------------

#[test]
fn redis_crate_smoke() {
    let srv = TestServer::start();
    let mut c = redis::Client::open(srv.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let old: bool = c.setbit("k", 7, true).unwrap();
    assert!(!old);
    let old: bool = c.setbit("k", 7, true).unwrap();
    assert!(old);
    let bit: bool = c.getbit("k", 7).unwrap();
    assert!(bit);
    let _: i64 = c.setbit("k", 8, true).unwrap();
    let n: i64 = c.bitcount("k").unwrap();
    assert_eq!(n, 2);
    let n: i64 = c.bitcount_range("k", 1, 1).unwrap();
    assert_eq!(n, 1);
    let _: () = c.set("other", b"\xff".as_slice()).unwrap();
    let len: i64 = c.bit_and("dest", &["k", "other"]).unwrap();
    assert_eq!(len, 2);
    let v: Vec<u8> = c.get("dest").unwrap();
    assert_eq!(v, b"\x01\x00");
    let len: i64 = c.bit_not("dest", "dest").unwrap();
    assert_eq!(len, 2);
    let v: Vec<u8> = c.get("dest").unwrap();
    assert_eq!(v, b"\xfe\xff");
    let pos: i64 = redis::cmd("BITPOS")
        .arg("dest")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(pos, 7);
    let res: Vec<Option<i64>> = redis::cmd("BITFIELD")
        .arg("bf")
        .arg(
            &[
                "OVERFLOW", "FAIL", "INCRBY", "u4", "0", "15", "INCRBY", "u4", "0", "1", "GET",
                "u4", "0",
            ][..],
        )
        .query(&mut c)
        .unwrap();
    assert_eq!(res, [Some(15), None, Some(15)]);
}

// ---------------------------------------------------------------------------------------
// Randomised comparisons with a local model
// ---------------------------------------------------------------------------------------

/// xorshift64*: a small deterministic generator, so a failure reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An index in `-span..span`.
    fn index(&mut self, span: i64) -> i64 {
        self.below(2 * span as u64) as i64 - span
    }
}

fn model_bit(m: &[u8], i: u64) -> u8 {
    m.get((i / 8) as usize)
        .map_or(0, |b| (b >> (7 - i % 8)) & 1)
}

/// Redis's index normalisation for BITCOUNT/BITPOS, written out independently of the
/// engine: negative counts from the end, then clamp into `[0, total - 1]`.
fn clamp(mut start: i64, mut end: i64, total: i64) -> (i64, i64) {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start, end)
}

/// BITCOUNT on the model, bit by bit.
fn model_bitcount(m: &[u8], range: Option<(i64, i64, bool)>) -> i64 {
    let Some((start, end, is_bit)) = range else {
        return m.iter().map(|b| b.count_ones() as i64).sum();
    };
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let total = m.len() as i64 * if is_bit { 8 } else { 1 };
    let (s, e) = clamp(start, end, total);
    if s > e {
        return 0;
    }
    let (first, last) = if is_bit { (s, e) } else { (s * 8, e * 8 + 7) };
    (first..=last).map(|i| model_bit(m, i as u64) as i64).sum()
}

/// BITPOS on the model of an existing key, bit by bit.
fn model_bitpos(m: &[u8], bit: u8, start: Option<i64>, end: Option<i64>, is_bit: bool) -> i64 {
    let is_bit = is_bit && end.is_some();
    let total = m.len() as i64 * if is_bit { 8 } else { 1 };
    let (s, e) = match start {
        None => (0, m.len() as i64 - 1),
        Some(st) => clamp(st, end.unwrap_or(total - 1), total),
    };
    if s > e {
        return -1;
    }
    let (first, last) = if is_bit { (s, e) } else { (s * 8, e * 8 + 7) };
    match (first..=last).find(|&i| model_bit(m, i as u64) == bit) {
        Some(p) => p,
        // Looking for 0 without an explicit end: the zero padding right after the range.
        None if bit == 0 && end.is_none() => last + 1,
        None => -1,
    }
}

#[test]
fn fuzz_against_a_local_model() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model: Vec<u8> = Vec::new();
    for step in 0..3000 {
        let max_bit = 8 * model.len() as u64 + 64;
        match rng.below(10) {
            0..=3 => {
                let off = rng.below(max_bit.min(2000));
                let bit = rng.below(2) as u8;
                let old = model_bit(&model, off);
                let byte = (off / 8) as usize;
                if model.len() <= byte {
                    model.resize(byte + 1, 0);
                }
                model[byte] = (model[byte] & !(0x80 >> (off % 8))) | (bit << (7 - off % 8));
                let got = r.cmd(&["SETBIT", "f", &off.to_string(), &bit.to_string()]);
                assert_eq!(got, int(old as i64), "step {step}: SETBIT f {off} {bit}");
            }
            4 | 5 => {
                let off = rng.below(max_bit);
                let got = r.cmd(&["GETBIT", "f", &off.to_string()]);
                assert_eq!(
                    got,
                    int(model_bit(&model, off) as i64),
                    "step {step}: GETBIT f {off}"
                );
            }
            6 | 7 => {
                let span = model.len() as i64 * 8 + 10;
                let (start, end, is_bit) = (rng.index(span), rng.index(span), rng.below(2) == 1);
                let (s, e) = (start.to_string(), end.to_string());
                let (got, want) = match rng.below(3) {
                    0 => (r.cmd(&["BITCOUNT", "f"]), model_bitcount(&model, None)),
                    1 => (
                        r.cmd(&["BITCOUNT", "f", &s, &e]),
                        model_bitcount(&model, Some((start, end, false))),
                    ),
                    _ => {
                        let unit = if is_bit { "BIT" } else { "BYTE" };
                        (
                            r.cmd(&["BITCOUNT", "f", &s, &e, unit]),
                            model_bitcount(&model, Some((start, end, is_bit))),
                        )
                    }
                };
                assert_eq!(got, int(want), "step {step}: BITCOUNT f {s} {e}");
            }
            _ => {
                if model.is_empty() {
                    continue;
                }
                let span = model.len() as i64 * 8 + 10;
                let bit = rng.below(2) as u8;
                let (start, end) = (rng.index(span), rng.index(span));
                let (b, s, e) = (bit.to_string(), start.to_string(), end.to_string());
                let (got, want) = match rng.below(4) {
                    0 => (
                        r.cmd(&["BITPOS", "f", &b]),
                        model_bitpos(&model, bit, None, None, false),
                    ),
                    1 => (
                        r.cmd(&["BITPOS", "f", &b, &s]),
                        model_bitpos(&model, bit, Some(start), None, false),
                    ),
                    2 => (
                        r.cmd(&["BITPOS", "f", &b, &s, &e]),
                        model_bitpos(&model, bit, Some(start), Some(end), false),
                    ),
                    _ => (
                        r.cmd(&["BITPOS", "f", &b, &s, &e, "BIT"]),
                        model_bitpos(&model, bit, Some(start), Some(end), true),
                    ),
                };
                assert_eq!(got, int(want), "step {step}: BITPOS f {b} {s} {e}");
            }
        }
        if step % 250 == 0 {
            assert_eq!(get(&mut r, "f"), model, "step {step}: GET f");
        }
    }
    assert_eq!(get(&mut r, "f"), model);
}

#[test]
fn fuzz_bitop_against_a_local_model() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..200 {
        let n = 1 + rng.below(5) as usize;
        let mut keys = Vec::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        for i in 0..n {
            let key = format!("src{round}:{i}");
            // Some sources are missing keys (empty), some empty strings.
            let len = rng.below(70) as usize;
            let v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            match rng.below(6) {
                0 => values.push(Vec::new()),
                _ => {
                    set(&mut r, &key, &v);
                    values.push(v);
                }
            }
            keys.push(key);
        }
        let ops = ["AND", "OR", "XOR", "NOT"];
        let op = ops[rng.below(4) as usize];
        let (keys, values) = if op == "NOT" {
            (&keys[..1], &values[..1])
        } else {
            (&keys[..], &values[..])
        };
        let maxlen = values.iter().map(Vec::len).max().unwrap_or(0);
        let want: Vec<u8> = (0..maxlen)
            .map(|i| {
                let byte = |v: &Vec<u8>| v.get(i).copied().unwrap_or(0);
                values[1..]
                    .iter()
                    .fold(byte(&values[0]), |acc, v| match op {
                        "AND" => acc & byte(v),
                        "OR" => acc | byte(v),
                        "XOR" => acc ^ byte(v),
                        _ => unreachable!(),
                    })
                    ^ if op == "NOT" { 0xff } else { 0 }
            })
            .collect();
        let dest = if rng.below(3) == 0 {
            keys[0].clone()
        } else {
            format!("dest{round}")
        };
        let mut args = vec!["BITOP", op, &dest];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(r.cmd(&args), int(maxlen as i64), "round {round}: {args:?}");
        if maxlen == 0 {
            assert_eq!(r.cmd(&["EXISTS", &dest]), int(0), "round {round}");
        } else {
            assert_eq!(get(&mut r, &dest), want, "round {round}: {args:?}");
        }
    }
}
