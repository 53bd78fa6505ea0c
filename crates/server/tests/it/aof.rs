//! The append-only file against a real server: every type and deadline survives a restart,
//! logging is deterministic (SPOP, expiries, transactions), BGREWRITEAOF under writes loses
//! nothing, truncated and corrupt files, AOF precedence over RDB, and a kill -9 crash test
//! counting acknowledged against recovered writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cinnabar_resp::Frame;
use cinnabar_testkit::{
    bulk, describe_dataset, eventually, int, ok, temp_dir, text, words, ChildServer, RawConn,
    RealRedis, TestServer, PATIENCE,
};

fn start(dir: &Path, extra: &[(&str, &str)]) -> TestServer {
    let mut args: Vec<(&str, &str)> = vec![("appendonly", "yes")];
    args.extend_from_slice(extra);
    TestServer::in_dir(dir, &args)
}

/// Every key of dbs 0 and 3 with type, content and absolute deadline.
fn describe(r: &mut RawConn) -> Vec<String> {
    describe_dataset(r, &[0, 3])
}

fn run(r: &mut RawConn, w: &[&str]) -> Frame {
    let f = r.cmd(w);
    assert!(!matches!(f, Frame::Error(_)), "{w:?}: {f:?}");
    f
}

fn populate(r: &mut RawConn) {
    run(r, &["SET", "s", "hello"]);
    run(r, &["SET", "n", "10"]);
    run(r, &["INCRBY", "n", "5"]);
    run(r, &["INCRBYFLOAT", "f", "1.5"]);
    run(r, &["APPEND", "s", " world"]);
    run(r, &["SET", "ex", "v", "EX", "1000"]);
    run(r, &["SETEX", "setex", "1000", "v"]);
    run(r, &["PSETEX", "psetex", "1000000", "v"]);
    run(r, &["SET", "k-exp", "v"]);
    run(r, &["EXPIRE", "k-exp", "500"]);
    run(r, &["SET", "gone", "v"]);
    run(r, &["EXPIRE", "gone", "-1"]);
    run(r, &["GETEX", "s", "PX", "900000"]);
    run(r, &["RPUSH", "l", "a", "b", "c", "d"]);
    run(r, &["LPOP", "l"]);
    run(r, &["LMOVE", "l", "l2", "RIGHT", "LEFT"]);
    run(r, &["SADD", "set", "1", "2", "3", "x", "y", "z", "w"]);
    run(r, &["SPOP", "set"]);
    run(r, &["SPOP", "set", "2"]);
    run(r, &["HSET", "h", "a", "1", "b", "2"]);
    run(r, &["HINCRBY", "h", "a", "10"]);
    run(r, &["HINCRBYFLOAT", "h", "c", "0.25"]);
    run(r, &["HDEL", "h", "b"]);
    run(r, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    run(r, &["ZINCRBY", "z", "5", "a"]);
    run(r, &["ZPOPMIN", "z"]);
    run(r, &["MULTI"]);
    r.cmd(&["INCR", "tx"]);
    r.cmd(&["SET", "tx2", "v"]);
    run(r, &["EXEC"]);
    run(r, &["SELECT", "3"]);
    run(r, &["SET", "in3", "v"]);
    run(r, &["SELECT", "0"]);
    run(r, &["RENAME", "n", "n2"]);
    run(r, &["COPY", "l2", "l3"]);
    let p = r.cmd(&["DUMP", "h"]);
    let Frame::Bulk(p) = p else { panic!() };
    r.send(&[b"RESTORE", b"h-restored", b"100000", &p]);
    assert_eq!(r.read(), ok());
}

#[test]
fn every_type_and_deadline_round_trips_through_the_aof() {
    for fsync in ["always", "everysec", "no"] {
        let dir = temp_dir(&format!("rt-{fsync}"));
        let before = {
            let srv = start(&dir, &[("appendfsync", fsync)]);
            let mut r = srv.raw();
            populate(&mut r);
            let d = describe(&mut r);
            cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
            d
        };
        let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
        let m = std::fs::read_to_string(&manifest).unwrap();
        assert!(m.contains("appendonly.aof.1.base.rdb seq 1 type b"), "{m}");
        assert!(m.contains("appendonly.aof.1.incr.aof seq 1 type i"), "{m}");
        let srv = start(&dir, &[("appendfsync", fsync)]);
        let mut r = srv.raw();
        assert_eq!(describe(&mut r), before, "appendfsync {fsync}");
        // The log was appended to, not replaced: more writes, another restart.
        run(&mut r, &["SET", "after", "restart"]);
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
        let before = describe(&mut r);
        drop(r);
        drop(srv);
        let srv = start(&dir, &[]);
        let mut r = srv.raw();
        assert_eq!(describe(&mut r), before);
    }
}

#[test]
fn relative_deadlines_are_logged_as_absolute() {
    let dir = temp_dir("abs");
    let srv = start(&dir, &[("appendfsync", "always")]);
    let mut r = srv.raw();
    run(&mut r, &["SET", "a", "v", "EX", "100"]);
    run(&mut r, &["EXPIRE", "a", "200"]);
    run(&mut r, &["SADD", "s", "m1", "m2", "m3"]);
    let popped = text(&run(&mut r, &["SPOP", "s"]));
    let incr = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let log = String::from_utf8_lossy(&incr);
    assert!(log.contains("PXAT"), "{log}");
    assert!(log.contains("PEXPIREAT"), "{log}");
    assert!(
        !log.contains("\r\nEX\r\n") && !log.contains("EXPIRE\r\n"),
        "{log}"
    );
    assert!(
        log.contains(&format!("SREM\r\n$1\r\ns\r\n${}\r\n{popped}", popped.len())),
        "{log}"
    );
}

#[test]
fn expired_keys_are_logged_so_replay_matches() {
    let dir = temp_dir("expired");
    let before = {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "k", "old", "PX", "30"]);
        srv.advance_clock(31);
        // The key has expired: APPEND creates a new key without deadline.
        run(&mut r, &["APPEND", "k", "new"]);
        describe(&mut r)
    };
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
    assert_eq!(r.cmd(&["GET", "k"]), bulk("new"));
    assert_eq!(r.cmd(&["PTTL", "k"]), int(-1));
}

#[test]
fn config_set_appendonly_at_run_time() {
    let dir = temp_dir("config");
    {
        let srv = TestServer::with_args(&[("dir", dir.to_str().unwrap())]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "before", "1"]);
        assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "yes"]), ok());
        let info = text(&r.cmd(&["INFO", "persistence"]));
        assert!(info.contains("aof_enabled:1"), "{info}");
        run(&mut r, &["SET", "after", "2"]);
        wait_initial_rewrite(&mut r);
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
    }
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GET", "before"]), bulk("1"));
    assert_eq!(r.cmd(&["GET", "after"]), bulk("2"));
    assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "no"]), ok());
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("aof_enabled:0"), "{info}");
}

/// Waits for the rewrite that switching the AOF on starts to write its base.
fn wait_initial_rewrite(r: &mut RawConn) {
    eventually(PATIENCE, "the AOF's first rewrite", || {
        r.info_field("persistence", "aof_rewrite_in_progress") == "0"
            && r.info_field("persistence", "aof_rewrite_scheduled") == "0"
            && r.info_field("persistence", "aof_rewrites") != "0"
    });
}

/// CONFIG SET appendonly yes returns at once, as Redis's: the base is written by a
/// background rewrite while clients go on; writes made meanwhile are logged once, after the
/// base; no manifest names the new files before the base is complete; a shutdown refuses to
/// exit until it is ("Writing initial AOF").
#[test]
fn switching_the_aof_on_writes_its_base_in_the_background() {
    let dir = temp_dir("aof-on-background");
    {
        let srv = TestServer::with_args(&[("dir", dir.to_str().unwrap()), ("save", "")]);
        let mut r = srv.raw();
        for i in 0..20 {
            run(&mut r, &["SET", &format!("k{i}"), "v"]);
        }
        assert_eq!(r.cmd(&["INCR", "counter"]), int(1));
        // One second per key: the base takes 20 s unless the delay is lifted.
        run(&mut r, &["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
        assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "yes"]), ok());
        assert_eq!(r.info_field("persistence", "aof_enabled"), "1");
        assert_eq!(r.info_field("persistence", "aof_rewrite_in_progress"), "1");
        // Clients are served meanwhile, and their writes logged after the snapshot.
        assert_eq!(r.cmd(&["INCR", "counter"]), int(2));
        assert_eq!(r.cmd(&["GET", "k3"]), bulk("v"));
        let manifest = dir.join("appendonlydir").join("appendonly.aof.manifest");
        assert!(!manifest.exists(), "no manifest before the base is written");
        assert_eq!(
            text(&r.cmd(&["SHUTDOWN"])),
            "ERR:ERR Errors trying to SHUTDOWN. Check logs.",
            "no exit before the AOF holds the dataset"
        );
        run(&mut r, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        wait_initial_rewrite(&mut r);
        assert!(manifest.exists());
        assert_eq!(r.cmd(&["INCR", "counter"]), int(3));
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
    }
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["GET", "counter"]),
        bulk("3"),
        "each INCR replayed once"
    );
    assert_eq!(r.cmd(&["DBSIZE"]), int(21));
    let _ = std::fs::remove_dir_all(&dir);
}

fn manifest_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The single-file AOF of Redis before 7.0 (`dir/appendonly.aof`, plain commands or an RDB
/// preamble followed by commands) is loaded and upgraded as Redis 7 does: moved into the AOF
/// directory as the base, a first incremental file after it, and a rewrite replaces both.
#[test]
fn a_single_file_aof_of_old_redis_is_loaded_and_upgraded() {
    // An RDB of k1 (written by us; the preamble is an RDB like any other).
    let rdb = {
        let d = temp_dir("aof-old-rdb");
        let srv = TestServer::in_dir(&d, &[]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "k1", "from-preamble"]);
        run(&mut r, &["SAVE"]);
        drop(srv);
        let b = std::fs::read(d.join("dump.rdb")).unwrap();
        let _ = std::fs::remove_dir_all(&d);
        b
    };
    let commands =
        b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$2\r\nv2\r\n*3\r\n$3\r\nSET\r\n$2\r\nk3\r\n$2\r\nv3\r\n";
    for preamble in [false, true] {
        let dir = temp_dir("aof-old");
        let mut old = if preamble { rdb.clone() } else { Vec::new() };
        old.extend_from_slice(commands);
        std::fs::write(dir.join("appendonly.aof"), &old).unwrap();
        {
            let srv = start(&dir, &[]);
            let mut r = srv.raw();
            assert_eq!(r.cmd(&["GET", "k2"]), bulk("v2"), "preamble {preamble}");
            assert_eq!(r.cmd(&["GET", "k3"]), bulk("v3"));
            let k1 = if preamble {
                bulk("from-preamble")
            } else {
                Frame::Null
            };
            assert_eq!(r.cmd(&["GET", "k1"]), k1);
            assert!(!dir.join("appendonly.aof").exists(), "moved");
            assert!(dir.join("appendonlydir/appendonly.aof").exists());
            assert_eq!(
                manifest_lines(&dir),
                [
                    "file appendonly.aof seq 1 type b",
                    "file appendonly.aof.1.incr.aof seq 1 type i"
                ]
            );
            run(&mut r, &["SET", "k4", "v4"]);
            cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
        }
        // Loaded again from the upgraded layout, then rewritten.
        let srv = start(&dir, &[]);
        let mut r = srv.raw();
        assert_eq!(r.cmd(&["GET", "k4"]), bulk("v4"));
        run(&mut r, &["BGREWRITEAOF"]);
        eventually(PATIENCE, "the rewrite", || {
            r.info_field("persistence", "aof_rewrite_in_progress") == "0"
                && r.info_field("persistence", "aof_rewrites") == "1"
        });
        assert_eq!(
            manifest_lines(&dir),
            [
                "file appendonly.aof.2.base.rdb seq 2 type b",
                "file appendonly.aof.2.incr.aof seq 2 type i"
            ]
        );
        assert!(!dir.join("appendonlydir/appendonly.aof").exists());
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }
    // An upgrade cut between writing the manifest and moving the file is finished.
    let dir = temp_dir("aof-old-interrupted");
    std::fs::write(dir.join("appendonly.aof"), commands).unwrap();
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
    std::fs::write(
        dir.join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof seq 1 type b\n",
    )
    .unwrap();
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GET", "k3"]), bulk("v3"));
    assert!(!dir.join("appendonly.aof").exists());
    assert_eq!(
        manifest_lines(&dir),
        [
            "file appendonly.aof seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i"
        ]
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aof_takes_precedence_over_rdb() {
    let dir = temp_dir("precedence");
    {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "k", "from-rdb"]);
        run(&mut r, &["SAVE"]);
        run(&mut r, &["SET", "k", "from-aof"]);
    }
    assert!(dir.join("dump.rdb").exists());
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GET", "k"]), bulk("from-aof"));
}

#[test]
fn bgrewriteaof_during_writes_loses_nothing() {
    let dir = temp_dir("rewrite");
    let expected = {
        let srv = start(&dir, &[("appendfsync", "everysec")]);
        let mut r = srv.raw();
        for i in 0..2000 {
            r.send(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
        }
        for _ in 0..2000 {
            r.read();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let addr = srv.addr();
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut c = RawConn::connect(addr);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) || n < 200 {
                        assert_eq!(c.cmd(&["INCR", &format!("counter:{t}")]), int(n as i64 + 1));
                        c.cmd(&["RPUSH", &format!("list:{t}"), &n.to_string()]);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        // The rewrite starts while every writer is writing.
        eventually(PATIENCE, "every writer to start", || {
            (0..4).all(|t| r.cmd(&["EXISTS", &format!("counter:{t}")]) == int(1))
        });
        assert_eq!(
            r.cmd(&["BGREWRITEAOF"]),
            Frame::Simple("Background append only file rewriting started".into())
        );
        let info = eventually(PATIENCE, "BGREWRITEAOF to finish", || {
            let info = text(&r.cmd(&["INFO", "persistence"]));
            info.contains("aof_rewrite_in_progress:0").then_some(info)
        });
        assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
        assert!(info.contains("aof_rewrites:1"), "{info}");
        stop.store(true, Ordering::Relaxed);
        let counts: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
        let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        assert!(m.contains("appendonly.aof.2.base.rdb seq 2 type b"), "{m}");
        assert!(m.contains("appendonly.aof.2.incr.aof seq 2 type i"), "{m}");
        assert!(!m.contains(".1."), "{m}");
        assert!(!dir.join("appendonlydir/appendonly.aof.1.base.rdb").exists());
        (counts, describe(&mut r))
    };
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    for (t, n) in expected.0.iter().enumerate() {
        assert_eq!(
            r.cmd(&["GET", &format!("counter:{t}")]),
            bulk(&n.to_string())
        );
        assert_eq!(r.cmd(&["LLEN", &format!("list:{t}")]), int(*n as i64));
    }
    assert_eq!(describe(&mut r), expected.1);
}

fn last_incr(dir: &Path) -> PathBuf {
    let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    let name = m
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    dir.join("appendonlydir").join(name)
}

#[test]
fn truncated_last_command_is_cut_with_a_warning() {
    let dir = temp_dir("truncated");
    {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "a", "1"]);
        run(&mut r, &["SET", "b", "2"]);
    }
    let incr = last_incr(&dir);
    let good_len = std::fs::metadata(&incr).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap()
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nhal")
        .unwrap();
    // aof-load-truncated no: start-up fails and the file is left as it is.
    let srv = start(&dir, &[("aof-load-truncated", "no")]);
    let msg = srv
        .handle
        .server
        .persist
        .fatal
        .lock()
        .clone()
        .expect("fatal");
    assert!(msg.contains("Unexpected end of file"), "{msg}");
    drop(srv);
    assert!(std::fs::metadata(&incr).unwrap().len() > good_len);
    // Default (yes): the partial command is cut off and everything before it loads.
    let srv = start(&dir, &[]);
    assert!(srv.handle.server.persist.fatal.lock().is_none());
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GET", "a"]), bulk("1"));
    assert_eq!(r.cmd(&["GET", "b"]), bulk("2"));
    assert_eq!(r.cmd(&["EXISTS", "c"]), int(0));
    drop(r);
    drop(srv);
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), good_len);
}

#[test]
fn corrupt_command_in_the_middle_stops_start_up() {
    let dir = temp_dir("corrupt");
    {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "a", "1"]);
        run(&mut r, &["SET", "b", "2"]);
        run(&mut r, &["SET", "c", "3"]);
    }
    let incr = last_incr(&dir);
    let mut bytes = std::fs::read(&incr).unwrap();
    let at = bytes.windows(3).position(|w| w == b"\r\nb").unwrap() - 3;
    bytes[at] = b'!';
    std::fs::write(&incr, &bytes).unwrap();
    let srv = start(&dir, &[]);
    let msg = srv
        .handle
        .server
        .persist
        .fatal
        .lock()
        .clone()
        .expect("fatal");
    assert!(
        msg.contains("Bad file format") && msg.contains("offset"),
        "{msg}"
    );
    drop(srv);
    assert_eq!(std::fs::read(&incr).unwrap(), bytes);
}

// ---------------------------------------------------------------------------------------
// kill -9 under load
// ---------------------------------------------------------------------------------------

/// The server binary with an AOF in `dir`, as a child process that can be SIGKILLed.
fn child(dir: &Path, fsync: &str) -> ChildServer {
    ChildServer::start(
        Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        &[
            "--save",
            "",
            "--dir",
            dir.to_str().unwrap(),
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
            "--loglevel",
            "warning",
        ],
    )
}

/// Writes from several clients, kills the server with SIGKILL mid-stream, restarts it on
/// the same files, and returns (acknowledged, recovered) per client.
fn crash_round(dir: &Path, fsync: &str, round: usize) -> Vec<(u64, u64)> {
    let mut p = child(dir, fsync);
    let addr = p.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let stop = stop.clone();
            let total = total.clone();
            std::thread::spawn(move || {
                let mut r = RawConn::connect(addr);
                let key = format!("r{round}:c{c}");
                let mut acked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    r.send(&[b"RPUSH", key.as_bytes(), (acked + 1).to_string().as_bytes()]);
                    let mut buf = [0u8; 64];
                    use std::io::Read;
                    match r.stream.read(&mut buf) {
                        Ok(n) if n > 0 && buf[0] == b':' => {
                            acked += 1;
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // Killed mid-stream: once a few hundred writes were acknowledged (not after a time).
    eventually(PATIENCE, "400 acknowledged writes", || {
        total.load(Ordering::Relaxed) >= 400
    });
    p.kill(); // SIGKILL
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    drop(p);
    let p = child(dir, fsync);
    let mut r = p.conn();
    let mut out = Vec::new();
    for (c, a) in acked.iter().enumerate() {
        let key = format!("r{round}:c{c}");
        let Frame::Integer(n) = r.cmd(&["LLEN", &key]) else {
            panic!()
        };
        // Recovered elements are exactly 1..n in order: nothing reordered or duplicated.
        if n > 0 {
            let last = r.cmd(&["LINDEX", &key, "-1"]);
            assert_eq!(last, bulk(&n.to_string()));
        }
        out.push((*a, n as u64));
    }
    out
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    let dir = temp_dir("kill9-always");
    let mut total_acked = 0;
    for round in 0..3 {
        for (acked, recovered) in crash_round(&dir, "always", round) {
            assert!(
                recovered >= acked,
                "round {round}: {acked} acknowledged, {recovered} recovered"
            );
            // At most the writes in flight when the server died are extra.
            assert!(
                recovered <= acked + 1,
                "round {round}: {acked} vs {recovered}"
            );
            total_acked += acked;
        }
    }
    eprintln!("kill -9 / always: {total_acked} acknowledged writes over 3 rounds, all recovered");
}

#[test]
fn kill_9_with_appendfsync_everysec_loses_no_acknowledged_write() {
    let dir = temp_dir("kill9-everysec");
    let (mut acked, mut lost) = (0, 0);
    for round in 0..2 {
        for (a, r) in crash_round(&dir, "everysec", round) {
            acked += a;
            lost += a.saturating_sub(r);
        }
    }
    // Replies wait until their writes reach the kernel, so a killed process (unlike a power
    // cut, which may lose the last second) loses no acknowledged write.
    eprintln!("kill -9 / everysec: {acked} acknowledged, {lost} lost");
    assert!(acked > 0);
    assert_eq!(lost, 0);
}

#[test]
fn loads_an_aof_written_by_real_redis() {
    let dir = temp_dir("from-redis");
    let Some(mut redis) =
        RealRedis::start_in(&dir, &["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let mut r = redis.conn();
    populate(&mut r);
    let before = describe(&mut r);
    redis.kill();
    let srv = start(&dir, &[]);
    assert!(srv.handle.server.persist.fatal.lock().is_none());
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
}

#[test]
fn conditional_set_with_expiry_that_did_not_set_is_not_replayed() {
    let dir = temp_dir("set-nx");
    let before = {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SET", "k", "old", "EX", "1000"]);
        assert_eq!(r.cmd(&["SET", "k", "new", "NX", "EX", "5"]), Frame::Null);
        assert_eq!(
            r.cmd(&["SET", "missing", "v", "XX", "PX", "5000"]),
            Frame::Null
        );
        run(&mut r, &["SET", "k2", "v", "NX", "PX", "100000"]);
        describe(&mut r)
    };
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
    assert_eq!(r.cmd(&["GET", "k"]), bulk("old"));
}

#[test]
fn pops_that_serve_blocked_clients_are_logged() {
    let dir = temp_dir("blocked");
    {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut waiter = srv.raw();
        waiter.send(&[b"BLPOP", b"q", b"0"]);
        let mut r = srv.raw();
        // Wait until the waiter is registered, then push two elements.
        eventually(PATIENCE, "the BLPOP to block", || {
            r.info_field("clients", "blocked_clients") == "1"
        });
        assert_eq!(r.cmd(&["RPUSH", "q", "a", "b"]), int(2));
        assert_eq!(waiter.read(), Frame::Array(vec![bulk("q"), bulk("a")]));
        assert_eq!(
            r.cmd(&["LRANGE", "q", "0", "-1"]),
            Frame::Array(vec![bulk("b")])
        );
    }
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["LRANGE", "q", "0", "-1"]),
        Frame::Array(vec![bulk("b")])
    );
}

#[test]
fn expired_hash_fields_are_logged_so_replay_matches() {
    let dir = temp_dir("hfe");
    let before = {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["HSET", "h", "f", "old", "g", "keep"]);
        run(&mut r, &["HPEXPIRE", "h", "30", "FIELDS", "1", "f"]);
        run(&mut r, &["HSET", "h2", "x", "1"]);
        run(&mut r, &["HPEXPIRE", "h2", "30", "FIELDS", "1", "x"]);
        srv.advance_clock(31);
        // The field has expired: HSETNX sets it again, without deadline.
        assert_eq!(r.cmd(&["HSETNX", "h", "f", "new"]), int(1));
        assert_eq!(r.cmd(&["HLEN", "h2"]), int(0));
        run(&mut r, &["HSET", "h2", "y", "2"]);
        describe(&mut r)
    };
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
    assert_eq!(r.cmd(&["HGET", "h", "f"]), bulk("new"));
    assert_eq!(
        r.cmd(&["HGETALL", "h2"]),
        Frame::Array(vec![bulk("y"), bulk("2")])
    );
}

#[test]
fn bgsave_and_bgrewriteaof_take_turns() {
    let dir = temp_dir("turns");
    {
        let srv = start(&dir, &[("appendfsync", "everysec")]);
        let mut r = srv.raw();
        for chunk in 0..20 {
            let mut args = vec!["MSET".to_string()];
            for i in 0..1000 {
                args.push(format!("key:{}", chunk * 1000 + i));
                args.push(format!("value:{i}"));
            }
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            assert_eq!(r.cmd(&a), ok());
        }
        assert_eq!(
            r.cmd(&["BGSAVE"]),
            Frame::Simple("Background saving started".into())
        );
        let reply = text(&r.cmd(&["BGREWRITEAOF"]));
        assert!(
            reply == "Background append only file rewriting scheduled"
                || reply == "Background append only file rewriting started",
            "{reply}"
        );
        let info = eventually(
            PATIENCE,
            "BGSAVE and the scheduled rewrite to finish",
            || {
                let info = text(&r.cmd(&["INFO", "persistence"]));
                (info.contains("rdb_bgsave_in_progress:0")
                    && info.contains("aof_rewrite_in_progress:0")
                    && info.contains("aof_rewrite_scheduled:0")
                    && info.contains("aof_rewrites:1"))
                .then_some(info)
            },
        );
        assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
        assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
    }
    // Both the AOF and the RDB file hold the whole dataset.
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["DBSIZE"]), int(20_000));
    drop(r);
    drop(srv);
    let srv = TestServer::in_dir(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["DBSIZE"]), int(20_000));
    assert_eq!(r.cmd(&["GET", "key:19999"]), bulk("value:999"));
}

/// Scripts are logged as their effects inside MULTI/EXEC, deterministically (SPOP as SREM,
/// relative expiry as absolute), never as EVAL: the file replays to the same data.
#[test]
fn scripts_are_logged_as_their_effects() {
    let dir = temp_dir("scripts");
    {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        run(&mut r, &["SADD", "s", "a", "b", "c"]);
        run(
            &mut r,
            &[
                "EVAL",
                "local m = redis.call('spop', KEYS[1]) redis.call('set', 'popped', m) \
                 redis.call('expire', 'popped', 100) redis.call('incr', 'undeclared') return m",
                "1",
                "s",
            ],
        );
        run(
            &mut r,
            &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('bump', function(k) return redis.call('incrby', k[1], 5) end)"],
        );
        run(&mut r, &["FCALL", "bump", "1", "counter"]);
        let incr = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
        let log = String::from_utf8_lossy(&incr);
        assert!(!log.contains("EVAL") && !log.contains("FCALL"), "{log}");
        assert!(
            log.contains("MULTI") && log.contains("SREM") && log.contains("PEXPIREAT"),
            "{log}"
        );
        srv.handle.server.request_shutdown();
    }
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(text(&run(&mut r, &["SCARD", "s"])), "2");
    let popped = text(&run(&mut r, &["GET", "popped"]));
    assert_eq!(text(&run(&mut r, &["SISMEMBER", "s", &popped])), "0");
    assert_eq!(text(&run(&mut r, &["GET", "undeclared"])), "1");
    assert_eq!(text(&run(&mut r, &["GET", "counter"])), "5");
    let ttl: i64 = text(&run(&mut r, &["TTL", "popped"])).parse().unwrap();
    assert!(ttl > 0 && ttl <= 100, "{ttl}");
    // The library came back too (FUNCTION LOAD is logged), and survives a rewrite (RDB base).
    assert_eq!(text(&run(&mut r, &["FCALL", "bump", "1", "counter"])), "10");
    run(&mut r, &["BGREWRITEAOF"]);
    eventually(PATIENCE, "BGREWRITEAOF to finish", || {
        r.info_field("persistence", "aof_rewrite_in_progress") == "0"
    });
    srv.handle.server.request_shutdown();
    drop(srv);
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(text(&run(&mut r, &["FCALL", "bump", "1", "counter"])), "15");
}

/// The incremental file as commands, words joined by spaces; absolute times in ms (any
/// number past 10^12) read `<ms>`.
fn logged(dir: &Path) -> Vec<String> {
    let bytes = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (f, n) = Frame::parse(&bytes[pos..]).unwrap().unwrap();
        pos += n;
        let w: Vec<String> = words(f)
            .into_iter()
            .map(|w| match w.parse::<i64>() {
                Ok(n) if n > 1_000_000_000_000 => "<ms>".to_string(),
                _ => w,
            })
            .collect();
        out.push(w.join(" "));
    }
    out
}

/// Hash and sorted set writes reach the AOF as Redis propagates them: field deadlines as
/// HPEXPIREAT / HSETEX ... PXAT with absolute times and only the fields set, fields a past
/// time deleted as HDEL, HINCRBYFLOAT as the value it produced (HSETEX KEEPTTL for a field
/// with a deadline), HGETEX as HPEXPIREAT / HPERSIST, HGETDEL as HDEL, ZMPOP as ZPOPMAX
/// key count; writes that change nothing are not logged. The file replays to the same data
/// and deadlines.
#[test]
fn hash_and_zset_writes_are_logged_as_redis_propagates_them() {
    let dir = temp_dir("hash-zset");
    let ttls = |r: &mut RawConn| {
        (
            r.cmd(&["HPEXPIRETIME", "h", "FIELDS", "4", "a", "b", "c", "d"]),
            r.cmd(&["HPEXPIRETIME", "h2", "FIELDS", "2", "x", "y"]),
        )
    };
    let (before, before_ttls) = {
        let srv = start(&dir, &[("appendfsync", "always")]);
        let mut r = srv.raw();
        let cmds: &[&[&str]] = &[
            &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"],
            &["HEXPIRE", "h", "100", "FIELDS", "3", "a", "zz", "b"],
            &["HEXPIRE", "h", "100", "NX", "FIELDS", "2", "a", "c"],
            &["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "a"],
            &["HPEXPIRE", "h", "0", "FIELDS", "2", "a", "zz"],
            &["HPERSIST", "h", "FIELDS", "2", "c", "d"],
            &["HPERSIST", "h", "FIELDS", "1", "d"],
            &["HINCRBYFLOAT", "h", "d", "1.5"],
            &["HINCRBYFLOAT", "h", "b", "0.5"],
            &["HDEL", "h", "zz"],
            &[
                "HSETEX", "h2", "EX", "100", "FIELDS", "2", "x", "1", "y", "2",
            ],
            &["HSETEX", "h2", "FNX", "FIELDS", "1", "x", "2"],
            &["HSETEX", "h2", "PXAT", "1", "FIELDS", "1", "y", "1"],
            &["HGETEX", "h2", "FIELDS", "1", "x"],
            &["HGETEX", "h2", "EX", "200", "FIELDS", "2", "x", "zz"],
            &["HGETEX", "h2", "PERSIST", "FIELDS", "1", "x"],
            &["HGETEX", "h2", "PX", "300000", "FIELDS", "1", "x"],
            &["HSET", "h3", "a", "1", "b", "2"],
            &["HGETDEL", "h3", "FIELDS", "2", "a", "zz"],
            &["HGETDEL", "h3", "FIELDS", "1", "zz"],
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZADD", "z", "1", "a"],
            &["ZMPOP", "1", "z", "MAX", "COUNT", "5"],
            &["ZADD", "s", "1", "x"],
            &["ZINTERSTORE", "dst", "2", "s", "nokey"],
            &["ZUNIONSTORE", "dst", "1", "s"],
            &["ZREMRANGEBYSCORE", "dst", "5", "6"],
        ];
        for cmd in cmds {
            run(&mut r, cmd);
        }
        assert_eq!(
            logged(&dir),
            [
                "SELECT 0",
                "HSET h a 1 b 2 c 3 d 4",
                "HPEXPIREAT h <ms> FIELDS 2 a b",
                "HPEXPIREAT h <ms> NX FIELDS 1 c",
                "HDEL h a",
                "HPERSIST h FIELDS 2 c d",
                "HSET h d 5.5",
                "HSETEX h KEEPTTL FIELDS 1 b 2.5",
                "HSETEX h2 PXAT <ms> FIELDS 2 x 1 y 2",
                "HDEL h2 y",
                "HPEXPIREAT h2 <ms> FIELDS 2 x zz",
                "HPERSIST h2 FIELDS 1 x",
                "HPEXPIREAT h2 <ms> FIELDS 1 x",
                "HSET h3 a 1 b 2",
                "HDEL h3 a zz",
                "ZADD z 1 a 2 b 3 c",
                "ZPOPMAX z 3",
                "ZADD s 1 x",
                "ZUNIONSTORE dst 1 s",
            ]
        );
        (describe(&mut r), ttls(&mut r))
    };
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
    assert_eq!(ttls(&mut r), before_ttls);
}

/// The aux fields of an RDB file, in order.
fn rdb_aux_fields(path: &Path) -> Vec<(String, String)> {
    use cinnabar_engine::rdb::{Item, Limits, Reader};
    let f = std::fs::File::open(path).unwrap();
    let mut aux = Vec::new();
    Reader::new(std::io::BufReader::new(f))
        .load(&Limits::default(), 16, 0, |item| {
            if let Item::Aux(k, v) = item {
                aux.push((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
            Ok(())
        })
        .unwrap();
    aux
}

/// The AOF's RDB base, written at start-up and by BGREWRITEAOF, carries Redis's aux fields
/// for a preamble (rdbSaveInfoAuxFields with the AOF flag): `used-mem` (the memory in use),
/// `aof-base` 1, and no replication fields.
#[test]
fn aof_base_has_the_aux_fields_of_redis_preamble() {
    let dir = temp_dir("aof-base-aux");
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    run(&mut r, &["SET", "k", "v"]);
    run(&mut r, &["BGREWRITEAOF"]);
    eventually(PATIENCE, "BGREWRITEAOF to finish", || {
        r.info_field("persistence", "aof_rewrite_in_progress") == "0"
            && r.info_field("persistence", "aof_rewrites") == "1"
    });
    check_base_aux(&rdb_aux_fields(
        &dir.join("appendonlydir/appendonly.aof.2.base.rdb"),
    ));
    // The start-up base (replaced above by the rewrite's): a fresh directory's.
    let first = temp_dir("aof-base-aux-first");
    drop(start(&first, &[]));
    check_base_aux(&rdb_aux_fields(
        &first.join("appendonlydir/appendonly.aof.1.base.rdb"),
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&first);
}

fn check_base_aux(aux: &[(String, String)]) {
    let keys: Vec<&str> = aux.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"],
        "{aux:?}"
    );
    assert!(aux[3].1.parse::<u64>().unwrap() > 0, "{aux:?}");
    assert_eq!(aux[4].1, "1");
}

/// DEBUG AOF-FLUSH-SLEEP delays each write of the AOF; under `appendfsync always` a write's
/// reply still waits for its command to be in the file (Redis's "fsync always barrier").
#[test]
fn aof_flush_sleep_delays_the_write_and_replies_wait_for_it() {
    let dir = temp_dir("aof-flush-sleep");
    let srv = start(
        &dir,
        &[("appendfsync", "always"), ("enable-debug-command", "yes")],
    );
    let mut r = srv.raw();
    run(&mut r, &["SET", "x", "1"]);
    assert_eq!(r.cmd(&["DEBUG", "AOF-FLUSH-SLEEP", "200000"]), ok());
    let incr = last_incr(&dir);
    let before = std::fs::metadata(&incr).unwrap().len();
    let t = std::time::Instant::now();
    assert_eq!(r.cmd(&["INCR", "new_value"]), int(1));
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(200),
        "the write slept first"
    );
    assert!(
        std::fs::metadata(&incr).unwrap().len() > before,
        "logged before the reply"
    );
    assert_eq!(r.cmd(&["DEBUG", "AOF-FLUSH-SLEEP", "0"]), ok());
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A read-only replica replays the writes of scripts from its AOF: the loader, like the
/// primary's link, is obeyed whatever the role (Redis's mustObeyClient).
#[test]
fn a_read_only_replica_replays_script_writes_from_its_aof() {
    let dir = temp_dir("aof-replica-scripts");
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
    std::fs::write(
        dir.join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let cmd = |words: &[&str]| -> Vec<u8> {
        let mut out = format!("*{}\r\n", words.len()).into_bytes();
        for w in words {
            out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
        }
        out
    };
    let mut aof = cmd(&["SELECT", "9"]);
    aof.extend(cmd(&[
        "EVAL",
        "redis.call('set',KEYS[1],'100')",
        "1",
        "foo",
    ]));
    aof.extend(cmd(&["EVAL", "redis.call('incr',KEYS[1])", "1", "foo"]));
    aof.extend(cmd(&["EVAL", "redis.call('incr',KEYS[1])", "1", "foo"]));
    std::fs::write(dir.join("appendonlydir/appendonly.aof.1.incr.aof"), aof).unwrap();
    let srv = start(
        &dir,
        &[("replica-read-only", "yes"), ("replicaof", "127.0.0.1 0")],
    );
    let mut r = srv.raw();
    run(&mut r, &["SELECT", "9"]);
    assert_eq!(r.cmd(&["GET", "foo"]), bulk("102"));
    // Its own clients' scripts are still refused writes.
    let refused = text(&r.cmd(&["EVAL", "return redis.call('incr',KEYS[1])", "1", "foo"]));
    assert!(
        refused.starts_with("ERR:READONLY You can't write against a read only replica."),
        "{refused}"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A slow script replayed from the AOF (DEBUG LOADAOF): other clients are told the server is
/// loading (-LOADING), not that a script is busy, as Redis checks loading first.
#[test]
fn a_slow_script_replayed_from_the_aof_answers_loading() {
    let dir = temp_dir("aof-slow-script");
    let srv = start(
        &dir,
        &[
            ("busy-reply-threshold", "1"),
            ("enable-debug-command", "yes"),
            ("aof-use-rdb-preamble", "yes"),
        ],
    );
    let mut r = srv.raw();
    // Logged as the script's effects: replace them with the verbatim script.
    let incr = last_incr(&dir);
    let script =
        "redis.call('set',KEYS[1],'y'); for i=1,500000 do redis.call('ping') end return 'ok'";
    let words = ["EVAL", script, "1", "x"];
    let mut cmd = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        cmd.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap()
        .write_all(&cmd)
        .unwrap();
    let mut loader = srv.raw();
    loader.send(&[b"DEBUG", b"LOADAOF"]);
    eventually(PATIENCE, "-LOADING while the script runs", || {
        text(&r.cmd(&["PING"])).starts_with("ERR:LOADING")
    });
    assert_eq!(loader.read(), ok());
    assert_eq!(r.cmd(&["GET", "x"]), bulk("y"));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// aof-timestamp-enabled: a `#TS:<unix time>` line precedes the first command of each new
/// second, and the file loads back (annotations are skipped).
#[test]
fn timestamp_annotations_are_written_and_loaded() {
    let dir = temp_dir("aof-ts");
    {
        let srv = start(&dir, &[]);
        let mut r = srv.raw();
        run(&mut r, &["CONFIG", "SET", "aof-timestamp-enabled", "yes"]);
        run(&mut r, &["SET", "foo", "bar"]);
        run(&mut r, &["SET", "foo2", "bar2"]);
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
        let text = std::fs::read_to_string(last_incr(&dir)).unwrap();
        let first = text.lines().next().unwrap();
        let secs: i64 = first.strip_prefix("#TS:").expect(first).parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - 60..=now).contains(&secs), "{secs}");
    }
    let srv = start(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["GET", "foo2"]), bulk("bar2"));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Everything a rewrite must keep of a stream besides its entries: counters, groups, who
/// holds which pending entry and how often it was delivered (idle times are left out: they
/// move with the clock).
fn stream_state(r: &mut RawConn, key: &str) -> Vec<String> {
    let mut out = words(run(r, &["XINFO", "STREAM", key]))
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    out.extend(words(run(r, &["XINFO", "GROUPS", key])));
    for g in ["g1", "g2"] {
        let Frame::Array(p) = run(r, &["XPENDING", key, g, "-", "+", "100"]) else {
            panic!("XPENDING's entries expected")
        };
        for e in p {
            let Frame::Array(f) = e else { panic!() };
            out.push(format!(
                "{g} {} {} {}",
                text(&f[0]),
                text(&f[1]),
                text(&f[3])
            ));
        }
        let Frame::Array(cs) = run(r, &["XINFO", "CONSUMERS", key, g]) else {
            panic!()
        };
        for c in cs {
            let w = words(c);
            out.push(format!("{g} consumer {} pending {}", w[1], w[3]));
        }
    }
    out
}

/// With `aof-use-rdb-preamble no` the base is commands (`appendonly.aof.N.base.aof`), as
/// Redis writes it: every type, deadlines, hash field deadlines, stream groups with their
/// pending entries and consumers, and function libraries come back from it, at start-up and
/// after BGREWRITEAOF; with `aof-timestamp-enabled` it starts with a `#TS` annotation.
#[test]
fn a_base_in_command_form_recreates_the_dataset() {
    let dir = temp_dir("aof-cmd-base");
    let opts = [
        ("aof-use-rdb-preamble", "no"),
        ("enable-debug-command", "yes"),
    ];
    let (before, streams, fields) = {
        let srv = start(&dir, &opts);
        let mut r = srv.raw();
        populate(&mut r);
        // More than one command's worth of items (64 per command).
        let members: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
        let mut words_of = vec!["RPUSH", "biglist"];
        words_of.extend(members.iter().map(|s| s.as_str()));
        run(&mut r, &words_of);
        words_of[0] = "SADD";
        words_of[1] = "bigset";
        run(&mut r, &words_of);
        for (i, m) in members.iter().enumerate() {
            r.cmd(&["ZADD", "bigz", &format!("{}.5", i), m]);
            r.cmd(&["HSET", "bigh", m, &i.to_string()]);
        }
        run(&mut r, &["HSET", "fh", "a", "1", "b", "2"]);
        run(&mut r, &["HPEXPIRE", "fh", "900000", "FIELDS", "1", "a"]);
        run(&mut r, &["XADD", "st", "1-1", "f", "v"]);
        run(&mut r, &["XADD", "st", "2-1", "f", "w", "g", "x"]);
        run(&mut r, &["XADD", "st", "3-1", "f", "y"]);
        run(&mut r, &["XDEL", "st", "3-1"]);
        run(&mut r, &["XGROUP", "CREATE", "st", "g1", "0"]);
        run(&mut r, &["XGROUP", "CREATE", "st", "g2", "$"]);
        run(
            &mut r,
            &[
                "XREADGROUP",
                "GROUP",
                "g1",
                "alice",
                "COUNT",
                "1",
                "STREAMS",
                "st",
                ">",
            ],
        );
        run(
            &mut r,
            &["XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "st", ">"],
        );
        run(
            &mut r,
            &["XCLAIM", "st", "g1", "bob", "0", "1-1", "RETRYCOUNT", "7"],
        );
        run(&mut r, &["XGROUP", "CREATECONSUMER", "st", "g2", "carol"]);
        run(&mut r, &["XADD", "empty", "5-5", "f", "v"]);
        run(&mut r, &["XDEL", "empty", "5-5"]);
        run(
            &mut r,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
            ],
        );
        run(&mut r, &["CONFIG", "SET", "aof-timestamp-enabled", "yes"]);
        assert_eq!(
            r.cmd(&["BGREWRITEAOF"]),
            Frame::Simple("Background append only file rewriting started".into())
        );
        eventually(PATIENCE, "BGREWRITEAOF to finish", || {
            text(&r.cmd(&["INFO", "persistence"])).contains("aof_rewrite_in_progress:0")
        });
        let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        assert!(m.contains("appendonly.aof.2.base.aof seq 2 type b"), "{m}");
        let base = std::fs::read(dir.join("appendonlydir/appendonly.aof.2.base.aof")).unwrap();
        let base = String::from_utf8_lossy(&base);
        assert!(base.starts_with("#TS:"), "{}", &base[..40.min(base.len())]);
        for cmd in [
            "FUNCTION",
            "XCLAIM",
            "CREATECONSUMER",
            "XSETID",
            "HPEXPIREAT",
            "PEXPIREAT",
        ] {
            assert!(base.contains(cmd), "no {cmd} in the base");
        }
        // 150 list items take three RPUSHes.
        assert_eq!(base.matches("$5\r\nRPUSH\r\n$7\r\nbiglist").count(), 3);
        let streams = (
            stream_state(&mut r, "st"),
            words(run(&mut r, &["XINFO", "STREAM", "empty"])),
        );
        let fields = run(&mut r, &["HPEXPIRETIME", "fh", "FIELDS", "2", "a", "b"]);
        let digest = run(&mut r, &["DEBUG", "DIGEST"]);
        // The server reloads its own files the same.
        run(&mut r, &["DEBUG", "LOADAOF"]);
        assert_eq!(run(&mut r, &["DEBUG", "DIGEST"]), digest);
        cinnabar_server::persist::aof::flush_all(&srv.handle.server).unwrap();
        (describe(&mut r), streams, fields)
    };
    let srv = start(&dir, &opts);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
    assert_eq!(stream_state(&mut r, "st"), streams.0);
    assert_eq!(words(run(&mut r, &["XINFO", "STREAM", "empty"])), streams.1);
    assert_eq!(
        run(&mut r, &["HPEXPIRETIME", "fh", "FIELDS", "2", "a", "b"]),
        fields
    );
    assert_eq!(run(&mut r, &["FCALL", "f", "0"]), int(1));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
