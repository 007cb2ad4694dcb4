//! Standalone mode: serve a declarative `kong.yml` with no control plane.
//!
//! The file is parsed and validated by `common::declarative`, compiled off the async
//! workers, and published. It is reloaded on SIGHUP and when its content changes (checked
//! every [`POLL_INTERVAL`]); a reload that fails keeps the running configuration and logs
//! why, exactly like a NACKed snapshot in hybrid mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::runtime::RuntimeHandle;

/// How often the file is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why a declarative file could not be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A declarative file feeding a runtime handle.
pub struct DeclarativeSource {
    path: PathBuf,
    runtime: RuntimeHandle,
    /// Digest of the content last published (or rejected), so unchanged files are skipped.
    last: Mutex<Option<[u8; 32]>>,
}

impl DeclarativeSource {
    pub fn new(path: impl Into<PathBuf>, runtime: RuntimeHandle) -> Arc<DeclarativeSource> {
        Arc::new(DeclarativeSource {
            path: path.into(),
            runtime,
            last: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the file and publishes it if its content changed. Returns whether a new
    /// configuration was published.
    pub async fn reload(&self) -> Result<bool, LoadError> {
        let mut last = self.last.lock().await;
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|source| LoadError::Read {
                path: self.path.clone(),
                source,
            })?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if last.as_ref() == Some(&digest) {
            return Ok(false);
        }
        // Remember the content even when it is invalid: it is reported once, not every poll.
        *last = Some(digest);
        let path = self.path.clone();
        let runtime = self.runtime.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            let text = String::from_utf8(bytes).map_err(|_| LoadError::Invalid {
                path: path.clone(),
                message: "the file is not UTF-8".to_string(),
            })?;
            // Validated against the schemas of the plugins this node has.
            let config = common::declarative::parse_with(&text, runtime.env().plugins().catalog())
                .map_err(|e| LoadError::Invalid {
                    path: path.clone(),
                    message: e.to_string(),
                })?
                .config;
            runtime.compile(config).map_err(|e| LoadError::Invalid {
                path,
                message: e.to_string(),
            })
        })
        .await
        .map_err(|e| LoadError::Invalid {
            path: self.path.clone(),
            message: format!("the compile task failed: {e}"),
        })??;
        self.runtime.swap(compiled);
        Ok(true)
    }

    /// Reloads on SIGHUP and on content changes until `shutdown` resolves.
    pub async fn watch(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reloading on file changes only");
                None
            }
        };
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = hup => tracing::info!(path = %self.path.display(), "SIGHUP: reloading"),
                _ = poll.tick() => {}
            }
            match self.reload().await {
                Ok(true) => {
                    tracing::info!(path = %self.path.display(), "declarative configuration reloaded")
                }
                Ok(false) => {}
                Err(e) => tracing::error!("{e}; keeping the current configuration"),
            }
        }
    }
}
