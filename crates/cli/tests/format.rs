use bytes::Bytes;
use cinnabar_cli::{format_raw, format_tty};
use cinnabar_resp::Frame;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn tty(f: &Frame) -> String {
    String::from_utf8(format_tty(f)).unwrap()
}

fn raw(f: &Frame) -> Vec<u8> {
    format_raw(f)
}

#[test]
fn scalars_tty() {
    assert_eq!(tty(&Frame::Simple("OK".into())), "OK\n");
    assert_eq!(tty(&Frame::Integer(-3)), "(integer) -3\n");
    assert_eq!(tty(&Frame::Null), "(nil)\n");
    assert_eq!(tty(&Frame::Error("ERR boom".into())), "(error) ERR boom\n");
    assert_eq!(tty(&Frame::Double(1.5)), "(double) 1.5\n");
    assert_eq!(tty(&Frame::Double(3.0)), "(double) 3\n");
    assert_eq!(tty(&Frame::Double(f64::INFINITY)), "(double) inf\n");
    assert_eq!(tty(&Frame::Boolean(true)), "(true)\n");
    assert_eq!(tty(&Frame::Boolean(false)), "(false)\n");
    assert_eq!(
        tty(&Frame::BigNumber("12345678901234567890".into())),
        "(big number) 12345678901234567890\n"
    );
    let v = Frame::Verbatim {
        format: "txt".into(),
        text: Bytes::from_static(b"line1\nline2"),
    };
    assert_eq!(tty(&v), "line1\nline2\n");
}

#[test]
fn bulk_escapes() {
    assert_eq!(tty(&bulk("value")), "\"value\"\n");
    assert_eq!(tty(&bulk("a\"b\\c\nd\r\t")), "\"a\\\"b\\\\c\\nd\\r\\t\"\n");
    let b = Frame::Bulk(Bytes::from_static(b"a\x01\x07\x08\x7f\xff "));
    assert_eq!(tty(&b), "\"a\\x01\\a\\b\\x7f\\xff \"\n");
}

#[test]
fn arrays_tty() {
    assert_eq!(tty(&Frame::Array(vec![])), "(empty array)\n");
    assert_eq!(tty(&Frame::Set(vec![])), "(empty set)\n");
    assert_eq!(tty(&Frame::Map(vec![])), "(empty hash)\n");
    assert_eq!(
        tty(&Frame::Array(vec![bulk("a"), bulk("b")])),
        "1) \"a\"\n2) \"b\"\n"
    );
    let nested = Frame::Array(vec![
        Frame::Array(vec![bulk("x"), Frame::Integer(1)]),
        Frame::Null,
        Frame::Array(vec![Frame::Array(vec![bulk("deep")])]),
    ]);
    assert_eq!(
        tty(&nested),
        "1) 1) \"x\"\n   2) (integer) 1\n2) (nil)\n3) 1) 1) \"deep\"\n"
    );
    // Indices are right-aligned to the widest one and nesting grows by width + 2.
    let mut items: Vec<Frame> = (0..10).map(|i| bulk(&i.to_string())).collect();
    items[9] = Frame::Array(vec![bulk("p"), bulk("q")]);
    let out = tty(&Frame::Array(items));
    assert!(out.starts_with(" 1) \"0\"\n 2) \"1\"\n"), "{out}");
    assert!(out.ends_with("10) 1) \"p\"\n    2) \"q\"\n"), "{out}");
    assert_eq!(
        tty(&Frame::Set(vec![bulk("a"), bulk("b")])),
        "1~ \"a\"\n2~ \"b\"\n"
    );
}

#[test]
fn maps_tty() {
    let m = Frame::Map(vec![
        (bulk("key"), bulk("value")),
        (bulk("n"), Frame::Integer(3)),
        (bulk("empty"), Frame::Array(vec![])),
        (
            bulk("args"),
            Frame::Array(vec![Frame::Map(vec![
                (bulk("name"), bulk("key")),
                (bulk("type"), bulk("key")),
            ])]),
        ),
    ]);
    assert_eq!(
        tty(&m),
        "1# \"key\" => \"value\"\n\
         2# \"n\" => (integer) 3\n\
         3# \"empty\" => (empty array)\n\
         4# \"args\" => \n   1) 1# \"name\" => \"key\"\n      2# \"type\" => \"key\"\n"
    );
}

#[test]
fn raw_output() {
    assert_eq!(raw(&Frame::Simple("OK".into())), b"OK\n");
    assert_eq!(raw(&bulk("a\nb")), b"a\nb\n");
    assert_eq!(raw(&Frame::Integer(7)), b"7\n");
    assert_eq!(raw(&Frame::Null), b"\n");
    assert_eq!(raw(&Frame::Error("ERR x".into())), b"ERR x\n\n");
    assert_eq!(raw(&Frame::Array(vec![])), b"\n");
    assert_eq!(
        raw(&Frame::Array(vec![
            bulk("a"),
            Frame::Array(vec![bulk("b"), Frame::Integer(1)])
        ])),
        b"a\nb\n1\n"
    );
    assert_eq!(
        raw(&Frame::Map(vec![
            (bulk("k"), bulk("v")),
            (bulk("n"), Frame::Integer(1))
        ])),
        b"k v\nn 1\n"
    );
    assert_eq!(raw(&Frame::Double(2.5)), b"2.5\n");
    assert_eq!(raw(&Frame::Boolean(true)), b"(true)\n");
    assert_eq!(
        raw(&Frame::Bulk(Bytes::from_static(b"\xff\x00"))),
        b"\xff\x00\n"
    );
}

// Vectors below were taken from redis-cli 7.0/7.2 output (`--csv`, `--json`,
// `--quoted-json`); tests/oracle.rs checks the same against a live redis-cli.

use cinnabar_cli::format::{format_csv, format_json, format_reply, pretty_json, Output};

fn s(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap()
}

#[test]
fn csv_output() {
    let arr = Frame::Array(vec![
        bulk("a"),
        bulk("b\"c\n"),
        Frame::Integer(3),
        Frame::Null,
        Frame::Array(vec![bulk("x"), Frame::Boolean(true)]),
    ]);
    assert_eq!(
        s(format_csv(&arr)),
        "\"a\",\"b\\\"c\\n\",3,NULL,\"x\",true\n"
    );
    assert_eq!(
        s(format_csv(&Frame::Error("ERR bad".into()))),
        "ERROR,\"ERR bad\"\n"
    );
    assert_eq!(s(format_csv(&Frame::Simple("OK".into()))), "\"OK\"\n");
    let m = Frame::Map(vec![
        (bulk("a"), Frame::Integer(1)),
        (bulk("b"), Frame::Double(0.5)),
    ]);
    assert_eq!(s(format_csv(&m)), "\"a\",1,\"b\",0.5\n");
    assert_eq!(s(format_csv(&Frame::Array(vec![]))), "\n");
}

#[test]
fn json_output() {
    let m = Frame::Map(vec![
        (bulk("a"), Frame::Integer(1)),
        (bulk("b"), Frame::Set(vec![bulk("x")])),
        (Frame::Integer(7), Frame::Null),
        (bulk("t"), bulk("tab\there \"q\" \x01 \u{e9}")),
    ]);
    assert_eq!(
        s(format_json(&m, false)),
        "{\"a\":1,\"b\":[\"x\"],\"7\":null,\"t\":\"tab\\there \\\"q\\\" \\u0001 \u{e9}\"}\n"
    );
    // --quoted-json: sdscatrepr's escapes, backslashes doubled: ASCII only.
    assert_eq!(
        s(format_json(&bulk("\u{e9}\n"), true)),
        "\"\\\\xc3\\\\xa9\\\\n\"\n"
    );
    assert_eq!(
        s(format_json(&Frame::Error("ERR x".into()), false)),
        "error:\"ERR x\"\n"
    );
    assert_eq!(
        s(format_json(
            &Frame::Array(vec![Frame::Boolean(false), Frame::Double(1.5)]),
            false
        )),
        "[false,1.5]\n"
    );
}

#[test]
fn info_like_replies_print_as_is() {
    let info = bulk("# Server\r\nredis_version:7.2.0\r\n");
    assert_eq!(
        s(format_reply(&info, Output::Standard, true, false)),
        "# Server\r\nredis_version:7.2.0\r\n"
    );
    assert!(cinnabar_cli::format::wants_raw_output(&[b"INFO".to_vec()]));
    assert!(cinnabar_cli::format::wants_raw_output(&[
        b"client".to_vec(),
        b"LIST".to_vec()
    ]));
    assert!(!cinnabar_cli::format::wants_raw_output(&[
        b"client".to_vec(),
        b"id".to_vec()
    ]));
}

#[test]
fn map_values_on_their_own_line_only_when_multiline() {
    // redis-cli 7.2: a single-line value stays on the key's line.
    let m = Frame::Map(vec![
        (bulk("one"), Frame::Set(vec![bulk("x")])),
        (bulk("two"), Frame::Array(vec![bulk("a"), bulk("b")])),
        (
            bulk("nested"),
            Frame::Map(vec![(bulk("k"), Frame::Array(vec![bulk("only")]))]),
        ),
    ]);
    assert_eq!(
        tty(&m),
        "1# \"one\" => 1~ \"x\"\n\
         2# \"two\" => \n   1) \"a\"\n   2) \"b\"\n\
         3# \"nested\" => 1# \"k\" => 1) \"only\"\n"
    );
}

#[test]
fn pretty_json_reindents_objects_and_arrays_only() {
    assert_eq!(
        pretty_json(br#" {"a": [1, -2.5e3, true, null], "b": {}, "c": "x,{y}"} "#).as_deref(),
        Some("{\n  \"a\": [\n    1,\n    -2.5e3,\n    true,\n    null\n  ],\n  \"b\": {},\n  \"c\": \"x,{y}\"\n}")
    );
    assert_eq!(pretty_json(b"[]").as_deref(), Some("[]"));
    assert_eq!(pretty_json(b"\"just a string\""), None);
    assert_eq!(pretty_json(b"42"), None);
    assert_eq!(pretty_json(b"{\"a\":1,}"), None);
    assert_eq!(pretty_json(b"{\"a\":1} trailing"), None);
    assert_eq!(pretty_json(b"[1,2"), None);
    assert_eq!(pretty_json(b"\xff[]"), None);
    // Deep nesting is refused rather than recursing without bound.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert_eq!(pretty_json(deep.as_bytes()), None);
}

#[test]
fn push_messages() {
    use cinnabar_cli::format::format_push;
    let inv = Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(vec![bulk("k1"), bulk("k 2")]),
    ]);
    assert_eq!(
        s(format_push(&inv, Output::Standard, false)),
        "-> invalidate: 'k1', 'k 2'\n"
    );
    let msg = Frame::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]);
    assert_eq!(
        s(format_push(&msg, Output::Standard, false)),
        "1) \"message\"\n2) \"ch\"\n3) \"hi\"\n"
    );
    assert_eq!(
        s(format_push(&inv, Output::Raw, false)),
        "invalidate\nk1\nk 2\n"
    );
    assert_eq!(tty(&Frame::Push(vec![])), "(empty push)\n");
}
