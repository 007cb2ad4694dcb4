//! mtls-auth (Kong Enterprise's `kong/plugins/mtls-auth/schema.lua`, PRIORITY 1600).

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        ("anonymous", Field::string()),
        (
            "consumer_by",
            Field::array(Field::string().one_of(&["username", "custom_id"]))
                .optional()
                .default(["username", "custom_id"]),
        ),
        (
            "ca_certificates",
            Field::array(Field::string().uuid()).required(),
        ),
        ("cache_ttl", Field::number().required().default(60)),
        (
            "skip_consumer_lookup",
            Field::boolean().required().default(false),
        ),
        (
            "allow_partial_chain",
            Field::boolean().required().default(false),
        ),
        (
            "authenticated_group_by",
            Field::string()
                .optional()
                .one_of(&["CN", "DN"])
                .default("CN"),
        ),
        (
            "revocation_check_mode",
            Field::string()
                .optional()
                .one_of(&["SKIP", "IGNORE_CA_ERROR", "STRICT"])
                .default("IGNORE_CA_ERROR"),
        ),
        ("http_timeout", Field::number().default(30000)),
        ("cert_cache_ttl", Field::number().default(60000)),
        ("send_ca_dn", Field::boolean().default(false)),
        ("default_consumer", Field::string()),
        ("http_proxy_host", t::host()),
        ("http_proxy_port", t::port()),
        ("https_proxy_host", t::host()),
        ("https_proxy_port", t::port()),
        ("ssl_verify", Field::boolean().default(true)),
        (
            "san_dirname_matcher",
            Field::array(Field::string()).default(Vec::<String>::new()),
        ),
    ])
    .check(EntityCheck::mutually_required(&[
        "http_proxy_host",
        "http_proxy_port",
    ]))
    .check(EntityCheck::mutually_required(&[
        "https_proxy_host",
        "https_proxy_port",
    ]));
    PluginDef::new(
        "mtls-auth",
        1600,
        Schema::new("mtls-auth")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
