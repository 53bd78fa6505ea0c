//! `repl-diskless-load` on a replica (Redis 7.2): what clients of the replica see while the
//! primary's RDB arrives, after a transfer that fails half-way and after one that completes.
//! The primary is played by the test (handshake, `+FULLRESYNC`, then the RDB in two parts
//! with a pause in between that the test controls), so every state is observed
//! deterministically.

use std::io::Write;
use std::net::TcpStream;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, eventually, int, ok, temp_dir, text, RawConn, TestServer, PATIENCE};

use crate::replication_switch::FakePrimary;

/// An RDB holding `new:0..new:99` and `shared` = `from-primary`, saved by a Cinnabar server.
fn primary_rdb() -> Vec<u8> {
    rdb_of(100, 1)
}

/// An RDB holding `new:0..new:<n-1>` (values of `len` bytes) and `shared` = `from-primary`.
fn rdb_of(n: usize, len: usize) -> Vec<u8> {
    rdb_saved(n, len, &[])
}

/// [`rdb_of`], with the function `libraries` loaded too, saved by a Cinnabar server.
fn rdb_saved(n: usize, len: usize, libraries: &[&str]) -> Vec<u8> {
    let dir = temp_dir("repl-load-rdb");
    let srv = TestServer::in_dir(&dir, &[]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]), ok());
    for name in libraries {
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", &library(name)]), bulk(name));
    }
    let value = "v".repeat(len);
    for i in 0..n {
        assert_eq!(c.cmd(&["SET", &format!("new:{i}"), &value]), ok());
    }
    assert_eq!(c.cmd(&["SET", "shared", "from-primary"]), ok());
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let rdb = std::fs::read(dir.join("dump.rdb")).unwrap();
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    rdb
}

/// Serves the handshake of the test's primary (see `replication_switch`) up to the PSYNC, replies `+FULLRESYNC` (with the replica's own
/// replication id when `same_id`, so the new dataset continues the history it has) and sends
/// the header (`$EOF:<MARK>` when `mark`, else `$<len>`) and the first half of `rdb`. Returns
/// the link.
fn start_full_sync(fake: &FakePrimary, rdb: &[u8], same_id: bool, mark: bool) -> TcpStream {
    let (mut s, asked, _) = fake.accept_psync();
    let id = if same_id { asked } else { "f".repeat(40) };
    assert_eq!(id.len(), 40, "PSYNC {id}");
    let half = rdb.len() / 2;
    let head = if mark {
        format!("EOF:{MARK}")
    } else {
        rdb.len().to_string()
    };
    let mut out = format!("+FULLRESYNC {id} 0\r\n${head}\r\n").into_bytes();
    out.extend_from_slice(&rdb[..half]);
    s.write_all(&out).unwrap();
    s
}

/// A replica with `repl-diskless-load mode`, holding `old:0..old:9` and `shared` = `old`
/// unless `empty`.
fn replica(mode: &str, empty: bool) -> (TestServer, RawConn) {
    let r = TestServer::with_args(&[("repl-diskless-load", mode)]);
    let mut c = r.raw();
    if !empty {
        for i in 0..10 {
            assert_eq!(c.cmd(&["SET", &format!("old:{i}"), "v"]), ok());
        }
        assert_eq!(c.cmd(&["SET", "shared", "old"]), ok());
    }
    (r, c)
}

fn persistence(c: &mut RawConn) -> (String, String) {
    (
        c.info_field("persistence", "loading"),
        c.info_field("persistence", "async_loading"),
    )
}

const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// The fake primary's `$EOF:` mark.
const MARK: &str = "0123456789abcdef0123456789abcdef01234567";

/// Starts a full sync of `mode` from a fake primary and waits until the replica holds the
/// first half of the RDB; returns the replica, its connection and the link.
fn mid_transfer(
    mode: &str,
    empty: bool,
    same_id: bool,
    rdb: &[u8],
) -> (TestServer, RawConn, TcpStream, FakePrimary) {
    mid_transfer_framed(mode, empty, same_id, rdb, false)
}

/// `mid_transfer` with the `$EOF:<MARK>` framing when `mark`.
fn mid_transfer_framed(
    mode: &str,
    empty: bool,
    same_id: bool,
    rdb: &[u8],
    mark: bool,
) -> (TestServer, RawConn, TcpStream, FakePrimary) {
    let (r, mut c) = replica(mode, empty);
    let fake = FakePrimary::new();
    let port = fake.addr().port().to_string();
    assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let link = start_full_sync(&fake, rdb, same_id, mark);
    let half = (rdb.len() / 2).to_string();
    eventually(PATIENCE, "the replica to receive half of the RDB", || {
        c.info("replication")
            .contains(&format!("master_sync_read_bytes:{half}\r\n"))
    });
    (r, c, link, fake)
}

/// Sends the rest of the RDB and waits for the link to be up.
fn complete(c: &mut RawConn, mut link: TcpStream, rdb: &[u8]) -> TcpStream {
    link.write_all(&rdb[rdb.len() / 2..]).unwrap();
    eventually(PATIENCE, "the replica to load the RDB", || {
        c.info_field("replication", "master_link_status") == "up"
    });
    link
}

/// Cuts the link half-way and waits until the replica stopped loading.
fn abort(c: &mut RawConn, link: TcpStream) {
    link.shutdown(std::net::Shutdown::Both).unwrap();
    eventually(PATIENCE, "the replica to give up the transfer", || {
        persistence(c) == ("0".into(), "0".into())
    });
}

#[test]
fn swapdb_with_a_new_history_refuses_commands_and_keeps_the_old_data_on_failure() {
    let rdb = primary_rdb();
    for complete_it in [false, true] {
        let (_r, mut c, link, _fake) = mid_transfer("swapdb", false, false, &rdb);
        // Another history: the old data is not served meanwhile (-LOADING) ...
        assert_eq!(persistence(&mut c), ("1".into(), "0".into()));
        assert_eq!(c.cmd(&["GET", "shared"]), Frame::Error(LOADING.into()));
        if complete_it {
            let _link = complete(&mut c, link, &rdb);
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("from-primary"));
            assert_eq!(c.cmd(&["DBSIZE"]), int(101));
            assert_eq!(c.cmd(&["EXISTS", "old:0"]), int(0));
        } else {
            // ... but kept aside: a failed transfer leaves it as it was.
            abort(&mut c, link);
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
            assert_eq!(c.cmd(&["DBSIZE"]), int(11));
        }
    }
}

#[test]
fn swapdb_with_the_same_history_serves_the_old_data_while_loading() {
    let rdb = primary_rdb();
    for complete_it in [false, true] {
        let (r, mut c, link, _fake) = mid_transfer("swapdb", false, true, &rdb);
        assert_eq!(persistence(&mut c), ("0".into(), "1".into()));
        assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
        assert_eq!(c.cmd(&["DBSIZE"]), int(11));
        // Commands flagged no-async-loading, and configs Redis denies while loading.
        assert_eq!(
            c.cmd(&["REPLICAOF", "NO", "ONE"]),
            Frame::Error(LOADING.into())
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "appendonly", "no"]),
            Frame::Error(LOADING.into())
        );
        if complete_it {
            // The swap touches the keys it replaces: a WATCH on one fails its EXEC.
            let mut w = r.raw();
            assert_eq!(w.cmd(&["WATCH", "old:1"]), ok());
            let _link = complete(&mut c, link, &rdb);
            assert_eq!(w.cmd(&["MULTI"]), ok());
            assert_eq!(w.cmd(&["PING"]), Frame::Simple("QUEUED".into()));
            assert_eq!(w.cmd(&["EXEC"]), Frame::Null);
            assert_eq!(persistence(&mut c), ("0".into(), "0".into()));
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("from-primary"));
            assert_eq!(c.cmd(&["DBSIZE"]), int(101));
        } else {
            abort(&mut c, link);
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
            assert_eq!(c.cmd(&["DBSIZE"]), int(11));
        }
    }
}

#[test]
fn on_empty_db_loads_directly_only_when_empty() {
    let rdb = primary_rdb();
    // Empty: loading from the first byte; a failed transfer leaves it empty.
    let (_r, mut c, link, _fake) = mid_transfer("on-empty-db", true, false, &rdb);
    assert_eq!(persistence(&mut c), ("1".into(), "0".into()));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Error(LOADING.into()));
    abort(&mut c, link);
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    let (_r, mut c, link, _fake) = mid_transfer("on-empty-db", true, false, &rdb);
    let _link = complete(&mut c, link, &rdb);
    assert_eq!(c.cmd(&["DBSIZE"]), int(101));
    // With keys: as `disabled`, the old data is served until the RDB is complete.
    for mode in ["on-empty-db", "disabled"] {
        let (_r, mut c, link, _fake) = mid_transfer(mode, false, false, &rdb);
        assert_eq!(persistence(&mut c), ("0".into(), "0".into()), "{mode}");
        assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
        let _link = complete(&mut c, link, &rdb);
        assert_eq!(c.cmd(&["GET", "shared"]), bulk("from-primary"));
        assert_eq!(c.cmd(&["DBSIZE"]), int(101));
    }
}

/// A replication stream command that follows the RDB on the link.
const STREAM_SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$3\r\nyes\r\n";

/// Bytes the parser has consumed (INFO loading_loaded_bytes).
fn loaded_bytes(c: &mut RawConn) -> usize {
    c.info_field("persistence", "loading_loaded_bytes")
        .parse()
        .unwrap_or(0)
}

/// Diskless load parses the RDB as it arrives, in both framings: half-way through the
/// transfer the parser has consumed what arrived (all of it, but the key the half cuts and
/// the bytes of an EOF-marked payload that could be the start of the mark), and the end of the payload (length, or
/// mark split from its RDB) is found exactly: the stream command right after it applies.
#[test]
fn diskless_load_parses_the_rdb_while_it_arrives_in_both_framings() {
    let rdb = rdb_of(2000, 300);
    let half = rdb.len() / 2;
    for mark in [false, true] {
        for (mode, empty) in [("swapdb", false), ("on-empty-db", true)] {
            let what = format!("{mode}, mark {mark}");
            let (_r, mut c, mut link, _fake) = mid_transfer_framed(mode, empty, false, &rdb, mark);
            assert_eq!(persistence(&mut c), ("1".into(), "0".into()), "{what}");
            // What it consumed: all that arrived but the key cut by the half-way point
            // (about 315 bytes) and, with a mark, the 40 bytes that could start it.
            eventually(PATIENCE, "the parser to have what arrived", || {
                let n = loaded_bytes(&mut c);
                n <= half && n + 400 >= half
            });
            let total = if mark { 0 } else { rdb.len() };
            assert_eq!(
                c.info_field("persistence", "loading_total_bytes"),
                total.to_string(),
                "{what}"
            );
            assert_eq!(
                c.info_field("replication", "master_sync_total_bytes"),
                total.to_string(),
                "{what}"
            );
            assert_eq!(c.cmd(&["GET", "shared"]), Frame::Error(LOADING.into()));
            // The rest, the mark cut in two across writes, and a command of the stream.
            let mut rest = rdb[half..].to_vec();
            if mark {
                rest.extend_from_slice(&MARK.as_bytes()[..17]);
            }
            link.write_all(&rest).unwrap();
            link.flush().unwrap();
            let mut rest = Vec::new();
            if mark {
                rest.extend_from_slice(&MARK.as_bytes()[17..]);
            }
            rest.extend_from_slice(STREAM_SET);
            link.write_all(&rest).unwrap();
            eventually(PATIENCE, "the stream command after the RDB", || {
                c.cmd(&["GET", "after"]) == bulk("yes")
            });
            assert_eq!(persistence(&mut c), ("0".into(), "0".into()), "{what}");
            assert_eq!(c.cmd(&["DBSIZE"]), int(2002), "{what}");
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("from-primary"));
            assert_eq!(c.cmd(&["EXISTS", "old:0"]), int(0), "{what}");
            assert_eq!(
                c.info_field("replication", "master_link_status"),
                "up",
                "{what}"
            );
        }
    }
}

/// A transfer cut while the parser is half-way (keys already loaded): swapdb drops what it
/// loaded aside and keeps the old dataset, on-empty-db leaves the dataset empty; in both
/// framings. The loader ends (loading drops) and the replica tries again.
#[test]
fn a_transfer_cut_mid_way_keeps_the_old_dataset_or_leaves_it_empty() {
    let rdb = rdb_of(2000, 300);
    for mark in [false, true] {
        for (mode, empty) in [("swapdb", false), ("on-empty-db", true)] {
            let what = format!("{mode}, mark {mark}");
            let (_r, mut c, link, fake) = mid_transfer_framed(mode, empty, false, &rdb, mark);
            let own_id = c.info_field("replication", "master_replid");
            eventually(PATIENCE, "the parser to load the first keys", || {
                loaded_bytes(&mut c) > rdb.len() / 4
            });
            abort(&mut c, link);
            if empty {
                assert_eq!(c.cmd(&["DBSIZE"]), int(0), "{what}");
            } else {
                assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"), "{what}");
                assert_eq!(c.cmd(&["DBSIZE"]), int(11), "{what}");
            }
            assert_eq!(
                c.info_field("replication", "master_link_status"),
                "down",
                "{what}"
            );
            // The link comes back for another full sync, which completes. A replica that
            // kept its dataset asks to continue its history; one whose dataset was flushed
            // for the load holds no point of any history and asks `PSYNC ? -1`, as Redis.
            let mut link = start_full_sync(&fake, &rdb, false, mark);
            let (asked, _) = fake.last_psync().expect("a PSYNC");
            let expected = if empty { "?" } else { own_id.as_str() };
            assert_eq!(asked, expected, "{what}");
            let mut rest = rdb[rdb.len() / 2..].to_vec();
            if mark {
                rest.extend_from_slice(MARK.as_bytes());
            }
            link.write_all(&rest).unwrap();
            eventually(PATIENCE, "the second sync", || {
                c.info_field("replication", "master_link_status") == "up"
            });
            assert_eq!(c.cmd(&["DBSIZE"]), int(2001), "{what}");
        }
    }
}

/// A payload that does not parse fails the sync as a cut one does: a wrong checksum, and
/// (EOF-marked payloads) bytes between the RDB's end and the mark.
#[test]
fn a_corrupt_payload_or_a_broken_mark_fails_the_sync() {
    let rdb = primary_rdb();
    let mut bad_crc = rdb.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut padded = rdb.clone();
    padded.extend_from_slice(b"junk");
    for (payload, mark) in [(&bad_crc, false), (&bad_crc, true), (&padded, true)] {
        for (mode, empty) in [("swapdb", false), ("on-empty-db", true)] {
            let what = format!("{mode}, mark {mark}, {} bytes", payload.len());
            let (_r, mut c, mut link, _fake) =
                mid_transfer_framed(mode, empty, false, payload, mark);
            let mut rest = payload[payload.len() / 2..].to_vec();
            if mark {
                rest.extend_from_slice(MARK.as_bytes());
            }
            rest.extend_from_slice(STREAM_SET);
            link.write_all(&rest).unwrap();
            eventually(PATIENCE, "the replica to give up the sync", || {
                persistence(&mut c) == ("0".into(), "0".into())
            });
            if empty {
                assert_eq!(c.cmd(&["DBSIZE"]), int(0), "{what}");
            } else {
                assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"), "{what}");
                assert_eq!(c.cmd(&["DBSIZE"]), int(11), "{what}");
            }
            assert_eq!(c.cmd(&["EXISTS", "after"]), int(0), "{what}");
        }
    }
}

/// `disabled` writes the payload to dbfilename as it arrives, in both framings, and loads
/// it from there once complete; a cut transfer leaves no file and the old dataset.
#[test]
fn disk_based_load_streams_to_the_file_in_both_framings() {
    let rdb = rdb_of(2000, 300);
    for mark in [false, true] {
        for complete_it in [false, true] {
            let dir = temp_dir("repl-load-disk");
            let dir_s = dir.to_str().unwrap().to_string();
            let r = TestServer::in_dir(&dir, &[("repl-diskless-load", "disabled")]);
            let mut c = r.raw();
            assert_eq!(c.cmd(&["SET", "shared", "old"]), ok());
            let fake = FakePrimary::new();
            let port = fake.addr().port().to_string();
            assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
            let mut link = start_full_sync(&fake, &rdb, false, mark);
            let half = (rdb.len() / 2).to_string();
            eventually(PATIENCE, "half of the RDB", || {
                c.info("replication")
                    .contains(&format!("master_sync_read_bytes:{half}\r\n"))
            });
            assert_eq!(persistence(&mut c), ("0".into(), "0".into()));
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
            if complete_it {
                let mut rest = rdb[rdb.len() / 2..].to_vec();
                if mark {
                    rest.extend_from_slice(MARK.as_bytes());
                }
                rest.extend_from_slice(STREAM_SET);
                link.write_all(&rest).unwrap();
                eventually(PATIENCE, "the stream command after the RDB", || {
                    c.cmd(&["GET", "after"]) == bulk("yes")
                });
                assert_eq!(c.cmd(&["GET", "shared"]), bulk("from-primary"));
                assert_eq!(c.cmd(&["DBSIZE"]), int(2002));
                assert_eq!(std::fs::read(dir.join("dump.rdb")).unwrap(), rdb);
            } else {
                link.shutdown(std::net::Shutdown::Both).unwrap();
                eventually(PATIENCE, "the replica to give up the transfer", || {
                    c.info_field("replication", "master_link_status") == "down"
                        && !c.info("replication").contains("master_sync_in_progress:1")
                });
                assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
                let files: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
                assert!(files.is_empty(), "{dir_s}: {files:?}");
            }
            drop(r);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// `repl-timeout` applies to a transfer parsed as it arrives: a primary that stops sending
/// half-way loses the link, and the loader gives up (swapdb: the old dataset stays).
#[test]
fn a_stalled_transfer_times_out() {
    let rdb = rdb_of(2000, 300);
    for mark in [false, true] {
        let (_r, mut c, _link, _fake) = mid_transfer_framed("swapdb", false, false, &rdb, mark);
        assert_eq!(c.cmd(&["CONFIG", "SET", "repl-timeout", "1"]), ok());
        eventually(PATIENCE, "the transfer to time out", || {
            persistence(&mut c) == ("0".into(), "0".into())
        });
        assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"));
        assert_eq!(c.cmd(&["DBSIZE"]), int(11));
    }
}

/// A cut transfer stops a slow loader at its next key, not after the keys it still has
/// (here 200 more, at one second each under `key-load-delay`, well past the deadline).
#[test]
fn a_cut_transfer_stops_a_slow_loader_at_once() {
    let rdb = rdb_of(400, 1);
    for (mode, empty) in [("swapdb", false), ("on-empty-db", true)] {
        let (_r, mut c) = replica(mode, empty);
        assert_eq!(c.cmd(&["CONFIG", "SET", "key-load-delay", "1000000"]), ok());
        let fake = FakePrimary::new();
        let port = fake.addr().port().to_string();
        assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
        let link = start_full_sync(&fake, &rdb, false, true);
        eventually(PATIENCE, "the parser to start", || loaded_bytes(&mut c) > 0);
        abort(&mut c, link);
        if empty {
            assert_eq!(c.cmd(&["DBSIZE"]), int(0), "{mode}");
        } else {
            assert_eq!(c.cmd(&["GET", "shared"]), bulk("old"), "{mode}");
            assert_eq!(c.cmd(&["DBSIZE"]), int(11), "{mode}");
        }
        assert_eq!(c.cmd(&["CONFIG", "SET", "key-load-delay", "0"]), ok());
    }
}

/// An RDB holding `new:0..new:1999` (300-byte values), `shared` and the function library
/// `newlib`.
fn rdb_with_library() -> Vec<u8> {
    rdb_saved(2000, 300, &["newlib"])
}

fn library(name: &str) -> String {
    format!("#!lua name={name}\nredis.register_function('{name}_f', function() return 1 end)")
}

/// The names of the replica's function libraries.
fn libraries(c: &mut RawConn) -> Vec<String> {
    let mut names = Vec::new();
    if let Frame::Array(libs) = c.cmd(&["FUNCTION", "LIST"]) {
        for lib in libs {
            let Frame::Array(fields) = lib else { continue };
            for pair in fields.chunks(2) {
                if text(&pair[0]) == "library_name" {
                    names.push(text(&pair[1]));
                }
            }
        }
    }
    names
}

/// The function libraries after a failed full sync, as Redis 7.2.4's readSyncBulkPayload
/// leaves them: a load into the live dataset (`on-empty-db` on a replica without keys,
/// whatever libraries it has) starts with emptyData, libraries included, and a failed one
/// empties the dataset again, so neither the old nor the primary's libraries remain;
/// `swapdb` loads into a library context aside that a failure drops, keeping the old ones;
/// a disk-based load (`disabled`) whose file fails to load (here at its checksum, after
/// everything was read) keeps what it loaded, the primary's libraries among it.
#[test]
fn function_libraries_after_a_failed_load_as_redis() {
    let rdb = rdb_with_library();
    let mut bad_crc = rdb.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    for (mode, empty) in [
        ("on-empty-db", true),
        ("swapdb", false),
        ("disabled", false),
    ] {
        let (_r, mut c) = replica(mode, empty);
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", &library("oldlib")]),
            bulk("oldlib")
        );
        let fake = FakePrimary::new();
        let port = fake.addr().port().to_string();
        assert_eq!(c.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
        if mode == "disabled" {
            let mut link = start_full_sync(&fake, &bad_crc, false, false);
            link.write_all(&bad_crc[n / 2..]).unwrap();
            eventually(PATIENCE, "the load of the received file to fail", || {
                c.info_field("replication", "master_sync_in_progress") == "0"
                    && persistence(&mut c) == ("0".into(), "0".into())
                    && c.cmd(&["DBSIZE"]) == int(2001)
            });
            assert_eq!(libraries(&mut c), vec!["newlib".to_string()], "{mode}");
            assert_eq!(c.info_field("replication", "master_link_status"), "down");
            continue;
        }
        let link = start_full_sync(&fake, &rdb, false, false);
        eventually(PATIENCE, "the parser to load the first keys", || {
            loaded_bytes(&mut c) > rdb.len() / 4
        });
        abort(&mut c, link);
        if empty {
            assert_eq!(c.cmd(&["DBSIZE"]), int(0), "{mode}");
            assert_eq!(libraries(&mut c), Vec::<String>::new(), "{mode}");
        } else {
            assert_eq!(c.cmd(&["DBSIZE"]), int(11), "{mode}");
            assert_eq!(libraries(&mut c), vec!["oldlib".to_string()], "{mode}");
        }
        // The next full sync completes: the primary's libraries only.
        let mut link = start_full_sync(&fake, &rdb, false, false);
        link.write_all(&rdb[rdb.len() / 2..]).unwrap();
        eventually(PATIENCE, "the second sync", || {
            c.info_field("replication", "master_link_status") == "up"
        });
        assert_eq!(c.cmd(&["DBSIZE"]), int(2001), "{mode}");
        assert_eq!(libraries(&mut c), vec!["newlib".to_string()], "{mode}");
    }
}
