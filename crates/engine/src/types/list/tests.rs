//! Unit tests of the list type: encoding, conversions, and a randomized comparison against a
//! `VecDeque` model under several node limits.

use super::*;
use proptest::prelude::*;

fn b(s: &str) -> &[u8] {
    s.as_bytes()
}

fn items(l: &List) -> Vec<String> {
    l.iter()
        .map(|e| String::from_utf8(e.to_vec()).unwrap())
        .collect()
}

/// Structural invariants: counts add up, no empty node, every multi-element node fits the
/// limit, "listpack" is at most one node (within the limit unless it is a single element)
/// and forward and backward iteration agree.
fn check(l: &List, lim: Limit) {
    let nodes: Vec<&Node> = (0..l.node_count()).map(|i| l.node(i)).collect();
    assert_eq!(nodes.iter().map(|n| n.count()).sum::<usize>(), l.len());
    for n in &nodes {
        assert!(n.count() > 0, "empty node");
        assert!(
            n.count() == 1 || !lim.exceeds(n.logical_size(), n.count()),
            "oversized node"
        );
        assert_eq!(n.iter().count(), n.count());
    }
    if let List::Pack(n) = l {
        assert!(n.count() == 0 || !lim.exceeds(n.logical_size(), n.count()));
    }
    assert_eq!(l.iter().count(), l.len());
    let mut fwd: Vec<&[u8]> = l.iter().collect();
    fwd.reverse();
    assert_eq!(fwd, l.iter_rev().collect::<Vec<_>>());
}

#[test]
fn push_pop_both_ends() {
    let lim = Limit::default();
    let mut l = List::new();
    l.push(End::Right, b("b"), lim);
    l.push(End::Left, b("a"), lim);
    l.push(End::Right, b("c"), lim);
    assert_eq!(items(&l), ["a", "b", "c"]);
    assert_eq!(l.encoding(), "listpack");
    assert_eq!(l.pop(End::Right, lim).unwrap(), b"c");
    assert_eq!(l.pop(End::Left, lim).unwrap(), b"a");
    assert_eq!(l.pop(End::Left, lim).unwrap(), b"b");
    assert_eq!(l.pop(End::Left, lim), None);
    assert!(l.is_empty());
}

#[test]
fn index_and_set() {
    let lim = Limit::from_fill(2);
    let mut l = List::from_elems(["a", "b", "c", "d", "e"].map(b), lim);
    assert_eq!(l.node_count(), 3);
    assert_eq!(l.get(0), Some(b("a")));
    assert_eq!(l.get(-1), Some(b("e")));
    assert_eq!(l.get(3), Some(b("d")));
    assert_eq!(l.get(5), None);
    assert_eq!(l.get(-6), None);
    assert_eq!(l.get(i64::MIN), None);
    assert!(l.set(-2, b("DD"), lim));
    assert!(!l.set(9, b("x"), lim));
    assert_eq!(items(&l), ["a", "b", "c", "DD", "e"]);
    check(&l, lim);
}

#[test]
fn encoding_conversions_follow_redis() {
    // Count limit 3: a fourth element makes a quicklist; popping back to one element
    // (<= 3/2) converts back, two elements stay a quicklist.
    let lim = Limit::from_fill(3);
    let mut l = List::from_elems(["a", "b", "c"].map(b), lim);
    assert_eq!(l.encoding(), "listpack");
    l.push(End::Right, b("d"), lim);
    assert_eq!(l.encoding(), "quicklist");
    l.pop_n(End::Right, 2, lim, |_| {});
    assert_eq!(l.encoding(), "quicklist");
    l.pop(End::Right, lim);
    assert_eq!(l.encoding(), "listpack");

    // A single element larger than the byte limit is a quicklist on its own.
    let lim = Limit::from_fill(-1);
    let big = vec![b'x'; 8192];
    let mut l = List::new();
    l.push(End::Right, &big, lim);
    assert_eq!(l.encoding(), "quicklist");
    l.push(End::Left, b("a"), lim);
    assert_eq!(l.node_count(), 2);
    l.pop(End::Right, lim);
    assert_eq!(l.encoding(), "listpack");

    // LSET and LINSERT of a large element convert, even when LINSERT finds no pivot.
    let mut l = List::from_elems(["a", "b", "c"].map(b), lim);
    assert!(!l.insert(b("zz"), &big, true, lim));
    assert_eq!(l.encoding(), "quicklist");
    let mut l = List::from_elems(["a", "b", "c"].map(b), lim);
    assert!(l.set(0, &big, lim));
    assert_eq!(l.encoding(), "quicklist");
    check(&l, lim);
    assert!(l.set(0, b("a"), lim));
    check(&l, lim);
}

#[test]
fn remove_and_trim() {
    let lim = Limit::from_fill(3);
    let mut l = List::from_elems(["a", "x", "b", "x", "c", "x", "d", "x"].map(b), lim);
    assert_eq!(l.remove(b("x"), -2, lim), 2);
    assert_eq!(items(&l), ["a", "x", "b", "x", "c", "d"]);
    assert_eq!(l.remove(b("x"), 1, lim), 1);
    assert_eq!(items(&l), ["a", "b", "x", "c", "d"]);
    assert_eq!(l.remove(b("x"), 0, lim), 1);
    assert_eq!(l.remove(b("nope"), 0, lim), 0);
    check(&l, lim);
    l.trim(1, -2, lim);
    assert_eq!(items(&l), ["b", "c"]);
    l.trim(5, 10, lim);
    assert!(l.is_empty());

    let mut l = List::from_elems(["a", "a", "a", "d"].map(b), lim);
    assert_eq!(l.encoding(), "quicklist");
    l.remove(b("a"), 3, lim);
    assert_eq!(l.encoding(), "listpack");
}

#[test]
fn positions_like_lpos() {
    let l = List::from_elems(
        ["a", "b", "c", "1", "2", "3", "c", "c"].map(b),
        Limit::from_fill(2),
    );
    let none: Vec<usize> = Vec::new();
    assert_eq!(l.positions(b("c"), 1, 1, 0), [2]);
    assert_eq!(l.positions(b("c"), 2, 1, 0), [6]);
    assert_eq!(l.positions(b("c"), 4, 1, 0), none);
    assert_eq!(l.positions(b("c"), -1, 1, 0), [7]);
    assert_eq!(l.positions(b("c"), -2, 1, 0), [6]);
    assert_eq!(l.positions(b("c"), 1, 0, 0), [2, 6, 7]);
    assert_eq!(l.positions(b("c"), 2, 0, 0), [6, 7]);
    assert_eq!(l.positions(b("c"), -1, 2, 0), [7, 6]);
    assert_eq!(l.positions(b("c"), 1, 0, 1), none);
    assert_eq!(l.positions(b("c"), 1, 0, 3), [2]);
    assert_eq!(l.positions(b("c"), -1, 0, 3), [7, 6]);
    assert_eq!(l.positions(b("c"), 2, 0, 7), [6]);
}

#[test]
fn iterators_from_any_index() {
    let lim = Limit::from_fill(3);
    let elems: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let l = List::from_elems(elems.iter().map(|s| s.as_bytes()), lim);
    let s = |e: &[u8]| String::from_utf8(e.to_vec()).unwrap();
    for start in 0..20 {
        let fwd: Vec<String> = l.iter_from(start).map(s).collect();
        assert_eq!(fwd, elems[start..]);
        let back: Vec<String> = l.iter_rev_from(start).map(s).collect();
        let mut want = elems[..=start].to_vec();
        want.reverse();
        assert_eq!(back, want);
    }
    assert_eq!(l.iter_from(20).count(), 0);
}

#[test]
fn equality_ignores_layout_and_clone_is_equal() {
    let a = List::from_elems(["a", "b", "c", "d"].map(b), Limit::from_fill(1));
    let b2 = List::from_elems(["a", "b", "c", "d"].map(b), Limit::default());
    assert_eq!(a, b2);
    assert_eq!(a.clone(), a);
    assert_ne!(a, List::new());
}

#[test]
fn memory_per_element_is_compact() {
    let lim = Limit::default();
    let mut l = List::new();
    for i in 0..100 {
        l.push(End::Right, format!("{i:016}").as_bytes(), lim);
    }
    // 17 bytes per 16-byte element, one 1,792-byte block, no node table.
    assert_eq!(l.mem_usage(), 1792);
    assert!(std::mem::size_of::<List>() <= 24);
    let per = (l.mem_usage() + std::mem::size_of::<List>()) as f64 / 100.0;
    assert!(per <= 18.5, "{per} bytes per element");
    // The same through one multi-element push (RPUSH k e1 ... e100), which grows the block
    // once, and through LPUSH, which leaves the room at the front.
    let elems: Vec<String> = (0..100).map(|i| format!("{i:016}")).collect();
    let refs: Vec<&[u8]> = elems.iter().map(|e| e.as_bytes()).collect();
    for end in [End::Right, End::Left] {
        let mut l = List::new();
        l.push_all(end, &refs, lim);
        assert_eq!(l.mem_usage(), 1792);
        assert_eq!(l.len(), 100);
        let mut want = elems.clone();
        if end == End::Left {
            want.reverse();
        }
        assert_eq!(items(&l), want);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, u8, usize),
    Pop(bool, usize),
    Set(i64, u8, usize),
    Insert(u8, u8, bool),
    Rem(u8, i64),
    Trim(i64, i64),
}

fn elem(v: u8, size: usize) -> Vec<u8> {
    let mut e = vec![b'a' + v % 4; size];
    e.push(b'0' + v % 4);
    e
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![3 => 0usize..4, 1 => 100usize..300, 1 => 3000usize..5000];
    prop_oneof![
        4 => (any::<bool>(), any::<u8>(), size.clone()).prop_map(|(l, v, s)| Op::Push(l, v, s)),
        2 => (any::<bool>(), 0usize..5).prop_map(|(l, n)| Op::Pop(l, n)),
        1 => (-10i64..10, any::<u8>(), size).prop_map(|(i, v, s)| Op::Set(i, v, s)),
        1 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(p, v, a)| Op::Insert(p, v, a)),
        1 => (any::<u8>(), -3i64..3).prop_map(|(v, c)| Op::Rem(v, c)),
        1 => (-8i64..8, -8i64..8).prop_map(|(a, z)| Op::Trim(a, z)),
    ]
}

/// Applies one operation to the model, returning what the list call should return.
fn model_apply(m: &mut VecDeque<Vec<u8>>, o: &Op) -> Vec<Vec<u8>> {
    match o {
        Op::Push(left, v, s) => {
            let e = elem(*v, *s);
            if *left {
                m.push_front(e)
            } else {
                m.push_back(e)
            }
            vec![]
        }
        Op::Pop(left, n) => (0..*n)
            .map_while(|_| if *left { m.pop_front() } else { m.pop_back() })
            .collect(),
        Op::Set(i, v, s) => {
            let idx = if *i < 0 { m.len() as i64 + i } else { *i };
            if idx >= 0 && (idx as usize) < m.len() {
                m[idx as usize] = elem(*v, *s);
                vec![b"ok".to_vec()]
            } else {
                vec![]
            }
        }
        Op::Insert(p, v, after) => {
            let pv = elem(*p, 1);
            match m.iter().position(|x| *x == pv) {
                Some(i) => {
                    m.insert(if *after { i + 1 } else { i }, elem(*v, 2));
                    vec![b"ok".to_vec()]
                }
                None => vec![],
            }
        }
        Op::Rem(v, c) => {
            let e = elem(*v, 1);
            let mut left = if *c == 0 {
                usize::MAX
            } else {
                c.unsigned_abs() as usize
            };
            let idxs: Vec<usize> = if *c < 0 {
                (0..m.len()).rev().collect()
            } else {
                (0..m.len()).collect()
            };
            let mut kill = vec![false; m.len()];
            let mut removed = 0;
            for i in idxs {
                if left > 0 && m[i] == e {
                    kill[i] = true;
                    left -= 1;
                    removed += 1;
                }
            }
            let mut k = kill.iter();
            m.retain(|_| !*k.next().unwrap());
            vec![removed.to_string().into_bytes()]
        }
        Op::Trim(a, z) => {
            match clamp_range(m.len(), *a, *z) {
                None => m.clear(),
                Some((s, n)) => *m = m.iter().skip(s).take(n).cloned().collect(),
            }
            vec![]
        }
    }
}

/// Applies one operation to the list, returning results in the model's shape.
fn list_apply(l: &mut List, o: &Op, lim: Limit) -> Vec<Vec<u8>> {
    let ok = |b: bool| if b { vec![b"ok".to_vec()] } else { vec![] };
    match o {
        Op::Push(left, v, s) => {
            l.push(
                if *left { End::Left } else { End::Right },
                &elem(*v, *s),
                lim,
            );
            vec![]
        }
        Op::Pop(left, n) => {
            let mut got = Vec::new();
            l.pop_n(if *left { End::Left } else { End::Right }, *n, lim, |e| {
                got.push(e.to_vec())
            });
            got
        }
        Op::Set(i, v, s) => ok(l.set(*i, &elem(*v, *s), lim)),
        Op::Insert(p, v, after) => ok(l.insert(&elem(*p, 1), &elem(*v, 2), *after, lim)),
        Op::Rem(v, c) => vec![l.remove(&elem(*v, 1), *c, lim).to_string().into_bytes()],
        Op::Trim(a, z) => {
            l.trim(*a, *z, lim);
            vec![]
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn matches_vecdeque_model(fill in prop_oneof![Just(-1i64), Just(-2), Just(1), Just(3), Just(5)],
                              ops in proptest::collection::vec(op(), 1..120)) {
        let lim = Limit::from_fill(fill);
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for o in &ops {
            let want = model_apply(&mut m, o);
            let got = list_apply(&mut l, o, lim);
            prop_assert_eq!(got, want, "{:?}", o);
            check(&l, lim);
            prop_assert_eq!(l.len(), m.len());
            prop_assert!(l.iter().eq(m.iter().map(|v| v.as_slice())));
            for (i, want) in m.iter().enumerate() {
                prop_assert_eq!(l.get(i as i64), Some(want.as_slice()));
            }
        }
    }
}
