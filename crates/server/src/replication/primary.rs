//! The primary's side: serving a replica on the connection that sent PSYNC (or SYNC).
//!
//! Full resync: the snapshot is armed (all shards locked for an instant, as for BGSAVE)
//! and, in that same instant, the replica is registered at the stream's current offset and
//! the stream is switched on; so every change is either in the snapshot or in the stream
//! after that offset, never both, never neither. A thread walks the shards and writes the
//! RDB to the tasks of every replica sharing the transfer (diskless, `$EOF:<mark>` framing;
//! see `shared`) or to a temporary file (`$<len>`); the connection's task sends it, then
//! the stream from the backlog. Partial resync sends
//! `+CONTINUE` and the backlog from the offset the replica asked for.
//!
//! The replica's task reads what the replica sends on the same socket from the PSYNC on,
//! also while the snapshot is prepared: its REPLCONF ACKs (WAIT, INFO lag), and any other
//! command, which runs through dispatch as Redis runs it on a replica's link (no keyspace
//! access); a command that replies drops the link, as Redis 7.2 does.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::path::PathBuf;

use crate::net::qbuf::QueryBuf;
use crate::net::stream::Stream;
use cinnabar_engine::rdb::Writer;
use cinnabar_engine::Shard;
use cinnabar_resp::{parse_command, Argv, Limits, ReplyBuf};

use super::shared::Chunk;
use super::{random_id, Replica, Waiter, ONLINE, SEND_BULK, WAIT_BGSAVE};
use crate::dispatch::Client;
use crate::server::{now_ms, Server, WorkerStats};

/// Serves `client` as a replica until the link ends. Called by the connection once the
/// PSYNC/SYNC command's (empty) reply is out; `out` is the connection's reply buffer (empty
/// then), where the commands the replica sends write their replies.
pub async fn serve<S: Stream>(
    server: &Server,
    stats: &WorkerStats,
    stream: &mut S,
    rbuf: &mut QueryBuf,
    client: &mut Client,
    out: &mut ReplyBuf,
) {
    let Some(mut rc) = client.repl.take() else {
        return;
    };
    let Some(req) = rc.psync.take() else {
        return;
    };
    let r = &server.repl;
    if r.is_replica() && r.link_state.load(Ordering::Relaxed) != super::LINK_CONNECTED {
        let _ = stream
            .send(b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n")
            .await;
        return;
    }
    let ip = rc.ip.clone().unwrap_or_else(|| {
        let a = &client.shared.addr;
        a.rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
            .unwrap_or_default()
    });
    *client.shared.flags.lock() = "S".into();
    // From here on the connection is a replica's link: what it sends is read all along.
    client.replica_link = true;
    client.close_after_reply = false;
    let replica = Arc::new(Replica {
        client_id: client.id,
        ip,
        port: rc.listening_port,
        state: WAIT_BGSAVE.into(),
        sent: 0.into(),
        ack: 0.into(),
        aof_ack: 0.into(),
        ack_time_ms: now_ms().into(),
    });
    let mut link = Link {
        stream,
        rbuf,
        argv: Argv::new(),
        input: Input {
            server,
            stats,
            client,
            out,
            replica: replica.clone(),
            last: if req.is_some() { "psync" } else { "sync" },
            wait_ack: false,
            blocked: None,
        },
    };
    let mut partial = None;
    let name = format!("{}:{}", replica.ip, replica.port);
    if let Some((id, off)) = &req {
        // Why a PSYNC cannot continue is logged as Redis's masterTryPartialResynchronization
        // does (the tests of Redis's suite print these lines when a sync count is off).
        let id_ok = r.with_ids(|ids| {
            let ok = id.eq_ignore_ascii_case(&ids.replid)
                || (id.eq_ignore_ascii_case(&ids.replid2) && *off <= ids.second_offset);
            // Redis's reasons for a full resync.
            if ok {
                // Continued, if the backlog holds the offset (below).
            } else if id == "?" {
                tracing::info!("Full resync requested by replica {name}");
            } else if !id.eq_ignore_ascii_case(&ids.replid2) {
                tracing::info!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{id}', my replication IDs are '{}' and '{}')",
                    ids.replid,
                    ids.replid2
                );
            } else {
                tracing::info!(
                    "Partial resynchronization not accepted: Requested offset for second ID was {off}, but I can reply up to {}",
                    ids.second_offset
                );
            }
            ok.then(|| ids.replid.clone())
        });
        if let Some(replid) = id_ok {
            let mut b = r.backlog.lock();
            // The backlog keeps `repl-backlog-size` (appends trim it only past some slack,
            // and kept more for replicas that have gone since): trim it now, so whether a
            // PSYNC continues depends on the configured size, as in Redis.
            super::trim(r, &mut b);
            if *off >= 1 && b.can_continue(*off as u64 - 1) {
                replica.sent.store(*off as u64 - 1, Ordering::Relaxed);
                replica.state.store(ONLINE, Ordering::Relaxed);
                r.replicas.lock().push(replica.clone());
                partial = Some(replid);
            } else {
                tracing::info!(
                    "Unable to partial resync with replica {name} for lack of backlog (Replica request was: {off})."
                );
                if *off > b.end as i64 {
                    tracing::warn!("Warning: replica {name} tried to PSYNC with an offset that is greater than the master replication offset.");
                }
            }
        }
        if partial.is_none() && id != "?" {
            r.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
    }
    let addr = link.input.client.shared.addr.clone();
    let ok = match partial {
        Some(replid) => {
            r.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!("Partial resynchronization request from {addr} accepted.");
            let line = if rc.capa_psync2 {
                format!("+CONTINUE {replid}\r\n")
            } else {
                "+CONTINUE\r\n".to_string()
            };
            link.stream.send(line.as_bytes()).await.is_ok()
        }
        None => {
            r.sync_full.fetch_add(1, Ordering::Relaxed);
            let diskless = server.config.get_bool("repl-diskless-sync") && rc.capa_eof;
            // After a diskless transfer the stream waits for the replica's first ACK: a
            // replica detects the end of the RDB by the mark ending a read, so nothing may
            // follow it until the replica has loaded (Redis's repl_start_cmd_stream_on_ack).
            link.input.wait_ack = diskless;
            full_sync(server, &mut link, &replica, req.is_some(), diskless).await
        }
    };
    if ok {
        replica.state.store(ONLINE, Ordering::Relaxed);
        replica.ack_time_ms.store(now_ms(), Ordering::Relaxed);
        stream_to(server, &mut link, &replica).await;
    }
    rc.psync = None;
    {
        // The stream this replica alone still needed is let go as it leaves (Redis frees
        // the shared buffer's blocks with the replica): backlog, then replicas, the order
        // every trim locks them in.
        let mut b = r.backlog.lock();
        let mut list = r.replicas.lock();
        list.retain(|x| !Arc::ptr_eq(x, &replica));
        if list.is_empty() {
            r.no_replicas_since_ms.store(now_ms(), Ordering::Relaxed);
        }
        drop(list);
        super::trim(r, &mut b);
    }
    tracing::info!("Connection with replica {addr} lost.");
}

/// A replica's connection while it is served: the socket, and what the replica sends.
struct Link<'a, S> {
    stream: &'a mut S,
    rbuf: &'a mut QueryBuf,
    argv: Argv,
    input: Input<'a>,
}

impl<S: Stream> Link<'_, S> {
    /// Waits for `fut` while running what the replica sends meanwhile. None: the link is
    /// to close (the replica left, was killed, or sent a command that replied).
    async fn wait<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            if !self.process() {
                return None;
            }
            self.rbuf.make_room(None);
            tokio::select! {
                v = &mut fut => return Some(v),
                rd = self.stream.read_some(self.rbuf) => match rd {
                    Ok(n) if n > 0 && !self.input.client.shared.killed.load(Ordering::Relaxed) => {}
                    _ => return None,
                },
                _ = self.input.unblocked() => return None,
            }
        }
    }

    /// Runs the complete commands in the query buffer. False: the link is to close.
    fn process(&mut self) -> bool {
        let limits = Limits::default();
        let mut pos = 0;
        let mut keep = true;
        // A blocked command holds what follows it, as Redis reads nothing from a blocked
        // client.
        while pos < self.rbuf.len() && self.input.blocked.is_none() {
            match parse_command(&self.rbuf[pos..], &limits, &mut self.argv) {
                Ok(Some(n)) => {
                    let buf = &self.rbuf[pos..pos + n];
                    pos += n;
                    let args: Vec<&[u8]> = self.argv.iter(buf).collect();
                    if !self.input.command(&args) {
                        keep = false;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Redis replies with the error (which drops a replica's link).
                    let msg = format!("ERR Protocol error: {e}");
                    self.input.replied(true, Some(msg.as_bytes()));
                    keep = false;
                    break;
                }
            }
        }
        self.rbuf.advance(pos);
        let limit = self
            .input
            .server
            .config
            .live
            .client_query_buffer_limit
            .load(Ordering::Relaxed);
        if keep && self.rbuf.len() as u64 > limit {
            tracing::warn!("Closing client that reached max query buffer length");
            return false;
        }
        keep
    }
}

/// What runs the commands of a replica's link.
struct Input<'a> {
    server: &'a Server,
    stats: &'a WorkerStats,
    client: &'a mut Client,
    out: &'a mut ReplyBuf,
    replica: Arc<Replica>,
    /// The name of the last command, for the logs (Redis's lastcmd).
    last: &'static str,
    /// After a diskless transfer: the stream waits for the replica's first ACK.
    wait_ack: bool,
    /// A blocking command (WAIT) the replica sent, waiting for its reply.
    blocked: Option<crate::blocking::BlockedOn>,
}

impl Drop for Input<'_> {
    fn drop(&mut self) {
        if self.blocked.take().is_some() {
            self.server.blocking.cancel(self.client.id);
        }
    }
}

impl Input<'_> {
    /// Runs one command the replica sent. False: it replied, and the link is to close.
    fn command(&mut self, args: &[&[u8]]) -> bool {
        let server = self.server;
        if args.is_empty() {
            // A newline: the replica's keepalive while it loads the RDB.
            self.replica.ack_time_ms.store(now_ms(), Ordering::Relaxed);
            return true;
        }
        if args.len() >= 3
            && args.len() % 2 == 1
            && args[0].eq_ignore_ascii_case(b"replconf")
            && args[1].eq_ignore_ascii_case(b"ack")
        {
            let start_us = crate::server::clock_us();
            if ack(server, &self.replica, args) {
                self.wait_ack = false;
            }
            // Handled here rather than by dispatch, but accounted as Redis's call() does
            // for it: INFO commandstats (calls, usec) and latencystats,
            // total_commands_processed, the slow log, CLIENT LIST's cmd.
            if let Ok(entry) = server.registry.resolve(args) {
                self.last = entry.def.full_name();
                self.client
                    .shared
                    .last_cmd
                    .store(entry.idx, Ordering::Relaxed);
                let usec = (crate::server::clock_us() - start_us).max(0) as u64;
                crate::dispatch::count_call(
                    server,
                    self.stats,
                    &self.stats.commands[entry.idx],
                    usec,
                );
                crate::ops::after_command(server, false, self.client, entry.def, args, usec);
            }
            return true;
        }
        // Redis's lastcmd is the command looked up, before any check (NULL when unknown).
        let entry = server.registry.resolve(args).ok();
        self.last = entry.map_or("<unknown>", |e| e.def.full_name());
        self.client
            .shared
            .last_cmd
            .store(entry.map_or(usize::MAX, |e| e.idx), Ordering::Relaxed);
        let mark = self.out.len();
        crate::dispatch::execute(server, self.stats, self.client, self.out, args);
        let error =
            (self.out.buf.get(mark) == Some(&b'-')).then(|| self.out.buf[mark + 1..].to_vec());
        // What the client's reply mode lets through (CLIENT REPLY OFF / SKIP).
        self.client.apply_reply_mode(self.out, mark);
        let mut reply = self.out.len() > mark;
        self.out.truncate(mark);
        if !self.client.pubsub.bcast_batch.is_empty() {
            crate::tracking::flush_bcast(server, self.client);
        }
        if !self.client.pubsub.pending.is_empty() {
            // Pushes of its own (a subscription's confirmation) are replies too.
            self.client.pubsub.pending.clear();
            reply = true;
        }
        if let Some(b) = self.client.blocked.take() {
            // A blocking command (WAIT): as in Redis, the link goes when its reply comes
            // (see `unblocked`); the stream goes on meanwhile.
            self.blocked = Some(b);
        }
        self.replied(reply, error.as_deref());
        !reply && !self.client.close_after_reply
    }

    /// Resolves when a blocked command's reply comes (never while none is blocked): the
    /// reply is for a replica, so the link is to close, with Redis's log line.
    async fn unblocked(&mut self) {
        let Some(b) = self.blocked.as_mut() else {
            return std::future::pending().await;
        };
        let _ = (&mut b.rx).await;
        self.blocked = None;
        self.replied(true, None);
    }

    /// Redis's logs for a reply to a replica: the link is dropped if anything was to be
    /// sent, and an error is logged even when the reply mode kept it back.
    fn replied(&self, reply: bool, error: Option<&[u8]>) {
        let server = self.server;
        if reply {
            tracing::warn!(
                "Replica generated a reply to command '{}', disconnecting it: {}",
                self.last,
                (server.client_info)(server, &self.client.shared)
            );
        }
        if let Some(e) = error {
            super::log_error_reply(server, "master", "replica", e, self.last);
        }
    }
}

/// A snapshot armed for a full sync: the stream offset it stands at, the history's id, the
/// database the stream continues in, and the shards' serialised sections as they come.
pub(super) struct Armed {
    pub offset: u64,
    pub replid: String,
    pub stream_db: i64,
    pub sections: std::sync::mpsc::Receiver<(Vec<u8>, u64)>,
}

/// Arms a snapshot for a full sync unless one is running: in the same instant (every shard
/// locked) the stream is switched on and `at_offset` registers the replicas at its offset.
pub(super) fn arm(server: &Server, at_offset: impl FnOnce(u64)) -> Option<Armed> {
    let r = &server.repl;
    let ks = &server.keyspace;
    if ks.snapshot_running() {
        return None;
    }
    let opts = crate::persist::save_opts(server);
    let now = now_ms();
    let (tx, rx) = std::sync::mpsc::channel::<(Vec<u8>, u64)>();
    let tx = parking_lot::Mutex::new(tx);
    let visitor: cinnabar_engine::keyspace::Visitor = Arc::new(move |_, shard: &Shard| {
        let _ = tx
            .lock()
            .send(crate::persist::rdbfile::shard_sections(shard, &opts, now));
    });
    let mut offset = 0;
    let armed = {
        let _gate = r.apply_gate.lock();
        ks.begin_snapshot_with(visitor, || {
            let mut b = r.backlog.lock();
            if !b.active {
                let end = b.end;
                b.activate(end);
            }
            if !r.is_replica() {
                // The stream restarts with a SELECT; a replica proxies its primary's.
                b.db = None;
                r.on.store(true, Ordering::SeqCst);
            }
            offset = b.end;
            at_offset(offset);
        })
    };
    if !armed {
        return None;
    }
    crate::dispatch::sink::refresh_expiry_log(server);
    let stream_db = if r.is_replica() {
        r.master_db.load(Ordering::Relaxed) as i64
    } else {
        -1
    };
    Some(Armed {
        offset,
        replid: r.with_ids(|i| i.replid.clone()),
        stream_db,
        sections: rx,
    })
}

/// Sends the RDB of a full sync, running what the replica sends meanwhile. Returns whether
/// the replica got all of it. Diskless transfers are shared by the replicas waiting
/// together (`shared`); a disk-backed one is written for this replica alone.
async fn full_sync<S: Stream>(
    server: &Server,
    link: &mut Link<'_, S>,
    replica: &Arc<Replica>,
    psync: bool,
    diskless: bool,
) -> bool {
    let r = &server.repl;
    // Listed (INFO `state=wait_bgsave`, counted in connected_slaves) from now on, as Redis
    // lists a replica from its SYNC; `sent` stays unset (u64::MAX) until the snapshot is
    // armed, so that the backlog is not kept for it meanwhile.
    replica.sent.store(u64::MAX, Ordering::Relaxed);
    r.replicas.lock().push(replica.clone());
    tracing::info!(
        "Replica {}:{} asks for synchronization",
        replica.ip,
        replica.port
    );
    if diskless {
        shared_sync(server, link, replica, psync).await
    } else {
        disk_sync(server, link, replica, psync).await
    }
}

/// A diskless full sync: waits on the list of `shared` for the transfer to start, then
/// sends the RDB as the writer thread hands it over, framed by `$EOF:<mark>`.
async fn shared_sync<S: Stream>(
    server: &Server,
    link: &mut Link<'_, S>,
    replica: &Arc<Replica>,
    psync: bool,
) -> bool {
    let r = &server.repl;
    if r.syncs_running.load(Ordering::Relaxed) > 0 {
        tracing::info!("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC");
    } else if server.keyspace.snapshot_running() {
        tracing::info!(
            "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
        );
    } else if server.config.get_i64("repl-diskless-sync-delay") > 0 {
        tracing::info!("Delay next BGSAVE for diskless SYNC");
    }
    let (mut start, _ticket) = super::shared::join(server, replica);
    let started = loop {
        if server.is_shutting_down() {
            return false;
        }
        super::shared::try_start(server);
        let next = async {
            tokio::select! {
                s = &mut start => Some(s),
                _ = crate::timer::sleep(Duration::from_millis(50)) => None,
            }
        };
        match link.wait(next).await {
            None => return false,
            Some(Some(Ok(s))) => break s,
            Some(Some(Err(_))) => return false,
            Some(None) => {}
        }
    };
    let mut feed = started.feed;
    let head = if psync {
        format!("+FULLRESYNC {} {}\r\n", started.replid, started.offset)
    } else {
        String::new()
    };
    let mark = random_id();
    let head = format!("{head}$EOF:{mark}\r\n");
    if !send_watched(server, link.stream, head.as_bytes(), replica).await {
        return false;
    }
    loop {
        match link.wait(feed.rx.recv()).await {
            Some(Some(Chunk::Data(d))) => {
                if !send_watched(server, link.stream, &d, replica).await {
                    return false;
                }
            }
            Some(Some(Chunk::Done(true))) => break,
            Some(Some(Chunk::Done(false))) | Some(None) | None => return false,
        }
    }
    drop(feed);
    let ok = send_watched(server, link.stream, mark.as_bytes(), replica).await;
    if ok {
        tracing::info!(
            "Synchronization with replica {}:{} succeeded",
            replica.ip,
            replica.port
        );
    }
    ok
}

/// Sends part of a diskless transfer. A replica that takes more than `repl-timeout` to take
/// it is dropped, as Redis drops one whose socket accepted nothing for that long while its
/// RDB child writes (the other replicas of the transfer wait for it meanwhile).
async fn send_watched<S: Stream>(
    server: &Server,
    stream: &mut S,
    data: &[u8],
    replica: &Replica,
) -> bool {
    let since = now_ms();
    let send = stream.send(data);
    tokio::pin!(send);
    loop {
        tokio::select! {
            res = &mut send => return res.is_ok(),
            _ = crate::timer::sleep(Duration::from_millis(100)) => {
                let timeout_ms = server.config.get_i64("repl-timeout").max(1) * 1000;
                if now_ms() - since > timeout_ms {
                    tracing::warn!(
                        "Disconnecting timedout replica (full sync): {}:{}",
                        replica.ip,
                        replica.port
                    );
                    return false;
                }
                if server.is_shutting_down() {
                    return false;
                }
            }
        }
    }
}

/// A disk-backed sync's snapshot while it is written to its temporary file: a replica that
/// asks for a disk-backed sync meanwhile attaches to it at its offset (Redis's "Waiting for
/// end of BGSAVE for SYNC"), so one snapshot serves every replica that arrives before it
/// ends. The file is removed when the last holder (the writer, a replica sending it) drops
/// it.
pub struct DiskSync {
    offset: u64,
    replid: String,
    file: TempFile,
    /// Set by the writer when the file is complete (true) or failed (false).
    done: tokio::sync::watch::Receiver<Option<bool>>,
    /// Replicas waiting for the file: the snapshot is cancelled when the last one leaves
    /// (unless `save` rules are set, see `Job`).
    waiting: AtomicUsize,
    cancel: Arc<AtomicBool>,
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Attaches `replica` to the disk-backed sync being written, if the backlog still holds the
/// stream from its offset.
fn attach_disk_sync(server: &Server, replica: &Replica) -> Option<Arc<DiskSync>> {
    let r = &server.repl;
    let cur = r.disk_sync.lock();
    let s = cur.as_ref()?;
    if s.done.borrow().is_some() {
        return None;
    }
    let b = r.backlog.lock();
    if !b.can_continue(s.offset) {
        tracing::info!(
            "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
        );
        return None;
    }
    replica.sent.store(s.offset, Ordering::Relaxed);
    s.waiting.fetch_add(1, Ordering::AcqRel);
    Some(s.clone())
}

/// Arms a snapshot for a disk-backed sync and starts its writer thread; None while another
/// snapshot runs.
fn start_disk_sync(server: &Server, replica: &Arc<Replica>) -> Option<Arc<DiskSync>> {
    let r = &server.repl;
    let arc = server.persist.server()?;
    let armed = arm(server, |offset| {
        replica.sent.store(offset, Ordering::Relaxed);
    })?;
    tracing::info!("Starting BGSAVE for SYNC with target: disk");
    let tmp = crate::persist::dir(server).join(format!(
        "temp-repl-{}-{}.rdb",
        std::process::id(),
        replica.client_id
    ));
    let (tx, rx) = tokio::sync::watch::channel(None);
    let sync = Arc::new(DiskSync {
        offset: armed.offset,
        replid: armed.replid.clone(),
        file: TempFile(tmp),
        done: rx,
        waiting: AtomicUsize::new(1),
        cancel: Arc::new(AtomicBool::new(false)),
    });
    *r.disk_sync.lock() = Some(sync.clone());
    // Until the RDB is written the replicas stay `wait_bgsave` (Redis's WAIT_BGSAVE_END
    // while the child runs), and INFO shows a save in progress: the writer thread counts
    // itself in `syncs_running` until it ends, also when the replicas left first.
    r.syncs_running.fetch_add(1, Ordering::Relaxed);
    r.sync_cancels.lock().push(sync.cancel.clone());
    let s2 = sync.clone();
    let spawned = std::thread::Builder::new()
        .name("cinnabar-replsync".into())
        .spawn(move || {
            let aux = (s2.replid.as_str(), s2.offset, armed.stream_db);
            let res = std::fs::File::create(&s2.file.0)
                .and_then(|f| {
                    write_rdb(
                        &arc,
                        &armed.sections,
                        io::BufWriter::new(f),
                        aux,
                        &s2.cancel,
                    )
                })
                .and_then(|mut f| f.flush());
            let r = &arc.repl;
            {
                let mut cur = r.disk_sync.lock();
                if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, &s2)) {
                    *cur = None;
                }
            }
            r.sync_cancels
                .lock()
                .retain(|c| !Arc::ptr_eq(c, &s2.cancel));
            r.syncs_running.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(Some(res.is_ok()));
        });
    if spawned.is_err() {
        *r.disk_sync.lock() = None;
        r.sync_cancels
            .lock()
            .retain(|c| !Arc::ptr_eq(c, &sync.cancel));
        r.syncs_running.fetch_sub(1, Ordering::Relaxed);
        server.keyspace.finish_snapshot();
        return None;
    }
    Some(sync)
}

/// A disk-backed full sync: the snapshot is written to a temporary file (or one being
/// written is joined), then sent.
async fn disk_sync<S: Stream>(
    server: &Server,
    link: &mut Link<'_, S>,
    replica: &Arc<Replica>,
    psync: bool,
) -> bool {
    let sync = loop {
        if server.is_shutting_down() {
            return false;
        }
        if let Some(s) = attach_disk_sync(server, replica) {
            tracing::info!("Waiting for end of BGSAVE for SYNC");
            break s;
        }
        if let Some(s) = start_disk_sync(server, replica) {
            break s;
        }
        if link
            .wait(crate::timer::sleep(Duration::from_millis(20)))
            .await
            .is_none()
        {
            return false;
        }
    };
    let mut job = Job {
        server,
        sync: sync.clone(),
        done: false,
    };
    if psync {
        let head = format!("+FULLRESYNC {} {}\r\n", sync.replid, sync.offset);
        if link.stream.send(head.as_bytes()).await.is_err() {
            return false;
        }
    }
    let mut done = sync.done.clone();
    let written = async move {
        done.wait_for(|v| v.is_some())
            .await
            .is_ok_and(|v| *v == Some(true))
    };
    let Some(written) = link.wait(written).await else {
        return false;
    };
    job.done = true;
    drop(job);
    replica.state.store(SEND_BULK, Ordering::Relaxed);
    let ok = written && send_file(link.stream, &sync.file.0).await.is_ok();
    if ok {
        tracing::info!(
            "Synchronization with replica {}:{} succeeded",
            replica.ip,
            replica.port
        );
    }
    ok
}

/// A replica waiting for a disk-backed sync's file. Dropped before the file is complete (the
/// replica left, or sent a command that replied) by the last replica waiting, the snapshot is
/// cancelled as Redis kills its RDB child once no replica needs it, unless `save` rules are
/// set (Redis keeps that child, whose file is a fresh dump). The thread stops before its next
/// shard's section (or within 10 ms of a key save delay).
struct Job<'a> {
    server: &'a Server,
    sync: Arc<DiskSync>,
    done: bool,
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        let last = self.sync.waiting.fetch_sub(1, Ordering::AcqRel) == 1;
        if !self.done && last && crate::persist::save_rules(self.server).is_empty() {
            self.sync.cancel.store(true, Ordering::Relaxed);
        }
    }
}

async fn send_file<S: Stream>(stream: &mut S, path: &std::path::Path) -> io::Result<()> {
    let path = path.to_path_buf();
    let data = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(io::Error::other)??;
    stream
        .send(format!("${}\r\n", data.len()).as_bytes())
        .await?;
    stream.send(&data).await
}

/// Walks the armed snapshot and writes it as an RDB stream with the replication aux fields.
pub(super) fn write_rdb<W: Write>(
    server: &Server,
    rx: &std::sync::mpsc::Receiver<(Vec<u8>, u64)>,
    out: W,
    (replid, offset, stream_db): (&str, u64, i64),
    cancel: &AtomicBool,
) -> io::Result<W> {
    let ks = &server.keyspace;
    let opts = crate::persist::save_opts(server);
    let now = now_ms();
    // One shard's section (`n` keys), unless the sync was cancelled (see `Job`).
    let section = |w: &mut Writer<W>, bytes: &[u8], n: u64| {
        crate::persist::key_save_delay_unless(server, n, cancel);
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("the replica left"));
        }
        w.raw(bytes)
    };
    let result = (|| {
        let mut w = Writer::new(out, opts)?;
        w.aux(b"redis-ver", b"7.2.4")?;
        w.aux_int(b"redis-bits", 64)?;
        w.aux_int(b"ctime", now / 1000)?;
        w.aux_int(b"used-mem", crate::alloc::used() as i64)?;
        w.aux_int(b"repl-stream-db", stream_db.max(0))?;
        w.aux(b"repl-id", replid.as_bytes())?;
        w.aux_int(b"repl-offset", offset as i64)?;
        w.aux_int(b"aof-base", 0)?;
        crate::persist::rdbfile::write_functions(&mut w, server)?;
        for i in 0..ks.shard_count() {
            // Locking a shard not yet visited serialises it into the channel.
            drop(ks.lock_shard(i));
            while let Ok((bytes, n)) = rx.try_recv() {
                section(&mut w, &bytes, n)?;
            }
        }
        ks.finish_snapshot();
        while let Ok((bytes, n)) = rx.try_recv() {
            section(&mut w, &bytes, n)?;
        }
        w.finish()
    })();
    // A failed write must still end the snapshot (idempotent).
    if result.is_err() {
        ks.finish_snapshot();
    }
    result
}

/// Sends the stream from the replica's offset on, and runs what it sends (its ACKs), until
/// the link ends.
async fn stream_to<S: Stream>(server: &Server, link: &mut Link<'_, S>, replica: &Arc<Replica>) {
    let r = &server.repl;
    let mut chunk = Vec::new();
    let timeout_ms = server.config.get_i64("repl-timeout").max(1) * 1000;
    loop {
        // Commands pipelined behind the PSYNC, or read while the RDB went out.
        if !link.process() {
            return;
        }
        let wait_ack = link.input.wait_ack;
        if link.input.client.shared.killed.load(Ordering::Relaxed) || server.is_shutting_down() {
            return;
        }
        if !wait_ack && now_ms() - replica.ack_time_ms.load(Ordering::Relaxed) > timeout_ms {
            tracing::warn!(
                "Disconnecting timedout replica (streaming sync): {}:{}",
                replica.ip,
                replica.port
            );
            return;
        }
        let notified = r.data.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let sent = replica.sent.load(Ordering::Relaxed);
        if !wait_ack {
            let b = r.backlog.lock();
            match b.since(sent, 1 << 20) {
                Some(s) => {
                    chunk.clear();
                    chunk.extend_from_slice(s);
                }
                None => {
                    tracing::warn!(
                        "Replica {}:{} fell too far behind the stream: disconnecting it",
                        replica.ip,
                        replica.port
                    );
                    return;
                }
            }
        }
        if !wait_ack && !chunk.is_empty() {
            if link.stream.send(&chunk).await.is_err() {
                return;
            }
            replica
                .sent
                .store(sent + chunk.len() as u64, Ordering::Relaxed);
            if chunk.capacity() > 4 << 20 {
                chunk = Vec::new();
            }
            continue;
        }
        link.rbuf.make_room(None);
        tokio::select! {
            _ = &mut notified => {}
            rd = link.stream.read_some(link.rbuf) => match rd {
                Ok(n) if n > 0 => {}
                _ => return,
            },
            _ = link.input.unblocked() => return,
            _ = crate::timer::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// REPLCONF ACK <offset> [FACK <aofoff>] (no reply). Returns whether the offset was one.
fn ack(server: &Server, replica: &Replica, args: &[&[u8]]) -> bool {
    let Some(off) = std::str::from_utf8(args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    if off > replica.ack.load(Ordering::Relaxed) {
        replica.ack.store(off, Ordering::Relaxed);
    }
    if args.len() >= 5 && args[3].eq_ignore_ascii_case(b"fack") {
        if let Some(f) = std::str::from_utf8(args[4])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            replica.aof_ack.fetch_max(f, Ordering::Relaxed);
        }
    }
    replica.ack_time_ms.store(now_ms(), Ordering::Relaxed);
    check_waiters(server);
    true
}

/// Replicas whose ACK reached `offset`.
pub fn acked(server: &Server, offset: u64) -> usize {
    count(server, |x| x.ack.load(Ordering::Relaxed) >= offset)
}

/// Replicas whose AOF fsync (FACK) reached `offset`.
pub fn aof_acked(server: &Server, offset: u64) -> usize {
    count(server, |x| x.aof_ack.load(Ordering::Relaxed) >= offset)
}

fn count(server: &Server, f: impl Fn(&Replica) -> bool) -> usize {
    server
        .repl
        .replicas
        .lock()
        .iter()
        .filter(|x| x.state.load(Ordering::Relaxed) == ONLINE && f(x))
        .count()
}

/// Whether this server's AOF has fsynced up to `aof_seq` (WAITAOF's local copy).
pub fn local_synced(server: &Server, aof_seq: u64) -> bool {
    let aof = &server.persist.aof;
    aof.on.load(Ordering::Relaxed)
        && !aof.wait_rewrite.load(Ordering::Acquire)
        && aof.synced_seq.load(Ordering::Acquire) >= aof_seq
}

/// The reply of a waiter now, and whether it is satisfied.
fn progress(server: &Server, w: &Waiter) -> (Vec<u8>, bool) {
    match w.aof {
        None => {
            let n = acked(server, w.offset);
            (format!(":{n}\r\n").into_bytes(), n >= w.numreplicas)
        }
        Some((numlocal, aof_seq)) => {
            if numlocal > 0 && !server.persist.aof.enabled() {
                return (WAITAOF_NO_AOF.to_vec(), true);
            }
            let local = local_synced(server, aof_seq) as usize;
            let n = aof_acked(server, w.offset);
            (
                format!("*2\r\n:{local}\r\n:{n}\r\n").into_bytes(),
                local >= numlocal && n >= w.numreplicas,
            )
        }
    }
}

const WAITAOF_NO_AOF: &[u8] =
    b"-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n";

/// Wakes WAIT / WAITAOF clients whose replicas (or AOF) have acknowledged enough.
pub fn check_waiters(server: &Server) {
    let mut w = server.repl.waiters.lock();
    if w.is_empty() {
        return;
    }
    let mut i = 0;
    while i < w.len() {
        let (reply, done) = progress(server, &w[i]);
        if done {
            let x = w.swap_remove(i);
            let _ = x.tx.send(crate::blocking::Wake::Reply(reply));
        } else {
            i += 1;
        }
    }
}

/// Ends the wait of `client_id` (its timeout), replying with what was reached.
pub fn end_wait(server: &Server, client_id: u64) {
    let mut w = server.repl.waiters.lock();
    if let Some(i) = w.iter().position(|x| x.client_id == client_id) {
        let x = w.swap_remove(i);
        let (reply, _) = progress(server, &x);
        let _ = x.tx.send(crate::blocking::Wake::Reply(reply));
    }
}

/// Redis's error for clients whose wait the change of role ended.
const UNBLOCKED_ROLE: &[u8] =
    b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";

/// The server became a replica (of a new primary): every waiting client (WAIT, and blocked
/// on keys: a replica must not serve them from the primary's stream) gets an error and is
/// disconnected, as Redis's replicationSetMaster does.
pub fn unblock_all_waiters(server: &Server) {
    for x in server.repl.waiters.lock().drain(..) {
        let _ =
            x.tx.send(crate::blocking::Wake::ReplyClose(UNBLOCKED_ROLE.to_vec()));
    }
    server.blocking.unblock_all(UNBLOCKED_ROLE);
}

/// Drops waiters whose client left (their receiver is gone).
pub fn expire_waiters(server: &Server) {
    server.repl.waiters.lock().retain(|x| !x.tx.is_closed());
}

/// Registers a WAIT that could not be answered at once and asks every replica for an ACK.
pub fn add_waiter(server: &Server, w: Waiter) {
    server.repl.waiters.lock().push(w);
    super::feed_raw(
        server,
        b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n",
    );
}
