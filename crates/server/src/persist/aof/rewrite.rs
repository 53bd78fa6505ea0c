//! BGREWRITEAOF: a snapshot of the keyspace (see `persist`'s snapshot without fork) becomes
//! the new base file while commands go to a new incremental file; the manifest switches to
//! both atomically. Also the automatic rewrite the cron starts (`auto-aof-rewrite-*`).

use super::writer::flush;
use super::*;

/// The form of a base file: RDB (`aof-use-rdb-preamble yes`, Redis's default), or the
/// commands that recreate the dataset (see `cinnabar_engine::rewrite`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BaseForm {
    Rdb,
    Commands,
}

impl BaseForm {
    pub(super) fn configured(server: &Server) -> BaseForm {
        if server.config.get_bool("aof-use-rdb-preamble") {
            BaseForm::Rdb
        } else {
            BaseForm::Commands
        }
    }

    /// The base file's name for sequence number `seq`, as Redis names it.
    pub(super) fn file_name(self, name: &str, seq: u64) -> String {
        match self {
            BaseForm::Rdb => format!("{name}.{seq}.base.rdb"),
            BaseForm::Commands => format!("{name}.{seq}.base.aof"),
        }
    }

    /// One shard's section of a base: the keys of each of its databases.
    fn section(self, shard: &Shard, opts: &SaveOpts, now: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        for (db, d) in shard.dbs.iter().enumerate() {
            if d.is_empty() {
                continue;
            }
            match self {
                BaseForm::Rdb => {
                    cinnabar_engine::rdb::put_select_db(&mut buf, db, d.len(), d.volatile);
                    for e in d.table.iter() {
                        cinnabar_engine::rdb::put_entry(&mut buf, e, opts, now);
                    }
                }
                BaseForm::Commands => {
                    cinnabar_engine::rewrite::put_select(&mut buf, db);
                    for e in d.table.iter() {
                        cinnabar_engine::rewrite::put_key(
                            &mut buf,
                            e.key(),
                            e.value(),
                            e.expire(),
                            now,
                        );
                    }
                }
            }
        }
        buf
    }
}

/// A base file being written: its head (aux fields or a `#TS` annotation, the function
/// libraries), then the shards' sections, then its end (the RDB checksum).
enum BaseWriter {
    Rdb(Writer<File>),
    Commands(io::BufWriter<File>, u64),
}

impl BaseWriter {
    fn create(
        server: &Server,
        form: BaseForm,
        path: &Path,
        opts: SaveOpts,
        now: i64,
    ) -> io::Result<BaseWriter> {
        let f = File::create(path)?;
        match form {
            BaseForm::Rdb => {
                let mut w = Writer::new(f, opts)?;
                crate::persist::rdbfile::write_aux(&mut w, now, None, true)?;
                crate::persist::rdbfile::write_functions(&mut w, server)?;
                Ok(BaseWriter::Rdb(w))
            }
            BaseForm::Commands => {
                let mut head = Vec::new();
                // Redis's rewriteAppendOnlyFileRio starts with the annotation when enabled.
                if server
                    .config
                    .live
                    .aof_timestamp_enabled
                    .load(Ordering::Relaxed)
                {
                    head.extend_from_slice(format!("#TS:{}\r\n", now / 1000).as_bytes());
                }
                for code in server.scripts.functions.read().codes() {
                    cinnabar_engine::rewrite::put_function_load(&mut head, &code);
                }
                let mut w = BaseWriter::Commands(io::BufWriter::new(f), 0);
                w.raw(&head)?;
                Ok(w)
            }
        }
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            BaseWriter::Rdb(w) => w.raw(b),
            BaseWriter::Commands(w, len) => {
                *len += b.len() as u64;
                w.write_all(b)
            }
        }
    }

    /// Ends the file and syncs it to disk; returns its length.
    fn finish(self) -> io::Result<u64> {
        let (len, f) = match self {
            BaseWriter::Rdb(w) => (w.len() + 8, w.finish()?),
            BaseWriter::Commands(w, len) => (len, w.into_inner().map_err(|e| e.into_error())?),
        };
        f.sync_all()?;
        Ok(len)
    }
}

/// Writes a base file of the whole keyspace (all shards locked) at start-up or when the AOF
/// is switched on with nothing to rewrite from.
pub(super) fn write_base_locked(
    server: &Server,
    form: BaseForm,
    path: &Path,
    locked: &mut Locked<'_>,
) -> io::Result<u64> {
    let now = now_ms();
    let opts = crate::persist::save_opts(server);
    let tmp = path.with_extension("tmp");
    let mut w = BaseWriter::create(server, form, &tmp, opts, now)?;
    for s in locked.shards() {
        w.raw(&form.section(s, &opts, now))?;
    }
    let len = w.finish()?;
    std::fs::rename(&tmp, path)?;
    Ok(len)
}

/// BGREWRITEAOF: a new base from a point-in-time snapshot (without fork, like BGSAVE) and a
/// new incremental file that starts at exactly that point; then the manifest switches to
/// them and the old files are deleted. Commands keep running and logging meanwhile.
pub fn rewrite_background(server: &Arc<Server>) -> Result<(), &'static str> {
    let aof = &server.persist.aof;
    // The AOF's first rewrite (see `enable_in_background`): nothing is logged yet.
    let initial = !aof.on.load(Ordering::SeqCst);
    if initial && !aof.wait_rewrite.load(Ordering::SeqCst) {
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
    let opts: SaveOpts = crate::persist::save_opts(server);
    let form = BaseForm::configured(server);
    let now = now_ms();
    // One shard's section and its number of keys (for `rdb-key-save-delay`).
    let (tx, rx) = std::sync::mpsc::channel::<(Vec<u8>, u64)>();
    let tx = Mutex::new(tx);
    let visitor: cinnabar_engine::keyspace::Visitor = Arc::new(move |_, shard: &Shard| {
        let keys = shard.dbs.iter().map(|d| d.len() as u64).sum();
        let _ = tx.lock().send((form.section(shard, &opts, now), keys));
    });
    let switched: std::cell::Cell<Option<io::Result<(PathBuf, String, u64)>>> = Default::default();
    let started = server.keyspace.begin_snapshot_with(visitor, || {
        // Every shard is locked: nothing can be logged while we switch files.
        let r = (|| {
            let _order = aof.wlock.lock();
            if initial {
                // Logging starts here, into a new incremental file: what came before is in
                // the snapshot. The manifest is switched once the base is written.
                {
                    let mut b = aof.buf.lock();
                    b.db = None;
                    b.data.clear();
                }
                let mut files = aof.files.lock();
                files.open_new_incr()?;
                aof.on.store(true, Ordering::SeqCst);
                crate::dispatch::sink::refresh_expiry_log(server);
                let seq = files.base.as_ref().map_or(1, |b| b.1 + 1);
                return Ok((files.dir.clone(), form.file_name(&files.name, seq), seq));
            }
            let (data, end) = {
                let mut b = aof.buf.lock();
                b.db = None;
                (std::mem::take(&mut b.data), b.seq)
            };
            let mut files = aof.files.lock();
            flush(server, &mut files, &data, end, Sync::Force)?;
            files.open_new_incr()?;
            files.write_manifest()?;
            let seq = files.base.as_ref().map_or(1, |b| b.1 + 1);
            Ok((files.dir.clone(), form.file_name(&files.name, seq), seq))
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
                let mut w = BaseWriter::create(&srv, form, &tmp, opts, now)?;
                let mut err = None;
                for i in 0..ks.shard_count() {
                    drop(ks.lock_shard(i));
                    while let Ok((b, keys)) = rx.try_recv() {
                        crate::persist::key_save_delay(&srv, keys);
                        if err.is_none() {
                            err = w.raw(&b).err();
                        }
                    }
                }
                ks.finish_snapshot();
                finished = true;
                while let Ok((b, keys)) = rx.try_recv() {
                    crate::persist::key_save_delay(&srv, keys);
                    if err.is_none() {
                        err = w.raw(&b).err();
                    }
                }
                if let Some(e) = err {
                    return Err(e);
                }
                let len = w.finish()?;
                let renaming = crate::ops::latency::Timer::start(&srv);
                std::fs::rename(&tmp, &path)?;
                renaming.end(&srv, "aof-rename");
                // Switch the manifest: new base + the incremental files since the switch.
                let mut files = aof.files.lock();
                if initial && !aof.on.load(Ordering::SeqCst) {
                    // Switched off meanwhile: the files stay as they were.
                    let dir = files.dir.clone();
                    if let Some((incr, _)) = files.incrs.pop() {
                        let _ = std::fs::remove_file(dir.join(incr));
                    }
                    let _ = std::fs::remove_file(&path);
                    return Err(io::Error::other("the AOF was switched off"));
                }
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
                    aof.rewrite_failures.store(0, Ordering::Relaxed);
                    aof.wait_rewrite.store(false, Ordering::Release);
                    crate::replication::primary::check_waiters(&srv);
                }
                Err(e) => {
                    tracing::warn!("Background AOF rewrite failed: {e}");
                    aof.last_rewrite_failed.store(true, Ordering::Relaxed);
                    let failures = aof.rewrite_failures.fetch_add(1, Ordering::Relaxed) + 1;
                    if initial && aof.on.load(Ordering::SeqCst) {
                        abandon_initial(&srv, failures);
                    }
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

/// A first rewrite that failed, as Redis's: logging stops again and its incremental file is
/// deleted (the next try's snapshot holds everything); the next try comes after a pause that
/// doubles with each failure, from one second up to a minute.
fn abandon_initial(server: &Server, failures: u64) {
    let aof = &server.persist.aof;
    let _order = aof.wlock.lock();
    aof.on.store(false, Ordering::SeqCst);
    crate::dispatch::sink::refresh_expiry_log(server);
    aof.buf.lock().data.clear();
    let mut files = aof.files.lock();
    files.current = None;
    let dir = files.dir.clone();
    if let Some((incr, _)) = files.incrs.pop() {
        let _ = std::fs::remove_file(dir.join(incr));
    }
    drop(files);
    let pause = 1000i64 << failures.saturating_sub(1).min(6);
    aof.retry_at_ms
        .store(now_ms() + pause.min(60_000), Ordering::Relaxed);
    aof.rewrite_scheduled.store(true, Ordering::Relaxed);
}

/// Cron: starts a scheduled rewrite, or an automatic one when the AOF grew by
/// `auto-aof-rewrite-percentage` over its base and is above `auto-aof-rewrite-min-size`.
pub fn cron(server: &Arc<Server>) {
    let aof = &server.persist.aof;
    if aof.disk_error_changed.swap(false, Ordering::Relaxed) {
        crate::persist::update_disk_error(server);
    }
    if !aof.on.load(Ordering::Relaxed) && !aof.wait_rewrite.load(Ordering::Relaxed) {
        return;
    }
    if aof.rewrite_running.load(Ordering::Relaxed) {
        return;
    }
    if aof.retry_at_ms.load(Ordering::Relaxed) > now_ms() {
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
