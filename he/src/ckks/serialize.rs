//! Compact binary encodings of ciphertexts, plaintexts, public and evaluation keys.
//!
//! Layout: a 24-byte header — magic `CKK1`, kind, reserved byte (0), level, count,
//! parameter-set id (u64 LE), scale (f64 LE) — then the body. Each RNS limb is bit-packed
//! at the width of its prime (fhe-math's `serialize_vec`), so a 40-bit limb costs 5 bytes
//! per coefficient. Keys store a 32-byte seed instead of their uniform `a` components.
//!
//! Decoding never panics: it checks the magic, kind, parameter id, level, counts, exact
//! lengths, that every coefficient is below its modulus, and that Galois elements are odd
//! and below 2N.

use std::collections::BTreeMap;

use super::context::{Basis, CkksContext};
use super::encoder::Plaintext;
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::keys::{GaloisKeys, KeySwitchKey, PublicKey, RelinKey, expand_a};
use super::ring::RnsPoly;

const MAGIC: &[u8; 4] = b"CKK1";
const HEADER: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Ciphertext = 1,
    Plaintext = 2,
    PublicKey = 3,
    RelinKey = 4,
    GaloisKeys = 5,
}

struct Header {
    level: usize,
    count: usize,
    scale: f64,
}

fn write_header(out: &mut Vec<u8>, kind: Kind, level: usize, count: usize, id: u64, scale: f64) {
    out.extend_from_slice(MAGIC);
    out.push(kind as u8);
    out.push(0);
    out.push(u8::try_from(level).unwrap_or(u8::MAX));
    out.push(u8::try_from(count).unwrap_or(u8::MAX));
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&scale.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.bytes.len() < len {
            return Err(CkksError::Malformed { what });
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const K: usize>(&mut self, what: &'static str) -> Result<[u8; K]> {
        let mut a = [0u8; K];
        a.copy_from_slice(self.take(K, what)?);
        Ok(a)
    }

    fn header(&mut self, ctx: &CkksContext, kind: Kind) -> Result<Header> {
        if self.take(4, "truncated header")? != MAGIC {
            return Err(CkksError::Malformed { what: "bad magic" });
        }
        let [k, reserved, level, count] = self.array::<4>("truncated header")?;
        if k != kind as u8 {
            return Err(CkksError::Malformed { what: "wrong object kind" });
        }
        if reserved != 0 {
            return Err(CkksError::Malformed { what: "reserved byte set" });
        }
        let id = u64::from_le_bytes(self.array::<8>("truncated header")?);
        if id != ctx.id {
            return Err(CkksError::ParameterMismatch { expected: ctx.id, found: id });
        }
        let scale = f64::from_le_bytes(self.array::<8>("truncated header")?);
        let level = usize::from(level);
        ctx.check_level(level)?;
        Ok(Header { level, count: usize::from(count), scale })
    }

    fn poly(&mut self, n: usize, b: Basis<'_>) -> Result<RnsPoly> {
        let mut data = Vec::with_capacity(n * b.mods.len());
        for m in b.mods {
            let bytes = self.take(m.serialization_length(n), "truncated polynomial")?;
            let limb = m.deserialize_vec(bytes);
            if limb.len() != n || limb.iter().any(|&c| c >= **m) {
                return Err(CkksError::Malformed { what: "coefficient not reduced modulo its prime" });
            }
            data.extend(limb);
        }
        Ok(RnsPoly { data, n })
    }

    fn finish(&self) -> Result<()> {
        if self.bytes.is_empty() { Ok(()) } else { Err(CkksError::Malformed { what: "trailing bytes" }) }
    }
}

fn write_poly(out: &mut Vec<u8>, p: &RnsPoly, b: Basis<'_>) {
    for (limb, m) in p.data.chunks(p.n).zip(b.mods) {
        out.extend(m.serialize_vec(limb));
    }
}

fn check_scale(scale: f64) -> Result<f64> {
    if scale.is_finite() && scale >= 1.0 { Ok(scale) } else { Err(CkksError::Malformed { what: "invalid scale" }) }
}

impl Ciphertext {
    /// Compact encoding.
    pub fn to_bytes(&self, ctx: &CkksContext) -> Result<Vec<u8>> {
        let b = ctx.basis_q(self.level)?;
        let mut out = Vec::with_capacity(HEADER + self.polys.len() * self.level.saturating_add(1) * ctx.n * 8);
        write_header(&mut out, Kind::Ciphertext, self.level, self.polys.len(), self.params_id, self.scale);
        self.polys.iter().for_each(|p| write_poly(&mut out, p, b));
        Ok(out)
    }

    /// Decode and validate against `ctx`.
    pub fn from_bytes(ctx: &CkksContext, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes };
        let h = r.header(ctx, Kind::Ciphertext)?;
        if !(2..=3).contains(&h.count) {
            return Err(CkksError::Malformed { what: "ciphertext must have 2 or 3 polynomials" });
        }
        let b = ctx.basis_q(h.level)?;
        let polys = (0..h.count).map(|_| r.poly(ctx.n, b)).collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(Self { polys, level: h.level, scale: check_scale(h.scale)?, params_id: ctx.id })
    }
}

impl Plaintext {
    /// Compact encoding.
    pub fn to_bytes(&self, ctx: &CkksContext) -> Result<Vec<u8>> {
        let b = ctx.basis_q(self.level)?;
        let mut out = Vec::new();
        write_header(&mut out, Kind::Plaintext, self.level, 1, self.params_id, self.scale);
        write_poly(&mut out, &self.poly, b);
        Ok(out)
    }

    /// Decode and validate against `ctx`.
    pub fn from_bytes(ctx: &CkksContext, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes };
        let h = r.header(ctx, Kind::Plaintext)?;
        if h.count != 1 {
            return Err(CkksError::Malformed { what: "plaintext must have 1 polynomial" });
        }
        let poly = r.poly(ctx.n, ctx.basis_q(h.level)?)?;
        r.finish()?;
        Ok(Self { poly, level: h.level, scale: check_scale(h.scale)?, params_id: ctx.id })
    }
}

impl PublicKey {
    /// Compact encoding (b and the seed of a).
    pub fn to_bytes(&self, ctx: &CkksContext) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_header(&mut out, Kind::PublicKey, ctx.max_level(), 1, self.params_id, 0.0);
        out.extend_from_slice(&self.seed);
        write_poly(&mut out, &self.b, ctx.basis_q(ctx.max_level())?);
        Ok(out)
    }

    /// Decode and validate against `ctx`; `a` is regenerated from the seed.
    pub fn from_bytes(ctx: &CkksContext, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes };
        let h = r.header(ctx, Kind::PublicKey)?;
        if h.level != ctx.max_level() || h.count != 1 {
            return Err(CkksError::Malformed { what: "public key must be at the top level" });
        }
        let seed = r.array::<32>("truncated seed")?;
        let b = r.poly(ctx.n, ctx.basis_q(ctx.max_level())?)?;
        r.finish()?;
        let a = expand_a(ctx, &seed, 1, false)?.pop().ok_or(CkksError::Malformed { what: "seed" })?;
        Ok(Self { b, a, seed, params_id: ctx.id })
    }
}

fn write_switch_key(out: &mut Vec<u8>, key: &KeySwitchKey, ctx: &CkksContext) -> Result<()> {
    out.extend_from_slice(&key.seed);
    let b = ctx.basis_qp(ctx.max_level())?;
    key.b.iter().for_each(|p| write_poly(out, p, b));
    Ok(())
}

fn read_switch_key(r: &mut Reader<'_>, ctx: &CkksContext) -> Result<KeySwitchKey> {
    let digits = ctx.max_level() + 1;
    let seed = r.array::<32>("truncated seed")?;
    let basis = ctx.basis_qp(ctx.max_level())?;
    let b = (0..digits).map(|_| r.poly(ctx.n, basis)).collect::<Result<Vec<_>>>()?;
    let a = expand_a(ctx, &seed, digits, true)?;
    Ok(KeySwitchKey { b, a, seed, params_id: ctx.id })
}

impl RelinKey {
    /// Compact encoding (b digits and the seed of the a digits).
    pub fn to_bytes(&self, ctx: &CkksContext) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_header(&mut out, Kind::RelinKey, ctx.max_level(), self.0.b.len(), self.0.params_id, 0.0);
        write_switch_key(&mut out, &self.0, ctx)?;
        Ok(out)
    }

    /// Decode and validate against `ctx`.
    pub fn from_bytes(ctx: &CkksContext, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes };
        let h = r.header(ctx, Kind::RelinKey)?;
        if h.level != ctx.max_level() || h.count != ctx.max_level() + 1 {
            return Err(CkksError::Malformed { what: "relinearization key shape" });
        }
        let key = read_switch_key(&mut r, ctx)?;
        r.finish()?;
        Ok(Self(key))
    }
}

impl GaloisKeys {
    /// Compact encoding: count (u32 LE), then per key its Galois element (u32 LE), seed and b digits.
    pub fn to_bytes(&self, ctx: &CkksContext) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_header(&mut out, Kind::GaloisKeys, ctx.max_level(), ctx.max_level() + 1, self.params_id, 0.0);
        out.extend_from_slice(&u32::try_from(self.keys.len()).unwrap_or(u32::MAX).to_le_bytes());
        for (g, key) in &self.keys {
            out.extend_from_slice(&u32::try_from(*g).unwrap_or(u32::MAX).to_le_bytes());
            write_switch_key(&mut out, key, ctx)?;
        }
        Ok(out)
    }

    /// Decode and validate against `ctx`.
    pub fn from_bytes(ctx: &CkksContext, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes };
        let h = r.header(ctx, Kind::GaloisKeys)?;
        if h.level != ctx.max_level() || h.count != ctx.max_level() + 1 {
            return Err(CkksError::Malformed { what: "Galois key shape" });
        }
        let count = u32::from_le_bytes(r.array::<4>("truncated key count")?) as usize;
        if count > ctx.n {
            return Err(CkksError::Malformed { what: "too many Galois keys" });
        }
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let g = u32::from_le_bytes(r.array::<4>("truncated Galois element")?) as usize;
            if g.is_multiple_of(2) || g >= 2 * ctx.n || g == 1 {
                return Err(CkksError::Malformed { what: "invalid Galois element" });
            }
            let key = read_switch_key(&mut r, ctx)?;
            if keys.insert(g, key).is_some() {
                return Err(CkksError::Malformed { what: "duplicate Galois element" });
            }
        }
        r.finish()?;
        Ok(Self { keys, params_id: ctx.id })
    }
}
