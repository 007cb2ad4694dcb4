//! The PDK: what a plugin hook can read and change, grouped as Kong groups it.
//!
//! | Kong | here |
//! |---|---|
//! | `kong.request.*` | [`Kong::request`] ([`request::Request`]) |
//! | `kong.service.request.*` | [`Kong::service_request`] ([`request::ServiceRequest`]) |
//! | `kong.response.*` | [`Kong::response`] ([`response::Response`]); `exit`/`error` are [`Exit`](exit::Exit) |
//! | `kong.client.*`, `kong.client.tls.*` | [`Kong::client`] ([`client::Client`]) |
//! | `kong.service.*` | [`Kong::service`] ([`service::Service`]) |
//! | `kong.router.*` | [`Kong::route`], [`Kong::matched_service`] |
//! | `kong.ctx.shared` | [`Kong::shared`] |
//! | `kong.log.serialize` | [`Kong::serialize`] (`kong.log.*`: `tracing`) |
//!
//! Functions Kong restricts to some phases check the phase and return
//! [`PdkError::Phase`] with Kong's message otherwise.

pub mod certificate;
pub mod client;
pub mod exit;
pub mod log;

pub mod request;
pub mod response;
pub mod service;

use std::sync::Arc;

use common::model::{Route, Service as ServiceEntity};

use super::chain::Instance;
use crate::proxy::context::RequestContext;
use crate::runtime::Runtime;

pub use request::{RequestBody, RequestHead};

/// Kong's request phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Certificate,
    Rewrite,
    Access,
    HeaderFilter,
    BodyFilter,
    Log,
}

impl Phase {
    /// Kong's name of the phase (as in its error messages).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Certificate => "certificate",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::HeaderFilter => "header_filter",
            Phase::BodyFilter => "body_filter",
            Phase::Log => "log",
        }
    }
}

/// A PDK call that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdkError {
    /// Called in a phase Kong does not allow it in.
    #[error("function cannot be called in {current} phase (only in: {allowed})")]
    Phase {
        current: &'static str,
        allowed: String,
    },
    /// A bad argument (Kong raises these as errors too).
    #[error("{0}")]
    Argument(String),
    /// The call was valid but failed (Kong's `nil, err`).
    #[error("{0}")]
    Failed(String),
}

/// Fails with Kong's phase error unless `current` is one of `allowed`.
pub(crate) fn check_phase(current: Phase, allowed: &[Phase]) -> Result<(), PdkError> {
    if allowed.contains(&current) {
        return Ok(());
    }
    Err(PdkError::Phase {
        current: current.name(),
        allowed: allowed
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The request side as a phase sees it: live (rewrite, access: the head goes upstream
/// after the hooks ran) or as it was sent (later phases).
pub(crate) enum RequestSide<'a> {
    Live {
        head: &'a mut http::request::Parts,
        body: &'a mut RequestBody,
    },
    Sent(Option<&'a RequestHead>),
}

/// What a hook gets: the PDK for one request in one phase.
pub struct Kong<'a> {
    pub(crate) phase: Phase,
    pub(crate) ctx: &'a mut RequestContext,
    pub(crate) runtime: &'a Runtime,
    pub(crate) request: RequestSide<'a>,
    pub(crate) response: Option<&'a mut http::response::Parts>,
    pub(crate) instance: Option<&'a Instance>,
    pub(crate) body_limit: usize,
    /// The node's metrics registry, in the log phase.
    pub(crate) metrics: Option<&'a crate::status::metrics::Metrics>,
}

impl<'a> Kong<'a> {
    pub(crate) fn new(
        phase: Phase,
        ctx: &'a mut RequestContext,
        runtime: &'a Runtime,
        request: RequestSide<'a>,
    ) -> Kong<'a> {
        Kong {
            phase,
            ctx,
            runtime,
            request,
            response: None,
            instance: None,
            body_limit: DEFAULT_BODY_LIMIT,
            metrics: None,
        }
    }

    /// The phase being run.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The plugin instance whose hook runs (`kong.plugin.get_id()`).
    pub fn plugin_id(&self) -> Option<uuid::Uuid> {
        self.instance.as_ref().map(|i| i.id)
    }

    /// The matched route (`kong.router.get_route()`), once routing happened.
    pub fn route(&self) -> Option<&Arc<Route>> {
        self.ctx.route.as_ref()
    }

    /// The matched service (`kong.router.get_service()`).
    pub fn matched_service(&self) -> Option<&Arc<ServiceEntity>> {
        self.ctx.service.as_ref()
    }

    /// Per-request state shared by every plugin (`kong.ctx.shared`). A plugin keeps its
    /// own per-request state here under a private type.
    pub fn shared(&mut self) -> &mut http::Extensions {
        &mut self.ctx.shared
    }

    /// The request id (`X-Kong-Request-Id`, `kong.request.get_id()`).
    pub fn request_id(&self) -> &str {
        self.ctx.id.as_str()
    }

    /// Everything known about the request (read-only): latencies, tries, status.
    pub fn context(&self) -> &RequestContext {
        self.ctx
    }

    /// The runtime configuration serving this request.
    pub fn runtime(&self) -> &Runtime {
        self.runtime
    }
}

/// Largest request body the PDK reads into memory (Kong reads bodies that fit its
/// client body buffer; larger ones are not available to plugins).
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
