//! CONFIG GET, SET, RESETSTAT, REWRITE and HELP (Redis's config.c commands). The parameters
//! themselves, their parsing and validation live in `crate::config`; CONFIG REWRITE keeps the
//! file's comments and order as Redis's rewrite does.

use std::sync::atomic::Ordering;

use cinnabar_engine::{Error, Result};

use super::{container_help as help, lossy};
use crate::config::{find_param, normalize, Kind, Param};
use crate::dispatch::{Ctx, Registry};
use crate::info::{self, for_each_shard};
use crate::server::now_ms;

pub fn register(r: &mut Registry) {
    r.add("config|get", config_get);
    r.add("config|set", config_set);
    r.add("config|resetstat", config_resetstat);
    r.add("config|rewrite", config_rewrite);
    r.add("config|help", config_help);
}

/// CONFIG GET pattern [pattern ...]: a map of name to value. A plain name is looked up
/// directly (aliases included) and echoed as typed; a glob matches every name and alias.
/// A name already in the reply, compared case-insensitively, is not repeated.
fn config_get(ctx: &mut Ctx) -> Result<()> {
    let config = &ctx.server.config;
    let mut found: Vec<(String, String)> = Vec::new();
    let seen = |found: &[(String, String)], name: &str| {
        found.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    for pattern in &ctx.args[2..] {
        if !pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            let name = lossy(pattern);
            if !seen(&found, &name) {
                if let Some(param) = find_param(&name) {
                    found.push((name, config.get(param.name)));
                }
            }
            continue;
        }
        for (name, value) in config.matching(pattern) {
            if !seen(&found, name) {
                found.push((name.to_string(), value));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, value) in &found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET name value [name value ...]: all or nothing. Names are checked first (the
/// first unknown, immutable or repeated name is reported, as Redis does), then values;
/// only when every pair is valid is anything applied.
fn config_set(ctx: &mut Ctx) -> Result<()> {
    // Names and values come in pairs after CONFIG SET, so the argument count is even.
    if ctx.args.len() & 1 != 0 {
        return Err(Error::Syntax);
    }
    let failed = |arg: &str, why: &str| {
        Error::msg(format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    let mut params: Vec<&'static Param> = Vec::new();
    for pair in ctx.args[2..].chunks(2) {
        let name = lossy(pair[0]);
        let Some(param) = find_param(&name) else {
            return Err(Error::msg(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if param.immutable {
            return Err(failed(&name, "can't set immutable config"));
        }
        // Redis's PROTECTED_CONFIGs: changed only as enable-protected-configs allows.
        if matches!(param.name, "dir" | "dbfilename") {
            let allowed = match ctx.server.config.get("enable-protected-configs").as_str() {
                "yes" => true,
                "local" => ctx.client.is_local,
                _ => false,
            };
            if !allowed {
                return Err(failed(&name, "can't set protected config"));
            }
        }
        if params.iter().any(|p| std::ptr::eq(*p, param)) {
            return Err(failed(&name, "duplicate parameter"));
        }
        params.push(param);
    }
    // Redis's DENY_LOADING_CONFIG parameters, refused while a dataset loads (a replica's
    // swapdb load included).
    let p = &ctx.server.persist;
    if (p.is_loading() || p.async_loading.load(std::sync::atomic::Ordering::Relaxed))
        && params
            .iter()
            .any(|x| matches!(x.name, "appendonly" | "repl-diskless-load" | "dir"))
    {
        return Err(Error::msg("LOADING Redis is loading the dataset in memory"));
    }
    let mut pairs = Vec::with_capacity(params.len());
    for (param, pair) in params.iter().zip(ctx.args[2..].chunks(2)) {
        let value = lossy(pair[1]);
        // Value errors name the parameter by its canonical name, like Redis.
        normalize(param, &value).map_err(|e| failed(param.name, &e.to_string()))?;
        pairs.push((param.name.to_string(), value));
    }
    // TLS: the new configuration is built from the values about to be set before anything
    // is applied; a failure (a missing file, a key that does not decrypt) changes nothing and
    // new connections keep the current configuration, as in Redis.
    let mut tls_built = match pairs
        .iter()
        .find(|(name, _)| crate::net::tls::is_tls_param(name))
    {
        Some((first, _)) => {
            let config = &ctx.server.config;
            let get = |n: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| name == n)
                    .and_then(|(name, v)| normalize(find_param(name)?, v).ok())
                    .unwrap_or_else(|| config.get(n))
            };
            if crate::net::tls::wanted(&get) {
                match crate::net::tls::build(&get) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        tracing::warn!("{e}");
                        return Err(failed(
                            first,
                            &format!("Unable to update TLS configuration. {e}"),
                        ));
                    }
                }
            } else {
                None
            }
        }
        None => None,
    };
    // tls-port: TLS must be configured (now or by this CONFIG SET) and the port bound
    // before anything is applied, as Redis's applyTLSPort.
    let tls_port = match pairs.iter().find(|(name, _)| name == "tls-port") {
        Some((_, v)) => {
            let port: u16 = v.parse().unwrap_or(0);
            if port as u64 == ctx.server.tls_port.load(Ordering::Relaxed) {
                None
            } else {
                if port != 0 && tls_built.is_none() && !ctx.server.tls.configured() {
                    let config = &ctx.server.config;
                    let get = |n: &str| config.get(n);
                    match crate::net::tls::build(&get) {
                        Ok(b) => tls_built = Some(b),
                        Err(e) => {
                            tracing::warn!("{e}");
                            return Err(failed(
                                "tls-port",
                                &format!("Unable to update TLS configuration. {e}"),
                            ));
                        }
                    }
                }
                Some(crate::net::bind_tls(ctx.server, port).map_err(|_| {
                    failed(
                        "tls-port",
                        "Unable to listen on this port. Check server logs.",
                    )
                })?)
            }
        }
        None => None,
    };
    let old: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, _)| (name.clone(), ctx.server.config.get(name)))
        .collect();
    ctx.server
        .config
        .set_many(&pairs)
        .map_err(|(name, e)| failed(&name, &e.to_string()))?;
    if let Err((name, why)) = apply(ctx.server, &pairs) {
        // Redis's rollback: every parameter of the call goes back to its old value, and
        // what was already applied is applied again with it.
        let _ = ctx.server.config.set_many(&old);
        if let Err((n, e)) = apply(ctx.server, &old) {
            tracing::warn!("CONFIG SET rollback: {n}: {e}");
        }
        return Err(failed(&name, &why));
    }
    // TLS was prepared (and its new port bound) before anything changed: nothing can fail now.
    if let Some(built) = tls_built {
        ctx.server.tls.install(built);
    }
    if let Some(listeners) = tls_port {
        if let Some(server) = ctx.server.self_ref.get().and_then(|w| w.upgrade()) {
            crate::net::replace_tls_listeners(&server, listeners);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// Puts CONFIG SET's new values to work (the parameters the server does not just read when
/// it needs them); the first failure names its parameter.
fn apply(
    server: &crate::server::Server,
    pairs: &[(String, String)],
) -> std::result::Result<(), (String, String)> {
    for (name, _) in pairs {
        crate::persist::aof::config_changed(server, name).map_err(|e| (name.clone(), e))?;
        if pairs.iter().any(|(name, _)| name == "maxclients") {
            // As Redis: raise the open-files limit for the new number, or refuse it (the
            // rollback keeps the old value) when the system allows fewer.
            let wanted = server.config.get_i64("maxclients").max(1) as u64;
            let refused = match crate::net::fdlimit::adjust(wanted) {
            crate::net::fdlimit::Adjusted::Fits => None,
            crate::net::fdlimit::Adjusted::Lowered(n) => Some(format!(
                "The operating system is not able to handle the specified number of clients, try with {n}"
            )),
            crate::net::fdlimit::Adjusted::TooLow { .. } => Some(
                "The operating system is not able to handle the specified number of clients"
                    .to_string(),
            ),
        };
            if let Some(why) = refused {
                return Err(("maxclients".to_string(), why));
            }
        }
    }
    if pairs.iter().any(|(name, _)| {
        name.starts_with("maxmemory")
            || name.starts_with("lfu-")
            || name == "lazyfree-lazy-eviction"
    }) {
        crate::evict::configure(server);
        crate::climem::configure(server);
    }
    if let Some((name, _)) = pairs.iter().find(|(n, _)| n == "port" || n == "bind") {
        if let Some(server) = server.self_ref.get().and_then(|w| w.upgrade()) {
            crate::net::rebind(&server).map_err(|e| (name.clone(), e))?;
        }
    }
    if pairs.iter().any(|(name, _)| name == "metrics-port") {
        if let Some(server) = server.self_ref.get().and_then(|w| w.upgrade()) {
            crate::ops::metrics::configure(&server).map_err(|e| ("metrics-port".to_string(), e))?;
        }
    }
    if let Some((_, pass)) = pairs.iter().find(|(name, _)| name == "requirepass") {
        server.acl.set_requirepass(server, pass);
    }
    if pairs.iter().any(|(name, _)| {
        name == "repl-backlog-size"
            || name == "client-output-buffer-limit"
            || name.starts_with("min-replicas")
    }) {
        crate::replication::configure(server);
    }
    if pairs
        .iter()
        .any(|(name, _)| name == "notify-keyspace-events")
    {
        crate::dispatch::sink::refresh_expiry_log(server);
    }
    Ok(())
}

/// CONFIG RESETSTAT: zeroes what INFO stats and commandstats count.
///
/// Worker counters are written by their own thread with a plain load-then-store, so a
/// command finishing on another thread during the reset may put back that thread's old
/// count plus one; the reset is best effort, like any statistic read while it changes.
fn config_resetstat(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    for w in &server.workers {
        for s in w.commands.iter() {
            s.calls.store(0, Ordering::Relaxed);
            s.usec.store(0, Ordering::Relaxed);
            s.rejected.store(0, Ordering::Relaxed);
            s.failed.store(0, Ordering::Relaxed);
        }
        for c in [
            &w.total_commands,
            &w.net_input_bytes,
            &w.net_output_bytes,
            &w.rejected_calls,
            &w.failed_calls,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        w.errors.lock().clear();
    }
    crate::ops::histogram::reset_all(server);
    for_each_shard(server, ctx.data, |shard| {
        for db in shard.dbs.iter_mut() {
            db.hits = 0;
            db.misses = 0;
            db.expired_keys = 0;
        }
    });
    server.total_connections.store(0, Ordering::Relaxed);
    server.rejected_connections.store(0, Ordering::Relaxed);
    for c in [
        &server.repl.sync_full,
        &server.repl.sync_partial_ok,
        &server.repl.sync_partial_err,
        &server.repl.unexpected_error_replies,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    server.evict.reset_stats();
    cinnabar_engine::lazyfree::reset_stats();
    server.stat_reset_ms.store(now_ms(), Ordering::Relaxed);
    info::reset_samples(server);
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE: rewrites the config file given at start-up with the current values,
/// keeping its comments and layout (see [`rewrite_config_text`]). The new text goes to a
/// temporary file that is then renamed over the old one, so a crash never leaves a
/// half-written config.
fn config_rewrite(ctx: &mut Ctx) -> Result<()> {
    rewrite(ctx.server, false)?;
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE's work; `force_all` (DEBUG CONFIG-REWRITE-FORCE-ALL) writes every
/// parameter, defaults included.
pub fn rewrite(server: &crate::server::Server, force_all: bool) -> Result<()> {
    let config = &server.config;
    let Some(path) = config.config_file.as_deref() else {
        return Err(Error::msg(
            "ERR The server is running without a config file",
        ));
    };
    let fail =
        |e: std::io::Error| Error::msg(format!("ERR Rewriting config file: {}", io_error_text(&e)));
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(e)),
    };
    let values: Vec<(&'static str, String)> = crate::config::all_params()
        .map(|p| (p.name, config.get(p.name)))
        .collect();
    let text = rewrite_config_text_with(&old, &values, force_all);
    write_atomically(path, &text).map_err(fail)?;
    tracing::info!("CONFIG REWRITE executed with success.");
    Ok(())
}

/// The OS error text without Rust's " (os error N)" suffix, as strerror prints it.
fn io_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = format!("{path}.tmp-{}-{nanos}", std::process::id());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Marks where CONFIG REWRITE started appending options that were not in the file.
const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

/// Directives the config parser accepts that are not parameters; their lines are kept.
const OTHER_DIRECTIVES: &[&str] = &["include", "rename-command", "user", "loadmodule"];

/// The new config file text for `values` (every parameter with its current value), given
/// the old file's text. Redis's rules:
///
/// - comments, blank lines and non-parameter directives (include...) stay where they are;
///   a line that does not parse or names no known directive is kept commented out as
///   `# ??? line` so nothing the user wrote is silently lost;
/// - the first line that sets a parameter (under its name or an alias) is replaced by the
///   current value under the canonical name; further lines for it are removed;
/// - parameters not in the file are appended, after a signature comment, only when their
///   value differs from the default (`save` is always written, so that an empty `save`
///   survives a restart instead of falling back to the default schedule, and so is `dir`,
///   whose default is wherever the server happens to start);
/// - runs of blank lines collapse into one.
pub fn rewrite_config_text(old: &str, values: &[(&'static str, String)]) -> String {
    rewrite_config_text_with(old, values, false)
}

/// [`rewrite_config_text`], writing every parameter when `force_all`.
pub fn rewrite_config_text_with(
    old: &str,
    values: &[(&'static str, String)],
    force_all: bool,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    // Line numbers that set each parameter, by canonical name, in file order.
    let mut uses: std::collections::HashMap<&'static str, std::collections::VecDeque<usize>> =
        Default::default();
    let mut needs_signature = true;
    for raw in old.split('\n') {
        let line = raw.trim_matches(|c| matches!(c, '\r' | '\n' | '\t' | ' '));
        if line.is_empty() || line.starts_with('#') {
            if line == REWRITE_SIGNATURE {
                needs_signature = false;
            }
            lines.push(line.to_string());
            continue;
        }
        let words = crate::config::split_config_line(line);
        let directive = words.as_ref().and_then(|w| w.first());
        let param = directive.and_then(|d| find_param(d));
        let known = param.is_some()
            || directive
                .is_some_and(|d| OTHER_DIRECTIVES.iter().any(|o| o.eq_ignore_ascii_case(d)));
        if !known {
            lines.push(format!("# ??? {line}"));
            continue;
        }
        if let Some(p) = param {
            uses.entry(p.name).or_default().push_back(lines.len());
        }
        lines.push(line.to_string());
    }
    // split('\n') yields a final empty piece for a file ending in a newline.
    if old.ends_with('\n') {
        lines.pop();
    }

    for param in crate::config::all_params() {
        let Some((_, value)) = values.iter().find(|(n, _)| *n == param.name) else {
            continue;
        };
        // A primary's file keeps no `replicaof` line (Redis's rewriteConfigReplicaOfOption).
        if param.name == "replicaof" && value.is_empty() {
            if let Some(at) = uses.get_mut(param.name).and_then(|l| l.pop_front()) {
                lines[at].clear();
            }
            continue;
        }
        let force =
            force_all || value != param.default || param.name == "save" || param.name == "dir";
        let line = config_line(param, value);
        match uses.get_mut(param.name).and_then(|l| l.pop_front()) {
            Some(at) => lines[at] = line,
            None if force => {
                if needs_signature {
                    lines.push(REWRITE_SIGNATURE.to_string());
                    needs_signature = false;
                }
                lines.push(line);
            }
            None => {}
        }
    }
    // Remaining lines set a parameter already written once: blank them.
    for at in uses.values().flatten() {
        lines[*at].clear();
    }

    let mut out = String::with_capacity(old.len() + 256);
    let mut was_empty = false;
    for line in &lines {
        if line.is_empty() {
            if was_empty {
                continue;
            }
            was_empty = true;
        } else {
            was_empty = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One config file line setting `param` to `value`, in a form the parser reads back.
fn config_line(param: &Param, value: &str) -> String {
    let name = param.name;
    if name == "replicaof" {
        // `replicaof host port`: two words, as redis-server reads them back.
        return format!("{name} {value}");
    }
    match param.kind {
        Kind::Str => format!("{name} {}", crate::config::repr_arg(value)),
        Kind::Memory { .. } => format!("{name} {}", format_memory(value)),
        _ if value.is_empty() => format!("{name} \"\""),
        _ => format!("{name} {value}"),
    }
}

/// A byte count with the largest binary unit that divides it (1gb, 64mb, 4kb), as Redis
/// writes memory values.
fn format_memory(value: &str) -> String {
    let Ok(n) = value.parse::<u64>() else {
        return value.to_string();
    };
    for (unit, size) in [("gb", 1u64 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
        if n != 0 && n % size == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

fn config_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "GET <pattern> [<pattern> ...]",
            "    Reply with every parameter whose name matches a glob-style <pattern>, and its value.",
            "SET <parameter> <value> [<parameter> <value> ...]",
            "    Change parameters at run time; either all of them change or none does.",
            "RESETSTAT",
            "    Zero the statistics shown by INFO (command counts, hits and misses...).",
            "REWRITE",
            "    Write the current configuration back into the config file.",
        ],
    );
    Ok(())
}
