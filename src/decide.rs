//! The pure decisions: what each operation answers and what it writes, from the record it
//! was shown. No I/O, no clock: everything comes in as a value, so these can be
//! model-tested and fuzzed, and a plan may run them more than once.
//!
//! Every limit is read from the record, never from the policy of the service deciding: a
//! booking keeps the [`Limits`](crate::record::Limits) it was issued under, and a verifier
//! the budget its current window was opened with. The policy only supplies the limits of
//! records it creates (and of a verifier's next window).

use crate::code::Code;
use crate::derive::{BookingId, Context, derive};
use crate::error::Error;
use crate::ids::{IdBuf, RequestId, VerifierId};
use crate::keyring::Keyring;

use crate::policy::Policy;
use crate::record::{Booking, Earlier, Last, Version};
use crate::time::Timestamp;

/// A decision on one booking: the answer, and the record to write first (`None`: write
/// nothing).
#[derive(Debug)]
pub(crate) struct Decision<T> {
    /// What to answer once `next` (if any) has landed.
    pub(crate) answer: Result<T, Error>,
    /// The booking's next record.
    pub(crate) next: Option<Booking>,
}

impl<T> Decision<T> {
    const fn answer(answer: Result<T, Error>) -> Self {
        Self { answer, next: None }
    }

    const fn write(next: Booking, answer: T) -> Self {
        Self {
            answer: Ok(answer),
            next: Some(next),
        }
    }
}

/// What a code is checked against: the keys, the policy and the handover it belongs to.
#[derive(Debug)]
pub(crate) struct Rules<'a> {
    /// The keys records may name.
    pub(crate) keys: &'a Keyring,
    /// The limits for records this service creates.
    pub(crate) policy: &'a Policy,
    /// What is handed over.
    pub(crate) context: Context<'a>,
}

/// Who is asking: the verifier and the request id, each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Who<'a> {
    /// The verifier, whose budget pays for each comparison when the policy has one.
    pub(crate) verifier: Option<VerifierId<'a>>,
    /// The request id that makes a retry idempotent.
    pub(crate) request: Option<RequestId<'a>>,
}

impl Who<'_> {
    /// Whether `last` was written by this very request: same request id, same verifier.
    fn wrote(&self, last: &Last) -> bool {
        let Some(request) = self.request else {
            return false;
        };
        let same_request = last.request.is_some_and(|r| r.is(request.as_bytes()));
        let same_verifier = match (self.verifier, last.verifier) {
            (None, None) => true,
            (Some(v), Some(w)) => w.is(v.as_bytes()),
            _ => false,
        };
        same_request && same_verifier
    }

    fn last(&self, at: Timestamp, answer: Earlier) -> Last {
        Last {
            at,
            paid_by: Version::default(),
            verifier: self.verifier.map(IdBuf::from),
            request: self.request.map(IdBuf::from),
            answer,
        }
    }
}

impl Rules<'_> {
    /// The code of `booking` for the record's key, generation and digits.
    fn code(&self, booking: BookingId<'_>, record: &Booking) -> Result<Code, Error> {
        let secret = self.keys.get(record.key_id).ok_or(Error::UnknownKey)?;
        Ok(derive(
            secret,
            self.context,
            booking,
            record.generation,
            record.digits,
        ))
    }
}

mod booking;
mod budget;

pub(crate) use booking::{Compared, compare, issue, overrule, reissue, resend, revoke};
pub(crate) use budget::{
    Standing, Window, adoptable, busy_until, carry, charge, count_override, current, hold,
    hold_tag, refund_override, release, settle, share, standing,
};

#[cfg(test)]
mod tests;
