//! The plugin registry: each bundled plugin's config schema (Kong's
//! `kong/plugins/<name>/schema.lua`) with its `PRIORITY` and `VERSION`, which the data
//! plane uses to order and report plugins. One file per plugin; add it to [`bundled`].

use std::sync::Arc;

use super::record::Schema;

mod key_auth;
mod rate_limiting;

/// The Kong version whose bundled plugins these are (`VERSION` of each handler).
pub const BUNDLED_PLUGIN_VERSION: &str = "3.10.0";

/// A plugin known to the control plane.
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
    vec![key_auth::definition(), rate_limiting::definition()]
}
