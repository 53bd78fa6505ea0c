//! A replica moving from one primary to another (REPLICAOF while linked), as a failover
//! does: its offset must stay the new primary's, byte for byte, or its next partial resync
//! starts mid-command and loses writes (Redis's psync2 test found this once). Both primaries
//! are played by the test, so the moment the old one sends something is chosen exactly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Instant;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, eventually, ok, text, RawConn, TestServer, PATIENCE};

use crate::replication::{fill, info_field, primary, replicaof, wait_synced};

/// A primary played by the test: it answers the handshake and hands over the PSYNC (also
/// used by `replication_load`).
pub(crate) struct FakePrimary {
    listener: TcpListener,
    /// The replication id and offset of the last PSYNC received.
    asked: std::sync::Mutex<Option<(String, i64)>>,
}

impl FakePrimary {
    pub(crate) fn new() -> FakePrimary {
        FakePrimary {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            asked: Default::default(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// What the last PSYNC asked: the replication id and offset (`?` and -1 when the
    /// replica has no history to continue).
    pub(crate) fn last_psync(&self) -> Option<(String, i64)> {
        self.asked.lock().unwrap().clone()
    }

    /// Accepts the replica, answers its handshake and returns the link with the PSYNC's
    /// replication id and offset, not yet answered.
    pub(crate) fn accept_psync(&self) -> (TcpStream, String, i64) {
        let (mut s, _) = self.listener.accept().unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = Vec::new();
        loop {
            let args = loop {
                if let Some((frame, n)) = Frame::parse(&buf).expect("a command") {
                    buf.drain(..n);
                    break match frame {
                        Frame::Array(a) => a.iter().map(text).collect::<Vec<_>>(),
                        other => panic!("not a command: {other:?}"),
                    };
                }
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).expect("the replica's handshake");
                assert!(n > 0, "the replica closed the link");
                buf.extend_from_slice(&chunk[..n]);
            };
            match args[0].to_ascii_uppercase().as_str() {
                "PING" => s.write_all(b"+PONG\r\n").unwrap(),
                "PSYNC" => {
                    assert_eq!(args.len(), 3, "PSYNC {args:?}");
                    let offset: i64 = args[2].parse().expect("PSYNC offset");
                    *self.asked.lock().unwrap() = Some((args[1].clone(), offset));
                    return (s, args[1].clone(), offset);
                }
                _ => s.write_all(b"+OK\r\n").unwrap(),
            }
        }
    }
}

fn command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// Reads `link` until the replica closes it (anything it sends meanwhile, ACKs, is
/// dropped); panics after PATIENCE.
fn wait_closed(link: &mut TcpStream, what: &str) {
    let start = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(start.elapsed() < PATIENCE, "{what}: still open");
        match link.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Reads `link` until the replica's `REPLCONF ACK <offset>`; panics after PATIENCE.
fn wait_ack(link: &mut TcpStream, offset: u64) {
    let want = format!("REPLCONF ACK {offset}");
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while start.elapsed() < PATIENCE {
        while let Some((frame, n)) = Frame::parse(&buf).expect("a command") {
            buf.drain(..n);
            if let Frame::Array(a) = frame {
                let words: Vec<String> = a.iter().map(text).collect();
                if words.join(" ").eq_ignore_ascii_case(&want) {
                    return;
                }
            }
        }
        let n = link.read(&mut chunk).expect("the replica's ACKs");
        assert!(n > 0, "the replica closed the link");
        buf.extend_from_slice(&chunk[..n]);
    }
    panic!("no {want} from the replica");
}

fn offset(c: &mut RawConn) -> u64 {
    c.info_field("replication", "master_repl_offset")
        .parse()
        .unwrap()
}

#[test]
fn the_old_primarys_last_bytes_do_not_shift_the_offset_continued_from_the_new_one() {
    let id = "a".repeat(40);
    let srv = TestServer::start();
    let mut c = srv.raw();
    let old = FakePrimary::new();
    let new = FakePrimary::new();

    // Linked to the old primary, which continues our (fresh) history under its id.
    let port = old.addr().port().to_string();
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let (mut old_link, _, from) = old.accept_psync();
    assert_eq!(from, 1, "a fresh replica continues from its offset 0");
    let set = command(&["SET", "k", "v"]);
    old_link
        .write_all(&[format!("+CONTINUE {id}\r\n").as_bytes(), &set].concat())
        .unwrap();
    eventually(PATIENCE, "the old primary's SET applied", || {
        c.cmd(&["GET", "k"]) == bulk("v")
    });
    assert_eq!(offset(&mut c), set.len() as u64, "the SET counted");
    // Its ACK of the SET: the link's task is now idle, waiting for the old primary (or for
    // its next ACK, a second later), so the PING below is what wakes it.
    wait_ack(&mut old_link, set.len() as u64);

    // To the new primary: it is asked to continue right after the SET.
    let port = new.addr().port().to_string();
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let (mut new_link, asked_id, from) = new.accept_psync();
    assert_eq!(asked_id, id);
    assert_eq!(from, set.len() as i64 + 1);

    // The old primary's PING, sent after that request: applying (or counting) it would put
    // our offset 14 bytes past the new primary's.
    old_link.write_all(&command(&["PING"])).unwrap();
    wait_closed(&mut old_link, "the old primary's link after REPLICAOF");

    let set2 = command(&["SET", "k2", "v2"]);
    new_link
        .write_all(&[format!("+CONTINUE {id}\r\n").as_bytes(), &set2].concat())
        .unwrap();
    eventually(PATIENCE, "the new primary's SET applied", || {
        c.cmd(&["GET", "k2"]) == bulk("v2")
    });
    assert_eq!(
        offset(&mut c),
        (set.len() + set2.len()) as u64,
        "our offset is the new primary's"
    );
    drop(new_link);
}

/// A replica with no backlog yet (nothing ever replicated) that the primary continues: the
/// stream it then applies is counted (Redis creates the backlog at that +CONTINUE).
#[test]
fn a_continued_fresh_replica_counts_the_stream() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let primary = FakePrimary::new();
    let port = primary.addr().port().to_string();
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let (mut link, id, from) = primary.accept_psync();
    assert_eq!(from, 1);
    let set = command(&["SET", "k", "v"]);
    link.write_all(&[format!("+CONTINUE {id}\r\n").as_bytes(), &set].concat())
        .unwrap();
    eventually(PATIENCE, "the primary's SET applied", || {
        c.cmd(&["GET", "k"]) == bulk("v")
    });
    assert_eq!(offset(&mut c), set.len() as u64);
    assert_eq!(
        c.info_field("replication", "repl_backlog_active"),
        "1",
        "the backlog exists"
    );
}

/// The id of the replica connection `c` (a primary) serves, from CLIENT LIST.
fn replica_client_id(c: &mut RawConn) -> String {
    let list = text(&c.cmd(&["CLIENT", "LIST", "TYPE", "replica"]));
    let ids: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(ids.len(), 1, "one replica: {list}");
    ids[0].to_string()
}

#[test]
fn a_promoted_replica_hands_its_new_id_to_its_own_replicas() {
    let p = primary(&[]);
    let a = primary(&[]);
    let b = TestServer::start();
    let (mut pc, mut ac, mut bc) = (p.raw(), a.raw(), b.raw());
    fill(&mut pc, "k", 20);
    replicaof(&mut ac, p.addr());
    wait_synced(&mut pc, &mut ac);
    replicaof(&mut bc, a.addr());
    wait_synced(&mut ac, &mut bc);
    assert_eq!(info_field(&mut ac, "stats", "sync_full"), "1");
    // HELLO tells the role, as Redis's.
    assert!(text(&bc.cmd(&["HELLO"])).contains("role,replica"));
    assert!(text(&pc.cmd(&["HELLO"])).contains("role,master"));

    assert_eq!(ac.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    let new_id = info_field(&mut ac, "replication", "master_replid");
    eventually(PATIENCE, "B to continue A's new history", || {
        info_field(&mut bc, "replication", "master_replid") == new_id
            && info_field(&mut bc, "replication", "master_link_status") == "up"
    });
    assert_eq!(
        info_field(&mut ac, "stats", "sync_full"),
        "1",
        "no full sync"
    );
    assert_eq!(info_field(&mut ac, "stats", "sync_partial_ok"), "1");
    assert_eq!(ac.cmd(&["SET", "on-a", "1"]), ok());
    wait_synced(&mut ac, &mut bc);
    assert_eq!(bc.cmd(&["GET", "on-a"]), bulk("1"));
}

#[test]
fn a_demoted_primary_keeps_its_replicas_until_its_history_changes() {
    let a = primary(&[]);
    let b = TestServer::start();
    let (mut ac, mut bc) = (a.raw(), b.raw());
    fill(&mut ac, "k", 20);
    replicaof(&mut bc, a.addr());
    wait_synced(&mut ac, &mut bc);
    let b_link = replica_client_id(&mut ac);
    let our_id = info_field(&mut ac, "replication", "master_replid");
    let at: i64 = info_field(&mut ac, "replication", "master_repl_offset")
        .parse()
        .unwrap();

    // A becomes the replica of a primary that knows its history.
    let new = FakePrimary::new();
    replicaof(&mut ac, new.addr());
    let (mut link, asked_id, from) = new.accept_psync();
    assert_eq!((asked_id.as_str(), from), (our_id.as_str(), at + 1));
    // While A's new link is being set up, B stays linked to A, as in Redis.
    assert_eq!(replica_client_id(&mut ac), b_link);
    assert_eq!(
        info_field(&mut bc, "replication", "master_link_status"),
        "up"
    );

    // The new primary continues under its own id: B must learn it (dropped, then
    // continued by A with a partial resync).
    let new_id = "b".repeat(40);
    let set = command(&["SET", "from-new", "1"]);
    link.write_all(&[format!("+CONTINUE {new_id}\r\n").as_bytes(), &set].concat())
        .unwrap();
    eventually(PATIENCE, "B to follow A's new history", || {
        info_field(&mut bc, "replication", "master_replid") == new_id
            && bc.cmd(&["GET", "from-new"]) == bulk("1")
    });
    assert_eq!(
        info_field(&mut ac, "stats", "sync_full"),
        "1",
        "no full sync"
    );
    assert_eq!(info_field(&mut ac, "stats", "sync_partial_ok"), "1");
    drop(link);
}

/// A replica started with `replicaof` in its configuration and nothing in an RDB to continue
/// asks `PSYNC ? -1`, as Redis does without a cached master; a primary told REPLICAOF asks
/// to continue its own history.
#[test]
fn only_a_replica_with_a_history_asks_to_continue_it() {
    let fake = FakePrimary::new();
    let at = format!("127.0.0.1 {}", fake.addr().port());
    let _r = TestServer::with_args(&[("replicaof", &at)]);
    let (_link, id, from) = fake.accept_psync();
    assert_eq!((id.as_str(), from), ("?", -1));

    let p = TestServer::start();
    let mut c = p.raw();
    let own = info_field(&mut c, "replication", "master_replid");
    let port = fake.addr().port().to_string();
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let (_link, id, from) = fake.accept_psync();
    assert_eq!((id, from), (own, 1));
}
