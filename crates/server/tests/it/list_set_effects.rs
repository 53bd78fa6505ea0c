//! Effects of the list, set and blocking commands, as their handlers record them (Redis
//! 7.2's t_list.c, t_set.c, blocked.c): keyspace events in Redis's order, the changes
//! counter (`rdb_changes_since_last_save`, Redis's `dirty`, per element where Redis counts
//! per element), what reaches the AOF (LMPOP and served blocking pops as LPOP/RPOP, SPOP as
//! SREM batches or DEL, no-ops not at all), WATCH and tracking for pops served to blocked
//! clients.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, int, ok, text, RawConn, TestServer};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A pattern subscriber to every keyevent channel of db 0, and a command client.
fn subscribed(srv: &TestServer, flags: &str) -> (RawConn, RawConn) {
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        ok()
    );
    let mut s = srv.raw();
    s.psubscribe("__keyevent@0__:*");
    (s, c)
}

/// Reads keyevents ("event key") until the `del` of the marker key, which `end_marker`
/// causes with list commands only (so these tests depend on no other family).
fn events_until_marker(s: &mut RawConn) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let (channel, key) = s.read_message();
        let e = format!("{} {key}", channel.trim_start_matches("__keyevent@0__:"));
        if e.ends_with(" marker") {
            if e == "del marker" {
                return seen;
            }
            continue;
        }
        seen.push(e);
    }
}

fn end_marker(c: &mut RawConn) {
    c.cmd(&["RPUSH", "marker", "x"]);
    c.cmd(&["LPOP", "marker"]);
}

/// Runs `cmds` and returns the keyevents they published.
fn events(s: &mut RawConn, c: &mut RawConn, cmds: &[&[&str]]) -> Vec<String> {
    for cmd in cmds {
        c.cmd(cmd);
    }
    end_marker(c);
    events_until_marker(s)
}

fn info_field(c: &mut RawConn, section: &str, name: &str) -> i64 {
    let info = text(&c.cmd(&["INFO", section]));
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

fn changes(c: &mut RawConn) -> i64 {
    info_field(c, "persistence", "rdb_changes_since_last_save")
}

fn wait_blocked(c: &mut RawConn, n: i64) {
    c.wait_blocked(n as usize);
}

fn send(c: &mut RawConn, words: &[&str]) {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    c.send(&args);
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

fn aof_server() -> (TestServer, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "cinnabar-lsfx-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let srv = TestServer::with_args(&[
        ("dir", &d),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ]);
    srv.wait_loaded();
    (srv, dir)
}

/// The commands of the incremental AOF file, as words (SELECT left out).
fn aof_commands(dir: &Path) -> Vec<String> {
    let data = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let mut at = 0;
    let mut out = Vec::new();
    while at < data.len() {
        let (frame, n) = Frame::parse(&data[at..]).unwrap().unwrap();
        at += n;
        let Frame::Array(words) = frame else { panic!() };
        let line: Vec<String> = words.iter().map(text).collect();
        if !line[0].eq_ignore_ascii_case("select") {
            out.push(line.join(" "));
        }
    }
    out
}

/// A string write whose reply waits (appendfsync always) until everything logged before it
/// is in the file.
fn sync_point(c: &mut RawConn) {
    assert_eq!(c.cmd(&["SET", "sync", "1"]), ok());
}

// ---------------------------------------------------------------------------------------
// Keyspace events
// ---------------------------------------------------------------------------------------

/// Lists, with Redis's order: `new` before the command's event, `del` after it; LMOVE
/// raises the destination's events (new, push) before the source's (pop, del); LTRIM and
/// LREM that empty the list delete it; LTRIM raises its event even when it trims nothing;
/// no-ops raise nothing.
#[test]
fn list_events_in_redis_order() {
    let srv = TestServer::start();
    let (mut s, mut c) = subscribed(&srv, "Elgn");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["RPUSH", "l", "a"],
            &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
            &["LMOVE", "l2", "l2", "LEFT", "RIGHT"],
            &["LPUSHX", "l", "x"],
            &["RPUSHX", "l2", "b", "c"],
            &["LTRIM", "l2", "0", "-1"],
            &["LTRIM", "l2", "5", "6"],
            &["RPUSH", "r", "x", "x", "y"],
            &["LREM", "r", "0", "x"],
            &["LREM", "r", "0", "zz"],
            &["LREM", "r", "0", "y"],
            &["RPUSH", "m", "1", "2", "3"],
            &["LMPOP", "2", "none", "m", "RIGHT", "COUNT", "2"],
            &["LMPOP", "1", "m", "LEFT"],
            &["LMPOP", "1", "m", "LEFT"],
            &["LPOP", "m", "0"],
            &["RPUSH", "p", "1", "2"],
            &["LINSERT", "p", "BEFORE", "1", "0"],
            &["LINSERT", "p", "BEFORE", "zz", "0"],
            &["LSET", "p", "0", "x"],
            &["LPOP", "p", "0"],
            &["RPOP", "p", "10"],
            &["LINSERT", "p", "BEFORE", "1", "0"],
            &["LSET", "p", "0", "x"],
        ],
    );
    assert_eq!(
        got,
        [
            "new l",
            "rpush l",
            "new l2",
            "rpush l2",
            "lpop l",
            "del l",
            "rpush l2",
            "lpop l2",
            "rpush l2",
            "ltrim l2",
            "ltrim l2",
            "del l2",
            "new r",
            "rpush r",
            "lrem r",
            "lrem r",
            "del r",
            "new m",
            "rpush m",
            "rpop m",
            "lpop m",
            "del m",
            "new p",
            "rpush p",
            "linsert p",
            "lset p",
            "rpop p",
            "del p",
        ]
    );
}

/// Sets: SADD/SREM only when something changed; SPOP raises spop (and del when it takes
/// the last members); SMOVE raises srem/del of the source, then new/sadd of the
/// destination; the STORE commands raise their event, or del when an empty result deletes
/// the destination (nothing when there was none).
#[test]
fn set_events_in_redis_order() {
    let srv = TestServer::start();
    let (mut s, mut c) = subscribed(&srv, "Esgn");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["SADD", "s", "a", "b", "c"],
            &["SADD", "s", "a"],
            &["SPOP", "s"],
            &["SPOP", "s", "0"],
            &["SPOP", "s", "1"],
            &["SPOP", "s", "5"],
            &["SPOP", "s"],
            &["SADD", "a", "1", "2"],
            &["SMOVE", "a", "b", "1"],
            &["SMOVE", "a", "b", "2"],
            &["SUNIONSTORE", "u", "b", "none"],
            &["SDIFFSTORE", "u", "b", "b"],
            &["SDIFFSTORE", "u", "b", "b"],
            &["SINTERSTORE", "i", "b", "b"],
            &["SINTERSTORE", "i", "b", "none"],
            &["SINTERCARD", "1", "b"],
            &["SREM", "b", "1", "2", "3"],
        ],
    );
    assert_eq!(
        got,
        [
            "new s",
            "sadd s",
            "spop s",
            "spop s",
            "spop s",
            "del s",
            "new a",
            "sadd a",
            "srem a",
            "new b",
            "sadd b",
            "srem a",
            "del a",
            "sadd b",
            "new u",
            "sunionstore u",
            "del u",
            "new i",
            "sinterstore i",
            "del i",
            "srem b",
            "del b",
        ]
    );
}

/// A pop served to a blocked client raises its events once, when served (the blocked
/// attempt on the missing key raises nothing); BLMOVE raises the destination's push before
/// the source's pop.
#[test]
fn served_blocking_pops_raise_their_events_once() {
    let srv = TestServer::start();
    let (mut s, mut c) = subscribed(&srv, "Elgn");
    let mut w = srv.raw();
    send(
        &mut w,
        &["BLMPOP", "0", "2", "q0", "q", "RIGHT", "COUNT", "5"],
    );
    wait_blocked(&mut c, 1);
    c.cmd(&["RPUSH", "q", "a", "b"]);
    assert_eq!(
        w.read(),
        Frame::Array(vec![bulk("q"), Frame::Array(vec![bulk("b"), bulk("a")])])
    );
    send(&mut w, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["LPUSH", "src", "x"]);
    assert_eq!(w.read(), bulk("x"));
    // Served at once: the same events.
    c.cmd(&["BLPOP", "none", "dst", "0"]);
    end_marker(&mut c);
    assert_eq!(
        events_until_marker(&mut s),
        [
            "new q",
            "rpush q",
            "rpop q",
            "del q",
            "new src",
            "lpush src",
            "new dst",
            "lpush dst",
            "lpop src",
            "del src",
            "lpop dst",
            "del dst",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Changes since the last save (Redis's dirty)
// ---------------------------------------------------------------------------------------

/// Each command adds what Redis's handler adds to `dirty`: per element pushed, popped,
/// removed, trimmed or added; one per LSET/LINSERT/LMOVE and per stored result; SMOVE one,
/// or two when the destination gained the member; nothing for no-ops.
#[test]
fn changes_count_as_redis_dirty() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let cases: &[(&[&str], i64)] = &[
        (&["RPUSH", "l", "a", "b", "c", "d", "e"], 5),
        (&["LPUSH", "l", "x", "y"], 2),
        (&["LPUSHX", "nol", "x", "y"], 0),
        (&["RPUSHX", "l", "z"], 1),
        (&["LPOP", "l", "3"], 3),
        (&["RPOP", "l"], 1),
        (&["LPOP", "l", "0"], 0),
        (&["LPOP", "nol"], 0),
        (&["LSET", "l", "0", "v"], 1),
        (&["LINSERT", "l", "AFTER", "v", "w"], 1),
        (&["LINSERT", "l", "AFTER", "zz", "w"], 0),
        (&["RPUSH", "l", "w", "w"], 2),
        (&["LREM", "l", "0", "w"], 3),
        (&["LREM", "l", "0", "zz"], 0),
        (&["RPUSH", "l", "1", "2", "3", "4"], 4),
        (&["LTRIM", "l", "1", "-2"], 2),
        (&["LTRIM", "l", "0", "-1"], 0),
        (&["LMOVE", "l", "l2", "LEFT", "LEFT"], 1),
        (&["RPOPLPUSH", "l", "l"], 1),
        (&["LMPOP", "2", "nol", "l", "LEFT", "COUNT", "10"], 5),
        (&["LMPOP", "1", "nol", "LEFT"], 0),
        (&["BLPOP", "l2", "0"], 1),
        (&["SADD", "s", "a", "b", "c", "d", "e"], 5),
        (&["SADD", "s", "a", "f"], 1),
        (&["SREM", "s", "a", "zz", "b"], 2),
        (&["SREM", "s", "zz"], 0),
        (&["SPOP", "s"], 1),
        (&["SPOP", "s", "0"], 0),
        (&["SPOP", "s", "2"], 2),
        (&["SPOP", "nos", "2"], 0),
        (&["SADD", "s", "1", "2", "3"], 3),
        (&["SADD", "t", "1"], 1),
        (&["SMOVE", "s", "t", "1"], 1),
        (&["SMOVE", "s", "t", "2"], 2),
        (&["SMOVE", "s", "t", "zz"], 0),
        (&["SMOVE", "t", "t", "1"], 0),
        (&["SUNIONSTORE", "u", "s", "t"], 1),
        (&["SINTERSTORE", "u", "s", "none"], 1),
        (&["SINTERSTORE", "u", "s", "none"], 0),
        (&["SDIFFSTORE", "u", "t", "s"], 1),
        (&["SINTERCARD", "2", "s", "t"], 0),
        (&["SPOP", "t", "10"], 2),
    ];
    for &(cmd, want) in cases {
        let before = changes(&mut c);
        let reply = c.cmd(cmd);
        assert!(!matches!(reply, Frame::Error(_)), "{cmd:?}: {reply:?}");
        assert_eq!(changes(&mut c) - before, want, "{cmd:?}");
    }
}

/// A blocking pop counts once, when served: BLMPOP counts the elements it pops.
#[test]
fn served_blocking_pops_count_once() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    let before = changes(&mut c);
    send(&mut w, &["BLMPOP", "0", "1", "q", "LEFT", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    assert_eq!(changes(&mut c), before);
    c.cmd(&["RPUSH", "q", "a", "b", "c"]);
    assert_eq!(
        w.read(),
        Frame::Array(vec![bulk("q"), Frame::Array(vec![bulk("a"), bulk("b")])])
    );
    assert_eq!(changes(&mut c) - before, 3 + 2);
}

// ---------------------------------------------------------------------------------------
// Propagation (the AOF)
// ---------------------------------------------------------------------------------------

/// LMPOP and the blocking pops are logged as Redis 7.2 propagates them, served at once or
/// later: BLPOP/BRPOP as LPOP/RPOP key, LMPOP/BLMPOP as LPOP/RPOP key count (the count
/// popped), BLMOVE as LMOVE, BRPOPLPUSH as RPOPLPUSH. Writes that change nothing (and a
/// blocking pop that blocks) are not logged.
#[test]
fn list_pops_are_logged_as_redis_propagates_them() {
    let (srv, dir) = aof_server();
    let mut c = srv.raw();
    let mut w = srv.raw();
    for cmd in [
        &["RPUSH", "l", "a", "b", "c", "d", "e", "f"][..],
        &["LMPOP", "2", "none", "l", "RIGHT", "COUNT", "2"],
        &["LMPOP", "1", "none", "LEFT"],
        &["BLPOP", "none", "l", "0"],
        &["BRPOP", "l", "0"],
        &["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "9"],
        &["RPUSH", "l", "x", "y"],
        &["BLMOVE", "l", "m", "LEFT", "RIGHT", "0"],
        &["BRPOPLPUSH", "l", "m", "0"],
        // No-ops.
        &["LPOP", "none"],
        &["LPOP", "m", "0"],
        &["LPUSHX", "none", "a"],
        &["LREM", "m", "0", "zz"],
        &["LTRIM", "m", "0", "-1"],
        &["LINSERT", "m", "BEFORE", "zz", "a"],
        &["LMOVE", "none", "m", "LEFT", "LEFT"],
    ] {
        let reply = c.cmd(cmd);
        assert!(!matches!(reply, Frame::Error(_)), "{cmd:?}: {reply:?}");
    }
    // Served later.
    for (block, push) in [
        (&["BLPOP", "q", "0"][..], &["RPUSH", "q", "1", "2"][..]),
        (
            &["BLMPOP", "0", "1", "q2", "RIGHT", "COUNT", "5"],
            &["RPUSH", "q2", "1", "2"],
        ),
        (
            &["BLMOVE", "q3", "m", "RIGHT", "LEFT", "0"],
            &["RPUSH", "q3", "1"],
        ),
        (&["BRPOPLPUSH", "q4", "m", "0"], &["RPUSH", "q4", "1"]),
    ] {
        send(&mut w, block);
        wait_blocked(&mut c, 1);
        c.cmd(push);
        assert!(!matches!(w.read(), Frame::Error(_) | Frame::Null));
    }
    sync_point(&mut c);
    assert_eq!(
        aof_commands(&dir),
        [
            "RPUSH l a b c d e f",
            "RPOP l 2",
            "LPOP l",
            "RPOP l",
            "LPOP l 2",
            "RPUSH l x y",
            "LMOVE l m LEFT RIGHT",
            "RPOPLPUSH l m",
            "RPUSH q 1 2",
            "LPOP q",
            "RPUSH q2 1 2",
            "RPOP q2 2",
            "RPUSH q3 1",
            "LMOVE q3 m RIGHT LEFT",
            "RPUSH q4 1",
            "RPOPLPUSH q4 m",
            "SET sync 1",
        ]
    );
}

/// SPOP is logged as what it did: one member as SREM key member; a count smaller than the
/// set as SREMs of up to 1024 members (the SPOP itself not at all; several SREMs are one
/// transaction); the whole set as DEL.
/// SADD/SREM/SMOVE that change nothing are not logged; STORE commands are logged as given.
#[test]
fn spop_and_set_writes_are_logged_as_redis_propagates_them() {
    let (srv, dir) = aof_server();
    let mut c = srv.raw();
    let members: Vec<String> = (0..1030).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "big"];
    sadd.extend(members.iter().map(|s| s.as_str()));
    c.cmd(&sadd);
    let (Frame::Set(popped) | Frame::Array(popped)) = c.cmd(&["SPOP", "big", "1025"]) else {
        panic!()
    };
    assert_eq!(popped.len(), 1025);
    let one = text(&c.cmd(&["SPOP", "big"]));
    let (Frame::Set(rest) | Frame::Array(rest)) = c.cmd(&["SPOP", "big", "10"]) else {
        panic!()
    };
    assert_eq!(rest.len(), 4);
    for cmd in [
        &["SADD", "s", "a", "b"][..],
        &["SADD", "s", "a"],
        &["SREM", "s", "zz"],
        &["SMOVE", "s", "s", "a"],
        &["SMOVE", "none", "s", "a"],
        &["SPOP", "none"],
        &["SPOP", "s", "0"],
        &["SINTERSTORE", "d", "none"],
        &["SUNIONSTORE", "d", "s"],
        &["SINTERSTORE", "d", "none"],
    ] {
        c.cmd(cmd);
    }
    sync_point(&mut c);
    let log = aof_commands(&dir);
    assert_eq!(log.len(), 11, "{log:?}");
    assert!(log[0].starts_with("SADD big m0 m1 "));
    // Two SREMs from one command: one unit, so a transaction (propagatePendingCommands).
    let srem: Vec<String> = popped.iter().map(text).collect();
    assert_eq!(log[1], "MULTI");
    assert_eq!(log[2], format!("SREM big {}", srem[..1024].join(" ")));
    assert_eq!(log[3], format!("SREM big {}", srem[1024]));
    assert_eq!(log[4], "EXEC");
    assert_eq!(log[5], format!("SREM big {one}"));
    assert_eq!(
        &log[6..],
        [
            "DEL big",
            "SADD s a b",
            "SUNIONSTORE d s",
            "SINTERSTORE d none",
            "SET sync 1"
        ]
    );
}

/// Redis 7.2's "LMPOP propagate as pop with count command to replica" and "BLMPOP
/// propagate as pop with count command to replica" (unit/type/list), read from the AOF.
#[test]
fn lmpop_and_blmpop_propagate_as_pop_with_count() {
    let (srv, dir) = aof_server();
    let mut r = srv.raw();
    let mut rd = srv.raw();
    for cmd in [
        &["LPUSH", "mylist", "a", "b", "c"][..],
        &["LMPOP", "1", "mylist", "LEFT", "COUNT", "1"],
        &["LMPOP", "1", "mylist", "RIGHT", "COUNT", "1"],
        &["LMPOP", "2", "mylist", "mylist2", "LEFT", "COUNT", "10"],
        &["LMPOP", "2", "mylist", "mylist2", "LEFT", "COUNT", "10"],
        &["RPUSH", "mylist2", "1", "2", "3"],
        &["LMPOP", "2", "mylist", "mylist2", "LEFT", "COUNT", "2"],
        &["LMPOP", "2", "mylist", "mylist2", "RIGHT", "COUNT", "1"],
        &["RPUSH", "mylist", "a", "b", "c"],
        &["RPUSH", "mylist2", "1", "2", "3"],
        &["LMPOP", "2", "mylist", "mylist2", "LEFT", "COUNT", "10"],
        &["LMPOP", "2", "mylist", "mylist2", "RIGHT", "COUNT", "10"],
        // BLMPOP without being blocked.
        &["LPUSH", "bl", "a", "b", "c"],
        &["RPUSH", "bl2", "1", "2", "3"],
        &["BLMPOP", "0", "1", "bl", "LEFT", "COUNT", "1"],
        &["BLMPOP", "0", "2", "bl", "bl2", "RIGHT", "COUNT", "10"],
        &["BLMPOP", "0", "2", "bl", "bl2", "RIGHT", "COUNT", "10"],
    ] {
        r.cmd(cmd);
    }
    // BLMPOP that gets blocked.
    for (block, push) in [
        (
            &["BLMPOP", "0", "1", "bl", "LEFT", "COUNT", "1"][..],
            &["LPUSH", "bl", "a"][..],
        ),
        (
            &["BLMPOP", "0", "2", "bl", "bl2", "LEFT", "COUNT", "5"],
            &["LPUSH", "bl", "a", "b", "c"],
        ),
        (
            &["BLMPOP", "0", "2", "bl", "bl2", "RIGHT", "COUNT", "10"],
            &["RPUSH", "bl2", "a", "b", "c"],
        ),
    ] {
        send(&mut rd, block);
        wait_blocked(&mut r, 1);
        r.cmd(push);
        rd.read();
    }
    // Released on timeout: nothing propagated.
    assert_eq!(
        r.cmd(&["BLMPOP", "0.01", "1", "bl", "LEFT", "COUNT", "10"]),
        Frame::Null
    );
    sync_point(&mut r);
    assert_eq!(
        aof_commands(&dir),
        [
            "LPUSH mylist a b c",
            "LPOP mylist 1",
            "RPOP mylist 1",
            "LPOP mylist 1",
            "RPUSH mylist2 1 2 3",
            "LPOP mylist2 2",
            "RPOP mylist2 1",
            "RPUSH mylist a b c",
            "RPUSH mylist2 1 2 3",
            "LPOP mylist 3",
            "RPOP mylist2 3",
            "LPUSH bl a b c",
            "RPUSH bl2 1 2 3",
            "LPOP bl 1",
            "RPOP bl 2",
            "RPOP bl2 3",
            "LPUSH bl a",
            "LPOP bl 1",
            "LPUSH bl a b c",
            "LPOP bl 3",
            "RPUSH bl2 a b c",
            "RPOP bl2 3",
            "SET sync 1",
        ]
    );
}

/// Redis 7.2's "Command being unblocked cause another command to get unblocked execution
/// order test": a served BLMOVE that makes another waiter's key ready serves it at once,
/// before the next pipelined command.
#[test]
fn unblocked_command_unblocking_another_runs_before_the_next_command() {
    let (srv, dir) = aof_server();
    let mut r = srv.raw();
    let mut rd1 = srv.raw();
    let mut rd2 = srv.raw();
    let mut rd3 = srv.raw();
    send(&mut rd1, &["BLMOVE", "src", "dst", "left", "right", "0"]);
    wait_blocked(&mut r, 1);
    send(&mut rd2, &["BLMOVE", "dst", "src", "right", "left", "0"]);
    wait_blocked(&mut r, 2);
    rd3.send_raw(b"set key1 value1\r\nlpush src dummy\r\nset key2 value2\r\n");
    assert_eq!(rd3.read(), ok());
    assert_eq!(rd3.read(), int(1));
    assert_eq!(rd3.read(), ok());
    assert_eq!(rd1.read(), bulk("dummy"));
    assert_eq!(rd2.read(), bulk("dummy"));
    r.cmd(&["SET", "key3", "value3"]);
    sync_point(&mut r);
    assert_eq!(
        aof_commands(&dir),
        [
            "set key1 value1",
            "lpush src dummy",
            "LMOVE src dst left right",
            "LMOVE dst src right left",
            "set key2 value2",
            "SET key3 value3",
            "SET sync 1",
        ]
    );
}

/// Redis 7.2's "SPOP new implementation: code path #1 propagate as DEL or UNLINK".
#[test]
fn spop_of_the_whole_set_propagates_as_del_or_unlink() {
    let (srv, dir) = aof_server();
    let mut r = srv.raw();
    r.cmd(&["SADD", "myset1", "1", "2", "3", "4", "5"]);
    let many: Vec<String> = (1..=65).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "myset2"];
    sadd.extend(many.iter().map(|s| s.as_str()));
    r.cmd(&sadd);
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "lazyfree-lazy-server-del", "no"]),
        ok()
    );
    r.cmd(&["SPOP", "myset1", "5"]);
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]),
        ok()
    );
    r.cmd(&["SPOP", "myset2", "65"]);
    assert_eq!(r.cmd(&["EXISTS", "myset1", "myset2"]), int(0));
    sync_point(&mut r);
    let log = aof_commands(&dir);
    assert_eq!(&log[2..], ["DEL myset1", "UNLINK myset2", "SET sync 1"]);
}

// ---------------------------------------------------------------------------------------
// WATCH and tracking for served pops
// ---------------------------------------------------------------------------------------

/// The push a served BLMOVE makes into its destination touches the destination's
/// watchers (the pusher only named the source).
#[test]
fn served_blmove_touches_watchers_of_its_destination() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    let mut p = srv.raw();
    assert_eq!(c.cmd(&["WATCH", "dst"]), ok());
    send(&mut w, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "src", "x"]);
    assert_eq!(w.read(), bulk("x"));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
}

/// Redis's "Unblocked BLMOVE gets notification after response": a tracking client served
/// a BLMOVE gets its reply, then the invalidation of the destination it had read.
#[test]
fn unblocked_blmove_gets_its_invalidation_after_the_reply() {
    let srv = TestServer::start();
    let mut rd = srv.raw();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "list2", "a"]);
    rd.cmd(&["HELLO", "3"]);
    assert_eq!(rd.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    rd.cmd(&["LRANGE", "list2", "0", "-1"]);
    send(&mut rd, &["BLMOVE", "list1", "list2", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut r, 1);
    r.cmd(&["RPUSH", "list1", "foo"]);
    assert_eq!(rd.read(), bulk("foo"));
    assert_eq!(
        rd.read(),
        Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("list2")])])
    );
}

// ---------------------------------------------------------------------------------------
// Sorted-set blocking pops (their non-blocking forms, ZPOPMIN/ZMPOP, record the effects)
// ---------------------------------------------------------------------------------------

/// BZPOPMIN/BZPOPMAX propagate as ZPOPMIN/ZPOPMAX key and BZMPOP as ZPOPMIN/ZPOPMAX key
/// count, served at once or later; their events and changes are ZPOPMIN's, once.
#[test]
fn zset_blocking_pops_are_logged_as_redis_propagates_them() {
    let (srv, dir) = aof_server();
    let mut c = srv.raw();
    let mut w = srv.raw();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    c.cmd(&["BZPOPMIN", "none", "z", "0"]);
    c.cmd(&["BZPOPMAX", "z", "0"]);
    let before = changes(&mut c);
    c.cmd(&["BZMPOP", "0", "2", "none", "z", "MIN", "COUNT", "5"]);
    assert_eq!(changes(&mut c) - before, 2);
    send(&mut w, &["BZPOPMAX", "q", "0"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["ZADD", "q", "1", "x", "2", "y"]);
    assert_eq!(
        w.read(),
        Frame::Array(vec![bulk("q"), bulk("y"), bulk("2")])
    );
    send(&mut w, &["BZMPOP", "0", "1", "q2", "MIN", "COUNT", "3"]);
    wait_blocked(&mut c, 1);
    c.cmd(&["ZADD", "q2", "3", "z", "4", "zz"]);
    w.read();
    sync_point(&mut c);
    assert_eq!(
        aof_commands(&dir),
        [
            "ZADD z 1 a 2 b 3 c 4 d",
            "ZPOPMIN z",
            "ZPOPMAX z",
            "ZPOPMIN z 2",
            "ZADD q 1 x 2 y",
            "ZPOPMAX q",
            "ZADD q2 3 z 4 zz",
            "ZPOPMIN q2 2",
            "SET sync 1",
        ]
    );
}
