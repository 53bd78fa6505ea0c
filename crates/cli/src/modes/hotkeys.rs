//! `--hotkeys`: SCAN the keyspace, pipeline OBJECT FREQ for each batch and keep
//! the 16 hottest keys, reported in redis-cli's words (needs an LFU
//! maxmemory-policy, else the server's error is shown).

use std::io::{self, Write};
use std::time::Duration;

use cinnabar_resp::Frame;

use crate::args::Settings;
use crate::conn::Conn;
use crate::format::repr;

const SAMPLES: usize = 16;

fn quoted(k: &[u8]) -> String {
    let mut v = Vec::new();
    repr(&mut v, k);
    String::from_utf8_lossy(&v).into_owned()
}

/// Insert `freq` into the ascending pool of the hottest keys, as redis-cli's
/// eviction-pool logic does. Returns whether the key entered the pool.
pub fn pool_insert(counters: &mut [u64], keys: &mut [String], freq: u64, key: &str) -> bool {
    let mut k = 0;
    while k < counters.len() && freq > counters[k] {
        k += 1;
    }
    if k == 0 {
        return false;
    }
    k -= 1;
    if k != 0 && counters[k] != 0 {
        // Drop the coldest and shift the colder ones down.
        counters.copy_within(1..=k, 0);
        keys[..=k].rotate_left(1);
    }
    counters[k] = freq;
    keys[k] = key.to_string();
    true
}

pub fn hotkeys_mode(
    conn: &mut Conn,
    s: &Settings,
    pattern: Option<&[u8]>,
    count: Option<u64>,
) -> i32 {
    super::cancel_on_sigint();
    let total_keys = match conn.call(&["DBSIZE"]) {
        Ok(Frame::Integer(n)) => n.max(0) as u64,
        Ok(Frame::Error(e)) => {
            eprintln!("Couldn't determine DBSIZE: {e}");
            return 1;
        }
        _ => {
            eprintln!("\nI/O error");
            return 1;
        }
    };
    let mut out = io::stdout().lock();
    let _ = write!(
        out,
        "\n# Scanning the entire keyspace to find hot keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n"
    );
    let mut counters = [0u64; SAMPLES];
    let mut hot: Vec<String> = vec![String::new(); SAMPLES];
    let (mut sampled, mut loops) = (0u64, 0u64);
    let mut cursor = b"0".to_vec();
    let mut pct;
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = super::scan_step(conn, &cursor, pattern, count);
        loops += 1;
        for k in &keys {
            if conn.send(&[b"OBJECT".as_slice(), b"FREQ", k]).is_err() {
                eprintln!("\nI/O error");
                return 1;
            }
        }
        for k in &keys {
            let freq = match conn.read_frame() {
                Ok(Frame::Integer(n)) => n.max(0) as u64,
                Ok(Frame::Error(e)) => {
                    let _ = out.flush();
                    eprintln!("Error: {e}");
                    return 1;
                }
                Ok(_) => {
                    eprintln!(
                        "Warning: OBJECT freq on '{}' failed (may have been deleted)",
                        quoted(k)
                    );
                    0
                }
                Err(e) => {
                    eprintln!("Error getting freq for key '{}' ({e})", quoted(k));
                    return 1;
                }
            };
            sampled += 1;
            if sampled.is_multiple_of(1_000_000) {
                let _ = writeln!(out, "[{pct:05.2}%] Sampled {sampled} keys so far");
            }
            let name = quoted(k);
            if pool_insert(&mut counters, &mut hot, freq, &name) {
                let _ = writeln!(
                    out,
                    "[{pct:05.2}%] Hot key '{name}' found so far with counter {freq}"
                );
            }
        }
        let _ = out.flush();
        if s.interval_us > 0 && loops.is_multiple_of(100) {
            std::thread::sleep(Duration::from_micros(s.interval_us));
        }
        cursor = next;
        if cursor == b"0" || super::cancelled() {
            break;
        }
    }
    let _ = write!(out, "\n-------- summary -------\n\n");
    if super::cancelled() {
        let _ = write!(out, "[{pct:05.2}%] ");
    }
    let _ = writeln!(out, "Sampled {sampled} keys in the keyspace!");
    for k in (0..SAMPLES).rev() {
        if counters[k] > 0 {
            let _ = writeln!(
                out,
                "hot key found with counter: {}\tkeyname: {}",
                counters[k], hot[k]
            );
        }
    }
    let _ = out.flush();
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_hottest_in_ascending_order() {
        let mut c = [0u64; 4];
        let mut k = vec![String::new(); 4];
        assert!(!pool_insert(&mut c, &mut k, 0, "zero"));
        for (f, name) in [(5, "a"), (3, "b"), (9, "c"), (1, "d"), (7, "e"), (2, "f")] {
            pool_insert(&mut c, &mut k, f, name);
        }
        assert_eq!(c, [3, 5, 7, 9]);
        assert_eq!(k, vec!["b", "a", "e", "c"]);
    }
}
