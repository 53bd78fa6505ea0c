//! The replication stream's memory: one byte buffer holding the newest part of the stream,
//! shared by every attached replica (each only remembers how far it has sent) and by
//! partial resynchronisation (PSYNC of a replica that was cut off).
//!
//! Offsets are Redis's: `end` is `master_repl_offset`, the number of stream bytes ever
//! produced under the current history; the buffer holds bytes `end - len + 1 ..= end`.
//! The buffer keeps at least `repl-backlog-size` bytes, and more while an attached replica
//! still needs older bytes (Redis's shared replication buffer), up to `hard_limit` beyond
//! the backlog: a replica that falls further behind is closed (the output-buffer limit,
//! `replication::trim_after_append`).

use crate::propagate::Unit;

#[derive(Default)]
pub struct Backlog {
    /// Stream bytes; the live part is `data[head..]`.
    data: Vec<u8>,
    head: usize,
    /// master_repl_offset.
    pub end: u64,
    /// Whether the backlog exists (Redis creates it with the first replica).
    pub active: bool,
    /// repl-backlog-size.
    pub size: usize,
    /// Extra bytes kept for lagging replicas (client-output-buffer-limit replica hard).
    pub hard_limit: usize,
    /// The database the stream last SELECTed (None: SELECT before the next command).
    pub db: Option<usize>,
}

impl Backlog {
    /// Bytes held (repl_backlog_histlen).
    pub fn len(&self) -> usize {
        self.data.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// repl_backlog_first_byte_offset.
    pub fn first_offset(&self) -> u64 {
        self.end + 1 - self.len() as u64
    }

    /// Starts the backlog (empty) at offset `end`.
    pub fn activate(&mut self, end: u64) {
        self.data.clear();
        self.head = 0;
        self.end = end;
        self.active = true;
        self.db = None;
    }

    /// Forgets the stream (a replica that resyncs from scratch, or backlog TTL).
    pub fn reset(&mut self, end: u64) {
        self.activate(end);
    }

    /// Appends one execution unit (see `crate::propagate::feed`).
    pub fn append_unit(&mut self, unit: &Unit) {
        self.end +=
            unit.write_to(&mut self.data, &mut self.db, crate::propagate::TO_REPLICAS) as u64;
    }

    /// Appends raw stream bytes (a replica proxying its primary's stream; PING).
    pub fn append_raw(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.end += bytes.len() as u64;
    }

    /// Drops bytes nobody needs: keeps `size` bytes, or back to `oldest_needed + 1` (the
    /// first byte an attached replica has not been sent) within `hard_limit` more.
    pub fn trim(&mut self, oldest_needed: Option<u64>) {
        let len = self.len();
        if len <= self.size {
            return;
        }
        let mut keep = self.size;
        if let Some(o) = oldest_needed {
            let need = self.end.saturating_sub(o) as usize;
            keep = keep.max(need.min(self.size + self.hard_limit));
        }
        if len > keep {
            self.head += len - keep;
        }
        // Move the live part down once the dead part dominates (amortised O(1) per byte).
        if self.head > (1 << 20) && self.head * 2 > self.data.len() {
            self.data.drain(..self.head);
            self.head = 0;
        }
    }

    /// The bytes after offset `from` (what a replica that has `from` must be sent next), at
    /// most `max`; None when they are no longer held.
    pub fn since(&self, from: u64, max: usize) -> Option<&[u8]> {
        if from > self.end {
            return None;
        }
        let first = self.first_offset();
        if from + 1 < first {
            return None;
        }
        let start = self.head + (from + 1 - first) as usize;
        let stop = (start + max).min(self.data.len());
        Some(&self.data[start..stop])
    }

    /// Whether a replica holding offset `from` can continue from this backlog.
    pub fn can_continue(&self, from: u64) -> bool {
        self.active && self.since(from, 0).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_selects_and_trim() {
        let mut b = Backlog {
            size: 64,
            hard_limit: 64,
            ..Default::default()
        };
        b.activate(100);
        assert_eq!(b.first_offset(), 101);
        b.append_unit(&Unit::one(0, &[&b"SET"[..], b"k", b"v"]));
        let expect = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(b.end, 100 + expect.len() as u64);
        assert_eq!(b.since(100, 1000).unwrap(), &expect[..]);
        assert_eq!(b.since(104, 1000).unwrap(), &expect[4..]);
        // Same db: no SELECT again.
        let at = b.end;
        b.append_unit(&Unit::one(0, &[&b"DEL"[..], b"k"]));
        assert_eq!(
            b.since(at, 1000).unwrap(),
            b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
        );
        // Trimmed to the backlog size when nobody needs more.
        b.append_raw(&[b'x'; 200]);
        b.trim(None);
        assert_eq!(b.len(), 64);
        assert!(b.since(at, 10).is_none());
        assert!(b.can_continue(b.end - 64));
        assert!(!b.can_continue(b.end - 65));
        // A lagging replica keeps up to size + hard_limit.
        let lag = b.end - 64;
        b.append_raw(&[b'y'; 50]);
        b.trim(Some(lag));
        assert_eq!(b.len(), 114);
        b.append_raw(&[b'z'; 50]);
        b.trim(Some(lag));
        assert_eq!(b.len(), 128);
        assert!(b.since(lag, 1).is_none());
    }

    #[test]
    fn multi_exec_wrap() {
        let mut b = Backlog {
            size: 1 << 20,
            ..Default::default()
        };
        b.activate(0);
        b.db = Some(1);
        let mut u = Unit::one(1, &[&b"INCR"[..], b"a"]);
        u.push(2, &[&b"INCR"[..], b"b"]);
        b.append_unit(&u);
        let got = String::from_utf8(b.since(0, 1 << 20).unwrap().to_vec()).unwrap();
        assert_eq!(
            got,
            "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
    }
}
