//! Validation errors as a tree, rendered exactly like Kong's `schema violation` errors.
//!
//! Kong collects errors in a table keyed by field name (`"@entity"` for entity checks,
//! nested tables for records and foreign keys, position-indexed tables for array
//! elements). The JSON body's `fields` is that table; the `message` flattens it one level
//! (`protocols.1: ...`, `service.id: ...`) with deeper tables in Lua's `pl.pretty` syntax.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

/// Errors of one schema level: entity-check messages plus per-field errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Errors {
    /// Messages of entity checks (`"@entity"`), in the order they were found.
    pub entity: Vec<String>,
    /// Field errors by field name; sorted, as Kong sorts them in messages.
    pub fields: BTreeMap<String, ErrorNode>,
}

/// The error of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorNode {
    Message(String),
    /// Errors of array/set elements by 1-based position.
    Elements(BTreeMap<usize, ErrorNode>),
    /// Errors inside a record or a foreign reference.
    Nested(Errors),
}

impl ErrorNode {
    pub fn msg(message: impl Into<String>) -> ErrorNode {
        ErrorNode::Message(message.into())
    }

    /// The JSON shape Kong puts in `fields`.
    pub fn to_json(&self) -> Value {
        match self {
            ErrorNode::Message(m) => Value::String(m.clone()),
            ErrorNode::Elements(items) => {
                let len = items.keys().max().copied().unwrap_or(0);
                Value::Array(
                    (1..=len)
                        .map(|i| items.get(&i).map_or(Value::Null, ErrorNode::to_json))
                        .collect(),
                )
            }
            ErrorNode::Nested(errors) => errors.to_json(),
        }
    }

    fn to_lua(&self) -> Lua {
        match self {
            ErrorNode::Message(m) => Lua::Str(m.clone()),
            ErrorNode::Elements(items) => Lua::Table(LuaTable::from_positions(
                items.iter().map(|(i, node)| (*i, node.to_lua())),
            )),
            ErrorNode::Nested(errors) => errors.to_lua(),
        }
    }
}

impl Errors {
    pub fn new() -> Errors {
        Errors::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entity.is_empty() && self.fields.is_empty()
    }

    /// Errors with a single field message (`{field: message}`).
    pub fn field(name: &str, message: impl Into<String>) -> Errors {
        let mut errors = Errors::new();
        errors.set(name, ErrorNode::msg(message));
        errors
    }

    pub fn set(&mut self, name: &str, node: ErrorNode) {
        self.fields.insert(name.to_string(), node);
    }

    pub fn get(&self, name: &str) -> Option<&ErrorNode> {
        self.fields.get(name)
    }

    /// Sets an error at a dotted path (`config.redis.host`), creating nested levels.
    pub fn set_path(&mut self, path: &str, node: ErrorNode) {
        match path.split_once('.') {
            None => self.set(path, node),
            Some((head, tail)) => {
                let entry = self
                    .fields
                    .entry(head.to_string())
                    .or_insert_with(|| ErrorNode::Nested(Errors::new()));
                if !matches!(entry, ErrorNode::Nested(_)) {
                    *entry = ErrorNode::Nested(Errors::new());
                }
                if let ErrorNode::Nested(inner) = entry {
                    inner.set_path(tail, node);
                }
            }
        }
    }

    pub fn push_entity(&mut self, message: impl Into<String>) {
        self.entity.push(message.into());
    }

    /// The `fields` object of Kong's error body.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if !self.entity.is_empty() {
            out.insert("@entity".to_string(), json!(self.entity));
        }
        for (name, node) in &self.fields {
            out.insert(name.clone(), node.to_json());
        }
        Value::Object(out)
    }

    fn to_lua(&self) -> Lua {
        let mut table = LuaTable::default();
        if !self.entity.is_empty() {
            table.hash.push((
                "@entity".to_string(),
                Lua::Table(LuaTable {
                    array: self.entity.iter().cloned().map(Lua::Str).collect(),
                    ..LuaTable::default()
                }),
            ));
        }
        for (name, node) in &self.fields {
            table.hash.push((name.clone(), node.to_lua()));
        }
        Lua::Table(table)
    }

    /// The whole table in Lua syntax, as `pl.pretty.write(t, "")` writes it (Kong's
    /// `declarative config is invalid: {services={{host="required field missing"}}}`).
    pub fn to_lua_compact(&self) -> String {
        lua_pretty(&self.to_lua(), "")
    }

    /// The flattened message parts, as Kong's `schema_violation` builds them: entity
    /// errors first, then fields in sorted order, one level of nesting spelled with dots.
    pub fn message_parts(&self) -> Vec<String> {
        let mut parts = self.entity.clone();
        for (name, node) in &self.fields {
            match node {
                ErrorNode::Message(m) => parts.push(format!("{name}: {m}")),
                ErrorNode::Elements(items) => {
                    for (i, item) in items {
                        parts.push(format!("{name}.{i}: {}", item.flat_text()));
                    }
                }
                ErrorNode::Nested(inner) => {
                    if !inner.entity.is_empty() {
                        let list = ErrorNode::Elements(
                            inner
                                .entity
                                .iter()
                                .enumerate()
                                .map(|(i, m)| (i + 1, ErrorNode::msg(m.clone())))
                                .collect(),
                        );
                        parts.push(format!("{name}.@entity: {}", list.flat_text()));
                    }
                    for (sub, item) in &inner.fields {
                        parts.push(format!("{name}.{sub}: {}", item.flat_text()));
                    }
                }
            }
        }
        parts
    }
}

impl ErrorNode {
    /// A message as text, a deeper table in `pl.pretty` syntax.
    fn flat_text(&self) -> String {
        match self {
            ErrorNode::Message(m) => m.clone(),
            other => lua_pretty(&other.to_lua(), "  "),
        }
    }
}

/// Kong's `schema violation` error (code 2).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaViolation {
    pub errors: Errors,
}

impl SchemaViolation {
    pub const CODE: u32 = 2;
    pub const NAME: &'static str = "schema violation";

    pub fn new(errors: Errors) -> SchemaViolation {
        SchemaViolation { errors }
    }

    /// A violation with one field error.
    pub fn field(name: &str, message: impl Into<String>) -> SchemaViolation {
        SchemaViolation::new(Errors::field(name, message))
    }

    /// `schema violation (f: m)` or `N schema violations (f1: m1; f2: m2)`.
    pub fn message(&self) -> String {
        let parts = self.errors.message_parts();
        if parts.len() == 1 {
            format!("schema violation ({})", parts[0])
        } else {
            format!("{} schema violations ({})", parts.len(), parts.join("; "))
        }
    }

    /// The full error body: `{"code":2,"name":"schema violation","message":...,"fields":...}`.
    pub fn to_json(&self) -> Value {
        json!({
            "code": Self::CODE,
            "name": Self::NAME,
            "message": self.message(),
            "fields": self.errors.to_json(),
        })
    }
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for SchemaViolation {}

/// A value as a Lua table/scalar, for `pl.pretty.write`.
#[derive(Debug, Clone)]
enum Lua {
    Str(String),
    /// Already rendered as Lua's `tostring` would (numbers, booleans, `null`).
    Raw(String),
    Table(LuaTable),
}

#[derive(Debug, Clone, Default)]
struct LuaTable {
    /// The sequence part `t[1..n]`.
    array: Vec<Lua>,
    /// String keys, sorted.
    hash: Vec<(String, Lua)>,
    /// Numeric keys past a hole in the sequence.
    sparse: Vec<(usize, Lua)>,
}

impl LuaTable {
    fn from_positions(items: impl Iterator<Item = (usize, Lua)>) -> LuaTable {
        let mut table = LuaTable::default();
        for (i, value) in items {
            if table.sparse.is_empty() && i == table.array.len() + 1 {
                table.array.push(value);
            } else {
                table.sparse.push((i, value));
            }
        }
        table
    }
}

fn json_to_lua(value: &Value) -> Lua {
    match value {
        Value::Null => Lua::Raw("null".to_string()),
        Value::Bool(b) => Lua::Raw(b.to_string()),
        Value::Number(n) => Lua::Raw(lua_number(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Lua::Str(s.clone()),
        Value::Array(items) => Lua::Table(LuaTable {
            array: items.iter().map(json_to_lua).collect(),
            ..LuaTable::default()
        }),
        Value::Object(map) => {
            let mut hash: Vec<(String, Lua)> = map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_lua(v)))
                .collect();
            hash.sort_by(|a, b| a.0.cmp(&b.0));
            Lua::Table(LuaTable {
                hash,
                ..LuaTable::default()
            })
        }
    }
}

/// Renders JSON as Kong renders tables in error messages with `pl.pretty.write(t, "")`:
/// `{consumer=null,name="basic-auth",service={id="..."}}` (keys sorted, `null` for JSON null).
pub fn lua_compact(value: &Value) -> String {
    lua_pretty(&json_to_lua(value), "")
}

/// Lua's `tostring` for numbers (`%.14g`): integers without a decimal point.
pub fn lua_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else if n.is_nan() {
        "nan".to_string()
    } else if n.is_infinite() {
        if n > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        let s = format!("{n}");
        if s.len() > 16 { format!("{n:e}") } else { s }
    }
}

const LUA_KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !LUA_KEYWORDS.contains(&key)
}

/// `pl.stringx.quote_string`: long brackets for multi-line text, `%q` otherwise.
fn quote_string(s: &str) -> String {
    let has_long_quote =
        s.contains("[[") || s.contains("]]") || s.contains("[=") || s.contains("]=");
    if s.contains('\n') || has_long_quote {
        let mut level = 0;
        while s.contains(&format!("]{}]", "=".repeat(level))) {
            level += 1;
        }
        let eq = "=".repeat(level);
        let body = if s.starts_with('\n') {
            format!("\n{s}")
        } else {
            s.to_string()
        };
        format!("[{eq}[{body}]{eq}]")
    } else {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\r' => out.push_str("\\r"),
                '\0' => out.push_str("\\000"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// A port of `pl.pretty.write(tbl, space)`.
fn lua_pretty(value: &Lua, space: &str) -> String {
    let mut w = PrettyWriter {
        lines: Vec::new(),
        line: String::new(),
        space,
        set: if space.is_empty() { "=" } else { " = " },
    };
    w.write(value, "", space);
    w.eat_last_comma();
    w.lines.join(if space.is_empty() { "" } else { "\n" })
}

struct PrettyWriter<'a> {
    lines: Vec<String>,
    line: String,
    space: &'a str,
    set: &'static str,
}

impl PrettyWriter<'_> {
    fn put(&mut self, s: &str) {
        self.line.push_str(s);
    }

    fn putln(&mut self, s: &str) {
        if self.line.is_empty() {
            self.lines.push(s.to_string());
        } else {
            self.line.push_str(s);
            self.lines.push(std::mem::take(&mut self.line));
        }
    }

    fn eat_last_comma(&mut self) {
        if let Some(last) = self.lines.last_mut()
            && last.ends_with(',')
        {
            last.pop();
        }
    }

    fn write(&mut self, value: &Lua, old_indent: &str, indent: &str) {
        match value {
            Lua::Str(s) => self.putln(&format!("{},", quote_string(s))),
            Lua::Raw(s) => self.putln(&format!("{s},")),
            Lua::Table(t) => {
                let new_indent = format!("{indent}{}", self.space);
                self.putln("{");
                for item in &t.array {
                    self.put(indent);
                    self.write(item, indent, &new_indent);
                }
                for (key, item) in &t.hash {
                    let key = if is_identifier(key) {
                        key.clone()
                    } else {
                        let quoted = quote_string(key);
                        if quoted.starts_with('[') {
                            format!("[ {quoted} ]")
                        } else {
                            format!("[{quoted}]")
                        }
                    };
                    self.put(&format!("{indent}{key}{}", self.set));
                    self.write(item, indent, &new_indent);
                }
                for (i, item) in &t.sparse {
                    self.put(&format!("{indent}[{i}]{}", self.set));
                    self.write(item, indent, &new_indent);
                }
                self.eat_last_comma();
                self.putln(&format!("{old_indent}}},"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn single_error_message() {
        let v = SchemaViolation::field("host", "required field missing");
        assert_eq!(
            v.message(),
            "schema violation (host: required field missing)"
        );
        assert_eq!(
            v.to_json(),
            json!({"code": 2, "name": "schema violation",
                   "message": "schema violation (host: required field missing)",
                   "fields": {"host": "required field missing"}})
        );
    }

    #[test]
    fn several_errors_are_sorted_and_counted() {
        let mut e = Errors::new();
        e.set("path", ErrorNode::msg("should start with: /"));
        e.set("host", ErrorNode::msg("required field missing"));
        let v = SchemaViolation::new(e);
        assert_eq!(
            v.message(),
            "2 schema violations (host: required field missing; path: should start with: /)"
        );
    }

    #[test]
    fn entity_errors_come_first_and_are_arrays() {
        let mut e = Errors::new();
        e.set("hash_fallback", ErrorNode::msg("expected one of: none"));
        e.push_entity("failed conditional validation given value of field 'hash_on'");
        let v = SchemaViolation::new(e);
        assert_eq!(
            v.message(),
            "2 schema violations (failed conditional validation given value of field 'hash_on'; hash_fallback: expected one of: none)"
        );
        assert_eq!(
            v.errors.to_json()["@entity"],
            json!(["failed conditional validation given value of field 'hash_on'"])
        );
    }

    #[test]
    fn element_errors_use_positions_in_message_and_arrays_in_fields() {
        let mut e = Errors::new();
        e.set(
            "protocols",
            ErrorNode::Elements([(1, ErrorNode::msg("expected one of: http"))].into()),
        );
        e.set(
            "paths",
            ErrorNode::Elements([(2, ErrorNode::msg("bad"))].into()),
        );
        let v = SchemaViolation::new(e);
        assert_eq!(
            v.message(),
            "2 schema violations (paths.2: bad; protocols.1: expected one of: http)"
        );
        assert_eq!(v.errors.to_json()["paths"], json!([null, "bad"]));
        assert_eq!(
            v.errors.to_json()["protocols"],
            json!(["expected one of: http"])
        );
    }

    #[test]
    fn nested_errors_flatten_one_level_and_pretty_print_deeper() {
        let mut e = Errors::new();
        e.set_path("service.id", ErrorNode::msg("missing primary key"));
        assert_eq!(
            SchemaViolation::new(e).message(),
            "schema violation (service.id: missing primary key)"
        );

        let mut e = Errors::new();
        e.set_path(
            "config.redis.host",
            ErrorNode::msg("required field missing"),
        );
        e.set_path(
            "config.key_names",
            ErrorNode::Elements([(1, ErrorNode::msg("bad header"))].into()),
        );
        assert_eq!(
            SchemaViolation::new(e).message(),
            "2 schema violations (config.key_names: {\n  \"bad header\"\n}; config.redis: {\n  host = \"required field missing\"\n})"
        );
    }

    #[test]
    fn nested_entity_errors() {
        let mut inner = Errors::new();
        inner.push_entity("at least one of these fields must be non-empty: 'config.second'");
        let mut e = Errors::new();
        e.set("config", ErrorNode::Nested(inner));
        let v = SchemaViolation::new(e);
        assert_eq!(
            v.message(),
            "schema violation (config.@entity: {\n  \"at least one of these fields must be non-empty: 'config.second'\"\n})"
        );
        assert_eq!(
            v.errors.to_json(),
            json!({"config": {"@entity": ["at least one of these fields must be non-empty: 'config.second'"]}})
        );
    }

    #[test]
    fn compact_rendering_matches_kong_unique_violation_text() {
        let key =
            json!({"name": "basic-auth", "route": null, "service": {"id": "x"}, "consumer": null});
        assert_eq!(
            lua_compact(&key),
            r#"{consumer=null,name="basic-auth",route=null,service={id="x"}}"#
        );
        assert_eq!(
            lua_compact(&json!({"name": "non-existing"})),
            r#"{name="non-existing"}"#
        );
        assert_eq!(lua_compact(&json!({"port": 80})), "{port=80}");
    }

    #[test]
    fn lua_numbers() {
        assert_eq!(lua_number(80.0), "80");
        assert_eq!(lua_number(0.02), "0.02");
        assert_eq!(lua_number(-1.0), "-1");
    }
}
