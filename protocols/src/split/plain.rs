//! Plaintext split learning with the same seed: the twin the encrypted runs are compared
//! with. One candle graph from the input to the loss, the dense layer a single Var
//! initialized like the server's share, the same turns, batches and SGD.

use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use super::gather;
use super::model::{ClientNet, argmax, client_init, server_init, tensor};
use super::spec::SplitSpec;
use crate::learn::data::{Rows, permutation};

/// The twin's results, per client.
#[derive(Clone, Debug, PartialEq)]
pub struct TwinOutcome {
    pub test_accuracy: Vec<Option<f64>>,
    pub predictions: Vec<Vec<usize>>,
    /// Mean training loss per client per epoch.
    pub losses: Vec<Vec<f64>>,
}

/// Trains on each client's `(train, test)` rows (prepared) in the secure run's order.
pub fn twin(spec: &SplitSpec, data: &[(Rows, Rows)]) -> candle_core::Result<TwinOutcome> {
    let (d, c) = (spec.cut(), spec.classes);
    let mut nets = data
        .iter()
        .enumerate()
        .map(|(i, _)| ClientNet::new(spec, &client_init(spec.model, spec.seed, i)))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let (w0, b0) = server_init(spec);
    let w = Var::from_vec(w0, (d, c), &candle_core::Device::Cpu)?;
    let b = Var::from_vec(b0, c, &candle_core::Device::Cpu)?;
    let logits = |net: &ClientNet, x: &Tensor| -> candle_core::Result<Tensor> {
        net.forward(x)?.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())
    };
    let mut losses = vec![Vec::new(); data.len()];
    for epoch in 0..spec.epochs {
        for (i, ((train, _), net)) in data.iter().zip(nets.iter_mut()).enumerate() {
            // No client vars for the linear model: then only the dense layer trains.
            let mut vars = net.vars().to_vec();
            vars.extend([w.clone(), b.clone()]);
            let mut sgd = candle_nn::SGD::new(vars, spec.learning_rate)?;
            let order = permutation(train.n(), spec.seed, 0x5b17 + epoch as u64, i as u64);
            let mut total = 0.0;
            for batch in order.chunks(spec.batch_size) {
                let (x, y) = gather(train, batch);
                let z = logits(net, &tensor(&x, batch.len(), train.d)?)?;
                let labels =
                    Tensor::from_slice(&y, y.len(), &candle_core::Device::Cpu)?.to_dtype(candle_core::DType::U32)?;
                let loss = candle_nn::loss::cross_entropy(&z, &labels)?;
                total += loss.to_scalar::<f64>()? * batch.len() as f64;
                sgd.backward_step(&loss)?;
            }
            if let Some(l) = losses.get_mut(i) {
                l.push(total / train.n().max(1) as f64);
            }
        }
    }
    let mut test_accuracy = Vec::new();
    let mut predictions = Vec::new();
    for ((_, test), net) in data.iter().zip(&nets) {
        if test.n() == 0 {
            test_accuracy.push(None);
            predictions.push(Vec::new());
            continue;
        }
        let z = logits(net, &tensor(&test.x, test.n(), test.d)?)?.flatten_all()?.to_vec1::<f64>()?;
        let p = argmax(&z, c);
        let right = p.iter().zip(&test.y).filter(|(p, y)| **p as f64 == **y).count();
        test_accuracy.push(Some(right as f64 / test.n() as f64));
        predictions.push(p);
    }
    Ok(TwinOutcome { test_accuracy, predictions, losses })
}
