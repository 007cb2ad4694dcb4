//! The client address (nginx's realip module) and the `X-Forwarded-*` values Kong sends
//! upstream.

use std::net::IpAddr;

use http::HeaderMap;

use super::settings::{ProxySettings, RealIpSource, canonical_ip};

/// nginx's `$remote_addr` after `set_real_ip_from` / `real_ip_header` /
/// `real_ip_recursive`: only a trusted peer may name another client address.
pub fn real_client_ip(peer: IpAddr, headers: &HeaderMap, settings: &ProxySettings) -> IpAddr {
    let peer = canonical_ip(peer);
    if !settings.trusted_ips.contains(peer) {
        return peer;
    }
    let RealIpSource::Header(name) = &settings.real_ip_source else {
        return peer;
    };
    // Several header lines count as one comma-separated list.
    let mut addrs: Vec<&str> = Vec::new();
    for value in headers.get_all(name) {
        let Ok(v) = value.to_str() else { return peer };
        addrs.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()));
    }
    if addrs.is_empty() {
        return peer;
    }
    if !settings.real_ip_recursive {
        // Without recursion nginx takes the last address of the header.
        return addrs.last().and_then(|a| parse_ip(a)).unwrap_or(peer);
    }
    // From the right, skip trusted proxies; the first untrusted address is the client.
    // If every address is trusted, the leftmost one is.
    let mut result = peer;
    for a in addrs.iter().rev() {
        let Some(ip) = parse_ip(a) else { return result };
        result = ip;
        if !settings.trusted_ips.contains(ip) {
            return ip;
        }
    }
    result
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    s.parse::<IpAddr>().ok().map(canonical_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::settings::{TrustedIps, parse_real_ip_header};
    use http::HeaderValue;

    fn settings(trusted: &str, header: &str, recursive: bool) -> ProxySettings {
        ProxySettings {
            trusted_ips: TrustedIps::parse(trusted).expect("trusted"),
            real_ip_source: parse_real_ip_header(header).expect("header"),
            real_ip_recursive: recursive,
            ..ProxySettings::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_cannot_claim_an_address() {
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("10.0.0.1"));
        let s = settings("", "X-Real-IP", false);
        assert_eq!(real_client_ip(ip("127.0.0.1"), &h, &s), ip("127.0.0.1"));
    }

    #[test]
    fn trusted_peers_set_x_real_ip() {
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("10.0.0.1"));
        let s = settings("127.0.0.1", "X-Real-IP", false);
        assert_eq!(real_client_ip(ip("127.0.0.1"), &h, &s), ip("10.0.0.1"));
    }

    #[test]
    fn recursive_x_forwarded_for_skips_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("127.0.0.1, 10.0.0.1, 192.168.0.1, 127.0.0.1, 172.16.0.1"),
        );
        let s = settings("127.0.0.1,172.16.0.1,192.168.0.1", "X-Forwarded-For", true);
        assert_eq!(real_client_ip(ip("127.0.0.1"), &h, &s), ip("10.0.0.1"));
        let s = settings("127.0.0.1,172.16.0.1,192.168.0.1", "X-Forwarded-For", false);
        assert_eq!(real_client_ip(ip("127.0.0.1"), &h, &s), ip("172.16.0.1"));
    }
}
