//! Blocking pops: wake-up order, timeouts, atomic hand-over, CLIENT UNBLOCK, disconnects,
//! and MULTI/EXEC behaviour.

use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_testkit::bulk;
use cinnabar_testkit::{eventually, TestServer, PATIENCE};

fn blocked(srv: &TestServer) -> usize {
    srv.server()
        .blocking
        .count
        .load(std::sync::atomic::Ordering::Relaxed)
}

fn wait_blocked(srv: &TestServer, n: usize) {
    eventually(PATIENCE, format_args!("{n} blocked clients"), || {
        blocked(srv) >= n
    });
}

#[test]
fn blpop_returns_at_once_when_data_exists() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "q2", "a", "b"]);
    assert_eq!(
        r.cmd(&["BLPOP", "q1", "q2", "0"]),
        Frame::Array(vec![bulk("q2"), bulk("a")])
    );
    assert_eq!(
        r.cmd(&["BRPOP", "q2", "0"]),
        Frame::Array(vec![bulk("q2"), bulk("b")])
    );
    r.cmd(&["SET", "s", "x"]);
    let Frame::Error(e) = r.cmd(&["BLPOP", "s", "0"]) else {
        panic!()
    };
    assert!(e.starts_with("WRONGTYPE"));
    assert_eq!(
        r.cmd(&["BLPOP", "q", "-1"]),
        Frame::Error("ERR timeout is negative".into())
    );
    assert_eq!(
        r.cmd(&["BLPOP", "q", "abc"]),
        Frame::Error("ERR timeout is not a float or out of range".into())
    );
}

#[test]
fn blpop_times_out_with_a_null_array() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let t = Instant::now();
    assert_eq!(r.cmd(&["BLPOP", "empty", "0.2"]), Frame::Null);
    assert!(t.elapsed() >= Duration::from_millis(180));
    // The connection keeps working, including commands pipelined behind the blocked one.
    r.send_raw(b"BLPOP empty 0.1\r\nPING\r\n");
    assert_eq!(r.read(), Frame::Null);
    assert_eq!(r.read(), Frame::Simple("PONG".into()));
}

#[test]
fn push_wakes_blocked_clients_in_order() {
    let srv = TestServer::start();
    let mut waiters: Vec<_> = (0..3).map(|_| srv.raw()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&[b"BLPOP", b"jobs", b"0"]);
        wait_blocked(&srv, i + 1);
    }
    let mut p = srv.raw();
    assert_eq!(p.cmd(&["RPUSH", "jobs", "1", "2", "3"]), Frame::Integer(3));
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(
            w.read(),
            Frame::Array(vec![bulk("jobs"), bulk(&(i + 1).to_string())])
        );
    }
    assert_eq!(p.cmd(&["LLEN", "jobs"]), Frame::Integer(0));
}

#[test]
fn every_element_is_delivered_exactly_once() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match c.cmd(&["BLPOP", "work", "1"]) {
                        Frame::Array(v) => match &v[1] {
                            Frame::Bulk(b) => {
                                got.push(String::from_utf8_lossy(b).parse::<u32>().unwrap())
                            }
                            other => panic!("{other:?}"),
                        },
                        Frame::Null => return got,
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut p = srv.raw();
    for i in 0..2000u32 {
        p.cmd(&["RPUSH", "work", &i.to_string()]);
    }
    let mut all: Vec<u32> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
}

#[test]
fn blmove_and_brpoplpush_move_on_wake() {
    let srv = TestServer::start();
    let mut w = srv.raw();
    w.send(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0"]);
    wait_blocked(&srv, 1);
    let mut p = srv.raw();
    p.cmd(&["LPUSH", "src", "x"]);
    assert_eq!(w.read(), bulk("x"));
    assert_eq!(
        p.cmd(&["LRANGE", "dst", "0", "-1"]),
        Frame::Array(vec![bulk("x")])
    );
    w.send(&[b"BRPOPLPUSH", b"src", b"dst", b"0"]);
    wait_blocked(&srv, 1);
    p.cmd(&["RPUSH", "src", "y"]);
    assert_eq!(w.read(), bulk("y"));
}

#[test]
fn push_inside_multi_wakes_after_exec() {
    let srv = TestServer::start();
    let mut w = srv.raw();
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&srv, 1);
    let mut p = srv.raw();
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "q", "a"]);
    p.cmd(&["RPUSH", "q", "b"]);
    assert_eq!(
        p.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    assert_eq!(w.read(), Frame::Array(vec![bulk("q"), bulk("a")]));
    assert_eq!(
        p.cmd(&["LRANGE", "q", "0", "-1"]),
        Frame::Array(vec![bulk("b")])
    );
    // A blocking command inside MULTI does not block.
    p.cmd(&["MULTI"]);
    p.cmd(&["BLPOP", "nothing", "0"]);
    assert_eq!(p.cmd(&["EXEC"]), Frame::Array(vec![Frame::Null]));
}

#[test]
fn client_unblock_and_disconnect() {
    let srv = TestServer::start();
    let mut w = srv.raw();
    let Frame::Integer(id) = w.cmd(&["CLIENT", "ID"]) else {
        panic!()
    };
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&srv, 1);
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]),
        Frame::Integer(1)
    );
    assert_eq!(w.read(), Frame::Null);
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&srv, 1);
    assert_eq!(
        c.cmd(&["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]),
        Frame::Integer(1)
    );
    assert_eq!(
        w.read(),
        Frame::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(
        c.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]),
        Frame::Integer(0)
    );
    // A blocked client that disconnects is forgotten: the element goes to the next waiter.
    let mut gone = srv.raw();
    gone.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&srv, 1);
    drop(gone);
    eventually(PATIENCE, "the gone client to be unblocked", || {
        blocked(&srv) == 0
    });
    c.cmd(&["RPUSH", "q", "kept"]);
    assert_eq!(c.cmd(&["LPOP", "q"]), bulk("kept"));
}

#[test]
fn wrong_destination_type_unblocks_with_the_error() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "target", "nolist"]);
    let mut w = srv.raw();
    w.send(&[b"BRPOPLPUSH", b"blist", b"target", b"0"]);
    wait_blocked(&srv, 1);
    r.cmd(&["RPUSH", "blist", "foo"]);
    let Frame::Error(e) = w.read() else { panic!() };
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    assert_eq!(
        r.cmd(&["LRANGE", "blist", "0", "-1"]),
        Frame::Array(vec![bulk("foo")])
    );
    // A waited key turned into another type leaves the waiter blocked.
    let mut w2 = srv.raw();
    w2.send(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&srv, 1);
    r.cmd(&["SET", "k", "string"]);
    r.cmd(&["DEL", "k"]);
    r.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(w2.read(), Frame::Array(vec![bulk("k"), bulk("v")]));
}

/// Keys made ready together (in one EXEC) are served in the order they became ready.
#[test]
fn ready_keys_are_served_in_order() {
    let srv = TestServer::start();
    let mut rd: Vec<_> = (0..3).map(|_| srv.raw()).collect();
    rd[0].send(&[b"BZMPOP", b"0", b"2", b"z1", b"z2", b"MIN", b"COUNT", b"1"]);
    wait_blocked(&srv, 1);
    rd[1].send(&[b"BZMPOP", b"0", b"2", b"z1", b"z2", b"MAX", b"COUNT", b"10"]);
    wait_blocked(&srv, 2);
    rd[2].send(&[b"BZMPOP", b"0", b"2", b"z1", b"z2", b"MIN", b"COUNT", b"10"]);
    wait_blocked(&srv, 3);
    let mut r = srv.raw();
    r.cmd(&["MULTI"]);
    r.cmd(&["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
    r.cmd(&["ZADD", "z2", "1", "a", "2", "b"]);
    r.cmd(&["EXEC"]);
    let key_of = |f: Frame| match f {
        Frame::Array(v) => v[0].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(key_of(rd[0].read()), bulk("z1"));
    assert_eq!(key_of(rd[1].read()), bulk("z1"));
    assert_eq!(key_of(rd[2].read()), bulk("z2"));
}

/// A blocking command's call is counted in INFO commandstats when it is unblocked (served,
/// timed out), not when it blocks, and not at all when it is refused on being served: its
/// permissions changed while it waited (Redis 7.2's updateStatsOnUnblock; its Tcl
/// unit/acl "blocked command gets rejected when reprocessed after permission change").
#[test]
fn blocked_calls_are_counted_when_unblocked() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    let blpop_stat = |c: &mut cinnabar_testkit::RawConn| {
        c.info("commandstats")
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_blpop:"))
            .unwrap_or("")
            .trim()
            .to_string()
    };

    // Served: nothing counted while it waits, one call once served.
    w.send(&[b"BLPOP", b"l1", b"0"]);
    c.wait_blocked(1);
    assert_eq!(blpop_stat(&mut c), "", "not listed while blocked");
    c.cmd(&["LPUSH", "l1", "a"]);
    assert_eq!(w.read(), Frame::Array(vec![bulk("l1"), bulk("a")]));
    let s = blpop_stat(&mut c);
    assert!(
        s.starts_with("calls=1,") && s.ends_with(",rejected_calls=0,failed_calls=0"),
        "{s}"
    );

    // Timed out: counted too.
    assert_eq!(w.cmd(&["BLPOP", "l1", "0.01"]), Frame::Null);
    assert!(blpop_stat(&mut c).starts_with("calls=2,"));

    // Refused when served: a rejected call, not a call.
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&[
        "ACL", "SETUSER", "psuser", "on", "nopass", "+@all", "allkeys",
    ]);
    assert_eq!(w.cmd(&["AUTH", "psuser", "x"]), Frame::Simple("OK".into()));
    w.send(&[b"BLPOP", b"l1", b"0"]);
    c.wait_blocked(1);
    c.cmd(&["ACL", "SETUSER", "psuser", "resetkeys"]);
    c.cmd(&["LPUSH", "l1", "b"]);
    match w.read() {
        Frame::Error(e) => assert!(
            e.starts_with("NOPERM No permissions to access a key"),
            "{e}"
        ),
        other => panic!("expected NOPERM, got {other:?}"),
    }
    let s = blpop_stat(&mut c);
    assert!(
        s.starts_with("calls=0,usec=0,") && s.ends_with(",rejected_calls=1,failed_calls=0"),
        "{s}"
    );
}
