//! A primary and what a replica sends on its link after SYNC/PSYNC, as Redis 7.2: commands
//! run, but none may touch the keyspace (`Replica can't interact with the keyspace`), and
//! one that replies drops the link, with Redis's log lines. The server runs as a child
//! process so that its log can be read. Redis's four "replica do not write the reply to
//! the replication link" tests, and the commands Redis lets through without a reply.

use std::path::PathBuf;
use std::time::Duration;

use cinnabar_testkit::{err, eventually, int, ok, text, ChildServer, RawConn};

struct Primary {
    server: ChildServer,
    dir: PathBuf,
    log: PathBuf,
}

impl Primary {
    fn start(tag: &str) -> Primary {
        let (server, dir, log) =
            crate::replication_shared::start_logged(tag, &["--repl-diskless-sync-delay", "0"]);
        Primary { server, dir, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds a line containing every one of `parts`; returns it.
    fn wait_log_line(&self, parts: &[&str]) -> String {
        eventually(
            Duration::from_secs(10),
            format_args!("a log line with {parts:?}"),
            || {
                self.log()
                    .lines()
                    .find(|l| parts.iter().all(|p| l.contains(p)))
                    .map(str::to_string)
            },
        )
    }

    /// The replica link was dropped cleanly: the server still answers, no replica is left,
    /// the sync's snapshot ended and its temporary file is gone.
    fn assert_link_cleaned_up(&self) {
        let mut c = self.server.conn();
        assert_eq!(text(&c.cmd(&["PING"])), "PONG");
        eventually(
            Duration::from_secs(10),
            "the dropped replica's sync to end",
            || {
                c.info_field("replication", "connected_slaves") == "0"
                    && c.info_field("persistence", "rdb_bgsave_in_progress") == "0"
                    && !std::fs::read_dir(&self.dir).unwrap().any(|e| {
                        e.unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with("temp-repl-")
                    })
            },
        );
        // A sync still works afterwards.
        let mut r = self.server.conn();
        r.send_raw(b"PSYNC ? -1\r\n");
        assert!(text(&r.read()).starts_with("FULLRESYNC "));
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `cmd` on the link and waits for the primary to close it.
fn send_and_expect_close(link: &mut RawConn, cmd: &[&str]) {
    let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
    link.send(&args);
    let (_, closed) = link.read_until_close(Duration::from_secs(10));
    assert!(closed, "the primary kept the link after {cmd:?}");
}

fn sync_link(p: &Primary) -> RawConn {
    let mut link = p.server.conn();
    link.send_raw(b"SYNC\r\n");
    link
}

/// `PSYNC replicationid -1`: a full resync from offset 0 on a fresh primary.
fn psync_link(p: &Primary) -> RawConn {
    let mut link = p.server.conn();
    link.send_raw(b"PSYNC replicationid -1\r\n");
    let head = text(&link.read());
    let f: Vec<&str> = head.split(' ').collect();
    assert_eq!((f.len(), f[0], f[2]), (3, "FULLRESYNC", "0"), "{head}");
    link
}

#[test]
fn sync_then_ping_drops_the_link() {
    let p = Primary::start("replylink-ping");
    let mut link = sync_link(&p);
    send_and_expect_close(&mut link, &["PING"]);
    let line =
        p.wait_log_line(&["Replica generated a reply to command 'ping', disconnecting it: id="]);
    assert!(
        line.contains(" flags=S ") && line.contains(" cmd=ping "),
        "{line}"
    );
    // No error was sent.
    assert!(!p.log().contains("CRITICAL"));
    p.assert_link_cleaned_up();
}

#[test]
fn sync_then_xinfo_help_drops_the_link() {
    let p = Primary::start("replylink-xinfo");
    let mut link = sync_link(&p);
    send_and_expect_close(&mut link, &["XINFO", "HELP"]);
    p.wait_log_line(&["Replica generated a reply to command 'xinfo|help', disconnecting it: "]);
    p.assert_link_cleaned_up();
}

#[test]
fn psync_then_get_is_refused_and_drops_the_link() {
    let p = Primary::start("replylink-get");
    let mut link = psync_link(&p);
    send_and_expect_close(&mut link, &["GET", "foo"]);
    p.wait_log_line(&["Replica generated a reply to command 'get', disconnecting it: "]);
    p.wait_log_line(&[
        "== CRITICAL == This master is sending an error to its replica: 'Replica can't interact with the keyspace' after processing the command 'get'",
    ]);
    let mut c = p.server.conn();
    assert_eq!(c.info_field("stats", "unexpected_error_replies"), "1");
    assert_eq!(c.info_field("errorstats", "errorstat_ERR"), "count=1");
    p.assert_link_cleaned_up();
}

#[test]
fn psync_then_slowlog_get_drops_the_link() {
    let p = Primary::start("replylink-slowlog");
    let mut link = psync_link(&p);
    send_and_expect_close(&mut link, &["SLOWLOG", "GET"]);
    p.wait_log_line(&["Replica generated a reply to command 'slowlog|get', disconnecting it: "]);
    p.assert_link_cleaned_up();
}

/// Commands sent in the same packet as the SYNC run as soon as it is a replica's link.
#[test]
fn command_pipelined_behind_sync_drops_the_link() {
    let p = Primary::start("replylink-pipelined");
    let mut link = p.server.conn();
    link.send_raw(b"SYNC\r\nSET foo bar\r\n");
    let (_, closed) = link.read_until_close(Duration::from_secs(10));
    assert!(closed);
    p.wait_log_line(&["Replica generated a reply to command 'set', disconnecting it: "]);
    p.wait_log_line(&[
        "'Replica can't interact with the keyspace' after processing the command 'set'",
    ]);
    let mut c = p.server.conn();
    assert_eq!(c.cmd(&["EXISTS", "foo"]), int(0));
    p.assert_link_cleaned_up();
}

/// What Redis lets through without a reply keeps the link: REPLCONF ACK/GETACK, SYNC and
/// MONITOR again, CLIENT REPLY OFF, and under it any command (an error is still logged).
/// A command that replies then drops it.
#[test]
fn commands_without_a_reply_keep_the_link() {
    let p = Primary::start("replylink-silent");
    let mut link = psync_link(&p);
    for cmd in [
        &["REPLCONF", "ACK", "0"][..],
        &["REPLCONF", "ACK", "0", "FACK", "0"],
        &["REPLCONF", "GETACK", "*"],
        &["SYNC"],
        &["PSYNC", "?", "-1"],
        &["MONITOR"],
        &["CLIENT", "REPLY", "OFF"],
        &["PING"],
        &["SET", "foo", "bar"],
    ] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        link.send(&args);
    }
    // The SET ran last: its error is logged (not sent), and the link is still up.
    p.wait_log_line(&["after processing the command 'set'"]);
    let mut c = p.server.conn();
    assert_eq!(c.info_field("replication", "connected_slaves"), "1");
    assert_eq!(c.cmd(&["EXISTS", "foo"]), int(0));
    assert!(!p.log().contains("Replica generated a reply"));
    // Its replies come back: the link goes.
    send_and_expect_close(&mut link, &["CLIENT", "REPLY", "ON"]);
    p.wait_log_line(&["Replica generated a reply to command 'client|reply', disconnecting it: "]);
    p.assert_link_cleaned_up();
}

/// A replica's link that sends an unknown command: the error drops it, logged with
/// `<unknown>` as the command (Redis's lastcmd is NULL).
#[test]
fn unknown_command_drops_the_link() {
    let p = Primary::start("replylink-unknown");
    let mut link = psync_link(&p);
    send_and_expect_close(&mut link, &["NOSUCHCOMMAND"]);
    p.wait_log_line(&["Replica generated a reply to command '<unknown>', disconnecting it: "]);
    p.wait_log_line(&["'unknown command 'NOSUCHCOMMAND', with args beginning with: ' after processing the command '<unknown>'"]);
    p.assert_link_cleaned_up();
}

/// A MONITOR client carries Redis's replica flag: it may not touch the keyspace either,
/// but its replies go out as usual.
#[test]
fn monitor_client_cannot_touch_the_keyspace() {
    let p = Primary::start("replylink-monitor");
    let mut m = p.server.conn();
    assert_eq!(m.cmd(&["MONITOR"]), ok());
    m.send_raw(b"GET foo\r\n");
    assert_eq!(
        m.read(),
        err("ERR Replica can't interact with the keyspace")
    );
    let mut c = p.server.conn();
    assert_eq!(c.cmd(&["SET", "foo", "bar"]), ok());
}

/// A disk-backed sync whose replica is dropped while its snapshot is slowly written: with
/// no `save` rules the snapshot is cancelled (Redis kills its RDB child then), so the save
/// ends at once rather than after every key's delay, and its file goes.
#[test]
fn dropped_replica_cancels_its_snapshot() {
    let p = Primary::start("replylink-cancel");
    let mut c = p.server.conn();
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    assert_eq!(c.cmd(&["CONFIG", "SET", "repl-diskless-sync", "no"]), ok());
    // One second per key: 100 s to write them all.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        ok()
    );
    let mut link = psync_link(&p);
    assert_eq!(c.info_field("persistence", "rdb_bgsave_in_progress"), "1");
    send_and_expect_close(&mut link, &["PING"]);
    p.wait_log_line(&["Replica generated a reply to command 'ping', disconnecting it: "]);
    p.assert_link_cleaned_up();
}

/// A replica told REPLICAOF NO ONE while it waits for the RDB closes its link at once (as
/// Redis's cancelReplicationHandshake), and the primary drops the snapshot it was writing.
#[test]
fn replicaof_no_one_during_the_transfer_ends_the_primarys_sync() {
    let p = cinnabar_testkit::TestServer::with_args(&[("save", ""), ("repl-diskless-sync", "no")]);
    let r = cinnabar_testkit::TestServer::with_args(&[("save", "")]);
    let (mut pc, mut rc) = (p.raw(), r.raw());
    for i in 0..100 {
        assert_eq!(pc.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    // One second per key: 100 s to write them all.
    assert_eq!(
        pc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        ok()
    );
    let port = p.addr().port().to_string();
    assert_eq!(rc.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    eventually(
        Duration::from_secs(10),
        "the primary's sync to start",
        || pc.info_field("persistence", "rdb_bgsave_in_progress") == "1",
    );
    assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    eventually(
        Duration::from_secs(10),
        "the primary to drop the sync",
        || {
            pc.info_field("replication", "connected_slaves") == "0"
                && pc.info_field("persistence", "rdb_bgsave_in_progress") == "0"
        },
    );
}

/// A WAIT sent on the link blocks as on any connection: the link stays, and the stream
/// still reaches the replica, until WAIT replies (here when a second replica acknowledges);
/// then the link is dropped, as Redis drops a replica whose command produced a reply.
#[test]
fn blocked_wait_drops_the_link_when_it_replies() {
    use std::io::{Read, Write};
    let p = Primary::start("replylink-wait");
    let mut link = std::net::TcpStream::connect(p.server.addr()).unwrap();
    link.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // SYNC (a disk-based transfer, then the stream at once), then WAIT for two replicas.
    link.write_all(b"SYNC\r\nWAIT 2 0\r\n").unwrap();
    let mut c = p.server.conn();
    assert_eq!(c.cmd(&["SET", "written-while-blocked", "1"]), ok());
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while !got
        .windows(b"written-while-blocked".len())
        .any(|w| w == b"written-while-blocked")
    {
        let n = link.read(&mut buf).expect("the stream while WAIT blocks");
        assert!(n > 0, "the link was closed while WAIT blocked");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!p.log().contains("Replica generated a reply"));
    // A second replica acknowledges: WAIT has its two, replies, and the link goes.
    let second = cinnabar_testkit::TestServer::start();
    let port = p.server.addr().port().to_string();
    assert_eq!(second.raw().cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    loop {
        match link.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    p.wait_log_line(&["Replica generated a reply to command 'wait', disconnecting it: "]);
    eventually(Duration::from_secs(10), "one replica left", || {
        c.info_field("replication", "connected_slaves") == "1"
    });
}

/// Why a PSYNC is a full resync, in Redis's log lines: `?`, an unknown history, an offset
/// the backlog does not hold.
#[test]
fn full_resync_reasons_are_logged_as_redis() {
    let p = Primary::start("replylink-reasons");
    let mut first = p.server.conn();
    first.send_raw(b"PSYNC ? -1\r\n");
    assert!(text(&first.read()).starts_with("FULLRESYNC "));
    p.wait_log_line(&["Full resync requested by replica "]);
    let mut c = p.server.conn();
    let replid = c.info_field("replication", "master_replid");
    let mut other = p.server.conn();
    other.send_raw(b"PSYNC 0123456789012345678901234567890123456789 5\r\n");
    assert!(text(&other.read()).starts_with("FULLRESYNC "));
    p.wait_log_line(&[&format!(
        "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '0123456789012345678901234567890123456789', my replication IDs are '{replid}' and '0000000000000000000000000000000000000000')"
    )]);
    let mut ahead = p.server.conn();
    ahead.send_raw(format!("PSYNC {replid} 999999\r\n").as_bytes());
    assert!(text(&ahead.read()).starts_with("FULLRESYNC "));
    p.wait_log_line(&[
        "Unable to partial resync with replica ",
        "for lack of backlog (Replica request was: 999999).",
    ]);
}
