//! Additive secret sharing over Z_2^64: a value `v` is split into `n` shares that are
//! uniformly random subject to `Σ shares = v (mod 2^64)`. Any `n-1` shares are
//! independent of `v`. Arithmetic is wrapping `u64`, which is exactly Z_2^64.

use rand_core::Rng;

/// Splits every element of `values` into `n` additive shares. Returns `n` vectors; the
/// `j`-th goes to party `j`.
pub fn share_vec(values: &[u64], n: usize, rng: &mut impl Rng) -> Vec<Vec<u64>> {
    if n == 0 {
        return Vec::new();
    }
    let mut shares: Vec<Vec<u64>> = (1..n).map(|_| values.iter().map(|_| rng.next_u64()).collect()).collect();
    let last: Vec<u64> = values
        .iter()
        .enumerate()
        .map(|(k, v)| shares.iter().fold(*v, |acc, s| acc.wrapping_sub(s.get(k).copied().unwrap_or(0))))
        .collect();
    shares.push(last);
    shares
}

/// Adds `other` into `acc` elementwise (mod 2^64). The lengths must already match.
pub fn add_assign(acc: &mut [u64], other: &[u64]) {
    for (a, b) in acc.iter_mut().zip(other) {
        *a = a.wrapping_add(*b);
    }
}

/// Sums share vectors back into the shared values.
pub fn reconstruct(shares: &[Vec<u64>]) -> Vec<u64> {
    let len = shares.first().map_or(0, Vec::len);
    let mut out = vec![0u64; len];
    for s in shares {
        add_assign(&mut out, s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    proptest! {
        #[test]
        fn share_then_reconstruct_is_identity(values in proptest::collection::vec(any::<u64>(), 0..40), n in 1usize..12, seed in any::<u64>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let shares = share_vec(&values, n, &mut rng);
            prop_assert_eq!(shares.len(), n);
            prop_assert_eq!(reconstruct(&shares), values);
        }

        #[test]
        fn sharing_is_additively_homomorphic(a in proptest::collection::vec(any::<u64>(), 8), b in proptest::collection::vec(any::<u64>(), 8), n in 2usize..7, seed in any::<u64>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let (sa, sb) = (share_vec(&a, n, &mut rng), share_vec(&b, n, &mut rng));
            let summed: Vec<Vec<u64>> = sa.iter().zip(&sb).map(|(x, y)| { let mut x = x.clone(); add_assign(&mut x, y); x }).collect();
            let expect: Vec<u64> = a.iter().zip(&b).map(|(x, y)| x.wrapping_add(*y)).collect();
            prop_assert_eq!(reconstruct(&summed), expect);
        }
    }

    #[test]
    fn fewer_than_all_shares_look_random() {
        // The same value shared twice gives different first shares: a single share is not
        // the value (a check that would catch "share = value" bugs).
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = share_vec(&[42], 3, &mut rng);
        let b = share_vec(&[42], 3, &mut rng);
        assert_ne!(a[0], b[0]);
        assert!(a.iter().all(|s| s[0] != 42));
    }
}
