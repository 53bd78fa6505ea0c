//! Client-side caching: CLIENT TRACKING in default and BCAST mode, REDIRECT to a RESP2
//! subscriber of `__redis__:invalidate`, RESP3 pushes, NOLOOP, OPTIN/OPTOUT with CLIENT
//! CACHING, FLUSHALL, expiry, TRACKINGINFO / GETREDIR and the option errors.

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, err, int, ok, RawConn, TestServer};

fn hello3(c: &mut RawConn) {
    let Frame::Map(_) = c.cmd(&["HELLO", "3"]) else {
        panic!("HELLO 3 did not answer a map")
    };
}

fn invalidate(keys: &[&str]) -> Frame {
    Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

/// A RESP2 client subscribed to `__redis__:invalidate`, and its id.
fn redirect_target(srv: &TestServer) -> (RawConn, String) {
    let mut r = srv.raw();
    let Frame::Integer(id) = r.cmd(&["CLIENT", "ID"]) else {
        panic!()
    };
    r.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    (r, id.to_string())
}

fn redirected(keys: &[&str]) -> Frame {
    Frame::Array(vec![
        bulk("message"),
        bulk("__redis__:invalidate"),
        Frame::Array(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

#[test]
fn resp3_default_mode_invalidates_read_keys_once() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    hello3(&mut c);
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    w.cmd(&["SET", "a", "1"]);
    w.cmd(&["SET", "b", "1"]);
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));
    // b was not read: no invalidation for it.
    w.cmd(&["SET", "b", "2"]);
    w.cmd(&["SET", "a", "2"]);
    assert_eq!(c.read(), invalidate(&["a"]));
    // Forgotten after one invalidation until read again.
    w.cmd(&["SET", "a", "3"]);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // A write that changes nothing does not invalidate.
    assert_eq!(c.cmd(&["GET", "a"]), bulk("3"));
    assert_eq!(w.cmd(&["SET", "a", "x", "NX"]), Frame::Null);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // The client's own write: the invalidation follows the reply.
    assert_eq!(c.cmd(&["SET", "a", "4"]), ok());
    assert_eq!(c.read(), invalidate(&["a"]));
}

#[test]
fn redirect_to_a_resp2_subscriber_and_noloop() {
    let srv = TestServer::start();
    let (mut target, id) = redirect_target(&srv);
    let mut c = srv.raw();
    let mut w = srv.raw();
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id, "NOLOOP"]),
        ok()
    );
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]), int(id.parse().unwrap()));
    c.cmd(&["MGET", "k1", "k2"]);
    c.cmd(&["SET", "k2", "mine"]); // NOLOOP: not sent
    w.cmd(&["SET", "k1", "theirs"]);
    assert_eq!(target.read(), redirected(&["k1"]));
    // FLUSHALL: a null key list.
    c.cmd(&["GET", "k1"]);
    w.cmd(&["FLUSHALL"]);
    assert_eq!(
        target.read(),
        Frame::Array(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            Frame::Null
        ])
    );
}

#[test]
fn bcast_prefixes_batch_per_command() {
    let srv = TestServer::start();
    let (mut target, id) = redirect_target(&srv);
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[
            "CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", &id, "PREFIX", "a:", "PREFIX", "b:"
        ]),
        ok()
    );
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a:1", "x"]);
    c.cmd(&["SET", "a:2", "x"]);
    c.cmd(&["SET", "b:1", "x"]);
    c.cmd(&["SET", "c:1", "x"]);
    c.cmd(&["EXEC"]);
    assert_eq!(target.read(), redirected(&["a:1", "a:2"]));
    assert_eq!(target.read(), redirected(&["b:1"]));
    let Frame::Map(info) = ({
        hello3(&mut c);
        c.cmd(&["CLIENT", "TRACKINGINFO"])
    }) else {
        panic!()
    };
    assert_eq!(info[0].0, bulk("flags"));
    assert_eq!(info[0].1, Frame::Set(vec![bulk("on"), bulk("bcast")]));
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"]),
        err("ERR Prefix 'a' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON"]),
        err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
}

#[test]
fn optin_and_optout_with_client_caching() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    hello3(&mut c);
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN"]), ok());
    c.cmd(&["GET", "skipped"]);
    assert_eq!(c.cmd(&["CLIENT", "CACHING", "YES"]), ok());
    c.cmd(&["GET", "cached"]);
    w.cmd(&["SET", "skipped", "1"]);
    w.cmd(&["SET", "cached", "1"]);
    assert_eq!(c.read(), invalidate(&["cached"]));
    assert_eq!(
        c.cmd(&["CLIENT", "CACHING", "NO"]),
        err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "OFF"]), ok());
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "ON", "OPTOUT"]), ok());
    assert_eq!(c.cmd(&["CLIENT", "CACHING", "NO"]), ok());
    c.cmd(&["GET", "skipped"]);
    c.cmd(&["GET", "cached"]);
    w.cmd(&["SET", "skipped", "2"]);
    w.cmd(&["SET", "cached", "2"]);
    assert_eq!(c.read(), invalidate(&["cached"]));
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        err("ERR You can't specify both OPTIN mode and OPTOUT mode")
    );
}

#[test]
fn expired_keys_are_invalidated_and_info_counts() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut w = srv.raw();
    hello3(&mut c);
    c.cmd(&["CLIENT", "TRACKING", "ON"]);
    w.cmd(&["SET", "soon", "v", "PX", "30"]);
    c.cmd(&["GET", "soon"]);
    c.cmd(&["GET", "other"]);
    let Frame::Verbatim { text: info, .. } = c.cmd(&["INFO", "stats"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).to_string();
    assert!(info.contains("tracking_total_keys:"), "{info}");
    // The cron expires it; the tracking client is told.
    assert_eq!(c.read(), invalidate(&["soon"]));
    let Frame::Verbatim { text: info, .. } = c.cmd(&["INFO", "clients"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).to_string();
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        err("ERR The client ID you want redirect to does not exist")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "PREFIX", "x"]),
        err("ERR PREFIX option requires BCAST mode to be enabled")
    );
}

#[test]
fn broken_redirect_is_reported_once_to_resp3_clients() {
    let srv = TestServer::start();
    let (target, id) = redirect_target(&srv);
    let mut c = srv.raw();
    let mut w = srv.raw();
    hello3(&mut c);
    c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]);
    c.cmd(&["GET", "k"]);
    drop(target);
    // Wait until the server has seen the target leave.
    cinnabar_testkit::eventually(
        cinnabar_testkit::PATIENCE,
        "the server to see the target leave",
        || w.cmd(&["CLIENT", "LIST", "ID", &id]) == Frame::Bulk(Vec::new().into()),
    );
    w.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.read(),
        Frame::Push(vec![
            bulk("tracking-redir-broken"),
            int(id.parse().unwrap())
        ])
    );
    let Frame::Map(info) = c.cmd(&["CLIENT", "TRACKINGINFO"]) else {
        panic!()
    };
    assert_eq!(
        info[0].1,
        Frame::Set(vec![bulk("on"), bulk("broken_redirect")])
    );
}

/// The `redis` crate in RESP3: invalidations reach its push channel, and RESP3 pub/sub works.
#[test]
fn redis_crate_resp3_pushes() {
    let srv = TestServer::start();
    let url = format!("{}?protocol=resp3", srv.url());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    con.set_push_sender(tx);
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("cached").query(&mut con).unwrap();
    let mut other = srv.raw();
    other.cmd(&["SET", "cached", "new"]);
    // The push arrives with the next reply the client reads.
    let push =
        cinnabar_testkit::eventually(cinnabar_testkit::PATIENCE, "the invalidation push", || {
            let _: String = redis::cmd("PING").query(&mut con).unwrap();
            rx.try_recv().ok()
        });
    assert_eq!(push.kind, redis::PushKind::Invalidate);
    assert_eq!(
        push.data,
        vec![redis::Value::Array(vec![redis::Value::BulkString(
            b"cached".to_vec()
        )])]
    );

    let mut sub = client.get_connection().unwrap();
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe("news").unwrap();
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hi")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    let m = pubsub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload::<String>().unwrap(), "hi");
}
