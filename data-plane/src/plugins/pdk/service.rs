//! `kong.service.*`: where and how this request connects upstream. Each call affects
//! only the current request.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;

use super::{Kong, PdkError, Phase, check_phase};

/// Phases of `set_tls_*` (Kong: rewrite, access, balancer; balancer is part of access here).
const TLS_PHASES: &[Phase] = &[Phase::Rewrite, Phase::Access];

/// `kong.service`.
pub struct Service<'k, 'a> {
    kong: &'k mut Kong<'a>,
}

impl<'a> Kong<'a> {
    pub fn service(&mut self) -> Service<'_, 'a> {
        Service { kong: self }
    }
}

/// `ngx.ssl.parse_pem_cert`: a PEM chain for [`Service::set_tls_cert_key`].
pub fn parse_pem_cert(pem: &str) -> Result<Vec<CertificateDer<'static>>, PdkError> {
    crate::tls::pem::parse_certificates(pem).map_err(|e| PdkError::Argument(e.to_string()))
}

/// `ngx.ssl.parse_pem_priv_key`: a PEM private key for [`Service::set_tls_cert_key`].
pub fn parse_pem_priv_key(pem: &str) -> Result<PrivateKeyDer<'static>, PdkError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PdkError::Argument(e.to_string()))
}

/// A trust store from PEM CA certificates, for [`Service::set_tls_verify_store`].
pub fn trust_store(pem: &str) -> Result<Arc<RootCertStore>, PdkError> {
    let mut store = RootCertStore::empty();
    for cert in parse_pem_cert(pem)? {
        store
            .add(cert)
            .map_err(|e| PdkError::Argument(e.to_string()))?;
    }
    Ok(Arc::new(store))
}

impl Service<'_, '_> {
    /// Balances this request over the upstream entity named `host`
    /// (`kong.service.set_upstream`, access only).
    pub fn set_upstream(&mut self, host: &str) -> Result<(), PdkError> {
        check_phase(self.kong.phase, &[Phase::Access])?;
        if self.kong.runtime.upstream(host).is_none() {
            return Err(PdkError::Failed(format!(
                "could not find an Upstream named '{host}'"
            )));
        }
        let overrides = &mut self.kong.ctx.overrides;
        overrides.upstream = Some(host.to_string());
        overrides.target = None;
        Ok(())
    }

    /// Connects to `host:port` instead of balancing (`kong.service.set_target`, access
    /// only); retries and health checks do not apply.
    pub fn set_target(&mut self, host: &str, port: i64) -> Result<(), PdkError> {
        check_phase(self.kong.phase, &[Phase::Access])?;
        let port = u16::try_from(port).map_err(|_| {
            PdkError::Argument(format!(
                "port must be an integer between 0 and 65535: given {port}"
            ))
        })?;
        self.kong.ctx.overrides.target = Some((host.to_string(), port));
        Ok(())
    }

    /// The client certificate presented to the upstream (`kong.service.set_tls_cert_key`).
    pub fn set_tls_cert_key(
        &mut self,
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'_>,
    ) -> Result<(), PdkError> {
        check_phase(self.kong.phase, TLS_PHASES)?;
        if chain.is_empty() {
            return Err(PdkError::Argument(
                "chain must contain a certificate".into(),
            ));
        }
        let signing = rustls::crypto::ring::sign::any_supported_type(key)
            .map_err(|e| PdkError::Failed(format!("unsupported private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(e) => {
                return Err(PdkError::Failed(format!(
                    "certificate and key do not match: {e}"
                )));
            }
        }
        self.kong.ctx.overrides.tls_client_certificate = Some(Arc::new(certified));
        Ok(())
    }

    /// Turns upstream certificate verification on or off (`kong.service.set_tls_verify`).
    pub fn set_tls_verify(&mut self, on: bool) -> Result<(), PdkError> {
        check_phase(self.kong.phase, TLS_PHASES)?;
        self.kong.ctx.overrides.tls_verify = Some(on);
        Ok(())
    }

    /// Maximum chain depth when verifying the upstream certificate
    /// (`kong.service.set_tls_verify_depth`); must be non-negative.
    pub fn set_tls_verify_depth(&mut self, depth: i64) -> Result<(), PdkError> {
        check_phase(self.kong.phase, TLS_PHASES)?;
        let depth = u32::try_from(depth).map_err(|_| {
            PdkError::Argument(format!(
                "depth must be a non-negative integer: given {depth}"
            ))
        })?;
        self.kong.ctx.overrides.tls_verify_depth = Some(depth);
        Ok(())
    }

    /// The CA store to verify the upstream certificate with
    /// (`kong.service.set_tls_verify_store`).
    pub fn set_tls_verify_store(&mut self, store: Arc<RootCertStore>) -> Result<(), PdkError> {
        check_phase(self.kong.phase, TLS_PHASES)?;
        self.kong.ctx.overrides.tls_verify_store = Some(store);
        Ok(())
    }
}
