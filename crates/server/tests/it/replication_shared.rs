//! Diskless full syncs shared by several replicas, as Redis 7.2: the replicas that wait
//! together (`repl-diskless-sync-delay`, `repl-diskless-sync-max-replicas`) get one snapshot,
//! written once to all of them; one that leaves or stops reading does not stop the others;
//! one that arrives after the start waits for the next transfer. The primary runs as a child
//! process so that its log (one "Starting BGSAVE for SYNC" per transfer) can be read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cinnabar_testkit::{describe_dataset, eventually, ok, ChildServer, RawConn, TestServer};

const WAIT: Duration = Duration::from_secs(30);
const STARTED: &str = "Starting BGSAVE for SYNC with target: replicas sockets";

struct Primary {
    server: ChildServer,
    dir: PathBuf,
    log: PathBuf,
}

/// A server run as a child process, without save rules, logging to a file in its own
/// directory (also used by `replication_link`): returns it, the directory and the log.
pub(crate) fn start_logged(tag: &str, args: &[&str]) -> (ChildServer, PathBuf, PathBuf) {
    let dir = cinnabar_testkit::temp_dir(tag);
    let log = dir.join("server.log");
    let mut all = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        log.to_str().unwrap(),
        "--save",
        "",
    ];
    all.extend_from_slice(args);
    let server = ChildServer::start(Path::new(env!("CARGO_BIN_EXE_cinnabar-server")), &all);
    (server, dir, log)
}

/// 100 keys and 20 ms per key written: a snapshot (a transfer, an RDB file) lasts until
/// `rdb-key-save-delay` is reset.
fn slow_snapshots(pc: &mut RawConn) {
    for i in 0..100 {
        assert_eq!(pc.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "20000"]),
        ok()
    );
}

impl Primary {
    fn start(tag: &str, args: &[&str]) -> Primary {
        let mut all = vec!["--repl-diskless-sync", "yes"];
        all.extend_from_slice(args);
        let (server, dir, log) = start_logged(tag, &all);
        Primary { server, dir, log }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    fn conn(&self) -> RawConn {
        self.server.conn()
    }

    /// How many log lines contain `s`.
    fn log_count(&self, s: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(s))
            .count()
    }

    fn wait_log(&self, s: &str) {
        eventually(WAIT, format_args!("a log line with {s:?}"), || {
            self.log_count(s) > 0
        });
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica played by the test: `REPLCONF capa eof` and `PSYNC ? -1`, then it reads the
/// transfer only when asked to.
struct FakeReplica {
    s: TcpStream,
    buf: Vec<u8>,
}

impl FakeReplica {
    fn psync(addr: SocketAddr) -> FakeReplica {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = FakeReplica { s, buf: Vec::new() };
        r.s.write_all(b"REPLCONF capa eof capa psync2\r\n").unwrap();
        assert_eq!(r.line(), "+OK");
        r.s.write_all(b"PSYNC ? -1\r\n").unwrap();
        r
    }

    /// A replica without `capa eof`: it gets a disk-backed transfer.
    fn psync_disk(addr: SocketAddr) -> FakeReplica {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = FakeReplica { s, buf: Vec::new() };
        r.s.write_all(b"PSYNC ? -1\r\n").unwrap();
        r
    }

    /// The `+FULLRESYNC` line and the RDB of a disk-backed (`$<length>`) transfer.
    fn transfer_disk(&mut self) -> (String, Vec<u8>) {
        let head = self.head();
        let len: usize = self.line().strip_prefix('$').unwrap().parse().unwrap();
        while self.buf.len() < len {
            self.fill();
        }
        let rdb = self.buf.drain(..len).collect::<Vec<u8>>();
        assert!(rdb.starts_with(b"REDIS0011"));
        (head, rdb)
    }

    fn fill(&mut self) {
        let mut b = [0u8; 65536];
        let n = self.s.read(&mut b).expect("the primary's transfer");
        assert!(n > 0, "the primary closed the link");
        self.buf.extend_from_slice(&b[..n]);
    }

    /// The next line, skipping the primary's keepalive newlines.
    fn line(&mut self) -> String {
        loop {
            while let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                let l = String::from_utf8_lossy(&l).trim_end().to_string();
                if !l.is_empty() {
                    return l;
                }
            }
            self.fill();
        }
    }

    /// The `+FULLRESYNC` line and the RDB between the `$EOF:` marks.
    fn transfer(&mut self) -> (String, Vec<u8>) {
        let head = self.line();
        assert!(head.starts_with("+FULLRESYNC "), "{head}");
        let eof = self.line();
        let mark = eof
            .strip_prefix("$EOF:")
            .expect("a diskless transfer")
            .to_string();
        assert_eq!(mark.len(), 40);
        while !self.buf.ends_with(mark.as_bytes()) {
            self.fill();
        }
        let rdb = self.buf[..self.buf.len() - 40].to_vec();
        assert!(rdb.starts_with(b"REDIS0011"));
        (head, rdb)
    }

    /// The RDB of a disk-backed transfer whose head was read.
    fn transfer_disk_after_head(&mut self) -> Vec<u8> {
        let len: usize = self.line().strip_prefix('$').unwrap().parse().unwrap();
        while self.buf.len() < len {
            self.fill();
        }
        self.buf.drain(..len).collect()
    }

    /// The `+FULLRESYNC` line only.
    fn head(&mut self) -> String {
        let head = self.line();
        assert!(head.starts_with("+FULLRESYNC "), "{head}");
        head
    }

    /// Reads the rest of a transfer whose head was read (the `$EOF:` line on).
    fn rest(&mut self, head: String) -> (String, Vec<u8>) {
        let mut all = format!("{head}\r\n").into_bytes();
        all.append(&mut self.buf);
        self.buf = all;
        self.transfer()
    }
}

fn field(c: &mut RawConn, section: &str, name: &str) -> String {
    c.info_field(section, name)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Waits until `n` replicas are listed, all waiting for their transfer.
fn wait_listed(pc: &mut RawConn, n: usize) {
    eventually(WAIT, format_args!("{n} replicas listed"), || {
        field(pc, "replication", "connected_slaves") == n.to_string()
            && (0..n).all(|i| {
                field(pc, "replication", &format!("slave{i}")).contains("state=wait_bgsave")
            })
    });
}

/// Three replicas: the first two wait (the delay is long), writes go on meanwhile, and the
/// third makes `repl-diskless-sync-max-replicas` (3): one transfer starts for all three, with
/// the same offset and byte for byte the same RDB, holding the writes made while they waited.
#[test]
fn max_replicas_start_one_transfer_for_all() {
    let p = Primary::start(
        "replshared-max",
        &[
            "--repl-diskless-sync-delay",
            "1000",
            "--repl-diskless-sync-max-replicas",
            "3",
        ],
    );
    let mut pc = p.conn();
    for i in 0..200 {
        assert_eq!(pc.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    let mut a = FakeReplica::psync(p.addr());
    wait_listed(&mut pc, 1);
    assert_eq!(pc.cmd(&["SET", "written-while-one-waits", "1"]), ok());
    let mut b = FakeReplica::psync(p.addr());
    wait_listed(&mut pc, 2);
    assert_eq!(pc.cmd(&["SET", "written-while-two-wait", "2"]), ok());
    // Two of three, and the delay is 1000 s: nothing started.
    assert_eq!(field(&mut pc, "persistence", "rdb_bgsave_in_progress"), "0");
    assert_eq!(p.log_count(STARTED), 0);
    let mut c = FakeReplica::psync(p.addr());
    let (ta, tb, tc) = (a.transfer(), b.transfer(), c.transfer());
    assert_eq!(ta, tb);
    assert_eq!(ta, tc);
    assert!(contains(&ta.1, b"written-while-two-wait"));
    assert_eq!(p.log_count(STARTED), 1);
    assert_eq!(field(&mut pc, "stats", "sync_full"), "3");
    eventually(WAIT, "the transfer to end", || {
        field(&mut pc, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    p.wait_log("Diskless rdb transfer, done reading from pipe, 3 replicas still up.");
}

/// The delay: two replicas arriving together wait for it and share the transfer it ends
/// with (the delay, 3 s, is far longer than the time between their PSYNCs).
#[test]
fn replicas_arriving_within_the_delay_share_one_transfer() {
    let p = Primary::start("replshared-delay", &["--repl-diskless-sync-delay", "3"]);
    let mut pc = p.conn();
    assert_eq!(pc.cmd(&["SET", "k", "v"]), ok());
    let mut a = FakeReplica::psync(p.addr());
    let mut b = FakeReplica::psync(p.addr());
    let (ta, tb) = (a.transfer(), b.transfer());
    assert_eq!(ta, tb);
    assert_eq!(p.log_count(STARTED), 1);
    assert_eq!(p.log_count("Delay next BGSAVE for diskless SYNC"), 2);
}

/// A replica arriving once a transfer started is not added to it: it waits for the next
/// one, which starts from a later offset and holds the writes made meanwhile.
#[test]
fn a_replica_arriving_after_the_start_waits_for_the_next_transfer() {
    let p = Primary::start(
        "replshared-next",
        &["--repl-diskless-sync-delay", "0", "--rdbcompression", "no"],
    );
    let mut pc = p.conn();
    slow_snapshots(&mut pc);
    let mut a = FakeReplica::psync(p.addr());
    let head_a = a.head();
    assert_eq!(pc.cmd(&["SET", "after-the-first-start", "x"]), ok());
    let mut b = FakeReplica::psync(p.addr());
    p.wait_log("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC");
    wait_listed(&mut pc, 2);
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    let (ha, rdb_a) = a.rest(head_a);
    let (hb, rdb_b) = b.transfer();
    let offset = |h: &str| h.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    assert!(offset(&hb) > offset(&ha), "{ha} / {hb}");
    assert!(!contains(&rdb_a, b"after-the-first-start"));
    assert!(contains(&rdb_b, b"after-the-first-start"));
    assert_eq!(p.log_count(STARTED), 2);
}

/// Of two replicas sharing a transfer, one never reads: it is dropped after `repl-timeout`
/// ("Disconnecting timedout replica (full sync)"), and the other gets the whole RDB.
#[test]
fn a_replica_that_stops_reading_is_dropped_and_the_others_complete() {
    let p = Primary::start(
        "replshared-stall",
        &[
            "--repl-diskless-sync-delay",
            "1000",
            "--repl-diskless-sync-max-replicas",
            "2",
            "--repl-timeout",
            "1",
            "--rdbcompression",
            "no",
        ],
    );
    let mut pc = p.conn();
    // 32 MB: more than the sockets' buffers hold.
    let value = "x".repeat(100_000);
    for i in 0..320 {
        assert_eq!(pc.cmd(&["SET", &format!("k{i}"), &value]), ok());
    }
    let mut reader = FakeReplica::psync(p.addr());
    let _stalled = FakeReplica::psync(p.addr());
    let (_, rdb) = reader.transfer();
    assert!(rdb.len() > 32_000_000);
    p.wait_log("Disconnecting timedout replica (full sync)");
    p.wait_log("Diskless rdb transfer, done reading from pipe, 1 replicas still up.");
    assert_eq!(p.log_count(STARTED), 1);
}

/// Three Cinnabar replicas share one slowed transfer; one of them leaves in the middle
/// (REPLICAOF NO ONE closes its link). The other two complete and hold the primary's
/// dataset; the one that left did not make them sync again.
#[test]
fn a_replica_leaving_during_a_shared_transfer_leaves_the_others_syncing() {
    let p = Primary::start(
        "replshared-drop",
        &[
            "--repl-diskless-sync-delay",
            "1000",
            "--repl-diskless-sync-max-replicas",
            "3",
        ],
    );
    let mut pc = p.conn();
    for db in ["0", "3"] {
        assert_eq!(pc.cmd(&["SELECT", db]), ok());
        for i in 0..300 {
            assert_eq!(pc.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]), ok());
            pc.cmd(&["RPUSH", &format!("l{}", i % 7), &format!("{i}")]);
        }
    }
    assert_eq!(pc.cmd(&["SELECT", "0"]), ok());
    // 10 ms per key: 6 s for the whole transfer, until the delay is reset.
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]),
        ok()
    );
    let replicas: Vec<TestServer> = (0..3).map(|_| TestServer::start()).collect();
    let port = p.addr().port().to_string();
    for r in &replicas {
        assert_eq!(r.raw().cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    }
    eventually(WAIT, "the shared transfer to start", || {
        field(&mut pc, "persistence", "rdb_bgsave_in_progress") == "1"
    });
    assert_eq!(replicas[1].raw().cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    eventually(WAIT, "the replica that left to be gone", || {
        field(&mut pc, "replication", "connected_slaves") == "2"
    });
    // Writes during the transfer reach the others through the stream.
    assert_eq!(pc.cmd(&["SET", "during", "1"]), ok());
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    let dbs = &[0, 3];
    let want = describe_dataset(&mut pc, dbs);
    for i in [0, 2] {
        let mut rc = replicas[i].raw();
        eventually(WAIT, format_args!("replica {i} to sync"), || {
            field(&mut rc, "replication", "master_link_status") == "up"
                && field(&mut pc, "replication", "master_repl_offset")
                    == field(&mut rc, "replication", "slave_repl_offset")
        });
        assert_eq!(describe_dataset(&mut rc, dbs), want, "replica {i}");
    }
    assert_eq!(field(&mut pc, "stats", "sync_full"), "3");
    assert_eq!(p.log_count(STARTED), 1);
    p.wait_log("Diskless rdb transfer, done reading from pipe, 2 replicas still up.");
}

/// Disk-backed syncs: a replica asking while one's file is written attaches to it (Redis's
/// "Waiting for end of BGSAVE for SYNC") and gets the same offset and file; the first
/// replica leaving does not cancel the snapshot the second one waits for.
#[test]
fn a_disk_backed_sync_is_shared_by_the_replicas_arriving_while_it_is_written() {
    let p = Primary::start(
        "replshared-disk",
        &["--repl-diskless-sync", "no", "--rdbcompression", "no"],
    );
    let mut pc = p.conn();
    slow_snapshots(&mut pc);
    let mut first = FakeReplica::psync_disk(p.addr());
    let head = first.head();
    let mut second = FakeReplica::psync_disk(p.addr());
    let mut third = FakeReplica::psync_disk(p.addr());
    p.wait_log("Waiting for end of BGSAVE for SYNC");
    wait_listed(&mut pc, 3);
    assert_eq!(third.head(), head);
    // The first leaves: the others still wait for the same file.
    drop(first);
    eventually(WAIT, "the first replica to be gone", || {
        field(&mut pc, "replication", "connected_slaves") == "2"
    });
    assert_eq!(field(&mut pc, "persistence", "rdb_bgsave_in_progress"), "1");
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    let (h2, rdb2) = second.transfer_disk();
    let rest = third.transfer_disk_after_head();
    assert_eq!(h2, head);
    assert_eq!(rdb2, rest);
    assert_eq!(p.log_count("Starting BGSAVE for SYNC with target: disk"), 1);
    assert_eq!(field(&mut pc, "stats", "sync_full"), "3");
}

fn info_u64(pc: &mut RawConn, name: &str) -> u64 {
    let info = cinnabar_testkit::text(&pc.cmd(&["INFO"]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .trim()
        .parse()
        .unwrap()
}

/// The part of the shared stream a replica has not been sent is its output buffer, as in
/// Redis 7.2: INFO `mem_total_replication_buffers` holds it while the replica waits for its
/// transfer, a replica past `client-output-buffer-limit replica <hard>` is closed at the next
/// write, and what only it needed is let go as it leaves (the buffer is back to the backlog's
/// size).
#[test]
fn a_replica_past_its_output_limit_is_closed_and_its_stream_let_go() {
    let p = Primary::start(
        "replshared-obuf",
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--repl-backlog-size",
            "16384",
        ],
    );
    let mut pc = p.conn();
    slow_snapshots(&mut pc);
    let mut a = FakeReplica::psync(p.addr());
    a.head();
    // About 1 MB of writes while the transfer crawls: all of it waits for the replica.
    let value = "x".repeat(4096);
    for i in 0..256 {
        assert_eq!(pc.cmd(&["SET", &format!("big{i}"), &value]), ok());
    }
    assert!(info_u64(&mut pc, "mem_total_replication_buffers") > 1 << 20);
    assert!(info_u64(&mut pc, "mem_clients_slaves") > 1 << 19);
    assert_eq!(info_u64(&mut pc, "connected_slaves"), 1);
    assert_eq!(
        pc.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 128k 0 0"
        ]),
        ok()
    );
    assert_eq!(pc.cmd(&["SET", "trigger", &"A".repeat(65536)]), ok());
    eventually(WAIT, "the replica past its limit to be closed", || {
        info_u64(&mut pc, "connected_slaves") == 0
    });
    p.wait_log("scheduled to be closed ASAP for overcoming of output buffer limits");
    assert!(info_u64(&mut pc, "mem_total_replication_buffers") <= 16384);
    drop(a);
}
