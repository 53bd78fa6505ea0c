//! The propagation stream as the AOF records it: a mixed workload over every family, with
//! every command whose effect must be rewritten to replay deterministically (relative
//! deadlines, random pops, float increments, blocking pops served later, scripts,
//! transactions, lazy expiry), replays to the same dataset in a restarted Cinnabar, and
//! the same file replays in a real redis-server (7.0 in CI) to the same dataset.

use std::path::Path;

use crate::aof_files::start_aof;
use cinnabar_resp::Frame;
use cinnabar_testkit::{
    describe_dataset, eventually, temp_dir, text, RawConn, RealRedis, PATIENCE,
};

fn run(r: &mut RawConn, w: &[&str]) -> Frame {
    let f = r.cmd(w);
    assert!(!matches!(f, Frame::Error(_)), "{w:?}: {f:?}");
    f
}

/// Commands that Redis 7.0 also has, covering every family and every rewrite. `restore`:
/// include a RESTORE (its payload is Redis 7.2's RDB version 11, which 7.0 refuses).
fn workload(r: &mut RawConn, other: &mut RawConn, restore: bool) {
    // strings
    run(r, &["SET", "s", "hello"]);
    run(r, &["SET", "s2", "v", "EX", "1000"]);
    run(r, &["SET", "s3", "v", "PX", "900000", "GET"]);
    run(r, &["SET", "s4", "v", "NX", "EX", "100"]);
    run(r, &["SET", "s4", "w", "NX", "EX", "100"]); // not set: nothing to replay
    run(r, &["SETEX", "s5", "1000", "v"]);
    run(r, &["PSETEX", "s6", "1000000", "v"]);
    run(r, &["GETEX", "s", "EX", "500"]);
    run(r, &["GETEX", "s6", "PERSIST"]);
    run(r, &["GETSET", "s7", "x"]);
    run(r, &["GETDEL", "s7"]);
    run(r, &["INCRBYFLOAT", "f", "0.1"]);
    run(r, &["INCRBYFLOAT", "f", "0.2"]);
    run(r, &["MSET", "m1", "1", "m2", "2"]);
    run(r, &["SETRANGE", "s", "1", "EY"]);
    run(r, &["APPEND", "s", "!"]);
    run(r, &["SETBIT", "bits", "3", "1"]);
    run(r, &["BITFIELD", "bits", "INCRBY", "u8", "8", "200"]);
    // keys
    run(r, &["EXPIRE", "m1", "400"]);
    run(r, &["PEXPIRE", "m2", "400000"]);
    run(r, &["SET", "gone", "v"]);
    run(r, &["EXPIRE", "gone", "-5"]);
    run(r, &["SET", "r", "v"]);
    run(r, &["RENAME", "r", "r2"]);
    run(r, &["COPY", "r2", "r3"]);
    run(r, &["MOVE", "r3", "2"]);
    // lists, with a blocked client served by a later push
    other.send(&[b"BLPOP", b"bl", b"0"]);
    r.wait_blocked(1);
    run(r, &["RPUSH", "bl", "a", "b"]);
    assert_eq!(text(&other.read()), "bl,a");
    run(r, &["RPUSH", "l", "1", "2", "3", "4", "5"]);
    run(r, &["LMPOP", "1", "l", "LEFT", "COUNT", "2"]);
    run(r, &["LMOVE", "l", "l2", "RIGHT", "LEFT"]);
    run(r, &["LINSERT", "l", "BEFORE", "4", "x"]);
    run(r, &["LTRIM", "l", "0", "1"]);
    // sets with random pops
    run(r, &["SADD", "set", "a", "b", "c", "d", "e", "f"]);
    run(r, &["SPOP", "set"]);
    run(r, &["SPOP", "set", "2"]);
    run(r, &["SMOVE", "set", "set2", "a"]);
    run(r, &["SADD", "sa", "1", "2"]);
    run(r, &["SUNIONSTORE", "su", "sa", "set"]);
    // hashes
    run(r, &["HSET", "h", "a", "1", "b", "2"]);
    run(r, &["HINCRBYFLOAT", "h", "c", "1.1"]);
    run(r, &["HDEL", "h", "a"]);
    // sorted sets
    run(r, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    run(r, &["ZINCRBY", "z", "0.5", "a"]);
    run(r, &["ZPOPMAX", "z"]);
    run(r, &["ZMPOP", "1", "z", "MIN", "COUNT", "1"]);
    run(r, &["ZREMRANGEBYRANK", "z", "0", "0"]);
    run(r, &["ZUNIONSTORE", "zu", "1", "z"]);
    // transactions and scripts
    run(r, &["MULTI"]);
    r.cmd(&["INCR", "tx"]);
    r.cmd(&["SET", "tx2", "v", "EX", "100"]);
    r.cmd(&["SPOP", "set2"]);
    run(r, &["EXEC"]);
    run(
        r,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'x', 'ex', 300) redis.call('incrbyfloat', KEYS[2], '1.5') return 1",
            "2",
            "e1",
            "e2",
        ],
    );
    // SORT ... STORE, RESTORE with a relative TTL
    run(r, &["RPUSH", "nums", "3", "1", "2"]);
    run(r, &["SORT", "nums", "STORE", "sorted"]);
    if restore {
        let Frame::Bulk(p) = r.cmd(&["DUMP", "h"]) else {
            panic!("DUMP")
        };
        r.send(&[b"RESTORE", b"h2", b"100000", &p]);
        assert_eq!(text(&r.read()), "OK");
    }
    // lazy expiry: a key that expires is deleted in the log where a command found it
    run(r, &["SET", "short", "v", "PX", "1"]);
    eventually(PATIENCE, "the 1 ms key to expire", || {
        text(&r.cmd(&["PTTL", "short"])) == "-2"
    });
    run(r, &["SET", "short", "again"]);
}

fn incr_file(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).expect("incr file")
}

#[test]
fn a_mixed_workload_replays_to_the_same_dataset() {
    let dir = temp_dir("replay");
    let before = {
        let srv = start_aof(&dir);
        let mut r = srv.raw();
        let mut other = srv.raw();
        workload(&mut r, &mut other, true);
        describe_dataset(&mut r, &[0, 2])
    };
    let log = String::from_utf8_lossy(&incr_file(&dir)).into_owned();
    // What must not reach the log as given: relative deadlines, random pops, floats.
    for word in [
        "SPOP",
        "INCRBYFLOAT",
        "SETEX",
        "GETEX",
        "LMPOP",
        "ZMPOP",
        "BLPOP",
        "EVAL",
    ] {
        assert!(
            !log.contains(&format!("\r\n{word}\r\n")),
            "{word} logged as given:\n{log}"
        );
    }
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    assert_eq!(describe_dataset(&mut r, &[0, 2]), before);
}

#[test]
fn our_aof_replays_in_a_real_redis_server() {
    let Some(real) = RealRedis::start(&[]) else {
        return;
    };
    let dir = temp_dir("real");
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    let mut other = srv.raw();
    workload(&mut r, &mut other, real.version >= (7, 2));
    let ours = describe_dataset(&mut r, &[0, 2]);
    let aof = incr_file(&dir);
    // Feed the file to redis-server as a client would pipeline it, and read every reply.
    let n = cinnabar_server::persist::aof::scan(&aof).expect("our AOF parses");
    let mut c = real.conn();
    c.send_raw(&aof);
    for i in 0..n {
        let reply = c.read();
        assert!(
            !matches!(reply, Frame::Error(_)),
            "redis-server refused command {i} of our AOF: {reply:?}"
        );
    }
    let theirs = describe_dataset(&mut c, &[0, 2]);
    assert_eq!(theirs, ours, "redis-server's replay differs from ours");
}
