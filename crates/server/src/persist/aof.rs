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

/// The files of the multi-part AOF.
#[derive(Default)]
struct Files {
    dir: PathBuf,
    name: String,
    base: Option<(String, u64)>,
    incrs: Vec<(String, u64)>,
    current: Option<File>,
    last_fsync: Option<Instant>,
}

impl Files {
    fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.name))
    }

    /// Writes the manifest atomically (temp file, fsync, rename, fsync the directory).
    fn write_manifest(&self) -> io::Result<()> {
        let mut text = String::new();
        if let Some((b, seq)) = &self.base {
            text.push_str(&format!("file {b} seq {seq} type b\n"));
        }
        for (i, seq) in &self.incrs {
            text.push_str(&format!("file {i} seq {seq} type i\n"));
        }
        let tmp = self.dir.join(format!("temp-{}.manifest", self.name));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.manifest_path())?;
        File::open(&self.dir)?.sync_all()
    }

    fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(1, |x| x.1 + 1)
    }

    /// Starts a new incremental file and makes it the one appended to.
    fn open_new_incr(&mut self) -> io::Result<()> {
        self.open_incr(self.next_incr_seq())
    }

    fn open_incr(&mut self, seq: u64) -> io::Result<()> {
        let name = format!("{}.{seq}.incr.aof", self.name);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&name))?;
        self.incrs.push((name, seq));
        self.current = Some(f);
        Ok(())
    }
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
type Named = (String, u64);
/// Argument spans of one command in a file's bytes.
type Spans = Vec<(usize, usize)>;

thread_local! {
    /// Commands of the EXEC running on this thread: logged as MULTI ... EXEC when it ends.
    static TX: RefCell<Option<Encoded>> = const { RefCell::new(None) };
}

/// Appends `argv` (run in database `db`) to the log; returns the sequence number a client
/// must see fsynced (under `appendfsync always`) before its reply goes out.
fn append(server: &Server, db: usize, argv: &[&[u8]]) -> u64 {
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

fn num(n: i64) -> std::borrow::Cow<'static, [u8]> {
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
fn rewrite(
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

/// Waits until the log is on disk up to `seq` (`appendfsync always`) or at least handed to
/// the kernel (`everysec`, as Redis writes before replying, so a killed process loses no
/// acknowledged write): the caller then writes its replies. Returns at once with `no`.
pub async fn wait_synced(server: &Server, seq: u64) {
    let aof = &server.persist.aof;
    let mode = aof.fsync.load(Ordering::Relaxed);
    if seq == 0 || mode == FSYNC_NO {
        return;
    }
    if mode == FSYNC_EVERYSEC {
        // Like Redis, write to the kernel before replying, from this thread: no hand-off
        // to the writer thread, which only does the fsync once a second.
        if aof.written_seq.load(Ordering::Acquire) < seq {
            // Let the other connections of this worker run their commands first: the first
            // to come back writes everyone's in one write(2), like Redis's event loop does.
            tokio::task::yield_now().await;
            if aof.written_seq.load(Ordering::Acquire) < seq {
                let _ = write_out(aof, Sync::Never);
            }
        }
        return;
    }
    let reached = &aof.synced_seq;
    loop {
        let n = aof.synced.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if reached.load(Ordering::Acquire) >= seq
            || !aof.on.load(Ordering::Relaxed)
            || aof.last_write_failed.load(Ordering::Relaxed)
        {
            return;
        }
        n.await;
    }
}

/// Waits until everything logged so far is as durable as `appendfsync` promises: for a
/// blocked client served by another client's write, whose pop was logged on its behalf.
pub async fn wait_logged_so_far(server: &Server) {
    let aof = &server.persist.aof;
    if !aof.on.load(Ordering::Relaxed) {
        return;
    }
    let seq = aof.buf.lock().seq;
    wait_synced(server, seq).await;
}

fn fsync_mode(server: &Server) -> u8 {
    match server.config.get("appendfsync").as_str() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    }
}

/// When [`write_out`] fsyncs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// As `appendfsync` says (always: now; everysec: if a second has passed; no: never).
    Policy,
    Force,
    /// Never here: a worker thread writing for `everysec` leaves fsyncs to the writer thread.
    Never,
}

/// Writes pending bytes to the current incremental file; fsyncs per `sync`.
fn flush(aof: &Aof, files: &mut Files, data: &[u8], end: u64, sync: Sync) -> io::Result<()> {
    let Some(f) = files.current.as_mut() else {
        return Ok(());
    };
    if !data.is_empty() {
        f.write_all(data)?;
        aof.current_size
            .fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    aof.written_seq.store(end, Ordering::Release);
    let mode = aof.fsync.load(Ordering::Relaxed);
    if mode == FSYNC_EVERYSEC {
        aof.synced.notify_waiters();
    }
    let due = files
        .last_fsync
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        && aof.synced_seq.load(Ordering::Relaxed) < end;
    let now = match sync {
        Sync::Force => true,
        Sync::Never => false,
        Sync::Policy => mode == FSYNC_ALWAYS || (mode == FSYNC_EVERYSEC && due),
    };
    if now {
        f.sync_data()?;
        files.last_fsync = Some(Instant::now());
        aof.synced_seq.store(end, Ordering::Release);
        aof.synced.notify_waiters();
    }
    Ok(())
}

/// Moves everything appended so far into the file. `wlock` keeps batches in order: a batch
/// taken from the buffer is written before any later one, and never after a file switch.
/// Lock order: wlock, buf, files (shard locks, when held, come before all three).
fn write_out(aof: &Aof, sync: Sync) -> io::Result<()> {
    let _order = aof.wlock.lock();
    let (data, end) = {
        let mut b = aof.buf.lock();
        (std::mem::take(&mut b.data), b.seq)
    };
    let mut files = aof.files.lock();
    let r = flush(aof, &mut files, &data, end, sync);
    match &r {
        Ok(()) => {
            if aof.last_write_failed.swap(false, Ordering::Relaxed) {
                aof.disk_error_changed.store(true, Ordering::Relaxed);
            }
        }
        Err(e) => {
            tracing::error!("Error writing to the AOF file: {e}");
            aof.last_write_failed.store(true, Ordering::Relaxed);
            aof.disk_error_changed.store(true, Ordering::Relaxed);
            aof.synced.notify_waiters();
        }
    }
    r
}

/// The writer thread: takes what commands appended, writes it, fsyncs per `appendfsync`
/// (for `everysec`, also once a second when idle).
fn writer_loop(server: Arc<Server>) {
    let aof = &server.persist.aof;
    loop {
        {
            let mut b = aof.buf.lock();
            if b.data.is_empty() {
                if server.is_shutting_down() {
                    return;
                }
                aof.cv.wait_for(&mut b, Duration::from_millis(100));
            }
        }
        if aof.fsync.load(Ordering::Relaxed) == FSYNC_EVERYSEC {
            let _ = write_out(aof, Sync::Never);
            everysec_fsync(aof);
        } else {
            let _ = write_out(aof, Sync::Policy);
        }
    }
}

/// `everysec`: once a second, fsyncs what was written, on a duplicate of the descriptor and
/// outside every lock, so writers never wait for the disk.
fn everysec_fsync(aof: &Aof) {
    let (file, end) = {
        let mut files = aof.files.lock();
        let end = aof.written_seq.load(Ordering::Acquire);
        let due = files
            .last_fsync
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if !due || aof.synced_seq.load(Ordering::Relaxed) >= end {
            return;
        }
        files.last_fsync = Some(Instant::now());
        (files.current.as_ref().and_then(|f| f.try_clone().ok()), end)
    };
    if let Some(f) = file {
        match f.sync_data() {
            Ok(()) => aof.synced_seq.store(end, Ordering::Release),
            Err(e) => {
                tracing::error!("Error fsyncing the AOF file: {e}");
                aof.last_write_failed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Flushes and fsyncs everything logged so far (shutdown, tests).
pub fn flush_all(server: &Server) -> io::Result<()> {
    write_out(&server.persist.aof, Sync::Force)
}

fn aof_dir(server: &Server) -> PathBuf {
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

/// Parses a manifest: base and incremental files in order.
fn read_manifest(path: &Path) -> io::Result<(Option<Named>, Vec<Named>)> {
    let text = std::fs::read_to_string(path)?;
    let mut base = None;
    let mut incrs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let get = |k: &str| {
            w.windows(2)
                .find(|p| p[0] == k)
                .map(|p| p[1].trim_matches('"'))
        };
        let (Some(file), Some(seq), Some(kind)) = (get("file"), get("seq"), get("type")) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Invalid AOF manifest file format at line {}", n + 1),
            ));
        };
        let seq: u64 = seq.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "Invalid AOF manifest sequence")
        })?;
        match kind {
            "b" => base = Some((file.to_string(), seq)),
            "i" => incrs.push((file.to_string(), seq)),
            _ => {} // history files are not loaded
        }
    }
    Ok((base, incrs))
}

/// True when start-up should load the AOF rather than the RDB (AOF on and a manifest).
pub fn should_load(server: &Server) -> bool {
    server.config.get_bool("appendonly")
        && aof_dir(server)
            .join(format!("{}.manifest", server.config.get("appendfilename")))
            .exists()
}

/// Loads base and incremental files at start-up. A truncated last command of the last file
/// is cut off (with `aof-load-truncated yes`); anything else malformed is fatal, naming the
/// file and offset, and nothing is changed on disk.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let dir = aof_dir(server);
    let name = server.config.get("appendfilename");
    let manifest = dir.join(format!("{name}.manifest"));
    let (base, incrs) = read_manifest(&manifest).map_err(|e| format!("{e}"))?;
    let started = Instant::now();
    let mut keys = 0u64;
    if let Some((b, _)) = &base {
        let path = dir.join(b);
        if b.ends_with(".rdb") {
            let f = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            keys += super::rdbfile::load_stream(server, io::BufReader::new(f)).map_err(|e| {
                format!(
                    "Bad file format reading the append only file {}: {e}",
                    path.display()
                )
            })?;
        } else {
            replay_file(server, &path, false)?;
        }
    }
    let n = incrs.len();
    for (i, (f, _)) in incrs.iter().enumerate() {
        replay_file(server, &dir.join(f), i + 1 == n)?;
    }
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    let _ = keys;
    Ok(())
}

/// One command in AOF bytes: Ok(None) at a clean end, Err(true) if cut short, Err(false)
/// if malformed.
fn parse_one(buf: &[u8], mut p: usize) -> Result<Option<(Spans, usize)>, bool> {
    // Annotations (#TS:...) are skipped.
    while p < buf.len() && buf[p] == b'#' {
        match buf[p..].iter().position(|&c| c == b'\n') {
            Some(n) => p += n + 1,
            None => return Err(true),
        }
    }
    if p >= buf.len() {
        return Ok(None);
    }
    let line = |p: usize| -> Result<(i64, usize), bool> {
        let end = buf[p..].iter().position(|&c| c == b'\r').map(|n| p + n);
        let Some(end) = end else { return Err(true) };
        if end + 1 >= buf.len() {
            return Err(true);
        }
        if buf[end + 1] != b'\n' {
            return Err(false);
        }
        let n = cinnabar_engine::num::parse_i64(&buf[p + 1..end]).ok_or(false)?;
        Ok((n, end + 2))
    };
    if buf[p] != b'*' {
        return Err(false);
    }
    let (argc, mut q) = line(p)?;
    if argc < 1 {
        return Err(false);
    }
    let mut spans = Vec::with_capacity(argc as usize);
    for _ in 0..argc {
        if q >= buf.len() {
            return Err(true);
        }
        if buf[q] != b'$' {
            return Err(false);
        }
        let (len, r) = line(q)?;
        if len < 0 {
            return Err(false);
        }
        let end = r + len as usize;
        if end + 2 > buf.len() {
            return Err(true);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(false);
        }
        spans.push((r, end));
        q = end + 2;
    }
    Ok(Some((spans, q)))
}

/// Replays one AOF file of commands with the clock stopped (see the module docs).
fn replay_file(server: &Server, path: &Path, last: bool) -> Result<(), String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| {
            format!(
                "Fatal error: can't open the append log file {}: {e}",
                path.display()
            )
        })?;
    let shared = Arc::new(crate::server::ClientShared::new(
        0,
        String::new(),
        String::new(),
        -1,
        0,
    ));
    let mut client = crate::dispatch::Client::new(0, shared, true, true);
    client.in_exec = true;
    let mut out = cinnabar_resp::ReplyBuf::new(cinnabar_resp::Protocol::Resp2);
    let mut p = 0usize;
    let mut multi: Option<(usize, Vec<Spans>)> = None;
    let truncated = |at: usize| -> Result<(), String> {
        let ok = last && server.config.get_bool("aof-load-truncated");
        if !ok {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at offset {at}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                path.display()
            ));
        }
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated is enabled; the incomplete command at offset {at} was removed",
            path.display()
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len(at as u64)?;
                f.sync_all()
            })
            .map_err(|e| format!("Error truncating the AOF file {}: {e}", path.display()))
    };
    loop {
        match parse_one(&bytes, p) {
            Ok(None) => {
                if let Some((at, _)) = multi {
                    return truncated(at);
                }
                return Ok(());
            }
            Err(true) => return truncated(multi.as_ref().map_or(p, |m| m.0)),
            Err(false) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {p}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    path.display()
                ))
            }
            Ok(Some((spans, next))) => {
                let name = &bytes[spans[0].0..spans[0].1];
                if name.eq_ignore_ascii_case(b"multi") {
                    multi = Some((p, Vec::new()));
                } else if name.eq_ignore_ascii_case(b"exec") {
                    if let Some((_, cmds)) = multi.take() {
                        for c in cmds {
                            run_replayed(server, &mut client, &mut out, &bytes, &c, path, p)?;
                        }
                    }
                } else if let Some((_, cmds)) = multi.as_mut() {
                    cmds.push(spans);
                } else {
                    run_replayed(server, &mut client, &mut out, &bytes, &spans, path, p)?;
                }
                p = next;
            }
        }
    }
}

fn run_replayed(
    server: &Server,
    client: &mut crate::dispatch::Client,
    out: &mut cinnabar_resp::ReplyBuf,
    bytes: &[u8],
    spans: &[(usize, usize)],
    path: &Path,
    at: usize,
) -> Result<(), String> {
    let args: Vec<&[u8]> = spans.iter().map(|&(a, b)| &bytes[a..b]).collect();
    let entry = server.registry.resolve(&args).map_err(|e| {
        format!(
            "Unknown command '{}' reading the append only file {} at offset {at}: {e}",
            String::from_utf8_lossy(args[0]),
            path.display()
        )
    })?;
    if args[0].eq_ignore_ascii_case(b"select") {
        if let Some(n) = cinnabar_engine::num::parse_i64(args.get(1).copied().unwrap_or(b"")) {
            if n >= 0 && (n as usize) < server.keyspace.databases() {
                client.db = n as usize;
                return Ok(());
            }
        }
        return Err(format!(
            "Bad SELECT in the append only file {} at offset {at}",
            path.display()
        ));
    }
    let mut locked = match entry.access {
        crate::dispatch::Access::All => server.keyspace.lock_all(),
        // Scripts are logged as their effects: none is in the file, but treat one like any
        // command naming keys.
        crate::dispatch::Access::Nothing => server.keyspace.lock_none(),
        crate::dispatch::Access::Keys | crate::dispatch::Access::Script => {
            crate::dispatch::lock_keys(server, entry.def, &args)
        }
    };
    out.clear();
    // The clock is stopped at 0 while replaying: no key counts as expired (see module docs).
    crate::dispatch::run_locked_at(
        server,
        &server.workers[0],
        client,
        out,
        &args,
        entry,
        &mut locked,
        0,
    );
    Ok(())
}

/// Writes a base RDB file of the whole keyspace (all shards locked) at start-up or when the
/// AOF is switched on with nothing to rewrite from.
fn write_base_locked(server: &Server, path: &Path, locked: &mut Locked<'_>) -> io::Result<u64> {
    let now = now_ms();
    let opts = super::save_opts(server);
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp)?;
    let mut w = Writer::new(f, opts)?;
    w.aux(b"redis-ver", b"7.2.4")?;
    w.aux_int(b"redis-bits", 64)?;
    w.aux_int(b"ctime", now / 1000)?;
    w.aux_int(b"aof-base", 1)?;
    super::rdbfile::write_functions(&mut w, server)?;
    for s in locked.shards() {
        for (db, d) in s.dbs.iter().enumerate() {
            if d.is_empty() {
                continue;
            }
            w.select_db(db, d.len(), d.volatile)?;
            for e in d.table.iter() {
                w.entry(e, now)?;
            }
        }
    }
    let len = w.len() + 8;
    let f = w.finish()?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(len)
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

/// BGREWRITEAOF: a new base from a point-in-time snapshot (without fork, like BGSAVE) and a
/// new incremental file that starts at exactly that point; then the manifest switches to
/// them and the old files are deleted. Commands keep running and logging meanwhile.
pub fn rewrite_background(server: &Arc<Server>) -> Result<(), &'static str> {
    let aof = &server.persist.aof;
    if !aof.on.load(Ordering::Relaxed) {
        // Redis creates the files even when the AOF is off; we need it on to have a layout.
        return Err("off");
    }
    if aof.rewrite_running.swap(true, Ordering::AcqRel) {
        return Err("running");
    }
    if server.persist.bgsave_running.load(Ordering::Relaxed) || server.keyspace.snapshot_running() {
        aof.rewrite_running.store(false, Ordering::Release);
        aof.rewrite_scheduled.store(true, Ordering::Relaxed);
        return Err("scheduled");
    }
    let opts: SaveOpts = super::save_opts(server);
    let now = now_ms();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let tx = Mutex::new(tx);
    let visitor: cinnabar_engine::keyspace::Visitor = Arc::new(move |_, shard: &Shard| {
        let mut buf = Vec::new();
        for (db, d) in shard.dbs.iter().enumerate() {
            if d.is_empty() {
                continue;
            }
            cinnabar_engine::rdb::put_select_db(&mut buf, db, d.len(), d.volatile);
            for e in d.table.iter() {
                cinnabar_engine::rdb::put_entry(&mut buf, e, &opts, now);
            }
        }
        let _ = tx.lock().send(buf);
    });
    let switched: std::cell::Cell<Option<io::Result<(PathBuf, String, u64)>>> = Default::default();
    let started = server.keyspace.begin_snapshot_with(visitor, || {
        // Every shard is locked: nothing can be logged while we switch files.
        let r = (|| {
            let _order = aof.wlock.lock();
            let (data, end) = {
                let mut b = aof.buf.lock();
                b.db = None;
                (std::mem::take(&mut b.data), b.seq)
            };
            let mut files = aof.files.lock();
            flush(aof, &mut files, &data, end, Sync::Force)?;
            files.open_new_incr()?;
            files.write_manifest()?;
            let seq = files.base.as_ref().map_or(1, |b| b.1 + 1);
            Ok((
                files.dir.clone(),
                format!("{}.{seq}.base.rdb", files.name),
                seq,
            ))
        })();
        switched.set(Some(r));
    });
    if !started {
        aof.rewrite_running.store(false, Ordering::Release);
        aof.rewrite_scheduled.store(true, Ordering::Relaxed);
        return Err("scheduled");
    }
    let (dir, base_name, base_seq) = match switched.take() {
        Some(Ok(x)) => x,
        _ => {
            server.keyspace.finish_snapshot();
            aof.rewrite_running.store(false, Ordering::Release);
            aof.last_rewrite_failed.store(true, Ordering::Relaxed);
            return Err("failed");
        }
    };
    aof.rewrite_started_ms.store(now, Ordering::Relaxed);
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("cinnabar-aofrw".into())
        .spawn(move || {
            let t0 = Instant::now();
            let aof = &srv.persist.aof;
            let ks = &srv.keyspace;
            let path = dir.join(&base_name);
            let tmp = dir.join(format!("temp-rewriteaof-{}.rdb", std::process::id()));
            // Whether this thread ended its snapshot (a later one must never be ended here).
            let mut finished = false;
            let result = (|| -> io::Result<u64> {
                let f = File::create(&tmp)?;
                let mut w = Writer::new(f, opts)?;
                w.aux(b"redis-ver", b"7.2.4")?;
                w.aux_int(b"redis-bits", 64)?;
                w.aux_int(b"ctime", now / 1000)?;
                w.aux_int(b"aof-base", 1)?;
                super::rdbfile::write_functions(&mut w, &srv)?;
                let mut err = None;
                for i in 0..ks.shard_count() {
                    drop(ks.lock_shard(i));
                    while let Ok(b) = rx.try_recv() {
                        if err.is_none() {
                            err = w.raw(&b).err();
                        }
                    }
                }
                ks.finish_snapshot();
                finished = true;
                while let Ok(b) = rx.try_recv() {
                    if err.is_none() {
                        err = w.raw(&b).err();
                    }
                }
                if let Some(e) = err {
                    return Err(e);
                }
                let len = w.len() + 8;
                let f = w.finish()?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                // Switch the manifest: new base + the incremental files since the switch.
                let mut files = aof.files.lock();
                let old_base = files.base.replace((base_name.clone(), base_seq));
                let keep = files.incrs.last().cloned();
                let old_incrs: Vec<(String, u64)> = files.incrs.drain(..).collect();
                files.incrs.extend(keep.clone());
                files.write_manifest()?;
                let dir = files.dir.clone();
                drop(files);
                if let Some((b, _)) = old_base {
                    let _ = std::fs::remove_file(dir.join(b));
                }
                for (i, _) in old_incrs {
                    if Some(&i) != keep.as_ref().map(|k| &k.0) {
                        let _ = std::fs::remove_file(dir.join(i));
                    }
                }
                Ok(len)
            })();
            if !finished {
                ks.finish_snapshot();
            }
            let _ = std::fs::remove_file(&tmp);
            aof.last_rewrite_secs
                .store(t0.elapsed().as_secs() as i64, Ordering::Relaxed);
            match result {
                Ok(len) => {
                    tracing::info!("Background AOF rewrite finished successfully");
                    aof.base_size.store(len, Ordering::Relaxed);
                    let incr = {
                        let files = aof.files.lock();
                        files
                            .incrs
                            .last()
                            .and_then(|i| std::fs::metadata(files.dir.join(&i.0)).ok())
                            .map_or(0, |m| m.len())
                    };
                    aof.current_size.store(len + incr, Ordering::Relaxed);
                    aof.rewrites.fetch_add(1, Ordering::Relaxed);
                    aof.last_rewrite_failed.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!("Background AOF rewrite failed: {e}");
                    aof.last_rewrite_failed.store(true, Ordering::Relaxed);
                }
            }
            aof.rewrite_running.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        server.keyspace.finish_snapshot();
        aof.rewrite_running.store(false, Ordering::Release);
        return Err("failed");
    }
    Ok(())
}

/// Cron: starts a scheduled rewrite, or an automatic one when the AOF grew by
/// `auto-aof-rewrite-percentage` over its base and is above `auto-aof-rewrite-min-size`.
pub fn cron(server: &Arc<Server>) {
    let aof = &server.persist.aof;
    if aof.disk_error_changed.swap(false, Ordering::Relaxed) {
        super::update_disk_error(server);
    }
    if !aof.on.load(Ordering::Relaxed) {
        return;
    }
    // Keys the active expiry cycle removed, in shards no command touched since.
    let ks = &server.keyspace;
    for i in 0..ks.shard_count() {
        let mut s = ks.lock_shard(i);
        if s.dbs.iter().any(|d| {
            d.aof_expired_log.as_ref().is_some_and(|l| !l.is_empty())
                || !d.expired_fields_log.is_empty()
        }) {
            drain_expired(server, &mut s);
        }
    }
    if aof.rewrite_running.load(Ordering::Relaxed) {
        return;
    }
    if server.persist.bgsave_running.load(Ordering::Relaxed) || server.keyspace.snapshot_running() {
        return;
    }
    if aof.rewrite_scheduled.swap(false, Ordering::Relaxed) {
        let _ = rewrite_background(server);
        return;
    }
    let perc = server.config.get_i64("auto-aof-rewrite-percentage");
    let min = server.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    let size = aof.current_size.load(Ordering::Relaxed);
    let base = aof.base_size.load(Ordering::Relaxed).max(1);
    if perc > 0 && size > min && (size - base.min(size)) * 100 / base >= perc as u64 {
        tracing::info!(
            "Starting automatic rewriting of AOF on {}% growth",
            (size - base.min(size)) * 100 / base
        );
        let _ = rewrite_background(server);
    }
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
