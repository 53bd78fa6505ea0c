//! Data types and the sharded keyspace of Cinnabar. No I/O: the server crate drives it.
//!
//! - [`keyspace`]: shards, their locks, and the set of shards a command holds.
//! - [`db`]: one database of one shard (hash index + dense entry vector, expiry).
//! - [`entry`]: one key and its value packed into a single allocation.
//! - [`access`]: the LRU time / LFU counter kept in each entry for eviction.
//! - [`object`]: values that need their own allocation.
//! - [`num`], [`glob`], [`bits`], [`lcs`]: pure functions behind the string commands.
//! - [`hll`]: HyperLogLog values in Redis's byte format (PF* commands).
//! - [`geo`]: geohash scores, distances and search cells (GEO* commands).
//! - [`rdb`]: the RDB format (files, DUMP payloads); [`rewrite`]: the command form of keys
//!   (an AOF base without the RDB preamble).

pub mod access;
pub mod bits;
pub mod db;
pub mod dense;
pub mod entry;
pub mod error;
pub mod gcra;
pub mod geo;
pub mod glob;
pub mod hll;
pub mod keyspace;
pub mod lazyfree;
pub mod lcs;
pub mod num;
pub mod object;
pub mod rdb;
pub mod rewrite;
pub mod types;

pub use db::Db;
pub use entry::{Entry, NewValue, ValueRef};
pub use error::{Error, Result};
pub use keyspace::{Keyspace, Locked, Shard};
pub use object::Object;

use std::hash::BuildHasher;
use std::sync::OnceLock;

static HASHER: OnceLock<foldhash::fast::RandomState> = OnceLock::new();

/// Hash of a key, seeded randomly once per process so that clients cannot craft colliding
/// keys. The same hash picks the shard and the bucket.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    HASHER
        .get_or_init(foldhash::fast::RandomState::default)
        .hash_one(key)
}

/// The passes of a prefetch over a pipeline's next lookups (see `Keyspace::prefetch`): each
/// reads what the pass before started loading, so that the misses of a batch overlap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    /// The index bucket of the hash.
    Bucket,
    /// The place, in the dense vector, of the slot the bucket's tag guesses.
    Slot,
    /// What that place points to: an entry's header, a member's bytes.
    Data,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Bucket, Stage::Slot, Stage::Data];
}

/// Asks the CPU to start loading the cache line at `p` (a hint: it never faults, whatever
/// the address, and does nothing on targets without the instruction).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
