//! Errors of the Paillier module.

/// Everything that can go wrong with Paillier and threshold Paillier: refused parameters,
/// local misuse, malformed or out-of-group values received from a peer, and a peer's wrong
/// partial decryption (named by its party index).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PaillierError {
    /// The modulus is smaller than the secure minimum.
    #[error("key too small: n has {bits} bits, at least {min} are required")]
    KeyTooSmall {
        /// Bits of n asked for or found.
        bits: u32,
        /// Smallest accepted size.
        min: u32,
    },
    /// Primes or key material that do not form a valid key.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A plaintext is not in [0, n).
    #[error("plaintext out of range: it must be below the modulus n ({bits} bits)")]
    PlaintextOutOfRange {
        /// Bits of n.
        bits: u32,
    },
    /// A ciphertext has the wrong encoded length.
    #[error("invalid ciphertext: expected {expected} bytes, found {found}")]
    CiphertextLength {
        /// ciphertext_len() of the key.
        expected: usize,
        /// Length received.
        found: usize,
    },
    /// A ciphertext is not in Z*_{n²}.
    #[error("invalid ciphertext: {reason}")]
    InvalidCiphertext {
        /// Which check failed.
        reason: &'static str,
    },
    /// A value to pack is outside [-max, max] or is not finite.
    #[error("value {value} at index {index} is out of range: packing accepts finite values in [-{max}, {max}]")]
    OutOfRange {
        /// Position of the value in the input.
        index: usize,
        /// The value.
        value: f64,
        /// The packing bound max_abs.
        max: f64,
    },
    /// A packing specification that cannot be used with this key.
    #[error("invalid packing specification: {reason}")]
    InvalidPackingSpec {
        /// What is wrong.
        reason: &'static str,
    },
    /// More summands than the packing was sized for (a slot could overflow).
    #[error("{summands} summands exceed the {max} the packing was sized for")]
    TooManySummands {
        /// Summands asked for.
        summands: u32,
        /// max_summands of the spec.
        max: u32,
    },
    /// A decoded slot is outside what `summands` packed values can produce.
    #[error("slot {index} holds a value that {summands} packed summands cannot produce")]
    SlotOverflow {
        /// Value index.
        index: usize,
        /// Summands given to unpack.
        summands: u32,
    },
    /// Two inputs that must have the same length do not.
    #[error("length mismatch: {what}: expected {expected}, found {found}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// Threshold parameters that cannot be used (need 1 <= T <= N).
    #[error("invalid threshold: {threshold} of {parties} parties")]
    InvalidThreshold {
        /// N.
        parties: u32,
        /// T.
        threshold: u32,
    },
    /// A party's partial decryption is malformed or its proof does not verify.
    #[error("invalid partial decryption from party {party}: {reason}")]
    InvalidPartial {
        /// 0-based index of the party at fault.
        party: u32,
        /// Which check failed.
        reason: &'static str,
    },
    /// Fewer valid, distinct partial decryptions than the threshold.
    #[error("not enough partial decryptions: have {have} valid, need {need}")]
    NotEnoughPartials {
        /// Valid distinct partials available.
        have: usize,
        /// Threshold T.
        need: usize,
    },
    /// A key share that is malformed or does not belong to this key.
    #[error("invalid key share: {reason}")]
    InvalidShare {
        /// What is wrong.
        reason: &'static str,
    },
    /// A serialized key or share could not be parsed.
    #[error("malformed encoding of {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Parser message.
        reason: String,
    },
    /// A rayon thread pool could not be built (benchmarks).
    #[error("thread pool: {0}")]
    ThreadPool(String),
    /// A self-check of the benchmark failed (the decrypted sum is wrong).
    #[error("self-check failed: {0}")]
    SelfCheck(&'static str),
    /// The operating system random generator failed.
    #[error("OS randomness unavailable: {0}")]
    Randomness(String),
}

/// Result alias of the Paillier module.
pub type Result<T> = std::result::Result<T, PaillierError>;
