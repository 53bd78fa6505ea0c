//! Memory per stream entry: adds N entries of two fields with 8-byte values (the workload
//! of the README's figure) and reports the bytes the allocator holds for them, counted by a
//! wrapping global allocator, and the process RSS growth.
//!
//! ```sh
//! cargo run --release -p cinnabar-engine --example stream_mem -- 1000000
//! ```
//!
//! Each allocation is counted at the size of the block an allocator of four size classes
//! per power of two (mimalloc, jemalloc) hands out for it ([`class_size`]), which is what
//! the server's counting allocator reports as `used_memory`; the raw requested bytes are
//! shown too. IDs are `1700000000000+i/500 - i%500` (500 entries per millisecond), values
//! `a%07d` and `b%07d` (never integers), as in the Redis run this is compared with:
//! `redis-cli --pipe` of the same XADDs into `redis-server --save '' --appendonly no`, then
//! the growth of INFO memory's `used_memory` and `used_memory_rss`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cinnabar_engine::types::packbuf::class_size;
use cinnabar_engine::types::stream::{AddId, NodeLimits, Stream, StreamId};

struct Counting;

static CLASSED: AtomicUsize = AtomicUsize::new(0);
static RAW: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        CLASSED.fetch_add(class_size(l.size()), Ordering::Relaxed);
        RAW.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CLASSED.fetch_sub(class_size(l.size()), Ordering::Relaxed);
        RAW.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        CLASSED.fetch_add(class_size(new), Ordering::Relaxed);
        CLASSED.fetch_sub(class_size(l.size()), Ordering::Relaxed);
        RAW.fetch_add(new, Ordering::Relaxed);
        RAW.fetch_sub(l.size(), Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let (classed0, raw0, rss0) = (
        CLASSED.load(Ordering::Relaxed),
        RAW.load(Ordering::Relaxed),
        rss(),
    );
    let mut s = Box::new(Stream::new());
    let limits = NodeLimits::default();
    let mut a = *b"a0000000";
    let mut b = *b"b0000000";
    for i in 0..n {
        let id = StreamId::new(1_700_000_000_000 + i / 500, i % 500);
        a[1..].copy_from_slice(format!("{:07}", i % 10_000_000).as_bytes());
        b[1..].copy_from_slice(format!("{:07}", i * 7 % 10_000_000).as_bytes());
        let pairs: [&[u8]; 4] = [b"sensor01", &a, b"reading1", &b];
        s.add(AddId::Explicit(id), &pairs, 0, limits)
            .expect("ids ascend");
    }
    let classed = CLASSED.load(Ordering::Relaxed) - classed0;
    let raw = RAW.load(Ordering::Relaxed) - raw0;
    let grown = rss().saturating_sub(rss0);
    println!("entries:            {n}");
    println!("nodes:              {}", s.node_count());
    println!(
        "allocator-counted:  {classed} bytes = {:.2} bytes/entry (size classes)",
        classed as f64 / n as f64
    );
    println!(
        "requested:          {raw} bytes = {:.2} bytes/entry",
        raw as f64 / n as f64
    );
    println!(
        "RSS growth:         {grown} bytes = {:.2} bytes/entry (glibc malloc)",
        grown as f64 / n as f64
    );
    println!("MEMORY USAGE:       {} bytes", s.mem_usage());
    assert_eq!(s.len(), n);
}
