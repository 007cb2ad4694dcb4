//! hmac-auth (`kong/plugins/hmac-auth/schema.lua`, PRIORITY 1030).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

const ALGORITHMS: &[&str] = &["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"];

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        (
            "hide_credentials",
            Field::boolean().required().default(false),
        ),
        ("clock_skew", Field::number().default(300).gt(0.0)),
        ("anonymous", Field::string()),
        (
            "validate_request_body",
            Field::boolean().required().default(false),
        ),
        (
            "enforce_headers",
            Field::array(Field::string()).default(Vec::<String>::new()),
        ),
        (
            "algorithms",
            Field::array(Field::string().one_of(ALGORITHMS)).default(ALGORITHMS),
        ),
        ("realm", Field::string().optional()),
    ]);
    PluginDef::new(
        "hmac-auth",
        1030,
        Schema::new("hmac-auth")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
