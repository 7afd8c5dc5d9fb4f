//! Prints the Paillier throughput table and one federated round.
//! `cargo run --release -p consort-he --example paillier_bench [params members threads]`

fn main() -> Result<(), consort_he::paillier::PaillierError> {
    use consort_he::paillier::bench;
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rows = bench::run(&bench::BenchOptions::default())?;
    println!("{}", bench::render_table(&rows));
    let params = args.first().copied().unwrap_or(10_000);
    let members = args.get(1).copied().unwrap_or(3);
    let threads = args.get(2).copied().unwrap_or(2);
    for bits in [2048, 3072] {
        println!("{}", bench::federated_round(params, members, bits, threads)?);
    }
    Ok(())
}
