//! From a parsed command to its handler: lookup in the command table, the central checks
//! (existence, arity, authentication, protected commands), locking the shards the command's
//! keys live in, running the handler, and the statistics.
//!
//! Checks happen here once, in the order Redis's processCommand does them, so a handler can
//! assume its arity is right and the client may run it.

use std::sync::atomic::Ordering;

use cinnabar_commands::{self as commands, flags, CommandDef};
use cinnabar_engine::{Error, Locked};
use cinnabar_resp::ReplyBuf;
use smallvec::SmallVec;

use crate::server::{bump, Server, WorkerStats};

mod client;
pub mod effects;
pub mod gate;
mod registry;
pub mod sink;
pub mod watch;

pub use client::{Client, Multi, Queued, ReplyMode, Uncounted, AOF_LOADER_ID};
pub use effects::Effects;
pub use registry::{Access, CmdEntry, Handler, Registry};
pub use watch::unwatch_all;

/// What a handler sees.
pub struct Ctx<'a, 'k> {
    pub args: &'a [&'a [u8]],
    pub out: &'a mut ReplyBuf,
    pub client: &'a mut Client,
    pub server: &'a Server,
    pub worker: &'a WorkerStats,
    pub data: &'a mut Locked<'k>,
    /// The time of this command, fixed for its whole run (ms since epoch).
    pub now: i64,
    /// What the command changed, recorded as it changes it (see [`effects`]).
    pub fx: Effects<'a>,
}

impl<'a, 'k> Ctx<'a, 'k> {
    /// Argument `i` (0 is the command name).
    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        self.args[i]
    }

    /// The usual effects of one change to `key` in the current database: it is modified,
    /// raises `event` of `class`, and counts as one change (Redis's signalModifiedKey,
    /// notifyKeyspaceEvent and `dirty++`).
    #[inline]
    pub fn wrote(&mut self, class: u32, event: &'static str, key: &'a [u8]) {
        let db = self.client.db;
        self.fx.modified(db, key);
        self.fx.event(class, event, db, key);
        self.fx.dirty += 1;
    }

    /// Redis's signalModifiedKey for `key` in the current database.
    #[inline]
    pub fn modified(&mut self, key: &'a [u8]) {
        self.fx.modified(self.client.db, key);
    }

    /// Redis's notifyKeyspaceEvent for `key` in the current database.
    #[inline]
    pub fn event(&mut self, class: u32, event: &'static str, key: &'a [u8]) {
        self.fx.event(class, event, self.client.db, key);
    }

    /// A key of the current database was created (the `new` event).
    #[inline]
    pub fn added(&mut self, key: &'a [u8]) {
        self.fx.added(self.client.db, key);
    }

    /// Redis's `server.dirty += n`.
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.fx.dirty += n;
    }
}

/// The current database in the shard of `key`, and the key's hash: `let (db, h) =
/// key_db!(ctx, key);`. A macro rather than a method so that it borrows only `ctx.data`,
/// leaving `ctx.out` free for the reply while `db` is in use.
#[macro_export]
macro_rules! key_db {
    ($ctx:expr, $key:expr) => {{
        let h = $ctx.data.key_hash($key);
        ($ctx.data.db($ctx.client.db, h), h)
    }};
    ($ctx:expr, $key:expr, $dbi:expr) => {{
        let h = $ctx.data.key_hash($key);
        ($ctx.data.db($dbi, h), h)
    }};
}

/// Runs one command and appends its reply to `out`. Inside MULTI, commands other than the
/// transaction controls are checked and queued instead.
pub fn execute(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
) {
    // Outside an exclusive transaction's run (see `gate`); inside it, alone on the server.
    let _gate = server.gate.enter(gate::wants_exclusive(client, args), || {
        server.scripts.busy.load(Ordering::Relaxed)
    });
    let entry = match server.registry.resolve(args) {
        Ok(e) => e,
        Err(e) => {
            bump(&worker.rejected_calls, 1);
            flag_transaction(client);
            let msg = e.to_string();
            worker.count_error(msg.as_bytes());
            out.error(msg.as_bytes());
            return;
        }
    };
    let def = entry.def;
    let stat = &worker.commands[entry.idx];
    let reject = |client: &mut Client, out: &mut ReplyBuf, msg: &[u8]| {
        bump(&stat.rejected, 1);
        bump(&worker.rejected_calls, 1);
        worker.count_error(msg);
        flag_transaction(client);
        out.error(msg);
    };
    if !def.arity_ok(args.len()) {
        reject(
            client,
            out,
            Error::WrongArity(def.full_name().to_string())
                .to_string()
                .as_bytes(),
        );
        return;
    }
    if def.flags & flags::PROTECTED != 0 && !debug_allowed(server, client, def) {
        let (what, option) = if def.container == Some("module") {
            ("MODULE", "enable-module-command")
        } else {
            ("DEBUG", "enable-debug-command")
        };
        let msg = format!("ERR {what} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        reject(client, out, msg.as_bytes());
        return;
    }
    if !client.authenticated
        && def.flags & flags::NO_AUTH == 0
        && server.config.live.has_password.load(Ordering::Relaxed)
    {
        reject(client, out, b"NOAUTH Authentication required.");
        return;
    }
    // ACLs: a flag test while the user may run anything (the default user, unless changed).
    if !server.acl.unrestricted(&client.user) {
        // The log's client info names the command being refused, as Redis's lastcmd.
        client.shared.last_cmd.store(entry.idx, Ordering::Relaxed);
        let context = if client.multi.is_some() {
            crate::acl::LogContext::Multi
        } else {
            crate::acl::LogContext::Toplevel
        };
        if let Err((_, msg)) = crate::acl::check(server, client, def, args, context) {
            reject(client, out, format!("NOPERM {msg}").as_bytes());
            return;
        }
    }
    // A script has run past busy-reply-threshold: only the commands flagged allow-busy (SCRIPT
    // KILL, FUNCTION KILL, SHUTDOWN NOSAVE ...) may run until it ends.
    // maxmemory (Redis checks it here, skipping eviction while a script is busy). While no
    // limit is set this is the only cost: one relaxed load and a branch.
    if server.evict.maxmemory.load(Ordering::Relaxed) != 0
        && !server.scripts.busy.load(Ordering::Relaxed)
        && maxmemory_rejects(server, client, out, def, args)
    {
        if def.name == "exec" && client.multi.is_some() {
            // Redis's execCommandAbort: the transaction is discarded.
            client.multi = None;
            unwatch_all(server, client);
            let msg = format!(
                "EXECABORT Transaction discarded because of: {}",
                crate::evict::OOM
            );
            reject(client, out, msg.as_bytes());
        } else {
            reject(client, out, crate::evict::OOM.as_bytes());
        }
        return;
    }
    if client.pubsub.subscribed()
        && out.proto == cinnabar_resp::Protocol::Resp2
        && !crate::pubsub::allowed_in_resp2_context(def)
    {
        let msg = format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", def.full_name());
        reject(client, out, msg.as_bytes());
        return;
    }
    if (def.flags & flags::WRITE != 0 || def.name == "ping")
        && server.persist.disk_error.load(Ordering::Relaxed)
    {
        if let Some(msg) = crate::persist::writes_denied(server) {
            reject(client, out, msg.as_bytes());
            return;
        }
    }
    // This server is a replica: read-only and stale-data rules (one load otherwise).
    let mut replica_write = false;
    if server.repl.checks.load(Ordering::Relaxed) != 0 {
        if let Some(msg) = crate::replication::check(server, client, def, args) {
            reject(client, out, msg.as_bytes());
            return;
        }
        replica_write = crate::replication::writable::tracks(server, client, def);
    }
    if (def.flags & flags::LOADING == 0 && server.persist.is_loading())
        || (def.flags & flags::NO_ASYNC_LOADING != 0
            && server.persist.async_loading.load(Ordering::Relaxed))
    {
        reject(
            client,
            out,
            b"LOADING Redis is loading the dataset in memory",
        );
        return;
    }
    // After the loading check, as Redis's processCommand (a script replayed from the AOF
    // keeps the server loading).
    if server.scripts.busy.load(Ordering::Relaxed) && def.flags & flags::ALLOW_BUSY == 0 {
        reject(client, out, server.scripts.busy_error().as_bytes());
        return;
    }
    // A replica's link may not touch the keyspace (Redis: the replica flag, which MONITOR
    // clients carry too), so that a replica cannot abuse its exemption from CLIENT PAUSE.
    if (client.replica_link || client.monitor) && replica_denied(server, def, args) {
        reject(client, out, b"ERR Replica can't interact with the keyspace");
        return;
    }
    if let Some(multi) = client.multi.as_mut() {
        if !is_transaction_control(def) {
            if def.flags & flags::NO_MULTI != 0 {
                reject(client, out, b"ERR Command not allowed inside a transaction");
                return;
            }
            multi.flags |= crate::scripting::command_flags(server, def, args);
            multi.exclusive |= entry.tx_exclusive;
            multi.push(entry.idx, args);
            out.simple(b"QUEUED");
            return;
        }
    }
    client.shared.last_cmd.store(entry.idx, Ordering::Relaxed);

    let ks = &server.keyspace;
    // Scripts run one at a time; the mutex comes before any shard lock.
    let _script_guard = (entry.access == Access::Script).then(|| server.scripts.run.lock());
    let mut locked = match entry.access {
        Access::All => ks.lock_all(),
        Access::Keys | Access::Script => lock_keys(server, client.db, entry.def, args),
        Access::Nothing => ks.lock_none(),
    };
    run_called(server, worker, client, out, args, entry, &mut locked);
    if replica_write {
        crate::replication::writable::remember(server, client.db, def, args, &mut locked);
    }
    drop(locked);
    if !client.ready_keys.is_empty() {
        let ready = std::mem::take(&mut client.ready_keys);
        crate::blocking::serve_ready(server, worker, ready);
    }
}

/// Whether a replica (or MONITOR) client is refused `def`: it reads, writes or may
/// replicate, by the flags Redis's processCommand checks (a script's declared flags).
#[cold]
fn replica_denied(server: &Server, def: &CommandDef, args: &[&[u8]]) -> bool {
    let f = crate::scripting::command_flags(server, def, args);
    f & (flags::READONLY | flags::WRITE | flags::MAY_REPLICATE) != 0
}

/// [`run_locked`] for a command a client called: at top level, queued in EXEC, or from a
/// script (not the pops a blocking command runs inside itself). Such a command is shown to
/// monitors and may enter the slow log and the latency monitor (crate::ops).
pub fn run_called(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
    entry: &CmdEntry,
    locked: &mut Locked<'_>,
) {
    let monitoring = server.ops.monitors.active();
    crate::ops::before_command(server, monitoring, client, entry.def, args);
    let usec = run_locked(server, worker, client, out, args, entry, locked);
    crate::ops::after_command(server, monitoring, client, entry.def, args, usec);
}

/// Runs one command whose shards are already locked (by `execute`, or by EXEC for the whole
/// transaction), with statistics and WATCH signalling. Returns how long it ran (µs).
pub fn run_locked(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
    entry: &CmdEntry,
    locked: &mut Locked<'_>,
) -> u64 {
    let start_us = crate::server::clock_us();
    let (now, _) = sink::unit_clock(server.ms_of_us(start_us), start_us);
    run_timed(
        server, worker, client, out, args, entry, locked, now, start_us,
    )
}

/// [`run_locked`] with the command's time given (AOF replay runs with the clock stopped).
#[allow(clippy::too_many_arguments)]
pub fn run_locked_at(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
    entry: &CmdEntry,
    locked: &mut Locked<'_>,
    now: i64,
) -> u64 {
    let start_us = crate::server::clock_us();
    let (now, _) = sink::unit_clock(now, start_us);
    run_timed(
        server, worker, client, out, args, entry, locked, now, start_us,
    )
}

/// [`run_locked_at`] with the clock already read at the command's start (`start_us`, from
/// [`crate::server::clock_us`]). The duration is the wall clock's difference in µs, as
/// Redis's `call()` measures it with `ustime()` (a clock stepped back counts as 0).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run_timed(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
    entry: &CmdEntry,
    locked: &mut Locked<'_>,
    now: i64,
    start_us: i64,
) -> u64 {
    let stat = &worker.commands[entry.idx];
    // What this command's effects must be recorded for: a few relaxed loads.
    let tracking = server.tracking.clients.load(Ordering::Relaxed) > 0;
    let mut want = 0;
    if server.watching.load(Ordering::Relaxed) > 0
        || tracking
        || server.blocking.count.load(Ordering::Relaxed) > 0
    {
        want |= effects::WANT_KEYS;
    }
    if crate::propagate::on(server) {
        want |= effects::WANT_PROPAGATE;
    }
    let notify = server.config.live.notify_flags.load(Ordering::Relaxed);
    sink::enter_unit();
    let mut ctx = Ctx {
        args,
        out,
        client,
        server,
        worker,
        data: locked,
        now,
        fx: Effects::new(want, notify),
    };
    let result = (entry.handler)(&mut ctx);
    // The record is delivered where it lies (moving `Ctx` apart copied it).
    sink::apply(server, worker, ctx.client, ctx.data, args, &mut ctx.fx);
    let (client, out) = (ctx.client, ctx.out);
    if tracking {
        crate::tracking::after_command(server, client, entry.def, args, result.is_ok());
    }
    sink::leave_unit(server, client);
    let usec = (crate::server::clock_us() - start_us).max(0) as u64;
    if client.uncounted == Uncounted::No {
        if client.blocked.is_none() {
            count_call(server, worker, stat, usec);
        } else {
            // Counted when it is unblocked (served, timed out, CLIENT UNBLOCK), not if it is
            // refused then or its client leaves: Redis's updateStatsOnUnblock.
            client.blocked_usec = usec;
        }
    }
    if let Err(e) = result {
        if client.uncounted == Uncounted::Entirely {
            out.error(e.to_string().as_bytes());
            return usec;
        }
        bump(&stat.failed, 1);
        let msg = e.to_string();
        if !ERROR_COUNTED.with(|c| c.replace(false)) {
            bump(&worker.failed_calls, 1);
            worker.count_error(msg.as_bytes());
        }
        out.error(msg.as_bytes());
    }
    usec
}

/// One call of a command in INFO commandstats, latencystats and total_commands_processed.
#[inline]
pub fn count_call(server: &Server, worker: &WorkerStats, stat: &crate::server::CmdStat, usec: u64) {
    bump(&stat.calls, 1);
    bump(&stat.usec, usec);
    crate::ops::histogram::record(server, stat, usec);
    bump(&worker.total_commands, 1);
}

thread_local! {
    /// Set by a handler whose error reply repeats an error already counted in the error
    /// statistics (a script failing with its command's error).
    static ERROR_COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The error the running handler is about to return was already counted in INFO
/// errorstats and total_error_replies: count it only as the command's failed call.
pub fn error_already_counted() {
    ERROR_COUNTED.with(|c| c.set(true));
}

/// Redis's maxmemory block of processCommand: evicts if needed, remembers whether memory is
/// still full for scripts (`pre_oom`), and tells whether this command must be refused:
/// deny-oom commands (for scripts, per their declared flags; for EXEC, if any queued
/// command is), and while a transaction is being queued, everything but EXEC, DISCARD,
/// QUIT and RESET (queueing itself consumes memory).
#[inline(never)]
fn maxmemory_rejects(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyBuf,
    def: &CommandDef,
    args: &[&[u8]],
) -> bool {
    let oom = crate::evict::before_command(server, client);
    client.pre_oom = oom;
    // Invalidations of keys this client tracked and eviction just removed go out before the
    // reply: they are about the values before this command (Redis flushes them here too).
    if !client.pubsub.pending.is_empty() {
        out.buf.extend_from_slice(&client.pubsub.pending);
        client.pubsub.pending.clear();
    }
    if !oom {
        return false;
    }
    if let Some(m) = &client.multi {
        if !matches!(def.name, "exec" | "discard" | "quit" | "reset") {
            return true;
        }
        if def.name == "exec" && m.flags & flags::DENYOOM != 0 {
            return true;
        }
    }
    crate::scripting::command_flags(server, def, args) & flags::DENYOOM != 0
}

/// MULTI, EXEC, DISCARD, WATCH, QUIT and RESET run at once even inside a transaction.
fn is_transaction_control(def: &CommandDef) -> bool {
    matches!(
        def.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// An error while queueing makes the transaction fail at EXEC (EXECABORT).
fn flag_transaction(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.error = true;
    }
}

fn debug_allowed(server: &Server, client: &Client, def: &CommandDef) -> bool {
    let option = if def.container == Some("module") {
        "enable-module-command"
    } else {
        "enable-debug-command"
    };
    match server.config.get(option).as_str() {
        "yes" => true,
        "local" => client.is_local,
        _ => false,
    }
}

/// Locks the shards of the keys named in `args`, per the command's key specs; with several
/// keys, starts loading their lookups in database `db` too.
#[inline]
pub(crate) fn lock_keys<'k>(
    server: &'k Server,
    db: usize,
    def: &CommandDef,
    args: &[&[u8]],
) -> Locked<'k> {
    let ks = &server.keyspace;
    if def.flags & flags::MOVABLE_KEYS == 0 {
        if def.first_key <= 0 {
            return ks.lock_none();
        }
        let first = def.first_key as usize;
        let last = if def.last_key < 0 {
            args.len() as i32 + def.last_key
        } else {
            def.last_key
        } as usize;
        let step = def.step.max(1) as usize;
        if first == last || (first < args.len() && first + step > last) {
            return match args.get(first) {
                Some(k) => ks.lock_key(k),
                None => ks.lock_none(),
            };
        }
        let mut shards: SmallVec<[usize; 8]> = SmallVec::new();
        let mut hashes: SmallVec<[u64; 8]> = SmallVec::new();
        let mut i = first;
        while i <= last && i < args.len() {
            let h = cinnabar_engine::hash_key(args[i]);
            shards.push(ks.shard_of(h));
            hashes.push(h);
            i += step;
        }
        let locked = ks.lock_shards(&mut shards);
        // The keys' lookups would miss one after another (MSET of ten random keys spent half
        // its time waiting in `SlotIndex::probe`): start loading them all, in passes.
        for stage in cinnabar_engine::Stage::ALL {
            for &h in &hashes {
                locked.prefetch(db, h, stage);
            }
        }
        return locked;
    }
    let mut pos = Vec::new();
    if commands::key_positions(def, args, &mut pos).is_err() {
        // The handler re-validates and reports the error; it touches no key.
        return ks.lock_none();
    }
    let mut shards: SmallVec<[usize; 8]> = pos.iter().map(|&i| ks.shard_of_key(args[i])).collect();
    ks.lock_shards(&mut shards)
}
