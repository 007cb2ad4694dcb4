//! The `portico-cp` binary starts and reports its version. Having an integration test here
//! also makes `cargo test --workspace` build the binary the black-box tests in `tests/` run.

use std::process::Command;

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_portico-cp"))
        .arg("--version")
        .output()
        .expect("portico-cp runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}
