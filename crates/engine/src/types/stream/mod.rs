//! The stream type (Redis's t_stream.c), as a pure data structure: entries, trimming,
//! consumer groups and their pending lists, and what XINFO reports. The server's command
//! family parses arguments, calls these methods under the shard lock, and formats replies;
//! nothing here reads a clock (every method that needs the time takes `now` in ms).
//!
//! - [`id`]: stream IDs, their parsing rules, and the commands' error texts.
//! - [`node`]: how entries are packed (nodes of up to `stream-node-max-entries` entries,
//!   each one heap block with a master entry and delta-encoded IDs; about a quarter
//!   smaller than Redis's listpacks) and converted to and from RDB listpacks.
//! - [`group`]: consumer groups, consumers and pending entries.
//! - `rdb`: RDB_TYPE_STREAM_LISTPACKS(_2, _3) reading and writing.
//!
//! The behaviour follows Redis 7.2 wherever a client can tell, including its bookkeeping
//! quirks, because replies, lag figures and RDB payloads must agree: tombstones stay in
//! their node until the node goes, `first_id` is the *recorded* first entry (as XINFO's
//! `recorded-first-entry-id`), a group's `entries_read` is kept or estimated exactly as
//! streamReplyWithRange / streamEstimateDistanceFromFirstEverEntry do, and claiming an
//! entry that was deleted drops it from the PEL. One deliberate difference: XSETID refuses
//! an ID below the last entry *including tombstones* (Redis only looks at live entries and
//! `max-deleted-entry-id`, which XSETID itself can lower): that keeps entries in ID order
//! in every case, so what we save we can always load.

pub mod group;
pub mod id;
pub mod node;
pub(crate) mod rdb;

use std::collections::btree_map;
use std::collections::BTreeMap;

pub use group::{AutoClaimed, ClaimOpts, Claimed, Consumer, Group, Pending, ReadHistory, ReadNew};
pub use id::{AddId, StreamError, StreamId};
pub use node::{Fields, Value};

use node::{Node, Raw, MAX_NODE_BYTES};

/// `stream-node-max-bytes` and `stream-node-max-entries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// A node's listpack stops growing at this size; 0 means the 1 GiB maximum.
    pub max_bytes: usize,
    /// A node holds at most this many entries (tombstones included); 0 means no limit.
    pub max_entries: u64,
}

impl Default for NodeLimits {
    /// Redis's defaults: 4096 bytes, 100 entries.
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

impl NodeLimits {
    /// The LIMIT that `XADD`/`XTRIM ... ~` use when none is given: 100 nodes' worth of
    /// entries, 10000 when `max_entries` is 0, at most 1000000.
    pub fn approx_trim_limit(&self) -> u64 {
        let l = self.max_entries.saturating_mul(100);
        if l == 0 {
            10_000
        } else {
            l.min(1_000_000)
        }
    }
}

/// How to trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep at most this many entries (MAXLEN).
    MaxLen(u64),
    /// Remove entries below this ID (MINID).
    MinId(StreamId),
}

/// A trim request, as XADD and XTRIM take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    /// `~`: remove whole nodes only, stopping at the first node that must be kept.
    pub approx: bool,
    /// At most this many entries removed, 0 for no limit. Redis uses
    /// [`NodeLimits::approx_trim_limit`] for `~` without LIMIT, 0 for exact trimming, and 0
    /// for commands replayed from the AOF or a master.
    pub limit: u64,
}

/// One entry of a stream, borrowed.
#[derive(Clone, Copy)]
pub struct StreamEntry<'a> {
    pub id: StreamId,
    node: &'a Node,
    raw: Raw,
}

impl<'a> StreamEntry<'a> {
    /// Its field-value pairs, in the order they were added.
    pub fn fields(&self) -> Fields<'a> {
        self.node.fields(&self.raw)
    }

    /// Number of field-value pairs.
    pub fn len(&self) -> usize {
        self.raw.nfields
    }

    pub fn is_empty(&self) -> bool {
        self.raw.nfields == 0
    }

    /// The pairs as owned bytes (tests, AOF rewriting).
    pub fn to_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.fields()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }
}

impl std::fmt::Debug for StreamEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEntry")
            .field("id", &self.id)
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

/// Entries with `start <= id <= end`, ascending (tombstones skipped unless asked for).
pub struct Range<'a> {
    nodes: btree_map::Range<'a, StreamId, Node>,
    cur: Option<(StreamId, &'a Node, usize)>,
    start: StreamId,
    end: StreamId,
    tombstones: bool,
    done: bool,
}

impl<'a> Range<'a> {
    fn new(
        map: &'a BTreeMap<StreamId, Node>,
        start: StreamId,
        end: StreamId,
        tombstones: bool,
    ) -> Range<'a> {
        // The node holding `start` is the last one whose master ID is <= start.
        let seek = map
            .range(..=start)
            .next_back()
            .map_or(StreamId::MIN, |(k, _)| *k);
        Range {
            nodes: map.range(seek..),
            cur: None,
            start,
            end,
            tombstones,
            done: start > end,
        }
    }

    fn next_raw(&mut self) -> Option<(StreamId, &'a Node, Raw)> {
        if self.done {
            return None;
        }
        loop {
            let (master, node, pos) = match self.cur {
                Some(c) if c.2 < c.1.end() => c,
                _ => match self.nodes.next() {
                    Some((k, n)) => (*k, n, n.entries_at()),
                    None => {
                        self.done = true;
                        return None;
                    }
                },
            };
            let raw = node.decode(master, pos);
            self.cur = Some((master, node, raw.end));
            if raw.id < self.start || (raw.deleted() && !self.tombstones) {
                continue;
            }
            if raw.id > self.end {
                self.done = true;
                return None;
            }
            return Some((master, node, raw));
        }
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = StreamEntry<'a>;

    fn next(&mut self) -> Option<StreamEntry<'a>> {
        self.next_raw().map(|(_, node, raw)| StreamEntry {
            id: raw.id,
            node,
            raw,
        })
    }
}

/// Entries with `start <= id <= end`, descending.
pub struct RevRange<'a> {
    nodes: btree_map::Range<'a, StreamId, Node>,
    /// Current node and the offset where the entry after the next one to visit starts.
    cur: Option<(StreamId, &'a Node, usize)>,
    start: StreamId,
    end: StreamId,
    tombstones: bool,
    done: bool,
}

impl<'a> RevRange<'a> {
    fn new(
        map: &'a BTreeMap<StreamId, Node>,
        start: StreamId,
        end: StreamId,
        tombstones: bool,
    ) -> RevRange<'a> {
        RevRange {
            nodes: map.range(..=end),
            cur: None,
            start,
            end,
            tombstones,
            done: start > end,
        }
    }

    fn next_raw(&mut self) -> Option<(StreamId, &'a Node, Raw)> {
        if self.done {
            return None;
        }
        loop {
            let (master, node, at) = match self
                .cur
                .and_then(|(m, n, e)| n.prev_start(e).map(|at| (m, n, at)))
            {
                Some(c) => c,
                None => match self.nodes.next_back() {
                    Some((k, n)) => match n.prev_start(n.end()) {
                        Some(at) => (*k, n, at),
                        None => continue,
                    },
                    None => {
                        self.done = true;
                        return None;
                    }
                },
            };
            self.cur = Some((master, node, at));
            let raw = node.decode(master, at);
            if raw.id > self.end || (raw.deleted() && !self.tombstones) {
                continue;
            }
            if raw.id < self.start {
                self.done = true;
                return None;
            }
            return Some((master, node, raw));
        }
    }
}

impl<'a> Iterator for RevRange<'a> {
    type Item = StreamEntry<'a>;

    fn next(&mut self) -> Option<StreamEntry<'a>> {
        self.next_raw().map(|(_, node, raw)| StreamEntry {
            id: raw.id,
            node,
            raw,
        })
    }
}

/// A stream value. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    groups: BTreeMap<Box<[u8]>, Group>,
    /// Sum of the nodes' block sizes.
    node_bytes: usize,
}

impl PartialEq for Stream {
    /// Same entries in the same node layout, same metadata, same groups.
    fn eq(&self, o: &Stream) -> bool {
        self.length == o.length
            && self.last_id == o.last_id
            && self.first_id == o.first_id
            && self.max_deleted == o.max_deleted
            && self.entries_added == o.entries_added
            && self.nodes == o.nodes
            && self.groups == o.groups
    }
}

/// Upper bound on our encoding of an entry plus a new node's header and master fields.
fn fits_a_node(pairs: &[impl AsRef<[u8]>]) -> bool {
    let raw: usize = pairs.iter().map(|p| p.as_ref().len() + 10).sum();
    Node::encoded_size(pairs) + raw + 64 <= crate::types::packbuf::MAX_BYTES
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries (XLEN).
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The last ID generated or set (XINFO `last-generated-id`; XREAD's `$`).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The recorded first entry ID (XINFO `recorded-first-entry-id`): 0-0 when empty.
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// The largest ID ever deleted by XDEL (or set by XSETID), 0-0 if none.
    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted
    }

    /// Entries ever added (XINFO `entries-added`).
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Nodes (XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node count Redis's radix tree would report (XINFO `radix-tree-nodes`),
    /// computed from the node keys as a rax built by insertions lays them out: O(nodes).
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_nodes(&keys, 0)
    }

    /// Heap bytes used (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        // A node map entry: key and value, plus about a third for B-tree node overhead.
        let per_node = (std::mem::size_of::<StreamId>() + std::mem::size_of::<Node>()) * 4 / 3;
        std::mem::size_of::<Stream>()
            + self.node_bytes
            + self.nodes.len() * per_node
            + self
                .groups
                .iter()
                .map(|(k, g)| k.len() + 16 + g.mem_usage())
                .sum::<usize>()
    }

    /// Allocations that freeing this stream takes (lazy freeing decides from it): one per
    /// node, group, consumer and pending entry, as Redis's lazyfreeGetFreeEffort counts.
    pub fn free_effort(&self) -> usize {
        self.nodes.len()
            + self
                .groups
                .values()
                .map(|g| 1 + g.consumers_len() + g.pending_len())
                .sum::<usize>()
    }

    /// Entries from `start` to `end` inclusive, ascending (XRANGE; COUNT is `.take(n)`).
    pub fn range(&self, start: StreamId, end: StreamId) -> Range<'_> {
        Range::new(&self.nodes, start, end, false)
    }

    /// Entries from `end` down to `start` inclusive (XREVRANGE).
    pub fn rev_range(&self, start: StreamId, end: StreamId) -> RevRange<'_> {
        RevRange::new(&self.nodes, start, end, false)
    }

    /// Entry `id`, if it exists (not deleted).
    pub fn get(&self, id: StreamId) -> Option<StreamEntry<'_>> {
        self.range(id, id).next()
    }

    /// True when entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The first entry (XINFO `first-entry`).
    pub fn first_entry(&self) -> Option<StreamEntry<'_>> {
        self.range(StreamId::MIN, StreamId::MAX).next()
    }

    /// The last entry (XINFO `last-entry`).
    pub fn last_entry(&self) -> Option<StreamEntry<'_>> {
        self.rev_range(StreamId::MIN, StreamId::MAX).next()
    }

    /// The ID of the last live entry (streamLastValidID): XREAD serves a reader only when
    /// this is above its ID.
    pub fn last_entry_id(&self) -> Option<StreamId> {
        self.last_entry().map(|e| e.id)
    }

    /// streamGetEdgeID: the first (or last) entry's ID, tombstones included unless
    /// `skip_tombstones`; `MAX` (first) or `MIN` (last) when there is none. XADD and XTRIM
    /// rewrite an approximate MINID trim as `MINID = edge_id(true, false)` for the AOF.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let found = if first {
            Range::new(&self.nodes, StreamId::MIN, StreamId::MAX, !skip_tombstones)
                .next_raw()
                .map(|r| r.2.id)
        } else {
            RevRange::new(&self.nodes, StreamId::MIN, StreamId::MAX, !skip_tombstones)
                .next_raw()
                .map(|r| r.2.id)
        };
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// XADD: appends an entry of `pairs` (`[field, value, field, value, ...]`, at least one
    /// pair) and returns its ID. `now_ms` is the clock for `*`. Errors, in Redis's order:
    /// explicit 0-0 ([`StreamError::IdZero`]), last ID exhausted, ID not above the last ID,
    /// too large (over 1 GiB of fields and values).
    pub fn add<A: AsRef<[u8]>>(
        &mut self,
        id: AddId,
        pairs: &[A],
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, StreamError> {
        debug_assert!(pairs.len() >= 2 && pairs.len().is_multiple_of(2));
        let pairs = &pairs[..pairs.len() / 2 * 2];
        if id.is_zero() {
            return Err(StreamError::IdZero);
        }
        if self.last_id == StreamId::MAX {
            return Err(StreamError::Exhausted);
        }
        let new = match id {
            AddId::Explicit(id) => id,
            AddId::AutoSeq(ms) if ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return Err(StreamError::IdTooSmall);
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            AddId::AutoSeq(ms) => StreamId::new(ms, 0),
            AddId::Auto if now_ms > self.last_id.ms => StreamId::new(now_ms, 0),
            AddId::Auto => self.last_id.incr().unwrap_or(StreamId::MIN),
        };
        if new <= self.last_id {
            return Err(StreamError::IdTooSmall);
        }
        let total: usize = pairs.iter().map(|p| p.as_ref().len()).sum();
        if total > MAX_NODE_BYTES || !fits_a_node(pairs) {
            return Err(StreamError::TooLarge);
        }
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > MAX_NODE_BYTES {
            MAX_NODE_BYTES
        } else {
            limits.max_bytes
        };
        let mut tail = self.nodes.last_entry();
        if let Some(t) = &mut tail {
            let node = t.get_mut();
            let full = node.lp_bytes() + total >= max_bytes
                || (limits.max_entries > 0
                    && (node.live() + node.deleted()) as u64 >= limits.max_entries)
                || node.end() + Node::encoded_size(pairs) > crate::types::packbuf::MAX_BYTES;
            if full {
                let before = node.alloc_size();
                node.fit();
                self.node_bytes = self.node_bytes - before + node.alloc_size();
                tail = None;
            }
        }
        match tail {
            Some(mut t) => {
                let master = *t.key();
                let node = t.get_mut();
                let before = node.alloc_size();
                node.append(master, new, pairs);
                self.node_bytes = self.node_bytes - before + node.alloc_size();
            }
            None => {
                let node = Node::create(pairs);
                self.node_bytes += node.alloc_size();
                self.nodes.insert(new, node);
            }
        }
        self.length += 1;
        self.entries_added = self.entries_added.wrapping_add(1);
        self.last_id = new;
        if self.length == 1 {
            self.first_id = new;
        }
        Ok(new)
    }

    /// Removes one live entry (streamDeleteItem), without XDEL's bookkeeping.
    fn delete_item(&mut self, id: StreamId) -> bool {
        let Some(master) = self.nodes.range(..=id).next_back().map(|(k, _)| *k) else {
            return false;
        };
        let btree_map::Entry::Occupied(mut e) = self.nodes.entry(master) else {
            unreachable!("the key was just found");
        };
        let master = *e.key();
        let node = e.get_mut();
        let mut at = node.entries_at();
        while at < node.end() {
            let raw = node.decode(master, at);
            if raw.id > id {
                return false;
            }
            if raw.id == id {
                if raw.deleted() {
                    return false;
                }
                if node.live() == 1 {
                    self.node_bytes -= node.alloc_size();
                    e.remove();
                } else {
                    node.mark_deleted(raw.at);
                }
                self.length -= 1;
                return true;
            }
            at = raw.end;
        }
        false
    }

    /// XDEL: deletes the entries that exist among `ids`; returns how many. Updates
    /// `max-deleted-entry-id` and the recorded first ID as Redis does.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_item(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// XTRIM, or XADD's trimming: returns the number of entries removed (streamTrim).
    pub fn trim(&mut self, t: Trim) -> u64 {
        let mut deleted = 0u64;
        while let Some(mut e) = self.nodes.first_entry() {
            if let TrimStrategy::MaxLen(max) = t.strategy {
                if self.length <= max {
                    break;
                }
            }
            let master = *e.key();
            let node = e.get_mut();
            let entries = node.live() as u64;
            if t.limit > 0 && deleted + entries > t.limit {
                break;
            }
            let remove = match t.strategy {
                TrimStrategy::MaxLen(max) => self.length - entries >= max,
                TrimStrategy::MinId(min) => node.last(master).is_some_and(|l| l.id < min),
            };
            if remove {
                self.node_bytes -= node.alloc_size();
                e.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if t.approx {
                break;
            }
            // Mark entries of this node deleted from the start until the goal is met.
            let mut at = node.entries_at();
            while at < node.end() {
                let raw = node.decode(master, at);
                let stop = match t.strategy {
                    TrimStrategy::MaxLen(max) => self.length <= max,
                    TrimStrategy::MinId(min) => raw.id >= min,
                };
                if stop {
                    break;
                }
                if !raw.deleted() {
                    node.mark_deleted(raw.at);
                    self.length -= 1;
                    deleted += 1;
                }
                at = raw.end;
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// XSETID: sets the last ID and optionally `entries-added` and `max-deleted-entry-id`
    /// (a 0-0 `max_deleted` leaves it unchanged, as Redis). See the module docs for the one
    /// check Redis lacks.
    pub fn set_id(
        &mut self,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<(), StreamError> {
        if max_deleted.is_some_and(|m| id < m) {
            return Err(StreamError::SetIdBelowGivenMaxDeleted);
        }
        if id < self.max_deleted {
            return Err(StreamError::SetIdBelowMaxDeleted);
        }
        if self.length > 0 {
            if self.last_entry_id().is_some_and(|top| id < top) {
                return Err(StreamError::SetIdBelowTop);
            }
            if entries_added.is_some_and(|n| self.length > n) {
                return Err(StreamError::SetIdEntriesAddedBelowLength);
            }
        }
        if !self.nodes.is_empty() && id < self.edge_id(false, false) {
            return Err(StreamError::SetIdBelowTop);
        }
        self.last_id = id;
        if let Some(n) = entries_added {
            self.entries_added = n;
        }
        if let Some(m) = max_deleted {
            if !m.is_zero() {
                self.max_deleted = m;
            }
        }
        Ok(())
    }

    // -------------------------------------------------------------------------------
    // Lag (Redis 7.2's consumer group read counters)
    // -------------------------------------------------------------------------------

    /// streamRangeHasTombstones: whether entries in `start..=end` (`None`: open) may have
    /// been deleted, judged from `max-deleted-entry-id`.
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        meta(self).range_has_tombstones(start.unwrap_or(StreamId::MIN), end)
    }

    /// streamEstimateDistanceFromFirstEverEntry: the read counter of `id` (how many entries
    /// were added up to it), when it can be known.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<i64> {
        let v = meta(self).estimate(id);
        (v != -1).then_some(v)
    }

    /// A group's lag (XINFO GROUPS `lag`): entries not yet delivered, `None` (nil) when it
    /// cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        let m = meta(self);
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != -1 && !m.range_has_tombstones(g.last_id, None) {
            return Some((self.entries_added as i64).wrapping_sub(g.entries_read));
        }
        let read = m.estimate(g.last_id);
        (read != -1).then(|| (self.entries_added as i64).wrapping_sub(read))
    }

    // -------------------------------------------------------------------------------
    // Loading (RDB) support
    // -------------------------------------------------------------------------------

    /// Appends a node read from RDB (validated by the caller for order).
    fn push_loaded_node(&mut self, master: StreamId, node: Node) {
        self.node_bytes += node.alloc_size();
        self.nodes.insert(master, node);
    }
}

/// The stream counters the lag functions read, copied so that group state can be changed
/// while they are consulted.
#[derive(Clone, Copy)]
struct Meta {
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
}

fn meta(s: &Stream) -> Meta {
    Meta {
        length: s.length,
        last_id: s.last_id,
        first_id: s.first_id,
        max_deleted: s.max_deleted,
        entries_added: s.entries_added,
    }
}

impl Meta {
    fn range_has_tombstones(&self, start: StreamId, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// The read counter of `id`, or -1 when it cannot be known.
    fn estimate(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return -1;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return self.entries_added.wrapping_sub(self.length) as i64;
            }
            if id == self.first_id {
                return self.entries_added.wrapping_sub(self.length).wrapping_add(1) as i64;
            }
        }
        -1
    }
}

/// Nodes a rax holds for these sorted, distinct, equal-length keys from byte `depth` on:
/// a compressed node for a shared run, a branching node where keys diverge, and a leaf
/// per key.
fn rax_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if keys.len() == 1 {
        return if depth < 16 { 2 } else { 1 };
    }
    let (a, b) = (&keys[0], &keys[keys.len() - 1]);
    let mut p = depth;
    while a[p] == b[p] {
        p += 1;
    }
    let mut n = if p > depth { 2 } else { 1 };
    let mut i = 0;
    while i < keys.len() {
        let c = keys[i][p];
        let j = i + keys[i..].partition_point(|k| k[p] == c);
        n += rax_nodes(&keys[i..j], p + 1);
        i = j;
    }
    n
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
