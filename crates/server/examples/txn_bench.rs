//! Load generator for transactions, which redis-benchmark cannot send: each of C connections
//! repeatedly sends `MULTI / INCR key / EXPIRE key 60 / EXEC` (the fixed-window rate
//! limiter) in one write and waits for the four replies. Prints transactions per second.
//!
//! `cargo run --release -p cinnabar-server --example txn_bench -- HOST:PORT [clients] [seconds] [keys]`
//! Run it against two servers one after the other and compare.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let keys: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (addr, done, stop) = (addr.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_nodelay(true).unwrap();
                let mut buf = vec![0u8; 4096];
                let mut k = c as u64;
                while !stop.load(Ordering::Relaxed) {
                    k = (k * 6364136223846793005 + 1442695040888963407) % keys;
                    let key = format!("rl:{k}");
                    let req = format!(
                        "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n*3\r\n$6\r\nEXPIRE\r\n${}\r\n{key}\r\n$2\r\n60\r\n*1\r\n$4\r\nEXEC\r\n",
                        key.len(),
                        key.len()
                    );
                    s.write_all(req.as_bytes()).unwrap();
                    // +OK, +QUEUED, +QUEUED, then *2 :n :1 — read until the EXEC reply ends.
                    let mut got = Vec::new();
                    loop {
                        let n = s.read(&mut buf).unwrap();
                        assert!(n > 0, "server closed");
                        got.extend_from_slice(&buf[..n]);
                        if complete(&got) {
                            break;
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let start_count = done.load(Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let count = done.load(Ordering::Relaxed) - start_count;
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    println!("{addr}: {:.0} transactions/s", count as f64 / secs);
}

/// True once the bytes hold the three simple replies and the EXEC array of two integers.
fn complete(b: &[u8]) -> bool {
    let lines = b.windows(2).filter(|w| w == b"\r\n").count();
    lines >= 6
}
