//! Prints the CKKS benchmark table (`cargo run --release -p consort-he --example ckks_bench [8192|16384]`).

use consort_he::ckks::{Preset, bench};

fn main() -> Result<(), consort_he::ckks::CkksError> {
    let presets: Vec<Preset> = match std::env::args().nth(1).as_deref() {
        Some("8192") => vec![Preset::N8192],
        Some("16384") => vec![Preset::N16384],
        _ => vec![Preset::N8192, Preset::N16384],
    };
    let rows = bench::run_presets(&presets, &|msg| eprintln!("{msg}"))?;
    println!("{}", bench::render_table(&rows));
    Ok(())
}
