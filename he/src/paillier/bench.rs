//! Throughput figures per core and a simulated federated round (the CLI prints them).
//!
//! [`run`] measures every operation inside a one-thread rayon pool, so the figures are per
//! core. [`federated_round`] runs a whole round (pack, encrypt, aggregate, threshold-decrypt
//! with batch proofs, unpack, check the exact sum) on `threads` threads.

use std::fmt::Write as _;
use std::time::Instant;

use rand_chacha10::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

use super::threshold::{self, KeyShare, PartialDecryption, SafePrimes, ThresholdPublicKey};
use super::{Ciphertext, Packer, PackingSpec, PaillierError, Plaintext, RandomizerPool, Result};

/// What [`run`] measures.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Modulus sizes (2048 and 3072 have committed test primes).
    pub bits: Vec<u32>,
    /// Deal from the committed TEST-ONLY primes instead of searching safe primes.
    pub use_test_primes: bool,
    /// Repetitions of each single-ciphertext operation.
    pub iterations: usize,
    /// Ciphertexts per batch partial decryption.
    pub batch: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self { bits: vec![2048, 3072], use_test_primes: true, iterations: 8, batch: 32 }
    }
}

/// One measured operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// Modulus bits.
    pub bits: u32,
    /// What was measured.
    pub operation: String,
    /// Operations per second on one core.
    pub per_second: f64,
    /// Milliseconds per operation.
    pub ms_per_op: f64,
    /// Remarks (e.g. how the key was made).
    pub note: String,
}

fn row(bits: u32, operation: &str, seconds: f64, ops: usize, note: &str) -> BenchRow {
    let ops = ops.max(1) as f64;
    BenchRow {
        bits,
        operation: operation.to_string(),
        per_second: ops / seconds.max(1e-12),
        ms_per_op: seconds * 1e3 / ops,
        note: note.to_string(),
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let t = Instant::now();
    let out = f()?;
    Ok((out, t.elapsed().as_secs_f64()))
}

fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| PaillierError::ThreadPool(e.to_string()))
}

/// A threshold key of `bits` bits: from the committed test primes when allowed and
/// available, otherwise from a fresh safe-prime search. Returns the note to print.
fn key(
    bits: u32,
    parties: u32,
    threshold: u32,
    use_test_primes: bool,
    rng: &mut ChaCha20Rng,
) -> Result<((ThresholdPublicKey, Vec<KeyShare>), String, SafePrimes)> {
    match test_primes(bits).filter(|_| use_test_primes) {
        Some(primes) => {
            let (keys, s) = timed(|| threshold::deal_with_primes(&primes, parties, threshold, rng))?;
            Ok((keys, format!("TEST-ONLY committed primes (search skipped), dealing {s:.2} s"), primes))
        }
        None => {
            let (primes, search) = timed(|| SafePrimes::generate(bits, rng))?;
            let (keys, s) = timed(|| threshold::deal_with_primes(&primes, parties, threshold, rng))?;
            Ok((keys, format!("fresh safe primes: search {search:.1} s + dealing {s:.2} s"), primes))
        }
    }
}

/// Measures every operation per core (inside a one-thread rayon pool).
pub fn run(opts: &BenchOptions) -> Result<Vec<BenchRow>> {
    pool(1)?.install(|| {
        let mut rows = Vec::new();
        for &bits in &opts.bits {
            rows.extend(run_bits(bits, opts)?);
        }
        Ok(rows)
    })
}

fn run_bits(bits: u32, opts: &BenchOptions) -> Result<Vec<BenchRow>> {
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let it = opts.iterations.max(1);
    let batch = opts.batch.max(1);
    let t0 = Instant::now();
    let ((tpk, shares), note, primes) = key(bits, 3, 2, opts.use_test_primes, &mut rng)?;
    let mut rows = vec![row(bits, "threshold key ceremony (N=3, T=2)", t0.elapsed().as_secs_f64(), 1, &note)];
    let pk = tpk.public_key().clone();
    let ms: Vec<Plaintext> = (0..it.max(batch)).map(|_| Plaintext::from_u64(rng.next_u64())).collect();

    let (cts, s) = timed(|| ms.iter().take(it).map(|m| pk.encrypt(m, &mut rng)).collect::<Result<Vec<_>>>())?;
    rows.push(row(bits, "encrypt, fresh randomness", s, it, ""));
    let mut rpool = RandomizerPool::with_rng(&pk, &mut rng);
    let ((), fill) = timed(|| {
        rpool.fill(it);
        Ok(())
    })?;
    let (_, s) = timed(|| pk.encrypt_batch(ms.get(..it).unwrap_or(&ms), &mut rpool))?;
    rows.push(row(
        bits,
        "encrypt, precomputed pool (online)",
        s,
        it,
        &format!("pool fill {:.1} ms each", fill * 1e3 / it as f64),
    ));

    {
        let (_, sk) = primes.keypair()?;
        let (_, s) = timed(|| Ok(cts.iter().map(|c| sk.decrypt(c)).collect::<Vec<_>>()))?;
        rows.push(row(bits, "decrypt (CRT, whole key)", s, it, ""));
    }

    let one: Vec<Ciphertext> = cts.iter().take(1).cloned().collect();
    let share = shares.first().ok_or(PaillierError::SelfCheck("no share"))?;
    let (single, s) = timed(|| {
        (0..it).map(|_| share.partial_decrypt(&tpk, &one, &mut rng)).collect::<Result<Vec<PartialDecryption>>>()
    })?;
    rows.push(row(bits, "partial decryption + proof, 1 ciphertext", s, it, ""));
    let (_, s) = timed(|| single.iter().try_for_each(|p| tpk.verify(&one, p)))?;
    rows.push(row(bits, "proof verification, 1 ciphertext", s, it, ""));

    let big: Vec<Ciphertext> = ms.iter().take(batch).map(|m| pk.encrypt(m, &mut rng)).collect::<Result<_>>()?;
    let (partials, s) =
        timed(|| shares.iter().take(2).map(|sh| sh.partial_decrypt(&tpk, &big, &mut rng)).collect::<Result<Vec<_>>>())?;
    rows.push(row(bits, &format!("partial decryption, batch of {batch} (per ct)"), s, 2 * batch, ""));
    let (_, s) = timed(|| partials.iter().try_for_each(|p| tpk.verify(&big, p)))?;
    rows.push(row(bits, &format!("batch proof verification (per ct, K={batch})"), s, 2 * batch, ""));
    let chosen: Vec<&PartialDecryption> = partials.iter().collect();
    let (out, s) = timed(|| tpk.combine_verified(big.len(), &chosen))?;
    rows.push(row(bits, "combination of T=2 partials (per ct)", s, batch, ""));
    if out.first() != ms.first() {
        return Err(PaillierError::SelfCheck("threshold decryption returned a wrong plaintext"));
    }
    Ok(rows)
}

/// The committed TEST-ONLY primes: only in builds with the `test-tools` feature (tests,
/// CI); a release build always searches fresh ones.
#[cfg(feature = "test-tools")]
fn test_primes(bits: u32) -> Option<SafePrimes> {
    match bits {
        2048 => Some(threshold::test_only_primes_2048()),
        3072 => Some(threshold::test_only_primes_3072()),
        _ => None,
    }
}

#[cfg(not(feature = "test-tools"))]
fn test_primes(_bits: u32) -> Option<SafePrimes> {
    None
}

/// Renders rows as an aligned text table.
pub fn render_table(rows: &[BenchRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:>5}  {:<48} {:>12} {:>12}  note", "bits", "operation (one core)", "ops/s", "ms/op");
    for r in rows {
        let _ = writeln!(
            out,
            "{:>5}  {:<48} {:>12.2} {:>12.3}  {}",
            r.bits, r.operation, r.per_second, r.ms_per_op, r.note
        );
    }
    out
}

/// Figures of one simulated federated round.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundFigures {
    /// Weights per member.
    pub params: usize,
    /// Members (N); T = ⌈N/2⌉ of them decrypt.
    pub members: usize,
    /// Modulus bits.
    pub bits: u32,
    /// rayon threads used.
    pub threads: usize,
    /// Values per plaintext.
    pub slots_per_plaintext: usize,
    /// Ciphertexts per member.
    pub ciphertexts: usize,
    /// Bytes of one member's ciphertexts.
    pub ciphertext_bytes: usize,
    /// Seconds to encrypt all members' vectors with fresh randomness.
    pub encrypt_fresh_s: f64,
    /// Seconds to fill the randomizer pools of all members (offline).
    pub pool_fill_s: f64,
    /// Seconds of online encryption from the pools for all members.
    pub encrypt_online_s: f64,
    /// Seconds to multiply all members' ciphertexts.
    pub aggregate_s: f64,
    /// Seconds of the T batch partial decryptions.
    pub partials_s: f64,
    /// Seconds to verify the T batch proofs.
    pub verify_s: f64,
    /// Seconds to combine.
    pub combine_s: f64,
}

impl std::fmt::Display for RoundFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "federated round: {} weights x {} members, n = {} bits, {} threads",
            self.params, self.members, self.bits, self.threads
        )?;
        writeln!(
            f,
            "  packing: {} values per plaintext, {} ciphertexts ({} bytes) per member",
            self.slots_per_plaintext, self.ciphertexts, self.ciphertext_bytes
        )?;
        writeln!(
            f,
            "  encrypt (all members): fresh {:.2} s | pool fill {:.2} s + online {:.3} s",
            self.encrypt_fresh_s, self.pool_fill_s, self.encrypt_online_s
        )?;
        writeln!(f, "  aggregate: {:.3} s", self.aggregate_s)?;
        write!(
            f,
            "  decrypt: partials {:.2} s + verify {:.2} s + combine {:.2} s = {:.2} s",
            self.partials_s,
            self.verify_s,
            self.combine_s,
            self.partials_s + self.verify_s + self.combine_s
        )
    }
}

/// Runs one round end to end on `threads` threads and checks the decrypted sum is exact.
/// 2048- and 3072-bit keys come from the TEST-ONLY primes; other sizes search safe primes.
pub fn federated_round(params: usize, members: usize, bits: u32, threads: usize) -> Result<RoundFigures> {
    pool(threads.max(1))?.install(|| round(params, members.max(1), bits, threads.max(1)))
}

fn round(params: usize, members: usize, bits: u32, threads: usize) -> Result<RoundFigures> {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let n_parties =
        u32::try_from(members).map_err(|_| PaillierError::InvalidThreshold { parties: u32::MAX, threshold: 1 })?;
    let t = n_parties.div_ceil(2).max(1);
    let ((tpk, shares), _, _) = key(bits, n_parties, t, true, &mut rng)?;
    let pk = tpk.public_key();
    let spec = PackingSpec { frac_bits: 20, max_abs: 1.0, max_summands: n_parties };
    let packer = Packer::new(pk, spec)?;
    let weights: Vec<Vec<f64>> = (0..members)
        .map(|_| (0..params).map(|_| (rng.next_u64() as f64 / u64::MAX as f64) * 2.0 - 1.0).collect())
        .collect();
    let packed: Vec<Vec<Plaintext>> = weights.iter().map(|w| packer.pack(w)).collect::<Result<_>>()?;

    let (_, encrypt_fresh_s) = timed(|| {
        packed
            .iter()
            .map(|pts| {
                let seeds: Vec<[u8; 32]> = pts
                    .iter()
                    .map(|_| {
                        let mut s = [0u8; 32];
                        rng.fill_bytes(&mut s);
                        s
                    })
                    .collect();
                pts.par_iter()
                    .zip(seeds)
                    .map(|(p, s)| pk.encrypt(p, &mut ChaCha20Rng::from_seed(s)))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut pools: Vec<RandomizerPool> = (0..members).map(|_| RandomizerPool::with_rng(pk, &mut rng)).collect();
    let ((), pool_fill_s) = timed(|| {
        pools.iter_mut().zip(&packed).for_each(|(p, pts)| p.fill(pts.len()));
        Ok(())
    })?;
    let (cts, encrypt_online_s) = timed(|| {
        packed.iter().zip(pools.iter_mut()).map(|(pts, p)| pk.encrypt_batch(pts, p)).collect::<Result<Vec<_>>>()
    })?;
    let refs: Vec<&[Ciphertext]> = cts.iter().map(Vec::as_slice).collect();
    let (agg, aggregate_s) = timed(|| pk.sum(&refs))?;
    let (partials, partials_s) = timed(|| {
        shares.iter().take(t as usize).map(|s| s.partial_decrypt(&tpk, &agg, &mut rng)).collect::<Result<Vec<_>>>()
    })?;
    let ((), verify_s) = timed(|| partials.iter().try_for_each(|p| tpk.verify(&agg, p)))?;
    let chosen: Vec<&PartialDecryption> = partials.iter().collect();
    let (sums, combine_s) = timed(|| tpk.combine_verified(agg.len(), &chosen))?;
    let out = packer.unpack_sum(&sums, n_parties, params)?;
    for (i, got) in out.iter().enumerate() {
        let exact: i64 =
            weights.iter().map(|w| packer.encode_fixed(i, w.get(i).copied().unwrap_or(0.0))).sum::<Result<i64>>()?;
        if *got != exact as f64 / 2f64.powi(20) {
            return Err(PaillierError::SelfCheck("the decrypted sum differs from the exact fixed-point sum"));
        }
    }
    let ciphertexts = packer.plaintexts_for(params);
    Ok(RoundFigures {
        params,
        members,
        bits,
        threads,
        slots_per_plaintext: packer.slots_per_plaintext(),
        ciphertexts,
        ciphertext_bytes: ciphertexts * pk.ciphertext_len(),
        encrypt_fresh_s,
        pool_fill_s,
        encrypt_online_s,
        aggregate_s,
        partials_s,
        verify_s,
        combine_s,
    })
}
