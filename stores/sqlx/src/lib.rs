#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Without a database feature the crate is empty: the shared pieces are for the stores.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod error;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod prune;
#[cfg(feature = "sqlite")]
mod sqlite;

/// The database library these stores are built on, at the version they were built with:
/// its pools (`sqlx::PgPool`, `sqlx::SqlitePool`) are what the stores take.
pub use sqlx;

#[cfg(feature = "postgres")]
pub use pg::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
