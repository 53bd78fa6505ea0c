//! The set type (Redis's t_set.c, intset.c and the set use of listpack).
//!
//! A set has one of three representations, converted upwards as it grows exactly when Redis
//! converts, so OBJECT ENCODING answers what Redis would:
//! - [`IntSet`] ("intset"): every member is a canonical 64-bit integer; a sorted array whose
//!   element width (2, 4 or 8 bytes) is the narrowest that fits every member.
//! - [`Pack`] ("listpack"): a few short members, length-prefixed in one byte buffer, in
//!   insertion order. A 16-byte member costs 17 bytes.
//! - [`Table`] ("hashtable"): a dense vector of boxed members plus a hash index of `u32`
//!   slots into it ([`SlotIndex`], the keyspace's: one cache line per probe, tag included). The dense vector gives O(1) uniform random
//!   members (SPOP, SRANDMEMBER) and a simple SSCAN cursor with Redis's guarantee.
//!
//! The multi-set algorithms (SINTER, SUNION, SDIFF and their STORE / CARD forms) are free
//! functions at the end, so the server only gathers the operand sets and writes replies.

use rand::Rng;

use crate::dense::SlotIndex;
use crate::num::parse_i64;
use crate::types::packbuf::{get_varint, put_varint, varint_len, PackBuf};
use crate::{hash_key, Stage};

/// The conversion thresholds (CONFIG set-max-intset-entries, set-max-listpack-entries,
/// set-max-listpack-value), read by the caller when a command may grow or create a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            intset_entries: 512,
            listpack_entries: 128,
            listpack_value: 64,
        }
    }
}

impl Limits {
    /// Redis caps an intset at 2^30 entries whatever the configuration says.
    fn intset_max(&self) -> usize {
        self.intset_entries.min(1 << 30)
    }
}

/// A member as stored: bytes, or an integer of an intset (formatted only when needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes, formatting an integer on the stack.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Member::Str(s) => f(s),
            Member::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
}

// ---------------------------------------------------------------------------------------
// IntSet
// ---------------------------------------------------------------------------------------

/// Sorted distinct integers, little-endian, all of the same width (2, 4 or 8 bytes). The
/// width only grows, as Redis's intset upgrades but never downgrades; it is implied by the
/// byte length and the count kept in the buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntSet {
    buf: PackBuf,
}

/// The narrowest intset width that holds `v`.
fn width_for(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per member (2 while empty).
    #[inline]
    fn width(&self) -> usize {
        match self.len() {
            0 => 2,
            n => self.buf.len() / n,
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let b = &self.buf.bytes()[i * w..i * w + w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    /// Binary search: Ok(index) when present, Err(insertion point) otherwise.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_for(v) as usize <= self.width() && self.search(v).is_ok()
    }

    /// Adds `v`; false when already present. A value wider than the current width rewrites
    /// the array at the new width first.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v) as usize;
        if need > self.width() && !self.is_empty() {
            let old: Vec<i64> = self.iter().collect();
            let mut bytes = Vec::with_capacity((old.len() + 1) * need);
            for x in &old {
                bytes.extend_from_slice(&x.to_le_bytes()[..need]);
            }
            self.buf = PackBuf::from_bytes(&bytes, old.len());
        }
        let w = if self.is_empty() {
            need.max(2)
        } else {
            self.width()
        };
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                let n = self.len();
                self.buf.splice(pos * w..pos * w, &v.to_le_bytes()[..w]);
                self.buf.set_count(n + 1);
                true
            }
        }
    }

    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) as usize > self.width() {
            return false;
        }
        match self.search(v) {
            Ok(i) => {
                let (w, n) = (self.width(), self.len());
                self.buf.remove(i * w..i * w + w);
                self.buf.set_count(n - 1);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    fn min(&self) -> Option<i64> {
        (!self.is_empty()).then(|| self.get(0))
    }

    fn max(&self) -> Option<i64> {
        (!self.is_empty()).then(|| self.get(self.len() - 1))
    }

    /// Keeps only the members at the positions where `keep` is true.
    fn retain_positions(&mut self, keep: &[bool]) {
        let w = self.width();
        let mut bytes = Vec::with_capacity(self.buf.len());
        let mut n = 0;
        for (i, &k) in keep.iter().enumerate() {
            if k {
                bytes.extend_from_slice(&self.buf.bytes()[i * w..i * w + w]);
                n += 1;
            }
        }
        self.buf = PackBuf::from_bytes(&bytes, n);
    }
}

// ---------------------------------------------------------------------------------------
// Pack
// ---------------------------------------------------------------------------------------

/// Members in one buffer, each as a LEB128 length followed by the bytes, in insertion order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pack {
    buf: PackBuf,
}

/// Reads the entry at `off`: (member, offset of the next entry).
#[inline]
fn pack_entry(data: &[u8], off: usize) -> (&[u8], usize) {
    let (n, k) = get_varint(data, off);
    let off = off + k;
    (&data[off..off + n], off + n)
}

impl Pack {
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter {
            data: self.buf.bytes(),
            off: 0,
        }
    }

    /// Byte range of the entry holding `v`.
    fn find(&self, v: &[u8]) -> Option<(usize, usize)> {
        let data = self.buf.bytes();
        let mut off = 0;
        while off < data.len() {
            let (m, next) = pack_entry(data, off);
            if m == v {
                return Some((off, next));
            }
            off = next;
        }
        None
    }

    pub fn contains(&self, v: &[u8]) -> bool {
        self.find(v).is_some()
    }

    /// Appends a member known to be absent.
    pub fn push(&mut self, v: &[u8]) {
        let n = self.len();
        let at = self.buf.len();
        let k = varint_len(v.len());
        self.buf.splice_with(at..at, k + v.len(), |dst| {
            put_varint(dst, v.len());
            dst[k..].copy_from_slice(v);
        });
        self.buf.set_count(n + 1);
    }

    pub fn remove(&mut self, v: &[u8]) -> bool {
        match self.find(v) {
            Some((a, b)) => {
                let n = self.len();
                self.buf.remove(a..b);
                self.buf.set_count(n - 1);
                true
            }
            None => false,
        }
    }

    /// The member at position `i` (a walk: packs are small).
    pub fn get(&self, i: usize) -> &[u8] {
        self.iter().nth(i).expect("index in range")
    }

    /// Keeps only the members at the positions where `keep` is true, in one pass.
    fn retain_positions(&mut self, keep: &[bool]) {
        let mut bytes = Vec::with_capacity(self.buf.len());
        let mut n = 0;
        let mut off = 0;
        let data = self.buf.bytes();
        for &k in keep {
            let next = pack_entry(data, off).1;
            if k {
                bytes.extend_from_slice(&data[off..next]);
                n += 1;
            }
            off = next;
        }
        self.buf = PackBuf::from_bytes(&bytes, n);
    }
}

pub struct PackIter<'a> {
    data: &'a [u8],
    off: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.data.len() {
            return None;
        }
        let (m, next) = pack_entry(self.data, self.off);
        self.off = next;
        Some(m)
    }
}

// ---------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------

/// Dense vector of members plus a hash index of slots. Removal swaps the last member into
/// the hole, which is what makes the SSCAN cursor (see [`Set::scan`]) safe.
#[derive(Clone, Default)]
pub struct Table {
    index: SlotIndex,
    items: Vec<Box<[u8]>>,
    /// Sum of member lengths, so MEMORY USAGE needs no walk.
    bytes: usize,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.items.iter().map(|m| String::from_utf8_lossy(m)))
            .finish()
    }
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table {
            index: SlotIndex::with_capacity(n),
            items: Vec::with_capacity(n),
            bytes: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    #[inline]
    fn find(&self, v: &[u8]) -> Option<usize> {
        let items = &self.items;
        self.index.find(hash_key(v), |i| &*items[i] == v)
    }

    pub fn contains(&self, v: &[u8]) -> bool {
        self.find(v).is_some()
    }

    /// Starts loading what a lookup of a member hashing to `hash` reads, by [`Stage`]: its
    /// index bucket, the guessed member's place in the vector, its bytes. A hint, see
    /// `Keyspace::peek_object`.
    #[inline]
    pub fn prefetch(&self, hash: u64, stage: Stage) {
        self.index
            .prefetch_in(hash, stage, &self.items, |x| x.as_ptr());
    }

    pub fn insert(&mut self, v: &[u8]) -> bool {
        // One hash; the probe that finds no member leaves the bucket line cached for the
        // insertion.
        let h = hash_key(v);
        let items = &self.items;
        if self.index.find(h, |i| &*items[i] == v).is_some() {
            return false;
        }
        let slot = self.items.len();
        assert!(slot < u32::MAX as usize, "set too large");
        let items = &self.items;
        self.index.insert(h, slot, |i| hash_key(&items[i]));
        self.items.push(v.into());
        self.bytes += v.len();
        true
    }

    /// Removes the member in `slot`, moving the last member into the hole; returns it.
    fn remove_at(&mut self, slot: usize) -> Box<[u8]> {
        self.index.remove(hash_key(&self.items[slot]), slot);
        let last = self.items.len() - 1;
        if slot != last {
            self.index.relocate(hash_key(&self.items[last]), last, slot);
        }
        let m = self.items.swap_remove(slot);
        self.bytes -= m.len();
        self.maybe_shrink();
        m
    }

    pub fn remove(&mut self, v: &[u8]) -> bool {
        match self.find(v) {
            Some(slot) => {
                self.remove_at(slot);
                true
            }
            None => false,
        }
    }

    /// Gives memory back after mass removal, as Redis shrinks a dict under 10% fill.
    fn maybe_shrink(&mut self) {
        let cap = self.items.capacity();
        if cap > 64 && self.items.len() * 8 < cap {
            self.items.shrink_to(self.items.len() * 2);
        }
        let items = &self.items;
        self.index.maybe_shrink(|i| hash_key(&items[i]));
    }
}

// ---------------------------------------------------------------------------------------
// Set
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Repr {
    Ints(IntSet),
    Pack(Pack),
    /// Boxed so that a set value stays 24 bytes.
    Table(Box<Table>),
}

/// A set value.
#[derive(Clone, Debug)]
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    fn default() -> Self {
        Set {
            repr: Repr::Ints(IntSet::default()),
        }
    }
}

/// Equal members, whatever the representations.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains_member(m))
    }
}

/// Iterator over the members of a [`Set`].
pub enum Iter<'a> {
    Ints(&'a IntSet, usize),
    Pack(PackIter<'a>),
    Table(std::slice::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(s, i) => {
                if *i < s.len() {
                    *i += 1;
                    Some(Member::Int(s.get(*i - 1)))
                } else {
                    None
                }
            }
            Iter::Pack(p) => p.next().map(Member::Str),
            Iter::Table(t) => t.next().map(|b| Member::Str(b)),
        }
    }
}

/// Number of characters of `v` in decimal, sign included (Redis's sdigits10).
fn digits10(v: i64) -> usize {
    itoa::Buffer::new().format(v).len()
}

impl Set {
    /// An empty set of the representation Redis's setTypeCreate picks for a set about to
    /// receive `size_hint` members, the first being `first`.
    pub fn with_hint(first: &[u8], size_hint: usize, lim: &Limits) -> Set {
        let repr = if parse_i64(first).is_some() && size_hint <= lim.intset_entries {
            Repr::Ints(IntSet::default())
        } else if size_hint <= lim.listpack_entries {
            Repr::Pack(Pack::default())
        } else {
            Repr::Table(Box::new(Table::with_capacity(size_hint)))
        };
        Set { repr }
    }

    /// An empty packed ("listpack") set.
    pub fn new_pack() -> Set {
        Set {
            repr: Repr::Pack(Pack::default()),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.len(),
            Repr::Pack(p) => p.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See [`Table::prefetch`]; nothing for the packed encodings (one allocation, loaded by
    /// the value's own lookup).
    #[inline]
    pub fn prefetch_member(&self, hash: u64, stage: Stage) {
        if let Repr::Table(t) = &self.repr {
            t.prefetch(hash, stage);
        }
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.buf.alloc_size(),
            Repr::Pack(p) => p.buf.alloc_size(),
            Repr::Table(t) => {
                std::mem::size_of::<Table>()
                    + t.items.capacity() * std::mem::size_of::<Box<[u8]>>()
                    + t.index.heap_bytes()
                    // Allocations are rounded up to 8 bytes.
                    + t.bytes
                    + t.len() * 4
            }
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Ints(s) => Iter::Ints(s, 0),
            Repr::Pack(p) => Iter::Pack(p.iter()),
            Repr::Table(t) => Iter::Table(t.items.iter()),
        }
    }

    /// Rebuilds the members as a hash table presized for `cap` members.
    fn convert_to_table(&mut self, cap: usize) {
        let mut t = Table::with_capacity(cap.max(self.len()));
        for m in self.iter() {
            m.with_bytes(|b| t.insert(b));
        }
        self.repr = Repr::Table(Box::new(t));
    }

    /// Rebuilds the members as a pack.
    fn convert_to_pack(&mut self) {
        let mut p = Pack::default();
        for m in self.iter() {
            m.with_bytes(|b| p.push(b));
        }
        self.repr = Repr::Pack(p);
    }

    /// Converts to a hash table when about `size_hint` members will be added and the
    /// current representation cannot hold that many (Redis's setTypeMaybeConvert, used by
    /// SADD so a big batch converts once).
    pub fn reserve_for(&mut self, size_hint: usize, lim: &Limits) {
        let convert = match &self.repr {
            Repr::Pack(_) => size_hint > lim.listpack_entries,
            Repr::Ints(_) => size_hint > lim.intset_entries,
            Repr::Table(_) => false,
        };
        if convert {
            self.convert_to_table(size_hint);
        }
    }

    /// SADD: adds `members`, returns how many were new. A compact representation that can
    /// take them all grows once, to an upper bound, then moves to its final size class.
    pub fn add_many(&mut self, members: &[&[u8]], lim: &Limits) -> usize {
        self.reserve_members(members, lim);
        let added = members.iter().filter(|m| self.add(m, lim)).count();
        match &mut self.repr {
            Repr::Pack(p) => p.buf.fit(),
            Repr::Ints(s) => s.buf.fit(),
            Repr::Table(_) => {}
        }
        added
    }

    /// Makes room in a compact representation for `members` about to be added, so its
    /// buffer grows once. A no-op when they would not all fit.
    fn reserve_members(&mut self, members: &[&[u8]], lim: &Limits) {
        if members.len() < 2 {
            return;
        }
        match &mut self.repr {
            Repr::Pack(p)
                if p.len() + members.len() <= lim.listpack_entries
                    && members.iter().all(|m| m.len() <= lim.listpack_value) =>
            {
                let bytes = members.iter().map(|m| varint_len(m.len()) + m.len()).sum();
                p.buf.reserve(bytes);
            }
            Repr::Ints(s)
                if s.len() + members.len() <= lim.intset_max()
                    && members.iter().all(|m| parse_i64(m).is_some()) =>
            {
                let w = members
                    .iter()
                    .filter_map(|m| parse_i64(m))
                    .map(|n| width_for(n) as usize)
                    .max()
                    .unwrap_or(2)
                    .max(s.width());
                if w == s.width() {
                    s.buf.reserve(members.len() * w);
                }
            }
            _ => {}
        }
    }

    /// Adds `v`; false when it was already a member. Converts the representation exactly
    /// when Redis's setTypeAddAux does: an intset becomes a pack on its first non-integer
    /// member if everything would fit a listpack (else a table), and grows into a table past
    /// set-max-intset-entries; a pack becomes a table when full or given a long member.
    pub fn add(&mut self, v: &[u8], lim: &Limits) -> bool {
        match &mut self.repr {
            Repr::Table(t) => t.insert(v),
            Repr::Pack(p) => {
                if p.contains(v) {
                    return false;
                }
                if p.len() < lim.listpack_entries && v.len() <= lim.listpack_value {
                    p.push(v);
                } else {
                    let n = p.len() + 1;
                    self.convert_to_table(n);
                    self.add(v, lim);
                }
                true
            }
            Repr::Ints(s) => {
                if let Some(n) = parse_i64(v) {
                    if !s.insert(n) {
                        return false;
                    }
                    if s.len() > lim.intset_max() {
                        self.convert_to_table(0);
                    }
                    return true;
                }
                let widest = match (s.min(), s.max()) {
                    (Some(a), Some(b)) => digits10(a).max(digits10(b)),
                    _ => 0,
                };
                if s.len() < lim.listpack_entries
                    && v.len() <= lim.listpack_value
                    && widest <= lim.listpack_value
                {
                    self.convert_to_pack();
                } else {
                    let n = s.len() + 1;
                    self.convert_to_table(n);
                }
                self.add(v, lim)
            }
        }
    }

    /// Adds a member taken from another set; an integer goes straight into an intset.
    pub fn add_member(&mut self, m: Member, lim: &Limits) -> bool {
        match (&mut self.repr, m) {
            (Repr::Ints(s), Member::Int(n)) => {
                if !s.insert(n) {
                    return false;
                }
                if s.len() > lim.intset_max() {
                    self.convert_to_table(0);
                }
                true
            }
            _ => m.with_bytes(|b| self.add(b, lim)),
        }
    }

    /// Removes `v`; false when it was not a member. Never changes the representation.
    pub fn remove(&mut self, v: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => parse_i64(v).is_some_and(|n| s.remove(n)),
            Repr::Pack(p) => p.remove(v),
            Repr::Table(t) => t.remove(v),
        }
    }

    pub fn contains(&self, v: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(s) => parse_i64(v).is_some_and(|n| s.contains(n)),
            Repr::Pack(p) => p.contains(v),
            Repr::Table(t) => t.contains(v),
        }
    }

    pub fn contains_member(&self, m: Member) -> bool {
        match (&self.repr, m) {
            (Repr::Ints(s), Member::Int(n)) => s.contains(n),
            _ => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// The member at position `i` of the iteration order (O(1) except for packs).
    pub fn get(&self, i: usize) -> Member<'_> {
        match &self.repr {
            Repr::Ints(s) => Member::Int(s.get(i)),
            Repr::Pack(p) => Member::Str(p.get(i)),
            Repr::Table(t) => Member::Str(&t.items[i]),
        }
    }

    /// A uniformly chosen member of a non-empty set.
    pub fn random_member<R: Rng>(&self, rng: &mut R) -> Member<'_> {
        self.get(rng.gen_range(0..self.len()))
    }

    /// Removes and returns a uniformly chosen member of a non-empty set.
    pub fn pop_random<R: Rng>(&mut self, rng: &mut R) -> Vec<u8> {
        let i = rng.gen_range(0..self.len());
        match &mut self.repr {
            Repr::Table(t) => t.remove_at(i).into_vec(),
            _ => {
                let m = self.get(i).to_vec();
                self.remove(&m);
                m
            }
        }
    }

    /// Removes `count` (< len) uniformly chosen distinct members and returns them. Like
    /// Redis, when few members would remain, the survivors are chosen instead and the set is
    /// rebuilt from them: a table's survivors go into a fresh pack (which converts back to a
    /// table if they do not fit), so a large set shrunk this way may become "listpack".
    pub fn pop_many<R: Rng>(&mut self, count: usize, lim: &Limits, rng: &mut R) -> Vec<Vec<u8>> {
        let len = self.len();
        debug_assert!(count < len);
        let remaining = len - count;
        let mut out = Vec::with_capacity(count);
        if let Repr::Table(t) = &mut self.repr {
            if remaining * 5 > count {
                for _ in 0..count {
                    let i = rng.gen_range(0..t.len());
                    out.push(t.remove_at(i).into_vec());
                }
                return out;
            }
            let mut keep = vec![false; len];
            for i in rand::seq::index::sample(rng, len, remaining) {
                keep[i] = true;
            }
            let mut survivors = Set::new_pack();
            for (i, m) in t.items.iter().enumerate() {
                if keep[i] {
                    survivors.add(m, lim);
                } else {
                    out.push(m.to_vec());
                }
            }
            *self = survivors;
            return out;
        }
        // Intsets and packs: mark the popped positions and compact in one pass.
        let mut keep = vec![true; len];
        for i in rand::seq::index::sample(rng, len, count) {
            keep[i] = false;
        }
        for (m, &k) in self.iter().zip(&keep) {
            if !k {
                out.push(m.to_vec());
            }
        }
        match &mut self.repr {
            Repr::Ints(s) => s.retain_positions(&keep),
            Repr::Pack(p) => p.retain_positions(&keep),
            Repr::Table(_) => unreachable!(),
        }
        out
    }

    /// SRANDMEMBER with a count: `count` distinct members (all of them when `count` >= len),
    /// or, for a negative count, `-count` independent uniform draws with repetition.
    pub fn random_members<R: Rng>(&self, count: i64, rng: &mut R) -> Vec<Member<'_>> {
        let len = self.len();
        if len == 0 || count == 0 {
            return Vec::new();
        }
        if count < 0 {
            let n = count.unsigned_abs() as usize;
            if let Repr::Pack(p) = &self.repr {
                // One walk to index the pack, then O(1) draws.
                let all: Vec<&[u8]> = p.iter().collect();
                return (0..n)
                    .map(|_| Member::Str(all[rng.gen_range(0..len)]))
                    .collect();
            }
            return (0..n).map(|_| self.random_member(rng)).collect();
        }
        let n = count as usize;
        if n >= len {
            return self.iter().collect();
        }
        if let Repr::Pack(p) = &self.repr {
            let mut pick = vec![false; len];
            for i in rand::seq::index::sample(rng, len, n) {
                pick[i] = true;
            }
            return p
                .iter()
                .zip(pick)
                .filter(|(_, k)| *k)
                .map(|(m, _)| Member::Str(m))
                .collect();
        }
        rand::seq::index::sample(rng, len, n)
            .into_iter()
            .map(|i| self.get(i))
            .collect()
    }

    /// One SSCAN step. A hash table is walked from its last slot down, `count` slots per
    /// call; the cursor is the number of slots still to visit (0 starts a walk and ends
    /// one). A member present for the whole walk is returned at least once: only the last
    /// member ever moves (into a removal's hole), and either it was already visited, or the
    /// vector is no longer than the cursor and the member lands in a lower, unvisited slot.
    /// Small representations are returned whole with cursor 0, as Redis does.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(Member<'s>)) -> u64 {
        let Repr::Table(t) = &self.repr else {
            self.iter().for_each(f);
            return 0;
        };
        let len = t.len() as u64;
        let mut remaining = if cursor == 0 { len } else { cursor.min(len) };
        let mut budget = count.max(1);
        while remaining > 0 && budget > 0 {
            remaining -= 1;
            budget -= 1;
            f(Member::Str(&t.items[remaining as usize]));
        }
        remaining
    }

    /// Converts to an intset when every member is an integer and there are not too many
    /// (Redis's maybeConvertToIntset after SINTERSTORE).
    fn maybe_to_ints(&mut self, lim: &Limits) {
        if matches!(self.repr, Repr::Ints(_)) || self.len() > lim.intset_max() {
            return;
        }
        let mut s = IntSet::default();
        for m in self.iter() {
            match m {
                Member::Int(n) => s.insert(n),
                Member::Str(b) => match parse_i64(b) {
                    Some(n) => s.insert(n),
                    None => return,
                },
            };
        }
        self.repr = Repr::Ints(s);
    }

    /// Trims spare capacity (after building a result set): packed buffers already grow by
    /// allocator size classes only, so there is nothing to trim.
    pub fn shrink_to_fit(&mut self) {}
}

// ---------------------------------------------------------------------------------------
// Multi-set operations
// ---------------------------------------------------------------------------------------

/// Operand sets sorted by increasing size (missing keys already excluded by the caller).
fn by_size<'a>(sets: &[&'a Set]) -> Vec<&'a Set> {
    let mut v = sets.to_vec();
    v.sort_by_key(|s| s.len());
    v
}

/// The members of the smallest set that every other set contains, in the smallest set's
/// order (SINTER). `limit` > 0 stops after that many (SINTERCARD LIMIT).
pub fn inter<'a>(sets: &[&'a Set], limit: usize) -> Vec<Member<'a>> {
    let sorted = by_size(sets);
    let Some((first, rest)) = sorted.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in first.iter() {
        if rest
            .iter()
            .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
        {
            out.push(m);
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// The intersection as a new set with the representation Redis's SINTERSTORE builds: an
/// intset when the smallest operand is one, else a pack that becomes an intset at the end
/// if every member is an integer (and a table if it outgrows the pack).
pub fn inter_store(sets: &[&Set], lim: &Limits) -> Set {
    let smallest_is_ints = by_size(sets)
        .first()
        .is_some_and(|s| matches!(s.repr, Repr::Ints(_)));
    let mut dst = if smallest_is_ints {
        Set::default()
    } else {
        Set::new_pack()
    };
    let mut only_integers = true;
    for m in inter(sets, 0) {
        if let Member::Str(b) = m {
            if only_integers && parse_i64(b).is_none() {
                only_integers = false;
            }
        }
        dst.add_member(m, lim);
    }
    if only_integers && !dst.is_empty() {
        dst.maybe_to_ints(lim);
    }
    dst.shrink_to_fit();
    dst
}

/// The union of the operands (`None` is a missing key, an empty set), built like Redis's
/// SUNION: starting from an intset and converting as members arrive.
pub fn union(sets: &[Option<&Set>], lim: &Limits) -> Set {
    let mut dst = Set::default();
    for s in sets.iter().flatten() {
        dst.reserve_for(s.len(), lim);
        for m in s.iter() {
            dst.add_member(m, lim);
        }
    }
    dst
}

/// The members of the first operand in none of the others (SDIFF). An operand that is the
/// same set as the first (the same key named twice) empties the result.
pub fn diff(sets: &[Option<&Set>], lim: &Limits) -> Set {
    let mut dst = Set::default();
    let Some(Some(first)) = sets.first() else {
        return dst;
    };
    let rest: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    if rest.iter().any(|s| std::ptr::eq(*s, *first)) {
        return dst;
    }
    // Subtract the larger sets first: they are the likeliest to contain a member.
    let mut rest = rest;
    rest.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for m in first.iter() {
        if !rest.iter().any(|s| s.contains_member(m)) {
            dst.add_member(m, lim);
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn lim() -> Limits {
        Limits::default()
    }

    fn build(members: &[&str]) -> Set {
        let mut s = Set::with_hint(members[0].as_bytes(), members.len(), &lim());
        for m in members {
            s.add(m.as_bytes(), &lim());
        }
        s
    }

    fn sorted(s: &Set) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
        v.sort();
        v
    }

    /// Prefetching is a hint over whatever the index guesses: any member, present or not,
    /// at any stage, and a table emptied down to nothing, read nothing out of bounds and
    /// change nothing.
    #[test]
    fn prefetch_hints_change_nothing() {
        let names: Vec<String> = (0..500).map(|i| format!("member:{i}")).collect();
        let mut s = build(&names.iter().map(|n| n.as_str()).collect::<Vec<_>>());
        assert_eq!(s.encoding(), "hashtable");
        let before = sorted(&s);
        for probe in names.iter().map(|n| n.as_str()).chain(["absent", ""]) {
            for stage in Stage::ALL {
                s.prefetch_member(crate::hash_key(probe.as_bytes()), stage);
            }
        }
        assert_eq!(sorted(&s), before);
        for n in &names {
            assert!(s.remove(n.as_bytes()));
            for stage in Stage::ALL {
                s.prefetch_member(crate::hash_key(n.as_bytes()), stage);
            }
        }
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn intset_widths_and_order() {
        let mut s = IntSet::default();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.width(), 2);
        assert!(s.insert(100_000));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 100_000]);
        assert!(s.contains(100_000));
        assert!(s.remove(-3));
        assert!(!s.remove(-3));
        assert!(!s.contains(-3));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn pack_long_members() {
        let mut p = Pack::default();
        let long = vec![b'x'; 300];
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], &long[..], &b""[..]]
        );
        assert!(p.remove(&long));
        assert_eq!(p.len(), 2);
        assert!(p.contains(b""));
    }

    #[test]
    fn encodings_follow_redis() {
        let mut s = build(&["1", "2", "3"]);
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"a", &lim()));
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(
            sorted(&s),
            vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"a".to_vec()]
        );

        let mut s = build(&["a"]);
        assert_eq!(s.encoding(), "listpack");
        s.add(&[b'z'; 65], &lim());
        assert_eq!(s.encoding(), "hashtable");

        let mut s = build(&["a"]);
        for i in 0..127 {
            s.add(format!("m{i}").as_bytes(), &lim());
        }
        assert_eq!((s.len(), s.encoding()), (128, "listpack"));
        s.add(b"x", &lim());
        assert_eq!((s.len(), s.encoding()), (129, "hashtable"));

        let mut s = build(&["0"]);
        for i in 1..512 {
            s.add(i.to_string().as_bytes(), &lim());
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"512", &lim());
        assert_eq!(s.encoding(), "hashtable");

        // 200 integers then a string: too many for a listpack.
        let mut s = build(&["0"]);
        for i in 1..200 {
            s.add(i.to_string().as_bytes(), &lim());
        }
        s.add(b"a", &lim());
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 201);

        // Hints: SADD with many arguments converts up front.
        assert_eq!(Set::with_hint(b"1", 600, &lim()).encoding(), "hashtable");
        assert_eq!(Set::with_hint(b"a", 129, &lim()).encoding(), "hashtable");
        assert_eq!(Set::with_hint(b"1", 200, &lim()).encoding(), "intset");
    }

    #[test]
    fn pop_many_cases() {
        let mut rng = rand::thread_rng();
        for (n, count) in [
            (10usize, 3usize),
            (10, 9),
            (300, 10),
            (300, 299),
            (1000, 900),
        ] {
            let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let refs: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
            let mut s = build(&refs);
            let before: BTreeSet<Vec<u8>> = sorted(&s).into_iter().collect();
            let popped = s.pop_many(count, &lim(), &mut rng);
            assert_eq!(popped.len(), count);
            assert_eq!(s.len(), n - count);
            let after: BTreeSet<Vec<u8>> = sorted(&s).into_iter().collect();
            let popped: BTreeSet<Vec<u8>> = popped.into_iter().collect();
            assert_eq!(popped.len(), count);
            assert!(popped.is_disjoint(&after));
            assert_eq!(
                popped.union(&after).cloned().collect::<BTreeSet<_>>(),
                before
            );
        }
    }

    #[test]
    fn random_members_counts() {
        let mut rng = rand::thread_rng();
        let s = build(&["a", "b", "c"]);
        assert_eq!(s.random_members(5, &mut rng).len(), 3);
        assert_eq!(s.random_members(-5, &mut rng).len(), 5);
        let two = s.random_members(2, &mut rng);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
    }

    #[test]
    fn scan_visits_everything_despite_removals() {
        let mut s = Set::default();
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), &lim());
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = s.scan(cursor, 17, |m| {
                seen.insert(m.to_vec());
            });
            // Remove some members between calls; the rest must all be seen.
            for k in 0..3 {
                s.remove(format!("m{}", round * 3 + k).as_bytes());
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for m in s.iter() {
            assert!(seen.contains(&m.to_vec()));
        }
    }

    #[test]
    fn algebra() {
        let a = build(&["1", "2", "3", "4"]);
        let b = build(&["3", "4", "5"]);
        let c = build(&["x", "3"]);
        let i = inter_store(&[&a, &b], &lim());
        assert_eq!(
            (sorted(&i), i.encoding()),
            (vec![b"3".to_vec(), b"4".to_vec()], "intset")
        );
        let i = inter_store(&[&a, &c], &lim());
        assert_eq!((sorted(&i), i.encoding()), (vec![b"3".to_vec()], "intset"));
        // The smallest operand (here the pack) is walked, so its form of the member is returned.
        assert_eq!(inter(&[&a, &b, &c], 0), vec![Member::Str(b"3")]);
        assert_eq!(inter(&[&a, &b], 1).len(), 1);
        let u = union(&[Some(&a), None, Some(&b)], &lim());
        assert_eq!((u.len(), u.encoding()), (5, "intset"));
        let d = diff(&[Some(&a), Some(&b), None], &lim());
        assert_eq!(sorted(&d), vec![b"1".to_vec(), b"2".to_vec()]);
        assert!(diff(&[Some(&a), Some(&a)], &lim()).is_empty());
        assert!(diff(&[None, Some(&a)], &lim()).is_empty());
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..3, 0u32..300, 0u8..4), 1..600)) {
            let mut s = Set::default();
            let mut model = BTreeSet::new();
            let small = Limits { intset_entries: 40, listpack_entries: 20, listpack_value: 8 };
            for (op, v, kind) in ops {
                // Small integers, integers needing 4 and 8 bytes in an intset, strings.
                let m = match kind {
                    0 => (v as i64 - 150).to_string().into_bytes(),
                    1 => (v as i64 * 1_000_003 - 150_000_000).to_string().into_bytes(),
                    2 => (v as i64 * 10_000_000_019 - 1_500_000_000_000).to_string().into_bytes(),
                    _ => format!("s{v}").into_bytes(),
                };
                match op {
                    0 => prop_assert_eq!(s.add(&m, &small), model.insert(m.clone())),
                    1 => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                    _ => prop_assert_eq!(s.contains(&m), model.contains(&m)),
                }
                prop_assert_eq!(s.len(), model.len());
            }
            let got: BTreeSet<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            prop_assert_eq!(got, model);
        }
    }

    #[test]
    fn compact_sizes() {
        // A set value is 24 bytes, so an Object fits the allocator's 32-byte class.
        assert!(std::mem::size_of::<Set>() <= 24);
        // 100 members of 16 bytes: 17 bytes each plus the 8-byte header in one 1,792-byte
        // block, whatever order they arrive in.
        let mut s = Set::new_pack();
        for i in 0..100 {
            s.add(format!("m{i:015}").as_bytes(), &lim());
        }
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(s.mem_usage(), 1792);
        let mut ints = Set::default();
        for i in 0..100 {
            ints.add(i.to_string().as_bytes(), &lim());
        }
        assert_eq!(ints.encoding(), "intset");
        assert_eq!(ints.mem_usage(), 224);
        // SADD with all members at once (some repeated): one upper-bound reservation, then
        // the block of the final size.
        let members: Vec<String> = (0..110).map(|i| format!("m{:015}", i % 100)).collect();
        let refs: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        let mut s = Set::new_pack();
        assert_eq!(s.add_many(&refs, &lim()), 100);
        assert_eq!(s.mem_usage(), 1792);
        let refs: Vec<&[u8]> = vec![b"1", b"70000", b"2", b"1"];
        let mut ints = Set::default();
        assert_eq!(ints.add_many(&refs, &lim()), 3);
        assert_eq!(
            sorted(&ints),
            [b"1".to_vec(), b"2".to_vec(), b"70000".to_vec()]
        );
    }
}
