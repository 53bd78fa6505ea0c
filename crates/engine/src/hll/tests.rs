//! Tests of the HLL functions: a replay of a script recorded from redis-server 7.0.15
//! (`testdata/hll.txt`, made by `testdata/gen_hll_geo.py`), unit tests, and property tests.

use super::*;
use std::collections::HashMap;

fn unhex(s: &str) -> Vec<u8> {
    if s == "." {
        return Vec::new();
    }
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn reply_of(r: Result<String, HllError>) -> String {
    match r {
        Ok(s) => s,
        Err(e) => e.to_string().replace(' ', "_"),
    }
}

/// Replays the recorded script against the engine's functions, as the command layer would
/// call them, and compares every reply and every value byte for byte.
#[test]
fn replay_redis_script() {
    let script = include_str!("../../testdata/hll.txt");
    let mut store: HashMap<String, Vec<u8>> = HashMap::new();
    let mut max = DEFAULT_SPARSE_MAX_BYTES;
    // PFADD on a corrupt sparse value: Redis edits it when the corruption lies after the
    // register it sets; we refuse the whole value. The next GET of that key is then skipped.
    let mut lenient_pfadds = 0;
    let mut skip_get: Option<String> = None;
    let mut checked_gets = 0;
    for (n, line) in script.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        let ctx = format!("line {}: {}", n + 1, &line[..line.len().min(160)]);
        match f[0] {
            "CONFIG" => max = f[1].parse().unwrap(),
            "SET" => {
                store.insert(f[1].to_string(), unhex(f[2]));
            }
            "DEL" => {
                store.remove(f[1]);
            }
            "PFADD" | "PFADDN" => {
                let key = f[1].to_string();
                let elements: Vec<Vec<u8>> = if f[0] == "PFADD" {
                    f[3..]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .map(|s| unhex(s))
                        .collect()
                } else {
                    let prefix = unhex(f[3]);
                    let (a, b): (u64, u64) = (f[4].parse().unwrap(), f[5].parse().unwrap());
                    (a..b)
                        .map(|i| [prefix.as_slice(), i.to_string().as_bytes()].concat())
                        .collect()
                };
                let got = match store.get_mut(&key) {
                    None => {
                        store.insert(key.clone(), create(&elements, max));
                        Ok("1".to_string())
                    }
                    Some(v) => {
                        let before = v.clone();
                        let r = add(v, &elements, max);
                        if r.is_err() {
                            assert_eq!(*v, before, "{ctx}: a failed PFADD changed the value");
                        }
                        r.map(|c| if c { "1" } else { "0" }.to_string())
                    }
                };
                if got == Err(HllError::Corrupt) && (f[2] == "1" || f[2] == "0") {
                    lenient_pfadds += 1;
                    skip_get = Some(key);
                    continue;
                }
                assert_eq!(reply_of(got), f[2], "{ctx}");
            }
            "PFCOUNT" => {
                let keys = &f[2..];
                let got = if keys.len() == 1 {
                    match store.get_mut(keys[0]) {
                        None => Ok("0".to_string()),
                        Some(v) => count(v).map(|(c, _)| c.to_string()),
                    }
                } else {
                    let mut u = Union::new();
                    keys.iter()
                        .filter_map(|k| store.get(*k))
                        .try_for_each(|v| u.add(v))
                        .map(|()| u.count().to_string())
                };
                assert_eq!(reply_of(got), f[1], "{ctx}");
            }
            "PFMERGE" => {
                let dest = f[2];
                let mut u = Union::new();
                let got = std::iter::once(dest)
                    .chain(f[3..].iter().copied().filter(|s| !s.is_empty()))
                    .filter_map(|k| store.get(k))
                    .try_for_each(|v| u.add(v))
                    .and_then(|()| u.store(store.get(dest).map(|v| v.as_slice()), max));
                let got = got.map(|v| {
                    store.insert(dest.to_string(), v);
                    "OK".to_string()
                });
                assert_eq!(reply_of(got), f[1], "{ctx}");
            }
            "TODENSE" => {
                let v = store.get_mut(f[1]).expect("key");
                let got = to_dense(v).map(|c| if c { "1" } else { "0" }.to_string());
                assert_eq!(reply_of(got), f[2], "{ctx}");
            }
            "DECODE" => {
                let got = debug_decode(&store[f[1]]);
                assert_eq!(reply_of(got.map(|s| s.replace(' ', "_"))), f[2], "{ctx}");
            }
            "ENCODING" => {
                assert_eq!(check(&store[f[1]]).unwrap().as_str(), f[2], "{ctx}");
            }
            "GET" => {
                if skip_get.as_deref() == Some(f[1]) {
                    skip_get = None;
                    continue;
                }
                checked_gets += 1;
                let got = store.get(f[1]);
                match f.len() {
                    3 if f[2] == "none" => assert_eq!(got, None, "{ctx}"),
                    3 => {
                        let want = unhex(f[2]);
                        let got = got.unwrap_or_else(|| panic!("{ctx}: missing"));
                        assert!(
                            *got == want,
                            "{ctx}:\n got  {}\n want {}",
                            got.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                            f[2]
                        );
                    }
                    4 => {
                        let got = got.unwrap_or_else(|| panic!("{ctx}: missing"));
                        assert_eq!(got.len(), f[3].parse::<usize>().unwrap(), "{ctx}");
                        let crc = crate::rdb::crc64::crc64(0, got);
                        assert_eq!(format!("{crc:016x}"), f[2], "{ctx}");
                    }
                    _ => panic!("{ctx}: bad GET line"),
                }
            }
            other => panic!("{ctx}: unknown op {other}"),
        }
    }
    // The corrupt values Redis's PFADD edits anyway: a tail after the registers (twice: with
    // a valid and an invalid cache), a cut-off XZERO, a payload one register short, and one
    // register too many.
    assert_eq!(lenient_pfadds, 5);
    assert!(checked_gets > 500, "only {checked_gets} values checked");
}

/// PFADD's `dirty` counts the elements that changed a register (Redis's `updated`), and a
/// created key one more; the values are those of `add` and `create`.
#[test]
fn counted_add_and_create() {
    let (v, n) = create_counted(["a", "b", "c", "a"], DEFAULT_SPARSE_MAX_BYTES);
    assert_eq!(n, 3, "the repeated element changes nothing");
    assert_eq!(v, create(["a", "b", "c", "a"], DEFAULT_SPARSE_MAX_BYTES));
    let (empty, n) = create_counted(Vec::<&[u8]>::new(), DEFAULT_SPARSE_MAX_BYTES);
    assert_eq!(n, 0);
    assert_eq!(empty, create(Vec::<&[u8]>::new(), DEFAULT_SPARSE_MAX_BYTES));
    let mut w = v.clone();
    assert_eq!(add_counted(&mut w, ["a", "b"], 3000), Ok(0));
    assert_eq!(w, v, "a PFADD that changes nothing leaves the bytes alone");
    assert_eq!(add_counted(&mut w, ["a", "x", "y"], 3000), Ok(2));
    let mut u = v.clone();
    assert_eq!(add(&mut u, ["a", "x", "y"], 3000), Ok(true));
    assert_eq!(u, w);
    let mut bad = b"HYLL".to_vec();
    assert_eq!(add_counted(&mut bad, ["a"], 3000), Err(HllError::NotHll));
}

#[test]
fn empty_value_layout() {
    let v = new_empty();
    assert_eq!(v, unhex("48594c4c0100000000000000000000007fff"));
    assert_eq!(check(&v), Ok(Encoding::Sparse));
    assert_eq!(cached_count(&v), Some(0));
    let v = create(Vec::<&[u8]>::new(), DEFAULT_SPARSE_MAX_BYTES);
    assert_eq!(v, unhex("48594c4c0100000000000000000000807fff"));
    assert_eq!(cached_count(&v), None);
}

#[test]
fn check_rules() {
    let mut v = new_empty();
    assert_eq!(check(&v[..15]), Err(HllError::NotHll));
    assert_eq!(check(&v[..16]), Ok(Encoding::Sparse));
    v[0] = b'h';
    assert_eq!(check(&v), Err(HllError::NotHll));
    let mut v = new_empty();
    v[4] = 2;
    assert_eq!(check(&v), Err(HllError::NotHll));
    v[4] = 0;
    assert_eq!(check(&v), Err(HllError::NotHll));
    let mut d = new_empty();
    assert_eq!(to_dense(&mut d), Ok(true));
    assert_eq!(d.len(), DENSE_LEN);
    assert_eq!(check(&d), Ok(Encoding::Dense));
    d.push(0);
    assert_eq!(check(&d), Err(HllError::NotHll));
    // The unused bytes are not checked.
    let mut v = new_empty();
    v[5] = 0xff;
    assert_eq!(check(&v), Ok(Encoding::Sparse));
}

#[test]
fn error_texts() {
    assert_eq!(
        crate::Error::from(HllError::NotHll).to_string(),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    assert_eq!(
        crate::Error::from(HllError::Corrupt).to_string(),
        "INVALIDOBJ Corrupted HLL object detected"
    );
    assert_eq!(
        HllError::NotSparse.to_string(),
        "ERR HLL encoding is not sparse"
    );
    assert_eq!(
        err_pfdebug_unknown("foo"),
        "ERR Unknown PFDEBUG subcommand 'foo'"
    );
    assert_eq!(
        err_pfdebug_arity("getreg"),
        "ERR Wrong number of arguments for the 'getreg' subcommand"
    );
}

#[test]
fn count_uses_and_refreshes_the_cache() {
    let mut v = create([b"a", b"b", b"c"], DEFAULT_SPARSE_MAX_BYTES);
    assert_eq!(count(&mut v), Ok((3, true)));
    assert_eq!(v[8..16], [3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(count(&mut v), Ok((3, false)));
    assert_eq!(add(&mut v, [b"a"], DEFAULT_SPARSE_MAX_BYTES), Ok(false));
    assert_eq!(cached_count(&v), Some(3));
    assert_eq!(add(&mut v, [b"zz"], DEFAULT_SPARSE_MAX_BYTES), Ok(true));
    // Only the flag bit is set; the stale count stays in the other bits.
    assert_eq!(v[8..16], [3, 0, 0, 0, 0, 0, 0, 0x80]);
    assert_eq!(count(&mut v), Ok((4, true)));
}

#[test]
fn getreg_converts_and_reports_registers() {
    let mut v = create([b"x"], DEFAULT_SPARSE_MAX_BYTES);
    let (idx, cnt) = pattern(b"x");
    let (regs, converted) = debug_getreg(&mut v).unwrap();
    assert!(converted);
    assert_eq!(check(&v), Ok(Encoding::Dense));
    assert_eq!(regs.len(), REGISTERS);
    assert_eq!(regs[idx], cnt);
    assert_eq!(regs.iter().filter(|&&r| r != 0).count(), 1);
    let (regs2, converted) = debug_getreg(&mut v).unwrap();
    assert!(!converted);
    assert_eq!(regs, regs2);
    assert_eq!(debug_decode(&v), Err(HllError::NotSparse));
}

#[test]
fn selftest_passes() {
    // Redis's own sizes take seconds in a debug build; the full run is exercised by the
    // server's PFSELFTEST.
    for seed in [1u64, 0xdead_beef, 42] {
        selftest_with(3, 200_000, DEFAULT_SPARSE_MAX_BYTES, seed).unwrap();
    }
}

/// Redis's full PFSELFTEST (10 million elements): run it with
/// `cargo test --release -p cinnabar-engine -- --ignored selftest_full`.
#[test]
#[ignore]
fn selftest_full() {
    let t = std::time::Instant::now();
    selftest(DEFAULT_SPARSE_MAX_BYTES).unwrap();
    eprintln!("PFSELFTEST took {:?}", t.elapsed());
}

#[test]
fn large_cardinalities_are_close() {
    let mut v = new_empty();
    let n = 300_000u64;
    let elements: Vec<[u8; 8]> = (0..n).map(|i| i.to_le_bytes()).collect();
    add(&mut v, &elements, DEFAULT_SPARSE_MAX_BYTES).unwrap();
    let (c, _) = count(&mut v).unwrap();
    let err = (c as f64 - n as f64).abs() / n as f64;
    assert!(err < 0.02, "count {c} for {n}");
}

/// A sparse payload built from arbitrary runs, in any of the opcodes that can express them
/// (including XZERO runs short enough for ZERO, which Redis never writes but accepts).
fn sparse_from_runs(runs: &[(usize, u8, bool)]) -> (Vec<u8>, Vec<u8>) {
    let mut v = new_empty();
    v.truncate(HEADER_LEN);
    let mut model = Vec::with_capacity(REGISTERS);
    for &(len, value, wide) in runs {
        if value == 0 {
            if wide || len > 64 {
                let l = len - 1;
                v.extend_from_slice(&[0x40 | (l >> 8) as u8, (l & 0xff) as u8]);
            } else {
                v.push((len - 1) as u8);
            }
        } else {
            v.push(0x80 | ((value - 1) << 2) | (len as u8 - 1));
        }
        model.extend(std::iter::repeat_n(value, len));
    }
    (v, model)
}

fn runs_strategy() -> impl proptest::strategy::Strategy<Value = Vec<(usize, u8, bool)>> {
    use proptest::prelude::*;
    // Up to 200 runs covering some registers, then zero runs to reach exactly 16384.
    proptest::collection::vec(
        prop_oneof![
            (1usize..=4, 1u8..=32, Just(false)),
            (1usize..=64, Just(0u8), any::<bool>()),
            (65usize..=300, Just(0u8), Just(true)),
        ],
        0..200,
    )
    .prop_map(|mut runs| {
        let mut total = 0;
        runs.retain(|&(len, _, _)| {
            let keep = total + len <= REGISTERS;
            if keep {
                total += len;
            }
            keep
        });
        let mut left = REGISTERS - total;
        while left > 0 {
            let len = left.min(16384);
            runs.push((len, 0, true));
            left -= len;
        }
        runs
    })
}

fn registers_of(v: &[u8]) -> Vec<u8> {
    let mut d = v.to_vec();
    debug_getreg(&mut d).unwrap().0
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The same elements give the same registers and count in both encodings.
    #[test]
    fn sparse_and_dense_agree(
        elements in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..1500),
        max in proptest::prop_oneof![proptest::strategy::Just(3000usize), 16usize..4000],
    ) {
        let sparse = create(&elements, max);
        let mut dense = new_empty();
        to_dense(&mut dense).unwrap();
        add(&mut dense, &elements, max).unwrap();
        proptest::prop_assert!(sparse.len() <= max.max(18) || check(&sparse) == Ok(Encoding::Dense));
        proptest::prop_assert_eq!(estimate(&sparse).unwrap(), estimate(&dense).unwrap());
        proptest::prop_assert_eq!(registers_of(&sparse), registers_of(&dense));
    }

    /// Editing any valid sparse payload keeps it valid and holding exactly the maximum of the
    /// old registers and the new values, whatever opcodes it was written with.
    #[test]
    fn sparse_edits_follow_the_register_model(
        runs in runs_strategy(),
        writes in proptest::collection::vec((0usize..REGISTERS, 1u8..=40), 1..60),
        max in 16usize..3000,
    ) {
        let (mut v, mut model) = sparse_from_runs(&runs);
        let mut enc = check_all(&v).unwrap();
        for (i, c) in writes {
            let before = model[i];
            let len_before = v.len();
            let changed = raise(&mut v, &mut enc, i, c, max).unwrap();
            proptest::prop_assert_eq!(changed, c > before);
            model[i] = model[i].max(c);
            proptest::prop_assert_eq!(check_all(&v), Ok(enc));
            // A sparse value only grows within the limit; growing past it promotes.
            if enc == Encoding::Sparse && v.len() > len_before {
                proptest::prop_assert!(v.len() <= max);
            }
        }
        proptest::prop_assert_eq!(registers_of(&v), model);
    }

    /// Union is commutative and idempotent, over both encodings.
    #[test]
    fn merge_is_commutative_and_idempotent(
        a in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..600),
        b in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..600),
        a_dense in proptest::prelude::any::<bool>(),
        b_dense in proptest::prelude::any::<bool>(),
    ) {
        let max = DEFAULT_SPARSE_MAX_BYTES;
        let mut ha = create(a.iter().map(|x| x.to_le_bytes()), max);
        let mut hb = create(b.iter().map(|x| x.to_le_bytes()), max);
        if a_dense { to_dense(&mut ha).unwrap(); }
        if b_dense { to_dense(&mut hb).unwrap(); }
        let union_of = |xs: &[&[u8]]| {
            let mut u = Union::new();
            for x in xs { u.add(x).unwrap(); }
            u
        };
        let ab = union_of(&[&ha, &hb]);
        let ba = union_of(&[&hb, &ha]);
        proptest::prop_assert_eq!(ab.registers(), ba.registers());
        proptest::prop_assert_eq!(ab.count(), ba.count());
        let sab = ab.store(None, max).unwrap();
        proptest::prop_assert_eq!(&sab, &ba.store(None, max).unwrap());
        // The count of the merged value equals the union count.
        proptest::prop_assert_eq!(estimate(&sab).unwrap(), ab.count());
        // Merging a value into itself changes no register.
        let aa = union_of(&[&ha, &ha]);
        let saa = aa.store(Some(&ha), max).unwrap();
        proptest::prop_assert_eq!(registers_of(&saa), registers_of(&ha));
        proptest::prop_assert_eq!(estimate(&saa).unwrap(), estimate(&ha).unwrap());
        // Adding the union of all elements gives the same registers.
        let all = create(a.iter().chain(&b).map(|x| x.to_le_bytes()), max);
        proptest::prop_assert_eq!(registers_of(&all), registers_of(&sab));
    }

    /// Arbitrary bytes after a plausible header never panic, and failed edits change nothing.
    #[test]
    fn random_bytes_never_panic(
        enc in 0u8..3,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        dense_body in proptest::prelude::any::<bool>(),
        card in proptest::prelude::any::<[u8; 8]>(),
    ) {
        let mut v = b"HYLL".to_vec();
        v.push(enc);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(&card);
        if dense_body {
            v.extend((0..dense::PAYLOAD_LEN).map(|i| body.get(i % body.len().max(1)).copied().unwrap_or(0)));
        } else {
            v.extend_from_slice(&body);
        }
        exercise(v);
    }

    /// Entirely random strings, too.
    #[test]
    fn random_strings_never_panic(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
        exercise(v);
    }
}

fn exercise(v: Vec<u8>) {
    let max = DEFAULT_SPARSE_MAX_BYTES;
    let _ = check(&v);
    let _ = estimate(&v);
    let _ = debug_decode(&v);
    let mut c = v.clone();
    let _ = count(&mut c);
    let mut a = v.clone();
    if add(&mut a, [b"a".as_slice(), b"bb", b"", b"lucky"], max).is_err() {
        assert_eq!(a, v);
    }
    let mut a = v.clone();
    if add(&mut a, [0xba9d_09bau64.to_le_bytes()], 20).is_err() {
        assert_eq!(a, v);
    }
    let mut u = Union::new();
    if u.add(&v).is_ok() {
        let _ = u.count();
        let _ = u.store(Some(&v), max);
        let _ = u.store(None, 24);
    }
    let mut d = v.clone();
    let _ = to_dense(&mut d);
    let mut g = v;
    let _ = debug_getreg(&mut g);
}
