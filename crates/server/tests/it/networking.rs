//! CONFIG SET port and bind at run time (Redis's changeListenPort / changeBindAddr): the new
//! listeners are bound first, the old ones close only once every new one is bound, and a
//! failure leaves the server listening where it was, with Redis's error text.

use std::net::{SocketAddr, TcpStream};

use cinnabar_resp::Frame;
use cinnabar_testkit::{eventually, free_port, ok, text, RawConn, TestServer, PATIENCE};

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn config_set_port_and_bind() {
    let srv = TestServer::start();
    let old = srv.addr();
    let mut r = srv.raw();
    let new_port = free_port();
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "port", &new_port.to_string()]),
        ok()
    );
    let mut c = RawConn::connect(local(new_port));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // The old listener is gone; connected clients stay.
    eventually(PATIENCE, "the old port to close", || {
        TcpStream::connect(old).is_err()
    });
    assert_eq!(r.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // A port in use: refused, still listening where it was.
    let taken = std::net::TcpListener::bind(local(0)).unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    assert_eq!(
        text(&c.cmd(&["CONFIG", "SET", "port", &taken_port.to_string()])),
        "ERR:ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
    );
    let Frame::Array(v) = c.cmd(&["CONFIG", "GET", "port"]) else {
        panic!()
    };
    assert_eq!(text(&v[1]), new_port.to_string());
    assert_eq!(
        RawConn::connect(local(new_port)).cmd(&["PING"]),
        Frame::Simple("PONG".into())
    );
    // An address that cannot be bound.
    assert_eq!(
        text(&c.cmd(&["CONFIG", "SET", "bind", "999.999.999.999"])),
        "ERR:ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
    );
    assert_eq!(
        RawConn::connect(local(new_port)).cmd(&["PING"]),
        Frame::Simple("PONG".into())
    );
    drop(taken);
}

/// `bind-source-addr`: a replica connects to its primary from that address.
#[test]
fn replica_connects_from_bind_source_addr() {
    let primary = TestServer::start();
    let replica = TestServer::start();
    let mut r = replica.raw();
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "bind-source-addr", "127.0.0.2"]),
        ok()
    );
    let port = primary.addr().port().to_string();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port]), ok());
    let mut p = primary.raw();
    eventually(PATIENCE, "the replica to connect from 127.0.0.2", || {
        p.info("replication")
            .lines()
            .any(|l| l.starts_with("slave0:") && l.contains("ip=127.0.0.2,"))
    });
    // The sync done (a replica loading its primary's data answers -LOADING, as Redis).
    eventually(PATIENCE, "the replica's link to be up", || {
        r.info("replication").contains("master_link_status:up")
    });
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
}
