//! Randomised robustness checks: `find` never panics on arbitrary paths, hosts, methods,
//! headers and SNIs, and normalisation never leaves dot segments or double slashes.

use std::sync::Arc;

use common::model::{Protocol, Route};
use http::{HeaderMap, HeaderName, HeaderValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{route, router};
use crate::router::{RequestView, normalize_path};

/// Bytes that stress the parsers: separators, escapes, dots, brackets, colons, non-ASCII.
const ALPHABET: &[&str] = &[
    "/",
    "/",
    ".",
    "..",
    "%",
    "%2",
    "%2F",
    "%2e",
    "%25",
    "%ff",
    "%00",
    "%zz",
    "a",
    "B",
    "1",
    ":",
    "[",
    "]",
    "*",
    "~",
    "?",
    "#",
    " ",
    "é",
    "\u{1F600}",
    "\\",
    "//",
    "/./",
    "/../",
];

fn random_string(rng: &mut StdRng, max_parts: usize) -> String {
    let n = rng.random_range(0..=max_parts);
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

fn table() -> Vec<Arc<Route>> {
    vec![
        route(json!({ "paths": ["/", "/a", "/a/b%2Fc", "~/a/(?<id>\\d+)", "~/(x|y)?"] })),
        route(
            json!({ "hosts": ["a.com", "*.a.com", "a.*", "[::1]:80", "b.*:8000"], "paths": ["~/.*"] }),
        ),
        route(
            json!({ "hosts": ["a.com:8000"], "strip_path": true, "paths": ["/a"], "path_handling": "v1" }),
        ),
        route(json!({ "methods": ["GET"], "headers": { "x-v": ["1", "~*^a.+"] } })),
        route(
            json!({ "headers": { "user-agent": ["~*curl|\\d+"] }, "strip_path": true, "paths": ["~/u/\\d+"] }),
        ),
        route(json!({ "snis": ["s.com", "*.s.com"], "preserve_host": true })),
    ]
}

#[test]
fn find_never_panics_on_random_input() {
    let routes = table();
    let router = router(&routes);
    let mut rng = StdRng::seed_from_u64(7);
    let mut matched = 0;
    for _ in 0..50_000 {
        let path = random_string(&mut rng, 12);
        let host = random_string(&mut rng, 5);
        let method = random_string(&mut rng, 2);
        let sni = random_string(&mut rng, 3);
        let mut headers = HeaderMap::new();
        if rng.random_bool(0.5) {
            let value = random_string(&mut rng, 4);
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(HeaderName::from_static("x-v"), v);
            }
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(HeaderName::from_static("user-agent"), v);
            }
        }
        let scheme = if rng.random_bool(0.5) {
            Protocol::Http
        } else {
            Protocol::Grpcs
        };
        let view = RequestView {
            method: &method,
            scheme,
            host: rng.random_bool(0.8).then_some(host.as_str()),
            path: &path,
            headers: &headers,
            sni: rng.random_bool(0.5).then_some(sni.as_str()),
        };
        if let Some(m) = router.find(&view) {
            matched += 1;
            assert!(
                m.upstream_path.is_ascii(),
                "upstream path must be ASCII: {m:?}"
            );
        }
    }
    // The table has catch-all routes: most requests match, so the match path is exercised.
    assert!(matched > 10_000, "only {matched} matches");
}

#[test]
fn normalization_leaves_no_dot_segments_or_double_slashes() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..20_000 {
        let mut path = random_string(&mut rng, 14);
        path.insert(0, '/');
        let once = normalize_path(&path).into_owned();
        for segment in once.split(|b| *b == b'/') {
            assert!(
                segment != b"." && segment != b"..",
                "dot segment left in {:?} from {path:?}",
                String::from_utf8_lossy(&once)
            );
        }
        assert!(
            !once.windows(2).any(|w| w == b"//"),
            "double slash left in {:?}",
            String::from_utf8_lossy(&once)
        );
    }
}
