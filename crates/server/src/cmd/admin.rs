//! Server administration: INFO, CONFIG, COMMAND, TIME, LASTSAVE, DEBUG, SHUTDOWN, MEMORY,
//! SLOWLOG and LATENCY; plus the generator of docs/commands.md.
//!
//! Replies follow Redis 7.2's formats and error texts, since client libraries and tools
//! parse them. Where Cinnabar lacks the subsystem behind a command (a slow log, latency
//! monitoring, persistence) the command still answers with what an idle Redis would say
//! (an empty log, no samples), so tools that probe it keep working.
//!
//! Every command here is keyless except MEMORY USAGE, so they run without shard locks;
//! the few that read the whole keyspace (INFO, CONFIG RESETSTAT, DEBUG POPULATE, MEMORY
//! STATS) visit the shards one at a time through [`info::for_each_shard`] rather than
//! stopping every client for the whole walk.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;

use cinnabar_commands::{self as commands, acl, flags, keyspec_flags, CommandDef, Group};
use cinnabar_engine::{num, Entry, Error, Result};

use super::{int_arg, is, new_str_value};
use crate::config::{find_param, normalize, Kind, Param, PARAMS};
use crate::dispatch::{Ctx, Registry};
use crate::info::{self, for_each_shard, Selection};
use crate::server::{now_ms, now_us};

pub fn register(r: &mut Registry) {
    r.add("info", info_cmd);
    r.add("time", time);
    r.add("lastsave", lastsave);
    r.add("debug", debug);
    r.add("shutdown", shutdown);

    r.add("config|get", config_get);
    r.add("config|set", config_set);
    r.add("config|resetstat", config_resetstat);
    r.add("config|rewrite", config_rewrite);
    r.add("config|help", config_help);

    r.add("command", command);
    r.add("command|count", command_count);
    r.add("command|info", command_info);
    r.add("command|docs", command_docs);
    r.add("command|list", command_list);
    r.add("command|getkeys", command_getkeys);
    r.add("command|getkeysandflags", command_getkeysandflags);
    r.add("command|help", command_help);

    r.add("memory|usage", memory_usage);
    r.add("memory|stats", memory_stats);
    r.add("memory|doctor", memory_doctor);
    r.add("memory|malloc-stats", memory_malloc_stats);
    r.add("memory|purge", memory_purge);
    r.add("memory|help", memory_help);

    r.add("slowlog|get", slowlog_get);
    r.add("slowlog|len", slowlog_len);
    r.add("slowlog|reset", slowlog_reset);
    r.add("slowlog|help", slowlog_help);

    r.add("latency|latest", latency_latest);
    r.add("latency|history", latency_history);
    r.add("latency|reset", latency_reset);
    r.add("latency|graph", latency_graph);
    r.add("latency|doctor", latency_doctor);
    r.add("latency|histogram", latency_histogram);
    r.add("latency|help", latency_help);
}

/// A HELP reply in Redis's shape: a header naming the command, the lines, and the HELP
/// entry every container lists last.
fn help(ctx: &mut Ctx, lines: &[&str]) {
    let name = String::from_utf8_lossy(ctx.arg(0)).to_uppercase();
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(
        format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for line in lines {
        ctx.out.simple(line.as_bytes());
    }
    ctx.out.simple(b"HELP");
    ctx.out.simple(b"    Print this help.");
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------
// INFO, TIME, LASTSAVE
// ---------------------------------------------------------------------------------------

/// INFO [section ...]: a verbatim string (a bulk string in RESP2), as Redis replies.
fn info_cmd(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let sel = Selection::parse(&ctx.args[1..]);
    let text = info::generate(ctx.server, ctx.data, &sel, ctx.now, used);
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// TIME: seconds and the microseconds within the second, both as bulk strings.
fn time(ctx: &mut Ctx) -> Result<()> {
    let us = now_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(())
}

fn lastsave(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(ctx.server.lastsave.load(Ordering::Relaxed));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------------------

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
        if params.iter().any(|p| std::ptr::eq(*p, param)) {
            return Err(failed(&name, "duplicate parameter"));
        }
        params.push(param);
    }
    let mut pairs = Vec::with_capacity(params.len());
    for (param, pair) in params.iter().zip(ctx.args[2..].chunks(2)) {
        let value = lossy(pair[1]);
        // Value errors name the parameter by its canonical name, like Redis.
        normalize(param, &value).map_err(|e| failed(param.name, &e.to_string()))?;
        pairs.push((param.name.to_string(), value));
    }
    ctx.server
        .config
        .set_many(&pairs)
        .map_err(|(name, e)| failed(&name, &e.to_string()))?;
    for (name, _) in &pairs {
        crate::persist::aof::config_changed(ctx.server, name).map_err(|e| failed(name, &e))?;
    }
    if pairs.iter().any(|(name, _)| {
        name.starts_with("maxmemory")
            || name.starts_with("lfu-")
            || name == "lazyfree-lazy-eviction"
    }) {
        crate::evict::configure(ctx.server);
    }
    ctx.out.ok();
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
    for_each_shard(server, ctx.data, |shard| {
        for db in shard.dbs.iter_mut() {
            db.hits = 0;
            db.misses = 0;
            db.expired_keys = 0;
        }
    });
    server.total_connections.store(0, Ordering::Relaxed);
    server.rejected_connections.store(0, Ordering::Relaxed);
    server.evict.reset_stats();
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
    let config = &ctx.server.config;
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
    let values: Vec<(&'static str, String)> = PARAMS
        .iter()
        .map(|p| (p.name, config.get(p.name)))
        .collect();
    let text = rewrite_config_text(&old, &values);
    write_atomically(path, &text).map_err(fail)?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
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

    for param in PARAMS {
        let Some((_, value)) = values.iter().find(|(n, _)| *n == param.name) else {
            continue;
        };
        let force = value != param.default || param.name == "save" || param.name == "dir";
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
    match param.kind {
        Kind::Str => format!("{name} {}", quote_config_value(value)),
        Kind::Memory { .. } => format!("{name} {}", format_memory(value)),
        _ if value.is_empty() => format!("{name} \"\""),
        _ => format!("{name} {value}"),
    }
}

/// Double-quotes a string value, escaping what the config parser unescapes.
fn quote_config_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
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

// ---------------------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------------------

/// The command table as this server implements it: the top-level commands present in the
/// registry, sorted by name, each container restricted to its registered subcommands (and
/// present when any is). COMMAND, COMMAND INFO/DOCS/LIST/COUNT all answer from it, so a
/// client never learns of a command it cannot run.
///
/// Every [`Registry`] comes from [`Registry::build`], which registers the same fixed set,
/// so the view is built once per process from the first registry asked about. Restricted
/// containers are copies with a filtered subcommand slice; they are leaked once (a few
/// hundred bytes) to get the `'static` lifetime the table's types require.
pub fn implemented(registry: &Registry) -> &'static [&'static CommandDef] {
    static VIEW: OnceLock<Vec<&'static CommandDef>> = OnceLock::new();
    VIEW.get_or_init(|| {
        commands::all()
            .iter()
            .filter_map(|def| {
                let registered = registry.get(def.name.as_bytes()).is_some();
                if def.subcommands.is_empty() {
                    return registered.then_some(def);
                }
                let subs: Vec<CommandDef> = def
                    .subcommands
                    .iter()
                    .filter(|s| registry.get(s.name.as_bytes()).is_some())
                    .copied()
                    .collect();
                if subs.is_empty() && !registered {
                    return None;
                }
                if subs.len() == def.subcommands.len() {
                    return Some(def);
                }
                let subcommands: &'static [CommandDef] = Box::leak(subs.into_boxed_slice());
                Some(&*Box::leak(Box::new(CommandDef {
                    subcommands,
                    ..*def
                })))
            })
            .collect()
    })
}

/// An implemented command or subcommand by full name ("get", "config|get"), as COMMAND
/// INFO and DOCS accept them.
fn implemented_by_name(registry: &Registry, name: &[u8]) -> Option<&'static CommandDef> {
    let def = commands::lookup_full(name)?;
    implemented_def(registry, def)
}

/// The implemented version of a table entry, or None when this server lacks it.
fn implemented_def(registry: &Registry, def: &'static CommandDef) -> Option<&'static CommandDef> {
    match def.container {
        Some(_) => registry.get(def.name.as_bytes()).map(|e| e.def),
        None => {
            let view = implemented(registry);
            view.binary_search_by(|d| d.name.cmp(def.name))
                .ok()
                .map(|i| view[i])
        }
    }
}

/// COMMAND: the info of every implemented command.
fn command(ctx: &mut Ctx) -> Result<()> {
    let view = implemented(&ctx.server.registry);
    ctx.out.array(view.len());
    for def in view {
        commands::write_command_info(def, ctx.out);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx) -> Result<()> {
    ctx.out
        .integer(implemented(&ctx.server.registry).len() as i64);
    Ok(())
}

/// COMMAND INFO [name ...]: every command without names, else one entry per name, nil for
/// names this server does not implement.
fn command_info(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() == 2 {
        return command(ctx);
    }
    let registry = &ctx.server.registry;
    ctx.out.array(ctx.args.len() - 2);
    for name in &ctx.args[2..] {
        match implemented_by_name(registry, name) {
            Some(def) => commands::write_command_info(def, ctx.out),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// COMMAND DOCS [name ...]: a map of name to documentation; unknown names are left out.
fn command_docs(ctx: &mut Ctx) -> Result<()> {
    let registry = &ctx.server.registry;
    let defs: Vec<&'static CommandDef> = if ctx.args.len() == 2 {
        implemented(registry).to_vec()
    } else {
        ctx.args[2..]
            .iter()
            .filter_map(|n| implemented_by_name(registry, n))
            .collect()
    };
    ctx.out.map(defs.len());
    for def in defs {
        ctx.out.bulk(def.name.as_bytes());
        commands::write_command_docs(def, ctx.out);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: full names of
/// the implemented commands and subcommands. No modules exist, so MODULE matches nothing;
/// neither does an unknown category.
fn command_list(ctx: &mut Ctx) -> Result<()> {
    enum Filter<'a> {
        None,
        Nothing,
        Acl(u64),
        Pattern(&'a [u8]),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < ctx.args.len() {
        if is(ctx.arg(i), "filterby") && ctx.args.len() - i - 1 == 2 {
            let (kind, arg) = (ctx.arg(i + 1), ctx.arg(i + 2));
            filter = if is(kind, "module") {
                Filter::Nothing
            } else if is(kind, "aclcat") {
                acl::from_name(&lossy(arg)).map_or(Filter::Nothing, Filter::Acl)
            } else if is(kind, "pattern") {
                Filter::Pattern(arg)
            } else {
                return Err(Error::Syntax);
            };
            i += 3;
        } else {
            return Err(Error::Syntax);
        }
    }
    let keep = |def: &CommandDef| match filter {
        Filter::None => true,
        Filter::Nothing => false,
        Filter::Acl(cat) => def.acl & cat != 0,
        Filter::Pattern(p) => cinnabar_engine::glob::glob_match(p, def.name.as_bytes(), true),
    };
    let names: Vec<&str> = implemented(&ctx.server.registry)
        .iter()
        .flat_map(|d| std::iter::once(*d).chain(d.subcommands.iter()))
        .filter(|d| keep(d))
        .map(|d| d.name)
        .collect();
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx) -> Result<()> {
    getkeys(ctx, false)
}

fn command_getkeysandflags(ctx: &mut Ctx) -> Result<()> {
    getkeys(ctx, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS cmd arg...: the key arguments of a command line, found
/// with the same key specs the dispatcher locks by, with Redis's checks and errors.
fn getkeys(ctx: &mut Ctx, with_flags: bool) -> Result<()> {
    let argv = &ctx.args[2..];
    let def = commands::lookup_argv(argv)
        .and_then(|d| implemented_def(&ctx.server.registry, d))
        .ok_or_else(|| Error::msg("ERR Invalid command specified"))?;
    if !def.has_keys() {
        return Err(Error::msg("ERR The command has no key arguments"));
    }
    if !def.arity_ok(argv.len()) {
        return Err(Error::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    let found =
        commands::key_positions_with_flags(def, argv, &mut keys).is_ok() && !keys.is_empty();
    if !found {
        // Commands whose keys are optional (EVAL with no keys...) have none; for the rest
        // Redis gives one error for every way the arguments fail to name keys.
        if def.flags & flags::NO_MANDATORY_KEYS != 0 {
            ctx.out.array(0);
            return Ok(());
        }
        return Err(Error::msg("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for (pos, key_flags) in keys {
        let key_flags = actual_key_flags(def, argv, key_flags);
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(argv[pos]);
            let names = keyspec_flags::names(key_flags);
            ctx.out.set(names.len());
            for n in names {
                ctx.out.simple(n.as_bytes());
            }
        } else {
            ctx.out.bulk(argv[pos]);
        }
    }
    Ok(())
}

/// Resolves a key spec marked VARIABLE_FLAGS to the flags this command line really has,
/// as Redis's per-command key procedures do: SET only reads the old value with GET, and
/// BITFIELD only writes with SET or INCRBY. Other specs' flags are already exact.
fn actual_key_flags(def: &CommandDef, argv: &[&[u8]], spec_flags: u64) -> u64 {
    use keyspec_flags::{ACCESS, OW, RO, RW, UPDATE, VARIABLE_FLAGS};
    if spec_flags & VARIABLE_FLAGS == 0 {
        return spec_flags;
    }
    match def.name {
        "set" if argv.iter().skip(3).any(|a| is(a, "get")) => RW | ACCESS | UPDATE,
        "set" => OW | UPDATE,
        "bitfield" => {
            let mut i = 2;
            let mut readonly = true;
            while i < argv.len() {
                let rem = argv.len() - i - 1;
                if is(argv[i], "get") && rem >= 2 {
                    i += 3;
                } else if is(argv[i], "overflow") && rem >= 1 {
                    i += 2;
                } else {
                    // SET, INCRBY, or a syntax error: assume a write, the safe side.
                    readonly = false;
                    break;
                }
            }
            if readonly {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            }
        }
        _ => spec_flags,
    }
}

fn command_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "(no subcommand)",
            "    Reply with the details of every command this server implements.",
            "COUNT",
            "    Reply with the number of commands this server implements.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Reply with the names of the commands, optionally only those matching a filter.",
            "INFO [<command-name> ...]",
            "    Reply with the details of the named commands (of every command without names).",
            "DOCS [<command-name> ...]",
            "    Reply with the documentation of the named commands (of every command without names).",
            "GETKEYS <full-command>",
            "    Reply with the key arguments of a full command line.",
            "GETKEYSANDFLAGS <full-command>",
            "    Reply with the key arguments of a full command line and how each key is used.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// DEBUG, SHUTDOWN
// ---------------------------------------------------------------------------------------

/// DEBUG subcommand [arg ...]. The dispatcher already refused it unless
/// enable-debug-command allows this client. Only the subcommands that make sense without
/// persistence or Redis's internal encodings exist; they are matched with their exact
/// argument counts as in Redis, anything else is an unknown subcommand.
fn debug(ctx: &mut Ctx) -> Result<()> {
    let sub = ctx.arg(1).to_ascii_lowercase();
    let argc = ctx.args.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => debug_help(ctx),
        (b"sleep", 3) => {
            // Like strtod: whatever does not parse sleeps 0 seconds. The sleep blocks this
            // worker thread (Redis blocks the whole server) but holds no shard lock, since
            // DEBUG is keyless, so clients on other threads carry on.
            let secs = std::str::from_utf8(ctx.arg(2))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if secs.is_finite() && secs > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            let on = atoi(ctx.arg(2)) != 0;
            ctx.server
                .config
                .live
                .active_expire_enabled
                .store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.arg(2)));
            ctx.out.ok();
        }
        (b"error", 3) => return Err(Error::msg(lossy(ctx.arg(2)))),
        (b"protocol", 3) => debug_protocol(ctx)?,
        (b"populate", 3..=5) => debug_populate(ctx)?,
        (b"reload", _) => {
            crate::persist::debug_reload(ctx.server, &ctx.args[2..])?;
            ctx.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => {
            // Lists have no packed/plain node distinction here; the value is only checked.
            let ok = crate::config::parse_memory(&lossy(ctx.arg(2)))
                .is_some_and(|n| n <= (1 << 32) - (1 << 20));
            if !ok {
                return Err(Error::msg(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                ));
            }
            ctx.out.ok();
        }
        // Switches for subsystems that do not exist yet (replication, RDB checksums, script
        // restrictions, reply buffer resizing): accepted so test suites can set them.
        (b"change-repl-id", 2)
        | (b"set-skip-checksum-validation", 3)
        | (b"set-disable-deny-scripts", 3) => ctx.out.ok(),
        (b"replybuffer", 4) => {
            let (what, value) = (ctx.arg(2), ctx.arg(3));
            if is(what, "peak-reset-time") {
                if !is(value, "never") && !is(value, "reset") {
                    int_arg(value)?;
                }
            } else if !is(what, "resizing") {
                return Err(unknown_subcommand(ctx));
            }
            ctx.out.ok();
        }
        _ => return Err(unknown_subcommand(ctx)),
    }
    Ok(())
}

/// Redis's error for a subcommand of a non-container command it does not know.
fn unknown_subcommand(ctx: &Ctx) -> Error {
    let sub = ctx.arg(1);
    Error::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(ctx.arg(0)).to_uppercase()
    ))
}

/// C's atoi: an optional sign and leading digits, anything else ends the number.
fn atoi(b: &[u8]) -> i64 {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().unwrap_or(0)
}

fn debug_help(ctx: &mut Ctx) {
    help(
        ctx,
        &[
            "CHANGE-REPL-ID",
            "    Accepted for compatibility; there is no replication to give a new id.",
            "ERROR <string>",
            "    Reply with <string> as an error, to test how clients handle errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys <prefix>:<n> (prefix 'key') holding 'value:<n>',",
            "    padded or cut to <size> bytes when given. Existing keys are left alone.",
            "PROTOCOL <type>",
            "    Reply with a sample value of a RESP type: string, integer, double, bignum,",
            "    null, array, set, map, attrib, push, verbatim, true or false.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Accepted for compatibility; the size is checked but has no effect.",
            "REPLYBUFFER PEAK-RESET-TIME <NEVER|RESET|ms> | REPLYBUFFER RESIZING <0|1>",
            "    Accepted for compatibility; reply buffers are managed per write.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Turn the background removal of expired keys off (0) or back on (1).",
            "SET-DISABLE-DENY-SCRIPTS <0|1>",
            "    Accepted for compatibility.",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Accepted for compatibility.",
            "SLEEP <seconds>",
            "    Block this connection's thread for <seconds> (decimals allowed).",
        ],
    );
}

/// DEBUG PROTOCOL type: fixed sample replies of each RESP type, for client tests. The
/// values are the ones Redis uses, so client test suites written against Redis pass.
fn debug_protocol(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.arg(2).to_ascii_lowercase();
    let resp3 = ctx.out.proto == cinnabar_resp::Protocol::Resp3;
    let out = &mut *ctx.out;
    match name.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.integer(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" | b"set" => {
            if name == b"set" {
                out.set(3);
            } else {
                out.array(3);
            }
            for i in 0..3 {
                out.integer(i);
            }
        }
        b"map" => {
            out.map(3);
            for i in 0..3 {
                out.integer(i);
                out.boolean(i == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                // ReplyBuf has no attribute type: write the `|` header directly.
                out.buf.extend_from_slice(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.integer(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err(Error::msg("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.integer(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"txt", b"This is a verbatim\nstring"),
        _ => {
            return Err(Error::msg(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: count string keys in the current database. Each
/// key locks only its own shard (or uses it if the command already holds it), so a large
/// populate does not stop other clients.
fn debug_populate(ctx: &mut Ctx) -> Result<()> {
    let positive = |a: &[u8]| -> Result<u64> {
        let n = num::parse_i64(a).ok_or(Error::NotInteger)?;
        u64::try_from(n).map_err(|_| Error::msg("ERR value is out of range, must be positive"))
    };
    let count = positive(ctx.arg(2))?;
    let prefix = if ctx.args.len() >= 4 {
        ctx.arg(3)
    } else {
        b"key"
    };
    let size = if ctx.args.len() == 5 {
        positive(ctx.arg(4))? as usize
    } else {
        0
    };
    let (server, dbi, now) = (ctx.server, ctx.client.db, ctx.now);
    let ks = &server.keyspace;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    let mut value = Vec::new();
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        let _ = write!(KeyWriter(&mut key), ":{j}");
        let h = cinnabar_engine::hash_key(&key);
        let shard_idx = cinnabar_engine::keyspace::shard_of_hash(h, ks.shard_count() - 1);
        let mut insert = |shard: &mut cinnabar_engine::Shard| {
            let db = shard.db(dbi);
            if db.lookup(h, &key, now).is_some() {
                return;
            }
            value.clear();
            let _ = write!(KeyWriter(&mut value), "value:{j}");
            if size > 0 {
                value.resize(size, 0);
            }
            db.put(
                h,
                Entry::new(&key, new_str_value(&value), None, db.fresh_clock(now)),
            );
        };
        match ctx.data.shard_at(shard_idx) {
            Some(shard) => insert(shard),
            None => insert(&mut ks.lock_shard(shard_idx)),
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `write!` into a byte vector.
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for KeyWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// True when SHUTDOWN was given FORCE: it then stops even if the final save failed.
fn other_force(ctx: &Ctx) -> bool {
    ctx.args[1..].iter().any(|a| is(a, "force"))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. On success the server stops and, as in
/// Redis, the client gets no reply: its connection just closes. It saves first when `save`
/// rules are configured or SAVE is given (not with NOSAVE); a failed save refuses to stop
/// unless FORCE. There is no shutdown grace period, so NOW only passes the syntax check
/// and ABORT never finds a shutdown to abort.
fn shutdown(ctx: &mut Ctx) -> Result<()> {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for a in &ctx.args[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
            other = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(Error::Syntax);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(Error::Syntax);
    }
    if abort {
        return Err(Error::msg("ERR No shutdown in progress."));
    }
    tracing::warn!("User requested shutdown...");
    if !nosave && crate::persist::shutdown_save(ctx.server, save).is_err() && !other_force(ctx) {
        return Err(Error::msg("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.server
        .persist
        .shutdown_handled
        .store(true, Ordering::SeqCst);
    ctx.client.close_after_reply = true;
    ctx.server.request_shutdown();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------------------

/// MEMORY USAGE key [SAMPLES count]: the entry's allocation (key, value and header in one
/// block) rounded to the allocator's size class, the value's own allocations if it has any,
/// and the key's share of the table's index and entry vector. Sizes are measured, not
/// sampled, so SAMPLES is only validated. Like Redis, a key past its deadline but not yet
/// removed is still measured.
fn memory_usage(ctx: &mut Ctx) -> Result<()> {
    let mut j = 3;
    while j < ctx.args.len() {
        if is(ctx.arg(j), "samples") && j + 1 < ctx.args.len() {
            if int_arg(ctx.arg(j + 1))? < 0 {
                return Err(Error::Syntax);
            }
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.arg(2);
    let (db, h) = crate::key_db!(ctx, key);
    match db.find_raw(h, key) {
        None => ctx.out.null(),
        Some(slot) => {
            let table_share = db.table.overhead_bytes() / db.len().max(1);
            let e = db.entry(slot);
            let value = match e.value() {
                cinnabar_engine::ValueRef::Obj(o) => o.mem_usage(),
                _ => 0,
            };
            let usage = crate::alloc::good_size(e.alloc_size()) + value + table_share;
            ctx.out.integer(usage as i64);
        }
    }
    Ok(())
}

/// MEMORY STATS: Redis's fields, from the allocator's counters (see
/// [`info::MemoryFigures`]).
fn memory_stats(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let ks = info::keyspace_totals(ctx.server, ctx.data, ctx.now);
    let m = info::MemoryFigures::gather(ctx.server, &ks, used);
    let dbs: Vec<(usize, u64)> = ks
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.keys > 0)
        .map(|(i, d)| (i, d.overhead))
        .collect();
    let out = &mut *ctx.out;
    out.map(27 + dbs.len());
    let int = |out: &mut cinnabar_resp::ReplyBuf, k: &str, v: i64| {
        out.bulk(k.as_bytes());
        out.integer(v);
    };
    let dbl = |out: &mut cinnabar_resp::ReplyBuf, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    int(out, "peak.allocated", m.peak as i64);
    int(out, "total.allocated", m.used as i64);
    int(out, "startup.allocated", m.startup as i64);
    for k in ["replication.backlog", "clients.slaves"] {
        int(out, k, 0);
    }
    int(out, "clients.normal", m.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", m.aof_buffer as i64);
    int(out, "lua.caches", m.scripts as i64);
    int(out, "functions.caches", 0);
    for (i, overhead) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", *overhead as i64);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", m.overhead as i64);
    int(out, "keys.count", m.keys as i64);
    int(out, "keys.bytes-per-key", m.bytes_per_key() as i64);
    int(out, "dataset.bytes", m.dataset as i64);
    dbl(out, "dataset.percentage", m.dataset_perc());
    dbl(out, "peak.percentage", m.peak_perc());
    int(out, "allocator.allocated", m.used as i64);
    int(out, "allocator.active", m.active as i64);
    int(out, "allocator.resident", m.active as i64);
    for (name, (ratio, bytes)) in [
        ("allocator-fragmentation", m.allocator_frag()),
        ("allocator-rss", m.allocator_rss()),
        ("rss-overhead", m.rss_overhead()),
    ] {
        dbl(out, &format!("{name}.ratio"), ratio);
        int(out, &format!("{name}.bytes"), bytes);
    }
    let (ratio, bytes) = m.fragmentation();
    dbl(out, "fragmentation", ratio);
    int(out, "fragmentation.bytes", bytes);
    Ok(())
}

/// MEMORY DOCTOR: the checks of Redis's memory doctor (little data, a past peak much higher
/// than today, fragmentation, big client buffers, many cached scripts), reported in plain
/// words with the figures behind them.
fn memory_doctor(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let ks = info::keyspace_totals(ctx.server, ctx.data, ctx.now);
    let m = info::MemoryFigures::gather(ctx.server, &ks, used);
    let mut issues: Vec<String> = Vec::new();
    let text = if m.used < 5 << 20 {
        "This instance is empty or holds very little data (under 5MB): there is nothing to \
         diagnose yet. Ask again once it holds some data.\n"
            .to_string()
    } else {
        if m.peak as f64 / m.used as f64 > 1.5 {
            issues.push(format!(
                " * Peak memory: the instance once used {} (more than 150% of the {} it uses \
                 now). Freed memory is kept by the allocator for reuse; MEMORY PURGE returns \
                 what it can to the system.",
                info::bytes_to_human(m.peak),
                info::bytes_to_human(m.used)
            ));
        }
        let (frag, frag_bytes) = m.fragmentation();
        if frag > 1.4 && frag_bytes > 10 << 20 {
            issues.push(format!(
                " * High total RSS: the process's resident memory is {frag:.2} times the \
                 memory in use ({} more). After a peak this is harmless; otherwise the \
                 workload fragments the allocator's pages (see allocator_frag_ratio).",
                info::bytes_to_human(frag_bytes as u64)
            ));
        }
        let (afrag, afrag_bytes) = m.allocator_frag();
        if afrag > 1.1 && afrag_bytes > 10 << 20 {
            issues.push(format!(
                " * Allocator fragmentation: mimalloc holds {afrag:.2} times the memory in use \
                 in its pages ({} more). MEMORY PURGE releases pages that are entirely free.",
                info::bytes_to_human(afrag_bytes as u64)
            ));
        }
        let (extra, extra_bytes) = m.rss_overhead();
        if extra > 1.1 && extra_bytes > 10 << 20 {
            issues.push(format!(
                " * Process RSS overhead: {} of resident memory is outside the allocator's \
                 pages (program, thread stacks, Lua interpreters).",
                info::bytes_to_human(extra_bytes as u64)
            ));
        }
        let clients = ctx.server.clients.lock().len().max(1) as u64;
        if m.clients_normal / clients > 200 * 1024 {
            issues.push(
                " * Big client buffers: clients hold more than 200K each on average (large \
                 pipelines or replies, or slow Pub/Sub readers); CLIENT LIST shows which."
                    .to_string(),
            );
        }
        if ctx.server.scripts.len() > 1000 {
            issues.push(
                " * Many scripts: more than 1000 scripts are cached. Generated scripts should \
                 take their variable parts as KEYS and ARGV; SCRIPT FLUSH empties the cache."
                    .to_string(),
            );
        }
        if issues.is_empty() {
            "No memory issue detected in this instance.\n".to_string()
        } else {
            format!(
                "Memory issues detected in this instance:\n\n{}\n",
                issues.join("\n\n")
            )
        }
    };
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// MEMORY MALLOC-STATS: mimalloc's own statistics report.
fn memory_malloc_stats(ctx: &mut Ctx) -> Result<()> {
    let text = crate::alloc::stats_text();
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// MEMORY PURGE: asks mimalloc to return every free page to the system now.
fn memory_purge(ctx: &mut Ctx) -> Result<()> {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "DOCTOR",
            "    Report memory problems, if any are detected.",
            "MALLOC-STATS",
            "    Report the memory allocator's internal statistics, where supported.",
            "PURGE",
            "    Ask the allocator to return free memory to the system.",
            "STATS",
            "    Reply with a breakdown of the server's memory use.",
            "USAGE <key> [SAMPLES <count>]",
            "    Reply with the bytes used by <key> and its value.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SLOWLOG, LATENCY: no commands are logged or latency events recorded yet, so these answer
// as a Redis with empty logs does.
// ---------------------------------------------------------------------------------------

/// SLOWLOG GET [count]: count is validated as in Redis (-1 means all).
fn slowlog_get(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() > 3 {
        return Err(unknown_subcommand(ctx));
    }
    if let Some(a) = ctx.args.get(2) {
        let n = num::parse_i64(a).ok_or(Error::NotInteger)?;
        if n < -1 {
            return Err(Error::msg(
                "ERR count should be greater than or equal to -1",
            ));
        }
    }
    ctx.out.array(0);
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(0);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx) -> Result<()> {
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "GET [<count>]",
            "    Reply with the <count> most recent slow log entries (default 10, -1 for all).",
            "    Each entry holds an id, a timestamp, the duration in microseconds, the",
            "    command's arguments, the client's address and the client's name.",
            "LEN",
            "    Reply with the number of entries in the slow log.",
            "RESET",
            "    Empty the slow log.",
        ],
    );
    Ok(())
}

fn latency_latest(ctx: &mut Ctx) -> Result<()> {
    ctx.out.array(0);
    Ok(())
}

fn latency_history(ctx: &mut Ctx) -> Result<()> {
    ctx.out.array(0);
    Ok(())
}

/// LATENCY RESET [event ...]: the number of event series reset, always 0.
fn latency_reset(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(0);
    Ok(())
}

fn latency_graph(ctx: &mut Ctx) -> Result<()> {
    Err(Error::msg(format!(
        "ERR No samples available for event '{}'",
        lossy(ctx.arg(2))
    )))
}

fn latency_doctor(ctx: &mut Ctx) -> Result<()> {
    let text = "No latency events have been recorded: latency monitoring is not available on \
                this server yet.\n";
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: a map of commands with latency histograms; none are
/// kept, so it is empty.
fn latency_histogram(ctx: &mut Ctx) -> Result<()> {
    ctx.out.map(0);
    Ok(())
}

fn latency_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "DOCTOR",
            "    Reply with a readable analysis of the latency events.",
            "GRAPH <event>",
            "    Reply with an ASCII graph of the latency samples of <event>.",
            "HISTORY <event>",
            "    Reply with the time and latency of the samples of <event>.",
            "LATEST",
            "    Reply with the latest sample of every event.",
            "RESET [<event> ...]",
            "    Forget the samples of the given events (of all events without arguments).",
            "HISTOGRAM [<command> ...]",
            "    Reply with per-command latency histograms (of every command without names).",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// docs/commands.md
// ---------------------------------------------------------------------------------------

/// Groups in the order the page lists them, with their headings.
const GROUPS: &[(Group, &str)] = &[
    (Group::Generic, "Keys (generic)"),
    (Group::String, "Strings"),
    (Group::Bitmap, "Bitmaps"),
    (Group::List, "Lists"),
    (Group::Set, "Sets"),
    (Group::SortedSet, "Sorted sets"),
    (Group::Hash, "Hashes"),
    (Group::Stream, "Streams"),
    (Group::Hyperloglog, "HyperLogLog"),
    (Group::Geo, "Geospatial"),
    (Group::Pubsub, "Pub/Sub"),
    (Group::Transactions, "Transactions"),
    (Group::Scripting, "Scripting and functions"),
    (Group::Connection, "Connection"),
    (Group::Server, "Server"),
    (Group::Cluster, "Cluster"),
    (Group::Sentinel, "Sentinel"),
    (Group::Module, "Modules"),
];

/// The text of docs/commands.md: every command of the Redis 7.2 table and its
/// subcommands, grouped, with whether `registry` implements it. A container is
/// "implemented" when all its subcommands are, "partial" when only some are. The page is
/// checked against this output by a test, which also rewrites it when asked.
pub fn commands_markdown(registry: &Registry) -> String {
    let has = |def: &CommandDef| registry.get(def.name.as_bytes()).is_some();
    let status = |def: &CommandDef| -> &'static str {
        if def.subcommands.is_empty() {
            return if has(def) { "implemented" } else { "not yet" };
        }
        let n = def.subcommands.iter().filter(|s| has(s)).count();
        match n {
            0 if has(def) => "implemented",
            0 => "not yet",
            n if n == def.subcommands.len() => "implemented",
            _ => "partial",
        }
    };
    let all = commands::all();
    let top_done = all.iter().filter(|d| status(d) == "implemented").count();
    let subs: Vec<&CommandDef> = all.iter().flat_map(|d| d.subcommands.iter()).collect();
    let subs_done = subs.iter().filter(|d| has(d)).count();

    let mut md = String::new();
    md.push_str("# Commands\n\n");
    md.push_str(
        "Every command of Redis 7.2 and whether Cinnabar implements it. This page is generated \
         from the command table (`crates/commands`) and the server's command registry; do not \
         edit it by hand. To refresh it after adding commands, run\n\n\
         ```sh\nUPDATE_DOCS=1 cargo test -p cinnabar-server --test admin\n```\n\n",
    );
    let _ = writeln!(
        md,
        "Implemented: {top_done} of {} commands and {subs_done} of {} subcommands. A container \
         command such as `CONFIG` is *partial* when only some of its subcommands are implemented.\n",
        all.len(),
        subs.len()
    );
    for &(group, heading) in GROUPS {
        let in_group: Vec<&CommandDef> = all.iter().filter(|d| d.group == group).collect();
        if in_group.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {heading}\n");
        md.push_str("| Command | Status | Since | Summary |\n| --- | --- | --- | --- |\n");
        for def in in_group {
            markdown_row(&mut md, def, status(def));
            for sub in def.subcommands {
                markdown_row(
                    &mut md,
                    sub,
                    if has(sub) { "implemented" } else { "not yet" },
                );
            }
        }
        md.push('\n');
    }
    md.pop();
    md
}

fn markdown_row(md: &mut String, def: &CommandDef, status: &str) {
    let name = def.name.replace('|', " ").to_uppercase();
    let mut summary = def.summary.replace('|', "\\|");
    if def.is_deprecated() {
        summary.push_str(" *(deprecated)*");
    }
    let _ = writeln!(md, "| `{name}` | {status} | {} | {summary} |", def.since);
}
