//! Sentinel: a real Sentinel (`redis-sentinel`, or `redis-server --sentinel`) monitoring a
//! Cinnabar primary with two Cinnabar replicas, all child processes. After `kill -9` of the
//! primary, Sentinel promotes one replica (MULTI, SLAVEOF NO ONE, CONFIG REWRITE, CLIENT
//! KILL TYPE normal/pubsub, EXEC), points the other at it, and every write that `WAIT 2`
//! acknowledged before the kill is on both. Every wait has a deadline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_testkit::{eventually, ok, temp_dir, text, words, ChildServer, RawConn, RealSentinel};

/// How long Sentinel may take for the whole failover (down-after 3 s, failover-timeout 5 s,
/// on a loaded 2-core machine).
const FAILOVER_PATIENCE: Duration = Duration::from_secs(60);

/// A Cinnabar server started from a config file of its own (so CONFIG REWRITE has one to
/// rewrite), as a child process that can be SIGKILLed.
struct Node {
    server: ChildServer,
    conf: PathBuf,
    dir: PathBuf,
}

impl Node {
    fn start(tag: &str) -> Node {
        let dir = temp_dir(tag);
        let conf = dir.join("cinnabar.conf");
        std::fs::write(
            &conf,
            format!(
                "# {tag}, started by the sentinel test\nsave \"\"\nappendonly no\ndir {}\nrepl-diskless-sync-delay 0\nloglevel notice\nlogfile {}\n",
                dir.display(),
                dir.join("server.log").display()
            ),
        )
        .unwrap();
        let server = ChildServer::start_after(
            Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
            &[conf.to_str().unwrap()],
            &[],
        );
        Node { server, conf, dir }
    }

    fn port(&self) -> u16 {
        self.server.port
    }

    fn conn(&self) -> RawConn {
        self.server.conn()
    }

    /// The `replicaof` lines of its config file.
    fn replicaof_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.conf)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("replicaof") || l.starts_with("slaveof"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failing test shows what each server did (role changes, syncs, killed clients).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            eprintln!(
                "--- log of the server on port {} ---\n{log}--- end ---",
                self.port()
            );
        }
    }
}

fn field(info: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().to_string())
}

/// Whether `node` is a replica of 127.0.0.1:`port` with its link up. A new connection each
/// time, and a closed one is a "not yet": while Sentinel reconfigures a server, its CLIENT
/// KILL TYPE normal closes the other connections, as it does on Redis.
fn follows(node: &Node, port: u16) -> bool {
    let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{}/", node.port()))
        .and_then(|c| c.get_connection())
    else {
        return false;
    };
    let Ok(info) = redis::cmd("INFO")
        .arg("replication")
        .query::<String>(&mut c)
    else {
        return false;
    };
    field(&info, "role").as_deref() == Some("slave")
        && field(&info, "master_port") == Some(port.to_string())
        && field(&info, "master_link_status").as_deref() == Some("up")
}

/// A field of `SENTINEL MASTER mymaster` (a flat list of names and values).
fn sentinel_master_field(s: &mut RawConn, name: &str) -> String {
    let w = words(s.cmd(&["SENTINEL", "MASTER", "mymaster"]));
    w.chunks(2)
        .find(|kv| kv[0] == name)
        .map(|kv| kv[1].clone())
        .unwrap_or_else(|| panic!("no {name} in SENTINEL MASTER: {w:?}"))
}

/// The address Sentinel gives for `mymaster`, as a port.
fn sentinel_master_port(s: &mut RawConn) -> u16 {
    let w = words(s.cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]));
    assert_eq!(w.len(), 2, "unexpected reply {w:?}");
    w[1].parse().unwrap()
}

/// Sentinel's count of the replicas it knows for `mymaster`.
fn sentinel_replicas(s: &mut RawConn) -> usize {
    match s.cmd(&["SENTINEL", "REPLICAS", "mymaster"]) {
        Frame::Array(v) => v.len(),
        other => panic!("SENTINEL REPLICAS: {other:?}"),
    }
}

/// Writes batches of keys, each followed by `WAIT 2`, and records the keys of every batch
/// that both replicas acknowledged, until told to stop or the primary dies.
fn acked_writer(
    port: u16,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut c = client.get_connection().unwrap();
        let mut batches = 0;
        for b in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let keys: Vec<String> = (0..20).map(|i| format!("w:{b}:{i}")).collect();
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.cmd("SET").arg(k).arg(b).ignore();
            }
            if pipe.query::<()>(&mut c).is_err() {
                break;
            }
            match redis::cmd("WAIT").arg(2).arg(5000).query::<i64>(&mut c) {
                Ok(2) => {
                    acked.lock().unwrap().extend(keys);
                    batches += 1;
                }
                Ok(n) => panic!("WAIT 2 answered {n} while both replicas were up"),
                Err(_) => break,
            }
        }
        batches
    })
}

#[test]
fn sentinel_promotes_a_replica_after_kill_9_of_the_primary() {
    let mut primary = Node::start("sentinel-primary");
    let r1 = Node::start("sentinel-replica1");
    let r2 = Node::start("sentinel-replica2");
    let pport = primary.port().to_string();
    for r in [&r1, &r2] {
        assert_eq!(r.conn().cmd(&["REPLICAOF", "127.0.0.1", &pport]), ok());
        eventually(
            Duration::from_secs(30),
            "a replica to sync with the primary",
            || follows(r, primary.port()),
        );
    }
    let mut p = primary.conn();
    assert_eq!(p.cmd(&["SET", "before-sentinel", "1"]), ok());
    assert_eq!(p.cmd(&["WAIT", "2", "5000"]), Frame::Integer(2));

    // down-after well above Sentinel's 1 s reconnect period: after +switch-master it keeps
    // the master's link, closes it and reconnects only a period after its last attempt on
    // the dead primary, while the new master's down-after clock already runs. With 1000 ms,
    // a loaded machine saw the new primary judged down in that gap and failed over again
    // (Redis's own Sentinel suite uses 2000).
    let Some(sentinel) = RealSentinel::start(&format!(
        "sentinel monitor mymaster 127.0.0.1 {pport} 1\n\
         sentinel down-after-milliseconds mymaster 3000\n\
         sentinel failover-timeout mymaster 5000\n\
         sentinel parallel-syncs mymaster 1"
    )) else {
        return;
    };
    let mut s = sentinel.conn();
    // Sentinel learns the replicas from the primary's INFO (slaveN lines) and then talks to
    // each of them; its hello messages reach the primary's __sentinel__:hello channel.
    eventually(
        Duration::from_secs(30),
        "Sentinel to discover both replicas",
        || sentinel_replicas(&mut s) == 2,
    );
    let mut sub = primary.conn();
    sub.cmd(&["SUBSCRIBE", "__sentinel__:hello"]);
    let msg = words(sub.read());
    assert_eq!(msg[..2], ["message", "__sentinel__:hello"]);
    let hello = &msg[2];
    // ip,port,runid,epoch,master-name,master-ip,master-port,master-epoch
    let parts: Vec<&str> = hello.split(',').collect();
    assert_eq!(parts.len(), 8, "hello message {hello:?}");
    assert_eq!(parts[4], "mymaster");
    assert_eq!(parts[6], pport);
    drop(sub);
    // Sentinel named its connections (CLIENT SETNAME sentinel-<id>-cmd / -pubsub).
    let list = text(&p.cmd(&["CLIENT", "LIST"]));
    assert!(list.contains("name=sentinel-"), "CLIENT LIST:\n{list}");

    // Writes acknowledged by both replicas, right up to the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = acked_writer(primary.port(), stop.clone(), acked.clone());
    eventually(Duration::from_secs(30), "some acknowledged writes", || {
        acked.lock().unwrap().len() >= 200
    });
    primary.server.kill();
    let killed_at = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().expect("writer thread");
    let acked = acked.lock().unwrap().clone();
    assert!(batches >= 10);

    let new_port = eventually(FAILOVER_PATIENCE, "Sentinel to promote a replica", || {
        let port = sentinel_master_port(&mut s);
        (port != primary.port()).then_some(port)
    });
    let promoted_in = killed_at.elapsed();
    let (new_primary, other) = if new_port == r1.port() {
        (&r1, &r2)
    } else {
        assert_eq!(new_port, r2.port(), "Sentinel chose an unknown server");
        (&r2, &r1)
    };
    eventually(
        FAILOVER_PATIENCE,
        "the other replica to follow the new primary",
        || follows(other, new_port),
    );
    let followed_in = killed_at.elapsed();
    // The failover ends (Sentinel's +switch-master) once it saw the other replica
    // reconfigured: from then on nothing of it closes connections any more.
    // What Sentinel reports is printed as it changes (to stderr, shown if the test fails).
    let mut seen = String::new();
    eventually(FAILOVER_PATIENCE, "Sentinel to end the failover", || {
        let now = format!(
            "port {} flags {}",
            sentinel_master_field(&mut s, "port"),
            sentinel_master_field(&mut s, "flags")
        );
        if now != seen {
            eprintln!("sentinel after {:?}: {now}", killed_at.elapsed());
            seen = now;
        }
        seen == format!("port {new_port} flags master")
    });
    let settled_in = killed_at.elapsed();
    let mut np = new_primary.conn();
    let mut o = other.conn();
    assert_eq!(
        words(np.cmd(&["ROLE"]))[0],
        "master",
        "the promoted replica's role"
    );
    eprintln!(
        "sentinel failover: new primary named {promoted_in:?} after kill -9, other replica \
         following it {followed_in:?} after, failover ended {settled_in:?} after ({} \
         acknowledged writes)",
        acked.len()
    );

    // Every command Sentinel sent (INFO, PING, CLIENT SETNAME, PUBLISH, SUBSCRIBE, MULTI,
    // SLAVEOF, CONFIG REWRITE, CLIENT KILL TYPE normal and pubsub, EXEC) succeeded on both.
    for c in [&mut np, &mut o] {
        let errors = c.info("errorstats");
        assert_eq!(errors.trim(), "# Errorstats", "errors:\n{errors}");
        let stats = c.info("commandstats");
        for cmd in [
            "multi",
            "slaveof",
            "config|rewrite",
            "exec",
            "publish",
            "subscribe",
        ] {
            assert!(
                stats.contains(&format!("cmdstat_{cmd}:calls=")),
                "{cmd} not called:\n{stats}"
            );
        }
        assert!(stats.contains("cmdstat_client|kill:calls=2,"), "{stats}");
    }
    // The other replica continued the history it shared with the promoted one.
    assert_eq!(np.info_field("stats", "sync_partial_ok"), "1");
    // No acknowledged write is lost, on either server.
    assert_eq!(np.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    for c in [&mut np, &mut o] {
        assert_eq!(
            c.cmd(&["GET", "before-sentinel"]),
            cinnabar_testkit::bulk("1")
        );
        for k in &acked {
            assert!(
                c.cmd(&["GET", k]) != Frame::Null,
                "acknowledged key {k} lost"
            );
        }
    }
    assert_eq!(np.cmd(&["DEBUG", "DIGEST"]), o.cmd(&["DEBUG", "DIGEST"]));
    // The new primary takes writes and replicates them.
    assert_eq!(np.cmd(&["SET", "after-failover", "1"]), ok());
    assert_eq!(np.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    assert_eq!(
        o.cmd(&["GET", "after-failover"]),
        cinnabar_testkit::bulk("1")
    );

    // Sentinel's CONFIG REWRITE (in its MULTI) recorded each role in the config files.
    eventually(
        Duration::from_secs(10),
        "the config files to be rewritten",
        || {
            new_primary.replicaof_lines().is_empty()
                && other.replicaof_lines() == [format!("replicaof 127.0.0.1 {new_port}")]
        },
    );
    // And Sentinel sees the new topology: the other replica under the new primary.
    eventually(
        FAILOVER_PATIENCE,
        "Sentinel to list the replicas of the new primary",
        || {
            let reply = s.cmd(&["SENTINEL", "REPLICAS", "mymaster"]);
            format!("{reply:?}").contains(&other.port().to_string())
        },
    );
}

#[test]
fn sentinel_kills_a_script_that_keeps_the_primary_busy() {
    let primary = Node::start("sentinel-busy");
    let pport = primary.port().to_string();
    assert_eq!(
        primary
            .conn()
            .cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        ok()
    );
    // Quorum 2 with one Sentinel: the primary can be subjectively down (which is when
    // Sentinel sends SCRIPT KILL on a -BUSY reply to its PING) but never failed over.
    let Some(sentinel) = RealSentinel::start(&format!(
        "sentinel monitor mymaster 127.0.0.1 {pport} 2\n\
         sentinel down-after-milliseconds mymaster 1000"
    )) else {
        return;
    };
    eventually(Duration::from_secs(30), "Sentinel to connect", || {
        text(&primary.conn().cmd(&["CLIENT", "LIST"])).contains("name=sentinel-")
    });
    let port = primary.port();
    let script = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut c = client.get_connection().unwrap();
        redis::cmd("EVAL")
            .arg("while true do end")
            .arg(0)
            .query::<()>(&mut c)
    });
    // Sentinel's PINGs get -BUSY; once the primary counts as down it sends SCRIPT KILL.
    let started = Instant::now();
    eventually(
        Duration::from_secs(30),
        "Sentinel to kill the script",
        || script.is_finished(),
    );
    let err = script.join().unwrap().expect_err("the script was killed");
    assert!(
        err.to_string()
            .contains("Script killed by user with SCRIPT KILL"),
        "{err}"
    );
    eprintln!(
        "busy script killed by Sentinel {:?} after it started",
        started.elapsed()
    );
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    drop(sentinel);
}
