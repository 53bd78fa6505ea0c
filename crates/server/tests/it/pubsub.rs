//! Pub/Sub with several clients: fan-out, patterns, shard channels, (un)subscribe replies and
//! counts, RESP2 context rules versus RESP3 pushes, PUBSUB introspection, CLIENT REPLY OFF, and
//! a slow subscriber being cut off while the publisher carries on.

use std::io::Read;
use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, RawConn, TestServer};

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

fn push(items: Vec<Frame>) -> Frame {
    Frame::Push(items)
}

/// ["kind", channel, count] as RESP2 sees it.
fn conf(kind: &str, ch: &str, n: i64) -> Frame {
    arr(vec![bulk(kind), bulk(ch), int(n)])
}

fn msg(ch: &str, payload: &str) -> Frame {
    arr(vec![bulk("message"), bulk(ch), bulk(payload)])
}

fn hello3(c: &mut RawConn) {
    let Frame::Map(_) = c.cmd(&["HELLO", "3"]) else {
        panic!("HELLO 3 did not answer a map")
    };
}

#[test]
fn fan_out_to_many_subscribers_in_publish_order() {
    let srv = TestServer::start();
    let mut subs: Vec<RawConn> = (0..20).map(|_| srv.raw()).collect();
    for s in &mut subs {
        assert_eq!(s.cmd(&["SUBSCRIBE", "news"]), conf("subscribe", "news", 1));
    }
    let mut publisher = srv.raw();
    for i in 0..50 {
        let payload = format!("m{i}");
        assert_eq!(publisher.cmd(&["PUBLISH", "news", &payload]), int(20));
    }
    for s in &mut subs {
        for i in 0..50 {
            assert_eq!(s.read(), msg("news", &format!("m{i}")));
        }
    }
    assert_eq!(publisher.cmd(&["PUBLISH", "other", "x"]), int(0));
}

/// Several publishers on their own connections (and so possibly other worker threads) at
/// once: every subscriber sees every message, and each publisher's messages in its order.
#[test]
fn order_is_preserved_per_publisher_under_concurrency() {
    let srv = TestServer::with_args(&[("threads", "3")]);
    let mut subs: Vec<RawConn> = (0..6).map(|_| srv.raw()).collect();
    for s in &mut subs {
        assert_eq!(s.cmd(&["SUBSCRIBE", "mix"]), conf("subscribe", "mix", 1));
    }
    let publishers: Vec<_> = (0..3)
        .map(|p| {
            let addr = srv.addr();
            std::thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..300 {
                    let payload = format!("{p}:{i}");
                    assert_eq!(c.cmd(&["PUBLISH", "mix", &payload]), int(6));
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    for s in &mut subs {
        let mut next = [0usize; 3];
        for _ in 0..900 {
            let Frame::Array(v) = s.read() else { panic!() };
            let Frame::Bulk(b) = &v[2] else { panic!() };
            let text = String::from_utf8_lossy(b).to_string();
            let (p, i) = text.split_once(':').unwrap();
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[p], "publisher {p} out of order");
            next[p] += 1;
        }
        assert_eq!(next, [300, 300, 300]);
    }
}

#[test]
fn subscribe_unsubscribe_replies_and_counts() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    s.send(&[b"SUBSCRIBE", b"a", b"b", b"a"]);
    assert_eq!(s.read(), conf("subscribe", "a", 1));
    assert_eq!(s.read(), conf("subscribe", "b", 2));
    assert_eq!(s.read(), conf("subscribe", "a", 2));
    assert_eq!(s.cmd(&["PSUBSCRIBE", "x*"]), conf("psubscribe", "x*", 3));
    assert_eq!(
        s.cmd(&["UNSUBSCRIBE", "zzz"]),
        conf("unsubscribe", "zzz", 3)
    );
    assert_eq!(s.cmd(&["UNSUBSCRIBE", "a"]), conf("unsubscribe", "a", 2));
    // Without arguments: every remaining channel, then the patterns stay.
    assert_eq!(s.cmd(&["UNSUBSCRIBE"]), conf("unsubscribe", "b", 1));
    assert_eq!(
        s.cmd(&["UNSUBSCRIBE"]),
        arr(vec![bulk("unsubscribe"), Frame::Null, int(1)])
    );
    assert_eq!(s.cmd(&["PUNSUBSCRIBE"]), conf("punsubscribe", "x*", 0));
    assert_eq!(
        s.cmd(&["PUNSUBSCRIBE"]),
        arr(vec![bulk("punsubscribe"), Frame::Null, int(0)])
    );
    // Out of the pub/sub context: ordinary commands again.
    assert_eq!(s.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(s.cmd(&["SET", "k", "v"]), ok());
}

#[test]
fn patterns_match_globs_and_count_receivers() {
    let srv = TestServer::start();
    let mut s1 = srv.raw();
    let mut s2 = srv.raw();
    let mut p = srv.raw();
    s1.send(&[b"PSUBSCRIBE", b"foo.*", b"h?llo", b"[ab]x"]);
    for (i, pat) in ["foo.*", "h?llo", "[ab]x"].iter().enumerate() {
        assert_eq!(s1.read(), conf("psubscribe", pat, i as i64 + 1));
    }
    assert_eq!(
        s2.cmd(&["SUBSCRIBE", "foo.bar"]),
        conf("subscribe", "foo.bar", 1)
    );
    assert_eq!(
        s2.cmd(&["PSUBSCRIBE", "foo.*"]),
        conf("psubscribe", "foo.*", 2)
    );
    assert_eq!(p.cmd(&["PUBLISH", "foo.bar", "1"]), int(3));
    assert_eq!(p.cmd(&["PUBLISH", "hallo", "2"]), int(1));
    assert_eq!(p.cmd(&["PUBLISH", "bx", "3"]), int(1));
    assert_eq!(p.cmd(&["PUBLISH", "foo", "4"]), int(0));
    let pm =
        |pat: &str, ch: &str, m: &str| arr(vec![bulk("pmessage"), bulk(pat), bulk(ch), bulk(m)]);
    assert_eq!(s1.read(), pm("foo.*", "foo.bar", "1"));
    assert_eq!(s1.read(), pm("h?llo", "hallo", "2"));
    assert_eq!(s1.read(), pm("[ab]x", "bx", "3"));
    assert_eq!(s2.read(), msg("foo.bar", "1"));
    assert_eq!(s2.read(), pm("foo.*", "foo.bar", "1"));
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), int(3));
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "foo.bar", "nope"]),
        arr(vec![bulk("foo.bar"), int(1), bulk("nope"), int(0)])
    );
    assert_eq!(p.cmd(&["PUBSUB", "CHANNELS"]), arr(vec![bulk("foo.bar")]));
    assert_eq!(p.cmd(&["PUBSUB", "CHANNELS", "x*"]), arr(vec![]));
    drop(s1);
    // A disconnected subscriber leaves the registry.
    cinnabar_testkit::eventually(
        cinnabar_testkit::PATIENCE,
        "patterns to be dropped on disconnect",
        || p.cmd(&["PUBSUB", "NUMPAT"]) == int(1),
    );
    let Frame::Bulk(info) = p.cmd(&["INFO", "stats"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).to_string();
    assert!(info.contains("pubsub_channels:1\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r\n"), "{info}");
}

#[test]
fn shard_channels_are_a_separate_namespace() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    let mut g = srv.raw();
    let mut p = srv.raw();
    assert_eq!(s.cmd(&["SSUBSCRIBE", "ch"]), conf("ssubscribe", "ch", 1));
    assert_eq!(s.cmd(&["SSUBSCRIBE", "ch2"]), conf("ssubscribe", "ch2", 2));
    assert_eq!(g.cmd(&["SUBSCRIBE", "ch"]), conf("subscribe", "ch", 1));
    assert_eq!(p.cmd(&["SPUBLISH", "ch", "hi"]), int(1));
    assert_eq!(p.cmd(&["PUBLISH", "ch", "yo"]), int(1));
    assert_eq!(
        s.read(),
        arr(vec![bulk("smessage"), bulk("ch"), bulk("hi")])
    );
    assert_eq!(g.read(), msg("ch", "yo"));
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", "ch", "x"]),
        arr(vec![bulk("ch"), int(1), bulk("x"), int(0)])
    );
    let Frame::Array(mut chans) = p.cmd(&["PUBSUB", "SHARDCHANNELS"]) else {
        panic!()
    };
    chans.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(chans, vec![bulk("ch"), bulk("ch2")]);
    assert_eq!(
        s.cmd(&["SUNSUBSCRIBE", "ch"]),
        conf("sunsubscribe", "ch", 1)
    );
    assert_eq!(s.cmd(&["SUNSUBSCRIBE"]), conf("sunsubscribe", "ch2", 0));
    assert_eq!(
        s.cmd(&["SUNSUBSCRIBE"]),
        arr(vec![bulk("sunsubscribe"), Frame::Null, int(0)])
    );
    assert_eq!(p.cmd(&["SPUBLISH", "ch", "hi"]), int(0));
    // Not inside MULTI (a "deny blocking" context in Redis).
    assert_eq!(p.cmd(&["MULTI"]), ok());
    assert_eq!(p.cmd(&["SSUBSCRIBE", "z"]), Frame::Simple("QUEUED".into()));
    assert_eq!(
        p.cmd(&["EXEC"]),
        arr(vec![err(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client"
        )])
    );
}

#[test]
fn resp2_context_allows_only_subscribe_commands_ping_quit_reset() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    assert_eq!(s.cmd(&["SUBSCRIBE", "c"]), conf("subscribe", "c", 1));
    assert_eq!(
        s.cmd(&["GET", "k"]),
        err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(
        s.cmd(&["CLIENT", "ID"]),
        err("ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(s.cmd(&["PING"]), arr(vec![bulk("pong"), bulk("")]));
    assert_eq!(s.cmd(&["PING", "x"]), arr(vec![bulk("pong"), bulk("x")]));
    assert_eq!(s.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    let mut p = srv.raw();
    assert_eq!(p.cmd(&["PUBLISH", "c", "m"]), int(0));
    assert_eq!(s.cmd(&["GET", "k"]), Frame::Null);
}

#[test]
fn resp3_subscriber_runs_any_command_and_gets_pushes() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    hello3(&mut s);
    assert_eq!(
        s.cmd(&["SUBSCRIBE", "c"]),
        push(vec![bulk("subscribe"), bulk("c"), int(1)])
    );
    assert_eq!(s.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(s.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(s.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let mut p = srv.raw();
    assert_eq!(p.cmd(&["PUBLISH", "c", "hello"]), int(1));
    assert_eq!(
        s.read(),
        push(vec![bulk("message"), bulk("c"), bulk("hello")])
    );
    // Publishing to itself: the reply comes first, then the message (Redis 7.2).
    assert_eq!(s.cmd(&["PUBLISH", "c", "self"]), int(1));
    assert_eq!(
        s.read(),
        push(vec![bulk("message"), bulk("c"), bulk("self")])
    );
    // Inside MULTI the messages follow EXEC's reply.
    s.cmd(&["MULTI"]);
    s.cmd(&["PUBLISH", "c", "one"]);
    s.cmd(&["PUBLISH", "c", "two"]);
    assert_eq!(s.cmd(&["EXEC"]), arr(vec![int(1), int(1)]));
    assert_eq!(
        s.read(),
        push(vec![bulk("message"), bulk("c"), bulk("one")])
    );
    assert_eq!(
        s.read(),
        push(vec![bulk("message"), bulk("c"), bulk("two")])
    );
    assert_eq!(
        s.cmd(&["UNSUBSCRIBE"]),
        push(vec![bulk("unsubscribe"), bulk("c"), int(0)])
    );
}

#[test]
fn pubsub_frames_are_delivered_under_client_reply_off() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    s.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    assert_eq!(s.cmd(&["SUBSCRIBE", "c"]), conf("subscribe", "c", 1));
    let mut p = srv.raw();
    assert_eq!(p.cmd(&["PUBLISH", "c", "x"]), int(1));
    assert_eq!(s.read(), msg("c", "x"));
    assert_eq!(s.cmd(&["UNSUBSCRIBE", "c"]), conf("unsubscribe", "c", 0));
}

#[test]
fn client_list_shows_subscriptions() {
    let srv = TestServer::start();
    let mut s = srv.raw();
    s.cmd(&["SUBSCRIBE", "a"]);
    s.cmd(&["PSUBSCRIBE", "b*"]);
    let mut c = srv.raw();
    let Frame::Bulk(list) = c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]) else {
        panic!()
    };
    let list = String::from_utf8_lossy(&list).to_string();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("flags=P "), "{list}");
    assert!(list.contains(" sub=1 psub=1 ssub=0 "), "{list}");
    assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), int(1));
}

/// A subscriber that never reads is disconnected once its queue passes the pubsub hard limit,
/// and the publisher keeps getting its replies meanwhile.
#[test]
fn slow_subscriber_is_cut_off_while_publisher_carries_on() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 256kb 0 0"
        ]),
        ok()
    );
    let mut slow = srv.raw();
    assert_eq!(
        slow.cmd(&["SUBSCRIBE", "firehose"]),
        conf("subscribe", "firehose", 1)
    );
    let mut fast = srv.raw();
    assert_eq!(
        fast.cmd(&["SUBSCRIBE", "firehose"]),
        conf("subscribe", "firehose", 1)
    );
    let mut publisher = srv.raw();
    let payload = "x".repeat(4096);
    // The fast subscriber drains on another thread.
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        loop {
            match fast.read() {
                Frame::Array(v) if v.len() == 3 => {
                    if v[2] == bulk("end") {
                        return got;
                    }
                    got += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    let mut receivers_at_end = None;
    for i in 0..4000 {
        let Frame::Integer(n) = publisher.cmd(&["PUBLISH", "firehose", &payload]) else {
            panic!()
        };
        if n == 1 {
            receivers_at_end = Some(i);
            break;
        }
    }
    assert!(
        receivers_at_end.is_some(),
        "the slow subscriber was never disconnected"
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "firehose", "end"]), int(1));
    let got = reader.join().unwrap();
    assert_eq!(got, receivers_at_end.unwrap() + 1);
    // The slow client's socket is closed by the server.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match slow.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("slow subscriber not closed: {e}"),
        }
    }
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "firehose"]),
        arr(vec![bulk("firehose"), int(0)])
    );
}

#[test]
fn redis_crate_pubsub_works() {
    let srv = TestServer::start();
    let client = redis::Client::open(srv.url()).unwrap();
    let mut sub_conn = client.get_connection().unwrap();
    let mut pubsub = sub_conn.as_pubsub();
    pubsub.subscribe("chan").unwrap();
    pubsub.psubscribe("pat.*").unwrap();
    let mut pub_conn = client.get_connection().unwrap();
    let n: i64 = redis::cmd("PUBLISH")
        .arg("chan")
        .arg("v1")
        .query(&mut pub_conn)
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::cmd("PUBLISH")
        .arg("pat.x")
        .arg("v2")
        .query(&mut pub_conn)
        .unwrap();
    assert_eq!(n, 1);
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "chan");
    assert_eq!(m.get_payload::<String>().unwrap(), "v1");
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "pat.x");
    assert_eq!(m.get_pattern::<String>().unwrap(), "pat.*");
    assert_eq!(m.get_payload::<String>().unwrap(), "v2");
}
