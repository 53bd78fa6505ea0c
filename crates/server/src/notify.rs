//! Keyspace notifications (`notify-keyspace-events`): the class flags, and publishing
//! `__keyspace@<db>__:<key> <event>` / `__keyevent@<db>__:<event> <key>` as Redis does.
//!
//! The flags live in one atomic (`Live::notify_flags`); while it is 0 every hook is one relaxed
//! load and a branch. Which events a command raises is up to its handler (see
//! `dispatch::effects`); this module only publishes them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

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
/// then K, E, m). Unlike Redis, `n` is kept next to `A` (Redis prints "AKE" for "KEAn", so
/// its CONFIG REWRITE drops the flag): the text is also what the configuration stores.
pub fn flags_to_string(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
        if f & NEW != 0 {
            s.push('n');
        }
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
        if chunk.len() == 4 && chunk[0] == "normal" {
            for (cell, v) in live.normal_obuf.iter().zip(&chunk[1..]) {
                cell.store(v.parse::<u64>().unwrap_or(0), Ordering::Relaxed);
            }
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
