//! Consumer-group benchmark: the loop every stream consumer runs, `XREADGROUP ... COUNT n
//! STREAMS s >` then `XACK s g` of the IDs it got, against any RESP server.
//!
//! redis-benchmark repeats one fixed command, so it cannot acknowledge what it read. Here
//! `--conns` connections (one consumer each, on one client thread) each send `--pipeline`
//! XREADGROUPs, read the replies, then send one XACK per reply with that reply's IDs, until
//! `--pairs` read+ack pairs are done. The stream is filled first with `--pairs * --count`
//! entries (pipelined XADDs) and a group is created at 0, so every read finds entries and
//! the pending lists stay as short as a real consumer's.
//!
//! ```text
//! cargo run --release --example stream_bench -- --port 7001 --conns 50 --pipeline 1
//! ```
//!
//! Prints pairs per second and commands per second (two per pair).

use std::time::Instant;

use cinnabar_resp::{encode_command, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy)]
struct Opts {
    port: u16,
    conns: usize,
    pipeline: usize,
    pairs: usize,
    count: usize,
}

fn opts() -> Opts {
    let mut o = Opts {
        port: 6379,
        conns: 50,
        pipeline: 1,
        pairs: 200_000,
        count: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for w in args.chunks(2) {
        let v = w.get(1).map(|s| s.as_str()).unwrap_or("");
        match w[0].as_str() {
            "--port" => o.port = v.parse().expect("--port"),
            "--conns" => o.conns = v.parse().expect("--conns"),
            "--pipeline" => o.pipeline = v.parse().expect("--pipeline"),
            "--pairs" => o.pairs = v.parse().expect("--pairs"),
            "--count" => o.count = v.parse().expect("--count"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        s.set_nodelay(true).unwrap();
        Conn { s, buf: Vec::new() }
    }

    async fn send(&mut self, cmds: &[Vec<Vec<u8>>]) {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            encode_command(&args, &mut out);
        }
        self.s.write_all(&out).await.expect("write");
    }

    async fn read(&mut self) -> Frame {
        loop {
            if let Some((f, n)) = Frame::parse(&self.buf).expect("bad reply") {
                self.buf.drain(..n);
                return f;
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn words(ws: &[&str]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// The IDs of an XREADGROUP reply (RESP2: [[key, [[id, fields], ...]]]).
fn ids(f: &Frame) -> Vec<Vec<u8>> {
    let Frame::Array(streams) = f else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in streams {
        let Frame::Array(kv) = s else { continue };
        let Some(Frame::Array(entries)) = kv.get(1) else {
            continue;
        };
        for e in entries {
            if let Frame::Array(p) = e {
                if let Some(Frame::Bulk(id)) = p.first() {
                    out.push(id.to_vec());
                }
            }
        }
    }
    out
}

async fn consumer(me: usize, rounds: usize, o: Opts) -> usize {
    let mut c = Conn::new(o.port).await;
    let name = format!("c{me}");
    let count = o.count.to_string();
    let read = words(&[
        "XREADGROUP",
        "GROUP",
        "g",
        &name,
        "COUNT",
        &count,
        "STREAMS",
        "s",
        ">",
    ]);
    let mut done = 0;
    for _ in 0..rounds {
        c.send(&vec![read.clone(); o.pipeline]).await;
        let mut acks = Vec::with_capacity(o.pipeline);
        for _ in 0..o.pipeline {
            let got = ids(&c.read().await);
            if got.is_empty() {
                continue;
            }
            let mut ack = words(&["XACK", "s", "g"]);
            ack.extend(got);
            acks.push(ack);
        }
        c.send(&acks).await;
        for _ in 0..acks.len() {
            c.read().await;
        }
        done += acks.len();
    }
    done
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Fill: pairs * count entries, then a group at 0.
        let mut c = Conn::new(o.port).await;
        c.send(&[words(&["DEL", "s"])]).await;
        c.read().await;
        let total = o.pairs * o.count + o.conns * o.pipeline * o.count;
        let batch = 1000;
        let add = words(&["XADD", "s", "*", "f", "v"]);
        let mut left = total;
        while left > 0 {
            let n = left.min(batch);
            c.send(&vec![add.clone(); n]).await;
            for _ in 0..n {
                c.read().await;
            }
            left -= n;
        }
        c.send(&[words(&["XGROUP", "CREATE", "s", "g", "0"])]).await;
        c.read().await;
        let rounds = o.pairs.div_ceil(o.conns * o.pipeline);
        let start = Instant::now();
        let local = tokio::task::LocalSet::new();
        let done = local
            .run_until(async {
                let tasks: Vec<_> = (0..o.conns)
                    .map(|i| tokio::task::spawn_local(consumer(i, rounds, o)))
                    .collect();
                let mut done = 0;
                for t in tasks {
                    done += t.await.expect("consumer task");
                }
                done
            })
            .await;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "pairs={done} secs={secs:.3} pairs_per_sec={:.0} cmds_per_sec={:.0}",
            done as f64 / secs,
            2.0 * done as f64 / secs
        );
    });
}
