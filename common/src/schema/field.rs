//! Field definitions: a type plus Kong's attributes (`required`, `default`, `auto`, ...) and
//! validators, built with a small fluent API that mirrors Kong's schema tables.
//!
//! ```
//! use common::schema::Field;
//! let port = Field::integer().required().default(80).between(0, 65535);
//! assert!(port.is_required());
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::record::Schema;

/// A custom field validator: `Err(message)` when the value is not acceptable. It only sees
/// values that already have the field's type.
pub type CustomValidator = fn(&Value) -> Result<(), String>;

/// The type of a field, with its element/key/value/record definitions.
#[derive(Clone)]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Array(Box<Field>),
    /// Like an array, but duplicates are dropped when the entity is processed.
    Set(Box<Field>),
    Map {
        keys: Box<Field>,
        values: Box<Field>,
    },
    Record(Arc<Schema>),
    /// A reference to another entity (`{"id": ...}`), by schema name.
    Foreign(&'static str),
    /// Any JSON value, not validated (Kong's `json` type without a JSON schema).
    Json,
}

impl FieldType {
    /// The type name as Kong's schemas spell it.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Array(_) => "array",
            FieldType::Set(_) => "set",
            FieldType::Map { .. } => "map",
            FieldType::Record(_) => "record",
            FieldType::Foreign(_) => "foreign",
            FieldType::Json => "json",
        }
    }
}

/// A `match_none`/`match_all` entry: a Lua pattern and the error given when it (does not)
/// match.
#[derive(Clone, Debug)]
pub struct PatternRule {
    pub pattern: &'static str,
    pub err: &'static str,
}

/// A `match_any` validator: the value must match one of `patterns`, else `err`.
#[derive(Clone, Debug)]
pub struct MatchAny {
    pub patterns: Vec<&'static str>,
    pub err: &'static str,
}

/// One field of a schema. Fields are plain data; validation lives in `validate.rs`.
#[derive(Clone)]
pub struct Field {
    pub kind: FieldType,
    /// `None` = not said (Kong's `nil`); entity records are made required when unset.
    pub required: Option<bool>,
    /// `Some(Value::Null)` is an explicit `default = null`.
    pub default: Option<Value>,
    pub auto: bool,
    pub unique: bool,
    pub immutable: bool,
    /// Not stored with the entity (certificate `snis`).
    pub transient: bool,
    /// Kong's `referenceable`/`encrypted` markers, kept for `/schemas` output.
    pub referenceable: bool,
    pub encrypted: bool,
    /// A placeholder specialised by each subschema (plugin `config`); never processed.
    pub abstract_: bool,
    /// Overrides the message of any failing validator.
    pub err: Option<&'static str>,
    pub on_delete: Option<&'static str>,
    // Validators, run in Kong's order (see `validate.rs`).
    pub eq: Option<Value>,
    pub ne: Option<Value>,
    pub not_one_of: Option<Vec<Value>>,
    pub one_of: Option<Vec<Value>>,
    pub gt: Option<f64>,
    pub timestamp: bool,
    pub uuid: bool,
    pub between: Option<(f64, f64)>,
    pub len_eq: Option<usize>,
    pub len_min: Option<usize>,
    pub len_max: Option<usize>,
    pub starts_with: Option<&'static str>,
    pub not_match: Option<&'static str>,
    pub match_none: Vec<PatternRule>,
    pub match_: Option<&'static str>,
    pub match_all: Vec<PatternRule>,
    pub match_any: Option<MatchAny>,
    pub contains: Option<Value>,
    pub custom_validator: Option<CustomValidator>,
    pub mutually_exclusive_subsets: Option<Vec<Vec<&'static str>>>,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("type", &self.kind.name())
            .field("required", &self.required)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Field {
    pub fn new(kind: FieldType) -> Field {
        Field {
            kind,
            required: None,
            default: None,
            auto: false,
            unique: false,
            immutable: false,
            transient: false,
            referenceable: false,
            encrypted: false,
            abstract_: false,
            err: None,
            on_delete: None,
            eq: None,
            ne: None,
            not_one_of: None,
            one_of: None,
            gt: None,
            timestamp: false,
            uuid: false,
            between: None,
            len_eq: None,
            len_min: None,
            len_max: None,
            starts_with: None,
            not_match: None,
            match_none: Vec::new(),
            match_: None,
            match_all: Vec::new(),
            match_any: None,
            contains: None,
            custom_validator: None,
            mutually_exclusive_subsets: None,
        }
    }

    pub fn string() -> Field {
        Field::new(FieldType::String)
    }
    pub fn integer() -> Field {
        Field::new(FieldType::Integer)
    }
    pub fn number() -> Field {
        Field::new(FieldType::Number)
    }
    pub fn boolean() -> Field {
        Field::new(FieldType::Boolean)
    }
    pub fn json() -> Field {
        Field::new(FieldType::Json)
    }
    pub fn array(elements: Field) -> Field {
        Field::new(FieldType::Array(Box::new(elements)))
    }
    pub fn set(elements: Field) -> Field {
        Field::new(FieldType::Set(Box::new(elements)))
    }
    pub fn map(keys: Field, values: Field) -> Field {
        Field::new(FieldType::Map {
            keys: Box::new(keys),
            values: Box::new(values),
        })
    }
    pub fn record(schema: Schema) -> Field {
        Field::new(FieldType::Record(Arc::new(schema)))
    }
    pub fn foreign(reference: &'static str) -> Field {
        Field::new(FieldType::Foreign(reference))
    }

    pub fn is_required(&self) -> bool {
        self.required == Some(true)
    }

    /// The schema of a record field.
    pub fn record_schema(&self) -> Option<&Arc<Schema>> {
        match &self.kind {
            FieldType::Record(schema) => Some(schema),
            _ => None,
        }
    }

    /// The element definition of an array or set field.
    pub fn elements(&self) -> Option<&Field> {
        match &self.kind {
            FieldType::Array(e) | FieldType::Set(e) => Some(e),
            _ => None,
        }
    }

    pub fn required(mut self) -> Field {
        self.required = Some(true);
        self
    }
    pub fn optional(mut self) -> Field {
        self.required = Some(false);
        self
    }
    pub fn default(mut self, value: impl Into<Value>) -> Field {
        self.default = Some(value.into());
        self
    }
    pub fn default_null(mut self) -> Field {
        self.default = Some(Value::Null);
        self
    }
    pub fn auto(mut self) -> Field {
        self.auto = true;
        self
    }
    pub fn unique(mut self) -> Field {
        self.unique = true;
        self
    }
    pub fn immutable(mut self) -> Field {
        self.immutable = true;
        self
    }
    pub fn transient(mut self) -> Field {
        self.transient = true;
        self
    }
    pub fn referenceable(mut self) -> Field {
        self.referenceable = true;
        self
    }
    pub fn encrypted(mut self) -> Field {
        self.encrypted = true;
        self
    }
    pub fn abstract_(mut self) -> Field {
        self.abstract_ = true;
        self
    }
    pub fn err(mut self, message: &'static str) -> Field {
        self.err = Some(message);
        self
    }
    pub fn on_delete(mut self, action: &'static str) -> Field {
        self.on_delete = Some(action);
        self
    }
    pub fn eq(mut self, value: impl Into<Value>) -> Field {
        self.eq = Some(value.into());
        self
    }
    /// `eq = null`: the field must be absent or null.
    pub fn eq_null(mut self) -> Field {
        self.eq = Some(Value::Null);
        self
    }
    pub fn ne(mut self, value: impl Into<Value>) -> Field {
        self.ne = Some(value.into());
        self
    }
    pub fn one_of<V: Into<Value> + Clone>(mut self, options: &[V]) -> Field {
        self.one_of = Some(options.iter().cloned().map(Into::into).collect());
        self
    }
    pub fn not_one_of<V: Into<Value> + Clone>(mut self, options: &[V]) -> Field {
        self.not_one_of = Some(options.iter().cloned().map(Into::into).collect());
        self
    }
    pub fn gt(mut self, limit: f64) -> Field {
        self.gt = Some(limit);
        self
    }
    pub fn timestamp(mut self) -> Field {
        self.timestamp = true;
        self
    }
    pub fn uuid(mut self) -> Field {
        self.uuid = true;
        self
    }
    pub fn between(mut self, min: impl Into<f64>, max: impl Into<f64>) -> Field {
        self.between = Some((min.into(), max.into()));
        self
    }
    pub fn len_eq(mut self, n: usize) -> Field {
        self.len_eq = Some(n);
        self
    }
    pub fn len_min(mut self, n: usize) -> Field {
        self.len_min = Some(n);
        self
    }
    pub fn len_max(mut self, n: usize) -> Field {
        self.len_max = Some(n);
        self
    }
    pub fn starts_with(mut self, prefix: &'static str) -> Field {
        self.starts_with = Some(prefix);
        self
    }
    /// `match`: the value must match this Lua pattern.
    pub fn matches(mut self, pattern: &'static str) -> Field {
        self.match_ = Some(pattern);
        self
    }
    pub fn not_match(mut self, pattern: &'static str) -> Field {
        self.not_match = Some(pattern);
        self
    }
    pub fn match_none(mut self, pattern: &'static str, err: &'static str) -> Field {
        self.match_none.push(PatternRule { pattern, err });
        self
    }
    pub fn match_all(mut self, pattern: &'static str, err: &'static str) -> Field {
        self.match_all.push(PatternRule { pattern, err });
        self
    }
    pub fn match_any(mut self, patterns: &[&'static str], err: &'static str) -> Field {
        self.match_any = Some(MatchAny {
            patterns: patterns.to_vec(),
            err,
        });
        self
    }
    pub fn contains(mut self, value: impl Into<Value>) -> Field {
        self.contains = Some(value.into());
        self
    }
    pub fn custom(mut self, validator: CustomValidator) -> Field {
        self.custom_validator = Some(validator);
        self
    }
    pub fn mutually_exclusive_subsets(mut self, subsets: &[&[&'static str]]) -> Field {
        self.mutually_exclusive_subsets = Some(subsets.iter().map(|s| s.to_vec()).collect());
        self
    }
}
