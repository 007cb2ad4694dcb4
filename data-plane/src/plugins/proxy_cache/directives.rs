//! `Cache-Control` directives and media types as Kong's proxy-cache reads them.

use std::collections::HashMap;

use crate::plugins::clock::parse_http_date;

/// Directives by lower-case name; a value when the directive had one.
pub type Directives = HashMap<String, Option<String>>;

/// Kong's `parse_directive_header`.
pub fn parse_cache_control(value: Option<&str>) -> Directives {
    let mut out = HashMap::new();
    for part in value.unwrap_or("").split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => {
                out.insert(
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                );
            }
            None => {
                out.insert(part.to_ascii_lowercase(), None);
            }
        }
    }
    out
}

/// A numeric directive (`max-age=60`).
pub fn seconds(cc: &Directives, name: &str) -> Option<i64> {
    cc.get(name)?.as_deref()?.parse().ok()
}

/// Kong's `calculate_resource_ttl`: `s-maxage`, else `max-age`, else `Expires` minus now.
pub fn resource_ttl(cc: &Directives, expires: Option<&str>, now: i64) -> i64 {
    if let Some(ttl) = seconds(cc, "s-maxage").or_else(|| seconds(cc, "max-age")) {
        return ttl;
    }
    expires.and_then(parse_http_date).map_or(0, |at| at - now)
}

/// A media type: type, subtype (lower-case) and parameters.
pub struct MediaType {
    pub kind: String,
    pub subtype: String,
    pub params: HashMap<String, String>,
}

/// Kong's `parse_mime_type`.
pub fn parse_media_type(value: &str) -> Option<MediaType> {
    let mut parts = value.split(';');
    let (kind, subtype) = parts.next()?.trim().split_once('/')?;
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    Some(MediaType {
        kind: kind.trim().to_ascii_lowercase(),
        subtype: subtype.trim().to_ascii_lowercase(),
        params,
    })
}

/// Whether `actual` matches one of the configured `expected` types (wildcards allowed,
/// parameters must be the same set).
pub fn content_type_matches(actual: &str, expected: &[String]) -> bool {
    let Some(actual) = parse_media_type(actual) else {
        return false;
    };
    expected
        .iter()
        .filter_map(|e| parse_media_type(e))
        .any(|e| {
            (e.kind == "*" || e.kind == actual.kind)
                && (e.subtype == "*" || e.subtype == actual.subtype)
                && e.params == actual.params
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_ttls() {
        let cc = parse_cache_control(Some("public, Max-Age=60, s-maxage=\"30\""));
        assert_eq!(resource_ttl(&cc, None, 0), 30);
        assert!(cc.contains_key("public"));
        let cc = parse_cache_control(None);
        assert_eq!(
            resource_ttl(&cc, Some("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_700),
            77
        );
    }

    #[test]
    fn content_types_match_like_kong() {
        let expected = vec!["text/plain".to_string(), "application/json".to_string()];
        assert!(content_type_matches("application/json", &expected));
        assert!(!content_type_matches(
            "application/json; charset=utf-8",
            &expected
        ));
        assert!(content_type_matches("text/html", &["text/*".to_string()]));
    }
}
