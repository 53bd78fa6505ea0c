//! The replica's side: the link to the primary (REPLICAOF host port).
//!
//! One task, on worker 0, per REPLICAOF generation: connect, handshake (PING, AUTH with
//! `masteruser`/`masterauth`, REPLCONF listening-port / ip-address / capa eof psync2),
//! PSYNC with our own replication id and offset (so a demoted primary, or a replica whose
//! link was cut, continues where it was when the primary's backlog still holds it), or
//! `PSYNC ? -1` when our dataset is no point of that history (`history_discarded`: a full
//! sync flushed it and did not complete, or start-up as a replica found no history), then:
//! - `+FULLRESYNC id offset`: the RDB (`$EOF:<mark>` or `$<len>` framing) is parsed as it
//!   arrives, on a loader thread fed through a bounded channel (`super::transfer`), into a
//!   dataset aside or the emptied one as `repl-diskless-load` says (or written to
//!   dbfilename and loaded from there), and the stream starts at `offset`;
//! - `+CONTINUE [id]`: the stream resumes at our offset (a new id shifts ours to replid2).
//!
//! The stream is applied as the primary's client: commands run through dispatch with
//! expired keys kept until the primary's DEL (see `super::check`), and each applied
//! command's bytes go into our own backlog as they were received (not re-derived from
//! effects), so our offset is the primary's offset and replicas of ours, or PSYNCs after
//! a promotion, continue the same history. Our offset advances only outside MULTI (a
//! transaction cut in the middle is resent whole, as Redis does). `REPLCONF ACK <offset>`
//! goes to the primary every second and in answer to `REPLCONF GETACK`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use cinnabar_engine::hash_key;
use cinnabar_engine::rdb::{self, Item};
use cinnabar_resp::{encode_command, parse_command, Argv, Limits, ReplyBuf};
use tokio::net::TcpStream;

use super::transfer;
use super::*;
use crate::dispatch::Client;
use crate::server::ClientShared;

type LinkResult = Result<(), String>;

/// REPLICAOF host port: becomes a replica of `master` (or stays, if already).
pub fn replicate_from(server: &Server, master: Master) -> bool {
    let r = &server.repl;
    {
        let mut m = r.master.lock();
        if let Some(cur) = &*m {
            if cur.host == master.host && cur.port == master.port {
                return false;
            }
        }
        server
            .config
            .set_internal("replicaof", format!("{} {}", master.host, master.port));
        if m.is_none() && !server.persist.loading.load(Ordering::SeqCst) {
            // A primary's own history is one its new primary may continue (Redis's
            // replicationCacheMasterUsingMyself).
            r.history_discarded.store(false, Ordering::SeqCst);
        }
        *m = Some(master);
    }
    r.on.store(false, Ordering::SeqCst);
    super::primary::unblock_all_waiters(server);
    server.keyspace.replica_expiry.store(true, Ordering::SeqCst);
    r.checks.fetch_or(CHECK_REPLICA, Ordering::SeqCst);
    r.link_state.store(LINK_CONNECT, Ordering::Relaxed);
    r.link_down_since_ms.store(0, Ordering::Relaxed);
    let gen = r.gen.fetch_add(1, Ordering::SeqCst) + 1;
    // Our replicas stay, as Redis's replicationSetMaster keeps them: they may go on with a
    // partial resync. They are dropped once our history changes (a +CONTINUE with a new id,
    // or a full sync's load) and then learn the new one.
    if let (Some(srv), Some(h)) = (server.persist.server(), server.worker_handles.get()) {
        h[0].spawn(link_loop(srv, gen));
    }
    crate::dispatch::sink::refresh_expiry_log(server);
    true
}

/// REPLICAOF NO ONE: back to a primary. The history so far stays continuable: our id
/// becomes replid2 (valid up to our offset) and a new id starts.
pub fn promote(server: &Server) {
    let r = &server.repl;
    if r.master.lock().take().is_none() {
        return;
    }
    server.config.set_internal("replicaof", String::new());
    r.gen.fetch_add(1, Ordering::SeqCst);
    r.checks.fetch_and(!CHECK_REPLICA, Ordering::SeqCst);
    server
        .keyspace
        .replica_expiry
        .store(false, Ordering::SeqCst);
    super::writable::clear(server);
    r.link_state.store(LINK_NONE, Ordering::Relaxed);
    // The history we continue ends after the last command the link applies (see
    // `apply_gate`), and the id shift is not taken apart by one.
    let _gate = r.apply_gate.lock();
    let end = {
        let mut b = r.backlog.lock();
        if !b.active {
            let e = b.end;
            b.activate(e);
        }
        b.db = None;
        b.end
    };
    r.with_ids(|ids| {
        ids.replid2 = std::mem::replace(&mut ids.replid, random_id());
        ids.second_offset = end as i64 + 1;
    });
    r.on.store(true, Ordering::SeqCst);
    r.history_discarded.store(false, Ordering::SeqCst);
    // repl-backlog-ttl counts from now: the replicas of the failover have yet to come.
    r.no_replicas_since_ms.store(now_ms(), Ordering::Relaxed);
    // Our replicas must learn the new id: they reconnect and continue with a partial
    // resync (Redis's replicationUnsetMaster disconnects them too).
    drop_own_replicas(server);
    crate::dispatch::sink::refresh_expiry_log(server);
    tracing::info!("MASTER MODE enabled");
}

async fn link_loop(server: Arc<Server>, gen: u64) {
    let r = &server.repl;
    let current = || r.gen.load(Ordering::SeqCst) == gen && !server.is_shutting_down();
    while current() {
        r.link_state.store(LINK_CONNECTING, Ordering::Relaxed);
        let res = run_link(&server, gen).await;
        if !current() {
            break;
        }
        if let Err(e) = res {
            tracing::warn!("Replication link: {e}");
            if super::failover::psync_flag(&server) {
                tracing::warn!("The failover target answered the PSYNC FAILOVER with: {e}");
                super::failover::abort(&server, "Failover target rejected psync request");
                return;
            }
        }
        r.link_state.store(LINK_CONNECT, Ordering::Relaxed);
        if r.link_down_since_ms.load(Ordering::Relaxed) == 0 {
            r.link_down_since_ms.store(now_ms(), Ordering::Relaxed);
        }
        for _ in 0..10 {
            if !current() {
                return;
            }
            crate::timer::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The link's socket: plain, or TLS with `tls-replication yes`.
enum LinkStream {
    Tcp(TcpStream),
    Tls(Box<crate::net::stream::TlsClientStream>),
}

impl LinkStream {
    async fn read_some(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        use crate::net::stream::Stream;
        match self {
            LinkStream::Tcp(s) => s.read_some(buf).await,
            LinkStream::Tls(s) => s.read_some(buf).await,
        }
    }

    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        use crate::net::stream::Stream;
        match self {
            LinkStream::Tcp(s) => s.send(data).await,
            LinkStream::Tls(s) => s.send(data).await,
        }
    }

    fn tcp(&self) -> &TcpStream {
        use crate::net::stream::Stream;
        match self {
            LinkStream::Tcp(s) => s,
            LinkStream::Tls(s) => s.socket(),
        }
    }
}

struct Link {
    stream: LinkStream,
    buf: BytesMut,
    timeout: Duration,
    server: Arc<Server>,
    /// The REPLICAOF generation this link serves: a newer one ends it.
    gen: u64,
}

impl Link {
    /// Reads what the primary sent next. Nothing for `repl-timeout` (read again each second,
    /// so that a change applies to a wait already under way, as Redis's cron checks it)
    /// ends the link with Redis's message for the phase. A REPLICAOF meanwhile ends it
    /// within 100 ms, closing the socket (Redis's cancelReplicationHandshake), so that the
    /// primary drops the sync it prepares for us.
    async fn read_more(&mut self) -> Result<usize, String> {
        if self.buf.capacity() - self.buf.len() < 8192 {
            self.buf.reserve(64 * 1024);
        }
        let start = std::time::Instant::now();
        loop {
            let slice = Duration::from_millis(100);
            match crate::timer::timeout(slice, self.stream.read_some(&mut self.buf)).await {
                Ok(Ok(0)) => return Err("connection closed by the primary".into()),
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) if self.server.repl.gen.load(Ordering::SeqCst) != self.gen => {
                    return Err("the link was replaced (REPLICAOF)".into());
                }
                Err(_) => {
                    let limit = self.server.config.get_i64("repl-timeout").max(1) as u64;
                    if start.elapsed() < Duration::from_secs(limit) {
                        continue;
                    }
                    let transfer =
                        self.server.repl.link_state.load(Ordering::Relaxed) == LINK_TRANSFER;
                    return Err(if transfer {
                        "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value."
                    } else {
                        "Timeout connecting to the MASTER..."
                    }
                    .into());
                }
            }
        }
    }

    /// One line, without its CRLF; empty lines (the primary's keep-alive newlines) skipped.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(p) = self.buf.iter().position(|&c| c == b'\n') {
                let raw = self.buf.split_to(p + 1);
                let s = String::from_utf8_lossy(&raw[..p])
                    .trim_end_matches('\r')
                    .to_string();
                if s.is_empty() {
                    continue;
                }
                return Ok(s);
            }
            self.read_more().await?;
        }
    }

    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        self.stream.send(&out).await.map_err(|e| e.to_string())
    }

    async fn command(&mut self, args: &[&[u8]]) -> Result<String, String> {
        self.send(args).await?;
        self.line().await
    }
}

async fn run_link(server: &Arc<Server>, gen: u64) -> LinkResult {
    let r = &server.repl;
    let Some(m) = r.master.lock().clone() else {
        return Ok(());
    };
    // Start-up loading may restore our history (RDB aux fields): wait for it.
    while server.persist.is_loading() {
        if r.gen.load(Ordering::SeqCst) != gen {
            return Ok(());
        }
        crate::timer::sleep(Duration::from_millis(20)).await;
    }
    let timeout = Duration::from_secs(server.config.get_i64("repl-timeout").max(1) as u64);
    tracing::info!("Connecting to MASTER {}:{}", m.host, m.port);
    let source = server.config.get("bind-source-addr");
    let stream = crate::timer::timeout(timeout, connect_from(&m.host, m.port, &source))
        .await
        .map_err(|_| "timeout connecting to the primary".to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let stream = if server.config.get_bool("tls-replication") {
        let Some(connector) = server.tls.connector() else {
            return Err("tls-replication is on but TLS has no CA configured".into());
        };
        let name = rustls::pki_types::ServerName::try_from(m.host.clone())
            .map_err(|e| format!("invalid primary host name for TLS: {e}"))?;
        let tls = crate::timer::timeout(timeout, connector.connect(name, stream))
            .await
            .map_err(|_| "timeout in the TLS handshake with the primary".to_string())?
            .map_err(|e| format!("TLS handshake with the primary failed: {e}"))?;
        LinkStream::Tls(Box::new(tls))
    } else {
        LinkStream::Tcp(stream)
    };
    let mut link = Link {
        stream,
        buf: BytesMut::with_capacity(64 * 1024),
        timeout,
        server: server.clone(),
        gen,
    };
    r.link_state.store(LINK_HANDSHAKE, Ordering::Relaxed);
    let pong = link.command(&[b"PING"]).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    let pass = server.config.get("masterauth");
    if !pass.is_empty() {
        let user = server.config.get("masteruser");
        let reply = if user.is_empty() {
            link.command(&[b"AUTH", pass.as_bytes()]).await?
        } else {
            link.command(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                .await?
        };
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let announce_port = server.config.get_i64("replica-announce-port");
    let tls_port = server.tls_port.load(Ordering::Relaxed);
    let port = if announce_port > 0 {
        announce_port as u64
    } else if server.config.get_bool("tls-replication") && tls_port != 0 {
        tls_port
    } else {
        server.port.load(Ordering::Relaxed)
    };
    let port = port.to_string();
    let reply = link
        .command(&[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    if reply.starts_with('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF listening-port: {reply}"
        );
    }
    let ip = server.config.get("replica-announce-ip");
    if !ip.is_empty() {
        let reply = link
            .command(&[b"REPLCONF", b"ip-address", ip.as_bytes()])
            .await?;
        if reply.starts_with('-') {
            tracing::info!(
                "(Non critical) Master does not understand REPLCONF ip-address: {reply}"
            );
        }
    }
    let reply = link
        .command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    if reply.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    // Our own history: a primary that knows it (as replid or replid2) continues it.
    let (replid, from) = {
        // After any command a stale link task is still applying (see `apply_gate`).
        let _gate = r.apply_gate.lock();
        let end = r.backlog.lock().end;
        (r.with_ids(|i| i.replid.clone()), end + 1)
    };
    let (replid, from) = if r.history_discarded.load(Ordering::SeqCst) {
        tracing::info!("Partial resynchronization not possible (no cached master)");
        ("?".to_string(), "-1".to_string())
    } else {
        let from = from.to_string();
        tracing::info!("Trying a partial resynchronization (request {replid}:{from}).");
        (replid, from)
    };
    let reply = if super::failover::psync_flag(server) {
        link.command(&[b"PSYNC", replid.as_bytes(), from.as_bytes(), b"FAILOVER"])
            .await?
    } else {
        link.command(&[b"PSYNC", replid.as_bytes(), from.as_bytes()])
            .await?
    };
    if r.gen.load(Ordering::SeqCst) != gen {
        return Ok(());
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut it = rest.split_whitespace();
        let id = it.next().unwrap_or_default().to_string();
        let offset: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        tracing::info!("Full resync from master: {id}:{offset}");
        super::failover::completed(server);
        full_sync(server, &mut link, id, offset).await?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let end = {
            // A replica that never had a backlog (nothing replicated yet) starts one here,
            // as Redis does at +CONTINUE: the stream is counted from our offset on.
            let mut b = r.backlog.lock();
            if !b.active {
                let e = b.end;
                b.activate(e);
            }
            b.end
        };
        if !new_id.is_empty() {
            let changed = r.with_ids(|ids| {
                if ids.replid == new_id {
                    return false;
                }
                ids.replid2 = std::mem::replace(&mut ids.replid, new_id.to_string());
                ids.second_offset = end as i64 + 1;
                true
            });
            if changed {
                tracing::info!("Master replication ID changed to {new_id}");
                // Our replicas must learn the new id: they reconnect and continue with a
                // partial resync, as Redis's disconnectSlaves here.
                drop_own_replicas(server);
            }
        }
        tracing::info!("Successful partial resynchronization with master.");
        super::failover::completed(server);
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    apply_stream(server, &mut link, gen).await
}

/// How the RDB of a full resync is loaded: Redis 7.2's `repl-diskless-load`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LoadMode {
    /// `disabled` (and `on-empty-db` with keys): the old dataset is served while the RDB
    /// arrives; then it is flushed and the RDB loaded, with -LOADING meanwhile.
    AfterTransfer,
    /// `on-empty-db` on an empty dataset: loading (-LOADING) from the first byte, as Redis
    /// parses straight from the socket; a failed transfer leaves the dataset empty.
    Direct,
    /// `swapdb`: the RDB is loaded aside and swapped in once complete, so a failed transfer
    /// leaves the old dataset. `serving`: our replication id is the primary's (the old
    /// dataset is an earlier point of the same history): it keeps being served meanwhile
    /// (INFO async_loading:1); otherwise commands get -LOADING (loading:1).
    Aside { serving: bool },
}

fn load_mode(server: &Server, new_id: &str) -> LoadMode {
    match server.config.get("repl-diskless-load").as_str() {
        "swapdb" => LoadMode::Aside {
            serving: server.repl.with_ids(|i| i.replid == new_id),
        },
        "on-empty-db" if total_keys(server) == 0 => LoadMode::Direct,
        _ => LoadMode::AfterTransfer,
    }
}

fn total_keys(server: &Server) -> usize {
    let mut locked = server.keyspace.lock_all();
    (0..server.keyspace.databases())
        .map(|d| locked.dbsize(d))
        .sum()
}

/// The loading flag `mode` raises for the whole transfer (None: only while loading).
fn transfer_flag(server: &Server, mode: LoadMode) -> Option<&std::sync::atomic::AtomicBool> {
    let p = &server.persist;
    match mode {
        LoadMode::AfterTransfer => None,
        LoadMode::Direct | LoadMode::Aside { serving: false } => Some(&p.loading),
        LoadMode::Aside { serving: true } => Some(&p.async_loading),
    }
}

/// Receives the RDB and replaces the dataset with it. The payload is handed, as it arrives,
/// to a loader thread (see `transfer`): parsed into a dataset aside or into the emptied
/// one (diskless load), or written to dbfilename and loaded from there once complete.
async fn full_sync(server: &Arc<Server>, link: &mut Link, id: String, offset: u64) -> LinkResult {
    let r = &server.repl;
    r.link_state.store(LINK_TRANSFER, Ordering::Relaxed);
    r.transfer_read.store(0, Ordering::Relaxed);
    r.transfer_size.store(-1, Ordering::Relaxed);
    let head = link.line().await?;
    if let Some(e) = head.strip_prefix('-') {
        return Err(format!("MASTER aborted replication with an error: {e}"));
    }
    let Some(spec) = head.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?"
        ));
    };
    let framing = match transfer::Framing::parse(spec) {
        Some(f) => f,
        None if spec.starts_with("EOF:") => return Err("Bad EOF mark from MASTER".into()),
        None => return Err(format!("Bad bulk length from MASTER: {head}")),
    };
    let mode = load_mode(server, &id);
    let to = if mode == LoadMode::AfterTransfer {
        "to disk"
    } else {
        "to parser"
    };
    let size = match framing {
        transfer::Framing::Len(n) => {
            tracing::info!("MASTER <-> REPLICA sync: receiving {n} bytes from master {to}");
            n
        }
        transfer::Framing::Mark(_) => {
            tracing::info!(
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {to}"
            );
            0
        }
    };
    r.transfer_size.store(size as i64, Ordering::Relaxed);
    let flag = transfer_flag(server, mode);
    if let Some(f) = flag {
        crate::persist::loading_started(server, size);
        f.store(true, Ordering::SeqCst);
    }
    let mark = framing.is_mark();
    let (tx, input) = transfer::channel();
    let srv = server.clone();
    let loader = tokio::task::spawn_blocking(move || load_payload(&srv, input, mode, mark));
    let fed = feed(server, link, framing, &tx).await;
    if fed.is_ok() {
        tx.finish().await;
    } else {
        // Without `finish`, the loader reads a cut transfer and gives up.
        drop(tx);
    }
    let loaded = loader.await.map_err(|e| e.to_string()).and_then(|l| l);
    if let Some(f) = flag {
        f.store(false, Ordering::SeqCst);
    }
    let stream_db = match (fed, loaded) {
        (Ok(()), Ok(db)) => db,
        (fed, loaded) => {
            let diskless = mode != LoadMode::AfterTransfer;
            let err = match (fed, loaded) {
                (Err(Fed::Link(e)), _) => {
                    if diskless {
                        // Redis's lines for a short read while parsing from the socket.
                        tracing::warn!(
                            "Internal error in RDB reading offset {} -> Unexpected EOF reading RDB file ({e}). Failure loading rdb format from socket, assuming connection error, resuming operation.",
                            server.persist.loading_loaded_bytes.load(Ordering::Relaxed)
                        );
                        tracing::warn!(
                            "Failed trying to load the MASTER synchronization DB from socket, check server logs."
                        );
                    }
                    e
                }
                (_, Err(e)) => e,
                (_, Ok(_)) => "the RDB loader ended before the transfer".to_string(),
            };
            if let LoadMode::Aside { .. } = mode {
                tracing::info!("MASTER <-> REPLICA sync: Discarding temporary DB in background");
            }
            return Err(err);
        }
    };
    r.with_ids(|ids| {
        ids.replid = id;
        ids.replid2 = "0".repeat(40);
        ids.second_offset = -1;
    });
    r.history_discarded.store(false, Ordering::SeqCst);
    r.backlog.lock().reset(offset);
    r.master_offset.store(offset, Ordering::Relaxed);
    r.master_read_offset.store(offset, Ordering::Relaxed);
    r.master_db.store(stream_db, Ordering::Relaxed);
    // After a `swapdb` load (the others dropped them before loading), as Redis.
    drop_own_replicas(server);
    tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    Ok(())
}

/// Why the payload stopped before its end.
enum Fed {
    /// The link failed (cut, timeout): the loader reads a cut transfer.
    Link(String),
    /// The loader stopped reading (it failed): its error says why.
    LoaderGone,
}

/// Hands the payload on to the loader as it arrives, up to its end (`framing`); what
/// follows it (the replication stream) stays in `link.buf`. The channel is bounded: a slow
/// loader slows the reading (`repl-timeout` counts only waits for the primary).
async fn feed(
    server: &Server,
    link: &mut Link,
    mut framing: transfer::Framing,
    tx: &transfer::ChunkSender,
) -> Result<(), Fed> {
    let r = &server.repl;
    // What came with the header counts as read too.
    let cap = match framing {
        transfer::Framing::Len(n) => n,
        transfer::Framing::Mark(_) => u64::MAX,
    };
    let mut read = (link.buf.len() as u64).min(cap);
    r.transfer_read.store(read, Ordering::Relaxed);
    loop {
        let (chunk, done) = framing.take(&mut link.buf);
        if !chunk.is_empty() && tx.send(chunk).await.is_err() {
            return Err(Fed::LoaderGone);
        }
        if done {
            return Ok(());
        }
        let n = tokio::select! {
            n = link.read_more() => n.map_err(Fed::Link)?,
            _ = tx.closed() => return Err(Fed::LoaderGone),
        };
        r.link_last_io_ms.store(now_ms(), Ordering::Relaxed);
        read = (read + n as u64).min(cap);
        r.transfer_read.store(read, Ordering::Relaxed);
    }
}

/// Empties every database (a failed load).
fn flush_all(server: &Server) -> usize {
    let mut locked = server.keyspace.lock_all();
    let mut n = 0;
    for s in locked.shards() {
        for d in s.dbs.iter_mut() {
            n += d.len();
            d.clear();
        }
    }
    n
}

fn load_failed(e: String, from: &str) -> String {
    format!("Failed trying to load the MASTER synchronization DB from {from}: {e}")
}

/// The loader thread: reads the payload from `input` as it arrives and loads it as `mode`
/// says. `mark`: the payload came with an EOF mark, which must follow the RDB's end
/// directly. Returns the stream's database from the `repl-stream-db` aux field. On a
/// failure the dataset is left as `mode` promises (the old one, or an empty one) before
/// this returns, so that it is never served half-loaded.
///
/// With the AOF on, logging stops for the load and starts again on a new base of whatever
/// the dataset is then (Redis's stopAppendOnly and restartAOFAfterSYNC): the files must
/// never hold the old dataset followed by the new primary's stream (a restart would load
/// a mix). The new base is written before this returns, so while the replica still answers
/// -LOADING when the load was in place; a crash before it is written restarts from the old
/// files, and the replica then syncs again.
fn load_payload(
    server: &Arc<Server>,
    input: transfer::ChunkReader,
    mode: LoadMode,
    mark: bool,
) -> Result<usize, String> {
    let aof = server.persist.aof.enabled();
    if aof {
        crate::persist::aof::disable(server);
    }
    let loaded = load_payload_with_aof_off(server, input, mode, mark);
    if aof {
        // The dataset now comes from the primary: the old files cannot be appended to.
        server.persist.loaded_aof.store(false, Ordering::SeqCst);
        restart_aof(server);
    }
    loaded
}

/// Redis's restartAOFAfterSYNC: ten tries a second apart, then the process exits (a replica
/// that cannot log would lose what it acknowledges).
fn restart_aof(server: &Arc<Server>) {
    for _ in 0..10 {
        match crate::persist::aof::enable(server) {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("Failed enabling the AOF after successful master synchronization! Trying it again in one second. ({e})");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    crate::persist::fail(server, "FATAL: this replica instance finished the synchronization with its master, but the AOF can't be turned on. Exiting now.".into());
}

/// Our dataset is about to be flushed for a full sync's load: until the load completes, our
/// id and offset describe nothing a primary could continue (Redis's
/// replicationAttachToNewMaster discards the cached master here). A load aside (swapdb)
/// keeps the old dataset, and the history with it, until the swap.
fn discard_history(server: &Server) {
    server.repl.history_discarded.store(true, Ordering::SeqCst);
}

fn load_payload_with_aof_off(
    server: &Server,
    input: transfer::ChunkReader,
    mode: LoadMode,
    mark: bool,
) -> Result<usize, String> {
    let cut = input.cut_flag();
    match mode {
        LoadMode::AfterTransfer => load_after_transfer(server, input),
        LoadMode::Aside { .. } => load_aside(server, input, mark, &cut),
        LoadMode::Direct => {
            drop_own_replicas(server);
            discard_history(server);
            tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
            load_in_place(server, input, mark, &cut).map_err(|e| {
                // Redis empties what it was loading into (emptyData, functions included).
                flush_all(server);
                install_functions(server, Vec::new());
                load_failed(e, "socket")
            })
        }
    }
}

/// Disconnects this server's own replicas: they reconnect and learn our new history or
/// dataset. On REPLICAOF, when the primary's +CONTINUE changes our replication id (Redis's
/// disconnectSlaves there), and around a full sync's load (Redis's
/// replicationAttachToNewMaster): before a load into the live dataset, after a `swapdb` one
/// (whose replicas are served the old dataset meanwhile). So a replica has no replicas of
/// its own while it empties and loads its dataset, as in Redis, where a shutdown signal then
/// finds none to wait for.
fn drop_own_replicas(server: &Server) {
    for x in server.repl.replicas.lock().iter() {
        server.kill_client(x.client_id);
    }
}

/// `swapdb`: loads into a dataset aside and swaps it in once complete; a failure discards
/// it and leaves the old one.
fn load_aside(
    server: &Server,
    input: impl std::io::Read,
    mark: bool,
    cut: &AtomicBool,
) -> Result<usize, String> {
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    // One set of databases per shard, as the keyspace holds them.
    let ks = &server.keyspace;
    let mut aside: Vec<Vec<cinnabar_engine::db::Db>> = (0..ks.shard_count())
        .map(|_| {
            (0..ks.databases())
                .map(|id| cinnabar_engine::db::Db {
                    id,
                    ..Default::default()
                })
                .collect()
        })
        .collect();
    let mut libraries = Vec::new();
    let loaded = load_into(
        server,
        input,
        mark,
        cut,
        &mut libraries,
        |db, hash, key, e| {
            let shard = ks.shard_of_key(key);
            if let Some(old) = aside[shard][db].put(hash, e) {
                cinnabar_engine::lazyfree::dispose(old);
            }
        },
    );
    // A failure keeps the old dataset and the old libraries.
    let stream_db = match loaded {
        Ok(db) => db,
        Err(e) => {
            std::thread::spawn(move || drop(aside));
            return Err(load_failed(e, "socket"));
        }
    };
    tracing::info!("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
    {
        let mut locked = ks.lock_all();
        for (i, s) in locked.shards().enumerate() {
            for (live, new) in s.dbs.iter_mut().zip(aside[i].iter_mut()) {
                touch_watched(live);
                live.swap_data(new);
                touch_watched(live);
            }
        }
        install_functions(server, libraries);
    }
    // The old dataset goes on another thread.
    std::thread::spawn(move || drop(aside));
    tracing::info!("MASTER <-> REPLICA sync: Discarding old DB in background");
    Ok(stream_db)
}

/// Empties the dataset and the function libraries (Redis's emptyData) and loads `input`
/// into them, one key (one shard lock) at a time, with commands refused (-LOADING) by the
/// caller's loading flag meanwhile. A failure leaves what was loaded (the libraries parsed
/// so far too, as Redis loads them as they come); a socket load's caller empties it.
fn load_in_place(
    server: &Server,
    input: impl std::io::Read,
    mark: bool,
    cut: &AtomicBool,
) -> Result<usize, String> {
    let ks = &server.keyspace;
    {
        let mut locked = ks.lock_all();
        for s in locked.shards() {
            for d in s.dbs.iter_mut() {
                touch_watched(d);
                d.clear();
            }
        }
        install_functions(server, Vec::new());
    }
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let mut libraries = Vec::new();
    let loaded = load_into(
        server,
        input,
        mark,
        cut,
        &mut libraries,
        |db, hash, key, e| {
            let mut l = ks.lock_one(ks.shard_of_key(key));
            if let Some(old) = l.db(db, hash).put(hash, e) {
                cinnabar_engine::lazyfree::dispose(old);
            }
        },
    );
    let mut locked = ks.lock_all();
    for s in locked.shards() {
        for d in s.dbs.iter_mut() {
            touch_watched(d);
        }
    }
    if !libraries.is_empty() {
        install_functions(server, libraries);
    }
    loaded
}

/// Disk-based load (`repl-diskless-load disabled`, or `on-empty-db` with data): as Redis,
/// the received RDB becomes our dbfilename in dir (written aside as it arrives, fsynced,
/// renamed once complete), then it is loaded, with -LOADING meanwhile. The old dataset is
/// served until the transfer is complete.
fn load_after_transfer(server: &Server, mut input: transfer::ChunkReader) -> Result<usize, String> {
    let path = crate::persist::rdb_path(server);
    let mut received = false;
    crate::persist::rdbfile::write_atomically(&path, "sync", |mut f| {
        input.copy_to(&mut f)?;
        received = true;
        Ok(f)
    })
    .map_err(|e| {
        if received {
            format!(
                "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
                path.display()
            )
        } else {
            format!(
                "Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}"
            )
        }
    })?;
    tracing::info!("MASTER <-> REPLICA sync: Saved the received DB to disk");
    let fail = |e: std::io::Error| load_failed(e.to_string(), "disk");
    let f = std::fs::File::open(&path).map_err(fail)?;
    let p = &server.persist;
    crate::persist::loading_started(server, f.metadata().map(|m| m.len()).unwrap_or(0));
    p.loading.store(true, Ordering::SeqCst);
    drop_own_replicas(server);
    discard_history(server);
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    let input = std::io::BufReader::with_capacity(1 << 16, f);
    let never = AtomicBool::new(false);
    let res = load_in_place(server, input, false, &never).map_err(|e| load_failed(e, "disk"));
    p.loading.store(false, Ordering::SeqCst);
    res
}

/// Marks dirty the WATCHers of the keys `db` holds now: a load that replaces the dataset
/// touches every key present before or after it (Redis's touchAllWatchedKeysInDb).
fn touch_watched(db: &cinnabar_engine::db::Db) {
    for (key, flags) in &db.watched {
        if db.table.find(hash_key(key), key).is_some() {
            for f in flags {
                f.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn install_functions(server: &Server, libraries: Vec<Vec<u8>>) {
    crate::scripting::functions::install_loaded(
        server,
        libraries,
        crate::scripting::functions::RestorePolicy::Flush,
    );
}

/// Parses `input`, handing each key to `put(db, hash, key, entry)` and each function
/// library to `libraries` (also when it fails later); returns the stream's database. The
/// input is read to its end: with `mark` (an EOF-marked payload) nothing may follow the
/// RDB's own end. `cut` set (the transfer was cut) stops it at the next key, though bytes
/// read ahead could still be parsed.
fn load_into(
    server: &Server,
    input: impl std::io::Read,
    mark: bool,
    cut: &AtomicBool,
    libraries: &mut Vec<Vec<u8>>,
    mut put: impl FnMut(usize, u64, &[u8], cinnabar_engine::Entry),
) -> Result<usize, String> {
    use crate::persist::rdbfile::{loaded_clock, loaded_entry};
    let lim = crate::persist::limits(server);
    let now = now_ms();
    let mut stream_db = 0usize;
    let mut n = 0u64;
    let mut reader = rdb::Reader::new(input);
    let progress = &server.persist.loading_loaded_bytes;
    reader
        .load_tracked(&lim, server.keyspace.databases(), now, progress, |item| {
            match item {
                Item::Key {
                    db,
                    key,
                    value,
                    expire,
                    idle,
                    freq,
                } => {
                    if cut.load(Ordering::SeqCst) {
                        return Err(rdb::RdbError::Io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the transfer from the primary was cut",
                        )));
                    }
                    if server.is_shutting_down() {
                        return Err(rdb::RdbError::Io(crate::persist::load_abandoned()));
                    }
                    let clk = loaded_clock(&server.keyspace.access, now, idle, freq);
                    let e = loaded_entry(&key, value, expire, clk);
                    put(db, hash_key(&key), &key, e);
                    n += 1;
                    crate::persist::key_load_delay(server);
                }
                Item::Function(code) => libraries.push(code),
                // The primary's snapshot has none; one that expired in transit goes with
                // the primary's DEL.
                Item::Expired { .. } => {}
                Item::Aux(k, v) => match k.as_slice() {
                    b"repl-stream-db" => {
                        stream_db = std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    }
                    b"used-mem" => crate::persist::rdbfile::note_used_mem(server, &v),
                    _ => {}
                },
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    // The rest of the payload (a `$<len>` payload may pad the RDB; Redis ignores it).
    let extra = reader.buffered() as u64
        + std::io::copy(&mut reader.into_inner(), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
    if mark && extra > 0 {
        return Err("Replication stream EOF marker is broken".into());
    }
    server
        .persist
        .last_load_keys_loaded
        .store(n, Ordering::Relaxed);
    Ok(stream_db)
}

async fn apply_stream(server: &Arc<Server>, link: &mut Link, gen: u64) -> LinkResult {
    let r = &server.repl;
    r.link_state.store(LINK_CONNECTED, Ordering::Relaxed);
    r.link_down_since_ms.store(0, Ordering::Relaxed);
    r.link_last_io_ms.store(now_ms(), Ordering::Relaxed);
    let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
    let addr = link
        .stream
        .tcp()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let laddr = link
        .stream
        .tcp()
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let shared = Arc::new(ClientShared::new(id, addr, laddr, -1, 0));
    *shared.flags.lock() = "M".into();
    server.clients.lock().insert(id, shared.clone());
    let mut client = Client::new(id, shared.clone(), true, true);
    client.repl = Some(Box::new(ReplClient {
        is_master: true,
        ..Default::default()
    }));
    client.db = r.master_db.load(Ordering::Relaxed);
    let res = stream_loop(server, link, gen, &mut client).await;
    server.clients.lock().remove(&id);
    crate::dispatch::unwatch_all(server, &mut client);
    res
}

async fn stream_loop(
    server: &Arc<Server>,
    link: &mut Link,
    gen: u64,
    client: &mut Client,
) -> LinkResult {
    let r = &server.repl;
    let stats = server.workers[0].clone();
    let mut out = ReplyBuf::new(cinnabar_resp::Protocol::Resp2);
    let mut argv = Argv::new();
    let limits = Limits::default();
    // Bytes of a transaction not yet complete (proxied and counted at its EXEC).
    let mut pending: Vec<u8> = Vec::new();
    let mut ack_timer = crate::timer::interval(Duration::from_secs(1));
    let mut fack = Fack::default();
    loop {
        let mut pos = 0;
        // A GETACK was met: answer it (with what was applied before it), then go on.
        let mut ack_at = None;
        // CLIENT PAUSE (WRITE or ALL) holds the primary's stream too, as Redis's
        // PAUSE_ACTION_REPLICA: it is still read (slave_read_repl_offset grows) but applied
        // only once the pause ends. Registered before the check, so an unpause is not missed.
        let unpaused = server.pause.unpaused.notified();
        tokio::pin!(unpaused);
        unpaused.as_mut().enable();
        let paused_until = server.pause.state(now_ms()).map_or(0, |p| p.until);
        let paused = paused_until > 0;
        while !paused && pos < link.buf.len() {
            match parse_command(&link.buf[pos..], &limits, &mut argv) {
                Ok(Some(n)) => {
                    let bytes = &link.buf[pos..pos + n];
                    pos += n;
                    if argv.is_empty() {
                        continue;
                    }
                    let args: smallvec::SmallVec<[&[u8]; 16]> = argv.iter(bytes).collect();
                    let getack = args.len() >= 2
                        && args[0].eq_ignore_ascii_case(b"replconf")
                        && args[1].eq_ignore_ascii_case(b"getack");
                    // The command gate before the apply gate, as every command takes it
                    // first (an exclusive EXEC may need the apply gate, for BGSAVE).
                    let _cmd = (!getack).then(|| {
                        server.gate.enter(
                            crate::dispatch::gate::wants_exclusive(client, &args),
                            || server.scripts.busy.load(Ordering::Relaxed),
                        )
                    });
                    // Held until the command's bytes are in our backlog (see `apply_gate`).
                    let _gate = r.apply_gate.lock();
                    // A REPLICAOF since our last look: the new link may already have asked
                    // to continue from our offset, so nothing more may be applied or
                    // counted here (it would shift our offsets from the new primary's).
                    if r.gen.load(Ordering::SeqCst) != gen {
                        return Ok(());
                    }
                    if getack {
                        ack_at = Some(r.backlog.lock().end);
                    } else {
                        crate::dispatch::execute(server, &stats, client, &mut out, &args);
                        if out.buf.first() == Some(&b'-') {
                            log_error_to_master(server, &args, &out.buf);
                        }
                        out.clear();
                    }
                    pending.extend_from_slice(bytes);
                    if client.multi.is_none() {
                        super::feed_raw(server, &pending);
                        pending.clear();
                        if client.aof_seq > 0 {
                            let end = r.backlog.lock().end;
                            if fack.marks.len() >= 100_000 {
                                // Never fsynced (appendfsync no): keep the newest only.
                                fack.marks.pop_front();
                            }
                            fack.marks
                                .push_back((std::mem::take(&mut client.aof_seq), end));
                        }
                    }
                    if ack_at.is_some() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(format!("Protocol error from MASTER: {e}")),
            }
        }
        link.buf.advance(pos);
        let end = r.backlog.lock().end;
        r.master_offset.store(end, Ordering::Relaxed);
        r.master_db.store(client.db, Ordering::Relaxed);
        r.master_read_offset.store(
            end + (pending.len() + link.buf.len()) as u64,
            Ordering::Relaxed,
        );
        if let Some(at) = ack_at {
            send_ack(server, link, at, &mut fack).await?;
            continue;
        }
        if r.gen.load(Ordering::SeqCst) != gen
            || server.is_shutting_down()
            || client.shared.killed.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        if link.buf.capacity() - link.buf.len() < 8192 {
            link.buf.reserve(64 * 1024);
        }
        tokio::select! {
            rd = crate::timer::timeout(link.timeout, link.stream.read_some(&mut link.buf)) => {
                match rd {
                    Ok(Ok(n)) if n > 0 => r.link_last_io_ms.store(now_ms(), Ordering::Relaxed),
                    Ok(Ok(_)) => return Err("connection closed by the primary".into()),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("MASTER timeout: no data nor PING received".into()),
                }
            }
            _ = ack_timer.tick() => {
                let end = r.backlog.lock().end;
                send_ack(server, link, end, &mut fack).await?;
            }
            _ = &mut unpaused, if paused => {}
            _ = crate::timer::sleep(Duration::from_millis((paused_until - now_ms()).clamp(0, 1000) as u64)), if paused => {}
            // Commands not yet fsynced by our AOF: as Redis 7.2, tell the primary as soon as
            // the fsync moves (WAITAOF waits for it).
            _ = crate::timer::sleep(Duration::from_millis(5)), if !fack.marks.is_empty()
                && server.persist.aof.fsync.load(Ordering::Relaxed) != crate::persist::aof::FSYNC_NO => {
                let end = r.backlog.lock().end;
                let before = fack.synced;
                if fack.offset(server, end) != before {
                    send_ack(server, link, end, &mut fack).await?;
                }
            }
        }
    }
}

/// A command of the primary's stream failed here (a writable replica's diverged data, a
/// command we lack): logged as Redis's afterErrorReply does, the reply itself going nowhere.
fn log_error_to_master(server: &Server, args: &[&[u8]], reply: &[u8]) {
    let name = server
        .registry
        .resolve(args)
        .map(|e| e.def.full_name())
        .unwrap_or("<unknown>");
    super::log_error_reply(server, "replica", "master", &reply[1..], name);
}

/// The replica's AOF in stream offsets (REPLCONF ACK ... FACK, for WAITAOF): the AOF
/// position each applied command reached, until the AOF is fsynced past it.
#[derive(Default)]
struct Fack {
    marks: std::collections::VecDeque<(u64, u64)>,
    synced: u64,
}

impl Fack {
    /// The stream offset our AOF has fsynced, given everything up to `end` was applied.
    fn offset(&mut self, server: &Server, end: u64) -> u64 {
        if server.persist.aof.wait_rewrite.load(Ordering::Acquire) {
            return self.synced;
        }
        let synced = server.persist.aof.synced_seq.load(Ordering::Acquire);
        while let Some(&(seq, off)) = self.marks.front() {
            if seq > synced {
                break;
            }
            self.synced = off;
            self.marks.pop_front();
        }
        if self.marks.is_empty() {
            self.synced = end;
        }
        self.synced
    }
}

async fn send_ack(server: &Server, link: &mut Link, offset: u64, fack: &mut Fack) -> LinkResult {
    let off = offset.to_string();
    if server.persist.aof.on.load(Ordering::Relaxed) {
        let f = fack.offset(server, offset).to_string();
        return link
            .send(&[b"REPLCONF", b"ACK", off.as_bytes(), b"FACK", f.as_bytes()])
            .await;
    }
    fack.marks.clear();
    link.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await
}

/// Connects to the primary, from `bind-source-addr` when it is set (as Redis binds the
/// replication socket to it).
async fn connect_from(host: &str, port: u16, source: &str) -> std::io::Result<TcpStream> {
    if source.is_empty() {
        return TcpStream::connect((host, port)).await;
    }
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("no address for the primary"))?;
    let ip: std::net::IpAddr = source
        .parse()
        .map_err(|_| std::io::Error::other(format!("invalid bind-source-addr '{source}'")))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(std::net::SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}
