//! Errors of the CKKS module.

/// Everything that can go wrong in CKKS: misuse by the caller (levels, scales, slots),
/// missing keys, refused parameters, and malformed encodings received from a peer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CkksError {
    /// The parameter set is below 128-bit security per the HomomorphicEncryption.org table.
    #[error(
        "insecure parameters: log2(QP) = {log_qp:.1} bits exceeds {max_log_qp} bits, the 128-bit bound for N = {n} \
         (HomomorphicEncryption.org standard, ternary secret)"
    )]
    InsecureParameters {
        /// Ring degree.
        n: usize,
        /// Total modulus size including the special prime.
        log_qp: f64,
        /// Largest secure total modulus size for this degree.
        max_log_qp: u32,
    },
    /// The parameter description is not usable (degree, prime sizes, scale).
    #[error("invalid parameters: {reason}")]
    InvalidParameters {
        /// What is wrong.
        reason: &'static str,
    },
    /// Two operands, or an operand and a key, belong to different parameter sets.
    #[error("parameter mismatch: expected parameter set {expected:016x}, found {found:016x}")]
    ParameterMismatch {
        /// Id of the parameter set in use.
        expected: u64,
        /// Id carried by the operand.
        found: u64,
    },
    /// An operand is at a level that the operation cannot use.
    #[error("level mismatch: expected level {expected}, found {found}")]
    LevelMismatch {
        /// The level required.
        expected: usize,
        /// The level found.
        found: usize,
    },
    /// No level is left to rescale or to multiply.
    #[error("no level left: the ciphertext is at level 0")]
    OutOfLevels,
    /// The scales of two operands differ, so adding them would be wrong.
    #[error("scale mismatch: {left} vs {right}")]
    ScaleMismatch {
        /// Scale of the left operand.
        left: f64,
        /// Scale of the right operand.
        right: f64,
    },
    /// The ciphertext has a size (number of polynomials) that the operation does not take.
    #[error("ciphertext size {found} not supported here (expected {expected})")]
    CiphertextSize {
        /// Expected number of polynomials.
        expected: usize,
        /// Number found.
        found: usize,
    },
    /// More values than slots.
    #[error("{len} values do not fit in {slots} slots")]
    SlotsOverflow {
        /// Number of values given.
        len: usize,
        /// Number of slots (N/2).
        slots: usize,
    },
    /// A value times the scale does not fit in the modulus or is not finite.
    #[error("value {value} times scale {scale} cannot be encoded")]
    ValueOutOfRange {
        /// Offending value.
        value: f64,
        /// Scale used.
        scale: f64,
    },
    /// No Galois key for this rotation step.
    #[error("missing Galois key for rotation step {step} (Galois element {galois_element})")]
    MissingGaloisKey {
        /// Rotation step (0 for conjugation).
        step: i64,
        /// Galois element X -> X^g.
        galois_element: usize,
    },
    /// A matrix or vector has the wrong shape.
    #[error("dimension mismatch: {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// Which dimension.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// A serialized object is malformed.
    #[error("malformed encoding: {what}")]
    Malformed {
        /// What is wrong with it.
        what: &'static str,
    },
    /// The operating system random generator failed.
    #[error("OS randomness unavailable: {0}")]
    Randomness(String),
    /// fhe-math refused an operation (should not happen with validated parameters).
    #[error("arithmetic backend: {0}")]
    Backend(String),
}

/// Result alias of the CKKS module.
pub type Result<T> = std::result::Result<T, CkksError>;
