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
}
