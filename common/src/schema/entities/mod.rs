//! Kong 3.x's entity schemas, one file per entity family.

use std::sync::Arc;

use super::catalog::EntitySchema;
use super::plugins::PluginDef;
use crate::model::EntityKind;

mod certificates;
mod consumers;
mod credentials;
mod plugins;
mod routes;
mod services;
mod targets;
mod upstreams;

pub use credentials::hash_basicauth_password;
pub use plugins::PLUGIN_NOT_ENABLED;
pub use targets::{DEFAULT_TARGET_PORT, normalize_target};
pub use upstreams::healthchecks_default;

/// Every entity kind's schema, in `EntityKind::ALL` order.
pub(crate) fn all(plugins: &[Arc<PluginDef>]) -> Vec<EntitySchema> {
    EntityKind::ALL
        .into_iter()
        .map(|kind| match kind {
            EntityKind::Service => EntitySchema::new(kind, services::schema()),
            EntityKind::Route => EntitySchema::new(kind, routes::schema()),
            EntityKind::Consumer => EntitySchema::new(kind, consumers::schema()),
            EntityKind::Plugin => EntitySchema::new(kind, plugins::schema(plugins)),
            EntityKind::Upstream => EntitySchema::new(kind, upstreams::schema()),
            EntityKind::Target => {
                EntitySchema::new(kind, targets::schema()).before(targets::before)
            }
            EntityKind::Certificate => EntitySchema::new(kind, certificates::certificates())
                .before(certificates::certificates_before)
                .after(certificates::certificates_after),
            EntityKind::Sni => EntitySchema::new(kind, certificates::snis()),
            EntityKind::CaCertificate => EntitySchema::new(kind, certificates::ca_certificates())
                .after(certificates::ca_certificates_after),
            EntityKind::KeyAuthCredential => EntitySchema::new(kind, credentials::keyauth()),
            EntityKind::BasicAuthCredential => EntitySchema::new(kind, credentials::basicauth())
                .after(credentials::basicauth_after),
            EntityKind::HmacAuthCredential => EntitySchema::new(kind, credentials::hmacauth()),
            EntityKind::AclGroup => EntitySchema::new(kind, credentials::acls()),
            EntityKind::JwtSecret => EntitySchema::new(kind, credentials::jwt()),
            EntityKind::MtlsAuthCredential => EntitySchema::new(kind, credentials::mtlsauth()),
        })
        .collect()
}
