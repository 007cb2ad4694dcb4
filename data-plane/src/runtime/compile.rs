//! `ConfigSet` -> `Runtime`. Runs off the request path; collects every problem it finds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use common::model::{Consumer, EntityKind, Protocol, Service};
use common::snapshot::{ConfigHash, canonical_json};
use foldhash::HashMap as FastMap;
use http::HeaderValue;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::env::{CompileEnv, TlsConfigKey};
use super::{CompileError, ConfigSet, Problem, Runtime, ServiceRuntime, ServiceTarget};
use crate::balancer::UpstreamBalancer;
use crate::plugins::chain::{ChainEnv, PluginChain};
use crate::router::Router;
use crate::tls::client::{DEFAULT_VERIFY_DEPTH, UpstreamTls};
use crate::tls::pem::{not_after, parse_certificates, parse_certified_key};
use crate::tls::server::{ServedCertificate, SniResolver, server_config};

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, kind: EntityKind, id: Option<Uuid>, message: impl Into<String>) {
        self.0.push(Problem {
            kind,
            id,
            message: message.into(),
        });
    }
}

/// A parsed certificate entity: what it serves and what it presents as a client.
struct ParsedCertificate {
    served: Arc<ServedCertificate>,
    /// Digest of the PEM material (for interning client configurations).
    digest: Vec<u8>,
}

pub(super) fn compile(
    config: ConfigSet,
    hash: Option<String>,
    env: &CompileEnv,
) -> Result<Runtime, CompileError> {
    let mut problems = Problems(Vec::new());
    let config_hash = match hash {
        Some(h) => h,
        None => match canonical_json(&config) {
            Ok(bytes) => ConfigHash::of_canonical_bytes(&bytes).to_hex(),
            Err(e) => {
                problems.add(
                    EntityKind::Plugin,
                    None,
                    format!("cannot encode configuration: {e}"),
                );
                String::new()
            }
        },
    };

    let certificates = parse_certificate_entities(&config, &mut problems);
    let ca_certificates = parse_ca_certificates(&config, &mut problems);
    let sni = build_sni_table(&config, &certificates, env, &mut problems);

    // Upstreams and their balancers.
    let mut targets_by_upstream: HashMap<Uuid, Vec<common::model::Target>> = HashMap::new();
    for t in &config.targets {
        targets_by_upstream
            .entry(t.upstream.id)
            .or_default()
            .push(t.clone());
    }
    let upstream_ids: HashMap<Uuid, ()> = config.upstreams.iter().map(|u| (u.id, ())).collect();
    for t in &config.targets {
        if !upstream_ids.contains_key(&t.upstream.id) {
            problems.add(
                EntityKind::Target,
                Some(t.id),
                format!("references unknown upstream {}", t.upstream.id),
            );
        }
    }
    let mut upstreams = HashMap::new();
    let mut upstream_client_certs: HashMap<String, Option<Uuid>> = HashMap::new();
    for u in &config.upstreams {
        let targets = targets_by_upstream.remove(&u.id).unwrap_or_default();
        upstream_client_certs.insert(u.name.clone(), u.client_certificate.map(|c| c.id));
        // Like Kong's checker, an unusable probe TLS setup fails the probes, not the load.
        let probe_tls = probe_tls(u, &certificates, env).unwrap_or_else(|e| {
            tracing::warn!(upstream = %u.name, error = %e, "https health checks cannot verify");
            None
        });
        let balancer = UpstreamBalancer::new(
            Arc::new(u.clone()),
            &targets,
            env.dns(),
            env.balancers().upstream(u.id),
            probe_tls,
        );
        upstreams.insert(u.name.clone(), Arc::new(balancer));
    }

    // Services.
    let mut services = FastMap::default();
    let mut service_entities = HashMap::new();
    for s in &config.services {
        let service = Arc::new(s.clone());
        service_entities.insert(s.id, service.clone());
        let client_cert_id = s
            .client_certificate
            .map(|c| c.id)
            .or_else(|| upstream_client_certs.get(&s.host).copied().flatten());
        match compile_service(
            service,
            client_cert_id,
            &upstreams,
            &certificates,
            &ca_certificates,
            env,
        ) {
            Ok(rt) => {
                services.insert(s.id, Arc::new(rt));
            }
            Err(message) => problems.add(EntityKind::Service, Some(s.id), message),
        }
    }

    // Routes of the HTTP subsystem; routes of disabled services are left out (Kong ignores them).
    let mut routes = Vec::new();
    for r in &config.routes {
        if !r.protocols.iter().any(|p| p.is_http()) {
            continue;
        }
        let service = match r.service {
            None => None,
            Some(reference) => match service_entities.get(&reference.id) {
                Some(s) => Some(s.clone()),
                None => {
                    problems.add(
                        EntityKind::Route,
                        Some(r.id),
                        format!("references unknown service {}", reference.id),
                    );
                    continue;
                }
            },
        };
        if service.as_ref().is_some_and(|s| !s.enabled) {
            continue;
        }
        routes.push((Arc::new(r.clone()), service));
    }
    let router = match Router::build(routes) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.add(EntityKind::Route, None, e.to_string());
            None
        }
    };

    let chain_env = ChainEnv {
        registry: &env.plugins,
        state: &env.plugin_state,
        dns: env.dns(),
        node_trust: env.node_trust(),
    };
    let plugins = match PluginChain::compile(&config, &chain_env) {
        Ok(p) => Some(p),
        Err(errs) => {
            for e in errs {
                problems.add(EntityKind::Plugin, Some(e.plugin_id), e.message);
            }
            None
        }
    };

    let consumers: FastMap<Uuid, Arc<Consumer>> = config
        .consumers
        .iter()
        .map(|c| (c.id, Arc::new(c.clone())))
        .collect();
    // Kong's `load_consumer(x, true)`: username first, then custom id.
    let mut consumers_by_name = FastMap::default();
    for c in consumers.values() {
        if let Some(custom_id) = &c.custom_id {
            consumers_by_name.insert(custom_id.clone(), c.clone());
        }
    }
    for c in consumers.values() {
        if let Some(username) = &c.username {
            consumers_by_name.insert(username.clone(), c.clone());
        }
    }

    let mut metric_labels: FastMap<Uuid, Arc<str>> = FastMap::default();
    for s in &config.services {
        metric_labels.insert(s.id, Arc::from(s.name.as_deref().unwrap_or("")));
    }
    for r in &config.routes {
        let label = r.name.clone().unwrap_or_else(|| r.id.to_string());
        metric_labels.insert(r.id, Arc::from(label.as_str()));
    }
    for c in &config.consumers {
        metric_labels.insert(c.id, Arc::from(c.username.as_deref().unwrap_or("")));
    }

    match (router, plugins) {
        (Some(router), Some(plugins)) if problems.0.is_empty() => {
            let sni = Arc::new(sni);
            Ok(Runtime {
                router,
                services,
                upstreams,
                tls_server: server_config(sni.clone()),
                tls_variants: Default::default(),
                tls_with_ca_names: Default::default(),
                sni,
                plugins,
                consumers,
                consumers_by_name,
                config_hash,
                source: Arc::new(config),
                metric_labels,
                metric_series: Default::default(),
            })
        }
        _ => Err(CompileError {
            problems: problems.0,
        }),
    }
}

fn sha256(parts: &[&str]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().to_vec()
}

fn parse_certificate_entities(
    config: &ConfigSet,
    problems: &mut Problems,
) -> HashMap<Uuid, ParsedCertificate> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut out = HashMap::new();
    for c in &config.certificates {
        let primary = match parse_certified_key(&c.cert, &c.key) {
            Ok(k) => k,
            Err(e) => {
                problems.add(EntityKind::Certificate, Some(c.id), e.to_string());
                continue;
            }
        };
        let alternate = match (&c.cert_alt, &c.key_alt) {
            (Some(cert), Some(key)) => match parse_certified_key(cert, key) {
                Ok(k) => Some(k),
                Err(e) => {
                    problems.add(
                        EntityKind::Certificate,
                        Some(c.id),
                        format!("cert_alt: {e}"),
                    );
                    continue;
                }
            },
            _ => None,
        };
        // Like Kong, an expired certificate is still loaded; the operator is told.
        if let Some(leaf) = primary.cert.first()
            && let Some(expiry) = not_after(leaf)
            && expiry < now
        {
            tracing::warn!(certificate = %c.id, "certificate has expired; serving it anyway");
        }
        let digest = sha256(&[&c.cert, &c.key]);
        out.insert(
            c.id,
            ParsedCertificate {
                served: Arc::new(ServedCertificate { primary, alternate }),
                digest,
            },
        );
    }
    out
}

fn parse_ca_certificates(
    config: &ConfigSet,
    problems: &mut Problems,
) -> HashMap<Uuid, (Vec<CertificateDer<'static>>, String)> {
    let mut out = HashMap::new();
    for ca in &config.ca_certificates {
        match parse_certificates(&ca.cert) {
            Ok(certs) => {
                out.insert(ca.id, (certs, ca.cert.clone()));
            }
            Err(e) => problems.add(EntityKind::CaCertificate, Some(ca.id), e.to_string()),
        }
    }
    out
}

fn build_sni_table(
    config: &ConfigSet,
    certificates: &HashMap<Uuid, ParsedCertificate>,
    env: &CompileEnv,
    problems: &mut Problems,
) -> SniResolver {
    let mut table = HashMap::new();
    for sni in &config.snis {
        let Some(cert) = certificates.get(&sni.certificate.id) else {
            // A certificate that failed to parse is already reported.
            if !config
                .certificates
                .iter()
                .any(|c| c.id == sni.certificate.id)
            {
                problems.add(
                    EntityKind::Sni,
                    Some(sni.id),
                    format!("references unknown certificate {}", sni.certificate.id),
                );
            }
            continue;
        };
        table.insert(sni.name.to_ascii_lowercase(), cert.served.clone());
    }
    SniResolver::new(table, env.default_certificate.clone())
}

fn default_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Https | Protocol::Grpcs => 443,
        _ => 80,
    }
}

fn compile_service(
    service: Arc<Service>,
    client_cert_id: Option<Uuid>,
    upstreams: &HashMap<String, Arc<UpstreamBalancer>>,
    certificates: &HashMap<Uuid, ParsedCertificate>,
    ca_certificates: &HashMap<Uuid, (Vec<CertificateDer<'static>>, String)>,
    env: &CompileEnv,
) -> Result<ServiceRuntime, String> {
    let target = if let Some(b) = upstreams.get(&service.host) {
        ServiceTarget::Upstream(b.clone())
    } else {
        let bare = service.host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => ServiceTarget::Ip(ip, Arc::from(ip.to_string())),
            Err(_) => ServiceTarget::Name(env.dns().host(&service.host)),
        }
    };
    let host_header = if service.port == default_port(service.protocol) {
        service.host.clone()
    } else {
        format!("{}:{}", service.host, service.port)
    };
    let host_header = HeaderValue::from_str(&host_header)
        .map_err(|_| format!("host '{}' is not a valid Host header", service.host))?;
    let h2 = matches!(service.protocol, Protocol::Grpc | Protocol::Grpcs);
    let tls = if matches!(service.protocol, Protocol::Https | Protocol::Grpcs) {
        Some(service_tls(
            &service,
            client_cert_id,
            certificates,
            ca_certificates,
            env,
        )?)
    } else {
        None
    };
    Ok(ServiceRuntime {
        target,
        tls,
        h2,
        host_header,
        connect_timeout: Duration::from_millis(service.connect_timeout),
        read_timeout: Duration::from_millis(service.read_timeout),
        write_timeout: Duration::from_millis(service.write_timeout),
        service,
    })
}

/// The TLS client of an upstream's `https` health probes: verification per
/// `healthchecks.active.https_verify_certificate` against the node trust store, presenting
/// the upstream's `client_certificate` (as Kong's checker does).
fn probe_tls(
    upstream: &common::model::Upstream,
    certificates: &HashMap<Uuid, ParsedCertificate>,
    env: &CompileEnv,
) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if upstream.healthchecks.active.kind != "https" {
        return Ok(None);
    }
    let verify = upstream.healthchecks.active.https_verify_certificate;
    let (client_certificate, client_digest) = match upstream.client_certificate {
        None => (None, Vec::new()),
        Some(reference) => {
            let cert = certificates
                .get(&reference.id)
                .ok_or_else(|| format!("references unknown client_certificate {}", reference.id))?;
            (Some(cert.served.primary.clone()), cert.digest.clone())
        }
    };
    let settings = UpstreamTls {
        verify,
        verify_depth: DEFAULT_VERIFY_DEPTH,
        roots: env.node_trust().clone(),
        client_certificate,
        alpn_h2: false,
    };
    let key = TlsConfigKey {
        verify,
        depth: DEFAULT_VERIFY_DEPTH,
        alpn_h2: false,
        roots_digest: Vec::new(),
        client_digest,
    };
    env.client_config(key, &settings)
        .map(Some)
        .map_err(|e| format!("health check TLS: {e}"))
}

fn service_tls(
    service: &Service,
    client_cert_id: Option<Uuid>,
    certificates: &HashMap<Uuid, ParsedCertificate>,
    ca_certificates: &HashMap<Uuid, (Vec<CertificateDer<'static>>, String)>,
    env: &CompileEnv,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let verify = service.tls_verify.unwrap_or(false);
    let depth = service.tls_verify_depth.unwrap_or(DEFAULT_VERIFY_DEPTH);
    let alpn_h2 = service.protocol == Protocol::Grpcs;
    let ca_ids = service.ca_certificates.clone().unwrap_or_default();
    let (roots, roots_digest) = if ca_ids.is_empty() {
        (env.node_trust().clone(), Vec::new())
    } else {
        let mut store = RootCertStore::empty();
        let mut pems = Vec::new();
        for id in &ca_ids {
            let (certs, pem) = ca_certificates
                .get(id)
                .ok_or_else(|| format!("references unknown ca_certificate {id}"))?;
            for cert in certs {
                store
                    .add(cert.clone())
                    .map_err(|e| format!("ca_certificate {id}: {e}"))?;
            }
            pems.push(pem.as_str());
        }
        (Arc::new(store), sha256(&pems))
    };
    let (client_certificate, client_digest): (Option<Arc<CertifiedKey>>, Vec<u8>) =
        match client_cert_id {
            None => (None, Vec::new()),
            Some(id) => {
                let cert = certificates
                    .get(&id)
                    .ok_or_else(|| format!("references unknown client_certificate {id}"))?;
                (Some(cert.served.primary.clone()), cert.digest.clone())
            }
        };
    let settings = UpstreamTls {
        verify,
        verify_depth: depth,
        roots,
        client_certificate,
        alpn_h2,
    };
    let key = TlsConfigKey {
        verify,
        depth,
        alpn_h2,
        roots_digest,
        client_digest,
    };
    env.client_config(key, &settings)
}
