//! Records that cannot be read, written straight into a real store, for both record kinds:
//! each answers `Error::Corrupt`, not retryable, naming the record's key and never its
//! bytes; nothing is counted; with the record's own bytes back, the booking verifies again.
//! Every store's tests run it with their own way of writing a record's raw bytes.

use handover_code::{Error, ErrorClass, Outcome, VerifierId};

use crate::fixtures;

/// The booking the check corrupts, and the verifier whose budget record it corrupts.
pub const BOOKING: &str = "CORRUPT-1";
pub const VERIFIER: &str = "gate-7";
/// The stored key's kind of each record (the SQL `kind` column).
pub const BOOKING_KIND: u8 = 1;
pub const VERIFIER_KIND: u8 = 2;

/// What a store gives the check: a record's stored bytes, read and written raw by kind and
/// id (in the service's context), and a verification of [`BOOKING`] with the code typed,
/// by `verifier` ([`VERIFIER`] or nobody).
pub trait Raw {
    fn read(&mut self, kind: u8, id: &str) -> Vec<u8>;
    fn write(&mut self, kind: u8, id: &str, bytes: &[u8]);
    fn verify(
        &mut self,
        typed: &str,
        verifier: Option<VerifierId<'static>>,
    ) -> Result<Outcome, Error>;
}

/// [`VERIFIER`] if `by_verifier`, else nobody.
fn verifier(by_verifier: bool) -> Option<VerifierId<'static>> {
    by_verifier.then(|| VerifierId::new(VERIFIER).unwrap())
}

/// Bytes that are no record, made from a valid record's `valid` bytes: garbage, empty,
/// another format byte, and single bit flips in the format and kind bytes and in the last
/// byte's place (a record one byte short).
pub fn corruptions(valid: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("garbage DEADBEEF".to_owned(), vec![0xde, 0xad, 0xbe, 0xef]),
        ("empty".to_owned(), Vec::new()),
        ("a format byte from the future".to_owned(), {
            let mut b = valid.to_vec();
            b[0] = 0x7f;
            b
        }),
        (
            "one byte short".to_owned(),
            valid[..valid.len() - 1].to_vec(),
        ),
        ("one byte too many".to_owned(), {
            let mut b = valid.to_vec();
            b.push(0);
            b
        }),
    ];
    for byte in [0usize, 1] {
        for bit in 0..8 {
            let mut b = valid.to_vec();
            b[byte] ^= 1 << bit;
            out.push((format!("bit {bit} of byte {byte} flipped"), b));
        }
    }
    out
}

/// The check: `right` is [`BOOKING`]'s code. A corrupt booking is verified by nobody (a
/// store in reservation mode holds a budget slot before it reads the booking, and a slot
/// held by a failed call stays held until the window ends); a corrupt budget record by
/// [`VERIFIER`].
pub fn every_unreadable_record_answers_corrupt(raw: &mut dyn Raw, right: &str) {
    let wrong = fixtures::wrong(right, 1);
    // The verifier's budget record, written by a wrong code.
    assert!(matches!(
        raw.verify(&wrong, verifier(true)),
        Ok(Outcome::Rejected { .. })
    ));
    for (kind, what, id) in [
        (BOOKING_KIND, "booking", BOOKING),
        (VERIFIER_KIND, "verifier", VERIFIER),
    ] {
        let valid = raw.read(kind, id);
        assert!(!valid.is_empty(), "no {what} record to corrupt");
        for (how, bytes) in corruptions(&valid) {
            raw.write(kind, id, &bytes);
            let answer = raw.verify(&wrong, verifier(kind == VERIFIER_KIND));
            assert_corrupt(&answer, what, id, &bytes, &how);
            // Nothing was written: the bytes are as they were put.
            assert_eq!(
                raw.read(kind, id),
                bytes,
                "{what}, {how}: the record changed"
            );
        }
        raw.write(kind, id, &valid);
    }
    // Its own bytes back: the booking verifies, nothing was counted by the corrupt answers.
    assert_eq!(
        raw.verify(right, verifier(true)).unwrap(),
        Outcome::Accepted
    );
}

/// `answer` is `Error::Corrupt`, a permanent fault naming the `what` record `id`, with no
/// trace of its `bytes` in its messages or its `Debug`.
pub fn assert_corrupt(
    answer: &Result<Outcome, Error>,
    what: &str,
    id: &str,
    bytes: &[u8],
    how: &str,
) {
    let Err(e @ Error::Corrupt(_)) = answer else {
        panic!("{what} record, {how}: expected Error::Corrupt, got {answer:?}")
    };
    assert!(!e.is_retryable(), "{what}, {how}: {e:?}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    let chain = fixtures::error_chain(e).join(" / ");
    assert!(
        chain.contains(&format!("the {what} record")) && chain.contains(&format!("\"{id}\"")),
        "{what}, {how}: the error does not name the key: {chain}"
    );
    let debug = format!("{e:?}");
    if bytes.len() >= 4 {
        for shown in [
            hex(bytes),
            bytes.escape_ascii().to_string(),
            format!("{bytes:?}"),
        ] {
            assert!(
                !chain.contains(&shown) && !debug.contains(&shown),
                "{what}, {how}: the error shows the record's bytes: {chain} / {debug}"
            );
        }
    }
}

/// `answer` is `Error::Refused`, not retryable: a store that refuses for good (`what`).
pub fn assert_refused<T: std::fmt::Debug>(answer: &Result<T, Error>, what: &str) {
    let Err(e @ Error::Refused(_)) = answer else {
        panic!("{what}: expected Error::Refused, got {answer:?}")
    };
    assert!(!e.is_retryable(), "{what}");
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
