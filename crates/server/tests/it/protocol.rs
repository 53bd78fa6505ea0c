//! The wire protocol: inline commands, pipelining, RESP3, malformed input, authentication.

use std::io::Write;
use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{bulk, eventually, ok, RawConn, TestServer, PATIENCE};

/// Sends raw bytes and returns everything the server sends back before closing.
fn send_and_close(srv: &TestServer, bytes: &[u8]) -> (String, bool) {
    let mut c = srv.raw();
    c.send_raw(bytes);
    let (out, closed) = c.read_until_close(Duration::from_secs(3));
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[test]
fn inline_commands_work_like_telnet() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send_raw(b"PING\r\n");
    assert_eq!(c.read(), Frame::Simple("PONG".into()));
    c.send_raw(b"set \"a b\" 'c d'\n");
    assert_eq!(c.read(), ok());
    c.send_raw(b"GET \"a b\"\r\n");
    assert_eq!(c.read(), bulk("c d"));
    c.send_raw(b"\r\n\r\nECHO \"\\x41\\n\"\r\n");
    assert_eq!(c.read(), bulk("A\n"));
}

#[test]
fn pipeline_of_ten_thousand_commands() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let mut buf = Vec::new();
    for i in 0..10_000 {
        cinnabar_resp::encode_command(
            &[
                b"SET".as_slice(),
                format!("k{i}").as_bytes(),
                format!("{i}").as_bytes(),
            ],
            &mut buf,
        );
        cinnabar_resp::encode_command(&[b"INCR".as_slice(), format!("k{i}").as_bytes()], &mut buf);
    }
    c.send_raw(&buf);
    for i in 0..10_000 {
        assert_eq!(c.read(), ok());
        assert_eq!(c.read(), Frame::Integer(i + 1));
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(10_000));
}

#[test]
fn protocol_errors_reply_and_close() {
    let srv = TestServer::start();
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$a\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*2000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$600000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n+OK\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"set \"a b\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, want) in cases {
        let (out, closed) = send_and_close(&srv, input);
        assert_eq!(out, *want, "input {:?}", String::from_utf8_lossy(input));
        assert!(
            closed,
            "connection must be closed after {:?}",
            String::from_utf8_lossy(input)
        );
    }
    // A bulk payload not followed by CRLF is an error too.
    let (out, closed) = send_and_close(&srv, b"*1\r\n$4\r\nPINGxx");
    assert!(out.starts_with("-ERR Protocol error: "), "{out}");
    assert!(closed);
    // The server is still fine.
    assert_eq!(srv.raw().cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn commands_before_a_protocol_error_still_run() {
    let srv = TestServer::start();
    let (out, closed) = send_and_close(&srv, b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n*x\r\n");
    assert_eq!(
        out,
        "+OK\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert!(closed);
    assert_eq!(srv.raw().cmd(&["GET", "x"]), bulk("1"));
}

#[test]
fn half_a_command_then_disconnect_costs_nothing() {
    let srv = TestServer::start();
    for _ in 0..50 {
        let mut c = std::net::TcpStream::connect(srv.addr()).unwrap();
        c.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
            .unwrap();
        drop(c);
    }
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["EXISTS", "k"]), Frame::Integer(0));
    // Once the server has noticed the closed sockets, only we remain.
    eventually(
        PATIENCE,
        "the closed connections to leave CLIENT LIST",
        || {
            let Frame::Bulk(list) = c.cmd(&["CLIENT", "LIST"]) else {
                panic!()
            };
            String::from_utf8_lossy(&list).lines().count() == 1
        },
    );
}

#[test]
fn split_reads_are_reassembled() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let cmd = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    for b in cmd.iter() {
        c.send_raw(&[*b]);
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.read(), ok());
    assert_eq!(c.cmd(&["GET", "key"]), bulk("value"));
}

#[test]
fn hello_switches_to_resp3() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let Frame::Map(m) = c.cmd(&["HELLO", "3"]) else {
        panic!("expected a map")
    };
    let get = |k: &str| {
        m.iter()
            .find(|(a, _)| *a == bulk(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("server"), bulk("redis"));
    assert_eq!(get("version"), bulk("7.2.4"));
    assert_eq!(get("proto"), Frame::Integer(3));
    assert_eq!(get("mode"), bulk("standalone"));
    assert_eq!(get("role"), bulk("master"));
    assert_eq!(c.cmd(&["GET", "nothing"]), Frame::Null);
    // RESP3 null is "_\r\n".
    let (raw, _) = {
        let mut c2 = RawConn::connect(srv.addr());
        // QUIT closes the connection after its +OK: everything before it is the GET reply.
        c2.send_raw(b"HELLO 3\r\nGET nothing\r\nQUIT\r\n");
        c2.read();
        c2.read_until_close(PATIENCE)
    };
    assert_eq!(raw, b"_\r\n+OK\r\n");
    assert_eq!(
        c.cmd(&["HELLO", "4"]),
        Frame::Error("NOPROTO unsupported protocol version".into())
    );
    let Frame::Array(_) = c.cmd(&["HELLO", "2"]) else {
        panic!("RESP2 map is a flat array")
    };
}

#[test]
fn requirepass_and_auth() {
    let srv = TestServer::with_args(&[("requirepass", "s3cret")]);
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Frame::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), ok());
    assert_eq!(c.cmd(&["GET", "a"]), Frame::Null);
    let mut c2 = srv.raw();
    let Frame::Map(_) = c2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"])
    else {
        panic!()
    };
    assert_eq!(c2.cmd(&["CLIENT", "GETNAME"]), bulk("me"));
    let mut c3 = srv.raw();
    let Frame::Error(e) = c3.cmd(&["HELLO", "3"]) else {
        panic!()
    };
    assert!(e.starts_with("NOAUTH HELLO must be called"));
    let srv2 = TestServer::start();
    let Frame::Error(e) = srv2.raw().cmd(&["AUTH", "x"]) else {
        panic!()
    };
    assert!(e.starts_with("ERR AUTH <password> called without any password configured"));
}

#[test]
fn quit_reset_select_and_client_reply() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["SELECT", "16"]),
        Frame::Error("ERR DB index is out of range".into())
    );
    assert_eq!(
        c.cmd(&["SELECT", "x"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    c.cmd(&["SET", "in3", "v"]);
    assert_eq!(c.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    assert_eq!(c.cmd(&["GET", "in3"]), Frame::Null);
    c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY ON\r\n");
    assert_eq!(c.read(), ok());
    c.send_raw(b"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n");
    assert_eq!(c.read(), bulk("2"));
    assert_eq!(c.cmd(&["QUIT"]), ok());
    let (rest, closed) = c.read_until_close(Duration::from_secs(2));
    assert!(rest.is_empty() && closed);
}

#[test]
fn idle_timeout_closes_connections() {
    let srv = TestServer::with_args(&[("timeout", "1")]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let (_, closed) = c.read_until_close(Duration::from_secs(4));
    assert!(closed);
}

#[test]
fn client_kill_and_list() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.cmd(&["CLIENT", "SETNAME", "alpha"]);
    let Frame::Integer(id) = a.cmd(&["CLIENT", "ID"]) else {
        panic!()
    };
    let Frame::Bulk(list) = b.cmd(&["CLIENT", "LIST"]) else {
        panic!()
    };
    let list = String::from_utf8_lossy(&list).into_owned();
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=alpha"),
        "{list}"
    );
    assert_eq!(
        b.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Frame::Integer(1)
    );
    let (_, closed) = a.read_until_close(Duration::from_secs(2));
    assert!(closed);
    assert_eq!(
        b.cmd(&["CLIENT", "SETNAME", "a b"]),
        Frame::Error(
            "ERR Client names cannot contain spaces, newlines or special characters.".into()
        )
    );
}

#[test]
fn client_pause_write_holds_writes_and_counts_them_as_blocked() {
    let srv = TestServer::start();
    let mut admin = srv.raw();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
    // Reads still run.
    assert_eq!(admin.cmd(&["GET", "k"]), Frame::Null);
    let mut w = srv.raw();
    w.send(&[b"SET", b"k", b"v"]);
    // The paused client is reported as blocked.
    admin.wait_blocked(1);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(w.read(), ok());
    assert_eq!(admin.cmd(&["GET", "k"]), bulk("v"));
}
