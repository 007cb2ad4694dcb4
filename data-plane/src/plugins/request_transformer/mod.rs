//! request-transformer (Kong's `kong/plugins/request-transformer/access.lua`, PRIORITY
//! 801): changes the request before it goes upstream — path, method, headers,
//! querystring and form, multipart or JSON body — with `remove`, `rename`, `replace`,
//! `add`, `append` in that order, values rendered from templates (see [`template`]).

mod multipart;
mod template;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Map, Value};

use self::template::{Env, Template};
use super::pdk::request::parse_query;
use super::{Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize, Default)]
struct Lists {
    #[serde(default)]
    body: Vec<String>,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    querystring: Vec<String>,
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Config {
    http_method: Option<String>,
    remove: Lists,
    rename: Lists,
    replace: Lists,
    add: Lists,
    append: Lists,
}

/// A `name:value` entry with its value compiled.
struct Pair {
    name: String,
    value: Template,
}

struct Ops {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    replace: Vec<Pair>,
    add: Vec<Pair>,
    append: Vec<Pair>,
}

impl Ops {
    fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.replace.is_empty()
            && self.add.is_empty()
            && self.append.is_empty()
    }
}

pub struct RequestTransformer {
    method: Option<Method>,
    uri: Option<Template>,
    headers: Ops,
    querystring: Ops,
    body: Ops,
}

/// Kong's `^([^:]+):*(.-)$`.
fn split(entry: &str) -> (String, String) {
    let (name, rest) = entry.split_once(':').unwrap_or((entry, ""));
    (name.to_string(), rest.trim_start_matches(':').to_string())
}

fn pairs(list: &[String]) -> Result<Vec<Pair>, String> {
    list.iter()
        .map(|entry| {
            let (name, value) = split(entry);
            Ok(Pair {
                name,
                value: Template::parse(&value)?,
            })
        })
        .collect()
}

fn ops(config: &Config, pick: fn(&Lists) -> &Vec<String>) -> Result<Ops, String> {
    Ok(Ops {
        remove: pick(&config.remove).iter().map(|e| split(e).0).collect(),
        rename: pick(&config.rename).iter().map(|e| split(e)).collect(),
        replace: pairs(pick(&config.replace))?,
        add: pairs(pick(&config.add))?,
        append: pairs(pick(&config.append))?,
    })
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let method = config
        .http_method
        .as_deref()
        .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
        .transpose()
        .map_err(|e| e.to_string())?;
    let uri = config
        .replace
        .uri
        .as_deref()
        .map(Template::parse)
        .transpose()?;
    Ok(Arc::new(RequestTransformer {
        method,
        uri,
        headers: ops(&config, |l| &l.headers)?,
        querystring: ops(&config, |l| &l.querystring)?,
        body: ops(&config, |l| &l.body)?,
    }))
}

/// The request values templates read, captured before any change (as Kong's lazily
/// loaded environment sees them on first use).
struct Snapshot {
    headers: http::HeaderMap,
    query: Vec<(String, String)>,
    captures: Vec<(Option<String>, String)>,
}

impl Env for Snapshot {
    fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        self.headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn uri_capture(&self, name: &str) -> Option<String> {
        if let Ok(n) = name.parse::<usize>() {
            return self.captures.get(n.checked_sub(1)?).map(|(_, v)| v.clone());
        }
        self.captures
            .iter()
            .find(|(k, _)| k.as_deref() == Some(name))
            .map(|(_, v)| v.clone())
    }
}

/// Ordered arguments with Kong's table semantics (one entry per name, arrays for repeats).
fn to_args(pairs: Vec<(String, String)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some((_, existing)) => append(existing, Value::String(v)),
            None => out.push((k, Value::String(v))),
        }
    }
    out
}

fn append(slot: &mut Value, value: Value) {
    match slot {
        Value::Array(list) => list.push(value),
        Value::Null => *slot = Value::Array(vec![value]),
        other => {
            let first = other.take();
            *other = Value::Array(vec![first, value]);
        }
    }
}

/// Applies `ops` to arguments; `has_content` gates remove/rename/replace (Kong applies
/// them to bodies only when the body is not empty). Returns whether anything changed.
fn apply(ops: &Ops, args: &mut Map<String, Value>, env: &Snapshot, has_content: bool) -> bool {
    let mut changed = false;
    if has_content {
        for name in &ops.remove {
            changed |= args.remove(name).is_some();
        }
        for (old, new) in &ops.rename {
            if old != new
                && let Some(v) = args.remove(old)
            {
                args.insert(new.clone(), v);
                changed = true;
            }
        }
        for pair in &ops.replace {
            if let Some(slot) = args.get_mut(&pair.name) {
                *slot = Value::String(pair.value.render(env));
                changed = true;
            }
        }
    }
    for pair in &ops.add {
        if !args.contains_key(&pair.name) {
            args.insert(pair.name.clone(), Value::String(pair.value.render(env)));
            changed = true;
        }
    }
    for pair in &ops.append {
        let slot = args.entry(pair.name.clone()).or_insert(Value::Null);
        append(slot, Value::String(pair.value.render(env)));
        changed = true;
    }
    changed
}

fn header_name(name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()
}

impl RequestTransformer {
    fn transform_headers(&self, kong: &mut Kong<'_>, env: &Snapshot) {
        let ops = &self.headers;
        if ops.is_empty() {
            return;
        }
        let Ok(headers) = kong.service_request().headers_mut() else {
            return;
        };
        for name in ops.remove.iter().filter_map(|n| header_name(n)) {
            headers.remove(name);
        }
        for (old, new) in &ops.rename {
            let (Some(old), Some(new)) = (header_name(old), header_name(new)) else {
                continue;
            };
            if old == new {
                continue;
            }
            let values: Vec<HeaderValue> = headers.get_all(&old).iter().cloned().collect();
            if !values.is_empty() {
                headers.remove(&old);
                for v in values {
                    headers.append(new.clone(), v);
                }
            }
        }
        let rendered = |pair: &Pair| {
            Some((
                header_name(&pair.name)?,
                HeaderValue::from_str(&pair.value.render(env)).ok()?,
            ))
        };
        // Kong replaces `Host` whether or not the client sent one: it becomes the Host
        // (and SNI) sent upstream.
        let mut host = None;
        for (name, value) in ops.replace.iter().filter_map(rendered) {
            if name == http::header::HOST {
                host = Some(value);
            } else if headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
        for (name, value) in ops.add.iter().filter_map(rendered) {
            if !headers.contains_key(&name) && name != http::header::HOST {
                headers.insert(name, value);
            }
        }
        for (name, value) in ops.append.iter().filter_map(rendered) {
            if name != http::header::HOST {
                headers.append(name, value);
            }
        }
        if let Some(host) = host {
            let _ = kong
                .service_request()
                .set_header_value(http::header::HOST, host);
        }
    }

    fn transform_querystring(&self, kong: &mut Kong<'_>, env: &Snapshot) {
        if self.querystring.is_empty() {
            return;
        }
        let mut args: Map<String, Value> = to_args(env.query.clone()).into_iter().collect();
        apply(&self.querystring, &mut args, env, true);
        // Kong's `set_query` encodes arguments sorted by name.
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut names: Vec<&String> = args.keys().collect();
        names.sort();
        for name in names {
            match &args[name] {
                Value::Array(list) => {
                    for v in list {
                        pairs.push((name.clone(), v.as_str().unwrap_or_default().to_string()));
                    }
                }
                v => pairs.push((name.clone(), v.as_str().unwrap_or_default().to_string())),
            }
        }
        let _ = kong.service_request().set_query(&pairs);
    }

    /// Kong's `transform_multipart_body`: rename, remove, replace, add (no append), the
    /// body rewritten only when something changed.
    async fn transform_multipart(&self, kong: &mut Kong<'_>, env: &Snapshot, content_type: &str) {
        let Some(boundary) = multipart::boundary(content_type) else {
            return;
        };
        let raw = kong.request().raw_body().await.unwrap_or_default();
        let has_content = !raw.is_empty();
        let mut form = multipart::Form::parse(&raw, boundary);
        let ops = &self.body;
        let mut changed = false;
        if has_content {
            for (old, new) in &ops.rename {
                if let Some(value) = form.get(old).map(<[u8]>::to_vec) {
                    form.set_simple(new, value);
                    form.delete(old);
                    changed = true;
                }
            }
            for name in &ops.remove {
                form.delete(name);
                changed = true;
            }
            for pair in &ops.replace {
                if form.get(&pair.name).is_some() {
                    form.delete(&pair.name);
                    form.set_simple(&pair.name, pair.value.render(env).into_bytes());
                    changed = true;
                }
            }
        }
        for pair in &ops.add {
            if form.get(&pair.name).is_none() {
                form.set_simple(&pair.name, pair.value.render(env).into_bytes());
                changed = true;
            }
        }
        if changed {
            let _ = kong
                .service_request()
                .set_raw_body(Bytes::from(form.encode(boundary)));
        }
    }

    async fn transform_body(&self, kong: &mut Kong<'_>, env: &Snapshot) {
        if self.body.is_empty() {
            return;
        }
        let content_type = kong
            .request()
            .header("content-type")
            .unwrap_or_default()
            .to_string();
        let media = content_type.to_ascii_lowercase();
        let json = media.contains("application/json");
        let form = media.contains("application/x-www-form-urlencoded");
        if media.contains("multipart/form-data") {
            return self.transform_multipart(kong, env, &content_type).await;
        }
        if !json && !form {
            return;
        }
        let raw = kong.request().raw_body().await.unwrap_or_default();
        let has_content = !raw.is_empty();
        let mut args: Map<String, Value> = if json {
            match serde_json::from_slice::<Value>(&raw) {
                Ok(Value::Object(map)) => map,
                _ if has_content => return,
                _ => Map::new(),
            }
        } else {
            to_args(parse_query(&String::from_utf8_lossy(&raw)))
                .into_iter()
                .collect()
        };
        if !apply(&self.body, &mut args, env, has_content) {
            return;
        }
        let body = if json {
            Value::Object(args).to_string()
        } else {
            let mut out = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &args {
                match v {
                    Value::Array(list) => {
                        for item in list {
                            out.append_pair(k, item.as_str().unwrap_or_default());
                        }
                    }
                    other => {
                        out.append_pair(k, other.as_str().unwrap_or_default());
                    }
                }
            }
            out.finish()
        };
        let _ = kong.service_request().set_raw_body(Bytes::from(body));
    }
}

#[async_trait]
impl Plugin for RequestTransformer {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let req = kong.request();
        let env = Snapshot {
            headers: req.headers().cloned().unwrap_or_default(),
            query: req.query(),
            captures: kong.context().captures.clone(),
        };
        if let Some(uri) = &self.uri {
            let path = uri.render(&env);
            let _ = kong.service_request().set_path(&path);
        }
        if let Some(method) = &self.method {
            let _ = kong.service_request().set_method(method.clone());
        }
        self.transform_headers(kong, &env);
        self.transform_body(kong, &env).await;
        self.transform_querystring(kong, &env);
        Flow::Continue
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
