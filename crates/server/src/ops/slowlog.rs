//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than` microseconds, newest
//! first, at most `slowlog-max-len` of them, as Redis 7.2 keeps them.
//!
//! Entries hold the command as the client sent it (a rewritten command such as SPOP or
//! GEOADD is logged as typed), at most 32 arguments (the last one then says how many more
//! there were) of at most 128 bytes each (with how many bytes were cut), passwords
//! redacted, the client's address and name. The check on the hot path is one relaxed load
//! of the threshold and a comparison; only a slow command takes the log's mutex.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::dispatch::Client;
use crate::server::Server;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

pub struct Entry {
    pub id: u64,
    /// Unix time in seconds.
    pub time: i64,
    pub usec: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.inner.lock().entries.clear();
    }

    /// Calls `f` with the `count` newest entries, newest first.
    pub fn newest(&self, count: usize, mut f: impl FnMut(&Entry)) {
        let inner = self.inner.lock();
        for e in inner.entries.iter().take(count) {
            f(e);
        }
    }
}

/// Logs a command that took `usec` microseconds, if that is slow enough. Called by dispatch
/// after every command it runs for a client (not for a blocked command before it is served).
#[inline]
pub fn maybe_push(server: &Server, client: &Client, args: &[&[u8]], usec: u64) {
    let threshold = server
        .config
        .live
        .slowlog_slower_than
        .load(Ordering::Relaxed);
    if threshold >= 0 && usec >= threshold as u64 {
        push(server, client, args, usec);
    }
}

#[cold]
#[inline(never)]
fn push(server: &Server, client: &Client, args: &[&[u8]], usec: u64) {
    let max_len = server.config.live.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let kept = args.len().min(MAX_ARGC);
    let mut logged: Vec<Vec<u8>> = Vec::with_capacity(kept);
    super::redact::for_each(args, |i, a| {
        if i >= kept {
            return;
        }
        if kept != args.len() && i == kept - 1 {
            logged.push(format!("... ({} more arguments)", args.len() - kept + 1).into_bytes());
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            logged.push(s);
        } else {
            logged.push(a.to_vec());
        }
    });
    let name = client.shared.name.lock().clone();
    let mut inner = server.ops.slowlog.inner.lock();
    let id = inner.next_id;
    inner.next_id += 1;
    inner.entries.push_front(Entry {
        id,
        time: crate::server::now_ms() / 1000,
        usec,
        args: logged,
        addr: client.shared.addr.clone(),
        name,
    });
    inner.entries.truncate(max_len);
}
