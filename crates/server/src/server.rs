//! State shared by every connection: the keyspace, configuration, client registry and
//! statistics. One `Server` lives behind an `Arc` for the life of the process.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cinnabar_engine::Keyspace;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::config::Config;
use crate::dispatch::Registry;

/// Milliseconds since the Unix epoch.
#[inline]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch, read straight from `clock_gettime(CLOCK_REALTIME)`:
/// the clock `SystemTime::now` reads, without its `Duration` conversions (about 40
/// instructions less per read). A command's start and end are read with it, as Redis's
/// `call()` reads `ustime()` twice: the start is also the command's time.
#[cfg(unix)]
#[inline]
pub fn clock_us() -> i64 {
    let (sec, nsec) = read_clock(libc::CLOCK_REALTIME);
    sec * 1_000_000 + nsec / 1000
}

/// `clock_gettime(clock)` as (seconds, nanoseconds).
#[cfg(unix)]
#[inline]
// time_t and c_long are 32 bits wide on some targets.
#[allow(clippy::useless_conversion)]
fn read_clock(clock: libc::clockid_t) -> (i64, i64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the callers pass clocks that exist on
    // their targets (CLOCK_REALTIME everywhere, CLOCK_REALTIME_COARSE on Linux).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (i64::from(ts.tv_sec), i64::from(ts.tv_nsec))
}

#[cfg(not(unix))]
#[inline]
pub fn clock_us() -> i64 {
    now_us()
}

/// Milliseconds since the Unix epoch from the kernel's coarse clock (`CLOCK_REALTIME_COARSE`:
/// the time of the last timer tick, a few ms behind at most, never ahead of [`now_ms`]),
/// read without touching the hardware clock. For a connection's last interaction, which
/// Redis keeps in whole seconds.
#[cfg(target_os = "linux")]
#[inline]
pub fn coarse_now_ms() -> i64 {
    let (sec, nsec) = read_clock(libc::CLOCK_REALTIME_COARSE);
    sec * 1000 + nsec / 1_000_000
}

#[cfg(not(target_os = "linux"))]
#[inline]
pub fn coarse_now_ms() -> i64 {
    now_ms()
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Per-command counters of one worker thread. Only that thread writes them (plain
/// load-then-store, no locked instruction); INFO sums all workers.
#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Latency histogram (crate::ops::histogram), allocated when the command first runs here.
    pub latency: std::sync::OnceLock<Box<crate::ops::histogram::Histogram>>,
}

#[inline]
pub fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Counters of one worker thread.
pub struct WorkerStats {
    pub commands: Box<[CmdStat]>,
    pub total_commands: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
    /// Successful write commands (for rdb_changes_since_last_save and the save rules).
    pub dirty: AtomicU64,
    /// Error replies by error code (the first word: ERR, WRONGTYPE ...), for INFO
    /// errorstats. Touched only when a command fails.
    pub errors: Mutex<BTreeMap<String, u64>>,
}

impl WorkerStats {
    /// Counts an error reply under its code, as Redis's errorstats (the code is the first
    /// word of the message, at most 128 distinct codes are kept, as Redis does).
    #[cold]
    pub fn count_error(&self, msg: &[u8]) {
        let msg = msg.strip_prefix(b"-").unwrap_or(msg);
        let end = msg
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(msg.len());
        let code = String::from_utf8_lossy(&msg[..end]);
        let mut errors = self.errors.lock();
        if let Some(n) = errors.get_mut(code.as_ref()) {
            *n += 1;
        } else if errors.len() < 128 {
            errors.insert(code.into_owned(), 1);
        }
    }
}

impl WorkerStats {
    pub fn new(ncommands: usize) -> WorkerStats {
        WorkerStats {
            commands: (0..ncommands).map(|_| CmdStat::default()).collect(),
            total_commands: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            rejected_calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            dirty: AtomicU64::new(0),
        }
    }
}

/// What other connections (CLIENT LIST/KILL, INFO) can see of a client. The owning
/// connection updates it with relaxed stores; nobody else writes except to kill it.
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub last_interaction_ms: AtomicI64,
    pub db: AtomicUsize,
    pub last_cmd: AtomicUsize,
    pub resp: AtomicU8,
    pub qbuf: AtomicUsize,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<Vec<u8>>,
    pub lib_ver: Mutex<Vec<u8>>,
    pub flags: Mutex<String>,
    pub killed: AtomicBool,
    /// The worker thread serving this connection.
    pub worker: usize,
    /// Served over TLS: its socket carries records, so the busy responder reads and writes
    /// it through the session, and only while `tls_parked` publishes it.
    pub tls: bool,
    /// A TLS connection's session while it waits for bytes (null otherwise); see
    /// `net::stream::read_tls_parked`.
    pub tls_parked: std::sync::atomic::AtomicPtr<crate::net::stream::TlsServerStream>,
    /// Connected through the unix socket (`unixsocket`): CLIENT LIST flag `U`.
    pub unix: bool,
    /// True while the connection waits for bytes with nothing buffered (the busy responder
    /// may then answer it while its worker is stuck in a script).
    pub parked: AtomicBool,
    /// Bytes the busy responder read but did not consume; read before the next socket bytes.
    pub stash: Mutex<Vec<u8>>,
    pub has_stash: AtomicBool,
    /// Whether the connection is in MULTI, published when it parks (for the busy responder).
    pub in_multi: AtomicBool,
    /// Whether the connection has authenticated, published when it parks.
    pub authenticated: AtomicBool,
    /// What the busy responder did to the connection's transaction (see `scripting::busy`).
    pub multi_handback: AtomicU8,
    /// CLIENT LIST's buffer figures, published by the connection when it parks (and by
    /// CLIENT LIST/INFO for the calling client): query buffer capacity, reply buffer size
    /// and peak, commands queued in MULTI (-1 outside) and their bytes, and the bytes of the
    /// arguments of the command running.
    pub qbuf_cap: AtomicUsize,
    pub rbs: AtomicUsize,
    pub rbp: AtomicUsize,
    pub multi_count: AtomicI64,
    pub multi_mem: AtomicUsize,
    pub argv_mem: AtomicUsize,
    /// Reply bytes the socket has not taken yet (the connection keeps reading meanwhile).
    pub obuf_pending: AtomicUsize,
    /// Bytes held by the client's mailbox (queued, being written, spare), set by the mailbox.
    pub mailbox_mem: AtomicUsize,
    /// Watched keys, subscriptions and tracking prefixes, estimated (see `crate::climem`).
    pub extra_mem: AtomicUsize,
    /// The client's memory as last counted in `ClientMem::total` (see `crate::climem`).
    pub mem: AtomicUsize,
    /// False once the client left the count (it left, was evicted, or became a replica).
    pub mem_tracked: AtomicBool,
    /// CLIENT NO-EVICT on: never closed by client eviction.
    pub no_evict: AtomicBool,
    /// The ACL user the connection is authenticated as (None: the default user), for
    /// CLIENT LIST, CLIENT KILL USER and closing a deleted user's connections.
    pub user: Mutex<Option<Arc<crate::acl::UserHandle>>>,
    /// Wakes the connection while it waits for bytes (the cron asking an idle client to give
    /// back its query buffer).
    pub nudge: crate::net::qbuf::Nudge,
    /// While the connection waits for a command under `timeout`: when it is idle too long
    /// (coarse clock, ms since epoch); 0 otherwise. The cron checks it (`nudge_idle`).
    pub idle_deadline_ms: AtomicI64,
    /// Set by the cron when `idle_deadline_ms` passed, before nudging the connection.
    pub idle_timed_out: AtomicBool,
}

impl ClientShared {
    /// The shared record of a new client: db 0, RESP2, nothing buffered, not killed.
    /// `worker` is the worker thread that serves it.
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, worker: usize) -> ClientShared {
        ClientShared {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_interaction_ms: now_ms().into(),
            db: 0.into(),
            last_cmd: usize::MAX.into(),
            resp: 2.into(),
            qbuf: 0.into(),
            name: Default::default(),
            lib_name: Default::default(),
            lib_ver: Default::default(),
            flags: Default::default(),
            killed: false.into(),
            worker,
            tls: false,
            tls_parked: Default::default(),
            unix: false,
            parked: false.into(),
            stash: Mutex::new(Vec::new()),
            has_stash: false.into(),
            in_multi: false.into(),
            authenticated: false.into(),
            multi_handback: 0.into(),
            qbuf_cap: 0.into(),
            rbs: 0.into(),
            rbp: 0.into(),
            multi_count: (-1).into(),
            multi_mem: 0.into(),
            argv_mem: 0.into(),
            obuf_pending: 0.into(),
            mailbox_mem: 0.into(),
            extra_mem: 0.into(),
            mem: 0.into(),
            mem_tracked: true.into(),
            no_evict: false.into(),
            user: Mutex::new(None),
            nudge: Default::default(),
            idle_deadline_ms: 0.into(),
            idle_timed_out: false.into(),
        }
    }

    /// Closes the client's connection from another thread: marks it killed and shuts the
    /// socket down, which wakes its task with end-of-file. The caller must hold the clients
    /// registry lock: a connection leaves the registry before its socket is closed, so a
    /// registered client's fd is still its own (never a reused number).
    pub(crate) fn kill_locked(&self) {
        self.killed.store(true, Ordering::Relaxed);
        if self.fd >= 0 {
            // SAFETY: shutdown(2) on a descriptor we know is open (see above); it does not
            // close or free the descriptor.
            unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        }
    }
}

/// Whether `name` may be a client's name (CLIENT SETNAME, HELLO SETNAME): printable ASCII
/// without spaces.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// The text CLIENT LIST shows for one client.
pub type ClientInfoFn = fn(&Server, &ClientShared) -> String;

pub struct Server {
    pub keyspace: Keyspace,
    pub config: Config,
    pub registry: Registry,
    /// Lets an exclusive transaction run alone (see `dispatch::gate`).
    pub gate: crate::dispatch::gate::Gate,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
    pub next_client_id: AtomicU64,
    pub workers: Vec<Arc<WorkerStats>>,
    pub started: Instant,
    pub start_unix: i64,
    pub run_id: String,
    pub port: AtomicU64,
    pub listeners: Mutex<Vec<SocketAddr>>,
    pub shutdown: Notify,
    pub shutting_down: AtomicBool,
    /// Milliseconds this server's clock runs ahead of the wall clock: moved forward only by
    /// `DEBUG ADVANCE-CLOCK`, so tests of expiry and idle time need not wait. See
    /// [`Server::now_ms`].
    pub clock_shift_ms: AtomicI64,
    /// Cron cycles run so far (tests wait for cycles rather than for time).
    pub cron_runs: AtomicU64,
    /// DEBUG PAUSE-CRON 1: the cron thread skips its work until 0.
    pub cron_paused: AtomicBool,
    /// DEBUG REPLYBUFFER RESIZING 0: reply buffers keep their size after a big batch.
    pub reply_resizing: AtomicBool,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub pause: crate::pause::Pause,
    /// SHUTDOWN and signals: the grace period for replicas, the flags, blocked SHUTDOWNs.
    pub shutdown_seq: crate::shutdown::Shutdown,
    pub lastsave: AtomicI64,
    pub stat_reset_ms: AtomicI64,
    /// Number of (client, key) WATCH registrations; writes skip all WATCH work while it is 0.
    pub watching: AtomicUsize,
    /// Clients blocked in BLPOP and friends.
    pub blocking: crate::blocking::Blocking,
    /// Lua scripts and function libraries.
    pub scripts: crate::scripting::Scripts,
    /// Plain TCP listening sockets, for the busy responder (TLS ones wait for their worker).
    pub listener_fds: Mutex<Vec<i32>>,
    /// The plain TCP listening sockets' acceptors (see `net::rebind`).
    pub acceptors: Mutex<Vec<crate::net::Acceptor>>,
    /// The `port` and `bind` values the listeners were bound with.
    pub bound_spec: Mutex<(u16, String)>,
    /// TLS: the configurations new connections get (`crate::net::tls`), its port and the
    /// acceptors of its listening sockets.
    pub tls: crate::net::tls::Tls,
    pub tls_port: AtomicU64,
    pub tls_acceptors: Mutex<Vec<crate::net::Acceptor>>,
    /// The unix socket's acceptor (`unixsocket`), named by its path.
    pub unix_acceptor: Mutex<Option<crate::net::Acceptor<std::path::PathBuf>>>,
    /// The workers' runtimes, to hand connections to.
    pub worker_handles: std::sync::OnceLock<Vec<tokio::runtime::Handle>>,
    /// This server, for threads that start tasks holding it.
    pub self_ref: std::sync::OnceLock<std::sync::Weak<Server>>,
    /// Pub/Sub channels, patterns and client mailboxes.
    pub pubsub: crate::pubsub::Hub,
    /// Client-side caching tables (CLIENT TRACKING).
    pub tracking: crate::tracking::Table,
    /// RDB/AOF state (crate::persist).
    pub persist: crate::persist::State,
    /// maxmemory and eviction (crate::evict).
    pub evict: crate::evict::State,
    /// Client memory and client eviction (`maxmemory-clients`).
    pub client_mem: crate::climem::ClientMem,
    /// Replication, both sides (crate::replication).
    pub repl: crate::replication::State,
    /// MONITOR, SLOWLOG, LATENCY (crate::ops).
    pub ops: crate::ops::Ops,
    /// ACL users and log (crate::acl).
    pub acl: crate::acl::Acl,
    /// The text CLIENT LIST shows for a client (the connection family's, handed in here so
    /// that subsystems logging a client, as ACL LOG and the replication logs, import no
    /// command family).
    pub client_info: ClientInfoFn,
}

impl Server {
    pub fn new(config: Config, nworkers: usize, shards: usize) -> Server {
        let registry = crate::cmd::registry();
        let databases = config.get_i64("databases") as usize;
        let ncmd = registry.len();
        let run_id: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..40)
                .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
                .collect()
        };
        Server {
            keyspace: Keyspace::new(shards, databases),
            config,
            registry,
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            workers: (0..nworkers)
                .map(|_| Arc::new(WorkerStats::new(ncmd)))
                .collect(),
            started: Instant::now(),
            start_unix: now_ms() / 1000,
            run_id,
            port: AtomicU64::new(0),
            listeners: Mutex::new(Vec::new()),
            shutdown: Notify::new(),
            shutting_down: AtomicBool::new(false),
            clock_shift_ms: AtomicI64::new(0),
            cron_runs: AtomicU64::new(0),
            cron_paused: AtomicBool::new(false),
            reply_resizing: AtomicBool::new(true),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            pause: Default::default(),
            shutdown_seq: Default::default(),
            lastsave: AtomicI64::new(now_ms() / 1000),
            stat_reset_ms: AtomicI64::new(0),
            watching: AtomicUsize::new(0),
            gate: Default::default(),
            blocking: Default::default(),
            scripts: Default::default(),
            listener_fds: Mutex::new(Vec::new()),
            acceptors: Mutex::new(Vec::new()),
            bound_spec: Mutex::new((0, String::new())),
            tls: Default::default(),
            tls_port: AtomicU64::new(0),
            tls_acceptors: Mutex::new(Vec::new()),
            unix_acceptor: Mutex::new(None),
            worker_handles: std::sync::OnceLock::new(),
            self_ref: std::sync::OnceLock::new(),
            pubsub: Default::default(),
            tracking: Default::default(),
            persist: Default::default(),
            evict: Default::default(),
            client_mem: Default::default(),
            repl: Default::default(),
            ops: Default::default(),
            acl: crate::acl::Acl::new(),
            client_info: crate::cmd::connection::client_line,
        }
    }

    /// Asks every part of the server to stop.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        crate::net::stop_listening(self);
        // Sockets first, while every registered descriptor is still its client's: once the
        // workers are told to stop they may drop connections (and free their numbers).
        for c in self.clients.lock().values() {
            c.kill_locked();
        }
        self.shutdown.notify_waiters();
    }

    /// Kills the client with this id, if it is connected. Returns whether it was.
    pub fn kill_client(&self, id: u64) -> bool {
        let clients = self.clients.lock();
        match clients.get(&id) {
            Some(c) => {
                c.kill_locked();
                true
            }
            None => false,
        }
    }

    /// The time commands, blocked clients and active expiry run at: the wall clock plus
    /// the shift `DEBUG ADVANCE-CLOCK` made (one relaxed load; 0 outside tests).
    #[inline]
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.clock_shift_ms.load(Ordering::Relaxed)
    }

    /// [`Server::now_ms`] for a time read with [`clock_us`].
    #[inline]
    pub fn ms_of_us(&self, us: i64) -> i64 {
        us.div_euclid(1000) + self.clock_shift_ms.load(Ordering::Relaxed)
    }

    /// Moves [`Server::now_ms`] `ms` forward (never back: deadlines already logged stay
    /// in order).
    pub fn advance_clock(&self, ms: i64) {
        self.clock_shift_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// The LRU clock INFO reports (`lru_clock`): seconds, wrapping like the entries' LRU bits.
#[inline]
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & cinnabar_engine::entry::CLOCK_MAX
}
