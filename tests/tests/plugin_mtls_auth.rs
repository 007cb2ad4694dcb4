//! mtls-auth against the real data plane: client certificates requested on TLS
//! connections, verified against the configured CA certificates, mapped to consumers.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use common::model::CaCertificate;
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::certs::{AcceptAll, Pem, TestCa};
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, consumer, plugin, route_paths, service};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::json;
use uuid::Uuid;

fn tls_client(cert: Option<&Pem>) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AcceptAll));
    let mut config = match cert {
        Some(pem) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn https(proxy: &TestProxy, cert: Option<&Pem>, path: &str) -> client::Resp {
    let connector = tokio_rustls::TlsConnector::from(tls_client(cert));
    let tcp = tokio::net::TcpStream::connect(proxy.https).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("mtls.test").unwrap(), tcp)
        .await
        .unwrap();
    client::send_on(
        stream,
        get(path, "mtls.test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn client_certificates_map_to_consumers() {
    let trusted = TestCa::new("mtls trusted ca");
    let other = TestCa::new("mtls other ca");
    let ca = CaCertificate {
        id: Uuid::new_v4(),
        cert: trusted.pem.clone(),
        cert_digest: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    };
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/secure"]);
    let anon_route = route_paths(Some(&svc), &["/anon"]);
    let alice = consumer("alice");
    let guest = consumer("guest");
    let config = ConfigSet {
        // Route-scoped only: certificates are still requested on every connection.
        plugins: vec![
            plugin("mtls-auth", json!({"ca_certificates": [ca.id]})).on_route(&route),
            plugin(
                "mtls-auth",
                json!({"ca_certificates": [ca.id], "anonymous": "guest"}),
            )
            .on_route(&anon_route),
        ],
        ca_certificates: vec![ca],
        consumers: vec![alice, guest],
        routes: vec![route, anon_route],
        services: vec![svc],
        ..Default::default()
    };
    let proxy = TestProxy::start(config).await;

    let resp = https(&proxy, Some(&trusted.issue(&["alice"])), "/secure").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "alice");

    let resp = https(&proxy, None, "/secure").await;
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.json()["message"],
        "No required TLS certificate was sent"
    );

    let resp = https(&proxy, Some(&other.issue(&["alice"])), "/secure").await;
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.json()["message"],
        "TLS certificate failed verification"
    );

    // Trusted, but no consumer named after it.
    let resp = https(&proxy, Some(&trusted.issue(&["mallory"])), "/secure").await;
    assert_eq!(resp.status, 401);

    // Plain HTTP never carries a certificate.
    let resp = client::send(
        proxy.http,
        get("/secure", "mtls.test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        resp.json()["message"],
        "No required TLS certificate was sent"
    );

    let resp = https(&proxy, None, "/anon").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "guest");
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (json!({}), "required field missing"),
        (
            json!({"ca_certificates": ["not-a-uuid"]}),
            "expected a valid UUID",
        ),
        (
            json!({"ca_certificates": [Uuid::new_v4()], "authenticated_group_by": "OU"}),
            "expected one of: CN, DN",
        ),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("mtls-auth", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
