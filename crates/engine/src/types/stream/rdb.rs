//! Streams in RDB files and DUMP payloads: RDB_TYPE_STREAM_LISTPACKS (15, Redis 5-6),
//! _2 (19, Redis 7.0: first ID, max deleted ID, entries added, group entries-read) and _3
//! (21, Redis 7.2: consumers' active time), written as _3 field for field as Redis 7.2's
//! rdbSaveObject does, so Redis 7.2 loads what we DUMP and the other way round.
//!
//! Layout: node count, then per node its master ID (16 bytes big endian, as a string) and
//! its listpack (a string, LZF-compressed when that pays); length, last ID, [first ID, max
//! deleted ID, entries added]; group count, then per group its name, last ID,
//! [entries read], the PEL (count, then raw 16-byte ID, delivery time as 8 bytes little
//! endian, delivery count) and the consumers (count, then name, seen time, [active time],
//! and their PEL as raw IDs only).
//!
//! Loading checks everything Redis's deep sanitization checks, and what our structure
//! relies on besides: every listpack (see [`Node::from_listpack`]), node keys unique and
//! entries in ID order across nodes, the length equal to the live entries, no entry above
//! the last ID, no duplicate group, consumer or PEL entry, every consumer PEL entry in the
//! group PEL and every group PEL entry owned by exactly one consumer. Counts only drive
//! loops that consume input, so a huge count ends at the end of the input, with an error.

use std::io::Read;

use super::group::Group;
use super::node::Node;
use super::{meta, Stream, StreamId};
use crate::rdb::{put_len, put_string, RdbError, Reader};
use crate::rdb::{TYPE_STREAM_LISTPACKS_2, TYPE_STREAM_LISTPACKS_3};

/// Appends the value of `s` (without the type byte, which is RDB_TYPE_STREAM_LISTPACKS_3).
pub(crate) fn save(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    put_len(out, s.nodes.len() as u64);
    for (master, node) in &s.nodes {
        put_string(out, &master.to_be_bytes(), compress);
        put_string(out, &node.to_listpack(*master), compress);
    }
    put_len(out, s.length);
    for v in [
        s.last_id.ms,
        s.last_id.seq,
        s.first_id.ms,
        s.first_id.seq,
        s.max_deleted.ms,
        s.max_deleted.seq,
        s.entries_added,
    ] {
        put_len(out, v);
    }
    put_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_string(out, name, compress);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for p in g.pending(StreamId::MIN, StreamId::MAX, None) {
            out.extend_from_slice(&p.id.to_be_bytes());
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            put_len(out, p.delivery_count);
        }
        put_len(out, g.consumers_len() as u64);
        for c in g.consumers() {
            put_string(out, c.name(), compress);
            out.extend_from_slice(&c.seen_time().to_le_bytes());
            out.extend_from_slice(&c.active_time().to_le_bytes());
            put_len(out, c.pending_len() as u64);
            for id in c.pending_ids() {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

fn raw_id<R: Read>(r: &mut Reader<R>) -> Result<StreamId, RdbError> {
    let b: [u8; 16] = r.bytes(16)?.try_into().expect("16 bytes");
    Ok(StreamId::from_be_bytes(b))
}

fn ms_time<R: Read>(r: &mut Reader<R>) -> Result<i64, RdbError> {
    Ok(i64::from_le_bytes(r.bytes(8)?.try_into().expect("8 bytes")))
}

fn id_pair<R: Read>(r: &mut Reader<R>) -> Result<StreamId, RdbError> {
    let ms = r.len()?;
    let seq = r.len()?;
    Ok(StreamId::new(ms, seq))
}

/// Reads a stream value of RDB type `t` (15, 19 or 21).
pub(crate) fn load<R: Read>(r: &mut Reader<R>, t: u8) -> Result<Stream, RdbError> {
    let mut s = Stream::new();
    let nodes = r.count()?;
    let mut loaded: Vec<(StreamId, Node, StreamId, StreamId)> = Vec::new();
    for _ in 0..nodes {
        let key = r.string()?;
        let Ok(key) = <[u8; 16]>::try_from(&key[..]) else {
            return r.corrupt("Stream node key entry is not the size of a stream ID");
        };
        let master = StreamId::from_be_bytes(key);
        let lp = r.string()?;
        match Node::from_listpack(master, &lp) {
            Ok((node, first, last)) => loaded.push((master, node, first, last)),
            Err(e) => {
                return r.corrupt(format!("Stream listpack integrity check failed: {e}"));
            }
        }
    }
    loaded.sort_unstable_by_key(|l| l.0);
    let mut prev_last: Option<StreamId> = None;
    let mut live = 0u64;
    for (master, node, first, last) in loaded {
        if prev_last.is_some_and(|p| p >= master) {
            return r.corrupt("Stream nodes overlap or repeat a key");
        }
        debug_assert!(first >= master);
        prev_last = Some(last);
        live += node.live() as u64;
        s.push_loaded_node(master, node);
    }
    s.length = r.len()?;
    s.last_id = id_pair(r)?;
    if t >= TYPE_STREAM_LISTPACKS_2 {
        s.first_id = id_pair(r)?;
        s.max_deleted = id_pair(r)?;
        s.entries_added = r.len()?;
    } else {
        // Redis 5/6 kept none of these: as Redis 7 estimates them.
        s.max_deleted = StreamId::MIN;
        s.entries_added = s.length;
        s.first_id = s.edge_id(true, true);
    }
    if s.length != live {
        return r.corrupt("Stream length inconsistent with its entries");
    }
    if prev_last.is_some_and(|l| l > s.last_id) {
        return r.corrupt("Stream entry above the stream's last ID");
    }

    let groups = r.count()?;
    for _ in 0..groups {
        let name = r.string()?;
        let last_id = id_pair(r)?;
        let entries_read = if t >= TYPE_STREAM_LISTPACKS_2 {
            r.len()? as i64
        } else {
            meta(&s).estimate(last_id)
        };
        if s.groups.contains_key(&name[..]) {
            return r.corrupt("Duplicated consumer group name");
        }
        let mut g = Group::new(last_id, entries_read);
        let pel = r.count()?;
        for _ in 0..pel {
            let id = raw_id(r)?;
            let time = ms_time(r)?;
            let count = r.len()?;
            if !g.load_nack(id, time, count) {
                return r.corrupt("Duplicated global PEL entry loading stream consumer group");
            }
        }
        let consumers = r.count()?;
        for _ in 0..consumers {
            let cname = r.string()?;
            let Some(ci) = g.create_consumer(&cname, 0) else {
                return r.corrupt("Duplicate stream consumer detected.");
            };
            let seen = ms_time(r)?;
            let active = if t >= TYPE_STREAM_LISTPACKS_3 {
                ms_time(r)?
            } else {
                seen
            };
            g.load_times(ci, seen, active);
            let n = r.count()?;
            for _ in 0..n {
                let id = raw_id(r)?;
                if let Err(e) = g.load_owned(ci, id) {
                    return r.corrupt(e);
                }
            }
        }
        if !g.all_owned() {
            return r.corrupt("Stream CG PEL entry without consumer");
        }
        s.groups.insert(name.into(), g);
    }
    Ok(s)
}
