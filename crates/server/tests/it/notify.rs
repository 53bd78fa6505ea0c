//! Keyspace notifications: the events of each type's writes, with Redis's names and classes,
//! "new" and "del" of created and emptied keys, expiry (lazy and active), masking by class,
//! and CONFIG GET/SET of the flags.

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, int, ok, RawConn, TestServer};

/// A pattern subscriber to every keyevent channel of db 0; returns it and a command client.
fn setup(srv: &TestServer, flags: &str) -> (RawConn, RawConn) {
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        ok()
    );
    let mut s = srv.raw();
    s.psubscribe("__key*@0__:*");
    (s, c)
}

/// Reads one pmessage and returns "channel payload".
fn next(s: &mut RawConn) -> String {
    let (channel, payload) = s.read_message();
    format!("{channel} {payload}")
}

/// Runs `cmds`, then `marker` (commands on the key `marker_key`), and returns every event
/// seen before `last` (the marker's last event); the marker's other events are left out.
fn events_before_marker(
    s: &mut RawConn,
    c: &mut RawConn,
    cmds: &[&[&str]],
    marker: &[&[&str]],
    last: &str,
) -> Vec<String> {
    for cmd in cmds.iter().chain(marker) {
        c.cmd(cmd);
    }
    let suffix = format!(" {}", marker[0][1]);
    let mut seen = Vec::new();
    loop {
        let e = next(s);
        if e.ends_with(&suffix) {
            if e == last {
                return seen;
            }
            continue;
        }
        seen.push(e);
    }
}

/// Runs commands, then SET and DEL of a marker key, and returns every keyevent seen before the marker.
fn events(s: &mut RawConn, c: &mut RawConn, cmds: &[&[&str]]) -> Vec<String> {
    events_before_marker(
        s,
        c,
        cmds,
        &[&["SET", "marker", "1"], &["DEL", "marker"]],
        "__keyevent@0__:del marker",
    )
}

fn ev(list: &[&str]) -> Vec<String> {
    list.iter()
        .map(|e| {
            let (event, key) = e.split_once(' ').unwrap();
            format!("__keyevent@0__:{event} {key}")
        })
        .collect()
}

#[test]
fn string_events() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "E$g");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["SET", "a", "1"],
            &["SET", "a", "2", "NX"],
            &["SET", "b", "1", "EX", "100"],
            &["INCR", "a"],
            &["INCRBYFLOAT", "a", "1.5"],
            &["APPEND", "a", "x"],
            &["SETRANGE", "a", "0", "z"],
            &["MSET", "m1", "1", "m2", "2"],
            &["SETBIT", "bits", "3", "1"],
            &["GETDEL", "m1"],
            &["SETNX", "m2", "9"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "set a",
            "set b",
            "expire b",
            "incrby a",
            "incrbyfloat a",
            "append a",
            "setrange a",
            "set m1",
            "set m2",
            "setbit bits",
            "del m1",
        ])
    );
}

#[test]
fn list_events_and_del_of_emptied_key() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Elg");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["LPUSH", "l", "a", "b"],
            &["RPUSH", "l", "c"],
            &["LSET", "l", "0", "x"],
            &["LINSERT", "l", "BEFORE", "nope", "y"],
            &["LINSERT", "l", "BEFORE", "x", "y"],
            &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
            &["LREM", "l", "0", "zzz"],
            &["LPOP", "l"],
            &["RPOP", "l", "5"],
            &["RPOP", "l"],
            &["LPUSHX", "missing", "a"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "lpush l",
            "rpush l",
            "lset l",
            "linsert l",
            "rpush l2",
            "lpop l",
            "lpop l",
            "rpop l",
            "del l",
        ])
    );
}

#[test]
fn set_hash_zset_events() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Eshzg");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["SADD", "s", "a", "b"],
            &["SADD", "s", "a"],
            &["SREM", "s", "zz"],
            &["SREM", "s", "a"],
            &["SINTERSTORE", "dst", "s"],
            &["SINTERSTORE", "dst", "nothing"],
            &["HSET", "h", "f", "1"],
            &["HINCRBY", "h", "f", "2"],
            &["HDEL", "h", "f"],
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZINCRBY", "z", "1", "a"],
            &["ZREM", "z", "a"],
            &["ZPOPMIN", "z"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "sadd s",
            "srem s",
            "sinterstore dst",
            "del dst",
            "hset h",
            "hincrby h",
            "hdel h",
            "del h",
            "zadd z",
            "zincr z",
            "zrem z",
            "zpopmin z",
            "del z",
        ])
    );
}

#[test]
fn generic_events_and_new_keys() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Egn");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["SET", "k", "v"],
            &["EXPIRE", "k", "100"],
            &["PERSIST", "k"],
            &["PERSIST", "k"],
            &["RENAME", "k", "k2"],
            &["COPY", "k2", "k3"],
            &["DEL", "k2", "k3", "missing"],
            &["SET", "gone", "v"],
            &["EXPIRE", "gone", "-1"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new k",
            "expire k",
            "persist k",
            // Redis adds the destination (dbAdd: "new") before it notifies the rename.
            "new k2",
            "rename_from k",
            "rename_to k2",
            "new k3",
            "copy_to k3",
            "del k2",
            "del k3",
            "new gone",
            "del gone",
        ])
    );
}

#[test]
fn keyspace_channel_and_masking() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Kl"]),
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Frame::Array(vec![bulk("notify-keyspace-events"), bulk("lK")])
    );
    let mut s = srv.raw();
    s.cmd(&["SUBSCRIBE", "__keyspace@0__:mylist"]);
    c.cmd(&["SET", "mylist-not", "x"]);
    c.cmd(&["RPUSH", "mylist", "a"]);
    assert_eq!(
        s.read(),
        Frame::Array(vec![
            bulk("message"),
            bulk("__keyspace@0__:mylist"),
            bulk("rpush")
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        ok()
    );
    assert_eq!(
        c.cmd(&["PUBLISH", "__keyspace@0__:mylist", "manual"]),
        int(1)
    );
    c.cmd(&["RPUSH", "mylist", "b"]);
    // Notifications are off: the next message is the manual one, not an rpush.
    assert_eq!(
        s.read(),
        Frame::Array(vec![
            bulk("message"),
            bulk("__keyspace@0__:mylist"),
            bulk("manual")
        ])
    );
}

#[test]
fn expired_events_lazy_and_active() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Ex");
    // Active expiry (the cron) finds it by itself.
    c.cmd(&["PSETEX", "active", "50", "v"]);
    assert_eq!(next(&mut s), "__keyevent@0__:expired active");
    // Lazy expiry: stop the cron from getting there first by reading right after.
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["PSETEX", "lazy", "1", "v"]);
    srv.advance_clock(2);
    assert_eq!(c.cmd(&["GET", "lazy"]), Frame::Null);
    assert_eq!(next(&mut s), "__keyevent@0__:expired lazy");
}

#[test]
fn resp3_client_gets_its_own_events_after_the_reply() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
    let Frame::Map(_) = c.cmd(&["HELLO", "3"]) else {
        panic!()
    };
    assert_eq!(
        c.cmd(&["SUBSCRIBE", "__keyspace@0__:k"]),
        Frame::Push(vec![bulk("subscribe"), bulk("__keyspace@0__:k"), int(1)])
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(
        c.read(),
        Frame::Push(vec![bulk("message"), bulk("__keyspace@0__:k"), bulk("set")])
    );
}

#[test]
fn blocking_pops_and_sort_emit_once() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Elg");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["RPUSH", "q", "3", "1", "2"],
            &["SORT", "q"],
            &["SORT", "q", "STORE", "sorted"],
            &["BLPOP", "q", "0"],
            &["BLMOVE", "q", "q2", "LEFT", "LEFT", "0"],
            &["BRPOP", "q", "0"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "rpush q",
            "sortstore sorted",
            "lpop q",
            "lpush q2",
            "lpop q",
            "rpop q",
            "del q",
        ])
    );
}

/// Collection writes that change nothing publish nothing (Redis notifies only when a member,
/// field or score was added, changed or removed), and SMOVE publishes in Redis's order: srem
/// and del of the source, new and sadd of the destination, sadd only when the member was
/// not there yet. The expected events were recorded from a real redis-server.
#[test]
fn collection_noop_writes_and_smove_order() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Eg$lshzn");
    let got = events(
        &mut s,
        &mut c,
        &[
            &["SADD", "s", "a", "b"],
            &["SADD", "s", "a"],
            &["SADD", "d", "a"],
            &["SMOVE", "s", "d", "a"],
            &["SMOVE", "s", "d", "b"],
            &["SMOVE", "d", "d", "a"],
            &["SMOVE", "d", "d", "zz"],
            &["SMOVE", "nos", "d", "a"],
            &["SMOVE", "d", "n", "a"],
            &["SREM", "d", "zz"],
            &["SPOP", "d", "0"],
            &["HSET", "h", "f", "v"],
            &["HSETNX", "h", "f", "v"],
            &["HDEL", "h", "zz"],
            &["ZADD", "z", "1", "a"],
            &["ZADD", "z", "1", "a"],
            &["ZADD", "z", "NX", "2", "a"],
            &["ZADD", "z", "XX", "2", "b"],
            &["ZINCRBY", "z", "0", "a"],
            &["ZADD", "z", "INCR", "0", "a"],
            &["ZREM", "z", "zz"],
            &["ZREMRANGEBYRANK", "z", "5", "6"],
            &["ZPOPMIN", "z", "0"],
            &["RPUSH", "l", "a", "b"],
            &["LPOP", "l", "0"],
            &["LINSERT", "l", "BEFORE", "zz", "x"],
            &["LREM", "l", "0", "zz"],
            &["LTRIM", "l", "0", "-1"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new s", "sadd s", "new d", "sadd d", "srem s", "srem s", "del s", "sadd d", "srem d",
            "new n", "sadd n", "new h", "hset h", "new z", "zadd z", "new l", "rpush l", "ltrim l",
        ])
    );
}

/// Like [`events`], with a hash marker (`HSET fxmarker f v`, class h) instead of SET and
/// DEL, for tests of the hash and sorted set families alone.
fn events_until_hset_marker(s: &mut RawConn, c: &mut RawConn, cmds: &[&[&str]]) -> Vec<String> {
    events_before_marker(
        s,
        c,
        cmds,
        &[&["HSET", "fxmarker", "f", "v"]],
        "__keyevent@0__:hset fxmarker",
    )
}

/// The hash commands' events as Redis 7.2's t_hash.c raises them (checked against a real
/// redis-server): `new` before the command's event, `del` after it, nothing for no-ops.
#[test]
fn hash_events_as_redis() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Eghn");
    let got = events_until_hset_marker(
        &mut s,
        &mut c,
        &[
            &["HSET", "h", "f", "1", "g", "2"],
            &["HSET", "h", "f", "1"],
            &["HSETNX", "h", "f", "2"],
            &["HSETNX", "h", "k", "2"],
            &["HSETNX", "h2", "f", "1"],
            &["HINCRBY", "h", "n", "5"],
            &["HINCRBYFLOAT", "h", "x", "1.5"],
            &["HINCRBYFLOAT", "h", "x", "abc"],
            &["HDEL", "h", "zz"],
            &["HDEL", "h2", "f"],
            &["HDEL", "h", "f", "g", "k", "n", "x"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new h",
            "hset h",
            "hset h",
            "hset h",
            "new h2",
            "hset h2",
            "hincrby h",
            "hincrbyfloat h",
            "hdel h2",
            "del h2",
            "hdel h",
            "del h",
        ])
    );
}

/// The field-expiry commands (Redis 7.4) and HGETEX / HSETEX / HGETDEL (Redis 8.0), as
/// Redis 8.0's t_hash.c raises them: `hexpire`, `hpersist`, `hdel` when a past time deleted
/// fields, `del` when the hash emptied; nothing when no field changed.
#[test]
fn hash_field_expiry_events_as_redis() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Eghn");
    let got = events_until_hset_marker(
        &mut s,
        &mut c,
        &[
            &["HSET", "h", "a", "1", "b", "2"],
            &["HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz"],
            &["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "a"],
            &["HEXPIRE", "nokey", "100", "FIELDS", "1", "a"],
            &["HPERSIST", "h", "FIELDS", "2", "a", "b"],
            &["HPERSIST", "h", "FIELDS", "1", "a"],
            &["HPEXPIREAT", "h", "1", "FIELDS", "1", "a"],
            &["HEXPIRE", "h", "0", "FIELDS", "1", "b"],
            &["HSETEX", "h3", "EX", "100", "FIELDS", "1", "a", "1"],
            &["HSETEX", "h3", "FNX", "FIELDS", "1", "a", "2"],
            &["HSETEX", "h3", "FXX", "KEEPTTL", "FIELDS", "1", "a", "3"],
            &["HGETEX", "h3", "FIELDS", "1", "a"],
            &["HGETEX", "h3", "PERSIST", "FIELDS", "1", "a"],
            &["HGETEX", "h3", "PERSIST", "FIELDS", "1", "a"],
            &["HGETEX", "h3", "PX", "5000", "FIELDS", "2", "a", "zz"],
            &["HGETEX", "h3", "EX", "0", "FIELDS", "1", "a"],
            &["HSETEX", "h4", "PX", "0", "FIELDS", "1", "a", "1"],
            &["HSET", "h5", "a", "1", "b", "2"],
            &["HGETDEL", "h5", "FIELDS", "2", "a", "zz"],
            &["HGETDEL", "h5", "FIELDS", "1", "zz"],
            &["HGETDEL", "h5", "FIELDS", "1", "b"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new h",
            "hset h",
            "hexpire h",
            "hpersist h",
            "hdel h",
            "hdel h",
            "del h",
            "new h3",
            "hset h3",
            "hexpire h3",
            "hset h3",
            "hpersist h3",
            "hexpire h3",
            "hdel h3",
            "del h3",
            "new h4",
            "hset h4",
            "hdel h4",
            "del h4",
            "new h5",
            "hset h5",
            "hdel h5",
            "hdel h5",
            "del h5",
        ])
    );
}

/// The sorted set commands' events as Redis 7.2's t_zset.c raises them (checked against a
/// real redis-server): `zincr` for INCR, `zremrangeby*` with Redis's names, pops, the
/// STORE events with `new`, and `del` for an empty result that deleted its destination.
#[test]
fn zset_events_as_redis() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "Eghzn");
    let got = events_until_hset_marker(
        &mut s,
        &mut c,
        &[
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZADD", "z", "1", "a"],
            &["ZADD", "z", "INCR", "1", "a"],
            &["ZINCRBY", "z", "0", "a"],
            &["ZADD", "z", "XX", "GT", "1", "a", "20", "b"],
            &["ZADD", "z", "3", "c", "4", "d", "5", "e"],
            &["ZREM", "z", "zz"],
            &["ZREMRANGEBYSCORE", "z", "100", "200"],
            &["ZREMRANGEBYSCORE", "z", "4", "4"],
            &["ZREMRANGEBYRANK", "z", "0", "0"],
            &["ZADD", "zl", "0", "a", "0", "b"],
            &["ZREMRANGEBYLEX", "zl", "[a", "[a"],
            &["ZREM", "zl", "b"],
            &["ZPOPMAX", "z"],
            &["ZPOPMIN", "z", "0"],
            &["ZMPOP", "2", "nokey", "z", "MIN", "COUNT", "10"],
            &["ZADD", "s1", "1", "x"],
            &["ZUNIONSTORE", "dst", "1", "s1"],
            &["ZINTERSTORE", "dst", "2", "s1", "nokey"],
            &["ZINTERSTORE", "dst", "2", "s1", "nokey"],
            &["ZRANGESTORE", "dst2", "s1", "0", "-1"],
            &["ZDIFFSTORE", "dst2", "1", "s1"],
            &["ZRANGESTORE", "dst2", "nokey", "0", "-1"],
        ],
    );
    assert_eq!(
        got,
        ev(&[
            "new z",
            "zadd z",
            "zincr z",
            "zadd z",
            "zadd z",
            "zremrangebyscore z",
            "zremrangebyrank z",
            "new zl",
            "zadd zl",
            "zremrangebylex zl",
            "zrem zl",
            "del zl",
            "zpopmax z",
            "zpopmin z",
            "del z",
            "new s1",
            "zadd s1",
            "new dst",
            "zunionstore dst",
            "del dst",
            "new dst2",
            "zrangestore dst2",
            "zdiffstore dst2",
            "del dst2",
        ])
    );
}

/// `n` (new-key events) survives being stored next to `A`: CONFIG GET shows it and the
/// events come (Redis's own text drops it, and so did ours).
#[test]
fn new_flag_is_kept_with_all_classes() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "KEAn");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Frame::Array(vec![bulk("notify-keyspace-events"), bulk("AnKE")])
    );
    let mut got = events(&mut s, &mut c, &[&["SET", "fresh", "v"]]);
    got.retain(|e| !e.contains("marker"));
    assert_eq!(
        got,
        [
            "__keyspace@0__:fresh new",
            "__keyevent@0__:new fresh",
            "__keyspace@0__:fresh set",
            "__keyevent@0__:set fresh",
        ]
    );
}

/// `keymiss` (class m) is raised by reads that find no key, on both channels, and not by
/// writes nor by reads that find one.
#[test]
fn keymiss_events_come_from_reads_that_miss() {
    let srv = TestServer::start();
    let (mut s, mut c) = setup(&srv, "KEgm");
    let mut got = events(
        &mut s,
        &mut c,
        &[
            &["GET", "nokey"],
            &["SET", "k", "v"],
            &["GET", "k"],
            &["LRANGE", "nolist", "0", "-1"],
            &["DEL", "nokey2"],
            &["MGET", "k", "nokey3"],
        ],
    );
    got.retain(|e| !e.contains("marker"));
    assert_eq!(
        got,
        [
            "__keyspace@0__:nokey keymiss",
            "__keyevent@0__:keymiss nokey",
            "__keyspace@0__:nolist keymiss",
            "__keyevent@0__:keymiss nolist",
            "__keyspace@0__:nokey3 keymiss",
            "__keyevent@0__:keymiss nokey3",
        ]
    );
}
