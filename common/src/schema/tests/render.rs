use serde_json::{Value, json};

use super::*;
use crate::model::EntityKind;

fn field<'a>(rendered: &'a Value, name: &str) -> &'a Value {
    rendered["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f.get(name))
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn entity_schemas_render_like_kong() {
    // #8
    for kind in EntityKind::ALL {
        let r = catalog().render_entity_schema(kind);
        assert!(r["fields"].is_array(), "{}", kind.name());
        assert!(r["entity_checks"].is_array(), "{}", kind.name());
    }
    let routes = catalog().render_entity_schema(EntityKind::Route);
    assert_eq!(
        field(&routes, "service"),
        &json!({"type": "foreign", "reference": "services"})
    );
    assert_eq!(
        field(&routes, "protocols")["default"],
        json!(["http", "https"])
    );
    assert_eq!(
        field(&routes, "paths")["elements"]["match_none"],
        json!([{"pattern": "//", "err": "must not have empty segments"}])
    );
    let services = catalog().render_entity_schema(EntityKind::Service);
    assert_eq!(
        field(&services, "port"),
        &json!({"type": "integer", "required": true, "default": 80, "between": [0, 65535]})
    );
    assert_eq!(field(&services, "tls_verify_depth")["default"], json!(null));
    assert_eq!(
        services["entity_checks"][0],
        json!({"conditional": {"if_field": "protocol",
            "if_match": {"one_of": ["tcp", "tls", "udp", "grpc", "grpcs"]},
            "then_field": "path", "then_match": {"eq": null}}})
    );
    let upstreams = catalog().render_entity_schema(EntityKind::Upstream);
    assert_eq!(field(&upstreams, "healthchecks")["required"], json!(true));
}

#[test]
fn plugin_schemas_render_like_kong() {
    // #9
    let key_auth = catalog().render_plugin_schema("key-auth").unwrap();
    assert_eq!(key_auth["entity_checks"], json!([]));
    let config = field(&key_auth, "config");
    assert_eq!(config["required"], json!(true));
    let key_names = config["fields"][0]["key_names"].clone();
    assert_eq!(key_names["default"], json!(["apikey"]));
    assert_eq!(
        field(&key_auth, "consumer"),
        &json!({"type": "foreign", "reference": "consumers", "eq": null})
    );
    assert!(catalog().render_plugin_schema("foobar").is_none());
    let rl = catalog().render_plugin_schema("rate-limiting").unwrap();
    assert_eq!(rl["entity_checks"].as_array().unwrap().len(), 6);
}
