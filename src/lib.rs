#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Unit tests index and count freely; the library code itself is held to these lints.
#![cfg_attr(
    test,
    allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]

#[cfg(feature = "std")]
extern crate std;

mod code;
pub mod derive;
mod error;
pub mod input;
mod keyring;
mod mac;
mod secret;

pub use code::{Code, Digits};
pub use derive::{BookingId, Context};
pub use error::{Error, Malformed, Result};
pub use keyring::{KeyId, Keyring};
pub use secret::Secret;
