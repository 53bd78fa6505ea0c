//! `metrics-port`: an HTTP endpoint serving `/metrics` in the Prometheus (OpenMetrics) text
//! format, for scrapers. Off while the port is 0 (the default); CONFIG SET starts, moves or
//! stops it.
//!
//! It runs on a thread of its own (`cinnabar-metrics`, a single-threaded runtime), never on
//! the command threads: a scrape reads the statistics the workers already keep (relaxed
//! loads of their counters, the latency histograms, INFO's figures), and it takes shard
//! locks only as INFO does, one shard at a time, to count keys. The encoding is the
//! `prometheus-client` crate's. Metric names and a scrape configuration: docs/metrics.md.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::Server;

/// The endpoint's state: the port it serves and the task serving it.
#[derive(Default)]
pub struct Endpoint {
    running: Mutex<Option<Running>>,
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Endpoint {
    /// Where it listens, while it does.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.running.lock().as_ref().map(|r| r.addr)
    }
}

/// Applies `metrics-port`: binds the new port (on the server's first listening address)
/// before letting the old one go, so a failed bind leaves the endpoint as it was.
pub fn configure(server: &Arc<Server>) -> Result<(), String> {
    let port = server.config.get_i64("metrics-port") as u16;
    let endpoint = &server.ops.metrics;
    let mut running = endpoint.running.lock();
    if port == 0 {
        if let Some(r) = running.take() {
            let _ = r.stop.send(());
        }
        return Ok(());
    }
    if running.as_ref().is_some_and(|r| r.addr.port() == port) {
        return Ok(());
    }
    let ip = server
        .listeners
        .lock()
        .first()
        .map(|a| a.ip())
        .unwrap_or_else(|| std::net::Ipv4Addr::LOCALHOST.into());
    let listener = match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(l) => l,
        Err(e) => {
            // Roll the parameter back to what is actually served, as Redis does for `port`.
            let served = running.as_ref().map_or(0, |r| r.addr.port());
            let _ = server
                .config
                .set_many(&[("metrics-port".to_string(), served.to_string())]);
            return Err(format!("Unable to listen on this port: {e}"));
        }
    };
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let weak = Arc::downgrade(server);
    std::thread::Builder::new()
        .name("cinnabar-metrics".into())
        .spawn(move || serve(listener, weak, stopped))
        .map_err(|e| e.to_string())?;
    if let Some(old) = running.replace(Running { addr, stop }) {
        let _ = old.stop.send(());
    }
    tracing::info!("Metrics endpoint listening on http://{addr}/metrics");
    Ok(())
}

fn serve(
    listener: std::net::TcpListener,
    server: Weak<Server>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("metrics endpoint: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Some(server) = server.upgrade() else { return };
                    if server.is_shutting_down() {
                        return;
                    }
                    // One scrape at a time: scrapes are rare and each is quick.
                    let _ = respond(stream, &server).await;
                }
            }
        }
    });
}

/// Reads one request and answers it: `GET /metrics` gets the metrics, anything else 404.
async fn respond(mut stream: tokio::net::TcpStream, server: &Server) -> std::io::Result<()> {
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = async {
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        Ok::<(), std::io::Error>(())
    };
    crate::timer::timeout(std::time::Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let line = req.split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut words = line.split(|&b| b == b' ');
    let method = words.next().unwrap_or(b"");
    let path = words.next().unwrap_or(b"");
    let path = path.split(|&b| b == b'?').next().unwrap_or(b"");
    let (status, ctype, body) = if (method == b"GET" || method == b"HEAD") && path == b"/metrics" {
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(server),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "Not found: the metrics are at /metrics\n".to_string(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if method != b"HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// The metrics text for one scrape.
pub fn render(server: &Server) -> String {
    let mut registry = Registry::with_prefix("cinnabar");
    registry.register_collector(Box::new(Snapshot::take(server)));
    let mut out = String::with_capacity(16 * 1024);
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// What one scrape reports, gathered before encoding.
#[derive(Debug)]
struct Snapshot {
    /// (name, help, is_counter, value) of the server-wide figures.
    figures: Vec<(&'static str, &'static str, bool, f64)>,
    /// Per command: name, calls, usec, rejected, failed.
    commands: Vec<Cmd>,
    /// Per command with samples: name, cumulative buckets (upper bound in seconds, count
    /// in that bucket), count, sum in seconds.
    latency: Vec<CommandLatency>,
    /// Error replies by code.
    errors: Vec<(String, u64)>,
    /// Per database: index, keys, keys with a deadline.
    dbs: Vec<(usize, u64, u64)>,
}

/// A command's latency histogram: name, buckets (upper bound in seconds, samples in that
/// bucket; the last one is +Inf), count, sum in seconds.
type CommandLatency = (&'static str, Vec<(f64, u64)>, u64, f64);

/// A command's statistics row (crate::info::command_stats): name, calls, usec, rejected,
/// failed.
type Cmd = (&'static str, u64, u64, u64, u64);

/// One per-command counter: name, help, and how to read it off a row.
type PerCommand = (&'static str, &'static str, fn(&Cmd) -> f64);

/// INFO fields reported as metrics: (INFO field, metric name, help, counter?).
const FROM_INFO: &[(&str, &str, &str, bool)] = &[
    (
        "uptime_in_seconds",
        "uptime_seconds",
        "Seconds since the server started.",
        false,
    ),
    (
        "connected_clients",
        "connected_clients",
        "Client connections open.",
        false,
    ),
    (
        "blocked_clients",
        "blocked_clients",
        "Clients waiting in a blocking command or a pause.",
        false,
    ),
    ("maxclients", "max_clients", "The maxclients limit.", false),
    (
        "used_memory",
        "memory_used_bytes",
        "Bytes allocated by the server.",
        false,
    ),
    (
        "used_memory_rss",
        "memory_rss_bytes",
        "Resident set size of the process.",
        false,
    ),
    (
        "used_memory_peak",
        "memory_peak_bytes",
        "Highest memory_used_bytes seen.",
        false,
    ),
    (
        "maxmemory",
        "memory_max_bytes",
        "The maxmemory limit (0: none).",
        false,
    ),
    (
        "total_connections_received",
        "connections_received",
        "Connections accepted.",
        true,
    ),
    (
        "rejected_connections",
        "connections_rejected",
        "Connections refused (maxclients).",
        true,
    ),
    (
        "total_commands_processed",
        "commands_processed",
        "Commands run.",
        true,
    ),
    (
        "total_net_input_bytes",
        "net_input_bytes",
        "Bytes read from clients.",
        true,
    ),
    (
        "total_net_output_bytes",
        "net_output_bytes",
        "Bytes written to clients.",
        true,
    ),
    (
        "expired_keys",
        "expired_keys",
        "Keys removed because their deadline passed.",
        true,
    ),
    (
        "evicted_keys",
        "evicted_keys",
        "Keys evicted under maxmemory.",
        true,
    ),
    (
        "keyspace_hits",
        "keyspace_hits",
        "Lookups that found their key.",
        true,
    ),
    (
        "keyspace_misses",
        "keyspace_misses",
        "Lookups that did not find their key.",
        true,
    ),
    (
        "pubsub_channels",
        "pubsub_channels",
        "Channels with subscribers.",
        false,
    ),
    (
        "pubsub_patterns",
        "pubsub_patterns",
        "Pattern subscriptions.",
        false,
    ),
    (
        "total_error_replies",
        "error_replies",
        "Error replies sent.",
        true,
    ),
    (
        "loading",
        "loading",
        "1 while the data set is being loaded.",
        false,
    ),
    (
        "rdb_changes_since_last_save",
        "rdb_changes_since_last_save",
        "Changes since the last RDB save.",
        false,
    ),
    (
        "rdb_last_save_time",
        "rdb_last_save_timestamp_seconds",
        "Unix time of the last RDB save.",
        false,
    ),
    (
        "rdb_bgsave_in_progress",
        "rdb_bgsave_in_progress",
        "1 while a BGSAVE runs.",
        false,
    ),
    (
        "aof_enabled",
        "aof_enabled",
        "1 while the append-only file is on.",
        false,
    ),
    (
        "aof_rewrite_in_progress",
        "aof_rewrite_in_progress",
        "1 while an AOF rewrite runs.",
        false,
    ),
    (
        "connected_slaves",
        "connected_replicas",
        "Replicas connected.",
        false,
    ),
];

impl Snapshot {
    fn take(server: &Server) -> Snapshot {
        let used = crate::alloc::used();
        let sel = crate::info::Selection::parse(&[b"everything"]);
        let mut none = server.keyspace.lock_none();
        let text = crate::info::generate(server, &mut none, &sel, crate::server::now_ms(), used);
        drop(none);
        let field = |name: &str| -> Option<&str> {
            text.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        let figures = FROM_INFO
            .iter()
            .filter_map(|&(info, metric, help, counter)| {
                field(info)
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|v| (metric, help, counter, v))
            })
            .collect();
        let mut errors = Vec::new();
        let mut dbs = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("errorstat_") {
                if let Some((code, count)) = rest.split_once(":count=") {
                    if let Ok(n) = count.trim().parse() {
                        errors.push((code.to_string(), n));
                    }
                }
            } else if let Some(rest) = line.strip_prefix("db") {
                // db0:keys=1,expires=0,avg_ttl=0
                let Some((idx, kv)) = rest.split_once(':') else {
                    continue;
                };
                let Ok(idx) = idx.parse::<usize>() else {
                    continue;
                };
                let get = |k: &str| {
                    kv.split(',')
                        .find_map(|p| p.strip_prefix(k))
                        .and_then(|v| v.strip_prefix('='))
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                dbs.push((idx, get("keys"), get("expires")));
            }
        }
        let mut commands = crate::info::command_stats(server);
        commands.retain(|c| c.1 + c.3 + c.4 > 0);
        let latency = server
            .registry
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(idx, e)| {
                let m = super::histogram::merged(server, idx)?;
                let usec = commands
                    .iter()
                    .find(|c| c.0 == e.def.full_name())
                    .map_or(0, |c| c.2);
                let mut buckets: Vec<(f64, u64)> = Vec::new();
                let mut previous = 0;
                for (upper_ns, cumulative) in m.buckets_pow2() {
                    buckets.push((upper_ns as f64 / 1e9, cumulative - previous));
                    previous = cumulative;
                }
                buckets.push((f64::MAX, m.total - previous));
                Some((e.def.full_name(), buckets, m.total, usec as f64 / 1e6))
            })
            .collect();
        Snapshot {
            figures,
            commands,
            latency,
            errors,
            dbs,
        }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for &(name, help, counter, value) in &self.figures {
            if counter {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                ConstCounter::new(value).encode(m)?;
            } else {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(m)?;
            }
        }
        let per_command: [PerCommand; 4] = [
            ("command_calls", "Calls of each command.", |c| c.1 as f64),
            (
                "command_duration_seconds",
                "Time spent running each command.",
                |c| c.2 as f64 / 1e6,
            ),
            (
                "command_rejected_calls",
                "Calls refused before running (arity, ACL, OOM...).",
                |c| c.3 as f64,
            ),
            (
                "command_failed_calls",
                "Calls that ran and replied with an error.",
                |c| c.4 as f64,
            ),
        ];
        for (name, help, value) in per_command {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for c in &self.commands {
                let labels = [("cmd", c.0)];
                let fam = m.encode_family(&labels)?;
                ConstCounter::new(value(c)).encode(fam)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "command_latency_seconds",
            "Latency of each command (latency-tracking).",
            None,
            MetricType::Histogram,
        )?;
        for (cmd, buckets, count, sum) in &self.latency {
            let labels = [("cmd", *cmd)];
            let mut fam = m.encode_family(&labels)?;
            fam.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        let mut m = encoder.encode_descriptor(
            "errors",
            "Error replies by error code.",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in &self.errors {
            let labels = [("code", code.as_str())];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
        let mut m = encoder.encode_descriptor(
            "db_keys",
            "Keys in each database.",
            None,
            MetricType::Gauge,
        )?;
        for (db, keys, _) in &self.dbs {
            let labels = [("db", db.to_string())];
            ConstGauge::new(*keys as i64).encode(m.encode_family(&labels)?)?;
        }
        let mut m = encoder.encode_descriptor(
            "db_keys_expiring",
            "Keys with a deadline in each database.",
            None,
            MetricType::Gauge,
        )?;
        for (db, _, expiring) in &self.dbs {
            let labels = [("db", db.to_string())];
            ConstGauge::new(*expiring as i64).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
