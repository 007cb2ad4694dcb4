//! The `portico-dp` binary starts and reports its version. Having an integration test here
//! also makes `cargo test --workspace` build the binary the black-box tests in `tests/` run.

use std::process::Command;

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_portico-dp"))
        .arg("--version")
        .output()
        .expect("portico-dp runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn invalid_settings_exit_with_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_portico-dp"))
        .args([
            "serve",
            "--proxy-listen",
            "off",
            "--proxy-listen-tls",
            "off",
            "--status-listen",
            "off",
            "--trusted-ips",
            "not-an-ip",
        ])
        .output()
        .expect("portico-dp runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--trusted-ips"), "{err}");
}
