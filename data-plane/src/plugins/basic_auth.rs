//! basic-auth (Kong's `kong/plugins/basic-auth/access.lua`, PRIORITY 1100): a username
//! and password from `Proxy-Authorization` or `Authorization: Basic ...`, checked against
//! Kong's salted SHA-1 of the credential's password.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use common::model::BasicAuthCredential;
use common::schema::entities::hash_basicauth_password;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use serde::Deserialize;

use super::auth::{self, Authenticate};
use super::credentials::{Credential, Index};
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    anonymous: Option<String>,
    hide_credentials: bool,
    realm: String,
}

pub struct BasicAuth {
    config: Config,
    www_authenticate: HeaderValue,
    users: Index<BasicAuthCredential>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let www_authenticate = HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm))
        .map_err(|_| format!("invalid realm {:?}", config.realm))?;
    Ok(Arc::new(BasicAuth {
        config,
        www_authenticate,
        users: cx.credentials.basicauth(),
    }))
}

/// `\s*[Bb]asic\s*(.+)` then base64 then `([^:]+):(.*)`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let rest = header.trim_start();
    let rest = rest
        .strip_prefix("Basic")
        .or_else(|| rest.strip_prefix("basic"))?
        .trim_start();
    if rest.is_empty() {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_end())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

impl BasicAuth {
    fn unauthorized(&self) -> Exit {
        Exit::error(401, "Unauthorized")
            .with_header(WWW_AUTHENTICATE, self.www_authenticate.clone())
    }
}

#[async_trait]
impl Authenticate for BasicAuth {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let authorization = kong.request().header("authorization").map(str::to_string);
        let proxy_authorization = kong
            .request()
            .header("proxy-authorization")
            .map(str::to_string);
        if authorization.is_none() && proxy_authorization.is_none() {
            return Err(self.unauthorized());
        }
        let lookup = |header: &Option<String>| {
            let (user, password) = parse_basic(header.as_deref()?)?;
            let credential = self.users.get(&user)?.clone();
            Some((credential, password))
        };
        let (found, header_name) = match lookup(&proxy_authorization) {
            Some(found) => (found, "proxy-authorization"),
            None => (
                lookup(&authorization).ok_or_else(|| self.unauthorized())?,
                "authorization",
            ),
        };
        let (credential, password) = found;
        let digest = hash_basicauth_password(&credential.consumer.id.to_string(), &password);
        if digest != credential.password {
            return Err(self.unauthorized());
        }
        if self.config.hide_credentials {
            let _ = kong.service_request().clear_header(header_name);
        }
        let consumer = kong.client().load_consumer(&credential.consumer.id);
        let identity = Credential {
            id: credential.id,
            consumer_id: Some(credential.consumer.id),
            identifier: Some(Arc::from(credential.username.as_str())),
        };
        auth::set_consumer(kong, consumer, Some(identity));
        Ok(())
    }
}

#[async_trait]
impl Plugin for BasicAuth {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        auth::authenticate(self, kong, self.config.anonymous.as_deref()).await
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers_parse_like_kong() {
        // "user:pa:ss"
        assert_eq!(
            parse_basic("Basic dXNlcjpwYTpzcw=="),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic("basic dXNlcjo="),
            Some(("user".into(), String::new()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        // ":password" has no username.
        assert_eq!(parse_basic("Basic OnB3"), None);
    }
}
