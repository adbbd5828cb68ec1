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

/// `timeout` within what the pool and the server take: at least 1 ms (a statement timeout
/// of 0 would turn the bound off) and at most `i32::MAX` ms, about 24 days (PostgreSQL's
/// largest `statement_timeout`; a longer wait would overflow the pool's deadline).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn bounded(timeout: core::time::Duration) -> core::time::Duration {
    use core::time::Duration;
    timeout.clamp(
        Duration::from_millis(1),
        Duration::from_millis(i32::MAX.unsigned_abs().into()),
    )
}

#[cfg(all(test, any(feature = "postgres", feature = "sqlite")))]
mod tests {
    use core::time::Duration;

    #[test]
    fn timeouts_are_bounded_both_ways() {
        assert_eq!(super::bounded(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            super::bounded(Duration::from_micros(10)),
            Duration::from_millis(1)
        );
        assert_eq!(
            super::bounded(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            super::bounded(Duration::MAX),
            Duration::from_millis(2_147_483_647)
        );
    }
}
#[cfg(feature = "sqlite")]
mod sqlite;

/// The database library these stores are built on, at the version they were built with:
/// its pools (`sqlx::PgPool`, `sqlx::SqlitePool`) are what the stores take.
pub use sqlx;

#[cfg(feature = "postgres")]
pub use pg::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
