//! `--stat`: one line of server statistics from INFO every interval (1 s by
//! default), with redis-cli's header every 20 lines.

use std::io::{self, Write};
use std::time::Duration;

use cinnabar_resp::Frame;

use crate::args::Settings;
use crate::conn::{connect, Conn};

/// An INFO field as an integer (the text up to `\r` or `,`), as redis-cli's
/// `getLongInfoField`; `None` when absent.
pub fn info_field(info: &str, field: &str) -> Option<i64> {
    // "name:value" lines, and "db0:keys=1,..." where the field is "db0:keys".
    let line = info.lines().find(|l| {
        l.starts_with(field) && matches!(l.as_bytes().get(field.len()), Some(b':' | b'='))
    })?;
    let rest = &line[field.len() + 1..];
    let end = rest.find([',', '\r']).unwrap_or(rest.len());
    let digits: String = rest[..end]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    Some(digits.parse().unwrap_or(0))
}

/// 100B, 2.00K, 1.50M, 3.00G, as redis-cli's `bytesToHuman`.
pub fn bytes_to_human(n: i64) -> String {
    let (sign, n) = (if n < 0 { "-" } else { "" }, n.unsigned_abs());
    let d = n as f64;
    let s = if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", d / (1024.0 * 1024.0 * 1024.0))
    };
    format!("{sign}{s}")
}

/// One data line from an INFO text; `requests` carries the previous total.
pub fn stat_line(info: &str, requests: &mut i64) -> String {
    let keys: i64 = (0..20)
        .filter_map(|j| info_field(info, &format!("db{j}:keys")))
        .sum();
    let mut line = format!("{:<11}", keys.to_string());
    line.push_str(&format!(
        "{:<8}",
        bytes_to_human(info_field(info, "used_memory").unwrap_or(i64::MIN))
    ));
    let field = |f: &str| info_field(info, f).unwrap_or(i64::MIN);
    line.push_str(&format!(" {:<8}", field("connected_clients").to_string()));
    line.push_str(&format!("{:<8}", field("blocked_clients").to_string()));
    let total = field("total_commands_processed");
    let delta = if *requests == 0 { 0 } else { total - *requests };
    line.push_str(&format!("{:<19}", format!("{total} (+{delta})")));
    *requests = total;
    line.push_str(&format!(
        " {:<12}",
        field("total_connections_received").to_string()
    ));
    let flag = |f: &str| info_field(info, f).unwrap_or(0);
    let children = flag("bgsave_in_progress")
        | (flag("aof_rewrite_in_progress") << 1)
        | (flag("loading") << 2);
    line.push_str(match children {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    });
    line
}

pub const HEADER: &str =
    "------- data ------ --------------------- load -------------------- - child -\n\
keys       mem      clients blocked requests            connections          \n";

/// Runs until Ctrl-C, or for `limit` lines when given (tests; `-r N`).
pub fn stat_mode(mut conn: Conn, s: &Settings, limit: Option<u64>) -> i32 {
    let interval = Duration::from_micros(if s.interval_us > 0 {
        s.interval_us
    } else {
        1_000_000
    });
    let mut requests = 0i64;
    let mut out = io::stdout().lock();
    let mut i = 0u64;
    loop {
        let info = match conn.call(&["INFO"]) {
            Ok(Frame::Bulk(b)) | Ok(Frame::Verbatim { text: b, .. }) => {
                String::from_utf8_lossy(&b).into_owned()
            }
            Ok(Frame::Error(e)) => {
                eprintln!("ERROR: {e}");
                return 1;
            }
            Ok(_) => String::new(),
            Err(_) => match connect(s, true) {
                Some(c) => {
                    conn = c;
                    continue;
                }
                None => {
                    eprintln!("\nI/O error");
                    return 1;
                }
            },
        };
        if i.is_multiple_of(20) {
            let _ = out.write_all(HEADER.as_bytes());
        }
        i += 1;
        let _ = writeln!(out, "{}", stat_line(&info, &mut requests));
        let _ = out.flush();
        if limit.is_some_and(|l| i >= l) {
            return 0;
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_units() {
        let info = "# Memory\r\nused_memory:2048\r\nused_memory_human:2K\r\n# Keyspace\r\ndb0:keys=3,expires=0\r\ndb2:keys=4,expires=1\r\n";
        assert_eq!(info_field(info, "used_memory"), Some(2048));
        assert_eq!(info_field(info, "db2:keys"), Some(4));
        assert_eq!(info_field(info, "missing"), None);
        assert_eq!(bytes_to_human(100), "100B");
        assert_eq!(bytes_to_human(2048), "2.00K");
        assert_eq!(bytes_to_human(3 * 1024 * 1024 / 2), "1.50M");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
        let mut req = 0;
        let line = stat_line(info, &mut req);
        assert!(line.starts_with("7          2.00K   "), "{line:?}");
    }
}
