//! Effects of the generic key commands, the bit commands, SORT STORE, RESTORE, CL.THROTTLE
//! and FUNCTION, as each handler records them: for every command, its keyspace events (with
//! `new`), its change count (INFO persistence `rdb_changes_since_last_save`) and what reaches
//! the AOF. The expected sequences are Redis 7.2's (db.c, expire.c, bitops.c, sort.c,
//! cluster.c's restoreCommand, functions.c), checked against a real Redis.

use std::path::{Path, PathBuf};

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, int, ok, temp_dir, text, RawConn, TestServer};

/// A server logging to an AOF (fsynced before each reply), a client, and a subscriber to
/// every keyevent channel of every database (all classes, `new` included).
struct Rig {
    srv: TestServer,
    dir: PathBuf,
    c: RawConn,
    sub: RawConn,
}

/// One command's effects: its reply, its change count and its events (`db:event key`).
#[derive(Debug, PartialEq)]
struct Step {
    reply: Frame,
    dirty: i64,
    events: Vec<String>,
}

fn step(reply: Frame, dirty: i64, events: &[&str]) -> Step {
    Step {
        reply,
        dirty,
        events: events.iter().map(|s| s.to_string()).collect(),
    }
}

impl Rig {
    fn new(name: &str, extra: &[(&str, &str)]) -> Rig {
        let dir = temp_dir(name);
        let d = dir.to_str().unwrap().to_string();
        let mut args: Vec<(&str, &str)> = vec![
            ("dir", &d),
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("enable-debug-command", "yes"),
        ];
        args.extend_from_slice(extra);
        let srv = TestServer::with_args(&args);
        srv.wait_loaded();
        let mut c = srv.raw();
        // Every class and `new` ("A" leaves `new` out, as in Redis).
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEg$lshzxetn"]),
            ok()
        );
        let mut sub = srv.raw();
        sub.cmd(&["PSUBSCRIBE", "__keyevent@*__:*"]);
        Rig { srv, dir, c, sub }
    }

    fn changes(&mut self) -> i64 {
        let info = text(&self.c.cmd(&["INFO", "persistence"]));
        info.split("\r\n")
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Runs a command and collects its effects. The events end at a marker published after
    /// the reply (it reaches the subscriber after everything the command published).
    fn run_raw(&mut self, args: &[&[u8]]) -> Step {
        let before = self.changes();
        self.c.send(args);
        let reply = self.c.read();
        let dirty = self.changes() - before;
        assert_eq!(
            self.c.cmd(&["PUBLISH", "__keyevent@99__:zz-mark", "m"]),
            int(1)
        );
        let mut events = Vec::new();
        loop {
            let Frame::Array(v) = self.sub.read() else {
                panic!("not a pmessage")
            };
            let (ch, key) = (text(&v[2]), text(&v[3]));
            if ch == "__keyevent@99__:zz-mark" {
                break;
            }
            let rest = ch.strip_prefix("__keyevent@").unwrap();
            let (db, event) = rest.split_once("__:").unwrap();
            events.push(format!("{db}:{event} {key}"));
        }
        Step {
            reply,
            dirty,
            events,
        }
    }

    fn run(&mut self, words: &[&str]) -> Step {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.run_raw(&args)
    }

    /// Runs `words` and checks its effects.
    fn check(&mut self, words: &[&str], want: Step) {
        assert_eq!(self.run(words), want, "{words:?}");
    }

    /// A read that changes nothing (not logged, no event).
    fn read(&mut self, words: &[&str]) -> Frame {
        self.c.cmd(words)
    }

    /// The commands the AOF holds so far, as space-separated words (binary arguments as
    /// `<bin>`).
    fn aof(&self) -> Vec<String> {
        cinnabar_server::persist::aof::flush_all(&self.srv.handle.server).unwrap();
        read_aof(&self.dir)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Files still open are unlinked only; the server goes right after.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_aof(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(f).unwrap();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let (frame, n) = Frame::parse(rest).unwrap().unwrap();
            rest = &rest[n..];
            let Frame::Array(args) = frame else { panic!() };
            let words: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Frame::Bulk(b) if b.iter().all(|c| (32..127).contains(c)) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    _ => "<bin>".to_string(),
                })
                .collect();
            out.push(words.join(" "));
        }
    }
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn null() -> Frame {
    Frame::Null
}

#[test]
fn del_rename_move_copy() {
    let mut r = Rig::new("generic", &[]);
    r.check(&["SET", "a", "1"], step(ok(), 1, &["0:new a", "0:set a"]));
    r.check(&["SET", "b", "2"], step(ok(), 1, &["0:new b", "0:set b"]));
    // One change and one `del` per key removed; a missing key is nothing.
    r.check(
        &["DEL", "a", "b", "nope"],
        step(int(2), 2, &["0:del a", "0:del b"]),
    );
    r.check(&["UNLINK", "nope"], step(int(0), 0, &[]));
    r.run(&["SET", "a", "1"]);
    r.run(&["SET", "b", "2"]);
    // RENAME k k changes nothing.
    r.check(&["RENAME", "a", "a"], step(ok(), 0, &[]));
    // Over an existing key: deleted without an event, then added (`new`) by the rename.
    r.check(
        &["RENAME", "a", "b"],
        step(ok(), 1, &["0:new b", "0:rename_from a", "0:rename_to b"]),
    );
    r.check(&["RENAMENX", "b", "b"], step(int(0), 0, &[]));
    r.run(&["SET", "c", "3"]);
    r.check(&["RENAMENX", "b", "c"], step(int(0), 0, &[]));
    r.check(
        &["RENAMENX", "b", "d"],
        step(int(1), 1, &["0:new d", "0:rename_from b", "0:rename_to d"]),
    );
    r.check(
        &["RENAME", "nope", "x"],
        step(Frame::Error("ERR no such key".into()), 0, &[]),
    );
    // MOVE: `new` in the target db, then move_from (source db) and move_to (target db).
    r.check(
        &["MOVE", "d", "1"],
        step(int(1), 1, &["1:new d", "0:move_from d", "1:move_to d"]),
    );
    r.check(&["MOVE", "d", "1"], step(int(0), 0, &[]));
    // COPY: `new` and copy_to in the destination db; REPLACE deletes silently first.
    r.check(
        &["COPY", "c", "e"],
        step(int(1), 1, &["0:new e", "0:copy_to e"]),
    );
    r.check(&["COPY", "c", "e"], step(int(0), 0, &[]));
    r.check(
        &["COPY", "c", "e", "REPLACE"],
        step(int(1), 1, &["0:new e", "0:copy_to e"]),
    );
    r.check(
        &["COPY", "c", "c", "DB", "2"],
        step(int(1), 1, &["2:new c", "2:copy_to c"]),
    );
    // TOUCH, OBJECT: reads.
    r.check(&["TOUCH", "c", "nope"], step(int(1), 0, &[]));
    r.check(&["OBJECT", "ENCODING", "c"], step(bulk("int"), 0, &[]));
    assert_eq!(
        r.aof(),
        strs(&[
            "SELECT 0",
            "SET a 1",
            "SET b 2",
            "DEL a b nope",
            "SET a 1",
            "SET b 2",
            "RENAME a b",
            "SET c 3",
            "RENAMENX b d",
            "MOVE d 1",
            "COPY c e",
            "COPY c e REPLACE",
            "COPY c c DB 2",
        ])
    );
}

#[test]
fn expire_family_and_persist() {
    let mut r = Rig::new("expire", &[]);
    r.run(&["SET", "c", "v"]);
    r.check(&["EXPIRE", "c", "100"], step(int(1), 1, &["0:expire c"]));
    let t1 = text(&r.read(&["PEXPIRETIME", "c"]));
    r.check(&["EXPIRE", "c", "100", "NX"], step(int(0), 0, &[]));
    r.check(
        &["EXPIRE", "c", "200", "GT"],
        step(int(1), 1, &["0:expire c"]),
    );
    let t2 = text(&r.read(&["PEXPIRETIME", "c"]));
    r.check(
        &["PEXPIRE", "c", "300000", "XX"],
        step(int(1), 1, &["0:expire c"]),
    );
    let t3 = text(&r.read(&["PEXPIRETIME", "c"]));
    r.check(
        &["EXPIREAT", "c", "4000000000"],
        step(int(1), 1, &["0:expire c"]),
    );
    r.check(
        &["PEXPIREAT", "c", "4000000000000", "LT"],
        step(int(0), 0, &[]),
    );
    r.check(
        &["PEXPIREAT", "c", "3999999999999", "LT"],
        step(int(1), 1, &["0:expire c"]),
    );
    r.check(&["EXPIRE", "nope", "10"], step(int(0), 0, &[]));
    r.check(&["PERSIST", "c"], step(int(1), 1, &["0:persist c"]));
    r.check(&["PERSIST", "c"], step(int(0), 0, &[]));
    r.check(&["PERSIST", "nope"], step(int(0), 0, &[]));
    // A deadline in the past deletes: `del`, logged as DEL.
    r.run(&["SET", "g", "v"]);
    r.check(&["EXPIRE", "g", "-1"], step(int(1), 1, &["0:del g"]));
    r.run(&["SET", "g", "v"]);
    r.check(
        &["PEXPIREAT", "g", "1000", "NX"],
        step(int(1), 1, &["0:del g"]),
    );
    // ... as UNLINK under lazyfree-lazy-expire.
    r.read(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    r.run(&["SET", "g", "v"]);
    r.check(&["EXPIREAT", "g", "1"], step(int(1), 1, &["0:del g"]));
    assert_eq!(
        r.aof(),
        vec![
            "SELECT 0".to_string(),
            "SET c v".into(),
            format!("PEXPIREAT c {t1}"),
            format!("PEXPIREAT c {t2} GT"),
            format!("PEXPIREAT c {t3} XX"),
            "PEXPIREAT c 4000000000000".into(),
            "PEXPIREAT c 3999999999999 LT".into(),
            "PERSIST c".into(),
            "SET g v".into(),
            "DEL g".into(),
            "SET g v".into(),
            "DEL g".into(),
            "SET g v".into(),
            "UNLINK g".into(),
        ]
    );
}

#[test]
fn flush_and_swapdb() {
    let mut r = Rig::new("flush", &[]);
    r.read(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    r.run(&["SET", "a", "1"]);
    r.run(&["SET", "b", "1", "PX", "1"]);
    r.srv.advance_clock(2);
    r.read(&["SELECT", "1"]);
    r.run(&["SET", "c", "1"]);
    r.read(&["SELECT", "0"]);
    // SWAPDB counts one change, even SWAPDB n n.
    r.check(&["SWAPDB", "0", "0"], step(ok(), 1, &[]));
    r.check(&["SWAPDB", "0", "1"], step(ok(), 1, &[]));
    r.check(&["SWAPDB", "1", "0"], step(ok(), 1, &[]));
    // FLUSHDB counts the keys removed, the expired one not yet reclaimed included, and is
    // logged even when there was nothing to remove.
    r.check(&["FLUSHDB"], step(ok(), 2, &[]));
    r.check(&["FLUSHDB"], step(ok(), 0, &[]));
    r.run(&["SET", "x", "1"]);
    r.check(&["FLUSHALL"], step(ok(), 2, &[]));
    r.check(&["FLUSHALL", "ASYNC"], step(ok(), 0, &[]));
    let aof = r.aof();
    let tail: Vec<&str> = aof.iter().map(String::as_str).skip(5).collect();
    assert_eq!(
        tail,
        [
            "SELECT 0",
            "SWAPDB 0 0",
            "SWAPDB 0 1",
            "SWAPDB 1 0",
            "FLUSHDB",
            "FLUSHDB",
            "SET x 1",
            "FLUSHALL",
            "FLUSHALL ASYNC"
        ],
        "{aof:?}"
    );
}

/// SWAPDB exchanges the data, not the databases' numbers: a key that expires after moving
/// to db 0 raises `expired` in db 0 and is logged as a DEL in db 0.
#[test]
fn expiry_after_swapdb_is_reported_in_the_right_db() {
    let mut r = Rig::new("swapexp", &[]);
    r.read(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    r.read(&["SELECT", "1"]);
    r.run(&["SET", "k", "v", "PX", "20"]);
    r.read(&["SELECT", "0"]);
    r.run(&["SWAPDB", "0", "1"]);
    r.srv.advance_clock(21);
    r.check(&["EXISTS", "k"], step(int(0), 0, &["0:expired k"]));
    let aof = r.aof();
    assert_eq!(
        aof[aof.len() - 3..],
        strs(&["SELECT 0", "SWAPDB 0 1", "DEL k"]),
        "{aof:?}"
    );
}

/// FLUSHDB / FLUSHALL make the WATCHers of live keys dirty (and only those), and SWAPDB
/// those of keys that exist in either database.
#[test]
fn flush_and_swapdb_and_watch() {
    let r = Rig::new("watch", &[]);
    let mut w = r.srv.raw();
    let mut o = r.srv.raw();
    o.cmd(&["SET", "live", "1"]);
    for flush in [&["FLUSHDB"][..], &["FLUSHALL"], &["FLUSHALL", "ASYNC"]] {
        o.cmd(&["SET", "live", "1"]);
        w.cmd(&["WATCH", "live", "missing"]);
        o.cmd(flush);
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        assert_eq!(w.cmd(&["EXEC"]), Frame::Null, "{flush:?}");
        w.cmd(&["WATCH", "missing"]);
        o.cmd(flush);
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        assert_eq!(
            w.cmd(&["EXEC"]),
            Frame::Array(vec![Frame::Simple("PONG".into())]),
            "{flush:?}"
        );
    }
    w.cmd(&["WATCH", "k"]);
    o.cmd(&["SWAPDB", "0", "0"]);
    w.cmd(&["MULTI"]);
    w.cmd(&["PING"]);
    assert_eq!(
        w.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
}

#[test]
fn bit_commands() {
    let mut r = Rig::new("bits", &[]);
    r.check(
        &["SETBIT", "b", "7", "1"],
        step(int(0), 1, &["0:new b", "0:setbit b"]),
    );
    // Setting a bit to the value it has changes nothing, unless the string grows.
    r.check(&["SETBIT", "b", "7", "1"], step(int(1), 0, &[]));
    r.check(&["SETBIT", "b", "7", "0"], step(int(1), 1, &["0:setbit b"]));
    r.check(&["SETBIT", "b", "3", "0"], step(int(0), 0, &[]));
    r.check(
        &["SETBIT", "b", "100", "0"],
        step(int(0), 1, &["0:setbit b"]),
    );
    r.check(
        &["SETBIT", "z", "0", "0"],
        step(int(0), 1, &["0:new z", "0:setbit z"]),
    );
    r.run(&["SET", "n", "12"]);
    r.check(&["SETBIT", "n", "0", "0"], step(int(0), 0, &[]));
    r.check(
        &["BITOP", "OR", "d", "b", "n"],
        step(int(13), 1, &["0:new d", "0:set d"]),
    );
    r.check(
        &["BITOP", "OR", "d", "b", "n"],
        step(int(13), 1, &["0:set d"]),
    );
    // An empty result deletes the destination, if there is one.
    r.check(
        &["BITOP", "AND", "d", "nope1", "nope2"],
        step(int(0), 1, &["0:del d"]),
    );
    r.check(
        &["BITOP", "AND", "d", "nope1", "nope2"],
        step(int(0), 0, &[]),
    );
    let arr = |v: &[Frame]| Frame::Array(v.to_vec());
    r.check(
        &["BITFIELD", "bf", "SET", "u8", "0", "255"],
        step(arr(&[int(0)]), 1, &["0:new bf", "0:setbit bf"]),
    );
    r.check(
        &["BITFIELD", "bf", "SET", "u8", "0", "255"],
        step(arr(&[int(255)]), 0, &[]),
    );
    // One change per write that changed its field; the string grew: every write counts.
    r.check(
        &[
            "BITFIELD", "bf", "SET", "u8", "0", "255", "INCRBY", "u8", "8", "1", "GET", "u8", "0",
        ],
        step(arr(&[int(255), int(1), int(255)]), 2, &["0:setbit bf"]),
    );
    r.check(
        &[
            "BITFIELD", "bf", "INCRBY", "u8", "8", "1", "SET", "u8", "0", "255",
        ],
        step(arr(&[int(2), int(255)]), 1, &["0:setbit bf"]),
    );
    r.check(
        &[
            "BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1",
        ],
        step(arr(&[null()]), 0, &[]),
    );
    // Writes that all fail still create the key (`new`), but change nothing: not logged,
    // as in Redis.
    r.check(
        &["BITFIELD", "bf2", "OVERFLOW", "FAIL", "SET", "u2", "0", "7"],
        step(arr(&[null()]), 0, &["0:new bf2"]),
    );
    r.check(
        &["BITFIELD", "bf", "GET", "u8", "0"],
        step(arr(&[int(255)]), 0, &[]),
    );
    r.check(
        &["BITFIELD_RO", "bf", "GET", "u8", "0"],
        step(arr(&[int(255)]), 0, &[]),
    );
    assert_eq!(
        r.aof(),
        strs(&[
            "SELECT 0",
            "SETBIT b 7 1",
            "SETBIT b 7 0",
            "SETBIT b 100 0",
            "SETBIT z 0 0",
            "SET n 12",
            "BITOP OR d b n",
            "BITOP OR d b n",
            "BITOP AND d nope1 nope2",
            "BITFIELD bf SET u8 0 255",
            "BITFIELD bf SET u8 0 255 INCRBY u8 8 1 GET u8 0",
            "BITFIELD bf INCRBY u8 8 1 SET u8 0 255",
        ])
    );
}

#[test]
fn sort_store() {
    let mut r = Rig::new("sort", &[]);
    assert_eq!(r.run(&["RPUSH", "l", "3", "1", "2"]).reply, int(3));
    r.check(
        &["SORT", "l", "STORE", "s"],
        step(int(3), 3, &["0:new s", "0:sortstore s"]),
    );
    r.check(
        &["SORT", "l", "STORE", "s"],
        step(int(3), 3, &["0:sortstore s"]),
    );
    r.check(
        &["SORT", "l", "LIMIT", "10", "10", "STORE", "s"],
        step(int(0), 1, &["0:del s"]),
    );
    r.check(
        &["SORT", "l", "LIMIT", "10", "10", "STORE", "s"],
        step(int(0), 0, &[]),
    );
    r.check(
        &["SORT", "l", "GET", "#", "GET", "nope*", "STORE", "s2"],
        step(int(6), 6, &["0:new s2", "0:sortstore s2"]),
    );
    r.check(
        &["SORT", "nope", "STORE", "l"],
        step(int(0), 1, &["0:del l"]),
    );
    r.check(
        &["SORT_RO", "s2", "BY", "nosort"],
        step(
            Frame::Array(
                ["1", "", "2", "", "3", ""]
                    .iter()
                    .map(|s| bulk(s))
                    .collect(),
            ),
            0,
            &[],
        ),
    );
    let aof = r.aof();
    assert_eq!(
        aof[aof.len() - 5..],
        strs(&[
            "SORT l STORE s",
            "SORT l STORE s",
            "SORT l LIMIT 10 10 STORE s",
            "SORT l GET # GET nope* STORE s2",
            "SORT nope STORE l",
        ]),
        "{aof:?}"
    );
}

#[test]
fn restore() {
    let mut r = Rig::new("restore", &[]);
    r.run(&["SET", "str", "hello"]);
    let Frame::Bulk(p) = r.read(&["DUMP", "str"]) else {
        panic!()
    };
    let restore = |r: &mut Rig, key: &str, ttl: &str, opts: &[&str]| {
        let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), &p];
        args.extend(opts.iter().map(|o| o.as_bytes()));
        r.run_raw(&args)
    };
    assert_eq!(
        restore(&mut r, "r1", "0", &[]),
        step(ok(), 1, &["0:new r1", "0:restore r1"])
    );
    assert_eq!(
        restore(&mut r, "r1", "0", &[]),
        step(
            Frame::Error("BUSYKEY Target key name already exists.".into()),
            0,
            &[]
        )
    );
    // REPLACE deletes the old key without an event of its own.
    assert_eq!(
        restore(&mut r, "r1", "0", &["REPLACE"]),
        step(ok(), 1, &["0:new r1", "0:restore r1"])
    );
    // A relative TTL is logged as the absolute deadline, with ABSTTL appended.
    assert_eq!(
        restore(&mut r, "r2", "100000", &["REPLACE", "IDLETIME", "10"]),
        step(ok(), 1, &["0:new r2", "0:restore r2"])
    );
    let t2 = text(&r.read(&["PEXPIRETIME", "r2"]));
    assert_eq!(
        restore(&mut r, "r3", "4000000000000", &["ABSTTL"]),
        step(ok(), 1, &["0:new r3", "0:restore r3"])
    );
    // A deadline in the past restores nothing; a key REPLACE deleted is that change.
    assert_eq!(
        restore(&mut r, "r3", "1000", &["ABSTTL", "REPLACE"]),
        step(ok(), 1, &["0:del r3"])
    );
    assert_eq!(
        restore(&mut r, "r4", "1000", &["ABSTTL"]),
        step(ok(), 0, &[])
    );
    assert_eq!(
        restore(&mut r, "r4", "1000", &["ABSTTL", "REPLACE"]),
        step(ok(), 0, &[])
    );
    r.read(&["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
    restore(&mut r, "r5", "0", &[]);
    assert_eq!(
        restore(&mut r, "r5", "1", &["ABSTTL", "REPLACE"]),
        step(ok(), 1, &["0:del r5"])
    );
    assert_eq!(
        r.aof(),
        vec![
            "SELECT 0".to_string(),
            "SET str hello".into(),
            "RESTORE r1 0 <bin>".into(),
            "RESTORE r1 0 <bin> REPLACE".into(),
            format!("RESTORE r2 {t2} <bin> REPLACE IDLETIME 10 ABSTTL"),
            "RESTORE r3 4000000000000 <bin> ABSTTL".into(),
            "DEL r3".into(),
            "RESTORE r5 0 <bin>".into(),
            "UNLINK r5".into(),
        ]
    );
}

#[test]
fn cl_throttle() {
    let mut r = Rig::new("throttle", &[]);
    let reply = |v: [i64; 5]| Frame::Array(v.iter().map(|&n| int(n)).collect());
    // Granted: one change, `new` when it creates the limiter, logged as SET ... PXAT.
    let s = r.run(&["CL.THROTTLE", "lim", "1", "1", "60"]);
    assert_eq!((s.dirty, s.events), (1, strs(&["0:new lim"])));
    let tat1 = text(&r.read(&["GET", "lim"]));
    let at1 = text(&r.read(&["PEXPIRETIME", "lim"]));
    let s = r.run(&["CL.THROTTLE", "lim", "1", "1", "60"]);
    assert_eq!((s.dirty, s.events.len()), (1, 0));
    let tat2 = text(&r.read(&["GET", "lim"]));
    let at2 = text(&r.read(&["PEXPIRETIME", "lim"]));
    // Refused, or quantity 0: nothing changed, nothing logged.
    let s = r.run(&["CL.THROTTLE", "lim", "1", "1", "60"]);
    assert_eq!((s.dirty, s.events.len()), (0, 0));
    let Frame::Array(v) = &s.reply else { panic!() };
    assert_eq!(v[0], int(1));
    let s = r.run(&["CL.THROTTLE", "lim2", "1", "1", "60", "0"]);
    assert_eq!(s, step(reply([0, 2, 2, -1, 0]), 0, &[]));
    assert_eq!(
        r.aof(),
        vec![
            "SELECT 0".to_string(),
            format!("SET lim {tat1} PXAT {at1}"),
            format!("SET lim {tat2} PXAT {at2}"),
        ]
    );
}

/// FUNCTION LOAD / DELETE / FLUSH / RESTORE are one change each and logged as given; SCRIPT
/// FLUSH is neither; EVAL and FCALL log only what their calls did.
#[test]
fn functions_and_scripts() {
    let mut r = Rig::new("functions", &[]);
    let lib = "#!lua name=lib1\nredis.register_function('f1', function(k) return redis.call('set', k[1], 'v') end)";
    r.check(&["FUNCTION", "LOAD", lib], step(bulk("lib1"), 1, &[]));
    let s = r.run(&["FUNCTION", "LOAD", lib]);
    assert_eq!(s.dirty, 0);
    r.check(
        &["FCALL", "f1", "1", "fk"],
        step(ok(), 1, &["0:new fk", "0:set fk"]),
    );
    let Frame::Bulk(dump) = r.read(&["FUNCTION", "DUMP"]) else {
        panic!()
    };
    r.check(&["FUNCTION", "DELETE", "lib1"], step(ok(), 1, &[]));
    let s = r.run(&["FUNCTION", "DELETE", "lib1"]);
    assert_eq!(s.dirty, 0);
    assert_eq!(
        r.run_raw(&[b"FUNCTION", b"RESTORE", &dump]),
        step(ok(), 1, &[])
    );
    r.check(&["FUNCTION", "FLUSH"], step(ok(), 1, &[]));
    r.check(&["FUNCTION", "FLUSH", "SYNC"], step(ok(), 1, &[]));
    r.check(&["SCRIPT", "FLUSH"], step(ok(), 0, &[]));
    r.check(
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'x') redis.call('expire', KEYS[1], 100) return 1",
            "1",
            "ek",
        ],
        step(int(1), 2, &["0:new ek", "0:set ek", "0:expire ek"]),
    );
    let at = text(&r.read(&["PEXPIRETIME", "ek"]));
    r.check(
        &["EVAL", "return redis.call('del', KEYS[1])", "1", "nope"],
        step(int(0), 0, &[]),
    );
    assert_eq!(
        r.aof(),
        vec![
            "SELECT 0".to_string(),
            "FUNCTION LOAD <bin>".into(),
            "set fk v".into(),
            "FUNCTION DELETE lib1".into(),
            "FUNCTION RESTORE <bin>".into(),
            "FUNCTION FLUSH".into(),
            "FUNCTION FLUSH SYNC".into(),
            "MULTI".into(),
            "set ek x".into(),
            format!("PEXPIREAT ek {at}"),
            "EXEC".into(),
        ]
    );
}

/// A FLUSHALL tells tracking clients to drop everything (a null invalidation), and a
/// granted CL.THROTTLE invalidates the limiter's key; a refused one does not.
#[test]
fn tracking_invalidations() {
    let r = Rig::new("tracking", &[]);
    let mut t = r.srv.raw();
    let Frame::Map(_) = t.cmd(&["HELLO", "3"]) else {
        panic!()
    };
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    let mut o = r.srv.raw();
    let limited = |f: Frame| match f {
        Frame::Array(v) => v[0] == int(1),
        other => panic!("{other:?}"),
    };
    assert!(!limited(o.cmd(&["CL.THROTTLE", "lim0", "0", "1", "60"])));
    t.cmd(&["GET", "lim0"]);
    // Refused: no invalidation, so the first push is FLUSHALL's.
    assert!(limited(o.cmd(&["CL.THROTTLE", "lim0", "0", "1", "60"])));
    o.cmd(&["FLUSHALL"]);
    assert_eq!(t.read(), Frame::Push(vec![bulk("invalidate"), Frame::Null]));
    assert!(!limited(o.cmd(&["CL.THROTTLE", "lim", "5", "1", "60"])));
    t.cmd(&["GET", "lim"]);
    assert!(!limited(o.cmd(&["CL.THROTTLE", "lim", "5", "1", "60"])));
    assert_eq!(
        t.read(),
        Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("lim")])])
    );
}

/// Reads that miss raise `keymiss` as Redis's lookupKeyRead does (OBJECT looks without
/// notifying; writes look without it too).
#[test]
fn read_misses_raise_keymiss() {
    let mut r = Rig::new("keymiss", &[]);
    assert_eq!(
        r.read(&["CONFIG", "SET", "notify-keyspace-events", "KEm"]),
        ok()
    );
    let miss = |k: &str| format!("0:keymiss {k}");
    for cmd in [
        &["TYPE", "nope"][..],
        &["TTL", "nope"],
        &["PEXPIRETIME", "nope"],
        &["TOUCH", "nope"],
        &["COPY", "nope", "x"],
        &["DUMP", "nope"],
        &["GETBIT", "nope", "0"],
        &["BITCOUNT", "nope"],
        &["BITPOS", "nope", "1"],
        &["BITFIELD", "nope", "GET", "u8", "0"],
        &["BITFIELD_RO", "nope", "GET", "u8", "0"],
        &["SORT", "nope"],
    ] {
        assert_eq!(r.run(cmd).events, vec![miss("nope")], "{cmd:?}");
    }
    assert_eq!(
        r.run(&["EXISTS", "nope", "nope2"]).events,
        vec![miss("nope"), miss("nope2")]
    );
    assert_eq!(
        r.run(&["BITOP", "AND", "d", "n1", "n2"]).events,
        vec![miss("n1"), miss("n2")]
    );
    // SORT's BY and GET patterns read their keys as lookupKeyRead does.
    r.run(&["RPUSH", "l", "1", "2"]);
    assert_eq!(
        r.run(&["SORT", "l", "BY", "w_*", "GET", "#", "GET", "g_*", "GET", "h_*->f"])
            .events,
        ["w_1", "w_2", "g_1", "h_1", "g_2", "h_2"].map(miss)
    );
    for cmd in [
        &["OBJECT", "ENCODING", "nope"][..],
        &["OBJECT", "FREQ", "nope"],
        &["RENAME", "nope", "y"],
        &["DEL", "nope"],
        &["EXPIRE", "nope", "1"],
        &["PERSIST", "nope"],
        &["MOVE", "nope", "1"],
        &["SETBIT", "nope", "0", "0"],
        &["RESTORE", "nope", "0", "junk"],
        &["CL.THROTTLE", "lim", "1", "1", "1"],
    ] {
        assert_eq!(r.run(cmd).events, Vec::<String>::new(), "{cmd:?}");
    }
}

/// Every flush empties the tracking table, as Redis's trackingInvalidateKeysOnFlush, also
/// when no client tracks any more (keys read while tracking stay in the table until then).
#[test]
fn flush_empties_the_tracking_table_without_tracking_clients() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let items = |c: &mut RawConn| {
        let info = text(&c.cmd(&["INFO", "stats"]));
        info.split("\r\n")
            .find_map(|l| l.strip_prefix("tracking_total_items:"))
            .unwrap()
            .to_string()
    };
    for flush in ["FLUSHALL", "FLUSHDB"] {
        c.cmd(&["SET", "k", "v"]);
        assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on"]), ok());
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
        assert_eq!(c.cmd(&["CLIENT", "TRACKING", "off"]), ok());
        assert_eq!(items(&mut c), "1", "{flush}");
        assert_eq!(c.cmd(&[flush]), ok());
        assert_eq!(items(&mut c), "0", "{flush}");
    }
}
