//! `portico-cp config import FILE` / `config export`, run as real processes against a
//! Postgres database of their own and against the embedded SQLite database.

use std::path::Path;
use std::process::Command;

use control_plane::store::testing::TestDatabase;

use super::DECK;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `portico-cp config <args> <database args>`.
fn config(args: &[&str], database: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_portico-cp"))
        .arg("config")
        .args(args)
        .args(database)
        .env_remove("PORTICO_DATABASE_URL")
        .env_remove("PORTICO_PREFIX")
        .output()
        .expect("run portico-cp");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn walk_through(database: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "kong.yaml", DECK);

    let run = config(&["import", &file], database);
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("imported 20 entities"),
        "{}",
        run.stdout
    );

    let run = config(&["import", &file], database);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains("no changes"), "{}", run.stdout);

    let export = config(&["export"], database);
    assert!(export.ok, "{}", export.stderr);
    assert!(
        export
            .stdout
            .starts_with("_format_version: '3.0'\n_transform: false\n")
    );
    // What went through the store is exactly what the file renders to without it, which
    // `common`'s `deck_dump_round_trip_gives_kong_3_10_defaults` compares with decK's Kong
    // 3.10 dump (`expected310.yaml`): so the exported file carries Kong's defaults.
    let in_memory =
        common::declarative::render(&common::declarative::parse(DECK).unwrap().entities);
    assert_eq!(export.stdout, in_memory);
    let exported = write(dir.path(), "exported.yaml", &export.stdout);
    let run = config(&["import", &exported], database);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stdout.contains("no changes"),
        "export -> import: {}",
        run.stdout
    );

    // An invalid file: every error is listed, entity by entity, and nothing changes.
    let broken = write(
        dir.path(),
        "broken.yaml",
        r#"
_format_version: "3.0"
services:
- name: svc1
  port: 99999
  routes:
  - name: r1
    paths: [no-slash]
routes:
- name: r9
  service: missing-service
  paths: [/x]
"#,
    );
    let run = config(&["import", &broken], database);
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("declarative config is invalid: 3 errors"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("services[1] (service 'svc1'):"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("port: value should be between 0 and 65535"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("services[1].routes[1] (route 'r1'):"),
        "{}",
        run.stderr
    );
    // References are checked once the schema errors are fixed (Kong's order).
    let broken = write(
        dir.path(),
        "broken.yaml",
        "_format_version: \"3.0\"\nroutes:\n- name: r9\n  service: missing-service\n  paths: [/x]\n",
    );
    let run = config(&["import", &broken], database);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("routes[1] (route 'r9'):\n    invalid reference 'service: missing-service' (no such entry in 'services')"),
        "{}",
        run.stderr
    );
    let after = config(&["export"], database);
    assert_eq!(
        after.stdout, export.stdout,
        "a refused import changes nothing"
    );

    let missing = config(&["import", "/nonexistent/kong.yml"], database);
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains("cannot read /nonexistent/kong.yml"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_export_on_postgres() {
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_string();
    tokio::task::spawn_blocking(move || walk_through(&["--database-url", &url]))
        .await
        .unwrap();
}

#[test]
fn import_and_export_on_the_embedded_database() {
    let prefix = tempfile::tempdir().unwrap();
    walk_through(&["--prefix", prefix.path().to_str().unwrap()]);
}
