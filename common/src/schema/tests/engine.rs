//! The engine on small ad-hoc schemas: every entity checker and validator.

use serde_json::{Map, Value, json};

use super::obj;
use crate::schema::Op;
use crate::schema::catalog;
use crate::schema::field::Field;
use crate::schema::process::{Context, process_auto_fields};
use crate::schema::record::{EntityCheck, Match, Schema};
use crate::schema::validate::{ValidationCtx, validate};

fn check(schema: &Schema, input: Value, full: bool) -> Result<(), Value> {
    let ctx = ValidationCtx {
        lookup: catalog(),
        updating: !full,
    };
    let processed = process_auto_fields(
        schema,
        &obj(input),
        &Context::new(if full { Op::Insert } else { Op::Update }),
        catalog(),
    )
    .map_err(|e| e.to_json())?;
    validate(schema, &processed, full, ctx).map_err(|e| e.to_json())
}

fn abc(check: EntityCheck) -> Schema {
    Schema::new("t")
        .field("a", Field::string())
        .field("b", Field::string())
        .field("c", Field::integer())
        .check(check)
}

#[test]
fn entity_checkers() {
    let cases: Vec<(EntityCheck, Value, Result<(), Value>)> = vec![
        (
            EntityCheck::at_least_one_of(&["a", "b"]),
            json!({"a": "x"}),
            Ok(()),
        ),
        (
            EntityCheck::at_least_one_of(&["a", "b"]),
            json!({"a": ""}),
            Err(
                json!({"@entity": ["at least one of these fields must be non-empty: 'a', 'b'"], "a": "length must be at least 1"}),
            ),
        ),
        (
            EntityCheck::only_one_of(&["a", "b"]),
            json!({"a": "x"}),
            Ok(()),
        ),
        (
            EntityCheck::only_one_of(&["a", "b"]),
            json!({"a": "x", "b": "y"}),
            Err(json!({"@entity": ["exactly one of these fields must be non-empty: 'a', 'b'"]})),
        ),
        (
            EntityCheck::only_one_of(&["a", "b"]),
            json!({}),
            Err(json!({"@entity": ["exactly one of these fields must be non-empty: 'a', 'b'"]})),
        ),
        (
            EntityCheck::distinct(&["a", "b"]),
            json!({"a": "x", "b": "x"}),
            Err(json!({"@entity": ["values of these fields must be distinct: 'a', 'b'"]})),
        ),
        (
            EntityCheck::distinct(&["a", "b"]),
            json!({"a": "x", "b": "y"}),
            Ok(()),
        ),
        (
            EntityCheck::mutually_required(&["a", "b"]),
            json!({"a": "x"}),
            Err(json!({"@entity": ["all or none of these fields must be set: 'a', 'b'"]})),
        ),
        (
            EntityCheck::mutually_required(&["a", "b"]),
            json!({}),
            Ok(()),
        ),
        (
            EntityCheck::mutually_exclusive(&["a", "b"]),
            json!({"a": "x", "b": "y"}),
            Err(json!({"@entity": ["only one or none of these fields must be set: 'a', 'b'"]})),
        ),
        (
            EntityCheck::mutually_exclusive(&["a", "b"]),
            json!({"a": "x"}),
            Ok(()),
        ),
        (
            EntityCheck::MutuallyExclusiveSets {
                set1: vec!["a"],
                set2: vec!["b", "c"],
            },
            json!({"a": "x", "c": 1}),
            Err(json!({"@entity": ["these sets are mutually exclusive: ('a'), ('c')"]})),
        ),
        (
            EntityCheck::conditional("a", Match::new().eq("x"), "c", Match::new().required()),
            json!({"a": "x"}),
            Err(
                json!({"@entity": ["failed conditional validation given value of field 'a'"], "c": "required field missing"}),
            ),
        ),
        (
            EntityCheck::conditional("a", Match::new().eq("x"), "c", Match::new().gt(5.0)),
            json!({"a": "x", "c": 1}),
            Err(
                json!({"@entity": ["failed conditional validation given value of field 'a'"], "c": "value must be greater than 5"}),
            ),
        ),
        (
            EntityCheck::conditional("a", Match::new().eq("x"), "c", Match::new().required()),
            json!({"a": "y"}),
            Ok(()),
        ),
        (
            EntityCheck::custom(&["a", "c"], |e| {
                if e["c"] == json!(2) {
                    Err(format!("bad {}", e["a"]))
                } else {
                    Ok(())
                }
            }),
            json!({"a": "x", "c": 2}),
            Err(json!({"@entity": ["bad \"x\""]})),
        ),
    ];
    for (i, (c, input, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            check(&abc(c), input.clone(), true),
            expected,
            "case {i}: {input}"
        );
    }
}

#[test]
fn partial_updates_skip_checks_on_absent_fields() {
    let schema = abc(EntityCheck::custom(&["a", "c"], |_| Err("never".into())));
    // Neither field given: the check does not run during an update.
    assert_eq!(check(&schema, json!({"b": "x"}), false), Ok(()));
    // One given: the other is reported as required for the check.
    assert_eq!(
        check(&schema, json!({"a": "x"}), false),
        Err(json!({"c": "field required for entity check when updating"}))
    );
}

#[test]
fn field_validators() {
    let cases: Vec<(Field, Value, Option<&str>)> = vec![
        (
            Field::integer().between(1, 3),
            json!(4),
            Some("value should be between 1 and 3"),
        ),
        (
            Field::number().gt(0.5),
            json!(0.5),
            Some("value must be greater than 0.5"),
        ),
        (
            Field::string().len_eq(2),
            json!("abc"),
            Some("length must be 2"),
        ),
        (
            Field::string().len_min(3),
            json!("ab"),
            Some("length must be at least 3"),
        ),
        (
            Field::string().len_max(1),
            json!("ab"),
            Some("length must be at most 1"),
        ),
        (Field::string().len_min(0), json!(""), None),
        (
            Field::array(Field::string()).len_max(1),
            json!(["a", "b"]),
            Some("length must be at most 1"),
        ),
        (
            Field::string().starts_with("/"),
            json!("x"),
            Some("should start with: /"),
        ),
        (
            Field::string().matches("^%d+$"),
            json!("1a"),
            Some("invalid value: 1a"),
        ),
        (
            Field::string().not_match("^a"),
            json!("ab"),
            Some("invalid value: ab"),
        ),
        (
            Field::string().match_none("x", "no x"),
            json!("axb"),
            Some("no x"),
        ),
        (
            Field::string().match_all("^a", "must start with a"),
            json!("ba"),
            Some("must start with a"),
        ),
        (
            Field::string().match_any(&["^a", "^b"], "a or b"),
            json!("c"),
            Some("a or b"),
        ),
        (
            Field::string().one_of(&["a", "b"]),
            json!("c"),
            Some("expected one of: a, b"),
        ),
        (
            Field::string().not_one_of(&["a", "b"]),
            json!("a"),
            Some("must not be one of: a, b"),
        ),
        (Field::string().eq("a"), json!("b"), Some("value must be a")),
        (
            Field::boolean().ne(true),
            json!(true),
            Some("value must not be true"),
        ),
        (
            Field::array(Field::string()).contains("x"),
            json!(["a"]),
            Some("expected to contain: x"),
        ),
        (
            Field::string().uuid(),
            json!("8A388226-80E8-4027-A486-25E4F7DB5D21"),
            None,
        ),
        (
            Field::string().uuid(),
            json!("8a388226"),
            Some("expected a valid UUID"),
        ),
        (
            Field::integer().timestamp(),
            json!(0),
            Some("expected a valid timestamp"),
        ),
        (
            Field::string().err("custom message").one_of(&["a"]),
            json!("b"),
            Some("custom message"),
        ),
        (Field::integer(), json!(1.0), None),
        (Field::integer(), json!(1.5), Some("expected an integer")),
        (Field::number(), json!("1"), Some("expected a number")),
        (
            Field::map(Field::string(), Field::integer()),
            json!({"a": "x"}),
            Some("expected an integer"),
        ),
        (
            Field::map(Field::string(), Field::integer()),
            json!([1]),
            Some("expected a string"),
        ),
        (
            Field::map(Field::string(), Field::integer()),
            json!("x"),
            Some("expected a map"),
        ),
        (Field::json(), json!({"anything": [1, "x"]}), None),
        (
            Field::string().eq_null(),
            json!("x"),
            Some("value must be null"),
        ),
        (
            Field::string().required(),
            json!(null),
            Some("required field missing"),
        ),
    ];
    for (i, (field, value, expected)) in cases.into_iter().enumerate() {
        let schema = Schema::new("t").field("f", field);
        let result = check(&schema, json!({ "f": value }), true);
        let expected = expected.map(|m| json!({ "f": m }));
        assert_eq!(result.err(), expected, "case {i}");
    }
}

#[test]
fn defaults_auto_and_sets() {
    let schema = Schema::new("t")
        .field("id", crate::schema::typedefs::uuid())
        .field("s", Field::set(Field::string()).default(json!(["a"])))
        .field(
            "r",
            Field::record(Schema::record(vec![("x", Field::integer().default(1))])).required(),
        )
        .field("n", Field::integer())
        .field("e", Field::array(Field::string()));
    let out = process_auto_fields(
        &schema,
        &obj(json!({"e": {}, "s": ["b", "b", "c"]})),
        &Context::new(Op::Insert),
        catalog(),
    )
    .unwrap();
    assert!(out["id"].is_string());
    assert_eq!(out["s"], json!(["b", "c"]));
    assert_eq!(out["r"], json!({"x": 1}));
    assert_eq!(out["n"], json!(null));
    assert_eq!(out["e"], json!([]), "an empty object is an empty array");
    let out =
        process_auto_fields(&schema, &Map::new(), &Context::new(Op::Update), catalog()).unwrap();
    assert!(out.is_empty(), "an update fills nothing: {out:?}");
}
