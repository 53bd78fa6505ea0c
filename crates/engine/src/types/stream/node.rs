//! The storage of stream entries: nodes of up to `stream-node-max-entries` entries packed in
//! one heap block each, keyed by their *master ID* in an ordered map.
//!
//! The structure is Redis's (t_stream.c): a node starts with a *master entry* holding the
//! field names of its first entry; an entry whose fields are the master's stores only its
//! values (the SAMEFIELDS flag); IDs are stored as deltas from the master ID; a deleted entry
//! stays in place with the DELETED flag (a tombstone) until its whole node goes. Keeping the
//! same structure keeps the same behaviour where clients can see it: nodes split at the same
//! entries (so `XTRIM ~` removes the same whole nodes and XINFO reports the same node
//! count), tombstones survive the same way (so lag and `max-deleted-entry-id` agree), and an
//! RDB node can be rebuilt byte for byte from ours.
//!
//! The bytes are not a listpack, though. A listpack spends, on every element, a backward
//! length and a type tag, and 2 bytes for each small integer: for an entry of two 8-byte
//! values that is 29 bytes. Here an entry is
//!
//! ```text
//! [ms delta << 2 | flags: varint][seq delta: zigzag varint][values...][entry length, backward]
//! ```
//!
//! (plus a field count and the field names, before the values, when it lacks SAMEFIELDS),
//! and each field or value is one varint header (`len << 1` for bytes, `zigzag << 1 | 1` for
//! a canonical integer, which is how listpacks store numbers too) and its bytes: the same
//! entry takes 21 or 22 bytes, a quarter less. The one-byte backward length (a listpack-style
//! varint read right to left) makes reverse iteration O(1) per entry, as XREVRANGE needs.
//!
//! Redis decides when a node is full from its listpack's size, so each node keeps the size
//! its listpack *would* have ([`Node::lp_bytes`]), exactly, and [`Node::to_listpack`] /
//! [`Node::from_listpack`] convert to and from the RDB form (checking every field of the
//! input: RDB payloads come from files and RESTORE).
//!
//! Block layout (a [`PackBuf`], whose own header holds the used length and the live entry
//! count): `[deleted u32][lp_base u32][entries_at u32][master field count: varint][master
//! fields...][entries...]`, where `lp_base` is the listpack size minus its two counters.

use super::id::StreamId;
use crate::rdb::packed::{Elem, ListpackWriter};
use crate::types::packbuf::PackBuf;

/// Entry flags, with Redis's values (they are written as such into RDB listpacks).
pub(super) const FLAG_DELETED: u8 = 1;
pub(super) const FLAG_SAMEFIELDS: u8 = 2;

/// An ms delta at or above this is written after the entry head instead of inside it.
const HEAD_ESCAPE: u64 = (1 << 62) - 1;

/// Bytes of the node header inside the block payload.
const HDR: usize = 12;

/// Redis refuses an entry whose fields and values add up to more than this
/// (STREAM_LISTPACK_MAX_SIZE), and never lets a node's listpack grow past it.
pub const MAX_NODE_BYTES: usize = 1 << 30;

/// A field name or value as stored: bytes, or a canonical decimal integer kept as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Value<'a> {
    /// The normal form of `b`: `Int` when `b` is a canonical integer that fits the compact
    /// integer encoding (|n| < 2^62), else `Bytes`.
    pub fn classify(b: &'a [u8]) -> Value<'a> {
        if b.len() <= 20 {
            if let Some(n) = crate::num::parse_i64(b) {
                if fits_int(n) {
                    return Value::Int(n);
                }
            }
        }
        Value::Bytes(b)
    }

    /// The value's bytes; an integer is formatted into `buf`.
    pub fn as_bytes<'s>(&'s self, buf: &'s mut [u8; 20]) -> &'s [u8] {
        match *self {
            Value::Bytes(b) => b,
            Value::Int(n) => {
                let mut f = itoa::Buffer::new();
                let s = f.format(n).as_bytes();
                buf[..s.len()].copy_from_slice(s);
                &buf[..s.len()]
            }
        }
    }

    /// The value's bytes, copied.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = [0u8; 20];
        self.as_bytes(&mut buf).to_vec()
    }

    /// Length of the value's bytes.
    pub fn len(&self) -> usize {
        match *self {
            Value::Bytes(b) => b.len(),
            Value::Int(n) => itoa::Buffer::new().format(n).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the value's bytes are `b`.
    pub fn eq_bytes(&self, b: &[u8]) -> bool {
        let mut buf = [0u8; 20];
        self.as_bytes(&mut buf) == b
    }
}

#[inline]
fn fits_int(n: i64) -> bool {
    zigzag(n) < 1 << 63
}

#[inline]
fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[inline]
fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[inline]
fn var_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Reads the LEB128 varint at `b[at..]`: (value, bytes read). Only called on blocks this
/// module wrote.
#[inline]
fn get_var(b: &[u8], at: usize) -> (u64, usize) {
    let first = b[at];
    if first < 0x80 {
        return (first as u64, 1);
    }
    let mut n = 0u64;
    let mut shift = 0;
    let mut i = at;
    loop {
        let c = b[i];
        n |= ((c & 0x7f) as u64) << shift;
        i += 1;
        if c & 0x80 == 0 {
            return (n, i - at);
        }
        shift += 7;
    }
}

/// Bytes of the backward length of an entry of `len` bytes.
#[inline]
fn backlen_len(len: usize) -> usize {
    var_len(len as u64)
}

/// Encoded size of a value.
#[inline]
fn value_size(v: Value<'_>) -> usize {
    match v {
        Value::Int(n) if fits_int(n) => var_len((zigzag(n) << 1) | 1),
        Value::Int(n) => {
            let l = itoa::Buffer::new().format(n).len();
            var_len((l as u64) << 1) + l
        }
        Value::Bytes(b) => var_len((b.len() as u64) << 1) + b.len(),
    }
}

/// Writes into a pre-sized slice.
struct W<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl W<'_> {
    #[inline]
    fn u8(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    #[inline]
    fn var(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.u8((n as u8) | 0x80);
            n >>= 7;
        }
        self.u8(n as u8);
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    fn value(&mut self, v: Value<'_>) {
        match v {
            Value::Int(n) if fits_int(n) => self.var((zigzag(n) << 1) | 1),
            Value::Int(n) => {
                let mut f = itoa::Buffer::new();
                let s = f.format(n).as_bytes();
                self.var((s.len() as u64) << 1);
                self.bytes(s);
            }
            Value::Bytes(b) => {
                self.var((b.len() as u64) << 1);
                self.bytes(b);
            }
        }
    }

    /// An entry's first field: flags in the two low bits, the ms delta above them (or an
    /// escape and the delta in a varint of its own when it is too big to shift).
    fn head(&mut self, flags: u8, dms: u64) {
        if dms < HEAD_ESCAPE {
            self.var((dms << 2) | flags as u64);
        } else {
            self.var((HEAD_ESCAPE << 2) | flags as u64);
            self.var(dms);
        }
    }

    /// The backward length: low 7 bits in the last byte, each byte but the first flagged
    /// 0x80 (read right to left, as a listpack's backlen).
    fn backlen(&mut self, len: usize) {
        let n = backlen_len(len);
        for i in 0..n {
            let group = ((len >> (7 * (n - 1 - i))) & 0x7f) as u8;
            self.u8(if i == 0 { group } else { group | 0x80 });
        }
    }
}

/// Bytes of an entry head (see `W::head`).
#[inline]
fn head_size(dms: u64) -> usize {
    if dms < HEAD_ESCAPE {
        var_len(dms << 2)
    } else {
        var_len(HEAD_ESCAPE << 2) + var_len(dms)
    }
}

/// Reads an entry head: (flags, ms delta, bytes read).
#[inline]
fn get_head(b: &[u8], at: usize) -> (u8, u64, usize) {
    let (h, k) = get_var(b, at);
    let (flags, dms) = ((h & 3) as u8, h >> 2);
    if dms < HEAD_ESCAPE {
        (flags, dms, k)
    } else {
        let (dms, k2) = get_var(b, at + k);
        (flags, dms, k + k2)
    }
}

/// Reads the value at `b[at..]`: (value, next offset).
#[inline]
fn get_value(b: &[u8], at: usize) -> (Value<'_>, usize) {
    let (h, n) = get_var(b, at);
    let at = at + n;
    if h & 1 == 1 {
        (Value::Int(unzigzag(h >> 1)), at)
    } else {
        let len = (h >> 1) as usize;
        (Value::Bytes(&b[at..at + len]), at + len)
    }
}

/// Offset just past the value at `b[at..]`.
#[inline]
fn skip_value(b: &[u8], at: usize) -> usize {
    let (h, n) = get_var(b, at);
    if h & 1 == 1 {
        at + n
    } else {
        at + n + (h >> 1) as usize
    }
}

// Sizes of elements in a Redis listpack (encoding + backlen), to keep `lp_bytes` exact.

fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        5
    } else {
        9
    };
    enc + 1
}

fn lp_backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn lp_value_size(v: Value<'_>) -> usize {
    match v {
        Value::Int(n) => lp_int_size(n),
        Value::Bytes(b) => {
            // lpAppend stores canonical integers as integers, whatever their size.
            if let Value::Int(n) = classify_any_int(b) {
                return lp_int_size(n);
            }
            let len = b.len();
            let enc = len
                + if len < 64 {
                    1
                } else if len < 4096 {
                    2
                } else {
                    5
                };
            enc + lp_backlen_size(enc)
        }
    }
}

/// `Int` for any canonical i64 (no range limit), as listpacks decide.
fn classify_any_int(b: &[u8]) -> Value<'_> {
    if b.len() <= 20 {
        if let Some(n) = crate::num::parse_i64(b) {
            return Value::Int(n);
        }
    }
    Value::Bytes(b)
}

/// One entry as decoded from a node.
#[derive(Clone, Copy, Debug)]
pub(super) struct Raw {
    /// Offset of the flags byte.
    pub at: usize,
    pub flags: u8,
    pub id: StreamId,
    /// Field-value pairs.
    pub nfields: usize,
    /// Offset of the first field (or value, with SAMEFIELDS).
    pub body: usize,
    /// Offset just past the entry (its backward length included).
    pub end: usize,
}

impl Raw {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    pub fn same_fields(&self) -> bool {
        self.flags & FLAG_SAMEFIELDS != 0
    }
}

/// A node. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Node {
    buf: PackBuf,
}

/// The fields and values of an entry, in the flat `[field, value, field, value...]` order.
pub(super) trait Pairs {
    fn n(&self) -> usize;
    fn field(&self, i: usize) -> Value<'_>;
    fn value(&self, i: usize) -> Value<'_>;
}

impl<A: AsRef<[u8]>> Pairs for [A] {
    fn n(&self) -> usize {
        self.len() / 2
    }
    fn field(&self, i: usize) -> Value<'_> {
        Value::classify(self[2 * i].as_ref())
    }
    fn value(&self, i: usize) -> Value<'_> {
        Value::classify(self[2 * i + 1].as_ref())
    }
}

/// Size of an entry's listpack form.
fn lp_entry_size(flags: u8, delta: (u64, u64), p: &(impl Pairs + ?Sized)) -> usize {
    let n = p.n();
    let same = flags & FLAG_SAMEFIELDS != 0;
    let mut size = lp_int_size(flags as i64)
        + lp_int_size(delta.0 as i64)
        + lp_int_size(delta.1 as i64)
        + (0..n).map(|i| lp_value_size(p.value(i))).sum::<usize>();
    let mut lp_count = n + 3;
    if !same {
        size += lp_int_size(n as i64) + (0..n).map(|i| lp_value_size(p.field(i))).sum::<usize>();
        lp_count += n + 1;
    }
    size + lp_int_size(lp_count as i64)
}

/// (ms delta, seq delta) of `id` from `master`, as Redis stores them (wrapping).
fn deltas(master: StreamId, id: StreamId) -> (u64, u64) {
    (
        id.ms.wrapping_sub(master.ms),
        id.seq.wrapping_sub(master.seq),
    )
}

impl Node {
    #[inline]
    fn word(&self, i: usize) -> usize {
        let b = self.buf.bytes();
        u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes")) as usize
    }

    #[inline]
    fn set_word(&mut self, i: usize, v: usize) {
        debug_assert!(v <= u32::MAX as usize);
        self.buf.bytes_mut()[i..i + 4].copy_from_slice(&(v as u32).to_le_bytes());
    }

    /// The payload bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.buf.bytes()
    }

    /// Live (not deleted) entries.
    #[inline]
    pub fn live(&self) -> usize {
        self.buf.count()
    }

    /// Tombstones.
    #[inline]
    pub fn deleted(&self) -> usize {
        self.word(0)
    }

    /// Offset of the first entry.
    #[inline]
    pub fn entries_at(&self) -> usize {
        self.word(8)
    }

    /// Offset just past the last entry.
    #[inline]
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// Size in bytes of this node's Redis listpack (what `stream-node-max-bytes` limits).
    pub fn lp_bytes(&self) -> usize {
        self.word(4) + lp_int_size(self.live() as i64) + lp_int_size(self.deleted() as i64)
    }

    /// Size of the heap block.
    pub fn alloc_size(&self) -> usize {
        self.buf.alloc_size()
    }

    /// Number of master fields and the offset of the first.
    #[inline]
    pub fn master_fields(&self) -> (usize, usize) {
        let (n, k) = get_var(self.bytes(), HDR);
        (n as usize, HDR + k)
    }

    /// A node holding one entry (whose ID becomes the master ID: its deltas are 0), whose fields become
    /// the master fields.
    pub fn create(p: &(impl Pairs + ?Sized)) -> Node {
        let n = p.n();
        let master_size = var_len(n as u64) + (0..n).map(|i| value_size(p.field(i))).sum::<usize>();
        let lp_fixed = 6
            + 1
            + lp_int_size(n as i64)
            + (0..n).map(|i| lp_value_size(p.field(i))).sum::<usize>()
            + lp_int_size(0);
        let entries_at = HDR + master_size;
        let mut node = Node {
            buf: PackBuf::new(),
        };
        let entry = Node::entry_size(FLAG_SAMEFIELDS, (0, 0), p);
        node.buf.reserve(entries_at + entry + backlen_len(entry));
        node.buf.splice_with(0..0, entries_at, |dst| {
            let mut w = W { buf: dst, pos: 0 };
            w.bytes(&[0; HDR]);
            w.var(n as u64);
            for i in 0..n {
                w.value(p.field(i));
            }
        });
        node.set_word(0, 0);
        node.set_word(4, lp_fixed);
        node.set_word(8, entries_at);
        node.push_entry(FLAG_SAMEFIELDS, (0, 0), p);
        node
    }

    /// True when the entry's fields are the master fields, in order.
    fn same_as_master(&self, p: &(impl Pairs + ?Sized)) -> bool {
        let (n, mut at) = self.master_fields();
        if n != p.n() {
            return false;
        }
        let b = self.bytes();
        for i in 0..n {
            let (v, next) = get_value(b, at);
            if v != p.field(i) {
                return false;
            }
            at = next;
        }
        true
    }

    /// Appends entry `id` (greater than every entry here), with SAMEFIELDS when its fields
    /// are the master's.
    pub fn append(&mut self, master: StreamId, id: StreamId, p: &(impl Pairs + ?Sized)) {
        let flags = if self.same_as_master(p) {
            FLAG_SAMEFIELDS
        } else {
            0
        };
        self.push_entry(flags, deltas(master, id), p);
    }

    /// Encoded size of an entry without its backward length.
    fn entry_size(flags: u8, delta: (u64, u64), p: &(impl Pairs + ?Sized)) -> usize {
        let n = p.n();
        let mut size = head_size(delta.0)
            + var_len(zigzag(delta.1 as i64))
            + (0..n).map(|i| value_size(p.value(i))).sum::<usize>();
        if flags & FLAG_SAMEFIELDS == 0 {
            size += var_len(n as u64) + (0..n).map(|i| value_size(p.field(i))).sum::<usize>();
        }
        size
    }

    /// Bytes our encoding of this entry would add to a node (for the 1 GiB block limit).
    pub fn encoded_size(p: &(impl Pairs + ?Sized)) -> usize {
        let size = Node::entry_size(0, (u64::MAX, u64::MAX), p);
        size + backlen_len(size)
    }

    fn push_entry(&mut self, flags: u8, delta: (u64, u64), p: &(impl Pairs + ?Sized)) {
        let n = p.n();
        let size = Node::entry_size(flags, delta, p);
        let total = size + backlen_len(size);
        let at = self.end();
        self.buf.splice_with(at..at, total, |dst| {
            let mut w = W { buf: dst, pos: 0 };
            w.head(flags, delta.0);
            w.var(zigzag(delta.1 as i64));
            if flags & FLAG_SAMEFIELDS == 0 {
                w.var(n as u64);
                for i in 0..n {
                    w.value(p.field(i));
                    w.value(p.value(i));
                }
            } else {
                for i in 0..n {
                    w.value(p.value(i));
                }
            }
            w.backlen(size);
            debug_assert_eq!(w.pos, total);
        });
        let lp = self.word(4) + lp_entry_size(flags, delta, p);
        self.set_word(4, lp);
        if flags & FLAG_DELETED == 0 {
            let live = self.live();
            self.buf.set_count(live + 1);
        } else {
            let d = self.deleted();
            self.set_word(0, d + 1);
        }
    }

    /// Decodes the entry starting at `at`.
    pub fn decode(&self, master: StreamId, at: usize) -> Raw {
        let b = self.bytes();
        let (flags, ms, k) = get_head(b, at);
        let mut p = at + k;
        let (seq, k) = get_var(b, p);
        p += k;
        let id = StreamId::new(
            master.ms.wrapping_add(ms),
            master.seq.wrapping_add(unzigzag(seq) as u64),
        );
        let (nfields, body, mut q) = if flags & FLAG_SAMEFIELDS != 0 {
            let (n, _) = self.master_fields();
            (n, p, p)
        } else {
            let (n, k) = get_var(b, p);
            (n as usize, p + k, p + k)
        };
        let elems = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            2 * nfields
        };
        for _ in 0..elems {
            q = skip_value(b, q);
        }
        let size = q - at;
        Raw {
            at,
            flags,
            id,
            nfields,
            body,
            end: q + backlen_len(size),
        }
    }

    /// Start of the entry that ends at `end`, or `None` when `end` is the first entry's start.
    pub fn prev_start(&self, end: usize) -> Option<usize> {
        if end <= self.entries_at() {
            return None;
        }
        let b = self.bytes();
        let mut p = end - 1;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let c = b[p];
            len |= ((c & 0x7f) as usize) << shift;
            if c & 0x80 == 0 {
                break;
            }
            p -= 1;
            shift += 7;
        }
        Some(p - len)
    }

    /// The last entry, tombstones included.
    pub fn last(&self, master: StreamId) -> Option<Raw> {
        self.prev_start(self.end())
            .map(|at| self.decode(master, at))
    }

    /// Flags the live entry at `at` as deleted (the flags are the low bits of its first
    /// byte, so the entry keeps its size).
    pub fn mark_deleted(&mut self, at: usize) {
        let first = self.bytes()[at];
        debug_assert_eq!(first & FLAG_DELETED, 0);
        self.buf.bytes_mut()[at] = first | FLAG_DELETED;
        let live = self.live();
        self.buf.set_count(live - 1);
        let d = self.deleted();
        self.set_word(0, d + 1);
    }

    /// Gives back spare room (when the node stops being the tail, as lpShrinkToFit).
    pub fn fit(&mut self) {
        self.buf.fit();
    }

    /// The field-value pairs of a decoded entry.
    pub fn fields<'a>(&'a self, raw: &Raw) -> Fields<'a> {
        let (master_at, same) = if raw.same_fields() {
            (self.master_fields().1, true)
        } else {
            (0, false)
        };
        Fields {
            bytes: self.bytes(),
            same,
            master_at,
            at: raw.body,
            left: raw.nfields,
        }
    }

    /// The node in Redis's listpack layout (master entry, then each entry with its flags,
    /// ID deltas, fields unless SAMEFIELDS, values and lp-count), as RDB stores it.
    pub fn to_listpack(&self, master: StreamId) -> Vec<u8> {
        let mut w = ListpackWriter::new();
        let b = self.bytes();
        w.push_int(self.live() as i64);
        w.push_int(self.deleted() as i64);
        let (n, mut at) = self.master_fields();
        w.push_int(n as i64);
        for _ in 0..n {
            let (v, next) = get_value(b, at);
            push_value(&mut w, v);
            at = next;
        }
        w.push_int(0);
        let mut at = self.entries_at();
        while at < self.end() {
            let raw = self.decode(master, at);
            let (dms, dseq) = deltas(master, raw.id);
            w.push_int(raw.flags as i64);
            w.push_int(dms as i64);
            w.push_int(dseq as i64);
            let mut lp_count = raw.nfields + 3;
            if !raw.same_fields() {
                w.push_int(raw.nfields as i64);
                lp_count += raw.nfields + 1;
                // Fields and values interleaved, as stored.
                let mut p = raw.body;
                for _ in 0..2 * raw.nfields {
                    let (v, next) = get_value(b, p);
                    push_value(&mut w, v);
                    p = next;
                }
            } else {
                let mut p = raw.body;
                for _ in 0..raw.nfields {
                    let (v, next) = get_value(b, p);
                    push_value(&mut w, v);
                    p = next;
                }
            }
            w.push_int(lp_count as i64);
            at = raw.end;
        }
        let lp = w.finish();
        debug_assert_eq!(lp.len(), self.lp_bytes());
        lp
    }

    /// Builds a node from a stream listpack read from RDB, checking its structure as Redis's
    /// deep sanitization does (counters, master entry, each entry's field count and
    /// lp-count) and more: flags are 0..=3, entry IDs strictly increase and none is below
    /// the master ID, and the node holds at least one entry. Returns the node and the IDs of
    /// its first and last entries.
    pub fn from_listpack(
        master: StreamId,
        lp: &[u8],
    ) -> Result<(Node, StreamId, StreamId), &'static str> {
        let elems = crate::rdb::packed::listpack_elems(lp).ok_or("invalid stream listpack")?;
        let int_at = |pos: &mut usize, what: &'static str| -> Result<i64, &'static str> {
            let e = elems.get(*pos).ok_or("truncated stream listpack")?;
            *pos += 1;
            match *e {
                Elem::Int(v) => Ok(v),
                // lpGetIntegerIfValid also takes a string holding an integer.
                Elem::Str(s) => crate::num::parse_i64(s).ok_or(what),
            }
        };
        let mut pos = 0;
        let live = int_at(&mut pos, "bad stream node entry count")?;
        let deleted = int_at(&mut pos, "bad stream node deleted count")?;
        let nmaster = int_at(&mut pos, "bad stream node master field count")?;
        if live < 0 || deleted < 0 || nmaster < 0 {
            return Err("negative stream node counter");
        }
        let (live, deleted, nmaster) = (live as usize, deleted as usize, nmaster as usize);
        // The master fields and terminator must fit, and every entry takes at least 4
        // elements.
        if nmaster > elems.len() - pos || live.saturating_add(deleted) > elems.len() / 4 {
            return Err("stream node counters exceed its listpack");
        }
        if live + deleted == 0 {
            return Err("stream node without entries");
        }
        let master_fields: Vec<Value<'_>> =
            elems[pos..pos + nmaster].iter().map(to_value).collect();
        pos += nmaster;
        if int_at(&mut pos, "bad master entry terminator")? != 0 {
            return Err("bad master entry terminator");
        }
        let mut node = Node {
            buf: PackBuf::new(),
        };
        // Build the block in one go: header, master fields, entries.
        let mut out: Vec<u8> = Vec::with_capacity(lp.len());
        out.extend_from_slice(&[0; HDR]);
        put_var_vec(&mut out, nmaster as u64);
        for &f in &master_fields {
            put_value_vec(&mut out, f);
        }
        let entries_at = out.len();
        let mut lp_base = 6
            + 1
            + lp_int_size(nmaster as i64)
            + master_fields
                .iter()
                .map(|&v| lp_value_size(v))
                .sum::<usize>()
            + lp_int_size(0);
        let (mut first, mut last) = (None, None::<StreamId>);
        let (mut seen_live, mut seen_deleted) = (0usize, 0usize);
        for _ in 0..live + deleted {
            let entry_lp_start = pos;
            let flags = int_at(&mut pos, "bad entry flags")?;
            if !(0..=3).contains(&flags) {
                return Err("bad entry flags");
            }
            let flags = flags as u8;
            let dms = int_at(&mut pos, "bad entry ID")? as u64;
            let dseq = int_at(&mut pos, "bad entry ID")? as u64;
            let id = StreamId::new(master.ms.wrapping_add(dms), master.seq.wrapping_add(dseq));
            if id < master || last.is_some_and(|l| id <= l) {
                return Err("stream entry IDs out of order");
            }
            let same = flags & FLAG_SAMEFIELDS != 0;
            let n = if same {
                nmaster
            } else {
                let n = int_at(&mut pos, "bad entry field count")?;
                if n < 0 || n as usize > elems.len() {
                    return Err("bad entry field count");
                }
                n as usize
            };
            let count = if same { n } else { 2 * n };
            let vals = elems
                .get(pos..pos + count)
                .ok_or("truncated stream listpack")?;
            pos += count;
            let lp_count = int_at(&mut pos, "bad entry lp-count")?;
            let expect = if same { n + 3 } else { 2 * n + 4 };
            if lp_count != expect as i64 {
                return Err("bad entry lp-count");
            }
            // Our encoding of the entry.
            let start = out.len();
            let mut head = [0u8; 20];
            let k = head_size(dms);
            W {
                buf: &mut head[..k],
                pos: 0,
            }
            .head(flags, dms);
            out.extend_from_slice(&head[..k]);
            put_var_vec(&mut out, zigzag(dseq as i64));
            if !same {
                put_var_vec(&mut out, n as u64);
            }
            for e in vals {
                put_value_vec(&mut out, to_value(e));
            }
            let size = out.len() - start;
            let mut tail = [0u8; 10];
            let k = backlen_len(size);
            W {
                buf: &mut tail[..k],
                pos: 0,
            }
            .backlen(size);
            out.extend_from_slice(&tail[..k]);
            // The listpack bytes this entry took, as re-encoded (what Redis would count).
            lp_base += elems[entry_lp_start..pos]
                .iter()
                .map(|e| match *e {
                    Elem::Int(v) => lp_int_size(v),
                    Elem::Str(s) => lp_value_size(Value::Bytes(s)),
                })
                .sum::<usize>();
            if flags & FLAG_DELETED != 0 {
                seen_deleted += 1;
            } else {
                seen_live += 1;
            }
            first.get_or_insert(id);
            last = Some(id);
        }
        if pos != elems.len() {
            return Err("trailing data in stream listpack");
        }
        if seen_live != live || seen_deleted != deleted {
            return Err("stream node counters do not match its entries");
        }
        if out.len() > crate::types::packbuf::MAX_BYTES {
            return Err("stream node too large");
        }
        out[0..4].copy_from_slice(&(deleted as u32).to_le_bytes());
        out[4..8].copy_from_slice(&(lp_base as u32).to_le_bytes());
        out[8..12].copy_from_slice(&(entries_at as u32).to_le_bytes());
        node.buf = PackBuf::from_bytes(&out, live);
        let (Some(first), Some(last)) = (first, last) else {
            return Err("stream node without entries");
        };
        Ok((node, first, last))
    }
}

/// A listpack element as a value to store (an integer too big for the compact form is
/// written as its decimal string by `W::value`).
fn to_value<'a>(e: &Elem<'a>) -> Value<'a> {
    match *e {
        Elem::Int(n) => Value::Int(n),
        Elem::Str(s) => Value::classify(s),
    }
}

fn push_value(w: &mut ListpackWriter, v: Value<'_>) {
    match v {
        Value::Int(n) => w.push_int(n),
        Value::Bytes(b) => w.push(b),
    }
}

fn put_var_vec(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_value_vec(out: &mut Vec<u8>, v: Value<'_>) {
    let at = out.len();
    let size = value_size(v);
    out.resize(at + size, 0);
    W {
        buf: &mut out[at..],
        pos: 0,
    }
    .value(v);
}

/// The field-value pairs of one entry.
#[derive(Clone)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    same: bool,
    /// Next master field (with SAMEFIELDS).
    master_at: usize,
    /// Next field or value.
    at: usize,
    left: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Value<'a>, Value<'a>);

    fn next(&mut self) -> Option<(Value<'a>, Value<'a>)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = if self.same {
            let (f, next) = get_value(self.bytes, self.master_at);
            self.master_at = next;
            f
        } else {
            let (f, next) = get_value(self.bytes, self.at);
            self.at = next;
            f
        };
        let (v, next) = get_value(self.bytes, self.at);
        self.at = next;
        Some((field, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Fields<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    type Decoded = Vec<(StreamId, u8, Vec<(Vec<u8>, Vec<u8>)>)>;

    fn collect(node: &Node, master: StreamId) -> Decoded {
        let mut out = Vec::new();
        let mut at = node.entries_at();
        while at < node.end() {
            let r = node.decode(master, at);
            let f = node
                .fields(&r)
                .map(|(a, b)| (a.to_vec(), b.to_vec()))
                .collect();
            out.push((r.id, r.flags, f));
            at = r.end;
        }
        out
    }

    #[test]
    fn values_classify_and_format() {
        assert_eq!(Value::classify(b"12"), Value::Int(12));
        assert_eq!(Value::classify(b"-7"), Value::Int(-7));
        assert_eq!(Value::classify(b"012"), Value::Bytes(b"012"));
        assert_eq!(Value::classify(b"abc"), Value::Bytes(b"abc"));
        // Too big for the compact form: kept as bytes (still an integer to a listpack).
        let big = i64::MAX.to_string();
        assert_eq!(
            Value::classify(big.as_bytes()),
            Value::Bytes(big.as_bytes())
        );
        assert_eq!(lp_value_size(Value::Bytes(big.as_bytes())), 10);
        let mut buf = [0u8; 20];
        assert_eq!(
            Value::Int(i64::MIN).as_bytes(&mut buf),
            b"-9223372036854775808"
        );
        assert!(Value::Int(-15).eq_bytes(b"-15"));
        assert_eq!(Value::Int(-15).len(), 3);
        for n in [
            0i64,
            1,
            -1,
            63,
            -64,
            1 << 40,
            -(1 << 61),
            (1 << 62) - 1,
            -(1 << 62),
        ] {
            assert!(fits_int(n), "{n}");
            assert_eq!(unzigzag(zigzag(n)), n);
        }
        assert!(!fits_int(1 << 62));
    }

    #[test]
    fn entries_round_trip_forward_backward_and_through_listpacks() {
        let master = StreamId::new(1000, 5);
        let a = pairs(&["name", "alice", "age", "30"]);
        let mut node = Node::create(&a[..]);
        let b = pairs(&["name", "bob", "age", "-4"]);
        node.append(master, StreamId::new(1000, 6), &b[..]);
        let c = pairs(&["other", &"x".repeat(300)]);
        node.append(master, StreamId::new(1003, 0), &c[..]);
        let d = pairs(&["name", "9223372036854775807", "age", "0"]);
        node.append(master, StreamId::new(u64::MAX, u64::MAX), &d[..]);
        assert_eq!(node.live(), 4);
        let got = collect(&node, master);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, master);
        assert_eq!(got[1].1, FLAG_SAMEFIELDS);
        assert_eq!(got[2].1, 0);
        assert_eq!(got[2].2[0].1.len(), 300);
        assert_eq!(got[3].0, StreamId::MAX);
        assert_eq!(got[3].2[0].1, b"9223372036854775807");
        // Backward walk finds the same entries.
        let mut back = Vec::new();
        let mut end = node.end();
        while let Some(at) = node.prev_start(end) {
            back.push(node.decode(master, at).id);
            end = at;
        }
        back.reverse();
        assert_eq!(back, got.iter().map(|e| e.0).collect::<Vec<_>>());
        // Deleting flags in place.
        let second = node.decode(master, node.decode(master, node.entries_at()).end);
        node.mark_deleted(second.at);
        assert_eq!((node.live(), node.deleted()), (3, 1));
        // The listpack form has the size we tracked, and converts back identically.
        let lp = node.to_listpack(master);
        assert_eq!(lp.len(), node.lp_bytes());
        let (back, first, last) = Node::from_listpack(master, &lp).unwrap();
        assert_eq!((first, last), (master, StreamId::MAX));
        assert_eq!(collect(&back, master), collect(&node, master));
        assert_eq!(back.to_listpack(master), lp);
        assert_eq!(back.lp_bytes(), node.lp_bytes());
    }

    #[test]
    fn listpack_layout_matches_redis() {
        // XADD s 5-1 f v ; XADD s 5-2 f 7 ; XADD s 6-0 g w: the listpack Redis builds.
        let master = StreamId::new(5, 1);
        let mut node = Node::create(&pairs(&["f", "v"])[..]);
        node.append(master, StreamId::new(5, 2), &pairs(&["f", "7"])[..]);
        node.append(master, StreamId::new(6, 0), &pairs(&["g", "w"])[..]);
        let mut w = ListpackWriter::new();
        for i in [3, 0, 1] {
            w.push_int(i);
        }
        w.push(b"f");
        w.push_int(0);
        for i in [2, 0, 0] {
            w.push_int(i);
        }
        w.push(b"v");
        w.push_int(4);
        for i in [2, 0, 1] {
            w.push_int(i);
        }
        w.push_int(7);
        w.push_int(4);
        for i in [0, 1, -1, 1] {
            w.push_int(i);
        }
        w.push(b"g");
        w.push(b"w");
        w.push_int(6);
        assert_eq!(node.to_listpack(master), w.finish());
    }

    #[test]
    fn malformed_listpacks_are_refused() {
        let master = StreamId::new(5, 1);
        let mut node = Node::create(&pairs(&["f", "v"])[..]);
        node.append(master, StreamId::new(5, 2), &pairs(&["f", "w"])[..]);
        let good = node.to_listpack(master);
        assert!(Node::from_listpack(master, &good).is_ok());
        // Any truncation, and any single corrupted byte, is an error or a valid node: never
        // a panic.
        for cut in 0..good.len() {
            assert!(Node::from_listpack(master, &good[..cut]).is_err());
        }
        for i in 0..good.len() {
            for x in [1u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= x;
                let _ = Node::from_listpack(master, &bad);
            }
        }
        // An entry below the master ID (deltas are signed), or entries out of order.
        let mut w = ListpackWriter::new();
        for i in [1, 0, 1] {
            w.push_int(i);
        }
        w.push(b"f");
        w.push_int(0);
        for i in [2, 0, -1, 7, 4] {
            w.push_int(i);
        }
        assert_eq!(
            Node::from_listpack(master, &w.finish()).unwrap_err(),
            "stream entry IDs out of order"
        );
        let mut w = ListpackWriter::new();
        for i in [2, 0, 1] {
            w.push_int(i);
        }
        w.push(b"f");
        w.push_int(0);
        for i in [2, 0, 1, 7, 4, 2, 0, 0, 8, 4] {
            w.push_int(i);
        }
        assert_eq!(
            Node::from_listpack(master, &w.finish()).unwrap_err(),
            "stream entry IDs out of order"
        );
        // Counters that do not match the entries.
        let mut w = ListpackWriter::new();
        for i in [2, 0, 1] {
            w.push_int(i);
        }
        w.push(b"f");
        w.push_int(0);
        for i in [2, 0, 0, 7, 4] {
            w.push_int(i);
        }
        assert!(Node::from_listpack(master, &w.finish()).is_err());
        // Wrong lp-count.
        let mut w = ListpackWriter::new();
        for i in [1, 0, 1] {
            w.push_int(i);
        }
        w.push(b"f");
        w.push_int(0);
        for i in [2, 0, 0, 7, 5] {
            w.push_int(i);
        }
        assert_eq!(
            Node::from_listpack(master, &w.finish()).unwrap_err(),
            "bad entry lp-count"
        );
    }
}
