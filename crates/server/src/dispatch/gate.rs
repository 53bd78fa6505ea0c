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
//! pattern: both sides store, then load, with sequential consistency). It sleeps on a
//! condition variable meanwhile: a thread leaving its command while the flag is set wakes it.
//! Nothing spins.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

/// How often an exclusive entry that waits for others looks again without being woken: to
/// re-ask whether to give up (a busy script does not wake it), and after the rare missed
/// wake-up (see `Entered::drop`).
const GIVE_UP_POLL: Duration = Duration::from_millis(10);

pub struct Gate {
    /// Tells this gate's slots from another gate's in a thread's cache (a gate dropped and
    /// another made at the same address must not match).
    uid: u64,
    /// Set while an exclusive section runs or waits for the others to leave.
    exclusive: AtomicBool,
    /// Held by the exclusive section for its whole run: exclusive sections one at a time,
    /// and what a command that met the flag waits on.
    lock: Mutex<()>,
    /// The threads that entered, in registration order. A slot is shared with its thread's
    /// `HELD` while that thread lives and this is its current gate; once only this list holds
    /// it and it is outside any command, the next registration drops it (transient threads,
    /// such as a DEBUG RELOAD loader, leave nothing behind).
    slots: Mutex<Vec<Arc<Slot>>>,
    /// Where the exclusive section sleeps until the others left their commands; a thread
    /// that leaves while `exclusive` is set notifies it under `left`.
    left: Mutex<()>,
    left_cv: Condvar,
}

impl Default for Gate {
    fn default() -> Gate {
        static UIDS: AtomicU64 = AtomicU64::new(1);
        Gate {
            uid: UIDS.fetch_add(1, Ordering::Relaxed),
            exclusive: AtomicBool::new(false),
            lock: Mutex::new(()),
            slots: Mutex::new(Vec::new()),
            left: Mutex::new(()),
            left_cv: Condvar::new(),
        }
    }
}

#[repr(align(128))]
struct Slot {
    /// How deep this thread is in commands (0: outside any).
    depth: AtomicU32,
    thread: ThreadId,
}

thread_local! {
    /// This thread's slot in the last gate it entered (one server per thread in practice):
    /// the gate's uid and the slot, which `HELD` keeps alive. A plain cell: the fast path.
    static SLOT: Cell<(u64, *const Slot)> = const { Cell::new((0, std::ptr::null())) };
    /// The slot `SLOT` points to, owned: released when the thread ends (or enters another
    /// gate), which is how its gate learns the slot can go.
    static HELD: RefCell<Option<Arc<Slot>>> = const { RefCell::new(None) };
}

/// Inside the gate until dropped.
pub struct Entered<'a> {
    gate: &'a Gate,
    slot: &'a Slot,
    exclusive: Option<MutexGuard<'a, ()>>,
}

impl Gate {
    #[inline]
    fn slot(&self) -> &Slot {
        let (uid, ptr) = SLOT.with(Cell::get);
        if uid == self.uid {
            // SAFETY: cached by this thread for this gate (uids are never reused), pointing
            // into the Arc that this thread's `HELD` owns until it registers elsewhere.
            return unsafe { &*ptr };
        }
        self.register()
    }

    #[cold]
    fn register(&self) -> &Slot {
        let me = std::thread::current().id();
        let mut slots = self.slots.lock();
        // Slots of threads gone (or moved to another gate) and outside any command: no one
        // can reach them any more but this list (an exclusive section's snapshot holds its
        // own clones, so it keeps what it walks).
        slots.retain(|x| Arc::strong_count(x) > 1 || x.depth.load(Ordering::SeqCst) != 0);
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
        let ptr = Arc::as_ptr(&slot);
        SLOT.with(|c| c.set((self.uid, ptr)));
        HELD.with(|h| *h.borrow_mut() = Some(slot));
        // SAFETY: as in `slot`: `HELD` keeps this Arc alive until this thread registers again.
        unsafe { &*ptr }
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
            if let Some(g) = self.enter_exclusive(slot, &give_up) {
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
        me: &Slot,
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
            .filter(|s| !std::ptr::eq(Arc::as_ptr(s), me))
            .cloned()
            .collect();
        for s in &others {
            if s.depth.load(Ordering::SeqCst) == 0 {
                continue;
            }
            // Checked under `left`, which the leaving thread takes to notify after its
            // store: a leave between the check and the wait cannot be missed.
            let mut left = self.left.lock();
            while s.depth.load(Ordering::SeqCst) != 0 {
                if give_up() {
                    drop(left);
                    self.exclusive.store(false, Ordering::SeqCst);
                    me.depth.store(0, Ordering::Release);
                    return None;
                }
                self.left_cv.wait_for(&mut left, GIVE_UP_POLL);
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
            self.slot.depth.store(depth - 1, Ordering::Release);
            // The exclusive guard drops after this, letting waiting commands in.
            return;
        }
        self.slot.depth.store(depth - 1, Ordering::Release);
        // Leaving the outermost command while an exclusive section waits for the others:
        // wake it. No fence between the store and this load (a locked instruction per
        // command): in the rare race where this load runs ahead of the store, the waiter
        // misses this wake-up and sees the store at its next poll, `GIVE_UP_POLL` later.
        if depth == 1 && self.gate.exclusive.load(Ordering::Relaxed) {
            let _left = self.gate.left.lock();
            self.gate.left_cv.notify_all();
        }
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

    /// A thread that enters several gates (in-process servers of one test) has a slot in
    /// each; a gate made after another one was dropped never takes the old one's slot.
    #[test]
    fn a_thread_has_a_slot_per_gate() {
        let a = Gate::default();
        let b = Gate::default();
        for _ in 0..3 {
            let ea = a.enter(false, || false);
            let eb = b.enter(false, || false);
            assert!(!std::ptr::eq(ea.slot, eb.slot));
            assert_eq!(ea.slot.depth.load(Ordering::Relaxed), 1);
            assert_eq!(eb.slot.depth.load(Ordering::Relaxed), 1);
        }
        assert_eq!(a.slots.lock().len(), 1);
        drop(a);
        let c = Gate::default();
        drop(c.enter(false, || false));
        assert_eq!(c.slots.lock().len(), 1);
        assert_eq!(b.slots.lock().len(), 1);
    }

    /// Threads that ran a command and ended leave no slot behind once another registers;
    /// a live thread's slot stays.
    #[test]
    fn slots_of_ended_threads_are_dropped() {
        let gate = Arc::new(Gate::default());
        drop(gate.enter(false, || false));
        for _ in 0..10 {
            let g = gate.clone();
            std::thread::spawn(move || drop(g.enter(false, || false)))
                .join()
                .unwrap();
        }
        // Each new thread dropped the one before it: this thread's slot and the last one.
        assert_eq!(gate.slots.lock().len(), 2);
        let g = gate.clone();
        std::thread::spawn(move || drop(g.enter(false, || false)))
            .join()
            .unwrap();
        assert_eq!(gate.slots.lock().len(), 2);
        // This thread's slot survived all of it and still works.
        let e = gate.enter(false, || false);
        assert_eq!(e.slot.depth.load(Ordering::Relaxed), 1);
    }
}
