//! Kong's reusable field types (`kong/db/schema/typedefs.lua`) and their validators.

use serde_json::Value;

use super::field::Field;
use super::net::{self, HostKind, INVALID_PORT};
use super::pem;
use super::record::{EntityCheck, Schema};

/// Every protocol, sorted as Kong lists them in messages.
pub const PROTOCOLS: &[&str] = &[
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
];

/// The protocols of the HTTP subsystem (the default of plugin `protocols`).
pub const HTTP_PROTOCOLS: &[&str] = &["grpc", "grpcs", "http", "https"];

/// Kong's `DAO_MAX_TTL`.
pub const MAX_TTL: f64 = 1e8;

fn string_arg(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

pub fn validate_host(value: &Value) -> Result<(), String> {
    let host = string_arg(value);
    match net::normalize_ip(host) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {host}")),
        Err(_) => Err("must not have a port".to_string()),
        Ok(h) if h.port.is_some() => Err("must not have a port".to_string()),
        Ok(_) => Ok(()),
    }
}

pub fn validate_host_with_optional_port(value: &Value) -> Result<(), String> {
    net::normalize_ip(string_arg(value)).map(|_| ())
}

fn validate_ip(value: &Value) -> Result<(), String> {
    let ip = string_arg(value);
    if net::is_valid_ip(ip) {
        Ok(())
    } else {
        Err(format!("not an ip address: {ip}"))
    }
}

fn validate_ip_or_cidr(value: &Value) -> Result<(), String> {
    let v = string_arg(value);
    if net::is_valid_ip_or_cidr(v) {
        Ok(())
    } else {
        Err(format!("invalid ip or cidr range: '{v}'"))
    }
}

fn validate_ip_or_cidr_v4(value: &Value) -> Result<(), String> {
    let v = string_arg(value);
    if net::is_valid_ip_or_cidr_v4(v) {
        Ok(())
    } else {
        Err(format!("invalid ipv4 cidr range: '{v}'"))
    }
}

/// Path characters allowed by `typedefs.path` (RFC 3986 unreserved, sub-delims, `:@/%`).
fn is_rfc3986_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".-_~/%:@!$&'()*+,;=".contains(c)
}

/// Why a path failed [`check_path`].
enum PathError {
    Rfc3986(String),
    Percent(String),
}

fn check_path(path: &str) -> Result<(), PathError> {
    let mut chars = path.chars();
    if chars.next() != Some('/') || !chars.all(is_rfc3986_path_char) {
        return Err(PathError::Rfc3986(format!(
            "invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
        )));
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let valid = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !valid {
                let end = (i + 3).min(bytes.len());
                let shown = String::from_utf8_lossy(&bytes[i..end]);
                return Err(PathError::Percent(format!(
                    "invalid url-encoded value: '{shown}'"
                )));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn validate_path(value: &Value) -> Result<(), String> {
    check_path(string_arg(value)).map_err(|e| match e {
        PathError::Rfc3986(m) | PathError::Percent(m) => m,
    })
}

fn validate_name(value: &Value) -> Result<(), String> {
    let name = string_arg(value);
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_~".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': it must only contain alphanumeric and '., -, _, ~' characters"
        ))
    }
}

fn validate_utf8_name(value: &Value) -> Result<(), String> {
    let name = string_arg(value);
    if !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || ".-_~".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        ))
    }
}

fn validate_tag(value: &Value) -> Result<(), String> {
    let tag = string_arg(value);
    let ok = !tag.is_empty()
        && tag
            .chars()
            .all(|c| !c.is_ascii() || (c == ' ' || c.is_ascii_graphic()) && c != ',' && c != '/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        ))
    }
}

fn check_sni_like(host: &str, shown: &str) -> Result<(), String> {
    match net::normalize_ip(host) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {shown}")),
        Err(_) => Err("must not have a port".to_string()),
        Ok(h) if h.kind != HostKind::Name => Err("must not be an IP".to_string()),
        Ok(h) if h.port.is_some() => Err("must not have a port".to_string()),
        Ok(_) => Ok(()),
    }
}

pub fn validate_sni(value: &Value) -> Result<(), String> {
    let host = string_arg(value);
    check_sni_like(host, host)
}

pub fn validate_wildcard_host(value: &Value) -> Result<(), String> {
    let host = string_arg(value);
    if let Some(idx) = host.find('*') {
        if idx != 0 && idx + 1 != host.len() {
            return Err("wildcard must be leftmost or rightmost character".to_string());
        }
        if host.matches('*').count() > 1 {
            return Err("only one wildcard must be specified".to_string());
        }
        let mock = host.replace('*', "wildcard");
        return check_sni_like(&mock, &mock);
    }
    check_sni_like(host, host)
}

fn validate_url(value: &Value) -> Result<(), String> {
    let Some(parsed) = net::parse_url(string_arg(value)) else {
        return Err("could not parse url. invalid url".to_string());
    };
    if parsed.host.is_none() {
        return Err("missing host in url".to_string());
    }
    if parsed.scheme.is_none() {
        return Err("missing scheme in url".to_string());
    }
    Ok(())
}

/// `validate_header_name` of `kong.tools.http`.
pub fn validate_header_name(value: &Value) -> Result<(), String> {
    let name = string_arg(value);
    if name.is_empty() {
        return Err("no header name provided".to_string());
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

/// `validate_http_token` (cookie names).
fn validate_cookie_name(value: &Value) -> Result<(), String> {
    let token = string_arg(value);
    if token.is_empty() {
        return Err("no token provided".to_string());
    }
    let forbidden = |c: char| c.is_ascii_control() || " \t()<>@,;:\\\"/?={}[]".contains(c);
    if token.chars().any(forbidden) {
        Err("contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed.".to_string())
    } else {
        Ok(())
    }
}

/// Kong's `kong.tools.uri.normalize`: decodes percent-encoded characters that are not
/// reserved, resolves `.`/`..` segments and (with `merge_slashes`) collapses `//`.
pub fn normalize_uri(uri: &str, merge_slashes: bool) -> String {
    if uri.is_empty() || uri == "/" {
        return uri.to_string();
    }
    let mut uri = if uri.contains('%') {
        decode_unreserved(uri)
    } else {
        uri.to_string()
    };
    if !uri.contains('.') && (!merge_slashes || !uri.contains("//")) {
        return uri;
    }
    let mut output: Vec<String> = Vec::new();
    while !uri.is_empty() {
        let b = uri.as_bytes();
        let at = |i: usize| b.get(i).copied();
        if uri == "/." {
            uri = "/".to_string();
        } else if uri == "/.." {
            uri = "/".to_string();
            output.pop();
        } else if uri == "." || uri == ".." {
            uri.clear();
        } else if at(0) == Some(b'.') && at(1) == Some(b'.') && at(2) == Some(b'/') {
            uri = uri[3..].to_string();
        } else if (at(0) == Some(b'.') && at(1) == Some(b'/'))
            || (at(0) == Some(b'/') && at(1) == Some(b'.') && at(2) == Some(b'/'))
        {
            // `./` is dropped; `/./` becomes `/`.
            uri = uri[2..].to_string();
        } else if at(0) == Some(b'/')
            && at(1) == Some(b'.')
            && at(2) == Some(b'.')
            && at(3) == Some(b'/')
        {
            uri = uri[3..].to_string();
            output.pop();
        } else if merge_slashes && at(0) == Some(b'/') && at(1) == Some(b'/') {
            uri = uri[1..].to_string();
        } else {
            match uri[1..].find('/') {
                Some(i) => {
                    output.push(uri[..i + 1].to_string());
                    uri = uri[i + 1..].to_string();
                }
                None => {
                    output.push(std::mem::take(&mut uri));
                }
            }
        }
    }
    output.concat()
}

fn decode_unreserved(uri: &str) -> String {
    const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";
    let b = uri.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
            let n = u8::from_str_radix(hex, 16).unwrap_or(0);
            if RESERVED.contains(&n) {
                out.extend_from_slice(&b[i..i + 3].to_ascii_uppercase());
            } else {
                out.push(n);
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn validate_router_path(value: &Value) -> Result<(), String> {
    let path = string_arg(value);
    if let Err(PathError::Percent(m)) = check_path(path) {
        return Err(m);
    }
    match path.strip_prefix('~') {
        None => {
            let normalized = normalize_uri(path, true);
            if normalized != path {
                return Err(format!(
                    "non-normalized path, consider use '{normalized}' instead"
                ));
            }
            Ok(())
        }
        Some(regex) => match regex::Regex::new(regex) {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or_default().trim();
                let reason = last.strip_prefix("error: ").unwrap_or(last);
                Err(format!(
                    "invalid regex: '{regex}' (PCRE returned: {reason})"
                ))
            }
        },
    }
}

fn validate_host_with_wildcards(value: &Value) -> Result<(), String> {
    let host = string_arg(value).replace('*', "abc");
    net::normalize_ip(&host).map(|_| ())
}

fn validate_certificate(value: &Value) -> Result<(), String> {
    pem::parse_certificate(string_arg(value))
        .map(|_| ())
        .map_err(|e| format!("invalid certificate: {e}"))
}

fn validate_key(value: &Value) -> Result<(), String> {
    pem::parse_private_key(string_arg(value))
        .map(|_| ())
        .map_err(|e| format!("invalid key: {e}"))
}

pub fn http_method() -> Field {
    Field::string().matches("^%u+$")
}
pub fn protocol() -> Field {
    Field::string().one_of(PROTOCOLS)
}
pub fn host() -> Field {
    Field::string().custom(validate_host)
}
pub fn host_with_optional_port() -> Field {
    Field::string().custom(validate_host_with_optional_port)
}
pub fn wildcard_host() -> Field {
    Field::string().custom(validate_wildcard_host)
}
pub fn ip() -> Field {
    Field::string().custom(validate_ip)
}
pub fn ip_or_cidr() -> Field {
    Field::string().custom(validate_ip_or_cidr)
}
pub fn cidr_v4() -> Field {
    Field::string().custom(validate_ip_or_cidr_v4)
}
pub fn port() -> Field {
    Field::integer().between(0, 65535)
}
pub fn path() -> Field {
    Field::string()
        .starts_with("/")
        .match_none("//", "must not have empty segments")
        .custom(validate_path)
}
pub fn url() -> Field {
    Field::string().custom(validate_url)
}
pub fn cookie_name() -> Field {
    Field::string().custom(validate_cookie_name)
}
pub fn header_name() -> Field {
    Field::string().custom(validate_header_name)
}
pub fn timeout() -> Field {
    Field::integer().between(0, 2_147_483_646)
}
pub fn uuid() -> Field {
    Field::string().uuid().auto()
}
pub fn auto_timestamp_s() -> Field {
    Field::integer().timestamp().auto()
}
pub fn auto_timestamp_ms() -> Field {
    Field::number().timestamp().auto()
}
pub fn no_route() -> Field {
    Field::foreign("routes").eq_null()
}
pub fn no_service() -> Field {
    Field::foreign("services").eq_null()
}
pub fn no_consumer() -> Field {
    Field::foreign("consumers").eq_null()
}
pub fn name() -> Field {
    Field::string().unique().custom(validate_name)
}
pub fn utf8_name() -> Field {
    Field::string().unique().custom(validate_utf8_name)
}
pub fn sni() -> Field {
    Field::string().custom(validate_sni)
}
pub fn certificate() -> Field {
    Field::string().custom(validate_certificate)
}
pub fn key() -> Field {
    Field::string().custom(validate_key)
}
pub fn tag() -> Field {
    Field::string().required().custom(validate_tag)
}
pub fn tags() -> Field {
    Field::set(tag())
}
pub fn protocols() -> Field {
    Field::set(protocol()).required().default(HTTP_PROTOCOLS)
}
pub fn protocols_http() -> Field {
    Field::set(Field::string().one_of(HTTP_PROTOCOLS))
        .required()
        .default(HTTP_PROTOCOLS)
}
fn ip_port_record() -> Field {
    Field::record(
        Schema::record(vec![("ip", ip_or_cidr()), ("port", port())])
            .check(EntityCheck::at_least_one_of(&["ip", "port"])),
    )
}
pub fn sources() -> Field {
    Field::set(ip_port_record())
}
pub fn destinations() -> Field {
    Field::set(ip_port_record())
}
pub fn methods() -> Field {
    Field::set(http_method())
}
pub fn hosts() -> Field {
    Field::array(
        Field::string()
            .match_all(
                "^[^*]*%*?[^*]*$",
                "invalid wildcard: must have at most one wildcard",
            )
            .match_any(
                &["^%*%.", "%.%*$", "^[^*]*$"],
                "invalid wildcard: must be placed at leftmost or rightmost label",
            )
            .custom(validate_host_with_wildcards),
    )
}
pub fn router_path() -> Field {
    Field::string()
        .match_any(
            &["^/", "^~/"],
            "should start with: / (fixed path) or ~/ (regex path)",
        )
        .match_none("//", "must not have empty segments")
        .custom(validate_router_path)
}
pub fn router_paths() -> Field {
    Field::array(router_path())
}
pub fn headers() -> Field {
    Field::map(header_name(), Field::array(Field::string()))
}
pub fn semantic_version() -> Field {
    Field::string()
        .match_any(
            &["^%d+[%.%d]*$", "^%d+[%.%d]*%-?.*$"],
            "invalid version number: must be in format of X.Y.Z",
        )
        .match_none("%.%.", "must not have empty version segments")
}
pub fn ttl() -> Field {
    Field::number().between(0, MAX_TTL)
}
/// The Redis connection record shared by rate-limiting and friends.
pub fn redis_host() -> Field {
    host()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(f: fn(&Value) -> Result<(), String>, value: &str) -> Result<(), String> {
        f(&json!(value))
    }

    #[test]
    fn host_validator() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("example.test", Ok(())),
            ("1.2.3.4", Ok(())),
            ("example.test:80", Err("must not have a port")),
            ("example.test:999999", Err("must not have a port")),
            ("bad host", Err("invalid value: bad host")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                check(validate_host, input),
                expected.map_err(str::to_string),
                "{input}"
            );
        }
    }

    #[test]
    fn sni_and_wildcards() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("*.example.test", Ok(())),
            ("example.*", Ok(())),
            ("*", Ok(())),
            (
                "ex*ample.test",
                Err("wildcard must be leftmost or rightmost character"),
            ),
            ("*.wildcard.*", Err("only one wildcard must be specified")),
            ("120.0.9.32", Err("must not be an IP")),
            ("120.0.9.32:90", Err("must not be an IP")),
            ("example.test:90", Err("must not have a port")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                check(validate_wildcard_host, input),
                expected.map_err(str::to_string),
                "{input}"
            );
        }
        assert_eq!(
            check(validate_sni, "*.example.test"),
            Err("invalid value: *.example.test".to_string())
        );
    }

    #[test]
    fn paths() {
        assert_eq!(check(validate_path, "/a/b~c"), Ok(()));
        assert_eq!(
            check(validate_path, "/a b"),
            Err(
                "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"
                    .into()
            )
        );
        assert_eq!(
            check(validate_path, "/a%zz"),
            Err("invalid url-encoded value: '%zz'".into())
        );
        assert_eq!(check(validate_router_path, "/a b"), Ok(()));
        assert_eq!(
            check(validate_router_path, "/a/./b"),
            Err("non-normalized path, consider use '/a/b' instead".into())
        );
        assert_eq!(
            check(validate_router_path, "/%7Efoo"),
            Err("non-normalized path, consider use '/~foo' instead".into())
        );
        assert_eq!(check(validate_router_path, "~/foo/\\d{3}$"), Ok(()));
        assert!(check(validate_router_path, "~/foo/(").is_err());
    }

    #[test]
    fn normalize_uri_cases() {
        let cases = [
            ("/a/../b", "/b"),
            ("/a/./b/", "/a/b/"),
            ("/a//b", "/a/b"),
            ("/%41%2F", "/A%2F"),
            ("/..", "/"),
            ("/a/b/..", "/a/"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_uri(input, true), expected, "{input}");
        }
    }

    #[test]
    fn names_and_tags() {
        assert_eq!(check(validate_name, "a.b-c_d~e"), Ok(()));
        assert!(check(validate_name, "a b").is_err());
        assert_eq!(check(validate_utf8_name, "円"), Ok(()));
        assert!(check(validate_utf8_name, "a/b").is_err());
        assert_eq!(check(validate_tag, "corp_ a"), Ok(()));
        assert_eq!(check(validate_tag, "🦍"), Ok(()));
        assert!(check(validate_tag, "a,b").is_err());
        assert!(check(validate_tag, "a/b").is_err());
        assert_eq!(
            check(validate_header_name, "not a <> valid <> header name"),
            Err("bad header name 'not a <> valid <> header name', allowed characters are A-Z, a-z, 0-9, '_', and '-'".into())
        );
        assert_eq!(check(validate_url, "http://x.test/"), Ok(()));
        assert_eq!(
            check(validate_url, "x.test/"),
            Err("missing host in url".into())
        );
    }
}
