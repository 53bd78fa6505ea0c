//! Listeners and worker threads.
//!
//! Each worker thread runs its own single-threaded tokio runtime. The acceptor hands every new
//! connection to one worker, round-robin, and the connection stays there for its whole life:
//! its commands run on that thread, so there is no per-command hand-off between threads and no
//! work stealing. Threads only meet at the shard locks (see docs/ARCHITECTURE.md).

pub mod conn;
pub mod fdlimit;
pub mod qbuf;
pub mod stream;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::runtime::Handle;

use crate::config::Config;
use crate::server::Server;

/// A running server.
pub struct ServerHandle {
    pub server: Arc<Server>,
    /// The plain TCP addresses actually bound (the port is known even when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
    /// The TLS addresses (`tls-port`), empty without TLS.
    pub tls_addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The first bound address (plain TCP, or TLS when the server listens only for TLS).
    pub fn addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or_else(|| self.tls_addrs[0])
    }

    /// The first TLS address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addrs.first().copied()
    }

    /// Stops the server and waits for its threads.
    pub fn shutdown(mut self) {
        self.server.request_shutdown();
        self.join_threads();
    }

    /// Waits until the server stops (SHUTDOWN, a signal, or `Server::request_shutdown`).
    pub fn wait(mut self) {
        self.join_threads();
    }

    fn join_threads(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        remove_unix_socket(&self.server);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.server.request_shutdown();
            self.join_threads();
        }
    }
}

/// Number of worker threads: the `threads` parameter, or one per core but one. The core left
/// over serves the kernel's network work and co-located clients: on a 2-core box running
/// redis-benchmark beside the server, a second worker only fought the client for the CPU
/// (server CPU per request went from below Redis's to above it), while on 16-64 cores the
/// one core matters little.
/// Stack size of a worker thread.
const WORKER_STACK: usize = 16 << 20;

fn worker_count(config: &Config) -> usize {
    match config.get_i64("threads") {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1).max(1))
            .unwrap_or(1),
    }
}

/// Parses `bind` into addresses; a leading `-` marks one that may be missing (like ::1 on a
/// host without IPv6).
fn parse_bind(bind: &str, port: u16) -> anyhow::Result<Vec<(SocketAddr, bool)>> {
    let mut out = Vec::new();
    for word in bind.split_whitespace() {
        let (optional, host) = match word.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, word),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            h => h,
        };
        let ip: std::net::IpAddr = host
            .parse()
            .with_context(|| format!("invalid bind address '{word}'"))?;
        out.push((SocketAddr::new(ip, port), optional));
    }
    Ok(out)
}

/// Starts the server: binds, spawns the workers and the cron thread, returns at once.
pub fn start(config: Config) -> anyhow::Result<ServerHandle> {
    // One descriptor per client: raise `ulimit -n` for maxclients, or lower maxclients.
    match fdlimit::adjust(config.get_i64("maxclients").max(1) as u64) {
        fdlimit::Adjusted::Fits => {}
        fdlimit::Adjusted::Lowered(n) => config
            .set_many(&[("maxclients".to_string(), n.to_string())])
            .map_err(|(_, e)| anyhow::anyhow!("maxclients: {e}"))?,
        fdlimit::Adjusted::TooLow { current, wanted } => bail!(
            "Your current 'ulimit -n' of {current} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting."
        ),
    }
    let nworkers = worker_count(&config);
    let shards = match config.get_i64("shards") {
        n if n > 0 => n as usize,
        // Many more shards than threads: two multi-key commands (MSET of 10 keys) then
        // rarely want the same shard at once. 256 per thread measured best here.
        _ => (nworkers * 256).clamp(256, 4096),
    };
    let port = config.get_i64("port") as u16;
    let tls_port = config.get("tls-port").parse::<u16>().unwrap_or(0);
    // As in Redis, `port 0` with a TLS port or a unix socket listens on those only; without
    // either it picks a free port (Cinnabar's tests rely on that).
    let has_unix = !config.get("unixsocket").is_empty();
    let addrs = if port == 0 && (tls_port != 0 || has_unix) {
        Vec::new()
    } else {
        parse_bind(&config.get("bind"), port)?
    };
    let tls_addrs = if tls_port != 0 {
        parse_bind(&config.get("bind"), tls_port)?
    } else {
        Vec::new()
    };
    let server = Arc::new(Server::new(config, nworkers, shards));
    crate::acl::load_at_startup(&server).map_err(|e| anyhow::anyhow!(e))?;
    server.persist.set_server(&server);
    crate::evict::configure(&server);
    crate::climem::configure(&server);
    crate::replication::configure(&server);
    tls::configure(&server).map_err(|e| anyhow::anyhow!("Failed to configure TLS: {e}"))?;

    // Bind synchronously so that errors surface here and port 0 resolves before we return.
    let (listeners, bound) = bind_all(&addrs, "TCP")?;
    let (tls_listeners, tls_bound) = bind_all(&tls_addrs, "TLS")?;
    let unix_path = server.config.get("unixsocket");
    let unix_listener = if unix_path.is_empty() {
        None
    } else {
        // Kept in octal, as CONFIG GET prints it.
        let perm = u32::from_str_radix(&server.config.get("unixsocketperm"), 8).unwrap_or(0);
        let backlog = server
            .config
            .get_i64("tcp-backlog")
            .clamp(1, i32::MAX as i64) as i32;
        Some(
            bind_unix(&unix_path, perm, backlog)
                .with_context(|| format!("Failed opening Unix socket: {unix_path}"))?,
        )
    };
    if listeners.is_empty() && tls_listeners.is_empty() && unix_listener.is_none() {
        bail!("Configured to not listen anywhere, exiting.");
    }
    let chosen_port = bound.first().map_or(0, |a| a.port());
    server.port.store(chosen_port as u64, Ordering::Relaxed);
    *server.listeners.lock() = bound.clone();
    server.tls_port.store(tls_port as u64, Ordering::Relaxed);
    *server.bound_spec.lock() = (port, server.config.get("bind"));
    crate::ops::metrics::configure(&server).map_err(|e| anyhow::anyhow!("metrics-port: {e}"))?;
    *server.listener_fds.lock() = listeners
        .iter()
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .collect();
    let _ = server.self_ref.set(Arc::downgrade(&server));

    // Start the workers; each reports its runtime handle.
    let mut threads = Vec::new();
    let mut handles: Vec<Handle> = Vec::new();
    for i in 0..nworkers {
        let (tx, rx) = std::sync::mpsc::channel();
        let srv = server.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("cinnabar-worker-{i}"))
                // Room for deep recursion in scripts (nested Lua tables in replies, Lua's own
                // C calls) on top of the event loop.
                .stack_size(WORKER_STACK)
                .spawn(move || {
                    // No time driver: its clock read and wheel polls cost about 350
                    // instructions per park; timers live on `crate::timer`'s runtime.
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .build()
                        .expect("tokio runtime");
                    let _ = tx.send(rt.handle().clone());
                    rt.block_on(async move {
                        loop {
                            // Register interest before checking the flag, so a shutdown
                            // requested in between is not missed.
                            let notified = srv.shutdown.notified();
                            tokio::pin!(notified);
                            notified.as_mut().enable();
                            if srv.is_shutting_down() {
                                break;
                            }
                            notified.await;
                        }
                    });
                    // Dropping the runtime here cancels this worker's connections.
                })?,
        );
        handles.push(rx.recv().context("worker failed to start")?);
    }

    let _ = server.worker_handles.set(handles.clone());
    crate::replication::start_from_config(&server);

    // Loading (or, with nothing to load and `appendonly yes`, the AOF) starts before the first
    // client is accepted: no command may run before `-LOADING` applies, nor be missed by the
    // AOF.
    crate::persist::start_loading(&server);

    // Acceptors run on worker 0; each accepted socket goes to the next worker in turn.
    let acceptors = listeners
        .into_iter()
        .map(|l| spawn_acceptor(&server, &handles, l, false))
        .collect();
    *server.acceptors.lock() = acceptors;
    let tls_acceptors = tls_listeners
        .into_iter()
        .map(|l| spawn_acceptor(&server, &handles, l, true))
        .collect();
    *server.tls_acceptors.lock() = tls_acceptors;
    if let Some(l) = unix_listener {
        let (fd, stop) = spawn_accept_loop(&server, &handles, Listening::Unix(l));
        *server.unix_acceptor.lock() = Some(Acceptor {
            addr: unix_path.into(),
            fd,
            _stop: stop,
        });
    }

    threads.push(crate::cron::spawn(server.clone())?);
    threads.push(crate::evict::spawn(server.clone())?);
    threads.push(crate::scripting::busy::spawn(server.clone())?);
    Ok(ServerHandle {
        server,
        addrs: bound,
        tls_addrs: tls_bound,
        threads,
    })
}

/// CONFIG SET tls-port, first step: binds the new port on the `bind` addresses (nothing for
/// port 0). Nothing changes until [`replace_tls_listeners`].
pub fn bind_tls(server: &Server, port: u16) -> Result<TlsListeners, String> {
    let addrs = if port == 0 {
        Vec::new()
    } else {
        parse_bind(&server.config.get("bind"), port).map_err(|e| e.to_string())?
    };
    let (listeners, _) = bind_all(&addrs, "TLS").map_err(|e| {
        tracing::warn!("{e}");
        e.to_string()
    })?;
    Ok(TlsListeners { port, listeners })
}

/// Listening sockets bound by [`bind_tls`], not serving yet.
pub struct TlsListeners {
    port: u16,
    listeners: Vec<std::net::TcpListener>,
}

/// CONFIG SET tls-port, second step: the old TLS listeners stop accepting (their sockets close
/// when their loops end) and the new ones start.
pub fn replace_tls_listeners(server: &Arc<Server>, new: TlsListeners) {
    server.tls_port.store(new.port as u64, Ordering::Relaxed);
    let Some(handles) = server.worker_handles.get() else {
        return;
    };
    // Dropping the old acceptors stops them and closes their sockets.
    *server.tls_acceptors.lock() = new
        .listeners
        .into_iter()
        .map(|l| spawn_acceptor(server, handles, l, true))
        .collect();
}

/// Binds every address of `addrs` (the same port for all; 0 resolves to the first one the
/// kernel picks), skipping optional ones that cannot be bound.
fn bind_all(
    addrs: &[(SocketAddr, bool)],
    what: &str,
) -> anyhow::Result<(Vec<std::net::TcpListener>, Vec<SocketAddr>)> {
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    let mut chosen_port = addrs.first().map_or(0, |(a, _)| a.port());
    for &(addr, optional) in addrs {
        let addr = SocketAddr::new(addr.ip(), chosen_port);
        match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                let local = l.local_addr()?;
                chosen_port = local.port();
                bound.push(local);
                listeners.push(l);
            }
            Err(e) if optional => tracing::debug!("optional bind {addr} skipped: {e}"),
            Err(e) => bail!("Could not create server {what} listening socket {addr}: {e}"),
        }
    }
    Ok((listeners, bound))
}

/// A listening socket's acceptor: dropping it ends its loop and closes the socket. `A` names
/// the socket: its address (TCP, TLS) or its path (the unix socket).
pub struct Acceptor<A = SocketAddr> {
    pub addr: A,
    fd: i32,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl<A> Acceptor<A> {
    /// The listening socket's descriptor (the busy responder accepts on it while the
    /// acceptor's worker is stuck in a script).
    pub fn fd(&self) -> i32 {
        self.fd
    }
}

/// A listening socket, by what its connections speak.
enum Listening {
    Tcp(std::net::TcpListener),
    Tls(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// The same once registered with worker 0's reactor.
enum Listener {
    Tcp(TcpListener),
    Unix(tokio::net::UnixListener),
}

/// An accepted socket on its way to its worker (a std socket: it registers there).
enum Accepted {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => Ok(Accepted::Tcp(l.accept().await?.0.into_std()?)),
            Listener::Unix(l) => Ok(Accepted::Unix(l.accept().await?.0.into_std()?)),
        }
    }
}

/// Accepts on `l` (from worker 0) until the server stops or the returned acceptor is
/// dropped (CONFIG SET port / bind / tls-port); each accepted socket goes to the next worker
/// in turn, which serves it (on a TLS port after the handshake, with the TLS configuration
/// current then).
fn spawn_acceptor(
    server: &Arc<Server>,
    handles: &[Handle],
    l: std::net::TcpListener,
    tls: bool,
) -> Acceptor {
    let addr = l
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let l = if tls {
        Listening::Tls(l)
    } else {
        Listening::Tcp(l)
    };
    let (fd, stop) = spawn_accept_loop(server, handles, l);
    Acceptor {
        addr,
        fd,
        _stop: stop,
    }
}

/// The accept loop of any listening socket (see `spawn_acceptor`): its descriptor, and the
/// sender whose drop stops it.
fn spawn_accept_loop(
    server: &Arc<Server>,
    handles: &[Handle],
    l: Listening,
) -> (i32, tokio::sync::oneshot::Sender<()>) {
    use std::os::fd::AsRawFd;
    let (fd, tls) = match &l {
        Listening::Tcp(l) => (l.as_raw_fd(), false),
        Listening::Tls(l) => (l.as_raw_fd(), true),
        Listening::Unix(l) => (l.as_raw_fd(), false),
    };
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let srv = server.clone();
    let handles = handles.to_vec();
    handles[0].clone().spawn(async move {
        let listener = match l {
            Listening::Tcp(l) | Listening::Tls(l) => TcpListener::from_std(l).map(Listener::Tcp),
            Listening::Unix(l) => tokio::net::UnixListener::from_std(l).map(Listener::Unix),
        };
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("listener: {e}");
                return;
            }
        };
        let mut next = 0usize;
        loop {
            // Registered before the flag is read: a shutdown requested between the two still
            // wakes this loop (`notify_waiters` reaches only waiters already registered).
            let shutdown = srv.shutdown.notified();
            tokio::pin!(shutdown);
            shutdown.as_mut().enable();
            if srv.is_shutting_down() {
                return;
            }
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown => return,
                _ = &mut stopped => return, // dropping the listener closes the socket
            };
            match accepted {
                Ok(stream) => {
                    let w = next % handles.len();
                    next = next.wrapping_add(1);
                    spawn_serve(srv.clone(), &handles[w], stream, tls, w);
                }
                Err(_) if srv.is_shutting_down() => return,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    crate::timer::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
    (fd, stop)
}

/// Hands an accepted socket to worker `w`, which registers it with its reactor and serves
/// it. Each kind of socket is a task of its own: a task's allocation is its future's size,
/// and one future able to serve all three kinds was as big as the TLS one (8 KB in a debug
/// build), paid by every idle plain connection.
fn spawn_serve(srv: Arc<Server>, handle: &Handle, stream: Accepted, tls: bool, w: usize) {
    use std::os::fd::AsRawFd;
    let stats = srv.workers[w].clone();
    match stream {
        Accepted::Unix(s) => {
            let ends = stream::Endpoints::of_unix(s.local_addr());
            let admitted = conn::Admission::new(&srv, ends, s.as_raw_fd(), w, false, Vec::new(), 0);
            let conn = admitted.holding(s);
            handle.spawn(async move {
                if let Some(conn) = conn.convert(tokio::net::UnixStream::from_std) {
                    conn::serve_admitted(stats, conn).await;
                }
            });
        }
        Accepted::Tcp(s) if !tls => {
            let _ = s.set_nodelay(true);
            let ends = stream::Endpoints::of_tcp(s.peer_addr(), s.local_addr());
            let admitted = conn::Admission::new(&srv, ends, s.as_raw_fd(), w, false, Vec::new(), 0);
            let conn = admitted.holding(s);
            handle.spawn(async move {
                if let Some(conn) = conn.convert(tokio::net::TcpStream::from_std) {
                    conn::serve_admitted(stats, conn).await;
                }
            });
        }
        Accepted::Tcp(s) => {
            handle.spawn(serve_tls(srv, s, stats, w));
        }
    }
}

/// The content type of a TLS handshake record, the first byte a TLS client sends.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Runs the TLS handshake of an accepted socket, then serves it.
async fn serve_tls(
    srv: Arc<Server>,
    stream: std::net::TcpStream,
    stats: Arc<crate::server::WorkerStats>,
    w: usize,
) {
    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
        return;
    };
    let Some(acceptor) = srv.tls.acceptor() else {
        return;
    };
    let peer = stream.peer_addr().ok();
    // A TLS session starts with a handshake record. Anything else (a plain client on the TLS
    // port) is closed with a reset and no alert, as Redis's OpenSSL does: it fails on the
    // first record header, and closing with the client's bytes unread resets the connection,
    // so the client sees an I/O error rather than a TLS alert as its reply.
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(0) => return,
        _ => {
            tracing::info!(
                "Error accepting a client connection: not a TLS handshake (addr={})",
                peer.map(|a| a.to_string()).unwrap_or_default()
            );
            let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
            return;
        }
    }
    match acceptor.accept(stream).await {
        Ok(s) => conn::serve(srv, s, stats, w).await,
        Err(e) => {
            tracing::info!(
                "Error accepting a client connection: {e} (addr={})",
                peer.map(|a| a.to_string()).unwrap_or_default()
            );
        }
    }
}

/// `unixsocket`: replaces whatever file is at `path` (as Redis unlinks it first), binds,
/// gives the socket file `perm` when not 0 (before listening, as Redis), and listens.
fn bind_unix(
    path: &str,
    perm: u32,
    backlog: i32,
) -> std::io::Result<std::os::unix::net::UnixListener> {
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path); // whether it was there does not matter
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.bind(&SockAddr::unix(path)?)?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Stops accepting on every listening socket (TCP, TLS, unix) at once, before the clients'
/// connections are closed, as Redis closes its listeners first when it shuts down: a client
/// that sees its connection end and reconnects is refused rather than accepted by a server
/// that is going away. The sockets stay open until their accept loops end (those stop
/// quietly once the server is shutting down).
pub fn stop_listening(server: &Server) {
    let fds: Vec<i32> = server
        .acceptors
        .lock()
        .iter()
        .chain(server.tls_acceptors.lock().iter())
        .map(|a| a.fd)
        .collect();
    for fd in fds {
        // SAFETY: shutting down a listening socket this server owns (still open: its accept
        // loop holds it). On Linux a TCP listener stops listening: pending connections are
        // reset, new ones refused, and accept fails (EINVAL), which ends its loop.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
    // Not so a unix one: its accept would then report EAGAIN forever while epoll keeps
    // calling it ready, and the loop would spin. Its file goes instead (nobody can connect
    // by path), and dropping its acceptor ends the loop, as Redis unlinks it here.
    remove_unix_socket(server);
}

/// Shutdown: stops accepting on the unix socket and removes its file, with Redis's log
/// lines (its closeListeningSockets).
pub fn remove_unix_socket(server: &Server) {
    let Some(acceptor) = server.unix_acceptor.lock().take() else {
        return;
    };
    let path = acceptor.addr.clone();
    drop(acceptor);
    tracing::info!("Removing the unix socket file.");
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!("Error removing the unix socket file: {e}");
    }
}

/// CONFIG SET port / bind: listens on the configured port at every `bind` address, keeping
/// the listeners whose address does not change and closing the others (connections already
/// accepted stay). Port 0 stops listening on TCP, as in Redis. Nothing changes when an
/// address cannot be bound; the error is Redis's. New sockets are bound before old ones
/// close, so a new wildcard address on the same port as an old specific one (127.0.0.1 to
/// `*`) is refused rather than left half-done.
pub fn rebind(server: &Arc<Server>) -> Result<(), String> {
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock();
    let port = server.config.get_i64("port") as u16;
    let bind = server.config.get("bind");
    // Compared with what was asked (port 0 at start-up means any free port), so putting
    // the parameters back as they were changes nothing.
    let (asked, bound) = server.bound_spec.lock().clone();
    let same_port = asked == port || server.port.load(Ordering::Relaxed) == port as u64;
    if asked == port && bound == bind {
        return Ok(());
    }
    let failed = if same_port {
        "Failed to bind to specified addresses."
    } else {
        "Unable to listen on this port. Check server logs."
    };
    let Some(handles) = server.worker_handles.get() else {
        return Err(failed.into());
    };
    let mut acceptors = server.acceptors.lock();
    let mut kept = Vec::new();
    let mut fresh = Vec::new();
    if port != 0 {
        // An address that does not parse cannot be bound either: Redis's text for both.
        let addrs = parse_bind(&bind, port).map_err(|e| {
            tracing::warn!("{e:#}");
            failed.to_string()
        })?;
        for (addr, optional) in addrs {
            if let Some(i) = acceptors.iter().position(|a| a.addr == addr) {
                kept.push(i);
                continue;
            }
            match std::net::TcpListener::bind(addr).and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            }) {
                Ok(l) => fresh.push(l),
                Err(e) if optional => tracing::debug!("optional bind {addr} skipped: {e}"),
                Err(e) => {
                    tracing::warn!("Failed listening on {addr} (tcp), aborting: {e}");
                    return Err(failed.into()); // `fresh` closes as it drops
                }
            }
        }
        // `bind ""` listens nowhere on TCP, as Redis (clients may still come through the
        // unix socket or TLS).
        if kept.is_empty() && fresh.is_empty() && !bind.trim().is_empty() {
            return Err(failed.into());
        }
    }
    let old = std::mem::take(&mut *acceptors);
    for (i, a) in old.into_iter().enumerate() {
        if kept.contains(&i) {
            acceptors.push(a);
        }
    }
    for l in fresh {
        acceptors.push(spawn_acceptor(server, handles, l, false));
    }
    *server.listener_fds.lock() = acceptors.iter().map(|a| a.fd).collect();
    *server.listeners.lock() = acceptors.iter().map(|a| a.addr).collect();
    server.port.store(port as u64, Ordering::Relaxed);
    *server.bound_spec.lock() = (port, bind);
    tracing::info!("Listening on port {port} (tcp)");
    Ok(())
}
