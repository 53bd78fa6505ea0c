//! ACL users and permissions as Redis 7.2: one test per rule kind (passwords, on/off,
//! commands and categories, subcommands and first arguments, key patterns with read/write
//! permissions, channels, selectors) and per command path (plain commands, MULTI/EXEC,
//! scripts, SORT, pub/sub, blocked commands), the ACL command itself, the ACL log, the ACL
//! file round trip, and how connections of changed or deleted users are treated.

use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{
    bulk, err, eventually, int, ok, text, words, RawConn, TestServer, PATIENCE,
};

fn noperm_key() -> Frame {
    err("NOPERM No permissions to access a key")
}

fn noperm_channel() -> Frame {
    err("NOPERM No permissions to access a channel")
}

/// A connection authenticated as `user` with password `pw`.
fn login(srv: &TestServer, user: &str, pw: &str) -> RawConn {
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["AUTH", user, pw]), ok());
    c
}

/// A map reply (RESP2: a flat array) as (field, value) pairs.
fn pairs(f: Frame) -> Vec<(String, Frame)> {
    let Frame::Array(items) = f else {
        panic!("expected a map as an array, got {f:?}")
    };
    items
        .chunks(2)
        .map(|kv| (text(&kv[0]), kv[1].clone()))
        .collect()
}

fn field(map: &[(String, Frame)], name: &str) -> Frame {
    map.iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
        .clone()
}

fn closed(c: &mut RawConn) -> bool {
    let (_, closed) = c.read_until_close(Duration::from_secs(5));
    closed
}

#[test]
fn default_user_and_list() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        words(r.cmd(&["ACL", "LIST"])),
        vec!["user default on nopass sanitize-payload ~* &* +@all"]
    );
    assert_eq!(r.cmd(&["ACL", "WHOAMI"]), bulk("default"));
    assert_eq!(words(r.cmd(&["ACL", "USERS"])), vec!["default"]);
    assert_eq!(
        r.cmd(&["AUTH", "pw"]),
        err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
    // Any password works for a nopass user.
    assert_eq!(r.cmd(&["AUTH", "default", "whatever"]), ok());
}

#[test]
fn passwords_and_enabled_flag() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", ">p1", ">p2", "+@all", "~*"]),
        ok()
    );
    let wrong = err("WRONGPASS invalid username-password pair or user is disabled.");
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["AUTH", "u", "p1"]), ok());
    assert_eq!(c.cmd(&["AUTH", "u", "p2"]), ok());
    assert_eq!(c.cmd(&["AUTH", "u", "p3"]), wrong);
    assert_eq!(c.cmd(&["AUTH", "nosuch", "p1"]), wrong);
    // <pass removes one password, by its text; !hash by its hash.
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "<p1"]), ok());
    assert_eq!(c.cmd(&["AUTH", "u", "p1"]), wrong);
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "<p1"]),
        err("ERR Error in ACL SETUSER modifier '<p1': The password you are trying to remove from the user does not exist")
    );
    let getuser = pairs(r.cmd(&["ACL", "GETUSER", "u"]));
    let hashes = words(field(&getuser, "passwords"));
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 64);
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", &format!("!{}", hashes[0])]),
        ok()
    );
    assert_eq!(c.cmd(&["AUTH", "u", "p2"]), wrong);
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", &format!("#{}", hashes[0])]),
        ok()
    );
    assert_eq!(c.cmd(&["AUTH", "u", "p2"]), ok());
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "#xyz"]),
        err("ERR Error in ACL SETUSER modifier '#xyz': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
    );
    // off: no new authentication (the connection already in stays, as in Redis).
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "off"]), ok());
    assert_eq!(srv.raw().cmd(&["AUTH", "u", "p2"]), wrong);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // nopass / resetpass
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "on", "nopass"]), ok());
    assert_eq!(srv.raw().cmd(&["AUTH", "u", "anything"]), ok());
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "resetpass"]), ok());
    assert_eq!(srv.raw().cmd(&["AUTH", "u", "anything"]), wrong);
}

#[test]
fn requirepass_is_the_default_users_password() {
    let srv = TestServer::with_args(&[("requirepass", "secret")]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["GET", "k"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "secret"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(
        words(c.cmd(&["ACL", "LIST"]))[0],
        "user default on sanitize-payload #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all"
    );
    // CONFIG SET requirepass "" gives the default user nopass again.
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", ""]), ok());
    assert_eq!(srv.raw().cmd(&["GET", "k"]), Frame::Null);
    // A password given to the default user by ACL SETUSER requires AUTH of new clients.
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "default", "resetpass", ">x"]),
        ok()
    );
    let mut n = srv.raw();
    assert_eq!(n.cmd(&["PING"]), err("NOAUTH Authentication required."));
    // HELLO AUTH authenticates too.
    let Frame::Array(_) = n.cmd(&["HELLO", "2", "AUTH", "default", "x"]) else {
        panic!("HELLO AUTH failed")
    };
    assert_eq!(n.cmd(&["ACL", "WHOAMI"]), bulk("default"));
}

#[test]
fn command_rules() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["SET", "k", "v"]);
    assert_eq!(
        r.cmd(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            "nopass",
            "~*",
            "-@all",
            "+@string",
            "-set",
            "+client|id",
            "+select|0"
        ]),
        ok()
    );
    let mut c = login(&srv, "u", "x");
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(
        c.cmd(&["SET", "k", "w"]),
        err("NOPERM User u has no permissions to run the 'set' command")
    );
    assert_eq!(
        c.cmd(&["LPUSH", "l", "a"]),
        err("NOPERM User u has no permissions to run the 'lpush' command")
    );
    assert_eq!(c.cmd(&["CLIENT", "ID"]), int(c_id(&mut r, "u")));
    assert_eq!(
        c.cmd(&["CLIENT", "LIST"]),
        err("NOPERM User u has no permissions to run the 'client|list' command")
    );
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        err("NOPERM User u has no permissions to run the 'select' command")
    );
    // AUTH and HELLO are never denied.
    assert_eq!(c.cmd(&["AUTH", "u", "x"]), ok());
    let rules = text(&field(&pairs(r.cmd(&["ACL", "GETUSER", "u"])), "commands"));
    assert_eq!(rules, "-@all +@string -set +client|id +select|0");
    // Unknown names are refused, nothing of the call applied.
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "+get", "+nosuchcmd"]),
        err("ERR Error in ACL SETUSER modifier '+nosuchcmd': Unknown command or category name in ACL")
    );
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "+@nosuch"]),
        err(
            "ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL"
        )
    );
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "+config|get|x"]),
        err("ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported")
    );
    // allcommands / nocommands
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "allcommands"]), ok());
    assert_eq!(c.cmd(&["LPUSH", "l", "a"]), int(1));
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "nocommands"]), ok());
    assert_eq!(
        c.cmd(&["GET", "k"]),
        err("NOPERM User u has no permissions to run the 'get' command")
    );
}

/// The id CLIENT LIST shows for the client authenticated as `user`.
fn c_id(r: &mut RawConn, user: &str) -> i64 {
    let list = text(&r.cmd(&["CLIENT", "LIST"]));
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" user={user} ")))
        .expect("client of user");
    line.split(' ').next().unwrap()[3..].parse().unwrap()
}

#[test]
fn key_patterns_read_and_write() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all", "%R~r:*", "%W~w:*", "~rw:*"]),
        ok()
    );
    r.cmd(&["SET", "r:1", "a"]);
    let mut c = login(&srv, "u", "");
    assert_eq!(c.cmd(&["GET", "r:1"]), bulk("a"));
    assert_eq!(c.cmd(&["SET", "r:1", "b"]), noperm_key());
    assert_eq!(c.cmd(&["SET", "w:1", "b"]), ok());
    assert_eq!(c.cmd(&["GET", "w:1"]), noperm_key());
    // SET with GET reads too.
    assert_eq!(c.cmd(&["SET", "w:1", "c", "GET"]), noperm_key());
    assert_eq!(c.cmd(&["SET", "rw:1", "c", "GET"]), Frame::Null);
    // COPY reads its source and writes its destination.
    assert_eq!(c.cmd(&["COPY", "r:1", "w:2"]), int(1));
    assert_eq!(c.cmd(&["COPY", "w:1", "w:3"]), noperm_key());
    // Keys without an access flag (EXISTS) need neither permission.
    assert_eq!(c.cmd(&["EXISTS", "w:1", "r:1"]), int(2));
    assert_eq!(c.cmd(&["GET", "other"]), noperm_key());
    // The ACL LIST form, and patterns after allkeys refused.
    assert_eq!(
        words(r.cmd(&["ACL", "LIST"]))[1],
        "user u on nopass sanitize-payload %R~r:* %W~w:* ~rw:* resetchannels +@all"
    );
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "allkeys"]), ok());
    assert_eq!(c.cmd(&["GET", "other"]), Frame::Null);
    assert!(text(&r.cmd(&["ACL", "SETUSER", "u", "~x"])).contains("Try 'resetkeys'"));
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "resetkeys"]), ok());
    assert_eq!(c.cmd(&["GET", "r:1"]), noperm_key());
}

/// A NUL byte in a selector ends its rules, as in Redis (whose split stops there); it once
/// made the rule splitter loop until the server ran out of memory.
#[test]
fn a_nul_byte_in_a_selector_is_the_end_of_its_rules() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send(&[b"ACL", b"SETUSER", b"nul", b"(+get \0 ~x)"]);
    assert_eq!(c.read(), ok());
    let list = text(&c.cmd(&["ACL", "LIST"]));
    let user = list
        .split(',')
        .find(|l| l.starts_with("user nul"))
        .expect("user nul listed");
    // The selector holds +get; `~x`, after the NUL, was never read.
    assert!(user.contains("+get)") && !user.contains("~x"), "{user}");
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn selectors() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            "nopass",
            "+get",
            "~a*",
            "(+set",
            "~b*)",
            "(+@list ~l*)"
        ]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert_eq!(c.cmd(&["GET", "a1"]), Frame::Null);
    assert_eq!(c.cmd(&["SET", "b1", "x"]), ok());
    assert_eq!(c.cmd(&["RPUSH", "l1", "x"]), int(1));
    // The denial reported is the most relevant one over all selectors.
    assert_eq!(c.cmd(&["SET", "a1", "x"]), noperm_key());
    let user = pairs(r.cmd(&["ACL", "GETUSER", "u"]));
    let Frame::Array(sels) = field(&user, "selectors") else {
        panic!("selectors")
    };
    assert_eq!(sels.len(), 2);
    assert_eq!(text(&field(&pairs(sels[0].clone()), "keys")), "~b*");
    assert_eq!(
        words(r.cmd(&["ACL", "LIST"]))[1],
        "user u on nopass sanitize-payload ~a* resetchannels -@all +get (~b* resetchannels -@all +set) (~l* resetchannels -@all +@list)"
    );
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "(+get"]),
        err("ERR Unmatched parenthesis in acl selector starting at '(+get'.")
    );
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "clearselectors"]), ok());
    assert_eq!(
        c.cmd(&["SET", "b1", "x"]),
        err("NOPERM User u has no permissions to run the 'set' command")
    );
    // reset: back to a new user's state.
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "reset"]), ok());
    assert_eq!(
        words(r.cmd(&["ACL", "LIST"]))[1],
        "user u off sanitize-payload resetchannels -@all"
    );
}

#[test]
fn channels_and_pubsub() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            "nopass",
            "+@all",
            "~*",
            "resetchannels",
            "&news.*",
            "&lit*"
        ]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert_eq!(c.cmd(&["PUBLISH", "news.a", "m"]), int(0));
    assert_eq!(c.cmd(&["PUBLISH", "other", "m"]), noperm_channel());
    assert_eq!(c.cmd(&["SPUBLISH", "other", "m"]), noperm_channel());
    assert_eq!(c.cmd(&["SUBSCRIBE", "news.1", "other"]), noperm_channel());
    // A pattern subscription must be allowed literally.
    assert_eq!(c.cmd(&["PSUBSCRIBE", "news.a*"]), noperm_channel());
    let mut sub = login(&srv, "u", "");
    let Frame::Array(_) = sub.cmd(&["PSUBSCRIBE", "lit*"]) else {
        panic!("psubscribe")
    };
    // Narrowing the user's channels closes its subscribers that lost a subscription.
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "resetchannels", "&news.*"]),
        ok()
    );
    assert!(
        closed(&mut sub),
        "subscriber of a revoked pattern is disconnected"
    );
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // acl-pubsub-default allchannels: new users get every channel.
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "acl-pubsub-default", "allchannels"]),
        ok()
    );
    assert_eq!(r.cmd(&["ACL", "SETUSER", "v"]), ok());
    assert_eq!(
        words(r.cmd(&["ACL", "LIST"]))[2],
        "user v off sanitize-payload &* -@all"
    );
}

#[test]
fn multi_exec_checks_when_queued_and_when_run() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all", "~k*"]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]), noperm_key());
    assert_eq!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    // Permissions changed between queueing and EXEC.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k1", "1"]), Frame::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "k2"]), Frame::Simple("QUEUED".into()));
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "-incr"]), ok());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand"),
        ])
    );
    let log = r.cmd(&["ACL", "LOG", "1"]);
    let Frame::Array(entries) = log else { panic!() };
    let e = pairs(entries[0].clone());
    assert_eq!(text(&field(&e, "context")), "multi");
    assert_eq!(text(&field(&e, "object")), "incr");
    assert!(text(&field(&e, "client-info")).contains("cmd=exec"));
}

#[test]
fn scripts_check_as_the_caller() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all", "~k*"]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "k1"]),
        ok()
    );
    let e = text(&c.cmd(&["EVAL", "return redis.call('get', 'other')", "0"]));
    assert!(
        e.contains("ACL failure in script: No permissions to access a key"),
        "{e}"
    );
    let e = text(&c.cmd(&["EVAL", "return redis.pcall('get', 'other')['err']", "0"]));
    assert!(e.contains("ACL failure in script"), "{e}");
    let Frame::Array(entries) = r.cmd(&["ACL", "LOG", "1"]) else {
        panic!()
    };
    assert_eq!(text(&field(&pairs(entries[0].clone()), "context")), "lua");
}

/// redis.acl_check_cmd answers for the script's caller, without logging; an unknown
/// command is an error.
#[test]
fn scripts_ask_with_acl_check_cmd() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">123",
            "+@scripting",
            "+set",
            "~x*"
        ]),
        ok()
    );
    let mut c = login(&srv, "bob", "123");
    let check = |c: &mut RawConn, call: &str| {
        c.cmd(&["EVAL", &format!("return redis.acl_check_cmd({call})"), "0"])
    };
    assert_eq!(check(&mut c, "'set','xx',1"), int(1));
    assert_eq!(check(&mut c, "'hset','xx','f',1"), Frame::Null);
    assert_eq!(check(&mut c, "'set','yy',1"), Frame::Null);
    let e = text(&check(&mut c, "'invalid-cmd','arg'"));
    assert!(
        e.contains("Invalid command passed to redis.acl_check_cmd()"),
        "{e}"
    );
    assert_eq!(r.cmd(&["ACL", "LOG"]), Frame::Array(vec![]));
    // The default user may run everything.
    assert_eq!(
        r.cmd(&[
            "EVAL",
            "return redis.acl_check_cmd('hset','k','f','v')",
            "0"
        ]),
        int(1)
    );
}

#[test]
fn sort_by_and_get_need_full_read_access() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    r.cmd(&["RPUSH", "mylist", "1"]);
    r.cmd(&["SET", "w1", "5"]);
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all", "~mylist"]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert_eq!(
        c.cmd(&["SORT", "mylist", "BY", "w*"]),
        err("ERR BY option of SORT denied due to insufficient ACL permissions.")
    );
    assert_eq!(
        c.cmd(&["SORT", "mylist", "GET", "#"]),
        err("ERR GET option of SORT denied due to insufficient ACL permissions.")
    );
    // BY with a constant pattern reads nothing.
    assert_eq!(words(c.cmd(&["SORT", "mylist", "BY", "nosort"])), vec!["1"]);
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "%R~*"]), ok());
    assert_eq!(words(c.cmd(&["SORT", "mylist", "BY", "w*"])), vec!["1"]);
}

#[test]
fn blocked_command_rechecked_when_served() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all", "allkeys"]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    c.send(&[b"BLPOP", b"list1", b"0"]);
    eventually(PATIENCE, "the client to block", || {
        text(&r.cmd(&["INFO", "clients"])).contains("blocked_clients:1")
    });
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "resetkeys"]), ok());
    assert_eq!(r.cmd(&["LPUSH", "list1", "foo"]), int(1));
    assert_eq!(c.read(), noperm_key());
    assert_eq!(r.cmd(&["LLEN", "list1"]), int(1), "nothing was popped");
}

#[test]
fn deluser_closes_its_connections() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", ">p", "+@all", "~*"]),
        ok()
    );
    let mut c = login(&srv, "u", "p");
    let mut me = login(&srv, "u", "p");
    assert_eq!(
        r.cmd(&["ACL", "DELUSER", "default"]),
        err("ERR The 'default' user cannot be removed")
    );
    // Deleting the user one runs as: the reply first, then the connection closes.
    assert_eq!(me.cmd(&["ACL", "DELUSER", "u", "nosuch"]), int(1));
    assert!(closed(&mut me));
    assert!(closed(&mut c));
    assert_eq!(words(r.cmd(&["ACL", "USERS"])), vec!["default"]);
}

#[test]
fn client_kill_user_and_client_list() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", "nopass", "+@all"]),
        ok()
    );
    let mut c = login(&srv, "u", "");
    assert!(text(&r.cmd(&["CLIENT", "LIST"])).contains(" user=u "));
    assert_eq!(
        r.cmd(&["CLIENT", "KILL", "USER", "nosuch"]),
        err("ERR No such user 'nosuch'")
    );
    assert_eq!(r.cmd(&["CLIENT", "KILL", "USER", "u"]), int(1));
    assert!(closed(&mut c));
    // RESET goes back to the default user.
    let mut d = login(&srv, "u", "");
    assert_eq!(d.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    assert_eq!(d.cmd(&["ACL", "WHOAMI"]), bulk("default"));
}

#[test]
fn acl_log_entries_and_grouping() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "u", "on", ">p", "+get", "~k"]),
        ok()
    );
    let mut c = login(&srv, "u", "p");
    assert_eq!(r.cmd(&["ACL", "LOG", "RESET"]), ok());
    c.cmd(&["GET", "x"]);
    c.cmd(&["GET", "x"]);
    c.cmd(&["SET", "k", "v"]);
    srv.raw().cmd(&["AUTH", "u", "wrong"]);
    let Frame::Array(entries) = r.cmd(&["ACL", "LOG"]) else {
        panic!()
    };
    assert_eq!(entries.len(), 3);
    let auth = pairs(entries[0].clone());
    assert_eq!(text(&field(&auth, "reason")), "auth");
    assert_eq!(text(&field(&auth, "object")), "AUTH");
    assert_eq!(text(&field(&auth, "username")), "u");
    let cmd = pairs(entries[1].clone());
    assert_eq!(text(&field(&cmd, "reason")), "command");
    assert_eq!(text(&field(&cmd, "object")), "set");
    let key = pairs(entries[2].clone());
    assert_eq!(text(&field(&key, "reason")), "key");
    assert_eq!(text(&field(&key, "object")), "x");
    assert_eq!(field(&key, "count"), int(2), "similar denials are grouped");
    assert_eq!(text(&field(&key, "context")), "toplevel");
    assert!(text(&field(&key, "client-info")).contains("user=u"));
    let names: Vec<String> = pairs(entries[2].clone())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        names,
        [
            "count",
            "reason",
            "context",
            "object",
            "username",
            "age-seconds",
            "client-info",
            "entry-id",
            "timestamp-created",
            "timestamp-last-updated"
        ]
    );
    let Frame::Array(one) = r.cmd(&["ACL", "LOG", "1"]) else {
        panic!()
    };
    assert_eq!(one.len(), 1);
    let info = text(&r.cmd(&["INFO", "stats"]));
    assert!(info.contains("acl_access_denied_auth:1"), "{info}");
    assert!(info.contains("acl_access_denied_cmd:1"));
    assert!(info.contains("acl_access_denied_key:2"));
    assert_eq!(r.cmd(&["ACL", "LOG", "RESET"]), ok());
    assert_eq!(r.cmd(&["ACL", "LOG"]), Frame::Array(vec![]));
}

#[test]
fn cat_genpass_dryrun_help() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    let cats = words(r.cmd(&["ACL", "CAT"]));
    assert_eq!(cats.len(), 21);
    assert_eq!(cats[0], "keyspace");
    let strings = words(r.cmd(&["ACL", "CAT", "string"]));
    assert!(strings.contains(&"get".to_string()) && !strings.contains(&"lpush".to_string()));
    assert!(words(r.cmd(&["ACL", "CAT", "admin"])).contains(&"config|set".to_string()));
    assert_eq!(
        r.cmd(&["ACL", "CAT", "nosuch"]),
        err("ERR Unknown category 'nosuch'")
    );
    assert_eq!(text(&r.cmd(&["ACL", "GENPASS"])).len(), 64);
    assert_eq!(text(&r.cmd(&["ACL", "GENPASS", "5"])).len(), 2);
    assert!(text(&r.cmd(&["ACL", "GENPASS", "0"])).contains("up to 4096"));
    assert_eq!(r.cmd(&["ACL", "SETUSER", "u", "on", "+get", "~k*"]), ok());
    assert_eq!(r.cmd(&["ACL", "DRYRUN", "u", "GET", "k1"]), ok());
    assert_eq!(
        r.cmd(&["ACL", "DRYRUN", "u", "GET", "x"]),
        bulk("User u has no permissions to access the 'x' key")
    );
    assert_eq!(
        r.cmd(&["ACL", "DRYRUN", "u", "SET", "k", "v"]),
        bulk("User u has no permissions to run the 'set' command")
    );
    assert_eq!(
        r.cmd(&["ACL", "DRYRUN", "nosuch", "GET", "k"]),
        err("ERR User 'nosuch' not found")
    );
    assert_eq!(
        r.cmd(&["ACL", "DRYRUN", "u", "NOSUCH"]),
        err("ERR Command 'NOSUCH' not found")
    );
    assert_eq!(
        r.cmd(&["ACL", "DRYRUN", "u", "GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    let help = words(r.cmd(&["ACL", "HELP"]));
    assert!(help[0].starts_with("ACL <subcommand>"));
    assert!(help.iter().any(|l| l.starts_with("DRYRUN")));
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "a b"]),
        err("ERR Usernames can't contain spaces or null characters")
    );
    assert!(text(&r.cmd(&["ACL", "LOAD"])).contains("not configured to use an ACL file"));
}

#[test]
fn aclfile_save_and_load_round_trip() {
    let dir = cinnabar_testkit::temp_dir("acl-file");
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user alice on >pw ~a* +get (+set ~s*)\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let srv = TestServer::with_args(&[("aclfile", file.to_str().unwrap())]);
    let mut r = srv.raw();
    let list = words(r.cmd(&["ACL", "LIST"]));
    assert_eq!(list.len(), 2);
    assert!(list[0].starts_with("user alice on sanitize-payload #"));
    assert!(list[0].ends_with("~a* resetchannels -@all +get (~s* resetchannels -@all +set)"));
    let mut a = login(&srv, "alice", "pw");
    assert_eq!(
        r.cmd(&["ACL", "SETUSER", "bob", "on", "nopass", "+@read", "~*"]),
        ok()
    );
    assert_eq!(r.cmd(&["ACL", "SAVE"]), ok());
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(saved.lines().count(), 3);
    assert!(saved.contains("user bob on nopass sanitize-payload ~* resetchannels -@all +@read\n"));
    // A bad file changes nothing and says why.
    std::fs::write(&file, "user carol on +nosuch\nfoo\n").unwrap();
    let e = text(&r.cmd(&["ACL", "LOAD"]));
    assert!(e.contains("Error in applying operation '+nosuch'"), "{e}");
    assert!(e.contains("should start with user keyword"), "{e}");
    assert!(e.ends_with("no change to the previously active ACL rules was performed"));
    assert_eq!(
        words(r.cmd(&["ACL", "USERS"])),
        vec!["alice", "bob", "default"]
    );
    // A good file replaces every user; the replaced users' connections are closed.
    std::fs::write(&file, saved).unwrap();
    assert_eq!(r.cmd(&["ACL", "LOAD"]), ok());
    assert!(closed(&mut a));
    assert_eq!(
        words(r.cmd(&["ACL", "USERS"])),
        vec!["alice", "bob", "default"]
    );
    assert_eq!(login(&srv, "alice", "pw").cmd(&["GET", "a1"]), Frame::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_lines_in_the_config_file() {
    let dir = cinnabar_testkit::temp_dir("acl-conf");
    let conf = dir.join("redis.conf");
    std::fs::write(
        &conf,
        "port 0\nbind 127.0.0.1\nsave \"\"\nuser worker on >w ~jobs:* +@list +@connection\nuser default on >root ~* &* +@all\n",
    )
    .unwrap();
    let config =
        cinnabar_server::config::Config::from_args(&[conf.to_str().unwrap().to_string()]).unwrap();
    let handle = cinnabar_server::start(config).unwrap();
    let mut c = RawConn::connect(handle.addr());
    assert_eq!(c.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "worker", "w"]), ok());
    assert_eq!(c.cmd(&["RPUSH", "jobs:1", "x"]), int(1));
    assert_eq!(c.cmd(&["RPUSH", "other", "x"]), noperm_key());
    assert_eq!(
        c.cmd(&["GET", "jobs:1"]),
        err("NOPERM User worker has no permissions to run the 'get' command")
    );
    assert_eq!(c.cmd(&["AUTH", "root"]), ok());
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), bulk("default"));
    drop(handle);
    // A bad rule stops the server at start-up.
    std::fs::write(&conf, "port 0\nuser x on +nosuch\n").unwrap();
    let config =
        cinnabar_server::config::Config::from_args(&[conf.to_str().unwrap().to_string()]).unwrap();
    let e = cinnabar_server::start(config)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("Unknown command or category name in ACL"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
