//! Listeners and worker threads.
//!
//! Each worker thread runs its own single-threaded tokio runtime. The acceptor hands every new
//! connection to one worker, round-robin, and the connection stays there for its whole life:
//! its commands run on that thread, so there is no per-command hand-off between threads and no
//! work stealing. Threads only meet at the shard locks (see docs/ARCHITECTURE.md).

pub mod conn;
pub mod fdlimit;

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
    /// The addresses actually bound (the port is known even when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The first bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
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
    let config_bind = config.get("bind");
    // Checked before anything starts.
    parse_bind(&config_bind, port)?;
    let server = Arc::new(Server::new(config, nworkers, shards));
    crate::acl::load_at_startup(&server).map_err(|e| anyhow::anyhow!(e))?;
    server.persist.set_server(&server);
    crate::evict::configure(&server);
    crate::climem::configure(&server);
    crate::replication::configure(&server);

    // Bind synchronously so that errors surface here and port 0 resolves before we return.
    let (listeners, bound, chosen_port) = bind_all(&config_bind, port)?;
    server.port.store(chosen_port as u64, Ordering::Relaxed);
    *server.listeners.lock() = bound.clone();
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
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
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
    spawn_acceptors(&server, listeners);

    threads.push(crate::cron::spawn(server.clone())?);
    threads.push(crate::evict::spawn(server.clone())?);
    threads.push(crate::scripting::busy::spawn(server.clone())?);
    Ok(ServerHandle {
        server,
        addrs: bound,
        threads,
    })
}

/// Starts an acceptor on worker 0 for each listener, for the current listener generation:
/// they stop when the server stops or when CONFIG SET port/bind replaced them.
fn spawn_acceptors(server: &Arc<Server>, listeners: Vec<std::net::TcpListener>) {
    let handles = server
        .worker_handles
        .get()
        .expect("workers started")
        .clone();
    let generation = *server.listen_gen.borrow();
    for l in listeners {
        let srv = server.clone();
        let handles = handles.clone();
        let mut gen_rx = server.listen_gen.subscribe();
        handles[0].clone().spawn(async move {
            let listener = match TcpListener::from_std(l) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("listener: {e}");
                    return;
                }
            };
            let mut next = 0usize;
            loop {
                if *gen_rx.borrow_and_update() != generation {
                    return; // replaced: dropping the listener closes its socket
                }
                let accepted = tokio::select! {
                    r = listener.accept() => r,
                    _ = srv.shutdown.notified() => return,
                    _ = gen_rx.changed() => continue,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let w = next % handles.len();
                        next = next.wrapping_add(1);
                        let stream = match stream.into_std() {
                            Ok(s) => s,
                            Err(_) => continue,
                        };
                        let srv2 = srv.clone();
                        let stats = srv.workers[w].clone();
                        handles[w].spawn(async move {
                            // Register the socket with the reactor of the worker it belongs to.
                            if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                                conn::serve(srv2, stream, stats, w).await;
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }
}

/// Binds every address of `bind` on `port` (a `-` prefix marks an address that may be
/// missing); all or nothing.
fn bind_all(
    bind: &str,
    port: u16,
) -> anyhow::Result<(Vec<std::net::TcpListener>, Vec<SocketAddr>, u16)> {
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    let mut chosen_port = port;
    for (addr, optional) in parse_bind(bind, port)? {
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
            Err(e) => bail!("Could not create server TCP listening socket {addr}: {e}"),
        }
    }
    Ok((listeners, bound, chosen_port))
}

/// CONFIG SET port / bind: binds the new addresses first and, only if every one succeeded,
/// replaces the listeners (the old sockets close; connected clients stay). On failure the
/// old listeners keep serving and Redis's error text is returned.
pub fn rebind(
    server: &Arc<Server>,
    bind: &str,
    port: u16,
    port_changed: bool,
) -> Result<(), String> {
    let (listeners, bound, chosen_port) = bind_all(bind, port).map_err(|e| {
        tracing::warn!("{e:#}");
        if port_changed {
            "Unable to listen on this port. Check server logs.".to_string()
        } else {
            "Failed to bind to specified addresses.".to_string()
        }
    })?;
    server.listen_gen.send_modify(|g| *g += 1);
    server.port.store(chosen_port as u64, Ordering::Relaxed);
    *server.listeners.lock() = bound;
    *server.listener_fds.lock() = listeners
        .iter()
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .collect();
    spawn_acceptors(server, listeners);
    Ok(())
}
