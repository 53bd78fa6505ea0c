//! The list type (Redis's t_list.c / quicklist.c / listpack.c, re-thought).
//!
//! A list is a deque of *nodes* (see [`node`]): each node is one heap block holding a bounded
//! run of elements, their bytes concatenated and their lengths in a column of varints at the
//! other end of the block. A 16-byte element costs 17 bytes (18 in a Redis listpack), and
//! pushing or popping at either end is O(1) amortised: the block keeps its spare room where
//! the pushes happen, and is never bigger than the allocator size class of its contents.
//!
//! Node size follows `list-max-listpack-size` (the caller passes it as a [`Limit`]). The
//! OBJECT ENCODING name follows Redis 7.2: "listpack" while the list is one node within the
//! limit, "quicklist" once it outgrows that, and back to "listpack" only when it shrinks to a
//! single node under *half* the limit, so a list hovering at the threshold does not flip
//! encodings on every push and pop. A "listpack" list is that one node, inline in the
//! [`List`] value (no node table); a "quicklist" boxes its node table.

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

mod node;

use node::Node;

/// Bytes an element of payload length `len` counts against the node limits (a length on
/// both sides, as a listpack entry; see [`Node::logical_size`]).
#[inline]
fn enc_size(len: usize) -> usize {
    2 * crate::types::packbuf::varint_len(len) + len
}

/// The node table of a "quicklist".
#[derive(Clone, Debug, Default)]
pub struct Quick {
    nodes: VecDeque<Node>,
    len: usize,
}

/// A list value. See the module docs for the layout.
#[derive(Clone, Debug)]
pub enum List {
    /// "listpack": at most one node (none when empty).
    Pack(Node),
    /// "quicklist": non-empty nodes; boxed so a list value stays 24 bytes.
    Quick(Box<Quick>),
}

impl Default for List {
    fn default() -> List {
        List::Pack(Node::default())
    }
}

impl PartialEq for List {
    /// Equal contents; the node layout and encoding are not part of the value.
    fn eq(&self, other: &List) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
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

/// Splits a run of elements into nodes that each fit `lim` (or hold one element).
fn pack_nodes(elems: &[&[u8]], lim: Limit, out: &mut VecDeque<Node>) {
    let mut start = 0;
    let mut bytes = 0;
    for (i, e) in elems.iter().enumerate() {
        let sz = enc_size(e.len());
        if i > start && lim.exceeds(bytes + sz, i - start + 1) {
            out.push_back(Node::from_elems(elems[start..i].iter().copied()));
            start = i;
            bytes = 0;
        }
        bytes += sz;
    }
    if start < elems.len() {
        out.push_back(Node::from_elems(elems[start..].iter().copied()));
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// Builds a list from elements, in order.
    pub fn from_elems<'a>(elems: impl IntoIterator<Item = &'a [u8]>, lim: Limit) -> List {
        let mut l = List::new();
        for e in elems {
            l.push(End::Right, e, lim);
        }
        l
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            List::Pack(n) => n.count(),
            List::Quick(q) => q.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            List::Pack(n) => n.alloc_size(),
            List::Quick(q) => {
                std::mem::size_of::<Quick>()
                    + q.nodes.capacity() * std::mem::size_of::<Node>()
                    + q.nodes.iter().map(Node::alloc_size).sum::<usize>()
            }
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            List::Pack(_) => "listpack",
            List::Quick(_) => "quicklist",
        }
    }

    /// Number of nodes (for tests and DEBUG-style introspection).
    pub fn node_count(&self) -> usize {
        match self {
            List::Pack(n) => (n.count() > 0) as usize,
            List::Quick(q) => q.nodes.len(),
        }
    }

    /// Node `i` (< node_count).
    #[inline]
    fn node(&self, i: usize) -> &Node {
        match self {
            List::Pack(n) => n,
            List::Quick(q) => &q.nodes[i],
        }
    }

    /// Redis converts a listpack to a quicklist *before* adding elements when the total would
    /// exceed the node limit (listTypeTryConversionAppend), even when the add then does not
    /// happen (LINSERT with a missing pivot) or replaces an element (LSET). This mirrors it:
    /// `add` holds the elements about to be added.
    pub fn prepare_grow(&mut self, add: &[&[u8]], lim: Limit) {
        if let List::Pack(n) = self {
            let bytes = n.logical_size() + add.iter().map(|e| enc_size(e.len())).sum::<usize>();
            if lim.exceeds(bytes, n.count() + add.len()) {
                self.make_quick();
            }
        }
    }

    /// Moves a "listpack" list into a node table ("quicklist").
    fn make_quick(&mut self) -> &mut Quick {
        if let List::Pack(n) = self {
            let n = std::mem::take(n);
            let len = n.count();
            let mut nodes = VecDeque::new();
            if len > 0 {
                nodes.reserve_exact(2);
                nodes.push_back(n);
            }
            *self = List::Quick(Box::new(Quick { nodes, len }));
        }
        match self {
            List::Quick(q) => q,
            List::Pack(_) => unreachable!("converted above"),
        }
    }

    /// Rebuilds the value from a node table after an edit, with Redis's encoding rules: a
    /// "listpack" that grew past one node or past the limit becomes a "quicklist"; a
    /// "quicklist" that shrank (when `shrinking`) to one node under half the limit becomes a
    /// "listpack" again (listTypeTryConvertQuicklist).
    fn from_nodes(mut nodes: VecDeque<Node>, quick: bool, lim: Limit, shrinking: bool) -> List {
        nodes.retain(|n| n.count() > 0);
        if nodes.is_empty() {
            return List::default();
        }
        let one = nodes.len() == 1;
        let quick = if quick {
            !(shrinking && one && lim.below_half(nodes[0].logical_size(), nodes[0].count()))
        } else {
            !one || lim.exceeds(nodes[0].logical_size(), nodes[0].count())
        };
        if quick {
            let len = nodes.iter().map(Node::count).sum();
            List::Quick(Box::new(Quick { nodes, len }))
        } else {
            List::Pack(nodes.pop_front().expect("one node"))
        }
    }

    /// Runs `f` on the node table (a "listpack" list lends its node as a table of one),
    /// then re-applies the encoding rules.
    fn edit<R>(
        &mut self,
        lim: Limit,
        shrinking: bool,
        f: impl FnOnce(&mut VecDeque<Node>) -> R,
    ) -> R {
        let (mut nodes, quick) = match std::mem::take(self) {
            List::Pack(n) => (VecDeque::from([n]), false),
            List::Quick(q) => (q.nodes, true),
        };
        let r = f(&mut nodes);
        *self = List::from_nodes(nodes, quick, lim, shrinking);
        r
    }

    /// Pushes one element at `end`.
    pub fn push(&mut self, end: End, e: &[u8], lim: Limit) {
        let add = enc_size(e.len());
        if let List::Pack(n) = self {
            if n.count() == 0 {
                *n = Node::with(e);
                if lim.exceeds(add, 1) {
                    // A single element past the limit is a quicklist on its own.
                    self.make_quick();
                }
                return;
            }
            if !lim.exceeds(n.logical_size() + add, n.count() + 1) {
                match end {
                    End::Left => n.push_front(e),
                    End::Right => n.push_back(e),
                }
                return;
            }
        }
        let q = self.make_quick();
        let node = match end {
            End::Left => q.nodes.front_mut(),
            End::Right => q.nodes.back_mut(),
        };
        match node {
            Some(n) if !lim.exceeds(n.logical_size() + add, n.count() + 1) => match end {
                End::Left => n.push_front(e),
                End::Right => n.push_back(e),
            },
            _ => match end {
                End::Left => q.nodes.push_front(Node::with(e)),
                End::Right => q.nodes.push_back(Node::with(e)),
            },
        }
        q.len += 1;
    }

    /// Pushes `elems` one by one at `end` (LPUSH/RPUSH with several elements). When they
    /// all go into a "listpack" list's node, its block grows once, to its final size.
    pub fn push_all(&mut self, end: End, elems: &[&[u8]], lim: Limit) {
        if let List::Pack(n) = self {
            let np: usize = elems.iter().map(|e| e.len()).sum();
            let nc: usize = elems
                .iter()
                .map(|e| crate::types::packbuf::varint_len(e.len()))
                .sum();
            if elems.len() > 1
                && !lim.exceeds(n.logical_size() + np + 2 * nc, n.count() + elems.len())
            {
                n.reserve(end, np, nc);
            }
        }
        for e in elems {
            self.push(end, e, lim);
        }
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
        let n = n.min(self.len());
        if n == 0 {
            return 0;
        }
        match self {
            List::Pack(node) => match end {
                End::Left => node.pop_front(n, &mut f),
                End::Right => node.pop_back(n, &mut f),
            },
            List::Quick(q) => {
                let mut left = n;
                while left > 0 {
                    let node = match end {
                        End::Left => q.nodes.front_mut(),
                        End::Right => q.nodes.back_mut(),
                    }
                    .expect("list length out of sync with its nodes");
                    let k = left.min(node.count());
                    match end {
                        End::Left => node.pop_front(k, &mut f),
                        End::Right => node.pop_back(k, &mut f),
                    }
                    if node.count() == 0 {
                        match end {
                            End::Left => q.nodes.pop_front(),
                            End::Right => q.nodes.pop_back(),
                        };
                    }
                    left -= k;
                }
                q.len -= n;
                if q.nodes.is_empty() {
                    *self = List::default();
                } else if q.nodes.len() == 1
                    && lim.below_half(q.nodes[0].logical_size(), q.nodes[0].count())
                {
                    let node = q.nodes.pop_front().expect("one node");
                    *self = List::Pack(node);
                }
            }
        }
        n
    }

    /// The node holding element `i` (< len) and the element's position in it.
    fn locate(&self, i: usize) -> (usize, usize) {
        let q = match self {
            List::Pack(_) => return (0, i),
            List::Quick(q) => q,
        };
        if i < q.len / 2 {
            let mut k = i;
            for (ni, n) in q.nodes.iter().enumerate() {
                if k < n.count() {
                    return (ni, k);
                }
                k -= n.count();
            }
        } else {
            let mut k = q.len - 1 - i; // distance from the tail
            for (ni, n) in q.nodes.iter().enumerate().rev() {
                if k < n.count() {
                    return (ni, n.count() - 1 - k);
                }
                k -= n.count();
            }
        }
        unreachable!("index {i} out of range for list of {}", q.len)
    }

    /// Resolves a Redis index (negative counts from the tail).
    fn index(&self, i: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if i < 0 { len.checked_add(i)? } else { i };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// LINDEX.
    pub fn get(&self, i: i64) -> Option<&[u8]> {
        let i = self.index(i)?;
        let (ni, k) = self.locate(i);
        Some(self.node(ni).get(k))
    }

    /// LSET: replaces element `i`; false when the index is out of range.
    pub fn set(&mut self, i: i64, e: &[u8], lim: Limit) -> bool {
        self.prepare_grow(&[e], lim);
        let Some(i) = self.index(i) else { return false };
        let (ni, k) = self.locate(i);
        self.edit(lim, true, |nodes| {
            let old = std::mem::take(&mut nodes[ni]);
            let mut elems: Vec<&[u8]> = old.iter().collect();
            elems[k] = e;
            replace_node(nodes, ni, &elems, lim);
        });
        true
    }

    /// LINSERT: inserts `e` before or after the first element equal to `pivot`. Returns false
    /// when there is no such element.
    pub fn insert(&mut self, pivot: &[u8], e: &[u8], after: bool, lim: Limit) -> bool {
        self.prepare_grow(&[e], lim);
        let Some(at) = self.iter().position(|x| x == pivot) else {
            return false;
        };
        let (ni, k) = self.locate(at);
        self.edit(lim, false, |nodes| {
            let old = std::mem::take(&mut nodes[ni]);
            let mut elems: Vec<&[u8]> = old.iter().collect();
            elems.insert(if after { k + 1 } else { k }, e);
            replace_node(nodes, ni, &elems, lim);
        });
        true
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
        let hits = |n: &Node| n.iter().filter(|x| *x == e).count();
        if (0..self.node_count()).all(|i| hits(self.node(i)) == 0) {
            return 0;
        }
        self.edit(lim, true, |nodes| {
            let mut removed = 0;
            let order: Vec<usize> = if from_tail {
                (0..nodes.len()).rev().collect()
            } else {
                (0..nodes.len()).collect()
            };
            for ni in order {
                if left == 0 {
                    break;
                }
                let found = hits(&nodes[ni]);
                if found == 0 {
                    continue;
                }
                let take = found.min(left);
                // Which matches go: the first `take` (or the last, from the tail).
                let skip = if from_tail { found - take } else { 0 };
                let mut seen = 0;
                let kept: Vec<&[u8]> = nodes[ni]
                    .iter()
                    .filter(|x| {
                        if *x != e {
                            return true;
                        }
                        seen += 1;
                        seen <= skip || seen > skip + take
                    })
                    .collect();
                nodes[ni] = Node::from_elems(kept.iter().copied());
                left -= take;
                removed += take;
            }
            nodes.retain(|n| n.count() > 0);
            merge_neighbours(nodes, lim);
            removed
        })
    }

    /// LTRIM: keeps only the inclusive range `start..=stop` (Redis index rules).
    pub fn trim(&mut self, start: i64, stop: i64, lim: Limit) {
        let len = self.len();
        let (ltrim, rtrim) = match clamp_range(len, start, stop) {
            None => (len, 0),
            Some((s, n)) => (s, len - s - n),
        };
        self.pop_n(End::Left, ltrim, lim, |_| {});
        self.pop_n(End::Right, rtrim, lim, |_| {});
    }

    /// Elements from index `start` (< len) towards the tail.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len() {
            return Iter {
                list: self,
                node: 0,
                at: Default::default(),
                node_left: 0,
                left: 0,
            };
        }
        let (ni, k) = self.locate(start);
        let n = self.node(ni);
        Iter {
            list: self,
            node: ni,
            at: n.fwd_at(k),
            node_left: n.count() - k,
            left: self.len() - start,
        }
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements from index `start` (< len) towards the head.
    pub fn iter_rev_from(&self, start: usize) -> RevIter<'_> {
        if start >= self.len() {
            return RevIter {
                list: self,
                node: 0,
                at: Default::default(),
                node_left: 0,
                left: 0,
            };
        }
        let (ni, k) = self.locate(start);
        RevIter {
            list: self,
            node: ni,
            at: self.node(ni).back_at(k),
            node_left: k + 1,
            left: start + 1,
        }
    }

    /// All elements, tail to head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        self.iter_rev_from(self.len().wrapping_sub(1))
    }

    /// LPOS: indexes of elements equal to `e`. `rank` (non-zero) picks the first match to
    /// report (negative: searching from the tail), `count` how many to report (0 = all),
    /// `maxlen` how many elements to scan (0 = all).
    pub fn positions(&self, e: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let len = self.len();
        let skip = rank.unsigned_abs() as usize - 1;
        let want = if count == 0 { usize::MAX } else { count };
        let scan = if maxlen == 0 { len } else { maxlen.min(len) };
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
                if check(len - 1 - j, x) {
                    break;
                }
            }
        }
        out
    }
}

/// Replaces node `ni` by nodes holding `elems`, split to fit `lim`.
fn replace_node(nodes: &mut VecDeque<Node>, ni: usize, elems: &[&[u8]], lim: Limit) {
    let mut parts = VecDeque::new();
    pack_nodes(elems, lim, &mut parts);
    nodes.remove(ni);
    for (j, part) in parts.into_iter().enumerate() {
        nodes.insert(ni + j, part);
    }
}

/// Joins adjacent nodes whose union fits the limit, after removals in the middle.
fn merge_neighbours(nodes: &mut VecDeque<Node>, lim: Limit) {
    let mut i = 0;
    while i + 1 < nodes.len() {
        let (a, b) = (&nodes[i], &nodes[i + 1]);
        if !lim.exceeds(a.logical_size() + b.logical_size(), a.count() + b.count()) {
            let joined = Node::from_elems(a.iter().chain(b.iter()));
            nodes[i] = joined;
            nodes.remove(i + 1);
        } else {
            i += 1;
        }
    }
}

/// Head-to-tail iterator over a list's elements.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    at: node::Fwd,
    /// Elements left in the current node.
    node_left: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        if self.node_left == 0 {
            self.node += 1;
            let n = self.list.node(self.node);
            self.at = n.front();
            self.node_left = n.count();
        }
        let (e, next) = self.list.node(self.node).next_fwd(self.at);
        self.at = next;
        self.node_left -= 1;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Tail-to-head iterator over a list's elements.
pub struct RevIter<'a> {
    list: &'a List,
    node: usize,
    at: node::Back,
    node_left: usize,
    left: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        if self.node_left == 0 {
            self.node -= 1;
            let n = self.list.node(self.node);
            self.at = n.back();
            self.node_left = n.count();
        }
        let (e, next) = self.list.node(self.node).next_back(self.at);
        self.at = next;
        self.node_left -= 1;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for RevIter<'_> {}

#[cfg(test)]
mod tests;
