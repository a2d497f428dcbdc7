//! The one RNG type that owns all randomness of a run (STYLE §5): ChaCha8, portable across
//! platforms and releases, so a seed means the same numbers everywhere.

use rand::SeedableRng;

pub type Rng = rand_chacha::ChaCha8Rng;

/// The RNG of `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An RNG derived from `seed` for one purpose (`tag`) at one point (`index`), e.g. the
/// evaluation episodes at a step: reproducible, and drawing from it leaves the run's main RNG
/// untouched, so evaluating more or less often does not change training.
pub fn derived(seed: u64, tag: u64, index: u64) -> Rng {
    // SplitMix64-style mixing of the three numbers into one seed.
    let mut z =
        seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    seeded(z ^ (z >> 31))
}
