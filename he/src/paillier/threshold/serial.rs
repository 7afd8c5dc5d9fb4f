//! Serde (JSON with hex strings) of threshold public keys and key shares, validated on load.

use crypto_bigint::BoxedUint;
use num_bigint::BigUint;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::deal::check_threshold;
use super::{KeyShare, ThresholdPublicKey, factorial};
use crate::paillier::bigint::{precision, to_fixed_bytes};
use crate::paillier::error::{PaillierError, Result};
use crate::paillier::keys::PublicKey;

#[derive(Serialize, Deserialize)]
struct TpkWire {
    public_key: PublicKey,
    parties: u32,
    threshold: u32,
    v: String,
    verification_keys: Vec<String>,
}

fn decode_hex(what: &'static str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s).map_err(|e| PaillierError::Decode { what, reason: e.to_string() })
}

impl ThresholdPublicKey {
    fn from_wire(w: TpkWire) -> Result<Self> {
        check_threshold(w.parties, w.threshold)?;
        if w.verification_keys.len() != w.parties as usize {
            return Err(PaillierError::LengthMismatch {
                what: "verification keys",
                expected: w.parties as usize,
                found: w.verification_keys.len(),
            });
        }
        let unit = |s: &str| -> Result<BigUint> {
            let x = BigUint::from_bytes_be(&decode_hex("threshold public key", s)?);
            w.public_key
                .check_unit(&x)
                .map_err(|_| PaillierError::InvalidKey { reason: "a verification key is not in Z*_{n^2}" })?;
            Ok(x)
        };
        let v = unit(&w.v)?;
        let vks = w.verification_keys.iter().map(|s| unit(s)).collect::<Result<Vec<_>>>()?;
        Ok(Self { delta: factorial(w.parties), pk: w.public_key, parties: w.parties, threshold: w.threshold, v, vks })
    }

    /// JSON encoding (hex big-endian integers).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and validates (1 ≤ T ≤ N, N verification keys, all in Z*_{n²}).
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| PaillierError::Decode { what: "threshold public key", reason: e.to_string() })
    }
}

impl Serialize for ThresholdPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let len = self.pk.ciphertext_len();
        TpkWire {
            public_key: self.pk.clone(),
            parties: self.parties,
            threshold: self.threshold,
            v: hex::encode(to_fixed_bytes(&self.v, len)),
            verification_keys: self.vks.iter().map(|x| hex::encode(to_fixed_bytes(x, len))).collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ThresholdPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::from_wire(TpkWire::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct ShareWire {
    index: u32,
    parties: u32,
    threshold: u32,
    n: String,
    share: String,
}

impl KeyShare {
    fn to_wire(&self) -> ShareWire {
        let len = usize::try_from(self.secret.bits_precision() / 8).unwrap_or(0);
        let bytes = Zeroizing::new(self.secret.to_be_bytes());
        let start = bytes.len().saturating_sub(len);
        ShareWire {
            index: self.index,
            parties: self.parties,
            threshold: self.threshold,
            n: hex::encode(self.n.to_bytes_be()),
            share: hex::encode(bytes.get(start..).unwrap_or(&[])),
        }
    }

    fn from_wire(w: &ShareWire) -> Result<Self> {
        check_threshold(w.parties, w.threshold)?;
        if w.index >= w.parties {
            return Err(PaillierError::InvalidShare { reason: "share index out of range" });
        }
        let n = BigUint::from_bytes_be(&decode_hex("key share", &w.n)?);
        // Validates n (size, odd).
        PublicKey::from_modulus(n.clone())?;
        let prec = precision(2 * n.bits());
        let bytes = Zeroizing::new(decode_hex("key share", &w.share)?);
        let secret = BoxedUint::from_be_slice(&bytes, prec)
            .map_err(|_| PaillierError::InvalidShare { reason: "the share is larger than n^2" })?;
        if u64::from(secret.bits()) > 2 * n.bits() {
            return Err(PaillierError::InvalidShare { reason: "the share is larger than n^2" });
        }
        Ok(Self { index: w.index, parties: w.parties, threshold: w.threshold, n, secret })
    }

    /// JSON encoding, secret included (hex). The returned string holds the secret: write it
    /// to a 0600 file and zeroize it.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string_pretty(&self.to_wire()).unwrap_or_default())
    }

    /// Parses and validates (1 ≤ T ≤ N, index < N, n valid, share below n²).
    pub fn from_json(json: &str) -> Result<Self> {
        let w: ShareWire = serde_json::from_str(json)
            .map_err(|e| PaillierError::Decode { what: "key share", reason: e.to_string() })?;
        Self::from_wire(&w)
    }
}

impl Serialize for KeyShare {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for KeyShare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let w = ShareWire::deserialize(d)?;
        Self::from_wire(&w).map_err(serde::de::Error::custom)
    }
}
