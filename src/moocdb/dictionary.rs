//! Value → integer id dictionaries (`urls`, `os`, `agent`, `resource_types`, resources by URI)
//! whose ids stay stable across runs: the existing rows are read back before a load.

use foldhash::HashMap;
use std::hash::Hash;

/// A dictionary assigning ids in first-seen order, continuing after the largest known id.
#[derive(Debug, Clone)]
pub struct Dictionary<K> {
    ids: HashMap<K, i64>,
    next_id: i64,
}

impl<K: Eq + Hash + Clone> Dictionary<K> {
    /// An empty dictionary whose first id is `first_id`.
    pub fn new(first_id: i64) -> Self {
        Dictionary {
            ids: HashMap::default(),
            next_id: first_id,
        }
    }

    /// Records an existing entry (read back from the database).
    pub fn insert_existing(&mut self, key: K, id: i64) {
        self.next_id = self.next_id.max(id + 1);
        self.ids.insert(key, id);
    }

    /// The id of `key`, and whether it was new.
    pub fn id_of(&mut self, key: &K) -> (i64, bool) {
        if let Some(&id) = self.ids.get(key) {
            return (id, false);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(key.clone(), id);
        (id, true)
    }

    /// Records a new entry under `id`, chosen by the caller: an id [`Dictionary::id_of`] skips
    /// ([`Dictionary::next_id_avoiding`]) or one shared with another numbering.
    pub fn insert_new(&mut self, key: K, id: i64) {
        self.ids.insert(key, id);
    }

    /// Takes the next id that `reserved` does not claim, for an entry of [`Dictionary::insert_new`].
    pub fn next_id_avoiding(&mut self, reserved: impl Fn(i64) -> bool) -> i64 {
        while reserved(self.next_id) {
            self.next_id += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The id of `key` if known.
    pub fn get(&self, key: &K) -> Option<i64> {
        self.ids.get(key).copied()
    }

    /// The id the next new entry will get.
    pub fn next_id(&self) -> i64 {
        self.next_id
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_continue_after_existing_entries() {
        let mut d = Dictionary::new(1);
        d.insert_existing("a".to_string(), 7);
        assert_eq!(d.id_of(&"a".to_string()), (7, false));
        assert_eq!(d.id_of(&"b".to_string()), (8, true));
        assert_eq!(d.id_of(&"b".to_string()), (8, false));
        assert_eq!(d.len(), 2);
    }
}
