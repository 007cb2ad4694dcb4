//! The document format: metadata, nesting, references, ids, defaults, format upgrades.

use serde_json::json;

use super::super::ids::kong_uuid;
use super::*;
use crate::schema::entities::hash_basicauth_password;

#[test]
fn format_version_is_required_and_checked() {
    let missing = invalid("services: []\n");
    assert_eq!(
        missing.fields().to_json(),
        json!({"_format_version": "required field missing"})
    );
    let wrong = invalid("_format_version: \"4.0\"\n");
    assert_eq!(
        wrong.fields().to_json(),
        json!({"_format_version": "expected one of: 1.1, 2.1, 3.0"})
    );
    assert_eq!(
        wrong.message(),
        r#"declarative config is invalid: {_format_version="expected one of: 1.1, 2.1, 3.0"}"#
    );
    // Unquoted, YAML reads 1.1 as a number.
    let number = invalid("_format_version: 1.1\n");
    assert_eq!(
        number.fields().to_json(),
        json!({"_format_version": "expected a string"})
    );
    for version in ["1.1", "2.1", "3.0"] {
        let d = ok(&format!("_format_version: \"{version}\"\n"));
        assert_eq!(d.format_version, version);
        assert!(d.entities.is_empty() && d.config.is_empty());
    }
}

#[test]
fn metadata_fields() {
    let d = ok(r#"
_format_version: "3.0"
_transform: false
_comment: a comment
_ignore: [1, {a: b}]
_info: {select_tags: [x], defaults: {}}
"#);
    assert!(!d.transform);
    assert!(ok("_format_version: \"3.0\"\n").transform);
    let bad = invalid(
        "_format_version: \"3.0\"\n_transform: 1\n_comment: []\n_ignore: x\n_what: 1\nfoo: []\n",
    );
    assert_eq!(
        bad.fields().to_json(),
        json!({
            "_comment": "expected a string",
            "_ignore": "expected an array",
            "_transform": "expected a boolean",
            "_what": "unknown field",
            "foo": "unknown field",
        })
    );
}

#[test]
fn unsupported_kong_entity_types_are_refused_unless_empty() {
    ok("_format_version: \"3.0\"\nvaults: []\nworkspaces:\n");
    let bad = invalid("_format_version: \"3.0\"\nvaults:\n- name: env\n  prefix: x\n");
    assert_eq!(
        bad.fields().to_json(),
        json!({"vaults": "'vaults' entities are not supported by Portico"})
    );
}

#[test]
fn json_documents_are_accepted() {
    let d =
        ok(r#"{"_format_version": "3.0", "services": [{"name": "s", "url": "http://x:81/p"}]}"#);
    let service = find(&d, EntityKind::Service, "name", "s");
    assert_eq!(service["host"], "x");
    assert_eq!(service["port"], 81);
    assert_eq!(service["path"], "/p");
}

#[test]
fn entities_get_kongs_defaults_and_annotations_are_dropped() {
    let d = ok(r#"
_format_version: "3.0"
services:
- name: foo
  host: example.com
  _comment: my comment
  _ignore: [{foo: bar}]
  routes:
  - name: r
    paths: [/]
"#);
    let service = find(&d, EntityKind::Service, "name", "foo");
    assert!(!service.contains_key("_comment") && !service.contains_key("_ignore"));
    for (field, value) in [
        ("protocol", json!("http")),
        ("port", json!(80)),
        ("retries", json!(5)),
        ("connect_timeout", json!(60000)),
        ("enabled", json!(true)),
        ("path", json!(null)),
        ("tags", json!(null)),
    ] {
        assert_eq!(service[field], value, "{field}");
    }
    assert!(service["created_at"].is_i64());
    let route = find(&d, EntityKind::Route, "name", "r");
    for (field, value) in [
        ("protocols", json!(["http", "https"])),
        ("https_redirect_status_code", json!(426)),
        ("path_handling", json!("v0")),
        ("regex_priority", json!(0)),
        ("strip_path", json!(true)),
        ("preserve_host", json!(false)),
        ("request_buffering", json!(true)),
        ("response_buffering", json!(true)),
        ("service", json!({"id": id(service)})),
    ] {
        assert_eq!(route[field], value, "{field}");
    }
    // The typed configuration holds the same entities.
    assert_eq!(d.config.services.len(), 1);
    assert_eq!(
        d.config.routes[0].service.map(|s| s.id.to_string()),
        Some(id(service).to_string())
    );
}

#[test]
fn every_nesting_kong_allows() {
    let d = ok(&r#"
_format_version: "3.0"
certificates:
- cert: |
CERT
  key: |
KEY
  snis: [a.example.com, {name: b.example.com, tags: [t]}]
services:
- name: svc
  url: http://upstream1
  plugins:
  - name: cors
  routes:
  - name: r1
    paths: [/r1]
    plugins:
    - name: key-auth
consumers:
- username: alice
  plugins:
  - name: rate-limiting
    config: {second: 5}
  keyauth_credentials: [{key: k1}]
  basicauth_credentials: [{username: alice-basic, password: secret}]
  hmacauth_credentials: [{username: alice-hmac}]
  acls: [{group: admins}]
  jwt_secrets: [{key: jwt-key}]
upstreams:
- name: upstream1
  targets:
  - target: 10.0.0.1:8080
  - target: 10.0.0.2
"#
    .replace("CERT\n", &indent(CERT))
    .replace("KEY\n", &indent(KEY)));
    let cert = &of(&d, EntityKind::Certificate)[0];
    assert!(
        !cert.contains_key("snis"),
        "SNIs become entities of their own"
    );
    let snis = of(&d, EntityKind::Sni);
    assert_eq!(snis.len(), 2);
    for sni in &snis {
        assert_eq!(sni["certificate"], json!({"id": id(cert)}));
    }
    assert_eq!(snis[1]["tags"], json!(["t"]));
    let svc = find(&d, EntityKind::Service, "name", "svc");
    let route = find(&d, EntityKind::Route, "name", "r1");
    let alice = find(&d, EntityKind::Consumer, "username", "alice");
    let cors = find(&d, EntityKind::Plugin, "name", "cors");
    assert_eq!(cors["service"], json!({"id": id(svc)}));
    assert_eq!(cors["route"], json!(null));
    let key_auth = find(&d, EntityKind::Plugin, "name", "key-auth");
    assert_eq!(key_auth["route"], json!({"id": id(route)}));
    assert_eq!(key_auth["service"], json!(null));
    let limit = find(&d, EntityKind::Plugin, "name", "rate-limiting");
    assert_eq!(limit["consumer"], json!({"id": id(alice)}));
    for kind in [
        EntityKind::KeyAuthCredential,
        EntityKind::BasicAuthCredential,
        EntityKind::HmacAuthCredential,
        EntityKind::AclGroup,
        EntityKind::JwtSecret,
    ] {
        let list = of(&d, kind);
        assert_eq!(list.len(), 1, "{}", kind.name());
        assert_eq!(
            list[0]["consumer"],
            json!({"id": id(alice)}),
            "{}",
            kind.name()
        );
    }
    let basic = find(
        &d,
        EntityKind::BasicAuthCredential,
        "username",
        "alice-basic",
    );
    assert_eq!(
        basic["password"],
        hash_basicauth_password(id(alice), "secret")
    );
    let upstream = find(&d, EntityKind::Upstream, "name", "upstream1");
    let targets = of(&d, EntityKind::Target);
    assert_eq!(targets.len(), 2);
    assert_eq!(
        targets[1]["target"], "10.0.0.2:8000",
        "Kong's default target port"
    );
    assert!(
        targets
            .iter()
            .all(|t| t["upstream"] == json!({"id": id(upstream)}))
    );
    // The typed set is complete and consistent.
    assert_eq!(d.config.len(), d.entities.len());
    assert_eq!(d.entities.len(), 1 + 2 + 1 + 1 + 1 + 3 + 5 + 1 + 2);
}

#[test]
fn references_by_name_id_or_object() {
    let d = ok(r#"
_format_version: "3.0"
services:
- name: svc
  host: example.com
consumers:
- username: alice
routes:
- name: by-name
  service: svc
  paths: [/a]
- name: by-object
  service: {name: svc}
  paths: [/b]
plugins:
- name: rate-limiting
  route: by-name
  consumer: alice
  config: {second: 1}
"#);
    let svc_id = id(find(&d, EntityKind::Service, "name", "svc")).to_string();
    let d2 = ok(&format!(
        "_format_version: \"3.0\"\nservices: [{{name: svc, host: x, id: {svc_id}}}]\nroutes:\n- {{name: by-id, service: {svc_id}, paths: [/]}}\n- {{name: by-id-object, service: {{id: {svc_id}}}, paths: [/c]}}\n"
    ));
    for (doc, name) in [
        (&d, "by-name"),
        (&d, "by-object"),
        (&d2, "by-id"),
        (&d2, "by-id-object"),
    ] {
        assert_eq!(
            find(doc, EntityKind::Route, "name", name)["service"],
            json!({"id": svc_id}),
            "{name}"
        );
    }
    let plugin = find(&d, EntityKind::Plugin, "name", "rate-limiting");
    let route = find(&d, EntityKind::Route, "name", "by-name");
    let alice = find(&d, EntityKind::Consumer, "username", "alice");
    assert_eq!(plugin["route"], json!({"id": id(route)}));
    assert_eq!(plugin["consumer"], json!({"id": id(alice)}));
}

#[test]
fn ids_are_kongs_deterministic_ids() {
    let text = r#"
_format_version: "3.0"
services:
- name: svc
  host: example.com
  routes:
  - name: r1
    paths: [/]
  plugins:
  - name: cors
upstreams:
- name: up
  targets: [{target: "10.0.0.1:80"}]
consumers:
- username: alice
  basicauth_credentials: [{username: u, password: p}]
  acls: [{group: g}]
"#;
    let d = ok(text);
    let svc = find(&d, EntityKind::Service, "name", "svc");
    assert_eq!(id(svc), kong_uuid(EntityKind::Service, "svc").to_string());
    let route = find(&d, EntityKind::Route, "name", "r1");
    assert_eq!(id(route), kong_uuid(EntityKind::Route, "r1").to_string());
    let plugin = find(&d, EntityKind::Plugin, "name", "cors");
    assert_eq!(
        id(plugin),
        kong_uuid(EntityKind::Plugin, &format!("plugins:*:cors::{}:", id(svc))).to_string()
    );
    let upstream = find(&d, EntityKind::Upstream, "name", "up");
    let target = &of(&d, EntityKind::Target)[0];
    assert_eq!(
        id(target),
        kong_uuid(
            EntityKind::Target,
            &format!("targets:*:{}:10.0.0.1:80", id(upstream))
        )
        .to_string()
    );
    let alice = find(&d, EntityKind::Consumer, "username", "alice");
    assert_eq!(
        id(alice),
        kong_uuid(EntityKind::Consumer, "alice").to_string()
    );
    let acl = &of(&d, EntityKind::AclGroup)[0];
    assert_eq!(
        id(acl),
        kong_uuid(EntityKind::AclGroup, &format!("acls:*:{}:g", id(alice))).to_string()
    );
    let basic = &of(&d, EntityKind::BasicAuthCredential)[0];
    assert_eq!(
        id(basic),
        kong_uuid(EntityKind::BasicAuthCredential, "basicauth_credentials:*:u").to_string()
    );
    // Loading again gives the same ids (and the same entities, timestamps aside).
    assert_eq!(timeless(&ok(text).entities), timeless(&d.entities));
}

#[test]
fn entities_kong_has_no_key_for_get_stable_content_ids() {
    let text = format!(
        "_format_version: \"3.0\"\ncertificates:\n- cert: |\n{}  key: |\n{}consumers:\n- custom_id: c1\n  keyauth_credentials: [{{key: k}}, {{key: k2}}]\nservices:\n- host: unnamed.example.com\n",
        indent(CERT),
        indent(KEY)
    );
    let first = ok(&text);
    let second = ok(&text);
    assert_eq!(timeless(&first.entities), timeless(&second.entities));
    let keys = of(&first, EntityKind::KeyAuthCredential);
    assert_ne!(id(keys[0]), id(keys[1]));
}

#[test]
fn given_ids_are_kept() {
    let d = ok(r#"
_format_version: "3.0"
services:
- id: 0855b320-0dd2-547d-891d-601e9b38647f
  name: foo
  host: example.com
"#);
    assert_eq!(
        id(of(&d, EntityKind::Service)[0]),
        "0855b320-0dd2-547d-891d-601e9b38647f"
    );
}

#[test]
fn transform_false_stores_passwords_as_given() {
    let text = |transform: bool| {
        format!(
            "_format_version: \"3.0\"\n_transform: {transform}\nconsumers:\n- username: a\n  basicauth_credentials: [{{username: u, password: already-hashed}}]\n"
        )
    };
    let kept = ok(&text(false));
    assert_eq!(
        of(&kept, EntityKind::BasicAuthCredential)[0]["password"],
        "already-hashed"
    );
    let hashed = ok(&text(true));
    assert_ne!(
        of(&hashed, EntityKind::BasicAuthCredential)[0]["password"],
        "already-hashed"
    );
}

#[test]
fn format_1_1_regex_paths_are_upgraded() {
    let text = |version: &str| {
        format!(
            "_format_version: \"{version}\"\nservices:\n- name: foo\n  host: example.com\n  routes:\n  - name: nested\n    paths: [\"/regex.+\", \"/prefix\"]\nroutes:\n- name: top\n  service: foo\n  paths: [\"/v1/(?<x>\\\\d+)\"]\n"
        )
    };
    for version in ["1.1", "2.1"] {
        let d = ok(&text(version));
        assert_eq!(
            find(&d, EntityKind::Route, "name", "nested")["paths"],
            json!(["~/regex.+", "/prefix"])
        );
        assert_eq!(
            find(&d, EntityKind::Route, "name", "top")["paths"],
            json!(["~/v1/(?<x>\\d+)"])
        );
    }
    // 3.0 files are taken as written: without `~`, a path is a prefix.
    let d = ok(&text("3.0"));
    assert_eq!(
        find(&d, EntityKind::Route, "name", "nested")["paths"],
        json!(["/regex.+", "/prefix"])
    );
}

#[test]
fn yaml_anchors_work() {
    // Kong issue #7620: plugins shared through anchors are declared once per service.
    let d = ok(r#"
_format_version: "1.1"
services:
- name: service1
  url: http://example.com
  plugins:
  - &correlation
    name: correlation-id
    config: {header_name: X-Request-Id, generator: uuid, echo_downstream: true}
  - &limit
    name: rate-limiting
    config: {second: 5, policy: local}
- name: service2
  url: http://example.com
  plugins: [*correlation, *limit]
"#);
    assert_eq!(of(&d, EntityKind::Plugin).len(), 4);
}

pub(super) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// A self-signed certificate and its key (the test pair of the schema tests).
pub(super) const CERT: &str = include_str!("../../schema/tests/fixtures/rsa-cert.pem");
pub(super) const KEY: &str = include_str!("../../schema/tests/fixtures/rsa-key.pem");

#[test]
fn kong_db_export_files_load() {
    // The flat shape `kong config db_export` writes: top-level references as ids, explicit
    // nulls, timestamps, `_transform: false`, Kong's node `parameters`.
    let d = ok(r#"
_format_version: "2.1"
_transform: false
parameters:
- created_at: ~
  key: cluster_id
  value: 36ad7d46-b95c-44f6-a79e-edb1f33baaf7
upstreams:
- name: upstreama
  algorithm: round-robin
  hash_on: none
  hash_on_header: ~
  created_at: 1618602527
  slots: 10000
  tags: ~
  id: ab0060c9-7830-415a-9a84-d2d5dd76a04c
targets:
- upstream: ab0060c9-7830-415a-9a84-d2d5dd76a04c
  target: 127.0.0.1:6664
  created_at: 1618602543.967
  weight: 50
  tags: ~
  id: d72fa60a-31d3-436a-a4cb-a35444618a7a
"#);
    let upstream = &of(&d, EntityKind::Upstream)[0];
    assert_eq!(
        upstream["created_at"], 1618602527,
        "given creation times are kept"
    );
    let target = &of(&d, EntityKind::Target)[0];
    assert_eq!(
        target["upstream"],
        json!({"id": "ab0060c9-7830-415a-9a84-d2d5dd76a04c"})
    );
    assert_eq!(target["weight"], 50);
}
