//! Export: nesting, references, omitted fields, order, and export -> import = no change.

use serde_json::json;

use super::super::{render, render_value};
use super::parse::{CERT, KEY, indent};
use super::*;

fn sample() -> Declarative {
    ok(&format!(
        r#"
_format_version: "3.0"
certificates:
- cert: |
{}  key: |
{}  snis: [b.example.com, a.example.com]
services:
- name: svc
  url: http://upstream1
  plugins: [{{name: cors}}]
  routes:
  - name: r1
    paths: [/r1]
    plugins: [{{name: key-auth}}]
routes:
- name: orphan
  paths: [/orphan]
consumers:
- username: alice
  basicauth_credentials: [{{username: u, password: secret}}]
  keyauth_credentials: [{{key: k1}}]
plugins:
- name: rate-limiting
  service: svc
  consumer: alice
  config: {{second: 5}}
- name: prometheus
upstreams:
- name: upstream1
  targets: [{{target: "10.0.0.1:80"}}]
"#,
        indent(CERT),
        indent(KEY)
    ))
}

#[test]
fn entities_are_nested_as_deck_nests_them() {
    let d = sample();
    let doc = render_value(&d.entities);
    assert_eq!(doc["_format_version"], "3.0");
    assert_eq!(doc["_transform"], false);
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "_format_version",
            "_transform",
            "certificates",
            "consumers",
            "plugins",
            "routes",
            "services",
            "upstreams"
        ]
    );
    let svc = &doc["services"][0];
    assert_eq!(svc["name"], "svc");
    assert_eq!(svc["plugins"][0]["name"], "cors");
    assert!(svc["plugins"][0].get("service").is_none());
    assert_eq!(svc["routes"][0]["name"], "r1");
    assert!(svc["routes"][0].get("service").is_none());
    assert_eq!(svc["routes"][0]["plugins"][0]["name"], "key-auth");
    // A route without a service, and plugins with zero or two scopes, stay at the top.
    assert_eq!(doc["routes"][0]["name"], "orphan");
    let svc_id = id(find(&d, EntityKind::Service, "name", "svc"));
    let alice_id = id(find(&d, EntityKind::Consumer, "username", "alice"));
    let top_plugins = doc["plugins"].as_array().unwrap();
    assert_eq!(top_plugins.len(), 2);
    let limit = top_plugins
        .iter()
        .find(|p| p["name"] == "rate-limiting")
        .unwrap();
    assert_eq!(
        limit["service"], svc_id,
        "references at the top level are ids"
    );
    assert_eq!(limit["consumer"], alice_id);
    let alice = &doc["consumers"][0];
    assert_eq!(alice["basicauth_credentials"][0]["username"], "u");
    assert_eq!(alice["keyauth_credentials"][0]["key"], "k1");
    assert_eq!(doc["upstreams"][0]["targets"][0]["target"], "10.0.0.1:80");
    let snis: Vec<&str> = doc["certificates"][0]["snis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(snis.len(), 2);
    // Ids kept, timestamps and nulls dropped.
    assert_eq!(svc["id"], svc_id);
    assert!(svc.get("created_at").is_none() && svc.get("updated_at").is_none());
    assert!(svc.get("path").is_none() && svc.get("tags").is_none());
    assert!(
        svc["routes"][0]["plugins"][0]["config"]
            .get("anonymous")
            .is_none()
    );
}

#[test]
fn export_then_import_changes_nothing() {
    let d = sample();
    let text = render(&d.entities);
    let again = ok(&text);
    assert_eq!(timeless(&again.entities), timeless(&d.entities));
    // And exporting the re-imported entities gives the same file.
    assert_eq!(render(&again.entities), text);
}

#[test]
fn rendering_does_not_depend_on_input_order() {
    let d = sample();
    let mut reversed = d.entities.clone();
    reversed.reverse();
    assert_eq!(render(&reversed), render(&d.entities));
}

#[test]
fn lists_follow_creation_time_then_key() {
    let d = ok(
        "_format_version: \"3.0\"\nroutes:\n- {name: b, paths: [/b]}\n- {name: a, paths: [/a]}\n- {name: c, paths: [/c]}\n",
    );
    let mut entities = d.entities.clone();
    for (_, e) in &mut entities {
        let t = match e["name"].as_str().unwrap() {
            "c" => 100,
            _ => 200,
        };
        e.insert("created_at".into(), json!(t));
    }
    let doc = render_value(&entities);
    let names: Vec<&str> = doc["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "a", "b"]);
}

#[test]
fn a_null_that_import_would_default_is_kept() {
    // A stored `hash_on_cookie_path: null` would come back as "/" if omitted.
    let d = ok("_format_version: \"3.0\"\nupstreams:\n- name: u\n");
    let mut entities = d.entities.clone();
    entities[0]
        .1
        .insert("hash_on_cookie_path".into(), json!(null));
    let doc = render_value(&entities);
    let upstream = doc["upstreams"][0].as_object().unwrap();
    assert_eq!(upstream.get("hash_on_cookie_path"), Some(&json!(null)));
    assert!(upstream.get("client_certificate").is_none());
}

#[test]
fn an_empty_configuration_renders_metadata_only() {
    assert_eq!(
        render_value(&[]),
        json!({"_format_version": "3.0", "_transform": false})
    );
    assert_eq!(render(&[]), "_format_version: '3.0'\n_transform: false\n");
    assert!(ok(&render(&[])).entities.is_empty());
}

/// Kong Enterprise's mtls-auth subject-name mappings: nested under their consumer (decK's
/// shape), `ca_certificate` by id; exported nested again, and re-importing changes nothing.
#[test]
fn mtls_auth_credentials_nest_under_consumers() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = params.self_signed(&key).unwrap().pem();
    let ca_id = "2f0a8f5e-6b41-4c8e-9d43-1c7f4a3b9e10";
    let d = ok(&format!(
        r#"
_format_version: "3.0"
ca_certificates:
- id: {ca_id}
  cert: |
{}consumers:
- username: alice
  mtls_auth_credentials:
  - id: bda09448-3b10-4da7-a83b-2a8ba6021f0c
    subject_name: alice@example.com
    ca_certificate: {ca_id}
  - subject_name: alice.example.com
"#,
        indent(&ca_pem)
    ));
    let alice = id(find(&d, EntityKind::Consumer, "username", "alice")).to_string();
    let mapped = find(
        &d,
        EntityKind::MtlsAuthCredential,
        "subject_name",
        "alice@example.com",
    );
    assert_eq!(id(mapped), "bda09448-3b10-4da7-a83b-2a8ba6021f0c");
    assert_eq!(mapped["consumer"], json!({ "id": alice }));
    assert_eq!(mapped["ca_certificate"], json!({ "id": ca_id }));
    let any_ca = find(
        &d,
        EntityKind::MtlsAuthCredential,
        "subject_name",
        "alice.example.com",
    );
    assert_eq!(any_ca["ca_certificate"], json!(null));
    // No id given: Kong's cache-key id (subject name, no CA).
    assert_eq!(
        id(any_ca),
        super::super::ids::kong_uuid(
            EntityKind::MtlsAuthCredential,
            "mtls_auth_credentials:*:alice.example.com:"
        )
        .to_string()
    );

    let doc = render_value(&d.entities);
    let nested = doc["consumers"][0]["mtls_auth_credentials"]
        .as_array()
        .unwrap();
    assert_eq!(nested.len(), 2);
    assert!(nested.iter().all(|c| c.get("consumer").is_none()));
    let with_ca = nested
        .iter()
        .find(|c| c["subject_name"] == "alice@example.com")
        .unwrap();
    assert_eq!(with_ca["ca_certificate"], ca_id);
    assert!(doc.get("mtls_auth_credentials").is_none());

    let text = render(&d.entities);
    let again = ok(&text);
    assert_eq!(timeless(&again.entities), timeless(&d.entities));
}
