//! The example's two binaries in hybrid mode, black-box: `portico-cp-example` on Postgres
//! with mTLS certificates from its own `certs generate`, a `portico-dp-example` and a stock
//! `portico-dp` connected to it. The plugin is configured through the control plane's
//! Admin API (and `config import`), validated there by the same schema the data plane
//! compiles it with; the stock data plane, which lacks the plugin, is not sent it.
//!
//! Cargo builds `portico-cp-example` and `portico-dp-example` before this test
//! (`CARGO_BIN_EXE_*`). The stock `portico-dp` comes from the same target directory:
//! `cargo test --workspace` builds it; alone, run `cargo build -p data-plane` first.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use control_plane::store::testing::TestDatabase;
use http::Method;
use http_body_util::Full;
use portico_tests::admin::{ControlPlane, run_binary};
use portico_tests::client::{self, Resp};
use portico_tests::cluster::{ClusterCerts, HybridCp, start_dp, start_dp_binary, until_status};
use portico_tests::process::{DataPlane, eventually};
use portico_tests::upstream::Upstream;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

fn cp_example() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portico-cp-example"))
}

fn dp_example() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portico-dp-example"))
}

/// `GET /api` through `dp`, asking for `version`.
async fn call(dp: &DataPlane, version: &str) -> Resp {
    let req = client::get("/api", "example.test")
        .header("x-api-version", version)
        .body(Full::new(Bytes::new()))
        .unwrap();
    client::send(dp.proxy, req).await.unwrap()
}

async fn dp_cluster_status(dp: &DataPlane) -> Value {
    let req = client::get("/status", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    client::send(dp.status, req).await.unwrap().json()["cluster"].clone()
}

/// The `/clustering/data-planes` entry of the data plane labelled `name:<name>`.
async fn fleet_entry(cp: &HybridCp, name: &str) -> Option<Value> {
    cp.data_planes()
        .await
        .into_iter()
        .find(|p| p["labels"]["name"] == name)
}

/// A schema violation's `fields`, after checking Kong's 400 shape.
fn violation_fields(res: &Resp) -> Value {
    assert_eq!(res.status, 400, "{}", res.text());
    let body = res.json();
    assert_eq!(body["code"], 2, "{body}");
    assert_eq!(body["name"], "schema violation", "{body}");
    body["fields"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_is_configured_on_the_control_plane_and_enforced_by_its_data_planes() {
    let db = TestDatabase::create().await.unwrap();
    let certs = ClusterCerts::generate_with(&cp_example(), &[]).await;
    let cp = HybridCp::start_binary(&cp_example(), &certs, Some(db.url()), None, None, &[]).await;
    let admin = &cp.cp;
    let custom = start_dp_binary(&dp_example(), certs.dp_args("custom", &[cp.cluster]), &[]).await;
    let stock = start_dp(certs.dp_args("stock", &[cp.cluster]), &[]).await;

    // The control plane knows the plugin: listed, its schema served, its own version.
    let enabled = admin.get("/plugins/enabled").await.json();
    assert!(
        enabled["enabled_plugins"]
            .as_array()
            .unwrap()
            .contains(&json!("api-version")),
        "{enabled}"
    );
    let root = admin.get("/").await.json();
    assert_eq!(
        root["plugins"]["available_on_server"]["api-version"],
        json!({"version": "1.0.0", "priority": 920})
    );
    let schema = admin.get("/schemas/plugins/api-version").await;
    assert_eq!(schema.status, 200, "{}", schema.text());
    assert!(
        schema.text().contains("\"default\":\"X-Api-Version\""),
        "{}",
        schema.text()
    );

    // A service and a route: both data planes serve them.
    let upstream = Upstream::echo().await;
    let url = format!("http://127.0.0.1:{}", upstream.port());
    let res = admin
        .form(
            Method::POST,
            "/services",
            &["name=api", &format!("url={url}")],
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = admin
        .form(
            Method::POST,
            "/services/api/routes",
            &["name=api", "paths[]=/api"],
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    until_status(&custom, "/api", 200, "the custom data plane serving /api").await;
    until_status(&stock, "/api", 200, "the stock data plane serving /api").await;
    let stock_before = eventually(DEADLINE, "the stock data plane in sync", || async {
        let entry = fleet_entry(&cp, "stock").await?;
        let status = dp_cluster_status(&stock).await;
        (entry["sync_status"] == "normal" && entry["config_version"] == status["config_version"])
            .then_some(status)
    })
    .await;

    // Configurations the plugin's schema rejects: Kong's 400 from the control plane.
    let res = admin
        .json(
            Method::POST,
            "/services/api/plugins",
            &json!({"name": "api-version", "config": {}}),
        )
        .await;
    assert_eq!(
        violation_fields(&res),
        json!({"config": {"allowed": "required field missing"}})
    );
    let res = admin
        .json(
            Method::POST,
            "/plugins",
            &json!({"name": "api-version", "config": {"allowed": [], "header_name": 7}}),
        )
        .await;
    assert_eq!(
        violation_fields(&res),
        json!({"config": {"allowed": "length must be at least 1",
                          "header_name": "expected a string"}})
    );

    // A valid one, with the schema's default filled in by the control plane.
    let res = admin
        .form(
            Method::POST,
            "/services/api/plugins",
            &[
                "name=api-version",
                "config.allowed[]=v1",
                "config.allowed[]=v2",
                "config.default=v1",
            ],
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let plugin = res.json();
    assert_eq!(plugin["config"]["header_name"], "X-Api-Version");
    let id = plugin["id"].as_str().unwrap().to_owned();

    // The custom data plane enforces it.
    until_status_with_version(&custom, "v3", 400).await;
    let refused = call(&custom, "v3").await;
    assert_eq!(refused.json()["message"], "Unsupported API version");
    let accepted = call(&custom, "v2").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(accepted.header("x-api-version"), "v2");
    assert_eq!(accepted.json()["headers"]["x-api-version-accepted"], "v2");

    // The stock data plane is not sent a configuration it cannot run: the control plane
    // shows why, and it keeps serving the previous configuration (no plugin).
    let entry = eventually(DEADLINE, "the stock data plane incompatible", || async {
        let entry = fleet_entry(&cp, "stock").await?;
        (entry["sync_status"] == "plugin_set_incompatible").then_some(entry)
    })
    .await;
    assert_eq!(
        entry["last_error"], "configured api-version plugin 1.0.0 is missing from data plane",
        "{entry}"
    );
    assert_eq!(entry["connected"], true, "{entry}");
    let stock_now = dp_cluster_status(&stock).await;
    assert_eq!(stock_now["config_version"], stock_before["config_version"]);
    assert_eq!(stock_now["config_hash"], stock_before["config_hash"]);
    // Nothing was sent, so nothing was refused (a NACK would be this error).
    assert_eq!(stock_now["last_error"], Value::Null, "{stock_now}");
    assert_eq!(call(&stock, "v3").await.status, 200);
    // Same version on both sides: the custom data plane is in sync.
    let custom_entry = fleet_entry(&cp, "custom").await.unwrap();
    assert_eq!(custom_entry["sync_status"], "normal", "{custom_entry}");

    // PATCH goes through the schema too; a valid one reaches the data plane.
    let res = admin
        .json(
            Method::PATCH,
            &format!("/plugins/{id}"),
            &json!({"config": {"allowed": []}}),
        )
        .await;
    assert_eq!(
        violation_fields(&res),
        json!({"config": {"allowed": "length must be at least 1"}})
    );
    let res = admin
        .json(
            Method::PATCH,
            &format!("/plugins/{id}"),
            &json!({"config": {"allowed": ["v1", "v2", "v3"]}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    until_status_with_version(&custom, "v3", 200).await;
}

/// Waits until `GET /api` asking for `version` through `dp` answers `status`.
async fn until_status_with_version(dp: &DataPlane, version: &str, status: u16) {
    eventually(DEADLINE, "the data plane applying the change", || async {
        (call(dp, version).await.status == status).then_some(())
    })
    .await
}

/// `config import` / `config export` of `portico-cp-example` (embedded SQLite under
/// `prefix`): success and output.
async fn config(prefix: &Path, args: &[&str]) -> (bool, String) {
    let prefix = prefix.display().to_string();
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--prefix", prefix.as_str()]);
    let (ok, stdout, stderr) = run_binary(&cp_example(), &all, DEADLINE).await;
    (ok, format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn declarative_import_validates_the_plugin_with_its_schema() {
    let prefix = tempfile::tempdir().unwrap();
    let file = prefix.path().join("kong.yml");
    let write = |allowed: &str| {
        let yml = format!(
            "_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://127.0.0.1:9\n  \
             plugins:\n  - name: api-version\n    config:\n      allowed: {allowed}\n"
        );
        std::fs::write(&file, yml).unwrap();
    };
    let file_arg = file.display().to_string();

    write("[]");
    let (ok, output) = config(prefix.path(), &["import", &file_arg]).await;
    assert!(!ok, "{output}");
    assert!(output.contains("length must be at least 1"), "{output}");

    write("[v1, v2]");
    let (ok, output) = config(prefix.path(), &["import", &file_arg]).await;
    assert!(ok, "{output}");
    let (ok, exported) = config(prefix.path(), &["export"]).await;
    assert!(ok, "{exported}");
    let exported: Value = serde_yaml_ng::from_str(&exported).unwrap();
    let plugin = &exported["services"][0]["plugins"][0];
    assert_eq!(plugin["name"], "api-version", "{exported}");
    assert_eq!(plugin["config"]["allowed"], json!(["v1", "v2"]));
    // The schema's default, filled in at import.
    assert_eq!(plugin["config"]["header_name"], "X-Api-Version");

    // The Admin API of the same store lists it.
    let cp = ControlPlane::start_binary_in(&cp_example(), prefix, None, &[]).await;
    let plugins = cp.get("/plugins").await.json();
    assert_eq!(plugins["data"][0]["name"], "api-version", "{plugins}");
}
