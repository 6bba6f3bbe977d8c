//! qpipe's `ResourceHierarchy`, used for both `resources` (rooted at `https://`) and `problems`
//! (rooted at `i4x://`): a tree of URIs with one node per path level, ids assigned top-down in
//! creation order and kept across loads.

use crate::fingerprint::{Fingerprint, FingerprintMap};

/// [`Node::extends`] of a node whose text is its whole URI.
const WHOLE: u32 = u32::MAX;

/// What an `Option<i64>` of a node holds when it is `None` (ids and type ids are never this).
const NO_ID: i64 = i64::MIN;

/// What [`Node::child_number`] holds when the URI has no trailing number.
const NO_NUMBER: u8 = u8::MAX;

/// One node of a hierarchy. 64 bytes: a long log's resources are hundreds of thousands of nodes
/// (`BENCHMARKS.md`, "Hierarchy nodes of 64 bytes"), so optional ids are kept as `i64` with a
/// sentinel, and the name only until the node's row is written.
#[derive(Debug, Clone)]
pub struct Node {
    /// The row id.
    pub id: i64,
    /// What the node's URI adds to the URI of the node at [`Node::extends`]: its own path level.
    /// A level's URI is its parent's and one more level, so a node keeping the whole of it
    /// would hold every level above it again: at 1M events, 12 MiB of the resources' 68,000
    /// URIs (`BENCHMARKS.md`, "Hierarchy nodes keep only their own path level").
    /// [`Hierarchy::uri`] puts the levels back together.
    text: Box<str>,
    /// The name (resources: display name or module name), until the row is written.
    name: Option<Box<str>>,
    /// The parent node's id ([`NO_ID`] for the root).
    parent: i64,
    /// A value attached by the first event that reaches the node (resources: the type id;
    /// problems: the resource id), or [`NO_ID`].
    attached: i64,
    /// The index of the node whose URI `text` extends, or [`WHOLE`]: `text` is the whole URI
    /// (a root, a level without a root above it, or a node read from the database, whose URI
    /// need not extend its parent's).
    extends: u32,
    /// The trailing `/<n>/` of the URI (problems' `problem_child_number`): one or two digits,
    /// or [`NO_NUMBER`].
    child_number: u8,
    /// Whether the node was created by an event (a leaf) rather than as an intermediate level.
    leaf: bool,
    /// Whether the row is already in the database.
    stored: bool,
    /// Whether `urls` has the row that is this node's address: its URI under its id (resources
    /// of databases that number `urls` as resources).
    addressed: bool,
}

/// An optional id as a node keeps it.
fn packed(id: Option<i64>) -> i64 {
    id.unwrap_or(NO_ID)
}

fn unpacked(id: i64) -> Option<i64> {
    (id != NO_ID).then_some(id)
}

impl Node {
    /// The parent node's id (`None` for the root).
    pub fn parent(&self) -> Option<i64> {
        unpacked(self.parent)
    }

    /// The value attached by the first event that reached the node.
    pub fn attached(&self) -> Option<i64> {
        unpacked(self.attached)
    }

    /// Attaches `value` (resources: the type id; problems: the resource id).
    pub fn attach(&mut self, value: i64) {
        debug_assert_ne!(value, NO_ID);
        self.attached = value;
    }

    /// The trailing `/<n>/` of the URI (problems' `problem_child_number`).
    pub fn child_number(&self) -> Option<u8> {
        (self.child_number != NO_NUMBER).then_some(self.child_number)
    }

    /// Whether the node was created by an event (a leaf) rather than as an intermediate level.
    pub fn leaf(&self) -> bool {
        self.leaf
    }

    /// Whether the row is already in the database (or being written).
    pub fn stored(&self) -> bool {
        self.stored
    }

    /// The node's name, while its row is not yet written.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Names the node.
    pub fn set_name(&mut self, name: Option<Box<str>>) {
        self.name = name;
    }

    /// Takes the name, to write the node's row: nothing reads it afterwards.
    pub fn take_name(&mut self) -> Option<Box<str>> {
        self.name.take()
    }

    /// Whether `urls` has this node's address row (its URI under its id).
    pub fn addressed(&self) -> bool {
        self.addressed
    }

    /// Records that `urls` has this node's address row.
    pub fn set_addressed(&mut self) {
        self.addressed = true;
    }
}

/// Nodes kept in chunks of [`Nodes::CHUNK`]: growing never moves the nodes already there, so
/// the store never holds twice their room, as a `Vec` does while it grows (a `Vec` of 740,000
/// nodes has room for 1,048,576, and held the 524,288 before them as well while it grew).
#[derive(Debug, Clone, Default)]
struct Nodes {
    chunks: Vec<Vec<Node>>,
    len: usize,
}

impl Nodes {
    /// Nodes per chunk: 128 KiB of them. A chunk grows as a `Vec` up to it, so a small
    /// hierarchy takes only the room of its nodes, and a large one holds at most half a chunk
    /// it does not use. (Chunks of 1 MiB left a hundred course databases' last chunks half
    /// empty: 53 MiB for 35 MiB of nodes in a split of 1M events of 100 courses, on a generated
    /// log that put every problem on every page.)
    const CHUNK: usize = 2048;

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, node: Node) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(node),
            _ => self.chunks.push(vec![node]),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Node> {
        self.chunks.iter().flatten()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        self.chunks.iter_mut().flatten()
    }
}

impl std::ops::Index<usize> for Nodes {
    type Output = Node;

    fn index(&self, i: usize) -> &Node {
        &self.chunks[i / Self::CHUNK][i % Self::CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Nodes {
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.chunks[i / Self::CHUNK][i % Self::CHUNK]
    }
}

/// A URI tree with stable integer ids.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    nodes: Nodes,
    // By fingerprint of the whole URI: a look-up reads no node's text (see `crate::fingerprint`).
    by_uri: FingerprintMap<usize>,
    next_id: i64,
}

impl Hierarchy {
    /// A hierarchy holding only its root `root_uri`, or the nodes an earlier load stored.
    pub fn new(root_uri: &str, existing: Vec<(i64, String, Option<i64>)>) -> Hierarchy {
        let mut h = Hierarchy {
            nodes: Nodes::default(),
            by_uri: FingerprintMap::default(),
            next_id: 1,
        };
        for (id, uri, parent) in existing {
            h.next_id = h.next_id.max(id + 1);
            h.by_uri.insert(Fingerprint::of(&uri), h.nodes.len());
            h.nodes.push(Node {
                id,
                text: uri.into(),
                extends: WHOLE,
                parent: packed(parent),
                name: None,
                child_number: NO_NUMBER,
                leaf: false,
                attached: NO_ID,
                stored: true,
                addressed: false,
            });
        }
        if !h.by_uri.contains_key(&Fingerprint::of(root_uri)) {
            h.create_level(root_uri, (0, root_uri.len()), None, false);
        }
        h
    }

    /// Creates the node of `uri[..cut]`. `above` is the node of `uri[..from]` with its id, when
    /// there is one: the new node is its child and keeps only `uri[from..cut]`.
    fn create_level(
        &mut self,
        uri: &str,
        (from, cut): (usize, usize),
        above: Option<(usize, i64)>,
        leaf: bool,
    ) -> usize {
        let level = &uri[..cut];
        let id = self.next_id;
        self.next_id += 1;
        let child_number = trailing_number(level);
        let (text, extends) = match above.and_then(|(i, _)| u32::try_from(i).ok()) {
            Some(i) if i != WHOLE => (&uri[from..cut], i),
            _ => (level, WHOLE),
        };
        self.by_uri.insert(Fingerprint::of(level), self.nodes.len());
        self.nodes.push(Node {
            id,
            text: text.into(),
            extends,
            parent: packed(above.map(|(_, id)| id)),
            name: None,
            child_number: child_number.unwrap_or(NO_NUMBER),
            leaf,
            attached: NO_ID,
            stored: false,
            addressed: false,
        });
        self.nodes.len() - 1
    }

    /// The node of `uri`, created with every missing path level above it; returns its index and
    /// whether it was created now.
    pub fn insert(&mut self, uri: &str) -> (usize, bool) {
        if let Some(&i) = self.by_uri.get(&Fingerprint::of(uri)) {
            return (i, false);
        }
        // One level per `/`: "https://a/b/c" → "https://", "https://a/", "https://a/b/", "https://a/b/c".
        let start = uri.find("://").map(|i| i + 3).unwrap_or(0);
        let mut cuts: Vec<usize> = uri[start..]
            .match_indices('/')
            .map(|(i, _)| start + i + 1)
            .collect();
        if cuts.last() != Some(&uri.len()) {
            cuts.push(uri.len());
        }
        // The node of the URI so far, `uri[..from]`, and its id.
        let mut above = self
            .by_uri
            .get(&Fingerprint::of(&uri[..start]))
            .map(|&i| (i, self.nodes[i].id));
        let mut from = start;
        let mut index = 0;
        for cut in cuts {
            index = match self.by_uri.get(&Fingerprint::of(&uri[..cut])) {
                Some(&i) => i,
                None => self.create_level(uri, (from, cut), above, cut == uri.len()),
            };
            above = Some((index, self.nodes[index].id));
            from = cut;
        }
        (index, true)
    }

    /// The URI of the node at `index`: its level and the levels above it.
    pub fn uri(&self, index: usize) -> String {
        let mut chain = vec![index];
        let mut at = index;
        while self.nodes[at].extends != WHOLE {
            at = self.nodes[at].extends as usize;
            chain.push(at);
        }
        let mut uri = String::with_capacity(chain.iter().map(|&i| self.nodes[i].text.len()).sum());
        for &i in chain.iter().rev() {
            uri.push_str(&self.nodes[i].text);
        }
        uri
    }

    /// The index of the node of `uri`, if there is one.
    pub fn index_of(&self, uri: &str) -> Option<usize> {
        self.by_uri.get(&Fingerprint::of(uri)).copied()
    }

    /// Takes the next id for a row that shares this hierarchy's numbering without being one of
    /// its nodes (a URL that is no resource's address).
    pub fn reserve_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Makes new nodes' ids follow `id`, which a row sharing the numbering holds.
    pub fn reserve_through(&mut self, id: i64) {
        self.next_id = self.next_id.max(id + 1);
    }

    /// The lowest id not yet in the database: the next new node's, or an earlier node's that
    /// is still waiting to be written (the root of a new hierarchy).
    pub fn next_id(&self) -> i64 {
        self.nodes
            .iter()
            .filter(|n| !n.stored)
            .map(|n| n.id)
            .min()
            .unwrap_or(self.next_id)
    }

    /// The node at `index`.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// The node at `index`, to name it or attach a value.
    pub fn node_mut(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// The indexes of the nodes not yet in the database, marking them stored. (Indexes, not
    /// copies: a long log's file creates a hundred thousand nodes.)
    pub fn take_unstored(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if !n.stored {
                n.stored = true;
                out.push(i);
            }
        }
        out
    }
}

fn trailing_number(uri: &str) -> Option<u8> {
    let trimmed = uri.strip_suffix('/').unwrap_or(uri);
    let last = trimmed.rsplit('/').next()?;
    (!last.is_empty() && last.len() <= 2 && last.bytes().all(|b| b.is_ascii_digit()))
        .then(|| last.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_takes_64_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 64);
    }

    #[test]
    fn nodes_past_one_chunk_keep_their_place() {
        let mut h = Hierarchy::new("https://", Vec::new());
        let n = 2 * Nodes::CHUNK + 100;
        let leaves: Vec<usize> = (0..n)
            .map(|i| h.insert(&format!("https://x.org/{i}/")).0)
            .collect();
        assert_eq!(h.nodes.len(), n + 2);
        for (i, &leaf) in leaves.iter().enumerate() {
            assert_eq!(h.uri(leaf), format!("https://x.org/{i}/"));
            assert_eq!(h.node(leaf).parent(), Some(h.node(1).id));
        }
        assert_eq!(h.take_unstored().len(), n + 2);
        assert_eq!(
            h.nodes.chunks.iter().map(Vec::capacity).max(),
            Some(Nodes::CHUNK)
        );
    }

    #[test]
    fn levels_are_created_top_down_and_reused() {
        let mut h = Hierarchy::new("https://", Vec::new());
        let (leaf, created) = h.insert("https://x.org/courses/A/");
        assert!(created);
        let uris: Vec<_> = (0..4).map(|i| h.uri(i)).collect();
        assert_eq!(
            uris,
            [
                "https://",
                "https://x.org/",
                "https://x.org/courses/",
                "https://x.org/courses/A/"
            ]
        );
        assert_eq!(h.node(leaf).parent(), Some(h.node(2).id));
        assert!(h.node(leaf).leaf() && !h.node(2).leaf());
        let (video, _) = h.insert("https://x.org/courses/A/video/v1/_html5");
        assert_eq!(h.uri(video), "https://x.org/courses/A/video/v1/_html5");
        assert_eq!(h.insert("https://x.org/courses/"), (2, false));
        assert_eq!(h.take_unstored().len(), 7);
        assert!(h.take_unstored().is_empty());
    }

    #[test]
    fn problems_get_child_numbers_and_ids_continue() {
        let mut h = Hierarchy::new(
            "i4x://",
            vec![(1, "i4x://".into(), None), (7, "i4x://A/".into(), Some(1))],
        );
        let (leaf, _) = h.insert("i4x://A/B/problem/p/2/1/");
        assert_eq!(h.node(leaf).child_number(), Some(1));
        assert_eq!(h.node(leaf - 1).child_number(), Some(2));
        assert_eq!(h.uri(leaf - 1), "i4x://A/B/problem/p/2/");
        assert!(h.node(leaf).id > 7);
        assert_eq!(
            h.node(2).parent(),
            Some(7),
            "new levels hang under stored ones"
        );
    }

    #[test]
    fn nodes_keep_their_own_level_and_give_back_their_whole_uri() {
        let mut h = Hierarchy::new(
            "https://",
            vec![
                (1, "https://".into(), None),
                // Read from a database: a URI that does not extend its parent's.
                (2, "https://elsewhere.org/x/".into(), Some(1)),
            ],
        );
        let uris = [
            "https://x.org/courses/A/courseware/ch1/seq1/",
            "https://x.org/courses/A/courseware/ch1/seq2/3",
            "https://elsewhere.org/x/y/z",
            // No root above these: kept whole at their first level.
            "http://y.org/a/b/",
            "relative/path/c",
            "https://x.org/courses/A/video/v1/_html5",
        ];
        for uri in uris {
            let (leaf, _) = h.insert(uri);
            assert_eq!(h.uri(leaf), uri);
        }
        let (seq, _) = h.insert("https://x.org/courses/A/courseware/ch1/seq1/");
        assert_eq!(&*h.node(seq).text, "seq1/");
        let (y, _) = h.insert("https://elsewhere.org/x/y/");
        assert_eq!(&*h.node(y).text, "y/");
        let (http, _) = h.insert("http://y.org/");
        assert_eq!(&*h.node(http).text, "http://y.org/");
        // Every node's URI finds the node itself: the index and the levels agree.
        for i in 0..h.nodes.len() {
            assert_eq!(h.insert(&h.uri(i)), (i, false), "{}", h.uri(i));
        }
    }
}
