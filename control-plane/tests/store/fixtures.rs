//! Entities as the store receives them (already validated; only the fields the store looks
//! at matter), and a macro that runs a test body on both backends.

use common::model::EntityKind;
use control_plane::store::{Entity, Store, testing::TestStore};
use serde_json::{Value, json};
use uuid::Uuid;

/// Declares `postgres::<name>` and `sqlite::<name>` tests calling `<name>(&TestStore)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = control_plane::store::testing::TestStore::postgres()
                        .await
                        .expect("a Postgres test database (DATABASE_URL)");
                    super::$name(&t).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = control_plane::store::testing::TestStore::sqlite()
                        .await
                        .expect("a SQLite test store");
                    super::$name(&t).await;
                }
            )*
        }
    };
}

pub fn obj(value: Value) -> Entity {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn id_of(entity: &Entity) -> Uuid {
    Uuid::parse_str(entity["id"].as_str().unwrap()).unwrap()
}

fn reference(id: Option<Uuid>) -> Value {
    id.map_or(Value::Null, |id| json!({ "id": id }))
}

pub fn service(name: Option<&str>) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "name": name, "protocol": "http", "host": "example.test",
        "port": 80, "path": null, "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
        "client_certificate": null, "ca_certificates": null, "tags": null, "enabled": true,
    }))
}

pub fn route(name: Option<&str>, service: Option<Uuid>) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "name": name, "paths": ["/"], "service": reference(service),
        "created_at": 1_700_000_000, "tags": null,
    }))
}

pub fn consumer(username: Option<&str>, custom_id: Option<&str>) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "username": username, "custom_id": custom_id,
        "created_at": 1_700_000_000, "tags": null,
    }))
}

pub fn plugin(
    name: &str,
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "name": name, "instance_name": null, "route": reference(route),
        "service": reference(service), "consumer": reference(consumer),
        "config": {}, "protocols": ["http", "https"], "enabled": true,
        "created_at": 1_700_000_000, "tags": null,
    }))
}

pub fn upstream(name: &str) -> Entity {
    obj(json!({ "id": Uuid::new_v4(), "name": name, "created_at": 1, "tags": null }))
}

pub fn target(upstream: Uuid, target: &str) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "upstream": { "id": upstream }, "target": target,
        "weight": 100, "created_at": 1, "tags": null,
    }))
}

pub fn certificate() -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "cert": "-----BEGIN CERTIFICATE-----", "key": "k",
        "created_at": 1, "tags": null,
    }))
}

pub fn sni(name: &str, certificate: Uuid) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "name": name, "certificate": { "id": certificate },
        "created_at": 1, "tags": null,
    }))
}

pub fn ca_certificate(digest: &str) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "cert": "-----BEGIN CERTIFICATE-----", "cert_digest": digest,
        "created_at": 1, "tags": null,
    }))
}

pub fn key_auth(consumer: Uuid, key: &str) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "consumer": { "id": consumer }, "key": key, "ttl": null,
        "created_at": 1, "tags": null,
    }))
}

pub fn acl(consumer: Uuid, group: &str) -> Entity {
    obj(json!({
        "id": Uuid::new_v4(), "consumer": { "id": consumer }, "group": group,
        "created_at": 1, "tags": null,
    }))
}

pub fn with_tags(mut entity: Entity, tags: &[&str]) -> Entity {
    entity.insert("tags".into(), json!(tags));
    entity
}

pub fn with(mut entity: Entity, field: &str, value: Value) -> Entity {
    entity.insert(field.into(), value);
    entity
}

/// A random string for unique fields.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// An entity of any kind that the store accepts: every unique string field gets a fresh
/// value, every required reference a freshly inserted parent. `fill` overrides fields.
pub async fn any_entity(store: &Store, kind: EntityKind, fill: &[(&str, Value)]) -> Entity {
    let mut entity = obj(json!({ "id": Uuid::new_v4(), "created_at": 1, "tags": null }));
    for set in kind.unique_fields() {
        for field in set.iter() {
            if kind.foreign_keys().iter().all(|fk| fk.field != *field) {
                entity.insert((*field).into(), json!(unique(field)));
            }
        }
    }
    for fk in kind.foreign_keys() {
        if fk.required {
            let parent = Box::pin(insert_any(store, fk.references)).await;
            entity.insert(fk.field.into(), json!({ "id": id_of(&parent) }));
        } else {
            entity.insert(fk.field.into(), Value::Null);
        }
    }
    for (field, value) in fill {
        entity.insert((*field).into(), value.clone());
    }
    entity
}

/// Inserts `any_entity(kind)` and returns it.
pub async fn insert_any(store: &Store, kind: EntityKind) -> Entity {
    let entity = any_entity(store, kind, &[]).await;
    store.insert(kind, &entity).await.unwrap();
    entity
}

/// Whether a test store runs on Postgres.
pub fn is_postgres(t: &TestStore) -> bool {
    t.database_url().is_some()
}
