//! The byte buffer behind the compact (listpack-like) encodings of sets, hashes and sorted
//! sets, and the allocation policy shared with list nodes.
//!
//! Small collections are most of the keys of a typical dataset, so their per-key overhead is
//! what decides memory use. Two things matter besides the entry format itself:
//!
//! - **Inline size.** A `Vec<u8>` takes 24 bytes inside its owner; [`PackBuf`] takes 16 (a
//!   boxed slice) and keeps its used length and element count in an 8-byte header inside the
//!   heap block. That lets every collection type fit in 24 bytes, so an `Object` fits the
//!   allocator's 32-byte class instead of 80.
//! - **Block size.** Allocators hand out blocks in size classes, four per power of two above
//!   64 bytes (jemalloc and mimalloc alike): a 1,800-byte request costs a 2,048-byte block.
//!   A buffer that doubles wastes up to half of it; one that grows by exact requests still
//!   wastes the class rounding, and reallocates on every insertion. [`class_size`] gives the
//!   block the allocator would hand out anyway, and [`PackBuf`] always asks for exactly that:
//!   the whole block is usable capacity, and growth goes from one class to the next, at least
//!   12.5% each time, so appends stay amortised O(1).

use std::ops::Range;

/// The allocator block size for a request of `n` bytes: a multiple of 8 up to 64 bytes, then
/// four classes per power of two (80, 96, 112, 128, 160, ...), then whole 4 KiB pages above
/// 1 MiB where allocators map memory directly.
pub fn class_size(n: usize) -> usize {
    if n <= 64 {
        return n.max(1).next_multiple_of(8);
    }
    if n > 1 << 20 {
        return n.next_multiple_of(4096);
    }
    let b = usize::BITS - 1 - (n - 1).leading_zeros(); // 2^b <= n-1 < 2^(b+1)
    n.next_multiple_of(1 << (b - 2))
}

/// Header bytes at the start of a block: used length (u32) and element count (u32).
const HDR: usize = 8;

/// The largest payload a `PackBuf` holds. Callers convert to their large encoding well
/// before (Redis's listpacks stop at 1 GiB too: lpSafeToAdd).
pub const MAX_BYTES: usize = 1 << 30;

/// A growable byte buffer in a single heap block `[used: u32][count: u32][bytes][spare]`,
/// 16 bytes inline. The element count is kept for the owner, which maintains it. An empty
/// buffer owns no block.
#[derive(Clone, Default)]
pub struct PackBuf {
    block: Box<[u8]>,
}

/// Same contents and count; the block's spare room is not part of the value.
impl PartialEq for PackBuf {
    fn eq(&self, other: &PackBuf) -> bool {
        self.count() == other.count() && self.bytes() == other.bytes()
    }
}

impl Eq for PackBuf {}

impl std::fmt::Debug for PackBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackBuf")
            .field("count", &self.count())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl PackBuf {
    pub fn new() -> PackBuf {
        PackBuf::default()
    }

    #[inline]
    fn word(&self, i: usize) -> usize {
        if self.block.is_empty() {
            0
        } else {
            u32::from_le_bytes(self.block[i..i + 4].try_into().expect("4 bytes")) as usize
        }
    }

    #[inline]
    fn set_word(&mut self, i: usize, v: usize) {
        debug_assert!(v <= u32::MAX as usize);
        self.block[i..i + 4].copy_from_slice(&(v as u32).to_le_bytes());
    }

    /// Used payload bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.word(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element count the owner stored.
    #[inline]
    pub fn count(&self) -> usize {
        self.word(4)
    }

    /// Stores the element count (the buffer must hold a block unless `n` is 0).
    #[inline]
    pub fn set_count(&mut self, n: usize) {
        if !self.block.is_empty() {
            self.set_word(4, n);
        } else {
            debug_assert_eq!(n, 0);
        }
    }

    /// The payload.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self.block.get(HDR..HDR + self.len()) {
            Some(b) => b,
            None => &[],
        }
    }

    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        match self.block.get_mut(HDR..HDR + len) {
            Some(b) => b,
            None => &mut [],
        }
    }

    /// Size of the heap block (0 when none), for MEMORY USAGE.
    pub fn alloc_size(&self) -> usize {
        self.block.len()
    }

    /// Replaces the bytes in `range` by `new_len` bytes written by `fill`, moving the tail
    /// once. The block grows to the next size class when needed and shrinks when less than
    /// half of it would be used.
    pub fn splice_with(
        &mut self,
        range: Range<usize>,
        new_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let len = self.len();
        assert!(
            range.start <= range.end && range.end <= len,
            "splice out of range"
        );
        let total = len - range.len() + new_len;
        assert!(total <= MAX_BYTES, "packed buffer too large");
        if HDR + total > self.block.len() {
            self.grow(HDR + total);
        }
        let (start, end) = (HDR + range.start, HDR + range.end);
        self.block.copy_within(end..HDR + len, start + new_len);
        fill(&mut self.block[start..start + new_len]);
        if self.block.is_empty() {
            return;
        }
        self.set_word(0, total);
        if total < len {
            self.maybe_shrink();
        }
    }

    /// Replaces the bytes in `range` by `with`.
    pub fn splice(&mut self, range: Range<usize>, with: &[u8]) {
        self.splice_with(range, with.len(), |dst| dst.copy_from_slice(with));
    }

    /// Appends `with`.
    pub fn push(&mut self, with: &[u8]) {
        let len = self.len();
        self.splice(len..len, with);
    }

    /// Removes the bytes in `range`.
    pub fn remove(&mut self, range: Range<usize>) {
        self.splice_with(range, 0, |_| {});
    }

    /// Makes room for `add` more bytes without changing the contents (so a batch of
    /// insertions reallocates once).
    pub fn reserve(&mut self, add: usize) {
        let need = HDR + self.len() + add;
        if need > self.block.len() {
            self.grow(need);
        }
    }

    /// Moves the contents to a block of their own size class when the current block is
    /// bigger (after a batch that reserved an upper bound). A new block rather than a
    /// reallocation: allocators keep a block in place when it shrinks by less than half.
    pub fn fit(&mut self) {
        let used = HDR + self.len();
        let want = class_size(used);
        if !self.block.is_empty() && want < self.block.len() {
            let mut v = vec![0u8; want];
            v[..used].copy_from_slice(&self.block[..used]);
            self.block = v.into_boxed_slice();
        }
    }

    /// Moves to a block of the size class of `need` bytes (header included).
    fn grow(&mut self, need: usize) {
        let size = class_size(need);
        if self.block.is_empty() {
            self.block = vec![0; size].into_boxed_slice();
            return; // header: used 0, count 0
        }
        let mut v = std::mem::take(&mut self.block).into_vec();
        // Exact: the allocator's block is exactly `size`, no slack beyond it.
        v.reserve_exact(size - v.len());
        v.resize(size, 0);
        self.block = v.into_boxed_slice();
    }

    /// Gives back the block's upper half once the payload fits in a class at most half its
    /// size (hysteresis: a buffer hovering at a class boundary does not reallocate on every
    /// change).
    fn maybe_shrink(&mut self) {
        let want = class_size(HDR + self.len());
        if want * 2 <= self.block.len() {
            let mut v = std::mem::take(&mut self.block).into_vec();
            v.truncate(want);
            v.shrink_to_fit();
            self.block = v.into_boxed_slice();
        }
    }

    /// Builds a buffer holding exactly `bytes` (in a block of its size class) and `count`.
    pub fn from_bytes(bytes: &[u8], count: usize) -> PackBuf {
        let mut p = PackBuf::new();
        if !bytes.is_empty() || count > 0 {
            p.reserve(bytes.len());
            p.push(bytes);
            p.set_count(count);
        }
        p
    }
}

/// Bytes of the LEB128 varint of `n`.
#[inline]
pub fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes the LEB128 varint of `n` at the start of `out`; returns the bytes written.
#[inline]
pub fn put_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Reads the LEB128 varint at `buf[at..]`: (value, bytes read).
#[inline]
pub fn get_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let b = buf[at];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i - at);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_sizes() {
        assert_eq!(class_size(1), 8);
        assert_eq!(class_size(17), 24);
        assert_eq!(class_size(64), 64);
        assert_eq!(class_size(65), 80);
        assert_eq!(class_size(129), 160);
        assert_eq!(class_size(1700), 1792);
        assert_eq!(class_size(1792), 1792);
        assert_eq!(class_size(1793), 2048);
        assert_eq!(class_size(2700), 3072);
        assert_eq!(class_size(65536), 65536);
        assert_eq!(class_size(65537), 81920);
        assert_eq!(class_size((1 << 20) + 1), (1 << 20) + 4096);
        // Every class grows by at least 1/8 over the previous one above 64 bytes.
        let mut prev = class_size(65);
        for n in 66..200_000 {
            let c = class_size(n);
            assert!(c >= n);
            if c != prev {
                assert!(c >= prev + prev / 8, "{prev} -> {c}");
                prev = c;
            }
        }
    }

    #[test]
    fn splice_grow_shrink() {
        let mut p = PackBuf::new();
        assert_eq!((p.len(), p.count(), p.alloc_size()), (0, 0, 0));
        assert_eq!(p.bytes(), b"");
        p.push(b"hello");
        p.set_count(1);
        assert_eq!(p.bytes(), b"hello");
        assert_eq!(p.alloc_size(), 16);
        p.splice(1..3, b"EEE");
        assert_eq!(p.bytes(), b"hEEElo");
        p.splice_with(0..0, 3, |d| d.copy_from_slice(b"abc"));
        assert_eq!(p.bytes(), b"abchEEElo");
        p.remove(2..5);
        assert_eq!(p.bytes(), b"abEElo");
        assert_eq!(p.count(), 1);
        let mut model = p.bytes().to_vec();
        for i in 0..3000u32 {
            let b = (i % 251) as u8;
            p.push(&[b; 3]);
            model.extend_from_slice(&[b; 3]);
        }
        assert_eq!(p.bytes(), &model[..]);
        assert_eq!(p.alloc_size(), class_size(8 + model.len()));
        p.remove(10..model.len() - 10);
        model.drain(10..model.len() - 10);
        assert_eq!(p.bytes(), &model[..]);
        assert!(p.alloc_size() <= 64, "shrunk: {}", p.alloc_size());
        assert_eq!(p.count(), 1);
        let q = PackBuf::from_bytes(b"xyz", 2);
        assert_eq!((q.bytes(), q.count(), q.alloc_size()), (&b"xyz"[..], 2, 16));
        // Equality ignores spare room: a grown-then-shrunk buffer equals a fresh one.
        let mut r = PackBuf::from_bytes(b"xyzw", 2);
        r.reserve(100);
        r.remove(3..4);
        assert_eq!(r, q);
    }

    #[test]
    fn varints() {
        let mut buf = [0u8; 10];
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 40] {
            let k = put_varint(&mut buf, n);
            assert_eq!(k, varint_len(n));
            assert_eq!(get_varint(&buf, 0), (n, k));
        }
    }
}
