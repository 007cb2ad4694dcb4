//! Consumer credentials indexed for the authentication plugins, built at most once per
//! configuration (on first use by a plugin factory) and shared by every instance.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use common::model::{
    AclGroup, BasicAuthCredential, HmacAuthCredential, JwtSecret, KeyAuthCredential,
};
use common::snapshot::ConfigSet;
use uuid::Uuid;

/// The credential a request authenticated with (Kong's `kong.client.get_credential()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Uuid,
    pub consumer_id: Option<Uuid>,
    /// What `X-Credential-Identifier` carries (the key id, the username, ...).
    pub identifier: Option<String>,
}

pub type Index<T> = Arc<HashMap<String, Arc<T>>>;

/// Lazily built indexes over one configuration's credentials.
pub struct CredentialIndexes<'a> {
    config: &'a ConfigSet,
    keyauth: OnceLock<Index<KeyAuthCredential>>,
    basicauth: OnceLock<Index<BasicAuthCredential>>,
    hmacauth: OnceLock<Index<HmacAuthCredential>>,
    jwt: OnceLock<Index<JwtSecret>>,
    acls: OnceLock<Arc<HashMap<Uuid, Vec<String>>>>,
}

fn index<T: Clone>(list: &[T], key: impl Fn(&T) -> &str) -> Index<T> {
    Arc::new(
        list.iter()
            .map(|c| (key(c).to_string(), Arc::new(c.clone())))
            .collect(),
    )
}

impl<'a> CredentialIndexes<'a> {
    pub fn new(config: &'a ConfigSet) -> CredentialIndexes<'a> {
        CredentialIndexes {
            config,
            keyauth: OnceLock::new(),
            basicauth: OnceLock::new(),
            hmacauth: OnceLock::new(),
            jwt: OnceLock::new(),
            acls: OnceLock::new(),
        }
    }

    /// key-auth credentials by key.
    pub fn keyauth(&self) -> Index<KeyAuthCredential> {
        self.keyauth
            .get_or_init(|| index(&self.config.keyauth_credentials, |c| &c.key))
            .clone()
    }

    /// basic-auth credentials by username.
    pub fn basicauth(&self) -> Index<BasicAuthCredential> {
        self.basicauth
            .get_or_init(|| index(&self.config.basicauth_credentials, |c| &c.username))
            .clone()
    }

    /// hmac-auth credentials by username.
    pub fn hmacauth(&self) -> Index<HmacAuthCredential> {
        self.hmacauth
            .get_or_init(|| index(&self.config.hmacauth_credentials, |c| &c.username))
            .clone()
    }

    /// jwt secrets by key (the `iss` claim by default).
    pub fn jwt(&self) -> Index<JwtSecret> {
        self.jwt
            .get_or_init(|| index(&self.config.jwt_secrets, |c| &c.key))
            .clone()
    }

    /// ACL groups by consumer id.
    pub fn acls(&self) -> Arc<HashMap<Uuid, Vec<String>>> {
        self.acls
            .get_or_init(|| {
                let mut map: HashMap<Uuid, Vec<String>> = HashMap::new();
                for AclGroup {
                    consumer, group, ..
                } in &self.config.acls
                {
                    map.entry(consumer.id).or_default().push(group.clone());
                }
                Arc::new(map)
            })
            .clone()
    }
}
