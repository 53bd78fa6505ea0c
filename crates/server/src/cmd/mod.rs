//! Command families, one file per data type or area (like Redis's t_string.c, db.c ...).
//! Each family registers its handlers next to their code in a `register` function.
//! Shared argument parsing and reply helpers live here.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::num;
use cinnabar_engine::{Entry, Error, Result};
use cinnabar_resp::ReplyBuf;

use crate::dispatch::Registry;

pub mod acl;
pub mod bitops;
pub mod blocking;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod digest;
pub mod docs;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod introspection;
pub mod keys;
pub mod list;
pub mod memory;
pub mod multi;
pub mod persist;
pub mod pubsub;
pub mod ratelimit;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;

/// The registry of every command we implement. Panics at start-up if a family registers a
/// name the command table does not know: a programming error, caught by every test.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register_all(&mut r);
    r
}

/// Registers every family's commands.
fn register_all(r: &mut Registry) {
    string::register(r);
    bitops::register(r);
    keys::register(r);
    connection::register(r);
    acl::register(r);
    server::register(r);
    config::register(r);
    command::register(r);
    debug::register(r);
    memory::register(r);
    introspection::register(r);
    multi::register(r);
    list::register(r);
    blocking::register(r);
    set::register(r);
    hash::register(r);
    zset::register(r);
    hll::register(r);
    geo::register(r);
    sort::register(r);
    scripting::register(r);
    pubsub::register(r);
    persist::register(r);
    ratelimit::register(r);
    replication::register(r);
    cluster::register(r);
    stream::register(r);
}

/// ASCII case-insensitive comparison of an argument with an option name.
#[inline]
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// An integer argument, with Redis's error for anything else.
#[inline]
pub fn int_arg(arg: &[u8]) -> Result<i64> {
    num::parse_i64(arg).ok_or(Error::NotInteger)
}

/// A float argument, with Redis's error for anything else.
#[inline]
pub fn float_arg(arg: &[u8]) -> Result<f64> {
    num::parse_f64(arg).ok_or(Error::NotFloat)
}

/// A database index argument (SELECT, MOVE, COPY ... DB), with Redis's three errors: not an
/// integer, outside the C `int` range (getIntFromObjectOrReply), or not an existing database.
pub fn db_index_arg(arg: &[u8], databases: usize) -> Result<usize> {
    let n = int_arg(arg)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(Error::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if n < 0 || n as usize >= databases {
        return Err(Error::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

/// A string value as stored: bytes, or an integer kept in binary form.
#[derive(Clone, Copy, Debug)]
pub enum StrVal<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl StrVal<'_> {
    /// The bytes, formatting an integer into `scratch`.
    pub fn bytes<'s>(&'s self, scratch: &'s mut itoa::Buffer) -> &'s [u8] {
        match self {
            StrVal::Bytes(b) => b,
            StrVal::Int(n) => scratch.format(*n).as_bytes(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrVal::Bytes(b) => b.len(),
            StrVal::Int(n) => itoa::Buffer::new().format(*n).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the value as a bulk string.
    pub fn reply(&self, out: &mut ReplyBuf) {
        match self {
            StrVal::Bytes(b) => out.bulk(b),
            StrVal::Int(n) => out.bulk_int(*n),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut s = itoa::Buffer::new();
        self.bytes(&mut s).to_vec()
    }
}

/// The string value of an entry, or WRONGTYPE.
#[inline]
pub fn str_value(e: &Entry) -> Result<StrVal<'_>> {
    match e.value() {
        ValueRef::Str(b) => Ok(StrVal::Bytes(b)),
        ValueRef::Int(n) => Ok(StrVal::Int(n)),
        ValueRef::Obj(cinnabar_engine::Object::Str(v)) => Ok(StrVal::Bytes(v)),
        #[allow(unreachable_patterns)]
        ValueRef::Obj(_) => Err(Error::WrongType),
    }
}

/// Replies with HELP text lines as simple strings, as Redis's addReplyHelp.
pub fn help_reply(ctx: &mut crate::dispatch::Ctx, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l.as_bytes());
    }
}

/// A read found no `key` (Redis's lookupKeyRead miss): INFO keyspace_misses, and the
/// `keymiss` event when that class is on.
#[inline]
pub fn read_miss(server: &crate::server::Server, db: &mut cinnabar_engine::Db, key: &[u8]) {
    db.misses += 1;
    let flags = server
        .config
        .live
        .notify_flags
        .load(std::sync::atomic::Ordering::Relaxed);
    if flags & crate::notify::KEY_MISS != 0 {
        crate::dispatch::effects::note_keymiss(db.id, key);
    }
}

/// How a command looks its keys up, as Redis's lookupKeyRead / lookupKeyWrite: a read counts
/// a keyspace hit or miss (INFO keyspace_hits / keyspace_misses; a key of another type was
/// found, so it is a hit), a write counts nothing, and both refresh the key's access clock
/// unless the client asked for CLIENT NO-TOUCH.
#[derive(Clone, Copy)]
pub struct Look {
    pub now: i64,
    pub touch: bool,
    /// `keymiss` events are on: a read that misses logs one.
    pub keymiss: bool,
}

impl Look {
    pub fn new(ctx: &crate::dispatch::Ctx) -> Look {
        let flags = ctx
            .server
            .config
            .live
            .notify_flags
            .load(std::sync::atomic::Ordering::Relaxed);
        Look {
            now: ctx.now,
            touch: !ctx.client.no_touch,
            keymiss: flags & crate::notify::KEY_MISS != 0,
        }
    }

    /// Finds a live `key` holding an object accepted by `is_kind`: Ok(None) when missing (or
    /// expired), WRONGTYPE for another type. `read` selects lookupKeyRead's statistics.
    pub fn find(
        &self,
        db: &mut cinnabar_engine::Db,
        h: u64,
        key: &[u8],
        read: bool,
        is_kind: impl Fn(&cinnabar_engine::Object) -> bool,
    ) -> Result<Option<usize>> {
        let slot = db.lookup(h, key, self.now);
        if read {
            match slot {
                Some(_) => db.hits += 1,
                None => {
                    db.misses += 1;
                    if self.keymiss {
                        crate::dispatch::effects::note_keymiss(db.id, key);
                    }
                }
            }
        }
        let Some(slot) = slot else { return Ok(None) };
        if self.touch {
            db.touch(slot, self.now);
        }
        match db.entry(slot).value() {
            ValueRef::Obj(o) if is_kind(o) => Ok(Some(slot)),
            _ => Err(Error::WrongType),
        }
    }
}

/// Finds `key` holding an object accepted by `is_kind` (e.g. `|o| matches!(o, Object::List(_))`).
/// Ok(None) when the key is missing (or expired), WRONGTYPE when it holds another type.
/// A found key's access bits are refreshed, as every lookup of Redis's lookupKey does.
pub fn lookup_kind(
    db: &mut cinnabar_engine::Db,
    h: u64,
    key: &[u8],
    now: i64,
    is_kind: impl Fn(&cinnabar_engine::Object) -> bool,
) -> Result<Option<usize>> {
    lookup_kind_touch(db, h, key, now, true, is_kind)
}

/// [`lookup_kind`] that refreshes the access bits only when `touch` (false for CLIENT
/// NO-TOUCH clients).
pub fn lookup_kind_touch(
    db: &mut cinnabar_engine::Db,
    h: u64,
    key: &[u8],
    now: i64,
    touch: bool,
    is_kind: impl Fn(&cinnabar_engine::Object) -> bool,
) -> Result<Option<usize>> {
    match db.lookup(h, key, now) {
        None => Ok(None),
        Some(slot) => match db.entry(slot).value() {
            ValueRef::Obj(o) if is_kind(o) => {
                if touch {
                    db.touch(slot, now);
                }
                Ok(Some(slot))
            }
            _ => Err(Error::WrongType),
        },
    }
}

/// Like [`lookup_kind`], but creates the key with `make()` when it is missing.
pub fn lookup_or_create(
    db: &mut cinnabar_engine::Db,
    h: u64,
    key: &[u8],
    now: i64,
    is_kind: impl Fn(&cinnabar_engine::Object) -> bool,
    make: impl FnOnce() -> cinnabar_engine::Object,
) -> Result<usize> {
    match lookup_kind(db, h, key, now, is_kind)? {
        Some(slot) => Ok(slot),
        None => Ok(db.insert_new(
            h,
            Entry::new(
                key,
                cinnabar_engine::NewValue::Obj(Box::new(make())),
                None,
                db.fresh_clock(now),
            ),
        )),
    }
}

/// Removes the key in `slot` if its collection became empty, as Redis deletes empty
/// collections. Returns whether it was removed.
pub fn remove_if_empty(
    db: &mut cinnabar_engine::Db,
    slot: usize,
    is_empty: impl Fn(&cinnabar_engine::Object) -> bool,
) -> bool {
    let empty = matches!(db.entry(slot).value(), ValueRef::Obj(o) if is_empty(o));
    if empty {
        db.remove_slot(slot);
    }
    empty
}

/// Parses a SCAN cursor exactly as Redis does with `strtoul(s, &end, 10)` plus its checks:
/// no leading whitespace, an optional sign (a negative value wraps modulo 2^64), no
/// trailing characters, no overflow; the empty string is cursor 0. C sees the argument up
/// to its first NUL byte, so anything after one is ignored.
pub fn cursor_arg(arg: &[u8]) -> Result<u64> {
    let invalid = || Error::msg("ERR invalid cursor");
    if arg
        .first()
        .is_some_and(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
    {
        return Err(invalid());
    }
    let s = match arg.iter().position(|&c| c == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if s.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// A HELP reply in Redis's shape: a header naming the command, the lines, and the HELP
/// entry every container lists last.
pub fn container_help(ctx: &mut crate::dispatch::Ctx, lines: &[&str]) {
    let name = String::from_utf8_lossy(ctx.arg(0)).to_uppercase();
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(
        format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for line in lines {
        ctx.out.simple(line.as_bytes());
    }
    ctx.out.simple(b"HELP");
    ctx.out.simple(b"    Print this help.");
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's error for a subcommand of a non-container command it does not know.
pub fn unknown_subcommand(ctx: &crate::dispatch::Ctx) -> Error {
    let sub = ctx.arg(1);
    Error::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(ctx.arg(0)).to_uppercase()
    ))
}
