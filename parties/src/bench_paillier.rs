//! `consort bench paillier`: the per-core Paillier table and one federated round of a
//! 400,000-parameter model (3 members, 2048-bit key), next to the Imagia figures.

use std::fmt::Write as _;

use consort_he::paillier::bench::{self, BenchOptions};
use tracing::info;

use crate::error::NodeError;

fn err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Bench(format!("bench paillier: {e}"))
}

/// Runs the benchmark and returns the printed report.
pub fn run(bits: &[u32], params: usize, prime_search: bool) -> Result<String, NodeError> {
    let mut out = String::new();
    info!(?bits, prime_search, "Paillier operations, one core");
    let opts = BenchOptions { bits: bits.to_vec(), use_test_primes: !prime_search, ..BenchOptions::default() };
    let rows = bench::run(&opts).map_err(err)?;
    out.push_str(&bench::render_table(&rows));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // All cores: the round is minutes of modular exponentiation on one.
    info!(params, threads, "one federated round, 3 members, 2048-bit key");
    let r = bench::federated_round(params, 3, 2048, threads).map_err(err)?;
    let _ = writeln!(out, "\n{r}");
    let _ = writeln!(
        out,
        "\nImagia (seed 001), 400k parameters, 2048-bit key, 60 threads of two Xeon E5-2698 v4: \
         encrypt ~60 s, aggregate ~1 s, decrypt ~60 s per member"
    );
    Ok(out)
}
