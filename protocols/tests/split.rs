//! Split learning over the in-memory network: each scheme against the plaintext twin,
//! everything the server receives, where the layer share travels, and bad requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use consort_net::{MemoryNetwork, MemoryTransport, PartyId, Verdict};
use consort_protocols::learn::data::Rows;
use consort_protocols::split::model::{ClientNet, LayerShare, client_init, server_init, tensor};
use consort_protocols::split::msg::SplitMsg;
use consort_protocols::split::plain::twin;
use consort_protocols::split::{ClientOutcome, SplitError, SplitSpec, TurnLog, prepare, run_client, run_server};

/// Beats of the ECG example, `member-k.csv` of client k, the first `max` rows.
fn ecg(client: usize, max: usize) -> Rows {
    let path = format!("{}/../examples/data/ecg/member-{client}.csv", env!("CARGO_MANIFEST_DIR"));
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut out = Rows { d: 128, ..Rows::default() };
    for rec in r.records().take(max) {
        let rec = rec.unwrap();
        out.y.push(rec[0].parse().unwrap());
        out.x.extend((2..130).map(|i| rec[i].parse::<f64>().unwrap()));
    }
    out
}

fn spec(scheme: &str, epochs: usize) -> SplitSpec {
    let mut s: SplitSpec = toml::from_str(&format!(
        "scheme = '{scheme}'\nmodel = 'cnn1d'\nfeatures = ['x000..x127']\nlabel = 'label'\nclasses = 3\nserver = 9\n\
         epochs = {epochs}\nbatch_size = 16\nlearning_rate = 0.05\n"
    ))
    .unwrap();
    s.validate().unwrap();
    s
}

/// Each client's prepared (train, test) rows.
fn data(s: &SplitSpec, clients: usize, max: usize) -> Vec<(Rows, Rows)> {
    (0..clients)
        .map(|k| {
            let (tr, te) = ecg(k, max).split(s.test_fraction, s.seed, k);
            (prepare(s, &tr), prepare(s, &te))
        })
        .collect()
}

struct Run {
    clients: Vec<Result<ClientOutcome, SplitError>>,
    server: Result<Vec<TurnLog>, SplitError>,
}

async fn run(s: &SplitSpec, data: &[(Rows, Rows)], nets: Vec<MemoryTransport>) -> Run {
    let k = data.len();
    let clients: Vec<PartyId> = (0..k as u16).map(PartyId).collect();
    let server = PartyId(k as u16);
    let spec = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for (t, (tr, te)) in nets.iter().cloned().zip(data.iter().cloned()) {
        let (spec, clients) = (Arc::clone(&spec), clients.clone());
        tasks.push(tokio::spawn(
            async move { run_client(&t, spec, server, &clients, Arc::new(tr), Arc::new(te)).await },
        ));
    }
    let (t, sp, cl) = (nets[k].clone(), Arc::clone(&spec), clients.clone());
    let srv = tokio::spawn(async move {
        let (w, b) = server_init(&sp);
        run_server(&t, sp, LayerShare { w, b }, &cl).await
    });
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    Run { clients: out, server: srv.await.unwrap() }
}

fn compare_with_twin(s: &SplitSpec, data: &[(Rows, Rows)], r: &Run, loss_tol: f64) {
    let tw = twin(s, data).unwrap();
    for (k, c) in r.clients.iter().enumerate() {
        let c = c.as_ref().unwrap();
        assert_eq!(c.losses.len(), s.epochs);
        for (a, b) in c.losses.iter().zip(&tw.losses[k]) {
            assert!((a - b).abs() < loss_tol, "client {k}: loss {a} vs plaintext {b}");
        }
        let same = c.predictions.iter().zip(&tw.predictions[k]).filter(|(a, b)| a == b).count();
        assert!(same + 1 >= c.predictions.len(), "client {k}: {same} of {} predictions agree", c.predictions.len());
        let (acc, twin_acc) = (c.test_accuracy.unwrap(), tw.test_accuracy[k].unwrap());
        assert!((acc - twin_acc).abs() <= 1.0 / c.test_rows as f64 + 1e-9, "client {k}: {acc} vs {twin_acc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckks_three_clients_match_plaintext_split_learning() {
    let s = spec("ckks", 2);
    let d = data(&s, 3, 80);
    let r = run(&s, &d, MemoryNetwork::new(4).build()).await;
    compare_with_twin(&s, &d, &r, 1e-6);
    // Every client ends with the same layer share; the server served every turn in order.
    let shares: Vec<_> = r.clients.iter().map(|c| c.as_ref().unwrap().model.share.clone()).collect();
    assert!(shares.windows(2).all(|w| w[0] == w[1]));
    let log = r.server.unwrap();
    let order: Vec<(Option<usize>, u16)> = log.iter().map(|l| (l.epoch, l.client)).collect();
    assert_eq!(
        order,
        [
            (Some(0), 0),
            (Some(0), 1),
            (Some(0), 2),
            (Some(1), 0),
            (Some(1), 1),
            (Some(1), 2),
            (None, 0),
            (None, 1),
            (None, 2)
        ]
    );
    for l in &log {
        let (tr, te) = &d[l.client as usize];
        assert_eq!(l.rows, if l.epoch.is_some() { tr.n() } else { te.n() });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paillier_two_clients_match_plaintext_split_learning() {
    let s = spec("paillier", 1);
    let d = data(&s, 2, 40);
    let r = run(&s, &d, MemoryNetwork::new(3).build()).await;
    if let Some(Err(e)) = r.clients.iter().find(|c| c.is_err()) {
        panic!("client: {e}; server: {:?}", r.server.as_ref().err().map(ToString::to_string));
    }
    // Fixed point with 16 fraction bits: the losses agree to about 1e-4.
    compare_with_twin(&s, &d, &r, 1e-3);
}

/// Messages that reached `to`, as (from, step, payload).
type Seen = Arc<Mutex<Vec<(PartyId, String, Vec<u8>)>>>;

fn recording(n: u16, to: Option<PartyId>) -> (Vec<MemoryTransport>, Seen) {
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    let nets = MemoryNetwork::new(n)
        .hook(move |e| {
            if to.is_none_or(|p| p == e.to) {
                s2.lock().unwrap().push((
                    e.from,
                    format!("{}->{}:{}", e.from, e.to, e.step.as_str()),
                    e.payload.clone(),
                ));
            }
            Verdict::Deliver
        })
        .build();
    (nets, seen)
}

/// The first batch's activations of client 0, recomputed from its public initial layers.
fn first_activations(s: &SplitSpec, rows: &Rows) -> Vec<f64> {
    let net = ClientNet::new(s, &client_init(s.model, s.seed, 0)).unwrap();
    let order = consort_protocols::learn::data::permutation(rows.n(), s.seed, 0x5b17, 0);
    let mut x = Vec::new();
    for &i in order.iter().take(s.batch_size) {
        x.extend_from_slice(rows.row(i));
    }
    net.forward(&tensor(&x, s.batch_size, rows.d).unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Counts how many of `values` appear in `bytes` as f64 (either byte order) or as 64-bit
/// fixed point with 16, 24 or 32 fraction bits (either byte order), looking only at
/// values whose encodings have at least three significant bytes (shorter patterns occur
/// in random ciphertext bytes by chance).
fn leaked(values: &[f64], bytes: &[u8]) -> usize {
    let mut pats: Vec<[u8; 8]> = Vec::new();
    for v in values.iter().filter(|v| v.abs() > 1e-3) {
        pats.push(v.to_le_bytes());
        pats.push(v.to_be_bytes());
        for f in [16, 24, 32] {
            let q = (v * 2f64.powi(f)).round() as i64;
            if q.unsigned_abs() >= 1 << 16 {
                pats.push(q.to_le_bytes());
                pats.push(q.to_be_bytes());
            }
        }
    }
    pats.iter().filter(|p| bytes.windows(8).any(|w| w == p.as_slice())).count()
}

async fn server_view(scheme: &str) -> (Vec<(PartyId, String, Vec<u8>)>, Vec<f64>, SplitSpec) {
    let s = spec(scheme, 1);
    let d = data(&s, 2, 40);
    let (nets, seen) = recording(3, Some(PartyId(2)));
    let r = run(&s, &d, nets).await;
    assert!(r.clients.iter().all(Result::is_ok) && r.server.is_ok());
    let a = first_activations(&s, &d[0].0);
    let seen = seen.lock().unwrap().clone();
    (seen, a, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_receives_only_what_the_docs_say() {
    for scheme in ["ckks", "paillier"] {
        let (seen, a, s) = server_view(scheme).await;
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for (from, step, payload) in &seen {
            assert!(from.0 < 2, "{step}: only clients talk to the server");
            let msg = SplitMsg::decode(*from, &consort_net::StepId::root("x"), payload).unwrap();
            *kinds.entry(msg.kind()).or_default() += 1;
            match msg {
                SplitMsg::Keys { parts, .. } => assert_eq!(parts.len(), 1, "{scheme}: one public part"),
                SplitMsg::Forward { rows, cts } | SplitMsg::Backward { rows, cts } => {
                    assert!(rows as usize <= s.batch_size);
                    // Every part is a ciphertext: of the fixed Paillier length (512 bytes
                    // for 2048 bits), or a CKKS ciphertext of at least 2·8192 coefficients.
                    for ct in &cts {
                        if scheme == "paillier" {
                            assert_eq!(ct.len(), 512);
                        } else {
                            assert!(ct.len() > 2 * 8192 * 8);
                        }
                    }
                    assert_eq!(leaked(&a, &payload[..]), 0, "{scheme}: activations in clear at {step}");
                }
                SplitMsg::TurnEnd => {}
                other => panic!("{scheme}: the server received a {} message at {step}", other.kind()),
            }
        }
        assert_eq!(kinds.get("keys"), Some(&2));
        assert_eq!(kinds.get("turn end"), Some(&4), "a training turn and an evaluation pass per client");
        assert_eq!(kinds.get("forward").unwrap() - kinds.get("backward").unwrap(), 2, "evaluation batches");
    }
    // The detector works: the plaintext baseline shows the activations to the server.
    let (seen, a, _) = server_view("plain").await;
    let all: Vec<u8> = seen.iter().flat_map(|(_, _, p)| p.clone()).collect();
    assert!(leaked(&a, &all) > a.len() / 2, "the plain scheme should expose activations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_share_goes_from_client_to_client_only() {
    let s = spec("plain", 2);
    let d = data(&s, 3, 30);
    let (nets, seen) = recording(4, None);
    let r = run(&s, &d, nets).await;
    assert!(r.server.is_ok());
    let handovers: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(from, _, p)| {
            matches!(SplitMsg::decode(*from, &consort_net::StepId::root("x"), p), Ok(SplitMsg::Handover { .. }))
        })
        .map(|(_, step, _)| step.clone())
        .collect();
    // Turns 1..6 in order, then the final share to the two other clients.
    assert_eq!(handovers.len(), 5 + 2, "{handovers:?}");
    assert!(handovers.iter().all(|h| !h.contains("->party 3")), "{handovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_ciphertext_is_refused_naming_the_client() {
    let mut s = spec("ckks", 1);
    // Nothing aborts the in-memory session when the server stops (a node would), so the
    // client gives up waiting for its answer after this long.
    s.wait_secs = 6;
    let d = data(&s, 1, 20);
    let nets = MemoryNetwork::new(2)
        .recv_timeout(std::time::Duration::from_secs(5))
        .hook(|e| {
            if e.to == PartyId(1) && e.step.as_str().contains("train") && e.payload.len() > 1000 {
                // A Forward's first ciphertext: break its header.
                let n = e.payload.len();
                e.payload[n / 2..n / 2 + 64].fill(0xff);
            }
            Verdict::Deliver
        })
        .build();
    let r = run(&s, &d, nets).await;
    let e = r.server.unwrap_err().to_string();
    assert!(e.starts_with("party 0 sent a bad forward"), "{e}");
    assert!(r.clients[0].is_err());
}
