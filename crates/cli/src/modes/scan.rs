//! `--scan [--pattern P] [--count N]`: every key, one per line (quoted on a terminal).

use std::io::{self, Write};
use std::time::Duration;

use crate::args::Settings;
use crate::conn::Conn;
use crate::format::{repr, Output};

pub fn scan_mode(conn: &mut Conn, s: &Settings, pattern: Option<&[u8]>, count: Option<u64>) -> i32 {
    super::cancel_on_sigint();
    let mut cursor = b"0".to_vec();
    let mut stdout = io::stdout().lock();
    loop {
        let (next, keys) = super::scan_step(conn, &cursor, pattern, count);
        for k in keys {
            let mut line = Vec::new();
            if s.output == Output::Standard {
                repr(&mut line, &k);
            } else {
                line.extend_from_slice(&k);
            }
            line.push(b'\n');
            if stdout.write_all(&line).is_err() {
                return 0;
            }
        }
        let _ = stdout.flush();
        if s.interval_us > 0 {
            std::thread::sleep(Duration::from_micros(s.interval_us));
        }
        cursor = next;
        if cursor == b"0" || super::cancelled() {
            return 0;
        }
    }
}
