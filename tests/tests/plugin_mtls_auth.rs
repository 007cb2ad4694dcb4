//! mtls-auth against the real data plane: real TLS handshakes with client certificates
//! issued by test CAs, Kong's 401 messages, consumer matching, skip_consumer_lookup with
//! acl, partial chains, the SNI filter and CA names of the certificate request, and
//! revocation checks against an in-process CRL server and OCSP responder.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use http::Response;
use http_body_util::Full;
use portico_tests::certs::{Pem, TestCa};
use portico_tests::client::{self, get};
use portico_tests::cluster::{ClusterCerts, HybridCp, start_dp};
use portico_tests::entities::{
    PluginScope, acl_group, ca_certificate, consumer, mtls_credential, plugin, route_paths, service,
};
use portico_tests::process::eventually;
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::{Upstream, UpstreamBody, full};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::sign::CertifiedKey;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the client saw of the server's certificate request.
#[derive(Debug, Default)]
struct Seen {
    requested: AtomicBool,
    ca_names: Mutex<Vec<Vec<u8>>>,
}

/// Presents `key` (if any) and records the certificate request.
#[derive(Debug)]
struct RecordingCert {
    key: Option<Arc<CertifiedKey>>,
    seen: Arc<Seen>,
}

impl ResolvesClientCert for RecordingCert {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.seen.requested.store(true, Ordering::SeqCst);
        *self.seen.ca_names.lock().unwrap() =
            root_hint_subjects.iter().map(|s| s.to_vec()).collect();
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(pem: &Pem) -> Arc<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    Arc::new(CertifiedKey::new(chain, signer))
}

/// One HTTPS request to `proxy` (its TLS listener) with SNI `sni`, presenting `cert`
/// when asked for one.
async fn https(
    proxy: SocketAddr,
    sni: &str,
    path: &str,
    cert: Option<&Pem>,
) -> (client::Resp, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(portico_tests::certs::AcceptAll))
    .with_client_cert_resolver(Arc::new(RecordingCert {
        key: cert.map(certified_key),
        seen: seen.clone(),
    }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let req = get(path, sni).body(Full::new(Bytes::new())).unwrap();
    (client::send_on(stream, req).await.unwrap(), seen)
}

fn message(resp: &client::Resp) -> Value {
    resp.json()["message"].clone()
}

/// An mtls-auth instance trusting `ca`, with `extra` config fields.
fn mtls(ca: &common::model::CaCertificate, mut extra: Value) -> common::model::Plugin {
    extra["ca_certificates"] = json!([ca.id]);
    plugin("mtls-auth", extra)
}

struct Pki {
    root: TestCa,
    intermediate: TestCa,
    alice: Pem,
    bob: Pem,
    /// Issued by the intermediate; the PEM holds the leaf then the intermediate.
    carol_chain: Pem,
    stranger: Pem,
    expired: Pem,
    self_signed: Pem,
}

fn pki() -> Pki {
    let root = TestCa::new("mtls root");
    let intermediate = root.intermediate("mtls intermediate");
    let mut carol_chain = intermediate.issue(&["carol"]);
    carol_chain.cert.push_str(&intermediate.pem);
    Pki {
        alice: root.issue(&["alice"]),
        bob: root.issue(&["bob-id"]),
        carol_chain,
        stranger: TestCa::new("other root").issue(&["alice"]),
        expired: root.issue_expired(&["alice"]),
        self_signed: portico_tests::certs::self_signed(&["alice"]),
        root,
        intermediate,
    }
}

async fn setup(pki: &Pki) -> (TestProxy, Upstream, ConfigSet) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let root = ca_certificate(&pki.root.pem);
    let intermediate = ca_certificate(&pki.intermediate.pem);
    let alice = consumer("alice");
    let mut bob = consumer("robert");
    bob.custom_id = Some("bob-id".to_string());
    let carol = consumer("carol");
    let guest = consumer("guest");
    let with_root = |mut extra: Value| {
        extra["revocation_check_mode"] = json!("SKIP");
        mtls(&root, extra)
    };
    let routes: Vec<_> = [
        "/plain",
        "/anon",
        "/skip",
        "/skip-dn",
        "/partial",
        "/full-chain",
        "/custom-id",
        "/default",
        "/missing-ca",
    ]
    .iter()
    .map(|p| route_paths(Some(&svc), &[p]))
    .collect();
    let plugins = vec![
        with_root(json!({})).on_route(&routes[0]),
        with_root(json!({"anonymous": "guest"})).on_route(&routes[1]),
        with_root(json!({"skip_consumer_lookup": true})).on_route(&routes[2]),
        plugin("acl", json!({"allow": ["alice"]})).on_route(&routes[2]),
        with_root(json!({"skip_consumer_lookup": true, "authenticated_group_by": "DN"}))
            .on_route(&routes[3]),
        plugin("acl", json!({"allow": ["CN=alice"]})).on_route(&routes[3]),
        plugin(
            "mtls-auth",
            json!({"ca_certificates": [intermediate.id], "allow_partial_chain": true,
                   "revocation_check_mode": "SKIP"}),
        )
        .on_route(&routes[4]),
        plugin(
            "mtls-auth",
            json!({"ca_certificates": [intermediate.id], "revocation_check_mode": "SKIP"}),
        )
        .on_route(&routes[5]),
        with_root(json!({"consumer_by": ["custom_id"]})).on_route(&routes[6]),
        with_root(json!({"consumer_by": [], "default_consumer": "guest"})).on_route(&routes[7]),
        plugin(
            "mtls-auth",
            json!({"ca_certificates": [uuid::Uuid::new_v4()], "revocation_check_mode": "SKIP"}),
        )
        .on_route(&routes[8]),
    ];
    let config = ConfigSet {
        plugins,
        acls: vec![acl_group(&alice, "staff")],
        consumers: vec![alice, bob, carol, guest],
        ca_certificates: vec![root, intermediate],
        routes,
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config.clone()).await, upstream, config)
}

#[tokio::test]
async fn missing_and_untrusted_certificates_get_kongs_401s() {
    let pki = pki();
    let (proxy, upstream, _) = setup(&pki).await;
    let (resp, seen) = https(proxy.https, "mtls.test", "/plain", None).await;
    assert_eq!(resp.status, 401);
    assert_eq!(message(&resp), "No required TLS certificate was sent");
    // The handshake asked for a certificate (no SNIs on the route: every handshake).
    assert!(seen.requested.load(Ordering::SeqCst));
    // Plain HTTP can carry no certificate.
    let resp = client::send(
        proxy.http,
        get("/plain", "mtls.test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(message(&resp), "No required TLS certificate was sent");
    for cert in [&pki.stranger, &pki.expired, &pki.self_signed] {
        let (resp, _) = https(proxy.https, "mtls.test", "/plain", Some(cert)).await;
        assert_eq!(resp.status, 401);
        assert_eq!(message(&resp), "TLS certificate failed verification");
        assert!(resp.headers.get("www-authenticate").is_none());
    }
    // Trusted, but no consumer is named "nobody".
    let nobody = pki.root.issue(&["nobody"]);
    let (resp, _) = https(proxy.https, "mtls.test", "/plain", Some(&nobody)).await;
    assert_eq!(resp.status, 401);
    assert_eq!(message(&resp), "TLS certificate failed verification");
    // A referenced CA certificate that does not exist: Kong's 500.
    let (resp, _) = https(proxy.https, "mtls.test", "/missing-ca", Some(&pki.alice)).await;
    assert_eq!(resp.status, 500);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_trusted_certificate_identifies_the_consumer() {
    let pki = pki();
    let (proxy, _upstream, config) = setup(&pki).await;
    let (resp, _) = https(proxy.https, "mtls.test", "/plain", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let headers = &resp.json()["headers"];
    assert_eq!(headers["x-consumer-username"], "alice");
    assert_eq!(headers["x-consumer-id"], config.consumers[0].id.to_string());
    assert!(headers["x-anonymous-consumer"].is_null());
    // consumer_by defaults to username then custom_id: bob's CN is his custom id.
    let (resp, _) = https(proxy.https, "mtls.test", "/plain", Some(&pki.bob)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "robert");
    assert_eq!(resp.json()["headers"]["x-consumer-custom-id"], "bob-id");
    // consumer_by custom_id only: alice's name matches a username, not a custom id.
    let (resp, _) = https(proxy.https, "mtls.test", "/custom-id", Some(&pki.alice)).await;
    assert_eq!(resp.status, 401);
    let (resp, _) = https(proxy.https, "mtls.test", "/custom-id", Some(&pki.bob)).await;
    assert_eq!(resp.status, 200);
    // No matching at all: the default consumer, authenticated (not anonymous).
    let (resp, _) = https(proxy.https, "mtls.test", "/default", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "guest");
    assert!(resp.json()["headers"]["x-anonymous-consumer"].is_null());
}

/// The consumer headers of an authenticated request through `proxy`'s TLS listener.
async fn consumer_seen(proxy: SocketAddr, cert: &Pem) -> (u16, Value) {
    let (resp, _) = https(proxy, "mtls.test", "/", Some(cert)).await;
    let headers = &resp.json()["headers"];
    let seen = json!({
        "username": headers["x-consumer-username"],
        "credential": headers["x-credential-identifier"],
        "anonymous": headers["x-anonymous-consumer"],
    });
    (resp.status.as_u16(), seen)
}

/// Kong Enterprise's `mtls_auth_credentials`: for each name of the certificate (SANs, then
/// the CN), the mapping restricted to the CA the chain was verified against, then the
/// mapping for any CA; only then `consumer_by`. A mapping restricted to another CA does
/// not apply. The consumer is authenticated as by `consumer_by` (Kong's credential is
/// `{id = consumer.id}`: no `X-Credential-Identifier`, not anonymous).
#[tokio::test]
async fn subject_name_mappings_come_before_consumer_by() {
    let (root_a, root_b) = (TestCa::new("mapping root a"), TestCa::new("mapping root b"));
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let (ca_a, ca_b) = (ca_certificate(&root_a.pem), ca_certificate(&root_b.pem));
    let route = route_paths(Some(&svc), &["/"]);
    let [alice, carol, owner, team_a, team_b, anyone, mallory] = [
        "alice",
        "carol",
        "device-owner",
        "team-a",
        "team-b",
        "anyone",
        "mallory",
    ]
    .map(consumer);
    let config = ConfigSet {
        plugins: vec![
            plugin(
                "mtls-auth",
                json!({"ca_certificates": [ca_a.id, ca_b.id], "revocation_check_mode": "SKIP"}),
            )
            .on_route(&route),
        ],
        mtls_auth_credentials: vec![
            mtls_credential(&owner, "alice", None),
            mtls_credential(&team_a, "shared", Some(&ca_a)),
            mtls_credential(&team_b, "shared", Some(&ca_b)),
            mtls_credential(&anyone, "dual", None),
            mtls_credential(&team_a, "dual", Some(&ca_a)),
            mtls_credential(&mallory, "carol", Some(&ca_b)),
            mtls_credential(&mallory, "only-b", Some(&ca_b)),
        ],
        consumers: vec![alice, carol, owner, team_a, team_b, anyone, mallory],
        ca_certificates: vec![ca_a, ca_b],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let authenticated =
        |name: &str| json!({"username": name, "credential": null, "anonymous": null});
    let cases = [
        // A mapping wins over the consumer named like the certificate.
        (root_a.issue(&["alice"]), "device-owner"),
        // One name, one mapping per CA.
        (root_a.issue(&["shared"]), "team-a"),
        (root_b.issue(&["shared"]), "team-b"),
        // The verifying CA's mapping first, then the one for any CA.
        (root_a.issue(&["dual"]), "team-a"),
        (root_b.issue(&["dual"]), "anyone"),
        // Restricted to another CA: falls through to consumer_by.
        (root_a.issue(&["carol"]), "carol"),
        (root_b.issue(&["carol"]), "mallory"),
        // Names in order: the first name with a mapping decides.
        (root_b.issue(&["carol", "alice"]), "mallory"),
        (root_a.issue(&["unmapped", "shared"]), "team-a"),
    ];
    for (cert, expected) in &cases {
        let (status, seen) = consumer_seen(proxy.https, cert).await;
        assert_eq!(status, 200, "{expected}: {seen}");
        assert_eq!(seen, authenticated(expected));
    }
    // Restricted to another CA, and no consumer of that name: not authenticated.
    let (status, _) = consumer_seen(proxy.https, &root_a.issue(&["only-b"])).await;
    assert_eq!(status, 401);
}

/// Through the real control plane: a mapping created on the Admin API (restricted to the
/// CA by id) reaches the data plane in a snapshot and decides the consumer; once deleted,
/// `consumer_by` decides again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_from_the_admin_api_reach_the_data_plane() {
    let certs = ClusterCerts::shared().await;
    let hybrid = HybridCp::start(&certs, None, None, None, &[]).await;
    let dp = start_dp(certs.dp_args("dp1", &[hybrid.cluster]), &[]).await;
    let cp = &hybrid.cp;
    let upstream = Upstream::echo().await;
    let root = TestCa::new("hybrid mapping root");
    let post = |path: &'static str, body: Value| async move {
        let resp = cp.json(http::Method::POST, path, &body).await;
        assert_eq!(resp.status, 201, "POST {path}: {}", resp.text());
        resp.json()
    };
    let ca = post("/ca_certificates", json!({"cert": root.pem})).await;
    post(
        "/services",
        json!({"name": "svc", "url": format!("http://127.0.0.1:{}", upstream.port())}),
    )
    .await;
    post("/services/svc/routes", json!({"name": "r", "paths": ["/"]})).await;
    post(
        "/routes/r/plugins",
        json!({"name": "mtls-auth",
               "config": {"ca_certificates": [ca["id"]], "revocation_check_mode": "SKIP"}}),
    )
    .await;
    post("/consumers", json!({"username": "alice"})).await;
    post("/consumers", json!({"username": "device-owner"})).await;
    let alice_cert = root.issue(&["alice"]);
    let consumer_is = |expected: &'static str| {
        let cert = alice_cert.clone();
        let proxy = dp.proxy_tls;
        async move {
            eventually(DEADLINE, expected, || {
                let cert = cert.clone();
                async move {
                    let (status, seen) = consumer_seen(proxy, &cert).await;
                    (status == 200 && seen["username"] == expected).then_some(())
                }
            })
            .await
        }
    };
    consumer_is("alice").await;
    let mapping = post(
        "/consumers/device-owner/mtls-auth",
        json!({"subject_name": "alice", "ca_certificate": {"id": ca["id"]}}),
    )
    .await;
    consumer_is("device-owner").await;
    let path = format!(
        "/consumers/device-owner/mtls-auth/{}",
        mapping["id"].as_str().unwrap()
    );
    let deleted = cp
        .request(http::Method::DELETE, &path, None, Bytes::new())
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    consumer_is("alice").await;
}

#[tokio::test]
async fn chains_through_an_intermediate() {
    let pki = pki();
    let (proxy, _upstream, _) = setup(&pki).await;
    // Root trusted, the client sends leaf + intermediate.
    let (resp, _) = https(proxy.https, "mtls.test", "/plain", Some(&pki.carol_chain)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "carol");
    // Only the intermediate trusted: enough with allow_partial_chain, not without.
    let (resp, _) = https(proxy.https, "mtls.test", "/partial", Some(&pki.carol_chain)).await;
    assert_eq!(resp.status, 200);
    let (resp, _) = https(
        proxy.https,
        "mtls.test",
        "/full-chain",
        Some(&pki.carol_chain),
    )
    .await;
    assert_eq!(resp.status, 401);
}

#[tokio::test]
async fn anonymous_applies_to_every_failure() {
    let pki = pki();
    let (proxy, _upstream, _) = setup(&pki).await;
    for cert in [None, Some(&pki.stranger)] {
        let (resp, _) = https(proxy.https, "mtls.test", "/anon", cert).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json()["headers"]["x-consumer-username"], "guest");
        assert_eq!(resp.json()["headers"]["x-anonymous-consumer"], "true");
    }
    let (resp, _) = https(proxy.https, "mtls.test", "/anon", Some(&pki.alice)).await;
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "alice");
    assert!(resp.json()["headers"]["x-anonymous-consumer"].is_null());
}

#[tokio::test]
async fn skip_consumer_lookup_authenticates_the_certificate_for_acl() {
    let pki = pki();
    let (proxy, _upstream, _) = setup(&pki).await;
    let (resp, _) = https(proxy.https, "mtls.test", "/skip", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let headers = &resp.json()["headers"];
    assert!(headers["x-consumer-username"].is_null());
    assert_eq!(headers["x-client-cert-dn"], "CN=alice");
    // Subject alternative names first, then the common name.
    assert_eq!(headers["x-client-cert-san"], "alice,alice");
    assert_eq!(headers["x-authenticated-groups"], "alice");
    // bob's CN is not in the acl's allow list.
    let (resp, _) = https(proxy.https, "mtls.test", "/skip", Some(&pki.bob)).await;
    assert_eq!(resp.status, 403);
    // Grouped by DN.
    let (resp, _) = https(proxy.https, "mtls.test", "/skip-dn", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-authenticated-groups"], "CN=alice");
}

#[tokio::test]
async fn route_snis_limit_certificate_requests_and_send_ca_dn_names_the_cas() {
    let pki = pki();
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let root = ca_certificate(&pki.root.pem);
    let mut guarded = route_paths(Some(&svc), &["/guarded"]);
    guarded.snis = Some(vec!["mtls.test".to_string()]);
    let open = route_paths(Some(&svc), &["/open"]);
    let config = ConfigSet {
        plugins: vec![
            plugin(
                "mtls-auth",
                json!({"ca_certificates": [root.id], "send_ca_dn": true, "revocation_check_mode": "SKIP"}),
            )
            .on_route(&guarded),
        ],
        consumers: vec![consumer("alice")],
        ca_certificates: vec![root],
        routes: vec![guarded, open],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let (resp, seen) = https(proxy.https, "open.test", "/open", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200);
    assert!(!seen.requested.load(Ordering::SeqCst));
    let (resp, seen) = https(proxy.https, "mtls.test", "/guarded", Some(&pki.alice)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(seen.requested.load(Ordering::SeqCst));
    let root_der = CertificateDer::from_pem_slice(pki.root.pem.as_bytes()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(root_der.as_ref()).unwrap();
    assert_eq!(
        *seen.ca_names.lock().unwrap(),
        vec![parsed.subject().as_raw().to_vec()]
    );
}

/// Serves `crl` at `/ca.crl`, also to absolute-form requests (as a forward proxy).
/// A proxy with one route per `(path, extra config)` case, each with its own mtls-auth
/// instance trusting `root`, and the consumer `alice`; the echo upstream lives as long as
/// the returned value.
async fn mtls_per_route(
    root: &TestCa,
    cases: impl IntoIterator<Item = (&'static str, Value)>,
) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let ca = ca_certificate(&root.pem);
    let mut routes = Vec::new();
    let mut plugins = Vec::new();
    for (path, extra) in cases {
        let route = route_paths(Some(&svc), &[path]);
        plugins.push(mtls(&ca, extra).on_route(&route));
        routes.push(route);
    }
    let proxy = TestProxy::start(ConfigSet {
        plugins,
        routes,
        consumers: vec![consumer("alice")],
        ca_certificates: vec![ca],
        services: vec![svc],
        ..Default::default()
    })
    .await;
    (proxy, upstream)
}

async fn crl_server(crl: Vec<u8>) -> Upstream {
    let crl = Bytes::from(crl);
    Upstream::start(move |req, _| {
        let crl = crl.clone();
        async move {
            let mut resp: Response<UpstreamBody> = if req.uri().path() == "/ca.crl" {
                Response::new(full(crl))
            } else {
                Response::new(full("not found"))
            };
            if req.uri().path() != "/ca.crl" {
                *resp.status_mut() = http::StatusCode::NOT_FOUND;
            }
            resp
        }
    })
    .await
}

#[tokio::test]
async fn revoked_certificates_are_refused_per_revocation_check_mode() {
    let root = TestCa::new("crl root");
    let crl = crl_server(root.crl(&[1002])).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let with_dp = |serial: u64, url: String| {
        root.issue_with(&["alice"], move |p| {
            p.serial_number = Some(rcgen::SerialNumber::from(serial));
            p.crl_distribution_points = vec![rcgen::CrlDistributionPoint { uris: vec![url] }];
        })
    };
    let crl_url = format!("http://127.0.0.1:{}/ca.crl", crl.port());
    let good = with_dp(1001, crl_url.clone());
    let revoked = with_dp(1002, crl_url);
    let unreachable = with_dp(1003, format!("http://127.0.0.1:{closed}/ca.crl"));
    let proxied = with_dp(1002, "http://crl.portico.invalid/ca.crl".to_string());

    let cases = [
        ("/default", json!({})),
        ("/strict", json!({"revocation_check_mode": "STRICT"})),
        ("/skip", json!({"revocation_check_mode": "SKIP"})),
        (
            "/proxied",
            json!({"http_proxy_host": "127.0.0.1", "http_proxy_port": crl.port()}),
        ),
    ];
    let (proxy, _upstream) = mtls_per_route(&root, cases).await;

    let status = |path: &'static str, cert: &Pem| {
        let proxy = &proxy;
        let cert = cert.clone();
        async move {
            https(proxy.https, "mtls.test", path, Some(&cert))
                .await
                .0
                .status
        }
    };
    assert_eq!(status("/default", &good).await, 200);
    let fetched = crl.requests();
    // The outcome is cached per certificate (cert_cache_ttl).
    assert_eq!(status("/default", &good).await, 200);
    assert_eq!(crl.requests(), fetched);
    assert_eq!(status("/default", &revoked).await, 401);
    assert_eq!(status("/skip", &revoked).await, 200);
    // CRL out of reach: IGNORE_CA_ERROR lets it pass, STRICT does not.
    assert_eq!(status("/default", &unreachable).await, 200);
    assert_eq!(status("/strict", &unreachable).await, 401);
    assert_eq!(status("/strict", &good).await, 200);
    // Downloaded through the forward proxy (the name itself does not resolve).
    assert_eq!(status("/proxied", &proxied).await, 401);
    let resp = https(proxy.https, "mtls.test", "/proxied", Some(&proxied))
        .await
        .0;
    assert_eq!(message(&resp), "TLS certificate failed verification");
}

/// An OCSP responder for `root`'s certificates, also serving a CRL at `/ca.crl`.
/// Statuses by serial number: 2002, 2005, 2006 revoked, 2007 unknown, others good.
/// `/ocsp` answers signed by the CA, `/forged` by another CA, `/delegate` by a
/// responder certificate the CA issued for OCSP signing, `/no-eku` by one the CA issued
/// without that usage. Only POSTs of `application/ocsp-request` are answered.
async fn ocsp_responder(root: &TestCa, crl: Vec<u8>) -> Upstream {
    use http_body_util::BodyExt;
    use portico_tests::ocsp::{Status, answer};

    struct Signers {
        root: rcgen::KeyPair,
        other: rcgen::KeyPair,
        delegate: (rcgen::KeyPair, Vec<u8>),
        no_eku: (rcgen::KeyPair, Vec<u8>),
    }
    let responder = |purposes: Vec<rcgen::ExtendedKeyUsagePurpose>| {
        let pem = root.issue_with(&["ocsp responder"], |p| p.extended_key_usages = purposes);
        let der = CertificateDer::from_pem_slice(pem.cert.as_bytes()).unwrap();
        (rcgen::KeyPair::from_pem(&pem.key).unwrap(), der.to_vec())
    };
    let signers = Arc::new(Signers {
        root: rcgen::KeyPair::from_pem(&root.key().serialize_pem()).unwrap(),
        other: rcgen::KeyPair::generate().unwrap(),
        delegate: responder(vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning]),
        no_eku: responder(vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth]),
    });
    let crl = Bytes::from(crl);
    Upstream::start(move |req, _| {
        let signers = signers.clone();
        let crl = crl.clone();
        async move {
            let path = req.uri().path().to_string();
            if path == "/ca.crl" {
                return Response::new(full(crl));
            }
            let is_ocsp = req.method() == http::Method::POST
                && req
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.as_bytes())
                    == Some(b"application/ocsp-request".as_slice());
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let status = |serial: u64| match serial {
                2002 | 2005 | 2006 => Status::Revoked,
                2007 => Status::Unknown,
                _ => Status::Good,
            };
            let der = match path.as_str() {
                _ if !is_ocsp => None,
                "/ocsp" => Some(answer(&body, status, &signers.root, &[])),
                "/forged" => Some(answer(&body, status, &signers.other, &[])),
                "/delegate" => {
                    let (key, cert) = &signers.delegate;
                    Some(answer(&body, status, key, std::slice::from_ref(cert)))
                }
                "/no-eku" => {
                    let (key, cert) = &signers.no_eku;
                    Some(answer(&body, status, key, std::slice::from_ref(cert)))
                }
                _ => None,
            };
            match der {
                Some(der) => {
                    let mut resp = Response::new(full(der));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/ocsp-response"),
                    );
                    resp
                }
                None => {
                    let mut resp: Response<UpstreamBody> = Response::new(full("bad request"));
                    *resp.status_mut() = http::StatusCode::BAD_REQUEST;
                    resp
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn ocsp_answers_decide_revocation_before_crls() {
    let root = TestCa::new("ocsp root");
    let responder = ocsp_responder(&root, root.crl(&[2007])).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{}", responder.port());
    let issue = |serial: u64, ocsp: String, crl: Option<String>| {
        root.issue_with(&["alice"], move |p| {
            p.serial_number = Some(rcgen::SerialNumber::from(serial));
            p.custom_extensions = vec![portico_tests::ocsp::aia_extension(&ocsp)];
            if let Some(url) = crl {
                p.crl_distribution_points = vec![rcgen::CrlDistributionPoint { uris: vec![url] }];
            }
        })
    };
    let good = issue(2001, format!("{base}/ocsp"), None);
    let revoked = issue(2002, format!("{base}/ocsp"), None);
    let unreachable = issue(2003, format!("http://127.0.0.1:{closed}/ocsp"), None);
    let forged_good = issue(2004, format!("{base}/forged"), None);
    let forged_revoked = issue(2002, format!("{base}/forged"), None);
    let delegated_revoked = issue(2005, format!("{base}/delegate"), None);
    let delegated_good = issue(2001, format!("{base}/delegate"), None);
    let no_eku_revoked = issue(2006, format!("{base}/no-eku"), None);
    // OCSP gives no answer (unknown, unreachable): the CRL decides.
    let unknown_then_crl = issue(2007, format!("{base}/ocsp"), Some(format!("{base}/ca.crl")));
    let unreachable_then_crl = issue(
        2008,
        format!("http://127.0.0.1:{closed}/ocsp"),
        Some(format!("{base}/ca.crl")),
    );
    let proxied_revoked = issue(2002, "http://ocsp.portico.invalid/ocsp".to_string(), None);

    let cases = [
        ("/default", json!({})),
        ("/strict", json!({"revocation_check_mode": "STRICT"})),
        (
            "/proxied",
            json!({"http_proxy_host": "127.0.0.1", "http_proxy_port": responder.port()}),
        ),
    ];
    let (proxy, _upstream) = mtls_per_route(&root, cases).await;
    let call = |path: &'static str, cert: &Pem| {
        let proxy = &proxy;
        let cert = cert.clone();
        async move { https(proxy.https, "mtls.test", path, Some(&cert)).await.0 }
    };
    let status = |path: &'static str, cert: &Pem| {
        let call = &call;
        let cert = cert.clone();
        async move { call(path, &cert).await.status }
    };

    assert_eq!(status("/strict", &good).await, 200);
    // The outcome is cached per certificate (cert_cache_ttl).
    let asked = responder.requests();
    assert_eq!(status("/strict", &good).await, 200);
    assert_eq!(responder.requests(), asked);

    let resp = call("/default", &revoked).await;
    assert_eq!(resp.status, 401);
    assert_eq!(message(&resp), "TLS certificate failed verification");
    assert_eq!(status("/strict", &revoked).await, 401);

    // Responder out of reach: IGNORE_CA_ERROR lets it pass, STRICT does not.
    assert_eq!(status("/default", &unreachable).await, 200);
    assert_eq!(status("/strict", &unreachable).await, 401);

    // An answer signed by another key is no answer, whatever it says.
    assert_eq!(status("/strict", &forged_good).await, 401);
    assert_eq!(status("/default", &forged_good).await, 200);
    assert_eq!(status("/default", &forged_revoked).await, 200);

    // A responder certificate the issuer signed for OCSP signing speaks for it; one
    // without that usage does not.
    assert_eq!(status("/default", &delegated_revoked).await, 401);
    assert_eq!(status("/strict", &delegated_good).await, 200);
    assert_eq!(status("/default", &no_eku_revoked).await, 200);
    assert_eq!(status("/strict", &no_eku_revoked).await, 401);

    // No answer from OCSP: the CRL distribution points decide.
    assert_eq!(status("/default", &unknown_then_crl).await, 401);
    assert_eq!(status("/strict", &unreachable_then_crl).await, 200);

    // Asked through the forward proxy (the responder's name itself does not resolve).
    assert_eq!(status("/proxied", &proxied_revoked).await, 401);
}

#[tokio::test]
async fn the_verdict_goes_to_the_log_entry() {
    let pki = pki();
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let root = ca_certificate(&pki.root.pem);
    let route = route_paths(Some(&svc), &["/"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let config = ConfigSet {
        plugins: vec![
            plugin(
                "mtls-auth",
                json!({"ca_certificates": [root.id], "revocation_check_mode": "SKIP"}),
            )
            .on_route(&route),
            plugin("file-log", json!({"path": path.display().to_string()})),
        ],
        consumers: vec![consumer("alice")],
        ca_certificates: vec![root],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let nobody = pki.root.issue(&["nobody"]);
    let cases = [
        (Some(&pki.alice), "SUCCESS"),
        (None, "NONE"),
        (Some(&pki.self_signed), "FAILED:self-signed certificate"),
        (
            Some(&pki.stranger),
            "FAILED:unable to get local issuer certificate",
        ),
        (Some(&pki.expired), "FAILED:certificate has expired"),
        (Some(&nobody), "FAILED:consumer not found"),
    ];
    for (i, (cert, expected)) in cases.iter().enumerate() {
        https(proxy.https, "mtls.test", "/", *cert).await;
        let entry = eventually(
            std::time::Duration::from_secs(10),
            "the log entry",
            || async {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let line = text.lines().nth(i)?;
                serde_json::from_str::<Value>(line).ok()
            },
        )
        .await;
        assert_eq!(entry["request"]["tls"]["client_verify"], *expected);
    }
}

#[test]
fn the_schema_rejects_bad_configs() {
    let config = ConfigSet {
        plugins: vec![plugin("mtls-auth", json!({}))],
        ..Default::default()
    };
    let err = rejected(&config);
    assert!(err.contains("ca_certificates"), "{err}");
    let config = ConfigSet {
        plugins: vec![plugin(
            "mtls-auth",
            json!({"ca_certificates": ["x"], "revocation_check_mode": "OCSP"}),
        )],
        ..Default::default()
    };
    let err = rejected(&config);
    assert!(err.contains("revocation_check_mode"), "{err}");
}
