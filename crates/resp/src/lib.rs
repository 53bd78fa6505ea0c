//! RESP2/RESP3 protocol support for Cinnabar.
//!
//! Three independent pieces live here, none of which depends on the server:
//!
//! * [`parse`]: the server-side request framer. It turns bytes received from
//!   a client into argument spans ([`Argv`]) without allocating per command,
//!   and reproduces the protocol errors Redis 7.2 emits.
//! * [`reply`]: [`ReplyBuf`], an append-only reply encoder that knows whether
//!   the connection speaks RESP2 or RESP3 and degrades RESP3 types the way
//!   Redis does.
//! * [`frame`]: [`Frame`], a generic owned RESP value with a parser and
//!   encoders, for clients, tests and tools (not the server hot path).

pub mod frame;
pub mod parse;
pub mod reply;

pub use frame::{encode_command, Frame, FrameError};
pub use parse::{parse_command, peek_arg, Argv, Limits, ProtocolError};
pub use reply::{Deferred, Protocol, ReplyBuf};

/// Position of the first `needle` byte in `hay`.
///
/// The standard library has no public `memchr`, and the workspace does not
/// pull in the `memchr` crate, so this scans eight bytes at a time with the
/// classic "has zero byte" word trick. Lines searched by the framers can be
/// tens of kilobytes long (inline commands, garbage input up to the 64 KiB
/// limit), which is where the word-at-a-time scan pays off.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunk of 8")) ^ pattern;
        // A byte of `word` is zero exactly where `hay` had `needle`. The
        // lowest flagged byte is always a true match (false positives can only
        // appear above a real zero byte), so trailing_zeros finds the first.
        let zeros = word.wrapping_sub(LO) & !word & HI;
        if zeros != 0 {
            return Some(base + (zeros.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

/// Parse a decimal integer exactly as Redis's `string2ll` does.
///
/// Strict on purpose: no sign other than a leading `-`, no `+`, no leading
/// zeros (so `-0` and `01` are rejected), no whitespace, no trailing bytes,
/// and overflow is an error. Clients that send anything else get the same
/// protocol error they would from Redis.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] if digits.len() <= 19 => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // Allows i64::MIN, whose magnitude does not fit in i64.
        (value <= 1u64 << 63).then(|| (value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_matches_naive_search() {
        let hay: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        for needle in 0..=255u8 {
            for start in 0..hay.len() {
                let naive = hay[start..].iter().position(|&b| b == needle);
                assert_eq!(find_byte(&hay[start..], needle), naive, "needle {needle}");
            }
        }
        assert_eq!(find_byte(b"", b'x'), None);
        // High bytes next to the needle must not create false positives.
        assert_eq!(
            find_byte(b"\x80\x81\xff\xfe\x01\x0d\x0d\x0a\x0d", b'\n'),
            Some(7)
        );
        assert_eq!(
            find_byte(b"\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0d", b'\r'),
            Some(9)
        );
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"7"), Some(7));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"1234567890"), Some(1_234_567_890));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"a1",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"1.0",
            b"--1",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
