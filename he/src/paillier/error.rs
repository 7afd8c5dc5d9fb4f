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
    /// A signed packing slot width outside the accepted range.
    #[error("signed packing: a slot of {slot_bits} bits is outside the accepted {min}..={max} bits")]
    SlotWidthOutOfRange {
        /// Bits per slot asked for.
        slot_bits: u32,
        /// Narrowest accepted slot.
        min: u32,
        /// Widest accepted slot.
        max: u32,
    },
    /// A signed packing that does not fit the plaintext space of the key.
    #[error(
        "signed packing: {slots} slots of {slot_bits} bits need {needed} plaintext bits \
         (slots × slot bits + 2) but the modulus has {modulus_bits} bits"
    )]
    PackingTooLarge {
        /// Slots asked for.
        slots: usize,
        /// Bits per slot.
        slot_bits: u32,
        /// slots·slot_bits + 2.
        needed: u64,
        /// Bits of n.
        modulus_bits: u32,
    },
    /// More values or slots than a signed packing has.
    #[error("signed packing: {found} {what} but the packing has {slots} slots")]
    TooManySlots {
        /// "values to pack" or "slots to unpack".
        what: &'static str,
        /// Number asked for.
        found: usize,
        /// Slots of the packing.
        slots: usize,
    },
    /// An integer to pack does not fit a signed slot.
    #[error(
        "signed packing: value {value} at index {index} is out of range: {slot_bits}-bit slots hold [-{max}, {max}]"
    )]
    SlotValueOutOfRange {
        /// Position of the value in the input.
        index: usize,
        /// The value.
        value: i128,
        /// Bits per slot.
        slot_bits: u32,
        /// 2^{slot_bits−1} − 1.
        max: i128,
    },
    /// A decoded signed slot is −2^{slot_bits−1}: a result slot left its range.
    #[error("signed packing: slot overflow detected on unpack: slot {index} reached -2^({slot_bits}-1)")]
    SignedSlotOverflow {
        /// The slot.
        index: usize,
        /// Bits per slot.
        slot_bits: u32,
    },
    /// The decoded value does not end after the unpacked slots: a slot (or the whole
    /// packing) left its range.
    #[error(
        "signed packing: slot overflow detected on unpack: nonzero data above the {count} unpacked \
         {slot_bits}-bit slots"
    )]
    SignedPackingOverflow {
        /// Slots unpacked.
        count: usize,
        /// Bits per slot.
        slot_bits: u32,
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
