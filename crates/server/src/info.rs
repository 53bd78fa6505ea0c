//! INFO: the server's state as `field:value` lines grouped in `# Section` blocks, with the
//! section names, field names, order and number formats of Redis 7.2's INFO, so that
//! monitoring tools and client libraries that parse it work unchanged.
//!
//! Fields for subsystems Cinnabar does not have (replication, forks, defragmentation...) are
//! still printed, with the value an idle Redis would show, because tools look fields up by
//! name and treat a missing one as an error; persistence, scripting, memory and eviction
//! report their real state. Cinnabar adds a few
//! fields of its own to the server section (`cinnabar_*`).
//!
//! Rates (`instantaneous_*`) are computed from samples taken whenever INFO itself runs (see
//! [`Sampler`]); memory figures come from the counting allocator (`crate::alloc`), the
//! peak being tracked by the eviction thread's ticks and by INFO (`crate::evict`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cinnabar_engine::{Locked, Shard};
use parking_lot::Mutex;

use crate::server::{now_us, Server};

pub const REDIS_VERSION: &str = "7.2.4";

/// Every section in output order, and whether INFO without arguments (or `default`) shows it.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Which sections an INFO call asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    all: bool,
    names: Vec<String>,
}

impl Selection {
    /// Parses INFO's arguments as Redis does: none means the default sections, `default`
    /// adds them, `all` and `everything` select every section, any other word names one
    /// section (case-insensitively); unknown names select nothing.
    pub fn parse(args: &[&[u8]]) -> Selection {
        let mut sel = Selection::default();
        if args.is_empty() {
            sel.add_defaults();
        }
        for a in args {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => sel.add_defaults(),
                "all" | "everything" => sel.all = true,
                // Redis's default list calls the modules section "module_list".
                "module_list" => sel.names.push("modules".into()),
                _ => sel.names.push(name),
            }
        }
        sel
    }

    fn add_defaults(&mut self) {
        self.names.extend(
            SECTIONS
                .iter()
                .filter(|(_, default)| *default)
                .map(|(n, _)| n.to_string()),
        );
    }

    pub fn wants(&self, section: &str) -> bool {
        self.all || self.names.iter().any(|n| n == section)
    }
}

/// Counters summed over the worker threads.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerTotals {
    pub commands: u64,
    pub net_in: u64,
    pub net_out: u64,
    pub rejected: u64,
    pub failed: u64,
}

pub fn worker_totals(server: &Server) -> WorkerTotals {
    let mut t = WorkerTotals::default();
    for w in &server.workers {
        t.commands += w.total_commands.load(Ordering::Relaxed);
        t.net_in += w.net_input_bytes.load(Ordering::Relaxed);
        t.net_out += w.net_output_bytes.load(Ordering::Relaxed);
        t.rejected += w.rejected_calls.load(Ordering::Relaxed);
        t.failed += w.failed_calls.load(Ordering::Relaxed);
    }
    t
}

/// Per-database and keyspace-wide figures, summed over the shards.
#[derive(Debug, Default)]
pub struct KeyspaceTotals {
    /// Per database: keys, keys with a deadline, sum of sampled TTLs (ms), TTLs sampled.
    pub dbs: Vec<DbTotals>,
    pub expired_keys: u64,
    pub hits: u64,
    pub misses: u64,
    /// Bytes of hash index and entry vectors (not the entries themselves).
    pub table_overhead: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DbTotals {
    pub keys: u64,
    pub expires: u64,
    pub ttl_sum: i64,
    pub ttl_samples: u64,
    /// Bytes of this database's hash indexes and entry vectors.
    pub overhead: u64,
}

impl DbTotals {
    /// Average remaining TTL in ms of the sampled keys with a deadline, as INFO's avg_ttl.
    pub fn avg_ttl(&self) -> i64 {
        if self.ttl_samples == 0 {
            0
        } else {
            self.ttl_sum / self.ttl_samples as i64
        }
    }
}

/// Runs `f` on every shard in index order. Shards the command already holds (a transaction
/// locks the union of its commands' shards) are used through `data`, because locking one of
/// them again would deadlock this thread; the others are locked one at a time, so no client
/// waits longer than one shard's share of the work.
///
/// Caveat for transactions: while holding some shards, locking a lower-numbered one breaks
/// the ascending lock order and could deadlock with a thread locking the other way. A
/// transaction that queues one of these commands should therefore lock every shard.
pub fn for_each_shard(server: &Server, data: &mut Locked<'_>, mut f: impl FnMut(&mut Shard)) {
    let ks = &server.keyspace;
    for i in 0..ks.shard_count() {
        if let Some(shard) = data.shard_at(i) {
            f(shard);
        } else {
            let mut guard = ks.lock_shard(i);
            f(&mut guard);
        }
    }
}

/// `errorstat_<CODE>:count=N` for every error code replied since start or CONFIG RESETSTAT.
fn errorstats_section(out: &mut String, server: &Server) {
    out.push_str("# Errorstats\r\n");
    let mut total: std::collections::BTreeMap<String, u64> = Default::default();
    for w in &server.workers {
        for (code, n) in w.errors.lock().iter() {
            *total.entry(code.clone()).or_default() += n;
        }
    }
    for (code, n) in total {
        let _ = write!(out, "errorstat_{code}:count={n}\r\n");
    }
}

/// Sums the keyspace figures over all shards. TTLs are sampled only in databases that
/// have keys with a deadline, since the sample walks entries.
pub fn keyspace_totals(server: &Server, data: &mut Locked<'_>, now_ms: i64) -> KeyspaceTotals {
    let mut t = KeyspaceTotals {
        dbs: vec![DbTotals::default(); server.keyspace.databases()],
        ..Default::default()
    };
    for_each_shard(server, data, |shard| {
        for (i, db) in shard.dbs.iter().enumerate() {
            let d = &mut t.dbs[i];
            d.keys += db.len() as u64;
            d.expires += db.volatile as u64;
            if db.volatile > 0 {
                let (sum, n) = db.ttl_stats(now_ms);
                d.ttl_sum = d.ttl_sum.saturating_add(sum);
                d.ttl_samples += n as u64;
            }
            t.expired_keys += db.expired_keys;
            t.hits += db.hits;
            t.misses += db.misses;
            let overhead = db.table.overhead_bytes() as u64;
            d.overhead += overhead;
            t.table_overhead += overhead;
        }
    });
    t
}

/// One observation of the ever-growing counters that the instantaneous rates derive from.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    commands: u64,
    net_in: u64,
    net_out: u64,
}

/// Rate and peak tracking without a timer: every INFO call records a sample, and rates are
/// the change since an earlier sample, preferably the newest one at least
/// [`RATE_WINDOW`] old (Redis averages over the last 1.6 s of its 100 ms cron samples).
/// Until INFO has run twice, the baseline is the server's start with zeroed counters.
#[derive(Debug, Default)]
pub struct Sampler {
    samples: VecDeque<Sample>,
}

const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Samples closer together than this give too noisy a rate to use as a baseline.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_SAMPLES: usize = 32;

/// Samplers by server run id. Keyed rather than stored in `Server` so that this module owns
/// its bookkeeping; several servers live in one process in tests, each with its own run id.
static SAMPLERS: Mutex<BTreeMap<String, Sampler>> = parking_lot::const_mutex(BTreeMap::new());

/// Per-second rates: (commands, input KB, output KB).
fn rates(server: &Server, totals: &WorkerTotals) -> (u64, f64, f64) {
    let now = Sample {
        at: Instant::now(),
        commands: totals.commands,
        net_in: totals.net_in,
        net_out: totals.net_out,
    };
    let mut samplers = SAMPLERS.lock();
    let sampler = samplers.entry(server.run_id.clone()).or_default();
    let aged = |s: &&Sample| now.at.duration_since(s.at) >= RATE_WINDOW;
    let base = sampler
        .samples
        .iter()
        .rev()
        .find(aged)
        .or_else(|| {
            sampler
                .samples
                .iter()
                .find(|s| now.at.duration_since(s.at) >= MIN_INTERVAL)
        })
        .copied()
        .unwrap_or(Sample {
            at: server.started,
            commands: 0,
            net_in: 0,
            net_out: 0,
        });
    // Keep the newest sample old enough to be a baseline and everything after it.
    if let Some(pos) = sampler
        .samples
        .iter()
        .rposition(|s| now.at.duration_since(s.at) >= RATE_WINDOW)
    {
        sampler.samples.drain(..pos);
    }
    if sampler.samples.len() >= MAX_SAMPLES {
        sampler.samples.pop_front();
    }
    sampler.samples.push_back(now);
    drop(samplers);

    let secs = now.at.duration_since(base.at).as_secs_f64();
    if secs < MIN_INTERVAL.as_secs_f64() {
        return (0, 0.0, 0.0);
    }
    let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    (
        per_sec(now.commands, base.commands).round() as u64,
        per_sec(now.net_in, base.net_in) / 1024.0,
        per_sec(now.net_out, base.net_out) / 1024.0,
    )
}

/// Forgets the samples and the memory peak (CONFIG RESETSTAT), so rates restart from the
/// reset counters instead of seeing them go backwards.
pub fn reset_samples(server: &Server) {
    server
        .evict
        .peak
        .store(crate::alloc::used(), Ordering::Relaxed);
    let mut samplers = SAMPLERS.lock();
    samplers.remove(&server.run_id);
    samplers.insert(
        server.run_id.clone(),
        Sampler {
            samples: VecDeque::from([Sample {
                at: Instant::now(),
                commands: 0,
                net_in: 0,
                net_out: 0,
            }]),
        },
    );
}

/// Memory of the process: resident set size in bytes, from /proc/self/statm (0 where
/// unavailable). used_memory is not this but the allocator's count (see `crate::alloc`).
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

fn parse_kb_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_kb_field(&t, "MemTotal:"))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU time as (user, system) seconds from a /proc stat file: fields 14 and 15 (and 16, 17
/// for children when `children`), in clock ticks of 1/100 s (Linux's fixed USER_HZ).
fn cpu_times(path: &str, children: bool) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0.0, 0.0);
    };
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0) as f64
            / 100.0
    };
    // After ')', index 0 is field 3 (state): utime (14) is index 11.
    if children {
        (tick(13), tick(14))
    } else {
        (tick(11), tick(12))
    }
}

/// Redis's "%ld.%06ld" rendering of a CPU time.
fn cpu(secs: f64) -> String {
    format!("{secs:.6}")
}

/// Bytes as Redis's bytesToHuman: 1023B, 1.00K, 12.50M, 3.00G...
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: &[&str] = &["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut d = n as f64 / 1024.0;
    for unit in UNITS {
        if d < 1024.0 {
            return format!("{d:.2}{unit}");
        }
        d /= 1024.0;
    }
    format!("{n}B")
}

/// "Linux 6.1.0 x86_64", like uname's sysname, release and machine.
fn os_string() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .ok()
    };
    let sysname =
        read("/proc/sys/kernel/ostype").unwrap_or_else(|| std::env::consts::OS.to_string());
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{sysname} {release} {}", std::env::consts::ARCH)
}

fn multiplexing_api() -> &'static str {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        "epoll"
    } else if cfg!(any(
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    )) {
        "kqueue"
    } else {
        "poll"
    }
}

/// A path as absolute, for INFO's executable and config_file fields.
fn absolute(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// HELLO's reply: the server's properties, for the connection `client_id` in `out`'s
/// protocol.
pub fn hello_map(server: &Server, out: &mut cinnabar_resp::ReplyBuf, client_id: u64) {
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.integer(if out.proto == cinnabar_resp::Protocol::Resp3 {
        3
    } else {
        2
    });
    out.bulk(b"id");
    out.integer(client_id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(if server.repl.is_replica() {
        b"replica".as_slice()
    } else {
        b"master"
    });
    out.bulk(b"modules");
    out.array(0);
}

/// Writes one `name:value\r\n` line.
macro_rules! field {
    ($out:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($out, "{}:", $name);
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

/// Builds the INFO text for the selected sections. `data` is what the command holds locked
/// (nothing, or a transaction's shards); shard figures are read through [`for_each_shard`].
///
/// `used` is used_memory as the command found it, before it allocated anything itself (see
/// [`MemoryFigures::gather`]).
pub fn generate(
    server: &Server,
    data: &mut Locked<'_>,
    sel: &Selection,
    now_ms: i64,
    used: u64,
) -> String {
    let mut out = String::with_capacity(4096);
    let need_keyspace = sel.wants("stats") || sel.wants("keyspace") || sel.wants("memory");
    let ks = if need_keyspace {
        Some(keyspace_totals(server, data, now_ms))
    } else {
        None
    };
    let totals = worker_totals(server);
    for &(name, _) in SECTIONS {
        if !sel.wants(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match name {
            "server" => server_section(&mut out, server, now_ms),
            "clients" => clients_section(&mut out, server),
            "memory" => memory_section(
                &mut out,
                server,
                ks.as_ref().expect("keyspace totals"),
                used,
            ),
            "persistence" => persistence_section(&mut out, server),
            "stats" => stats_section(
                &mut out,
                server,
                &totals,
                ks.as_ref().expect("keyspace totals"),
            ),
            "replication" => crate::replication::info_section(&mut out, server),
            "cpu" => cpu_section(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "commandstats" => commandstats_section(&mut out, server),
            "errorstats" => errorstats_section(&mut out, server),
            "latencystats" => crate::ops::histogram::info_section(&mut out, server),
            "cluster" => {
                out.push_str("# Cluster\r\n");
                field!(out, "cluster_enabled", "0");
            }
            "keyspace" => keyspace_section(&mut out, ks.as_ref().expect("keyspace totals")),
            _ => unreachable!("section {name} has no generator"),
        }
    }
    out
}

fn server_section(out: &mut String, server: &Server, now_ms: i64) {
    let config = &server.config;
    let uptime = server.started.elapsed().as_secs();
    let plain_port = server.port.load(Ordering::Relaxed);
    let tls_port = server.tls_port.load(Ordering::Relaxed);
    let port = if plain_port != 0 {
        plain_port
    } else {
        tls_port
    };
    out.push_str("# Server\r\n");
    field!(out, "redis_version", "{REDIS_VERSION}");
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", "0");
    field!(out, "redis_build_id", "0");
    field!(out, "redis_mode", "standalone");
    field!(out, "os", "{}", os_string());
    field!(out, "arch_bits", "{}", usize::BITS);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "{}", multiplexing_api());
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", "{}", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", "{}", server.run_id);
    field!(out, "tcp_port", "{port}");
    field!(out, "server_time_usec", "{}", now_us());
    field!(out, "uptime_in_seconds", "{uptime}");
    field!(out, "uptime_in_days", "{}", uptime / (3600 * 24));
    field!(out, "hz", "{}", config.live.hz.load(Ordering::Relaxed));
    field!(out, "configured_hz", "{}", config.get_i64("hz"));
    field!(out, "lru_clock", "{}", crate::server::lru_clock(now_ms));
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    field!(out, "executable", "{exe}");
    field!(
        out,
        "config_file",
        "{}",
        config
            .config_file
            .as_deref()
            .map(absolute)
            .unwrap_or_default()
    );
    field!(out, "io_threads_active", "0");
    if let Some(ms) = server.shutdown_seq.remaining_ms(crate::server::now_ms()) {
        field!(out, "shutdown_in_milliseconds", "{ms}");
    }
    let listeners = server.listeners.lock();
    if !listeners.is_empty() {
        out.push_str("listener0:name=tcp");
        for addr in listeners.iter() {
            let _ = write!(out, ",bind={}", addr.ip());
        }
        let _ = write!(out, ",port={plain_port}\r\n");
    }
    drop(listeners);
    // Redis numbers listeners by connection type: tcp 0, unix 1, tls 2.
    if let Some(a) = server.unix_acceptor.lock().as_ref() {
        let _ = write!(out, "listener1:name=unix,bind={}\r\n", a.addr.display());
    }
    let tls_acceptors = server.tls_acceptors.lock();
    if !tls_acceptors.is_empty() {
        out.push_str("listener2:name=tls");
        for a in tls_acceptors.iter() {
            let _ = write!(out, ",bind={}", a.addr.ip());
        }
        let _ = write!(out, ",port={tls_port}\r\n");
    }
    drop(tls_acceptors);
    field!(out, "cinnabar_version", "{}", env!("CARGO_PKG_VERSION"));
    field!(out, "cinnabar_threads", "{}", server.workers.len());
    field!(out, "cinnabar_shards", "{}", server.keyspace.shard_count());
}

fn clients_section(out: &mut String, server: &Server) {
    // Replicas are not counted, as Redis's (their links are in its `slaves` list).
    let replicas = server.repl.replicas.lock().len();
    let (connected, max_qbuf) = {
        let clients = server.clients.lock();
        (
            clients.len().saturating_sub(replicas),
            clients
                .values()
                .map(|c| c.qbuf.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0),
        )
    };
    out.push_str("# Clients\r\n");
    field!(out, "connected_clients", "{connected}");
    field!(out, "cluster_connections", "0");
    field!(
        out,
        "maxclients",
        "{}",
        server.config.live.maxclients.load(Ordering::Relaxed)
    );
    field!(out, "client_recent_max_input_buffer", "{max_qbuf}");
    field!(out, "client_recent_max_output_buffer", "0");
    field!(
        out,
        "blocked_clients",
        "{}",
        server.blocking.count.load(Ordering::Relaxed)
            + server.pause.waiting.load(Ordering::Relaxed)
            + server.repl.waiters.lock().len()
            + server.shutdown_seq.blocked()
    );
    field!(
        out,
        "tracking_clients",
        "{}",
        server.tracking.clients.load(Ordering::Relaxed)
    );
    field!(out, "clients_in_timeout_table", "0");
    field!(
        out,
        "total_blocking_keys",
        "{}",
        server.blocking.waited_keys().len()
    );
    field!(
        out,
        "total_blocking_keys_on_nokey",
        "{}",
        server.blocking.keys_on_nokey()
    );
}

/// Memory figures shared by INFO memory, MEMORY STATS and MEMORY DOCTOR, with Redis's
/// meanings: `used` is what the allocator handed out and not yet got back (Redis's
/// zmalloc_used_memory), the eviction figure; `rss` is the process's resident set;
/// `active` is what mimalloc holds committed (its pages, used or not). Ratios and their
/// byte differences follow Redis's fragmentation fields.
pub struct MemoryFigures {
    pub used: u64,
    pub peak: u64,
    pub rss: u64,
    pub active: u64,
    pub startup: u64,
    pub overhead: u64,
    pub dataset: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    pub scripts: u64,
    pub keys: u64,
}

impl MemoryFigures {
    /// The figures, with `used` taken by the caller before it allocated anything for its
    /// reply: INFO and MEMORY STATS report the memory between commands, as the limit sees
    /// it, not including their own few kilobytes of working memory.
    pub fn gather(server: &Server, ks: &KeyspaceTotals, used: u64) -> MemoryFigures {
        let peak = server.evict.note_peak(used);
        let rss = rss_bytes();
        let (active, _) = crate::alloc::committed();
        let startup = server.evict.startup.load(Ordering::Relaxed);
        // Every client's memory as CLIENT LIST's tot-mem counts it (see crate::climem).
        let clients_normal = server.client_mem.total.load(Ordering::Relaxed) as u64;
        let aof_buffer = crate::persist::aof::buffer_bytes(server);
        let scripts = server.scripts.memory() as u64;
        let overhead = startup + ks.table_overhead + clients_normal + aof_buffer + scripts;
        MemoryFigures {
            used,
            peak,
            rss,
            active,
            startup,
            overhead,
            dataset: used.saturating_sub(overhead),
            clients_normal,
            aof_buffer,
            scripts,
            keys: ks.dbs.iter().map(|d| d.keys).sum(),
        }
    }

    pub fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }

    /// The dataset's share of the memory used beyond start-up, as Redis computes it.
    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup).max(1);
        self.dataset as f64 * 100.0 / net as f64
    }

    /// Bytes per key beyond start-up memory (MEMORY STATS keys.bytes-per-key).
    pub fn bytes_per_key(&self) -> u64 {
        self.used
            .saturating_sub(self.startup)
            .checked_div(self.keys)
            .unwrap_or(0)
    }

    /// (ratio, bytes) of `a` over `b`, as Redis prints its fragmentation pairs.
    pub fn ratio(a: u64, b: u64) -> (f64, i64) {
        let r = if b == 0 { 0.0 } else { a as f64 / b as f64 };
        (r, a as i64 - b as i64)
    }

    /// allocator_frag: committed pages over allocated bytes.
    pub fn allocator_frag(&self) -> (f64, i64) {
        Self::ratio(self.active, self.used)
    }

    /// allocator_rss: mimalloc's resident over its committed memory. mimalloc does not tell
    /// the two apart on Linux, so this is 1.
    pub fn allocator_rss(&self) -> (f64, i64) {
        Self::ratio(self.active, self.active)
    }

    /// rss_overhead: the process's RSS over the allocator's (program, stacks, Lua's state).
    pub fn rss_overhead(&self) -> (f64, i64) {
        Self::ratio(self.rss, self.active)
    }

    /// mem_fragmentation: RSS over used memory.
    pub fn fragmentation(&self) -> (f64, i64) {
        Self::ratio(self.rss, self.used)
    }
}

fn memory_section(out: &mut String, server: &Server, ks: &KeyspaceTotals, used: u64) {
    let m = MemoryFigures::gather(server, ks, used);
    let maxmemory = server.evict.maxmemory.load(Ordering::Relaxed);
    let total_system = total_system_memory();
    out.push_str("# Memory\r\n");
    field!(out, "used_memory", "{}", m.used);
    field!(out, "used_memory_human", "{}", bytes_to_human(m.used));
    field!(out, "used_memory_rss", "{}", m.rss);
    field!(out, "used_memory_rss_human", "{}", bytes_to_human(m.rss));
    field!(out, "used_memory_peak", "{}", m.peak);
    field!(out, "used_memory_peak_human", "{}", bytes_to_human(m.peak));
    field!(out, "used_memory_peak_perc", "{:.2}%", m.peak_perc());
    field!(out, "used_memory_overhead", "{}", m.overhead);
    field!(out, "used_memory_startup", "{}", m.startup);
    field!(out, "used_memory_dataset", "{}", m.dataset);
    field!(out, "used_memory_dataset_perc", "{:.2}%", m.dataset_perc());
    field!(out, "allocator_allocated", "{}", m.used);
    field!(out, "allocator_active", "{}", m.active);
    field!(out, "allocator_resident", "{}", m.active);
    field!(out, "total_system_memory", "{total_system}");
    field!(
        out,
        "total_system_memory_human",
        "{}",
        bytes_to_human(total_system)
    );
    // Lua memory is not tracked per interpreter (each worker thread has its own); the script
    // cache and function libraries are counted.
    for name in ["used_memory_lua", "used_memory_vm_eval"] {
        field!(out, name, "0");
    }
    field!(out, "used_memory_lua_human", "0B");
    let scripts = &server.scripts;
    let eval_mem = scripts.memory();
    let (nfuncs, nlibs, func_mem) = {
        let libs = scripts.functions.read();
        let mem: usize = libs.libs.values().map(|l| l.code.len() + 64).sum();
        (libs.functions.len(), libs.libs.len(), mem)
    };
    field!(out, "used_memory_scripts_eval", "{eval_mem}");
    field!(out, "number_of_cached_scripts", "{}", scripts.len());
    field!(out, "number_of_functions", "{nfuncs}");
    field!(out, "number_of_libraries", "{nlibs}");
    field!(out, "used_memory_vm_functions", "0");
    field!(out, "used_memory_vm_total", "0");
    field!(out, "used_memory_vm_total_human", "0B");
    field!(out, "used_memory_functions", "{func_mem}");
    field!(out, "used_memory_scripts", "{}", eval_mem + func_mem);
    field!(
        out,
        "used_memory_scripts_human",
        "{}",
        bytes_to_human((eval_mem + func_mem) as u64)
    );
    field!(out, "maxmemory", "{maxmemory}");
    field!(out, "maxmemory_human", "{}", bytes_to_human(maxmemory));
    field!(
        out,
        "maxmemory_policy",
        "{}",
        server.config.get("maxmemory-policy")
    );
    for (name, (ratio, bytes)) in [
        ("allocator_frag", m.allocator_frag()),
        ("allocator_rss", m.allocator_rss()),
        ("rss_overhead", m.rss_overhead()),
        ("mem_fragmentation", m.fragmentation()),
    ] {
        field!(out, format!("{name}_ratio"), "{ratio:.2}");
        field!(out, format!("{name}_bytes"), "{bytes}");
    }
    field!(
        out,
        "mem_not_counted_for_evict",
        "{}",
        crate::evict::not_counted(server)
    );
    // The shared replication buffer, split as Redis 7.2 does: up to `repl-backlog-size` is
    // the backlog's, the rest is held for replicas that still need it.
    let (total, size) = {
        let b = server.repl.backlog.lock();
        (b.len() as u64, b.size as u64)
    };
    let (backlog, slaves) = if total > size && !server.repl.replicas.lock().is_empty() {
        (size, total - size)
    } else {
        (total, 0)
    };
    field!(out, "mem_replication_backlog", "{backlog}");
    field!(out, "mem_total_replication_buffers", "{total}");
    field!(out, "mem_clients_slaves", "{slaves}");
    field!(out, "mem_clients_normal", "{}", m.clients_normal);
    field!(out, "mem_cluster_links", "0");
    field!(out, "mem_aof_buffer", "{}", m.aof_buffer);
    field!(out, "mem_allocator", "mimalloc-{}", crate::alloc::version());
    field!(out, "active_defrag_running", "0");
    let lazy = (
        cinnabar_engine::lazyfree::pending_objects(),
        cinnabar_engine::lazyfree::freed_objects(),
    );
    field!(out, "lazyfree_pending_objects", "{}", lazy.0);
    field!(out, "lazyfreed_objects", "{}", lazy.1);
}

fn persistence_section(out: &mut String, server: &Server) {
    crate::persist::info_section(out, server);
}

fn stats_section(out: &mut String, server: &Server, t: &WorkerTotals, ks: &KeyspaceTotals) {
    let (ops, in_kbps, out_kbps) = rates(server, t);
    out.push_str("# Stats\r\n");
    field!(
        out,
        "total_connections_received",
        "{}",
        server.total_connections.load(Ordering::Relaxed)
    );
    field!(out, "total_commands_processed", "{}", t.commands);
    field!(out, "instantaneous_ops_per_sec", "{ops}");
    field!(out, "total_net_input_bytes", "{}", t.net_in);
    field!(out, "total_net_output_bytes", "{}", t.net_out);
    field!(out, "total_net_repl_input_bytes", "0");
    field!(out, "total_net_repl_output_bytes", "0");
    field!(out, "instantaneous_input_kbps", "{in_kbps:.2}");
    field!(out, "instantaneous_output_kbps", "{out_kbps:.2}");
    field!(out, "instantaneous_input_repl_kbps", "0.00");
    field!(out, "instantaneous_output_repl_kbps", "0.00");
    field!(
        out,
        "rejected_connections",
        "{}",
        server.rejected_connections.load(Ordering::Relaxed)
    );
    for (name, n) in crate::replication::sync_stats(server) {
        field!(out, name, "{n}");
    }
    field!(out, "expired_keys", "{}", ks.expired_keys);
    field!(out, "expired_stale_perc", "0.00");
    for name in [
        "expired_time_cap_reached_count",
        "expire_cycle_cpu_milliseconds",
    ] {
        field!(out, name, "0");
    }
    let (total_exceeded, current_exceeded) = server.evict.exceeded_ms();
    field!(
        out,
        "evicted_keys",
        "{}",
        server.evict.evicted_keys.load(Ordering::Relaxed)
    );
    field!(
        out,
        "evicted_clients",
        "{}",
        server.client_mem.evicted.load(Ordering::Relaxed)
    );
    field!(out, "total_eviction_exceeded_time", "{total_exceeded}");
    field!(out, "current_eviction_exceeded_time", "{current_exceeded}");
    field!(out, "keyspace_hits", "{}", ks.hits);
    field!(out, "keyspace_misses", "{}", ks.misses);
    let (_, tkeys, titems, tprefixes) = crate::tracking::info(server);
    let (channels, patterns, shard_channels) = crate::pubsub::info_counts(server);
    field!(out, "pubsub_channels", "{channels}");
    field!(out, "pubsub_patterns", "{patterns}");
    field!(out, "pubsubshard_channels", "{shard_channels}");
    for name in [
        "latest_fork_usec",
        "total_forks",
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        field!(out, name, "0");
    }
    field!(out, "tracking_total_keys", "{tkeys}");
    field!(out, "tracking_total_items", "{titems}");
    field!(out, "tracking_total_prefixes", "{tprefixes}");
    field!(
        out,
        "unexpected_error_replies",
        "{}",
        server.repl.unexpected_error_replies.load(Ordering::Relaxed)
    );
    // Every error reply is either a rejected call (failed a central check) or a failed one.
    field!(out, "total_error_replies", "{}", t.rejected + t.failed);
    for name in [
        "dump_payload_sanitizations",
        "total_reads_processed",
        "total_writes_processed",
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
        "eventloop_cycles",
        "eventloop_duration_sum",
        "eventloop_duration_cmd_sum",
        "instantaneous_eventloop_cycles_per_sec",
        "instantaneous_eventloop_duration_usec",
    ] {
        field!(out, name, "0");
    }
    let acl = &server.acl;
    for (name, n) in [
        ("acl_access_denied_auth", &acl.denied_auth),
        ("acl_access_denied_cmd", &acl.denied_cmd),
        ("acl_access_denied_key", &acl.denied_key),
        ("acl_access_denied_channel", &acl.denied_channel),
    ] {
        field!(out, name, "{}", n.load(Ordering::Relaxed));
    }
}

fn cpu_section(out: &mut String) {
    let (user, sys) = cpu_times("/proc/self/stat", false);
    let (cuser, csys) = cpu_times("/proc/self/stat", true);
    // Redis reports its main thread; the nearest thing here is the worker running INFO.
    let (tuser, tsys) = cpu_times("/proc/thread-self/stat", false);
    out.push_str("# CPU\r\n");
    field!(out, "used_cpu_sys", "{}", cpu(sys));
    field!(out, "used_cpu_user", "{}", cpu(user));
    field!(out, "used_cpu_sys_children", "{}", cpu(csys));
    field!(out, "used_cpu_user_children", "{}", cpu(cuser));
    field!(out, "used_cpu_sys_main_thread", "{}", cpu(tsys));
    field!(out, "used_cpu_user_main_thread", "{}", cpu(tuser));
}

/// Per-command counters summed over the workers: (full name, calls, usec, rejected, failed).
pub fn command_stats(server: &Server) -> Vec<(&'static str, u64, u64, u64, u64)> {
    let mut rows: Vec<_> = server
        .registry
        .entries()
        .iter()
        .map(|e| {
            let (mut calls, mut usec, mut rejected, mut failed) = (0, 0, 0, 0);
            for w in &server.workers {
                let s = &w.commands[e.idx];
                calls += s.calls.load(Ordering::Relaxed);
                usec += s.usec.load(Ordering::Relaxed);
                rejected += s.rejected.load(Ordering::Relaxed);
                failed += s.failed.load(Ordering::Relaxed);
            }
            (e.def.full_name(), calls, usec, rejected, failed)
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows
}

fn commandstats_section(out: &mut String, server: &Server) {
    out.push_str("# Commandstats\r\n");
    for (name, calls, usec, rejected, failed) in command_stats(server) {
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
        );
    }
}

fn keyspace_section(out: &mut String, ks: &KeyspaceTotals) {
    out.push_str("# Keyspace\r\n");
    for (i, d) in ks.dbs.iter().enumerate() {
        if d.keys > 0 || d.expires > 0 {
            let _ = write!(
                out,
                "db{i}:keys={},expires={},avg_ttl={}\r\n",
                d.keys,
                d.expires,
                d.avg_ttl()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_match_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1536 * 1024), "1.50M");
        assert_eq!(bytes_to_human(3 << 30), "3.00G");
    }

    #[test]
    fn selection_defaults_and_all() {
        let s = Selection::parse(&[]);
        assert!(s.wants("server") && s.wants("keyspace") && !s.wants("commandstats"));
        let s = Selection::parse(&[b"ALL"]);
        assert!(s.wants("commandstats") && s.wants("latencystats"));
        let s = Selection::parse(&[b"CommandStats", b"default"]);
        assert!(s.wants("commandstats") && s.wants("cpu") && !s.wants("latencystats"));
        let s = Selection::parse(&[b"nosuch"]);
        assert!(!s.wants("server"));
    }

    #[test]
    fn kb_fields_parse() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\n";
        assert_eq!(parse_kb_field(text, "VmRSS:"), Some(1234));
        assert_eq!(parse_kb_field(text, "VmHWM:"), None);
    }
}
