//! Stream commands compared with a real redis-server command by command: the reply (byte
//! for byte, as frames), the keyspace events (every class, keyspace and keyevent channels,
//! `new` included) and the growth of `rdb_changes_since_last_save` (Redis's dirty counter).
//!
//! After each command a PUBLISH on a marker channel tells the subscriber where that
//! command's events end, so nothing waits on a timer. The comparison server is
//! redis-server 7.0: the script avoids what 7.2 changed in streams (XINFO CONSUMERS'
//! `inactive`, XINFO STREAM FULL's `active-time`, the XREAD arity error text, the error of
//! `ms-*` after the last sequence, HELP's last line, XREADGROUP creating its consumer even
//! when nothing is served); those are asserted in `tests/streams.rs`. Lines starting
//! with `~` compare only whether the reply is an error (idle times, generated IDs).

use crate::effects_diff::Side;
use cinnabar_resp::Frame;
use cinnabar_testkit::{RealRedis, TestServer};

const SCRIPT: &str = r#"
XADD s 1-1 a 1 b 2
XADD s 1-* c 3
XADD s 1 c 3
XADD s 0-0 c 3
XADD s 2-0 x
XADD s NOMKSTREAM 3-0 a b
XADD nokey NOMKSTREAM 3-0 a b
XADD s MAXLEN 5 4-0 a b
XADD s MAXLEN = 3 5-0 a b
XADD s MINID 2 6-0 a b
XADD s MAXLEN 5 MINID 2 7-0 a b
XADD s LIMIT 5 7-0 a b
XADD s MAXLEN ~ 5 LIMIT -1 7-0 a b
XADD s MAXLEN -1 7-0 a b
XADD s 9-0 a
~XADD auto * a b
XADD z 0-* a b
XRANGE s - +
XRANGE s - + COUNT 2
XRANGE s - + COUNT 0
XRANGE nokey - + COUNT 0
XRANGE s (1-1 +
XRANGE s - (0-0
XREVRANGE s + - COUNT 1
XREVRANGE s (6 -
XLEN s
XLEN nokey
SET str v
XLEN str
XADD str * a b
XDEL s 1-1 99-0 abc
XDEL s 1-1 99-0
XDEL nokey abc
XTRIM s MAXLEN 2
XTRIM s MAXLEN 2
XTRIM s MINID 6
XTRIM s FOO 1
XTRIM nokey MAXLEN 0
XINFO STREAM s
XINFO STREAM nokey
XINFO STREAM str
XSETID s 1-0
XSETID s 100-0
XSETID nokey 1-0
XSETID s 100-0 ENTRIESADDED -1
XSETID s 200-0 MAXDELETEDID 150-0 ENTRIESADDED 50
XINFO STREAM s
SELECT 1
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XADD s 4-0 d 4
XGROUP CREATE s g 0
XGROUP CREATE s g 0
XGROUP CREATE s g2 $
XGROUP CREATE s g3 0 ENTRIESREAD -2
XGROUP CREATE s g3 0 ENTRIESREAD 2
XGROUP CREATE missing g 0
XGROUP CREATE missing g $ MKSTREAM
XGROUP CREATE str g $ MKSTREAM
XGROUP SETID s nog 0
XGROUP SETID s g 1 ENTRIESREAD 1
XGROUP SETID s g 0
XGROUP DESTROY s nog
XGROUP DESTROY missing g
XGROUP CREATECONSUMER s g c1
XGROUP CREATECONSUMER s g c1
XGROUP CREATECONSUMER s nog c1
XGROUP DELCONSUMER s g c9
XGROUP DELCONSUMER s g c1
XINFO GROUPS s
XREADGROUP GROUP g alice COUNT 2 STREAMS s >
XREADGROUP GROUP g alice STREAMS s >
XREADGROUP GROUP g alice STREAMS s >
XREADGROUP GROUP g alice STREAMS s 0
XREADGROUP GROUP g alice COUNT 1 STREAMS s 0
XREADGROUP GROUP g bob STREAMS s 0
XREADGROUP GROUP nog alice STREAMS s >
XREADGROUP GROUP g alice STREAMS missing2 >
XREADGROUP GROUP g alice STREAMS s $
XADD s 5-0 e 5
XREADGROUP GROUP g carol NOACK COUNT 1 STREAMS s >
XREAD STREAMS s 0
XREAD COUNT 2 STREAMS s missing2 0 0
XREAD STREAMS s $
XREAD STREAMS s 4
XREAD STREAMS str 0
XREAD STREAMS s >
XREAD GROUP g c STREAMS s 0
XINFO GROUPS s
XPENDING s g
XPENDING s nog
XPENDING missing2 g
~XPENDING s g - + 10 alice
XPENDING s g - + 10 nobody
XPENDING s g - + abc
XPENDING s g IDLE 10 - +
XACK s g 1-0 abc
XACK s nog abc
XACK s g 1-0 1-0 2-0 9-0
XPENDING s g
XDEL s 3-0
XGROUP SETID s g 0
XREADGROUP GROUP g dave STREAMS s >
XCLAIM s g erin 0 3-0 4-0 JUSTID
XCLAIM s g erin abc 3-0
XCLAIM s nog erin 0 3-0
XCLAIM s g erin 0 3-0 FOO
XCLAIM s g erin 0 4-0 IDLE abc
XCLAIM s g frank 0 4-0 RETRYCOUNT 7 JUSTID
XCLAIM s g frank 0 1-0 2-0 FORCE JUSTID
XCLAIM s g frank 0 LASTID 10-0
XCLAIM s g frank 0 LASTID 10-0
XCLAIM s g gina 0 4-0 TIME 1000
XAUTOCLAIM s g hank 0 0 COUNT 1
XAUTOCLAIM s g hank 0 0 JUSTID
XAUTOCLAIM s g hank 0 0 COUNT 0
XAUTOCLAIM s nog hank 0 0
XAUTOCLAIM s g hank abc 0
XINFO GROUPS s
XGROUP DESTROY s g
XGROUP DESTROY s g
XINFO GROUPS s
"#;

#[test]
fn stream_commands_reply_and_raise_what_redis_does() {
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
        let (loose, line) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let args: Vec<&str> = line.split(' ').collect();
        let (ra, da, ea) = a.run(&args);
        let (rb, db, eb) = b.run(&args);
        n += 1;
        let same_reply = if loose {
            matches!(ra, Frame::Error(_)) == matches!(rb, Frame::Error(_))
        } else {
            ra == rb
        };
        if da != db || ea != eb || !same_reply {
            diffs.push(format!(
                "{line}\n    ours:  dirty +{da} events {ea:?} reply {ra:?}\n    redis: dirty +{db} events {eb:?} reply {rb:?}"
            ));
        }
    }
    assert!(n > 120, "the script ran {n} commands");
    assert!(
        diffs.is_empty(),
        "{} of {n} commands differ from redis-server {:?}:\n{}",
        diffs.len(),
        real.version,
        diffs.join("\n")
    );
}
