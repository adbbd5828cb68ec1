//! A budget record's charge, shared by the plans that count against a budget in one
//! transaction: the verification's failure ([`Atomic`](super::Atomic)) and the override's
//! count ([`Overrule`](super::Overrule)). The budget's next record is written over the
//! version it was read at, with the booking's write, or not at all.

use crate::audit::{Audit, Entry};
use crate::error::Error;
use crate::key::Key;
use crate::record::{Record, Verifier, Version};
use crate::time::Timestamp;

use super::{Charge, version_after};

/// The budget record `next` written under `key` over the version `read` (`None`: absent), as
/// of `now`, described by `audit`: the transaction's part, and the version it stores.
pub(super) fn write<'a>(
    key: Key<'a>,
    read: Option<Version>,
    next: Verifier,
    now: Timestamp,
    audit: Audit<'a>,
) -> Result<(Charge<'a>, Version), Error> {
    let version = version_after(read, now)?;
    let entry = Entry {
        key,
        prior: read,
        version,
        audit,
    };
    Ok((Charge::Write(entry, Record::Verifier(next)), version))
}
