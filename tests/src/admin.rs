//! Admin API black-box helpers: a `portico-cp serve` process on an ephemeral port (embedded
//! SQLite under a temporary prefix, or a Postgres URL), and requests to its Admin API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;

use crate::client::{self, Resp};
use crate::process::{Process, binary, binary_name, eventually, free_port, loopback};

/// The header carrying `--admin-token`.
pub const TOKEN_HEADER: &str = "Kong-Admin-Token";

/// A running `portico-cp serve`.
pub struct ControlPlane {
    pub process: Process,
    pub admin: SocketAddr,
    pub prefix: tempfile::TempDir,
    /// Sent with every request made through this handle.
    pub token: Option<String>,
}

impl ControlPlane {
    /// Starts `portico-cp serve` on an ephemeral Admin API port, with `--database-url` when
    /// given (else the embedded SQLite database under a fresh prefix) and `extra` flags.
    /// Waits until the Admin API answers.
    pub async fn start(database_url: Option<&str>, extra: &[&str]) -> ControlPlane {
        let prefix = tempfile::tempdir().expect("prefix dir");
        ControlPlane::start_in(prefix, database_url, extra).await
    }

    /// [`ControlPlane::start`] with a given `--prefix` (e.g. the one of a stopped control
    /// plane, to restart it).
    pub async fn start_in(
        prefix: tempfile::TempDir,
        database_url: Option<&str>,
        extra: &[&str],
    ) -> ControlPlane {
        ControlPlane::start_binary_in(&binary("portico-cp"), prefix, database_url, extra).await
    }

    /// [`ControlPlane::start_in`] with another build of the control plane (one with custom
    /// plugins, e.g. `portico-cp-example`).
    pub async fn start_binary_in(
        binary: &Path,
        prefix: tempfile::TempDir,
        database_url: Option<&str>,
        extra: &[&str],
    ) -> ControlPlane {
        let admin = loopback(free_port());
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--admin-listen")
            .arg(admin.to_string())
            .arg("--prefix")
            .arg(prefix.path())
            .env_remove("PORTICO_DATABASE_URL")
            .env_remove("PORTICO_ADMIN_TOKEN")
            .args(extra);
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let log = prefix.path().join("portico-cp.log");
        let cp = ControlPlane {
            process: Process::spawn_logged(command, &binary_name(binary), Some(&log)),
            admin,
            prefix,
            token: None,
        };
        eventually(Duration::from_secs(30), "the Admin API", || async move {
            let req = Request::get("/")
                .header("host", "localhost")
                .body(Full::default())
                .ok()?;
            client::send(admin, req).await.ok()
        })
        .await;
        cp
    }

    /// What the process wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("portico-cp.log")).unwrap_or_default()
    }

    /// Sends a request. `content_type` and `body` as given; the token if set.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Resp {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(token) = &self.token {
            builder = builder.header(TOKEN_HEADER, token.as_str());
        }
        let req = builder.body(Full::new(body.into())).expect("request");
        client::send(self.admin, req)
            .await
            .unwrap_or_else(|e| panic!("Admin API request {path} failed: {e}"))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, Bytes::new()).await
    }

    /// A form-encoded request, as `curl --data a=b --data c=d` sends it (`a=b&c=d`).
    pub async fn form(&self, method: Method, path: &str, data: &[&str]) -> Resp {
        let body = data.join("&");
        self.request(
            method,
            path,
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await
    }

    pub async fn json(&self, method: Method, path: &str, body: &serde_json::Value) -> Resp {
        self.request(method, path, Some("application/json"), body.to_string())
            .await
    }
}

/// `portico-cp` with `args`, run to completion (with a deadline): success, stdout, stderr.
pub async fn run_cp(args: &[&str], deadline: Duration) -> (bool, String, String) {
    run_binary(&binary("portico-cp"), args, deadline).await
}

/// [`run_cp`] with another build of the control plane.
pub async fn run_binary(
    binary: &Path,
    args: &[&str],
    deadline: Duration,
) -> (bool, String, String) {
    let name = binary_name(binary);
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env_remove("PORTICO_DATABASE_URL")
        .env_remove("PORTICO_ADMIN_TOKEN")
        .kill_on_drop(true);
    let output = tokio::time::timeout(deadline, command.output())
        .await
        .unwrap_or_else(|_| panic!("{name} exits in time"))
        .unwrap_or_else(|e| panic!("{name} runs: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The Postgres server tests use (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/`).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/".to_owned())
}

/// `url` with its `host:port` replaced by `addr` (user, database and parameters kept).
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}{tail}")
}

/// The `host:port` of a Postgres URL, resolved.
pub async fn server_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port.as_str())
        .await
        .expect("resolve the Postgres host")
        .next()
        .expect("a Postgres address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rerouted() {
        let addr: SocketAddr = "127.0.0.1:6000".parse().expect("addr");
        assert_eq!(
            url_via("postgres://postgres@127.0.0.1:5432/db?x=1", addr),
            "postgres://postgres@127.0.0.1:6000/db?x=1"
        );
        assert_eq!(
            url_via("postgres://u:p@db.example/x", addr),
            "postgres://u:p@127.0.0.1:6000/x"
        );
    }
}
