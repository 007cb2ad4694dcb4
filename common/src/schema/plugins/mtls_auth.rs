//! mtls-auth (Kong Gateway Enterprise's `mtls-auth` plugin schema, PRIORITY 1600): client
//! certificates verified against `ca_certificates` and mapped to consumers.

use super::PluginDef;
use crate::schema::field::Field;
use crate::schema::record::Schema;
use crate::schema::typedefs as t;

pub(super) fn definition() -> PluginDef {
    let config = Schema::record(vec![
        ("anonymous", Field::string()),
        (
            "consumer_by",
            Field::array(Field::string().one_of(&["username", "custom_id"]))
                .len_min(1)
                .default(["username", "custom_id"]),
        ),
        (
            "ca_certificates",
            Field::array(Field::string().uuid()).required().len_min(1),
        ),
        ("cache_ttl", Field::number().default(60)),
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
            Field::string().default("CN").one_of(&["CN", "DN"]),
        ),
        (
            "revocation_check_mode",
            Field::string().default("IGNORE_CA_ERROR").one_of(&[
                "SKIP",
                "IGNORE_CA_ERROR",
                "STRICT",
            ]),
        ),
        ("http_timeout", Field::number().default(30000)),
        ("cert_cache_ttl", Field::number().default(60000)),
        ("send_ca_dn", Field::boolean().default(false)),
        ("default_consumer", Field::string()),
        ("http_proxy_host", t::host()),
        ("http_proxy_port", t::port()),
        ("https_proxy_host", t::host()),
        ("https_proxy_port", t::port()),
    ]);
    PluginDef::new(
        "mtls-auth",
        1600,
        Schema::new("mtls-auth")
            .field("consumer", t::no_consumer())
            .field("protocols", t::protocols_http())
            .field("config", Field::record(config)),
    )
}
