//! MULTI/EXEC/DISCARD/WATCH with Redis 7.2's semantics, and isolation under concurrency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cinnabar_resp::Frame;
use cinnabar_testkit::TestServer;
use cinnabar_testkit::{bulk, err, ok};

fn queued() -> Frame {
    Frame::Simple("QUEUED".into())
}

#[test]
fn exec_runs_the_queue_and_returns_every_reply() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["MULTI"]), ok());
    assert_eq!(r.cmd(&["INCR", "a"]), queued());
    assert_eq!(r.cmd(&["SET", "b", "x"]), queued());
    assert_eq!(r.cmd(&["INCR", "b"]), queued());
    assert_eq!(r.cmd(&["GET", "a"]), queued());
    assert_eq!(
        r.cmd(&["EXEC"]),
        Frame::Array(vec![
            Frame::Integer(1),
            ok(),
            err("ERR value is not an integer or out of range"),
            bulk("1")
        ])
    );
    assert_eq!(r.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(r.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}

#[test]
fn queueing_errors_abort_the_transaction() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["SET", "k", "v"]), queued());
    assert_eq!(
        r.cmd(&["NOSUCHCMD"]),
        err("ERR unknown command 'NOSUCHCMD', with args beginning with: ")
    );
    assert_eq!(
        r.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        r.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(r.cmd(&["GET", "k"]), Frame::Null);
}

#[test]
fn nested_multi_and_watch_inside_multi_are_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["MULTI"]), err("ERR MULTI calls can not be nested"));
    assert_eq!(
        r.cmd(&["WATCH", "x"]),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(r.cmd(&["PING"]), queued());
    assert_eq!(
        r.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", "d", "1"]);
    assert_eq!(r.cmd(&["DISCARD"]), ok());
    assert_eq!(r.cmd(&["GET", "d"]), Frame::Null);
}

#[test]
fn watch_fails_exec_when_another_client_writes() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.cmd(&["SET", "x", "1"]);
    assert_eq!(a.cmd(&["WATCH", "x"]), ok());
    b.cmd(&["SET", "x", "2"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "x", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(a.cmd(&["GET", "x"]), bulk("2"));
    // After a failed EXEC nothing is watched any more.
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "x", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
}

#[test]
fn watch_untouched_key_and_unwatch() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.cmd(&["WATCH", "x", "y"]);
    b.cmd(&["SET", "other", "1"]);
    // Deleting a missing key changes nothing: no failure.
    b.cmd(&["DEL", "y"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    a.cmd(&["WATCH", "x"]);
    assert_eq!(a.cmd(&["UNWATCH"]), ok());
    b.cmd(&["SET", "x", "1"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
}

#[test]
fn flush_and_swapdb_touch_watched_keys_that_exist() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "x", "1"]);
    r.cmd(&["WATCH", "x"]);
    r.cmd(&["FLUSHALL"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(r.cmd(&["EXEC"]), Frame::Null);
    // A missing watched key is not touched by FLUSHDB.
    r.cmd(&["WATCH", "x"]);
    r.cmd(&["FLUSHDB"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(
        r.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    // SWAPDB touches a watched key that does not exist here but exists in the other db.
    r.cmd(&["SELECT", "1"]);
    r.cmd(&["SET", "x", "30"]);
    r.cmd(&["SELECT", "0"]);
    r.cmd(&["WATCH", "x"]);
    r.cmd(&["SWAPDB", "0", "1"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(r.cmd(&["EXEC"]), Frame::Null);
}

#[test]
fn exec_fails_when_a_watched_key_expires() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "k", "1", "PX", "50"]);
    r.cmd(&["WATCH", "k"]);
    srv.advance_clock(51);
    r.cmd(&["MULTI"]);
    r.cmd(&["INCR", "k"]);
    assert_eq!(r.cmd(&["EXEC"]), Frame::Null);
    // A key that was already stale when watched does not fail EXEC when it is deleted.
    r.cmd(&["SET", "s", "1", "PX", "1"]);
    srv.advance_clock(2);
    r.cmd(&["WATCH", "s"]);
    r.cmd(&["DEL", "s"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(
        r.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
}

#[test]
fn exec_is_null_in_resp3_too_and_reset_clears_state() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.cmd(&["HELLO", "3"]);
    a.cmd(&["WATCH", "x"]);
    b.cmd(&["SET", "x", "1"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "y", "1"]);
    a.cmd(&["RESET"]);
    assert_eq!(a.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(a.cmd(&["GET", "y"]), Frame::Null);
}

/// A transaction that moves value between two keys is never seen half done.
#[test]
fn transactions_are_isolated_from_concurrent_readers() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let mut setup = srv.raw();
    setup.cmd(&["MSET", "acct:a", "1000", "acct:b", "0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    c.send_raw(b"MULTI\r\nDECRBY acct:a 1\r\nINCRBY acct:b 1\r\nEXEC\r\n");
                    for _ in 0..4 {
                        c.read();
                    }
                }
            })
        })
        .collect();
    let reader = {
        let mut c = srv.raw();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Frame::Array(v) = c.cmd(&["MGET", "acct:a", "acct:b"]) else {
                    panic!()
                };
                let n = |f: &Frame| match f {
                    Frame::Bulk(b) => String::from_utf8_lossy(b).parse::<i64>().unwrap(),
                    _ => panic!("{f:?}"),
                };
                assert_eq!(n(&v[0]) + n(&v[1]), 1000, "torn transaction seen: {v:?}");
            }
        })
    };
    for m in movers {
        m.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(setup.cmd(&["GET", "acct:b"]), bulk("1000"));
}

/// The classic rate limiter: INCR + EXPIRE in one transaction.
#[test]
fn rate_limiter_pattern() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=5 {
        r.cmd(&["MULTI"]);
        r.cmd(&["INCR", "rl:user:1"]);
        r.cmd(&["EXPIRE", "rl:user:1", "60", "NX"]);
        assert_eq!(
            r.cmd(&["EXEC"]),
            Frame::Array(vec![
                Frame::Integer(i),
                Frame::Integer(if i == 1 { 1 } else { 0 })
            ])
        );
    }
    let Frame::Integer(ttl) = r.cmd(&["TTL", "rl:user:1"]) else {
        panic!()
    };
    assert!((55..=60).contains(&ttl));
}

#[test]
fn watch_remembers_the_db_of_the_key() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SELECT", "5"]);
    r.cmd(&["SET", "x", "30"]);
    r.cmd(&["WATCH", "x"]);
    r.cmd(&["SELECT", "1"]);
    r.cmd(&["SET", "x", "10"]);
    r.cmd(&["SELECT", "5"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(
        r.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    // MOVE into the watched db does touch it.
    r.cmd(&["WATCH", "y"]);
    r.cmd(&["SELECT", "1"]);
    r.cmd(&["SET", "y", "1"]);
    r.cmd(&["MOVE", "y", "5"]);
    r.cmd(&["SELECT", "5"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["PING"]);
    assert_eq!(r.cmd(&["EXEC"]), Frame::Null);
}
