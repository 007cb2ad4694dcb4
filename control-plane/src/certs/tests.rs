#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use clap::Parser;
use common::cluster_tls::{ClusterTls, MtlsMode};

use super::*;
use crate::cli::{CertsCommand, Cli, Command};

fn args(line: &str) -> CertsGenerateArgs {
    let argv = std::iter::once("portico-cp").chain(line.split_whitespace());
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Certs {
            command: CertsCommand::Generate(args),
        } => args,
        other => panic!("unexpected command {other:?}"),
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn san_names(cert_path: &Path) -> Vec<String> {
    let pem = fs::read(cert_path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*ip).unwrap()).to_string(),
                _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*ip).unwrap()).to_string(),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn shared_mode_writes_cert_and_owner_only_key_into_a_new_nested_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a/b/certs");
    let written = generate(&args(&format!("certs generate --out {}", out.display()))).unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(names(&out), ["cluster.crt", "cluster.key"]);
    assert_eq!(mode_of(&out.join("cluster.key")), 0o600);
    assert_eq!(mode_of(&out.join("cluster.crt")), 0o644);
    ClusterTls::load(
        MtlsMode::Shared,
        &out.join("cluster.crt"),
        &out.join("cluster.key"),
        None,
    )
    .unwrap();
}

#[test]
fn pki_mode_writes_ca_cp_and_one_pair_per_dp() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    generate(&args(&format!(
        "certs generate --out {} --mode pki --dp dp-a --dp dp_b.eu --cp-host cp.example.com --cp-host 10.1.2.3",
        out.display()
    )))
    .unwrap();
    assert_eq!(
        names(out),
        [
            "ca.crt",
            "ca.key",
            "cp.crt",
            "cp.key",
            "dp-a.crt",
            "dp-a.key",
            "dp_b.eu.crt",
            "dp_b.eu.key"
        ]
    );
    for key in ["ca.key", "cp.key", "dp-a.key", "dp_b.eu.key"] {
        assert_eq!(mode_of(&out.join(key)), 0o600, "{key}");
    }
    let sans = san_names(&out.join("cp.crt"));
    for name in [
        "localhost",
        "127.0.0.1",
        "::1",
        "cp.example.com",
        "10.1.2.3",
    ] {
        assert!(
            sans.contains(&name.to_string()),
            "{name} missing from {sans:?}"
        );
    }
    let ca = out.join("ca.crt");
    for node in ["cp", "dp-a", "dp_b.eu"] {
        ClusterTls::load(
            MtlsMode::Pki,
            &out.join(format!("{node}.crt")),
            &out.join(format!("{node}.key")),
            Some(&ca),
        )
        .unwrap();
    }
}

#[test]
fn refuses_to_overwrite_without_force_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    fs::write(out.join("dp-1.key"), "keep me").unwrap();
    let err = generate(&args(&format!(
        "certs generate --out {} --mode pki --dp dp-1",
        out.display()
    )))
    .unwrap_err();
    assert!(matches!(err, CertsError::WouldOverwrite(_)), "{err}");
    assert!(err.to_string().contains("dp-1.key"), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    // All or nothing: the CA was not written either.
    assert_eq!(names(out), ["dp-1.key"]);
    assert_eq!(fs::read_to_string(out.join("dp-1.key")).unwrap(), "keep me");
}

#[test]
fn force_overwrites_and_tightens_key_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let line = format!("certs generate --out {}", out.display());
    generate(&args(&line)).unwrap();
    let before = fs::read(out.join("cluster.crt")).unwrap();
    fs::set_permissions(out.join("cluster.key"), fs::Permissions::from_mode(0o644)).unwrap();
    assert!(generate(&args(&line)).is_err());
    generate(&args(&format!("{line} --force"))).unwrap();
    assert_ne!(fs::read(out.join("cluster.crt")).unwrap(), before);
    assert_eq!(mode_of(&out.join("cluster.key")), 0o600);
}

#[test]
fn keep_existing_keeps_a_complete_set_and_refuses_a_partial_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let line = format!("certs generate --out {} --keep-existing", out.display());
    // First run: nothing there yet, so it writes.
    assert_eq!(generate(&args(&line)).unwrap().len(), 2);
    let before = fs::read(out.join("cluster.crt")).unwrap();
    // Every file exists: nothing is written, and it succeeds.
    assert!(generate(&args(&line)).unwrap().is_empty());
    assert_eq!(fs::read(out.join("cluster.crt")).unwrap(), before);
    // Only some exist: refused, and nothing is written.
    fs::remove_file(out.join("cluster.key")).unwrap();
    let err = generate(&args(&line)).unwrap_err();
    assert!(matches!(err, CertsError::WouldOverwrite(_)), "{err}");
    assert_eq!(names(out), ["cluster.crt"]);
    // It cannot be combined with --force.
    let argv = std::iter::once("portico-cp")
        .chain(line.split_whitespace())
        .chain(["--force"]);
    assert!(Cli::try_parse_from(argv).is_err());
}

#[test]
fn out_must_be_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    let err = generate(&args(&format!("certs generate --out {}", file.display()))).unwrap_err();
    assert!(matches!(err, CertsError::NotADirectory(_)), "{err}");
}

#[test]
fn bad_flag_combinations_and_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().display();
    let cases = [
        (
            format!("certs generate --out {out} --dp dp1"),
            "only used with --mode pki",
        ),
        (
            format!("certs generate --out {out} --mode pki --dp ca"),
            "reserved",
        ),
        (
            format!("certs generate --out {out} --mode pki --dp ../x"),
            "invalid --dp name",
        ),
        (
            format!("certs generate --out {out} --mode pki --dp a --dp a"),
            "given twice",
        ),
        (format!("certs generate --out {out} --days 0"), "at least 1"),
    ];
    for (line, expected) in cases {
        let err = generate(&args(&line)).unwrap_err().to_string();
        assert!(err.contains(expected), "{line}: {err}");
    }
    assert_eq!(names(tmp.path()), Vec::<String>::new());
    assert!(
        Cli::try_parse_from([
            "portico-cp",
            "certs",
            "generate",
            "--out",
            "x",
            "--mode",
            "nope"
        ])
        .is_err()
    );
}

#[test]
fn days_and_backdate_control_validity() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    generate(&args(&format!(
        "certs generate --out {} --days 1 --backdate-days 2",
        out.display()
    )))
    .unwrap();
    let tls = ClusterTls::load(
        MtlsMode::Shared,
        &out.join("cluster.crt"),
        &out.join("cluster.key"),
        None,
    )
    .unwrap();
    let problem = tls.own_certificate_problem().unwrap();
    assert!(problem.contains("expired"), "{problem}");
}
