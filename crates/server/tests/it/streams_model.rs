//! Property test: random sequences of XADD, XDEL, XTRIM, XGROUP, XREADGROUP (new and
//! history, with and without NOACK), XACK, XCLAIM and XAUTOCLAIM run through a server, each
//! reply checked against a plain model (ordered maps, no nodes, no tombstones), and after
//! every sequence XRANGE, XPENDING, XINFO STREAM/GROUPS/CONSUMERS compared with the model.
//! Idle times are never used (min-idle 0), so nothing depends on the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, int, RawConn, TestServer};
use parking_lot::Mutex;
use proptest::prelude::*;

type Id = (u64, u64);

fn id_text(id: Id) -> String {
    format!("{}-{}", id.0, id.1)
}

#[derive(Default, Clone, Debug)]
struct Group {
    last: Id,
    /// id -> (owner, delivery count)
    pel: BTreeMap<Id, (String, u64)>,
    consumers: BTreeSet<String>,
}

#[derive(Default, Debug)]
struct Model {
    exists: bool,
    entries: BTreeMap<Id, Vec<(String, String)>>,
    last: Id,
    max_deleted: Id,
    added: u64,
    groups: BTreeMap<String, Group>,
}

impl Model {
    fn entry(&self, id: Id) -> Frame {
        let fields = &self.entries[&id];
        Frame::Array(vec![
            bulk(&id_text(id)),
            Frame::Array(
                fields
                    .iter()
                    .flat_map(|(f, v)| [bulk(f), bulk(v)])
                    .collect(),
            ),
        ])
    }

    fn delete(&mut self, id: Id) -> bool {
        if self.entries.remove(&id).is_some() {
            self.max_deleted = self.max_deleted.max(id);
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add {
        ms_step: u64,
        same_ms: bool,
        nfields: usize,
        maxlen: Option<usize>,
    },
    Del {
        picks: Vec<usize>,
    },
    TrimLen {
        maxlen: usize,
    },
    TrimMinId {
        pick: usize,
    },
    Create {
        g: usize,
        at_end: bool,
    },
    SetId {
        g: usize,
        at_end: bool,
    },
    Read {
        g: usize,
        c: usize,
        count: usize,
        noack: bool,
    },
    History {
        g: usize,
        c: usize,
        count: usize,
    },
    Ack {
        g: usize,
        picks: Vec<usize>,
    },
    Claim {
        g: usize,
        c: usize,
        picks: Vec<usize>,
        justid: bool,
        force: bool,
    },
    AutoClaim {
        g: usize,
        c: usize,
        start: usize,
        count: u64,
        justid: bool,
    },
    CreateConsumer {
        g: usize,
        c: usize,
    },
    DelConsumer {
        g: usize,
        c: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..3, any::<bool>(), 1usize..4, prop::option::weighted(0.15, 0usize..8))
            .prop_map(|(ms_step, same_ms, nfields, maxlen)| Op::Add { ms_step, same_ms, nfields, maxlen }),
        1 => prop::collection::vec(0usize..40, 1..4).prop_map(|picks| Op::Del { picks }),
        1 => (0usize..10).prop_map(|maxlen| Op::TrimLen { maxlen }),
        1 => (0usize..40).prop_map(|pick| Op::TrimMinId { pick }),
        1 => (0usize..2, any::<bool>()).prop_map(|(g, at_end)| Op::Create { g, at_end }),
        1 => (0usize..2, any::<bool>()).prop_map(|(g, at_end)| Op::SetId { g, at_end }),
        4 => (0usize..2, 0usize..3, 0usize..4, prop::bool::weighted(0.2))
            .prop_map(|(g, c, count, noack)| Op::Read { g, c, count, noack }),
        1 => (0usize..2, 0usize..3, 0usize..3).prop_map(|(g, c, count)| Op::History { g, c, count }),
        2 => (0usize..2, prop::collection::vec(0usize..40, 1..4)).prop_map(|(g, picks)| Op::Ack { g, picks }),
        2 => (0usize..2, 0usize..3, prop::collection::vec(0usize..40, 1..4), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(g, c, picks, justid, force)| Op::Claim { g, c, picks, justid, force }),
        2 => (0usize..2, 0usize..3, 0usize..40, 1u64..4, any::<bool>())
            .prop_map(|(g, c, start, count, justid)| Op::AutoClaim { g, c, start, count, justid }),
        1 => (0usize..2, 0usize..3).prop_map(|(g, c)| Op::CreateConsumer { g, c }),
        1 => (0usize..2, 0usize..3).prop_map(|(g, c)| Op::DelConsumer { g, c }),
    ]
}

const GROUPS: [&str; 2] = ["ga", "gb"];
const CONSUMERS: [&str; 3] = ["alice", "bob", "carol"];

/// Picks an ID: mostly one that was used (live, deleted or pending), sometimes a fresh one.
fn pick(m: &Model, p: usize) -> Id {
    let mut known: BTreeSet<Id> = m.entries.keys().copied().collect();
    for g in m.groups.values() {
        known.extend(g.pel.keys().copied());
    }
    if known.is_empty() || p % 7 == 6 {
        return (m.last.0 + (p as u64 % 3), p as u64 % 2);
    }
    *known.iter().nth(p % known.len()).unwrap()
}

fn cmd(r: &mut RawConn, words: &[String]) -> Frame {
    let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
    r.cmd(&w)
}

fn s(x: &str) -> String {
    x.to_string()
}

fn nogroup(f: &Frame) -> bool {
    matches!(f, Frame::Error(e) if e.starts_with("NOGROUP"))
}

/// Runs one op on the server and the model, checking the reply.
fn step(r: &mut RawConn, m: &mut Model, op: &Op) {
    match op {
        Op::Add {
            ms_step,
            same_ms,
            nfields,
            maxlen,
        } => {
            let mut w = vec![s("XADD"), s("s")];
            if let Some(n) = maxlen {
                w.extend([s("MAXLEN"), n.to_string()]);
            }
            let id = if *same_ms && *ms_step == 0 {
                w.push(format!("{}-*", m.last.0));
                (m.last.0, m.last.1 + 1)
            } else {
                let id = (m.last.0 + ms_step + 1, 0);
                w.push(id_text(id));
                id
            };
            let fields: Vec<(String, String)> = (0..*nfields)
                .map(|i| (format!("f{i}"), format!("{}", id.0 * 10 + i as u64)))
                .collect();
            for (f, v) in &fields {
                w.extend([f.clone(), v.clone()]);
            }
            assert_eq!(cmd(r, &w), bulk(&id_text(id)), "{w:?}");
            m.exists = true;
            m.entries.insert(id, fields);
            m.last = id;
            m.added += 1;
            if let Some(n) = maxlen {
                while m.entries.len() > *n {
                    let first = *m.entries.keys().next().unwrap();
                    m.entries.remove(&first);
                }
            }
        }
        Op::Del { picks } => {
            let ids: Vec<Id> = picks.iter().map(|&p| pick(m, p)).collect();
            let mut w = vec![s("XDEL"), s("s")];
            w.extend(ids.iter().map(|&i| id_text(i)));
            let want = if m.exists {
                ids.iter().filter(|&&i| m.delete(i)).count() as i64
            } else {
                0
            };
            assert_eq!(cmd(r, &w), int(want), "{w:?}");
        }
        Op::TrimLen { maxlen } => {
            let w = vec![s("XTRIM"), s("s"), s("MAXLEN"), maxlen.to_string()];
            let mut n = 0;
            while m.entries.len() > *maxlen {
                let first = *m.entries.keys().next().unwrap();
                m.entries.remove(&first);
                n += 1;
            }
            assert_eq!(cmd(r, &w), int(n), "{w:?}");
        }
        Op::TrimMinId { pick: p } => {
            let min = pick(m, *p);
            let w = vec![s("XTRIM"), s("s"), s("MINID"), id_text(min)];
            let gone: Vec<Id> = m.entries.range(..min).map(|(k, _)| *k).collect();
            for k in &gone {
                m.entries.remove(k);
            }
            assert_eq!(cmd(r, &w), int(gone.len() as i64), "{w:?}");
        }
        Op::Create { g, at_end } => {
            let name = GROUPS[*g];
            let at = if *at_end { s("$") } else { s("0") };
            let got = cmd(
                r,
                &[s("XGROUP"), s("CREATE"), s("s"), s(name), at, s("MKSTREAM")],
            );
            if m.groups.contains_key(name) {
                assert_eq!(
                    got,
                    Frame::Error("BUSYGROUP Consumer Group name already exists".into())
                );
            } else {
                assert_eq!(got, Frame::Simple("OK".into()));
                m.exists = true;
                let last = if *at_end { m.last } else { (0, 0) };
                m.groups.insert(
                    s(name),
                    Group {
                        last,
                        ..Group::default()
                    },
                );
            }
        }
        Op::SetId { g, at_end } => {
            let name = GROUPS[*g];
            let at = if *at_end { s("$") } else { s("0") };
            let got = cmd(r, &[s("XGROUP"), s("SETID"), s("s"), s(name), at]);
            match m.groups.get_mut(name) {
                Some(gr) => {
                    assert_eq!(got, Frame::Simple("OK".into()));
                    gr.last = if *at_end { m.last } else { (0, 0) };
                }
                None if !m.exists => assert!(matches!(got, Frame::Error(_)), "{got:?}"),
                None => assert!(nogroup(&got), "{got:?}"),
            }
        }
        Op::Read { g, c, count, noack } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let mut w = vec![s("XREADGROUP"), s("GROUP"), s(gn), s(cn)];
            if *count > 0 {
                w.extend([s("COUNT"), count.to_string()]);
            }
            if *noack {
                w.push(s("NOACK"));
            }
            w.extend([s("STREAMS"), s("s"), s(">")]);
            let got = cmd(r, &w);
            let Some(gr) = m.groups.get_mut(gn) else {
                assert!(nogroup(&got), "{w:?}: {got:?}");
                return;
            };
            gr.consumers.insert(s(cn));
            let ids: Vec<Id> = m
                .entries
                .range((
                    std::ops::Bound::Excluded(gr.last),
                    std::ops::Bound::Unbounded,
                ))
                .map(|(k, _)| *k)
                .take(if *count == 0 { usize::MAX } else { *count })
                .collect();
            for &id in &ids {
                gr.last = id;
                if !noack {
                    gr.pel.insert(id, (s(cn), 1));
                }
            }
            let want = if ids.is_empty() {
                Frame::Null
            } else {
                Frame::Array(vec![Frame::Array(vec![
                    bulk("s"),
                    Frame::Array(ids.iter().map(|&i| m.entry(i)).collect()),
                ])])
            };
            assert_eq!(got, want, "{w:?}");
        }
        Op::History { g, c, count } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let mut w = vec![s("XREADGROUP"), s("GROUP"), s(gn), s(cn)];
            if *count > 0 {
                w.extend([s("COUNT"), count.to_string()]);
            }
            w.extend([s("STREAMS"), s("s"), s("0")]);
            let got = cmd(r, &w);
            let Some(gr) = m.groups.get_mut(gn) else {
                assert!(nogroup(&got), "{w:?}: {got:?}");
                return;
            };
            gr.consumers.insert(s(cn));
            let mine: Vec<Id> = gr
                .pel
                .iter()
                .filter(|(_, (o, _))| o == cn)
                .map(|(k, _)| *k)
                .take(if *count == 0 { usize::MAX } else { *count })
                .collect();
            for id in &mine {
                if m.entries.contains_key(id) {
                    gr.pel.get_mut(id).unwrap().1 += 1;
                }
            }
            let rows: Vec<Frame> = mine
                .iter()
                .map(|&id| {
                    if m.entries.contains_key(&id) {
                        m.entry(id)
                    } else {
                        Frame::Array(vec![bulk(&id_text(id)), Frame::Null])
                    }
                })
                .collect();
            let want = Frame::Array(vec![Frame::Array(vec![bulk("s"), Frame::Array(rows)])]);
            assert_eq!(got, want, "{w:?}");
        }
        Op::Ack { g, picks } => {
            let gn = GROUPS[*g];
            let ids: Vec<Id> = picks.iter().map(|&p| pick(m, p)).collect();
            let mut w = vec![s("XACK"), s("s"), s(gn)];
            w.extend(ids.iter().map(|&i| id_text(i)));
            let want = match m.groups.get_mut(gn) {
                Some(gr) => ids.iter().filter(|i| gr.pel.remove(i).is_some()).count(),
                None => 0,
            };
            assert_eq!(cmd(r, &w), int(want as i64), "{w:?}");
        }
        Op::Claim {
            g,
            c,
            picks,
            justid,
            force,
        } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let ids: Vec<Id> = picks.iter().map(|&p| pick(m, p)).collect();
            let mut w = vec![s("XCLAIM"), s("s"), s(gn), s(cn), s("0")];
            w.extend(ids.iter().map(|&i| id_text(i)));
            if *force {
                w.push(s("FORCE"));
            }
            if *justid {
                w.push(s("JUSTID"));
            }
            let got = cmd(r, &w);
            let entries = &m.entries;
            let Some(gr) = m.groups.get_mut(gn) else {
                assert!(nogroup(&got), "{w:?}: {got:?}");
                return;
            };
            gr.consumers.insert(s(cn));
            let mut claimed = Vec::new();
            for id in ids {
                if !entries.contains_key(&id) {
                    gr.pel.remove(&id);
                    continue;
                }
                if *force && !gr.pel.contains_key(&id) {
                    gr.pel.insert(id, (s(cn), 1));
                }
                let Some(n) = gr.pel.get_mut(&id) else {
                    continue;
                };
                n.0 = s(cn);
                if !justid {
                    n.1 += 1;
                }
                claimed.push(id);
            }
            let want = Frame::Array(
                claimed
                    .iter()
                    .map(|&i| {
                        if *justid {
                            bulk(&id_text(i))
                        } else {
                            m.entry(i)
                        }
                    })
                    .collect(),
            );
            assert_eq!(got, want, "{w:?}");
        }
        Op::AutoClaim {
            g,
            c,
            start,
            count,
            justid,
        } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let from = pick(m, *start);
            let mut w = vec![
                s("XAUTOCLAIM"),
                s("s"),
                s(gn),
                s(cn),
                s("0"),
                id_text(from),
                s("COUNT"),
                count.to_string(),
            ];
            if *justid {
                w.push(s("JUSTID"));
            }
            let got = cmd(r, &w);
            let entries = &m.entries;
            let Some(gr) = m.groups.get_mut(gn) else {
                assert!(nogroup(&got), "{w:?}: {got:?}");
                return;
            };
            gr.consumers.insert(s(cn));
            let (mut left, mut attempts) = (*count, count * 10);
            let mut cursor = Some(from);
            let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
            while attempts > 0 && left > 0 {
                attempts -= 1;
                let Some(cur) = cursor else { break };
                let Some(id) = gr.pel.range(cur..).next().map(|(k, _)| *k) else {
                    cursor = None;
                    break;
                };
                cursor = if id.1 == u64::MAX {
                    Some((id.0 + 1, 0))
                } else {
                    Some((id.0, id.1 + 1))
                };
                if !entries.contains_key(&id) {
                    gr.pel.remove(&id);
                    deleted.push(id);
                    left -= 1;
                    continue;
                }
                let n = gr.pel.get_mut(&id).unwrap();
                n.0 = s(cn);
                if !justid {
                    n.1 += 1;
                }
                claimed.push(id);
                left -= 1;
            }
            let next = cursor
                .and_then(|cur| gr.pel.range(cur..).next().map(|(k, _)| *k))
                .unwrap_or((0, 0));
            let want = Frame::Array(vec![
                bulk(&id_text(next)),
                Frame::Array(
                    claimed
                        .iter()
                        .map(|&i| {
                            if *justid {
                                bulk(&id_text(i))
                            } else {
                                m.entry(i)
                            }
                        })
                        .collect(),
                ),
                Frame::Array(deleted.iter().map(|&i| bulk(&id_text(i))).collect()),
            ]);
            assert_eq!(got, want, "{w:?}");
        }
        Op::CreateConsumer { g, c } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let got = cmd(r, &[s("XGROUP"), s("CREATECONSUMER"), s("s"), s(gn), s(cn)]);
            match m.groups.get_mut(gn) {
                Some(gr) => assert_eq!(got, int(gr.consumers.insert(s(cn)) as i64)),
                None => assert!(matches!(got, Frame::Error(_)), "{got:?}"),
            }
        }
        Op::DelConsumer { g, c } => {
            let (gn, cn) = (GROUPS[*g], CONSUMERS[*c]);
            let got = cmd(r, &[s("XGROUP"), s("DELCONSUMER"), s("s"), s(gn), s(cn)]);
            match m.groups.get_mut(gn) {
                Some(gr) => {
                    gr.consumers.remove(cn);
                    let before = gr.pel.len();
                    gr.pel.retain(|_, (o, _)| o != cn);
                    assert_eq!(got, int((before - gr.pel.len()) as i64));
                }
                None => assert!(matches!(got, Frame::Error(_)), "{got:?}"),
            }
        }
    }
}

fn map_of(f: Frame) -> BTreeMap<String, Frame> {
    let Frame::Array(v) = f else { panic!("{f:?}") };
    v.chunks(2)
        .map(|p| (cinnabar_testkit::text(&p[0]), p[1].clone()))
        .collect()
}

/// Compares everything observable (except times) with the model.
fn check(r: &mut RawConn, m: &Model) {
    let got = cmd(r, &[s("XRANGE"), s("s"), s("-"), s("+")]);
    let want = Frame::Array(m.entries.keys().map(|&i| m.entry(i)).collect());
    assert_eq!(got, want, "XRANGE");
    if !m.exists {
        assert_eq!(cmd(r, &[s("EXISTS"), s("s")]), int(0));
        return;
    }
    let info = map_of(cmd(r, &[s("XINFO"), s("STREAM"), s("s")]));
    assert_eq!(info["length"], int(m.entries.len() as i64));
    assert_eq!(info["last-generated-id"], bulk(&id_text(m.last)));
    assert_eq!(info["max-deleted-entry-id"], bulk(&id_text(m.max_deleted)));
    assert_eq!(info["entries-added"], int(m.added as i64));
    let first = m.entries.keys().next().copied().unwrap_or((0, 0));
    assert_eq!(info["recorded-first-entry-id"], bulk(&id_text(first)));
    assert_eq!(info["groups"], int(m.groups.len() as i64));
    let Frame::Array(groups) = cmd(r, &[s("XINFO"), s("GROUPS"), s("s")]) else {
        panic!()
    };
    assert_eq!(groups.len(), m.groups.len());
    for (gi, (name, g)) in groups.into_iter().zip(&m.groups) {
        let gi = map_of(gi);
        assert_eq!(gi["name"], bulk(name));
        assert_eq!(gi["consumers"], int(g.consumers.len() as i64), "{name}");
        assert_eq!(gi["pending"], int(g.pel.len() as i64), "{name}");
        assert_eq!(gi["last-delivered-id"], bulk(&id_text(g.last)), "{name}");
        let pending = cmd(
            r,
            &[s("XPENDING"), s("s"), s(name), s("-"), s("+"), s("1000")],
        );
        let Frame::Array(rows) = pending else {
            panic!()
        };
        let got: Vec<(String, String, Frame)> = rows
            .into_iter()
            .map(|row| {
                let Frame::Array(c) = row else { panic!() };
                (
                    cinnabar_testkit::text(&c[0]),
                    cinnabar_testkit::text(&c[1]),
                    c[3].clone(),
                )
            })
            .collect();
        let want: Vec<(String, String, Frame)> = g
            .pel
            .iter()
            .map(|(&i, (o, n))| (id_text(i), o.clone(), int(*n as i64)))
            .collect();
        assert_eq!(got, want, "XPENDING {name}");
        let Frame::Array(cs) = cmd(r, &[s("XINFO"), s("CONSUMERS"), s("s"), s(name)]) else {
            panic!()
        };
        let got: Vec<(Frame, Frame)> = cs
            .into_iter()
            .map(|c| {
                let c = map_of(c);
                (c["name"].clone(), c["pending"].clone())
            })
            .collect();
        let want: Vec<(Frame, Frame)> = g
            .consumers
            .iter()
            .map(|c| {
                let n = g.pel.values().filter(|(o, _)| o == c).count();
                (bulk(c), int(n as i64))
            })
            .collect();
        assert_eq!(got, want, "XINFO CONSUMERS {name}");
    }
}

/// One server for all cases (each starts with FLUSHALL); small nodes so that trims and
/// deletions cross node boundaries.
fn server() -> &'static Mutex<(TestServer, RawConn)> {
    static S: OnceLock<Mutex<(TestServer, RawConn)>> = OnceLock::new();
    S.get_or_init(|| {
        let srv = TestServer::with_args(&[("stream-node-max-entries", "3")]);
        let r = srv.raw();
        Mutex::new((srv, r))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn streams_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut guard = server().lock();
        let r = &mut guard.1;
        assert_eq!(r.cmd(&["FLUSHALL"]), Frame::Simple("OK".into()));
        let mut m = Model::default();
        for (i, op) in ops.iter().enumerate() {
            step(r, &mut m, op);
            if i % 16 == 15 {
                check(r, &m);
            }
        }
        check(r, &m);
    }
}
