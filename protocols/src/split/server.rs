//! The server's part: it holds its share of the dense layer and answers each client's
//! encrypted forward and backward requests in turn. It never holds a secret key.

use std::sync::Arc;

use consort_net::{PartyId, StepId, Transport};
use tracing::info;

use super::cipher::ServerCipher;
use super::model::LayerShare;
use super::msg::SplitMsg;
use super::spec::SplitSpec;
use super::{SplitError, offload, patient_recv, steps};

/// What the server saw of one turn (all it learns: counts and sizes).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TurnLog {
    /// `None` for the evaluation (or query) pass.
    pub epoch: Option<usize>,
    pub client: u16,
    pub batches: usize,
    pub rows: usize,
}

/// Receives every client's key material and prepares the share for each.
async fn ciphers<T: Transport>(
    t: &T,
    spec: &Arc<SplitSpec>,
    share: &Arc<LayerShare>,
    clients: &[PartyId],
) -> Result<Vec<Arc<ServerCipher>>, SplitError> {
    let mut out = Vec::with_capacity(clients.len());
    for &c in clients {
        let msg = patient_recv(t, c, &steps::keys(), std::time::Duration::from_secs(spec.wait_secs)).await?;
        let (spec, share) = (Arc::clone(spec), Arc::clone(share));
        out.push(Arc::new(offload(move || ServerCipher::new(&spec, &share, c, msg)).await??));
    }
    Ok(out)
}

/// Serves one client until it ends its turn. `training` allows backward requests.
async fn serve<T: Transport>(
    t: &T,
    spec: &SplitSpec,
    client: PartyId,
    cipher: &Arc<ServerCipher>,
    step: &StepId,
    training: bool,
) -> Result<(usize, usize), SplitError> {
    let (mut counter, mut batches, mut rows) = (0u64, 0usize, 0usize);
    let bad = |reason: String| SplitError::Bad { party: client, what: "request", reason };
    loop {
        let msg = patient_recv(t, client, &step.index(counter), std::time::Duration::from_secs(spec.wait_secs)).await?;
        let (n, cts, backward) = match msg {
            SplitMsg::TurnEnd => return Ok((batches, rows)),
            SplitMsg::Forward { rows, cts } => (rows as usize, cts, false),
            SplitMsg::Backward { rows, cts } if training => (rows as usize, cts, true),
            other => {
                return Err(bad(format!(
                    "a {} message where a forward request or the turn's end was due",
                    other.kind()
                )));
            }
        };
        if n == 0 || n > spec.batch_size {
            return Err(bad(format!("a batch of {n} rows; the job's batches have 1..={}", spec.batch_size)));
        }
        let c = Arc::clone(cipher);
        let reply =
            offload(move || if backward { c.backward(client, n, &cts) } else { c.forward(client, n, &cts) }).await??;
        let reply = if backward { SplitMsg::InputGrad { cts: reply } } else { SplitMsg::Logits { cts: reply } };
        t.send(client, &step.index(counter + 1), reply.encode()?).await?;
        counter += 2;
        if !backward {
            batches += 1;
            rows += n;
        }
    }
}

/// Runs the server through training (every epoch, every client in turn) and the clients'
/// evaluation passes.
pub async fn run_server<T: Transport>(
    t: &T,
    spec: Arc<SplitSpec>,
    share: LayerShare,
    clients: &[PartyId],
) -> Result<Vec<TurnLog>, SplitError> {
    serve_all(t, &spec, share, clients, spec.epochs).await
}

/// Serves the clients' queries with a trained share (`task = "infer"`): no training turns.
pub async fn run_query_server<T: Transport>(
    t: &T,
    spec: Arc<SplitSpec>,
    share: LayerShare,
    clients: &[PartyId],
) -> Result<Vec<TurnLog>, SplitError> {
    serve_all(t, &spec, share, clients, 0).await
}

async fn serve_all<T: Transport>(
    t: &T,
    spec: &Arc<SplitSpec>,
    share: LayerShare,
    clients: &[PartyId],
    epochs: usize,
) -> Result<Vec<TurnLog>, SplitError> {
    let share = Arc::new(share);
    let ciphers = ciphers(t, spec, &share, clients).await?;
    let mut log = Vec::new();
    for epoch in 0..epochs {
        for (i, (&client, cipher)) in clients.iter().zip(&ciphers).enumerate() {
            let (batches, rows) = serve(t, spec, client, cipher, &steps::turn(epoch, i), true).await?;
            info!(epoch = epoch + 1, %client, batches, "served a training turn");
            log.push(TurnLog { epoch: Some(epoch), client: client.0, batches, rows });
        }
    }
    log.extend(evaluation(t, spec, clients, &ciphers).await?);
    Ok(log)
}

async fn evaluation<T: Transport>(
    t: &T,
    spec: &SplitSpec,
    clients: &[PartyId],
    ciphers: &[Arc<ServerCipher>],
) -> Result<Vec<TurnLog>, SplitError> {
    let mut log = Vec::new();
    for (i, (&client, cipher)) in clients.iter().zip(ciphers).enumerate() {
        let (batches, rows) = serve(t, spec, client, cipher, &steps::eval(i), false).await?;
        log.push(TurnLog { epoch: None, client: client.0, batches, rows });
    }
    Ok(log)
}
