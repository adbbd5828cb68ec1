//! The guides: the long material behind the front page, each a page of its own with its
//! examples compiled and run as doctests. The same files are in the repository's `docs/`.

#[doc = include_str!("../docs/async_service.md")]
pub mod async_service {}

#[doc = include_str!("../docs/derivation.md")]
pub mod derivation {}

#[doc = include_str!("../docs/storage.md")]
pub mod storage {}

#[doc = include_str!("../docs/accountability.md")]
pub mod accountability {}

#[doc = include_str!("../docs/deploying.md")]
pub mod deploying {}

#[doc = include_str!("../docs/threat_model.md")]
pub mod threat_model {}

#[doc = include_str!("../docs/decisions.md")]
pub mod decisions {}

#[doc = include_str!("../docs/testing.md")]
pub mod testing {}
