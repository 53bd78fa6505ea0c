//! Client-side caching (CLIENT TRACKING): which clients may cache which keys, and the
//! invalidation messages sent when those keys change.
//!
//! Two tables, both behind one mutex that is touched only while someone tracks (an atomic
//! count keeps the hot path at one relaxed load otherwise):
//! - default mode: key -> ids of clients that read it since its last invalidation
//!   (Redis's TrackingTable); a write sends the key to each and forgets them;
//! - BCAST mode: prefix -> ids of clients that registered it; a write sends the key to every
//!   client whose prefix matches.
//!
//! Invalidations go through the target client's mailbox (see pubsub.rs): as a RESP3
//! `>2 invalidate [keys]` push, or, with REDIRECT, as a `message __redis__:invalidate [keys]`
//! to the redirect client (which must be subscribed to that channel in RESP2).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::dispatch::Client;
use crate::server::Server;

/// Per-client tracking options (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Box<[u8]>>,
}

/// The server-wide tracking tables.
#[derive(Default)]
pub struct Table {
    /// Clients with tracking on.
    pub clients: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<Box<[u8]>, HashSet<u64>>,
    prefixes: HashMap<Box<[u8]>, HashSet<u64>>,
    /// Options of every tracking client (for CLIENT LIST and invalidation routing).
    options: HashMap<u64, Options>,
    /// Redirect targets that went away: the client is told once (tracking-redir-broken).
    broken: HashSet<u64>,
}

/// Turns tracking off for a client (CLIENT TRACKING OFF, RESET, disconnection).
pub fn disable(server: &Server, client: &mut Client) {
    if client.pubsub.tracking.take().is_none() {
        return;
    }
    let mut t = server.tracking.inner.lock();
    if let Some(o) = t.options.remove(&client.id) {
        for p in &o.prefixes {
            if let Some(s) = t.prefixes.get_mut(p) {
                s.remove(&client.id);
                if s.is_empty() {
                    t.prefixes.remove(p);
                }
            }
        }
    }
    t.broken.remove(&client.id);
    server.tracking.clients.fetch_sub(1, Ordering::Relaxed);
}

/// CLIENT LIST flags and redir field of a client.
pub fn list_info(server: &Server, id: u64) -> (String, i64) {
    if server.tracking.clients.load(Ordering::Relaxed) == 0 {
        return (String::new(), -1);
    }
    let t = server.tracking.inner.lock();
    match t.options.get(&id) {
        None => (String::new(), -1),
        Some(o) => {
            let mut f = String::from("t");
            if t.broken.contains(&id) {
                f.push('R');
            }
            if o.bcast {
                f.push('B');
            }
            (
                f,
                if o.redirect > 0 {
                    o.redirect as i64
                } else {
                    -1
                },
            )
        }
    }
}
