//! Cluster certificate generation (rcgen), for `portico-cp certs generate` and for tests.
//!
//! Keys are ECDSA P-256. Certificates carry the names a peer may dial; in shared mode the
//! names do not matter (peers compare the whole certificate), in pki mode the data plane
//! checks the control plane's name.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// Names every control-plane (and shared) certificate carries, so a data plane on the same
/// host can dial it by any of them.
pub const DEFAULT_CP_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Kong's `kong hybrid gen_cert` default lifetime: three years.
pub const DEFAULT_VALIDITY_DAYS: u32 = 3 * 365;

/// When a certificate is valid: from `backdate_days` days before now, for `days` days.
/// A `backdate_days` larger than `days` yields an already expired certificate (for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub days: u32,
    pub backdate_days: u32,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            days: DEFAULT_VALIDITY_DAYS,
            backdate_days: 0,
        }
    }
}

impl Validity {
    fn apply(self, params: &mut CertificateParams) {
        const DAY: Duration = Duration::from_secs(86_400);
        // A minute of slack absorbs clock skew between the generating and verifying hosts.
        let start = SystemTime::now() - DAY * self.backdate_days - Duration::from_secs(60);
        params.not_before = start.into();
        params.not_after = (start + DAY * self.days).into();
    }
}

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemPair {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid certificate name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// The one certificate of shared mode, used by the control plane and every data plane.
/// It names [`DEFAULT_CP_NAMES`] and `extra_names`.
pub fn shared(extra_names: &[String], validity: Validity) -> Result<PemPair, GenerateError> {
    let mut params = leaf_params("portico_clustering", &cp_names(extra_names))?;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity.apply(&mut params);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate authority for pki mode.
pub struct CertAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    key_pem: String,
}

impl CertAuthority {
    pub fn new(validity: Validity) -> Result<CertAuthority, GenerateError> {
        let mut params = CertificateParams::default();
        // A unique name per CA: with two CAs of the same name, a certificate of the other one
        // fails as "bad signature" instead of the clearer "unknown issuer".
        let suffix: u32 = rand::random();
        params.distinguished_name = name(&format!("Portico cluster CA {suffix:08x}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity.apply(&mut params);
        let key = KeyPair::generate()?;
        let key_pem = key.serialize_pem();
        let issuer = CertifiedIssuer::self_signed(params, key)?;
        Ok(CertAuthority { issuer, key_pem })
    }

    /// The CA certificate and key.
    pub fn pem(&self) -> PemPair {
        PemPair {
            cert_pem: self.issuer.pem(),
            key_pem: self.key_pem.clone(),
        }
    }

    /// The control plane's server certificate, naming [`DEFAULT_CP_NAMES`] and `extra_names`.
    pub fn issue_control_plane(
        &self,
        extra_names: &[String],
        validity: Validity,
    ) -> Result<PemPair, GenerateError> {
        let mut params = leaf_params("portico-control-plane", &cp_names(extra_names))?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, validity)
    }

    /// A data plane's client certificate; `name` becomes its common name (and a DNS name
    /// when it is one).
    pub fn issue_data_plane(
        &self,
        name: &str,
        validity: Validity,
    ) -> Result<PemPair, GenerateError> {
        let mut params = leaf_params(name, &[])?;
        if let Ok(dns) = name.to_owned().try_into() {
            params.subject_alt_names = vec![SanType::DnsName(dns)];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, validity)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        validity: Validity,
    ) -> Result<PemPair, GenerateError> {
        validity.apply(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn cp_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_CP_NAMES.iter().map(|s| s.to_string()).collect();
    for n in extra {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

fn leaf_params(common_name: &str, sans: &[String]) -> Result<CertificateParams, GenerateError> {
    let mut params =
        CertificateParams::new(sans.to_vec()).map_err(|e| GenerateError::InvalidName {
            name: sans.join(","),
            reason: e.to_string(),
        })?;
    params.distinguished_name = name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Portico");
    dn
}
