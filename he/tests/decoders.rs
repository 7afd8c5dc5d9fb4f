#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Every decoder of peer data in `he` never panics: Paillier ciphertexts, partial
//! decryptions with proofs, threshold keys and key shares (JSON), and CKKS ciphertexts
//! and keys — on arbitrary bytes and on mutations (flipped bytes, cuts, extensions) of
//! valid encodings. A decoder may accept or refuse; it must not panic.
//!
//! CI runs proptest's default number of cases; the long run is
//! `PROPTEST_CASES=100000 cargo test --release -p consort-he --test decoders`.

mod common;

use std::sync::OnceLock;

use consort_he::ckks;
use consort_he::paillier::threshold::*;
use consort_he::paillier::*;
use proptest::prelude::*;
use rand_chacha10::ChaCha20Rng;
use rand_core::SeedableRng;

struct Paillier {
    tpk: ThresholdPublicKey,
    share_json: String,
    ct: Vec<u8>,
    partial: Vec<u8>,
}

fn paillier() -> &'static Paillier {
    static P: OnceLock<Paillier> = OnceLock::new();
    P.get_or_init(|| {
        let mut r = ChaCha20Rng::from_seed([5; 32]);
        let (tpk, shares) = deal_with_primes(&test_only_primes_2048(), 3, 2, &mut r).unwrap();
        let pk = tpk.public_key();
        let ct = pk.encrypt(&Plaintext::from_i64(pk, 42), &mut r).unwrap();
        let partial = shares[1].partial_decrypt(&tpk, std::slice::from_ref(&ct), &mut r).unwrap().to_bytes();
        Paillier { share_json: shares[1].to_json().to_string(), ct: ct.to_bytes(), partial, tpk }
    })
}

struct Ckks {
    keys: common::Keys,
    ct: Vec<u8>,
    pk: Vec<u8>,
}

fn ckks_keys() -> &'static Ckks {
    static K: OnceLock<Ckks> = OnceLock::new();
    K.get_or_init(|| {
        let keys = common::Keys::small(21);
        let ct = keys.enc().encrypt_values(&[1.0, -2.5]).unwrap().to_bytes(&keys.ctx).unwrap();
        let pk = keys.pk.to_bytes(&keys.ctx).unwrap();
        Ckks { keys, ct, pk }
    })
}

/// A valid encoding changed: some bytes flipped, then cut or extended.
fn mutate(valid: &[u8], flips: &[(usize, u8)], cut: Option<usize>, extra: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for (at, x) in flips {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] ^= x | 1;
        }
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b.extend_from_slice(extra);
    b
}

fn mutation() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>, Vec<u8>)> {
    (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
}

proptest! {
    #[test]
    fn paillier_ciphertexts_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), m in mutation()) {
        let p = paillier();
        let pk = p.tpk.public_key();
        let _ = pk.ciphertext_from_bytes(&bytes);
        let _ = pk.ciphertext_from_bytes(&mutate(&p.ct, &m.0, m.1, &m.2));
    }

    #[test]
    fn partial_decryptions_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
        index in 0u32..8,
        count in 0usize..4,
        m in mutation(),
    ) {
        let p = paillier();
        let _ = PartialDecryption::from_bytes(&p.tpk, index, count, &bytes);
        let mutated = mutate(&p.partial, &m.0, m.1, &m.2);
        if let Ok(pd) = PartialDecryption::from_bytes(&p.tpk, 1, 1, &mutated) {
            // Whatever decodes is checked by the proof, which must not panic either.
            let ct = p.tpk.public_key().ciphertext_from_bytes(&p.ct).unwrap();
            let _ = p.tpk.verify(std::slice::from_ref(&ct), &pd);
        }
    }

    #[test]
    fn threshold_keys_and_shares_never_panic(text in ".{0,300}", m in mutation()) {
        let p = paillier();
        let _ = ThresholdPublicKey::from_json(&text);
        let _ = KeyShare::from_json(&text);
        let key = mutate(p.tpk.to_json().as_bytes(), &m.0, m.1, &m.2);
        let _ = ThresholdPublicKey::from_json(&String::from_utf8_lossy(&key));
        let share = mutate(p.share_json.as_bytes(), &m.0, m.1, &m.2);
        let _ = KeyShare::from_json(&String::from_utf8_lossy(&share));
    }

    #[test]
    fn ckks_ciphertexts_and_keys_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), m in mutation()) {
        let k = ckks_keys();
        let ctx = &k.keys.ctx;
        let _ = ckks::Ciphertext::from_bytes(ctx, &bytes);
        let _ = ckks::PublicKey::from_bytes(ctx, &bytes);
        let _ = ckks::Ciphertext::from_bytes(ctx, &mutate(&k.ct, &m.0, m.1, &m.2));
        let _ = ckks::PublicKey::from_bytes(ctx, &mutate(&k.pk, &m.0, m.1, &m.2));
        let _ = ckks::RelinKey::from_bytes(ctx, &mutate(&k.pk, &m.0, m.1, &m.2));
        let _ = ckks::GaloisKeys::from_bytes(ctx, &mutate(&k.pk, &m.0, m.1, &m.2));
    }
}
