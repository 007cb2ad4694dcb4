use serde_json::json;

use super::*;
use crate::model::EntityKind::{
    AclGroup, BasicAuthCredential, Consumer, HmacAuthCredential, JwtSecret, KeyAuthCredential,
    MtlsAuthCredential,
};
use crate::schema::entities::hash_basicauth_password;

#[test]
fn consumers() {
    // #61, #62, #73, #74
    let c = insert_ok(Consumer, json!({"username": "abc def 1"}));
    assert_eq!(
        (&c["username"], &c["custom_id"]),
        (&json!("abc def 1"), &json!(null))
    );
    let e = insert_err(Consumer, json!({}));
    assert_eq!(
        e.to_json()["fields"],
        json!({"@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]})
    );
    assert_eq!(
        e.message(),
        "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
    );
    let c = insert_ok(Consumer, json!({"username": "bob", "custom_id": "x"}));
    let replaced = catalog()
        .upsert(Consumer, obj(json!({"username": "bob"})), Some(&c))
        .unwrap();
    assert_eq!(
        (&replaced["id"], &replaced["custom_id"]),
        (&c["id"], &json!(null))
    );
    let e = update(Consumer, json!({"username": null, "custom_id": null}), &c).unwrap_err();
    assert_eq!(
        e.message(),
        "schema violation (when updating, at least one of these fields must be non-empty: 'custom_id', 'username')"
    );
}

#[test]
fn key_auth_credentials() {
    // #128, #130, #131
    let k = insert_ok(
        KeyAuthCredential,
        json!({"consumer": consumer_ref(), "key": "1234"}),
    );
    assert_eq!(k["key"], json!("1234"));
    let k = insert_ok(KeyAuthCredential, json!({"consumer": consumer_ref()}));
    let key = k["key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
    assert_eq!(
        fields(&update(KeyAuthCredential, json!({"key": 123}), &k).unwrap_err()),
        json!({"key": "expected a string"})
    );
    assert_eq!(
        insert_err(KeyAuthCredential, json!({"key": "1234"})).message(),
        "schema violation (consumer: required field missing)"
    );
    let k = insert_ok(
        KeyAuthCredential,
        json!({"consumer": consumer_ref(), "ttl": 10}),
    );
    assert_eq!(k["ttl"], json!(10));
}

#[test]
fn basic_auth_passwords_are_hashed_like_kong() {
    let id = consumer_ref()["id"].as_str().unwrap().to_string();
    let b = insert_ok(
        BasicAuthCredential,
        json!({"consumer": consumer_ref(), "username": "u", "password": "secret"}),
    );
    let expected = hash_basicauth_password(&id, "secret");
    assert_eq!(b["password"], json!(expected));
    // sha1("secret" .. consumer_id), as Kong's basic-auth crypto.lua computes it.
    assert_eq!(expected.len(), 40);
    let b2 = update(BasicAuthCredential, json!({"username": "v"}), &b).unwrap();
    assert_eq!(
        b2["password"], b["password"],
        "not re-hashed without a new password"
    );
    let b3 = update(BasicAuthCredential, json!({"password": "other"}), &b).unwrap();
    assert_eq!(b3["password"], json!(hash_basicauth_password(&id, "other")));
    assert_eq!(
        insert_err(BasicAuthCredential, json!({"consumer": consumer_ref()})).message(),
        "2 schema violations (password: required field missing; username: required field missing)"
    );
}

#[test]
fn hmac_acl_jwt() {
    let h = insert_ok(
        HmacAuthCredential,
        json!({"consumer": consumer_ref(), "username": "h"}),
    );
    assert_eq!(h["secret"].as_str().unwrap().len(), 32);
    let a = insert_ok(AclGroup, json!({"consumer": consumer_ref(), "group": "g"}));
    assert_eq!(a["group"], json!("g"));
    assert_eq!(
        insert_err(AclGroup, json!({"consumer": consumer_ref()})).message(),
        "schema violation (group: required field missing)"
    );
    let j = insert_ok(JwtSecret, json!({"consumer": consumer_ref()}));
    assert_eq!(j["algorithm"], json!("HS256"));
    assert_eq!(j["key"].as_str().unwrap().len(), 32);
    assert_eq!(j["secret"].as_str().unwrap().len(), 32);
    assert_eq!(j["rsa_public_key"], json!(null));
    assert_eq!(
        insert_err(
            JwtSecret,
            json!({"consumer": consumer_ref(), "algorithm": "RS256"})
        )
        .to_json()["fields"],
        json!({"@entity": ["failed conditional validation given value of field 'algorithm'"],
               "rsa_public_key": "required field missing"})
    );
    assert_eq!(
        fields(&insert_err(
            JwtSecret,
            json!({"consumer": consumer_ref(), "algorithm": "RS256", "rsa_public_key": "nope"})
        )),
        json!({"@entity": ["failed conditional validation given value of field 'algorithm'"], "rsa_public_key": "invalid key"})
    );
    assert_eq!(
        fields(&insert_err(
            JwtSecret,
            json!({"consumer": consumer_ref(), "algorithm": "XX"})
        )),
        json!({"algorithm": "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"})
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let public = key.public_key_pem();
    assert!(
        insert(
            JwtSecret,
            json!({"consumer": consumer_ref(), "algorithm": "RS256", "rsa_public_key": public})
        )
        .is_ok()
    );
    // ES512 (P-521): like Kong, ES* keys are not checked by the entity check.
    let p521 = "-----BEGIN PUBLIC KEY-----\nMIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAMQbmWG4eRP+wbqPquRBKa09btc8V\n\
        3EMcaws8jdbK+9ajZqnoq0Lsc1LQ3zUBFNsSkXsdofjP7VfPW97MeXVqo6IA7M/X\n\
        Q+qK/LosPxLI0+6xeCOzVMjtNUno3NK6Jwfqz1HgYdkU3iIgRsl+L1SBx6SXdrB7\n\
        3QSVEQzS15tdSkrm9as=\n-----END PUBLIC KEY-----\n";
    let es = insert_ok(
        JwtSecret,
        json!({"consumer": consumer_ref(), "algorithm": "ES512", "rsa_public_key": p521}),
    );
    assert_eq!(es["algorithm"], json!("ES512"));
}

#[test]
fn mtls_auth_credentials() {
    let m = insert_ok(
        MtlsAuthCredential,
        json!({"consumer": consumer_ref(), "subject_name": "client.test"}),
    );
    assert_eq!(m["subject_name"], json!("client.test"));
    assert_eq!(m["ca_certificate"], json!(null));
    assert_eq!(m["tags"], json!(null));
    assert_eq!(
        insert_err(MtlsAuthCredential, json!({"consumer": consumer_ref()})).message(),
        "schema violation (subject_name: required field missing)"
    );
    assert_eq!(
        insert_err(MtlsAuthCredential, json!({"subject_name": "client.test"})).message(),
        "schema violation (consumer: required field missing)"
    );
    assert_eq!(
        fields(&insert_err(
            MtlsAuthCredential,
            json!({"consumer": consumer_ref(), "subject_name": "c", "ca_certificate": "x"})
        )),
        json!({"ca_certificate": {"id": "missing primary key"}})
    );
}
