//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: a coordinated switch of roles
//! with one of our replicas, as Redis 7.2 does it:
//! 1. writes are paused and the state is `waiting-for-sync` until the target replica (or,
//!    without TO, any replica) has acknowledged our whole stream (GETACK is sent each tick);
//!    past TIMEOUT the failover is aborted, or with FORCE goes on anyway;
//! 2. `failover-in-progress`: we become a replica of the target, whose PSYNC carries
//!    `FAILOVER`: the target promotes itself before answering, and continues our history;
//! 3. once our PSYNC is answered the failover is over and writes resume (they now get
//!    -READONLY here). A failed PSYNC aborts: we are a primary again.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

use parking_lot::Mutex;

use super::{Master, ONLINE};
use crate::pause::Purpose;
use crate::server::{now_ms, Server};

pub const NONE: u8 = 0;
pub const WAITING: u8 = 1;
pub const IN_PROGRESS: u8 = 2;

#[derive(Default)]
pub struct Failover {
    pub state: AtomicU8,
    pub deadline_ms: AtomicI64,
    pub target: Mutex<Option<Master>>,
    pub force: std::sync::atomic::AtomicBool,
}

pub fn state_name(server: &Server) -> &'static str {
    match server.repl.failover.state.load(Ordering::Relaxed) {
        WAITING => "waiting-for-sync",
        IN_PROGRESS => "failover-in-progress",
        _ => "no-failover",
    }
}

fn pause_writes(server: &Server) {
    server
        .pause
        .set(&server.keyspace, Purpose::Failover, i64::MAX / 2, true);
}

fn unpause(server: &Server) {
    server.pause.clear(&server.keyspace, Purpose::Failover);
}

/// Starts a failover (the command's checks passed).
pub fn start(server: &Server, target: Option<Master>, timeout_ms: i64, force: bool) {
    let f = &server.repl.failover;
    *f.target.lock() = target;
    f.force.store(force, Ordering::Relaxed);
    f.deadline_ms.store(
        if timeout_ms > 0 {
            now_ms() + timeout_ms
        } else {
            0
        },
        Ordering::Relaxed,
    );
    f.state.store(WAITING, Ordering::SeqCst);
    pause_writes(server);
    tracing::info!("FAILOVER requested");
    super::ask_acks(server);
}

/// Ends a failover that did not happen: writes resume, we stay (or become again) primary.
pub fn abort(server: &Server, why: &str) {
    let f = &server.repl.failover;
    let st = f.state.swap(NONE, Ordering::SeqCst);
    if st == NONE {
        return;
    }
    tracing::warn!("FAILOVER aborted: {why}");
    if st == IN_PROGRESS {
        super::replica::promote(server);
    }
    unpause(server);
}

/// Our PSYNC to the new primary was answered: the failover is complete.
pub fn completed(server: &Server) {
    if server
        .repl
        .failover
        .state
        .compare_exchange(IN_PROGRESS, NONE, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        tracing::info!("Failover target accepted the PSYNC FAILOVER: failover complete");
        unpause(server);
    }
}

/// Whether our link's next PSYNC must carry FAILOVER.
pub fn psync_flag(server: &Server) -> bool {
    server.repl.failover.state.load(Ordering::Relaxed) == IN_PROGRESS
}

/// The cron's step while waiting for the target to catch up.
pub fn cron(server: &Server) {
    let r = &server.repl;
    let f = &r.failover;
    if f.state.load(Ordering::Relaxed) != WAITING {
        return;
    }
    let offset = r.offset();
    let target = f.target.lock().clone();
    let caught_up = r
        .replicas
        .lock()
        .iter()
        .filter(|x| x.state.load(Ordering::Relaxed) == ONLINE)
        .filter(|x| {
            target
                .as_ref()
                .is_none_or(|t| t.port == x.port && t.host == x.ip)
        })
        .find(|x| x.ack.load(Ordering::Relaxed) >= offset)
        .map(|x| Master {
            host: x.ip.clone(),
            port: x.port,
        });
    let deadline = f.deadline_ms.load(Ordering::Relaxed);
    let chosen = match caught_up {
        Some(m) => Some(m),
        None if deadline > 0 && now_ms() >= deadline => {
            if f.force.load(Ordering::Relaxed) {
                if let Some(t) = &target {
                    tracing::warn!(
                        "FAILOVER to {}:{} time out exceeded, failing over.",
                        t.host,
                        t.port
                    );
                }
                target
            } else {
                abort(server, "Replica never caught up before timeout");
                return;
            }
        }
        None => {
            super::ask_acks(server);
            return;
        }
    };
    let Some(m) = chosen else {
        abort(server, "no target");
        return;
    };
    tracing::info!(
        "Failover target {}:{} caught up: switching roles",
        m.host,
        m.port
    );
    f.state.store(IN_PROGRESS, Ordering::SeqCst);
    super::replica::replicate_from(server, m);
}
