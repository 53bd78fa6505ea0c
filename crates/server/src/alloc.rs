//! The process allocator: mimalloc, wrapped to count the bytes in use (INFO `used_memory`,
//! the figure `maxmemory` is compared with).
//!
//! # Why count ourselves
//! Redis counts every allocation it makes (zmalloc); eviction decisions are taken against that
//! number before every command, so it must be exact and cheap to read. mimalloc's own
//! statistics are only complete in its debug builds, and RSS lags behind frees (pages are
//! returned to the OS after a purge delay) and includes fragmentation, so neither can drive
//! eviction. This wrapper adds the *usable* size of each block (what the allocator really
//! set aside, size class rounding included) to a counter on allocation and subtracts it on
//! free.
//!
//! # Why it does not slow the hot path
//! One global counter updated by every allocation would be a cache line bouncing between all
//! cores on every command. Instead each thread owns a slot (its own cache line) that only it
//! writes, with a plain load and store (no locked instruction); the exact figure is the sum
//! of the slots, computed on demand (INFO, MEMORY STATS, eviction). For the per-command
//! `maxmemory` check, each thread also folds its changes into one shared approximate counter
//! once they reach [`PUBLISH`] bytes, so the check is one load of a rarely-written line; its
//! error is bounded (a few [`PUBLISH`] per thread), and the eviction path confirms with the
//! exact sum before acting (see `crate::evict`).
//!
//! Threads beyond the first [`OWNED`] (a process that spawns many short-lived threads, such
//! as the test suite) share one overflow slot updated with atomic adds: still exact, a
//! little slower. A thread that exits leaves its slot's total in place, which is right: the
//! blocks it allocated and did not free are still in use.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use libmimalloc_sys as mi;

/// Slots owned by one thread each; the last slot of [`SLOTS`] is the shared overflow slot.
const OWNED: usize = 255;
/// A thread publishes its change to [`APPROX`] once it reaches this many bytes (either sign).
pub const PUBLISH: isize = 32 * 1024;

#[repr(align(128))]
struct Slot(AtomicIsize);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot(AtomicIsize::new(0));
static SLOTS: [Slot; OWNED + 1] = [EMPTY; OWNED + 1];
/// Slots handed out so far (may exceed OWNED; those threads use the overflow slot).
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Sum of what threads have published: `used()` within a few PUBLISH per thread.
static APPROX: AtomicIsize = AtomicIsize::new(0);
/// `exact - APPROX` as last measured by [`resync`] (threads that exited with unpublished
/// changes would otherwise bias the approximation for good).
static CORRECTION: AtomicIsize = AtomicIsize::new(0);

const UNASSIGNED: usize = usize::MAX;

thread_local! {
    /// This thread's slot index, its change not yet published to APPROX, and its own net
    /// total (see [`thread_net`]). Const-initialised and without destructor: usable from
    /// inside the allocator, even during thread exit.
    static LOCAL: Cell<(usize, isize, isize)> = const { Cell::new((UNASSIGNED, 0, 0)) };
}

/// Adds `delta` bytes to this thread's counters.
#[inline]
fn note(delta: isize) {
    let (mut slot, mut pending, total) = LOCAL.get();
    if slot == UNASSIGNED {
        slot = NEXT.fetch_add(1, Ordering::Relaxed).min(OWNED);
    }
    let s = &SLOTS[slot].0;
    if slot < OWNED {
        // Only this thread writes its own slot: no read-modify-write needed.
        s.store(s.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    } else {
        s.fetch_add(delta, Ordering::Relaxed);
    }
    pending += delta;
    if !(-PUBLISH..PUBLISH).contains(&pending) {
        APPROX.fetch_add(pending, Ordering::Relaxed);
        pending = 0;
    }
    LOCAL.set((slot, pending, total + delta));
}

/// Bytes allocated minus bytes freed by the calling thread since it started: the difference
/// of two readings is exactly what the thread freed in between, whatever other threads did
/// meanwhile (eviction measures what each deletion gave back this way).
#[inline]
pub fn thread_net() -> isize {
    LOCAL.get().2
}

/// Bytes allocated and not yet freed, exactly: the sum of every thread's slot.
pub fn used() -> u64 {
    let n = NEXT.load(Ordering::Relaxed).min(OWNED);
    let mut sum: isize = SLOTS[OWNED].0.load(Ordering::Relaxed);
    for s in &SLOTS[..n] {
        sum += s.0.load(Ordering::Relaxed);
    }
    sum.max(0) as u64
}

/// [`used`] within a few [`PUBLISH`] per live thread, for one load per command.
#[inline]
pub fn used_approx() -> u64 {
    (APPROX.load(Ordering::Relaxed) + CORRECTION.load(Ordering::Relaxed)).max(0) as u64
}

/// Re-measures the approximation's drift (called by the cron thread a few times a second).
pub fn resync() {
    let exact = used() as isize;
    CORRECTION.store(exact - APPROX.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The counting allocator (installed as the global allocator of every binary that links
/// this crate: the server, and the test binaries that start servers in-process).
pub struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Whether mimalloc's plain calls already give `align`: every block is a whole number of
/// words from a word-aligned page start, so word alignment holds whatever the size (16 does
/// not: mimalloc has 24-byte blocks). The plain calls skip the aligned path's checks
/// (about 25 instructions per allocation); nearly every allocation asks for 8 or less.
#[inline]
fn plain_align(align: usize) -> bool {
    align <= std::mem::size_of::<usize>()
}

// SAFETY: every method forwards to mimalloc with the same arguments Rust's contract gives,
// and only reads the usable size of blocks mimalloc returned.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if plain_align(layout.align()) {
            mi::mi_malloc(layout.size())
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align())
        };
        if !p.is_null() {
            note(mi::mi_usable_size(p) as isize);
        }
        p.cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if plain_align(layout.align()) {
            mi::mi_zalloc(layout.size())
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align())
        };
        if !p.is_null() {
            note(mi::mi_usable_size(p) as isize);
        }
        p.cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        let p = ptr as *mut c_void;
        note(-(mi::mi_usable_size(p) as isize));
        mi::mi_free(p);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = mi::mi_usable_size(ptr as *const c_void) as isize;
        let q = if plain_align(layout.align()) {
            mi::mi_realloc(ptr.cast(), new_size)
        } else {
            mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align())
        };
        if !q.is_null() {
            note(mi::mi_usable_size(q) as isize - old);
        }
        q.cast()
    }
}

/// The block size mimalloc uses for a request of `size` bytes (its size class), so that
/// MEMORY USAGE reports what a value really takes.
pub fn good_size(size: usize) -> usize {
    // SAFETY: a pure function of its argument.
    unsafe { mi::mi_good_size(size) }
}

/// mimalloc v3's option numbers (`mi_option_t` in mimalloc.h of the bundled 3.x sources;
/// libmimalloc-sys names only the stable ones).
mod option {
    pub const PURGE_DELAY: i32 = 15;
    pub const ARENA_PURGE_MULT: i32 = 24;
    pub const ALLOW_THP: i32 = 43;
}

/// Turns transparent huge pages off for the process (`disable-thp yes`, the default).
/// Huge pages defeat returning memory: a 2 MB page stays resident while any of its 4 KB
/// pages is in use, and under an evicting churn of mixed sizes that kept RSS about 20% above
/// what the same data needs with them off (measured with the cache_bench example, see
/// docs/ARCHITECTURE.md). Idempotent.
pub fn disable_thp() {
    // SAFETY: prctl with these arguments only sets a flag of this process; mi_option_set is
    // a plain setter.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        if mi::mi_version() / 10000 == 3 {
            mi::mi_option_set(option::ALLOW_THP, 0);
        }
    }
}

/// Makes the allocator return freed memory to the OS promptly: pages emptied by eviction are
/// purged after `delay_ms` (mimalloc's default is one second, which lets RSS run ahead of a
/// churning `maxmemory` workload). Only applied to the mimalloc major version whose option
/// numbers [`option`] lists.
pub fn set_purge_delay(delay_ms: i64) {
    // SAFETY: plain getters/setters of mimalloc's option table.
    unsafe {
        if mi::mi_version() / 10000 == 3 {
            mi::mi_option_set(option::PURGE_DELAY, delay_ms as _);
            mi::mi_option_set(option::ARENA_PURGE_MULT, 1);
        }
    }
}

/// mimalloc's version as "major.minor.patch" (INFO mem_allocator).
pub fn version() -> String {
    // SAFETY: a plain getter.
    let v = unsafe { mi::mi_version() };
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// Lets the allocator hand back pages whose purge delay has passed. mimalloc purges only
/// when some allocation call of the process looks, so after a burst of writes that freed
/// blocks (a key table's old bucket array after a rebuild) an idle server kept them resident
/// (about 5 bytes per key after loading a million keys). Called once a second by the
/// eviction thread, like jemalloc's background decay for Redis; not forced, so pages still
/// within their delay stay for reuse.
pub fn collect_expired() {
    // SAFETY: mi_collect may be called at any time from any thread.
    unsafe { mi::mi_collect(false) }
}

/// Returns free memory to the OS now (MEMORY PURGE), as jemalloc's arena purge does for Redis.
pub fn purge() {
    // SAFETY: mi_collect may be called at any time from any thread.
    unsafe { mi::mi_collect(true) }
}

/// (committed bytes, peak committed bytes) as mimalloc reports them.
pub fn committed() -> (u64, u64) {
    let (mut commit, mut peak) = (0usize, 0usize);
    // SAFETY: every out-parameter is optional; we pass two valid pointers and nulls.
    unsafe {
        mi::mi_process_info(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut commit,
            &mut peak,
            std::ptr::null_mut(),
        );
    }
    (commit as u64, peak as u64)
}

/// mimalloc's statistics report (MEMORY MALLOC-STATS).
pub fn stats_text() -> String {
    unsafe extern "C" fn collect(msg: *const std::ffi::c_char, arg: *mut c_void) {
        // SAFETY: mimalloc passes a NUL-terminated message and our `arg` back.
        let out = &mut *(arg as *mut String);
        out.push_str(&std::ffi::CStr::from_ptr(msg).to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe { mi::mi_stats_print_out(Some(collect), (&mut out as *mut String).cast()) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations_and_frees_of_this_thread() {
        // Other test threads allocate concurrently, so measure this thread's own total.
        let mine = thread_net;
        let keep = vec![0u8; 1]; // make sure this thread has a slot
        let before = mine();
        let v: Vec<u8> = Vec::with_capacity(100_000);
        let during = mine();
        assert!(during - before >= 100_000, "{before} {during}");
        drop(v);
        assert_eq!(mine(), before);
        let mut w: Vec<u8> = Vec::with_capacity(10);
        w.reserve_exact(50_000);
        assert!(mine() - before >= 50_000);
        drop(w);
        assert_eq!(mine(), before);
        drop(keep);
    }

    #[test]
    fn good_size_rounds_up_to_a_size_class() {
        assert!(good_size(33) >= 33);
        assert!(good_size(1000) >= 1000);
        assert_eq!(good_size(good_size(1000)), good_size(1000));
    }
}
