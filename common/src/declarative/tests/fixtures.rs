//! The reference files (`fixtures/SOURCES.md`): real files from Kong, decK and the Kong
//! Ingress Controller.

use serde_json::{Value, json};

use super::super::{load_file, render};
use super::*;

const DECK_INPUT: &str = include_str!("fixtures/deck-dump-001-entities-with-tags.kong.yaml");
const DECK_EXPECTED: &str =
    include_str!("fixtures/deck-dump-001-entities-with-tags.expected310.yaml");
const KIC_HTTPROUTE: &str = include_str!("fixtures/kic-golden-httproute-example.yaml");
const KIC_REGEX: &str = include_str!("fixtures/kic-golden-ingress-v1-regex-prefixed-path.yaml");
const INIT_TEMPLATE: &str = include_str!("fixtures/kong-config-init-template.kong.yml");
const BURST: &str = include_str!("fixtures/kong-spec-fixtures-burst.yml");

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// decK leaves out the ids Kong generated; Portico's export keeps every id. Drops from
/// `ours` the `id` of each object whose counterpart in `expected` has none.
fn drop_ids_deck_omits(ours: &mut Value, expected: &Value) {
    match (ours, expected) {
        (Value::Object(ours), Value::Object(expected)) => {
            if !expected.contains_key("id") {
                ours.remove("id");
            }
            for (key, value) in ours.iter_mut() {
                if let Some(e) = expected.get(key) {
                    drop_ids_deck_omits(value, e);
                }
            }
        }
        (Value::Array(ours), Value::Array(expected)) => {
            for (o, e) in ours.iter_mut().zip(expected) {
                drop_ids_deck_omits(o, e);
            }
        }
        _ => {}
    }
}

#[test]
fn deck_dump_round_trip_gives_kong_3_10_defaults() {
    let imported = ok(DECK_INPUT);
    let mut exported = yaml(&render(&imported.entities));
    let mut expected = yaml(DECK_EXPECTED);
    expected.as_object_mut().unwrap().remove("_info");
    assert_eq!(exported["_transform"], false);
    exported.as_object_mut().unwrap().remove("_transform");
    drop_ids_deck_omits(&mut exported, &expected);
    // The whole document: a missing, extra or wrong default fails here.
    if exported != expected {
        panic!(
            "export differs from decK's Kong 3.10 dump:\n--- ours\n{}\n--- expected\n{}",
            serde_yaml_ng::to_string(&exported).unwrap(),
            serde_yaml_ng::to_string(&expected).unwrap()
        );
    }
}

#[test]
fn deck_dump_export_then_import_is_a_no_op() {
    let imported = ok(DECK_INPUT);
    let text = render(&imported.entities);
    let again = ok(&text);
    assert_eq!(timeless(&again.entities), timeless(&imported.entities));
    assert_eq!(render(&again.entities), text);
    // The certificate's given id, and Kong's name-based ids, survive.
    let cert = &of(&again, EntityKind::Certificate)[0];
    assert_eq!(id(cert), "13c562a1-191c-4464-9b18-e5222b46035b");
    assert_eq!(of(&again, EntityKind::Sni).len(), 3);
    assert_eq!(again.entities.len(), imported.entities.len());
}

#[test]
fn deck_dump_loads_every_entity() {
    let d = ok(DECK_INPUT);
    let count = |kind| of(&d, kind).len();
    assert_eq!(count(EntityKind::Certificate), 1);
    assert_eq!(count(EntityKind::Sni), 3);
    assert_eq!(count(EntityKind::Consumer), 1);
    assert_eq!(count(EntityKind::AclGroup), 1);
    assert_eq!(count(EntityKind::HmacAuthCredential), 1);
    assert_eq!(count(EntityKind::JwtSecret), 1);
    assert_eq!(count(EntityKind::KeyAuthCredential), 1);
    assert_eq!(count(EntityKind::Plugin), 1);
    assert_eq!(count(EntityKind::Service), 3);
    assert_eq!(count(EntityKind::Route), 3);
    assert_eq!(count(EntityKind::Upstream), 1);
    assert_eq!(count(EntityKind::Target), 3);
    let r3 = find(&d, EntityKind::Route, "name", "r3");
    assert_eq!(r3["methods"], json!(["GET"]));
    assert_eq!(r3["https_redirect_status_code"], 301);
}

#[test]
fn kic_goldens_load_with_their_ids() {
    let d = ok(KIC_HTTPROUTE);
    assert_eq!(of(&d, EntityKind::Service).len(), 3);
    assert_eq!(of(&d, EntityKind::Route).len(), 3);
    assert_eq!(of(&d, EntityKind::Upstream).len(), 3);
    let route = find(
        &d,
        EntityKind::Route,
        "name",
        "httproute.default.httproute-testing.1.0",
    );
    assert_eq!(id(route), "4deff45c-4095-55d2-80ab-aea40c0ac7bd");
    assert_eq!(
        route["paths"],
        json!(["~/echo$", "/echo/", "~/content$", "/content/"])
    );
    assert_eq!(
        route["service"],
        json!({"id": "672dc964-a7f8-5a80-a518-96fc39500cc8"})
    );
    assert_eq!(route["preserve_host"], true);

    let d = ok(KIC_REGEX);
    let route = &of(&d, EntityKind::Route)[0];
    assert_eq!(route["paths"], json!(["~/foo/\\d{3}"]));
    assert_eq!(route["hosts"], json!(["example.com"]));
    assert_eq!(d.config.routes.len(), 1);
    assert_eq!(d.config.upstreams.len(), 1);
}

#[test]
fn kong_config_init_template_is_an_empty_configuration() {
    let d = ok(INIT_TEMPLATE);
    assert_eq!(d.format_version, "3.0");
    assert!(d.transform);
    assert!(d.entities.is_empty());
    assert!(d.config.is_empty());
}

#[test]
fn burst_fixture_loads() {
    // AA/15-off:960 (#141): Kong accepts spec/fixtures/burst.yml (format 1.1).
    let d = ok(BURST);
    assert_eq!(d.format_version, "1.1");
    let count = |kind| of(&d, kind).len();
    assert_eq!(count(EntityKind::Service), 236);
    assert_eq!(count(EntityKind::Route), 286);
    assert_eq!(count(EntityKind::Upstream), 236);
    assert_eq!(count(EntityKind::Target), d.config.targets.len());
    assert!(count(EntityKind::Target) >= 236);
    assert_eq!(count(EntityKind::Plugin), 95);
    let prometheus = find(&d, EntityKind::Plugin, "name", "prometheus");
    assert_eq!(prometheus["service"], json!(null));
    assert_eq!(d.config.len(), d.entities.len());
    // And it survives an export/import round trip unchanged.
    let again = ok(&render(&d.entities));
    assert_eq!(timeless(&again.entities), timeless(&d.entities));
}

#[test]
fn load_file_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("portico-decl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kong.yml");
    std::fs::write(&path, KIC_REGEX).unwrap();
    let config = load_file(&path).unwrap();
    assert_eq!(config.services.len(), 1);
    let missing = load_file(dir.join("missing.yml")).unwrap_err();
    assert!(matches!(missing, DeclarativeError::Read { .. }));
    assert!(missing.to_string().contains("missing.yml"));
    std::fs::write(&path, "_format_version: \"9\"\n").unwrap();
    let bad = load_file(&path).unwrap_err();
    assert!(bad.invalid().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
