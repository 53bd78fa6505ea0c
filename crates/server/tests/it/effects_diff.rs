//! The side effects of write commands, compared with a real redis-server command by command:
//! the keyspace events a subscriber receives (every class, keyspace and keyevent channels)
//! and how much `rdb_changes_since_last_save` (Redis's dirty counter) grows.
//!
//! Both servers run the same script. After each command a PUBLISH on a marker channel tells
//! the subscriber where that command's events end, so nothing waits on a timer. CI installs
//! redis-server 7.0; the script holds what 7.0 and 7.2 do alike, and the cases where 7.2 or
//! 7.4 differ are asserted directly in `tests/notify.rs`.

use cinnabar_resp::Frame;
use cinnabar_testkit::{text, RawConn, RealRedis, TestServer};

/// One command per line; blank lines and `#` comments are skipped. Arguments are split on
/// spaces; `''` is the empty string.
const SCRIPT: &str = r#"
# strings
SET s1 v
SET s1 v2
SET s1 v3 NX
SET s1 v3 XX
SET s2 v XX
SET s2 v NX
SET s3 v EX 100
SET s3 v PX 100000 GET
SET s3 w KEEPTTL
SET s4 v GET
SETNX s4 x
SETNX s5 x
SETEX s6 100 v
PSETEX s7 100000 v
GETSET s1 z
GETSET newgs z
GETDEL s2
GETDEL nosuch
GETEX s1 EX 100
GETEX s1 PERSIST
GETEX s1 PERSIST
GETEX s1
GETEX nosuch EX 10
MSET m1 a m2 b m3 c
MSET m1 a m4 d
MSETNX m1 x m9 y
MSETNX n1 x n2 y
APPEND s1 abc
APPEND newapp abc
SETRANGE s1 1 XY
SETRANGE s1 0 ''
SETRANGE nosuchr 0 ''
SETRANGE newsr 5 Z
INCR c1
INCR c1
INCRBY c1 10
DECR c1
DECRBY c1 3
INCRBYFLOAT f1 1.5
INCRBYFLOAT f1 2.5
INCR s1
# bits
SETBIT b1 7 1
SETBIT b1 7 1
SETBIT b1 7 0
SETBIT b1 100 0
BITFIELD b2 SET u8 0 255
BITFIELD b2 SET u8 0 255
BITFIELD b2 INCRBY u8 0 1
BITFIELD b2 GET u8 0
BITFIELD b3 GET u8 0
BITOP AND bdst b1 b2
BITOP OR bdst2 nosuch1 nosuch2
BITOP OR bdst nosuch1 nosuch2
# keys
DEL m1 m2 nosuch
DEL nosuch
UNLINK m3
EXISTS m4
TOUCH m4 nosuch
EXPIRE m4 100
EXPIRE m4 50 GT
EXPIRE m4 200 GT
EXPIRE m4 300 NX
EXPIRE m4 300 XX
PEXPIRE m4 500000
EXPIREAT m4 4102444800
PEXPIREAT m4 4102444800000
EXPIRE nosuch 100
PERSIST m4
PERSIST m4
EXPIRE m4 -1
SET r1 v
RENAME r1 r2
RENAME r2 r2
SET r3 v
RENAME r2 r3
RENAMENX r3 r3
SET r4 v
RENAMENX r3 r4
RENAMENX r3 r5
COPY r5 r6
COPY r5 r6
COPY r5 r6 REPLACE
COPY nosuch r7
COPY r5 r5copy DB 1
MOVE r6 1
MOVE r6 1
SET r6 v
MOVE r6 1
MOVE nosuch 1
# lists
LPUSH l1 a b c
RPUSH l1 d e
LPUSHX l1 z
LPUSHX nol z
RPUSHX l1 y
RPUSHX nol y
LINSERT l1 BEFORE a X
LINSERT l1 BEFORE nosuchpivot X
LINSERT nol BEFORE a X
LSET l1 0 first
LREM l1 0 X
LREM l1 0 nothere
LTRIM l1 0 4
LTRIM l1 0 -1
LTRIM nol 0 1
LPOP l1
RPOP l1
LPOP l1 2
LPOP nol
LPUSH l2 a b c
RPOPLPUSH l2 l3
RPOPLPUSH nol l3
LMOVE l2 l3 LEFT RIGHT
LMOVE l2 l2 LEFT RIGHT
LMOVE l2 l3 LEFT LEFT
LMPOP 2 nol l3 LEFT COUNT 5
LMPOP 1 nol RIGHT
RPUSH l4 only
LPOP l4
LPUSH l5 a
LTRIM l5 1 0
# sets
SADD st1 a b c
SADD st1 a d
SADD st1 a
SREM st1 a zz
SREM st1 zz
SREM nosuch a
SMOVE st1 st2 b
SMOVE st1 st2 zz
SADD st2 c
SMOVE st1 st2 c
SMOVE st2 st2 b
SADD st3 only
SPOP st3
SPOP st3
SADD st4 a b
SPOP st4 5
SADD sa 1 2 3
SADD sb 2 3 4
SINTERSTORE sdst sa sb
SUNIONSTORE sdst sa sb
SDIFFSTORE sdst sa sb
SINTERSTORE sdst sa nosuch
SINTERSTORE sdst2 sa nosuch
SREM sa 1 2 3
# hashes
HSET h1 f1 v1 f2 v2
HSET h1 f1 v1 f3 v3
HMSET h1 f4 v4
HSETNX h1 f1 x
HSETNX h1 f9 x
HDEL h1 f1 zz
HDEL h1 zz
HINCRBY h1 n 5
HINCRBY h1 n 5
HINCRBYFLOAT h1 fl 1.5
HDEL h1 f2 f3 f4 f9 n fl
# sorted sets
ZADD z1 1 a 2 b 3 c
ZADD z1 1 a
ZADD z1 5 a
ZADD z1 NX 9 a 4 d
ZADD z1 XX 9 zz
ZADD z1 XX CH 6 a
ZADD z1 GT 1 a
ZADD z1 LT 1 a
ZADD z1 INCR 2 a
ZADD z1 XX INCR 2 zz
ZINCRBY z1 1 b
ZINCRBY znew 1 b
ZREM z1 zz
ZREM z1 d
ZREMRANGEBYSCORE z1 100 200
ZREMRANGEBYSCORE z1 0 1
ZREMRANGEBYRANK z1 10 20
ZREMRANGEBYRANK z1 0 0
ZADD zl 0 a 0 b 0 c 0 d
ZREMRANGEBYLEX zl [a [b
ZREMRANGEBYLEX zl [x [y
ZPOPMIN zl
ZPOPMAX zl 5
ZPOPMIN zl
ZADD zm 1 a 2 b
ZMPOP 2 nosuch zm MIN COUNT 1
ZMPOP 1 zm MAX COUNT 10
ZMPOP 1 zm MAX
ZADD za 1 a 2 b
ZADD zb 2 b 3 c
ZUNIONSTORE zdst 2 za zb
ZINTERSTORE zdst 2 za zb
ZDIFFSTORE zdst 2 za zb
ZINTERSTORE zdst 2 za nosuch
ZINTERSTORE zdst2 2 za nosuch
ZRANGESTORE zdst3 za 0 -1
ZRANGESTORE zdst3 za 5 10
# sort
RPUSH sl 3 1 2
SORT sl STORE sortdst
SORT nosuch STORE sortdst
SORT sl
# transactions and scripts
MULTI
SET t1 a
INCR t2
DEL nosuch
EXEC
MULTI
DEL nosuch
EXEC
EVAL "redis.call('set', KEYS[1], 'x') redis.call('incr', KEYS[2]) return 1" 2 e1 e2
EVAL "return redis.call('get', KEYS[1])" 1 e1
EVAL "redis.call('del', 'nosuch') return 0" 0
# databases
SWAPDB 0 1
SWAPDB 0 1
FLUSHDB
FLUSHALL
FLUSHALL
"#;

/// Splits a script line into arguments: spaces separate them, `"..."` groups words, `''`
/// is the empty string.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closing quote");
            out.push(r[..end].to_string());
            rest = r[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let word = &rest[..end];
            out.push(if word == "''" {
                String::new()
            } else {
                word.to_string()
            });
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// One server under test: a connection for the script, one for INFO and the markers (the
/// script's may be inside MULTI), and a subscriber for every keyspace event plus the marker
/// channel.
/// One server seen by the comparison: a connection for the commands, one for INFO and
/// markers, and a subscriber to every keyspace event (also used by `streams_diff`).
pub(crate) struct Side {
    cmd: RawConn,
    ctl: RawConn,
    sub: RawConn,
    marks: u64,
}

impl Side {
    pub(crate) fn new(cmd: RawConn, mut ctl: RawConn, mut sub: RawConn) -> Side {
        assert_eq!(
            text(&ctl.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"])),
            "OK"
        );
        sub.send(&[b"PSUBSCRIBE", b"__key*__:*"]);
        sub.read();
        sub.send(&[b"SUBSCRIBE", b"mark"]);
        sub.read();
        Side {
            cmd,
            ctl,
            sub,
            marks: 0,
        }
    }

    fn dirty(&mut self) -> i64 {
        let info = text(&self.ctl.cmd(&["INFO", "persistence"]));
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .expect("rdb_changes_since_last_save in INFO")
            .trim()
            .parse()
            .unwrap()
    }

    /// Runs one command; returns its reply, the dirty growth and the events it raised.
    pub(crate) fn run<S: AsRef<str>>(&mut self, args: &[S]) -> (Frame, i64, Vec<String>) {
        let before = self.dirty();
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_ref().as_bytes()).collect();
        self.cmd.send(&argv);
        let reply = self.cmd.read();
        let after = self.dirty();
        self.marks += 1;
        let mark = self.marks.to_string();
        self.ctl.cmd(&["PUBLISH", "mark", &mark]);
        let mut events = Vec::new();
        loop {
            // The read has a 10 s timeout: a missing marker fails the test, never hangs it.
            let Frame::Array(msg) = self.sub.read() else {
                panic!("unexpected frame on the subscriber")
            };
            let words: Vec<String> = msg.iter().map(text).collect();
            if words[0] == "message" && words[1] == "mark" {
                assert_eq!(words[2], mark, "markers out of order");
                break;
            }
            // pmessage, pattern, channel, payload
            events.push(format!("{} {}", words[2], words[3]));
        }
        (reply, after - before, events)
    }
}

#[test]
fn write_commands_raise_the_events_and_changes_redis_raises() {
    let Some(real) = RealRedis::start(&[]) else {
        return;
    };
    let ours = TestServer::start();
    let mut a = Side::new(ours.raw(), ours.raw(), ours.raw());
    let mut b = Side::new(real.conn(), real.conn(), real.conn());
    let mut diffs = Vec::new();
    let mut n = 0;
    for line in SCRIPT.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args = split(line);
        let (ra, da, ea) = a.run(&args);
        let (rb, db, eb) = b.run(&args);
        n += 1;
        let (ta, tb) = (text(&ra), text(&rb));
        // Replies are compared only for their kind (error or not): values such as TTLs
        // may differ by a millisecond, and replies have their own tests.
        let kind = |t: &str| t.starts_with("ERR:");
        if da != db || ea != eb || kind(&ta) != kind(&tb) {
            diffs.push(format!(
                "{line}\n    ours:  dirty +{da} events {ea:?} reply {ta}\n    redis: dirty +{db} events {eb:?} reply {tb}"
            ));
        }
    }
    assert!(n > 130, "the script ran {n} commands");
    assert!(
        diffs.is_empty(),
        "{} of {n} commands differ from redis-server {:?}:\n{}",
        diffs.len(),
        real.version,
        diffs.join("\n")
    );
}
