//! `kong.log.serialize()`: the JSON document the logging plugins send, in Kong's shape.

use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::{Kong, PdkError, Phase, check_phase};
use crate::balancer::Outcome;

/// Headers as Kong serializes them: lower-case names, a string, or an array when repeated.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        out.insert(name.as_str().to_string(), value);
    }
    Value::Object(out)
}

/// A number as Lua's `tostring` prints it: integers without a fraction.
pub fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A query string as Kong's `get_query`: `true` for a key without `=`, arrays for repeats.
pub fn query_json(raw: &str) -> Value {
    let mut out = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Value::String(decode(v))),
            None => (pair, Value::Bool(true)),
        };
        let key = decode(key);
        match out.get_mut(&key) {
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    Value::Object(out)
}

fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// What nginx reports as `$ssl_client_verify` for a certificate requested without a CA
/// to verify it against (Kong's `request_client_certificate`): verification failed.
const UNVERIFIED: &str = "FAILED:unable to verify the first certificate";

/// Values plugins add to the log entry (`kong.log.set_serialize_value`).
#[derive(Clone, Default)]
struct SerializeValues(Vec<(String, Value)>);

impl Kong<'_> {
    /// `kong.log.set_serialize_value(key, value)`: sets a top-level field of this
    /// request's log entry.
    pub fn set_serialize_value(&mut self, key: &str, value: Value) {
        let values = self.ctx.shared.get_or_insert_default::<SerializeValues>();
        values.0.retain(|(k, _)| k != key);
        values.0.push((key.to_string(), value));
    }

    /// `kong.log.serialize()` (log phase).
    pub fn serialize(&self) -> Result<Value, PdkError> {
        check_phase(self.phase, &[Phase::Log])?;
        let ctx = &*self.ctx;
        let head = match &self.request {
            super::RequestSide::Sent(h) => *h,
            super::RequestSide::Live { .. } => None,
        };
        let request_uri = head
            .and_then(|h| h.uri.path_and_query())
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        let raw_query = head.and_then(|h| h.uri.query()).unwrap_or("");
        let scheme = if ctx.conn.tls { "https" } else { "http" };
        let host = head
            .and_then(|h| h.headers.get(http::header::HOST))
            .and_then(|v| v.to_str().ok())
            .map(|h| {
                h.rsplit_once(':')
                    .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(h, |(name, _)| name)
            })
            .unwrap_or("localhost");
        let port = ctx.conn.local.port();
        let mut request_headers = head.map_or(json!({}), |h| headers_json(&h.headers));
        for secret in ["authorization", "proxy-authorization"] {
            if let Some(v) = request_headers.get_mut(secret) {
                *v = json!("REDACTED");
            }
        }
        let request_size = head.map_or(0, |h| {
            h.headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>() as u64
                + request_uri.len() as u64
        }) + ctx.bytes_in;
        let mut request = json!({
            "id": ctx.id.as_str(),
            "uri": request_uri,
            "url": format!("{scheme}://{host}:{port}{request_uri}"),
            "querystring": query_json(raw_query),
            "method": head.map_or("GET", |h| h.method.as_str()),
            "headers": request_headers,
            "size": request_size,
        });
        if ctx.conn.tls {
            let verify =
                ctx.client_verify
                    .clone()
                    .unwrap_or_else(|| match &ctx.conn.client_certificates {
                        Some(c) if !c.is_empty() => UNVERIFIED.to_string(),
                        _ => "NONE".to_string(),
                    });
            request["tls"] = json!({
                "version": ctx.conn.tls_version,
                "cipher": ctx.conn.tls_cipher,
                "client_verify": verify,
            });
        }
        let response_headers = ctx
            .response_head
            .as_ref()
            .map_or(json!({}), |h| headers_json(&h.headers));
        let tries: Vec<Value> = ctx
            .tries
            .iter()
            .map(|t| {
                let mut v = json!({
                    "ip": t.peer.addr.ip().to_string(),
                    "port": t.peer.addr.port(),
                    "balancer_latency": 0,
                });
                match t.outcome {
                    Outcome::Response(code) if code < 500 => {}
                    Outcome::Response(code) => {
                        v["state"] = json!("failed");
                        v["code"] = json!(code);
                    }
                    _ => v["state"] = json!("failed"),
                }
                v
            })
            .collect();
        let started_at = ctx
            .started_at()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let kong_latency = ctx.latencies.proxy.or(ctx.latencies.response).unwrap_or(0);
        let source = match ctx.source {
            crate::proxy::context::ResponseSource::Upstream if ctx.upstream_status.is_some() => {
                "upstream"
            }
            crate::proxy::context::ResponseSource::Exit => "exit",
            _ => "kong",
        };
        let mut root = json!({
            "request": request,
            "upstream_uri": ctx.upstream_uri.clone().unwrap_or_default(),
            "upstream_status": ctx.upstream_status.map_or(String::new(), |s| s.to_string()),
            "response": {
                "status": ctx.status,
                "headers": response_headers,
                "size": ctx.bytes_out,
            },
            "latencies": {
                "kong": kong_latency,
                "proxy": ctx.latencies.upstream.map_or(-1, |l| l as i64),
                "request": ctx.elapsed_ms(),
                "receive": 0,
            },
            "tries": tries,
            "client_ip": ctx.client_ip.to_string(),
            "started_at": started_at,
            "source": source,
            "workspace_name": "default",
        });
        if let Some(c) = &ctx.credential {
            root["authenticated_entity"] = json!({
                "id": c.id,
                "consumer_id": c.consumer_id,
            });
        }
        if let Some(route) = &ctx.route {
            root["route"] = serde_json::to_value(route.as_ref()).unwrap_or(Value::Null);
        }
        if let Some(service) = &ctx.service {
            root["service"] = serde_json::to_value(service.as_ref()).unwrap_or(Value::Null);
        }
        if let Some(consumer) = &ctx.consumer {
            root["consumer"] = serde_json::to_value(consumer.as_ref()).unwrap_or(Value::Null);
        }
        if let Some(values) = ctx.shared.get::<SerializeValues>() {
            for (key, value) in &values.0 {
                root[key.as_str()] = value.clone();
            }
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_serialize_like_kong() {
        assert_eq!(
            query_json("a=1&b&a=2&c=x%20y"),
            json!({"a": ["1", "2"], "b": true, "c": "x y"})
        );
    }
}
