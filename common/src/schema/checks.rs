//! Entity checks: Kong's `run_entity_check` and its checkers, with the same rules about
//! when a check runs (missing fields, fields that already failed, partial updates).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::errors::{ErrorNode, Errors};
use super::record::{EntityCheck, Match, Schema};
use super::validate::{REQUIRED, ValidationCtx, validate_field};
use super::values::{get_path, is_nonempty, lua_eq, quoted_list, set_path};

/// How a checker behaves when some of its fields are absent or invalid.
struct Behaviour {
    run_with_missing_fields: bool,
    run_with_invalid_fields: bool,
}

pub(crate) fn run_entity_checks(
    schema: &Schema,
    subschema: Option<&Arc<Schema>>,
    input: &Map<String, Value>,
    full_check: bool,
    ctx: ValidationCtx<'_>,
    errors: &mut Errors,
) {
    for check in &schema.entity_checks {
        run_check(schema, subschema, check, input, full_check, ctx, errors);
    }
    if let Some(sub) = subschema {
        for check in &sub.entity_checks {
            run_check(schema, subschema, check, input, full_check, ctx, errors);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_check(
    schema: &Schema,
    subschema: Option<&Arc<Schema>>,
    check: &EntityCheck,
    input: &Map<String, Value>,
    full_check: bool,
    ctx: ValidationCtx<'_>,
    errors: &mut Errors,
) {
    let (behaviour, fields, required): (Behaviour, Vec<&str>, Vec<&str>) = match check {
        EntityCheck::AtLeastOneOf(names) => (
            Behaviour {
                run_with_missing_fields: true,
                run_with_invalid_fields: true,
            },
            names.clone(),
            names.clone(),
        ),
        EntityCheck::OnlyOneOf(names) | EntityCheck::Distinct(names) => (
            Behaviour {
                run_with_missing_fields: false,
                run_with_invalid_fields: true,
            },
            names.clone(),
            names.clone(),
        ),
        EntityCheck::MutuallyRequired(names) | EntityCheck::MutuallyExclusive(names) => (
            Behaviour {
                run_with_missing_fields: true,
                run_with_invalid_fields: false,
            },
            names.clone(),
            names.clone(),
        ),
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => (
            Behaviour {
                run_with_missing_fields: true,
                run_with_invalid_fields: false,
            },
            set1.iter().chain(set2).copied().collect(),
            set1.iter().chain(set2).copied().collect(),
        ),
        EntityCheck::Conditional {
            if_field,
            then_field,
            ..
        } => (
            Behaviour {
                run_with_missing_fields: false,
                run_with_invalid_fields: true,
            },
            vec![if_field, then_field],
            vec![if_field],
        ),
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            then_at_least_one_of,
            else_then_at_least_one_of,
            ..
        } => (
            Behaviour {
                run_with_missing_fields: true,
                run_with_invalid_fields: true,
            },
            std::iter::once(*if_field)
                .chain(then_at_least_one_of.iter().copied())
                .chain(else_then_at_least_one_of.iter().copied())
                .collect(),
            Vec::new(),
        ),
        EntityCheck::Custom {
            field_sources,
            run_with_missing_fields,
            ..
        } => (
            Behaviour {
                run_with_missing_fields: *run_with_missing_fields,
                run_with_invalid_fields: false,
            },
            field_sources.clone(),
            field_sources.clone(),
        ),
    };

    let mut projection = Map::new();
    let mut missing = Vec::new();
    let mut all_nil = true;
    let mut all_ok = true;
    for name in &fields {
        match get_path(input, name) {
            None => {
                if !behaviour.run_with_missing_fields && required.contains(name) {
                    missing.push(*name);
                }
            }
            Some(value) => {
                all_nil = false;
                set_path(&mut projection, name, value.clone());
            }
        }
        if errors.get(name).is_some() {
            all_ok = false;
        }
    }
    if !all_ok && !behaviour.run_with_invalid_fields {
        return;
    }
    if all_nil && !(behaviour.run_with_missing_fields && full_check) {
        return;
    }
    if !missing.is_empty() {
        let message = if ctx.updating {
            "field required for entity check when updating"
        } else {
            "field required for entity check"
        };
        for name in missing {
            errors.set_path(name, ErrorNode::msg(message));
        }
        return;
    }

    let field_def = |name: &str| schema.resolve_path(name, subschema);
    let matches = |m: &Match, name: &str, value: &Value| {
        validate_field(&m.overlay(field_def(name)), value, ctx).is_ok()
    };
    let at_least_one = |names: &[&str]| names.iter().any(|n| is_nonempty(get_path(&projection, n)));
    let updating_prefix = if ctx.updating { "when updating, " } else { "" };

    let failure: Option<String> = match check {
        EntityCheck::AtLeastOneOf(names) => (!at_least_one(names)).then(|| {
            format!(
                "{updating_prefix}at least one of these fields must be non-empty: {}",
                quoted_list(names)
            )
        }),
        EntityCheck::OnlyOneOf(names) => {
            let count = names
                .iter()
                .filter(|n| is_nonempty(get_path(&projection, n)))
                .count();
            (count != 1).then(|| {
                format!(
                    "exactly one of these fields must be non-empty: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::Distinct(names) => {
            let values: Vec<&Value> = names
                .iter()
                .filter_map(|n| get_path(&projection, n))
                .filter(|v| is_nonempty(Some(v)))
                .collect();
            let duplicated = values
                .iter()
                .enumerate()
                .any(|(i, a)| values[i + 1..].iter().any(|b| lua_eq(a, b)));
            duplicated.then(|| {
                format!(
                    "values of these fields must be distinct: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::MutuallyRequired(names) => {
            let count = names
                .iter()
                .filter(|n| is_nonempty(get_path(&projection, n)))
                .count();
            (count != 0 && count != names.len()).then(|| {
                format!(
                    "all or none of these fields must be set: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::MutuallyExclusive(names) => {
            let count = names
                .iter()
                .filter(|n| is_nonempty(get_path(&projection, n)))
                .count();
            (count > 1).then(|| {
                format!(
                    "only one or none of these fields must be set: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            let set = |names: &[&'static str]| -> Vec<&str> {
                names
                    .iter()
                    .copied()
                    .filter(|n| is_nonempty(get_path(&projection, n)))
                    .collect()
            };
            let (a, b) = (set(set1), set(set2));
            (!a.is_empty() && !b.is_empty()).then(|| {
                format!(
                    "these sets are mutually exclusive: ({}), ({})",
                    quoted_list(&a),
                    quoted_list(&b)
                )
            })
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err,
        } => {
            let if_value = get_path(&projection, if_field)
                .cloned()
                .unwrap_or(Value::Null);
            if !matches(if_match, if_field, &if_value) {
                None
            } else {
                let then_value = get_path(&projection, then_field)
                    .cloned()
                    .unwrap_or(Value::Null);
                let conditional_message = || {
                    then_err.map_or_else(
                        || {
                            format!(
                                "failed conditional validation given value of field '{if_field}'"
                            )
                        },
                        |e| e.replace("%s", if_field),
                    )
                };
                if then_match.is_required() && then_value.is_null() {
                    errors.set_path(then_field, ErrorNode::msg(REQUIRED));
                    Some(format!(
                        "failed conditional validation given value of field '{if_field}'"
                    ))
                } else {
                    match validate_field(
                        &then_match.overlay(field_def(then_field)),
                        &then_value,
                        ctx,
                    ) {
                        Ok(()) => None,
                        Err(node) => {
                            errors.set_path(then_field, node);
                            Some(conditional_message())
                        }
                    }
                }
            }
        }
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err,
            else_match,
            else_then_at_least_one_of,
            else_then_err,
        } => match get_path(&projection, if_field) {
            None => None,
            Some(if_value) => {
                let (names, err) = if matches(if_match, if_field, if_value) {
                    (Some(then_at_least_one_of), then_err)
                } else {
                    match else_match {
                        Some(m) if matches(m, if_field, if_value) => {
                            (Some(else_then_at_least_one_of), else_then_err)
                        }
                        _ => (None, &None),
                    }
                };
                match names {
                    Some(names) if !at_least_one(names) => {
                        let list = quoted_list(names);
                        Some(err.map_or_else(
                            || {
                                format!(
                                    "{updating_prefix}at least one of these fields must be non-empty: {list}"
                                )
                            },
                            |e| e.replace("%s", &list),
                        ))
                    }
                    _ => None,
                }
            }
        },
        EntityCheck::Custom { check, .. } => check(&projection).err(),
    };
    if let Some(message) = failure {
        errors.push_entity(message);
    }
}
