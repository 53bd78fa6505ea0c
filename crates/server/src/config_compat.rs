//! The rest of Redis 7.2's configuration surface: parameters Cinnabar accepts and reports but
//! does not act on (cluster, TLS, CPU lists, defrag...), the `slave-*` style aliases of
//! parameters it does implement, and the deprecated directives redis.conf files still carry.
//!
//! Why: a redis.conf written for Redis 7.2 (Redis's own test suite's `default.conf`, a
//! distribution's file) must start Cinnabar as it is; Redis accepts each of these names, so
//! refusing one would make a valid file fatal. Kept apart from `config::PARAMS` so that the
//! parameters with behaviour stay readable there, and so that a subsystem which starts acting
//! on one of these simply declares it in `PARAMS`: that declaration wins (lookups try
//! `PARAMS` first, and entries here whose name is also there are skipped).
//!
//! Names, kinds, ranges and defaults are Redis 7.2.4's (`config.c`).

use crate::config::{al, im, p, Kind, Param};

const INT_MAX: i64 = i32::MAX as i64;
const PORT: Kind = Kind::Int { min: 0, max: 65535 };
const NONNEG_INT: Kind = Kind::Int {
    min: 0,
    max: INT_MAX,
};
const MEM: Kind = Kind::Memory { max: u64::MAX };
const B: Kind = Kind::Bool;
const S: Kind = Kind::Str;

/// Redis 7.2 parameters without behaviour here (yet).
pub static EXTRA: &[Param] = &[
    p("repl-disable-tcp-nodelay", B, "no"),
    p("replica-ignore-disk-write-errors", B, "no"),
    p("replica-announced", B, "yes"),
    al(
        "replica-ignore-maxmemory",
        &["slave-ignore-maxmemory"],
        B,
        "yes",
    ),
    al("replica-announce-ip", &["slave-announce-ip"], S, ""),
    al("replica-announce-port", &["slave-announce-port"], PORT, "0"),
    // `replicaof host port` in a file; "" while not a replica.
    Param {
        name: "replicaof",
        aliases: &["slaveof"],
        kind: S,
        default: "",
        immutable: true,
    },
    p(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    p("ignore-warnings", S, ""),
    p(
        "proc-title-template",
        S,
        "{title} {listen-addr} {server-mode}",
    ),
    p("bind-source-addr", S, ""),
    p("locale-collate", S, ""),
    im(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
    ),
    im("server_cpulist", S, ""),
    im("bio_cpulist", S, ""),
    im("aof_rewrite_cpulist", S, ""),
    im("bgsave_cpulist", S, ""),
    im(
        "socket-mark-id",
        Kind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        "0",
    ),
    p("watchdog-period", NONNEG_INT, "0"),
    p("use-exit-on-panic", B, "no"),
    p("aof-disable-auto-gc", B, "no"),
    p(
        "loading-process-events-interval-bytes",
        Kind::Int {
            min: 1024,
            max: INT_MAX,
        },
        "2097152",
    ),
    // Active defragmentation (mimalloc needs none of it).
    p(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
    ),
    p(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
    ),
    p(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
    ),
    p(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
    ),
    p(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        "1000",
    ),
    p("active-defrag-ignore-bytes", MEM, "104857600"),
    // Cluster.
    im("cluster-config-file", S, "nodes.conf"),
    im("cluster-port", PORT, "0"),
    p("cluster-require-full-coverage", B, "yes"),
    al(
        "cluster-replica-no-failover",
        &["cluster-slave-no-failover"],
        B,
        "no",
    ),
    p("cluster-allow-reads-when-down", B, "no"),
    p("cluster-allow-pubsubshard-when-down", B, "yes"),
    p("cluster-allow-replica-migration", B, "yes"),
    al(
        "cluster-replica-validity-factor",
        &["cluster-slave-validity-factor"],
        NONNEG_INT,
        "10",
    ),
    p("cluster-migration-barrier", NONNEG_INT, "1"),
    p(
        "cluster-node-timeout",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "15000",
    ),
    p(
        "cluster-ping-interval",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "0",
    ),
    p("cluster-link-sendbuf-limit", MEM, "0"),
    p("cluster-announce-ip", S, ""),
    p("cluster-announce-hostname", S, ""),
    p("cluster-announce-human-nodename", S, ""),
    p("cluster-announce-port", PORT, "0"),
    p("cluster-announce-bus-port", PORT, "0"),
    p("cluster-announce-tls-port", PORT, "0"),
    p(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    // TLS: the rest is declared in config::PARAMS (crate::net::tls acts on it). No cluster
    // bus here; rustls negotiates no finite-field DH, so no DH parameters either.
    p("tls-cluster", B, "no"),
    p("tls-dh-params-file", S, ""),
];

/// Old names Redis 7.2 still accepts for parameters declared in `config::PARAMS`:
/// (alias, canonical name).
pub static ALIASES: &[(&str, &str)] = &[
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-read-only", "replica-read-only"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
];

/// Directives a config file may hold that Redis 7.2 reads and ignores (deprecated), each
/// with the one argument it takes.
pub static DEPRECATED: &[&str] = &["list-max-ziplist-entries", "list-max-ziplist-value"];

/// Parameters Redis hides from CONFIG GET patterns (they answer only to their exact name).
pub static HIDDEN: &[&str] = &[
    "use-exit-on-panic",
    "aof-disable-auto-gc",
    "watchdog-period",
    "cluster-ping-interval",
    "loading-process-events-interval-bytes",
    "rdb-key-save-delay",
    "key-load-delay",
    // Cinnabar's own start-up-only parameters: a tool that sets every parameter CONFIG GET *
    // lists back to its value (as Redis's own suite does) knows only Redis's immutable ones.
    "threads",
    "shards",
];

/// A memory parameter given as a percentage of `maxmemory` (`maxmemory-clients 10%`), as
/// Redis's PERCENT_CONFIG parameters accept: 0% to 100%.
pub fn normalize_percent(value: &str) -> Result<String, crate::config::ConfigError> {
    let n: i64 = value[..value.len() - 1]
        .parse()
        .map_err(|_| crate::config::ConfigError::NotMemory)?;
    if n < 0 {
        return Err(crate::config::ConfigError::NotMemory);
    }
    if n > 100 {
        return Err(crate::config::ConfigError::Other(
            "percentage argument must be less or equal to 100".into(),
        ));
    }
    Ok(format!("{n}%"))
}

pub(crate) fn in_params(name: &str) -> bool {
    crate::config::PARAMS.iter().any(|p| p.name == name)
}

/// The entries of [`EXTRA`] not superseded by a declaration in `config::PARAMS`.
pub fn extra() -> impl Iterator<Item = &'static Param> {
    EXTRA.iter().filter(|e| !in_params(e.name))
}

/// Finds `name` among the extra parameters and the aliases of this module.
pub fn find(name: &str) -> Option<&'static Param> {
    if let Some(found) = extra().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }) {
        return Some(found);
    }
    let (_, canonical) = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))?;
    crate::config::PARAMS.iter().find(|p| p.name == *canonical)
}

/// This module's aliases of `param` that `param` does not declare itself (to list them in
/// CONFIG GET as Redis does).
pub fn aliases_of(param: &Param) -> impl Iterator<Item = &'static str> + '_ {
    ALIASES
        .iter()
        .filter(move |(alias, canonical)| {
            *canonical == param.name && !param.aliases.contains(alias)
        })
        .map(|(alias, _)| *alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_and_no_name_is_declared_twice() {
        let mut names = std::collections::HashSet::new();
        for param in crate::config::PARAMS.iter().chain(extra()) {
            assert_eq!(
                crate::config::normalize(param, param.default).as_deref(),
                Ok(param.default),
                "default of {}",
                param.name
            );
            for name in std::iter::once(param.name).chain(param.aliases.iter().copied()) {
                assert!(names.insert(name), "{name} declared twice");
            }
        }
        for (alias, canonical) in ALIASES {
            assert!(in_params(canonical), "{alias} names an unknown {canonical}");
        }
    }
}
