//! Downstream TLS: the certificate served for each client SNI, chosen as Kong chooses it.
//!
//! Lookup order for a client SNI `name` (Kong's `find_certificate`): the exact name, then
//! the prefix wildcard (`*.` plus `name` without its first label, only when `name` has at
//! least three labels), then the suffix wildcard (`name` without its last label plus `.*`),
//! then the SNI named `*`, then the built-in default certificate (self-signed, CN
//! `localhost`). No SNI (or one rustls rejects as invalid: an IP address, a malformed name)
//! gets the `*` certificate or the default.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName};
use rustls::{ServerConfig, SignatureScheme};

use super::pem::PemError;
use crate::plugins::pdk::certificate::TlsDecisions;

/// A certificate entity compiled for serving: the primary chain and an optional
/// alternative (Kong's `cert_alt`/`key_alt`, typically ECDSA next to RSA).
#[derive(Debug)]
pub struct ServedCertificate {
    pub primary: Arc<CertifiedKey>,
    pub alternate: Option<Arc<CertifiedKey>>,
}

impl ServedCertificate {
    /// The alternate key when the client cannot verify signatures of the primary one.
    fn choose(&self, schemes: &[SignatureScheme]) -> Arc<CertifiedKey> {
        if let Some(alt) = &self.alternate
            && self.primary.key.choose_scheme(schemes).is_none()
            && alt.key.choose_scheme(schemes).is_some()
        {
            return alt.clone();
        }
        self.primary.clone()
    }
}

/// The SNI -> certificate table of one runtime. Implements rustls' certificate resolution.
#[derive(Debug)]
pub struct SniResolver {
    by_name: HashMap<String, Arc<ServedCertificate>>,
    default: Arc<ServedCertificate>,
}

impl SniResolver {
    /// `snis` maps lower-case SNI names (exact, `*.x`, `x.*` or `*`) to certificates.
    pub fn new(
        snis: HashMap<String, Arc<ServedCertificate>>,
        builtin_default: Arc<ServedCertificate>,
    ) -> SniResolver {
        let default = snis.get("*").cloned().unwrap_or(builtin_default);
        SniResolver {
            by_name: snis,
            default,
        }
    }

    /// The certificate for a client SNI (None: no SNI sent).
    pub fn lookup(&self, sni: Option<&str>) -> &Arc<ServedCertificate> {
        let Some(sni) = sni else {
            return &self.default;
        };
        let sni = sni.to_ascii_lowercase();
        if let Some(found) = self.by_name.get(&sni) {
            return found;
        }
        let (prefix, suffix) = wildcard_forms(&sni);
        for candidate in [prefix, suffix].into_iter().flatten() {
            if let Some(found) = self.by_name.get(&candidate) {
                return found;
            }
        }
        &self.default
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.lookup(hello.server_name())
                .choose(hello.signature_schemes()),
        )
    }
}

/// Kong's `produce_wild_snis`: the prefix- and suffix-wildcard names to look up for `sni`.
pub fn wildcard_forms(sni: &str) -> (Option<String>, Option<String>) {
    let star = sni.find('*');
    let prefix = match star {
        Some(0) => Some(sni.to_string()),
        Some(_) => None,
        // `a.b.c` -> `*.b.c`; needs a first label and at least two more.
        None => sni.split_once('.').and_then(|(first, rest)| {
            (!first.is_empty() && rest.contains('.') && !rest.starts_with('.'))
                .then(|| format!("*.{rest}"))
        }),
    };
    let suffix = match star {
        Some(i) if i + 1 == sni.len() => Some(sni.to_string()),
        Some(_) => None,
        // `a.b` -> `a.*`
        None => sni.rsplit_once('.').and_then(|(head, last)| {
            (!head.is_empty() && !last.is_empty()).then(|| format!("{head}.*"))
        }),
    };
    (prefix, suffix)
}

/// The built-in default certificate: self-signed, CN and SAN `localhost`, generated once
/// per process (like Kong's default certificate, generated at first start).
pub fn builtin_default_certificate() -> Result<Arc<ServedCertificate>, PemError> {
    static DEFAULT: OnceLock<Result<Arc<ServedCertificate>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| generate_localhost().map_err(|e| e.to_string()))
        .clone()
        .map_err(PemError::Certificate)
}

fn generate_localhost() -> Result<Arc<ServedCertificate>, PemError> {
    let key = rcgen::KeyPair::generate().map_err(|e| PemError::Key(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| PemError::Certificate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Portico");
    let cert = params
        .self_signed(&key)
        .map_err(|e| PemError::Certificate(e.to_string()))?;
    let certified = super::pem::parse_certified_key(&cert.pem(), &key.serialize_pem())?;
    Ok(Arc::new(ServedCertificate {
        primary: certified,
        alternate: None,
    }))
}

/// The proxy's TLS server configuration for one runtime: ALPN `h2` then `http/1.1`, the
/// certificate chosen by [`SniResolver`].
pub fn server_config(resolver: Arc<SniResolver>) -> Arc<ServerConfig> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| b.with_no_client_auth().with_cert_resolver(resolver.clone()))
            // The ring provider supports the safe defaults; this branch is unreachable in practice
            // but must not panic.
            .unwrap_or_else(|_| {
                ServerConfig::builder()
                    .with_no_client_auth()
                    .with_cert_resolver(resolver)
            });
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The proxy's TLS server configuration for a connection whose certificate phase made
/// `decisions`: the same certificates, plus an optional client-certificate request (any
/// chain is accepted at the handshake; plugins verify it) and no session reuse.
pub fn server_config_with(
    resolver: Arc<SniResolver>,
    decisions: TlsDecisions,
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        // Unreachable with the ring provider; serve the plain configuration rather than panic.
        Err(_) => return server_config(resolver),
    };
    let mut config = if decisions.request_client_certificate {
        builder
            .with_client_cert_verifier(Arc::new(RequestedClientCert {
                provider,
                ca_names: decisions
                    .client_ca_names
                    .iter()
                    .map(|n| DistinguishedName::from(n.clone()))
                    .collect(),
            }))
            .with_cert_resolver(resolver)
    } else {
        builder.with_no_client_auth().with_cert_resolver(resolver)
    };
    if decisions.disable_session_reuse {
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `kong.client.tls.request_client_certificate`: asks for a certificate without requiring
/// one, and accepts whatever chain is presented (nginx's `ssl_verify_client
/// optional_no_ca`); the handshake signature is still checked, so the client holds the
/// key. Plugins (mtls-auth) decide whether the chain is trusted.
#[derive(Debug)]
struct RequestedClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// `certificate_authorities` of the request (empty unless a plugin listed CAs).
    ca_names: Vec<DistinguishedName>,
}

impl ClientCertVerifier for RequestedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.ca_names
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_forms_follow_kong() {
        assert_eq!(
            wildcard_forms("test.wildcard.com"),
            (
                Some("*.wildcard.com".to_string()),
                Some("test.wildcard.*".to_string())
            )
        );
        assert_eq!(
            wildcard_forms("wildcard.eu"),
            (None, Some("wildcard.*".to_string()))
        );
        assert_eq!(wildcard_forms("localhost"), (None, None));
        assert_eq!(
            wildcard_forms("*.foo.com"),
            (Some("*.foo.com".to_string()), None)
        );
        assert_eq!(wildcard_forms("foo.*"), (None, Some("foo.*".to_string())));
    }
}
