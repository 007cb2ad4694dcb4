//! Test harness shared by the black-box and in-process tests under `tests/tests/`.
//!
//! - [`process`]: find and run the real `portico-dp` / `portico-cp` binaries on ephemeral
//!   ports, poll them with deadlines, kill them on drop.
//! - [`proxy`]: an in-process data-plane node serving a compiled runtime.
//! - [`upstream`]: in-process upstream servers (a `mock_upstream`-like echo, custom
//!   handlers, TLS).
//! - [`client`]: one-shot HTTP/1.1, HTTP/2 and raw TCP clients.
//! - [`deploy`]: what the files under `deploy/` give the binaries, and what `--help` accepts.
//! - [`entities`], [`certs`]: Kong entities with Kong's defaults, test certificates.
//! - [`admin`]: a `portico-cp serve` process and requests to its Admin API.
//! - [`cluster`]: hybrid mode: cluster certificates from `portico-cp certs generate`, and
//!   control and data planes started with them.
//! - [`ocsp`]: OCSP (RFC 6960) responses built and signed in tests.
//! - [`forwarder`]: a TCP forwarder the test cuts and restores (a dependency going away).

pub mod admin;
pub mod certs;
pub mod client;
pub mod cluster;
pub mod deploy;
pub mod entities;
pub mod forwarder;
pub mod ocsp;
pub mod process;
pub mod proxy;
pub mod upstream;
