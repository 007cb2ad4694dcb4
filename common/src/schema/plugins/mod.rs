//! The plugin registry: each bundled plugin's config schema (Kong's
//! `kong/plugins/<name>/schema.lua`) with its `PRIORITY` and `VERSION`, which the data
//! plane uses to order and report plugins. One file per plugin; add it to [`bundled`].

use std::sync::Arc;

use super::record::Schema;

mod acl;
mod basic_auth;
mod cors;
mod hmac_auth;
mod ip_restriction;
mod jwt;
mod key_auth;
mod logging;
mod mtls_auth;
mod rate_limiting;
mod simple;
mod transformers;

/// The Kong version whose bundled plugins these are (`VERSION` of each handler).
pub const BUNDLED_PLUGIN_VERSION: &str = "3.10.0";

/// A plugin known to the control plane.
#[derive(Clone)]
pub struct PluginDef {
    pub name: &'static str,
    /// Kong's handler `PRIORITY`: plugins run from the highest to the lowest.
    pub priority: i32,
    pub version: &'static str,
    /// The plugin's subschema of the `plugins` entity: `config` and any overrides of
    /// `consumer`, `route`, `service` and `protocols`.
    pub schema: Arc<Schema>,
}

impl PluginDef {
    /// A plugin defined outside this crate (a custom plugin): `schema` is its subschema of
    /// the `plugins` entity, usually `Schema::new(name).field("config", Field::record(..))`.
    pub fn custom(
        name: &'static str,
        priority: i32,
        version: &'static str,
        schema: Schema,
    ) -> PluginDef {
        let mut def = PluginDef::new(name, priority, schema);
        def.version = version;
        def
    }

    pub(crate) fn new(name: &'static str, priority: i32, mut schema: Schema) -> PluginDef {
        schema.name = name;
        schema.make_records_required();
        PluginDef {
            name,
            priority,
            version: BUNDLED_PLUGIN_VERSION,
            schema: Arc::new(schema),
        }
    }
}

/// Every bundled plugin, in alphabetical order.
pub fn bundled() -> Vec<PluginDef> {
    vec![
        acl::definition(),
        basic_auth::definition(),
        simple::correlation_id(),
        cors::definition(),
        logging::file_log(),
        hmac_auth::definition(),
        logging::http_log(),
        ip_restriction::definition(),
        jwt::definition(),
        key_auth::definition(),
        mtls_auth::definition(),
        simple::prometheus(),
        logging::proxy_cache(),
        rate_limiting::definition(),
        simple::request_size_limiting(),
        simple::request_termination(),
        transformers::request_transformer(),
        transformers::response_transformer(),
    ]
}
