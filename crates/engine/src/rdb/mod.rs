//! Redis's RDB format (version 11, as Redis 7.2 writes it): the snapshot file and the DUMP
//! payload. Pure encoding and decoding over `std::io::Write` / `std::io::Read`; files,
//! scheduling and the keyspace walk belong to the server.
//!
//! - [`Writer`] writes a file: header, aux fields, per-database sections, EOF and CRC64.
//!   Values use the encodings Redis would pick for them (integer-encoded and LZF strings,
//!   quicklist of listpacks, intset, listpack sets/hashes/zsets, binary zset scores), so
//!   redis-check-rdb and redis-server accept the result.
//! - [`Reader`] reads any file Redis 2.x-7.4 writes for the types Cinnabar holds, including
//!   the old ziplist/zipmap encodings and the three stream types, and reports each key
//!   through a callback (streams: see `types::stream::rdb`).
//! - [`dump`] / [`restore`]: the DUMP/RESTORE payload (value + version + CRC64).

pub mod crc64;
pub mod lzf;
pub mod packed;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::entry::{Entry, ValueRef};
use crate::object::Object;
use crate::types::{hash, list, set, stream, zset};
use packed::{Elem, ListpackWriter};

/// The RDB version we write (Redis 7.2).
pub const RDB_VERSION: u16 = 11;
/// The newest version we read (Redis 7.4 adds hash field expiry types).
pub const RDB_MAX_READ_VERSION: u16 = 12;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;
pub const TYPE_HASH_METADATA_PRE_GA: u8 = 22;
pub const TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const TYPE_HASH_METADATA: u8 = 24;
pub const TYPE_HASH_LISTPACK_EX: u8 = 25;

const OP_SLOT_INFO: u8 = 244;
const OP_FUNCTION2: u8 = 245;
const OP_FUNCTION_PRE_GA: u8 = 246;
const OP_MODULE_AUX: u8 = 247;
const OP_IDLE: u8 = 248;
const OP_FREQ: u8 = 249;
const OP_AUX: u8 = 250;
const OP_RESIZEDB: u8 = 251;
const OP_EXPIRETIME_MS: u8 = 252;
const OP_EXPIRETIME: u8 = 253;
const OP_SELECTDB: u8 = 254;
const OP_EOF: u8 = 255;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// The configuration that decides encodings: Redis's *-max-listpack-* / intset settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub list: list::Limit,
    /// `list-max-listpack-size` as configured (quicklist node size when writing).
    pub list_fill: i64,
    pub set: set::Limits,
    pub hash: hash::Limits,
    pub zset: zset::Limits,
}

/// Why a file or payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Malformed data, with the byte offset where reading stopped.
    #[error("{msg} (at offset {offset})")]
    Corrupt { msg: String, offset: u64 },
    /// Valid data of a kind Cinnabar does not hold (module values).
    #[error("{0}")]
    Unsupported(String),
}

/// A value read from RDB data.
#[derive(Debug)]
pub enum Loaded {
    Str(Vec<u8>),
    Obj(Object),
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Options of a save.
#[derive(Clone, Copy, Debug)]
pub struct SaveOpts {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it pays.
    pub compress: bool,
    /// `rdbchecksum`: write the CRC64 trailer (else 0, which readers skip).
    pub checksum: bool,
    /// `list-max-listpack-size`, to cut lists into quicklist nodes as Redis would.
    pub list_fill: i64,
}

impl Default for SaveOpts {
    fn default() -> Self {
        SaveOpts {
            compress: true,
            checksum: true,
            list_fill: -2,
        }
    }
}

pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An integer in the special int8/16/32 string encoding, if it fits.
fn put_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
        out.push(0xc0 | ENC_INT8);
        out.push(v as i8 as u8);
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        out.push(0xc0 | ENC_INT16);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out.push(0xc0 | ENC_INT32);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// A string as rdbSaveRawString writes it: integer-encoded when it is a short canonical
/// integer, LZF-compressed when longer than 20 bytes and it saves space, else raw.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::num::parse_i64(s) {
            if put_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn put_int_string(out: &mut Vec<u8>, v: i64) {
    if !put_int_encoded(out, v) {
        let mut b = itoa::Buffer::new();
        let s = b.format(v).as_bytes();
        put_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// Node limits of `list-max-listpack-size`, as Redis's quicklist applies them.
fn node_full(fill: i64, bytes: usize, count: usize) -> bool {
    const SIZES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    if fill >= 0 {
        count >= fill.max(1) as usize || bytes >= 8192
    } else {
        let level = ((-(fill + 1)) as usize).min(SIZES.len() - 1);
        bytes >= SIZES[level]
    }
}

/// Appends the type byte and serialised value. `now` drops hash fields already expired.
pub fn put_value(out: &mut Vec<u8>, v: ValueRef<'_>, opts: &SaveOpts, now: i64) {
    match v {
        ValueRef::Str(s) => {
            out.push(TYPE_STRING);
            put_string(out, s, opts.compress);
        }
        ValueRef::Int(n) => {
            out.push(TYPE_STRING);
            put_int_string(out, n);
        }
        ValueRef::Obj(o) => put_object(out, o, opts, now),
    }
}

fn put_object(out: &mut Vec<u8>, o: &Object, opts: &SaveOpts, now: i64) {
    match o {
        Object::Str(s) => {
            out.push(TYPE_STRING);
            put_string(out, s, opts.compress);
        }
        Object::List(l) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            // A listpack-encoded list is one node; a quicklist is cut as Redis fills nodes.
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut w = ListpackWriter::new();
            let one_node = l.encoding() == "listpack";
            for e in l.iter() {
                if !one_node
                    && w.count() > 0
                    && node_full(opts.list_fill, w.bytes() + e.len(), w.count())
                {
                    nodes.push(std::mem::take(&mut w).finish());
                }
                w.push(e);
            }
            if w.count() > 0 {
                nodes.push(w.finish());
            }
            put_len(out, nodes.len() as u64);
            for n in nodes {
                put_len(out, QUICKLIST_NODE_PACKED);
                put_string(out, &n, opts.compress);
            }
        }
        Object::Set(s) => match s.encoding() {
            "intset" => {
                out.push(TYPE_SET_INTSET);
                let mut vals: Vec<i64> = s
                    .iter()
                    .map(|m| match m {
                        set::Member::Int(i) => i,
                        set::Member::Str(b) => crate::num::parse_i64(b).unwrap_or(0),
                    })
                    .collect();
                vals.sort_unstable();
                put_string(out, &packed::intset_blob(&vals), opts.compress);
            }
            "listpack" => {
                out.push(TYPE_SET_LISTPACK);
                let mut w = ListpackWriter::new();
                for m in s.iter() {
                    match m {
                        set::Member::Int(i) => w.push_int(i),
                        set::Member::Str(b) => w.push(b),
                    }
                }
                put_string(out, &w.finish(), opts.compress);
            }
            _ => {
                out.push(TYPE_SET);
                put_len(out, s.len() as u64);
                for m in s.iter() {
                    match m {
                        set::Member::Int(i) => put_int_string(out, i),
                        set::Member::Str(b) => put_string(out, b, opts.compress),
                    }
                }
            }
        },
        Object::Hash(h) => put_hash(out, h, opts, now),
        Object::Stream(s) => {
            out.push(TYPE_STREAM_LISTPACKS_3);
            stream::rdb::save(out, s, opts.compress);
        }
        Object::ZSet(z) => {
            if z.encoding() == "listpack" {
                out.push(TYPE_ZSET_LISTPACK);
                let mut w = ListpackWriter::new();
                let mut num = Vec::with_capacity(32);
                z.for_each(|m, score| {
                    w.push(m);
                    num.clear();
                    crate::num::format_double(score, &mut num);
                    w.push(&num);
                });
                put_string(out, &w.finish(), opts.compress);
            } else {
                out.push(TYPE_ZSET_2);
                put_len(out, z.len() as u64);
                // Highest first, as Redis writes them (its loader then inserts at the head).
                for (m, score) in z.to_vec().into_iter().rev() {
                    put_string(out, &m, opts.compress);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            }
        }
    }
}

/// A hash: listpack or hashtable as Redis 7.2 writes them; a hash with field deadlines uses
/// Redis 7.4's RDB_TYPE_HASH_METADATA so that the deadlines survive (Redis 7.2 has no such
/// fields, so it can never meet this type in a file of ours unless the feature was used).
fn put_hash(out: &mut Vec<u8>, h: &hash::Hash, opts: &SaveOpts, now: i64) {
    let live = |f: &[u8]| -> (bool, Option<i64>) {
        match h.field_expire(f).flatten() {
            Some(t) if t <= now => (false, None),
            t => (true, t),
        }
    };
    if h.has_field_ttls() {
        let fields: Vec<(hash::PairRef, Option<i64>)> = h
            .iter()
            .filter_map(|(f, v)| {
                let (ok, t) = live(&f);
                ok.then_some(((f, v), t))
            })
            .collect();
        let min = fields.iter().filter_map(|x| x.1).min();
        if let Some(min) = min {
            out.push(TYPE_HASH_METADATA);
            out.extend_from_slice(&(min as u64).to_le_bytes());
            put_len(out, fields.len() as u64);
            for ((f, v), t) in fields {
                put_len(out, t.map_or(0, |t| (t - min) as u64 + 1));
                put_string(out, &f, opts.compress);
                put_string(out, v, opts.compress);
            }
            return;
        }
    }
    if h.encoding() == "listpack" {
        out.push(TYPE_HASH_LISTPACK);
        let mut w = ListpackWriter::new();
        h.for_each(|f, v| {
            if live(f).0 {
                w.push(f);
                w.push(v);
            }
        });
        put_string(out, &w.finish(), opts.compress);
    } else {
        out.push(TYPE_HASH);
        let n = h.iter().filter(|(f, _)| live(f).0).count();
        put_len(out, n as u64);
        h.for_each(|f, v| {
            if live(f).0 {
                put_string(out, f, opts.compress);
                put_string(out, v, opts.compress);
            }
        });
    }
}

/// Writes an RDB file to `W`, checksumming as it goes. Output is buffered here; call
/// [`Writer::finish`] to write the trailer and get `W` back.
pub struct Writer<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: u64,
    opts: SaveOpts,
    written: u64,
}

const FLUSH_AT: usize = 1 << 16;

impl<W: Write> Writer<W> {
    /// Starts a file: writes the `REDIS0011` magic.
    pub fn new(out: W, opts: SaveOpts) -> io::Result<Writer<W>> {
        let mut w = Writer {
            out,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            crc: 0,
            opts,
            written: 0,
        };
        w.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        Ok(w)
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.opts.checksum {
            self.crc = crc64::crc64(self.crc, &self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// An aux field (redis-ver, ctime, ...), value as a string.
    pub fn aux(&mut self, key: &[u8], val: &[u8]) -> io::Result<()> {
        self.buf.push(OP_AUX);
        put_string(&mut self.buf, key, false);
        put_string(&mut self.buf, val, false);
        self.maybe_flush()
    }

    /// A function library's code (FUNCTION2 opcode), written before the databases.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(OP_FUNCTION2);
        put_string(&mut self.buf, code, false);
        self.maybe_flush()
    }

    /// An aux field with an integer value (written integer-encoded, as Redis does).
    pub fn aux_int(&mut self, key: &[u8], val: i64) -> io::Result<()> {
        self.buf.push(OP_AUX);
        put_string(&mut self.buf, key, false);
        put_int_string(&mut self.buf, val);
        self.maybe_flush()
    }

    /// Starts a section of database `db` with a size hint. Sections may repeat a database
    /// (one per shard); readers just switch the current database.
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(OP_RESIZEDB);
        put_len(&mut self.buf, keys as u64);
        put_len(&mut self.buf, expires as u64);
        self.maybe_flush()
    }

    /// One key with its value and deadline. A key past its deadline but not yet deleted is
    /// written too, as Redis's rdbSaveKeyValuePair does: a primary loading the file drops
    /// it and propagates its DEL. Returns true (a key was written).
    pub fn entry(&mut self, e: &Entry, now: i64) -> io::Result<bool> {
        let expire = e.expire();
        self.key_value(e.key(), e.value(), expire, now)?;
        Ok(true)
    }

    /// One key from its parts.
    pub fn key_value(
        &mut self,
        key: &[u8],
        v: ValueRef<'_>,
        expire: Option<i64>,
        now: i64,
    ) -> io::Result<()> {
        if let Some(t) = expire {
            self.buf.push(OP_EXPIRETIME_MS);
            self.buf.extend_from_slice(&t.to_le_bytes());
        }
        // Type byte first, then key, then value: put_value writes type+value together, so
        // the type byte is moved in front of the key afterwards.
        let type_at = self.buf.len();
        self.buf.push(0);
        put_string(&mut self.buf, key, self.opts.compress);
        let value_at = self.buf.len();
        put_value(&mut self.buf, v, &self.opts, now);
        self.buf[type_at] = self.buf[value_at];
        self.buf.remove(value_at);
        self.maybe_flush()
    }

    /// Appends already serialised bytes (a section prepared by another thread).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        self.maybe_flush()
    }

    /// Bytes written so far (including the buffer).
    pub fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes EOF and the checksum, flushes, and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OP_EOF);
        if self.opts.checksum {
            self.crc = crc64::crc64(self.crc, &self.buf);
        }
        let crc = if self.opts.checksum { self.crc } else { 0 };
        self.out.write_all(&self.buf)?;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Serialises one key (deadline opcode, type, key, value) into `out`, as [`Writer::entry`]
/// would: used to prepare a shard's section off the writer thread.
pub fn put_entry(out: &mut Vec<u8>, e: &Entry, opts: &SaveOpts, now: i64) -> bool {
    let expire = e.expire();
    if let Some(t) = expire {
        out.push(OP_EXPIRETIME_MS);
        out.extend_from_slice(&t.to_le_bytes());
    }
    let type_at = out.len();
    out.push(0);
    put_string(out, e.key(), opts.compress);
    let value_at = out.len();
    put_value(out, e.value(), opts, now);
    out[type_at] = out[value_at];
    out.remove(value_at);
    true
}

/// The section header of [`Writer::select_db`], into a buffer.
pub fn put_select_db(out: &mut Vec<u8>, db: usize, keys: usize, expires: usize) {
    out.push(OP_SELECTDB);
    put_len(out, db as u64);
    out.push(OP_RESIZEDB);
    put_len(out, keys as u64);
    put_len(out, expires as u64);
}

/// The DUMP payload of a value: type, value, RDB version (2 bytes LE), CRC64 (8 bytes LE).
pub fn dump(v: ValueRef<'_>, opts: &SaveOpts, now: i64) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, v, opts, now);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The FUNCTION DUMP payload of some libraries' code: one function opcode and string per
/// library, then the RDB version (2 bytes LE) and CRC64 (8 bytes LE), as Redis writes it.
pub fn dump_functions(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OP_FUNCTION2);
        put_string(&mut out, code, false);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads a FUNCTION DUMP payload back into the libraries' code. `Footer` when the version
/// or checksum is wrong, `Format` when the body is not a list of function opcodes.
pub fn restore_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap());
    if ver > RDB_MAX_READ_VERSION || crc64::crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(RestoreError::Footer);
    }
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while r.pos != r.end || !r.inner.is_empty() {
        if r.byte().map_err(|_| RestoreError::Format)? != OP_FUNCTION2 {
            return Err(RestoreError::Format);
        }
        codes.push(r.string().map_err(|_| RestoreError::Format)?);
    }
    Ok(codes)
}

/// Checks a DUMP payload's footer (version and CRC64) and decodes its value. `Ok(None)` is
/// never returned for valid payloads of non-empty values; an empty collection is an error.
pub fn restore(payload: &[u8], lim: &Limits) -> Result<Loaded, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > RDB_MAX_READ_VERSION {
        return Err(RestoreError::Footer);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap());
    if crc64::crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(RestoreError::Footer);
    }
    let mut r = Reader::new(body);
    let t = r.byte().map_err(|_| RestoreError::Format)?;
    let v = r.value(t, lim).map_err(|_| RestoreError::Format)?;
    if r.pos != r.end || !r.inner.is_empty() {
        return Err(RestoreError::Format);
    }
    v.ok_or(RestoreError::Format)
}

/// Why RESTORE refused a payload (mapped to Redis's two error replies).
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// "ERR DUMP payload version or checksum are wrong"
    Footer,
    /// "ERR Bad data format"
    Format,
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// What a file holds besides keys.
#[derive(Debug)]
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    /// A function library (FUNCTION2 opcode): its source code.
    Function(Vec<u8>),
    /// A key whose deadline had passed at `now`: not loaded (a primary propagates its DEL).
    Expired {
        db: usize,
        key: Vec<u8>,
    },
    Key {
        db: usize,
        key: Vec<u8>,
        value: Loaded,
        expire: Option<i64>,
        /// OBJECT IDLETIME at save time, in seconds (LRU policies).
        idle: Option<u64>,
        /// LFU counter (LFU policies).
        freq: Option<u8>,
    },
}

/// Reads RDB data from `R`, checksumming what it consumes.
pub struct Reader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    crc: u64,
    crc_from: usize,
    /// File offset of buf[0].
    base: u64,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            buf: vec![0; 1 << 16],
            pos: 0,
            end: 0,
            crc: 0,
            crc_from: 0,
            base: 0,
        }
    }

    /// Byte offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// How many bytes were read from the input ahead of what was consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// The input, positioned after the bytes read ahead (see `buffered`).
    pub fn into_inner(self) -> R {
        self.inner
    }

    pub(crate) fn corrupt<T>(&self, msg: impl Into<String>) -> Result<T, RdbError> {
        Err(RdbError::Corrupt {
            msg: msg.into(),
            offset: self.offset(),
        })
    }

    /// Makes at least `n` bytes available at `pos` (fewer only at end of input).
    fn fill(&mut self, n: usize) -> Result<(), RdbError> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.crc = crc64::crc64(self.crc, &self.buf[self.crc_from..self.pos]);
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.base += self.pos as u64;
        self.pos = 0;
        self.crc_from = 0;
        if self.buf.len() < n {
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n {
            let got = self.inner.read(&mut self.buf[self.end..])?;
            if got == 0 {
                return self.corrupt("unexpected end of file");
            }
            self.end += got;
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        self.fill(1)?;
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&[u8], RdbError> {
        self.fill(n)?;
        self.pos += n;
        Ok(&self.buf[self.pos - n..self.pos])
    }

    /// The CRC of everything consumed so far.
    fn crc_now(&mut self) -> u64 {
        self.crc = crc64::crc64(self.crc, &self.buf[self.crc_from..self.pos]);
        self.crc_from = self.pos;
        self.crc
    }

    /// A length, or (with `true`) a special string encoding number.
    fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => ((b & 0x3f) as u64, false),
            1 => ((((b & 0x3f) as u64) << 8) | self.byte()? as u64, false),
            2 => match b {
                0x80 => (
                    u32::from_be_bytes(self.bytes(4)?.try_into().unwrap()) as u64,
                    false,
                ),
                0x81 => (
                    u64::from_be_bytes(self.bytes(8)?.try_into().unwrap()),
                    false,
                ),
                _ => return self.corrupt(format!("unknown length encoding {b:#x}")),
            },
            _ => ((b & 0x3f) as u64, true),
        })
    }

    pub(crate) fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            _ => self.corrupt("unexpected string encoding where a length was expected"),
        }
    }

    /// A length that sizes an allocation: bounded so corrupt data cannot ask for terabytes.
    pub(crate) fn count(&mut self) -> Result<usize, RdbError> {
        let n = self.len()?;
        if n > (1 << 40) {
            return self.corrupt("length out of range");
        }
        Ok(n as usize)
    }

    pub(crate) fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let (n, enc) = self.len_or_enc()?;
        if !enc {
            if n > (1 << 40) {
                return self.corrupt("string length out of range");
            }
            let n = n as usize;
            let mut v = Vec::with_capacity(n.min(1 << 24));
            let mut left = n;
            while left > 0 {
                let chunk = left.min(1 << 16);
                let b = self.bytes(chunk)?;
                v.extend_from_slice(b);
                left -= chunk;
            }
            return Ok(v);
        }
        let int = |v: i64| itoa::Buffer::new().format(v).as_bytes().to_vec();
        match n as u8 {
            ENC_INT8 => Ok(int(self.byte()? as i8 as i64)),
            ENC_INT16 => Ok(int(
                i16::from_le_bytes(self.bytes(2)?.try_into().unwrap()) as i64
            )),
            ENC_INT32 => Ok(int(
                i32::from_le_bytes(self.bytes(4)?.try_into().unwrap()) as i64
            )),
            ENC_LZF => {
                let clen = self.count()?;
                let len = self.count()?;
                let mut c = Vec::with_capacity(clen.min(1 << 24));
                let mut left = clen;
                while left > 0 {
                    let chunk = left.min(1 << 16);
                    c.extend_from_slice(self.bytes(chunk)?);
                    left -= chunk;
                }
                match lzf::decompress(&c, len) {
                    Some(v) => Ok(v),
                    None => self.corrupt("invalid LZF compressed string"),
                }
            }
            e => self.corrupt(format!("unknown string encoding {e}")),
        }
    }

    /// An old-style (RDB_TYPE_ZSET) score: length-prefixed text, or 253/254/255 for
    /// nan/+inf/-inf.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let n = self.byte()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let b = self.bytes(n as usize)?.to_vec();
                match std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()) {
                    Some(v) => Ok(v),
                    None => self.corrupt("invalid zset score"),
                }
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
    }

    /// Reads a value of type `t`. `Ok(None)` for an empty collection, which Redis skips.
    pub fn value(&mut self, t: u8, lim: &Limits) -> Result<Option<Loaded>, RdbError> {
        let obj = match t {
            TYPE_STRING => return Ok(Some(Loaded::Str(self.string()?))),
            TYPE_LIST => {
                let n = self.count()?;
                let mut elems = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    elems.push(self.string()?);
                }
                Object::List(list::List::from_elems(
                    elems.iter().map(|e| &e[..]),
                    lim.list,
                ))
            }
            TYPE_SET => {
                let n = self.count()?;
                let mut members = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    members.push(self.string()?);
                }
                self.build_set(members.iter().map(|m| &m[..]), n, lim)?
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    let m = self.string()?;
                    let s = if t == TYPE_ZSET {
                        self.text_double()?
                    } else {
                        self.binary_double()?
                    };
                    if s.is_nan() {
                        return self.corrupt("zset score is NaN");
                    }
                    items.push((m, s));
                }
                self.build_zset(items, lim)?
            }
            TYPE_HASH => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    pairs.push((f, v, None));
                }
                self.build_hash(pairs, lim)?
            }
            TYPE_HASH_METADATA | TYPE_HASH_METADATA_PRE_GA => {
                let min = if t == TYPE_HASH_METADATA {
                    Some(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
                } else {
                    None
                };
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    let ttl = self.len()?;
                    let at = match (ttl, min) {
                        (0, _) => None,
                        (t, Some(m)) => Some((t + m - 1) as i64),
                        (t, None) => Some(t as i64),
                    };
                    let f = self.string()?;
                    let v = self.string()?;
                    pairs.push((f, v, at));
                }
                self.build_hash(pairs, lim)?
            }
            TYPE_HASH_LISTPACK_EX | TYPE_HASH_LISTPACK_EX_PRE_GA => {
                if t == TYPE_HASH_LISTPACK_EX {
                    self.bytes(8)?;
                }
                let blob = self.string()?;
                let Some(elems) = packed::listpack_elems(&blob) else {
                    return self.corrupt("invalid listpack");
                };
                if elems.len() % 3 != 0 {
                    return self.corrupt("hash listpack with TTLs has a bad length");
                }
                let mut pairs = Vec::with_capacity(elems.len() / 3);
                for c in elems.chunks_exact(3) {
                    let at = match c[2] {
                        Elem::Int(0) => None,
                        Elem::Int(t) => Some(t),
                        Elem::Str(_) => return self.corrupt("hash field TTL is not an integer"),
                    };
                    pairs.push((c[0].to_vec(), c[1].to_vec(), at));
                }
                self.build_hash(pairs, lim)?
            }
            TYPE_HASH_ZIPMAP => {
                let blob = self.string()?;
                let Some(pairs) = packed::zipmap_pairs(&blob) else {
                    return self.corrupt("invalid zipmap");
                };
                let pairs = pairs
                    .into_iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec(), None))
                    .collect();
                self.build_hash(pairs, lim)?
            }
            TYPE_LIST_ZIPLIST => {
                let blob = self.string()?;
                let Some(elems) = packed::ziplist_elems(&blob) else {
                    return self.corrupt("invalid ziplist");
                };
                let elems: Vec<Vec<u8>> = elems.iter().map(|e| e.to_vec()).collect();
                Object::List(list::List::from_elems(
                    elems.iter().map(|e| &e[..]),
                    lim.list,
                ))
            }
            TYPE_SET_INTSET => {
                let blob = self.string()?;
                let Some(vals) = packed::intset_values(&blob) else {
                    return self.corrupt("invalid intset");
                };
                let members: Vec<Vec<u8>> = vals
                    .iter()
                    .map(|v| itoa::Buffer::new().format(*v).as_bytes().to_vec())
                    .collect();
                self.build_set(members.iter().map(|m| &m[..]), members.len(), lim)?
            }
            TYPE_SET_LISTPACK => {
                let blob = self.string()?;
                let Some(elems) = packed::listpack_elems(&blob) else {
                    return self.corrupt("invalid listpack");
                };
                let members: Vec<Vec<u8>> = elems.iter().map(|e| e.to_vec()).collect();
                self.build_set(members.iter().map(|m| &m[..]), members.len(), lim)?
            }
            TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
                let blob = self.string()?;
                let elems = if t == TYPE_ZSET_ZIPLIST {
                    packed::ziplist_elems(&blob)
                } else {
                    packed::listpack_elems(&blob)
                };
                let Some(elems) = elems else {
                    return self.corrupt("invalid zset listpack/ziplist");
                };
                if elems.len() % 2 != 0 {
                    return self.corrupt("zset listpack with an odd number of elements");
                }
                let mut items = Vec::with_capacity(elems.len() / 2);
                for c in elems.chunks_exact(2) {
                    let s = match c[1] {
                        Elem::Int(i) => i as f64,
                        Elem::Str(s) => match crate::num::parse_f64(s) {
                            Some(v) if !v.is_nan() => v,
                            _ => return self.corrupt("invalid zset score"),
                        },
                    };
                    items.push((c[0].to_vec(), s));
                }
                self.build_zset(items, lim)?
            }
            TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
                let blob = self.string()?;
                let elems = if t == TYPE_HASH_ZIPLIST {
                    packed::ziplist_elems(&blob)
                } else {
                    packed::listpack_elems(&blob)
                };
                let Some(elems) = elems else {
                    return self.corrupt("invalid hash listpack/ziplist");
                };
                if elems.len() % 2 != 0 {
                    return self.corrupt("hash listpack with an odd number of elements");
                }
                let pairs = elems
                    .chunks_exact(2)
                    .map(|c| (c[0].to_vec(), c[1].to_vec(), None))
                    .collect();
                self.build_hash(pairs, lim)?
            }
            TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut elems: Vec<Vec<u8>> = Vec::new();
                for _ in 0..nodes {
                    let container = if t == TYPE_LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        QUICKLIST_NODE_PACKED
                    };
                    let blob = self.string()?;
                    if container == QUICKLIST_NODE_PLAIN {
                        elems.push(blob);
                        continue;
                    }
                    if container != QUICKLIST_NODE_PACKED {
                        return self.corrupt("unknown quicklist node container");
                    }
                    let parsed = if t == TYPE_LIST_QUICKLIST {
                        packed::ziplist_elems(&blob)
                    } else {
                        packed::listpack_elems(&blob)
                    };
                    let Some(parsed) = parsed else {
                        return self.corrupt("invalid quicklist node");
                    };
                    elems.extend(parsed.iter().map(|e| e.to_vec()));
                }
                Object::List(list::List::from_elems(
                    elems.iter().map(|e| &e[..]),
                    lim.list,
                ))
            }
            TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
                // An empty stream is a value (XGROUP CREATE MKSTREAM makes one): kept.
                return Ok(Some(Loaded::Obj(Object::Stream(Box::new(
                    stream::rdb::load(self, t)?,
                )))));
            }
            TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => {
                return Err(RdbError::Unsupported(
                    "the file holds a module value; Cinnabar has no modules".into(),
                ))
            }
            _ => return self.corrupt(format!("unknown object type {t}")),
        };
        let empty = match &obj {
            Object::List(l) => l.is_empty(),
            Object::Set(s) => s.is_empty(),
            Object::Hash(h) => h.is_empty(),
            Object::ZSet(z) => z.is_empty(),
            Object::Str(_) | Object::Stream(_) => false,
        };
        Ok((!empty).then_some(Loaded::Obj(obj)))
    }

    fn build_set<'b>(
        &self,
        members: impl Iterator<Item = &'b [u8]>,
        n: usize,
        lim: &Limits,
    ) -> Result<Object, RdbError> {
        let mut members = members.peekable();
        let Some(first) = members.peek() else {
            return Ok(Object::Set(set::Set::default()));
        };
        let mut s = set::Set::with_hint(first, n, &lim.set);
        for m in members {
            if !s.add(m, &lim.set) {
                return self.corrupt("duplicate set members detected");
            }
        }
        Ok(Object::Set(s))
    }

    fn build_zset(&self, items: Vec<(Vec<u8>, f64)>, lim: &Limits) -> Result<Object, RdbError> {
        let n = items.len();
        let z = zset::ZSet::from_members(items, lim.zset);
        if z.len() != n {
            return self.corrupt("duplicate zset members detected");
        }
        Ok(Object::ZSet(z))
    }

    fn build_hash(
        &self,
        pairs: Vec<(Vec<u8>, Vec<u8>, Option<i64>)>,
        lim: &Limits,
    ) -> Result<Object, RdbError> {
        let mut h = hash::Hash::new();
        if pairs.len() > lim.hash.max_entries {
            h.convert_to_table();
        }
        for (f, v, _) in &pairs {
            if !h.set(f, v, lim.hash) {
                return self.corrupt("duplicate hash fields detected");
            }
        }
        for (f, _, at) in &pairs {
            if let Some(at) = at {
                h.set_field_expire(f, *at, hash::ExpireCond::Always, i64::MIN);
            }
        }
        Ok(Object::Hash(h))
    }

    /// Reads a whole file, calling `f` for every aux field, function and live key (keys
    /// whose deadline is at or before `now` are not loaded but reported as `Expired`, as a
    /// master drops them on load).
    /// `databases` bounds SELECTDB.
    pub fn load(
        &mut self,
        lim: &Limits,
        databases: usize,
        now: i64,
        f: impl FnMut(Item) -> Result<(), RdbError>,
    ) -> Result<(), RdbError> {
        self.load_tracked(lim, databases, now, &AtomicU64::new(0), f)
    }

    /// [`Reader::load`] that also stores in `progress`, before each item is handed on (and
    /// at the end), how many bytes of the input the parser has consumed so far (Redis's
    /// `loading_loaded_bytes`; bytes read ahead are not counted).
    pub fn load_tracked(
        &mut self,
        lim: &Limits,
        databases: usize,
        now: i64,
        progress: &AtomicU64,
        mut f: impl FnMut(Item) -> Result<(), RdbError>,
    ) -> Result<(), RdbError> {
        let mut f = |item: Item, consumed: u64| {
            progress.store(consumed, Ordering::Relaxed);
            f(item)
        };
        let magic = self.bytes(9)?.to_vec();
        if &magic[..5] != b"REDIS" {
            return self.corrupt("wrong signature trying to load DB from file");
        }
        let ver: u16 = match std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(v) if (1..=RDB_MAX_READ_VERSION).contains(&v) => v,
            _ => {
                return self.corrupt(format!(
                    "can't handle RDB format version {}",
                    String::from_utf8_lossy(&magic[5..])
                ))
            }
        };
        let mut db = 0usize;
        let mut expire: Option<i64> = None;
        let mut idle = None;
        let mut freq = None;
        loop {
            let op = self.byte()?;
            match op {
                OP_EXPIRETIME_MS => {
                    expire = Some(i64::from_le_bytes(self.bytes(8)?.try_into().unwrap()));
                    continue;
                }
                OP_EXPIRETIME => {
                    let s = i32::from_le_bytes(self.bytes(4)?.try_into().unwrap());
                    expire = Some(s as i64 * 1000);
                    continue;
                }
                OP_IDLE => {
                    idle = Some(self.len()?);
                    continue;
                }
                OP_FREQ => {
                    freq = Some(self.byte()?);
                    continue;
                }
                OP_SELECTDB => {
                    let n = self.len()?;
                    if n as usize >= databases {
                        return self.corrupt(format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"
                        ));
                    }
                    db = n as usize;
                    continue;
                }
                OP_RESIZEDB => {
                    self.len()?;
                    self.len()?;
                    continue;
                }
                OP_SLOT_INFO => {
                    self.len()?;
                    self.len()?;
                    self.len()?;
                    continue;
                }
                OP_AUX => {
                    let k = self.string()?;
                    let v = self.string()?;
                    f(Item::Aux(k, v), self.offset())?;
                    continue;
                }
                OP_FUNCTION2 => {
                    let code = self.string()?;
                    f(Item::Function(code), self.offset())?;
                    continue;
                }
                OP_FUNCTION_PRE_GA => {
                    return self.corrupt("pre-release function format not supported");
                }
                OP_MODULE_AUX => {
                    return Err(RdbError::Unsupported(
                        "the file holds module data; Cinnabar has no modules".into(),
                    ));
                }
                OP_EOF => {
                    if ver >= 5 {
                        let computed = self.crc_now();
                        let stored = u64::from_le_bytes(self.bytes(8)?.try_into().unwrap());
                        if stored != 0 && stored != computed {
                            return self.corrupt("wrong RDB checksum");
                        }
                    }
                    progress.store(self.offset(), Ordering::Relaxed);
                    return Ok(());
                }
                t => {
                    let key = self.string()?;
                    let value = self.value(t, lim)?;
                    let exp = expire.take();
                    let (i, fr) = (idle.take(), freq.take());
                    if let Some(value) = value {
                        if matches!(exp, Some(at) if at <= now) {
                            f(Item::Expired { db, key }, self.offset())?;
                        } else {
                            f(
                                Item::Key {
                                    db,
                                    key,
                                    value,
                                    expire: exp,
                                    idle: i,
                                    freq: fr,
                                },
                                self.offset(),
                            )?;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
