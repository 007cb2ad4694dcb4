//! The bundled plugins, registered explicitly by name with their schemas from
//! `common::schema::plugins` (Kong's config schema, PRIORITY and VERSION).

use std::collections::HashMap;

use common::schema::PluginDef;

use super::{
    PluginRegistry, acl, basic_auth, correlation_id, cors, file_log, hmac_auth, http_log,
    ip_restriction, jwt, key_auth, mtls_auth, prometheus, proxy_cache, rate_limiting,
    request_size_limiting, request_termination, request_transformer, response_transformer,
};

/// Registers every bundled plugin that this data plane implements.
pub fn register_all(registry: &mut PluginRegistry) {
    let mut defs: HashMap<&'static str, PluginDef> = common::schema::plugins::bundled()
        .into_iter()
        .map(|d| (d.name, d))
        .collect();
    let mut add = |name: &str, factory: super::registry::FactoryFn| {
        if let Some(def) = defs.remove(name) {
            registry.register(def, factory);
        }
    };
    add("key-auth", key_auth::factory);
    add("rate-limiting", rate_limiting::factory);
    add("proxy-cache", proxy_cache::factory);
    add("basic-auth", basic_auth::factory);
    add("hmac-auth", hmac_auth::factory);
    add("jwt", jwt::factory);
    add("mtls-auth", mtls_auth::factory);
    add("acl", acl::factory);
    add("cors", cors::factory);
    add("ip-restriction", ip_restriction::factory);
    add("request-size-limiting", request_size_limiting::factory);
    add("request-termination", request_termination::factory);
    add("correlation-id", correlation_id::factory);
    add("request-transformer", request_transformer::factory);
    add("response-transformer", response_transformer::factory);
    add("file-log", file_log::factory);
    add("http-log", http_log::factory);
    add("prometheus", prometheus::factory);
}
