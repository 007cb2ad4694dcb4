//! Hybrid mode black-box helpers: cluster certificates written by the real
//! `portico-cp certs generate`, and control planes / data planes started with them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin::{ControlPlane, run_binary};
use crate::client;
use crate::process::{DataPlane, binary, eventually, free_port, loopback};

/// A directory of cluster certificates.
pub struct ClusterCerts {
    pub dir: tempfile::TempDir,
    pub pki: bool,
}

impl ClusterCerts {
    /// `certs generate` with `args` (besides `--out`).
    pub async fn generate(args: &[&str]) -> ClusterCerts {
        ClusterCerts::generate_with(&binary("portico-cp"), args).await
    }

    /// [`ClusterCerts::generate`] by another build of the control plane (one with custom
    /// plugins has the same `certs generate`).
    pub async fn generate_with(cp_binary: &Path, args: &[&str]) -> ClusterCerts {
        let dir = tempfile::tempdir().expect("certs dir");
        let out = dir.path().display().to_string();
        let mut all = vec!["certs", "generate", "--out", out.as_str()];
        all.extend_from_slice(args);
        let (ok, stdout, stderr) = run_binary(cp_binary, &all, Duration::from_secs(30)).await;
        assert!(ok, "certs generate failed: {stdout}{stderr}");
        ClusterCerts {
            dir,
            pki: args.contains(&"pki"),
        }
    }

    /// Shared mode: `cluster.crt` / `cluster.key`.
    pub async fn shared() -> ClusterCerts {
        ClusterCerts::generate(&[]).await
    }

    /// Pki mode: a CA, the control plane's pair and one pair per data plane name.
    pub async fn pki(data_planes: &[&str]) -> ClusterCerts {
        let mut args = vec!["--mode", "pki"];
        for dp in data_planes {
            args.extend_from_slice(&["--dp", dp]);
        }
        ClusterCerts::generate(&args).await
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    fn mode(&self) -> &'static str {
        if self.pki { "pki" } else { "shared" }
    }

    /// `portico-cp serve` flags for a cluster listener on `listen`.
    pub fn cp_args(&self, listen: SocketAddr) -> Vec<String> {
        let (cert, key) = if self.pki {
            ("cp.crt", "cp.key")
        } else {
            ("cluster.crt", "cluster.key")
        };
        let mut args = vec![
            "--cluster-listen".to_owned(),
            listen.to_string(),
            "--cluster-mtls".to_owned(),
            self.mode().to_owned(),
            "--cluster-cert".to_owned(),
            self.path(cert),
            "--cluster-cert-key".to_owned(),
            self.path(key),
        ];
        if self.pki {
            args.extend(["--cluster-ca-cert".to_owned(), self.path("ca.crt")]);
        }
        args
    }

    /// `portico-dp serve` flags for a data plane connecting to `control_planes`; in pki
    /// mode `name` picks its certificate (`NAME.crt`).
    pub fn dp_args(&self, name: &str, control_planes: &[SocketAddr]) -> Vec<String> {
        let (cert, key) = if self.pki {
            (format!("{name}.crt"), format!("{name}.key"))
        } else {
            ("cluster.crt".to_owned(), "cluster.key".to_owned())
        };
        let cps: Vec<String> = control_planes.iter().map(ToString::to_string).collect();
        let mut args = vec![
            "--cluster-control-plane".to_owned(),
            cps.join(","),
            "--cluster-mtls".to_owned(),
            self.mode().to_owned(),
            "--cluster-cert".to_owned(),
            self.path(&cert),
            "--cluster-cert-key".to_owned(),
            self.path(&key),
            "--cluster-dp-labels".to_owned(),
            format!("name:{name}"),
        ];
        if self.pki {
            args.extend(["--cluster-ca-cert".to_owned(), self.path("ca.crt")]);
        }
        args
    }
}

/// A control plane with its cluster listener.
pub struct HybridCp {
    pub cp: ControlPlane,
    pub cluster: SocketAddr,
}

impl HybridCp {
    /// Starts `portico-cp serve` with the cluster listener on a free port (or `cluster`),
    /// in `prefix` (or a new one), on `database_url` (or embedded SQLite), plus `extra`.
    pub async fn start(
        certs: &ClusterCerts,
        database_url: Option<&str>,
        prefix: Option<tempfile::TempDir>,
        cluster: Option<SocketAddr>,
        extra: &[&str],
    ) -> HybridCp {
        let binary = binary("portico-cp");
        HybridCp::start_binary(&binary, certs, database_url, prefix, cluster, extra).await
    }

    /// [`HybridCp::start`] with another build of the control plane (one with custom
    /// plugins, e.g. `portico-cp-example`).
    pub async fn start_binary(
        binary: &Path,
        certs: &ClusterCerts,
        database_url: Option<&str>,
        prefix: Option<tempfile::TempDir>,
        cluster: Option<SocketAddr>,
        extra: &[&str],
    ) -> HybridCp {
        let cluster = cluster.unwrap_or_else(|| loopback(free_port()));
        let mut args = certs.cp_args(cluster);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let prefix = prefix.unwrap_or_else(|| tempfile::tempdir().expect("prefix dir"));
        let cp = ControlPlane::start_binary_in(binary, prefix, database_url, &args).await;
        HybridCp { cp, cluster }
    }

    /// `/clustering/data-planes`' `data`.
    pub async fn data_planes(&self) -> Vec<serde_json::Value> {
        let res = self.cp.get("/clustering/data-planes").await;
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["data"].as_array().cloned().unwrap_or_default()
    }
}

/// Starts `portico-dp serve` with `args` plus `extra`.
pub async fn start_dp(args: Vec<String>, extra: &[&str]) -> DataPlane {
    start_dp_binary(&binary("portico-dp"), args, extra).await
}

/// [`start_dp`] with another build of the data plane (one with custom plugins, e.g.
/// `portico-dp-example`).
pub async fn start_dp_binary(binary: &Path, args: Vec<String>, extra: &[&str]) -> DataPlane {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    DataPlane::start_binary(binary, &all).await
}

/// The status of `GET path` through a data plane's proxy (0 when the request failed).
pub async fn proxy_status(dp: &DataPlane, path: &str) -> u16 {
    let req = client::get(path, "localhost").body(Default::default());
    match req {
        Ok(req) => client::send(dp.proxy, req)
            .await
            .map(|r| r.status.as_u16())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// Waits until `GET path` through `dp` answers `status`.
pub async fn until_status(dp: &DataPlane, path: &str, status: u16, what: &str) {
    eventually(Duration::from_secs(30), what, || async move {
        (proxy_status(dp, path).await == status).then_some(())
    })
    .await
}

/// The files a data plane keeps under its prefix.
pub fn cache_file(dp: &DataPlane) -> PathBuf {
    dp.prefix.path().join("config.cache")
}
