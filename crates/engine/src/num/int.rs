//! Integers: Redis's `string2ll` (strict canonical) and `string2ull` (with its `strtoull`
//! fallback), and writing them back.

/// Redis' `LONG_STR_SIZE`: inputs of this length or longer are never integers.
const LONG_STR_SIZE: usize = 21;

/// Parses a signed 64-bit integer exactly like Redis `string2ll`.
///
/// Only the canonical decimal form is accepted, so that the value can be
/// turned back into the identical string (this is what lets Redis store such
/// strings as integers): no sign other than a leading `-`, no whitespace, no
/// leading zeros (except `"0"` itself), no `"-0"`, no overflow, at most 20
/// bytes.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // First digit must be 1-9 (this also rejects "-" alone and "-0").
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        // -(i64::MIN) is representable as u64.
        if v > i64::MIN.unsigned_abs() {
            None
        } else {
            Some(0i64.wrapping_sub_unsigned(v))
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses an unsigned 64-bit integer exactly like Redis `string2ull` (used for
/// stream IDs, for example).
///
/// Redis first tries [`parse_i64`] (rejecting negative results); if that
/// fails it falls back to C `strtoull`, which is much more lenient.  The
/// fallback's quirks are reproduced because clients can observe them:
/// leading whitespace, a `+` sign and leading zeros are accepted, and a `-`
/// sign *negates modulo 2^64* (`"-01"` parses as `18446744073709551615`),
/// while `"-1"` is rejected by the first step.  The input is treated as a C
/// string: parsing stops at the first NUL byte.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    let s = match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    strtoull_whole(s)
}

/// C `strtoull(s, &end, 10)` that must consume the whole (non-empty) input.
fn strtoull_whole(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
        negative = sign == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() {
        return None; // no conversion
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None; // trailing garbage
        }
        // ERANGE on overflow.
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// C-locale `isspace`.
#[inline]
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Appends the decimal representation of `n` (Redis `ll2string`).
pub fn write_i64(n: i64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_i64_accepts_canonical_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"1"), Some(1));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"1234567890"), Some(1_234_567_890));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn parse_i64_rejects_everything_else() {
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"00",
            b"-0",
            b"-01",
            b"1.0",
            b"1e3",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"99999999999999999999",
            b"1\0",
            b"abc",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_u64_follows_string2ull() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        // Negative canonical integers are rejected by the string2ll step...
        assert_eq!(parse_u64(b"-1"), None);
        // ...but strtoull's leniency shows through the fallback.
        assert_eq!(parse_u64(b"-01"), Some(u64::MAX));
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"007"), Some(7));
        assert_eq!(parse_u64(b"+7"), Some(7));
        assert_eq!(parse_u64(b" 7"), Some(7));
        assert_eq!(parse_u64(b"7 "), None);
        assert_eq!(parse_u64(b" "), None);
        assert_eq!(parse_u64(b"1.5"), None);
        // C-string semantics: stops at NUL.
        assert_eq!(parse_u64(b"12\0garbage"), Some(12));
        assert_eq!(parse_u64(b"\x0012"), None);
    }

    #[test]
    fn write_integers() {
        let mut out = Vec::new();
        write_i64(i64::MIN, &mut out);
        out.push(b' ');
        write_i64(0, &mut out);
        assert_eq!(out, b"-9223372036854775808 0");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn parse_i64_round_trips(v in any::<i64>()) {
            let mut out = Vec::new();
            write_i64(v, &mut out);
            prop_assert_eq!(parse_i64(&out), Some(v));
            prop_assert_eq!(parse_u64(&out), u64::try_from(v).ok());
        }
    }
}
