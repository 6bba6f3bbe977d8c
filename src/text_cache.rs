//! What the stages derive from texts that events repeat (usernames, pages, module ids),
//! remembered with memory bounded however varied the log: the cache starts over when full.
//! Texts are remembered by their [`Fingerprint`]s, not copied.

use crate::fingerprint::{Fingerprint, FingerprintMap};

/// Values derived from texts, at most `limit` of them; emptied when full. Values that are
/// still held elsewhere stay valid; only the remembering starts over.
pub struct TextCache<V> {
    known: FingerprintMap<V>,
    limit: usize,
}

impl<V: Clone> TextCache<V> {
    /// An empty cache that holds at most `limit` texts.
    pub fn new(limit: usize) -> Self {
        TextCache {
            known: FingerprintMap::default(),
            limit,
        }
    }

    /// The value of `text`, derived by `derive` when not remembered.
    pub fn get_or_derive(&mut self, text: &str, derive: impl FnOnce(&str) -> V) -> V {
        let key = Fingerprint::of(text);
        if let Some(value) = self.known.get(&key) {
            return value.clone();
        }
        let value = derive(text);
        if self.known.len() >= self.limit {
            self.known.clear();
        }
        self.known.insert(key, value.clone());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_derived_once_and_the_cache_starts_over_when_full() {
        let mut derived = 0;
        let mut cache = TextCache::new(2);
        let mut length = |cache: &mut TextCache<usize>, text: &str| {
            cache.get_or_derive(text, |t| {
                derived += 1;
                t.len()
            })
        };
        assert_eq!(length(&mut cache, "ab"), 2);
        assert_eq!(length(&mut cache, "ab"), 2);
        assert_eq!(length(&mut cache, "abc"), 3);
        // Full: the third text empties it, so "ab" is derived again.
        assert_eq!(length(&mut cache, "abcd"), 4);
        assert_eq!(length(&mut cache, "ab"), 2);
        assert_eq!(derived, 4);
    }
}
