//! Stream commands against a real server: every command's replies and errors (Redis 7.2's
//! texts), RESP3 shapes, keyspace events, dirty counts, WATCH, the generic key commands on
//! streams, MULTI and scripts. Propagation (AOF contents and replay), persistence round trips,
//! blocking reads and the model-based property test are in the `streams_*` test files.

use crate::streams_common;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, TestServer};
use streams_common::*;

#[test]
fn xadd_ids() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // `*` follows the clock, and never goes backwards.
    let a = id_of(&c(&mut r, "XADD s * f v"));
    let b = id_of(&c(&mut r, "XADD s * f v"));
    assert!(b > a, "{a:?} {b:?}");
    assert_eq!(c(&mut r, "XADD t 1-1 a 1"), bulk("1-1"));
    // ms-*: the next sequence in the same ms, 0 in a later one.
    assert_eq!(c(&mut r, "XADD t 1-* a 1"), bulk("1-2"));
    assert_eq!(c(&mut r, "XADD t 5-* a 1"), bulk("5-0"));
    // A bare ms is ms-0.
    assert_eq!(c(&mut r, "XADD t 6 a 1"), bulk("6-0"));
    assert_eq!(c(&mut r, "XADD t 6 a 1"), err(SMALLER));
    assert_eq!(c(&mut r, "XADD t 3-* a 1"), err(SMALLER));
    assert_eq!(c(&mut r, "XADD t 6-0 a 1"), err(SMALLER));
    // `*` after a future explicit ID continues from it.
    assert_eq!(
        c(&mut r, "XADD f 99999999999999-5 a 1"),
        bulk("99999999999999-5")
    );
    assert_eq!(c(&mut r, "XADD f * a 1"), bulk("99999999999999-6"));
    // 0-0 is refused before the key is looked at; 0-* gives 0-1.
    assert_eq!(
        c(&mut r, "XADD z 0-0 a 1"),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(c(&mut r, "EXISTS z"), int(0));
    assert_eq!(
        c(&mut r, "XADD z NOMKSTREAM 0-0 a 1"),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(c(&mut r, "XADD z 0-* a 1"), bulk("0-1"));
    // The sequence cannot overflow; the last possible ID exhausts the stream.
    assert_eq!(
        c(&mut r, "XADD o 1-18446744073709551615 a 1"),
        bulk("1-18446744073709551615")
    );
    assert_eq!(c(&mut r, "XADD o 1-* a 1"), err(SMALLER));
    assert_eq!(
        c(
            &mut r,
            "XADD o 18446744073709551615-18446744073709551615 a 1"
        ),
        bulk("18446744073709551615-18446744073709551615")
    );
    assert_eq!(
        c(&mut r, "XADD o * a 1"),
        err("ERR The stream has exhausted the last possible ID, unable to add more items")
    );
    // Invalid IDs.
    for bad in [
        "abc",
        "1-abc",
        "+",
        "-",
        "18446744073709551616",
        "1-2-3",
        "-*",
    ] {
        assert_eq!(
            c(&mut r, &format!("XADD t {bad} a 1")),
            err(INVALID),
            "{bad}"
        );
    }
    // Fields and values must pair up.
    assert_eq!(
        c(&mut r, "XADD t 10 a"),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(
        c(&mut r, "XADD t 10 a b c"),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(
        c(&mut r, "XADD t MAXLEN 5 10"),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(
        c(&mut r, "XADD t"),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    // NOMKSTREAM on a missing key: nil, and no key.
    assert_eq!(c(&mut r, "XADD nokey NOMKSTREAM * a 1"), Frame::Null);
    assert_eq!(c(&mut r, "EXISTS nokey"), int(0));
    assert_eq!(c(&mut r, "XADD t NOMKSTREAM 20 a 1"), bulk("20-0"));
    // Field names and values are kept as given, integers included.
    assert_eq!(
        c(
            &mut r,
            "XADD v 1 n 123 neg -5 big 99999999999999999999 e ''"
        ),
        bulk("1-0")
    );
    assert_eq!(
        c(&mut r, "XRANGE v - +"),
        arr(vec![entry(
            "1-0",
            &[
                "n",
                "123",
                "neg",
                "-5",
                "big",
                "99999999999999999999",
                "e",
                "''"
            ]
        )])
    );
    // WRONGTYPE after the arguments were checked.
    assert_wrongtype(&mut r, "XADD str * a 1");
    assert_eq!(
        c(&mut r, "XADD str 0-0 a 1"),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
}

#[test]
fn xadd_trimming_options() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=10 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    assert_eq!(c(&mut r, "XADD s MAXLEN 5 11 f 11"), bulk("11-0"));
    assert_eq!(c(&mut r, "XLEN s"), int(5));
    assert_eq!(first_id(&mut r, "s"), "7-0");
    assert_eq!(c(&mut r, "XADD s MAXLEN = 3 12 f 12"), bulk("12-0"));
    assert_eq!(c(&mut r, "XLEN s"), int(3));
    assert_eq!(c(&mut r, "XADD s MINID 12 13 f 13"), bulk("13-0"));
    assert_eq!(ids(c(&mut r, "XRANGE s - +")), ["12-0", "13-0"]);
    assert_eq!(c(&mut r, "XADD s MINID = 13-0 14 f 14"), bulk("14-0"));
    assert_eq!(c(&mut r, "XLEN s"), int(2));
    // MAXLEN 0 leaves the key, empty.
    assert_eq!(c(&mut r, "XADD e MAXLEN 0 5 a b"), bulk("5-0"));
    assert_eq!(c(&mut r, "XLEN e"), int(0));
    assert_eq!(c(&mut r, "EXISTS e"), int(1));
    // Errors, in Redis's order.
    let errs = [
        (
            "XADD s MAXLEN -1 * a b",
            "ERR The MAXLEN argument must be >= 0.",
        ),
        ("XADD s MAXLEN abc * a b", NOT_INTEGER),
        ("XADD s MAXLEN ~ abc * a b", NOT_INTEGER),
        ("XADD s MINID abc * a b", INVALID),
        ("XADD s MINID - * a b", INVALID),
        (
            "XADD s MAXLEN 5 MINID 1 * a b",
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        ),
        (
            "XADD s MINID 1 MAXLEN 5 * a b",
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        ),
        (
            "XADD s LIMIT 5 * a b",
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ),
        // LIMIT 0 passes the strategy check but not the `~` one.
        (
            "XADD s LIMIT 0 * a b",
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        (
            "XADD s MAXLEN 5 LIMIT 5 * a b",
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        (
            "XADD s MAXLEN ~ 5 LIMIT -1 * a b",
            "ERR The LIMIT argument must be >= 0.",
        ),
        ("XADD s MAXLEN ~ 5 LIMIT x * a b", NOT_INTEGER),
        ("XADD s FOO * a b", INVALID),
    ];
    assert_errors(&mut r, &errs);
    // `~` trims whole nodes only, at most LIMIT entries.
    c(&mut r, "CONFIG SET stream-node-max-entries 10");
    for i in 1..=100 {
        c(&mut r, &format!("XADD a {i} f v"));
    }
    c(&mut r, "XADD a MAXLEN ~ 55 101 f v");
    assert_eq!(c(&mut r, "XLEN a"), int(61));
    c(&mut r, "XADD a MAXLEN ~ 0 LIMIT 30 102 f v");
    assert_eq!(c(&mut r, "XLEN a"), int(32));
    c(&mut r, "XADD a MINID ~ 95 103 f v");
    assert_eq!(c(&mut r, "XLEN a"), int(13));
    // Exact trimming ignores node boundaries.
    c(&mut r, "XADD a MAXLEN 7 104 f v");
    assert_eq!(c(&mut r, "XLEN a"), int(7));
}

#[test]
fn xrange_and_xrevrange() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for (i, id) in ["1-0", "1-1", "2-0", "3-5", "4-0"].iter().enumerate() {
        c(&mut r, &format!("XADD s {id} n {i}"));
    }
    assert_eq!(
        ids(c(&mut r, "XRANGE s - +")),
        ["1-0", "1-1", "2-0", "3-5", "4-0"]
    );
    assert_eq!(
        c(&mut r, "XRANGE s 1-1 2"),
        arr(vec![entry("1-1", &["n", "1"]), entry("2-0", &["n", "2"])])
    );
    // A bare ms means ms-0 as a start and ms-max as an end.
    assert_eq!(ids(c(&mut r, "XRANGE s 1 1")), ["1-0", "1-1"]);
    assert_eq!(ids(c(&mut r, "XRANGE s - + COUNT 2")), ["1-0", "1-1"]);
    assert_eq!(
        ids(c(&mut r, "XRANGE s - + COUNT 1 COUNT 3")),
        ["1-0", "1-1", "2-0"]
    );
    assert_eq!(
        ids(c(&mut r, "XRANGE s - + COUNT -1")),
        Vec::<String>::new()
    );
    assert_eq!(c(&mut r, "XRANGE s - + COUNT 0"), Frame::Null);
    assert_eq!(ids(c(&mut r, "XRANGE s 5 +")), Vec::<String>::new());
    assert_eq!(ids(c(&mut r, "XRANGE s 3 2")), Vec::<String>::new());
    // Exclusive ranges.
    assert_eq!(ids(c(&mut r, "XRANGE s (1-0 (3-5")), ["1-1", "2-0"]);
    assert_eq!(
        ids(c(&mut r, "XRANGE s (1 +")),
        ["1-1", "2-0", "3-5", "4-0"]
    );
    assert_eq!(
        ids(c(&mut r, "XREVRANGE s (4-0 (1-0")),
        ["3-5", "2-0", "1-1"]
    );
    // A bare ms end is ms-max, so `(4` still includes 4-0.
    assert_eq!(
        ids(c(&mut r, "XREVRANGE s (4 (1-0")),
        ["4-0", "3-5", "2-0", "1-1"]
    );
    assert_eq!(
        c(
            &mut r,
            "XRANGE s (18446744073709551615-18446744073709551615 +"
        ),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(
        c(&mut r, "XRANGE s - (0-0"),
        err("ERR invalid end ID for the interval")
    );
    assert_eq!(c(&mut r, "XRANGE s (- +"), err(INVALID));
    assert_eq!(c(&mut r, "XRANGE s - (+"), err(INVALID));
    // XREVRANGE takes end first; the start (its 3rd argument) is checked first.
    assert_eq!(
        ids(c(&mut r, "XREVRANGE s + -")),
        ["4-0", "3-5", "2-0", "1-1", "1-0"]
    );
    assert_eq!(ids(c(&mut r, "XREVRANGE s + - COUNT 2")), ["4-0", "3-5"]);
    assert_eq!(ids(c(&mut r, "XREVRANGE s 2 1")), ["2-0", "1-1", "1-0"]);
    assert_eq!(
        c(
            &mut r,
            "XREVRANGE s abc (18446744073709551615-18446744073709551615"
        ),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(c(&mut r, "XREVRANGE s abc (0-0"), err(INVALID));
    assert_eq!(c(&mut r, "XRANGE s abc -"), err(INVALID));
    assert_eq!(c(&mut r, "XRANGE s - + COUNT"), err("ERR syntax error"));
    assert_eq!(c(&mut r, "XRANGE s - + LIMIT 1"), err("ERR syntax error"));
    assert_eq!(c(&mut r, "XRANGE s - + COUNT x"), err(NOT_INTEGER));
    // A missing key is an empty array, even with COUNT 0.
    assert_eq!(c(&mut r, "XRANGE nokey - +"), arr(vec![]));
    assert_eq!(c(&mut r, "XRANGE nokey - + COUNT 0"), arr(vec![]));
    assert_wrongtype(&mut r, "XRANGE str - +");
    assert_eq!(c(&mut r, "XREVRANGE str + -"), err(WRONGTYPE));
    // Deleted entries are skipped, in both directions.
    c(&mut r, "XDEL s 2-0 1-0");
    assert_eq!(ids(c(&mut r, "XRANGE s - +")), ["1-1", "3-5", "4-0"]);
    assert_eq!(ids(c(&mut r, "XREVRANGE s + -")), ["4-0", "3-5", "1-1"]);
}

#[test]
fn xlen_xdel_xtrim() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(c(&mut r, "XLEN nokey"), int(0));
    for i in 1..=6 {
        c(&mut r, &format!("XADD s {i} f v"));
    }
    assert_eq!(c(&mut r, "XLEN s"), int(6));
    assert_eq!(c(&mut r, "XDEL s 1 3-0 99"), int(2));
    assert_eq!(c(&mut r, "XDEL s 1"), int(0));
    assert_eq!(c(&mut r, "XLEN s"), int(4));
    // The key is looked up before the IDs are checked.
    assert_eq!(c(&mut r, "XDEL nokey abc"), int(0));
    assert_eq!(c(&mut r, "XDEL s 2 abc"), err(INVALID));
    assert_eq!(
        c(&mut r, "XLEN s"),
        int(4),
        "nothing deleted before the error"
    );
    assert_eq!(c(&mut r, "XDEL s +"), err(INVALID));
    assert_eq!(c(&mut r, "XTRIM s MAXLEN 2"), int(2));
    assert_eq!(ids(c(&mut r, "XRANGE s - +")), ["5-0", "6-0"]);
    assert_eq!(c(&mut r, "XTRIM s MAXLEN 5"), int(0));
    assert_eq!(c(&mut r, "XTRIM s MINID 6"), int(1));
    assert_eq!(c(&mut r, "XTRIM nokey MAXLEN 0"), int(0));
    let errs = [
        (
            "XTRIM s",
            "ERR wrong number of arguments for 'xtrim' command",
        ),
        ("XTRIM s FOO 1", "ERR syntax error"),
        (
            "XTRIM s LIMIT 1 MAXLEN 1",
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        ("XTRIM s LIMIT 5 FOO", "ERR syntax error"),
        ("XTRIM s NOMKSTREAM MAXLEN 1", "ERR syntax error"),
        ("XTRIM s LIMIT 5 X", "ERR syntax error"),
        (
            "XTRIM s MAXLEN",
            "ERR wrong number of arguments for 'xtrim' command",
        ),
        ("XTRIM s LIMIT 1 2", "ERR syntax error"),
        ("XTRIM s MAXLEN -2", "ERR The MAXLEN argument must be >= 0."),
        (
            "XTRIM s MAXLEN 1 MINID 1",
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        ),
    ];
    assert_errors(&mut r, &errs);
    assert_eq!(
        c(&mut r, "XTRIM s LIMIT 0 MAXLEN 1 X Y"),
        err("ERR syntax error")
    );
    assert_wrongtype(&mut r, "XLEN str");
    assert_eq!(c(&mut r, "XDEL str 1"), err(WRONGTYPE));
    assert_eq!(c(&mut r, "XTRIM str MAXLEN 1"), err(WRONGTYPE));
    // XTRIM ... ~ with LIMIT.
    c(&mut r, "CONFIG SET stream-node-max-entries 10");
    for i in 1..=100 {
        c(&mut r, &format!("XADD big {i} f v"));
    }
    assert_eq!(c(&mut r, "XTRIM big MAXLEN ~ 0 LIMIT 30"), int(30));
    assert_eq!(c(&mut r, "XTRIM big MAXLEN ~ 65"), int(0));
    assert_eq!(c(&mut r, "XTRIM big MAXLEN ~ 55"), int(10));
    assert_eq!(c(&mut r, "XTRIM big MAXLEN 55"), int(5));
}

#[test]
fn xsetid() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(c(&mut r, "XSETID nokey 1-1"), err("ERR no such key"));
    // Option errors come before the key lookup.
    assert_eq!(c(&mut r, "XSETID nokey 1-1 0"), err("ERR syntax error"));
    assert_eq!(
        c(&mut r, "XSETID nokey 1-1 ENTRIESADDED -1 MAXDELETEDID 0-0"),
        err("ERR entries_added must be positive")
    );
    assert_eq!(
        c(&mut r, "XSETID nokey 1-0 MAXDELETEDID 2-0"),
        err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    );
    assert_eq!(c(&mut r, "XSETID nokey abc"), err(INVALID));
    assert_eq!(c(&mut r, "XSETID nokey +"), err(INVALID));
    c(&mut r, "XADD s 5-0 a b");
    assert_eq!(
        c(&mut r, "XSETID s 4-0"),
        err("ERR The ID specified in XSETID is smaller than the target stream top item")
    );
    assert_eq!(c(&mut r, "XSETID s 10-0"), ok());
    assert_eq!(c(&mut r, "XADD s 10-* a b"), bulk("10-1"));
    assert_eq!(c(&mut r, "XADD s 10-0 a b"), err(SMALLER));
    assert_eq!(
        c(&mut r, "XSETID s 20-0 ENTRIESADDED 0"),
        err("ERR The entries_added specified in XSETID is smaller than the target stream length")
    );
    assert_eq!(
        c(
            &mut r,
            "XSETID s 18446744073709551615-0 ENTRIESADDED 100 MAXDELETEDID 7-0"
        ),
        ok()
    );
    let info = info_map(c(&mut r, "XINFO STREAM s"));
    assert_eq!(info["last-generated-id"], bulk("18446744073709551615-0"));
    assert_eq!(info["entries-added"], int(100));
    assert_eq!(info["max-deleted-entry-id"], bulk("7-0"));
    assert_eq!(
        c(&mut r, "XSETID s 6-0"),
        err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id")
    );
    // MAXDELETEDID 0-0 leaves it unchanged.
    assert_eq!(
        c(&mut r, "XSETID s 18446744073709551615-0 MAXDELETEDID 0-0"),
        ok()
    );
    let info = info_map(c(&mut r, "XINFO STREAM s"));
    assert_eq!(info["max-deleted-entry-id"], bulk("7-0"));
    assert_wrongtype(&mut r, "XSETID str 1-0");
    // An empty stream can go back to any ID not below its max deleted ID.
    c(&mut r, "XADD e MAXLEN 0 5-0 a b");
    assert_eq!(c(&mut r, "XSETID e 0-0"), ok());
}

#[test]
fn xread() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XADD s 1-0 a 1");
    c(&mut r, "XADD s 2-0 b 2");
    c(&mut r, "XADD t 5-0 c 3");
    assert_eq!(
        c(&mut r, "XREAD STREAMS s 0"),
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![entry("1-0", &["a", "1"]), entry("2-0", &["b", "2"])])
        ])])
    );
    assert_eq!(
        c(&mut r, "XREAD COUNT 1 STREAMS s t nokey 1 0 0"),
        arr(vec![
            arr(vec![bulk("s"), arr(vec![entry("2-0", &["b", "2"])])]),
            arr(vec![bulk("t"), arr(vec![entry("5-0", &["c", "3"])])]),
        ])
    );
    // Nothing newer: nil.
    assert_eq!(c(&mut r, "XREAD STREAMS s 2"), Frame::Null);
    assert_eq!(c(&mut r, "XREAD STREAMS s $"), Frame::Null);
    assert_eq!(c(&mut r, "XREAD STREAMS nokey $"), Frame::Null);
    assert_eq!(
        c(&mut r, "XREAD COUNT -5 STREAMS s 0").to_owned(),
        c(&mut r, "XREAD STREAMS s 0")
    );
    // The same stream named twice is served twice.
    assert_eq!(
        c(&mut r, "XREAD STREAMS t t 0 0"),
        arr(vec![
            arr(vec![bulk("t"), arr(vec![entry("5-0", &["c", "3"])])]),
            arr(vec![bulk("t"), arr(vec![entry("5-0", &["c", "3"])])]),
        ])
    );
    // Deleted entries are not served; a stream whose newer entries are all deleted is
    // not served at all.
    c(&mut r, "XADD d 1 a b");
    c(&mut r, "XADD d 2 a b");
    c(&mut r, "XDEL d 2");
    assert_eq!(c(&mut r, "XREAD STREAMS d 1"), Frame::Null);
    let errs = [
        ("XREAD STREAMS s", "ERR wrong number of arguments for 'xread' command"),
        ("XREAD COUNT 1 STREAMS s", "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."),
        ("XREAD STREAMS s t 0", "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."),
        ("XREAD GROUP g c STREAMS s 0", "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."),
        ("XREAD NOACK STREAMS s 0", "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."),
        ("XREAD STREAMS s >", "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."),
        ("XREAD COUNT x STREAMS s 0", NOT_INTEGER),
        ("XREAD BLOCK x STREAMS s 0", "ERR timeout is not an integer or out of range"),
        ("XREAD BLOCK -1 STREAMS s 0", "ERR timeout is negative"),
        ("XREAD BLOCK 9223372036854775807 STREAMS s 0", "ERR timeout is out of range"),
        ("XREAD FOO STREAMS s 0", "ERR syntax error"),
        ("XREAD COUNT 1 BLOCK", "ERR syntax error"),
        ("XREAD STREAMS s abc", INVALID),
        ("XREAD STREAMS s +", INVALID),
    ];
    assert_errors(&mut r, &errs);
    // Type errors come per stream, in order, before any ID error of a later stream.
    assert_wrongtype(&mut r, "XREAD STREAMS s str 0 abc");
    assert_eq!(c(&mut r, "XREAD STREAMS s str abc 0"), err(INVALID));
}

#[test]
fn xreadgroup_new_history_and_noack() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=4 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    assert_eq!(c(&mut r, "XGROUP CREATE s g 0"), ok());
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g alice COUNT 2 STREAMS s >"),
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])])
        ])])
    );
    assert_eq!(
        ids(stream_of(c(&mut r, "XREADGROUP GROUP g bob STREAMS s >"))),
        ["3-0", "4-0"]
    );
    assert_eq!(c(&mut r, "XREADGROUP GROUP g bob STREAMS s >"), Frame::Null);
    // History: the consumer's own pending entries after the ID; always served.
    assert_eq!(
        ids(stream_of(c(&mut r, "XREADGROUP GROUP g alice STREAMS s 0"))),
        ["1-0", "2-0"]
    );
    assert_eq!(
        ids(stream_of(c(
            &mut r,
            "XREADGROUP GROUP g alice COUNT 1 STREAMS s 1"
        ))),
        ["2-0"]
    );
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g alice STREAMS s 2"),
        arr(vec![arr(vec![bulk("s"), arr(vec![])])])
    );
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g newbie STREAMS s 0"),
        arr(vec![arr(vec![bulk("s"), arr(vec![])])])
    );
    // History reads count deliveries.
    let p = c(&mut r, "XPENDING s g - + 10 alice");
    assert_eq!(pending_counts(p), [("1-0".into(), 2), ("2-0".into(), 3)]);
    // A deleted entry still pending is reported with nil fields.
    c(&mut r, "XDEL s 1");
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g alice STREAMS s 0"),
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![
                arr(vec![bulk("1-0"), Frame::Null]),
                entry("2-0", &["f", "2"])
            ])
        ])])
    );
    // Deleted entries are not counted as deliveries.
    let p = c(&mut r, "XPENDING s g - + 10 alice");
    assert_eq!(pending_counts(p), [("1-0".into(), 2), ("2-0".into(), 4)]);
    // NOACK: delivered, but not pending.
    c(&mut r, "XADD s 5 f 5");
    assert_eq!(
        ids(stream_of(c(
            &mut r,
            "XREADGROUP GROUP g carol NOACK STREAMS s >"
        ))),
        ["5-0"]
    );
    assert_eq!(c(&mut r, "XPENDING s g - + 10 carol"), arr(vec![]));
    let g = &info_list(c(&mut r, "XINFO GROUPS s"))[0];
    assert_eq!(g["last-delivered-id"], bulk("5-0"));
    assert_eq!(g["consumers"], int(4));
    // XGROUP SETID back: entries are delivered again and their PEL entries move.
    assert_eq!(c(&mut r, "XGROUP SETID s g 0"), ok());
    assert_eq!(
        ids(stream_of(c(
            &mut r,
            "XREADGROUP GROUP g dave COUNT 2 STREAMS s >"
        ))),
        ["2-0", "3-0"]
    );
    let p = c(&mut r, "XPENDING s g - + 10");
    assert_eq!(
        pending_owners(p),
        [
            ("1-0".into(), "alice".into()),
            ("2-0".into(), "dave".into()),
            ("3-0".into(), "dave".into()),
            ("4-0".into(), "bob".into())
        ]
    );
    // Several streams.
    c(&mut r, "XADD t 1 x y");
    c(&mut r, "XGROUP CREATE t g $");
    c(&mut r, "XADD t 2 x y");
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g erin STREAMS s t > >"),
        arr(vec![
            arr(vec![
                bulk("s"),
                arr(vec![entry("4-0", &["f", "4"]), entry("5-0", &["f", "5"])])
            ]),
            arr(vec![bulk("t"), arr(vec![entry("2-0", &["x", "y"])])]),
        ])
    );
    // An explicit largest ID means `>`, as in Redis.
    c(&mut r, "XADD t 3 x y");
    assert_eq!(
        ids(stream_of(c(
            &mut r,
            "XREADGROUP GROUP g erin STREAMS t 18446744073709551615-18446744073709551615"
        ))),
        ["3-0"]
    );
}

#[test]
fn xreadgroup_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XADD s 1 f v");
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "SET str x");
    let errs = [
        ("XREADGROUP GROUP g c STREAMS s", "ERR wrong number of arguments for 'xreadgroup' command"),
        ("XREADGROUP GROUP g c COUNT 1 STREAMS s", "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."),
        ("XREADGROUP COUNT 1 NOACK STREAMS s >", "ERR Missing GROUP option for XREADGROUP"),
        ("XREADGROUP GROUP g c STREAMS s $", "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."),
        ("XREADGROUP GROUP nog c STREAMS s >", "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"),
        ("XREADGROUP GROUP g c STREAMS nokey >", "NOGROUP No such key 'nokey' or consumer group 'g' in XREADGROUP with GROUP option"),
        ("XREADGROUP GROUP g c STREAMS str >", WRONGTYPE),
        ("XREADGROUP GROUP g c STREAMS s abc", INVALID),
        ("XREADGROUP GROUP g c FOO STREAMS s >", "ERR syntax error"),
        ("XREADGROUP GROUP g c BLOCK x STREAMS s >", "ERR timeout is not an integer or out of range"),
    ];
    assert_errors(&mut r, &errs);
    // No consumer was created by the failed calls.
    assert_eq!(c(&mut r, "XINFO CONSUMERS s g"), arr(vec![]));
}

#[test]
fn xgroup_subcommands() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XADD s 1 f v");
    c(&mut r, "XADD s 2 f v");
    c(&mut r, "SET str x");
    assert_eq!(c(&mut r, "XGROUP CREATE s g 0"), ok());
    assert_eq!(
        c(&mut r, "XGROUP CREATE s g 0"),
        err("BUSYGROUP Consumer Group name already exists")
    );
    assert_eq!(c(&mut r, "XGROUP CREATE s g2 $"), ok());
    assert_eq!(c(&mut r, "XGROUP CREATE s g3 1 ENTRIESREAD 1"), ok());
    assert_eq!(c(&mut r, "XGROUP CREATE s g4 - "), err(INVALID));
    let errs = [
        ("XGROUP CREATE s gx 0 ENTRIESREAD -2", "ERR value for ENTRIESREAD must be positive or -1"),
        ("XGROUP CREATE s gx 0 ENTRIESREAD x", NOT_INTEGER),
        ("XGROUP CREATE s gx 0 FOO", "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP."),
        ("XGROUP create s gx 0 ENTRIESREAD", "ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP."),
        ("XGROUP CREATE s gx 0 MKSTREAM MKSTREAM MKSTREAM MKSTREAM", "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP."),
        ("XGROUP CREATE nokey g 0", "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
        ("XGROUP CREATE str g 0 MKSTREAM", WRONGTYPE),
        ("XGROUP CREATE s g5 abc", INVALID),
        ("XGROUP CREATE s", "ERR wrong number of arguments for 'xgroup|create' command"),
        ("XGROUP SETID s nog 0", "NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XGROUP SETID nokey g 0", "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
        ("XGROUP SETID s g 0 MKSTREAM", "ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP."),
        ("XGROUP SETID s g abc", INVALID),
        ("XGROUP DESTROY s", "ERR wrong number of arguments for 'xgroup|destroy' command"),
        ("XGROUP DESTROY nokey g", "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
        ("XGROUP CREATECONSUMER s nog c", "NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XGROUP DELCONSUMER s nog c", "NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XGROUP DELCONSUMER str g c", WRONGTYPE),
        ("XGROUP FOO s g", "ERR unknown subcommand 'FOO'. Try XGROUP HELP."),
        ("XGROUP HELP xxx", "ERR wrong number of arguments for 'xgroup|help' command"),
    ];
    assert_errors(&mut r, &errs);
    // MKSTREAM creates the key, and only if the command succeeds.
    assert_eq!(c(&mut r, "XGROUP CREATE m g abc MKSTREAM"), err(INVALID));
    assert_eq!(c(&mut r, "EXISTS m"), int(0));
    assert_eq!(c(&mut r, "XGROUP CREATE m g $ MKSTREAM"), ok());
    assert_eq!(c(&mut r, "TYPE m"), Frame::Simple("stream".into()));
    assert_eq!(
        c(&mut r, "XGROUP CREATE m g $ MKSTREAM"),
        err("BUSYGROUP Consumer Group name already exists")
    );
    // SETID accepts `-`, `+`, `$` and ENTRIESREAD.
    assert_eq!(c(&mut r, "XGROUP SETID s g $"), ok());
    assert_eq!(c(&mut r, "XGROUP SETID s g - ENTRIESREAD 0"), ok());
    let g = group_info(&mut r, "s", "g");
    assert_eq!(g["last-delivered-id"], bulk("0-0"));
    assert_eq!(g["entries-read"], int(0));
    assert_eq!(c(&mut r, "XGROUP SETID s g +"), ok());
    let g = group_info(&mut r, "s", "g");
    assert_eq!(
        g["last-delivered-id"],
        bulk("18446744073709551615-18446744073709551615")
    );
    assert_eq!(g["entries-read"], Frame::Null);
    // Consumers.
    assert_eq!(c(&mut r, "XGROUP CREATECONSUMER s g c1"), int(1));
    assert_eq!(c(&mut r, "XGROUP CREATECONSUMER s g c1"), int(0));
    assert_eq!(c(&mut r, "XGROUP SETID s g 0"), ok());
    c(&mut r, "XREADGROUP GROUP g c1 STREAMS s >");
    assert_eq!(c(&mut r, "XGROUP DELCONSUMER s g nobody"), int(0));
    assert_eq!(c(&mut r, "XGROUP DELCONSUMER s g c1"), int(2));
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![int(0), Frame::Null, Frame::Null, Frame::Null])
    );
    assert_eq!(c(&mut r, "XGROUP DESTROY s g"), int(1));
    assert_eq!(c(&mut r, "XGROUP DESTROY s g"), int(0));
    assert_eq!(info_list(c(&mut r, "XINFO GROUPS s")).len(), 2);
    // HELP.
    let help = words_of(c(&mut r, "XGROUP HELP"));
    assert_eq!(
        help[0],
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    assert_eq!(help.last().unwrap(), "    Print this help.");
    assert_eq!(help.len(), 17);
}

#[test]
fn xack_and_xpending() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=5 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    c(&mut r, "XGROUP CREATE s g 0");
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![int(0), Frame::Null, Frame::Null, Frame::Null])
    );
    c(&mut r, "XREADGROUP GROUP g alice COUNT 2 STREAMS s >");
    c(&mut r, "XREADGROUP GROUP g bob COUNT 2 STREAMS s >");
    c(&mut r, "XGROUP CREATECONSUMER s g idle");
    // Summary: count, bounds, consumers with pending entries (counts as bulk strings).
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![
            int(4),
            bulk("1-0"),
            bulk("4-0"),
            arr(vec![
                arr(vec![bulk("alice"), bulk("2")]),
                arr(vec![bulk("bob"), bulk("2")])
            ])
        ])
    );
    assert_eq!(pending_owners(c(&mut r, "XPENDING s g - + 3")).len(), 3);
    assert_eq!(pending_owners(c(&mut r, "XPENDING s g - + -3")).len(), 0);
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g (1 (4 10")),
        ["2-0", "3-0", "4-0"]
    );
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g (1 (4-0 10")),
        ["2-0", "3-0"]
    );
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g - + 10 bob")),
        ["3-0", "4-0"]
    );
    assert_eq!(c(&mut r, "XPENDING s g - + 10 nobody"), arr(vec![]));
    assert_eq!(c(&mut r, "XPENDING s g - + 10 idle"), arr(vec![]));
    // IDLE: entries delivered at least that long ago (set with XCLAIM ... IDLE).
    c(&mut r, "XCLAIM s g alice 0 1 IDLE 500000 JUSTID");
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g IDLE 400000 - + 10")),
        ["1-0"]
    );
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g IDLE 400000 - + 10 bob")),
        Vec::<String>::new()
    );
    let row = match c(&mut r, "XPENDING s g - + 1") {
        Frame::Array(v) => v[0].clone(),
        other => panic!("{other:?}"),
    };
    let Frame::Array(row) = row else { panic!() };
    assert_eq!(row[0], bulk("1-0"));
    assert_eq!(row[1], bulk("alice"));
    assert!(
        matches!(row[2], Frame::Integer(n) if n >= 500000),
        "{row:?}"
    );
    assert_eq!(row[3], int(1));
    let errs = [
        ("XPENDING s g -", "ERR syntax error"),
        ("XPENDING s g - +", "ERR syntax error"),
        ("XPENDING s g - + 1 c extra extra extra", "ERR syntax error"),
        ("XPENDING s g IDLE 10 - +", "ERR syntax error"),
        ("XPENDING s g IDLE x - + 10", NOT_INTEGER),
        ("XPENDING s g - + x", NOT_INTEGER),
        ("XPENDING s g x + 10", INVALID),
        (
            "XPENDING s g (18446744073709551615-18446744073709551615 + 10",
            "ERR invalid start ID for the interval",
        ),
        (
            "XPENDING s nog",
            "NOGROUP No such key 's' or consumer group 'nog'",
        ),
        (
            "XPENDING nokey g - + 10",
            "NOGROUP No such key 'nokey' or consumer group 'g'",
        ),
    ];
    assert_errors(&mut r, &errs);
    assert_wrongtype(&mut r, "XPENDING str g");
    // XACK: how many were pending; nothing on a missing key or group, whatever the IDs.
    assert_eq!(c(&mut r, "XACK s g 1 1 2 9"), int(2));
    assert_eq!(c(&mut r, "XACK s g 1"), int(0));
    assert_eq!(c(&mut r, "XACK nokey g abc"), int(0));
    assert_eq!(c(&mut r, "XACK s nog abc"), int(0));
    assert_eq!(c(&mut r, "XACK s g 3 abc"), err(INVALID));
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![
            int(2),
            bulk("3-0"),
            bulk("4-0"),
            arr(vec![arr(vec![bulk("bob"), bulk("2")])])
        ])
    );
    assert_eq!(c(&mut r, "XACK str g 1"), err(WRONGTYPE));
}

#[test]
fn xclaim() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=5 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "XREADGROUP GROUP g alice COUNT 3 STREAMS s >");
    // Not idle long enough: nothing. Claimed: the entries, in argument order.
    assert_eq!(c(&mut r, "XCLAIM s g bob 3600000 1 2"), arr(vec![]));
    assert_eq!(
        c(&mut r, "XCLAIM s g bob 0 2 1"),
        arr(vec![entry("2-0", &["f", "2"]), entry("1-0", &["f", "1"])])
    );
    assert_eq!(
        pending_counts(c(&mut r, "XPENDING s g - + 10 bob")),
        [("1-0".into(), 2), ("2-0".into(), 2)]
    );
    // JUSTID does not count a delivery; RETRYCOUNT sets the count.
    assert_eq!(
        c(&mut r, "XCLAIM s g carol 0 1 JUSTID"),
        arr(vec![bulk("1-0")])
    );
    assert_eq!(
        c(&mut r, "XCLAIM s g carol 0 2 RETRYCOUNT 9 JUSTID"),
        arr(vec![bulk("2-0")])
    );
    assert_eq!(
        pending_counts(c(&mut r, "XPENDING s g - + 10 carol")),
        [("1-0".into(), 2), ("2-0".into(), 9)]
    );
    // Entries nobody holds: only with FORCE (count 2: created, then claimed), and only
    // if they exist.
    assert_eq!(c(&mut r, "XCLAIM s g dave 0 5"), arr(vec![]));
    assert_eq!(
        c(&mut r, "XCLAIM s g dave 0 5 99 FORCE"),
        arr(vec![entry("5-0", &["f", "5"])])
    );
    assert_eq!(
        pending_counts(c(&mut r, "XPENDING s g - + 10 dave")),
        [("5-0".into(), 2)]
    );
    // IDLE and TIME set the delivery time; bogus ones mean now.
    c(&mut r, "XCLAIM s g dave 0 5 IDLE 1000000 JUSTID");
    assert!(idle_of(&mut r, "5-0") >= 1000000);
    c(&mut r, "XCLAIM s g dave 0 5 TIME 1000 JUSTID");
    assert!(idle_of(&mut r, "5-0") > 1_000_000_000);
    c(&mut r, "XCLAIM s g dave 0 5 TIME 99999999999999 JUSTID");
    assert!(idle_of(&mut r, "5-0") < 1_000_000);
    c(&mut r, "XCLAIM s g dave 0 5 IDLE -5000000 JUSTID");
    assert!(idle_of(&mut r, "5-0") < 1_000_000);
    // LASTID raises the group's cursor, never lowers it.
    c(&mut r, "XCLAIM s g dave 0 5 LASTID 4-0 JUSTID");
    assert_eq!(
        group_info(&mut r, "s", "g")["last-delivered-id"],
        bulk("4-0")
    );
    c(&mut r, "XCLAIM s g dave 0 LASTID 1-0");
    assert_eq!(
        group_info(&mut r, "s", "g")["last-delivered-id"],
        bulk("4-0")
    );
    // A pending entry whose entry was deleted is dropped from the PEL.
    c(&mut r, "XDEL s 3");
    assert_eq!(
        c(&mut r, "XCLAIM s g bob 0 3 1"),
        arr(vec![entry("1-0", &["f", "1"])])
    );
    assert_eq!(
        ids_of_pending(c(&mut r, "XPENDING s g - + 10")),
        ["1-0", "2-0", "5-0"]
    );
    // The consumer is created even when nothing is claimed.
    c(&mut r, "XCLAIM s g erin 0 99");
    let names: Vec<_> = info_list(c(&mut r, "XINFO CONSUMERS s g"))
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert!(names.contains(&bulk("erin")), "{names:?}");
    let errs = [
        (
            "XCLAIM s nog c 0 1",
            "NOGROUP No such key 's' or consumer group 'nog'",
        ),
        (
            "XCLAIM nokey g c x 1",
            "NOGROUP No such key 'nokey' or consumer group 'g'",
        ),
        (
            "XCLAIM s g c x 1",
            "ERR Invalid min-idle-time argument for XCLAIM",
        ),
        (
            "XCLAIM s g c 0 1 FOO",
            "ERR Unrecognized XCLAIM option 'FOO'",
        ),
        (
            "XCLAIM s g c 0 1 FORCE 2",
            "ERR Unrecognized XCLAIM option '2'",
        ),
        (
            "XCLAIM s g c 0 1 IDLE x",
            "ERR Invalid IDLE option argument for XCLAIM",
        ),
        (
            "XCLAIM s g c 0 1 TIME x",
            "ERR Invalid TIME option argument for XCLAIM",
        ),
        (
            "XCLAIM s g c 0 1 RETRYCOUNT x",
            "ERR Invalid RETRYCOUNT option argument for XCLAIM",
        ),
        ("XCLAIM s g c 0 1 LASTID x", INVALID),
        (
            "XCLAIM s g c 0 1 IDLE",
            "ERR Unrecognized XCLAIM option 'IDLE'",
        ),
        (
            "XCLAIM s g c 0",
            "ERR wrong number of arguments for 'xclaim' command",
        ),
    ];
    assert_errors(&mut r, &errs);
    assert_wrongtype(&mut r, "XCLAIM str g c 0 1");
}

#[test]
fn xautoclaim() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    for i in 1..=6 {
        c(&mut r, &format!("XADD s {i} f {i}"));
    }
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "XREADGROUP GROUP g alice STREAMS s >");
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g bob 0 0 COUNT 2"),
        arr(vec![
            bulk("3-0"),
            arr(vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])]),
            arr(vec![])
        ])
    );
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g bob 0 3 COUNT 2 JUSTID"),
        arr(vec![
            bulk("5-0"),
            arr(vec![bulk("3-0"), bulk("4-0")]),
            arr(vec![])
        ])
    );
    // Exclusive start; the end of the PEL gives the cursor 0-0.
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g bob 0 (4 JUSTID"),
        arr(vec![
            bulk("0-0"),
            arr(vec![bulk("5-0"), bulk("6-0")]),
            arr(vec![])
        ])
    );
    // Not idle enough: nothing claimed, but the scan moves on.
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g carol 3600000 0 COUNT 1"),
        arr(vec![bulk("0-0"), arr(vec![]), arr(vec![])])
    );
    // Deleted entries are dropped and listed; they count against COUNT.
    c(&mut r, "XDEL s 1 2");
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g carol 0 0 COUNT 1"),
        arr(vec![bulk("2-0"), arr(vec![]), arr(vec![bulk("1-0")])])
    );
    assert_eq!(
        c(&mut r, "XAUTOCLAIM s g carol 0 0 COUNT 2 JUSTID"),
        arr(vec![
            bulk("4-0"),
            arr(vec![bulk("3-0")]),
            arr(vec![bulk("2-0")])
        ])
    );
    assert_eq!(
        pending_counts(c(&mut r, "XPENDING s g - + 10 carol")),
        [("3-0".into(), 1)]
    );
    let errs = [
        ("XAUTOCLAIM s g c 0 0 COUNT 0", "ERR COUNT must be > 0"),
        ("XAUTOCLAIM s g c 0 0 COUNT x", "ERR COUNT must be > 0"),
        (
            "XAUTOCLAIM s g c 0 0 COUNT 8070450532247928833",
            "ERR COUNT must be > 0",
        ),
        (
            "XAUTOCLAIM s g c x 0",
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ),
        (
            "XAUTOCLAIM nokey g c x 0",
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ),
        ("XAUTOCLAIM s g c 0 x", INVALID),
        (
            "XAUTOCLAIM s g c 0 (18446744073709551615-18446744073709551615",
            "ERR invalid start ID for the interval",
        ),
        ("XAUTOCLAIM s g c 0 0 FOO", "ERR syntax error"),
        ("XAUTOCLAIM s g c 0 0 COUNT", "ERR syntax error"),
        (
            "XAUTOCLAIM s nog c 0 0",
            "NOGROUP No such key 's' or consumer group 'nog'",
        ),
        (
            "XAUTOCLAIM nokey g c 0 0",
            "NOGROUP No such key 'nokey' or consumer group 'g'",
        ),
    ];
    assert_errors(&mut r, &errs);
    assert_wrongtype(&mut r, "XAUTOCLAIM str g c 0 0");
}

#[test]
fn xinfo() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(c(&mut r, "XINFO STREAM nokey"), err("ERR no such key"));
    assert_wrongtype(&mut r, "XINFO STREAM str");
    assert_eq!(c(&mut r, "XINFO GROUPS nokey"), err("ERR no such key"));
    c(&mut r, "XADD s 1 a 1");
    c(&mut r, "XADD s 2 b 2");
    c(&mut r, "XADD s 3 c 3");
    c(&mut r, "XDEL s 2");
    let info = info_map(c(&mut r, "XINFO STREAM s"));
    let keys: Vec<_> = info.keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "length",
            "radix-tree-keys",
            "radix-tree-nodes",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "groups",
            "first-entry",
            "last-entry"
        ]
    );
    assert_eq!(info["length"], int(2));
    assert_eq!(info["radix-tree-keys"], int(1));
    assert_eq!(info["radix-tree-nodes"], int(2));
    assert_eq!(info["last-generated-id"], bulk("3-0"));
    assert_eq!(info["max-deleted-entry-id"], bulk("2-0"));
    assert_eq!(info["entries-added"], int(3));
    assert_eq!(info["recorded-first-entry-id"], bulk("1-0"));
    assert_eq!(info["groups"], int(0));
    assert_eq!(info["first-entry"], entry("1-0", &["a", "1"]));
    assert_eq!(info["last-entry"], entry("3-0", &["c", "3"]));
    c(&mut r, "XADD e MAXLEN 0 1 a b");
    let info = info_map(c(&mut r, "XINFO STREAM e"));
    assert_eq!(info["first-entry"], Frame::Null);
    assert_eq!(info["last-entry"], Frame::Null);
    // FULL.
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "XREADGROUP GROUP g alice COUNT 1 STREAMS s >");
    c(&mut r, "XGROUP CREATECONSUMER s g bob");
    let full = info_map(c(&mut r, "XINFO STREAM s FULL"));
    let keys: Vec<_> = full.keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "length",
            "radix-tree-keys",
            "radix-tree-nodes",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "entries",
            "groups"
        ]
    );
    assert_eq!(ids(full["entries"].clone()), ["1-0", "3-0"]);
    let Frame::Array(groups) = full["groups"].clone() else {
        panic!()
    };
    let g = info_map(groups[0].clone());
    assert_eq!(
        g.keys().cloned().collect::<Vec<_>>(),
        [
            "name",
            "last-delivered-id",
            "entries-read",
            "lag",
            "pel-count",
            "pending",
            "consumers"
        ]
    );
    // Created at 0 (read counter unknown) on a stream with a deletion: it stays unknown.
    assert_eq!(g["entries-read"], Frame::Null);
    assert_eq!(g["lag"], Frame::Null);
    assert_eq!(g["pel-count"], int(1));
    let Frame::Array(consumers) = g["consumers"].clone() else {
        panic!()
    };
    let alice = info_map(consumers[0].clone());
    assert_eq!(
        alice.keys().cloned().collect::<Vec<_>>(),
        ["name", "seen-time", "active-time", "pel-count", "pending"]
    );
    let bob = info_map(consumers[1].clone());
    assert_eq!(bob["active-time"], int(-1));
    let full = info_map(c(&mut r, "XINFO STREAM s FULL COUNT 1"));
    assert_eq!(ids(full["entries"].clone()), ["1-0"]);
    let full = info_map(c(&mut r, "XINFO STREAM s FULL COUNT 0"));
    assert_eq!(ids(full["entries"].clone()), ["1-0", "3-0"]);
    let full = info_map(c(&mut r, "XINFO STREAM s FULL COUNT -1"));
    assert_eq!(ids(full["entries"].clone()), ["1-0", "3-0"]);
    let errs = [
        (
            "XINFO STREAM s FUL",
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
        ),
        (
            "XINFO STREAM s FULL COUNT",
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
        ),
        (
            "XINFO STREAM s FULL LIMIT 1",
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
        ),
        ("XINFO STREAM s FULL COUNT x", NOT_INTEGER),
        ("XINFO STREAM nokey FULL COUNT x", "ERR no such key"),
        (
            "XINFO CONSUMERS s nog",
            "NOGROUP No such consumer group 'nog' for key name 's'",
        ),
        (
            "XINFO CONSUMERS s",
            "ERR wrong number of arguments for 'xinfo|consumers' command",
        ),
        (
            "XINFO GROUPS s x",
            "ERR wrong number of arguments for 'xinfo|groups' command",
        ),
        (
            "XINFO FOO s",
            "ERR unknown subcommand 'FOO'. Try XINFO HELP.",
        ),
        (
            "XINFO HELP xxx",
            "ERR wrong number of arguments for 'xinfo|help' command",
        ),
    ];
    assert_errors(&mut r, &errs);
    let g = &info_list(c(&mut r, "XINFO GROUPS s"))[0];
    assert_eq!(
        g.keys().cloned().collect::<Vec<_>>(),
        [
            "name",
            "consumers",
            "pending",
            "last-delivered-id",
            "entries-read",
            "lag"
        ]
    );
    let cs = info_list(c(&mut r, "XINFO CONSUMERS s g"));
    assert_eq!(cs.len(), 2);
    assert_eq!(
        cs[0].keys().cloned().collect::<Vec<_>>(),
        ["name", "pending", "idle", "inactive"]
    );
    assert_eq!(cs[1]["inactive"], int(-1));
    let help = words_of(c(&mut r, "XINFO HELP"));
    assert_eq!(
        help,
        [
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Print this help."
        ]
    );
}

#[test]
fn lag_and_entries_read() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XGROUP CREATE x g1 0 MKSTREAM");
    let g = group_info(&mut r, "x", "g1");
    assert_eq!(
        (g["entries-read"].clone(), g["lag"].clone()),
        (Frame::Null, int(0))
    );
    for i in 1..=5 {
        c(&mut r, &format!("XADD x {i} f v"));
    }
    let g = group_info(&mut r, "x", "g1");
    assert_eq!(
        (g["entries-read"].clone(), g["lag"].clone()),
        (Frame::Null, int(5))
    );
    c(&mut r, "XREADGROUP GROUP g1 c COUNT 2 STREAMS x >");
    let g = group_info(&mut r, "x", "g1");
    assert_eq!(
        (g["entries-read"].clone(), g["lag"].clone()),
        (int(2), int(3))
    );
    c(&mut r, "XDEL x 4");
    let g = group_info(&mut r, "x", "g1");
    assert_eq!(
        (g["entries-read"].clone(), g["lag"].clone()),
        (int(2), Frame::Null)
    );
    c(&mut r, "XREADGROUP GROUP g1 c STREAMS x >");
    let g = group_info(&mut r, "x", "g1");
    assert_eq!(
        (g["entries-read"].clone(), g["lag"].clone()),
        (int(5), int(0))
    );
    c(&mut r, "XGROUP CREATE x g2 0 ENTRIESREAD 3");
    let g = group_info(&mut r, "x", "g2");
    assert_eq!(g["entries-read"], int(3));
}

#[test]
fn resp3_shapes() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "HELLO 3");
    c(&mut r, "XADD s 1 a 1");
    c(&mut r, "XADD t 2 b 2");
    // XREAD and XREADGROUP reply with a map of stream name to entries.
    assert_eq!(
        c(&mut r, "XREAD STREAMS s t 0 0"),
        Frame::Map(vec![
            (bulk("s"), arr(vec![entry("1-0", &["a", "1"])])),
            (bulk("t"), arr(vec![entry("2-0", &["b", "2"])])),
        ])
    );
    assert_eq!(c(&mut r, "XREAD STREAMS s 1"), Frame::Null);
    c(&mut r, "XGROUP CREATE s g 0");
    assert_eq!(
        c(&mut r, "XREADGROUP GROUP g c STREAMS s >"),
        Frame::Map(vec![(bulk("s"), arr(vec![entry("1-0", &["a", "1"])]))])
    );
    assert_eq!(c(&mut r, "XRANGE s - + COUNT 0"), Frame::Null);
    assert!(matches!(c(&mut r, "XINFO STREAM s"), Frame::Map(m) if m.len() == 10));
    assert!(matches!(c(&mut r, "XINFO STREAM s FULL"), Frame::Map(m) if m.len() == 9));
    assert!(
        matches!(c(&mut r, "XINFO GROUPS s"), Frame::Array(v) if matches!(&v[0], Frame::Map(m) if m.len() == 6))
    );
    assert!(
        matches!(c(&mut r, "XINFO CONSUMERS s g"), Frame::Array(v) if matches!(&v[0], Frame::Map(m) if m.len() == 4))
    );
    c(&mut r, "XACK s g 1");
    assert_eq!(
        c(&mut r, "XPENDING s g"),
        arr(vec![int(0), Frame::Null, Frame::Null, Frame::Null])
    );
    assert_eq!(c(&mut r, "XADD n NOMKSTREAM * a b"), Frame::Null);
}

#[test]
fn keyspace_events() {
    let srv = TestServer::start();
    // Not "KEAn": the server keeps the flags as CONFIG GET shows them, where A hides n.
    let (mut sub, mut r) = subscribe_events(&srv, "Etn");
    let got = events(
        &mut sub,
        &mut r,
        &[
            "XADD s 1 a b",
            "XADD s MAXLEN 1 2 a b",
            "XADD s 3 a b",
            "XADD nokey NOMKSTREAM 1 a b",
            "XDEL s 3",
            "XDEL s 99",
            "XTRIM s MAXLEN 0",
            "XTRIM s MAXLEN 0",
            "XSETID s 10",
            "XGROUP CREATE s g $",
            "XGROUP CREATE m g $ MKSTREAM",
            "XGROUP SETID s g 0",
            "XGROUP CREATECONSUMER s g c1",
            "XGROUP CREATECONSUMER s g c1",
            "XGROUP DELCONSUMER s g c1",
            "XGROUP DELCONSUMER s g c1",
            "XADD s 11 a b",
            "XREADGROUP GROUP g c2 STREAMS s >",
            "XREADGROUP GROUP g c2 STREAMS s >",
            "XACK s g 11",
            "XCLAIM s g c3 0 11",
            "XAUTOCLAIM s g c4 0 0",
            "XGROUP DESTROY s g",
            "XGROUP DESTROY s g",
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new s",
            "xadd s",
            "xadd s",
            "xtrim s",
            "xadd s",
            "xdel s",
            "xtrim s",
            "xsetid s",
            "xgroup-create s",
            "new m",
            "xgroup-create m",
            "xgroup-setid s",
            "xgroup-createconsumer s",
            "xgroup-delconsumer s",
            "xadd s",
            "xgroup-createconsumer s",
            "xgroup-createconsumer s",
            "xgroup-createconsumer s",
            "xgroup-destroy s",
        ])
    );
}

#[test]
fn dirty_counts() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let cases: &[(&str, u64)] = &[
        ("XADD s 1 a b", 1),
        ("XADD s 2 a b", 1),
        ("XADD s 3 a b", 1),
        ("XADD s MAXLEN 2 4 a b", 1),
        ("XADD nokey NOMKSTREAM 1 a b", 0),
        ("XADD s 1 a b", 0),
        ("XDEL s 3 4 99", 2),
        ("XDEL s 3", 0),
        ("XADD s 5 a b", 1),
        ("XADD s 6 a b", 1),
        ("XTRIM s MAXLEN 1", 1),
        ("XTRIM s MAXLEN 1", 0),
        ("XSETID s 10", 1),
        ("XGROUP CREATE s g 0", 1),
        ("XGROUP CREATE s g 0", 0),
        ("XGROUP CREATE m g 0 MKSTREAM", 1),
        ("XGROUP SETID s g 0", 1),
        ("XGROUP CREATECONSUMER s g c1", 1),
        ("XGROUP CREATECONSUMER s g c1", 0),
        ("XGROUP DELCONSUMER s g c1", 1),
        ("XGROUP DELCONSUMER s g c1", 0),
        ("XADD s 11 a b", 1),
        ("XADD s 12 a b", 1),
        // consumer created (1) + one served stream (1)
        ("XREADGROUP GROUP g c2 STREAMS s >", 2),
        // nothing new: the consumer exists, nothing served
        ("XREADGROUP GROUP g c2 STREAMS s >", 0),
        // 7.2 creates the consumer even when nothing is served
        ("XREADGROUP GROUP g idle STREAMS s >", 1),
        // history is always served
        ("XREADGROUP GROUP g c2 STREAMS s 0", 1),
        ("XREAD STREAMS s 0", 0),
        ("XACK s g 6 11 12 99", 3),
        ("XACK s g 11", 0),
        ("XGROUP SETID s g 0", 1),
        ("XREADGROUP GROUP g c2 STREAMS s >", 1),
        // consumer created + 3 claimed
        ("XCLAIM s g c3 0 6 11 12", 4),
        // LASTID raised with nothing claimed: an XGROUP SETID
        ("XCLAIM s g c3 0 LASTID 50", 1),
        ("XCLAIM s g c3 0 LASTID 50", 0),
        // consumer created + 3 claimed
        ("XAUTOCLAIM s g c4 0 0", 4),
        ("XGROUP DESTROY s g", 1),
        ("XGROUP DESTROY s g", 0),
        ("XLEN s", 0),
        ("XRANGE s - +", 0),
        ("XINFO STREAM s", 0),
    ];
    for &(cmd, want) in cases {
        let before = dirty(&mut r);
        let reply = c(&mut r, cmd);
        assert!(
            !matches!(reply, Frame::Error(_)) || want == 0,
            "{cmd}: {reply:?}"
        );
        assert_eq!(dirty(&mut r) - before, want, "{cmd}");
    }
}

#[test]
fn watch_sees_what_redis_signals() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut other = srv.raw();
    c(&mut r, "XADD s 1 a b");
    c(&mut r, "XGROUP CREATE s g 0");
    // signalModifiedKey: XADD, XDEL, XTRIM, XGROUP CREATE ... MKSTREAM.
    for (write, aborts) in [
        ("XADD s 2 a b", true),
        ("XDEL s 2", true),
        ("XTRIM s MAXLEN 0", true),
        ("XDEL s 99", false),
        ("XGROUP CREATE s g2 0", false),
        ("XGROUP SETID s g 0", false),
        ("XSETID s 100", false),
        ("XREADGROUP GROUP g c STREAMS s >", false),
        ("XGROUP CREATECONSUMER s g c9", false),
    ] {
        assert_eq!(c(&mut r, "WATCH s"), ok());
        c(&mut other, write);
        c(&mut r, "MULTI");
        c(&mut r, "PING");
        let got = c(&mut r, "EXEC");
        assert_eq!(got == Frame::Null, aborts, "{write}: {got:?}");
    }
    assert_eq!(c(&mut r, "WATCH m"), ok());
    c(&mut other, "XGROUP CREATE m g $ MKSTREAM");
    c(&mut r, "MULTI");
    c(&mut r, "PING");
    assert_eq!(c(&mut r, "EXEC"), Frame::Null);
}

#[test]
fn generic_key_commands_on_streams() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "XADD s 1 a 1");
    c(&mut r, "XADD s 2 b 2");
    c(&mut r, "XGROUP CREATE s g 0");
    c(&mut r, "XREADGROUP GROUP g alice COUNT 1 STREAMS s >");
    assert_eq!(c(&mut r, "TYPE s"), Frame::Simple("stream".into()));
    assert_eq!(c(&mut r, "OBJECT ENCODING s"), bulk("stream"));
    assert!(matches!(c(&mut r, "MEMORY USAGE s"), Frame::Integer(n) if n > 0));
    c(&mut r, "SET str x");
    let scanned = match c(&mut r, "SCAN 0 TYPE stream COUNT 1000") {
        Frame::Array(v) => words_of(v[1].clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(scanned, ["s"]);
    let full = strip_times(c(&mut r, "XINFO STREAM s FULL"));
    // COPY keeps entries, groups, PELs and consumers; the copy is independent.
    assert_eq!(c(&mut r, "COPY s s2"), int(1));
    assert_eq!(strip_times(c(&mut r, "XINFO STREAM s2 FULL")), full);
    c(&mut r, "XADD s2 3 c 3");
    assert_eq!(c(&mut r, "XLEN s"), int(2));
    assert_eq!(c(&mut r, "XLEN s2"), int(3));
    assert_eq!(c(&mut r, "RENAME s2 s3"), ok());
    assert_eq!(c(&mut r, "XLEN s3"), int(3));
    assert_eq!(c(&mut r, "MOVE s3 1"), int(1));
    c(&mut r, "SELECT 1");
    assert_eq!(c(&mut r, "XLEN s3"), int(3));
    assert_eq!(info_list(c(&mut r, "XINFO GROUPS s3")).len(), 1);
    c(&mut r, "SELECT 0");
    // DUMP / RESTORE.
    let Frame::Bulk(payload) = c(&mut r, "DUMP s") else {
        panic!()
    };
    assert_eq!(payload[0], 21, "RDB_TYPE_STREAM_LISTPACKS_3");
    r.send(&[b"RESTORE", b"r", b"0", &payload]);
    assert_eq!(r.read(), ok());
    assert_eq!(strip_times(c(&mut r, "XINFO STREAM r FULL")), full);
    // Deleting, lazily or not.
    assert_eq!(c(&mut r, "UNLINK r"), int(1));
    assert_eq!(c(&mut r, "DEL s"), int(1));
    c(&mut r, "CONFIG SET lazyfree-lazy-user-del yes");
    c(&mut r, "CONFIG SET stream-node-max-entries 2");
    for i in 1..=1000 {
        c(&mut r, &format!("XADD big {i} f v"));
    }
    c(&mut r, "XGROUP CREATE big g 0");
    c(&mut r, "XREADGROUP GROUP g c STREAMS big >");
    assert_eq!(c(&mut r, "DEL big"), int(1));
    assert_eq!(c(&mut r, "EXISTS big"), int(0));
    assert_eq!(c(&mut r, "FLUSHALL ASYNC"), ok());
}

#[test]
fn transactions_and_scripts() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    c(&mut r, "MULTI");
    c(&mut r, "XADD s 1 a b");
    c(&mut r, "XADD s 2 a b");
    c(&mut r, "XREAD BLOCK 0 STREAMS s 2");
    c(&mut r, "XLEN s");
    assert_eq!(
        c(&mut r, "EXEC"),
        arr(vec![bulk("1-0"), bulk("2-0"), Frame::Null, int(2)])
    );
    // Scripts cannot block.
    let got = cv(
        &mut r,
        &[
            "EVAL",
            "return redis.call('xread','BLOCK','0','STREAMS',KEYS[1],'$')",
            "1",
            "s",
        ],
    );
    let Frame::Error(e) = got else {
        panic!("{got:?}")
    };
    assert!(
        e.starts_with("ERR xread command is not allowed with BLOCK option from scripts"),
        "{e}"
    );
    let got = cv(
        &mut r,
        &[
            "EVAL",
            "return redis.call('XREADGROUP','GROUP','g','c','BLOCK','0','STREAMS',KEYS[1],'>')",
            "1",
            "s",
        ],
    );
    let Frame::Error(e) = got else {
        panic!("{got:?}")
    };
    assert!(
        e.starts_with("ERR XREADGROUP command is not allowed with BLOCK option from scripts"),
        "{e}"
    );
    let got = cv(
        &mut r,
        &[
            "EVAL",
            "return redis.call('xadd',KEYS[1],'*','a','b')",
            "1",
            "s",
        ],
    );
    assert!(matches!(got, Frame::Bulk(_)), "{got:?}");
    let got = cv(
        &mut r,
        &[
            "EVAL",
            "return redis.call('xread','STREAMS',KEYS[1],'0')",
            "1",
            "s",
        ],
    );
    assert!(
        matches!(got, Frame::Array(ref v) if v.len() == 1),
        "{got:?}"
    );
}
