use cinnabar_cli::split_args;

fn split(s: &str) -> Option<Vec<Vec<u8>>> {
    split_args(s.as_bytes())
}

fn v(items: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    Some(items.iter().map(|i| i.to_vec()).collect())
}

#[test]
fn plain_words() {
    assert_eq!(split(""), Some(vec![]));
    assert_eq!(split("   \t "), Some(vec![]));
    assert_eq!(split("set k v"), v(&[b"set", b"k", b"v"]));
    assert_eq!(split("  get   key  "), v(&[b"get", b"key"]));
}

#[test]
fn double_quotes_and_escapes() {
    assert_eq!(split(r#"set k "a b""#), v(&[b"set", b"k", b"a b"]));
    assert_eq!(
        split(r#""\x41\x7a\xff" "\n\r\t\b\a" "q\"q" "\\""#),
        v(&[b"Az\xff", b"\n\r\t\x08\x07", b"q\"q", b"\\"])
    );
    // \x without two hex digits keeps the x.
    assert_eq!(split(r#""\xZZ""#), v(&[b"xZZ"]));
    assert_eq!(split(r#""""#), v(&[b""]));
    // A quote may start in the middle of a word.
    assert_eq!(split(r#"a"b c""#), v(&[b"ab c"]));
}

#[test]
fn single_quotes() {
    assert_eq!(split(r"'a b' 'it\'s' '\n'"), v(&[b"a b", b"it's", b"\\n"]));
}

#[test]
fn invalid() {
    assert_eq!(split(r#"set "unterminated"#), None);
    assert_eq!(split("set 'unterminated"), None);
    assert_eq!(split(r#""a"b"#), None);
    assert_eq!(split("'a'b"), None);
}
