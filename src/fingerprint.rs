//! Texts that events repeat (pages, resource URIs, user agents, usernames), looked up by a
//! 128-bit hash of their bytes instead of by the text itself.
//!
//! A map keyed by `String` finds an entry by its hash and then compares the texts, which reads
//! the stored key from wherever it was allocated: for the large maps of a long log that is a
//! cache miss per look-up, among the largest items of the transform's profile. A [`Fingerprint`]
//! is stored in the map's own slot, so a look-up reads no memory but the table's, and no copy
//! of the text is kept for the map.
//!
//! Two different texts share a fingerprint with probability 2⁻¹²⁸ per pair: for a million
//! distinct texts, about 10⁻²⁷ for the whole map. The hash is seeded at random in each process
//! (fingerprints are never stored), so whoever writes a log cannot aim two of its texts at one
//! fingerprint, nor crowd one slot of a map, without the seed: the protection the process's
//! other maps get from `foldhash`'s random seed.

use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::LazyLock;

use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

/// This process's seed for every fingerprint.
static SEED: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(0x6d6f_6f63_u32));

/// A text's XXH3-128 hash, standing for the text as a map key. Held as two halves, not as a
/// `u128`: a `u128` is aligned to 16 bytes, which padded every map slot that holds one to a
/// multiple of 16 (a fingerprint and an index took 32 bytes instead of 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u64; 2]);

impl Fingerprint {
    /// The fingerprint of `text`.
    #[inline]
    pub fn of(text: &str) -> Fingerprint {
        Fingerprint::of_bytes(text.as_bytes())
    }

    /// The fingerprint of this one's text together with `n` (a learner and a problem).
    #[inline]
    pub fn with(&self, n: i64) -> Fingerprint {
        let mut bytes = [0; 24];
        bytes[..8].copy_from_slice(&self.0[0].to_le_bytes());
        bytes[8..16].copy_from_slice(&self.0[1].to_le_bytes());
        bytes[16..].copy_from_slice(&n.to_le_bytes());
        Fingerprint::of_bytes(&bytes)
    }

    /// The fingerprint of the text whose bytes these are (the same as [`Fingerprint::of`] it).
    #[inline]
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        let hash = xxh3_128_with_seed(bytes, *SEED);
        Fingerprint([hash as u64, (hash >> 64) as u64])
    }
}

impl Hash for Fingerprint {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from(self.0[1]) << 64 | u128::from(self.0[0]));
    }
}

/// A map from texts, by their fingerprints, to `V`.
pub type FingerprintMap<V> =
    std::collections::HashMap<Fingerprint, V, BuildHasherDefault<FingerprintHasher>>;

/// Hashes a [`Fingerprint`] by folding it to 64 bits: it is a hash already, and hashing it
/// again would only cost time.
#[derive(Default)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }

    // Only `write_u128` is called for a fingerprint; anything else is mixed in properly all
    // the same, so that the hasher is never wrong, only slower.
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map from texts, by their fingerprints, to records that the load keeps for its whole length
/// (a learner's, an IP's), one per learner or IP of each course database.
///
/// A [`FingerprintMap`] keeps each entry in a slot of its table, and a table is a quarter to a
/// half empty after it grows: for a 136-byte record, about 240 bytes an entry. Here the entries
/// fill chunks in the order they come, and the table holds only 8-byte slots (32 bits of the
/// fingerprint and the entry's place), so an entry costs its own size and about 22 bytes.
///
/// An entry keeps the other 64 bits of the 128-bit fingerprint, not the 32 its slot holds: two
/// texts are taken for one with probability 2⁻⁹⁶ per pair, about 10⁻¹⁷ for a million texts, and
/// the seed keeps a log's writer from aiming at it as for the whole fingerprint.
pub struct DenseFingerprintMap<V> {
    places: hashbrown::HashTable<Slot>,
    /// Chunk `i` holds up to `FIRST_CHUNK << i` entries, then `LAST_CHUNK`: a course database
    /// with a few learners keeps room for a few, and any wastes at most a part of its last
    /// chunk. Chunks of up to 4,096 entries wasted 26 MB in the bench's 5M-event split
    /// (`heaptrack`: 90 MB of learners' records for 64 MB of entries), as a course of about
    /// 4,100 learners had just begun such a chunk.
    chunks: Vec<Vec<(u64, V)>>,
}

/// An entry of [`DenseFingerprintMap`] as its table holds it.
#[derive(Clone, Copy)]
struct Slot {
    /// 32 bits of the entry's fingerprint, from which its hash in the table is made.
    tag: u32,
    /// The entry's chunk (`place >> CHUNK_BITS`) and its offset in the chunk.
    place: u32,
}

const FIRST_CHUNK: usize = 16;
const CHUNK_BITS: u32 = 8;
const LAST_CHUNK: usize = 1 << CHUNK_BITS;

impl Slot {
    /// The slot's hash in the table: its tag, mixed so that the table's top bits vary too.
    /// Made from the slot alone, so growing the table reads no entry.
    #[inline]
    fn hash(tag: u32) -> u64 {
        u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[inline]
    fn tag_of(key: &Fingerprint) -> u32 {
        key.0[0] as u32
    }

    /// The fingerprint's bits its entry keeps.
    #[inline]
    fn check_of(key: &Fingerprint) -> u64 {
        key.0[1]
    }
}

impl<V> Default for DenseFingerprintMap<V> {
    fn default() -> Self {
        DenseFingerprintMap {
            places: hashbrown::HashTable::new(),
            chunks: Vec::new(),
        }
    }
}

impl<V> DenseFingerprintMap<V> {
    /// The entry at `place`.
    #[inline]
    fn entry(&self, place: u32) -> &(u64, V) {
        &self.chunks[(place >> CHUNK_BITS) as usize][(place as usize) & (LAST_CHUNK - 1)]
    }

    /// The entry at `place`, to change.
    #[inline]
    fn entry_mut(&mut self, place: u32) -> &mut (u64, V) {
        &mut self.chunks[(place >> CHUNK_BITS) as usize][(place as usize) & (LAST_CHUNK - 1)]
    }

    /// The most entries chunk `n` holds: the place's offset has `CHUNK_BITS` bits, so never
    /// more than `LAST_CHUNK`, whatever room the chunk's vector was given.
    #[inline]
    fn chunk_size(n: usize) -> usize {
        (FIRST_CHUNK << n.min(CHUNK_BITS as usize)).min(LAST_CHUNK)
    }

    #[inline]
    fn place_of(&self, key: &Fingerprint) -> Option<u32> {
        let (tag, check) = (Slot::tag_of(key), Slot::check_of(key));
        self.places
            .find(Slot::hash(tag), |slot| {
                slot.tag == tag && self.entry(slot.place).0 == check
            })
            .map(|slot| slot.place)
    }

    /// The value of the text whose fingerprint is `key`.
    #[inline]
    pub fn get(&self, key: &Fingerprint) -> Option<&V> {
        self.place_of(key).map(|place| &self.entry(place).1)
    }

    /// The value of the text whose fingerprint is `key`, to change.
    #[inline]
    pub fn get_mut(&mut self, key: &Fingerprint) -> Option<&mut V> {
        let place = self.place_of(key)?;
        Some(&mut self.entry_mut(place).1)
    }

    /// The value of the text whose fingerprint is `key`, made by `make` when there is none.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: Fingerprint, make: impl FnOnce() -> V) -> &mut V {
        let place = match self.place_of(&key) {
            Some(place) => place,
            None => self.push(key, make()),
        };
        &mut self.entry_mut(place).1
    }

    // Adds an entry that is not in the map; its place.
    fn push(&mut self, key: Fingerprint, value: V) -> u32 {
        let full = |n: usize, chunk: &Vec<_>| chunk.len() == Self::chunk_size(n);
        let n = self.chunks.len();
        if n == 0 || full(n - 1, &self.chunks[n - 1]) {
            assert!(n < 1 << (32 - CHUNK_BITS), "more than 2^32 entries");
            self.chunks.push(Vec::with_capacity(Self::chunk_size(n)));
        }
        let n = self.chunks.len() - 1;
        let chunk = &mut self.chunks[n];
        let place = ((n as u32) << CHUNK_BITS) | chunk.len() as u32;
        chunk.push((Slot::check_of(&key), value));
        let tag = Slot::tag_of(&key);
        self.places
            .insert_unique(Slot::hash(tag), Slot { tag, place }, |slot| {
                Slot::hash(slot.tag)
            });
        place
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// The values, in the order their texts came.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.chunks.iter().flatten().map(|(_, v)| v)
    }

    /// The values, to change, in the order their texts came.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.chunks.iter_mut().flatten().map(|(_, v)| v)
    }
}

impl<V> FromIterator<(Fingerprint, V)> for DenseFingerprintMap<V> {
    /// The map of the entries; of two with one fingerprint, the first.
    fn from_iter<I: IntoIterator<Item = (Fingerprint, V)>>(entries: I) -> Self {
        let mut map = DenseFingerprintMap::default();
        for (key, value) in entries {
            map.get_or_insert_with(key, || value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_found_by_their_fingerprints() {
        let mut map = FingerprintMap::default();
        map.insert(Fingerprint::of("https://a/b/"), 1);
        map.insert(Fingerprint::of("https://a/b/c"), 2);
        assert_eq!(map.get(&Fingerprint::of("https://a/b/")), Some(&1));
        assert_eq!(map.get(&Fingerprint::of("https://a/b/c")), Some(&2));
        assert_eq!(map.get(&Fingerprint::of("https://a/b")), None);
        assert_eq!(map.get(&Fingerprint::of("")), None);
        // Two halves aligned to 8 bytes: a fingerprint and an index fill 24 bytes, not 32.
        assert_eq!(std::mem::size_of::<(Fingerprint, usize)>(), 24);
    }

    #[test]
    fn the_hash_of_a_fingerprint_uses_both_halves() {
        let hash = |v: u128| {
            let mut h = FingerprintHasher::default();
            h.write_u128(v);
            h.finish()
        };
        assert_ne!(hash(1), hash(1 << 64 | 1));
        assert_ne!(hash(1 << 64), 0);
        // The fallback for other writes mixes the bytes in.
        let mut a = FingerprintHasher::default();
        a.write(b"x");
        let mut b = FingerprintHasher::default();
        b.write(b"y");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn a_dense_map_finds_every_entry_across_its_chunks() {
        let mut map = DenseFingerprintMap::default();
        let n = 3 * LAST_CHUNK + 100;
        for i in 0..n {
            *map.get_or_insert_with(Fingerprint::of(&i.to_string()), || 0) += i;
        }
        // Found again, not added twice.
        for i in 0..n {
            *map.get_or_insert_with(Fingerprint::of(&i.to_string()), || 1_000_000) += 1;
        }
        assert_eq!(map.len(), n);
        for i in (0..n).step_by(97) {
            assert_eq!(map.get(&Fingerprint::of(&i.to_string())), Some(&(i + 1)));
        }
        assert_eq!(map.get(&Fingerprint::of("absent")), None);
        assert!(map.get_mut(&Fingerprint::of("absent")).is_none());
        *map.get_mut(&Fingerprint::of("7")).unwrap() = 70;
        assert_eq!(map.get(&Fingerprint::of("7")), Some(&70));
        // In the order the texts came.
        let values: Vec<usize> = map.values().copied().take(9).collect();
        assert_eq!(values, [1, 2, 3, 4, 5, 6, 7, 70, 9]);
        map.values_mut().for_each(|v| *v = 0);
        assert!(map.values().all(|&v| v == 0));
        assert_eq!(map.values().count(), n);
    }

    #[test]
    fn entries_whose_fingerprints_share_a_tag_stay_apart() {
        // Fingerprints with the same 32 bits the table keeps: told apart by the 64 the entry
        // keeps.
        let a = Fingerprint([7, 1]);
        let b = Fingerprint([7, 2]);
        let c = Fingerprint([7 | 1 << 40, 3]);
        let mut map = DenseFingerprintMap::default();
        map.get_or_insert_with(a, || "a");
        map.get_or_insert_with(b, || "b");
        map.get_or_insert_with(c, || "c");
        assert_eq!(map.get(&a), Some(&"a"));
        assert_eq!(map.get(&b), Some(&"b"));
        assert_eq!(map.get(&c), Some(&"c"));
        let first: DenseFingerprintMap<&str> = [(a, "x"), (a, "y")].into_iter().collect();
        assert_eq!(first.get(&a), Some(&"x"));
        assert_eq!(first.len(), 1);
    }
}
