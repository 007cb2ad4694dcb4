//! Certificate and private-key checks for the TLS entities (certificates, CA
//! certificates, jwt RSA keys): parsing PEM, matching a key to a certificate, key types,
//! CA basic constraints, expiry and digests.

use ring::signature::{self, Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use x509_parser::der_parser::{self, ber::BerObject};
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

/// The public half of a key, comparable between a certificate and a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyId {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// An EC point (uncompressed encoding as stored in certificates).
    Ec(Vec<u8>),
    Ed25519(Vec<u8>),
    /// Another algorithm: its OID and raw key bits.
    Other {
        algorithm: String,
        key: Vec<u8>,
    },
}

impl PublicKeyId {
    /// The key type, for Kong's "different type (e.g. RSA and ECDSA)" rule.
    pub fn key_type(&self) -> String {
        match self {
            PublicKeyId::Rsa { .. } => "rsa".to_string(),
            PublicKeyId::Ec(_) => "ec".to_string(),
            PublicKeyId::Ed25519(_) => "ed25519".to_string(),
            PublicKeyId::Other { algorithm, .. } => algorithm.clone(),
        }
    }
}

/// What the schemas need from a certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub der: Vec<u8>,
    pub public_key: PublicKeyId,
    /// `notAfter`, seconds since the epoch.
    pub not_after: i64,
    pub is_ca: bool,
}

impl CertificateInfo {
    /// Hex SHA-256 of the DER encoding (Kong's `cert_digest`).
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

fn first_block(text: &str) -> Result<Pem, String> {
    Pem::iter_from_buffer(text.as_bytes())
        .next()
        .ok_or_else(|| "no PEM data found".to_string())?
        .map_err(|e| format!("PEM decoding failed: {e}"))
}

/// Parses the first certificate of a PEM text.
pub fn parse_certificate(text: &str) -> Result<CertificateInfo, String> {
    let pem = first_block(text)?;
    if pem.label != "CERTIFICATE" && pem.label != "TRUSTED CERTIFICATE" {
        return Err(format!("expected a CERTIFICATE, found {}", pem.label));
    }
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("x509 parsing failed: {e}"))?;
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let public_key = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => PublicKeyId::Rsa {
            modulus: strip_zeros(rsa.modulus),
            exponent: strip_zeros(rsa.exponent),
        },
        Ok(PublicKey::EC(point)) => PublicKeyId::Ec(point.data().to_vec()),
        _ if algorithm == OID_ED25519 => {
            PublicKeyId::Ed25519(spki.subject_public_key.data.to_vec())
        }
        _ => PublicKeyId::Other {
            algorithm,
            key: spki.subject_public_key.data.to_vec(),
        },
    };
    Ok(CertificateInfo {
        der: pem.contents.clone(),
        public_key,
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
    })
}

/// How many `-----BEGIN CERTIFICATE-----` markers a text holds.
pub fn count_certificates(text: &str) -> usize {
    text.matches("-----BEGIN CERTIFICATE-----").count()
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

fn der(bytes: &[u8]) -> Result<BerObject<'_>, String> {
    der_parser::parse_der(bytes)
        .map(|(_, obj)| obj)
        .map_err(|e| format!("malformed key: {e}"))
}

fn integer_bytes(obj: &BerObject<'_>) -> Result<Vec<u8>, String> {
    obj.as_slice()
        .map(strip_zeros)
        .map_err(|_| "malformed key: expected an integer".to_string())
}

/// Parses a PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8), checks that it is a
/// consistent key and returns its public half.
pub fn parse_private_key(text: &str) -> Result<PublicKeyId, String> {
    let pem = first_block(text)?;
    match pem.label.as_str() {
        "RSA PRIVATE KEY" => rsa_pkcs1(&pem.contents),
        "EC PRIVATE KEY" => ec_sec1(&pem.contents, None),
        "PRIVATE KEY" => pkcs8(&pem.contents),
        "ENCRYPTED PRIVATE KEY" => Err("encrypted private keys are not supported".to_string()),
        other => Err(format!("expected a PRIVATE KEY, found {other}")),
    }
}

/// Parses a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`), as the jwt plugin accepts.
pub fn parse_public_key(text: &str) -> Result<(), String> {
    let pem = first_block(text)?;
    match pem.label.as_str() {
        "PUBLIC KEY" => {
            use x509_parser::prelude::FromDer;
            x509_parser::x509::SubjectPublicKeyInfo::from_der(&pem.contents)
                .map(|_| ())
                .map_err(|e| format!("malformed public key: {e}"))
        }
        "RSA PUBLIC KEY" => der(&pem.contents).and_then(|obj| {
            let seq = obj.as_sequence().map_err(|_| "malformed key".to_string())?;
            if seq.len() == 2 {
                Ok(())
            } else {
                Err("malformed key".to_string())
            }
        }),
        other => Err(format!("expected a PUBLIC KEY, found {other}")),
    }
}

fn rsa_pkcs1(bytes: &[u8]) -> Result<PublicKeyId, String> {
    signature::RsaKeyPair::from_der(bytes).map_err(|e| format!("RSA key rejected: {e}"))?;
    rsa_public_from_private(bytes)
}

fn rsa_public_from_private(bytes: &[u8]) -> Result<PublicKeyId, String> {
    let obj = der(bytes)?;
    let seq = obj
        .as_sequence()
        .map_err(|_| "malformed RSA key".to_string())?;
    if seq.len() < 3 {
        return Err("malformed RSA key".to_string());
    }
    Ok(PublicKeyId::Rsa {
        modulus: integer_bytes(&seq[1])?,
        exponent: integer_bytes(&seq[2])?,
    })
}

/// SEC1 `ECPrivateKey`: version, privateKey, [0] parameters, [1] publicKey.
fn ec_sec1(bytes: &[u8], curve_from_pkcs8: Option<String>) -> Result<PublicKeyId, String> {
    let obj = der(bytes)?;
    let seq = obj
        .as_sequence()
        .map_err(|_| "malformed EC key".to_string())?;
    let scalar = seq
        .get(1)
        .and_then(|o| o.as_slice().ok())
        .ok_or_else(|| "malformed EC key".to_string())?;
    let mut curve = curve_from_pkcs8;
    let mut point = None;
    for item in seq.iter().skip(2) {
        let inner = item
            .as_slice()
            .map_err(|_| "malformed EC key".to_string())
            .and_then(der)?;
        match item.header.tag().0 {
            0 => curve = inner.as_oid().ok().map(|o| o.to_id_string()),
            1 => point = inner.as_slice().ok().map(<[u8]>::to_vec),
            _ => {}
        }
    }
    let point = point.ok_or_else(|| "EC key without its public key".to_string())?;
    let algorithm = match curve.as_deref() {
        Some(OID_P256) => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        Some(OID_P384) => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => None,
    };
    if let Some(algorithm) = algorithm {
        let rng = ring::rand::SystemRandom::new();
        signature::EcdsaKeyPair::from_private_key_and_public_key(algorithm, scalar, &point, &rng)
            .map_err(|e| format!("EC key rejected: {e}"))?;
    }
    Ok(PublicKeyId::Ec(point))
}

/// PKCS#8 `PrivateKeyInfo`: version, AlgorithmIdentifier, privateKey OCTET STRING.
fn pkcs8(bytes: &[u8]) -> Result<PublicKeyId, String> {
    let obj = der(bytes)?;
    let seq = obj
        .as_sequence()
        .map_err(|_| "malformed PKCS#8 key".to_string())?;
    let algorithm = seq
        .get(1)
        .and_then(|a| a.as_sequence().ok())
        .ok_or_else(|| "malformed PKCS#8 key".to_string())?;
    let oid = algorithm
        .first()
        .and_then(|o| o.as_oid().ok())
        .map(|o| o.to_id_string())
        .unwrap_or_default();
    let inner = seq
        .get(2)
        .and_then(|o| o.as_slice().ok())
        .ok_or_else(|| "malformed PKCS#8 key".to_string())?;
    match oid.as_str() {
        OID_RSA => {
            signature::RsaKeyPair::from_pkcs8(bytes)
                .map_err(|e| format!("RSA key rejected: {e}"))?;
            rsa_public_from_private(inner)
        }
        OID_EC => {
            let curve = algorithm
                .get(1)
                .and_then(|o| o.as_oid().ok())
                .map(|o| o.to_id_string());
            ec_sec1(inner, curve)
        }
        OID_ED25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map_err(|e| format!("Ed25519 key rejected: {e}"))?;
            Ok(PublicKeyId::Ed25519(pair.public_key().as_ref().to_vec()))
        }
        other => Ok(PublicKeyId::Other {
            algorithm: other.to_string(),
            key: Vec::new(),
        }),
    }
}

/// Whether a private key belongs to a certificate.
pub fn key_matches(cert: &str, key: &str) -> bool {
    match (parse_certificate(cert), parse_private_key(key)) {
        (Ok(cert), Ok(key)) => match (&cert.public_key, &key) {
            (PublicKeyId::Other { .. }, _) | (_, PublicKeyId::Other { .. }) => false,
            (a, b) => a == b,
        },
        _ => false,
    }
}
