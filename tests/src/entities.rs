//! Entities with Kong's defaults, for building configurations in tests.

use common::model::{
    AclGroup, ActiveHealthcheck, ActiveHealthy, ActiveUnhealthy, Algorithm, BasicAuthCredential,
    CaCertificate, Certificate, Consumer, ForeignRef, HashOn, Healthchecks, HmacAuthCredential,
    JwtSecret, KeyAuthCredential, MtlsAuthCredential, PassiveHealthcheck, PassiveHealthy,
    PassiveUnhealthy, PathHandling, Plugin, Protocol, Route, Service, Sni, Target, Upstream,
};
use uuid::Uuid;

/// A configuration with `svc` and one route to it matching `host`.
pub fn one_host_route(svc: Service, host: &str) -> data_plane::runtime::ConfigSet {
    data_plane::runtime::ConfigSet {
        routes: vec![route_hosts(Some(&svc), &[host])],
        services: vec![svc],
        ..Default::default()
    }
}

/// A service from Kong's `url` shorthand (`http://host:port/path`).
pub fn service(url: &str) -> Service {
    let uri: http::Uri = url.parse().expect("service url");
    let protocol = match uri.scheme_str() {
        Some("https") => Protocol::Https,
        Some("grpc") => Protocol::Grpc,
        Some("grpcs") => Protocol::Grpcs,
        _ => Protocol::Http,
    };
    let port = uri.port_u16().unwrap_or(match protocol {
        Protocol::Https | Protocol::Grpcs => 443,
        _ => 80,
    });
    // Only an explicit path counts (`http://h:1` has none, `http://h:1/` has `/`).
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map(|_| uri.path().to_string());
    Service {
        id: Uuid::new_v4(),
        name: None,
        protocol,
        host: uri.host().expect("service host").to_string(),
        port,
        path,
        retries: 5,
        connect_timeout: 60_000,
        write_timeout: 60_000,
        read_timeout: 60_000,
        client_certificate: None,
        tls_verify: None,
        tls_verify_depth: None,
        ca_certificates: None,
        enabled: true,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// A route to `service` with Kong's defaults and no matching criteria yet.
pub fn route(service: Option<&Service>) -> Route {
    Route {
        id: Uuid::new_v4(),
        name: None,
        protocols: vec![Protocol::Http, Protocol::Https],
        methods: None,
        hosts: None,
        paths: None,
        headers: None,
        https_redirect_status_code: 426,
        regex_priority: 0,
        strip_path: true,
        path_handling: PathHandling::V0,
        preserve_host: false,
        request_buffering: true,
        response_buffering: true,
        snis: None,
        sources: None,
        destinations: None,
        service: service.map(|s| ForeignRef { id: s.id }),
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// A route matching the given path prefixes.
pub fn route_paths(service: Option<&Service>, paths: &[&str]) -> Route {
    let mut r = route(service);
    r.paths = Some(paths.iter().map(|p| p.to_string()).collect());
    r
}

/// A route matching the given hosts.
pub fn route_hosts(service: Option<&Service>, hosts: &[&str]) -> Route {
    let mut r = route(service);
    r.hosts = Some(hosts.iter().map(|h| h.to_string()).collect());
    r
}

/// An upstream with Kong's defaults (round-robin, 10000 slots, health checks off).
pub fn upstream(name: &str) -> Upstream {
    Upstream {
        id: Uuid::new_v4(),
        name: name.to_string(),
        algorithm: Algorithm::RoundRobin,
        hash_on: HashOn::None,
        hash_fallback: HashOn::None,
        hash_on_header: None,
        hash_fallback_header: None,
        hash_on_cookie: None,
        hash_on_cookie_path: Some("/".to_string()),
        hash_on_query_arg: None,
        hash_fallback_query_arg: None,
        hash_on_uri_capture: None,
        hash_fallback_uri_capture: None,
        slots: 10_000,
        healthchecks: Healthchecks {
            active: ActiveHealthcheck {
                kind: "http".to_string(),
                timeout: 1.0,
                concurrency: 10,
                http_path: "/".to_string(),
                https_sni: None,
                https_verify_certificate: true,
                headers: None,
                healthy: ActiveHealthy {
                    interval: 0.0,
                    http_statuses: vec![200, 302],
                    successes: 0,
                },
                unhealthy: ActiveUnhealthy {
                    interval: 0.0,
                    http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
                    tcp_failures: 0,
                    timeouts: 0,
                    http_failures: 0,
                },
            },
            passive: PassiveHealthcheck {
                kind: "http".to_string(),
                healthy: PassiveHealthy {
                    http_statuses: vec![
                        200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
                        305, 306, 307, 308,
                    ],
                    successes: 0,
                },
                unhealthy: PassiveUnhealthy {
                    http_statuses: vec![429, 500, 503],
                    tcp_failures: 0,
                    timeouts: 0,
                    http_failures: 0,
                },
            },
            threshold: 0.0,
        },
        host_header: None,
        client_certificate: None,
        use_srv_name: false,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

pub fn target(upstream: &Upstream, target: &str, weight: u32) -> Target {
    Target {
        id: Uuid::new_v4(),
        upstream: ForeignRef { id: upstream.id },
        target: target.to_string(),
        weight,
        tags: None,
        created_at: 0.0,
        updated_at: 0.0,
    }
}

pub fn certificate(pem: &crate::certs::Pem) -> Certificate {
    Certificate {
        id: Uuid::new_v4(),
        cert: pem.cert.clone(),
        key: pem.key.clone(),
        cert_alt: None,
        key_alt: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// A CA certificate entity for a PEM certificate.
pub fn ca_certificate(pem: &str) -> CaCertificate {
    CaCertificate {
        id: Uuid::new_v4(),
        cert: pem.to_string(),
        cert_digest: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

pub fn sni(name: &str, certificate: &Certificate) -> Sni {
    Sni {
        id: Uuid::new_v4(),
        name: name.to_string(),
        certificate: ForeignRef { id: certificate.id },
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// A global plugin instance with `config` (Kong fills the schema's defaults when the
/// configuration is loaded). Scope it with [`PluginScope`].
pub fn plugin(name: &str, config: serde_json::Value) -> Plugin {
    Plugin {
        id: Uuid::new_v4(),
        name: name.to_string(),
        instance_name: None,
        route: None,
        service: None,
        consumer: None,
        config,
        protocols: vec![
            Protocol::Grpc,
            Protocol::Grpcs,
            Protocol::Http,
            Protocol::Https,
        ],
        enabled: true,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// Builder-style scoping of a plugin instance.
pub trait PluginScope {
    fn on_route(self, route: &Route) -> Self;
    fn on_service(self, service: &Service) -> Self;
    fn on_consumer(self, consumer: &Consumer) -> Self;
}

impl PluginScope for Plugin {
    fn on_route(mut self, route: &Route) -> Plugin {
        self.route = Some(ForeignRef { id: route.id });
        self
    }

    fn on_service(mut self, service: &Service) -> Plugin {
        self.service = Some(ForeignRef { id: service.id });
        self
    }

    fn on_consumer(mut self, consumer: &Consumer) -> Plugin {
        self.consumer = Some(ForeignRef { id: consumer.id });
        self
    }
}

pub fn consumer(username: &str) -> Consumer {
    Consumer {
        id: Uuid::new_v4(),
        username: Some(username.to_string()),
        custom_id: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

pub fn key_credential(consumer: &Consumer, key: &str) -> KeyAuthCredential {
    KeyAuthCredential {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        key: key.to_string(),
        ttl: None,
        tags: None,
        created_at: 0,
    }
}

/// A basic-auth credential for `password`.
pub fn basic_credential(
    consumer: &Consumer,
    username: &str,
    password: &str,
) -> BasicAuthCredential {
    BasicAuthCredential {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        username: username.to_string(),
        // Stored hashed, as Kong stores it (kong.yml is rendered with `_transform: false`).
        password: common::schema::entities::hash_basicauth_password(
            &consumer.id.to_string(),
            password,
        ),
        tags: None,
        created_at: 0,
    }
}

/// An ACL group membership.
pub fn acl_group(consumer: &Consumer, group: &str) -> AclGroup {
    AclGroup {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        group: group.to_string(),
        tags: None,
        created_at: 0,
    }
}

pub fn hmac_credential(consumer: &Consumer, username: &str, secret: &str) -> HmacAuthCredential {
    HmacAuthCredential {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        username: username.to_string(),
        secret: secret.to_string(),
        tags: None,
        created_at: 0,
    }
}

/// A jwt secret: `secret` for HS* algorithms, `rsa_public_key` (PEM) for the others.
pub fn jwt_secret(
    consumer: &Consumer,
    key: &str,
    algorithm: &str,
    secret: Option<&str>,
    rsa_public_key: Option<&str>,
) -> JwtSecret {
    JwtSecret {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        key: key.to_string(),
        secret: secret.map(str::to_string),
        rsa_public_key: rsa_public_key.map(str::to_string),
        algorithm: algorithm.to_string(),
        tags: None,
        created_at: 0,
    }
}

/// An mtls-auth subject-name mapping of `consumer`, restricted to `ca` when given.
pub fn mtls_credential(
    consumer: &Consumer,
    subject_name: &str,
    ca: Option<&CaCertificate>,
) -> MtlsAuthCredential {
    MtlsAuthCredential {
        id: Uuid::new_v4(),
        consumer: ForeignRef { id: consumer.id },
        subject_name: subject_name.to_string(),
        ca_certificate: ca.map(|ca| ForeignRef { id: ca.id }),
        tags: None,
        created_at: 0,
    }
}
