//! jwt against the real data plane: HS256, ES256 and ES512 tokens from header, query and
//! cookie, Kong's messages, registered claims.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use portico_tests::client::{self, get};
use portico_tests::entities::{PluginScope, consumer, jwt_secret, plugin, route_paths, service};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256(claims: &Value, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
}

/// An ES256 key pair: the signing key and its public key as PEM.
fn es256_key() -> (EcdsaKeyPair, String) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // SubjectPublicKeyInfo for a P-256 key: fixed prefix, then the uncompressed point.
    let mut spki = hex_decode("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    spki.extend_from_slice(pair.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    (pair, pem)
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A P-521 signing key made at test time, and its public key as a PEM SubjectPublicKeyInfo.
fn es512_key() -> (p521::ecdsa::SigningKey, String) {
    use ring::rand::SecureRandom as _;
    // A scalar below the group order: the top byte of P-521's 66-byte scalars is 0 or 1.
    let mut scalar = [0u8; 66];
    ring::rand::SystemRandom::new()
        .fill(&mut scalar[1..])
        .unwrap();
    let key = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    // SubjectPublicKeyInfo for a P-521 key: fixed prefix, then the uncompressed point.
    let mut spki = hex_decode("30819b301006072a8648ce3d020106052b8104002303818600");
    spki.extend_from_slice(key.verifying_key().to_sec1_point(false).as_bytes());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    (key, pem)
}

/// An ES512 token: the signature is `r || s`, 66 bytes each (RFC 7518 §3.4).
fn es512(claims: &Value, key: &p521::ecdsa::SigningKey) -> String {
    use p521::ecdsa::signature::Signer as _;
    let signed = format!(
        "{}.{}",
        b64(json!({"alg": "ES512", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig: p521::ecdsa::Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", b64(&sig.to_bytes()))
}

fn es256(claims: &Value, key: &EcdsaKeyPair) -> String {
    let signed = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
        .unwrap();
    format!("{signed}.{}", b64(sig.as_ref()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Setup {
    proxy: TestProxy,
    es_key: EcdsaKeyPair,
    es512_key: p521::ecdsa::SigningKey,
    _upstream: Upstream,
}

async fn setup() -> Setup {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let plain = route_paths(Some(&svc), &["/plain"]);
    let claims = route_paths(Some(&svc), &["/claims"]);
    let cookies = route_paths(Some(&svc), &["/cookie"]);
    let alice = consumer("alice");
    let (es_key, es_pem) = es256_key();
    let (es512_key, es512_pem) = es512_key();
    let config = ConfigSet {
        plugins: vec![
            plugin("jwt", json!({})).on_route(&plain),
            plugin(
                "jwt",
                json!({"claims_to_verify": ["exp", "nbf"], "maximum_expiration": 3600}),
            )
            .on_route(&claims),
            plugin(
                "jwt",
                json!({"cookie_names": ["session"], "realm": "portico"}),
            )
            .on_route(&cookies),
        ],
        jwt_secrets: vec![
            jwt_secret(&alice, "hs-issuer", "HS256", Some("shh"), None),
            jwt_secret(&alice, "es-issuer", "ES256", None, Some(&es_pem)),
            jwt_secret(&alice, "es512-issuer", "ES512", None, Some(&es512_pem)),
        ],
        consumers: vec![alice],
        routes: vec![plain, claims, cookies],
        services: vec![svc],
        ..Default::default()
    };
    Setup {
        proxy: TestProxy::start(config).await,
        es_key,
        es512_key,
        _upstream: upstream,
    }
}

async fn send(proxy: &TestProxy, req: http::request::Builder) -> client::Resp {
    client::send(proxy.http, req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap()
}

fn bearer(path: &str, token: &str) -> http::request::Builder {
    get(path, "j.test").header("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn valid_tokens_authenticate_the_consumer() {
    let s = setup().await;
    let hs = hs256(&json!({"iss": "hs-issuer"}), "shh");
    let resp = send(&s.proxy, bearer("/plain", &hs)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "alice");
    assert_eq!(
        resp.json()["headers"]["x-credential-identifier"],
        "hs-issuer"
    );
    let resp = send(&s.proxy, get(&format!("/plain?jwt={hs}"), "j.test")).await;
    assert_eq!(resp.status, 200);
    let es = es256(&json!({"iss": "es-issuer"}), &s.es_key);
    assert_eq!(send(&s.proxy, bearer("/plain", &es)).await.status, 200);
    let resp = send(
        &s.proxy,
        get("/cookie", "j.test").header("cookie", format!("a=b; session={hs}")),
    )
    .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn bad_tokens_get_kongs_messages() {
    let s = setup().await;
    let hs = hs256(&json!({"iss": "hs-issuer"}), "shh");
    let cases = [
        (get("/plain", "j.test"), "Unauthorized", "Bearer"),
        (
            bearer("/plain", "not.a.token"),
            "Bad token; invalid JSON",
            "Bearer error=\"invalid_token\"",
        ),
        (
            bearer("/plain", &hs256(&json!({"sub": "x"}), "shh")),
            "No mandatory 'iss' in claims",
            "Bearer error=\"invalid_token\"",
        ),
        (
            bearer("/plain", &hs256(&json!({"iss": "nobody"}), "shh")),
            "No credentials found for given 'iss'",
            "Bearer error=\"invalid_token\"",
        ),
        (
            bearer("/plain", &hs256(&json!({"iss": "hs-issuer"}), "wrong")),
            "Invalid signature",
            "Bearer error=\"invalid_token\"",
        ),
        (
            bearer("/plain", &hs256(&json!({"iss": "es-issuer"}), "shh")),
            "Invalid algorithm",
            "Bearer error=\"invalid_token\"",
        ),
        (
            bearer(
                &format!(
                    "/plain?jwt={}",
                    hs256(&json!({"iss": "hs-issuer", "x": 1}), "shh")
                ),
                &hs,
            ),
            "Multiple tokens provided",
            "Bearer error=\"invalid_token\"",
        ),
        (
            get("/cookie", "j.test"),
            "Unauthorized",
            "Bearer realm=\"portico\"",
        ),
    ];
    for (req, message, challenge) in cases {
        let resp = send(&s.proxy, req).await;
        assert_eq!(resp.status, 401, "{message}");
        assert_eq!(resp.json(), json!({"message": message}));
        assert_eq!(resp.header("www-authenticate"), challenge, "{message}");
    }
}

#[tokio::test]
async fn es512_tokens_are_verified_with_the_p521_public_key() {
    let s = setup().await;
    let token = es512(&json!({"iss": "es512-issuer"}), &s.es512_key);
    let resp = send(&s.proxy, bearer("/plain", &token)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["headers"]["x-credential-identifier"],
        "es512-issuer"
    );

    // The same signature over other claims.
    let (_, signature) = token.rsplit_once('.').unwrap();
    let other = es512(&json!({"iss": "es512-issuer", "admin": true}), &s.es512_key);
    let (other_signed, _) = other.rsplit_once('.').unwrap();
    let tampered = format!("{other_signed}.{signature}");
    // Signed by a key other than the credential's.
    let (stranger, _) = es512_key();
    let wrong_key = es512(&json!({"iss": "es512-issuer"}), &stranger);
    for token in [tampered, wrong_key] {
        let resp = send(&s.proxy, bearer("/plain", &token)).await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json(), json!({"message": "Invalid signature"}));
        assert_eq!(
            resp.header("www-authenticate"),
            "Bearer error=\"invalid_token\""
        );
    }
}

#[tokio::test]
async fn registered_claims_are_verified() {
    let s = setup().await;
    let t = now();
    let ok = hs256(
        &json!({"iss": "hs-issuer", "exp": t + 600, "nbf": t - 10}),
        "shh",
    );
    assert_eq!(send(&s.proxy, bearer("/claims", &ok)).await.status, 200);
    let expired = hs256(
        &json!({"iss": "hs-issuer", "exp": t - 10, "nbf": t - 20}),
        "shh",
    );
    let resp = send(&s.proxy, bearer("/claims", &expired)).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json(), json!({"exp": "token expired"}));
    let early = hs256(
        &json!({"iss": "hs-issuer", "exp": t + 600, "nbf": t + 600}),
        "shh",
    );
    assert_eq!(
        send(&s.proxy, bearer("/claims", &early)).await.json(),
        json!({"nbf": "token not valid yet"})
    );
    let far = hs256(
        &json!({"iss": "hs-issuer", "exp": t + 7200, "nbf": t}),
        "shh",
    );
    assert_eq!(
        send(&s.proxy, bearer("/claims", &far)).await.json(),
        json!({"exp": "exceeds maximum allowed expiration"})
    );
    let untyped = hs256(&json!({"iss": "hs-issuer", "exp": "soon", "nbf": t}), "shh");
    assert_eq!(
        send(&s.proxy, bearer("/claims", &untyped)).await.json(),
        json!({"exp": "must be a number"})
    );
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (
            json!({"claims_to_verify": ["iat"]}),
            "expected one of: exp, nbf",
        ),
        (
            json!({"maximum_expiration": 31_536_001}),
            "value should be between 0 and 31536000",
        ),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("jwt", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
