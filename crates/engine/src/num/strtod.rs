//! C `strtod` / `strtold` syntax as glibc accepts it (decimal and hex forms, inf, nan), and
//! the correctly rounded conversion to the binary formats both paths share.

use super::*;

/// What C `strtod` recognised, when it consumed the *entire* input.
#[derive(Debug, Clone, Copy)]
pub(super) struct CFloat<'a> {
    pub(super) negative: bool,
    pub(super) kind: CFloatKind<'a>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum CFloatKind<'a> {
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
pub(super) fn scan_c_float(s: &[u8]) -> Option<CFloat<'_>> {
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

/// Result of rounding an exact value to a binary floating-point format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rounded {
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
pub(super) struct Format {
    prec: u32,
    min_e: i64,
    max_e: i64,
}

pub(super) const F64_FORMAT: Format = Format {
    prec: 53,
    min_e: -1074,
    max_e: 971,
};

/// x87 80-bit extended precision: 64-bit significand with explicit integer
/// bit, exponent bias 16383, subnormals down to 2^-16445.
pub(super) const X87_FORMAT: Format = Format {
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
pub(super) fn round_to_format(mant: u128, exp2: i64, sticky: bool, fmt: Format) -> Rounded {
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
pub(super) fn hex_parts(int: &[u8], frac: &[u8], exp: i64) -> Option<(u128, i64, bool)> {
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

pub(super) fn f64_from_rounded(negative: bool, r: Rounded) -> f64 {
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
pub(super) enum CConv<T> {
    Ok(T),
    /// Non-zero input rounded to zero.
    Underflow,
    /// Finite input rounded to infinity.
    Overflow,
    Nan,
}

/// C `strtod` on an already scanned input.
pub(super) fn strtod_value(f: &CFloat<'_>) -> CConv<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

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
    }
}
