//! Times the Paillier plaintext linear layer of split learning on a fresh 2048-bit key:
//! forward `vector_matrix` (256 features → 5 classes) and backward `matrix_vector`
//! (5 classes → 256 features), with signed 19-bit weights, on one thread and on all.
//! `cargo run --release -p consort-he --example paillier_linear_bench [reps]`

use std::time::Instant;

use consort_he::paillier::{
    Ciphertext, PaillierError, Plaintext, PublicKey, RandomizerPool, SignedPacking, generate_keypair,
};
use rand_chacha10::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const D_IN: usize = 256;
const D_OUT: usize = 5;
const WEIGHT_BITS: u32 = 19;
const SLOT_BITS: u32 = 60;

fn weights(rng: &mut ChaCha20Rng, count: usize) -> Vec<i64> {
    let max = (1u64 << WEIGHT_BITS) - 1;
    (0..count).map(|_| (rng.next_u64() % (2 * max + 1)) as i64 - max as i64).collect()
}

fn encrypt(
    pk: &PublicKey,
    packing: &SignedPacking,
    count: usize,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<Ciphertext>, PaillierError> {
    let slots = packing.slots();
    let pts = (0..count)
        .map(|_| {
            let v: Vec<i128> = (0..slots).map(|_| i128::from(rng.next_u32() >> 8) - (1 << 23)).collect();
            packing.pack(pk, &v)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut pool = RandomizerPool::with_rng(pk, rng);
    pool.fill(count);
    pk.encrypt_batch(&pts, &mut pool)
}

/// Seconds per call (median of `reps`).
fn median(reps: usize, mut f: impl FnMut() -> Result<(), PaillierError>) -> Result<f64, PaillierError> {
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times.get(times.len() / 2).copied().unwrap_or(f64::NAN))
}

fn main() -> Result<(), PaillierError> {
    let reps = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5usize).max(1);
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let t = Instant::now();
    let (pk, _sk) = generate_keypair(2048, &mut rng)?;
    println!("2048-bit key generated in {:.1} s", t.elapsed().as_secs_f64());
    let packing = SignedPacking::new(&pk, SLOT_BITS, SignedPacking::max_slots(&pk, SLOT_BITS))?;
    println!("packing: {} slots of {} bits (batch rows per ciphertext)", packing.slots(), packing.slot_bits());
    let x = encrypt(&pk, &packing, D_IN, &mut rng)?;
    let g = encrypt(&pk, &packing, D_OUT, &mut rng)?;
    let w = weights(&mut rng, D_IN * D_OUT);
    let threads_all = rayon::current_num_threads();

    for threads in [1, threads_all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PaillierError::ThreadPool(e.to_string()))?;
        let fwd = pool.install(|| median(reps, || pk.vector_matrix(&x, &w, D_OUT).map(drop)))?;
        let bwd = pool.install(|| median(reps, || pk.matrix_vector(&g, &w, D_IN).map(drop)))?;
        let terms = (D_IN * D_OUT) as f64;
        println!(
            "{threads} thread(s): vector_matrix {D_IN}x{D_OUT}: {:.1} ms/call, {:.1} calls/s, {:.0} outputs/s, \
             {:.0} ciphertext·weight terms/s",
            fwd * 1e3,
            1.0 / fwd,
            D_OUT as f64 / fwd,
            terms / fwd
        );
        println!(
            "{threads} thread(s): matrix_vector {D_OUT}->{D_IN}: {:.1} ms/call, {:.1} calls/s, {:.0} outputs/s, \
             {:.0} ciphertext·weight terms/s",
            bwd * 1e3,
            1.0 / bwd,
            D_IN as f64 / bwd,
            terms / bwd
        );
    }

    // Reference: one backward output the naive way, mul_plain by w mod n (a 2048-bit
    // exponent for a negative weight) and add, on one thread.
    let row: Vec<i64> = (0..D_OUT).map(|k| w.get(k).copied().unwrap_or(0)).collect();
    let naive = median(reps, || {
        let mut acc: Option<Ciphertext> = None;
        for (c, wk) in g.iter().zip(&row) {
            let t = pk.mul_plain(c, &Plaintext::from_i64(&pk, *wk));
            acc = Some(match acc {
                Some(a) => pk.add(&a, &t),
                None => t,
            });
        }
        Ok(())
    })?;
    let fast = median(reps, || pk.linear_combination(&g, &row).map(drop))?;
    println!(
        "one {D_OUT}-term output: linear_combination {:.2} ms vs naive mul_plain+add {:.2} ms ({:.1}x)",
        fast * 1e3,
        naive * 1e3,
        naive / fast
    );
    Ok(())
}
