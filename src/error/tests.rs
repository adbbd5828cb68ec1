//! The class table, variant by variant: a variant added without a row here does not
//! compile (`row` matches every variant, with no wildcard).

use super::{Error, ErrorClass, Inactive, StoreError};
use crate::invalid::Malformed;
use crate::time::Timestamp;

#[derive(Debug, thiserror::Error)]
#[error("down")]
struct Down;

const AT: Timestamp = Timestamp(1_700_000_600);

/// Every variant, with the class and the retry time the docs' table gives it.
fn table() -> [(Error, ErrorClass, Option<Timestamp>); 36] {
    use ErrorClass::{BadInput, Conflict, Limit, Permanent, Transient};
    [
        (Error::BookingIdLength, BadInput, None),
        (Error::ContextLength, BadInput, None),
        (Error::SecretLength, BadInput, None),
        (Error::SecretEncoding, BadInput, None),
        (Error::Rng, Transient, None),
        (Error::Malformed(Malformed::WrongLength), BadInput, None),
        (Error::UnknownKey, Permanent, None),
        (Error::KeyringFull, BadInput, None),
        (Error::DuplicateKey, BadInput, None),
        (Error::CurrentKey, BadInput, None),
        (Error::VerifierIdLength, BadInput, None),
        (Error::RequestIdLength, BadInput, None),
        (Error::ActorIdLength, BadInput, None),
        (Error::NoteLength, BadInput, None),
        (Error::PolicyAttempts, BadInput, None),
        (Error::PolicyLifetime, BadInput, None),
        (Error::PolicyBudget, BadInput, None),
        (Error::PolicySends, BadInput, None),
        (Error::PolicyRetries, BadInput, None),
        (Error::PolicyClockSkew, BadInput, None),
        (Error::BeforeEpoch, BadInput, None),
        (Error::Validity, BadInput, None),
        (Error::Clock, Permanent, None),
        (Error::AlreadyIssued, Conflict, None),
        (Error::UnknownBooking, Conflict, None),
        (Error::Inactive(Inactive::Redeemed), Conflict, None),
        (Error::SendLimit { retry_at: AT }, Limit, Some(AT)),
        (Error::BudgetBusy { retry_at: AT }, Limit, Some(AT)),
        (Error::OverridesOff, BadInput, None),
        (Error::OverrideLimit { retry_at: AT }, Limit, Some(AT)),
        (Error::Contention, Transient, None),
        (Error::Corrupt(StoreError::new(Down)), Permanent, None),
        (Error::Store(StoreError::new(Down)), Transient, None),
        (Error::Refused(StoreError::new(Down)), Permanent, None),
        (Error::Setup(StoreError::new(Down)), Permanent, None),
        (Error::inconsistent(), Permanent, None),
    ]
}

/// The table's row for `e`'s variant. Exhaustive: a new variant fails to compile here until
/// it has a row.
const fn row(e: &Error) -> usize {
    match e {
        Error::BookingIdLength => 0,
        Error::ContextLength => 1,
        Error::SecretLength => 2,
        Error::SecretEncoding => 3,
        Error::Rng => 4,
        Error::Malformed(_) => 5,
        Error::UnknownKey => 6,
        Error::KeyringFull => 7,
        Error::DuplicateKey => 8,
        Error::CurrentKey => 9,
        Error::VerifierIdLength => 10,
        Error::RequestIdLength => 11,
        Error::ActorIdLength => 12,
        Error::NoteLength => 13,
        Error::PolicyAttempts => 14,
        Error::PolicyLifetime => 15,
        Error::PolicyBudget => 16,
        Error::PolicySends => 17,
        Error::PolicyRetries => 18,
        Error::PolicyClockSkew => 19,
        Error::BeforeEpoch => 20,
        Error::Validity => 21,
        Error::Clock => 22,
        Error::AlreadyIssued => 23,
        Error::UnknownBooking => 24,
        Error::Inactive(_) => 25,
        Error::SendLimit { .. } => 26,
        Error::BudgetBusy { .. } => 27,
        Error::OverridesOff => 28,
        Error::OverrideLimit { .. } => 29,
        Error::Contention => 30,
        Error::Corrupt(_) => 31,
        Error::Store(_) => 32,
        Error::Refused(_) => 33,
        Error::Setup(_) => 34,
    }
}

#[test]
fn every_variant_is_in_exactly_the_class_the_table_gives() {
    let table = table();
    let mut seen = [false; 35];
    for (e, class, retry) in &table {
        let r = row(e);
        seen[r] = true;
        assert_eq!(e.class(), *class, "{e:?}");
        assert_eq!(e.retry_after(), *retry, "{e:?}");
        assert_eq!(
            e.is_retryable(),
            matches!(class, ErrorClass::Transient | ErrorClass::Limit),
            "{e:?}"
        );
        // A limit always says when; nothing else does.
        assert_eq!(retry.is_some(), *class == ErrorClass::Limit, "{e:?}");
    }
    assert!(seen.iter().all(|s| *s), "a variant has no row: {seen:?}");
}

#[test]
fn messages_say_what_to_do_and_carry_no_bytes_of_a_record() {
    use std::string::ToString;
    for (e, class, _) in table() {
        let text = e.to_string();
        assert!(!text.is_empty());
        if class == ErrorClass::Permanent && !matches!(e, Error::UnknownKey | Error::Clock) {
            assert!(
                text.contains("do not retry")
                    || text.contains("retrying changes nothing")
                    || text.contains("start again"),
                "{text}"
            );
        }
    }
}
