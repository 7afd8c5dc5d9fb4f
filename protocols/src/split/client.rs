//! A client's part: its own layers, its key, and its turns.

use std::sync::Arc;

use candle_core::Tensor;
use consort_net::{PartyId, StepId, Transport};
use tracing::{debug, info};

use super::cipher::ClientCipher;
use super::model::{ClientNet, LayerShare, argmax, client_init, loss_and_grad, tensor};
use super::msg::SplitMsg;
use super::spec::SplitSpec;
use super::{SplitError, gather, offload, patient_recv, steps};
use crate::learn::data::{Rows, permutation};

/// What a client keeps after training: its layers and the clients' share of the server
/// layer (the model answers queries only together with the server's share).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientModel {
    pub weights: Vec<Vec<f64>>,
    pub share: LayerShare,
    /// The pooled (means, stds) the inputs were standardized with (the linear model):
    /// queries are prepared with the same ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooled: Option<(Vec<f64>, Vec<f64>)>,
}

/// A client's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientOutcome {
    pub model: ClientModel,
    /// Mean training loss of this client's batches, per epoch.
    pub losses: Vec<f64>,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Accuracy on this client's held-out rows, evaluated through the server (encrypted).
    pub test_accuracy: Option<f64>,
    /// Predicted class of each held-out row.
    pub predictions: Vec<usize>,
    /// Wall time and bytes (sent + received, this client) of each training turn.
    pub turns: Vec<TurnCost>,
}

/// The cost of one training turn, as the client measured it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TurnCost {
    pub secs: f64,
    pub bytes: u64,
}

struct State {
    net: ClientNet,
    cipher: ClientCipher,
    share: LayerShare,
}

/// Runs `f` on the client's state off the async runtime.
async fn work<R: Send + 'static>(
    st: State,
    f: impl FnOnce(&mut State) -> Result<R, SplitError> + Send + 'static,
) -> Result<(State, R), SplitError> {
    let (st, r) = offload(move || {
        let mut st = st;
        let r = f(&mut st);
        (st, r)
    })
    .await?;
    Ok((st, r?))
}

/// The client side of one exchange: send `msg`, wait for the server's reply.
async fn ask(
    t: &impl Transport,
    server: PartyId,
    step: &StepId,
    counter: &mut u64,
    msg: SplitMsg,
    wait: std::time::Duration,
) -> Result<Vec<Vec<u8>>, SplitError> {
    let ask_step = step.index(*counter);
    let reply_step = step.index(*counter + 1);
    *counter += 2;
    t.send(server, &ask_step, msg.encode()?).await?;
    match patient_recv(t, server, &reply_step, wait).await? {
        SplitMsg::Logits { cts } | SplitMsg::InputGrad { cts } => Ok(cts),
        other => Err(SplitError::Bad { party: server, what: "reply", reason: format!("a {} message", other.kind()) }),
    }
}

/// One forward exchange: client layers, encryption, the server's share, decryption plus
/// the clients' share. Returns the activations (with their graph) and the logits.
async fn forward(
    t: &impl Transport,
    server: PartyId,
    step: &StepId,
    counter: &mut u64,
    st: State,
    x: Vec<f64>,
    spec: &SplitSpec,
) -> Result<(State, (Tensor, Vec<f64>, Vec<f64>)), SplitError> {
    let (d, c) = (spec.cut(), spec.classes);
    let n = x.len() / spec.features.len().max(1);
    let (st, (a_graph, a, cts)) = work(st, move |st| {
        let a_graph = st.net.forward(&tensor(&x, n, x.len() / n.max(1))?)?;
        let a = a_graph.flatten_all()?.to_vec1::<f64>()?;
        let cts = st.cipher.encrypt_rows(&a, n, d)?;
        Ok((a_graph, a, cts))
    })
    .await?;
    let reply = ask(t, server, step, counter, SplitMsg::Forward { rows: n as u32, cts }, wait(spec)).await?;
    work(st, move |st| {
        let mut z = st.cipher.decrypt_logits(&reply, n, c).map_err(|e| e.blame_server(server))?;
        for (zi, own) in z.iter_mut().zip(st.share.apply(&a, n, d)) {
            *zi += own;
        }
        Ok((a_graph, a, z))
    })
    .await
}

/// One training step on a batch; returns the batch's loss.
async fn train_step(
    t: &impl Transport,
    server: PartyId,
    step: &StepId,
    counter: &mut u64,
    st: State,
    (x, y): (Vec<f64>, Vec<f64>),
    spec: &SplitSpec,
) -> Result<(State, f64), SplitError> {
    let (n, d, c, lr) = (y.len(), spec.cut(), spec.classes, spec.learning_rate);
    let (st, (a_graph, a, z)) = forward(t, server, step, counter, st, x, spec).await?;
    if st.net.vars().is_empty() {
        // No client layers (linear): ∂L/∂a has no use, only the clients' share learns.
        return work(st, move |st| {
            let (loss, g) = loss_and_grad(&z, &y, n, c)?;
            st.share.sgd(&a, &g, n, d, lr);
            Ok(loss)
        })
        .await;
    }
    let (st, (loss, g, cts)) = work(st, move |st| {
        let (loss, g) = loss_and_grad(&z, &y, n, c)?;
        let cts = st.cipher.encrypt_grads(&g, n, c)?;
        Ok((loss, g, cts))
    })
    .await?;
    let reply = ask(t, server, step, counter, SplitMsg::Backward { rows: n as u32, cts }, wait(spec)).await?;
    work(st, move |st| {
        let mut da = st.cipher.decrypt_input_grads(&reply, n, d).map_err(|e| e.blame_server(server))?;
        // ∂L/∂a = g·(S + C)ᵀ, computed before C moves, as autograd would.
        for (v, own) in da.iter_mut().zip(st.share.back(&g, n, d)) {
            *v += own;
        }
        st.net.backward_step(&a_graph, &tensor(&da, n, d)?)?;
        st.share.sgd(&a, &g, n, d, lr);
        Ok(loss)
    })
    .await
}

fn client_index(clients: &[PartyId], me: PartyId) -> Result<usize, SplitError> {
    clients.iter().position(|p| *p == me).ok_or_else(|| SplitError::Usage(format!("{me} is not a client")))
}

/// A fresh key (off the runtime), its public part sent to the server, and the layers.
async fn start(
    t: &impl Transport,
    spec: &Arc<SplitSpec>,
    server: PartyId,
    weights: &[Vec<f64>],
    share: LayerShare,
) -> Result<State, SplitError> {
    let s2 = Arc::clone(spec);
    let cipher = offload(move || ClientCipher::new(&s2)).await??;
    t.send(server, &steps::keys(), cipher.keys_msg()?.encode()?).await?;
    Ok(State { net: ClientNet::new(spec, weights)?, cipher, share })
}

/// Runs client `me`'s part of training and then scores its held-out rows through the
/// server, with the same encryption.
pub async fn run_client<T: Transport>(
    t: &T,
    spec: Arc<SplitSpec>,
    server: PartyId,
    clients: &[PartyId],
    train: Arc<Rows>,
    test: Arc<Rows>,
) -> Result<ClientOutcome, SplitError> {
    let me = t.me();
    let index = client_index(clients, me)?;
    let (d, c, k) = (spec.cut(), spec.classes, clients.len());
    let weights = client_init(spec.model, spec.seed, index);
    let mut st = start(t, &spec, server, &weights, LayerShare::zeros(d, c)).await?;
    let mut losses = Vec::new();
    let mut turns = Vec::new();
    for epoch in 0..spec.epochs {
        let turn = epoch * k + index;
        if turn > 0 {
            let prev = clients.get((index + k - 1) % k).copied().unwrap_or(me);
            st.share = receive_share(t, prev, &steps::handover(turn), turn, &spec).await?;
        }
        let (started, before) = (std::time::Instant::now(), t.counters());
        let step = steps::turn(epoch, index);
        let mut counter = 0u64;
        let order = permutation(train.n(), spec.seed, 0x5b17 + epoch as u64, index as u64);
        let mut total = 0.0;
        for batch in order.chunks(spec.batch_size) {
            let (s, loss) = train_step(t, server, &step, &mut counter, st, gather(&train, batch), &spec).await?;
            st = s;
            total += loss * batch.len() as f64;
            debug!(epoch = epoch + 1, loss, "batch");
        }
        t.send(server, &step.index(counter), SplitMsg::TurnEnd.encode()?).await?;
        let after = t.counters();
        turns.push(TurnCost {
            secs: started.elapsed().as_secs_f64(),
            bytes: (after.bytes_sent + after.bytes_received) - (before.bytes_sent + before.bytes_received),
        });
        let mean = total / train.n().max(1) as f64;
        info!(epoch = epoch + 1, loss = mean, "turn done");
        losses.push(mean);
        // Pass the clients' share on with the turn; after the last turn, to every client.
        let handover = SplitMsg::Handover { turn: turn as u32 + 1, share: st.share.clone() };
        if turn + 1 < spec.epochs * k {
            let next = clients.get((index + 1) % k).copied().unwrap_or(me);
            t.send(next, &steps::handover(turn + 1), handover.encode()?).await?;
        } else {
            let others: Vec<PartyId> = clients.iter().copied().filter(|p| *p != me).collect();
            t.send_to(&others, &steps::handover(turn + 1), handover.encode()?).await?;
        }
    }
    let last = spec.epochs * k;
    let last_client = clients.last().copied().unwrap_or(me);
    if last_client != me {
        st.share = receive_share(t, last_client, &steps::handover(last), last, &spec).await?;
    }
    let (st, predictions) = predict(t, server, &steps::eval(index), st, &test, &spec).await?;
    let right = predictions.iter().zip(&test.y).filter(|(p, y)| **p as f64 == **y).count();
    let test_accuracy = (test.n() > 0).then(|| right as f64 / test.n() as f64);
    let weights = st.net.weights()?;
    Ok(ClientOutcome {
        model: ClientModel { weights, share: st.share, pooled: None },
        losses,
        train_rows: train.n(),
        test_rows: test.n(),
        test_accuracy,
        predictions,
        turns,
    })
}

async fn receive_share(
    t: &impl Transport,
    from: PartyId,
    step: &StepId,
    turn: usize,
    spec: &SplitSpec,
) -> Result<LayerShare, SplitError> {
    let (d, c) = (spec.cut(), spec.classes);
    match patient_recv(t, from, step, wait(spec)).await? {
        SplitMsg::Handover { turn: got, share }
            if got as usize == turn && share.w.len() == d * c && share.b.len() == c =>
        {
            Ok(share)
        }
        other => Err(SplitError::Bad {
            party: from,
            what: "handover",
            reason: format!("expected the layer share of turn {turn} ({d}×{c}), got a {} message", other.kind()),
        }),
    }
}

/// Classes of `rows` through the split model (queries, or held-out rows), in batches,
/// encrypted like training; ends the exchange with the server.
async fn predict(
    t: &impl Transport,
    server: PartyId,
    step: &StepId,
    mut st: State,
    rows: &Rows,
    spec: &SplitSpec,
) -> Result<(State, Vec<usize>), SplitError> {
    let mut counter = 0u64;
    let mut out = Vec::with_capacity(rows.n());
    let idx: Vec<usize> = (0..rows.n()).collect();
    for batch in idx.chunks(spec.batch_size) {
        let (x, _) = gather(rows, batch);
        let (s, (_, _, z)) = forward(t, server, step, &mut counter, st, x, spec).await?;
        st = s;
        out.extend(argmax(&z, spec.classes));
    }
    t.send(server, &step.index(counter), SplitMsg::TurnEnd.encode()?).await?;
    Ok((st, out))
}

/// Inference with a trained model: this client's `queries` through its layers and the
/// server's share; returns the predicted classes.
pub async fn run_queries<T: Transport>(
    t: &T,
    spec: Arc<SplitSpec>,
    server: PartyId,
    clients: &[PartyId],
    model: ClientModel,
    queries: Arc<Rows>,
) -> Result<Vec<usize>, SplitError> {
    let index = client_index(clients, t.me())?;
    let (d, c) = (spec.cut(), spec.classes);
    if model.share.w.len() != d * c || model.share.b.len() != c {
        return Err(SplitError::Usage(format!("the model's layer share is not {d}×{c}")));
    }
    let st = start(t, &spec, server, &model.weights, model.share).await?;
    let (_, out) = predict(t, server, &steps::eval(index), st, &queries, &spec).await?;
    Ok(out)
}

fn wait(spec: &SplitSpec) -> std::time::Duration {
    std::time::Duration::from_secs(spec.wait_secs)
}
