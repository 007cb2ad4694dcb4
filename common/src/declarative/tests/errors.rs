//! Kong's error shapes for invalid declarative configurations (#135-#137, #140, and the
//! declarative schema's own unit cases).

use serde_json::json;

use super::*;

#[test]
fn not_an_object_135() {
    let e = invalid("bobby tables");
    assert_eq!(
        e.to_json(),
        json!({
            "code": 14,
            "name": "invalid declarative configuration",
            "fields": {"error": "failed parsing declarative configuration: expected an object"},
            "message": "declarative config is invalid: {error=\"failed parsing declarative configuration: expected an object\"}",
        })
    );
    let syntax = invalid("services: [");
    let message = syntax.fields().to_json()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("failed parsing declarative configuration: "),
        "{message}"
    );
}

#[test]
fn schema_errors_are_positional_136() {
    let e = invalid("_format_version: \"1.1\"\nservices:\n- port: -12\n");
    assert_eq!(
        e.to_json(),
        json!({
            "code": 14,
            "name": "invalid declarative configuration",
            "fields": {"services": [{
                "host": "required field missing",
                "port": "value should be between 0 and 65535",
            }]},
            "message": "declarative config is invalid: {services={{host=\"required field missing\",port=\"value should be between 0 and 65535\"}}}",
        })
    );
    // Every invalid entity is reported, valid ones are null, nested ones under their parent.
    let e = invalid(
        r#"
_format_version: "3.0"
services:
- name: ok
  host: example.com
- name: bad
  host: example.com
  retries: -1
  routes:
  - name: fine
    paths: [/]
  - name: broken
    paths: [nope]
upstreams:
- name: u
  targets: [{target: "10.0.0.1:80", weight: 70000}]
"#,
    );
    let fields = e.fields().to_json();
    assert_eq!(fields["services"][0], json!(null));
    assert_eq!(
        fields["services"][1]["retries"],
        "value should be between 0 and 32767"
    );
    assert_eq!(fields["services"][1]["routes"][0], json!(null));
    assert!(fields["services"][1]["routes"][1]["paths"].is_array());
    assert_eq!(
        fields["upstreams"][0]["targets"][0]["weight"],
        "value should be between 0 and 65535"
    );
    assert_eq!(e.entities().len(), 3);
}

/// The YAML of Kong's uniqueness tests (AA/15-off:682, :739).
fn two_services(first: &str, second: &str) -> String {
    format!(
        r#"
_format_version: "1.1"
services:
- {first}
  host: example.com
  protocol: https
  routes:
  - name: foo
    methods: ["GET"]
    plugins:
      - name: key-auth
      - name: http-log
        config:
          http_endpoint: https://example.com
- {second}
  host: example.test
  port: 3000
  routes:
  - name: bar
    paths:
    - /
    plugins:
    - name: basic-auth
    - name: correlation-id
"#
    )
}

#[test]
fn duplicate_primary_key_137() {
    let id = "0855b320-0dd2-547d-891d-601e9b38647f";
    let text = two_services(
        &format!("id: {id}\n  name: foo"),
        &format!("id: {id}\n  name: bar"),
    );
    let message = format!(
        "uniqueness violation: 'services' entity with primary key set to '{id}' already declared"
    );
    assert_eq!(
        invalid(&text).to_json(),
        json!({
            "code": 14,
            "name": "invalid declarative configuration",
            "fields": {"services": [null, message]},
            "message": format!("declarative config is invalid: {{services={{[2]=\"{message}\"}}}}"),
        })
    );
}

#[test]
fn duplicate_name_137() {
    let text = two_services("name: foo", "name: foo");
    let message = "uniqueness violation: 'services' entity with name set to 'foo' already declared";
    let e = invalid(&text);
    assert_eq!(e.fields().to_json(), json!({"services": [null, message]}));
    assert_eq!(
        e.message(),
        format!("declarative config is invalid: {{services={{[2]=\"{message}\"}}}}")
    );
    // Nested duplicates sit at their own position.
    let e = invalid(
        "_format_version: \"3.0\"\nupstreams:\n- name: u\n  targets:\n  - target: 10.0.0.1:80\n  - target: 10.0.0.1:80\n",
    );
    let fields = e.fields().to_json();
    assert_eq!(fields["upstreams"][0]["targets"][0], json!(null));
    assert!(
        fields["upstreams"][0]["targets"][1]
            .as_str()
            .unwrap()
            .starts_with("uniqueness violation: 'targets' entity with primary key set to '")
    );
}

#[test]
fn duplicate_unique_field_137() {
    let e = invalid(
        "_format_version: \"1.1\"\nconsumers:\n- username: foo\n  custom_id: conflict\n- username: bar\n  custom_id: conflict\n",
    );
    let message = "uniqueness violation: 'consumers' entity with custom_id set to 'conflict' already declared";
    assert_eq!(
        e.to_json(),
        json!({
            "code": 14,
            "name": "invalid declarative configuration",
            "fields": {"consumers": {"bar": message}},
            "message": format!("declarative config is invalid: {{consumers={{bar=\"{message}\"}}}}"),
        })
    );
}

#[test]
fn duplicate_plugin_scope_with_distinct_ids() {
    let e = invalid(
        r#"
_format_version: "3.0"
plugins:
- id: 7d6b2f57-3fd7-4d0c-9d4b-6fd3a4b4a1a1
  name: cors
- id: 7d6b2f57-3fd7-4d0c-9d4b-6fd3a4b4a1a2
  name: cors
"#,
    );
    assert_eq!(
        e.fields().to_json(),
        json!({"plugins": {"7d6b2f57-3fd7-4d0c-9d4b-6fd3a4b4a1a2":
            "uniqueness violation: 'plugins' entity with name, route, service, consumer set to 'cors, null, null, null' already declared"}})
    );
}

#[test]
fn broken_references() {
    let e = invalid(
        r#"
_format_version: "3.0"
routes:
- name: r1
  service: nope
  paths: [/]
plugins:
- name: http-log
  id: 2f0c9f0e-5f5e-4c44-9a52-3a8a7d8b9c01
  service: svc1
  consumer: my-consumer
  config:
    http_endpoint: https://example.com
"#,
    );
    assert_eq!(
        e.fields().to_json(),
        json!({
            "routes": {"r1": ["invalid reference 'service: nope' (no such entry in 'services')"]},
            "plugins": {"2f0c9f0e-5f5e-4c44-9a52-3a8a7d8b9c01": [
                "invalid reference 'service: svc1' (no such entry in 'services')",
                "invalid reference 'consumer: my-consumer' (no such entry in 'consumers')",
            ]},
        })
    );
    // Kong issue #7696: a nested route naming another (missing) service by id.
    let e = invalid(
        r#"
_format_version: "2.1"
services:
- name: my-service-1
  url: http://localhost:8001/status
  routes:
  - name: my-route-1
    service:
      id: "769bdf51-16df-5476-9830-ef26800b5448"
    paths:
    - /status
"#,
    );
    assert_eq!(
        e.fields().to_json(),
        json!({"routes": {"my-route-1": ["invalid reference 'service: {\"id\":\"769bdf51-16df-5476-9830-ef26800b5448\"}' (no such entry in 'services')"]}})
    );
    // CA certificates a service trusts must be declared.
    let e = invalid(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: https://x\n  ca_certificates: [4e3ad2e4-0bc4-4638-8e34-c84a417ba39b]\n",
    );
    assert_eq!(
        e.fields().to_json(),
        json!({"services": {"s": ["invalid reference 'ca_certificates: 4e3ad2e4-0bc4-4638-8e34-c84a417ba39b' (no such entry in 'ca_certificates')"]}})
    );
}

#[test]
fn nested_entities_may_not_name_a_missing_entity() {
    let e = invalid(
        "_format_version: \"1.1\"\nservices:\n- name: foo\n  url: https://example.com\n  plugins:\n  - name: rate-limiting\n    config: {second: 1}\n    consumer: foo\n",
    );
    assert_eq!(
        e.fields().to_json(),
        json!({"services": [{"plugins": [{"consumer": "value must be null"}]}]})
    );
    // Naming an existing entity is accepted; the parent wins for the parent's field.
    let d = ok(
        "_format_version: \"1.1\"\nconsumers:\n- username: bob\nservices:\n- name: foo\n  url: https://example.com\n  plugins:\n  - name: rate-limiting\n    config: {second: 1}\n    consumer: bob\n",
    );
    let plugin = &of(&d, EntityKind::Plugin)[0];
    let bob = find(&d, EntityKind::Consumer, "username", "bob");
    assert_eq!(plugin["consumer"], json!({"id": id(bob)}));
}

#[test]
fn unknown_plugins_and_fields() {
    let e = invalid(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  host: x\n  plugins:\n  - name: i-do-not-exist\n  - name: cors\n    config: {a: 1}\n",
    );
    assert_eq!(
        e.fields().to_json(),
        json!({"services": [{"plugins": [
            {"name": "plugin 'i-do-not-exist' not enabled; add it to the 'plugins' configuration property"},
            {"config": {"a": "unknown field"}},
        ]}]})
    );
}

#[test]
fn flattened_errors_140() {
    let e = invalid(
        r#"
_format_version: "3.0"
upstreams:
- name: bad
  tags: [upstream-01]
  hash_on: ip
  healthchecks:
    active:
      type: http
      http_path: /
      https_verify_certificate: true
      https_sni: example.com
      timeout: 1
      concurrency: -1
      healthy: {interval: 0, successes: 0}
      unhealthy: {interval: 0, http_failures: 0}
  host_header: 123
"#,
    );
    let body = e.to_json_flattened();
    assert_eq!(body["code"], 14);
    assert_eq!(body["fields"], json!({}));
    assert_eq!(body["message"], "declarative config is invalid: {}");
    let entry = &body["flattened_errors"][0];
    assert_eq!(entry["entity_type"], "upstream");
    assert_eq!(entry["entity_name"], "bad");
    assert_eq!(entry["entity_tags"], json!(["upstream-01"]));
    assert_eq!(entry["entity"]["host_header"], 123);
    assert!(entry.get("entity_id").is_none());
    assert_eq!(
        entry["errors"],
        json!([
            {"field": "healthchecks.active.concurrency", "message": "value should be between 1 and 2147483648", "type": "field"},
            {"field": "host_header", "message": "expected a string", "type": "field"},
        ])
    );
}

#[test]
fn flattened_errors_of_nested_entities_140() {
    let service_id = "cb019421-62c2-47a8-b714-d7567b114037";
    let e = invalid(&format!(
        r#"
_format_version: "3.0"
services:
- id: {service_id}
  name: test
  host: localhost
  port: 1234
  protocol: nope
  tags: [service-01]
  routes:
  - super_duper_invalid: true
    paths: [/]
    tags: [route-01]
consumers:
- id: cdac30ee-cd7e-465c-99b6-84f3e4e17015
  username: consumer-01
  basicauth_credentials:
  - {{id: 089091f4-cb8b-48f5-8463-8319097be716, username: user-01, password: pwd}}
"#
    ));
    let body = e.to_json_flattened();
    let entries = body["flattened_errors"].as_array().unwrap();
    let service = entries
        .iter()
        .find(|e| e["entity_type"] == "service")
        .unwrap();
    assert_eq!(service["entity_id"], service_id);
    assert_eq!(service["entity"]["id"], service_id);
    assert_eq!(service["entity_name"], "test");
    assert!(
        service["entity"].get("routes").is_none(),
        "nested lists are hoisted"
    );
    let route = entries
        .iter()
        .find(|e| e["entity_type"] == "route")
        .unwrap();
    assert_eq!(route["entity"]["service"], json!({"id": service_id}));
    assert_eq!(
        route["errors"],
        json!([{"field": "super_duper_invalid", "message": "unknown field", "type": "field"}])
    );
    assert_eq!(entries.len(), 2);
}

#[test]
fn flattened_uniqueness_errors_are_entity_errors() {
    let e = invalid(
        r#"
_format_version: "3.0"
consumers:
- username: consumer-01
  basicauth_credentials:
  - {username: user-01, password: pwd, tags: [c1]}
- username: consumer-03
  basicauth_credentials:
  - {username: user-01, password: pwd, tags: [c3]}
"#,
    );
    let body = e.to_json_flattened();
    assert_eq!(
        body["flattened_errors"],
        json!([{
            "entity_type": "basicauth_credential",
            "entity_tags": ["c3"],
            "entity": {"username": "user-01", "password": "pwd", "tags": ["c3"]},
            "errors": [{"type": "entity", "message": "uniqueness violation: 'basicauth_credentials' entity with username set to 'user-01' already declared"}],
        }])
    );
}

#[test]
fn report_lists_every_error_entity_by_entity() {
    let e = invalid(
        r#"
_format_version: "3.0"
services:
- name: svc1
  port: -1
  routes:
  - name: r1
    paths: [nope]
consumers: 7
"#,
    );
    let report = e.report();
    assert!(
        report.starts_with("declarative config is invalid: 4 errors"),
        "{report}"
    );
    assert!(
        report.contains("\n  consumers: expected an array"),
        "{report}"
    );
    assert!(report.contains("\n  services[1] (service 'svc1'):\n    host: required field missing\n    port: value should be between 0 and 65535"), "{report}");
    assert!(
        report.contains("\n  services[1].routes[1] (route 'r1'):\n    paths.1: "),
        "{report}"
    );
}
