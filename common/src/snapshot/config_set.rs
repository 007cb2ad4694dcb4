//! [`ConfigSet`]: every entity of one configuration version, as typed model values.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{
    AclGroup, BasicAuthCredential, CaCertificate, Certificate, Consumer, EntityKind,
    HmacAuthCredential, JwtSecret, KeyAuthCredential, MtlsAuthCredential, Plugin, Route, Service,
    Sni, Target, Upstream,
};

/// The whole configuration at one version: what the control plane builds from its store and
/// what a data plane compiles its runtime from.
///
/// Field names are Kong's schema names ([`EntityKind::name`]). Unknown fields are ignored when
/// decoding, so a control plane of a newer minor version may add optional fields without
/// bumping the payload [`FORMAT`](super::FORMAT).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigSet {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub consumers: Vec<Consumer>,
    pub plugins: Vec<Plugin>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub ca_certificates: Vec<CaCertificate>,
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    pub basicauth_credentials: Vec<BasicAuthCredential>,
    pub hmacauth_credentials: Vec<HmacAuthCredential>,
    pub acls: Vec<AclGroup>,
    pub jwt_secrets: Vec<JwtSecret>,
    pub mtls_auth_credentials: Vec<MtlsAuthCredential>,
}

impl ConfigSet {
    /// Sorts every entity list by id: the canonical order the encoding and hash rely on.
    pub fn sort(&mut self) {
        self.services.sort_by_key(|e| e.id);
        self.routes.sort_by_key(|e| e.id);
        self.consumers.sort_by_key(|e| e.id);
        self.plugins.sort_by_key(|e| e.id);
        self.upstreams.sort_by_key(|e| e.id);
        self.targets.sort_by_key(|e| e.id);
        self.certificates.sort_by_key(|e| e.id);
        self.snis.sort_by_key(|e| e.id);
        self.ca_certificates.sort_by_key(|e| e.id);
        self.keyauth_credentials.sort_by_key(|e| e.id);
        self.basicauth_credentials.sort_by_key(|e| e.id);
        self.hmacauth_credentials.sort_by_key(|e| e.id);
        self.acls.sort_by_key(|e| e.id);
        self.jwt_secrets.sort_by_key(|e| e.id);
        self.mtls_auth_credentials.sort_by_key(|e| e.id);
    }

    /// The ids of every entity of `kind`, in list order.
    pub fn ids(&self, kind: EntityKind) -> Vec<Uuid> {
        fn ids<T>(list: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
            list.iter().map(id).collect()
        }
        match kind {
            EntityKind::Service => ids(&self.services, |e| e.id),
            EntityKind::Route => ids(&self.routes, |e| e.id),
            EntityKind::Consumer => ids(&self.consumers, |e| e.id),
            EntityKind::Plugin => ids(&self.plugins, |e| e.id),
            EntityKind::Upstream => ids(&self.upstreams, |e| e.id),
            EntityKind::Target => ids(&self.targets, |e| e.id),
            EntityKind::Certificate => ids(&self.certificates, |e| e.id),
            EntityKind::Sni => ids(&self.snis, |e| e.id),
            EntityKind::CaCertificate => ids(&self.ca_certificates, |e| e.id),
            EntityKind::KeyAuthCredential => ids(&self.keyauth_credentials, |e| e.id),
            EntityKind::BasicAuthCredential => ids(&self.basicauth_credentials, |e| e.id),
            EntityKind::HmacAuthCredential => ids(&self.hmacauth_credentials, |e| e.id),
            EntityKind::AclGroup => ids(&self.acls, |e| e.id),
            EntityKind::JwtSecret => ids(&self.jwt_secrets, |e| e.id),
            EntityKind::MtlsAuthCredential => ids(&self.mtls_auth_credentials, |e| e.id),
        }
    }

    /// Number of entities of `kind`.
    pub fn count(&self, kind: EntityKind) -> usize {
        match kind {
            EntityKind::Service => self.services.len(),
            EntityKind::Route => self.routes.len(),
            EntityKind::Consumer => self.consumers.len(),
            EntityKind::Plugin => self.plugins.len(),
            EntityKind::Upstream => self.upstreams.len(),
            EntityKind::Target => self.targets.len(),
            EntityKind::Certificate => self.certificates.len(),
            EntityKind::Sni => self.snis.len(),
            EntityKind::CaCertificate => self.ca_certificates.len(),
            EntityKind::KeyAuthCredential => self.keyauth_credentials.len(),
            EntityKind::BasicAuthCredential => self.basicauth_credentials.len(),
            EntityKind::HmacAuthCredential => self.hmacauth_credentials.len(),
            EntityKind::AclGroup => self.acls.len(),
            EntityKind::JwtSecret => self.jwt_secrets.len(),
            EntityKind::MtlsAuthCredential => self.mtls_auth_credentials.len(),
        }
    }

    /// Total number of entities.
    pub fn len(&self) -> usize {
        EntityKind::ALL.iter().map(|k| self.count(*k)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
