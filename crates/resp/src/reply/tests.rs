use super::*;
use crate::Frame;
use proptest::prelude::*;

fn both(f: impl Fn(&mut ReplyBuf)) -> (Vec<u8>, Vec<u8>) {
    let mut r2 = ReplyBuf::new(Protocol::Resp2);
    let mut r3 = ReplyBuf::new(Protocol::Resp3);
    f(&mut r2);
    f(&mut r3);
    (r2.buf, r3.buf)
}

fn same(f: impl Fn(&mut ReplyBuf), expect: &[u8]) {
    let (r2, r3) = both(f);
    assert_eq!(r2, expect);
    assert_eq!(r3, expect);
}

fn differs(f: impl Fn(&mut ReplyBuf), resp2: &[u8], resp3: &[u8]) {
    let (r2, r3) = both(f);
    assert_eq!(
        String::from_utf8_lossy(&r2),
        String::from_utf8_lossy(resp2),
        "RESP2"
    );
    assert_eq!(
        String::from_utf8_lossy(&r3),
        String::from_utf8_lossy(resp3),
        "RESP3"
    );
}

fn double_text(v: f64) -> String {
    let mut t = DoubleText::new();
    String::from_utf8(format_double(v, &mut t).to_vec()).unwrap()
}

#[test]
fn protocol_default_is_resp2() {
    assert_eq!(Protocol::default(), Protocol::Resp2);
    assert_eq!(ReplyBuf::default().proto, Protocol::Resp2);
}

#[test]
fn scalars() {
    same(|r| r.simple(b"PONG"), b"+PONG\r\n");
    same(|r| r.ok(), b"+OK\r\n");
    same(|r| r.integer(0), b":0\r\n");
    same(|r| r.integer(9), b":9\r\n");
    same(|r| r.integer(10), b":10\r\n");
    same(|r| r.integer(-1), b":-1\r\n");
    same(|r| r.integer(-42), b":-42\r\n");
    same(|r| r.integer(i64::MIN), b":-9223372036854775808\r\n");
    same(|r| r.bulk(b"hello"), b"$5\r\nhello\r\n");
    same(|r| r.bulk(b""), b"$0\r\n\r\n");
    same(|r| r.bulk(b"a\r\nb"), b"$4\r\na\r\nb\r\n");
    same(|r| r.bulk_int(1234), b"$4\r\n1234\r\n");
    same(|r| r.bulk_int(-7), b"$2\r\n-7\r\n");
    same(|r| r.array(3), b"*3\r\n");
    same(|r| r.array(0), b"*0\r\n");
}

#[test]
fn errors() {
    same(|r| r.error(b"ERR syntax error"), b"-ERR syntax error\r\n");
    same(
        |r| r.error(b"WRONGTYPE Operation\r\nagainst\na key"),
        b"-WRONGTYPE Operation  against a key\r\n",
    );
    same(|r| r.error(b"-ERR x"), b"-ERR x\r\n");
}

#[test]
fn resp3_types_and_their_resp2_fallbacks() {
    differs(|r| r.null(), b"$-1\r\n", b"_\r\n");
    differs(|r| r.null_array(), b"*-1\r\n", b"_\r\n");
    differs(|r| r.map(2), b"*4\r\n", b"%2\r\n");
    differs(|r| r.set(3), b"*3\r\n", b"~3\r\n");
    differs(|r| r.push(2), b"*2\r\n", b">2\r\n");
    differs(|r| r.boolean(true), b":1\r\n", b"#t\r\n");
    differs(|r| r.boolean(false), b":0\r\n", b"#f\r\n");
    differs(|r| r.double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
    differs(|r| r.double(3.0), b"$1\r\n3\r\n", b",3\r\n");
    differs(|r| r.double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
    differs(
        |r| r.verbatim(b"txt", b"hi\r\nthere"),
        b"$9\r\nhi\r\nthere\r\n",
        b"=13\r\ntxt:hi\r\nthere\r\n",
    );
    differs(
        |r| r.big_number(b"-123456789012345678901234567890"),
        b"$31\r\n-123456789012345678901234567890\r\n",
        b"(-123456789012345678901234567890\r\n",
    );
}

#[test]
fn double_formatting_matches_redis() {
    for (v, text) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (3.0, "3"),
        (-3.0, "-3"),
        (1.5, "1.5"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (1.0 / 3.0, "0.3333333333333333"),
        (123456.789, "123456.789"),
        (10000000.5, "10000000.5"),
        (0.001234, "0.001234"),
        (0.0012345, "0.0012345"),
        (0.000001, "0.000001"),
        (0.00012345, "1.2345e-4"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1.23456789012e-5, "1.23456789012e-5"),
        (15_000_000_000.0, "15000000000"),
        (4611686018427387904.0, "4611686018427387904"),
        (-4611686018427387904.0, "-4611686018427387904"),
        (9223372036854775808.0, "9223372036854776000"),
        (1e20, "1e+20"),
        (1e21, "1e+21"),
        (-2.5e25, "-2.5e+25"),
        (1e300, "1e+300"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
    ] {
        assert_eq!(double_text(v), text, "{v:e}");
    }
}

#[test]
fn clear_and_truncate() {
    let mut r = ReplyBuf::new(Protocol::Resp3);
    assert!(r.is_empty());
    r.ok();
    let mark = r.len();
    assert_eq!(mark, 5);
    r.array(2);
    r.integer(1);
    r.truncate(mark);
    assert_eq!(r.buf, b"+OK\r\n");
    let cap = r.buf.capacity();
    r.clear();
    assert!(r.is_empty());
    assert_eq!(r.buf.capacity(), cap);
}

#[test]
fn deferred_array_and_map() {
    let mut r = ReplyBuf::new(Protocol::Resp3);
    r.ok();
    let d = r.deferred_array();
    r.integer(1);
    r.integer(2);
    r.set_deferred_array(d, 2);
    assert_eq!(r.buf, b"+OK\r\n*2\r\n:1\r\n:2\r\n");

    let (r2, r3) = both(|r| {
        let d = r.deferred_map();
        r.bulk(b"k");
        r.integer(1);
        r.set_deferred_map(d, 1);
    });
    assert_eq!(r2, b"*2\r\n$1\r\nk\r\n:1\r\n");
    assert_eq!(r3, b"%1\r\n$1\r\nk\r\n:1\r\n");

    // Empty aggregate at the very end of the buffer.
    let mut r = ReplyBuf::new(Protocol::Resp2);
    let d = r.deferred_array();
    r.set_deferred_array(d, 0);
    assert_eq!(r.buf, b"*0\r\n");
}

#[test]
fn deferred_nested_filled_inner_first() {
    let mut r = ReplyBuf::new(Protocol::Resp2);
    let outer = r.deferred_array();
    let inner = r.deferred_array();
    r.integer(1);
    r.set_deferred_array(inner, 1);
    let inner2 = r.deferred_array();
    r.set_deferred_array(inner2, 0);
    r.set_deferred_array(outer, 2);
    assert_eq!(r.buf, b"*2\r\n*1\r\n:1\r\n*0\r\n");
}

#[test]
fn deferred_filled_in_any_order() {
    // Outer first while the inner one (same position) is still open.
    let mut r = ReplyBuf::new(Protocol::Resp2);
    let outer = r.deferred_array();
    let inner = r.deferred_array();
    r.integer(7);
    r.set_deferred_array(outer, 1);
    r.set_deferred_array(inner, 1);
    assert_eq!(r.buf, b"*1\r\n*1\r\n:7\r\n");

    // Siblings filled in creation order.
    let mut r = ReplyBuf::new(Protocol::Resp3);
    r.array(2);
    let a = r.deferred_array();
    r.integer(1);
    let b = r.deferred_map();
    r.integer(2);
    r.integer(3);
    r.set_deferred_array(a, 1);
    r.set_deferred_map(b, 1);
    assert_eq!(r.buf, b"*2\r\n*1\r\n:1\r\n%1\r\n:2\r\n:3\r\n");
}

#[test]
fn deferred_truncated_away_is_ignored_by_later_tokens() {
    let mut r = ReplyBuf::new(Protocol::Resp2);
    let keep = r.deferred_array();
    let mark = r.len();
    r.integer(1);
    let dropped = r.deferred_array();
    r.integer(2);
    r.truncate(mark);
    r.integer(9);
    r.set_deferred_array(keep, 1);
    assert_eq!(r.buf, b"*1\r\n:9\r\n");
    drop(dropped);
    // Bookkeeping is recycled once nothing is open.
    let d = r.deferred_array();
    r.set_deferred_array(d, 0);
    assert_eq!(r.pending.len(), 1);
}

#[test]
fn replies_parse_back_as_frames() {
    let mut r = ReplyBuf::new(Protocol::Resp3);
    let d = r.deferred_map();
    r.bulk(b"name");
    r.verbatim(b"txt", b"hello");
    r.simple(b"score");
    r.double(-0.25);
    r.bulk_int(12);
    r.set(2);
    r.boolean(true);
    r.null();
    r.set_deferred_map(d, 3);
    let (frame, n) = Frame::parse(&r.buf).unwrap().unwrap();
    assert_eq!(n, r.len());
    assert_eq!(
        frame,
        Frame::Map(vec![
            (
                Frame::Bulk("name".into()),
                Frame::Verbatim {
                    format: "txt".into(),
                    text: "hello".into()
                }
            ),
            (Frame::Simple("score".into()), Frame::Double(-0.25)),
            (
                Frame::Bulk("12".into()),
                Frame::Set(vec![Frame::Boolean(true), Frame::Null])
            ),
        ])
    );
}

proptest! {
    #[test]
    fn prop_double_text_round_trips(v in any::<f64>().prop_filter("not nan", |v| !v.is_nan())) {
        let text = double_text(v);
        let back: f64 = text.parse().unwrap();
        prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", text);
        prop_assert!(text.len() <= 25);
    }

    #[test]
    fn prop_integer_and_bulk_int(n in any::<i64>()) {
        let mut r = ReplyBuf::new(Protocol::Resp2);
        r.integer(n);
        r.bulk_int(n);
        let s = n.to_string();
        let expect = format!(":{s}\r\n${}\r\n{s}\r\n", s.len());
        prop_assert_eq!(r.buf, expect.into_bytes());
    }

    /// Random trees of deferred arrays, filled in random order, must encode
    /// the same as writing the known lengths upfront.
    #[test]
    fn prop_deferred_matches_direct(
        sizes in prop::collection::vec(0usize..4, 1..6),
        order in any::<prop::sample::Index>(),
    ) {
        // One outer deferred array of inner deferred arrays of integers.
        let mut direct = ReplyBuf::new(Protocol::Resp2);
        direct.array(sizes.len());
        for (i, &n) in sizes.iter().enumerate() {
            direct.array(n);
            for j in 0..n {
                direct.integer((i * 10 + j) as i64);
            }
        }

        let mut r = ReplyBuf::new(Protocol::Resp2);
        let mut tokens = vec![(r.deferred_array(), sizes.len())];
        for (i, &n) in sizes.iter().enumerate() {
            tokens.push((r.deferred_array(), n));
            for j in 0..n {
                r.integer((i * 10 + j) as i64);
            }
        }
        // Fill in a rotated order.
        let k = order.index(tokens.len());
        tokens.rotate_left(k);
        for (d, n) in tokens {
            r.set_deferred_array(d, n);
        }
        prop_assert_eq!(r.buf, direct.buf);
    }
}

#[test]
fn double_text_is_a_bulk_in_resp2_and_a_double_in_resp3() {
    let mut r2 = ReplyBuf::new(Protocol::Resp2);
    r2.double_text(b"1.5");
    assert_eq!(r2.buf, b"$3\r\n1.5\r\n");
    let mut r3 = ReplyBuf::new(Protocol::Resp3);
    r3.double_text(b"inf");
    assert_eq!(r3.buf, b",inf\r\n");
}

#[test]
fn writes_past_the_limit_are_dropped() {
    let mut r = ReplyBuf::new(Protocol::Resp2);
    r.set_limit(20);
    let d = r.deferred_array();
    r.bulk(b"hello");
    assert!(!r.over_limit());
    r.bulk(b"world");
    // The write that crosses the limit lands whole; everything after it is dropped.
    assert!(r.over_limit());
    let len = r.len();
    r.bulk(b"more");
    r.integer(42);
    r.array(3);
    r.ok();
    r.error(b"ERR x");
    r.set_deferred_array(d, 2);
    assert_eq!(r.len(), len);
    r.clear();
    assert!(!r.over_limit());
    r.set_limit(usize::MAX);
    r.bulk(&[b'x'; 100]);
    assert!(!r.over_limit());
}
