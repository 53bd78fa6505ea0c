//! The latency monitor (LATENCY LATEST, HISTORY, RESET, GRAPH, DOCTOR): for each event class
//! (`command`, `fast-command`, `expire-cycle`...), the samples of at least
//! `latency-monitor-threshold` milliseconds, one per second at most (the highest of that
//! second), the last 160 of them, and the all-time maximum, as Redis 7.2 keeps them.
//!
//! Recording costs nothing while the threshold is 0 (the default): callers check the
//! threshold with one relaxed load before calling [`add_sample`].
//!
//! # Events
//! As Redis 7.2 records them, where Cinnabar has the same step:
//! - `command`, `fast-command`: a command's run (dispatch, `ops::after_command`).
//! - `expire-cycle`: one active expiry cycle of the cron.
//! - `eviction-cycle`: one eviction run that had memory to free (`evict::perform`), and
//!   `eviction-del`: the deletion of one evicted key.
//! - `aof-write`: one write of the AOF buffer to the file, also recorded as
//!   `aof-write-pending-fsync` (an `everysec` fsync was under way), `aof-write-active-child`
//!   (a BGSAVE or BGREWRITEAOF was running) or `aof-write-alone` (neither);
//!   `aof-fsync-always`: the fsync after a write under `appendfsync always`;
//!   `aof-rename`: putting a rewritten AOF base file in place.
//!
//! Steps other than commands are timed with [`Timer`]. Tests drive a step past the threshold
//! with `DEBUG LATENCY-DELAY <event> <ms>` (Cinnabar's own, like `key-load-delay`): the
//! timed step of that event then sleeps that long inside its measured span.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::server::Server;

/// Redis's LATENCY_TS_LEN.
pub const HISTORY_LEN: usize = 160;

#[derive(Clone, Copy, Default)]
pub struct Sample {
    /// Unix seconds (0: unused slot).
    pub time: i64,
    /// Milliseconds.
    pub latency: u64,
}

pub struct Series {
    pub samples: [Sample; HISTORY_LEN],
    /// Where the next sample goes.
    pub idx: usize,
    pub max: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [Sample::default(); HISTORY_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// The samples, oldest first.
    pub fn history(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..HISTORY_LEN)
            .map(move |j| self.samples[(self.idx + j) % HISTORY_LEN])
            .filter(|s| s.time != 0)
    }

    pub fn last(&self) -> Sample {
        self.samples[(self.idx + HISTORY_LEN - 1) % HISTORY_LEN]
    }
}

/// Event series by name, in the order the events first happened.
#[derive(Default)]
pub struct Latency {
    events: Mutex<Vec<(String, Box<Series>)>>,
    /// `DEBUG LATENCY-DELAY`: extra time per event's timed step; `delayed` says whether any
    /// is set, so a timer that ends pays one relaxed load.
    delays: Mutex<Vec<(String, Duration)>>,
    delayed: AtomicBool,
}

impl Latency {
    /// Runs `f` over every event's series.
    pub fn with_events<R>(&self, f: impl FnOnce(&[(String, Box<Series>)]) -> R) -> R {
        f(&self.events.lock())
    }

    /// Forgets the samples of `event` (of every event with None); returns how many series
    /// were dropped.
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        match event {
            None => events.clear(),
            Some(name) => events.retain(|(n, _)| n.as_bytes() != name),
        }
        before - events.len()
    }

    /// Sets (zero: removes) the debug delay of `event`'s timed step.
    pub fn set_delay(&self, event: &str, delay: Duration) {
        let mut d = self.delays.lock();
        d.retain(|(n, _)| n != event);
        if !delay.is_zero() {
            d.push((event.to_string(), delay));
        }
        self.delayed.store(!d.is_empty(), Ordering::Relaxed);
    }

    fn delay(&self, event: &str) -> Option<Duration> {
        if !self.delayed.load(Ordering::Relaxed) {
            return None;
        }
        self.delays
            .lock()
            .iter()
            .find(|(n, _)| n == event)
            .map(|(_, d)| *d)
    }

    fn add(&self, event: &str, latency_ms: u64, now_secs: i64) {
        let mut events = self.events.lock();
        let i = match events.iter().position(|(n, _)| n == event) {
            Some(i) => i,
            None => {
                events.push((event.to_string(), Box::new(Series::new())));
                events.len() - 1
            }
        };
        let ts = &mut events[i].1;
        ts.max = ts.max.max(latency_ms);
        let prev = (ts.idx + HISTORY_LEN - 1) % HISTORY_LEN;
        if ts.samples[prev].time == now_secs {
            let p = &mut ts.samples[prev];
            p.latency = p.latency.max(latency_ms);
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now_secs,
            latency: latency_ms,
        };
        ts.idx = (ts.idx + 1) % HISTORY_LEN;
    }
}

/// The threshold in milliseconds (0: the monitor is off).
#[inline]
pub fn threshold(server: &Server) -> u64 {
    server
        .config
        .live
        .latency_monitor_threshold
        .load(Ordering::Relaxed)
}

/// Records `latency_ms` for `event` if it reaches the threshold (Redis's
/// latencyAddSampleIfNeeded).
#[inline]
pub fn add_sample_if_needed(server: &Server, event: &str, latency_ms: u64) {
    let t = threshold(server);
    if t != 0 && latency_ms >= t {
        add_sample(server, event, latency_ms);
    }
}

#[cold]
#[inline(never)]
pub fn add_sample(server: &Server, event: &str, latency_ms: u64) {
    server
        .ops
        .latency
        .add(event, latency_ms, crate::server::now_ms() / 1000);
}

/// Times one step of a latency event (Redis's latencyStartMonitor/latencyEndMonitor). It
/// reads no clock while the monitor is off.
#[must_use]
pub struct Timer(Option<Instant>);

impl Timer {
    #[inline]
    pub fn start(server: &Server) -> Timer {
        Timer((threshold(server) != 0).then(Instant::now))
    }

    /// Ends the step of `event`: its duration in milliseconds (with the `DEBUG
    /// LATENCY-DELAY` of `event` spent first, inside the span), or None while the monitor was
    /// off when the step began.
    #[inline]
    pub fn stop(self, server: &Server, event: &str) -> Option<u64> {
        let started = self.0?;
        if let Some(d) = server.ops.latency.delay(event) {
            std::thread::sleep(d);
        }
        Some(started.elapsed().as_millis() as u64)
    }

    /// Ends the step of `event` and records it if it reached the threshold.
    #[inline]
    pub fn end(self, server: &Server, event: &str) {
        if let Some(ms) = self.stop(server, event) {
            add_sample_if_needed(server, event, ms);
        }
    }
}

/// LATENCY GRAPH's text for one series: a header, then columns of `#`/`|`/`_` scaled
/// between the lowest and highest sample, with each sample's age below it.
pub fn graph(event: &str, ts: &Series, now_secs: i64) -> String {
    let samples: Vec<Sample> = ts.history().collect();
    let max = samples.iter().map(|s| s.latency).max().unwrap_or(0);
    let min = samples.iter().map(|s| s.latency).min().unwrap_or(0);
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        ts.max,
        "-".repeat(80)
    );
    const ROWS: u64 = 4;
    let level = |v: u64| -> u64 {
        if max == min {
            ROWS
        } else {
            1 + (v - min) * (ROWS - 1) / (max - min)
        }
    };
    for chunk in samples.chunks(80) {
        for row in (1..=ROWS).rev() {
            let line: String = chunk
                .iter()
                .map(|s| {
                    let l = level(s.latency);
                    if l > row {
                        '|'
                    } else if l == row {
                        '#'
                    } else if row == 1 {
                        '_'
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
        // Ages, written vertically as Redis's sparkline labels.
        let labels: Vec<String> = chunk
            .iter()
            .map(|s| {
                let e = (now_secs - s.time).max(0);
                if e < 60 {
                    format!("{e}s")
                } else if e < 3600 {
                    format!("{}m", e / 60)
                } else if e < 86400 {
                    format!("{}h", e / 3600)
                } else {
                    format!("{}d", e / 86400)
                }
            })
            .collect();
        let height = labels.iter().map(String::len).max().unwrap_or(0);
        for r in 0..height {
            let line: String = labels
                .iter()
                .map(|l| l.as_bytes().get(r).map(|&b| b as char).unwrap_or(' '))
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// LATENCY DOCTOR's report: a summary per event and general advice.
pub fn doctor(server: &Server) -> String {
    let threshold = threshold(server);
    server.ops.latency.with_events(|events| {
        if events.is_empty() {
            if threshold == 0 {
                return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in \
                        this Cinnabar instance. You may use \"CONFIG SET \
                        latency-monitor-threshold <milliseconds>.\" in order to enable it.\n"
                    .to_string();
            }
            return "Dave, no latency spike was observed during the lifetime of this \
                    Cinnabar instance, not in the slightest bit. I honestly think you ought to \
                    sleep tonight.\n"
                .to_string();
        }
        let mut out = String::from(
            "Dave, I have observed latency spikes in this Cinnabar instance. You don't mind \
             talking about it, do you Dave?\n\n",
        );
        for (i, (name, ts)) in events.iter().enumerate() {
            let samples: Vec<Sample> = ts.history().collect();
            let n = samples.len().max(1) as u64;
            let avg = samples.iter().map(|s| s.latency).sum::<u64>() / n;
            let first = samples.first().map(|s| s.time).unwrap_or(0);
            let period = (crate::server::now_ms() / 1000 - first).max(0) as u64;
            out.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation 0ms, period \
                 {} sec). Worst all time event {}ms.\n",
                i + 1,
                samples.len(),
                period / n,
                ts.max
            ));
        }
        out.push_str(
            "\nI have a few advices for you:\n\n- Check the slow log (SLOWLOG GET) for \
             commands that run long: O(N) commands on big values, KEYS, big DEL or FLUSHALL \
             without ASYNC.\n- Deleting, expiring or evicting big keys takes time: prefer \
             UNLINK and the lazyfree-* parameters.\n",
        );
        out
    })
}
