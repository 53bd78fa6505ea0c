//! Streams and persistence: what the stream commands propagate to the AOF (Redis 7.2's
//! rewrites: generated IDs, exact trims, XREADGROUP/XCLAIM/XAUTOCLAIM as XCLAIM ... FORCE
//! JUSTID LASTID, XGROUP SETID / CREATECONSUMER), AOF replay of a stream workload, and RDB
//! (SAVE + restart, DEBUG RELOAD) and DUMP/RESTORE round trips.

use crate::streams_common;

use std::path::Path;
use std::sync::atomic::Ordering;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, ok, temp_dir, RawConn, TestServer};
use streams_common::*;

/// A server in `dir`, loading is finished when this returns.
fn start(dir: &Path, extra: &[(&str, &str)]) -> TestServer {
    let d = dir.to_str().unwrap().to_string();
    let mut args: Vec<(&str, &str)> = vec![("dir", &d)];
    args.extend_from_slice(extra);
    let srv = TestServer::with_args(&args);
    wait_until("loading to finish", || {
        !srv.handle.server.persist.is_loading()
    });
    srv
}

fn start_aof(dir: &Path) -> TestServer {
    start(
        dir,
        &[
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("stream-node-max-entries", "4"),
        ],
    )
}

/// The commands of the incremental AOF file, as words (SELECT lines dropped).
fn aof_commands(dir: &Path) -> Vec<String> {
    let bytes = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (frame, n) = Frame::parse(&bytes[at..])
            .expect("valid RESP in the AOF")
            .expect("complete command");
        at += n;
        let words = words_of(frame).join(" ");
        if !words.starts_with("SELECT") {
            out.push(words);
        }
    }
    out
}

/// Runs `cmds` and returns what they appended to the AOF.
fn logged(r: &mut RawConn, dir: &Path, cmds: &[&str]) -> Vec<String> {
    let before = aof_commands(dir).len();
    for cmd in cmds {
        c(r, cmd);
    }
    aof_commands(dir).split_off(before)
}

/// The delivery time XPENDING would show for `id` as an absolute time is not visible; read
/// it from XINFO STREAM FULL's group PEL instead.
fn delivery_time(r: &mut RawConn, key: &str, group: &str, id: &str) -> i64 {
    let full = info_map(c(r, &format!("XINFO STREAM {key} FULL")));
    let Frame::Array(groups) = full["groups"].clone() else {
        panic!()
    };
    for g in groups {
        let g = info_map(g);
        if g["name"] != bulk(group) {
            continue;
        }
        let Frame::Array(pel) = g["pending"].clone() else {
            panic!()
        };
        for row in pel {
            let Frame::Array(cols) = row else { panic!() };
            if cols[0] == bulk(id) {
                let Frame::Integer(t) = cols[2] else { panic!() };
                return t;
            }
        }
    }
    panic!("{id} not pending in {key}/{group}")
}

#[test]
fn xadd_and_xtrim_are_logged_deterministically() {
    let dir = temp_dir("xadd");
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    c(&mut r, "CONFIG SET stream-node-max-entries 10");
    // `*` and `ms-*` are logged as the ID they generated.
    let id = text_of(&c(&mut r, "XADD s * a 1"));
    assert_eq!(
        aof_commands(&dir).last().unwrap(),
        &format!("XADD s {id} a 1")
    );
    assert_eq!(
        logged(
            &mut r,
            &dir,
            &["XADD t 5-* a 1", "XADD t 5-* a 2", "XADD t 6 a 3"]
        ),
        ["XADD t 5-0 a 1", "XADD t 5-1 a 2", "XADD t 6 a 3"]
    );
    // `~` is logged as the exact trim it amounted to, with the options around kept.
    for i in 1..=30 {
        c(&mut r, &format!("XADD big {i} f v"));
    }
    assert_eq!(
        logged(&mut r, &dir, &["XADD big NOMKSTREAM MAXLEN ~ 15 31-* f v"]),
        ["XADD big NOMKSTREAM MAXLEN = 21 31-0 f v"]
    );
    assert_eq!(
        logged(&mut r, &dir, &["XADD big MAXLEN ~ 1 LIMIT 10 32 f v"]),
        ["XADD big MAXLEN = 12 LIMIT 10 32 f v"]
    );
    assert_eq!(
        logged(&mut r, &dir, &["XADD big MINID ~ 25 33 f v"]),
        ["XADD big MINID = 21-0 33 f v"]
    );
    // Exact trims are logged as given.
    assert_eq!(
        logged(&mut r, &dir, &["XADD big MAXLEN 5 34 f v"]),
        ["XADD big MAXLEN 5 34 f v"]
    );
    assert_eq!(
        logged(&mut r, &dir, &["XTRIM big MAXLEN 3", "XTRIM big MAXLEN 3"]),
        ["XTRIM big MAXLEN 3"]
    );
    for i in 40..=80 {
        c(&mut r, &format!("XADD big {i} f v"));
    }
    let got = logged(
        &mut r,
        &dir,
        &["XTRIM big MAXLEN ~ 5", "XTRIM big MAXLEN ~ 5"],
    );
    let len = text_of(&c(&mut r, "XLEN big"));
    assert_eq!(got, [format!("XTRIM big MAXLEN = {len}")]);
    for i in 1..=30 {
        c(&mut r, &format!("XADD m {i} f v"));
    }
    assert_eq!(
        logged(&mut r, &dir, &["XTRIM m MINID ~ 15 LIMIT 100"]),
        ["XTRIM m MINID = 11-0 LIMIT 100"]
    );
    // No-ops and reads are not logged; the rest as given.
    c(&mut r, "XADD q 1 a b");
    c(&mut r, "XADD q 2 a b");
    assert_eq!(
        logged(
            &mut r,
            &dir,
            &[
                "XADD nokey NOMKSTREAM * a b",
                "XADD q 1 a b",
                "XDEL q 9",
                "XDEL q 2 9",
                "XRANGE q - +",
                "XREAD STREAMS q 0",
                "XLEN q",
                "XSETID q 100",
                "XINFO STREAM q"
            ]
        ),
        ["XDEL q 2 9", "XSETID q 100"]
    );
}

#[test]
fn group_commands_are_logged_as_redis_propagates_them() {
    let dir = temp_dir("groups");
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    for i in 1..=5 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    assert_eq!(
        logged(
            &mut r,
            &dir,
            &[
                "XGROUP CREATE s g 0",
                "XGROUP CREATE s g 0",
                "XGROUP CREATE m g $ MKSTREAM",
                "XGROUP CREATECONSUMER s g c0",
                "XGROUP CREATECONSUMER s g c0",
                "XGROUP DELCONSUMER s g c0",
                "XGROUP SETID s g 0 ENTRIESREAD 0",
            ]
        ),
        [
            "XGROUP CREATE s g 0",
            "XGROUP CREATE m g $ MKSTREAM",
            "XGROUP CREATECONSUMER s g c0",
            "XGROUP DELCONSUMER s g c0",
            "XGROUP SETID s g 0 ENTRIESREAD 0"
        ]
    );
    // XREADGROUP: one XCLAIM per delivered entry, never the XREADGROUP itself. Several
    // commands propagated by one command go out as MULTI ... EXEC (as in Redis 7.2).
    let got = logged(
        &mut r,
        &dir,
        &["XREADGROUP GROUP g alice COUNT 2 STREAMS s >"],
    );
    let t1 = delivery_time(&mut r, "s", "g", "1-0");
    assert_eq!(
        got,
        [
            "MULTI".to_string(),
            format!("XCLAIM s g alice 0 1-0 TIME {t1} RETRYCOUNT 1 FORCE JUSTID LASTID 1-0"),
            format!("XCLAIM s g alice 0 2-0 TIME {t1} RETRYCOUNT 1 FORCE JUSTID LASTID 2-0"),
            "EXEC".into()
        ]
    );
    // Reading history, or nothing new, changes no logged state.
    assert!(logged(
        &mut r,
        &dir,
        &[
            "XREADGROUP GROUP g alice STREAMS s 0",
            "XREADGROUP GROUP g alice COUNT 1 STREAMS s 99"
        ]
    )
    .is_empty());
    // NOACK: the consumer's creation and the group's cursor instead.
    assert_eq!(
        logged(
            &mut r,
            &dir,
            &["XREADGROUP GROUP g bob COUNT 2 NOACK STREAMS s >"]
        ),
        [
            "MULTI",
            "XGROUP CREATECONSUMER s g bob",
            "XGROUP SETID s g 4-0 ENTRIESREAD 4",
            "EXEC"
        ]
    );
    // XACK as given.
    assert_eq!(
        logged(&mut r, &dir, &["XACK s g 1 9", "XACK s g 9"]),
        ["XACK s g 1 9"]
    );
    // XCLAIM: the claimed entry's new state, under the ID as given.
    let got = logged(&mut r, &dir, &["XCLAIM s g carol 0 2 RETRYCOUNT 7"]);
    let t2 = delivery_time(&mut r, "s", "g", "2-0");
    assert_eq!(
        got,
        [format!(
            "XCLAIM s g carol 0 2 TIME {t2} RETRYCOUNT 7 FORCE JUSTID LASTID 4-0"
        )]
    );
    // A repeated ID: each claim with the count it left.
    let got = logged(&mut r, &dir, &["XCLAIM s g dave 0 2 2"]);
    let t2 = delivery_time(&mut r, "s", "g", "2-0");
    assert_eq!(
        got,
        [
            "MULTI".to_string(),
            format!("XCLAIM s g dave 0 2 TIME {t2} RETRYCOUNT 8 FORCE JUSTID LASTID 4-0"),
            format!("XCLAIM s g dave 0 2 TIME {t2} RETRYCOUNT 9 FORCE JUSTID LASTID 4-0"),
            "EXEC".into()
        ]
    );
    // FORCE on an entry nobody holds: created with count 1, then claimed (2).
    let got = logged(&mut r, &dir, &["XCLAIM s g erin 0 5 FORCE TIME 1000"]);
    assert_eq!(
        got,
        ["XCLAIM s g erin 0 5 TIME 1000 RETRYCOUNT 2 FORCE JUSTID LASTID 4-0"]
    );
    // LASTID raising the cursor with nothing claimed: XGROUP SETID.
    assert_eq!(
        logged(&mut r, &dir, &["XCLAIM s g erin 0 LASTID 5-0"]),
        ["XGROUP SETID s g 5-0 ENTRIESREAD 4"]
    );
    // A pending entry whose entry was deleted is dropped: logged under its old owner and
    // state, so that replay drops it too.
    let t5 = delivery_time(&mut r, "s", "g", "5-0");
    assert_eq!(t5, 1000);
    c(&mut r, "XDEL s 5");
    assert_eq!(
        logged(&mut r, &dir, &["XCLAIM s g frank 0 5"]),
        ["XCLAIM s g erin 0 5 TIME 1000 RETRYCOUNT 2 FORCE JUSTID LASTID 5-0"]
    );
    // XAUTOCLAIM: claimed and dropped entries in PEL order (the NOACK reads of 3 and 4
    // left no PEL entries; 1 was acknowledged, 5 dropped).
    c(&mut r, "XADD s 6 f 6");
    c(&mut r, "XADD s 7 f 7");
    c(&mut r, "XREADGROUP GROUP g alice STREAMS s >");
    let t6 = delivery_time(&mut r, "s", "g", "6-0");
    c(&mut r, "XDEL s 6");
    let got = logged(&mut r, &dir, &["XAUTOCLAIM s g gina 0 0 COUNT 3"]);
    let t = delivery_time(&mut r, "s", "g", "2-0");
    assert_eq!(
        got,
        [
            "MULTI".to_string(),
            format!("XCLAIM s g gina 0 2-0 TIME {t} RETRYCOUNT 10 FORCE JUSTID LASTID 7-0"),
            format!("XCLAIM s g alice 0 6-0 TIME {t6} RETRYCOUNT 1 FORCE JUSTID LASTID 7-0"),
            format!("XCLAIM s g gina 0 7-0 TIME {t} RETRYCOUNT 2 FORCE JUSTID LASTID 7-0"),
            "EXEC".into()
        ]
    );
    // XGROUP DESTROY as given.
    assert_eq!(
        logged(&mut r, &dir, &["XGROUP DESTROY s g", "XGROUP DESTROY s g"]),
        ["XGROUP DESTROY s g"]
    );
}

#[test]
fn transactions_and_scripts_are_logged_as_units() {
    let dir = temp_dir("units");
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    c(&mut r, "XADD s 1 a b");
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "MULTI");
    c(&mut r, "XADD s 2-* a b");
    c(&mut r, "XREADGROUP GROUP g c STREAMS s >");
    let before = aof_commands(&dir).len();
    c(&mut r, "EXEC");
    let got = aof_commands(&dir).split_off(before);
    let t = delivery_time(&mut r, "s", "g", "1-0");
    assert_eq!(
        got,
        [
            "MULTI".to_string(),
            "XADD s 2-0 a b".into(),
            format!("XCLAIM s g c 0 1-0 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-0"),
            format!("XCLAIM s g c 0 2-0 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 2-0"),
            "EXEC".into()
        ]
    );
    // A script is one unit: its writes as MULTI ... EXEC when there are several, its
    // argv as the script wrote it.
    let before = aof_commands(&dir).len();
    cv(
        &mut r,
        &[
            "EVAL",
            "return redis.call('xadd', KEYS[1], '3-*', 'a', 'b')",
            "1",
            "s",
        ],
    );
    assert_eq!(aof_commands(&dir).split_off(before), ["xadd s 3-0 a b"]);
    let before = aof_commands(&dir).len();
    cv(
        &mut r,
        &[
            "EVAL",
            "redis.call('xadd', KEYS[1], '*', 'a', 'b'); return redis.call('xreadgroup', 'GROUP', 'g', 'c', 'STREAMS', KEYS[1], '>')",
            "1",
            "s",
        ],
    );
    let got = aof_commands(&dir).split_off(before);
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], "MULTI");
    assert!(
        got[1].starts_with("xadd s ") && !got[1].contains('*'),
        "{got:?}"
    );
    assert!(got[2].starts_with("XCLAIM s g c 0 3-0 TIME "), "{got:?}");
    assert!(got[3].starts_with("XCLAIM s g c 0 "), "{got:?}");
    assert_eq!(got[4], "EXEC");
}

/// Everything a stream holds, as replies, with the consumers' seen and active times (which
/// depend on the clock at replay) blanked out.
fn snapshot(r: &mut RawConn, keys: &[&str]) -> Vec<Frame> {
    let mut out = Vec::new();
    for k in keys {
        out.push(c(r, &format!("XRANGE {k} - +")));
        out.push(strip_times(c(r, &format!("XINFO STREAM {k} FULL COUNT 0"))));
        out.push(c(r, &format!("XINFO STREAM {k}")));
    }
    out
}

#[test]
fn aof_replay_rebuilds_streams_and_groups() {
    let dir = temp_dir("replay");
    let keys = ["s", "t", "e", "n"];
    let before = {
        let srv = start_aof(&dir);
        let mut r = srv.raw();
        for i in 0..40 {
            c(&mut r, &format!("XADD s * f {i} g {}", i * 7));
        }
        c(&mut r, "XADD s MAXLEN ~ 30 * f last");
        c(&mut r, "XDEL s 0-1");
        // Groups read with NOACK keep their read counter through the log.
        c(&mut r, "XGROUP CREATE s g1 0");
        c(&mut r, "XGROUP CREATE s g2 $ ENTRIESREAD 41");
        c(&mut r, "XGROUP CREATE s g3 0");
        c(&mut r, "XREADGROUP GROUP g1 alice COUNT 10 STREAMS s >");
        c(&mut r, "XREADGROUP GROUP g1 bob COUNT 5 STREAMS s >");
        c(&mut r, "XREADGROUP GROUP g3 nack COUNT 7 NOACK STREAMS s >");
        c(&mut r, "XGROUP CREATECONSUMER s g2 idle");
        let first: Vec<String> = ids(c(&mut r, "XRANGE s - + COUNT 3"));
        c(&mut r, &format!("XACK s g1 {}", first[0]));
        c(
            &mut r,
            &format!("XCLAIM s g1 carol 0 {} {} IDLE 5000", first[1], first[2]),
        );
        c(&mut r, "XAUTOCLAIM s g1 dave 0 0 COUNT 2");
        let mid = ids(c(&mut r, "XRANGE s - + COUNT 9"));
        c(&mut r, &format!("XDEL s {}", mid[8]));
        c(&mut r, "XAUTOCLAIM s g1 erin 0 0 COUNT 100");
        c(&mut r, "XTRIM s MINID ~ 0");
        c(&mut r, "XADD t 5-* a 1");
        c(&mut r, "XADD t 5-* a 2");
        c(&mut r, "XSETID t 10-0 ENTRIESADDED 9 MAXDELETEDID 4-0");
        c(&mut r, "XADD e MAXLEN 0 * a b");
        c(&mut r, "XGROUP CREATE n g $ MKSTREAM");
        c(&mut r, "MULTI");
        c(&mut r, "XADD n * x y");
        c(&mut r, "XREADGROUP GROUP g z NOACK STREAMS n >");
        c(&mut r, "EXEC");
        snapshot(&mut r, &keys)
    };
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    let after = snapshot(&mut r, &keys);
    // Redis propagates XREADGROUP without NOACK as XCLAIM ... LASTID, which moves the
    // group's cursor but not its read counter: after replay, g1's entries-read is unknown,
    // and so is its lag here (there is a deletion after its cursor), as in Redis.
    // Everything else is identical.
    let fix = |mut v: Vec<Frame>| {
        let Frame::Array(full) = &mut v[1] else {
            panic!()
        };
        let at = full.iter().position(|f| *f == bulk("groups")).unwrap() + 1;
        let Frame::Array(groups) = &mut full[at] else {
            panic!()
        };
        let Frame::Array(g1) = &mut groups[0] else {
            panic!()
        };
        assert_eq!(g1[1], bulk("g1"));
        let er = g1.iter().position(|f| *f == bulk("entries-read")).unwrap() + 1;
        let read = std::mem::replace(&mut g1[er], Frame::Null);
        let lag = std::mem::replace(&mut g1[er + 2], Frame::Null);
        (v, read, lag)
    };
    let (before, was, _) = fix(before);
    let (after, now, lag) = fix(after);
    assert!(matches!(was, Frame::Integer(_)), "{was:?}");
    assert_eq!((now, lag), (Frame::Null, Frame::Null));
    assert_eq!(after, before);
}

#[test]
fn rdb_and_dump_round_trips() {
    let dir = temp_dir("rdb");
    let keys = ["s", "e", "n"];
    let populate = |r: &mut RawConn| {
        for i in 0..20 {
            c(r, &format!("XADD s {} f {i} n {}", i + 1, i * 1000));
        }
        c(r, "XDEL s 3 7");
        c(r, "XGROUP CREATE s g1 0");
        c(r, "XGROUP CREATE s g2 10 ENTRIESREAD 8");
        c(r, "XREADGROUP GROUP g1 alice COUNT 5 STREAMS s >");
        c(r, "XREADGROUP GROUP g2 bob NOACK STREAMS s >");
        c(r, "XCLAIM s g1 carol 0 2 4 IDLE 100000");
        c(r, "XGROUP CREATECONSUMER s g1 nobody");
        c(r, "XADD e MAXLEN 0 5-5 a b");
        c(r, "XGROUP CREATE n g $ MKSTREAM");
        c(r, "XSETID n 7-7 ENTRIESADDED 3 MAXDELETEDID 7-0");
    };
    // SAVE and restart.
    let before = {
        let srv = start(&dir, &[("stream-node-max-entries", "3")]);
        let mut r = srv.raw();
        populate(&mut r);
        assert_eq!(c(&mut r, "SAVE"), ok());
        full_snapshot(&mut r, &keys)
    };
    let srv = start(&dir, &[("enable-debug-command", "yes")]);
    let mut r = srv.raw();
    assert_eq!(full_snapshot(&mut r, &keys), before);
    // DEBUG RELOAD.
    assert_eq!(c(&mut r, "DEBUG RELOAD"), ok());
    assert_eq!(full_snapshot(&mut r, &keys), before);
    // DUMP / RESTORE into other keys, and RESTORE REPLACE over them.
    for k in keys {
        let Frame::Bulk(p) = c(&mut r, &format!("DUMP {k}")) else {
            panic!()
        };
        let name = format!("{k}-copy");
        r.send(&[b"RESTORE", name.as_bytes(), b"0", &p]);
        assert_eq!(r.read(), ok());
        r.send(&[b"RESTORE", name.as_bytes(), b"0", &p, b"REPLACE"]);
        assert_eq!(r.read(), ok());
        assert_eq!(
            full_snapshot(&mut r, &[&name]),
            full_snapshot(&mut r, &[k]),
            "{k}"
        );
    }
}

/// Like [`snapshot`] but keeping every time (RDB and DUMP keep them).
fn full_snapshot(r: &mut RawConn, keys: &[&str]) -> Vec<Frame> {
    let mut out = Vec::new();
    for k in keys {
        out.push(c(r, &format!("XRANGE {k} - +")));
        out.push(c(r, &format!("XINFO STREAM {k} FULL COUNT 0")));
        out.push(c(r, &format!("XINFO STREAM {k}")));
    }
    out
}

#[test]
fn bgrewriteaof_keeps_streams_groups_and_consumers() {
    let dir = temp_dir("aofrw");
    let keys = ["s", "n"];
    let before = {
        let srv = start_aof(&dir);
        let mut r = srv.raw();
        for i in 1..=20 {
            c(&mut r, &format!("XADD s {i} f {i}"));
        }
        c(&mut r, "XDEL s 4");
        c(&mut r, "XGROUP CREATE s g 0");
        c(&mut r, "XREADGROUP GROUP g alice COUNT 5 STREAMS s >");
        c(&mut r, "XREADGROUP GROUP g bob NOACK COUNT 2 STREAMS s >");
        c(&mut r, "XGROUP CREATECONSUMER s g nobody");
        c(&mut r, "XGROUP CREATE n g $ MKSTREAM");
        assert_eq!(
            c(&mut r, "BGREWRITEAOF"),
            Frame::Simple("Background append only file rewriting started".into())
        );
        wait_until("the AOF rewrite", || {
            text_of(&c(&mut r, "INFO persistence")).contains("aof_rewrite_in_progress:0")
        });
        // Written after the rewrite: in the new incremental file.
        c(&mut r, "XREADGROUP GROUP g carol COUNT 1 STREAMS s >");
        full_snapshot(&mut r, &keys)
    };
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    // The base keeps every time; only what the incremental file replayed (carol's read)
    // has the replay's clock as seen/active time.
    assert_eq!(
        strip_times(Frame::Array(full_snapshot(&mut r, &keys))),
        strip_times(Frame::Array(before))
    );
}

#[test]
fn a_served_blocked_reader_is_logged_as_its_claims() {
    let dir = temp_dir("blocked");
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    let mut w = srv.raw();
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    w.send(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]);
    wait_until("the reader to block", || {
        srv.handle.server.blocking.count.load(Ordering::Relaxed) == 1
    });
    let before = aof_commands(&dir).len();
    c(&mut r, "XADD s 5 f v");
    assert_eq!(
        w.read(),
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![entry("5-0", &["f", "v"])])
        ])])
    );
    let t = delivery_time(&mut r, "s", "g", "5-0");
    assert_eq!(
        aof_commands(&dir).split_off(before),
        [
            "XADD s 5 f v".to_string(),
            format!("XCLAIM s g c 0 5-0 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 5-0")
        ]
    );
}
