//! Host matching: splitting a port off the `Host` header, and wildcard host patterns.
//!
//! A route's plain host `h` matches when `h` equals the request's Host as sent (port included)
//! or the Host without its port: so `example.com` matches any port, `example.com:8000` only
//! port 8000. Wildcard hosts (`*.example.com`, `example.*`, optionally with `:port`) are matched
//! against "host:port", where a missing port is the scheme's default (80 or 443); without a port
//! in the pattern any port matches. Hosts are compared case-insensitively (both sides are
//! lower-cased), which Kong leaves to the client.

use std::borrow::Cow;

/// The Host header split the way Kong splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitHost<'a> {
    /// The host without port, without IPv6 brackets.
    pub name: Cow<'a, str>,
    /// The host with a port: the one given, else the default one.
    pub with_port: Cow<'a, str>,
    /// Whether the input carried a (decimal) port.
    pub had_port: bool,
}

impl SplitHost<'_> {
    /// The port the input carried (only when it had one).
    #[cfg(test)]
    pub fn port(&self) -> Option<&str> {
        if !self.had_port {
            return None;
        }
        self.with_port.rsplit_once(':').map(|(_, p)| p)
    }
}

fn only_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn add_port(host: &str, default_port: Option<u16>) -> Cow<'_, str> {
    match default_port {
        Some(port) => {
            let mut s = String::with_capacity(host.len() + 6);
            s.push_str(host);
            s.push(':');
            s.push_str(match port {
                80 => "80",
                443 => "443",
                _ => return Cow::Owned(format!("{host}:{port}")),
            });
            Cow::Owned(s)
        }
        None => Cow::Borrowed(host),
    }
}

/// Splits an optional `:port` off `name`. The port must be decimal digits; brackets around an
/// IPv6 literal are removed from the name; more than one colon without brackets cannot be split.
/// Every input yields an answer (never fails): unparsable input comes back unchanged.
pub fn split_port(name: &str, default_port: Option<u16>) -> SplitHost<'_> {
    if let Some(inner) = name.strip_prefix('[') {
        if let Some(host) = inner.strip_suffix(']') {
            return SplitHost {
                name: Cow::Borrowed(host),
                with_port: add_port(name, default_port),
                had_port: false,
            };
        }
        if let Some(pos) = inner.find("]:") {
            let host = &inner[..pos];
            let port = &inner[pos + 2..];
            if port.is_empty() {
                let with_port = match default_port {
                    Some(p) => Cow::Owned(format!("{name}{p}")),
                    None => Cow::Borrowed(name),
                };
                return SplitHost {
                    name: Cow::Borrowed(host),
                    with_port,
                    had_port: false,
                };
            }
            if only_digits(port) {
                return SplitHost {
                    name: Cow::Borrowed(host),
                    with_port: Cow::Borrowed(name),
                    had_port: true,
                };
            }
        }
        return SplitHost {
            name: Cow::Borrowed(name),
            with_port: add_port(name, default_port),
            had_port: false,
        };
    }
    let Some(colon) = name.find(':') else {
        return SplitHost {
            name: Cow::Borrowed(name),
            with_port: add_port(name, default_port),
            had_port: false,
        };
    };
    let (host, port) = (&name[..colon], &name[colon + 1..]);
    if port.is_empty() {
        return SplitHost {
            name: Cow::Borrowed(host),
            with_port: add_port(host, default_port),
            had_port: false,
        };
    }
    if !only_digits(port) {
        // More than one colon (a bare IPv6 literal) or a non-numeric port: no split.
        let with_port = match default_port {
            Some(p) => Cow::Owned(format!("[{name}]:{p}")),
            None => Cow::Borrowed(name),
        };
        return SplitHost {
            name: Cow::Borrowed(name),
            with_port,
            had_port: false,
        };
    }
    SplitHost {
        name: Cow::Borrowed(host),
        with_port: Cow::Borrowed(name),
        had_port: true,
    }
}

/// Which side of the host the `*` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WildcardKind {
    /// `*.example.com`: anything (at least one character, dots included) before `.example.com`.
    Leading,
    /// `example.*`: anything (at least one character) after `example.`.
    Trailing,
}

/// A compiled wildcard host. Semantics follow Kong's translation of `*` into `.+` anchored at
/// both ends, matched against "host:port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardHost {
    pub kind: WildcardKind,
    /// The literal part: `example.com` for `*.example.com`, `example` for `example.*`.
    pub literal: String,
    /// The port in the pattern, if any (`*.example.com:8000`).
    pub port: Option<String>,
}

impl WildcardHost {
    /// Parses a lower-cased host containing `*`. Only a leftmost `*.` or a rightmost `.*` (before
    /// an optional `:port`) are accepted, as Kong's schema requires.
    pub fn parse(host: &str) -> Result<WildcardHost, &'static str> {
        if host.matches('*').count() != 1 {
            return Err("only one wildcard must be specified");
        }
        let split = split_port(host, None);
        let (pattern, port) = if split.had_port {
            let pos = host.rfind(':').ok_or("invalid port")?;
            (&host[..pos], Some(host[pos + 1..].to_string()))
        } else {
            (host, None)
        };
        if let Some(rest) = pattern.strip_prefix("*.") {
            if rest.is_empty() {
                return Err("wildcard host must have a domain after '*.'");
            }
            return Ok(WildcardHost {
                kind: WildcardKind::Leading,
                literal: rest.to_string(),
                port,
            });
        }
        if let Some(rest) = pattern.strip_suffix(".*") {
            if rest.is_empty() {
                return Err("wildcard host must have a domain before '.*'");
            }
            return Ok(WildcardHost {
                kind: WildcardKind::Trailing,
                literal: rest.to_string(),
                port,
            });
        }
        Err("wildcard must be leftmost or rightmost character")
    }

    /// Whether a request's host matches: `name` is the lower-cased host without port, `port`
    /// the port it carried or else the scheme's default. (Kong matches `*` as `.+` against
    /// "host:port", which for hosts that split cleanly comes down to these label checks.)
    pub fn matches(&self, name: &str, port: &str) -> bool {
        if self.port.as_deref().is_some_and(|p| p != port) {
            return false;
        }
        match self.kind {
            // `.+\.literal(:\d+)?$`
            WildcardKind::Leading => {
                name.len() > self.literal.len() + 1
                    && name.ends_with(self.literal.as_str())
                    && name.as_bytes()[name.len() - self.literal.len() - 1] == b'.'
            }
            // `^literal\..+(:\d+)?$`: without a port in the pattern, `.+` may be the port.
            WildcardKind::Trailing => {
                let min = self.literal.len() + usize::from(self.port.is_some());
                name.len() > min
                    && name.starts_with(self.literal.as_str())
                    && name.as_bytes()[self.literal.len()] == b'.'
            }
        }
    }
}

/// Lower-cases ASCII letters, borrowing when there is nothing to change.
pub fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str, port: Option<u16>) -> (String, String, bool) {
        let s = split_port(name, port);
        (s.name.into_owned(), s.with_port.into_owned(), s.had_port)
    }

    // The table of Kong's unit test "splits port number" [U/router:94].
    #[test]
    fn split_port_matches_kong_table() {
        let cases: &[(&str, Option<u16>, &str, &str, bool)] = &[
            ("", None, "", "", false),
            ("localhost", None, "localhost", "localhost", false),
            ("localhost:", None, "localhost", "localhost", false),
            ("localhost:80", None, "localhost", "localhost:80", true),
            (
                "localhost:23h",
                None,
                "localhost:23h",
                "localhost:23h",
                false,
            ),
            ("localhost/24", None, "localhost/24", "localhost/24", false),
            ("::1", None, "::1", "::1", false),
            ("[::1]", None, "::1", "[::1]", false),
            ("[::1]:", None, "::1", "[::1]:", false),
            ("[::1]:80", None, "::1", "[::1]:80", true),
            ("[::1]:80b", None, "[::1]:80b", "[::1]:80b", false),
            ("[::1]/96", None, "[::1]/96", "[::1]/96", false),
            ("", Some(88), "", ":88", false),
            ("localhost", Some(88), "localhost", "localhost:88", false),
            ("localhost:", Some(88), "localhost", "localhost:88", false),
            ("localhost:80", Some(88), "localhost", "localhost:80", true),
            (
                "localhost:23h",
                Some(88),
                "localhost:23h",
                "[localhost:23h]:88",
                false,
            ),
            (
                "localhost/24",
                Some(88),
                "localhost/24",
                "localhost/24:88",
                false,
            ),
            ("::1", Some(88), "::1", "[::1]:88", false),
            ("[::1]", Some(88), "::1", "[::1]:88", false),
            ("[::1]:", Some(88), "::1", "[::1]:88", false),
            ("[::1]:80", Some(88), "::1", "[::1]:80", true),
            ("[::1]:80b", Some(88), "[::1]:80b", "[::1]:80b:88", false),
            ("[::1]/96", Some(88), "[::1]/96", "[::1]/96:88", false),
        ];
        for (input, port, name, with_port, had) in cases {
            assert_eq!(
                split(input, *port),
                (name.to_string(), with_port.to_string(), *had),
                "split_port({input:?}, {port:?})"
            );
        }
    }

    fn wild(p: &str) -> WildcardHost {
        WildcardHost::parse(p).expect("valid wildcard")
    }

    // Catalogue §2.2 #28: wildcards match any port unless the pattern names one.
    #[test]
    fn wildcard_semantics() {
        assert!(wild("*.route.com").matches("foo.route.com", "80"));
        assert!(wild("*.route.com").matches("a.b.route.com", "123"));
        assert!(!wild("*.route.com").matches("route.com", "80"));
        assert!(!wild("*.route.com").matches(".route.com", "80"));
        assert!(wild("route.*").matches("route.org", "80"));
        assert!(wild("route.*").matches("route.org.uk", "123"));
        assert!(wild("route.*").matches("route.", "80"));
        assert!(!wild("route.*").matches("router.org", "80"));
        assert!(wild("*.route.net:123").matches("foo.route.net", "123"));
        assert!(!wild("*.route.net:123").matches("foo.route.net", "456"));
        assert!(wild("route.*:80").matches("route.org", "80"));
        assert!(!wild("route.*:80").matches("route.org", "8080"));
        assert!(!wild("route.*:80").matches("route.", "80"));
    }

    #[test]
    fn split_host_port() {
        assert_eq!(split_port("a.com:8000", None).port(), Some("8000"));
        assert_eq!(split_port("[::1]:80", None).port(), Some("80"));
        assert_eq!(split_port("a.com", Some(80)).port(), None);
    }

    #[test]
    fn wildcard_parse_errors() {
        assert!(WildcardHost::parse("*.*.com").is_err());
        assert!(WildcardHost::parse("a*.com").is_err());
        assert!(WildcardHost::parse("a.*.com").is_err());
        assert!(WildcardHost::parse("*.").is_err());
    }
}
