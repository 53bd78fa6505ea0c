//! Replication, Redis 7.2's protocol (PSYNC2), both sides.
//!
//! - Primary (`primary.rs`): a connection that sends PSYNC/SYNC is handed over, after its
//!   reply buffer is flushed, to a task that serves it as a replica: a full resync streams a
//!   point-in-time snapshot taken without fork (the same mechanism as BGSAVE), then the
//!   stream from the offset the snapshot was armed at; a partial resync (+CONTINUE) starts
//!   from the backlog.
//! - The stream (`backlog.rs`): the propagation stream (`crate::propagate`) appends each
//!   execution unit to one shared buffer, under the unit's shard locks, so its order is the
//!   order commands ran in; replica tasks copy from it. While no replica ever attached,
//!   `State::on` is false and the hot path pays one relaxed load (in `propagate::on`).
//! - Replica (`replica.rs`): REPLICAOF starts a link task that does the handshake, loads
//!   the primary's RDB and applies the stream as the primary's client (no propagation of
//!   its own, no expiry of its own: see `cinnabar_engine::db::ReplicaExpiry`), proxying the
//!   bytes into its own backlog so chained replicas and a later promotion keep offsets.
//! - Dispatch calls [`check`] only while `State::checks` is set (this server is a replica):
//!   read-only replica and stale-data errors.

pub mod backlog;
pub mod failover;
pub mod primary;
pub mod replica;
pub mod shared;
pub mod transfer;
pub mod writable;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use cinnabar_commands::{flags, CommandDef};
use cinnabar_engine::db::{set_replica_expiry, ReplicaExpiry};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::dispatch::Client;
use crate::server::{now_ms, Server};
use backlog::Backlog;

/// The replication ids (Redis's replid / replid2 / second_replid_offset).
pub struct Ids {
    pub replid: String,
    pub replid2: String,
    pub second_offset: i64,
}

pub fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
        .collect()
}

/// An attached replica, as its primary sees it.
pub struct Replica {
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    /// WAIT_BGSAVE, SEND_BULK or ONLINE.
    pub state: AtomicU8,
    /// The stream offset sent so far (the backlog keeps what comes after it).
    pub sent: AtomicU64,
    /// The offset the replica acknowledged (REPLCONF ACK).
    pub ack: AtomicU64,
    /// The offset the replica's AOF has fsynced (REPLCONF ACK ... FACK).
    pub aof_ack: AtomicU64,
    pub ack_time_ms: AtomicI64,
}

pub const WAIT_BGSAVE: u8 = 0;
pub const SEND_BULK: u8 = 1;
pub const ONLINE: u8 = 2;

pub const CHECK_REPLICA: u8 = 1;
pub const CHECK_MIN_REPLICAS: u8 = 2;

/// The replica side's link to its primary.
pub const LINK_NONE: u8 = 0;
pub const LINK_CONNECT: u8 = 1;
pub const LINK_CONNECTING: u8 = 2;
pub const LINK_HANDSHAKE: u8 = 3;
pub const LINK_TRANSFER: u8 = 4;
pub const LINK_CONNECTED: u8 = 5;

/// Where this server replicates from (REPLICAOF host port).
#[derive(Clone)]
pub struct Master {
    pub host: String,
    pub port: u16,
}

/// Connection-local replication state of a client: what REPLCONF told us about a replica,
/// the PSYNC it asked for, and whether the client is our primary's link.
#[derive(Default)]
pub struct ReplClient {
    pub listening_port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// PSYNC replid offset (SYNC: None): set by the command, served once its reply is out.
    pub psync: Option<Option<(String, i64)>>,
    /// This client applies the primary's stream.
    pub is_master: bool,
}

/// A client blocked in WAIT.
pub struct Waiter {
    pub offset: u64,
    pub numreplicas: usize,
    pub tx: tokio::sync::oneshot::Sender<crate::blocking::Wake>,
    pub client_id: u64,
    /// WAITAOF: (numlocal, the client's last AOF position); None for WAIT.
    pub aof: Option<(usize, u64)>,
}

#[derive(Default)]
pub struct State {
    /// This server feeds a replication stream (a primary with a backlog): `propagate`
    /// appends every execution unit to the backlog.
    pub on: AtomicBool,
    /// Dispatch runs [`check`] before each command while any bit is set: `CHECK_REPLICA`
    /// (this server is a replica), `CHECK_MIN_REPLICAS` (min-replicas-to-write is on).
    pub checks: AtomicU8,
    pub backlog: Mutex<Backlog>,
    /// Woken when the backlog grows.
    pub data: Notify,
    pub ids: Mutex<Option<Ids>>,
    pub replicas: Mutex<Vec<Arc<Replica>>>,
    /// Held while a command of the primary is applied and proxied, while a snapshot is
    /// armed, and while a new link or REPLICAOF NO ONE reads where our history ends: a
    /// snapshot never falls between a command and its bytes in our backlog, and a link
    /// task that REPLICAOF made stale (it sees `gen` moved, under this gate) applies
    /// nothing after its successor has read the offset to continue from. Reentrant: a
    /// command of the primary's stream may itself be REPLICAOF NO ONE.
    pub apply_gate: parking_lot::ReentrantMutex<()>,
    pub master: Mutex<Option<Master>>,
    /// Bumped by every REPLICAOF: a link task whose generation is stale ends.
    pub gen: AtomicU64,
    pub link_state: AtomicU8,
    pub link_last_io_ms: AtomicI64,
    pub link_down_since_ms: AtomicI64,
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicU64,
    /// The primary's stream: bytes applied (slave_repl_offset) and read.
    pub master_offset: AtomicU64,
    pub master_read_offset: AtomicU64,
    /// The database the primary's stream last selected (kept across links for +CONTINUE).
    pub master_db: AtomicUsize,
    pub sync_full: AtomicU64,
    /// Keys with a deadline that a writable replica's own clients wrote, and the databases
    /// they are in (bit n: db n; see `writable`).
    pub replica_keys: Mutex<std::collections::HashMap<Box<[u8]>, u64>>,
    /// Full syncs whose snapshot is being written (Redis's RDB child for replication: INFO
    /// `rdb_bgsave_in_progress` counts them).
    pub syncs_running: AtomicU64,
    /// The cancel flags of the full syncs whose snapshot is being written: FLUSHALL sets
    /// them, as Redis's flushAllDataAndResetRDB kills the RDB child (see [`cancel_syncs`]).
    pub sync_cancels: Mutex<Vec<Arc<AtomicBool>>>,
    /// Replicas waiting for the next diskless transfer (see `shared`).
    pub waiting: Mutex<Vec<shared::Waiting>>,
    /// The disk-backed sync whose file is being written, which later replicas join.
    pub disk_sync: Mutex<Option<Arc<primary::DiskSync>>>,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Errors sent to a replica or by a replica to its primary (INFO
    /// `unexpected_error_replies`; see [`log_error_reply`]).
    pub unexpected_error_replies: AtomicU64,
    pub waiters: Mutex<Vec<Waiter>>,
    /// The second since start-up of the last cron pass: a PING goes out on the first pass of
    /// a second that is a multiple of `repl-ping-replica-period`, as Redis pings when its
    /// 1 Hz replication cron count is a multiple of the period (so not when a replica
    /// attaches, nor when the period changes; the PINGs count in offsets).
    pub ping_second: AtomicI64,
    /// Last time a replica was attached (for repl-backlog-ttl).
    pub no_replicas_since_ms: AtomicI64,
    /// Redis's "no cached master": our id and offset do not describe the dataset we hold (a
    /// full sync began, or start-up as a replica found no history in the RDB), so the next
    /// PSYNC asks `? -1` rather than to continue them. Cleared once a sync completes, at a
    /// history restored from the RDB, and when a primary becomes a replica.
    pub history_discarded: AtomicBool,
    /// FAILOVER's state.
    pub failover: failover::Failover,
}

impl State {
    /// The current ids, created on first use.
    pub fn with_ids<T>(&self, f: impl FnOnce(&mut Ids) -> T) -> T {
        let mut g = self.ids.lock();
        let ids = g.get_or_insert_with(|| Ids {
            replid: random_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
        });
        f(ids)
    }

    pub fn is_replica(&self) -> bool {
        self.checks.load(Ordering::Relaxed) & CHECK_REPLICA != 0
    }

    pub fn offset(&self) -> u64 {
        self.backlog.lock().end
    }
}

/// Redis's afterErrorReply for an error between a primary and its replica (`from` sends it
/// to `to` after running `cmd`): logged, and counted in INFO `unexpected_error_replies`.
/// `error` is the reply without its '-'. As Redis's log shows the text its code passed,
/// a generic error is shown without its `ERR` code, another with it (`-NOPERM ...`).
pub fn log_error_reply(server: &Server, from: &str, to: &str, error: &[u8], cmd: &str) {
    let end = error
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(error.len())
        .min(4096);
    let line = String::from_utf8_lossy(&error[..end]);
    let text = match line.strip_prefix("ERR ") {
        Some(t) => t.to_string(),
        None => format!("-{line}"),
    };
    tracing::warn!(
        "== CRITICAL == This {from} is sending an error to its {to}: '{text}' after processing the command '{cmd}'"
    );
    server
        .repl
        .unexpected_error_replies
        .fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// The stream offset after the last unit this thread fed (a client's WAIT target).
    static LAST_WOFF: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The offset after the last execution unit this thread appended.
pub fn last_woff() -> u64 {
    LAST_WOFF.with(|w| w.get())
}

/// Appends an execution unit to the stream (called by `propagate::feed` while `on`).
pub fn feed(server: &Server, unit: &crate::propagate::Unit) {
    let r = &server.repl;
    let over = {
        let mut b = r.backlog.lock();
        b.append_unit(unit);
        LAST_WOFF.with(|w| w.set(b.end));
        trim_after_append(r, &mut b)
    };
    close_lagging(server, over);
    r.data.notify_waiters();
}

/// Appends raw bytes (PING, REPLCONF GETACK, a replica's proxied stream).
pub fn feed_raw(server: &Server, bytes: &[u8]) {
    let r = &server.repl;
    let over = {
        let mut b = r.backlog.lock();
        if !b.active {
            return;
        }
        b.append_raw(bytes);
        trim_after_append(r, &mut b)
    };
    close_lagging(server, over);
    r.data.notify_waiters();
}

fn trim(r: &State, b: &mut Backlog) {
    let oldest = r
        .replicas
        .lock()
        .iter()
        .map(|x| x.sent.load(Ordering::Relaxed))
        .min();
    b.trim(oldest);
}

/// After an append: once the backlog has grown 64 kB past its size, trims it, and returns
/// the replicas that need more of the stream than it may keep for them
/// (`client-output-buffer-limit replica <hard>` beyond `repl-backlog-size`). A replica's
/// output buffer is the part of the shared stream it has not been sent, as in Redis, whose
/// closeClientOnOutputBufferLimitReached frees such a replica at once, even one waiting for
/// a transfer: [`close_lagging`] does, once the backlog's lock is released.
fn trim_after_append(r: &State, b: &mut Backlog) -> Vec<u64> {
    if b.len() <= b.size + (64 << 10) {
        return Vec::new();
    }
    let limit = (b.size + b.hard_limit) as u64;
    let over = r
        .replicas
        .lock()
        .iter()
        .filter(|x| b.end.saturating_sub(x.sent.load(Ordering::Relaxed)) > limit)
        .map(|x| x.client_id)
        .collect();
    trim(r, b);
    over
}

/// Closes the replicas [`trim_after_append`] found past their limit, with Redis's log line.
fn close_lagging(server: &Server, ids: Vec<u64>) {
    if ids.is_empty() {
        return;
    }
    let lagging: Vec<_> = {
        let clients = server.clients.lock();
        ids.iter()
            .filter_map(|id| clients.get(id).cloned())
            .collect()
    };
    for c in lagging {
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            (server.client_info)(server, &c)
        );
        server.kill_client(c.id);
    }
}

/// The backlog's size limits from the configuration.
pub fn configure(server: &Server) {
    let size = server.config.get_i64("repl-backlog-size").max(16 * 1024) as usize;
    let hard = crate::replication::replica_hard_limit(server);
    let mut b = server.repl.backlog.lock();
    b.size = size;
    b.hard_limit = hard;
    drop(b);
    let on = server.config.get_i64("min-replicas-to-write") > 0
        && server.config.get_i64("min-replicas-max-lag") > 0;
    if on {
        server
            .repl
            .checks
            .fetch_or(CHECK_MIN_REPLICAS, Ordering::SeqCst);
    } else {
        server
            .repl
            .checks
            .fetch_and(!CHECK_MIN_REPLICAS, Ordering::SeqCst);
    }
}

/// `client-output-buffer-limit replica <hard>`, 0 meaning no limit (capped at 1 GB here).
fn replica_hard_limit(server: &Server) -> usize {
    let v = server.config.get("client-output-buffer-limit");
    let w: Vec<&str> = v.split_whitespace().collect();
    for c in w.chunks(4) {
        if c.len() == 4 && (c[0] == "slave" || c[0] == "replica") {
            let n = crate::config::parse_memory(c[1]).unwrap_or(256 << 20) as usize;
            return if n == 0 { 1 << 30 } else { n };
        }
    }
    256 << 20
}

/// Dispatch's check while this server is a replica (one relaxed load per command
/// otherwise): sets how lookups treat expired keys, and refuses writes on a read-only
/// replica and data commands while the link is down with `replica-serve-stale-data no`.
#[cold]
pub fn check(
    server: &Server,
    client: &Client,
    def: &CommandDef,
    args: &[&[u8]],
) -> Option<&'static str> {
    let r = &server.repl;
    // A script's flags are its declared ones (Redis's getCommandFlags).
    let cmd_flags = crate::scripting::command_flags(server, def, args);
    if r.checks.load(Ordering::Relaxed) & CHECK_REPLICA == 0 {
        // A primary with min-replicas-to-write (Redis's NOREPLICAS check).
        if cmd_flags & flags::WRITE != 0 {
            let min = server.config.get_i64("min-replicas-to-write").max(0) as usize;
            if good_replicas(server) < min {
                return Some("NOREPLICAS Not enough good replicas to write.");
            }
        }
        return None;
    }
    let master = client.repl.as_ref().is_some_and(|r| r.is_master);
    let write = cmd_flags & flags::WRITE != 0;
    set_replica_expiry(if master {
        ReplicaExpiry::Keep
    } else if write {
        ReplicaExpiry::Delete
    } else {
        ReplicaExpiry::Hide
    });
    if master {
        return None;
    }
    if write && server.config.get_bool("replica-read-only") {
        return Some("READONLY You can't write against a read only replica.");
    }
    if server.repl.link_state.load(Ordering::Relaxed) != LINK_CONNECTED
        && def.flags & flags::STALE == 0
        && !server.config.get_bool("replica-serve-stale-data")
    {
        return Some(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        );
    }
    None
}

/// Called by the cron thread: PING to replicas every `repl-ping-replica-period`.
pub fn cron(server: &Server) {
    let r = &server.repl;
    if !r.waiters.lock().is_empty() {
        primary::expire_waiters(server);
        // WAITAOF's local fsyncs are not announced: look at them ten times a second.
        primary::check_waiters(server);
    }
    let period = server.config.get_i64("repl-ping-replica-period");
    let second = server.started.elapsed().as_secs() as i64;
    let ping = ping_due(
        r.ping_second.swap(second, Ordering::Relaxed),
        second,
        period,
    );
    if !r.on.load(Ordering::Relaxed) {
        return;
    }
    failover::cron(server);
    // Appends trim the backlog only past some slack; a replica that no longer needs its
    // older part (it left, or caught up) lets it go here, as Redis's cron trims the shared
    // replication buffer incrementally.
    {
        let mut b = r.backlog.lock();
        if b.len() > b.size {
            trim(r, &mut b);
        }
    }
    let now = now_ms();
    // A replica never pings its own replicas: they get its primary's stream unchanged.
    if ping && !r.is_replica() && !r.replicas.lock().is_empty() {
        let mut b = r.backlog.lock();
        // Not before the first transfer started a history (replicas wait for it).
        if b.active {
            b.append_raw(b"*1\r\n$4\r\nPING\r\n");
        }
        drop(b);
        r.data.notify_waiters();
    }
    // repl-backlog-ttl: a primary without replicas for that long frees its backlog (and,
    // as Redis, starts a new history: nobody can continue the old one from it).
    let ttl = server.config.get_i64("repl-backlog-ttl") * 1000;
    let since = r.no_replicas_since_ms.load(Ordering::Relaxed);
    if ttl > 0 && since > 0 && now - since > ttl && !r.is_replica() && r.replicas.lock().is_empty()
    {
        r.on.store(false, Ordering::SeqCst);
        {
            let mut b = r.backlog.lock();
            let end = b.end;
            b.reset(end);
            b.active = false;
        }
        r.with_ids(|i| {
            i.replid = random_id();
            i.replid2 = "0".repeat(40);
            i.second_offset = -1;
        });
        r.no_replicas_since_ms.store(0, Ordering::Relaxed);
        crate::dispatch::sink::refresh_expiry_log(server);
        tracing::info!(
            "Replication backlog freed after {}s without replicas",
            ttl / 1000
        );
    }
}

/// Whether a cron pass in `second` (since start-up), after one in `last`, pings the
/// replicas. Redis's replicationCron runs once a second and pings when its count of runs is
/// a multiple of `repl-ping-replica-period`; counting whole seconds the same way means that
/// a change of the period does not itself cause a PING (psync2's test lengthens the period
/// on a primary and then expects every offset to stay where it is).
fn ping_due(last: i64, second: i64, period: i64) -> bool {
    second != last && second % period.max(1) == 0
}

/// DEBUG CHANGE-REPL-ID: a new replication id and no second one (Redis's
/// changeReplicationId + clearReplicationId2).
pub fn change_replid(server: &Server) {
    server.repl.with_ids(|i| {
        i.replid = random_id();
        i.replid2 = "0".repeat(40);
        i.second_offset = -1;
    });
}

/// Asks every replica for an ACK (REPLCONF GETACK in the stream). A replica proxies its
/// primary's stream unchanged and asks nothing (Redis's replicationFeedSlaves is a no-op
/// there).
pub fn ask_acks(server: &Server) {
    if server.repl.is_replica() {
        return;
    }
    feed_raw(
        server,
        b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n",
    );
}

/// Whether every replica has acknowledged the whole stream (Redis's isReadyToShutdown).
pub fn in_sync_for_shutdown(server: &Server) -> bool {
    let end = server.repl.backlog.lock().end;
    server
        .repl
        .replicas
        .lock()
        .iter()
        .all(|x| x.ack.load(Ordering::Relaxed) == end)
}

/// Logs each replica behind the stream, then how many are in sync, as Redis's
/// finishShutdown.
pub fn log_lagging_at_shutdown(server: &Server) {
    let end = server.repl.backlog.lock().end;
    let now = now_ms();
    let list = server.repl.replicas.lock().clone();
    let mut lagging = 0;
    for x in &list {
        let ack = x.ack.load(Ordering::Relaxed);
        if ack == end {
            continue;
        }
        lagging += 1;
        let state = x.state.load(Ordering::Relaxed);
        let lag = if state == ONLINE {
            (now - x.ack_time_ms.load(Ordering::Relaxed)) / 1000
        } else {
            0
        };
        tracing::info!(
            "Lagging replica {}:{} reported offset {} behind master, lag={lag}, state={}.",
            x.ip,
            x.port,
            end as i64 - ack as i64,
            state_name(state)
        );
    }
    if !list.is_empty() {
        tracing::info!(
            "{} of {} replicas are in sync when shutting down.",
            list.len() - lagging,
            list.len()
        );
    }
}

fn state_name(s: u8) -> &'static str {
    match s {
        WAIT_BGSAVE => "wait_bgsave",
        SEND_BULK => "send_bulk",
        _ => "online",
    }
}

/// The `# Replication` section of INFO, as Redis 7.2 writes it.
pub fn info_section(out: &mut String, server: &Server) {
    let r = &server.repl;
    let now = now_ms();
    let master = r.master.lock().clone();
    out.push_str("# Replication\r\n");
    let _ = write!(
        out,
        "role:{}\r\n",
        if master.is_some() { "slave" } else { "master" }
    );
    if let Some(m) = &master {
        let st = r.link_state.load(Ordering::Relaxed);
        let off = r.master_offset.load(Ordering::Relaxed);
        let read = r.master_read_offset.load(Ordering::Relaxed);
        let last_io = r.link_last_io_ms.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
            m.host,
            m.port,
            if st == LINK_CONNECTED { "up" } else { "down" },
            if st == LINK_CONNECTED { (now - last_io) / 1000 } else { -1 },
            (st == LINK_TRANSFER) as u8,
            // Redis shows 1 until it has a primary client, then its offsets (0 after a
            // full sync of an empty history).
            if st == LINK_CONNECTED { read } else { read.max(1) },
            if st == LINK_CONNECTED { off } else { off.max(1) },
        );
        if st == LINK_TRANSFER {
            let size = r.transfer_size.load(Ordering::Relaxed);
            let got = r.transfer_read.load(Ordering::Relaxed) as i64;
            let perc = if size > 0 {
                got as f64 * 100.0 / size as f64
            } else {
                0.0
            };
            let _ = write!(
                out,
                "master_sync_total_bytes:{size}\r\nmaster_sync_read_bytes:{got}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                size - got,
                (now - last_io) / 1000
            );
        }
        if st != LINK_CONNECTED {
            let since = r.link_down_since_ms.load(Ordering::Relaxed);
            let _ = write!(
                out,
                "master_link_down_since_seconds:{}\r\n",
                if since > 0 { (now - since) / 1000 } else { -1 }
            );
        }
        let _ = write!(
            out,
            "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
            server.config.get_i64("replica-priority"),
            server.config.get_bool("replica-read-only") as u8
        );
    }
    let replicas = r.replicas.lock().clone();
    let _ = write!(out, "connected_slaves:{}\r\n", replicas.len());
    let min = server.config.get_i64("min-replicas-to-write");
    let lag = server.config.get_i64("min-replicas-max-lag");
    if min > 0 && lag > 0 {
        let _ = write!(out, "min_slaves_good_slaves:{}\r\n", good_replicas(server));
    }
    for (i, x) in replicas.iter().enumerate() {
        let st = x.state.load(Ordering::Relaxed);
        let lag = if st == ONLINE {
            (now - x.ack_time_ms.load(Ordering::Relaxed)) / 1000
        } else {
            0
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={},lag={lag}\r\n",
            x.ip,
            x.port,
            state_name(st),
            x.ack.load(Ordering::Relaxed)
        );
    }
    let (replid, replid2, second) =
        r.with_ids(|i| (i.replid.clone(), i.replid2.clone(), i.second_offset));
    let b = r.backlog.lock();
    let _ = write!(
        out,
        "master_failover_state:{}\r\nmaster_replid:{replid}\r\nmaster_replid2:{replid2}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{second}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        failover::state_name(server),
        b.end,
        b.active as u8,
        server.config.get_i64("repl-backlog-size"),
        if b.active { b.first_offset() } else { 0 },
        if b.active { b.len() } else { 0 },
    );
}

/// Replicas online whose last ACK is at most `min-replicas-max-lag` seconds old.
pub fn good_replicas(server: &Server) -> usize {
    let lag = server.config.get_i64("min-replicas-max-lag") * 1000;
    let now = now_ms();
    server
        .repl
        .replicas
        .lock()
        .iter()
        .filter(|x| {
            x.state.load(Ordering::Relaxed) == ONLINE
                && now - x.ack_time_ms.load(Ordering::Relaxed) <= lag
        })
        .count()
}

/// INFO stats: sync_full, sync_partial_ok, sync_partial_err.
pub fn sync_stats(server: &Server) -> [(&'static str, u64); 3] {
    let r = &server.repl;
    [
        ("sync_full", r.sync_full.load(Ordering::Relaxed)),
        ("sync_partial_ok", r.sync_partial_ok.load(Ordering::Relaxed)),
        (
            "sync_partial_err",
            r.sync_partial_err.load(Ordering::Relaxed),
        ),
    ]
}

/// The link state as ROLE names it.
pub fn role_state(s: u8) -> &'static str {
    match s {
        LINK_CONNECT => "connect",
        LINK_CONNECTING => "connecting",
        LINK_HANDSHAKE => "handshake",
        LINK_TRANSFER => "sync",
        LINK_CONNECTED => "connected",
        _ => "none",
    }
}

/// `replicaof host port` in the configuration: start as a replica. Called at start-up just
/// before `persist::start_loading`, which clears the loading flag set here when there is
/// nothing to load.
pub fn start_from_config(server: &Server) {
    let v = server.config.get("replicaof");
    let mut it = v.split_whitespace();
    if let (Some(host), Some(port)) = (it.next(), it.next().and_then(|p| p.parse().ok())) {
        // The link (on a worker) waits for start-up loading, which may restore our history
        // from the RDB: flagged before the link exists, or the link could look before the
        // loader starts, find nothing, and ask for a full sync instead of continuing.
        server.persist.loading.store(true, Ordering::SeqCst);
        server.repl.history_discarded.store(true, Ordering::SeqCst);
        replica::replicate_from(
            server,
            Master {
                host: host.to_string(),
                port,
            },
        );
    }
}

/// The replication history a saved RDB belongs to (its `repl-*` aux fields).
pub struct SaveInfo {
    pub stream_db: i64,
    pub replid: String,
    pub offset: u64,
}

/// What an RDB saved now records: for a primary with a backlog, or a replica.
pub fn save_info(server: &Server) -> Option<SaveInfo> {
    let r = &server.repl;
    let (active, end, db) = {
        let b = r.backlog.lock();
        (b.active, b.end, b.db)
    };
    let replica = r.is_replica();
    if !active && !replica {
        return None;
    }
    let stream_db = if replica {
        r.master_db.load(Ordering::Relaxed) as i64
    } else {
        db.map_or(-1, |d| d as i64)
    };
    Some(SaveInfo {
        stream_db,
        replid: r.with_ids(|i| i.replid.clone()),
        offset: end,
    })
}

/// Start-up loaded an RDB with `repl-id` / `repl-offset`: take that history back, so
/// replicas of a restarted primary, or a restarted replica, continue it with PSYNC. A
/// primary's stream goes on with a DEL for each key that had expired in the file (as Redis
/// feeds them while it loads), so its replicas drop them too.
pub fn restore_from_rdb(
    server: &Server,
    replid: String,
    offset: u64,
    expired: &[(usize, Vec<u8>)],
) {
    if replid.len() != 40 {
        return;
    }
    let r = &server.repl;
    r.with_ids(|i| {
        if r.is_replica() {
            r.history_discarded.store(false, Ordering::SeqCst);
            i.replid = replid;
            i.replid2 = "0".repeat(40);
            i.second_offset = -1;
        } else {
            // A primary keeps its new id and continues the file's history as its second
            // one, as Redis's loadDataFromDisk: its replicas continue with PSYNC, and a
            // replica that knows only the new id cannot mistake the histories.
            i.replid2 = replid;
            i.second_offset = offset as i64 + 1;
        }
    });
    {
        let mut b = r.backlog.lock();
        b.reset(offset);
        if !r.is_replica() {
            for (db, key) in expired {
                if b.db != Some(*db) {
                    let n = db.to_string();
                    b.append_raw(
                        format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{n}\r\n", n.len()).as_bytes(),
                    );
                    b.db = Some(*db);
                }
                b.append_raw(format!("*2\r\n$3\r\nDEL\r\n${}\r\n", key.len()).as_bytes());
                b.append_raw(key);
                b.append_raw(b"\r\n");
            }
        }
    }
    r.master_offset.store(offset, Ordering::Relaxed);
    if !r.is_replica() {
        r.on.store(true, Ordering::SeqCst);
        crate::dispatch::sink::refresh_expiry_log(server);
    }
    tracing::info!("Restored the replication history from the RDB file: offset {offset}");
}

/// A write called from a script (redis.call) while replication checks are on: Redis's
/// scriptVerifyWriteCommandAllow (read-only replica, not enough good replicas).
pub fn script_write_denied(server: &Server) -> Option<&'static str> {
    let r = &server.repl;
    let c = r.checks.load(Ordering::Relaxed);
    if c & CHECK_REPLICA != 0 {
        if server.config.get_bool("replica-read-only") {
            return Some("-READONLY You can't write against a read only replica.");
        }
        return None;
    }
    if c & CHECK_MIN_REPLICAS != 0 {
        let min = server.config.get_i64("min-replicas-to-write").max(0) as usize;
        if good_replicas(server) < min {
            return Some("-NOREPLICAS Not enough good replicas to write.");
        }
    }
    None
}

/// Stops the snapshots of the running full syncs (FLUSHALL, as Redis's
/// flushAllDataAndResetRDB kills its RDB child): each writer stops at its next key, its
/// replica's link is closed, and the replica starts over with a new full sync.
pub fn cancel_syncs(server: &Server) {
    for c in server.repl.sync_cancels.lock().iter() {
        c.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::ping_due;

    #[test]
    fn pings_on_multiples_of_the_period_once_each() {
        // Period 3: seconds 3 and 6 ping, once each however many passes fall in them.
        let mut last = 0;
        let mut pinged = Vec::new();
        for pass in 1..=70 {
            let second = pass / 10;
            if ping_due(last, second, 3) {
                pinged.push(second);
            }
            last = second;
        }
        assert_eq!(pinged, vec![3, 6]);
        // Period 0 or less counts as 1: every second.
        assert!(ping_due(4, 5, 0));
        assert!(!ping_due(5, 5, 1));
    }

    #[test]
    fn a_longer_period_does_not_ping_by_itself() {
        // At second 1234 the period goes from 1 to 3600: no PING until second 3600, where the
        // former rule (a PING whenever the period's slot changed) sent one at once.
        assert!(ping_due(1233, 1234, 1));
        assert!(!ping_due(1234, 1235, 3600));
        assert!((1235..3600).all(|s| !ping_due(s - 1, s, 3600)));
        assert!(ping_due(3599, 3600, 3600));
    }
}
