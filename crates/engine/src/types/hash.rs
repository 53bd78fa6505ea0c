//! The hash type: a map from field to value, with optional per-field deadlines (Redis 7.4's
//! hash field expiry).
//!
//! Two representations, as in Redis:
//! - **listpack** (small hashes): every pair in one [`PackBuf`], in insertion order:
//!   `[field header][field suffix][value len: varint][value]`. Field names are *front
//!   coded*: the header says how many leading bytes the field shares with the previous
//!   field and how long the rest (the suffix) is, both in one byte when under 15 (a varint
//!   pair after a 0xFF byte otherwise). Hashes of objects tend to have fields that share
//!   prefixes (`field:001`, `field:002`, `addr_city`, `addr_zip`...), which this stores
//!   once; a field sharing nothing costs the same single length byte as before. Lookups are
//!   linear scans that never rebuild a field: they track how much of the wanted field the
//!   previous one matched. Iteration rebuilds each field in a small scratch buffer, so
//!   [`Hash::iter`] yields fields as `Cow` (borrowed when the field shares nothing) and
//!   [`Hash::for_each`] lends them.
//! - **hashtable** (large hashes): a dense vector of pairs (one allocation per pair,
//!   `[field len: varint][field][value]`) plus a hash index of `u32` slots, the keyspace's
//!   [`SlotIndex`] (one cache line per probe). Removal swaps the last pair into the hole,
//!   so a backwards walk over the vector (HSCAN) returns every pair present for the whole
//!   scan, and HRANDFIELD picks a uniform slot in O(1).
//!
//! A hash converts from listpack to hashtable once it has more than `max_entries` pairs or a
//! field or value longer than `max_value` bytes, and never converts back (like Redis).
//!
//! Field deadlines live in a side map that exists only while some field has one. A listpack
//! hash without deadlines is just its buffer (16 bytes inline); a table, or a listpack with
//! deadlines, is boxed together with its map. The map keeps a lower bound of its deadlines:
//! [`Hash::purge_expired`] is O(1) until that bound is reached, which is what lets the server
//! purge on every access so no command ever sees an expired field.

use std::borrow::Cow;

use hashbrown::HashMap;
use rand::Rng;
use smallvec::SmallVec;

use crate::dense::SlotIndex;
use crate::types::packbuf::{get_varint, put_varint, varint_len, PackBuf, MAX_BYTES};
use crate::{hash_key, Stage};

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
// listpack-like packed representation with front-coded fields
// ---------------------------------------------------------------------------------------

/// A field header byte holds `shared << 4 | suffix_len` when both are below 15; this byte
/// announces two varints instead.
const HDR_ESCAPE: u8 = 0xFF;

fn field_hdr_len(shared: usize, slen: usize) -> usize {
    if shared < 15 && slen < 15 {
        1
    } else {
        1 + varint_len(shared) + varint_len(slen)
    }
}

fn put_field_hdr(out: &mut [u8], shared: usize, slen: usize) -> usize {
    if shared < 15 && slen < 15 {
        out[0] = (shared << 4 | slen) as u8;
        1
    } else {
        out[0] = HDR_ESCAPE;
        let k = put_varint(&mut out[1..], shared);
        1 + k + put_varint(&mut out[1 + k..], slen)
    }
}

/// Reads a field header: (shared, suffix length, header bytes).
#[inline]
fn get_field_hdr(buf: &[u8], at: usize) -> (usize, usize, usize) {
    let h = buf[at];
    if h != HDR_ESCAPE {
        return ((h >> 4) as usize, (h & 15) as usize, 1);
    }
    let (shared, k) = get_varint(buf, at + 1);
    let (slen, j) = get_varint(buf, at + 1 + k);
    (shared, slen, 1 + k + j)
}

/// Length of the common prefix of two byte strings.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How to encode `field` after `prev`: (shared, header bytes). Any shared length up to the
/// common prefix is valid; this picks the cheapest.
fn choose_shared(prev: &[u8], field: &[u8]) -> (usize, usize) {
    let lcp = common_prefix(prev, field);
    let cost = |s: usize| field_hdr_len(s, field.len() - s) + field.len() - s;
    [lcp, lcp.min(14), 0]
        .into_iter()
        .map(|s| (cost(s), s))
        .min()
        .map(|(_, s)| (s, field_hdr_len(s, field.len() - s)))
        .expect("three candidates")
}

/// One decoded pair of a packed buffer.
#[derive(Clone, Copy, Debug)]
struct Pair1 {
    /// Start of the pair (its field header).
    start: usize,
    /// Leading bytes shared with the previous field.
    shared: usize,
    /// The suffix: `suffix..value_hdr`.
    suffix: usize,
    /// Start of the value length varint.
    value_hdr: usize,
    /// The value: `value..end`.
    value: usize,
    end: usize,
}

#[inline]
fn pair_at(buf: &[u8], at: usize) -> Pair1 {
    let (shared, slen, h) = get_field_hdr(buf, at);
    let suffix = at + h;
    let value_hdr = suffix + slen;
    let (vlen, k) = get_varint(buf, value_hdr);
    Pair1 {
        start: at,
        shared,
        suffix,
        value_hdr,
        value: value_hdr + k,
        end: value_hdr + k + vlen,
    }
}

/// Scratch space for rebuilding a field name.
type Scratch = SmallVec<[u8; 64]>;

/// Calls `f(pair, field)` for every pair in order, rebuilding each field in `field`; stops
/// early when `f` returns true.
fn walk(buf: &[u8], field: &mut Scratch, mut f: impl FnMut(&Pair1, &[u8]) -> bool) {
    field.clear();
    let mut at = 0;
    while at < buf.len() {
        let p = pair_at(buf, at);
        field.truncate(p.shared);
        field.extend_from_slice(&buf[p.suffix..p.value_hdr]);
        if f(&p, field) {
            return;
        }
        at = p.end;
    }
}

/// Finds the pair named `target` without rebuilding fields: `m` is how many leading bytes
/// of `target` the previous field matched, and a field that shares `s` bytes with its
/// predecessor matches `min(s, m)` plus whatever its suffix adds, when `s <= m`.
fn packed_find(buf: &[u8], target: &[u8]) -> Option<Pair1> {
    let mut m = 0;
    let mut at = 0;
    while at < buf.len() {
        let p = pair_at(buf, at);
        if p.shared <= m {
            let suffix = &buf[p.suffix..p.value_hdr];
            let rest = &target[p.shared..];
            m = p.shared + common_prefix(suffix, rest);
            if m == target.len() && suffix.len() == rest.len() {
                return Some(p);
            }
        }
        // p.shared > m: the field equals the previous one up to `shared`, which already
        // differed from `target` at `m`, so it matches exactly `m` bytes too.
        at = p.end;
    }
    None
}

/// Appends a pair whose field is not present; `last` is the current last field.
fn packed_push(buf: &mut PackBuf, last: &[u8], field: &[u8], value: &[u8]) {
    let (shared, h) = choose_shared(last, field);
    let suffix = &field[shared..];
    let vk = varint_len(value.len());
    let n = h + suffix.len() + vk + value.len();
    let (at, count) = (buf.len(), buf.count());
    buf.splice_with(at..at, n, |dst| {
        let h = put_field_hdr(dst, shared, suffix.len());
        dst[h..h + suffix.len()].copy_from_slice(suffix);
        let v = h + suffix.len();
        put_varint(&mut dst[v..], value.len());
        dst[v + vk..].copy_from_slice(value);
    });
    buf.set_count(count + 1);
}

/// Replaces the value of pair `p`, keeping its position (as lpReplace does).
fn packed_replace_value(buf: &mut PackBuf, p: &Pair1, value: &[u8]) {
    let vk = varint_len(value.len());
    buf.splice_with(p.value_hdr..p.end, vk + value.len(), |dst| {
        put_varint(dst, value.len());
        dst[vk..].copy_from_slice(value);
    });
}

/// Removes the pair named `target` (present); the next pair's field is re-encoded against
/// the field before the removed one.
fn packed_remove(buf: &mut PackBuf, target: &[u8]) -> bool {
    let mut prev = Scratch::new();
    let mut cur = Scratch::new();
    let mut found = None;
    walk(buf.bytes(), &mut cur, |p, f| {
        if f == target {
            found = Some(*p);
            return true;
        }
        prev.clear();
        prev.extend_from_slice(f);
        false
    });
    let Some(p) = found else { return false };
    // `prev` holds the field before the removed one (empty when it was the first).
    let bytes = buf.bytes();
    let (end, repl) = if p.end < bytes.len() {
        let next = pair_at(bytes, p.end);
        let mut field: Scratch = SmallVec::from_slice(&target[..next.shared]);
        field.extend_from_slice(&bytes[next.suffix..next.value_hdr]);
        let (shared, h) = choose_shared(&prev, &field);
        let mut repl: Scratch = SmallVec::from_elem(0, h);
        put_field_hdr(&mut repl, shared, field.len() - shared);
        repl.extend_from_slice(&field[shared..]);
        (next.value_hdr, repl)
    } else {
        (p.end, Scratch::new())
    };
    let count = buf.count();
    buf.splice(p.start..end, &repl);
    buf.set_count(count - 1);
    true
}

// ---------------------------------------------------------------------------------------
// hashtable representation
// ---------------------------------------------------------------------------------------

/// One pair in its own allocation: `[field len: varint][field][value]`.
type Pair = Box<[u8]>;

fn make_pair(field: &[u8], value: &[u8]) -> Pair {
    // One allocation of the exact size (`into_boxed_slice` then moves nothing).
    let head = varint_len(field.len());
    let mut v = Vec::with_capacity(head + field.len() + value.len());
    v.resize(head, 0);
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
    index: SlotIndex,
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
            .find(hash_key(field), |i| pair_field(&pairs[i]) == field)
    }

    /// Starts loading what a lookup of a field hashing to `hash` reads, by [`Stage`]: its
    /// index bucket, the guessed pair's place in the vector, the pair. A hint, see
    /// `Keyspace::peek_object`.
    #[inline]
    fn prefetch(&self, hash: u64, stage: Stage) {
        self.index
            .prefetch_in(hash, stage, &self.pairs, |x| x.as_ptr());
    }

    fn insert_new(&mut self, pair: Pair) {
        let h = hash_key(pair_field(&pair));
        self.push_new(h, pair);
    }

    /// Adds a pair whose field (hashing to `h`) is not in the table.
    fn push_new(&mut self, h: u64, pair: Pair) {
        let slot = self.pairs.len();
        assert!(slot < u32::MAX as usize, "hash too large");
        let pairs = &self.pairs;
        self.index
            .insert(h, slot, |i| hash_key(pair_field(&pairs[i])));
        self.bytes += pair.len();
        self.pairs.push(pair);
    }

    /// Sets `field` to `value`: true when the field is new. One hash, and the probe that
    /// finds no field leaves the bucket line cached for the insertion.
    fn upsert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = hash_key(field);
        let pairs = &self.pairs;
        match self.index.find(h, |i| pair_field(&pairs[i]) == field) {
            Some(slot) => {
                let pair = &mut self.pairs[slot];
                let at = pair.len() - pair_split(pair).1.len();
                if pair.len() - at == value.len() {
                    // A value of the same length is written over the old one: no allocation.
                    pair[at..].copy_from_slice(value);
                } else {
                    self.replace(slot, make_pair(field, value));
                }
                false
            }
            None => {
                self.push_new(h, make_pair(field, value));
                true
            }
        }
    }

    fn replace(&mut self, slot: usize, pair: Pair) {
        self.bytes = self.bytes - self.pairs[slot].len() + pair.len();
        self.pairs[slot] = pair;
    }

    /// Removes the pair in `slot`; the last pair moves into the hole.
    fn remove_at(&mut self, slot: usize) {
        self.index
            .remove(hash_key(pair_field(&self.pairs[slot])), slot);
        let last = self.pairs.len() - 1;
        if slot != last {
            self.index
                .relocate(hash_key(pair_field(&self.pairs[last])), last, slot);
        }
        let removed = self.pairs.swap_remove(slot);
        self.bytes -= removed.len();
        let cap = self.pairs.capacity();
        if cap > 64 && self.pairs.len() * 8 < cap {
            self.pairs.shrink_to(self.pairs.len() * 2);
        }
        let pairs = &self.pairs;
        self.index.maybe_shrink(|i| hash_key(pair_field(&pairs[i])));
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

/// The pairs of a boxed hash.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Packed(PackBuf),
    Table(Table),
}

/// A hashtable, or a listpack with field deadlines.
#[derive(Debug, Clone, PartialEq)]
struct Big {
    body: Body,
    ttls: Option<Ttls>,
}

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    /// A listpack without deadlines: the common small hash, 16 bytes inline.
    Packed(PackBuf),
    Big(Box<Big>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(PackBuf::new())
    }
}

/// Borrowed view of the pairs.
enum BodyRef<'a> {
    Packed(&'a PackBuf),
    Table(&'a Table),
}

enum BodyMut<'a> {
    Packed(&'a mut PackBuf),
    Table(&'a mut Table),
}

/// A hash value. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    repr: Repr,
}

impl PartialEq for Hash {
    /// Same pairs and same deadlines, whatever the representation and order.
    fn eq(&self, other: &Self) -> bool {
        let mut same = self.len() == other.len();
        self.for_each(|f, v| {
            same = same && other.get(f) == Some(v) && self.field_expire(f) == other.field_expire(f);
        });
        same
    }
}

/// A (field, value) pair as [`Hash::iter`] yields it: the field may have been rebuilt.
pub type PairRef<'a> = (Cow<'a, [u8]>, &'a [u8]);

/// Iterator over the pairs of a [`Hash`]: fields are rebuilt from their front coding, so they
/// come as `Cow` (borrowed when nothing had to be rebuilt).
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Packed {
        buf: &'a [u8],
        at: usize,
        field: Scratch,
    },
    Table(std::slice::Iter<'a, Pair>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = PairRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Packed { buf, at, field } => {
                if *at >= buf.len() {
                    return None;
                }
                let p = pair_at(buf, *at);
                *at = p.end;
                let suffix = &buf[p.suffix..p.value_hdr];
                field.truncate(p.shared);
                field.extend_from_slice(suffix);
                let f = if p.shared == 0 {
                    Cow::Borrowed(suffix)
                } else {
                    Cow::Owned(field.to_vec())
                };
                Some((f, &buf[p.value..p.end]))
            }
            IterInner::Table(it) => it.next().map(|p| {
                let (f, v) = pair_split(p);
                (Cow::Borrowed(f), v)
            }),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    #[inline]
    fn body(&self) -> BodyRef<'_> {
        match &self.repr {
            Repr::Packed(p) => BodyRef::Packed(p),
            Repr::Big(b) => match &b.body {
                Body::Packed(p) => BodyRef::Packed(p),
                Body::Table(t) => BodyRef::Table(t),
            },
        }
    }

    #[inline]
    fn body_mut(&mut self) -> BodyMut<'_> {
        match &mut self.repr {
            Repr::Packed(p) => BodyMut::Packed(p),
            Repr::Big(b) => match &mut b.body {
                Body::Packed(p) => BodyMut::Packed(p),
                Body::Table(t) => BodyMut::Table(t),
            },
        }
    }

    fn ttls(&self) -> Option<&Ttls> {
        match &self.repr {
            Repr::Packed(_) => None,
            Repr::Big(b) => b.ttls.as_ref(),
        }
    }

    fn ttls_mut(&mut self) -> Option<&mut Ttls> {
        match &mut self.repr {
            Repr::Packed(_) => None,
            Repr::Big(b) => b.ttls.as_mut(),
        }
    }

    /// The deadline map, created (and the hash boxed) if needed.
    fn ttls_or_insert(&mut self) -> &mut Ttls {
        if let Repr::Packed(p) = &mut self.repr {
            let body = Body::Packed(std::mem::take(p));
            self.repr = Repr::Big(Box::new(Big { body, ttls: None }));
        }
        match &mut self.repr {
            Repr::Big(b) => b.ttls.get_or_insert_with(|| Ttls {
                map: HashMap::default(),
                min: i64::MAX,
            }),
            Repr::Packed(_) => unreachable!("boxed above"),
        }
    }

    /// Drops an emptied deadline map; a listpack without deadlines goes back inline.
    fn drop_empty_ttls(&mut self) {
        if let Repr::Big(b) = &mut self.repr {
            if b.ttls.as_ref().is_some_and(|t| t.map.is_empty()) {
                b.ttls = None;
            }
            if b.ttls.is_none() {
                if let Body::Packed(p) = &mut b.body {
                    self.repr = Repr::Packed(std::mem::take(p));
                }
            }
        }
    }

    /// Number of fields (including expired ones not purged yet: call
    /// [`Hash::purge_expired`] first).
    pub fn len(&self) -> usize {
        match self.body() {
            BodyRef::Packed(p) => p.count(),
            BodyRef::Table(t) => t.pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See `Table::prefetch`; nothing for a packed hash (one buffer, loaded by the value's
    /// own lookup).
    #[inline]
    pub fn prefetch_field(&self, hash: u64, stage: Stage) {
        if let BodyRef::Table(t) = self.body() {
            t.prefetch(hash, stage);
        }
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        let body = match self.body() {
            BodyRef::Packed(p) => p.alloc_size(),
            BodyRef::Table(t) => {
                t.index.heap_bytes() + t.pairs.capacity() * std::mem::size_of::<Pair>() + t.bytes
            }
        };
        let boxed = match &self.repr {
            Repr::Packed(_) => 0,
            Repr::Big(_) => std::mem::size_of::<Big>(),
        };
        let ttl = self.ttls().map_or(0, |t| {
            t.map.capacity() * (std::mem::size_of::<(Box<[u8]>, i64)>() + 1)
                + t.map.keys().map(|k| k.len()).sum::<usize>()
        });
        body + boxed + ttl
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.body() {
            BodyRef::Packed(_) => "listpack",
            BodyRef::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self.body() {
            BodyRef::Packed(p) => {
                let b = p.bytes();
                packed_find(b, field).map(|x| &b[x.value..x.end])
            }
            BodyRef::Table(t) => t.find(field).map(|s| pair_split(&t.pairs[s]).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Every (field, value) pair: insertion order for listpack, slot order for hashtable.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match self.body() {
                BodyRef::Packed(p) => IterInner::Packed {
                    buf: p.bytes(),
                    at: 0,
                    field: Scratch::new(),
                },
                BodyRef::Table(t) => IterInner::Table(t.pairs.iter()),
            },
        }
    }

    /// Calls `f(field, value)` for every pair, in [`Hash::iter`]'s order, without copying.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self.body() {
            BodyRef::Packed(p) => {
                let b = p.bytes();
                walk(b, &mut Scratch::new(), |x, field| {
                    f(field, &b[x.value..x.end]);
                    false
                });
            }
            BodyRef::Table(t) => {
                for p in &t.pairs {
                    let (k, v) = pair_split(p);
                    f(k, v);
                }
            }
        }
    }

    /// Moves a listpack to a hashtable.
    fn convert(&mut self) {
        let BodyRef::Packed(p) = self.body() else {
            return;
        };
        let mut t = Table::default();
        t.pairs.reserve_exact(p.count() + 1);
        walk(p.bytes(), &mut Scratch::new(), |x, field| {
            t.insert_new(make_pair(field, &p.bytes()[x.value..x.end]));
            false
        });
        let ttls = match std::mem::take(&mut self.repr) {
            Repr::Packed(_) => None,
            Repr::Big(b) => b.ttls,
        };
        self.repr = Repr::Big(Box::new(Big {
            body: Body::Table(t),
            ttls,
        }));
    }

    /// Forces the hashtable representation (tests, DEBUG-like tooling).
    pub fn convert_to_table(&mut self) {
        self.convert();
    }

    /// HSET with several pairs (`[field, value, field, value...]`): reserves a listpack's
    /// room once when they all fit, then sets each. Returns how many fields were new.
    pub fn set_many(&mut self, pairs: &[&[u8]], lim: Limits) -> usize {
        if let BodyMut::Packed(p) = self.body_mut() {
            let n = pairs.len() / 2;
            if n > 1
                && p.count() + n <= lim.max_entries
                && pairs.iter().all(|x| x.len() <= lim.max_value)
            {
                // An upper bound: front coding and replaced fields only make it smaller.
                let bytes: usize = pairs
                    .iter()
                    .map(|x| x.len() + 1 + varint_len(x.len()))
                    .sum();
                p.reserve(bytes);
            }
        }
        let created = pairs
            .chunks_exact(2)
            .filter(|kv| self.set(kv[0], kv[1], lim))
            .count();
        if let BodyMut::Packed(p) = self.body_mut() {
            p.fit();
        }
        created
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
        if let BodyRef::Packed(p) = self.body() {
            // Redis converts on a long field or value, and (lpSafeToAdd) before a listpack
            // would pass 1 GiB.
            if field.len() > lim.max_value
                || value.len() > lim.max_value
                || p.len() + field.len() + value.len() + 20 > MAX_BYTES
            {
                self.convert();
            }
        }
        match self.body_mut() {
            BodyMut::Packed(p) => {
                if let Some(x) = packed_find(p.bytes(), field) {
                    packed_replace_value(p, &x, value);
                    return false;
                }
                let mut last = Scratch::new();
                walk(p.bytes(), &mut last, |_, _| false);
                packed_push(p, &last, field, value);
                if p.count() > lim.max_entries {
                    self.convert();
                }
                true
            }
            BodyMut::Table(t) => t.upsert(field, value),
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let found = match self.body_mut() {
            BodyMut::Packed(p) => packed_remove(p, field),
            BodyMut::Table(t) => match t.find(field) {
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
    pub fn at(&self, i: usize) -> PairRef<'_> {
        match self.body() {
            BodyRef::Packed(_) => self.iter().nth(i).expect("index in range"),
            BodyRef::Table(t) => {
                let (f, v) = pair_split(&t.pairs[i]);
                (Cow::Borrowed(f), v)
            }
        }
    }

    /// A uniformly random pair. Panics on an empty hash.
    pub fn random_pair(&self, rng: &mut impl Rng) -> PairRef<'_> {
        self.at(rng.gen_range(0..self.len()))
    }

    /// `count` pairs picked independently at random (HRANDFIELD with a negative count).
    /// A listpack is decoded once so each pick is O(1).
    pub fn random_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<PairRef<'_>> {
        let n = self.len();
        match self.body() {
            BodyRef::Packed(_) => {
                let all: Vec<_> = self.iter().collect();
                (0..count)
                    .map(|_| all[rng.gen_range(0..n)].clone())
                    .collect()
            }
            BodyRef::Table(t) => (0..count)
                .map(|_| {
                    let (f, v) = pair_split(&t.pairs[rng.gen_range(0..n)]);
                    (Cow::Borrowed(f), v)
                })
                .collect(),
        }
    }

    /// `count` distinct random pairs (HRANDFIELD with a positive count smaller than the
    /// hash): a partial Fisher-Yates shuffle of the positions, O(len) memory for 4-byte
    /// indexes at most.
    pub fn random_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<PairRef<'_>> {
        let mut all: Vec<Option<PairRef<'_>>> = self.iter().map(Some).collect();
        let count = count.min(all.len());
        let mut idx: Vec<u32> = (0..all.len() as u32).collect();
        for i in 0..count {
            let j = rng.gen_range(i..idx.len());
            idx.swap(i, j);
        }
        idx[..count]
            .iter()
            .map(|&i| all[i as usize].take().expect("distinct"))
            .collect()
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
        mut f: impl FnMut(Cow<'a, [u8]>, &'a [u8]),
    ) -> u64 {
        match self.body() {
            BodyRef::Packed(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            BodyRef::Table(t) => {
                let len = t.pairs.len() as u64;
                let mut remaining = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while remaining > 0 && visited < count {
                    remaining -= 1;
                    visited += 1;
                    let (k, v) = pair_split(&t.pairs[remaining as usize]);
                    f(Cow::Borrowed(k), v);
                }
                remaining
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // field expiry
    // -----------------------------------------------------------------------------------

    fn clear_ttl(&mut self, field: &[u8]) -> bool {
        let Some(t) = self.ttls_mut() else {
            return false;
        };
        let had = t.map.remove(field).is_some();
        if had {
            self.drop_empty_ttls();
        }
        had
    }

    /// The deadline of `field`: None if the field is missing, Some(None) without deadline.
    pub fn field_expire(&self, field: &[u8]) -> Option<Option<i64>> {
        if !self.contains(field) {
            return None;
        }
        Some(self.ttls().and_then(|t| t.map.get(field).copied()))
    }

    /// True when some field has a deadline.
    pub fn has_field_ttls(&self) -> bool {
        self.ttls().is_some()
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
        let t = self.ttls_or_insert();
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
        let Some(t) = self.ttls() else { return 0 };
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
        if let Some(t) = self.ttls_mut() {
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
        assert_eq!(h.at(1), (Cow::Borrowed(&b"f1"[..]), &b"longer-value"[..]));
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
        let set: std::collections::HashSet<_> = d.iter().map(|p| p.0.clone()).collect();
        assert_eq!(set.len(), 5);
        assert_eq!(h.random_pairs(50, &mut rng).len(), 50);
        assert!(h.contains(&h.random_pair(&mut rng).0));
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

        /// The packed encoding against an insertion-ordered model, with field names built
        /// to share prefixes of every length (0, under 15, 15 and more, whole names that
        /// are prefixes of others) so every front-coding case and escape header occurs,
        /// including removals that re-encode the next field.
        #[test]
        fn packed_front_coding_matches_ordered_model(
            ops in proptest::collection::vec((0u8..4, 0usize..6, 0usize..40, 0u8..3, 0usize..20), 0..200)
        ) {
            const STEMS: [&str; 6] = ["", "a", "field:", "user:1000:profile:", "user:1000:profile:address:", "zzzzzzzzzzzzzzzzzzzz"];
            let mut h = Hash::new();
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let lim = Limits { max_entries: 1000, max_value: 1000 };
            for (op, stem, n, tail, vlen) in ops {
                let mut key = STEMS[stem].as_bytes().to_vec();
                key.extend_from_slice(n.to_string().as_bytes());
                key.extend(std::iter::repeat_n(b'x', tail as usize * 8));
                let val = vec![b'v'; vlen * vlen];
                let pos = m.iter().position(|(k, _)| *k == key);
                match op {
                    0 | 1 => {
                        prop_assert_eq!(h.set(&key, &val, lim), pos.is_none());
                        match pos {
                            Some(i) => m[i].1 = val,
                            None => m.push((key.clone(), val)),
                        }
                    }
                    2 => {
                        prop_assert_eq!(h.remove(&key), pos.is_some());
                        if let Some(i) = pos {
                            m.remove(i);
                        }
                    }
                    _ => prop_assert_eq!(h.get(&key), pos.map(|i| &m[i].1[..])),
                }
                prop_assert_eq!(h.encoding(), "listpack");
                prop_assert_eq!(h.len(), m.len());
            }
            let got: Vec<_> = h.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
            prop_assert_eq!(&got, &m);
            let mut lent = Vec::new();
            h.for_each(|a, b| lent.push((a.to_vec(), b.to_vec())));
            prop_assert_eq!(&lent, &m);
            for (i, (k, v)) in m.iter().enumerate() {
                prop_assert_eq!(h.get(k), Some(&v[..]));
                prop_assert_eq!(h.at(i), (Cow::Borrowed(&k[..]), &v[..]));
            }
            let mut t = h.clone();
            t.convert_to_table();
            prop_assert_eq!(&t, &h);
        }
    }

    #[test]
    fn compact_sizes() {
        assert!(std::mem::size_of::<Hash>() <= 24);
        // memory.sh's hashes: fields field:000..field:099, 16-byte values. Front coding
        // stores "field:0" once per run, so 100 pairs fit a 2,048-byte block.
        let mut h = Hash::new();
        for i in 0..100 {
            h.set(
                format!("field:{i:03}").as_bytes(),
                format!("v{i:015}").as_bytes(),
                Limits::default(),
            );
        }
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.mem_usage(), 2048);
        // The same in one HSET: an upper-bound reservation, then the final block.
        let owned: Vec<Vec<u8>> = (0..100)
            .flat_map(|i| [format!("field:{i:03}"), format!("v{i:015}")])
            .map(String::into_bytes)
            .collect();
        let pairs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut h2 = Hash::new();
        assert_eq!(h2.set_many(&pairs, Limits::default()), 100);
        assert_eq!(h2.mem_usage(), 2048);
        assert_eq!(h2, h);
        assert_eq!(h.get(b"field:042"), Some(&b"v000000000000042"[..]));
        // Fields that share nothing cost one header byte, as a plain length would.
        let mut h = Hash::new();
        for i in 0..10u8 {
            h.set(&[b'a' + i; 9], b"x", Limits::default());
        }
        assert_eq!(
            h.mem_usage(),
            crate::types::packbuf::class_size(8 + 10 * (1 + 9 + 1 + 1))
        );
    }

    #[test]
    fn field_headers_roundtrip() {
        let mut buf = [0u8; 24];
        for shared in [0usize, 1, 14, 15, 200, 70000] {
            for slen in [0usize, 3, 14, 15, 128] {
                let n = put_field_hdr(&mut buf, shared, slen);
                assert_eq!(n, field_hdr_len(shared, slen));
                assert_eq!(get_field_hdr(&buf, 0), (shared, slen, n));
            }
        }
        assert_eq!(choose_shared(b"field:009", b"field:010"), (7, 1));
        assert_eq!(choose_shared(b"abc", b"xyz"), (0, 1));
        // A 20-byte common prefix: sharing it all (escape header) beats sharing 14.
        let a = [b'p'; 40];
        let mut b = [b'p'; 40];
        b[20] = b'q';
        assert_eq!(choose_shared(&a, &b), (20, 1 + 1 + 1));
    }
}
