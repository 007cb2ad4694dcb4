//! mtls-auth (Kong Gateway Enterprise's plugin, PRIORITY 1600), built on the client TLS
//! PDK: every TLS client is asked for a certificate (wherever the plugin is configured,
//! as Kong does), the chain is verified against the configured `ca_certificates`, and
//! the certificate's subject (CN, then DNS SANs) is matched to a consumer's username or
//! custom id. Consumers are found by `consumer_by`; explicit `mtls_auth_credentials`
//! mappings and revocation checks (OCSP/CRL) are not available here: `STRICT`
//! revocation checking is refused when compiled, the other modes check nothing.

use std::sync::Arc;

use async_trait::async_trait;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use serde::Deserialize;
use sha2::Digest;

use super::acl::AuthenticatedGroups;
use super::auth::{self, Authenticate};
use super::credentials::Credential;
use super::pdk::certificate::CertificatePhase;
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    anonymous: Option<String>,
    consumer_by: Vec<String>,
    ca_certificates: Vec<uuid::Uuid>,
    skip_consumer_lookup: bool,
    authenticated_group_by: String,
    revocation_check_mode: String,
    default_consumer: Option<String>,
}

pub struct MtlsAuth {
    config: Config,
    verifier: Arc<dyn ClientCertVerifier>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    if config.revocation_check_mode == "STRICT" {
        return Err("revocation_check_mode STRICT (OCSP/CRL checks) is not supported".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for id in &config.ca_certificates {
        let ca = cx
            .config
            .ca_certificates
            .iter()
            .find(|c| c.id == *id)
            .ok_or_else(|| format!("ca_certificate {id} not found"))?;
        for cert in crate::tls::pem::parse_certificates(&ca.cert).map_err(|e| e.to_string())? {
            roots
                .add(cert)
                .map_err(|e| format!("ca_certificate {id}: {e}"))?;
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        crate::tls::client::provider(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(MtlsAuth { config, verifier }))
}

/// The subject's common name, its DN, and its DNS SANs.
fn subject(cert: &CertificateDer<'_>) -> Option<(Option<String>, String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let dn = parsed.subject().to_string();
    let sans = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((cn, dn, sans))
}

fn failed() -> Exit {
    Exit::error(401, "TLS certificate failed verification")
}

#[async_trait]
impl Authenticate for MtlsAuth {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let chain: Vec<CertificateDer<'static>> = kong
            .client()
            .tls_client_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Exit::error(401, "No required TLS certificate was sent"));
        };
        if let Err(e) = self
            .verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
        {
            let _ = kong.client().tls_set_client_verify(&format!("FAILED:{e}"));
            return Err(failed());
        }
        let _ = kong.client().tls_set_client_verify("SUCCESS");
        let (cn, dn, sans) = subject(leaf).ok_or_else(failed)?;
        let fingerprint = sha2::Sha256::digest(leaf.as_ref());
        let credential_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &fingerprint);
        if self.config.skip_consumer_lookup {
            let group = if self.config.authenticated_group_by == "DN" {
                Some(dn)
            } else {
                cn.clone()
            };
            kong.shared()
                .insert(AuthenticatedGroups(group.into_iter().collect()));
            let credential = Credential {
                id: credential_id,
                consumer_id: None,
                identifier: cn,
            };
            auth::set_consumer(kong, None, Some(credential));
            return Ok(());
        }
        let names: Vec<String> = cn.iter().cloned().chain(sans).collect();
        let runtime = kong.runtime();
        let by_username = self.config.consumer_by.iter().any(|c| c == "username");
        let by_custom_id = self.config.consumer_by.iter().any(|c| c == "custom_id");
        let consumer = names.iter().find_map(|name| {
            runtime.source().consumers.iter().find(|c| {
                (by_username && c.username.as_deref() == Some(name.as_str()))
                    || (by_custom_id && c.custom_id.as_deref() == Some(name.as_str()))
            })
        });
        let consumer = match consumer {
            Some(c) => runtime.consumer(&c.id).cloned(),
            None => self.config.default_consumer.as_deref().and_then(|d| {
                d.parse::<uuid::Uuid>()
                    .ok()
                    .and_then(|id| runtime.consumer(&id).cloned())
                    .or_else(|| runtime.consumer_by_name(d).cloned())
            }),
        };
        let consumer = consumer.ok_or_else(failed)?;
        let credential = Credential {
            id: credential_id,
            consumer_id: Some(consumer.id),
            identifier: cn,
        };
        auth::set_consumer(kong, Some(consumer), Some(credential));
        Ok(())
    }
}

#[async_trait]
impl Plugin for MtlsAuth {
    fn certificate(&self, tls: &mut CertificatePhase<'_>) {
        let _ = tls.request_client_certificate();
    }

    fn certificate_when_scoped(&self) -> bool {
        true
    }

    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        auth::authenticate(self, kong, self.config.anonymous.as_deref()).await
    }
}
