#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Panic-freedom, enforced for the library (CI runs clippy with `-D warnings`; these are
// errors regardless): no unwrap or expect, no indexing or slicing that can panic, checked
// arithmetic, no lossy casts, no panicking macros, core over std where core has it. Unit
// tests index and count freely.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::std_instead_of_core
    )
)]

#[cfg(any(feature = "std", test))]
extern crate std;

// Where each concept lives (the maintainers' map; `../shared/LAYOUT.md` is its plan). Data
// flows one way: service → plan → driver → store, and a module imports only from the
// layers above it here:
// - values: `invalid` (what a constructor refuses: a leaf), `code` and `mac`, `time`,
//   `secret` and `keyring`, `ids`, `key` (a stored record's key), `who` (an override's
//   actor and reason), `input` and `derive`, `policy`, `record`, `outcome`, `error`;
// - pure rules: `decide`;
// - what happened: `audit` (what one write did, and the events a host is told);
// - sans-IO plans: `plan` (the reservation mode, and `plan::atomic` for stores with
//   transactions);
// - I/O: `store` (the contract, the audit log's traits, the memory store, the SQL
//   store-author API), `drive` (one driver over `AsyncStore`; a blocking store through its
//   private ready-at-once adapter), `service` (each operation's plan built by one private
//   method; its blocking and `_async` faces hand it to the one driver).
// One edge still points back: `audit` re-exports the audit log's traits, now defined in
// `store`, under their old path.
// The adapters that need a client crate live in the workspace's `stores/` (Redis, SQLite,
// PostgreSQL; `stores/any`, the one chosen from a URL), each built on this crate's public
// store-author API only; `host/` uses them as a service would.

pub mod audit;
mod code;
#[cfg(feature = "conformance")]
pub mod conformance;
mod decide;
pub mod derive;
mod drive;
mod error;
pub mod guide;
mod ids;
pub mod input;
mod invalid;
mod key;
mod keyring;
mod mac;
mod outcome;
mod plan;
mod policy;
pub mod record;
mod secret;
#[cfg(feature = "serde")]
mod serialize;
mod service;
pub mod store;
mod time;
mod who;

pub use code::{Code, Digits};
pub use derive::{BookingId, Context};
pub use error::{Error, ErrorClass, Inactive, StoreError};
pub use ids::{ActorId, RequestId};
pub use invalid::Malformed;
pub use keyring::{KeyId, Keyring};
pub use outcome::Outcome;
pub use policy::Policy;
pub use secret::Secret;
pub use service::Service;
#[cfg(feature = "std")]
pub use store::memory::MemoryStore;
pub use store::{AsyncStore, Key, Store, Swap, VerifierId};
pub use time::Timestamp;
pub use who::Attempt;
