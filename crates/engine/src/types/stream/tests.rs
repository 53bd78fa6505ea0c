//! Unit tests of the stream type: IDs and errors, entries, trimming, groups, lag, XINFO
//! data. The RDB tests (payloads from real Redis servers) are in `rdb_tests`.

use super::*;

fn id(s: &str) -> StreamId {
    StreamId::parse(s.as_bytes(), 0).unwrap()
}

fn ids(v: &[&str]) -> Vec<StreamId> {
    v.iter().map(|s| id(s)).collect()
}

/// Adds an entry with an explicit ID.
fn add(s: &mut Stream, at: &str, pairs: &[&str]) -> StreamId {
    add_with(s, at, pairs, NodeLimits::default())
}

fn add_with(s: &mut Stream, at: &str, pairs: &[&str], lim: NodeLimits) -> StreamId {
    let p: Vec<&[u8]> = pairs.iter().map(|x| x.as_bytes()).collect();
    s.add(AddId::parse(at.as_bytes()).unwrap(), &p, 0, lim)
        .unwrap()
}

fn stream_of(n: u64, lim: NodeLimits) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        add_with(&mut s, &format!("{i}-0"), &["f", &i.to_string()], lim);
    }
    s
}

fn all_ids(s: &Stream) -> Vec<StreamId> {
    s.range(StreamId::MIN, StreamId::MAX)
        .map(|e| e.id)
        .collect()
}

fn small_nodes(n: u64) -> NodeLimits {
    NodeLimits {
        max_bytes: 4096,
        max_entries: n,
    }
}

// -----------------------------------------------------------------------------------
// IDs
// -----------------------------------------------------------------------------------

#[test]
fn ids_parse_like_redis() {
    let p = |s: &str, m| StreamId::parse(s.as_bytes(), m);
    assert_eq!(p("5", 0), Ok(StreamId::new(5, 0)));
    assert_eq!(p("5", u64::MAX), Ok(StreamId::new(5, u64::MAX)));
    assert_eq!(p("5-3", 0), Ok(StreamId::new(5, 3)));
    assert_eq!(p("-", 7), Ok(StreamId::MIN));
    assert_eq!(p("+", 7), Ok(StreamId::MAX));
    assert_eq!(
        p("18446744073709551615-18446744073709551615", 0),
        Ok(StreamId::MAX)
    );
    // string2ull's leniency on each half.
    assert_eq!(p(" 5-+3", 0), Ok(StreamId::new(5, 3)));
    assert_eq!(p("007-010", 0), Ok(StreamId::new(7, 10)));
    assert_eq!(p("1--0", 0), Ok(StreamId::new(1, 0)));
    assert_eq!(p("5-3\0junk", 0), Ok(StreamId::new(5, 3)));
    for bad in [
        "",
        "abc",
        "5-",
        "-5",
        "5-x",
        "5-3-",
        "1--1",
        "5 ",
        "18446744073709551616",
        "1-18446744073709551616",
        "5-*",
    ] {
        assert_eq!(p(bad, 0), Err(StreamError::InvalidId), "{bad:?}");
    }
    let long = "1".repeat(128);
    assert_eq!(p(&long, 0), Err(StreamError::InvalidId));
    // Strict: no - or +.
    assert_eq!(StreamId::parse_strict(b"-", 0), Err(StreamError::InvalidId));
    assert_eq!(StreamId::parse_strict(b"+", 0), Err(StreamError::InvalidId));
    assert_eq!(StreamId::parse_strict(b"9", 0), Ok(StreamId::new(9, 0)));
}

#[test]
fn interval_bounds_and_exclusion() {
    let s = |x: &str| StreamId::parse_interval_start(x.as_bytes());
    let e = |x: &str| StreamId::parse_interval_end(x.as_bytes());
    assert_eq!(s("5"), Ok(StreamId::new(5, 0)));
    assert_eq!(e("5"), Ok(StreamId::new(5, u64::MAX)));
    assert_eq!(s("(5-3"), Ok(StreamId::new(5, 4)));
    assert_eq!(e("(5-3"), Ok(StreamId::new(5, 2)));
    assert_eq!(s("(5"), Ok(StreamId::new(5, 1)));
    assert_eq!(e("(5"), Ok(StreamId::new(5, u64::MAX - 1)));
    assert_eq!(s("(5-18446744073709551615"), Ok(StreamId::new(6, 0)));
    assert_eq!(e("(6-0"), Ok(StreamId::new(5, u64::MAX)));
    assert_eq!(s("-"), Ok(StreamId::MIN));
    assert_eq!(e("+"), Ok(StreamId::MAX));
    assert_eq!(s("(-"), Err(StreamError::InvalidId));
    assert_eq!(e("(+"), Err(StreamError::InvalidId));
    assert_eq!(s("("), Err(StreamError::InvalidId));
    assert_eq!(
        s("(18446744073709551615-18446744073709551615"),
        Err(StreamError::InvalidStartInterval)
    );
    assert_eq!(e("(0-0"), Err(StreamError::InvalidEndInterval));
    assert_eq!(e("(0"), Ok(StreamId::new(0, u64::MAX - 1)));
    assert_eq!(
        StreamError::InvalidStartInterval.to_string(),
        "ERR invalid start ID for the interval"
    );
}

#[test]
fn add_ids_parse() {
    assert_eq!(AddId::parse(b"*"), Ok(AddId::Auto));
    assert_eq!(AddId::parse(b"5-*"), Ok(AddId::AutoSeq(5)));
    assert_eq!(
        AddId::parse(b"5-2"),
        Ok(AddId::Explicit(StreamId::new(5, 2)))
    );
    assert_eq!(AddId::parse(b"5"), Ok(AddId::Explicit(StreamId::new(5, 0))));
    assert!(AddId::parse(b"0-0").unwrap().is_zero());
    assert!(AddId::parse(b"0").unwrap().is_zero());
    assert!(!AddId::parse(b"0-*").unwrap().is_zero());
    for bad in ["-", "+", "*-1", "5-**", "x-*", "**"] {
        assert_eq!(
            AddId::parse(bad.as_bytes()),
            Err(StreamError::InvalidId),
            "{bad}"
        );
    }
}

#[test]
fn id_arithmetic_and_forms() {
    assert_eq!(StreamId::new(1, 5).incr(), Some(StreamId::new(1, 6)));
    assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
    assert_eq!(StreamId::MAX.incr(), None);
    assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
    assert_eq!(StreamId::MIN.decr(), None);
    let x = StreamId::new(0x0102030405060708, 0x1112131415161718);
    assert_eq!(
        x.to_be_bytes(),
        [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
    );
    assert_eq!(StreamId::from_be_bytes(x.to_be_bytes()), x);
    assert_eq!(StreamId::new(5, 3).to_vec(), b"5-3");
    assert_eq!(
        StreamId::MAX.to_string(),
        "18446744073709551615-18446744073709551615"
    );
    assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
}

#[test]
fn error_texts_are_redis_texts() {
    let all = [
        StreamError::InvalidId,
        StreamError::IdTooSmall,
        StreamError::IdZero,
        StreamError::Exhausted,
        StreamError::TooLarge,
        StreamError::InvalidStartInterval,
        StreamError::InvalidEndInterval,
        StreamError::NegativeMaxLen,
        StreamError::NegativeLimit,
        StreamError::MaxLenAndMinId,
        StreamError::LimitWithoutStrategy,
        StreamError::LimitWithoutApprox,
        StreamError::XtrimWithoutStrategy,
        StreamError::BusyGroup,
        StreamError::BadEntriesRead,
        StreamError::XgroupNoKey,
        StreamError::SetIdBelowTop,
        StreamError::SetIdBelowMaxDeleted,
        StreamError::SetIdBelowGivenMaxDeleted,
        StreamError::SetIdEntriesAddedBelowLength,
        StreamError::NegativeEntriesAdded,
        StreamError::XclaimMinIdle,
        StreamError::XclaimIdle,
        StreamError::XclaimTime,
        StreamError::XclaimRetryCount,
        StreamError::XautoclaimMinIdle,
        StreamError::XautoclaimCount,
        StreamError::MissingGroup,
        StreamError::GroupInXread,
        StreamError::NoackInXread,
        StreamError::DollarInXreadgroup,
        StreamError::GreaterInXread,
    ];
    for e in all {
        let t = e.to_string();
        assert_eq!(t, e.as_str());
        assert!(t.starts_with("ERR ") || t.starts_with("BUSYGROUP "), "{t}");
        assert_eq!(crate::Error::from(e).to_string(), t);
    }
    assert_eq!(
        StreamError::InvalidId.as_str(),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        StreamError::IdTooSmall.as_str(),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(
        StreamError::IdZero.as_str(),
        "ERR The ID specified in XADD must be greater than 0-0"
    );
    assert_eq!(
        StreamError::Exhausted.as_str(),
        "ERR The stream has exhausted the last possible ID, unable to add more items"
    );
    assert_eq!(
        id::err_nogroup_xreadgroup(b"k", b"g").to_string(),
        "NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option"
    );
    assert_eq!(
        id::err_nogroup_key_or_group(b"k", b"g").to_string(),
        "NOGROUP No such key 'k' or consumer group 'g'"
    );
    assert_eq!(
        id::err_nogroup_for_key(b"g", b"k").to_string(),
        "NOGROUP No such consumer group 'g' for key name 'k'"
    );
    assert_eq!(
        id::err_unbalanced(true).to_string(),
        "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
    );
    assert_eq!(
        id::err_unbalanced(false).to_string(),
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
    );
    assert_eq!(
        id::err_xclaim_option(b"FOO").to_string(),
        "ERR Unrecognized XCLAIM option 'FOO'"
    );
    assert_eq!(
        id::err_block_in_script(b"xread").to_string(),
        "ERR xread command is not allowed with BLOCK option from scripts"
    );
}

// -----------------------------------------------------------------------------------
// Adding
// -----------------------------------------------------------------------------------

#[test]
fn add_generates_ids_from_the_clock_and_the_last_id() {
    let mut s = Stream::new();
    let lim = NodeLimits::default();
    let p: [&[u8]; 2] = [b"f", b"v"];
    assert_eq!(
        s.add(AddId::Auto, &p, 1000, lim),
        Ok(StreamId::new(1000, 0))
    );
    // Same millisecond, then a clock that went backwards: the sequence grows.
    assert_eq!(
        s.add(AddId::Auto, &p, 1000, lim),
        Ok(StreamId::new(1000, 1))
    );
    assert_eq!(s.add(AddId::Auto, &p, 900, lim), Ok(StreamId::new(1000, 2)));
    assert_eq!(
        s.add(AddId::Auto, &p, 1001, lim),
        Ok(StreamId::new(1001, 0))
    );
    // ms-*: the next sequence of that millisecond, or 0 for a new one.
    assert_eq!(
        s.add(AddId::AutoSeq(1001), &p, 0, lim),
        Ok(StreamId::new(1001, 1))
    );
    assert_eq!(
        s.add(AddId::AutoSeq(2000), &p, 0, lim),
        Ok(StreamId::new(2000, 0))
    );
    assert_eq!(
        s.add(AddId::AutoSeq(1999), &p, 0, lim),
        Err(StreamError::IdTooSmall)
    );
    assert_eq!(
        s.add(AddId::Explicit(StreamId::new(2000, 0)), &p, 0, lim),
        Err(StreamError::IdTooSmall)
    );
    assert_eq!(
        s.add(AddId::Explicit(StreamId::MIN), &p, 0, lim),
        Err(StreamError::IdZero)
    );
    assert_eq!(s.len(), 6);
    assert_eq!(s.entries_added(), 6);
    assert_eq!(s.last_id(), StreamId::new(2000, 0));
    assert_eq!(s.first_id(), StreamId::new(1000, 0));
    // 0-* on a fresh stream gives 0-1.
    let mut t = Stream::new();
    assert_eq!(
        t.add(AddId::AutoSeq(0), &p, 0, lim),
        Ok(StreamId::new(0, 1))
    );
}

#[test]
fn add_refuses_past_the_last_possible_id() {
    let mut s = Stream::new();
    let lim = NodeLimits::default();
    let p: [&[u8]; 2] = [b"f", b"v"];
    let top = StreamId::new(7, u64::MAX);
    s.add(AddId::Explicit(top), &p, 0, lim).unwrap();
    assert_eq!(
        s.add(AddId::AutoSeq(7), &p, 0, lim),
        Err(StreamError::IdTooSmall)
    );
    // The clock is behind: 7-MAX's successor is 8-0.
    assert_eq!(s.add(AddId::Auto, &p, 3, lim), Ok(StreamId::new(8, 0)));
    s.add(AddId::Explicit(StreamId::MAX), &p, 0, lim).unwrap();
    for a in [
        AddId::Auto,
        AddId::AutoSeq(5),
        AddId::Explicit(StreamId::new(9, 9)),
    ] {
        assert_eq!(s.add(a, &p, u64::MAX, lim), Err(StreamError::Exhausted));
    }
    assert_eq!(s.len(), 3);
}

#[test]
fn entries_keep_their_fields_values_and_order() {
    let mut s = Stream::new();
    add(&mut s, "1-1", &["name", "alice", "age", "30"]);
    add(&mut s, "1-2", &["name", "bob", "age", "-4"]);
    add(&mut s, "2-0", &["other", "x", "n", "9223372036854775807"]);
    add(&mut s, "3-0", &["name", "", "age", "007"]);
    let got: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX)
        .map(|e| (e.id, e.to_pairs()))
        .collect();
    let want = |v: &[&str]| -> Vec<(Vec<u8>, Vec<u8>)> {
        v.chunks(2)
            .map(|c| (c[0].as_bytes().to_vec(), c[1].as_bytes().to_vec()))
            .collect()
    };
    assert_eq!(got[0], (id("1-1"), want(&["name", "alice", "age", "30"])));
    assert_eq!(got[1], (id("1-2"), want(&["name", "bob", "age", "-4"])));
    assert_eq!(
        got[2],
        (id("2-0"), want(&["other", "x", "n", "9223372036854775807"]))
    );
    assert_eq!(got[3], (id("3-0"), want(&["name", "", "age", "007"])));
    let e = s.get(id("1-2")).unwrap();
    assert_eq!(e.len(), 2);
    let f: Vec<_> = e.fields().collect();
    assert_eq!(f[1], (Value::Bytes(b"age"), Value::Int(-4)));
    assert!(s.get(id("1-3")).is_none());
    assert!(s.contains(id("3-0")));
}

#[test]
fn ranges_forward_and_backward_across_nodes() {
    let s = stream_of(50, small_nodes(4));
    assert_eq!(s.node_count(), 13);
    assert_eq!(all_ids(&s).len(), 50);
    let fwd: Vec<u64> = s.range(id("10-0"), id("20")).map(|e| e.id.ms).collect();
    assert_eq!(fwd, (10..=20).collect::<Vec<_>>());
    let rev: Vec<u64> = s.rev_range(id("10-0"), id("20")).map(|e| e.id.ms).collect();
    assert_eq!(rev, (10..=20).rev().collect::<Vec<_>>());
    // COUNT is take().
    let c: Vec<u64> = s
        .rev_range(StreamId::MIN, StreamId::MAX)
        .take(3)
        .map(|e| e.id.ms)
        .collect();
    assert_eq!(c, vec![50, 49, 48]);
    // Bounds between entries, outside the stream, and reversed.
    assert_eq!(s.range(id("10-1"), id("11-0")).count(), 1);
    assert_eq!(s.range(id("51"), StreamId::MAX).count(), 0);
    assert_eq!(s.rev_range(StreamId::MIN, id("0-5")).count(), 0);
    assert_eq!(s.range(id("20"), id("10")).count(), 0);
    assert_eq!(s.rev_range(id("20"), id("10")).count(), 0);
    assert_eq!(s.first_entry().unwrap().id, id("1-0"));
    assert_eq!(s.last_entry().unwrap().id, id("50-0"));
    assert_eq!(s.last_entry_id(), Some(id("50-0")));
}

#[test]
fn nodes_split_by_entries_and_by_listpack_bytes() {
    // By entries, tombstones included.
    let mut s = stream_of(6, small_nodes(3));
    assert_eq!(s.node_count(), 2);
    s.delete(&ids(&["6-0"]));
    add_with(&mut s, "7-0", &["f", "7"], small_nodes(3));
    assert_eq!(s.node_count(), 3, "the tombstone still counts");
    // By bytes: a node whose listpack plus the new entry's fields and values reach
    // stream-node-max-bytes is closed.
    let lim = NodeLimits {
        max_bytes: 100,
        max_entries: 0,
    };
    let mut s = Stream::new();
    let v = "v".repeat(30);
    add_with(&mut s, "1-0", &["field", &v], lim); // listpack: 6+1 + 2*3 + 6 + 2 + 6 + 32 + 2
    add_with(&mut s, "2-0", &["field", &v], lim);
    assert_eq!(s.node_count(), 1);
    add_with(&mut s, "3-0", &["field", &v], lim);
    assert_eq!(s.node_count(), 2);
    // 0 means 1 GiB (and no entry limit): one node.
    let s = stream_of(
        1000,
        NodeLimits {
            max_bytes: 0,
            max_entries: 0,
        },
    );
    assert_eq!(s.node_count(), 1);
}

#[test]
fn nodes_split_where_redis_splits_them() {
    // The "big" fixture's history without its trims and deletions: Redis 7.2 put these
    // entries in nodes starting at 1-0, 101-0, 201-0, 252-0 (byte limit: a 4100-byte
    // value) and 300-MAX (byte limit again).
    let (big, payload) = restore_fixture("big");
    let mut s = Stream::new();
    let lim = NodeLimits::default();
    for i in 1..=250u64 {
        let (user, score, blob) = (
            format!("user{i}"),
            (i * 3).to_string(),
            format!("xxxxxxxx{i}"),
        );
        add_with(
            &mut s,
            &format!("{i}-0"),
            &["name", &user, "score", &score, "blob", &blob],
            lim,
        );
    }
    add_with(&mut s, "251-0", &["other", "field"], lim);
    add_with(&mut s, "252-0", &["long", &"L".repeat(4100)], lim);
    add_with(
        &mut s,
        "300-18446744073709551615",
        &[
            "n1",
            "9223372036854775807",
            "n2",
            "-4611686018427387905",
            "n3",
            "",
        ],
        lim,
    );
    add_with(
        &mut s,
        "18446744073709551615-0",
        &["n1", "-1", "n2", "4611686018427387903", "n3", "4095"],
        lim,
    );
    let keys = |s: &Stream| s.nodes.keys().copied().collect::<Vec<_>>();
    assert_eq!(keys(&s), keys(&big));
    assert_eq!(
        keys(&s),
        ids(&["1-0", "101-0", "201-0", "252-0", "300-18446744073709551615"])
    );
    // Our listpack sizes are those of the listpacks in Redis's payload.
    let lps = rdb_tests::listpacks_of(&payload);
    for ((_, lp), node) in lps.iter().zip(big.nodes.values()) {
        assert_eq!(node.lp_bytes(), lp.len());
    }
    // Same entries as the fixture where the history did not remove any.
    let tail: Vec<_> = s
        .range(id("122-0"), StreamId::MAX)
        .map(|e| (e.id, e.to_pairs()))
        .collect();
    let want: Vec<_> = big
        .range(id("122-0"), StreamId::MAX)
        .map(|e| (e.id, e.to_pairs()))
        .collect();
    assert_eq!(tail, want);
}

// -----------------------------------------------------------------------------------
// Deleting and trimming
// -----------------------------------------------------------------------------------

#[test]
fn delete_counts_and_keeps_bookkeeping() {
    let mut s = stream_of(10, small_nodes(3));
    assert_eq!(s.delete(&ids(&["1-0", "5-0", "5-0", "11-0", "0-1"])), 2);
    assert_eq!(s.len(), 8);
    assert_eq!(s.max_deleted_id(), id("5-0"));
    assert_eq!(s.first_id(), id("2-0"));
    // Deleting a lower ID keeps the max; deleting the last entry keeps last_id.
    assert_eq!(s.delete(&ids(&["3-0", "10-0"])), 2);
    assert_eq!(s.max_deleted_id(), id("10-0"));
    assert_eq!(s.last_id(), id("10-0"));
    assert_eq!(s.last_entry_id(), Some(id("9-0")));
    // A node goes when its last live entry goes, tombstones and all (10-0 was alone in
    // its node: gone already).
    assert_eq!(s.edge_id(false, false), id("9-0"));
    let before = s.node_count();
    assert_eq!(s.delete(&ids(&["2-0"])), 1); // node 1-3 had only 2-0 left
    assert_eq!(s.node_count(), before - 1);
    assert_eq!(all_ids(&s), ids(&["4-0", "6-0", "7-0", "8-0", "9-0"]));
    assert_eq!(s.edge_id(true, false), id("4-0"));
    assert_eq!(s.delete(&ids(&["9-0"])), 1);
    assert_eq!(s.edge_id(false, false), id("9-0"), "the tombstone");
    assert_eq!(s.edge_id(false, true), id("8-0"));
    assert_eq!(s.last_entry_id(), Some(id("8-0")));
    let all = all_ids(&s);
    assert_eq!(s.delete(&all), 4);
    assert_eq!(s.len(), 0);
    assert_eq!(s.first_id(), StreamId::MIN);
    assert_eq!(s.edge_id(true, true), StreamId::MAX);
    assert_eq!(s.edge_id(false, true), StreamId::MIN);
    assert_eq!(s.node_count(), 0);
    assert!(s.first_entry().is_none());
}

#[test]
fn exact_trims() {
    let mut s = stream_of(10, small_nodes(3));
    let t = |strategy| Trim {
        strategy,
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(t(TrimStrategy::MaxLen(20))), 0);
    assert_eq!(s.trim(t(TrimStrategy::MaxLen(6))), 4);
    assert_eq!(s.len(), 6);
    assert_eq!(s.first_id(), id("5-0"));
    assert_eq!(all_ids(&s).first(), Some(&id("5-0")));
    // The node 4-6 keeps 4-0 as a tombstone.
    assert_eq!(s.edge_id(true, false), id("4-0"));
    assert_eq!(s.trim(t(TrimStrategy::MinId(id("8-0")))), 3);
    assert_eq!(all_ids(&s), ids(&["8-0", "9-0", "10-0"]));
    assert_eq!(s.trim(t(TrimStrategy::MinId(id("8-0")))), 0);
    // Trimming does not count as deleting.
    assert_eq!(s.max_deleted_id(), StreamId::MIN);
    assert_eq!(s.trim(t(TrimStrategy::MaxLen(0))), 3);
    assert_eq!(
        (s.len(), s.node_count(), s.first_id()),
        (0, 0, StreamId::MIN)
    );
    assert_eq!(s.last_id(), id("10-0"));
}

#[test]
fn approximate_trims_remove_whole_nodes_within_the_limit() {
    let lim = small_nodes(10);
    let mut s = stream_of(100, lim);
    let t = |strategy, limit| Trim {
        strategy,
        approx: true,
        limit,
    };
    // MAXLEN ~ 55: nodes of 10 go while 55 or more would remain: 40 removed, 60 left.
    assert_eq!(s.trim(t(TrimStrategy::MaxLen(55), 0)), 40);
    assert_eq!(s.len(), 60);
    assert_eq!(s.first_id(), id("41-0"));
    // LIMIT counts entries: 25 allows two nodes.
    assert_eq!(s.trim(t(TrimStrategy::MaxLen(0), 25)), 20);
    assert_eq!(s.len(), 40);
    // MINID ~: nodes whose last entry is below the ID.
    assert_eq!(s.trim(t(TrimStrategy::MinId(id("75-0")), 0)), 10);
    assert_eq!(s.first_id(), id("71-0"));
    assert_eq!(s.trim(t(TrimStrategy::MinId(id("75-0")), 0)), 0);
    // The default limit.
    assert_eq!(lim.approx_trim_limit(), 1000);
    assert_eq!(NodeLimits::default().approx_trim_limit(), 10_000);
    assert_eq!(small_nodes(0).approx_trim_limit(), 10_000);
    assert_eq!(small_nodes(1 << 40).approx_trim_limit(), 1_000_000);
}

#[test]
fn minid_trim_can_leave_a_node_of_tombstones() {
    // Redis keeps a node whose live entries were all trimmed when its last entry (a
    // tombstone) is not below MINID.
    let mut s = stream_of(3, small_nodes(10));
    s.delete(&ids(&["3-0"]));
    let n = s.trim(Trim {
        strategy: TrimStrategy::MinId(id("3-0")),
        approx: false,
        limit: 0,
    });
    assert_eq!(n, 2);
    assert_eq!((s.len(), s.node_count()), (0, 1));
    assert_eq!(s.first_id(), StreamId::MIN);
    // The stream still works.
    add(&mut s, "4-0", &["f", "v"]);
    assert_eq!(all_ids(&s), ids(&["4-0"]));
    assert_eq!(s.first_id(), id("4-0"));
}

#[test]
fn set_id_checks_in_redis_order() {
    let mut s = stream_of(3, NodeLimits::default());
    s.delete(&ids(&["2-0"]));
    assert_eq!(
        s.set_id(id("5-0"), None, Some(id("6-0"))),
        Err(StreamError::SetIdBelowGivenMaxDeleted)
    );
    assert_eq!(
        s.set_id(id("1-5"), None, None),
        Err(StreamError::SetIdBelowMaxDeleted)
    );
    assert_eq!(
        s.set_id(id("2-5"), None, None),
        Err(StreamError::SetIdBelowTop)
    );
    assert_eq!(
        s.set_id(id("3-0"), Some(1), None),
        Err(StreamError::SetIdEntriesAddedBelowLength)
    );
    assert_eq!(s.set_id(id("3-0"), Some(2), Some(id("3-0"))), Ok(()));
    assert_eq!((s.entries_added(), s.max_deleted_id()), (2, id("3-0")));
    // 0-0 leaves max-deleted alone.
    assert_eq!(s.set_id(id("9-0"), None, Some(StreamId::MIN)), Ok(()));
    assert_eq!((s.last_id(), s.max_deleted_id()), (id("9-0"), id("3-0")));
    assert_eq!(
        s.add(
            AddId::Explicit(id("9-0")),
            &[b"f", b"v"],
            0,
            NodeLimits::default()
        ),
        Err(StreamError::IdTooSmall)
    );
    // On an empty stream only max-deleted bounds it.
    let mut e = Stream::new();
    assert_eq!(e.set_id(id("5-0"), Some(10), None), Ok(()));
    assert_eq!(e.set_id(id("4-0"), None, None), Ok(()));
    // Our one extra check: never below an entry, tombstones included (Redis would accept
    // this after MAXDELETEDID lowered the max, and then break ID order).
    let mut t = stream_of(2, NodeLimits::default());
    t.delete(&ids(&["2-0"]));
    assert_eq!(t.set_id(id("2-0"), None, Some(id("0-1"))), Ok(()));
    assert_eq!(
        t.set_id(id("1-5"), None, None),
        Err(StreamError::SetIdBelowTop)
    );
}

// -----------------------------------------------------------------------------------
// Consumer groups
// -----------------------------------------------------------------------------------

fn pel(s: &Stream, g: &str) -> Vec<(String, String, i64, u64)> {
    s.group(g.as_bytes())
        .unwrap()
        .pending(StreamId::MIN, StreamId::MAX, None)
        .map(|p| {
            (
                p.id.to_string(),
                String::from_utf8(p.consumer.to_vec()).unwrap(),
                p.delivery_time,
                p.delivery_count,
            )
        })
        .collect()
}

fn p(id: &str, c: &str, t: i64, n: u64) -> (String, String, i64, u64) {
    (id.to_string(), c.to_string(), t, n)
}

#[test]
fn group_lifecycle() {
    let mut s = stream_of(3, NodeLimits::default());
    assert_eq!(s.create_group(b"g", StreamId::MIN, None), Ok(()));
    assert_eq!(
        s.create_group(b"g", StreamId::MIN, None),
        Err(StreamError::BusyGroup)
    );
    s.create_group(b"a", s.last_id(), Some(3)).unwrap();
    let names: Vec<&[u8]> = s.groups().map(|(n, _)| n).collect();
    assert_eq!(names, vec![&b"a"[..], b"g"]);
    assert_eq!(s.group(b"a").unwrap().entries_read(), Some(3));
    assert_eq!(s.group(b"g").unwrap().entries_read(), None);
    assert!(s.set_group_id(b"g", id("2-0"), Some(2)));
    assert!(!s.set_group_id(b"nope", id("2-0"), None));
    assert_eq!(s.group(b"g").unwrap().last_id(), id("2-0"));
    assert_eq!(s.create_consumer(b"g", b"c1", 100), Some(true));
    assert_eq!(s.create_consumer(b"g", b"c1", 200), Some(false));
    assert_eq!(s.create_consumer(b"nope", b"c1", 200), None);
    let c = s.group(b"g").unwrap().consumer(b"c1").unwrap();
    assert_eq!(
        (c.seen_time(), c.active_time(), c.inactive(150), c.idle(150)),
        (100, -1, -1, 50)
    );
    assert_eq!(s.delete_consumer(b"g", b"zz"), Some(0));
    assert_eq!(s.delete_consumer(b"nope", b"zz"), None);
    assert!(s.destroy_group(b"a"));
    assert!(!s.destroy_group(b"a"));
    assert_eq!(s.groups_len(), 1);
}

#[test]
fn read_new_delivers_tracks_pel_and_counters() {
    let mut s = stream_of(5, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    let r = s.read_group_new(b"g", b"alice", 2, false, 100).unwrap();
    assert_eq!(
        r,
        ReadNew {
            first: id("1-0"),
            last: id("2-0"),
            count: 2,
            consumer_created: true
        }
    );
    let got: Vec<_> = s.range(r.first, r.last).map(|e| e.id).collect();
    assert_eq!(got, ids(&["1-0", "2-0"]));
    let g = s.group(b"g").unwrap();
    assert_eq!((g.last_id(), g.entries_read()), (id("2-0"), Some(2)));
    assert_eq!(s.lag(g), Some(3));
    assert_eq!(
        pel(&s, "g"),
        vec![p("1-0", "alice", 100, 1), p("2-0", "alice", 100, 1)]
    );
    // NOACK: the cursor moves, nothing is pending, and the consumer is not "active".
    let r = s.read_group_new(b"g", b"bob", 1, true, 110).unwrap();
    assert_eq!((r.first, r.count, r.consumer_created), (id("3-0"), 1, true));
    let g = s.group(b"g").unwrap();
    assert_eq!(g.pending_len(), 2);
    let bob = g.consumer(b"bob").unwrap();
    assert_eq!((bob.seen_time(), bob.active_time()), (110, -1));
    // Count 0 reads everything left.
    let r = s.read_group_new(b"g", b"alice", 0, false, 120).unwrap();
    assert_eq!(
        (r.first, r.last, r.count, r.consumer_created),
        (id("4-0"), id("5-0"), 2, false)
    );
    assert_eq!(s.lag(s.group(b"g").unwrap()), Some(0));
    // Nothing new: count 0, seen-time still updated.
    let r = s.read_group_new(b"g", b"alice", 10, false, 130).unwrap();
    assert_eq!(r.count, 0);
    let a = s.group(b"g").unwrap().consumer(b"alice").unwrap();
    assert_eq!(
        (a.seen_time(), a.active_time(), a.pending_len()),
        (130, 120, 4)
    );
    assert!(s.read_group_new(b"nope", b"x", 1, false, 0).is_none());
    // After SETID back, entries already pending are handed to the new reader, count 1.
    s.set_group_id(b"g", StreamId::MIN, None);
    s.read_group_new(b"g", b"carol", 1, false, 140).unwrap();
    assert_eq!(pel(&s, "g")[0], p("1-0", "carol", 140, 1));
    let g = s.group(b"g").unwrap();
    assert_eq!(g.consumer(b"alice").unwrap().pending_len(), 3);
    assert_eq!(
        g.consumer(b"carol")
            .unwrap()
            .pending_ids()
            .collect::<Vec<_>>(),
        ids(&["1-0"])
    );
}

#[test]
fn read_history_serves_the_consumers_own_pel() {
    let mut s = stream_of(4, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.read_group_new(b"g", b"a", 3, false, 10).unwrap();
    s.read_group_new(b"g", b"b", 1, false, 10).unwrap();
    s.delete(&ids(&["2-0"]));
    let h = s
        .read_group_history(b"g", b"a", StreamId::MIN, 0, 50)
        .unwrap();
    assert_eq!(h.ids, ids(&["1-0", "2-0", "3-0"]));
    assert!(!h.consumer_created);
    // The deleted entry is reported (nil fields) but not counted as delivered.
    assert!(s.get(id("2-0")).is_none());
    assert_eq!(
        pel(&s, "g"),
        vec![
            p("1-0", "a", 50, 2),
            p("2-0", "a", 10, 1),
            p("3-0", "a", 50, 2),
            p("4-0", "b", 10, 1)
        ]
    );
    let h = s.read_group_history(b"g", b"a", id("1-0"), 1, 60).unwrap();
    assert_eq!(h.ids, ids(&["2-0"]));
    let h = s
        .read_group_history(b"g", b"new", StreamId::MIN, 0, 60)
        .unwrap();
    assert_eq!((h.ids.len(), h.consumer_created), (0, true));
    let c = s.group(b"g").unwrap().consumer(b"a").unwrap();
    assert_eq!((c.seen_time(), c.active_time()), (60, 10));
    // MAX wraps around to everything, as Redis's increment does.
    let h = s
        .read_group_history(b"g", b"b", StreamId::MAX, 0, 70)
        .unwrap();
    assert_eq!(h.ids, ids(&["4-0"]));
}

#[test]
fn ack_and_delete_consumer() {
    let mut s = stream_of(4, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.read_group_new(b"g", b"a", 2, false, 10).unwrap();
    s.read_group_new(b"g", b"b", 2, false, 10).unwrap();
    assert_eq!(s.ack(b"g", &ids(&["1-0", "1-0", "9-0", "3-0"])), Some(2));
    assert_eq!(s.ack(b"nope", &ids(&["1-0"])), None);
    assert_eq!(
        pel(&s, "g"),
        vec![p("2-0", "a", 10, 1), p("4-0", "b", 10, 1)]
    );
    assert_eq!(s.delete_consumer(b"g", b"a"), Some(1));
    assert_eq!(pel(&s, "g"), vec![p("4-0", "b", 10, 1)]);
    assert_eq!(s.group(b"g").unwrap().consumers_len(), 1);
    // A deleted consumer's slot is reused cleanly.
    s.create_consumer(b"g", b"c", 20);
    s.read_group_history(b"g", b"c", StreamId::MIN, 0, 30)
        .unwrap();
    assert_eq!(pel(&s, "g"), vec![p("4-0", "b", 10, 1)]);
}

#[test]
fn claim_follows_redis_rules() {
    let mut s = stream_of(6, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.read_group_new(b"g", b"a", 4, false, 1000).unwrap();
    let opts = ClaimOpts {
        min_idle: 500,
        ..ClaimOpts::default()
    };
    // Not idle long enough.
    let c = s.claim(b"g", b"b", &ids(&["1-0"]), &opts, 1200).unwrap();
    assert!(c.claimed.is_empty() && c.consumer_created);
    // Idle enough: moved, count+1, delivery time now.
    let c = s
        .claim(b"g", b"b", &ids(&["1-0", "2-0", "9-0"]), &opts, 1600)
        .unwrap();
    assert_eq!(c.claimed, ids(&["1-0", "2-0"]));
    assert!(c.deleted.is_empty() && !c.consumer_created);
    assert_eq!(
        pel(&s, "g")[..2],
        [p("1-0", "b", 1600, 2), p("2-0", "b", 1600, 2)]
    );
    let b = s.group(b"g").unwrap().consumer(b"b").unwrap();
    assert_eq!(
        (b.seen_time(), b.active_time(), b.pending_len()),
        (1600, 1600, 2)
    );
    assert_eq!(
        s.group(b"g").unwrap().consumer(b"a").unwrap().pending_len(),
        2
    );
    // IDLE/TIME, RETRYCOUNT, JUSTID.
    let o = ClaimOpts {
        delivery_time: Some(1700 - 300),
        retry_count: Some(9),
        ..ClaimOpts::default()
    };
    s.claim(b"g", b"c", &ids(&["3-0"]), &o, 1700).unwrap();
    assert_eq!(pel(&s, "g")[2], p("3-0", "c", 1400, 9));
    let o = ClaimOpts {
        justid: true,
        delivery_time: Some(5000), // in the future: now
        ..ClaimOpts::default()
    };
    s.claim(b"g", b"c", &ids(&["4-0"]), &o, 1800).unwrap();
    assert_eq!(pel(&s, "g")[3], p("4-0", "c", 1800, 1));
    // FORCE creates a pending entry for an existing entry (count 2: created at 1, then
    // counted), never for a missing one.
    let o = ClaimOpts {
        force: true,
        min_idle: 1_000_000,
        ..ClaimOpts::default()
    };
    let c = s
        .claim(b"g", b"d", &ids(&["5-0", "77-0"]), &o, 1900)
        .unwrap();
    assert_eq!(c.claimed, ids(&["5-0"]));
    assert_eq!(pel(&s, "g")[4], p("5-0", "d", 1900, 2));
    // A pending entry whose entry was deleted is dropped.
    s.delete(&ids(&["3-0"]));
    let c = s
        .claim(b"g", b"a", &ids(&["3-0"]), &ClaimOpts::default(), 2000)
        .unwrap();
    assert_eq!((c.claimed.len(), c.deleted.clone()), (0, ids(&["3-0"])));
    assert_eq!(
        s.group(b"g").unwrap().consumer(b"c").unwrap().pending_len(),
        1
    );
    // LASTID only moves the cursor forward.
    let o = ClaimOpts {
        last_id: Some(id("5-0")),
        ..ClaimOpts::default()
    };
    assert!(s.claim(b"g", b"a", &[], &o, 2100).unwrap().last_id_changed);
    assert!(!s.claim(b"g", b"a", &[], &o, 2100).unwrap().last_id_changed);
    assert_eq!(s.group(b"g").unwrap().last_id(), id("5-0"));
    assert!(s.claim(b"nope", b"a", &[], &o, 0).is_none());
}

#[test]
fn autoclaim_scans_with_a_cursor() {
    let mut s = stream_of(10, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.read_group_new(b"g", b"a", 0, false, 1000).unwrap();
    s.delete(&ids(&["2-0", "3-0"]));
    let r = s
        .autoclaim(b"g", b"b", 0, StreamId::MIN, 3, false, 1500)
        .unwrap();
    // 1-0 claimed; 2-0 and 3-0 dropped (they count against COUNT); cursor at 4-0.
    assert_eq!(r.claimed, ids(&["1-0"]));
    assert_eq!(r.deleted, ids(&["2-0", "3-0"]));
    assert_eq!(r.next, id("4-0"));
    assert!(r.consumer_created);
    assert_eq!(pel(&s, "g")[0], p("1-0", "b", 1500, 2));
    // JUSTID keeps the count; min-idle skips fresh entries (they still use attempts).
    let r = s
        .autoclaim(b"g", b"c", 400, StreamId::MIN, 2, true, 1600)
        .unwrap();
    assert_eq!(r.claimed, ids(&["4-0", "5-0"]));
    assert_eq!(r.next, id("6-0"));
    assert_eq!(pel(&s, "g")[1], p("4-0", "c", 1600, 1));
    // Attempts: COUNT 1 looks at 10 entries at most; all are too fresh here.
    let r = s
        .autoclaim(b"g", b"d", 10_000, StreamId::MIN, 1, false, 1700)
        .unwrap();
    assert!(r.claimed.is_empty());
    assert_eq!(r.next, StreamId::MIN, "all 8 looked at, end reached");
    s.read_group_new(b"g", b"a", 0, false, 1700).unwrap();
    for i in 11..=40 {
        add(&mut s, &format!("{i}-0"), &["f", "v"]);
    }
    s.read_group_new(b"g", b"a", 0, false, 1700).unwrap();
    let r = s
        .autoclaim(b"g", b"d", 10_000, StreamId::MIN, 1, false, 1800)
        .unwrap();
    assert!(r.claimed.is_empty());
    assert_eq!(
        r.next,
        id("13-0"),
        "10 attempts from 1-0 (2-0, 3-0 are gone)"
    );
    // Starting past the end.
    let r = s
        .autoclaim(b"g", b"d", 0, id("99-0"), 5, false, 1800)
        .unwrap();
    assert_eq!((r.claimed.len(), r.next), (0, StreamId::MIN));
    assert!(s
        .autoclaim(b"nope", b"d", 0, StreamId::MIN, 1, false, 0)
        .is_none());
}

#[test]
fn pending_ranges_and_summary() {
    let mut s = stream_of(6, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, None).unwrap();
    s.read_group_new(b"g", b"b", 2, false, 100).unwrap();
    s.read_group_new(b"g", b"a", 3, false, 200).unwrap();
    s.create_consumer(b"g", b"z", 0);
    let g = s.group(b"g").unwrap();
    assert_eq!(g.pending_len(), 5);
    assert_eq!(g.pending_bounds(), Some((id("1-0"), id("5-0"))));
    let with: Vec<(&[u8], usize)> = g
        .consumers()
        .filter(|c| c.pending_len() > 0)
        .map(|c| (c.name(), c.pending_len()))
        .collect();
    assert_eq!(with, vec![(&b"a"[..], 3), (&b"b"[..], 2)]);
    let r: Vec<_> = g
        .pending(id("2-0"), id("4-0"), None)
        .map(|p| p.id)
        .collect();
    assert_eq!(r, ids(&["2-0", "3-0", "4-0"]));
    let r: Vec<_> = g
        .pending(StreamId::MIN, StreamId::MAX, Some(b"b"))
        .map(|p| p.id)
        .collect();
    assert_eq!(r, ids(&["1-0", "2-0"]));
    assert_eq!(
        g.pending(StreamId::MIN, StreamId::MAX, Some(b"nobody"))
            .count(),
        0
    );
    assert_eq!(g.pending(id("4-0"), id("2-0"), None).count(), 0);
    // IDLE filter as XPENDING applies it (now - delivery_time >= min idle).
    let idle: Vec<_> = g
        .pending_idle(StreamId::MIN, StreamId::MAX, None, 120, 250)
        .map(|p| p.id)
        .collect();
    assert_eq!(idle, ids(&["1-0", "2-0"]));
    let idle: Vec<_> = g
        .pending_idle(StreamId::MIN, StreamId::MAX, Some(b"a"), 0, 0)
        .map(|p| p.id)
        .collect();
    assert_eq!(idle, ids(&["3-0", "4-0", "5-0"]));
    let e = g.pending_entry(id("3-0")).unwrap();
    assert_eq!((e.consumer, e.idle(150), e.idle(250)), (&b"a"[..], 0, 50));
    assert!(g.pending_entry(id("6-0")).is_none());
    let empty = Stream::new();
    assert!(empty.group(b"g").is_none());
}

// -----------------------------------------------------------------------------------
// Lag (the cases of Redis's own test suite, replayed)
// -----------------------------------------------------------------------------------

fn lag_of(s: &Stream, g: &str) -> (Option<i64>, Option<i64>) {
    let g = s.group(g.as_bytes()).unwrap();
    (g.entries_read(), s.lag(g))
}

#[test]
fn lag_in_empty_streams() {
    let mut s = Stream::new();
    s.create_group(b"g1", StreamId::MIN, None).unwrap();
    assert_eq!(lag_of(&s, "g1"), (None, Some(0)));
    add(&mut s, "1-0", &["data", "a"]);
    s.delete(&ids(&["1-0"]));
    assert_eq!((s.max_deleted_id(), s.entries_added()), (id("1-0"), 1));
    assert_eq!(lag_of(&s, "g1"), (None, Some(0)));
}

#[test]
fn lag_sanity() {
    let mut s = stream_of(5, NodeLimits::default());
    s.create_group(b"g1", StreamId::MIN, None).unwrap();
    assert_eq!(lag_of(&s, "g1"), (None, Some(5)));
    s.read_group_new(b"g1", b"c11", 1, false, 0).unwrap();
    assert_eq!(lag_of(&s, "g1"), (Some(1), Some(4)));
    s.read_group_new(b"g1", b"c12", 10, false, 0).unwrap();
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(0)));
    add(&mut s, "6-0", &["f", "6"]);
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(1)));
}

#[test]
fn lag_with_deletions_and_trims() {
    let mut s = stream_of(5, NodeLimits::default());
    s.delete(&ids(&["3-0"]));
    s.create_group(b"g1", StreamId::MIN, None).unwrap();
    s.create_group(b"g2", StreamId::MIN, None).unwrap();
    assert_eq!(lag_of(&s, "g1"), (None, None));
    for _ in 0..3 {
        s.read_group_new(b"g1", b"c11", 1, false, 0).unwrap();
        assert_eq!(lag_of(&s, "g1"), (None, None));
    }
    s.read_group_new(b"g1", b"c11", 1, false, 0).unwrap();
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(0)));
    add(&mut s, "6-0", &["f", "6"]);
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(1)));
    let exact = |strategy| Trim {
        strategy,
        approx: false,
        limit: 0,
    };
    s.trim(exact(TrimStrategy::MinId(id("3-0"))));
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(1)));
    assert_eq!(lag_of(&s, "g2"), (None, Some(3)));
    s.trim(exact(TrimStrategy::MinId(id("5-0"))));
    assert_eq!(lag_of(&s, "g1"), (Some(5), Some(1)));
    assert_eq!(lag_of(&s, "g2"), (None, Some(2)));
    // The estimates behind it.
    assert_eq!(s.estimate_entries_read(s.last_id()), Some(6));
    assert_eq!(s.estimate_entries_read(id("9-0")), None);
    assert_eq!(s.estimate_entries_read(id("5-0")), Some(5));
    assert_eq!(s.estimate_entries_read(id("1-0")), Some(4));
    assert!(
        !s.range_has_tombstones(None, None),
        "3-0 is below the first entry"
    );
}

#[test]
fn reading_past_a_tombstone_invalidates_then_recovers_the_counter() {
    let mut s = stream_of(5, NodeLimits::default());
    s.create_group(b"g", StreamId::MIN, Some(0)).unwrap();
    s.delete(&ids(&["4-0"]));
    assert!(s.range_has_tombstones(Some(id("2-0")), None));
    assert!(!s.range_has_tombstones(Some(id("5-0")), None));
    assert!(s.range_has_tombstones(None, Some(id("4-0"))));
    assert!(!s.range_has_tombstones(None, Some(id("3-0"))));
    // Reading 1-0 with a tombstone ahead: the counter is re-estimated (unknown here).
    s.read_group_new(b"g", b"c", 1, false, 0).unwrap();
    assert_eq!(lag_of(&s, "g"), (None, None));
    // Reading the last entry makes it exact again.
    s.read_group_new(b"g", b"c", 0, false, 0).unwrap();
    assert_eq!(lag_of(&s, "g"), (Some(5), Some(0)));
}

// -----------------------------------------------------------------------------------
// XINFO data and memory
// -----------------------------------------------------------------------------------

#[test]
fn radix_tree_nodes_as_redis_counts_them() {
    assert_eq!(Stream::new().radix_tree_nodes(), 1);
    let s = stream_of(1, NodeLimits::default());
    assert_eq!(s.radix_tree_nodes(), 2);
    // Figures from Redis 7.0/7.2 XINFO for the same node keys.
    let mut s = Stream::new();
    for k in 0..10_000u64 {
        let i = k * 100;
        let id = StreamId::new(1_700_000_000_000 + i / 500, i % 500);
        s.nodes
            .insert(id, node::Node::create(&[&b"f"[..], b"v"][..]));
    }
    assert_eq!(s.radix_tree_nodes(), 18010);
    let (big, _) = restore_fixture("big");
    assert_eq!((big.node_count(), big.radix_tree_nodes()), (5, 13));
}

#[test]
fn memory_usage_tracks_nodes() {
    let mut s = Stream::new();
    let base = s.mem_usage();
    for i in 1..=1000u64 {
        add(
            &mut s,
            &format!("{i}-0"),
            &["field", "value-of-some-length"],
        );
    }
    let full = s.mem_usage();
    assert!(full > base + 1000 * 20, "{full}");
    let blocks: usize = s.nodes.values().map(|n| n.alloc_size()).sum();
    assert_eq!(s.node_bytes, blocks);
    s.trim(Trim {
        strategy: TrimStrategy::MaxLen(10),
        approx: false,
        limit: 0,
    });
    let blocks: usize = s.nodes.values().map(|n| n.alloc_size()).sum();
    assert_eq!(s.node_bytes, blocks);
    // One node of 100 entries is left (90 of them tombstones).
    assert!(s.mem_usage() < full / 5);
    assert!(s.free_effort() >= 1);
}

#[test]
fn object_integration() {
    let o = crate::object::Object::Stream(Box::new(stream_of(3, NodeLimits::default())));
    assert_eq!(o.type_name(), "stream");
    assert_eq!(o.encoding(), "stream");
    assert!(o.mem_usage() > std::mem::size_of::<Stream>());
    assert_eq!(o.clone(), o);
}

// -----------------------------------------------------------------------------------
// RDB (payloads from real servers: see fixtures/README)
// -----------------------------------------------------------------------------------

pub(super) fn hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn fixture(name: &str) -> &'static str {
    match name {
        "s1" => include_str!("fixtures/s1.rdb21.hex"),
        "s2" => include_str!("fixtures/s2.rdb21.hex"),
        "empty" => include_str!("fixtures/empty.rdb21.hex"),
        "big" => include_str!("fixtures/big.rdb21.hex"),
        "big-lzf" => include_str!("fixtures/big-lzf.rdb21.hex"),
        "x" => include_str!("fixtures/x.rdb21.hex"),
        "s1-19" => include_str!("fixtures/s1.rdb19.hex"),
        "s2-19" => include_str!("fixtures/s2.rdb19.hex"),
        "empty-19" => include_str!("fixtures/empty.rdb19.hex"),
        "big-19" => include_str!("fixtures/big.rdb19.hex"),
        _ => panic!("no fixture {name}"),
    }
}

/// Restores a fixture: (stream, payload).
pub(super) fn restore_fixture(name: &str) -> (Stream, Vec<u8>) {
    let payload = hex(fixture(name));
    let lim = crate::rdb::Limits::default();
    match crate::rdb::restore(&payload, &lim).unwrap() {
        crate::rdb::Loaded::Obj(crate::object::Object::Stream(s)) => (*s, payload),
        other => panic!("not a stream: {other:?}"),
    }
}

pub(super) fn dump(s: &Stream, compress: bool) -> Vec<u8> {
    let o = crate::object::Object::Stream(Box::new(s.clone()));
    let opts = crate::rdb::SaveOpts {
        compress,
        ..crate::rdb::SaveOpts::default()
    };
    crate::rdb::dump(crate::entry::ValueRef::Obj(&o), &opts, 0)
}

mod rdb_tests;
