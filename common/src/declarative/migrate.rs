//! The on-the-fly upgrade of `_format_version` "1.1" and "2.1" files to "3.0" (Kong's
//! `kong/db/declarative/migrations/route_path.lua`): before 3.0 a route path was a regex
//! whenever it contained regex characters; since 3.0 a regex path starts with `~`. Paths
//! of top-level routes and of routes nested in top-level services are rewritten: plain
//! paths are normalised (percent-decoding of unreserved characters, dot segments, `//`),
//! regex paths get the `~` prefix and their percent-encoded triplets decoded (escaped when
//! they are regex metacharacters).

use serde_json::{Map, Value};

/// Rewrites the route paths of a 1.1/2.1 document in place.
pub(crate) fn migrate_route_paths(doc: &mut Map<String, Value>) {
    if let Some(Value::Array(routes)) = doc.get_mut("routes") {
        migrate_routes(routes);
    }
    if let Some(Value::Array(services)) = doc.get_mut("services") {
        for service in services {
            if let Some(Value::Array(routes)) = service.get_mut("routes") {
                migrate_routes(routes);
            }
        }
    }
}

fn migrate_routes(routes: &mut [Value]) {
    for route in routes {
        if let Some(Value::Array(paths)) = route.get_mut("paths") {
            for path in paths {
                if let Value::String(p) = path {
                    *p = migrate_path(p);
                }
            }
        }
    }
}

/// Kong's `migrate_path_280_300`.
pub(crate) fn migrate_path(path: &str) -> String {
    if is_plain(path) {
        normalize(path, true)
    } else {
        format!("~{}", normalize_regex(path))
    }
}

/// Only characters that could not make a regex (`[a-zA-Z0-9.\-_~/%]*`).
fn is_plain(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b))
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Replaces each `%XX` triplet (hex digits in either case) by what `decode` returns for it;
/// `None` keeps the triplet with its hex digits upper-cased. Text that would not be UTF-8
/// after decoding is left as it was.
fn percent_rewrite(text: &str, decode: impl Fn(u8) -> Option<Vec<u8>>) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            match decode(hi * 16 + lo) {
                Some(decoded) => out.extend_from_slice(&decoded),
                None => out.extend(bytes[i..i + 3].iter().map(u8::to_ascii_uppercase)),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// Kong's `kong.tools.uri.normalize`: decode percent-encoded characters that are not
/// reserved, then remove dot segments (and merge slashes).
pub(crate) fn normalize(uri: &str, merge_slashes: bool) -> String {
    if uri.is_empty() || uri == "/" {
        return uri.to_string();
    }
    const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";
    let decoded;
    let uri = if uri.contains('%') {
        decoded = percent_rewrite(uri, |c| (!RESERVED.contains(&c)).then(|| vec![c]));
        decoded.as_str()
    } else {
        uri
    };
    if !uri.contains('.') && (!merge_slashes || !uri.contains("//")) {
        return uri.to_string();
    }
    remove_dot_segments(uri.as_bytes(), merge_slashes)
}

fn remove_dot_segments(mut uri: &[u8], merge_slashes: bool) -> String {
    let mut segments: Vec<&[u8]> = Vec::new();
    while !uri.is_empty() {
        if uri == b"/." {
            uri = b"/";
        } else if uri == b"/.." {
            uri = b"/";
            segments.pop();
        } else if uri == b"." || uri == b".." {
            uri = b"";
        } else if uri.starts_with(b"../") {
            uri = &uri[3..];
        } else if uri.starts_with(b"./") || uri.starts_with(b"/./") {
            uri = &uri[2..];
        } else if uri.starts_with(b"/../") {
            uri = &uri[3..];
            segments.pop();
        } else if merge_slashes && uri.starts_with(b"//") {
            uri = &uri[1..];
        } else {
            match uri[1..].iter().position(|b| *b == b'/') {
                Some(i) => {
                    segments.push(&uri[..=i]);
                    uri = &uri[i + 1..];
                }
                None => {
                    segments.push(uri);
                    uri = b"";
                }
            }
        }
    }
    String::from_utf8_lossy(&segments.concat()).into_owned()
}

/// Percent-decoding of a pre-3.0 regex path: reserved characters stay encoded, regex
/// metacharacters are decoded escaped, the rest decoded.
fn normalize_regex(regex: &str) -> String {
    if !regex.contains('%') {
        return regex.to_string();
    }
    const RESERVED: &[u8] = b"!#$%&'()*+,/:;=?@[]";
    percent_rewrite(regex, |c| {
        if RESERVED.contains(&c) {
            None
        } else if b".^-{}\\|".contains(&c) {
            Some(vec![b'\\', c])
        } else {
            Some(vec![c])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_normalised() {
        assert_eq!(migrate_path("/prefix"), "/prefix");
        assert_eq!(migrate_path("/"), "/");
        assert_eq!(migrate_path("/a/./b/../c"), "/a/c");
        assert_eq!(migrate_path("/a//b"), "/a/b");
        assert_eq!(migrate_path("/%7euser/%2F"), "/~user/%2F");
        assert_eq!(migrate_path("/foo%2fbar"), "/foo%2Fbar");
        assert_eq!(migrate_path("~/already"), "~/already");
    }

    #[test]
    fn regex_paths_get_a_tilde() {
        assert_eq!(migrate_path("/regex.+"), "~/regex.+");
        assert_eq!(migrate_path("/status/\\d+$"), "~/status/\\d+$");
        assert_eq!(migrate_path("/a%2E(b)"), "~/a\\.(b)");
        assert_eq!(migrate_path("/x(%3F)"), "~/x(%3F)");
        assert_eq!(migrate_path("/x(%61)"), "~/x(a)");
    }

    #[test]
    fn nested_and_top_level_routes_are_migrated() {
        let mut doc = serde_json::json!({
            "_format_version": "1.1",
            "routes": [{"paths": ["/regex.+", "/prefix"]}],
            "services": [{"routes": [{"paths": ["/v1/(.*)"]}]}],
        });
        let Some(map) = doc.as_object_mut() else {
            panic!("object")
        };
        migrate_route_paths(map);
        assert_eq!(doc["routes"][0]["paths"][0], "~/regex.+");
        assert_eq!(doc["routes"][0]["paths"][1], "/prefix");
        assert_eq!(doc["services"][0]["routes"][0]["paths"][0], "~/v1/(.*)");
    }
}
