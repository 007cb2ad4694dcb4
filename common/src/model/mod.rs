//! Typed domain model: Kong 3.x entities as the data plane consumes them.
//!
//! The control plane stores and validates entities as JSON objects through the schema engine
//! (`crate::schema`), which fills in Kong's defaults. Once validated, an entity deserialises
//! into the types here; the data plane compiles its runtime from these types only.

mod certificate;
mod consumer;
mod credential;
mod kind;
mod nullable;
mod plugin;
mod route;
mod service;
mod upstream;

pub use certificate::{CaCertificate, Certificate, Sni};
pub use consumer::Consumer;
pub use credential::{
    AclGroup, BasicAuthCredential, HmacAuthCredential, JwtSecret, KeyAuthCredential,
    MtlsAuthCredential,
};
pub use kind::{EntityKind, ForeignKey, IdArrayReference, OnDelete};
pub use plugin::Plugin;
pub use route::{CidrPort, PathHandling, Route};
pub use service::Service;
pub use upstream::{
    ActiveHealthcheck, ActiveHealthy, ActiveUnhealthy, Algorithm, HashOn, Healthchecks,
    PassiveHealthcheck, PassiveHealthy, PassiveUnhealthy, Target, Upstream,
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A reference to another entity, as Kong renders it: `{"id": "<uuid>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForeignRef {
    pub id: Uuid,
}

/// Entity timestamps are seconds since the Unix epoch, as in Kong.
pub type Timestamp = i64;

/// Protocols a service or route may speak, spelled as Kong spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Grpc,
    Grpcs,
    Http,
    Https,
    Tcp,
    Tls,
    TlsPassthrough,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 8] = [
        Protocol::Grpc,
        Protocol::Grpcs,
        Protocol::Http,
        Protocol::Https,
        Protocol::Tcp,
        Protocol::Tls,
        Protocol::TlsPassthrough,
        Protocol::Udp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::TlsPassthrough => "tls_passthrough",
            Protocol::Udp => "udp",
        }
    }

    /// Whether the protocol is carried over TLS between the client (or Kong) and its peer.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Protocol::Https | Protocol::Grpcs | Protocol::Tls | Protocol::TlsPassthrough
        )
    }

    /// Whether the protocol is HTTP-based (served by the HTTP proxy, not the stream proxy).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http | Protocol::Https | Protocol::Grpc | Protocol::Grpcs
        )
    }
}
