//! mtls-auth's schema (Kong Enterprise's `kong/plugins/mtls-auth/schema.lua`).

use serde_json::json;

use super::*;
use crate::model::EntityKind::Plugin;

const CA: &str = "322dce96-d434-4e0d-9038-311b3520f0a3";

#[test]
fn defaults() {
    let plugin = insert_ok(
        Plugin,
        json!({"name": "mtls-auth", "config": {"ca_certificates": [CA]}}),
    );
    assert_eq!(
        plugin["config"],
        json!({
            "anonymous": null,
            "consumer_by": ["username", "custom_id"],
            "ca_certificates": [CA],
            "cache_ttl": 60,
            "skip_consumer_lookup": false,
            "allow_partial_chain": false,
            "authenticated_group_by": "CN",
            "revocation_check_mode": "IGNORE_CA_ERROR",
            "http_timeout": 30000,
            "cert_cache_ttl": 60000,
            "send_ca_dn": false,
            "default_consumer": null,
            "http_proxy_host": null,
            "http_proxy_port": null,
            "https_proxy_host": null,
            "https_proxy_port": null,
            "ssl_verify": true,
            "san_dirname_matcher": [],
        })
    );
    assert_eq!(
        plugin["protocols"],
        json!(["grpc", "grpcs", "http", "https"])
    );
}

#[test]
fn rules() {
    let cases = [
        (
            json!({"config": {}}),
            "schema violation (config.ca_certificates: required field missing)",
        ),
        (
            json!({"config": {"ca_certificates": ["not-a-uuid"]}}),
            "schema violation (config.ca_certificates: {\n  \"expected a valid UUID\"\n})",
        ),
        (
            json!({"config": {"ca_certificates": [CA], "consumer_by": ["id"]}}),
            "schema violation (config.consumer_by: {\n  \"expected one of: username, custom_id\"\n})",
        ),
        (
            json!({"config": {"ca_certificates": [CA], "revocation_check_mode": "OCSP"}}),
            "schema violation (config.revocation_check_mode: expected one of: SKIP, IGNORE_CA_ERROR, STRICT)",
        ),
        (
            json!({"config": {"ca_certificates": [CA], "authenticated_group_by": "OU"}}),
            "schema violation (config.authenticated_group_by: expected one of: CN, DN)",
        ),
        (
            json!({"config": {"ca_certificates": [CA], "http_proxy_host": "proxy.test"}}),
            "schema violation (config.@entity: {\n  \"all or none of these fields must be set: 'http_proxy_host', 'http_proxy_port'\"\n})",
        ),
        (
            json!({"consumer": consumer_ref(), "config": {"ca_certificates": [CA]}}),
            "schema violation (consumer: value must be null)",
        ),
    ];
    for (input, expected) in cases {
        let mut input = input;
        input["name"] = json!("mtls-auth");
        let err = insert_err(Plugin, input.clone());
        assert_eq!(err.message(), expected, "{input}");
    }
}
