//! MONITOR, SLOWLOG and LATENCY: the commands over `crate::ops`, which keeps the monitors,
//! the slow log and the latency events.

use cinnabar_engine::{num, Error, Result};

use super::{container_help as help, lossy, unknown_subcommand};
use crate::dispatch::{Ctx, Registry};

pub fn register(r: &mut Registry) {
    r.add("monitor", monitor);
    r.add("module|help", module_help);
    r.add("module|list", module_list);
    r.add("module|load", module_load);
    r.add("module|loadex", module_load);
    r.add("module|unload", module_unload);
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

/// MONITOR: this connection receives every command clients run from now on, until RESET
/// or disconnection.
fn monitor(ctx: &mut Ctx) -> Result<()> {
    // Inside EXEC the client expects one reply per command (Redis's DENY_BLOCKING).
    if ctx.client.in_exec || ctx.client.in_script {
        return Err(Error::msg(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Already monitoring, or a replica's link: ignored without a reply, as in Redis.
    if ctx.client.monitor || ctx.client.replica_link {
        return Ok(());
    }
    let mailbox = ctx.server.pubsub.mailbox(ctx.client);
    ctx.server.ops.monitors.attach(mailbox);
    ctx.client.monitor = true;
    ctx.client.shared.flags.lock().insert(0, 'O');
    ctx.out.ok();
    Ok(())
}

/// SLOWLOG GET [count]: the `count` newest entries (10 by default, -1 for all).
fn slowlog_get(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() > 3 {
        return Err(unknown_subcommand(ctx));
    }
    let mut count = 10usize;
    if let Some(a) = ctx.args.get(2) {
        let n = num::parse_i64(a).ok_or(Error::msg(
            "ERR count should be greater than or equal to -1",
        ))?;
        if n < -1 {
            return Err(Error::msg(
                "ERR count should be greater than or equal to -1",
            ));
        }
        count = if n == -1 { usize::MAX } else { n as usize };
    }
    let log = &ctx.server.ops.slowlog;
    let count = count.min(log.len());
    let out = &mut *ctx.out;
    let mut written = 0;
    out.array(count);
    log.newest(count, |e| {
        written += 1;
        out.array(6);
        out.integer(e.id as i64);
        out.integer(e.time);
        out.integer(e.usec as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.addr.as_bytes());
        out.bulk(&e.name);
    });
    // The log cannot shrink meanwhile below `count` but by a concurrent RESET: pad with
    // empty entries rather than send a malformed reply.
    for _ in written..count {
        out.array(0);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(ctx.server.ops.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx) -> Result<()> {
    ctx.server.ops.slowlog.reset();
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

/// LATENCY LATEST: per event, its name, the time and latency of its last sample, and its
/// all-time maximum.
fn latency_latest(ctx: &mut Ctx) -> Result<()> {
    let out = &mut *ctx.out;
    ctx.server.ops.latency.with_events(|events| {
        out.array(events.len());
        for (name, ts) in events {
            let last = ts.last();
            out.array(4);
            out.bulk(name.as_bytes());
            out.integer(last.time);
            out.integer(last.latency as i64);
            out.integer(ts.max as i64);
        }
    });
    Ok(())
}

/// LATENCY HISTORY event: its samples, oldest first, as (time, latency) pairs.
fn latency_history(ctx: &mut Ctx) -> Result<()> {
    let event = ctx.arg(2);
    let out = &mut *ctx.out;
    ctx.server.ops.latency.with_events(|events| {
        match events.iter().find(|(n, _)| n.as_bytes() == event) {
            None => out.array(0),
            Some((_, ts)) => {
                let samples: Vec<_> = ts.history().collect();
                out.array(samples.len());
                for s in samples {
                    out.array(2);
                    out.integer(s.time);
                    out.integer(s.latency as i64);
                }
            }
        }
    });
    Ok(())
}

/// LATENCY RESET [event ...]: the number of event series reset.
fn latency_reset(ctx: &mut Ctx) -> Result<()> {
    let latency = &ctx.server.ops.latency;
    let n = if ctx.args.len() == 2 {
        latency.reset(None)
    } else {
        ctx.args[2..].iter().map(|e| latency.reset(Some(e))).sum()
    };
    ctx.out.integer(n as i64);
    Ok(())
}

fn latency_graph(ctx: &mut Ctx) -> Result<()> {
    let event = ctx.arg(2);
    let now = crate::server::now_ms() / 1000;
    let graph = ctx.server.ops.latency.with_events(|events| {
        events
            .iter()
            .find(|(n, _)| n.as_bytes() == event)
            .map(|(n, ts)| crate::ops::latency::graph(n, ts, now))
    });
    match graph {
        Some(text) => {
            ctx.out.verbatim(b"txt", text.as_bytes());
            Ok(())
        }
        None => Err(Error::msg(format!(
            "ERR No samples available for event '{}'",
            lossy(event)
        ))),
    }
}

fn latency_doctor(ctx: &mut Ctx) -> Result<()> {
    let text = crate::ops::latency::doctor(ctx.server);
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: per command (every command without arguments; a
/// container name stands for its subcommands; unknown names are skipped) its calls and the
/// cumulative distribution of its latency.
fn latency_histogram(ctx: &mut Ctx) -> Result<()> {
    use crate::ops::histogram::merged;
    let server = ctx.server;
    let entries = server.registry.entries();
    let mut wanted: Vec<usize> = Vec::new();
    if ctx.args.len() == 2 {
        wanted.extend(0..entries.len());
    } else {
        for name in &ctx.args[2..] {
            let name = lossy(name).to_ascii_lowercase();
            for (i, e) in entries.iter().enumerate() {
                let full = e.def.full_name();
                let parent = full.split('|').next().unwrap_or("");
                if full == name || (parent == name && full.contains('|')) {
                    wanted.push(i);
                }
            }
        }
    }
    let data: Vec<(usize, crate::ops::histogram::Merged)> = wanted
        .into_iter()
        .filter_map(|i| merged(server, i).map(|m| (i, m)))
        .collect();
    let out = &mut *ctx.out;
    out.map(data.len());
    for (i, m) in &data {
        out.bulk(entries[*i].def.full_name().as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.integer(m.total as i64);
        out.bulk(b"histogram_usec");
        let cdf = m.cdf();
        out.map(cdf.len());
        for (usec, count) in cdf {
            out.integer(usec as i64);
            out.integer(count as i64);
        }
    }
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

/// MODULE: Cinnabar loads no modules (Redis's module API is C); these answer as a Redis
/// with none loaded whose loads fail.
fn module_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}

fn module_list(ctx: &mut Ctx) -> Result<()> {
    ctx.out.array(0);
    Ok(())
}

fn module_load(ctx: &mut Ctx) -> Result<()> {
    tracing::warn!(
        "Module {} failed to load: modules are not supported by Cinnabar",
        lossy(ctx.arg(2))
    );
    Err(Error::msg(
        "ERR Error loading the extension. Please check the server logs.",
    ))
}

fn module_unload(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 3 {
        return Err(unknown_subcommand(ctx));
    }
    Err(Error::msg(
        "ERR Error unloading module: no such module with that name",
    ))
}
