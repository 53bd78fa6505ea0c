//! Blocking XREAD and XREADGROUP: woken by XADD (also from MULTI/EXEC and scripts, once
//! they commit), first come first served among waiters, never woken by an XADD that the
//! same transaction undid, -NOGROUP / WRONGTYPE when the group or the key goes away or
//! changes type while a reader waits, BLOCK ignored for history reads, timeouts, CLIENT
//! UNBLOCK and disconnects. Every wait polls with a deadline.

use crate::streams_common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, RawConn, TestServer};
use streams_common::*;

fn blocked(srv: &TestServer) -> usize {
    srv.handle.server.blocking.count.load(Ordering::Relaxed)
}

fn wait_blocked(srv: &TestServer, n: usize) {
    wait_until(&format!("{n} blocked clients"), || blocked(srv) == n);
}

/// Sends a command without reading its reply.
fn send(r: &mut RawConn, line: &str) {
    let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
    r.send(&words);
}

/// Sends a blocking command from `w` and waits until it is the one blocked client.
fn block_one(srv: &TestServer, w: &mut RawConn, line: &str) {
    send(w, line);
    wait_blocked(srv, 1);
}

fn one(key: &str, entries: Vec<Frame>) -> Frame {
    arr(vec![arr(vec![bulk(key), arr(entries)])])
}

#[test]
fn xread_blocks_until_an_xadd() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    c(&mut r, "XADD s2 1 old v");
    block_one(&srv, &mut w, "XREAD BLOCK 20000 STREAMS s1 s2 s3 $ $ $");
    c(&mut r, "XADD s2 2 new v");
    assert_eq!(w.read(), one("s2", vec![entry("2-0", &["new", "v"])]));
    assert_eq!(blocked(&srv), 0);
    // Old data is served at once.
    assert_eq!(
        c(&mut w, "XREAD BLOCK 20000 STREAMS s1 s2 $ 0"),
        one(
            "s2",
            vec![entry("1-0", &["old", "v"]), entry("2-0", &["new", "v"])]
        )
    );
    // The connection keeps working after being served.
    assert_eq!(c(&mut w, "PING"), Frame::Simple("PONG".into()));
}

#[test]
fn xread_times_out_with_a_null_reply() {
    let srv = TestServer::start();
    let mut w = srv.raw();
    let t = Instant::now();
    assert_eq!(c(&mut w, "XREAD BLOCK 100 STREAMS s $"), Frame::Null);
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(blocked(&srv), 0);
    // A stream whose entries after the ID were deleted is not served: it blocks.
    let mut r = srv.raw();
    c(&mut r, "XADD d 666 f v");
    c(&mut r, "XADD d 667 f v");
    c(&mut r, "XDEL d 667");
    assert_eq!(c(&mut w, "XREAD BLOCK 10 STREAMS d 666"), Frame::Null);
    // RESP3: the null of a timeout is `_`.
    c(&mut w, "HELLO 3");
    assert_eq!(c(&mut w, "XREAD BLOCK 10 STREAMS d 666"), Frame::Null);
}

#[test]
fn every_xread_waiter_gets_the_new_entry_whatever_the_order() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XADD s 5 a 1");
    let mut ws: Vec<RawConn> = (0..4).map(|_| srv.raw()).collect();
    // The first waits for entries after an ID far ahead: it must not hold the others back.
    send(&mut ws[0], "XREAD BLOCK 0 STREAMS s 99999999999999");
    wait_blocked(&srv, 1);
    for (i, w) in ws.iter_mut().enumerate().skip(1) {
        send(w, "XREAD BLOCK 0 STREAMS s $");
        wait_blocked(&srv, i + 1);
    }
    c(&mut r, "XADD s 6 b 2");
    for w in &mut ws[1..] {
        assert_eq!(w.read(), one("s", vec![entry("6-0", &["b", "2"])]));
    }
    assert_eq!(blocked(&srv), 1);
    c(&mut r, "XADD s 99999999999999-1 c 3");
    assert_eq!(
        ws[0].read(),
        one("s", vec![entry("99999999999999-1", &["c", "3"])])
    );
    assert_eq!(blocked(&srv), 0);
}

#[test]
fn xreadgroup_waiters_are_served_first_come_first_served() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    let mut ws: Vec<RawConn> = (0..5).map(|_| srv.raw()).collect();
    for (i, w) in ws.iter_mut().enumerate() {
        send(
            w,
            &format!("XREADGROUP GROUP g c{i} COUNT 1 BLOCK 0 STREAMS s >"),
        );
        wait_blocked(&srv, i + 1);
    }
    // One entry: the first waiter takes it, the others keep waiting.
    c(&mut r, "XADD s 1 n 0");
    assert_eq!(ws[0].read(), one("s", vec![entry("1-0", &["n", "0"])]));
    wait_blocked(&srv, 4);
    // Four entries at once: each waiter in turn takes one.
    c(&mut r, "MULTI");
    for i in 1..=4 {
        c(&mut r, &format!("XADD s {} n {i}", i + 1));
    }
    c(&mut r, "EXEC");
    for (i, w) in ws.iter_mut().enumerate().skip(1) {
        let id = format!("{}-0", i + 1);
        assert_eq!(w.read(), one("s", vec![entry(&id, &["n", &i.to_string()])]));
    }
    assert_eq!(blocked(&srv), 0);
    // Each delivery is pending for its consumer.
    let owners = pending_owners(c(&mut r, "XPENDING s g - + 10"));
    let want: Vec<(String, String)> = (0..5)
        .map(|i| (format!("{}-0", i + 1), format!("c{i}")))
        .collect();
    assert_eq!(owners, want);
}

#[test]
fn many_waiters_on_many_keys() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let n = 40;
    let mut ws: Vec<RawConn> = (0..n).map(|_| srv.raw()).collect();
    for (i, w) in ws.iter_mut().enumerate() {
        send(
            w,
            &format!("XREAD BLOCK 0 STREAMS k{} k{} $ $", i % 4, 4 + i % 3),
        );
    }
    wait_blocked(&srv, n);
    for k in 0..7 {
        c(&mut r, &format!("XADD k{k} 1 from {k}"));
    }
    for (i, w) in ws.iter_mut().enumerate() {
        // Woken by whichever of its keys came first; it reads every key with data then.
        let Frame::Array(streams) = w.read() else {
            panic!("client {i}")
        };
        assert!(
            !streams.is_empty() && streams.len() <= 2,
            "client {i}: {streams:?}"
        );
    }
    assert_eq!(blocked(&srv), 0);
}

#[test]
fn transactions_and_scripts_wake_on_commit() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    c(&mut r, "XADD s 1 old v");
    block_one(&srv, &mut w, "XREAD BLOCK 0 STREAMS s s s $ $ $");
    c(&mut r, "MULTI");
    c(&mut r, "XADD s 2 f one");
    c(&mut r, "XADD s 3 f two");
    c(&mut r, "XADD s 4 f three");
    c(&mut r, "EXEC");
    let all = vec![
        entry("2-0", &["f", "one"]),
        entry("3-0", &["f", "two"]),
        entry("4-0", &["f", "three"]),
    ];
    assert_eq!(
        w.read(),
        arr(vec![
            arr(vec![bulk("s"), arr(all.clone())]),
            arr(vec![bulk("s"), arr(all.clone())]),
            arr(vec![bulk("s"), arr(all)]),
        ])
    );
    // A script's XADD wakes the waiter when the script ends.
    block_one(&srv, &mut w, "XREAD BLOCK 0 STREAMS s $");
    cv(
        &mut r,
        &[
            "EVAL",
            "redis.call('xadd', KEYS[1], '5', 'f', 'lua'); return 1",
            "1",
            "s",
        ],
    );
    assert_eq!(w.read(), one("s", vec![entry("5-0", &["f", "lua"])]));
}

#[test]
fn an_xadd_undone_in_the_same_transaction_wakes_nobody() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    block_one(&srv, &mut w, "XREAD BLOCK 20000 STREAMS s1 $");
    c(&mut r, "MULTI");
    c(&mut r, "XADD s1 * old abcd1234");
    c(&mut r, "DEL s1");
    assert!(matches!(c(&mut r, "EXEC"), Frame::Array(_)));
    c(&mut r, "MULTI");
    c(&mut r, "XADD s1 * old abcd1234");
    c(&mut r, "DEL s1");
    c(&mut r, "LPUSH s1 foo bar");
    c(&mut r, "EXEC");
    c(&mut r, "DEL s1");
    assert_eq!(blocked(&srv), 1, "still waiting");
    c(&mut r, "XADD s1 7 new abcd1234");
    assert_eq!(
        w.read(),
        one("s1", vec![entry("7-0", &["new", "abcd1234"])])
    );
    // An entry added then deleted does not wake an XREADGROUP waiter either.
    c(&mut r, "XGROUP CREATE g1 g $ MKSTREAM");
    block_one(
        &srv,
        &mut w,
        "XREADGROUP GROUP g alice BLOCK 100 STREAMS g1 >",
    );
    c(&mut r, "MULTI");
    c(&mut r, "XADD g1 1 f v");
    c(&mut r, "XDEL g1 1");
    c(&mut r, "EXEC");
    assert_eq!(w.read(), Frame::Null, "times out, never an empty reply");
}

#[test]
fn xread_waits_through_deletions_and_type_changes() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    c(&mut r, "XADD s 666 f v");
    block_one(&srv, &mut w, "XREAD BLOCK 0 STREAMS s $");
    c(&mut r, "DEL s");
    c(&mut r, "SET s x");
    c(&mut r, "DEL s");
    assert_eq!(blocked(&srv), 1);
    c(&mut r, "XADD s 667 f v");
    assert_eq!(w.read(), one("s", vec![entry("667-0", &["f", "v"])]));
}

const NOGROUP_S: &str =
    "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option";
const BLOCK_S: &str = "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >";

#[test]
fn xreadgroup_waiters_learn_that_the_group_went_away() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    // XGROUP DESTROY.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "XGROUP DESTROY s g");
    assert_eq!(w.read(), err(NOGROUP_S));
    // Replaced by a string.
    c(&mut r, "XGROUP CREATE s g $");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "SET s val");
    assert_eq!(w.read(), err(WRONGTYPE));
    assert_eq!(blocked(&srv), 0);
}

#[test]
fn xreadgroup_waiters_learn_that_the_key_went_away() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    // DEL.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "DEL s");
    assert_eq!(w.read(), err(NOGROUP_S));
    // DEL + SADD in a transaction.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "MULTI");
    c(&mut r, "DEL s");
    c(&mut r, "SADD s e1");
    c(&mut r, "EXEC");
    assert_eq!(w.read(), err(WRONGTYPE));
    c(&mut r, "DEL s");
    // FLUSHALL.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "FLUSHALL");
    assert_eq!(w.read(), err(NOGROUP_S));
    // SWAPDB: the key of the waiter's database is now another one.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "SWAPDB 0 5");
    assert_eq!(w.read(), err(NOGROUP_S));
    c(&mut r, "FLUSHALL");
    // RENAME of a stream without the group over the key: NOGROUP; with it: the data.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "XADD other 100 f1 v1");
    c(&mut r, "RENAME other s");
    assert_eq!(w.read(), err(NOGROUP_S));
    c(&mut r, "DEL s");
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, BLOCK_S);
    c(&mut r, "XGROUP CREATE other g $ MKSTREAM");
    c(&mut r, "XADD other 100 f1 v1");
    c(&mut r, "RENAME other s");
    assert_eq!(w.read(), one("s", vec![entry("100-0", &["f1", "v1"])]));
    assert_eq!(blocked(&srv), 0);
}

#[test]
fn a_list_waiter_on_the_same_key_does_not_hold_back_a_stream_waiter() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut list = srv.raw();
    let mut stream = srv.raw();
    let Frame::Integer(list_id) = c(&mut list, "CLIENT ID") else {
        panic!()
    };
    block_one(&srv, &mut list, "BLPOP k 0");
    c(&mut r, "XADD k 666 key value");
    c(&mut r, "XGROUP CREATE k g $");
    send(&mut stream, "XREADGROUP GROUP g c BLOCK 0 STREAMS k >");
    wait_blocked(&srv, 2);
    let info = text_of(&c(&mut r, "INFO clients"));
    assert!(info.contains("total_blocking_keys:1\r\n"), "{info}");
    assert!(
        info.contains("total_blocking_keys_on_nokey:1\r\n"),
        "{info}"
    );
    c(&mut r, "XADD k 667 a b");
    assert_eq!(stream.read(), one("k", vec![entry("667-0", &["a", "b"])]));
    wait_blocked(&srv, 1);
    send(&mut stream, "XREADGROUP GROUP g c BLOCK 0 STREAMS k >");
    wait_blocked(&srv, 2);
    c(&mut r, "XGROUP DESTROY k g");
    assert_eq!(
        stream.read(),
        err("NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option")
    );
    wait_blocked(&srv, 1);
    let info = text_of(&c(&mut r, "INFO clients"));
    assert!(info.contains("total_blocking_keys:1\r\n"), "{info}");
    assert!(
        info.contains("total_blocking_keys_on_nokey:0\r\n"),
        "{info}"
    );
    // The list waiter is still there.
    assert_eq!(c(&mut r, &format!("CLIENT UNBLOCK {list_id}")), int(1));
    assert_eq!(list.read(), Frame::Null);
}

#[test]
fn block_is_ignored_for_history_reads_and_inside_multi() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    c(&mut r, "XADD s 666 key value");
    c(&mut r, "XDEL s 666");
    for id in ["0", "600", "666", "700"] {
        assert_eq!(
            c(
                &mut r,
                &format!("XREADGROUP GROUP g c BLOCK 0 STREAMS s {id}")
            ),
            one("s", vec![])
        );
    }
    c(&mut r, "XADD s 667 key value");
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >"),
        one("s", vec![entry("667-0", &["key", "value"])])
    );
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g c BLOCK 0 STREAMS s 0"),
        one("s", vec![entry("667-0", &["key", "value"])])
    );
    c(&mut r, "MULTI");
    c(&mut r, "XREAD BLOCK 0 STREAMS s $");
    c(&mut r, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
    assert_eq!(c(&mut r, "EXEC"), arr(vec![Frame::Null, Frame::Null]));
    assert_eq!(blocked(&srv), 0);
}

#[test]
fn client_unblock_and_disconnects() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    let Frame::Integer(id) = c(&mut w, "CLIENT ID") else {
        panic!()
    };
    block_one(&srv, &mut w, "XREAD BLOCK 0 STREAMS s $");
    assert_eq!(c(&mut r, &format!("CLIENT UNBLOCK {id}")), int(1));
    assert_eq!(w.read(), Frame::Null);
    block_one(&srv, &mut w, "XREAD BLOCK 0 STREAMS s $");
    assert_eq!(c(&mut r, &format!("CLIENT UNBLOCK {id} ERROR")), int(1));
    assert_eq!(
        w.read(),
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    // A waiter that disconnects is forgotten; the XADD that would have served it is fine.
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    let mut gone = srv.raw();
    block_one(
        &srv,
        &mut gone,
        "XREADGROUP GROUP g ghost BLOCK 0 STREAMS s >",
    );
    drop(gone);
    wait_blocked(&srv, 0);
    c(&mut r, "XADD s 1 a b");
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![int(0), Frame::Null, Frame::Null, Frame::Null])
    );
    assert_eq!(c(&mut r, "PING"), Frame::Simple("PONG".into()));
}

#[test]
fn a_served_waiter_counts_once_in_the_statistics() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    assert_eq!(c(&mut r, "CONFIG RESETSTAT"), ok());
    c(&mut r, "XGROUP CREATE s g $ MKSTREAM");
    block_one(&srv, &mut w, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    c(&mut r, "XGROUP DESTROY s g");
    assert!(matches!(w.read(), Frame::Error(e) if e.starts_with("NOGROUP")));
    let stats = text_of(&c(&mut r, "INFO commandstats"));
    let line = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_xreadgroup:"))
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(
        line.contains("calls=1,") && line.ends_with("rejected_calls=0,failed_calls=1"),
        "{line}"
    );
    let errs = text_of(&c(&mut r, "INFO errorstats"));
    assert!(errs.contains("errorstat_NOGROUP:count=1"), "{errs}");
}
