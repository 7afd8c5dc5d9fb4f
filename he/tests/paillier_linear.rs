#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Signed packing along the batch and the plaintext linear layer on Paillier ciphertexts:
//! round trips at the slot bounds, linear combinations against i128 arithmetic, the forward
//! (vector_matrix) and backward (matrix_vector) products, overflow detection and errors.

/// Grouped so that `cargo test -p consort-he paillier` selects these tests.
mod paillier_linear {

    use std::sync::OnceLock;

    use consort_he::paillier::threshold::test_only_primes_2048;
    use consort_he::paillier::*;
    use proptest::prelude::*;
    use rand_chacha10::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    /// The committed TEST-ONLY 2048-bit key.
    fn big() -> &'static (PublicKey, SecretKey) {
        static KEYS: OnceLock<(PublicKey, SecretKey)> = OnceLock::new();
        KEYS.get_or_init(|| test_only_primes_2048().keypair().unwrap())
    }

    /// A 1024-bit insecure key for the property tests (cheaper encryption).
    fn small() -> &'static (PublicKey, SecretKey) {
        static KEYS: OnceLock<(PublicKey, SecretKey)> = OnceLock::new();
        KEYS.get_or_init(|| generate_keypair_insecure_for_tests(1024, &mut rng(99)).unwrap())
    }

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    fn encrypt_packed(
        pk: &PublicKey,
        packing: &SignedPacking,
        rows: &[Vec<i128>],
        r: &mut ChaCha20Rng,
    ) -> Vec<Ciphertext> {
        rows.iter().map(|v| pk.encrypt(&packing.pack(pk, v).unwrap(), r).unwrap()).collect()
    }

    fn decrypt_packed(sk: &SecretKey, packing: &SignedPacking, ct: &Ciphertext, count: usize) -> Vec<i128> {
        packing.unpack(sk.public_key(), &sk.decrypt(ct), count).unwrap()
    }

    /// A value in [-max, max], often exactly at a bound or zero.
    fn value(max: i128) -> impl Strategy<Value = i128> {
        prop_oneof![Just(max), Just(-max), Just(0), -max..=max]
    }

    fn weight(max: i64) -> impl Strategy<Value = i64> {
        prop_oneof![Just(max), Just(-max), Just(0), -max..=max]
    }

    /// Slot width, key, slot count up to max_slots, and values for up to that many slots.
    fn packing_case() -> impl Strategy<Value = (u32, bool, usize, Vec<i128>)> {
        (8u32..=126, any::<bool>())
            .prop_flat_map(|(w, use_big)| {
                let pk = if use_big { &big().0 } else { &small().0 };
                (Just(w), Just(use_big), 1..=SignedPacking::max_slots(pk, w))
            })
            .prop_flat_map(|(w, use_big, slots)| {
                let max = (1i128 << (w - 1)) - 1;
                (Just(w), Just(use_big), Just(slots), prop::collection::vec(value(max), 0..=slots))
            })
    }

    /// Slot width w, d_in rows of `batch` values and d_in weights such that
    /// Σ_j |w_j|·|v_ij| < 8·2^{wb}·2^{vb} = 2^{w−1} (wb + vb = w − 4).
    fn combination_case() -> impl Strategy<Value = (u32, Vec<Vec<i128>>, Vec<i64>)> {
        (16u32..=126)
            .prop_flat_map(|w| (Just(w), 1u32..=(w - 5).min(62)))
            .prop_flat_map(|(w, wb)| (Just(w), Just(wb), 1usize..=8, 1..=SignedPacking::max_slots(&small().0, w)))
            .prop_flat_map(|(w, wb, d_in, batch)| {
                let vmax = (1i128 << (w - 4 - wb)) - 1;
                let wmax = i64::try_from((1i128 << wb) - 1).unwrap();
                (
                    Just(w),
                    prop::collection::vec(prop::collection::vec(value(vmax), batch), d_in),
                    prop::collection::vec(weight(wmax), d_in),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn pack_unpack_round_trip_at_bounds((w, use_big, slots, values) in packing_case()) {
            let (pk, _) = if use_big { big() } else { small() };
            let packing = SignedPacking::new(pk, w, slots).unwrap();
            prop_assert_eq!((packing.slot_bits(), packing.slots()), (w, slots));
            prop_assert_eq!(packing.max_abs(), (1i128 << (w - 1)) - 1);
            let pt = packing.pack(pk, &values).unwrap();
            prop_assert_eq!(packing.unpack(pk, &pt, values.len()).unwrap(), values.clone());
            let mut padded = values.clone();
            padded.resize(slots, 0);
            prop_assert_eq!(packing.unpack(pk, &pt, slots).unwrap(), padded);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn linear_combination_matches_i128((w, rows, weights) in combination_case(), seed in any::<u8>()) {
            let (pk, sk) = small();
            let batch = rows[0].len();
            let packing = SignedPacking::new(pk, w, SignedPacking::max_slots(pk, w)).unwrap();
            let cts = encrypt_packed(pk, &packing, &rows, &mut rng(seed));
            let expected: Vec<i128> = (0..batch)
                .map(|i| rows.iter().zip(&weights).map(|(row, wj)| i128::from(*wj) * row[i]).sum())
                .collect();
            let combined = pk.linear_combination(&cts, &weights).unwrap();
            prop_assert_eq!(decrypt_packed(sk, &packing, &combined, batch), expected);
        }
    }

    /// Random rows of `batch` values in [-max, max], the first row at the bounds.
    fn random_rows(r: &mut ChaCha20Rng, count: usize, batch: usize, max: i128) -> Vec<Vec<i128>> {
        (0..count)
            .map(|j| {
                (0..batch)
                    .map(|i| match (j, i % 2) {
                        (0, 0) => max,
                        (0, _) => -max,
                        _ => i128::from(r.next_u64() % (2 * max as u64 + 1)) - max,
                    })
                    .collect()
            })
            .collect()
    }

    /// Signed weights below 2^19 in magnitude, with a few at the bound and a zero.
    fn random_weights(r: &mut ChaCha20Rng, count: usize) -> Vec<i64> {
        let max = (1i64 << 19) - 1;
        (0..count)
            .map(|i| match i {
                0 => max,
                1 => -max,
                2 => 0,
                _ => (r.next_u64() % (2 * max as u64 + 1)) as i64 - max,
            })
            .collect()
    }

    /// Forward x·W (+ bias) and backward g·Wᵀ on the 2048-bit key: 16 features, 3 classes,
    /// a batch of 16 rows in 52-bit slots, 19-bit weights.
    #[test]
    fn vector_matrix_and_matrix_vector_2048() {
        let (pk, sk) = big();
        assert!(pk.modulus_bits() >= 2048);
        let (d_in, d_out, batch) = (16usize, 3usize, 16usize);
        let packing = SignedPacking::new(pk, 52, batch).unwrap();
        let mut r = rng(5);
        // 16·2^19·2^27 = 2^50 < 2^51.
        let x = random_rows(&mut r, d_in, batch, (1 << 27) - 1);
        let w = random_weights(&mut r, d_in * d_out);
        let cts = encrypt_packed(pk, &packing, &x, &mut r);

        let ys = pk.vector_matrix(&cts, &w, d_out).unwrap();
        assert_eq!(ys.len(), d_out);
        let bias: Vec<i128> = vec![-123_456_789, 0, 987_654_321];
        for (k, y) in ys.iter().enumerate() {
            let expected: Vec<i128> =
                (0..batch).map(|i| (0..d_in).map(|j| i128::from(w[j * d_out + k]) * x[j][i]).sum()).collect();
            assert_eq!(decrypt_packed(sk, &packing, y, batch), expected, "output {k}");
            let with_bias = pk.add_plain(y, &packing.pack(pk, &vec![bias[k]; batch]).unwrap());
            let expected: Vec<i128> = expected.iter().map(|v| v + bias[k]).collect();
            assert_eq!(decrypt_packed(sk, &packing, &with_bias, batch), expected, "output {k} + bias");
        }

        // Backward: g (batch × classes) times Wᵀ, the same row-major features × classes W.
        let g = random_rows(&mut r, d_out, batch, (1 << 27) - 1);
        let gcts = encrypt_packed(pk, &packing, &g, &mut r);
        let back = pk.matrix_vector(&gcts, &w, d_in).unwrap();
        assert_eq!(back.len(), d_in);
        for (j, b) in back.iter().enumerate() {
            let expected: Vec<i128> =
                (0..batch).map(|i| (0..d_out).map(|k| i128::from(w[j * d_out + k]) * g[k][i]).sum()).collect();
            assert_eq!(decrypt_packed(sk, &packing, b, batch), expected, "feature {j}");
        }
        // Inverting the inputs once gives the same group element as one inversion per output.
        let row: Vec<i64> = w[..d_out].to_vec();
        assert_eq!(back[0], pk.linear_combination(&gcts, &row).unwrap());
    }

    /// A 256-wide forward layer (bucket accumulation) and a matrix_vector with more outputs
    /// than inputs and all-positive columns (no inverses needed for some inputs).
    #[test]
    fn wide_layers_on_small_key() {
        let (pk, sk) = small();
        let (d_in, d_out, batch) = (256usize, 2usize, 4usize);
        let packing = SignedPacking::new(pk, 60, batch).unwrap();
        let mut r = rng(6);
        // 256·2^19·2^30 = 2^57 < 2^59.
        let x = random_rows(&mut r, d_in, batch, (1 << 30) - 1);
        let w = random_weights(&mut r, d_in * d_out);
        let cts = encrypt_packed(pk, &packing, &x, &mut r);
        let ys = pk.vector_matrix(&cts, &w, d_out).unwrap();
        for (k, y) in ys.iter().enumerate() {
            let expected: Vec<i128> =
                (0..batch).map(|i| (0..d_in).map(|j| i128::from(w[j * d_out + k]) * x[j][i]).sum()).collect();
            assert_eq!(decrypt_packed(sk, &packing, y, batch), expected, "output {k}");
        }

        let g = random_rows(&mut r, 2, batch, 1000);
        let gcts = encrypt_packed(pk, &packing, &g, &mut r);
        // Input 0 has only non-negative weights, input 1 mixed signs.
        let wt: Vec<i64> = vec![5, -7, 0, 3, 1, 0, 9, 2, 4, -1];
        let back = pk.matrix_vector(&gcts, &wt, 5).unwrap();
        for (j, b) in back.iter().enumerate() {
            let expected: Vec<i128> =
                (0..batch).map(|i| (0..2).map(|k| i128::from(wt[j * 2 + k]) * g[k][i]).sum()).collect();
            assert_eq!(decrypt_packed(sk, &packing, b, batch), expected, "feature {j}");
        }
    }

    #[test]
    fn zero_weights_are_skipped() {
        let (pk, sk) = small();
        let packing = SignedPacking::new(pk, 32, 4).unwrap();
        let rows = vec![vec![1, -2, 3, -4], vec![10, 20, 30, 40], vec![-5, 5, -5, 5]];
        let cts = encrypt_packed(pk, &packing, &rows, &mut rng(7));
        let with_zero = pk.linear_combination(&cts, &[3, 0, -2]).unwrap();
        let without = pk.linear_combination(&[cts[0].clone(), cts[2].clone()], &[3, -2]).unwrap();
        assert_eq!(with_zero, without);
        assert_eq!(decrypt_packed(sk, &packing, &with_zero, 4), vec![13, -16, 19, -22]);
        // All zero (and empty): the trivial encryption of 0.
        let zero = pk.linear_combination(&cts, &[0, 0, 0]).unwrap();
        assert_eq!(decrypt_packed(sk, &packing, &zero, 4), vec![0; 4]);
        assert_eq!(pk.linear_combination(&[], &[]).unwrap(), zero);
        assert_eq!(pk.vector_matrix(&[], &[], 2).unwrap(), vec![zero.clone(), zero]);
        assert!(pk.matrix_vector(&cts, &[], 0).unwrap().is_empty());
    }

    #[test]
    fn add_plain_is_homomorphic() {
        let (pk, sk) = big();
        let mut r = rng(8);
        for (a, b) in [(5i64, 7i64), (-5, 7), (5, -7), (-5, -7), (0, i64::MIN), (i64::MAX, i64::MAX)] {
            let ct = pk.encrypt(&Plaintext::from_i64(pk, a), &mut r).unwrap();
            let sum = pk.add_plain(&ct, &Plaintext::from_i64(pk, b));
            assert_ne!(sum, ct);
            assert_eq!(pk.add_plain(&ct, &Plaintext::from_i64(pk, b)), sum, "deterministic");
            assert_eq!(sk.decrypt(&sum).to_i128_centered(pk), Some(i128::from(a) + i128::from(b)));
        }
        // Plaintexts at or above n are reduced mod n.
        let ct = pk.encrypt(&Plaintext::from_u64(3), &mut r).unwrap();
        let n_plus_4 =
            Plaintext::from_be_bytes(&(num_bigint::BigUint::from_bytes_be(&pk.modulus_bytes()) + 4u8).to_bytes_be());
        assert_eq!(sk.decrypt(&pk.add_plain(&ct, &n_plus_4)).to_i128_centered(pk), Some(7));
        // Packed: slot-wise.
        let packing = SignedPacking::new(pk, 40, 3).unwrap();
        let ct = pk.encrypt(&packing.pack(pk, &[1, -1, 100]).unwrap(), &mut r).unwrap();
        let sum = pk.add_plain(&ct, &packing.pack(pk, &[-2, -3, -400]).unwrap());
        assert_eq!(decrypt_packed(sk, &packing, &sum, 3), vec![-1, -4, -300]);
    }

    #[test]
    fn configuration_errors() {
        let (pk, _) = big();
        assert_eq!(SignedPacking::max_slots(pk, 52), 39);
        assert_eq!(SignedPacking::new(pk, 52, 39).unwrap().slots(), 39);
        assert_eq!(
            SignedPacking::new(pk, 52, 40).unwrap_err().to_string(),
            "signed packing: 40 slots of 52 bits need 2082 plaintext bits (slots × slot bits + 2) but the modulus \
             has 2048 bits"
        );
        assert_eq!(
            SignedPacking::new(pk, 7, 1).unwrap_err().to_string(),
            "signed packing: a slot of 7 bits is outside the accepted 8..=126 bits"
        );
        assert_eq!(
            SignedPacking::new(pk, 127, 1).unwrap_err().to_string(),
            "signed packing: a slot of 127 bits is outside the accepted 8..=126 bits"
        );
        assert_eq!(SignedPacking::max_slots(pk, 127), 0);
        assert_eq!(
            SignedPacking::new(pk, 16, 0).unwrap_err().to_string(),
            "invalid packing specification: a signed packing needs at least one slot"
        );
    }

    #[test]
    fn pack_errors() {
        let (pk, _) = small();
        let packing = SignedPacking::new(pk, 16, 4).unwrap();
        assert_eq!(
            packing.pack(pk, &[0, 32768]).unwrap_err(),
            PaillierError::SlotValueOutOfRange { index: 1, value: 32768, slot_bits: 16, max: 32767 }
        );
        assert_eq!(
            packing.pack(pk, &[0, 1, -32768]).unwrap_err().to_string(),
            "signed packing: value -32768 at index 2 is out of range: 16-bit slots hold [-32767, 32767]"
        );
        assert_eq!(
            packing.pack(pk, &[i128::MIN]).unwrap_err().to_string(),
            format!(
                "signed packing: value {} at index 0 is out of range: 16-bit slots hold [-32767, 32767]",
                i128::MIN
            )
        );
        assert_eq!(
            packing.pack(pk, &[0; 5]).unwrap_err().to_string(),
            "signed packing: 5 values to pack but the packing has 4 slots"
        );
        let pt = packing.pack(pk, &[1, 2]).unwrap();
        assert_eq!(
            packing.unpack(pk, &pt, 5).unwrap_err().to_string(),
            "signed packing: 5 slots to unpack but the packing has 4 slots"
        );
    }

    #[test]
    fn overflow_is_detected_on_unpack() {
        let (pk, sk) = small();
        let packing = SignedPacking::new(pk, 16, 4).unwrap();
        let mut r = rng(9);
        // The top slot carries out: 2·32767 = 65534 ≥ 2^15.
        let ct = pk.encrypt(&packing.pack(pk, &[1, 2, 3, 32767]).unwrap(), &mut r).unwrap();
        let doubled = sk.decrypt(&pk.linear_combination(&[ct.clone(), ct.clone()], &[1, 1]).unwrap());
        assert_eq!(
            packing.unpack(pk, &doubled, 4).unwrap_err().to_string(),
            "signed packing: slot overflow detected on unpack: nonzero data above the 4 unpacked 16-bit slots"
        );
        // The top slot goes below -2^15.
        let negated = sk.decrypt(&pk.linear_combination(std::slice::from_ref(&ct), &[-3]).unwrap());
        assert!(matches!(
            packing.unpack(pk, &negated, 4),
            Err(PaillierError::SignedPackingOverflow { count: 4, slot_bits: 16 })
        ));
        // A slot reaching exactly -2^15.
        let ct = pk.encrypt(&packing.pack(pk, &[7, -16384]).unwrap(), &mut r).unwrap();
        let doubled = sk.decrypt(&pk.linear_combination(&[ct], &[2]).unwrap());
        assert_eq!(
            packing.unpack(pk, &doubled, 2).unwrap_err().to_string(),
            "signed packing: slot overflow detected on unpack: slot 1 reached -2^(16-1)"
        );
        // Unpacking fewer slots than were filled leaves data above them.
        let pt = packing.pack(pk, &[1, 2, 3]).unwrap();
        assert_eq!(packing.unpack(pk, &pt, 3).unwrap(), vec![1, 2, 3]);
        assert!(matches!(packing.unpack(pk, &pt, 2), Err(PaillierError::SignedPackingOverflow { count: 2, .. })));
        // A total that wraps mod n: every slot full, scaled by ~2^63.
        let full = SignedPacking::new(pk, 16, SignedPacking::max_slots(pk, 16)).unwrap();
        let values = vec![32767; full.slots()];
        let ct = pk.encrypt(&full.pack(pk, &values).unwrap(), &mut r).unwrap();
        let wrapped = sk.decrypt(&pk.linear_combination(&[ct], &[i64::MAX]).unwrap());
        assert!(matches!(full.unpack(pk, &wrapped, full.slots()), Err(PaillierError::SignedPackingOverflow { .. })));
    }

    #[test]
    fn length_mismatch_errors() {
        let (pk, _) = small();
        let packing = SignedPacking::new(pk, 32, 2).unwrap();
        let cts = encrypt_packed(pk, &packing, &[vec![1], vec![2]], &mut rng(10));
        assert_eq!(
            pk.linear_combination(&cts, &[1, 2, 3]).unwrap_err().to_string(),
            "length mismatch: weights of the linear combination: expected 2, found 3"
        );
        assert_eq!(
            pk.vector_matrix(&cts, &[1, 2, 3, 4, 5], 3).unwrap_err().to_string(),
            "length mismatch: weight matrix entries: expected 6, found 5"
        );
        assert_eq!(
            pk.matrix_vector(&cts, &[1; 7], 3).unwrap_err().to_string(),
            "length mismatch: weight matrix entries: expected 6, found 7"
        );
        assert!(matches!(
            pk.vector_matrix(&cts, &[], usize::MAX),
            Err(PaillierError::LengthMismatch { expected: usize::MAX, found: 0, .. })
        ));
    }
}
