//! An in-process Admin API on a fresh store, driven through the axum `Router` without
//! sockets (`tower::ServiceExt::oneshot`), and a macro running each test on Postgres (own
//! database) and on SQLite.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use control_plane::admin::{AdminApi, AdminConfig, AdminState};
use control_plane::store::testing::TestStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

/// Declares `postgres::<name>` and `sqlite::<name>` tests calling `<name>(&Api)`.
#[macro_export]
macro_rules! admin_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let api = $crate::support::Api::postgres().await;
                    super::$name(&api).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let api = $crate::support::Api::sqlite().await;
                    super::$name(&api).await;
                }
            )*
        }
    };
}

/// A response: status, headers and the body (JSON when it parses, else `Value::Null`).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Res {
    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Api {
    pub router: Router,
    pub store: Arc<TestStore>,
}

impl Api {
    pub async fn postgres() -> Api {
        let store = TestStore::postgres()
            .await
            .expect("a Postgres test database (DATABASE_URL)");
        Api::on(store, AdminConfig::default())
    }

    pub async fn sqlite() -> Api {
        let store = TestStore::sqlite().await.expect("a SQLite test store");
        Api::on(store, AdminConfig::default())
    }

    pub fn on(store: TestStore, config: AdminConfig) -> Api {
        Api::shared(Arc::new(store), config)
    }

    fn shared(store: Arc<TestStore>, config: AdminConfig) -> Api {
        let state = AdminState::new(store.store.clone(), Uuid::new_v4(), config);
        Api {
            router: AdminApi::new(state).router(),
            store,
        }
    }

    /// Another Admin API, configured with `config`, on the same store.
    pub fn with_config(&self, config: AdminConfig) -> Api {
        Api::shared(self.store.clone(), config)
    }

    /// Sends a request with raw headers and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Res {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body.into()).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res {
            status: parts.status,
            headers: parts.headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.send(Method::DELETE, path, &[], Body::empty()).await
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> Res {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Res {
        self.json(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.json(Method::PATCH, path, body).await
    }

    /// A form-encoded request (`body` as written, e.g. `paths[]=/x&name=y`).
    pub async fn form(&self, method: Method, path: &str, body: &str) -> Res {
        self.send(
            method,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.to_owned(),
        )
        .await
    }

    /// A multipart request with one text part per pair.
    pub async fn multipart(&self, method: Method, path: &str, pairs: &[(&str, &str)]) -> Res {
        let boundary = "portico-test-boundary";
        let mut body = String::new();
        for (name, value) in pairs {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(method, path, &[("content-type", &content_type)], body)
            .await
    }

    /// Creates an entity with a JSON POST, asserting 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        self.post(path, body).await.expect(201).clone()
    }
}

/// The body encodings Kong's tests run most write cases with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
    Multipart,
}

impl Encoding {
    pub const ALL: [Encoding; 3] = [Encoding::Json, Encoding::Form, Encoding::Multipart];
}

/// Sends `pairs` (already flattened the way Kong's test client flattens) in `encoding`;
/// for JSON, `json` is sent instead.
pub async fn send_encoded(
    api: &Api,
    encoding: Encoding,
    method: Method,
    path: &str,
    json: Value,
    pairs: &[(&str, &str)],
) -> Res {
    match encoding {
        Encoding::Json => api.json(method, path, json).await,
        Encoding::Form => {
            let body = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            api.form(method, path, &body).await
        }
        Encoding::Multipart => api.multipart(method, path, pairs).await,
    }
}

/// Percent-encodes a form component.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}
