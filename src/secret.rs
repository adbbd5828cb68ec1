//! The secret key codes are derived under.

use core::fmt;
use rand_core::TryCryptoRng;
use zeroize::Zeroize;

use crate::invalid::Invalid;
use crate::mac::KeyedMac;

/// A key for deriving codes: 32 to 256 bytes, wiped on drop, never printed.
///
/// The keyed HMAC-SHA256 state is built once, when the secret is made, so each code costs
/// two SHA-256 compressions; it is wiped with the key. Keys longer than 64 bytes are hashed
/// first, as HMAC specifies, so they buy nothing over 64 random bytes.
///
/// Whoever holds the secret can compute every code: keep it in the issuing service (and the
/// SMS sender, if that derives codes too), never on a verifier's device.
///
/// ```
/// use handover_code::Secret;
///
/// let secret = Secret::from_bytes(&[0x42; 32])?;
/// assert_eq!(format!("{secret:?}"), "Secret([REDACTED])");
/// assert!(Secret::from_bytes(b"too short").is_err());
/// # Ok::<(), handover_code::Error>(())
/// ```
pub struct Secret {
    bytes: [u8; Secret::MAX_LEN],
    len: usize,
    mac: KeyedMac,
}

impl Secret {
    /// The fewest bytes a secret may have: 256 bits.
    pub const MIN_LEN: usize = 32;
    /// The most bytes a secret may have.
    pub const MAX_LEN: usize = 256;
    /// How many bytes [`Secret::generate`] draws.
    pub const GENERATED_LEN: usize = 32;

    /// Draws a fresh 32-byte secret from the caller's cryptographically secure RNG.
    ///
    /// Keep the bytes ([`Secret::expose_bytes`]) in your secret manager: the same secret
    /// must be loaded again to verify the codes it issued.
    ///
    /// # Errors
    ///
    /// [`Invalid::Rng`] when the generator fails.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Invalid> {
        let mut bytes = [0u8; Self::GENERATED_LEN];
        let filled = rng.try_fill_bytes(&mut bytes);
        let secret = filled
            .map_err(|_| Invalid::Rng)
            .and_then(|()| Self::from_bytes(&bytes));
        bytes.zeroize();
        secret
    }

    /// A secret from stored bytes. The caller should wipe its own copy afterwards.
    ///
    /// # Errors
    ///
    /// [`Invalid::SecretLength`] when `bytes` is shorter than [`Secret::MIN_LEN`] or longer
    /// than [`Secret::MAX_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Invalid> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(Invalid::SecretLength);
        }
        let mut stored = [0u8; Self::MAX_LEN];
        for (s, b) in stored.iter_mut().zip(bytes) {
            *s = *b;
        }
        Ok(Self {
            bytes: stored,
            len: bytes.len(),
            mac: KeyedMac::new(bytes),
        })
    }

    /// The secret's bytes, to save in a secret manager. Never log them.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The first 8 bytes of HMAC-SHA256 of `msg` under this secret, from the precomputed
    /// keyed state.
    pub(crate) fn mac_head(&self, msg: &[u8]) -> u64 {
        self.mac.head(msg)
    }

    /// [`Secret::mac_head`] of a one-block message sealed in `block` ([`crate::mac::seal`]).
    pub(crate) fn mac_head_of_block(&self, block: &[u8; 64]) -> u64 {
        self.mac.head_of_block(block)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
        self.len = 0;
        // `KeyedMac` wipes its own midstates when it drops, right after this.
    }
}
