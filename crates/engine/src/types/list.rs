//! The list type (Redis's t_list.c / quicklist.c / listpack.c, re-thought).
//!
//! A list is a deque of *nodes*; each node is one contiguous byte buffer holding a bounded
//! number of elements. Every element is stored as
//!
//! ```text
//! [len: LEB128 varint][payload bytes][len again: LEB128 bytes in reverse order]
//! ```
//!
//! The trailing reversed length (like listpack's "backlen") lets us walk a node from its end,
//! so RPOP, LINDEX -1 and LRANGE with negative indexes never scan a node from the start.
//! A 16-byte element costs 18 bytes, as in a Redis listpack, and pushing or popping at either
//! end is O(1) amortised plus a memmove bounded by the node size (as in Redis).
//!
//! Node size follows `list-max-listpack-size` (the caller passes it as a [`Limit`]). The
//! OBJECT ENCODING name follows Redis 7.2: "listpack" while the list is one node within the
//! limit, "quicklist" once it outgrows that, and back to "listpack" only when it shrinks to a
//! single node under *half* the limit, so a list hovering at the threshold does not flip
//! encodings on every push and pop.

use std::collections::VecDeque;

/// Which end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH, LPOP, LEFT).
    Left,
    /// The tail (RPUSH, RPOP, RIGHT).
    Right,
}

/// Redis's node size levels for negative `list-max-listpack-size` values (-1 .. -5).
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// With a positive (count) fill, a node still never grows past this many bytes, as Redis's
/// SIZE_SAFETY_LIMIT.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// The node limits derived from `list-max-listpack-size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Maximum bytes in a node (`usize::MAX` in count mode, where the safety limit applies).
    bytes: usize,
    /// Maximum elements in a node (`usize::MAX` in size mode).
    count: usize,
}

impl Limit {
    /// Limits for a `list-max-listpack-size` value: negative picks a byte size level,
    /// positive an element count (0 behaves as 1), as quicklistNodeLimit.
    pub fn from_fill(fill: i64) -> Limit {
        if fill >= 0 {
            Limit {
                bytes: usize::MAX,
                count: fill.max(1) as usize,
            }
        } else {
            let level = ((-(fill + 1)) as usize).min(SIZE_LEVELS.len() - 1);
            Limit {
                bytes: SIZE_LEVELS[level],
                count: usize::MAX,
            }
        }
    }

    /// True when a node of `bytes` bytes and `count` elements is too big.
    fn exceeds(&self, bytes: usize, count: usize) -> bool {
        if self.bytes == usize::MAX {
            bytes > SIZE_SAFETY_LIMIT || count > self.count
        } else {
            bytes > self.bytes
        }
    }

    /// True when a node is small enough to become a listpack again after shrinking.
    fn below_half(&self, bytes: usize, count: usize) -> bool {
        bytes <= self.bytes / 2 && count <= self.count / 2
    }
}

impl Default for Limit {
    /// Redis's default, -2 (8 KB nodes).
    fn default() -> Limit {
        Limit::from_fill(-2)
    }
}

// ---------------------------------------------------------------------------------------
// Element encoding
// ---------------------------------------------------------------------------------------

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes an element of payload length `len` takes in a node.
#[inline]
fn enc_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

/// Appends the encoded element to `out`.
fn encode_into(out: &mut Vec<u8>, e: &[u8]) {
    let mut tmp = [0u8; 10];
    let mut n = e.len();
    let mut k = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            tmp[k] = b;
            k += 1;
            break;
        }
        tmp[k] = b | 0x80;
        k += 1;
    }
    out.extend_from_slice(&tmp[..k]);
    out.extend_from_slice(e);
    out.extend(tmp[..k].iter().rev());
}

fn encoded(e: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(enc_size(e.len()));
    encode_into(&mut v, e);
    v
}

/// Reads the element starting at `p`: (payload start, payload length, next element start).
#[inline]
fn read_fwd(buf: &[u8], p: usize) -> (usize, usize, usize) {
    let (mut len, mut shift, mut i) = (0usize, 0, p);
    loop {
        let b = buf[i];
        i += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let hdr = i - p;
    (i, len, i + len + hdr)
}

/// Reads the element ending at `end` (exclusive): (element start, payload start, length).
#[inline]
fn read_back(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let (mut len, mut shift, mut i) = (0usize, 0, end);
    loop {
        i -= 1;
        let b = buf[i];
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let hdr = end - i;
    let payload = i - len;
    (payload - hdr, payload, len)
}

/// Makes room for `add` more bytes, growing by at least 1/8 of the capacity: amortised O(1)
/// pushes with little slack (Vec's doubling would waste up to half of every full node).
fn grow(buf: &mut Vec<u8>, add: usize) {
    let need = buf.len() + add;
    if need > buf.capacity() {
        let target = need.max(buf.capacity() + buf.capacity() / 8);
        buf.reserve_exact(target - buf.len());
    }
}

// ---------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------

/// A packed run of elements. Never empty while it is part of a list.
#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    count: usize,
}

impl Node {
    fn with(e: &[u8]) -> Node {
        Node {
            buf: encoded(e),
            count: 1,
        }
    }

    fn push_back(&mut self, e: &[u8]) {
        grow(&mut self.buf, enc_size(e.len()));
        encode_into(&mut self.buf, e);
        self.count += 1;
    }

    fn push_front(&mut self, e: &[u8]) {
        self.insert_at(0, e);
    }

    fn insert_at(&mut self, off: usize, e: &[u8]) {
        let enc = encoded(e);
        grow(&mut self.buf, enc.len());
        self.buf.splice(off..off, enc);
        self.count += 1;
    }

    /// Byte offset where element `k` (< count) starts, scanning from the nearer end.
    fn offset_of(&self, k: usize) -> usize {
        if k <= self.count / 2 {
            let mut p = 0;
            for _ in 0..k {
                p = read_fwd(&self.buf, p).2;
            }
            p
        } else {
            let mut end = self.buf.len();
            for _ in 0..self.count - k {
                end = read_back(&self.buf, end).0;
            }
            end
        }
    }

    /// Removes the first `n` elements, calling `f` on each in order.
    fn drain_front(&mut self, n: usize, mut f: impl FnMut(&[u8])) {
        let mut p = 0;
        for _ in 0..n {
            let (s, len, next) = read_fwd(&self.buf, p);
            f(&self.buf[s..s + len]);
            p = next;
        }
        self.buf.drain(..p);
        self.count -= n;
        self.maybe_shrink();
    }

    /// Removes the last `n` elements, calling `f` on each from the tail backwards.
    fn drain_back(&mut self, n: usize, mut f: impl FnMut(&[u8])) {
        let mut end = self.buf.len();
        for _ in 0..n {
            let (start, s, len) = read_back(&self.buf, end);
            f(&self.buf[s..s + len]);
            end = start;
        }
        self.buf.truncate(end);
        self.count -= n;
        self.maybe_shrink();
    }

    /// Gives memory back when a node lost most of its bytes.
    fn maybe_shrink(&mut self) {
        if self.buf.capacity() > 64 && self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to(self.buf.len() + self.buf.len() / 8);
        }
    }

    /// Splits an oversized node into nodes that each fit `lim` (or hold one element).
    fn repack(self, lim: Limit) -> Vec<Node> {
        let mut out = Vec::new();
        let mut cur = Node::default();
        let mut p = 0;
        while p < self.buf.len() {
            let next = read_fwd(&self.buf, p).2;
            let sz = next - p;
            if cur.count > 0 && lim.exceeds(cur.buf.len() + sz, cur.count + 1) {
                out.push(std::mem::take(&mut cur));
            }
            cur.buf.extend_from_slice(&self.buf[p..next]);
            cur.count += 1;
            p = next;
        }
        if cur.count > 0 {
            out.push(cur);
        }
        for n in &mut out {
            n.buf.shrink_to_fit();
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------

/// A list value. See the module docs for the layout.
#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// Reported encoding: false = "listpack", true = "quicklist".
    quick: bool,
}

impl PartialEq for List {
    /// Equal contents; the node layout and encoding are not part of the value.
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// Normalises an LRANGE/LTRIM style inclusive range over a list of `len` elements, the way
/// Redis does: negative indexes count from the end, start is clamped to 0, stop to the last
/// element. Returns (first index, element count), or None for an empty range.
pub fn clamp_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, (stop - start + 1) as usize))
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// Builds a list from elements, in order (for tests and callers that build whole lists).
    pub fn from_elems<'a>(elems: impl IntoIterator<Item = &'a [u8]>, lim: Limit) -> List {
        let mut l = List::new();
        for e in elems {
            l.push(End::Right, e, lim);
        }
        l
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        if self.quick {
            "quicklist"
        } else {
            "listpack"
        }
    }

    /// Number of nodes (for tests and DEBUG-style introspection).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Redis converts a listpack to a quicklist *before* adding elements when the total would
    /// exceed the node limit (listTypeTryConversionAppend), even when the add then does not
    /// happen (LINSERT with a missing pivot) or replaces an element (LSET). This mirrors it:
    /// `add` holds the elements about to be added.
    pub fn prepare_grow(&mut self, add: &[&[u8]], lim: Limit) {
        if self.quick {
            return;
        }
        let bytes: usize = self.nodes.iter().map(|n| n.buf.len()).sum::<usize>()
            + add.iter().map(|e| enc_size(e.len())).sum::<usize>();
        if lim.exceeds(bytes, self.len + add.len()) {
            self.quick = true;
        }
    }

    /// After adding: a list that spans several nodes, or one oversized node, is a quicklist.
    fn after_grow(&mut self, lim: Limit) {
        if !self.quick
            && (self.nodes.len() > 1
                || self
                    .nodes
                    .front()
                    .is_some_and(|n| lim.exceeds(n.buf.len(), n.count)))
        {
            self.quick = true;
        }
    }

    /// After removing: a quicklist that shrank to one node under half the limit goes back to
    /// listpack (listTypeTryConvertQuicklist with `shrinking`).
    fn after_shrink(&mut self, lim: Limit) {
        if self.quick
            && self.nodes.len() == 1
            && lim.below_half(self.nodes[0].buf.len(), self.nodes[0].count)
        {
            self.quick = false;
        }
    }

    /// Pushes one element at `end`.
    pub fn push(&mut self, end: End, e: &[u8], lim: Limit) {
        let add = enc_size(e.len());
        let node = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        };
        match node {
            Some(n) if !lim.exceeds(n.buf.len() + add, n.count + 1) => match end {
                End::Left => n.push_front(e),
                End::Right => n.push_back(e),
            },
            _ => {
                if self.nodes.capacity() == 0 {
                    // Most lists stay one node: do not let VecDeque round up to four.
                    self.nodes.reserve_exact(1);
                }
                match end {
                    End::Left => self.nodes.push_front(Node::with(e)),
                    End::Right => self.nodes.push_back(Node::with(e)),
                }
            }
        }
        self.len += 1;
        self.after_grow(lim);
    }

    /// Pops one element from `end`.
    pub fn pop(&mut self, end: End, lim: Limit) -> Option<Vec<u8>> {
        let mut out = None;
        self.pop_n(end, 1, lim, |e| out = Some(e.to_vec()));
        out
    }

    /// Pops up to `n` elements from `end`, calling `f` on each in popping order (for `Right`,
    /// from the tail backwards, as RPOP with a count replies). Returns how many were popped.
    pub fn pop_n(&mut self, end: End, n: usize, lim: Limit, mut f: impl FnMut(&[u8])) -> usize {
        let n = n.min(self.len);
        let mut left = n;
        while left > 0 {
            let node = match end {
                End::Left => self.nodes.front_mut(),
                End::Right => self.nodes.back_mut(),
            }
            .expect("list length out of sync with its nodes");
            if node.count <= left {
                left -= node.count;
                let node = match end {
                    End::Left => self.nodes.pop_front(),
                    End::Right => self.nodes.pop_back(),
                }
                .expect("node present");
                match end {
                    End::Left => node_for_each(&node, &mut f),
                    End::Right => node_for_each_rev(&node, &mut f),
                }
            } else {
                match end {
                    End::Left => node.drain_front(left, &mut f),
                    End::Right => node.drain_back(left, &mut f),
                }
                left = 0;
            }
        }
        self.len -= n;
        if self.nodes.is_empty() {
            self.nodes = VecDeque::new();
            self.quick = false;
        }
        self.after_shrink(lim);
        n
    }

    /// The node holding element `i` (< len) and the element's position in it.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut k = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if k < n.count {
                    return (ni, k);
                }
                k -= n.count;
            }
        } else {
            let mut k = self.len - 1 - i; // distance from the tail
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if k < n.count {
                    return (ni, n.count - 1 - k);
                }
                k -= n.count;
            }
        }
        unreachable!("index {i} out of range for list of {}", self.len)
    }

    /// Resolves a Redis index (negative counts from the tail).
    fn index(&self, i: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if i < 0 { len.checked_add(i)? } else { i };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// LINDEX.
    pub fn get(&self, i: i64) -> Option<&[u8]> {
        let i = self.index(i)?;
        let (ni, k) = self.locate(i);
        let n = &self.nodes[ni];
        let (s, len, _) = read_fwd(&n.buf, n.offset_of(k));
        Some(&n.buf[s..s + len])
    }

    /// LSET: replaces element `i`; false when the index is out of range.
    pub fn set(&mut self, i: i64, e: &[u8], lim: Limit) -> bool {
        self.prepare_grow(&[e], lim);
        let Some(i) = self.index(i) else { return false };
        let (ni, k) = self.locate(i);
        let n = &mut self.nodes[ni];
        let off = n.offset_of(k);
        let next = read_fwd(&n.buf, off).2;
        let enc = encoded(e);
        if enc.len() > next - off {
            grow(&mut n.buf, enc.len() - (next - off));
        }
        n.buf.splice(off..next, enc);
        self.fix_node(ni, lim);
        self.after_grow(lim);
        self.after_shrink(lim);
        true
    }

    /// Splits node `ni` if it outgrew the limit.
    fn fix_node(&mut self, ni: usize, lim: Limit) {
        let n = &self.nodes[ni];
        if n.count > 1 && lim.exceeds(n.buf.len(), n.count) {
            let node = self.nodes.remove(ni).expect("node present");
            for (j, part) in node.repack(lim).into_iter().enumerate() {
                self.nodes.insert(ni + j, part);
            }
        }
    }

    /// LINSERT: inserts `e` before or after the first element equal to `pivot`. Returns false
    /// when there is no such element.
    pub fn insert(&mut self, pivot: &[u8], e: &[u8], after: bool, lim: Limit) -> bool {
        self.prepare_grow(&[e], lim);
        for ni in 0..self.nodes.len() {
            let n = &mut self.nodes[ni];
            let mut p = 0;
            while p < n.buf.len() {
                let (s, len, next) = read_fwd(&n.buf, p);
                if &n.buf[s..s + len] == pivot {
                    n.insert_at(if after { next } else { p }, e);
                    self.len += 1;
                    self.fix_node(ni, lim);
                    self.after_grow(lim);
                    return true;
                }
                p = next;
            }
        }
        false
    }

    /// LREM: removes up to `count` elements equal to `e` (all when 0), from the tail when
    /// `count` is negative. Returns how many were removed.
    pub fn remove(&mut self, e: &[u8], count: i64, lim: Limit) -> usize {
        let from_tail = count < 0;
        let mut left = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for ni in order {
            if left == 0 {
                break;
            }
            let n = &mut self.nodes[ni];
            // Byte ranges of the matching elements in this node, in order.
            let mut hits: Vec<(usize, usize)> = Vec::new();
            let mut p = 0;
            while p < n.buf.len() {
                let (s, len, next) = read_fwd(&n.buf, p);
                if &n.buf[s..s + len] == e {
                    hits.push((p, next));
                }
                p = next;
            }
            if hits.is_empty() {
                continue;
            }
            let take = hits.len().min(left);
            let hits = if from_tail {
                &hits[hits.len() - take..]
            } else {
                &hits[..take]
            };
            // Compact in place, skipping the removed ranges.
            let mut w = hits[0].0;
            for (j, &(_, hend)) in hits.iter().enumerate() {
                let seg_end = hits.get(j + 1).map_or(n.buf.len(), |h| h.0);
                n.buf.copy_within(hend..seg_end, w);
                w += seg_end - hend;
            }
            n.buf.truncate(w);
            n.count -= take;
            n.maybe_shrink();
            left -= take;
            removed += take;
        }
        if removed > 0 {
            self.len -= removed;
            self.nodes.retain(|n| n.count > 0);
            self.merge_neighbours(lim);
            if self.nodes.is_empty() {
                self.nodes = VecDeque::new();
                self.quick = false;
            }
            self.after_shrink(lim);
        }
        removed
    }

    /// Joins adjacent nodes whose union fits the limit, after removals in the middle.
    fn merge_neighbours(&mut self, lim: Limit) {
        let mut i = 0;
        while i + 1 < self.nodes.len() {
            let (a, b) = (&self.nodes[i], &self.nodes[i + 1]);
            if !lim.exceeds(a.buf.len() + b.buf.len(), a.count + b.count) {
                let b = self.nodes.remove(i + 1).expect("node present");
                let a = &mut self.nodes[i];
                a.buf.extend_from_slice(&b.buf);
                a.count += b.count;
            } else {
                i += 1;
            }
        }
    }

    /// LTRIM: keeps only the inclusive range `start..=stop` (Redis index rules).
    pub fn trim(&mut self, start: i64, stop: i64, lim: Limit) {
        let (ltrim, rtrim) = match clamp_range(self.len, start, stop) {
            None => (self.len, 0),
            Some((s, n)) => (s, self.len - s - n),
        };
        self.pop_n(End::Left, ltrim, lim, |_| {});
        self.pop_n(End::Right, rtrim, lim, |_| {});
    }

    /// Elements from index `start` (< len) towards the tail.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                nodes: &self.nodes,
                node: self.nodes.len(),
                off: 0,
                left: 0,
            };
        }
        let (ni, k) = self.locate(start);
        Iter {
            nodes: &self.nodes,
            node: ni,
            off: self.nodes[ni].offset_of(k),
            left: self.len - start,
        }
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            nodes: &self.nodes,
            node: 0,
            off: 0,
            left: self.len,
        }
    }

    /// Elements from index `start` (< len) towards the head.
    pub fn iter_rev_from(&self, start: usize) -> RevIter<'_> {
        if start >= self.len {
            return RevIter {
                nodes: &self.nodes,
                node: 0,
                end: 0,
                left: 0,
            };
        }
        let (ni, k) = self.locate(start);
        let n = &self.nodes[ni];
        let end = read_fwd(&n.buf, n.offset_of(k)).2;
        RevIter {
            nodes: &self.nodes,
            node: ni,
            end,
            left: start + 1,
        }
    }

    /// All elements, tail to head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        match self.nodes.back() {
            None => RevIter {
                nodes: &self.nodes,
                node: 0,
                end: 0,
                left: 0,
            },
            Some(n) => RevIter {
                nodes: &self.nodes,
                node: self.nodes.len() - 1,
                end: n.buf.len(),
                left: self.len,
            },
        }
    }

    /// LPOS: indexes of elements equal to `e`. `rank` (non-zero) picks the first match to
    /// report (negative: searching from the tail), `count` how many to report (0 = all),
    /// `maxlen` how many elements to scan (0 = all).
    pub fn positions(&self, e: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let skip = rank.unsigned_abs() as usize - 1;
        let want = if count == 0 { usize::MAX } else { count };
        let scan = if maxlen == 0 {
            self.len
        } else {
            maxlen.min(self.len)
        };
        let mut out = Vec::new();
        let mut matches = 0usize;
        let mut check = |i: usize, x: &[u8]| {
            if x == e {
                matches += 1;
                if matches > skip {
                    out.push(i);
                    return out.len() >= want;
                }
            }
            false
        };
        if rank > 0 {
            for (i, x) in self.iter().take(scan).enumerate() {
                if check(i, x) {
                    break;
                }
            }
        } else {
            for (j, x) in self.iter_rev().take(scan).enumerate() {
                if check(self.len - 1 - j, x) {
                    break;
                }
            }
        }
        out
    }
}

fn node_for_each(n: &Node, f: &mut impl FnMut(&[u8])) {
    let mut p = 0;
    while p < n.buf.len() {
        let (s, len, next) = read_fwd(&n.buf, p);
        f(&n.buf[s..s + len]);
        p = next;
    }
}

fn node_for_each_rev(n: &Node, f: &mut impl FnMut(&[u8])) {
    let mut end = n.buf.len();
    while end > 0 {
        let (start, s, len) = read_back(&n.buf, end);
        f(&n.buf[s..s + len]);
        end = start;
    }
}

/// Head-to-tail iterator over a list's elements.
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    node: usize,
    off: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            let n = &self.nodes[self.node];
            if self.off >= n.buf.len() {
                self.node += 1;
                self.off = 0;
                continue;
            }
            let (s, len, next) = read_fwd(&n.buf, self.off);
            self.off = next;
            self.left -= 1;
            return Some(&n.buf[s..s + len]);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Tail-to-head iterator over a list's elements.
pub struct RevIter<'a> {
    nodes: &'a VecDeque<Node>,
    node: usize,
    /// End (exclusive) of the next element in `nodes[node]`.
    end: usize,
    left: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if self.end == 0 {
                self.node -= 1;
                self.end = self.nodes[self.node].buf.len();
                continue;
            }
            let n = &self.nodes[self.node];
            let (start, s, len) = read_back(&n.buf, self.end);
            self.end = start;
            self.left -= 1;
            return Some(&n.buf[s..s + len]);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for RevIter<'_> {}

#[cfg(test)]
mod tests;
