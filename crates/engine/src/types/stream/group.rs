//! Consumer groups: the group's delivery cursor, its pending entries list (PEL) and its
//! consumers, with Redis 7.2's bookkeeping (t_stream.c's streamCG / streamConsumer /
//! streamNACK).
//!
//! In Redis a pending entry (NACK) is one allocation shared by the group's PEL and its
//! consumer's PEL, and points to its consumer. Here the group PEL maps an ID to its NACK
//! (delivery time, delivery count, and the consumer as a small index into the group's
//! consumer slab), and each consumer keeps the set of IDs it owns: moving an entry to
//! another consumer is two set operations and one field write, and a NACK costs no pointer.
//! Consumers are found by name through an ordered map, so listings come out in Redis's
//! (byte-wise) order.
//!
//! The operations that also need the stream's entries (reading, claiming) are methods of
//! [`Stream`], written here with the data they work on.

use std::collections::{BTreeMap, BTreeSet};

use super::id::{StreamError, StreamId};
use super::{meta, Range, Stream};

/// A consumer index meaning "none yet" (a NACK created by XCLAIM FORCE, for an instant).
pub(super) const NO_CONSUMER: u32 = u32::MAX;

/// A pending entry: delivered, not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Nack {
    /// Last delivery, Unix time in milliseconds.
    pub delivery_time: i64,
    /// Deliveries so far.
    pub delivery_count: u64,
    /// Index of the owning consumer in [`Group::slab`].
    pub consumer: u32,
}

/// A consumer of a group.
#[derive(Clone, Debug)]
pub struct Consumer {
    name: Box<[u8]>,
    /// Last time it tried to read or claim (ms); XINFO CONSUMERS reports `now - seen_time`
    /// as `idle`.
    pub(super) seen_time: i64,
    /// Last time it read or claimed something (ms), -1 if never; XINFO CONSUMERS reports
    /// `now - active_time` as `inactive` (-1 when never).
    pub(super) active_time: i64,
    pub(super) pel: BTreeSet<StreamId>,
}

impl Consumer {
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    pub fn seen_time(&self) -> i64 {
        self.seen_time
    }

    /// -1 when the consumer never read or claimed anything.
    pub fn active_time(&self) -> i64 {
        self.active_time
    }

    /// Entries this consumer owns (its PEL).
    pub fn pending_len(&self) -> usize {
        self.pel.len()
    }

    /// The IDs it owns, ascending.
    pub fn pending_ids(&self) -> impl DoubleEndedIterator<Item = StreamId> + '_ {
        self.pel.iter().copied()
    }

    /// XINFO CONSUMERS `idle`: milliseconds since it was last seen, at least 0.
    pub fn idle(&self, now: i64) -> i64 {
        now.saturating_sub(self.seen_time).max(0)
    }

    /// XINFO CONSUMERS `inactive`: milliseconds since it last read or claimed, -1 if never
    /// (not clamped, as Redis).
    pub fn inactive(&self, now: i64) -> i64 {
        if self.active_time == -1 {
            -1
        } else {
            now.saturating_sub(self.active_time)
        }
    }
}

/// One pending entry as reported by XPENDING and XINFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending<'a> {
    pub id: StreamId,
    /// The owner's name.
    pub consumer: &'a [u8],
    /// Last delivery (ms). XPENDING shows `now - delivery_time`, at least 0.
    pub delivery_time: i64,
    pub delivery_count: u64,
}

impl Pending<'_> {
    /// Milliseconds since the last delivery, at least 0 (XPENDING's third column).
    pub fn idle(&self, now: i64) -> i64 {
        now.saturating_sub(self.delivery_time).max(0)
    }
}

/// A consumer group.
#[derive(Clone, Debug)]
pub struct Group {
    pub(super) last_id: StreamId,
    /// Entries read by the group, -1 when unknown (Redis's SCG_INVALID_ENTRIES_READ).
    pub(super) entries_read: i64,
    pub(super) pel: BTreeMap<StreamId, Nack>,
    /// Consumers by index (freed slots are `None`, reused through `free`).
    slab: Vec<Option<Consumer>>,
    free: Vec<u32>,
    by_name: BTreeMap<Box<[u8]>, u32>,
}

impl PartialEq for Group {
    /// Same cursor, same PEL (owners compared by name), same consumers.
    fn eq(&self, o: &Group) -> bool {
        self.last_id == o.last_id
            && self.entries_read == o.entries_read
            && self.pel.len() == o.pel.len()
            && self
                .pending(StreamId::MIN, StreamId::MAX, None)
                .eq(o.pending(StreamId::MIN, StreamId::MAX, None))
            && self.by_name.len() == o.by_name.len()
            && self.consumers().zip(o.consumers()).all(|(a, b)| {
                a.name == b.name
                    && a.seen_time == b.seen_time
                    && a.active_time == b.active_time
                    && a.pel == b.pel
            })
    }
}

impl Group {
    pub(super) fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            by_name: BTreeMap::new(),
        }
    }

    /// The last delivered ID (XINFO GROUPS `last-delivered-id`).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// Entries read (XINFO GROUPS `entries-read`), `None` when unknown (reply nil).
    pub fn entries_read(&self) -> Option<i64> {
        (self.entries_read != -1).then_some(self.entries_read)
    }

    /// Entries in the PEL (XPENDING's count, XINFO `pending` / `pel-count`).
    pub fn pending_len(&self) -> usize {
        self.pel.len()
    }

    /// Lowest and highest pending IDs (XPENDING summary), `None` when nothing is pending.
    pub fn pending_bounds(&self) -> Option<(StreamId, StreamId)> {
        let first = *self.pel.keys().next()?;
        let last = *self.pel.keys().next_back()?;
        Some((first, last))
    }

    /// Consumers (XINFO GROUPS `consumers`).
    pub fn consumers_len(&self) -> usize {
        self.by_name.len()
    }

    /// Consumers in name order (XINFO CONSUMERS, XPENDING summary: those with a non-empty
    /// PEL).
    pub fn consumers(&self) -> impl Iterator<Item = &Consumer> + '_ {
        self.by_name.values().map(move |&i| self.slot(i))
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.by_name.get(name).map(|&i| self.slot(i))
    }

    /// The pending entry `id`, if any.
    pub fn pending_entry(&self, id: StreamId) -> Option<Pending<'_>> {
        self.pel.get(&id).map(|n| self.describe(id, n))
    }

    /// Pending entries with `start <= id <= end`, ascending, all of the group or only
    /// `consumer`'s (nothing when that consumer does not exist, as XPENDING replies).
    pub fn pending<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        consumer: Option<&[u8]>,
    ) -> impl Iterator<Item = Pending<'a>> + 'a {
        let (all, mine) = match consumer {
            _ if start > end => (None, None),
            None => (Some(self.pel.range(start..=end)), None),
            Some(name) => (
                None,
                self.consumer(name)
                    .map(move |c| c.pel.range(start..=end).copied()),
            ),
        };
        let all = all
            .into_iter()
            .flatten()
            .map(move |(&id, n)| self.describe(id, n));
        let mine = mine
            .into_iter()
            .flatten()
            .map(move |id| self.describe(id, &self.pel[&id]));
        all.chain(mine)
    }

    /// XPENDING's extended form: [`Group::pending`] keeping the entries idle for at least
    /// `min_idle` ms at `now` (as Redis compares, unclamped; 0 keeps all). COUNT is the
    /// caller's `take`.
    pub fn pending_idle<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        consumer: Option<&[u8]>,
        min_idle: i64,
        now: i64,
    ) -> impl Iterator<Item = Pending<'a>> + 'a {
        self.pending(start, end, consumer)
            .filter(move |p| min_idle == 0 || now.saturating_sub(p.delivery_time) >= min_idle)
    }

    fn describe(&self, id: StreamId, n: &Nack) -> Pending<'_> {
        Pending {
            id,
            consumer: if n.consumer == NO_CONSUMER {
                b""
            } else {
                &self.slot(n.consumer).name
            },
            delivery_time: n.delivery_time,
            delivery_count: n.delivery_count,
        }
    }

    #[inline]
    pub(super) fn slot(&self, i: u32) -> &Consumer {
        self.slab[i as usize].as_ref().expect("live consumer slot")
    }

    #[inline]
    pub(super) fn slot_mut(&mut self, i: u32) -> &mut Consumer {
        self.slab[i as usize].as_mut().expect("live consumer slot")
    }

    pub(super) fn consumer_index(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Creates consumer `name` (seen now, never active). `None` if it exists.
    pub(super) fn create_consumer(&mut self, name: &[u8], now: i64) -> Option<u32> {
        if self.by_name.contains_key(name) {
            return None;
        }
        let c = Consumer {
            name: name.into(),
            seen_time: now,
            active_time: -1,
            pel: BTreeSet::new(),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(c);
                i
            }
            None => {
                self.slab.push(Some(c));
                (self.slab.len() - 1) as u32
            }
        };
        self.by_name.insert(name.into(), i);
        Some(i)
    }

    /// The consumer's index, creating it when missing: (index, created).
    pub(super) fn lookup_or_create(&mut self, name: &[u8], now: i64) -> (u32, bool) {
        match self.consumer_index(name) {
            Some(i) => (i, false),
            None => (self.create_consumer(name, now).expect("absent"), true),
        }
    }

    /// Deletes consumer `name` and its pending entries; returns how many it had.
    pub(super) fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let i = self.by_name.remove(name)?;
        let c = self.slab[i as usize].take().expect("live consumer slot");
        for id in &c.pel {
            self.pel.remove(id);
        }
        self.free.push(i);
        Some(c.pel.len())
    }

    /// Removes pending entry `id` from the group and its owner.
    pub(super) fn remove_pending(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if n.consumer != NO_CONSUMER {
                    self.slot_mut(n.consumer).pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Makes consumer `to` the owner of pending entry `id` (which must exist).
    pub(super) fn move_pending(&mut self, id: StreamId, to: u32) {
        let from = self.pel[&id].consumer;
        if from == to {
            return;
        }
        if from != NO_CONSUMER {
            self.slot_mut(from).pel.remove(&id);
        }
        self.slot_mut(to).pel.insert(id);
        self.pel.get_mut(&id).expect("pending").consumer = to;
    }

    /// Records a delivery of `id` to consumer `to` by XREADGROUP: a new NACK, or an
    /// existing one (after XGROUP SETID moved the cursor back) handed to `to` with its
    /// count reset to 1.
    pub(super) fn deliver(&mut self, id: StreamId, to: u32, now: i64) {
        match self.pel.get(&id).map(|n| n.consumer) {
            None => {
                self.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: to,
                    },
                );
                self.slot_mut(to).pel.insert(id);
            }
            Some(_) => {
                self.move_pending(id, to);
                let n = self.pel.get_mut(&id).expect("pending");
                n.delivery_time = now;
                n.delivery_count = 1;
            }
        }
    }

    /// Inserts a NACK read from RDB (owner resolved later by [`Group::load_owned`]).
    pub(super) fn load_nack(&mut self, id: StreamId, delivery_time: i64, count: u64) -> bool {
        if self.pel.contains_key(&id) {
            return false;
        }
        self.pel.insert(
            id,
            Nack {
                delivery_time,
                delivery_count: count,
                consumer: NO_CONSUMER,
            },
        );
        true
    }

    /// Sets consumer `i`'s times as read from RDB.
    pub(super) fn load_times(&mut self, i: u32, seen: i64, active: i64) {
        let c = self.slot_mut(i);
        c.seen_time = seen;
        c.active_time = active;
    }

    /// Gives pending entry `id` (read from RDB, still unowned) to consumer `i`. Errors when
    /// the group has no such NACK or it already has an owner.
    pub(super) fn load_owned(&mut self, i: u32, id: StreamId) -> Result<(), &'static str> {
        match self.pel.get_mut(&id) {
            None => Err("consumer PEL entry not found in the group PEL"),
            Some(n) if n.consumer != NO_CONSUMER => Err("PEL entry owned by two consumers"),
            Some(n) => {
                n.consumer = i;
                self.slot_mut(i).pel.insert(id);
                Ok(())
            }
        }
    }

    /// True when every pending entry has an owner.
    pub(super) fn all_owned(&self) -> bool {
        self.pel.values().all(|n| n.consumer != NO_CONSUMER)
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub(super) fn mem_usage(&self) -> usize {
        // B-tree entries cost their key and value plus about a third for node overhead.
        let nack = (16 + std::mem::size_of::<Nack>()) * 4 / 3;
        let owned = 16 * 4 / 3;
        self.pel.len() * (nack + owned)
            + self.slab.capacity() * std::mem::size_of::<Option<Consumer>>()
            + self.by_name.keys().map(|k| 2 * k.len() + 32).sum::<usize>()
            + std::mem::size_of::<Group>()
    }
}

/// What XREADGROUP with `>` delivered: the entries of `first..=last` (there are `count`,
/// none deleted, so `stream.range(first, last)` yields exactly them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadNew {
    pub first: StreamId,
    pub last: StreamId,
    pub count: usize,
    /// The consumer did not exist and was created (keyspace event
    /// `xgroup-createconsumer`).
    pub consumer_created: bool,
}

/// What XREADGROUP with an explicit ID served from the consumer's PEL: the IDs, in order.
/// Reply with `stream.get(id)` for each (nil fields when it is gone: those were not
/// counted as deliveries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadHistory {
    pub ids: Vec<StreamId>,
    pub consumer_created: bool,
}

/// XCLAIM's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimOpts {
    /// min-idle-time in ms (negative counts as 0).
    pub min_idle: i64,
    /// The new delivery time: `now - IDLE` or TIME; out of `0..=now` or `None` means now.
    pub delivery_time: Option<i64>,
    /// RETRYCOUNT: the new delivery count (else it grows by one, unless JUSTID).
    pub retry_count: Option<u64>,
    /// FORCE: create pending entries for existing entries nobody holds.
    pub force: bool,
    /// JUSTID: do not count this as a delivery.
    pub justid: bool,
    /// LASTID: raise the group's last delivered ID to this.
    pub last_id: Option<StreamId>,
}

/// What XCLAIM did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    /// Claimed IDs, in argument order (reply with `stream.get(id)` unless JUSTID; they all
    /// exist).
    pub claimed: Vec<StreamId>,
    /// Pending entries dropped because their entry no longer exists.
    pub deleted: Vec<StreamId>,
    pub consumer_created: bool,
    /// LASTID raised the group's last delivered ID.
    pub last_id_changed: bool,
}

/// What XAUTOCLAIM did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoClaimed {
    /// The cursor for the next call (`0-0` when the scan reached the end of the PEL).
    pub next: StreamId,
    /// Claimed IDs, ascending (they all exist).
    pub claimed: Vec<StreamId>,
    /// Pending entries dropped because their entry no longer exists (the third reply).
    pub deleted: Vec<StreamId>,
    pub consumer_created: bool,
}

/// The group operations; those that read entries (delivering, claiming) live here
/// too, as methods of the stream that owns the groups.
impl Stream {
    /// Groups in name order (XINFO GROUPS, XINFO STREAM FULL).
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> + '_ {
        self.groups.iter().map(|(k, g)| (&k[..], g))
    }

    pub fn groups_len(&self) -> usize {
        self.groups.len()
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    /// XGROUP CREATE: `last_id` is the resolved ID (`$` is [`Stream::last_id`]),
    /// `entries_read` ENTRIESREAD (`None` or -1: unknown).
    pub fn create_group(
        &mut self,
        name: &[u8],
        last_id: StreamId,
        entries_read: Option<i64>,
    ) -> Result<(), StreamError> {
        if self.groups.contains_key(name) {
            return Err(StreamError::BusyGroup);
        }
        self.groups
            .insert(name.into(), Group::new(last_id, entries_read.unwrap_or(-1)));
        Ok(())
    }

    /// XGROUP SETID: false when there is no such group.
    pub fn set_group_id(&mut self, name: &[u8], id: StreamId, entries_read: Option<i64>) -> bool {
        match self.groups.get_mut(name) {
            Some(g) => {
                g.last_id = id;
                g.entries_read = entries_read.unwrap_or(-1);
                true
            }
            None => false,
        }
    }

    /// XGROUP DESTROY: false when there was no such group.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// XGROUP CREATECONSUMER: `None` without the group, else whether it was created.
    pub fn create_consumer(&mut self, group: &[u8], name: &[u8], now: i64) -> Option<bool> {
        let g = self.groups.get_mut(group)?;
        Some(g.create_consumer(name, now).is_some())
    }

    /// XGROUP DELCONSUMER: `None` without the group, else the consumer's pending count
    /// (0 when it did not exist). Its pending entries leave the group PEL.
    pub fn delete_consumer(&mut self, group: &[u8], name: &[u8]) -> Option<u64> {
        let g = self.groups.get_mut(group)?;
        Some(g.delete_consumer(name).unwrap_or(0) as u64)
    }

    /// XACK: `None` without the group, else how many of `ids` were pending.
    pub fn ack(&mut self, group: &[u8], ids: &[StreamId]) -> Option<u64> {
        let g = self.groups.get_mut(group)?;
        Some(ids.iter().filter(|&&id| g.remove_pending(id)).count() as u64)
    }

    /// XREADGROUP ... `>`: delivers up to `count` (0: all) entries after the group's last
    /// delivered ID to `consumer` (created if missing; its seen-time is set either way),
    /// advancing the group's last ID and entries-read and, unless `noack`, adding them to
    /// the PELs. `None` without the group. A result with `count == 0` means nothing was
    /// available (the caller may block).
    pub fn read_group_new(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        count: usize,
        noack: bool,
        now: i64,
    ) -> Option<ReadNew> {
        let m = meta(self);
        let last_valid = self.last_entry_id();
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let (ci, created) = g.lookup_or_create(consumer, now);
        g.slot_mut(ci).seen_time = now;
        let mut out = ReadNew {
            first: StreamId::MIN,
            last: StreamId::MIN,
            count: 0,
            consumer_created: created,
        };
        let Some(top) = last_valid.filter(|&t| t > g.last_id) else {
            return Some(out);
        };
        let start = g.last_id.incr().expect("below the top");
        for e in Range::new(nodes, start, top, false) {
            if g.entries_read != -1 && !m.range_has_tombstones(e.id, None) {
                g.entries_read = g.entries_read.wrapping_add(1);
            } else if m.entries_added != 0 {
                g.entries_read = m.estimate(e.id);
            }
            g.last_id = e.id;
            if !noack {
                g.deliver(e.id, ci, now);
                g.slot_mut(ci).active_time = now;
            }
            if out.count == 0 {
                out.first = e.id;
            }
            out.last = e.id;
            out.count += 1;
            if out.count == count {
                break;
            }
        }
        Some(out)
    }

    /// XREADGROUP with an ID: serves `consumer`'s own pending entries above `after`, up
    /// to `count` (0: all), counting a delivery for each that still exists. `after` of
    /// [`StreamId::MAX`] wraps to serving everything, as Redis's increment does. `None`
    /// without the group.
    pub fn read_group_history(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        after: StreamId,
        count: usize,
        now: i64,
    ) -> Option<ReadHistory> {
        let start = after.incr().unwrap_or(StreamId::MIN);
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let (ci, created) = g.lookup_or_create(consumer, now);
        g.slot_mut(ci).seen_time = now;
        let limit = if count == 0 { usize::MAX } else { count };
        let ids: Vec<StreamId> = g.slot(ci).pel.range(start..).take(limit).copied().collect();
        for &id in &ids {
            if Range::new(nodes, id, id, false).next().is_some() {
                let n = g
                    .pel
                    .get_mut(&id)
                    .expect("consumer PEL entry in the group PEL");
                n.delivery_time = now;
                n.delivery_count = n.delivery_count.wrapping_add(1);
            }
        }
        Some(ReadHistory {
            ids,
            consumer_created: created,
        })
    }

    /// XCLAIM: gives the pending entries `ids` to `consumer` (created if missing) when idle
    /// long enough, as Redis 7.2 does (FORCE creates missing PEL entries for existing
    /// entries; a pending entry whose entry is gone is dropped). `None` without the group.
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        opts: &ClaimOpts,
        now: i64,
    ) -> Option<Claimed> {
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let min_idle = opts.min_idle.max(0);
        let mut out = Claimed::default();
        if let Some(l) = opts.last_id {
            if l > g.last_id {
                g.last_id = l;
                out.last_id_changed = true;
            }
        }
        let delivery_time = match opts.delivery_time {
            Some(t) if (0..=now).contains(&t) => t,
            _ => now,
        };
        let (ci, created) = g.lookup_or_create(consumer, now);
        out.consumer_created = created;
        g.slot_mut(ci).seen_time = now;
        for &id in ids {
            if Range::new(nodes, id, id, false).next().is_none() {
                if g.remove_pending(id) {
                    out.deleted.push(id);
                }
                continue;
            }
            if opts.force && !g.pel.contains_key(&id) {
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: NO_CONSUMER,
                    },
                );
            }
            let Some(n) = g.pel.get(&id).copied() else {
                continue;
            };
            if n.consumer != NO_CONSUMER
                && min_idle > 0
                && now.saturating_sub(n.delivery_time) < min_idle
            {
                continue;
            }
            g.move_pending(id, ci);
            let n = g.pel.get_mut(&id).expect("pending");
            n.delivery_time = delivery_time;
            if let Some(c) = opts.retry_count {
                n.delivery_count = c;
            } else if !opts.justid {
                n.delivery_count = n.delivery_count.wrapping_add(1);
            }
            out.claimed.push(id);
            g.slot_mut(ci).active_time = now;
        }
        Some(out)
    }

    /// XAUTOCLAIM: scans the group PEL from `start`, claiming for `consumer` (created if
    /// missing) up to `count` entries idle for at least `min_idle` ms, dropping entries that
    /// no longer exist (they count against `count`), and examining at most `count * 10`
    /// PEL entries. `None` without the group.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        min_idle: i64,
        start: StreamId,
        count: u64,
        justid: bool,
        now: i64,
    ) -> Option<AutoClaimed> {
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let min_idle = min_idle.max(0);
        let (ci, created) = g.lookup_or_create(consumer, now);
        g.slot_mut(ci).seen_time = now;
        let mut out = AutoClaimed {
            consumer_created: created,
            ..AutoClaimed::default()
        };
        let mut attempts = count.saturating_mul(10);
        let mut count = count;
        let mut cursor = Some(start);
        while attempts > 0 && count > 0 {
            attempts -= 1;
            let Some(c) = cursor else { break };
            let Some((&id, &n)) = g.pel.range(c..).next() else {
                cursor = None;
                break;
            };
            cursor = id.incr();
            if Range::new(nodes, id, id, false).next().is_none() {
                g.remove_pending(id);
                out.deleted.push(id);
                count -= 1;
                continue;
            }
            if min_idle > 0 && now.saturating_sub(n.delivery_time) < min_idle {
                continue;
            }
            g.move_pending(id, ci);
            let n = g.pel.get_mut(&id).expect("pending");
            n.delivery_time = now;
            if !justid {
                n.delivery_count = n.delivery_count.wrapping_add(1);
            }
            out.claimed.push(id);
            count -= 1;
            g.slot_mut(ci).active_time = now;
        }
        out.next = cursor
            .and_then(|c| g.pel.range(c..).next().map(|(&id, _)| id))
            .unwrap_or(StreamId::MIN);
        Some(out)
    }
}
