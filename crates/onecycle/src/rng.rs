//! A tiny counter-based random number generator (SplitMix64), so that every batch's randomness is a
//! pure function of `(seed, epoch, batch)` and results never depend on thread scheduling or on an
//! external crate's version.

/// SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 2⁶⁴ divided by the golden ratio: SplitMix64's increment.
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 stream. Cheap to create, so each batch gets its own.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream whose state is `state` (the next value is the mix of `state` + the golden ratio).
    pub fn from_state(state: u64) -> Self {
        Rng { state }
    }

    /// A stream keyed by any number of words (seed, epoch, batch index, purpose …).
    pub fn from_keys(keys: &[u64]) -> Self {
        let mut state = 0x6a09_e667_f3bc_c908;
        for &k in keys {
            state = mix(state ^ mix(k.wrapping_add(GOLDEN)));
        }
        Rng { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform integer in `0..n` (unbiased, Lemire's multiply-and-reject). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform integer in `0..=max`.
    pub fn up_to(&mut self, max: usize) -> usize {
        self.below(max as u64 + 1) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_keys_give_the_same_stream_and_different_keys_differ() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::from_keys(&[1, 2, 3]).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::from_keys(&[1, 2, 3]);
        let mut y = Rng::from_keys(&[1, 2, 4]);
        let mut z = Rng::from_keys(&[1, 3, 2]);
        let (x, y, z) = (x.next_u64(), y.next_u64(), z.next_u64());
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::from_keys(&[7]);
        let mut seen = [0usize; 5];
        for _ in 0..5000 {
            seen[r.below(5) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (850..1150).contains(&c)), "{seen:?}");
        assert_eq!(r.below(1), 0);
        assert_eq!(r.up_to(0), 0);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..100).collect();
        Rng::from_keys(&[0]).shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
