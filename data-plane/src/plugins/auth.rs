//! What the authentication plugins share: setting the consumer with Kong's upstream
//! headers, anonymous fallback, and the logical OR of several authentication plugins.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};

use common::model::Consumer;

use super::credentials::Credential;
use super::{Exit, Flow, Kong};

// Constants: `HeaderName::from_static` outside a const context looks the name up at run
// time, on every request.
const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
const X_CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
const X_CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
const X_CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
const X_ANONYMOUS_CONSUMER: HeaderName = HeaderName::from_static("x-anonymous-consumer");

/// The upstream headers naming a consumer and its credential, computed once (per
/// credential per configuration for the key lookups of key-auth).
#[derive(Debug, Clone, Default)]
pub struct ConsumerHeaders {
    id: Option<HeaderValue>,
    custom_id: Option<HeaderValue>,
    username: Option<HeaderValue>,
    credential: Option<HeaderValue>,
    anonymous: bool,
}

impl ConsumerHeaders {
    pub fn new(consumer: Option<&Consumer>, credential: Option<&Credential>) -> ConsumerHeaders {
        let value = |v: Option<&str>| v.and_then(|v| HeaderValue::from_str(v).ok());
        ConsumerHeaders {
            id: consumer.and_then(|c| HeaderValue::from_str(&c.id.to_string()).ok()),
            custom_id: value(consumer.and_then(|c| c.custom_id.as_deref())),
            username: value(consumer.and_then(|c| c.username.as_deref())),
            credential: value(credential.and_then(|c| c.identifier.as_deref())),
            anonymous: credential.is_none(),
        }
    }
}

/// Kong's `set_consumer`: authenticates the request and tells the upstream who it is
/// (`X-Consumer-*`, `X-Credential-Identifier`, `X-Anonymous-Consumer` without a credential).
pub fn set_consumer(
    kong: &mut Kong<'_>,
    consumer: Option<Arc<Consumer>>,
    credential: Option<Credential>,
) {
    let headers = ConsumerHeaders::new(consumer.as_deref(), credential.as_ref());
    set_consumer_with(kong, consumer, credential, &headers);
}

/// Authenticates as consumer `consumer_id` through the credential `id`, reported upstream as
/// `identifier`: the common end of basic-auth, hmac-auth and jwt.
pub fn set_credential(
    kong: &mut Kong<'_>,
    id: uuid::Uuid,
    consumer_id: uuid::Uuid,
    identifier: &str,
) {
    let consumer = kong.client().load_consumer(&consumer_id);
    let credential = Credential {
        id,
        consumer_id: Some(consumer_id),
        identifier: Some(Arc::from(identifier)),
    };
    set_consumer(kong, consumer, Some(credential));
}

/// Whether an authentication plugin lets a CORS preflight (`OPTIONS`) through unchecked
/// (Kong's `run_on_preflight = false`).
pub fn skips_preflight(kong: &mut Kong<'_>, run_on_preflight: bool) -> bool {
    !run_on_preflight
        && kong
            .request()
            .method()
            .is_some_and(|m| m == http::Method::OPTIONS)
}

/// [`set_consumer`] with the headers computed beforehand.
pub fn set_consumer_with(
    kong: &mut Kong<'_>,
    consumer: Option<Arc<Consumer>>,
    credential: Option<Credential>,
    values: &ConsumerHeaders,
) {
    if let Ok(headers) = kong.service_request().headers_mut() {
        // Removing a header hashes its name; most requests carry none of these, which
        // one pass over the (few) request header names tells.
        let client_sent = headers.keys().any(|name| {
            let name = name.as_str();
            name.starts_with("x-consumer-")
                || name.starts_with("x-credential-")
                || name.starts_with("x-anonymous-")
        });
        let mut set = |name: HeaderName, value: &Option<HeaderValue>| match value {
            Some(v) => {
                headers.insert(name, v.clone());
            }
            None if client_sent => {
                headers.remove(name);
            }
            None => {}
        };
        set(X_CONSUMER_ID, &values.id);
        set(X_CONSUMER_CUSTOM_ID, &values.custom_id);
        set(X_CONSUMER_USERNAME, &values.username);
        set(X_CREDENTIAL_IDENTIFIER, &values.credential);
        let anonymous = values.anonymous.then(|| HeaderValue::from_static("true"));
        set(X_ANONYMOUS_CONSUMER, &anonymous);
    }
    let _ = kong.client().authenticate(consumer, credential);
}

/// The configured anonymous consumer (by id, else by username), or Kong's 500 when it
/// does not exist.
pub fn set_anonymous(kong: &mut Kong<'_>, anonymous: &str) -> Flow {
    let by_id = anonymous
        .parse::<uuid::Uuid>()
        .ok()
        .and_then(|id| kong.client().load_consumer(&id));
    let consumer = by_id.or_else(|| kong.client().load_consumer_by_name(anonymous));
    match consumer {
        Some(c) => {
            set_consumer(kong, Some(c), None);
            Flow::Continue
        }
        None => Flow::Exit(Exit::error(
            500,
            format!("anonymous consumer {anonymous} is configured but doesn't exist"),
        )),
    }
}

/// One authentication attempt of a plugin: `Ok` after [`set_consumer`], or the error
/// response Kong's plugin gives (401 with its message and `WWW-Authenticate`, ...).
#[async_trait]
pub trait Authenticate: Send + Sync {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit>;
}

/// Runs an authentication plugin the way Kong's auth plugins do: with `anonymous` set,
/// a request already authenticated by another plugin is left alone and a failure falls
/// back to the anonymous consumer (logical OR of several auth plugins); without it, a
/// failure is the plugin's error response.
pub async fn authenticate(
    plugin: &dyn Authenticate,
    kong: &mut Kong<'_>,
    anonymous: Option<&str>,
) -> Flow {
    match anonymous {
        Some(anonymous) => {
            if kong.client().credential().is_some() {
                return Flow::Continue;
            }
            match plugin.attempt(kong).await {
                Ok(()) => Flow::Continue,
                Err(_) => set_anonymous(kong, anonymous),
            }
        }
        None => match plugin.attempt(kong).await {
            Ok(()) => Flow::Continue,
            Err(exit) => Flow::Exit(exit),
        },
    }
}
