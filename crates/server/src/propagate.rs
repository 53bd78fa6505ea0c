//! The propagation stream: the commands that reproduce every change, in order, for the AOF
//! (and, with replication, the replicas). Fed by the effects sink when an execution unit
//! ends (`dispatch::sink`), and by the server's own deletions (active expiry, eviction).
//! Everything in it is deterministic: absolute deadlines, explicit members, generated ids.

use std::sync::atomic::Ordering;

use crate::dispatch::effects::Argv;
use crate::server::Server;

/// A propagated command and the database it runs in.
pub type Op = (usize, Argv);

/// Whether anything consumes the stream (the AOF, replicas): commands build rewrites only
/// then.
#[inline]
pub fn on(server: &Server) -> bool {
    server.persist.aof.on.load(Ordering::Relaxed) || server.repl.on.load(Ordering::Relaxed)
}

/// Appends one execution unit's commands, wrapped in MULTI/EXEC when `wrap` (a unit of
/// several commands, as Redis 7.2's propagatePendingCommands). Returns the AOF position a
/// client that caused them must see written (or fsynced) before its reply.
pub fn feed(server: &Server, ops: &[Op], wrap: bool) -> u64 {
    if ops.is_empty() {
        return 0;
    }
    if server.repl.on.load(Ordering::Relaxed) {
        crate::replication::feed(server, ops, wrap);
    }
    if !server.persist.aof.on.load(Ordering::Relaxed) {
        return 0;
    }
    crate::persist::aof::append_unit(server, ops, wrap)
}
