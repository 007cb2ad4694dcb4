use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;

use super::*;
use crate::model::EntityKind::{CaCertificate, Certificate, Sni};
use crate::schema::pem;

const RSA_CERT: &str = include_str!("fixtures/rsa-cert.pem");
const RSA_KEY: &str = include_str!("fixtures/rsa-key.pem");

/// A self-signed ECDSA P-256 certificate and its PKCS#8 key.
fn ec_pair() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["ec.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn ca_cert(is_ca: bool, expired: bool) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![]).unwrap();
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    params.self_signed(&key).unwrap().pem()
}

/// Re-wraps a PKCS#8 key's inner key as PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
fn inner_key_pem(pkcs8_pem: &str, label: &str) -> String {
    let block = x509_parser::pem::Pem::iter_from_buffer(pkcs8_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let (_, obj) = x509_parser::der_parser::parse_der(&block.contents).unwrap();
    let inner = obj.as_sequence().unwrap()[2].as_slice().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn keys_in_every_pem_format_match_their_certificates() {
    assert!(pem::key_matches(RSA_CERT, RSA_KEY));
    assert!(pem::key_matches(
        RSA_CERT,
        &inner_key_pem(RSA_KEY, "RSA PRIVATE KEY")
    ));
    let (ec_cert, ec_key) = ec_pair();
    assert!(pem::key_matches(&ec_cert, &ec_key));
    assert!(pem::key_matches(
        &ec_cert,
        &inner_key_pem(&ec_key, "EC PRIVATE KEY")
    ));
    assert!(!pem::key_matches(&ec_cert, RSA_KEY));
    let (_, other_ec_key) = ec_pair();
    assert!(!pem::key_matches(&ec_cert, &other_ec_key));
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let ed_cert = CertificateParams::new(vec!["ed.test".into()])
        .unwrap()
        .self_signed(&ed)
        .unwrap();
    assert!(pem::key_matches(&ed_cert.pem(), &ed.serialize_pem()));
}

#[test]
fn certificate_insert_and_snis() {
    // #109
    let c = insert_ok(
        Certificate,
        json!({"cert": RSA_CERT, "key": RSA_KEY, "snis": ["b.test", "a.test"]}),
    );
    assert_eq!(c["snis"], json!(["a.test", "b.test"]));
    assert_eq!(
        (&c["cert_alt"], &c["key_alt"]),
        (&json!(null), &json!(null))
    );
    let c = insert_ok(Certificate, json!({"cert": RSA_CERT, "key": RSA_KEY}));
    assert_eq!(c["snis"], json!([]));
    assert_eq!(
        catalog().entity(Certificate).transient_fields(),
        vec!["snis"]
    );
    // #116: `snis: null` clears, an absent `snis` keeps the current ones.
    let mut existing = c.clone();
    existing.insert("snis".into(), json!(["a.test"]));
    assert_eq!(
        update(Certificate, json!({"snis": null}), &existing).unwrap()["snis"],
        json!([])
    );
    assert_eq!(
        update(Certificate, json!({"tags": ["x"]}), &existing).unwrap()["snis"],
        json!(["a.test"])
    );
}

#[test]
fn certificate_errors() {
    let (ec_cert, ec_key) = ec_pair();
    let (ec_cert2, ec_key2) = ec_pair();
    let cases = vec![
        // #110
        (
            json!({"cert": RSA_CERT, "key": RSA_KEY, "snis": ["a.test", "a.test"]}),
            "schema violation (snis: a.test is duplicated)",
        ),
        // #10 (validate endpoint)
        (
            json!({"cert": RSA_CERT, "key": RSA_KEY, "snis": ["120.0.9.32:90"]}),
            "schema violation (snis.1: must not be an IP)",
        ),
        // #114
        (
            json!({}),
            "2 schema violations (cert: required field missing; key: required field missing)",
        ),
        // #115
        (
            json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": ec_cert.clone()}),
            "schema violation (all or none of these fields must be set: 'cert_alt', 'key_alt')",
        ),
        (
            json!({"cert": RSA_CERT, "key": ec_key.clone()}),
            "schema violation (certificate does not match key)",
        ),
        (
            json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": ec_cert.clone(), "key_alt": ec_key2.clone()}),
            "schema violation (alternative certificate does not match key)",
        ),
        (
            json!({"cert": ec_cert.clone(), "key": ec_key.clone(), "cert_alt": ec_cert2.clone(), "key_alt": ec_key2.clone()}),
            "schema violation (certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type)",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            insert_err(Certificate, input.clone()).message(),
            expected,
            "{input}"
        );
    }
    assert!(
        insert(
            Certificate,
            json!({"cert": RSA_CERT, "key": RSA_KEY, "cert_alt": ec_cert, "key_alt": ec_key})
        )
        .is_ok()
    );
    let e = insert_err(Certificate, json!({"cert": "nope", "key": "nope"}));
    let f = fields(&e);
    assert!(
        f["cert"]
            .as_str()
            .unwrap()
            .starts_with("invalid certificate: "),
        "{f}"
    );
    assert!(
        f["key"].as_str().unwrap().starts_with("invalid key: "),
        "{f}"
    );
}

#[test]
fn snis() {
    // #119, #120
    let cert = json!({"id": "8a388226-80e8-4027-a486-25e4f7db5d21"});
    for name in ["*.x.test", "x.test.*", "*", "x.test"] {
        assert!(
            insert(Sni, json!({"name": name, "certificate": cert})).is_ok(),
            "{name}"
        );
    }
    assert_eq!(
        fields(&insert_err(
            Sni,
            json!({"name": "*.wildcard.*", "certificate": cert})
        )),
        json!({"name": "only one wildcard must be specified"})
    );
    assert_eq!(
        insert_err(Sni, json!({})).message(),
        "2 schema violations (certificate: required field missing; name: required field missing)"
    );
}

#[test]
fn ca_certificates() {
    // #121
    let ca = ca_cert(true, false);
    let c = insert_ok(CaCertificate, json!({"cert": ca}));
    let digest = pem::parse_certificate(&ca).unwrap().sha256_hex();
    assert_eq!(c["cert_digest"], json!(digest));
    assert_eq!(digest.len(), 64);
    let cases = [
        (
            ca_cert(false, false),
            "schema violation (certificate does not appear to be a CA because it is missing the \"CA\" basic constraint)",
        ),
        (
            ca_cert(true, true),
            "schema violation (certificate expired, \"Not After\" time is in the past)",
        ),
        (
            format!("{ca}{ca}"),
            "schema violation (please submit only one certificate at a time)",
        ),
    ];
    for (cert, expected) in cases {
        assert_eq!(
            insert_err(CaCertificate, json!({"cert": cert})).message(),
            expected
        );
    }
    // PATCH without a new cert keeps the digest; with one, recomputes it.
    let c2 = update(CaCertificate, json!({"tags": ["t"]}), &c).unwrap();
    assert_eq!(c2["cert_digest"], c["cert_digest"]);
    let other = ca_cert(true, false);
    let c3 = update(CaCertificate, json!({"cert": other}), &c).unwrap();
    assert_eq!(
        c3["cert_digest"],
        json!(pem::parse_certificate(&other).unwrap().sha256_hex())
    );
}
