//! Secrets and keyrings: lengths, generation from a caller's RNG, rotation.

use core::convert::Infallible;

use handover_code::derive::derive;
use handover_code::{BookingId, Context, Digits, Error, KeyId, Keyring, Secret};
use rand_core::{TryCryptoRng, TryRng};

/// A deterministic stand-in for a CSPRNG: counts up. Only for tests.
struct Counting(u8);

impl TryRng for Counting {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from(self.next()))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from(self.next()))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.iter_mut().for_each(|b| *b = self.next());
        Ok(())
    }
}
impl TryCryptoRng for Counting {}
impl Counting {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// An entropy source that has failed.
struct Broken;

#[derive(Debug)]
struct Unavailable;
impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("entropy source unavailable")
    }
}
impl core::error::Error for Unavailable {}

impl TryRng for Broken {
    type Error = Unavailable;
    fn try_next_u32(&mut self) -> Result<u32, Unavailable> {
        Err(Unavailable)
    }
    fn try_next_u64(&mut self) -> Result<u64, Unavailable> {
        Err(Unavailable)
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Unavailable> {
        Err(Unavailable)
    }
}
impl TryCryptoRng for Broken {}

#[test]
fn generate_draws_32_bytes_from_the_callers_rng() {
    let secret = Secret::generate(&mut Counting(0)).unwrap();
    let want: Vec<u8> = (1..=32).collect();
    assert_eq!(secret.expose_bytes(), want.as_slice());
    // The exported bytes load back into a secret that derives the same codes.
    let again = Secret::from_bytes(secret.expose_bytes()).unwrap();
    let (ctx, id) = (Context::new("c").unwrap(), BookingId::new("b").unwrap());
    assert_eq!(
        derive(&secret, ctx, id, 0, Digits::Six),
        derive(&again, ctx, id, 0, Digits::Six)
    );
}

#[test]
fn a_failing_rng_is_an_error_not_a_weak_key() {
    assert!(matches!(Secret::generate(&mut Broken), Err(Error::Rng)));
}

#[test]
fn secret_lengths_are_checked() {
    for len in [0, 1, 31, 257, 1000] {
        assert!(
            matches!(Secret::from_bytes(&vec![7; len]), Err(Error::SecretLength)),
            "{len}"
        );
    }
    for len in [32, 64, 65, 256] {
        assert_eq!(
            Secret::from_bytes(&vec![7; len])
                .unwrap()
                .expose_bytes()
                .len(),
            len
        );
    }
}

#[test]
fn field_lengths_are_checked() {
    assert!(matches!(Context::new(""), Err(Error::ContextLength)));
    assert!(matches!(
        Context::new(&[0u8; 65]),
        Err(Error::ContextLength)
    ));
    assert!(Context::new(&[0u8; 64]).is_ok());
    assert!(matches!(BookingId::new(""), Err(Error::BookingIdLength)));
    assert!(matches!(
        BookingId::new(&[0u8; 129]),
        Err(Error::BookingIdLength)
    ));
    assert!(BookingId::new(&[0u8; 128]).is_ok());
}

fn key(byte: u8) -> Secret {
    Secret::from_bytes(&[byte; 32]).unwrap()
}

#[test]
fn keyring_rotation() {
    let mut keys: Keyring = Keyring::new(KeyId(1), key(1));
    assert!(matches!(
        keys.insert(KeyId(1), key(9)),
        Err(Error::DuplicateKey)
    ));
    keys.insert(KeyId(2), key(2)).unwrap();
    keys.insert(KeyId(3), key(3)).unwrap();
    keys.insert(KeyId(4), key(4)).unwrap();
    assert_eq!(Keyring::CAPACITY, 4);
    assert!(matches!(
        keys.insert(KeyId(5), key(5)),
        Err(Error::KeyringFull)
    ));
    keys.remove(KeyId(4)).unwrap();
    assert!(matches!(keys.set_current(KeyId(9)), Err(Error::UnknownKey)));

    keys.set_current(KeyId(2)).unwrap();
    assert_eq!(keys.current().0, KeyId(2));
    assert_eq!(keys.current().1.expose_bytes(), &[2; 32]);
    // The old current key is still held, under its own id.
    assert_eq!(keys.get(KeyId(1)).unwrap().expose_bytes(), &[1; 32]);
    assert_eq!(
        keys.ids().collect::<Vec<_>>(),
        [KeyId(2), KeyId(1), KeyId(3)]
    );

    assert!(matches!(keys.remove(KeyId(2)), Err(Error::CurrentKey)));
    assert_eq!(keys.remove(KeyId(1)).unwrap().expose_bytes(), &[1; 32]);
    assert!(matches!(keys.remove(KeyId(1)), Err(Error::UnknownKey)));
    keys.insert(KeyId(4), key(4)).unwrap();
}

/// Secrets load from the text secret managers and `openssl rand` give: hex in either case
/// and padded base64, a trailing newline ignored; other text, or text of the wrong length,
/// is refused with a clear error and no secret.
#[test]
fn secrets_load_from_hex_and_base64_text() {
    let bytes: Vec<u8> = (0u8..48).collect();
    let lower: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    for text in [lower.clone(), lower.to_uppercase(), format!("{lower}\n")] {
        assert_eq!(Secret::from_hex(&text).unwrap().expose_bytes(), &bytes[..]);
    }
    // 48 bytes in base64, as `openssl rand -base64 48` prints them.
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v";
    for text in [b64.to_owned(), format!("{b64}\n")] {
        assert_eq!(
            Secret::from_base64(&text).unwrap().expose_bytes(),
            &bytes[..]
        );
    }
    let refused = |r: Result<Secret, Error>| r.err().map(|e| e.to_string());
    assert_eq!(
        refused(Secret::from_hex("zz".repeat(32).as_str())),
        Some(Error::SecretEncoding.to_string())
    );
    assert_eq!(
        refused(Secret::from_hex(&lower[1..])),
        Some(Error::SecretEncoding.to_string())
    );
    assert_eq!(
        refused(Secret::from_hex(&format!(" {lower}"))),
        Some(Error::SecretEncoding.to_string())
    );
    assert_eq!(
        refused(Secret::from_hex(&lower[..62])),
        Some(Error::SecretLength.to_string())
    );
    assert_eq!(
        refused(Secret::from_hex(&"ab".repeat(257))),
        Some(Error::SecretLength.to_string())
    );
    assert_eq!(
        refused(Secret::from_base64("AAEC!wQF")),
        Some(Error::SecretEncoding.to_string())
    );
    assert_eq!(
        refused(Secret::from_base64(&b64[..63])),
        Some(Error::SecretEncoding.to_string())
    );
    assert_eq!(
        refused(Secret::from_base64("AAECAwQFBgcI")),
        Some(Error::SecretLength.to_string())
    );
    assert_eq!(
        refused(Secret::from_base64(&"QUFB".repeat(100))),
        Some(Error::SecretLength.to_string())
    );
}
