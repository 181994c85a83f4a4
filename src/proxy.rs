//! What a reverse proxy in front of baoxiu says about a request, for the doors that serve
//! browsers (the web chat, the desk console). Believed only when the configuration says
//! the proxy is trusted: otherwise anyone could pick their own address with a header.
//! A leaf module (no `crate::` imports), so every door may use it without an import
//! circle.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The client's address as the proxy reports it: the last `X-Forwarded-For` entry (the
/// one the proxy in front of us added; entries before it are whatever the client sent),
/// of the last such header. `None` when there is none or it is not an address (an
/// address with a port, `203.0.113.7:4711` or `[2001:db8::1]:4711`, counts as its
/// address).
pub fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client's address: the proxy's word ([`forwarded_for`]) when `trusted` and it gives
/// one, else the connection's `peer` (if the server recorded it).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: bool) -> Option<IpAddr> {
    trusted.then(|| forwarded_for(headers)).flatten().or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_last_entry_is_the_proxys_word() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(forwarded_for(&with(&["203.0.113.7"])), ip("203.0.113.7"));
        assert_eq!(
            forwarded_for(&with(&["10.9.9.9, 198.51.100.2 , 203.0.113.7"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            forwarded_for(&with(&["10.9.9.9", "203.0.113.7"])),
            ip("203.0.113.7")
        );
        assert_eq!(forwarded_for(&with(&["2001:db8::1"])), ip("2001:db8::1"));
        assert_eq!(
            forwarded_for(&with(&["[2001:db8::1]:4711"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_for(&with(&["203.0.113.7:4711"])),
            ip("203.0.113.7")
        );
        assert_eq!(forwarded_for(&with(&["203.0.113.7, unknown"])), None);
        assert_eq!(forwarded_for(&HeaderMap::new()), None);
    }

    #[test]
    fn the_header_counts_only_when_the_proxy_is_trusted() {
        let peer = "127.0.0.1".parse::<IpAddr>().ok();
        let forged = with(&["203.0.113.7"]);
        assert_eq!(client_ip(peer, &forged, false), peer);
        assert_eq!(
            client_ip(peer, &forged, true),
            "203.0.113.7".parse::<IpAddr>().ok()
        );
        // Trusted, but nothing usable: the peer.
        assert_eq!(client_ip(peer, &with(&["garbage"]), true), peer);
        assert_eq!(client_ip(None, &forged, false), None);
    }
}
