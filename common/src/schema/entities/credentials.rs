//! Consumer credentials of the bundled auth plugins (`kong/plugins/*/daos.lua`).

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::schema::errors::Errors;
use crate::schema::field::Field;
use crate::schema::pem;
use crate::schema::process::Op;
use crate::schema::record::{EntityCheck, Match, Schema};
use crate::schema::typedefs as t;

fn consumer() -> Field {
    Field::foreign("consumers").required().on_delete("cascade")
}

fn base(name: &'static str) -> Schema {
    Schema::new(name)
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("consumer", consumer())
}

pub(crate) fn keyauth() -> Schema {
    let mut schema = base("keyauth_credentials")
        .field("key", Field::string().optional().unique().auto())
        .field("tags", t::tags());
    schema.ttl = true;
    schema
}

pub(crate) fn basicauth() -> Schema {
    base("basicauth_credentials")
        .field("username", Field::string().required().unique())
        .field("password", Field::string().required().encrypted())
        .field("tags", t::tags())
}

/// Kong's basic-auth hash: hex SHA-1 of the password followed by the consumer id.
pub fn hash_basicauth_password(consumer_id: &str, password: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(password.as_bytes());
    hasher.update(consumer_id.as_bytes());
    hex::encode(hasher.finalize())
}

/// The password is hashed whenever a write gives one.
pub(crate) fn basicauth_after(
    entity: &mut Map<String, Value>,
    input: &Map<String, Value>,
    _op: Op,
) -> Result<(), Errors> {
    let Some(Value::String(password)) = input.get("password") else {
        return Ok(());
    };
    let consumer_id = entity
        .get("consumer")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let hashed = hash_basicauth_password(&consumer_id, password);
    entity.insert("password".into(), Value::String(hashed));
    Ok(())
}

pub(crate) fn hmacauth() -> Schema {
    base("hmacauth_credentials")
        .field("username", Field::string().required().unique())
        .field("secret", Field::string().auto())
        .field("tags", t::tags())
}

/// Kong Enterprise's mtls-auth subject-name mappings (`mtls_auth_credentials`).
pub(crate) fn mtlsauth() -> Schema {
    base("mtls_auth_credentials")
        .field("subject_name", Field::string().required())
        .field(
            "ca_certificate",
            Field::foreign("ca_certificates")
                .default_null()
                .on_delete("cascade"),
        )
        .field("tags", t::tags())
}

pub(crate) fn acls() -> Schema {
    base("acls")
        .field("group", Field::string().required())
        .field("tags", t::tags())
}

fn validate_rsa_public_key(value: &Value) -> Result<(), String> {
    let key = value.as_str().unwrap_or_default();
    // Kong loads it with `openssl.pkey.new`, which takes a public or a private key.
    pem::parse_public_key(key)
        .or_else(|_| pem::parse_private_key(key).map(|_| ()))
        .map_err(|_| "invalid key".to_string())
}

pub(crate) fn jwt() -> Schema {
    base("jwt_secrets")
        .field("key", Field::string().optional().unique().auto())
        .field("secret", Field::string().auto())
        .field("rsa_public_key", Field::string())
        .field(
            "algorithm",
            Field::string().default("HS256").one_of(&[
                "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                "PS256", "PS384", "PS512", "EdDSA",
            ]),
        )
        .field("tags", t::tags())
        .check(EntityCheck::conditional(
            "algorithm",
            Match::new().match_any(&[
                "^RS256$", "^RS384$", "^RS512$", "^PS256$", "^PS384$", "^PS512$", "^EdDSA$",
            ]),
            "rsa_public_key",
            Match::new().required().custom(validate_rsa_public_key),
        ))
}
