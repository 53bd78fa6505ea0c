//! `--latency` and `--latency-history`: PING in a loop and report min / max /
//! average round trip in milliseconds, in redis-cli's formats.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::args::Settings;
use crate::conn::{connect, Conn};
use crate::format::Output;

const SAMPLE_EVERY: Duration = Duration::from_millis(10);
const HISTORY_DEFAULT: Duration = Duration::from_secs(15);

fn print_stats(out: &mut impl Write, output: Output, min: u64, max: u64, avg: f64, count: u64) {
    let _ = match output {
        Output::Standard => write!(
            out,
            "min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"
        ),
        Output::Csv => writeln!(out, "{min},{max},{avg:.2},{count}"),
        Output::Raw => writeln!(out, "{min} {max} {avg:.2} {count}"),
        Output::Json | Output::QuotedJson => writeln!(
            out,
            "{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}"
        ),
    };
    let _ = out.flush();
}

/// Runs until Ctrl-C; in a non-standard output without history it prints one line
/// after the interval (default 1 s) and returns.
pub fn latency_mode(mut conn: Conn, s: &Settings, history: bool) -> i32 {
    let history_every = if s.interval_us > 0 {
        Duration::from_micros(s.interval_us)
    } else {
        HISTORY_DEFAULT
    };
    let once_after = if s.interval_us > 0 {
        Duration::from_micros(s.interval_us)
    } else {
        Duration::from_secs(1)
    };
    let (mut min, mut max, mut tot, mut count) = (0u64, 0u64, 0u64, 0u64);
    let mut history_start = Instant::now();
    let mut out = io::stdout().lock();
    loop {
        let start = Instant::now();
        if conn.call(&["PING"]).is_err() {
            // Reconnect once, as redis-cli's reconnectingRedisCommand.
            match connect(s, true) {
                Some(c) => {
                    conn = c;
                    continue;
                }
                None => {
                    eprintln!("\nI/O error");
                    return 1;
                }
            }
        }
        let latency = start.elapsed().as_millis() as u64;
        count += 1;
        if count == 1 {
            (min, max, tot) = (latency, latency, latency);
        } else {
            min = min.min(latency);
            max = max.max(latency);
            tot += latency;
        }
        let avg = tot as f64 / count as f64;
        if s.output == Output::Standard {
            let _ = write!(out, "\x1b[0G\x1b[2K");
            print_stats(&mut out, s.output, min, max, avg, count);
        } else if history {
            print_stats(&mut out, s.output, min, max, avg, count);
        } else if history_start.elapsed() > once_after {
            print_stats(&mut out, s.output, min, max, avg, count);
            return 0;
        }
        if history && history_start.elapsed() > history_every {
            let _ = writeln!(
                out,
                " -- {:.2} seconds range",
                history_start.elapsed().as_secs_f64()
            );
            history_start = Instant::now();
            (min, max, tot, count) = (0, 0, 0, 0);
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// A few hundred cheap operations, the unit of work timed by `--intrinsic-latency`.
fn compute_something_fast() -> u64 {
    let mut s = [0u8; 256];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    let (mut i, mut j, mut out) = (0u8, 0u8, 0u64);
    for _ in 0..1000 {
        i = i.wrapping_add(1);
        j = j.wrapping_add(s[i as usize]);
        s.swap(i as usize, j as usize);
        out = out.wrapping_add(s[s[i as usize].wrapping_add(s[j as usize]) as usize] as u64);
    }
    std::hint::black_box(out)
}

/// `--intrinsic-latency SECS`: how long this machine stalls the client itself
/// (scheduler, virtualisation), with no server involved, in redis-cli's words.
pub fn intrinsic_latency_mode(seconds: u64) -> i32 {
    super::cancel_on_sigint();
    let run_time_us = seconds.saturating_mul(1_000_000);
    let begin = Instant::now();
    let (mut max_latency, mut runs) = (0u64, 0u64);
    let mut out = io::stdout().lock();
    loop {
        let start = Instant::now();
        compute_something_fast();
        let latency = start.elapsed().as_micros() as u64;
        runs += 1;
        if latency == 0 {
            continue;
        }
        if latency > max_latency {
            max_latency = latency;
            let _ = writeln!(out, "Max latency so far: {max_latency} microseconds.");
            let _ = out.flush();
        }
        let avg_us = run_time_us as f64 / runs as f64;
        if super::cancelled() || begin.elapsed().as_micros() as u64 > run_time_us {
            let _ = writeln!(
                out,
                "\n{runs} total runs (avg latency: {avg_us:.4} microseconds / {:.2} nanoseconds per run).",
                avg_us * 1e3
            );
            let _ = writeln!(
                out,
                "Worst run took {:.0}x longer than the average latency.",
                max_latency as f64 / avg_us
            );
            let _ = out.flush();
            return 0;
        }
    }
}
