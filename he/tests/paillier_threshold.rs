#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Threshold Paillier on the TEST-ONLY 2048-bit safe primes: combination from every T-subset,
//! a wrong partial named and excluded, too few partials, wire formats and key serde.

/// Grouped so that `cargo test -p consort-he paillier` selects these tests.
mod paillier {

    use consort_he::paillier::threshold::*;
    use consort_he::paillier::*;
    use rand_chacha10::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    fn subsets(n: u32, t: usize) -> Vec<Vec<u32>> {
        (0u32..(1 << n))
            .filter(|m| m.count_ones() as usize == t)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect()
    }

    fn setup(parties: u32, threshold: u32, values: &[i64]) -> (ThresholdPublicKey, Vec<KeyShare>, Vec<Ciphertext>) {
        let mut r = rng(parties as u8);
        let (tpk, shares) = deal_with_primes(&test_only_primes_2048(), parties, threshold, &mut r).unwrap();
        let pk = tpk.public_key();
        let cts = values.iter().map(|v| pk.encrypt(&Plaintext::from_i64(pk, *v), &mut r).unwrap()).collect();
        (tpk, shares, cts)
    }

    fn check_all_subsets(parties: u32, threshold: u32) {
        let values = [5i64, -17, 0, 1 << 40];
        let (tpk, shares, cts) = setup(parties, threshold, &values);
        let mut r = rng(99);
        let partials: Vec<PartialDecryption> =
            shares.iter().map(|s| s.partial_decrypt(&tpk, &cts, &mut r).unwrap()).collect();
        for set in subsets(parties, threshold as usize) {
            let chosen: Vec<PartialDecryption> = set.iter().map(|&i| partials[i as usize].clone()).collect();
            let out = tpk.combine(&cts, &chosen).unwrap();
            let got: Vec<i64> = out.iter().map(|p| p.to_i128_centered(tpk.public_key()).unwrap() as i64).collect();
            assert_eq!(got, values, "subset {set:?}");
        }
    }

    #[test]
    fn combine_from_every_subset_4_of_2() {
        check_all_subsets(4, 2);
    }

    #[test]
    fn combine_from_every_subset_5_of_3() {
        check_all_subsets(5, 3);
    }

    #[test]
    fn wrong_partials_are_named_and_excluded() {
        let (tpk, shares, cts) = setup(4, 2, &[1, 2, 3]);
        let mut r = rng(7);
        let p0 = shares[0].partial_decrypt(&tpk, &cts, &mut r).unwrap();
        let p1 = shares[1].partial_decrypt(&tpk, &cts, &mut r).unwrap();
        let p2 = shares[2].partial_decrypt(&tpk, &cts, &mut r).unwrap();
        let ct_len = tpk.public_key().ciphertext_len();

        // A wrong value in each position: swap in another party's value.
        for k in 0..cts.len() {
            let mut bytes = p1.to_bytes();
            let other = p0.to_bytes();
            bytes[k * ct_len..(k + 1) * ct_len].copy_from_slice(&other[k * ct_len..(k + 1) * ct_len]);
            let bad = PartialDecryption::from_bytes(&tpk, 1, cts.len(), &bytes).unwrap();
            let err = tpk.verify(&cts, &bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                "invalid partial decryption from party 1: the proof of correct decryption does not verify"
            );
            // Combination leaves it out and succeeds from two valid ones.
            let report = tpk.combine_with_report(&cts, &[bad.clone(), p0.clone(), p2.clone()]).unwrap();
            assert_eq!(report.excluded, vec![err.clone()]);
            assert_eq!(report.plaintexts[2].to_i128_centered(tpk.public_key()), Some(3));
            // With only one valid partial left, the culprit is named.
            assert_eq!(tpk.combine(&cts, &[bad, p0.clone()]).unwrap_err(), err);
        }

        // A proof made with another party's key (party 0's partial relabelled as party 1).
        let relabelled = PartialDecryption::from_bytes(&tpk, 1, cts.len(), &p0.to_bytes()).unwrap();
        assert!(matches!(tpk.verify(&cts, &relabelled), Err(PaillierError::InvalidPartial { party: 1, .. })));

        // Partials for other ciphertexts, or for fewer of them.
        let err = tpk.verify(&cts[..2], &p1).unwrap_err();
        assert_eq!(err.to_string(), "invalid partial decryption from party 1: wrong number of values");
        let mut swapped = cts.clone();
        swapped.swap(0, 1);
        assert!(tpk.verify(&swapped, &p1).is_err());

        // Wire-format refusals.
        let bytes = p1.to_bytes();
        let err = PartialDecryption::from_bytes(&tpk, 1, cts.len(), &bytes[1..]).unwrap_err();
        assert_eq!(err.to_string(), "invalid partial decryption from party 1: wrong encoded length");
        let err = PartialDecryption::from_bytes(&tpk, 1, cts.len() + 1, &bytes).unwrap_err();
        assert_eq!(err.to_string(), "invalid partial decryption from party 1: wrong encoded length");
        let err = PartialDecryption::from_bytes(&tpk, 4, cts.len(), &bytes).unwrap_err();
        assert_eq!(err.to_string(), "invalid partial decryption from party 4: party index out of range");
        let mut zeroed = bytes.clone();
        zeroed[ct_len..2 * ct_len].fill(0);
        let err = PartialDecryption::from_bytes(&tpk, 1, cts.len(), &zeroed).unwrap_err();
        assert_eq!(err.to_string(), "invalid partial decryption from party 1: a value is not in Z*_{n^2}");
        let mut big = bytes.clone();
        big[..ct_len].fill(0xff);
        assert!(PartialDecryption::from_bytes(&tpk, 1, cts.len(), &big).is_err());
        let ok = PartialDecryption::from_bytes(&tpk, 1, cts.len(), &bytes).unwrap();
        assert_eq!(ok, p1);
        tpk.verify(&cts, &ok).unwrap();
    }

    #[test]
    fn fewer_than_threshold_is_refused() {
        let (tpk, shares, cts) = setup(5, 3, &[42]);
        let mut r = rng(8);
        let p0 = shares[0].partial_decrypt(&tpk, &cts, &mut r).unwrap();
        let p3 = shares[3].partial_decrypt(&tpk, &cts, &mut r).unwrap();
        let err = tpk.combine(&cts, &[p0.clone(), p3.clone(), p3.clone()]).unwrap_err();
        assert_eq!(err, PaillierError::NotEnoughPartials { have: 2, need: 3 });
        assert_eq!(err.to_string(), "not enough partial decryptions: have 2 valid, need 3");
    }

    #[test]
    fn key_serde_round_trip_and_validation() {
        let (tpk, shares, cts) = setup(4, 2, &[-9]);
        let json = tpk.to_json();
        let back = ThresholdPublicKey::from_json(&json).unwrap();
        assert_eq!(back, tpk);
        assert_eq!((back.parties(), back.threshold()), (4, 2));
        let share_json = shares[2].to_json();
        let share = KeyShare::from_json(&share_json).unwrap();
        assert_eq!(share.index(), 2);
        assert_eq!(format!("{share:?}"), "KeyShare { index: 2, secret: \"redacted\" }");
        let p2 = share.partial_decrypt(&back, &cts, &mut rng(1)).unwrap();
        let p0 = shares[0].partial_decrypt(&tpk, &cts, &mut rng(2)).unwrap();
        assert_eq!(back.combine(&cts, &[p2, p0]).unwrap()[0].to_i128_centered(back.public_key()), Some(-9));
        // The public key alone.
        let pk_json = serde_json::to_string(tpk.public_key()).unwrap();
        assert_eq!(&serde_json::from_str::<PublicKey>(&pk_json).unwrap(), tpk.public_key());

        let mut v: serde_json::Value = serde_json::from_str(&share_json).unwrap();
        v["index"] = 4.into();
        let err = KeyShare::from_json(&v.to_string()).unwrap_err();
        assert_eq!(err.to_string(), "invalid key share: share index out of range");
        let mut v: serde_json::Value = serde_json::from_str(&share_json).unwrap();
        v["share"] = "ff".repeat(600).into();
        let err = KeyShare::from_json(&v.to_string()).unwrap_err();
        assert_eq!(err.to_string(), "invalid key share: the share is larger than n^2");
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["threshold"] = 5.into();
        assert!(
            ThresholdPublicKey::from_json(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("invalid threshold: 5 of 4")
        );
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["verification_keys"].as_array_mut().unwrap().pop();
        assert!(ThresholdPublicKey::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn dealing_refusals() {
        let mut r = rng(3);
        let err = deal(1024, 3, 2, &mut r).unwrap_err();
        assert_eq!(err.to_string(), "key too small: n has 1024 bits, at least 2048 are required");
        let err = deal_with_primes(&test_only_primes_2048(), 3, 4, &mut r).unwrap_err();
        assert_eq!(err.to_string(), "invalid threshold: 4 of 3 parties");
        let err = deal_with_primes(&test_only_primes_2048(), 3, 0, &mut r).unwrap_err();
        assert_eq!(err.to_string(), "invalid threshold: 0 of 3 parties");
        // Two 127-bit primes that are not safe primes (2^127 − 1 and the largest such below it).
        let p = (num_bigint::BigUint::from(1u8) << 127u32) - 1u8;
        let q = num_bigint::BigUint::parse_bytes(b"170141183460469231731687303715884105703", 10).unwrap();
        let primes = SafePrimes::from_be_bytes(&p.to_bytes_be(), &q.to_bytes_be());
        let err = deal_with_primes_insecure_for_tests(&primes, 3, 2, &mut r).unwrap_err();
        assert_eq!(err.to_string(), "invalid key: p and q must be safe primes");
        let err = deal_with_primes(&primes, 3, 2, &mut r).unwrap_err();
        assert_eq!(err.to_string(), "key too small: n has 254 bits, at least 2048 are required");
        assert_eq!(test_only_primes_3072().modulus_bits(), 3072);
    }

    #[test]
    fn bench_functions_run_small() {
        let opts = bench::BenchOptions { bits: vec![2048], use_test_primes: true, iterations: 1, batch: 2 };
        let rows = bench::run(&opts).unwrap();
        assert_eq!(rows.len(), 9);
        assert!(bench::render_table(&rows).contains("TEST-ONLY committed primes"));
        let fig = bench::federated_round(300, 3, 2048, 2).unwrap();
        assert_eq!((fig.ciphertexts, fig.ciphertext_bytes), (4, 4 * 512));
        assert!(fig.to_string().contains("300 weights x 3 members"));
    }
}
