//! The lines of this run that are no longer held exactly, as a Bloom filter.
//!
//! A run keeps the hashes of its most recent lines in an exact set; past a bound they are moved
//! here, so that memory stays flat however long the log. A line the filter has never seen is new
//! without asking the database; only the rare possible match is checked against
//! `moocdb_loader_lines`. The keys are already 128-bit xxh3 hashes of the lines, so the filter's
//! bit positions are slices of the key itself (a Bloom filter crate would hash them again).

/// Bits in the filter: 16 MiB, allocated on first use. About 1 in 6,000 new lines asks the
/// database after 4 million lines, 1 in 230 after 10 million.
const BITS: usize = 1 << 27;
/// Bit positions per key.
const PROBES: u32 = 4;

/// A fixed-size Bloom filter over line hashes.
#[derive(Default)]
pub struct SeenLines {
    words: Vec<u64>,
}

impl SeenLines {
    fn positions(hash: u128) -> impl Iterator<Item = usize> {
        (0..PROBES).map(move |i| (hash >> (32 * i)) as usize & (BITS - 1))
    }

    /// Records a line.
    pub fn insert(&mut self, hash: u128) {
        if self.words.is_empty() {
            self.words = vec![0; BITS / 64];
        }
        for p in Self::positions(hash) {
            self.words[p / 64] |= 1 << (p % 64);
        }
    }

    /// Whether the line may have been recorded (`false`: certainly not).
    pub fn may_contain(&self, hash: u128) -> bool {
        !self.words.is_empty()
            && Self::positions(hash).all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_lines_are_found_and_most_others_are_not() {
        let mut seen = SeenLines::default();
        let hash = |i: u64| xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes());
        assert!(!seen.may_contain(hash(1)));
        for i in 0..100_000 {
            seen.insert(hash(i));
        }
        assert!((0..100_000).all(|i| seen.may_contain(hash(i))));
        let false_positives = (100_000..200_000)
            .filter(|&i| seen.may_contain(hash(i)))
            .count();
        assert!(false_positives < 10, "{false_positives} false positives");
    }
}
