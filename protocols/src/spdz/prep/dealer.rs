//! The dealer's arithmetic: generates material from a ChaCha20 stream and splits it into
//! shares. Pure (no IO), shared by the dealer node and the in-process dealer.

use bytes::Bytes;
use consort_net::{NetError, PartyId, StepId};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroize;

use super::{AuthVec, Material, Request};
use crate::spdz::Security;
use crate::spdz::shared::matmul;
use crate::spdz::wire;

/// Generates and splits preprocessing material for `n` members.
pub struct DealerCore {
    n: usize,
    security: Security,
    rng: ChaCha20Rng,
    alpha: u128,
}

impl Drop for DealerCore {
    fn drop(&mut self) {
        self.alpha.zeroize();
    }
}

/// One member's part of a dealing: explicit shares (member 0) or a seed to expand them
/// from (everyone else), plus the clear values of the input masks it owns.
pub enum Bundle {
    Explicit(Vec<Material>),
    Seeded { seed: [u8; 32], clear: Vec<Vec<u128>> },
}

fn draw(rng: &mut ChaCha20Rng, security: Security, len: usize) -> Vec<u128> {
    match security {
        Security::SemiHonest => (0..len).map(|_| u128::from(rng.next_u64())).collect(),
        Security::Malicious => {
            (0..len).map(|_| u128::from(rng.next_u64()) | (u128::from(rng.next_u64()) << 64)).collect()
        }
    }
}

/// The shares a seed expands to (without clear values).
fn expand(seed: [u8; 32], requests: &[Request], security: Security) -> Vec<Material> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    requests
        .iter()
        .map(|r| {
            let parts = r
                .parts()
                .into_iter()
                .map(|len| {
                    let vals = draw(&mut rng, security, len);
                    let macs = match security {
                        Security::SemiHonest => Vec::new(),
                        Security::Malicious => draw(&mut rng, security, len),
                    };
                    AuthVec { vals, macs }
                })
                .collect();
            Material { parts, clear: Vec::new() }
        })
        .collect()
}

impl DealerCore {
    /// A dealer for `n` members; `seed` must come from the OS in real runs.
    pub fn new(n: usize, security: Security, seed: [u8; 32]) -> DealerCore {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let alpha = match security {
            Security::SemiHonest => 0,
            Security::Malicious => u128::from(rng.next_u64()),
        };
        DealerCore { n, security, rng, alpha }
    }

    pub fn security(&self) -> Security {
        self.security
    }

    pub fn members(&self) -> usize {
        self.n
    }

    /// Shares of the MAC key, one per member (all zero in semi-honest mode).
    pub fn mac_key_shares(&mut self) -> Vec<u128> {
        if self.security == Security::SemiHonest {
            return vec![0; self.n];
        }
        let mut shares: Vec<u128> = draw(&mut self.rng, Security::Malicious, self.n.saturating_sub(1));
        let rest = shares.iter().fold(self.alpha, |acc, s| acc.wrapping_sub(*s));
        shares.insert(0, rest);
        shares
    }

    /// The clear values of one request: its components, and the clear mask if any.
    fn truth(&mut self, r: &Request) -> Vec<Vec<u128>> {
        let s = self.security;
        match *r {
            Request::Triples { len } => {
                let a = draw(&mut self.rng, s, len);
                let b = draw(&mut self.rng, s, len);
                let c = a.iter().zip(&b).map(|(x, y)| s.reduce(x.wrapping_mul(*y))).collect();
                vec![a, b, c]
            }
            Request::MatTriple { m, k, n } => {
                let a = draw(&mut self.rng, s, m * k);
                let b = draw(&mut self.rng, s, k * n);
                let c = matmul(&a, &b, m, k, n).into_iter().map(|v| s.reduce(v)).collect();
                vec![a, b, c]
            }
            Request::Trunc { len, bits } => {
                let r = draw(&mut self.rng, s, len);
                let msb = r.iter().map(|v| u128::from((*v as u64) >> 63)).collect();
                let hi = r.iter().map(|v| u128::from(((*v as u64) & (u64::MAX >> 1)) >> bits.min(63))).collect();
                vec![r, msb, hi]
            }
            Request::Random { len } | Request::InputMask { len, .. } => vec![draw(&mut self.rng, s, len)],
        }
    }

    /// Deals `requests`: one bundle per member.
    pub fn deal(&mut self, requests: &[Request]) -> Vec<Bundle> {
        let s = self.security;
        let seeds: Vec<[u8; 32]> = (1..self.n)
            .map(|_| {
                let mut b = [0u8; 32];
                self.rng.fill_bytes(&mut b);
                b
            })
            .collect();
        let others: Vec<Vec<Material>> = seeds.iter().map(|seed| expand(*seed, requests, s)).collect();
        let mut clear: Vec<Vec<Vec<u128>>> = vec![Vec::new(); self.n];
        let mut first = Vec::with_capacity(requests.len());
        for (ri, r) in requests.iter().enumerate() {
            let truth = self.truth(r);
            let mut parts = Vec::with_capacity(truth.len());
            for (pi, t) in truth.iter().enumerate() {
                let mut vals: Vec<u128> = t.clone();
                let mut macs: Vec<u128> = match s {
                    Security::SemiHonest => Vec::new(),
                    Security::Malicious => t.iter().map(|v| v.wrapping_mul(self.alpha)).collect(),
                };
                for o in &others {
                    if let Some(p) = o.get(ri).and_then(|m| m.parts.get(pi)) {
                        for (v, x) in vals.iter_mut().zip(&p.vals) {
                            *v = s.reduce(v.wrapping_sub(*x));
                        }
                        for (v, x) in macs.iter_mut().zip(&p.macs) {
                            *v = v.wrapping_sub(*x);
                        }
                    }
                }
                parts.push(AuthVec { vals, macs });
            }
            let mut m0 = Material { parts, clear: Vec::new() };
            if let (Request::InputMask { owner, .. }, Some(t)) = (r, truth.into_iter().next()) {
                if *owner == 0 {
                    m0.clear = t;
                } else if let Some(c) = clear.get_mut(usize::from(*owner)) {
                    c.push(t);
                }
            }
            first.push(m0);
        }
        let mut out = vec![Bundle::Explicit(first)];
        for (i, seed) in seeds.into_iter().enumerate() {
            out.push(Bundle::Seeded { seed, clear: std::mem::take(clear.get_mut(i + 1).unwrap_or(&mut Vec::new())) });
        }
        out
    }
}

impl Bundle {
    /// The bytes sent to the member.
    pub fn encode(&self, security: Security) -> Bytes {
        let mut out = Vec::new();
        match self {
            Bundle::Explicit(ms) => {
                for m in ms {
                    for p in &m.parts {
                        out.extend_from_slice(&wire::encode(security, &p.vals));
                        out.extend_from_slice(&wire::encode(security, &p.macs));
                    }
                    out.extend_from_slice(&wire::encode(security, &m.clear));
                }
            }
            Bundle::Seeded { seed, clear } => {
                out.extend_from_slice(seed);
                for c in clear {
                    out.extend_from_slice(&wire::encode(security, c));
                }
            }
        }
        Bytes::from(out)
    }

    /// The member's material for `requests` (member `me`, an index among members).
    pub fn into_materials(self, requests: &[Request], security: Security, me: usize) -> Vec<Material> {
        match self {
            Bundle::Explicit(ms) => ms,
            Bundle::Seeded { seed, clear } => {
                let mut ms = expand(seed, requests, security);
                let mut clear = clear.into_iter();
                for (m, r) in ms.iter_mut().zip(requests) {
                    if matches!(r, Request::InputMask { owner, .. } if usize::from(*owner) == me) {
                        m.clear = clear.next().unwrap_or_default();
                    }
                }
                ms
            }
        }
    }

    /// Parses what the dealer (`from`) sent to member `me` for `requests`.
    pub fn decode(
        bytes: &[u8],
        requests: &[Request],
        security: Security,
        me: usize,
        from: PartyId,
        step: &StepId,
    ) -> Result<Bundle, NetError> {
        let w = security.share_bytes();
        let mal = security == Security::Malicious;
        let owned = |r: &Request| matches!(r, Request::InputMask { owner, .. } if usize::from(*owner) == me);
        let bad = |what: String| NetError::PeerMisbehaved { party: from, step: step.to_string(), what };
        let mut at = 0usize;
        let mut next = |len: usize| -> Result<Vec<u128>, NetError> {
            let chunk =
                bytes.get(at..at + len * w).ok_or_else(|| bad(format!("dealt {} bytes: too short", bytes.len())))?;
            at += len * w;
            wire::decode(security, from, step, chunk, len)
        };
        let bundle = if me == 0 {
            let mut ms = Vec::with_capacity(requests.len());
            for r in requests {
                let mut parts = Vec::new();
                for len in r.parts() {
                    let vals = next(len)?;
                    let macs = next(if mal { len } else { 0 })?;
                    parts.push(AuthVec { vals, macs });
                }
                let clear = next(if owned(r) { r.size() } else { 0 })?;
                ms.push(Material { parts, clear });
            }
            Bundle::Explicit(ms)
        } else {
            let seed: [u8; 32] = bytes
                .get(..32)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad(format!("dealt {} bytes: no seed", bytes.len())))?;
            let mut rest = Vec::new();
            let mut at = 32;
            for r in requests.iter().filter(|r| owned(r)) {
                let len = r.size();
                let chunk = bytes
                    .get(at..at + len * w)
                    .ok_or_else(|| bad(format!("dealt {} bytes: too short", bytes.len())))?;
                at += len * w;
                rest.push(wire::decode(security, from, step, chunk, len)?);
            }
            if at != bytes.len() {
                return Err(bad(format!("dealt {} bytes, expected {at}", bytes.len())));
            }
            return Ok(Bundle::Seeded { seed, clear: rest });
        };
        if at != bytes.len() {
            return Err(bad(format!("dealt {} bytes, expected {at}", bytes.len())));
        }
        Ok(bundle)
    }
}
