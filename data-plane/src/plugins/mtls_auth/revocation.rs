//! mtls-auth's revocation check (`revocation_check_mode` other than `SKIP`), in Kong's
//! order: the OCSP responder named in the client certificate's Authority Information
//! Access is asked first ([`super::ocsp`]); when it gives no answer (no responder,
//! unreachable, an answer that cannot be relied on, or `unknown`), the certificate's CRL
//! distribution points are downloaded and checked with webpki. Both go through the
//! plugin HTTP client (`http_timeout`, `http_proxy_*` / `https_proxy_*`, `ssl_verify`
//! for https). The outcome is cached per certificate for `cert_cache_ttl`
//! milliseconds; a check that could not decide is not cached, as in Kong, and the mode
//! decides (`IGNORE_CA_ERROR` accepts, `STRICT` refuses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};

use super::ocsp::{self, Query};
use super::trust::{Revocation, TrustSet};
use crate::balancer::Dns;
use crate::plugins::http_client::{self, Connect, Proxy, Target};

/// Largest CRL downloaded.
const CRL_LIMIT: usize = 16 * 1024 * 1024;
/// Largest OCSP response read.
const OCSP_LIMIT: usize = 1024 * 1024;

/// Revocation outcomes by certificate digest, shared by every instance and configuration.
#[derive(Default)]
pub struct StatusCache {
    entries: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

impl StatusCache {
    fn get(&self, key: &[u8; 32]) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(revoked, _)| *revoked)
    }

    fn put(&self, key: [u8; 32], revoked: bool, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Keep the map bounded by what is still fresh.
        if entries.len() > 10_000 {
            entries.retain(|_, (_, until)| *until > now);
        }
        entries.insert(key, (revoked, now + ttl));
    }
}

/// How one instance checks revocation.
pub struct RevocationCheck {
    pub strict: bool,
    pub http_timeout: Duration,
    pub cache_ttl: Duration,
    pub http_proxy: Option<Proxy>,
    pub https_proxy: Option<Proxy>,
    pub tls: Arc<ClientConfig>,
    pub dns: Arc<Dns>,
    pub cache: Arc<StatusCache>,
}

/// The CRL distribution point URLs (http, https) of a certificate.
fn crl_urls(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let mut urls = Vec::new();
    for ext in parsed.extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() else {
            continue;
        };
        for point in points.iter() {
            let Some(DistributionPointName::FullName(names)) = &point.distribution_point else {
                continue;
            };
            for name in names {
                if let GeneralName::URI(uri) = name
                    && (uri.starts_with("http://") || uri.starts_with("https://"))
                {
                    urls.push((*uri).to_string());
                }
            }
        }
    }
    urls
}

impl RevocationCheck {
    /// Whether the leaf of `chain` (verified against `trust`) counts as revoked.
    pub async fn revoked(&self, chain: &[CertificateDer<'static>], trust: &TrustSet) -> bool {
        let Some(leaf) = chain.first() else {
            return true;
        };
        let key: [u8; 32] = Sha256::digest(leaf.as_ref()).into();
        if let Some(revoked) = self.cache.get(&key) {
            return revoked;
        }
        let status = match self.ocsp(chain, trust).await {
            Revocation::Unknown => self.crl(chain, trust).await,
            known => known,
        };
        match status {
            Revocation::Good => {
                self.cache.put(key, false, self.cache_ttl);
                false
            }
            Revocation::Revoked => {
                self.cache.put(key, true, self.cache_ttl);
                true
            }
            Revocation::Unknown => {
                if self.strict {
                    tracing::error!(target: "mtls-auth", "fail to check revocation");
                } else {
                    tracing::info!(
                        target: "mtls-auth",
                        "fail to check revocation. Ignored this as `revocation_check_mode` is `IGNORE_CA_ERROR`."
                    );
                }
                self.strict
            }
        }
    }

    /// The leaf's status from its OCSP responders (the first that answers).
    async fn ocsp(&self, chain: &[CertificateDer<'static>], trust: &TrustSet) -> Revocation {
        let Some(Ok((_, leaf))) = chain
            .first()
            .map(|c| x509_parser::parse_x509_certificate(c.as_ref()))
        else {
            return Revocation::Unknown;
        };
        let urls = ocsp::responder_urls(&leaf);
        if urls.is_empty() {
            return Revocation::Unknown;
        }
        let query = trust
            .issuer_of(chain)
            .ok_or_else(|| "issuer not found".to_string());
        let query = query.and_then(|issuer| {
            let (_, issuer) =
                x509_parser::parse_x509_certificate(issuer.as_ref()).map_err(|e| e.to_string())?;
            let query = Query::new(&leaf, &issuer)?;
            let request = query.request()?;
            Ok((query, request))
        });
        let (query, request) = match query {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(target: "mtls-auth", error = %e, "OCSP verify");
                return Revocation::Unknown;
            }
        };
        for url in urls {
            let answer = self
                .fetch(&url, Some(&request), OCSP_LIMIT)
                .await
                .and_then(|body| query.status(&body, SystemTime::now()));
            match answer {
                Ok(Revocation::Unknown) => {
                    tracing::warn!(target: "mtls-auth", %url, "OCSP responder: status unknown")
                }
                Ok(status) => return status,
                Err(e) => tracing::warn!(target: "mtls-auth", %url, error = %e, "OCSP verify"),
            }
        }
        Revocation::Unknown
    }

    /// The leaf's status from the CRLs of its distribution points.
    async fn crl(&self, chain: &[CertificateDer<'static>], trust: &TrustSet) -> Revocation {
        let Some(leaf) = chain.first() else {
            return Revocation::Unknown;
        };
        let mut crls = Vec::new();
        for url in crl_urls(leaf) {
            match self
                .fetch(&url, None, CRL_LIMIT)
                .await
                .and_then(|body| parse_crl(&body))
            {
                Ok(crl) => crls.push(Arc::new(CertRevocationList::from(crl))),
                Err(e) => tracing::warn!(target: "mtls-auth", %url, error = %e, "CRL verify"),
            }
        }
        if crls.is_empty() {
            Revocation::Unknown
        } else {
            trust.revocation(chain, &crls)
        }
    }

    /// GETs `url`, or POSTs `ocsp_request` to it, returning the body of a 2xx answer.
    async fn fetch(
        &self,
        url: &str,
        ocsp_request: Option<&[u8]>,
        limit: usize,
    ) -> Result<Bytes, String> {
        let target = Target::parse(url)?;
        let proxy = if target.https {
            self.https_proxy.as_ref()
        } else {
            self.http_proxy.as_ref()
        };
        let how = Connect {
            dns: &self.dns,
            timeout: self.http_timeout,
            tls: self.tls.clone(),
            proxy,
        };
        let mut sender = http_client::connect(&target, &how).await?;
        let uri = match (proxy, target.https) {
            (Some(_), false) => target.absolute(),
            _ => target.path_and_query.clone(),
        };
        let builder = Request::builder()
            .uri(uri)
            .header(http::header::HOST, target.host_header());
        let request = match ocsp_request {
            Some(body) => builder
                .method(http::Method::POST)
                .header(http::header::CONTENT_TYPE, "application/ocsp-request")
                .body(Full::new(Bytes::copy_from_slice(body))),
            None => builder.body(Full::new(Bytes::new())),
        }
        .map_err(|e| e.to_string())?;
        let response = http_client::send(&mut sender, request, self.http_timeout, limit).await?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        Ok(response.into_body())
    }
}

/// A CRL in DER, or in PEM (`X509 CRL`).
fn parse_crl(body: &[u8]) -> Result<OwnedCertRevocationList, String> {
    use rustls::pki_types::{CertificateRevocationListDer, pem::PemObject};
    let der = match CertificateRevocationListDer::from_pem_slice(body) {
        Ok(der) => der.as_ref().to_vec(),
        Err(_) => body.to_vec(),
    };
    OwnedCertRevocationList::from_der(&der).map_err(|e| format!("invalid CRL: {e}"))
}
