//! `--bigkeys` / `--memkeys`: SCAN the keyspace, pipeline TYPE and a size command
//! for each batch, and report the biggest key of each type and the totals, in
//! redis-cli's words.

use std::io::{self, Write};
use std::time::Duration;

use cinnabar_resp::Frame;

use crate::args::Settings;
use crate::conn::Conn;
use crate::format::repr;

struct TypeInfo {
    name: String,
    size_cmd: Option<&'static str>,
    unit: &'static str,
    biggest: u64,
    count: u64,
    total: u64,
    biggest_key: Option<String>,
}

impl TypeInfo {
    fn new(name: &str, size_cmd: Option<&'static str>, unit: &'static str) -> TypeInfo {
        TypeInfo {
            name: name.to_string(),
            size_cmd,
            unit,
            biggest: 0,
            count: 0,
            total: 0,
            biggest_key: None,
        }
    }
}

fn quoted(k: &[u8]) -> String {
    let mut v = Vec::new();
    repr(&mut v, k);
    String::from_utf8_lossy(&v).into_owned()
}

fn io_exit() -> ! {
    eprintln!("\nI/O error");
    std::process::exit(1);
}

/// `memkeys`: sizes from MEMORY USAGE (with SAMPLES when `samples` is given).
pub fn bigkeys_mode(
    conn: &mut Conn,
    s: &Settings,
    memkeys: bool,
    samples: Option<u64>,
    pattern: Option<&[u8]>,
    count: Option<u64>,
) -> i32 {
    super::cancel_on_sigint();
    let mut types = vec![
        TypeInfo::new("string", Some("STRLEN"), "bytes"),
        TypeInfo::new("list", Some("LLEN"), "items"),
        TypeInfo::new("set", Some("SCARD"), "members"),
        TypeInfo::new("hash", Some("HLEN"), "fields"),
        TypeInfo::new("zset", Some("ZCARD"), "members"),
        TypeInfo::new("stream", Some("XLEN"), "entries"),
    ];
    let total_keys = match conn.call(&["DBSIZE"]) {
        Ok(Frame::Integer(n)) => n.max(0) as u64,
        Ok(Frame::Error(e)) => {
            eprintln!("Couldn't determine DBSIZE: {e}");
            return 1;
        }
        Ok(_) => {
            eprintln!("Non INTEGER response from DBSIZE!");
            return 1;
        }
        Err(_) => io_exit(),
    };
    let mut out = io::stdout().lock();
    let _ = write!(
        out,
        "\n# Scanning the entire keyspace to find biggest keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n"
    );
    let (mut sampled, mut totlen, mut loops) = (0u64, 0u64, 0u64);
    let mut cursor = b"0".to_vec();
    let mut pct;
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = super::scan_step(conn, &cursor, pattern, count);
        loops += 1;
        // Types, pipelined.
        for k in &keys {
            if conn.send(&[b"TYPE".as_slice(), k]).is_err() {
                io_exit();
            }
        }
        let mut kinds: Vec<Option<usize>> = Vec::with_capacity(keys.len());
        for k in &keys {
            let t = match conn.read_frame() {
                Ok(Frame::Simple(t)) => t,
                Ok(Frame::Error(e)) => {
                    eprintln!("TYPE returned an error: {e}");
                    return 1;
                }
                Ok(_) => {
                    eprintln!("Invalid reply type for TYPE on key '{}'!", quoted(k));
                    return 1;
                }
                Err(_) => io_exit(),
            };
            // A key deleted since SCAN is "none" and skipped; unknown (module) types
            // are counted as such.
            kinds.push(if t == "none" {
                None
            } else if let Some(i) = types.iter().position(|x| x.name == t) {
                Some(i)
            } else {
                types.push(TypeInfo::new(&t, None, "?"));
                Some(types.len() - 1)
            });
        }
        // Sizes, pipelined.
        let wanted = |i: Option<usize>, types: &Vec<TypeInfo>| {
            i.filter(|&i| memkeys || types[i].size_cmd.is_some())
        };
        for (k, &kind) in keys.iter().zip(&kinds) {
            let Some(i) = wanted(kind, &types) else {
                continue;
            };
            let sent = if memkeys {
                let mut c: Vec<Vec<u8>> = vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k.clone()];
                if let Some(n) = samples {
                    c.push(b"SAMPLES".to_vec());
                    c.push(n.to_string().into_bytes());
                }
                conn.send(&c)
            } else {
                conn.send(&[types[i].size_cmd.unwrap_or("").as_bytes(), k])
            };
            if sent.is_err() {
                io_exit();
            }
        }
        let mut sizes = vec![0u64; keys.len()];
        for (j, (k, &kind)) in keys.iter().zip(&kinds).enumerate() {
            let Some(i) = wanted(kind, &types) else {
                continue;
            };
            match conn.read_frame() {
                Ok(Frame::Integer(n)) => sizes[j] = n.max(0) as u64,
                Ok(_) => {
                    eprintln!(
                        "Warning:  {} on '{}' failed (may have changed type)",
                        if memkeys {
                            "MEMORY USAGE"
                        } else {
                            types[i].size_cmd.unwrap_or("")
                        },
                        quoted(k)
                    );
                }
                Err(_) => io_exit(),
            }
        }
        for (j, k) in keys.iter().enumerate() {
            let Some(i) = kinds[j] else { continue };
            let t = &mut types[i];
            t.total += sizes[j];
            t.count += 1;
            totlen += k.len() as u64;
            sampled += 1;
            if t.biggest < sizes[j] {
                let name = quoted(k);
                let _ = writeln!(
                    out,
                    "[{pct:05.2}%] Biggest {:<6} found so far '{name}' with {} {}",
                    t.name,
                    sizes[j],
                    if memkeys { "bytes" } else { t.unit }
                );
                t.biggest_key = Some(name);
                t.biggest = sizes[j];
            }
            if sampled.is_multiple_of(1_000_000) {
                let _ = writeln!(out, "[{pct:05.2}%] Sampled {sampled} keys so far");
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
    let avg = if totlen > 0 {
        totlen as f64 / sampled as f64
    } else {
        0.0
    };
    let _ = write!(
        out,
        "Total key length in bytes is {totlen} (avg len {avg:.2})\n\n"
    );
    for t in &types {
        if let Some(k) = &t.biggest_key {
            let _ = writeln!(
                out,
                "Biggest {:>6} found '{k}' has {} {}",
                t.name,
                t.biggest,
                if memkeys { "bytes" } else { t.unit }
            );
        }
    }
    let _ = writeln!(out);
    for t in &types {
        let share = if sampled > 0 {
            100.0 * t.count as f64 / sampled as f64
        } else {
            0.0
        };
        let avg = if t.count > 0 {
            t.total as f64 / t.count as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{} {}s with {} {} ({share:05.2}% of keys, avg size {avg:.2})",
            t.count,
            t.name,
            t.total,
            if memkeys { "bytes" } else { t.unit }
        );
    }
    let _ = out.flush();
    0
}
