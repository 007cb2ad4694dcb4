//! Static metadata about each entity kind: names, keys, uniqueness and references.
//!
//! The store derives its tables' constraints from this, the Admin API its routes and
//! endpoint-key lookups, and the declarative loader its nesting rules. Keep it the single
//! place where "what references what" is written down.

/// Every entity kind Portico stores, named as Kong's schemas are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Service,
    Route,
    Consumer,
    Plugin,
    Upstream,
    Target,
    Certificate,
    Sni,
    CaCertificate,
    KeyAuthCredential,
    BasicAuthCredential,
    HmacAuthCredential,
    AclGroup,
    JwtSecret,
    MtlsAuthCredential,
}

/// What happens to a referencing entity when the referenced one is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The referencing entities are deleted too.
    Cascade,
    /// The delete is refused with a foreign key violation while references exist.
    Restrict,
}

/// A field holding an array of ids of `references` (Kong: `services.ca_certificates`).
/// Deleting a referenced entity is refused while any array still names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdArrayReference {
    pub field: &'static str,
    pub references: EntityKind,
}

/// A foreign-key field of an entity: `field` holds `{"id": ...}` of `references`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignKey {
    pub field: &'static str,
    pub references: EntityKind,
    pub required: bool,
    pub on_delete: OnDelete,
}

const fn fk(
    field: &'static str,
    references: EntityKind,
    required: bool,
    on_delete: OnDelete,
) -> ForeignKey {
    ForeignKey {
        field,
        references,
        required,
        on_delete,
    }
}

use EntityKind as K;
use OnDelete::{Cascade, Restrict};

const ROUTE_REFS: &[ForeignKey] = &[fk("service", K::Service, false, Restrict)];
const PLUGIN_REFS: &[ForeignKey] = &[
    fk("route", K::Route, false, Cascade),
    fk("service", K::Service, false, Cascade),
    fk("consumer", K::Consumer, false, Cascade),
];
const TARGET_REFS: &[ForeignKey] = &[fk("upstream", K::Upstream, true, Cascade)];
const SNI_REFS: &[ForeignKey] = &[fk("certificate", K::Certificate, true, Cascade)];
const CLIENT_CERTIFICATE_REFS: &[ForeignKey] =
    &[fk("client_certificate", K::Certificate, false, Restrict)];
const CREDENTIAL_REFS: &[ForeignKey] = &[fk("consumer", K::Consumer, true, Cascade)];
// Kong's mtls-auth DAO: deleting the CA deletes the mappings restricted to it.
const MTLS_CREDENTIAL_REFS: &[ForeignKey] = &[
    fk("consumer", K::Consumer, true, Cascade),
    fk("ca_certificate", K::CaCertificate, false, Cascade),
];

impl EntityKind {
    /// All kinds, ordered so that every kind comes after the kinds it references
    /// (the order in which a snapshot or a declarative import inserts them).
    pub const ALL: [EntityKind; 15] = [
        EntityKind::Certificate,
        EntityKind::CaCertificate,
        EntityKind::Sni,
        EntityKind::Service,
        EntityKind::Route,
        EntityKind::Consumer,
        EntityKind::Upstream,
        EntityKind::Target,
        EntityKind::Plugin,
        EntityKind::KeyAuthCredential,
        EntityKind::BasicAuthCredential,
        EntityKind::HmacAuthCredential,
        EntityKind::AclGroup,
        EntityKind::JwtSecret,
        EntityKind::MtlsAuthCredential,
    ];

    /// Kong's schema name, also the table name and the key in declarative files.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Service => "services",
            EntityKind::Route => "routes",
            EntityKind::Consumer => "consumers",
            EntityKind::Plugin => "plugins",
            EntityKind::Upstream => "upstreams",
            EntityKind::Target => "targets",
            EntityKind::Certificate => "certificates",
            EntityKind::Sni => "snis",
            EntityKind::CaCertificate => "ca_certificates",
            EntityKind::KeyAuthCredential => "keyauth_credentials",
            EntityKind::BasicAuthCredential => "basicauth_credentials",
            EntityKind::HmacAuthCredential => "hmacauth_credentials",
            EntityKind::AclGroup => "acls",
            EntityKind::JwtSecret => "jwt_secrets",
            EntityKind::MtlsAuthCredential => "mtls_auth_credentials",
        }
    }

    pub fn from_name(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The top-level Admin API collection path segment (`/key-auths`, `/services`, ...).
    pub fn admin_collection(self) -> &'static str {
        match self {
            EntityKind::KeyAuthCredential => "key-auths",
            EntityKind::BasicAuthCredential => "basic-auths",
            EntityKind::HmacAuthCredential => "hmac-auths",
            EntityKind::AclGroup => "acls",
            EntityKind::JwtSecret => "jwts",
            EntityKind::MtlsAuthCredential => "mtls-auths",
            other => other.name(),
        }
    }

    /// The segment under `/consumers/{c}/` for consumer credentials (`key-auth`, `acls`, ...).
    pub fn consumer_nested_segment(self) -> Option<&'static str> {
        match self {
            EntityKind::KeyAuthCredential => Some("key-auth"),
            EntityKind::BasicAuthCredential => Some("basic-auth"),
            EntityKind::HmacAuthCredential => Some("hmac-auth"),
            EntityKind::AclGroup => Some("acls"),
            EntityKind::JwtSecret => Some("jwt"),
            EntityKind::MtlsAuthCredential => Some("mtls-auth"),
            _ => None,
        }
    }

    /// The field an Admin API path segment names when it is not a UUID
    /// (`/services/my-svc` looks up `name`).
    pub fn endpoint_key(self) -> Option<&'static str> {
        match self {
            EntityKind::Service | EntityKind::Route | EntityKind::Upstream | EntityKind::Sni => {
                Some("name")
            }
            EntityKind::Consumer => Some("username"),
            EntityKind::Plugin => Some("instance_name"),
            EntityKind::Target => Some("target"),
            EntityKind::KeyAuthCredential | EntityKind::JwtSecret => Some("key"),
            EntityKind::BasicAuthCredential | EntityKind::HmacAuthCredential => Some("username"),
            EntityKind::AclGroup => Some("group"),
            // Certificates are looked up by one of their SNI names (a special case).
            EntityKind::Certificate | EntityKind::CaCertificate => None,
            // Kong's mtls_auth_credentials have no endpoint key: ids only.
            EntityKind::MtlsAuthCredential => None,
        }
    }

    /// Sets of fields whose combined values are unique across all entities of the kind.
    /// A single-field entry is a plain unique field. `null` values never collide, except in
    /// the plugin combination, where Kong treats an absent scope as a value of its own.
    pub fn unique_fields(self) -> &'static [&'static [&'static str]] {
        match self {
            EntityKind::Service | EntityKind::Route | EntityKind::Upstream | EntityKind::Sni => {
                &[&["name"]]
            }
            EntityKind::Consumer => &[&["username"], &["custom_id"]],
            EntityKind::Plugin => &[
                &["instance_name"],
                &["name", "route", "service", "consumer"],
            ],
            EntityKind::Target => &[&["upstream", "target"]],
            EntityKind::Certificate => &[],
            EntityKind::CaCertificate => &[&["cert_digest"]],
            EntityKind::KeyAuthCredential | EntityKind::JwtSecret => &[&["key"]],
            EntityKind::BasicAuthCredential | EntityKind::HmacAuthCredential => &[&["username"]],
            EntityKind::AclGroup => &[&["consumer", "group"]],
            // Kong's `cache_key = { "subject_name", "ca_certificate" }`, unique: one mapping
            // per name and CA (or per name without a CA), whatever the consumer.
            EntityKind::MtlsAuthCredential => &[&["subject_name", "ca_certificate"]],
        }
    }

    /// The foreign-key fields of this kind.
    pub fn foreign_keys(self) -> &'static [ForeignKey] {
        match self {
            EntityKind::Route => ROUTE_REFS,
            EntityKind::Plugin => PLUGIN_REFS,
            EntityKind::Target => TARGET_REFS,
            EntityKind::Sni => SNI_REFS,
            EntityKind::Service | EntityKind::Upstream => CLIENT_CERTIFICATE_REFS,
            EntityKind::KeyAuthCredential
            | EntityKind::BasicAuthCredential
            | EntityKind::HmacAuthCredential
            | EntityKind::AclGroup
            | EntityKind::JwtSecret => CREDENTIAL_REFS,
            EntityKind::MtlsAuthCredential => MTLS_CREDENTIAL_REFS,
            EntityKind::Consumer | EntityKind::Certificate | EntityKind::CaCertificate => &[],
        }
    }

    /// Fields that hold arrays of ids of other entities (always restricting their delete).
    pub fn id_array_references(self) -> &'static [IdArrayReference] {
        match self {
            EntityKind::Service => &[IdArrayReference {
                field: "ca_certificates",
                references: EntityKind::CaCertificate,
            }],
            _ => &[],
        }
    }

    /// Whether the kind is a consumer credential of a bundled auth plugin.
    pub fn is_credential(self) -> bool {
        self.consumer_nested_segment().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_points_backwards_in_insert_order() {
        let position = |k: EntityKind| EntityKind::ALL.iter().position(|x| *x == k);
        for kind in EntityKind::ALL {
            for key in kind.foreign_keys() {
                assert!(
                    position(key.references) < position(kind),
                    "{} references {} which is inserted later",
                    kind.name(),
                    key.references.name()
                );
            }
            for array in kind.id_array_references() {
                assert!(position(array.references) < position(kind));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::from_name(kind.name()), Some(kind));
        }
    }
}
