//! mtls-auth (Kong Enterprise's `kong/plugins/mtls-auth`, PRIORITY 1600): the client
//! presents a certificate in the TLS handshake; it must chain to one of the configured
//! `ca_certificates`, and its subject names identify the consumer.
//!
//! - Handshake (`certificate`, for every instance, filtered by the SNIs of the routes the
//!   instance applies to, see [`sni`]): `request_client_certificate` (with the CAs' names
//!   when `send_ca_dn`) and `disable_session_reuse`, so the chain is known to every
//!   request of the connection.
//! - `access`: no chain → 401 `No required TLS certificate was sent`; a chain that does
//!   not verify ([`trust`]), is revoked ([`revocation`]) or matches no consumer → 401
//!   `TLS certificate failed verification`; the outcome goes to the log entry through
//!   `set_client_verify`. Consumers are matched on the names of [`names::Subject`]:
//!   first by the `mtls_auth_credentials` mappings (each name in turn: the mapping for
//!   the CA the chain was verified against, then the mapping for any CA), then by
//!   `consumer_by` (username, custom_id), then `default_consumer`; with
//!   `skip_consumer_lookup` the certificate's CN or DN becomes the authenticated group
//!   and `X-Client-Cert-DN` / `X-Client-Cert-SAN` go upstream instead.
//!
//! Revocation ([`revocation`]): the certificate's OCSP responder first ([`ocsp`]), then
//! its CRL distribution points.

mod names;
mod ocsp;
mod revocation;
mod signed;
mod sni;
mod trust;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use self::names::Subject;
use self::revocation::{RevocationCheck, StatusCache};
use self::sni::SniFilter;
use self::trust::TrustSet;
use super::acl::AuthenticatedGroups;
use super::auth::{self, Authenticate};
use super::credentials::{ConsumerKeys, Credential, SubjectMappings};
use super::http_client::{self, Proxy};
use super::{CertificatePhase, Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    anonymous: Option<String>,
    consumer_by: Option<Vec<String>>,
    ca_certificates: Vec<String>,
    skip_consumer_lookup: bool,
    allow_partial_chain: bool,
    authenticated_group_by: Option<String>,
    revocation_check_mode: Option<String>,
    http_timeout: Option<f64>,
    cert_cache_ttl: Option<f64>,
    send_ca_dn: Option<bool>,
    default_consumer: Option<String>,
    http_proxy_host: Option<String>,
    http_proxy_port: Option<u16>,
    https_proxy_host: Option<String>,
    https_proxy_port: Option<u16>,
    ssl_verify: Option<bool>,
    #[serde(default)]
    san_dirname_matcher: Option<Vec<String>>,
}

const NO_CERTIFICATE: &str = "No required TLS certificate was sent";
const FAILED: &str = "TLS certificate failed verification";

pub struct MtlsAuth {
    config: Config,
    /// The configured CAs, or why they cannot be used (answered with a 500, as Kong).
    trust: Result<TrustSet, String>,
    handshakes: SniFilter,
    /// `None` with `revocation_check_mode: SKIP`.
    revocation: Option<RevocationCheck>,
    consumers: Arc<ConsumerKeys>,
    mappings: Arc<SubjectMappings>,
}

fn proxy(host: &Option<String>, port: Option<u16>) -> Option<Proxy> {
    Some(Proxy {
        host: host.clone()?,
        port: port?,
    })
}

fn millis(value: Option<f64>, default: f64) -> Duration {
    Duration::from_secs_f64(value.unwrap_or(default).max(0.0) / 1000.0)
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let trust = TrustSet::build(
        &config.ca_certificates,
        &cx.config.ca_certificates,
        config.allow_partial_chain,
    );
    let revocation = match config.revocation_check_mode.as_deref() {
        Some("SKIP") => None,
        mode => Some(RevocationCheck {
            strict: mode == Some("STRICT"),
            http_timeout: millis(config.http_timeout, 30_000.0),
            cache_ttl: millis(config.cert_cache_ttl, 60_000.0),
            http_proxy: proxy(&config.http_proxy_host, config.http_proxy_port),
            https_proxy: proxy(&config.https_proxy_host, config.https_proxy_port),
            tls: http_client::tls_config(config.ssl_verify.unwrap_or(true), cx.node_trust.clone())?,
            dns: cx.dns.clone(),
            cache: cx
                .state
                .get_or_init("mtls-auth revocation", StatusCache::default),
        }),
    };
    Ok(Arc::new(MtlsAuth {
        handshakes: SniFilter::for_scope(cx.entity, cx.config),
        trust,
        revocation,
        consumers: cx.credentials.consumer_keys(),
        mappings: cx.credentials.mtls_auth(),
        config,
    }))
}

fn failed(kong: &mut Kong<'_>, reason: &str) -> Exit {
    let _ = kong
        .client()
        .tls_set_client_verify(&format!("FAILED:{reason}"));
    Exit::error(401, FAILED)
}

impl MtlsAuth {
    /// The consumer the certificate names: by a subject-name mapping, else by
    /// `consumer_by` on each name in turn, else `default_consumer`. `ca` is the CA
    /// certificate the chain was verified against.
    fn find_consumer(
        &self,
        kong: &mut Kong<'_>,
        subject: &Subject,
        ca: Option<uuid::Uuid>,
    ) -> Option<uuid::Uuid> {
        if let Some(id) = self.mapped_consumer(kong, subject, ca) {
            return Some(id);
        }
        let fields = self.config.consumer_by.as_deref().unwrap_or_default();
        for name in &subject.names {
            for field in fields {
                let found = match field.as_str() {
                    "username" => self.consumers.by_username.get(name),
                    "custom_id" => self.consumers.by_custom_id.get(name),
                    _ => None,
                };
                if let Some(id) = found {
                    return Some(*id);
                }
            }
        }
        let default = self.config.default_consumer.as_deref()?;
        let client = kong.client();
        default
            .parse::<uuid::Uuid>()
            .ok()
            .and_then(|id| client.load_consumer(&id))
            .or_else(|| {
                self.consumers
                    .by_username
                    .get(default)
                    .and_then(|id| client.load_consumer(id))
            })
            .map(|c| c.id)
    }

    /// Kong's `find_credential` for each name in turn: the mapping restricted to `ca`,
    /// then the one for any CA; a mapping whose consumer is gone is skipped.
    fn mapped_consumer(
        &self,
        kong: &mut Kong<'_>,
        subject: &Subject,
        ca: Option<uuid::Uuid>,
    ) -> Option<uuid::Uuid> {
        if self.mappings.is_empty() {
            return None;
        }
        let client = kong.client();
        subject.names.iter().find_map(|name| {
            let restricted = ca.and_then(|ca| self.mappings.consumer(name, Some(ca)));
            restricted
                .or_else(|| self.mappings.consumer(name, None))
                .and_then(|id| client.load_consumer(&id))
                .map(|c| c.id)
        })
    }

    /// `skip_consumer_lookup`: the certificate itself is the identity. The error is the
    /// verification failure to report.
    fn certificate_identity(
        &self,
        kong: &mut Kong<'_>,
        subject: &Subject,
    ) -> Result<(), &'static str> {
        let group = match self.config.authenticated_group_by.as_deref() {
            Some("DN") => Some(subject.dn.clone()),
            Some(_) => match &subject.common_name {
                Some(cn) => Some(cn.clone()),
                None => return Err("Certificate missing Common Name"),
            },
            None => None,
        };
        if let Some(group) = group {
            kong.shared().insert(AuthenticatedGroups(vec![group]));
        }
        let mut req = kong.service_request();
        let _ = req.set_header("X-Client-Cert-DN", &subject.dn);
        if !subject.names.is_empty() {
            let _ = req.set_header("X-Client-Cert-SAN", &subject.names.join(","));
        }
        Ok(())
    }
}

#[async_trait]
impl Authenticate for MtlsAuth {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let chain = match kong.client().tls_client_certificates() {
            Some(chain) if !chain.is_empty() => chain.to_vec(),
            other => {
                // A TLS connection whose client sent nothing; plain HTTP has no verdict.
                if other.is_some() || kong.context().conn.tls {
                    let _ = kong.client().tls_set_client_verify("NONE");
                }
                return Err(Exit::error(401, NO_CERTIFICATE));
            }
        };
        let trust = match &self.trust {
            Ok(trust) => trust,
            Err(e) => {
                tracing::error!(target: "mtls-auth", error = %e, "unusable CA certificates");
                return Err(Exit::error(500, "An unexpected error occurred"));
            }
        };
        let ca = match trust.verify(&chain) {
            Ok(ca) => ca,
            Err(reason) => {
                tracing::error!(target: "mtls-auth", %reason, "client certificate verify failed");
                return Err(failed(kong, &reason));
            }
        };
        if let Some(check) = &self.revocation
            && check.revoked(&chain, trust).await
        {
            return Err(failed(kong, "certificate revoked"));
        }
        let Ok((_, leaf)) = x509_parser::parse_x509_certificate(chain[0].as_ref()) else {
            return Err(failed(kong, "unable to parse certificate"));
        };
        let matcher = self
            .config
            .san_dirname_matcher
            .as_deref()
            .unwrap_or_default();
        let subject = Subject::of(&leaf, matcher);
        if self.config.skip_consumer_lookup {
            if let Err(reason) = self.certificate_identity(kong, &subject) {
                return Err(failed(kong, reason));
            }
        } else {
            let Some(id) = self.find_consumer(kong, &subject, ca) else {
                tracing::warn!(
                    target: "mtls-auth",
                    cn = subject.common_name.as_deref().unwrap_or(""),
                    "certificate is valid but consumer matching failed"
                );
                return Err(failed(kong, "consumer not found"));
            };
            let consumer = kong.client().load_consumer(&id);
            let credential = Credential {
                id,
                consumer_id: Some(id),
                identifier: None,
            };
            auth::set_consumer(kong, consumer, Some(credential));
        }
        let _ = kong.client().tls_set_client_verify("SUCCESS");
        Ok(())
    }
}

#[async_trait]
impl Plugin for MtlsAuth {
    fn certificate(&self, tls: &mut CertificatePhase<'_>) {
        if !self.handshakes.matches(tls.sni()) {
            return;
        }
        let names = match (&self.trust, self.config.send_ca_dn) {
            (Ok(trust), Some(true)) => trust.subjects.as_slice(),
            _ => &[],
        };
        let _ = tls.request_client_certificate_with_ca_names(names);
        let _ = tls.disable_session_reuse();
    }

    fn certificate_when_scoped(&self) -> bool {
        true
    }

    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        auth::authenticate(self, kong, self.config.anonymous.as_deref()).await
    }
}
