use serde_json::{Value, json};

use super::*;
use crate::model::EntityKind::Service;

#[test]
fn insert_fills_kong_defaults() {
    // #13
    let s = insert_ok(Service, json!({"protocol": "http", "host": "service.test"}));
    assert!(super::super::is_uuid(s["id"].as_str().unwrap()));
    assert!(s["created_at"].is_i64() && s["updated_at"].is_i64());
    for (field, expected) in [
        ("name", json!(null)),
        ("port", json!(80)),
        ("retries", json!(5)),
        ("connect_timeout", json!(60000)),
        ("write_timeout", json!(60000)),
        ("read_timeout", json!(60000)),
        ("path", json!(null)),
        ("enabled", json!(true)),
        ("tls_verify", json!(null)),
        ("tls_verify_depth", json!(null)),
        ("ca_certificates", json!(null)),
        ("client_certificate", json!(null)),
        ("tags", json!(null)),
    ] {
        assert_eq!(s[field], expected, "{field}");
    }
}

#[test]
fn url_shorthand_expands() {
    // #14, #15
    let cases = [
        (
            "http://service.test/",
            json!({"protocol": "http", "host": "service.test", "port": 80, "path": "/"}),
        ),
        (
            "https://service.test/",
            json!({"protocol": "https", "host": "service.test", "port": 443, "path": "/"}),
        ),
        (
            "http://service.test:8080/a/b",
            json!({"protocol": "http", "host": "service.test", "port": 8080, "path": "/a/b"}),
        ),
        (
            "http://service.test",
            json!({"protocol": "http", "host": "service.test", "port": 80, "path": null}),
        ),
        (
            "grpc://service.test:50051",
            json!({"protocol": "grpc", "host": "service.test", "port": 50051, "path": null}),
        ),
    ];
    for (url, expected) in cases {
        let s = insert_ok(Service, json!({ "url": url }));
        assert!(!s.contains_key("url"), "{url}");
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(&s[k], v, "{url}: {k}");
        }
    }
}

#[test]
fn bad_urls_are_schema_violations() {
    // #16, #17
    assert_eq!(
        insert_err(Service, json!({"url": ""})).message(),
        "schema violation (url: length must be at least 1)"
    );
    assert!(insert(Service, json!({"url": " "})).is_err());
    let e = insert_err(Service, json!({"url": "invalid url"}));
    assert_eq!(
        e.to_json(),
        json!({"code": 2, "name": "schema violation",
               "message": "2 schema violations (host: required field missing; path: should start with: /)",
               "fields": {"host": "required field missing", "path": "should start with: /"}})
    );
}

#[test]
fn field_errors() {
    // #18, #19 and the validators of each service field
    let cases: Vec<(Value, Value)> = vec![
        (json!({}), json!({"host": "required field missing"})),
        (
            json!({"host": "example.test", "protocol": "foo"}),
            json!({"protocol": "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"}),
        ),
        (
            json!({"host": "example.test", "port": 65536}),
            json!({"port": "value should be between 0 and 65535"}),
        ),
        (
            json!({"host": "example.test", "port": "80"}),
            json!({"port": "expected an integer"}),
        ),
        (
            json!({"host": "example.test", "retries": 1.5}),
            json!({"retries": "expected an integer"}),
        ),
        (
            json!({"host": "example.test", "connect_timeout": 0}),
            json!({"connect_timeout": "value should be between 1 and 2147483646"}),
        ),
        (
            json!({"host": "example.test:80"}),
            json!({"host": "must not have a port"}),
        ),
        (
            json!({"host": "bad host"}),
            json!({"host": "invalid value: bad host"}),
        ),
        (
            json!({"host": "example.test", "path": "/a//b"}),
            json!({"path": "must not have empty segments"}),
        ),
        (
            json!({"host": "example.test", "name": "a b"}),
            json!({"name": "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"}),
        ),
        (
            json!({"host": "example.test", "name": ""}),
            json!({"name": "length must be at least 1"}),
        ),
        (
            json!({"host": "example.test", "tags": ["a,b"]}),
            json!({"tags": ["invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"]}),
        ),
        (
            json!({"host": "example.test", "tags": "x"}),
            json!({"tags": "expected a set"}),
        ),
        (
            json!({"host": "example.test", "enabled": "yes"}),
            json!({"enabled": "expected a boolean"}),
        ),
        (
            json!({"host": "example.test", "protocol": "https", "ca_certificates": ["nope"]}),
            json!({"ca_certificates": ["expected a valid UUID"]}),
        ),
        // A failed entity check overwrites the field's own error, as in Kong.
        (
            json!({"host": "example.test", "ca_certificates": ["nope"]}),
            json!({
            "ca_certificates": "value must be null",
            "@entity": ["failed conditional validation given value of field 'protocol'"]}),
        ),
        (
            json!({"host": "example.test", "foo": "bar"}),
            json!({"foo": "unknown field"}),
        ),
        (
            json!({"host": "example.test", "id": "x"}),
            json!({"id": "expected a valid UUID"}),
        ),
        (
            json!({"host": "example.test", "protocol": "tcp", "path": "/x"}),
            json!({
            "path": "value must be null",
            "@entity": ["failed conditional validation given value of field 'protocol'"]}),
        ),
        (
            json!({"host": "example.test", "tls_verify": true}),
            json!({
            "tls_verify": "value must be null",
            "@entity": ["failed conditional validation given value of field 'protocol'"]}),
        ),
    ];
    for (input, expected) in cases {
        let e = insert_err(Service, input.clone());
        assert_eq!(fields(&e), expected, "{input}");
    }
    assert!(insert(Service, json!({"host": "example.test", "protocol": "https", "tls_verify": true, "tls_verify_depth": 3})).is_ok());
}

#[test]
fn patch_null_clears_and_url_resets_path() {
    // #25, #26
    let s = insert_ok(
        Service,
        json!({"name": "svc", "host": "example.test", "path": "/p"}),
    );
    let s2 = update(Service, json!({"name": null, "protocol": "https"}), &s).unwrap();
    assert_eq!(s2["name"], json!(null));
    assert_eq!(s2["protocol"], json!("https"));
    assert_eq!(s2["id"], s["id"]);
    assert_eq!(s2["path"], json!("/p"));

    let s3 = update(Service, json!({"url": "http://example.test:443"}), &s2).unwrap();
    assert_eq!(
        (&s3["protocol"], &s3["host"], &s3["port"], &s3["path"]),
        (
            &json!("http"),
            &json!("example.test"),
            &json!(443),
            &json!(null)
        )
    );
    let s4 = update(Service, json!({"url": "https://example2.test:80/"}), &s3).unwrap();
    assert_eq!((&s4["port"], &s4["path"]), (&json!(80), &json!("/")));
    let s5 = update(Service, json!({"url": "http://example2.test"}), &s4).unwrap();
    assert_eq!((&s5["port"], &s5["path"]), (&json!(80), &json!(null)));
}

#[test]
fn put_is_a_full_replacement() {
    // #58: PUT re-requires host; several errors are counted and sorted.
    let existing = insert_ok(Service, json!({"host": "example.test", "retries": 3}));
    let e = catalog()
        .upsert(
            Service,
            obj(json!({"connect_timeout": "foobar"})),
            Some(&existing),
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        "2 schema violations (connect_timeout: expected an integer; host: required field missing)"
    );
    let replaced = catalog()
        .upsert(Service, obj(json!({"host": "other.test"})), Some(&existing))
        .unwrap();
    assert_eq!(replaced["id"], existing["id"]);
    assert_eq!(replaced["created_at"], existing["created_at"]);
    assert_eq!(
        replaced["retries"],
        json!(5),
        "absent fields get their defaults again"
    );
}

#[test]
fn validate_only() {
    // #10
    assert!(
        catalog()
            .validate(Service, obj(json!({"host": "example.com"})))
            .is_ok()
    );
}
