//! response-transformer (Kong's `kong/plugins/response-transformer`, PRIORITY 800):
//! changes response headers (header_filter) and top-level fields of JSON bodies
//! (body_filter, buffering the body), with `remove`, `rename`, `replace`, `add`, `append`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::{InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize, Default)]
struct Lists {
    #[serde(default)]
    json: Vec<String>,
    #[serde(default)]
    json_types: Vec<String>,
    #[serde(default)]
    headers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Config {
    remove: Lists,
    rename: Lists,
    replace: Lists,
    add: Lists,
    append: Lists,
}

pub struct ResponseTransformer {
    config: Config,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    Ok(Arc::new(ResponseTransformer {
        config: cx.config()?,
    }))
}

/// Kong's `^([^:]+):*(.-)$`, an empty value as none.
fn split(entry: &str) -> (&str, Option<&str>) {
    let (name, rest) = entry.split_once(':').unwrap_or((entry, ""));
    let value = rest.trim_start_matches(':');
    (name, (!value.is_empty()).then_some(value))
}

/// Kong's `json_value`: the text as a JSON string, or cast to the configured type.
fn json_value(value: &str, kind: Option<&str>) -> Option<Value> {
    match kind {
        Some("number") => value.parse::<f64>().ok().and_then(|n| {
            if n.fract() == 0.0 && n.abs() < 9e15 {
                Some(Value::from(n as i64))
            } else {
                serde_json::Number::from_f64(n).map(Value::Number)
            }
        }),
        Some("boolean") => Some(Value::Bool(value == "true")),
        _ => Some(Value::String(value.to_string())),
    }
}

fn append(slot: Option<Value>, value: Value) -> Value {
    match slot {
        Some(Value::Array(mut list)) => {
            list.push(value);
            Value::Array(list)
        }
        Some(Value::String(s)) => Value::Array(vec![Value::String(s), value]),
        _ => Value::Array(vec![value]),
    }
}

/// Whether a `Content-Type` is JSON (`application/json`, any parameters).
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(',').any(|part| {
            part.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    })
}

/// The body collected for transformation.
#[derive(Clone, Default)]
struct Buffered(BytesMut);

impl ResponseTransformer {
    fn body_transform_set(&self) -> bool {
        let c = &self.config;
        [&c.remove, &c.rename, &c.replace, &c.add, &c.append]
            .iter()
            .any(|l| !l.json.is_empty())
    }

    fn transform_json(&self, body: &[u8]) -> Option<Vec<u8>> {
        let Ok(Value::Object(mut json)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let c = &self.config;
        for entry in &c.remove.json {
            json.remove(split(entry).0);
        }
        for entry in &c.rename.json {
            if let (old, Some(new)) = split(entry)
                && let Some(v) = json.remove(old)
            {
                json.insert(new.to_string(), v);
            }
        }
        for (i, entry) in c.replace.json.iter().enumerate() {
            if let (name, Some(value)) = split(entry)
                && json
                    .get(name)
                    .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
                && let Some(v) = json_value(value, c.replace.json_types.get(i).map(String::as_str))
            {
                json.insert(name.to_string(), v);
            }
        }
        for (i, entry) in c.add.json.iter().enumerate() {
            if let (name, Some(value)) = split(entry)
                && json
                    .get(name)
                    .is_none_or(|v| v.is_null() || *v == Value::Bool(false))
                && let Some(v) = json_value(value, c.add.json_types.get(i).map(String::as_str))
            {
                json.insert(name.to_string(), v);
            }
        }
        for (i, entry) in c.append.json.iter().enumerate() {
            if let (name, Some(value)) = split(entry)
                && let Some(v) = json_value(value, c.append.json_types.get(i).map(String::as_str))
            {
                let merged = append(json.remove(name), v);
                json.insert(name.to_string(), merged);
            }
        }
        serde_json::to_vec(&Value::Object(json)).ok()
    }
}

fn name(n: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok()
}

#[async_trait]
impl Plugin for ResponseTransformer {
    fn header_filter(&self, kong: &mut Kong<'_>) {
        let body_set = self.body_transform_set();
        let c = &self.config;
        let Ok(headers) = kong.response().headers_mut() else {
            return;
        };
        for entry in &c.remove.headers {
            if let Some(n) = name(split(entry).0) {
                headers.remove(n);
            }
        }
        for entry in &c.rename.headers {
            if let (old, Some(new)) = split(entry)
                && let (Some(old), Some(new)) = (name(old), name(new))
                && let Some(v) = headers.remove(&old)
            {
                headers.insert(new, v);
            }
        }
        let pair = |entry: &String| {
            let (n, v) = split(entry);
            Some((name(n)?, HeaderValue::from_str(v?).ok()?))
        };
        for (n, v) in c.replace.headers.iter().filter_map(pair) {
            if headers.contains_key(&n) {
                headers.insert(n, v);
            }
        }
        for (n, v) in c.add.headers.iter().filter_map(pair) {
            if !headers.contains_key(&n) {
                headers.insert(n, v);
            }
        }
        for (n, v) in c.append.headers.iter().filter_map(pair) {
            headers.append(n, v);
        }
        let json = is_json(
            headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        if body_set && json {
            headers.remove(http::header::CONTENT_LENGTH);
            kong.shared().insert(Buffered::default());
        }
    }

    fn body_filter(&self, kong: &mut Kong<'_>, chunk: &mut Bytes, eof: bool) {
        let Some(buffered) = kong.shared().get_mut::<Buffered>() else {
            return;
        };
        buffered.0.extend_from_slice(chunk);
        *chunk = Bytes::new();
        if !eof {
            return;
        }
        let body = std::mem::take(&mut buffered.0).freeze();
        kong.shared().remove::<Buffered>();
        *chunk = match self.transform_json(&body) {
            Some(transformed) => Bytes::from(transformed),
            // Not a JSON object: sent unchanged, as Kong does.
            None => body,
        };
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
