//! basic-auth (`kong/plugins/basic-auth/schema.lua`, PRIORITY 1100).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        ("anonymous", Field::string()),
        (
            "hide_credentials",
            Field::boolean().required().default(false),
        ),
        ("realm", Field::string().required().default("service")),
    ]);
    PluginDef::new(
        "basic-auth",
        1100,
        Schema::new("basic-auth")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
