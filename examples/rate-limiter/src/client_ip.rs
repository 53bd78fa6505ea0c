//! Who the client is: the peer address, or (behind a trusted proxy) X-Forwarded-For.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;

/// The client's address as a string, the identity the limits are counted under.
///
/// With `trust_forwarded_for`, the *last* X-Forwarded-For entry wins: it is the one our
/// own proxy appended, while entries to its left come from the client and can be forged.
/// (Behind several proxies of ours, each appends one; this example assumes one.) Without the
/// header, or without the flag, the TCP peer address is used. IPv4-mapped IPv6 addresses
/// count as their IPv4 address, so one client has one identity on dual-stack sockets.
pub fn client_ip(req: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        if let Some(ip) = last_forwarded_for(req.headers()) {
            return ip.to_canonical().to_string();
        }
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => addr.ip().to_canonical().to_string(),
        // Served without connect info (not through `serve`): one shared identity.
        None => "unknown".to_string(),
    }
}

/// The last address in the last X-Forwarded-For header, if it parses.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    last.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(xff: &[&str], peer: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder();
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        let mut req = b.body(Body::empty()).unwrap();
        if let Some(p) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        req
    }

    #[test]
    fn peer_address_by_default() {
        let req = request(&["10.9.9.9"], Some("127.0.0.1:5555"));
        assert_eq!(client_ip(&req, false), "127.0.0.1");
        let req = request(&[], Some("[::ffff:127.0.0.2]:80"));
        assert_eq!(client_ip(&req, false), "127.0.0.2");
        assert_eq!(client_ip(&request(&[], None), false), "unknown");
    }

    #[test]
    fn last_forwarded_entry_when_trusted() {
        let req = request(&["1.1.1.1, 127.0.0.7"], Some("127.0.0.1:5555"));
        assert_eq!(client_ip(&req, true), "127.0.0.7");
        let req = request(&["1.1.1.1", "127.0.0.8"], Some("127.0.0.1:5555"));
        assert_eq!(client_ip(&req, true), "127.0.0.8");
        let req = request(&["::1"], Some("127.0.0.1:5555"));
        assert_eq!(client_ip(&req, true), "::1");
        // Garbage falls back to the peer.
        let req = request(&["not-an-ip"], Some("127.0.0.1:5555"));
        assert_eq!(client_ip(&req, true), "127.0.0.1");
    }
}
