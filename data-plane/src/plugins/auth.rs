//! What the authentication plugins share: setting the consumer with Kong's upstream
//! headers, anonymous fallback, and the logical OR of several authentication plugins.

use std::sync::Arc;

use async_trait::async_trait;

use common::model::Consumer;

use super::credentials::Credential;
use super::{Exit, Flow, Kong};

pub const X_CONSUMER_ID: &str = "x-consumer-id";
pub const X_CONSUMER_CUSTOM_ID: &str = "x-consumer-custom-id";
pub const X_CONSUMER_USERNAME: &str = "x-consumer-username";
pub const X_CREDENTIAL_IDENTIFIER: &str = "x-credential-identifier";
pub const X_ANONYMOUS_CONSUMER: &str = "x-anonymous-consumer";

/// Kong's `set_consumer`: authenticates the request and tells the upstream who it is
/// (`X-Consumer-*`, `X-Credential-Identifier`, `X-Anonymous-Consumer` without a credential).
pub fn set_consumer(
    kong: &mut Kong<'_>,
    consumer: Option<Arc<Consumer>>,
    credential: Option<Credential>,
) {
    let mut req = kong.service_request();
    let set =
        |req: &mut super::pdk::request::ServiceRequest<'_, '_>, name: &str, value: Option<&str>| {
            let _ = match value {
                Some(v) => req.set_header(name, v),
                None => req.clear_header(name),
            };
        };
    let id = consumer.as_ref().map(|c| c.id.to_string());
    set(&mut req, X_CONSUMER_ID, id.as_deref());
    set(
        &mut req,
        X_CONSUMER_CUSTOM_ID,
        consumer.as_ref().and_then(|c| c.custom_id.as_deref()),
    );
    set(
        &mut req,
        X_CONSUMER_USERNAME,
        consumer.as_ref().and_then(|c| c.username.as_deref()),
    );
    set(
        &mut req,
        X_CREDENTIAL_IDENTIFIER,
        credential.as_ref().and_then(|c| c.identifier.as_deref()),
    );
    set(
        &mut req,
        X_ANONYMOUS_CONSUMER,
        if credential.is_some() {
            None
        } else {
            Some("true")
        },
    );
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
