//! The encryption at the cut, per scheme: what the client does (keys, encrypt, decrypt)
//! and what the server does (its share of the layer on ciphertexts). Pure computation;
//! the protocol in [`super::client`] and [`super::server`] moves the bytes.

use std::sync::Arc;

use consort_he::ckks::Ciphertext as CkksCiphertext;
use consort_he::ckks::{
    BatchLayout, BatchLinear, CkksContext, CkksParams, Decryptor, Encryptor, Evaluator, GaloisKeys, KeyGenerator,
    Preset,
};
use consort_he::paillier::{self, Plaintext, PublicKey, RandomizerPool, SecretKey, SignedPacking};
use consort_net::PartyId;
use rayon::prelude::*;

use super::SplitError;
use super::model::LayerShare;
use super::msg::SplitMsg;
use super::spec::{PAILLIER_MAX_ACTIVATION, Scheme, SplitSpec};

/// Paillier slot width: |a|·2^f·|w|·2^f·cut stays below 2^59 (see the spec's bounds).
const SLOT_BITS: u32 = 60;
/// Extra fraction bits of gradients (they are small: |∂L/∂z| ≤ 1/rows).
const GRAD_EXTRA_BITS: u32 = 8;

fn ckks_context() -> Result<Arc<CkksContext>, SplitError> {
    Ok(CkksParams::preset(Preset::N8192).build()?)
}

/// The client's side of the scheme; it alone holds the secret key.
pub enum ClientCipher {
    Plain,
    Ckks(Box<CkksClient>),
    Paillier(Box<PaillierClient>),
}

pub struct CkksClient {
    ctx: Arc<CkksContext>,
    layout: BatchLayout,
    enc: Encryptor,
    dec: Decryptor,
    galois: Vec<u8>,
}

pub struct PaillierClient {
    pk: PublicKey,
    sk: SecretKey,
    packing: SignedPacking,
    pool: RandomizerPool,
    frac: u32,
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f64(b: &[u8], len: usize) -> Option<Vec<f64>> {
    if b.len() != len * 8 {
        return None;
    }
    Some(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
}

fn fixed(x: f64, frac: u32) -> i128 {
    (x * 2f64.powi(frac as i32)).round() as i128
}

fn unfixed(v: i128, frac: u32) -> f64 {
    v as f64 / 2f64.powi(frac as i32)
}

impl ClientCipher {
    /// A fresh key for this job (CPU-heavy: run it off the async runtime).
    pub fn new(spec: &SplitSpec) -> Result<Self, SplitError> {
        let (d, c) = (spec.cut(), spec.classes);
        match spec.scheme {
            Scheme::Plain => Ok(ClientCipher::Plain),
            Scheme::Ckks => {
                let ctx = ckks_context()?;
                let mut kg = KeyGenerator::new(&ctx)?;
                let pk = kg.public_key()?;
                let gks = kg.galois_keys(&BatchLinear::rotation_steps(&ctx, d, c)?, false)?;
                let galois = gks.to_bytes(&ctx)?;
                let enc = Encryptor::new(&ctx, &pk)?;
                let dec = Decryptor::new(&ctx, kg.secret_key())?;
                let layout = BatchLayout::new(&ctx, d)?;
                Ok(ClientCipher::Ckks(Box::new(CkksClient { ctx, layout, enc, dec, galois })))
            }
            Scheme::Paillier => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| SplitError::Usage(format!("no OS randomness: {e}")))?;
                let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed);
                let (pk, sk) = paillier::generate_keypair(spec.key_bits, &mut rng)?;
                let packing = SignedPacking::new(&pk, SLOT_BITS, SignedPacking::max_slots(&pk, SLOT_BITS))?;
                let pool = RandomizerPool::new(&pk);
                Ok(ClientCipher::Paillier(Box::new(PaillierClient { pk, sk, packing, pool, frac: spec.frac_bits })))
            }
        }
    }

    /// What the server needs to compute on this client's ciphertexts.
    pub fn keys_msg(&self) -> Result<SplitMsg, SplitError> {
        Ok(match self {
            ClientCipher::Plain => SplitMsg::Keys { scheme: Scheme::Plain, parts: Vec::new() },
            ClientCipher::Ckks(c) => SplitMsg::Keys { scheme: Scheme::Ckks, parts: vec![c.galois.clone()] },
            ClientCipher::Paillier(p) => SplitMsg::Keys {
                scheme: Scheme::Paillier,
                parts: vec![serde_json::to_vec(&p.pk).map_err(|e| SplitError::Usage(e.to_string()))?],
            },
        })
    }

    /// Encrypts `n` rows of activations (`n × d`).
    pub fn encrypt_rows(&mut self, a: &[f64], n: usize, d: usize) -> Result<Vec<Vec<u8>>, SplitError> {
        match self {
            ClientCipher::Plain => Ok(vec![f64_bytes(a)]),
            ClientCipher::Ckks(c) => c.encrypt(&c.layout.encode_rows(a, n)?),
            ClientCipher::Paillier(p) => {
                if let Some((i, v)) =
                    a.iter().enumerate().find(|(_, v)| v.is_nan() || v.abs() >= PAILLIER_MAX_ACTIVATION)
                {
                    return Err(SplitError::Range(format!(
                        "activation {v} (row {}, feature {}) is beyond the Paillier packing's ±{PAILLIER_MAX_ACTIVATION}",
                        i / d.max(1) + 1,
                        i % d.max(1)
                    )));
                }
                let frac = p.frac;
                p.encrypt_columns(a, n, d, frac)
            }
        }
    }

    /// Encrypts ∂L/∂z of `n` rows (`n × c`).
    pub fn encrypt_grads(&mut self, g: &[f64], n: usize, c: usize) -> Result<Vec<Vec<u8>>, SplitError> {
        match self {
            ClientCipher::Plain => Ok(vec![f64_bytes(g)]),
            ClientCipher::Ckks(k) => k.encrypt(&k.layout.encode_tiled(g, n, c)?),
            ClientCipher::Paillier(p) => {
                let frac = p.frac + GRAD_EXTRA_BITS;
                p.encrypt_columns(g, n, c, frac)
            }
        }
    }

    /// Decrypts the server's outputs for `n` rows: `n × c` values.
    pub fn decrypt_logits(&self, cts: &[Vec<u8>], n: usize, c: usize) -> Result<Vec<f64>, SplitError> {
        match self {
            ClientCipher::Plain => plain_values(cts, n * c),
            ClientCipher::Ckks(k) => k.decrypt(cts, n, c),
            ClientCipher::Paillier(p) => p.decrypt_columns(cts, n, c, 2 * p.frac),
        }
    }

    /// Decrypts the server's share of ∂L/∂a for `n` rows: `n × d` values.
    pub fn decrypt_input_grads(&self, cts: &[Vec<u8>], n: usize, d: usize) -> Result<Vec<f64>, SplitError> {
        match self {
            ClientCipher::Plain => plain_values(cts, n * d),
            ClientCipher::Ckks(k) => k.decrypt(cts, n, d),
            ClientCipher::Paillier(p) => p.decrypt_columns(cts, n, d, 2 * p.frac + GRAD_EXTRA_BITS),
        }
    }
}

fn plain_values(cts: &[Vec<u8>], len: usize) -> Result<Vec<f64>, SplitError> {
    match cts {
        [one] => bytes_f64(one, len).ok_or_else(|| SplitError::Reply(format!("{} bytes for {len} values", one.len()))),
        _ => Err(SplitError::Reply(format!("{} parts where 1 was expected", cts.len()))),
    }
}

impl CkksClient {
    fn encrypt(&mut self, slots: &[Vec<f64>]) -> Result<Vec<Vec<u8>>, SplitError> {
        let cts = slots.iter().map(|v| self.enc.encrypt_values(v)).collect::<Result<Vec<_>, _>>()?;
        Ok(cts.iter().map(|ct| ct.to_bytes(&self.ctx)).collect::<Result<Vec<_>, _>>()?)
    }

    fn decrypt(&self, cts: &[Vec<u8>], n: usize, width: usize) -> Result<Vec<f64>, SplitError> {
        if cts.len() != self.layout.ciphertexts_for(n) {
            return Err(SplitError::Reply(format!(
                "{} ciphertexts for {n} rows, expected {}",
                cts.len(),
                self.layout.ciphertexts_for(n)
            )));
        }
        let slots = cts
            .par_iter()
            .map(|b| {
                let ct = CkksCiphertext::from_bytes(&self.ctx, b).map_err(|e| SplitError::Reply(e.to_string()))?;
                Ok(self.dec.decrypt_values(&ct)?)
            })
            .collect::<Result<Vec<_>, SplitError>>()?;
        Ok(self.layout.decode_rows(&slots, n, width)?)
    }
}

impl PaillierClient {
    /// One ciphertext per column per chunk of rows, the chunk's rows packed in its slots.
    fn encrypt_columns(&mut self, x: &[f64], n: usize, d: usize, frac: u32) -> Result<Vec<Vec<u8>>, SplitError> {
        let rows = self.packing.slots();
        let mut pts = Vec::with_capacity(n.div_ceil(rows) * d);
        for start in (0..n).step_by(rows.max(1)) {
            let end = (start + rows).min(n);
            for j in 0..d {
                let col: Vec<i128> =
                    (start..end).map(|i| fixed(x.get(i * d + j).copied().unwrap_or(0.0), frac)).collect();
                pts.push(self.packing.pack(&self.pk, &col)?);
            }
        }
        if self.pool.len() < pts.len() {
            self.pool.fill(pts.len() - self.pool.len());
        }
        let cts = self.pk.encrypt_batch(&pts, &mut self.pool)?;
        Ok(cts.iter().map(paillier::Ciphertext::to_bytes).collect())
    }

    fn decrypt_columns(&self, cts: &[Vec<u8>], n: usize, d: usize, frac: u32) -> Result<Vec<f64>, SplitError> {
        let rows = self.packing.slots();
        let expected = n.div_ceil(rows) * d;
        if cts.len() != expected {
            return Err(SplitError::Reply(format!("{} ciphertexts for {n} rows, expected {expected}", cts.len())));
        }
        let cols = cts
            .par_iter()
            .enumerate()
            .map(|(idx, b)| {
                let chunk_rows = (n - (idx / d) * rows).min(rows);
                let ct = self.pk.ciphertext_from_bytes(b).map_err(|e| SplitError::Reply(e.to_string()))?;
                let pt = self.sk.decrypt(&ct);
                self.packing.unpack(&self.pk, &pt, chunk_rows).map_err(|e| SplitError::Reply(e.to_string()))
            })
            .collect::<Result<Vec<_>, SplitError>>()?;
        let mut out = vec![0.0; n * d];
        for (idx, col) in cols.iter().enumerate() {
            let (chunk, j) = (idx / d, idx % d);
            for (r, v) in col.iter().enumerate() {
                if let Some(o) = out.get_mut((chunk * rows + r) * d + j) {
                    *o = unfixed(*v, frac);
                }
            }
        }
        Ok(out)
    }
}

/// The server's side for one client: its share of the layer, ready for that client's
/// ciphertexts. It holds no secret key.
pub enum ServerCipher {
    Plain { share: LayerShare, d: usize },
    Ckks(Box<CkksServer>),
    Paillier(Box<PaillierServer>),
}

pub struct CkksServer {
    ctx: Arc<CkksContext>,
    eval: Evaluator,
    gks: GaloisKeys,
    layer: BatchLinear,
    bias: Vec<f64>,
}

pub struct PaillierServer {
    pk: PublicKey,
    rows: usize,
    d: usize,
    c: usize,
    packing: SignedPacking,
    w: Vec<i64>,
    /// The bias share in fixed point at 2f fraction bits (the products' scale).
    bias: Vec<i128>,
}

impl ServerCipher {
    /// Prepares the server's share for the key material `client` sent. Errors are the
    /// client's fault (bad keys) or the server's (a share out of range).
    pub fn new(spec: &SplitSpec, share: &LayerShare, client: PartyId, msg: SplitMsg) -> Result<Self, SplitError> {
        let (d, c) = (spec.cut(), spec.classes);
        let bad = |reason: String| SplitError::Bad { party: client, what: "keys", reason };
        let SplitMsg::Keys { scheme, parts } = msg else {
            return Err(bad(format!("expected its keys, got a {} message", msg.kind())));
        };
        if scheme != spec.scheme {
            return Err(bad(format!("keys for scheme {}, the job uses {}", scheme.name(), spec.scheme.name())));
        }
        match (scheme, parts.as_slice()) {
            (Scheme::Plain, []) => Ok(ServerCipher::Plain { share: share.clone(), d }),
            (Scheme::Ckks, [galois]) => {
                let ctx = ckks_context()?;
                let gks = GaloisKeys::from_bytes(&ctx, galois).map_err(|e| bad(e.to_string()))?;
                let eval = Evaluator::new(&ctx);
                let steps = BatchLinear::rotation_steps(&ctx, d, c)?;
                if let Some(s) =
                    steps.iter().find(|s| !gks.contains_element(consort_he::ckks::galois_element(ctx.degree(), **s)))
                {
                    return Err(bad(format!("no Galois key for rotation step {s}")));
                }
                let layer = BatchLinear::new(&eval, &share.w, d, c, ctx.max_level())?;
                let b = layer.layout().rows_per_ciphertext();
                let mut bias = vec![0.0; ctx.slots()];
                for (k, bk) in share.b.iter().enumerate() {
                    bias.iter_mut().skip(k * b).take(b).for_each(|s| *s = *bk);
                }
                Ok(ServerCipher::Ckks(Box::new(CkksServer { ctx, eval, gks, layer, bias })))
            }
            (Scheme::Paillier, [key]) => {
                let pk: PublicKey = serde_json::from_slice(key).map_err(|e| bad(format!("public key: {e}")))?;
                if pk.modulus_bits() < spec.key_bits {
                    return Err(bad(format!(
                        "a {}-bit Paillier key; the job requires {} bits",
                        pk.modulus_bits(),
                        spec.key_bits
                    )));
                }
                let rows = SignedPacking::max_slots(&pk, SLOT_BITS);
                let packing = SignedPacking::new(&pk, SLOT_BITS, rows)?;
                let f = spec.frac_bits;
                if let Some(w) = share.w.iter().chain(&share.b).find(|w| w.is_nan() || w.abs() >= 1.0) {
                    return Err(SplitError::Usage(format!("the server's weight {w} is beyond ±1")));
                }
                let w = share.w.iter().map(|x| fixed(*x, f) as i64).collect();
                let bias = share.b.iter().map(|b| fixed(*b, 2 * f)).collect();
                Ok(ServerCipher::Paillier(Box::new(PaillierServer { pk, rows, d, c, packing, w, bias })))
            }
            (s, p) => Err(bad(format!("{} key parts for scheme {}", p.len(), s.name()))),
        }
    }

    /// The share's outputs a·S + b_s for `rows` encrypted rows.
    pub fn forward(&self, client: PartyId, rows: usize, cts: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, SplitError> {
        let bad = |reason: String| SplitError::Bad { party: client, what: "forward", reason };
        match self {
            ServerCipher::Plain { share, d } => {
                let a = plain_values(cts, rows * d).map_err(|e| bad(e.to_string()))?;
                Ok(vec![f64_bytes(&share.apply(&a, rows, *d))])
            }
            ServerCipher::Ckks(s) => {
                let inputs = s.parse(cts, rows).map_err(bad)?;
                inputs
                    .par_iter()
                    .map(|ct| {
                        let y = s.layer.forward(&s.eval, ct, &s.gks)?;
                        let y = s.eval.add_values(&y, &s.bias)?;
                        Ok(y.to_bytes(&s.ctx)?)
                    })
                    .collect()
            }
            ServerCipher::Paillier(p) => {
                let inputs = p.parse(cts, rows, p.d).map_err(bad)?;
                let mut out = Vec::new();
                for (i, chunk) in inputs.chunks(p.d).enumerate() {
                    // The bias only in the chunk's occupied slots: empty slots stay zero.
                    let filled = (rows - i * p.rows).min(p.rows);
                    let ys = p.pk.vector_matrix(chunk, &p.w, p.c)?;
                    for (y, b) in ys.iter().zip(&p.bias) {
                        let pt: Plaintext = p.packing.pack(&p.pk, &vec![*b; filled])?;
                        out.push(p.pk.add_plain(y, &pt).to_bytes());
                    }
                }
                Ok(out)
            }
        }
    }

    /// The share's part of ∂L/∂a, g·Sᵀ, for `rows` encrypted rows of ∂L/∂z.
    pub fn backward(&self, client: PartyId, rows: usize, cts: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, SplitError> {
        let bad = |reason: String| SplitError::Bad { party: client, what: "backward", reason };
        match self {
            ServerCipher::Plain { share, d } => {
                let g = plain_values(cts, rows * share.b.len()).map_err(|e| bad(e.to_string()))?;
                Ok(vec![f64_bytes(&share.back(&g, rows, *d))])
            }
            ServerCipher::Ckks(s) => {
                let inputs = s.parse(cts, rows).map_err(bad)?;
                inputs.par_iter().map(|ct| Ok(s.layer.backward(&s.eval, ct, &s.gks)?.to_bytes(&s.ctx)?)).collect()
            }
            ServerCipher::Paillier(p) => {
                let inputs = p.parse(cts, rows, p.c).map_err(bad)?;
                let mut out = Vec::new();
                for chunk in inputs.chunks(p.c) {
                    out.extend(p.pk.matrix_vector(chunk, &p.w, p.d)?.iter().map(paillier::Ciphertext::to_bytes));
                }
                Ok(out)
            }
        }
    }
}

impl CkksServer {
    fn parse(&self, cts: &[Vec<u8>], rows: usize) -> Result<Vec<CkksCiphertext>, String> {
        let expected = self.layer.layout().ciphertexts_for(rows);
        if cts.len() != expected {
            return Err(format!("{} ciphertexts for {rows} rows, expected {expected}", cts.len()));
        }
        cts.iter()
            .enumerate()
            .map(|(i, b)| {
                let ct = CkksCiphertext::from_bytes(&self.ctx, b).map_err(|e| format!("ciphertext {i}: {e}"))?;
                if ct.level() != self.ctx.max_level() || ct.size() != 2 {
                    return Err(format!(
                        "ciphertext {i} is not a fresh encryption (level {}, size {})",
                        ct.level(),
                        ct.size()
                    ));
                }
                Ok(ct)
            })
            .collect()
    }
}

impl PaillierServer {
    fn parse(&self, cts: &[Vec<u8>], rows: usize, per_chunk: usize) -> Result<Vec<paillier::Ciphertext>, String> {
        let expected = rows.div_ceil(self.rows) * per_chunk;
        if cts.len() != expected {
            return Err(format!("{} ciphertexts for {rows} rows, expected {expected}", cts.len()));
        }
        cts.par_iter()
            .enumerate()
            .map(|(i, b)| self.pk.ciphertext_from_bytes(b).map_err(|e| format!("ciphertext {i}: {e}")))
            .collect()
    }
}
