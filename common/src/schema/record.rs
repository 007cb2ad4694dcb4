//! Schemas: an ordered list of fields plus entity checks, shorthand fields and subschemas.
//! An entity schema and a nested record share this type, as in Kong.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::field::{CustomValidator, Field, FieldType, MatchAny};

/// A record-level check over the projected fields it names (`custom_entity_check`).
pub type EntityCheckFn = fn(&Map<String, Value>) -> Result<(), String>;

/// Expands a shorthand field's value into real fields (`null` values allowed).
pub type ShorthandFn = fn(&Value) -> Map<String, Value>;

/// A schema: Kong's `fields`, `entity_checks`, `shorthand_fields` and subschemas.
#[derive(Clone, Default)]
pub struct Schema {
    /// The entity name (`"services"`), the plugin name for plugin subschemas, or `""`.
    pub name: &'static str,
    pub fields: Vec<(&'static str, Field)>,
    pub entity_checks: Vec<EntityCheck>,
    pub shorthand_fields: Vec<Shorthand>,
    /// The field whose value selects a subschema (`protocols` for routes, `name` for plugins).
    pub subschema_key: Option<&'static str>,
    /// Error when no subschema matches; `%s` is replaced by the key value.
    pub subschema_error: Option<&'static str>,
    pub subschemas: Vec<(String, Arc<Schema>)>,
    /// The entity accepts a top-level `ttl` (key-auth credentials).
    pub ttl: bool,
}

impl Schema {
    pub fn new(name: &'static str) -> Schema {
        Schema {
            name,
            ..Schema::default()
        }
    }

    /// An anonymous record schema from its fields.
    pub fn record(fields: Vec<(&'static str, Field)>) -> Schema {
        Schema {
            fields,
            ..Schema::default()
        }
    }

    pub fn field(mut self, name: &'static str, field: Field) -> Schema {
        self.fields.push((name, field));
        self
    }

    pub fn check(mut self, check: EntityCheck) -> Schema {
        self.entity_checks.push(check);
        self
    }

    pub fn shorthand(mut self, shorthand: Shorthand) -> Schema {
        self.shorthand_fields.push(shorthand);
        self
    }

    /// The definition of a top-level field of this schema (not subschema-aware).
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
    }

    /// The definition of a dotted path such as `config.redis.host`.
    pub fn get_path(&self, path: &str) -> Option<&Field> {
        match path.split_once('.') {
            None => self.get(path),
            Some((head, tail)) => self.get(head)?.record_schema()?.get_path(tail),
        }
    }

    /// The subschema selected by an entity's `subschema_key` value: a string names it
    /// directly; for an array the first element with a subschema wins.
    pub fn subschema_for(&self, input: &Map<String, Value>) -> Option<&Arc<Schema>> {
        let key = self.subschema_key?;
        let find = |name: &str| {
            self.subschemas
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
        };
        match input.get(key)? {
            Value::String(name) => find(name),
            Value::Array(items) => items.iter().filter_map(Value::as_str).find_map(find),
            _ => None,
        }
    }

    /// The fields of this schema with the subschema's definitions substituted, in order.
    pub fn fields_for<'a>(
        &'a self,
        subschema: Option<&'a Arc<Schema>>,
    ) -> impl Iterator<Item = (&'static str, &'a Field)> + 'a {
        self.fields.iter().map(move |(name, field)| {
            let field = subschema.and_then(|s| s.get(name)).unwrap_or(field);
            (*name, field)
        })
    }

    /// A field definition, subschema-aware.
    pub fn resolve<'a>(
        &'a self,
        name: &str,
        subschema: Option<&'a Arc<Schema>>,
    ) -> Option<&'a Field> {
        let base = self.get(name)?;
        Some(subschema.and_then(|s| s.get(name)).unwrap_or(base))
    }

    /// Like [`Schema::get_path`], resolving the first segment through the subschema.
    pub fn resolve_path<'a>(
        &'a self,
        path: &str,
        subschema: Option<&'a Arc<Schema>>,
    ) -> Option<&'a Field> {
        match path.split_once('.') {
            None => self.resolve(path, subschema),
            Some((head, tail)) => self
                .resolve(head, subschema)?
                .record_schema()?
                .get_path(tail),
        }
    }

    /// Kong makes every record field of an entity (recursively) required unless it says
    /// otherwise, so entities always carry their records' full structure.
    pub(crate) fn make_records_required(&mut self) {
        for (_, field) in &mut self.fields {
            make_field_records_required(field);
        }
    }
}

fn make_field_records_required(field: &mut Field) {
    if let FieldType::Record(schema) = &mut field.kind {
        if field.required.is_none() {
            field.required = Some(true);
        }
        Arc::make_mut(schema).make_records_required();
    }
}

/// A shorthand field: accepted on input, validated with `field`, then replaced by the
/// fields `expand` returns. A deprecated shorthand never overrides a real field's value.
#[derive(Clone)]
pub struct Shorthand {
    pub name: &'static str,
    pub field: Field,
    pub expand: ShorthandFn,
    pub deprecated: bool,
}

/// Cross-field rules (Kong's `entity_checks`). Field names may be dotted (`config.second`).
#[derive(Clone)]
pub enum EntityCheck {
    AtLeastOneOf(Vec<&'static str>),
    OnlyOneOf(Vec<&'static str>),
    Distinct(Vec<&'static str>),
    MutuallyRequired(Vec<&'static str>),
    MutuallyExclusive(Vec<&'static str>),
    MutuallyExclusiveSets {
        set1: Vec<&'static str>,
        set2: Vec<&'static str>,
    },
    /// If `if_field` passes `if_match`, `then_field` must pass `then_match`.
    Conditional {
        if_field: &'static str,
        if_match: Match,
        then_field: &'static str,
        then_match: Match,
        then_err: Option<&'static str>,
    },
    /// If `if_field` passes `if_match`, one of `then_at_least_one_of` must be non-empty;
    /// otherwise, if it passes `else_match`, one of `else_then_at_least_one_of` must be.
    ConditionalAtLeastOneOf {
        if_field: &'static str,
        if_match: Match,
        then_at_least_one_of: Vec<&'static str>,
        then_err: Option<&'static str>,
        else_match: Option<Match>,
        else_then_at_least_one_of: Vec<&'static str>,
        else_then_err: Option<&'static str>,
    },
    Custom {
        field_sources: Vec<&'static str>,
        run_with_missing_fields: bool,
        check: EntityCheckFn,
    },
}

impl EntityCheck {
    pub fn at_least_one_of(fields: &[&'static str]) -> EntityCheck {
        EntityCheck::AtLeastOneOf(fields.to_vec())
    }
    pub fn only_one_of(fields: &[&'static str]) -> EntityCheck {
        EntityCheck::OnlyOneOf(fields.to_vec())
    }
    pub fn distinct(fields: &[&'static str]) -> EntityCheck {
        EntityCheck::Distinct(fields.to_vec())
    }
    pub fn mutually_required(fields: &[&'static str]) -> EntityCheck {
        EntityCheck::MutuallyRequired(fields.to_vec())
    }
    pub fn mutually_exclusive(fields: &[&'static str]) -> EntityCheck {
        EntityCheck::MutuallyExclusive(fields.to_vec())
    }
    pub fn conditional(
        if_field: &'static str,
        if_match: Match,
        then_field: &'static str,
        then_match: Match,
    ) -> EntityCheck {
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err: None,
        }
    }
    pub fn custom(field_sources: &[&'static str], check: EntityCheckFn) -> EntityCheck {
        EntityCheck::Custom {
            field_sources: field_sources.to_vec(),
            run_with_missing_fields: false,
            check,
        }
    }
}

/// The `if_match`/`then_match` of a conditional check: attributes laid over the checked
/// field's own definition (as Kong does with a metatable), then validated together.
#[derive(Clone, Default)]
pub struct Match {
    pub attrs: Vec<MatchAttr>,
}

#[derive(Clone)]
pub enum MatchAttr {
    Required,
    Eq(Value),
    Ne(Value),
    OneOf(Vec<Value>),
    NotOneOf(Vec<Value>),
    Pattern(&'static str),
    MatchAny(MatchAny),
    Contains(Value),
    LenEq(usize),
    Gt(f64),
    Elements(Box<Field>),
    Custom(CustomValidator),
}

impl Match {
    pub fn new() -> Match {
        Match::default()
    }
    fn with(mut self, attr: MatchAttr) -> Match {
        self.attrs.push(attr);
        self
    }
    pub fn required(self) -> Match {
        self.with(MatchAttr::Required)
    }
    pub fn eq(self, value: impl Into<Value>) -> Match {
        self.with(MatchAttr::Eq(value.into()))
    }
    pub fn eq_null(self) -> Match {
        self.with(MatchAttr::Eq(Value::Null))
    }
    pub fn ne(self, value: impl Into<Value>) -> Match {
        self.with(MatchAttr::Ne(value.into()))
    }
    pub fn one_of<V: Into<Value> + Clone>(self, options: &[V]) -> Match {
        self.with(MatchAttr::OneOf(
            options.iter().cloned().map(Into::into).collect(),
        ))
    }
    pub fn not_one_of<V: Into<Value> + Clone>(self, options: &[V]) -> Match {
        self.with(MatchAttr::NotOneOf(
            options.iter().cloned().map(Into::into).collect(),
        ))
    }
    pub fn matches(self, pattern: &'static str) -> Match {
        self.with(MatchAttr::Pattern(pattern))
    }
    pub fn match_any(self, patterns: &[&'static str]) -> Match {
        self.with(MatchAttr::MatchAny(MatchAny {
            patterns: patterns.to_vec(),
            err: "",
        }))
    }
    pub fn contains(self, value: impl Into<Value>) -> Match {
        self.with(MatchAttr::Contains(value.into()))
    }
    pub fn len_eq(self, n: usize) -> Match {
        self.with(MatchAttr::LenEq(n))
    }
    pub fn gt(self, limit: f64) -> Match {
        self.with(MatchAttr::Gt(limit))
    }
    pub fn elements(self, field: Field) -> Match {
        self.with(MatchAttr::Elements(Box::new(field)))
    }
    pub fn custom(self, validator: CustomValidator) -> Match {
        self.with(MatchAttr::Custom(validator))
    }

    pub fn is_required(&self) -> bool {
        self.attrs.iter().any(|a| matches!(a, MatchAttr::Required))
    }

    /// The checked field's definition with these attributes laid over it.
    pub fn overlay(&self, base: Option<&Field>) -> Field {
        let mut field = base.cloned().unwrap_or_else(|| Field::new(FieldType::Json));
        for attr in &self.attrs {
            match attr {
                MatchAttr::Required => field.required = Some(true),
                MatchAttr::Eq(v) => field.eq = Some(v.clone()),
                MatchAttr::Ne(v) => field.ne = Some(v.clone()),
                MatchAttr::OneOf(v) => field.one_of = Some(v.clone()),
                MatchAttr::NotOneOf(v) => field.not_one_of = Some(v.clone()),
                MatchAttr::Pattern(p) => field.match_ = Some(p),
                MatchAttr::MatchAny(m) => field.match_any = Some(m.clone()),
                MatchAttr::Contains(v) => field.contains = Some(v.clone()),
                MatchAttr::LenEq(n) => field.len_eq = Some(*n),
                MatchAttr::Gt(n) => field.gt = Some(*n),
                MatchAttr::Custom(f) => field.custom_validator = Some(*f),
                MatchAttr::Elements(e) => match &mut field.kind {
                    FieldType::Array(old) | FieldType::Set(old) => *old = e.clone(),
                    _ => field.kind = FieldType::Array(e.clone()),
                },
            }
        }
        field
    }
}
