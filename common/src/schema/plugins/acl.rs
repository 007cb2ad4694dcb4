//! acl (`kong/plugins/acl/schema.lua`, PRIORITY 950).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        ("allow", Field::array(Field::string())),
        ("deny", Field::array(Field::string())),
        (
            "hide_groups_header",
            Field::boolean().required().default(false),
        ),
        (
            "always_use_authenticated_groups",
            Field::boolean().required().default(false),
        ),
    ]);
    PluginDef::new(
        "acl",
        950,
        Schema::new("acl")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config))
            .check(EntityCheck::only_one_of(&["config.allow", "config.deny"]))
            .check(EntityCheck::at_least_one_of(&[
                "config.allow",
                "config.deny",
            ])),
    )
}
