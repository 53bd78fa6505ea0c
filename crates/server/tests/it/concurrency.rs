//! Many clients at once: no lost update, no torn read, all-or-nothing multi-key commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cinnabar_testkit::TestServer;

fn conn(srv: &TestServer) -> redis::Connection {
    redis::Client::open(srv.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn concurrent_incr_loses_no_update() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = conn(&srv);
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _: i64 = redis::cmd("INCR").arg("counter").query(&mut c).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = conn(&srv);
    let n: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(n, 16_000);
}

#[test]
fn mset_is_never_seen_torn_by_mget() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let keys: Vec<String> = (0..16).map(|i| format!("key:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut c = conn(&srv);
            let keys = keys.clone();
            std::thread::spawn(move || {
                for round in 0..1500 {
                    let v = format!("{w}-{round}");
                    let mut cmd = redis::cmd("MSET");
                    for k in &keys {
                        cmd.arg(k).arg(&v);
                    }
                    let _: () = cmd.query(&mut c).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut c = conn(&srv);
            let keys = keys.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut checks = 0;
                while !stop.load(Ordering::Relaxed) {
                    let vals: Vec<Option<String>> =
                        redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
                    let first = &vals[0];
                    assert!(vals.iter().all(|v| v == first), "torn read: {vals:?}");
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn rename_is_atomic_for_concurrent_readers() {
    let srv = TestServer::with_args(&[("threads", "4")]);
    let mut c = conn(&srv);
    let _: () = redis::cmd("SET").arg("a").arg("v").query(&mut c).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let mut c = conn(&srv);
        std::thread::spawn(move || {
            for i in 0..3000 {
                let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
                let _: () = redis::cmd("RENAME")
                    .arg(from)
                    .arg(to)
                    .query(&mut c)
                    .unwrap();
            }
        })
    };
    let reader = {
        let mut c = conn(&srv);
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = redis::cmd("EXISTS")
                    .arg("a")
                    .arg("b")
                    .query(&mut c)
                    .unwrap();
                assert_eq!(n, 1, "exactly one of a, b must exist at any moment");
            }
        })
    };
    mover.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
}
