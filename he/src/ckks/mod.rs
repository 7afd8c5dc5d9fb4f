//! RNS-CKKS: approximate homomorphic encryption of real vectors.
//!
//! See the crate documentation and `he/README.md` for the presets, their security basis,
//! the measured precision and what is not supported (no bootstrapping).
//!
//! # Example
//! ```
//! use consort_he::ckks::{CkksParams, Decryptor, Encryptor, Evaluator, KeyGenerator};
//! # fn main() -> Result<(), consort_he::ckks::CkksError> {
//! let ctx = CkksParams::insecure_for_tests(11, &[50, 30], 50, 30)?.build()?;
//! let mut keygen = KeyGenerator::new(&ctx)?;
//! let pk = keygen.public_key()?;
//! let rlk = keygen.relin_key()?;
//! let gks = keygen.galois_keys(&[1], false)?;
//! let mut enc = Encryptor::new(&ctx, &pk)?;
//! let dec = Decryptor::new(&ctx, keygen.secret_key())?;
//! let eval = Evaluator::new(&ctx);
//! let x = enc.encrypt_values(&[1.0, 2.0, 3.0])?;
//! let sq = eval.mul_relin_rescale(&x, &x, &rlk)?;
//! let rot = eval.rotate(&sq, 1, &gks)?;
//! let out = dec.decrypt_values(&rot)?;
//! assert!((out[0] - 4.0).abs() < 1e-3 && (out[1] - 9.0).abs() < 1e-3);
//! # Ok(())
//! # }
//! ```

mod batch;
pub mod bench;
mod context;
mod encoder;
mod encrypt;
mod error;
mod eval;
mod keys;
mod keyswitch;
mod linalg;
mod params;
mod ring;
mod rotate;
mod serialize;

pub use batch::{BatchLayout, BatchLinear};
pub use context::CkksContext;
pub use encoder::{Encoder, Plaintext};
pub use encrypt::{Ciphertext, Decryptor, Encryptor};
pub use error::{CkksError, Result};
pub use eval::Evaluator;
pub use keys::{
    GaloisKeys, KeyGenerator, KeySwitchKey, PublicKey, RelinKey, SecretKey, conjugation_element, galois_element,
    power_of_two_steps,
};
pub use linalg::MatVecPlan;
pub use params::{CkksParams, HE_STANDARD_128, Preset};
