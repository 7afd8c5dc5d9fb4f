#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Paillier on the TEST-ONLY 2048-bit key: encryption, homomorphic operations, validation on
//! decode and packing.

/// Grouped so that `cargo test -p consort-he paillier` selects these tests.
mod paillier {

    use std::sync::OnceLock;

    use consort_he::paillier::threshold::test_only_primes_2048;
    use consort_he::paillier::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;
    use rand_chacha10::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn keys() -> &'static (PublicKey, SecretKey) {
        static KEYS: OnceLock<(PublicKey, SecretKey)> = OnceLock::new();
        KEYS.get_or_init(|| test_only_primes_2048().keypair().unwrap())
    }

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    fn n(pk: &PublicKey) -> BigUint {
        BigUint::from_bytes_be(&pk.modulus_bytes())
    }

    fn plain_mod(pk: &PublicKey, v: i128) -> BigUint {
        let n = n(pk);
        let abs = BigUint::from(v.unsigned_abs()) % &n;
        if v < 0 { (&n - abs) % &n } else { abs }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn encrypt_decrypt_add_scalar(a in any::<i64>(), b in any::<i64>(), k in any::<u64>(), seed in any::<u8>()) {
            let (pk, sk) = keys();
            let mut r = rng(seed);
            let ca = pk.encrypt(&Plaintext::from_i64(pk, a), &mut r).unwrap();
            let cb = pk.encrypt(&Plaintext::from_i64(pk, b), &mut r).unwrap();
            prop_assert_eq!(sk.decrypt(&ca).to_i128_centered(pk), Some(i128::from(a)));
            let sum = sk.decrypt(&pk.add(&ca, &cb));
            prop_assert_eq!(sum.to_i128_centered(pk), Some(i128::from(a) + i128::from(b)));
            let prod = sk.decrypt(&pk.mul_plain(&ca, &Plaintext::from_u64(k)));
            let expect = plain_mod(pk, i128::from(a) * i128::from(k));
            prop_assert_eq!(BigUint::from_bytes_be(&prod.to_be_bytes()), expect);
            // Round trip through bytes.
            let back = pk.ciphertext_from_bytes(&ca.to_bytes()).unwrap();
            prop_assert_eq!(&back, &ca);
        }
    }

    #[test]
    fn batch_encryption_with_pool_and_sum() {
        let (pk, sk) = keys();
        let mut pool = RandomizerPool::with_rng(pk, &mut rng(3));
        pool.fill(3);
        assert_eq!(pool.len(), 3);
        let ms: Vec<Plaintext> = (0..5).map(|i| Plaintext::from_i64(pk, i - 2)).collect();
        let cts = pk.encrypt_batch(&ms, &mut pool).unwrap();
        assert_eq!(pool.len(), 0);
        let twice = pk.sum(&[&cts, &cts, &cts]).unwrap();
        for (i, c) in twice.iter().enumerate() {
            assert_eq!(sk.decrypt(c).to_i128_centered(pk), Some(3 * (i as i128 - 2)));
        }
        let err = pk.sum(&[&cts, &cts[..4]]).unwrap_err();
        assert_eq!(err.to_string(), "length mismatch: ciphertext vectors to sum: expected 5, found 4");
    }

    #[test]
    fn decode_rejects_out_of_group_values() {
        let (pk, _) = keys();
        let len = pk.ciphertext_len();
        assert_eq!(len, 512);
        let n = n(pk);
        let enc = |x: &BigUint| {
            let b = x.to_bytes_be();
            let mut out = vec![0u8; len - b.len()];
            out.extend_from_slice(&b);
            out
        };
        let msg = |bytes: &[u8]| pk.ciphertext_from_bytes(bytes).unwrap_err().to_string();
        assert_eq!(msg(&vec![0u8; len]), "invalid ciphertext: c is zero");
        assert_eq!(msg(&enc(&(&n * &n))), "invalid ciphertext: c is not below n^2");
        assert_eq!(msg(&vec![0xff; len]), "invalid ciphertext: c is not below n^2");
        assert_eq!(msg(&vec![1u8; len - 1]), "invalid ciphertext: expected 512 bytes, found 511");
        // A multiple of p.
        let primes = test_only_primes_2048();
        let json = include_str!("../testdata/TEST-ONLY-safe-primes-2048.json");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let p = BigUint::parse_bytes(v["p"].as_str().unwrap().as_bytes(), 16).unwrap();
        assert_eq!(primes.modulus_bits(), 2048);
        assert_eq!(msg(&enc(&(&p * 12345u32))), "invalid ciphertext: c is not coprime to n");
        // Tampering the leading bytes of a valid ciphertext pushes it out of range.
        let mut c = pk.encrypt(&Plaintext::from_u64(1), &mut rng(9)).unwrap().to_bytes();
        c[0] = 0xff;
        assert_eq!(msg(&c), "invalid ciphertext: c is not below n^2");
    }

    #[test]
    fn refusals() {
        let (pk, _) = keys();
        let err = generate_keypair(1024, &mut rng(1)).unwrap_err();
        assert_eq!(err.to_string(), "key too small: n has 1024 bits, at least 2048 are required");
        let too_big = Plaintext::from_be_bytes(&pk.modulus_bytes());
        let err = pk.encrypt(&too_big, &mut rng(1)).unwrap_err();
        assert_eq!(err.to_string(), "plaintext out of range: it must be below the modulus n (2048 bits)");
    }

    #[test]
    fn insecure_keypair_for_tests_works() {
        let (pk, sk) = generate_keypair_insecure_for_tests(256, &mut rng(5)).unwrap();
        assert_eq!(pk.modulus_bits(), 256);
        let c = pk.encrypt(&Plaintext::from_i64(&pk, -42), &mut rng(6)).unwrap();
        assert_eq!(sk.decrypt(&c).to_i128_centered(&pk), Some(-42));
        assert_eq!(format!("{sk:?}"), "SecretKey { .. redacted }");
    }

    fn spec() -> PackingSpec {
        PackingSpec { frac_bits: 16, max_abs: 4.0, max_summands: 100 }
    }

    #[test]
    fn packing_at_slot_boundaries_sums_exactly() {
        let (pk, sk) = keys();
        let packer = Packer::new(pk, spec()).unwrap();
        // Q = 4·2^16 = 2^18, slot holds 2·Q·100 < 2^26.
        assert_eq!(packer.slot_bits(), 26);
        assert_eq!(packer.slots_per_plaintext(), 2047 / 26);
        let len = packer.slots_per_plaintext() + 5;
        let members = 100u32;
        let mut r = rng(11);
        let mut acc: Option<Vec<Ciphertext>> = None;
        let mut exact = vec![0i64; len];
        for m in 0..members {
            let values: Vec<f64> = (0..len)
                .map(|i| match (i + m as usize) % 4 {
                    0 => 4.0,
                    1 => -4.0,
                    2 => 0.0,
                    _ => (i as f64 * 0.123_456_7).sin() * 3.9,
                })
                .collect();
            for (i, v) in values.iter().enumerate() {
                exact[i] += packer.encode_fixed(i, *v).unwrap();
            }
            let pts = packer.pack(&values).unwrap();
            assert_eq!(pts.len(), packer.plaintexts_for(len));
            let cts: Vec<Ciphertext> = pts.iter().map(|p| pk.encrypt(p, &mut r).unwrap()).collect();
            acc = Some(match acc {
                None => cts,
                Some(a) => pk.sum(&[&a, &cts]).unwrap(),
            });
        }
        let sums: Vec<Plaintext> = acc.unwrap().iter().map(|c| sk.decrypt(c)).collect();
        let out = packer.unpack_sum(&sums, members, len).unwrap();
        for i in 0..len {
            assert_eq!(out[i], exact[i] as f64 / 65536.0, "slot {i}");
        }
        let err = packer.unpack_sum(&sums, members + 1, len).unwrap_err();
        assert_eq!(err.to_string(), "101 summands exceed the 100 the packing was sized for");
    }

    #[test]
    fn packing_refuses_out_of_range_values() {
        let (pk, _) = keys();
        let packer = Packer::new(pk, spec()).unwrap();
        let err = packer.pack(&[0.0, 1.0, 4.000_001]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value 4.000001 at index 2 is out of range: packing accepts finite values in [-4, 4]"
        );
        let err = packer.pack(&[f64::NAN]).unwrap_err();
        assert_eq!(err.to_string(), "value NaN at index 0 is out of range: packing accepts finite values in [-4, 4]");
        let err = packer.pack(&[1.0, f64::NEG_INFINITY]).unwrap_err();
        assert_eq!(err.to_string(), "value -inf at index 1 is out of range: packing accepts finite values in [-4, 4]");
        assert!(packer.pack(&[4.0, -4.0]).is_ok());
        let err = Packer::new(pk, PackingSpec { frac_bits: 60, max_abs: 1.0, max_summands: 2 }).unwrap_err();
        assert_eq!(err.to_string(), "invalid packing specification: max_abs * 2^frac_bits exceeds 2^53");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn packing_round_trip_without_encryption(values in proptest::collection::vec(-4.0f64..=4.0, 1..200), k in 1u32..=100) {
            let (pk, _) = keys();
            let packer = Packer::new(pk, spec()).unwrap();
            let pts = packer.pack(&values).unwrap();
            // k copies summed as integers (what decryption of the homomorphic sum yields).
            let sums: Vec<Plaintext> = pts
                .iter()
                .map(|p| Plaintext::from_be_bytes(&(BigUint::from_bytes_be(&p.to_be_bytes()) * k).to_bytes_be()))
                .collect();
            let out = packer.unpack_sum(&sums, k, values.len()).unwrap();
            for (i, v) in values.iter().enumerate() {
                let q = packer.encode_fixed(i, *v).unwrap();
                prop_assert_eq!(out[i], (q * i64::from(k)) as f64 / 65536.0);
            }
        }
    }
}
