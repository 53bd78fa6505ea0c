//! `cinnabar-loadgen`: a small HTTP/1.1 load generator for the example services.
//!
//! Opens `--connections` keep-alive connections and sends requests back to back on each for
//! `--duration` seconds (closed loop: each connection waits for its answer before the next
//! request). Reports requests per second, latency percentiles, status counts and, when the
//! answers carry a `Cache-Status` header, the cache hit ratio.
//!
//! Keys: `{key}` in the body or the path is replaced, per request, by a key number drawn
//! from `--keys` keys with a Zipf distribution of exponent `--zipf` (0 is uniform), so a few
//! keys are hot and many are cold, as in real traffic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "cinnabar-loadgen",
    version,
    about = "HTTP/1.1 keep-alive load generator"
)]
struct Args {
    /// Target URL (http only), e.g. http://127.0.0.1:8080/data. `{key}` is replaced.
    #[arg(long)]
    url: String,

    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,

    /// Request body (sent as application/json). `{key}` is replaced.
    #[arg(long)]
    body: Option<String>,

    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,

    /// How long to run, in seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,

    /// Number of distinct keys.
    #[arg(long, default_value_t = 1)]
    keys: usize,

    /// Zipf exponent of the key distribution (0: uniform; 1: classic web skew).
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,

    /// Send `X-Forwarded-For: 127.0.x.y` with one of this many client addresses per request
    /// (uniformly drawn), to act as many clients behind a proxy (0: no header).
    #[arg(long, default_value_t = 0)]
    clients: u32,

    /// Seed of the random draws (each connection derives its own).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Key numbers drawn from a Zipf distribution by inverting its cumulative weights.
struct Keys {
    cdf: Vec<f64>,
}

impl Keys {
    fn new(n: usize, s: f64) -> Keys {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Keys { cdf }
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        let r: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < r).min(self.cdf.len() - 1)
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    cache: BTreeMap<&'static str, u64>,
    errors: u64,
    reconnects: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.cache {
            *self.cache.entry(k).or_default() += v;
        }
        self.errors += other.errors;
        self.reconnects += other.reconnects;
    }
}

/// Sorts a `Cache-Status` value into hit / collapsed / miss (RFC 9211: `hit` means served
/// from the cache; `collapsed` means the request waited for another one's fetch).
fn cache_class(value: &str) -> &'static str {
    if value.contains("; hit") {
        "hit"
    } else if value.contains("collapsed") {
        "collapsed"
    } else if value.contains("fwd=") {
        "miss"
    } else {
        "other"
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let uri: Uri = args.url.parse().context("parsing --url")?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported");
    }
    let authority = uri.authority().context("URL without host")?.to_string();
    let method: Method = args.method.parse().context("parsing --method")?;
    let keys = std::sync::Arc::new(Keys::new(args.keys, args.zipf));
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let args = args.clone();
        let authority = authority.clone();
        let method = method.clone();
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            connection(i, &args, &authority, method, &keys, deadline).await
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report(&args, &mut total, elapsed);
    Ok(())
}

/// One keep-alive connection, sending requests until the deadline. A broken connection is
/// counted as an error and replaced.
async fn connection(
    index: usize,
    args: &Args,
    authority: &str,
    method: Method,
    keys: &Keys,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut rng = StdRng::seed_from_u64(args.seed.wrapping_mul(1_000_003) + index as u64);
    let mut tally = Tally::default();
    'reconnect: while Instant::now() < deadline {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let key = keys.draw(&mut rng).to_string();
            let url = args.url.replace("{key}", &key);
            let uri: Uri = url.parse()?;
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, authority);
            if args.clients > 0 {
                let c = rng.gen_range(0..args.clients);
                req = req.header(
                    "x-forwarded-for",
                    format!("127.0.{}.{}", (c >> 8) & 0xff, c & 0xff),
                );
            }
            let body = match &args.body {
                Some(b) => {
                    req = req.header(hyper::header::CONTENT_TYPE, "application/json");
                    Bytes::from(b.replace("{key}", &key))
                }
                None => Bytes::new(),
            };
            let req = req.body(Full::new(body))?;
            let t0 = Instant::now();
            if sender.ready().await.is_err() {
                tally.errors += 1;
                tally.reconnects += 1;
                continue 'reconnect;
            }
            let resp = match sender.send_request(req).await {
                Ok(r) => r,
                Err(_) => {
                    tally.errors += 1;
                    tally.reconnects += 1;
                    continue 'reconnect;
                }
            };
            let status = resp.status().as_u16();
            let cache = resp
                .headers()
                .get("cache-status")
                .and_then(|v| v.to_str().ok())
                .map(cache_class);
            if resp.into_body().collect().await.is_err() {
                tally.errors += 1;
                tally.reconnects += 1;
                continue 'reconnect;
            }
            let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
            tally.latencies_us.push(us);
            *tally.statuses.entry(status).or_default() += 1;
            if let Some(c) = cache {
                *tally.cache.entry(c).or_default() += 1;
            }
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn report(args: &Args, t: &mut Tally, elapsed: f64) {
    t.latencies_us.sort_unstable();
    let n = t.latencies_us.len();
    println!(
        "{} {} for {:.1} s, {} connections, {} keys (zipf {}){}",
        args.method,
        args.url,
        elapsed,
        args.connections,
        args.keys,
        args.zipf,
        if args.clients > 0 {
            format!(", {} clients via X-Forwarded-For", args.clients)
        } else {
            String::new()
        }
    );
    println!(
        "requests: {n}  ({:.0} req/s)  errors: {}  reconnects: {}",
        n as f64 / elapsed,
        t.errors,
        t.reconnects
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&t.latencies_us, 0.50),
        percentile(&t.latencies_us, 0.90),
        percentile(&t.latencies_us, 0.99),
        percentile(&t.latencies_us, 1.0),
    );
    let statuses: Vec<String> = t
        .statuses
        .iter()
        .map(|(s, c)| format!("{s}: {c}"))
        .collect();
    println!("status: {}", statuses.join("  "));
    if !t.cache.is_empty() {
        let total: u64 = t.cache.values().sum();
        let hits = t.cache.get("hit").copied().unwrap_or(0);
        let classes: Vec<String> = t.cache.iter().map(|(k, c)| format!("{k}: {c}")).collect();
        println!(
            "cache: {}  hit ratio {:.2}%",
            classes.join("  "),
            100.0 * hits as f64 / total as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_draws_stay_in_range_and_favour_low_keys() {
        let keys = Keys::new(100, 1.0);
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0u32; 100];
        for _ in 0..20_000 {
            counts[keys.draw(&mut rng)] += 1;
        }
        // Key 0 has weight 1/H(100) ~ 19%, key 99 ~ 0.2%.
        assert!(counts[0] > counts[99] * 10, "{counts:?}");
        let uniform = Keys::new(4, 0.0);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            seen[uniform.draw(&mut rng)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn cache_status_classes() {
        assert_eq!(cache_class("cinnabar; hit; ttl=3"), "hit");
        assert_eq!(
            cache_class("cinnabar; fwd=uri-miss; fwd-status=200; stored; ttl=60"),
            "miss"
        );
        assert_eq!(
            cache_class("cinnabar; fwd=uri-miss; fwd-status=200; collapsed; ttl=60"),
            "collapsed"
        );
        assert_eq!(
            cache_class("cinnabar; fwd=uri-miss; collapsed; ttl=60"),
            "collapsed"
        );
    }
}
