//! The append-only file, in Redis 7's multi-part layout: inside `dir/appenddirname`, a base
//! file (`<appendfilename>.<n>.base.rdb`, an RDB snapshot), incremental files
//! (`<appendfilename>.<n>.incr.aof`, commands in RESP) and a manifest
//! (`<appendfilename>.manifest`) that lists them, as Redis 7.0-7.2 writes them.
//!
//! Logging: every successful write command is appended, while its shard locks are still
//! held (so two commands on the same key are logged in the order they ran), to one shared
//! buffer, rewritten to be deterministic ([`rewrite`]: relative deadlines become absolute
//! PEXPIREAT/PXAT, SPOP becomes SREM of what it popped, ...). Keys that expire are logged as
//! DEL; replay runs with the clock stopped, so it removes exactly those keys, at the same
//! point. A writer thread writes the buffer out; with `appendfsync always` it fsyncs each
//! batch and connections hold their replies until the batch holding their writes is on
//! disk: many clients' writes share one fsync (group commit).
//!
//! Scripts and other callers that change data outside the command table call
//! [`log_command`] with the effects to log.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinnabar_engine::rdb::{SaveOpts, Writer};
use cinnabar_engine::{hash_key, Locked, Shard};
use cinnabar_resp::encode_command;
use parking_lot::{Condvar, Mutex};

use crate::dispatch::{CmdEntry, Ctx};
use crate::server::{now_ms, Server};

mod load;
mod manifest;
mod rewrite;
mod writer;

pub use load::{load_at_startup, should_load};
use manifest::{read_manifest, Files};
use rewrite::write_base_locked;
pub use rewrite::{cron, rewrite_background};
pub use writer::{flush_all, wait_logged_so_far, wait_synced};
use writer::{fsync_mode, writer_loop, Sync};

pub const FSYNC_NO: u8 = 0;
pub const FSYNC_EVERYSEC: u8 = 1;
pub const FSYNC_ALWAYS: u8 = 2;

/// Pending bytes not yet handed to the file.
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    /// Bytes ever appended (the sequence number of the buffer's end).
    seq: u64,
    /// Database the stream last SELECTed (None: emit SELECT before the next command).
    db: Option<usize>,
}

/// AOF state, part of `persist::State`.
#[derive(Default)]
pub struct Aof {
    /// Logging is on (`appendonly yes` and the files are open). One relaxed load per write
    /// command when off.
    pub on: AtomicBool,
    pub fsync: AtomicU8,
    buf: Mutex<Buf>,
    cv: Condvar,
    pub written_seq: AtomicU64,
    pub synced_seq: AtomicU64,
    synced: tokio::sync::Notify,
    files: Mutex<Files>,
    writer_started: AtomicBool,
    /// `last_write_failed` changed: the cron refreshes `persist::State::disk_error`.
    pub disk_error_changed: AtomicBool,
    /// Orders writes to the file (see [`write_out`]).
    wlock: Mutex<()>,
    pub rewrite_running: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub rewrite_started_ms: AtomicI64,
    pub last_rewrite_secs: AtomicI64,
    pub last_rewrite_failed: AtomicBool,
    pub rewrites: AtomicU64,
    pub last_write_failed: AtomicBool,
    pub current_size: AtomicU64,
    pub base_size: AtomicU64,
}

/// Encoded commands with their database.
type Encoded = Vec<(usize, Vec<u8>)>;
/// A file in the manifest: name and sequence number.
pub(super) type Named = (String, u64);
/// Argument spans of one command in a file's bytes.
pub(super) type Spans = Vec<(usize, usize)>;

thread_local! {
    /// Commands of the EXEC running on this thread: logged as MULTI ... EXEC when it ends.
    static TX: RefCell<Option<Encoded>> = const { RefCell::new(None) };
}

/// Appends `argv` (run in database `db`) to the log; returns the sequence number a client
/// must see fsynced (under `appendfsync always`) before its reply goes out.
pub(super) fn append(server: &Server, db: usize, argv: &[&[u8]]) -> u64 {
    let aof = &server.persist.aof;
    let in_tx = TX.with(|t| {
        if let Some(tx) = t.borrow_mut().as_mut() {
            let mut enc = Vec::new();
            encode_command(argv, &mut enc);
            tx.push((db, enc));
            true
        } else {
            false
        }
    });
    if in_tx {
        return 0;
    }
    let seq = {
        let mut b = aof.buf.lock();
        select_if_needed(&mut b, db);
        let before = b.data.len();
        encode_command(argv, &mut b.data);
        b.seq += (b.data.len() - before) as u64;
        b.seq
    };
    aof.cv.notify_one();
    seq
}

fn select_if_needed(b: &mut Buf, db: usize) {
    if b.db != Some(db) {
        let before = b.data.len();
        let n = itoa::Buffer::new().format(db).as_bytes().to_vec();
        encode_command(&[&b"SELECT"[..], &n], &mut b.data);
        b.seq += (b.data.len() - before) as u64;
        b.db = Some(db);
    }
}

/// Logs a DEL for a key the server removed on its own (eviction), if the AOF is on. Called
/// with the key's shard lock held, so the DEL lands in order with the key's writes.
pub fn log_del(server: &Server, db: usize, key: &[u8]) -> u64 {
    if !server.persist.aof.on.load(Ordering::Relaxed) {
        return 0;
    }
    append(server, db, &[b"DEL", key])
}

/// Bytes held by the AOF buffer (INFO mem_aof_buffer). Like Redis, eviction does not count
/// them: evicting makes DELs, which would grow the buffer and feed back into more eviction.
pub fn buffer_bytes(server: &Server) -> u64 {
    if !server.persist.aof.on.load(Ordering::Relaxed) {
        return 0;
    }
    server.persist.aof.buf.lock().data.capacity() as u64
}

/// Logs a command's effects from a handler (scripts log what they did this way): `argv`
/// must be deterministic (absolute deadlines, explicit members). The client's reply then
/// waits for the fsync under `appendfsync always`.
pub fn log_command(ctx: &mut Ctx, argv: &[&[u8]]) {
    if ctx.server.persist.aof.on.load(Ordering::Relaxed) {
        let seq = append(ctx.server, ctx.client.db, argv);
        ctx.client.aof_seq = ctx.client.aof_seq.max(seq);
    }
}

/// Commands whose inner writes are logged together as `MULTI ... EXEC`: transactions, and
/// scripts whose `redis.call`s go through `dispatch::run_locked(_at)` (their effects are
/// then logged like any command, wrapped so that replay applies them all or none).
fn is_atomic_block(name: &str) -> bool {
    matches!(
        name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

thread_local! {
    /// Nesting of atomic blocks on this thread (a script called inside EXEC).
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Called by the dispatcher before a command runs while the AOF is on: EXEC (or a script)
/// starts collecting its commands.
pub fn before_command(entry: &CmdEntry) {
    if is_atomic_block(entry.def.name) {
        if DEPTH.with(|d| d.get()) == 0 {
            TX.with(|t| *t.borrow_mut() = Some(Vec::new()));
        }
        DEPTH.with(|d| d.set(d.get() + 1));
    }
}

/// Called by the dispatcher after a command ran, shard locks still held, while the AOF is
/// on: logs the DELs of keys that expired meanwhile, then the command (rewritten), or for
/// EXEC the whole transaction.
#[allow(clippy::too_many_arguments)]
pub fn after_command(
    server: &Server,
    client: &mut crate::dispatch::Client,
    entry: &CmdEntry,
    args: &[&[u8]],
    locked: &mut Locked<'_>,
    ok: bool,
    reply: &[u8],
    now: i64,
) {
    let mut seq = 0;
    for shard in locked.shards() {
        seq = seq.max(drain_expired(server, shard));
    }
    if is_atomic_block(entry.def.name) {
        let depth = DEPTH.with(|d| {
            let n = d.get().saturating_sub(1);
            d.set(n);
            n
        });
        let tx = if depth == 0 {
            TX.with(|t| t.borrow_mut().take()).unwrap_or_default()
        } else {
            Vec::new()
        };
        if !tx.is_empty() {
            let aof = &server.persist.aof;
            {
                let mut b = aof.buf.lock();
                let start = b.data.len();
                encode_command(&[&b"MULTI"[..]], &mut b.data);
                for (db, enc) in &tx {
                    select_if_needed(&mut b, *db);
                    b.data.extend_from_slice(enc);
                }
                encode_command(&[&b"EXEC"[..]], &mut b.data);
                b.seq += (b.data.len() - start) as u64;
                seq = seq.max(b.seq);
            }
            aof.cv.notify_one();
        }
    } else if ok && entry.def.flags & cinnabar_commands::flags::WRITE != 0 {
        for cmd in rewrite(entry.def.name, args, client.db, locked, reply, now) {
            let argv: Vec<&[u8]> = cmd.iter().map(|a| a.as_ref()).collect();
            seq = seq.max(append(server, client.db, &argv));
        }
    }
    client.aof_seq = client.aof_seq.max(seq);
}

/// Logs a DEL for each key of `shard` that expired since the last call.
pub fn drain_expired(server: &Server, shard: &mut Shard) -> u64 {
    let mut seq = 0;
    for (dbi, db) in shard.dbs.iter_mut().enumerate() {
        for (key, field) in db.expired_fields_log.drain(..) {
            seq = seq.max(append(server, dbi, &[b"HDEL", &key, &field]));
        }
        if let Some(log) = db.aof_expired_log.as_mut() {
            for key in log.drain(..) {
                seq = seq.max(append(server, dbi, &[b"DEL", &key]));
            }
        }
    }
    seq
}

type Argv = Vec<std::borrow::Cow<'static, [u8]>>;

fn owned(a: &[u8]) -> std::borrow::Cow<'static, [u8]> {
    std::borrow::Cow::Owned(a.to_vec())
}

pub(super) fn num(n: i64) -> std::borrow::Cow<'static, [u8]> {
    std::borrow::Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

/// The deadline of `key` in `db` as stored now: None if the key is missing, Some(None)
/// without deadline.
fn deadline(locked: &mut Locked<'_>, db: usize, key: &[u8]) -> Option<Option<i64>> {
    let h = hash_key(key);
    let d = locked.db(db, h);
    d.find_raw(h, key).map(|slot| d.entry(slot).expire())
}

/// `SET key value [PXAT deadline]`: a string key's state with its absolute deadline.
fn set_pxat(key: &[u8], value: std::borrow::Cow<'static, [u8]>, expire: Option<i64>) -> Argv {
    let mut v: Argv = vec![owned(b"SET"), owned(key), value];
    if let Some(t) = expire {
        v.push(owned(b"PXAT"));
        v.push(num(t));
    }
    v
}

/// The deterministic form of a write command, as Redis propagates it: deadlines absolute,
/// random choices explicit. Most commands are logged unchanged.
pub(super) fn rewrite(
    name: &str,
    args: &[&[u8]],
    db: usize,
    locked: &mut Locked<'_>,
    reply: &[u8],
    now: i64,
) -> Vec<Argv> {
    let same = || vec![args.iter().map(|a| owned(a)).collect::<Argv>()];
    let is = |a: &[u8], w: &str| a.eq_ignore_ascii_case(w.as_bytes());
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => {
            let key = args[1];
            if name == "getex" {
                let persist = args[2..].iter().any(|a| is(a, "persist"));
                let timed = args[2..]
                    .iter()
                    .any(|a| is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"));
                if persist {
                    return vec![vec![owned(b"PERSIST"), owned(key)]];
                }
                if !timed {
                    return vec![];
                }
            }
            match deadline(locked, db, key) {
                Some(Some(t)) => vec![vec![owned(b"PEXPIREAT"), owned(key), num(t)]],
                Some(None) => vec![],
                None => vec![vec![owned(b"DEL"), owned(key)]],
            }
        }
        "setex" | "psetex" | "set" => {
            let key = args[1];
            let timed = name != "set"
                || args[3..]
                    .iter()
                    .any(|a| is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"));
            if !timed {
                return same();
            }
            // Logged from the resulting state: SET NX/XX may not have set anything, and then
            // the key holds another value (nothing to log).
            let value = if name == "set" { args[2] } else { args[3] };
            let h = hash_key(key);
            let d = locked.db(db, h);
            let Some(slot) = d.find_raw(h, key) else {
                return vec![vec![owned(b"DEL"), owned(key)]];
            };
            let e = d.entry(slot);
            let holds = match e.value() {
                cinnabar_engine::ValueRef::Str(s) => s == value,
                cinnabar_engine::ValueRef::Int(n) => {
                    itoa::Buffer::new().format(n).as_bytes() == value
                }
                cinnabar_engine::ValueRef::Obj(cinnabar_engine::Object::Str(s)) => s == value,
                cinnabar_engine::ValueRef::Obj(_) => false,
            };
            if !holds {
                return vec![];
            }
            vec![set_pxat(key, owned(value), e.expire())]
        }
        // Logged as its effect: the limiter's new state with an absolute deadline, so replay
        // and replicas do not depend on the clock. A refused request changed nothing.
        "cl.throttle" => {
            if !reply.starts_with(b"*5\r\n:0\r\n") {
                return vec![];
            }
            let key = args[1];
            let h = hash_key(key);
            let d = locked.db(db, h);
            let Some(slot) = d.find_raw(h, key) else {
                return vec![];
            };
            let e = d.entry(slot);
            let cinnabar_engine::ValueRef::Int(tat) = e.value() else {
                return vec![];
            };
            vec![set_pxat(key, num(tat), e.expire())]
        }
        "restore" => {
            let key = args[1];
            match deadline(locked, db, key) {
                Some(t) => {
                    let mut v: Argv = vec![
                        owned(b"RESTORE"),
                        owned(key),
                        num(t.unwrap_or(0)),
                        owned(args[3]),
                        owned(b"ABSTTL"),
                        owned(b"REPLACE"),
                    ];
                    let mut i = 4;
                    while i < args.len() {
                        if (is(args[i], "idletime") || is(args[i], "freq")) && i + 1 < args.len() {
                            v.push(owned(args[i]));
                            v.push(owned(args[i + 1]));
                            i += 1;
                        }
                        i += 1;
                    }
                    vec![v]
                }
                None => vec![vec![owned(b"DEL"), owned(key)]],
            }
        }
        "spop" => {
            let mut v: Argv = vec![owned(b"SREM"), owned(args[1])];
            match cinnabar_resp::Frame::parse(reply) {
                Ok(Some((cinnabar_resp::Frame::Bulk(b), _))) => v.push(owned(&b)),
                Ok(Some((cinnabar_resp::Frame::Array(a) | cinnabar_resp::Frame::Set(a), _))) => {
                    for f in a {
                        if let cinnabar_resp::Frame::Bulk(b) = f {
                            v.push(owned(&b));
                        }
                    }
                }
                _ => {}
            }
            if v.len() > 2 {
                vec![v]
            } else {
                vec![]
            }
        }
        "hexpire" | "hpexpire" | "hexpireat" => {
            // Field deadlines become absolute milliseconds (HPEXPIREAT).
            let Some(n) = cinnabar_engine::num::parse_i64(args[2]) else {
                return same();
            };
            let at = match name {
                "hexpire" => now.saturating_add(n.saturating_mul(1000)),
                "hpexpire" => now.saturating_add(n),
                _ => n.saturating_mul(1000),
            };
            let mut v: Argv = vec![owned(b"HPEXPIREAT"), owned(args[1]), num(at)];
            v.extend(args[3..].iter().map(|a| owned(a)));
            vec![v]
        }
        _ => same(),
    }
}

pub(super) fn aof_dir(server: &Server) -> PathBuf {
    super::dir(server).join(server.config.get("appenddirname"))
}

/// Sets `aof_expired_log` on every database, so expirations can be logged as DEL.
fn track_expired(server: &Server, on: bool) {
    let ks = &server.keyspace;
    for i in 0..ks.shard_count() {
        let mut s = ks.lock_shard(i);
        for d in s.dbs.iter_mut() {
            d.aof_expired_log = if on { Some(Vec::new()) } else { None };
        }
    }
}

/// Turns logging on: at start-up after loading, or on CONFIG SET appendonly yes. With an
/// existing manifest (just loaded) it appends to the last incremental file; otherwise it
/// writes a base of the current dataset, a fresh incremental file and the manifest.
pub fn enable(server: &Arc<Server>) -> io::Result<()> {
    let aof = &server.persist.aof;
    if aof.on.load(Ordering::Relaxed) {
        return Ok(());
    }
    let dir = aof_dir(server);
    std::fs::create_dir_all(&dir)?;
    let name = server.config.get("appendfilename");
    aof.fsync.store(fsync_mode(server), Ordering::Relaxed);
    let manifest_exists = dir.join(format!("{name}.manifest")).exists();
    let may_reuse = manifest_exists && server.persist.loaded_aof.load(Ordering::Relaxed);
    // Lock order is shards, then AOF state: take every shard first when writing a base.
    let mut all = (!may_reuse).then(|| server.keyspace.lock_all());
    {
        let mut files = aof.files.lock();
        *files = Files {
            dir: dir.clone(),
            name: name.clone(),
            ..Files::default()
        };
        let manifest = files.manifest_path();
        let mut reuse = false;
        if may_reuse && manifest.exists() {
            let (base, incrs) = read_manifest(&manifest)?;
            files.base = base;
            files.incrs = incrs;
            if let Some((last, _)) = files.incrs.last().cloned() {
                files.current = Some(OpenOptions::new().append(true).open(dir.join(&last))?);
                reuse = true;
            }
            let size = |n: &str| std::fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0);
            let base_size = files.base.as_ref().map_or(0, |b| size(&b.0));
            let total: u64 = base_size + files.incrs.iter().map(|i| size(&i.0)).sum::<u64>();
            aof.base_size.store(base_size, Ordering::Relaxed);
            aof.current_size.store(total, Ordering::Relaxed);
        }
        if !reuse {
            // A base of the dataset as it is now, taken with every shard locked, and the
            // logging switched on under the same locks so nothing falls in between.
            // Numbering continues after files left by an earlier run, deleted once replaced.
            let (old_base, old_incrs) = if manifest_exists {
                read_manifest(&manifest).unwrap_or_default()
            } else {
                Default::default()
            };
            let seq = old_base.as_ref().map_or(1, |b| b.1 + 1);
            let incr_seq = old_incrs.last().map_or(1, |x| x.1 + 1);
            let base_name = format!("{name}.{seq}.base.rdb");
            let mut locked = match all.take() {
                Some(l) => l,
                None => server.keyspace.lock_all(),
            };
            let len = write_base_locked(server, &dir.join(&base_name), &mut locked)?;
            files.base = Some((base_name, seq));
            files.incrs.clear();
            files.open_incr(incr_seq)?;
            files.write_manifest()?;
            for (old, _) in old_base.into_iter().chain(old_incrs) {
                let _ = std::fs::remove_file(dir.join(old));
            }
            aof.base_size.store(len, Ordering::Relaxed);
            aof.current_size.store(len, Ordering::Relaxed);
            for s in locked.shards() {
                for d in s.dbs.iter_mut() {
                    d.aof_expired_log = Some(Vec::new());
                }
            }
            aof.buf.lock().db = None;
            aof.on.store(true, Ordering::SeqCst);
            drop(locked);
        }
    }
    if !aof.on.load(Ordering::Relaxed) {
        track_expired(server, true);
        aof.buf.lock().db = None;
        aof.on.store(true, Ordering::SeqCst);
    }
    if !aof.writer_started.swap(true, Ordering::AcqRel) {
        let srv = server.clone();
        std::thread::Builder::new()
            .name("cinnabar-aof".into())
            .spawn(move || writer_loop(srv))?;
    }
    Ok(())
}

/// Turns logging off (CONFIG SET appendonly no): flushes, fsyncs and closes the file.
pub fn disable(server: &Server) {
    let aof = &server.persist.aof;
    if !aof.on.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = flush_all(server);
    track_expired(server, false);
    aof.files.lock().current = None;
    aof.synced.notify_waiters();
}

/// CONFIG SET hooks: appendonly, appendfsync.
pub fn config_changed(server: &Server, name: &str) -> Result<(), String> {
    let aof = &server.persist.aof;
    match name {
        "appendfsync" => aof.fsync.store(fsync_mode(server), Ordering::Relaxed),
        "appendonly" => {
            if server.config.get_bool("appendonly") {
                let srv = server.persist.server().ok_or("server is shutting down")?;
                enable(&srv).map_err(|e| e.to_string())?;
            } else {
                disable(server);
            }
        }
        _ => {}
    }
    Ok(())
}

/// INFO persistence fields of the AOF.
pub fn info(out: &mut String, server: &Server) {
    use std::fmt::Write as _;
    let aof = &server.persist.aof;
    let on = aof.on.load(Ordering::Relaxed);
    let running = aof.rewrite_running.load(Ordering::Relaxed);
    let mut f = |k: &str, v: String| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    f("aof_enabled", (on as u8).to_string());
    f("aof_rewrite_in_progress", (running as u8).to_string());
    f(
        "aof_rewrite_scheduled",
        (aof.rewrite_scheduled.load(Ordering::Relaxed) as u8).to_string(),
    );
    f(
        "aof_last_rewrite_time_sec",
        if aof.rewrites.load(Ordering::Relaxed) > 0
            || aof.last_rewrite_failed.load(Ordering::Relaxed)
        {
            aof.last_rewrite_secs.load(Ordering::Relaxed).to_string()
        } else {
            "-1".into()
        },
    );
    f(
        "aof_current_rewrite_time_sec",
        if running {
            ((now_ms() - aof.rewrite_started_ms.load(Ordering::Relaxed)) / 1000).to_string()
        } else {
            "-1".into()
        },
    );
    f(
        "aof_last_bgrewrite_status",
        if aof.last_rewrite_failed.load(Ordering::Relaxed) {
            "err"
        } else {
            "ok"
        }
        .into(),
    );
    f(
        "aof_rewrites",
        aof.rewrites.load(Ordering::Relaxed).to_string(),
    );
    f("aof_rewrites_consecutive_failures", "0".into());
    f(
        "aof_last_write_status",
        if aof.last_write_failed.load(Ordering::Relaxed) {
            "err"
        } else {
            "ok"
        }
        .into(),
    );
    f("aof_last_cow_size", "0".into());
    f("module_fork_in_progress", "0".into());
    f("module_fork_last_cow_size", "0".into());
    if on {
        f(
            "aof_current_size",
            aof.current_size.load(Ordering::Relaxed).to_string(),
        );
        f(
            "aof_base_size",
            aof.base_size.load(Ordering::Relaxed).to_string(),
        );
        f("aof_pending_rewrite", "0".into());
        f("aof_buffer_length", aof.buf.lock().data.len().to_string());
        f("aof_pending_bio_fsync", "0".into());
        f("aof_delayed_fsync", "0".into());
    }
}
