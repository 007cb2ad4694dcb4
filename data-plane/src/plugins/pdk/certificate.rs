//! The `certificate` phase: the TLS handshake of a connection, before any request.
//! `kong.client.tls.request_client_certificate` and `disable_session_reuse` live here
//! (Kong allows them only in this phase).

use super::{Kong, PdkError, Phase, check_phase};

/// What the certificate phase decided for one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsDecisions {
    /// Ask the client for a certificate (optional: the handshake completes without one).
    pub request_client_certificate: bool,
    /// No session ticket and no session id for this connection.
    pub disable_session_reuse: bool,
    /// Subjects (DER `Name`s) of the CAs listed in the certificate request, so the
    /// client can pick a certificate they issued; empty: no list is sent.
    pub client_ca_names: Vec<Vec<u8>>,
}

/// The PDK of the certificate phase.
pub struct CertificatePhase<'a> {
    pub(crate) sni: Option<&'a str>,
    pub(crate) decisions: &'a mut TlsDecisions,
}

impl<'a> CertificatePhase<'a> {
    pub fn new(sni: Option<&'a str>, decisions: &'a mut TlsDecisions) -> CertificatePhase<'a> {
        CertificatePhase { sni, decisions }
    }

    /// The SNI the client sent, lower-cased.
    pub fn sni(&self) -> Option<&str> {
        self.sni
    }

    /// `kong.client.tls.request_client_certificate()`: requests, without requiring, a
    /// client certificate. Whether the client sent one shows in later phases through
    /// `get_full_client_certificate_chain`.
    pub fn request_client_certificate(&mut self) -> Result<(), PdkError> {
        self.decisions.request_client_certificate = true;
        Ok(())
    }

    /// `kong.client.tls.request_client_certificate(ca_certs)` (Kong 3.4+): like
    /// [`CertificatePhase::request_client_certificate`], and lists the subjects of
    /// `ca_subjects` (DER `Name`s) in the request's `certificate_authorities`. Several
    /// calls on one handshake merge their lists.
    pub fn request_client_certificate_with_ca_names(
        &mut self,
        ca_subjects: &[Vec<u8>],
    ) -> Result<(), PdkError> {
        self.decisions.request_client_certificate = true;
        for subject in ca_subjects {
            if !self.decisions.client_ca_names.contains(subject) {
                self.decisions.client_ca_names.push(subject.clone());
            }
        }
        Ok(())
    }

    /// `kong.client.tls.disable_session_reuse()`: no session ticket or session id is
    /// issued for this connection, so the next one does a full handshake.
    pub fn disable_session_reuse(&mut self) -> Result<(), PdkError> {
        self.decisions.disable_session_reuse = true;
        Ok(())
    }
}

impl Kong<'_> {
    /// `kong.client.tls.request_client_certificate` outside the certificate phase: Kong's
    /// phase error.
    pub fn tls_request_client_certificate(&self) -> Result<(), PdkError> {
        check_phase(self.phase, &[Phase::Certificate])
    }

    /// `kong.client.tls.disable_session_reuse` outside the certificate phase: Kong's
    /// phase error.
    pub fn tls_disable_session_reuse(&self) -> Result<(), PdkError> {
        check_phase(self.phase, &[Phase::Certificate])
    }
}
