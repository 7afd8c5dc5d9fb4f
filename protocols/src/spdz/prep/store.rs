//! Reserved material waiting to be used, keyed by kind. Elementwise kinds are fungible
//! (any length can be taken from what was reserved); matrix triples are kept per shape.
//! Taking removes: a value is never handed out twice.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{AuthVec, Material, PrepError, Request};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Triples,
    Trunc(u32),
    Random,
    InputMask(u16),
}

#[derive(Default)]
struct Pool {
    parts: Vec<AuthVec>,
    clear: Vec<u128>,
    pos: usize,
}

impl Pool {
    fn available(&self) -> usize {
        self.parts.first().map_or(0, |p| p.vals.len()) - self.pos
    }

    fn push(&mut self, m: Material) {
        if self.parts.is_empty() {
            self.parts = m.parts;
            self.clear = m.clear;
            return;
        }
        for (dst, src) in self.parts.iter_mut().zip(m.parts) {
            dst.vals.extend(src.vals);
            dst.macs.extend(src.macs);
        }
        self.clear.extend(m.clear);
    }

    fn take(&mut self, len: usize) -> Material {
        let (a, b) = (self.pos, self.pos + len);
        let slice = |v: &[u128]| v.get(a..b).map(<[u128]>::to_vec).unwrap_or_default();
        let parts = self.parts.iter().map(|p| AuthVec { vals: slice(&p.vals), macs: slice(&p.macs) }).collect();
        let clear = slice(&self.clear);
        self.pos = b;
        if self.pos > (1 << 16) && self.pos * 2 > self.parts.first().map_or(0, |p| p.vals.len()) {
            for p in &mut self.parts {
                p.vals.drain(..self.pos);
                if !p.macs.is_empty() {
                    p.macs.drain(..self.pos);
                }
            }
            if !self.clear.is_empty() {
                self.clear.drain(..self.pos);
            }
            self.pos = 0;
        }
        Material { parts, clear }
    }
}

/// What is in reserve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stock {
    pub triples: usize,
    pub trunc: BTreeMap<u32, usize>,
    pub random: usize,
    pub input_masks: BTreeMap<u16, usize>,
    pub mat_triples: BTreeMap<(usize, usize, usize), usize>,
}

impl Stock {
    /// Whether `request` can be served from this stock.
    pub fn covers(&self, r: &Request) -> bool {
        match *r {
            Request::Triples { len } => self.triples >= len,
            Request::Trunc { len, bits } => self.trunc.get(&bits).copied().unwrap_or(0) >= len,
            Request::Random { len } => self.random >= len,
            Request::InputMask { owner, len } => self.input_masks.get(&owner).copied().unwrap_or(0) >= len,
            Request::MatTriple { m, k, n } => self.mat_triples.get(&(m, k, n)).copied().unwrap_or(0) >= 1,
        }
    }
}

/// Material reserved by one member.
#[derive(Default)]
pub struct Store {
    pools: HashMap<Kind, Pool>,
    mats: HashMap<(usize, usize, usize), VecDeque<Material>>,
}

fn kind(r: &Request) -> Option<Kind> {
    match *r {
        Request::Triples { .. } => Some(Kind::Triples),
        Request::Trunc { bits, .. } => Some(Kind::Trunc(bits)),
        Request::Random { .. } => Some(Kind::Random),
        Request::InputMask { owner, .. } => Some(Kind::InputMask(owner)),
        Request::MatTriple { .. } => None,
    }
}

impl Store {
    /// Adds the material dealt for `request`.
    pub fn put(&mut self, request: &Request, m: Material) {
        match (kind(request), *request) {
            (Some(k), _) => self.pools.entry(k).or_default().push(m),
            (None, Request::MatTriple { m: a, k, n }) => self.mats.entry((a, k, n)).or_default().push_back(m),
            (None, _) => {}
        }
    }

    /// Adds a whole dealing, request by request.
    pub fn put_all(&mut self, requests: &[Request], materials: Vec<Material>) {
        for (r, m) in requests.iter().zip(materials) {
            self.put(r, m);
        }
    }

    pub fn stock(&self) -> Stock {
        let mut s = Stock::default();
        for (k, p) in &self.pools {
            let a = p.available();
            match k {
                Kind::Triples => s.triples = a,
                Kind::Trunc(b) => {
                    s.trunc.insert(*b, a);
                }
                Kind::Random => s.random = a,
                Kind::InputMask(o) => {
                    s.input_masks.insert(*o, a);
                }
            }
        }
        for (shape, q) in &self.mats {
            if !q.is_empty() {
                s.mat_triples.insert(*shape, q.len());
            }
        }
        s
    }

    pub fn take(&mut self, r: &Request) -> Result<Material, PrepError> {
        let exhausted = |wanted, available| PrepError::Exhausted { kind: describe(r), wanted, available };
        match (kind(r), *r) {
            (Some(k), _) => {
                let len = r.parts().first().copied().unwrap_or(0);
                let pool = self.pools.get_mut(&k).ok_or_else(|| exhausted(len, 0))?;
                if pool.available() < len {
                    return Err(exhausted(len, pool.available()));
                }
                Ok(pool.take(len))
            }
            (None, Request::MatTriple { m, k, n }) => {
                self.mats.get_mut(&(m, k, n)).and_then(VecDeque::pop_front).ok_or_else(|| exhausted(1, 0))
            }
            (None, _) => Err(exhausted(0, 0)),
        }
    }
}

fn describe(r: &Request) -> String {
    match *r {
        Request::Triples { .. } => "triples".into(),
        Request::Trunc { bits, .. } => format!("truncation pairs (shift {bits})"),
        Request::Random { .. } => "random masks".into(),
        Request::InputMask { owner, .. } => format!("input masks of member {owner}"),
        Request::MatTriple { m, k, n } => format!("matrix triples {m}×{k}·{k}×{n}"),
    }
}
