//! Diskless full syncs shared by the replicas that wait for one together, as Redis 7.2
//! shares one RDB child writing to every waiting replica's socket.
//!
//! A replica that needs a diskless full sync joins the waiting list (Redis's
//! WAIT_BGSAVE_START). The transfer starts when no snapshot is running and either the
//! longest-waiting replica has waited `repl-diskless-sync-delay` seconds or
//! `repl-diskless-sync-max-replicas` (when not 0) are waiting (Redis's
//! shouldStartChildReplication). Every replica waiting then is registered at the same stream
//! offset in the instant the snapshot is armed, and one writer thread serialises the snapshot
//! once and hands each chunk to every replica's task through a small bounded queue: the
//! transfer goes at the pace of the slowest replica, as Redis's parent stops reading the
//! child's pipe until every replica took the last buffer. A replica that leaves only stops
//! getting chunks; when the last one leaves the snapshot is cancelled. A replica that stops
//! reading is dropped by its own task after `repl-timeout` (see `primary`), which frees the
//! others. Replicas arriving once a transfer started wait for the next one.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::Replica;
use crate::server::{now_ms, Server};

/// A replica waiting for the next shared transfer.
pub struct Waiting {
    replica: Arc<Replica>,
    since_ms: i64,
    start: oneshot::Sender<Started>,
}

/// What a waiting replica gets when its transfer starts.
pub struct Started {
    pub replid: String,
    pub offset: u64,
    pub feed: Feed,
}

/// What the writer thread hands each replica's task.
pub enum Chunk {
    Data(Arc<[u8]>),
    /// The RDB is complete (true) or the transfer failed (false).
    Done(bool),
}

/// One replica's end of a shared transfer: the RDB's chunks, in order.
pub struct Feed {
    pub rx: mpsc::Receiver<Chunk>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Feeds not yet dropped.
    live: AtomicUsize,
    cancel: Arc<AtomicBool>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The last replica gone: the writer stops at its next key (Redis kills the child).
        if self.shared.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// Chunks queued per replica: the writer runs at most this far ahead of the slowest one.
const QUEUE: usize = 8;
const CHUNK: usize = 256 << 10;

/// Removes its replica from the waiting list when its task ends before the start.
pub struct Ticket<'a> {
    server: &'a Server,
    replica: Arc<Replica>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.server
            .repl
            .waiting
            .lock()
            .retain(|w| !Arc::ptr_eq(&w.replica, &self.replica));
    }
}

/// Puts `replica` on the waiting list; the receiver gets the transfer once it starts.
pub fn join<'a>(
    server: &'a Server,
    replica: &Arc<Replica>,
) -> (oneshot::Receiver<Started>, Ticket<'a>) {
    let (tx, rx) = oneshot::channel();
    server.repl.waiting.lock().push(Waiting {
        replica: replica.clone(),
        since_ms: now_ms(),
        start: tx,
    });
    (
        rx,
        Ticket {
            server,
            replica: replica.clone(),
        },
    )
}

/// Starts the transfer for every waiting replica if its time has come (see the module's
/// doc). Cheap when nothing waits; the waiting tasks call it while they wait.
pub fn try_start(server: &Server) {
    let r = &server.repl;
    if server.keyspace.snapshot_running() || server.is_shutting_down() {
        return;
    }
    let Some(arc) = server.persist.server() else {
        return;
    };
    let mut waiting = r.waiting.lock();
    waiting.retain(|w| !w.start.is_closed());
    let Some(oldest) = waiting.iter().map(|w| w.since_ms).min() else {
        return;
    };
    let delay_ms = server.config.get_i64("repl-diskless-sync-delay").max(0) * 1000;
    let max = server
        .config
        .get_i64("repl-diskless-sync-max-replicas")
        .max(0) as usize;
    if !((max > 0 && waiting.len() >= max) || now_ms() - oldest >= delay_ms) {
        return;
    }
    let replicas: Vec<Arc<Replica>> = waiting.iter().map(|w| w.replica.clone()).collect();
    let Some(armed) = super::primary::arm(server, |offset| {
        for x in &replicas {
            x.sent.store(offset, Ordering::Relaxed);
        }
    }) else {
        return;
    };
    let members = std::mem::take(&mut *waiting);
    drop(waiting);
    tracing::info!("Starting BGSAVE for SYNC with target: replicas sockets");
    let cancel = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        live: AtomicUsize::new(members.len()),
        cancel: cancel.clone(),
    });
    let mut txs = Vec::with_capacity(members.len());
    let mut feeds = Vec::with_capacity(members.len());
    for _ in &members {
        let (tx, rx) = mpsc::channel(QUEUE);
        txs.push(tx);
        feeds.push(Feed {
            rx,
            shared: shared.clone(),
        });
    }
    r.syncs_running.fetch_add(1, Ordering::Relaxed);
    r.sync_cancels.lock().push(cancel.clone());
    tracing::info!(
        "Background RDB transfer started by pid {}",
        std::process::id()
    );
    let aux = (armed.replid.clone(), armed.offset, armed.stream_db);
    let sections = armed.sections;
    let shared2 = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("cinnabar-replsync".into())
        .spawn(move || {
            let out = FanOut { txs };
            let res = super::primary::write_rdb(
                &arc,
                &sections,
                out,
                (&aux.0, aux.1, aux.2),
                &shared2.cancel,
            );
            let (txs, ok) = match res {
                Ok(out) => {
                    let up = out.txs.iter().filter(|t| !t.is_closed()).count();
                    tracing::info!(
                        "Diskless rdb transfer, done reading from pipe, {up} replicas still up."
                    );
                    (out.txs, true)
                }
                Err(_) => {
                    if shared2.live.load(Ordering::Acquire) == 0 {
                        tracing::warn!(
                            "Diskless rdb transfer, last replica dropped, killing fork child."
                        );
                    }
                    (Vec::new(), false)
                }
            };
            for t in txs {
                let _ = t.blocking_send(Chunk::Done(ok));
            }
            arc.repl
                .sync_cancels
                .lock()
                .retain(|c| !Arc::ptr_eq(c, &shared2.cancel));
            arc.repl.syncs_running.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        r.sync_cancels.lock().retain(|c| !Arc::ptr_eq(c, &cancel));
        r.syncs_running.fetch_sub(1, Ordering::Relaxed);
        server.keyspace.finish_snapshot();
        return;
    }
    for (w, feed) in members.into_iter().zip(feeds) {
        // A replica gone meanwhile drops its feed with the message.
        let _ = w.start.send(Started {
            replid: armed.replid.clone(),
            offset: armed.offset,
            feed,
        });
    }
}

/// Hands the RDB's bytes to every replica still reading, waiting for the slowest.
struct FanOut {
    txs: Vec<mpsc::Sender<Chunk>>,
}

impl Write for FanOut {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        for piece in b.chunks(CHUNK) {
            let c: Arc<[u8]> = piece.into();
            self.txs
                .retain(|t| t.blocking_send(Chunk::Data(c.clone())).is_ok());
            if self.txs.is_empty() {
                return Err(io::Error::other("every replica left"));
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
