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

/// The 256-colour background ramps of `--latency-dist` (`--mono` for grey only).
const PALETTE_COLOR: [u8; 19] = [
    0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 144, 143, 142, 184, 226, 214, 208, 202, 196,
];
const PALETTE_MONO: [u8; 13] = [
    0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 249, 251, 253,
];

/// Buckets: upper bound in microseconds (0: anything above) and the character shown.
const BUCKETS: [(u64, u8); 31] = [
    (10, b'.'),
    (125, b'-'),
    (250, b'*'),
    (500, b'#'),
    (1000, b'1'),
    (2000, b'2'),
    (3000, b'3'),
    (4000, b'4'),
    (5000, b'5'),
    (6000, b'6'),
    (7000, b'7'),
    (8000, b'8'),
    (9000, b'9'),
    (10000, b'A'),
    (20000, b'B'),
    (30000, b'C'),
    (40000, b'D'),
    (50000, b'E'),
    (100000, b'F'),
    (200000, b'G'),
    (300000, b'H'),
    (400000, b'I'),
    (500000, b'J'),
    (1000000, b'K'),
    (2000000, b'L'),
    (4000000, b'M'),
    (8000000, b'N'),
    (16000000, b'O'),
    (30000000, b'P'),
    (60000000, b'Q'),
    (0, b'?'),
];

fn legend(out: &mut impl Write, palette: &[u8]) {
    let _ = write!(
        out,
        "---------------------------------------------\n\
         . - * #          .01 .125 .25 .5 milliseconds\n\
         1,2,3,...,9      from 1 to 9     milliseconds\n\
         A,B,C,D,E        10,20,30,40,50  milliseconds\n\
         F,G,H,I,J        .1,.2,.3,.4,.5       seconds\n\
         K,L,M,N,O,P,Q,?  1,2,4,8,16,30,60,>60 seconds\n\
         From 0 to 100%: "
    );
    for c in palette {
        let _ = write!(out, "\x1b[48;5;{c}m ");
    }
    let _ = write!(
        out,
        "\x1b[0m\n---------------------------------------------\n"
    );
}

/// One spectrum line: each bucket's character on a background as bright as its
/// share of the samples. The counts are reset.
pub fn spectrum_line(counts: &mut [u64; 31], total: u64, palette: &[u8]) -> String {
    let mut line = String::from("\x1b[38;5;0m");
    for (count, (_, ch)) in counts.iter_mut().zip(BUCKETS) {
        let idx = ((*count as f64 / total as f64) * (palette.len() - 1) as f64).ceil() as usize;
        line.push_str(&format!(
            "\x1b[48;5;{}m{}",
            palette[idx.min(palette.len() - 1)],
            ch as char
        ));
        *count = 0;
    }
    line.push_str("\x1b[0m");
    line
}

/// `--latency-dist`: PING every 10 ms and draw the latency spectrum every interval
/// (1 s by default), with the legend every 20 lines; `limit` lines when given (-r).
pub fn latency_dist_mode(mut conn: Conn, s: &Settings, mono: bool, limit: Option<u64>) -> i32 {
    let palette: &[u8] = if mono { &PALETTE_MONO } else { &PALETTE_COLOR };
    let every = if s.interval_us > 0 {
        Duration::from_micros(s.interval_us)
    } else {
        Duration::from_secs(1)
    };
    let mut counts = [0u64; 31];
    let (mut count, mut outputs) = (0u64, 0u64);
    let mut since = Instant::now();
    let mut out = io::stdout().lock();
    loop {
        let start = Instant::now();
        if conn.call(&["PING"]).is_err() {
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
        let us = start.elapsed().as_micros() as u64;
        count += 1;
        let bucket = BUCKETS
            .iter()
            .position(|&(max, _)| max == 0 || us <= max)
            .unwrap_or(BUCKETS.len() - 1);
        counts[bucket] += 1;
        if since.elapsed() > every {
            if outputs % 20 == 0 {
                legend(&mut out, palette);
            }
            outputs += 1;
            let _ = writeln!(out, "{}", spectrum_line(&mut counts, count, palette));
            let _ = out.flush();
            if limit.is_some_and(|l| outputs >= l) {
                return 0;
            }
            since = Instant::now();
            count = 0;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_brightness_follows_the_share() {
        let mut counts = [0u64; 31];
        counts[0] = 3;
        counts[4] = 1;
        let line = spectrum_line(&mut counts, 4, &PALETTE_MONO);
        // 3/4 of 12 steps = 9 -> 247; 1/4 -> 3 -> 235; empty buckets black.
        assert!(
            line.starts_with("\x1b[38;5;0m\x1b[48;5;247m.\x1b[48;5;0m-"),
            "{line:?}"
        );
        assert!(line.contains("\x1b[48;5;235m1"), "{line:?}");
        assert!(line.ends_with("\x1b[48;5;0m?\x1b[0m"), "{line:?}");
        assert_eq!(counts, [0; 31]);
    }
}
