//! Decoding one argument name (`a.b[1][c]`) into a nested table, as Kong's
//! `kong.api.arguments_decoder` does.

use super::tree::{Key, Node, Table};

/// A path segment as written between brackets or after a dot.
enum Segment {
    /// `[]`: append to the sequence.
    Append,
    Index(usize),
    Name(String),
}

impl Segment {
    fn parse(raw: &str) -> Segment {
        if raw.is_empty() {
            return Segment::Append;
        }
        match raw.parse::<usize>() {
            Ok(index) if index > 0 => Segment::Index(index),
            _ => Segment::Name(raw.to_owned()),
        }
    }

    /// A bracket segment that is non-empty and not a number makes the argument a map.
    fn is_map_bracket(raw: &str) -> bool {
        !raw.is_empty() && raw.trim().parse::<f64>().is_err()
    }
}

/// Decodes one (grouped) argument into its own table, ready to be merged with the others.
pub(crate) fn decode_arg(raw_name: &str, value: Node, allow_maps: bool) -> Table {
    let mut container = Table::default();
    if raw_name.starts_with('.') || raw_name.ends_with('.') {
        container.set(Key::Name(raw_name.to_owned()), value);
        return container;
    }
    let name = unescape_brackets(raw_name);
    let parts = split_outside_brackets(&name);
    if parts.is_empty() {
        decode_complex_arg(&mut container, &name, value, allow_maps);
        return container;
    }
    let mut bucket: Vec<Key> = Vec::new();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        let target = container.table_at(&bucket);
        if i == last {
            decode_complex_arg(target, part, value, allow_maps);
            break;
        }
        let inner = decode_complex_arg(target, part, Node::Table(Table::default()), allow_maps);
        bucket.extend(inner);
    }
    container
}

/// Puts `value` under `name` in `container`, following bracket syntax when present. Returns
/// the path (relative to `container`) of the table later parts of a dotted name go into.
fn decode_complex_arg(
    container: &mut Table,
    name: &str,
    value: Node,
    allow_maps: bool,
) -> Vec<Key> {
    if let Some(path) = decode_map_array_arg(container, name, &value, allow_maps) {
        return path;
    }
    container.set(Key::Name(name.to_owned()), value);
    vec![Key::Name(name.to_owned())]
}

fn decode_map_array_arg(
    container: &mut Table,
    name: &str,
    value: &Node,
    allow_maps: bool,
) -> Option<Vec<Key>> {
    // The delimiter must come after the first character: in `[5][x]`, `[5]` is the name.
    let delimiter = name
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '[' || *c == '.')
        .map(|(i, _)| i)?;
    let (param, keys_string) = name.split_at(delimiter);
    let (keys, is_map) = extract_keys(keys_string);
    if keys.is_empty() || (is_map && !allow_maps) {
        return None;
    }
    let mut path = Vec::with_capacity(keys.len() + 1);
    path.push(Segment::Name(param.to_owned()));
    path.extend(keys.iter().map(|k| Segment::parse(k)));
    Some(nest_path(container, &path, value.clone()))
}

/// Keys of `.key` and `[key]` groups, and whether any bracket holds a map key.
fn extract_keys(keys_string: &str) -> (Vec<String>, bool) {
    let mut keys = Vec::new();
    let mut is_map = false;
    let mut rest = keys_string;
    while let Some(c) = rest.chars().next() {
        if c == '.' {
            let after = &rest[1..];
            let end = after.find(['[', '.']).unwrap_or(after.len());
            if end > 0 {
                keys.push(after[..end].to_owned());
                rest = &after[end..];
                continue;
            }
        } else if c == '['
            && let Some(close) = rest.find(']')
        {
            let key = &rest[1..close];
            is_map |= Segment::is_map_bracket(key);
            keys.push(key.to_owned());
            rest = &rest[close + 1..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
    }
    (keys, is_map)
}

/// Kong's `nest_path`: walks `path` from `container`, creating tables, and stores `value`.
fn nest_path(container: &mut Table, path: &[Segment], value: Node) -> Vec<Key> {
    let mut prefix: Vec<Key> = Vec::new();
    let last = path.len() - 1;
    for (i, segment) in path.iter().enumerate() {
        let table = container.table_at(&prefix);
        if i == last {
            return match segment {
                Segment::Index(index) => {
                    table.insert_at(*index, value);
                    prefix.push(Key::Index(*index));
                    prefix
                }
                Segment::Append => {
                    match value {
                        Node::Table(values) => {
                            let count = values.border();
                            let mut values = values.seq;
                            for j in 1..=count {
                                if let Some(v) = values.remove(&j) {
                                    table.insert_at(j, v);
                                }
                            }
                        }
                        leaf => table.push(leaf),
                    }
                    prefix
                }
                Segment::Name(name) => {
                    table.set(Key::Name(name.clone()), value);
                    prefix.push(Key::Name(name.clone()));
                    prefix
                }
            };
        }
        let key = match segment {
            Segment::Append => Key::Index(1),
            Segment::Index(index) => Key::Index(*index),
            Segment::Name(name) => Key::Name(name.clone()),
        };
        if !matches!(table.get(&key), Some(Node::Table(_))) {
            table.set(key.clone(), Node::Table(Table::default()));
        }
        prefix.push(key);
    }
    prefix
}

/// Replaces percent-encoded brackets left in a decoded name (`a%5Bx%5D` → `a[x]`).
fn unescape_brackets(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if !lower.contains("%5b") {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        if lower[i..].starts_with("%5b")
            && let Some(close) = lower[i + 3..].find("%5d")
        {
            out.push('[');
            out.push_str(&name[i + 3..i + 3 + close]);
            out.push(']');
            i += 3 + close + 3;
            continue;
        }
        let c = name[i..].chars().next().unwrap_or('\0');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// Splits on dots that are outside brackets: `a.b[c.d].e` → `a`, `b[c.d]`, `e`.
fn split_outside_brackets(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < name.len() {
        let c = name[i..].chars().next().unwrap_or('.');
        if c == '.' {
            if let Some(s) = start.take() {
                parts.push(&name[s..i]);
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        i += c.len_utf8();
        // Bracket groups directly after a character may contain dots.
        while name[i..].starts_with('[') {
            match name[i..].find(']') {
                Some(close) => i += close + 1,
                None => break,
            }
        }
    }
    if let Some(s) = start {
        parts.push(&name[s..]);
    }
    parts
}
