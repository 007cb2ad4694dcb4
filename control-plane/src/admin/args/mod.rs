//! Kong's Admin API argument syntax for form-encoded and multipart bodies.
//!
//! Kong's clients flatten nested values: `paths[1]=/a&paths[2]=/b`, `paths[]=/a`,
//! `service.id=<uuid>`, `config.key_names[1]=apikey`, `headers.location[1]=x`,
//! `key[name]=v`, a repeated `snis=a&snis=b`, and percent-encoded brackets. This module turns
//! such `(name, value)` pairs into one JSON object whose leaves are all strings; converting
//! leaves to numbers, booleans and nulls is schema-directed and happens afterwards
//! (`common::schema`), exactly as Kong separates `decode` from `infer`.

mod decode;
mod tree;

use serde_json::Value;

use tree::{Node, Table};

/// Kong refuses requests with more than this many form or query arguments.
pub const MAX_ARGS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("Too many arguments")]
    TooManyArguments,
    #[error("invalid utf-8 in argument {0}")]
    InvalidUtf8(&'static str),
}

/// Whether bracketed map keys (`key[name]=v`) are honoured. Kong only does so for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brackets {
    MapsAllowed,
    ArraysOnly,
}

/// Splits an `application/x-www-form-urlencoded` body (or query string) into decoded pairs.
/// Invalid UTF-8 after percent-decoding is an error, never silently replaced.
pub fn parse_urlencoded(input: &[u8]) -> Result<Vec<(String, String)>, ArgsError> {
    let mut pairs = Vec::new();
    for piece in input.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_ARGS {
            return Err(ArgsError::TooManyArguments);
        }
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        };
        pairs.push((
            form_decode(name).ok_or(ArgsError::InvalidUtf8("name"))?,
            form_decode(value).ok_or(ArgsError::InvalidUtf8("value"))?,
        ));
    }
    Ok(pairs)
}

fn form_decode(raw: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).ok()
}

/// Decodes `(name, value)` pairs into one JSON object (leaves are strings). Values of a
/// repeated name are grouped first, in order, as Kong's request parser does.
pub fn decode_pairs(pairs: Vec<(String, String)>, brackets: Brackets) -> Result<Value, ArgsError> {
    if pairs.len() > MAX_ARGS {
        return Err(ArgsError::TooManyArguments);
    }
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in pairs {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    let allow_maps = brackets == Brackets::MapsAllowed;
    let mut combined = Table::default();
    for (name, mut values) in grouped {
        let node = if values.len() == 1 {
            Node::Leaf(values.remove(0))
        } else {
            let mut list = Table::default();
            for value in values {
                list.push(Node::Leaf(value));
            }
            Node::Table(list)
        };
        combined.merge(decode::decode_arg(&name, node, allow_maps));
    }
    Ok(match combined.into_json() {
        // A top-level sequence can only come from names like `[1]`; keep the body an object.
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| ((i + 1).to_string(), v))
                .collect(),
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests;
