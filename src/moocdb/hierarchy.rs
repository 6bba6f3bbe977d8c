//! qpipe's `ResourceHierarchy`, used for both `resources` (rooted at `https://`) and `problems`
//! (rooted at `i4x://`): a tree of URIs with one node per path level, ids assigned top-down in
//! creation order and kept across loads.

use crate::fingerprint::{Fingerprint, FingerprintMap};

/// One node of a hierarchy.
#[derive(Debug, Clone)]
pub struct Node {
    /// The row id.
    pub id: i64,
    /// The URI (`resource_uri` / `problem_name`). The only copy: the index by URI holds
    /// fingerprints, and resources grow with the course's pages.
    pub uri: Box<str>,
    /// The parent node's id (`None` for the root).
    pub parent: Option<i64>,
    /// The name (resources: display name or module name).
    pub name: Option<String>,
    /// The trailing `/<n>/` of the URI (problems' `problem_child_number`).
    pub child_number: Option<i64>,
    /// Whether the node was created by an event (a leaf) rather than as an intermediate level.
    pub leaf: bool,
    /// A value attached by the first event that reaches the node (resources: the type id;
    /// problems: the resource id).
    pub attached: Option<i64>,
    /// Whether the row is already in the database.
    pub stored: bool,
}

/// A URI tree with stable integer ids.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    nodes: Vec<Node>,
    // By fingerprint: a look-up reads no node's URI (see `crate::fingerprint`).
    by_uri: FingerprintMap<usize>,
    next_id: i64,
}

impl Hierarchy {
    /// A hierarchy holding only its root `root_uri`, or the nodes an earlier load stored.
    pub fn new(root_uri: &str, existing: Vec<(i64, String, Option<i64>)>) -> Hierarchy {
        let mut h = Hierarchy {
            nodes: Vec::new(),
            by_uri: FingerprintMap::default(),
            next_id: 1,
        };
        for (id, uri, parent) in existing {
            h.next_id = h.next_id.max(id + 1);
            h.by_uri.insert(Fingerprint::of(&uri), h.nodes.len());
            let uri: Box<str> = uri.into();
            h.nodes.push(Node {
                id,
                uri,
                parent,
                name: None,
                child_number: None,
                leaf: false,
                attached: None,
                stored: true,
            });
        }
        if !h.by_uri.contains_key(&Fingerprint::of(root_uri)) {
            h.create(root_uri, None, false);
        }
        h
    }

    fn create(&mut self, uri: &str, parent: Option<i64>, leaf: bool) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let child_number = trailing_number(uri);
        self.by_uri.insert(Fingerprint::of(uri), self.nodes.len());
        let uri: Box<str> = uri.into();
        self.nodes.push(Node {
            id,
            uri,
            parent,
            name: None,
            child_number,
            leaf,
            attached: None,
            stored: false,
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
        let mut parent = self
            .by_uri
            .get(&Fingerprint::of(&uri[..start]))
            .map(|&i| self.nodes[i].id);
        let mut index = 0;
        for cut in cuts {
            let level = &uri[..cut];
            index = match self.by_uri.get(&Fingerprint::of(level)) {
                Some(&i) => i,
                None => self.create(level, parent, cut == uri.len()),
            };
            parent = Some(self.nodes[index].id);
        }
        (index, true)
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

fn trailing_number(uri: &str) -> Option<i64> {
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
    fn levels_are_created_top_down_and_reused() {
        let mut h = Hierarchy::new("https://", Vec::new());
        let (leaf, created) = h.insert("https://x.org/courses/A/");
        assert!(created);
        let uris: Vec<_> = (0..4).map(|i| h.node(i).uri.to_string()).collect();
        assert_eq!(
            uris,
            [
                "https://",
                "https://x.org/",
                "https://x.org/courses/",
                "https://x.org/courses/A/"
            ]
        );
        assert_eq!(h.node(leaf).parent, Some(h.node(2).id));
        assert!(h.node(leaf).leaf && !h.node(2).leaf);
        let (video, _) = h.insert("https://x.org/courses/A/video/v1/_html5");
        assert_eq!(
            &*h.node(video).uri,
            "https://x.org/courses/A/video/v1/_html5"
        );
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
        assert_eq!(h.node(leaf).child_number, Some(1));
        assert_eq!(h.node(leaf - 1).child_number, Some(2));
        assert_eq!(&*h.node(leaf - 1).uri, "i4x://A/B/problem/p/2/");
        assert!(h.node(leaf).id > 7);
        assert_eq!(
            h.node(2).parent,
            Some(7),
            "new levels hang under stored ones"
        );
    }
}
