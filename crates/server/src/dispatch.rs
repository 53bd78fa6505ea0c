//! From a parsed command to its handler: lookup in the command table, the central checks
//! (existence, arity, authentication, protected commands), locking the shards the command's
//! keys live in, running the handler, and the statistics.
//!
//! Checks happen here once, in the order Redis's processCommand does them, so a handler can
//! assume its arity is right and the client may run it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use cinnabar_commands::{self as commands, flags, CommandDef};
use cinnabar_engine::{Error, Locked, Result};
use cinnabar_resp::ReplyBuf;
use smallvec::SmallVec;

use crate::server::{bump, ClientShared, Server, WorkerStats};

pub use crate::cmd::multi::unwatch_all;

/// A command implementation. Writes its reply into `ctx.out`; an `Err` is written as the
/// error reply by the dispatcher (and counted in `failed_calls`).
pub type Handler = fn(&mut Ctx<'_, '_>) -> Result<()>;

/// Which shards a command locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The shards of the keys named by the command's key specs (none for keyless commands).
    Keys,
    /// Every shard: commands that see the whole keyspace (KEYS, SCAN, FLUSHALL, SWAPDB...).
    All,
    /// Scripts (EVAL, FCALL...): the script mutex, then the shards of the declared keys; the
    /// script may lock more as it runs (see `crate::scripting`).
    Script,
}

pub struct CmdEntry {
    pub def: &'static CommandDef,
    pub handler: Handler,
    pub access: Access,
    /// Index into the per-worker statistics arrays.
    pub idx: usize,
    /// How a successful write's reply tells whether it changed anything.
    pub effect: crate::notify::Effect,
}

/// The server's view of the command table: every command we implement, by full name.
pub struct Registry {
    cmds: Vec<CmdEntry>,
    by_name: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
}

impl Registry {
    /// Collects the handlers of every family. Panics at start-up if a family registers a name
    /// the command table does not know: a programming error, caught by every test.
    pub fn build() -> Registry {
        let mut r = Registry {
            cmds: Vec::new(),
            by_name: HashMap::default(),
        };
        crate::cmd::register_all(&mut r);
        r
    }

    fn insert(&mut self, full_name: &str, handler: Handler, access: Access) {
        let def = match full_name.split_once('|') {
            None => commands::lookup(full_name.as_bytes()),
            Some((parent, sub)) => commands::lookup(parent.as_bytes())
                .and_then(|p| commands::lookup_sub(p, sub.as_bytes())),
        }
        .unwrap_or_else(|| panic!("'{full_name}' is not in the command table"));
        let idx = self.cmds.len();
        self.cmds.push(CmdEntry {
            def,
            handler,
            access,
            idx,
            effect: crate::notify::effect_of(def.name),
        });
        let prev = self.by_name.insert(full_name.as_bytes().into(), idx);
        assert!(prev.is_none(), "'{full_name}' registered twice");
    }

    /// Registers a command that locks the shards of its keys.
    pub fn add(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::Keys);
    }

    /// Registers a script command (EVAL, FCALL ...).
    pub fn add_script(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::Script);
    }

    /// Registers a command that locks the whole keyspace.
    pub fn add_all(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::All);
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    pub fn entries(&self) -> &[CmdEntry] {
        &self.cmds
    }

    /// The entry at a registry index (as stored in queued commands and statistics).
    pub fn at(&self, idx: usize) -> &CmdEntry {
        &self.cmds[idx]
    }

    /// Looks up by full name ("get", "config|get"), case-insensitively, without allocating.
    pub fn get(&self, name: &[u8]) -> Option<&CmdEntry> {
        let mut buf = [0u8; 64];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&buf[..name.len()]).map(|&i| &self.cmds[i])
    }

    /// True when the table has the command (implemented or not); used for the unknown
    /// subcommand error of container commands.
    pub fn is_container(name: &[u8]) -> bool {
        commands::lookup(name).is_some_and(|d| !d.subcommands.is_empty())
    }

    /// Finds the entry for argv: the command, or for container commands the subcommand.
    pub fn resolve(&self, args: &[&[u8]]) -> std::result::Result<&CmdEntry, Error> {
        let name = args[0];
        let top = self.get(name);
        let is_container = match top {
            Some(e) => !e.def.subcommands.is_empty(),
            None => Registry::is_container(name),
        };
        if is_container && args.len() >= 2 {
            let mut full = Vec::with_capacity(name.len() + 1 + args[1].len());
            full.extend_from_slice(name);
            full.push(b'|');
            full.extend_from_slice(args[1]);
            if let Some(e) = self.get(&full) {
                return Ok(e);
            }
            return Err(sanitized(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                trunc(args[1], 128),
                String::from_utf8_lossy(name).to_uppercase()
            )));
        }
        match top {
            Some(e) => Ok(e),
            None if is_container => {
                // A container we know but do not implement: its arity error comes first.
                Err(Error::WrongArity(
                    String::from_utf8_lossy(name).to_lowercase(),
                ))
            }
            None => {
                let mut list = String::new();
                for a in &args[1..] {
                    if list.len() >= 128 {
                        break;
                    }
                    let room = 128 - list.len();
                    list.push('\'');
                    list.push_str(&trunc(a, room));
                    list.push_str("' ");
                }
                Err(sanitized(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    trunc(name, 128),
                    list
                )))
            }
        }
    }
}

fn trunc(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// Redis replaces CR and LF in error text, which may echo user input, by spaces.
fn sanitized(s: String) -> Error {
    Error::msg(s.replace(['\r', '\n'], " "))
}

/// How the client wants replies (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    Skip,
    /// Set by CLIENT REPLY SKIP: becomes Skip after the current command.
    SkipNext,
}

/// Connection-local state of a client.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Set by QUIT / a fatal error: close once pending replies are written.
    pub close_after_reply: bool,
    pub no_evict: bool,
    pub no_touch: bool,
    pub shared: Arc<ClientShared>,
    pub is_local: bool,
    /// The transaction being queued, between MULTI and EXEC/DISCARD.
    pub multi: Option<Multi>,
    /// Keys this client WATCHes: (db, key, live when watched).
    pub watched: Vec<(usize, Box<[u8]>, bool)>,
    /// Set by any other client's change to a watched key: EXEC then fails.
    pub dirty: Arc<std::sync::atomic::AtomicBool>,
    /// Set by a blocking command that found nothing: the connection waits on it.
    pub blocked: Option<crate::blocking::BlockedOn>,
    /// Keys with blocked waiters that this client's writes touched, served once its locks
    /// are released.
    pub ready_keys: Vec<(usize, Vec<u8>)>,
    /// Inside EXEC: blocking commands must not block.
    pub in_exec: bool,
    /// The client a script runs its commands as (Redis's CLIENT_SCRIPT).
    pub in_script: bool,
    /// Subscriptions and the out-of-band message queue (pubsub.rs).
    pub pubsub: crate::pubsub::ClientPubSub,
    /// AOF position this client's writes reached: with `appendfsync always` its replies wait
    /// until the file is fsynced that far (crate::persist::aof).
    pub aof_seq: u64,
    /// Memory was over `maxmemory` with nothing to evict when the current command started
    /// (Redis's pre_command_oom_state): scripts refuse their first deny-oom write then.
    pub pre_oom: bool,
}

impl Client {
    /// A fresh client: db 0, replies on, no transaction, nothing watched or blocked. Also used
    /// to run a blocked client's command on its behalf when it is served.
    pub fn new(id: u64, shared: Arc<ClientShared>, is_local: bool, authenticated: bool) -> Client {
        Client {
            id,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            no_evict: false,
            no_touch: false,
            shared,
            is_local,
            multi: None,
            watched: Vec::new(),
            dirty: Default::default(),
            blocked: None,
            ready_keys: Vec::new(),
            in_exec: false,
            in_script: false,
            pubsub: Default::default(),
            aof_seq: 0,
            pre_oom: false,
        }
    }
}

/// A transaction being queued. The arguments of every queued command are copied out of the
/// read buffer into one byte buffer, so queueing a command allocates nothing once the
/// buffers have grown.
#[derive(Default)]
pub struct Multi {
    pub queue: Vec<Queued>,
    /// All queued arguments, back to back; `Queued::args` are ranges into it.
    pub bytes: Vec<u8>,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    pub error: bool,
    /// Union of the queued commands' flags (Redis's mstate.cmd_flags): EXEC of a queue
    /// holding a deny-oom command is refused when memory is full.
    pub flags: u64,
}

/// A queued command: its registry index and where its arguments are in `Multi::bytes`.
pub struct Queued {
    pub args: SmallVec<[(usize, usize); 4]>,
    pub idx: usize,
}

impl Multi {
    /// Queues a command.
    pub fn push(&mut self, idx: usize, args: &[&[u8]]) {
        if self.queue.is_empty() {
            self.queue.reserve(4);
            self.bytes.reserve(256);
        }
        let ranges = args
            .iter()
            .map(|a| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(a);
                (start, self.bytes.len())
            })
            .collect();
        self.queue.push(Queued { args: ranges, idx });
    }

    /// The arguments of a queued command.
    pub fn args<'m>(&'m self, q: &Queued) -> SmallVec<[&'m [u8]; 16]> {
        q.args.iter().map(|&(s, e)| &self.bytes[s..e]).collect()
    }
}

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
    /// Bit i set: `args[i]` is a key the command did not modify although it succeeded (SMOVE
    /// of a member the destination already holds, SADD of existing members...). Redis does
    /// not call signalModifiedKey for such keys, so WATCH, keyspace events and tracking
    /// leave them alone. Set with [`Ctx::unchanged_arg`].
    pub unchanged: u64,
}

impl<'a, 'k> Ctx<'a, 'k> {
    /// Argument `i` (0 is the command name).
    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        self.args[i]
    }

    /// Reports that the key `args[i]` was not modified (see [`Ctx::unchanged`]).
    #[inline]
    pub fn unchanged_arg(&mut self, i: usize) {
        if i < 64 {
            self.unchanged |= 1 << i;
        }
    }
}

/// The current database in the shard of `key`, and the key's hash: `let (db, h) =
/// key_db!(ctx, key);`. A macro rather than a method so that it borrows only `ctx.data`,
/// leaving `ctx.out` free for the reply while `db` is in use.
#[macro_export]
macro_rules! key_db {
    ($ctx:expr, $key:expr) => {{
        let h = cinnabar_engine::hash_key($key);
        ($ctx.data.db($ctx.client.db, h), h)
    }};
    ($ctx:expr, $key:expr, $dbi:expr) => {{
        let h = cinnabar_engine::hash_key($key);
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
    if def.flags & flags::PROTECTED != 0 && !debug_allowed(server, client) {
        reject(client, out, b"ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        return;
    }
    if !client.authenticated
        && def.flags & flags::NO_AUTH == 0
        && server.config.live.has_password.load(Ordering::Relaxed)
    {
        reject(client, out, b"NOAUTH Authentication required.");
        return;
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
    if server.scripts.busy.load(Ordering::Relaxed) && def.flags & flags::ALLOW_BUSY == 0 {
        reject(client, out, server.scripts.busy_error().as_bytes());
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
    if def.flags & flags::LOADING == 0 && server.persist.is_loading() {
        reject(
            client,
            out,
            b"LOADING Redis is loading the dataset in memory",
        );
        return;
    }
    if let Some(multi) = client.multi.as_mut() {
        if !is_transaction_control(def) {
            if def.flags & flags::NO_MULTI != 0 {
                reject(client, out, b"ERR Command not allowed inside a transaction");
                return;
            }
            multi.flags |= crate::scripting::command_flags(server, def, args);
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
        Access::Keys | Access::Script => lock_keys(server, entry.def, args),
    };
    run_locked(server, worker, client, out, args, entry, &mut locked);
    drop(locked);
    if !client.ready_keys.is_empty() {
        let ready = std::mem::take(&mut client.ready_keys);
        crate::blocking::serve_ready(server, ready);
    }
}

/// Runs one command whose shards are already locked (by `execute`, or by EXEC for the whole
/// transaction), with statistics and WATCH signalling.
pub fn run_locked(
    server: &Server,
    worker: &WorkerStats,
    client: &mut Client,
    out: &mut ReplyBuf,
    args: &[&[u8]],
    entry: &CmdEntry,
    locked: &mut Locked<'_>,
) {
    let now = crate::server::now_ms();
    run_locked_at(server, worker, client, out, args, entry, locked, now);
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
) {
    let stat = &worker.commands[entry.idx];
    let start = Instant::now();
    let aof = server.persist.aof.on.load(Ordering::Relaxed);
    let reply_mark = out.len();
    if aof {
        crate::persist::aof::before_command(entry);
    }
    // Only when some client WATCHes anything: note which watched keys are live before a write.
    let watch =
        if server.watching.load(Ordering::Relaxed) > 0 && entry.def.flags & flags::WRITE != 0 {
            watched_before(entry.def, args, client.db, locked, now)
        } else {
            None
        };
    // Keyspace notifications and client tracking: two relaxed loads while both are unused.
    let notify = if server.config.live.notify_flags.load(Ordering::Relaxed) != 0
        || server.tracking.clients.load(Ordering::Relaxed) > 0
    {
        crate::notify::before(entry.def, args, client.db, locked, now)
    } else {
        None
    };
    let mark = out.len();
    let mut ctx = Ctx {
        args,
        out,
        client,
        server,
        worker,
        data: locked,
        now,
        unchanged: 0,
    };
    let result = (entry.handler)(&mut ctx);
    let unchanged: SmallVec<[&[u8]; 2]> = match ctx.unchanged {
        0 => SmallVec::new(),
        bits => (0..args.len().min(64))
            .filter(|i| bits >> i & 1 == 1)
            .map(|i| args[i])
            .collect(),
    };
    if aof {
        crate::persist::aof::after_command(
            server,
            client,
            entry,
            args,
            locked,
            result.is_ok(),
            &out.buf[reply_mark..],
            now,
        );
    }
    if let Some(probe) = notify {
        let reply = out.buf.get(mark..).unwrap_or_default();
        crate::notify::after(
            server,
            client,
            entry.def,
            args,
            probe,
            locked,
            reply,
            result.is_ok(),
            now,
            &unchanged,
        );
    }
    if let (Some(before), true) = (watch, result.is_ok()) {
        signal_watched(before, locked, crate::server::now_ms(), &unchanged);
    }
    if result.is_ok()
        && entry.def.flags & flags::WRITE != 0
        && server.blocking.count.load(Ordering::Relaxed) > 0
    {
        note_ready_keys(client, entry, args);
    }
    // Changes since the last save count writes that changed something: not a pop of an
    // empty list, nor a blocking pop that blocked (it counts when it is served).
    if result.is_ok()
        && entry.def.flags & flags::WRITE != 0
        && crate::notify::had_effect(entry.effect, args, out.buf.get(mark..).unwrap_or_default())
    {
        bump(&worker.dirty, 1);
    }
    let usec = start.elapsed().as_micros() as u64;
    bump(&stat.calls, 1);
    bump(&stat.usec, usec);
    bump(&worker.total_commands, 1);
    if let Err(e) = result {
        bump(&stat.failed, 1);
        let msg = e.to_string();
        if !ERROR_COUNTED.with(|c| c.replace(false)) {
            bump(&worker.failed_calls, 1);
            worker.count_error(msg.as_bytes());
        }
        out.error(msg.as_bytes());
    }
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

/// After a write while clients are blocked: remember the keys it named (or, for keyspace-wide
/// writes such as SWAPDB or FLUSHALL, "every waited key"), to serve their waiters once locks
/// are released. No registry lock is taken here: this also runs while `serve_ready` holds it,
/// and `serve_ready` skips keys nobody waits on.
fn note_ready_keys(client: &mut Client, entry: &CmdEntry, args: &[&[u8]]) {
    if entry.access == Access::All {
        client
            .ready_keys
            .push((crate::blocking::ALL_DBS, Vec::new()));
        return;
    }
    let mut pos = Vec::new();
    if commands::key_positions(entry.def, args, &mut pos).is_err() {
        return;
    }
    for &i in &pos {
        client.ready_keys.push((client.db, args[i].to_vec()));
    }
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

/// A watched key a write command may change: (db, key, hash, was live before the command).
type WatchProbe = SmallVec<[(usize, Vec<u8>, u64, bool); 4]>;

/// Before a write: for each key the command names that someone WATCHes, whether it is live.
/// FLUSHALL/FLUSHDB/SWAPDB name no keys: for them every watched key of the affected dbs is
/// probed. A watched key is signalled afterwards only if it was live before or is live after,
/// so deleting a missing or already expired key does not fail anyone's EXEC, as in Redis.
fn watched_before(
    def: &CommandDef,
    args: &[&[u8]],
    db: usize,
    locked: &mut Locked<'_>,
    now: i64,
) -> Option<WatchProbe> {
    let mut probe = WatchProbe::new();
    let dbs: SmallVec<[usize; 2]> = match def.name {
        "flushall" => (0..locked.keyspace().databases()).collect(),
        "flushdb" => SmallVec::from_slice(&[db]),
        "swapdb" => args[1..3]
            .iter()
            .filter_map(|a| cinnabar_engine::num::parse_i64(a))
            .map(|n| n as usize)
            .filter(|&n| n < locked.keyspace().databases())
            .collect(),
        _ => SmallVec::new(),
    };
    if !dbs.is_empty() {
        for shard in locked.shards() {
            for &d in &dbs {
                for key in shard.dbs[d].watched.keys() {
                    let h = cinnabar_engine::hash_key(key);
                    // SWAPDB: a key counts as live when it is live in either db.
                    let live = dbs.iter().any(|&o| shard.dbs[o].is_live(h, key, now));
                    probe.push((d, key.to_vec(), h, live));
                }
            }
        }
        return Some(probe);
    }
    let mut pos = Vec::new();
    if commands::key_positions(def, args, &mut pos).is_err() {
        return None;
    }
    // MOVE key db and COPY ... DB db also write the key in another database.
    let mut dbs: SmallVec<[usize; 2]> = SmallVec::from_slice(&[db]);
    let other = match def.name {
        "move" => args.get(2),
        "copy" => args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"db"))
            .and_then(|i| args.get(i + 1)),
        _ => None,
    };
    if let Some(n) = other.and_then(|a| cinnabar_engine::num::parse_i64(a)) {
        if n >= 0 && (n as usize) < locked.keyspace().databases() && n as usize != db {
            dbs.push(n as usize);
        }
    }
    for &i in &pos {
        let key = args[i];
        let h = cinnabar_engine::hash_key(key);
        let Some(shard) = locked.shard_at(cinnabar_engine::keyspace::shard_of_hash(
            h,
            locked.keyspace().shard_count() - 1,
        )) else {
            continue;
        };
        for &d in &dbs {
            let dbr = &shard.dbs[d];
            if dbr.watched.contains_key(key) {
                probe.push((d, key.to_vec(), h, dbr.is_live(h, key, now)));
            }
        }
    }
    Some(probe)
}

/// After a successful write: mark dirty the watchers of probed keys that were or are live,
/// except those the command reported `unchanged`.
fn signal_watched(probe: WatchProbe, locked: &mut Locked<'_>, now: i64, unchanged: &[&[u8]]) {
    for (d, key, h, was_live) in probe {
        if unchanged.contains(&key.as_slice()) {
            continue;
        }
        let db = locked.db(d, h);
        if was_live || db.is_live(h, &key, now) {
            db.touch_watched(&key);
        }
    }
}

fn debug_allowed(server: &Server, client: &Client) -> bool {
    match server.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => client.is_local,
        _ => false,
    }
}

/// Locks the shards of the keys named in `args`, per the command's key specs.
pub(crate) fn lock_keys<'k>(server: &'k Server, def: &CommandDef, args: &[&[u8]]) -> Locked<'k> {
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
                Some(k) => ks.lock_one(ks.shard_of_key(k)),
                None => ks.lock_none(),
            };
        }
        let mut shards: SmallVec<[usize; 8]> = SmallVec::new();
        let mut i = first;
        while i <= last && i < args.len() {
            shards.push(ks.shard_of_key(args[i]));
            i += step;
        }
        return ks.lock_shards(&mut shards);
    }
    let mut pos = Vec::new();
    if commands::key_positions(def, args, &mut pos).is_err() {
        // The handler re-validates and reports the error; it touches no key.
        return ks.lock_none();
    }
    let mut shards: SmallVec<[usize; 8]> = pos.iter().map(|&i| ks.shard_of_key(args[i])).collect();
    ks.lock_shards(&mut shards)
}
