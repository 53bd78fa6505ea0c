//! EXEC is as atomic as in single-threaded Redis also for keyless commands that change server
//! state (CONFIG SET, REPLICAOF...): no command of another client, on another worker, runs
//! between two commands of such a transaction (see `dispatch::gate`). Each test's writer
//! loops on its own worker while the transaction runs: the state the transaction sets and
//! restores must never show in its replies, however the two interleave.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cinnabar_resp::Frame;
use cinnabar_testkit::{free_port, ok, text, RawConn, TestServer};

fn server() -> TestServer {
    // Two workers: connections are handed out in turn, so the transaction's client and the
    // writer run on different threads.
    TestServer::with_args(&[("enable-debug-command", "yes"), ("threads", "2")])
}

/// Runs `queue` as a transaction on `a`, a few times, while a client on the other worker
/// writes in a loop; returns the writer's error replies and how many writes it made. (Without
/// the gate, a write that passed its checks just before EXEC took its locks waits for the
/// whole EXEC, and that round shows nothing: the rounds make a broken server fail for sure.)
fn race(srv: &TestServer, a: &mut RawConn, queue: &[&[&str]]) -> (Vec<String>, u64) {
    let mut b = srv.raw();
    assert_eq!(b.cmd(&["SET", "warm", "up"]), ok());
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes) = (stop.clone(), writes.clone());
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", i % 64);
                match b.cmd(&["SET", &key, "v"]) {
                    Frame::Error(e) => errors.push(e),
                    f => assert_eq!(f, ok()),
                }
                i += 1;
                writes.store(i, Ordering::Relaxed);
            }
            errors
        })
    };
    for _ in 0..8 {
        // The writer is running before each round.
        let before = writes.load(Ordering::Relaxed);
        cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, "writes before EXEC", || {
            writes.load(Ordering::Relaxed) > before + 10
        });
        assert_eq!(a.cmd(&["MULTI"]), ok());
        for cmd in queue {
            assert_eq!(a.cmd(cmd), Frame::Simple("QUEUED".into()));
        }
        let reply = a.cmd(&["EXEC"]);
        let Frame::Array(replies) = &reply else {
            panic!("EXEC: {reply:?}")
        };
        assert!(
            replies.iter().all(|r| !matches!(r, Frame::Error(_))),
            "{reply:?}"
        );
    }
    // The writer goes on a little after EXEC: the server is usable again.
    let after = writes.load(Ordering::Relaxed);
    cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, "writes after EXEC", || {
        writes.load(Ordering::Relaxed) > after + 10
    });
    stop.store(true, Ordering::Relaxed);
    let errors = writer.join().expect("writer");
    (errors, writes.load(Ordering::Relaxed))
}

/// maxmemory set and reset inside one EXEC: a writer never gets OOM.
#[test]
fn config_set_inside_exec_is_never_seen_half_done() {
    let srv = server();
    let mut a = srv.raw();
    let (errors, writes) = race(
        &srv,
        &mut a,
        &[
            &["CONFIG", "SET", "maxmemory", "1"],
            &["DEBUG", "SLEEP", "0.1"],
            &["CONFIG", "SET", "maxmemory", "0"],
        ],
    );
    assert!(errors.is_empty(), "{} writes, errors: {errors:?}", writes);
}

/// The role switched to replica and back inside one EXEC: a writer never gets READONLY.
#[test]
fn replicaof_inside_exec_is_never_seen_half_done() {
    let srv = server();
    let mut a = srv.raw();
    let port = free_port().to_string();
    let (errors, writes) = race(
        &srv,
        &mut a,
        &[
            &["REPLICAOF", "127.0.0.1", &port],
            &["DEBUG", "SLEEP", "0.1"],
            &["REPLICAOF", "NO", "ONE"],
        ],
    );
    assert!(errors.is_empty(), "{} writes, errors: {errors:?}", writes);
    assert!(text(&a.cmd(&["ROLE"])).contains("master"));
}

/// Pure keyless commands do not make a transaction exclusive: it still runs beside a long
/// command of another worker (DEBUG SLEEP holds no lock), rather than waiting for its end.
#[test]
fn pure_keyless_commands_do_not_wait_for_other_workers() {
    let srv = server();
    let mut sleeper = srv.raw();
    let mut a = srv.raw();
    let Frame::Integer(id) = sleeper.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    sleeper.send(&[b"DEBUG", b"SLEEP", b"2"]);
    let id = id.to_string();
    cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, "DEBUG SLEEP to run", || {
        text(&a.cmd(&["CLIENT", "LIST", "ID", &id])).contains(" cmd=debug ")
    });
    assert_eq!(a.cmd(&["MULTI"]), ok());
    for cmd in [&["PING"][..], &["ECHO", "x"], &["TIME"], &["SET", "k", "v"]] {
        assert_eq!(a.cmd(cmd), Frame::Simple("QUEUED".into()));
    }
    let Frame::Array(replies) = a.cmd(&["EXEC"]) else {
        panic!("EXEC")
    };
    assert_eq!(replies.len(), 4);
    assert!(!sleeper.has_reply(), "EXEC waited for the sleeper");
    assert_eq!(sleeper.read(), ok());
}
