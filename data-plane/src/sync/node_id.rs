//! The data plane's node id: a UUID created once and kept in `PREFIX/node_id` (mode 0600),
//! so a restarted data plane is the same node in `/clustering/data-planes`.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::fsutil;

/// File name of the node id under `--prefix`.
pub const FILE_NAME: &str = "node_id";

#[derive(Debug, thiserror::Error)]
#[error("cannot persist the node id to {path}: {source}")]
pub struct NodeIdError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Reads the node id under `prefix`, creating it on first use. A file that does not hold a
/// UUID is replaced by a new id (with a warning), as Kong does.
pub fn load_or_create(prefix: &Path) -> Result<Uuid, NodeIdError> {
    let path = prefix.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => match Uuid::parse_str(text.trim()) {
            Ok(id) => return Ok(id),
            Err(_) => tracing::warn!(
                path = %path.display(),
                "node id file does not contain a UUID; replacing it with a new id"
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(NodeIdError { path, source }),
    }
    let id = Uuid::new_v4();
    fsutil::write_atomically(&path, format!("{id}\n").as_bytes()).map_err(|source| {
        NodeIdError {
            path: path.clone(),
            source,
        }
    })?;
    tracing::info!(node_id = %id, path = %path.display(), "created node id");
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_with_owner_only_mode_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let prefix = tmp.path().join("new/prefix");
        let first = load_or_create(&prefix).unwrap();
        let mode = std::fs::metadata(prefix.join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&prefix).unwrap(), first);
        assert_eq!(
            std::fs::read_to_string(prefix.join(FILE_NAME))
                .unwrap()
                .trim(),
            first.to_string()
        );
    }

    #[test]
    fn garbage_is_replaced_by_a_new_id() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(FILE_NAME), "not a uuid").unwrap();
        let id = load_or_create(tmp.path()).unwrap();
        assert_eq!(load_or_create(tmp.path()).unwrap(), id);
    }

    #[test]
    fn unreadable_prefix_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        // The prefix is a regular file: the id cannot live under it.
        let err = load_or_create(&file).unwrap_err();
        assert!(
            err.to_string().contains("cannot persist the node id"),
            "{err}"
        );
    }
}
