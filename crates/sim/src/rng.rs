//! A small seeded pseudo-random generator (SplitMix64), so runs are reproducible without dependencies.
//!
//! Kept rather than a seeded `rand_pcg` or `rand_xoshiro`: the generator itself is the five lines of
//! [`Rng::next_u64`] (a crate would replace only those, the workload distributions below stay ours), and a
//! different stream would change every simulated figure for a given seed, those docs/benchmarks.md quotes
//! among them.

/// SplitMix64: fast, good enough statistical quality for workload jitter, and fully determined by its seed.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponentially distributed duration with the given mean (at least 1 ns).
    pub(crate) fn exponential(&mut self, mean_ns: u64) -> u64 {
        let u = self.next_f64();
        let x = -(1.0 - u).ln() * mean_ns as f64;
        (x as u64).max(1)
    }

    /// A duration uniformly spread over `mean ± mean/2` (at least 1 ns).
    pub(crate) fn jitter(&mut self, mean_ns: u64) -> u64 {
        let half = mean_ns / 2;
        if half == 0 {
            return mean_ns.max(1);
        }
        (mean_ns - half + self.next_u64() % (2 * half + 1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(8);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn exponential_mean_is_close_to_requested() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let sum: u64 = (0..n).map(|_| r.exponential(1_000_000)).sum();
        let mean = sum / n;
        assert!((900_000..1_100_000).contains(&mean), "mean {mean}");
    }

    #[test]
    fn jitter_stays_within_half_of_mean() {
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            let x = r.jitter(1000);
            assert!((500..=1500).contains(&x), "{x}");
        }
    }
}
