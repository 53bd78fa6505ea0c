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
//! The operations that also need the stream's entries (reading, claiming, lag) are methods
//! of [`Stream`](super::Stream); this module holds the data and what only touches it.

use std::collections::{BTreeMap, BTreeSet};

use super::id::StreamId;

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
