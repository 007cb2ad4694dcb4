//! `certificates`, `snis` and `ca_certificates` (Kong's entity schemas plus the DAO's SNI
//! list handling and the CA digest transformation).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::schema::errors::Errors;
use crate::schema::field::Field;
use crate::schema::pem;
use crate::schema::process::Op;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

fn text<'a>(entity: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    entity.get(key).and_then(Value::as_str)
}

fn cert_matches_key(entity: &Map<String, Value>) -> Result<(), String> {
    match (text(entity, "cert"), text(entity, "key")) {
        (Some(cert), Some(key)) if !pem::key_matches(cert, key) => {
            Err("certificate does not match key".to_string())
        }
        _ => Ok(()),
    }
}

fn alt_matches_key(entity: &Map<String, Value>) -> Result<(), String> {
    match (text(entity, "cert_alt"), text(entity, "key_alt")) {
        (Some(cert), Some(key)) if !pem::key_matches(cert, key) => {
            Err("alternative certificate does not match key".to_string())
        }
        _ => Ok(()),
    }
}

fn alt_has_other_type(entity: &Map<String, Value>) -> Result<(), String> {
    let (Some(cert), Some(alt)) = (text(entity, "cert"), text(entity, "cert_alt")) else {
        return Ok(());
    };
    match (pem::parse_certificate(cert), pem::parse_certificate(alt)) {
        (Ok(a), Ok(b)) if a.public_key.key_type() == b.public_key.key_type() => Err(
            "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

pub(crate) fn certificates() -> Schema {
    Schema::new("certificates")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("cert", t::certificate().required().referenceable())
        .field("key", t::key().required().referenceable().encrypted())
        .field("cert_alt", t::certificate().optional().referenceable())
        .field("key_alt", t::key().optional().referenceable().encrypted())
        .field("tags", t::tags())
        .field(
            "snis",
            Field::array(t::wildcard_host()).optional().transient(),
        )
        .check(EntityCheck::mutually_required(&["cert_alt", "key_alt"]))
        .check(EntityCheck::custom(&["cert", "key"], cert_matches_key))
        .check(EntityCheck::custom(
            &["cert_alt", "key_alt"],
            alt_matches_key,
        ))
        .check(EntityCheck::custom(
            &["cert", "cert_alt"],
            alt_has_other_type,
        ))
}

/// Kong's certificates DAO: a duplicated SNI name is refused before anything else, the
/// list is sorted, and `snis: null` means "no SNIs".
pub(crate) fn certificates_before(input: &mut Map<String, Value>, _op: Op) -> Result<(), Errors> {
    match input.get("snis") {
        Some(Value::Null) => {
            input.insert("snis".into(), Value::Array(Vec::new()));
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            let mut names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            for (i, name) in names.iter().enumerate() {
                if names[..i].contains(name) {
                    return Err(Errors::field("snis", format!("{name} is duplicated")));
                }
            }
            names.sort_unstable();
            let sorted = names.into_iter().map(Value::from).collect();
            input.insert("snis".into(), Value::Array(sorted));
        }
        _ => {}
    }
    Ok(())
}

/// A created or replaced certificate without SNIs shows `"snis": []`. A PATCH that does
/// not mention `snis` leaves them as the stored entity (with its SNIs) had them.
pub(crate) fn certificates_after(
    entity: &mut Map<String, Value>,
    _input: &Map<String, Value>,
    op: Op,
) -> Result<(), Errors> {
    let unset = match entity.get("snis") {
        None => op != Op::Update,
        Some(v) => v.is_null(),
    };
    if unset {
        entity.insert("snis".into(), Value::Array(Vec::new()));
    }
    Ok(())
}

pub(crate) fn snis() -> Schema {
    Schema::new("snis")
        .field("id", t::uuid())
        .field("name", t::wildcard_host().required().unique())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("tags", t::tags())
        .field("certificate", Field::foreign("certificates").required())
}

fn ca_checks(entity: &Map<String, Value>) -> Result<(), String> {
    let Some(cert) = text(entity, "cert") else {
        return Ok(());
    };
    if pem::count_certificates(cert) > 1 {
        return Err("please submit only one certificate at a time".to_string());
    }
    let info = pem::parse_certificate(cert)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if info.not_after < now {
        return Err("certificate expired, \"Not After\" time is in the past".to_string());
    }
    if !info.is_ca {
        return Err(
            "certificate does not appear to be a CA because it is missing the \"CA\" basic constraint"
                .to_string(),
        );
    }
    Ok(())
}

pub(crate) fn ca_certificates() -> Schema {
    Schema::new("ca_certificates")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("cert", t::certificate().required())
        .field("cert_digest", Field::string().unique())
        .field("tags", t::tags())
        .check(EntityCheck::custom(&["cert"], ca_checks))
}

/// `cert_digest` is the hex SHA-256 of the certificate's DER, recomputed when `cert` is
/// written.
pub(crate) fn ca_certificates_after(
    entity: &mut Map<String, Value>,
    input: &Map<String, Value>,
    _op: Op,
) -> Result<(), Errors> {
    if input.get("cert").is_some_and(Value::is_string)
        && let Some(cert) = text(entity, "cert")
    {
        let info = pem::parse_certificate(cert).map_err(|e| Errors::field("cert", e))?;
        entity.insert("cert_digest".into(), Value::String(info.sha256_hex()));
    }
    Ok(())
}
