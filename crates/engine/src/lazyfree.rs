//! Freeing big values off the command path.
//!
//! Dropping a collection of millions of elements takes milliseconds, and it would happen under
//! a shard lock, stalling every client of that shard. Values whose free effort (roughly their
//! number of allocations, as Redis's LAZYFREE_THRESHOLD counts it) is above [`THRESHOLD`] are
//! handed to one background thread instead; small values are dropped in place, which is
//! cheaper than the hand-over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use crate::db::Table;
use crate::entry::{Entry, ValueRef};
use crate::object::Object;

/// Values with more allocations than this are freed in the background (Redis uses 64).
pub const THRESHOLD: usize = 64;

/// Anything to drop on the background thread, with the number of objects (keys) it holds.
type Garbage = (Box<dyn Send>, usize);

static QUEUE: OnceLock<Mutex<Sender<Garbage>>> = OnceLock::new();

/// Objects handed to the background thread and not freed yet (INFO's
/// lazyfree_pending_objects), and objects it has freed since the last reset
/// (lazyfreed_objects). As in Redis, a value counts one and a flushed table one per key.
static PENDING: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

/// Objects waiting to be freed in the background.
pub fn pending_objects() -> usize {
    PENDING.load(Ordering::Relaxed)
}

/// Objects freed in the background since start-up or the last [`reset_stats`].
pub fn freed_objects() -> usize {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT: the freed count starts again from 0.
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}

fn send(g: Box<dyn Send>, objects: usize) {
    PENDING.fetch_add(objects, Ordering::Relaxed);
    let q = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Garbage>();
        let spawned = std::thread::Builder::new()
            .name("cinnabar-lazyfree".into())
            .spawn(move || {
                for (g, n) in rx {
                    drop(g);
                    FREED.fetch_add(n, Ordering::Relaxed);
                    PENDING.fetch_sub(n, Ordering::Relaxed);
                }
            });
        if spawned.is_err() {
            // No thread: the receiver is gone and every send fails, so values are dropped
            // where they are (synchronously), which is still correct.
        }
        Mutex::new(tx)
    });
    let failed = match q.lock() {
        Ok(tx) => tx.send((g, objects)).err().map(|e| e.0),
        Err(_) => Some((g, objects)),
    };
    if let Some((g, n)) = failed {
        // Freed here after all: nothing is pending.
        drop(g);
        PENDING.fetch_sub(n, Ordering::Relaxed);
    }
}

/// How much work freeing this entry's value takes, in allocations.
pub fn free_effort(e: &Entry) -> usize {
    match e.value() {
        ValueRef::Obj(Object::Str(_)) | ValueRef::Str(_) | ValueRef::Int(_) => 1,
        ValueRef::Obj(o) => match o {
            Object::List(l) => l.len() / 64 + 1,
            Object::Set(s) => s.len(),
            Object::Hash(h) => h.len(),
            Object::ZSet(z) => z.len(),
            Object::Stream(s) => s.free_effort(),
            Object::Str(_) => 1,
        },
    }
}

/// Frees a removed entry: in the background when it is big, here otherwise.
pub fn dispose(e: Entry) {
    if free_effort(&e) > THRESHOLD {
        send(Box::new(e), 1);
    }
}

/// Frees whole tables (FLUSHALL/FLUSHDB ASYNC) in the background.
pub fn dispose_tables(tables: Vec<Table>) {
    if !tables.is_empty() {
        let keys = tables.iter().map(Table::len).sum();
        send(Box::new(tables), keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::NewValue;

    #[test]
    fn free_effort_counts_elements_and_disposal_accepts_everything() {
        let small = Entry::new(b"k", NewValue::Int(1), None, 0);
        assert_eq!(free_effort(&small), 1);
        dispose(small);
        let mut table = Table::default();
        for i in 0..1000u32 {
            let key = i.to_be_bytes();
            table.insert_new(
                crate::hash_key(&key),
                Entry::new(&key, NewValue::Str(b"v"), None, 0),
            );
        }
        // Handed to the background thread; the call returns without freeing 1000 entries.
        dispose_tables(vec![table]);
    }
}
