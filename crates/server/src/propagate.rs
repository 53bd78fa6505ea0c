//! The propagation stream: the commands that reproduce every change, in order, for the AOF
//! (and, with replication, the replicas). Fed by the effects sink when an execution unit
//! ends (`dispatch::sink`), and by the server's own deletions (active expiry, eviction).
//! Everything in it is deterministic: absolute deadlines, explicit members, generated ids.
//!
//! A unit's commands are encoded as RESP once, when they are recorded ([`Unit`]); the
//! backlog and the AOF buffer each copy those bytes, adding the SELECTs and the MULTI/EXEC
//! wrapping their own stream needs. So recording a write costs no allocation (the thread's
//! unit buffer is reused) and no encoding per consumer.

use std::sync::atomic::Ordering;

use cinnabar_resp::encode_command;

use crate::server::Server;

/// One execution unit's propagated commands, encoded as RESP arrays back to back.
#[derive(Default, Debug)]
pub struct Unit {
    bytes: Vec<u8>,
    /// Per command: its database and where its encoding ends in `bytes`.
    ops: Vec<(usize, usize)>,
}

impl Unit {
    /// A unit of the one command `args`, run in `db`.
    pub fn one<A: AsRef<[u8]>>(db: usize, args: &[A]) -> Self {
        let mut u = Unit::default();
        u.push(db, args);
        u
    }

    /// Adds the command `args`, run in `db`.
    pub fn push<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        encode_command(args, &mut self.bytes);
        self.ops.push((db, self.bytes.len()));
    }

    /// Commands held.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Empties the unit, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ops.clear();
    }

    /// Bytes the buffers hold on to (a thread keeps a small unit for the next one).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends the unit to a stream whose last SELECTed database is `*db` (updated): a
    /// SELECT before a command in another database, and MULTI/EXEC around a unit of
    /// several commands (Redis 7.2's propagatePendingCommands). Returns the bytes added.
    pub fn write_to(&self, out: &mut Vec<u8>, db: &mut Option<usize>) -> usize {
        let before = out.len();
        let wrap = self.ops.len() > 1;
        out.reserve(self.bytes.len() + if wrap { 30 } else { 0 });
        if wrap {
            out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        }
        let mut start = 0;
        for &(d, end) in &self.ops {
            if *db != Some(d) {
                let mut n = itoa::Buffer::new();
                encode_command(&[&b"SELECT"[..], n.format(d).as_bytes()], out);
                *db = Some(d);
            }
            out.extend_from_slice(&self.bytes[start..end]);
            start = end;
        }
        if wrap {
            out.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        }
        out.len() - before
    }
}

/// Whether anything consumes the stream (the AOF, replicas): commands build rewrites only
/// then.
#[inline]
pub fn on(server: &Server) -> bool {
    server.persist.aof.on.load(Ordering::Relaxed) || server.repl.on.load(Ordering::Relaxed)
}

/// Appends one execution unit's commands. Returns the AOF position a client that caused
/// them must see written (or fsynced) before its reply.
pub fn feed(server: &Server, unit: &Unit) -> u64 {
    if unit.is_empty() {
        return 0;
    }
    if server.repl.on.load(Ordering::Relaxed) {
        crate::replication::feed(server, unit);
    }
    if !server.persist.aof.on.load(Ordering::Relaxed) {
        return 0;
    }
    crate::persist::aof::append_unit(server, unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_and_wrapping() {
        let mut u = Unit::default();
        u.push(1, &[&b"INCR"[..], b"a"]);
        let mut out = Vec::new();
        let mut db = Some(1);
        assert_eq!(u.write_to(&mut out, &mut db), out.len());
        assert_eq!(out, b"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n");
        u.push(2, &[b"INCR".to_vec(), b"b".to_vec()]);
        out.clear();
        u.write_to(&mut out, &mut db);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(db, Some(2));
        u.clear();
        assert!(u.is_empty());
    }
}
