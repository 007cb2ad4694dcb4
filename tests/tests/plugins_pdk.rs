//! The seed PDK functions (`kong.service.*`, `kong.client.tls.*`) exercised through a test
//! plugin on an in-process node: their effect, the phases they are allowed in, and their
//! errors when misused.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::model::CaCertificate;
use common::schema::{Field, PluginDef, Schema};
use data_plane::plugins::pdk::service::{parse_pem_cert, parse_pem_priv_key, trust_store};
use data_plane::plugins::{CertificatePhase, Exit, Flow, Kong, PdkError, Plugin, PluginRegistry};
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::certs::{Pem, TestCa};
use portico_tests::client::{self, get};
use portico_tests::entities::{
    PluginScope, plugin, route_paths, service, target, upstream as upstream_entity,
};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::{Upstream, echo_handler};
use serde_json::{Value, json};
use uuid::Uuid;

type Sink = Arc<Mutex<Vec<String>>>;

/// Calls one PDK function (`config.call`) in one phase (`config.phase`). In rewrite and
/// access a PDK error answers 500 with the error text; in later phases it is recorded.
struct Caller {
    config: Value,
    sink: Sink,
}

impl Caller {
    fn str(&self, key: &str) -> &str {
        self.config[key].as_str().unwrap_or("")
    }

    fn call(&self, kong: &mut Kong<'_>) -> Result<Option<String>, PdkError> {
        let arg = self.str("arg");
        let num = self.config["num"].as_i64().unwrap_or(0);
        match self.str("call") {
            "set_upstream" => kong.service().set_upstream(arg).map(|_| None),
            "set_target" => kong.service().set_target(arg, num).map(|_| None),
            "set_tls_verify" => kong.service().set_tls_verify(arg == "on").map(|_| None),
            "set_tls_verify_depth" => kong.service().set_tls_verify_depth(num).map(|_| None),
            "set_tls_verify_store" => {
                let store = trust_store(arg)?;
                kong.service().set_tls_verify_store(store).map(|_| None)
            }
            "set_tls_cert_key" => {
                let chain = parse_pem_cert(arg)?;
                let key = parse_pem_priv_key(self.str("key"))?;
                kong.service().set_tls_cert_key(chain, &key).map(|_| None)
            }
            "get_full_client_certificate_chain" => kong.client().tls_client_certificate_chain(),
            "set_client_verify" => kong.client().tls_set_client_verify(arg).map(|_| None),
            "request_client_certificate" => kong.tls_request_client_certificate().map(|_| None),
            "disable_session_reuse" => kong.tls_disable_session_reuse().map(|_| None),
            other => Err(PdkError::Argument(format!("unknown call {other}"))),
        }
    }

    fn run(&self, kong: &mut Kong<'_>, phase: &str) -> Flow {
        if self.str("phase") != phase {
            return Flow::Continue;
        }
        match self.call(kong) {
            // The chain functions answer with what they returned.
            Ok(Some(text)) => Flow::Exit(Exit::body(200, text)),
            Ok(None) if self.str("call") == "get_full_client_certificate_chain" => {
                Flow::Exit(Exit::body(200, "none"))
            }
            Ok(None) => Flow::Continue,
            Err(e) => Flow::Exit(Exit::body(500, e.to_string())),
        }
    }
}

#[async_trait]
impl Plugin for Caller {
    fn certificate(&self, tls: &mut CertificatePhase<'_>) {
        if self.config["request_client_certificate"] == true {
            tls.request_client_certificate().unwrap();
        }
        if self.config["disable_session_reuse"] == true {
            tls.disable_session_reuse().unwrap();
        }
    }

    async fn rewrite(&self, kong: &mut Kong<'_>) -> Flow {
        self.run(kong, "rewrite")
    }

    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        self.run(kong, "access")
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        if self.str("phase") == "header_filter"
            && let Err(e) = self.call(kong)
        {
            self.sink.lock().unwrap().push(e.to_string());
        }
    }

    fn log(&self, kong: &mut Kong<'_>) {
        if self.str("phase") == "log"
            && let Err(e) = self.call(kong)
        {
            self.sink.lock().unwrap().push(e.to_string());
        }
        if let Ok(entry) = kong.serialize() {
            let verify = &entry["request"]["tls"]["client_verify"];
            self.sink
                .lock()
                .unwrap()
                .push(format!("client_verify:{}", verify.as_str().unwrap_or("-")));
        }
    }
}

fn registry(sink: &Sink) -> PluginRegistry {
    let config = Schema::record(vec![
        ("phase", Field::string()),
        ("call", Field::string()),
        ("arg", Field::string()),
        ("key", Field::string()),
        ("num", Field::integer()),
        ("request_client_certificate", Field::boolean()),
        ("disable_session_reuse", Field::boolean()),
    ]);
    let def = PluginDef::custom(
        "pdk-caller",
        500,
        "1.0.0",
        Schema::new("pdk-caller").field("config", Field::record(config)),
    );
    let mut registry = PluginRegistry::empty();
    let sink = sink.clone();
    registry.register(def, move |cx| {
        Ok(Arc::new(Caller {
            config: cx.entity.config.clone(),
            sink: sink.clone(),
        }))
    });
    registry
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

async fn call(proxy: &TestProxy, path: &str) -> client::Resp {
    client::send(proxy.http, get(path, "pdk.test").body(empty()).unwrap())
        .await
        .unwrap()
}

/// A route per (path, plugin config) to `svc`.
fn routes_with_callers(
    svc: &common::model::Service,
    cases: &[(&str, Value)],
) -> (Vec<common::model::Route>, Vec<common::model::Plugin>) {
    let mut routes = Vec::new();
    let mut plugins = Vec::new();
    for (path, config) in cases {
        let route = route_paths(Some(svc), &[path]);
        plugins.push(plugin("pdk-caller", config.clone()).on_route(&route));
        routes.push(route);
    }
    (routes, plugins)
}

#[tokio::test]
async fn set_upstream_and_set_target_redirect_the_request() {
    let echo = Upstream::echo().await;
    // The service points nowhere useful; the plugins send requests to the echo server.
    let mut svc = service("http://127.0.0.1:9");
    svc.retries = 0;
    let up = upstream_entity("pdk-upstream");
    let tgt = target(&up, &format!("127.0.0.1:{}", echo.port()), 100);
    let port = i64::from(echo.port());
    let (routes, plugins) = routes_with_callers(
        &svc,
        &[
            (
                "/upstream",
                json!({"phase": "access", "call": "set_upstream", "arg": "pdk-upstream"}),
            ),
            (
                "/unknown",
                json!({"phase": "access", "call": "set_upstream", "arg": "nope"}),
            ),
            (
                "/target",
                json!({"phase": "access", "call": "set_target", "arg": "127.0.0.1", "num": port}),
            ),
            (
                "/bad-port",
                json!({"phase": "access", "call": "set_target", "arg": "127.0.0.1", "num": 70000}),
            ),
        ],
    );
    let config = ConfigSet {
        routes,
        plugins,
        services: vec![svc],
        upstreams: vec![up],
        targets: vec![tgt],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;

    assert_eq!(call(&proxy, "/upstream").await.status, 200);
    assert_eq!(call(&proxy, "/target").await.status, 200);
    assert_eq!(echo.requests(), 2);
    let resp = call(&proxy, "/unknown").await;
    assert_eq!(resp.status, 500);
    assert_eq!(resp.text(), "could not find an Upstream named 'nope'");
    let resp = call(&proxy, "/bad-port").await;
    assert_eq!(
        resp.text(),
        "port must be an integer between 0 and 65535: given 70000"
    );
}

#[tokio::test]
async fn service_functions_are_refused_outside_their_phases() {
    let echo = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", echo.port()));
    let route = route_paths(Some(&svc), &["/"]);
    let cases = [
        (
            "set_upstream",
            "rewrite",
            "function cannot be called in rewrite phase (only in: access)",
        ),
        (
            "set_target",
            "rewrite",
            "function cannot be called in rewrite phase (only in: access)",
        ),
        (
            "set_tls_verify",
            "header_filter",
            "function cannot be called in header_filter phase (only in: rewrite, access)",
        ),
        (
            "set_tls_verify_depth",
            "log",
            "function cannot be called in log phase (only in: rewrite, access)",
        ),
        (
            "set_client_verify",
            "log",
            "function cannot be called in log phase (only in: rewrite, access)",
        ),
        (
            "request_client_certificate",
            "access",
            "function cannot be called in access phase (only in: certificate)",
        ),
        (
            "disable_session_reuse",
            "rewrite",
            "function cannot be called in rewrite phase (only in: certificate)",
        ),
    ];
    for (function, phase, message) in cases {
        let sink = Sink::default();
        let config = ConfigSet {
            plugins: vec![plugin(
                "pdk-caller",
                json!({"phase": phase, "call": function, "arg": "x", "num": 1}),
            )],
            routes: vec![route.clone()],
            services: vec![svc.clone()],
            ..Default::default()
        };
        let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
        let resp = call(&proxy, "/").await;
        if matches!(phase, "rewrite" | "access") {
            assert_eq!(resp.status, 500, "{function} in {phase}");
            assert_eq!(resp.text(), message, "{function} in {phase}");
        } else {
            portico_tests::process::eventually(
                std::time::Duration::from_secs(5),
                "the phase error",
                || async {
                    sink.lock()
                        .unwrap()
                        .contains(&message.to_string())
                        .then_some(())
                },
            )
            .await;
        }
    }
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
async fn tls_verification_settings_apply_to_the_request() {
    let root = TestCa::new("pdk root");
    let intermediate = root.intermediate("pdk intermediate");
    let mut leaf = intermediate.issue(&["localhost"]);
    leaf.cert.push_str(&intermediate.pem);
    let tls_up = Upstream::start_tls(echo_handler, leaf.server_config()).await;
    let mut svc = service(&format!("https://localhost:{}", tls_up.port()));
    svc.retries = 0;
    let (routes, plugins) = routes_with_callers(
        &svc,
        &[
            // tls_verify unset on the service: not verified.
            ("/lax", json!({})),
            // Verified against the node's trust store, which lacks this CA.
            (
                "/verify",
                json!({"phase": "access", "call": "set_tls_verify", "arg": "on"}),
            ),
            (
                "/bad-depth",
                json!({"phase": "access", "call": "set_tls_verify_depth", "num": -1}),
            ),
        ],
    );
    // Verification on through the service, the store and depth through the plugin.
    let mut strict = svc.clone();
    strict.id = Uuid::new_v4();
    strict.tls_verify = Some(true);
    let (more_routes, more_plugins) = routes_with_callers(
        &strict,
        &[
            (
                "/store",
                json!({"phase": "access", "call": "set_tls_verify_store", "arg": root.pem}),
            ),
            (
                "/depth0",
                json!({"phase": "access", "call": "set_tls_verify_depth", "num": 0}),
            ),
        ],
    );
    // Depth: the store comes from the service's CA list, the depth from the plugin.
    let ca = ca_entity(&root);
    let mut depth_svc = strict.clone();
    depth_svc.id = Uuid::new_v4();
    depth_svc.ca_certificates = Some(vec![ca.id]);
    let depth_route = route_paths(Some(&depth_svc), &["/ca-depth0"]);
    let ca_route = route_paths(Some(&depth_svc), &["/ca-default-depth"]);
    let depth_plugin = plugin(
        "pdk-caller",
        json!({"phase": "access", "call": "set_tls_verify_depth", "num": 0}),
    )
    .on_route(&depth_route);
    let config = ConfigSet {
        routes: [routes, more_routes, vec![depth_route, ca_route]].concat(),
        plugins: [plugins, more_plugins, vec![depth_plugin]].concat(),
        services: vec![svc, strict, depth_svc],
        ca_certificates: vec![ca],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
    assert_eq!(call(&proxy, "/lax").await.status, 200);
    assert_eq!(call(&proxy, "/verify").await.status, 502);
    assert_eq!(call(&proxy, "/store").await.status, 200);
    // The service trusts nothing it knows: depth alone does not help.
    assert_eq!(call(&proxy, "/depth0").await.status, 502);
    // Trusted CA and the default depth (1 intermediate): fine; depth 0 from the plugin: not.
    assert_eq!(call(&proxy, "/ca-default-depth").await.status, 200);
    assert_eq!(call(&proxy, "/ca-depth0").await.status, 502);
    let resp = call(&proxy, "/bad-depth").await;
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.text(),
        "depth must be a non-negative integer: given -1"
    );
}

#[tokio::test]
async fn set_tls_cert_key_presents_a_client_certificate_upstream() {
    let server_ca = TestCa::new("pdk server ca");
    let client_ca = TestCa::new("pdk client ca");
    let server = server_ca.issue(&["localhost"]);
    let client_cert: Pem = client_ca.issue(&["client.test"]);
    let mtls_up = Upstream::start_tls(
        echo_handler,
        server.server_config_requiring_client_cert(&client_ca.pem),
    )
    .await;
    let mut svc = service(&format!("https://localhost:{}", mtls_up.port()));
    svc.retries = 0;
    let (routes, plugins) = routes_with_callers(
        &svc,
        &[
            ("/without", json!({})),
            (
                "/with",
                json!({"phase": "access", "call": "set_tls_cert_key", "arg": client_cert.cert, "key": client_cert.key}),
            ),
            (
                "/mismatch",
                json!({"phase": "access", "call": "set_tls_cert_key", "arg": client_cert.cert, "key": server.key}),
            ),
        ],
    );
    let config = ConfigSet {
        routes,
        plugins,
        services: vec![svc],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
    assert_eq!(call(&proxy, "/without").await.status, 502);
    assert_eq!(call(&proxy, "/with").await.status, 200);
    let resp = call(&proxy, "/mismatch").await;
    assert_eq!(resp.status, 500);
    assert!(
        resp.text().starts_with("certificate and key do not match"),
        "{}",
        resp.text()
    );
}

/// A TLS client presenting `cert` (if any) that keeps sessions for resumption.
fn tls_client(cert: Option<&Pem>) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(portico_tests::certs::AcceptAll));
    let mut config = match cert {
        Some(pem) => builder
            .with_client_auth_cert(
                parse_pem_cert(&pem.cert).unwrap(),
                parse_pem_priv_key(&pem.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One HTTPS request; also tells whether the TLS session was resumed.
async fn https(
    proxy: &TestProxy,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> (client::Resp, bool) {
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let tcp = tokio::net::TcpStream::connect(proxy.https).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("pdk.test").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let resp = client::send_on(stream, get(path, "pdk.test").body(empty()).unwrap())
        .await
        .unwrap();
    (resp, resumed)
}

#[tokio::test]
async fn a_requested_client_certificate_is_available_to_later_phases() {
    let echo = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", echo.port()));
    let route = route_paths(Some(&svc), &["/"]);
    let client_ca = TestCa::new("pdk client ca");
    let client_cert = client_ca.issue(&["client.test"]);
    let chain_call = json!({"phase": "access", "call": "get_full_client_certificate_chain"});
    let mut requesting = chain_call.clone();
    requesting["request_client_certificate"] = json!(true);
    for (config, expect_chain) in [(chain_call, false), (requesting, true)] {
        let sink = Sink::default();
        let proxy = TestProxy::with_plugins(
            ConfigSet {
                plugins: vec![plugin("pdk-caller", config)],
                routes: vec![route.clone()],
                services: vec![svc.clone()],
                ..Default::default()
            },
            registry(&sink),
        )
        .await;
        let (resp, _) = https(&proxy, &tls_client(Some(&client_cert)), "/").await;
        assert_eq!(resp.status, 200);
        if expect_chain {
            // The PEM chain, leaf first, exactly as presented.
            assert_eq!(
                parse_pem_cert(&resp.text()).unwrap(),
                parse_pem_cert(&client_cert.cert).unwrap()
            );
        } else {
            // Not requested: the client sends none.
            assert_eq!(resp.text(), "none");
        }
        // Requested but the client has none: the handshake still completes.
        let (resp, _) = https(&proxy, &tls_client(None), "/").await;
        assert_eq!(resp.text(), "none");
    }
}

#[tokio::test]
async fn disable_session_reuse_forces_full_handshakes() {
    let echo = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", echo.port()));
    let route = route_paths(Some(&svc), &["/"]);
    for (disable, expect_resumed) in [(false, true), (true, false)] {
        let sink = Sink::default();
        let proxy = TestProxy::with_plugins(
            ConfigSet {
                plugins: vec![plugin(
                    "pdk-caller",
                    json!({"disable_session_reuse": disable}),
                )],
                routes: vec![route.clone()],
                services: vec![svc.clone()],
                ..Default::default()
            },
            registry(&sink),
        )
        .await;
        let client = tls_client(None);
        let (first, resumed) = https(&proxy, &client, "/").await;
        assert_eq!(first.status, 200);
        assert!(!resumed);
        let (_, resumed) = https(&proxy, &client, "/").await;
        assert_eq!(resumed, expect_resumed, "disable_session_reuse = {disable}");
    }
}

#[tokio::test]
async fn set_client_verify_overrides_the_logged_verification_result() {
    let echo = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", echo.port()));
    let (routes, plugins) = routes_with_callers(
        &svc,
        &[
            ("/default", json!({})),
            (
                "/failed",
                json!({"phase": "access", "call": "set_client_verify", "arg": "FAILED:unknown CA"}),
            ),
            (
                "/bogus",
                json!({"phase": "access", "call": "set_client_verify", "arg": "MAYBE"}),
            ),
        ],
    );
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(
        ConfigSet {
            routes,
            plugins,
            services: vec![svc],
            ..Default::default()
        },
        registry(&sink),
    )
    .await;
    let client = tls_client(None);
    let (resp, _) = https(&proxy, &client, "/default").await;
    assert_eq!(resp.status, 200);
    let (resp, _) = https(&proxy, &client, "/failed").await;
    assert_eq!(resp.status, 200);
    let (resp, _) = https(&proxy, &client, "/bogus").await;
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.text(),
        r#"unknown client verify value: MAYBE accepted values are: "SUCCESS", "NONE" or "FAILED:<reason>""#
    );
    portico_tests::process::eventually(
        std::time::Duration::from_secs(5),
        "three log entries",
        || async {
            let seen = sink.lock().unwrap().clone();
            (seen.len() >= 3).then_some(seen)
        },
    )
    .await;
    let seen = sink.lock().unwrap().clone();
    assert!(seen.contains(&"client_verify:NONE".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"client_verify:FAILED:unknown CA".to_string()),
        "{seen:?}"
    );
}
