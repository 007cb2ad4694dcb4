//! A byte-keyed radix tree that answers "which stored keys are prefixes of this path?" in one
//! walk along the path, whatever the number of keys.
//!
//! It is built in one go from its keys (sorted, then split on their common prefixes) into a
//! few contiguous arrays (nodes, edge labels, child tables, values): building allocates
//! nothing per node, and a walk touches a handful of cache lines instead of chasing heap
//! pointers.

#[derive(Debug, Default, Clone, Copy)]
struct Node {
    label_start: u32,
    label_len: u32,
    child_start: u32,
    child_len: u32,
    value_start: u32,
    value_len: u32,
}

/// The frozen tree.
#[derive(Debug)]
pub struct PrefixTree<T> {
    nodes: Vec<Node>,
    labels: Vec<u8>,
    child_keys: Vec<u8>,
    child_nodes: Vec<u32>,
    values: Vec<T>,
}

impl<T> Default for PrefixTree<T> {
    fn default() -> Self {
        PrefixTree {
            nodes: vec![Node::default()],
            labels: Vec::new(),
            child_keys: Vec::new(),
            child_nodes: Vec::new(),
            values: Vec::new(),
        }
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T: Copy> PrefixTree<T> {
    /// Builds the tree holding `value` under `key` for each pair. Values under equal keys keep
    /// their order.
    pub fn from_keys(mut keys: Vec<(&[u8], T)>) -> PrefixTree<T> {
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut tree = PrefixTree::default();
        tree.values.reserve(keys.len());
        // (range of keys, depth of the parent, node slot to fill); the root has an empty label.
        let mut stack = vec![(0usize, keys.len(), 0usize, 0usize)];
        while let Some((lo, hi, parent_depth, slot)) = stack.pop() {
            let range = &keys[lo..hi];
            let depth = match (slot, range.first(), range.last()) {
                (0, _, _) | (_, None, _) | (_, _, None) => parent_depth,
                (_, Some(first), Some(last)) => common_prefix_len(first.0, last.0),
            };
            let label_start = tree.labels.len();
            if let Some(first) = range.first() {
                tree.labels.extend_from_slice(&first.0[parent_depth..depth]);
            }
            // Keys ending here sort before the longer keys sharing this prefix.
            let value_start = tree.values.len();
            let mut i = lo;
            while i < hi && keys[i].0.len() == depth {
                tree.values.push(keys[i].1);
                i += 1;
            }
            // Children: runs of keys with the same next byte.
            let child_start = tree.child_keys.len();
            while i < hi {
                let byte = keys[i].0[depth];
                let mut j = i;
                while j < hi && keys[j].0[depth] == byte {
                    j += 1;
                }
                tree.child_keys.push(byte);
                tree.child_nodes.push(tree.nodes.len() as u32);
                tree.nodes.push(Node::default());
                stack.push((i, j, depth, tree.nodes.len() - 1));
                i = j;
            }
            tree.nodes[slot] = Node {
                label_start: label_start as u32,
                label_len: (tree.labels.len() - label_start) as u32,
                child_start: child_start as u32,
                child_len: (tree.child_keys.len() - child_start) as u32,
                value_start: value_start as u32,
                value_len: (tree.values.len() - value_start) as u32,
            };
        }
        tree
    }
}

impl<T> PrefixTree<T> {
    /// Whether nothing was inserted.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Calls `f(key_len, values)` for every stored key that is a prefix of `path`, shortest
    /// first.
    pub fn for_each_prefix<'s>(&'s self, path: &[u8], mut f: impl FnMut(usize, &'s [T])) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        let mut depth = 0usize;
        loop {
            if node.value_len > 0 {
                let start = node.value_start as usize;
                f(depth, &self.values[start..start + node.value_len as usize]);
            }
            let Some(&next) = path.get(depth) else {
                return;
            };
            let start = node.child_start as usize;
            let keys = &self.child_keys[start..start + node.child_len as usize];
            let Some(slot) = keys.iter().position(|&k| k == next) else {
                return;
            };
            let child = &self.nodes[self.child_nodes[start + slot] as usize];
            let label_start = child.label_start as usize;
            let label = &self.labels[label_start..label_start + child.label_len as usize];
            let rest = &path[depth..];
            // A byte loop: labels are short, a libc memcmp call costs more than it saves.
            if rest.len() < label.len() || !label.iter().zip(rest).all(|(a, b)| a == b) {
                return;
            }
            depth += label.len();
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
        assert!(PrefixTree::<u32>::default().is_empty());
        let keys = [
            "/",
            "/my-route",
            "/my-route/hello",
            "/my",
            "/other",
            "/my-route",
        ];
        let t = PrefixTree::from_keys(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.as_bytes(), i as u32))
                .collect(),
        );
        assert!(!t.is_empty());
        assert_eq!(
            prefixes(&t, "/my-route/hello/world"),
            vec![(1, vec![0]), (3, vec![3]), (9, vec![1, 5]), (15, vec![2])]
        );
        assert_eq!(prefixes(&t, "/m"), vec![(1, vec![0])]);
        assert_eq!(prefixes(&t, "/othe"), vec![(1, vec![0])]);
        assert_eq!(prefixes(&t, ""), vec![]);
        assert_eq!(t.longest_prefix_len(b"/my-route/h"), Some(9));
        assert_eq!(t.longest_prefix_len(b"x"), None);
    }

    #[test]
    fn empty_key_matches_everything() {
        let t = PrefixTree::from_keys(vec![(&b"/a"[..], 8u32), (b"", 7)]);
        assert_eq!(prefixes(&t, ""), vec![(0, vec![7])]);
        assert_eq!(prefixes(&t, "/ab"), vec![(0, vec![7]), (2, vec![8])]);
    }

    #[test]
    fn many_keys_agree_with_a_scan() {
        let keys: Vec<String> = (0..2_000)
            .map(|i| format!("/svc-{}/{}", i % 97, i % 13))
            .chain((0..50).map(|i| format!("/s{i}")))
            .collect();
        let t = PrefixTree::from_keys(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.as_bytes(), i as u32))
                .collect(),
        );
        for path in [
            "/svc-5/3/x",
            "/svc-96/12",
            "/s1",
            "/s12/x",
            "/svc-",
            "/svc-10/1",
        ] {
            let mut expected: Vec<u32> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| path.starts_with(k.as_str()))
                .map(|(i, _)| i as u32)
                .collect();
            let mut got: Vec<u32> = prefixes(&t, path)
                .into_iter()
                .flat_map(|(_, v)| v)
                .collect();
            expected.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, expected, "{path}");
        }
    }
}
