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

/// Where a propagated command goes (Redis's PROPAGATE_AOF / PROPAGATE_REPL): both, unless a
/// script chose otherwise with `redis.set_repl`.
pub const TO_AOF: u8 = 1;
pub const TO_REPLICAS: u8 = 2;
pub const TO_ALL: u8 = TO_AOF | TO_REPLICAS;

/// One execution unit's propagated commands, encoded as RESP arrays back to back.
#[derive(Default, Debug)]
pub struct Unit {
    bytes: Vec<u8>,
    /// Per command: its database, where its encoding ends in `bytes`, and where it goes
    /// (`TO_*`).
    ops: Vec<(usize, usize, u8)>,
}

impl Unit {
    /// A unit of the one command `args`, run in `db`.
    pub fn one<A: AsRef<[u8]>>(db: usize, args: &[A]) -> Self {
        let mut u = Unit::default();
        u.push(db, args);
        u
    }

    /// Adds the command `args`, run in `db`, for both streams.
    pub fn push<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        self.push_to(db, args, TO_ALL);
    }

    /// Adds the command `args`, run in `db`, for the streams `to` names (`TO_*`).
    pub fn push_to<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A], to: u8) {
        encode_command(args, &mut self.bytes);
        self.ops.push((db, self.bytes.len(), to));
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

    /// Appends the unit's commands for `stream` (`TO_AOF` or `TO_REPLICAS`) to a stream
    /// whose last SELECTed database is `*db` (updated): a SELECT before a command in another
    /// database, and MULTI/EXEC around a unit of several commands (Redis 7.2's
    /// propagatePendingCommands). Returns the bytes added.
    pub fn write_to(&self, out: &mut Vec<u8>, db: &mut Option<usize>, stream: u8) -> usize {
        let before = out.len();
        let mut n = self.ops.len();
        if self.ops.iter().any(|op| op.2 & stream == 0) {
            n = self.ops.iter().filter(|op| op.2 & stream != 0).count();
        }
        let wrap = n > 1;
        out.reserve(self.bytes.len() + if wrap { 30 } else { 0 });
        if wrap {
            out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        }
        let mut start = 0;
        for &(d, end, to) in &self.ops {
            if to & stream == 0 {
                start = end;
                continue;
            }
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
        assert_eq!(u.write_to(&mut out, &mut db, TO_AOF), out.len());
        assert_eq!(out, b"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n");
        u.push(2, &[b"INCR".to_vec(), b"b".to_vec()]);
        out.clear();
        u.write_to(&mut out, &mut db, TO_REPLICAS);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(db, Some(2));
        // A command a script kept from one stream (redis.set_repl) is left out of it, and
        // the wrapping counts only what that stream gets.
        u.push_to(3, &[&b"SET"[..], b"c", b"3"], TO_AOF);
        out.clear();
        u.write_to(&mut out, &mut db, TO_REPLICAS);
        assert_eq!(out.iter().filter(|&&b| b == b'*').count(), 6);
        assert!(!String::from_utf8_lossy(&out).contains("SET"));
        out.clear();
        let mut db = Some(3);
        u.write_to(&mut out, &mut db, TO_AOF);
        assert!(String::from_utf8_lossy(&out)
            .ends_with("$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n*1\r\n$4\r\nEXEC\r\n"));
        let mut lone = Unit::default();
        lone.push_to(0, &[&b"SET"[..], b"c", b"3"], TO_AOF);
        lone.push(0, &[&b"INCR"[..], b"a"]);
        out.clear();
        lone.write_to(&mut out, &mut Some(0), TO_REPLICAS);
        assert_eq!(out, b"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n");
        u.clear();
        assert!(u.is_empty());
    }
}
