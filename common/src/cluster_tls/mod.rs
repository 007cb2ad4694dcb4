//! mTLS between control plane and data planes (rustls), in Kong's two modes.
//!
//! - **shared** (`--cluster-mtls shared`): the control plane and every data plane use one
//!   certificate and key. Each side accepts only a peer presenting exactly that certificate
//!   (end-entity DER comparison plus the usual handshake signature check, so holding the
//!   private key is required), within its validity dates.
//! - **pki** (`--cluster-mtls pki`): a CA (`--cluster-ca-cert`) signs the control plane's and
//!   each data plane's certificate; both sides verify the peer's chain against it (dates
//!   included), and the data plane checks the control plane's name
//!   (`--cluster-server-name`, default: the host it dials).
//!
//! [`ClusterTls`] loads the files once; [`ClusterTls::server_config`] (control plane) and
//! [`ClusterTls::client_config`] (data plane) build the rustls configurations. Both offer only
//! ALPN `h2` (the sync protocol is gRPC). The crypto provider is always ring, passed
//! explicitly, so no process-wide default provider is needed.

pub mod generate;
mod pinned;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

pub use pinned::{NotTheSharedCertificate, check_validity};

/// How control plane and data planes authenticate each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MtlsMode {
    #[default]
    Shared,
    Pki,
}

impl MtlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Shared => "shared",
            MtlsMode::Pki => "pki",
        }
    }
}

impl fmt::Display for MtlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MtlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(MtlsMode::Shared),
            "pki" => Ok(MtlsMode::Pki),
            other => Err(format!(
                "unknown cluster mTLS mode {other:?} (expected shared or pki)"
            )),
        }
    }
}

/// Why the cluster TLS material could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} contains no PEM certificate")]
    NoCertificate { what: &'static str },
    #[error("{what} is not a valid PEM file: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("--cluster-mtls pki needs --cluster-ca-cert")]
    MissingCa,
    #[error("--cluster-ca-cert: {0}")]
    BadCa(String),
    #[error("cluster certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The cluster TLS material of one node, loaded and parsed.
#[derive(Debug)]
pub struct ClusterTls {
    mode: MtlsMode,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ClusterTls {
    /// Reads `--cluster-cert`, `--cluster-cert-key` and (pki mode) `--cluster-ca-cert`.
    pub fn load(
        mode: MtlsMode,
        cert: &Path,
        key: &Path,
        ca: Option<&Path>,
    ) -> Result<ClusterTls, TlsSetupError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| TlsSetupError::Read {
                what,
                path: path.to_owned(),
                source,
            })
        };
        let cert_pem = read("cluster certificate", cert)?;
        let key_pem = read("cluster certificate key", key)?;
        let ca_pem = ca.map(|p| read("cluster CA certificate", p)).transpose()?;
        ClusterTls::from_pem(mode, &cert_pem, &key_pem, ca_pem.as_deref())
    }

    /// Parses PEM material. In pki mode `ca_pem` is required; in shared mode it is ignored.
    pub fn from_pem(
        mode: MtlsMode,
        cert_pem: &[u8],
        key_pem: &[u8],
        ca_pem: Option<&[u8]>,
    ) -> Result<ClusterTls, TlsSetupError> {
        let chain = certificates("cluster certificate", cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsSetupError::Pem {
            what: "cluster certificate key",
            reason: e.to_string(),
        })?;
        let roots = match mode {
            MtlsMode::Shared => None,
            MtlsMode::Pki => {
                let ca_pem = ca_pem.ok_or(TlsSetupError::MissingCa)?;
                let mut roots = RootCertStore::empty();
                for ca in certificates("cluster CA certificate", ca_pem)? {
                    roots
                        .add(ca)
                        .map_err(|e| TlsSetupError::BadCa(e.to_string()))?;
                }
                Some(Arc::new(roots))
            }
        };
        let tls = ClusterTls {
            mode,
            chain,
            key,
            roots,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        };
        // Fail at start-up, not at the first handshake, when key and certificate differ.
        tls.server_config()?;
        Ok(tls)
    }

    pub fn mode(&self) -> MtlsMode {
        self.mode
    }

    /// This node's own (end-entity) certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// Why this node's own certificate is unusable right now (expired or not yet valid),
    /// for a start-up warning; peers will refuse it.
    pub fn own_certificate_problem(&self) -> Option<String> {
        check_validity(self.certificate(), UnixTime::now())
            .err()
            .map(|e| format!("the cluster certificate is unusable: {e}"))
    }

    /// The control plane's configuration: requires and verifies a client certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsSetupError> {
        let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match &self.roots {
            None => Arc::new(pinned::PinnedCertVerifier::new(
                self.certificate().clone(),
                self.provider.clone(),
            )),
            Some(roots) => {
                WebPkiClientVerifier::builder_with_provider(roots.clone(), self.provider.clone())
                    .build()
                    .map_err(|e| TlsSetupError::BadCa(e.to_string()))?
            }
        };
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// The data plane's configuration: presents the cluster certificate and verifies the
    /// control plane's (pinned in shared mode; chain and name in pki mode — the name is the
    /// `ServerName` given when connecting, see [`server_name`]).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.roots {
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(pinned::PinnedCertVerifier::new(
                    self.certificate().clone(),
                    self.provider.clone(),
                ))),
            Some(roots) => {
                let verifier = WebPkiServerVerifier::builder_with_provider(
                    roots.clone(),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| TlsSetupError::BadCa(e.to_string()))?;
                builder.with_webpki_verifier(verifier)
            }
        };
        let mut config = builder.with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The name a data plane expects in the control plane's certificate: `--cluster-server-name`
/// when given, else the host it dials. In shared mode the name is not checked, and a host
/// that is not a valid DNS name or IP address falls back to a fixed placeholder.
pub fn server_name(
    mode: MtlsMode,
    dialed_host: &str,
    configured: Option<&str>,
) -> Result<ServerName<'static>, String> {
    let host = configured.unwrap_or(dialed_host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match ServerName::try_from(host.to_owned()) {
        Ok(name) => Ok(name),
        Err(_) if mode == MtlsMode::Shared => Ok(ServerName::try_from("portico-cluster")
            .map_err(|e| e.to_string())?
            .to_owned()),
        Err(e) => Err(format!("invalid cluster server name {host:?}: {e}")),
    }
}

/// What `/clustering/data-planes` shows of a peer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    /// `notAfter`, seconds since the Unix epoch (Kong's `cert_details.expiry_timestamp`).
    pub expiry_timestamp: i64,
    pub subject: String,
}

/// Reads the details of a DER certificate; `None` if it does not parse.
pub fn cert_details(cert: &CertificateDer<'_>) -> Option<CertDetails> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(CertDetails {
        expiry_timestamp: parsed.validity().not_after.timestamp(),
        subject: parsed.subject().to_string(),
    })
}

fn certificates(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { what });
    }
    Ok(certs)
}

/// A one-line, operator-facing reason for a failed cluster TLS handshake or connection:
/// finds the rustls error in `err`'s source chain (through io, hyper and tonic layers) and
/// says what it means for the cluster.
pub fn explain_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return explain_rustls(tls);
        }
        // An io::Error's `source()` skips the error it wraps; look at that one itself.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    err.to_string()
}

fn explain_rustls(err: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::Other(other)) => format!("peer certificate refused: {}", other.0),
        E::InvalidCertificate(C::UnknownIssuer) => {
            "peer certificate refused: it is not signed by the cluster CA (unknown issuer)".into()
        }
        E::InvalidCertificate(C::BadSignature) => {
            "peer certificate refused: its signature does not verify against the cluster CA".into()
        }
        E::InvalidCertificate(c) => format!("peer certificate refused: {c}"),
        E::NoCertificatesPresented => "the peer presented no client certificate".into(),
        E::AlertReceived(alert) => {
            let why = match alert {
                A::CertificateExpired => "our certificate is expired or not yet valid",
                A::UnknownCA => "our certificate is not signed by a CA the peer trusts",
                A::CertificateUnknown | A::BadCertificate => {
                    "the peer does not accept our certificate"
                }
                A::CertificateRequired => "the peer requires a client certificate",
                A::DecryptError => "a signature did not verify (certificate from another CA?)",
                _ => "the peer aborted the handshake",
            };
            format!("refused by the peer: {why} (TLS alert {alert:?}; the peer's log has details)")
        }
        other => format!("TLS error: {other}"),
    }
}
