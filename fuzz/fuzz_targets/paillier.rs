//! Paillier ciphertexts, partial decryptions (and their proofs) and threshold key files.
#![no_main]

use std::sync::OnceLock;

use consort_he::paillier::Ciphertext;
use consort_he::paillier::threshold::{
    KeyShare, PartialDecryption, ThresholdPublicKey, deal_with_primes, test_only_primes_2048,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha10::ChaCha20Rng;
use rand_core::SeedableRng;

fn key() -> &'static (ThresholdPublicKey, Ciphertext) {
    static K: OnceLock<(ThresholdPublicKey, Ciphertext)> = OnceLock::new();
    K.get_or_init(|| {
        let mut r = ChaCha20Rng::from_seed([5; 32]);
        let (tpk, _) = deal_with_primes(&test_only_primes_2048(), 3, 2, &mut r).expect("test key");
        let pk = tpk.public_key();
        let ct = pk.encrypt(&consort_he::paillier::Plaintext::from_i64(pk, 42), &mut r).expect("encrypt");
        (tpk, ct)
    })
}

fuzz_target!(|data: &[u8]| {
    let (tpk, ct) = key();
    let _ = tpk.public_key().ciphertext_from_bytes(data);
    if let Ok(pd) = PartialDecryption::from_bytes(tpk, 1, 1, data) {
        let _ = tpk.verify(std::slice::from_ref(ct), &pd);
    }
    let text = String::from_utf8_lossy(data);
    let _ = ThresholdPublicKey::from_json(&text);
    let _ = KeyShare::from_json(&text);
});
