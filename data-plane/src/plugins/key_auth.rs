//! key-auth (Kong's `kong/plugins/key-auth/handler.lua`, PRIORITY 1250): a key in a
//! header, query argument or body field identifies a consumer's credential.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use common::model::KeyAuthCredential;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use serde::Deserialize;

use super::auth::{self, Authenticate};
use super::credentials::{Index, KeyEntry};
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    key_names: Vec<String>,
    hide_credentials: bool,
    anonymous: Option<String>,
    key_in_header: bool,
    key_in_query: bool,
    key_in_body: bool,
    run_on_preflight: bool,
    realm: Option<String>,
}

pub struct KeyAuth {
    config: Config,
    www_authenticate: HeaderValue,
    keys: Index<KeyEntry>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let challenge = match &config.realm {
        Some(realm) => format!("Key realm=\"{realm}\""),
        None => "Key".to_string(),
    };
    let www_authenticate = HeaderValue::from_str(&challenge)
        .map_err(|_| format!("invalid realm {:?}", config.realm))?;
    Ok(Arc::new(KeyAuth {
        config,
        www_authenticate,
        keys: cx.credentials.keyauth(),
    }))
}

/// A key as found in the request: a header's value is kept as it came (no copy).
enum FoundKey {
    Header(HeaderValue),
    Text(String),
}

impl FoundKey {
    fn as_str(&self) -> Cow<'_, str> {
        match self {
            FoundKey::Header(v) => String::from_utf8_lossy(v.as_bytes()),
            FoundKey::Text(t) => Cow::Borrowed(t),
        }
    }
}

/// Whether a credential with Kong's `ttl` has expired.
fn expired(credential: &KeyAuthCredential) -> bool {
    let Some(ttl) = credential.ttl else {
        return false;
    };
    credential.created_at + ttl <= super::clock::now_secs()
}

impl KeyAuth {
    fn unauthorized(&self, message: &str) -> Exit {
        Exit::error(401, message).with_header(WWW_AUTHENTICATE, self.www_authenticate.clone())
    }

    /// The key and the name it was found under; `Err` for a duplicated key.
    async fn find_key<'s>(
        &'s self,
        kong: &mut Kong<'_>,
    ) -> Result<Option<(FoundKey, &'s str)>, Exit> {
        let mut body: Option<serde_json::Map<String, serde_json::Value>> = None;
        for name in &self.config.key_names {
            let mut values: Vec<String> = Vec::new();
            if self.config.key_in_header
                && let Some(headers) = kong.request().headers()
            {
                let mut found = headers.get_all(name.as_str()).iter();
                match (found.next(), found.next()) {
                    (Some(_), Some(_)) => return Err(self.unauthorized("Duplicate API key found")),
                    (Some(v), None) => return Ok(Some((FoundKey::Header(v.clone()), name))),
                    _ => {}
                }
            }
            if values.is_empty() && self.config.key_in_query {
                values = kong
                    .request()
                    .query()
                    .into_iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v)
                    .collect();
            }
            if values.is_empty() && self.config.key_in_body {
                if body.is_none() {
                    body = Some(kong.request().body_args().await.unwrap_or_default());
                }
                match body.as_ref().and_then(|b| b.get(name)) {
                    Some(serde_json::Value::String(s)) => values.push(s.clone()),
                    Some(serde_json::Value::Array(list)) if list.len() > 1 => {
                        return Err(self.unauthorized("Duplicate API key found"));
                    }
                    _ => {}
                }
            }
            match values.len() {
                0 => continue,
                1 => return Ok(values.pop().map(|v| (FoundKey::Text(v), name.as_str()))),
                _ => return Err(self.unauthorized("Duplicate API key found")),
            }
        }
        Ok(None)
    }

    async fn hide(&self, kong: &mut Kong<'_>, name: &str) {
        let mut req = kong.service_request();
        let _ = req.clear_header(name);
        let _ = req.clear_query_arg(name);
        if self.config.key_in_body
            && let Ok(mut body) = kong.request().body_args().await
            && body.remove(name).is_some()
        {
            let _ = kong.service_request().set_body(&body);
        }
    }
}

#[async_trait]
impl Authenticate for KeyAuth {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let found = self.find_key(kong).await?;
        let Some((key, name)) = found.filter(|(k, _)| !k.as_str().is_empty()) else {
            return Err(self.unauthorized("No API key found in request"));
        };
        if self.config.hide_credentials {
            self.hide(kong, name).await;
        }
        let entry = self
            .keys
            .get(key.as_str().as_ref())
            .filter(|e| !expired(&e.credential))
            .ok_or_else(|| self.unauthorized("Unauthorized"))?;
        if entry.consumer.is_none() {
            return Err(Exit::error(500, "An unexpected error occurred"));
        }
        auth::set_consumer_with(
            kong,
            entry.consumer.clone(),
            Some(entry.identity.clone()),
            &entry.headers,
        );
        Ok(())
    }
}

#[async_trait]
impl Plugin for KeyAuth {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        if auth::skips_preflight(kong, self.config.run_on_preflight) {
            return Flow::Continue;
        }
        auth::authenticate(self, kong, self.config.anonymous.as_deref()).await
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
