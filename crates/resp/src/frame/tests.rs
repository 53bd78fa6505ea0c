use super::*;
use proptest::prelude::*;

fn parse_all(buf: &[u8]) -> Frame {
    match Frame::parse(buf) {
        Ok(Some((f, n))) => {
            assert_eq!(n, buf.len(), "consumed");
            f
        }
        other => panic!("expected a frame from {buf:?}, got {other:?}"),
    }
}

fn parse_err(buf: &[u8]) -> FrameError {
    match Frame::parse(buf) {
        Err(e) => e,
        other => panic!("expected an error from {buf:?}, got {other:?}"),
    }
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn resp3(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out);
    out
}

fn resp2(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode_resp2(&mut out);
    out
}

#[test]
fn parses_resp2_types() {
    assert_eq!(parse_all(b"+OK\r\n"), Frame::Simple("OK".into()));
    assert_eq!(parse_all(b"+\r\n"), Frame::Simple(String::new()));
    assert_eq!(
        parse_all(b"-ERR unknown\r\n"),
        Frame::Error("ERR unknown".into())
    );
    assert_eq!(parse_all(b":-12\r\n"), Frame::Integer(-12));
    assert_eq!(parse_all(b"$3\r\na\r\n\r\n"), bulk("a\r\n"));
    assert_eq!(parse_all(b"$0\r\n\r\n"), bulk(""));
    assert_eq!(parse_all(b"$-1\r\n"), Frame::Null);
    assert_eq!(parse_all(b"*-1\r\n"), Frame::Null);
    assert_eq!(parse_all(b"*0\r\n"), Frame::Array(vec![]));
    assert_eq!(
        parse_all(b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n"),
        Frame::Array(vec![
            Frame::Integer(1),
            bulk("x"),
            Frame::Array(vec![Frame::Simple("y".into())])
        ])
    );
}

#[test]
fn parses_resp3_types() {
    assert_eq!(parse_all(b"_\r\n"), Frame::Null);
    assert_eq!(parse_all(b",1.5\r\n"), Frame::Double(1.5));
    assert_eq!(parse_all(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
    assert_eq!(parse_all(b",1e+20\r\n"), Frame::Double(1e20));
    assert!(matches!(parse_all(b",nan\r\n"), Frame::Double(v) if v.is_nan()));
    assert_eq!(parse_all(b"#t\r\n"), Frame::Boolean(true));
    assert_eq!(parse_all(b"#f\r\n"), Frame::Boolean(false));
    assert_eq!(
        parse_all(b"(-3492890328409238509324850943850943825024385\r\n"),
        Frame::BigNumber("-3492890328409238509324850943850943825024385".into())
    );
    assert_eq!(
        parse_all(b"=15\r\ntxt:Some string\r\n"),
        Frame::Verbatim {
            format: "txt".into(),
            text: "Some string".into()
        }
    );
    assert_eq!(
        parse_all(b"!21\r\nSYNTAX invalid syntax\r\n"),
        Frame::Error("SYNTAX invalid syntax".into())
    );
    assert_eq!(
        parse_all(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
        Frame::Map(vec![
            (Frame::Simple("first".into()), Frame::Integer(1)),
            (Frame::Simple("second".into()), Frame::Integer(2)),
        ])
    );
    assert_eq!(
        parse_all(b"~2\r\n+a\r\n#f\r\n"),
        Frame::Set(vec![Frame::Simple("a".into()), Frame::Boolean(false)])
    );
    assert_eq!(
        parse_all(b">2\r\n+message\r\n$2\r\nhi\r\n"),
        Frame::Push(vec![Frame::Simple("message".into()), bulk("hi")])
    );
}

#[test]
fn attributes_are_skipped() {
    let buf = b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n";
    assert_eq!(parse_all(buf), Frame::Array(vec![Frame::Integer(2)]));
    // Inside an aggregate, and several in a row.
    let buf = b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n|0\r\n|0\r\n:2\r\n";
    assert_eq!(
        parse_all(buf),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    // An attribute alone is incomplete.
    assert_eq!(Frame::parse(b"|1\r\n+a\r\n+b\r\n"), Ok(None));
}

#[test]
fn consumed_length_with_trailing_data() {
    let (f, n) = Frame::parse(b"+OK\r\n:1\r\n").unwrap().unwrap();
    assert_eq!((f, n), (Frame::Simple("OK".into()), 5));
}

#[test]
fn incomplete_input() {
    let buf = b"*2\r\n$5\r\nhello\r\n%1\r\n,1.5\r\n=7\r\ntxt:abc\r\n";
    for i in 0..buf.len() {
        assert_eq!(Frame::parse(&buf[..i]), Ok(None), "prefix {i}");
    }
    assert!(Frame::parse(buf).unwrap().is_some());
}

#[test]
fn malformed_input() {
    assert_eq!(parse_err(b"?\r\n"), FrameError::InvalidType(b'?'));
    assert_eq!(parse_err(b"+OK\rX"), FrameError::ExpectedCrlf);
    assert_eq!(parse_err(b"$3\r\nabcd\r\n"), FrameError::ExpectedCrlf);
    assert_eq!(parse_err(b"$3\r\nabc\rX"), FrameError::ExpectedCrlf);
    assert_eq!(parse_err(b"$-2\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"$x\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"$?\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"*-2\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"%-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"~-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b">-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"|-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"!-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b"=-1\r\n"), FrameError::InvalidLength);
    assert_eq!(parse_err(b":1.5\r\n"), FrameError::InvalidInteger);
    assert_eq!(parse_err(b":+1\r\n"), FrameError::InvalidInteger);
    assert_eq!(parse_err(b",abc\r\n"), FrameError::InvalidDouble);
    assert_eq!(parse_err(b",\r\n"), FrameError::InvalidDouble);
    assert_eq!(parse_err(b"#x\r\n"), FrameError::InvalidBoolean);
    assert_eq!(parse_err(b"(\r\n"), FrameError::InvalidBigNumber);
    assert_eq!(parse_err(b"(12a\r\n"), FrameError::InvalidBigNumber);
    assert_eq!(parse_err(b"=3\r\ntxt\r\n"), FrameError::InvalidVerbatim);
    assert_eq!(parse_err(b"=4\r\ntxt;\r\n"), FrameError::InvalidVerbatim);
    assert_eq!(parse_err(b"_x\r\n"), FrameError::InvalidNull);
    assert_eq!(
        parse_err(b"*2\r\n:1\r\n?\r\n"),
        FrameError::InvalidType(b'?')
    );
}

#[test]
fn depth_limit() {
    let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
    ok.extend_from_slice(b":1\r\n");
    assert!(Frame::parse(&ok).unwrap().is_some());

    let mut deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
    deep.extend_from_slice(b":1\r\n");
    assert_eq!(Frame::parse(&deep), Err(FrameError::TooDeep));

    // Deep nesting through attributes and maps is bounded too.
    assert_eq!(
        Frame::parse(&b"|1\r\n".repeat(100_000)),
        Err(FrameError::TooDeep)
    );
    assert_eq!(
        Frame::parse(&b"%1\r\n".repeat(100_000)),
        Err(FrameError::TooDeep)
    );
}

#[test]
fn huge_declared_counts_do_not_allocate_upfront() {
    // Would need terabytes if the count were trusted.
    assert_eq!(Frame::parse(b"*9223372036854775807\r\n:1\r\n"), Ok(None));
    assert_eq!(Frame::parse(&b"*4000000000\r\n".repeat(400)), Ok(None));
    assert_eq!(Frame::parse(b"$9223372036854775807\r\nabc"), Ok(None));
}

#[test]
fn encode_resp3() {
    let f = Frame::Array(vec![
        Frame::Simple("OK".into()),
        Frame::Error("ERR x".into()),
        Frame::Integer(-5),
        bulk("a\r\nb"),
        Frame::Null,
        Frame::Map(vec![(bulk("k"), Frame::Double(2.5))]),
        Frame::Set(vec![Frame::Boolean(true)]),
        Frame::BigNumber("123".into()),
        Frame::Verbatim {
            format: "mkd".into(),
            text: "# hi".into(),
        },
        Frame::Push(vec![]),
    ]);
    assert_eq!(
        String::from_utf8(resp3(&f)).unwrap(),
        "*10\r\n+OK\r\n-ERR x\r\n:-5\r\n$4\r\na\r\nb\r\n_\r\n%1\r\n$1\r\nk\r\n,2.5\r\n\
         ~1\r\n#t\r\n(123\r\n=8\r\nmkd:# hi\r\n>0\r\n"
    );
    assert_eq!(
        String::from_utf8(resp2(&f)).unwrap(),
        "*10\r\n+OK\r\n-ERR x\r\n:-5\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n$1\r\nk\r\n$3\r\n2.5\r\n\
         *1\r\n:1\r\n$3\r\n123\r\n$4\r\n# hi\r\n*0\r\n"
    );
    assert_eq!(resp2(&Frame::Boolean(false)), b":0\r\n");
    assert_eq!(resp3(&Frame::Boolean(false)), b"#f\r\n");
    assert_eq!(resp3(&Frame::Double(3.0)), b",3\r\n");
    // A format that cannot be represented falls back to "txt".
    let odd = Frame::Verbatim {
        format: "markdown".into(),
        text: "x".into(),
    };
    assert_eq!(resp3(&odd), b"=5\r\ntxt:x\r\n");
}

#[test]
fn encode_keeps_line_types_single_line() {
    let err = Frame::Error("ERR a\r\nb".into());
    assert_eq!(resp3(&err), b"!8\r\nERR a\r\nb\r\n");
    assert_eq!(parse_all(&resp3(&err)), err);
    assert_eq!(resp2(&err), b"-ERR a  b\r\n");
    let simple = Frame::Simple("a\nb\rc".into());
    assert_eq!(resp3(&simple), b"+a b c\r\n");
    assert_eq!(resp2(&simple), b"+a b c\r\n");
}

#[test]
fn encode_command_is_an_array_of_bulks() {
    let mut out = Vec::new();
    encode_command(&["SET", "k", "v"], &mut out);
    assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    out.clear();
    encode_command::<&[u8]>(&[], &mut out);
    assert_eq!(out, b"*0\r\n");
    out.clear();
    encode_command(&[b"\x00\r\n".to_vec()], &mut out);
    assert_eq!(out, b"*1\r\n$3\r\n\x00\r\n\r\n");
}

#[test]
fn encode_command_lengths_at_the_digit_boundaries() {
    // The short-header paths (one and two digits) and the general one meet at 10 and 100.
    for n in [0usize, 9, 10, 11, 99, 100, 101, 999, 1000, 65536] {
        let arg = vec![b'x'; n];
        let args: Vec<&[u8]> = vec![&arg; n.min(12)];
        let mut out = Vec::new();
        encode_command(&args, &mut out);
        let mut want = format!("*{}\r\n", args.len()).into_bytes();
        for a in &args {
            want.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            want.extend_from_slice(a);
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(out, want, "argument length {n}");
    }
}

#[test]
fn error_display() {
    assert_eq!(
        FrameError::InvalidType(b'?').to_string(),
        "invalid frame type byte '?'"
    );
    assert_eq!(FrameError::TooDeep.to_string(), "frame nesting too deep");
}

// ------------------------------------------------------- fuzzer regressions
//
// Inputs found by `cargo fuzz run frame_parse` are added here.

#[test]
fn fuzz_regressions() {
    for data in [
        &b""[..],
        b"$9223372036854775807\r\n",
        b"=9223372036854775807\r\n",
        b"!9223372036854775807\r\n",
        b"*-9223372036854775808\r\n",
        b"|9223372036854775807\r\n",
    ] {
        let r = Frame::parse(data);
        if let Ok(Some((_, n))) = r {
            assert!(n > 0 && n <= data.len());
        }
    }
}

// ---------------------------------------------------------------- proptests

fn arb_text() -> impl Strategy<Value = String> {
    // Simple strings cannot carry CR or LF (they would be replaced).
    "[^\r\n]{0,12}"
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        arb_text().prop_map(Frame::Simple),
        // Errors with line breaks travel as RESP3 blob errors.
        "[^\r\n]{0,6}(\r\n)?[^\r\n]{0,6}".prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(|v| Frame::Bulk(v.into())),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("NaN != NaN", |v| !v.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(Frame::BigNumber),
        ("[a-z]{3}", prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(format, text)| {
            Frame::Verbatim {
                format,
                text: text.into(),
            }
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

proptest! {
    #[test]
    fn prop_resp3_round_trip_split_everywhere(frame in arb_frame()) {
        let buf = resp3(&frame);
        for cut in 0..buf.len() {
            prop_assert_eq!(Frame::parse(&buf[..cut]), Ok(None), "prefix {}", cut);
        }
        let mut with_tail = buf.clone();
        with_tail.extend_from_slice(b"+next\r\n");
        let (back, n) = Frame::parse(&with_tail).unwrap().unwrap();
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(back, frame);
    }

    #[test]
    fn prop_resp2_encoding_parses(frame in arb_frame()) {
        // RESP2 loses type information but must stay well-formed and be
        // consumed exactly.
        let buf = resp2(&frame);
        let (_, n) = Frame::parse(&buf).unwrap().unwrap();
        prop_assert_eq!(n, buf.len());
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(Some((_, n))) = Frame::parse(&data) {
            prop_assert!(n > 0 && n <= data.len());
        }
    }
}
