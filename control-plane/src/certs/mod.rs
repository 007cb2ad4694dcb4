//! `portico-cp certs generate`: cluster certificates for both mTLS modes, written with
//! owner-only permissions for keys.
//!
//! - shared: `cluster.crt`, `cluster.key` (one certificate for the CP and every DP);
//! - pki: `ca.crt`, `ca.key`, `cp.crt`, `cp.key` and `NAME.crt`/`NAME.key` per `--dp NAME`.
//!
//! Generation itself lives in [`common::cluster_tls::generate`], shared with tests.

#[cfg(test)]
mod tests;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::cluster_tls::MtlsMode;
use common::cluster_tls::generate::{self, CertAuthority, GenerateError, PemPair, Validity};

use crate::cli::CertsGenerateArgs;

/// Names a data plane may not take: their files would collide with the CA's and the CP's.
const RESERVED_NAMES: [&str; 3] = ["ca", "cp", "cluster"];

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("--dp is only used with --mode pki")]
    DpWithoutPki,
    #[error("invalid --dp name {name:?}: {reason}")]
    InvalidDpName { name: String, reason: &'static str },
    #[error("--out {0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("refusing to overwrite existing files (use --force): {}", list(.0))]
    WouldOverwrite(Vec<PathBuf>),
    #[error("--days must be at least 1")]
    ZeroDays,
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A file to write: its name in `--out`, its content, and whether it is a private key.
struct Output {
    name: String,
    content: String,
    secret: bool,
}

/// Generates the certificates `args` asks for and writes them; returns the written paths.
pub fn generate(args: &CertsGenerateArgs) -> Result<Vec<PathBuf>, CertsError> {
    if args.days == 0 {
        return Err(CertsError::ZeroDays);
    }
    let validity = Validity {
        days: args.days,
        backdate_days: args.backdate_days,
    };
    let outputs = match args.mode {
        MtlsMode::Shared => {
            if !args.dp.is_empty() {
                return Err(CertsError::DpWithoutPki);
            }
            pair_outputs("cluster", generate::shared(&args.cp_host, validity)?)
        }
        MtlsMode::Pki => {
            check_dp_names(&args.dp)?;
            let ca = CertAuthority::new(validity)?;
            let mut outputs = pair_outputs("ca", ca.pem());
            outputs.extend(pair_outputs(
                "cp",
                ca.issue_control_plane(&args.cp_host, validity)?,
            ));
            for dp in &args.dp {
                outputs.extend(pair_outputs(dp, ca.issue_data_plane(dp, validity)?));
            }
            outputs
        }
    };
    let existing = if args.force {
        Existing::Overwrite
    } else if args.keep_existing {
        Existing::KeepIfComplete
    } else {
        Existing::Refuse
    };
    write_all(&args.out, &outputs, existing)
}

/// What to do about files already in `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Fail if any exists (the default).
    Refuse,
    /// `--force`.
    Overwrite,
    /// `--keep-existing`: keep them all if all exist; fail if only some do.
    KeepIfComplete,
}

fn pair_outputs(stem: &str, pair: PemPair) -> Vec<Output> {
    vec![
        Output {
            name: format!("{stem}.crt"),
            content: pair.cert_pem,
            secret: false,
        },
        Output {
            name: format!("{stem}.key"),
            content: pair.key_pem,
            secret: true,
        },
    ]
}

fn check_dp_names(names: &[String]) -> Result<(), CertsError> {
    let invalid = |name: &str, reason| CertsError::InvalidDpName {
        name: name.to_owned(),
        reason,
    };
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() || name.len() > 63 {
            return Err(invalid(name, "must be 1 to 63 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            || name.starts_with('.')
        {
            return Err(invalid(
                name,
                "use letters, digits, '-', '_' and '.' (not first)",
            ));
        }
        if RESERVED_NAMES.contains(&name.as_str()) {
            return Err(invalid(name, "reserved for the CA and control plane files"));
        }
        if names[..i].contains(name) {
            return Err(invalid(name, "given twice"));
        }
    }
    Ok(())
}

/// Creates `dir` if needed, checks what already exists (see [`Existing`]) before writing
/// anything, then writes every file; returns the written paths (none when all were kept).
/// Keys are created with mode 0600 and are never readable by others, not even briefly when
/// an existing file is overwritten.
fn write_all(
    dir: &Path,
    outputs: &[Output],
    existing_files: Existing,
) -> Result<Vec<PathBuf>, CertsError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CertsError::NotADirectory(dir.to_owned()));
    }
    fs::create_dir_all(dir).map_err(|source| CertsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let paths: Vec<PathBuf> = outputs.iter().map(|o| dir.join(&o.name)).collect();
    if existing_files != Existing::Overwrite {
        let existing: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .cloned()
            .collect();
        if existing_files == Existing::KeepIfComplete && existing.len() == paths.len() {
            return Ok(Vec::new());
        }
        if !existing.is_empty() {
            return Err(CertsError::WouldOverwrite(existing));
        }
    }
    for (output, path) in outputs.iter().zip(&paths) {
        write_file(path, output).map_err(|source| CertsError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(paths)
}

fn write_file(path: &Path, output: &Output) -> std::io::Result<()> {
    let mode = if output.secret { 0o600 } else { 0o644 };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    // `mode` only applies to new files; an overwritten file keeps its old permissions.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(output.content.as_bytes())?;
    file.sync_all()
}
