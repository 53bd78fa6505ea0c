//! The two halves of a database's key table, built for density: [`SlotIndex`], a hash index
//! of 4-byte slot numbers, and [`ChunkVec`], the dense vector of entries it points into.
//!
//! Why not `hashbrown::HashTable<u32>` and a `Vec`: both grow by doubling, so after a growth
//! step half of each is empty, and on average a third is. At a million string keys the table
//! cost ~19 bytes per key next to the 32 of the entry itself, plus the freed previous
//! generation of both (a `Vec` that doubles frees a block half its new size every time).
//!
//! - [`SlotIndex`] is open addressing with linear probing over `u32` buckets: no control
//!   bytes (4 bytes per bucket instead of 5), any capacity (the home bucket is
//!   `hash * capacity >> 32`, not a mask), grown by 1.875x of the live count when 80% full, so
//!   its load stays between 53% and 80%. Each bucket holds the slot and, in the bits the slot
//!   does not need, a tag of the hash, so a probe compares keys only on a tag match (almost
//!   only the right one). Deletions leave tombstones, counted towards the load; a rebuild
//!   (growth, or too many tombstones) drops them.
//! - Linear probing's clusters make some keys' probes long (tens of buckets at 80% load),
//!   and which keys is decided by the process's hash seed: a hot key could cost 4x another
//!   run's. So a lookup that may modify the index ([`SlotIndex::find_promote`]) moves a key
//!   found far from its home bucket to that home bucket, trading places with what was there.
//!   Every bucket between the two is occupied (that is how the probe got there), so both
//!   stay reachable; the sum of all keys' probe lengths is unchanged, only keys that are
//!   looked up get the short ones.
//! - [`ChunkVec`] stores elements in chunks of [`CHUNK`] that never move: growth allocates one
//!   more chunk and copies nothing, so at most one chunk per table is unused and no freed old
//!   block is left behind. The first chunk grows by doubling up to `CHUNK`, so a table of a
//!   few keys stays small.

/// Elements per chunk of a [`ChunkVec`] (2 KB of 8-byte entries).
pub const CHUNK: usize = 256;
const CHUNK_SHIFT: u32 = CHUNK.trailing_zeros();

/// A vector whose elements live in fixed-size chunks that never move.
pub struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkVec<T> {
    fn default() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkVec<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)]
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)]
    }

    pub fn push(&mut self, v: T) {
        let ci = self.len >> CHUNK_SHIFT;
        if ci == self.chunks.len() {
            // The first chunk starts small and doubles (Vec's growth) up to CHUNK; later
            // ones are allocated whole.
            self.chunks.push(if ci == 0 {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        self.chunks[ci].push(v);
        self.len += 1;
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let ci = self.len >> CHUNK_SHIFT;
        // An empty chunk is kept past the end as a spare until the chunk before it empties
        // too, so pushes and pops around a chunk boundary do not allocate each time.
        if self.chunks.len() > ci + 2 {
            self.chunks.truncate(ci + 2);
        }
        self.chunks[ci].pop()
    }

    /// Removes element `i`; the last element moves into its place.
    pub fn swap_remove(&mut self, i: usize) -> T {
        assert!(
            i < self.len,
            "swap_remove index {i} out of range {}",
            self.len
        );
        let last = self.pop().expect("non-empty");
        if i == self.len {
            last
        } else {
            std::mem::replace(self.get_mut(i), last)
        }
    }

    pub fn iter(&self) -> std::iter::Flatten<std::slice::Iter<'_, Vec<T>>> {
        self.chunks.iter().flatten()
    }

    /// Heap bytes held (chunks at their capacity, and the chunk table).
    pub fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .chunks
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }
}

const EMPTY: u32 = 0;
const TOMBSTONE: u32 = 1;
/// Rebuild when live entries plus tombstones would pass this share of the buckets.
const MAX_LOAD_NUM: usize = 4;
const MAX_LOAD_DEN: usize = 5;
/// A rebuild sizes the buckets to this multiple of the live count (in eighths): 1.875x, so
/// a freshly rebuilt index is 53% full.
const GROW_EIGHTHS: usize = 15;
const MIN_BUCKETS: usize = 8;
/// [`SlotIndex::find_promote`] moves a key found more than this many buckets past its home.
/// Rare enough at the usual loads (a few lookups in a hundred) that the writes cost nothing.
const PROMOTE_AFTER: usize = 8;

/// A hash index of `u32` slots (see the module docs). It stores no hashes: the caller
/// supplies them, and the hash of any stored slot when the index is rebuilt.
#[derive(Default, Clone)]
pub struct SlotIndex {
    buckets: Box<[u32]>,
    /// Live slots.
    len: usize,
    /// Live slots plus tombstones.
    used: usize,
    /// Mask of the bucket bits that hold `slot + 2` (0 empty, 1 tombstone); the bits above
    /// hold the tag.
    low: u32,
}

/// The 32 hash bits a tag is cut from: none of them picks the shard (bits 40..52, see
/// `keyspace::shard_of_hash`, so all keys of a table share them) and the top ones are not the
/// ones the home bucket mostly depends on (the top of the low 32 bits).
#[inline]
fn tag_source(hash: u64) -> u32 {
    (((hash >> 52) as u32) << 20) | ((((hash >> 32) & 0xff) as u32) << 12) | (hash as u32 & 0xfff)
}

impl SlotIndex {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An empty index with room for `n` slots before it grows.
    pub fn with_capacity(n: usize) -> SlotIndex {
        let mut index = SlotIndex::default();
        if n > 0 {
            index.rebuild(n, &|_| {
                unreachable!("an empty index has no slots to rehash")
            });
        }
        index
    }

    /// Number of buckets.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (((hash as u32) as u64 * self.buckets.len() as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, pos: usize) -> usize {
        if pos + 1 == self.buckets.len() {
            0
        } else {
            pos + 1
        }
    }

    /// The slot whose hash is `hash` and for which `eq(slot)` holds.
    #[inline]
    pub fn find(&self, hash: u64, eq: impl FnMut(usize) -> bool) -> Option<usize> {
        self.probe(hash, eq).map(|(slot, _)| slot)
    }

    /// [`SlotIndex::find`]'s probe: the slot found and how many buckets past its home.
    #[inline]
    fn probe(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<(usize, usize)> {
        if self.len == 0 {
            return None;
        }
        let low = self.low;
        let tag = tag_source(hash) & !low;
        let mut pos = self.home(hash);
        let mut dist = 0usize;
        loop {
            // pos < buckets.len() by home() and next().
            let b = self.buckets[pos];
            if b == EMPTY {
                return None;
            }
            if (b & !low) == tag && (b & low) >= 2 {
                let slot = ((b & low) - 2) as usize;
                if eq(slot) {
                    return Some((slot, dist));
                }
            }
            pos = self.next(pos);
            dist += 1;
        }
    }

    /// [`SlotIndex::find`], and a slot found more than [`PROMOTE_AFTER`] buckets past its
    /// home bucket trades places with that bucket's content (see the module docs), so a key
    /// looked up often is found at the first probe.
    #[inline]
    pub fn find_promote(&mut self, hash: u64, eq: impl FnMut(usize) -> bool) -> Option<usize> {
        self.find_promote_after(hash, eq, PROMOTE_AFTER)
    }

    #[inline]
    fn find_promote_after(
        &mut self,
        hash: u64,
        eq: impl FnMut(usize) -> bool,
        after: usize,
    ) -> Option<usize> {
        let (slot, dist) = self.probe(hash, eq)?;
        if dist > after {
            // Everything from home to the slot's bucket is occupied (a live slot or a
            // tombstone): what moves there is still reached from its own home.
            let home = self.home(hash);
            let pos = (home + dist) % self.buckets.len();
            self.buckets.swap(home, pos);
        }
        Some(slot)
    }

    /// Starts loading the home bucket of `hash` into the cache (a hint: see
    /// `Keyspace::prefetch`).
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.buckets.is_empty() {
            crate::prefetch(&self.buckets[self.home(hash)]);
        }
    }

    /// The first slot whose tag matches `hash` within a few buckets of its home (a guess
    /// for prefetching: no key comparison).
    #[inline]
    pub fn guess(&self, hash: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let low = self.low;
        let tag = tag_source(hash) & !low;
        let mut pos = self.home(hash);
        for _ in 0..4 {
            let b = self.buckets[pos];
            if b == EMPTY {
                return None;
            }
            if (b & !low) == tag && (b & low) >= 2 {
                return Some(((b & low) - 2) as usize);
            }
            pos = self.next(pos);
        }
        None
    }

    /// Starts loading, by [`Stage`](crate::Stage), what a lookup of `hash` reads when the slots
    /// index `items`: the bucket, the guessed slot's element, what `data` of that element
    /// points to (a member's bytes). A hint: a wrong guess loads a line for nothing.
    #[inline]
    pub fn prefetch_in<T>(
        &self,
        hash: u64,
        stage: crate::Stage,
        items: &[T],
        data: impl Fn(&T) -> *const u8,
    ) {
        if stage == crate::Stage::Bucket {
            return self.prefetch(hash);
        }
        if let Some(item) = self.guess(hash).and_then(|i| items.get(i)) {
            if stage == crate::Stage::Slot {
                crate::prefetch(item);
            } else {
                crate::prefetch(data(item));
            }
        }
    }

    /// Position of the bucket holding `slot`, which must be stored under `hash`.
    fn position_of(&self, hash: u64, slot: usize) -> usize {
        let want = slot as u32 + 2;
        let mut pos = self.home(hash);
        loop {
            let b = self.buckets[pos];
            assert!(b != EMPTY, "slot {slot} missing from the index");
            if b & self.low == want {
                return pos;
            }
            pos = self.next(pos);
        }
    }

    /// Adds `slot`, not present yet, under `hash`. `hash_of(s)` gives the hash of any slot
    /// already stored (`0..len`), for a rebuild.
    pub fn insert(&mut self, hash: u64, slot: usize, hash_of: impl Fn(usize) -> u64) {
        if (self.used + 1) * MAX_LOAD_DEN > self.buckets.len() * MAX_LOAD_NUM
            || slot as u64 + 2 > self.low as u64
        {
            self.rebuild(self.len + 1, &hash_of);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    /// Stores `slot` in the first free bucket from its home (no growth check).
    fn place(&mut self, hash: u64, slot: usize) {
        let mut pos = self.home(hash);
        loop {
            let b = self.buckets[pos];
            if b == EMPTY || b == TOMBSTONE {
                if b == EMPTY {
                    self.used += 1;
                }
                self.buckets[pos] = (tag_source(hash) & !self.low) | (slot as u32 + 2);
                return;
            }
            pos = self.next(pos);
        }
    }

    /// Rebuilds the index for `want` live slots (the current `0..len` are re-inserted),
    /// dropping tombstones.
    fn rebuild(&mut self, want: usize, hash_of: &impl Fn(usize) -> u64) {
        let n = (want.max(1) * GROW_EIGHTHS).div_ceil(8).max(MIN_BUCKETS);
        assert!(n < (u32::MAX >> 1) as usize, "too many keys in one table");
        // Slot values go up to n + 1 (slot < n, stored as slot + 2).
        let bits = u32::BITS - ((n + 1) as u32).leading_zeros();
        self.low = if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        self.buckets = vec![EMPTY; n].into_boxed_slice();
        self.used = 0;
        for s in 0..self.len {
            self.place(hash_of(s), s);
        }
    }

    /// Removes `slot`, stored under `hash`. `hash_of` as for [`SlotIndex::insert`] (a rebuild
    /// may shrink the index after mass deletion); slots `0..len` after the removal must be
    /// the remaining ones, so the caller removes the last slot, having moved it (with
    /// [`SlotIndex::relocate`]) into the hole.
    pub fn remove(&mut self, hash: u64, slot: usize) {
        let pos = self.position_of(hash, slot);
        self.len -= 1;
        if self.buckets[self.next(pos)] == EMPTY {
            // Nothing probes past this bucket: it and the tombstones before it become empty.
            self.buckets[pos] = EMPTY;
            self.used -= 1;
            let mut p = pos;
            loop {
                p = if p == 0 {
                    self.buckets.len() - 1
                } else {
                    p - 1
                };
                if self.buckets[p] != TOMBSTONE {
                    break;
                }
                self.buckets[p] = EMPTY;
                self.used -= 1;
            }
        } else {
            self.buckets[pos] = TOMBSTONE;
        }
    }

    /// Gives memory back after mass deletion (as Redis shrinks dicts under 1/8 fill).
    pub fn maybe_shrink(&mut self, hash_of: impl Fn(usize) -> u64) {
        if self.buckets.len() > 64 && self.len * 8 < self.buckets.len() {
            if self.len == 0 {
                *self = SlotIndex::default();
            } else {
                self.rebuild(self.len, &hash_of);
            }
        }
    }

    /// The slot stored under `hash` as `from` is now `to`.
    pub fn relocate(&mut self, hash: u64, from: usize, to: usize) {
        let pos = self.position_of(hash, from);
        let b = self.buckets[pos];
        self.buckets[pos] = (b & !self.low) | (to as u32 + 2);
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A key table built from the two halves, as `db::Table` uses them, over plain u64 keys.
    #[derive(Default)]
    struct Model {
        index: SlotIndex,
        items: ChunkVec<u64>,
    }

    fn h(k: u64) -> u64 {
        crate::hash_key(&k.to_le_bytes())
    }

    impl Model {
        fn find(&self, k: u64) -> Option<usize> {
            self.index.find(h(k), |s| *self.items.get(s) == k)
        }
        fn find_promote(&mut self, k: u64) -> Option<usize> {
            let items = &self.items;
            self.index.find_promote(h(k), |s| *items.get(s) == k)
        }
        /// Promotes whatever is not in its home bucket (stresses the moves).
        fn find_promote_always(&mut self, k: u64) -> Option<usize> {
            let items = &self.items;
            self.index
                .find_promote_after(h(k), |s| *items.get(s) == k, 0)
        }
        /// Probes from `k`'s home bucket to the bucket holding it.
        fn distance(&self, k: u64) -> usize {
            let slot = self.find(k).expect("present") as u32 + 2;
            let mut pos = self.index.home(h(k));
            let mut d = 0;
            while self.index.buckets[pos] & self.index.low != slot {
                pos = self.index.next(pos);
                d += 1;
            }
            d
        }
        fn insert(&mut self, k: u64) {
            let slot = self.items.len();
            self.items.push(k);
            let items = &self.items;
            self.index.insert(h(k), slot, |s| h(*items.get(s)));
        }
        fn remove(&mut self, k: u64) -> bool {
            let Some(slot) = self.find(k) else {
                return false;
            };
            self.index.remove(h(k), slot);
            let last = self.items.len() - 1;
            if slot != last {
                self.index.relocate(h(*self.items.get(last)), last, slot);
            }
            self.items.swap_remove(slot);
            let items = &self.items;
            self.index.maybe_shrink(|s| h(*items.get(s)));
            true
        }
    }

    #[test]
    fn chunkvec_push_pop_swap_remove() {
        let mut v = ChunkVec::default();
        for i in 0..(3 * CHUNK + 5) {
            v.push(i);
        }
        assert_eq!(v.len(), 3 * CHUNK + 5);
        assert_eq!(*v.get(CHUNK + 1), CHUNK + 1);
        assert_eq!(v.swap_remove(1), 1);
        assert_eq!(*v.get(1), 3 * CHUNK + 4);
        assert_eq!(v.iter().count(), 3 * CHUNK + 4);
        while v.pop().is_some() {}
        assert!(v.is_empty());
        assert!(v.chunks.len() <= 2);
        v.push(7);
        assert_eq!(*v.get(0), 7);
    }

    #[test]
    fn first_chunk_grows_by_doubling() {
        let mut v = ChunkVec::default();
        v.push(1u64);
        assert!(v.chunks[0].capacity() <= 4, "{}", v.chunks[0].capacity());
        for i in 0..CHUNK as u64 {
            v.push(i);
        }
        assert_eq!(v.chunks[0].capacity(), CHUNK);
        assert_eq!(v.chunks[1].capacity(), CHUNK);
    }

    #[test]
    fn index_load_stays_between_bounds() {
        let mut m = Model::default();
        for k in 0..100_000u64 {
            m.insert(k);
            if k > 100 {
                let load = m.index.len() as f64 / m.index.capacity() as f64;
                assert!((0.5..=0.8).contains(&load), "load {load} at {k}");
            }
        }
        for k in 0..100_000u64 {
            assert_eq!(m.find(k).map(|s| *m.items.get(s)), Some(k));
        }
        assert_eq!(m.find(100_000), None);
        for k in 0..99_000u64 {
            assert!(m.remove(k));
        }
        assert!(m.index.capacity() < 20_000, "{}", m.index.capacity());
        for k in 99_000..100_000u64 {
            assert!(m.find(k).is_some());
        }
    }

    #[test]
    fn churn_does_not_fill_with_tombstones() {
        let mut m = Model::default();
        for k in 0..1000u64 {
            m.insert(k);
        }
        let cap = m.index.capacity();
        for k in 1000..200_000u64 {
            m.insert(k);
            assert!(m.remove(k - 1000));
        }
        assert_eq!(m.index.len(), 1000);
        assert!(
            m.index.capacity() <= cap * 2,
            "{} vs {cap}",
            m.index.capacity()
        );
        for k in 199_000..200_000u64 {
            assert!(m.find(k).is_some(), "{k}");
        }
    }

    #[test]
    fn a_key_looked_up_far_from_home_moves_home() {
        let mut m = Model::default();
        for k in 0..10_000u64 {
            m.insert(k);
        }
        let far = (0..10_000u64).max_by_key(|&k| m.distance(k)).expect("keys");
        let d = m.distance(far);
        assert!(d > PROMOTE_AFTER, "longest probe only {d}");
        assert_eq!(m.find_promote(far).map(|s| *m.items.get(s)), Some(far));
        assert_eq!(m.distance(far), 0);
        // Every key is still found, the moved one included.
        for k in 0..10_000u64 {
            assert_eq!(m.find(k).map(|s| *m.items.get(s)), Some(k));
        }
    }

    #[test]
    fn guess_is_the_slot_of_a_key_near_home() {
        let mut m = Model::default();
        assert_eq!(m.index.guess(h(1)), None);
        for k in 0..1000u64 {
            m.insert(k);
        }
        for k in 0..1000u64 {
            // A guess looks a few buckets from home only, and may be a tag twin: when it
            // names a slot for a key found within that reach, it is that key's.
            if m.distance(k) < 4 {
                let g = m.index.guess(h(k)).expect("near home");
                if *m.items.get(g) != k {
                    assert_eq!(
                        tag_source(h(*m.items.get(g))) & !m.index.low,
                        tag_source(h(k)) & !m.index.low
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_a_set(ops in proptest::collection::vec((0u8..3, 0u64..400), 1..3000)) {
            let mut m = Model::default();
            let mut model = std::collections::HashSet::new();
            for (op, k) in ops {
                if op == 0 {
                    if model.insert(k) {
                        prop_assert!(m.find(k).is_none());
                        m.insert(k);
                    }
                } else if op == 1 {
                    prop_assert_eq!(m.remove(k), model.remove(&k));
                } else {
                    // A lookup that moves keys around.
                    let got = m.find_promote_always(k).map(|s| *m.items.get(s));
                    prop_assert_eq!(got, model.contains(&k).then_some(k));
                }
                prop_assert_eq!(m.items.len(), model.len());
                prop_assert_eq!(m.index.len(), model.len());
            }
            for k in 0..400u64 {
                prop_assert_eq!(m.find(k).is_some(), model.contains(&k));
            }
            let mut all: Vec<u64> = m.items.iter().copied().collect();
            all.sort_unstable();
            let mut want: Vec<u64> = model.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }
}
