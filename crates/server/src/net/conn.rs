//! One client connection: read, parse every complete command in the buffer, execute them in
//! order, then write all their replies with one write.
//!
//! The task runs on the worker thread that accepted the connection for its whole life, and
//! commands run inline on that thread. Parsing works on slices of the read buffer, so an
//! argument is never copied before a handler stores it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cinnabar_commands::flags;
use cinnabar_resp::{parse_command, Argv, Limits, Protocol, ReplyBuf};
use tokio::io::AsyncWriteExt;

use super::stream::{read_client, read_tcp, try_read_tcp, Socket, Stream};

use super::qbuf::{self, QueryBuf};
use crate::dispatch::{execute, Client};
use crate::server::{bump, coarse_now_ms, now_ms, ClientShared, Server, WorkerStats};

/// The reply buffer a connection starts with and goes back to after a huge reply.
const READ_CHUNK: usize = 16 * 1024;
/// Arguments of a command up to this many are sliced into an array on the stack.
const ARGS_INLINE: usize = 16;
/// An argument vector holding more heap than this is given back after its batch (a command
/// with a hundred thousand arguments should not keep 2 MB of slices per connection).
const ARGV_KEEP: usize = 64 * 1024;

/// Serves one accepted connection until the client leaves, is killed, or the server stops.
/// Plain TCP and unix sockets are registered by the acceptor instead ([`Admission`], then
/// [`serve_admitted`] on their worker).
pub async fn serve<S: Stream>(
    server: Arc<Server>,
    stream: S,
    stats: Arc<WorkerStats>,
    worker: usize,
) {
    serve_with(server, stream, stats, worker, Vec::new(), 0).await
}

/// Like `serve`, for a connection the busy responder served first (see `scripting::busy`):
/// the bytes it read but did not consume, and what it did to the transaction state.
pub async fn serve_with<S: Stream>(
    server: Arc<Server>,
    stream: S,
    stats: Arc<WorkerStats>,
    worker: usize,
    first_bytes: Vec<u8>,
    multi_handback: u8,
) {
    let ends = stream.socket().endpoints();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(stream.socket()));
    let admission = Admission::new(
        &server,
        ends,
        fd,
        worker,
        S::TLS,
        first_bytes,
        multi_handback,
    );
    serve_admitted(stats, admission.holding(stream)).await
}

/// A connection's client record, made and registered when its socket is accepted.
///
/// Plain sockets are admitted by the acceptor itself, before their worker first runs them:
/// a worker stuck in a slow script may have connections it accepted but never started, and
/// the busy responder answers only the clients it finds in the registry (`scripting::busy`).
/// Such a client is marked parked from the start: nobody reads its socket until its task
/// runs, and the task reads the responder's leftovers (the stash) before its own bytes.
#[derive(Clone)]
pub struct Admission {
    server: Arc<Server>,
    shared: Arc<ClientShared>,
    is_local: bool,
    /// Why the connection is turned away (it is then not in the registry).
    refusal: Option<&'static [u8]>,
}

impl Admission {
    pub fn new(
        server: &Arc<Server>,
        ends: super::stream::Endpoints,
        fd: i32,
        worker: usize,
        tls: bool,
        first_bytes: Vec<u8>,
        multi_handback: u8,
    ) -> Admission {
        let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
        let is_local = ends.local;
        let mut shared = ClientShared::new(id, ends.addr, ends.laddr, fd, worker);
        shared.tls = tls;
        shared.unix = ends.unix;
        let authenticated = !server.config.live.has_password.load(Ordering::Relaxed);
        *shared.authenticated.get_mut() = authenticated;
        *shared.parked.get_mut() = !tls && first_bytes.is_empty() && multi_handback == 0;
        if !first_bytes.is_empty() || multi_handback != 0 {
            *shared.stash.get_mut() = first_bytes;
            *shared.multi_handback.get_mut() = multi_handback;
            *shared.has_stash.get_mut() = true;
        }
        let shared = Arc::new(shared);
        let refusal = if !is_local && crate::acl::refuse_remote(server) {
            Some(crate::acl::PROTECTED_MODE_DENIED)
        } else {
            let mut clients = server.clients.lock();
            let max = server.config.live.maxclients.load(Ordering::Relaxed) as usize;
            if clients.len() >= max {
                Some(&b"-ERR max number of clients reached\r\n"[..])
            } else {
                clients.insert(id, shared.clone());
                None
            }
        };
        if refusal.is_some() {
            server.rejected_connections.fetch_add(1, Ordering::Relaxed);
        }
        Admission {
            server: server.clone(),
            shared,
            is_local,
            refusal,
        }
    }

    /// The admission with its socket: from here on the client leaves the registry before
    /// the socket closes, whenever that happens.
    pub fn holding<S>(self, stream: S) -> Registered<S> {
        Registered {
            owns_entry: self.refusal.is_none(),
            admission: self,
            stream: Some(stream),
        }
    }
}

/// A connection's socket and its place in the clients registry. The client leaves the
/// registry before the socket closes, also when the task is dropped (its runtime shutting
/// down, perhaps before it first ran): a registered client's descriptor is then always its
/// own, never a number reused by another socket (see `kill_locked`).
pub struct Registered<S> {
    admission: Admission,
    /// None only after `convert` took it.
    stream: Option<S>,
    /// Removes the client from the registry when dropped (false when refused, or when
    /// `convert` passed the entry on).
    owns_entry: bool,
}

impl<S> Registered<S> {
    /// The same registration over the socket `f` makes of this one (a std socket registered
    /// with the worker's reactor); None, and out of the registry, when `f` fails.
    pub fn convert<T>(mut self, f: impl FnOnce(S) -> std::io::Result<T>) -> Option<Registered<T>> {
        let stream = self.stream.take()?;
        // `f` closes the socket when it fails: it runs under the registry's lock, so that no
        // CLIENT KILL sees the entry between that close and the entry's removal.
        let server = self.admission.server.clone();
        let mut clients = server.clients.lock();
        let converted = f(stream);
        let removed = match converted {
            Err(_) if self.owns_entry => clients.remove(&self.admission.shared.id),
            _ => None,
        };
        drop(clients);
        if let Some(c) = removed {
            crate::climem::forget(&server, &c);
        }
        self.owns_entry = false;
        Some(self.admission.clone().holding(converted.ok()?))
    }
}

impl<S> Drop for Registered<S> {
    /// Runs before the fields drop, so the socket closes after the client left the registry.
    fn drop(&mut self) {
        if !self.owns_entry {
            return;
        }
        let server = &self.admission.server;
        if let Some(c) = server.clients.lock().remove(&self.admission.shared.id) {
            crate::climem::forget(server, &c);
        }
    }
}

/// Serves an admitted connection until the client leaves, is killed, or the server stops.
pub async fn serve_admitted<S: Stream>(stats: Arc<WorkerStats>, mut conn: Registered<S>) {
    let server = conn.admission.server.clone();
    let stream = conn
        .stream
        .as_mut()
        .expect("a registered connection has its socket");
    if let Some(refusal) = conn.admission.refusal {
        let _ = stream.send(refusal).await;
        return;
    }
    server.total_connections.fetch_add(1, Ordering::Relaxed);
    let shared = conn.admission.shared.clone();
    let authenticated = shared.authenticated.load(Ordering::Relaxed);
    let mut client = Client::new(shared.id, shared, conn.admission.is_local, authenticated);
    run(&server, &stats, stream, &mut client).await;
    if client.monitor {
        server.ops.monitors.detach(client.id);
    }
    crate::dispatch::unwatch_all(&server, &mut client);
    server.pubsub.disconnect(&server, &mut client);
}

async fn run<S: Stream>(server: &Server, stats: &WorkerStats, stream: &mut S, client: &mut Client) {
    let mut rbuf = QueryBuf::new();
    let mut out = ReplyBuf::new(Protocol::Resp2);
    // When the query buffer is next trimmed to its recent peak (once per cron period).
    let mut next_resize_ms = 0i64;
    // Replies not yet taken by the socket are `out.buf[sent..]`. While some are pending the
    // connection keeps reading and running commands, appending to them, as Redis does; the
    // output buffer limits bound how far that goes.
    let mut sent = 0usize;
    let mut soft_since: Option<tokio::time::Instant> = None;
    let mut argv = Argv::new();
    let shared = client.shared.clone();
    // False right after a blocked command completes: commands pipelined behind it are
    // already buffered and run before the next read.
    let mut need_read = true;
    loop {
        if need_read {
            if rbuf.alloc() > 0 || !rbuf.is_empty() {
                // A connection that never sent anything holds no buffer until bytes arrive
                // (`read_or_shrink` makes room then).
                let pending = if rbuf.is_empty() {
                    None
                } else {
                    qbuf::pending_bulk(&rbuf)
                };
                rbuf.make_room(pending);
            }
            let timeout = server.config.live.timeout_secs.load(Ordering::Relaxed);
            shared
                .in_multi
                .store(client.multi.is_some(), Ordering::Relaxed);
            shared
                .authenticated
                .store(client.authenticated, Ordering::Relaxed);
            let pending = out.len() - sent;
            client.publish_buffers(rbuf.alloc(), out.buf.capacity());
            shared.obuf_pending.store(pending, Ordering::Relaxed);
            // `maxmemory-clients`: the buffers as they are now (a read may just have grown
            // the query buffer, a batch the replies) may put the clients over the limit.
            if !crate::climem::check(server, &shared) {
                return;
            }
            shared
                .parked
                .store(rbuf.is_empty() && pending == 0, Ordering::Release);
            let read = if pending > 0 {
                // Write what the socket takes while reading what comes; over the soft limit
                // for too long, the client is closed.
                let soft = obuf_soft(server, &out, sent, &mut soft_since);
                read_while_writing(stream.socket(), &mut rbuf, &out.buf, &mut sent, soft).await
            } else if timeout > 0 && !client.pubsub.subscribed() {
                // Subscribers are exempt from the idle timeout, as in Redis.
                idle_limited(
                    &shared,
                    timeout,
                    read_or_shrink(server, stream, &mut rbuf, client, stats),
                )
                .await
            } else {
                read_or_shrink(server, stream, &mut rbuf, client, stats).await
            };
            shared.parked.store(false, Ordering::Release);
            if sent > 0 && sent == out.len() {
                release_output(server, &mut out, &mut sent);
                shared.obuf_pending.store(0, Ordering::Relaxed);
            }
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::Other {
                        output_limit_reached(&shared, out.len() - sent);
                    }
                    return;
                }
            };
            if shared.has_stash.load(Ordering::Acquire) {
                take_stash(server, &shared, client, &mut rbuf);
            }
            if n == 0 || shared.killed.load(Ordering::Relaxed) {
                return;
            }
            bump(&stats.net_input_bytes, n as u64);
            // The coarse clock: no hardware clock read per batch (Redis keeps this in
            // whole seconds, from its cached time).
            shared
                .last_interaction_ms
                .store(coarse_now_ms(), Ordering::Relaxed);
        }
        need_read = true;
        // While these commands run, CLIENT LIST shows the whole buffer as qbuf (Redis keeps
        // the command being executed in its query buffer).
        shared.qbuf.store(rbuf.len(), Ordering::Relaxed);
        shared.qbuf_cap.store(rbuf.alloc(), Ordering::Relaxed);

        let mut limits = Limits {
            max_bulk_len: server
                .config
                .live
                .proto_max_bulk_len
                .load(Ordering::Relaxed) as usize,
            unauthenticated: !client.authenticated
                && server.config.live.has_password.load(Ordering::Relaxed),
            ..Limits::default()
        };
        let mut pos = 0;
        let mut close = false;
        // What the socket already took goes; the rest stays in front of the new replies.
        if sent > 0 {
            out.buf.drain(..sent);
            sent = 0;
        }
        let before = out.len();
        // `client-output-buffer-limit normal`: read once per batch (0: no limit, the default).
        // Past it the client is to be closed: the reply buffer drops further writes and long
        // replies stop early, so memory stays about the limit (Redis's close-asap).
        let obuf_hard = server.config.live.normal_obuf[0].load(Ordering::Relaxed) as usize;
        out.set_limit(if obuf_hard == 0 || client.pubsub.subscribed() {
            usize::MAX
        } else {
            obuf_hard
        });
        // Whether the batch's keys were prefetched (after its first command, so that a
        // read of one command, the usual case at pipeline 1, pays nothing for it).
        let mut prefetched = false;
        while pos < rbuf.len() {
            // Re-read per command: an AUTH earlier in the same read lifts the limits.
            limits.unauthenticated =
                !client.authenticated && server.config.live.has_password.load(Ordering::Relaxed);
            match parse_command(&rbuf[pos..], &limits, &mut argv) {
                Ok(Some(n)) => {
                    let buf = &rbuf[pos..pos + n];
                    pos += n;
                    if argv.is_empty() {
                        continue;
                    }
                    // The arguments as slices, in an uninitialised array for the usual
                    // short command: nothing to initialise beyond them and nothing to drop
                    // (a SmallVec's extend and drop cost about 140 instructions for SET).
                    let mut inline = [std::mem::MaybeUninit::<&[u8]>::uninit(); ARGS_INLINE];
                    let spilled: Vec<&[u8]>;
                    let args: &[&[u8]] = if argv.len() <= ARGS_INLINE {
                        for (slot, a) in inline.iter_mut().zip(argv.iter(buf)) {
                            slot.write(a);
                        }
                        // SAFETY: the iterator yields `argv.len()` items, so its first
                        // `argv.len()` slots were just written.
                        unsafe {
                            std::slice::from_raw_parts(inline.as_ptr().cast::<&[u8]>(), argv.len())
                        }
                    } else {
                        spilled = argv.iter(buf).collect();
                        &spilled
                    };
                    if is_http_attack(args[0]) {
                        tracing::warn!("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. Connection aborted.");
                        return;
                    }
                    if server.pause.until_ms.load(Ordering::Relaxed) > 0 {
                        wait_if_paused(server, client, args).await;
                    }
                    let mark = out.len();
                    execute(server, stats, client, &mut out, args);
                    if !prefetched && pos < rbuf.len() {
                        prefetched = true;
                        prefetch_keys(server, client, &rbuf[pos..]);
                    }
                    client.apply_reply_mode(&mut out, mark);
                    // Pushes for this client (its own messages, confirmations under CLIENT
                    // REPLY OFF) follow the reply and ignore the reply mode.
                    if !client.pubsub.bcast_batch.is_empty() {
                        crate::tracking::flush_bcast(server, client);
                    }
                    if !client.pubsub.pending.is_empty() {
                        out.buf.extend_from_slice(&client.pubsub.pending);
                        client.pubsub.pending.clear();
                    }
                    if client.close_after_reply {
                        close = true;
                        break;
                    }
                    // Over the hard output limit: closed at once, nothing of the batch sent
                    // (Redis frees such a client before writing to it).
                    if obuf_hard != 0 && out.len() > obuf_hard && !client.pubsub.subscribed() {
                        output_limit_reached(&shared, out.len());
                        return;
                    }
                    if client.blocked.is_some() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.error(format!("ERR Protocol error: {e}").as_bytes());
                    close = true;
                    break;
                }
            }
        }
        rbuf.advance(pos);
        let pending = if rbuf.is_empty() {
            None
        } else {
            qbuf::pending_bulk(&rbuf)
        };
        // As Redis, while a big argument arrives the query buffer is that argument (Redis
        // moves it to the front of its own buffer): CLIENT LIST counts from its first byte.
        let shown = match pending {
            Some(p) if p.len >= qbuf::BIG_ARG => rbuf.len() - (p.end - p.len - 2),
            _ => rbuf.len(),
        };
        shared.qbuf.store(shown, Ordering::Relaxed);
        if argv.heap_bytes() > ARGV_KEEP {
            argv = Argv::new();
        }
        // Redis's clientsCronResizeQueryBuffer, once per cron period, for a busy client (an
        // idle one is shrunk through its nudge, see `read_or_shrink`).
        let now = shared.last_interaction_ms.load(Ordering::Relaxed);
        if now >= next_resize_ms && !server.cron_paused.load(Ordering::Relaxed) {
            let hz = server.config.live.hz.load(Ordering::Relaxed).clamp(1, 500) as i64;
            next_resize_ms = now + 1000 / hz;
            rbuf.cron_resize(pending);
        }
        if !close
            && rbuf.len() as u64
                > server
                    .config
                    .live
                    .client_query_buffer_limit
                    .load(Ordering::Relaxed)
        {
            tracing::warn!("Closing client that reached max query buffer length");
            return;
        }
        if client.aof_seq > 0 {
            // appendfsync always: replies go out once the writes they report are on disk.
            crate::persist::aof::wait_synced(server, std::mem::take(&mut client.aof_seq)).await;
        }
        if !out.is_empty() {
            if out.len() > shared.rbp.load(Ordering::Relaxed) {
                shared.rbp.store(out.len(), Ordering::Relaxed);
            }
            bump(&stats.net_output_bytes, (out.len() - before) as u64);
            // The common case: the socket takes everything now. What it does not take stays
            // pending while the connection goes on reading, unless the connection is about
            // to wait for something else (closing, blocked, a subscriber's pushes), which
            // needs everything written first.
            // TLS: the session writes whole records, so replies go out at once (no pending).
            let must_flush =
                S::TLS || close || client.blocked.is_some() || client.pubsub.subscribed();
            let now = if S::TLS {
                Ok(0)
            } else {
                write_now(stream.socket(), &out.buf)
            };
            match now {
                Ok(n) => sent = n,
                Err(_) => return,
            }
            if sent < out.len() && must_flush {
                if !write_limited(server, stream, &out.buf[sent..], client.pubsub.subscribed())
                    .await
                {
                    output_limit_reached(&shared, out.len() - sent);
                    return;
                }
                sent = out.len();
            }
            if sent == out.len() {
                release_output(server, &mut out, &mut sent);
                soft_since = None;
            } else if obuf_soft(server, &out, sent, &mut soft_since)
                .is_some_and(|l| l.deadline <= tokio::time::Instant::now())
            {
                output_limit_reached(&shared, out.len() - sent);
                return;
            }
        }
        if close {
            if client.repl.as_ref().is_some_and(|r| r.psync.is_some()) {
                // PSYNC / SYNC: this connection now serves a replica (not counted as a
                // normal client's memory, never evicted).
                crate::climem::forget(server, &shared);
                crate::replication::primary::serve(
                    server, stats, stream, &mut rbuf, client, &mut out,
                )
                .await;
            }
            let _ = stream.shutdown().await;
            return;
        }
        if let Some(blocked) = client.blocked.take() {
            match wait_blocked(server, stream, &mut rbuf, client, blocked, out.proto).await {
                Some((reply, close, counted)) => {
                    if counted {
                        count_unblocked_call(server, stats, client);
                    }
                    if reply.starts_with(b"-UNBLOCKED") {
                        // CLIENT UNBLOCK ... ERROR or a change of role: the blocked
                        // command failed (Redis's updateStatsOnUnblock with an error).
                        count_unblocked_error(stats, client, &reply);
                    }
                    if client.ops_blocked.is_some() {
                        crate::ops::unblocked(server, client);
                    }
                    // The pop that served us was logged by the writer that woke us.
                    crate::persist::aof::wait_logged_so_far(server).await;
                    bump(&stats.net_output_bytes, reply.len() as u64);
                    if stream.send(&reply).await.is_err() || close {
                        return;
                    }
                    need_read = false;
                }
                None => return,
            }
        }
    }
}

/// Forgets the replies once all are written, giving back the memory of a huge batch rather
/// than keeping it per connection.
fn release_output(server: &Server, out: &mut ReplyBuf, sent: &mut usize) {
    if out.buf.capacity() > 1 << 20 && server.reply_resizing.load(Ordering::Relaxed) {
        out.buf = Vec::with_capacity(READ_CHUNK);
    }
    out.clear();
    *sent = 0;
}

/// Writes what the socket takes without waiting; the number of bytes written.
fn write_now(stream: &impl Socket, buf: &[u8]) -> std::io::Result<usize> {
    let mut pos = 0;
    while pos < buf.len() {
        match stream.try_write(&buf[pos..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => pos += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(pos)
}

/// Over the soft output limit: its size, and the instant past which the client is closed if
/// still over it (Redis closes once the time over the limit exceeds the seconds).
#[derive(Clone, Copy)]
struct SoftLimit {
    bytes: usize,
    deadline: tokio::time::Instant,
}

/// The soft output limit of `client-output-buffer-limit normal` for the bytes still
/// pending: None while under it (or without one).
fn obuf_soft(
    server: &Server,
    out: &ReplyBuf,
    sent: usize,
    since: &mut Option<tokio::time::Instant>,
) -> Option<SoftLimit> {
    let live = &server.config.live;
    let bytes = live.normal_obuf[1].load(Ordering::Relaxed) as usize;
    if bytes == 0 || out.len() - sent <= bytes {
        *since = None;
        return None;
    }
    let secs = live.normal_obuf[2].load(Ordering::Relaxed);
    let start = *since.get_or_insert_with(tokio::time::Instant::now);
    Some(SoftLimit {
        bytes,
        deadline: start + Duration::from_millis(secs * 1000 + 1),
    })
}

/// Waits until the client sends something, writing pending replies (`buf[*sent..]`) as the
/// socket takes them meanwhile. Fails once the soft limit's deadline passes with the pending
/// bytes still over it, or on a socket error.
async fn read_while_writing(
    stream: &impl Socket,
    rbuf: &mut QueryBuf,
    buf: &[u8],
    sent: &mut usize,
    mut soft: Option<SoftLimit>,
) -> std::io::Result<usize> {
    let expired =
        crate::timer::sleep_until(soft.map_or_else(tokio::time::Instant::now, |l| l.deadline));
    tokio::pin!(expired);
    while *sent < buf.len() {
        tokio::select! {
            r = read_tcp(stream, rbuf) => return r,
            w = stream.writable() => {
                w?;
                *sent += write_now(stream, &buf[*sent..])?;
                if soft.is_some_and(|l| buf.len() - *sent <= l.bytes) {
                    soft = None;
                }
            }
            _ = &mut expired, if soft.is_some() => {
                return Err(std::io::Error::other("output buffer soft limit"));
            }
        }
    }
    read_tcp(stream, rbuf).await
}

/// The call of a command that blocked, once it is unblocked (see `dispatch::count_call`).
fn count_unblocked_call(server: &Server, stats: &WorkerStats, client: &mut Client) {
    let idx = client.shared.last_cmd.load(Ordering::Relaxed);
    if let Some(stat) = stats.commands.get(idx) {
        crate::dispatch::count_call(
            server,
            stats,
            stat,
            std::mem::take(&mut client.blocked_usec),
        );
    }
}

#[cold]
fn count_unblocked_error(stats: &WorkerStats, client: &Client, reply: &[u8]) {
    let idx = client.shared.last_cmd.load(Ordering::Relaxed);
    if let Some(stat) = stats.commands.get(idx) {
        bump(&stat.failed, 1);
    }
    bump(&stats.failed_calls, 1);
    stats.count_error(reply);
}

#[cold]
fn output_limit_reached(shared: &ClientShared, len: usize) {
    tracing::warn!(
        "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits ({len} bytes).",
        shared.id,
        shared.addr
    );
}

/// Writes a batch of replies. Past the soft limit of `client-output-buffer-limit normal`,
/// the bytes still unsent must drop back under it within its seconds, or the client is
/// closed (false), as Redis closes a client over its soft limit for that long. Errors of the
/// socket are false too.
async fn write_limited<S: Stream>(
    server: &Server,
    stream: &mut S,
    buf: &[u8],
    pubsub: bool,
) -> bool {
    let live = &server.config.live;
    let soft = live.normal_obuf[1].load(Ordering::Relaxed) as usize;
    if soft == 0 || buf.len() <= soft || pubsub {
        return stream.send(buf).await.is_ok();
    }
    let secs = live.normal_obuf[2].load(Ordering::Relaxed);
    // Redis closes once the time over the limit exceeds the seconds (not at equality).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(secs * 1000 + 1);
    let mut pos = 0;
    while buf.len() - pos > soft {
        match crate::timer::timeout_at(deadline, stream.write(&buf[pos..])).await {
            Ok(Ok(n)) if n > 0 => pos += n,
            _ => return false,
        }
    }
    stream.send(&buf[pos..]).await.is_ok()
}

/// Takes back what the busy responder did while this connection's worker was stuck in a
/// script: the transaction state it changed, and the bytes it kept, which go in front of what
/// was just read (nothing was buffered before: the responder only reads idle connections).
#[cold]
fn take_stash(server: &Server, shared: &ClientShared, client: &mut Client, rbuf: &mut QueryBuf) {
    use crate::scripting::busy::{MULTI_DISCARDED, MULTI_FAILED, MULTI_STARTED};
    match shared.multi_handback.swap(0, Ordering::AcqRel) {
        MULTI_STARTED => client.multi = Some(Default::default()),
        MULTI_FAILED => {
            client.multi.get_or_insert_with(Default::default).error = true;
        }
        MULTI_DISCARDED => {
            client.multi = None;
            crate::dispatch::unwatch_all(server, client);
        }
        _ => {}
    }
    let stash = std::mem::take(&mut *shared.stash.lock());
    shared.has_stash.store(false, Ordering::Release);
    rbuf.prepend(&stash);
}

/// Waits for a blocked command to be served, to time out, to be unblocked, or for the client
/// to leave (None). Bytes the client sends meanwhile are buffered for after the wake-up. The
/// flags say to close the connection once the reply is out, and whether the command counts
/// as a call (not when it was refused on being served).
async fn wait_blocked<S: Stream>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut QueryBuf,
    client: &Client,
    mut blocked: crate::blocking::BlockedOn,
    proto: Protocol,
) -> Option<(Vec<u8>, bool, bool)> {
    use crate::blocking::Wake;
    let null: &[u8] = if proto == Protocol::Resp3 {
        b"_\r\n"
    } else {
        b"*-1\r\n"
    };
    let to_reply = |w: Result<Wake, _>| match w {
        Ok(Wake::Reply(v)) => (v, false, true),
        Ok(Wake::ReplyClose(v)) => (v, true, true),
        Ok(Wake::Rejected(v)) => (v, false, false),
        Ok(Wake::Error) => (
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec(),
            false,
            true,
        ),
        _ => (null.to_vec(), false, true),
    };
    let sleep = async {
        match blocked.deadline {
            Some(t) => {
                crate::timer::sleep(Duration::from_millis((t - now_ms()).max(0) as u64)).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        rbuf.make_room(None);
        tokio::select! {
            w = &mut blocked.rx => return Some(to_reply(w)),
            _ = &mut sleep => {
                if server.blocking.cancel(client.id) {
                    return Some((null.to_vec(), false, true));
                }
                // Served (or unblocked) just as the timeout fired: the reply is on its way.
                return Some(to_reply(blocked.rx.await));
            }
            r = stream.read_some(rbuf) => match r {
                Ok(n) if n > 0 && !client.shared.killed.load(Ordering::Relaxed) => continue,
                _ => {
                    server.blocking.cancel(client.id);
                    return None;
                }
            },
        }
    }
}

/// Waits for the next bytes (or pub/sub deliveries) like `pubsub::read_or_deliver`; while
/// waiting, a nudge from the cron (the client idle for more than 2 seconds) gives back the
/// query buffer's free space, as Redis's clientsCronResizeQueryBuffer. Subscribers are not
/// nudged: their delivery may be half-written when another branch wins.
async fn read_or_shrink<S: Stream>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut QueryBuf,
    client: &mut Client,
    stats: &WorkerStats,
) -> std::io::Result<usize> {
    if client.pubsub.mailbox.is_some() || S::TLS {
        // These read at once: make room first (a fresh connection has no buffer yet).
        if rbuf.spare_capacity_mut().is_empty() {
            let pending = qbuf::pending_bulk(rbuf);
            rbuf.make_room(pending);
        }
    }
    if client.pubsub.mailbox.is_some() {
        return crate::pubsub::read_or_deliver(server, stream, rbuf, client, stats).await;
    }
    if S::TLS {
        // A TLS session may hold decrypted bytes while the socket is not readable: read
        // directly (its query buffer is not given back while idle), with the session
        // published for the busy responder.
        return read_client(stream, rbuf, &client.shared.tls_parked).await;
    }
    // Readable, or nudged (then shrink and wait on). Polled by hand rather than through
    // `select!` and `readable()`: no random branch order per wait, and the socket's waker
    // slot instead of a readiness future linked into its waiter list and unlinked again
    // (about 300 instructions per read at pipeline depth 1).
    let shared = &*client.shared;
    let socket = stream.socket();
    std::future::poll_fn(|cx| loop {
        if let std::task::Poll::Ready(r) = socket.poll_read_ready(cx) {
            return std::task::Poll::Ready(r);
        }
        if shared.nudge.poll_wait(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        if rbuf.shrink_idle() {
            shared.qbuf_cap.store(rbuf.alloc(), Ordering::Relaxed);
        }
    })
    .await?;
    if rbuf.spare_capacity_mut().is_empty() {
        // Given back while idle: room again for this read, as Redis allocates it.
        let pending = qbuf::pending_bulk(rbuf);
        rbuf.make_room(pending);
    }
    // Just seen readable: read at once (awaiting readiness a second time cost about 150
    // instructions per read at pipeline depth 1); a readiness that was stale waits again.
    match try_read_tcp(stream.socket(), rbuf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stream.read_some(rbuf).await,
        r => r,
    }
}

/// `read` (a wait for the client's next command) under the idle `timeout` of `secs`: Ok(0),
/// i.e. close, once the client stayed silent that long, as Redis closes it. The deadline is
/// watched by the cron (`nudge_idle`), which flags and nudges a connection past it, as
/// Redis's clientsCron finds idle clients: no timer is armed and cancelled per wait (the
/// workers' runtimes have none, see `timer`), and the client is closed within a cron period
/// of its deadline.
async fn idle_limited<F>(shared: &ClientShared, secs: u64, read: F) -> std::io::Result<usize>
where
    F: std::future::Future<Output = std::io::Result<usize>>,
{
    let deadline = coarse_now_ms().saturating_add((secs as i64).saturating_mul(1000));
    shared.idle_timed_out.store(false, Ordering::Relaxed);
    shared.idle_deadline_ms.store(deadline, Ordering::Release);
    tokio::pin!(read);
    let r = std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(r) = std::future::Future::poll(read.as_mut(), cx) {
            return std::task::Poll::Ready(r);
        }
        // Registered before the flag is read: a nudge after the read is not missed. The
        // flag may be left from an earlier wait (the cron read the old deadline), hence the
        // clock check against this wait's own deadline.
        shared.nudge.register(cx.waker());
        if shared.idle_timed_out.load(Ordering::Acquire) && coarse_now_ms() >= deadline {
            return std::task::Poll::Ready(Ok(0));
        }
        std::task::Poll::Pending
    })
    .await;
    shared.idle_deadline_ms.store(0, Ordering::Relaxed);
    r
}

/// Asks the connections idle for more than 2 seconds whose query buffer wastes more than
/// 4 KiB to give it back, and closes those past their idle `timeout` (the cron calls this
/// once per period).
pub fn nudge_idle(server: &Server) {
    if server.cron_paused.load(Ordering::Relaxed) {
        return;
    }
    let now = server.now_ms();
    let timeouts = server.config.live.timeout_secs.load(Ordering::Relaxed) > 0;
    // The clock `idle_limited` sets deadlines by.
    let coarse = coarse_now_ms();
    let clients = server.clients.lock();
    for c in clients.values() {
        if timeouts {
            let deadline = c.idle_deadline_ms.load(Ordering::Acquire);
            if deadline != 0 && coarse >= deadline {
                c.idle_timed_out.store(true, Ordering::Release);
                c.nudge.nudge();
                continue;
            }
        }
        let cap = c.qbuf_cap.load(Ordering::Relaxed);
        if cap.saturating_sub(c.qbuf.load(Ordering::Relaxed)) > qbuf::MIN_WASTE
            && now - c.last_interaction_ms.load(Ordering::Relaxed) > 2000
        {
            c.nudge.nudge();
        }
    }
}

/// Browsers tricked into posting to the port send "POST" or "Host:" lines: drop them, as
/// Redis does, so cross-protocol scripting cannot reach the keyspace.
fn is_http_attack(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}

/// CLIENT PAUSE: hold the command until the pause ends, if the pause applies to it. As in
/// Redis 7.2, a command that fails its early checks (unknown, wrong arity) is answered at
/// once; under `WRITE` a command is held when it may write or replicate: by its flags, a
/// script by its declared flags (a `no-writes` script or EVAL_RO runs), EXEC by the flags of
/// what it queued, and commands being queued like any other.
async fn wait_if_paused(server: &Server, client: &Client, args: &[&[u8]]) {
    let Ok(entry) = server.registry.resolve(args) else {
        return;
    };
    if !entry.def.arity_ok(args.len()) {
        return;
    }
    loop {
        let now = now_ms();
        let Some(paused) = server.pause.state(now) else {
            return;
        };
        let until = paused.until;
        if paused.writes_only {
            let mut f = crate::scripting::command_flags(server, entry.def, args);
            if entry.def.name == "exec" {
                f |= client.multi.as_ref().map_or(0, |m| m.flags);
            }
            if f & (flags::WRITE | flags::MAY_REPLICATE) == 0 {
                return;
            }
        }
        let wait = Duration::from_millis((until - now) as u64);
        server.pause.waiting.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = crate::timer::sleep(wait) => {}
            _ = server.pause.unpaused.notified() => {}
        }
        server.pause.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Before the rest of a batch of pipelined commands runs, starts loading what their key
/// lookups will read: the index bucket, the entry's place in the entry vector, the entry's
/// header, in three passes over up to 32 keys so that each pass's loads overlap (one after
/// another, a lookup's three cache misses followed each other: `perf` put 30% of SET -P 16's
/// time in `Db::lookup`). The key is taken to be the argument after the name, whatever the
/// command: a wrong guess costs a hint, never a result. Each shard is only tried, never
/// waited for. The frames are only peeked at ([`cinnabar_resp::peek_arg`]); a batch whose
/// first two keys are the same is taken for a batch on one hot key (`prefetch_members`).
#[inline(never)]
fn prefetch_keys(server: &Server, client: &Client, buf: &[u8]) {
    let mut p = 0;
    let mut hashes = [0u64; 32];
    let mut n = 0;
    while n < hashes.len() {
        let Some((key, len)) = cinnabar_resp::peek_arg(&buf[p..], 1) else {
            break;
        };
        p += len;
        let h = cinnabar_engine::hash_key(key);
        // A pipeline on one key (INCRs of a counter, SADDs to one set) finds the key cached
        // after its first lookup; what may miss is inside its value.
        if n == 1 && hashes[0] == h {
            return prefetch_members(server, client, buf, key, h);
        }
        hashes[n] = h;
        n += 1;
    }
    if n < 2 {
        return;
    }
    for stage in cinnabar_engine::Stage::ALL {
        for &h in &hashes[..n] {
            server.keyspace.prefetch(client.db, h, stage);
        }
    }
}

/// [`prefetch_keys`] for a batch on one hot key `key` holding a big set or hash (SADDs of
/// random members to one set: a lookup's three misses, index bucket, member slot, member
/// bytes, were a third of the time): the same three passes over where the members (fields)
/// of the next commands are looked up, each taken to be the argument after the key.
fn prefetch_members(server: &Server, client: &Client, buf: &[u8], key: &[u8], key_hash: u64) {
    server.keyspace.peek_object(client.db, key_hash, key, |o| {
        use cinnabar_engine::Object;
        if !matches!(o, Object::Set(_) | Object::Hash(_)) {
            return;
        }
        let mut hashes = [0u64; 32];
        let mut n = 0;
        let mut p = 0;
        while n < hashes.len() {
            let Some((member, len)) = cinnabar_resp::peek_arg(&buf[p..], 2) else {
                break;
            };
            p += len;
            hashes[n] = cinnabar_engine::hash_key(member);
            n += 1;
        }
        for stage in cinnabar_engine::Stage::ALL {
            for &h in &hashes[..n] {
                o.prefetch_member(h, stage);
            }
        }
    });
}
