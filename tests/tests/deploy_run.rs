//! Black-box: the Compose file's and the systemd units' command lines, run for real. Their
//! settings are taken as written, with only what must differ on a test machine replaced:
//! listen addresses (loopback, free ports), file locations (temporary directories), the
//! database (a fresh Postgres database) and the control plane's address (the one started
//! here). The certificates come from the Compose file's own `certs` command; a route
//! created through the Admin API must then be served by the data plane.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use control_plane::store::testing::TestDatabase;
use http::Method;
use portico_tests::admin::{ControlPlane, run_cp};
use portico_tests::cluster::until_status;
use portico_tests::deploy::{
    Help, Invocation, binary_of, env_file, repo_root, scalar, strings, systemd_exec_start,
    yaml_documents,
};
use portico_tests::process::{DataPlane, free_port, loopback};
use portico_tests::upstream::Upstream;
use serde_json::json;

/// The settings of `invocation` with the machine-specific values replaced. `--prefix`,
/// `--database-url` and `--admin-listen` are left to the harness, which sets them itself.
fn localize(
    invocation: &Invocation,
    certs: &Path,
    control_plane: Option<SocketAddr>,
) -> Vec<String> {
    let sub: Vec<&str> = invocation.subcommand.iter().map(String::as_str).collect();
    let help = Help::of(&invocation.bin, &sub);
    let mut out = Vec::new();
    for (flag, value) in invocation.settings(&help) {
        let value = match (flag.as_str(), value) {
            ("--prefix" | "--database-url" | "--admin-listen", _) => continue,
            ("--cluster-control-plane", _) => control_plane.map(|a| a.to_string()),
            ("--out", _) => Some(certs.display().to_string()),
            ("--cluster-cert" | "--cluster-cert-key" | "--cluster-ca-cert", Some(v)) => {
                let file = Path::new(&v).file_name().unwrap();
                Some(certs.join(file).display().to_string())
            }
            (f, Some(v)) if f.contains("-listen") && v != "off" => {
                Some(loopback(free_port()).to_string())
            }
            (_, v) => v,
        };
        out.push(flag);
        out.extend(value);
    }
    out
}

fn value_of(args: &[String], flag: &str) -> Option<SocketAddr> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

/// Starts the control plane, then the data plane, from their deploy settings; checks that a
/// route created through the Admin API is proxied by the data plane.
async fn run_pair(cp: &Invocation, dp: &Invocation, certs: &Path) {
    let db = TestDatabase::create().await.unwrap();
    let cp_args = localize(cp, certs, None);
    let cluster = value_of(&cp_args, "--cluster-listen").expect("a cluster listener");
    let cp_args: Vec<&str> = cp_args.iter().map(String::as_str).collect();
    let prefix = tempfile::tempdir().unwrap();
    let control = ControlPlane::start_in(prefix, Some(db.url()), &cp_args).await;

    let dp_args = localize(dp, certs, Some(cluster));
    let dp_args: Vec<&str> = dp_args.iter().map(String::as_str).collect();
    let data = DataPlane::start(&dp_args).await;

    let up = Upstream::echo().await;
    let created = control
        .json(
            Method::POST,
            "/services",
            &json!({"name": "deployed", "url": format!("http://127.0.0.1:{}", up.port())}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let route = control
        .json(
            Method::POST,
            "/services/deployed/routes",
            &json!({"paths": ["/deployed"]}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text());
    until_status(&data, "/deployed", 200, "the route, through the data plane").await;
    assert_eq!(data.ready_status().await, Some(200));
}

/// Runs the Compose file's `certs` command (twice: the second run keeps the files).
async fn compose_certs(certs: &Path) {
    let certs_service = compose_invocation("certs");
    let mut args: Vec<String> = certs_service.subcommand.clone();
    args.extend(localize(&certs_service, certs, None));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for run in 0..2 {
        let (ok, stdout, stderr) = run_cp(&args, Duration::from_secs(30)).await;
        assert!(ok, "certs run {run}: {stdout}{stderr}");
    }
    assert!(certs.join("cluster.crt").exists() && certs.join("cluster.key").exists());
}

fn compose_invocation(service: &str) -> Invocation {
    let path = repo_root().join("deploy/docker/compose.yaml");
    let doc = yaml_documents(&path).remove(0);
    let svc = &doc["services"][service];
    let bin = binary_of(svc["image"].as_str().unwrap()).unwrap();
    let mut invocation = Invocation::from_argv(service, bin, &strings(&svc["command"]));
    invocation.env = svc["environment"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), scalar(v)))
        .collect();
    invocation
}

fn systemd_invocation(bin: &str) -> Invocation {
    let dir = repo_root().join("deploy/systemd");
    let argv = systemd_exec_start(&dir.join(format!("{bin}.service")));
    let mut invocation = Invocation::from_argv(bin, bin, &argv);
    invocation.env = env_file(&dir.join(format!("{bin}.env.example")));
    invocation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_control_plane_and_data_plane_work_together() {
    let certs = tempfile::tempdir().unwrap();
    compose_certs(certs.path()).await;
    let cp = compose_invocation("control-plane");
    let dp = compose_invocation("dp-1");
    run_pair(&cp, &dp, certs.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_units_work_together() {
    let certs = tempfile::tempdir().unwrap();
    compose_certs(certs.path()).await;
    let cp = systemd_invocation("portico-cp");
    let dp = systemd_invocation("portico-dp");
    run_pair(&cp, &dp, certs.path()).await;
}
