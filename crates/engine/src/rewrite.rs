//! The command form of a dataset: the commands that recreate each key, as Redis's AOF rewrite
//! writes a base file when `aof-use-rdb-preamble` is off (its rewriteAppendOnlyFileRio).
//!
//! - A string is one SET; a list, set, sorted set or hash is RPUSH, SADD, ZADD or HMSET with
//!   at most [`ITEMS_PER_CMD`] items per command, so that no command is huge.
//! - A hash field with a deadline gets an HPEXPIREAT of its own (Redis 7.4's field TTLs).
//! - A stream is its entries (XADD with their IDs; an empty stream is made with
//!   `XADD key MAXLEN 0 0-1 x y`), then XSETID for its last ID and counters, then each
//!   group (XGROUP CREATE ... ENTRIESREAD), each pending entry as the XCLAIM that gives it
//!   to its consumer with its delivery time and count, and each consumer without pending
//!   entries as XGROUP CREATECONSUMER.
//! - A key with a deadline ends with PEXPIREAT (also one already passed: loading it deletes
//!   the key, as Redis's does).
//!
//! Everything is written as RESP arrays of bulk strings, the AOF's format.

use crate::entry::ValueRef;
use crate::object::Object;
use crate::types::hash::Hash;
use crate::types::set::Member;
use crate::types::stream::{Stream, StreamId};

/// Redis's AOF_REWRITE_ITEMS_PER_CMD: the most elements (or pairs) one command carries.
pub const ITEMS_PER_CMD: usize = 64;

/// `SELECT db`.
pub fn put_select(out: &mut Vec<u8>, db: usize) {
    let mut n = itoa::Buffer::new();
    put_command(out, &[b"SELECT", n.format(db).as_bytes()]);
}

/// `FUNCTION LOAD code`, for one function library.
pub fn put_function_load(out: &mut Vec<u8>, code: &[u8]) {
    put_command(out, &[b"FUNCTION", b"LOAD", code]);
}

/// The commands that recreate `key` with value `v` and deadline `expire` (ms). `now` decides
/// which hash fields have already expired (those are left out).
pub fn put_key(out: &mut Vec<u8>, key: &[u8], v: ValueRef<'_>, expire: Option<i64>, now: i64) {
    match v {
        ValueRef::Str(s) => put_command(out, &[b"SET", key, s]),
        ValueRef::Int(i) => {
            let mut n = itoa::Buffer::new();
            put_command(out, &[b"SET", key, n.format(i).as_bytes()]);
        }
        ValueRef::Obj(o) => put_object(out, key, o, now),
    }
    if let Some(t) = expire {
        let mut n = itoa::Buffer::new();
        put_command(out, &[b"PEXPIREAT", key, n.format(t).as_bytes()]);
    }
}

fn put_object(out: &mut Vec<u8>, key: &[u8], o: &Object, now: i64) {
    match o {
        Object::Str(s) => put_command(out, &[b"SET", key, s]),
        Object::List(l) => {
            let mut b = Batch::new(b"RPUSH", key, 1);
            for e in l.iter() {
                b.item(out, &[e]);
            }
            b.finish(out);
        }
        Object::Set(s) => {
            let mut b = Batch::new(b"SADD", key, 1);
            let mut n = itoa::Buffer::new();
            for m in s.iter() {
                match m {
                    Member::Int(i) => b.item(out, &[n.format(i).as_bytes()]),
                    Member::Str(m) => b.item(out, &[m]),
                }
            }
            b.finish(out);
        }
        Object::ZSet(z) => {
            let mut b = Batch::new(b"ZADD", key, 2);
            let mut score = Vec::with_capacity(32);
            z.for_each(|m, s| {
                score.clear();
                crate::num::format_double(s, &mut score);
                b.item(out, &[&score, m]);
            });
            b.finish(out);
        }
        Object::Hash(h) => put_hash(out, key, h, now),
        Object::Stream(s) => put_stream(out, key, s),
    }
}

fn put_hash(out: &mut Vec<u8>, key: &[u8], h: &Hash, now: i64) {
    let live = |f: &[u8]| !matches!(h.field_expire(f).flatten(), Some(t) if t <= now);
    let mut b = Batch::new(b"HMSET", key, 2);
    h.for_each(|f, v| {
        if live(f) {
            b.item(out, &[f, v]);
        }
    });
    b.finish(out);
    if h.has_field_ttls() {
        let mut n = itoa::Buffer::new();
        h.for_each(|f, _| {
            if let Some(t) = h.field_expire(f).flatten().filter(|&t| t > now) {
                put_command(
                    out,
                    &[
                        b"HPEXPIREAT",
                        key,
                        n.format(t).as_bytes(),
                        b"FIELDS",
                        b"1",
                        f,
                    ],
                );
            }
        });
    }
}

fn put_stream(out: &mut Vec<u8>, key: &[u8], s: &Stream) {
    let mut id = Vec::with_capacity(41);
    if s.is_empty() {
        put_command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    } else {
        for e in s.range(StreamId::MIN, StreamId::MAX) {
            id.clear();
            e.id.write_to(&mut id);
            let pairs = e.to_pairs();
            let mut args: Vec<&[u8]> = vec![b"XADD", key, &id];
            for (f, v) in &pairs {
                args.push(f);
                args.push(v);
            }
            put_command(out, &args);
        }
    }
    let mut n = itoa::Buffer::new();
    let (mut last, mut deleted) = (Vec::new(), Vec::new());
    s.last_id().write_to(&mut last);
    s.max_deleted_id().write_to(&mut deleted);
    put_command(
        out,
        &[
            b"XSETID",
            key,
            &last,
            b"ENTRIESADDED",
            n.format(s.entries_added()).as_bytes(),
            b"MAXDELETEDID",
            &deleted,
        ],
    );
    for (name, g) in s.groups() {
        id.clear();
        g.last_id().write_to(&mut id);
        let read = g.entries_read().unwrap_or(-1);
        put_command(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &id,
                b"ENTRIESREAD",
                n.format(read).as_bytes(),
            ],
        );
        for c in g.consumers() {
            if c.pending_len() == 0 {
                put_command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, c.name()]);
                continue;
            }
            for pid in c.pending_ids() {
                let Some(p) = g.pending_entry(pid) else {
                    continue;
                };
                id.clear();
                pid.write_to(&mut id);
                let mut t = itoa::Buffer::new();
                put_command(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        c.name(),
                        b"0",
                        &id,
                        b"TIME",
                        t.format(p.delivery_time).as_bytes(),
                        b"RETRYCOUNT",
                        n.format(p.delivery_count).as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// Commands of one key that add its items in batches: `cmd key item...`, at most
/// [`ITEMS_PER_CMD`] items (of `width` arguments each) per command.
struct Batch<'k> {
    cmd: &'static [u8],
    key: &'k [u8],
    width: usize,
    /// The arguments of the items gathered for the next command, encoded.
    pending: Vec<u8>,
    items: usize,
}

impl<'k> Batch<'k> {
    fn new(cmd: &'static [u8], key: &'k [u8], width: usize) -> Self {
        Batch {
            cmd,
            key,
            width,
            pending: Vec::new(),
            items: 0,
        }
    }

    fn item(&mut self, out: &mut Vec<u8>, args: &[&[u8]]) {
        for a in args {
            put_bulk(&mut self.pending, a);
        }
        self.items += 1;
        if self.items == ITEMS_PER_CMD {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.items == 0 {
            return;
        }
        put_array_len(out, 2 + self.items * self.width);
        put_bulk(out, self.cmd);
        put_bulk(out, self.key);
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        self.items = 0;
    }

    fn finish(mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }
}

/// One command as a RESP array of bulk strings.
pub fn put_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    put_array_len(out, args.len());
    for a in args {
        put_bulk(out, a);
    }
}

fn put_array_len(out: &mut Vec<u8>, n: usize) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_bulk(out: &mut Vec<u8>, a: &[u8]) {
    let mut b = itoa::Buffer::new();
    out.push(b'$');
    out.extend_from_slice(b.format(a.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}
