//! The sparse representation: run-length opcodes over the 16384 registers, in order.
//!
//! - `00xxxxxx` ZERO: `xxxxxx + 1` (1..=64) registers hold 0.
//! - `01xxxxxx yyyyyyyy` XZERO: the 14-bit `xxxxxxyyyyyyyy + 1` (1..=16384) registers hold 0.
//! - `1vvvvvxx` VAL: `xx + 1` (1..=4) registers hold `vvvvv + 1` (1..=32).
//!
//! Small sets touch few registers, so a fresh HLL is two bytes of payload (one XZERO) and
//! grows by a few bytes per element. The byte sequence is not canonical (the same registers
//! can be written many ways), and GET/DUMP expose it, so edits here follow Redis's exact
//! rewriting rules: the split of the opcode covering the register, then the merge of
//! neighbouring equal VAL opcodes in a window of five opcodes.
//!
//! A payload is valid when its opcodes are complete and cover exactly 16384 registers.
//! Everything that reads registers checks this as it goes and reports corruption instead of
//! reading or writing out of bounds, however the bytes were forged.

use super::estimator::Histogram;
use super::{HllError, HEADER_LEN, REGISTERS};

/// Largest value a VAL opcode can hold; bigger registers force the dense representation.
pub const MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
/// Largest run an XZERO opcode can hold.
pub const XZERO_MAX_LEN: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zero,
    XZero,
    Val,
}

#[inline]
fn kind(b: u8) -> Kind {
    match b & 0xc0 {
        0x00 => Kind::Zero,
        0x40 => Kind::XZero,
        _ => Kind::Val,
    }
}

#[inline]
fn zero_len(b: u8) -> usize {
    usize::from(b & 0x3f) + 1
}

#[inline]
fn xzero_len(b0: u8, b1: u8) -> usize {
    ((usize::from(b0 & 0x3f) << 8) | usize::from(b1)) + 1
}

#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

#[inline]
fn val_len(b: u8) -> usize {
    usize::from(b & 0x3) + 1
}

#[inline]
fn val_op(value: u8, len: usize) -> u8 {
    debug_assert!((1..=MAX_VALUE).contains(&value) && (1..=VAL_MAX_LEN).contains(&len));
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

#[inline]
fn zero_op(len: usize) -> u8 {
    debug_assert!((1..=ZERO_MAX_LEN).contains(&len));
    len as u8 - 1
}

#[inline]
fn xzero_op(len: usize) -> [u8; 2] {
    debug_assert!((1..=XZERO_MAX_LEN).contains(&len));
    let l = len - 1;
    [0x40 | (l >> 8) as u8, (l & 0xff) as u8]
}

/// Decodes the opcode at `pos`: (registers covered, their value, opcode bytes). None when an
/// XZERO is cut off by the end of the payload.
#[inline]
fn op_at(p: &[u8], pos: usize) -> Option<(usize, u8, usize)> {
    let b = *p.get(pos)?;
    Some(match kind(b) {
        Kind::Zero => (zero_len(b), 0, 1),
        Kind::XZero => (xzero_len(b, *p.get(pos + 1)?), 0, 2),
        Kind::Val => (val_len(b), val_value(b), 1),
    })
}

/// Calls `f(first register, run length, value)` for every opcode of a sparse payload (no
/// header), never with a run past register 16383. Corrupt unless the opcodes are complete and
/// cover exactly 16384 registers.
pub fn for_each_run(p: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), HllError> {
    let mut pos = 0;
    let mut idx = 0usize;
    while pos < p.len() {
        let (len, value, oplen) = op_at(p, pos).ok_or(HllError::Corrupt)?;
        if idx + len > REGISTERS {
            return Err(HllError::Corrupt);
        }
        f(idx, len, value);
        idx += len;
        pos += oplen;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// Checks a sparse payload (no header).
pub fn validate(p: &[u8]) -> Result<(), HllError> {
    for_each_run(p, |_, _, _| {})
}

/// Adds the registers of a sparse payload to a histogram.
pub fn histogram(p: &[u8], histo: &mut Histogram) -> Result<(), HllError> {
    for_each_run(p, |_, len, value| histo[value as usize] += len as u32)
}

/// The payload of an empty HLL: XZERO runs covering every register (one opcode).
pub fn empty_payload() -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * REGISTERS.div_ceil(XZERO_MAX_LEN));
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        out.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    out
}

/// What [`set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The register already held at least the value.
    Unchanged,
    /// The register was raised (and the cached cardinality invalidated).
    Updated,
    /// The value does not fit a VAL opcode, or the edit would grow the string past the
    /// sparse limit: the caller converts to dense and sets the register there. Nothing was
    /// changed.
    Promote,
    /// The payload does not cover the register (only for unvalidated input).
    Corrupt,
}

/// Raises register `index` to `count` in a sparse HLL string (header included), rewriting
/// the opcodes as Redis does, so that the bytes stay identical to Redis's.
///
/// `max_bytes` is `hll-sparse-max-bytes`: an edit that would make the whole string longer
/// than that asks for promotion instead. Edits that keep or shrink the length never do.
pub fn set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> SetOutcome {
    if count > MAX_VALUE {
        return SetOutcome::Promote;
    }
    // Step 1: find the opcode covering `index`, and the one before it.
    let mut pos = HEADER_LEN;
    let mut first = 0usize;
    let mut prev = None;
    let (span, oplen) = loop {
        let Some((span, _, oplen)) = op_at(v, pos) else {
            return SetOutcome::Corrupt;
        };
        if index < first + span {
            break (span, oplen);
        }
        prev = Some(pos);
        pos += oplen;
        first += span;
    };
    let op = v[pos];
    let k = kind(op);
    let last = first + span - 1;

    // Step 2: the cases that rewrite one byte in place.
    if k == Kind::Val {
        if val_value(op) >= count {
            return SetOutcome::Unchanged;
        }
        if span == 1 {
            v[pos] = val_op(count, 1);
            merge_neighbours(v, prev);
            return SetOutcome::Updated;
        }
    }
    if k == Kind::Zero && span == 1 {
        v[pos] = val_op(count, 1);
        merge_neighbours(v, prev);
        return SetOutcome::Updated;
    }

    // Otherwise split the opcode into up to three: before, the register, after.
    fn push_zeros(seq: &mut [u8; 5], n: &mut usize, len: usize) {
        if len > ZERO_MAX_LEN {
            seq[*n..*n + 2].copy_from_slice(&xzero_op(len));
            *n += 2;
        } else {
            seq[*n] = zero_op(len);
            *n += 1;
        }
    }
    let mut seq = [0u8; 5];
    let mut n = 0;
    if k == Kind::Val {
        let current = val_value(op);
        if index != first {
            seq[n] = val_op(current, index - first);
            n += 1;
        }
        seq[n] = val_op(count, 1);
        n += 1;
        if index != last {
            seq[n] = val_op(current, last - index);
            n += 1;
        }
    } else {
        if index != first {
            push_zeros(&mut seq, &mut n, index - first);
        }
        seq[n] = val_op(count, 1);
        n += 1;
        if index != last {
            push_zeros(&mut seq, &mut n, last - index);
        }
    }

    // Step 3: substitute, unless the string would outgrow the sparse limit.
    if n > oplen && v.len() + (n - oplen) > max_bytes {
        return SetOutcome::Promote;
    }
    v.splice(pos..pos + oplen, seq[..n].iter().copied());
    merge_neighbours(v, prev);
    SetOutcome::Updated
}

/// Step 4 of an edit: starting at the opcode before the edited one (or the first), looks at up
/// to five opcodes and fuses adjacent VAL opcodes of equal value whose runs fit one opcode.
/// Then invalidates the cached cardinality.
fn merge_neighbours(v: &mut Vec<u8>, prev: Option<usize>) {
    let mut p = prev.unwrap_or(HEADER_LEN);
    let mut budget = 5;
    while p < v.len() && budget > 0 {
        budget -= 1;
        let b = v[p];
        match kind(b) {
            Kind::XZero => p += 2,
            Kind::Zero => p += 1,
            Kind::Val => {
                if let Some(&next) = v.get(p + 1) {
                    if kind(next) == Kind::Val && val_value(next) == val_value(b) {
                        let len = val_len(b) + val_len(next);
                        if len <= VAL_MAX_LEN {
                            v[p + 1] = val_op(val_value(b), len);
                            v.remove(p);
                            // Stay here: the fused opcode may fuse with the next one too.
                            continue;
                        }
                    }
                }
                p += 1;
            }
        }
    }
    super::invalidate_cache(v);
}

/// Converts a sparse HLL string to dense: the header is kept (magic, unused bytes, cached
/// cardinality) with the encoding switched, and the registers are expanded.
pub fn to_dense(v: &[u8]) -> Result<Vec<u8>, HllError> {
    let mut out = vec![0u8; super::DENSE_LEN];
    out[..HEADER_LEN].copy_from_slice(&v[..HEADER_LEN]);
    out[4] = super::ENCODING_DENSE;
    let regs = &mut out[HEADER_LEN..];
    for_each_run(&v[HEADER_LEN..], |first, len, value| {
        if value != 0 {
            for i in first..first + len {
                super::dense::set(regs, i, value);
            }
        }
    })?;
    Ok(out)
}

/// PFDEBUG DECODE's text: `z:len` for ZERO, `Z:len` for XZERO, `v:value,len` for VAL,
/// separated by spaces. Like Redis, it reads the opcodes without validating them; an XZERO
/// cut off at the end reads its missing byte as 0 (Redis reads the string's terminator).
pub fn decode_text(p: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut pos = 0;
    while pos < p.len() {
        let b = p[pos];
        match kind(b) {
            Kind::Zero => {
                let _ = write!(out, "z:{} ", zero_len(b));
                pos += 1;
            }
            Kind::XZero => {
                let b1 = p.get(pos + 1).copied().unwrap_or(0);
                let _ = write!(out, "Z:{} ", xzero_len(b, b1));
                pos += 2;
            }
            Kind::Val => {
                let _ = write!(out, "v:{},{} ", val_value(b), val_len(b));
                pos += 1;
            }
        }
    }
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_encodings() {
        assert_eq!(zero_op(1), 0x00);
        assert_eq!(zero_op(64), 0x3f);
        assert_eq!(xzero_op(16384), [0x7f, 0xff]);
        assert_eq!(xzero_op(1), [0x40, 0x00]);
        assert_eq!(val_op(1, 1), 0x80);
        assert_eq!(val_op(32, 4), 0xff);
        assert_eq!(empty_payload(), vec![0x7f, 0xff]);
        assert_eq!(op_at(&[0x7f], 0), None);
        assert_eq!(op_at(&[0x7f, 0xff], 0), Some((16384, 0, 2)));
        assert_eq!(op_at(&[0xff], 0), Some((4, 32, 1)));
    }

    #[test]
    fn validation() {
        assert_eq!(validate(&[0x7f, 0xff]), Ok(()));
        assert_eq!(validate(&[]), Err(HllError::Corrupt));
        assert_eq!(validate(&[0x7f]), Err(HllError::Corrupt));
        assert_eq!(validate(&[0x7f, 0xfe]), Err(HllError::Corrupt));
        assert_eq!(validate(&[0x7f, 0xfe, 0x80]), Ok(()));
        assert_eq!(validate(&[0x7f, 0xff, 0x80]), Err(HllError::Corrupt));
        // A VAL run that would cross the end is refused before anything is written.
        assert_eq!(validate(&[0x7f, 0xfd, 0x83]), Err(HllError::Corrupt));
        // Many long zero runs cannot wrap a counter: the first excess stops the walk.
        let long = [0x7f, 0xff].repeat(1000);
        assert_eq!(validate(&long), Err(HllError::Corrupt));
    }

    #[test]
    fn decode_text_reads_like_redis() {
        assert_eq!(decode_text(&[0x7f, 0xff]), "Z:16384");
        assert_eq!(decode_text(&[0x00, 0x85, 0x7f]), "z:1 v:2,2 Z:16129");
        assert_eq!(decode_text(&[]), "");
    }
}
