use serde_json::{Value, json};

use super::*;
use crate::model::EntityKind::{Target, Upstream};
use crate::schema::entities::healthchecks_default;

#[test]
fn upstream_defaults_match_kong() {
    // #86 and the deck "expected310" defaults
    let u = insert_ok(Upstream, json!({"name": "my.upstream"}));
    for (field, expected) in [
        ("slots", json!(10000)),
        ("hash_on", json!("none")),
        ("hash_fallback", json!("none")),
        ("hash_on_header", json!(null)),
        ("hash_fallback_header", json!(null)),
        ("hash_on_cookie_path", json!("/")),
        ("algorithm", json!("round-robin")),
        ("use_srv_name", json!(false)),
    ] {
        assert_eq!(u[field], expected, "{field}");
    }
    let mut expected = healthchecks_default();
    expected["active"]["https_sni"] = Value::Null;
    expected["active"]["headers"] = Value::Null;
    assert_eq!(u["healthchecks"], expected);
    assert_eq!(
        u["healthchecks"]["passive"]["healthy"]["http_statuses"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
}

#[test]
fn upstream_errors() {
    let cases: Vec<(Value, Value)> = vec![
        // #87
        (
            json!({"name": "a.test", "slots": 65537}),
            json!({"slots": "value should be between 10 and 65536"}),
        ),
        // #88
        (
            json!({"name": "some invalid host name"}),
            json!({"name": "Invalid name ('some invalid host name'); must be a valid hostname"}),
        ),
        (
            json!({"name": "1.2.3.4"}),
            json!({"name": "Invalid name ('1.2.3.4'); no ip addresses allowed"}),
        ),
        (
            json!({"name": "a.test:80"}),
            json!({"name": "Invalid name ('a.test:80'); no port allowed"}),
        ),
        // #89
        (
            json!({"name": "a.test", "hash_on": "something that is invalid"}),
            json!({"hash_on": "expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"}),
        ),
        (
            json!({"name": "a.test", "hash_on": "consumer", "hash_fallback": "consumer"}),
            json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
                "hash_fallback": "expected one of: none, ip, header, cookie, path, query_arg, uri_capture"}),
        ),
        // #90
        (
            json!({"name": "a.test", "hash_on": "header", "hash_on_header": "x", "hash_fallback": "header", "hash_fallback_header": "x"}),
            json!({"@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]}),
        ),
        (
            json!({"name": "a.test", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "header", "hash_fallback_header": "x"}),
            json!({"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_fallback": "expected one of: none"}),
        ),
        // #91
        (
            json!({"name": "a.test", "hash_on": "header", "hash_on_header": "not a <> valid <> header name"}),
            // The conditional check re-validates the header with the field's own rules.
            json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
                "hash_on_header": "bad header name 'not a <> valid <> header name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}),
        ),
        (
            json!({"name": "a.test", "hash_on_cookie_path": "not a path"}),
            json!({"hash_on_cookie_path": "should start with: /"}),
        ),
        (
            json!({"name": "a.test", "hash_on": "header"}),
            json!({"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_on_header": "required field missing"}),
        ),
        (
            json!({"name": "a.test", "healthchecks": {"active": {"concurrency": 0}}}),
            json!({"healthchecks": {"active": {"concurrency": "value should be between 1 and 2147483648"}}}),
        ),
        (
            json!({"name": "a.test", "healthchecks": {"active": {"healthy": {"http_statuses": [99]}}}}),
            json!({"healthchecks": {"active": {"healthy": {"http_statuses": ["value should be between 100 and 999"]}}}}),
        ),
        (json!({}), json!({"name": "required field missing"})),
    ];
    for (input, expected) in cases {
        let e = insert_err(Upstream, input.clone());
        assert_eq!(fields(&e), expected, "{input}");
    }
    let e = insert_err(
        Upstream,
        json!({"name": "a.test", "healthchecks": {"active": {"concurrency": 0}}}),
    );
    assert_eq!(
        e.message(),
        "schema violation (healthchecks.active: {\n  concurrency = \"value should be between 1 and 2147483648\"\n})"
    );
}

#[test]
fn hash_on_and_algorithm_stay_consistent() {
    let u = insert_ok(Upstream, json!({"name": "a.test", "hash_on": "ip"}));
    assert_eq!(u["algorithm"], json!("consistent-hashing"));
    let u = insert_ok(
        Upstream,
        json!({"name": "a.test", "algorithm": "least-connections"}),
    );
    assert_eq!(
        (&u["algorithm"], &u["hash_on"]),
        (&json!("least-connections"), &json!("none"))
    );
    assert!(insert(Upstream, json!({"name": "a.test", "slots": 65536})).is_ok());
}

#[test]
fn patch_merges_healthchecks() {
    let u = insert_ok(Upstream, json!({"name": "a.test"}));
    let u2 = update(
        Upstream,
        json!({"healthchecks": {"active": {"healthy": {"interval": 5}}}}),
        &u,
    )
    .unwrap();
    assert_eq!(
        u2["healthchecks"]["active"]["healthy"]["interval"],
        json!(5)
    );
    assert_eq!(
        u2["healthchecks"]["active"]["healthy"]["http_statuses"],
        json!([200, 302])
    );
    assert_eq!(u2["healthchecks"]["passive"], u["healthchecks"]["passive"]);
    // Arrays are replaced, not merged.
    let u3 = update(
        Upstream,
        json!({"healthchecks": {"active": {"healthy": {"http_statuses": [204]}}}}),
        &u2,
    )
    .unwrap();
    assert_eq!(
        u3["healthchecks"]["active"]["healthy"]["http_statuses"],
        json!([204])
    );
    assert_eq!(
        u3["healthchecks"]["active"]["healthy"]["interval"],
        json!(5)
    );
}

const UID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

#[test]
fn targets() {
    // #97, #98
    let t = insert_ok(
        Target,
        json!({"upstream": {"id": UID}, "target": "konghq.test"}),
    );
    assert_eq!(
        (&t["target"], &t["weight"]),
        (&json!("konghq.test:8000"), &json!(100))
    );
    assert!(t["created_at"].is_number());
    let cases = [
        ("konghq.test:80", "konghq.test:80"),
        ("1.2.3.4", "1.2.3.4:8000"),
        ("::1", "[0000:0000:0000:0000:0000:0000:0000:0001]:8000"),
        ("[::1]:81", "[0000:0000:0000:0000:0000:0000:0000:0001]:81"),
    ];
    for (input, expected) in cases {
        let t = insert_ok(Target, json!({"upstream": {"id": UID}, "target": input}));
        assert_eq!(t["target"], json!(expected), "{input}");
    }
    assert!(
        insert(
            Target,
            json!({"upstream": {"id": UID}, "target": "z.test:8080", "weight": 0})
        )
        .is_ok()
    );
    // #99
    let errors = [
        (
            json!({"upstream": {"id": UID}}),
            json!({"target": "required field missing"}),
        ),
        (
            json!({"upstream": {"id": UID}, "target": "some invalid host name"}),
            json!({"target": "Invalid target; not a valid hostname or ip address"}),
        ),
        (
            json!({"upstream": {"id": UID}, "target": "a.test", "weight": 65536}),
            json!({"weight": "value should be between 0 and 65535"}),
        ),
        (
            json!({"target": "a.test"}),
            json!({"upstream": "required field missing"}),
        ),
    ];
    for (input, expected) in errors {
        assert_eq!(
            fields(&insert_err(Target, input.clone())),
            expected,
            "{input}"
        );
    }
}

#[test]
fn target_timestamps_have_millisecond_precision() {
    let t = insert_ok(Target, json!({"upstream": {"id": UID}, "target": "a.test"}));
    let created = t["created_at"].as_f64().unwrap();
    assert!(created > 1.6e9 && (created * 1000.0).fract().abs() < 1e-3);
    let t2 = update(Target, json!({"weight": 659}), &t).unwrap();
    assert!(t2["updated_at"].as_f64().unwrap() >= created);
    assert_eq!(t2["weight"], json!(659));
}
