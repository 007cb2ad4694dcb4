//! Sample configurations for tests and benchmarks in every crate: realistic entities with
//! Kong's defaults, deterministic ids, and every reference resolving.

use uuid::Uuid;

use crate::model::{
    Certificate, Consumer, ForeignRef, KeyAuthCredential, PathHandling, Plugin, Protocol, Route,
    Service, Sni, Target, Upstream,
};

use super::ConfigSet;

/// A deterministic id: `n` in the low bytes of a v4-shaped UUID, so tests are reproducible.
pub fn id(kind: u8, n: u64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..16].copy_from_slice(&n.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A service with Kong's defaults.
pub fn service(n: u64) -> Service {
    Service {
        id: id(1, n),
        name: Some(format!("service-{n}")),
        protocol: Protocol::Http,
        host: format!("backend-{n}.internal"),
        port: 80,
        path: None,
        retries: 5,
        connect_timeout: 60_000,
        write_timeout: 60_000,
        read_timeout: 60_000,
        client_certificate: None,
        tls_verify: None,
        tls_verify_depth: None,
        ca_certificates: None,
        enabled: true,
        tags: Some(vec!["sample".to_owned()]),
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

/// A route with Kong's defaults, pointing at `service`.
pub fn route(n: u64, service: Uuid) -> Route {
    Route {
        id: id(2, n),
        name: Some(format!("route-{n}")),
        protocols: vec![Protocol::Http, Protocol::Https],
        methods: Some(vec!["GET".to_owned(), "POST".to_owned()]),
        hosts: Some(vec![format!("api-{}.example.com", n % 100)]),
        paths: Some(vec![format!("/v1/resource-{n}")]),
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
        service: Some(ForeignRef { id: service }),
        tags: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

/// `routes` routes spread over `routes / 10` services (at least one), plus one global plugin,
/// a consumer with a key-auth credential, an upstream with a target, and a certificate with
/// an SNI — so every kind of reference is exercised.
pub fn config_with_routes(routes: u64) -> ConfigSet {
    let service_count = (routes / 10).max(1);
    let services: Vec<Service> = (0..service_count).map(service).collect();
    let routes = (0..routes)
        .map(|n| route(n, services[(n % service_count) as usize].id))
        .collect();
    let consumer = Consumer {
        id: id(3, 0),
        username: Some("alice".to_owned()),
        custom_id: None,
        tags: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let upstream: Upstream = serde_json::from_value(serde_json::json!({
        "id": id(4, 0),
        "name": "backend.upstream",
        "algorithm": "round-robin",
        "hash_on": "none",
        "hash_fallback": "none",
        "slots": 10000,
        "healthchecks": {
            "threshold": 0.0,
            "active": {
                "type": "http", "timeout": 1.0, "concurrency": 10, "http_path": "/",
                "https_verify_certificate": true,
                "healthy": {"interval": 0.0, "http_statuses": [200, 302], "successes": 0},
                "unhealthy": {"interval": 0.0, "http_statuses": [429, 404, 500],
                              "tcp_failures": 0, "timeouts": 0, "http_failures": 0}
            },
            "passive": {
                "type": "http",
                "healthy": {"http_statuses": [200, 201], "successes": 0},
                "unhealthy": {"http_statuses": [429, 500, 503], "tcp_failures": 0,
                              "timeouts": 0, "http_failures": 0}
            }
        }
    }))
    .unwrap_or_else(|e| unreachable!("the sample upstream matches the model: {e}"));
    let target = Target {
        id: id(5, 0),
        upstream: ForeignRef { id: upstream.id },
        target: "10.0.0.1:8080".to_owned(),
        weight: 100,
        tags: None,
        created_at: 1_700_000_000.123,
        updated_at: 1_700_000_000.123,
    };
    let certificate = Certificate {
        id: id(6, 0),
        cert: "-----BEGIN CERTIFICATE-----\nsample\n-----END CERTIFICATE-----\n".to_owned(),
        key: "-----BEGIN PRIVATE KEY-----\nsample\n-----END PRIVATE KEY-----\n".to_owned(),
        cert_alt: None,
        key_alt: None,
        tags: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let sni = Sni {
        id: id(7, 0),
        name: "api.example.com".to_owned(),
        certificate: ForeignRef { id: certificate.id },
        tags: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let plugin = Plugin {
        id: id(8, 0),
        name: "key-auth".to_owned(),
        instance_name: None,
        route: None,
        service: None,
        consumer: None,
        config: serde_json::json!({"key_names": ["apikey"], "hide_credentials": false}),
        protocols: vec![Protocol::Http, Protocol::Https],
        enabled: true,
        tags: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    };
    let credential = KeyAuthCredential {
        id: id(9, 0),
        consumer: ForeignRef { id: consumer.id },
        key: "alice-secret-key".to_owned(),
        ttl: None,
        tags: None,
        created_at: 1_700_000_000,
    };
    ConfigSet {
        services,
        routes,
        consumers: vec![consumer],
        plugins: vec![plugin],
        upstreams: vec![upstream],
        targets: vec![target],
        certificates: vec![certificate],
        snis: vec![sni],
        keyauth_credentials: vec![credential],
        ..ConfigSet::default()
    }
}
