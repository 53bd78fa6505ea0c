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
