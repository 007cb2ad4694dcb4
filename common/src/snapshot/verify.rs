//! [`ConfigSet::verify`]: the structural checks a data plane runs before compiling a
//! configuration, so a bad snapshot is NACKed instead of half-applied.
//!
//! Field-level validation (types, ranges, plugin config schemas) is the control plane's
//! schema engine's job; this checks what only the whole set can show: every reference
//! resolves, ids are unique per kind, and the keys the data plane looks entities up by
//! (SNI names, upstream names, credential keys, ...) are unique.

use std::collections::{HashMap, HashSet};
use std::fmt;

use uuid::Uuid;

use crate::model::{EntityKind, ForeignRef};

use super::ConfigSet;

/// At most this many problems are listed; the rest are counted.
const MAX_LISTED: usize = 20;

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    DuplicateId {
        kind: EntityKind,
        id: Uuid,
    },
    DanglingReference {
        kind: EntityKind,
        id: Uuid,
        field: &'static str,
        references: EntityKind,
        missing: Uuid,
    },
    DuplicateKey {
        kind: EntityKind,
        field: &'static str,
        value: String,
        ids: [Uuid; 2],
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DuplicateId { kind, id } => {
                write!(f, "{} id {id} appears more than once", kind.name())
            }
            Problem::DanglingReference {
                kind,
                id,
                field,
                references,
                missing,
            } => write!(
                f,
                "{} {id}: {field} references {} {missing}, which does not exist",
                kind.name(),
                references.name()
            ),
            Problem::DuplicateKey {
                kind,
                field,
                value,
                ids,
            } => write!(
                f,
                "{} {} and {} have the same {field} {value:?}",
                kind.name(),
                ids[0],
                ids[1]
            ),
        }
    }
}

/// Every problem found in a configuration (it is never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct VerifyError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration: {n} problem{}: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.problems.iter().take(MAX_LISTED).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        if n > MAX_LISTED {
            write!(f, "; and {} more", n - MAX_LISTED)?;
        }
        Ok(())
    }
}

impl ConfigSet {
    /// Checks that ids are unique per kind, every reference resolves, and the lookup keys of
    /// the data plane are unique. Collects every problem rather than stopping at the first.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let mut v = Verifier::default();
        let ids: HashMap<EntityKind, HashSet<Uuid>> = EntityKind::ALL
            .into_iter()
            .map(|kind| (kind, v.unique_ids(kind, self.ids(kind))))
            .collect();
        v.ids = ids;

        use EntityKind as K;
        for s in &self.services {
            v.opt_ref(
                K::Service,
                s.id,
                "client_certificate",
                K::Certificate,
                s.client_certificate,
            );
            for ca in s.ca_certificates.iter().flatten() {
                v.reference(K::Service, s.id, "ca_certificates", K::CaCertificate, *ca);
            }
        }
        for r in &self.routes {
            v.opt_ref(K::Route, r.id, "service", K::Service, r.service);
        }
        for p in &self.plugins {
            v.opt_ref(K::Plugin, p.id, "route", K::Route, p.route);
            v.opt_ref(K::Plugin, p.id, "service", K::Service, p.service);
            v.opt_ref(K::Plugin, p.id, "consumer", K::Consumer, p.consumer);
        }
        for u in &self.upstreams {
            v.opt_ref(
                K::Upstream,
                u.id,
                "client_certificate",
                K::Certificate,
                u.client_certificate,
            );
        }
        for t in &self.targets {
            v.reference(K::Target, t.id, "upstream", K::Upstream, t.upstream.id);
        }
        for s in &self.snis {
            v.reference(
                K::Sni,
                s.id,
                "certificate",
                K::Certificate,
                s.certificate.id,
            );
        }
        let consumer_refs = self
            .keyauth_credentials
            .iter()
            .map(|c| (K::KeyAuthCredential, c.id, c.consumer))
            .chain(
                self.basicauth_credentials
                    .iter()
                    .map(|c| (K::BasicAuthCredential, c.id, c.consumer)),
            )
            .chain(
                self.hmacauth_credentials
                    .iter()
                    .map(|c| (K::HmacAuthCredential, c.id, c.consumer)),
            )
            .chain(self.acls.iter().map(|c| (K::AclGroup, c.id, c.consumer)))
            .chain(
                self.jwt_secrets
                    .iter()
                    .map(|c| (K::JwtSecret, c.id, c.consumer)),
            )
            .chain(
                self.mtls_auth_credentials
                    .iter()
                    .map(|c| (K::MtlsAuthCredential, c.id, c.consumer)),
            );
        for (kind, id, consumer) in consumer_refs {
            v.reference(kind, id, "consumer", K::Consumer, consumer.id);
        }
        for c in &self.mtls_auth_credentials {
            v.opt_ref(
                K::MtlsAuthCredential,
                c.id,
                "ca_certificate",
                K::CaCertificate,
                c.ca_certificate,
            );
        }

        v.unique_key(
            K::Upstream,
            "name",
            self.upstreams.iter().map(|u| (u.id, Some(u.name.clone()))),
        );
        v.unique_key(
            K::Sni,
            "name",
            self.snis.iter().map(|s| (s.id, Some(s.name.clone()))),
        );
        v.unique_key(
            K::Service,
            "name",
            self.services.iter().map(|s| (s.id, s.name.clone())),
        );
        v.unique_key(
            K::Route,
            "name",
            self.routes.iter().map(|r| (r.id, r.name.clone())),
        );
        v.unique_key(
            K::Consumer,
            "username",
            self.consumers.iter().map(|c| (c.id, c.username.clone())),
        );
        v.unique_key(
            K::Consumer,
            "custom_id",
            self.consumers.iter().map(|c| (c.id, c.custom_id.clone())),
        );
        v.unique_key(
            K::KeyAuthCredential,
            "key",
            self.keyauth_credentials
                .iter()
                .map(|c| (c.id, Some(c.key.clone()))),
        );
        v.unique_key(
            K::BasicAuthCredential,
            "username",
            self.basicauth_credentials
                .iter()
                .map(|c| (c.id, Some(c.username.clone()))),
        );
        v.unique_key(
            K::HmacAuthCredential,
            "username",
            self.hmacauth_credentials
                .iter()
                .map(|c| (c.id, Some(c.username.clone()))),
        );
        v.unique_key(
            K::JwtSecret,
            "key",
            self.jwt_secrets.iter().map(|c| (c.id, Some(c.key.clone()))),
        );
        // One mapping per subject name and CA; an absent CA counts as a value (Kong's
        // cache_key), and the data plane looks mappings up by exactly this pair.
        v.unique_key(
            K::MtlsAuthCredential,
            "(subject_name, ca_certificate)",
            self.mtls_auth_credentials.iter().map(|c| {
                let ca = c
                    .ca_certificate
                    .map(|r| r.id.to_string())
                    .unwrap_or_default();
                (c.id, Some(format!("{}|{ca}", c.subject_name)))
            }),
        );
        v.unique_key(
            K::Plugin,
            "instance_name",
            self.plugins.iter().map(|p| (p.id, p.instance_name.clone())),
        );
        // Kong allows one plugin of a name per scope; an absent scope counts as a value.
        v.unique_key(
            K::Plugin,
            "(name, route, service, consumer)",
            self.plugins.iter().map(|p| {
                let scope = |r: Option<ForeignRef>| r.map(|r| r.id.to_string()).unwrap_or_default();
                let key = format!(
                    "{}|{}|{}|{}",
                    p.name,
                    scope(p.route),
                    scope(p.service),
                    scope(p.consumer)
                );
                (p.id, Some(key))
            }),
        );

        if v.problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError {
                problems: v.problems,
            })
        }
    }
}

#[derive(Default)]
struct Verifier {
    ids: HashMap<EntityKind, HashSet<Uuid>>,
    problems: Vec<Problem>,
}

impl Verifier {
    fn unique_ids(&mut self, kind: EntityKind, ids: Vec<Uuid>) -> HashSet<Uuid> {
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id) {
                self.problems.push(Problem::DuplicateId { kind, id });
            }
        }
        seen
    }

    fn reference(
        &mut self,
        kind: EntityKind,
        id: Uuid,
        field: &'static str,
        references: EntityKind,
        target: Uuid,
    ) {
        let exists = self
            .ids
            .get(&references)
            .is_some_and(|ids| ids.contains(&target));
        if !exists {
            self.problems.push(Problem::DanglingReference {
                kind,
                id,
                field,
                references,
                missing: target,
            });
        }
    }

    fn opt_ref(
        &mut self,
        kind: EntityKind,
        id: Uuid,
        field: &'static str,
        references: EntityKind,
        target: Option<ForeignRef>,
    ) {
        if let Some(target) = target {
            self.reference(kind, id, field, references, target.id);
        }
    }

    fn unique_key(
        &mut self,
        kind: EntityKind,
        field: &'static str,
        values: impl Iterator<Item = (Uuid, Option<String>)>,
    ) {
        let mut seen: HashMap<String, Uuid> = HashMap::new();
        for (id, value) in values {
            let Some(value) = value else { continue };
            if let Some(first) = seen.get(&value) {
                self.problems.push(Problem::DuplicateKey {
                    kind,
                    field,
                    ids: [*first, id],
                    value,
                });
            } else {
                seen.insert(value, id);
            }
        }
    }
}
