//! Keyspace notifications (`notify-keyspace-events`): the class flags, and publishing
//! `__keyspace@<db>__:<key> <event>` / `__keyevent@<db>__:<event> <key>` as Redis does.
//!
//! The flags live in one atomic (`Live::notify_flags`); while it is 0 every hook is one relaxed
//! load and a branch.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use cinnabar_commands::{flags as cflags, CommandDef};
use cinnabar_engine::Locked;
use smallvec::SmallVec;

use crate::config::Live;
use crate::dispatch::Client;
use crate::pubsub::Space;
use crate::server::Server;

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// What 'A' stands for (not m, not n, as in Redis).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses a flags string ("KEA", "Kl$"); None for an unknown character.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// The canonical text CONFIG GET shows for a set of flags (Redis's order: A or the classes,
/// then K, E, m).
pub fn flags_to_string(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Mirrors `notify-keyspace-events` and `client-output-buffer-limit pubsub` into atomics
/// whenever the configuration changes.
pub fn refresh_live(live: &Live, values: &BTreeMap<&'static str, String>) {
    let flags = values
        .get("notify-keyspace-events")
        .and_then(|s| parse_flags(s))
        .unwrap_or(0);
    // Without K or E nothing is ever published: keep the hot-path check at one load.
    let flags = if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    };
    live.notify_flags.store(flags, Ordering::Relaxed);
    let limits = values
        .get("client-output-buffer-limit")
        .map(String::as_str)
        .unwrap_or("");
    let parts: Vec<&str> = limits.split_whitespace().collect();
    for chunk in parts.chunks(4) {
        if chunk.len() == 4 && chunk[0] == "pubsub" {
            let n = |s: &str| s.parse::<u64>().unwrap_or(0);
            live.pubsub_obuf_hard.store(n(chunk[1]), Ordering::Relaxed);
            live.pubsub_obuf_soft.store(n(chunk[2]), Ordering::Relaxed);
            live.pubsub_obuf_secs.store(n(chunk[3]), Ordering::Relaxed);
        }
    }
}

/// Publishes one keyspace event, as Redis's notifyKeyspaceEvent: `__keyspace@<db>__:<key>`
/// carrying the event name and `__keyevent@<db>__:<event>` carrying the key, each when its
/// flag (K, E) is on and the event's class is enabled. `me` is the client whose command
/// caused it (its own copies follow its reply).
pub fn emit(
    server: &Server,
    me: Option<&mut Client>,
    flags: u32,
    class: u32,
    event: &str,
    key: &[u8],
    db: usize,
) {
    if flags & class == 0 || !server.pubsub.has_subscribers() {
        return;
    }
    let mut me = me;
    let mut dbs = itoa::Buffer::new();
    let dbs = dbs.format(db).as_bytes();
    let mut ch = Vec::with_capacity(16 + key.len().max(event.len()));
    if flags & KEYSPACE != 0 {
        ch.extend_from_slice(b"__keyspace@");
        ch.extend_from_slice(dbs);
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(key);
        server.pubsub.publish(
            server,
            me.as_deref_mut(),
            Space::Global,
            &ch,
            event.as_bytes(),
        );
    }
    if flags & KEYEVENT != 0 {
        ch.clear();
        ch.extend_from_slice(b"__keyevent@");
        ch.extend_from_slice(dbs);
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(event.as_bytes());
        server.pubsub.publish(server, me, Space::Global, &ch, key);
    }
}

/// Which of a command's keys an event is about.
#[derive(Clone, Copy)]
enum Sel {
    First,
    Last,
    Each,
    /// The key named first in the reply (BLPOP-style `[key, ...]` replies: LMPOP, ZMPOP).
    ReplyKey,
}

/// When an event is emitted, judged from the reply and the key's existence.
#[derive(Clone, Copy, PartialEq)]
enum Cond {
    /// Whenever the command succeeded.
    Always,
    /// When the reply shows an effect: not null, not 0 or negative, not an empty array.
    Changed,
    /// When the key exists after the command.
    ExistsAfter,
    /// When the key existed before the command.
    ExistedBefore,
    /// Changed and the key still exists (EXPIRE with a past deadline deletes: only "del").
    ChangedAndExists,
}

struct Ev {
    sel: Sel,
    class: u32,
    event: &'static str,
    cond: Cond,
}

const fn ev(sel: Sel, class: u32, event: &'static str, cond: Cond) -> Ev {
    Ev {
        sel,
        class,
        event,
        cond,
    }
}

fn side(arg: Option<&&[u8]>, left: &'static str, right: &'static str) -> &'static str {
    match arg {
        Some(a) if a.eq_ignore_ascii_case(b"left") || a.eq_ignore_ascii_case(b"min") => left,
        _ => right,
    }
}

fn has_arg(args: &[&[u8]], word: &str) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The events a write command emits, with Redis's event names and classes (t_string.c,
/// t_list.c, t_set.c, t_hash.c, t_zset.c, db.c, expire.c, sort.c, bitops.c). "new" and the
/// "del" of keys a command removed (an emptied collection, DEL, an overwritten STORE
/// destination) come from comparing key existence before and after, not from this table.
fn events(name: &str, args: &[&[u8]], reply: &[u8]) -> SmallVec<[Ev; 3]> {
    use Cond::*;
    use Sel::*;
    let mut v: SmallVec<[Ev; 3]> = SmallVec::new();
    let timed = |args: &[&[u8]]| {
        ["ex", "px", "exat", "pxat"]
            .iter()
            .any(|w| has_arg(args, w))
    };
    match name {
        "set" => {
            let get = has_arg(&args[3..], "get");
            let null = is_null(reply);
            let done = if !get {
                !null
            } else if has_arg(&args[3..], "nx") {
                null
            } else if has_arg(&args[3..], "xx") {
                !null
            } else {
                true
            };
            if done {
                v.push(ev(First, STRING, "set", Always));
                if timed(&args[3..]) {
                    v.push(ev(First, GENERIC, "expire", Always));
                }
            }
        }
        "setnx" => v.push(ev(First, STRING, "set", Changed)),
        "setex" | "psetex" => {
            v.push(ev(First, STRING, "set", Always));
            v.push(ev(First, GENERIC, "expire", Always));
        }
        "getset" => v.push(ev(First, STRING, "set", Always)),
        "mset" => v.push(ev(Each, STRING, "set", Always)),
        "msetnx" => v.push(ev(Each, STRING, "set", Changed)),
        "append" => v.push(ev(First, STRING, "append", Always)),
        "setrange" => v.push(ev(First, STRING, "setrange", ExistsAfter)),
        "incr" | "decr" | "incrby" | "decrby" => v.push(ev(First, STRING, "incrby", Always)),
        "incrbyfloat" => v.push(ev(First, STRING, "incrbyfloat", Always)),
        "getex" => {
            if has_arg(&args[2..], "persist") {
                v.push(ev(First, GENERIC, "persist", ExistsAfter));
            } else if timed(&args[2..]) {
                v.push(ev(First, GENERIC, "expire", ExistsAfter));
            }
        }
        "setbit" => v.push(ev(First, STRING, "setbit", Always)),
        "bitfield" if has_arg(&args[2..], "set") || has_arg(&args[2..], "incrby") => {
            v.push(ev(First, STRING, "setbit", Always));
        }
        "bitop" => v.push(ev(First, STRING, "set", ExistsAfter)),
        "lpush" | "rpush" => v.push(ev(
            First,
            LIST,
            if name == "lpush" { "lpush" } else { "rpush" },
            Always,
        )),
        "lpushx" => v.push(ev(First, LIST, "lpush", Changed)),
        "rpushx" => v.push(ev(First, LIST, "rpush", Changed)),
        "lpop" => v.push(ev(First, LIST, "lpop", Changed)),
        "rpop" => v.push(ev(First, LIST, "rpop", Changed)),
        "linsert" => v.push(ev(First, LIST, "linsert", Changed)),
        "lset" => v.push(ev(First, LIST, "lset", Always)),
        "ltrim" => v.push(ev(First, LIST, "ltrim", ExistedBefore)),
        "lrem" => v.push(ev(First, LIST, "lrem", Changed)),
        "rpoplpush" => {
            v.push(ev(Last, LIST, "lpush", Changed));
            v.push(ev(First, LIST, "rpop", Changed));
        }
        "lmove" => {
            v.push(ev(Last, LIST, side(args.get(4), "lpush", "rpush"), Changed));
            v.push(ev(First, LIST, side(args.get(3), "lpop", "rpop"), Changed));
        }
        "lmpop" => {
            let dir = args
                .iter()
                .skip(3)
                .find(|a| a.eq_ignore_ascii_case(b"left") || a.eq_ignore_ascii_case(b"right"));
            v.push(ev(ReplyKey, LIST, side(dir, "lpop", "rpop"), Changed));
        }
        "sadd" => v.push(ev(First, SET, "sadd", Changed)),
        "srem" => v.push(ev(First, SET, "srem", Changed)),
        "spop" => v.push(ev(First, SET, "spop", Changed)),
        "smove" => {
            v.push(ev(First, SET, "srem", Changed));
            v.push(ev(Last, SET, "sadd", Changed));
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            let e = match name {
                "sinterstore" => "sinterstore",
                "sunionstore" => "sunionstore",
                _ => "sdiffstore",
            };
            v.push(ev(First, SET, e, ExistsAfter));
        }
        "hset" | "hmset" => v.push(ev(First, HASH, "hset", Always)),
        "hsetnx" => v.push(ev(First, HASH, "hset", Changed)),
        "hdel" => v.push(ev(First, HASH, "hdel", Changed)),
        "hincrby" => v.push(ev(First, HASH, "hincrby", Always)),
        "hincrbyfloat" => v.push(ev(First, HASH, "hincrbyfloat", Always)),
        "zadd" => {
            let e = if has_arg(&args[2..], "incr") {
                "zincr"
            } else {
                "zadd"
            };
            v.push(ev(
                First,
                ZSET,
                e,
                if e == "zincr" { Changed } else { Always },
            ));
        }
        "zincrby" => v.push(ev(First, ZSET, "zincr", Always)),
        "zrem" => v.push(ev(First, ZSET, "zrem", Changed)),
        "zremrangebyscore" => v.push(ev(First, ZSET, "zrembyscore", Changed)),
        "zremrangebyrank" => v.push(ev(First, ZSET, "zrembyrank", Changed)),
        "zremrangebylex" => v.push(ev(First, ZSET, "zrembylex", Changed)),
        "zpopmin" => v.push(ev(First, ZSET, "zpopmin", Changed)),
        "zpopmax" => v.push(ev(First, ZSET, "zpopmax", Changed)),
        "zmpop" => {
            let dir = args
                .iter()
                .skip(3)
                .find(|a| a.eq_ignore_ascii_case(b"min") || a.eq_ignore_ascii_case(b"max"));
            v.push(ev(ReplyKey, ZSET, side(dir, "zpopmin", "zpopmax"), Changed));
        }
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => {
            let e = match name {
                "zunionstore" => "zunionstore",
                "zinterstore" => "zinterstore",
                "zdiffstore" => "zdiffstore",
                _ => "zrangestore",
            };
            v.push(ev(First, ZSET, e, ExistsAfter));
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            v.push(ev(First, GENERIC, "expire", ChangedAndExists))
        }
        "persist" => v.push(ev(First, GENERIC, "persist", Changed)),
        "rename" => {
            v.push(ev(First, GENERIC, "rename_from", Always));
            v.push(ev(Last, GENERIC, "rename_to", Always));
        }
        "renamenx" => {
            v.push(ev(First, GENERIC, "rename_from", Changed));
            v.push(ev(Last, GENERIC, "rename_to", Changed));
        }
        "copy" => v.push(ev(Last, GENERIC, "copy_to", Changed)),
        "restore" => v.push(ev(First, GENERIC, "restore", Always)),
        "sort" if has_arg(&args[2..], "store") => v.push(ev(Last, LIST, "sortstore", ExistsAfter)),
        _ => {}
    }
    v
}

/// How the reply of a successful write tells whether it changed anything. Computed once per
/// command when the registry is built ([`effect_of`]), so the per-write check in dispatch is
/// a branch on a byte, not a match on the command's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Replies with a value rather than a count: always a change.
    Always,
    /// SET: a change unless a condition (NX, XX, GET with NX/XX) kept it from setting.
    Set,
    /// A count, a popped element or OK: a change unless zero, empty or nil.
    ByReply,
}

/// The [`Effect`] of a write command, by name.
pub fn effect_of(name: &str) -> Effect {
    match name {
        "incr" | "decr" | "incrby" | "decrby" | "incrbyfloat" | "hincrby" | "hincrbyfloat"
        | "zincrby" | "setbit" | "setrange" | "append" | "getset" | "bitfield" | "zadd"
        | "hset" | "hmset" | "mset" | "restore" | "sort" | "bitop" | "sinterstore"
        | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore" | "zdiffstore"
        | "zrangestore" => Effect::Always,
        "set" => Effect::Set,
        _ => Effect::ByReply,
    }
}

/// Whether a successful write changed anything, judged from its reply, for client tracking
/// and the changes-since-last-save counter (Redis counts only keys a command really
/// modified).
pub fn had_effect(effect: Effect, args: &[&[u8]], reply: &[u8]) -> bool {
    match effect {
        Effect::Always => true,
        // A plain SET key value always sets.
        Effect::Set => args.len() == 3 || !events("set", args, reply).is_empty(),
        Effect::ByReply => changed(reply),
    }
}

/// [`had_effect`] for a command known by name.
pub fn write_had_effect(name: &str, args: &[&[u8]], reply: &[u8]) -> bool {
    had_effect(effect_of(name), args, reply)
}

/// The shape of a reply, as far as the conditions need it.
fn is_null(r: &[u8]) -> bool {
    r.starts_with(b"$-1\r\n") || r.starts_with(b"*-1\r\n") || r.starts_with(b"_\r\n")
}

fn changed(r: &[u8]) -> bool {
    if r.is_empty() || r[0] == b'-' || is_null(r) {
        return false;
    }
    match r[0] {
        b':' => !(r[1] == b'0' || r[1] == b'-'),
        b'*' | b'%' | b'~' => {
            !r.starts_with(b"*0\r\n") && !r.starts_with(b"%0\r\n") && !r.starts_with(b"~0\r\n")
        }
        _ => true,
    }
}

/// The first bulk string of an array reply (`*2\r\n$3\r\nkey\r\n...`).
fn reply_key(r: &[u8]) -> Option<&[u8]> {
    let nl = r.iter().position(|&c| c == b'\n')?;
    let rest = &r[nl + 1..];
    if rest.first() != Some(&b'$') {
        return None;
    }
    let nl2 = rest.iter().position(|&c| c == b'\n')?;
    let len: usize = std::str::from_utf8(&rest[1..nl2 - 1]).ok()?.parse().ok()?;
    rest.get(nl2 + 1..nl2 + 1 + len)
}

/// (db, key, hash, live before the command).
type ProbedKey = (usize, Vec<u8>, u64, bool);

/// Keys a write command names, with whether each was live before it ran.
pub struct Probe {
    keys: SmallVec<[ProbedKey; 4]>,
}

/// Before a command, while notifications are on or clients track: the key positions it names and whether
/// each key is live (in the current db, and for MOVE / COPY ... DB also in the target db).
pub fn before(
    def: &CommandDef,
    args: &[&[u8]],
    db: usize,
    locked: &mut Locked<'_>,
    now: i64,
) -> Option<Probe> {
    if def.flags & cflags::WRITE == 0 {
        return Some(Probe {
            keys: SmallVec::new(),
        });
    }
    let mut pos = Vec::new();
    if cinnabar_commands::key_positions(def, args, &mut pos).is_err() {
        return None;
    }
    let mut keys = SmallVec::new();
    let other = other_db(def.name, args, locked.keyspace().databases());
    for (n, &i) in pos.iter().enumerate() {
        let key = args[i];
        let h = cinnabar_engine::hash_key(key);
        // MOVE's key and COPY's destination live in the other db.
        let d = match (def.name, other) {
            ("move", Some(o)) => {
                keys.push((o, key.to_vec(), h, locked.db(o, h).is_live(h, key, now)));
                db
            }
            ("copy", Some(o)) if n == 1 => o,
            _ => db,
        };
        let live = locked.db(d, h).is_live(h, key, now);
        keys.push((d, key.to_vec(), h, live));
    }
    Some(Probe { keys })
}

fn other_db(name: &str, args: &[&[u8]], databases: usize) -> Option<usize> {
    let a = match name {
        "move" => args.get(2),
        "copy" => args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"db"))
            .and_then(|i| args.get(i + 1)),
        _ => None,
    }?;
    let n = cinnabar_engine::num::parse_i64(a)?;
    (n >= 0 && (n as usize) < databases).then_some(n as usize)
}

/// After a command, while notifications are on: publishes the `expired` events of keys the
/// command's lookups expired, then the command's own events ("new", its type events, "del").
#[allow(clippy::too_many_arguments)]
pub fn after(
    server: &Server,
    client: &mut Client,
    def: &CommandDef,
    args: &[&[u8]],
    probe: Probe,
    locked: &mut Locked<'_>,
    reply: &[u8],
    ok: bool,
    now: i64,
    unchanged: &[&[u8]],
) {
    let flags = server.config.live.notify_flags.load(Ordering::Relaxed);
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    // Only switch logging on here (shard locks are held); the cron switches it off.
    if (flags & EXPIRED != 0 || tracking) && !server.keyspace.log_expired.load(Ordering::Relaxed) {
        server.keyspace.log_expired.store(true, Ordering::Relaxed);
    }
    drain_expired(server, Some(&mut *client), locked, flags);
    let ok = ok && reply.first() != Some(&b'-');
    if tracking {
        crate::tracking::after_command(server, client, def, args, ok, reply, unchanged);
    }
    // Blocking commands run their non-blocking form (LPOP for BLPOP...) through dispatch,
    // which already published its events.
    if flags == 0 || !ok || probe.keys.is_empty() || def.flags & cflags::BLOCKING != 0 {
        return;
    }
    let after: SmallVec<[bool; 4]> = probe
        .keys
        .iter()
        .map(|(d, k, h, _)| locked.db(*d, *h).is_live(*h, k, now))
        .collect();
    let ks = &probe.keys;
    let key_db = |i: usize| (ks[i].0, ks[i].1.as_slice());
    if def.name == "smove" && ks.len() == 2 {
        if !changed(reply) || unchanged.contains(&ks[0].1.as_slice()) {
            return; // nothing moved, or a move within one set
        }
        // Redis's order: srem and (if emptied) del of the source, then new and (if the
        // member was added) sadd of the destination.
        let (src, dst) = (&ks[0], &ks[1]);
        emit(
            server,
            Some(&mut *client),
            flags,
            SET,
            "srem",
            &src.1,
            src.0,
        );
        if !after[0] {
            emit(
                server,
                Some(&mut *client),
                flags,
                GENERIC,
                "del",
                &src.1,
                src.0,
            );
        }
        if !dst.3 {
            emit(server, Some(&mut *client), flags, NEW, "new", &dst.1, dst.0);
        }
        if !unchanged.contains(&dst.1.as_slice()) {
            emit(
                server,
                Some(&mut *client),
                flags,
                SET,
                "sadd",
                &dst.1,
                dst.0,
            );
        }
        return;
    }
    // "new": keys created by this command.
    for (i, k) in ks.iter().enumerate() {
        if !k.3 && after[i] {
            emit(server, Some(&mut *client), flags, NEW, "new", &k.1, k.0);
        }
    }
    let last = ks.len() - 1;
    for e in events(def.name, args, reply) {
        let idx: SmallVec<[usize; 4]> = match e.sel {
            Sel::First => SmallVec::from_slice(&[0]),
            Sel::Last => SmallVec::from_slice(&[last]),
            Sel::Each => (0..ks.len()).collect(),
            Sel::ReplyKey => match reply_key(reply) {
                Some(k) => ks.iter().position(|x| x.1 == k).into_iter().collect(),
                None => SmallVec::new(),
            },
        };
        for i in idx {
            let fire = match e.cond {
                Cond::Always => true,
                Cond::Changed => changed(reply),
                Cond::ExistsAfter => after[i],
                Cond::ExistedBefore => ks[i].3,
                Cond::ChangedAndExists => changed(reply) && after[i],
            };
            if fire && !unchanged.contains(&ks[i].1.as_slice()) {
                let (d, k) = key_db(i);
                emit(server, Some(&mut *client), flags, e.class, e.event, k, d);
            }
        }
    }
    match def.name {
        "move" if changed(reply) => {
            // move_from in the source db, move_to in the target.
            let (src, dst) = (ks.len() - 1, 0);
            emit(
                server,
                Some(&mut *client),
                flags,
                GENERIC,
                "move_from",
                &ks[src].1,
                ks[src].0,
            );
            emit(
                server,
                Some(&mut *client),
                flags,
                GENERIC,
                "move_to",
                &ks[dst].1,
                ks[dst].0,
            );
            return;
        }
        "rename" | "renamenx" => {
            // The source is gone by design: its event is rename_from, not del.
            return;
        }
        _ => {}
    }
    // "del": keys this command removed (DEL, an emptied collection, an emptied STORE).
    for (i, k) in ks.iter().enumerate() {
        if k.3 && !after[i] {
            emit(server, Some(&mut *client), flags, GENERIC, "del", &k.1, k.0);
        }
    }
}

/// Keeps the keyspace's expired-key logging in step with the `x` flag. Turning it off drops
/// whatever was logged meanwhile.
pub fn sync_expiry_log(server: &Server, flags: u32) {
    let want = flags & EXPIRED != 0 || server.tracking.clients.load(Ordering::Relaxed) > 0;
    let log = &server.keyspace.log_expired;
    if log.load(Ordering::Relaxed) != want {
        log.store(want, Ordering::Relaxed);
        if !want {
            for s in 0..server.keyspace.shard_count() {
                let mut shard = server.keyspace.lock_shard(s);
                for db in shard.dbs.iter_mut() {
                    db.expired_log = Vec::new();
                }
            }
        }
    }
}

/// Publishes `expired` for the keys the locked shards' dbs logged.
pub fn drain_expired(
    server: &Server,
    mut me: Option<&mut Client>,
    locked: &mut Locked<'_>,
    flags: u32,
) {
    if !server.keyspace.log_expired.load(Ordering::Relaxed) {
        return;
    }
    let mut found: SmallVec<[(usize, Box<[u8]>); 4]> = SmallVec::new();
    for shard in locked.shards() {
        for (d, db) in shard.dbs.iter_mut().enumerate() {
            if !db.expired_log.is_empty() {
                found.extend(db.expired_log.drain(..).map(|k| (d, k)));
            }
        }
    }
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    for (d, k) in found {
        emit(server, me.as_deref_mut(), flags, EXPIRED, "expired", &k, d);
        if tracking {
            crate::tracking::invalidate(server, me.as_deref_mut(), &k, false);
        }
    }
}

/// Publishes `expired` for keys one shard's active expiry removed (cron thread, shard lock
/// already released by the caller, who passes the keys).
pub fn expired_from_cron(server: &Server, db: usize, keys: Vec<Box<[u8]>>) {
    let flags = server.config.live.notify_flags.load(Ordering::Relaxed);
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    for k in keys {
        emit(server, None, flags, EXPIRED, "expired", &k, db);
        if tracking {
            crate::tracking::invalidate(server, None, &k, false);
        }
    }
}
