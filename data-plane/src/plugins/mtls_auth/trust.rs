//! The CA certificates an mtls-auth instance trusts, and verification of a client chain
//! against them (webpki path building, as OpenSSL's `X509_verify_cert` in Kong).
//!
//! OpenSSL needs a chain ending in a trusted self-signed root unless
//! `allow_partial_chain` lets any trusted certificate end it; so without it only the
//! self-signed configured CAs are anchors and the others serve as known intermediates.
//! Kong verifies without a purpose, so any extended key usage is accepted.

use std::sync::Arc;

use common::model::CaCertificate;
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime, pem::PemObject};
use uuid::Uuid;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator,
    KeyPurposeIdIter, RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

use super::signed::Signed;

/// The trusted CAs of one instance.
pub struct TrustSet {
    anchors: Vec<TrustAnchor<'static>>,
    /// The CA certificate entity id of each anchor (same index).
    anchor_ids: Vec<Uuid>,
    /// Configured CAs that are not anchors: offered as intermediates.
    known_intermediates: Vec<CertificateDer<'static>>,
    /// DER subjects of every configured CA (for `send_ca_dn`).
    pub subjects: Vec<Vec<u8>>,
    /// Every configured CA (issuers of the certificates asked about with OCSP).
    cas: Vec<CertificateDer<'static>>,
}

/// What a revocation check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Good,
    Revoked,
    /// No usable list (not authoritative, bad signature, expired).
    Unknown,
}

/// Any extended key usage (OpenSSL without a purpose).
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

fn algorithms() -> &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

impl TrustSet {
    /// The CAs named by `ids` (CA certificate entity ids) from `cas`. Fails naming a CA
    /// that does not exist or cannot be used (Kong answers 500 on such requests).
    pub fn build(
        ids: &[String],
        cas: &[CaCertificate],
        allow_partial_chain: bool,
    ) -> Result<TrustSet, String> {
        let mut set = TrustSet {
            anchors: Vec::new(),
            anchor_ids: Vec::new(),
            known_intermediates: Vec::new(),
            subjects: Vec::new(),
            cas: Vec::new(),
        };
        for id in ids {
            let entity = cas
                .iter()
                .find(|ca| ca.id.to_string() == *id)
                .ok_or_else(|| format!("CA Certificate '{id}' does not exist"))?;
            let der = CertificateDer::pem_slice_iter(entity.cert.as_bytes())
                .next()
                .and_then(Result::ok)
                .ok_or_else(|| format!("CA Certificate '{id}' is not a PEM certificate"))?;
            let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref())
                .map_err(|e| format!("CA Certificate '{id}': {e}"))?;
            let self_signed = parsed.subject().as_raw() == parsed.issuer().as_raw();
            set.subjects.push(parsed.subject().as_raw().to_vec());
            set.cas.push(der.clone().into_owned());
            if allow_partial_chain || self_signed {
                let anchor = webpki::anchor_from_trusted_cert(&der)
                    .map_err(|e| format!("CA Certificate '{id}': {e}"))?
                    .to_owned();
                set.anchors.push(anchor);
                set.anchor_ids.push(entity.id);
            } else {
                set.known_intermediates.push(der.into_owned());
            }
        }
        Ok(set)
    }

    fn intermediates(&self, chain: &[CertificateDer<'static>]) -> Vec<CertificateDer<'static>> {
        chain
            .iter()
            .skip(1)
            .chain(self.known_intermediates.iter())
            .cloned()
            .collect()
    }

    /// Verifies `chain` (leaf first, as the client sent it) at the current time, returning
    /// the id of the CA certificate the verified path ends at (Kong: the last certificate
    /// of the proof chain, which mtls-auth's `ca_certificate` mappings are matched with).
    /// The error is the reason nginx would report (`$ssl_client_verify` = `FAILED:<reason>`).
    pub fn verify(&self, chain: &[CertificateDer<'static>]) -> Result<Option<Uuid>, String> {
        let leaf = chain.first().ok_or("no certificate")?;
        let cert = EndEntityCert::try_from(leaf).map_err(|e| reason(&e))?;
        let intermediates = self.intermediates(chain);
        let path = cert
            .verify_for_usage(
                algorithms(),
                &self.anchors,
                &intermediates,
                UnixTime::now(),
                AnyUsage,
                None,
                None,
            )
            .map_err(|e| match e {
                webpki::Error::UnknownIssuer => unknown_issuer(chain).to_string(),
                other => reason(&other),
            })?;
        let anchor = path.anchor();
        Ok(self
            .anchors
            .iter()
            .position(|a| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .and_then(|i| self.anchor_ids.get(i).copied()))
    }

    /// Whether `crls` revoke the leaf of `chain` (which [`TrustSet::verify`] accepted).
    pub fn revocation(
        &self,
        chain: &[CertificateDer<'static>],
        crls: &[Arc<CertRevocationList<'static>>],
    ) -> Revocation {
        let Some(leaf) = chain.first() else {
            return Revocation::Unknown;
        };
        let Ok(cert) = EndEntityCert::try_from(leaf) else {
            return Revocation::Unknown;
        };
        let lists: Vec<&CertRevocationList<'_>> = crls.iter().map(|c| c.as_ref()).collect();
        let Ok(builder) = RevocationOptionsBuilder::new(&lists) else {
            return Revocation::Unknown;
        };
        let options = builder
            .with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build();
        let intermediates = self.intermediates(chain);
        match cert.verify_for_usage(
            algorithms(),
            &self.anchors,
            &intermediates,
            UnixTime::now(),
            AnyUsage,
            Some(options),
            None,
        ) {
            Ok(_) => Revocation::Good,
            Err(webpki::Error::CertRevoked) => Revocation::Revoked,
            Err(_) => Revocation::Unknown,
        }
    }

    /// The certificate that issued the leaf of `chain`: among the chain's other
    /// certificates and the configured CAs, one named as the leaf's issuer whose key
    /// verifies the leaf's signature.
    pub fn issuer_of(&self, chain: &[CertificateDer<'static>]) -> Option<CertificateDer<'static>> {
        let leaf = chain.first()?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let signed = Signed::parse(leaf.as_ref())?;
        chain
            .iter()
            .skip(1)
            .chain(self.cas.iter())
            .find(|candidate| {
                x509_parser::parse_x509_certificate(candidate.as_ref()).is_ok_and(|(_, c)| {
                    c.subject().as_raw() == parsed.issuer().as_raw()
                        && signed.verified_by(c.public_key().raw)
                })
            })
            .cloned()
    }
}

fn self_signed(cert: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(cert.as_ref())
        .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
}

/// OpenSSL's reasons for a chain that reaches no trusted certificate.
fn unknown_issuer(chain: &[CertificateDer<'_>]) -> &'static str {
    match chain {
        [leaf] if self_signed(leaf) => "self-signed certificate",
        [_, .., last] if self_signed(last) => "self-signed certificate in certificate chain",
        _ => "unable to get local issuer certificate",
    }
}

/// OpenSSL's wording for the verification failures webpki reports.
fn reason(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => "certificate has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "certificate is not yet valid".into(),
        webpki::Error::UnknownIssuer => "unable to get local issuer certificate".into(),
        webpki::Error::InvalidSignatureForPublicKey
        | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | webpki::Error::UnsupportedSignatureAlgorithmContext(_) => {
            "certificate signature failure".into()
        }
        webpki::Error::BadDer | webpki::Error::BadDerTime => {
            "unable to decode issuer public key".into()
        }
        other => other.to_string(),
    }
}
