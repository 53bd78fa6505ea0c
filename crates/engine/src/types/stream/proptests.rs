//! Random sequences of stream and consumer-group operations, checked after every step
//! against a plain model: an ordered map of ID -> fields, the stream counters, and per group
//! a map of pending ID -> (owner, delivery time, count) and the consumers' times. The model
//! knows nothing of nodes, tombstones or slabs; where Redis's behaviour depends on nodes
//! (approximate trimming) the test checks the promises instead (only the oldest entries go,
//! never more than the exact trim or LIMIT would remove) and follows what was removed.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Clone, Debug, Default)]
struct MGroup {
    last_id: StreamId,
    entries_read: i64,
    /// id -> (consumer, delivery time, delivery count)
    pel: BTreeMap<StreamId, (Vec<u8>, i64, u64)>,
    /// name -> (seen, active)
    consumers: BTreeMap<Vec<u8>, (i64, i64)>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    entries: BTreeMap<StreamId, Pairs>,
    ever: Vec<StreamId>,
    last_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    groups: BTreeMap<Vec<u8>, MGroup>,
}

impl Model {
    fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or(StreamId::MIN)
    }

    fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// streamRangeHasTombstones from the model's counters.
    fn tombstones_from(&self, start: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted == StreamId::MIN {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// streamEstimateDistanceFromFirstEverEntry from the model's counters.
    fn estimate(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.entries.is_empty() && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return -1;
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            if id < first {
                return (self.entries_added - self.len()) as i64;
            }
            if id == first {
                return (self.entries_added - self.len() + 1) as i64;
            }
        }
        -1
    }

    fn lag(&self, g: &MGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != -1 && !self.tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let r = self.estimate(g.last_id);
        (r != -1).then(|| self.entries_added as i64 - r)
    }

    fn touch(g: &mut MGroup, c: &[u8], now: i64) -> bool {
        let created = !g.consumers.contains_key(c);
        let e = g.consumers.entry(c.to_vec()).or_insert((now, -1));
        e.0 = now;
        created
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add {
        kind: u8,
        dms: u8,
        dseq: u8,
        fields: u8,
        vals: [u8; 3],
    },
    Del {
        picks: Vec<u16>,
    },
    Trim {
        maxlen: bool,
        arg: u16,
        approx: bool,
        limit: u8,
    },
    SetLast {
        bump: u8,
    },
    CreateGroup {
        g: u8,
        at: u16,
        er: Option<u8>,
    },
    SetGroupId {
        g: u8,
        at: u16,
        er: Option<u8>,
    },
    DestroyGroup {
        g: u8,
    },
    ReadNew {
        g: u8,
        c: u8,
        count: u8,
        noack: bool,
    },
    ReadHistory {
        g: u8,
        c: u8,
        after: u16,
        count: u8,
    },
    Ack {
        g: u8,
        picks: Vec<u16>,
    },
    Claim {
        g: u8,
        c: u8,
        picks: Vec<u16>,
        min_idle: u8,
        idle: Option<u8>,
        retry: Option<u8>,
        force: bool,
        justid: bool,
    },
    AutoClaim {
        g: u8,
        c: u8,
        start: u16,
        count: u8,
        min_idle: u8,
        justid: bool,
    },
    CreateConsumer {
        g: u8,
        c: u8,
    },
    DelConsumer {
        g: u8,
        c: u8,
    },
    Tick(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let picks = prop::collection::vec(any::<u16>(), 0..4);
    prop_oneof![
        8 => (0u8..4, 0u8..3, 0u8..4, 0u8..4, any::<[u8; 3]>()).prop_map(|(kind, dms, dseq, fields, vals)| Op::Add { kind, dms, dseq, fields, vals }),
        2 => picks.clone().prop_map(|picks| Op::Del { picks }),
        2 => (any::<bool>(), any::<u16>(), any::<bool>(), 0u8..12).prop_map(|(maxlen, arg, approx, limit)| Op::Trim { maxlen, arg, approx, limit }),
        1 => any::<u8>().prop_map(|bump| Op::SetLast { bump }),
        1 => (0u8..3, any::<u16>(), prop::option::of(0u8..20)).prop_map(|(g, at, er)| Op::CreateGroup { g, at, er }),
        1 => (0u8..3, any::<u16>(), prop::option::of(0u8..20)).prop_map(|(g, at, er)| Op::SetGroupId { g, at, er }),
        1 => (0u8..3).prop_map(|g| Op::DestroyGroup { g }),
        4 => (0u8..3, 0u8..3, 0u8..5, any::<bool>()).prop_map(|(g, c, count, noack)| Op::ReadNew { g, c, count, noack }),
        2 => (0u8..3, 0u8..3, any::<u16>(), 0u8..4).prop_map(|(g, c, after, count)| Op::ReadHistory { g, c, after, count }),
        2 => (0u8..3, picks.clone()).prop_map(|(g, picks)| Op::Ack { g, picks }),
        2 => (0u8..3, 0u8..3, picks, 0u8..60, prop::option::of(0u8..60), prop::option::of(0u8..5), any::<bool>(), any::<bool>())
            .prop_map(|(g, c, picks, min_idle, idle, retry, force, justid)| Op::Claim { g, c, picks, min_idle, idle, retry, force, justid }),
        2 => (0u8..3, 0u8..3, any::<u16>(), 1u8..5, 0u8..60, any::<bool>()).prop_map(|(g, c, start, count, min_idle, justid)| Op::AutoClaim { g, c, start, count, min_idle, justid }),
        1 => (0u8..3, 0u8..3).prop_map(|(g, c)| Op::CreateConsumer { g, c }),
        1 => (0u8..3, 0u8..3).prop_map(|(g, c)| Op::DelConsumer { g, c }),
        2 => (0u8..40).prop_map(Op::Tick),
    ]
}

const FIELD_SETS: [&[&str]; 4] = [&["a", "b"], &["a", "b"], &["1", "b", "c"], &["a"]];
const VALUES: [&str; 8] = [
    "x",
    "",
    "0",
    "-5",
    "12345678901",
    "9223372036854775807",
    "v1",
    "long-value-long-value-long",
];

fn gname(g: u8) -> Vec<u8> {
    vec![b'g', b'0' + g]
}

fn cname(c: u8) -> Vec<u8> {
    vec![b'c', b'0' + c]
}

/// An ID for `pick`: one ever added (existing or deleted), or one that never was.
fn pick_id(m: &Model, pick: u16) -> StreamId {
    let n = m.ever.len() + 2;
    match pick as usize % n {
        i if i < m.ever.len() => m.ever[i],
        i if i == m.ever.len() => StreamId::new(m.last_id.ms, m.last_id.seq.saturating_add(7)),
        _ => StreamId::new(0, 1),
    }
}

fn check(s: &Stream, m: &Model) {
    assert_eq!(s.len(), m.len());
    assert_eq!(s.last_id(), m.last_id);
    assert_eq!(s.first_id(), m.first_id());
    assert_eq!(s.max_deleted_id(), m.max_deleted);
    assert_eq!(s.entries_added(), m.entries_added);
    let got: Vec<(StreamId, Pairs)> = s
        .range(StreamId::MIN, StreamId::MAX)
        .map(|e| (e.id, e.to_pairs()))
        .collect();
    let want: Vec<(StreamId, Pairs)> = m.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want);
    let rev: Vec<StreamId> = s
        .rev_range(StreamId::MIN, StreamId::MAX)
        .map(|e| e.id)
        .collect();
    assert_eq!(rev, m.entries.keys().rev().copied().collect::<Vec<_>>());
    // A few sub-ranges between IDs ever used.
    for w in m.ever.windows(3).step_by(5) {
        let (a, b) = (w[0], w[2]);
        let fwd: Vec<StreamId> = s.range(a, b).map(|e| e.id).collect();
        let want: Vec<StreamId> = m.entries.range(a..=b).map(|(k, _)| *k).collect();
        assert_eq!(fwd, want);
        let back: Vec<StreamId> = s.rev_range(a, b).map(|e| e.id).collect();
        assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
    }
    assert_eq!(s.last_entry_id(), m.entries.keys().next_back().copied());
    assert_eq!(s.groups_len(), m.groups.len());
    for ((name, g), (mname, mg)) in s.groups().zip(&m.groups) {
        assert_eq!(name, &mname[..]);
        assert_eq!(g.last_id(), mg.last_id);
        assert_eq!(
            g.entries_read(),
            (mg.entries_read != -1).then_some(mg.entries_read)
        );
        assert_eq!(
            s.lag(g),
            m.lag(mg),
            "lag of {:?}",
            String::from_utf8_lossy(name)
        );
        let pel: Vec<(StreamId, Vec<u8>, i64, u64)> = g
            .pending(StreamId::MIN, StreamId::MAX, None)
            .map(|p| (p.id, p.consumer.to_vec(), p.delivery_time, p.delivery_count))
            .collect();
        let mpel: Vec<(StreamId, Vec<u8>, i64, u64)> = mg
            .pel
            .iter()
            .map(|(k, (c, t, n))| (*k, c.clone(), *t, *n))
            .collect();
        assert_eq!(pel, mpel);
        let cons: Vec<(Vec<u8>, i64, i64, Vec<StreamId>)> = g
            .consumers()
            .map(|c| {
                (
                    c.name().to_vec(),
                    c.seen_time(),
                    c.active_time(),
                    c.pending_ids().collect(),
                )
            })
            .collect();
        let mcons: Vec<(Vec<u8>, i64, i64, Vec<StreamId>)> = mg
            .consumers
            .iter()
            .map(|(n, (seen, active))| {
                let mine = mg
                    .pel
                    .iter()
                    .filter(|(_, v)| &v.0 == n)
                    .map(|(k, _)| *k)
                    .collect();
                (n.clone(), *seen, *active, mine)
            })
            .collect();
        assert_eq!(cons, mcons);
    }
}

fn run(ops: Vec<Op>, lim: NodeLimits) {
    let mut s = Stream::new();
    let mut m = Model::default();
    let mut now: i64 = 1_000;
    for (step, op) in ops.into_iter().enumerate() {
        now += 1;
        match op {
            Op::Add {
                kind,
                dms,
                dseq,
                fields,
                vals,
            } => {
                let names = FIELD_SETS[fields as usize];
                let pairs: Vec<&[u8]> = names
                    .iter()
                    .enumerate()
                    .flat_map(|(i, f)| {
                        [
                            f.as_bytes(),
                            VALUES[vals[i % 3] as usize % VALUES.len()].as_bytes(),
                        ]
                    })
                    .collect();
                let last = m.last_id;
                let (spec, want) = match kind {
                    0 => {
                        let clock = (now as u64) / 4;
                        let id = if clock > last.ms {
                            StreamId::new(clock, 0)
                        } else {
                            last.incr().unwrap()
                        };
                        (AddId::Auto, Ok(id))
                    }
                    1 => {
                        let ms = last.ms + dms as u64;
                        let id = if ms == last.ms {
                            StreamId::new(ms, last.seq + 1)
                        } else {
                            StreamId::new(ms, 0)
                        };
                        (AddId::AutoSeq(ms), Ok(id))
                    }
                    2 => {
                        let id = StreamId::new(
                            last.ms + dms as u64,
                            if dms == 0 {
                                last.seq + 1 + dseq as u64
                            } else {
                                dseq as u64
                            },
                        );
                        (AddId::Explicit(id), Ok(id))
                    }
                    _ => (
                        AddId::Explicit(last),
                        Err(if last.is_zero() {
                            StreamError::IdZero
                        } else {
                            StreamError::IdTooSmall
                        }),
                    ),
                };
                let got = s.add(spec, &pairs, (now as u64) / 4, lim);
                assert_eq!(got, want, "step {step}");
                if let Ok(id) = got {
                    let p = pairs
                        .chunks(2)
                        .map(|c| (c[0].to_vec(), c[1].to_vec()))
                        .collect();
                    m.entries.insert(id, p);
                    m.ever.push(id);
                    m.last_id = id;
                    m.entries_added += 1;
                }
            }
            Op::Del { picks } => {
                let ids: Vec<StreamId> = picks.iter().map(|&p| pick_id(&m, p)).collect();
                let mut want = 0;
                for id in &ids {
                    if m.entries.remove(id).is_some() {
                        want += 1;
                        m.max_deleted = m.max_deleted.max(*id);
                    }
                }
                assert_eq!(s.delete(&ids), want);
            }
            Op::Trim {
                maxlen,
                arg,
                approx,
                limit,
            } => {
                let strategy = if maxlen {
                    TrimStrategy::MaxLen(arg as u64 % (m.len() + 3))
                } else {
                    TrimStrategy::MinId(pick_id(&m, arg))
                };
                let limit = if approx { limit as u64 } else { 0 };
                let exact: Vec<StreamId> = match strategy {
                    TrimStrategy::MaxLen(n) => m
                        .entries
                        .keys()
                        .take(m.len().saturating_sub(n) as usize)
                        .copied()
                        .collect(),
                    TrimStrategy::MinId(min) => m.entries.range(..min).map(|(k, _)| *k).collect(),
                };
                let n = s.trim(Trim {
                    strategy,
                    approx,
                    limit,
                });
                if approx {
                    assert!(n as usize <= exact.len());
                    if limit > 0 {
                        assert!(n <= limit);
                    }
                } else {
                    assert_eq!(n as usize, exact.len());
                }
                for id in exact.iter().take(n as usize) {
                    m.entries.remove(id);
                }
            }
            Op::SetLast { bump } => {
                let id = StreamId::new(m.last_id.ms + bump as u64 % 3, m.last_id.seq + bump as u64);
                assert_eq!(s.set_id(id, None, None), Ok(()));
                m.last_id = id;
            }
            Op::CreateGroup { g, at, er } => {
                let at = if at % 3 == 0 {
                    StreamId::MIN
                } else {
                    pick_id(&m, at)
                };
                let er = er.map(|e| if e == 0 { -1 } else { e as i64 - 1 });
                let name = gname(g);
                let got = s.create_group(&name, at, er);
                match m.groups.entry(name) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        assert_eq!(got, Err(StreamError::BusyGroup))
                    }
                    std::collections::btree_map::Entry::Vacant(v) => {
                        assert_eq!(got, Ok(()));
                        v.insert(MGroup {
                            last_id: at,
                            entries_read: er.unwrap_or(-1),
                            ..MGroup::default()
                        });
                    }
                }
            }
            Op::SetGroupId { g, at, er } => {
                let at = pick_id(&m, at);
                let er = er.map(|e| e as i64);
                let name = gname(g);
                let present = m.groups.contains_key(&name);
                assert_eq!(s.set_group_id(&name, at, er), present);
                if let Some(mg) = m.groups.get_mut(&name) {
                    mg.last_id = at;
                    mg.entries_read = er.unwrap_or(-1);
                }
            }
            Op::DestroyGroup { g } => {
                let name = gname(g);
                assert_eq!(s.destroy_group(&name), m.groups.remove(&name).is_some());
            }
            Op::ReadNew { g, c, count, noack } => {
                let (gn, cn) = (gname(g), cname(c));
                let got = s.read_group_new(&gn, &cn, count as usize, noack, now);
                let Some(mut mg) = m.groups.remove(&gn) else {
                    assert!(got.is_none());
                    continue;
                };
                let created = Model::touch(&mut mg, &cn, now);
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count as usize
                };
                let ids: Vec<StreamId> = m
                    .entries
                    .range(mg.last_id..)
                    .map(|(k, _)| *k)
                    .filter(|k| *k > mg.last_id)
                    .take(limit)
                    .collect();
                for &id in &ids {
                    if mg.entries_read != -1 && !m.tombstones_from(id) {
                        mg.entries_read += 1;
                    } else if m.entries_added != 0 {
                        mg.entries_read = m.estimate(id);
                    }
                    mg.last_id = id;
                    if !noack {
                        mg.pel.insert(id, (cn.clone(), now, 1));
                        mg.consumers.get_mut(&cn).unwrap().1 = now;
                    }
                }
                m.groups.insert(gn, mg);
                let got = got.unwrap();
                assert_eq!(got.consumer_created, created);
                assert_eq!(got.count, ids.len());
                if got.count > 0 {
                    assert_eq!(
                        s.range(got.first, got.last)
                            .map(|e| e.id)
                            .collect::<Vec<_>>(),
                        ids
                    );
                }
            }
            Op::ReadHistory { g, c, after, count } => {
                let (gn, cn) = (gname(g), cname(c));
                let after = if after % 4 == 0 {
                    StreamId::MIN
                } else {
                    pick_id(&m, after)
                };
                let got = s.read_group_history(&gn, &cn, after, count as usize, now);
                let Some(mg) = m.groups.get_mut(&gn) else {
                    assert!(got.is_none());
                    continue;
                };
                let created = Model::touch(mg, &cn, now);
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count as usize
                };
                let start = after.incr().unwrap_or(StreamId::MIN);
                let ids: Vec<StreamId> = mg
                    .pel
                    .range(start..)
                    .filter(|(_, v)| v.0 == cn)
                    .map(|(k, _)| *k)
                    .take(limit)
                    .collect();
                for id in &ids {
                    if m.entries.contains_key(id) {
                        let e = mg.pel.get_mut(id).unwrap();
                        e.1 = now;
                        e.2 += 1;
                    }
                }
                assert_eq!(
                    got,
                    Some(ReadHistory {
                        ids,
                        consumer_created: created
                    })
                );
            }
            Op::Ack { g, picks } => {
                let gn = gname(g);
                let ids: Vec<StreamId> = picks.iter().map(|&p| pick_id(&m, p)).collect();
                let got = s.ack(&gn, &ids);
                match m.groups.get_mut(&gn) {
                    None => assert_eq!(got, None),
                    Some(mg) => {
                        let n = ids.iter().filter(|id| mg.pel.remove(id).is_some()).count() as u64;
                        assert_eq!(got, Some(n));
                    }
                }
            }
            Op::Claim {
                g,
                c,
                picks,
                min_idle,
                idle,
                retry,
                force,
                justid,
            } => {
                let (gn, cn) = (gname(g), cname(c));
                let ids: Vec<StreamId> = picks.iter().map(|&p| pick_id(&m, p)).collect();
                let opts = ClaimOpts {
                    min_idle: min_idle as i64,
                    delivery_time: idle.map(|i| now - i as i64),
                    retry_count: retry.map(|r| r as u64),
                    force,
                    justid,
                    last_id: None,
                };
                let got = s.claim(&gn, &cn, &ids, &opts, now);
                let Some(mg) = m.groups.get_mut(&gn) else {
                    assert!(got.is_none());
                    continue;
                };
                let created = Model::touch(mg, &cn, now);
                let mut want = Claimed {
                    consumer_created: created,
                    ..Claimed::default()
                };
                let time = opts
                    .delivery_time
                    .filter(|t| (0..=now).contains(t))
                    .unwrap_or(now);
                for id in ids {
                    if !m.entries.contains_key(&id) {
                        if mg.pel.remove(&id).is_some() {
                            want.deleted.push(id);
                        }
                        continue;
                    }
                    let fresh = !mg.pel.contains_key(&id);
                    if fresh && !force {
                        continue;
                    }
                    if !fresh && min_idle > 0 && now - mg.pel[&id].1 < min_idle as i64 {
                        continue;
                    }
                    let count = if fresh { 1 } else { mg.pel[&id].2 };
                    let count = match retry {
                        Some(r) => r as u64,
                        None if !justid => count + 1,
                        None => count,
                    };
                    mg.pel.insert(id, (cn.clone(), time, count));
                    mg.consumers.get_mut(&cn).unwrap().1 = now;
                    want.claimed.push(id);
                }
                assert_eq!(got, Some(want));
            }
            Op::AutoClaim {
                g,
                c,
                start,
                count,
                min_idle,
                justid,
            } => {
                let (gn, cn) = (gname(g), cname(c));
                let start = if start % 3 == 0 {
                    StreamId::MIN
                } else {
                    pick_id(&m, start)
                };
                let got = s.autoclaim(&gn, &cn, min_idle as i64, start, count as u64, justid, now);
                let Some(mg) = m.groups.get_mut(&gn) else {
                    assert!(got.is_none());
                    continue;
                };
                let created = Model::touch(mg, &cn, now);
                let mut want = AutoClaimed {
                    consumer_created: created,
                    ..AutoClaimed::default()
                };
                let candidates: Vec<StreamId> = mg.pel.range(start..).map(|(k, _)| *k).collect();
                let (mut left, mut attempts) = (count as usize, count as usize * 10);
                let mut examined = 0;
                for id in candidates.iter().copied() {
                    if attempts == 0 || left == 0 {
                        break;
                    }
                    attempts -= 1;
                    examined += 1;
                    if !m.entries.contains_key(&id) {
                        mg.pel.remove(&id);
                        want.deleted.push(id);
                        left -= 1;
                        continue;
                    }
                    if min_idle > 0 && now - mg.pel[&id].1 < min_idle as i64 {
                        continue;
                    }
                    let n = mg.pel[&id].2 + u64::from(!justid);
                    mg.pel.insert(id, (cn.clone(), now, n));
                    mg.consumers.get_mut(&cn).unwrap().1 = now;
                    want.claimed.push(id);
                    left -= 1;
                }
                want.next = candidates.get(examined).copied().unwrap_or(StreamId::MIN);
                assert_eq!(got, Some(want));
            }
            Op::CreateConsumer { g, c } => {
                let (gn, cn) = (gname(g), cname(c));
                let got = s.create_consumer(&gn, &cn, now);
                match m.groups.get_mut(&gn) {
                    None => assert_eq!(got, None),
                    Some(mg) => {
                        let created = !mg.consumers.contains_key(&cn);
                        if created {
                            mg.consumers.insert(cn, (now, -1));
                        }
                        assert_eq!(got, Some(created));
                    }
                }
            }
            Op::DelConsumer { g, c } => {
                let (gn, cn) = (gname(g), cname(c));
                let got = s.delete_consumer(&gn, &cn);
                match m.groups.get_mut(&gn) {
                    None => assert_eq!(got, None),
                    Some(mg) => {
                        let mut n = 0;
                        if mg.consumers.remove(&cn).is_some() {
                            let before = mg.pel.len();
                            mg.pel.retain(|_, v| v.0 != cn);
                            n = (before - mg.pel.len()) as u64;
                        }
                        assert_eq!(got, Some(n));
                    }
                }
            }
            Op::Tick(t) => now += t as i64,
        }
        check(&s, &m);
    }
    // Whatever state was reached survives DUMP/RESTORE unchanged.
    let payload = tests::dump(&s, true);
    match crate::rdb::restore(&payload, &crate::rdb::Limits::default()) {
        Ok(crate::rdb::Loaded::Obj(crate::object::Object::Stream(back))) => assert_eq!(*back, s),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn operations_agree_with_the_model(
        ops in prop::collection::vec(op(), 1..80),
        entries in 1u64..6,
        bytes in prop::sample::select(vec![0usize, 40, 120, 4096]),
    ) {
        run(ops, NodeLimits { max_bytes: bytes, max_entries: entries });
    }
}
