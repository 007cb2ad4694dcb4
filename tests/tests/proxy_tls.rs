//! Behaviour catalogue §2.7 and the TLS parts of §2.1/§2.4: certificate selection by SNI,
//! HTTPS enforcement and redirects, upstream TLS (verification, depth, SNI, client
//! certificates).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use common::model::{CaCertificate, ForeignRef, Protocol};
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::certs::{TestCa, common_name, self_signed};
use portico_tests::client::{self, connect_tls, get};
use portico_tests::entities::{certificate, route_hosts, route_paths, service, sni};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{Upstream, echo_handler};
use uuid::Uuid;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn served_cn(proxy: &TestProxy, sni: Option<&str>) -> String {
    let (_stream, leaf, _) = connect_tls(proxy.https, sni, &[b"http/1.1"]).await.unwrap();
    common_name(&leaf)
}

#[tokio::test]
async fn certificates_are_chosen_by_sni_like_kong() {
    let ca = TestCa::new("test ca");
    let exact = certificate(&ca.issue(&["exact.wildcard.com"]));
    let prefix = certificate(&ca.issue(&["prefix-wildcard"]));
    let suffix = certificate(&ca.issue(&["suffix-wildcard"]));
    let plain = certificate(&ca.issue(&["example.org"]));
    let config = ConfigSet {
        snis: vec![
            sni("exact.wildcard.com", &exact),
            sni("*.wildcard.com", &prefix),
            sni("wildcard.*", &suffix),
            sni("example.org", &plain),
        ],
        certificates: vec![exact, prefix, suffix, plain],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    assert_eq!(
        served_cn(&proxy, None).await,
        "localhost",
        "default certificate"
    );
    assert_eq!(served_cn(&proxy, Some("unknown.test")).await, "localhost");
    assert_eq!(served_cn(&proxy, Some("example.org")).await, "example.org");
    assert_eq!(served_cn(&proxy, Some("EXAMPLE.org")).await, "example.org");
    assert_eq!(
        served_cn(&proxy, Some("exact.wildcard.com")).await,
        "exact.wildcard.com",
        "exact beats prefix wildcard"
    );
    assert_eq!(
        served_cn(&proxy, Some("test.wildcard.com")).await,
        "prefix-wildcard"
    );
    assert_eq!(
        served_cn(&proxy, Some("wildcard.eu")).await,
        "suffix-wildcard"
    );
    assert_eq!(
        served_cn(&proxy, Some("wildcard.com")).await,
        "suffix-wildcard",
        "two labels: no prefix form, suffix form wildcard.*"
    );
}

#[tokio::test]
async fn the_star_sni_replaces_the_default_certificate() {
    let ca = TestCa::new("test ca");
    let fallback = certificate(&ca.issue(&["fallback.test"]));
    let config = ConfigSet {
        snis: vec![sni("*", &fallback)],
        certificates: vec![fallback],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    assert_eq!(served_cn(&proxy, None).await, "fallback.test");
    assert_eq!(
        served_cn(&proxy, Some("anything.test")).await,
        "fallback.test"
    );
}

#[tokio::test]
async fn expired_certificates_are_still_served() {
    let ca = TestCa::new("test ca");
    let expired = certificate(&ca.issue_expired(&["expired.test"]));
    let config = ConfigSet {
        snis: vec![sni("expired.test", &expired)],
        certificates: vec![expired],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    assert_eq!(
        served_cn(&proxy, Some("expired.test")).await,
        "expired.test"
    );
}

#[tokio::test]
async fn a_new_runtime_changes_certificates_for_new_connections() {
    let ca = TestCa::new("test ca");
    let first = certificate(&ca.issue(&["first.test"]));
    let proxy = TestProxy::start(ConfigSet {
        snis: vec![sni("swap.test", &first)],
        certificates: vec![first],
        ..Default::default()
    })
    .await;
    assert_eq!(served_cn(&proxy, Some("swap.test")).await, "first.test");
    let second = certificate(&ca.issue(&["second.test"]));
    proxy
        .publish(ConfigSet {
            snis: vec![sni("swap.test", &second)],
            certificates: vec![second],
            ..Default::default()
        })
        .await;
    assert_eq!(served_cn(&proxy, Some("swap.test")).await, "second.test");
}

#[tokio::test]
async fn invalid_certificates_are_rejected_with_the_entity_named() {
    let mut bad = certificate(&self_signed(&["bad.test"]));
    bad.key = "not a key".into();
    let id = bad.id;
    let handle = TestProxy::handle();
    let err = handle
        .compile(ConfigSet {
            certificates: vec![bad],
            ..Default::default()
        })
        .err()
        .expect("must not compile");
    assert!(err.to_string().contains(&id.to_string()), "{err}");
}

#[tokio::test]
async fn alpn_negotiates_http2_and_http11() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let config = ConfigSet {
        routes: vec![route_hosts(Some(&svc), &["alpn.test"])],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;

    let (stream, _, alpn) = connect_tls(proxy.https, Some("alpn.test"), &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let req = http::Request::get("https://alpn.test/")
        .body(empty())
        .unwrap();
    let resp = client::send_h2_on(stream, req).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.version, http::Version::HTTP_2);
    assert_eq!(resp.json()["headers"]["x-forwarded-proto"], "https");

    let (stream, _, alpn) = connect_tls(proxy.https, Some("alpn.test"), &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let resp = client::send_on(stream, get("/", "alpn.test").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-forwarded-proto"], "https");
}

async fn https_only_proxy(redirect: u16, flags: &[&str]) -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let mut r = route_hosts(Some(&svc), &["example.com"]);
    r.protocols = vec![Protocol::Https];
    r.https_redirect_status_code = redirect;
    let config = ConfigSet {
        routes: vec![r],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start_with(config, flags).await, upstream)
}

#[tokio::test]
async fn https_only_routes_answer_426_over_http() {
    let (proxy, _up) = https_only_proxy(426, &[]).await;
    let resp = client::send(proxy.http, get("/", "example.com").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 426);
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("Please use HTTPS protocol")
    );
    assert_eq!(resp.header("connection").to_ascii_lowercase(), "upgrade");
    assert_eq!(resp.header("upgrade"), "TLS/1.2, HTTP/1.1");

    let (stream, _, _) = connect_tls(proxy.https, Some("example.com"), &[b"http/1.1"])
        .await
        .unwrap();
    let resp = client::send_on(stream, get("/", "example.com").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn https_redirect_status_codes_redirect_with_the_query() {
    let (proxy, _up) = https_only_proxy(301, &[]).await;
    let resp = client::send(
        proxy.http,
        get("/redirect-301", "example.com").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location"), "https://example.com/redirect-301");

    let (proxy, _up) = https_only_proxy(302, &[]).await;
    let resp = client::send(
        proxy.http,
        get("/redirect-302?foo=bar", "example.com")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.header("location"),
        "https://example.com/redirect-302?foo=bar"
    );
}

#[tokio::test]
async fn x_forwarded_proto_https_counts_only_from_trusted_peers() {
    let send = |proxy: &TestProxy, proto: &'static str| {
        client::send(
            proxy.http,
            get("/", "example.com")
                .header("x-forwarded-proto", proto)
                .body(empty())
                .unwrap(),
        )
    };
    let (untrusted, _u1) = https_only_proxy(426, &[]).await;
    assert_eq!(send(&untrusted, "https").await.unwrap().status, 426);

    let (trusted, _u2) = https_only_proxy(426, &["--trusted-ips", "127.0.0.1"]).await;
    assert_eq!(send(&trusted, "https").await.unwrap().status, 200);
    assert_eq!(send(&trusted, "httpsa").await.unwrap().status, 426);
}

/// An HTTPS echo upstream serving `pem`.
async fn tls_upstream(pem: &portico_tests::certs::Pem) -> Upstream {
    Upstream::start_tls(echo_handler, pem.server_config()).await
}

fn ca_entity(ca: &TestCa) -> CaCertificate {
    CaCertificate {
        id: Uuid::new_v4(),
        cert: ca.pem.clone(),
        cert_digest: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    }
}

#[tokio::test]
async fn upstream_tls_verification() {
    let ca = TestCa::new("upstream ca");
    let upstream = tls_upstream(&ca.issue(&["localhost"])).await;
    let port = upstream.port();

    // Default (tls_verify unset): not verified, like Kong's proxy_ssl_verify off.
    let lax = service(&format!("https://localhost:{port}"));
    // Verified against the node trust store, which does not know this CA: 502.
    let mut strict = service(&format!("https://localhost:{port}"));
    strict.tls_verify = Some(true);
    strict.retries = 0;
    // Verified against the service's own CA: fine.
    let ca_cert = ca_entity(&ca);
    let mut trusted = service(&format!("https://localhost:{port}"));
    trusted.tls_verify = Some(true);
    trusted.ca_certificates = Some(vec![ca_cert.id]);
    let config = ConfigSet {
        routes: vec![
            route_paths(Some(&lax), &["/lax"]),
            route_paths(Some(&strict), &["/strict"]),
            route_paths(Some(&trusted), &["/trusted"]),
        ],
        services: vec![lax, strict, trusted],
        ca_certificates: vec![ca_cert],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let status = |path: &'static str| {
        let proxy_addr = proxy.http;
        async move {
            client::send(proxy_addr, get(path, "tls.test").body(empty()).unwrap())
                .await
                .unwrap()
        }
    };
    assert_eq!(status("/lax").await.status, 200);
    let resp = status("/strict").await;
    assert_eq!(resp.status, 502);
    assert!(
        resp.text()
            .contains("An invalid response was received from the upstream server")
    );
    let resp = status("/trusted").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["tls_sni"], "localhost");
}

#[tokio::test]
async fn upstream_tls_verify_depth_counts_intermediates() {
    let root = TestCa::new("root");
    let intermediate = root.intermediate("intermediate");
    let mut leaf = intermediate.issue(&["localhost"]);
    leaf.cert.push_str(&intermediate.pem);
    let upstream = tls_upstream(&leaf).await;
    let port = upstream.port();
    let ca_cert = ca_entity(&root);
    let mut depth0 = service(&format!("https://localhost:{port}"));
    depth0.tls_verify = Some(true);
    depth0.tls_verify_depth = Some(0);
    depth0.ca_certificates = Some(vec![ca_cert.id]);
    depth0.retries = 0;
    let mut depth1 = depth0.clone();
    depth1.id = Uuid::new_v4();
    depth1.tls_verify_depth = Some(1);
    let config = ConfigSet {
        routes: vec![
            route_paths(Some(&depth0), &["/depth0"]),
            route_paths(Some(&depth1), &["/depth1"]),
        ],
        services: vec![depth0, depth1],
        ca_certificates: vec![ca_cert],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let resp = client::send(proxy.http, get("/depth0", "x").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 502);
    let resp = client::send(proxy.http, get("/depth1", "x").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn upstream_sni_follows_the_host_header() {
    let ca = TestCa::new("upstream ca");
    let upstream = tls_upstream(&ca.issue(&["localhost", "127.0.0.1"])).await;
    let port = upstream.port();
    let by_name = service(&format!("https://localhost:{port}"));
    let by_ip = service(&format!("https://127.0.0.1:{port}"));
    let mut preserve = route_paths(Some(&by_name), &["/preserve"]);
    preserve.preserve_host = true;
    let config = ConfigSet {
        routes: vec![
            preserve,
            route_paths(Some(&by_name), &["/name"]),
            route_paths(Some(&by_ip), &["/ip"]),
        ],
        services: vec![by_name, by_ip],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let sni_for = |path: &'static str| {
        let proxy_addr = proxy.http;
        async move {
            let resp = client::send(proxy_addr, get(path, "ssl3.com").body(empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{}", resp.text());
            resp.json()["tls_sni"].clone()
        }
    };
    assert_eq!(sni_for("/preserve").await, "ssl3.com");
    assert_eq!(sni_for("/name").await, "localhost");
    assert!(sni_for("/ip").await.is_null(), "no SNI for an IP host");
}

#[tokio::test]
async fn upstream_client_certificates_are_presented() {
    let server_ca = TestCa::new("server ca");
    let client_ca = TestCa::new("client ca");
    let server_pem = server_ca.issue(&["localhost"]);
    let upstream = Upstream::start_tls(
        echo_handler,
        server_pem.server_config_requiring_client_cert(&client_ca.pem),
    )
    .await;
    let port = upstream.port();
    let client_cert = certificate(&client_ca.issue(&["portico-client"]));
    let without = {
        let mut s = service(&format!("https://localhost:{port}"));
        s.retries = 0;
        s
    };
    let mut with = service(&format!("https://localhost:{port}"));
    with.client_certificate = Some(ForeignRef { id: client_cert.id });
    let config = ConfigSet {
        routes: vec![
            route_paths(Some(&without), &["/without"]),
            route_paths(Some(&with), &["/with"]),
        ],
        services: vec![without, with],
        certificates: vec![client_cert],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;
    let resp = client::send(proxy.http, get("/without", "x").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 502);
    let resp = client::send(proxy.http, get("/with", "x").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}
