//! Host, IP and URL parsing with the exact acceptance rules (and messages) of Kong's
//! `kong.tools.ip` and LuaSocket's `socket.url.parse`, which the schemas build on.

use std::net::{Ipv4Addr, Ipv6Addr};

/// What an address string turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Ipv4,
    Ipv6,
    Name,
}

/// A normalised address: IPv4 without leading zeros, IPv6 fully expanded (lower-case, no
/// brackets), names unchanged; plus the port if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedHost {
    pub kind: HostKind,
    pub host: String,
    pub port: Option<u32>,
}

/// The error Kong reports for a port above 65535.
pub const INVALID_PORT: &str = "invalid port number";

/// `hostname_type`: by exclusion, not validation. More than one `:` means IPv6.
pub fn hostname_type(name: &str) -> HostKind {
    if name.matches(':').count() > 1 {
        HostKind::Ipv6
    } else if name
        .chars()
        .filter(|c| *c != ':')
        .all(|c| c.is_ascii_digit() || c == '.')
        && name.chars().any(|c| c != ':')
    {
        HostKind::Ipv4
    } else {
        HostKind::Name
    }
}

fn parse_port(port: &str) -> Result<u32, String> {
    match port.parse::<u64>() {
        Ok(p) if p <= 65535 => Ok(p as u32),
        _ => Err(INVALID_PORT.to_string()),
    }
}

/// `normalize_ipv4`: `a.b.c.d` or `a.b.c.d:port`, octets of 1-3 digits up to 255.
pub fn normalize_ipv4(address: &str) -> Result<(String, Option<u32>), String> {
    let invalid = || format!("invalid ipv4 address: {address}");
    let (ip, port) = match address.split_once(':') {
        Some((ip, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (ip, Some(port))
        }
        Some(_) => return Err(invalid()),
        None => (address, None),
    };
    let octets: Vec<&str> = ip.split('.').collect();
    if octets.len() != 4
        || octets
            .iter()
            .any(|o| o.is_empty() || o.len() > 3 || !o.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid());
    }
    let mut values = [0u32; 4];
    for (i, o) in octets.iter().enumerate() {
        values[i] = o.parse().map_err(|_| invalid())?;
        if values[i] > 255 {
            return Err(invalid());
        }
    }
    let port = port.map(parse_port).transpose()?;
    Ok((
        format!("{}.{}.{}.{}", values[0], values[1], values[2], values[3]),
        port,
    ))
}

/// `normalize_ipv6`: `ipv6`, `[ipv6]` or `[ipv6]:port`; returns the expanded address.
pub fn normalize_ipv6(address: &str) -> Result<(String, Option<u32>), String> {
    let invalid = || format!("invalid ipv6 address: {address}");
    let (check, port) = if let Some(rest) = address.strip_prefix('[') {
        let close = rest.find(']').ok_or_else(invalid)?;
        let inner = &rest[..close];
        let after = &rest[close + 1..];
        let port = if after.is_empty() {
            None
        } else {
            let digits = after
                .strip_prefix(':')
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| "invalid ipv6 address".to_string())?;
            // Lua's tonumber("") is nil; Kong would then fail comparing it.
            if digits.is_empty() {
                return Err("invalid ipv6 address".to_string());
            }
            Some(parse_port(digits)?)
        };
        (inner, port)
    } else {
        (address, None)
    };
    let parsed: Ipv6Addr = check.parse().map_err(|_| invalid())?;
    // Kong's own parser does not accept embedded IPv4 (`::ffff:1.2.3.4`).
    if check.contains('.') {
        return Err(invalid());
    }
    let segments = parsed.segments();
    let expanded = segments
        .iter()
        .map(|s| format!("{s:04x}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok((expanded, port))
}

/// `check_hostname`: `name` or `name:port`; letters, digits, `-`, `.`, `_`; no segment
/// ending with `-`; no empty segment except a trailing dot.
pub fn check_hostname(address: &str) -> Result<(String, Option<u32>), String> {
    let mut name = address;
    let mut port = None;
    if let Some(idx) = address.rfind(':') {
        let digits = &address[idx + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            name = &address[..idx];
            port = Some(parse_port(digits)?);
        }
    }
    let invalid = || format!("invalid hostname: {address}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(invalid());
    }
    let segments: Vec<&str> = name.split('.').collect();
    let count = segments.len();
    for (i, segment) in segments.iter().enumerate() {
        if segment.ends_with('-') || (segment.is_empty() && i + 1 != count) {
            return Err(invalid());
        }
    }
    Ok((name.to_string(), port))
}

/// `normalize_ip`: classifies, validates and normalises an address with optional port.
pub fn normalize_ip(address: &str) -> Result<NormalizedHost, String> {
    let kind = hostname_type(address);
    let (host, port) = match kind {
        HostKind::Ipv4 => normalize_ipv4(address)?,
        HostKind::Ipv6 => normalize_ipv6(address)?,
        HostKind::Name => check_hostname(address)?,
    };
    Ok(NormalizedHost { kind, host, port })
}

/// `format_host`: `host[:port]`, IPv6 in brackets; `default_port` when none was given.
pub fn format_host(host: &NormalizedHost, default_port: Option<u32>) -> String {
    let port = host.port.or(default_port);
    let base = if host.kind == HostKind::Ipv6 {
        format!("[{}]", host.host)
    } else {
        host.host.clone()
    };
    match port {
        Some(p) => format!("{base}:{p}"),
        None => base,
    }
}

pub fn is_valid_ipv4(ip: &str) -> bool {
    ip.parse::<Ipv4Addr>().is_ok()
}

pub fn is_valid_ipv6(ip: &str) -> bool {
    ip.parse::<Ipv6Addr>().is_ok()
}

pub fn is_valid_ip(ip: &str) -> bool {
    is_valid_ipv4(ip) || is_valid_ipv6(ip)
}

fn split_cidr(cidr: &str, max_prefix: u8) -> Option<&str> {
    let (ip, prefix) = cidr.split_once('/')?;
    let valid_prefix = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'))
        && prefix.parse::<u8>().is_ok_and(|p| p <= max_prefix);
    valid_prefix.then_some(ip)
}

pub fn is_valid_cidr_v4(cidr: &str) -> bool {
    split_cidr(cidr, 32).is_some_and(is_valid_ipv4)
}

pub fn is_valid_cidr_v6(cidr: &str) -> bool {
    split_cidr(cidr, 128).is_some_and(is_valid_ipv6)
}

pub fn is_valid_ip_or_cidr(value: &str) -> bool {
    is_valid_ip(value) || is_valid_cidr_v4(value) || is_valid_cidr_v6(value)
}

pub fn is_valid_ip_or_cidr_v4(value: &str) -> bool {
    is_valid_ipv4(value) || is_valid_cidr_v4(value)
}

/// The parts of a URL as LuaSocket's `url.parse` splits them (no decoding, no checks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedUrl {
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
}

/// A port of `socket.url.parse`. `None` for an empty string.
pub fn parse_url(url: &str) -> Option<ParsedUrl> {
    if url.is_empty() {
        return None;
    }
    let mut parsed = ParsedUrl::default();
    let mut rest = url;
    // scheme: ^([%w][%w%+%-%.]*)%:
    if let Some(idx) = rest.find(':') {
        let candidate = &rest[..idx];
        let mut chars = candidate.chars();
        let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.');
        if valid {
            parsed.scheme = Some(candidate.to_string());
            rest = &rest[idx + 1..];
        }
    }
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        authority = Some(after[..end].to_string());
        rest = &after[end..];
    }
    let mut rest = rest.to_string();
    if let Some(idx) = rest.find('#') {
        rest.truncate(idx);
    }
    if let Some(idx) = rest.find('?') {
        parsed.query = Some(rest[idx + 1..].to_string());
        rest.truncate(idx);
    }
    if let Some(idx) = rest.find(';') {
        rest.truncate(idx);
    }
    if !rest.is_empty() {
        parsed.path = Some(rest);
    }
    let Some(mut authority) = authority else {
        return Some(parsed);
    };
    // The authority may itself have been cut by '#', '?' or ';' in Lua's order of gsubs.
    for sep in ['#', '?', ';'] {
        if let Some(idx) = authority.find(sep) {
            authority.truncate(idx);
        }
    }
    if let Some(idx) = authority.find('@') {
        authority = authority[idx + 1..].to_string();
    }
    // port: ":([^:%]]*)$"
    if let Some(idx) = authority.rfind(':') {
        let port = &authority[idx + 1..];
        if !port.contains(']') {
            parsed.port = Some(port.to_string());
            authority.truncate(idx);
        }
    }
    if !authority.is_empty() {
        let host = authority
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .filter(|h| !h.is_empty())
            .unwrap_or(&authority);
        parsed.host = Some(host.to_string());
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalize_ip_cases() {
        let ok = |s: &str| normalize_ip(s).unwrap();
        assert_eq!(ok("001.002.003.004:123").host, "1.2.3.4");
        assert_eq!(ok("001.002.003.004:123").port, Some(123));
        assert_eq!(ok("::1").host, "0000:0000:0000:0000:0000:0000:0000:0001");
        assert_eq!(ok("[::1]:80").port, Some(80));
        assert_eq!(ok("konghq.test").kind, HostKind::Name);
        assert_eq!(ok("konghq.test:8080").port, Some(8080));
        assert_eq!(ok("konghq.test.").host, "konghq.test.");
        assert!(normalize_ip("some invalid host name").is_err());
        assert!(normalize_ip("-a.test").is_ok());
        assert!(normalize_ip("a-.test").is_err());
        assert!(normalize_ip("a..test").is_err());
        assert!(normalize_ip("1.2.3.256").is_err());
        assert_eq!(
            normalize_ip("konghq.test:99999"),
            Err(INVALID_PORT.to_string())
        );
        assert_eq!(normalize_ip("1.2.3.4:99999"), Err(INVALID_PORT.to_string()));
        assert_eq!(normalize_ip("[::1]:99999"), Err(INVALID_PORT.to_string()));
        assert!(normalize_ip("[::1]x").is_err());
    }

    #[test]
    fn format_host_adds_default_port_and_brackets() {
        let f = |s: &str| format_host(&normalize_ip(s).unwrap(), Some(8000));
        assert_eq!(f("konghq.test"), "konghq.test:8000");
        assert_eq!(f("konghq.test:80"), "konghq.test:80");
        assert_eq!(f("::1"), "[0000:0000:0000:0000:0000:0000:0000:0001]:8000");
        assert_eq!(
            f("[::1]:81"),
            "[0000:0000:0000:0000:0000:0000:0000:0001]:81"
        );
        assert_eq!(f("010.0.0.1"), "10.0.0.1:8000");
    }

    #[test]
    fn cidrs() {
        assert!(is_valid_ip_or_cidr("10.0.0.0/8"));
        assert!(is_valid_ip_or_cidr("::/0"));
        assert!(is_valid_ip_or_cidr("1.2.3.4"));
        assert!(!is_valid_ip_or_cidr("10.0.0.0/33"));
        assert!(!is_valid_ip_or_cidr("10.0.0.0/"));
        assert!(!is_valid_ip_or_cidr("example.test"));
    }

    #[test]
    fn url_parsing_like_luasocket() {
        let p = parse_url("http://service.test/").unwrap();
        assert_eq!(p.scheme.as_deref(), Some("http"));
        assert_eq!(p.host.as_deref(), Some("service.test"));
        assert_eq!(p.path.as_deref(), Some("/"));
        let p = parse_url("http://example.test:443").unwrap();
        assert_eq!(p.port.as_deref(), Some("443"));
        assert_eq!(p.path, None);
        let p = parse_url("invalid url").unwrap();
        assert_eq!(p.scheme, None);
        assert_eq!(p.host, None);
        assert_eq!(p.path.as_deref(), Some("invalid url"));
        let p = parse_url("https://user:pw@[::1]:8443/a/b?x=1").unwrap();
        assert_eq!(p.host.as_deref(), Some("::1"));
        assert_eq!(p.port.as_deref(), Some("8443"));
        assert_eq!(p.path.as_deref(), Some("/a/b"));
        assert_eq!(p.query.as_deref(), Some("x=1"));
        assert_eq!(parse_url(""), None);
    }
}
