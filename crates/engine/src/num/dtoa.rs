//! Redis 7.2's `d2string`: integral doubles as integers, everything else through fpconv's
//! Grisu2 shortest round-trip digits, reproduced exactly.

use super::*;

pub(super) const FRAC_MASK: u64 = 0x000F_FFFF_FFFF_FFFF;
const EXP_MASK: u64 = 0x7FF0_0000_0000_0000;
pub(super) const HIDDEN_BIT: u64 = 0x0010_0000_0000_0000;
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
    pub(super) fn mul(self, o: DiyFp) -> DiyFp {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }
}
