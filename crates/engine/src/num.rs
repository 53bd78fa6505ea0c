//! Number parsing and formatting with the exact semantics of Redis 7.2.
//!
//! Everything that turns client bytes into numbers (or numbers into reply
//! bytes) for `INCR*`, `SETRANGE`, `BIT*`, `ZADD`, `INCRBYFLOAT`, ... goes
//! through here, so that accepted inputs, rejected inputs and the exact reply
//! text match Redis byte for byte:
//!
//! * [`parse_i64`] — Redis `string2ll` (strict canonical integers);
//! * [`parse_u64`] — Redis `string2ull` (`string2ll`, then a `strtoull`
//!   fallback with all of its quirks);
//! * [`parse_f64`] — Redis `string2d` / `getDoubleFromObject` (a strict
//!   `strtod`);
//! * [`format_double`] — Redis 7.2 `d2string`, used by `addReplyDouble` for
//!   both RESP2 bulk strings and RESP3 doubles (integers via `ll2string`,
//!   everything else via fpconv's Grisu2, reproduced exactly);
//! * [`LongDouble`] / [`incrbyfloat`] — an exact software emulation of the
//!   x86-64 80-bit `long double` that Redis uses for `INCRBYFLOAT` and
//!   `HINCRBYFLOAT` (`string2ld`, `+`, `ld2string(LD_STR_HUMAN)`), so that for
//!   example `0.1 + 0.2` yields `"0.3"` exactly like Redis;
//! * [`parse_long_double`] / [`format_incrbyfloat`] — the simpler `f64`
//!   approximation of the same, kept for callers that want plain `f64`s.
//!
//! Platform assumptions (documented where they matter): Redis is taken to run
//! on x86-64 Linux with glibc, i.e. `long double` is the x87 extended format
//! and `strtod`/`strtold`/`printf` are correctly rounded (ties to even).

use std::cmp::Ordering;

// ---------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------

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

/// Appends the decimal representation of `n`.
pub fn write_u64(n: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

// ---------------------------------------------------------------------------
// strtod / strtold syntax
// ---------------------------------------------------------------------------

/// What C `strtod` recognised, when it consumed the *entire* input.
#[derive(Debug, Clone, Copy)]
struct CFloat<'a> {
    negative: bool,
    kind: CFloatKind<'a>,
}

#[derive(Debug, Clone, Copy)]
enum CFloatKind<'a> {
    Infinity,
    Nan,
    /// `int.frac` (decimal digits) times `10^exp`.
    Decimal {
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
    /// `0x int.frac` (hex digits) times `2^exp`.
    Hex {
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
}

/// Scans `s` with glibc `strtod`'s grammar and returns what was recognised,
/// but only if the whole input was consumed and it does not start with
/// whitespace (Redis rejects leading spaces explicitly and trailing bytes via
/// the end-pointer check).  Embedded NUL bytes therefore always fail, as in
/// Redis where `strtod` stops at them.
fn scan_c_float(s: &[u8]) -> Option<CFloat<'_>> {
    let mut i = 0;
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.first() {
        negative = sign == b'-';
        i = 1;
    }
    let rest = &s[i..];
    let kind = if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        CFloatKind::Infinity
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"nan") {
        // "nan" optionally followed by "(n-char-sequence)".
        let tail = &rest[3..];
        let ok = tail.is_empty()
            || (tail.len() >= 2
                && tail[0] == b'('
                && tail[tail.len() - 1] == b')'
                && tail[1..tail.len() - 1]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_'));
        if !ok {
            return None;
        }
        CFloatKind::Nan
    } else if rest.len() >= 3
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit()
            || (rest[2] == b'.' && rest.get(3).is_some_and(u8::is_ascii_hexdigit)))
    {
        let (int, frac, after) = scan_mantissa(&rest[2..], |c| c.is_ascii_hexdigit());
        let exp = scan_exponent(after, b'p', s.len())?;
        CFloatKind::Hex { int, frac, exp }
    } else {
        let (int, frac, after) = scan_mantissa(rest, |c| c.is_ascii_digit());
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let exp = scan_exponent(after, b'e', s.len())?;
        CFloatKind::Decimal { int, frac, exp }
    };
    Some(CFloat { negative, kind })
}

/// Splits `digits* [. digits*]` off the front of `s`.
fn scan_mantissa(s: &[u8], is_digit: impl Fn(&u8) -> bool) -> (&[u8], &[u8], &[u8]) {
    let int_len = s.iter().take_while(|c| is_digit(c)).count();
    let (int, rest) = s.split_at(int_len);
    match rest.split_first() {
        Some((b'.', after_dot)) => {
            let frac_len = after_dot.iter().take_while(|c| is_digit(c)).count();
            let (frac, rest) = after_dot.split_at(frac_len);
            (int, frac, rest)
        }
        _ => (int, &[], rest),
    }
}

/// Parses an optional exponent (`e`/`p`, optional sign, digits) that must end
/// the input.  `strtod` only consumes the exponent marker when digits follow,
/// otherwise it is trailing garbage, so in both cases anything other than a
/// well-formed exponent is a rejection.  The value saturates: it is clamped
/// well beyond any exponent that could change the result for an input of
/// `input_len` bytes.
fn scan_exponent(s: &[u8], marker: u8, input_len: usize) -> Option<i64> {
    let Some((&m, rest)) = s.split_first() else {
        return Some(0);
    };
    if (m | 0x20) != marker {
        return None;
    }
    let (negative, digits) = match rest.split_first() {
        Some((&sign @ (b'+' | b'-'), d)) => (sign == b'-', d),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Any exponent beyond this bound saturates the result to 0 or infinity
    // regardless of the mantissa, so clamping keeps all later arithmetic
    // small and overflow-free.
    let limit = i64::try_from(input_len)
        .unwrap_or(i64::MAX / 8)
        .saturating_mul(4)
        .saturating_add(40_000);
    let mut v: i64 = 0;
    for &c in digits {
        v = (v * 10 + i64::from(c - b'0')).min(limit);
    }
    Some(if negative { -v } else { v })
}

// ---------------------------------------------------------------------------
// Binary rounding shared by the f64 and long double paths
// ---------------------------------------------------------------------------

/// Result of rounding an exact value to a binary floating-point format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounded {
    /// The (non-zero) input rounded to zero: `ERANGE` underflow.
    Zero,
    /// `m * 2^e`, with `m < 2^prec`; `m >= 2^(prec-1)` unless `e == min_e`
    /// (subnormal).
    Finite { m: u64, e: i64 },
    /// Too large: `ERANGE` overflow to infinity.
    Overflow,
}

/// Binary format parameters: precision in bits and the exponent range of
/// the integer significand (`value = m * 2^e`).
#[derive(Debug, Clone, Copy)]
struct Format {
    prec: u32,
    min_e: i64,
    max_e: i64,
}

const F64_FORMAT: Format = Format {
    prec: 53,
    min_e: -1074,
    max_e: 971,
};

/// x87 80-bit extended precision: 64-bit significand with explicit integer
/// bit, exponent bias 16383, subnormals down to 2^-16445.
const X87_FORMAT: Format = Format {
    prec: 64,
    min_e: -16445,
    max_e: 16320,
};

/// Rounds `mant * 2^exp2` (plus a tiny positive amount if `sticky`) to
/// nearest, ties to even, in format `fmt` — the IEEE default rounding used by
/// glibc's `strtod`/`strtold` and by the FPU.
///
/// When `sticky` is set the caller must supply at least `prec + 2`
/// significant bits in `mant`, so the sticky bits lie strictly below the
/// rounding position.
fn round_to_format(mant: u128, exp2: i64, sticky: bool, fmt: Format) -> Rounded {
    if mant == 0 {
        return Rounded::Zero;
    }
    let bitlen = i64::from(128 - mant.leading_zeros());
    let mut shift = bitlen - i64::from(fmt.prec);
    let mut e = exp2.saturating_add(shift);
    if e < fmt.min_e {
        shift += fmt.min_e - e;
        e = fmt.min_e;
    }
    let mut m: u128 = if shift <= 0 {
        mant << (-shift) // exact: fits since bitlen - shift <= prec
    } else if shift > 128 {
        0 // below half of the smallest step
    } else {
        let (q, low, half) = if shift == 128 {
            (0u128, mant, 1u128 << 127)
        } else {
            (
                mant >> shift,
                mant & ((1u128 << shift) - 1),
                1u128 << (shift - 1),
            )
        };
        let up = low > half || (low == half && (sticky || q & 1 == 1));
        q + u128::from(up)
    };
    if m >> fmt.prec != 0 {
        // Rounding carried into a new bit.
        m >>= 1;
        e += 1;
    }
    if m == 0 {
        return Rounded::Zero;
    }
    if e > fmt.max_e {
        return Rounded::Overflow;
    }
    // m < 2^prec <= 2^64 here.
    Rounded::Finite { m: m as u64, e }
}

/// Converts hex mantissa digits and a binary exponent to a significand of at
/// least 125 bits (when inexact) plus sticky flag; `None` if all digits are 0.
fn hex_parts(int: &[u8], frac: &[u8], exp: i64) -> Option<(u128, i64, bool)> {
    let mut mant: u128 = 0;
    let mut exp2 = exp;
    let mut used = 0u32; // significant digits accumulated
    let mut sticky = false;
    let digits = int
        .iter()
        .map(|&c| (c, false))
        .chain(frac.iter().map(|&c| (c, true)));
    for (c, is_frac) in digits {
        let d = hex_value(c);
        if used == 0 && d == 0 {
            // Leading zero: only its position matters.
            if is_frac {
                exp2 -= 4;
            }
            continue;
        }
        if used < 32 {
            mant = (mant << 4) | u128::from(d);
            used += 1;
            if is_frac {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !is_frac {
                exp2 += 4;
            }
        }
    }
    (mant != 0).then_some((mant, exp2, sticky))
}

#[inline]
fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn f64_from_rounded(negative: bool, r: Rounded) -> f64 {
    let magnitude = match r {
        Rounded::Zero => 0.0,
        Rounded::Overflow => f64::INFINITY,
        Rounded::Finite { m, e } => {
            if m < HIDDEN_BIT {
                f64::from_bits(m) // subnormal (e == -1074)
            } else {
                let biased = u64::try_from(e + 1075).unwrap_or(0);
                f64::from_bits((biased << 52) | (m & FRAC_MASK))
            }
        }
    };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Outcome of a C float conversion: the value plus glibc's `ERANGE` cases.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CConv<T> {
    Ok(T),
    /// Non-zero input rounded to zero.
    Underflow,
    /// Finite input rounded to infinity.
    Overflow,
    Nan,
}

/// C `strtod` on an already scanned input.
fn strtod_value(f: &CFloat<'_>) -> CConv<f64> {
    let sign = |v: f64| if f.negative { -v } else { v };
    match f.kind {
        CFloatKind::Nan => CConv::Nan,
        CFloatKind::Infinity => CConv::Ok(sign(f64::INFINITY)),
        CFloatKind::Hex { int, frac, exp } => match hex_parts(int, frac, exp) {
            None => CConv::Ok(sign(0.0)),
            Some((mant, exp2, sticky)) => match round_to_format(mant, exp2, sticky, F64_FORMAT) {
                Rounded::Zero => CConv::Underflow,
                Rounded::Overflow => CConv::Overflow,
                r => CConv::Ok(f64_from_rounded(f.negative, r)),
            },
        },
        CFloatKind::Decimal { int, frac, exp } => {
            let all_zero = int.iter().chain(frac).all(|&c| c == b'0');
            if all_zero {
                return CConv::Ok(sign(0.0));
            }
            // Rust's parser is correctly rounded, like glibc's.  Rebuild a
            // canonical text so that grammar differences cannot matter.
            let mut text = String::with_capacity(int.len() + frac.len() + 24);
            if f.negative {
                text.push('-');
            }
            // Both slices are ASCII digits (checked by the scanner).
            text.extend(int.iter().map(|&c| char::from(c)));
            if int.is_empty() {
                text.push('0');
            }
            text.push('.');
            text.extend(frac.iter().map(|&c| char::from(c)));
            text.push('0');
            text.push('e');
            text.push_str(itoa::Buffer::new().format(exp));
            match text.parse::<f64>() {
                Ok(v) if v.is_infinite() => CConv::Overflow,
                // Non-zero digits that rounded to (either signed) zero.
                Ok(v) if v.to_bits() << 1 == 0 => CConv::Underflow,
                Ok(v) => CConv::Ok(v),
                Err(_) => CConv::Nan, // unreachable: the text is well formed
            }
        }
    }
}

/// Parses a double exactly like Redis `string2d` (used by
/// `getDoubleFromObject`, i.e. `ZADD`, `ZINCRBY`, `GEOADD`, ... scores).
///
/// Accepts everything glibc `strtod` accepts as long as it spans the whole
/// input: optional sign, decimal with optional fraction/exponent (`"1e3"`,
/// `".5"`, `"5."`), hexadecimal floats (`"0x1.8p3"`), and `inf`/`infinity`
/// in any case.  Rejects the empty string, leading whitespace, trailing
/// bytes (including NULs), any NaN, and values that overflow to infinity or
/// underflow to zero (`"1e400"`, `"1e-400"`).  Subnormal results are
/// accepted; `"-0"` gives `-0.0`.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let f = scan_c_float(s)?;
    match strtod_value(&f) {
        CConv::Ok(v) => Some(v),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Double formatting (Redis 7.2 d2string / fpconv_dtoa)
// ---------------------------------------------------------------------------

const FRAC_MASK: u64 = 0x000F_FFFF_FFFF_FFFF;
const EXP_MASK: u64 = 0x7FF0_0000_0000_0000;
const HIDDEN_BIT: u64 = 0x0010_0000_0000_0000;
const SIGN_MASK: u64 = 0x8000_0000_0000_0000;

/// Appends the text Redis 7.2 uses to reply with a double (`addReplyDouble`:
/// the payload of a RESP2 bulk string, or of a RESP3 `,` double), i.e.
/// `d2string`:
///
/// * `nan`, `inf`, `-inf`, `0`, `-0` literally;
/// * integral values with magnitude <= 2^62 as plain integers
///   (`3.0` -> `3`, `1e18` -> `1000000000000000000`);
/// * everything else with fpconv's Grisu2 shortest-digits algorithm and its
///   specific layout: plain notation for "reasonable" exponents, otherwise
///   `d.ddde+XX` / `d.ddde-X` (no zero padding: `1e+20`, `1.5e-7`,
///   `1e+300`).  Note that Grisu2 is *not* always the shortest
///   representation; we reproduce its exact output, not an ideal one.
pub fn format_double(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
    } else if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    } else if let Some(i) = double_to_i64_exact(v) {
        write_i64(i, out);
    } else {
        fpconv_dtoa(v, out);
    }
}

/// Convenience wrapper around [`format_double`].
pub fn double_to_string(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    format_double(v, &mut out);
    // format_double only emits ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Redis `double2ll`: integral doubles within +-2^62 (where the cast is
/// guaranteed lossless) are printed with the integer formatter.
fn double_to_i64_exact(d: f64) -> Option<i64> {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0; // (double)(LLONG_MAX / 2) == 2^62
    if !(-LIMIT..=LIMIT).contains(&d) || d.trunc() != d {
        return None;
    }
    // In range and integral: the conversion is exact.
    Some(d as i64)
}

/// A "do-it-yourself" floating point number `f * 2^e` (Grisu's DiyFp).
#[derive(Debug, Clone, Copy)]
struct DiyFp {
    f: u64,
    e: i32,
}

impl DiyFp {
    /// 64x64 -> upper 64 bits of the product, rounded half up.
    fn mul(self, o: DiyFp) -> DiyFp {
        const LO: u64 = 0xFFFF_FFFF;
        let ah_bl = (self.f >> 32) * (o.f & LO);
        let al_bh = (self.f & LO) * (o.f >> 32);
        let al_bl = (self.f & LO) * (o.f & LO);
        let ah_bh = (self.f >> 32) * (o.f >> 32);
        let tmp = (ah_bl & LO) + (al_bh & LO) + (al_bl >> 32) + (1 << 31);
        DiyFp {
            f: ah_bh
                .wrapping_add(ah_bl >> 32)
                .wrapping_add(al_bh >> 32)
                .wrapping_add(tmp >> 32),
            e: self.e + o.e + 64,
        }
    }
}

/// Normalised 64-bit approximations (round to nearest) of 10^k for
/// k = -348, -340, ..., 340, as `(significand, binary exponent)`.
/// Generated offline with exact rational arithmetic; the
/// `cached_powers_are_correct` test recomputes every entry.
const CACHED_POW10: [(u64, i32); 87] = [
    (0xfa8fd5a0081c0288, -1220),
    (0xbaaee17fa23ebf76, -1193),
    (0x8b16fb203055ac76, -1166),
    (0xcf42894a5dce35ea, -1140),
    (0x9a6bb0aa55653b2d, -1113),
    (0xe61acf033d1a45df, -1087),
    (0xab70fe17c79ac6ca, -1060),
    (0xff77b1fcbebcdc4f, -1034),
    (0xbe5691ef416bd60c, -1007),
    (0x8dd01fad907ffc3c, -980),
    (0xd3515c2831559a83, -954),
    (0x9d71ac8fada6c9b5, -927),
    (0xea9c227723ee8bcb, -901),
    (0xaecc49914078536d, -874),
    (0x823c12795db6ce57, -847),
    (0xc21094364dfb5637, -821),
    (0x9096ea6f3848984f, -794),
    (0xd77485cb25823ac7, -768),
    (0xa086cfcd97bf97f4, -741),
    (0xef340a98172aace5, -715),
    (0xb23867fb2a35b28e, -688),
    (0x84c8d4dfd2c63f3b, -661),
    (0xc5dd44271ad3cdba, -635),
    (0x936b9fcebb25c996, -608),
    (0xdbac6c247d62a584, -582),
    (0xa3ab66580d5fdaf6, -555),
    (0xf3e2f893dec3f126, -529),
    (0xb5b5ada8aaff80b8, -502),
    (0x87625f056c7c4a8b, -475),
    (0xc9bcff6034c13053, -449),
    (0x964e858c91ba2655, -422),
    (0xdff9772470297ebd, -396),
    (0xa6dfbd9fb8e5b88f, -369),
    (0xf8a95fcf88747d94, -343),
    (0xb94470938fa89bcf, -316),
    (0x8a08f0f8bf0f156b, -289),
    (0xcdb02555653131b6, -263),
    (0x993fe2c6d07b7fac, -236),
    (0xe45c10c42a2b3b06, -210),
    (0xaa242499697392d3, -183),
    (0xfd87b5f28300ca0e, -157),
    (0xbce5086492111aeb, -130),
    (0x8cbccc096f5088cc, -103),
    (0xd1b71758e219652c, -77),
    (0x9c40000000000000, -50),
    (0xe8d4a51000000000, -24),
    (0xad78ebc5ac620000, 3),
    (0x813f3978f8940984, 30),
    (0xc097ce7bc90715b3, 56),
    (0x8f7e32ce7bea5c70, 83),
    (0xd5d238a4abe98068, 109),
    (0x9f4f2726179a2245, 136),
    (0xed63a231d4c4fb27, 162),
    (0xb0de65388cc8ada8, 189),
    (0x83c7088e1aab65db, 216),
    (0xc45d1df942711d9a, 242),
    (0x924d692ca61be758, 269),
    (0xda01ee641a708dea, 295),
    (0xa26da3999aef774a, 322),
    (0xf209787bb47d6b85, 348),
    (0xb454e4a179dd1877, 375),
    (0x865b86925b9bc5c2, 402),
    (0xc83553c5c8965d3d, 428),
    (0x952ab45cfa97a0b3, 455),
    (0xde469fbd99a05fe3, 481),
    (0xa59bc234db398c25, 508),
    (0xf6c69a72a3989f5c, 534),
    (0xb7dcbf5354e9bece, 561),
    (0x88fcf317f22241e2, 588),
    (0xcc20ce9bd35c78a5, 614),
    (0x98165af37b2153df, 641),
    (0xe2a0b5dc971f303a, 667),
    (0xa8d9d1535ce3b396, 694),
    (0xfb9b7cd9a4a7443c, 720),
    (0xbb764c4ca7a44410, 747),
    (0x8bab8eefb6409c1a, 774),
    (0xd01fef10a657842c, 800),
    (0x9b10a4e5e9913129, 827),
    (0xe7109bfba19c0c9d, 853),
    (0xac2820d9623bf429, 880),
    (0x80444b5e7aa7cf85, 907),
    (0xbf21e44003acdd2d, 933),
    (0x8e679c2f5e44ff8f, 960),
    (0xd433179d9c8cb841, 986),
    (0x9e19db92b4e31ba9, 1013),
    (0xeb96bf6ebadf77d9, 1039),
    (0xaf87023b9bf0ee6b, 1066),
];
const CACHED_POW10_FIRST: i32 = -348;
const CACHED_POW10_STEP: i32 = 8;

/// Picks the cached power of ten that brings a number with binary exponent
/// `exp` into Grisu's working range (result exponent in [-60, -32]).  The
/// starting guess and the direction of the search decide *which* of two
/// valid candidates is used, which changes the digits Grisu2 emits in some
/// cases, so they follow fpconv exactly.
fn cached_pow10(exp: i32) -> (DiyFp, i32) {
    const ONE_LOG_TEN: f64 = 0.301_029_995_663_981_14;
    const EXP_MIN: i32 = -60;
    const EXP_MAX: i32 = -32;
    let approx = (f64::from(-(exp + 87)) * ONE_LOG_TEN) as i32;
    let last = CACHED_POW10.len() - 1;
    let mut idx = usize::try_from((approx - CACHED_POW10_FIRST) / CACHED_POW10_STEP)
        .unwrap_or(0)
        .min(last);
    // At most a couple of steps; bounded to stay panic-free on any input.
    for _ in 0..CACHED_POW10.len() {
        let current = exp + CACHED_POW10[idx].1 + 64;
        if current < EXP_MIN && idx < last {
            idx += 1;
        } else if current > EXP_MAX && idx > 0 {
            idx -= 1;
        } else {
            break;
        }
    }
    let (f, e) = CACHED_POW10[idx];
    let k = CACHED_POW10_FIRST + CACHED_POW10_STEP * idx as i32;
    (DiyFp { f, e }, k)
}

/// fpconv's `round_digit` ("weeding"): moves the last digit down while that
/// brings the result closer to the exact value and stays within bounds.
fn round_digit(digits: &mut [u8], delta: u64, mut rem: u64, kappa: u64, frac: u64) {
    let Some(last) = digits.last_mut() else {
        return;
    };
    while rem < frac
        && delta.wrapping_sub(rem) >= kappa
        && (rem.wrapping_add(kappa) < frac
            || frac.wrapping_sub(rem) > rem.wrapping_add(kappa).wrapping_sub(frac))
    {
        *last = last.wrapping_sub(1);
        rem = rem.wrapping_add(kappa);
    }
}

/// Grisu2 digit generation: returns the number of digits written and adjusts
/// the decimal exponent `k`.
fn generate_digits(
    w: DiyFp,
    upper: DiyFp,
    lower: DiyFp,
    digits: &mut [u8; 18],
    k: &mut i32,
) -> usize {
    let wfrac = upper.f.wrapping_sub(w.f);
    let mut delta = upper.f.wrapping_sub(lower.f);
    // -upper.e is in [32, 60] thanks to the cached power choice; clamp to
    // keep shifts defined even if that invariant were ever violated.
    let shift = u32::try_from(-upper.e).unwrap_or(32).clamp(1, 63);
    let one = 1u64 << shift;
    let mut part1 = upper.f >> shift;
    let mut part2 = upper.f & (one - 1);
    let mut idx = 0usize;
    let mut kappa = 10i32;

    // Integral part, divisors 10^9 down to 10^0.
    let mut div = 1_000_000_000u64;
    while kappa > 0 {
        let digit = part1 / div;
        if digit != 0 || idx != 0 {
            if idx == digits.len() {
                return idx;
            }
            digits[idx] = b'0'.wrapping_add(digit as u8);
            idx += 1;
        }
        part1 -= digit * div;
        kappa -= 1;
        let tmp = (part1 << shift).wrapping_add(part2);
        if tmp <= delta {
            *k += kappa;
            round_digit(&mut digits[..idx], delta, tmp, div << shift, wfrac);
            return idx;
        }
        div /= 10;
    }

    // Fractional part.
    let mut unit = 10u64;
    loop {
        part2 = part2.wrapping_mul(10);
        delta = delta.wrapping_mul(10);
        kappa -= 1;
        let digit = part2 >> shift;
        if digit != 0 || idx != 0 {
            if idx == digits.len() {
                return idx;
            }
            digits[idx] = b'0'.wrapping_add(digit as u8);
            idx += 1;
        }
        part2 &= one - 1;
        if part2 < delta {
            *k += kappa;
            round_digit(
                &mut digits[..idx],
                delta,
                part2,
                one,
                wfrac.wrapping_mul(unit),
            );
            return idx;
        }
        unit = unit.wrapping_mul(10);
    }
}

/// Grisu2 for a finite, non-zero double: digits and decimal exponent `k`
/// such that the value is approximately `digits * 10^k`.
fn grisu2(d: f64, digits: &mut [u8; 18]) -> (usize, i32) {
    let bits = d.to_bits();
    let (frac, exp) = {
        let frac = bits & FRAC_MASK;
        let biased = ((bits & EXP_MASK) >> 52) as i32;
        if biased != 0 {
            (frac + HIDDEN_BIT, biased - 1075)
        } else {
            (frac, -1074)
        }
    };

    // Boundaries m+ and m- (half-way to the neighbours), normalised to the
    // same exponent.
    let mut upper = DiyFp {
        f: (frac << 1) + 1,
        e: exp - 1,
    };
    while upper.f & (HIDDEN_BIT << 1) == 0 {
        upper.f <<= 1;
        upper.e -= 1;
    }
    upper.f <<= 10;
    upper.e -= 10;
    let l_shift = if frac == HIDDEN_BIT { 2 } else { 1 };
    let mut lower = DiyFp {
        f: (frac << l_shift) - 1,
        e: exp - l_shift,
    };
    lower.f <<= u32::try_from(lower.e - upper.e).unwrap_or(0).min(63);
    lower.e = upper.e;

    // Normalise w itself.
    let mut w = DiyFp { f: frac, e: exp };
    while w.f & HIDDEN_BIT == 0 {
        w.f <<= 1;
        w.e -= 1;
    }
    w.f <<= 11;
    w.e -= 11;

    let (cp, k) = cached_pow10(upper.e);
    let w = w.mul(cp);
    let mut upper = upper.mul(cp);
    let mut lower = lower.mul(cp);
    lower.f = lower.f.wrapping_add(1);
    upper.f = upper.f.wrapping_sub(1);

    let mut kk = -k;
    let n = generate_digits(w, upper, lower, digits, &mut kk);
    (n, kk)
}

/// fpconv's `emit_digits` layout rules.
fn emit_digits(digits: &[u8], k: i32, negative: bool, out: &mut Vec<u8>) {
    let nd = digits.len() as i32;
    let mut exp = (k + nd - 1).abs();

    // Plain integer: digits followed by k zeros.
    if k >= 0 && exp < nd + 7 {
        out.extend_from_slice(digits);
        out.resize(out.len() + k as usize, b'0');
        return;
    }

    // Decimal without exponent.
    if k < 0 && (k > -7 || exp < 4) {
        let offset = nd - k.abs();
        if offset <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-offset) as usize, b'0');
            out.extend_from_slice(digits);
        } else {
            let (a, b) = digits.split_at(offset as usize);
            out.extend_from_slice(a);
            out.push(b'.');
            out.extend_from_slice(b);
        }
        return;
    }

    // Scientific notation.
    let nd = nd.min(18 - i32::from(negative));
    let digits = &digits[..nd.max(1) as usize];
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    out.push(if k + nd - 1 < 0 { b'-' } else { b'+' });
    let mut cent = 0;
    if exp > 99 {
        cent = exp / 100;
        out.push(b'0' + cent as u8);
        exp -= cent * 100;
    }
    if exp > 9 {
        let dec = exp / 10;
        out.push(b'0' + dec as u8);
        exp -= dec * 10;
    } else if cent != 0 {
        out.push(b'0');
    }
    out.push(b'0' + (exp % 10) as u8);
}

/// fpconv_dtoa for finite non-zero values (zero and specials are handled by
/// the caller exactly as Redis' `d2string` does before reaching fpconv).
fn fpconv_dtoa(d: f64, out: &mut Vec<u8>) {
    let negative = d.to_bits() & SIGN_MASK != 0;
    if negative {
        out.push(b'-');
    }
    let mut digits = [0u8; 18];
    let (n, k) = grisu2(d, &mut digits);
    if n == 0 {
        // Grisu2 always yields a digit for a non-zero double; stay total.
        out.push(b'0');
        return;
    }
    emit_digits(&digits[..n], k, negative, out);
}

// ---------------------------------------------------------------------------
// long double (INCRBYFLOAT / HINCRBYFLOAT)
// ---------------------------------------------------------------------------

/// Redis' `MAX_LONG_DOUBLE_CHARS`: `string2ld` rejects inputs of this length
/// or longer.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Parses a float like Redis `string2ld` (the parser behind `INCRBYFLOAT` and
/// `HINCRBYFLOAT`), returning the nearest `f64`.
///
/// Acceptance is exactly Redis' (same grammar as [`parse_f64`], at most
/// 5119 bytes, and the overflow/underflow limits of the 80-bit `long double`
/// rather than of `double`).  The *value* is then rounded to `f64`, so inputs
/// beyond the `f64` range come back as `±inf` or `±0.0` although Redis would
/// have accepted them as finite non-zero numbers.  Prefer [`LongDouble`] /
/// [`incrbyfloat`], which are exact.
pub fn parse_long_double(s: &[u8]) -> Option<f64> {
    LongDouble::parse(s)?;
    let f = scan_c_float(s)?;
    match strtod_value(&f) {
        CConv::Ok(v) => Some(v),
        CConv::Overflow => Some(if f.negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        CConv::Underflow => Some(if f.negative { -0.0 } else { 0.0 }),
        CConv::Nan => None,
    }
}

/// Formats an `INCRBYFLOAT` result held as `f64` in the style of Redis'
/// `ld2string(LD_STR_HUMAN)`: fixed notation, never an exponent, at most 17
/// fractional digits, trailing zeros and a trailing dot removed, and `"-0"`
/// printed as `"0"`.
///
/// Redis prints the 80-bit `long double` with `%.17Lf`; an `f64` does not
/// carry those extra bits, so this uses the shortest digits that round-trip
/// the `f64` instead (`10.5 + 0.1` gives `"10.6"`, `3.0` gives `"3"`).  It
/// differs from Redis whenever the two precisions disagree (`0.1 + 0.2` is
/// `"0.30000000000000004"` here but `"0.3"` in Redis); use [`LongDouble`] or
/// [`incrbyfloat`] for exact results.
pub fn format_incrbyfloat(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_owned();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let mut s = v.to_string();
    if let Some(dot) = s.find('.') {
        if s.len() - dot - 1 > 17 {
            s = format!("{v:.17}");
        }
    }
    trim_fraction(&mut s);
    s
}

/// Removes trailing zeros after a '.', then the '.' itself, and turns "-0"
/// into "0" (the LD_STR_HUMAN post-processing).
fn trim_fraction(s: &mut String) {
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').len();
        s.truncate(trimmed);
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        *s = "0".to_owned();
    }
}

/// Errors of [`incrbyfloat`] and the `HINCRBYFLOAT` helpers, with Redis'
/// exact messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IncrFloatError {
    /// The stored value (`INCRBYFLOAT`) or the increment (both commands) is
    /// not a valid float.
    #[error("ERR value is not a valid float")]
    NotAFloat,
    /// `HINCRBYFLOAT`: the stored hash field is not a valid float.
    #[error("ERR hash value is not a float")]
    HashValueNotAFloat,
    /// `HINCRBYFLOAT`: the increment itself is infinite.
    #[error("ERR value is NaN or Infinity")]
    IncrementNanOrInfinity,
    /// The sum is NaN or infinite (nothing must be stored).
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
}

/// Computes `INCRBYFLOAT` exactly as Redis 7.2 on x86-64: parses the current
/// value (`None` for a missing key, which counts as 0) and the increment with
/// `string2ld`, adds them in 80-bit extended precision, and formats the sum
/// with `ld2string(LD_STR_HUMAN)`.  The returned bytes are both the new
/// stored value and the bulk reply (Redis also propagates them as
/// `SET key <value> KEEPTTL`).  Redis checks the key type (`WRONGTYPE`)
/// before either number, so do that first; integer-encoded values are
/// passed as their decimal text.
///
/// Errors: [`IncrFloatError::NotAFloat`] if either input is not a float (the
/// current value is checked first, as in Redis), and
/// [`IncrFloatError::NanOrInfinity`] if the result is NaN or infinite
/// (e.g. `INCRBYFLOAT k inf`).
///
/// `HINCRBYFLOAT` orders its checks differently: see
/// [`hincrbyfloat_parse_increment`] and [`hincrbyfloat_apply`].
pub fn incrbyfloat(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let value = match current {
        Some(s) => LongDouble::parse(s).ok_or(IncrFloatError::NotAFloat)?,
        None => LongDouble::ZERO,
    };
    let incr = LongDouble::parse(incr).ok_or(IncrFloatError::NotAFloat)?;
    finish_increment(value + incr)
}

/// First step of `HINCRBYFLOAT`, which Redis runs *before* looking the key
/// up (so these errors win over `WRONGTYPE`): the increment must parse
/// ([`IncrFloatError::NotAFloat`]) and be finite
/// ([`IncrFloatError::IncrementNanOrInfinity`]).
pub fn hincrbyfloat_parse_increment(incr: &[u8]) -> Result<LongDouble, IncrFloatError> {
    let incr = LongDouble::parse(incr).ok_or(IncrFloatError::NotAFloat)?;
    if incr.is_finite() {
        Ok(incr)
    } else {
        Err(IncrFloatError::IncrementNanOrInfinity)
    }
}

/// Second step of `HINCRBYFLOAT`, after the hash lookup/type check: adds the
/// increment to the field's current value (`None` if the field is missing;
/// integer-encoded values as decimal text) and returns the new value, which
/// is also the reply.  Errors: [`IncrFloatError::HashValueNotAFloat`],
/// [`IncrFloatError::NanOrInfinity`].
pub fn hincrbyfloat_apply(
    current: Option<&[u8]>,
    incr: LongDouble,
) -> Result<Vec<u8>, IncrFloatError> {
    let value = match current {
        Some(s) => LongDouble::parse(s).ok_or(IncrFloatError::HashValueNotAFloat)?,
        None => LongDouble::ZERO,
    };
    finish_increment(value + incr)
}

/// The common tail: reject NaN/infinity, format like `LD_STR_HUMAN`.
fn finish_increment(sum: LongDouble) -> Result<Vec<u8>, IncrFloatError> {
    if !sum.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    let mut out = Vec::with_capacity(24);
    sum.write_human(&mut out);
    Ok(out)
}

/// An exact software model of the x86-64 80-bit `long double` (64-bit
/// significand, round to nearest even, subnormals), covering what Redis does
/// with it: parse (`strtold`), add, test for NaN/infinity, and print with
/// `%.17Lf` (see [`LongDouble::write_human`]).
///
/// Values are immutable and `Copy`.  NaN only arises from `inf + -inf`:
/// [`LongDouble::parse`] never returns one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    class: LdClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LdClass {
    Zero,
    /// `m * 2^e`; `m >= 2^63` unless `e == X87_FORMAT.min_e` (subnormal).
    Finite {
        m: u64,
        e: i64,
    },
    Infinite,
    Nan,
}

impl LongDouble {
    /// Positive zero.
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        class: LdClass::Zero,
    };

    /// Parses exactly like Redis `string2ld`: the [`parse_f64`] grammar over
    /// the whole input, fewer than [`MAX_LONG_DOUBLE_CHARS`] bytes, NaN
    /// rejected, overflow to infinity and underflow to zero rejected
    /// (`ERANGE`), subnormals accepted.  Note that `inf`/`infinity` *are*
    /// accepted (Redis then fails on the sum, not on parsing).
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let f = scan_c_float(s)?;
        let class = match f.kind {
            CFloatKind::Nan => return None,
            CFloatKind::Infinity => LdClass::Infinite,
            CFloatKind::Hex { int, frac, exp } => match hex_parts(int, frac, exp) {
                None => LdClass::Zero,
                Some((mant, exp2, sticky)) => {
                    LdClass::from_rounded(round_to_format(mant, exp2, sticky, X87_FORMAT))?
                }
            },
            CFloatKind::Decimal { int, frac, exp } => match decimal_to_x87(int, frac, exp) {
                None => LdClass::Zero,
                Some(r) => LdClass::from_rounded(r)?,
            },
        };
        Some(LongDouble {
            negative: f.negative,
            class,
        })
    }

    /// The exact value of an integer (every `i64` fits in 64 bits of
    /// significand).  This is how Redis converts integer-encoded values.
    pub fn from_i64(v: i64) -> LongDouble {
        if v == 0 {
            return LongDouble::ZERO;
        }
        let m = v.unsigned_abs();
        let shift = m.leading_zeros();
        LongDouble {
            negative: v < 0,
            class: LdClass::Finite {
                m: m << shift,
                e: -i64::from(shift),
            },
        }
    }

    /// True unless infinite or NaN.
    pub fn is_finite(self) -> bool {
        matches!(self.class, LdClass::Zero | LdClass::Finite { .. })
    }

    /// True for NaN.
    pub fn is_nan(self) -> bool {
        self.class == LdClass::Nan
    }

    /// True for `+inf` and `-inf`.
    pub fn is_infinite(self) -> bool {
        self.class == LdClass::Infinite
    }

    /// IEEE addition in x87 extended precision, round to nearest even (the
    /// [`std::ops::Add`] implementation).
    fn sum(self, rhs: LongDouble) -> LongDouble {
        use LdClass::*;
        let nan = LongDouble {
            negative: false,
            class: Nan,
        };
        match (self.class, rhs.class) {
            (Nan, _) | (_, Nan) => nan,
            (Infinite, Infinite) if self.negative != rhs.negative => nan,
            (Infinite, _) => self,
            (_, Infinite) => rhs,
            (Zero, Zero) => LongDouble {
                negative: self.negative && rhs.negative,
                class: Zero,
            },
            (Zero, _) => rhs,
            (_, Zero) => self,
            (Finite { m: ma, e: ea }, Finite { m: mb, e: eb }) => {
                add_finite((self.negative, ma, ea), (rhs.negative, mb, eb))
            }
        }
    }

    /// The nearest `f64` (for callers that need one, e.g. to compare).
    pub fn to_f64(self) -> f64 {
        let magnitude_sign = |v: f64| if self.negative { -v } else { v };
        match self.class {
            LdClass::Nan => f64::NAN,
            LdClass::Infinite => magnitude_sign(f64::INFINITY),
            LdClass::Zero => magnitude_sign(0.0),
            LdClass::Finite { m, e } => f64_from_rounded(
                self.negative,
                round_to_format(u128::from(m), e, false, F64_FORMAT),
            ),
        }
    }

    /// Appends `ld2string(value, LD_STR_HUMAN)`: `printf("%.17Lf")` (exact
    /// decimal expansion rounded half-to-even at 17 fractional digits), then
    /// trailing zeros and dot removed and `"-0"` turned into `"0"`.
    /// Infinities print as `inf`/`-inf` and NaN as `nan`, as in Redis.
    pub fn write_human(self, out: &mut Vec<u8>) {
        const FRAC_DIGITS: usize = 17;
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17
        let (m, e) = match self.class {
            LdClass::Nan => return out.extend_from_slice(b"nan"),
            LdClass::Infinite => {
                return out.extend_from_slice(if self.negative { b"-inf" } else { b"inf" })
            }
            LdClass::Zero => (0u64, 0i64),
            LdClass::Finite { m, e } => (m, e),
        };
        let start = out.len();
        if self.negative {
            out.push(b'-');
        }
        if e >= 0 {
            // An integer: the fraction is all zeros and gets trimmed away.
            write_u64_shl(m, e.unsigned_abs(), out);
        } else {
            let sh = e.unsigned_abs();
            let (int_part, frac) = if sh >= 64 {
                (0u64, m)
            } else {
                (m >> sh, m & ((1u64 << sh) - 1))
            };
            // frac / 2^sh scaled by 10^17 and rounded half to even; the
            // product is < 2^121 so everything fits in a u128.
            let x = u128::from(frac) * SCALE;
            let mut q = if sh > 122 {
                0 // x < 2^121 <= half of 2^sh: rounds down
            } else {
                let q = x >> sh;
                let r = x & ((1u128 << sh) - 1);
                let half = 1u128 << (sh - 1);
                q + u128::from(r > half || (r == half && q & 1 == 1))
            };
            let mut int_part = u128::from(int_part);
            if q == SCALE {
                int_part += 1;
                q = 0;
            }
            out.extend_from_slice(itoa::Buffer::new().format(int_part).as_bytes());
            if q != 0 {
                let digits = format!("{q:0FRAC_DIGITS$}");
                out.push(b'.');
                out.extend_from_slice(digits.trim_end_matches('0').as_bytes());
            }
        }
        if &out[start..] == b"-0" {
            out.truncate(start);
            out.push(b'0');
        }
    }

    /// [`LongDouble::write_human`] into a new `String`.
    pub fn to_human_string(self) -> String {
        let mut out = Vec::with_capacity(24);
        self.write_human(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// IEEE addition in x87 extended precision, round to nearest even, as
    /// `long double` `+` on x86-64.
    fn add(self, rhs: LongDouble) -> LongDouble {
        self.sum(rhs)
    }
}

impl LdClass {
    /// Maps a rounding result to a value, `None` for the `ERANGE` cases that
    /// `string2ld` rejects.
    fn from_rounded(r: Rounded) -> Option<LdClass> {
        match r {
            Rounded::Finite { m, e } => Some(LdClass::Finite { m, e }),
            Rounded::Zero | Rounded::Overflow => None,
        }
    }
}

/// Adds two finite non-zero extended values (sign, significand, exponent).
fn add_finite(a: (bool, u64, i64), b: (bool, u64, i64)) -> LongDouble {
    // `big` has the larger exponent.
    let (big, small) = if a.2 >= b.2 { (a, b) } else { (b, a) };
    // 62 guard bits: anything shifted out beyond them only matters as a
    // sticky bit, which is folded into bit 0.
    const GUARD: u32 = 62;
    let x = u128::from(big.1) << GUARD;
    let d = big.2 - small.2;
    let y_full = u128::from(small.1) << GUARD;
    let y = if d == 0 {
        y_full
    } else if d >= 126 {
        u128::from(y_full != 0)
    } else {
        let shifted = y_full >> d;
        let lost = y_full & ((1u128 << d) - 1) != 0;
        shifted | u128::from(lost)
    };
    let exp2 = big.2 - i64::from(GUARD);
    let (negative, sum) = if big.0 == small.0 {
        (big.0, x + y) // both < 2^126: no overflow
    } else if x >= y {
        (big.0, x - y)
    } else {
        (small.0, y - x)
    };
    if sum == 0 {
        // Exact cancellation gives +0 when rounding to nearest.
        return LongDouble::ZERO;
    }
    let class = match round_to_format(sum, exp2, false, X87_FORMAT) {
        Rounded::Finite { m, e } => LdClass::Finite { m, e },
        Rounded::Overflow => LdClass::Infinite,
        Rounded::Zero => LdClass::Zero, // cannot happen: sums of subnormals are exact
    };
    LongDouble { negative, class }
}

/// Appends the decimal digits of `m * 2^shift` (any size) using base-10^9
/// limbs.
fn write_u64_shl(m: u64, shift: u64, out: &mut Vec<u8>) {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = Vec::new(); // little-endian, base 10^9
    let mut v = m;
    while v > 0 {
        limbs.push(v % BASE);
        v /= BASE;
    }
    if limbs.is_empty() {
        out.push(b'0');
        return;
    }
    let mut remaining = shift;
    while remaining > 0 {
        let step = remaining.min(29); // limb * 2^29 + carry < 2^64
        remaining -= step;
        let mut carry = 0u64;
        for limb in &mut limbs {
            let x = (*limb << step) + carry;
            *limb = x % BASE;
            carry = x / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut buf = itoa::Buffer::new();
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        out.extend_from_slice(buf.format(*top).as_bytes());
    }
    for limb in iter {
        let s = buf.format(*limb);
        out.resize(out.len() + 9 - s.len(), b'0');
        out.extend_from_slice(s.as_bytes());
    }
}

/// Correctly rounded decimal -> x87 conversion (what glibc `strtold` does).
/// Returns `None` when all digits are zero (an exact zero, not an underflow).
fn decimal_to_x87(int: &[u8], frac: &[u8], exp10: i64) -> Option<Rounded> {
    // Significant digits without leading/trailing zeros; value = D * 10^q.
    let all = || int.iter().chain(frac.iter());
    let total = int.len() + frac.len();
    let lead = all().take_while(|&&c| c == b'0').count();
    if lead == total {
        return None;
    }
    let trail = all().rev().take_while(|&&c| c == b'0').count();
    let nd = total - lead - trail;
    let q = exp10 - frac.len() as i64 + trail as i64;
    let magnitude = nd as i64 + q; // value is in [10^(magnitude-1), 10^magnitude)
                                   // Largest finite x87 value is ~1.19e4932; half the smallest subnormal is
                                   // ~1.8e-4951.  Outside these bounds no big arithmetic is needed.
    if magnitude > 4934 {
        return Some(Rounded::Overflow);
    }
    if magnitude < -4952 {
        return Some(Rounded::Zero);
    }
    let d = Big::from_decimal(all().skip(lead).take(nd).copied());
    if q >= 0 {
        let mut n = d;
        n.mul_pow10(q as u64);
        let t = n.bit_len();
        if t <= 128 {
            return Some(round_to_format(n.low_u128(), 0, false, X87_FORMAT));
        }
        let drop = t - 128;
        let sticky = n.any_low_bits(drop);
        n.shr(drop);
        Some(round_to_format(
            n.low_u128(),
            drop as i64,
            sticky,
            X87_FORMAT,
        ))
    } else {
        // value = D / 10^-q: compute a 68/69-bit quotient plus sticky.
        let mut den = Big::from_u64(1);
        den.mul_pow10(q.unsigned_abs());
        let s = 68 - d.bit_len() as i64 + den.bit_len() as i64;
        let mut num = d;
        if s >= 0 {
            num.shl(s as u64);
        } else {
            den.shl(s.unsigned_abs());
        }
        let (quot, rem_nonzero) = num.div_small_quotient(&den, 70);
        Some(round_to_format(quot, -s, rem_nonzero, X87_FORMAT))
    }
}

/// Minimal unsigned big integer (little-endian 32-bit limbs, no trailing
/// zero limbs), just enough for exact decimal -> binary conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        b.trim();
        b
    }

    fn from_decimal(digits: impl Iterator<Item = u8>) -> Big {
        let mut b = Big { limbs: Vec::new() };
        let mut chunk = 0u32;
        let mut chunk_len = 0u32;
        for c in digits {
            chunk = chunk * 10 + u32::from(c.wrapping_sub(b'0') % 10);
            chunk_len += 1;
            if chunk_len == 9 {
                b.mul_add_small(1_000_000_000, chunk);
                chunk = 0;
                chunk_len = 0;
            }
        }
        if chunk_len > 0 {
            b.mul_add_small(10u32.pow(chunk_len), chunk);
        }
        b
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    /// self = self * mul + add.
    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.limbs {
            let x = u64::from(*limb) * u64::from(mul) + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut n: u64) {
        while n >= 9 {
            self.mul_add_small(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.mul_add_small(10u32.pow(n as u32), 0);
        }
    }

    fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(top) => self.limbs.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    fn shl(&mut self, n: u64) {
        if self.limbs.is_empty() {
            return;
        }
        let words = (n / 32) as usize;
        let bits = (n % 32) as u32;
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.limbs {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry > 0 {
                self.limbs.push(carry);
            }
        }
        if words > 0 {
            let mut shifted = vec![0u32; words];
            shifted.extend_from_slice(&self.limbs);
            self.limbs = shifted;
        }
    }

    fn shr(&mut self, n: u64) {
        let words = (n / 32) as usize;
        if words >= self.limbs.len() {
            self.limbs.clear();
            return;
        }
        self.limbs.drain(..words);
        let bits = (n % 32) as u32;
        if bits > 0 {
            let len = self.limbs.len();
            for i in 0..len {
                let hi = if i + 1 < len {
                    self.limbs[i + 1] << (32 - bits)
                } else {
                    0
                };
                self.limbs[i] = (self.limbs[i] >> bits) | hi;
            }
        }
        self.trim();
    }

    /// True if any of the lowest `n` bits is set.
    fn any_low_bits(&self, n: u64) -> bool {
        let words = (n / 32) as usize;
        let bits = (n % 32) as u32;
        if self.limbs.iter().take(words).any(|&l| l != 0) {
            return true;
        }
        bits > 0
            && self
                .limbs
                .get(words)
                .is_some_and(|&l| l & ((1u32 << bits) - 1) != 0)
    }

    fn low_u128(&self) -> u128 {
        self.limbs
            .iter()
            .take(4)
            .enumerate()
            .fold(0u128, |acc, (i, &l)| acc | (u128::from(l) << (32 * i)))
    }

    fn cmp_big(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// self -= other; requires self >= other.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let o = i64::from(other.limbs.get(i).copied().unwrap_or(0));
            let mut x = i64::from(*limb) - o - borrow;
            if x < 0 {
                x += 1 << 32;
                borrow = 1;
            } else {
                borrow = 0;
            }
            *limb = x as u32;
        }
        self.trim();
    }

    /// Quotient `self / den` when it is known to be below `2^bits`
    /// (`bits <= 128`), by shift-and-subtract; also reports whether the
    /// remainder is non-zero.  Consumes `self` as the running remainder.
    fn div_small_quotient(mut self, den: &Big, bits: u32) -> (u128, bool) {
        let mut shifted = den.clone();
        shifted.shl(u64::from(bits - 1));
        let mut q = 0u128;
        for i in (0..bits).rev() {
            if self.cmp_big(&shifted) != Ordering::Less {
                self.sub_assign(&shifted);
                q |= 1u128 << i;
            }
            shifted.shr(1);
        }
        (q, !self.limbs.is_empty())
    }
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
        out.push(b' ');
        write_u64(u64::MAX, &mut out);
        assert_eq!(out, b"-9223372036854775808 0 18446744073709551615");
    }

    #[test]
    fn parse_f64_accepts_strtod_forms() {
        let cases: &[(&[u8], f64)] = &[
            (b"0", 0.0),
            (b"1", 1.0),
            (b"-1.5", -1.5),
            (b"+1.5", 1.5),
            (b".5", 0.5),
            (b"5.", 5.0),
            (b"1e3", 1000.0),
            (b"1E+3", 1000.0),
            (b"1.e3", 1000.0),
            (b"-.5e-1", -0.05),
            (b"0001.5000", 1.5),
            (b"0x10", 16.0),
            (b"0X1.8p1", 3.0),
            (b"0x.8", 0.5),
            (b"-0x1p-2", -0.25),
            (b"0x1e5", 485.0),
            (b"1e-310", 1e-310),
            (b"4.9406564584124654e-324", 5e-324),
            (b"1.7976931348623157e308", f64::MAX),
            (b"0e-99999", 0.0),
            (b"0e99999", 0.0),
        ];
        for (s, v) in cases {
            assert_eq!(parse_f64(s), Some(*v), "{:?}", String::from_utf8_lossy(s));
        }
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-INFINITY"), Some(f64::NEG_INFINITY));
        let neg_zero = parse_f64(b"-0").unwrap();
        assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    }

    #[test]
    fn parse_f64_rejects() {
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"\t1",
            b"1\0",
            b".",
            b"-",
            b"e3",
            b"1e",
            b"1e+",
            b"1.5x",
            b"0x",
            b"0xg",
            b"0x1p",
            b"nan",
            b"-nan",
            b"NaN(123)",
            b"infin",
            b"infinityy",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"2.4e-324",
            b"0x1p1024",
            b"0x1p-1076",
            b"--1",
            b"+-1",
            b"1,5",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn fmt(v: f64) -> String {
        double_to_string(v)
    }

    #[test]
    fn format_double_matches_redis_7_2() {
        // Expected strings produced by Redis 7.2's d2string/fpconv.
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (-0.1, "-0.1"),
            (1.5, "1.5"),
            (3.0, "3"),
            (-3.0, "-3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e18, "1000000000000000000"),
            (1e19, "1e+19"),
            (-1e19, "-1e+19"),
            (4_611_686_018_427_387_904.0, "4611686018427387904"),
            (-4_611_686_018_427_387_904.0, "-4611686018427387904"),
            (4_611_686_018_427_389_952.0, "4611686018427390000"),
            (1e20, "1e+20"),
            (1.5e20, "1.5e+20"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.00001, "0.00001"),
            (0.0001, "0.0001"),
            (0.001, "0.001"),
            (0.0001234, "1.234e-4"),
            (0.001234, "0.001234"),
            (12345.678901234567, "1.2345678901234567e+4"),
            (1234567.125, "1234567.125"),
            (1e15 + 0.5, "1000000000000000.5"),
            (6.02214, "6.02214"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
            (1e300, "1e+300"),
            (-1e300, "-1e+300"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (5e-310, "5e-310"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1.0000000000000002, "1.0000000000000002"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            // Grisu2 is not always shortest: Redis prints 17 digits here
            // where 16 would round-trip.
            (
                f64::from_bits(0x4b09_362a_f3ba_8fc3),
                "3.0184885696892512e+53",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(fmt(*v), *want, "{v:e}");
        }
    }

    /// Exact 2^-k / 10^k significands via the same big-integer code the
    /// long double parser uses.
    #[test]
    fn cached_powers_are_correct() {
        for (i, &(f, e)) in CACHED_POW10.iter().enumerate() {
            let k = CACHED_POW10_FIRST + CACHED_POW10_STEP * i as i32;
            // value = num / den exactly.
            let mut num = Big::from_u64(1);
            let mut den = Big::from_u64(1);
            if k >= 0 {
                num.mul_pow10(k as u64);
            } else {
                den.mul_pow10(u64::from(k.unsigned_abs()));
            }
            // Scale so that the quotient has 66 bits: 64 + round + guard.
            let s = 66 - num.bit_len() as i64 + den.bit_len() as i64;
            if s >= 0 {
                num.shl(s as u64);
            } else {
                den.shl(s.unsigned_abs());
            }
            let (q, sticky) = num.div_small_quotient(&den, 68);
            let shift = (128 - q.leading_zeros()) as i64 - 64;
            let mut m = q >> shift;
            let rest = q & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            if rest > half || (rest == half && (sticky || m & 1 == 1)) {
                m += 1;
            }
            let mut exp = shift - s;
            if m >> 64 != 0 {
                m >>= 1;
                exp += 1;
            }
            assert_eq!((m as u64, exp as i32), (f, e), "10^{k}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn format_double_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let s = fmt(v);
            if v.is_nan() {
                prop_assert_eq!(s, "nan");
            } else {
                let back = parse_f64(s.as_bytes()).expect("reparse");
                prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", s);
            }
        }

        #[test]
        fn parse_i64_round_trips(v in any::<i64>()) {
            let mut out = Vec::new();
            write_i64(v, &mut out);
            prop_assert_eq!(parse_i64(&out), Some(v));
            prop_assert_eq!(parse_u64(&out), u64::try_from(v).ok());
        }

        #[test]
        fn parsers_never_panic(s in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_i64(&s);
            let _ = parse_u64(&s);
            let _ = parse_f64(&s);
            let _ = parse_long_double(&s);
            let _ = incrbyfloat(Some(&s), b"1");
        }

        #[test]
        fn parse_f64_agrees_with_rust_on_plain_decimals(v in any::<f64>()) {
            prop_assume!(v.is_finite());
            let s = format!("{v:e}");
            prop_assert_eq!(parse_f64(s.as_bytes()), Some(v));
        }

        #[test]
        fn long_double_add_is_commutative_and_exact_for_integers(
            a in -(1i64 << 52)..(1i64 << 52),
            b in -(1i64 << 52)..(1i64 << 52),
        ) {
            let x = LongDouble::from_i64(a);
            let y = LongDouble::from_i64(b);
            prop_assert_eq!(x + y, y + x);
            prop_assert_eq!(x + y, LongDouble::from_i64(a + b));
            prop_assert_eq!((x + y).to_human_string(), (a + b).to_string());
            prop_assert_eq!(LongDouble::parse(a.to_string().as_bytes()), Some(x));
        }
    }

    fn incr(cur: &str, by: &str) -> Result<String, IncrFloatError> {
        incrbyfloat(Some(cur.as_bytes()), by.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn incrbyfloat_matches_redis_on_x86_64() {
        // Expected strings produced by Redis 7.2 (x86-64, glibc).
        let cases: &[(&str, &str, &str)] = &[
            ("10.50", "0.1", "10.6"),
            ("10.6", "-5", "5.6"),
            ("5.0e3", "2.0e2", "5200"),
            ("0.1", "0.2", "0.3"),
            ("1000.1", "0", "1000.09999999999999998"),
            ("0", "1e-300", "0"),
            ("0", "-1e-20", "0"),
            ("0", "-0.000000000000000005", "0"),
            ("0", "0.000000000000000015", "0.00000000000000002"),
            ("1", "1e-17", "1.00000000000000001"),
            ("0.02439024390243902", "-0.024390243902439025", "0"),
            ("17179869184", "1.5", "17179869185.5"),
            ("17179869184", "17179869184", "34359738368"),
            ("0", "1e30", "1000000000000000000024696061952"),
            ("0", "1e-4950", "0"),
            ("0", "0x1p-3", "0.125"),
            ("0", "0x1.8p1", "3"),
            ("-0", "0", "0"),
            ("-0", "-0", "0"),
            ("3.0", "0", "3"),
            ("0", "+.5", "0.5"),
            ("0", "-5.", "-5"),
            ("9223372036854775807", "1", "9223372036854775808"),
            (
                "0",
                "1.23456789012345678901234567890",
                "1.23456789012345679",
            ),
            ("-1.5", "0.5", "-1"),
            // An exact tie at the 17th digit rounds to even.
            ("0", "0.000003814697265625", "0.00000381469726562"),
        ];
        for (cur, by, want) in cases {
            assert_eq!(incr(cur, by).as_deref(), Ok(*want), "{cur} + {by}");
        }
    }

    #[test]
    fn incrbyfloat_errors() {
        use IncrFloatError::*;
        assert_eq!(incr("1.5", "inf"), Err(NanOrInfinity));
        assert_eq!(incr("0", "INFINITY"), Err(NanOrInfinity));
        assert_eq!(incr("inf", "-inf"), Err(NanOrInfinity));
        assert_eq!(incr("1e4932", "1e4932"), Err(NanOrInfinity));
        assert_eq!(incr("0", "1e4933"), Err(NotAFloat));
        assert_eq!(incr("0", "1e-4952"), Err(NotAFloat));
        assert_eq!(incr("0", " 1"), Err(NotAFloat));
        assert_eq!(incr("1 ", "1"), Err(NotAFloat));
        assert_eq!(incr("0", "nan"), Err(NotAFloat));
        assert_eq!(incr("0", "1e"), Err(NotAFloat));
        assert_eq!(incr("0", ""), Err(NotAFloat));
        assert_eq!(incr("0", "0x"), Err(NotAFloat));
        assert_eq!(incr("1\0", "1"), Err(NotAFloat));
        // The stored value is checked before the increment.
        assert_eq!(incr("abc", "inf"), Err(NotAFloat));
        assert_eq!(
            incrbyfloat(None, b"2.5").as_deref(),
            Ok(&b"2.5"[..]),
            "missing key counts as 0"
        );
        // HINCRBYFLOAT's two steps and messages.
        assert_eq!(hincrbyfloat_parse_increment(b"x"), Err(NotAFloat));
        assert_eq!(
            hincrbyfloat_parse_increment(b"-inf"),
            Err(IncrementNanOrInfinity)
        );
        let by = hincrbyfloat_parse_increment(b"0.2").unwrap();
        assert_eq!(
            hincrbyfloat_apply(Some(b"0.1"), by).as_deref(),
            Ok(&b"0.3"[..])
        );
        assert_eq!(hincrbyfloat_apply(None, by).as_deref(), Ok(&b"0.2"[..]));
        assert_eq!(
            hincrbyfloat_apply(Some(b"abc"), by),
            Err(HashValueNotAFloat)
        );
        let big = hincrbyfloat_parse_increment(b"1e4932").unwrap();
        assert_eq!(hincrbyfloat_apply(Some(b"1e4932"), big), Err(NanOrInfinity));
        assert_eq!(
            HashValueNotAFloat.to_string(),
            "ERR hash value is not a float"
        );
        assert_eq!(
            IncrementNanOrInfinity.to_string(),
            "ERR value is NaN or Infinity"
        );
        assert_eq!(NotAFloat.to_string(), "ERR value is not a valid float");
        assert_eq!(
            NanOrInfinity.to_string(),
            "ERR increment would produce NaN or Infinity"
        );
    }

    #[test]
    fn incrbyfloat_large_values() {
        // 1e4932 is finite as a long double: Redis prints all 4933 digits.
        let r = incr("0", "1e4932").unwrap();
        assert_eq!(r.len(), 4933);
        assert!(r.starts_with("1000000000000000000006018949387963891323837774254533114"));
        // Inputs of MAX_LONG_DOUBLE_CHARS bytes or more are rejected.
        let long = "1".repeat(MAX_LONG_DOUBLE_CHARS - 1);
        assert!(LongDouble::parse(long.as_bytes()).is_none()); // ~1e5118 overflows
        let long = format!("0.{}", "1".repeat(MAX_LONG_DOUBLE_CHARS - 3));
        assert!(LongDouble::parse(long.as_bytes()).is_some());
        let long = format!("0.{}", "1".repeat(MAX_LONG_DOUBLE_CHARS - 2));
        assert!(LongDouble::parse(long.as_bytes()).is_none());
    }

    #[test]
    fn long_double_helpers() {
        assert!(LongDouble::parse(b"inf").unwrap().is_infinite());
        assert!(LongDouble::parse(b"nan").is_none());
        let inf = LongDouble::parse(b"inf").unwrap();
        let nan = inf + LongDouble::parse(b"-inf").unwrap();
        assert!(nan.is_nan() && !nan.is_finite());
        assert_eq!(inf + inf, inf);
        assert!((nan + LongDouble::ZERO).is_nan());
        // -0 + -0 stays negative zero; x + -x is +0.
        let nz = LongDouble::parse(b"-0").unwrap();
        assert_eq!(nz + nz, nz);
        let x = LongDouble::parse(b"1.5").unwrap();
        assert_eq!(x + LongDouble::parse(b"-1.5").unwrap(), LongDouble::ZERO);
        assert_eq!(LongDouble::parse(b"0.5").unwrap().to_f64(), 0.5);
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human_string(),
            "-9223372036854775808"
        );
        assert_eq!(LongDouble::ZERO.to_human_string(), "0");
        assert_eq!(
            LongDouble::parse(b"-inf").unwrap().to_human_string(),
            "-inf"
        );
        // Subnormal long doubles survive a round trip through to_f64 as 0.
        assert_eq!(LongDouble::parse(b"1e-4940").unwrap().to_f64(), 0.0);
    }

    #[test]
    fn f64_long_double_approximation() {
        assert_eq!(parse_long_double(b"10.5"), Some(10.5));
        assert_eq!(parse_long_double(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_long_double(b"-1e-400"), Some(-0.0));
        assert_eq!(parse_long_double(b"1e5000"), None);
        assert_eq!(parse_long_double(b"nan"), None);
        assert_eq!(parse_long_double(b" 1"), None);
        assert_eq!(parse_long_double(b"inf"), Some(f64::INFINITY));
        let long = format!("0.{}", "1".repeat(MAX_LONG_DOUBLE_CHARS - 2));
        assert_eq!(parse_long_double(long.as_bytes()), None);

        assert_eq!(format_incrbyfloat(10.5 + 0.1), "10.6");
        assert_eq!(format_incrbyfloat(3.0), "3");
        assert_eq!(format_incrbyfloat(-0.0), "0");
        assert_eq!(format_incrbyfloat(-2.5), "-2.5");
        assert_eq!(format_incrbyfloat(1e-300), "0");
        assert_eq!(format_incrbyfloat(-1e-300), "0");
        assert_eq!(format_incrbyfloat(1.5e-17), "0.00000000000000002");
        assert_eq!(format_incrbyfloat(1e20), "100000000000000000000");
        assert_eq!(format_incrbyfloat(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_incrbyfloat(17179869185.5), "17179869185.5");
    }
}
