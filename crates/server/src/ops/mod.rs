//! Operations: what operators watch a running server with. MONITOR ([`monitor`]), the slow
//! log ([`slowlog`]), the latency monitor ([`latency`]), and the redaction of passwords they
//! all apply ([`redact`]). The commands themselves are in `cmd::introspection`.
//!
//! Dispatch calls [`after_command`] once per command a client called (top level, queued in
//! EXEC, or run by a script): a few relaxed loads and branches while nothing is on.

pub mod histogram;
pub mod latency;
pub mod metrics;
pub mod monitor;
pub mod redact;
pub mod slowlog;

use std::sync::atomic::Ordering;

use cinnabar_commands::{flags, CommandDef};

use crate::dispatch::Client;
use crate::server::Server;

/// The operations state of a server.
#[derive(Default)]
pub struct Ops {
    pub monitors: monitor::Monitors,
    pub slowlog: slowlog::SlowLog,
    pub latency: latency::Latency,
    pub metrics: metrics::Endpoint,
}

/// Before a command runs: scripts (EVAL, FCALL...) are shown to monitors before the commands
/// they run, as Redis does.
#[inline]
pub fn before_command(
    server: &Server,
    monitoring: bool,
    client: &Client,
    def: &CommandDef,
    args: &[&[u8]],
) {
    if monitoring && def.flags & flags::SKIP_MONITOR != 0 {
        monitor::feed(server, client, client.db, args);
    }
}

/// A command that blocked, kept for the slow log until it is served or times out (Redis
/// logs a blocked command once, when it is unblocked).
pub struct BlockedCall {
    args: Vec<Vec<u8>>,
    usec: u64,
}

/// After a command ran for `usec` microseconds: monitors (admin commands are never shown),
/// the slow log (not for EXEC, whose commands are logged one by one; a command that blocked
/// is logged by [`unblocked`]) and the latency monitor.
#[inline]
pub fn after_command(
    server: &Server,
    monitoring: bool,
    client: &mut Client,
    def: &CommandDef,
    args: &[&[u8]],
    usec: u64,
) {
    if monitoring && def.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        monitor::feed(server, client, client.db, args);
    }
    if def.flags & flags::SKIP_SLOWLOG == 0 {
        if client.blocked.is_none() {
            slowlog::maybe_push(server, client, args, usec);
        } else if server
            .config
            .live
            .slowlog_slower_than
            .load(Ordering::Relaxed)
            >= 0
        {
            client.ops_blocked = Some(Box::new(BlockedCall {
                args: args.iter().map(|a| a.to_vec()).collect(),
                usec,
            }));
        }
    }
    let ms = usec / 1000;
    if ms != 0 {
        let event = if def.flags & flags::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        latency::add_sample_if_needed(server, event, ms);
    }
}

/// A blocked command was served, timed out or was unblocked: it enters the slow log now,
/// before its reply is written (so a client that read the reply finds it there).
#[cold]
pub fn unblocked(server: &Server, client: &mut Client) {
    if let Some(call) = client.ops_blocked.take() {
        let args: Vec<&[u8]> = call.args.iter().map(Vec::as_slice).collect();
        slowlog::maybe_push(server, client, &args, call.usec);
    }
}
