//! Whole-dataset descriptions, for tests that compare a dataset across a restart, an AOF
//! replayed elsewhere, or another server.

use cinnabar_resp::Frame;

use crate::conn::{ok, text, words, RawConn};

/// What a description of a dataset shows of each key. One line per key, sorted by key:
/// `db<N> <key> <type> [<encoding>] <deadline> <content>`, content in a canonical order
/// (set members and hash fields sorted; zset scores as numbers, since Redis 7.0 and 7.2
/// format some doubles differently).
#[derive(Clone, Copy, Debug)]
pub struct Dump<'a> {
    /// The databases described, in order. The connection is left in db 0.
    pub dbs: &'a [usize],
    /// OBJECT ENCODING of every non-string value (a string's raw/embstr encoding changes
    /// on reload, as in Redis).
    pub encodings: bool,
    /// The absolute deadline in ms (`at=<PEXPIRETIME>`); otherwise only `volatile` or
    /// `persistent`.
    pub deadlines: bool,
    /// Contents longer than 40 bytes shown as their length and a hash, to keep failure
    /// messages short.
    pub digest: bool,
}

impl Dump<'_> {
    pub fn of(&self, r: &mut RawConn) -> Vec<String> {
        let mut out = Vec::new();
        for db in self.dbs {
            let db = db.to_string();
            assert_eq!(r.cmd(&["SELECT", &db]), ok());
            let mut keys = words(r.cmd(&["KEYS", "*"]));
            keys.sort();
            for k in keys {
                let t = text(&r.cmd(&["TYPE", &k]));
                if t == "none" {
                    continue; // expired since KEYS
                }
                let enc = if self.encodings && t != "string" {
                    format!(" {}", text(&r.cmd(&["OBJECT", "ENCODING", &k])))
                } else {
                    String::new()
                };
                let sorted = |mut v: Vec<String>| {
                    v.sort();
                    v.join(",")
                };
                let content = match t.as_str() {
                    "string" => text(&r.cmd(&["GET", &k])),
                    "list" => words(r.cmd(&["LRANGE", &k, "0", "-1"])).join(","),
                    "set" => sorted(words(r.cmd(&["SMEMBERS", &k]))),
                    "hash" => {
                        let flat = words(r.cmd(&["HGETALL", &k]));
                        sorted(
                            flat.chunks(2)
                                .map(|c| format!("{}={}", c[0], c[1]))
                                .collect(),
                        )
                    }
                    "zset" => words(r.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]))
                        .chunks(2)
                        .map(|c| {
                            let score: f64 = c[1].parse().expect("zset score");
                            format!("{}={score:?}", c[0])
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    "stream" => text(&r.cmd(&["XRANGE", &k, "-", "+"])),
                    other => other.to_string(),
                };
                let deadline = if self.deadlines {
                    format!("at={}", text(&r.cmd(&["PEXPIRETIME", &k])))
                } else {
                    match r.cmd(&["PTTL", &k]) {
                        Frame::Integer(n) if n > 0 => "volatile".into(),
                        Frame::Integer(-1) => "persistent".into(),
                        other => panic!("PTTL {k}: {other:?}"),
                    }
                };
                let content = if self.digest {
                    digest(&content)
                } else {
                    content
                };
                out.push(format!("db{db} {k} {t}{enc} {deadline} {content}"));
            }
        }
        assert_eq!(r.cmd(&["SELECT", "0"]), ok());
        out
    }
}

/// Every key of `dbs` with its type, content and absolute deadline (PEXPIRETIME): the
/// plain [`Dump`].
pub fn describe_dataset(r: &mut RawConn, dbs: &[usize]) -> Vec<String> {
    Dump {
        dbs,
        encodings: false,
        deadlines: true,
        digest: false,
    }
    .of(r)
}

/// FNV-1a of a value's canonical text, after its length, for values over 40 bytes.
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    if s.len() <= 40 {
        s.to_string()
    } else {
        format!("{}:{h:016x}", s.len())
    }
}

/// Asserts two descriptions are equal, printing only the lines that differ.
#[track_caller]
pub fn assert_same_dataset(before: &[String], after: &[String]) {
    if before != after {
        let only_a: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
        let only_b: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
        let first = before.iter().zip(after).position(|(x, y)| x != y);
        panic!(
            "datasets differ ({} vs {} keys, first difference at {first:?}):\n before only: {only_a:#?}\n after only: {only_b:#?}",
            before.len(),
            after.len()
        );
    }
}
