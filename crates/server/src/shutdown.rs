//! The shutdown sequence, as Redis 7.2's prepareForShutdown / finishShutdown.
//!
//! SHUTDOWN, SIGTERM and SIGINT all come here. Unless told NOW (or `shutdown-timeout` is
//! 0), a primary whose replicas have not acknowledged its whole stream first waits for them,
//! up to `shutdown-timeout` seconds: writes are paused (so the stream stops growing), the
//! replicas are asked for an ACK, and the cron finishes the shutdown once every replica is
//! in sync or the time is up. Meanwhile SHUTDOWN commands block, SHUTDOWN ABORT cancels,
//! and INFO shows `shutdown_in_milliseconds`.
//!
//! Finishing saves as asked (and flushes the AOF); an error there, unless FORCE, cancels
//! the whole shutdown: the server goes on, its writes resume, and every blocked SHUTDOWN
//! gets `Errors trying to SHUTDOWN. Check logs.`. A signal is only noted by the signal
//! thread; the cron starts its shutdown, with the flags of `shutdown-on-sigterm` or
//! `shutdown-on-sigint`, as Redis's serverCron does with `shutdown_asap`.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU8, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::blocking::Wake;
use crate::pause::Purpose;
use crate::server::{now_ms, Server};

/// SHUTDOWN's flags.
pub const SAVE: u8 = 1;
pub const NOSAVE: u8 = 2;
pub const NOW: u8 = 4;
pub const FORCE: u8 = 8;

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

#[derive(Default)]
pub struct Shutdown {
    /// Serializes starting, finishing and cancelling (SHUTDOWN on a worker, signals and
    /// the grace period on the cron thread).
    seq: Mutex<()>,
    /// A signal's number once one asked for a shutdown; cleared only by a cancel (Redis's
    /// `shutdown_asap` and `last_sig_received`).
    signal: AtomicI32,
    /// When the grace period ends (ms since the epoch); 0: no shutdown is under way.
    deadline_ms: AtomicI64,
    flags: AtomicU8,
    /// SHUTDOWN commands waiting for the outcome.
    waiters: Mutex<Vec<oneshot::Sender<Wake>>>,
}

/// How a shutdown attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server stops (`Server::request_shutdown` was called).
    Exit,
    /// Waiting for lagging replicas; a given waiter was registered.
    Waiting,
    /// Saving failed: the server goes on (the error is logged).
    Failed,
}

/// The reply of every SHUTDOWN blocked on a shutdown that failed or was aborted.
pub const FAILED_REPLY: &[u8] = b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n";

impl Shutdown {
    /// Milliseconds left of the grace period, while one runs (INFO
    /// `shutdown_in_milliseconds`).
    pub fn remaining_ms(&self, now: i64) -> Option<i64> {
        let d = self.deadline_ms.load(Ordering::SeqCst);
        (d != 0).then(|| (d - now).max(0))
    }

    /// SHUTDOWN commands blocked on this shutdown (counted in INFO `blocked_clients`).
    pub fn blocked(&self) -> usize {
        self.waiters
            .lock()
            .iter()
            .filter(|t| !t.is_closed())
            .count()
    }

    /// Whether a signal asked for a shutdown that is neither done nor cancelled.
    pub fn signalled(&self) -> bool {
        self.signal.load(Ordering::SeqCst) != 0
    }

    /// Notes a SIGTERM or SIGINT (the cron acts on it; see [`cron`]).
    pub fn signal(&self, sig: i32) {
        self.signal.store(sig, Ordering::SeqCst);
    }
}

/// Starts a shutdown with `flags` (Redis's prepareForShutdown). `waiter`, if the outcome is
/// [`Outcome::Waiting`], gets the reply of a shutdown that fails later.
pub fn prepare(server: &Server, flags: u8, waiter: Option<oneshot::Sender<Wake>>) -> Outcome {
    let sd = &server.shutdown_seq;
    let _seq = sd.seq.lock();
    if sd.deadline_ms.load(Ordering::SeqCst) != 0 {
        sd.waiters.lock().extend(waiter);
        return Outcome::Waiting;
    }
    // Never save a half-loaded dataset over the file.
    let flags = if server.persist.is_loading() {
        (flags & !SAVE) | NOSAVE
    } else {
        flags
    };
    sd.flags.store(flags, Ordering::SeqCst);
    tracing::warn!("User requested shutdown...");
    let timeout = server.config.get_i64("shutdown-timeout");
    if flags & NOW == 0 && timeout != 0 && !crate::replication::in_sync_for_shutdown(server) {
        let now = now_ms();
        sd.deadline_ms.store(
            now.saturating_add(timeout.saturating_mul(1000)),
            Ordering::SeqCst,
        );
        if server.pause.state(now).is_none() {
            crate::replication::ask_acks(server);
        }
        server
            .pause
            .set(&server.keyspace, Purpose::Shutdown, i64::MAX / 2, true);
        sd.waiters.lock().extend(waiter);
        tracing::info!("Waiting for replicas before shutting down.");
        return Outcome::Waiting;
    }
    finish(server)
}

/// Ends the grace period once every replica is in sync or the time is up, and starts the
/// shutdown a signal asked for. Called by the cron.
pub fn cron(server: &Server) {
    let sd = &server.shutdown_seq;
    if server.is_shutting_down() {
        return;
    }
    let deadline = sd.deadline_ms.load(Ordering::SeqCst);
    if deadline == 0 {
        let sig = sd.signal.load(Ordering::SeqCst);
        if sig != 0 {
            let name = if sig == SIGINT {
                "shutdown-on-sigint"
            } else {
                "shutdown-on-sigterm"
            };
            prepare(server, signal_flags(&server.config.get(name)), None);
        }
        return;
    }
    if now_ms() >= deadline || crate::replication::in_sync_for_shutdown(server) {
        let _seq = sd.seq.lock();
        if sd.deadline_ms.load(Ordering::SeqCst) != 0 {
            finish(server);
        }
    }
}

/// SHUTDOWN ABORT: cancels a shutdown under way, or one a signal asked for that has not
/// started. Returns whether there was one.
pub fn abort(server: &Server) -> bool {
    let sd = &server.shutdown_seq;
    let _seq = sd.seq.lock();
    if sd.deadline_ms.load(Ordering::SeqCst) != 0 {
        cancel(server);
    } else if sd.signal.swap(0, Ordering::SeqCst) == 0 {
        return false;
    }
    tracing::info!("Shutdown manually aborted.");
    true
}

/// The flags a `shutdown-on-sig*` value asks for ("default": none).
fn signal_flags(value: &str) -> u8 {
    value
        .split_whitespace()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "save" => SAVE,
            "nosave" => NOSAVE,
            "now" => NOW,
            "force" => FORCE,
            _ => 0,
        })
        .fold(0, |a, f| a | f)
}

/// Redis's finishShutdown; called with `seq` held.
fn finish(server: &Server) -> Outcome {
    let sd = &server.shutdown_seq;
    let flags = sd.flags.load(Ordering::SeqCst);
    let force = flags & FORCE != 0;
    crate::replication::log_lagging_at_shutdown(server);
    let p = &server.persist;
    if p.aof.wait_rewrite.load(Ordering::Acquire) {
        // The AOF is on but its first base is not written: the files hold no dataset yet.
        if force {
            tracing::warn!("Writing initial AOF. Exit anyway.");
        } else {
            tracing::warn!("Writing initial AOF, can't exit.");
            return fail(server);
        }
    }
    let saved = if flags & NOSAVE != 0 {
        if p.aof.on.load(Ordering::Relaxed) {
            crate::persist::aof::flush_all(server)
        } else {
            Ok(())
        }
    } else {
        crate::persist::shutdown_save(server, flags & SAVE != 0)
    };
    if let Err(e) = saved {
        if force {
            tracing::warn!("Error trying to save the DB. Exit anyway. ({e})");
        } else {
            tracing::warn!("Error trying to save the DB, can't exit. ({e})");
            return fail(server);
        }
    }
    p.shutdown_handled.store(true, Ordering::SeqCst);
    server.request_shutdown();
    Outcome::Exit
}

fn fail(server: &Server) -> Outcome {
    tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(server);
    Outcome::Failed
}

/// Redis's cancelShutdown: the server goes on; blocked SHUTDOWNs get the error.
fn cancel(server: &Server) {
    let sd = &server.shutdown_seq;
    sd.signal.store(0, Ordering::SeqCst);
    sd.flags.store(0, Ordering::SeqCst);
    sd.deadline_ms.store(0, Ordering::SeqCst);
    for tx in sd.waiters.lock().drain(..) {
        let _ = tx.send(Wake::Reply(FAILED_REPLY.to_vec()));
    }
    server.pause.clear(&server.keyspace, Purpose::Shutdown);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_flags_read_the_config_words() {
        assert_eq!(signal_flags("default"), 0);
        assert_eq!(signal_flags("nosave now"), NOSAVE | NOW);
        assert_eq!(signal_flags("SAVE force"), SAVE | FORCE);
    }
}
