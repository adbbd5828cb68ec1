//! HMAC-SHA256 from precomputed midstates.
//!
//! HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)). Both padded keys are exactly one
//! SHA-256 block, so their compressions depend on the key alone. [`KeyedMac`] runs them once,
//! keeps the two 8-word midstates, and finishes each MAC from there: a message of at most
//! 55 bytes costs one compression for the inner hash and one for the outer, two in all.
//!
//! The midstates are the key's working form and are wiped on drop like the key itself.
//! Every secret-derived temporary (the inner digest, the outer block, the outer state) is
//! wiped before its function returns. Wipes go through slices: `zeroize` clears a slice
//! with one fill and a compiler barrier, an array element by element with volatile writes.

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// SHA-256 block size in bytes.
const BLOCK: usize = 64;
/// The SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The keyed HMAC-SHA256 state: the midstates after the inner and outer padded key blocks.
pub(crate) struct KeyedMac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl KeyedMac {
    /// Builds the keyed state. Keys longer than one block are hashed first (RFC 2104).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut hashed: [u8; 32] = Sha256::digest(key).into();
            copy_prefix(&mut block, &hashed);
            hashed.as_mut_slice().zeroize();
        } else {
            copy_prefix(&mut block, key);
        }
        let inner = midstate(&block, 0x36);
        let outer = midstate(&block, 0x5c);
        block.as_mut_slice().zeroize();
        Self { inner, outer }
    }

    /// The first 8 bytes of HMAC-SHA256 of `msg` under this key, big-endian: what a code
    /// is reduced from.
    pub(crate) fn head(&self, msg: &[u8]) -> u64 {
        let mut inner = self.inner;
        finish(&mut inner, msg);
        self.outer_head(&mut inner)
    }

    /// [`KeyedMac::head`] of a message of at most [`ONE_BLOCK`] bytes already padded in
    /// `block` by [`seal`]: one inner compression, one outer, nothing copied.
    pub(crate) fn head_of_block(&self, block: &[u8; BLOCK]) -> u64 {
        let mut inner = self.inner;
        compress256(&mut inner, core::slice::from_ref(block));
        self.outer_head(&mut inner)
    }

    /// HMAC-SHA256 of `msg` under this key, all 32 bytes (the tests check it against the
    /// reference implementation; codes need only [`KeyedMac::head`]).
    #[cfg(test)]
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut inner = self.inner;
        finish(&mut inner, msg);
        let state = self.outer(&mut inner);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(&state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// The outer hash over the inner digest in `inner`, which is wiped, as is the block
    /// that carried it (both are secret-derived). Answers the outer state: the MAC's words.
    fn outer(&self, inner: &mut [u32; 8]) -> [u32; 8] {
        let mut block = OUTER_TAIL;
        for (chunk, word) in block.chunks_exact_mut(4).zip(inner.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        inner.as_mut_slice().zeroize();
        let mut state = self.outer;
        compress256(&mut state, core::slice::from_ref(&block));
        if let Some(digest) = block.get_mut(..32) {
            digest.zeroize();
        }
        state
    }

    /// The first two words of the MAC, as one big-endian `u64`; the rest is wiped.
    fn outer_head(&self, inner: &mut [u32; 8]) -> u64 {
        let mut state = self.outer(inner);
        let [first, second, ..] = state;
        state.as_mut_slice().zeroize();
        (u64::from(first) << 32) | u64::from(second)
    }
}

/// The longest message [`KeyedMac::head_of_block`] takes: one block less the marker byte
/// and the 8-byte length.
pub(crate) const ONE_BLOCK: usize = BLOCK - 9;

/// Pads the message in the first `len` bytes of `block` (the rest zero), of at most
/// [`ONE_BLOCK`] bytes, as SHA-256 pads the last block of the inner hash (whose first block
/// is the key's).
pub(crate) fn seal(block: &mut [u8; BLOCK], len: usize) {
    if let Some(marker) = block.get_mut(len) {
        *marker = 0x80;
    }
    copy_suffix(block, &bit_length(len.saturating_add(BLOCK)).to_be_bytes());
}

/// The outer hash's one block, but for the 32-byte inner digest in front: the padding
/// marker and the length of the outer message (the key block and the digest, 768 bits).
const OUTER_TAIL: [u8; BLOCK] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x00,
];

impl Drop for KeyedMac {
    fn drop(&mut self) {
        self.inner.as_mut_slice().zeroize();
        self.outer.as_mut_slice().zeroize();
    }
}

/// Copies `src` to the start of `dst`, as far as `dst` reaches.
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// The SHA-256 state after compressing one block: the padded key XOR `pad`.
fn midstate(key_block: &[u8; BLOCK], pad: u8) -> [u32; 8] {
    let mut padded = [0u8; BLOCK];
    for (p, k) in padded.iter_mut().zip(key_block) {
        *p = k ^ pad;
    }
    let mut state = IV;
    compress256(&mut state, core::slice::from_ref(&padded));
    padded.as_mut_slice().zeroize();
    state
}

/// Copies `src` to the end of `dst`.
fn copy_suffix(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().rev().zip(src.iter().rev()) {
        *d = *s;
    }
}

/// SHA-256's length field for a message of `bytes` bytes. Slices are shorter than 2^61
/// bytes on every target; saturating keeps this panic-free all the same.
fn bit_length(bytes: usize) -> u64 {
    (bytes as u64).saturating_mul(8)
}

/// Completes the inner SHA-256, whose first block (the padded key) is already in `state`:
/// compresses `msg` and the final padding, leaving the digest's words in `state`. The tail
/// buffer holds only message bytes, which are public, so it is not wiped.
fn finish(state: &mut [u32; 8], msg: &[u8]) {
    let (blocks, rest) = msg.as_chunks::<BLOCK>();
    compress256(state, blocks);
    let length = bit_length(msg.len().saturating_add(BLOCK)).to_be_bytes();
    let mut tail = [[0u8; BLOCK]; 2];
    let [first, second] = &mut tail;
    copy_prefix(first, rest);
    if let Some(marker) = first.get_mut(rest.len()) {
        *marker = 0x80;
    }
    // The 8-byte length ends the first tail block if it fits after the marker, else a second.
    let used = if rest.len() < BLOCK - 8 {
        copy_suffix(first, &length);
        1
    } else {
        copy_suffix(second, &length);
        2
    };
    compress256(state, tail.get(..used).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::KeyedMac;
    use hmac::{Hmac, KeyInit, Mac};
    use proptest::prelude::*;
    use std::vec::Vec;

    fn hex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    // RFC 4231, section 4.7 and 4.8: a 131-byte key (longer than one block, so it is
    // hashed) with a one-block and a three-block message.
    #[test]
    fn rfc4231_case_6_long_key() {
        let key = [0xaau8; 131];
        let msg = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let want = hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        assert_eq!(KeyedMac::new(&key).mac(msg), want);
    }

    #[test]
    fn rfc4231_case_7_long_key_long_message() {
        let key = [0xaau8; 131];
        let msg: &[u8] = b"This is a test using a larger than block-size key and a larger \
than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
        let want = hex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
        assert_eq!(KeyedMac::new(&key).mac(msg), want);
    }

    #[test]
    fn head_is_the_macs_first_eight_bytes_on_both_paths() {
        let keyed = KeyedMac::new(&[7u8; 32]);
        for len in 0..=super::ONE_BLOCK {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mac = keyed.mac(&msg);
            let want = u64::from_be_bytes(mac[..8].try_into().unwrap());
            assert_eq!(keyed.head(&msg), want, "{len}");
            let mut block = [0u8; 64];
            block[..len].copy_from_slice(&msg);
            super::seal(&mut block, len);
            assert_eq!(keyed.head_of_block(&block), want, "{len}");
        }
    }

    #[test]
    fn state_is_reusable() {
        let keyed = KeyedMac::new(&[7u8; 32]);
        assert_eq!(keyed.mac(b"one"), keyed.mac(b"one"));
        assert_ne!(keyed.mac(b"one"), keyed.mac(b"two"));
    }

    proptest! {
        // Every key length (short, one block, hashed) and every message length around the
        // padding boundaries (55, 56, 63, 64 bytes) agrees with RustCrypto's `hmac`.
        #[test]
        fn agrees_with_reference_hmac(
            key in proptest::collection::vec(any::<u8>(), 0..200),
            msg in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut reference = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            reference.update(&msg);
            let want: [u8; 32] = reference.finalize().into_bytes().into();
            prop_assert_eq!(KeyedMac::new(&key).mac(&msg), want);
        }
    }
}
