//! The intermediate tree of decoded arguments.
//!
//! Kong decodes form arguments into Lua tables, which are arrays and maps at once; the Admin
//! API then serialises them as JSON. [`Table`] keeps both parts so that merging follows Kong's
//! rules, and [`Table::into_json`] produces what cjson would: an array when only the sequence
//! part is used, an object otherwise.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Indices above this are kept as object keys instead of allocating an array that large.
const MAX_ARRAY_INDEX: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Leaf(String),
    Table(Table),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    pub(crate) seq: BTreeMap<usize, Node>,
    pub(crate) map: BTreeMap<String, Node>,
}

/// A step of a path into a table: a sequence index (1-based) or a map key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Index(usize),
    Name(String),
}

impl Table {
    /// Lua's `#t`: the length of the run of consecutive indices starting at 1.
    pub(crate) fn border(&self) -> usize {
        let mut n = 0;
        while self.seq.contains_key(&(n + 1)) {
            n += 1;
        }
        n
    }

    /// Lua's `table.insert(t, pos, v)`: shifts `pos..=#t` up by one, then sets `t[pos]`.
    pub(crate) fn insert_at(&mut self, pos: usize, value: Node) {
        let border = self.border();
        if pos <= border {
            for i in (pos..=border).rev() {
                if let Some(moved) = self.seq.remove(&i) {
                    self.seq.insert(i + 1, moved);
                }
            }
        }
        self.seq.insert(pos, value);
    }

    pub(crate) fn push(&mut self, value: Node) {
        let next = self.border() + 1;
        self.seq.insert(next, value);
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Node> {
        match key {
            Key::Index(i) => self.seq.get(i),
            Key::Name(n) => self.map.get(n),
        }
    }

    pub(crate) fn set(&mut self, key: Key, value: Node) {
        match key {
            Key::Index(i) => {
                self.seq.insert(i, value);
            }
            Key::Name(n) => {
                self.map.insert(n, value);
            }
        }
    }

    /// The table at `path`, creating empty tables where nothing is. A leaf in the way is
    /// replaced, which only happens for inputs that name the same key twice in one argument.
    pub(crate) fn table_at(&mut self, path: &[Key]) -> &mut Table {
        let Some((first, rest)) = path.split_first() else {
            return self;
        };
        let slot = match first {
            Key::Index(i) => self
                .seq
                .entry(*i)
                .or_insert_with(|| Node::Table(Table::default())),
            Key::Name(n) => self
                .map
                .entry(n.clone())
                .or_insert_with(|| Node::Table(Table::default())),
        };
        if !matches!(slot, Node::Table(_)) {
            *slot = Node::Table(Table::default());
        }
        match slot {
            Node::Table(table) => table.table_at(rest),
            Node::Leaf(_) => unreachable!("replaced by a table above"),
        }
    }

    /// Kong's `combine_arg`: merges `other` into `self`; where both hold a value under one
    /// key, the values are collected into a sequence (recursively for tables).
    pub(crate) fn merge(&mut self, other: Table) {
        for (index, value) in other.seq {
            merge_slot(self.seq.entry(index), value);
        }
        for (name, value) in other.map {
            merge_slot(self.map.entry(name), value);
        }
    }

    pub(crate) fn into_json(self) -> Value {
        let sequence_only = self.map.is_empty()
            && self
                .seq
                .keys()
                .next_back()
                .is_none_or(|max| *max <= MAX_ARRAY_INDEX);
        if sequence_only && !self.seq.is_empty() {
            let len = self.seq.keys().next_back().copied().unwrap_or(0);
            let mut items = vec![Value::Null; len];
            for (index, node) in self.seq {
                items[index - 1] = node.into_json();
            }
            return Value::Array(items);
        }
        if self.seq.is_empty() && self.map.is_empty() {
            return Value::Object(Map::new());
        }
        let mut object = Map::new();
        for (index, node) in self.seq {
            object.insert(index.to_string(), node.into_json());
        }
        for (name, node) in self.map {
            object.insert(name, node.into_json());
        }
        Value::Object(object)
    }
}

fn merge_slot<K: Ord>(slot: std::collections::btree_map::Entry<'_, K, Node>, value: Node) {
    use std::collections::btree_map::Entry;
    match slot {
        Entry::Vacant(vacant) => {
            vacant.insert(value);
        }
        Entry::Occupied(mut occupied) => {
            let existing = occupied.get_mut();
            match existing {
                Node::Table(table) => table.merge_value(value),
                Node::Leaf(_) => {
                    let previous = std::mem::replace(existing, Node::Table(Table::default()));
                    if let Node::Table(table) = existing {
                        table.push(previous);
                        table.merge_value(value);
                    }
                }
            }
        }
    }
}

impl Table {
    /// `combine_arg(to, arg)` for an arbitrary `arg`: a leaf is appended, a table merged.
    fn merge_value(&mut self, value: Node) {
        match value {
            Node::Leaf(_) => self.push(value),
            Node::Table(table) => self.merge(table),
        }
    }
}

impl Node {
    pub(crate) fn into_json(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Table(t) => t.into_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(s: &str) -> Node {
        Node::Leaf(s.to_owned())
    }

    #[test]
    fn insert_at_shifts_like_lua() {
        let mut t = Table::default();
        t.insert_at(1, leaf("p"));
        t.insert_at(1, leaf("x"));
        t.insert_at(2, leaf("y"));
        assert_eq!(t.into_json(), serde_json::json!(["x", "y", "p"]));
    }

    #[test]
    fn sparse_arrays_fill_holes_with_null() {
        let mut t = Table::default();
        t.set(Key::Index(2), leaf("a"));
        assert_eq!(t.into_json(), serde_json::json!([null, "a"]));
    }

    #[test]
    fn huge_indices_do_not_allocate_arrays() {
        let mut t = Table::default();
        t.set(Key::Index(4_000_000_000), leaf("a"));
        assert_eq!(t.into_json(), serde_json::json!({"4000000000": "a"}));
    }

    #[test]
    fn mixed_tables_become_objects() {
        let mut t = Table::default();
        t.set(Key::Index(1), leaf("a"));
        t.set(Key::Name("k".into()), leaf("b"));
        assert_eq!(t.into_json(), serde_json::json!({"1": "a", "k": "b"}));
    }

    #[test]
    fn merging_repeated_leaves_builds_a_sequence() {
        let mut a = Table::default();
        a.set(Key::Name("x".into()), leaf("1"));
        let mut b = Table::default();
        b.set(Key::Name("x".into()), leaf("2"));
        a.merge(b);
        assert_eq!(a.into_json(), serde_json::json!({"x": ["1", "2"]}));
    }
}
