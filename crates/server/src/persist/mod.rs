//! Persistence: RDB snapshots (SAVE, BGSAVE, save rules, loading at start-up) and their
//! INFO fields. The file format itself is `cinnabar_engine::rdb`; this module does the
//! files, the keyspace walks and the scheduling.
//!
//! - SAVE holds every shard lock for the whole write, like Redis's SAVE blocks its server.
//! - BGSAVE takes a point-in-time snapshot without fork (see `Keyspace::begin_snapshot`
//!   and docs/ARCHITECTURE.md): a thread walks the shards one by one, and a command that
//!   locks a shard the walk has not reached yet first serialises that shard, so the file
//!   shows the dataset exactly as it was when BGSAVE started, and memory grows only by the
//!   serialised shards waiting to be written.
//! - Start-up loading runs on its own thread; meanwhile commands not flagged `loading` get
//!   `-LOADING`, as in Redis.

pub mod aof;
pub mod rdbfile;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use cinnabar_engine::rdb::{Limits, SaveOpts};
use cinnabar_engine::types::{hash, list, set, zset};
use parking_lot::Mutex;

use crate::server::{now_ms, Server};

/// Persistence state shared by every thread.
#[derive(Default)]
pub struct State {
    /// The server itself, to start background threads from command handlers.
    me: OnceLock<Weak<Server>>,
    /// True while the dataset is loaded at start-up (commands get -LOADING).
    pub loading: AtomicBool,
    /// True while a replica loads its primary's RDB aside (`repl-diskless-load swapdb` with
    /// the same replication id) and keeps serving the old dataset: INFO `async_loading`;
    /// only commands flagged `no-async-loading` get -LOADING.
    pub async_loading: AtomicBool,
    /// When the current load started (ms).
    pub loading_start: AtomicI64,
    /// Bytes of the input the parser has consumed (the RDB reader's offset, the AOF's
    /// position).
    pub loading_loaded_bytes: AtomicU64,
    /// The input's size: the file(s), or a replica's `$<len>` payload (0: an EOF-marked one).
    pub loading_total_bytes: AtomicU64,
    /// The RDB's `used-mem` aux field: Redis's estimate of the size when the total is unknown.
    pub loading_rdb_used_mem: AtomicU64,
    pub loading_keys: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// `rdb_changes_since_last_save` = dirty() - this.
    pub dirty_at_last_save: AtomicU64,
    /// Changes made by the server itself outside commands (none counted yet besides loads).
    pub extra_dirty: AtomicU64,
    pub bgsave_running: AtomicBool,
    /// Set by FLUSHALL to stop the running BGSAVE (see `rdbfile::flushall_reset`).
    pub bgsave_cancel: AtomicBool,
    /// Held by FLUSHALL while it cancels a BGSAVE and writes its own file, and by a BGSAVE
    /// while it checks it was not cancelled and renames its file into place.
    pub file_lock: Mutex<()>,
    /// The last BGSAVE or an AOF write failed: writes may be refused (-MISCONF).
    pub disk_error: AtomicBool,
    pub bgsave_scheduled: AtomicBool,
    pub bgsave_started_ms: AtomicI64,
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_failed: AtomicBool,
    pub last_bgsave_secs: AtomicI64,
    pub last_bgsave_try_ms: AtomicI64,
    pub rdb_saves: AtomicU64,
    pub save_keys_processed: AtomicU64,
    pub save_keys_total: AtomicU64,
    /// SHUTDOWN already did the final save (or was told NOSAVE): the binary must not.
    pub shutdown_handled: AtomicBool,
    /// The append-only file (crate::persist::aof).
    pub aof: aof::Aof,
    /// Start-up loaded the AOF (so logging appends to its last incremental file).
    pub loaded_aof: AtomicBool,
    /// A fatal start-up error (corrupt file): the binary exits with status 1.
    pub fatal: Mutex<Option<String>>,
}

impl State {
    /// Records the server's own `Arc` (called once by `net::start`).
    pub fn set_server(&self, server: &Arc<Server>) {
        let _ = self.me.set(Arc::downgrade(server));
    }

    pub fn server(&self) -> Option<Arc<Server>> {
        self.me.get().and_then(|w| w.upgrade())
    }

    #[inline]
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }
}

/// Writes since start-up, summed over the workers' own counters.
/// Redis's debugDelay, behind `rdb-key-save-delay` and `key-load-delay` (test knobs that
/// make a save, a full sync or a load slow enough to watch): `usec` > 0 sleeps that many
/// microseconds; `usec` < 0 sleeps 1 µs once in -usec calls on average.
pub fn debug_delay(usec: i64) {
    let usec = if usec < 0 {
        u64::from(rand::random::<u64>().is_multiple_of(usec.unsigned_abs()))
    } else {
        usec as u64
    };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}

/// `rdb-key-save-delay` for `keys` keys saved (one shard's section of an RDB being written,
/// for BGSAVE, SAVE, a full sync or an AOF rewrite). The writer sleeps, not whoever
/// serialised the shard, as in Redis only the forked child does. Read again at each key, so
/// that setting it back to 0 lets a slowed save finish; a shutdown stops the wait.
pub fn key_save_delay(server: &Server, keys: u64) {
    key_save_delay_unless(server, keys, &std::sync::atomic::AtomicBool::new(false));
}

/// [`key_save_delay`] that also ends when `cancel` is set (a full sync whose replica left).
pub fn key_save_delay_unless(server: &Server, keys: u64, cancel: &std::sync::atomic::AtomicBool) {
    let live = &server.config.live.rdb_key_save_delay;
    let stop = || server.is_shutting_down() || cancel.load(Ordering::Relaxed);
    for _ in 0..keys {
        let d = live.load(Ordering::Relaxed);
        if d == 0 || stop() {
            return;
        }
        if d < 0 {
            debug_delay(d);
            continue;
        }
        // A long delay sleeps in slices, so that setting it to 0 (or a shutdown) ends the
        // wait within a few milliseconds: Redis's tests kill the slowed child instead.
        let mut left = std::time::Duration::from_micros(d as u64);
        while !left.is_zero() {
            let step = left.min(std::time::Duration::from_millis(10));
            std::thread::sleep(step);
            left -= step;
            if live.load(Ordering::Relaxed) == 0 || stop() {
                return;
            }
        }
    }
}

/// `key-load-delay` after one loaded key.
#[inline]
pub fn key_load_delay(server: &Server) {
    let live = &server.config.live.key_load_delay;
    let d = live.load(Ordering::Relaxed);
    if d > 0 {
        // In 10 ms slices: a shutdown (SIGTERM during a slowed load) or a reset to 0 ends
        // the wait, as Redis serves events and signals while it loads.
        let mut left = std::time::Duration::from_micros(d as u64);
        while !left.is_zero() && live.load(Ordering::Relaxed) != 0 && !server.is_shutting_down() {
            let step = left.min(std::time::Duration::from_millis(10));
            std::thread::sleep(step);
            left -= step;
        }
    } else if d < 0 {
        debug_delay(d);
    }
}

/// The figures INFO shows for a load starting now, of `total` bytes (0: unknown), as
/// Redis's startLoading sets them.
pub fn loading_started(server: &Server, total: u64) {
    let p = &server.persist;
    p.loading_start.store(now_ms(), Ordering::Relaxed);
    p.loading_loaded_bytes.store(0, Ordering::Relaxed);
    p.loading_total_bytes.store(total, Ordering::Relaxed);
    p.loading_rdb_used_mem.store(0, Ordering::Relaxed);
    p.last_load_keys_expired.store(0, Ordering::Relaxed);
    p.last_load_keys_loaded.store(0, Ordering::Relaxed);
}

/// INFO's `loading_loaded_perc` and `loading_eta_seconds`, as Redis computes them: from the
/// bytes consumed against the total (or, with no total, the RDB's `used-mem`, a poor
/// estimate kept under 100%), and the whole seconds elapsed since the start (1 while none
/// has: not enough to go by).
pub fn loading_progress(
    start_secs: i64,
    now_secs: i64,
    loaded: u64,
    total: u64,
    used_mem: u64,
) -> (f64, i64) {
    let (mut perc, mut remaining) = (0.0, 1i64);
    if total > 0 {
        perc = loaded as f64 / total as f64 * 100.0;
        remaining = total as i64 - loaded as i64;
    } else if used_mem > 0 {
        perc = (loaded as f64 / used_mem as f64 * 100.0).min(99.99);
        remaining = (used_mem as i64 - loaded as i64).max(1);
    }
    let elapsed = now_secs - start_secs;
    let eta = if elapsed == 0 {
        1
    } else {
        // In 128 bits: Redis's 64-bit product cannot overflow for real sizes, ours neither.
        (elapsed as i128 * remaining as i128 / (loaded as i128 + 1)) as i64
    };
    (perc, eta)
}

/// The error a loader stops with when the server shuts down while it loads (a signal or
/// SHUTDOWN during loading): Redis exits from its loading loop without finishing the load.
pub fn load_abandoned() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "the server is shutting down: loading abandoned",
    )
}

pub fn dirty(server: &Server) -> u64 {
    server
        .workers
        .iter()
        .map(|w| w.dirty.load(Ordering::Relaxed))
        .sum::<u64>()
        + server.persist.extra_dirty.load(Ordering::Relaxed)
}

/// Changes since the last successful save.
pub fn changes_since_save(server: &Server) -> u64 {
    dirty(server).saturating_sub(server.persist.dirty_at_last_save.load(Ordering::Relaxed))
}

/// The encoding thresholds of the configuration, for building loaded values.
pub fn limits(server: &Server) -> Limits {
    let c = &server.config;
    let fill = c.get_i64("list-max-listpack-size");
    Limits {
        list: list::Limit::from_fill(fill),
        list_fill: fill,
        set: set::Limits {
            intset_entries: c.get_i64("set-max-intset-entries").max(0) as usize,
            listpack_entries: c.get_i64("set-max-listpack-entries").max(0) as usize,
            listpack_value: c.get_i64("set-max-listpack-value").max(0) as usize,
        },
        hash: hash::Limits {
            max_entries: c.get_i64("hash-max-listpack-entries").max(0) as usize,
            max_value: c.get_i64("hash-max-listpack-value").max(0) as usize,
        },
        zset: zset::Limits {
            max_entries: c.get_i64("zset-max-listpack-entries").max(0) as usize,
            max_value: c.get_i64("zset-max-listpack-value").max(0) as usize,
        },
    }
}

pub fn save_opts(server: &Server) -> SaveOpts {
    SaveOpts {
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        list_fill: server.config.get_i64("list-max-listpack-size"),
    }
}

/// The working directory of persistence files (`dir`).
pub fn dir(server: &Server) -> PathBuf {
    let d = server.config.get("dir");
    if d.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(d)
    }
}

/// `dir`/`dbfilename`.
pub fn rdb_path(server: &Server) -> PathBuf {
    dir(server).join(server.config.get("dbfilename"))
}

/// The `save` rules as (seconds, changes) pairs.
pub fn save_rules(server: &Server) -> Vec<(i64, u64)> {
    let s = server.config.get("save");
    let words: Vec<&str> = s.split_whitespace().collect();
    words
        .chunks_exact(2)
        .filter_map(|c| Some((c[0].parse().ok()?, c[1].parse().ok()?)))
        .collect()
}

/// Called by the cron thread every tick: starts a BGSAVE when a `save` rule is met (or one
/// was scheduled), like serverCron. After a failed BGSAVE it waits 5 seconds before retrying.
pub fn cron(server: &Arc<Server>) {
    aof::cron(server);
    let p = &server.persist;
    if p.is_loading() || p.bgsave_running.load(Ordering::Relaxed) {
        return;
    }
    if server.keyspace.snapshot_running() {
        return;
    }
    let now = now_ms();
    if p.bgsave_scheduled.swap(false, Ordering::Relaxed) {
        let _ = rdbfile::bgsave(server);
        return;
    }
    let changes = changes_since_save(server);
    if changes == 0 {
        return;
    }
    let since = now / 1000 - server.lastsave.load(Ordering::Relaxed);
    let retry_ok = !p.last_bgsave_failed.load(Ordering::Relaxed)
        || now - p.last_bgsave_try_ms.load(Ordering::Relaxed) > 5000;
    for (secs, min_changes) in save_rules(server) {
        if changes >= min_changes && since >= secs && retry_ok {
            tracing::info!("{min_changes} changes in {secs} seconds. Saving...");
            let _ = rdbfile::bgsave(server);
            return;
        }
    }
}

/// The `# Persistence` section of INFO.
pub fn info_section(out: &mut String, server: &Server) {
    let p = &server.persist;
    let now = now_ms();
    macro_rules! f {
        ($name:expr, $($arg:tt)*) => {{
            let _ = write!(out, "{}:", $name);
            let _ = write!(out, $($arg)*);
            out.push_str("\r\n");
        }};
    }
    out.push_str("# Persistence\r\n");
    let async_loading = p.async_loading.load(Ordering::Relaxed);
    let loading = p.is_loading() || async_loading;
    f!("loading", "{}", (loading && !async_loading) as u8);
    f!("async_loading", "{}", async_loading as u8);
    f!("current_cow_peak", "0");
    f!("current_cow_size", "0");
    f!("current_cow_size_age", "0");
    f!("current_fork_perc", "0.00");
    let running = p.bgsave_running.load(Ordering::Relaxed);
    f!(
        "current_save_keys_processed",
        "{}",
        if running {
            p.save_keys_processed.load(Ordering::Relaxed)
        } else {
            0
        }
    );
    f!(
        "current_save_keys_total",
        "{}",
        if running {
            p.save_keys_total.load(Ordering::Relaxed)
        } else {
            0
        }
    );
    if loading {
        let start = p.loading_start.load(Ordering::Relaxed) / 1000;
        let total = p.loading_total_bytes.load(Ordering::Relaxed);
        let done = p.loading_loaded_bytes.load(Ordering::Relaxed);
        let used_mem = p.loading_rdb_used_mem.load(Ordering::Relaxed);
        let (perc, eta) = loading_progress(start, now / 1000, done, total, used_mem);
        f!("loading_start_time", "{start}");
        f!("loading_total_bytes", "{total}");
        f!("loading_rdb_used_mem", "{used_mem}");
        f!("loading_loaded_bytes", "{done}");
        f!("loading_loaded_perc", "{perc:.2}");
        f!("loading_eta_seconds", "{eta}");
    }
    f!(
        "rdb_changes_since_last_save",
        "{}",
        changes_since_save(server)
    );
    let syncing = server.repl.syncs_running.load(Ordering::Relaxed) > 0;
    f!("rdb_bgsave_in_progress", "{}", (running || syncing) as u8);
    f!(
        "rdb_last_save_time",
        "{}",
        server.lastsave.load(Ordering::Relaxed)
    );
    f!(
        "rdb_last_bgsave_status",
        "{}",
        if p.last_bgsave_failed.load(Ordering::Relaxed) {
            "err"
        } else {
            "ok"
        }
    );
    f!(
        "rdb_last_bgsave_time_sec",
        "{}",
        p.last_bgsave_secs.load(Ordering::Relaxed)
    );
    f!(
        "rdb_current_bgsave_time_sec",
        "{}",
        if running {
            (now - p.bgsave_started_ms.load(Ordering::Relaxed)) / 1000
        } else {
            -1
        }
    );
    f!("rdb_saves", "{}", p.rdb_saves.load(Ordering::Relaxed));
    f!("rdb_last_cow_size", "0");
    f!(
        "rdb_last_load_keys_expired",
        "{}",
        p.last_load_keys_expired.load(Ordering::Relaxed)
    );
    f!(
        "rdb_last_load_keys_loaded",
        "{}",
        p.last_load_keys_loaded.load(Ordering::Relaxed)
    );
    aof::info(out, server);
}

/// Loads the dataset at start-up on its own thread when there is a file to load; commands
/// meanwhile get -LOADING. A fatal error (corrupt file) stops the server, leaving the file
/// untouched, and is kept in `State::fatal` for the binary's exit status.
pub fn start_loading(server: &Arc<Server>) {
    let use_aof = aof::should_load(server);
    if !use_aof && !rdb_path(server).exists() {
        // Set by `replication::start_from_config` for its link to wait on: nothing to load.
        server.persist.loading.store(false, Ordering::SeqCst);
        if server.config.get_bool("appendonly") {
            if let Err(e) = aof::enable(server) {
                fail(server, format!("Can't open the append-only file: {e}"));
            }
        }
        return;
    }
    let p = &server.persist;
    loading_started(server, 0);
    p.loading.store(true, Ordering::SeqCst);
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("cinnabar-loader".into())
        .spawn(move || {
            // As in Redis, the AOF takes precedence over the RDB file when both exist.
            let r = if use_aof {
                srv.persist.loaded_aof.store(true, Ordering::Relaxed);
                aof::load_at_startup(&srv)
            } else {
                rdbfile::load_at_startup(&srv)
            };
            let p = &srv.persist;
            let r = r.and_then(|()| {
                if srv.config.get_bool("appendonly") {
                    aof::enable(&srv).map_err(|e| format!("Can't open the append-only file: {e}"))
                } else {
                    Ok(())
                }
            });
            match r {
                // Abandoned for a shutdown (signal, SHUTDOWN): not a failure; nothing is
                // saved (see `shutdown_save`) and the process exits normally.
                Err(_) if srv.is_shutting_down() => {}
                Err(msg) => fail(&srv, msg),
                Ok(()) => {}
            }
            p.dirty_at_last_save.store(dirty(&srv), Ordering::Relaxed);
            srv.lastsave.store(now_ms() / 1000, Ordering::Relaxed);
            p.loading.store(false, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        p.loading.store(false, Ordering::SeqCst);
        fail(server, format!("cannot start the loader thread: {e}"));
    }
}

/// A fatal error (a corrupt file at start-up, an AOF a replica cannot reopen): the server
/// stops, and the binary logs `msg` as its last line and exits with status 1, as Redis exits
/// right after the message (logged here, it could be followed by other threads' lines).
pub fn fail(server: &Server, msg: String) {
    *server.persist.fatal.lock() = Some(msg);
    server.request_shutdown();
}

/// Saves on shutdown when `save` rules are configured (or `force`), as Redis's
/// prepareForShutdown does; never after a failed load (that would overwrite the file).
pub fn shutdown_save(server: &Server, force: bool) -> std::io::Result<()> {
    let p = &server.persist;
    if p.fatal.lock().is_some() || p.is_loading() {
        return Ok(());
    }
    if p.aof.on.load(Ordering::Relaxed) {
        aof::flush_all(server)?;
    }
    if !force && save_rules(server).is_empty() {
        return Ok(());
    }
    // Wait for a running BGSAVE: its snapshot holds no lock we need, but two writers
    // racing on the same file would leave the older snapshot last.
    while p.bgsave_running.load(Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    rdbfile::save(server)
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the dataset, empties it and loads the file
/// back, all with every shard locked (test suites use it to check that persistence keeps
/// every value intact).
pub fn debug_reload(server: &Server, opts: &[&[u8]]) -> cinnabar_engine::Result<()> {
    use cinnabar_engine::Error;
    let (mut flush, mut save) = (true, true);
    for o in opts {
        if o.eq_ignore_ascii_case(b"merge") || o.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if o.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            return Err(Error::msg(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let mut locked = server.keyspace.lock_all();
    if save && rdbfile::save_locked(server, &mut locked).is_err() {
        return Err(Error::msg("ERR Error trying to save the DB"));
    }
    if flush {
        for s in locked.shards() {
            for d in s.dbs.iter_mut() {
                d.clear();
            }
        }
    }
    let f = std::fs::File::open(rdb_path(server))
        .map_err(|e| Error::msg(format!("ERR Error trying to load the RDB dump: {e}")))?;
    rdbfile::load_locked(server, &mut locked, std::io::BufReader::new(f))
        .map_err(|e| Error::msg(format!("ERR Error trying to load the RDB dump: {e}")))?;
    Ok(())
}

/// Redis's writeCommandsDeniedByDiskError: the -MISCONF error that write commands (and
/// PING) get after a failed BGSAVE (with `stop-writes-on-bgsave-error yes` and save rules)
/// or a failed AOF write.
pub fn writes_denied(server: &Server) -> Option<String> {
    let p = &server.persist;
    if p.last_bgsave_failed.load(Ordering::Relaxed)
        && server.config.get_bool("stop-writes-on-bgsave-error")
        && !save_rules(server).is_empty()
    {
        return Some("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.".into());
    }
    if p.aof.on.load(Ordering::Relaxed) && p.aof.last_write_failed.load(Ordering::Relaxed) {
        return Some("MISCONF Errors writing to the AOF file: see the server log".into());
    }
    None
}

/// Keeps `disk_error` (the hot-path flag) in line with the two error states.
pub fn update_disk_error(server: &Server) {
    let p = &server.persist;
    let e = p.last_bgsave_failed.load(Ordering::Relaxed)
        || p.aof.last_write_failed.load(Ordering::Relaxed);
    p.disk_error.store(e, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::loading_progress;

    #[test]
    fn loading_progress_as_redis() {
        let at = |start, now, loaded, total, used| {
            let (perc, eta) = loading_progress(start, now, loaded, total, used);
            (format!("{perc:.2}"), eta)
        };
        // No whole second elapsed yet: a fake 1.
        assert_eq!(at(100, 100, 0, 1000, 0), ("0.00".into(), 1));
        // elapsed * remaining / (loaded + 1), in whole seconds.
        assert_eq!(at(100, 110, 249, 1000, 0), ("24.90".into(), 30));
        assert_eq!(at(100, 102, 1000, 1000, 0), ("100.00".into(), 0));
        // No total: used-mem as the estimate, under 100%, at least a byte to go.
        assert_eq!(at(100, 104, 50, 0, 200), ("25.00".into(), 11));
        assert_eq!(at(100, 104, 300, 0, 200), ("99.99".into(), 0));
        // Neither: 0%, one byte to go.
        assert_eq!(at(100, 105, 0, 0, 0), ("0.00".into(), 5));
    }
}
