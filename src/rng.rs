//! The one RNG type that owns all randomness of a run (STYLE §5): ChaCha8, portable across
//! platforms and releases, so a seed means the same numbers everywhere.

use rand::SeedableRng;

pub type Rng = rand_chacha::ChaCha8Rng;

/// The RNG of `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}
