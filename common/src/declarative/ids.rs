//! Ids for entities declared without one.
//!
//! Kong derives a name-based (v5) UUID from an entity's cache key (plugins, targets,
//! basic-auth, hmac-auth and mtls-auth credentials, ACL groups) or else from its endpoint key
//! (service, route, upstream and SNI names, consumer usernames), so loading the same file
//! twice gives the same ids. The namespace is a v5 UUID of the schema name under Kong's
//! fixed `_entities` namespace; the key is `"<schema>:*:<cache key values>"` (`*` = every
//! workspace) or the endpoint key value. Portico computes exactly the same ids.
//!
//! Where Kong has no key (certificates, CA certificates, consumers with only a
//! `custom_id`, unnamed services and routes, key-auth and JWT credentials whose key is an
//! auto field) Kong draws a random id. Portico instead derives one from the entity's
//! content (and its parent's id, and its rank among identical siblings), under a
//! namespace of its own: re-importing an unchanged file then keeps every id, so it
//! changes nothing.

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::model::EntityKind;
use crate::schema::Schema;

/// Kong's `_entities` namespace (`kong/db/schema/others/declarative_config.lua`).
const KONG_ENTITIES_NAMESPACE: Uuid = Uuid::from_u128(0xfd02801f_0957_4a15_a55a_c8d9606f30b5);

/// Kong's `cache_key` of each kind that has one.
fn cache_key(kind: EntityKind) -> Option<&'static [&'static str]> {
    match kind {
        EntityKind::Plugin => Some(&["name", "route", "service", "consumer"]),
        EntityKind::Target => Some(&["upstream", "target"]),
        EntityKind::KeyAuthCredential | EntityKind::JwtSecret => Some(&["key"]),
        EntityKind::BasicAuthCredential | EntityKind::HmacAuthCredential => Some(&["username"]),
        EntityKind::AclGroup => Some(&["consumer", "group"]),
        EntityKind::MtlsAuthCredential => Some(&["subject_name", "ca_certificate"]),
        _ => None,
    }
}

/// Kong's `generate_uuid(schema_name, key)`.
pub(crate) fn kong_uuid(kind: EntityKind, key: &str) -> Uuid {
    let namespace = Uuid::new_v5(&KONG_ENTITIES_NAMESPACE, kind.name().as_bytes());
    Uuid::new_v5(&namespace, key.as_bytes())
}

/// The parent an entity is nested under: the foreign field that points at it and the
/// parent's id (when it has a usable one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParentRef<'a> {
    pub field: &'static str,
    pub id: Option<&'a str>,
}

/// Kong's `get_key_for_uuid_gen`: the key a deterministic id is derived from, or `None`
/// where Kong would draw a random id.
pub(crate) fn kong_key(
    kind: EntityKind,
    schema: &Schema,
    input: &Map<String, Value>,
    parent: Option<ParentRef<'_>>,
) -> Option<String> {
    let Some(fields) = cache_key(kind) else {
        return match input.get(kind.endpoint_key()?) {
            Some(Value::String(key)) => Some(key.clone()),
            _ => None,
        };
    };
    let mut parts = vec![kind.name().to_string(), "*".to_string()];
    for name in fields {
        let field = schema.get(name)?;
        if field.auto {
            return None;
        }
        match input.get(*name) {
            Some(Value::String(value)) => parts.push(value.clone()),
            None => match parent {
                Some(parent) if parent.field == *name => parts.push(parent.id?.to_string()),
                _ if field.is_required() => return None,
                _ => parts.push(String::new()),
            },
            // Kong's key builder skips values that are neither strings nor absent
            // (a `{id = ...}` table, a JSON null).
            Some(_) => {}
        }
    }
    Some(parts.join(":"))
}

/// Content-derived ids for entities Kong has no key for (see the module docs).
#[derive(Default)]
pub(crate) struct ContentIds {
    seen: HashMap<String, usize>,
}

impl ContentIds {
    pub(crate) fn id(
        &mut self,
        kind: EntityKind,
        input: &Map<String, Value>,
        parent_id: Option<&str>,
    ) -> Uuid {
        let mut content = input.clone();
        content.remove("id");
        let key = format!(
            "{}:{}:{}",
            kind.name(),
            parent_id.unwrap_or(""),
            sorted_json(&Value::Object(content))
        );
        let rank = self.seen.entry(key.clone()).or_insert(0);
        *rank += 1;
        let namespace = Uuid::new_v5(&KONG_ENTITIES_NAMESPACE, b"portico:content");
        Uuid::new_v5(&namespace, format!("{key}:{rank}").as_bytes())
    }
}

/// JSON text with object keys sorted at every depth.
pub(crate) fn sorted_json(value: &Value) -> String {
    serde_json::to_string(&sort_keys(value)).unwrap_or_default()
}

/// A copy of `value` with object keys sorted at every depth.
pub(crate) fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::schema::catalog;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn v5_matches_the_uuid_library_kong_uses() {
        // lua-resty-jit-uuid's own test vectors for generate_v5.
        let ns = Uuid::parse_str("e6ebd542-06ae-11e6-8e82-bba81706b27d").unwrap();
        assert_eq!(
            Uuid::new_v5(&ns, b"hello").to_string(),
            "4850816f-1658-5890-8bfd-1ed14251f1f0"
        );
        assert_eq!(
            Uuid::new_v5(&ns, b"foobar").to_string(),
            "c9be99fc-326b-5066-bdba-dcd31a6d01ab"
        );
    }

    #[test]
    fn keys_follow_kongs_rules() {
        let c = catalog();
        let key = |kind, input, parent| kong_key(kind, &c.entity(kind).schema, &obj(input), parent);
        assert_eq!(
            key(EntityKind::Service, json!({"name": "svc"}), None),
            Some("svc".into())
        );
        assert_eq!(key(EntityKind::Service, json!({"host": "x"}), None), None);
        assert_eq!(
            key(EntityKind::Certificate, json!({"cert": "x"}), None),
            None
        );
        // Nested plugin: the parent's id fills its foreign field, absent scopes are "".
        let parent = ParentRef {
            field: "service",
            id: Some("5a7d"),
        };
        assert_eq!(
            key(
                EntityKind::Plugin,
                json!({"name": "key-auth"}),
                Some(parent)
            ),
            Some("plugins:*:key-auth::5a7d:".into())
        );
        // Top-level plugin naming its service: the name is part of the key; a table is not.
        assert_eq!(
            key(
                EntityKind::Plugin,
                json!({"name": "cors", "service": "svc"}),
                None
            ),
            Some("plugins:*:cors::svc:".into())
        );
        assert_eq!(
            key(
                EntityKind::Plugin,
                json!({"name": "cors", "service": {"id": "x"}}),
                None
            ),
            Some("plugins:*:cors::".into())
        );
        assert_eq!(key(EntityKind::Plugin, json!({}), None), None);
        let upstream = ParentRef {
            field: "upstream",
            id: Some("u1"),
        };
        assert_eq!(
            key(
                EntityKind::Target,
                json!({"target": "10.0.0.1:80"}),
                Some(upstream)
            ),
            Some("targets:*:u1:10.0.0.1:80".into())
        );
        // key-auth's key is an auto field: Kong draws a random id.
        assert_eq!(
            key(EntityKind::KeyAuthCredential, json!({"key": "k"}), None),
            None
        );
        assert_eq!(
            key(
                EntityKind::BasicAuthCredential,
                json!({"username": "u"}),
                None
            ),
            Some("basicauth_credentials:*:u".into())
        );
    }

    #[test]
    fn content_ids_are_stable_and_distinct_for_identical_siblings() {
        let input = obj(json!({"cert": "A", "key": "B"}));
        let mut first = ContentIds::default();
        let mut second = ContentIds::default();
        let a1 = first.id(EntityKind::Certificate, &input, None);
        let a2 = first.id(EntityKind::Certificate, &input, None);
        assert_ne!(a1, a2);
        assert_eq!(second.id(EntityKind::Certificate, &input, None), a1);
        let reordered = obj(json!({"key": "B", "cert": "A"}));
        assert_eq!(
            ContentIds::default().id(EntityKind::Certificate, &reordered, None),
            a1
        );
    }
}
