//! Values that live in their own heap allocation, referenced from an [`Entry`](crate::entry::Entry).
//!
//! Small strings and integers are stored inside the entry itself; everything that grows in
//! place or has internal structure lives here.

use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};

/// A boxed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A string that is large or was modified in place (APPEND, SETRANGE, SETBIT): a `Vec`
    /// gives amortised growth, so repeated appends stay linear.
    Str(Vec<u8>),
    List(List),
    Set(Set),
    Hash(Hash),
    ZSet(ZSet),
    /// Boxed: a stream's header (counters, node map, groups) is larger than the 24 bytes
    /// the other types fit in, and streams are rare enough that the extra hop costs little.
    Stream(Box<Stream>),
}

impl Object {
    /// Heap bytes owned by the object (for MEMORY USAGE and INFO).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Object>()
            + match self {
                Object::Str(v) => v.capacity(),
                Object::List(l) => l.mem_usage(),
                Object::Set(s) => s.mem_usage(),
                Object::Hash(h) => h.mem_usage(),
                Object::ZSet(z) => z.mem_usage(),
                Object::Stream(s) => s.mem_usage(),
            }
    }

    /// Starts loading the part of a big set or hash where a member or field hashing to
    /// `hash` is looked up (by [`crate::Stage`], as `set::Table::prefetch`); nothing for other values.
    #[inline]
    pub fn prefetch_member(&self, hash: u64, stage: crate::Stage) {
        match self {
            Object::Set(s) => s.prefetch_member(hash, stage),
            Object::Hash(h) => h.prefetch_field(hash, stage),
            _ => {}
        }
    }

    /// Redis's name for the type (TYPE command).
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "string",
            Object::List(_) => "list",
            Object::Set(_) => "set",
            Object::Hash(_) => "hash",
            Object::ZSet(_) => "zset",
            Object::Stream(_) => "stream",
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::Str(_) => "raw",
            Object::List(l) => l.encoding(),
            Object::Set(s) => s.encoding(),
            Object::Hash(h) => h.encoding(),
            Object::ZSet(z) => z.encoding(),
            Object::Stream(_) => "stream",
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every value type fits 24 bytes, so a boxed object takes the allocator's 32-byte
    /// class: it is allocated once per key.
    #[test]
    fn object_fits_32_bytes() {
        assert!(std::mem::size_of::<super::Object>() <= 32);
    }
}
