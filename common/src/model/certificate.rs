use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Timestamp};

/// A certificate and its private key, PEM-encoded (Kong `certificates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: Uuid,
    pub cert: String,
    pub key: String,
    #[serde(default)]
    pub cert_alt: Option<String>,
    #[serde(default)]
    pub key_alt: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}

/// A server name mapped to a certificate (Kong `snis`). `name` may be a wildcard
/// (`*.example.com`, `example.*`) or `*` for the default certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sni {
    pub id: Uuid,
    pub name: String,
    pub certificate: ForeignRef,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}

/// A trusted CA certificate, PEM-encoded (Kong `ca_certificates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaCertificate {
    pub id: Uuid,
    pub cert: String,
    #[serde(default)]
    pub cert_digest: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Timestamp,
}
