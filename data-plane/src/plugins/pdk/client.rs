//! `kong.client.*` and `kong.client.tls.*` (request phases; the certificate-phase
//! functions are in [`super::certificate`]).

use std::net::IpAddr;
use std::sync::Arc;

use common::model::Consumer;

use super::{Kong, PdkError, Phase, check_phase};
use crate::plugins::credentials::Credential;

/// `kong.client`.
pub struct Client<'k, 'a> {
    kong: &'k mut Kong<'a>,
}

impl<'a> Kong<'a> {
    pub fn client(&mut self) -> Client<'_, 'a> {
        Client { kong: self }
    }
}

/// What `kong.client.tls.set_client_verify` accepts: `SUCCESS`, `NONE`, `FAILED:<reason>`.
pub fn valid_client_verify(value: &str) -> bool {
    value == "SUCCESS" || value == "NONE" || value.starts_with("FAILED:")
}

impl Client<'_, '_> {
    /// The address of the connecting peer (`kong.client.get_ip`).
    pub fn ip(&self) -> IpAddr {
        crate::proxy::settings::canonical_ip(self.kong.ctx.conn.peer.ip())
    }

    /// The client address after `trusted_ips`/`real_ip_header` (`kong.client.get_forwarded_ip`).
    pub fn forwarded_ip(&self) -> IpAddr {
        self.kong.ctx.client_ip
    }

    /// The peer's port (`kong.client.get_port`).
    pub fn port(&self) -> u16 {
        self.kong.ctx.conn.peer.port()
    }

    /// The authenticated consumer (`kong.client.get_consumer`).
    pub fn consumer(&self) -> Option<&Arc<Consumer>> {
        self.kong.ctx.consumer.as_ref()
    }

    /// The credential the request authenticated with (`kong.client.get_credential`).
    pub fn credential(&self) -> Option<&Credential> {
        self.kong.ctx.credential.as_ref()
    }

    /// A consumer of this configuration by id (`kong.client.load_consumer`).
    pub fn load_consumer(&self, id: &uuid::Uuid) -> Option<Arc<Consumer>> {
        self.kong.runtime.consumer(id).cloned()
    }

    /// A consumer by username or custom id (`kong.client.load_consumer(x, true)`).
    pub fn load_consumer_by_name(&self, name: &str) -> Option<Arc<Consumer>> {
        self.kong.runtime.consumer_by_name(name).cloned()
    }

    /// Sets the authenticated consumer and credential (`kong.client.authenticate`).
    /// Plugins after this one are looked up for this consumer.
    pub fn authenticate(
        &mut self,
        consumer: Option<Arc<Consumer>>,
        credential: Option<Credential>,
    ) -> Result<(), PdkError> {
        check_phase(self.kong.phase, &[Phase::Rewrite, Phase::Access])?;
        if consumer.is_none() && credential.is_none() {
            return Err(PdkError::Argument(
                "either credential or consumer must be provided".into(),
            ));
        }
        self.kong.ctx.consumer = consumer;
        self.kong.ctx.credential = credential;
        Ok(())
    }

    /// The client certificate chain as PEM, leaf first
    /// (`kong.client.tls.get_full_client_certificate_chain`). `Ok(None)` when the client
    /// presented none (or the connection is not TLS).
    pub fn tls_client_certificate_chain(&self) -> Result<Option<String>, PdkError> {
        check_phase(
            self.kong.phase,
            &[
                Phase::Rewrite,
                Phase::Access,
                Phase::HeaderFilter,
                Phase::BodyFilter,
                Phase::Log,
            ],
        )?;
        let Some(chain) = &self.kong.ctx.conn.client_certificates else {
            return Ok(None);
        };
        if chain.is_empty() {
            return Ok(None);
        }
        Ok(Some(crate::tls::pem::to_pem_chain(chain)))
    }

    /// The client certificate chain in DER, leaf first (for plugins verifying it).
    pub fn tls_client_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.kong.ctx.conn.client_certificates.as_deref()
    }

    /// Overrides `request.tls.client_verify` in the log serializer
    /// (`kong.client.tls.set_client_verify`): `SUCCESS`, `NONE` or `FAILED:<reason>`.
    pub fn tls_set_client_verify(&mut self, value: &str) -> Result<(), PdkError> {
        check_phase(self.kong.phase, &[Phase::Rewrite, Phase::Access])?;
        if !valid_client_verify(value) {
            return Err(PdkError::Argument(format!(
                "unknown client verify value: {value} accepted values are: \"SUCCESS\", \"NONE\" or \"FAILED:<reason>\""
            )));
        }
        self.kong.ctx.client_verify = Some(value.to_string());
        Ok(())
    }
}
