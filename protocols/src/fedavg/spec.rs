//! The `[fedavg]` table of a job spec: the model, local training, rounds and aggregation.

use serde::{Deserialize, Serialize};

/// Which model the members train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FedModel {
    /// Logistic regression on standardized features (pooled means and standard
    /// deviations from the stats protocol); labels 0/1.
    Logreg,
    /// A small 1D CNN over a signal (the features, in order): Conv1d 1→16 k7, LeakyReLU,
    /// MaxPool 2, Conv1d 16→8 k5, LeakyReLU, MaxPool 2, Linear → `classes`. Each row is
    /// centred on its own mean (no pooled statistics needed).
    Cnn1d,
}

fn d_rounds() -> usize {
    5
}
fn d_epochs() -> usize {
    1
}
fn d_batch() -> usize {
    32
}
fn d_lr() -> f64 {
    0.1
}
fn d_test() -> f64 {
    0.2
}
fn d_seed() -> u64 {
    1
}
fn d_classes() -> usize {
    2
}
fn d_frac() -> u32 {
    20
}
fn d_max_abs() -> f64 {
    64.0
}
fn d_max_rows() -> u64 {
    1 << 20
}
fn d_min_contributors() -> u16 {
    3
}

/// `[fedavg]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FedAvgSpec {
    pub model: FedModel,
    /// Feature columns, in order. `"x000..x127"` stands for x000, x001, …, x127.
    pub features: Vec<String>,
    pub label: String,
    /// Number of classes (labels 0..classes); logistic regression needs 2.
    #[serde(default = "d_classes")]
    pub classes: usize,
    #[serde(default = "d_rounds")]
    pub rounds: usize,
    /// Local epochs per round (E).
    #[serde(default = "d_epochs")]
    pub local_epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// Share of each member's rows held out for testing (never trained on).
    #[serde(default = "d_test")]
    pub test_fraction: f64,
    /// Seeds the split, the initial weights and the batch order.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// The party that adds the encrypted contributions (`fedavg-paillier`): a member,
    /// or an extra node (in `simulate`, party N is then an extra process).
    #[serde(default)]
    pub aggregator: Option<u16>,
    /// Members needed to decrypt the sum (`fedavg-paillier`), and the fewest members
    /// the job carries on with after dropouts.
    pub threshold: u16,
    /// The fewest contributions a round's sum may hold. With two, each contributor can
    /// compute the other's model from the average (its own is known to it), so the
    /// default is 3; a two-member consortium sets 2 to accept that.
    #[serde(default = "d_min_contributors")]
    pub min_contributors: u16,
    /// Fixed-point fraction bits of the aggregated weights.
    #[serde(default = "d_frac")]
    pub frac_bits: u32,
    /// Largest |weight| a member may contribute; beyond it the member stops with an error
    /// (it bounds the slot width of the packing).
    #[serde(default = "d_max_abs")]
    pub max_abs: f64,
    /// Largest training-row count of one member (contributions are weighted by it).
    #[serde(default = "d_max_rows")]
    pub max_rows: u64,
}

impl FedAvgSpec {
    /// Checks ranges and expands `"a..b"` feature ranges in place.
    pub fn validate(&mut self) -> Result<(), String> {
        self.features = expand_features(&self.features)?;
        if self.features.is_empty() {
            return Err("[fedavg] features is empty".into());
        }
        if self.features.contains(&self.label) {
            return Err(format!("the label '{}' is also listed as a feature", self.label));
        }
        if self.rounds == 0 || self.local_epochs == 0 || self.batch_size == 0 {
            return Err("rounds, local_epochs and batch_size must be positive".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err("learning_rate must be positive".into());
        }
        if !(0.0..0.9).contains(&self.test_fraction) {
            return Err(format!("test_fraction {} is not in [0, 0.9)", self.test_fraction));
        }
        match self.model {
            FedModel::Logreg if self.classes != 2 => return Err("logreg needs classes = 2".into()),
            FedModel::Cnn1d if self.features.len() < 24 => {
                return Err(format!("cnn1d needs a signal of at least 24 samples, got {}", self.features.len()));
            }
            _ if !(2..=64).contains(&self.classes) => return Err(format!("classes {} is not in 2..=64", self.classes)),
            _ => {}
        }
        if self.threshold == 0 {
            return Err("threshold must be at least 1".into());
        }
        if self.min_contributors < 2 {
            return Err(format!(
                "min_contributors = {} would let the others decrypt one member's own model; it must be at least 2",
                self.min_contributors
            ));
        }
        if !(8..=32).contains(&self.frac_bits) {
            return Err(format!("frac_bits {} is not in 8..=32", self.frac_bits));
        }
        if !(self.max_abs.is_finite() && self.max_abs > 0.0 && self.max_abs <= 1e6) {
            return Err(format!("max_abs {} is not in (0, 1e6]", self.max_abs));
        }
        if self.max_rows == 0 || self.max_rows > 1 << 32 {
            return Err(format!("max_rows {} is not in 1..=2^32", self.max_rows));
        }
        // A contribution in fixed point must be an exact f64 integer (below 2^53), so the
        // packing slots and the Z_2^64 sum of up to 64 members (< 2^59) never overflow.
        let worst = self.contribution_bound() * 2f64.powi(self.frac_bits as i32);
        if worst >= 2f64.powi(53) {
            return Err(format!(
                "max_abs × max_rows × 2^frac_bits = {worst:e} is not below 2^53; lower frac_bits, max_abs or max_rows"
            ));
        }
        Ok(())
    }

    /// The fewest contributors a round carries on with: enough to decrypt, and never
    /// fewer than `min_contributors`.
    pub fn fewest_contributors(&self) -> usize {
        usize::from(self.threshold.max(self.min_contributors))
    }

    /// The bound on one weighted contribution n_k · w (and on the count slot).
    pub fn contribution_bound(&self) -> f64 {
        self.max_abs.max(1.0) * self.max_rows as f64
    }
}

/// Expands `"x000..x127"` entries: a common prefix, then two zero-padded numbers.
pub fn expand_features(features: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in features {
        let Some((a, b)) = f.split_once("..") else {
            out.push(f.clone());
            continue;
        };
        let split = |s: &str| {
            let digits = s.chars().rev().take_while(char::is_ascii_digit).count();
            let (p, n) = s.split_at(s.len() - digits);
            (p.to_string(), n.to_string())
        };
        let ((pa, na), (pb, nb)) = (split(a), split(b));
        let bad = || format!("feature range '{f}' is not of the form 'x000..x127'");
        if pa != pb || na.is_empty() || nb.is_empty() {
            return Err(bad());
        }
        let (lo, hi): (u32, u32) = (na.parse().map_err(|_| bad())?, nb.parse().map_err(|_| bad())?);
        if lo > hi || hi - lo > 100_000 {
            return Err(bad());
        }
        out.extend((lo..=hi).map(|i| format!("{pa}{i:0width$}", width = na.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_with_padding() {
        let f = expand_features(&["a".into(), "x008..x011".into()]).unwrap();
        assert_eq!(f, ["a", "x008", "x009", "x010", "x011"]);
        assert_eq!(
            expand_features(&["x1..y3".into()]).unwrap_err(),
            "feature range 'x1..y3' is not of the form 'x000..x127'"
        );
    }
}
