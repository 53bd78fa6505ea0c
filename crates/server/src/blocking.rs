//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
//! and XREAD / XREADGROUP with BLOCK).
//!
//! A client that finds nothing to pop registers a waiter on each of its keys, while it still
//! holds those keys' shard locks, so no push can slip in between the check and the
//! registration. Its connection then waits for a [`Wake`] on a oneshot channel, a timeout,
//! CLIENT UNBLOCK, or its own disconnection.
//!
//! A successful write notes the keys it modified while anyone is blocked ("ready keys", from
//! the effects sink). Once the write (or the whole EXEC) has finished and released its locks,
//! the writer serves the waiters of each ready key in the order they blocked: it locks the
//! key's shards, then the waiter registry, runs the waiter's command in its non-blocking form
//! (LPOP for BLPOP, LMOVE for BLMOVE...) through `run_locked` and sends the reply. The pop and
//! the hand-over happen under the same locks, so an element is never lost or delivered twice,
//! and a waiter that left is never served. The served command is an execution unit of its
//! own and records its effects like any command (propagated as Redis 7.2 propagates the
//! re-executed blocking command: LPOP, LMOVE, `LPOP key count`...); the waiter's own
//! invalidations follow its reply, and a destination it pushed to (BLMOVE) becomes ready in
//! turn, served before the writer's next command.
//!
//! Stream readers are served as Redis 7.2 serves them: every waiter of a ready key is tried,
//! in the order they blocked, by re-running its read (XREAD with `$` already resolved), and
//! one whose read finds nothing keeps waiting without holding back the ones behind it (an
//! XREAD waiting for a later ID, another group). XREADGROUP waiters are also woken when their
//! key is deleted or replaced (Redis's signalDeletedKeyAsReady): the re-run replies -NOGROUP
//! or WRONGTYPE. Pop waiters behind a waiter that found nothing are skipped, since they would
//! find nothing either.
//!
//! Lock order: shard locks, then the registry mutex. Nothing holding the registry mutex takes
//! a shard lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cinnabar_resp::{Frame, Protocol, ReplyBuf};
use parking_lot::Mutex;
use smallvec::SmallVec;
use tokio::sync::oneshot;

use crate::dispatch::{run_locked, Client};
use crate::server::{ClientShared, Server, WorkerStats};

/// What a blocked client receives.
#[derive(Debug)]
pub enum Wake {
    /// The encoded reply of its command.
    Reply(Vec<u8>),
    /// CLIENT UNBLOCK ... TIMEOUT (or the default): reply as if the timeout passed.
    Timeout,
    /// CLIENT UNBLOCK ... ERROR.
    Error,
    /// An error reply after which the connection closes (Redis's CLIENT_CLOSE_AFTER_REPLY:
    /// a primary turned replica unblocks everyone so).
    ReplyClose(Vec<u8>),
    /// Refused when it was to be served (its permissions changed while it waited): the
    /// error reply. Counted as a rejected call, not as a call.
    Rejected(Vec<u8>),
}

/// How a waiter's command is served from one ready key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// BLPOP/BRPOP: run LPOP/RPOP key, reply [key, element].
    PopOne { left: bool },
    /// BZPOPMIN/BZPOPMAX: run ZPOPMIN/ZPOPMAX key, reply [key, member, score].
    ZPopOne { min: bool },
    /// BLMOVE/BRPOPLPUSH/BLMPOP/BZMPOP: run the rewritten command as it is.
    Rewrite,
    /// XREAD/XREADGROUP: re-run the read (without BLOCK) as it is; a null reply keeps the
    /// waiter waiting. `nokey` (XREADGROUP): also run when the key is missing or holds
    /// another type, so that the waiter gets the command's error.
    Stream { nokey: bool },
}

struct Waiter {
    db: usize,
    keys: Vec<Vec<u8>>,
    /// The non-blocking command to run per key; `{}` marks where the ready key goes.
    template: Vec<Vec<u8>>,
    kind: Kind,
    proto: Protocol,
    shared: Arc<ClientShared>,
    tx: oneshot::Sender<Wake>,
}

#[derive(Default)]
struct Inner {
    queues: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

/// The registry of blocked clients.
#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
    /// Number of blocked clients: writes skip all blocking work while it is 0.
    pub count: AtomicUsize,
}

/// A ready-key entry meaning "every key anybody waits on" (after SWAPDB, FLUSHALL...).
pub const ALL_DBS: usize = usize::MAX;

/// Placeholder in a template for the ready key.
pub const KEY_SLOT: &[u8] = b"\x00key\x00";

/// A blocked connection's side: what to wait for.
pub struct BlockedOn {
    pub rx: oneshot::Receiver<Wake>,
    /// Deadline in ms since the epoch; None waits forever.
    pub deadline: Option<i64>,
    /// The reply on timeout: a null array for every blocking command.
    pub null_on_timeout: bool,
}

impl Blocking {
    /// Registers `client` as waiting on `keys`. Call while holding the keys' shard locks.
    pub fn block(
        &self,
        client: &Client,
        proto: Protocol,
        keys: Vec<Vec<u8>>,
        template: Vec<Vec<u8>>,
        kind: Kind,
        deadline: Option<i64>,
    ) -> BlockedOn {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock();
        for k in &keys {
            let q = inner.queues.entry((client.db, k.clone())).or_default();
            // The same key given twice waits once.
            if !q.contains(&client.id) {
                q.push_back(client.id);
            }
        }
        inner.waiters.insert(
            client.id,
            Waiter {
                db: client.db,
                keys,
                template,
                kind,
                proto,
                shared: client.shared.clone(),
                tx,
            },
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        BlockedOn {
            rx,
            deadline,
            null_on_timeout: true,
        }
    }

    fn remove_locked(&self, inner: &mut Inner, id: u64) -> Option<Waiter> {
        let w = inner.waiters.remove(&id)?;
        for k in &w.keys {
            let qk = (w.db, k.clone());
            if let Some(q) = inner.queues.get_mut(&qk) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    inner.queues.remove(&qk);
                }
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        Some(w)
    }

    /// Forgets a waiter (timeout, disconnection). Returns whether it was still registered.
    pub fn cancel(&self, id: u64) -> bool {
        let mut inner = self.inner.lock();
        self.remove_locked(&mut inner, id).is_some()
    }

    /// CLIENT UNBLOCK: wakes a blocked client with a timeout or an error.
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let mut inner = self.inner.lock();
        match self.remove_locked(&mut inner, id) {
            Some(w) => {
                let _ = w.tx.send(if error { Wake::Error } else { Wake::Timeout });
                true
            }
            None => false,
        }
    }

    /// Wakes every blocked client with `error` (a RESP error line), then closes it: Redis's
    /// disconnectAllBlockedClients, when a server turns into a replica. Returns how many.
    pub fn unblock_all(&self, error: &[u8]) -> usize {
        let mut inner = self.inner.lock();
        let ids: Vec<u64> = inner.waiters.keys().copied().collect();
        for id in &ids {
            if let Some(w) = self.remove_locked(&mut inner, *id) {
                let _ = w.tx.send(Wake::ReplyClose(error.to_vec()));
            }
        }
        ids.len()
    }

    /// Keys with at least one waiter that is also woken by the key's deletion (XREADGROUP):
    /// INFO's `total_blocking_keys_on_nokey`.
    pub fn keys_on_nokey(&self) -> usize {
        let inner = self.inner.lock();
        inner
            .queues
            .values()
            .filter(|q| {
                q.iter().any(|id| {
                    inner
                        .waiters
                        .get(id)
                        .is_some_and(|w| w.kind == Kind::Stream { nokey: true })
                })
            })
            .count()
    }

    /// Every (db, key) with waiters in the given dbs (after FLUSHALL/SWAPDB-like writes).
    pub fn waited_keys(&self) -> Vec<(usize, Vec<u8>)> {
        self.inner.lock().queues.keys().cloned().collect()
    }
}

/// Serves the waiters of `ready` keys, in order, until each key has no data or no waiters.
/// Call with no shard lock held.
pub fn serve_ready(server: &Server, worker: &WorkerStats, mut ready: Vec<(usize, Vec<u8>)>) {
    let blocking = &server.blocking;
    let mut guard_rounds = 0usize;
    // Keys are served in the order they became ready, as Redis does.
    let mut next = 0;
    while next < ready.len() {
        let (db, key) = ready[next].clone();
        next += 1;
        guard_rounds += 1;
        if guard_rounds > 1_000_000 {
            break; // defensive: never spin forever on a misbehaving command
        }
        if db == ALL_DBS {
            ready.extend(blocking.waited_keys());
            continue;
        }
        // The waiters present now, in the order they blocked (Redis serves no more than the
        // initial count, so a waiter that blocks meanwhile waits for the next write).
        let queued: Vec<u64> = match blocking.inner.lock().queues.get(&(db, key.clone())) {
            Some(q) => q.iter().copied().collect(),
            None => continue,
        };
        // A pop waiter found nothing: the pop waiters behind it would find nothing either.
        let mut pops_exhausted = false;
        for id in queued {
            let (template, kind, shared) = {
                let inner = blocking.inner.lock();
                match inner.waiters.get(&id) {
                    Some(w) if !pops_exhausted || matches!(w.kind, Kind::Stream { .. }) => {
                        (w.template.clone(), w.kind, w.shared.clone())
                    }
                    _ => continue,
                }
            };
            let args: Vec<Vec<u8>> = template
                .iter()
                .map(|a| {
                    if a.as_slice() == KEY_SLOT {
                        key.clone()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let argv: SmallVec<[&[u8]; 8]> = args.iter().map(|a| a.as_slice()).collect();
            let Ok(entry) = server.registry.resolve(&argv) else {
                continue;
            };
            // Permissions may have changed while it waited: Redis checks the command again
            // when it reprocesses it, and a denial unblocks the client with the error.
            let user = shared.user.lock().clone();
            if !server.acl.unrestricted(&user) {
                if let Err((_, msg)) = crate::acl::check_as(
                    server,
                    &user,
                    &shared,
                    entry.def,
                    &argv,
                    crate::acl::LogContext::Toplevel,
                ) {
                    let mut inner = blocking.inner.lock();
                    if let Some(w) = blocking.remove_locked(&mut inner, id) {
                        let msg = format!("NOPERM {msg}");
                        worker.count_error(msg.as_bytes());
                        crate::server::bump(&worker.rejected_calls, 1);
                        if let Some(stat) =
                            worker.commands.get(shared.last_cmd.load(Ordering::Relaxed))
                        {
                            crate::server::bump(&stat.rejected, 1);
                        }
                        let _ =
                            w.tx.send(Wake::Rejected(format!("-{msg}\r\n").into_bytes()));
                    }
                    continue;
                }
            }
            // Lock the shards the non-blocking command needs (its keys, a destination).
            let ks = &server.keyspace;
            let mut pos = Vec::new();
            let _ = cinnabar_commands::key_positions(entry.def, &argv, &mut pos);
            let mut shards: SmallVec<[usize; 8]> =
                pos.iter().map(|&i| ks.shard_of_key(argv[i])).collect();
            shards.push(ks.shard_of_key(&key));
            let mut locked = ks.lock_shards(&mut shards);
            let mut inner = blocking.inner.lock();
            // Still waiting on this key? (It may have timed out or been served meanwhile.)
            if !inner
                .queues
                .get(&(db, key.clone()))
                .is_some_and(|q| q.contains(&id))
            {
                continue;
            }
            // A key that is missing or holds another type leaves the waiter blocked, as in
            // Redis, except an XREADGROUP waiter, which learns that its group is gone.
            let h = cinnabar_engine::hash_key(&key);
            let now = server.now_ms();
            let db_ref = locked.db(db, h);
            let fits = match db_ref.lookup(h, &key, now) {
                Some(slot) => match db_ref.entry(slot).value() {
                    cinnabar_engine::ValueRef::Obj(o) => {
                        o.type_name() == expected_type(kind, &args[0])
                    }
                    _ => false,
                },
                None => false,
            };
            if cinnabar_engine::db::has_expired() {
                // The lookup expired the key: its effects go out under its lock.
                crate::dispatch::sink::expired(server, None, crate::propagate::on(server));
            }
            if !fits && !matches!(kind, Kind::Stream { nokey: true }) {
                if !matches!(kind, Kind::Stream { .. }) {
                    pops_exhausted = true;
                }
                continue;
            }
            let w = &inner.waiters[&id];
            let mut out = ReplyBuf::new(w.proto);
            let mut client = Client::new(id, w.shared.clone(), true, true);
            client.db = db;
            // Counted as the blocking command, when it ran first.
            client.uncounted = crate::dispatch::Uncounted::CallOnly;
            // A re-run read never blocks (as inside EXEC).
            client.in_exec = matches!(kind, Kind::Stream { .. });
            run_locked(
                server,
                worker,
                &mut client,
                &mut out,
                &argv,
                entry,
                &mut locked,
            );
            // An error (BRPOPLPUSH into a key of the wrong type, XREADGROUP whose group is
            // gone) unblocks with that error.
            let mut reply = if out.buf.first() == Some(&b'-') {
                out.buf.clone()
            } else {
                match shape(kind, w.proto, &key, &out.buf) {
                    Some(r) => r,
                    None => {
                        // Nothing for this waiter: it keeps waiting.
                        if !matches!(kind, Kind::Stream { .. }) {
                            pops_exhausted = true;
                        }
                        ready.append(&mut client.ready_keys);
                        continue;
                    }
                }
            };
            // Pushes for the waiter its command caused (invalidations, BCAST ones batched
            // per command) follow its reply, as for a command the client runs itself.
            if !client.pubsub.bcast_batch.is_empty() {
                crate::tracking::flush_bcast(server, &mut client);
            }
            reply.append(&mut client.pubsub.pending);
            let w = blocking
                .remove_locked(&mut inner, id)
                .expect("waiter present");
            let _ = w.tx.send(Wake::Reply(reply));
            drop(inner);
            drop(locked);
            // A move may have made its destination ready in turn.
            ready.append(&mut client.ready_keys);
        }
    }
}

/// The type a waiter's non-blocking command reads from.
fn expected_type(kind: Kind, cmd: &[u8]) -> &'static str {
    if matches!(kind, Kind::Stream { .. }) {
        "stream"
    } else if cmd.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'z')) {
        "zset"
    } else {
        "list"
    }
}

/// Turns the non-blocking command's reply into the blocking command's reply, or None when
/// it popped nothing (null, empty array) or failed.
pub fn shape(kind: Kind, proto: Protocol, key: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
    let (frame, _) = Frame::parse(raw).ok()??;
    let empty = match &frame {
        Frame::Null | Frame::Error(_) => true,
        Frame::Array(v) => v.is_empty(),
        _ => false,
    };
    if empty {
        return None;
    }
    let encode = |f: Frame| {
        let mut v = Vec::new();
        if proto == Protocol::Resp3 {
            f.encode(&mut v)
        } else {
            f.encode_resp2(&mut v)
        }
        v
    };
    let keyf = Frame::Bulk(key.to_vec().into());
    Some(match kind {
        Kind::Rewrite | Kind::Stream { .. } => raw.to_vec(),
        Kind::PopOne { .. } => encode(Frame::Array(vec![keyf, frame])),
        Kind::ZPopOne { .. } => {
            let mut items = vec![keyf];
            match frame {
                Frame::Array(v) => {
                    // ZPOPMIN without count: [member, score] (RESP3 may nest one pair).
                    for f in v {
                        match f {
                            Frame::Array(inner) => items.extend(inner),
                            other => items.push(other),
                        }
                    }
                }
                other => items.push(other),
            }
            encode(Frame::Array(items))
        }
    })
}
