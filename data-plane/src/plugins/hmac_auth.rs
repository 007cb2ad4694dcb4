//! hmac-auth (Kong's `kong/plugins/hmac-auth/access.lua`, PRIORITY 1030): the request is
//! signed with a credential's secret over chosen headers (`Authorization: hmac
//! username="..", algorithm="..", headers="..", signature=".."`), within the allowed
//! clock skew of its `Date`/`X-Date`, optionally with a `Digest` of the body.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use base64::Engine as _;
use common::model::HmacAuthCredential;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use regex::Regex;
use serde::Deserialize;
use sha2::Digest;

use super::auth::{self, Authenticate};
use super::credentials::{Credential, Index};
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    hide_credentials: bool,
    clock_skew: f64,
    anonymous: Option<String>,
    validate_request_body: bool,
    enforce_headers: Vec<String>,
    algorithms: Vec<String>,
    realm: Option<String>,
}

pub struct HmacAuth {
    config: Config,
    www_authenticate: HeaderValue,
    users: Index<HmacAuthCredential>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let challenge = match &config.realm {
        Some(realm) => format!("hmac realm=\"{realm}\""),
        None => "hmac".to_string(),
    };
    let www_authenticate = HeaderValue::from_str(&challenge)
        .map_err(|_| format!("invalid realm {:?}", config.realm))?;
    Ok(Arc::new(HmacAuth {
        config,
        www_authenticate,
        users: cx.credentials.hmacauth(),
    }))
}

const NOT_VALID: &str = "HMAC signature cannot be verified";
const NOT_SAME: &str = "HMAC signature does not match";

/// The fields of an hmac `Authorization` header.
#[derive(Debug, PartialEq)]
struct Params {
    username: String,
    algorithm: String,
    headers: Vec<String>,
    signature: String,
}

fn parse_params(header: Option<&str>) -> Option<Params> {
    static PATTERN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)""#,
        )
        .ok()
    });
    let caps = PATTERN.as_ref()?.captures(header?)?;
    Some(Params {
        username: caps.get(1)?.as_str().to_string(),
        algorithm: caps.get(2)?.as_str().to_string(),
        headers: caps
            .get(3)?
            .as_str()
            .split(' ')
            .map(str::to_string)
            .collect(),
        signature: caps.get(4)?.as_str().to_string(),
    })
}

fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
    m.update(data);
    Some(m.finalize().into_bytes().to_vec())
}

fn sign(algorithm: &str, secret: &str, data: &str) -> Option<Vec<u8>> {
    let (s, d) = (secret.as_bytes(), data.as_bytes());
    match algorithm {
        "hmac-sha1" => mac::<Hmac<sha1::Sha1>>(s, d),
        "hmac-sha256" => mac::<Hmac<sha2::Sha256>>(s, d),
        "hmac-sha384" => mac::<Hmac<sha2::Sha384>>(s, d),
        "hmac-sha512" => mac::<Hmac<sha2::Sha512>>(s, d),
        _ => None,
    }
}

impl HmacAuth {
    fn unauthorized(&self, message: &str) -> Exit {
        Exit::error(401, message).with_header(WWW_AUTHENTICATE, self.www_authenticate.clone())
    }

    fn clock_ok(&self, kong: &mut Kong<'_>, header: &str) -> bool {
        let Some(at) = kong
            .request()
            .header(header)
            .and_then(super::clock::parse_http_date)
        else {
            return false;
        };
        ((super::clock::now_secs() - at).abs() as f64) <= self.config.clock_skew
    }

    /// Kong's signing string over the listed headers.
    fn signing_string(kong: &mut Kong<'_>, headers: &[String]) -> String {
        let req = kong.request();
        let method = req.method().map_or("GET", |m| m.as_str()).to_string();
        let path_query = match req.uri().and_then(|u| u.query()) {
            Some(q) if !q.is_empty() => format!("{}?{q}", req.raw_path().unwrap_or("/")),
            _ => req.raw_path().unwrap_or("/").to_string(),
        };
        let version = match req.http_version() {
            Some(http::Version::HTTP_2) => "2.0",
            Some(http::Version::HTTP_10) => "1.0",
            _ => "1.1",
        };
        let lines: Vec<String> = headers
            .iter()
            .map(|h| match req.header(h) {
                Some(value) => format!("{h}: {value}"),
                None if h == "@request-target" => {
                    format!("{h}: {} {path_query}", method.to_ascii_lowercase())
                }
                None if h == "request-line" => format!("{method} {path_query} HTTP/{version}"),
                None => format!("{h}:"),
            })
            .collect();
        lines.join("\n")
    }

    async fn body_ok(kong: &mut Kong<'_>) -> bool {
        let Ok(body) = kong.request().raw_body().await else {
            return false;
        };
        match kong.request().header("digest") {
            None => body.is_empty(),
            Some(received) => {
                let created = format!(
                    "SHA-256={}",
                    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body))
                );
                created == received
            }
        }
    }
}

#[async_trait]
impl Authenticate for HmacAuth {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let authorization = kong.request().header("authorization").map(str::to_string);
        let proxy_authorization = kong
            .request()
            .header("proxy-authorization")
            .map(str::to_string);
        if authorization.is_none() && proxy_authorization.is_none() {
            return Err(self.unauthorized("Unauthorized"));
        }
        if !(self.clock_ok(kong, "x-date") || self.clock_ok(kong, "date")) {
            return Err(self.unauthorized(
                "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication",
            ));
        }
        let (params, header_name) = match parse_params(proxy_authorization.as_deref()) {
            Some(p) => (Some(p), "proxy-authorization"),
            None => (parse_params(authorization.as_deref()), "authorization"),
        };
        if self.config.hide_credentials {
            let _ = kong.service_request().clear_header(header_name);
        }
        let params = params.ok_or_else(|| self.unauthorized(NOT_VALID))?;
        let enforced = self
            .config
            .enforce_headers
            .iter()
            .all(|h| params.headers.contains(h));
        if !enforced || !self.config.algorithms.contains(&params.algorithm) {
            return Err(self.unauthorized(NOT_VALID));
        }
        let credential = self
            .users
            .get(&params.username)
            .cloned()
            .ok_or_else(|| self.unauthorized(NOT_VALID))?;
        let signing = Self::signing_string(kong, &params.headers);
        let expected = sign(&params.algorithm, credential.secret.as_str(), &signing);
        let given = base64::engine::general_purpose::STANDARD
            .decode(params.signature.as_bytes())
            .ok();
        if expected.is_none() || expected != given {
            return Err(self.unauthorized(NOT_SAME));
        }
        if self.config.validate_request_body && !Self::body_ok(kong).await {
            return Err(self.unauthorized(NOT_SAME));
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
impl Plugin for HmacAuth {
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
    fn authorization_fields_parse_like_kong() {
        let p = parse_params(Some(
            r#"hmac username="alice", algorithm="hmac-sha256", headers="date request-line", signature="c2ln""#,
        ));
        assert_eq!(
            p,
            Some(Params {
                username: "alice".into(),
                algorithm: "hmac-sha256".into(),
                headers: vec!["date".into(), "request-line".into()],
                signature: "c2ln".into(),
            })
        );
        assert_eq!(parse_params(Some("Basic abc")), None);
    }

    #[test]
    fn signatures_use_the_named_algorithm() {
        // RFC 4231 test case 2.
        let mac = sign("hmac-sha256", "Jefe", "what do ya want for nothing?").unwrap_or_default();
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(sign("hmac-md5", "k", "d").is_none());
    }
}
