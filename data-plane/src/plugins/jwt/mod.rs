//! jwt (Kong's `kong/plugins/jwt/handler.lua`, PRIORITY 1450): a signed JSON Web Token
//! from a query argument, cookie or `Authorization: Bearer` header, verified with the
//! consumer's `jwt_secrets` entry named by the token's `iss` (or `key_claim_name`).

mod token;

use std::sync::Arc;

use async_trait::async_trait;
use common::model::JwtSecret;
use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use self::token::{Token, base64url};
use super::auth::{self, Authenticate};
use super::credentials::{Credential, Index};
use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    uri_param_names: Vec<String>,
    cookie_names: Vec<String>,
    key_claim_name: String,
    secret_is_base64: bool,
    claims_to_verify: Option<Vec<String>>,
    anonymous: Option<String>,
    run_on_preflight: bool,
    maximum_expiration: f64,
    header_names: Vec<String>,
    realm: Option<String>,
}

pub struct Jwt {
    config: Config,
    secrets: Index<JwtSecret>,
    challenge: HeaderValue,
    challenge_error: HeaderValue,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let (base, with_error) = match &config.realm {
        Some(realm) => (
            format!("Bearer realm=\"{realm}\""),
            format!("Bearer realm=\"{realm}\", error=\"invalid_token\""),
        ),
        None => (
            "Bearer".to_string(),
            "Bearer error=\"invalid_token\"".to_string(),
        ),
    };
    let header =
        |v: &str| HeaderValue::from_str(v).map_err(|_| format!("invalid realm {:?}", config.realm));
    Ok(Arc::new(Jwt {
        challenge: header(&base)?,
        challenge_error: header(&with_error)?,
        secrets: cx.credentials.jwt(),
        config,
    }))
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

impl Jwt {
    fn unauthorized(&self, message: &str, with_error: bool) -> Exit {
        let challenge = if with_error {
            &self.challenge_error
        } else {
            &self.challenge
        };
        Exit::message(401, message).with_header(WWW_AUTHENTICATE, challenge.clone())
    }

    fn claim_errors(&self, errors: Map<String, Value>) -> Exit {
        Exit::json(401, &Value::Object(errors))
            .with_header(WWW_AUTHENTICATE, self.challenge_error.clone())
    }

    /// Kong's `retrieve_tokens`: the distinct non-empty tokens found.
    fn tokens(&self, kong: &mut Kong<'_>) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut add = |t: &str| {
            if !t.is_empty() && !found.iter().any(|f| f == t) {
                found.push(t.to_string());
            }
        };
        let query = kong.request().query();
        for name in &self.config.uri_param_names {
            for (_, v) in query.iter().filter(|(k, _)| k == name) {
                add(v);
            }
        }
        let cookies = kong.request().header("cookie").map(str::to_string);
        if let Some(cookies) = &cookies {
            for name in &self.config.cookie_names {
                if let Some(v) = cookie(cookies, name) {
                    add(v);
                }
            }
        }
        for name in &self.config.header_names {
            let Some(value) = kong.request().header(name).map(str::to_string) else {
                continue;
            };
            let trimmed = value.trim_start();
            let rest = trimmed
                .strip_prefix("Bearer")
                .or_else(|| trimmed.strip_prefix("bearer"));
            if let Some(rest) = rest
                && rest.starts_with(char::is_whitespace)
            {
                add(rest.trim_start());
            }
        }
        found
    }

    fn registered_claims(&self, token: &Token) -> Map<String, Value> {
        let now = super::clock::now_secs() as f64;
        let mut errors = Map::new();
        for claim in self.config.claims_to_verify.iter().flatten() {
            let value = number(token.claims.get(claim));
            let error = match (claim.as_str(), value) {
                (_, None) => "must be a number",
                ("nbf", Some(nbf)) if nbf > now => "token not valid yet",
                ("exp", Some(exp)) if exp <= now => "token expired",
                _ => continue,
            };
            errors.insert(claim.clone(), json!(error));
        }
        if errors.is_empty() && self.config.maximum_expiration > 0.0 {
            let exp = number(token.claims.get("exp"));
            if exp.is_none_or(|exp| exp - now > self.config.maximum_expiration) {
                errors.insert("exp".into(), json!("exceeds maximum allowed expiration"));
            }
        }
        errors
    }
}

#[async_trait]
impl Authenticate for Jwt {
    async fn attempt(&self, kong: &mut Kong<'_>) -> Result<(), Exit> {
        let tokens = self.tokens(kong);
        let raw = match tokens.as_slice() {
            [] => return Err(self.unauthorized("Unauthorized", false)),
            [one] => one.clone(),
            _ => return Err(self.unauthorized("Multiple tokens provided", true)),
        };
        let token =
            Token::decode(&raw).map_err(|e| self.unauthorized(&format!("Bad token; {e}"), true))?;
        let claim = &self.config.key_claim_name;
        let key = token.claims.get(claim).or_else(|| token.header.get(claim));
        let key = match key {
            None | Some(Value::Null) => {
                return Err(self.unauthorized(&format!("No mandatory '{claim}' in claims"), true));
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(self.unauthorized(&format!("Invalid '{claim}' in claims"), true));
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let secret = self.secrets.get(&key).cloned().ok_or_else(|| {
            self.unauthorized(&format!("No credentials found for given '{claim}'"), true)
        })?;
        if token.alg() != secret.algorithm {
            return Err(self.unauthorized("Invalid algorithm", true));
        }
        let key_material: Option<Vec<u8>> = if secret.algorithm.starts_with("HS") {
            match (&secret.secret, self.config.secret_is_base64) {
                (Some(s), true) => base64url(s).or_else(|| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(s).ok()
                }),
                (Some(s), false) => Some(s.as_bytes().to_vec()),
                (None, _) => None,
            }
        } else {
            secret
                .rsa_public_key
                .as_ref()
                .map(|k| k.as_bytes().to_vec())
        };
        let Some(key_material) = key_material else {
            return Err(self.unauthorized("Invalid key/secret", true));
        };
        if !token.verify(&key_material) {
            return Err(self.unauthorized("Invalid signature", true));
        }
        let errors = self.registered_claims(&token);
        if !errors.is_empty() {
            return Err(self.claim_errors(errors));
        }
        let Some(consumer) = kong.client().load_consumer(&secret.consumer.id) else {
            return Err(Exit::message(
                401,
                &format!("Could not find consumer for '{claim}={key}'"),
            ));
        };
        let identity = Credential {
            id: secret.id,
            consumer_id: Some(secret.consumer.id),
            identifier: Some(Arc::from(secret.key.as_str())),
        };
        auth::set_consumer(kong, Some(consumer), Some(identity));
        kong.shared().insert(AuthenticatedJwtToken(raw));
        Ok(())
    }
}

/// The token a request authenticated with (Kong's `kong.ctx.shared.authenticated_jwt_token`).
#[derive(Debug, Clone)]
pub struct AuthenticatedJwtToken(pub String);

#[async_trait]
impl Plugin for Jwt {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        if !self.config.run_on_preflight
            && kong
                .request()
                .method()
                .is_some_and(|m| m == http::Method::OPTIONS)
        {
            return Flow::Continue;
        }
        auth::authenticate(self, kong, self.config.anonymous.as_deref()).await
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
