//! hmac-auth against the real data plane: signatures over headers and the request line,
//! clock skew, body digests, Kong's messages.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use bytes::Bytes;
use data_plane::runtime::ConfigSet;
use hmac::{Hmac, Mac};
use http::Request;
use http_body_util::Full;
use portico_tests::client;
use portico_tests::entities::{
    PluginScope, consumer, hmac_credential, plugin, route_paths, service,
};
use portico_tests::proxy::{TestProxy, rejected};
use portico_tests::upstream::Upstream;
use serde_json::json;
use sha2::Digest;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sign(secret: &str, data: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// An HTTP date for now plus `offset` seconds.
fn http_date(offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset;
    let days = now.div_euclid(86_400);
    let secs = now.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

async fn setup() -> (TestProxy, Upstream) {
    let upstream = Upstream::echo().await;
    let svc = service(&format!("http://127.0.0.1:{}", upstream.port()));
    let plain = route_paths(Some(&svc), &["/plain"]);
    let body = route_paths(Some(&svc), &["/body"]);
    let enforced = route_paths(Some(&svc), &["/enforced"]);
    let alice = consumer("alice");
    let config = ConfigSet {
        plugins: vec![
            plugin("hmac-auth", json!({})).on_route(&plain),
            plugin(
                "hmac-auth",
                json!({"validate_request_body": true, "hide_credentials": true}),
            )
            .on_route(&body),
            plugin("hmac-auth", json!({"enforce_headers": ["x-extra"]})).on_route(&enforced),
        ],
        hmacauth_credentials: vec![hmac_credential(&alice, "alice", "s3cret")],
        consumers: vec![alice],
        routes: vec![plain, body, enforced],
        services: vec![svc],
        ..Default::default()
    };
    (TestProxy::start(config).await, upstream)
}

fn signed(
    method: &str,
    path: &str,
    date: &str,
    secret: &str,
    body: &'static str,
) -> Request<Full<Bytes>> {
    let signing = format!("date: {date}\n{method} {path} HTTP/1.1");
    let auth = format!(
        r#"hmac username="alice", algorithm="hmac-sha256", headers="date request-line", signature="{}""#,
        sign(secret, &signing)
    );
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "h.test")
        .header("date", date)
        .header("authorization", auth)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn valid_signatures_pass_and_bad_ones_get_kongs_messages() {
    let (proxy, upstream) = setup().await;
    let now = http_date(0);
    let resp = client::send(proxy.http, signed("GET", "/plain?x=1", &now, "s3cret", ""))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["headers"]["x-consumer-username"], "alice");
    assert_eq!(resp.json()["headers"]["x-credential-identifier"], "alice");

    let cases = [
        (
            signed("GET", "/plain", &now, "wrong", ""),
            "HMAC signature does not match",
        ),
        (
            signed("GET", "/plain", &http_date(-1000), "s3cret", ""),
            "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication",
        ),
        (
            signed("GET", "/enforced", &now, "s3cret", ""),
            "HMAC signature cannot be verified",
        ),
    ];
    for (req, message) in cases {
        let resp = client::send(proxy.http, req).await.unwrap();
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["message"], message);
        assert_eq!(resp.header("www-authenticate"), "hmac");
    }
    let resp = client::send(
        proxy.http,
        Request::get("/plain")
            .header("host", "h.test")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.json()["message"], "Unauthorized");
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn request_bodies_are_checked_against_the_digest() {
    let (proxy, _upstream) = setup().await;
    let now = http_date(0);
    let body = "hello";
    let mut req = signed("POST", "/body", &now, "s3cret", body);
    let digest = format!("SHA-256={}", b64(&sha2::Sha256::digest(body.as_bytes())));
    req.headers_mut().insert("digest", digest.parse().unwrap());
    let resp = client::send(proxy.http, req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    // hide_credentials: the upstream does not see the signature.
    assert!(resp.json()["headers"]["authorization"].is_null());
    let mut tampered = signed("POST", "/body", &now, "s3cret", "other");
    tampered
        .headers_mut()
        .insert("digest", digest.parse().unwrap());
    let resp = client::send(proxy.http, tampered).await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["message"], "HMAC signature does not match");
}

#[test]
fn the_schema_rejects_bad_configs() {
    for (conf, message) in [
        (json!({"algorithms": ["hmac-md5"]}), "expected one of"),
        (json!({"clock_skew": 0}), "value must be greater than 0"),
    ] {
        let config = ConfigSet {
            plugins: vec![plugin("hmac-auth", conf.clone())],
            ..Default::default()
        };
        let err = rejected(&config);
        assert!(err.contains(message), "{conf}: {err}");
    }
}
