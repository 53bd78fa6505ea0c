//! SLOWLOG and LATENCY. No commands are logged or latency events recorded yet, so these
//! answer as a Redis with empty logs does, and tools that probe them keep working.

use cinnabar_engine::{num, Error, Result};

use super::{container_help as help, lossy, unknown_subcommand};
use crate::dispatch::{Ctx, Registry};

pub fn register(r: &mut Registry) {
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
