//! The HTTP proxy: listeners, the request path, and the upstream client.
//!
//! - [`listener`]: accepts plain (HTTP/1.x + h2c) and TLS (ALPN h2 / http/1.1)
//!   connections; [`server`] serves HTTP/1.x, hyper HTTP/2; [`drain`]: graceful shutdown.
//! - [`handler`]: the request path, phase by phase (`request_parts`: the client head's
//!   limits, host and the path sent upstream).
//! - [`upstream_call`] / [`upstream`]: peer selection, retries, pooled connections.
//! - [`headers`], [`forwarded`], [`errors`]: Kong's header and error rules.
//! - [`context`]: per-request state. Plugin hooks are called from here into
//!   [`crate::plugins`].

pub mod context;
pub mod drain;
pub mod errors;
pub mod forwarded;
pub mod handler;
pub mod headers;
pub mod listener;
pub(crate) mod request_parts;
pub mod response_body;
pub mod server;
pub mod settings;
mod tunnel;
pub mod upstream;
pub mod upstream_call;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::runtime::{Runtime, RuntimeHandle};
use crate::status::metrics::Metrics;

pub use settings::ProxySettings;

/// State shared by every connection and request of the proxy.
pub struct Shared {
    pub runtime: RuntimeHandle,
    pub settings: ProxySettings,
    pub pool: upstream::Pool,
    pub metrics: Arc<Metrics>,
}

impl Shared {
    pub fn new(runtime: RuntimeHandle, settings: ProxySettings, metrics: Arc<Metrics>) -> Shared {
        Shared {
            pool: upstream::Pool::new(settings.keepalive),
            runtime,
            settings,
            metrics,
        }
    }

    pub(crate) fn request_started(&self) {
        let c = &self.metrics.connections;
        c.total_requests.fetch_add(1, Ordering::Relaxed);
        c.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_finished(&self, ctx: &context::RequestContext, runtime: &Runtime) {
        self.metrics
            .connections
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
        // With a prometheus plugin configured, the plugin records (with its switches).
        if !runtime.plugins().contains("prometheus") {
            self.metrics
                .record(ctx, runtime, crate::status::metrics::RecordFlags::ALL);
        }
    }
}
