//! Cache-efficiency benchmark: a look-aside cache workload against any RESP server.
//!
//! Keys are drawn from a Zipf distribution (exponent `--zipf`, default 0.99) over `--keys`
//! distinct keys (default 1M). Each client does GET; on a miss it SETs the key with a value
//! of `--value` bytes (or a random size between `--value-min` and `--value-max`), the way an
//! application fills a cache. With `maxmemory` well below the working set, the hit ratio
//! measures how well the eviction policy keeps the keys that matter.
//!
//! Every `--every` seconds it prints one row: throughput, hit ratio of the interval, the
//! server's RSS (read from /proc/<pid>/status, so the server must run on this machine) and
//! INFO used_memory / evicted_keys, against maxmemory. At the end: the hit ratio after the
//! warm-up (the first `--warmup` seconds are left out), the mean throughput, and the peak RSS.
//!
//! ```text
//! cargo run --release --example cache_bench -- --port 7001 --pid <server pid> --secs 60
//! ```
//!
//! `--set-ratio r` turns a share r of the requests into unconditional SETs (new random sizes
//! overwrite old ones): a write-heavy churn for watching RSS against maxmemory.
//!
//! Requests are pipelined (`--pipeline` GETs per round trip, then the SETs of that batch's
//! misses) over `--conns` connections, one thread each. Raw RESP over TCP, no client library,
//! so the client costs the same against every server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Opts {
    host: String,
    port: u16,
    pid: Option<u32>,
    keys: usize,
    zipf: f64,
    value_min: usize,
    value_max: usize,
    conns: usize,
    pipeline: usize,
    /// Share of requests that are unconditional SETs (a write-heavy churn), in [0, 1].
    set_ratio: f64,
    secs: u64,
    warmup: u64,
    every: u64,
    seed: u64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        pid: None,
        keys: 1_000_000,
        zipf: 0.99,
        value_min: 1024,
        value_max: 1024,
        conns: 4,
        pipeline: 32,
        set_ratio: 0.0,
        secs: 60,
        warmup: 15,
        every: 5,
        seed: 42,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        let num = |s: &str| -> u64 {
            s.parse().unwrap_or_else(|_| {
                eprintln!("bad number for {}: {s:?}", args[i]);
                std::process::exit(2)
            })
        };
        match args[i].as_str() {
            "--host" => o.host = v,
            "--port" => o.port = num(&v) as u16,
            "--pid" => o.pid = Some(num(&v) as u32),
            "--keys" => o.keys = num(&v) as usize,
            "--zipf" => o.zipf = v.parse().expect("--zipf takes a number"),
            "--value" => {
                o.value_min = num(&v) as usize;
                o.value_max = o.value_min;
            }
            "--value-min" => o.value_min = num(&v) as usize,
            "--value-max" => o.value_max = num(&v) as usize,
            "--conns" => o.conns = num(&v).max(1) as usize,
            "--pipeline" => o.pipeline = num(&v).max(1) as usize,
            "--set-ratio" => o.set_ratio = v.parse().expect("--set-ratio takes a number"),
            "--secs" => o.secs = num(&v),
            "--warmup" => o.warmup = num(&v),
            "--every" => o.every = num(&v).max(1),
            "--seed" => o.seed = num(&v),
            "-h" | "--help" => {
                println!("see the module comment of crates/server/examples/cache_bench.rs");
                std::process::exit(0)
            }
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    o.value_max = o.value_max.max(o.value_min);
    o
}

/// A small fast generator (splitmix64): the benchmark must not be limited by its RNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf over ranks 0..n with exponent s: P(rank k) proportional to 1 / (k+1)^s. Sampled by
/// inverting the cumulative distribution, precomputed once (n f64s) and binary-searched.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Rank -> key id: a fixed permutation (multiplication by a prime that does not divide n),
/// so popular keys are not neighbours in key space.
fn key_name(rank: usize, n: usize, out: &mut Vec<u8>) {
    const P: u64 = 2_147_483_647; // 2^31 - 1, prime
    let n = (n as u64).max(1);
    let id = if n.is_multiple_of(P) {
        rank as u64
    } else {
        (rank as u64 * P) % n
    };
    out.clear();
    out.extend_from_slice(format!("key:{id:07}").as_bytes());
}

fn push_cmd(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply; returns Some(is_nil) for bulk strings, Some(false) for other types.
fn read_reply(r: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> std::io::Result<bool> {
    line.clear();
    r.read_until(b'\n', line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "server closed",
        ));
    }
    match line[0] {
        b'$' => {
            let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            if n < 0 {
                return Ok(true);
            }
            let mut skip = vec![0u8; n as usize + 2];
            r.read_exact(&mut skip)?;
            Ok(false)
        }
        b'_' => Ok(true),
        b'-' => Err(std::io::Error::other(
            String::from_utf8_lossy(&line[..line.len() - 2]).into_owned(),
        )),
        _ => Ok(false),
    }
}

#[derive(Default)]
struct Counters {
    gets: AtomicU64,
    hits: AtomicU64,
    sets: AtomicU64,
    errors: AtomicU64,
}

fn client(o: Arc<Opts>, zipf: Arc<Zipf>, c: Arc<Counters>, stop: Arc<AtomicBool>, id: u64) {
    let stream = TcpStream::connect((o.host.as_str(), o.port)).expect("connect");
    stream.set_nodelay(true).ok();
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut rng = Rng(o.seed.wrapping_mul(1000) + id);
    let mut out = Vec::with_capacity(1 << 16);
    let mut line = Vec::new();
    let mut keys: Vec<Vec<u8>> = vec![Vec::new(); o.pipeline];
    let value = vec![b'v'; o.value_max];
    let size = |rng: &mut Rng| {
        if o.value_max > o.value_min {
            o.value_min + (rng.next() as usize) % (o.value_max - o.value_min + 1)
        } else {
            o.value_min
        }
    };
    // Per request of a batch: true for an unconditional SET.
    let mut is_set = vec![false; o.pipeline];
    while !stop.load(Ordering::Relaxed) {
        out.clear();
        let mut gets = 0u64;
        for (k, set) in keys.iter_mut().zip(is_set.iter_mut()) {
            key_name(zipf.sample(&mut rng), o.keys, k);
            *set = o.set_ratio > 0.0 && rng.unit() < o.set_ratio;
            if *set {
                let len = size(&mut rng);
                push_cmd(&mut out, &[b"SET", k, &value[..len]]);
            } else {
                push_cmd(&mut out, &[b"GET", k]);
                gets += 1;
            }
        }
        if w.write_all(&out).is_err() {
            return;
        }
        let mut missed: Vec<usize> = Vec::new();
        for (i, &set) in is_set.iter().enumerate() {
            match read_reply(&mut r, &mut line) {
                Ok(true) if !set => missed.push(i),
                Ok(_) => {}
                Err(_) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        c.gets.fetch_add(gets, Ordering::Relaxed);
        c.hits
            .fetch_add(gets - missed.len() as u64, Ordering::Relaxed);
        c.sets
            .fetch_add(keys.len() as u64 - gets, Ordering::Relaxed);
        if missed.is_empty() {
            continue;
        }
        out.clear();
        for &i in &missed {
            let len = size(&mut rng);
            push_cmd(&mut out, &[b"SET", &keys[i], &value[..len]]);
        }
        if w.write_all(&out).is_err() {
            return;
        }
        for _ in &missed {
            if read_reply(&mut r, &mut line).is_err() {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        c.sets.fetch_add(missed.len() as u64, Ordering::Relaxed);
    }
}

fn rss_bytes(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// One command over a fresh short-lived connection, for INFO and CONFIG GET.
fn admin(o: &Opts, args: &[&[u8]]) -> String {
    let Ok(stream) = TcpStream::connect((o.host.as_str(), o.port)) else {
        return String::new();
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut w = stream.try_clone().expect("clone");
    let mut buf = Vec::new();
    push_cmd(&mut buf, args);
    if w.write_all(&buf).is_err() {
        return String::new();
    }
    let mut r = BufReader::new(stream);
    let mut text = String::new();
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return text;
    }
    if let Some(n) = first
        .strip_prefix('$')
        .and_then(|s| s.trim().parse::<usize>().ok())
    {
        let mut body = vec![0u8; n + 2];
        if r.read_exact(&mut body).is_ok() {
            text = String::from_utf8_lossy(&body[..n]).into_owned();
        }
    } else if first.starts_with('*') {
        // CONFIG GET: name, value.
        for _ in 0..4 {
            let mut l = String::new();
            if r.read_line(&mut l).is_err() {
                break;
            }
            text.push_str(&l);
        }
    }
    text
}

fn info_field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let o = Arc::new(parse_opts());
    let maxmemory = admin(&o, &[b"CONFIG", b"GET", b"maxmemory"])
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or(0);
    let policy = admin(&o, &[b"CONFIG", b"GET", b"maxmemory-policy"])
        .lines()
        .map(str::trim)
        .rfind(|l| l.contains('-'))
        .unwrap_or("?")
        .to_string();
    let zipf = Arc::new(Zipf::new(o.keys, o.zipf));
    println!(
        "# {}:{} keys={} zipf={} value={}..{}B set-ratio={} conns={} pipeline={} maxmemory={:.1}MB policy={}",
        o.host,
        o.port,
        o.keys,
        o.zipf,
        o.value_min,
        o.value_max,
        o.set_ratio,
        o.conns,
        o.pipeline,
        mb(maxmemory),
        policy
    );
    let c = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..o.conns)
        .map(|i| {
            let (o, z, c, s) = (o.clone(), zipf.clone(), c.clone(), stop.clone());
            std::thread::spawn(move || client(o, z, c, s, i as u64))
        })
        .collect();
    println!(
        "{:>6} {:>10} {:>8} {:>10} {:>10} {:>9} {:>10}",
        "t(s)", "ops/s", "hit%", "rss(MB)", "used(MB)", "rss/max", "evicted"
    );
    let start = Instant::now();
    let (mut last_gets, mut last_hits, mut last_ops) = (0u64, 0u64, 0u64);
    let (mut warm_gets, mut warm_hits, mut warm_ops) = (0u64, 0u64, 0u64);
    let mut peak_rss = 0u64;
    let mut tick = 0;
    while start.elapsed().as_secs() < o.secs {
        tick += 1;
        let due = Duration::from_secs(o.every * tick);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let (gets, hits, sets) = (
            c.gets.load(Ordering::Relaxed),
            c.hits.load(Ordering::Relaxed),
            c.sets.load(Ordering::Relaxed),
        );
        let ops = gets + sets;
        let info = admin(&o, &[b"INFO", b"all"]);
        let rss = rss_bytes(o.pid);
        peak_rss = peak_rss.max(rss);
        let dg = gets - last_gets;
        println!(
            "{:>6} {:>10.0} {:>8.2} {:>10.1} {:>10.1} {:>9.3} {:>10}",
            o.every * tick,
            (ops - last_ops) as f64 / o.every as f64,
            if dg == 0 {
                0.0
            } else {
                (hits - last_hits) as f64 * 100.0 / dg as f64
            },
            mb(rss),
            mb(info_field(&info, "used_memory")),
            if maxmemory == 0 {
                0.0
            } else {
                rss as f64 / maxmemory as f64
            },
            info_field(&info, "evicted_keys"),
        );
        if o.every * tick == o.warmup {
            (warm_gets, warm_hits, warm_ops) = (gets, hits, ops);
        }
        (last_gets, last_hits, last_ops) = (gets, hits, ops);
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let measured = (o.secs.saturating_sub(o.warmup)).max(1) as f64;
    let gets = last_gets - warm_gets;
    println!(
        "RESULT policy={} hit_ratio={:.4} ops_per_sec={:.0} peak_rss_mb={:.1} maxmemory_mb={:.1} errors={}",
        policy,
        if gets == 0 {
            0.0
        } else {
            (last_hits - warm_hits) as f64 / gets as f64
        },
        (last_ops - warm_ops) as f64 / measured,
        mb(peak_rss),
        mb(maxmemory),
        c.errors.load(Ordering::Relaxed)
    );
}
