//! jwt (`kong/plugins/jwt/schema.lua`, PRIORITY 1450).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Match, Schema};
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let strings = |default: &[&str]| Field::set(Field::string()).default(default);
    let config = Schema::record(vec![
        ("uri_param_names", strings(&["jwt"])),
        ("cookie_names", strings(&[])),
        ("key_claim_name", Field::string().default("iss")),
        (
            "secret_is_base64",
            Field::boolean().required().default(false),
        ),
        (
            "claims_to_verify",
            Field::set(Field::string().one_of(&["exp", "nbf"])),
        ),
        ("anonymous", Field::string()),
        (
            "run_on_preflight",
            Field::boolean().required().default(true),
        ),
        (
            "maximum_expiration",
            Field::number().default(0).between(0, 31_536_000),
        ),
        ("header_names", strings(&["authorization"])),
        ("realm", Field::string().optional()),
    ]);
    PluginDef::new(
        "jwt",
        1450,
        Schema::new("jwt")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config))
            .check(EntityCheck::conditional(
                "config.maximum_expiration",
                Match::new().gt(0.0),
                "config.claims_to_verify",
                Match::new().contains("exp"),
            )),
    )
}
