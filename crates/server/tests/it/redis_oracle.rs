//! A real redis-server to compare Cinnabar with, reply byte for reply byte (used by
//! tests/hll.rs and tests/geo.rs).
//!
//! The redis-server is the test kit's [`RealRedis`] (see its policy for a missing binary).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};

/// The real redis-server, started and found by the test kit (its policy: fail when missing
/// unless CINNABAR_NO_REDIS=1; REQUIRE_REDIS=1 always fails).
pub use cinnabar_testkit::RealRedis;

/// A fresh Cinnabar and a fresh redis-server to compare (None where the test kit's policy
/// lets a missing redis-server pass).
pub fn oracle() -> Option<(cinnabar_testkit::TestServer, RealRedis)> {
    let redis = RealRedis::start(&[])?;
    Some((cinnabar_testkit::TestServer::start(), redis))
}

/// A raw-bytes connection to a real redis-server.
pub fn conn(real: &RealRedis) -> Conn {
    Conn::connect(real.addr())
}

/// A connection that returns each reply's raw bytes.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// The raw bytes of the next reply.
    pub fn read_raw(&mut self) -> Vec<u8> {
        loop {
            if let Some((_, n)) = Frame::parse(&self.buf).expect("bad frame") {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next reply, parsed.
    pub fn read(&mut self) -> Frame {
        let raw = self.read_raw();
        Frame::parse(&raw).unwrap().unwrap().0
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_raw()
    }

    pub fn cmd(&mut self, words: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.call(&args)
    }

    pub fn frame(&mut self, words: &[&str]) -> Frame {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.send(&args);
        self.read()
    }

    /// A numeric field of INFO `section`.
    pub fn info_field(&mut self, section: &str, field: &str) -> i64 {
        let Frame::Bulk(info) = self.frame(&["INFO", section]) else {
            panic!("INFO")
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        let prefix = format!("{field}:");
        info.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// INFO persistence's rdb_changes_since_last_save (Redis's `dirty` count).
    pub fn dirty(&mut self) -> i64 {
        self.info_field("persistence", "rdb_changes_since_last_save")
    }

    /// INFO stats' keyspace_hits and keyspace_misses.
    pub fn hits_misses(&mut self) -> (i64, i64) {
        (
            self.info_field("stats", "keyspace_hits"),
            self.info_field("stats", "keyspace_misses"),
        )
    }
}

/// Splits a command written as words separated by single spaces.
pub fn words(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// Bytes shown with escapes, cut at `max` characters.
pub fn show(b: &[u8], max: usize) -> String {
    let s: String = b.escape_ascii().to_string();
    if s.len() > max {
        format!("{}... ({} bytes)", &s[..max], b.len())
    } else {
        s
    }
}

/// Runs the same commands on Cinnabar and on Redis and collects the replies that differ.
pub struct Pair {
    pub ours: Conn,
    pub theirs: Conn,
    pub mismatches: Vec<String>,
    pub label: String,
}

impl Pair {
    /// Connections to both servers, in RESP3 when `resp3` (HELLO 3), with FLUSHALL done.
    pub fn new(ours: SocketAddr, theirs: SocketAddr, resp3: bool) -> Pair {
        let mut p = Pair {
            ours: Conn::connect(ours),
            theirs: Conn::connect(theirs),
            mismatches: Vec::new(),
            label: if resp3 {
                "RESP3".into()
            } else {
                "RESP2".into()
            },
        };
        if resp3 {
            p.ours.cmd(&["HELLO", "3"]);
            p.theirs.cmd(&["HELLO", "3"]);
        }
        p.ours.cmd(&["FLUSHALL"]);
        p.theirs.cmd(&["FLUSHALL"]);
        p
    }

    /// Runs `args` on both; records a mismatch; returns our reply.
    pub fn same(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let a = self.ours.call(args);
        let b = self.theirs.call(args);
        if a != b {
            let cmd: Vec<String> = args.iter().map(|x| show(x, 40)).collect();
            self.mismatches.push(format!(
                "{} {}\n   ours:  {}\n   redis: {}",
                self.label,
                cmd.join(" "),
                show(&a, 400),
                show(&b, 400)
            ));
        }
        a
    }

    /// [`Pair::same`] for a command written as words.
    pub fn line(&mut self, line: &str) -> Vec<u8> {
        let w = words(line);
        let args: Vec<&[u8]> = w.iter().map(|x| x.as_slice()).collect();
        self.same(&args)
    }

    /// [`Pair::line`] for each line of a script.
    pub fn lines(&mut self, lines: &[&str]) {
        for line in lines {
            self.line(line);
        }
    }

    /// Runs `args` on both without comparing (set-up whose reply differs by design).
    pub fn both(&mut self, args: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        (self.ours.call(args), self.theirs.call(args))
    }

    pub fn assert_clean(&self) {
        assert!(
            self.mismatches.is_empty(),
            "{} replies differ from redis-server's:\n{}",
            self.mismatches.len(),
            self.mismatches
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// What one command did, as the server reports it.
#[derive(Debug, PartialEq, Eq)]
pub struct Effects {
    /// The change in `dirty`.
    pub dirty: i64,
    /// The changes in keyspace_hits and keyspace_misses.
    pub hits: i64,
    pub misses: i64,
    /// The keyevents raised, `event key`, in order.
    pub events: Vec<String>,
}

/// Runs `cmds` on the server at `addr` with keyspace events on and returns what each did.
/// Events are delimited by a marker key (a SET of a fresh key after each command), never
/// by waiting.
///
/// The classes are spelled out rather than `A` so that `n` (key creation) survives
/// Cinnabar's canonical form of the setting.
pub fn effects(addr: SocketAddr, cmds: &[Vec<Vec<u8>>]) -> Vec<Effects> {
    let mut c = Conn::connect(addr);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEg$lshzxen"]),
        b"+OK\r\n"
    );
    let mut sub = Conn::connect(addr);
    sub.cmd(&["PSUBSCRIBE", "__keyevent@*__:*"]);
    let mut out = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let args: Vec<&[u8]> = cmd.iter().map(|x| x.as_slice()).collect();
        let before = c.dirty();
        let (hits, misses) = c.hits_misses();
        c.call(&args);
        let after = c.dirty();
        let (hits2, misses2) = c.hits_misses();
        let marker = format!("__marker{i}");
        c.cmd(&["SET", &marker, "1"]);
        let mut events = Vec::new();
        loop {
            let Frame::Array(v) = sub.read() else {
                panic!("not a pmessage")
            };
            let text = |f: &Frame| match f {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            };
            let channel = text(&v[2]);
            let event = channel.rsplit(':').next().unwrap().to_string();
            let key = text(&v[3]);
            if key == marker {
                if event == "set" {
                    break;
                }
                continue;
            }
            events.push(format!("{event} {key}"));
        }
        out.push(Effects {
            dirty: after - before,
            hits: hits2 - hits,
            misses: misses2 - misses,
            events,
        });
    }
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    out
}

/// Compares [`effects`] on both servers and panics with the commands whose effects differ;
/// returns ours, per command, as `dirty hits/misses: events` (`1 0/0: new k, pfadd k`).
pub fn assert_same_effects(ours: SocketAddr, theirs: SocketAddr, script: &[&str]) -> Vec<String> {
    let cmds: Vec<Vec<Vec<u8>>> = script.iter().map(|l| words(l)).collect();
    for addr in [ours, theirs] {
        Conn::connect(addr).cmd(&["FLUSHALL"]);
    }
    let a = effects(ours, &cmds);
    let b = effects(theirs, &cmds);
    let diffs: Vec<String> = script
        .iter()
        .zip(a.iter().zip(&b))
        .filter(|(_, (x, y))| x != y)
        .map(|(l, (x, y))| format!("{l}\n   ours:  {x:?}\n   redis: {y:?}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "effects differ from redis-server's:\n{}",
        diffs.join("\n")
    );
    a.iter()
        .map(|e| {
            format!(
                "{} {}/{}: {}",
                e.dirty,
                e.hits,
                e.misses,
                e.events.join(", ")
            )
        })
        .collect()
}
