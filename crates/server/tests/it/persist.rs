//! Persistence against a real server: SAVE / BGSAVE / restart round trips of every type and
//! encoding with expiries, point-in-time BGSAVE under writes, DUMP/RESTORE (also with
//! payloads from Redis), corrupt files at start-up, and files exchanged with a real
//! redis-server when one is installed.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use cinnabar_resp::Frame;
use cinnabar_testkit::{
    assert_same_dataset as same, bulk, err, eventually, int, ok, temp_dir, text, words, Dump,
    RawConn, RealRedis, TestServer, PATIENCE,
};

fn start_in(dir: &Path, extra: &[(&str, &str)]) -> TestServer {
    TestServer::in_dir(dir, extra)
}

/// A canonical description of every key of dbs 0 and 9: type, encoding, content (sorted
/// where Redis does not define an order) and whether it has a deadline.
fn describe(r: &mut RawConn) -> Vec<String> {
    describe_with(r, true)
}

fn describe_with(r: &mut RawConn, encodings: bool) -> Vec<String> {
    Dump {
        dbs: &[0, 9],
        encodings,
        deadlines: false,
        digest: true,
    }
    .of(r)
}

/// Fills db 0 and db 9 with every type in each of its encodings, and a few deadlines.
fn populate(r: &mut RawConn) {
    let mut cmd = |w: Vec<String>| {
        let args: Vec<&str> = w.iter().map(|s| s.as_str()).collect();
        let f = r.cmd(&args);
        assert!(!matches!(f, Frame::Error(_)), "{w:?}: {f:?}");
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    cmd(s(&["SET", "str:small", "hello"]));
    cmd(s(&["SET", "str:int", "-123456789012"]));
    cmd(s(&["SET", "str:long", &"abc".repeat(200)]));
    cmd(s(&["SET", "str:bin", "\x00\x01\u{7f}x"]));
    cmd(s(&["SET", "str:ttl", "soon", "PX", "3600000"]));
    cmd(s(&["APPEND", "str:appended", "part1"]));
    cmd(s(&["APPEND", "str:appended", "part2"]));
    cmd(s(&["RPUSH", "list:lp", "a", "b", "1", "-70000", "300"]));
    let mut big = s(&["RPUSH", "list:ql"]);
    for i in 0..3000 {
        big.push(format!("element:{i}:{}", "x".repeat(i % 50)));
    }
    cmd(big);
    cmd(s(&["SADD", "set:int", "1", "2", "-5", "5000000000"]));
    cmd(s(&["SADD", "set:lp", "a", "b", "7"]));
    let mut big = s(&["SADD", "set:ht"]);
    for i in 0..600 {
        big.push(format!("member:{i}"));
    }
    cmd(big);
    let mut big = s(&["SADD", "set:bigint"]);
    for i in 0..600 {
        big.push(format!("{}", i * 1000));
    }
    cmd(big);
    cmd(s(&["HSET", "hash:lp", "f", "v", "n", "12"]));
    let mut big = s(&["HSET", "hash:ht"]);
    for i in 0..300 {
        big.push(format!("field:{i}"));
        big.push(format!("value:{i}"));
    }
    cmd(big);
    cmd(s(&["HSET", "hash:longval", "f", &"v".repeat(100)]));
    cmd(s(&[
        "ZADD", "zset:lp", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "1e300", "e",
    ]));
    let mut big = s(&["ZADD", "zset:sl"]);
    for i in 0..300 {
        big.push(format!("{}", i as f64 / 7.0));
        big.push(format!("m:{i}"));
    }
    cmd(big);
    cmd(s(&["PEXPIRE", "zset:sl", "9000000"]));
    cmd(s(&["SELECT", "9"]));
    cmd(s(&["SET", "other-db", "9"]));
    cmd(s(&["RPUSH", "list9", "x"]));
    cmd(s(&["SELECT", "0"]));
}

#[test]
fn every_type_round_trips_through_save_and_restart() {
    let dir = temp_dir("save");
    let before = {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        populate(&mut r);
        r.cmd(&["SET", "gone", "x", "PX", "1"]);
        srv.advance_clock(2);
        let d = describe(&mut r);
        assert_eq!(r.cmd(&["SAVE"]), ok());
        let info = text(&r.cmd(&["INFO", "persistence"]));
        assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
        assert!(info.contains("rdb_saves:1"), "{info}");
        d
    };
    assert!(dir.join("dump.rdb").exists());
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    let after = describe(&mut r);
    same(&before, &after);
    assert!(before.iter().any(|l| l.contains("list:ql list quicklist")));
    assert!(before.iter().any(|l| l.contains("set:int set intset")));
    assert!(before
        .iter()
        .any(|l| l.contains("zset:sl zset skiplist volatile")));
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("loading:0"), "{info}");
    assert!(info.contains("rdb_last_load_keys_loaded:"), "{info}");
}

/// Function libraries are saved in the RDB file (Redis's FUNCTION2 opcode) and come back.
#[test]
fn function_libraries_survive_save_and_restart() {
    let dir = temp_dir("functions");
    {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        r.cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=kept\nredis.register_function('answer', function() return 42 end)",
        ]);
        assert_eq!(r.cmd(&["SAVE"]), ok());
    }
    let srv = start_in(&dir, &[("enable-debug-command", "yes")]);
    let mut r = srv.raw();
    assert_eq!(text(&r.cmd(&["FCALL", "answer", "0"])), "42");
    // DEBUG RELOAD (save, then load) keeps them, and replaces any loaded meanwhile.
    r.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=other\nredis.register_function('x', function() return 1 end)",
    ]);
    assert_eq!(r.cmd(&["DEBUG", "RELOAD"]), ok());
    assert_eq!(text(&r.cmd(&["FCALL", "x", "0"])), "1");
    assert_eq!(text(&r.cmd(&["FCALL", "answer", "0"])), "42");
}

#[test]
fn debug_reload_keeps_everything() {
    let dir = temp_dir("reload");
    let srv = start_in(&dir, &[("enable-debug-command", "yes")]);
    let mut r = srv.raw();
    populate(&mut r);
    let before = describe(&mut r);
    assert_eq!(r.cmd(&["DEBUG", "RELOAD"]), ok());
    same(&before, &describe(&mut r));
}

#[test]
fn lastsave_and_changes_counter() {
    let dir = temp_dir("lastsave");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    r.cmd(&["SET", "a", "1"]);
    r.cmd(&["SET", "b", "1"]);
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("rdb_changes_since_last_save:2"), "{info}");
    let Frame::Integer(before) = r.cmd(&["LASTSAVE"]) else {
        panic!()
    };
    assert_eq!(r.cmd(&["SAVE"]), ok());
    let Frame::Integer(after) = r.cmd(&["LASTSAVE"]) else {
        panic!()
    };
    assert!(after >= before);
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
}

/// Polls INFO until no BGSAVE runs.
fn wait_bgsave(r: &mut RawConn) {
    let info = eventually(PATIENCE, "BGSAVE to finish", || {
        let info = text(&r.cmd(&["INFO", "persistence"]));
        info.contains("rdb_bgsave_in_progress:0").then_some(info)
    });
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
}

/// FLUSHALL while a BGSAVE runs stops it, as Redis's flushAllDataAndResetRDB kills the RDB
/// child (not a failed save: the status stays ok), and with save rules saves the emptied
/// dataset: the file never brings the flushed keys back. Before, the BGSAVE went on and
/// its snapshot, taken before the flush, replaced the file after it.
#[test]
fn flushall_stops_a_running_bgsave() {
    for rules in ["900 1", ""] {
        let dir = temp_dir("flushall-bgsave");
        let old = {
            // A file from before, to tell "not saved" from "saved empty".
            let srv = start_in(&dir, &[]);
            let mut r = srv.raw();
            assert_eq!(r.cmd(&["SET", "before", "1"]), ok());
            assert_eq!(r.cmd(&["SAVE"]), ok());
            std::fs::read(dir.join("dump.rdb")).unwrap()
        };
        let srv = start_in(&dir, &[("save", rules)]);
        let mut r = srv.raw();
        for i in 0..300 {
            assert_eq!(r.cmd(&["SET", &format!("k{i}"), "v"]), ok());
        }
        // 10 ms per key: 3 s for the whole file.
        assert_eq!(
            r.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]),
            ok()
        );
        assert_eq!(
            r.cmd(&["BGSAVE"]),
            Frame::Simple("Background saving started".into())
        );
        assert_eq!(r.cmd(&["FLUSHALL"]), ok());
        wait_bgsave(&mut r);
        assert_eq!(
            r.info_field("persistence", "rdb_changes_since_last_save"),
            // Without rules: 300 writes and 301 keys flushed (Redis counts them too).
            if rules.is_empty() { "601" } else { "0" },
            "save {rules:?}"
        );
        drop(srv);
        if rules.is_empty() {
            // Nothing saved: the old file stays.
            assert_eq!(std::fs::read(dir.join("dump.rdb")).unwrap(), old);
        } else {
            let srv = start_in(&dir, &[]);
            assert_eq!(srv.raw().cmd(&["DBSIZE"]), int(0), "save {rules:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bgsave_is_a_point_in_time_snapshot_under_writes() {
    let dir = temp_dir("bgsave");
    {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        for chunk in 0..20 {
            let mut args = vec!["MSET".to_string()];
            for i in 0..1000 {
                args.push(format!("key:{}", chunk * 1000 + i));
                args.push("old".to_string());
            }
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            assert_eq!(r.cmd(&a), ok());
        }
        assert_eq!(
            r.cmd(&["BGSAVE"]),
            Frame::Simple("Background saving started".into())
        );
        // Overwrite and delete while the snapshot may still be walking the shards.
        let mut w = srv.raw();
        for i in 0..20_000 {
            let k = format!("key:{i}");
            if i % 2 == 0 {
                w.send(&[b"SET", k.as_bytes(), b"new"]);
            } else {
                w.send(&[b"DEL", k.as_bytes()]);
            }
        }
        w.send(&[b"SET", b"added-later", b"1"]);
        for _ in 0..20_001 {
            w.read();
        }
        wait_bgsave(&mut r);
    }
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["DBSIZE"]), int(20_000));
    assert_eq!(r.cmd(&["GET", "added-later"]), Frame::Null);
    for i in (0..20_000).step_by(997) {
        assert_eq!(r.cmd(&["GET", &format!("key:{i}")]), bulk("old"));
    }
}

#[test]
fn bgsave_in_progress_and_schedule() {
    let dir = temp_dir("bgsave2");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["BGSAVE", "FOO"]), err("ERR syntax error"));
    r.cmd(&["SET", "k", "v"]);
    let reply = r.cmd(&["BGSAVE"]);
    assert_eq!(reply, Frame::Simple("Background saving started".into()));
    wait_bgsave(&mut r);
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
}

#[test]
fn save_rules_trigger_a_background_save() {
    let dir = temp_dir("rules");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["CONFIG", "SET", "save", "1 2"]), ok());
    r.cmd(&["SET", "a", "1"]);
    r.cmd(&["SET", "b", "2"]);
    // The cron thread notices within a few ticks once a second has passed since LASTSAVE.
    eventually(PATIENCE, "the save rule to write dump.rdb", || {
        dir.join("dump.rdb").exists()
    });
    wait_bgsave(&mut r);
}

#[test]
fn corrupt_file_stops_start_up_and_is_not_overwritten() {
    let dir = temp_dir("corrupt");
    {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        populate(&mut r);
        assert_eq!(r.cmd(&["SAVE"]), ok());
    }
    let path = dir.join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    let srv = TestServer::with_args(&[("dir", dir.to_str().unwrap()), ("save", "1 1")]);
    srv.wait_loaded();
    let fatal = srv.handle.server.persist.fatal.lock().clone();
    let msg = fatal.expect("a corrupt file must be fatal");
    assert!(msg.contains("offset"), "{msg}");
    assert!(srv.handle.server.is_shutting_down());
    assert!(cinnabar_server::persist::shutdown_save(&srv.handle.server, true).is_ok());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn commands_get_loading_error_while_loading() {
    let dir = temp_dir("loading");
    let srv = start_in(&dir, &[]);
    let server = &srv.handle.server;
    server.persist.loading.store(true, Ordering::SeqCst);
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["GET", "k"]),
        err("LOADING Redis is loading the dataset in memory")
    );
    let info = text(&r.cmd(&["INFO", "persistence"]));
    assert!(info.contains("loading:1"), "{info}");
    server.persist.loading.store(false, Ordering::SeqCst);
    assert_eq!(r.cmd(&["GET", "k"]), Frame::Null);
}

// ---------------------------------------------------------------------------------------
// DUMP / RESTORE
// ---------------------------------------------------------------------------------------

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cmd_bytes(r: &mut RawConn, args: &[&[u8]]) -> Frame {
    r.send(args);
    r.read()
}

#[test]
fn dump_restore_round_trips_every_type() {
    let dir = temp_dir("dump");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    populate(&mut r);
    let before = describe(&mut r);
    let mut keys = words(r.cmd(&["KEYS", "*"]));
    keys.sort();
    for k in &keys {
        let Frame::Bulk(payload) = r.cmd(&["DUMP", k]) else {
            panic!("dump {k}")
        };
        let Frame::Integer(pttl) = r.cmd(&["PTTL", k]) else {
            panic!()
        };
        let ttl = if pttl > 0 {
            pttl.to_string()
        } else {
            "0".into()
        };
        assert_eq!(
            cmd_bytes(
                &mut r,
                &[
                    b"RESTORE",
                    k.as_bytes(),
                    ttl.as_bytes(),
                    &payload,
                    b"REPLACE"
                ]
            ),
            ok()
        );
    }
    same(&before, &describe(&mut r));
}

#[test]
fn restore_options_and_errors() {
    let dir = temp_dir("restore");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["DUMP", "nokey"]), Frame::Null);
    // A list DUMPed by redis-server 7.0.
    let p = hex("1201021414000000050081610281620201010201c12c02ff0a008421c79fc0b821fa");
    assert_eq!(cmd_bytes(&mut r, &[b"RESTORE", b"l", b"0", &p]), ok());
    assert_eq!(
        words(r.cmd(&["LRANGE", "l", "0", "-1"])),
        vec!["a", "b", "1", "2", "300"]
    );
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"l", b"0", &p]),
        err("BUSYKEY Target key name already exists.")
    );
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"l", b"-1", &p, b"REPLACE"]),
        err("ERR Invalid TTL value, must be >= 0")
    );
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"l", b"0", &p, b"REPLACE", b"BOGUS"]),
        err("ERR syntax error")
    );
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"l", b"0", &p, b"IDLETIME", b"-1"]),
        err("ERR Invalid IDLETIME value, must be >= 0")
    );
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"l", b"0", &p, b"FREQ", b"256"]),
        err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    );
    let mut bad = p.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"x", b"0", &bad]),
        err("ERR DUMP payload version or checksum are wrong")
    );
    // TTL relative, ABSTTL, already-expired ABSTTL.
    assert_eq!(cmd_bytes(&mut r, &[b"RESTORE", b"t", b"100000", &p]), ok());
    let Frame::Integer(pttl) = r.cmd(&["PTTL", "t"]) else {
        panic!()
    };
    assert!(pttl > 0 && pttl <= 100000);
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 100_000)
        .to_string();
    assert_eq!(
        cmd_bytes(&mut r, &[b"RESTORE", b"abs", at.as_bytes(), &p, b"ABSTTL"]),
        ok()
    );
    let Frame::Integer(pttl) = r.cmd(&["PTTL", "abs"]) else {
        panic!()
    };
    assert!(pttl > 0 && pttl <= 100000);
    assert_eq!(
        cmd_bytes(
            &mut r,
            &[b"RESTORE", b"abs", b"1", &p, b"ABSTTL", b"REPLACE"]
        ),
        ok()
    );
    assert_eq!(r.cmd(&["EXISTS", "abs"]), int(0));
    assert_eq!(
        cmd_bytes(
            &mut r,
            &[b"RESTORE", b"idle", b"0", &p, b"IDLETIME", b"1000"]
        ),
        ok()
    );
    let Frame::Integer(idle) = r.cmd(&["OBJECT", "IDLETIME", "idle"]) else {
        panic!()
    };
    assert!(idle >= 1000, "{idle}");
}

// ---------------------------------------------------------------------------------------
// Files exchanged with a real redis-server
// ---------------------------------------------------------------------------------------

/// A real redis-server working in `dir`, with the hash listpack limit of redis.conf (its
/// built-in default is 512; redis.conf says 128, as we do).
fn real_redis_in(dir: &Path) -> Option<RealRedis> {
    RealRedis::start_in(
        dir,
        &[
            "--hash-max-listpack-entries",
            "128",
            "--enable-debug-command",
            "yes",
        ],
    )
}

/// The server's clock (TIME) in ms.
fn server_ms(r: &mut RawConn) -> i64 {
    let t = words(r.cmd(&["TIME"]));
    t[0].parse::<i64>().unwrap() * 1000 + t[1].parse::<i64>().unwrap() / 1000
}

#[test]
fn loads_files_written_by_real_redis() {
    let dir = temp_dir("from-redis");
    let before = {
        let Some(redis) = real_redis_in(&dir) else {
            return;
        };
        let mut r = redis.conn();
        populate(&mut r);
        // A key already expired when the file is written is saved (nothing read it, active
        // expiry is off) and dropped on load.
        // The dataset is described before that key exists: under load its 20 ms could pass
        // while the description runs.
        let d = describe_with(&mut r, false);
        assert_eq!(r.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
        let at = server_ms(&mut r) + 20;
        r.cmd(&["SET", "short", "x", "PXAT", &at.to_string()]);
        eventually(
            PATIENCE,
            "redis-server's clock to pass the deadline",
            || server_ms(&mut r) > at,
        );
        assert_eq!(r.cmd(&["SAVE"]), ok());
        d
    };
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    same(&before, &describe_with(&mut r, false));
}

#[test]
fn real_redis_loads_our_files() {
    let dir = temp_dir("to-redis");
    if !RealRedis::available((7, 2), "reads RDB version 11, the one we write") {
        return;
    }
    let before = {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        populate(&mut r);
        assert_eq!(r.cmd(&["SAVE"]), ok());
        describe(&mut r)
    };
    let (bin, _) = RealRedis::binary().unwrap();
    let check = bin
        .to_string_lossy()
        .replace("redis-server", "redis-check-rdb");
    if let Ok(out) = Command::new(&check).arg(dir.join("dump.rdb")).output() {
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && s.contains("RDB looks OK"), "{s}");
    }
    let redis = real_redis_in(&dir).unwrap();
    let mut r = redis.conn();
    same(&before, &describe(&mut r));
}

#[test]
fn failed_bgsave_stops_writes_with_misconf() {
    let dir = temp_dir("misconf");
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["CONFIG", "SET", "save", "3600 1"]), ok());
    // The temporary file's name is taken by a directory: the save cannot create it.
    std::fs::create_dir_all(dir.join(format!("temp-bgsave-{}.rdb", std::process::id()))).unwrap();
    r.cmd(&["SET", "k", "v"]);
    assert_eq!(
        r.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    let info = eventually(PATIENCE, "the failed BGSAVE to finish", || {
        let info = text(&r.cmd(&["INFO", "persistence"]));
        info.contains("rdb_bgsave_in_progress:0").then_some(info)
    });
    assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
    let Frame::Error(e) = r.cmd(&["SET", "k", "v2"]) else {
        panic!()
    };
    assert!(e.starts_with("MISCONF "), "{e}");
    assert!(matches!(r.cmd(&["PING"]), Frame::Error(e) if e.starts_with("MISCONF")));
    assert_eq!(r.cmd(&["GET", "k"]), bulk("v"));
    // Writes are accepted again once saving is not required, or a save succeeds.
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]),
        ok()
    );
    assert_eq!(r.cmd(&["SET", "k", "v3"]), ok());
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]),
        ok()
    );
    std::fs::remove_dir(dir.join(format!("temp-bgsave-{}.rdb", std::process::id()))).unwrap();
    assert_eq!(
        r.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    wait_bgsave(&mut r);
    assert_eq!(r.cmd(&["SET", "k", "v4"]), ok());
}
