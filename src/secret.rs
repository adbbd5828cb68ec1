//! The secret key codes are derived under.

use core::fmt;
use rand_core::TryCryptoRng;
use zeroize::Zeroize;

use crate::error::Error;
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
    /// The longest padded base64 text of a secret: [`Secret::MAX_LEN`] bytes' worth.
    const MAX_BASE64_LEN: usize = Self::MAX_LEN.div_ceil(3) * 4;
    /// How many bytes [`Secret::generate`] draws.
    pub const GENERATED_LEN: usize = 32;

    /// Draws a fresh 32-byte secret from the caller's cryptographically secure RNG.
    ///
    /// Keep the bytes ([`Secret::expose_bytes`]) in your secret manager: the same secret
    /// must be loaded again to verify the codes it issued.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] when the generator fails.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut bytes = [0u8; Self::GENERATED_LEN];
        let filled = rng.try_fill_bytes(&mut bytes);
        let secret = filled
            .map_err(|_| Error::Rng)
            .and_then(|()| Self::from_bytes(&bytes));
        bytes.zeroize();
        secret
    }

    /// A secret from stored bytes. The caller should wipe its own copy afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::SecretLength`] when `bytes` is shorter than [`Secret::MIN_LEN`] or longer
    /// than [`Secret::MAX_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(Error::SecretLength);
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

    /// A secret from its hex text (either case; 64 to 512 digits), as secret managers and
    /// `openssl rand -hex 32` give it; one trailing newline or more (a secret file's) is
    /// ignored. Decoded in constant time (`base16ct`): how long it takes does not depend on
    /// the digits. The decoded bytes are wiped before this returns.
    ///
    /// ```
    /// use handover_code::Secret;
    ///
    /// let hex = "42".repeat(32);
    /// assert_eq!(Secret::from_hex(&hex)?.expose_bytes(), &[0x42; 32]);
    /// assert!(Secret::from_hex("not hex").is_err());
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SecretEncoding`] when `text` is not hex (whitespace included), and
    /// [`Error::SecretLength`] when it decodes to too few or too many bytes.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let mut buf = [0u8; Self::MAX_LEN];
        let secret = match base16ct::mixed::decode(text.trim_end_matches('\n'), &mut buf) {
            Ok(bytes) => Self::from_bytes(bytes),
            Err(base16ct::Error::InvalidLength) if text.len() > 2 * Self::MAX_LEN => {
                Err(Error::SecretLength)
            }
            Err(_) => Err(Error::SecretEncoding),
        };
        buf.zeroize();
        secret
    }

    /// A secret from its standard, padded base64 text (RFC 4648, as `openssl rand -base64
    /// 32` gives it); trailing newlines are ignored. Decoded in constant time (`base64ct`).
    /// The decoded bytes are wiped before this returns.
    ///
    /// ```
    /// use handover_code::Secret;
    ///
    /// let secret = Secret::from_base64("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=")?;
    /// assert_eq!(secret.expose_bytes(), &[0x42; 32]);
    /// assert!(Secret::from_base64("QkJC!").is_err());
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SecretEncoding`] when `text` is not padded standard base64, and
    /// [`Error::SecretLength`] when it decodes to too few or too many bytes.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        use base64ct::Encoding;
        let mut buf = [0u8; Self::MAX_LEN];
        let secret = match base64ct::Base64::decode(text.trim_end_matches('\n'), &mut buf) {
            Ok(bytes) => Self::from_bytes(bytes),
            Err(base64ct::Error::InvalidLength) if text.len() > Self::MAX_BASE64_LEN => {
                Err(Error::SecretLength)
            }
            Err(_) => Err(Error::SecretEncoding),
        };
        buf.zeroize();
        secret
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
