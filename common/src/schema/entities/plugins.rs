//! `plugins` (Kong `kong/db/schema/entities/plugins.lua`): the plugin instance, whose
//! `config` is specialised by the named plugin's subschema from the registry.

use std::sync::Arc;

use crate::schema::field::Field;
use crate::schema::plugins::PluginDef;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

/// Kong's message for a plugin name with no enabled subschema.
pub const PLUGIN_NOT_ENABLED: &str =
    "plugin '%s' not enabled; add it to the 'plugins' configuration property";

pub(crate) fn schema(plugins: &[Arc<PluginDef>]) -> Schema {
    let scope = |reference: &'static str| {
        Field::foreign(reference)
            .default_null()
            .on_delete("cascade")
    };
    let mut schema = Schema::new("plugins")
        .field("id", t::uuid())
        .field("name", Field::string().required())
        .field("instance_name", t::utf8_name())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("route", scope("routes"))
        .field("service", scope("services"))
        .field("consumer", scope("consumers"))
        .field(
            "config",
            Field::record(Schema::record(Vec::new())).abstract_(),
        )
        .field("protocols", t::protocols())
        .field("enabled", Field::boolean().required().default(true))
        .field("tags", t::tags());
    schema.subschema_key = Some("name");
    schema.subschema_error = Some(PLUGIN_NOT_ENABLED);
    schema.subschemas = plugins
        .iter()
        .map(|p| (p.name.to_string(), p.schema.clone()))
        .collect();
    schema
}
