//! The dense representation: 16384 six-bit registers packed little-end first.
//!
//! Register `i` occupies bits `6i .. 6i+6` of the payload, where bit `k` is bit `k % 8` of byte
//! `k / 8` (least significant first), so a register may straddle two bytes. The payload is
//! exactly 12288 bytes; the last register ends on the last bit, so no access ever needs the
//! byte after the payload (Redis relies on the string's terminator there; we simply skip it).

use super::estimator::Histogram;
use super::REGISTERS;

/// Payload length of a dense HLL.
pub const PAYLOAD_LEN: usize = REGISTERS * 6 / 8;

const MAX: u16 = 63;

/// Register `i` (`i < 16384`) of a dense payload.
#[inline]
pub fn get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let byte = bit / 8;
    let fb = bit % 8;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & MAX) as u8
}

/// Sets register `i` to `value` (`value < 64`), leaving its neighbours alone.
#[inline]
pub fn set(regs: &mut [u8], i: usize, value: u8) {
    let bit = i * 6;
    let byte = bit / 8;
    let fb = bit % 8;
    let v = u16::from(value) & MAX;
    regs[byte] = (regs[byte] & !((MAX << fb) as u8)) | ((v << fb) as u8);
    if fb > 2 {
        // The high bits spill into the next byte.
        let spill = 8 - fb;
        regs[byte + 1] = (regs[byte + 1] & !((MAX >> spill) as u8)) | ((v >> spill) as u8);
    }
}

/// Raises register `i` to `value` if it is lower; true if it changed.
#[inline]
pub fn raise(regs: &mut [u8], i: usize, value: u8) -> bool {
    if value > get(regs, i) {
        set(regs, i, value);
        true
    } else {
        false
    }
}

/// Calls `f(i, value)` for every register, in order.
pub fn for_each(regs: &[u8], mut f: impl FnMut(usize, u8)) {
    // Three bytes hold exactly four registers.
    for (g, b) in regs[..PAYLOAD_LEN].chunks_exact(3).enumerate() {
        let (b0, b1, b2) = (b[0], b[1], b[2]);
        let i = g * 4;
        f(i, b0 & 63);
        f(i + 1, ((b0 >> 6) | (b1 << 2)) & 63);
        f(i + 2, ((b1 >> 4) | (b2 << 4)) & 63);
        f(i + 3, b2 >> 2);
    }
}

/// Adds the registers' values to a histogram.
pub fn histogram(regs: &[u8], histo: &mut Histogram) {
    for_each(regs, |_, v| histo[v as usize] += 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_redis_diagram() {
        // Register 0 is the low six bits of byte 0; register 1 takes the top two bits of byte
        // 0 and the low four of byte 1.
        let mut regs = vec![0u8; PAYLOAD_LEN];
        set(&mut regs, 0, 0b11_1111);
        assert_eq!(&regs[..2], &[0b0011_1111, 0]);
        set(&mut regs, 1, 0b10_0110);
        assert_eq!(&regs[..2], &[0b1011_1111, 0b0000_1001]);
        set(&mut regs, REGISTERS - 1, 63);
        assert_eq!(regs[PAYLOAD_LEN - 1], 0b1111_1100);
        assert_eq!(get(&regs, REGISTERS - 1), 63);
        assert_eq!(get(&regs, 1), 0b10_0110);
        assert_eq!(get(&regs, 0), 63);
    }

    proptest::proptest! {
        #[test]
        fn set_get_roundtrip_and_for_each_agrees(
            writes in proptest::collection::vec((0usize..REGISTERS, 0u8..64), 0..300)
        ) {
            let mut regs = vec![0u8; PAYLOAD_LEN];
            let mut model = vec![0u8; REGISTERS];
            for (i, v) in writes {
                set(&mut regs, i, v);
                model[i] = v;
            }
            for (i, &v) in model.iter().enumerate() {
                proptest::prop_assert_eq!(get(&regs, i), v);
            }
            let mut seen = Vec::with_capacity(REGISTERS);
            for_each(&regs, |i, v| { assert_eq!(i, seen.len()); seen.push(v) });
            proptest::prop_assert_eq!(seen, model);
        }
    }
}
