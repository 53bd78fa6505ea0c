//! Getting the log to disk: the writer thread, `appendfsync` (always: group commit, every
//! client of a batch shares its fsync; everysec: written before the reply, fsynced once a
//! second off the command threads), and the waits that hold a client's replies until then.

use super::*;
use crate::ops::latency;

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
                let _ = write_out(server, Sync::Never);
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

pub(super) fn fsync_mode(server: &Server) -> u8 {
    match server.config.get("appendfsync").as_str() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    }
}

/// When [`write_out`] fsyncs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Sync {
    /// As `appendfsync` says (always: now; everysec: if a second has passed; no: never).
    Policy,
    Force,
    /// Never here: a worker thread writing for `everysec` leaves fsyncs to the writer thread.
    Never,
}

/// Writes pending bytes to the current incremental file; fsyncs per `sync`. Records the
/// latency events of flushAppendOnlyFile: `aof-write` (and which kind of write it was) and
/// `aof-fsync-always`.
pub(super) fn flush(
    server: &Server,
    files: &mut Files,
    data: &[u8],
    end: u64,
    sync: Sync,
) -> io::Result<()> {
    let aof = &server.persist.aof;
    let Some(f) = files.current.as_mut() else {
        return Ok(());
    };
    if !data.is_empty() {
        let sleep = aof.flush_sleep_us.load(Ordering::Relaxed);
        if sleep > 0 {
            std::thread::sleep(Duration::from_micros(sleep));
        }
        let timer = latency::Timer::start(server);
        let written = f.write_all(data);
        if let Some(ms) = timer.stop(server, "aof-write") {
            record_write(server, ms);
        }
        written?;
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
        // Redis times the fsync of `always` only (not the forced ones of a switch or a
        // shutdown).
        let timer =
            (sync == Sync::Policy && mode == FSYNC_ALWAYS).then(|| latency::Timer::start(server));
        let synced = f.sync_data();
        if let Some(t) = timer {
            t.end(server, "aof-fsync-always");
        }
        synced?;
        files.last_fsync = Some(Instant::now());
        aof.synced_seq.store(end, Ordering::Release);
        aof.synced.notify_waiters();
    }
    Ok(())
}

/// Moves everything appended so far into the file. `wlock` keeps batches in order: a batch
/// taken from the buffer is written before any later one, and never after a file switch.
/// Lock order: wlock, buf, files (shard locks, when held, come before all three).
pub(super) fn write_out(server: &Server, sync: Sync) -> io::Result<()> {
    let aof = &server.persist.aof;
    let _order = aof.wlock.lock();
    let (data, end) = {
        let mut b = aof.buf.lock();
        (std::mem::take(&mut b.data), b.seq)
    };
    let mut files = aof.files.lock();
    let r = flush(server, &mut files, &data, end, sync);
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
pub(super) fn writer_loop(server: Arc<Server>) {
    let aof = &server.persist.aof;
    loop {
        let everysec = aof.fsync.load(Ordering::Relaxed) == FSYNC_EVERYSEC;
        {
            let mut b = aof.buf.lock();
            // Under `everysec` the workers write (see `wait_synced`); this thread wakes on
            // its tick only, or it would keep writing small pieces of a busy stream.
            if b.data.is_empty() || everysec {
                if server.is_shutting_down() && b.data.is_empty() {
                    return;
                }
                aof.cv.wait_for(&mut b, Duration::from_millis(100));
            }
        }
        if everysec {
            let _ = write_out(&server, Sync::Never);
            everysec_fsync(aof);
        } else {
            let _ = write_out(&server, Sync::Policy);
        }
    }
}

/// `everysec`: once a second, fsyncs what was written, on a duplicate of the descriptor and
/// outside every lock, so writers never wait for the disk.
fn everysec_fsync(aof: &Aof) {
    let (file, end) = {
        let mut files = aof.files.lock();
        // The writer decided on `everysec` before its wait: `appendfsync no` set meanwhile
        // means no fsync (WAITAOF's local copy must not be acknowledged, as in Redis).
        if aof.fsync.load(Ordering::Relaxed) != FSYNC_EVERYSEC {
            return;
        }
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
        aof.fsync_in_progress.store(true, Ordering::Relaxed);
        let synced = f.sync_data();
        aof.fsync_in_progress.store(false, Ordering::Relaxed);
        match synced {
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
    write_out(server, Sync::Force)
}

/// One write's `aof-write` sample, also under the event of what else was going on then, as
/// Redis tells them apart: a background fsync, a BGSAVE or rewrite, or neither.
fn record_write(server: &Server, ms: u64) {
    let p = &server.persist;
    let kind = if p.aof.fsync_in_progress.load(Ordering::Relaxed) {
        "aof-write-pending-fsync"
    } else if p.bgsave_running.load(Ordering::Relaxed)
        || p.aof.rewrite_running.load(Ordering::Relaxed)
    {
        "aof-write-active-child"
    } else {
        "aof-write-alone"
    };
    latency::add_sample_if_needed(server, kind, ms);
    latency::add_sample_if_needed(server, "aof-write", ms);
}
