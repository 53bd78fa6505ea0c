//! Streams in RDB: DUMP payloads of real Redis 7.2.4 (type 21) and 7.0.15 (type 19)
//! servers, a type-15 payload rebuilt from one, round trips, and corrupt input.

use super::*;
use crate::rdb::{put_len, put_string, restore, Limits, Loaded, Reader, RestoreError};

/// The (master ID, listpack) pairs of a stream payload, as stored.
pub(crate) fn listpacks_of(payload: &[u8]) -> Vec<(StreamId, Vec<u8>)> {
    let body = &payload[..payload.len() - 10];
    let mut r = Reader::new(&body[1..]);
    let n = r.count().unwrap();
    (0..n)
        .map(|_| {
            let k: [u8; 16] = r.string().unwrap().try_into().unwrap();
            (StreamId::from_be_bytes(k), r.string().unwrap())
        })
        .collect()
}

/// A payload around `body` (type byte included): RDB version 11 and the CRC64.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&11u16.to_le_bytes());
    let crc = crate::rdb::crc64::crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn try_restore(payload: &[u8]) -> Result<Stream, RestoreError> {
    match restore(payload, &Limits::default())? {
        Loaded::Obj(crate::object::Object::Stream(s)) => Ok(*s),
        _ => panic!("not a stream"),
    }
}

type PelRow = (String, String, i64, u64);

fn pel_rows(s: &Stream, g: &str) -> Vec<PelRow> {
    super::pel(s, g)
}

fn consumers(s: &Stream, g: &str) -> Vec<(String, i64, i64, Vec<StreamId>)> {
    s.group(g.as_bytes())
        .unwrap()
        .consumers()
        .map(|c| {
            (
                String::from_utf8(c.name().to_vec()).unwrap(),
                c.seen_time(),
                c.active_time(),
                c.pending_ids().collect(),
            )
        })
        .collect()
}

fn entries(s: &Stream) -> Vec<(String, Vec<(String, String)>)> {
    s.range(StreamId::MIN, StreamId::MAX)
        .map(|e| {
            (
                e.id.to_string(),
                e.to_pairs()
                    .into_iter()
                    .map(|(f, v)| (String::from_utf8(f).unwrap(), String::from_utf8(v).unwrap()))
                    .collect(),
            )
        })
        .collect()
}

fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn restores_redis_72_payloads() {
    let (s, _) = restore_fixture("s1");
    assert_eq!((s.len(), s.node_count(), s.radix_tree_nodes()), (2, 1, 2));
    assert_eq!(
        (
            s.last_id(),
            s.max_deleted_id(),
            s.entries_added(),
            s.first_id()
        ),
        (id("2-0"), id("1-2"), 3, id("1-1"))
    );
    assert_eq!(
        entries(&s),
        vec![
            ("1-1".into(), kv(&[("a", "1"), ("b", "2")])),
            ("2-0".into(), kv(&[("c", "x")]))
        ]
    );

    let (s, _) = restore_fixture("s2");
    assert_eq!((s.len(), s.last_id(), s.entries_added()), (4, id("7-0"), 4));
    assert_eq!(
        entries(&s)[2],
        ("6-0".into(), kv(&[("f", "v3"), ("g", "w")]))
    );
    assert_eq!(entries(&s)[3], ("7-0".into(), kv(&[("f", "123456")])));
    let names: Vec<&[u8]> = s.groups().map(|(n, _)| n).collect();
    assert_eq!(names, vec![&b"g1"[..], b"g2", b"g3"]);
    assert_eq!(lag_of(&s, "g1"), (Some(3), Some(1)));
    assert_eq!(lag_of(&s, "g2"), (Some(4), Some(0)));
    assert_eq!(lag_of(&s, "g3"), (Some(4), Some(0)));
    assert_eq!(s.group(b"g1").unwrap().last_id(), id("6-0"));
    let t = 1796597010476;
    assert_eq!(
        pel_rows(&s, "g1"),
        vec![p("5-2", "alice", t, 1), p("6-0", "carol", 1000, 7)]
    );
    assert_eq!(
        consumers(&s, "g1"),
        vec![
            ("alice".into(), t, t, ids(&["5-2"])),
            ("bob".into(), t + 1, t + 1, vec![]),
            ("carol".into(), t + 5, t + 5, ids(&["6-0"])),
        ]
    );
    assert_eq!(
        consumers(&s, "g3"),
        vec![("dave".into(), t + 7, -1, vec![])]
    );

    let (s, _) = restore_fixture("empty");
    assert_eq!((s.len(), s.node_count(), s.radix_tree_nodes()), (0, 0, 1));
    assert_eq!(lag_of(&s, "g"), (None, Some(0)));

    for name in ["big", "big-lzf"] {
        let (s, _) = restore_fixture(name);
        assert_eq!(
            (s.len(), s.node_count(), s.radix_tree_nodes()),
            (223, 5, 13)
        );
        assert_eq!(
            (
                s.last_id(),
                s.max_deleted_id(),
                s.entries_added(),
                s.first_id()
            ),
            (id("18446744073709551615-0"), id("121-0"), 254, id("30-0"))
        );
        let e = entries(&s);
        assert_eq!(
            e[0],
            (
                "30-0".into(),
                kv(&[("name", "user30"), ("score", "90"), ("blob", "xxxxxxxx30")])
            )
        );
        assert!(s.get(id("120-0")).is_none() && s.get(id("122-0")).is_some());
        assert_eq!(
            s.get(id("252-0")).unwrap().to_pairs()[0].1,
            vec![b'L'; 4100]
        );
        assert_eq!(
            e[e.len() - 2].1,
            kv(&[
                ("n1", "9223372036854775807"),
                ("n2", "-4611686018427387905"),
                ("n3", "")
            ])
        );
        assert_eq!(
            e[e.len() - 1].1,
            kv(&[("n1", "-1"), ("n2", "4611686018427387903"), ("n3", "4095")])
        );
    }

    let (s, _) = restore_fixture("x");
    assert_eq!(entries(&s).len(), 2);
    assert_eq!(
        (s.max_deleted_id(), s.entries_added(), s.first_id()),
        (id("3-0"), 6, id("5-0"))
    );
    assert_eq!(lag_of(&s, "g1"), (None, Some(1)));
    assert_eq!(lag_of(&s, "g2"), (None, Some(2)));
    assert_eq!(s.group(b"g1").unwrap().pending_len(), 4);
}

#[test]
fn dumps_are_byte_identical_to_redis_72() {
    // Uncompressed payloads (rdbcompression no): the whole payload, CRC included.
    for name in ["s1", "s2", "empty", "big", "x"] {
        let (s, payload) = restore_fixture(name);
        assert_eq!(dump(&s, false), payload, "{name}");
    }
    // LZF-compressed (rdbcompression yes): our compressor may pick other matches, so
    // compare what the payloads hold.
    let (z, payload) = restore_fixture("big-lzf");
    let ours = dump(&z, true);
    assert!(ours.len() < hex(fixture("big")).len() / 2);
    assert_eq!(listpacks_of(&ours), listpacks_of(&payload));
    assert_eq!(try_restore(&ours).unwrap(), z);
}

#[test]
fn restores_redis_70_payloads_and_writes_them_as_72() {
    let (s, payload) = restore_fixture("s2-19");
    assert_eq!(payload[0], crate::rdb::TYPE_STREAM_LISTPACKS_2);
    let t = 1796596885287;
    assert_eq!(
        pel_rows(&s, "g1"),
        vec![p("5-2", "alice", t, 1), p("6-0", "bob", t + 5, 1)]
    );
    // Redis 7.0 has no active time: it is taken to be the seen time.
    assert_eq!(
        consumers(&s, "g1"),
        vec![
            ("alice".into(), t, t, ids(&["5-2"])),
            ("bob".into(), t + 5, t + 5, ids(&["6-0"])),
            ("carol".into(), t + 9, t + 9, vec![]),
        ]
    );
    assert_eq!(lag_of(&s, "g1"), (Some(3), Some(1)));
    assert_eq!(lag_of(&s, "g2"), (Some(4), Some(0)));
    let (big, payload) = restore_fixture("big-19");
    assert_eq!(
        (big.len(), big.node_count(), big.radix_tree_nodes()),
        (220, 7, 16)
    );
    assert_eq!(
        (
            big.last_id(),
            big.max_deleted_id(),
            big.entries_added(),
            big.first_id()
        ),
        (id("251-0"), id("121-0"), 251, id("30-0"))
    );
    for name in ["s1-19", "s2-19", "empty-19", "big-19"] {
        let (s, payload) = restore_fixture(name);
        let ours = dump(&s, true);
        assert_eq!(ours[0], crate::rdb::TYPE_STREAM_LISTPACKS_3);
        // The same listpacks, byte for byte.
        assert_eq!(listpacks_of(&ours), listpacks_of(&payload), "{name}");
        assert_eq!(try_restore(&ours).unwrap(), s, "{name}");
    }
    // The 7.0 and 7.2 runs of the same commands hold the same entries.
    let (s1, _) = restore_fixture("s1-19");
    let (s1b, _) = restore_fixture("s1");
    assert_eq!(s1, s1b);
    assert_eq!(listpacks_of(&payload).len(), 7);
}

/// The type-15 form (Redis 5/6) of a stream: no first ID, max deleted ID, entries added,
/// group entries-read or consumer active time.
fn v1_payload(s: &Stream) -> Vec<u8> {
    let mut out = vec![crate::rdb::TYPE_STREAM_LISTPACKS];
    put_len(&mut out, s.nodes.len() as u64);
    for (k, n) in &s.nodes {
        put_string(&mut out, &k.to_be_bytes(), true);
        put_string(&mut out, &n.to_listpack(*k), true);
    }
    put_len(&mut out, s.len());
    put_len(&mut out, s.last_id().ms);
    put_len(&mut out, s.last_id().seq);
    put_len(&mut out, s.groups_len() as u64);
    for (name, g) in s.groups() {
        put_string(&mut out, name, true);
        put_len(&mut out, g.last_id().ms);
        put_len(&mut out, g.last_id().seq);
        put_len(&mut out, g.pending_len() as u64);
        for p in g.pending(StreamId::MIN, StreamId::MAX, None) {
            out.extend_from_slice(&p.id.to_be_bytes());
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            put_len(&mut out, p.delivery_count);
        }
        put_len(&mut out, g.consumers_len() as u64);
        for c in g.consumers() {
            put_string(&mut out, c.name(), true);
            out.extend_from_slice(&c.seen_time().to_le_bytes());
            put_len(&mut out, c.pending_len() as u64);
            for id in c.pending_ids() {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
    seal(out)
}

#[test]
fn loads_redis_5_payloads_estimating_the_new_counters() {
    // The scenario of Redis's own legacy-loading test (XADD 1..6, XDEL 3, groups g1 and
    // g2 at 0, g1 reads 4, XTRIM MAXLEN = 2), here as Redis 7.2 ran it, then written in the
    // Redis 5 form.
    let (x, _) = restore_fixture("x");
    let s = try_restore(&v1_payload(&x)).unwrap();
    assert_eq!(s.max_deleted_id(), StreamId::MIN);
    assert_eq!(s.entries_added(), 2);
    assert_eq!(s.first_id(), id("5-0"));
    assert_eq!(lag_of(&s, "g1"), (Some(1), Some(1)));
    assert_eq!(lag_of(&s, "g2"), (Some(0), Some(2)));
    let c = s.group(b"g1").unwrap().consumer(b"c11").unwrap();
    assert_eq!(c.active_time(), c.seen_time());
    // An empty Redis 5 stream records MAX as its first ID (streamGetEdgeID finds none).
    let (e, _) = restore_fixture("empty");
    let s = try_restore(&v1_payload(&e)).unwrap();
    assert_eq!(s.first_id(), StreamId::MAX);
}

fn sample_streams() -> Vec<Stream> {
    let mut out = vec![Stream::new()];
    let mut s = Stream::new();
    let lim = NodeLimits {
        max_bytes: 300,
        max_entries: 7,
    };
    for i in 1..=200u64 {
        let v = "v".repeat((i % 90) as usize);
        let n = (i as i64 * 7919 - 500_000).to_string();
        let pairs: Vec<&str> = if i % 5 == 0 {
            vec!["other", &v]
        } else {
            vec!["a", &n, "b", &v]
        };
        add_with(&mut s, &format!("{}-{}", i / 3, i % 3), &pairs, lim);
    }
    s.delete(&ids(&["10-0", "10-1", "50-2", "66-1"]));
    s.trim(Trim {
        strategy: TrimStrategy::MinId(id("5-1")),
        approx: false,
        limit: 0,
    });
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.create_group(b"42", id("20-0"), Some(60)).unwrap();
    s.create_group(b"", StreamId::MAX, Some(0)).unwrap();
    s.read_group_new(b"g", b"alice", 30, false, 1_000).unwrap();
    s.read_group_new(b"g", b"bob", 10, false, 2_000).unwrap();
    s.read_group_new(b"g", b"nack", 10, true, 2_500).unwrap();
    s.read_group_new(b"42", b"7", 5, false, -5).unwrap();
    s.claim(
        b"g",
        b"carol",
        &ids(&["6-0", "7-1"]),
        &ClaimOpts {
            retry_count: Some(u64::MAX),
            delivery_time: Some(0),
            ..ClaimOpts::default()
        },
        3_000,
    )
    .unwrap();
    s.create_consumer(b"g", &[0xff, 0, 1], i64::MAX);
    s.set_id(id("900-0"), Some(1 << 40), Some(id("800-0")))
        .unwrap();
    out.push(s);
    out.push(stream_of(1000, NodeLimits::default()));
    out
}

#[test]
fn streams_round_trip_through_dump_and_restore() {
    for s in sample_streams() {
        for compress in [false, true] {
            let p = dump(&s, compress);
            let back = try_restore(&p).unwrap();
            assert_eq!(back, s);
            assert_eq!(entries(&back), entries(&s));
            assert_eq!(dump(&back, compress), p);
        }
    }
}

#[test]
fn files_with_streams_round_trip() {
    use crate::entry::{Entry, NewValue};
    let streams = sample_streams();
    let mut w = crate::rdb::Writer::new(Vec::new(), crate::rdb::SaveOpts::default()).unwrap();
    w.select_db(0, streams.len(), 0).unwrap();
    for (i, s) in streams.iter().enumerate() {
        let o = crate::object::Object::Stream(Box::new(s.clone()));
        let e = Entry::new(
            format!("s{i}").as_bytes(),
            NewValue::Obj(Box::new(o)),
            None,
            0,
        );
        assert!(w.entry(&e, 0).unwrap());
    }
    let file = w.finish().unwrap();
    let mut got = Vec::new();
    Reader::new(&file[..])
        .load(&Limits::default(), 16, 0, |item| {
            if let crate::rdb::Item::Key {
                value: Loaded::Obj(crate::object::Object::Stream(s)),
                ..
            } = item
            {
                got.push(*s);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(got, streams, "the empty stream is kept too");
}

/// Writes stream payload bodies by hand, for corrupt inputs.
struct B(Vec<u8>);

impl B {
    fn new() -> B {
        B(vec![crate::rdb::TYPE_STREAM_LISTPACKS_3])
    }
    fn len(mut self, n: u64) -> B {
        put_len(&mut self.0, n);
        self
    }
    fn s(mut self, b: &[u8]) -> B {
        put_string(&mut self.0, b, false);
        self
    }
    fn raw(mut self, b: &[u8]) -> B {
        self.0.extend_from_slice(b);
        self
    }
    fn time(self, t: i64) -> B {
        self.raw(&t.to_le_bytes())
    }
    fn rid(self, i: &str) -> B {
        self.raw(&id(i).to_be_bytes())
    }
    fn node(self, master: &str, pairs: &[&[&str]]) -> B {
        // Entries at master, master+1, ... (sequence numbers).
        let m = id(master);
        let mut n = node::Node::create(pairs[0]);
        for (i, p) in pairs.iter().enumerate().skip(1) {
            n.append(m, StreamId::new(m.ms, m.seq + i as u64), *p);
        }
        self.s(&m.to_be_bytes()).s(&n.to_listpack(m))
    }
    /// length, last id, first id, max deleted, entries added.
    fn meta(self, len: u64, last: &str, first: &str) -> B {
        let (l, f) = (id(last), id(first));
        self.len(len)
            .len(l.ms)
            .len(l.seq)
            .len(f.ms)
            .len(f.seq)
            .len(0)
            .len(0)
            .len(len)
    }
    fn done(self) -> Vec<u8> {
        seal(self.0)
    }
}

fn one_node() -> B {
    B::new().len(1).node("1-1", &[&["f", "v"], &["f", "w"]])
}

#[test]
fn handmade_payloads_load() {
    let s = try_restore(&one_node().meta(2, "1-2", "1-1").len(0).done()).unwrap();
    assert_eq!(all_ids(&s), ids(&["1-1", "1-2"]));
    // A group with a PEL entry owned by one consumer.
    let p = one_node()
        .meta(2, "1-2", "1-1")
        .len(1)
        .s(b"g")
        .len(1)
        .len(2)
        .len(2)
        .len(1)
        .rid("1-2")
        .time(5)
        .len(1)
        .len(1)
        .s(b"c")
        .time(6)
        .time(7)
        .len(1)
        .rid("1-2")
        .done();
    let s = try_restore(&p).unwrap();
    assert_eq!(pel_rows(&s, "g"), vec![p_row("1-2", "c", 5, 1)]);
}

fn p_row(i: &str, c: &str, t: i64, n: u64) -> PelRow {
    p(i, c, t, n)
}

#[test]
fn corrupt_payloads_are_refused() {
    let bad = |b: Vec<u8>| assert_eq!(try_restore(&b).unwrap_err(), RestoreError::Format);
    // Length that does not match the entries; an entry above the last ID.
    bad(one_node().meta(3, "1-2", "1-1").len(0).done());
    bad(one_node().meta(2, "1-1", "1-1").len(0).done());
    // A node key that is not 16 bytes; the same key twice; overlapping nodes.
    bad(B::new()
        .len(1)
        .s(b"short")
        .s(b"x")
        .meta(0, "0-0", "0-0")
        .len(0)
        .done());
    bad(B::new()
        .len(2)
        .node("1-1", &[&["f", "v"]])
        .node("1-1", &[&["f", "v"]])
        .meta(2, "1-1", "1-1")
        .len(0)
        .done());
    bad(B::new()
        .len(2)
        .node("1-1", &[&["f", "v"], &["f", "v"], &["f", "v"]])
        .node("1-2", &[&["f", "v"]])
        .meta(4, "1-3", "1-1")
        .len(0)
        .done());
    // A listpack that is not a stream node.
    let mut w = crate::rdb::packed::ListpackWriter::new();
    w.push(b"junk");
    bad(B::new()
        .len(1)
        .s(&id("1-1").to_be_bytes())
        .s(&w.finish())
        .meta(0, "1-1", "0-0")
        .len(0)
        .done());
    let group = |b: B| b.len(1).s(b"g").len(1).len(2).len(2);
    // A consumer PEL entry the group PEL lacks.
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(0)
        .len(1)
        .s(b"c")
        .time(1)
        .time(1)
        .len(1)
        .rid("1-2")
        .done());
    // A group PEL entry without an owner.
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(1)
        .rid("1-2")
        .time(1)
        .len(1)
        .len(0)
        .done());
    // Owned twice; duplicated PEL entry; duplicated consumer; duplicated group.
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(1)
        .rid("1-2")
        .time(1)
        .len(1)
        .len(2)
        .s(b"a")
        .time(1)
        .time(1)
        .len(1)
        .rid("1-2")
        .s(b"b")
        .time(1)
        .time(1)
        .len(1)
        .rid("1-2")
        .done());
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(2)
        .rid("1-2")
        .time(1)
        .len(1)
        .rid("1-2")
        .time(1)
        .len(1)
        .len(0)
        .done());
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(0)
        .len(2)
        .s(b"a")
        .time(1)
        .time(1)
        .len(0)
        .s(b"a")
        .time(1)
        .time(1)
        .len(0)
        .done());
    bad(one_node()
        .meta(2, "1-2", "1-1")
        .len(2)
        .s(b"g")
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .s(b"g")
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .done());
    // Huge counts end at the end of the input, quickly.
    bad(B::new().len(1 << 39).done());
    bad(one_node().meta(2, "1-2", "1-1").len(1 << 39).done());
    bad(group(one_node().meta(2, "1-2", "1-1")).len(1 << 39).done());
    bad(group(one_node().meta(2, "1-2", "1-1"))
        .len(0)
        .len(1 << 39)
        .done());
    bad(B::new().len(u64::MAX).done());
}

#[test]
fn truncated_or_damaged_payloads_never_panic() {
    for name in ["s1", "s2", "empty", "x", "s2-19", "big-lzf"] {
        let payload = hex(fixture(name));
        let body = &payload[..payload.len() - 10];
        // Every truncation, resealed so that the checksum passes: an error.
        for cut in 0..body.len() {
            let p = seal(body[..cut].to_vec());
            assert!(try_restore(&p).is_err(), "{name} cut at {cut}");
        }
        // Every single-byte change, resealed: an error or some stream, never a panic.
        let step = if body.len() > 2000 { 7 } else { 1 };
        for i in (0..body.len()).step_by(step) {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = body.to_vec();
                b[i] ^= x;
                if let Ok(s) = try_restore(&seal(b)) {
                    // Whatever loaded is consistent enough to use and save again.
                    let _ = s.range(StreamId::MIN, StreamId::MAX).count();
                    let _ = s.rev_range(StreamId::MIN, StreamId::MAX).count();
                    assert!(try_restore(&dump(&s, false)).is_ok());
                }
            }
        }
    }
}

#[test]
fn extreme_counters_from_a_payload_do_not_overflow() {
    // entries-added u64::MAX, entries-read i64::MAX, a delivery count of u64::MAX and
    // delivery times at both ends of i64: whatever a file says, operations wrap or
    // saturate as Redis's C arithmetic would, never panic.
    let p = one_node()
        .len(2)
        .len(1)
        .len(2)
        .len(1)
        .len(1)
        .len(0)
        .len(0)
        .len(u64::MAX)
        .len(1)
        .s(b"g")
        .len(0)
        .len(0)
        .len(i64::MAX as u64)
        .len(2)
        .rid("1-1")
        .time(i64::MIN)
        .len(u64::MAX)
        .rid("1-2")
        .time(i64::MAX)
        .len(u64::MAX)
        .len(1)
        .s(b"c")
        .time(i64::MIN)
        .time(i64::MAX)
        .len(2)
        .rid("1-1")
        .rid("1-2")
        .done();
    let mut s = try_restore(&p).unwrap();
    assert_eq!(s.entries_added(), u64::MAX);
    let g = s.group(b"g").unwrap();
    assert_eq!(g.entries_read(), Some(i64::MAX));
    let _ = s.lag(g);
    let c = g.consumer(b"c").unwrap();
    assert_eq!((c.idle(0), c.inactive(0)), (i64::MAX, -i64::MAX));
    assert!(
        g.pending_idle(StreamId::MIN, StreamId::MAX, None, 5, 0)
            .count()
            <= 2
    );
    s.read_group_history(b"g", b"c", StreamId::MIN, 0, 0)
        .unwrap();
    assert_eq!(pel_rows(&s, "g")[0].3, 0, "the count wrapped");
    s.read_group_new(b"g", b"c", 0, false, 0).unwrap();
    let o = ClaimOpts {
        min_idle: 1,
        ..ClaimOpts::default()
    };
    s.claim(b"g", b"d", &ids(&["1-1", "1-2"]), &o, i64::MIN)
        .unwrap();
    s.autoclaim(b"g", b"d", 1, StreamId::MIN, 5, false, i64::MAX)
        .unwrap();
    add(&mut s, "2-0", &["f", "v"]);
    assert_eq!(s.entries_added(), 0, "wrapped");
    assert!(try_restore(&dump(&s, true)).is_ok());
}
