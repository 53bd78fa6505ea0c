//! The sorted set type (Redis's t_zset.c): members with a double score, ordered by score and
//! then by member bytes.
//!
//! Two encodings, as in Redis:
//! - [`ZSet::Packed`] ("listpack"): one byte buffer of entries in order, while the set is small
//!   (at most `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes).
//!   An entry is `[header][score][member]`; the header byte holds the score's kind and the
//!   member length, and integral scores that fit take 1, 2 or 4 bytes instead of 8: a
//!   16-byte member with a small integer score costs 18 bytes. Operations scan linearly,
//!   which is fast at this size.
//! - [`ZSet::Sorted`] ("skiplist"): a hash table from member to score for O(1) ZSCORE, plus
//!   the order kept in a list of sorted chunks with a Fenwick tree over chunk sizes, so rank,
//!   element-at-rank, insertion and removal are O(log n + chunk size). Members are shared
//!   between the two structures through `Arc<[u8]>`.
//!
//! Scores are never NaN (the server rejects NaN before calling in), so comparing them with
//! `partial_cmp` is total; `-0` and `0` compare equal, as with C's `<` in Redis.

use std::cmp::Ordering;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::hash_key;
use crate::types::packbuf::PackBuf;

/// Owned (member, score) pairs, as returned by pops and copies.
pub type Elements = Vec<(Vec<u8>, f64)>;

/// The thresholds of the compact encoding (zset-max-listpack-entries / -value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// A sorted set value.
#[derive(Clone)]
pub enum ZSet {
    /// The compact encoding; see the module docs for the entry layout.
    Packed(PackBuf),
    /// The large encoding; boxed so that the enum stays as small as a `Vec`.
    Sorted(Box<Sorted>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(PackBuf::new())
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        self.range(0, self.len(), false, |m, s| {
            l.entry(&(String::from_utf8_lossy(m), s));
        });
        l.finish()
    }
}

/// Equality of contents, whatever the encodings.
impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut a = Vec::with_capacity(self.len());
        self.range(0, self.len(), false, |m, s| a.push((m.to_vec(), s)));
        let mut i = 0;
        let mut same = true;
        other.range(0, other.len(), false, |m, s| {
            same &= a[i].0 == m && a[i].1.to_bits() == s.to_bits();
            i += 1;
        });
        same
    }
}

/// Total order of elements: score, then member bytes.
#[inline]
fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

/// A score interval, as parsed from ZRANGEBYSCORE's `min`/`max` ("(" makes a bound exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

impl ScoreRange {
    /// Parses Redis's `min max` syntax; None for "ERR min or max is not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = parse_score_bound(min)?;
        let (max, maxex) = parse_score_bound(max)?;
        Some(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// True when `s` is at or above the lower bound.
    #[inline]
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    /// True when `s` is at or below the upper bound.
    #[inline]
    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// True when no score can be inside (Redis checks this before looking at the set).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One bound of a score range. Redis uses `strtod` on the text after an optional "(", which
/// accepts the empty string as 0 and leading whitespace; NaN is refused.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, ex) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let start = text
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    if text.is_empty() {
        return if start == 0 { Some((0.0, ex)) } else { None };
    }
    let v = crate::num::parse_f64(text)?;
    if v.is_nan() {
        return None;
    }
    Some((v, ex))
}

/// One bound of a lexicographic range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// "-": below every member.
    NegInf,
    /// "+": above every member.
    PosInf,
    /// "[member"
    Incl(Vec<u8>),
    /// "(member"
    Excl(Vec<u8>),
}

impl LexBound {
    /// Parses "-", "+", "[x", "(x"; None for "ERR min or max not valid string range item".
    pub fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::PosInf),
            b'-' if arg.len() == 1 => Some(LexBound::NegInf),
            b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
            b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
            _ => None,
        }
    }
}

/// A lexicographic interval for the BYLEX commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    /// True when `m` is at or above the lower bound.
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }

    /// True when `m` is at or below the upper bound.
    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }

    /// True when no member can be inside, as Redis's zslIsInLexRange pre-check.
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (PosInf, _) | (_, NegInf) => true,
            (NegInf, _) | (_, PosInf) => false,
            (Incl(a), Incl(b)) => a > b,
            (Incl(a), Excl(b)) | (Excl(a), Incl(b)) | (Excl(a), Excl(b)) => a >= b,
        }
    }
}

// ---------------------------------------------------------------------------
// Packed encoding
// ---------------------------------------------------------------------------

const TAG_F64: u8 = 0;
const TAG_I8: u8 = 1;
const TAG_I16: u8 = 2;
const TAG_I32: u8 = 3;
/// The score equals the previous entry's (common: lex sets use one score throughout).
const TAG_SAME: u8 = 4;
/// The score is the previous entry's plus one (common: sequential scores).
const TAG_NEXT: u8 = 5;
/// Member lengths below this fit in the header byte; longer ones follow it as a varint.
const INLINE_LEN: usize = 31;

/// Appends one packed entry: a header byte holding the score's kind (low 3 bits) and the
/// member length (high 5 bits, or 31 and a varint after the score), the score, the member.
/// `prev` is the score of the entry before it, if any: scores equal to it or one above it
/// take no bytes, which makes entries depend on their predecessor (callers re-encode the
/// following entry when they insert or remove).
fn pack_entry(out: &mut Vec<u8>, member: &[u8], score: f64, prev: Option<f64>) {
    let exact = score.trunc() == score
        && score.abs() < 2147483648.0
        && !(score == 0.0 && score.is_sign_negative());
    let kind = match prev {
        Some(p) if p.to_bits() == score.to_bits() => TAG_SAME,
        Some(p) if (p + 1.0).to_bits() == score.to_bits() => TAG_NEXT,
        _ if !exact => TAG_F64,
        _ if (i8::MIN as f64..=i8::MAX as f64).contains(&score) => TAG_I8,
        _ if (i16::MIN as f64..=i16::MAX as f64).contains(&score) => TAG_I16,
        _ => TAG_I32,
    };
    out.push(kind | (member.len().min(INLINE_LEN) as u8) << 3);
    match kind {
        TAG_I8 => out.push(score as i8 as u8),
        TAG_I16 => out.extend_from_slice(&(score as i16).to_le_bytes()),
        TAG_I32 => out.extend_from_slice(&(score as i32).to_le_bytes()),
        TAG_F64 => out.extend_from_slice(&score.to_le_bytes()),
        _ => {}
    }
    if member.len() >= INLINE_LEN {
        let mut n = member.len();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(member);
}

/// Decodes the entry at `off` whose predecessor has score `prev`: (member, score, offset of
/// the next entry).
#[inline]
fn unpack_at(buf: &[u8], off: usize, prev: Option<f64>) -> (&[u8], f64, usize) {
    let header = buf[off];
    let mut p = off + 1;
    let score = match header & 7 {
        TAG_I8 => {
            p += 1;
            buf[off + 1] as i8 as f64
        }
        TAG_I16 => {
            p += 2;
            i16::from_le_bytes([buf[off + 1], buf[off + 2]]) as f64
        }
        TAG_I32 => {
            p += 4;
            i32::from_le_bytes(buf[off + 1..off + 5].try_into().unwrap()) as f64
        }
        TAG_SAME => prev.expect("TAG_SAME has a predecessor"),
        TAG_NEXT => prev.expect("TAG_NEXT has a predecessor") + 1.0,
        _ => {
            p += 8;
            f64::from_le_bytes(buf[off + 1..off + 9].try_into().unwrap())
        }
    };
    let mut len = (header >> 3) as usize;
    if len == INLINE_LEN {
        len = 0;
        let mut shift = 0;
        loop {
            let b = buf[p];
            p += 1;
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
    }
    (&buf[p..p + len], score, p + len)
}

/// One decoded entry of a packed buffer.
#[derive(Clone, Copy)]
struct PackedEntry<'a> {
    off: usize,
    member: &'a [u8],
    score: f64,
    next: usize,
    /// Score of the entry before this one.
    prev: Option<f64>,
}

/// Iterates over the entries of a packed buffer, in order.
fn packed_iter(buf: &[u8]) -> impl Iterator<Item = PackedEntry<'_>> {
    let mut off = 0;
    let mut prev = None;
    std::iter::from_fn(move || {
        if off >= buf.len() {
            return None;
        }
        let (member, score, next) = unpack_at(buf, off, prev);
        let e = PackedEntry {
            off,
            member,
            score,
            next,
            prev,
        };
        prev = Some(score);
        off = next;
        Some(e)
    })
}

/// Position of rank `rank` (or of the end when `rank` is the length): its byte offset and
/// the score before it.
fn packed_position(buf: &[u8], rank: usize) -> (usize, Option<f64>) {
    let mut last = None;
    for (i, e) in packed_iter(buf).enumerate() {
        if i == rank {
            return (e.off, e.prev);
        }
        last = Some(e.score);
    }
    (buf.len(), last)
}

/// Replaces the entries in bytes `start..end` by `insert` (if any), where `prev` is the
/// score before `start` and `end_prev` the score before `end`; the entry at `end` is
/// re-encoded against its new predecessor. `added` is the change in the element count.
fn packed_replace(
    buf: &mut PackBuf,
    start: usize,
    end: usize,
    prev: Option<f64>,
    end_prev: Option<f64>,
    insert: Option<(&[u8], f64)>,
    added: isize,
) {
    let mut repl = Vec::with_capacity(32);
    let mut last = prev;
    if let Some((m, s)) = insert {
        pack_entry(&mut repl, m, s, last);
        last = Some(s);
    }
    let mut tail = end;
    if end < buf.len() {
        let (m, s, next) = unpack_at(buf.bytes(), end, end_prev);
        pack_entry(&mut repl, m, s, last);
        tail = next;
    }
    let count = buf.count() as isize + added;
    buf.splice(start..tail, &repl);
    buf.set_count(count as usize);
}

// ---------------------------------------------------------------------------
// Sorted encoding
// ---------------------------------------------------------------------------

/// Chunks split when they reach this many elements.
const CHUNK_MAX: usize = 128;
/// A chunk this small is merged into a neighbour when the two fit in one chunk.
const CHUNK_MIN: usize = 16;

/// The large encoding: member -> score hash table plus an order-statistic chunk list.
#[derive(Clone, Default)]
pub struct Sorted {
    map: HashTable<(Arc<[u8]>, f64)>,
    /// Non-empty sorted runs; concatenated they are the whole set in order.
    chunks: Vec<Vec<(f64, Arc<[u8]>)>>,
    /// Fenwick tree over `chunks[i].len()`.
    fenwick: Vec<usize>,
    /// The score of each chunk's last element, densely: finding a chunk by score is a
    /// binary search over this array (a few cache lines) instead of one cache miss per
    /// probe into the chunks themselves. Members are looked at only on equal scores.
    maxs: Vec<f64>,
    len: usize,
}

impl Sorted {
    fn score(&self, member: &[u8]) -> Option<f64> {
        self.map
            .find(hash_key(member), |e| &*e.0 == member)
            .map(|e| e.1)
    }

    /// Rebuilds the Fenwick tree and the chunk maxima after chunks were split, merged or
    /// removed.
    fn rebuild_fenwick(&mut self) {
        self.maxs.clear();
        self.maxs.extend(
            self.chunks
                .iter()
                .map(|c| c.last().expect("chunks are non-empty").0),
        );
        let n = self.chunks.len();
        self.fenwick.clear();
        self.fenwick.extend(self.chunks.iter().map(|c| c.len()));
        for i in 0..n {
            let j = i | (i + 1);
            if j < n {
                self.fenwick[j] += self.fenwick[i];
            }
        }
    }

    fn fenwick_add(&mut self, mut i: usize, delta: isize) {
        while i < self.fenwick.len() {
            self.fenwick[i] = (self.fenwick[i] as isize + delta) as usize;
            i |= i + 1;
        }
    }

    /// Number of elements in chunks `0..i`.
    fn prefix(&self, i: usize) -> usize {
        let mut sum = 0;
        let mut i = i;
        while i > 0 {
            sum += self.fenwick[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// The chunk holding rank `rank` (< len) and the offset inside it.
    fn locate(&self, rank: usize) -> (usize, usize) {
        let n = self.fenwick.len();
        let mut pos = 0;
        let mut rem = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.fenwick[next - 1] <= rem {
                pos = next;
                rem -= self.fenwick[next - 1];
            }
            step >>= 1;
        }
        (pos, rem)
    }

    /// The first chunk whose last element is at or after (`score`, `member`) in the order
    /// (`chunks.len()` when none): maxima first, members only among equal maxima.
    fn chunk_at_or_after(&self, score: f64, member: &[u8]) -> usize {
        let lo = self.maxs.partition_point(|&x| x < score);
        if lo == self.maxs.len() || self.maxs[lo] != score {
            return lo;
        }
        let hi = lo + self.maxs[lo..].partition_point(|&x| x <= score);
        lo + self.chunks[lo..hi].partition_point(|c| {
            let (s, m) = c.last().expect("non-empty");
            cmp_elem(*s, m, score, member) == Ordering::Less
        })
    }

    /// Number of elements before (`score`, `member`) in the order.
    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        let ci = self.chunk_at_or_after(score, member);
        if ci == self.chunks.len() {
            return self.len;
        }
        self.prefix(ci)
            + self.chunks[ci]
                .partition_point(|(s, m)| cmp_elem(*s, m, score, member) == Ordering::Less)
    }

    /// Number of elements whose score satisfies `before`, which holds on a prefix of the
    /// order and depends on the score only (score ranges): never looks at a member.
    fn count_before_score(&self, before: impl Fn(f64) -> bool) -> usize {
        let ci = self.maxs.partition_point(|&x| before(x));
        if ci == self.chunks.len() {
            return self.len;
        }
        self.prefix(ci) + self.chunks[ci].partition_point(|(s, _)| before(*s))
    }

    /// Number of elements for which the monotone `before` holds (a prefix of the order).
    fn count_before(&self, before: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| {
            let (s, m) = c.last().expect("chunks are non-empty");
            before(*s, m)
        });
        if ci == self.chunks.len() {
            return self.len;
        }
        self.prefix(ci) + self.chunks[ci].partition_point(|(s, m)| before(*s, m))
    }

    /// Adds an element that is not in the order yet (the map is handled by the caller).
    fn order_insert(&mut self, member: Arc<[u8]>, score: f64) {
        if self.chunks.is_empty() {
            let mut c = Vec::with_capacity(8);
            c.push((score, member));
            self.chunks.push(c);
            self.len += 1;
            self.rebuild_fenwick();
            return;
        }
        let ci = self
            .chunk_at_or_after(score, &member)
            .min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[ci];
        let at = chunk.partition_point(|(s, m)| cmp_elem(*s, m, score, &member) == Ordering::Less);
        chunk.insert(at, (score, member));
        self.len += 1;
        if chunk.len() >= CHUNK_MAX {
            let tail = chunk.split_off(CHUNK_MAX / 2);
            self.chunks.insert(ci + 1, tail);
            self.rebuild_fenwick();
        } else {
            if at + 1 == chunk.len() {
                self.maxs[ci] = score;
            }
            self.fenwick_add(ci, 1);
        }
    }

    /// Removes an element known to be in the order.
    fn order_remove(&mut self, member: &[u8], score: f64) {
        let ci = self.chunk_at_or_after(score, member);
        let chunk = &mut self.chunks[ci];
        let at = chunk.partition_point(|(s, m)| cmp_elem(*s, m, score, member) == Ordering::Less);
        debug_assert!(&*chunk[at].1 == member);
        chunk.remove(at);
        if let Some(last) = chunk.last() {
            self.maxs[ci] = last.0;
        }
        self.len -= 1;
        self.after_shrink(ci, 1);
    }

    /// Keeps the chunk list healthy after chunk `ci` lost `removed` elements: drops it when
    /// empty, merges it into a neighbour when small, so long-lived sets do not fragment.
    fn after_shrink(&mut self, ci: usize, removed: usize) {
        let len = self.chunks[ci].len();
        if len == 0 {
            self.chunks.remove(ci);
            self.rebuild_fenwick();
        } else if len < CHUNK_MIN
            && ci + 1 < self.chunks.len()
            && len + self.chunks[ci + 1].len() < CHUNK_MAX
        {
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend(next);
            self.rebuild_fenwick();
        } else if len < CHUNK_MIN && ci > 0 && len + self.chunks[ci - 1].len() < CHUNK_MAX {
            let cur = self.chunks.remove(ci);
            self.chunks[ci - 1].extend(cur);
            self.rebuild_fenwick();
        } else {
            if self.chunks[ci].capacity() > 4 * len.max(8) {
                self.chunks[ci].shrink_to(2 * len);
            }
            self.fenwick_add(ci, -(removed as isize));
        }
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let h = hash_key(member);
        if let Some(e) = self.map.find_mut(h, |e| &*e.0 == member) {
            let old = e.1;
            if old.to_bits() != score.to_bits() {
                e.1 = score;
                let arc = e.0.clone();
                self.order_remove(member, old);
                self.order_insert(arc, score);
            }
            return Some(old);
        }
        let arc: Arc<[u8]> = Arc::from(member);
        self.map
            .insert_unique(h, (arc.clone(), score), |e| hash_key(&e.0));
        self.order_insert(arc, score);
        None
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = hash_key(member);
        let entry = self.map.find_entry(h, |e| &*e.0 == member).ok()?;
        let ((_, score), _) = entry.remove();
        self.order_remove(member, score);
        if self.map.capacity() > 64 && self.map.len() * 8 < self.map.capacity() {
            self.map.shrink_to(self.map.len() * 2, |e| hash_key(&e.0));
        }
        Some(score)
    }

    /// Calls `f` on ranks `start..end` in order (or reverse order with `rev`).
    fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        if start >= end {
            return;
        }
        if !rev {
            let (mut ci, mut off) = self.locate(start);
            for _ in start..end {
                let (s, m) = &self.chunks[ci][off];
                f(m, *s);
                off += 1;
                if off == self.chunks[ci].len() {
                    ci += 1;
                    off = 0;
                }
            }
        } else {
            let (mut ci, mut off) = self.locate(end - 1);
            for _ in start..end {
                let (s, m) = &self.chunks[ci][off];
                f(m, *s);
                if off == 0 {
                    if ci == 0 {
                        break;
                    }
                    ci -= 1;
                    off = self.chunks[ci].len();
                }
                off -= 1;
            }
        }
    }

    /// Removes ranks `start..end`.
    fn remove_ranks(&mut self, start: usize, end: usize) {
        let mut members: Vec<Arc<[u8]>> = Vec::with_capacity(end - start);
        let (mut ci, mut off) = self.locate(start);
        let mut left = end - start;
        // Drain whole runs chunk by chunk, then fix the chunk list once.
        while left > 0 {
            let take = left.min(self.chunks[ci].len() - off);
            members.extend(self.chunks[ci].drain(off..off + take).map(|e| e.1));
            left -= take;
            ci += 1;
            off = 0;
        }
        self.chunks.retain(|c| !c.is_empty());
        self.len -= members.len();
        for m in &members {
            if let Ok(e) = self.map.find_entry(hash_key(m), |e| e.0 == *m) {
                e.remove();
            }
        }
        if self.map.capacity() > 64 && self.map.len() * 8 < self.map.capacity() {
            self.map.shrink_to(self.map.len() * 2, |e| hash_key(&e.0));
        }
        // A range removal leaves at most two partial chunks at its ends; merging them keeps
        // the list compact.
        if let Some(ci) = self.chunks.iter().position(|c| c.len() < CHUNK_MIN) {
            self.rebuild_fenwick();
            self.after_shrink(ci, 0);
        }
        self.rebuild_fenwick();
    }

    /// Checks the indexes against the chunks (tests).
    #[cfg(test)]
    fn check_index(&self) {
        let lasts: Vec<f64> = self.chunks.iter().map(|c| c.last().unwrap().0).collect();
        assert_eq!(self.maxs, lasts);
        let mut sum = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            assert!(!c.is_empty());
            assert_eq!(self.prefix(i), sum);
            sum += c.len();
        }
        assert_eq!(sum, self.len);
        assert_eq!(self.map.len(), self.len);
    }

    fn mem_usage(&self) -> usize {
        let member_bytes: usize = self.map.iter().map(|e| e.0.len() + 16).sum();
        self.map.capacity() * (std::mem::size_of::<(Arc<[u8]>, f64)>() + 1)
            + self.chunks.capacity() * std::mem::size_of::<Vec<(f64, Arc<[u8]>)>>()
            + self
                .chunks
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<(f64, Arc<[u8]>)>())
                .sum::<usize>()
            + self.fenwick.capacity() * std::mem::size_of::<usize>()
            + member_bytes
            + std::mem::size_of::<Sorted>()
    }
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// An empty set in the encoding Redis's zsetTypeCreate picks for `size_hint` elements
    /// whose first member is `value_len_hint` bytes long.
    pub fn with_hint(size_hint: usize, value_len_hint: usize, limits: Limits) -> ZSet {
        if size_hint <= limits.max_entries && value_len_hint <= limits.max_value {
            ZSet::Packed(PackBuf::new())
        } else {
            ZSet::Sorted(Box::default())
        }
    }

    /// Builds a set from distinct members, choosing the encoding as Redis does for the result
    /// of ZUNIONSTORE and friends (zsetConvertToListpackIfNeeded).
    pub fn from_members(items: impl IntoIterator<Item = (Vec<u8>, f64)>, limits: Limits) -> ZSet {
        let mut items: Vec<(Vec<u8>, f64)> = items.into_iter().collect();
        items.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        let max_len = items.iter().map(|e| e.0.len()).max().unwrap_or(0);
        if items.len() <= limits.max_entries && max_len <= limits.max_value {
            let mut buf = Vec::new();
            let mut prev = None;
            for (m, s) in &items {
                pack_entry(&mut buf, m, *s, prev);
                prev = Some(*s);
            }
            ZSet::Packed(PackBuf::from_bytes(&buf, items.len()))
        } else {
            let mut z = Sorted::default();
            z.map.reserve(items.len(), |e| hash_key(&e.0));
            for chunk in items.chunks(CHUNK_MAX / 2) {
                let mut c = Vec::with_capacity(chunk.len());
                for (m, s) in chunk {
                    let arc: Arc<[u8]> = Arc::from(m.as_slice());
                    z.map
                        .insert_unique(hash_key(m), (arc.clone(), *s), |e| hash_key(&e.0));
                    c.push((*s, arc));
                }
                z.chunks.push(c);
            }
            z.len = items.len();
            z.rebuild_fenwick();
            ZSet::Sorted(Box::new(z))
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(b) => b.count(),
            ZSet::Sorted(z) => z.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            ZSet::Packed(b) => b.count() == 0,
            ZSet::Sorted(z) => z.len == 0,
        }
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            ZSet::Packed(b) => b.alloc_size(),
            ZSet::Sorted(z) => z.mem_usage(),
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Sorted(_) => "skiplist",
        }
    }

    /// Converts a packed set to the large encoding when it will receive `size_hint` elements
    /// (Redis's zsetTypeMaybeConvert, called by ZADD with its number of pairs).
    pub fn reserve_hint(&mut self, size_hint: usize, limits: Limits) {
        if matches!(self, ZSet::Packed(_)) && size_hint > limits.max_entries {
            self.convert_to_sorted();
        }
    }

    /// Makes room in a packed set for the members about to be added (ZADD with several
    /// pairs), so its buffer grows once; a no-op when they would not all fit.
    pub fn reserve_members(&mut self, members: &[&[u8]], limits: Limits) {
        if let ZSet::Packed(buf) = self {
            if members.len() > 1
                && buf.count() + members.len() <= limits.max_entries
                && members.iter().all(|m| m.len() <= limits.max_value)
            {
                // An upper bound: header, 8-byte score, member length varint, member. The
                // caller moves the buffer to its final size class with [`ZSet::fit`].
                let bytes: usize = members
                    .iter()
                    .map(|m| 9 + crate::types::packbuf::varint_len(m.len()) + m.len())
                    .sum();
                buf.reserve(bytes);
            }
        }
    }

    /// Moves a packed set to the block size class of its contents (after a batch that
    /// reserved an upper bound).
    pub fn fit(&mut self) {
        if let ZSet::Packed(buf) = self {
            buf.fit();
        }
    }

    fn convert_to_sorted(&mut self) {
        if let ZSet::Packed(buf) = self {
            let items: Vec<(Vec<u8>, f64)> = packed_iter(buf.bytes())
                .map(|e| (e.member.to_vec(), e.score))
                .collect();
            // Force the large encoding whatever the size.
            let limits = Limits {
                max_entries: 0,
                max_value: 0,
            };
            *self = if items.is_empty() {
                ZSet::Sorted(Box::default())
            } else {
                ZSet::from_members(items, limits)
            };
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(b) => packed_iter(b.bytes())
                .find(|e| e.member == member)
                .map(|e| e.score),
            ZSet::Sorted(z) => z.score(member),
        }
    }

    /// Sets the score of `member`, adding it if new; returns the previous score. Converts to
    /// the large encoding when the set outgrows `limits`. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: Limits) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let ZSet::Packed(buf) = self {
            let count = buf.count();
            let found = packed_iter(buf.bytes()).find(|e| e.member == member);
            match found.map(|e| (e.off, e.next, e.prev, e.score)) {
                Some((_, _, _, s)) if s.to_bits() == score.to_bits() => return Some(s),
                Some((off, next, prev, s)) => {
                    packed_replace(buf, off, next, prev, Some(s), None, -1);
                    Self::packed_insert(buf, member, score);
                    return Some(s);
                }
                None if count < limits.max_entries && member.len() <= limits.max_value => {
                    Self::packed_insert(buf, member, score);
                    return None;
                }
                None => self.convert_to_sorted(),
            }
        }
        match self {
            ZSet::Sorted(z) => z.insert(member, score),
            ZSet::Packed(_) => unreachable!("converted above"),
        }
    }

    /// Inserts a new entry at its place, growing the buffer exactly (Redis reallocates a
    /// listpack per insertion too; the allocator's size classes absorb most of it).
    fn packed_insert(buf: &mut PackBuf, member: &[u8], score: f64) {
        let mut last = None;
        let mut at = (buf.len(), None);
        for e in packed_iter(buf.bytes()) {
            if cmp_elem(e.score, e.member, score, member) == Ordering::Greater {
                at = (e.off, e.prev);
                break;
            }
            last = Some(e.score);
        }
        let (off, prev) = if at.0 == buf.len() {
            (buf.len(), last)
        } else {
            at
        };
        packed_replace(buf, off, off, prev, prev, Some((member, score)), 1);
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(buf) => {
                let e = packed_iter(buf.bytes()).find(|e| e.member == member)?;
                let (off, next, prev, s) = (e.off, e.next, e.prev, e.score);
                packed_replace(buf, off, next, prev, Some(s), None, -1);
                Some(s)
            }
            ZSet::Sorted(z) => z.remove(member),
        }
    }

    /// 0-based rank of `member` in ascending order (descending with `rev`), with its score.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let (r, s) = match self {
            ZSet::Packed(b) => packed_iter(b.bytes())
                .enumerate()
                .find(|(_, e)| e.member == member)
                .map(|(i, e)| (i, e.score))?,
            ZSet::Sorted(z) => {
                let s = z.score(member)?;
                (z.rank_of(s, member), s)
            }
        };
        Some(if rev { (self.len() - 1 - r, s) } else { (r, s) })
    }

    /// Number of elements, in order, for which `before` holds; `before` must be true on a
    /// prefix of the order and false after it (a partition point).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(b) => packed_iter(b.bytes())
                .take_while(|e| before(e.score, e.member))
                .count(),
            ZSet::Sorted(z) => z.count_before(&before),
        }
    }

    /// Ranks `start..end` of the elements whose score is in `r`.
    pub fn score_ranks(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        if let ZSet::Sorted(z) = self {
            let start = z.count_before_score(|s| !r.gte_min(s));
            let end = z.count_before_score(|s| r.lte_max(s) || !r.gte_min(s));
            return (start, end.max(start));
        }
        let start = self.count_before(|s, _| !r.gte_min(s));
        let end = self.count_before(|s, _| r.lte_max(s) || !r.gte_min(s));
        (start, end.max(start))
    }

    /// Ranks `start..end` of the elements whose member is in `r` (meaningful when all
    /// scores are equal, as in Redis).
    pub fn lex_ranks(&self, r: &LexRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let start = self.count_before(|_, m| !r.gte_min(m));
        let end = self.count_before(|_, m| r.lte_max(m) || !r.gte_min(m));
        (start, end.max(start))
    }

    /// Calls `f(member, score)` for ranks `start..end` (ascending ranks), visiting them in
    /// descending order when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match self {
            ZSet::Packed(b) => {
                let it = packed_iter(b.bytes()).skip(start).take(end - start);
                if rev {
                    let items: Vec<(&[u8], f64)> = it.map(|e| (e.member, e.score)).collect();
                    for (m, s) in items.into_iter().rev() {
                        f(m, s);
                    }
                } else {
                    for e in it {
                        f(e.member, e.score);
                    }
                }
            }
            ZSet::Sorted(z) => z.range(start, end, rev, f),
        }
    }

    /// The element of rank `rank` (ascending).
    pub fn get(&self, rank: usize) -> Option<(Vec<u8>, f64)> {
        let mut out = None;
        self.range(rank, rank + 1, false, |m, s| out = Some((m.to_vec(), s)));
        out
    }

    /// All elements in order.
    pub fn to_vec(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.range(0, self.len(), false, |m, s| v.push((m.to_vec(), s)));
        v
    }

    /// Removes ranks `start..end` (ascending); returns how many were removed.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match self {
            ZSet::Packed(buf) => {
                let (a, a_prev) = packed_position(buf.bytes(), start);
                let (b, b_prev) = packed_position(buf.bytes(), end);
                packed_replace(buf, a, b, a_prev, b_prev, None, -((end - start) as isize));
            }
            ZSet::Sorted(z) => z.remove_ranks(start, end),
        }
        end - start
    }

    /// Removes and returns up to `count` elements from the low end (or the high end with
    /// `max`), in pop order: the pure part of ZPOPMIN/ZPOPMAX/ZMPOP and their blocking forms.
    pub fn pop(&mut self, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
        let len = self.len();
        let n = count.min(len);
        let (start, end) = if max { (len - n, len) } else { (0, n) };
        let mut out = Vec::with_capacity(n);
        self.range(start, end, max, |m, s| out.push((m.to_vec(), s)));
        self.remove_ranks(start, end);
        out
    }

    /// Calls `f(member, score)` on every element, in order.
    pub fn for_each(&self, f: impl FnMut(&[u8], f64)) {
        self.range(0, self.len(), false, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn small() -> Limits {
        Limits {
            max_entries: 4,
            max_value: 8,
        }
    }

    #[test]
    fn packed_roundtrip_scores() {
        let scores = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            -128.0,
            300.0,
            -40000.0,
            1e9,
            2.5,
            3e10,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for len in [0, 1, 16, 30, 31, 32, 64, 200, 20000] {
            let member = vec![b'x'; len];
            for s in scores {
                for prev in [None, Some(s), Some(s - 1.0), Some(7.0)] {
                    let mut b = vec![7u8];
                    pack_entry(&mut b, &member, s, prev);
                    let (m, got, next) = unpack_at(&b, 1, prev);
                    assert_eq!(m, &member[..]);
                    assert_eq!(got.to_bits(), s.to_bits(), "{s} after {prev:?}");
                    assert_eq!(next, b.len());
                }
            }
        }
        // A 16-byte member costs 18 bytes with a small integer score, 17 with a score one
        // above (or equal to) the previous one.
        let mut b = Vec::new();
        pack_entry(&mut b, &[0; 16], 99.0, None);
        assert_eq!(b.len(), 18);
        pack_entry(&mut b, &[0; 16], 100.0, Some(99.0));
        assert_eq!(b.len(), 35);
    }

    #[test]
    fn insert_order_and_conversion() {
        let mut z = ZSet::new();
        assert_eq!(z.insert(b"b", 1.0, small()), None);
        assert_eq!(z.insert(b"a", 1.0, small()), None);
        assert_eq!(z.insert(b"c", 0.5, small()), None);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(
            z.to_vec(),
            vec![
                (b"c".to_vec(), 0.5),
                (b"a".to_vec(), 1.0),
                (b"b".to_vec(), 1.0)
            ]
        );
        assert_eq!(z.insert(b"a", 2.0, small()), Some(1.0));
        assert_eq!(z.rank(b"a", false), Some((2, 2.0)));
        assert_eq!(z.rank(b"a", true), Some((0, 2.0)));
        z.insert(b"d", 3.0, small());
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"e", 4.0, small());
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.len(), 5);
        let mut z2 = ZSet::new();
        z2.insert(b"long-member", 1.0, small());
        assert_eq!(z2.encoding(), "skiplist");
    }

    #[test]
    fn ranges() {
        for limits in [
            Limits::default(),
            Limits {
                max_entries: 0,
                max_value: 0,
            },
        ] {
            let mut z = ZSet::new();
            for i in 0..10 {
                z.insert(format!("m{i}").as_bytes(), i as f64, limits);
            }
            let r = ScoreRange::parse(b"(2", b"5").unwrap();
            assert_eq!(z.score_ranks(&r), (3, 6));
            let r = ScoreRange::parse(b"-inf", b"+inf").unwrap();
            assert_eq!(z.score_ranks(&r), (0, 10));
            let r = ScoreRange::parse(b"5", b"(5").unwrap();
            assert_eq!(z.score_ranks(&r), (0, 0));
            let mut got = Vec::new();
            z.range(2, 5, true, |m, _| got.push(m.to_vec()));
            assert_eq!(got, vec![b"m4".to_vec(), b"m3".to_vec(), b"m2".to_vec()]);
            assert_eq!(
                z.pop(2, true),
                vec![(b"m9".to_vec(), 9.0), (b"m8".to_vec(), 8.0)]
            );
            assert_eq!(z.pop(1, false), vec![(b"m0".to_vec(), 0.0)]);
            assert_eq!(z.len(), 7);
        }
        let mut z = ZSet::new();
        for m in ["a", "b", "c", "d"] {
            z.insert(m.as_bytes(), 0.0, Limits::default());
        }
        assert_eq!(z.lex_ranks(&LexRange::parse(b"[b", b"(d").unwrap()), (1, 3));
        assert_eq!(z.lex_ranks(&LexRange::parse(b"-", b"+").unwrap()), (0, 4));
        assert_eq!(z.lex_ranks(&LexRange::parse(b"+", b"-").unwrap()), (0, 0));
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"(", b"1").is_some());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, i8),
        Rem(u8),
        RemRanks(u8, u8),
        Pop(u8, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Add(m, s)),
            2 => any::<u8>().prop_map(Op::Rem),
            1 => (any::<u8>(), 0u8..20).prop_map(|(a, n)| Op::RemRanks(a, n)),
            1 => (0u8..5, any::<bool>()).prop_map(|(n, m)| Op::Pop(n, m)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Both encodings behave like a BTreeMap model under random operations.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 1..600), packed in any::<bool>()) {
            let limits = if packed { Limits { max_entries: 50, max_value: 64 } } else { Limits { max_entries: 0, max_value: 0 } };
            let mut z = ZSet::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let sorted = |model: &BTreeMap<Vec<u8>, f64>| {
                let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
                v.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
                v
            };
            for op in ops {
                match op {
                    Op::Add(m, s) => {
                        let m = format!("member{}", m % 200).into_bytes();
                        let s = s as f64 / 4.0;
                        prop_assert_eq!(z.insert(&m, s, limits), model.insert(m, s));
                    }
                    Op::Rem(m) => {
                        let m = format!("member{}", m % 200).into_bytes();
                        prop_assert_eq!(z.remove(&m), model.remove(&m));
                    }
                    Op::RemRanks(a, n) => {
                        let v = sorted(&model);
                        let a = a as usize % (v.len() + 1);
                        let end = (a + n as usize).min(v.len());
                        for (m, _) in &v[a..end] { model.remove(m); }
                        prop_assert_eq!(z.remove_ranks(a, a + n as usize), end - a);
                    }
                    Op::Pop(n, max) => {
                        let v = sorted(&model);
                        let n = (n as usize).min(v.len());
                        let expect: Vec<(Vec<u8>, f64)> = if max { v[v.len() - n..].iter().rev().cloned().collect() } else { v[..n].to_vec() };
                        for (m, _) in &expect { model.remove(m); }
                        prop_assert_eq!(z.pop(n, max), expect);
                    }
                }
                prop_assert_eq!(z.len(), model.len());
                if let ZSet::Sorted(s) = &z {
                    s.check_index();
                }
            }
            let v = sorted(&model);
            prop_assert_eq!(z.to_vec(), v.clone());
            for (i, (m, s)) in v.iter().enumerate() {
                prop_assert_eq!(z.rank(m, false), Some((i, *s)));
                prop_assert_eq!(z.score(m), Some(*s));
                prop_assert_eq!(z.get(i), Some((m.clone(), *s)));
            }
            let r = ScoreRange { min: -5.0, minex: true, max: 10.0, maxex: false };
            let (a, b) = z.score_ranks(&r);
            let expect: Vec<_> = v.iter().enumerate().filter(|(_, e)| r.gte_min(e.1) && r.lte_max(e.1)).map(|(i, _)| i).collect();
            prop_assert_eq!((a..b).collect::<Vec<_>>(), expect);
        }
    }

    #[test]
    fn compact_sizes() {
        assert!(std::mem::size_of::<ZSet>() <= 24);
        // 100 members of 16 bytes with scores 0..99: 17 bytes each (the score is implied by
        // the previous one) in one 1,792-byte block; the count is kept, not counted.
        let mut z = ZSet::new();
        for i in 0..100 {
            z.insert(format!("m{i:015}").as_bytes(), i as f64, Limits::default());
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.len(), 100);
        assert_eq!(z.mem_usage(), 1792);
        // ZADD with all pairs: reserve an upper bound, add, fit.
        let members: Vec<String> = (0..100).map(|i| format!("m{i:015}")).collect();
        let refs: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        let mut z2 = ZSet::new();
        z2.reserve_members(&refs, Limits::default());
        assert!(z2.mem_usage() > 1792);
        for (i, m) in refs.iter().enumerate() {
            z2.insert(m, i as f64, Limits::default());
        }
        z2.fit();
        assert_eq!(z2.mem_usage(), 1792);
        assert_eq!(z2, z);
    }

    #[test]
    fn large_set_order_statistics() {
        let mut z = ZSet::new();
        let l = Limits::default();
        for i in 0..5000u32 {
            let k = (i as u64 * 7919 % 5000) as u32;
            z.insert(format!("{k:05}").as_bytes(), (k / 10) as f64, l);
        }
        assert_eq!(z.len(), 5000);
        for k in (0..5000).step_by(37) {
            assert_eq!(
                z.rank(format!("{k:05}").as_bytes(), false),
                Some((k as usize, (k / 10) as f64))
            );
        }
        for k in 0..4000u32 {
            z.remove(format!("{k:05}").as_bytes());
        }
        assert_eq!(z.len(), 1000);
        assert_eq!(z.get(0), Some((b"04000".to_vec(), 400.0)));
        if let ZSet::Sorted(s) = &z {
            assert!(s.chunks.len() < 40, "chunks merged: {}", s.chunks.len());
        }
        assert_eq!(z.remove_ranks(10, 990), 980);
        assert_eq!(z.len(), 20);
        assert_eq!(z.get(10), Some((b"04990".to_vec(), 499.0)));
    }
}
