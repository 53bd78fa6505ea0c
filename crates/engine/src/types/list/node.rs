//! One list node: a run of elements in a single heap block.
//!
//! ```text
//! [header][front gap][payloads →][middle gap][← lengths][end gap]
//! ```
//!
//! The element bytes are concatenated in list order with no per-element header; their
//! lengths live apart, as LEB128 varints in a *column* at the other end of the block, in
//! reverse order (the last element's length first). A 16-byte element costs 17 bytes
//! (a listpack entry costs 18), and both ends are reachable directly:
//!
//! - head: the first payload starts at `ps`, its length is the last varint of the column
//!   (a sequence of LEB128 varints reads backwards as well as forwards: every byte but a
//!   varint's last has its high bit set);
//! - tail: the last payload ends at `pe`, its length is the first varint of the column.
//!
//! The gaps make pushes and pops at either end O(1): RPUSH writes into the middle gap,
//! LPUSH into the front and end gaps, pops just move the bounds. When the side being pushed
//! has no room, the node is laid out again in a block of the next allocator size class (or
//! the same block when it has enough room elsewhere), with the spare room on that side, so
//! pushes stay amortised O(1) and a node never holds more slack than its size class.
//!
//! The header holds five offsets (`ps`, `pe`, `cs`, `ce`, element count): 16-bit words in
//! blocks up to 64 KiB, 64-bit words in larger ones (only a node holding one huge element).

use crate::types::packbuf::{class_size, put_varint, varint_len};

/// Blocks up to this size use 16-bit header words.
const NARROW_MAX: usize = 0xFFFF;
const NARROW_HDR: usize = 10;
const WIDE_HDR: usize = 40;

fn hdr_size(block: usize) -> usize {
    if block <= NARROW_MAX {
        NARROW_HDR
    } else {
        WIDE_HDR
    }
}

/// The smallest block size class holding `bytes` of elements and lengths plus its header.
fn block_for(bytes: usize) -> usize {
    let n = class_size(NARROW_HDR + bytes);
    if n <= NARROW_MAX {
        n
    } else {
        class_size(WIDE_HDR + bytes)
    }
}

/// Reads the varint that ends at `end` (exclusive) in a column starting at `lo`: (value,
/// start offset).
#[inline]
fn varint_before(b: &[u8], lo: usize, end: usize) -> (usize, usize) {
    let mut i = end - 1;
    while i > lo && b[i - 1] & 0x80 != 0 {
        i -= 1;
    }
    (crate::types::packbuf::get_varint(b, i).0, i)
}

/// The five header words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hdr {
    /// Payloads are `ps..pe`.
    ps: usize,
    pe: usize,
    /// Lengths are `cs..ce`.
    cs: usize,
    ce: usize,
    count: usize,
}

/// Where a relayout puts the spare room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Room {
    /// In the middle gap (tail pushes).
    Back,
    /// In the front and end gaps (head pushes), at least `(payload, lengths)` bytes.
    Front(usize, usize),
}

/// A node. The empty node owns no block. (No `PartialEq`: the block holds stale bytes in
/// its gaps; lists compare by contents.)
#[derive(Clone, Default)]
pub struct Node {
    block: Box<[u8]>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl Node {
    #[inline]
    fn hdr(&self) -> Hdr {
        let b = &self.block;
        if b.is_empty() {
            return Hdr {
                ps: 0,
                pe: 0,
                cs: 0,
                ce: 0,
                count: 0,
            };
        }
        let w = |i: usize| -> usize {
            if b.len() <= NARROW_MAX {
                u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as usize
            } else {
                u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes")) as usize
            }
        };
        Hdr {
            ps: w(0),
            pe: w(1),
            cs: w(2),
            ce: w(3),
            count: w(4),
        }
    }

    #[inline]
    fn set_hdr(&mut self, h: Hdr) {
        let narrow = self.block.len() <= NARROW_MAX;
        for (i, v) in [h.ps, h.pe, h.cs, h.ce, h.count].into_iter().enumerate() {
            if narrow {
                self.block[2 * i..2 * i + 2].copy_from_slice(&(v as u16).to_le_bytes());
            } else {
                self.block[8 * i..8 * i + 8].copy_from_slice(&(v as u64).to_le_bytes());
            }
        }
    }

    /// Number of elements.
    #[inline]
    pub fn count(&self) -> usize {
        self.hdr().count
    }

    /// Size of the heap block, for MEMORY USAGE.
    pub fn alloc_size(&self) -> usize {
        self.block.len()
    }

    /// The size the node counts against `list-max-listpack-size`: what its elements would
    /// take with a length on both sides (`2 * varint + len` each), close to a listpack's
    /// entry sizes, so conversions happen where Redis's do.
    #[inline]
    pub fn logical_size(&self) -> usize {
        let h = self.hdr();
        (h.pe - h.ps) + 2 * (h.ce - h.cs)
    }

    /// A node holding `elems`, in a block of exactly its size class, spare room in the
    /// middle gap.
    pub fn from_elems<'a>(elems: impl Iterator<Item = &'a [u8]> + Clone) -> Node {
        let (mut p, mut c, mut n) = (0, 0, 0);
        for e in elems.clone() {
            p += e.len();
            c += varint_len(e.len());
            n += 1;
        }
        if n == 0 {
            return Node::default();
        }
        let size = block_for(p + c);
        let hs = hdr_size(size);
        let mut block = vec![0u8; size].into_boxed_slice();
        let (ce, cs) = (size, size - c);
        let mut at = hs;
        // The column is in reverse order: fill it from its end.
        let mut col = ce;
        for e in elems {
            block[at..at + e.len()].copy_from_slice(e);
            at += e.len();
            let k = varint_len(e.len());
            col -= k;
            put_varint(&mut block[col..], e.len());
        }
        debug_assert_eq!(col, cs);
        let mut node = Node { block };
        node.set_hdr(Hdr {
            ps: hs,
            pe: at,
            cs,
            ce,
            count: n,
        });
        node
    }

    /// A node holding one element.
    pub fn with(e: &[u8]) -> Node {
        Node::from_elems(std::iter::once(e))
    }

    /// Copies the node into a block of `size` bytes, spare room where `room` says.
    fn relayout(&mut self, size: usize, room: Room) {
        let h = self.hdr();
        let (p, c) = (h.pe - h.ps, h.ce - h.cs);
        let hs = hdr_size(size);
        let spare = size - hs - p - c;
        let (front, end) = match room {
            Room::Back => (0, 0),
            Room::Front(np, nc) => {
                // Keep the asked-for room, split the rest in proportion to the two regions.
                let extra = spare - np - nc;
                let fp = np + extra * (p + 1) / (p + c + 2);
                (fp, spare - fp)
            }
        };
        let mut block = vec![0u8; size].into_boxed_slice();
        let ps = hs + front;
        block[ps..ps + p].copy_from_slice(&self.block[h.ps..h.pe]);
        let ce = size - end;
        let cs = ce - c;
        block[cs..ce].copy_from_slice(&self.block[h.cs..h.ce]);
        self.block = block;
        self.set_hdr(Hdr {
            ps,
            pe: ps + p,
            cs,
            ce,
            count: h.count,
        });
    }

    /// Makes sure the node can take `np` payload bytes and `nc` length bytes on the `room`
    /// side: relays it out in the same block when its spare room suffices, else in a block
    /// of the size class that fits.
    fn make_room(&mut self, room: Room, np: usize, nc: usize) {
        let h = self.hdr();
        let used = (h.pe - h.ps) + (h.ce - h.cs);
        let size = if self.block.len() >= hdr_size(self.block.len()) + used + np + nc {
            self.block.len()
        } else {
            block_for(used + np + nc)
        };
        self.relayout(
            size,
            match room {
                Room::Back => Room::Back,
                Room::Front(..) => Room::Front(np, nc),
            },
        );
    }

    /// Shrinks the block once its contents fit a size class at most half as big.
    fn maybe_shrink(&mut self) {
        let h = self.hdr();
        if h.count == 0 {
            self.block = Box::default();
            return;
        }
        let want = block_for((h.pe - h.ps) + (h.ce - h.cs));
        if want * 2 <= self.block.len() {
            self.relayout(want, Room::Back);
        }
    }

    /// Makes room for `np` payload bytes and `nc` length bytes at `end` in one step (a
    /// multi-element push then reallocates once, straight to its final size class).
    pub fn reserve(&mut self, end: super::End, np: usize, nc: usize) {
        if self.block.is_empty() {
            let size = block_for(np + nc);
            let hs = hdr_size(size);
            self.block = vec![0u8; size].into_boxed_slice();
            self.set_hdr(Hdr {
                ps: hs,
                pe: hs,
                cs: size,
                ce: size,
                count: 0,
            });
            if end == super::End::Left {
                self.relayout(size, Room::Front(np, nc));
            }
            return;
        }
        let h = self.hdr();
        match end {
            super::End::Right if h.cs - h.pe < np + nc => self.make_room(Room::Back, np, nc),
            super::End::Left
                if h.ps - hdr_size(self.block.len()) < np || self.block.len() - h.ce < nc =>
            {
                self.make_room(Room::Front(np, nc), np, nc)
            }
            _ => {}
        }
    }

    /// Appends an element at the tail.
    pub fn push_back(&mut self, e: &[u8]) {
        if self.block.is_empty() {
            *self = Node::with(e);
            return;
        }
        let k = varint_len(e.len());
        let mut h = self.hdr();
        if h.cs - h.pe < e.len() + k {
            self.make_room(Room::Back, e.len(), k);
            h = self.hdr();
        }
        self.block[h.pe..h.pe + e.len()].copy_from_slice(e);
        h.pe += e.len();
        h.cs -= k;
        put_varint(&mut self.block[h.cs..], e.len());
        h.count += 1;
        self.set_hdr(h);
    }

    /// Prepends an element at the head.
    pub fn push_front(&mut self, e: &[u8]) {
        if self.block.is_empty() {
            *self = Node::with(e);
            return;
        }
        let k = varint_len(e.len());
        let mut h = self.hdr();
        if h.ps - hdr_size(self.block.len()) < e.len() || self.block.len() - h.ce < k {
            self.make_room(Room::Front(e.len(), k), e.len(), k);
            h = self.hdr();
        }
        h.ps -= e.len();
        self.block[h.ps..h.ps + e.len()].copy_from_slice(e);
        put_varint(&mut self.block[h.ce..], e.len());
        h.ce += k;
        h.count += 1;
        self.set_hdr(h);
    }

    /// Removes the first `n` (<= count) elements, calling `f` on each, head first.
    pub fn pop_front(&mut self, n: usize, f: &mut impl FnMut(&[u8])) {
        if n == 0 {
            return;
        }
        let mut h = self.hdr();
        for _ in 0..n {
            let (len, start) = varint_before(&self.block, h.cs, h.ce);
            f(&self.block[h.ps..h.ps + len]);
            h.ps += len;
            h.ce = start;
        }
        h.count -= n;
        self.set_hdr(h);
        self.maybe_shrink();
    }

    /// Removes the last `n` (<= count) elements, calling `f` on each, tail first.
    pub fn pop_back(&mut self, n: usize, f: &mut impl FnMut(&[u8])) {
        if n == 0 {
            return;
        }
        let mut h = self.hdr();
        for _ in 0..n {
            let (len, k) = crate::types::packbuf::get_varint(&self.block, h.cs);
            f(&self.block[h.pe - len..h.pe]);
            h.pe -= len;
            h.cs += k;
        }
        h.count -= n;
        self.set_hdr(h);
        self.maybe_shrink();
    }

    /// Head-to-tail cursor at element 0.
    #[inline]
    pub fn front(&self) -> Fwd {
        let h = self.hdr();
        Fwd {
            p: h.ps,
            c: h.ce,
            lo: h.cs,
        }
    }

    /// Tail-to-head cursor at the last element.
    #[inline]
    pub fn back(&self) -> Back {
        let h = self.hdr();
        Back { p: h.pe, c: h.cs }
    }

    /// The element under a forward cursor, and the cursor moved past it. The cursor must
    /// be at an element (fewer than `count` steps taken).
    #[inline]
    pub fn next_fwd(&self, at: Fwd) -> (&[u8], Fwd) {
        let (len, start) = varint_before(&self.block, at.lo, at.c);
        (
            &self.block[at.p..at.p + len],
            Fwd {
                p: at.p + len,
                c: start,
                lo: at.lo,
            },
        )
    }

    /// The element under a backward cursor, and the cursor moved before it.
    #[inline]
    pub fn next_back(&self, at: Back) -> (&[u8], Back) {
        let (len, k) = crate::types::packbuf::get_varint(&self.block, at.c);
        (
            &self.block[at.p - len..at.p],
            Back {
                p: at.p - len,
                c: at.c + k,
            },
        )
    }

    /// A forward cursor at element `k` (< count), walking from the nearer end.
    pub fn fwd_at(&self, k: usize) -> Fwd {
        let count = self.count();
        if k <= count / 2 {
            let mut at = self.front();
            for _ in 0..k {
                at = self.next_fwd(at).1;
            }
            at
        } else {
            let b = self.back_at(k);
            // Element k ends at b.p; its length is the varint at b.c.
            let (len, k_len) = crate::types::packbuf::get_varint(&self.block, b.c);
            Fwd {
                p: b.p - len,
                c: b.c + k_len,
                lo: self.hdr().cs,
            }
        }
    }

    /// A backward cursor at element `k` (< count), walking from the nearer end.
    pub fn back_at(&self, k: usize) -> Back {
        let count = self.count();
        if k > count / 2 {
            let mut at = self.back();
            for _ in 0..count - 1 - k {
                at = self.next_back(at).1;
            }
            at
        } else {
            let f = self.fwd_at(k);
            let (len, start) = varint_before(&self.block, self.hdr().cs, f.c);
            Back {
                p: f.p + len,
                c: start,
            }
        }
    }

    /// Element `k` (< count).
    pub fn get(&self, k: usize) -> &[u8] {
        self.next_fwd(self.fwd_at(k)).0
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        let mut at = self.front();
        (0..self.count()).map(move |_| {
            let (e, next) = self.next_fwd(at);
            at = next;
            e
        })
    }
}

/// A head-to-tail position in a node: next payload start, end of the next length varint,
/// and where the length column starts (a backward varint read must not run past it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fwd {
    p: usize,
    c: usize,
    lo: usize,
}

/// A tail-to-head position in a node: next payload end, start of the next length varint.
#[derive(Clone, Copy, Debug, Default)]
pub struct Back {
    p: usize,
    c: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: &Node) -> Vec<Vec<u8>> {
        n.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn layout_and_cursors() {
        let elems: Vec<Vec<u8>> = [0usize, 1, 5, 127, 128, 300, 16]
            .iter()
            .map(|&n| vec![b'a' + (n % 26) as u8; n])
            .collect();
        let n = Node::from_elems(elems.iter().map(Vec::as_slice));
        assert_eq!(n.count(), elems.len());
        assert_eq!(items(&n), elems);
        for (k, want) in elems.iter().enumerate() {
            assert_eq!(n.get(k), &want[..]);
            let (e, _) = n.next_back(n.back_at(k));
            assert_eq!(e, &want[..]);
        }
        let mut back = Vec::new();
        let mut at = n.back();
        for _ in 0..n.count() {
            let (e, next) = n.next_back(at);
            back.push(e.to_vec());
            at = next;
        }
        back.reverse();
        assert_eq!(back, elems);
        // 100 elements of 16 bytes: 17 bytes each plus the header fit a 1,792-byte block.
        let e = [7u8; 16];
        let n = Node::from_elems(std::iter::repeat_n(&e[..], 100));
        assert_eq!(n.alloc_size(), 1792);
        assert_eq!(n.logical_size(), 1800);
    }

    #[test]
    fn deque_ops_match_a_model() {
        let mut n = Node::default();
        let mut m: std::collections::VecDeque<Vec<u8>> = Default::default();
        let mut x = 12345u64;
        for i in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = match x % 10 {
                0 => 200,
                1 => 0,
                _ => (x >> 8) as usize % 20,
            };
            let e = vec![(i % 251) as u8; len];
            match (x >> 32) % 6 {
                0 | 1 => {
                    n.push_back(&e);
                    m.push_back(e);
                }
                2 | 3 => {
                    n.push_front(&e);
                    m.push_front(e);
                }
                4 => {
                    let k = ((x >> 40) as usize % 3).min(m.len());
                    let mut got = Vec::new();
                    n.pop_front(k, &mut |e| got.push(e.to_vec()));
                    let want: Vec<Vec<u8>> = m.drain(..k).collect();
                    assert_eq!(got, want);
                }
                _ => {
                    let k = ((x >> 40) as usize % 3).min(m.len());
                    let mut got = Vec::new();
                    n.pop_back(k, &mut |e| got.push(e.to_vec()));
                    let want: Vec<Vec<u8>> = (0..k).map(|_| m.pop_back().unwrap()).collect();
                    assert_eq!(got, want);
                }
            }
            assert_eq!(n.count(), m.len());
            if i % 97 == 0 {
                assert_eq!(items(&n), Vec::from(m.clone()));
            }
            // Never more than one size class of slack.
            let used: usize = m.iter().map(|e| e.len() + varint_len(e.len())).sum();
            if n.count() > 0 {
                assert!(
                    n.alloc_size() <= 2 * block_for(used).max(64),
                    "{} for {used}",
                    n.alloc_size()
                );
            }
        }
        assert_eq!(items(&n), Vec::from(m));
    }

    #[test]
    fn wide_header_for_big_elements() {
        let big = vec![b'x'; 70_000];
        let mut n = Node::with(&big);
        assert!(n.alloc_size() > NARROW_MAX);
        n.push_front(b"a");
        n.push_back(b"z");
        assert_eq!(items(&n), vec![b"a".to_vec(), big.clone(), b"z".to_vec()]);
        n.pop_front(1, &mut |_| {});
        n.pop_back(1, &mut |_| {});
        assert_eq!(items(&n), vec![big]);
        n.pop_back(1, &mut |_| {});
        assert_eq!(n.alloc_size(), 0);
    }
}
