//! Helpers shared by the stream test files: commands as one line of words, reply builders,
//! and readers for XINFO maps, XPENDING rows, keyspace events and INFO counters.
#![allow(dead_code)]

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, ok, RawConn, TestServer};

pub const SMALLER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const INVALID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

/// Runs a command given as one line of space-separated words.
pub fn c(r: &mut RawConn, line: &str) -> Frame {
    let words: Vec<&str> = line.split_whitespace().collect();
    r.cmd(&words)
}

/// Asserts that each command of `table` (one line of words) fails with its error.
pub fn assert_errors(r: &mut RawConn, table: &[(&str, &str)]) {
    for (cmd, e) in table {
        assert_eq!(c(r, cmd), err(e), "{cmd}");
    }
}

/// Makes `str` a string and asserts that `cmd` (one line of words, naming `str`) fails with
/// WRONGTYPE.
pub fn assert_wrongtype(r: &mut RawConn, cmd: &str) {
    c(r, "SET str x");
    assert_eq!(c(r, cmd), err(WRONGTYPE), "{cmd}");
}

/// Runs a command given as words (for arguments with spaces).
pub fn cv(r: &mut RawConn, words: &[&str]) -> Frame {
    r.cmd(words)
}

pub fn arr(v: Vec<Frame>) -> Frame {
    Frame::Array(v)
}

/// A stream entry reply: `[id, [f1, v1, ...]]`.
pub fn entry(id: &str, pairs: &[&str]) -> Frame {
    arr(vec![bulk(id), arr(pairs.iter().map(|p| bulk(p)).collect())])
}

pub fn text_of(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) => s.clone(),
        Frame::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// The elements of an array reply as text.
pub fn words_of(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(v) => v.iter().map(text_of).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// The ID of an XADD reply.
pub fn id_of(f: &Frame) -> (u64, u64) {
    let t = text_of(f);
    let (ms, seq) = t
        .split_once('-')
        .unwrap_or_else(|| panic!("not an ID: {t}"));
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// The IDs of a list of entries.
pub fn ids(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(v) => v
            .into_iter()
            .map(|e| match e {
                Frame::Array(p) => text_of(&p[0]),
                other => panic!("not an entry: {other:?}"),
            })
            .collect(),
        Frame::Null => Vec::new(),
        other => panic!("expected entries, got {other:?}"),
    }
}

/// The entries of a one-stream XREAD/XREADGROUP reply.
pub fn stream_of(f: Frame) -> Frame {
    match f {
        Frame::Array(v) if v.len() == 1 => match &v[0] {
            Frame::Array(p) if p.len() == 2 => p[1].clone(),
            other => panic!("{other:?}"),
        },
        Frame::Map(m) if m.len() == 1 => m[0].1.clone(),
        other => panic!("expected one stream, got {other:?}"),
    }
}

pub fn first_id(r: &mut RawConn, key: &str) -> String {
    ids(c(r, &format!("XRANGE {key} - + COUNT 1")))
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// A map reply (RESP3 map or RESP2 flat array), keys in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Info(pub Vec<(String, Frame)>);

impl Info {
    pub fn keys(&self) -> impl Iterator<Item = &String> + '_ {
        self.0.iter().map(|(k, _)| k)
    }
}

impl std::ops::Index<&str> for Info {
    type Output = Frame;
    fn index(&self, k: &str) -> &Frame {
        &self
            .0
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("no field {k} in {:?}", self.0))
            .1
    }
}

pub fn info_map(f: Frame) -> Info {
    match f {
        Frame::Map(m) => Info(m.into_iter().map(|(k, v)| (text_of(&k), v)).collect()),
        Frame::Array(v) => Info(
            v.chunks(2)
                .map(|p| (text_of(&p[0]), p[1].clone()))
                .collect(),
        ),
        other => panic!("expected a map, got {other:?}"),
    }
}

pub fn info_list(f: Frame) -> Vec<Info> {
    match f {
        Frame::Array(v) => v.into_iter().map(info_map).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

pub fn group_info(r: &mut RawConn, key: &str, group: &str) -> Info {
    info_list(c(r, &format!("XINFO GROUPS {key}")))
        .into_iter()
        .find(|g| g["name"] == bulk(group))
        .unwrap_or_else(|| panic!("no group {group}"))
}

fn pending_rows(f: Frame) -> Vec<Vec<Frame>> {
    match f {
        Frame::Array(v) => v
            .into_iter()
            .map(|row| match row {
                Frame::Array(cols) => cols,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("expected XPENDING rows, got {other:?}"),
    }
}

/// (id, delivery count) of XPENDING's extended form.
pub fn pending_counts(f: Frame) -> Vec<(String, i64)> {
    pending_rows(f)
        .into_iter()
        .map(|cols| match cols[3] {
            Frame::Integer(n) => (text_of(&cols[0]), n),
            ref other => panic!("{other:?}"),
        })
        .collect()
}

/// (id, owner) of XPENDING's extended form.
pub fn pending_owners(f: Frame) -> Vec<(String, String)> {
    pending_rows(f)
        .into_iter()
        .map(|cols| (text_of(&cols[0]), text_of(&cols[1])))
        .collect()
}

pub fn ids_of_pending(f: Frame) -> Vec<String> {
    pending_rows(f)
        .into_iter()
        .map(|c| text_of(&c[0]))
        .collect()
}

/// The idle time XPENDING reports for `id` in s/g.
pub fn idle_of(r: &mut RawConn, id: &str) -> i64 {
    let rows = pending_rows(c(r, &format!("XPENDING s g {id} {id} 1")));
    match rows[0][2] {
        Frame::Integer(n) => n,
        ref other => panic!("{other:?}"),
    }
}

/// INFO persistence's rdb_changes_since_last_save.
pub fn dirty(r: &mut RawConn) -> u64 {
    let info = text_of(&c(r, "INFO persistence"));
    info.lines()
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .expect("rdb_changes_since_last_save in INFO")
        .trim()
        .parse()
        .unwrap()
}

/// Replaces the values that depend on the clock at replay (consumers' seen and active
/// times) by 0, recursively.
pub fn strip_times(f: Frame) -> Frame {
    match f {
        Frame::Array(v) => {
            let mut out = Vec::with_capacity(v.len());
            let mut blank_next = false;
            for x in v {
                if blank_next {
                    out.push(Frame::Integer(0));
                    blank_next = false;
                    continue;
                }
                blank_next = matches!(&x, Frame::Bulk(b) if &b[..] == b"seen-time" || &b[..] == b"active-time");
                out.push(strip_times(x));
            }
            Frame::Array(out)
        }
        Frame::Map(m) => Frame::Map(
            m.into_iter()
                .map(|(k, v)| {
                    let t = matches!(&k, Frame::Bulk(b) if &b[..] == b"seen-time" || &b[..] == b"active-time");
                    let v = if t { Frame::Integer(0) } else { strip_times(v) };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A pattern subscriber to every keyevent of db 0 and a command connection, with
/// `notify-keyspace-events` set to `flags`.
pub fn subscribe_events(srv: &TestServer, flags: &str) -> (RawConn, RawConn) {
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        ok()
    );
    let mut s = srv.raw();
    s.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    (s, r)
}

/// Runs the commands, then XADD to a marker key, and returns "event key" for every keyevent
/// before the marker's (the flags must include `t`).
pub fn events(sub: &mut RawConn, r: &mut RawConn, cmds: &[&str]) -> Vec<String> {
    for cmd in cmds {
        c(r, cmd);
    }
    c(r, "XADD marker * m 1");
    let mut seen = Vec::new();
    loop {
        let Frame::Array(v) = sub.read() else {
            panic!("expected a pmessage")
        };
        let channel = text_of(&v[2]);
        let key = text_of(&v[3]);
        let event = channel.trim_start_matches("__keyevent@0__:").to_string();
        if key == "marker" {
            if event == "xadd" {
                return seen;
            }
            continue;
        }
        seen.push(format!("{event} {key}"));
    }
}

pub fn ev(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Polls `f` until it returns true, failing with `what` after the test kit's patience.
pub fn wait_until(what: &str, f: impl FnMut() -> bool) {
    cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, what, f);
}
