//! `cinnabar-server [config-file] [--name value ...]`: starts the server, like redis-server.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "Cinnabar server v={} (Redis 7.2.4 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: cinnabar-server [/path/to/redis.conf] [--name value ...]");
        println!("Examples:\n  cinnabar-server\n  cinnabar-server --port 7777\n  cinnabar-server /etc/redis/redis.conf --loglevel verbose");
        return Ok(());
    }
    let config = match cinnabar_server::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    init_logging(&config);
    // The first lines as redis-server words them where tools read its log: Redis's test
    // harness waits for " PID: <pid>" followed by "Server initialized", then counts "Ready to
    // accept" lines (one per start).
    let pid = std::process::id();
    tracing::info!("oO0OoO0OoO0Oo Cinnabar is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "Cinnabar version={} (Redis 7.2.4 compatible), bits=64, pid={pid}, just started",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!("Configuration loaded");
    if config.get_bool("daemonize") {
        tracing::warn!("daemonize yes is not supported: running in the foreground");
    }
    let port = config.get("port");
    // Before the server starts: it answers (-LOADING) while it loads, and a signal then must
    // find the handlers (the default action would kill it without a word), as Redis sets
    // them up before loading.
    let signals = Signals::register()?;
    let handle = match cinnabar_server::start(config) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("{e:#}");
            if e.to_string().contains("listening socket") {
                tracing::warn!("Failed listening on port {port} (tcp), aborting.");
            }
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    };
    let server = handle.server.clone();
    signals.handle(server.clone())?;
    let addrs: Vec<String> = handle.addrs.iter().map(|a| a.to_string()).collect();
    let port = match server.port.load(std::sync::atomic::Ordering::Relaxed) {
        0 => server.tls_port.load(std::sync::atomic::Ordering::Relaxed),
        p => p,
    };
    tracing::info!("Running mode=standalone, port={port}, PID: {pid}");
    tracing::info!("Server initialized");
    // Redis says it is ready once the data set is loaded; loading runs on its own thread
    // here (clients meanwhile get -LOADING), so the line waits for it.
    while server
        .persist
        .loading
        .load(std::sync::atomic::Ordering::SeqCst)
        && !server.is_shutting_down()
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if server.is_shutting_down() {
        // Stopped while loading (a signal, SHUTDOWN): never ready.
        return finish(handle, &server);
    }
    // Redis logs one line per listener type ("Ready to accept connections tcp", "... unix",
    // "... tls"); the last one here also says where Cinnabar listens.
    let unix = server
        .unix_acceptor
        .lock()
        .as_ref()
        .map(|a| a.addr.display().to_string());
    let mut kinds = Vec::new();
    if !handle.tls_addrs.is_empty() {
        kinds.push("tls");
    }
    if unix.is_some() {
        kinds.push("unix");
    }
    if !handle.addrs.is_empty() {
        kinds.push("tcp");
    }
    let last = kinds.pop().unwrap_or("tcp");
    for kind in kinds {
        tracing::info!("Ready to accept connections {kind}");
    }
    let tls: Vec<String> = handle
        .tls_addrs
        .iter()
        .map(|a| format!("{a} (TLS)"))
        .collect();
    tracing::info!(
        "Ready to accept connections {last}; Cinnabar {} ready to accept connections on {} ({} worker threads, {} shards)",
        env!("CARGO_PKG_VERSION"),
        addrs
            .into_iter()
            .chain(tls)
            .chain(unix)
            .collect::<Vec<_>>()
            .join(", "),
        server.workers.len(),
        server.keyspace.shard_count()
    );
    finish(handle, &server)
}

/// Waits for the server to stop, then saves as the shutdown asks (unless SHUTDOWN did, or a
/// failed or abandoned load forbids it) and exits.
fn finish(
    handle: cinnabar_server::ServerHandle,
    server: &std::sync::Arc<cinnabar_server::server::Server>,
) -> anyhow::Result<()> {
    handle.wait();
    if let Some(msg) = server.persist.fatal.lock().clone() {
        tracing::error!("{msg}");
        eprintln!("{msg}");
        std::process::exit(1);
    }
    if !server
        .persist
        .shutdown_handled
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        if let Err(e) = cinnabar_server::persist::shutdown_save(server, false) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
        }
    }
    tracing::info!("Cinnabar is now ready to exit, bye bye...");
    Ok(())
}

fn init_logging(config: &cinnabar_server::config::Config) {
    let level = match config.get("loglevel").as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CINNABAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logfile = config.get("logfile");
    // A log write that fails (stdout closed: the server's output piped into a reader that
    // has gone) is dropped, as Redis's serverLog does. By default tracing reports it on
    // stderr with eprintln!, which panics when stderr is that same closed pipe, killing the
    // thread that logged (the loader's: the server stayed LOADING for good).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .log_internal_errors(false);
    if logfile.is_empty() {
        use std::io::IsTerminal;
        builder
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(std::io::stdout)
            .init();
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
        {
            Ok(f) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init(),
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// SIGINT and SIGTERM, caught from [`Signals::register`] on (a signal that comes before
/// [`Signals::handle`] waits for it).
struct Signals {
    rt: tokio::runtime::Runtime,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (int, term) = {
            let _in_runtime = rt.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        Ok(Signals { rt, int, term })
    }

    /// SIGINT and SIGTERM stop the server cleanly, from a thread of their own.
    fn handle(self, server: std::sync::Arc<cinnabar_server::server::Server>) -> anyhow::Result<()> {
        let Signals {
            rt,
            mut int,
            mut term,
        } = self;
        std::thread::Builder::new()
            .name("cinnabar-signals".into())
            .spawn(move || {
                rt.block_on(async move {
                    use cinnabar_server::shutdown::{SIGINT, SIGTERM};
                    loop {
                        let (which, num) = tokio::select! {
                            _ = int.recv() => ("SIGINT", SIGINT),
                            _ = term.recv() => ("SIGTERM", SIGTERM),
                        };
                        let p = &server.persist;
                        // A second SIGINT means "now", as in Redis: no save, no waiting.
                        if num == SIGINT && server.shutdown_seq.signalled() {
                            tracing::warn!("You insist... exiting now.");
                            cinnabar_server::persist::rdbfile::remove_save_temp_file(&server);
                            std::process::exit(1);
                        }
                        server.shutdown_seq.signal(num);
                        if p.is_loading()
                            || p.async_loading.load(std::sync::atomic::Ordering::SeqCst)
                        {
                            // As Redis's whileBlockedCron: prepareForShutdown(SHUTDOWN_NOSAVE),
                            // then exit. The load is abandoned (the loaders stop at their next
                            // key) and nothing is saved: a half-loaded dataset must not replace
                            // the file.
                            tracing::warn!(
                                "Received shutdown signal during loading, scheduling shutdown."
                            );
                            tracing::warn!("User requested shutdown...");
                            p.shutdown_handled
                                .store(true, std::sync::atomic::Ordering::SeqCst);
                            server.request_shutdown();
                        } else {
                            // The cron starts the shutdown (`cinnabar_server::shutdown`), as
                            // Redis's serverCron does once the handler set shutdown_asap.
                            tracing::warn!("Received {which} scheduling shutdown...");
                        }
                    }
                });
            })?;
        Ok(())
    }
}
