//! Persistence against a real server: SAVE / BGSAVE / restart round trips of every type and
//! encoding with expiries, point-in-time BGSAVE under writes, DUMP/RESTORE (also with
//! payloads from Redis), corrupt files at start-up, and files exchanged with a real
//! redis-server when one is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_server::testkit::{bulk, err, int, ok, text, words, RawConn, TestServer};

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cinnabar-persist-{}-{}-{name}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start_in(dir: &Path, extra: &[(&str, &str)]) -> TestServer {
    let d = dir.to_str().unwrap().to_string();
    let mut args: Vec<(&str, &str)> = vec![("dir", &d)];
    args.extend_from_slice(extra);
    let srv = TestServer::with_args(&args);
    wait_loaded(&srv);
    srv
}

/// Waits until start-up loading is over (commands get -LOADING meanwhile).
fn wait_loaded(srv: &TestServer) {
    while srv.handle.server.persist.is_loading() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A canonical description of every key of dbs 0 and 9: type, encoding, content (sorted
/// where Redis does not define an order) and whether it has a deadline.
fn describe(r: &mut RawConn) -> Vec<String> {
    describe_with(r, true)
}

/// FNV-1a of a value's canonical text, to keep descriptions short.
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    if s.len() <= 40 {
        s.to_string()
    } else {
        format!("{}:{h:016x}", s.len())
    }
}

/// Asserts two descriptions are equal, printing only the lines that differ.
fn same(a: &[String], b: &[String]) {
    if a != b {
        let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
        let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        panic!(
            "datasets differ ({} vs {} keys, first difference at {first:?}):\n before only: {only_a:#?}\n after only: {only_b:#?}",
            a.len(),
            b.len()
        );
    }
}

fn describe_with(r: &mut RawConn, encodings: bool) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "9"] {
        assert_eq!(r.cmd(&["SELECT", db]), ok());
        let mut keys = words(r.cmd(&["KEYS", "*"]));
        keys.sort();
        for k in keys {
            let t = text(&r.cmd(&["TYPE", &k]));
            if t == "none" {
                continue; // expired since KEYS
            }
            // A string's raw/embstr encoding legitimately changes on reload, as in Redis.
            let enc = if encodings && t != "string" {
                text(&r.cmd(&["OBJECT", "ENCODING", &k]))
            } else {
                String::new()
            };
            let content = match t.as_str() {
                "string" => text(&r.cmd(&["GET", &k])),
                "list" => words(r.cmd(&["LRANGE", &k, "0", "-1"])).join(","),
                "set" => {
                    let mut m = words(r.cmd(&["SMEMBERS", &k]));
                    m.sort();
                    m.join(",")
                }
                "hash" => {
                    let flat = words(r.cmd(&["HGETALL", &k]));
                    let mut pairs: Vec<String> = flat
                        .chunks(2)
                        .map(|c| format!("{}={}", c[0], c[1]))
                        .collect();
                    pairs.sort();
                    pairs.join(",")
                }
                // Scores compared as numbers: Redis 7.0 and 7.2 format doubles differently.
                "zset" => words(r.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]))
                    .chunks(2)
                    .map(|c| format!("{}={:?}", c[0], c[1].parse::<f64>().unwrap()))
                    .collect::<Vec<_>>()
                    .join(","),
                other => panic!("unexpected type {other}"),
            };
            let ttl = match r.cmd(&["PTTL", &k]) {
                Frame::Integer(n) if n > 0 => "volatile",
                Frame::Integer(-1) => "persistent",
                other => panic!("PTTL {other:?}"),
            };
            out.push(format!("db{db} {k} {t} {enc} {ttl} {}", digest(&content)));
        }
    }
    assert_eq!(r.cmd(&["SELECT", "0"]), ok());
    out
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
        std::thread::sleep(Duration::from_millis(5));
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
    loop {
        let info = text(&r.cmd(&["INFO", "persistence"]));
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
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
    let mut n = 0;
    while !dir.join("dump.rdb").exists() {
        std::thread::sleep(Duration::from_millis(20));
        n += 1;
        assert!(n < 1000, "save rule never fired");
    }
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
    wait_loaded(&srv);
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

/// The redis-server binary to compare with (`REDIS_SERVER` or redis-server on PATH), and
/// its version as (major, minor).
fn real_redis() -> Option<(String, (u32, u32))> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let out = Command::new(&bin).arg("--version").output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let v = s.split("v=").nth(1)?.split_whitespace().next()?.to_string();
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    Some((bin, (it.next()?, it.next()?)))
}

struct RealRedis {
    child: std::process::Child,
    port: u16,
}

impl RealRedis {
    fn start(bin: &str, dir: &Path) -> RealRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--dir", dir.to_str().unwrap(), "--appendonly", "no"])
            // redis-server's built-in default is 512 (redis.conf says 128, as we do).
            .args(["--hash-max-listpack-entries", "128"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        loop {
            if let Ok(s) = std::net::TcpStream::connect(addr) {
                drop(s);
                let mut r = RawConn::connect(addr);
                if r.cmd(&["PING"]) == Frame::Simple("PONG".into()) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        RealRedis { child, port }
    }

    fn conn(&self) -> RawConn {
        RawConn::connect(format!("127.0.0.1:{}", self.port).parse().unwrap())
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn loads_files_written_by_real_redis() {
    let Some((bin, _)) = real_redis() else {
        eprintln!("SKIPPED: redis-server is not installed (set REDIS_SERVER to use one)");
        return;
    };
    let dir = temp_dir("from-redis");
    let before = {
        let redis = RealRedis::start(&bin, &dir);
        let mut r = redis.conn();
        populate(&mut r);
        // Keys that expire before we load are dropped on load.
        r.cmd(&["SET", "short", "x", "PX", "200"]);
        let mut d = describe_with(&mut r, false);
        d.retain(|l| !l.contains(" short "));
        assert_eq!(r.cmd(&["SAVE"]), ok());
        d
    };
    std::thread::sleep(Duration::from_millis(250));
    let srv = start_in(&dir, &[]);
    let mut r = srv.raw();
    same(&before, &describe_with(&mut r, false));
}

#[test]
fn real_redis_loads_our_files() {
    let Some((bin, ver)) = real_redis() else {
        eprintln!("SKIPPED: redis-server is not installed (set REDIS_SERVER to use one)");
        return;
    };
    if ver < (7, 2) {
        eprintln!(
            "SKIPPED: redis-server {ver:?} reads RDB up to version 10; ours is 11 (Redis 7.2)"
        );
        return;
    }
    let dir = temp_dir("to-redis");
    let before = {
        let srv = start_in(&dir, &[]);
        let mut r = srv.raw();
        populate(&mut r);
        assert_eq!(r.cmd(&["SAVE"]), ok());
        describe(&mut r)
    };
    let check = bin.replace("redis-server", "redis-check-rdb");
    if let Ok(out) = Command::new(&check).arg(dir.join("dump.rdb")).output() {
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && s.contains("RDB looks OK"), "{s}");
    }
    let redis = RealRedis::start(&bin, &dir);
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
    loop {
        let info = text(&r.cmd(&["INFO", "persistence"]));
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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
