//! Client limits as Redis 7.2: `client-output-buffer-limit normal` (hard, and soft for N
//! seconds), the limits on clients that have not authenticated, protected mode's refusal
//! text, and that the rest of the server keeps serving meanwhile.

use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_testkit::{int, ok, text, TestServer};

/// Waits until `cond` holds, failing with `what` after 10 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn normal_hard_limit_closes_without_a_reply() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 100000 0 0"
        ]),
        ok()
    );
    let item = "x".repeat(1000);
    for _ in 0..150 {
        r.cmd(&["LPUSH", "mylist", &item]);
    }
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "big"]), ok());
    c.send(&[b"LRANGE", b"mylist", b"0", b"-1"]);
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed, "the client is closed");
    assert!(bytes.is_empty(), "nothing of the reply was sent");
    assert!(!text(&r.cmd(&["CLIENT", "LIST"])).contains("name=big"));
    // A transaction runs completely even when its replies overflow.
    let mut t = srv.raw();
    assert_eq!(t.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SET", "k2", "v2"][..],
        &["LRANGE", "mylist", "0", "-1"],
        &["SET", "k3", "v3"],
    ] {
        assert_eq!(t.cmd(cmd), Frame::Simple("QUEUED".into()));
    }
    t.send(&[b"EXEC"]);
    assert!(t.read_until_close(Duration::from_secs(5)).1);
    assert_eq!(text(&r.cmd(&["GET", "k3"])), "v3");
    // Small replies are unaffected, and the limit goes away with 0.
    assert_eq!(r.cmd(&["LLEN", "mylist"]), int(150));
    assert_eq!(
        r.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0"
        ]),
        ok()
    );
    let mut d = srv.raw();
    let Frame::Array(all) = d.cmd(&["LRANGE", "mylist", "0", "-1"]) else {
        panic!("lrange")
    };
    assert_eq!(all.len(), 150);
}

#[test]
fn normal_soft_limit_closes_a_client_that_stays_over_it() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // 32 MB of replies, more than the socket buffers hold, to a client that never reads.
    let item = "y".repeat(16 * 1024);
    for _ in 0..64 {
        r.cmd(&["RPUSH", "l", &item]);
    }
    assert_eq!(
        r.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 100000 1"
        ]),
        ok()
    );
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "slow"]), ok());
    let mut pipeline = Vec::new();
    for _ in 0..32 {
        let args: [&[u8]; 4] = [b"LRANGE", b"l", b"0", b"-1"];
        cinnabar_resp::encode_command(&args, &mut pipeline);
    }
    c.send_raw(&pipeline);
    wait_for("the slow client to be closed", || {
        !text(&r.cmd(&["CLIENT", "LIST"])).contains("name=slow")
    });
    // Everyone else was served all along.
    assert_eq!(r.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn unauthenticated_clients_are_limited() {
    let srv = TestServer::with_args(&[("requirepass", "pw")]);
    let mut c = srv.raw();
    c.send_raw(b"*100\r\n");
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let mut c = srv.raw();
    // A 512 MB bulk header with nothing after it is refused at once, not buffered.
    c.send_raw(b"*1\r\n$536870912\r\n");
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert!(closed);
    // After AUTH, the same sizes are fine.
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["AUTH", "pw"]), ok());
    let big = "z".repeat(100_000);
    assert_eq!(c.cmd(&["SET", "k", &big]), ok());
    let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut cmd = vec!["RPUSH", "l"];
    cmd.extend(args.iter().map(String::as_str));
    assert_eq!(c.cmd(&cmd), int(40));
}
