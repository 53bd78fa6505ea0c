//! Operations: what operators watch a running server with. MONITOR ([`monitor`]), the slow
//! log ([`slowlog`]), the latency monitor ([`latency`]), and the redaction of passwords they
//! all apply ([`redact`]). The commands themselves are in `cmd::introspection`.
//!
//! Dispatch calls [`after_command`] once per command a client called (top level, queued in
//! EXEC, or run by a script): a few relaxed loads and branches while nothing is on.

pub mod latency;
pub mod monitor;
pub mod redact;
pub mod slowlog;

use cinnabar_commands::{flags, CommandDef};

use crate::dispatch::Client;
use crate::server::Server;

/// The operations state of a server.
#[derive(Default)]
pub struct Ops {
    pub monitors: monitor::Monitors,
    pub slowlog: slowlog::SlowLog,
    pub latency: latency::Latency,
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

/// After a command ran for `usec` microseconds: monitors (admin commands are never shown),
/// the slow log (not for a command that blocked: it is logged when served; not for EXEC,
/// whose commands are logged one by one) and the latency monitor.
#[inline]
pub fn after_command(
    server: &Server,
    monitoring: bool,
    client: &Client,
    def: &CommandDef,
    args: &[&[u8]],
    usec: u64,
) {
    if monitoring && def.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        monitor::feed(server, client, client.db, args);
    }
    if client.blocked.is_none() && def.flags & flags::SKIP_SLOWLOG == 0 {
        slowlog::maybe_push(server, client, args, usec);
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
