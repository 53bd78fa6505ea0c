//! Pub/Sub load client: one publisher, N subscribers, messages delivered per second.
//!
//! Works against any Redis-compatible server, so Cinnabar and redis-server can be measured in
//! the same run:
//!
//! ```sh
//! cargo run --release -p cinnabar-server --example pubsub_load -- 127.0.0.1 6379 50 200000 16
//! #                                                            host      port subs messages payload
//! ```
//!
//! Every subscriber counts the bytes of the (fixed-size) messages it receives; the clock runs
//! from the first PUBLISH until every subscriber has all messages. The publisher pipelines
//! PUBLISH in batches of 64 and reads their replies before sending the next batch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Instant;

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads until `n` bytes have arrived.
fn read_exact_count(s: &mut TcpStream, mut n: usize, buf: &mut [u8]) -> std::io::Result<()> {
    while n > 0 {
        let got = s.read(buf)?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        n = n.saturating_sub(got);
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let host = args.get(1).map(String::as_str).unwrap_or("127.0.0.1");
    let port: u16 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6379);
    let subs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    let messages: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let payload_len: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(16);
    let channel = b"bench-channel";
    let payload = vec![b'x'; payload_len];
    let message = {
        let mut m = b"*3\r\n$7\r\nmessage\r\n".to_vec();
        m.extend_from_slice(format!("${}\r\n", channel.len()).as_bytes());
        m.extend_from_slice(channel);
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
        m.extend_from_slice(&payload);
        m.extend_from_slice(b"\r\n");
        m
    };
    let ready = Arc::new(Barrier::new(subs + 1));
    let mut handles = Vec::new();
    for _ in 0..subs {
        let ready = ready.clone();
        let addr = format!("{host}:{port}");
        let total = message.len() * messages;
        handles.push(std::thread::spawn(move || -> std::io::Result<Instant> {
            let mut s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.write_all(&command(&[b"SUBSCRIBE", b"bench-channel"]))?;
            let confirm = b"*3\r\n$9\r\nsubscribe\r\n$13\r\nbench-channel\r\n:1\r\n".len();
            let mut buf = vec![0u8; 1 << 16];
            read_exact_count(&mut s, confirm, &mut buf)?;
            ready.wait();
            read_exact_count(&mut s, total, &mut buf)?;
            Ok(Instant::now())
        }));
    }
    ready.wait();
    let mut p = TcpStream::connect(format!("{host}:{port}"))?;
    p.set_nodelay(true)?;
    let one = command(&[b"PUBLISH", channel, &payload]);
    let reply_len = format!(":{subs}\r\n").len();
    let batch = 64;
    let start = Instant::now();
    let mut sent = 0;
    let mut buf = vec![0u8; 1 << 16];
    let mut out = Vec::with_capacity(one.len() * batch);
    while sent < messages {
        let n = batch.min(messages - sent);
        out.clear();
        for _ in 0..n {
            out.extend_from_slice(&one);
        }
        p.write_all(&out)?;
        read_exact_count(&mut p, reply_len * n, &mut buf)?;
        sent += n;
    }
    let publish_secs = start.elapsed().as_secs_f64();
    let mut last = start;
    for h in handles {
        let t = h.join().expect("subscriber thread")?;
        last = last.max(t);
    }
    let secs = (last - start).as_secs_f64();
    let delivered = (subs * messages) as f64;
    println!(
        "subscribers={subs} messages={messages} payload={payload_len}B publish_rate={:.0}/s delivered={:.0} msg/s elapsed={secs:.2}s",
        messages as f64 / publish_secs,
        delivered / secs
    );
    Ok(())
}
