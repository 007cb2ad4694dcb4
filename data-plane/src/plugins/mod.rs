//! Plugins: the [`Plugin`] trait, the registry, the compiled chain and the PDK.
//!
//! A plugin is one type implementing [`Plugin`]: every phase has a no-op default, so a
//! plugin implements only the phases it needs (Pingora's model). A [`PluginRegistry`] maps
//! each plugin name to its schema (`common::schema::PluginDef`: config schema, Kong's
//! `PRIORITY` and `VERSION`) and a factory that turns one validated plugin entity into a
//! ready instance. Factories run once per configuration snapshot, off the request path
//! ([`chain::PluginChain::compile`]); the request path only looks instances up.
//!
//! Phases, in Kong's order (see `docs/plugins.md` for the lifecycle diagram):
//! - `certificate`: during the TLS handshake, global instances only;
//! - `rewrite`: before routing, global instances only;
//! - `access`: after routing; the instance of each plugin is looked up with Kong's
//!   precedence (consumer+route+service ... global) as the chain is walked, so a consumer
//!   set by an authentication plugin selects the instances of the plugins after it;
//! - `header_filter`, `body_filter`, `log`: the instances collected in `access` (or the
//!   global ones when the request never reached `access`). `log` always runs, also when
//!   the client went away.
//!
//! A plugin ends a request early by returning [`Flow::Exit`] (Kong's `kong.response.exit`
//! and `kong.response.error`). Plugins after it still take part in the later phases.

pub mod acl;
pub mod auth;
pub mod basic_auth;
mod bundled;
pub mod chain;
pub mod clock;
pub mod compile_cx;
pub mod correlation_id;
pub mod cors;
pub mod credentials;
pub mod file_log;
pub mod hmac_auth;
pub mod http_client;
pub mod http_log;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod mtls_auth;
pub mod pdk;
pub mod prometheus;
pub mod proxy_cache;
pub mod rate_limiting;
pub mod registry;
pub mod request_size_limiting;
pub mod request_termination;
pub mod request_transformer;
pub mod response_transformer;
pub mod state;

use async_trait::async_trait;
use bytes::Bytes;

pub use chain::PluginChain;
pub use compile_cx::InstanceCx;
pub use pdk::certificate::CertificatePhase;
pub use pdk::exit::{Exit, Flow};
pub use pdk::{Kong, PdkError, Phase};
pub use registry::{PluginFactory, PluginRegistry};

/// One compiled plugin instance (a plugin entity with its configuration).
///
/// Hooks receive the PDK ([`Kong`]): the request, the response, the client, the
/// service, the consumer and the per-request shared state. Async hooks may await (Redis,
/// reading the request body); the others must not block.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// During the TLS handshake (global instances only): ask for a client certificate,
    /// disable session reuse.
    fn certificate(&self, _tls: &mut CertificatePhase<'_>) {}

    /// Whether [`Plugin::certificate`] runs for this instance whatever its scope. Kong
    /// runs the certificate phase for global instances only, since no route is known
    /// during the handshake; a plugin that must act on the handshakes of the routes it
    /// applies to (mtls-auth asks for client certificates) opts in here and filters by
    /// SNI itself. Asked once, when the chain is compiled.
    fn certificate_when_scoped(&self) -> bool {
        false
    }

    /// Before routing (global instances only). Changes to the request affect routing.
    async fn rewrite(&self, _kong: &mut Kong<'_>) -> Flow {
        Flow::Continue
    }

    /// After routing, before the request goes upstream.
    async fn access(&self, _kong: &mut Kong<'_>) -> Flow {
        Flow::Continue
    }

    /// Whether this plugin's `header_filter`, `body_filter` or `log` read the request (or
    /// `log` reads the response head, as `kong.log.serialize()` does). The heads are kept
    /// for the later phases only when one of the request's plugins says so; plugins that
    /// do not need them return false and save the copies.
    fn reads_request_after_access(&self) -> bool {
        true
    }

    /// On the response head (upstream's or generated) before it is sent.
    fn header_filter(&self, _kong: &mut Kong<'_>) {}

    /// On each chunk of the response body; `eof` on the last one.
    fn body_filter(&self, _kong: &mut Kong<'_>, _chunk: &mut Bytes, _eof: bool) {}

    /// After the response was sent or the client went away. Always runs.
    fn log(&self, _kong: &mut Kong<'_>) {}
}
