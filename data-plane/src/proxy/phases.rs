//! The plugin hook points of the request path, in Kong's phase order.
//!
//! The request path calls, for every request:
//! 1. [`PluginPhases::rewrite`] before routing (global plugins only, as in Kong);
//! 2. [`PluginPhases::access`] after routing, before the upstream request is built;
//! 3. [`PluginPhases::header_filter`] on the response head (upstream or proxy-generated);
//! 4. [`PluginPhases::body_filter`] on each response body chunk (only when
//!    [`PluginPhases::wants_body_filter`] says so, so plain proxying pays nothing);
//! 5. [`PluginPhases::log`] once the response is finished or the client went away.
//!
//! A hook can end the request early by returning [`Flow::Exit`] (Kong's
//! `kong.response.exit` / `kong.response.error`). This module holds the compiled plugin
//! configuration of one runtime. No plugins exist yet: the chain is empty and a
//! configuration that names a plugin is rejected rather than silently not enforced.

use bytes::Bytes;
use common::model::Plugin;
use http::{HeaderMap, StatusCode};

use super::context::RequestContext;

/// What the request path does after a phase hook.
pub enum Flow {
    Continue,
    Exit(Exit),
}

/// A response produced by a plugin instead of the upstream's.
pub enum Exit {
    /// `kong.response.exit(status, body, headers)`.
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// `kong.response.error(status, message, headers)`: rendered like Kong's errors,
    /// negotiated by `Accept`.
    Error {
        status: StatusCode,
        message: Option<String>,
        headers: HeaderMap,
    },
}

/// Why a plugin configuration could not be compiled.
#[derive(Debug, Clone)]
pub struct PluginProblem {
    pub plugin_id: uuid::Uuid,
    pub message: String,
}

/// The compiled plugin chains of one runtime.
#[derive(Default)]
pub struct PluginPhases {
    _private: (),
}

impl PluginPhases {
    /// Compiles the enabled plugin instances. Until plugins are implemented, any enabled
    /// plugin is an error: serving without it would skip authentication or limits the
    /// operator configured.
    pub fn compile(plugins: &[Plugin]) -> Result<PluginPhases, Vec<PluginProblem>> {
        let problems: Vec<PluginProblem> = plugins
            .iter()
            .filter(|p| p.enabled)
            .map(|p| PluginProblem {
                plugin_id: p.id,
                message: format!("plugin '{}' is not available on this data plane", p.name),
            })
            .collect();
        if problems.is_empty() {
            Ok(PluginPhases::default())
        } else {
            Err(problems)
        }
    }

    /// Before routing. `req` may be changed (path, headers) and affects routing.
    pub async fn rewrite(
        &self,
        _ctx: &mut RequestContext,
        _req: &mut http::request::Parts,
    ) -> Flow {
        Flow::Continue
    }

    /// After routing (`ctx.route`/`ctx.service` set), before the upstream request.
    pub async fn access(&self, _ctx: &mut RequestContext, _req: &mut http::request::Parts) -> Flow {
        Flow::Continue
    }

    /// On the response head about to be sent to the client.
    pub fn header_filter(&self, _ctx: &mut RequestContext, _resp: &mut http::response::Parts) {}

    /// Whether [`Self::body_filter`] must see the response body of this request.
    pub fn wants_body_filter(&self, _ctx: &RequestContext) -> bool {
        false
    }

    /// On each response body chunk; `eof` on the last call.
    pub fn body_filter(&self, _ctx: &mut RequestContext, _chunk: &mut Bytes, _eof: bool) {}

    /// After the response was sent (or the client disconnected). Always runs.
    pub fn log(&self, _ctx: &RequestContext) {}
}
