//! Federated averaging over the in-memory network: both backends against the plaintext
//! twin, what the aggregator receives, dropouts, and a cheating key holder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use consort_he::paillier::threshold::{KeyShare, ThresholdPublicKey, deal_with_primes, test_only_primes_2048};
use consort_he::paillier::{Packer, PackingSpec};
use consort_net::{MemoryNetwork, MemoryTransport, PartyId, Transport, Verdict};
use consort_protocols::fedavg::local::{prepare, train_local};
use consort_protocols::fedavg::model::Arch;
use consort_protocols::fedavg::msg::FedMsg;
use consort_protocols::fedavg::paillier::{MemberState, run_aggregator};
use consort_protocols::fedavg::{Backend, FedAvgSpec, FedError, FedModel, MemberOutcome, plain, run_member};
use consort_protocols::learn::data::{Rows, moments};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const FEATURES: [&str; 6] =
    ["mean_radius", "mean_texture", "mean_smoothness", "worst_radius", "worst_concavity", "worst_symmetry"];

/// Breast-cancer rows from the example files, re-split among `members` hospitals and
/// standardized with pooled moments (the stats protocol's job, tested elsewhere).
fn hospitals(members: usize) -> Vec<Rows> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data/breast_cancer/full.csv");
    let mut r = csv::Reader::from_path(path).unwrap();
    let head = r.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (idx, label) = (FEATURES.map(col), col("target"));
    let mut all = Rows { d: FEATURES.len(), ..Rows::default() };
    for rec in r.records() {
        let rec = rec.unwrap();
        all.x.extend(idx.iter().map(|i| rec[*i].parse::<f64>().unwrap()));
        all.y.push(rec[label].parse().unwrap());
    }
    let (means, stds) = moments(&all);
    let prepared = prepare(FedModel::Logreg, &all, Some((&means, &stds)));
    // Unequal shares: member k gets rows with index ≡ k mod (members + 1), the last two
    // residues to the last member.
    (0..members)
        .map(|k| {
            let mut out = Rows { d: prepared.d, ..Rows::default() };
            for i in 0..prepared.n() {
                let m = (i % (members + 1)).min(members - 1);
                if m == k {
                    out.x.extend_from_slice(prepared.row(i));
                    out.y.push(prepared.y[i]);
                }
            }
            out
        })
        .collect()
}

fn spec(rounds: usize, threshold: u16, aggregator: u16) -> FedAvgSpec {
    let mut s: FedAvgSpec = toml::from_str(&format!(
        "model = 'logreg'\nfeatures = {FEATURES:?}\nlabel = 'target'\nrounds = {rounds}\nbatch_size = 32\n\
         learning_rate = 0.2\nthreshold = {threshold}\naggregator = {aggregator}\n"
    ))
    .unwrap();
    s.validate().unwrap();
    s
}

fn arch() -> Arch {
    Arch { model: FedModel::Logreg, inputs: FEATURES.len(), classes: 2 }
}

fn keys(members: u32, threshold: u32) -> (ThresholdPublicKey, Vec<KeyShare>) {
    deal_with_primes(&test_only_primes_2048(), members, threshold, &mut ChaCha20Rng::seed_from_u64(9)).unwrap()
}

struct Run {
    members: Vec<Result<MemberOutcome, FedError>>,
    aggregator: Option<Result<Vec<Vec<u16>>, FedError>>,
}

/// Runs `rows.len()` members (and an aggregator node when `spec.aggregator` is the party
/// after them). `rounds_of[k]`: member k stops after that many rounds and vanishes.
async fn run(
    spec: &FedAvgSpec,
    rows: Vec<Rows>,
    paillier: bool,
    nets: Vec<MemoryTransport>,
    rounds_of: &[usize],
) -> Run {
    let n = rows.len();
    let members: Vec<PartyId> = (0..n as u16).map(PartyId).collect();
    let (key, shares) = keys(n as u32, u32::from(spec.threshold));
    let agg = PartyId(spec.aggregator.unwrap());
    let mut tasks = Vec::new();
    for (k, (t, rows)) in nets.iter().cloned().zip(rows).enumerate() {
        let mut s = spec.clone();
        s.rounds = rounds_of.get(k).copied().unwrap_or(spec.rounds);
        let vanish = s.rounds < spec.rounds;
        let (members, key, share) = (members.clone(), key.clone(), shares[k].clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha20Rng::seed_from_u64(k as u64);
            let out = if paillier {
                let mut st = MemberState::new(&s, t.me(), key, share, agg, &members, arch().len() + 1).unwrap();
                st.agree(&t).await.unwrap();
                run_member(&t, &s, arch(), &members, Arc::new(rows), Backend::Paillier(&mut st), &mut rng).await
            } else {
                run_member(&t, &s, arch(), &members, Arc::new(rows), Backend::Additive, &mut rng).await
            };
            if vanish {
                t.vanish();
            }
            out
        }));
    }
    let aggregator = (paillier && usize::from(agg.0) == n).then(|| {
        let (t, s, key, members) = (nets[n].clone(), spec.clone(), key.clone(), members.clone());
        tokio::spawn(async move { run_aggregator(&t, &s, &key, &members, arch().len() + 1).await })
    });
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    let aggregator = match aggregator {
        Some(a) => Some(a.await.unwrap()),
        None => None,
    };
    Run { members: out, aggregator }
}

fn assert_close_to_twin(got: &[f64], twin: &[f64]) {
    assert_eq!(got.len(), twin.len());
    for (g, w) in got.iter().zip(twin) {
        assert!((g - w).abs() < 1e-4, "secure {g} vs plaintext {w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paillier_fedavg_with_an_aggregator_node_matches_the_plaintext_twin() {
    let s = spec(3, 2, 3);
    let rows = hospitals(3);
    let twin = plain::fedavg(&s, arch(), &rows).unwrap();
    let r = run(&s, rows, true, MemoryNetwork::new(4).build(), &[]).await;
    for m in &r.members {
        let m = m.as_ref().unwrap();
        assert_close_to_twin(&m.weights, &twin);
        assert_eq!(m.rounds.len(), 3);
        assert!(m.rounds.iter().all(|l| l.contributors == [0, 1, 2] && l.decryptors.len() == 3));
    }
    assert_eq!(r.aggregator.unwrap().unwrap(), vec![vec![0, 1, 2]; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paillier_fedavg_with_a_member_aggregator_and_additive_fedavg_match_the_twin() {
    let s = spec(2, 2, 0);
    let rows = hospitals(3);
    let twin = plain::fedavg(&s, arch(), &rows).unwrap();
    let r = run(&s, rows.clone(), true, MemoryNetwork::new(3).build(), &[]).await;
    assert!(r.aggregator.is_none());
    let first = r.members[0].as_ref().unwrap().weights.clone();
    assert_close_to_twin(&first, &twin);
    for m in &r.members {
        assert_eq!(m.as_ref().unwrap().weights, first, "members decode the same sum");
    }
    let r = run(&s, rows, false, MemoryNetwork::new(3).build(), &[]).await;
    for m in &r.members {
        assert_close_to_twin(&m.as_ref().unwrap().weights, &twin);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_receives_ciphertexts_and_never_a_weight() {
    let s = spec(2, 2, 3);
    let rows = hospitals(3);
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let tap = Arc::clone(&seen);
    let nets = MemoryNetwork::new(4)
        .hook(move |e| {
            if e.to == PartyId(3) {
                tap.lock().unwrap().push(e.payload.clone());
            }
            Verdict::Deliver
        })
        .build();
    let r = run(&s, rows.clone(), true, nets, &[]).await;
    r.members.iter().for_each(|m| assert!(m.is_ok()));
    let (key, _) = keys(3, 2);
    let pk = key.public_key();
    let packer =
        Packer::new(pk, PackingSpec { frac_bits: s.frac_bits, max_abs: s.contribution_bound(), max_summands: 3 })
            .unwrap();
    // Every contribution the members made, recomputed in the clear (same global models).
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut global = arch().init(s.seed);
    for round in 0..s.rounds {
        let mut next = vec![0.0; global.len()];
        let total: f64 = rows.iter().map(|r| r.n() as f64).sum();
        for (k, r) in rows.iter().enumerate() {
            let local = train_local(&s, arch(), &global, r, round, k).unwrap();
            let n = r.n() as f64;
            let mut c: Vec<f64> = local.iter().map(|w| w * n).collect();
            c.push(n);
            for (i, w) in local.iter().enumerate() {
                next[i] += w * n / total;
                secrets.push(w.to_le_bytes().to_vec());
                secrets.push(((w * f64::from(1u32 << s.frac_bits)).round() as i64).to_le_bytes().to_vec());
            }
            for v in &c {
                secrets.push(v.to_le_bytes().to_vec());
            }
            for p in packer.pack(&c).unwrap() {
                let b = p.to_be_bytes();
                secrets.push(b[b.len().saturating_sub(24)..].to_vec());
            }
        }
        global = next;
    }
    let seen = seen.lock().unwrap();
    let mut contributions = 0;
    for msg in seen.iter() {
        for s in &secrets {
            assert!(!msg.windows(s.len()).any(|w| w == s.as_slice()), "a plaintext value reached the aggregator");
        }
        match FedMsg::decode(PartyId(0), &consort_net::StepId::root("t"), msg).unwrap() {
            FedMsg::Key { .. } => {}
            FedMsg::Contribution { ciphertexts, .. } => {
                contributions += 1;
                assert_eq!(ciphertexts.len() % pk.ciphertext_len(), 0);
                for c in ciphertexts.chunks(pk.ciphertext_len()) {
                    pk.ciphertext_from_bytes(c).unwrap();
                }
            }
            other => panic!("the aggregator received a {}", other.kind()),
        }
    }
    assert_eq!(contributions, 3 * s.rounds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_vanishes_is_dropped_and_the_others_finish() {
    let s = spec(3, 3, 5);
    let rows = hospitals(5);
    let nets = MemoryNetwork::new(6).tolerate_dropouts().build();
    let r = run(&s, rows, true, nets, &[3, 3, 3, 3, 1]).await;
    let survivors: Vec<&MemberOutcome> = r.members[..4].iter().map(|m| m.as_ref().unwrap()).collect();
    for m in &survivors {
        assert_eq!(m.weights, survivors[0].weights);
        assert_eq!(m.rounds[0].contributors, [0, 1, 2, 3, 4]);
        assert_eq!(m.rounds[1].contributors, [0, 1, 2, 3]);
        assert_eq!(m.rounds[2].contributors, [0, 1, 2, 3]);
    }
    assert_eq!(r.aggregator.unwrap().unwrap(), vec![vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3], vec![0, 1, 2, 3]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_than_threshold_members_stop_with_a_clear_error() {
    let s = spec(3, 3, 3);
    let nets = MemoryNetwork::new(4).tolerate_dropouts().build();
    let r = run(&s, hospitals(3), true, nets, &[3, 3, 1]).await;
    let e = r.aggregator.unwrap().unwrap_err().to_string();
    assert_eq!(e, "only 2 members remain at round 2; the job needs at least 3 (its threshold and min_contributors)");
    assert!(r.members[0].is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_contributors_stop_the_job_unless_min_contributors_is_2_and_then_each_round_warns() {
    // Threshold 2 could decrypt a sum of two, but then each of the two learns the other's
    // model: the default min_contributors = 3 stops the job instead.
    let mut s = spec(3, 2, 3);
    assert_eq!(s.min_contributors, 3);
    let nets = MemoryNetwork::new(4).tolerate_dropouts().build();
    let r = run(&s, hospitals(3), true, nets, &[3, 3, 1]).await;
    let e = r.aggregator.unwrap().unwrap_err().to_string();
    assert_eq!(e, "only 2 members remain at round 2; the job needs at least 3 (its threshold and min_contributors)");
    assert!(r.members[0].is_err() && r.members[1].is_err());

    s.min_contributors = 2;
    let nets = MemoryNetwork::new(4).tolerate_dropouts().build();
    let r = run(&s, hospitals(3), true, nets, &[3, 3, 1]).await;
    for m in &r.members[..2] {
        let m = m.as_ref().unwrap();
        assert_eq!(m.rounds[0].warning, None);
        for (i, round) in m.rounds.iter().enumerate().skip(1) {
            assert_eq!(
                round.warning.as_deref(),
                Some(
                    format!(
                        "round {}: only parties 0 and 1 contributed, so each can compute the other's local model \
                         from the average (min_contributors = 2 allows it)",
                        i + 1
                    )
                    .as_str()
                )
            );
        }
    }
}

#[test]
fn min_contributors_below_2_is_refused() {
    let mut s = spec(1, 2, 3);
    s.min_contributors = 1;
    assert_eq!(
        s.validate().unwrap_err(),
        "min_contributors = 1 would let the others decrypt one member's own model; it must be at least 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sending_bad_partials_is_named_and_excluded() {
    let s = spec(3, 2, 3);
    let rows = hospitals(3);
    let twin = plain::fedavg(&s, arch(), &rows).unwrap();
    // Member 2 corrupts every partial decryption it sends (its last value byte).
    let nets = MemoryNetwork::new(4)
        .hook(|e| {
            if e.from == PartyId(2) && e.step.as_str().ends_with("partial") {
                let n = e.payload.len();
                e.payload[n - 1] ^= 1;
            }
            Verdict::Deliver
        })
        .build();
    let r = run(&s, rows, true, nets, &[]).await;
    for k in 0..2 {
        let m = r.members[k].as_ref().unwrap();
        assert_close_to_twin(&m.weights, &twin);
        for l in &m.rounds {
            assert_eq!(l.excluded, [2], "member {k} excludes the cheater");
            assert!(!l.decryptors.contains(&2));
        }
    }
    // The cheater itself decrypts with the honest partials.
    assert_close_to_twin(&r.members[2].as_ref().unwrap().weights, &twin);
}

/// What a malicious aggregator does to round 1's relay.
#[derive(Clone, Copy, Debug)]
enum Cheat {
    /// Keeps member 0's contribution and replaces the others' by the trivial encryption
    /// of zero (the ciphertext 1): the "sum" decrypted would be member 0's own model.
    Unmask,
    /// Leaves out member 2's contribution (member 2 is alive).
    Drop,
    /// Adds a contribution of its own, as party 3.
    Add,
    /// Relays member 0's contribution twice.
    Repeat,
}

/// An aggregator node that gathers round 1 like an honest one and relays `cheat`.
async fn cheating_aggregator(t: MemoryTransport, key: ThresholdPublicKey, cheat: Cheat) {
    use consort_protocols::fedavg::paillier::{agree_key, round_step};
    agree_key(&t, &key).await.unwrap();
    let s = round_step(0, "contribute");
    let mut parts: Vec<(u16, Vec<u8>)> = Vec::new();
    for p in 0..3u16 {
        let b = t.recv(PartyId(p), &s).await.unwrap();
        match FedMsg::decode(PartyId(p), &s, &b).unwrap() {
            FedMsg::Contribution { ciphertexts, .. } => parts.push((p, ciphertexts)),
            other => panic!("a {}", other.kind()),
        }
    }
    let len = key.public_key().ciphertext_len();
    let one = {
        let mut c = vec![0u8; len];
        c[len - 1] = 1;
        c
    };
    key.public_key().ciphertext_from_bytes(&one).unwrap();
    match cheat {
        Cheat::Unmask => {
            let zero: Vec<u8> = one.repeat(parts[0].1.len() / len);
            parts[1].1 = zero.clone();
            parts[2].1 = zero;
        }
        Cheat::Drop => {
            parts.pop();
        }
        Cheat::Add => parts.push((3, parts[0].1.clone())),
        Cheat::Repeat => parts.push(parts[0].clone()),
    }
    let msg = FedMsg::Relay { round: 0, parts }.encode().unwrap();
    for p in 0..3u16 {
        t.send(PartyId(p), &round_step(0, "relay"), msg.clone()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_aggregator_is_named_and_nothing_is_decrypted() {
    let s = spec(2, 2, 3);
    let (key, shares) = keys(3, 2);
    let members: Vec<PartyId> = (0..3).map(PartyId).collect();
    for cheat in [Cheat::Unmask, Cheat::Drop, Cheat::Add, Cheat::Repeat] {
        let partials = Arc::new(Mutex::new(0usize));
        let tap = Arc::clone(&partials);
        let nets = MemoryNetwork::new(4)
            .hook(move |e| {
                if e.step.as_str().ends_with("partial") {
                    *tap.lock().unwrap() += 1;
                }
                Verdict::Deliver
            })
            .build();
        let agg = tokio::spawn(cheating_aggregator(nets[3].clone(), key.clone(), cheat));
        let mut tasks = Vec::new();
        for (k, rows) in hospitals(3).into_iter().enumerate() {
            let (t, s, key, share, members) =
                (nets[k].clone(), s.clone(), key.clone(), shares[k].clone(), members.clone());
            tasks.push(tokio::spawn(async move {
                let mut st = MemberState::new(&s, t.me(), key, share, PartyId(3), &members, arch().len() + 1).unwrap();
                st.agree(&t).await.unwrap();
                let mut rng = ChaCha20Rng::seed_from_u64(k as u64);
                run_member(&t, &s, arch(), &members, Arc::new(rows), Backend::Paillier(&mut st), &mut rng).await
            }));
        }
        let mut errors = Vec::new();
        for t in tasks {
            errors.push(t.await.unwrap().err().map(|e| e.to_string()).unwrap_or_default());
        }
        agg.await.unwrap();
        let head = "party 3 sent a bad relay at round 1: ";
        let tail = "; nothing is decrypted";
        let want: [String; 3] = match cheat {
            Cheat::Unmask => [
                format!("{head}party 1's contribution does not match the digest party 1 sent{tail}"),
                format!("{head}party 1's contribution does not match the digest party 1 sent{tail}"),
                format!("{head}party 1's contribution does not match the digest party 1 sent{tail}"),
            ],
            Cheat::Drop => [
                format!(
                    "{head}it leaves out party 2's contribution, though party 2 sent its digest and confirmed it{tail}"
                ),
                format!(
                    "{head}it leaves out party 2's contribution, though party 2 sent its digest and confirmed it{tail}"
                ),
                format!(
                    "{head}it leaves out this member's own contribution, though party 2 sent its digest and confirmed \
                     it{tail}"
                ),
            ],
            Cheat::Add => std::array::from_fn(|_| {
                format!("{head}it adds a contribution for party 3, who sent the members no digest{tail}")
            }),
            Cheat::Repeat => std::array::from_fn(|_| format!("{head}it relays party 0's contribution twice{tail}")),
        };
        for (k, (got, want)) in errors.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{cheat:?}: member {k}");
        }
        assert_eq!(*partials.lock().unwrap(), 0, "{cheat:?}: a partial decryption was sent");
    }
}
