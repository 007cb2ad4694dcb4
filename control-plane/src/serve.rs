//! `portico-cp serve`: opens the store (applying pending migrations), then runs the control
//! plane's listeners as tasks that share one graceful shutdown, triggered by SIGINT/SIGTERM
//! or by any task failing.
//!
//! [`ControlPlane`] is the builder: `open` the store, add listeners (`serve_cluster`, which
//! also adds its Admin API endpoints, then `serve_admin`; `spawn` for anything else), then
//! `run`:
//!
//! ```ignore
//! let mut cp = ControlPlane::open(&args).await?;
//! cp.serve_cluster(&args.cluster).await?;
//! cp.serve_admin(&args).await?;
//! cp.run().await
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use axum::http::Method;

use crate::admin::{self, AdminApi, AdminConfig, AdminState, CustomHandler, ServerStats};
use crate::cli::ServeArgs;
use crate::store::{Backend, Store, StoreOptions};

/// How long tasks get to finish after shutdown starts before they are aborted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves once shutdown has started. Cheap to clone; give one to every task.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Waits until shutdown starts.
    pub async fn wait(mut self) {
        // An error means the sender is gone, which only happens once the process winds down.
        let _ = self.rx.wait_for(|started| *started).await;
    }

    pub fn started(&self) -> bool {
        *self.rx.borrow()
    }
}

type Task = (String, BoxFuture<'static, anyhow::Result<()>>);

/// A control plane being assembled: the store and the tasks to run.
pub struct ControlPlane {
    store: Store,
    node_id: Uuid,
    trigger: watch::Sender<bool>,
    tasks: Vec<Task>,
    admin_routes: Vec<(String, Vec<Method>, CustomHandler)>,
}

impl ControlPlane {
    /// Opens the store and applies pending migrations. Fails with a clear message when the
    /// database URL is unusable or the database cannot be reached.
    pub async fn open(args: &ServeArgs) -> anyhow::Result<ControlPlane> {
        let options = StoreOptions::from_args(&args.database);
        let (store, report) = Store::open_and_migrate(options)
            .await
            .context("cannot open the configuration database")?;
        if !report.applied.is_empty() {
            tracing::info!(
                applied = ?report.applied,
                schema_version = report.schema_version,
                "applied database migrations"
            );
        }
        let node_id = node_id(&args.database.prefix);
        Ok(ControlPlane {
            store,
            node_id,
            trigger: watch::Sender::new(false),
            tasks: Vec::new(),
            admin_routes: Vec::new(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This node's id (kept under `--prefix` across restarts).
    pub fn node_id(&self) -> Uuid {
        self.node_id
    }

    /// A future that resolves when shutdown starts.
    pub fn shutdown_signal(&self) -> Shutdown {
        Shutdown {
            rx: self.trigger.subscribe(),
        }
    }

    /// Adds a task. It must return soon after `shutdown_signal()` resolves; an error (or an
    /// early return) shuts the whole control plane down.
    pub fn spawn(
        &mut self,
        name: &str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.tasks.push((name.to_owned(), Box::pin(task)));
    }

    /// Adds an Admin API endpoint served by `handler` (e.g. `/clustering/data-planes`); call
    /// before [`ControlPlane::serve_admin`]. It gets the token check, CORS, `OPTIONS` and
    /// 404/405 handling of every other endpoint.
    pub fn add_admin_route(&mut self, template: &str, methods: &[Method], handler: CustomHandler) {
        self.admin_routes
            .push((template.to_owned(), methods.to_vec(), handler));
    }

    /// Adds the task that deletes credentials whose `ttl` ran out.
    pub fn purge_expired_credentials(&mut self) {
        let store = self.store.clone();
        let shutdown = self.shutdown_signal();
        self.spawn("expired-credentials", async move {
            let mut ticks = tokio::time::interval(admin::ttl::PURGE_INTERVAL);
            let stop = shutdown.wait();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = ticks.tick() => match admin::ttl::purge_expired(&store).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "deleted expired credentials"),
                        // The database may be away for a while; try again next time.
                        Err(e) => tracing::warn!(error = ?e, "could not delete expired credentials"),
                    },
                }
            }
        });
    }

    /// Binds `--admin-listen` and adds the Admin API task. Returns the bound address.
    pub async fn serve_admin(&mut self, args: &ServeArgs) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(args.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (--admin-listen)", args.admin_listen))?;
        let addr = listener.local_addr()?;
        let config = AdminConfig {
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
            configuration: shown_configuration(args, self.store.backend(), addr),
            ..AdminConfig::default()
        };
        let state = AdminState::new(self.store.clone(), self.node_id, config);
        let stats = state.stats().clone();
        let mut api = AdminApi::new(state);
        for (template, methods, handler) in self.admin_routes.drain(..) {
            api = api.route(&template, &methods, handler);
        }
        let router = api.router();
        let shutdown = self.shutdown_signal();
        self.spawn("admin", async move {
            let listener = CountingListener {
                inner: listener,
                stats,
            };
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.wait())
                .await
                .context("the Admin API server failed")
        });
        tracing::info!(address = %addr, "Admin API listening");
        Ok(addr)
    }

    /// Runs every task until SIGINT/SIGTERM or until one of them stops; then shuts down
    /// gracefully, aborting what has not finished within [`SHUTDOWN_GRACE`].
    pub async fn run(self) -> anyhow::Result<()> {
        let ControlPlane {
            store,
            trigger,
            tasks,
            ..
        } = self;
        let mut set = JoinSet::new();
        for (name, task) in tasks {
            set.spawn(async move { (name, task.await) });
        }
        let mut failure: Option<anyhow::Error> = None;
        tokio::select! {
            signal = termination() => {
                tracing::info!(signal, "shutting down");
            }
            Some(joined) = set.join_next() => {
                failure = task_failure(joined);
            }
        }
        trigger.send_replace(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(joined) = set.join_next().await {
                if let Some(e) = task_failure(joined) {
                    failure.get_or_insert(e);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("tasks did not stop in time; aborting them");
            set.abort_all();
        }
        store.close().await;
        tracing::info!("stopped");
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn task_failure(
    joined: Result<(String, anyhow::Result<()>), tokio::task::JoinError>,
) -> Option<anyhow::Error> {
    match joined {
        Ok((name, Ok(()))) => {
            tracing::debug!(task = %name, "task finished");
            None
        }
        Ok((name, Err(e))) => {
            tracing::error!(task = %name, error = %format!("{e:#}"), "task failed");
            Some(e.context(format!("{name} stopped")))
        }
        Err(e) => Some(anyhow::anyhow!("a task panicked or was cancelled: {e}")),
    }
}

/// Resolves on SIGINT or SIGTERM with the signal's name.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the process");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// The node id kept in `<prefix>/node_id`, created on first start. If the prefix is not
/// writable the id lasts for this process only.
fn node_id(prefix: &Path) -> Uuid {
    let file = prefix.join("node_id");
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(id) = Uuid::parse_str(text.trim())
    {
        return id;
    }
    let id = Uuid::new_v4();
    let written =
        std::fs::create_dir_all(prefix).and_then(|()| std::fs::write(&file, format!("{id}\n")));
    if let Err(e) = written {
        tracing::warn!(path = %file.display(), error = %e, "cannot persist the node id");
    }
    id
}

/// `postgres://user:secret@host/db` → `postgres://user:******@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:******@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The `configuration` object of `GET /`, in kong.conf names, secrets obfuscated.
fn shown_configuration(
    args: &ServeArgs,
    backend: Backend,
    admin: SocketAddr,
) -> Map<String, Value> {
    let database = match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    let mut out = Map::new();
    out.insert("role".into(), json!("control_plane"));
    out.insert("database".into(), json!(database));
    out.insert("admin_listen".into(), json!([admin.to_string()]));
    out.insert(
        "prefix".into(),
        json!(args.database.prefix.display().to_string()),
    );
    out.insert("log_level".into(), json!(args.log_level));
    if let Some(url) = &args.database.database_url {
        out.insert("database_url".into(), json!(redact_url(url)));
    }
    if args.admin_token.is_some() {
        out.insert("admin_token".into(), json!("******"));
    }
    out
}

/// Sets up structured logging on stderr with `--log-level` (a level or a tracing filter).
pub fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .with_context(|| format!("invalid --log-level '{level}'"))?;
    // Another subscriber may already be installed (tests); keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
    Ok(())
}

/// `portico-cp serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cp = ControlPlane::open(&args).await?;
    cp.serve_cluster(&args.cluster).await?;
    cp.serve_admin(&args).await?;
    cp.purge_expired_credentials();
    tracing::info!(node_id = %cp.node_id(), version = crate::admin::PORTICO_VERSION, "control plane started");
    cp.run().await
}

/// A TCP listener that keeps the `/status` connection counters.
struct CountingListener {
    inner: TcpListener,
    stats: Arc<ServerStats>,
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    self.stats.connection_opened();
                    let stream = CountedStream {
                        stream,
                        stats: self.stats.clone(),
                    };
                    return (stream, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting an Admin API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that counts itself closed when dropped.
struct CountedStream {
    stream: TcpStream,
    stats: Arc<ServerStats>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_obfuscated() {
        assert_eq!(
            redact_url("postgres://kong:secret@db:5432/kong?sslmode=disable"),
            "postgres://kong:******@db:5432/kong?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn node_ids_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = node_id(dir.path());
        assert_eq!(node_id(dir.path()), first);
    }
}
