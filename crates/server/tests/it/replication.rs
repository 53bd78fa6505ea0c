//! Replication: Cinnabar primaries and replicas (several servers per test), and both
//! directions with a real redis-server. Every wait polls with a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_testkit::{
    bulk, describe_dataset, err, eventually, int, ok, text, words, RawConn, TestServer,
};

const DBS: &[usize] = &[0, 1, 3, 9];

pub(crate) fn primary(extra: &[(&str, &str)]) -> TestServer {
    let mut args = vec![("repl-diskless-sync-delay", "0")];
    args.extend_from_slice(extra);
    TestServer::with_args(&args)
}

/// Waits until a replica whose link is up has applied more of the live stream than it had
/// at that moment (the write load is running), so that a cut link then has a stream to resume.
fn wait_stream_flows(rc: &mut RawConn) {
    let offset = |rc: &mut RawConn| -> i64 {
        info_field(rc, "replication", "slave_repl_offset")
            .parse()
            .unwrap_or(0)
    };
    let start = offset(rc);
    eventually(
        Duration::from_secs(20),
        "the live stream to reach the replica",
        || offset(rc) > start,
    );
}

pub(crate) fn info_field(c: &mut RawConn, section: &str, name: &str) -> String {
    let info = text(&c.cmd(&["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_default()
}

pub(crate) fn replicaof(r: &mut RawConn, addr: SocketAddr) {
    let port = addr.port().to_string();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
}

/// Waits until the replica's link is up and it applied everything the primary produced.
pub(crate) fn wait_synced(p: &mut RawConn, r: &mut RawConn) {
    eventually(Duration::from_secs(20), "the replica to catch up", || {
        info_field(r, "replication", "master_link_status") == "up"
            && info_field(p, "replication", "master_repl_offset")
                == info_field(r, "replication", "slave_repl_offset")
    });
}

pub(crate) fn fill(c: &mut RawConn, prefix: &str, n: usize) {
    for i in 0..n {
        let k = format!("{prefix}{i}");
        assert_eq!(c.cmd(&["SET", &k, &format!("v{i}")]), ok());
    }
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    c.cmd(&["RPUSH", &format!("{prefix}list"), "a", "b", "c"]);
    c.cmd(&["HSET", &format!("{prefix}hash"), "f1", "1", "f2", "2"]);
    c.cmd(&["SADD", &format!("{prefix}set"), "x", "y", "1"]);
    c.cmd(&["ZADD", &format!("{prefix}zset"), "1.5", "a", "2", "b"]);
    c.cmd(&["XADD", &format!("{prefix}stream"), "1-1", "f", "v"]);
    c.cmd(&["SET", &format!("{prefix}ttl"), "v", "EX", "1000"]);
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
}

#[test]
fn full_sync_then_stream_diskless_and_disk() {
    for diskless in ["yes", "no"] {
        let p = primary(&[("repl-diskless-sync", diskless)]);
        let r = TestServer::start();
        let (mut pc, mut rc) = (p.raw(), r.raw());
        fill(&mut pc, "pre", 200);
        rc.cmd(&["SET", "replica-own", "gone after sync"]);
        replicaof(&mut rc, p.addr());
        wait_synced(&mut pc, &mut rc);
        assert_eq!(rc.cmd(&["EXISTS", "replica-own"]), int(0));
        // The stream: several databases, a transaction, rewritten commands.
        fill(&mut pc, "post", 50);
        pc.cmd(&["SELECT", "1"]);
        pc.cmd(&["MULTI"]);
        pc.cmd(&["INCR", "counter"]);
        pc.cmd(&["SADD", "s", "a", "b", "c", "d"]);
        pc.cmd(&["SPOP", "s"]);
        let exec = pc.cmd(&["EXEC"]);
        assert!(matches!(exec, Frame::Array(_)), "{exec:?}");
        pc.cmd(&["EXPIRE", "counter", "500"]);
        pc.cmd(&["SELECT", "9"]);
        pc.cmd(&["INCRBYFLOAT", "f", "1.5"]);
        pc.cmd(&["SELECT", "0"]);
        pc.cmd(&["DEL", "pre0", "pre1"]);
        wait_synced(&mut pc, &mut rc);
        assert_eq!(
            describe_dataset(&mut pc, DBS),
            describe_dataset(&mut rc, DBS),
            "diskless {diskless}"
        );
        assert_eq!(info_field(&mut pc, "stats", "sync_full"), "1");
        assert_eq!(info_field(&mut pc, "replication", "connected_slaves"), "1");
        let slave0 = info_field(&mut pc, "replication", "slave0");
        assert!(
            slave0.starts_with(&format!(
                "ip=127.0.0.1,port={},state=online,offset=",
                r.addr().port()
            )),
            "{slave0}"
        );
        // Same history on both sides.
        assert_eq!(
            info_field(&mut pc, "replication", "master_replid"),
            info_field(&mut rc, "replication", "master_replid")
        );
    }
}

#[test]
fn replica_is_read_only_and_roles() {
    let p = primary(&[]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(
        words(pc.cmd(&["ROLE"])),
        vec!["master".to_string(), "0".into(), "".into()]
    );
    replicaof(&mut rc, p.addr());
    assert_eq!(
        rc.cmd(&["REPLICAOF", "127.0.0.1", &p.addr().port().to_string()]),
        Frame::Simple("OK Already connected to specified master".into())
    );
    wait_synced(&mut pc, &mut rc);
    assert_eq!(
        rc.cmd(&["SET", "k", "v"]),
        err("READONLY You can't write against a read only replica.")
    );
    assert_eq!(rc.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(info_field(&mut rc, "replication", "role"), "slave");
    assert_eq!(info_field(&mut rc, "replication", "slave_read_only"), "1");
    let role = words(rc.cmd(&["ROLE"]));
    assert_eq!(
        &role[..4],
        &[
            "slave",
            "127.0.0.1",
            &p.addr().port().to_string(),
            "connected"
        ]
    );
    let prole = pc.cmd(&["ROLE"]);
    let Frame::Array(items) = prole else {
        panic!("{prole:?}")
    };
    assert_eq!(text(&items[0]), "master");
    let Frame::Array(reps) = &items[2] else {
        panic!("{items:?}")
    };
    assert_eq!(reps.len(), 1);
    assert_eq!(
        words(reps[0].clone())[..2],
        ["127.0.0.1".to_string(), r.addr().port().to_string()]
    );
    assert_eq!(
        rc.cmd(&["REPLICAOF", "127.0.0.1", "70000"]),
        err("ERR Invalid master port")
    );
    assert_eq!(
        pc.cmd(&["REPLCONF", "bogus", "1"]),
        err("ERR Unrecognized REPLCONF option: bogus")
    );
    assert_eq!(
        pc.cmd(&["REPLCONF", "listening-port"]),
        err("ERR syntax error")
    );
    // Writable replica: local writes allowed.
    assert_eq!(rc.cmd(&["CONFIG", "SET", "replica-read-only", "no"]), ok());
    assert_eq!(rc.cmd(&["SET", "local", "1"]), ok());
    assert_eq!(
        rc.cmd(&["WAIT", "0", "0"]),
        err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

#[test]
fn stale_data_refused_while_link_is_down() {
    // A primary that does not exist: the link never comes up.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = TestServer::with_args(&[("replica-serve-stale-data", "no")]);
    let mut rc = r.raw();
    replicaof(&mut rc, dead);
    assert_eq!(
        rc.cmd(&["GET", "k"]),
        err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
    );
    // Commands flagged stale still run.
    assert_eq!(
        info_field(&mut rc, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(rc.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(rc.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(info_field(&mut rc, "replication", "role"), "master");
}

#[test]
fn replica_never_expires_keys_itself() {
    let p = primary(&[("enable-debug-command", "yes")]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(pc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(pc.cmd(&["SET", "k", "v", "PX", "1000"]), ok());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(rc.cmd(&["GET", "k"]), bulk("v"));
    // Logically expired once its deadline passes: invisible to reads, but only the
    // primary's DEL removes it.
    eventually(
        Duration::from_secs(10),
        "the key's deadline to pass on the replica",
        || rc.cmd(&["GET", "k"]) == Frame::Null,
    );
    assert_eq!(rc.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(rc.cmd(&["DBSIZE"]), int(1));
    // The primary expires it on access and sends DEL.
    assert_eq!(pc.cmd(&["GET", "k"]), Frame::Null);
    eventually(
        Duration::from_secs(10),
        "the primary's DEL to reach the replica",
        || rc.cmd(&["DBSIZE"]) == int(0),
    );
}

/// A writable replica expires the keys its own clients gave a deadline (Redis 7.2's
/// expireSlaveKeys), in the database they were written in, while keys from its primary still
/// wait for the primary's DEL (Redis's integration/replication-3 "Slave is able to evict
/// keys created in writable slaves").
#[test]
fn writable_replica_expires_its_own_keys() {
    let p = primary(&[("enable-debug-command", "yes")]);
    let r = TestServer::with_args(&[("replica-read-only", "no")]);
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(pc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(pc.cmd(&["SET", "fromprimary", "v", "PX", "100"]), ok());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(rc.cmd(&["SELECT", "5"]), ok());
    for k in ["key1", "key2", "key3"] {
        assert_eq!(rc.cmd(&["SET", k, "1", "PX", "100000"]), ok());
    }
    // A deadline set by EXPIRE counts too; PERSIST before it passes keeps the key.
    assert_eq!(rc.cmd(&["SET", "kept", "1"]), ok());
    assert_eq!(rc.cmd(&["PEXPIRE", "kept", "100000"]), int(1));
    assert_eq!(rc.cmd(&["PERSIST", "kept"]), int(1));
    // Inside EXEC and from a script as well.
    assert_eq!(rc.cmd(&["MULTI"]), ok());
    rc.cmd(&["SET", "tx", "1", "PX", "100000"]);
    assert_eq!(rc.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
    assert_eq!(
        rc.cmd(&[
            "EVAL",
            "return redis.call('SET', KEYS[1], '1', 'PX', '100000')",
            "1",
            "lua"
        ]),
        ok()
    );
    assert_eq!(rc.cmd(&["DBSIZE"]), int(6));
    // Past every deadline on the replica's clock (DEBUG ADVANCE-CLOCK's way): however slow
    // the machine, nothing expired before this point.
    r.advance_clock(100_001);
    eventually(
        Duration::from_secs(10),
        "the replica to expire its own keys",
        || rc.cmd(&["DBSIZE"]) == int(1),
    );
    assert_eq!(rc.cmd(&["GET", "kept"]), bulk("1"));
    // The primary's key is past its deadline too, but stays until the primary deletes it.
    assert_eq!(rc.cmd(&["SELECT", "0"]), ok());
    assert_eq!(rc.cmd(&["DBSIZE"]), int(1));
    assert_eq!(rc.cmd(&["EXISTS", "fromprimary"]), int(0));
}

/// CLIENT PAUSE WRITE on a replica holds its primary's stream too: read (the read offset
/// moves) but applied only after the pause, as Redis 7.2.
#[test]
fn paused_replica_reads_but_does_not_apply_the_stream() {
    let p = primary(&[]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(pc.cmd(&["SET", "foo", "bar"]), ok());
    wait_synced(&mut pc, &mut rc);
    let applied = info_field(&mut rc, "replication", "slave_repl_offset");
    assert_eq!(rc.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]), ok());
    assert_eq!(pc.cmd(&["SET", "foo2", "bar2"]), ok());
    let end = info_field(&mut pc, "replication", "master_repl_offset");
    eventually(
        Duration::from_secs(20),
        "the replica to read the write",
        || info_field(&mut rc, "replication", "slave_read_repl_offset") == end,
    );
    assert_eq!(
        info_field(&mut rc, "replication", "slave_repl_offset"),
        applied
    );
    assert_eq!(rc.cmd(&["GET", "foo2"]), Frame::Null);
    assert_eq!(rc.cmd(&["CLIENT", "UNPAUSE"]), ok());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(rc.cmd(&["GET", "foo2"]), bulk("bar2"));
}

#[test]
fn wait_counts_acknowledging_replicas() {
    let p = primary(&[]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    pc.cmd(&["SET", "a", "1"]);
    assert_eq!(pc.cmd(&["WAIT", "1", "5000"]), int(1));
    let t = Instant::now();
    pc.cmd(&["SET", "a", "2"]);
    assert_eq!(pc.cmd(&["WAIT", "2", "300"]), int(1));
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert_eq!(pc.cmd(&["WAIT", "1", "-1"]), err("ERR timeout is negative"));
    // In MULTI, WAIT does not block.
    pc.cmd(&["MULTI"]);
    pc.cmd(&["WAIT", "5", "0"]);
    assert_eq!(words(pc.cmd(&["EXEC"])), vec!["1".to_string()]);
}

/// The replicas' REPLCONF ACKs are commands the primary runs, as in Redis where they go
/// through call(): counted in INFO commandstats (calls and usec) and latencystats, in
/// total_commands_processed, and shown as the replica client's last command.
#[test]
fn replica_acks_are_counted_in_commandstats() {
    let p = primary(&[]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    // The handshake's REPLCONFs are forgotten: only ACKs can count from here.
    assert_eq!(pc.cmd(&["CONFIG", "RESETSTAT"]), ok());
    pc.cmd(&["SET", "a", "1"]);
    // WAIT asks the replica for an ACK (GETACK) and returns once it came.
    assert_eq!(pc.cmd(&["WAIT", "1", "5000"]), int(1));
    let line = info_field(&mut pc, "commandstats", "cmdstat_replconf");
    let field = |name: &str| -> f64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
            .parse()
            .unwrap()
    };
    let (calls, usec, per_call) = (field("calls"), field("usec"), field("usec_per_call"));
    assert!(calls >= 1.0, "{line}");
    assert!((per_call - usec / calls).abs() < 0.01, "{line}");
    assert_eq!(field("rejected_calls"), 0.0, "{line}");
    assert_eq!(field("failed_calls"), 0.0, "{line}");
    assert!(
        !info_field(&mut pc, "latencystats", "latency_percentiles_usec_replconf").is_empty(),
        "no latencystats for replconf"
    );
    let total: u64 = info_field(&mut pc, "stats", "total_commands_processed")
        .parse()
        .unwrap();
    assert!(total >= calls as u64 + 2, "{total}");
    let list = text(&pc.cmd(&["CLIENT", "LIST", "TYPE", "replica"]));
    assert!(list.contains(" cmd=replconf "), "{list}");
    // CLIENT LIST TYPE finds the links as CLIENT KILL TYPE does.
    assert!(list.contains(" flags=S "), "{list}");
    let normal = text(&pc.cmd(&["CLIENT", "LIST", "TYPE", "normal"]));
    assert!(!normal.contains(" flags=S "), "{normal}");
    let master = text(&rc.cmd(&["CLIENT", "LIST", "TYPE", "master"]));
    assert!(master.contains(" flags=M "), "{master}");
}

/// FLUSHALL during a full sync stops its snapshot, as Redis's flushAllDataAndResetRDB kills
/// the RDB child: the replica's link is closed and it syncs again, here at once (the
/// dataset is empty now), where the slowed transfer would have taken minutes. Both ways.
#[test]
fn flushall_cancels_a_running_full_sync() {
    for diskless in ["yes", "no"] {
        let p = primary(&[("repl-diskless-sync", diskless)]);
        let r = TestServer::start();
        let (mut pc, mut rc) = (p.raw(), r.raw());
        fill(&mut pc, "k", 2000);
        // 0.1 s per key: 200 s for the whole transfer.
        assert_eq!(
            pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]),
            ok()
        );
        replicaof(&mut rc, p.addr());
        eventually(Duration::from_secs(20), "the full sync to start", || {
            info_field(&mut pc, "persistence", "rdb_bgsave_in_progress") == "1"
        });
        assert_eq!(pc.cmd(&["FLUSHALL"]), ok());
        eventually(Duration::from_secs(20), "a second full sync", || {
            info_field(&mut pc, "stats", "sync_full") == "2"
                && info_field(&mut rc, "replication", "master_link_status") == "up"
        });
        wait_synced(&mut pc, &mut rc);
        assert_eq!(rc.cmd(&["DBSIZE"]), int(0), "diskless {diskless}");
        assert_eq!(
            info_field(&mut pc, "persistence", "rdb_bgsave_in_progress"),
            "0"
        );
    }
}

/// A TCP relay whose connections the test can cut.
struct Relay {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn new(target: SocketAddr) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Default::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2) = (conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                if s2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(a) = s else { continue };
                let Ok(b) = TcpStream::connect(target) else {
                    continue;
                };
                c2.lock().unwrap().push(a.try_clone().unwrap());
                c2.lock().unwrap().push(b.try_clone().unwrap());
                for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)]
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { addr, conns, stop }
    }

    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        let _ = TcpStream::connect(self.addr);
    }
}

#[test]
fn cut_link_resumes_with_partial_resync_and_overflow_forces_full() {
    let p = primary(&[("repl-backlog-size", "64kb")]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    let relay = Relay::new(p.addr());
    fill(&mut pc, "a", 100);
    replicaof(&mut rc, relay.addr);
    wait_synced(&mut pc, &mut rc);
    // Cut: writes made meanwhile fit the backlog, so the replica continues.
    relay.cut();
    fill(&mut pc, "b", 100);
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_full"), "1");
    assert_eq!(info_field(&mut pc, "stats", "sync_partial_ok"), "1");
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut rc, DBS)
    );
    // Cut again, with more written than the backlog holds: a full resync.
    relay.cut();
    let big = "x".repeat(1000);
    for i in 0..200 {
        pc.cmd(&["SET", &format!("big{i}"), &big]);
    }
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_full"), "2");
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut rc, DBS)
    );
    // CLIENT KILL TYPE master on the replica: also continued partially.
    let partial = info_field(&mut pc, "stats", "sync_partial_ok");
    assert_eq!(rc.cmd(&["CLIENT", "KILL", "TYPE", "master"]), int(1));
    pc.cmd(&["SET", "after-kill", "1"]);
    eventually(
        Duration::from_secs(20),
        "a partial resync after CLIENT KILL",
        || info_field(&mut pc, "stats", "sync_partial_ok") != partial,
    );
    wait_synced(&mut pc, &mut rc);
    assert_eq!(rc.cmd(&["GET", "after-kill"]), bulk("1"));
}

#[test]
fn promoted_replica_continues_history_for_the_others() {
    let p = primary(&[]);
    let r1 = primary(&[]);
    let r2 = TestServer::start();
    let (mut pc, mut c1, mut c2) = (p.raw(), r1.raw(), r2.raw());
    fill(&mut pc, "k", 50);
    replicaof(&mut c1, p.addr());
    replicaof(&mut c2, p.addr());
    wait_synced(&mut pc, &mut c1);
    wait_synced(&mut pc, &mut c2);
    let old_id = info_field(&mut pc, "replication", "master_replid");
    // CONFIG GET replicaof follows the role (what CONFIG REWRITE writes).
    let at = format!("127.0.0.1 {}", p.addr().port());
    assert_eq!(
        words(c1.cmd(&["CONFIG", "GET", "replicaof"])),
        ["replicaof", &at]
    );
    assert_eq!(
        words(c1.cmd(&["CONFIG", "GET", "slaveof"])),
        ["slaveof", &at]
    );
    // Failover by hand: r1 becomes the primary, r2 follows it.
    assert_eq!(c1.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(
        words(c1.cmd(&["CONFIG", "GET", "replicaof"])),
        ["replicaof", ""]
    );
    assert_eq!(info_field(&mut c1, "replication", "master_replid2"), old_id);
    assert_ne!(info_field(&mut c1, "replication", "master_replid"), old_id);
    replicaof(&mut c2, r1.addr());
    wait_synced(&mut c1, &mut c2);
    assert_eq!(info_field(&mut c1, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut c1, "stats", "sync_full"), "0");
    c1.cmd(&["SET", "new-primary", "yes"]);
    wait_synced(&mut c1, &mut c2);
    assert_eq!(
        describe_dataset(&mut c1, DBS),
        describe_dataset(&mut c2, DBS)
    );
    // The old primary rejoins as a replica of the new one, also without a full sync.
    replicaof(&mut pc, r1.addr());
    wait_synced(&mut c1, &mut pc);
    assert_eq!(info_field(&mut c1, "stats", "sync_full"), "0");
    assert_eq!(
        describe_dataset(&mut c1, DBS),
        describe_dataset(&mut pc, DBS)
    );
}

#[test]
fn chained_replica() {
    let p = primary(&[]);
    let r1 = primary(&[]);
    let r2 = TestServer::start();
    let (mut pc, mut c1, mut c2) = (p.raw(), r1.raw(), r2.raw());
    fill(&mut pc, "k", 30);
    replicaof(&mut c1, p.addr());
    wait_synced(&mut pc, &mut c1);
    replicaof(&mut c2, r1.addr());
    wait_synced(&mut c1, &mut c2);
    fill(&mut pc, "later", 30);
    wait_synced(&mut pc, &mut c1);
    wait_synced(&mut c1, &mut c2);
    assert_eq!(
        info_field(&mut pc, "replication", "master_repl_offset"),
        info_field(&mut c2, "replication", "slave_repl_offset")
    );
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut c2, DBS)
    );
}

// --- Interoperability with a real redis-server ----------------------------------------

/// Writes of several types to `addr` until `stop` is set; returns how many rounds ran.
fn write_load(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut c = RawConn::connect(addr);
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let n = i.to_string();
            c.cmd(&["SET", &format!("load:{}", i % 300), &n]);
            c.cmd(&["INCR", "load:counter"]);
            c.cmd(&["LPUSH", "load:list", &n]);
            c.cmd(&["LTRIM", "load:list", "0", "99"]);
            c.cmd(&["HSET", "load:hash", &format!("f{}", i % 50), &n]);
            c.cmd(&["ZADD", "load:zset", &n, &format!("m{}", i % 70)]);
            c.cmd(&["SET", &format!("load:ttl{}", i % 20), &n, "EX", "1000"]);
            if i.is_multiple_of(7) {
                c.cmd(&["DEL", &format!("load:{}", (i / 7) % 300)]);
            }
            i += 1;
        }
        i
    })
}

/// The interop scenario, either way round: a replica (`rc`) of the primary at `primary`
/// (`pc`) syncs through a relay under write load, the relay cuts the link, and the replica
/// resumes with a partial resync (one full sync in all) to the primary's dataset. Returns the
/// relay, which carries the link for as long as the caller keeps it.
#[must_use]
fn sync_cut_and_resume(primary: SocketAddr, pc: &mut RawConn, rc: &mut RawConn) -> Relay {
    fill(pc, "pre", 300);
    let relay = Relay::new(primary);
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(primary, stop.clone());
    replicaof(rc, relay.addr);
    eventually(Duration::from_secs(20), "the replica's link", || {
        info_field(rc, "replication", "master_link_status") == "up"
    });
    wait_stream_flows(rc);
    relay.cut();
    eventually(Duration::from_secs(20), "a resync after the cut", || {
        info_field(pc, "stats", "sync_partial_ok") != "0"
            || info_field(pc, "stats", "sync_full") != "1"
    });
    stop.store(true, Ordering::Relaxed);
    assert!(load.join().unwrap() > 0);
    wait_synced(pc, rc);
    assert_eq!(info_field(pc, "stats", "sync_full"), "1");
    assert_eq!(describe_dataset(pc, DBS), describe_dataset(rc, DBS));
    relay
}

#[test]
fn cinnabar_replica_of_redis_primary() {
    let Some(redis) = cinnabar_testkit::RealRedis::start(&[
        "--repl-diskless-sync-delay",
        "0",
        // Room for the lag of a debug build applying the stream under write load.
        "--repl-backlog-size",
        "64mb",
    ]) else {
        return;
    };
    let r = TestServer::start();
    let (mut pc, mut rc) = (redis.conn(), r.raw());
    let _link = sync_cut_and_resume(redis.addr(), &mut pc, &mut rc);
    assert_eq!(pc.cmd(&["WAIT", "1", "5000"]), int(1));
}

/// A redis-server of version 7.2 or later (it must read RDB version 11): REDIS72_SERVER,
/// the tree built at ~/redis-7.2.4, or REDIS_SERVER / redis-server when new enough.
fn redis72_binary() -> Option<String> {
    let mut candidates = Vec::new();
    for var in ["REDIS72_SERVER", "REDIS_SERVER"] {
        if let Ok(v) = std::env::var(var) {
            candidates.push(v);
        }
    }
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(format!("{home}/redis-7.2.4/src/redis-server"));
    }
    candidates.push("redis-server".into());
    candidates.into_iter().find(|bin| {
        std::process::Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                let s = String::from_utf8_lossy(&o.stdout).to_string();
                let v = s.split("v=").nth(1)?.split_whitespace().next()?.to_string();
                let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
                Some((it.next()?, it.next()?) >= (7, 2))
            })
            .unwrap_or(false)
    })
}

#[test]
fn redis_replica_of_cinnabar_primary() {
    let Some(bin) = redis72_binary() else {
        cinnabar_testkit::real::too_old(
            "no redis-server 7.2 or later (REDIS72_SERVER, REDIS_SERVER, ~/redis-7.2.4, PATH): \
             a replica loads our RDB version 11",
        );
        return;
    };
    let redis = cinnabar_testkit::RealRedis::start_binary(std::path::Path::new(&bin), (7, 2), &[]);
    let p = primary(&[("repl-backlog-size", "64mb")]);
    let (mut pc, mut rc) = (p.raw(), redis.conn());
    let _link = sync_cut_and_resume(p.addr(), &mut pc, &mut rc);
    pc.cmd(&["SET", "acked", "1"]);
    assert_eq!(pc.cmd(&["WAIT", "1", "5000"]), int(1));
}

/// The test kit's fresh directory, as the text the `dir` setting takes.
fn temp_dir(tag: &str) -> String {
    cinnabar_testkit::temp_dir(tag)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn waitaof_local_and_replicas() {
    let (dp, dr) = (temp_dir("waitaof-p"), temp_dir("waitaof-r"));
    let p = primary(&[
        ("dir", &dp),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ]);
    let r = TestServer::with_args(&[
        ("dir", &dr),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ]);
    let plain = primary(&[]);
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(
        plain.raw().cmd(&["WAITAOF", "1", "0", "0"]),
        err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.")
    );
    assert_eq!(
        pc.cmd(&["WAITAOF", "2", "0", "0"]),
        err("ERR value is out of range, value must between 0 and 1")
    );
    pc.cmd(&["INCR", "n"]);
    assert_eq!(words(pc.cmd(&["WAITAOF", "1", "0", "0"])), vec!["1", "0"]);
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    pc.cmd(&["INCR", "n"]);
    assert_eq!(
        words(pc.cmd(&["WAITAOF", "1", "1", "5000"])),
        vec!["1", "1"]
    );
    // Two replicas asked for, one exists: the timeout ends it with what was reached.
    pc.cmd(&["INCR", "n"]);
    assert_eq!(words(pc.cmd(&["WAITAOF", "0", "2", "200"])), vec!["1", "1"]);
    assert_eq!(
        rc.cmd(&["WAITAOF", "0", "0", "0"]),
        err("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.")
    );
    drop((p, r));
    let _ = std::fs::remove_dir_all(dp);
    let _ = std::fs::remove_dir_all(dr);
}

/// Redis's unit/wait "WAITAOF local if AOFRW was postponed": the AOF switched on while a
/// BGSAVE runs schedules its rewrite for when the save ends, and WAITAOF's local copy counts
/// only once that rewrite has finished. Setting `rdb-key-save-delay` back to 0 ends a save
/// slowed by a long per-key delay at once (Redis's test kills the forked child instead);
/// a save left sleeping blocked every later full sync (the replica copy tests hung).
#[test]
fn aof_enabled_during_bgsave_waits_for_its_rewrite() {
    let d = temp_dir("waitaof-postponed");
    let s = primary(&[("dir", &d), ("appendfsync", "everysec")]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "x", "y"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100000000"]),
        ok()
    );
    c.cmd(&["BGSAVE"]);
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_bgsave_in_progress"),
        "1"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), ok());
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_scheduled"),
        "1"
    );
    assert_eq!(c.cmd(&["SET", "x", "y"]), ok());
    assert_eq!(words(c.cmd(&["WAITAOF", "1", "0", "50"])), vec!["0", "0"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    eventually(Duration::from_secs(5), "the slowed BGSAVE to end", || {
        info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(
        words(c.cmd(&["WAITAOF", "1", "0", "10000"])),
        vec!["1", "0"]
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_in_progress"),
        "0"
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_scheduled"),
        "0"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(d);
}

/// The primary PINGs its replicas when a `repl-ping-replica-period` since start-up ends,
/// as Redis's 1 Hz replication cron does when its count is a multiple of the period: not
/// when a replica attaches. The PINGs are in the stream, so they move master_repl_offset
/// (Redis's psync2-master-restart checks the offset is still 0 with a period of an hour).
#[test]
fn replicas_are_pinged_on_the_period_schedule_only() {
    let p = primary(&[("repl-ping-replica-period", "3600")]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    let attached = Instant::now();
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    // Several cron passes (ten a second) with the replica attached and online.
    eventually(
        Duration::from_secs(10),
        "the replica to be online for 1.5 s",
        || {
            info_field(&mut pc, "replication", "slave0").contains("state=online")
                && attached.elapsed() > Duration::from_millis(1500)
        },
    );
    assert_eq!(
        info_field(&mut pc, "replication", "master_repl_offset"),
        "0"
    );
    assert_eq!(
        info_field(&mut rc, "replication", "master_repl_offset"),
        "0"
    );
    // A period of one second: a PING (14 bytes) a second, applied by the replica too.
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "repl-ping-replica-period", "1"]),
        ok()
    );
    eventually(Duration::from_secs(10), "a PING in the stream", || {
        info_field(&mut pc, "replication", "master_repl_offset")
            .parse::<u64>()
            .is_ok_and(|o| o > 0 && o % 14 == 0)
    });
    wait_synced(&mut pc, &mut rc);
}

/// PSYNC with an offset that is not a number is refused (and logged, as Redis does) without
/// starting any sync: the connection stays a normal client.
#[test]
fn psync_with_a_wrong_offset_is_an_error() {
    let p = primary(&[]);
    let mut c = p.raw();
    assert_eq!(
        c.cmd(&["PSYNC", "replicationid", "offset_str"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(info_field(&mut c, "stats", "sync_full"), "0");
}

#[test]
fn min_replicas_to_write_and_digest() {
    let p = primary(&[
        ("min-replicas-to-write", "1"),
        ("enable-debug-command", "yes"),
    ]);
    let r = TestServer::with_args(&[("enable-debug-command", "yes")]);
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(
        pc.cmd(&["SET", "k", "v"]),
        err("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(pc.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(
        info_field(&mut pc, "replication", "min_slaves_good_slaves"),
        "0"
    );
    replicaof(&mut rc, p.addr());
    eventually(Duration::from_secs(20), "a good replica", || {
        info_field(&mut pc, "replication", "min_slaves_good_slaves") == "1"
    });
    assert_eq!(pc.cmd(&["SET", "k", "v"]), ok());
    fill(&mut pc, "d", 20);
    wait_synced(&mut pc, &mut rc);
    let digest = text(&pc.cmd(&["DEBUG", "DIGEST"]));
    assert_eq!(digest.len(), 40);
    assert_ne!(digest, "0".repeat(40));
    assert_eq!(text(&rc.cmd(&["DEBUG", "DIGEST"])), digest);
    // The slave-* alias turns it off.
    assert_eq!(pc.cmd(&["CONFIG", "SET", "min-slaves-to-write", "0"]), ok());
    assert_eq!(pc.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(pc.cmd(&["SET", "k", "w"]), ok());
}

#[test]
fn restarted_replica_continues_from_its_rdb() {
    let dir = temp_dir("restart-r");
    let p = primary(&[]);
    let mut pc = p.raw();
    fill(&mut pc, "k", 50);
    let port = p.addr().port().to_string();
    {
        let r = TestServer::with_args(&[("dir", &dir)]);
        let mut rc = r.raw();
        replicaof(&mut rc, p.addr());
        wait_synced(&mut pc, &mut rc);
        assert_eq!(rc.cmd(&["SAVE"]), ok());
    }
    fill(&mut pc, "after", 10);
    // The restarted replica loads its RDB, whose aux fields hold the history and offset.
    let r = TestServer::with_argv(&[
        "--dir",
        dir.as_str(),
        "--replicaof",
        "127.0.0.1",
        port.as_str(),
    ]);
    let mut rc = r.raw();
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_full"), "1");
    assert_eq!(info_field(&mut pc, "stats", "sync_partial_ok"), "1");
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut rc, DBS)
    );
    drop(r);
    let _ = std::fs::remove_dir_all(dir);
}

/// A restarted primary takes a new replication id and keeps its RDB's history as the second
/// one (Redis's loadDataFromDisk on a master): its replicas continue with a partial resync.
#[test]
fn restarted_primary_keeps_the_rdb_history_as_its_second_id() {
    let dir = temp_dir("restart-p");
    let r = TestServer::start();
    let mut rc = r.raw();
    let (old_id, offset, set_at) = {
        let p = primary(&[("dir", &dir), ("enable-debug-command", "yes")]);
        let mut pc = p.raw();
        replicaof(&mut rc, p.addr());
        fill(&mut pc, "k", 20);
        // A key that expires before the restart loads it. Active expiry off: on a slow
        // machine its deadline may pass before the SAVE, and it must still be in the file.
        assert_eq!(pc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
        assert_eq!(pc.cmd(&["SELECT", "2"]), ok());
        assert_eq!(pc.cmd(&["SET", "gone", "v", "PX", "1000"]), ok());
        assert_eq!(pc.cmd(&["SELECT", "0"]), ok());
        let set_at = Instant::now();
        wait_synced(&mut pc, &mut rc);
        assert_eq!(pc.cmd(&["SAVE"]), ok());
        (
            info_field(&mut pc, "replication", "master_replid"),
            info_field(&mut pc, "replication", "master_repl_offset"),
            set_at,
        )
    };
    eventually(Duration::from_secs(5), "the key's deadline to pass", || {
        set_at.elapsed() > Duration::from_millis(1100)
    });
    let p = TestServer::in_dir(
        std::path::Path::new(&dir),
        &[("repl-diskless-sync-delay", "0")],
    );
    let mut pc = p.raw();
    assert_ne!(info_field(&mut pc, "replication", "master_replid"), old_id);
    assert_eq!(info_field(&mut pc, "replication", "master_replid2"), old_id);
    // The expired key was not loaded; its DEL (after a SELECT 2) continues the stream.
    assert_eq!(
        info_field(&mut pc, "persistence", "rdb_last_load_keys_expired"),
        "1"
    );
    let del = "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$4\r\ngone\r\n";
    assert_eq!(
        info_field(&mut pc, "replication", "master_repl_offset"),
        (offset.parse::<u64>().unwrap() + del.len() as u64).to_string()
    );
    let second = offset.parse::<u64>().unwrap() + 1;
    assert_eq!(
        info_field(&mut pc, "replication", "second_repl_offset"),
        second.to_string()
    );
    // The replica holds the old history: it continues it from the restarted primary.
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut pc, "stats", "sync_full"), "0");
    // CONFIG RESETSTAT clears the sync counters, as Redis's resetServerStats.
    assert_eq!(pc.cmd(&["CONFIG", "RESETSTAT"]), ok());
    assert_eq!(info_field(&mut pc, "stats", "sync_partial_ok"), "0");
    assert_eq!(rc.cmd(&["SELECT", "2"]), ok());
    assert_eq!(rc.cmd(&["DBSIZE"]), int(0));
    drop(r);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn failover_switches_roles_with_a_partial_resync() {
    let p = primary(&[]);
    let r = primary(&[]);
    let (mut pc, mut rc) = (p.raw(), r.raw());
    assert_eq!(
        pc.cmd(&["FAILOVER"]),
        err("ERR FAILOVER requires connected replicas.")
    );
    assert_eq!(
        pc.cmd(&["FAILOVER", "ABORT"]),
        err("ERR No failover in progress.")
    );
    fill(&mut pc, "k", 30);
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(
        pc.cmd(&[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            "1",
            "FORCE",
            "TIMEOUT",
            "100"
        ]),
        err("ERR FAILOVER target HOST and PORT is not a replica.")
    );
    assert_eq!(
        pc.cmd(&["FAILOVER", "FORCE"]),
        err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.")
    );
    assert_eq!(
        rc.cmd(&["FAILOVER"]),
        err("ERR FAILOVER is not valid when server is a replica.")
    );
    let port = r.addr().port().to_string();
    assert_eq!(
        pc.cmd(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "5000"]),
        ok()
    );
    eventually(Duration::from_secs(20), "the roles to switch", || {
        info_field(&mut rc, "replication", "role") == "master"
            && info_field(&mut pc, "replication", "role") == "slave"
            && info_field(&mut pc, "replication", "master_failover_state") == "no-failover"
    });
    wait_synced(&mut rc, &mut pc);
    assert_eq!(info_field(&mut rc, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut rc, "stats", "sync_full"), "0");
    assert_eq!(
        pc.cmd(&["SET", "x", "1"]),
        err("READONLY You can't write against a read only replica.")
    );
    assert_eq!(rc.cmd(&["SET", "x", "1"]), ok());
    wait_synced(&mut rc, &mut pc);
    assert_eq!(
        describe_dataset(&mut rc, DBS),
        describe_dataset(&mut pc, DBS)
    );
}

/// Redis's issue #2473: a client blocked in BLPOP on a primary that becomes a replica must
/// not be served by the new primary's stream (it would pop on the replica alone, and the
/// datasets would differ). As Redis's disconnectAllBlockedClients, the change of role
/// unblocks it with -UNBLOCKED, counted as a failed call of BLPOP, and closes it.
#[test]
fn blpop_then_role_change_unblocks_and_keeps_datasets_equal() {
    let a = primary(&[]);
    let b = primary(&[]);
    let (mut ac, mut bc) = (a.raw(), b.raw());
    let mut blocked = b.raw();
    blocked.send(&[b"BLPOP", b"foo", b"0"]);
    bc.wait_blocked(1);
    // B becomes a replica of A.
    assert_eq!(ac.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    replicaof(&mut bc, a.addr());
    let reply = blocked.read();
    assert_eq!(
        reply,
        err("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)")
    );
    assert_eq!(info_field(&mut bc, "clients", "blocked_clients"), "0");
    wait_synced(&mut ac, &mut bc);
    assert_eq!(ac.cmd(&["RPUSH", "foo", "a", "b", "c"]), int(3));
    wait_synced(&mut ac, &mut bc);
    for c in [&mut ac, &mut bc] {
        assert_eq!(words(c.cmd(&["LRANGE", "foo", "0", "-1"])), ["a", "b", "c"]);
    }
    assert_eq!(ac.cmd(&["DEBUG", "DIGEST"]), bc.cmd(&["DEBUG", "DIGEST"]));
    let stats = bc.info("commandstats");
    assert!(
        stats.contains("cmdstat_blpop:calls=1,")
            && stats.contains("rejected_calls=0,failed_calls=1\r\n"),
        "{stats}"
    );
    assert!(bc
        .info("errorstats")
        .contains("errorstat_UNBLOCKED:count=1"));
    // And, as Redis closes such a client after the reply, the connection is closed.
    let (rest, closed) = blocked.read_until_close(Duration::from_secs(10));
    assert!(rest.is_empty() && closed, "{rest:?} {closed}");
}

/// A backlog shrunk by CONFIG SET and overflowed while the replica was away: its PSYNC
/// must fall back to a full sync even though the old backlog (kept for that replica while it
/// was attached) still held its offset (Tcl integration/replication, swapdb async_loading).
#[test]
fn psync_after_the_backlog_shrank_and_overflowed_is_a_full_sync() {
    let p = primary(&[]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_full"), "1");
    let big = "A".repeat(16384);
    assert_eq!(pc.cmd(&["MULTI"]), ok());
    pc.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    pc.cmd(&["CONFIG", "SET", "repl-backlog-size", "16384"]);
    for i in 0..10 {
        pc.cmd(&["SET", &format!("{i} string_{i}"), &big]);
    }
    assert_eq!(words(pc.cmd(&["EXEC"]))[0], "1");
    eventually(Duration::from_secs(20), "a second full sync", || {
        info_field(&mut pc, "stats", "sync_full") == "2"
    });
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut pc, "stats", "sync_partial_ok"), "0");
    assert_eq!(
        describe_dataset(&mut pc, &[0]),
        describe_dataset(&mut rc, &[0])
    );
}

/// `rdb-key-save-delay` (µs per key saved) keeps a full sync's transfer, and a BGSAVE,
/// running until it is set back to 0; `key-load-delay` does the same to the replica's load.
/// One second per key: with 20-odd keys each stays visible however slow the machine is.
#[test]
fn key_save_and_load_delays_slow_down_a_sync_until_reset() {
    let dir = temp_dir("key-delays");
    let p = primary(&[("dir", &dir)]);
    let mut pc = p.raw();
    fill(&mut pc, "k", 20);
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        ok()
    );
    let r = TestServer::start();
    let mut rc = r.raw();
    assert_eq!(
        rc.cmd(&["CONFIG", "SET", "key-load-delay", "1000000"]),
        ok()
    );
    replicaof(&mut rc, p.addr());
    // While the snapshot is written the replica is `wait_bgsave` and a save is in progress,
    // as while Redis's RDB child for replication runs (its integration/replication waits for
    // both before killing the primary mid-transfer).
    eventually(Duration::from_secs(20), "the transfer to start", || {
        info_field(&mut pc, "persistence", "rdb_bgsave_in_progress") == "1"
            && info_field(&mut pc, "replication", "slave0").contains("state=wait_bgsave")
    });
    assert_eq!(
        info_field(&mut rc, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    eventually(Duration::from_secs(20), "the replica to load", || {
        info_field(&mut rc, "persistence", "loading") == "1"
    });
    assert_eq!(
        info_field(&mut rc, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(
        info_field(&mut pc, "persistence", "rdb_bgsave_in_progress"),
        "0"
    );
    assert_eq!(rc.cmd(&["CONFIG", "SET", "key-load-delay", "0"]), ok());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut rc, DBS)
    );

    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        ok()
    );
    assert_eq!(
        pc.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert_eq!(
        info_field(&mut pc, "persistence", "rdb_bgsave_in_progress"),
        "1"
    );
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    eventually(Duration::from_secs(20), "the BGSAVE to end", || {
        info_field(&mut pc, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(
        info_field(&mut pc, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    drop(r);
    drop(p);
    let _ = std::fs::remove_dir_all(dir);
}

/// With `repl-diskless-load disabled` (the default) the replica saves the RDB it received as
/// its dbfilename in dir, then loads it, as Redis does; with `swapdb` it writes nothing.
#[test]
fn disk_based_load_keeps_the_received_rdb() {
    let p = primary(&[]);
    let mut pc = p.raw();
    fill(&mut pc, "k", 30);
    for (load, kept) in [("disabled", true), ("swapdb", false)] {
        let dir = temp_dir("disk-load");
        let r = TestServer::with_args(&[("dir", &dir), ("repl-diskless-load", load)]);
        let mut rc = r.raw();
        replicaof(&mut rc, p.addr());
        wait_synced(&mut pc, &mut rc);
        let path = std::path::Path::new(&dir).join("dump.rdb");
        assert_eq!(path.exists(), kept, "{load}");
        if kept {
            let rdb = std::fs::read(&path).unwrap();
            assert!(rdb.starts_with(b"REDIS"), "{load}");
            // The file is the dataset: a server started on it has the same keys.
            drop(r);
            let again = TestServer::in_dir(std::path::Path::new(&dir), &[]);
            assert_eq!(
                describe_dataset(&mut pc, DBS),
                describe_dataset(&mut again.raw(), DBS)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A replica waiting for its transfer (here the primary's repl-diskless-sync-delay) is listed
/// from its SYNC on, as in Redis: `state=wait_bgsave`, counted in connected_slaves.
#[test]
fn replica_waiting_for_its_transfer_is_listed_as_wait_bgsave() {
    let p = primary(&[
        ("repl-diskless-sync", "yes"),
        ("repl-diskless-sync-delay", "1000"),
    ]);
    let mut pc = p.raw();
    let r = TestServer::start();
    let mut rc = r.raw();
    replicaof(&mut rc, p.addr());
    eventually(Duration::from_secs(20), "the replica to be listed", || {
        info_field(&mut pc, "replication", "slave0").contains("state=wait_bgsave")
    });
    assert_eq!(info_field(&mut pc, "replication", "connected_slaves"), "1");
    // Meanwhile the primary keeps no history for it.
    assert_eq!(
        info_field(&mut pc, "replication", "repl_backlog_active"),
        "0"
    );
}

/// A change of repl-timeout applies to a handshake already waiting: a primary that accepts
/// but never answers is given up (and connected again) within the new timeout.
#[test]
fn handshake_wait_honours_a_lowered_repl_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                // Keep the socket open, never answer.
                accepted.lock().unwrap().push(s);
            }
        });
    }
    let r = TestServer::start();
    let mut rc = r.raw();
    replicaof(&mut rc, addr);
    eventually(Duration::from_secs(20), "the replica to connect", || {
        !accepted.lock().unwrap().is_empty()
    });
    assert_eq!(rc.cmd(&["CONFIG", "SET", "repl-timeout", "1"]), ok());
    // The default repl-timeout is 60 s: reconnecting within 20 s shows the new one applied.
    eventually(
        Duration::from_secs(20),
        "the replica to give up and retry",
        || accepted.lock().unwrap().len() >= 2,
    );
    assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
}

/// WAITAOF's local copy under `appendfsync no`: never fsynced, so never acknowledged (the
/// wait ends on its timeout with 0), as in Redis 7.2; `everysec` acknowledges again.
#[test]
fn waitaof_local_copy_is_not_acknowledged_under_appendfsync_no() {
    let dir = temp_dir("waitaof-no");
    let p = primary(&[("dir", &dir), ("appendonly", "yes")]);
    let mut pc = p.raw();
    assert_eq!(pc.cmd(&["CONFIG", "SET", "appendfsync", "no"]), ok());
    for _ in 0..3 {
        pc.cmd(&["INCR", "foo"]);
        assert_eq!(
            pc.cmd(&["WAITAOF", "1", "0", "1200"]),
            Frame::Array(vec![int(0), int(0)])
        );
    }
    assert_eq!(pc.cmd(&["CONFIG", "SET", "appendfsync", "everysec"]), ok());
    pc.cmd(&["INCR", "foo"]);
    assert_eq!(
        pc.cmd(&["WAITAOF", "1", "0", "0"]),
        Frame::Array(vec![int(1), int(0)])
    );
    drop(p);
    let _ = std::fs::remove_dir_all(dir);
}

/// `repl-diskless-load` swapdb and on-empty-db from a Cinnabar primary, diskless (the
/// `$EOF:<mark>` framing) and disk-backed (`$<len>`): the RDB is parsed as it arrives (many
/// reads: half a megabyte of values), and the stream goes on after it.
#[test]
fn diskless_load_full_sync_in_both_framings() {
    for diskless in ["yes", "no"] {
        for mode in ["swapdb", "on-empty-db"] {
            let what = format!("diskless sync {diskless}, load {mode}");
            let p = primary(&[("repl-diskless-sync", diskless), ("rdbcompression", "no")]);
            let r = TestServer::with_args(&[("repl-diskless-load", mode)]);
            let (mut pc, mut rc) = (p.raw(), r.raw());
            fill(&mut pc, "pre", 200);
            let big = "x".repeat(1000);
            for i in 0..500 {
                assert_eq!(pc.cmd(&["SET", &format!("big{i}"), &big]), ok());
            }
            if mode == "swapdb" {
                rc.cmd(&["SET", "replica-own", "gone after sync"]);
            }
            replicaof(&mut rc, p.addr());
            wait_synced(&mut pc, &mut rc);
            assert_eq!(rc.cmd(&["EXISTS", "replica-own"]), int(0), "{what}");
            assert_eq!(pc.cmd(&["SET", "after", "1"]), ok());
            pc.cmd(&["DEL", "big0"]);
            wait_synced(&mut pc, &mut rc);
            assert_eq!(
                describe_dataset(&mut pc, DBS),
                describe_dataset(&mut rc, DBS),
                "{what}"
            );
            assert_eq!(
                info_field(&mut pc, "replication", "master_replid"),
                info_field(&mut rc, "replication", "master_replid"),
                "{what}"
            );
        }
    }
}

/// A diskless transfer slowed on the primary (`rdb-key-save-delay`, one second per key) is
/// parsed as it arrives: the replica reports loading, with the bytes parsed so far, while the
/// transfer is still in progress; then it completes once the delay is reset.
#[test]
fn replica_reports_loading_progress_during_a_slowed_transfer() {
    let p = primary(&[("repl-diskless-sync", "yes"), ("rdbcompression", "no")]);
    let mut pc = p.raw();
    let big = "x".repeat(100_000);
    for i in 0..20 {
        assert_eq!(pc.cmd(&["SET", &format!("big{i}"), &big]), ok());
    }
    let r = TestServer::with_args(&[("repl-diskless-load", "swapdb")]);
    let mut rc = r.raw();
    assert_eq!(rc.cmd(&["SET", "replica-own", "v"]), ok());
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        ok()
    );
    replicaof(&mut rc, p.addr());
    let loaded = |rc: &mut RawConn| -> u64 {
        info_field(rc, "persistence", "loading_loaded_bytes")
            .parse()
            .unwrap_or(0)
    };
    eventually(
        Duration::from_secs(20),
        "the replica to parse the first keys",
        || {
            info_field(&mut rc, "replication", "master_sync_in_progress") == "1"
                && loaded(&mut rc) > 100_000
        },
    );
    // Another history: the old dataset is not served while it loads.
    assert_eq!(info_field(&mut rc, "persistence", "loading"), "1");
    assert_eq!(
        rc.cmd(&["GET", "replica-own"]),
        err("LOADING Redis is loading the dataset in memory")
    );
    assert_eq!(pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), ok());
    wait_synced(&mut pc, &mut rc);
    assert_eq!(info_field(&mut rc, "persistence", "loading"), "0");
    assert_eq!(
        describe_dataset(&mut pc, DBS),
        describe_dataset(&mut rc, DBS)
    );
}

/// A replica with the AOF on logs the dataset its full sync brought, not its old dataset
/// followed by the new primary's stream (Redis's stopAppendOnly before the load and
/// restartAOFAfterSYNC after it): restarted from its files alone, it has exactly the
/// primary's keys, for a load in place and a swapdb load alike.
#[test]
fn replica_aof_after_a_full_sync_holds_the_primary_dataset() {
    for mode in ["disabled", "swapdb"] {
        let dir = cinnabar_testkit::temp_dir(&format!("replica-aof-{mode}"));
        let args = [
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("repl-diskless-load", mode),
        ];
        let p = primary(&[]);
        let mut pc = p.raw();
        pc.cmd(&["SET", "from-primary", "1"]);
        {
            let r = TestServer::in_dir(&dir, &args);
            let mut rc = r.raw();
            assert_eq!(rc.cmd(&["SET", "local", "1"]), ok());
            replicaof(&mut rc, p.addr());
            wait_synced(&mut pc, &mut rc);
            pc.cmd(&["SET", "after-sync", "2"]);
            wait_synced(&mut pc, &mut rc);
            assert_eq!(rc.cmd(&["DBSIZE"]), int(2), "{mode}");
            cinnabar_server::persist::aof::flush_all(&r.handle.server).unwrap();
        }
        let r = TestServer::in_dir(&dir, &[("appendonly", "yes")]);
        let mut rc = r.raw();
        let mut keys = words(rc.cmd(&["KEYS", "*"]));
        keys.sort();
        assert_eq!(keys, ["after-sync", "from-primary"], "{mode}");
        drop(r);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// DEBUG CHANGE-REPL-ID: a new replication id and no second one, so no replica can continue
/// the old history (Redis's changeReplicationId + clearReplicationId2).
#[test]
fn debug_change_repl_id_starts_a_new_history() {
    let p = primary(&[("enable-debug-command", "yes")]);
    let mut c = p.raw();
    assert_eq!(c.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    let before = info_field(&mut c, "replication", "master_replid");
    assert_eq!(c.cmd(&["DEBUG", "CHANGE-REPL-ID"]), ok());
    let after = info_field(&mut c, "replication", "master_replid");
    assert_ne!(before, after);
    assert_eq!(after.len(), 40);
    assert_eq!(
        info_field(&mut c, "replication", "master_replid2"),
        "0".repeat(40)
    );
    assert_eq!(
        info_field(&mut c, "replication", "second_repl_offset"),
        "-1"
    );
}

/// `redis.set_repl` narrows where a script's later calls propagate: nowhere, to the AOF only,
/// or everywhere again (Redis's scripting test of selective replication). The replica gets
/// only what went to replicas, and the primary's AOF, reloaded, only what went to the AOF.
#[test]
fn a_scripts_set_repl_chooses_the_streams_its_calls_reach() {
    let p = primary(&[("appendonly", "yes"), ("enable-debug-command", "yes")]);
    let r = TestServer::start();
    let (mut pc, mut rc) = (p.raw(), r.raw());
    replicaof(&mut rc, p.addr());
    wait_synced(&mut pc, &mut rc);
    let script = "redis.call('set', KEYS[1], '1') \
                  redis.set_repl(redis.REPL_NONE) \
                  redis.call('set', KEYS[2], '2') \
                  redis.set_repl(redis.REPL_AOF) \
                  redis.call('set', KEYS[3], '3') \
                  redis.set_repl(redis.REPL_ALL) \
                  redis.call('set', KEYS[4], '4')";
    pc.cmd(&["EVAL", script, "4", "a", "b", "c", "d"]);
    let mget = |c: &mut RawConn| c.cmd(&["MGET", "a", "b", "c", "d"]);
    let all = Frame::Array(vec![bulk("1"), bulk("2"), bulk("3"), bulk("4")]);
    assert_eq!(mget(&mut pc), all);
    wait_synced(&mut pc, &mut rc);
    assert_eq!(
        mget(&mut rc),
        Frame::Array(vec![bulk("1"), Frame::Null, Frame::Null, bulk("4")])
    );
    // The choice ends with the script: the next one propagates everywhere.
    pc.cmd(&["EVAL", "redis.call('set', KEYS[1], 'later')", "1", "b"]);
    wait_synced(&mut pc, &mut rc);
    assert_eq!(rc.cmd(&["GET", "b"]), bulk("later"));
    assert_eq!(pc.cmd(&["DEL", "b"]), int(1));
    assert_eq!(pc.cmd(&["DEBUG", "LOADAOF"]), ok());
    assert_eq!(
        mget(&mut pc),
        Frame::Array(vec![bulk("1"), Frame::Null, bulk("3"), bulk("4")])
    );
    // Flags outside 0..3 are refused, as Redis refuses them.
    let e = pc.cmd(&["EVAL", "redis.set_repl(8)", "0"]);
    assert!(text(&e).contains("Invalid replication flags"), "{e:?}");
}
