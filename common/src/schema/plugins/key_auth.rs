//! key-auth (`kong/plugins/key-auth/schema.lua`, PRIORITY 1250).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        (
            "key_names",
            Field::array(t::header_name())
                .required()
                .default(["apikey"]),
        ),
        (
            "hide_credentials",
            Field::boolean().required().default(false),
        ),
        ("anonymous", Field::string()),
        ("key_in_header", Field::boolean().required().default(true)),
        ("key_in_query", Field::boolean().required().default(true)),
        ("key_in_body", Field::boolean().required().default(false)),
        (
            "run_on_preflight",
            Field::boolean().required().default(true),
        ),
        ("realm", Field::string().optional()),
    ]);
    PluginDef::new(
        "key-auth",
        1250,
        Schema::new("key-auth")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
