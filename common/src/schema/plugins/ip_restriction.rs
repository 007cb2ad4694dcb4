//! ip-restriction (`kong/plugins/ip-restriction/schema.lua`, PRIORITY 990).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        ("allow", Field::array(t::ip_or_cidr())),
        ("deny", Field::array(t::ip_or_cidr())),
        ("status", Field::number().optional()),
        ("message", Field::string().optional()),
    ]);
    PluginDef::new(
        "ip-restriction",
        990,
        Schema::new("ip-restriction")
            .field(
                "protocols",
                t::protocols().default(["http", "https", "tcp", "tls", "grpc", "grpcs"]),
            )
            .field("config", Field::record(config))
            .check(EntityCheck::at_least_one_of(&[
                "config.allow",
                "config.deny",
            ])),
    )
}
