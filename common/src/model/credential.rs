//! Consumer credentials of the bundled authentication plugins.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignRef, Timestamp};

/// key-auth (Kong `keyauth_credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAuthCredential {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub key: String,
    /// Kong's `ttl`: the credential expires this many seconds after `created_at` (the
    /// Admin API shows the seconds remaining, and deletes it once expired).
    #[serde(default)]
    pub ttl: Option<i64>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}

/// basic-auth (Kong `basicauth_credentials`). `password` holds Kong's hash of the password:
/// hex SHA-1 of the password followed by the consumer id, so a plain password never leaves
/// the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicAuthCredential {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}

/// hmac-auth (Kong `hmacauth_credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmacAuthCredential {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub username: String,
    pub secret: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}

/// acl group membership (Kong `acls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclGroup {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub group: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}

/// jwt (Kong `jwt_secrets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtSecret {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub key: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub rsa_public_key: Option<String>,
    #[serde(deserialize_with = "super::nullable::or_hs256")]
    pub algorithm: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}

/// mtls-auth subject-name mapping (Kong Enterprise's `mtls_auth_credentials`): a client
/// certificate naming `subject_name` (a SAN, or the CN) authenticates as `consumer`; with
/// `ca_certificate` set, only when the chain was verified against that CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MtlsAuthCredential {
    pub id: Uuid,
    pub consumer: ForeignRef,
    pub subject_name: String,
    #[serde(default)]
    pub ca_certificate: Option<ForeignRef>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Timestamp,
}
