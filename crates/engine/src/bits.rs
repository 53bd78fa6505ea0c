//! Bitmap operations over byte strings, with the exact semantics of Redis
//! 7.2's `bitops.c` (`GETBIT`, `SETBIT`, `BITCOUNT`, `BITPOS`, `BITOP`,
//! `BITFIELD`, `BITFIELD_RO`).
//!
//! Everything here is pure: the caller owns the string, looks keys up,
//! checks types, and turns results into replies.  Bit 0 is the most
//! significant bit of byte 0 (the order `SETBIT` uses), and bytes past the
//! end of a string read as zero.
//!
//! Argument parsers return `None` on invalid input; the matching Redis error
//! text is exported as an `ERR_*` constant next to each of them.

/// Redis' default `proto-max-bulk-len` (512 MiB): the largest string a client
/// may create, which bounds bit offsets.
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Largest bit offset accepted with the default `proto-max-bulk-len`:
/// `2^32 - 1` (a 512 MiB bitmap).
pub const MAX_BIT_OFFSET: u64 = PROTO_MAX_BULK_LEN * 8 - 1;

/// Error for an invalid or out-of-range bit offset (`GETBIT`, `SETBIT`,
/// `BITFIELD`).
pub const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
/// Error for a `SETBIT` value other than 0 or 1.
pub const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
/// Error for a `BITPOS` bit argument that is an integer other than 0 or 1
/// (a non-integer gets the generic "value is not an integer" error).
pub const ERR_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
/// Error for `BITOP NOT` with more than one source key.
pub const ERR_BITOP_NOT: &str = "ERR BITOP NOT must be called with a single source key.";
/// Error for an invalid `BITFIELD` type.
pub const ERR_BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
/// Error for an invalid `BITFIELD ... OVERFLOW` type.
pub const ERR_BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
/// Error for a write subcommand in `BITFIELD_RO`.
pub const ERR_BITFIELD_RO: &str = "ERR BITFIELD_RO only supports the GET subcommand";

// ---------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------

/// Parses a `GETBIT`/`SETBIT` offset: a canonical non-negative integer
/// (Redis `string2ll`) not above [`MAX_BIT_OFFSET`].  Error:
/// [`ERR_BIT_OFFSET`].
pub fn parse_bit_offset(arg: &[u8]) -> Option<u64> {
    parse_offset_limited(arg, None, Some(PROTO_MAX_BULK_LEN))
}

/// Parses a `BITFIELD` offset for a field of type `ty`: either a bit offset,
/// or `#N` meaning `N * bits` (the N-th field of that width).  Same limit
/// and error as [`parse_bit_offset`].
pub fn parse_offset(arg: &[u8], ty: FieldType) -> Option<u64> {
    parse_offset_limited(arg, Some(ty.bits()), Some(PROTO_MAX_BULK_LEN))
}

/// The general form of Redis' `getBitOffsetFromArgument`.
///
/// * `hash_bits`: `Some(bits)` enables the `#N` form (`N * bits`).
/// * `max_bulk_len`: the configured `proto-max-bulk-len`; offsets whose byte
///   index (`offset / 8`) reaches it are rejected.  `None` disables the check,
///   which is what Redis does for its master link and AOF loading.
///
/// As in Redis (C signed multiplication on x86-64), `#N * bits` wraps around
/// on overflow before the range check.
pub fn parse_offset_limited(
    arg: &[u8],
    hash_bits: Option<u8>,
    max_bulk_len: Option<u64>,
) -> Option<u64> {
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) if bits > 0 => (&arg[1..], Some(i64::from(bits))),
        _ => (arg, None),
    };
    let mut offset = crate::num::parse_i64(digits)?;
    if let Some(bits) = mul {
        offset = offset.wrapping_mul(bits);
    }
    let offset = u64::try_from(offset).ok()?;
    if let Some(limit) = max_bulk_len {
        if offset >> 3 >= limit {
            return None;
        }
    }
    Some(offset)
}

/// Parses the `SETBIT` value: exactly `0` or `1` (canonical integers only).
/// Error: [`ERR_BIT_VALUE`].
pub fn parse_bit_value(arg: &[u8]) -> Option<u8> {
    match crate::num::parse_i64(arg)? {
        0 => Some(0),
        1 => Some(1),
        _ => None,
    }
}

/// Unit of a `BITCOUNT`/`BITPOS` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitUnit {
    /// Indexes are byte indexes (the default).
    #[default]
    Byte,
    /// Indexes are bit indexes.
    Bit,
}

/// Parses `BYTE`/`BIT` (case-insensitive); otherwise Redis replies with a
/// syntax error.
pub fn parse_bit_unit(arg: &[u8]) -> Option<BitUnit> {
    if arg.eq_ignore_ascii_case(b"byte") {
        Some(BitUnit::Byte)
    } else if arg.eq_ignore_ascii_case(b"bit") {
        Some(BitUnit::Bit)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Single bits
// ---------------------------------------------------------------------------

/// Value (0 or 1) of bit `offset`; bits past the end are 0.
pub fn get_bit(s: &[u8], offset: u64) -> u8 {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return 0;
    };
    match s.get(byte) {
        Some(&b) => (b >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

/// Sets bit `offset` to `bit` (any non-zero value means 1), growing the
/// string with zero bytes as needed, and returns the previous bit.
///
/// The caller must have bounded `offset` (see [`parse_bit_offset`]): the
/// string grows to `offset / 8 + 1` bytes.  Offsets that cannot be
/// addressed on this platform leave `s` untouched and return 0.
///
/// Note that Redis considers the key modified when the string had to grow
/// even if the bit value did not change (compare lengths before/after).
pub fn set_bit(s: &mut Vec<u8>, offset: u64, bit: u8) -> u8 {
    if !grow_to_bit(s, offset) {
        return 0;
    }
    let byte = (offset >> 3) as usize; // fits: grow_to_bit succeeded
    let shift = 7 - (offset & 7);
    let old = (s[byte] >> shift) & 1;
    if bit != 0 {
        s[byte] |= 1 << shift;
    } else {
        s[byte] &= !(1 << shift);
    }
    old
}

/// Zero-pads `s` so that bit `max_bit` exists (Redis
/// `lookupStringForBitCommand`).  `BITFIELD` grows the string to its highest
/// *write* offset before executing any subcommand, so a multi-op caller that
/// wants Redis' exact key creation/growth behaviour (even when an op then
/// fails with `OVERFLOW FAIL`) should call this first with
/// `offset + bits - 1` of the furthest write.  Returns false (and leaves `s`
/// alone) if the size is not addressable on this platform.
pub fn grow_to_bit(s: &mut Vec<u8>, max_bit: u64) -> bool {
    let Some(len) = usize::try_from(max_bit >> 3)
        .ok()
        .and_then(|b| b.checked_add(1))
    else {
        return false;
    };
    if s.len() < len {
        s.resize(len, 0);
    }
    true
}

// ---------------------------------------------------------------------------
// BITCOUNT
// ---------------------------------------------------------------------------

/// Number of set bits in `s`.
pub fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut total = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        total += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    total
        + chunks
            .remainder()
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum::<u64>()
}

/// `BITCOUNT key [start end [BYTE|BIT]]` on the string value `s`.
///
/// `range` is `None` for the whole string, or `(start, end, unit)` with
/// inclusive indexes where negative values count from the end.  Follows
/// Redis' quirks: if both indexes are negative and `start > end` the answer
/// is 0 before any clamping, out-of-range indexes are clamped, and an empty
/// range counts 0.  A missing key is 0 (caller).
pub fn bitcount(s: &[u8], range: Option<(i64, i64, BitUnit)>) -> i64 {
    let strlen = s.len() as i64;
    let mut start = 0i64;
    let mut end = strlen - 1;
    let mut first_mask = 0u8; // bits of the first byte before `start`
    let mut last_mask = 0u8; // bits of the last byte after `end`
    if let Some((st, en, unit)) = range {
        if st < 0 && en < 0 && st > en {
            return 0;
        }
        let is_bit = unit == BitUnit::Bit;
        let totlen = if is_bit { strlen << 3 } else { strlen };
        (start, end) = clamp_range(st, en, totlen);
        if is_bit && start <= end {
            first_mask = !(0xFFu8 >> (start & 7));
            last_mask = (0xFFu32 >> ((end & 7) + 1)) as u8;
            start >>= 3;
            end >>= 3;
        }
    }
    if start > end {
        return 0;
    }
    // 0 <= start <= end < strlen here.
    let (start, end) = (start as usize, end as usize);
    let count = popcount(&s[start..=end])
        - u64::from((s[start] & first_mask).count_ones())
        - u64::from((s[end] & last_mask).count_ones());
    count as i64
}

/// Redis' range normalisation: negative indexes count from `totlen`, then
/// both ends are clamped into `[0, totlen - 1]` (which leaves `end == -1`
/// for an empty string).
fn clamp_range(mut start: i64, mut end: i64, totlen: i64) -> (i64, i64) {
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    (start, end)
}

// ---------------------------------------------------------------------------
// BITPOS
// ---------------------------------------------------------------------------

/// Redis `redisBitpos`: position of the first bit equal to `bit` in `s`.  If
/// there is none, returns -1 when looking for 1, and `s.len() * 8` when
/// looking for 0 (the string is considered zero-padded on the right).
fn first_bit(s: &[u8], bit: u8) -> i64 {
    let skip = if bit != 0 { 0x00u8 } else { 0xFF };
    // Skip whole words first: long runs of the "wrong" value are common.
    let skip_word = u64::from_ne_bytes([skip; 8]);
    let mut i = 0;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(w);
        if u64::from_ne_bytes(buf) != skip_word {
            break;
        }
        i += 8;
    }
    while i < s.len() {
        let b = s[i];
        if b != skip {
            let within = if bit != 0 {
                b.leading_zeros()
            } else {
                (!b).leading_zeros()
            };
            return i as i64 * 8 + i64::from(within);
        }
        i += 1;
    }
    if bit != 0 {
        -1
    } else {
        s.len() as i64 * 8
    }
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]` on the string value `s` of an
/// existing key.
///
/// * `bit` is 0 or 1 (anything non-zero is treated as 1); the caller
///   validates the argument ([`ERR_BITPOS_BIT`]).
/// * `start`/`end` are inclusive, negative values count from the end.  The
///   unit only applies when `end` is given (Redis' syntax requires `end`
///   before `BYTE|BIT`).
///
/// Results, exactly as Redis:
///
/// * the absolute bit position of the first match in the range;
/// * looking for 1 and none found: -1;
/// * looking for 0 and none found: -1 if `end` was given, otherwise the bit
///   just past the range (`len * 8` for the whole string), since the string
///   is treated as zero-padded on the right;
/// * an empty range (including an empty string value): -1.
///
/// For a missing key Redis replies without calling this: 0 when looking for
/// 0, -1 when looking for 1.
pub fn bitpos(s: &[u8], bit: u8, start: Option<i64>, end: Option<i64>, unit: BitUnit) -> i64 {
    let bit = u8::from(bit != 0);
    let strlen = s.len() as i64;
    let end_given = start.is_some() && end.is_some();
    let mut first_mask = 0u8;
    let mut last_mask = 0u8;
    let (mut start, end) = match start {
        None => (0, strlen - 1),
        Some(st) => {
            // Redis only parses the unit when `end` is present.
            let is_bit = end_given && unit == BitUnit::Bit;
            let totlen = if is_bit { strlen << 3 } else { strlen };
            let en = end.unwrap_or(totlen - 1);
            let (mut st, mut en) = clamp_range(st, en, totlen);
            if is_bit && st <= en {
                first_mask = !(0xFFu8 >> (st & 7));
                last_mask = (0xFFu32 >> ((en & 7) + 1)) as u8;
                st >>= 3;
                en >>= 3;
            }
            (st, en)
        }
    };
    if start > end {
        return -1;
    }

    // Masks force the out-of-range bits of the edge bytes to the value we
    // are *not* looking for, so they can never match.
    let force = |b: u8, mask: u8| if bit == 1 { b & !mask } else { b | mask };

    // The three-stage scan (partial first byte, whole bytes, partial last
    // byte) mirrors Redis, including how `bytes` evolves, because the
    // "not found" test below depends on it.
    let mut bytes = end - start + 1;
    let pos = 'scan: {
        if first_mask != 0 {
            let mut b = force(s[start as usize], first_mask);
            if last_mask != 0 && bytes == 1 {
                b = force(b, last_mask);
            }
            let pos = first_bit(&[b], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'scan pos;
            }
            start += 1;
            bytes -= 1;
        }
        let whole = bytes - i64::from(last_mask != 0);
        if whole > 0 {
            let from = start as usize;
            let pos = first_bit(&s[from..from + whole as usize], bit);
            if bytes == whole || (pos != -1 && pos != whole << 3) {
                break 'scan pos;
            }
            start += whole;
            bytes -= whole;
        }
        first_bit(&[force(s[end as usize], last_mask)], bit)
    };

    if end_given && bit == 0 && pos == bytes << 3 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + (start << 3)
    }
}

// ---------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------

/// A `BITOP` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Parses `AND`/`OR`/`XOR`/`NOT` (case-insensitive); otherwise Redis replies
/// with a syntax error.
pub fn parse_bitop(arg: &[u8]) -> Option<BitOp> {
    [
        (&b"and"[..], BitOp::And),
        (b"or", BitOp::Or),
        (b"xor", BitOp::Xor),
        (b"not", BitOp::Not),
    ]
    .into_iter()
    .find(|(name, _)| arg.eq_ignore_ascii_case(name))
    .map(|(_, op)| op)
}

/// Computes `BITOP op dest src...` over the source values (missing keys are
/// passed as empty slices).  Shorter inputs are zero-padded to the longest
/// one, so the result is as long as the longest source.
///
/// `NOT` must be given exactly one source ([`ERR_BITOP_NOT`] otherwise; the
/// caller checks): it complements `srcs[0]` and ignores any others.
///
/// An empty result means Redis deletes `dest` instead of storing it; the
/// reply is the result length either way.
pub fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    if op == BitOp::Not {
        return first.iter().map(|b| !b).collect();
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut res = Vec::with_capacity(maxlen);
    res.extend_from_slice(first);
    res.resize(maxlen, 0);
    for src in rest {
        match op {
            BitOp::And => {
                for (r, b) in res.iter_mut().zip(src.iter()) {
                    *r &= b;
                }
                // AND with the zero padding.
                if let Some(tail) = res.get_mut(src.len()..) {
                    tail.fill(0);
                }
            }
            BitOp::Or => {
                for (r, b) in res.iter_mut().zip(src.iter()) {
                    *r |= b;
                }
            }
            BitOp::Xor => {
                for (r, b) in res.iter_mut().zip(src.iter()) {
                    *r ^= b;
                }
            }
            BitOp::Not => {}
        }
    }
    res
}

// ---------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------

/// A `BITFIELD` integer type: `iN` (signed, 1..=64 bits) or `uN` (unsigned,
/// 1..=63 bits; `u64` is not supported because replies are signed 64-bit).
///
/// Prefer [`parse_type`] or [`FieldType::signed`]/[`FieldType::unsigned`]
/// to build one; the field functions clamp out-of-range widths into 1..=64
/// rather than panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Signed(u8),
    Unsigned(u8),
}

impl FieldType {
    /// `iN` for N in 1..=64.
    pub fn signed(bits: u8) -> Option<FieldType> {
        (1..=64).contains(&bits).then_some(FieldType::Signed(bits))
    }

    /// `uN` for N in 1..=63.
    pub fn unsigned(bits: u8) -> Option<FieldType> {
        (1..=63)
            .contains(&bits)
            .then_some(FieldType::Unsigned(bits))
    }

    /// Width in bits (as given; see the type docs for clamping).
    pub fn bits(self) -> u8 {
        match self {
            FieldType::Signed(b) | FieldType::Unsigned(b) => b,
        }
    }

    pub fn is_signed(self) -> bool {
        matches!(self, FieldType::Signed(_))
    }

    /// Width clamped into the range the bit helpers support.
    fn width(self) -> u32 {
        u32::from(self.bits().clamp(1, 64))
    }
}

/// Parses a `BITFIELD` type such as `i8`, `u16`, `i64` (Redis
/// `getBitfieldTypeFromArgument`).  The width must be a canonical integer;
/// as in Redis it is read as a C string, so anything after a NUL byte is
/// ignored (`"i8\0junk"` is `i8`).  Error: [`ERR_BITFIELD_TYPE`].
pub fn parse_type(arg: &[u8]) -> Option<FieldType> {
    let (&sign, rest) = arg.split_first()?;
    let rest = match rest.iter().position(|&c| c == 0) {
        Some(nul) => &rest[..nul],
        None => rest,
    };
    let bits = u8::try_from(crate::num::parse_i64(rest)?).ok()?;
    match sign {
        b'i' => FieldType::signed(bits),
        b'u' => FieldType::unsigned(bits),
        _ => None,
    }
}

/// `BITFIELD` overflow behaviour for `SET` and `INCRBY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wrap around (the default): modular arithmetic, with signed values
    /// wrapping towards the most negative value.
    #[default]
    Wrap,
    /// Saturate at the minimum/maximum representable value.
    Sat,
    /// Do nothing and reply nil.
    Fail,
}

/// Parses `WRAP`/`SAT`/`FAIL` (case-insensitive).  Error:
/// [`ERR_BITFIELD_OVERFLOW`].
pub fn parse_overflow(arg: &[u8]) -> Option<Overflow> {
    if arg.eq_ignore_ascii_case(b"wrap") {
        Some(Overflow::Wrap)
    } else if arg.eq_ignore_ascii_case(b"sat") {
        Some(Overflow::Sat)
    } else if arg.eq_ignore_ascii_case(b"fail") {
        Some(Overflow::Fail)
    } else {
        None
    }
}

/// Reads `bits` (1..=64) bits starting at bit `offset` as an unsigned
/// big-endian number; bits past the end of `s` are zero.
fn read_bits(s: &[u8], offset: u64, bits: u32) -> u64 {
    // A field spans at most 9 bytes (7 bits of misalignment + 64 bits).
    let mut window = [0u8; 16];
    if let Ok(byte) = usize::try_from(offset >> 3) {
        if let Some(src) = s.get(byte..) {
            let n = src.len().min(9);
            window[..n].copy_from_slice(&src[..n]);
        }
    }
    let word = u128::from_be_bytes(window);
    let skip = (offset & 7) as u32;
    ((word << skip) >> (128 - bits)) as u64
}

/// Writes the low `bits` bits of `value` at bit `offset`.  The string must
/// already contain every byte the field touches.
fn write_bits(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return;
    };
    let skip = (offset & 7) as u32;
    let nbytes = (skip + bits).div_ceil(8) as usize;
    let Some(dst) = s.get_mut(byte..byte.saturating_add(nbytes)) else {
        return;
    };
    let mut window = [0u8; 16];
    window[..nbytes].copy_from_slice(dst);
    let word = u128::from_be_bytes(window);
    let field_mask = (u128::MAX >> (128 - bits)) << (128 - skip - bits);
    let field = (u128::from(value) << (128 - bits)) >> skip;
    let word = (word & !field_mask) | (field & field_mask);
    dst.copy_from_slice(&word.to_be_bytes()[..nbytes]);
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits >= 64 {
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

/// `BITFIELD ... GET type offset`: the field's value, reading zeros past the
/// end of the string (so a missing key is `field_get(b"", ..)`).
pub fn field_get(s: &[u8], offset: u64, ty: FieldType) -> i64 {
    let bits = ty.width();
    let raw = read_bits(s, offset, bits);
    if ty.is_signed() {
        sign_extend(raw, bits)
    } else {
        raw as i64
    }
}

/// Outcome of Redis' overflow check: `(direction, replacement)`, direction
/// being 0 (fits), 1 (overflow) or -1 (underflow), and the replacement the
/// value to store instead for `Wrap`/`Sat` (`None` for `Fail`).
type OverflowCheck<T> = (i8, Option<T>);

/// Redis `checkUnsignedBitfieldOverflow`, arithmetic reproduced exactly
/// (two's complement wrap-around where C wraps).
fn check_unsigned(value: u64, incr: i64, bits: u32, ov: Overflow) -> OverflowCheck<u64> {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || {
        let low = if bits >= 64 { u64::MAX } else { max };
        value.wrapping_add(incr as u64) & low
    };
    if value > max || (incr > 0 && incr > max_incr) {
        let limit = match ov {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        };
        (1, limit)
    } else if incr < 0 && incr < min_incr {
        let limit = match ov {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(0),
            Overflow::Fail => None,
        };
        (-1, limit)
    } else {
        (0, None)
    }
}

/// Redis `checkSignedBitfieldOverflow`, arithmetic reproduced exactly.
///
/// A quirk worth knowing: for `SET` of a hugely negative value into a narrow
/// field (e.g. `i64::MIN` into `i8`), Redis' `max - value` wraps and the
/// value is classified as an *overflow*, so `SAT` stores the maximum.
fn check_signed(value: i64, incr: i64, bits: u32, ov: Overflow) -> OverflowCheck<i64> {
    let max = if bits >= 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits < 64;
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if narrow {
            let msb = 1u64 << (bits - 1);
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        let limit = match ov {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        };
        (1, limit)
    } else if value < min
        || (narrow && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        let limit = match ov {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(min),
            Overflow::Fail => None,
        };
        (-1, limit)
    } else {
        (0, None)
    }
}

/// Grows `s` so the field at `offset` exists; false if not addressable.
fn grow_for_field(s: &mut Vec<u8>, offset: u64, bits: u32) -> bool {
    match offset.checked_add(u64::from(bits) - 1) {
        Some(last) => grow_to_bit(s, last),
        None => false,
    }
}

/// `BITFIELD ... SET type offset value`: stores `value` (after applying the
/// overflow policy) and returns the **previous** field value, or `None` when
/// the value does not fit and the policy is [`Overflow::Fail`] (Redis replies
/// nil and writes nothing).
///
/// The string is zero-padded to cover the field first, even when the write
/// then fails, as Redis does.  Offsets must be bounded by the caller (see
/// [`parse_offset`]); unaddressable ones return `None` without touching `s`.
/// To tell whether the value changed (for keyspace notifications), compare
/// the returned old value with [`field_get`] afterwards.
pub fn field_set(
    s: &mut Vec<u8>,
    offset: u64,
    ty: FieldType,
    value: i64,
    ov: Overflow,
) -> Option<i64> {
    let bits = ty.width();
    if !grow_for_field(s, offset, bits) {
        return None;
    }
    let old = field_get(s, offset, ty);
    let new = if ty.is_signed() {
        match check_signed(value, 0, bits, ov) {
            (0, _) => value as u64,
            (_, Some(limit)) => limit as u64,
            (_, None) => return None,
        }
    } else {
        let v = value as u64;
        match check_unsigned(v, 0, bits, ov) {
            (0, _) => v,
            (_, Some(limit)) => limit,
            (_, None) => return None,
        }
    };
    write_bits(s, offset, bits, new);
    Some(old)
}

/// `BITFIELD ... INCRBY type offset increment`: adds `incr` to the field
/// (applying the overflow policy) and returns the **new** value, or `None`
/// on overflow with [`Overflow::Fail`] (nothing written).  Growth and offset
/// rules as for [`field_set`].
pub fn field_incrby(
    s: &mut Vec<u8>,
    offset: u64,
    ty: FieldType,
    incr: i64,
    ov: Overflow,
) -> Option<i64> {
    let bits = ty.width();
    if !grow_for_field(s, offset, bits) {
        return None;
    }
    let raw = read_bits(s, offset, bits);
    let new = if ty.is_signed() {
        let old = sign_extend(raw, bits);
        match check_signed(old, incr, bits, ov) {
            (0, _) => old.wrapping_add(incr),
            (_, Some(limit)) => limit,
            (_, None) => return None,
        }
    } else {
        match check_unsigned(raw, incr, bits, ov) {
            (0, _) => raw.wrapping_add(incr as u64) as i64,
            (_, Some(limit)) => limit as i64,
            (_, None) => return None,
        }
    };
    write_bits(s, offset, bits, new as u64);
    Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offsets_and_values() {
        assert_eq!(MAX_BIT_OFFSET, 4_294_967_295);
        assert_eq!(parse_bit_offset(b"0"), Some(0));
        assert_eq!(parse_bit_offset(b"4294967295"), Some(4_294_967_295));
        assert_eq!(parse_bit_offset(b"4294967296"), None);
        assert_eq!(parse_bit_offset(b"-1"), None);
        assert_eq!(parse_bit_offset(b"01"), None);
        assert_eq!(parse_bit_offset(b"#1"), None);
        assert_eq!(parse_bit_offset(b"1.0"), None);
        let i8t = FieldType::Signed(8);
        assert_eq!(parse_offset(b"#3", i8t), Some(24));
        assert_eq!(parse_offset(b"#0", i8t), Some(0));
        assert_eq!(parse_offset(b"#", i8t), None);
        assert_eq!(parse_offset(b"#-1", i8t), None);
        assert_eq!(parse_offset(b"#536870911", i8t), Some(4_294_967_288));
        assert_eq!(parse_offset(b"#536870912", i8t), None);
        assert_eq!(parse_offset(b"100", i8t), Some(100));
        // C's wrapping multiply: 2^58 + 1 fields of 64 bits is offset 64.
        let i64t = FieldType::Signed(64);
        assert_eq!(parse_offset(b"#288230376151711745", i64t), Some(64));
        // Unlimited (replication/AOF).
        assert_eq!(
            parse_offset_limited(b"8589934592", None, None),
            Some(8_589_934_592)
        );
        assert_eq!(parse_bit_value(b"0"), Some(0));
        assert_eq!(parse_bit_value(b"1"), Some(1));
        for bad in [&b"2"[..], b"-1", b"01", b"", b"true"] {
            assert_eq!(parse_bit_value(bad), None);
        }
        assert_eq!(parse_bit_unit(b"BiT"), Some(BitUnit::Bit));
        assert_eq!(parse_bit_unit(b"byte"), Some(BitUnit::Byte));
        assert_eq!(parse_bit_unit(b"bits"), None);
    }

    #[test]
    fn get_and_set_bits() {
        let mut s = Vec::new();
        assert_eq!(set_bit(&mut s, 7, 1), 0);
        assert_eq!(s, [0x01]);
        assert_eq!(set_bit(&mut s, 0, 1), 0);
        assert_eq!(s, [0x81]);
        assert_eq!(set_bit(&mut s, 0, 1), 1);
        assert_eq!(set_bit(&mut s, 0, 0), 1);
        assert_eq!(s, [0x01]);
        assert_eq!(set_bit(&mut s, 17, 1), 0);
        assert_eq!(s, [0x01, 0x00, 0x40]);
        assert_eq!(get_bit(&s, 17), 1);
        assert_eq!(get_bit(&s, 16), 0);
        assert_eq!(get_bit(&s, 7), 1);
        assert_eq!(get_bit(&s, 1_000_000), 0);
        assert_eq!(get_bit(&s, u64::MAX), 0);
        // "`" is 0x60: bits 1 and 2 set.
        assert_eq!(
            (0..8).map(|i| get_bit(b"`", i)).collect::<Vec<_>>(),
            [0, 1, 1, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn bitcount_cases() {
        let s = b"foobar";
        assert_eq!(bitcount(s, None), 26);
        assert_eq!(bitcount(s, Some((0, 0, BitUnit::Byte))), 4);
        assert_eq!(bitcount(s, Some((1, 1, BitUnit::Byte))), 6);
        assert_eq!(bitcount(s, Some((1, 1, BitUnit::Bit))), 1);
        assert_eq!(bitcount(s, Some((5, 30, BitUnit::Bit))), 17);
        assert_eq!(bitcount(s, Some((0, -1, BitUnit::Byte))), 26);
        assert_eq!(bitcount(s, Some((-2, -1, BitUnit::Byte))), 7);
        assert_eq!(bitcount(s, Some((-1, -2, BitUnit::Byte))), 0);
        assert_eq!(bitcount(s, Some((-100, 100, BitUnit::Byte))), 26);
        assert_eq!(bitcount(s, Some((100, 200, BitUnit::Byte))), 0);
        assert_eq!(bitcount(s, Some((3, 2, BitUnit::Byte))), 0);
        assert_eq!(bitcount(s, Some((0, -1, BitUnit::Bit))), 26);
        assert_eq!(bitcount(s, Some((-1, -1, BitUnit::Bit))), 0); // last bit of 'r'
        assert_eq!(bitcount(s, Some((i64::MIN, i64::MAX, BitUnit::Bit))), 26);
        assert_eq!(bitcount(b"", None), 0);
        assert_eq!(bitcount(b"", Some((0, -1, BitUnit::Byte))), 0);
        assert_eq!(bitcount(b"", Some((0, 0, BitUnit::Bit))), 0);
        assert_eq!(bitcount(b"\xff", Some((3, 3, BitUnit::Bit))), 1);
        assert_eq!(bitcount(b"\xff\xff", Some((3, 12, BitUnit::Bit))), 10);
    }

    #[test]
    fn bitpos_cases() {
        use BitUnit::*;
        // From the Redis documentation.
        let s = b"\xff\xf0\x00";
        assert_eq!(bitpos(s, 0, None, None, Byte), 12);
        let s = b"\x00\xff\xf0";
        assert_eq!(bitpos(s, 1, Some(0), None, Byte), 8);
        assert_eq!(bitpos(s, 1, Some(2), None, Byte), 16);
        assert_eq!(bitpos(s, 1, Some(2), Some(-1), Byte), 16);
        assert_eq!(bitpos(s, 1, Some(7), Some(15), Bit), 8);
        assert_eq!(bitpos(s, 1, Some(7), Some(-3), Bit), 8);
        assert_eq!(bitpos(b"\x00\x00\x00", 1, None, None, Byte), -1);
        // All ones, looking for 0: padding counts unless `end` is given.
        let ones = b"\xff\xff\xff";
        assert_eq!(bitpos(ones, 0, None, None, Byte), 24);
        assert_eq!(bitpos(ones, 0, Some(0), None, Byte), 24);
        assert_eq!(bitpos(ones, 0, Some(1), None, Byte), 24);
        assert_eq!(bitpos(ones, 0, Some(0), Some(-1), Byte), -1);
        assert_eq!(bitpos(ones, 0, Some(0), Some(-1), Bit), -1);
        assert_eq!(bitpos(ones, 0, Some(3), Some(20), Bit), -1);
        // Empty ranges and empty strings.
        assert_eq!(bitpos(b"", 0, None, None, Byte), -1);
        assert_eq!(bitpos(b"", 1, None, None, Byte), -1);
        assert_eq!(bitpos(ones, 1, Some(2), Some(1), Byte), -1);
        assert_eq!(bitpos(ones, 0, Some(10), None, Byte), -1);
        // Bit ranges with partial edge bytes.
        assert_eq!(bitpos(b"\x00\x01", 1, Some(0), Some(14), Bit), -1);
        assert_eq!(bitpos(b"\x00\x01", 1, Some(0), Some(15), Bit), 15);
        assert_eq!(bitpos(b"\xf0", 0, Some(1), Some(3), Bit), -1);
        assert_eq!(bitpos(b"\xf0", 0, Some(1), Some(4), Bit), 4);
        assert_eq!(bitpos(b"\x80", 1, Some(1), Some(7), Bit), -1);
        assert_eq!(bitpos(b"\x80\x00\x01", 1, Some(1), Some(-1), Bit), 23);
        // The unit is ignored without `end`.
        assert_eq!(bitpos(b"\x00\xff", 1, Some(1), None, Bit), 8);
    }

    #[test]
    fn bitop_cases() {
        assert_eq!(bitop(BitOp::And, &[b"foobar", b"abcdef"]), b"`bc`ab");
        assert_eq!(bitop(BitOp::Or, &[b"foobar", b"abcdef"]), b"goofev");
        assert_eq!(bitop(BitOp::Xor, &[b"\x0f", b"\xff\x0f"]), b"\xf0\x0f");
        assert_eq!(bitop(BitOp::And, &[b"\xff\xff", b"\xff"]), b"\xff\x00");
        assert_eq!(bitop(BitOp::Or, &[b"", b"\x01\x02"]), b"\x01\x02");
        assert_eq!(bitop(BitOp::And, &[b"", b""]), b"");
        assert_eq!(bitop(BitOp::Not, &[b"\x0f\xff"]), b"\xf0\x00");
        assert_eq!(bitop(BitOp::Not, &[b""]), b"");
        assert_eq!(bitop(BitOp::Or, &[]), b"");
        assert_eq!(bitop(BitOp::And, &[b"\x0f"]), b"\x0f");
        assert_eq!(parse_bitop(b"xOr"), Some(BitOp::Xor));
        assert_eq!(parse_bitop(b"nand"), None);
    }

    #[test]
    fn field_types() {
        assert_eq!(parse_type(b"i8"), Some(FieldType::Signed(8)));
        assert_eq!(parse_type(b"u1"), Some(FieldType::Unsigned(1)));
        assert_eq!(parse_type(b"i64"), Some(FieldType::Signed(64)));
        assert_eq!(parse_type(b"u63"), Some(FieldType::Unsigned(63)));
        assert_eq!(parse_type(b"i8\0junk"), Some(FieldType::Signed(8)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"u0",
            b"I8",
            b"i08",
            b"i+8",
            b"i",
            b"",
            b"8",
            b"i-1",
            b"i8 ",
        ] {
            assert_eq!(parse_type(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_overflow(b"SAT"), Some(Overflow::Sat));
        assert_eq!(parse_overflow(b"wrap"), Some(Overflow::Wrap));
        assert_eq!(parse_overflow(b"Fail"), Some(Overflow::Fail));
        assert_eq!(parse_overflow(b"saturate"), None);
    }

    #[test]
    fn bitfield_examples_from_redis_docs() {
        let (i5, u4, u2, i8t) = (
            FieldType::Signed(5),
            FieldType::Unsigned(4),
            FieldType::Unsigned(2),
            FieldType::Signed(8),
        );
        let mut s = Vec::new();
        assert_eq!(field_incrby(&mut s, 100, i5, 1, Overflow::Wrap), Some(1));
        assert_eq!(field_get(&s, 0, u4), 0);
        // Overflow example: u2 at 100 under WRAP and at 102 under SAT.
        let mut s = Vec::new();
        let run = |s: &mut Vec<u8>| {
            (
                field_incrby(s, 100, u2, 1, Overflow::Wrap),
                field_incrby(s, 102, u2, 1, Overflow::Sat),
            )
        };
        assert_eq!(run(&mut s), (Some(1), Some(1)));
        assert_eq!(run(&mut s), (Some(2), Some(2)));
        assert_eq!(run(&mut s), (Some(3), Some(3)));
        assert_eq!(run(&mut s), (Some(0), Some(3)));
        let mut s = Vec::new();
        assert_eq!(field_incrby(&mut s, 102, u2, 1, Overflow::Fail), Some(1));
        assert_eq!(field_incrby(&mut s, 102, u2, 1, Overflow::Fail), Some(2));
        assert_eq!(field_incrby(&mut s, 102, u2, 1, Overflow::Fail), Some(3));
        assert_eq!(field_incrby(&mut s, 102, u2, 1, Overflow::Fail), None);
        // SET returns the old value.
        let mut s = Vec::new();
        assert_eq!(field_set(&mut s, 0, i8t, -100, Overflow::Wrap), Some(0));
        assert_eq!(field_set(&mut s, 0, i8t, 100, Overflow::Wrap), Some(-100));
        assert_eq!(s, [100]);
    }

    #[test]
    fn bitfield_overflow_edges() {
        use Overflow::*;
        let (i8t, u8t, i64t, u63) = (
            FieldType::Signed(8),
            FieldType::Unsigned(8),
            FieldType::Signed(64),
            FieldType::Unsigned(63),
        );
        let set = |ty, v, ov| {
            let mut s = Vec::new();
            let r = field_set(&mut s, 0, ty, v, ov);
            (r, field_get(&s, 0, ty))
        };
        assert_eq!(set(i8t, 128, Wrap), (Some(0), -128));
        assert_eq!(set(i8t, 128, Sat), (Some(0), 127));
        assert_eq!(set(i8t, -129, Sat), (Some(0), -128));
        assert_eq!(set(i8t, -129, Wrap), (Some(0), 127));
        assert_eq!(set(i8t, 128, Fail), (None, 0));
        // Redis quirk: a hugely negative value is classified as overflow.
        assert_eq!(set(i8t, i64::MIN, Sat), (Some(0), 127));
        assert_eq!(set(i8t, i64::MIN + 127, Sat), (Some(0), 127));
        assert_eq!(set(i8t, -9_223_372_036_854_775_680, Sat), (Some(0), -128));
        assert_eq!(set(i8t, i64::MIN, Wrap), (Some(0), 0));
        // Unsigned: negative values are huge u64s -> overflow.
        assert_eq!(set(u8t, -1, Wrap), (Some(0), 255));
        assert_eq!(set(u8t, -1, Sat), (Some(0), 255));
        assert_eq!(set(u8t, 256, Sat), (Some(0), 255));
        assert_eq!(set(u8t, 256, Wrap), (Some(0), 0));
        assert_eq!(set(u63, i64::MAX, Wrap), (Some(0), i64::MAX));
        assert_eq!(set(u63, -1, Sat), (Some(0), i64::MAX));
        assert_eq!(set(i64t, i64::MIN, Fail), (Some(0), i64::MIN));

        let incr = |ty, start, by, ov| {
            let mut s = Vec::new();
            field_set(&mut s, 3, ty, start, Wrap);
            field_incrby(&mut s, 3, ty, by, ov)
        };
        assert_eq!(incr(i64t, i64::MAX, 1, Wrap), Some(i64::MIN));
        assert_eq!(incr(i64t, i64::MAX, 1, Sat), Some(i64::MAX));
        assert_eq!(incr(i64t, i64::MAX, 1, Fail), None);
        assert_eq!(incr(i64t, i64::MIN, -1, Wrap), Some(i64::MAX));
        assert_eq!(incr(i64t, i64::MIN, -1, Sat), Some(i64::MIN));
        assert_eq!(incr(i64t, -1, i64::MIN, Sat), Some(i64::MIN));
        assert_eq!(incr(i64t, -2, i64::MIN, Sat), Some(i64::MIN));
        assert_eq!(incr(i64t, 5, i64::MIN, Fail), Some(i64::MIN + 5));
        assert_eq!(incr(i8t, 100, 100, Wrap), Some(-56));
        assert_eq!(incr(i8t, 100, 100, Sat), Some(127));
        assert_eq!(incr(i8t, -100, -100, Sat), Some(-128));
        assert_eq!(incr(i8t, -100, -100, Wrap), Some(56));
        assert_eq!(incr(i8t, 0, i64::MAX, Wrap), Some(-1));
        assert_eq!(incr(i8t, 0, i64::MIN, Wrap), Some(0));
        assert_eq!(incr(u8t, 200, 100, Wrap), Some(44));
        assert_eq!(incr(u8t, 200, 100, Sat), Some(255));
        assert_eq!(incr(u8t, 10, -11, Sat), Some(0));
        assert_eq!(incr(u8t, 10, -11, Wrap), Some(255));
        assert_eq!(incr(u8t, 10, i64::MIN, Wrap), Some(10));
        assert_eq!(incr(u63, i64::MAX, 1, Wrap), Some(0));
        assert_eq!(incr(u63, 0, -1, Wrap), Some(i64::MAX));
        assert_eq!(incr(FieldType::Signed(1), 0, 1, Wrap), Some(-1));
        assert_eq!(incr(FieldType::Signed(1), -1, 1, Sat), Some(0));
        assert_eq!(incr(FieldType::Unsigned(1), 1, 1, Sat), Some(1));
    }

    #[test]
    fn fail_still_grows_the_string() {
        let mut s = Vec::new();
        assert_eq!(
            field_set(&mut s, 100, FieldType::Unsigned(8), 256, Overflow::Fail),
            None
        );
        assert_eq!(s.len(), 14);
        assert!(s.iter().all(|&b| b == 0));
    }

    #[test]
    fn field_get_reads_zero_padding() {
        let s = b"\xff";
        assert_eq!(field_get(s, 4, FieldType::Unsigned(8)), 0xf0);
        assert_eq!(
            field_get(s, 0, FieldType::Signed(64)),
            -72_057_594_037_927_936
        );
        assert_eq!(field_get(s, 8, FieldType::Signed(64)), 0);
        assert_eq!(field_get(s, u64::MAX, FieldType::Signed(64)), 0);
        assert_eq!(field_get(b"", 0, FieldType::Unsigned(63)), 0);
    }

    /// Naive bit-by-bit reference for reads.
    fn naive_get(s: &[u8], offset: u64, bits: u32) -> u64 {
        (0..u64::from(bits)).fold(0u64, |acc, j| {
            (acc << 1) | u64::from(get_bit(s, offset + j))
        })
    }

    /// Naive bit-by-bit reference for writes.
    fn naive_set(s: &mut Vec<u8>, offset: u64, bits: u32, value: u64) {
        for j in 0..u64::from(bits) {
            let bit = (value >> (u64::from(bits) - 1 - j)) & 1;
            set_bit(s, offset + j, bit as u8);
        }
    }

    fn any_type() -> impl Strategy<Value = FieldType> {
        prop_oneof![
            (1u8..=64).prop_map(FieldType::Signed),
            (1u8..=63).prop_map(FieldType::Unsigned),
        ]
    }

    fn any_overflow() -> impl Strategy<Value = Overflow> {
        prop_oneof![
            Just(Overflow::Wrap),
            Just(Overflow::Sat),
            Just(Overflow::Fail)
        ]
    }

    /// Interesting i64s: edges of every width plus random values.
    fn edgy_i64() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            (0u32..64, -2i64..=2).prop_map(|(b, d)| (1i64 << b).wrapping_add(d)),
            (0u32..64, -2i64..=2).prop_map(|(b, d)| (1i64 << b).wrapping_neg().wrapping_add(d)),
            Just(i64::MIN),
            Just(i64::MAX),
        ]
    }

    /// Model of the overflow policy using i128 arithmetic.
    fn model(ty: FieldType, v: i128, ov: Overflow) -> Option<i64> {
        let bits = u32::from(ty.bits());
        let (min, max) = if ty.is_signed() {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        if (min..=max).contains(&v) {
            return Some(v as i64);
        }
        match ov {
            Overflow::Fail => None,
            Overflow::Sat => Some(if v > max { max } else { min } as i64),
            Overflow::Wrap => {
                let m = v.rem_euclid(1i128 << bits);
                Some(if ty.is_signed() && m > max {
                    m - (1i128 << bits)
                } else {
                    m
                } as i64)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn field_get_matches_naive(
            s in proptest::collection::vec(any::<u8>(), 0..20),
            offset in 0u64..180,
            ty in any_type(),
        ) {
            let bits = u32::from(ty.bits());
            let raw = naive_get(&s, offset, bits);
            let want = if ty.is_signed() && bits < 64 && raw >> (bits - 1) & 1 == 1 {
                (raw | (u64::MAX << bits)) as i64
            } else {
                raw as i64
            };
            prop_assert_eq!(field_get(&s, offset, ty), want);
        }

        #[test]
        fn field_set_matches_naive(
            s in proptest::collection::vec(any::<u8>(), 0..20),
            offset in 0u64..180,
            ty in any_type(),
            value in edgy_i64(),
        ) {
            let bits = u32::from(ty.bits());
            let mut ours = s.clone();
            let old = field_set(&mut ours, offset, ty, value, Overflow::Wrap);
            let mut reference = s.clone();
            let want_old = field_get(&s, offset, ty);
            naive_set(&mut reference, offset, bits, value as u64);
            prop_assert_eq!(old, Some(want_old));
            prop_assert_eq!(&ours, &reference);
        }

        #[test]
        fn incrby_matches_i128_model(
            ty in any_type(),
            start in edgy_i64(),
            incr in edgy_i64(),
            ov in any_overflow(),
            offset in 0u64..20,
        ) {
            let mut s = Vec::new();
            field_set(&mut s, offset, ty, start, Overflow::Wrap);
            let old = field_get(&s, offset, ty);
            let got = field_incrby(&mut s, offset, ty, incr, ov);
            let want = model(ty, i128::from(old) + i128::from(incr), ov);
            prop_assert_eq!(got, want);
            prop_assert_eq!(field_get(&s, offset, ty), want.unwrap_or(old));
        }

        #[test]
        fn set_matches_i128_model_except_redis_quirk(
            ty in any_type(),
            value in edgy_i64(),
            ov in any_overflow(),
        ) {
            let mut s = Vec::new();
            let got = field_set(&mut s, 0, ty, value, ov).map(|_| field_get(&s, 0, ty));
            let v = if ty.is_signed() { i128::from(value) } else { i128::from(value as u64) };
            let mut want = model(ty, v, ov);
            // Signed SAT of values so negative that `max - value` wraps in C:
            // Redis saturates to the maximum.
            let bits = u32::from(ty.bits());
            if ty.is_signed() && bits < 64 && ov == Overflow::Sat {
                let max = (1i128 << (bits - 1)) - 1;
                if max - i128::from(value) > i128::from(i64::MAX) {
                    want = Some(max as i64);
                }
            }
            prop_assert_eq!(got, want);
        }

        #[test]
        fn bitcount_matches_naive(
            s in proptest::collection::vec(any::<u8>(), 0..12),
            start in -120i64..120,
            end in -120i64..120,
            bit_unit in any::<bool>(),
        ) {
            let unit = if bit_unit { BitUnit::Bit } else { BitUnit::Byte };
            let total = s.len() as i64 * if bit_unit { 8 } else { 1 };
            let want = if start < 0 && end < 0 && start > end {
                0
            } else {
                let (a, b) = clamp_range(start, end, total);
                (a.max(0)..=b).map(|i| {
                    if bit_unit {
                        i64::from(get_bit(&s, i as u64))
                    } else {
                        i64::from(s[i as usize].count_ones() as u8)
                    }
                }).sum()
            };
            prop_assert_eq!(bitcount(&s, Some((start, end, unit))), want);
        }

        #[test]
        fn bitpos_matches_naive(
            s in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xffu8), any::<u8>()], 0..12),
            bit in 0u8..2,
            start in proptest::option::of(-100i64..100),
            end in proptest::option::of(-100i64..100),
            bit_unit in any::<bool>(),
        ) {
            let unit = if bit_unit { BitUnit::Bit } else { BitUnit::Byte };
            let end = if start.is_some() { end } else { None };
            let is_bit = bit_unit && end.is_some();
            let total = s.len() as i64 * if is_bit { 8 } else { 1 };
            let (a, b) = match start {
                None => (0, s.len() as i64 - 1),
                Some(st) => clamp_range(st, end.unwrap_or(total - 1), total),
            };
            let want = if a > b {
                -1
            } else {
                // Range in bits.
                let (first, last) = if is_bit { (a, b) } else { (a * 8, b * 8 + 7) };
                match (first..=last).find(|&i| get_bit(&s, i as u64) == bit) {
                    Some(p) => p,
                    None if bit == 0 && end.is_none() => last + 1,
                    None => -1,
                }
            };
            prop_assert_eq!(bitpos(&s, bit, start, end, unit), want);
        }

        #[test]
        fn bitop_matches_naive(
            srcs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5),
            op in prop_oneof![Just(BitOp::And), Just(BitOp::Or), Just(BitOp::Xor)],
        ) {
            let refs: Vec<&[u8]> = srcs.iter().map(|v| v.as_slice()).collect();
            let maxlen = srcs.iter().map(Vec::len).max().unwrap_or(0);
            let want: Vec<u8> = (0..maxlen).map(|i| {
                let byte = |s: &Vec<u8>| s.get(i).copied().unwrap_or(0);
                srcs[1..].iter().fold(byte(&srcs[0]), |acc, s| match op {
                    BitOp::And => acc & byte(s),
                    BitOp::Or => acc | byte(s),
                    _ => acc ^ byte(s),
                })
            }).collect();
            prop_assert_eq!(bitop(op, &refs), want);
        }

        #[test]
        fn popcount_matches_naive(s in proptest::collection::vec(any::<u8>(), 0..100)) {
            let want: u64 = s.iter().map(|b| u64::from(b.count_ones())).sum();
            prop_assert_eq!(popcount(&s), want);
        }
    }
}
