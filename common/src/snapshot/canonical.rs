//! The canonical JSON encoding of a [`ConfigSet`]: the bytes that are hashed and shipped.
//!
//! Canonical means: the same configuration content always yields the same bytes, whatever
//! order the store returned the rows in and whatever order a plugin's `config` object was
//! written in. Concretely, for payload [`FORMAT`](super::FORMAT) 1:
//! - the top level is an object whose keys (the entity kinds) are sorted by byte order;
//! - every entity list is sorted by `id` (UUID byte order, which is also the order of the
//!   lowercase hyphenated text);
//! - an entity's fields appear in the order the model declares them (fixed for a format);
//! - every free-form JSON object (a plugin's `config`), at any depth, has its keys sorted by
//!   byte order, and every map field (`headers`, ...) is a `BTreeMap`, so sorted too;
//! - no insignificant whitespace; numbers and strings as `serde_json` writes them.
//!
//! Entities are serialised directly, never through an intermediate `serde_json::Value`: that
//! detour costs several times more than the encoding itself on large configurations.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::ConfigSet;
use crate::model::{
    AclGroup, BasicAuthCredential, CaCertificate, Certificate, Consumer, HmacAuthCredential,
    JwtSecret, KeyAuthCredential, MtlsAuthCredential, Plugin, Route, Service, Sni, Target,
    Upstream,
};

/// Encodes `config` canonically. The input's list order does not matter.
pub fn canonical_json(config: &ConfigSet) -> Result<Vec<u8>, serde_json::Error> {
    // Plugins are the only entities with free-form JSON; sort a copy of their objects' keys.
    let mut plugins = config.plugins.clone();
    for plugin in &mut plugins {
        sort_keys(&mut plugin.config);
    }
    let mut out = Vec::with_capacity(256 * config.len() + 256);
    serde_json::to_writer(
        &mut out,
        &Canonical {
            config,
            plugins: &plugins,
        },
    )?;
    Ok(out)
}

struct Canonical<'a> {
    config: &'a ConfigSet,
    plugins: &'a [Plugin],
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.config;
        let mut map = serializer.serialize_map(Some(15))?;
        // Keep these in byte order of the key (a test checks it).
        map.serialize_entry("acls", &ById(&c.acls))?;
        map.serialize_entry("basicauth_credentials", &ById(&c.basicauth_credentials))?;
        map.serialize_entry("ca_certificates", &ById(&c.ca_certificates))?;
        map.serialize_entry("certificates", &ById(&c.certificates))?;
        map.serialize_entry("consumers", &ById(&c.consumers))?;
        map.serialize_entry("hmacauth_credentials", &ById(&c.hmacauth_credentials))?;
        map.serialize_entry("jwt_secrets", &ById(&c.jwt_secrets))?;
        map.serialize_entry("keyauth_credentials", &ById(&c.keyauth_credentials))?;
        map.serialize_entry("mtls_auth_credentials", &ById(&c.mtls_auth_credentials))?;
        map.serialize_entry("plugins", &ById(self.plugins))?;
        map.serialize_entry("routes", &ById(&c.routes))?;
        map.serialize_entry("services", &ById(&c.services))?;
        map.serialize_entry("snis", &ById(&c.snis))?;
        map.serialize_entry("targets", &ById(&c.targets))?;
        map.serialize_entry("upstreams", &ById(&c.upstreams))?;
        map.end()
    }
}

/// A list serialised in id order, without reordering (or copying) the list itself.
struct ById<'a, T>(&'a [T]);

impl<T: HasId + Serialize> Serialize for ById<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&T> = self.0.iter().collect();
        sorted.sort_by_key(|e| e.id());
        let mut seq = serializer.serialize_seq(Some(sorted.len()))?;
        for entity in sorted {
            seq.serialize_element(entity)?;
        }
        seq.end()
    }
}

trait HasId {
    fn id(&self) -> Uuid;
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> Uuid { self.id } })* };
}
has_id!(
    Service,
    Route,
    Consumer,
    Plugin,
    Upstream,
    Target,
    Certificate,
    Sni,
    CaCertificate,
    KeyAuthCredential,
    BasicAuthCredential,
    HmacAuthCredential,
    AclGroup,
    JwtSecret,
    MtlsAuthCredential
);

fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            for (_, v) in map.iter_mut() {
                sort_keys(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::EntityKind;
    use crate::snapshot::sample;

    #[test]
    fn list_order_and_object_key_order_do_not_change_the_bytes() {
        let mut a = sample::config_with_routes(20);
        a.plugins[0].config = serde_json::json!({"b": 1, "a": {"z": true, "y": [1, 2]}});
        let mut b = a.clone();
        b.routes.reverse();
        b.services.reverse();
        b.plugins[0].config = serde_json::json!({"a": {"y": [1, 2], "z": true}, "b": 1});
        assert_eq!(canonical_json(&a).unwrap(), canonical_json(&b).unwrap());
    }

    #[test]
    fn kinds_are_sorted_and_complete_and_entities_sorted_by_id() {
        let config = sample::config_with_routes(30);
        let value: Value = serde_json::from_slice(&canonical_json(&config).unwrap()).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let mut names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        assert_eq!(keys, names);
        let ids: Vec<&str> = value["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let mut sorted_ids = ids.clone();
        sorted_ids.sort();
        assert_eq!(ids, sorted_ids);
    }

    #[test]
    fn plugin_config_keys_are_sorted_at_every_depth() {
        let mut config = sample::config_with_routes(1);
        config.plugins[0].config =
            serde_json::json!({"zeta": {"b": 1, "a": 2}, "alpha": [{"y": 0, "x": 1}]});
        let text = String::from_utf8(canonical_json(&config).unwrap()).unwrap();
        assert!(
            text.contains(r#""config":{"alpha":[{"x":1,"y":0}],"zeta":{"a":2,"b":1}}"#),
            "{text}"
        );
    }

    #[test]
    fn decoding_and_reencoding_is_a_fixed_point() {
        let config = sample::config_with_routes(25);
        let bytes = canonical_json(&config).unwrap();
        let decoded: ConfigSet = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(canonical_json(&decoded).unwrap(), bytes);
    }

    #[test]
    fn different_content_gives_different_bytes() {
        let a = sample::config_with_routes(3);
        let mut b = a.clone();
        b.routes[1].strip_path = !b.routes[1].strip_path;
        assert_ne!(canonical_json(&a).unwrap(), canonical_json(&b).unwrap());
    }
}
