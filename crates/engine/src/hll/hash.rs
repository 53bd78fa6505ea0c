//! The element hash and what HyperLogLog takes from it.
//!
//! Redis hashes elements with the 64-bit MurmurHash2 (`MurmurHash64A`), reading the input as
//! little-endian words whatever the machine, with the fixed seed `0xadc83b19`. The seed and
//! the function are part of the format: a register written by Redis must be found at the same
//! index with the same run length here, or counts of mixed keys would drift.

use super::{P, Q, REGISTERS};

/// Redis's seed for HyperLogLog element hashes.
pub const SEED: u64 = 0xadc8_3b19;

const M: u64 = 0xc6a4_a793_5bd1_e995;
const R: u32 = 47;

/// MurmurHash64A over `data` (little-endian words, any length), as Redis computes it.
pub fn murmurhash64a(data: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The tail bytes land at distinct shifts, so XOR-ing them one by one is the same as
        // XOR-ing their little-endian value.
        let mut t = 0u64;
        for (i, &b) in tail.iter().enumerate() {
            t |= u64::from(b) << (8 * i);
        }
        h ^= t;
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element updates and the value it proposes: the low `P` bits of the hash
/// pick the register; the value is the position of the lowest set bit among the other `Q`
/// bits, counting from 1 (a sentinel bit above them caps it at `Q + 1`).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let h = murmurhash64a(element, SEED);
    let index = (h & (REGISTERS as u64 - 1)) as usize;
    let rest = (h >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_bounded_and_matches_the_hash() {
        for i in 0..10_000u32 {
            let e = i.to_le_bytes();
            let (idx, count) = pattern(&e);
            assert!(idx < REGISTERS);
            assert!((1..=Q as u8 + 1).contains(&count));
            let h = murmurhash64a(&e, SEED);
            assert_eq!(idx as u64, h & 0x3fff);
        }
    }

    #[test]
    fn every_tail_length_hashes_differently() {
        let data = b"0123456789abcdef";
        let hashes: std::collections::HashSet<u64> =
            (0..=16).map(|n| murmurhash64a(&data[..n], SEED)).collect();
        assert_eq!(hashes.len(), 17);
    }

    #[test]
    fn element_with_a_run_longer_than_the_sparse_limit() {
        // Found by search; Redis promotes a sparse HLL to dense when it adds this element
        // (recorded in testdata/hll.txt).
        let e = 0xba9d_09bau64.to_le_bytes();
        assert_eq!(pattern(&e), (3655, 33));
    }
}
