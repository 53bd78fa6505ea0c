//! Client memory and client eviction (`maxmemory-clients`), as Redis 7.2.
//!
//! Every connection publishes what it holds in its `ClientShared` record (query buffer,
//! arguments of the running command, MULTI queue, reply buffer and unsent replies, mailbox,
//! watched keys, subscriptions, tracking prefixes); [`tot_mem`] adds them up, and CLIENT
//! LIST's `tot-mem` is that sum. Each client's last sum is kept in `ClientShared::mem` and
//! the sum over all clients in [`ClientMem::total`], updated by deltas when a connection
//! [`update`]s after a read or a batch of commands (a swap and, only when the figure changed,
//! one add to the total), so the hot path pays nothing more while memory stays the same.
//!
//! While `maxmemory-clients` is set (bytes, or a percentage of `maxmemory`) and the total
//! reaches it, [`evict`] closes the biggest clients first until it is below, skipping clients
//! with `CLIENT NO-EVICT on` and replicas (their memory still counts, as in Redis). It runs
//! on the connection that found the total over the limit (after its read or its batch; a
//! publisher also after the batch whose messages filled a subscriber's mailbox), and at once
//! on CONFIG SET of the limit and CLIENT NO-EVICT off.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::server::{ClientShared, Server};

/// Process-wide client memory figures.
#[derive(Default)]
pub struct ClientMem {
    /// Sum of `ClientShared::mem` over connected clients (INFO `mem_clients_normal`).
    pub total: AtomicUsize,
    /// `maxmemory-clients` in bytes (a percentage resolved against `maxmemory`); 0: off.
    pub limit: AtomicUsize,
    /// Clients closed by client eviction (INFO `evicted_clients`).
    pub evicted: AtomicU64,
}

/// What a client costs before it buffers anything: its two records.
pub const BASE: usize =
    std::mem::size_of::<ClientShared>() + std::mem::size_of::<crate::dispatch::Client>();

/// Per watched key, per subscription and per tracking prefix: the bookkeeping around the
/// name (Redis counts the list node and watchedKey, the dict entry, the rax node).
pub const PER_WATCHED_KEY: usize = 64;
pub const PER_SUBSCRIPTION: usize = 48;
pub const PER_PREFIX: usize = 64;

/// A client's memory as CLIENT LIST `tot-mem` reports it.
pub fn tot_mem(c: &ClientShared) -> usize {
    let qbuf_cap = c
        .qbuf_cap
        .load(Ordering::Relaxed)
        .max(c.qbuf.load(Ordering::Relaxed));
    qbuf_cap
        + c.argv_mem.load(Ordering::Relaxed)
        + c.multi_mem.load(Ordering::Relaxed)
        + c.rbs.load(Ordering::Relaxed)
        + c.mailbox_mem.load(Ordering::Relaxed)
        + c.extra_mem.load(Ordering::Relaxed)
        + BASE
}

/// Recomputes a client's memory and brings the total up to date. Returns true when the
/// total now reaches the limit (the caller then runs [`evict`]).
#[inline]
pub fn update(server: &Server, c: &ClientShared) -> bool {
    if !c.mem_tracked.load(Ordering::Relaxed) {
        return false;
    }
    let now = tot_mem(c);
    let old = c.mem.swap(now, Ordering::Relaxed);
    let cm = &server.client_mem;
    if now != old {
        if now > old {
            cm.total.fetch_add(now - old, Ordering::Relaxed);
        } else {
            cm.total.fetch_sub(old - now, Ordering::Relaxed);
        }
    }
    let limit = cm.limit.load(Ordering::Relaxed);
    limit != 0 && cm.total.load(Ordering::Relaxed) >= limit
}

/// [`update`], then [`evict`] if the clients are over the limit. False when this client was
/// evicted itself.
pub fn check(server: &Server, c: &ClientShared) -> bool {
    if update(server, c) {
        evict(server);
    }
    !c.killed.load(Ordering::Relaxed)
}

/// Takes a client out of the total: it left, or it became a replica (whose memory Redis
/// counts apart, as `mem_clients_slaves`).
pub fn forget(server: &Server, c: &ClientShared) {
    c.mem_tracked.store(false, Ordering::Relaxed);
    let old = c.mem.swap(0, Ordering::Relaxed);
    server.client_mem.total.fetch_sub(old, Ordering::Relaxed);
}

/// Recomputes `maxmemory-clients` in bytes (after CONFIG SET of it or of `maxmemory`) and
/// evicts at once if the clients are over the new limit, as Redis does.
pub fn configure(server: &Server) {
    let v = server.config.get("maxmemory-clients");
    let limit = match v.strip_suffix('%') {
        Some(p) => {
            let pct: u64 = p.parse().unwrap_or(0);
            let maxmemory = server.config.get_i64("maxmemory").max(0) as u64;
            (maxmemory * pct / 100) as usize
        }
        None => server.config.get_i64("maxmemory-clients").max(0) as usize,
    };
    server.client_mem.limit.store(limit, Ordering::Relaxed);
    if limit != 0 && server.client_mem.total.load(Ordering::Relaxed) >= limit {
        evict(server);
    }
}

/// Closes the biggest evictable clients until the total is under the limit. Each victim
/// leaves the total at once (its connection closes as soon as its worker gets to it).
pub fn evict(server: &Server) {
    let cm = &server.client_mem;
    let limit = cm.limit.load(Ordering::Relaxed);
    if limit == 0 {
        return;
    }
    let clients = server.clients.lock();
    // Refresh every figure first: mailboxes grow from other threads.
    for c in clients.values() {
        update(server, c);
    }
    if cm.total.load(Ordering::Relaxed) < limit {
        return;
    }
    let mut candidates: Vec<(usize, &std::sync::Arc<ClientShared>)> = clients
        .values()
        .filter(|c| {
            c.mem_tracked.load(Ordering::Relaxed)
                && !c.no_evict.load(Ordering::Relaxed)
                && !c.killed.load(Ordering::Relaxed)
        })
        .map(|c| (c.mem.load(Ordering::Relaxed), c))
        .collect();
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    for (_, c) in candidates {
        if cm.total.load(Ordering::Relaxed) < limit {
            return;
        }
        tracing::info!(
            "Evicting client: id={} addr={} tot-mem={}",
            c.id,
            c.addr,
            c.mem.load(Ordering::Relaxed)
        );
        forget(server, c);
        c.kill_locked();
        cm.evicted.fetch_add(1, Ordering::Relaxed);
    }
    if cm.total.load(Ordering::Relaxed) >= limit {
        tracing::warn!("Over client maxmemory after evicting all evictable clients");
    }
}
