//! The x86-64 80-bit `long double` Redis uses for INCRBYFLOAT and HINCRBYFLOAT, emulated
//! exactly in software (`string2ld`, `+`, `ld2string(LD_STR_HUMAN)`), plus a plain `f64`
//! approximation for callers that want one.

use super::*;

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
    #[cfg(test)]
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
    pub(super) fn sum(self, rhs: LongDouble) -> LongDouble {
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

    /// The nearest `f64` (tests compare with it).
    #[cfg(test)]
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
    #[cfg(test)]
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
    pub(super) fn from_rounded(r: Rounded) -> Option<LdClass> {
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
pub(super) struct Big {
    pub(super) limbs: Vec<u32>,
}

impl Big {
    pub(super) fn from_u64(v: u64) -> Big {
        let mut b = Big {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        b.trim();
        b
    }

    pub(super) fn from_decimal(digits: impl Iterator<Item = u8>) -> Big {
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

    pub(super) fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    /// self = self * mul + add.
    pub(super) fn mul_add_small(&mut self, mul: u32, add: u32) {
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

    pub(super) fn mul_pow10(&mut self, mut n: u64) {
        while n >= 9 {
            self.mul_add_small(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.mul_add_small(10u32.pow(n as u32), 0);
        }
    }

    pub(super) fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(top) => self.limbs.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    pub(super) fn shl(&mut self, n: u64) {
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

    pub(super) fn shr(&mut self, n: u64) {
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
    pub(super) fn any_low_bits(&self, n: u64) -> bool {
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

    pub(super) fn low_u128(&self) -> u128 {
        self.limbs
            .iter()
            .take(4)
            .enumerate()
            .fold(0u128, |acc, (i, &l)| acc | (u128::from(l) << (32 * i)))
    }

    pub(super) fn cmp_big(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// self -= other; requires self >= other.
    pub(super) fn sub_assign(&mut self, other: &Big) {
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
    pub(super) fn div_small_quotient(mut self, den: &Big, bits: u32) -> (u128, bool) {
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

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
}
