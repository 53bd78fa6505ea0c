//! One client connection: read, parse every complete command in the buffer, execute them in
//! order, then write all their replies with one write.
//!
//! The task runs on the worker thread that accepted the connection for its whole life, and
//! commands run inline on that thread. Parsing works on slices of the read buffer, so an
//! argument is never copied before a handler stores it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use cinnabar_commands::flags;
use cinnabar_resp::{parse_command, Argv, Limits, Protocol, ReplyBuf};
use smallvec::SmallVec;
use tokio::io::AsyncWriteExt;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::dispatch::{execute, Client, ReplyMode};
use crate::server::{bump, now_ms, ClientShared, Server, WorkerStats};

/// Bytes asked of the kernel per read. Redis uses 16 KB (PROTO_IOBUF_LEN).
const READ_CHUNK: usize = 16 * 1024;

/// An argument this long is read into a buffer sized for it (Redis's PROTO_MBULK_BIG_ARG).
const BIG_ARG: usize = 32 * 1024;

/// Makes room in the read buffer before a read. For a big argument being received
/// (`whole`: the size that holds it), the buffer doubles up to exactly that size, so the
/// argument ends in a buffer of its own size (as in Redis) while a header announcing a huge
/// argument that never comes costs only what arrived.
fn grow_rbuf(rbuf: &mut BytesMut, whole: Option<usize>) {
    let spare = rbuf.capacity() - rbuf.len();
    match whole {
        Some(whole) if rbuf.capacity() >= whole => {}
        Some(whole) if spare < READ_CHUNK / 2 => {
            let cap = whole.min((2 * rbuf.capacity()).max(rbuf.len() + READ_CHUNK));
            let mut grown = BytesMut::with_capacity(cap);
            grown.extend_from_slice(rbuf);
            *rbuf = grown;
        }
        Some(_) => {}
        None if spare < READ_CHUNK / 2 => rbuf.reserve(READ_CHUNK),
        None => {}
    }
}

/// Serves one accepted connection until the client leaves, is killed, or the server stops.
pub async fn serve(server: Arc<Server>, stream: TcpStream, stats: Arc<WorkerStats>, worker: usize) {
    serve_with(server, stream, stats, worker, Vec::new(), 0).await
}

/// Like `serve`, for a connection the busy responder served first (see `scripting::busy`):
/// the bytes it read but did not consume, and what it did to the transaction state.
pub async fn serve_with(
    server: Arc<Server>,
    mut stream: TcpStream,
    stats: Arc<WorkerStats>,
    worker: usize,
    first_bytes: Vec<u8>,
    multi_handback: u8,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let is_local = stream
        .peer_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false);
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    #[cfg(not(unix))]
    let fd = -1;

    let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
    let shared = ClientShared::new(id, peer, local, fd, worker);
    if !first_bytes.is_empty() || multi_handback != 0 {
        *shared.stash.lock() = first_bytes;
        shared
            .multi_handback
            .store(multi_handback, Ordering::Relaxed);
        shared.has_stash.store(true, Ordering::Relaxed);
    }
    let shared = Arc::new(shared);
    let full = {
        let mut clients = server.clients.lock();
        let max = server.config.live.maxclients.load(Ordering::Relaxed) as usize;
        if clients.len() >= max {
            true
        } else {
            clients.insert(id, shared.clone());
            false
        }
    };
    if full {
        server.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if !is_local && crate::acl::refuse_remote(&server) {
        server.clients.lock().remove(&id);
        server.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(crate::acl::PROTECTED_MODE_DENIED).await;
        return;
    }
    // The guard owns the socket and leaves the registry before closing it, also when this
    // task is cancelled (its runtime shutting down): a registered client's descriptor is then
    // always its own, never a number reused by another socket (see `kill_locked`).
    let mut registered = Registered {
        server: &server,
        id,
        stream,
    };
    server.total_connections.fetch_add(1, Ordering::Relaxed);

    let authenticated = !server.config.live.has_password.load(Ordering::Relaxed);
    let mut client = Client::new(id, shared.clone(), is_local, authenticated);
    run(&server, &stats, &mut registered.stream, &mut client).await;
    if client.monitor {
        server.ops.monitors.detach(client.id);
    }
    crate::dispatch::unwatch_all(&server, &mut client);
    server.pubsub.disconnect(&server, &mut client);
}

/// A connection's socket and its place in the clients registry; see `serve_with`.
struct Registered<'a> {
    server: &'a Server,
    id: u64,
    stream: TcpStream,
}

impl Drop for Registered<'_> {
    /// Runs before the fields drop, so the socket closes after the client left the registry.
    fn drop(&mut self) {
        if let Some(c) = self.server.clients.lock().remove(&self.id) {
            crate::climem::forget(self.server, &c);
        }
    }
}

async fn run(server: &Server, stats: &WorkerStats, stream: &mut TcpStream, client: &mut Client) {
    let mut rbuf = BytesMut::new();
    let mut out = ReplyBuf::new(Protocol::Resp2);
    // Replies not yet taken by the socket are `out.buf[sent..]`. While some are pending the
    // connection keeps reading and running commands, appending to them, as Redis does; the
    // output buffer limits bound how far that goes.
    let mut sent = 0usize;
    let mut soft_since: Option<tokio::time::Instant> = None;
    let mut argv = Argv::new();
    // A big argument being received (Redis's PROTO_MBULK_BIG_ARG): where its bytes start in
    // `rbuf` and the buffer size that holds it whole.
    let mut big: Option<(usize, usize)> = None;
    let shared = client.shared.clone();
    // False right after a blocked command completes: commands pipelined behind it are
    // already buffered and run before the next read.
    let mut need_read = true;
    loop {
        if need_read {
            if rbuf.is_empty() {
                // Nothing buffered: an idle connection holds no read buffer (Redis frees
                // idle clients' query buffers); `read_some` takes one once bytes are there.
                if rbuf.capacity() > 0 {
                    rbuf = BytesMut::new();
                }
            } else {
                grow_rbuf(&mut rbuf, big.map(|(_, whole)| whole));
            }
            let timeout = server.config.live.timeout_secs.load(Ordering::Relaxed);
            shared
                .in_multi
                .store(client.multi.is_some(), Ordering::Relaxed);
            shared
                .authenticated
                .store(client.authenticated, Ordering::Relaxed);
            let pending = out.len() - sent;
            // A big argument counts at its announced size from its header on, as in Redis
            // (which allocates it then); the buffer itself only grows as bytes arrive.
            let qbuf_mem = rbuf.capacity().max(big.map_or(0, |(_, whole)| whole));
            client.publish_buffers(qbuf_mem, out.buf.capacity());
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
                read_while_writing(stream, &mut rbuf, &out.buf, &mut sent, soft).await
            } else if timeout > 0 && !client.pubsub.subscribed() {
                // Subscribers are exempt from the idle timeout, as in Redis.
                match tokio::time::timeout(
                    Duration::from_secs(timeout),
                    crate::pubsub::read_or_deliver(server, stream, &mut rbuf, client, stats),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Ok(0), // idle too long: close, as Redis does
                }
            } else {
                crate::pubsub::read_or_deliver(server, stream, &mut rbuf, client, stats).await
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
            shared
                .last_interaction_ms
                .store(now_ms(), Ordering::Relaxed);
        }
        need_read = true;
        // While these commands run, CLIENT LIST shows the whole buffer as qbuf (Redis keeps
        // the command being executed in its query buffer).
        shared.qbuf.store(rbuf.len(), Ordering::Relaxed);
        shared.qbuf_cap.store(rbuf.capacity(), Ordering::Relaxed);

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
        big = None;
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
                    let args: SmallVec<[&[u8]; 16]> = argv.iter(buf).collect();
                    if is_http_attack(args[0]) {
                        tracing::warn!("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. Connection aborted.");
                        return;
                    }
                    if server.pause.until_ms.load(Ordering::Relaxed) > 0 {
                        wait_if_paused(server, client, &args).await;
                    }
                    let mark = out.len();
                    execute(server, stats, client, &mut out, &args);
                    match client.reply_mode {
                        ReplyMode::On => {}
                        ReplyMode::Off => out.truncate(mark),
                        ReplyMode::Skip => {
                            out.truncate(mark);
                            client.reply_mode = ReplyMode::On;
                        }
                        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
                    }
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
                Ok(None) => {
                    big = argv
                        .pending_bulk()
                        .filter(|&(_, len)| len >= BIG_ARG)
                        .map(|(start, len)| (start, start + len + 2));
                    break;
                }
                Err(e) => {
                    out.error(format!("ERR Protocol error: {e}").as_bytes());
                    close = true;
                    break;
                }
            }
        }
        if pos == rbuf.len() && rbuf.capacity() > BIG_ARG {
            // Nothing left: drop a buffer a big argument grew rather than keep it per
            // connection (Redis hands such a buffer over to the argument).
            rbuf = BytesMut::with_capacity(READ_CHUNK);
        } else {
            rbuf.advance(pos);
        }
        // As Redis, while a big argument arrives the query buffer is that argument.
        let skip = big.map_or(0, |(start, _)| start);
        shared.qbuf.store(rbuf.len() - skip, Ordering::Relaxed);
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
            let must_flush = close || client.blocked.is_some() || client.pubsub.subscribed();
            match write_now(stream, &out.buf) {
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
                crate::replication::primary::serve(server, stream, &mut rbuf, client).await;
            }
            let _ = stream.shutdown().await;
            return;
        }
        if let Some(blocked) = client.blocked.take() {
            match wait_blocked(server, stream, &mut rbuf, client, blocked, out.proto).await {
                Some(reply) => {
                    if client.ops_blocked.is_some() {
                        crate::ops::unblocked(server, client);
                    }
                    // The pop that served us was logged by the writer that woke us.
                    crate::persist::aof::wait_logged_so_far(server).await;
                    bump(&stats.net_output_bytes, reply.len() as u64);
                    if stream.write_all(&reply).await.is_err() {
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
fn write_now(stream: &TcpStream, buf: &[u8]) -> std::io::Result<usize> {
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
    stream: &TcpStream,
    rbuf: &mut BytesMut,
    buf: &[u8],
    sent: &mut usize,
    mut soft: Option<SoftLimit>,
) -> std::io::Result<usize> {
    let expired =
        tokio::time::sleep_until(soft.map_or_else(tokio::time::Instant::now, |l| l.deadline));
    tokio::pin!(expired);
    while *sent < buf.len() {
        tokio::select! {
            r = read_some(stream, rbuf) => return r,
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
    read_some(stream, rbuf).await
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
async fn write_limited(server: &Server, stream: &mut TcpStream, buf: &[u8], pubsub: bool) -> bool {
    let live = &server.config.live;
    let soft = live.normal_obuf[1].load(Ordering::Relaxed) as usize;
    if soft == 0 || buf.len() <= soft || pubsub {
        return stream.write_all(buf).await.is_ok();
    }
    let secs = live.normal_obuf[2].load(Ordering::Relaxed);
    // Redis closes once the time over the limit exceeds the seconds (not at equality).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(secs * 1000 + 1);
    let mut pos = 0;
    while buf.len() - pos > soft {
        match tokio::time::timeout_at(deadline, stream.write(&buf[pos..])).await {
            Ok(Ok(n)) if n > 0 => pos += n,
            _ => return false,
        }
    }
    stream.write_all(&buf[pos..]).await.is_ok()
}

/// Takes back what the busy responder did while this connection's worker was stuck in a
/// script: the transaction state it changed, and the bytes it kept, which go in front of what
/// was just read (nothing was buffered before: the responder only reads idle connections).
#[cold]
fn take_stash(server: &Server, shared: &ClientShared, client: &mut Client, rbuf: &mut BytesMut) {
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
    let mut joined = BytesMut::with_capacity(stash.len() + rbuf.len() + READ_CHUNK);
    joined.extend_from_slice(&stash);
    joined.extend_from_slice(rbuf);
    *rbuf = joined;
}

/// Waits for a blocked command to be served, to time out, to be unblocked, or for the client
/// to leave (None). Bytes the client sends meanwhile are buffered for after the wake-up.
async fn wait_blocked(
    server: &Server,
    stream: &TcpStream,
    rbuf: &mut BytesMut,
    client: &Client,
    mut blocked: crate::blocking::BlockedOn,
    proto: Protocol,
) -> Option<Vec<u8>> {
    use crate::blocking::Wake;
    let null: &[u8] = if proto == Protocol::Resp3 {
        b"_\r\n"
    } else {
        b"*-1\r\n"
    };
    let to_reply = |w: Result<Wake, _>| match w {
        Ok(Wake::Reply(v)) => v,
        Ok(Wake::Error) => b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec(),
        _ => null.to_vec(),
    };
    let sleep = async {
        match blocked.deadline {
            Some(t) => {
                tokio::time::sleep(Duration::from_millis((t - now_ms()).max(0) as u64)).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
            rbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            w = &mut blocked.rx => return Some(to_reply(w)),
            _ = &mut sleep => {
                if server.blocking.cancel(client.id) {
                    return Some(null.to_vec());
                }
                // Served (or unblocked) just as the timeout fired: the reply is on its way.
                return Some(to_reply(blocked.rx.await));
            }
            r = read_some(stream, rbuf) => match r {
                Ok(n) if n > 0 && !client.shared.killed.load(Ordering::Relaxed) => continue,
                _ => {
                    server.blocking.cancel(client.id);
                    return None;
                }
            },
        }
    }
}

/// Reads what the socket has into `buf`, returning the byte count (0 at end of file).
///
/// A read that returns less than the free space means the socket is drained. Tokio would
/// learn that only from one more read failing with EAGAIN: one wasted syscall per request at
/// pipeline depth 1. Reporting the short read as WouldBlock from inside `try_io` clears the
/// readiness at once; an edge that arrives meanwhile has a newer tick and is not lost.
pub(crate) async fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        if buf.capacity() == buf.len() {
            buf.reserve(READ_CHUNK);
        }
        let mut got = 0usize;
        let res = stream.try_io(Interest::READABLE, || {
            let spare = buf.spare_capacity_mut();
            let want = spare.len();
            let n = socket2::SockRef::from(stream).recv(spare)?;
            got = n;
            if n > 0 && n < want {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match res {
            Ok(n) => {
                // SAFETY: recv initialised the first n bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if got > 0 {
                    // SAFETY: as above.
                    unsafe { buf.set_len(buf.len() + got) };
                    return Ok(got);
                }
            }
            Err(e) => return Err(e),
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
        let until = server.pause.until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        if until == 0 || until <= now {
            return;
        }
        if server.pause.writes_only.load(Ordering::Relaxed) {
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
            _ = tokio::time::sleep(wait) => {}
            _ = server.pause.unpaused.notified() => {}
        }
        server.pause.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}
