//! CL.THROTTLE (native GCRA rate limiting, redis-cell compatible) against a real server:
//! replies, stored state, errors, atomicity under concurrent clients, scripts and MULTI, the
//! command table, and AOF logging of its effect.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use cinnabar_resp::Frame;
use cinnabar_testkit::{err, int, text, words, TestServer};

fn throttle(r: &mut cinnabar_testkit::RawConn, args: &[&str]) -> Vec<i64> {
    let mut w = vec!["CL.THROTTLE"];
    w.extend_from_slice(args);
    words(r.cmd(&w))
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn burst_then_limited_with_redis_cell_reply() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // max_burst 2, one token per 60 s: three requests pass, the fourth waits a minute.
    assert_eq!(throttle(&mut r, &["k", "2", "1", "60"]), [0, 3, 2, -1, 60]);
    assert_eq!(throttle(&mut r, &["k", "2", "1", "60"]), [0, 3, 1, -1, 120]);
    assert_eq!(throttle(&mut r, &["k", "2", "1", "60"]), [0, 3, 0, -1, 180]);
    assert_eq!(throttle(&mut r, &["k", "2", "1", "60"]), [1, 3, 0, 60, 180]);
    // The state is the TAT in nanoseconds, expiring when the bucket is full again.
    let tat: i64 = text(&r.cmd(&["GET", "k"])).parse().unwrap();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(tat > now_ns && tat <= now_ns + 180 * 1_000_000_000);
    // It expires at the first millisecond at or after the TAT (so PTTL may read 180001).
    let deadline: i64 = text(&r.cmd(&["PEXPIRETIME", "k"])).parse().unwrap();
    assert_eq!(deadline, (tat + 999_999) / 1_000_000);
    assert_eq!(r.cmd(&["TYPE", "k"]), Frame::Simple("string".into()));
}

#[test]
fn quantity_options_and_lowercase_name() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // Quantity 0 only asks: nothing is stored.
    assert_eq!(
        throttle(&mut r, &["q", "4", "5", "5", "0"]),
        [0, 5, 5, -1, 0]
    );
    assert_eq!(r.cmd(&["EXISTS", "q"]), int(0));
    // More than the bucket holds can never pass: retry_after stays -1.
    assert_eq!(
        throttle(&mut r, &["q", "4", "5", "5", "6"]),
        [1, 5, 5, -1, 0]
    );
    assert_eq!(
        throttle(&mut r, &["q", "4", "5", "5", "5"]),
        [0, 5, 0, -1, 5]
    );
    let reply = r.cmd(&["cl.throttle", "q", "4", "5", "5"]);
    assert_eq!(words(reply), ["1", "5", "0", "1", "5"]);
}

#[test]
fn bad_arguments_and_wrong_types_are_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "1", "1"]),
        err("ERR wrong number of arguments for 'cl.throttle' command")
    );
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "1", "1", "1", "1", "1"]),
        err("ERR wrong number of arguments for 'cl.throttle' command")
    );
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "x", "1", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "-1", "1", "1"]),
        err("ERR max_burst must be >= 0")
    );
    for (count, period) in [("0", "1"), ("1", "0"), ("-5", "10")] {
        assert_eq!(
            r.cmd(&["CL.THROTTLE", "k", "1", count, period]),
            err("ERR count_per_period and period must be > 0 (zero rates are not supported)")
        );
    }
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "1", "1", "1", "-2"]),
        err("ERR quantity must be >= 0")
    );
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "k", "1", "9223372036854775807", "1"]),
        err("ERR rate parameters are out of range")
    );
    r.cmd(&["RPUSH", "list", "a"]);
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "list", "1", "1", "1"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    r.cmd(&["SET", "text", "abc"]);
    assert_eq!(
        r.cmd(&["CL.THROTTLE", "text", "1", "1", "1"]),
        err("ERR value is not an integer or out of range")
    );
    // None of the failures created a key.
    assert_eq!(r.cmd(&["EXISTS", "k"]), int(0));
}

/// Many clients on one limiter: exactly `max_burst + 1` requests pass, whatever the
/// interleaving, because each request runs under the key's shard lock.
#[test]
fn concurrent_clients_share_one_bucket_exactly() {
    let srv = Arc::new(TestServer::with_args(&[("threads", "4")]));
    let allowed = Arc::new(AtomicI64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (srv, allowed) = (srv.clone(), allowed.clone());
            std::thread::spawn(move || {
                let mut r = srv.raw();
                for _ in 0..50 {
                    let reply = throttle(&mut r, &["shared", "99", "1", "3600"]);
                    if reply[0] == 0 {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(allowed.load(Ordering::Relaxed), 100);
}

#[test]
fn works_in_scripts_and_transactions_and_is_in_the_command_table() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let reply = r.cmd(&[
        "EVAL",
        "return redis.call('CL.THROTTLE', KEYS[1], 1, 10, 60)",
        "1",
        "s",
    ]);
    assert_eq!(words(reply), ["0", "2", "1", "-1", "6"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["CL.THROTTLE", "s", "1", "10", "60"]);
    r.cmd(&["CL.THROTTLE", "s", "1", "10", "60"]);
    let exec = words(r.cmd(&["EXEC"]));
    assert_eq!(exec[0], "0,2,0,-1,12");
    assert!(exec[1].starts_with("1,2,0,6,"), "{exec:?}");
    let info = words(r.cmd(&["COMMAND", "INFO", "cl.throttle"]));
    assert!(
        info[0].starts_with("cl.throttle,-5,write,denyoom,fast,1,1,1"),
        "{info:?}"
    );
    assert_eq!(
        r.cmd(&["COMMAND", "GETKEYS", "CL.THROTTLE", "user:1", "1", "1", "1"]),
        Frame::Array(vec![cinnabar_testkit::bulk("user:1")])
    );
}

/// The AOF holds the effect (SET with an absolute deadline), never the command, and a
/// restarted server continues the same limiter.
#[test]
fn logged_to_the_aof_as_its_effect_and_survives_restart() {
    let dir = cinnabar_testkit::temp_dir("throttle");
    let d = dir.to_str().unwrap();
    let args = [("dir", d), ("appendonly", "yes"), ("appendfsync", "always")];
    let tat_before;
    {
        let srv = TestServer::with_args(&args);
        srv.wait_loaded();
        let mut r = srv.raw();
        throttle(&mut r, &["login:1.2.3.4", "1", "1", "600"]);
        throttle(&mut r, &["login:1.2.3.4", "1", "1", "600"]);
        assert_eq!(throttle(&mut r, &["login:1.2.3.4", "1", "1", "600"])[0], 1);
        tat_before = text(&r.cmd(&["GET", "login:1.2.3.4"]));
        let log = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
        let log = String::from_utf8_lossy(&log);
        assert!(!log.to_ascii_uppercase().contains("THROTTLE"), "{log}");
        assert_eq!(log.matches("PXAT").count(), 2, "{log}");
        assert!(log.contains(&tat_before), "{log}");
    }
    let srv = TestServer::with_args(&args);
    srv.wait_loaded();
    let mut r = srv.raw();
    assert_eq!(text(&r.cmd(&["GET", "login:1.2.3.4"])), tat_before);
    assert_eq!(throttle(&mut r, &["login:1.2.3.4", "1", "1", "600"])[0], 1);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
