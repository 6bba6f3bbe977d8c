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

use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::LazyLock;

use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

/// This process's seed for every fingerprint.
static SEED: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(0x6d6f_6f63_u32));

/// A text's XXH3-128 hash, standing for the text as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The fingerprint of `text`.
    #[inline]
    pub fn of(text: &str) -> Fingerprint {
        Fingerprint(xxh3_128_with_seed(text.as_bytes(), *SEED))
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
}
