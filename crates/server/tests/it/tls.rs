//! TLS: the TLS port (server-only and mutual TLS), certificate reload by CONFIG SET, an
//! encrypted key, configuration errors, replication over TLS, and redis-cli --tls. Every
//! certificate is made by the test (testkit's `Pki`).

use std::process::Command;

use cinnabar_resp::Frame;
use cinnabar_server::config::Config;
use cinnabar_testkit::tls::{cert_der, s};
use cinnabar_testkit::{
    bulk, eventually, free_port, ok, text, Pki, RawConn, RedisCli, TestServer, TlsConn, PATIENCE,
};

/// A server with a plain port and a TLS port using `pki`'s first server certificate, with
/// `extra` parameters.
fn tls_server(pki: &Pki, extra: &[(&str, &str)]) -> TestServer {
    let mut args: Vec<(String, String)> = vec![("port".into(), free_port().to_string())];
    args.extend(pki.server_args(free_port()));
    args.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::with_args(&pairs)
}

fn tls_addr(srv: &TestServer) -> std::net::SocketAddr {
    srv.handle.tls_addr().expect("a TLS listener")
}

/// Whether a session with these credentials can run a command.
fn serves(
    srv: &TestServer,
    ca: &std::path::Path,
    client: Option<(&std::path::Path, &std::path::Path)>,
) -> bool {
    match TlsConn::connect(tls_addr(srv), ca, client) {
        Ok(mut c) => matches!(c.cmd(&["PING"]), Ok(Frame::Simple(p)) if p == "PONG"),
        Err(_) => false,
    }
}

#[test]
fn server_only_tls_serves_commands_beside_plain_tcp() {
    let pki = Pki::generate("tls-server-only");
    let srv = tls_server(&pki, &[("tls-auth-clients", "no")]);
    let mut c = TlsConn::connect(tls_addr(&srv), &pki.ca, None).expect("TLS handshake");
    assert_eq!(c.cmd(&["SET", "k", "over tls"]).unwrap(), ok());
    // A big value crosses many TLS records both ways.
    let big = "x".repeat(300_000);
    assert_eq!(c.cmd(&["SET", "big", &big]).unwrap(), ok());
    assert_eq!(c.cmd(&["STRLEN", "big"]).unwrap(), Frame::Integer(300_000));
    assert_eq!(c.cmd(&["GET", "big"]).unwrap(), bulk(&big));
    // The plain port serves the same data.
    let mut plain = srv.raw();
    assert_eq!(plain.cmd(&["GET", "k"]), bulk("over tls"));
    let info = text(&plain.cmd(&["INFO", "server"]));
    let tls_port = tls_addr(&srv).port();
    assert!(
        info.contains(&format!(
            "listener2:name=tls,bind=127.0.0.1,port={tls_port}\r\n"
        )),
        "{info}"
    );
    assert!(info.contains("listener0:name=tcp,"), "{info}");
    // A plain client on the TLS port gets no reply, not even a TLS alert: its bytes are not
    // a TLS handshake, and the connection is reset as Redis's (unit/tls: "I/O error").
    let mut raw = std::net::TcpStream::connect(tls_addr(&srv)).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    use std::io::{Read, Write};
    raw.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut got = Vec::new();
    let r = raw.read_to_end(&mut got);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    // Pub/Sub delivery and a blocked command over TLS.
    let mut sub = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    let reply = sub.cmd(&["SUBSCRIBE", "ch"]).unwrap();
    assert_eq!(cinnabar_testkit::words(reply), ["subscribe", "ch", "1"]);
    assert_eq!(plain.cmd(&["PUBLISH", "ch", "hello"]), Frame::Integer(1));
    let msg = sub.read().unwrap();
    assert_eq!(cinnabar_testkit::words(msg), ["message", "ch", "hello"]);
    let mut blocked = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    blocked.send(&["BLPOP", "list", "0"]).unwrap();
    eventually(PATIENCE, "BLPOP to block", || {
        plain.info_field("clients", "blocked_clients") == "1"
    });
    assert_eq!(plain.cmd(&["RPUSH", "list", "v"]), Frame::Integer(1));
    assert_eq!(
        cinnabar_testkit::words(blocked.read().unwrap()),
        ["list", "v"]
    );
}

#[test]
fn port_zero_with_a_tls_port_listens_for_tls_only() {
    let pki = Pki::generate("tls-only");
    let tls_port = free_port();
    let mut args = pki.server_args(tls_port);
    args.push(("tls-auth-clients".into(), "no".into()));
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let srv = TestServer::with_args(&pairs);
    assert!(srv.handle.addrs.is_empty());
    assert_eq!(srv.addr().port(), tls_port);
    let mut c = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    let info = text(&c.cmd(&["INFO", "server"]).unwrap());
    assert!(info.contains(&format!("tcp_port:{tls_port}\r\n")), "{info}");
    assert!(!info.contains("listener0:"), "{info}");
}

#[test]
fn mutual_tls_refuses_missing_and_foreign_client_certificates() {
    let pki = Pki::generate("tls-mutual");
    // tls-auth-clients defaults to yes, as in Redis.
    let srv = tls_server(&pki, &[]);
    assert!(serves(
        &srv,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key))
    ));
    assert!(
        !serves(&srv, &pki.ca, None),
        "a client without a certificate was served"
    );
    assert!(
        !serves(
            &srv,
            &pki.ca,
            Some((&pki.other_client_cert, &pki.other_client_key))
        ),
        "a client certificate from another CA was accepted"
    );
    // The refused sessions never became clients.
    let mut plain = srv.raw();
    assert_eq!(plain.info_field("clients", "connected_clients"), "1");
}

#[test]
fn optional_client_auth_accepts_with_and_without_certificate() {
    let pki = Pki::generate("tls-optional");
    let srv = tls_server(&pki, &[("tls-auth-clients", "optional")]);
    assert!(serves(&srv, &pki.ca, None));
    assert!(serves(
        &srv,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key))
    ));
    // A certificate that is sent must still verify.
    assert!(!serves(
        &srv,
        &pki.ca,
        Some((&pki.other_client_cert, &pki.other_client_key))
    ));
    // CONFIG SET tls-auth-clients applies to new connections.
    let mut plain = srv.raw();
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-auth-clients", "yes"]),
        ok()
    );
    assert!(!serves(&srv, &pki.ca, None));
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-auth-clients", "no"]),
        ok()
    );
    assert!(serves(&srv, &pki.ca, None));
}

#[test]
fn config_set_cert_file_switches_the_certificate_of_new_connections() {
    let pki = Pki::generate("tls-reload");
    let srv = tls_server(&pki, &[("tls-auth-clients", "no")]);
    let mut first = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    assert_eq!(first.peer_cert(), cert_der(&pki.server_cert));
    let reply = first
        .cmd(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &s(&pki.server2_cert),
            "tls-key-file",
            &s(&pki.server2_key),
        ])
        .unwrap();
    assert_eq!(reply, ok());
    let mut second = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    assert_eq!(second.peer_cert(), cert_der(&pki.server2_cert));
    assert_eq!(second.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    // The open session goes on with its certificate.
    assert_eq!(first.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));

    // A file that does not load is an error and changes nothing.
    let missing = pki.dir.join("missing.crt");
    let reply = second
        .cmd(&["CONFIG", "SET", "tls-cert-file", &s(&missing)])
        .unwrap();
    let Frame::Error(e) = reply else {
        panic!("{reply:?}")
    };
    assert!(
        e.starts_with("ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration."),
        "{e}"
    );
    assert!(e.contains("missing.crt"), "{e}");
    assert_eq!(
        cinnabar_testkit::words(second.cmd(&["CONFIG", "GET", "tls-cert-file"]).unwrap()),
        ["tls-cert-file".to_string(), s(&pki.server2_cert)]
    );
    // A key that does not match the certificate is refused too.
    let reply = second
        .cmd(&["CONFIG", "SET", "tls-key-file", &s(&pki.server_key)])
        .unwrap();
    assert!(matches!(reply, Frame::Error(_)), "{reply:?}");
    let third = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    assert_eq!(third.peer_cert(), cert_der(&pki.server2_cert));
}

#[test]
fn encrypted_key_loads_with_its_password() {
    let pki = Pki::generate("tls-encrypted-key");
    let key = s(&pki.server_key_encrypted);
    let srv = tls_server(
        &pki,
        &[
            ("tls-auth-clients", "no"),
            ("tls-key-file", &key),
            ("tls-key-file-pass", Pki::PASSWORD),
        ],
    );
    assert!(serves(&srv, &pki.ca, None));
    assert_eq!(cert_der(&pki.server_cert), {
        let c = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
        c.peer_cert()
    });

    // A wrong or missing password: the server does not start, and says why.
    let start = |pass: &str| {
        let mut args: Vec<String> = vec!["--port".into(), "0".into(), "--save".into(), "".into()];
        for (k, v) in pki.server_args(free_port()) {
            args.push(format!("--{k}"));
            args.push(v);
        }
        args.extend(["--tls-key-file".into(), key.clone()]);
        args.extend(["--tls-key-file-pass".into(), pass.to_string()]);
        let config = Config::from_args(&args).unwrap();
        cinnabar_server::start(config).map(|_| ())
    };
    let e = start("wrong").unwrap_err().to_string();
    assert!(
        e.contains("Failed to configure TLS") && e.contains("decrypt"),
        "{e}"
    );
    let e = start("").unwrap_err().to_string();
    assert!(e.contains("tls-key-file-pass is empty"), "{e}");
}

#[test]
fn parameters_in_files_flags_and_config_get_set() {
    let conf = Config::from_text(
        "tls-port 6380\ntls-cert-file /x/redis.crt\ntls-key-file /x/redis.key\n\
         tls-auth-clients optional\ntls-protocols \"TLSv1.2 TLSv1.3\"\n\
         tls-ciphersuites TLS_AES_128_GCM_SHA256\ntls-replication yes\ntls-cluster no\n\
         tls-session-caching no\ntls-session-cache-size 100\ntls-session-cache-timeout 60\n\
         tls-prefer-server-ciphers yes\ntls-ca-cert-dir /etc/ssl/certs\n",
    )
    .unwrap();
    assert_eq!(conf.get("tls-port"), "6380");
    assert_eq!(conf.get("tls-auth-clients"), "optional");
    assert_eq!(conf.get("tls-protocols"), "TLSv1.2 TLSv1.3");
    assert_eq!(conf.get("tls-session-cache-size"), "100");
    assert!(Config::from_text("tls-auth-clients maybe\n").is_err());

    let pki = Pki::generate("tls-params");
    let srv = tls_server(&pki, &[("tls-auth-clients", "no")]);
    let mut c = srv.raw();
    let get =
        |c: &mut RawConn, name: &str| cinnabar_testkit::words(c.cmd(&["CONFIG", "GET", name]));
    assert_eq!(get(&mut c, "tls-auth-clients"), ["tls-auth-clients", "no"]);
    assert_eq!(
        get(&mut c, "tls-port"),
        ["tls-port".to_string(), tls_addr(&srv).port().to_string()]
    );
    // Cipher names map to rustls's suites; an unknown one is an error naming it.
    let reply = c.cmd(&["CONFIG", "SET", "tls-ciphers", "ECDHE-RSA-RC4-SHA"]);
    let Frame::Error(e) = reply else {
        panic!("{reply:?}")
    };
    assert!(
        e.contains("Unknown cipher 'ECDHE-RSA-RC4-SHA' in tls-ciphers"),
        "{e}"
    );
    assert_eq!(get(&mut c, "tls-ciphers"), ["tls-ciphers", ""]);
    let reply = c.cmd(&["CONFIG", "SET", "tls-protocols", "SSLv3"]);
    assert!(matches!(reply, Frame::Error(_)), "{reply:?}");
    // TLS 1.2 only, with one suite: the session negotiates exactly that.
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "tls-protocols",
            "TLSv1.2",
            "tls-ciphers",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "tls-prefer-server-ciphers",
            "yes",
            "tls-session-caching",
            "no",
        ]),
        ok()
    );
    let mut t = TlsConn::connect(tls_addr(&srv), &pki.ca, None).unwrap();
    assert_eq!(t.protocol(), "TLSv1_2");
    assert_eq!(t.suite(), "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(t.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    // tls-auth-clients yes without a CA is refused, as Redis refuses it.
    let reply = c.cmd(&[
        "CONFIG",
        "SET",
        "tls-ca-cert-file",
        "",
        "tls-auth-clients",
        "yes",
    ]);
    let Frame::Error(e) = reply else {
        panic!("{reply:?}")
    };
    assert!(
        e.contains("Either tls-ca-cert-file or tls-ca-cert-dir must be specified"),
        "{e}"
    );
    // A CA directory works as well as a CA file.
    let dir = pki.dir.join("cadir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&pki.ca, dir.join("ca.pem")).unwrap();
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "tls-ca-cert-file",
            "",
            "tls-ca-cert-dir",
            &s(&dir),
            "tls-auth-clients",
            "yes",
        ]),
        ok()
    );
    assert!(serves(
        &srv,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key))
    ));
    assert!(!serves(&srv, &pki.ca, None));
}

#[test]
fn config_set_tls_port_moves_and_closes_the_tls_listener() {
    let pki = Pki::generate("tls-port-set");
    // No TLS at start: the files are set, the port is not.
    let srv = TestServer::with_args(&[
        ("tls-cert-file", &s(&pki.server_cert)),
        ("tls-key-file", &s(&pki.server_key)),
        ("tls-auth-clients", "no"),
    ]);
    let mut c = srv.raw();
    let port = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "tls-port", &port.to_string()]),
        ok()
    );
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut t = TlsConn::connect(addr, &pki.ca, None).expect("the new TLS port");
    assert_eq!(t.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    assert!(c
        .info("server")
        .contains(&format!("listener2:name=tls,bind=127.0.0.1,port={port}")));
    // Moving it closes the old port.
    let port2 = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "tls-port", &port2.to_string()]),
        ok()
    );
    let addr2: std::net::SocketAddr = ([127, 0, 0, 1], port2).into();
    assert!(TlsConn::connect(addr2, &pki.ca, None).is_ok());
    eventually(PATIENCE, "the old TLS port to close", || {
        std::net::TcpStream::connect(addr).is_err()
    });
    // The open session on the old port goes on.
    assert_eq!(t.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    // A port that cannot be bound is an error and changes nothing.
    let taken = srv.addr().port().to_string();
    let reply = c.cmd(&["CONFIG", "SET", "tls-port", &taken]);
    let Frame::Error(e) = reply else {
        panic!("{reply:?}")
    };
    assert!(
        e.ends_with("Unable to listen on this port. Check server logs."),
        "{e}"
    );
    assert_eq!(
        cinnabar_testkit::words(c.cmd(&["CONFIG", "GET", "tls-port"])),
        ["tls-port".to_string(), port2.to_string()]
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "tls-port", "0"]), ok());
    eventually(PATIENCE, "the TLS port to close", || {
        std::net::TcpStream::connect(addr2).is_err()
    });
    assert!(!c.info("server").contains("listener2:"));
}

#[test]
fn replica_follows_a_primary_over_tls() {
    let pki = Pki::generate("tls-replication");
    let primary = tls_server(&pki, &[("repl-diskless-sync-delay", "0")]);
    let mut p = primary.raw();
    assert_eq!(p.cmd(&["SET", "before", "1"]), ok());
    // The replica presents its own certificate (tls-cert-file) as a client certificate,
    // as Redis does without tls-client-cert-file.
    let replica = TestServer::with_args(&[
        ("tls-replication", "yes"),
        ("tls-cert-file", &s(&pki.client_cert)),
        ("tls-key-file", &s(&pki.client_key)),
        ("tls-ca-cert-file", &s(&pki.ca)),
    ]);
    let mut r = replica.raw();
    let port = tls_addr(&primary).port().to_string();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    eventually(PATIENCE, "the replica's link up over TLS", || {
        r.info_field("replication", "master_link_status") == "up"
    });
    assert_eq!(p.cmd(&["SET", "after", "2"]), ok());
    eventually(PATIENCE, "the write to reach the replica", || {
        r.cmd(&["GET", "after"]) == bulk("2")
    });
    assert_eq!(r.cmd(&["GET", "before"]), bulk("1"));
    assert_eq!(p.info_field("replication", "connected_slaves"), "1");
}

#[test]
fn redis_cli_talks_to_us_over_tls() {
    let Some(cli) = RedisCli::find() else {
        return;
    };
    let pki = Pki::generate("tls-redis-cli");
    let srv = tls_server(&pki, &[]);
    let port = tls_addr(&srv).port().to_string();
    let run = |extra: &[&str]| {
        let out = Command::new(&cli)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "--tls",
                "--cacert",
                &s(&pki.ca),
            ])
            .args(extra)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let cert = s(&pki.client_cert);
    let key = s(&pki.client_key);
    assert_eq!(
        run(&["--cert", &cert, "--key", &key, "set", "from", "redis-cli"]),
        "OK\n"
    );
    assert_eq!(
        run(&["--cert", &cert, "--key", &key, "get", "from"]),
        "redis-cli\n"
    );
    // Without a client certificate the server refuses the session.
    let out = run(&["ping"]);
    assert!(!out.contains("PONG"), "{out}");
}

#[test]
fn busy_script_answers_tls_clients_through_their_sessions() {
    let pki = Pki::generate("tls-busy");
    let srv = tls_server(
        &pki,
        &[
            ("tls-auth-clients", "no"),
            ("threads", "1"),
            ("busy-reply-threshold", "50"),
        ],
    );
    let connect = || TlsConn::connect(tls_addr(&srv), &pki.ca, None).expect("TLS handshake");
    let (mut runner, mut other, mut tx, mut split) = (connect(), connect(), connect(), connect());
    for c in [&mut other, &mut tx, &mut split] {
        assert_eq!(c.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    }
    let mut sub = connect();
    let reply = sub.cmd(&["SUBSCRIBE", "ch"]).unwrap();
    assert_eq!(cinnabar_testkit::words(reply), ["subscribe", "ch", "1"]);
    runner.send(&["EVAL", "while true do end", "0"]).unwrap();
    // The only worker is stuck in the script: past busy-reply-threshold the busy responder
    // answers its TLS clients through their sessions (before the script starts, GET runs).
    let e = eventually(PATIENCE, "the script to be reported busy", || {
        match other.cmd(&["GET", "x"]).unwrap() {
            Frame::Error(e) => Some(e),
            _ => None,
        }
    });
    assert!(e.starts_with("BUSY Redis is busy running a script"), "{e}");
    // A subscriber too (Redis checks the Pub/Sub context first: PING is allowed there, and
    // then refused as busy).
    let e = text(&sub.cmd(&["PING"]).unwrap());
    assert!(e.starts_with("ERR:BUSY"), "{e}");
    // A transaction started meanwhile fails as in Redis.
    assert_eq!(tx.cmd(&["MULTI"]).unwrap(), ok());
    let e = text(&tx.cmd(&["SET", "k", "v"]).unwrap());
    assert!(e.starts_with("ERR:BUSY"), "{e}");
    // Half a command now, the rest after the script: the half waits in the stash.
    split
        .send_raw(b"*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$2\r\nv")
        .unwrap();
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]).unwrap(), ok());
    let e = text(&runner.read().unwrap());
    assert!(e.contains("Script killed by user with SCRIPT KILL"), "{e}");
    // Handed back, every session goes on with the worker: records in sequence both ways.
    split.send_raw(b"1\r\n").unwrap();
    assert_eq!(split.read().unwrap(), ok());
    assert_eq!(other.cmd(&["GET", "split"]).unwrap(), bulk("v1"));
    assert_eq!(
        text(&tx.cmd(&["EXEC"]).unwrap()),
        "ERR:EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(other.cmd(&["EXISTS", "k"]).unwrap(), Frame::Integer(0));
    let big = "x".repeat(100_000);
    assert_eq!(other.cmd(&["SET", "big", &big]).unwrap(), ok());
    assert_eq!(runner.cmd(&["GET", "big"]).unwrap(), bulk(&big));
    assert_eq!(
        text(&other.cmd(&["SCRIPT", "KILL"]).unwrap()),
        "ERR:NOTBUSY No scripts in execution right now."
    );
    // A busy function, killed by FUNCTION KILL from a TLS client.
    let lib =
        "#!lua name=spinlib\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(
        other.cmd(&["FUNCTION", "LOAD", lib]).unwrap(),
        bulk("spinlib")
    );
    runner.send(&["FCALL", "spin", "0"]).unwrap();
    let e = eventually(PATIENCE, "the function to be reported busy", || match other
        .cmd(&["GET", "x"])
        .unwrap()
    {
        Frame::Error(e) => Some(e),
        _ => None,
    });
    assert!(e.starts_with("BUSY"), "{e}");
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]).unwrap(), ok());
    let e = text(&runner.read().unwrap());
    assert!(e.contains("killed by user"), "{e}");
    assert_eq!(runner.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    let mut plain = srv.raw();
    assert_eq!(plain.cmd(&["PUBLISH", "ch", "after"]), Frame::Integer(1));
    let msg = sub.read().unwrap();
    assert_eq!(cinnabar_testkit::words(msg), ["message", "ch", "after"]);
    assert_eq!(
        cinnabar_testkit::words(sub.cmd(&["PING"]).unwrap()),
        ["pong", ""]
    );
    assert_eq!(plain.info_field("clients", "connected_clients"), "6");
}

/// Connects with `config` (its session store), runs a command (a TLS 1.3 client takes the
/// server's tickets as it reads), and says whether the handshake resumed a session.
fn resumes(srv: &TestServer, config: &std::sync::Arc<rustls::ClientConfig>) -> bool {
    let mut c = TlsConn::connect_with(tls_addr(srv), config.clone()).expect("TLS handshake");
    assert_eq!(c.cmd(&["PING"]).unwrap(), Frame::Simple("PONG".into()));
    c.resumed()
}

#[test]
fn session_cache_resumes_sessions_as_configured() {
    let pki = Pki::generate("tls-resume");
    let srv = tls_server(&pki, &[("tls-auth-clients", "no")]);
    let mut plain = srv.raw();
    let fresh_client = || TlsConn::client_config(&pki.ca, None);
    // tls-session-caching yes (the default): the second session resumes the first (TLS 1.3,
    // a ticket naming the cached session).
    let client = fresh_client();
    assert!(!resumes(&srv, &client), "the first handshake resumed");
    assert!(resumes(&srv, &client), "TLS 1.3 did not resume");
    // A CONFIG SET of a tls-* parameter starts an empty cache (Redis: a new OpenSSL context).
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-session-cache-size", "1000"]),
        ok()
    );
    assert!(!resumes(&srv, &client), "resumed across a CONFIG SET");
    // TLS 1.2: by session ID (a new client: one holding TLS 1.3 tickets offers those).
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-protocols", "TLSv1.2"]),
        ok()
    );
    let client = fresh_client();
    assert!(!resumes(&srv, &client));
    assert!(resumes(&srv, &client), "TLS 1.2 did not resume");
    // tls-session-cache-size 1: a second client's session pushes the first one's out.
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-session-cache-size", "1"]),
        ok()
    );
    let (a, b) = (fresh_client(), fresh_client());
    assert!(!resumes(&srv, &a));
    assert!(!resumes(&srv, &b));
    assert!(
        !resumes(&srv, &a),
        "a session pushed out of the cache resumed"
    );
    assert!(
        !resumes(&srv, &b),
        "a session pushed out of the cache resumed"
    );
    assert!(resumes(&srv, &b), "the cached session did not resume");
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-protocols", "TLSv1.2 TLSv1.3"]),
        ok()
    );
    // Caching off: nothing is kept, nothing resumes (TLS 1.3 and 1.2).
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-session-caching", "no"]),
        ok()
    );
    let client = fresh_client();
    assert!(!resumes(&srv, &client));
    assert!(!resumes(&srv, &client), "resumed with caching off");
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-protocols", "TLSv1.2"]),
        ok()
    );
    assert!(!resumes(&srv, &client));
    assert!(!resumes(&srv, &client), "TLS 1.2 resumed with caching off");
    // tls-session-cache-timeout: a session older than it is not resumed. The wait is past
    // the timeout whatever the machine's speed (the session was stored before `made`).
    assert_eq!(
        plain.cmd(&[
            "CONFIG",
            "SET",
            "tls-protocols",
            "TLSv1.2 TLSv1.3",
            "tls-session-caching",
            "yes",
            "tls-session-cache-timeout",
            "1",
        ]),
        ok()
    );
    let client = fresh_client();
    assert!(!resumes(&srv, &client));
    let made = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(1300).saturating_sub(made.elapsed()));
    assert!(
        !resumes(&srv, &client),
        "a session past the timeout resumed"
    );
    // The full handshake just made cached a new session: it resumes while young enough
    // (a generous timeout now, so that a slow machine cannot fail this).
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-session-cache-timeout", "300"]),
        ok()
    );
    let client = fresh_client();
    assert!(!resumes(&srv, &client));
    assert!(resumes(&srv, &client), "no resumption with a 300 s timeout");
}
