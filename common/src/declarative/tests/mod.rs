//! Tests of the declarative loader: the document format, nesting, references and ids
//! (`parse`), Kong's error shapes (`errors`, citing `shared/reference/kong-behaviours.md`
//! as #N), export (`render`) and the reference files (`fixtures`).

#![allow(clippy::unwrap_used)]

mod errors;
mod fixtures;
mod parse;
mod render;

use serde_json::{Map, Value};

use super::{Declarative, DeclarativeError, InvalidConfig, parse};
use crate::model::EntityKind;

/// Parses a document that must be valid.
fn ok(text: &str) -> Declarative {
    match parse(text) {
        Ok(d) => d,
        Err(e) => panic!("expected a valid configuration, got:\n{}", e.report()),
    }
}

/// Parses a document that must be invalid.
fn invalid(text: &str) -> InvalidConfig {
    match parse(text) {
        Ok(_) => panic!("expected an invalid configuration"),
        Err(DeclarativeError::Invalid(invalid)) => *invalid,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The entities of one kind.
fn of(d: &Declarative, kind: EntityKind) -> Vec<&Map<String, Value>> {
    d.entities
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, e)| e)
        .collect()
}

/// The one entity of a kind with `field == value`.
fn find<'a>(
    d: &'a Declarative,
    kind: EntityKind,
    field: &str,
    value: &str,
) -> &'a Map<String, Value> {
    let found: Vec<_> = of(d, kind)
        .into_iter()
        .filter(|e| e.get(field).and_then(Value::as_str) == Some(value))
        .collect();
    assert_eq!(found.len(), 1, "{} with {field} = {value}", kind.name());
    found[0]
}

fn id(entity: &Map<String, Value>) -> &str {
    entity["id"].as_str().unwrap()
}

/// The entities without their timestamps (which differ from load to load), ordered by
/// kind and id: the set of entities, whatever order a file listed them in.
fn timeless(
    entities: &[(EntityKind, Map<String, Value>)],
) -> Vec<(EntityKind, Map<String, Value>)> {
    let mut out: Vec<(EntityKind, Map<String, Value>)> = entities
        .iter()
        .map(|(k, e)| {
            let mut e = e.clone();
            e.remove("created_at");
            e.remove("updated_at");
            (*k, e)
        })
        .collect();
    out.sort_by(|a, b| (a.0, id(&a.1)).cmp(&(b.0, id(&b.1))));
    out
}
