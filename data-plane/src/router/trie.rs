//! A byte-keyed radix tree that answers "which stored keys are prefixes of this path?" in one
//! walk along the path, whatever the number of keys.

/// One node: the edge label leading to it, its children (sorted by the first byte of their
/// label) and the values stored under the key that ends here.
#[derive(Debug)]
struct Node<T> {
    label: Box<[u8]>,
    first_bytes: Vec<u8>,
    children: Vec<u32>,
    values: Vec<T>,
}

impl<T> Node<T> {
    fn new(label: &[u8]) -> Node<T> {
        Node {
            label: label.into(),
            first_bytes: Vec::new(),
            children: Vec::new(),
            values: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct PrefixTree<T> {
    nodes: Vec<Node<T>>,
}

impl<T> Default for PrefixTree<T> {
    fn default() -> Self {
        PrefixTree {
            nodes: vec![Node::new(b"")],
        }
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T> PrefixTree<T> {
    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && self.nodes[0].values.is_empty()
    }

    /// Appends `value` to the values stored under `key`.
    pub fn insert(&mut self, key: &[u8], value: T) {
        let mut node = 0usize;
        let mut rest = key;
        loop {
            let Some(&first) = rest.first() else {
                self.nodes[node].values.push(value);
                return;
            };
            match self.nodes[node].first_bytes.binary_search(&first) {
                Err(slot) => {
                    let child = self.push_node(Node::new(rest));
                    self.link(node, slot, first, child);
                    self.nodes[child].values.push(value);
                    return;
                }
                Ok(slot) => {
                    let child = self.nodes[node].children[slot] as usize;
                    let shared = common_prefix_len(&self.nodes[child].label, rest);
                    if shared < self.nodes[child].label.len() {
                        self.split(node, slot, shared);
                    }
                    node = self.nodes[node].children[slot] as usize;
                    rest = &rest[shared..];
                }
            }
        }
    }

    fn push_node(&mut self, n: Node<T>) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn link(&mut self, parent: usize, slot: usize, first: u8, child: usize) {
        let child = u32::try_from(child).unwrap_or(u32::MAX);
        let p = &mut self.nodes[parent];
        p.first_bytes.insert(slot, first);
        p.children.insert(slot, child);
    }

    /// Splits the child at `slot` of `parent` after `at` bytes of its label, inserting a new
    /// intermediate node that owns the shared part.
    fn split(&mut self, parent: usize, slot: usize, at: usize) {
        let child = self.nodes[parent].children[slot] as usize;
        let label = std::mem::take(&mut self.nodes[child].label);
        let (head, tail) = label.split_at(at);
        self.nodes[child].label = tail.into();
        let mid = self.push_node(Node::new(head));
        let mid_u32 = u32::try_from(mid).unwrap_or(u32::MAX);
        self.nodes[mid].first_bytes.push(tail[0]);
        self.nodes[mid].children.push(child as u32);
        self.nodes[parent].children[slot] = mid_u32;
    }

    /// Calls `f(key_len, values)` for every stored key that is a prefix of `path`, shortest
    /// first.
    pub fn for_each_prefix<'s>(&'s self, path: &[u8], mut f: impl FnMut(usize, &'s [T])) {
        let mut node = &self.nodes[0];
        let mut depth = 0usize;
        loop {
            if !node.values.is_empty() {
                f(depth, &node.values);
            }
            let Some(&next) = path.get(depth) else {
                return;
            };
            let Ok(slot) = node.first_bytes.binary_search(&next) else {
                return;
            };
            let child = &self.nodes[node.children[slot] as usize];
            if !path[depth..].starts_with(&child.label) {
                return;
            }
            depth += child.label.len();
            node = child;
        }
    }

    /// The length of the longest stored key that is a prefix of `path`.
    pub fn longest_prefix_len(&self, path: &[u8]) -> Option<usize> {
        let mut longest = None;
        self.for_each_prefix(path, |len, _| longest = Some(len));
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(t: &PrefixTree<u32>, path: &str) -> Vec<(usize, Vec<u32>)> {
        let mut out = Vec::new();
        t.for_each_prefix(path.as_bytes(), |len, v| out.push((len, v.to_vec())));
        out
    }

    #[test]
    fn finds_all_prefixes_in_order() {
        let mut t = PrefixTree::default();
        assert!(t.is_empty());
        for (i, k) in [
            "/",
            "/my-route",
            "/my-route/hello",
            "/my",
            "/other",
            "/my-route",
        ]
        .iter()
        .enumerate()
        {
            t.insert(k.as_bytes(), i as u32);
        }
        assert!(!t.is_empty());
        assert_eq!(
            prefixes(&t, "/my-route/hello/world"),
            vec![(1, vec![0]), (3, vec![3]), (9, vec![1, 5]), (15, vec![2])]
        );
        assert_eq!(prefixes(&t, "/m"), vec![(1, vec![0])]);
        assert_eq!(prefixes(&t, ""), vec![]);
        assert_eq!(t.longest_prefix_len(b"/my-route/h"), Some(9));
        assert_eq!(t.longest_prefix_len(b"x"), None);
    }

    #[test]
    fn empty_key_matches_everything() {
        let mut t = PrefixTree::default();
        t.insert(b"", 7u32);
        t.insert(b"/a", 8);
        assert_eq!(prefixes(&t, ""), vec![(0, vec![7])]);
        assert_eq!(prefixes(&t, "/ab"), vec![(0, vec![7]), (2, vec![8])]);
    }
}
