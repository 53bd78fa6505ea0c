//! Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats), kept while
//! `latency-tracking` is on, as Redis 7.2 keeps an HDR histogram per command.
//!
//! Each worker thread has one histogram per command (allocated the first time the command
//! runs there), written only by that thread with plain load-then-store updates of atomic
//! counters, so recording takes no lock and readers on other threads (INFO, LATENCY) sum the
//! workers' histograms. Values are nanoseconds, recorded as Redis does (the command's
//! duration in microseconds, times 1000, clamped to 1 ns .. 1 s).
//!
//! Buckets are log-linear: 16 per power of two, so any value is reported within 6.25% (Redis's
//! HDR histograms use 2 significant digits, 1%).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::server::Server;

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Redis's LATENCY_HISTOGRAM_MAX_VALUE (1 s in ns), below 2^30.
const MAX_VALUE: u64 = 1_000_000_000;
const BUCKETS: usize = SUB + (30 - SUB_BITS as usize) * SUB;

pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
}

#[inline]
fn index(v: u64) -> usize {
    let v = v.clamp(1, MAX_VALUE);
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    SUB + shift as usize * SUB + ((v >> shift) as usize & (SUB - 1))
}

/// The highest value that falls in bucket `i` (HDR's highest equivalent value).
fn highest(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = ((i - SUB) / SUB) as u32;
    let sub = ((i - SUB) % SUB) as u64;
    ((SUB as u64 + sub) << shift) + (1u64 << shift) - 1
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    /// Records one value; only the owning worker thread calls this.
    #[inline]
    pub fn record(&self, ns: u64) {
        let c = &self.counts[index(ns)];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn add_into(&self, sum: &mut [u64; BUCKETS]) {
        for (s, c) in sum.iter_mut().zip(&self.counts) {
            *s += c.load(Ordering::Relaxed);
        }
    }
}

/// Records a command's duration for its histogram on this worker, if tracking is on.
#[inline]
pub fn record(server: &Server, stat: &crate::server::CmdStat, usec: u64) {
    if server.config.live.latency_tracking.load(Ordering::Relaxed) {
        stat.latency
            .get_or_init(Default::default)
            .record(usec.saturating_mul(1000));
    }
}

/// A command's histogram summed over the workers.
pub struct Merged {
    counts: [u64; BUCKETS],
    pub total: u64,
}

impl Merged {
    /// Value at `percentile` (0..100), in ns: the highest value of the bucket where the
    /// cumulative count reaches that share of the total (HDR's value_at_percentile).
    pub fn value_at(&self, percentile: f64) -> u64 {
        let want = ((percentile / 100.0) * self.total as f64 + 0.5) as u64;
        let want = want.max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= want {
                return highest(i);
            }
        }
        0
    }

    /// Cumulative counts at each power of two from 2^10 ns (about 1 µs) to 2^30 ns (about
    /// 1 s): (upper bound in ns, samples at or below it). The same bounds for every command,
    /// so scraped histograms aggregate.
    pub fn buckets_pow2(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cumulative = 0;
        let mut i = 0;
        let mut bound: u64 = 1024;
        while bound <= 1 << 30 {
            while i < BUCKETS && highest(i) < bound {
                cumulative += self.counts[i];
                i += 1;
            }
            out.push((bound, cumulative));
            bound *= 2;
        }
        out
    }

    /// LATENCY HISTOGRAM's cumulative buckets: powers of two from 1024 ns, as (upper bound
    /// in µs, cumulative count), only where the count grew.
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cumulative = 0;
        let mut previous = 0;
        let mut i = 0;
        let mut bound: u64 = 1024;
        while i < BUCKETS {
            while i < BUCKETS && highest(i) < bound {
                cumulative += self.counts[i];
                i += 1;
            }
            if cumulative > previous {
                out.push(((bound + bound / 128) / 1000, cumulative));
            }
            previous = cumulative;
            if cumulative == self.total {
                break;
            }
            bound *= 2;
        }
        out
    }
}

/// The histogram of command `idx` (registry index) summed over the workers; None when it has
/// recorded nothing.
pub fn merged(server: &Server, idx: usize) -> Option<Merged> {
    let mut counts = [0u64; BUCKETS];
    let mut any = false;
    for w in &server.workers {
        if let Some(h) = w.commands.get(idx).and_then(|s| s.latency.get()) {
            h.add_into(&mut counts);
            any = true;
        }
    }
    let total: u64 = counts.iter().sum();
    (any && total > 0).then_some(Merged { counts, total })
}

/// CONFIG RESETSTAT: forgets every histogram.
pub fn reset_all(server: &Server) {
    for w in &server.workers {
        for s in w.commands.iter() {
            if let Some(h) = s.latency.get() {
                h.reset();
            }
        }
    }
}

/// Checks `latency-tracking-info-percentiles` ("50 99 99.9": numbers from 0 to 100) and
/// returns its canonical text (numbers without trailing zeros, as Redis prints them).
pub fn normalize_percentiles(value: &str) -> Result<String, crate::config::ConfigError> {
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        let p: f64 = word.parse().map_err(|_| {
            crate::config::ConfigError::Other(
                "Invalid latency-tracking-info-percentiles parameters".into(),
            )
        })?;
        if !(0.0..=100.0).contains(&p) || p.is_nan() {
            return Err(crate::config::ConfigError::Other(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            ));
        }
        out.push(fmt_percentile(p));
    }
    Ok(out.join(" "))
}

fn fmt_percentile(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// INFO latencystats: `latency_percentiles_usec_<command>:p50=...,p99=...` per command that
/// recorded something.
pub fn info_section(out: &mut String, server: &Server) {
    use std::fmt::Write;
    out.push_str("# Latencystats\r\n");
    let percentiles: Vec<f64> = server
        .config
        .get("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    for (idx, e) in server.registry.entries().iter().enumerate() {
        let Some(m) = merged(server, idx) else {
            continue;
        };
        let _ = write!(out, "latency_percentiles_usec_{}:", e.def.full_name());
        for (j, p) in percentiles.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "p{}={:.3}",
                fmt_percentile(*p),
                m.value_at(*p) as f64 / 1000.0
            );
        }
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_within_their_precision() {
        let mut prev = 0;
        for i in 0..=index(MAX_VALUE) {
            let h = highest(i).min(MAX_VALUE);
            assert!(h >= prev, "bucket {i}");
            assert_eq!(index(h), i.max(1), "bucket {i} high {h}");
            prev = h;
        }
        for v in [1u64, 15, 16, 17, 1000, 1023, 1024, 123_456, 999_999_999] {
            let h = highest(index(v));
            assert!(h >= v && h - v <= v / 16, "{v} -> {h}");
        }
        assert_eq!(index(u64::MAX), index(MAX_VALUE));
    }

    #[test]
    fn percentiles_and_cdf() {
        let h = Histogram::default();
        for us in [1u64, 1, 1, 100, 50_000] {
            h.record(us * 1000);
        }
        let mut counts = [0u64; BUCKETS];
        h.add_into(&mut counts);
        let m = Merged { counts, total: 5 };
        assert!((1000..1100).contains(&m.value_at(50.0)));
        assert!((50_000_000..53_200_000).contains(&m.value_at(100.0)));
        assert_eq!(m.value_at(0.0), m.value_at(1.0));
        let cdf = m.cdf();
        assert_eq!(cdf.first(), Some(&(1, 3)));
        assert_eq!(cdf.last().map(|c| c.1), Some(5));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(normalize_percentiles("0.0 50.0 100.0").unwrap(), "0 50 100");
        assert_eq!(normalize_percentiles("99.9").unwrap(), "99.9");
        assert!(normalize_percentiles("10 a").is_err());
        assert!(normalize_percentiles("101").is_err());
    }
}
