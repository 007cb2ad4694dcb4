//! PEM parsing of Kong `certificates` / `ca_certificates` into rustls types.

use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("could not parse PEM certificate: {0}")]
    Certificate(String),
    #[error("no certificate found in PEM data")]
    NoCertificate,
    #[error("could not parse PEM private key: {0}")]
    Key(String),
    #[error("unsupported private key: {0}")]
    UnsupportedKey(String),
    #[error("certificate and key do not match: {0}")]
    Mismatch(String),
}

/// Every certificate in a PEM bundle, in order (leaf first for a chain).
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(certs)
}

/// A certificate chain and its private key, ready to be served or presented.
pub fn parse_certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, PemError> {
    let chain = parse_certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PemError::Key(e.to_string()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| PemError::UnsupportedKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        // Keys whose public half cannot be extracted cannot be checked; rustls serves them.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(PemError::Mismatch(e.to_string())),
    }
    Ok(Arc::new(certified))
}

/// `not_after` of a DER certificate as Unix seconds, if it parses.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// Whether a DER certificate is self-issued (subject == issuer), i.e. a root.
pub fn is_self_issued(cert: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(cert.as_ref())
        .map(|(_, c)| c.subject() == c.issuer())
        .unwrap_or(false)
}

/// DER certificates as one PEM bundle, in the given order (64-column base64 lines).
pub fn to_pem_chain(certs: &[CertificateDer<'_>]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for cert in certs {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or(""));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_chains_round_trip() {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let params = rcgen::CertificateParams::new(vec!["a.test".to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        let der = cert.der().clone();
        let pem = to_pem_chain(&[der.clone(), der.clone()]);
        let parsed = parse_certificates(&pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, vec![der.clone(), der]);
    }
}
