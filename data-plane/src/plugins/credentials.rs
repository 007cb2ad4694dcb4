//! Consumer credentials indexed for the authentication plugins, built at most once per
//! configuration (on first use by a plugin factory) and shared by every instance.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use common::model::{
    AclGroup, BasicAuthCredential, Consumer, HmacAuthCredential, JwtSecret, KeyAuthCredential,
    MtlsAuthCredential,
};
use common::snapshot::ConfigSet;
use uuid::Uuid;

/// The credential a request authenticated with (Kong's `kong.client.get_credential()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Uuid,
    pub consumer_id: Option<Uuid>,
    /// What `X-Credential-Identifier` carries (the key id, the username, ...).
    pub identifier: Option<Arc<str>>,
}

pub type Index<T> = Arc<HashMap<String, Arc<T>>>;

/// A key-auth credential with what a successful lookup sets, computed once.
pub struct KeyEntry {
    pub credential: KeyAuthCredential,
    pub consumer: Option<Arc<Consumer>>,
    pub identity: Credential,
    pub headers: super::auth::ConsumerHeaders,
}

/// Lazily built indexes over one configuration's credentials.
pub struct CredentialIndexes<'a> {
    config: &'a ConfigSet,
    keyauth: OnceLock<Index<KeyEntry>>,
    basicauth: OnceLock<Index<BasicAuthCredential>>,
    hmacauth: OnceLock<Index<HmacAuthCredential>>,
    jwt: OnceLock<Index<JwtSecret>>,
    acls: OnceLock<Arc<HashMap<Uuid, Vec<String>>>>,
    consumer_keys: OnceLock<Arc<ConsumerKeys>>,
    mtls_auth: OnceLock<Arc<SubjectMappings>>,
}

/// Consumer ids by `username` and by `custom_id`, each on its own (for plugins that
/// match one field and not the other, as mtls-auth's `consumer_by`).
#[derive(Debug, Default)]
pub struct ConsumerKeys {
    pub by_username: HashMap<String, Uuid>,
    pub by_custom_id: HashMap<String, Uuid>,
}

/// mtls-auth's subject-name mappings (`mtls_auth_credentials`): the consumer a subject
/// name stands for, per CA certificate id (`None`: whichever CA verified the certificate).
#[derive(Debug, Default)]
pub struct SubjectMappings {
    by_name: HashMap<String, Vec<(Option<Uuid>, Uuid)>>,
}

impl SubjectMappings {
    fn new(credentials: &[MtlsAuthCredential]) -> SubjectMappings {
        let mut by_name: HashMap<String, Vec<(Option<Uuid>, Uuid)>> = HashMap::new();
        for c in credentials {
            by_name
                .entry(c.subject_name.clone())
                .or_default()
                .push((c.ca_certificate.map(|r| r.id), c.consumer.id));
        }
        SubjectMappings { by_name }
    }

    /// The consumer mapped to `name` for exactly `ca` (a `None` CA is a key of its own).
    pub fn consumer(&self, name: &str, ca: Option<Uuid>) -> Option<Uuid> {
        self.by_name
            .get(name)?
            .iter()
            .find(|(mapped_ca, _)| *mapped_ca == ca)
            .map(|(_, consumer)| *consumer)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
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
            consumer_keys: OnceLock::new(),
            mtls_auth: OnceLock::new(),
        }
    }

    /// key-auth credentials by key, with their consumer and upstream headers.
    pub fn keyauth(&self) -> Index<KeyEntry> {
        self.keyauth
            .get_or_init(|| {
                let consumers: HashMap<Uuid, Arc<Consumer>> = self
                    .config
                    .consumers
                    .iter()
                    .map(|c| (c.id, Arc::new(c.clone())))
                    .collect();
                let entries = self.config.keyauth_credentials.iter().map(|c| {
                    let consumer = consumers.get(&c.consumer.id).cloned();
                    let identity = Credential {
                        id: c.id,
                        consumer_id: Some(c.consumer.id),
                        identifier: Some(Arc::from(c.id.to_string().as_str())),
                    };
                    let headers =
                        super::auth::ConsumerHeaders::new(consumer.as_deref(), Some(&identity));
                    let entry = KeyEntry {
                        credential: c.clone(),
                        consumer,
                        identity,
                        headers,
                    };
                    (c.key.clone(), Arc::new(entry))
                });
                Arc::new(entries.collect())
            })
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

    /// Consumer ids by username and by custom id.
    pub fn consumer_keys(&self) -> Arc<ConsumerKeys> {
        self.consumer_keys
            .get_or_init(|| {
                let mut keys = ConsumerKeys::default();
                for c in &self.config.consumers {
                    if let Some(username) = &c.username {
                        keys.by_username.insert(username.clone(), c.id);
                    }
                    if let Some(custom_id) = &c.custom_id {
                        keys.by_custom_id.insert(custom_id.clone(), c.id);
                    }
                }
                Arc::new(keys)
            })
            .clone()
    }

    /// mtls-auth subject-name mappings.
    pub fn mtls_auth(&self) -> Arc<SubjectMappings> {
        self.mtls_auth
            .get_or_init(|| Arc::new(SubjectMappings::new(&self.config.mtls_auth_credentials)))
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
