//! Certificates for the certificate, SNI and CA certificate cases: a fixed RSA pair (Kong's
//! own test fixture; certificates are not checked for expiry) and freshly generated ECDSA
//! pairs and CAs.

use common::cluster_tls::generate::{self, CertAuthority, Validity};

pub struct Pair {
    pub cert: String,
    pub key: String,
}

pub fn rsa() -> Pair {
    Pair {
        cert: include_str!("fixtures/rsa-cert.pem").to_owned(),
        key: include_str!("fixtures/rsa-key.pem").to_owned(),
    }
}

/// A self-signed ECDSA P-256 certificate (a different key type than [`rsa`]).
pub fn ecdsa() -> Pair {
    let pem = generate::shared(&[], Validity::default()).expect("ecdsa certificate");
    Pair {
        cert: pem.cert_pem,
        key: pem.key_pem,
    }
}

/// A CA certificate (`CA:TRUE`).
pub fn ca() -> String {
    CertAuthority::new(Validity::default())
        .expect("ca")
        .pem()
        .cert_pem
}

/// A CA certificate whose "Not After" is in the past.
pub fn expired_ca() -> String {
    CertAuthority::new(Validity {
        days: 1,
        backdate_days: 10,
    })
    .expect("ca")
    .pem()
    .cert_pem
}

/// A certificate that is not a CA.
pub fn leaf() -> String {
    CertAuthority::new(Validity::default())
        .expect("ca")
        .issue_data_plane("leaf.test", Validity::default())
        .expect("leaf")
        .cert_pem
}
