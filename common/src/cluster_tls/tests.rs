//! Real TLS handshakes over loopback between the control plane's and the data plane's
//! configurations, for every acceptance case of both modes.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::generate::{self, CertAuthority, PemPair, Validity};
use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn expired() -> Validity {
    Validity {
        days: 1,
        backdate_days: 2,
    }
}

fn tls(mode: MtlsMode, pair: &PemPair, ca: Option<&PemPair>) -> ClusterTls {
    ClusterTls::from_pem(
        mode,
        pair.cert_pem.as_bytes(),
        pair.key_pem.as_bytes(),
        ca.map(|c| c.cert_pem.as_bytes()),
    )
    .unwrap()
}

#[derive(Debug)]
struct Outcome {
    server: Result<(), String>,
    client: Result<(), String>,
}

impl Outcome {
    fn assert_ok(&self) {
        assert!(self.server.is_ok() && self.client.is_ok(), "{self:?}");
    }

    /// Both sides failed; the side that refused says why (`contains`).
    fn assert_refused(&self, refusing_side_says: &str) {
        let (Err(server), Err(client)) = (&self.server, &self.client) else {
            panic!("expected both sides to fail: {self:?}");
        };
        assert!(
            server.contains(refusing_side_says) || client.contains(refusing_side_says),
            "neither side says {refusing_side_says:?}: {self:?}"
        );
    }
}

/// Handshakes, then exchanges one message each way: with TLS 1.3 the server's verdict on the
/// client certificate reaches the client only on its first read.
async fn handshake(server: &ClusterTls, client: &ClusterTls, name: &str) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server.server_config().unwrap());
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| explain_error(&e))?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| explain_error(&e))?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)
            .await
            .map_err(|e| explain_error(&e))?;
        tls.write_all(b"pong")
            .await
            .map_err(|e| explain_error(&e))?;
        tls.flush().await.map_err(|e| explain_error(&e))?;
        Ok::<(), String>(())
    });
    let connector = TlsConnector::from(client.client_config().unwrap());
    let name = server_name(client.mode(), name, None).unwrap();
    let client_side = async move {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| explain_error(&e))?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| explain_error(&e))?;
        tls.write_all(b"ping")
            .await
            .map_err(|e| explain_error(&e))?;
        tls.flush().await.map_err(|e| explain_error(&e))?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)
            .await
            .map_err(|e| explain_error(&e))?;
        Ok::<(), String>(())
    };
    let client = tokio::time::timeout(DEADLINE, client_side)
        .await
        .unwrap_or_else(|_| Err("client timed out".into()));
    let server = tokio::time::timeout(DEADLINE, server_side)
        .await
        .map_err(|_| "server timed out".to_string())
        .and_then(|joined| joined.map_err(|e| explain_error(&e)))
        .and_then(|r| r);
    Outcome { server, client }
}

#[tokio::test]
async fn shared_mode_accepts_the_shared_certificate() {
    let shared = generate::shared(&[], Validity::default()).unwrap();
    let node = tls(MtlsMode::Shared, &shared, None);
    handshake(&node, &node, "127.0.0.1").await.assert_ok();
    // The name is not checked in shared mode.
    handshake(&node, &node, "cp.anything.example")
        .await
        .assert_ok();
}

#[tokio::test]
async fn shared_mode_refuses_another_shared_certificate() {
    let cp = tls(
        MtlsMode::Shared,
        &generate::shared(&[], Validity::default()).unwrap(),
        None,
    );
    let dp = tls(
        MtlsMode::Shared,
        &generate::shared(&[], Validity::default()).unwrap(),
        None,
    );
    handshake(&cp, &dp, "127.0.0.1").await.assert_refused(
        "peer certificate refused: the peer's certificate is not the shared cluster certificate",
    );
}

/// A client that knows the shared certificate but not its key cannot pass: it can only
/// present a different key pair, and the signature check fails.
#[tokio::test]
async fn shared_mode_requires_the_private_key() {
    let shared = generate::shared(&[], Validity::default()).unwrap();
    let other = generate::shared(&[], Validity::default()).unwrap();
    // The genuine certificate with a foreign key: rejected when loading already.
    let err = ClusterTls::from_pem(
        MtlsMode::Shared,
        shared.cert_pem.as_bytes(),
        other.key_pem.as_bytes(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, TlsSetupError::Rustls(_)), "{err}");
}

#[tokio::test]
async fn shared_mode_refuses_an_expired_certificate() {
    let shared = generate::shared(&[], expired()).unwrap();
    let node = tls(MtlsMode::Shared, &shared, None);
    assert!(node.own_certificate_problem().unwrap().contains("expired"));
    handshake(&node, &node, "127.0.0.1")
        .await
        .assert_refused("expired");
}

struct Pki {
    ca: PemPair,
    cp: ClusterTls,
    dp: ClusterTls,
}

fn pki(cp_validity: Validity, dp_validity: Validity) -> Pki {
    let ca = CertAuthority::new(Validity::default()).unwrap();
    let ca_pem = ca.pem();
    let cp = ca
        .issue_control_plane(&["cp.cluster.internal".into()], cp_validity)
        .unwrap();
    let dp = ca.issue_data_plane("dp-1", dp_validity).unwrap();
    Pki {
        cp: tls(MtlsMode::Pki, &cp, Some(&ca_pem)),
        dp: tls(MtlsMode::Pki, &dp, Some(&ca_pem)),
        ca: ca_pem,
    }
}

#[tokio::test]
async fn pki_mode_accepts_certificates_of_the_ca_by_every_cp_name() {
    let p = pki(Validity::default(), Validity::default());
    for name in [
        "localhost",
        "127.0.0.1",
        "::1",
        "[::1]",
        "cp.cluster.internal",
    ] {
        handshake(&p.cp, &p.dp, name).await.assert_ok();
    }
}

#[tokio::test]
async fn pki_mode_refuses_a_data_plane_of_another_ca() {
    let p = pki(Validity::default(), Validity::default());
    let other_ca = CertAuthority::new(Validity::default()).unwrap();
    let stranger = other_ca
        .issue_data_plane("dp-x", Validity::default())
        .unwrap();
    // The stranger trusts our CA (it knows the CP), but its own certificate is foreign.
    let stranger = tls(MtlsMode::Pki, &stranger, Some(&p.ca));
    let outcome = handshake(&p.cp, &stranger, "localhost").await;
    outcome.assert_refused("not signed by the cluster CA (unknown issuer)");
    assert!(
        outcome
            .client
            .as_ref()
            .unwrap_err()
            .contains("refused by the peer"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn pki_mode_refuses_a_control_plane_of_another_ca() {
    let p = pki(Validity::default(), Validity::default());
    let other = pki(Validity::default(), Validity::default());
    let outcome = handshake(&other.cp, &p.dp, "localhost").await;
    assert!(
        outcome
            .client
            .as_ref()
            .unwrap_err()
            .contains("unknown issuer"),
        "{outcome:?}"
    );
    assert!(outcome.server.is_err());
}

/// CA rotation without a sync gap (docs/operations.md): while every node trusts a bundle
/// of the old and the new CA, nodes with certificates of either CA accept each other;
/// once the old CA leaves the bundle, its certificates are refused.
#[tokio::test]
async fn pki_mode_trusts_every_ca_of_a_bundle_during_a_ca_rotation() {
    let old = CertAuthority::new(Validity::default()).unwrap();
    let new = CertAuthority::new(Validity::default()).unwrap();
    let bundle = PemPair {
        cert_pem: format!("{}{}", old.pem().cert_pem, new.pem().cert_pem),
        key_pem: String::new(),
    };
    let names = ["cp.cluster.internal".to_string()];
    let cp_old = old
        .issue_control_plane(&names, Validity::default())
        .unwrap();
    let cp_new = new
        .issue_control_plane(&names, Validity::default())
        .unwrap();
    let dp_old = old.issue_data_plane("dp-1", Validity::default()).unwrap();
    let dp_new = new.issue_data_plane("dp-1", Validity::default()).unwrap();
    for (cp, dp) in [(&cp_old, &dp_new), (&cp_new, &dp_old), (&cp_new, &dp_new)] {
        let cp = tls(MtlsMode::Pki, cp, Some(&bundle));
        let dp = tls(MtlsMode::Pki, dp, Some(&bundle));
        handshake(&cp, &dp, "cp.cluster.internal").await.assert_ok();
    }
    // Last step: the old CA is dropped; a data plane still holding an old certificate is
    // refused.
    let cp = tls(MtlsMode::Pki, &cp_new, Some(&new.pem()));
    let dp = tls(MtlsMode::Pki, &dp_old, Some(&bundle));
    handshake(&cp, &dp, "cp.cluster.internal")
        .await
        .assert_refused("unknown issuer");
}

#[tokio::test]
async fn pki_mode_refuses_expired_certificates_on_both_sides() {
    let p = pki(Validity::default(), expired());
    handshake(&p.cp, &p.dp, "localhost")
        .await
        .assert_refused("expired");
    let p = pki(expired(), Validity::default());
    let outcome = handshake(&p.cp, &p.dp, "localhost").await;
    assert!(
        outcome.client.as_ref().unwrap_err().contains("expired"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn pki_mode_refuses_a_wrong_server_name() {
    let p = pki(Validity::default(), Validity::default());
    let outcome = handshake(&p.cp, &p.dp, "cp.elsewhere.example").await;
    assert!(
        outcome
            .client
            .as_ref()
            .unwrap_err()
            .contains("not valid for name"),
        "{outcome:?}"
    );
    assert!(outcome.server.is_err());
}

#[test]
fn pki_mode_needs_a_ca() {
    let ca = CertAuthority::new(Validity::default()).unwrap();
    let cp = ca.issue_control_plane(&[], Validity::default()).unwrap();
    let err = ClusterTls::from_pem(
        MtlsMode::Pki,
        cp.cert_pem.as_bytes(),
        cp.key_pem.as_bytes(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, TlsSetupError::MissingCa));
}

#[test]
fn garbage_files_are_refused_with_the_file_named() {
    let err = ClusterTls::from_pem(MtlsMode::Shared, b"hello", b"world", None).unwrap_err();
    assert!(err.to_string().contains("cluster certificate"), "{err}");
    let err = ClusterTls::load(
        MtlsMode::Shared,
        Path::new("/nonexistent/cluster.crt"),
        Path::new("/nonexistent/cluster.key"),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/cluster.crt"),
        "{err}"
    );
}

#[test]
fn cert_details_report_the_expiry() {
    let shared = generate::shared(
        &[],
        Validity {
            days: 10,
            backdate_days: 0,
        },
    )
    .unwrap();
    let node = tls(MtlsMode::Shared, &shared, None);
    let details = cert_details(node.certificate()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((details.expiry_timestamp - (now + 10 * 86_400)).abs() < 300);
    assert!(details.subject.contains("portico_clustering"));
}

#[test]
fn modes_parse() {
    assert_eq!("shared".parse::<MtlsMode>().unwrap(), MtlsMode::Shared);
    assert_eq!("pki".parse::<MtlsMode>().unwrap(), MtlsMode::Pki);
    assert!("PKI".parse::<MtlsMode>().is_err());
}
