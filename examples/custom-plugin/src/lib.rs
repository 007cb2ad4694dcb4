//! `api-version`: an example custom plugin for Portico (the tutorial's code, see
//! `docs/custom-plugins.md`).
//!
//! Clients name the API version they want in a header (`X-Api-Version` by default).
//! Versions outside `allowed` are refused with 400; an absent header means `default`
//! (refused when there is none). The upstream receives the accepted version in
//! `X-Api-Version-Accepted` and the client gets it back in `X-Api-Version`.
//!
//! The crate's two binaries share [`definition`]: `portico-dp-example` runs the plugin
//! ([`registry`]), `portico-cp-example` validates its configurations with the same schema
//! and checks data planes' versions of it.

use std::sync::Arc;

use async_trait::async_trait;
use common::schema::{Field, PluginDef, Schema};
use data_plane::plugins::{Exit, Flow, InstanceCx, Kong, Plugin, PluginRegistry};
use serde::Deserialize;

/// The plugin's name, as configured (`name: api-version`).
pub const NAME: &str = "api-version";

/// The schema: what the control plane (`portico-cp-example`) and the declarative loader
/// validate, with the plugin's priority (it runs after authentication, priority
/// 1000-1600, and before rate limiting, 910) and version (compared between the control
/// plane and each data plane). The one definition both binaries use.
pub fn definition() -> PluginDef {
    let config = Schema::record(vec![
        (
            "header_name",
            Field::string().required().default("X-Api-Version"),
        ),
        (
            "allowed",
            Field::array(Field::string()).required().len_min(1),
        ),
        ("default", Field::string()),
    ]);
    PluginDef::custom(
        NAME,
        920,
        "1.0.0",
        Schema::new(NAME).field("config", Field::record(config)),
    )
}

/// The validated configuration, with the schema's defaults filled in.
#[derive(Debug, Deserialize)]
struct Config {
    header_name: String,
    allowed: Vec<String>,
    default: Option<String>,
}

/// One configured instance. Built once per configuration snapshot by [`factory`].
pub struct ApiVersion {
    config: Config,
}

/// Compiles one plugin entity; an error rejects the whole configuration.
pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    if let Some(default) = &config.default
        && !config.allowed.contains(default)
    {
        return Err(format!("default version '{default}' is not allowed"));
    }
    Ok(Arc::new(ApiVersion { config }))
}

/// The version accepted for this request, kept for header_filter.
#[derive(Clone)]
struct Accepted(String);

#[async_trait]
impl Plugin for ApiVersion {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let asked = kong
            .request()
            .header(&self.config.header_name)
            .map(str::to_string)
            .or_else(|| self.config.default.clone());
        let Some(version) = asked.filter(|v| self.config.allowed.contains(v)) else {
            return Flow::Exit(Exit::message(400, "Unsupported API version"));
        };
        if let Err(e) = kong
            .service_request()
            .set_header("x-api-version-accepted", &version)
        {
            return Flow::Exit(Exit::error(400, e.to_string()));
        }
        kong.shared().insert(Accepted(version));
        Flow::Continue
    }

    fn header_filter(&self, kong: &mut Kong<'_>) {
        if let Some(Accepted(version)) = kong.shared().get::<Accepted>().cloned() {
            let _ = kong.response().set_header("x-api-version", &version);
        }
    }
}

/// The bundled plugins plus this one.
pub fn registry() -> PluginRegistry {
    let mut registry = PluginRegistry::bundled();
    registry.register(definition(), factory);
    registry
}
