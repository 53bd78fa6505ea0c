//! Behaviour shared by the collection families (lists, sets, hashes, sorted sets): keyspace
//! statistics, the encoding thresholds of the configuration.

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, ok, text, RawConn, TestServer};

fn stats(c: &mut RawConn) -> (i64, i64) {
    let info = text(&c.cmd(&["INFO", "stats"]));
    let num = |name: &str| -> i64 {
        info.split("\r\n")
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    (num("keyspace_hits"), num("keyspace_misses"))
}

/// INFO stats keyspace_hits / keyspace_misses: reads count as Redis's lookupKeyRead does
/// (one hit or miss per key looked up; a key of the wrong type is a hit, it was found),
/// writes as lookupKeyWrite (nothing). The expected deltas were taken from a real
/// redis-server running the same commands.
#[test]
fn collection_reads_count_hits_and_misses_like_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for setup in [
        &["RPUSH", "l", "a", "b", "c"][..],
        &["SADD", "s", "a", "b"],
        &["SADD", "s2", "b"],
        &["HSET", "h", "f", "v"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["SET", "str", "x"],
    ] {
        c.cmd(setup);
    }
    // (command, keyspace_hits delta, keyspace_misses delta), in order: later rows see the
    // effects of earlier ones.
    let table: &[(&str, i64, i64)] = &[
        ("LLEN l", 1, 0),
        ("LLEN nol", 0, 1),
        ("LLEN str", 1, 0),
        ("LRANGE l 0 -1", 1, 0),
        ("LRANGE nol 0 -1", 0, 1),
        ("LINDEX l 0", 1, 0),
        ("LINDEX nol 0", 0, 1),
        ("LPOS l a", 1, 0),
        ("LPOS nol a", 0, 1),
        ("LPUSH l x", 0, 0),
        ("LPOP l", 0, 0),
        ("LPOP nol", 0, 0),
        ("RPOPLPUSH nol l", 0, 0),
        ("LMOVE l l2 LEFT LEFT", 0, 0),
        ("LSET l 0 y", 0, 0),
        ("LTRIM nol 0 1", 0, 0),
        ("LINSERT l BEFORE y w", 0, 0),
        ("LREM l 0 q", 0, 0),
        ("SISMEMBER s a", 1, 0),
        ("SISMEMBER nos a", 0, 1),
        ("SMISMEMBER s a b", 1, 0),
        ("SMISMEMBER nos a", 0, 1),
        ("SCARD s", 1, 0),
        ("SCARD nos", 0, 1),
        ("SMEMBERS s", 1, 0),
        ("SMEMBERS nos", 0, 1),
        ("SRANDMEMBER s", 1, 0),
        ("SRANDMEMBER nos 2", 0, 1),
        ("SINTER s s2 nos", 2, 1),
        ("SUNION s nos", 1, 1),
        ("SDIFF s nos", 1, 1),
        ("SINTERCARD 2 s nos", 1, 1),
        ("SINTERSTORE d s nos", 1, 1),
        ("SUNIONSTORE d s nos", 1, 1),
        ("SSCAN s 0", 1, 0),
        ("SSCAN nos 0", 0, 1),
        ("SADD s c", 0, 0),
        ("SREM nos a", 0, 0),
        ("SPOP nos", 0, 0),
        ("SMOVE s nos2 a", 0, 0),
        ("SINTER s str s2", 2, 0),
        ("HGET h f", 1, 0),
        ("HGET noh f", 0, 1),
        ("HMGET h f g", 1, 0),
        ("HMGET noh f", 0, 1),
        ("HLEN h", 1, 0),
        ("HSTRLEN noh f", 0, 1),
        ("HEXISTS h f", 1, 0),
        ("HGETALL h", 1, 0),
        ("HKEYS noh", 0, 1),
        ("HVALS h", 1, 0),
        ("HRANDFIELD h", 1, 0),
        ("HRANDFIELD noh 2", 0, 1),
        ("HSCAN h 0", 1, 0),
        ("HSCAN noh 0", 0, 1),
        ("HSET h g 1", 0, 0),
        ("HDEL noh f", 0, 0),
        ("HINCRBY noh f 1", 0, 0),
        ("HSETNX h f 2", 0, 0),
        ("ZSCORE z a", 1, 0),
        ("ZSCORE noz a", 0, 1),
        ("ZMSCORE z a b", 1, 0),
        ("ZCARD noz", 0, 1),
        ("ZCOUNT z -inf +inf", 1, 0),
        ("ZLEXCOUNT noz - +", 0, 1),
        ("ZRANK z a", 1, 0),
        ("ZREVRANK noz a", 0, 1),
        ("ZRANGE z 0 -1", 1, 0),
        ("ZRANGE noz 0 -1", 0, 1),
        ("ZRANGEBYSCORE z -inf +inf", 1, 0),
        ("ZREVRANGEBYLEX noz + -", 0, 1),
        ("ZRANGESTORE d2 z 0 -1", 1, 0),
        ("ZRANGESTORE d3 noz 0 -1", 0, 1),
        ("ZRANDMEMBER z", 1, 0),
        ("ZRANDMEMBER noz 2", 0, 1),
        ("ZSCAN z 0", 1, 0),
        ("ZUNION 2 z noz", 1, 1),
        ("ZINTER 2 z noz", 1, 1),
        ("ZDIFF 2 z noz", 1, 1),
        ("ZUNIONSTORE d4 2 z noz", 1, 1),
        ("ZINTERCARD 2 z noz", 1, 1),
        ("ZUNION 3 z str noz", 2, 0),
        ("ZADD z 3 c", 0, 0),
        ("ZREM noz a", 0, 0),
        ("ZPOPMIN noz", 0, 0),
        ("ZINCRBY noz 1 a", 0, 0),
        ("ZREMRANGEBYRANK z 5 6", 0, 0),
        ("SORT l ALPHA", 1, 0),
        ("SORT nol", 0, 1),
    ];
    let mut wrong = Vec::new();
    for &(cmd, hits, misses) in table {
        let (h0, m0) = stats(&mut c);
        let words: Vec<&str> = cmd.split(' ').collect();
        c.cmd(&words);
        let (h1, m1) = stats(&mut c);
        if (h1 - h0, m1 - m0) != (hits, misses) {
            wrong.push(format!(
                "{cmd}: hits +{} misses +{}, want +{hits} +{misses}",
                h1 - h0,
                m1 - m0
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

fn encoding(c: &mut RawConn, key: &str) -> Frame {
    c.cmd(&["OBJECT", "ENCODING", key])
}

/// Every threshold parameter (under its current and its old ziplist name) applies to the next
/// write after CONFIG SET, and at start-up. (An intset past its limit becomes a hashtable,
/// as Redis's maybeConvertIntset does.)
#[test]
fn encoding_thresholds_follow_config_set() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for (param, setup, grow, key, small, big) in [
        (
            "list-max-ziplist-size",
            &["RPUSH", "l", "a", "b"][..],
            &["RPUSH", "l", "c"][..],
            "l",
            "listpack",
            "quicklist",
        ),
        (
            "set-max-intset-entries",
            &["SADD", "si", "1", "2"],
            &["SADD", "si", "3"],
            "si",
            "intset",
            "hashtable",
        ),
        (
            "set-max-listpack-entries",
            &["SADD", "sl", "a", "b"],
            &["SADD", "sl", "c"],
            "sl",
            "listpack",
            "hashtable",
        ),
        (
            "hash-max-ziplist-entries",
            &["HSET", "h", "a", "1", "b", "2"],
            &["HSET", "h", "c", "3"],
            "h",
            "listpack",
            "hashtable",
        ),
        (
            "zset-max-listpack-entries",
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZADD", "z", "3", "c"],
            "z",
            "listpack",
            "skiplist",
        ),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", param, "2"]), ok());
        c.cmd(setup);
        assert_eq!(encoding(&mut c, key), bulk(small), "{param}");
        c.cmd(grow);
        assert_eq!(encoding(&mut c, key), bulk(big), "{param}");
    }
    for (param, setup, key, big) in [
        (
            "set-max-listpack-value",
            &["SADD", "sv", "abcd"][..],
            "sv",
            "hashtable",
        ),
        (
            "hash-max-listpack-value",
            &["HSET", "hv", "f", "abcd"],
            "hv",
            "hashtable",
        ),
        (
            "zset-max-ziplist-value",
            &["ZADD", "zv", "1", "abcd"],
            "zv",
            "skiplist",
        ),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", param, "3"]), ok());
        c.cmd(setup);
        assert_eq!(encoding(&mut c, key), bulk(big), "{param}");
    }
    let srv = TestServer::with_args(&[("hash-max-listpack-entries", "1")]);
    let mut c = srv.raw();
    c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(encoding(&mut c, "h"), bulk("hashtable"));
}

/// WATCH fails an EXEC only when a watched collection really changed: writes that change
/// nothing (SADD of a present member, SMOVE of a member the destination holds, ZADD of the
/// same score...) do not touch it, as Redis signals modified keys only on change. The first
/// case is Redis's "SMOVE only notify dstset when the addition is successful".
#[test]
fn watch_ignores_writes_that_change_nothing() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    let setup: &[&[&str]] = &[
        &["SADD", "src", "a", "b"],
        &["SADD", "s", "a"],
        &["HSET", "h", "f", "v"],
        &["ZADD", "z", "1", "a"],
        &["RPUSH", "l", "a", "b"],
    ];
    for cmd in setup {
        c.cmd(cmd);
    }
    let cases: &[(&str, &[&str], bool)] = &[
        ("s", &["SMOVE", "src", "s", "a"], false),
        ("s", &["SADD", "s", "a"], false),
        ("s", &["SREM", "s", "zz"], false),
        ("s", &["SPOP", "s", "0"], false),
        ("s", &["SMOVE", "s", "s", "a"], false),
        ("h", &["HSETNX", "h", "f", "x"], false),
        ("h", &["HDEL", "h", "zz"], false),
        ("z", &["ZADD", "z", "1", "a"], false),
        ("z", &["ZADD", "z", "XX", "5", "zz"], false),
        ("z", &["ZINCRBY", "z", "0", "a"], false),
        ("z", &["ZREM", "z", "zz"], false),
        ("z", &["ZREMRANGEBYSCORE", "z", "5", "6"], false),
        ("z", &["ZPOPMIN", "z", "0"], false),
        ("l", &["LINSERT", "l", "BEFORE", "zz", "x"], false),
        ("l", &["LREM", "l", "0", "zz"], false),
        ("l", &["LPOP", "l", "0"], false),
        // Real changes still fail the transaction.
        ("s", &["SMOVE", "src", "s", "b"], true),
        ("z", &["ZADD", "z", "2", "a"], true),
        ("l", &["LTRIM", "l", "0", "-1"], true),
        ("h", &["HDEL", "h", "f"], true),
    ];
    for &(key, cmd, aborts) in cases {
        assert_eq!(c.cmd(&["WATCH", key]), ok());
        assert_eq!(c.cmd(&["MULTI"]), ok());
        c.cmd(&["PING"]);
        other.cmd(cmd);
        let want = if aborts {
            Frame::Null
        } else {
            Frame::Array(vec![Frame::Simple("PONG".into())])
        };
        assert_eq!(c.cmd(&["EXEC"]), want, "{cmd:?}");
    }
}

/// INFO persistence rdb_changes_since_last_save counts writes that changed something: a
/// blocking pop counts once, when served (not when it blocks, nor its first attempt on the
/// empty list), as Redis 7.2's "BLPOP/BLMOVE should increase dirty"; writes that change
/// nothing do not count.
#[test]
fn changes_since_save_count_effective_writes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut waiter = srv.raw();
    let stat = |c: &mut RawConn, section: &str, name: &str| -> i64 {
        let info = text(&c.cmd(&["INFO", section]));
        info.split("\r\n")
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    let changes = |c: &mut RawConn| stat(c, "persistence", "rdb_changes_since_last_save");
    for (block, want) in [
        (
            &["BLPOP", "lst", "0"][..],
            Frame::Array(vec![bulk("lst"), bulk("a")]),
        ),
        (&["BLMOVE", "lst", "lst1", "LEFT", "LEFT", "0"], bulk("a")),
    ] {
        let before = changes(&mut c);
        let words: Vec<&[u8]> = block.iter().map(|w| w.as_bytes()).collect();
        waiter.send(&words);
        c.wait_blocked(1);
        c.cmd(&["LPUSH", "lst", "a"]);
        assert_eq!(waiter.read(), want);
        assert_eq!(changes(&mut c) - before, 2, "{block:?}");
    }
    let before = changes(&mut c);
    c.cmd(&["LPOP", "nolist"]);
    c.cmd(&["SADD", "s", "m"]);
    c.cmd(&["SADD", "s", "m"]);
    c.cmd(&["HDEL", "nohash", "f"]);
    assert_eq!(changes(&mut c) - before, 1);
}
