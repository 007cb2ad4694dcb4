//! The plugin framework with test plugins on an in-process node: priority order, Kong's
//! scope precedence (re-evaluated once a consumer is authenticated), rewrite for global
//! instances only, short-circuit exits, and the later phases always running.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::schema::{Field, PluginDef, Schema};
use data_plane::plugins::{Exit, Flow, InstanceCx, Kong, Plugin, PluginRegistry};
use data_plane::runtime::ConfigSet;
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, consumer, plugin, route_paths, service};
use portico_tests::proxy::TestProxy;
use portico_tests::upstream::Upstream;
use serde_json::json;

type Sink = Arc<Mutex<Vec<String>>>;

fn schema(name: &'static str, priority: i32) -> PluginDef {
    let config = Schema::record(vec![
        ("tag", Field::string()),
        ("required", Field::boolean()),
    ]);
    PluginDef::custom(
        name,
        priority,
        "1.0.0",
        Schema::new(name).field("config", Field::record(config)),
    )
}

fn tag(cx: &InstanceCx<'_>) -> String {
    cx.entity.config["tag"].as_str().unwrap_or("").to_string()
}

/// Appends its tag to `x-seen` upstream, to `x-seen-response` downstream, and records
/// `log:<tag>:<status>`.
struct Probe {
    tag: String,
    sink: Sink,
}

#[async_trait]
impl Plugin for Probe {
    async fn rewrite(&self, kong: &mut Kong<'_>) -> Flow {
        kong.service_request()
            .add_header("x-rewrite", &self.tag)
            .unwrap();
        Flow::Continue
    }

    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        kong.service_request()
            .add_header("x-seen", &self.tag)
            .unwrap();
        Flow::Continue
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        kong.response()
            .add_header("x-seen-response", &self.tag)
            .unwrap();
    }

    fn log(&self, kong: &mut Kong<'_>) {
        let status = kong.response().status().map_or(0, |s| s.as_u16());
        self.sink
            .lock()
            .unwrap()
            .push(format!("log:{}:{status}", self.tag));
    }
}

/// Authenticates the consumer named by `x-user`; answers 401 when `required` and absent.
struct Auth {
    required: bool,
}

#[async_trait]
impl Plugin for Auth {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        kong.service_request().add_header("x-seen", "auth").unwrap();
        let user = kong.request().header("x-user").map(str::to_string);
        let found = user.and_then(|u| kong.client().load_consumer_by_name(&u));
        match found {
            Some(c) => {
                kong.client().authenticate(Some(c), None).unwrap();
                Flow::Continue
            }
            None if self.required => Flow::Exit(Exit::error(401, "Unauthorized")),
            None => Flow::Continue,
        }
    }
}

fn registry(sink: &Sink) -> PluginRegistry {
    let mut registry = PluginRegistry::empty();
    let s = sink.clone();
    registry.register(schema("probe", 1000), move |cx| {
        Ok(Arc::new(Probe {
            tag: tag(cx),
            sink: s.clone(),
        }))
    });
    registry.register(schema("auth", 2000), |cx| {
        Ok(Arc::new(Auth {
            required: cx.entity.config["required"].as_bool().unwrap_or(false),
        }))
    });
    registry
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[tokio::test]
async fn instances_are_chosen_by_kongs_precedence_after_authentication() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route_a = route_paths(Some(&svc), &["/a"]);
    let route_b = route_paths(Some(&svc), &["/b"]);
    let alice = consumer("alice");
    let config = ConfigSet {
        plugins: vec![
            plugin("auth", json!({})),
            plugin("probe", json!({"tag": "global"})),
            plugin("probe", json!({"tag": "service"})).on_service(&svc),
            plugin("probe", json!({"tag": "route"})).on_route(&route_a),
            plugin("probe", json!({"tag": "consumer"})).on_consumer(&alice),
            plugin("probe", json!({"tag": "route+consumer"}))
                .on_route(&route_a)
                .on_consumer(&alice),
        ],
        routes: vec![route_a, route_b],
        services: vec![svc],
        consumers: vec![alice],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
    let cases = [
        ("/a", None, "route"),
        ("/b", None, "service"),
        ("/a", Some("alice"), "route+consumer"),
        ("/b", Some("alice"), "consumer"),
    ];
    for (path, user, expected) in cases {
        let mut req = get(path, "plugins.test");
        if let Some(u) = user {
            req = req.header("x-user", u);
        }
        let resp = client::send(proxy.http, req.body(empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{path} {user:?}: {}", resp.text());
        let json = resp.json();
        // Priority order: auth (2000) before probe (1000); rewrite ran the global probe only.
        assert_eq!(
            json["headers"]["x-seen"],
            json!(["auth", expected]),
            "{path} {user:?}"
        );
        assert_eq!(json["headers"]["x-rewrite"], "global", "{path} {user:?}");
        assert_eq!(resp.header("x-seen-response"), expected, "{path} {user:?}");
    }
}

#[tokio::test]
async fn an_exit_skips_later_access_but_not_later_phases() {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let route = route_paths(Some(&svc), &["/locked"]);
    let config = ConfigSet {
        plugins: vec![
            plugin("auth", json!({"required": true})).on_route(&route),
            plugin("probe", json!({"tag": "p"})).on_route(&route),
        ],
        routes: vec![route],
        services: vec![svc],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
    let resp = client::send(
        proxy.http,
        get("/locked", "plugins.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "Unauthorized");
    // The probe's header_filter ran on the exit response; its log saw the 401.
    assert_eq!(resp.header("x-seen-response"), "p");
    assert_eq!(upstream.requests(), 0);
    portico_tests::process::eventually(
        std::time::Duration::from_secs(5),
        "the log phase",
        || async {
            sink.lock()
                .unwrap()
                .contains(&"log:p:401".to_string())
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn global_instances_see_requests_that_match_no_route() {
    let config = ConfigSet {
        plugins: vec![plugin("probe", json!({"tag": "g"}))],
        ..Default::default()
    };
    let sink = Sink::default();
    let proxy = TestProxy::with_plugins(config, registry(&sink)).await;
    let resp = client::send(
        proxy.http,
        get("/nowhere", "plugins.test").body(empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("x-seen-response"), "g");
    portico_tests::process::eventually(
        std::time::Duration::from_secs(5),
        "the log phase",
        || async {
            sink.lock()
                .unwrap()
                .contains(&"log:g:404".to_string())
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_configuration_naming_an_unknown_plugin_is_rejected() {
    let handle = {
        let env = data_plane::runtime::CompileEnv::with_plugins(
            &Default::default(),
            PluginRegistry::empty(),
        )
        .unwrap();
        data_plane::runtime::RuntimeHandle::new(env).unwrap()
    };
    let config = ConfigSet {
        plugins: vec![plugin("probe", json!({}))],
        ..Default::default()
    };
    let err = handle.compile(config).err().expect("rejected");
    assert!(
        err.to_string()
            .contains("probe plugin is in use but not enabled"),
        "{err}"
    );
}
