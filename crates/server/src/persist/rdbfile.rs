//! RDB files: SAVE (all shards locked), BGSAVE (fork-less snapshot on a thread), loading a
//! file into the keyspace (start-up, DEBUG RELOAD).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use cinnabar_engine::rdb::{self, Item, Loaded, RdbError, SaveOpts, Writer};
use cinnabar_engine::{hash_key, Db, Entry, Locked, NewValue, Shard};

use crate::scripting::functions;
use crate::server::{now_ms, Server};
use cinnabar_engine::access::Access;

/// Writes the function libraries, as Redis does after the aux fields.
pub(crate) fn write_functions<W: io::Write>(w: &mut Writer<W>, server: &Server) -> io::Result<()> {
    let codes = server.scripts.functions.read().codes();
    for code in &codes {
        w.function(code)?;
    }
    Ok(())
}

/// Writes the aux fields Redis 7.2 puts at the head of every file (rdbSaveInfoAuxFields):
/// for a file, with the replication history the dataset belongs to
/// (`replication::save_info`), so a restarted server continues it with a partial resync;
/// for an AOF base (`aof_base`), without it and with `aof-base` 1.
pub(crate) fn write_aux<W: io::Write>(
    w: &mut Writer<W>,
    now: i64,
    repl: Option<&crate::replication::SaveInfo>,
    aof_base: bool,
) -> io::Result<()> {
    w.aux(b"redis-ver", b"7.2.4")?;
    w.aux_int(b"redis-bits", 64)?;
    w.aux_int(b"ctime", now / 1000)?;
    // The memory in use, as Redis's zmalloc_used_memory(): a loader's estimate of the size
    // of a payload whose length it is not told (INFO loading_rdb_used_mem).
    w.aux_int(b"used-mem", crate::alloc::used() as i64)?;
    if let Some(r) = repl {
        w.aux_int(b"repl-stream-db", r.stream_db)?;
        w.aux(b"repl-id", r.replid.as_bytes())?;
        w.aux_int(b"repl-offset", r.offset as i64)?;
    }
    w.aux_int(b"aof-base", aof_base as i64)?;
    Ok(())
}

/// Creates `temp-<id>.rdb` next to the target, lets `fill` write it, then fsyncs it and
/// renames it over the target (and fsyncs the directory), so a crash never leaves a
/// half-written file under the real name.
pub(crate) fn write_atomically(
    target: &Path,
    tag: &str,
    fill: impl FnOnce(File) -> io::Result<File>,
) -> io::Result<()> {
    write_atomically_unless(target, tag, fill, None)
}

/// The temporary file a save of `tag` writes before its rename: SAVE's (tag "") is Redis's
/// `temp-<pid>.rdb`, which a second SIGINT deletes (see [`remove_save_temp_file`]).
fn temp_name(tag: &str) -> String {
    let pid = std::process::id();
    if tag.is_empty() {
        format!("temp-{pid}.rdb")
    } else {
        format!("temp-{tag}-{pid}.rdb")
    }
}

/// Deletes the file a SAVE (or a shutdown's save) is writing, as Redis's rdbRemoveTempFile
/// before an exit that does not wait for it ("You insist... exiting now.").
pub fn remove_save_temp_file(server: &Server) {
    let _ = std::fs::remove_file(super::dir(server).join(temp_name("")));
}

/// [`write_atomically`] whose rename does not happen once `cancel` is set: checked under
/// `lock`, which a writer that sets it holds while it writes its own file (FLUSHALL and a
/// BGSAVE it cancels), so the cancelled file can never land after the other.
fn write_atomically_unless(
    target: &Path,
    tag: &str,
    fill: impl FnOnce(File) -> io::Result<File>,
    cancel: Option<(&Mutex<()>, &AtomicBool)>,
) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(tag));
    let result = (|| {
        let f = File::create(&tmp)?;
        let f = fill(f)?;
        f.sync_all()?;
        drop(f);
        let _held = match cancel {
            Some((lock, flag)) => {
                let held = lock.lock();
                if flag.load(Ordering::Relaxed) {
                    return Err(cancelled());
                }
                Some(held)
            }
            None => None,
        };
        std::fs::rename(&tmp, target)?;
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The error of a BGSAVE that FLUSHALL cancelled (Redis kills the child with SIGUSR1).
fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cancelled by FLUSHALL")
}

/// FLUSHALL with every shard locked: stops a running BGSAVE (its file must not land over
/// the emptied dataset's) and, with save rules, saves the emptied dataset at once, as
/// Redis's flushAllDataAndResetRDB kills its RDB child and calls rdbSave. Returns whether
/// it saved.
pub fn flushall_reset(server: &Server, locked: &mut Locked<'_>) -> bool {
    let p = &server.persist;
    let _files = p.file_lock.lock();
    if p.bgsave_running.load(Ordering::Acquire) {
        p.bgsave_cancel.store(true, Ordering::Relaxed);
    }
    !super::save_rules(server).is_empty() && save_locked(server, locked).is_ok()
}

/// Marks a successful save: LASTSAVE, the change counter, rdb_saves.
fn saved(server: &Server, dirty_at_start: u64) {
    let p = &server.persist;
    server.lastsave.store(now_ms() / 1000, Ordering::Relaxed);
    p.dirty_at_last_save
        .store(dirty_at_start, Ordering::Relaxed);
    p.rdb_saves.fetch_add(1, Ordering::Relaxed);
}

/// SAVE: writes the whole keyspace (every shard locked by the caller) to `dir/dbfilename`.
pub fn save_locked(server: &Server, locked: &mut Locked<'_>) -> io::Result<()> {
    let dirty_at_start = super::dirty(server);
    let now = now_ms();
    let opts = super::save_opts(server);
    let ndb = server.keyspace.databases();
    let repl = crate::replication::save_info(server);
    let result = write_atomically(&super::rdb_path(server), "", |f| {
        let mut w = Writer::new(f, opts)?;
        write_aux(&mut w, now, repl.as_ref(), false)?;
        write_functions(&mut w, server)?;
        for db in 0..ndb {
            let (mut keys, mut expires) = (0, 0);
            for s in locked.shards() {
                keys += s.dbs[db].len();
                expires += s.dbs[db].volatile;
            }
            if keys == 0 {
                continue;
            }
            w.select_db(db, keys, expires)?;
            for s in locked.shards() {
                for e in s.dbs[db].table.iter() {
                    w.entry(e, now)?;
                    super::key_save_delay(server, 1);
                }
            }
        }
        w.finish()
    });
    match &result {
        Ok(()) => {
            tracing::info!("DB saved on disk");
            saved(server, dirty_at_start);
        }
        Err(e) => tracing::warn!("Failed saving the DB: {e}"),
    }
    result
}

/// SAVE for callers that hold no lock (SHUTDOWN, signals, DEBUG-style tooling).
pub fn save(server: &Server) -> io::Result<()> {
    let mut locked = server.keyspace.lock_all();
    save_locked(server, &mut locked)
}

/// Serialises one shard's databases as file sections (used by the snapshot visitor).
pub(crate) fn shard_sections(shard: &Shard, opts: &SaveOpts, now: i64) -> (Vec<u8>, u64) {
    let mut buf = Vec::new();
    let mut n = 0u64;
    for (db, d) in shard.dbs.iter().enumerate() {
        if d.is_empty() {
            continue;
        }
        rdb::put_select_db(&mut buf, db, d.len(), d.volatile);
        for e in d.table.iter() {
            if rdb::put_entry(&mut buf, e, opts, now) {
                n += 1;
            }
        }
    }
    (buf, n)
}

/// Why BGSAVE did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum BgsaveError {
    InProgress,
    /// Another snapshot (AOF rewrite) runs.
    Busy,
}

/// BGSAVE: starts a point-in-time snapshot and writes it on a background thread. Returns
/// once the snapshot is armed (every shard will be seen as it is now).
pub fn bgsave(server: &Arc<Server>) -> Result<(), BgsaveError> {
    let p = &server.persist;
    if p.bgsave_running.swap(true, Ordering::AcqRel) {
        return Err(BgsaveError::InProgress);
    }
    p.bgsave_cancel.store(false, Ordering::Relaxed);
    let opts = super::save_opts(server);
    let now = now_ms();
    let (tx, rx) = std::sync::mpsc::channel::<(Vec<u8>, u64)>();
    let tx = parking_lot::Mutex::new(tx);
    let visitor: cinnabar_engine::keyspace::Visitor = Arc::new(move |_, shard: &Shard| {
        let section = shard_sections(shard, &opts, now);
        let _ = tx.lock().send(section);
    });
    let dirty_at_start = super::dirty(server);
    let total: u64 = {
        // A keyspace-size estimate for INFO current_save_keys_total, one shard at a time.
        (0..server.keyspace.shard_count())
            .map(|i| {
                let s = server.keyspace.lock_shard(i);
                s.dbs.iter().map(|d| d.len() as u64).sum::<u64>()
            })
            .sum()
    };
    // The replication offset of exactly the snapshot's instant (the gate keeps a replica's
    // applied command and its offset together).
    let mut repl = None;
    let armed = {
        let _gate = server.repl.apply_gate.lock();
        server.keyspace.begin_snapshot_with(visitor, || {
            repl = crate::replication::save_info(server);
        })
    };
    if !armed {
        p.bgsave_running.store(false, Ordering::Release);
        return Err(BgsaveError::Busy);
    }
    p.bgsave_started_ms.store(now, Ordering::Relaxed);
    p.last_bgsave_try_ms.store(now, Ordering::Relaxed);
    p.save_keys_total.store(total, Ordering::Relaxed);
    p.save_keys_processed.store(0, Ordering::Relaxed);
    tracing::info!("Background saving started");
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("cinnabar-bgsave".into())
        .spawn(move || {
            let started = Instant::now();
            let ks = &srv.keyspace;
            let path = super::rdb_path(&srv);
            let p = &srv.persist;
            // Whether this thread ended its snapshot (a later one must never be ended here).
            let mut finished = false;
            let cancel = &p.bgsave_cancel;
            let fill = |f| {
                let mut w = Writer::new(f, opts)?;
                write_aux(&mut w, now, repl.as_ref(), false)?;
                write_functions(&mut w, &srv)?;
                let mut err = None;
                let mut write = |w: &mut Writer<File>, (bytes, n): (Vec<u8>, u64)| {
                    super::key_save_delay_unless(&srv, n, cancel);
                    p.save_keys_processed.fetch_add(n, Ordering::Relaxed);
                    if err.is_none() && cancel.load(Ordering::Relaxed) {
                        err = Some(cancelled());
                    }
                    if err.is_none() {
                        if let Err(e) = w.raw(&bytes) {
                            err = Some(e);
                        }
                    }
                };
                for i in 0..ks.shard_count() {
                    // Locking a shard not yet visited serialises it into the channel.
                    drop(ks.lock_shard(i));
                    while let Ok(section) = rx.try_recv() {
                        write(&mut w, section);
                    }
                }
                ks.finish_snapshot();
                finished = true;
                while let Ok(section) = rx.try_recv() {
                    write(&mut w, section);
                }
                if let Some(e) = err {
                    return Err(e);
                }
                w.finish()
            };
            let result =
                write_atomically_unless(&path, "bgsave", fill, Some((&p.file_lock, cancel)));
            // A failed write must still end the snapshot (idempotent if already ended).
            if !finished {
                ks.finish_snapshot();
            }
            p.last_bgsave_secs
                .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    tracing::info!("Background saving terminated with success");
                    saved(&srv, dirty_at_start);
                    p.last_bgsave_failed.store(false, Ordering::Relaxed);
                    super::update_disk_error(&srv);
                }
                // Not a failure (Redis's child killed with SIGUSR1 by FLUSHALL).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    tracing::warn!("Background saving terminated by signal 10");
                }
                Err(e) => {
                    tracing::warn!("Background saving error: {e}");
                    p.last_bgsave_failed.store(true, Ordering::Relaxed);
                    super::update_disk_error(&srv);
                }
            }
            p.bgsave_running.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        server.keyspace.finish_snapshot();
        p.bgsave_running.store(false, Ordering::Release);
        p.last_bgsave_failed.store(true, Ordering::Relaxed);
        return Err(BgsaveError::Busy);
    }
    Ok(())
}

/// The access bits of a loaded or restored key: its saved idle time under an LRU policy,
/// its saved LFU counter under an LFU policy, otherwise those of a new key (Redis's
/// objectSetLRUOrLFU).
pub fn loaded_clock(access: &Access, now: i64, idle_secs: Option<u64>, freq: Option<u8>) -> u32 {
    match (access.is_lfu(), idle_secs, freq) {
        (false, Some(idle), _) => access.with_idle(now, idle),
        (true, _, Some(f)) => access.with_freq(now, f),
        _ => access.fresh(now),
    }
}

/// Builds the entry of a loaded key with the access bits `clk` (see [`loaded_clock`]).
pub fn loaded_entry(key: &[u8], value: Loaded, expire: Option<i64>, clk: u32) -> Entry {
    match value {
        Loaded::Str(s) => Entry::new(key, cinnabar_engine::NewValue::string(&s), expire, clk),
        Loaded::Obj(o) => Entry::new(key, NewValue::Obj(Box::new(o)), expire, clk),
    }
}

/// Adds a loaded entry to a database, replacing a duplicate (which only a hand-made file
/// can contain).
fn put_loaded(db: &mut Db, entry: Entry) {
    let h = hash_key(entry.key());
    if let Some(old) = db.put(h, entry) {
        cinnabar_engine::lazyfree::dispose(old);
    }
}

/// Loads an RDB stream into the keyspace, one key (one shard lock) at a time. Returns the
/// number of keys loaded.
pub fn load_stream<R: Read>(server: &Server, input: R) -> Result<u64, RdbError> {
    load_stream_measured(server, input).map(|(keys, _)| keys)
}

/// [`load_stream`], also returning how many bytes the RDB took (an AOF file may hold an RDB
/// preamble followed by commands).
pub fn load_stream_measured<R: Read>(server: &Server, input: R) -> Result<(u64, u64), RdbError> {
    let lim = super::limits(server);
    let now = now_ms();
    let ks = &server.keyspace;
    let mut loaded = 0u64;
    let mut expired: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut libraries = Vec::new();
    let mut repl: (Option<String>, Option<u64>) = (None, None);
    let progress = &server.persist.loading_loaded_bytes;
    let mut reader = rdb::Reader::new(input);
    reader.load_tracked(&lim, ks.databases(), now, progress, |item| {
        match item {
            Item::Key {
                db,
                key,
                value,
                expire,
                idle,
                freq,
            } => {
                if server.is_shutting_down() {
                    return Err(RdbError::Io(super::load_abandoned()));
                }
                let clk = loaded_clock(&ks.access, now, idle, freq);
                let e = loaded_entry(&key, value, expire, clk);
                let mut l = ks.lock_one(ks.shard_of_key(&key));
                put_loaded(l.db(db, hash_key(&key)), e);
                drop(l);
                loaded += 1;
                server.persist.loading_keys.store(loaded, Ordering::Relaxed);
                super::key_load_delay(server);
            }
            Item::Expired { db, key } => expired.push((db, key)),
            Item::Function(code) => libraries.push(code),
            Item::Aux(k, v) => {
                tracing::debug!(
                    "RDB aux {}={}",
                    String::from_utf8_lossy(&k),
                    String::from_utf8_lossy(&v)
                );
                match k.as_slice() {
                    b"used-mem" => note_used_mem(server, &v),
                    b"repl-id" => repl.0 = Some(String::from_utf8_lossy(&v).into_owned()),
                    b"repl-offset" => {
                        repl.1 = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok())
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    if !libraries.is_empty() {
        functions::install_loaded(server, libraries, functions::RestorePolicy::Replace);
    }
    server
        .persist
        .last_load_keys_expired
        .store(expired.len() as u64, Ordering::Relaxed);
    if let (Some(id), Some(off)) = repl {
        crate::replication::restore_from_rdb(server, id, off, &expired);
    }
    Ok((loaded, reader.offset()))
}

/// The `used-mem` aux field: INFO's `loading_rdb_used_mem`, the estimate of a load's size
/// when its total is unknown (a replica's EOF-marked payload).
pub fn note_used_mem(server: &Server, value: &[u8]) {
    if let Some(n) = std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        tracing::info!(
            "RDB memory usage when created {:.2} Mb",
            n as f64 / (1024.0 * 1024.0)
        );
        server
            .persist
            .loading_rdb_used_mem
            .store(n, Ordering::Relaxed);
    }
}

/// Loads an RDB stream into shards the caller holds locked (DEBUG RELOAD).
pub fn load_locked<R: Read>(
    server: &Server,
    locked: &mut Locked<'_>,
    input: R,
) -> Result<u64, RdbError> {
    let lim = super::limits(server);
    let now = now_ms();
    let mut loaded = 0u64;
    let mut expired = 0u64;
    let mut libraries = Vec::new();
    rdb::Reader::new(input).load(&lim, server.keyspace.databases(), now, |item| {
        match item {
            Item::Key {
                db,
                key,
                value,
                expire,
                idle,
                freq,
            } => {
                let clk = loaded_clock(&server.keyspace.access, now, idle, freq);
                let e = loaded_entry(&key, value, expire, clk);
                put_loaded(locked.db(db, hash_key(&key)), e);
                loaded += 1;
                super::key_load_delay(server);
            }
            Item::Expired { .. } => expired += 1,
            Item::Function(code) => libraries.push(code),
            _ => {}
        }
        Ok(())
    })?;
    // A reload replaces the libraries too, as in Redis.
    functions::install_loaded(server, libraries, functions::RestorePolicy::Flush);
    server
        .persist
        .last_load_keys_expired
        .store(expired, Ordering::Relaxed);
    Ok(loaded)
}

/// Loads the RDB file at start-up if it exists. An unreadable or corrupt file is fatal, as
/// in Redis: the error names the offset, and the server stops without touching the file.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let path = super::rdb_path(server);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "Fatal error loading the DB {}: {e}. Exiting.",
                path.display()
            ))
        }
    };
    let p = &server.persist;
    super::loading_started(server, f.metadata().map(|m| m.len()).unwrap_or(0));
    let started = Instant::now();
    match load_stream(server, io::BufReader::with_capacity(1 << 16, f)) {
        Ok(n) => {
            p.last_load_keys_loaded.store(n, Ordering::Relaxed);
            tracing::info!(
                "DB loaded from disk: {:.3} seconds ({n} keys)",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "Fatal error loading the DB {}: {e}. Exiting.",
            path.display()
        )),
    }
}
