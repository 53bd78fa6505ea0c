//! One key and its value, packed into a single heap allocation.
//!
//! The keyspace of a cache holds millions of small keys, so the per-key overhead decides how
//! much data fits in memory. Redis spends a dict entry, a key sds and a value robj (often with a
//! separate sds) per key: four allocations and ~70 bytes of headers. Here a key costs exactly
//! one allocation, addressed by a thin pointer (8 bytes in the table):
//!
//! ```text
//! [meta: 3 bytes][key len: varint][key bytes][expire: 8 bytes, only if HAS_EXPIRE][value]
//! value = Str: [len: varint][bytes]  |  Int: [i64, 8 bytes]  |  Obj: [pointer to Box<Object>]
//! meta  = 24-bit little endian: bits 0-1 kind, bit 2 HAS_EXPIRE, bits 3-23 access bits
//!         (LRU time or LFU counter, see crate::access)
//! ```
//!
//! The allocation has alignment 1, so every multi-byte field is read and written unaligned.
//! A key with a 16-byte value and an 11-byte name takes 32 bytes, one allocator size class.
//! Strings that are large or mutated in place (APPEND, SETRANGE, SETBIT) move to
//! [`Object::Str`], a `Vec` with amortised growth, so appending is not quadratic.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use crate::object::Object;

const KIND_MASK: u32 = 0b11;
const KIND_STR: u32 = 0;
const KIND_INT: u32 = 1;
const KIND_OBJ: u32 = 2;
const HAS_EXPIRE: u32 = 0b100;
const CLOCK_SHIFT: u32 = 3;
/// The access bits are 21: as an LRU clock (seconds) they wrap after ~24 days, like Redis's
/// LRU clock wraps; see [`crate::access`] for their LFU layout.
pub const CLOCK_MAX: u32 = (1 << 21) - 1;
const META_LEN: usize = 3;

/// A value to store in a new entry.
pub enum NewValue<'a> {
    Str(&'a [u8]),
    Int(i64),
    Obj(Box<Object>),
}

impl NewValue<'_> {
    /// How a string value is stored: an integer in canonical form compactly (INCR then never
    /// parses text), anything else as its bytes.
    pub fn string(v: &[u8]) -> NewValue<'_> {
        if v.len() <= 20 {
            if let Some(n) = crate::num::parse_i64(v) {
                return NewValue::Int(n);
            }
        }
        NewValue::Str(v)
    }
}

/// A borrowed view of an entry's value.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Str(&'a [u8]),
    Int(i64),
    Obj(&'a Object),
}

/// A key-value pair in one allocation. See the module docs for the layout.
pub struct Entry {
    ptr: NonNull<u8>,
}

// SAFETY: Entry owns its allocation exclusively (like Box<[u8]>), and Object is Send + Sync.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes `n` as LEB128 at `p`, returns the bytes written.
unsafe fn write_varint(p: *mut u8, mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        *p.add(i) = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    *p.add(i) = n as u8;
    i + 1
}

/// Reads a LEB128 at `p`: (value, bytes read).
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = *p.add(i);
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i);
        }
        shift += 7;
    }
}

impl Entry {
    /// Builds an entry. `clock` is the access clock (see [`CLOCK_MAX`]).
    pub fn new(key: &[u8], value: NewValue<'_>, expire: Option<i64>, clock: u32) -> Entry {
        let (kind, value_len) = match &value {
            NewValue::Str(s) => (KIND_STR, varint_len(s.len()) + s.len()),
            NewValue::Int(_) => (KIND_INT, 8),
            NewValue::Obj(_) => (KIND_OBJ, std::mem::size_of::<usize>()),
        };
        let size = META_LEN
            + varint_len(key.len())
            + key.len()
            + if expire.is_some() { 8 } else { 0 }
            + value_len;
        let layout = Layout::from_size_align(size, 1).expect("entry size overflow");
        // SAFETY: size > 0; every write below stays inside the `size` bytes computed above.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            let meta = kind
                | if expire.is_some() { HAS_EXPIRE } else { 0 }
                | ((clock & CLOCK_MAX) << CLOCK_SHIFT);
            p.copy_from_nonoverlapping(meta.to_le_bytes().as_ptr(), META_LEN);
            let mut off = META_LEN;
            off += write_varint(p.add(off), key.len());
            p.add(off).copy_from_nonoverlapping(key.as_ptr(), key.len());
            off += key.len();
            if let Some(t) = expire {
                p.add(off).cast::<i64>().write_unaligned(t);
                off += 8;
            }
            match value {
                NewValue::Str(s) => {
                    off += write_varint(p.add(off), s.len());
                    p.add(off).copy_from_nonoverlapping(s.as_ptr(), s.len());
                    off += s.len();
                }
                NewValue::Int(n) => {
                    p.add(off).cast::<i64>().write_unaligned(n);
                    off += 8;
                }
                NewValue::Obj(b) => {
                    p.add(off)
                        .cast::<usize>()
                        .write_unaligned(Box::into_raw(b) as usize);
                    off += std::mem::size_of::<usize>();
                }
            }
            debug_assert_eq!(off, size);
            Entry {
                ptr: NonNull::new_unchecked(p),
            }
        }
    }

    /// Asks the CPU to start loading this entry's header (flags, clock, key), so entries
    /// looked at together (eviction's samples) wait for memory once, not one after another.
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch(self.ptr.as_ptr());
    }

    #[inline]
    fn meta(&self) -> u32 {
        // SAFETY: every entry starts with META_LEN initialised bytes.
        unsafe {
            let p = self.ptr.as_ptr();
            (*p as u32) | ((*p.add(1) as u32) << 8) | ((*p.add(2) as u32) << 16)
        }
    }

    #[inline]
    fn set_meta(&mut self, meta: u32) {
        let b = meta.to_le_bytes();
        // SAFETY: as in meta(); we own the allocation mutably.
        unsafe {
            self.ptr
                .as_ptr()
                .copy_from_nonoverlapping(b.as_ptr(), META_LEN)
        }
    }

    /// Offset just past the key, and the key's (offset, len).
    #[inline]
    fn key_span(&self) -> (usize, usize) {
        // SAFETY: the key length varint follows the meta bytes.
        let (len, n) = unsafe { read_varint(self.ptr.as_ptr().add(META_LEN)) };
        (META_LEN + n, len)
    }

    /// Offset of the value part.
    #[inline]
    fn value_off(&self) -> usize {
        let (off, len) = self.key_span();
        off + len + if self.meta() & HAS_EXPIRE != 0 { 8 } else { 0 }
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        let (off, len) = self.key_span();
        // SAFETY: the key bytes lie inside the allocation, which lives as long as &self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }

    #[inline]
    pub fn expire(&self) -> Option<i64> {
        if self.meta() & HAS_EXPIRE == 0 {
            return None;
        }
        let (off, len) = self.key_span();
        // SAFETY: HAS_EXPIRE means 8 bytes of deadline follow the key.
        Some(unsafe {
            self.ptr
                .as_ptr()
                .add(off + len)
                .cast::<i64>()
                .read_unaligned()
        })
    }

    /// True when the entry has a deadline at or before `now_ms`.
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        matches!(self.expire(), Some(t) if t <= now_ms)
    }

    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        let off = self.value_off();
        // SAFETY: the value part follows the key/expire as laid out by `new`.
        unsafe {
            let p = self.ptr.as_ptr().add(off);
            match self.meta() & KIND_MASK {
                KIND_STR => {
                    let (len, n) = read_varint(p);
                    ValueRef::Str(std::slice::from_raw_parts(p.add(n), len))
                }
                KIND_INT => ValueRef::Int(p.cast::<i64>().read_unaligned()),
                _ => ValueRef::Obj(&*(p.cast::<usize>().read_unaligned() as *const Object)),
            }
        }
    }

    /// Mutable access to a boxed object value, if the value is one.
    #[inline]
    pub fn obj_mut(&mut self) -> Option<&mut Object> {
        if self.meta() & KIND_MASK != KIND_OBJ {
            return None;
        }
        let off = self.value_off();
        // SAFETY: KIND_OBJ stores a pointer from Box::into_raw that this entry owns.
        unsafe {
            let raw = self.ptr.as_ptr().add(off).cast::<usize>().read_unaligned() as *mut Object;
            Some(&mut *raw)
        }
    }

    /// Overwrites an integer value in place; false if the value is not an integer.
    #[inline]
    pub fn set_int_in_place(&mut self, n: i64) -> bool {
        if self.meta() & KIND_MASK != KIND_INT {
            return false;
        }
        let off = self.value_off();
        // SAFETY: KIND_INT has 8 value bytes at `off`.
        unsafe { self.ptr.as_ptr().add(off).cast::<i64>().write_unaligned(n) };
        true
    }

    /// The access bits (21: LRU seconds or LFU counter and minutes, see [`crate::access`]).
    #[inline]
    pub fn clock(&self) -> u32 {
        self.meta() >> CLOCK_SHIFT
    }

    #[inline]
    pub fn set_clock(&mut self, clock: u32) {
        let m = (self.meta() & ((1 << CLOCK_SHIFT) - 1)) | ((clock & CLOCK_MAX) << CLOCK_SHIFT);
        self.set_meta(m);
    }

    /// Overwrites value and deadline in the existing allocation when the layout stays the
    /// same (a string of the same length, an integer over an integer, a deadline present
    /// before and after or absent in both); false, changing nothing, otherwise. SET over an
    /// existing key of the same size then neither allocates nor frees.
    pub fn overwrite_in_place(&mut self, value: &NewValue<'_>, expire: Option<i64>) -> bool {
        let meta = self.meta();
        if (meta & HAS_EXPIRE != 0) != expire.is_some() {
            return false;
        }
        let off = self.value_off();
        // SAFETY: each arm writes only inside the value part laid out by `new` for the
        // entry's kind, after checking that the new value has exactly that size.
        unsafe {
            let p = self.ptr.as_ptr().add(off);
            match (meta & KIND_MASK, value) {
                (KIND_STR, NewValue::Str(s)) => {
                    let (len, n) = read_varint(p);
                    if len != s.len() {
                        return false;
                    }
                    p.add(n).copy_from_nonoverlapping(s.as_ptr(), len);
                }
                (KIND_INT, NewValue::Int(v)) => p.cast::<i64>().write_unaligned(*v),
                _ => return false,
            }
        }
        if let Some(t) = expire {
            let (koff, klen) = self.key_span();
            // SAFETY: HAS_EXPIRE (checked above) means 8 deadline bytes follow the key.
            unsafe {
                self.ptr
                    .as_ptr()
                    .add(koff + klen)
                    .cast::<i64>()
                    .write_unaligned(t)
            }
        }
        true
    }

    /// Replaces the value, keeping key and deadline (and the clock).
    pub fn set_value(&mut self, value: NewValue<'_>) {
        if let NewValue::Int(n) = value {
            if self.set_int_in_place(n) {
                return;
            }
        }
        let new = Entry::new(self.key(), value, self.expire(), self.clock());
        *self = new;
    }

    /// Sets or clears the deadline. Rebuilds the allocation only when the presence changes.
    pub fn set_expire(&mut self, expire: Option<i64>) {
        match (self.meta() & HAS_EXPIRE != 0, expire) {
            (true, Some(t)) => {
                let (off, len) = self.key_span();
                // SAFETY: HAS_EXPIRE means 8 deadline bytes follow the key.
                unsafe {
                    self.ptr
                        .as_ptr()
                        .add(off + len)
                        .cast::<i64>()
                        .write_unaligned(t)
                }
            }
            (false, None) => {}
            _ => {
                let new = self.rebuilt(None, expire);
                self.replace_moving_object(new);
            }
        }
    }

    /// Builds a new entry with a different key but the same value and deadline (RENAME, MOVE).
    pub fn rekey(mut self, key: &[u8]) -> Entry {
        let new = self.rebuilt(Some(key), self.expire());
        self.replace_moving_object(new);
        self
    }

    /// A copy of this entry with another key and/or deadline. An object value is shared by
    /// pointer with `self`, so the caller must finish with `replace_moving_object`.
    fn rebuilt(&self, key: Option<&[u8]>, expire: Option<i64>) -> Entry {
        let key = key.unwrap_or_else(|| self.key());
        let value = match self.value() {
            ValueRef::Str(s) => NewValue::Str(s),
            ValueRef::Int(n) => NewValue::Int(n),
            // SAFETY: the pointer came from Box::into_raw; the new entry takes it over and
            // replace_moving_object frees the old allocation without dropping the object.
            ValueRef::Obj(o) => {
                NewValue::Obj(unsafe { Box::from_raw(o as *const Object as *mut Object) })
            }
        };
        Entry::new(key, value, expire, self.clock())
    }

    /// Replaces self by `new`, which took over self's object (if any): frees the old bytes only.
    fn replace_moving_object(&mut self, new: Entry) {
        self.free_without_value();
        // SAFETY: the old allocation is freed and its object now belongs to `new`; overwrite
        // without running Drop on the old value.
        unsafe { std::ptr::write(self, new) };
    }

    fn layout(&self) -> Layout {
        let size = self.value_off()
            + match self.meta() & KIND_MASK {
                KIND_STR => {
                    // SAFETY: reads the value length varint inside the allocation.
                    let (len, n) = unsafe { read_varint(self.ptr.as_ptr().add(self.value_off())) };
                    n + len
                }
                KIND_INT => 8,
                _ => std::mem::size_of::<usize>(),
            };
        Layout::from_size_align(size, 1).expect("entry layout")
    }

    /// Frees the allocation without dropping an object value (already moved out).
    fn free_without_value(&mut self) {
        let layout = self.layout();
        // SAFETY: ptr was allocated with exactly this layout in `new`.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }

    /// Bytes requested for the entry's own allocation (key, deadline, inline value).
    pub fn alloc_size(&self) -> usize {
        self.layout().size()
    }

    /// Bytes of memory this entry uses (allocation plus owned object), for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        self.layout().size()
            + match self.value() {
                ValueRef::Obj(o) => o.mem_usage(),
                _ => 0,
            }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.meta() & KIND_MASK == KIND_OBJ {
            let off = self.value_off();
            // SAFETY: the entry owns the boxed object.
            unsafe {
                let raw =
                    self.ptr.as_ptr().add(off).cast::<usize>().read_unaligned() as *mut Object;
                drop(Box::from_raw(raw));
            }
        }
        self.free_without_value();
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire", &self.expire())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let e = Entry::new(b"key:1", NewValue::Str(b"hello"), None, 7);
        assert_eq!(e.key(), b"key:1");
        assert!(matches!(e.value(), ValueRef::Str(b"hello")));
        assert_eq!(e.expire(), None);
        assert_eq!(e.clock(), 7);

        let e = Entry::new(b"n", NewValue::Int(-42), Some(1234), 0);
        assert!(matches!(e.value(), ValueRef::Int(-42)));
        assert_eq!(e.expire(), Some(1234));

        let mut e = Entry::new(
            b"o",
            NewValue::Obj(Box::new(Object::Str(b"abc".to_vec()))),
            None,
            0,
        );
        match e.obj_mut() {
            Some(Object::Str(v)) => v.extend_from_slice(b"def"),
            _ => panic!("expected object"),
        }
        assert!(matches!(e.value(), ValueRef::Obj(Object::Str(v)) if v == b"abcdef"));
    }

    #[test]
    fn long_keys_and_values_use_multi_byte_lengths() {
        let key = vec![b'k'; 300];
        let val = vec![7u8; 100_000];
        let e = Entry::new(&key, NewValue::Str(&val), Some(-5), CLOCK_MAX);
        assert_eq!(e.key(), &key[..]);
        assert!(matches!(e.value(), ValueRef::Str(v) if v == &val[..]));
        assert_eq!(e.expire(), Some(-5));
        assert_eq!(e.clock(), CLOCK_MAX);
    }

    #[test]
    fn expire_can_be_added_changed_and_removed() {
        let mut e = Entry::new(
            b"k",
            NewValue::Obj(Box::new(Object::Str(b"v".to_vec()))),
            None,
            3,
        );
        e.set_expire(Some(10));
        assert_eq!(e.expire(), Some(10));
        e.set_expire(Some(20));
        assert_eq!(e.expire(), Some(20));
        e.set_expire(None);
        assert_eq!(e.expire(), None);
        assert_eq!(e.key(), b"k");
        assert_eq!(e.clock(), 3);
        assert!(matches!(e.value(), ValueRef::Obj(Object::Str(v)) if v == b"v"));
    }

    #[test]
    fn set_value_and_rekey_keep_metadata() {
        let mut e = Entry::new(b"k", NewValue::Int(1), Some(99), 5);
        e.set_value(NewValue::Int(2));
        assert!(matches!(e.value(), ValueRef::Int(2)));
        e.set_value(NewValue::Str(b"text"));
        assert!(matches!(e.value(), ValueRef::Str(b"text")));
        assert_eq!(e.expire(), Some(99));
        let e = e.rekey(b"other");
        assert_eq!(e.key(), b"other");
        assert_eq!(e.expire(), Some(99));
        assert!(matches!(e.value(), ValueRef::Str(b"text")));
    }

    #[test]
    fn overwrite_in_place_only_when_the_layout_stays() {
        let mut e = Entry::new(b"k", NewValue::Str(b"abcd"), Some(5), 9);
        assert!(e.overwrite_in_place(&NewValue::Str(b"wxyz"), Some(7)));
        assert!(matches!(e.value(), ValueRef::Str(b"wxyz")));
        assert_eq!((e.expire(), e.clock(), e.key()), (Some(7), 9, &b"k"[..]));
        assert!(!e.overwrite_in_place(&NewValue::Str(b"wxy"), Some(7)));
        assert!(!e.overwrite_in_place(&NewValue::Str(b"wxyz"), None));
        assert!(!e.overwrite_in_place(&NewValue::Int(1), Some(7)));
        assert!(matches!(e.value(), ValueRef::Str(b"wxyz")));
        let mut n = Entry::new(b"n", NewValue::Int(1), None, 0);
        assert!(n.overwrite_in_place(&NewValue::Int(-8), None));
        assert!(matches!(n.value(), ValueRef::Int(-8)));
        assert!(!n.overwrite_in_place(&NewValue::Str(b"12345678"), None));
        let obj = NewValue::Obj(Box::new(Object::Str(b"v".to_vec())));
        let mut o = Entry::new(b"o", obj, None, 0);
        assert!(!o.overwrite_in_place(&NewValue::Str(b"v"), None));
    }

    #[test]
    fn small_string_entry_fits_one_size_class() {
        let e = Entry::new(b"key:0000001", NewValue::Str(&[b'x'; 16]), None, 0);
        assert_eq!(e.mem_usage(), 32);
    }
}
