//! Plaintext federated averaging with the same seed, split, batch order and weighting:
//! the twin every secure run is compared with (`simulate` prints both accuracies).

use super::FedError;
use super::local::train_local;
use super::model::Arch;
use super::spec::FedAvgSpec;
use crate::learn::data::Rows;

/// R rounds of FedAvg over every member's prepared training rows; the global model is
/// the row-weighted mean of the local models, in f64.
pub fn fedavg(spec: &FedAvgSpec, arch: Arch, members: &[Rows]) -> Result<Vec<f64>, FedError> {
    let mut global = arch.init(spec.seed);
    for round in 0..spec.rounds {
        let mut sum = vec![0.0; arch.len()];
        let mut total = 0.0;
        for (k, rows) in members.iter().enumerate() {
            let local = train_local(spec, arch, &global, rows, round, k)?;
            let w = rows.n() as f64;
            for (s, v) in sum.iter_mut().zip(&local) {
                *s += w * v;
            }
            total += w;
        }
        if total > 0.0 {
            global = sum.iter().map(|s| s / total).collect();
        }
    }
    Ok(global)
}
