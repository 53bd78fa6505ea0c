//! What a server does while it loads a dataset (its files at start-up, or a replica's
//! full-resync payload), as Redis 7.2: a shutdown signal abandons the load and exits at
//! once without saving ("Received shutdown signal during loading, scheduling shutdown.",
//! then prepareForShutdown(SHUTDOWN_NOSAVE) from whileBlockedCron). Loads are slowed with
//! `key-load-delay` (one second per key: a shutdown ends the wait), never timed.

use std::path::{Path, PathBuf};

use cinnabar_testkit::{
    eventually, ok, temp_dir, text, ChildServer, RawConn, TestServer, PATIENCE,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cinnabar-server"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `n` string keys through `c`, ten per MSET.
fn fill(c: &mut RawConn, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            args.push(format!("key:{i}"));
            args.push(format!("value:{i}"));
        }
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(c.cmd(&words), ok());
    }
}

/// A directory holding `dump.rdb` with `n` keys.
fn dir_with_rdb(label: &str, n: usize) -> PathBuf {
    let dir = temp_dir(label);
    let srv = TestServer::in_dir(&dir, &[]);
    let mut c = srv.raw();
    fill(&mut c, n);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    drop(srv);
    dir
}

/// A fresh directory holding an AOF (manifest, base and increment) of `n` keys.
fn dir_with_aof(label: &str, n: usize) -> PathBuf {
    let dir = temp_dir(label);
    let srv = TestServer::in_dir(&dir, &[("appendonly", "yes")]);
    let mut c = srv.raw();
    fill(&mut c, n);
    cinnabar_server::persist::aof::flush_all(srv.server()).unwrap();
    drop(srv);
    dir
}

/// Every file under `dir` (one level of subdirectories) with its bytes, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            for (name, bytes) in files(&path) {
                out.push((format!("{}/{name}", path.display()), bytes));
            }
        } else if path.extension().is_none_or(|x| x != "log") {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

fn signal(srv: &ChildServer, sig: i32) {
    // SAFETY: signalling the child process this test started.
    unsafe { libc::kill(srv.child.id() as i32, sig) };
}

/// Waits until INFO says the server loads (`loading:1`).
fn wait_loading(c: &mut RawConn) {
    eventually(PATIENCE, "the server to be loading", || {
        c.info_field("persistence", "loading") == "1"
    });
}

/// Sends `sig` to a loading server and checks that it exits at once, successfully, having
/// logged Redis's line and saved nothing, and without having said it was ready.
fn stop_while_loading(mut srv: ChildServer, sig: i32, log: &Path) {
    signal(&srv, sig);
    let status = srv.wait_exit();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("Received shutdown signal during loading, scheduling shutdown."),
        "{log}"
    );
    assert!(!log.contains("Saving the final RDB snapshot"), "{log}");
    assert!(!log.contains("DB saved on disk"), "{log}");
    assert!(!log.contains("Ready to accept connections"), "{log}");
    assert!(log.contains("ready to exit"), "{log}");
}

/// A child server on `dir` that loads its data one key (or command) a second
/// (`key-load-delay`), with `save` rules that a shutdown would act on, logging to `log`.
fn start_slow_load(dir: &Path, log: &Path, extra: &[&str]) -> ChildServer {
    let mut args = vec![
        "--dir",
        s(dir),
        "--save",
        "900 1",
        "--key-load-delay",
        "1000000",
        "--logfile",
        s(log),
    ];
    args.extend_from_slice(extra);
    ChildServer::start_loading(bin(), &args)
}

/// SIGTERM while the RDB file loads at start-up: the server exits (status 0) without
/// finishing the load and without its shutdown save, which would have replaced the file
/// with the part loaded so far.
#[test]
fn sigterm_during_startup_rdb_load_exits_without_saving() {
    let dir = dir_with_rdb("loading-rdb", 200);
    let before = files(&dir);
    let log = dir.join("server.log");
    let srv = start_slow_load(&dir, &log, &[]);
    let mut c = srv.conn();
    wait_loading(&mut c);
    assert!(text(&c.cmd(&["PING"])).starts_with("ERR:LOADING"));
    stop_while_loading(srv, libc::SIGTERM, &log);
    assert_eq!(files(&dir), before, "the RDB file changed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT while the AOF replays at start-up (`key-load-delay` applies per command, as in
/// Redis): the same prompt exit, and the AOF's files are left as they were.
#[test]
fn sigint_during_startup_aof_load_exits_without_saving() {
    let dir = dir_with_aof("loading-aof", 200);
    let before = files(&dir);
    assert!(
        before.iter().any(|(n, _)| n.ends_with(".manifest")),
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let log = dir.join("server.log");
    let srv = start_slow_load(&dir, &log, &["--appendonly", "yes"]);
    let mut c = srv.conn();
    wait_loading(&mut c);
    stop_while_loading(srv, libc::SIGINT, &log);
    assert_eq!(files(&dir), before, "the AOF changed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM while a replica loads its primary's full-resync payload, in each
/// `repl-diskless-load` mode: loaded from the socket into the emptied dataset
/// (`on-empty-db`), into databases set aside (`swapdb`), or from the file it was written to
/// (`disabled`). The replica exits at once without its shutdown save; with `disabled` the
/// received file stays as it was written.
#[test]
fn sigterm_during_replica_load_exits_without_saving() {
    let primary = TestServer::with_args(&[("repl-diskless-sync-delay", "0")]);
    let mut p = primary.raw();
    fill(&mut p, 200);
    let port = primary.addr().port().to_string();
    for mode in ["on-empty-db", "swapdb", "disabled"] {
        let dir = temp_dir("loading-replica");
        let log = dir.join("server.log");
        // It may load before the probe's PING: ready once it answers.
        let srv = ChildServer::start_loading(
            bin(),
            &[
                "--dir",
                s(&dir),
                "--dbfilename",
                "replica.rdb",
                "--save",
                "900 1",
                "--key-load-delay",
                "1000000",
                "--repl-diskless-load",
                mode,
                "--logfile",
                s(&log),
                "--replicaof",
                "127.0.0.1",
                &port,
            ],
        );
        let mut c = srv.conn();
        wait_loading(&mut c);
        let received = std::fs::read(dir.join("replica.rdb")).ok();
        assert_eq!(received.is_some(), mode == "disabled", "{mode}");
        signal(&srv, libc::SIGTERM);
        let mut srv = srv;
        let status = srv.wait_exit();
        assert!(status.success(), "{mode}: {status:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("Received shutdown signal during loading, scheduling shutdown."),
            "{mode}: {text}"
        );
        assert!(
            !text.contains("Saving the final RDB snapshot"),
            "{mode}: {text}"
        );
        assert!(!text.contains("Finished with success"), "{mode}: {text}");
        assert_eq!(
            std::fs::read(dir.join("replica.rdb")).ok(),
            received,
            "{mode}: the replica's file changed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Seconds since the epoch on the test's clock, the server's clock too.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Redis's INFO formula for `loading_eta_seconds` (see `persist::loading_progress`).
fn eta(elapsed: i64, loaded: i64, total: i64, used_mem: i64) -> i64 {
    let remaining = if total > 0 {
        total - loaded
    } else if used_mem > 0 {
        (used_mem - loaded).max(1)
    } else {
        1
    };
    if elapsed == 0 {
        1
    } else {
        elapsed * remaining / (loaded + 1)
    }
}

/// While `c`'s server loads (slowly: a second per key), once a whole second has passed
/// since the load started, INFO's loading figures are those of Redis's formula: the bytes
/// consumed so far (some, not all), the percentage of the total, and an ETA from the
/// elapsed whole seconds (bounded by the test's readings of the clock around INFO; the
/// server's coarse clock may lag by a tick). With no total (an EOF-marked payload), the
/// RDB's `used-mem` is the estimate. Returns the total and `used-mem`.
fn check_loading_info(c: &mut RawConn) -> (i64, i64) {
    let field = |info: &str, name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} in {info}"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name} in {info}: {e}"))
    };
    let start = field(&c.info("persistence"), "loading_start_time");
    eventually(PATIENCE, "a whole second of loading", || {
        unix_ms() / 1000 > start
    });
    let before = unix_ms() - 50;
    let info = c.info("persistence");
    let after = unix_ms();
    assert_eq!(field(&info, "loading"), 1, "{info}");
    assert_eq!(field(&info, "loading_start_time"), start, "{info}");
    let (loaded, total) = (
        field(&info, "loading_loaded_bytes"),
        field(&info, "loading_total_bytes"),
    );
    let used_mem = field(&info, "loading_rdb_used_mem");
    assert!(loaded > 0 && (total == 0 || loaded < total), "{info}");
    let perc = info
        .lines()
        .find_map(|l| l.strip_prefix("loading_loaded_perc:"))
        .unwrap();
    let expected = if total > 0 {
        loaded as f64 / total as f64 * 100.0
    } else {
        (loaded as f64 / used_mem as f64 * 100.0).min(99.99)
    };
    assert_eq!(perc.trim(), format!("{expected:.2}"), "{info}");
    let got = field(&info, "loading_eta_seconds");
    let possible: Vec<i64> = (before / 1000 - start..=after / 1000 - start)
        .map(|elapsed| eta(elapsed, loaded, total, used_mem))
        .collect();
    assert!(possible.contains(&got), "{got} not in {possible:?}: {info}");
    // Slow progress: far from done.
    assert!(got > 1, "{info}");
    (total, used_mem)
}

/// INFO's loading figures while the RDB file loads at start-up.
#[test]
fn loading_eta_while_the_rdb_file_loads() {
    let dir = dir_with_rdb("loading-eta-rdb", 200);
    let size = std::fs::metadata(dir.join("dump.rdb")).unwrap().len() as i64;
    let srv = TestServer::with_args(&[("dir", s(&dir)), ("key-load-delay", "1000000")]);
    let mut c = srv.raw();
    assert_eq!(check_loading_info(&mut c).0, size);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same while the AOF loads: the total counts every file of the manifest.
#[test]
fn loading_eta_while_the_aof_loads() {
    let dir = dir_with_aof("loading-eta-aof", 200);
    let aof: i64 = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".manifest"))
        .map(|p| std::fs::metadata(p).unwrap().len() as i64)
        .sum();
    let srv = TestServer::with_args(&[
        ("dir", s(&dir)),
        ("appendonly", "yes"),
        ("key-load-delay", "1000000"),
    ]);
    let mut c = srv.raw();
    assert_eq!(check_loading_info(&mut c).0, aof);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same while a replica loads its primary's payload from the socket: a disk-backed
/// transfer's length is the total; a diskless one (`$EOF:` mark) has none, and the
/// primary's memory in use (the RDB's `used-mem`) is the estimate.
#[test]
fn loading_eta_while_a_replica_loads() {
    for diskless in ["no", "yes"] {
        let primary = TestServer::with_args(&[
            ("repl-diskless-sync", diskless),
            ("repl-diskless-sync-delay", "0"),
        ]);
        let mut p = primary.raw();
        fill(&mut p, 200);
        let replica = TestServer::with_args(&[
            ("repl-diskless-load", "on-empty-db"),
            ("key-load-delay", "1000000"),
        ]);
        let mut c = replica.raw();
        let port = primary.addr().port().to_string();
        assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
        wait_loading(&mut c);
        let (total, used_mem) = check_loading_info(&mut c);
        assert_eq!(
            c.info_field("replication", "master_sync_total_bytes"),
            total.to_string()
        );
        if diskless == "yes" {
            assert_eq!(total, 0);
            assert!(used_mem > 0);
        } else {
            assert!(total > 0);
        }
    }
}

/// A chained replica that must sync again from scratch (its primary's backlog no longer
/// holds its offset) disconnects its own replicas before it empties and loads its dataset,
/// as Redis's replicationAttachToNewMaster: while it loads it has none (so a shutdown
/// signal finds no replica to wait for, as in Redis). With `swapdb` it keeps serving them
/// the old dataset while it loads aside, and drops them once the new one is swapped in.
#[test]
fn a_replica_loading_into_its_dataset_drops_its_own_replicas_first() {
    for mode in ["disabled", "on-empty-db", "swapdb"] {
        let primary = TestServer::with_args(&[("repl-diskless-sync-delay", "0")]);
        let mut p = primary.raw();
        fill(&mut p, 50);
        let mid = TestServer::with_args(&[
            ("repl-diskless-sync-delay", "0"),
            ("repl-diskless-load", mode),
        ]);
        let leaf = TestServer::start();
        let (mut m, mut l) = (mid.raw(), leaf.raw());
        let linked = |c: &mut RawConn| c.info_field("replication", "master_link_status") == "up";
        let port = |s: &TestServer| s.addr().port().to_string();
        assert_eq!(m.cmd(&["REPLICAOF", "127.0.0.1", &port(&primary)]), ok());
        eventually(PATIENCE, "the middle replica to sync", || linked(&mut m));
        assert_eq!(l.cmd(&["REPLICAOF", "127.0.0.1", &port(&mid)]), ok());
        eventually(PATIENCE, "the leaf replica to sync", || {
            linked(&mut l) && m.info_field("replication", "connected_slaves") == "1"
        });
        // The middle one's next load goes one key a second.
        assert_eq!(m.cmd(&["CONFIG", "SET", "key-load-delay", "1000000"]), ok());
        // Its link is cut and the backlog overflows meanwhile: its PSYNC becomes a full sync.
        assert_eq!(
            p.cmd(&["CONFIG", "SET", "repl-backlog-size", "16384"]),
            ok()
        );
        assert_eq!(p.cmd(&["MULTI"]), ok());
        p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
        let big = "x".repeat(16384);
        for i in 0..4 {
            p.cmd(&["SET", &format!("big:{i}"), &big]);
        }
        p.cmd(&["EXEC"]);
        let loading = |c: &mut RawConn| {
            c.info_field("persistence", "loading") == "1"
                || c.info_field("persistence", "async_loading") == "1"
        };
        eventually(
            PATIENCE,
            format_args!("{mode}: the middle replica to load"),
            || loading(&mut m),
        );
        let kept = if mode == "swapdb" { "1" } else { "0" };
        eventually(
            PATIENCE,
            format_args!("{mode}: its replicas while it loads"),
            || m.info_field("replication", "connected_slaves") == kept,
        );
        assert!(loading(&mut m), "{mode}: the load ended before the check");
        // Let the load finish: every replica ends up with the primary's dataset.
        assert_eq!(m.cmd(&["CONFIG", "SET", "key-load-delay", "0"]), ok());
        eventually(
            PATIENCE,
            format_args!("{mode}: the chain to catch up"),
            || {
                linked(&mut l)
                    && l.cmd(&["EXISTS", "big:3"]) == cinnabar_testkit::int(1)
                    && m.info_field("replication", "connected_slaves") == "1"
            },
        );
    }
}
