//! The compact forms the memory store keeps a key and a record in.
//!
//! A [`Record`] is a fixed-size value of 200 bytes, most of it the two inline 64-byte ids of
//! a booking's last verification, which a verification names only when the host gives a
//! verifier or a request id. Kept as is with its key, every stored booking would span five
//! or six cache lines, and a lookup among many bookings would wait on most of them. Here a
//! booking keeps its fields inline and its last verification's ids, when it has any, in a
//! box of their own (130 bytes more, read only when they are there); a verifier record
//! (rare beside bookings) lives in a box; and a key keeps its namespace and id in one
//! inline buffer of [`Name::INLINE`] bytes. A bucket of one booking takes 160 bytes (its map
//! slot 168, with the hash). Packing and unpacking are lossless: [`Packed::unpack`] gives
//! back exactly the record [`Packed::new`] was given.

use std::boxed::Box;

use crate::code::Digits;
use crate::key::Key;
use crate::keyring::KeyId;
use crate::record::{Booking, Earlier, IdBuf, Last, Limits, Record, State, Verifier, Version};
use crate::time::Timestamp;

/// A stored key: its kind, and its namespace and id one after the other (short ones inline,
/// so a lookup reads no second allocation).
#[derive(Debug)]
pub(super) enum Name {
    /// Namespace and id of at most [`Name::INLINE`] bytes together.
    Inline {
        kind: u8,
        /// The namespace's length: where the id starts.
        split: u8,
        len: u8,
        bytes: [u8; Name::INLINE],
    },
    /// Longer ones.
    Long {
        kind: u8,
        split: usize,
        bytes: Box<[u8]>,
    },
}

impl Name {
    /// Bytes of namespace and id kept inline: a 24-byte context and a 36-byte booking id
    /// (a UUID in text). Longer pairs are boxed, and their lookups read the box.
    pub(super) const INLINE: usize = 60;

    pub(super) fn new(key: Key<'_>) -> Self {
        let (namespace, id) = (key.namespace(), key.id());
        let len = namespace.len().saturating_add(id.len());
        let mut bytes = [0u8; Self::INLINE];
        let fitted = (
            u8::try_from(namespace.len()),
            u8::try_from(len),
            bytes
                .get_mut(..len)
                .and_then(|b| b.split_at_mut_checked(namespace.len())),
        );
        if let (Ok(split), Ok(len), Some((ns, rest))) = fitted {
            ns.copy_from_slice(namespace);
            rest.copy_from_slice(id);
            return Self::Inline {
                kind: key.kind(),
                split,
                len,
                bytes,
            };
        }
        Self::Long {
            kind: key.kind(),
            split: namespace.len(),
            bytes: [namespace, id].concat().into_boxed_slice(),
        }
    }

    /// Whether this is the name of `key`: same kind, namespace and id.
    pub(super) fn is(&self, key: Key<'_>) -> bool {
        let (kind, split, bytes) = match self {
            Self::Inline {
                kind,
                split,
                len,
                bytes,
            } => (
                *kind,
                usize::from(*split),
                bytes.get(..usize::from(*len)).unwrap_or_default(),
            ),
            Self::Long { kind, split, bytes } => (*kind, *split, &**bytes),
        };
        kind == key.kind() && bytes.split_at_checked(split) == Some((key.namespace(), key.id()))
    }
}

/// A stored record.
#[derive(Debug)]
pub(super) enum Packed {
    Booking(Slim),
    Verifier(Box<Verifier>),
}

/// A booking's fields, with its last verification's ids out of line.
#[derive(Debug)]
pub(super) struct Slim {
    key_id: KeyId,
    generation: u32,
    digits: Digits,
    failures: u8,
    lifetime_failures: u16,
    state: State,
    issued_at: Timestamp,
    expires_at: Timestamp,
    limits: Limits,
    sends: u8,
    send_window_start: Timestamp,
    last: Option<SlimLast>,
}

/// [`Last`] with its ids boxed, and no box when it names neither.
#[derive(Debug)]
struct SlimLast {
    at: Timestamp,
    paid_by: Version,
    answer: Earlier,
    ids: Option<Box<Ids>>,
}

/// A last verification's verifier and request ids.
type Ids = (Option<IdBuf>, Option<IdBuf>);

impl Packed {
    pub(super) fn new(record: &Record) -> Self {
        Self::pack(record, None)
    }

    /// Stores `record` in place of this one, reusing its boxes where the new record needs
    /// them: rewriting a booking whose verifications name their verifier, or a verifier's
    /// budget, allocates nothing.
    pub(super) fn set(&mut self, record: &Record) {
        match (&mut *self, record) {
            (Self::Verifier(old), Record::Verifier(new)) => **old = *new,
            (Self::Booking(old), _) => {
                let spare = old.last.as_mut().and_then(|l| l.ids.take());
                *self = Self::pack(record, spare);
            }
            (Self::Verifier(_), Record::Booking(_)) => *self = Self::new(record),
        }
    }

    /// `record` packed, its ids (if any) written into `spare` if there is one.
    fn pack(record: &Record, spare: Option<Box<Ids>>) -> Self {
        match record {
            Record::Verifier(v) => Self::Verifier(Box::new(*v)),
            Record::Booking(b) => {
                let Booking {
                    key_id,
                    generation,
                    digits,
                    failures,
                    lifetime_failures,
                    state,
                    issued_at,
                    expires_at,
                    limits,
                    sends,
                    send_window_start,
                    last,
                } = *b;
                let last = last.map(|l| {
                    let Last {
                        at,
                        paid_by,
                        verifier,
                        request,
                        answer,
                    } = l;
                    let ids = (verifier.is_some() || request.is_some()).then(|| match spare {
                        Some(mut ids) => {
                            *ids = (verifier, request);
                            ids
                        }
                        None => Box::new((verifier, request)),
                    });
                    SlimLast {
                        at,
                        paid_by,
                        answer,
                        ids,
                    }
                });
                Self::Booking(Slim {
                    key_id,
                    generation,
                    digits,
                    failures,
                    lifetime_failures,
                    state,
                    issued_at,
                    expires_at,
                    limits,
                    sends,
                    send_window_start,
                    last,
                })
            }
        }
    }

    /// The record as it was given.
    pub(super) fn unpack(&self) -> Record {
        match self {
            Self::Verifier(v) => Record::Verifier(**v),
            Self::Booking(s) => {
                let last = s.last.as_ref().map(|l| {
                    let (verifier, request) = l.ids.as_deref().copied().unwrap_or((None, None));
                    Last {
                        at: l.at,
                        paid_by: l.paid_by,
                        verifier,
                        request,
                        answer: l.answer,
                    }
                });
                Record::Booking(Booking {
                    key_id: s.key_id,
                    generation: s.generation,
                    digits: s.digits,
                    failures: s.failures,
                    lifetime_failures: s.lifetime_failures,
                    state: s.state,
                    issued_at: s.issued_at,
                    expires_at: s.expires_at,
                    limits: s.limits,
                    sends: s.sends,
                    send_window_start: s.send_window_start,
                    last,
                })
            }
        }
    }
}
