//! Sorted set commands against a real server on a free port, through raw RESP (exact
//! replies, RESP2 and RESP3) and a randomized comparison with a simple model.

use std::collections::BTreeMap;

use cinnabar_resp::Frame;
use cinnabar_testkit::{RawConn, TestServer};

/// A compact text form of a reply, for short assertions: bulk strings as-is, `:n`
/// integers, `,x` doubles, `nil`, `-ERR ...` errors, `[a,b]` arrays.
fn show(f: &Frame) -> String {
    match f {
        Frame::Simple(s) => format!("+{s}"),
        Frame::Error(e) => format!("-{e}"),
        Frame::Integer(n) => format!(":{n}"),
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Null => "nil".into(),
        Frame::Double(d) => format!(",{d}"),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            format!("[{}]", v.iter().map(show).collect::<Vec<_>>().join(","))
        }
        other => format!("{other:?}"),
    }
}

/// Runs a command given as space-separated words and shows its reply.
fn q(r: &mut RawConn, cmd: &str) -> String {
    let words: Vec<&str> = cmd.split(' ').collect();
    show(&r.cmd(&words))
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn zadd_options_and_errors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(q(&mut r, "ZADD z 1 a 2 b 3 c"), ":3");
    assert_eq!(
        q(&mut r, "ZADD z NX XX 1 a"),
        "-ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut r, "ZADD z GT LT 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut r, "ZADD z GT NX 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut r, "ZADD z INCR 1 a 2 b"),
        "-ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        q(&mut r, "ZADD z 1"),
        "-ERR wrong number of arguments for 'zadd' command"
    );
    assert_eq!(q(&mut r, "ZADD z 1 a 2"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZADD z NX 1"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZADD z abc a"), "-ERR value is not a valid float");
    assert_eq!(q(&mut r, "ZADD z nan a"), "-ERR value is not a valid float");
    // Nothing is added when one score is invalid.
    assert_eq!(
        q(&mut r, "ZADD z 5 x abc y"),
        "-ERR value is not a valid float"
    );
    assert_eq!(q(&mut r, "ZSCORE z x"), "nil");
    assert_eq!(q(&mut r, "ZADD z INCR 5 a"), "6");
    assert_eq!(q(&mut r, "ZADD z INCR GT 1 a"), "7");
    assert_eq!(q(&mut r, "ZADD z INCR LT 1 a"), "nil");
    assert_eq!(q(&mut r, "ZADD z XX INCR 1 nokey"), "nil");
    assert_eq!(q(&mut r, "ZADD z NX INCR 1 a"), "nil");
    assert_eq!(q(&mut r, "ZADD z CH 10 a 2 b 7 d"), ":2");
    assert_eq!(q(&mut r, "ZADD z 10 a 2 b 8 d"), ":0");
    assert_eq!(q(&mut r, "ZADD z XX CH 11 a 1 new"), ":1");
    assert_eq!(q(&mut r, "ZSCORE z new"), "nil");
    assert_eq!(q(&mut r, "ZADD z NX 100 a 1 new"), ":1");
    assert_eq!(q(&mut r, "ZSCORE z a"), "11");
    assert_eq!(q(&mut r, "ZADD z GT CH 5 a 20 b"), ":1");
    assert_eq!(q(&mut r, "ZADD z LT CH 5 a 30 b"), ":1");
    assert_eq!(
        q(&mut r, "ZRANGE z 0 -1 WITHSCORES"),
        "[new,1,c,3,a,5,d,8,b,20]"
    );
    // GT/LT add new members.
    assert_eq!(q(&mut r, "ZADD z GT 1 g"), ":1");
    // XX on a missing key creates nothing.
    assert_eq!(q(&mut r, "ZADD z1 XX 1 a"), ":0");
    assert_eq!(q(&mut r, "EXISTS z1"), ":0");
    // Later pairs win; -0 and 0 are the same score.
    assert_eq!(q(&mut r, "ZADD dup 1 a 1 a 2 a"), ":1");
    assert_eq!(q(&mut r, "ZSCORE dup a"), "2");
    assert_eq!(q(&mut r, "ZADD dup -0 z"), ":1");
    assert_eq!(q(&mut r, "ZADD dup CH 0 z"), ":0");
    assert_eq!(q(&mut r, "ZSCORE dup z"), "-0");
}

#[test]
fn zincrby_and_nan() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(q(&mut r, "ZINCRBY z 1.5 a"), "1.5");
    assert_eq!(q(&mut r, "ZINCRBY z 0.1 a"), "1.6");
    assert_eq!(
        q(&mut r, "ZINCRBY z abc a"),
        "-ERR value is not a valid float"
    );
    assert_eq!(
        q(&mut r, "ZINCRBY z 1 a b"),
        "-ERR wrong number of arguments for 'zincrby' command"
    );
    assert_eq!(q(&mut r, "ZADD z inf x"), ":1");
    assert_eq!(
        q(&mut r, "ZINCRBY z -inf x"),
        "-ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        q(&mut r, "ZADD z INCR -inf x"),
        "-ERR resulting score is not a number (NaN)"
    );
    assert_eq!(q(&mut r, "ZSCORE z x"), "inf");
    assert_eq!(q(&mut r, "ZADD z 0.1 f 1e20 g 1e-7 h"), ":3");
    assert_eq!(q(&mut r, "ZMSCORE z f g h"), "[0.1,1e+20,1e-7]");
}

#[test]
fn zrem_card_score_rank() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(q(&mut r, "ZCARD z"), ":0");
    assert_eq!(q(&mut r, "ZREM z a"), ":0");
    assert_eq!(q(&mut r, "ZADD z 1 a 2 b 3 c"), ":3");
    assert_eq!(q(&mut r, "ZCARD z"), ":3");
    assert_eq!(q(&mut r, "ZMSCORE z a nothere c"), "[1,nil,3]");
    assert_eq!(q(&mut r, "ZMSCORE nokey a b"), "[nil,nil]");
    assert_eq!(q(&mut r, "ZRANK z a"), ":0");
    assert_eq!(q(&mut r, "ZRANK z c"), ":2");
    assert_eq!(q(&mut r, "ZREVRANK z c"), ":0");
    assert_eq!(q(&mut r, "ZRANK z nothere"), "nil");
    assert_eq!(q(&mut r, "ZRANK nokey a"), "nil");
    assert_eq!(q(&mut r, "ZRANK z b WITHSCORE"), "[:1,2]");
    assert_eq!(q(&mut r, "ZREVRANK z b withscore"), "[:1,2]");
    assert_eq!(q(&mut r, "ZRANK z nothere WITHSCORE"), "nil");
    assert_eq!(q(&mut r, "ZRANK z b FOO"), "-ERR syntax error");
    assert_eq!(
        q(&mut r, "ZRANK z b WITHSCORE x"),
        "-ERR wrong number of arguments for 'zrank' command"
    );
    assert_eq!(q(&mut r, "ZREM z a nothere a"), ":1");
    assert_eq!(q(&mut r, "ZREM z b c"), ":2");
    assert_eq!(q(&mut r, "EXISTS z"), ":0");
}

#[test]
fn zrange_variants() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(q(&mut r, "ZRANGE z 0 -1"), "[a,b,c,d,e]");
    assert_eq!(q(&mut r, "ZRANGE z 1 2 WITHSCORES"), "[b,2,c,3]");
    assert_eq!(q(&mut r, "ZRANGE z 0 1 REV WITHSCORES"), "[e,5,d,4]");
    assert_eq!(q(&mut r, "ZRANGE z -2 -1"), "[d,e]");
    assert_eq!(q(&mut r, "ZRANGE z -100 100"), "[a,b,c,d,e]");
    assert_eq!(q(&mut r, "ZRANGE z 3 1"), "[]");
    assert_eq!(q(&mut r, "ZRANGE z 5 10"), "[]");
    assert_eq!(q(&mut r, "ZRANGE nokey 0 -1"), "[]");
    assert_eq!(
        q(&mut r, "ZRANGE z 0 -1 LIMIT 0 1"),
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        q(&mut r, "ZRANGE z 0 a"),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut r, "ZRANGE z 0 1 FOO"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZRANGE z 0 1 BYSCORE BYLEX"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZRANGE z (1 4 BYSCORE"), "[b,c,d]");
    assert_eq!(
        q(&mut r, "ZRANGE z (4 (1 BYSCORE REV WITHSCORES"),
        "[c,3,b,2]"
    );
    assert_eq!(q(&mut r, "ZRANGE z -inf +inf BYSCORE LIMIT 1 2"), "[b,c]");
    assert_eq!(
        q(&mut r, "ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2"),
        "[d,c]"
    );
    assert_eq!(q(&mut r, "ZRANGE z -inf +inf BYSCORE LIMIT -1 2"), "[]");
    assert_eq!(q(&mut r, "ZRANGE z -inf +inf BYSCORE LIMIT 3 -1"), "[d,e]");
    assert_eq!(q(&mut r, "ZRANGE z -inf +inf BYSCORE LIMIT 0 0"), "[]");
    assert_eq!(
        q(&mut r, "ZRANGE z x y BYSCORE"),
        "-ERR min or max is not a float"
    );
    assert_eq!(
        q(&mut r, "ZRANGE z - + BYLEX WITHSCORES"),
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        q(&mut r, "ZRANGE z a b BYLEX"),
        "-ERR min or max not valid string range item"
    );
    assert_eq!(
        q(&mut r, "ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 2"),
        "[b,2,c,3]"
    );
    assert_eq!(q(&mut r, "ZRANGEBYSCORE z (2 (5"), "[c,d]");
    assert_eq!(
        q(&mut r, "ZRANGEBYSCORE z 2 a"),
        "-ERR min or max is not a float"
    );
    assert_eq!(q(&mut r, "ZRANGEBYSCORE z 3 1"), "[]");
    assert_eq!(
        q(&mut r, "ZREVRANGEBYSCORE z 4 2 WITHSCORES"),
        "[d,4,c,3,b,2]"
    );
    assert_eq!(q(&mut r, "ZREVRANGEBYSCORE z 2 4"), "[]");
    assert_eq!(q(&mut r, "ZREVRANGE z 0 1 WITHSCORES"), "[e,5,d,4]");
    assert_eq!(q(&mut r, "ZREVRANGE z 0 1 REV"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZCOUNT z -inf +inf"), ":5");
    assert_eq!(q(&mut r, "ZCOUNT z (1 3"), ":2");
    assert_eq!(q(&mut r, "ZCOUNT z a 3"), "-ERR min or max is not a float");
    assert_eq!(q(&mut r, "ZCOUNT nokey 1 2"), ":0");

    q(&mut r, "ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f");
    assert_eq!(q(&mut r, "ZRANGEBYLEX lex - +"), "[a,b,c,d,e,f]");
    assert_eq!(q(&mut r, "ZRANGEBYLEX lex [b (e"), "[b,c,d]");
    assert_eq!(q(&mut r, "ZRANGEBYLEX lex (b [e LIMIT 1 2"), "[d,e]");
    assert_eq!(q(&mut r, "ZREVRANGEBYLEX lex [e (b"), "[e,d,c]");
    assert_eq!(q(&mut r, "ZREVRANGEBYLEX lex + - LIMIT 0 2"), "[f,e]");
    assert_eq!(q(&mut r, "ZRANGEBYLEX lex + -"), "[]");
    assert_eq!(
        q(&mut r, "ZRANGEBYLEX lex b e"),
        "-ERR min or max not valid string range item"
    );
    assert_eq!(
        q(&mut r, "ZRANGEBYLEX lex +a -"),
        "-ERR min or max not valid string range item"
    );
    assert_eq!(
        q(&mut r, "ZRANGEBYLEX lex - + WITHSCORES"),
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(q(&mut r, "ZLEXCOUNT lex - +"), ":6");
    assert_eq!(q(&mut r, "ZLEXCOUNT lex [b [d"), ":3");
    assert_eq!(
        q(&mut r, "ZLEXCOUNT lex x y"),
        "-ERR min or max not valid string range item"
    );
}

#[test]
fn zrangestore_and_encodings() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD src 1 a 2 b 3 c 4 d");
    assert_eq!(q(&mut r, "ZRANGESTORE dst src 0 1"), ":2");
    assert_eq!(q(&mut r, "ZRANGE dst 0 -1 WITHSCORES"), "[a,1,b,2]");
    assert_eq!(q(&mut r, "OBJECT ENCODING dst"), "listpack");
    // Redis 7.2 creates the destination of a score or lex range as a skiplist.
    assert_eq!(
        q(&mut r, "ZRANGESTORE dst src (1 +inf BYSCORE LIMIT 0 2"),
        ":2"
    );
    assert_eq!(q(&mut r, "ZRANGE dst 0 -1"), "[b,c]");
    assert_eq!(q(&mut r, "OBJECT ENCODING dst"), "skiplist");
    assert_eq!(q(&mut r, "ZRANGESTORE dst src 0 1 REV"), ":2");
    assert_eq!(q(&mut r, "ZRANGE dst 0 -1"), "[c,d]");
    assert_eq!(q(&mut r, "SET str x"), "+OK");
    assert_eq!(q(&mut r, "EXPIRE dst 100"), ":1");
    assert_eq!(q(&mut r, "ZRANGESTORE dst src 0 0"), ":1");
    assert_eq!(q(&mut r, "TTL dst"), ":-1");
    assert_eq!(q(&mut r, "ZRANGESTORE dst src 5 10"), ":0");
    assert_eq!(q(&mut r, "EXISTS dst"), ":0");
    assert_eq!(q(&mut r, "ZRANGESTORE dst nokey 0 -1"), ":0");
    assert_eq!(
        q(&mut r, "ZRANGESTORE dst src 0 1 WITHSCORES"),
        "-ERR syntax error"
    );
    assert_eq!(q(&mut r, "ZRANGESTORE dst str 0 1"), WRONGTYPE);
    // A string destination is overwritten.
    assert_eq!(q(&mut r, "ZRANGESTORE str src 0 0"), ":1");
    assert_eq!(q(&mut r, "TYPE str"), "+zset");

    // Conversion by number of entries and by member length, following the config.
    assert_eq!(q(&mut r, "CONFIG SET zset-max-listpack-entries 4"), "+OK");
    q(&mut r, "ZADD small 1 a 2 b 3 c 4 d");
    assert_eq!(q(&mut r, "OBJECT ENCODING small"), "listpack");
    q(&mut r, "ZADD small 5 e");
    assert_eq!(q(&mut r, "OBJECT ENCODING small"), "skiplist");
    // Removing elements does not convert back.
    q(&mut r, "ZREM small a b c d");
    assert_eq!(q(&mut r, "OBJECT ENCODING small"), "skiplist");
    // More pairs than the limit in one ZADD converts right away.
    q(&mut r, "ZADD many 1 a 1 a 1 a 1 a 1 a");
    assert_eq!(q(&mut r, "OBJECT ENCODING many"), "skiplist");
    let long = "x".repeat(65);
    assert_eq!(show(&r.cmd(&["ZADD", "long", "1", &long])), ":1");
    assert_eq!(q(&mut r, "OBJECT ENCODING long"), "skiplist");
    q(&mut r, "ZADD short 1 a");
    assert_eq!(show(&r.cmd(&["ZADD", "short", "1", &long])), ":1");
    assert_eq!(q(&mut r, "OBJECT ENCODING short"), "skiplist");
    // Store results that fit come back as listpack.
    assert_eq!(q(&mut r, "ZUNIONSTORE u 1 small"), ":1");
    assert_eq!(q(&mut r, "OBJECT ENCODING u"), "listpack");
    assert_eq!(q(&mut r, "CONFIG SET zset-max-listpack-entries 0"), "+OK");
    q(&mut r, "ZADD zero 1 a");
    assert_eq!(q(&mut r, "OBJECT ENCODING zero"), "skiplist");
    assert_eq!(q(&mut r, "ZRANGESTORE zero2 zero 0 -1"), ":1");
    assert_eq!(q(&mut r, "OBJECT ENCODING zero2"), "skiplist");
}

#[test]
fn zremrange() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(
        q(&mut r, "ZREMRANGEBYRANK z a 0"),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut r, "ZREMRANGEBYRANK z 0 0"), ":1");
    assert_eq!(q(&mut r, "ZREMRANGEBYRANK z -1 -1"), ":1");
    assert_eq!(q(&mut r, "ZREMRANGEBYRANK z 5 1"), ":0");
    assert_eq!(q(&mut r, "ZRANGE z 0 -1"), "[b,c,d]");
    assert_eq!(
        q(&mut r, "ZREMRANGEBYSCORE z x 2"),
        "-ERR min or max is not a float"
    );
    assert_eq!(q(&mut r, "ZREMRANGEBYSCORE z (2 3"), ":1");
    assert_eq!(q(&mut r, "ZREMRANGEBYSCORE z -inf +inf"), ":2");
    assert_eq!(q(&mut r, "EXISTS z"), ":0");
    assert_eq!(q(&mut r, "ZREMRANGEBYSCORE z -inf +inf"), ":0");
    q(&mut r, "ZADD lex 0 a 0 b 0 c 0 d");
    assert_eq!(
        q(&mut r, "ZREMRANGEBYLEX lex x +"),
        "-ERR min or max not valid string range item"
    );
    assert_eq!(q(&mut r, "ZREMRANGEBYLEX lex (a [c"), ":2");
    assert_eq!(q(&mut r, "ZRANGE lex 0 -1"), "[a,d]");
    assert_eq!(q(&mut r, "ZREMRANGEBYLEX lex - +"), ":2");
    assert_eq!(q(&mut r, "EXISTS lex"), ":0");
}

#[test]
fn pops() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD p 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(q(&mut r, "ZPOPMIN p"), "[a,1]");
    assert_eq!(q(&mut r, "ZPOPMAX p 2"), "[e,5,d,4]");
    assert_eq!(q(&mut r, "ZPOPMIN p 0"), "[]");
    assert_eq!(
        q(&mut r, "ZPOPMIN p -1"),
        "-ERR value is out of range, must be positive"
    );
    assert_eq!(
        q(&mut r, "ZPOPMIN p a"),
        "-ERR value is out of range, must be positive"
    );
    assert_eq!(q(&mut r, "ZPOPMIN p 1 2"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZPOPMIN nokey"), "[]");
    assert_eq!(q(&mut r, "ZPOPMAX nokey 3"), "[]");
    assert_eq!(q(&mut r, "ZPOPMAX p 10"), "[c,3,b,2]");
    assert_eq!(q(&mut r, "EXISTS p"), ":0");

    q(&mut r, "ZADD p 1 a 2 b 3 c");
    assert_eq!(q(&mut r, "ZMPOP 1 p MIN"), "[p,[[a,1]]]");
    assert_eq!(
        q(&mut r, "ZMPOP 2 nokey p MAX COUNT 5"),
        "[p,[[c,3],[b,2]]]"
    );
    assert_eq!(q(&mut r, "EXISTS p"), ":0");
    assert_eq!(q(&mut r, "ZMPOP 1 p MIN"), "nil");
    assert_eq!(
        q(&mut r, "ZMPOP 0 p MIN"),
        "-ERR numkeys should be greater than 0"
    );
    assert_eq!(
        q(&mut r, "ZMPOP a p MIN"),
        "-ERR numkeys should be greater than 0"
    );
    assert_eq!(
        q(&mut r, "ZMPOP 1 p"),
        "-ERR wrong number of arguments for 'zmpop' command"
    );
    assert_eq!(q(&mut r, "ZMPOP 2 p MIN"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZMPOP 1 p FOO"), "-ERR syntax error");
    assert_eq!(
        q(&mut r, "ZMPOP 1 p MIN COUNT 0"),
        "-ERR count should be greater than 0"
    );
    assert_eq!(
        q(&mut r, "ZMPOP 1 p MIN COUNT 1 COUNT 2"),
        "-ERR syntax error"
    );
    assert_eq!(q(&mut r, "ZMPOP 5 p MIN"), "-ERR syntax error");
    q(&mut r, "SET s x");
    assert_eq!(q(&mut r, "ZMPOP 2 nokey s MIN"), WRONGTYPE);
}

#[test]
fn zrandmember() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(q(&mut r, "ZRANDMEMBER nokey"), "nil");
    assert_eq!(q(&mut r, "ZRANDMEMBER nokey 5"), "[]");
    q(&mut r, "ZADD z 1 a 2 b 3 c");
    assert_eq!(q(&mut r, "ZRANDMEMBER z 0"), "[]");
    assert_eq!(q(&mut r, "ZRANDMEMBER z -9223372036854775808"), "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    assert_eq!(
        q(&mut r, "ZRANDMEMBER z -9223372036854770000 WITHSCORES"),
        "-ERR value is out of range"
    );
    assert_eq!(q(&mut r, "ZRANDMEMBER z 5 FOO"), "-ERR syntax error");
    assert_eq!(
        q(&mut r, "ZRANDMEMBER z a"),
        "-ERR value is not an integer or out of range"
    );
    // The whole set, highest first, when count reaches the size.
    assert_eq!(q(&mut r, "ZRANDMEMBER z 5 WITHSCORES"), "[c,3,b,2,a,1]");
    let one = q(&mut r, "ZRANDMEMBER z");
    assert!(["a", "b", "c"].contains(&one.as_str()), "{one}");
    for big in [false, true] {
        if big {
            for i in 0..300 {
                r.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
            }
            assert_eq!(q(&mut r, "OBJECT ENCODING z"), "skiplist");
        }
        let Frame::Array(v) = r.cmd(&["ZRANDMEMBER", "z", "-20", "WITHSCORES"]) else {
            panic!()
        };
        assert_eq!(v.len(), 40);
        let Frame::Array(v) = r.cmd(&["ZRANDMEMBER", "z", "2"]) else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        assert_ne!(v[0], v[1]);
    }
    let Frame::Array(v) = r.cmd(&["ZRANDMEMBER", "z", "200"]) else {
        panic!()
    };
    let mut names: Vec<String> = v.iter().map(show).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 200);
}

#[test]
fn set_operations() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD u1 1 a 2 b 3 c");
    q(&mut r, "ZADD u2 10 b 20 c 30 d");
    assert_eq!(q(&mut r, "ZUNION 2 u1 u2"), "[a,b,c,d]");
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 WITHSCORES"),
        "[a,1,b,12,c,23,d,30]"
    );
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 WEIGHTS 2 3 WITHSCORES"),
        "[a,2,b,34,c,66,d,90]"
    );
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 AGGREGATE MIN WITHSCORES"),
        "[a,1,b,2,c,3,d,30]"
    );
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 AGGREGATE max WITHSCORES"),
        "[a,1,b,10,c,20,d,30]"
    );
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 AGGREGATE FOO"),
        "-ERR syntax error"
    );
    assert_eq!(q(&mut r, "ZUNION 2 u1 u2 WEIGHTS 1"), "-ERR syntax error");
    assert_eq!(
        q(&mut r, "ZUNION 2 u1 u2 WEIGHTS 1 x"),
        "-ERR weight value is not a float"
    );
    assert_eq!(
        q(&mut r, "ZUNION 0 u1"),
        "-ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        q(&mut r, "ZUNIONSTORE out 0 u1"),
        "-ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(q(&mut r, "ZUNION 3 u1 u2"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZUNION 2 u1 nokey WITHSCORES"), "[a,1,b,2,c,3]");
    assert_eq!(q(&mut r, "ZINTER 2 u1 u2 WITHSCORES"), "[b,12,c,23]");
    assert_eq!(
        q(
            &mut r,
            "ZINTER 2 u1 u2 WEIGHTS 1 0 AGGREGATE SUM WITHSCORES"
        ),
        "[b,2,c,3]"
    );
    assert_eq!(q(&mut r, "ZINTER 2 u1 u1 WITHSCORES"), "[a,2,b,4,c,6]");
    assert_eq!(q(&mut r, "ZINTER 2 u1 nokey"), "[]");
    assert_eq!(q(&mut r, "ZDIFF 2 u1 u2 WITHSCORES"), "[a,1]");
    assert_eq!(q(&mut r, "ZDIFF 2 u1 u2 WEIGHTS 1 2"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZDIFF 1 u1"), "[a,b,c]");
    assert_eq!(q(&mut r, "ZUNIONSTORE out 2 u1 u2"), ":4");
    assert_eq!(
        q(&mut r, "ZRANGE out 0 -1 WITHSCORES"),
        "[a,1,b,12,c,23,d,30]"
    );
    assert_eq!(
        q(&mut r, "ZUNIONSTORE out 2 u1 u2 WITHSCORES"),
        "-ERR syntax error"
    );
    assert_eq!(q(&mut r, "ZINTERSTORE out 2 u1 u2 AGGREGATE MAX"), ":2");
    assert_eq!(q(&mut r, "ZRANGE out 0 -1 WITHSCORES"), "[b,10,c,20]");
    assert_eq!(q(&mut r, "ZDIFFSTORE out 2 u1 u2"), ":1");
    assert_eq!(q(&mut r, "ZRANGE out 0 -1 WITHSCORES"), "[a,1]");
    assert_eq!(q(&mut r, "ZINTERSTORE out 2 nokey u2"), ":0");
    assert_eq!(q(&mut r, "EXISTS out"), ":0");
    // The destination may be a source.
    assert_eq!(q(&mut r, "ZUNIONSTORE u1 2 u1 u2"), ":4");
    assert_eq!(
        q(&mut r, "ZRANGE u1 0 -1 WITHSCORES"),
        "[a,1,b,12,c,23,d,30]"
    );
    q(&mut r, "ZADD i1 1 a 2 b 3 c");
    assert_eq!(q(&mut r, "ZINTERCARD 2 i1 u2"), ":2");
    assert_eq!(q(&mut r, "ZINTERCARD 2 i1 u2 LIMIT 1"), ":1");
    assert_eq!(q(&mut r, "ZINTERCARD 2 i1 u2 LIMIT 0"), ":2");
    assert_eq!(
        q(&mut r, "ZINTERCARD 2 i1 u2 LIMIT -1"),
        "-ERR LIMIT can't be negative"
    );
    assert_eq!(
        q(&mut r, "ZINTERCARD 2 i1 u2 LIMIT a"),
        "-ERR LIMIT can't be negative"
    );
    assert_eq!(
        q(&mut r, "ZINTERCARD 0 i1"),
        "-ERR at least 1 input key is needed for 'zintercard' command"
    );
    assert_eq!(
        q(&mut r, "ZINTERCARD 2 i1 u2 WITHSCORES"),
        "-ERR syntax error"
    );
    // inf + -inf is 0; 0 * inf is 0.
    q(&mut r, "ZADD inf1 inf a -inf b");
    q(&mut r, "ZADD inf2 -inf a inf b");
    assert_eq!(q(&mut r, "ZUNION 2 inf1 inf2 WITHSCORES"), "[a,0,b,0]");
    assert_eq!(
        q(&mut r, "ZUNION 2 inf1 inf2 WEIGHTS 0 1 WITHSCORES"),
        "[a,-inf,b,inf]"
    );
    q(&mut r, "SET str x");
    assert_eq!(q(&mut r, "ZUNION 2 u1 str"), WRONGTYPE);
    // The type check comes before option parsing.
    assert_eq!(q(&mut r, "ZUNION 2 str u1 FOO"), WRONGTYPE);
    // Sets are sources with score 1 (checked where the set commands are registered).
    if q(&mut r, "SADD set a d x") == ":3" {
        assert_eq!(
            q(&mut r, "ZUNION 2 set i1 WITHSCORES"),
            "[d,1,x,1,a,2,b,2,c,3]"
        );
        assert_eq!(q(&mut r, "ZINTER 2 set i1 WEIGHTS 5 1 WITHSCORES"), "[a,6]");
        assert_eq!(q(&mut r, "ZDIFF 2 set i1"), "[d,x]");
        assert_eq!(q(&mut r, "ZINTERCARD 2 set i1"), ":1");
        assert_eq!(q(&mut r, "ZUNIONSTORE out 1 set"), ":3");
        assert_eq!(q(&mut r, "ZRANGE out 0 -1 WITHSCORES"), "[a,1,d,1,x,1]");
        assert_eq!(q(&mut r, "ZRANGE set 0 -1"), WRONGTYPE);
    }
}

#[test]
fn zscan() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(q(&mut r, "ZSCAN nokey 0"), "[0,[]]");
    q(&mut r, "ZADD z 1 a 2.5 b 0.1 c");
    assert_eq!(q(&mut r, "ZSCAN z 0"), "[0,[c,0.1,a,1,b,2.5]]");
    assert_eq!(q(&mut r, "ZSCAN z 0 MATCH a*"), "[0,[a,1]]");
    assert_eq!(q(&mut r, "ZSCAN z 0 COUNT 0"), "-ERR syntax error");
    assert_eq!(
        q(&mut r, "ZSCAN z 0 COUNT x"),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut r, "ZSCAN z 0 FOO bar"), "-ERR syntax error");
    assert_eq!(q(&mut r, "ZSCAN z abc"), "-ERR invalid cursor");
    for i in 0..500 {
        r.cmd(&["ZADD", "big", &format!("{i}.1"), &format!("m{i}")]);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Frame::Array(v) = r.cmd(&["ZSCAN", "big", &cursor, "COUNT", "37"]) else {
            panic!()
        };
        cursor = show(&v[0]);
        let Frame::Array(items) = &v[1] else { panic!() };
        for pair in items.chunks(2) {
            let m = show(&pair[0]);
            let i: usize = m[1..].parse().unwrap();
            assert!(
                show(&pair[1]).starts_with(&format!("{i}.")),
                "{}",
                show(&pair[1])
            );
            seen.insert(m);
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    // Skiplist scores use %.17g, as Redis's ZSCAN does.
    assert_eq!(
        q(&mut r, "ZSCAN big 0 MATCH m499 COUNT 1000"),
        "[0,[m499,499.10000000000002]]"
    );
}

#[test]
fn wrongtype_everywhere() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "SET s x");
    q(&mut r, "ZADD z 1 a");
    for cmd in [
        "ZADD s 1 a",
        "ZINCRBY s 1 a",
        "ZREM s a",
        "ZCARD s",
        "ZSCORE s a",
        "ZMSCORE s a",
        "ZCOUNT s 0 1",
        "ZLEXCOUNT s - +",
        "ZRANK s a",
        "ZREVRANK s a",
        "ZRANGE s 0 1",
        "ZRANGESTORE d s 0 1",
        "ZREVRANGE s 0 1",
        "ZRANGEBYSCORE s 0 1",
        "ZREVRANGEBYSCORE s 0 1",
        "ZRANGEBYLEX s - +",
        "ZREVRANGEBYLEX s + -",
        "ZREMRANGEBYRANK s 0 1",
        "ZREMRANGEBYSCORE s 0 1",
        "ZREMRANGEBYLEX s - +",
        "ZPOPMIN s",
        "ZPOPMAX s 2",
        "ZMPOP 1 s MIN",
        "ZRANDMEMBER s",
        "ZRANDMEMBER s 2",
        "ZUNION 2 z s",
        "ZINTER 2 z s",
        "ZDIFF 2 z s",
        "ZUNIONSTORE d 2 z s",
        "ZINTERSTORE d 2 z s",
        "ZDIFFSTORE d 2 z s",
        "ZINTERCARD 2 z s",
        "ZSCAN s 0",
    ] {
        assert_eq!(q(&mut r, cmd), WRONGTYPE, "{cmd}");
    }
}

#[test]
fn resp3_replies() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["HELLO", "3"]);
    q(&mut r, "ZADD z 1 a 2.5 b 3 c");
    assert_eq!(r.cmd(&["ZSCORE", "z", "b"]), Frame::Double(2.5));
    assert_eq!(r.cmd(&["ZSCORE", "z", "x"]), Frame::Null);
    assert_eq!(r.cmd(&["ZINCRBY", "z", "1", "a"]), Frame::Double(2.0));
    assert_eq!(q(&mut r, "ZMSCORE z a x"), "[,2,nil]");
    assert_eq!(q(&mut r, "ZRANGE z 0 -1"), "[a,b,c]");
    assert_eq!(
        q(&mut r, "ZRANGE z 0 -1 WITHSCORES"),
        "[[a,,2],[b,,2.5],[c,,3]]"
    );
    assert_eq!(
        q(&mut r, "ZRANGEBYSCORE z 2 3 WITHSCORES LIMIT 0 1"),
        "[[a,,2]]"
    );
    assert_eq!(q(&mut r, "ZRANK z b WITHSCORE"), "[:1,,2.5]");
    assert_eq!(q(&mut r, "ZRANK z x WITHSCORE"), "nil");
    assert_eq!(
        q(&mut r, "ZUNION 1 z WITHSCORES"),
        "[[a,,2],[b,,2.5],[c,,3]]"
    );
    assert_eq!(
        q(&mut r, "ZRANDMEMBER z 3 WITHSCORES"),
        "[[c,,3],[b,,2.5],[a,,2]]"
    );
    assert_eq!(q(&mut r, "ZPOPMIN z"), "[a,,2]");
    assert_eq!(q(&mut r, "ZPOPMIN z 1"), "[[b,,2.5]]");
    assert_eq!(q(&mut r, "ZMPOP 1 z MAX"), "[z,[[c,,3]]]");
    assert_eq!(q(&mut r, "ZMPOP 1 z MAX"), "nil");
    assert_eq!(q(&mut r, "ZADD z INCR 1 q"), ",1");
    assert_eq!(q(&mut r, "ZADD z XX INCR 1 nothere"), "nil");
    // ZSCAN scores stay bulk strings.
    assert_eq!(q(&mut r, "ZSCAN z 0"), "[0,[q,1]]");
}

/// Random commands on a few keys, checked against a BTreeMap model, with the compact
/// encoding on and off.
#[test]
fn randomized_against_model() {
    use rand::{Rng, SeedableRng};
    let srv = TestServer::start();
    let mut r = srv.raw();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for max_entries in ["0", "8", "128"] {
        r.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", max_entries]);
        r.cmd(&["FLUSHALL"]);
        let mut model: BTreeMap<String, f64> = BTreeMap::new();
        let sorted = |m: &BTreeMap<String, f64>| {
            let mut v: Vec<(String, f64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
            v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
            v
        };
        for _ in 0..1500 {
            let m = format!("m{}", rng.gen_range(0..60));
            let s = rng.gen_range(-10..10) as f64 / 2.0;
            let ss = s.to_string();
            match rng.gen_range(0..8) {
                0..=2 => {
                    let added = model.insert(m.clone(), s).is_none() as i64;
                    assert_eq!(r.cmd(&["ZADD", "k", &ss, &m]), Frame::Integer(added));
                }
                3 => {
                    let removed = model.remove(&m).is_some() as i64;
                    assert_eq!(r.cmd(&["ZREM", "k", &m]), Frame::Integer(removed));
                }
                4 => {
                    let v = sorted(&model);
                    let expect = v
                        .iter()
                        .position(|e| e.0 == m)
                        .map_or(Frame::Null, |i| Frame::Integer(i as i64));
                    assert_eq!(r.cmd(&["ZRANK", "k", &m]), expect);
                }
                5 => {
                    let v = sorted(&model);
                    let (a, b) = (rng.gen_range(-70..70i64), rng.gen_range(-70..70i64));
                    let n = v.len() as i64;
                    let (mut sa, mut sb) =
                        (if a < 0 { n + a } else { a }, if b < 0 { n + b } else { b });
                    sa = sa.max(0);
                    sb = sb.min(n - 1);
                    let expect: Vec<String> = if sa > sb || sa >= n {
                        vec![]
                    } else {
                        v[sa as usize..=sb as usize]
                            .iter()
                            .map(|e| e.0.clone())
                            .collect()
                    };
                    let got = q(&mut r, &format!("ZRANGE k {a} {b}"));
                    assert_eq!(got, format!("[{}]", expect.join(",")));
                }
                6 => {
                    let (lo, hi) = (rng.gen_range(-6..6) as f64, rng.gen_range(-6..6) as f64);
                    let n = model.values().filter(|&&x| x > lo && x <= hi).count();
                    assert_eq!(q(&mut r, &format!("ZCOUNT k ({lo} {hi}")), format!(":{n}"));
                }
                _ => {
                    let new = model.get(&m).copied().unwrap_or(0.0) + s;
                    model.insert(m.clone(), new);
                    let got = r.cmd(&["ZINCRBY", "k", &ss, &m]);
                    assert_eq!(show(&got).parse::<f64>().unwrap(), new);
                }
            }
            assert_eq!(r.cmd(&["ZCARD", "k"]), Frame::Integer(model.len() as i64));
        }
        let v = sorted(&model);
        let expect: Vec<String> = v.iter().map(|e| e.0.clone()).collect();
        assert_eq!(
            q(&mut r, "ZRANGE k 0 -1"),
            format!("[{}]", expect.join(","))
        );
    }
}

/// Scores are replied with Redis 7.2's text: integers (up to 2^62) without a fraction,
/// others in the shortest form that reads back exactly, -0 with its sign.
#[test]
fn score_text() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    q(&mut r, "ZADD z -0 a 1e15 b 3.5 c 4611686018427387904 d 1e300 e -7 f 0.1 g -inf h 9223372036854775807 i");
    for (m, want) in [
        ("a", "-0"),
        ("b", "1000000000000000"),
        ("c", "3.5"),
        ("d", "4611686018427387904"),
        ("e", "1e+300"),
        ("f", "-7"),
        ("g", "0.1"),
        ("h", "-inf"),
        ("i", "9223372036854776000"),
    ] {
        assert_eq!(q(&mut r, &format!("ZSCORE z {m}")), want, "{m}");
    }
    assert_eq!(q(&mut r, "ZRANGE z 0 2 WITHSCORES"), "[h,-inf,f,-7,a,-0]");
}

/// INFO persistence rdb_changes_since_last_save.
fn changes(r: &mut RawConn) -> i64 {
    let info = cinnabar_testkit::text(&r.cmd(&["INFO", "persistence"]));
    info.split("\r\n")
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .unwrap()
        .parse()
        .unwrap()
}

/// rdb_changes_since_last_save counts what Redis's `dirty` counts (checked against a real
/// redis-server): members added plus scores changed for ZADD, one per member removed or
/// popped, one per STORE (also when an empty result deletes the destination), nothing for
/// commands that change nothing.
#[test]
fn zset_writes_count_changes_as_redis() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let cases: &[(&str, i64)] = &[
        ("ZADD z 1 a 2 b", 2),
        ("ZADD z 1 a", 0),
        ("ZADD z INCR 1 a", 1),
        ("ZINCRBY z 0 a", 0),
        ("ZADD z CH 5 a 3 b 4 c", 3),
        ("ZADD z NX 9 a 10 d", 1),
        ("ZADD z XX GT 1 a 20 b", 1),
        ("ZADD z XX 1 nope", 0),
        ("ZREM z zz", 0),
        ("ZREM z zz d", 1),
        ("ZREMRANGEBYSCORE z 100 200", 0),
        ("ZREMRANGEBYSCORE z 4 4", 1),
        ("ZREMRANGEBYRANK z 5 6", 0),
        ("ZREMRANGEBYRANK z 0 0", 1),
        ("ZADD zl 0 a 0 b 0 c", 3),
        ("ZREMRANGEBYLEX zl [a [b", 2),
        ("ZREMRANGEBYLEX zl - +", 1),
        ("ZPOPMIN z 0", 0),
        ("ZPOPMIN nokey 3", 0),
        ("ZADD z 1 p 2 q 3 r", 3),
        ("ZPOPMAX z", 1),
        ("ZPOPMIN z 2", 2),
        ("ZMPOP 2 nokey z MIN COUNT 10", 1),
        ("ZADD s1 1 x 2 y", 2),
        ("ZUNIONSTORE dst 1 s1", 1),
        ("ZINTERSTORE dst 2 s1 nokey", 1),
        ("ZINTERSTORE dst 2 s1 nokey", 0),
        ("ZRANGESTORE dst2 s1 0 -1", 1),
        ("ZDIFFSTORE dst2 1 s1", 1),
        ("ZRANGESTORE dst2 s1 5 6", 1),
        ("ZRANGESTORE dst2 s1 5 6", 0),
    ];
    for &(cmd, want) in cases {
        let before = changes(&mut r);
        q(&mut r, cmd);
        assert_eq!(changes(&mut r) - before, want, "{cmd}");
    }
}

/// WATCH (signalModifiedKey) sees sorted set writes that changed something, including an
/// empty STORE result deleting its destination, and not those that changed nothing.
#[test]
fn watch_sees_only_real_zset_changes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut other = srv.raw();
    q(&mut c, "ZADD z 1 a 2 b 3 c");
    q(&mut c, "ZADD dst 1 x");
    let cases: &[(&str, &str, bool)] = &[
        ("z", "ZREMRANGEBYLEX z [zz [zzz", false),
        ("z", "ZMPOP 1 nokey MIN", false),
        ("dst", "ZRANGESTORE dst2 nokey 0 -1", false),
        ("z", "ZADD z GT 0 a", false),
        ("z", "ZMPOP 1 z MAX", true),
        ("z", "ZREMRANGEBYRANK z 0 0", true),
        ("dst", "ZINTERSTORE dst 2 z nokey", true),
        ("dst", "ZUNIONSTORE dst 1 z", true),
    ];
    for &(key, cmd, aborts) in cases {
        assert_eq!(q(&mut c, &format!("WATCH {key}")), "+OK");
        assert_eq!(q(&mut c, "MULTI"), "+OK");
        q(&mut c, "PING");
        q(&mut other, cmd);
        let want = if aborts { "nil" } else { "[+PONG]" };
        assert_eq!(q(&mut c, "EXEC"), want, "{cmd}");
    }
}
