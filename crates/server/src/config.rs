//! Configuration: the parameter table, redis.conf parsing, `--name value` arguments, and the
//! values CONFIG GET/SET read and write.
//!
//! Every parameter is declared once in [`PARAMS`] with its kind and default. Values are kept
//! in their canonical text form (what CONFIG GET prints); the few that the hot path reads are
//! mirrored into [`Live`] atomics whenever they change, so a command never takes a config lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

/// How a parameter's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count that accepts units (1k, 5mb, 2gb).
    Memory {
        max: u64,
    },
    /// A number written in octal (`unixsocketperm`), parsed as Redis's strtoll base 8.
    Octal {
        max: u64,
    },
    Str,
    Enum(&'static [&'static str]),
    /// `save`: pairs of seconds and changes, or empty.
    Save,
    /// `client-output-buffer-limit`: class hard soft seconds, repeated.
    OutputBufferLimit,
    /// `bind`: addresses separated by spaces.
    Bind,
    /// `notify-keyspace-events`: a set of flag letters.
    NotifyFlags,
}

pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub default: &'static str,
    /// Only settable at start-up (CONFIG SET refuses it).
    pub immutable: bool,
}

pub(crate) const fn p(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        aliases: &[],
        kind,
        default,
        immutable: false,
    }
}
pub(crate) const fn im(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        aliases: &[],
        kind,
        default,
        immutable: true,
    }
}
pub(crate) const fn al(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: &'static str,
) -> Param {
    Param {
        name,
        aliases,
        kind,
        default,
        immutable: false,
    }
}

const INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const NONNEG: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const MEM: Kind = Kind::Memory { max: u64::MAX };
const YES: &str = "yes";
const NO: &str = "no";

/// Every parameter we accept, with Redis 7.2's names and defaults (ours where we differ:
/// `bind` defaults to loopback only, and `threads`/`shards` are Cinnabar's own).
pub static PARAMS: &[Param] = &[
    p("port", Kind::Int { min: 0, max: 65535 }, "6379"),
    p("bind", Kind::Bind, "127.0.0.1 -::1"),
    p("dir", Kind::Str, ""),
    im("daemonize", Kind::Bool, NO),
    im(
        "databases",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        "16",
    ),
    im("threads", Kind::Int { min: 0, max: 1024 }, "0"),
    im("shards", Kind::Int { min: 0, max: 65536 }, "0"),
    // The Prometheus endpoint (crate::ops::metrics); 0: off.
    p("metrics-port", Kind::Int { min: 0, max: 65535 }, "0"),
    im("io-threads", Kind::Int { min: 1, max: 128 }, "1"),
    p("io-threads-do-reads", Kind::Bool, NO),
    p("requirepass", Kind::Str, ""),
    p("masterauth", Kind::Str, ""),
    p("masteruser", Kind::Str, ""),
    p(
        "timeout",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "0",
    ),
    p("tcp-keepalive", NONNEG, "300"),
    im("tcp-backlog", NONNEG, "511"),
    p(
        "maxclients",
        Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        "10000",
    ),
    p("hz", Kind::Int { min: 1, max: 500 }, "10"),
    p("dynamic-hz", Kind::Bool, YES),
    p("protected-mode", Kind::Bool, YES),
    im("logfile", Kind::Str, ""),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice",
    ),
    im("pidfile", Kind::Str, ""),
    im(
        "supervised",
        Kind::Enum(&["no", "upstart", "systemd", "auto"]),
        "no",
    ),
    im("syslog-enabled", Kind::Bool, NO),
    im("syslog-ident", Kind::Str, "redis"),
    im("always-show-logo", Kind::Bool, NO),
    p("set-proc-title", Kind::Bool, YES),
    p("crash-log-enabled", Kind::Bool, YES),
    p("crash-memcheck-enabled", Kind::Bool, YES),
    im("unixsocket", Kind::Str, ""),
    im("unixsocketperm", Kind::Octal { max: 0o777 }, "0"),
    im("cluster-enabled", Kind::Bool, NO),
    im(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    im(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    im(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    p("save", Kind::Save, "3600 1 300 100 60 10000"),
    p("dbfilename", Kind::Str, "dump.rdb"),
    p("rdbcompression", Kind::Bool, YES),
    p("rdbchecksum", Kind::Bool, YES),
    p("rdb-del-sync-files", Kind::Bool, NO),
    p("rdb-key-save-delay", INT, "0"),
    p("key-load-delay", INT, "0"),
    p("stop-writes-on-bgsave-error", Kind::Bool, YES),
    p("appendonly", Kind::Bool, NO),
    im("appendfilename", Kind::Str, "appendonly.aof"),
    im("appenddirname", Kind::Str, "appendonlydir"),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
    ),
    p("no-appendfsync-on-rewrite", Kind::Bool, NO),
    p("auto-aof-rewrite-percentage", NONNEG, "100"),
    p("auto-aof-rewrite-min-size", MEM, "67108864"),
    p("aof-load-truncated", Kind::Bool, YES),
    p("aof-use-rdb-preamble", Kind::Bool, YES),
    p("aof-timestamp-enabled", Kind::Bool, NO),
    p("aof-rewrite-incremental-fsync", Kind::Bool, YES),
    p("rdb-save-incremental-fsync", Kind::Bool, YES),
    p("maxmemory", MEM, "0"),
    p(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        "noeviction",
    ),
    p("maxmemory-samples", Kind::Int { min: 1, max: 64 }, "5"),
    p(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
    ),
    p("maxmemory-clients", MEM, "0"),
    p("lfu-log-factor", NONNEG, "10"),
    p("lfu-decay-time", NONNEG, "1"),
    p("lazyfree-lazy-eviction", Kind::Bool, NO),
    p("lazyfree-lazy-expire", Kind::Bool, NO),
    p("lazyfree-lazy-server-del", Kind::Bool, NO),
    p("lazyfree-lazy-user-del", Kind::Bool, NO),
    p("lazyfree-lazy-user-flush", Kind::Bool, NO),
    p("replica-lazy-flush", Kind::Bool, NO),
    p("activerehashing", Kind::Bool, YES),
    p("activedefrag", Kind::Bool, NO),
    p("active-expire-effort", Kind::Int { min: 1, max: 10 }, "1"),
    p("jemalloc-bg-thread", Kind::Bool, YES),
    im("disable-thp", Kind::Bool, YES),
    al(
        "list-max-listpack-size",
        &["list-max-ziplist-size"],
        // A C int in Redis; below -5 acts as -5, 0 as 1.
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        "-2",
    ),
    p("list-compress-depth", NONNEG, "0"),
    p("set-max-intset-entries", NONNEG, "512"),
    p("set-max-listpack-entries", NONNEG, "128"),
    p("set-max-listpack-value", NONNEG, "64"),
    al(
        "hash-max-listpack-entries",
        &["hash-max-ziplist-entries"],
        NONNEG,
        "128",
    ),
    al(
        "hash-max-listpack-value",
        &["hash-max-ziplist-value"],
        NONNEG,
        "64",
    ),
    al(
        "zset-max-listpack-entries",
        &["zset-max-ziplist-entries"],
        NONNEG,
        "128",
    ),
    al(
        "zset-max-listpack-value",
        &["zset-max-ziplist-value"],
        NONNEG,
        "64",
    ),
    p("stream-node-max-bytes", MEM, "4096"),
    p("stream-node-max-entries", NONNEG, "100"),
    p(
        "hll-sparse-max-bytes",
        // A size_t limited to LONG_MAX in Redis.
        Kind::Memory {
            max: i64::MAX as u64,
        },
        "3000",
    ),
    p("slowlog-log-slower-than", INT, "10000"),
    p("slowlog-max-len", NONNEG, "128"),
    p("latency-monitor-threshold", NONNEG, "0"),
    p("latency-tracking", Kind::Bool, YES),
    p("latency-tracking-info-percentiles", Kind::Str, "50 99 99.9"),
    p(
        "proto-max-bulk-len",
        Kind::Memory {
            max: i64::MAX as u64,
        },
        "536870912",
    ),
    p("client-query-buffer-limit", MEM, "1073741824"),
    p(
        "client-output-buffer-limit",
        Kind::OutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    p("notify-keyspace-events", Kind::NotifyFlags, ""),
    al("busy-reply-threshold", &["lua-time-limit"], NONNEG, "5000"),
    p("tracking-table-max-keys", NONNEG, "1000000"),
    p("acllog-max-len", NONNEG, "128"),
    im("aclfile", Kind::Str, ""),
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    p("replica-read-only", Kind::Bool, YES),
    p("replica-serve-stale-data", Kind::Bool, YES),
    p("repl-diskless-sync", Kind::Bool, YES),
    p("repl-diskless-sync-delay", NONNEG, "5"),
    p("repl-diskless-sync-max-replicas", NONNEG, "0"),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    p("repl-backlog-size", MEM, "1048576"),
    p("repl-backlog-ttl", NONNEG, "3600"),
    p("repl-timeout", NONNEG, "60"),
    p("repl-ping-replica-period", NONNEG, "10"),
    p("min-replicas-to-write", NONNEG, "0"),
    p("min-replicas-max-lag", NONNEG, "10"),
    p("replica-priority", NONNEG, "100"),
    p(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    p("oom-score-adj-values", Kind::Str, "0 200 800"),
    p("close-on-oom", Kind::Bool, NO),
    p("lua-replicate-commands", Kind::Bool, YES),
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
    p("shutdown-timeout", NONNEG, "10"),
    p("shutdown-on-sigint", Kind::Str, "default"),
    p("shutdown-on-sigterm", Kind::Str, "default"),
    // TLS (crate::net::tls). `tls-port` 0: no TLS listener.
    p("tls-port", Kind::Int { min: 0, max: 65535 }, "0"),
    p("tls-cert-file", Kind::Str, ""),
    p("tls-key-file", Kind::Str, ""),
    p("tls-key-file-pass", Kind::Str, ""),
    p("tls-client-cert-file", Kind::Str, ""),
    p("tls-client-key-file", Kind::Str, ""),
    p("tls-client-key-file-pass", Kind::Str, ""),
    p("tls-ca-cert-file", Kind::Str, ""),
    p("tls-ca-cert-dir", Kind::Str, ""),
    p(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
    ),
    p("tls-replication", Kind::Bool, NO),
    p("tls-protocols", Kind::Str, ""),
    p("tls-ciphers", Kind::Str, ""),
    p("tls-ciphersuites", Kind::Str, ""),
    p("tls-prefer-server-ciphers", Kind::Bool, NO),
    p("tls-session-caching", Kind::Bool, YES),
    p(
        "tls-session-cache-size",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "20480",
    ),
    p(
        "tls-session-cache-timeout",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "300",
    ),
];

/// Hot-path copies of a few parameters.
#[derive(Default)]
pub struct Live {
    pub timeout_secs: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
    pub hz: AtomicU64,
    pub has_password: AtomicBool,
    pub active_expire_enabled: AtomicBool,
    pub lazyfree_lazy_user_del: AtomicBool,
    /// aof-timestamp-enabled: `#TS:<unix time>` annotations in the AOF.
    pub aof_timestamp_enabled: AtomicBool,
    /// busy-reply-threshold (lua-time-limit), in milliseconds.
    pub busy_reply_threshold_ms: AtomicU64,
    /// `client-output-buffer-limit pubsub` hard, soft (bytes) and soft seconds.
    pub pubsub_obuf_hard: AtomicU64,
    pub pubsub_obuf_soft: AtomicU64,
    pub pubsub_obuf_secs: AtomicU64,
    /// `client-output-buffer-limit normal` hard, soft (bytes) and soft seconds.
    pub normal_obuf: [AtomicU64; 3],
    /// `notify-keyspace-events` as `crate::notify` class bits (0: notifications off).
    pub notify_flags: std::sync::atomic::AtomicU32,
    /// The collection encoding thresholds, read by every collection write (a string lookup
    /// under the table's lock there would cost more than the write itself):
    /// `list-max-listpack-size` (signed) ...
    pub list_fill: std::sync::atomic::AtomicI64,
    /// ... `set-max-intset-entries`, `set-max-listpack-entries`, `set-max-listpack-value`,
    pub set_limits: [AtomicU64; 3],
    /// `hash-max-listpack-entries`, `hash-max-listpack-value`,
    pub hash_limits: [AtomicU64; 2],
    /// `zset-max-listpack-entries`, `zset-max-listpack-value`.
    pub zset_limits: [AtomicU64; 2],
    /// `stream-node-max-bytes`, `stream-node-max-entries` (read by every XADD).
    pub stream_limits: [AtomicU64; 2],
    /// `hll-sparse-max-bytes`, read by every PFADD and PFMERGE.
    pub hll_sparse_max_bytes: AtomicU64,
    /// `slowlog-log-slower-than` (µs, negative: off), `slowlog-max-len` and
    /// `latency-monitor-threshold` (ms, 0: off), read after every command (crate::ops).
    pub slowlog_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    pub latency_monitor_threshold: AtomicU64,
    /// `latency-tracking`: per-command latency histograms (crate::ops::histogram).
    pub latency_tracking: AtomicBool,
    /// `rdb-key-save-delay` and `key-load-delay` (µs per key, see `persist::debug_delay`),
    /// read for every key saved or loaded.
    pub rdb_key_save_delay: std::sync::atomic::AtomicI64,
    pub key_load_delay: std::sync::atomic::AtomicI64,
}

/// The configuration of a running server.
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    pub live: Live,
    /// The config file given at start-up, for CONFIG REWRITE and INFO.
    pub config_file: Option<String>,
    /// `user name rules...` lines of the config file, applied by `crate::acl` at start-up.
    users: RwLock<Vec<Vec<String>>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Bad directive or wrong number of arguments")]
    UnknownParam,
    #[error("argument must be 'yes' or 'no'")]
    NotBool,
    #[error("argument couldn't be parsed into an integer")]
    NotInt,
    #[error("argument must be between {0} and {1} inclusive")]
    OutOfRange(i64, i64),
    #[error("argument must be a memory value")]
    NotMemory,
    #[error("argument couldn't be parsed as an octal number")]
    NotOctal,
    #[error("argument must be between {0:o} and {1:o} inclusive")]
    OctalOutOfRange(u64, u64),
    #[error("argument(s) must be one of the following: {0}")]
    NotEnum(String),
    #[error("Invalid save parameters")]
    BadSave,
    #[error("Wrong number of arguments in buffer limit configuration.")]
    BadBufferLimit,
    #[error("Invalid event class character. Use 'Ag$lshzxeKEtmd'.")]
    BadNotify,
    #[error("can't set immutable config")]
    Immutable,
    #[error("{0}")]
    Other(String),
}

/// Parses an octal number as C's `strtoll(s, &end, 8)` with nothing left over: leading
/// blanks and a sign allowed, an empty string is 0, an overflow is an error.
fn parse_octal(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        // No digits: strtoll stops at the start, so only "" itself is read to its end.
        return s.is_empty().then_some(0);
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add((b - b'0') as i64)?;
    }
    Some(if neg { -n } else { n })
}

/// Parses "1gb", "5m", "100" into bytes, as Redis's memtoull.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mul)
}

pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| {
            p.name.eq_ignore_ascii_case(name)
                || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .or_else(|| crate::config_compat::find(name))
}

/// Every parameter: [`PARAMS`], then the rest of Redis's (`crate::config_compat`).
pub fn all_params() -> impl Iterator<Item = &'static Param> {
    PARAMS.iter().chain(crate::config_compat::extra())
}

/// Checks a value against its parameter kind and returns the canonical text form.
pub fn normalize(param: &Param, value: &str) -> Result<String, ConfigError> {
    if param.name == "latency-tracking-info-percentiles" {
        return crate::ops::histogram::normalize_percentiles(value);
    }
    if param.name == "maxmemory-clients" && value.ends_with('%') {
        return crate::config_compat::normalize_percent(value);
    }
    if param.name.starts_with("shutdown-on-sig") {
        // Redis's enum flags: shown in the enum's order, whatever order they came in.
        const FLAGS: [&str; 4] = ["save", "nosave", "now", "force"];
        let words: Vec<String> = value
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let known = |w: &String| w == "default" || FLAGS.contains(&w.as_str());
        if words.is_empty() || !words.iter().all(known) {
            return Err(ConfigError::NotEnum(
                "default, save, nosave, now, force".into(),
            ));
        }
        if words.iter().any(|w| w == "save") && words.iter().any(|w| w == "nosave") {
            return Err(ConfigError::Other(
                "shutdown can't have both SAVE and NOSAVE".into(),
            ));
        }
        let set: Vec<&str> = FLAGS
            .iter()
            .copied()
            .filter(|f| words.iter().any(|w| w == f))
            .collect();
        return Ok(if set.is_empty() {
            "default".into()
        } else {
            set.join(" ")
        });
    }
    match param.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err(ConfigError::NotBool),
        },
        Kind::Int { min, max } => {
            let n: i64 = match value.parse() {
                Ok(n) => n,
                // Redis accepts memory units for some integer parameters too.
                Err(_) => parse_memory(value)
                    .and_then(|m| i64::try_from(m).ok())
                    .ok_or(ConfigError::NotInt)?,
            };
            if n < min || n > max {
                return Err(ConfigError::OutOfRange(min, max));
            }
            Ok(n.to_string())
        }
        Kind::Memory { max } => {
            let n = parse_memory(value).ok_or(ConfigError::NotMemory)?;
            if n > max {
                return Err(ConfigError::OutOfRange(0, max as i64));
            }
            Ok(n.to_string())
        }
        Kind::Octal { max } => {
            let n = parse_octal(value).ok_or(ConfigError::NotOctal)?;
            // Redis compares as unsigned: a negative number is out of range too.
            match u64::try_from(n) {
                Ok(n) if n <= max => Ok(format!("{n:o}")),
                _ => Err(ConfigError::OctalOutOfRange(0, max)),
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(ConfigError::NotEnum(options.join(", ")))
            }
        }
        Kind::Save => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                return Err(ConfigError::BadSave);
            }
            Ok(parts.join(" "))
        }
        Kind::OutputBufferLimit => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            if !parts.len().is_multiple_of(4) {
                return Err(ConfigError::BadBufferLimit);
            }
            // Merge into the current full setting: classes not named keep their values.
            let mut out: Vec<String> = Vec::new();
            for chunk in parts.chunks(4) {
                let class = match chunk[0].to_ascii_lowercase().as_str() {
                    "normal" => "normal",
                    "slave" | "replica" => "slave",
                    "pubsub" => "pubsub",
                    _ => {
                        return Err(ConfigError::Other(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        ))
                    }
                };
                let hard = parse_memory(chunk[1]).ok_or(ConfigError::Other(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ))?;
                let soft = parse_memory(chunk[2]).ok_or(ConfigError::Other(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ))?;
                let secs: u64 = chunk[3].parse().map_err(|_| ConfigError::Other("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()))?;
                out.push(format!("{class} {hard} {soft} {secs}"));
            }
            Ok(out.join(" "))
        }
        Kind::Bind => Ok(value.split_whitespace().collect::<Vec<_>>().join(" ")),
        Kind::NotifyFlags => crate::notify::parse_flags(value)
            .map(crate::notify::flags_to_string)
            .ok_or(ConfigError::BadNotify),
    }
}

impl Config {
    /// A configuration with every default.
    pub fn new() -> Config {
        let mut values = BTreeMap::new();
        for param in all_params() {
            values.insert(param.name, param.default.to_string());
        }
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        values.insert("dir", cwd);
        let c = Config {
            values: RwLock::new(values),
            live: Live::default(),
            config_file: None,
            users: RwLock::new(Vec::new()),
        };
        c.live.active_expire_enabled.store(true, Ordering::Relaxed);
        c.refresh_live();
        c
    }

    /// Builds the configuration from redis-server style arguments: an optional config file
    /// first, then `--name value...` pairs (values up to the next `--`).
    /// A configuration from redis.conf text alone (the config-file fuzz target's entry).
    pub fn from_text(text: &str) -> Result<Config, String> {
        let mut config = Config::new();
        config.load_text(text)?;
        Ok(config)
    }

    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::new();
        let mut rest = args;
        let mut text = String::new();
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                text = std::fs::read_to_string(first)
                    .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
                config.config_file = Some(first.clone());
                rest = &rest[1..];
            }
        }
        // Arguments are appended to the file's text as lines, as redis-server's main() does:
        // `--name` starts a line unless the previous option still lacks its value (then it
        // is that value: `--port --bla` is `port "--bla"`); `--name value` in one argument
        // is a whole line; other arguments are values, quoted; a `--save` with no value
        // means `save ""`.
        let mut options = String::new();
        let mut handled_last = true;
        let n = rest.len();
        for (j, a) in rest.iter().enumerate() {
            if handled_last && a.starts_with("--") {
                if !options.is_empty() {
                    options.push('\n');
                }
                options.push_str(&a[2..]);
                options.push(' ');
                let words = split_config_line(a).map_or(2, |w| w.len());
                if words == 1 {
                    handled_last = false;
                    let is_save = a.eq_ignore_ascii_case("--save");
                    if is_save && (j == n - 1 || rest[j + 1].starts_with("--")) {
                        options.push_str("\"\"");
                        handled_last = true;
                    }
                } else {
                    handled_last = true;
                }
            } else {
                options.push_str(&repr_arg(a));
                options.push(' ');
                handled_last = true;
            }
        }
        if !options.is_empty() {
            text.push('\n');
            text.push_str(&options);
        }
        config.load_text(&text)?;
        Ok(config)
    }

    /// Applies redis.conf syntax: one directive per line, `#` comments, quoted arguments.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_config_line(line).ok_or_else(|| {
                config_error(lineno, line, "Unbalanced quotes in configuration line")
            })?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("user") {
                if args.is_empty() {
                    return Err(config_error(
                        lineno,
                        line,
                        "Bad directive or wrong number of arguments",
                    ));
                }
                self.users.write().push(args.to_vec());
                continue;
            }
            if name.eq_ignore_ascii_case("include")
                || name.eq_ignore_ascii_case("rename-command")
                || name.eq_ignore_ascii_case("loadmodule")
                || name.eq_ignore_ascii_case("sentinel")
                || (args.len() == 1
                    && crate::config_compat::DEPRECATED
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(name)))
            {
                continue;
            }
            let param = find_param(name).ok_or_else(|| {
                config_error(lineno, line, "Bad directive or wrong number of arguments")
            })?;
            // Redis's MULTI_ARG_CONFIGs take several words; every other parameter exactly one.
            let multi_arg = matches!(
                param.kind,
                Kind::Save | Kind::OutputBufferLimit | Kind::Bind
            ) || MULTI_ARG.contains(&param.name);
            if !multi_arg && args.len() != 1 {
                return Err(config_error(lineno, line, "wrong number of arguments"));
            }
            if param.name == "replicaof" {
                // A multi-word parameter given as one quoted word is split by spaces, as
                // Redis does (`--replicaof "host port"`).
                let words: Vec<&str> = match args {
                    [one] => one.split_whitespace().collect(),
                    _ => args.iter().map(String::as_str).collect(),
                };
                if words.len() != 2 {
                    return Err(config_error(lineno, line, "wrong number of arguments"));
                }
                let no_one =
                    words[0].eq_ignore_ascii_case("no") && words[1].eq_ignore_ascii_case("one");
                if !no_one && words[1].parse::<u16>().is_err() {
                    return Err(config_error(lineno, line, "Invalid master port"));
                }
            }
            let value = args.join(" ");
            let canon =
                normalize(param, &value).map_err(|e| config_error(lineno, line, &e.to_string()))?;
            let mut values = self.values.write();
            let first_time = seen.insert(param.name);
            let merged = match param.kind {
                // `save` on several lines accumulates, as in Redis ("save ''" clears).
                Kind::Save if !first_time && !canon.is_empty() => {
                    let prev = values.get(param.name).cloned().unwrap_or_default();
                    if prev.is_empty() {
                        canon
                    } else {
                        format!("{prev} {canon}")
                    }
                }
                // Each client-output-buffer-limit line sets only the classes it names.
                Kind::OutputBufferLimit => merge_buffer_limits(
                    values.get(param.name).map(String::as_str).unwrap_or(""),
                    &canon,
                ),
                _ => canon,
            };
            values.insert(param.name, merged);
        }
        self.refresh_live();
        Ok(())
    }

    /// The `user` lines of the config file, each as its words after `user`.
    pub fn user_lines(&self) -> Vec<Vec<String>> {
        self.users.read().clone()
    }

    pub fn get(&self, name: &str) -> String {
        self.values.read().get(name).cloned().unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// (name, value) pairs whose name or alias matches the glob `pattern`, for CONFIG GET.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for param in all_params() {
            if crate::config_compat::HIDDEN.contains(&param.name) {
                continue;
            }
            let value = values.get(param.name).cloned().unwrap_or_default();
            if cinnabar_engine::glob::glob_match(pattern, param.name.as_bytes(), true) {
                out.push((param.name, value.clone()));
            }
            for alias in param
                .aliases
                .iter()
                .copied()
                .chain(crate::config_compat::aliases_of(param))
            {
                if cinnabar_engine::glob::glob_match(pattern, alias.as_bytes(), true) {
                    out.push((alias, value.clone()));
                }
            }
        }
        out
    }

    /// CONFIG SET of several parameters at once: all are validated before any is applied.
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<(), (String, ConfigError)> {
        let mut staged = Vec::new();
        for (name, value) in pairs {
            let param =
                find_param(name).ok_or_else(|| (name.clone(), ConfigError::UnknownParam))?;
            if param.immutable {
                return Err((name.clone(), ConfigError::Immutable));
            }
            let canon = normalize(param, value).map_err(|e| (name.clone(), e))?;
            staged.push((param, canon));
        }
        {
            let mut values = self.values.write();
            for (param, canon) in staged {
                let value = match param.kind {
                    Kind::OutputBufferLimit => merge_buffer_limits(
                        values.get(param.name).map(String::as_str).unwrap_or(""),
                        &canon,
                    ),
                    _ => canon,
                };
                values.insert(param.name, value);
            }
        }
        self.refresh_live();
        Ok(())
    }

    /// Records a value the server itself changed (`replicaof` after REPLICAOF), even for an
    /// immutable parameter: CONFIG GET and CONFIG REWRITE report the current state.
    pub fn set_internal(&self, name: &'static str, value: String) {
        self.values.write().insert(name, value);
        self.refresh_live();
    }

    fn refresh_live(&self) {
        let v = self.values.read();
        let num = |n: &str| v.get(n).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        self.live
            .timeout_secs
            .store(num("timeout"), Ordering::Relaxed);
        self.live
            .proto_max_bulk_len
            .store(num("proto-max-bulk-len"), Ordering::Relaxed);
        self.live
            .client_query_buffer_limit
            .store(num("client-query-buffer-limit"), Ordering::Relaxed);
        self.live
            .maxclients
            .store(num("maxclients"), Ordering::Relaxed);
        self.live.hz.store(num("hz").max(1), Ordering::Relaxed);
        self.live
            .busy_reply_threshold_ms
            .store(num("busy-reply-threshold"), Ordering::Relaxed);
        self.live.lazyfree_lazy_user_del.store(
            v.get("lazyfree-lazy-user-del").is_some_and(|s| s == "yes"),
            Ordering::Relaxed,
        );
        self.live.aof_timestamp_enabled.store(
            v.get("aof-timestamp-enabled").is_some_and(|s| s == "yes"),
            Ordering::Relaxed,
        );
        // `has_password` belongs to crate::acl (the default user may get a password from
        // ACL SETUSER as well as from requirepass); it is set at start-up.
        crate::notify::refresh_live(&self.live, &v);
        let int = |n: &str| v.get(n).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        self.live
            .list_fill
            .store(int("list-max-listpack-size"), Ordering::Relaxed);
        self.live
            .hll_sparse_max_bytes
            .store(num("hll-sparse-max-bytes"), Ordering::Relaxed);
        self.live
            .rdb_key_save_delay
            .store(int("rdb-key-save-delay"), Ordering::Relaxed);
        self.live
            .key_load_delay
            .store(int("key-load-delay"), Ordering::Relaxed);
        self.live
            .slowlog_slower_than
            .store(int("slowlog-log-slower-than"), Ordering::Relaxed);
        self.live
            .slowlog_max_len
            .store(num("slowlog-max-len"), Ordering::Relaxed);
        self.live
            .latency_monitor_threshold
            .store(num("latency-monitor-threshold"), Ordering::Relaxed);
        self.live.latency_tracking.store(
            v.get("latency-tracking").is_some_and(|s| s == "yes"),
            Ordering::Relaxed,
        );
        let groups: [(&[AtomicU64], &[&str]); 4] = [
            (
                &self.live.set_limits,
                &[
                    "set-max-intset-entries",
                    "set-max-listpack-entries",
                    "set-max-listpack-value",
                ],
            ),
            (
                &self.live.hash_limits,
                &["hash-max-listpack-entries", "hash-max-listpack-value"],
            ),
            (
                &self.live.zset_limits,
                &["zset-max-listpack-entries", "zset-max-listpack-value"],
            ),
            (
                &self.live.stream_limits,
                &["stream-node-max-bytes", "stream-node-max-entries"],
            ),
        ];
        for (cells, names) in groups {
            for (cell, name) in cells.iter().zip(names) {
                cell.store(int(name).max(0) as u64, Ordering::Relaxed);
            }
        }
    }

    /// Every parameter and value, for CONFIG REWRITE.
    pub fn snapshot(&self) -> Vec<(&'static str, String)> {
        self.values
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Overlays the classes named in `new` ("normal 0 0 0 pubsub ...") on the `old` setting.
fn merge_buffer_limits(old: &str, new: &str) -> String {
    let mut classes: Vec<(String, String)> = Vec::new();
    for text in [old, new] {
        let words: Vec<&str> = text.split_whitespace().collect();
        for chunk in words.chunks(4).filter(|c| c.len() == 4) {
            let rest = chunk[1..].join(" ");
            match classes.iter_mut().find(|(c, _)| c == chunk[0]) {
                Some(slot) => slot.1 = rest,
                None => classes.push((chunk[0].to_string(), rest)),
            }
        }
    }
    classes
        .iter()
        .map(|(c, r)| format!("{c} {r}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn config_error(lineno: usize, line: &str, why: &str) -> String {
    format!("\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {}\n>>> '{}'\n{}", lineno + 1, line, why)
}

/// Parameters that take several words besides the `Kind`s that do (save, bind,
/// client-output-buffer-limit): Redis's other MULTI_ARG_CONFIGs.
const MULTI_ARG: &[&str] = &[
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "oom-score-adj-values",
    "replicaof",
    "latency-tracking-info-percentiles",
];

/// A value double-quoted as the config parser reads it back, with what it unescapes escaped
/// (sdscatrepr's form for ASCII; other characters as they are): command-line values as
/// redis-server appends them to the configuration text, and CONFIG REWRITE's string values.
pub(crate) fn repr_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits a config line into words, honouring "double" and 'single' quotes.
pub fn split_config_line(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if c == '"' => match chars.next()? {
                        'n' => word.push('\n'),
                        'r' => word.push('\r'),
                        't' => word.push('\t'),
                        other => word.push(other),
                    },
                    q if q == c => break,
                    other => word.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_at_once() {
        let c = Config::new();
        assert_eq!(c.get("port"), "6379");
        assert_eq!(c.get("bind"), "127.0.0.1 -::1");
        assert_eq!(c.get("databases"), "16");
    }

    #[test]
    fn user_lines_are_kept_for_acl() {
        let c = Config::from_text("user alice on >pw ~*\nuser bob\nport 7000\n").unwrap();
        assert_eq!(
            c.user_lines(),
            vec![vec!["alice", "on", ">pw", "~*"], vec!["bob"]]
        );
        assert!(Config::from_text("user\n").is_err());
    }

    #[test]
    fn args_override_file_syntax() {
        let args: Vec<String> = ["--port", "7000", "--save", "", "--requirepass", "a b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = Config::from_args(&args).unwrap();
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("save"), "");
        assert_eq!(c.get("requirepass"), "a b");
    }

    #[test]
    fn unknown_parameter_is_an_error() {
        let args: Vec<String> = ["--no-such-thing", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(Config::from_args(&args)
            .err()
            .unwrap()
            .contains("Bad directive"));
    }

    #[test]
    fn memory_units_and_aliases() {
        let c = Config::new();
        c.set_many(&[
            ("maxmemory".into(), "1mb".into()),
            ("hash-max-ziplist-value".into(), "32".into()),
        ])
        .unwrap();
        assert_eq!(c.get("maxmemory"), "1048576");
        assert_eq!(c.get("hash-max-listpack-value"), "32");
        assert_eq!(
            c.matching(b"hash-max-ziplist-value"),
            vec![("hash-max-ziplist-value", "32".to_string())]
        );
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert!(c.set_many(&[("databases".into(), "1".into())]).is_err());
        assert!(c.set_many(&[("daemonize".into(), "yes".into())]).is_err());
    }

    #[test]
    fn save_lines_accumulate_and_buffer_limits_merge() {
        let mut c = Config::new();
        c.load_text("save 900 1\nsave 300 10\nclient-output-buffer-limit pubsub 1mb 2mb 30")
            .unwrap();
        assert_eq!(c.get("save"), "900 1 300 10");
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2097152 30"
        );
        c.set_many(&[("client-output-buffer-limit".into(), "normal 1 2 3".into())])
            .unwrap();
        assert!(c
            .get("client-output-buffer-limit")
            .starts_with("normal 1 2 3 slave"));
    }
}
