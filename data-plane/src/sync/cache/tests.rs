#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use common::snapshot::sample;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

fn snapshot(version: u64, routes: u64) -> EncodedSnapshot {
    EncodedSnapshot::encode(version, &sample::config_with_routes(routes)).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn store_then_load_round_trips_with_owner_only_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let cache = SnapshotCache::new(&prefix);
    assert!(cache.load().unwrap().is_none(), "no cache yet");
    let snap = snapshot(12, 30);
    cache.store(&snap).unwrap();
    // A fresh instance, as after a restart.
    let loaded = SnapshotCache::new(&prefix).load().unwrap().unwrap();
    assert_eq!(loaded, snap);
    assert_eq!(loaded.decode().unwrap(), snap.decode().unwrap());
    let mode = std::fs::metadata(cache.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        files(&prefix),
        [FILE_NAME],
        "no temporary file is left behind"
    );
}

#[test]
fn a_newer_snapshot_replaces_the_older_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = SnapshotCache::new(tmp.path());
    cache.store(&snapshot(1, 5)).unwrap();
    let newer = snapshot(2, 6);
    cache.store(&newer).unwrap();
    assert_eq!(cache.load().unwrap().unwrap(), newer);
    assert_eq!(files(tmp.path()), [FILE_NAME]);
}

#[test]
fn the_header_carries_formats_and_the_config_identity() {
    let snap = snapshot(77, 3);
    let bytes = encode(&snap);
    assert_eq!(&bytes[..8], b"PRTCSNAP");
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
        CACHE_FORMAT
    );
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[FIXED_LEN..FIXED_LEN + header_len]).unwrap();
    assert_eq!(header["config_version"], 77);
    assert_eq!(header["config_hash"], snap.hash.to_hex());
    assert_eq!(header["snapshot_format"], common::snapshot::FORMAT);
}

#[test]
fn every_truncation_is_refused() {
    let bytes = encode(&snapshot(3, 20));
    for len in 0..bytes.len() {
        let err = decode(&bytes[..len]).unwrap_err();
        assert!(
            matches!(
                err,
                CacheError::Truncated(_) | CacheError::Checksum | CacheError::Header(_)
            ),
            "length {len}: {err}"
        );
    }
}

#[test]
fn random_corruption_is_refused_without_panicking() {
    let good = encode(&snapshot(3, 50));
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let mut bytes = good.clone();
        let i = rng.random_range(0..bytes.len());
        bytes[i] ^= 1 << rng.random_range(0..8);
        assert!(decode(&bytes).is_err(), "flip at {i} went unnoticed");
    }
}

#[test]
fn other_files_and_other_cache_formats_are_refused_clearly() {
    let mut bytes = encode(&snapshot(3, 2));
    assert!(matches!(
        decode(b"hello world, not a cache"),
        Err(CacheError::BadMagic)
    ));
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let err = decode(&bytes).unwrap_err();
    assert!(matches!(err, CacheError::UnsupportedFormat(2)));
    assert!(
        err.to_string().contains("cache format 2 is not supported"),
        "{err}"
    );
}

/// Captures what the code under test logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn a_damaged_cache_is_ignored_with_one_clear_log_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = SnapshotCache::new(tmp.path());
    cache.store(&snapshot(9, 10)).unwrap();
    let mut bytes = std::fs::read(cache.path()).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(cache.path(), &bytes).unwrap();
    let (loaded, logs) = logs_of(|| cache.load_or_ignore());
    assert!(loaded.is_none());
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("ignoring the cached configuration"), "{logs}");
    assert!(logs.contains("checksum mismatch"), "{logs}");
    assert!(logs.contains(FILE_NAME), "{logs}");

    // A missing cache is not worth a warning.
    std::fs::remove_file(cache.path()).unwrap();
    let (loaded, logs) = logs_of(|| cache.load_or_ignore());
    assert!(loaded.is_none());
    assert!(logs.is_empty(), "{logs}");
}
