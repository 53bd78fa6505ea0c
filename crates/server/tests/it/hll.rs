//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST): every reply and
//! error compared byte for byte with a real redis-server in RESP2 and RESP3 (the HLL
//! strings themselves included, through GET), a seeded random workload and corruption
//! fuzzing against it, keyspace events and `dirty` counts against it, WATCH, DUMP payloads
//! from Redis, and AOF logging and replay.

use crate::aof_files::{aof_commands, start_aof};
use crate::redis_oracle;

use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{assert_watch_outcomes, bulk, err, int, ok, temp_dir, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis_oracle::{assert_same_effects, oracle, Pair};

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Commands covering every reply and error path, run in order on a fresh database.
const SCRIPT: &[&str] = &[
    "PFADD h",
    "PFCOUNT h",
    "GET h",
    "PFADD h a b c",
    "PFADD h a b c",
    "PFADD h a",
    "GET h",
    "PFCOUNT h",
    "GET h",
    "PFCOUNT h",
    "OBJECT ENCODING h",
    "PFCOUNT nokey",
    "PFCOUNT h nokey",
    "PFCOUNT nokey1 nokey2",
    "PFADD h2 b c d e f g",
    "PFCOUNT h h2",
    "PFCOUNT h2 h h2",
    "PFMERGE h3 h h2",
    "GET h3",
    "PFCOUNT h3",
    "PFMERGE h3",
    "GET h3",
    "PFMERGE h4",
    "GET h4",
    "PFMERGE h4 nokey",
    "PFCOUNT h4",
    "PFDEBUG ENCODING h3",
    "PFDEBUG DECODE h3",
    "PFDEBUG encoding h4",
    "PFDEBUG decode h4",
    "PFDEBUG TODENSE h3",
    "PFDEBUG TODENSE h3",
    "PFDEBUG ENCODING h3",
    "PFDEBUG DECODE h3",
    "PFCOUNT h3",
    "GET h3",
    "PFDEBUG GETREG h",
    "PFDEBUG ENCODING h",
    "PFDEBUG GETREG h",
    "PFDEBUG GETREG nokey",
    "PFDEBUG bogus h",
    "PFDEBUG bogus nokey",
    "PFDEBUG GETREG h extra",
    "PFDEBUG GETREG",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "PFSELFTEST x",
    // Dense destination, dense and sparse sources.
    "PFADD s1 x y z",
    "PFMERGE h3 h2 s1",
    "GET h3",
    "PFMERGE s2 s1 h3",
    "PFDEBUG ENCODING s2",
    "GET s2",
    "PFMERGE s3 s1 h2",
    "PFDEBUG ENCODING s3",
    "GET s3",
    "PFCOUNT s1 s2 s3 h h2 h3",
    // Strings that are not HLLs, and other types.
    "SET str hello",
    "PFADD str a",
    "PFADD str",
    "PFCOUNT str",
    "PFCOUNT h str",
    "PFCOUNT nokey str h",
    "PFMERGE str h",
    "PFMERGE h str",
    "PFMERGE nokey h str",
    "PFDEBUG ENCODING str",
    "PFDEBUG bogus str",
    "SET int 12345",
    "PFADD int a",
    "PFCOUNT int",
    "SET long 0123456789abcdefghij",
    "PFCOUNT long",
    "SET magic HYLLxxxxxxxxxxxxxxx",
    "PFCOUNT magic",
    "RPUSH list a",
    "PFADD list a",
    "PFCOUNT list",
    "PFCOUNT h list",
    "PFMERGE list",
    "PFMERGE h list",
    "PFDEBUG GETREG list",
    "PFDEBUG bogus list",
    // Corrupt values, made with string commands as Redis's own tests do.
    "PFADD tail a b c",
    "APPEND tail hello",
    "PFCOUNT tail",
    "PFCOUNT tail h",
    "PFMERGE dst tail",
    "PFDEBUG GETREG tail",
    "PFDEBUG TODENSE tail",
    "PFDEBUG DECODE tail",
    "PFADD magic2 a b c",
    "SETRANGE magic2 0 0123",
    "PFCOUNT magic2",
    "PFADD enc a b c",
    "SETRANGE enc 4 x",
    "PFCOUNT enc",
    "PFDEBUG ENCODING enc",
    // Promotion when a register value exceeds what sparse opcodes hold, and by size.
    "CONFIG SET hll-sparse-max-bytes 30",
    "PFADD small a b c d e f g h i j",
    "PFDEBUG ENCODING small",
    "GET small",
    "PFADD small2 a",
    "PFADD small2 b",
    "PFDEBUG ENCODING small2",
    "CONFIG SET hll-sparse-max-bytes 0",
    "PFADD zero a",
    "PFDEBUG ENCODING zero",
    "PFMERGE zero2 s1",
    "PFDEBUG ENCODING zero2",
    "CONFIG SET hll-sparse-max-bytes 3000",
    "CONFIG GET hll-sparse-max-bytes",
    "CONFIG SET hll-sparse-max-bytes -1",
    "CONFIG SET hll-sparse-max-bytes 9223372036854775808",
    "CONFIG SET hll-sparse-max-bytes 1kb",
    "CONFIG GET hll-sparse-max-bytes",
    "CONFIG SET hll-sparse-max-bytes 3000",
    // A key with a deadline keeps it through PFADD, PFCOUNT and PFMERGE.
    "PFADD ttl a",
    "PEXPIREAT ttl 99999999999999",
    "PFADD ttl b",
    "PFCOUNT ttl",
    "PFMERGE ttl h",
    "PEXPIRETIME ttl",
    "GET ttl",
];

#[test]
fn replies_match_redis_in_resp2_and_resp3() {
    let Some((srv, redis)) = oracle() else { return };
    for resp3 in [false, true] {
        let mut p = Pair::new(srv.addr(), redis.addr(), resp3);
        p.lines(SCRIPT);
        // Elements with every byte value, empty ones and long ones.
        let bin: Vec<Vec<u8>> = (0..=255u8)
            .map(|b| vec![b; usize::from(b % 7)])
            .chain([vec![0u8; 1000], b"\r\n".to_vec()])
            .collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", b"bin"];
        args.extend(bin.iter().map(|e| e.as_slice()));
        p.same(&args);
        p.line("GET bin");
        p.line("PFCOUNT bin");
        // Thousands of elements: sparse, then promoted by size, then dense.
        for (key, n) in [("mid", 300), ("big", 5000)] {
            let elems: Vec<String> = (0..n).map(|i| format!("element:{i}")).collect();
            let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            args.extend(elems.iter().map(|e| e.as_bytes()));
            p.same(&args);
            p.same(&[b"PFDEBUG", b"ENCODING", key.as_bytes()]);
            p.same(&[b"GET", key.as_bytes()]);
            p.same(&[b"PFCOUNT", key.as_bytes()]);
            p.same(&[b"PFDEBUG", b"GETREG", key.as_bytes()]);
        }
        p.line("PFCOUNT mid big h h2");
        p.line("PFMERGE all mid big bin");
        p.line("GET all");
        p.line("PFCOUNT all");
        p.assert_clean();
    }
}

/// Random PFADD / PFCOUNT / PFMERGE / GET over a few keys, with `hll-sparse-max-bytes`
/// changing under them, compared reply by reply (the HLL bytes included).
#[test]
fn random_workload_matches_redis() {
    let Some((srv, redis)) = oracle() else { return };
    let mut rng = StdRng::seed_from_u64(0x4c4c_4821);
    let mut p = Pair::new(srv.addr(), redis.addr(), false);
    let keys = ["r0", "r1", "r2", "r3"];
    for _ in 0..2500 {
        let key = keys[rng.gen_range(0..keys.len())];
        match rng.gen_range(0..100) {
            0..=44 => {
                let n = rng.gen_range(0..40);
                // A skewed pool: some elements repeat, register values vary.
                let elems: Vec<String> = (0..n)
                    .map(|_| {
                        let top = rng.gen_range(1..20000);
                        format!("e{}", rng.gen_range(0..top))
                    })
                    .collect();
                let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
                args.extend(elems.iter().map(|e| e.as_bytes()));
                p.same(&args);
            }
            45..=59 => {
                p.same(&[b"PFCOUNT", key.as_bytes()]);
            }
            60..=67 => {
                let other = keys[rng.gen_range(0..keys.len())];
                p.same(&[b"PFCOUNT", key.as_bytes(), other.as_bytes(), b"nokey"]);
            }
            68..=77 => {
                let a = keys[rng.gen_range(0..keys.len())];
                let b = keys[rng.gen_range(0..keys.len())];
                p.same(&[b"PFMERGE", key.as_bytes(), a.as_bytes(), b.as_bytes()]);
            }
            78..=89 => {
                p.same(&[b"GET", key.as_bytes()]);
            }
            90..=93 => {
                p.same(&[b"PFDEBUG", b"ENCODING", key.as_bytes()]);
            }
            94..=95 => {
                p.same(&[b"DEL", key.as_bytes()]);
            }
            96 => {
                p.same(&[b"PFDEBUG", b"TODENSE", key.as_bytes()]);
            }
            _ => {
                let max = ["0", "50", "300", "1000", "3000", "20000"][rng.gen_range(0..6)];
                p.same(&[b"CONFIG", b"SET", b"hll-sparse-max-bytes", max.as_bytes()]);
            }
        }
        if p.mismatches.len() > 5 {
            break;
        }
    }
    p.line("CONFIG SET hll-sparse-max-bytes 3000");
    for key in keys {
        p.same(&[b"GET", key.as_bytes()]);
    }
    p.assert_clean();
}

/// Random byte corruption of sparse and dense values, as Redis's fuzzing test does: no
/// command may crash or hang the server; PFCOUNT of one or several keys answers exactly as
/// Redis, and PFADD, PFMERGE and PFDEBUG answer a valid reply or one of the HLL errors.
#[test]
fn corrupted_values_are_detected_never_crash() {
    let Some((srv, redis)) = oracle() else { return };
    let mut rng = StdRng::seed_from_u64(0xBAD_C0DE);
    let mut p = Pair::new(srv.addr(), redis.addr(), false);
    for round in 0..400 {
        p.line("DEL f");
        let n = rng.gen_range(0..if round % 2 == 0 { 60 } else { 3000 });
        let elems: Vec<String> = (0..n).map(|i| format!("{round}:{i}")).collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", b"f"];
        args.extend(elems.iter().map(|e| e.as_bytes()));
        p.same(&args);
        for _ in 0..5 {
            let Frame::Integer(len) = Frame::parse(&p.line("STRLEN f")).unwrap().unwrap().0 else {
                panic!("STRLEN")
            };
            let pos = rng.gen_range(0..len).to_string();
            let byte = [rng.gen::<u8>()];
            p.same(&[b"SETRANGE", b"f", pos.as_bytes(), &byte]);
            if rng.gen_bool(0.5) {
                break;
            }
        }
        p.line("PFCOUNT f");
        p.line("PFCOUNT f nokey");
        for cmd in [
            &["PFADD", "f", "x", "y"][..],
            &["PFMERGE", "g", "f"],
            &["PFDEBUG", "GETREG", "f"],
            &["PFDEBUG", "DECODE", "f"],
        ] {
            let reply = Frame::parse(&p.ours.cmd(cmd)).unwrap().unwrap().0;
            let fine = match &reply {
                Frame::Error(e) => {
                    e == CORRUPT || e == NOT_HLL || e == "ERR HLL encoding is not sparse"
                }
                _ => true,
            };
            assert!(fine, "{cmd:?}: {reply:?}");
            // Not sent to Redis 7.0: edits of corrupt sparse values are where its
            // CVE-2025-32023 lies.
        }
        p.both(&[b"DEL", b"f", b"g"]);
    }
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    p.assert_clean();
}

/// Effects exactly as hyperloglog.c raises them (keyspace hits and misses too: reads look
/// keys up as lookupKeyRead, PFADD and PFDEBUG as lookupKeyWrite, PFMERGE both): `new` then `pfadd` (PFMERGE raises `pfadd`
/// too), nothing for a PFADD that changed no register, and `dirty` one per changed element
/// (plus one for a created key), one for a PFCOUNT that rewrote the cached cardinality and
/// one for a PFDEBUG conversion.
#[test]
fn keyspace_events_and_dirty_match_redis() {
    let Some((srv, redis)) = oracle() else { return };
    let ours = assert_same_effects(
        srv.addr(),
        redis.addr(),
        &[
            "PFADD h",
            "PFADD h a b c d",
            "PFADD h a b",
            "PFADD h a x",
            "PFADD h",
            "PFCOUNT h",
            "PFCOUNT h",
            "PFCOUNT h nokey",
            "PFCOUNT nokey",
            "PFADD h2 a b c",
            "PFMERGE h3 h h2",
            "PFMERGE h4 nokey h4 h",
            "PFMERGE h3",
            "PFMERGE h3 nokey",
            "PFDEBUG ENCODING h3",
            "PFDEBUG TODENSE h3",
            "PFDEBUG TODENSE h3",
            "PFDEBUG GETREG h2",
            "PFDEBUG GETREG h2",
            "PFDEBUG DECODE h",
            "SET s x",
            "PFADD s a",
            "PFMERGE s h",
            "PFCOUNT s",
        ],
    );
    // What Redis did, spelled out for the first commands (the comparison is not vacuous).
    assert_eq!(
        ours[..7],
        [
            "1 0/0: new h, pfadd h",
            "4 0/0: pfadd h",
            "0 0/0: ",
            "1 0/0: pfadd h",
            "0 0/0: ",
            "1 1/0: ",
            "0 1/0: "
        ]
    );
}

/// A stale cached cardinality rewritten by PFCOUNT is a change to the key (Redis signals
/// it): a WATCHer's EXEC fails. A PFCOUNT served from the cache, or a PFADD that changed no
/// register, fails nobody.
#[test]
fn pfcount_rewriting_its_cache_touches_watchers() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    assert_eq!(a.cmd(&["PFADD", "h", "x", "y"]), int(1));
    assert_watch_outcomes(
        &mut a,
        &mut b,
        "h",
        &[
            (&["PFCOUNT", "h"][..], true),
            (&["PFCOUNT", "h"], false),
            (&["PFADD", "h", "x"], false),
            (&["PFADD", "h", "z"], true),
            (&["PFCOUNT", "h", "h"], false),
            (&["PFMERGE", "h"], true),
        ],
    );
}

#[test]
fn pfselftest_passes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // Ten million elements: long in an unoptimised build.
    c.stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    assert_eq!(c.cmd(&["PFSELFTEST"]), ok());
}

/// HLL strings written by Redis (sparse and dense) restore here and count the same, and
/// strings written here read back byte-identical in Redis after SET.
#[test]
fn hll_strings_move_between_redis_and_cinnabar() {
    let Some((srv, redis)) = oracle() else { return };
    let mut ours = srv.raw();
    let mut theirs = redis_oracle::conn(&redis);
    for (key, n) in [("sparse", 50), ("dense", 4000)] {
        let elems: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let mut args: Vec<&str> = vec!["PFADD", key];
        args.extend(elems.iter().map(|s| s.as_str()));
        theirs.frame(&args);
        let Frame::Bulk(payload) = theirs.frame(&["DUMP", key]) else {
            panic!()
        };
        ours.send(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
        assert_eq!(ours.read(), ok());
        let Frame::Bulk(value) = theirs.frame(&["GET", key]) else {
            panic!()
        };
        assert_eq!(ours.cmd(&["GET", key]), Frame::Bulk(value.clone()));
        assert_eq!(
            ours.cmd(&["PFCOUNT", key]),
            theirs.frame(&["PFCOUNT", key]),
            "{key}"
        );
        assert_eq!(ours.cmd(&["GET", key]), theirs.frame(&["GET", key]));
        // And back: our value SET into Redis is an HLL Redis counts the same.
        ours.cmd(&["PFADD", key, "extra1", "extra2"]);
        let Frame::Bulk(mine) = ours.cmd(&["GET", key]) else {
            panic!()
        };
        let back = format!("{key}-back");
        theirs.send(&[b"SET", back.as_bytes(), &mine]);
        theirs.read();
        assert_eq!(
            theirs.frame(&["PFCOUNT", &back]),
            ours.cmd(&["PFCOUNT", key]),
            "{key}"
        );
    }
}

/// The plain errors, without a Redis to compare with.
#[test]
fn errors_and_wrong_types() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["SET", "s", "not an hll at all"]);
    c.cmd(&["LPUSH", "l", "x"]);
    assert_eq!(c.cmd(&["PFADD", "s", "a"]), err(NOT_HLL));
    assert_eq!(c.cmd(&["PFADD", "l", "a"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["PFCOUNT", "s"]), err(NOT_HLL));
    assert_eq!(c.cmd(&["PFMERGE", "d", "l"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(
        c.cmd(&["PFDEBUG", "GETREG", "missing"]),
        err("ERR The specified key does not exist")
    );
    assert_eq!(c.cmd(&["PFADD", "h", "a"]), int(1));
    assert_eq!(
        c.cmd(&["PFDEBUG", "Nope", "h"]),
        err("ERR Unknown PFDEBUG subcommand 'Nope'")
    );
    c.cmd(&["APPEND", "h", "junk"]);
    assert_eq!(c.cmd(&["PFCOUNT", "h"]), err(CORRUPT));
    assert_eq!(c.cmd(&["PFADD", "h", "b"]), err(CORRUPT));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), bulk("raw"));
}

// --- AOF ------------------------------------------------------------------------------------

/// PFADD, PFMERGE, PFCOUNT's cache rewrites and PFDEBUG conversions reach the AOF as given
/// (no-ops do not), and replaying them rebuilds the same bytes.
#[test]
fn aof_logs_and_replays_hll_writes() {
    let dir = temp_dir("aof");
    let keys = ["a", "b", "m", "d", "x"];
    let before: Vec<Frame> = {
        let srv = start_aof(&dir);
        let mut r = srv.raw();
        assert_eq!(r.cmd(&["PFADD", "a", "1", "2", "3"]), int(1));
        assert_eq!(r.cmd(&["PFADD", "a", "1", "2"]), int(0));
        assert_eq!(r.cmd(&["PFCOUNT", "a"]), int(3));
        assert_eq!(r.cmd(&["PFCOUNT", "a"]), int(3));
        let many: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
        let mut args = vec!["PFADD", "b"];
        args.extend(many.iter().map(|s| s.as_str()));
        assert_eq!(r.cmd(&args), int(1));
        assert_eq!(r.cmd(&["PFMERGE", "m", "a", "b", "missing"]), ok());
        assert_eq!(r.cmd(&["PFADD", "d", "q"]), int(1));
        assert_eq!(r.cmd(&["PFDEBUG", "TODENSE", "d"]), int(1));
        assert_eq!(r.cmd(&["PFDEBUG", "TODENSE", "d"]), int(0));
        assert_eq!(r.cmd(&["PFADD", "x"]), int(1));
        assert_eq!(r.cmd(&["PFCOUNT", "a", "b"]), r.cmd(&["PFCOUNT", "m"]));
        keys.iter().map(|k| r.cmd(&["GET", k])).collect()
    };
    let log = aof_commands(&dir);
    let names: Vec<String> = log
        .iter()
        .map(|c| c[0].to_ascii_uppercase())
        .filter(|n| n != "SELECT")
        .collect();
    assert_eq!(
        names,
        ["PFADD", "PFCOUNT", "PFADD", "PFMERGE", "PFADD", "PFDEBUG", "PFADD", "PFCOUNT"],
        "{log:?}"
    );
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    let after: Vec<Frame> = keys.iter().map(|k| r.cmd(&["GET", k])).collect();
    assert_eq!(after, before);
    assert_eq!(
        r.cmd(&["PFDEBUG", "ENCODING", "d"]),
        Frame::Simple("dense".into())
    );
}
