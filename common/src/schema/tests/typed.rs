//! Every validated, defaults-filled entity deserialises into its typed model struct.

use serde_json::{Value, json};

use super::*;
use crate::model::{self, EntityKind};

const ID: &str = "8a388226-80e8-4027-a486-25e4f7db5d21";

fn sample(kind: EntityKind) -> Value {
    let fk = json!({"id": ID});
    match kind {
        EntityKind::Service => {
            json!({"url": "https://example.test/p", "tls_verify": true, "ca_certificates": [ID], "tags": ["t"]})
        }
        EntityKind::Route => json!({"paths": ["/"], "headers": {"x": ["y"]}, "service": fk}),
        EntityKind::Consumer => json!({"username": "u"}),
        EntityKind::Plugin => json!({"name": "key-auth", "route": fk}),
        EntityKind::Upstream => {
            json!({"name": "u.test", "hash_on": "header", "hash_on_header": "x"})
        }
        EntityKind::Target => json!({"upstream": fk, "target": "a.test"}),
        EntityKind::Certificate => {
            json!({"cert": include_str!("fixtures/rsa-cert.pem"), "key": include_str!("fixtures/rsa-key.pem")})
        }
        EntityKind::Sni => json!({"name": "a.test", "certificate": fk}),
        EntityKind::CaCertificate => {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            json!({"cert": params.self_signed(&key).unwrap().pem()})
        }
        EntityKind::KeyAuthCredential => json!({"consumer": fk}),
        EntityKind::BasicAuthCredential => {
            json!({"consumer": fk, "username": "u", "password": "p"})
        }
        EntityKind::HmacAuthCredential => json!({"consumer": fk, "username": "u"}),
        EntityKind::AclGroup => json!({"consumer": fk, "group": "g"}),
        EntityKind::JwtSecret => json!({"consumer": fk}),
        EntityKind::MtlsAuthCredential => {
            json!({"consumer": fk, "subject_name": "client.test", "ca_certificate": fk})
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    entity: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    serde_json::from_value::<T>(Value::Object(entity.clone()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_kind_deserialises_into_its_model() {
    for kind in EntityKind::ALL {
        let entity = insert_ok(kind, sample(kind));
        let result = typed(kind, &entity);
        if let Err(e) = result {
            panic!("{}: {e}\n{}", kind.name(), Value::Object(entity));
        }
    }
}

#[test]
fn every_model_field_exists_in_the_schema() {
    // A typed struct must not expect a field its schema does not produce.
    for kind in EntityKind::ALL {
        let entity = insert_ok(kind, sample(kind));
        let schema = &catalog().entity(kind).schema;
        for key in entity.keys() {
            assert!(
                schema.get(key).is_some() || key == "ttl",
                "{}: {key}",
                kind.name()
            );
        }
    }
}

/// Kong keeps a `null` written by PATCH into a non-required field that has a default
/// (`PATCH /services/x {"retries": null}`) and falls back to the default at run time. Such
/// entities must still become typed model values, or snapshots and exports would fail.
#[test]
fn nulled_fields_with_defaults_still_deserialise() {
    let mut failures = Vec::new();
    for kind in EntityKind::ALL {
        let entity = insert_ok(kind, sample(kind));
        let schema = &catalog().entity(kind).schema;
        for (name, field) in &schema.fields {
            let nullable_with_default = field.required != Some(true)
                && field.default.as_ref().is_some_and(|d| !d.is_null());
            if !nullable_with_default || !entity.contains_key(*name) {
                continue;
            }
            let mut nulled = entity.clone();
            nulled.insert((*name).to_owned(), Value::Null);
            if let Err(e) = typed(kind, &nulled) {
                failures.push(format!("{}.{name} = null: {e}", kind.name()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn typed(kind: EntityKind, entity: &serde_json::Map<String, Value>) -> Result<(), String> {
    match kind {
        EntityKind::Service => parse::<model::Service>(entity),
        EntityKind::Route => parse::<model::Route>(entity),
        EntityKind::Consumer => parse::<model::Consumer>(entity),
        EntityKind::Plugin => parse::<model::Plugin>(entity),
        EntityKind::Upstream => parse::<model::Upstream>(entity),
        EntityKind::Target => parse::<model::Target>(entity),
        EntityKind::Certificate => parse::<model::Certificate>(entity),
        EntityKind::Sni => parse::<model::Sni>(entity),
        EntityKind::CaCertificate => parse::<model::CaCertificate>(entity),
        EntityKind::KeyAuthCredential => parse::<model::KeyAuthCredential>(entity),
        EntityKind::BasicAuthCredential => parse::<model::BasicAuthCredential>(entity),
        EntityKind::HmacAuthCredential => parse::<model::HmacAuthCredential>(entity),
        EntityKind::AclGroup => parse::<model::AclGroup>(entity),
        EntityKind::JwtSecret => parse::<model::JwtSecret>(entity),
        EntityKind::MtlsAuthCredential => parse::<model::MtlsAuthCredential>(entity),
    }
}
