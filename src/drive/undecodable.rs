//! A load's error, named by the key it was for when the record there cannot be read.

use crate::error::Error;
#[cfg(feature = "std")]
use crate::error::StoreError;
use crate::key::Key;

/// `error`, as the answer to a load of `key`: a record the store could not read
/// ([`Error::Corrupt`]) names the key it was under (feature `std`; without it there is
/// nowhere to keep the key's bytes). Every other error is as it was.
pub(crate) fn loading(error: Error, key: Key<'_>) -> Error {
    match error {
        #[cfg(feature = "std")]
        Error::Corrupt(why) => Error::Corrupt(StoreError::corrupt(Undecodable::new(key, why))),
        other => {
            let _ = key;
            other
        }
    }
}

/// A stored record that could not be read, named by its key; its bytes are not kept.
#[cfg(feature = "std")]
#[derive(Debug, thiserror::Error)]
#[error(
    "the {kind} record under namespace \"{namespace}\" and id \"{id}\" cannot be decoded; restore it from a backup, or delete it (a booking is then issued again, a budget starts afresh)"
)]
struct Undecodable {
    /// "booking", "verifier" or "override actor".
    kind: &'static str,
    /// The namespace's bytes, escaped.
    namespace: std::string::String,
    /// The id's bytes, escaped.
    id: std::string::String,
    /// Why (the store's error, which says why the bytes are no record).
    #[source]
    why: StoreError,
}

#[cfg(feature = "std")]
impl Undecodable {
    fn new(key: Key<'_>, why: StoreError) -> Self {
        use std::string::ToString;
        let kind = match key {
            Key::Booking { .. } => "booking",
            Key::Verifier { .. } => "verifier",
            Key::Actor { .. } => "override actor",
        };
        Self {
            kind,
            namespace: key.namespace().escape_ascii().to_string(),
            id: key.id().escape_ascii().to_string(),
            why,
        }
    }
}
