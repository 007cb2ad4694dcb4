//! Catalogue §2.3 #44: all 212 cases of Kong's path-handling fixture, v0 and v1, with the
//! route path as a prefix and (for the rows that have a route path) as the regex `~/[0]?<rest>`,
//! as Kong's router unit test runs them [U/router "slash handling"].

use serde::Deserialize;
use serde_json::json;

use super::{req, route, service};
use crate::router::Router;

#[derive(Debug, Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    row: u32,
    service_path: String,
    route_path: Option<String>,
    strip_path: bool,
    path_handling: String,
    request_path: String,
    expected_upstream_path: String,
}

fn cases() -> Vec<Case> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/kong-path-handling-cases.json"))
            .expect("fixture parses");
    fixture.cases
}

/// Runs one case with the given route path (or none) and returns the upstream path.
fn upstream_path(case: &Case, route_path: Option<&str>, host: &str) -> Option<String> {
    let mut fields = json!({
        "hosts": [host],
        "strip_path": case.strip_path,
        "path_handling": case.path_handling,
    });
    if let Some(p) = route_path {
        fields["paths"] = json!([p]);
    }
    let r = route(fields);
    let s = service(json!({ "path": case.service_path }));
    let router = Router::build(vec![(r, Some(s))]).expect("router builds");
    req("GET", &case.request_path, Some(host))
        .find(&router)
        .map(|m| m.upstream_path)
}

#[test]
fn all_212_fixture_cases_with_prefix_paths() {
    let cases = cases();
    assert_eq!(cases.len(), 212);
    assert_eq!(
        cases.iter().filter(|c| c.path_handling == "v1").count(),
        106
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let host = format!("localbin-{}-{i}.com", case.row);
        let got = upstream_path(case, case.route_path.as_deref(), &host);
        if got.as_deref() != Some(case.expected_upstream_path.as_str()) {
            failures.push(format!("{case:?} => {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fixture_cases_with_regex_paths() {
    let mut failures = Vec::new();
    let mut run = 0;
    for (i, case) in cases().iter().enumerate() {
        let Some(prefix) = &case.route_path else {
            continue;
        };
        let regex = format!("~/[0]?{}", &prefix[1..]);
        let host = format!("localbin-{}-{i}.com", case.row);
        let got = upstream_path(case, Some(&regex), &host);
        run += 1;
        if got.as_deref() != Some(case.expected_upstream_path.as_str()) {
            failures.push(format!("{regex} {case:?} => {got:?}"));
        }
    }
    assert_eq!(run, 212 - 36);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
