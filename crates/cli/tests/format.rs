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
