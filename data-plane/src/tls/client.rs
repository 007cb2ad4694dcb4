//! Upstream TLS: the rustls client configuration a service's connections use.
//!
//! Kong's semantics: `tls_verify` unset means the node default (`proxy_ssl_verify off`), so
//! upstream certificates are not verified unless a service asks for it. With verification
//! on, the trust store is the service's `ca_certificates` or, when it has none, the node's
//! `lua_ssl_trusted_certificate` store (the system bundle by default). `tls_verify_depth`
//! caps the number of intermediate certificates (OpenSSL's verify depth; nginx's default 1).
//! `client_certificate` is presented when the upstream asks for one.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

/// nginx's default `proxy_ssl_verify_depth`.
pub const DEFAULT_VERIFY_DEPTH: u32 = 1;

/// Everything that distinguishes one upstream TLS client configuration from another.
#[derive(Clone)]
pub struct UpstreamTls {
    pub verify: bool,
    pub verify_depth: u32,
    pub roots: Arc<RootCertStore>,
    pub client_certificate: Option<Arc<CertifiedKey>>,
    /// ALPN to offer: `h2` for gRPC upstreams, nothing for HTTP/1.1.
    pub alpn_h2: bool,
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration; fails only when the trust store is unusable for
/// verification (e.g. empty while `verify` is on).
pub fn client_config(settings: &UpstreamTls) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.verify {
        let inner =
            WebPkiServerVerifier::builder_with_provider(settings.roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("invalid upstream trust store: {e}"))?;
        Arc::new(DepthLimitedVerifier {
            inner,
            max_intermediates: settings.verify_depth,
        })
    } else {
        Arc::new(NoVerification { algorithms })
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_certificate {
        Some(key) => builder.with_client_cert_resolver(Arc::new(FixedClientCert(key.clone()))),
        None => builder.with_no_client_auth(),
    };
    if settings.alpn_h2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    Ok(Arc::new(config))
}

/// The server name to verify and send as SNI: an IP address sends no SNI (as Kong/nginx).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

/// `proxy_ssl_verify off`: the chain is not checked, but handshake signatures still are, so
/// the connection is at least bound to the certificate the server presented.
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for NoVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoVerification")
    }
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// WebPKI verification plus OpenSSL-style depth: at most `max_intermediates` CA
/// certificates between the leaf and the trust anchor. The count is taken from the chain
/// the server presents (self-issued roots it includes are not counted).
#[derive(Debug)]
struct DepthLimitedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    max_intermediates: u32,
}

impl ServerCertVerifier for DepthLimitedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        let counted = intermediates
            .iter()
            .filter(|c| !super::pem::is_self_issued(c))
            .count();
        if counted > self.max_intermediates as usize {
            return Err(Error::General(format!(
                "certificate chain too long: {counted} intermediates, verify depth {}",
                self.max_intermediates
            )));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hints: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Locations of the system CA bundle on common distributions (what Kong's `system` value
/// of `lua_ssl_trusted_certificate` looks for).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The node-wide trust store from `lua_ssl_trusted_certificate` entries: `system` or PEM
/// file paths. Without a system bundle on disk, `system` falls back to the Mozilla roots
/// compiled into the binary.
pub fn node_trust_store(entries: &[String]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for entry in entries {
        if entry == "system" {
            let bundle = SYSTEM_BUNDLES
                .iter()
                .find(|p| std::path::Path::new(p).exists());
            match bundle {
                Some(path) => add_pem_file(&mut store, path)?,
                None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
        } else {
            add_pem_file(&mut store, entry)?;
        }
    }
    Ok(store)
}

fn add_pem_file(store: &mut RootCertStore, path: &str) -> Result<(), String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let certs = super::pem::parse_certificates(&pem).map_err(|e| format!("{path}: {e}"))?;
    // System bundles carry a few certificates webpki cannot use; skip those, as OpenSSL does.
    let (_added, _ignored) = store.add_parsable_certificates(certs);
    Ok(())
}
