//! Text to JSON: a declarative file is JSON or YAML (Kong tries JSON first, then YAML).
//! YAML anchors, aliases and merge keys (`<<: *base`) are resolved.

use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

/// Why a text is not a declarative document (the text after Kong's
/// `failed parsing declarative configuration: `).
pub(crate) fn decode(text: &str) -> Result<Map<String, Value>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
        return Ok(map);
    }
    let mut yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    yaml.apply_merge().map_err(|e| e.to_string())?;
    match yaml_to_json(yaml)? {
        Value::Object(map) => Ok(map),
        _ => Err("expected an object".to_string()),
    }
}

fn yaml_to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(
                    Number::from_f64(f).ok_or_else(|| format!("unsupported number: {n}"))?,
                )
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut map = Map::with_capacity(mapping.len());
            for (key, value) in mapping {
                map.insert(key_text(key)?, yaml_to_json(value)?);
            }
            Value::Object(map)
        }
        // Tags (`!!str`, custom ones) carry no meaning for Kong's loader: keep the value.
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// Map keys become strings, as they would in JSON (`80: x` is the key `"80"`).
fn key_text(key: Yaml) -> Result<String, String> {
    match key {
        Yaml::String(s) => Ok(s),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Null => Ok("null".to_string()),
        Yaml::Tagged(tagged) => key_text(tagged.value),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            Err("mapping keys must be strings, numbers or booleans".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_yaml_give_the_same_document() {
        let json = decode(r#"{"_format_version": "3.0", "services": [{"port": 80}]}"#).unwrap();
        let yaml = decode("_format_version: \"3.0\"\nservices:\n- port: 80\n").unwrap();
        assert_eq!(json, yaml);
        assert_eq!(Value::Object(json)["services"][0]["port"], json!(80));
    }

    #[test]
    fn anchors_and_merge_keys_are_resolved() {
        let doc = decode(
            "base: &b\n  host: example.com\n  port: 80\nservices:\n- <<: *b\n  name: a\n- *b\n",
        )
        .unwrap();
        let doc = Value::Object(doc);
        assert_eq!(
            doc["services"][0],
            json!({"host": "example.com", "port": 80, "name": "a"})
        );
        assert_eq!(
            doc["services"][1],
            json!({"host": "example.com", "port": 80})
        );
    }

    #[test]
    fn non_objects_and_syntax_errors_are_refused() {
        assert_eq!(decode("bobby tables").unwrap_err(), "expected an object");
        assert_eq!(decode("").unwrap_err(), "expected an object");
        assert_eq!(decode("[1, 2]").unwrap_err(), "expected an object");
        assert!(decode("a: [1, 2").unwrap_err().contains("line"));
    }

    #[test]
    fn unquoted_versions_stay_numbers() {
        let doc = decode("_format_version: 1.1\n").unwrap();
        assert_eq!(doc["_format_version"], json!(1.1));
    }
}
