//! The append-only file, in Redis 7's multi-part layout: inside `dir/appenddirname`, a base
//! file (`<appendfilename>.<n>.base.rdb`, an RDB snapshot), incremental files
//! (`<appendfilename>.<n>.incr.aof`, commands in RESP) and a manifest
//! (`<appendfilename>.manifest`) that lists them, as Redis 7.0-7.2 writes them.
//!
//! Logging: the AOF is a consumer of the propagation stream (`crate::propagate`). Each
//! execution unit's commands, already deterministic (absolute deadlines, explicit members;
//! the handlers record them as their effects) are appended, while the unit's shard locks
//! are still held (so two commands on the same key are logged in the order they ran), to one
//! shared buffer, with a SELECT whenever the database changes, and wrapped in MULTI/EXEC
//! when the unit holds several. Keys that expire are logged as DEL; replay runs with the
//! clock stopped, so it removes exactly those keys, at the same point. A writer thread
//! writes the buffer out; with `appendfsync always` it fsyncs each batch and connections
//! hold their replies until the batch holding their writes is on disk: many clients'
//! writes share one fsync (group commit).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinnabar_engine::rdb::{SaveOpts, Writer};
use cinnabar_engine::{Locked, Shard};
use parking_lot::{Condvar, Mutex};

use crate::server::{now_ms, Server};

mod load;
mod manifest;
mod rewrite;
mod writer;

pub use load::{load_at_startup, scan, should_load};
use manifest::{read_manifest, Files};
pub use rewrite::{cron, rewrite_background};
use rewrite::{write_base_locked, BaseForm};
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
    /// The second of the last `#TS:` annotation (aof-timestamp-enabled).
    ts: i64,
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
    /// Redis's `AOF_WAIT_REWRITE`: the AOF was switched on and its first base is not written
    /// yet (see [`enable_in_background`]; also set when a synchronous switch-on met another
    /// background save). Until the rewrite has finished, WAITAOF counts no local fsync, a
    /// replica's FACK does not move and a shutdown refuses to exit, as in Redis.
    pub wait_rewrite: AtomicBool,
    /// DEBUG AOF-FLUSH-SLEEP: µs slept before each write of logged commands.
    pub flush_sleep_us: AtomicU64,
    /// Rewrites that failed in a row (INFO `aof_rewrites_consecutive_failures`).
    pub rewrite_failures: AtomicU64,
    /// A failed initial rewrite is tried again no sooner than this (ms since the epoch).
    pub retry_at_ms: AtomicI64,
    pub rewrite_started_ms: AtomicI64,
    pub last_rewrite_secs: AtomicI64,
    pub last_rewrite_failed: AtomicBool,
    pub rewrites: AtomicU64,
    pub last_write_failed: AtomicBool,
    /// The writer thread's `everysec` fsync is under way (latency event
    /// `aof-write-pending-fsync`).
    fsync_in_progress: AtomicBool,
    pub current_size: AtomicU64,
    pub base_size: AtomicU64,
}

impl Aof {
    /// `appendonly yes` in effect: logging, or waiting for the first rewrite to start it
    /// (Redis's `aof_state != AOF_OFF`).
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed) || self.wait_rewrite.load(Ordering::Relaxed)
    }
}

/// A file in the manifest: name and sequence number.
pub(super) type Named = (String, u64);
/// Argument spans of one command in a file's bytes.
pub(super) type Spans = Vec<(usize, usize)>;

/// Appends one execution unit's commands (see `crate::propagate::feed`); returns the
/// sequence number a client must see written (or fsynced, under `appendfsync always`)
/// before its reply goes out.
pub fn append_unit(server: &Server, unit: &crate::propagate::Unit) -> u64 {
    let aof = &server.persist.aof;
    let seq = {
        let mut guard = aof.buf.lock();
        let b = &mut *guard;
        if server
            .config
            .live
            .aof_timestamp_enabled
            .load(Ordering::Relaxed)
        {
            // Redis's genAofTimestampAnnotationIfNeeded: one when the second changed.
            let now = now_ms() / 1000;
            if now > b.ts {
                b.ts = now;
                let ts = format!("#TS:{now}\r\n");
                b.data.extend_from_slice(ts.as_bytes());
                b.seq += ts.len() as u64;
            }
        }
        b.seq += unit.write_to(&mut b.data, &mut b.db, crate::propagate::TO_AOF) as u64;
        b.seq
    };
    // Under `everysec` the connection that logged this writes it itself, once for everything
    // its worker's connections logged in the same pass (`writer::wait_synced`): waking the
    // writer thread per command cost a futex wake-up per command and split the batch into
    // many writes. The writer then only fsyncs, and picks up what no client waits for (active
    // expiry, eviction) on its own tick.
    if aof.fsync.load(Ordering::Relaxed) != FSYNC_EVERYSEC {
        aof.cv.notify_one();
    }
    seq
}

/// Bytes held by the AOF buffer (INFO mem_aof_buffer). Like Redis, eviction does not count
/// them: evicting makes DELs, which would grow the buffer and feed back into more eviction.
pub fn buffer_bytes(server: &Server) -> u64 {
    if !server.persist.aof.on.load(Ordering::Relaxed) {
        return 0;
    }
    server.persist.aof.buf.lock().data.capacity() as u64
}

pub(super) fn aof_dir(server: &Server) -> PathBuf {
    super::dir(server).join(server.config.get("appenddirname"))
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
    if server.persist.bgsave_running.load(Ordering::Relaxed) || server.keyspace.snapshot_running() {
        aof.wait_rewrite.store(true, Ordering::Release);
        aof.rewrite_scheduled.store(true, Ordering::Relaxed);
        tracing::info!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
    }
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
            } else if files.base.is_some() {
                // A base alone (an upgraded single-file AOF): logging goes to a first
                // incremental file.
                files.open_new_incr()?;
                files.write_manifest()?;
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
            let form = BaseForm::configured(server);
            let base_name = form.file_name(&name, seq);
            let mut locked = match all.take() {
                Some(l) => l,
                None => server.keyspace.lock_all(),
            };
            let len = write_base_locked(server, form, &dir.join(&base_name), &mut locked)?;
            files.base = Some((base_name, seq));
            files.incrs.clear();
            files.open_incr(incr_seq)?;
            files.write_manifest()?;
            for (old, _) in old_base.into_iter().chain(old_incrs) {
                let _ = std::fs::remove_file(dir.join(old));
            }
            aof.base_size.store(len, Ordering::Relaxed);
            aof.current_size.store(len, Ordering::Relaxed);
            aof.buf.lock().db = None;
            aof.on.store(true, Ordering::SeqCst);
            crate::dispatch::sink::refresh_expiry_log(server);
            drop(locked);
        }
    }
    if !aof.on.load(Ordering::Relaxed) {
        aof.buf.lock().db = None;
        aof.on.store(true, Ordering::SeqCst);
        crate::dispatch::sink::refresh_expiry_log(server);
    }
    if !aof.writer_started.swap(true, Ordering::AcqRel) {
        let srv = server.clone();
        std::thread::Builder::new()
            .name("cinnabar-aof".into())
            .spawn(move || writer_loop(srv))?;
    }
    Ok(())
}

/// CONFIG SET appendonly yes, as Redis's startAppendOnly: no client waits while the dataset
/// is written. The AOF waits for a background rewrite (`wait_rewrite`, INFO `aof_enabled:1`):
/// nothing is logged until its snapshot is armed, when logging starts into a new incremental
/// file (everything before is in the snapshot); once the base is written the manifest names
/// both, and the files of an earlier run are deleted. Until then the manifest on disk is
/// left as it was, so a crash never finds an incremental file without its base.
pub fn enable_in_background(server: &Arc<Server>) -> io::Result<()> {
    let aof = &server.persist.aof;
    if aof.on.load(Ordering::SeqCst) || aof.wait_rewrite.load(Ordering::SeqCst) {
        return Ok(());
    }
    let dir = aof_dir(server);
    std::fs::create_dir_all(&dir)?;
    let name = server.config.get("appendfilename");
    aof.fsync.store(fsync_mode(server), Ordering::Relaxed);
    {
        // Files an earlier run left are listed, so the rewrite's switch deletes them and
        // numbers the new ones after them.
        let manifest = dir.join(format!("{name}.manifest"));
        let (base, incrs) = if manifest.exists() {
            read_manifest(&manifest).unwrap_or_default()
        } else {
            Default::default()
        };
        *aof.files.lock() = Files {
            dir,
            name,
            base,
            incrs,
            ..Files::default()
        };
    }
    aof.rewrite_failures.store(0, Ordering::Relaxed);
    aof.retry_at_ms.store(0, Ordering::Relaxed);
    aof.wait_rewrite.store(true, Ordering::SeqCst);
    if !aof.writer_started.swap(true, Ordering::AcqRel) {
        let srv = server.clone();
        std::thread::Builder::new()
            .name("cinnabar-aof".into())
            .spawn(move || writer_loop(srv))?;
    }
    if rewrite_background(server) == Err("scheduled") {
        tracing::info!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
    }
    Ok(())
}

/// Turns logging off (CONFIG SET appendonly no): flushes, fsyncs and closes the file.
pub fn disable(server: &Server) {
    let aof = &server.persist.aof;
    if !aof.on.swap(false, Ordering::SeqCst) {
        // Still waiting for the first rewrite: it is not started any more (one running
        // finds the AOF off when it ends and leaves the manifest alone).
        aof.rewrite_scheduled.store(false, Ordering::Relaxed);
        aof.wait_rewrite.store(false, Ordering::Release);
        return;
    }
    aof.rewrite_scheduled.store(false, Ordering::Relaxed);
    aof.wait_rewrite.store(false, Ordering::Release);
    let _ = flush_all(server);
    crate::dispatch::sink::refresh_expiry_log(server);
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
                enable_in_background(&srv).map_err(|e| e.to_string())?;
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
    let on = aof.enabled();
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
    f(
        "aof_rewrites_consecutive_failures",
        aof.rewrite_failures.load(Ordering::Relaxed).to_string(),
    );
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

/// BGREWRITEAOF while `appendonly no`: as Redis 7, the AOF directory gets a base of the
/// current dataset and a manifest naming only it (no incremental file, nothing logged);
/// DEBUG LOADAOF or a later start with `appendonly yes` loads it. Written at once with
/// every shard locked (the dataset a test suite rewrites this way is small).
pub fn rewrite_while_off(server: &Server) -> io::Result<()> {
    let dir = aof_dir(server);
    std::fs::create_dir_all(&dir)?;
    let name = server.config.get("appendfilename");
    let mut files = Files {
        dir: dir.clone(),
        name,
        ..Files::default()
    };
    let manifest = files.manifest_path();
    let (old_base, old_incrs) = if manifest.exists() {
        read_manifest(&manifest).unwrap_or_default()
    } else {
        Default::default()
    };
    let seq = old_base.as_ref().map_or(1, |b| b.1 + 1);
    let form = BaseForm::configured(server);
    let base_name = form.file_name(&files.name, seq);
    {
        let mut locked = server.keyspace.lock_all();
        write_base_locked(server, form, &dir.join(&base_name), &mut locked)?;
    }
    files.base = Some((base_name, seq));
    files.write_manifest()?;
    for (old, _) in old_base.into_iter().chain(old_incrs) {
        let _ = std::fs::remove_file(dir.join(old));
    }
    tracing::info!("Background AOF rewrite finished successfully");
    Ok(())
}

/// DEBUG LOADAOF: what was logged reaches the files (fsynced), the dataset is emptied and
/// loaded back from the AOF files as at start-up, then logging resumes on the same files.
/// Other clients get -LOADING meanwhile.
pub fn debug_loadaof(server: &Arc<Server>) -> Result<(), String> {
    let was_on = server.persist.aof.on.load(Ordering::Relaxed);
    if was_on {
        disable(server);
    }
    let manifest =
        aof_dir(server).join(format!("{}.manifest", server.config.get("appendfilename")));
    let result = if manifest.exists() {
        {
            let mut locked = server.keyspace.lock_all();
            for s in locked.shards() {
                for d in s.dbs.iter_mut() {
                    d.clear();
                }
            }
        }
        let p = &server.persist;
        p.loading.store(true, Ordering::SeqCst);
        let r = load_at_startup(server);
        p.loading.store(false, Ordering::SeqCst);
        r
    } else {
        Err("no AOF manifest".into())
    };
    if was_on {
        server.persist.loaded_aof.store(true, Ordering::Relaxed);
        enable(server).map_err(|e| e.to_string())?;
    }
    result
}
