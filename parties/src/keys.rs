//! `consort keygen`: the dealer ceremony of the consortium's threshold Paillier key, and
//! the key files a node loads.
//!
//! Layout of a key directory: `public.json` (the threshold public key with every
//! member's verification key; give it to every node) and `party-<i>.share.json` (member
//! i's secret key share, mode 0600; give it to member i only, then delete the dealer's
//! copy). Whoever runs the ceremony sees every share: run it on a trusted machine.

use std::path::{Path, PathBuf};
use std::time::Instant;

use consort_he::paillier::MIN_MODULUS_BITS;
use consort_he::paillier::threshold::{self, KeyShare, ThresholdPublicKey};
use consort_net::PartyId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::error::NodeError;
use crate::files::{check_private, read_text, write_new, write_secret};
use crate::progress::Spinner;

/// What `consort keygen` did.
#[derive(Clone, Debug, Serialize)]
pub struct KeygenReport {
    pub dir: PathBuf,
    pub bits: u32,
    pub parties: u32,
    pub threshold: u32,
    /// Whether the committed test-only primes were used (never for real data).
    pub test_only_primes: bool,
    pub secs: f64,
    pub files: Vec<PathBuf>,
    /// The public key's fingerprint (see [`fingerprint`]).
    pub fingerprint: String,
}

/// The public key's SHA-256 fingerprint in groups of four hex digits, as `keygen`
/// prints it and every node logs it at start: the members read it to each other out
/// of band to know they all hold the key the ceremony made.
pub fn fingerprint(key: &ThresholdPublicKey) -> String {
    let h = consort_protocols::fedavg::paillier::fingerprint(key);
    h.chunks(2).map(hex::encode).collect::<Vec<_>>().join(" ")
}

pub fn public_path(dir: &Path) -> PathBuf {
    dir.join("public.json")
}

pub fn share_path(dir: &Path, party: PartyId) -> PathBuf {
    dir.join(format!("party-{}.share.json", party.0))
}

fn os_rng() -> Result<ChaCha20Rng, NodeError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| NodeError::Keys(format!("no OS randomness: {e}")))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

/// The committed TEST-ONLY primes, in the tests' builds only.
#[cfg(feature = "test-tools")]
fn committed_test_primes(bits: u32) -> Result<threshold::SafePrimes, NodeError> {
    match bits {
        2048 => Ok(threshold::test_only_primes_2048()),
        3072 => Ok(threshold::test_only_primes_3072()),
        other => Err(NodeError::Keys(format!("no test-only primes for {other} bits (2048, 3072)"))),
    }
}

#[cfg(not(feature = "test-tools"))]
fn committed_test_primes(_bits: u32) -> Result<threshold::SafePrimes, NodeError> {
    Err(NodeError::Keys("the TEST-ONLY primes are only in the tests' builds of consort, not in this one".into()))
}

/// Why `--threshold 1` needs `--allow-threshold-1`.
pub const THRESHOLD_1: &str = "--threshold 1 lets any one member decrypt alone, including another member's \
    contribution that it obtains from the aggregator; use --threshold 2 or more, or pass --allow-threshold-1 \
    if every member may see every contribution";

/// Deals a fresh threshold key for `parties` members (any `threshold` decrypt) into `dir`.
/// A threshold of 1 is refused unless `allow_threshold_1` (see [`THRESHOLD_1`]).
pub fn keygen(
    dir: &Path,
    parties: u32,
    threshold: u32,
    bits: u32,
    test_only_primes: bool,
    allow_threshold_1: bool,
) -> Result<KeygenReport, NodeError> {
    if !(2..=64).contains(&parties) || threshold == 0 || threshold > parties {
        return Err(NodeError::Keys(format!(
            "--threshold {threshold} with --parties {parties}: need 2 <= parties <= 64 and 1 <= threshold <= parties"
        )));
    }
    if threshold == 1 && !allow_threshold_1 {
        return Err(NodeError::Keys(THRESHOLD_1.into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| NodeError::file(dir, format!("cannot create: {e}")))?;
    let public = public_path(dir);
    if public.exists() {
        return Err(NodeError::file(&public, "exists; refusing to overwrite a key set (use another --out)".into()));
    }
    let started = Instant::now();
    let mut rng = os_rng()?;
    let (key, shares) = if test_only_primes {
        warn!("using the committed TEST-ONLY primes: anyone can decrypt; never use this key for real data");
        threshold::deal_with_primes(&committed_test_primes(bits)?, parties, threshold, &mut rng)
    } else {
        let spinner = Spinner::new(format!("searching two {}-bit safe primes (seconds to a minute)", bits / 2));
        let r = threshold::deal(bits, parties, threshold, &mut rng);
        spinner.done();
        r
    }
    .map_err(|e| NodeError::Keys(e.to_string()))?;
    let mut files = Vec::new();
    write_new(&public, key.to_json().as_bytes())?;
    files.push(public);
    for share in &shares {
        let path = share_path(dir, PartyId(share.index() as u16));
        let text = share.to_json();
        write_secret(&path, text.as_bytes())?;
        files.push(path);
    }
    info!(dir = %dir.display(), parties, threshold, "threshold key written");
    Ok(KeygenReport {
        dir: dir.to_path_buf(),
        bits: key.public_key().modulus_bits(),
        parties,
        threshold,
        test_only_primes,
        secs: started.elapsed().as_secs_f64(),
        files,
        fingerprint: fingerprint(&key),
    })
}

/// Loads the public key of a key directory.
pub fn load_public(dir: &Path) -> Result<ThresholdPublicKey, NodeError> {
    let path = public_path(dir);
    let text = read_text(&path)?;
    let key = ThresholdPublicKey::from_json(&text)
        .map_err(|e| NodeError::file(&path, format!("not a threshold public key: {e}")))?;
    if threshold::is_test_only_key(key.public_key()) {
        if !crate::TEST_TOOLS {
            return Err(NodeError::file(
                &path,
                "dealt from the committed TEST-ONLY primes, which anyone can read: this build refuses it (run \
                 consort keygen)"
                    .into(),
            ));
        }
        warn!(file = %path.display(), "a TEST-ONLY key: anyone can decrypt under it");
    }
    // The decoder accepts small test keys; a node does not.
    let bits = key.public_key().modulus_bits();
    if bits < MIN_MODULUS_BITS {
        return Err(NodeError::file(
            &path,
            format!(
                "a {bits}-bit key: a consortium key needs n of at least {MIN_MODULUS_BITS} bits (run consort keygen)"
            ),
        ));
    }
    Ok(key)
}

/// Loads member `me`'s key share from a key directory.
pub fn load_share(dir: &Path, me: PartyId) -> Result<KeyShare, NodeError> {
    let path = share_path(dir, me);
    check_private(&path)?;
    let text = Zeroizing::new(read_text(&path)?);
    let share = KeyShare::from_json(&text).map_err(|e| NodeError::file(&path, format!("not a key share: {e}")))?;
    if share.index() != u32::from(me.0) {
        return Err(NodeError::file(&path, format!("holds member {}'s share, not {me}'s", share.index())));
    }
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_refuses_a_key_below_2048_bits() {
        // Two 64-bit safe primes: a 128-bit n, which the decoder accepts for tests.
        let (p, q) = (0xffff_ffff_ffff_fa43u64.to_be_bytes(), 0xffff_ffff_ffff_f5dbu64.to_be_bytes());
        let primes = threshold::SafePrimes::from_be_bytes(&p, &q);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (key, _) = threshold::deal_with_primes_insecure_for_tests(&primes, 3, 2, &mut rng).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(public_path(dir.path()), key.to_json()).unwrap();
        let e = load_public(dir.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: a 128-bit key: a consortium key needs n of at least 2048 bits (run consort keygen)",
                public_path(dir.path()).display()
            )
        );
    }
}
