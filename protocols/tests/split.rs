//! Split learning over the in-memory network: each scheme against the plaintext twin,
//! everything the server receives, where the layer share travels, and bad requests; the
//! linear model (logistic regression on breast cancer) and its input preparation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use consort_net::{MemoryNetwork, MemoryTransport, PartyId, Verdict};
use consort_protocols::learn::data::{Rows, moments};
use consort_protocols::split::cipher::{ClientCipher, ServerCipher};
use consort_protocols::split::model::{ClientNet, LayerShare, client_init, server_init, tensor};
use consort_protocols::split::msg::SplitMsg;
use consort_protocols::split::plain::twin;
use consort_protocols::split::{
    ClientOutcome, SplitError, SplitModel, SplitSpec, TurnLog, needs_pooled_stats, prepare, run_client, run_server,
};

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
            (prepare(s, &tr, None).unwrap(), prepare(s, &te, None).unwrap())
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

/// The breast-cancer example's feature names (the header without `target`) and client
/// k's rows.
fn breast_cancer(client: usize) -> (Vec<String>, Rows) {
    let path = format!("{}/../examples/data/breast_cancer/member-{client}.csv", env!("CARGO_MANIFEST_DIR"));
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let label = header.iter().position(|h| h == "target").unwrap();
    let features: Vec<String> = header.iter().filter(|h| *h != "target").cloned().collect();
    let mut out = Rows { d: features.len(), ..Rows::default() };
    for rec in r.records() {
        let rec = rec.unwrap();
        out.y.push(rec[label].parse().unwrap());
        out.x.extend((0..header.len()).filter(|i| *i != label).map(|i| rec[i].parse::<f64>().unwrap()));
    }
    (features, out)
}

fn linear_spec(scheme: &str, epochs: usize) -> SplitSpec {
    let (features, _) = breast_cancer(0);
    let mut s: SplitSpec = toml::from_str(&format!(
        "scheme = '{scheme}'\nmodel = 'linear'\nfeatures = {features:?}\nlabel = 'target'\nclasses = 2\n\
         server = 9\nepochs = {epochs}\nbatch_size = 16\nlearning_rate = 0.1\n"
    ))
    .unwrap();
    s.validate().unwrap();
    assert_eq!(s.cut(), 30);
    s
}

/// Each client's (train, test) rows, standardized with the pooled training rows' means and
/// standard deviations (what the secure-sum statistics give the clients).
fn linear_data(s: &SplitSpec, clients: usize) -> Vec<(Rows, Rows)> {
    let parts: Vec<(Rows, Rows)> = (0..clients).map(|k| breast_cancer(k).1.split(s.test_fraction, s.seed, k)).collect();
    let pooled = Rows::concat(&parts.iter().map(|(tr, _)| tr.clone()).collect::<Vec<_>>());
    let (means, stds) = moments(&pooled);
    let stats = Some((means.as_slice(), stds.as_slice()));
    parts.iter().map(|(tr, te)| (prepare(s, tr, stats).unwrap(), prepare(s, te, stats).unwrap())).collect()
}

/// The clients' pooled held-out accuracy.
fn pooled_accuracy(r: &Run) -> f64 {
    let (mut right, mut n) = (0.0, 0usize);
    for c in &r.clients {
        let c = c.as_ref().unwrap();
        right += c.test_accuracy.unwrap() * c.test_rows as f64;
        n += c.test_rows;
    }
    right / n as f64
}

async fn linear_run(scheme: &str, clients: usize, epochs: usize, loss_tol: f64) -> Run {
    let s = linear_spec(scheme, epochs);
    let d = linear_data(&s, clients);
    let (nets, seen) = recording(clients as u16 + 1, Some(PartyId(clients as u16)));
    let started = std::time::Instant::now();
    let r = run(&s, &d, nets).await;
    if let Some(Err(e)) = r.clients.iter().find(|c| c.is_err()) {
        panic!("client: {e}; server: {:?}", r.server.as_ref().err().map(ToString::to_string));
    }
    compare_with_twin(&s, &d, &r, loss_tol);
    let acc = pooled_accuracy(&r);
    println!("{scheme} linear: test accuracy {acc:.4} ({:.1} s)", started.elapsed().as_secs_f64());
    assert!(acc > 0.9, "{scheme}: logistic regression reaches only {acc}");
    // No client layers, so the clients never ask for ∂L/∂a: no backward request at all.
    for (from, step, p) in seen.lock().unwrap().iter() {
        let m = SplitMsg::decode(*from, &consort_net::StepId::root("x"), p).unwrap();
        assert!(!matches!(m, SplitMsg::Backward { .. }), "{scheme}: a backward request at {step}");
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_linear_is_logistic_regression_on_breast_cancer() {
    let r = linear_run("plain", 3, 5, 1e-9).await;
    assert!(r.clients.iter().all(|c| c.as_ref().unwrap().model.weights.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckks_linear_matches_plaintext_logistic_regression() {
    linear_run("ckks", 3, 5, 1e-6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paillier_linear_matches_plaintext_logistic_regression() {
    // Two clients and two epochs keep the 2048-bit encryptions (30 per batch) to seconds.
    linear_run("paillier", 2, 2, 1e-3).await;
}

/// Both encryptions serve the 30 × 2 layer (padded to 32 features under CKKS): the
/// Galois keys cover its rotations, and the forward and backward products (the linear
/// model needs only the first) agree with the plaintext share.
#[test]
fn the_ciphers_serve_a_cut_of_30_and_2_classes() {
    for (scheme, tol) in [("ckks", 1e-5), ("paillier", 1e-3)] {
        let s = linear_spec(scheme, 1);
        let (n, d, c) = (16, s.cut(), s.classes);
        let (w, b) = server_init(&s);
        let share = LayerShare { w, b };
        let mut client = ClientCipher::new(&s).unwrap();
        let server = ServerCipher::new(&s, &share, PartyId(0), client.keys_msg().unwrap()).unwrap();
        let a: Vec<f64> = (0..n * d).map(|i| ((i * 37 % 101) as f64 - 50.0) / 8.0).collect();
        let fwd = server.forward(PartyId(0), n, &client.encrypt_rows(&a, n, d).unwrap()).unwrap();
        let z = client.decrypt_logits(&fwd, n, c).unwrap();
        let g: Vec<f64> = (0..n * c).map(|i| ((i * 13 % 7) as f64 - 3.0) / 64.0).collect();
        let bwd = server.backward(PartyId(0), n, &client.encrypt_grads(&g, n, c).unwrap()).unwrap();
        let da = client.decrypt_input_grads(&bwd, n, d).unwrap();
        for (got, want) in [(z, share.apply(&a, n, d)), (da, share.back(&g, n, d))] {
            let err = got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(got.len() == want.len() && err < tol, "{scheme}: error {err}");
        }
    }
}

#[test]
fn the_linear_client_has_no_layers() {
    let s = linear_spec("ckks", 1);
    assert!(client_init(s.model, s.seed, 0).is_empty());
    let mut net = ClientNet::new(&s, &[]).unwrap();
    let x: Vec<f64> = (0..60).map(|i| i as f64 / 7.0).collect();
    let a = net.forward(&tensor(&x, 2, 30).unwrap()).unwrap();
    assert_eq!(a.flatten_all().unwrap().to_vec1::<f64>().unwrap(), x);
    net.backward_step(&a, &tensor(&x, 2, 30).unwrap()).unwrap();
    assert!(net.forward(&tensor(&x[..29], 1, 29).unwrap()).is_err());
    for n in [0, 4097] {
        let mut bad = s.clone();
        bad.features = (0..n).map(|i| format!("f{i}")).collect();
        assert_eq!(bad.validate().unwrap_err(), format!("the linear model takes 1..=4096 features, got {n}"));
    }
}

#[test]
fn prepare_refuses_the_linear_model_without_pooled_stats() {
    let s = linear_spec("plain", 1);
    assert!(needs_pooled_stats(SplitModel::Linear));
    let rows = breast_cancer(0).1;
    let e = prepare(&s, &rows, None).unwrap_err();
    assert!(matches!(e, SplitError::Usage(_)), "{e:?}");
    assert_eq!(e.to_string(), "the linear model needs pooled means and standard deviations");
    // Stats of the wrong width are refused too; a zero deviation counts as 1.
    assert!(prepare(&s, &rows, Some((&[0.0; 3], &[1.0; 3]))).is_err());
    let (means, mut stds) = moments(&rows);
    stds[0] = 0.0;
    let p = prepare(&s, &rows, Some((&means, &stds))).unwrap();
    assert!((p.x[0] - (rows.x[0] - means[0])).abs() < 1e-12);
    assert!((p.x[1] - (rows.x[1] - means[1]) / stds[1]).abs() < 1e-12);
}

#[test]
fn prepare_keeps_the_cnn1d_input_as_before() {
    let mut s = spec("plain", 1);
    s.input_scale = 0.5;
    assert!(!needs_pooled_stats(SplitModel::Cnn1d) && !needs_pooled_stats(SplitModel::Cnn2d));
    let rows = ecg(0, 10);
    // The formula before the pooled statistics: each row centred on its own mean.
    let mut old = Vec::new();
    for i in 0..rows.n() {
        let r = rows.row(i);
        let m = r.iter().sum::<f64>() / r.len() as f64;
        old.extend(r.iter().map(|v| (v - m) * s.input_scale));
    }
    let (means, stds) = moments(&rows);
    for pooled in [None, Some((means.as_slice(), stds.as_slice()))] {
        let p = prepare(&s, &rows, pooled).unwrap();
        assert_eq!((p.d, &p.y), (rows.d, &rows.y));
        assert!(p.x.iter().zip(&old).all(|(a, b)| (a - b).abs() < 1e-12) && p.x.len() == old.len());
    }
}
