//! The command gate: lets a transaction run alone on the server, as single-threaded Redis runs
//! every EXEC.
//!
//! Shard locks isolate what commands do to keys, but a command also reads server state before
//! and outside its locks: maxmemory, the replica role, ACL users, the loading flag, its own
//! client's existence... A transaction that changes such state with keyless commands
//! (`MULTI; CONFIG SET maxmemory 1; ...; CONFIG SET maxmemory 0; EXEC`, Sentinel's
//! `MULTI; SLAVEOF; CONFIG REWRITE; CLIENT KILL; EXEC`) must not let another client's command
//! run in between, on any core. Such a transaction is *exclusive* (see
//! `CmdEntry::tx_exclusive`): its EXEC waits until no other thread is inside a command, and
//! no command starts until it is done.
//!
//! Cost for everything else: each thread that runs commands has its own slot (a cache line of
//! its own). Entering a command is a swap on that slot and a load of the shared `exclusive`
//! flag (read-mostly, never written while no exclusive transaction runs); leaving is a store.
//! The exclusive side sets the flag, then waits for every other slot to be idle (Dekker's
//! pattern: both sides store, then load, with sequential consistency).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

#[derive(Default)]
pub struct Gate {
    /// Set while an exclusive section runs or waits for the others to leave.
    exclusive: AtomicBool,
    /// Held by the exclusive section for its whole run: exclusive sections one at a time,
    /// and what a command that met the flag waits on.
    lock: Mutex<()>,
    /// Every thread that ever entered, in registration order.
    slots: Mutex<Vec<Arc<Slot>>>,
}

#[repr(align(128))]
struct Slot {
    /// How deep this thread is in commands (0: outside any).
    depth: AtomicU32,
    thread: ThreadId,
}

thread_local! {
    /// This thread's slot in the last gate it entered (one server per thread in practice).
    static SLOT: RefCell<Option<(usize, Arc<Slot>)>> = const { RefCell::new(None) };
}

/// Inside the gate until dropped.
pub struct Entered<'a> {
    gate: &'a Gate,
    slot: Arc<Slot>,
    exclusive: Option<MutexGuard<'a, ()>>,
}

impl Gate {
    fn slot(&self) -> Arc<Slot> {
        let id = self as *const Gate as usize;
        SLOT.with(|s| {
            let mut s = s.borrow_mut();
            if let Some((g, slot)) = s.as_ref() {
                if *g == id {
                    return slot.clone();
                }
            }
            let me = std::thread::current().id();
            let mut slots = self.slots.lock();
            let slot = match slots.iter().find(|x| x.thread == me) {
                Some(x) => x.clone(),
                None => {
                    let x = Arc::new(Slot {
                        depth: AtomicU32::new(0),
                        thread: me,
                    });
                    slots.push(x.clone());
                    x
                }
            };
            *s = Some((id, slot.clone()));
            slot
        })
    }

    /// Enters a command. With `exclusive` (an EXEC whose queue needs it, see
    /// [`wants_exclusive`]), waits until no other thread is in a command and keeps every
    /// other one out until the guard drops; `give_up` is polled while waiting and, once it
    /// says so, the command enters normally instead (a busy script: EXEC must answer BUSY at
    /// once, as in Redis, not wait for the script's end). Reentrant: a nested entry on the
    /// same thread only counts.
    #[inline]
    pub fn enter(&self, exclusive: bool, give_up: impl Fn() -> bool) -> Entered<'_> {
        let slot = self.slot();
        let depth = slot.depth.load(Ordering::Relaxed);
        if depth > 0 {
            slot.depth.store(depth + 1, Ordering::Relaxed);
            return Entered {
                gate: self,
                slot,
                exclusive: None,
            };
        }
        if exclusive {
            if let Some(g) = self.enter_exclusive(&slot, &give_up) {
                return Entered {
                    gate: self,
                    slot,
                    exclusive: Some(g),
                };
            }
        }
        loop {
            slot.depth.swap(1, Ordering::SeqCst);
            if !self.exclusive.load(Ordering::SeqCst) {
                return Entered {
                    gate: self,
                    slot,
                    exclusive: None,
                };
            }
            // An exclusive transaction runs or is about to: step out and wait for its end.
            slot.depth.store(0, Ordering::Release);
            drop(self.lock.lock());
        }
    }

    #[cold]
    fn enter_exclusive(
        &self,
        me: &Arc<Slot>,
        give_up: &impl Fn() -> bool,
    ) -> Option<MutexGuard<'_, ()>> {
        let guard = self.lock.lock();
        me.depth.store(1, Ordering::Relaxed);
        self.exclusive.store(true, Ordering::SeqCst);
        // A thread registering after this snapshot sees the flag before running anything.
        let others: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .iter()
            .filter(|s| !Arc::ptr_eq(s, me))
            .cloned()
            .collect();
        let mut spins = 0u32;
        for s in &others {
            while s.depth.load(Ordering::SeqCst) != 0 {
                if give_up() {
                    self.exclusive.store(false, Ordering::SeqCst);
                    me.depth.store(0, Ordering::Release);
                    return None;
                }
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else if spins < 200 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        Some(guard)
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        let depth = self.slot.depth.load(Ordering::Relaxed);
        if self.exclusive.is_some() {
            self.gate.exclusive.store(false, Ordering::SeqCst);
        }
        self.slot.depth.store(depth - 1, Ordering::Release);
        // The exclusive guard (if any) drops after this, letting waiting commands in.
    }
}

/// Whether running `args` now needs the gate alone: an EXEC of a transaction that queued an
/// exclusive command (see `CmdEntry::tx_exclusive`).
#[inline]
pub fn wants_exclusive(client: &super::Client, args: &[&[u8]]) -> bool {
    client.multi.as_ref().is_some_and(|m| m.exclusive) && args[0].eq_ignore_ascii_case(b"exec")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// While an exclusive section runs, no other thread is inside a command; nested entries
    /// only count.
    #[test]
    fn exclusive_section_runs_alone() {
        let gate = Arc::new(Gate::default());
        let inside = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (gate, inside, stop) = (gate.clone(), inside.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _e = gate.enter(false, || false);
                    let _nested = gate.enter(false, || false);
                    inside.fetch_add(1, Ordering::SeqCst);
                    std::hint::spin_loop();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            }));
        }
        for _ in 0..200 {
            let _e = gate.enter(true, || false);
            assert_eq!(inside.load(Ordering::SeqCst), 0);
            std::thread::yield_now();
            assert_eq!(inside.load(Ordering::SeqCst), 0);
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }

    /// An exclusive entry that gives up enters as an ordinary command.
    #[test]
    fn exclusive_entry_can_give_up() {
        let gate = Arc::new(Gate::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let t = std::thread::spawn(move || {
            let _e = g.enter(false, || false);
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        let e = gate.enter(true, || true);
        assert!(e.exclusive.is_none());
        drop(e);
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
