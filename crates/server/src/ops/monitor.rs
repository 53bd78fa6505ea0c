//! MONITOR: every command clients run, as Redis 7.2 shows it, streamed to the clients in
//! monitor mode.
//!
//! A monitor's lines go through its pub/sub mailbox (`crate::pubsub::Mailbox`): the feeding
//! worker appends the encoded line under the mailbox's small mutex and wakes the monitor's own
//! connection task, which writes it; no worker ever touches another connection's socket.
//! While no monitor is attached, the only cost per command is the relaxed load of
//! [`Monitors::active`] that dispatch makes once per command.
//!
//! Line format (Redis's replicationFeedMonitors):
//! `+<secs>.<usecs> [<db> <addr>] "arg" "arg"...\r\n`, addr being `lua` for commands
//! a script runs, each argument quoted and escaped as Redis's sdscatrepr, passwords shown
//! as `(redacted)` (see [`super::redact`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::dispatch::Client;
use crate::pubsub::Mailbox;
use crate::server::Server;

/// The clients in monitor mode.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Mailbox>>>,
}

impl Monitors {
    /// Whether any monitor is attached (one relaxed load).
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    pub fn attach(&self, mailbox: Arc<Mailbox>) {
        let mut list = self.list.lock();
        if list.iter().any(|m| m.id == mailbox.id) {
            return;
        }
        list.push(mailbox);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Leaves monitor mode (RESET, disconnection).
    pub fn detach(&self, id: u64) {
        let mut list = self.list.lock();
        list.retain(|m| m.id != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sends one command to every monitor. `db` is the database the command ran in.
#[cold]
#[inline(never)]
pub fn feed(server: &Server, client: &Client, db: usize, args: &[&[u8]]) {
    if server.persist.is_loading() {
        return;
    }
    let line = line(client, db, args, crate::server::now_us());
    // Lock order: this list, then a mailbox (as the pub/sub registry, then a mailbox).
    for m in server.ops.monitors.list.lock().iter() {
        m.deliver_raw(&line, server);
    }
}

/// The encoded line for one command at `now_us` (microseconds since the epoch).
pub fn line(client: &Client, db: usize, args: &[&[u8]], now_us: i64) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        out,
        "+{}.{:06} [{} ",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db
    );
    if client.in_script {
        out.extend_from_slice(b"lua");
    } else {
        out.extend_from_slice(client.shared.addr.as_bytes());
    }
    out.extend_from_slice(b"] ");
    super::redact::for_each(args, |i, a| {
        if i > 0 {
            out.push(b' ');
        }
        repr(&mut out, a);
    });
    out.extend_from_slice(b"\r\n");
    out
}

/// Appends `s` quoted and escaped as Redis's sdscatrepr.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\x");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_as_redis() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\xff z");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\"b\\c\n\r\t\a\b\x00\xff z""#
        );
    }
}
