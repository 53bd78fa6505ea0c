//! The hash type: a map from field to value, with optional per-field deadlines (Redis 7.4's
//! hash field expiry).
//!
//! Two representations, as in Redis:
//! - **listpack** (small hashes): every pair in one contiguous buffer,
//!   `[field len: varint][field][value len: varint][value]` repeated, in insertion order.
//!   Lookups are linear scans, which for at most `hash-max-listpack-entries` short pairs is
//!   as fast as hashing and costs ~2 bytes of overhead per pair.
//! - **hashtable** (large hashes): a dense vector of pairs (one allocation per pair,
//!   `[field len: varint][field][value]`) plus a hash index of `u32` slots. Removal swaps the
//!   last pair into the hole, so a backwards walk over the vector (HSCAN) returns every pair
//!   present for the whole scan, and HRANDFIELD picks a uniform slot in O(1).
//!
//! A hash converts from listpack to hashtable once it has more than `max_entries` pairs or a
//! field or value longer than `max_value` bytes, and never converts back (like Redis).
//!
//! Field deadlines live in a side map that exists only while some field has one, so hashes
//! without field expiry pay 8 bytes for the empty `Option<Box<_>>`. The map keeps a lower
//! bound of its deadlines: [`Hash::purge_expired`] is O(1) until that bound is reached, which
//! is what lets the server purge on every access so no command ever sees an expired field.

use hashbrown::{HashMap, HashTable};
use rand::Rng;

use crate::hash_key;

/// Size thresholds for the compact representation (hash-max-listpack-entries / -value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for Limits {
    /// Redis's defaults.
    fn default() -> Self {
        Limits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// Condition of HEXPIRE and friends (NX | XX | GT | LT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// Per-field reply codes of HEXPIRE (Redis 7.4).
pub const HFE_NO_FIELD: i64 = -2;
pub const HFE_NO_CONDITION: i64 = 0;
pub const HFE_SET: i64 = 1;
pub const HFE_DELETED: i64 = 2;
/// HPERSIST / HTTL code for a field without deadline.
pub const HFE_NO_TTL: i64 = -1;

// ---------------------------------------------------------------------------------------
// varints
// ---------------------------------------------------------------------------------------

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 varint at `buf[at..]`: (value, bytes read).
#[inline]
fn get_varint(buf: &[u8], at: usize) -> (usize, usize) {
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

// ---------------------------------------------------------------------------------------
// listpack-like packed representation
// ---------------------------------------------------------------------------------------

/// Location of one pair inside a packed buffer.
#[derive(Clone, Copy)]
struct Span {
    /// Start of the pair (its field length varint).
    start: usize,
    /// Start of the value length varint.
    value_hdr: usize,
    /// The value bytes.
    value: usize,
    end: usize,
}

/// All pairs in one buffer, in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
struct Packed {
    buf: Vec<u8>,
    len: u32,
}

impl Packed {
    /// Decodes the pair starting at `at`: (field range start, span).
    #[inline]
    fn span_at(&self, at: usize) -> (usize, usize, Span) {
        let (flen, n) = get_varint(&self.buf, at);
        let fstart = at + n;
        let value_hdr = fstart + flen;
        let (vlen, m) = get_varint(&self.buf, value_hdr);
        let value = value_hdr + m;
        (
            fstart,
            flen,
            Span {
                start: at,
                value_hdr,
                value,
                end: value + vlen,
            },
        )
    }

    fn iter(&self) -> PackedIter<'_> {
        PackedIter { p: self, at: 0 }
    }

    fn find(&self, field: &[u8]) -> Option<Span> {
        let mut at = 0;
        while at < self.buf.len() {
            let (fs, fl, sp) = self.span_at(at);
            if &self.buf[fs..fs + fl] == field {
                return Some(sp);
            }
            at = sp.end;
        }
        None
    }

    /// Makes room for `add` more bytes, exactly, as Redis reallocs a listpack on each
    /// insert: slack would be pure per-key overhead. The allocator (mimalloc) grows a block
    /// in place while the new size fits its size class, so only crossing a class copies,
    /// which keeps appends amortised O(1) per byte.
    fn reserve(&mut self, add: usize) {
        if self.buf.capacity() - self.buf.len() < add {
            self.buf.reserve_exact(add);
        }
    }

    fn push(&mut self, field: &[u8], value: &[u8]) {
        self.reserve(varint_len(field.len()) + field.len() + varint_len(value.len()) + value.len());
        put_varint(&mut self.buf, field.len());
        self.buf.extend_from_slice(field);
        put_varint(&mut self.buf, value.len());
        self.buf.extend_from_slice(value);
        self.len += 1;
    }

    /// Replaces the value of the pair at `sp`, keeping its position (as lpReplace does).
    fn replace_value(&mut self, sp: Span, value: &[u8]) {
        let mut enc = Vec::with_capacity(varint_len(value.len()) + value.len());
        put_varint(&mut enc, value.len());
        enc.extend_from_slice(value);
        if enc.len() == sp.end - sp.value_hdr {
            self.buf[sp.value_hdr..sp.end].copy_from_slice(&enc);
        } else {
            self.reserve(enc.len().saturating_sub(sp.end - sp.value_hdr));
            self.buf.splice(sp.value_hdr..sp.end, enc);
        }
    }

    fn remove(&mut self, sp: Span) {
        self.buf.drain(sp.start..sp.end);
        self.len -= 1;
        if self.buf.capacity() > 64 && self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to(self.buf.len() + self.buf.len() / 8);
        }
    }
}

struct PackedIter<'a> {
    p: &'a Packed,
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.p.buf.len() {
            return None;
        }
        let (fs, fl, sp) = self.p.span_at(self.at);
        self.at = sp.end;
        Some((&self.p.buf[fs..fs + fl], &self.p.buf[sp.value..sp.end]))
    }
}

// ---------------------------------------------------------------------------------------
// hashtable representation
// ---------------------------------------------------------------------------------------

/// One pair in its own allocation: `[field len: varint][field][value]`.
type Pair = Box<[u8]>;

fn make_pair(field: &[u8], value: &[u8]) -> Pair {
    let mut v = Vec::with_capacity(varint_len(field.len()) + field.len() + value.len());
    put_varint(&mut v, field.len());
    v.extend_from_slice(field);
    v.extend_from_slice(value);
    v.into_boxed_slice()
}

#[inline]
fn pair_field(p: &[u8]) -> &[u8] {
    let (flen, n) = get_varint(p, 0);
    &p[n..n + flen]
}

#[inline]
fn pair_split(p: &[u8]) -> (&[u8], &[u8]) {
    let (flen, n) = get_varint(p, 0);
    (&p[n..n + flen], &p[n + flen..])
}

/// Dense vector of pairs plus a hash index of slots. See the module docs.
#[derive(Clone, Default)]
struct Table {
    index: HashTable<u32>,
    pairs: Vec<Pair>,
    /// Sum of the pairs' allocation sizes, for MEMORY USAGE without a walk.
    bytes: usize,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|p| pair_split(p)))
            .finish()
    }
}

impl Table {
    fn find(&self, field: &[u8]) -> Option<usize> {
        let pairs = &self.pairs;
        self.index
            .find(hash_key(field), |&i| {
                pair_field(&pairs[i as usize]) == field
            })
            .map(|&i| i as usize)
    }

    fn insert_new(&mut self, pair: Pair) {
        let slot = self.pairs.len();
        assert!(slot < u32::MAX as usize, "hash too large");
        let h = hash_key(pair_field(&pair));
        self.bytes += pair.len();
        self.pairs.push(pair);
        let pairs = &self.pairs;
        self.index.insert_unique(h, slot as u32, |&i| {
            hash_key(pair_field(&pairs[i as usize]))
        });
    }

    fn replace(&mut self, slot: usize, pair: Pair) {
        self.bytes = self.bytes - self.pairs[slot].len() + pair.len();
        self.pairs[slot] = pair;
    }

    /// Removes the pair in `slot`; the last pair moves into the hole.
    fn remove_at(&mut self, slot: usize) {
        let h = hash_key(pair_field(&self.pairs[slot]));
        match self.index.find_entry(h, |&i| i as usize == slot) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("hash index out of sync"),
        }
        let last = self.pairs.len() - 1;
        if slot != last {
            let mh = hash_key(pair_field(&self.pairs[last]));
            if let Some(i) = self.index.find_mut(mh, |&i| i as usize == last) {
                *i = slot as u32;
            }
        }
        let removed = self.pairs.swap_remove(slot);
        self.bytes -= removed.len();
        let cap = self.pairs.capacity();
        if cap > 64 && self.pairs.len() * 8 < cap {
            self.pairs.shrink_to(self.pairs.len() * 2);
            let pairs = &self.pairs;
            self.index.shrink_to(pairs.len() * 2, |&i| {
                hash_key(pair_field(&pairs[i as usize]))
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// field deadlines
// ---------------------------------------------------------------------------------------

/// Deadlines (ms since epoch) of the fields that have one.
#[derive(Debug, Clone, Default, PartialEq)]
struct Ttls {
    map: HashMap<Box<[u8]>, i64, foldhash::fast::RandomState>,
    /// A lower bound of every deadline in `map` (exact after each purge).
    min: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    Packed(Packed),
    Table(Table),
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.pairs.len() == other.pairs.len()
            && self.pairs.iter().all(|p| {
                let (f, v) = pair_split(p);
                other
                    .find(f)
                    .is_some_and(|s| pair_split(&other.pairs[s]).1 == v)
            })
    }
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Packed::default())
    }
}

/// A hash value. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    repr: Repr,
    ttls: Option<Box<Ttls>>,
}

impl PartialEq for Hash {
    /// Same pairs and same deadlines, whatever the representation and order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().all(|(f, v)| other.get(f) == Some(v))
            && self
                .iter()
                .all(|(f, _)| self.field_expire(f) == other.field_expire(f))
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields (including expired ones not purged yet: call
    /// [`Hash::purge_expired`] first).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len as usize,
            Repr::Table(t) => t.pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        let repr = match &self.repr {
            Repr::Packed(p) => p.buf.capacity(),
            Repr::Table(t) => {
                t.index.capacity() * (std::mem::size_of::<u32>() + 1)
                    + t.pairs.capacity() * std::mem::size_of::<Pair>()
                    + t.bytes
            }
        };
        let ttl = self.ttls.as_ref().map_or(0, |t| {
            std::mem::size_of::<Ttls>()
                + t.map.capacity() * (std::mem::size_of::<(Box<[u8]>, i64)>() + 1)
                + t.map.keys().map(|k| k.len()).sum::<usize>()
        });
        repr + ttl
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.find(field).map(|sp| &p.buf[sp.value..sp.end]),
            Repr::Table(t) => t.find(field).map(|s| pair_split(&t.pairs[s]).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Every (field, value) pair: insertion order for listpack, slot order for hashtable.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (a, b) = match &self.repr {
            Repr::Packed(p) => (Some(p.iter()), None),
            Repr::Table(t) => (None, Some(t.pairs.iter().map(|p| pair_split(p)))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// Moves a listpack to a hashtable.
    fn convert(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut t = Table::default();
            t.pairs.reserve_exact(p.len as usize + 1);
            for (f, v) in p.iter() {
                t.insert_new(make_pair(f, v));
            }
            self.repr = Repr::Table(t);
        }
    }

    /// Forces the hashtable representation (tests, DEBUG-like tooling).
    pub fn convert_to_table(&mut self) {
        self.convert();
    }

    /// Sets `field` to `value`, clearing any deadline of the field (HSET semantics).
    /// Returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        self.clear_ttl(field);
        self.set_keep_ttl(field, value, lim)
    }

    /// Sets `field` to `value`, keeping any deadline it has (HINCRBY semantics).
    /// Returns true when the field is new.
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        if matches!(self.repr, Repr::Packed(_))
            && (field.len() > lim.max_value || value.len() > lim.max_value)
        {
            self.convert();
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                if let Some(sp) = p.find(field) {
                    p.replace_value(sp, value);
                    return false;
                }
                p.push(field, value);
                if p.len as usize > lim.max_entries {
                    self.convert();
                }
                true
            }
            Repr::Table(t) => match t.find(field) {
                Some(s) => {
                    t.replace(s, make_pair(field, value));
                    false
                }
                None => {
                    t.insert_new(make_pair(field, value));
                    true
                }
            },
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let found = match &mut self.repr {
            Repr::Packed(p) => match p.find(field) {
                Some(sp) => {
                    p.remove(sp);
                    true
                }
                None => false,
            },
            Repr::Table(t) => match t.find(field) {
                Some(s) => {
                    t.remove_at(s);
                    true
                }
                None => false,
            },
        };
        if found {
            self.clear_ttl(field);
        }
        found
    }

    /// The pair at position `i` (0..len): O(1) for hashtable, O(i) for listpack.
    pub fn at(&self, i: usize) -> (&[u8], &[u8]) {
        match &self.repr {
            Repr::Packed(p) => p.iter().nth(i).expect("index in range"),
            Repr::Table(t) => pair_split(&t.pairs[i]),
        }
    }

    /// A uniformly random pair. Panics on an empty hash.
    pub fn random_pair(&self, rng: &mut impl Rng) -> (&[u8], &[u8]) {
        self.at(rng.gen_range(0..self.len()))
    }

    /// `count` pairs picked independently at random (HRANDFIELD with a negative count).
    /// A listpack is decoded once so each pick is O(1).
    pub fn random_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let n = self.len();
        match &self.repr {
            Repr::Packed(p) => {
                let all: Vec<_> = p.iter().collect();
                (0..count).map(|_| all[rng.gen_range(0..n)]).collect()
            }
            Repr::Table(t) => (0..count)
                .map(|_| pair_split(&t.pairs[rng.gen_range(0..n)]))
                .collect(),
        }
    }

    /// `count` distinct random pairs (HRANDFIELD with a positive count smaller than the
    /// hash): a partial Fisher-Yates shuffle of the positions, O(len) memory for 4-byte
    /// indexes at most.
    pub fn random_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let all: Vec<(&[u8], &[u8])> = self.iter().collect();
        let count = count.min(all.len());
        let mut idx: Vec<u32> = (0..all.len() as u32).collect();
        for i in 0..count {
            let j = rng.gen_range(i..idx.len());
            idx.swap(i, j);
        }
        idx[..count].iter().map(|&i| all[i as usize]).collect()
    }

    /// One HSCAN step. A listpack is returned whole with cursor 0 (as Redis does). A
    /// hashtable is walked backwards: the cursor is the number of slots not visited yet
    /// (0 = start), so a pair present for the whole scan is returned at least once even if
    /// others are removed or added meanwhile (see the module docs). Calls `f` for each pair
    /// and returns the next cursor (0 when done).
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (k, v) in p.iter() {
                    f(k, v);
                }
                0
            }
            Repr::Table(t) => {
                let len = t.pairs.len() as u64;
                let mut remaining = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while remaining > 0 && visited < count {
                    remaining -= 1;
                    visited += 1;
                    let (k, v) = pair_split(&t.pairs[remaining as usize]);
                    f(k, v);
                }
                remaining
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // field expiry
    // -----------------------------------------------------------------------------------

    fn clear_ttl(&mut self, field: &[u8]) -> bool {
        let Some(t) = &mut self.ttls else {
            return false;
        };
        let had = t.map.remove(field).is_some();
        if t.map.is_empty() {
            self.ttls = None;
        }
        had
    }

    /// The deadline of `field`: None if the field is missing, Some(None) without deadline.
    pub fn field_expire(&self, field: &[u8]) -> Option<Option<i64>> {
        if !self.contains(field) {
            return None;
        }
        Some(self.ttls.as_ref().and_then(|t| t.map.get(field).copied()))
    }

    /// True when some field has a deadline.
    pub fn has_field_ttls(&self) -> bool {
        self.ttls.is_some()
    }

    /// A lower bound of the earliest field deadline (for the active-expiry cycle's
    /// bookkeeping); None when no field has one.
    pub fn next_field_expiry(&self) -> Option<i64> {
        self.ttls.as_ref().map(|t| t.min)
    }

    /// HEXPIRE for one field: applies `cond` and sets the deadline `when` (ms), or deletes
    /// the field if `when <= now`. Returns Redis 7.4's per-field code ([`HFE_NO_FIELD`],
    /// [`HFE_NO_CONDITION`], [`HFE_SET`], [`HFE_DELETED`]). The condition is checked before
    /// the past-time deletion, as Redis does: a field without deadline counts as an
    /// infinite one (XX and GT fail, LT succeeds).
    pub fn set_field_expire(&mut self, field: &[u8], when: i64, cond: ExpireCond, now: i64) -> i64 {
        let Some(prev) = self.field_expire(field) else {
            return HFE_NO_FIELD;
        };
        let ok = match (prev, cond) {
            (_, ExpireCond::Always) => true,
            (None, ExpireCond::Xx | ExpireCond::Gt) => false,
            (None, _) => true,
            (Some(_), ExpireCond::Nx) => false,
            (Some(_), ExpireCond::Xx) => true,
            (Some(p), ExpireCond::Gt) => when > p,
            (Some(p), ExpireCond::Lt) => when < p,
        };
        if !ok {
            return HFE_NO_CONDITION;
        }
        if when <= now {
            self.remove(field);
            return HFE_DELETED;
        }
        let t = self.ttls.get_or_insert_with(|| {
            Box::new(Ttls {
                map: HashMap::default(),
                min: i64::MAX,
            })
        });
        t.min = t.min.min(when);
        t.map.insert(field.into(), when);
        HFE_SET
    }

    /// HPERSIST for one field: -2 missing, -1 no deadline, 1 removed.
    pub fn persist_field(&mut self, field: &[u8]) -> i64 {
        if !self.contains(field) {
            HFE_NO_FIELD
        } else if self.clear_ttl(field) {
            1
        } else {
            HFE_NO_TTL
        }
    }

    /// Removes every field whose deadline is at or before `now`; returns how many. O(1)
    /// while the earliest deadline is in the future. The server calls this before any
    /// command touches the hash, so expired fields are never visible.
    pub fn purge_expired(&mut self, now: i64) -> usize {
        self.expire_fields(now, usize::MAX)
    }

    /// Removes up to `max` fields whose deadline is at or before `now` (for the active
    /// expiry cycle); returns how many. The caller deletes the key if the hash became empty.
    pub fn expire_fields(&mut self, now: i64, max: usize) -> usize {
        self.expire_fields_into(now, max, None)
    }

    /// [`Hash::expire_fields`], also collecting the removed fields' names into `removed`
    /// (the append-only file logs them as HDEL).
    pub fn expire_fields_into(
        &mut self,
        now: i64,
        max: usize,
        removed: Option<&mut Vec<Box<[u8]>>>,
    ) -> usize {
        let Some(t) = &self.ttls else { return 0 };
        if t.min > now || max == 0 {
            return 0;
        }
        let dead: Vec<Box<[u8]>> = t
            .map
            .iter()
            .filter(|(_, &w)| w <= now)
            .take(max)
            .map(|(k, _)| k.clone())
            .collect();
        for f in &dead {
            self.remove(f);
        }
        if let Some(t) = &mut self.ttls {
            t.min = t.map.values().copied().min().unwrap_or(i64::MAX);
        }
        let n = dead.len();
        if let Some(out) = removed {
            out.extend(dead);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const SMALL: Limits = Limits {
        max_entries: 4,
        max_value: 8,
    };

    #[test]
    fn listpack_keeps_insertion_order_and_converts_on_count() {
        let mut h = Hash::new();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", SMALL));
        }
        assert_eq!(h.encoding(), "listpack");
        let keys: Vec<_> = h.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(
            keys,
            vec![
                b"f0".to_vec(),
                b"f1".to_vec(),
                b"f2".to_vec(),
                b"f3".to_vec()
            ]
        );
        assert!(!h.set(b"f1", b"longer-value", Limits::default()));
        assert_eq!(h.iter().nth(1).unwrap(), (&b"f1"[..], &b"longer-value"[..]));
        assert!(h.set(b"f4", b"v", SMALL));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f1"), Some(&b"longer-value"[..]));
    }

    #[test]
    fn converts_on_long_field_or_value() {
        let mut h = Hash::new();
        h.set(b"a", b"12345678", SMALL);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"a", b"123456789", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set(b"123456789", b"x", SMALL);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn remove_and_swap_keeps_index() {
        let mut h = Hash::new();
        for i in 0..1000 {
            h.set(
                format!("f{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                Limits::default(),
            );
        }
        for i in (0..1000).step_by(3) {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        for i in 0..1000 {
            let v = h.get(format!("f{i}").as_bytes());
            assert_eq!(v.is_some(), i % 3 != 0);
        }
        assert!(!h.remove(b"nope"));
    }

    #[test]
    fn scan_table_returns_all_once() {
        let mut h = Hash::new();
        for i in 0..300 {
            h.set(format!("f{i}").as_bytes(), b"v", Limits::default());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        loop {
            cur = h.scan(cur, 7, |k, _| {
                assert!(seen.insert(k.to_vec()));
            });
            if cur == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn scan_guarantee_under_deletions() {
        let mut h = Hash::new();
        for i in 0..300 {
            h.set(format!("f{i}").as_bytes(), b"v", Limits::default());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        let mut round = 0;
        loop {
            cur = h.scan(cur, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            // Delete some "odd" fields, add new ones each round.
            h.remove(format!("f{}", round * 2 + 1).as_bytes());
            h.set(format!("new{round}").as_bytes(), b"v", Limits::default());
            round += 1;
            if cur == 0 {
                break;
            }
        }
        for i in (0..300).step_by(2) {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i}");
        }
    }

    #[test]
    fn field_expiry_codes_and_purge() {
        let mut h = Hash::new();
        h.set(b"a", b"1", Limits::default());
        h.set(b"b", b"2", Limits::default());
        assert_eq!(
            h.set_field_expire(b"x", 100, ExpireCond::Always, 0),
            HFE_NO_FIELD
        );
        assert_eq!(
            h.set_field_expire(b"a", 100, ExpireCond::Xx, 0),
            HFE_NO_CONDITION
        );
        assert_eq!(
            h.set_field_expire(b"a", 100, ExpireCond::Gt, 0),
            HFE_NO_CONDITION
        );
        assert_eq!(h.set_field_expire(b"a", 100, ExpireCond::Lt, 0), HFE_SET);
        assert_eq!(
            h.set_field_expire(b"a", 200, ExpireCond::Nx, 0),
            HFE_NO_CONDITION
        );
        assert_eq!(
            h.set_field_expire(b"a", 50, ExpireCond::Gt, 0),
            HFE_NO_CONDITION
        );
        assert_eq!(h.set_field_expire(b"a", 150, ExpireCond::Gt, 0), HFE_SET);
        assert_eq!(h.field_expire(b"a"), Some(Some(150)));
        assert_eq!(h.field_expire(b"b"), Some(None));
        assert_eq!(h.purge_expired(149), 0);
        assert_eq!(h.purge_expired(150), 1);
        assert!(!h.contains(b"a"));
        assert!(!h.has_field_ttls());
        assert_eq!(
            h.set_field_expire(b"b", 10, ExpireCond::Always, 10),
            HFE_DELETED
        );
        assert!(h.is_empty());
    }

    #[test]
    fn hset_clears_ttl_keep_ttl_keeps_it() {
        let mut h = Hash::new();
        h.set(b"a", b"1", Limits::default());
        h.set_field_expire(b"a", 100, ExpireCond::Always, 0);
        h.set_keep_ttl(b"a", b"2", Limits::default());
        assert_eq!(h.field_expire(b"a"), Some(Some(100)));
        h.set(b"a", b"3", Limits::default());
        assert_eq!(h.field_expire(b"a"), Some(None));
        h.set_field_expire(b"a", 100, ExpireCond::Always, 0);
        assert_eq!(h.persist_field(b"a"), 1);
        assert_eq!(h.persist_field(b"a"), HFE_NO_TTL);
        assert_eq!(h.persist_field(b"z"), HFE_NO_FIELD);
    }

    #[test]
    fn expire_fields_respects_max() {
        let mut h = Hash::new();
        for i in 0..10 {
            let f = format!("f{i}");
            h.set(f.as_bytes(), b"v", Limits::default());
            h.set_field_expire(f.as_bytes(), 100 + i, ExpireCond::Always, 0);
        }
        assert_eq!(h.expire_fields(200, 3), 3);
        assert_eq!(h.len(), 7);
        assert_eq!(h.expire_fields(200, 100), 7);
        assert!(h.is_empty());
    }

    #[test]
    fn random_picks() {
        let mut h = Hash::new();
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), b"v", Limits::default());
        }
        let mut rng = rand::thread_rng();
        let d = h.random_distinct(5, &mut rng);
        let set: std::collections::HashSet<_> = d.iter().map(|p| p.0).collect();
        assert_eq!(set.len(), 5);
        assert_eq!(h.random_pairs(50, &mut rng).len(), 50);
        assert!(h.contains(h.random_pair(&mut rng).0));
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u8..3, 0u8..40, proptest::collection::vec(any::<u8>(), 0..12)), 0..300)) {
            let mut h = Hash::new();
            let mut m: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let lim = Limits { max_entries: 16, max_value: 10 };
            for (op, k, v) in ops {
                let key = vec![b'k', k];
                match op {
                    0 | 1 => prop_assert_eq!(h.set(&key, &v, lim), m.insert(key.clone(), v).is_none()),
                    _ => prop_assert_eq!(h.remove(&key), m.remove(&key).is_some()),
                }
                prop_assert_eq!(h.len(), m.len());
            }
            let mut got: Vec<_> = h.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
            got.sort();
            let want: Vec<_> = m.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
