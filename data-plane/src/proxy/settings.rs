//! Node-level proxy settings (Kong's `kong.conf` keys of the same names), parsed once at
//! start-up into the forms the request path uses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;

/// Which Kong headers the proxy adds to client responses (`headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnabledHeaders {
    pub server: bool,
    pub via: bool,
    pub proxy_latency: bool,
    pub response_latency: bool,
    pub upstream_latency: bool,
    pub upstream_status: bool,
    pub request_id: bool,
}

impl EnabledHeaders {
    /// Kong's default: `server_tokens, latency_tokens, X-Kong-Request-Id`.
    pub const KONG_DEFAULT: EnabledHeaders = EnabledHeaders {
        server: true,
        via: true,
        proxy_latency: true,
        response_latency: true,
        upstream_latency: true,
        upstream_status: false,
        request_id: true,
    };

    /// Parses a comma-separated `headers` value. `off` alone disables everything; `off`
    /// inside a longer list is ignored (as Kong does). Names are case-insensitive.
    pub fn parse(value: &str) -> Result<EnabledHeaders, String> {
        let items: Vec<String> = value
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let mut h = EnabledHeaders::default();
        for item in &items {
            match item.as_str() {
                "off" => {}
                "server" => h.server = true,
                "via" => h.via = true,
                "x-kong-proxy-latency" => h.proxy_latency = true,
                "x-kong-response-latency" => h.response_latency = true,
                "x-kong-upstream-latency" => h.upstream_latency = true,
                "x-kong-admin-latency" => {}
                "x-kong-upstream-status" => h.upstream_status = true,
                "x-kong-request-id" => h.request_id = true,
                "server_tokens" => {
                    h.server = true;
                    h.via = true;
                }
                "latency_tokens" => {
                    h.proxy_latency = true;
                    h.response_latency = true;
                    h.upstream_latency = true;
                }
                other => return Err(format!("invalid header name in 'headers': {other}")),
            }
        }
        Ok(h)
    }
}

/// The default MIME type of error bodies when the request has no `Accept`/`Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDefaultType {
    Plain,
    Html,
    Json,
    Xml,
}

impl ErrorDefaultType {
    pub fn parse(value: &str) -> Result<ErrorDefaultType, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text/plain" => Ok(ErrorDefaultType::Plain),
            "text/html" => Ok(ErrorDefaultType::Html),
            "application/json" => Ok(ErrorDefaultType::Json),
            "application/xml" => Ok(ErrorDefaultType::Xml),
            other => Err(format!(
                "invalid error_default_type '{other}': expected text/plain, text/html, \
                 application/json or application/xml"
            )),
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ErrorDefaultType::Plain => "text/plain",
            ErrorDefaultType::Html => "text/html",
            ErrorDefaultType::Json => "application/json",
            ErrorDefaultType::Xml => "application/xml",
        }
    }
}

/// `trusted_ips`: CIDR blocks whose `X-Forwarded-*` headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedIps {
    nets: Vec<IpNet>,
}

impl TrustedIps {
    /// Comma-separated IPs or CIDR blocks (`0.0.0.0/0,::/0` trusts everyone). `unix:` is
    /// accepted for compatibility and ignored (the proxy does not listen on UNIX sockets).
    pub fn parse(value: &str) -> Result<TrustedIps, String> {
        let mut nets = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "unix:" {
                continue;
            }
            let net = match item.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("invalid trusted_ips entry '{item}'")),
                },
            };
            nets.push(net);
        }
        Ok(TrustedIps { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Where the client address comes from (`real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpSource {
    Header(HeaderName),
    /// `proxy_protocol`: accepted for compatibility; the listener does not speak the PROXY
    /// protocol yet, so the peer address is used.
    ProxyProtocol,
}

/// Everything the request path needs from the node configuration.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub trusted_ips: TrustedIps,
    pub real_ip_source: RealIpSource,
    pub real_ip_recursive: bool,
    pub headers: EnabledHeaders,
    /// `headers_upstream`: send `X-Kong-Request-Id` to the upstream.
    pub upstream_request_id: bool,
    pub error_default_type: ErrorDefaultType,
    pub allow_debug_header: bool,
    /// `port_maps`: listen port -> port announced in `X-Forwarded-Port`.
    pub port_maps: HashMap<u16, u16>,
    pub keepalive: KeepaliveSettings,
    /// Time allowed to receive request headers, also the idle keep-alive timeout.
    pub client_header_timeout: Duration,
    /// Time allowed between two reads of a request body.
    pub client_body_timeout: Duration,
    /// Time a write to the client may make no progress (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Request bodies up to this size are buffered before proxying when the route has
    /// `request_buffering` on (larger ones stream).
    pub request_buffer_limit: usize,
}

/// Upstream keep-alive pool settings (`upstream_keepalive_*`).
#[derive(Debug, Clone, Copy)]
pub struct KeepaliveSettings {
    /// Idle connections kept per (address, TLS settings, SNI); 0 disables pooling.
    pub pool_size: usize,
    /// Requests per connection before it is closed; 0 is unlimited.
    pub max_requests: u64,
    /// Idle connections older than this are closed; zero keeps them indefinitely.
    pub idle_timeout: Duration,
}

impl Default for KeepaliveSettings {
    fn default() -> Self {
        KeepaliveSettings {
            pool_size: 512,
            max_requests: 10_000,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            trusted_ips: TrustedIps::default(),
            real_ip_source: RealIpSource::Header(HeaderName::from_static("x-real-ip")),
            real_ip_recursive: false,
            headers: EnabledHeaders::KONG_DEFAULT,
            upstream_request_id: true,
            error_default_type: ErrorDefaultType::Plain,
            allow_debug_header: false,
            port_maps: HashMap::new(),
            keepalive: KeepaliveSettings::default(),
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            request_buffer_limit: 8 * 1024 * 1024,
        }
    }
}

/// `port_maps`: `80:8000,443:8443` (announced:listen).
pub fn parse_port_maps(value: &str) -> Result<HashMap<u16, u16>, String> {
    let mut maps = HashMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, listen) = item
            .split_once(':')
            .ok_or_else(|| format!("invalid port_maps entry '{item}': expected HOST:LISTEN"))?;
        let host: u16 = host
            .trim()
            .parse()
            .map_err(|_| format!("invalid port in port_maps entry '{item}'"))?;
        let listen: u16 = listen
            .trim()
            .parse()
            .map_err(|_| format!("invalid port in port_maps entry '{item}'"))?;
        maps.insert(listen, host);
    }
    Ok(maps)
}

/// `real_ip_header`: a header name or `proxy_protocol`.
pub fn parse_real_ip_header(value: &str) -> Result<RealIpSource, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("proxy_protocol") {
        return Ok(RealIpSource::ProxyProtocol);
    }
    HeaderName::from_bytes(value.to_ascii_lowercase().as_bytes())
        .map(RealIpSource::Header)
        .map_err(|_| format!("invalid real_ip_header '{value}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_setting_parses_like_kong() {
        assert_eq!(EnabledHeaders::parse("off"), Ok(EnabledHeaders::default()));
        let h = EnabledHeaders::parse("VIA, off").expect("valid");
        assert!(h.via && !h.server && !h.proxy_latency);
        let h = EnabledHeaders::parse("server_tokens,latency_tokens,x-kong-upstream-status")
            .expect("valid");
        assert!(h.server && h.via && h.upstream_latency && h.upstream_status && !h.request_id);
        assert!(EnabledHeaders::parse("bogus").is_err());
    }

    #[test]
    fn trusted_ips_accept_addresses_and_blocks() {
        let t = TrustedIps::parse("127.0.0.1, 10.0.0.0/8 ,::1").expect("valid");
        assert!(t.contains("127.0.0.1".parse().expect("ip")));
        assert!(t.contains("10.1.2.3".parse().expect("ip")));
        assert!(t.contains("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(t.contains("::1".parse().expect("ip")));
        assert!(!t.contains("192.168.0.1".parse().expect("ip")));
        assert!(TrustedIps::parse("nonsense").is_err());
    }

    #[test]
    fn port_maps_map_listen_to_announced() {
        let m = parse_port_maps("80:8000, 443:8443").expect("valid");
        assert_eq!(m.get(&8000), Some(&80));
        assert_eq!(m.get(&8443), Some(&443));
        assert!(parse_port_maps("80").is_err());
    }
}
