use super::*;
use crate::encode_command;
use proptest::prelude::*;

type Parsed = Result<Option<(usize, Vec<Vec<u8>>)>, ProtocolError>;

fn parse_with(buf: &[u8], limits: &Limits) -> Parsed {
    let mut argv = Argv::new();
    let r = parse_command(buf, limits, &mut argv)?;
    Ok(r.map(|n| (n, argv.iter(buf).map(<[u8]>::to_vec).collect())))
}

fn parse(buf: &[u8]) -> Parsed {
    parse_with(buf, &Limits::default())
}

/// Expect a complete command: returns (consumed, args).
fn complete(buf: &[u8]) -> (usize, Vec<Vec<u8>>) {
    match parse(buf) {
        Ok(Some(r)) => r,
        other => panic!("expected complete command for {buf:?}, got {other:?}"),
    }
}

fn args(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|a| a.to_vec()).collect()
}

fn err(buf: &[u8]) -> ProtocolError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("expected error for {buf:?}, got {other:?}"),
    }
}

fn small_limits() -> Limits {
    Limits {
        max_bulk_len: 10,
        max_multibulk_len: 3,
        max_inline_len: 16,
        unauthenticated: false,
    }
}

// ---------------------------------------------------------------- multibulk

#[test]
fn multibulk_simple_command() {
    let buf = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    let (n, a) = complete(buf);
    assert_eq!(n, buf.len());
    assert_eq!(a, args(&[b"SET", b"key", b"value"]));

    let mut argv = Argv::new();
    parse_command(buf, &Limits::default(), &mut argv).unwrap();
    assert!(!argv.is_inline());
    assert_eq!(argv.len(), 3);
    assert!(!argv.is_empty());
    assert_eq!(argv.get(buf, 0), b"SET");
    assert_eq!(argv.get(buf, 2), b"value");
}

#[test]
fn multibulk_binary_payload_with_crlf_inside() {
    let buf = b"*2\r\n$3\r\nGET\r\n$6\r\na\r\n\0\r\n\r\n";
    let (n, a) = complete(buf);
    assert_eq!(n, buf.len());
    assert_eq!(a, args(&[b"GET", b"a\r\n\0\r\n"]));
}

#[test]
fn multibulk_empty_argument() {
    let (n, a) = complete(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    assert_eq!(n, 20);
    assert_eq!(a, args(&[b"ECHO", b""]));
}

#[test]
fn multibulk_empty_commands() {
    for buf in [&b"*0\r\n"[..], b"*-1\r\n", b"*-10\r\n"] {
        let (n, a) = complete(buf);
        assert_eq!(n, buf.len());
        assert!(a.is_empty());
    }
    // The empty command consumes only its own line.
    let (n, a) = complete(b"*0\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!((n, a.len()), (4, 0));
}

#[test]
fn multibulk_pipeline() {
    let mut buf = Vec::new();
    encode_command(&["SET", "a", "1"], &mut buf);
    encode_command(&["GET", "a"], &mut buf);
    buf.extend_from_slice(b"PING\r\n");
    encode_command(&["DEL", "a", "b"], &mut buf);
    buf.extend_from_slice(b"*1\r\n$4\r\nEC"); // incomplete tail

    let mut argv = Argv::new();
    let limits = Limits::default();
    let mut pos = 0;
    let mut got = Vec::new();
    while let Some(n) = parse_command(&buf[pos..], &limits, &mut argv).unwrap() {
        got.push(
            argv.iter(&buf[pos..])
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>(),
        );
        pos += n;
    }
    assert_eq!(
        got,
        vec![
            args(&[b"SET", b"a", b"1"]),
            args(&[b"GET", b"a"]),
            args(&[b"PING"]),
            args(&[b"DEL", b"a", b"b"]),
        ]
    );
    assert_eq!(&buf[pos..], b"*1\r\n$4\r\nEC");
}

#[test]
fn argv_is_reused_without_reallocating() {
    let limits = Limits::default();
    let mut argv = Argv::new();
    let big = b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n";
    parse_command(big, &limits, &mut argv).unwrap().unwrap();
    let cap = argv.spans.capacity();
    let ptr = argv.spans.as_ptr();
    let small = b"*1\r\n$4\r\nPING\r\n";
    for _ in 0..100 {
        parse_command(small, &limits, &mut argv).unwrap().unwrap();
        assert_eq!(argv.len(), 1);
    }
    assert_eq!(argv.spans.capacity(), cap);
    assert_eq!(argv.spans.as_ptr(), ptr);
}

#[test]
fn multibulk_incomplete_at_every_prefix() {
    let buf = b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
    for i in 0..buf.len() {
        assert_eq!(parse(&buf[..i]), Ok(None), "prefix {i}");
    }
    assert_eq!(complete(buf).0, buf.len());
}

#[test]
fn header_needs_the_byte_after_cr() {
    assert_eq!(parse(b"*1\r"), Ok(None));
    assert_eq!(parse(b"*1\r\n$3\r"), Ok(None));
}

#[test]
fn invalid_multibulk_length() {
    for buf in [
        &b"*x\r\n"[..],
        b"*\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*3000000000\r\n",
        b"*99999999999999999999999\r\n",
        b"*1\rX",
    ] {
        assert_eq!(err(buf), ProtocolError::InvalidMultibulkLength, "{buf:?}");
    }
    // Just above the configured maximum.
    let limits = small_limits();
    assert_eq!(parse_with(b"*3\r\n", &limits), Ok(None));
    assert_eq!(
        parse_with(b"*4\r\n", &limits),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        err(b"*1048577\r\n"),
        ProtocolError::InvalidMultibulkLength,
        "default limit is 1024*1024"
    );
    assert_eq!(parse(b"*1048576\r\n"), Ok(None));
}

#[test]
fn invalid_bulk_length() {
    for buf in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$-10\r\n",
        b"*1\r\n$blabla\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$+3\r\nfoo\r\n",
        b"*1\r\n$03\r\nfoo\r\n",
        b"*1\r\n$3 \r\nfoo\r\n",
        b"*1\r\n$3\rXfoo\r\n",
        b"*1\r\n$2000000000\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
    ] {
        assert_eq!(err(buf), ProtocolError::InvalidBulkLength, "{buf:?}");
    }
    let limits = small_limits();
    assert_eq!(
        parse_with(b"*1\r\n$10\r\n0123456789\r\n", &limits)
            .unwrap()
            .unwrap()
            .0,
        21
    );
    assert_eq!(
        parse_with(b"*1\r\n$11\r\n", &limits),
        Err(ProtocolError::InvalidBulkLength)
    );
    // 512 MiB is accepted by default (and incomplete), one more byte is not.
    assert_eq!(parse(b"*1\r\n$536870912\r\n"), Ok(None));
    assert_eq!(
        err(b"*1\r\n$536870913\r\n"),
        ProtocolError::InvalidBulkLength
    );
}

#[test]
fn expected_dollar() {
    let e = err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n");
    assert_eq!(e, ProtocolError::ExpectedDollar(b'f'));
    assert_eq!(e.to_string(), "expected '$', got 'f'");
    assert_eq!(err(b"*1\r\nfoo\r\n").to_string(), "expected '$', got 'f'");
    assert_eq!(err(b"*1\r\n:1\r\n"), ProtocolError::ExpectedDollar(b':'));
    assert_eq!(err(b"*1\r\n\r\n"), ProtocolError::ExpectedDollar(b'\r'));
    // Like Redis, the check waits for the header line to be complete.
    assert_eq!(parse(b"*1\r\nfoo"), Ok(None));
}

#[test]
fn bulk_not_followed_by_crlf() {
    for buf in [
        &b"*1\r\n$3\r\nfooX"[..],
        b"*1\r\n$3\r\nfoo\rX",
        b"*1\r\n$3\r\nfoo\n\r",
        b"*1\r\n$3\r\nfoobar\r\n",
        b"*2\r\n$3\r\nfoo\r\n$1\r\nab\r\n",
    ] {
        assert_eq!(err(buf), ProtocolError::ExpectedCrlfAfterBulk, "{buf:?}");
    }
    assert_eq!(
        ProtocolError::ExpectedCrlfAfterBulk.to_string(),
        "expected CRLF after bulk data"
    );
    assert_eq!(parse(b"*1\r\n$3\r\nfoo\r"), Ok(None));
}

#[test]
fn too_big_mbulk_count_string() {
    let limits = small_limits();
    let mut buf = b"*".to_vec();
    buf.extend_from_slice(&[b'1'; 15]);
    // Exactly max_inline_len bytes buffered: keep waiting.
    assert_eq!(parse_with(&buf, &limits), Ok(None));
    buf.push(b'1');
    assert_eq!(
        parse_with(&buf, &limits),
        Err(ProtocolError::TooBigMbulkCountString)
    );
    // Redis's protocol desync regression test: "*\0" then endless payload.
    let mut desync = b"*\0".to_vec();
    desync.resize(70 * 1024, b'A');
    let e = err(&desync);
    assert_eq!(e, ProtocolError::TooBigMbulkCountString);
    assert_eq!(e.to_string(), "too big mbulk count string");
}

#[test]
fn too_big_bulk_count_string() {
    let limits = small_limits();
    // The limit applies to bytes buffered from the start of the header.
    let mut buf = b"*1\r\n$".to_vec();
    buf.extend_from_slice(&[b'1'; 15]);
    assert_eq!(parse_with(&buf, &limits), Ok(None));
    buf.push(b'1');
    let e = parse_with(&buf, &limits).unwrap_err();
    assert_eq!(e, ProtocolError::TooBigBulkCountString);
    assert_eq!(e.to_string(), "too big bulk count string");
    // A far-away \r makes it a (failed) number instead, as in Redis.
    buf.extend_from_slice(b"\r\n");
    assert_eq!(
        parse_with(&buf, &limits),
        Err(ProtocolError::InvalidBulkLength)
    );
}

#[test]
fn bulk_payload_is_not_scanned() {
    // A '\r' inside a long, still incomplete payload must not be taken for a
    // header terminator, and no error fires however long the payload is.
    let mut buf = b"*2\r\n$3\r\nSET\r\n$200000\r\n".to_vec();
    buf.resize(buf.len() + 100_000, b'x');
    buf.extend_from_slice(b"\r\n$5");
    assert_eq!(parse(&buf), Ok(None));
}

// ------------------------------------------------------------------- inline

#[test]
fn inline_basic() {
    let (n, a) = complete(b"SET key value\r\n");
    assert_eq!(n, 15);
    assert_eq!(a, args(&[b"SET", b"key", b"value"]));
    let (n, a) = complete(b"PING\n");
    assert_eq!((n, a), (5, args(&[b"PING"])));

    let buf = b"  GET \t  k  \r\nPING\r\n";
    let mut argv = Argv::new();
    let n = parse_command(buf, &Limits::default(), &mut argv)
        .unwrap()
        .unwrap();
    assert_eq!(n, 14);
    assert!(argv.is_inline());
    assert_eq!(argv.iter(buf).collect::<Vec<_>>(), [&b"GET"[..], b"k"]);
    assert_eq!(argv.get(buf, 1), b"k");
}

#[test]
fn inline_empty_lines() {
    for buf in [&b"\r\n"[..], b"\n", b"   \r\n", b"\t \x0b\x0c\n"] {
        let (n, a) = complete(buf);
        assert_eq!(n, buf.len(), "{buf:?}");
        assert!(a.is_empty(), "{buf:?}");
    }
}

#[test]
fn inline_incomplete_and_too_big() {
    assert_eq!(parse(b""), Ok(None));
    assert_eq!(parse(b"PING"), Ok(None));
    assert_eq!(parse(b"PING\r"), Ok(None));
    let limits = small_limits();
    assert_eq!(parse_with(&[b'a'; 16], &limits), Ok(None));
    let e = parse_with(&[b'a'; 17], &limits).unwrap_err();
    assert_eq!(e, ProtocolError::TooBigInlineRequest);
    assert_eq!(e.to_string(), "too big inline request");
    // A complete line may be longer than the limit (as in Redis).
    let mut long = vec![b'a'; 40];
    long.push(b'\n');
    assert_eq!(parse_with(&long, &limits).unwrap().unwrap().0, 41);
    // The protocol desync regression tests ("\0..." and "$\0...").
    for prefix in [&b"\0"[..], b"$\0"] {
        let mut desync = prefix.to_vec();
        desync.resize(70 * 1024, b'A');
        assert_eq!(err(&desync), ProtocolError::TooBigInlineRequest);
    }
}

#[test]
fn inline_double_quotes_and_escapes() {
    let (_, a) = complete(b"SET \"hello world\" \"a\\nb\\r\\t\\b\\a\\\\\\\"\\x41\\x7a\\q\"\r\n");
    assert_eq!(
        a,
        args(&[b"SET", b"hello world", b"a\nb\r\t\x08\x07\\\"Azq"])
    );
    // \x needs two hex digits, otherwise it is just an escaped 'x'.
    let (_, a) = complete(b"\"\\xZZ\" \"\\x4\" \"\\xfF\"\n");
    assert_eq!(a, args(&[b"xZZ", b"x4", b"\xff"]));
    // Empty quoted argument.
    let (_, a) = complete(b"SET k \"\"\n");
    assert_eq!(a, args(&[b"SET", b"k", b""]));
    // Raw CR inside quotes is kept; only the line terminator is stripped.
    let (_, a) = complete(b"ECHO \"a\rb\"\r\n");
    assert_eq!(a, args(&[b"ECHO", b"a\rb"]));
}

#[test]
fn inline_single_quotes() {
    let (_, a) = complete(b"SET 'it\\'s' 'a\\nb \"q\"'\n");
    assert_eq!(a, args(&[b"SET", b"it's", b"a\\nb \"q\""]));
    let (_, a) = complete(b"''\n");
    assert_eq!(a, args(&[b""]));
}

#[test]
fn inline_quotes_inside_token() {
    let (_, a) = complete(b"a\"b c\"\n");
    assert_eq!(a, args(&[b"ab c"]));
    let (_, a) = complete(b"x'y z' w\n");
    assert_eq!(a, args(&[b"xy z", b"w"]));
}

#[test]
fn inline_vertical_tab_and_form_feed_stay_in_tokens() {
    // Skipped between arguments but not a separator inside one (Redis).
    let (_, a) = complete(b"\x0ba\x0bb c\n");
    assert_eq!(a, args(&[b"a\x0bb", b"c"]));
}

#[test]
fn inline_nul_ends_the_line() {
    // Redis splits a C string: everything after NUL is ignored.
    let (n, a) = complete(b"SET k v\0junk \"\n");
    assert_eq!(n, 15);
    assert_eq!(a, args(&[b"SET", b"k", b"v"]));
    assert_eq!(err(b"SET \"k\0\"\n"), ProtocolError::UnbalancedQuotes);
}

#[test]
fn inline_unbalanced_quotes() {
    for buf in [
        &b"set \"\"\"test-key\"\"\" test-value\r\n"[..],
        b"\"abc\n",
        b"'abc\n",
        b"\"abc\"def\n",
        b"'abc'def\n",
        b"\"abc\\\"\n",
        b"\"abc\\\n",
        b"'abc\\'\n",
    ] {
        assert_eq!(err(buf), ProtocolError::UnbalancedQuotes, "{buf:?}");
    }
    assert_eq!(
        ProtocolError::UnbalancedQuotes.to_string(),
        "unbalanced quotes in request"
    );
    // A closing quote followed by any whitespace, or the end, is fine.
    for buf in [&b"\"a\"\tb\n"[..], b"\"a\"\x0bb\n", b"'a'\n", b"\"a\"\r\n"] {
        assert!(parse(buf).unwrap().is_some(), "{buf:?}");
    }
}

#[test]
fn inline_pipeline_and_mixed() {
    let buf = b"PING\r\n*1\r\n$4\r\nPING\r\necho \"x y\"\n";
    let limits = Limits::default();
    let mut argv = Argv::new();
    let mut pos = 0;
    let mut got = Vec::new();
    while let Some(n) = parse_command(&buf[pos..], &limits, &mut argv).unwrap() {
        got.push((
            argv.is_inline(),
            argv.iter(&buf[pos..])
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>(),
        ));
        pos += n;
    }
    assert_eq!(pos, buf.len());
    assert_eq!(
        got,
        vec![
            (true, args(&[b"PING"])),
            (false, args(&[b"PING"])),
            (true, args(&[b"echo", b"x y"])),
        ]
    );
}

#[test]
fn error_display_texts() {
    assert_eq!(
        ProtocolError::InvalidMultibulkLength.to_string(),
        "invalid multibulk length"
    );
    assert_eq!(
        ProtocolError::InvalidBulkLength.to_string(),
        "invalid bulk length"
    );
    assert_eq!(
        ProtocolError::ExpectedDollar(b'x').to_string(),
        "expected '$', got 'x'"
    );
}

#[test]
fn limits_default() {
    let l = Limits::default();
    assert_eq!(l.max_bulk_len, 512 * 1024 * 1024);
    assert_eq!(l.max_multibulk_len, 1024 * 1024);
    assert_eq!(l.max_inline_len, 64 * 1024);
}

// ------------------------------------------------------- fuzzer regressions
//
// Inputs found by `cargo fuzz run parse_command` are added here.

/// Feed `data` the way the fuzz target does: parse commands until the
/// buffer is exhausted, incomplete, or invalid.
fn drain(data: &[u8]) {
    let limits = small_limits();
    let mut argv = Argv::new();
    let mut pos = 0;
    while let Ok(Some(n)) = parse_command(&data[pos..], &limits, &mut argv) {
        assert!(n > 0 && n <= data.len() - pos);
        let _ = argv.iter(&data[pos..]).count();
        pos += n;
    }
}

#[test]
fn fuzz_regressions() {
    for data in [
        &b""[..],
        b"*",
        b"*1\r\n$",
        b"*1\r\n$9223372036854775807\r\n",
        b"*1\r\n$-9223372036854775808\r\n",
        b"\"\\x",
        b"\"\\",
        b"'\\",
    ] {
        drain(data);
    }
}

// ---------------------------------------------------------------- proptests

fn arb_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8),
            // Bytes that look like protocol, to confuse a sloppy parser.
            prop::collection::vec(prop::sample::select(b"*$\r\n0123-".to_vec()), 0..12),
            prop::collection::vec(any::<u8>(), 0..300),
        ],
        1..8,
    )
}

/// Feed `buf` through `parse_command` at every prefix length.
fn check_prefixes(buf: &[u8], expect: &[Vec<u8>]) {
    let limits = Limits::default();
    let mut argv = Argv::new();
    for cut in 0..buf.len() {
        assert_eq!(
            parse_command(&buf[..cut], &limits, &mut argv),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
    let n = parse_command(buf, &limits, &mut argv).unwrap();
    assert_eq!(n, Some(buf.len()));
    let got: Vec<Vec<u8>> = argv.iter(buf).map(<[u8]>::to_vec).collect();
    assert_eq!(got, expect);
}

proptest! {
    #[test]
    fn prop_encoded_command_round_trips(args in arb_args()) {
        let mut buf = Vec::new();
        encode_command(&args, &mut buf);
        check_prefixes(&buf, &args);
    }

    #[test]
    fn prop_pipeline_split_anywhere(
        cmds in prop::collection::vec(arb_args(), 1..5),
        split in any::<prop::sample::Index>(),
    ) {
        // The stream arrives in two chunks; the reader keeps unconsumed
        // bytes and appends the next chunk, as the server does.
        let mut stream = Vec::new();
        for c in &cmds {
            encode_command(c, &mut stream);
        }
        let cut = split.index(stream.len() + 1);
        let limits = Limits::default();
        let mut argv = Argv::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        for chunk in [&stream[..cut], &stream[cut..]] {
            pending.extend_from_slice(chunk);
            while let Some(n) = parse_command(&pending, &limits, &mut argv).unwrap() {
                got.push(argv.iter(&pending).map(<[u8]>::to_vec).collect::<Vec<_>>());
                pending.drain(..n);
            }
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn prop_inline_plain_words(words in prop::collection::vec("[a-zA-Z0-9_:.-]{1,12}", 1..6)) {
        let line = format!("{}\r\n", words.join(" "));
        let expect: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        check_prefixes(line.as_bytes(), &expect);
    }

    #[test]
    fn prop_inline_quoted_round_trip(arg in prop::collection::vec(any::<u8>(), 0..40)) {
        // Quote an arbitrary byte string the way redis-cli would; the parser
        // must give back the original bytes.
        let mut line = b"ECHO \"".to_vec();
        for &b in &arg {
            match b {
                b'"' | b'\\' => line.extend_from_slice(&[b'\\', b]),
                0 | b'\n' | b'\r' | 0x80.. => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                _ => line.push(b),
            }
        }
        line.extend_from_slice(b"\"\r\n");
        check_prefixes(&line, &[b"ECHO".to_vec(), arg]);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        drain(&data);
    }
}

#[test]
fn unauthenticated_limits() {
    let anon = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    assert_eq!(
        parse_with(b"*11\r\n", &anon),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    assert_eq!(
        parse_with(b"*1\r\n$16385\r\n", &anon),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
    assert_eq!(
        ProtocolError::UnauthenticatedBulkLength.to_string(),
        "unauthenticated bulk length"
    );
    // At the limits, and once authenticated, the same requests frame.
    let ten = format!("*10\r\n{}", "$1\r\na\r\n".repeat(10));
    assert!(matches!(parse_with(ten.as_bytes(), &anon), Ok(Some(_))));
    assert_eq!(parse(b"*11\r\n"), Ok(None));
    assert_eq!(parse(b"*1\r\n$16385\r\n"), Ok(None));
}

/// Headers the one-pass reader of canonical lengths declines go through the general path
/// and keep its answers: leading zeros, signs, over-limit lengths, 19-digit numbers,
/// lengths whose payload has not fully arrived.
#[test]
fn canonical_header_fast_path_falls_back_exactly() {
    assert_eq!(err(b"*1\r\n$01\r\nx\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*1\r\n$+1\r\nx\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(
        err(b"*01\r\n$1\r\nx\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(
        err(b"*1\r\n$1000000000000000000\r\n"),
        ProtocolError::InvalidBulkLength
    );
    let limits = small_limits();
    let big = format!("*1\r\n${}\r\n", limits.max_bulk_len + 1);
    assert_eq!(
        parse_with(big.as_bytes(), &limits).unwrap_err(),
        ProtocolError::InvalidBulkLength
    );
    assert!(parse(b"*2\r\n$3\r\nGET\r\n$5\r\nab").unwrap().is_none());
    assert_eq!(
        err(b"*1\r\n$2\r\nabcd\r\n"),
        ProtocolError::ExpectedCrlfAfterBulk
    );
    let (n, a) = complete(b"*2\r\n$3\r\nGET\r\n$12\r\nkey:00000001\r\n");
    assert_eq!((n, a), (32, args(&[b"GET", b"key:00000001"])));
}

#[test]
fn unauthenticated_limits_apply_to_complete_requests() {
    let anon = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    let eleven = format!("*11\r\n{}", "$1\r\na\r\n".repeat(11));
    assert_eq!(
        parse_with(eleven.as_bytes(), &anon),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    let big = format!("*1\r\n$16385\r\n{}\r\n", "b".repeat(16385));
    assert_eq!(
        parse_with(big.as_bytes(), &anon),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
    assert!(matches!(parse(big.as_bytes()), Ok(Some(_))));
}

#[test]
fn peek_arg_finds_an_argument_and_the_frame_length() {
    let two = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    let (key, len) = peek_arg(two, 1).expect("complete frame");
    assert_eq!(key, b"key");
    assert_eq!(len, 29);
    assert_eq!(peek_arg(&two[len..], 1), Some((&b"k"[..], 20)));
    assert_eq!(peek_arg(two, 0).map(|a| a.0), Some(&b"SET"[..]));
    // No such argument, incomplete, inline, oversized numbers: nothing.
    assert_eq!(peek_arg(&two[len..], 2), None);
    assert_eq!(peek_arg(&two[..28], 1), None);
    assert_eq!(peek_arg(b"SET key v\r\n", 1), None);
    assert_eq!(peek_arg(b"*1\r\n$99999999999999999999\r\n", 0), None);
    assert_eq!(peek_arg(b"*2\r\n$3\r\nGET\r\n:1\r\n", 1), None);
}

proptest::proptest! {
    /// Whatever the bytes, a peek never panics, and on a frame that `parse_command`
    /// accepts it agrees on the length and the argument.
    #[test]
    fn peek_arg_agrees_with_the_parser(args in proptest::collection::vec(
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 1..6),
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60)) {
        let mut frame = Vec::new();
        crate::encode_command(&args, &mut frame);
        let (arg, len) = peek_arg(&frame, args.len() - 1).expect("a canonical frame");
        proptest::prop_assert_eq!(len, frame.len());
        proptest::prop_assert_eq!(arg, &args[args.len() - 1][..]);
        let _ = peek_arg(&junk, 1);
    }
}
