//! Cases from Kong's decoder unit spec (`spec/01-unit/01-db/03-arguments_spec.lua`) and the
//! bodies its Admin API tests send.

use serde_json::json;

use super::*;

fn decode(pairs: &[(&str, &str)]) -> Value {
    let pairs = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    decode_pairs(pairs, Brackets::MapsAllowed).expect("decodes")
}

fn form(body: &str) -> Value {
    decode_pairs(
        parse_urlencoded(body.as_bytes()).expect("parses"),
        Brackets::MapsAllowed,
    )
    .expect("decodes")
}

#[test]
fn plain_values_stay_strings() {
    assert_eq!(
        decode(&[("x", ""), ("y", "true"), ("z", "10")]),
        json!({"x": "", "y": "true", "z": "10"})
    );
}

#[test]
fn arrays_by_index_and_append() {
    assert_eq!(decode(&[("x[]", "a")]), json!({"x": ["a"]}));
    assert_eq!(decode(&[("x[1]", "a")]), json!({"x": ["a"]}));
    assert_eq!(decode(&[("x[2]", "a")]), json!({"x": [null, "a"]}));
    assert_eq!(decode(&[("x[1][1]", "a")]), json!({"x": [["a"]]}));
    assert_eq!(decode(&[("key[][]", "value")]), json!({"key": [["value"]]}));
}

#[test]
fn repeated_names_become_arrays() {
    assert_eq!(
        form("snis=a.test&snis=b.test"),
        json!({"snis": ["a.test", "b.test"]})
    );
    assert_eq!(
        form("paths[]=/a&paths[]=/b"),
        json!({"paths": ["/a", "/b"]})
    );
}

#[test]
fn kong_test_client_route_body() {
    let body =
        "protocols[1]=http&hosts[1]=my.route.test&headers.location[1]=my-location&service.id=123";
    assert_eq!(
        form(body),
        json!({
            "protocols": ["http"],
            "hosts": ["my.route.test"],
            "headers": {"location": ["my-location"]},
            "service": {"id": "123"}
        })
    );
}

#[test]
fn plugin_config_arrays() {
    assert_eq!(
        form("name=key-auth&config.key_names[1]=apikey&config.key_names[2]=key"),
        json!({"name": "key-auth", "config": {"key_names": ["apikey", "key"]}})
    );
}

#[test]
fn maps_with_brackets_and_dots_inside() {
    assert_eq!(
        decode(&[("x[a][b][c]", "42")]),
        json!({"x": {"a": {"b": {"c": "42"}}}})
    );
    assert_eq!(
        decode(&[("a.b.c[test.key]", "d")]),
        json!({"a": {"b": {"c": {"test.key": "d"}}}})
    );
    assert_eq!(
        decode(&[("x.r[1].s[a][2].t[b].u", "a")]),
        json!({"x": {"r": [{"s": {"a": [null, {"t": {"b": {"u": "a"}}}]}}]}})
    );
}

#[test]
fn maps_are_literal_names_when_not_allowed() {
    let pairs = vec![
        ("tags[x]".to_string(), "1".to_string()),
        ("a[1]".to_string(), "2".to_string()),
    ];
    assert_eq!(
        decode_pairs(pairs, Brackets::ArraysOnly).expect("decodes"),
        json!({"tags[x]": "1", "a": ["2"]})
    );
}

#[test]
fn percent_encoded_brackets() {
    assert_eq!(form("paths%5B1%5D=%2Fa"), json!({"paths": ["/a"]}));
    assert_eq!(
        decode(&[("a%5Bescaped_k_1%5D", "bar")]),
        json!({"a": {"escaped_k_1": "bar"}})
    );
    assert_eq!(
        decode(&[("a.b.c%5Bescaped.k.3%5D", "d")]),
        json!({"a": {"b": {"c": {"escaped.k.3": "d"}}}})
    );
    assert_eq!(
        decode(&[("a%5B5%5D.dog", "finn")]),
        json!({"a": [null, null, null, null, {"dog": "finn"}]})
    );
}

#[test]
fn mixed_index_and_named_entries() {
    assert_eq!(
        decode(&[("a[1]", "a"), ("a[1].cat", "tommy")]),
        // Kong's table `{ "a", cat = "tommy" }` is mixed, so cjson renders it as an object.
        json!({"a": [{"1": "a", "cat": "tommy"}]})
    );
}

#[test]
fn leading_or_trailing_dots_are_literal() {
    assert_eq!(
        decode(&[(".x", "1"), ("y.", "2")]),
        json!({".x": "1", "y.": "2"})
    );
}

#[test]
fn urlencoded_plus_and_percent() {
    assert_eq!(
        form("username=abc+def%201"),
        json!({"username": "abc def 1"})
    );
    assert_eq!(form("name=%E5%86%86"), json!({"name": "円"}));
}

#[test]
fn too_many_arguments() {
    let body: String = (0..1001).map(|i| format!("config.allow={i}&")).collect();
    assert_eq!(
        parse_urlencoded(body.as_bytes()),
        Err(ArgsError::TooManyArguments)
    );
    let exactly: String = (0..1000).map(|i| format!("a{i}=1&")).collect();
    assert_eq!(
        parse_urlencoded(exactly.as_bytes()).map(|p| p.len()),
        Ok(1000)
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    assert_eq!(
        parse_urlencoded(b"%FF=1"),
        Err(ArgsError::InvalidUtf8("name"))
    );
    assert_eq!(
        parse_urlencoded(b"a=%C3"),
        Err(ArgsError::InvalidUtf8("value"))
    );
}

#[test]
fn never_panics_on_odd_names() {
    for name in [
        "[",
        "]",
        "[]",
        "[[]]",
        "a[",
        "a]",
        "a[[",
        "a..b",
        "...",
        "a[].b",
        "[1]",
        "%5B",
        "%5b%5d",
        "a[99999999999999999999]",
        "é[ü].ß",
        "a.[b]",
        "[.]",
    ] {
        let _ = decode(&[(name, "v")]);
    }
}
