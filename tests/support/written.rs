//! The crash tests' protocol on any async store: issue many bookings, verify each once
//! whatever the server is going through, then check that no answer went out without its
//! write.

use std::time::Duration;

use handover_code::record::{Record, State};
use handover_code::{AsyncStore, BookingId, Error, Outcome, Service};

use handover_code::Timestamp;

use super::fixtures::{NOW, UNTIL, booking_key, wrong};

/// Issues `n` bookings named `{prefix}-{i}`; answers their ids and codes.
pub async fn issue_many<S: AsyncStore>(
    service: &Service,
    store: &S,
    prefix: &str,
    n: usize,
) -> Vec<(String, String)> {
    let mut codes = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let code = service
            .issue_async(store, BookingId::new(&id).unwrap(), UNTIL, NOW)
            .await
            .unwrap();
        codes.push((id, code.expose().to_owned()));
    }
    codes
}

/// Verifies each booking once (right for every fifth, wrong otherwise), `pause` apart,
/// keeping every answer.
pub async fn verify_all<S: AsyncStore>(
    service: &Service,
    store: &S,
    codes: &[(String, String)],
    pause: Duration,
) -> Vec<Result<Outcome, Error>> {
    let mut answers = Vec::new();
    for (i, (id, code)) in codes.iter().enumerate() {
        let typed = if i % 5 == 0 {
            code.clone()
        } else {
            wrong(code, 0)
        };
        answers.push(
            service
                .verify_async(store, BookingId::new(id).unwrap(), &typed, None, NOW)
                .await,
        );
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    answers
}

/// The answers whose write is not in the store: an acceptance whose record is not
/// redeemed, a rejection whose failure is not counted. Panics on an answer no fault
/// explains.
pub async fn unwritten<S: AsyncStore>(
    store: &S,
    codes: &[(String, String)],
    answers: &[Result<Outcome, Error>],
) -> Vec<String> {
    let mut lost = Vec::new();
    for ((id, _), answer) in codes.iter().zip(answers) {
        let stored = AsyncStore::load(store, booking_key(id)).await.unwrap();
        let Some((Record::Booking(b), _)) = stored else {
            panic!("{id}: no record")
        };
        match answer {
            Ok(Outcome::Accepted) if b.state() != State::Redeemed => {
                lost.push(format!("{id}: accepted, not redeemed"));
            }
            Ok(Outcome::Rejected { .. }) if b.failures() != 1 => {
                lost.push(format!("{id}: rejected, {} failures stored", b.failures()));
            }
            Ok(Outcome::Accepted | Outcome::Rejected { .. }) => {}
            Ok(other) => panic!("{id}: unexpected {other:?}"),
            Err(Error::Store(_) | Error::Contention) => {}
            Err(other) => panic!("{id}: unexpected error {other:?}"),
        }
    }
    lost
}

/// No answer without its write: every acceptance is a redeemed record, every rejection a
/// counted failure.
pub async fn check_written<S: AsyncStore>(
    store: &S,
    codes: &[(String, String)],
    answers: &[Result<Outcome, Error>],
) {
    let lost = unwritten(store, codes, answers).await;
    assert!(lost.is_empty(), "answers without their write: {lost:?}");
}

/// Issue, resend (the same code), a wrong code, the right one, and the right one again, on
/// booking `id`.
pub async fn the_flow<S: AsyncStore>(service: &Service, store: &S, id: &str)
where
    S::Error: std::fmt::Debug,
{
    let id = BookingId::new(id).unwrap();
    let code = service.issue_async(store, id, UNTIL, NOW).await.unwrap();
    assert_eq!(service.resend_async(store, id, NOW).await.unwrap(), code);
    let bad = wrong(code.expose(), 0);
    let verify = |typed: String| async move {
        service
            .verify_async(store, id, &typed, None, NOW)
            .await
            .unwrap()
    };
    assert_eq!(verify(bad).await, Outcome::Rejected { attempts_left: 2 });
    assert_eq!(verify(code.expose().to_owned()).await, Outcome::Accepted);
    assert_eq!(
        verify(code.expose().to_owned()).await,
        Outcome::AlreadyRedeemed { by_override: false }
    );
}

/// Issues `n` bookings named `{prefix}-{i}` that expire at `expires`.
pub async fn issue_expiring<S: AsyncStore>(
    service: &Service,
    store: &S,
    prefix: &str,
    n: usize,
    expires: Timestamp,
) {
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        service
            .issue_async(store, BookingId::new(&id).unwrap(), expires, NOW)
            .await
            .unwrap();
    }
}

/// A server stopped (`power(false)`) and started again (`power(true)`) under a store: with it down, every
/// verification answers a store error; once it is back (and the store's connections are
/// replaced, which may take a few calls), every one is answered and written.
pub fn down_then_back<S: AsyncStore>(
    rt: &tokio::runtime::Runtime,
    service: &Service,
    store: &S,
    mut power: impl FnMut(bool),
) where
    S::Error: std::fmt::Debug,
{
    let codes = rt.block_on(issue_many(service, store, "restart", 10));
    power(false);
    let down = rt.block_on(verify_all(service, store, &codes, Duration::ZERO));
    assert!(
        down.iter().all(|a| matches!(a, Err(Error::Store(_)))),
        "with the server down: {down:?}"
    );
    power(true);
    let answers = rt.block_on(async {
        for _ in 0..50 {
            if AsyncStore::load(store, booking_key("restart-0"))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        verify_all(service, store, &codes, Duration::ZERO).await
    });
    assert!(
        answers.iter().all(Result::is_ok),
        "after the restart: {answers:?}"
    );
    rt.block_on(check_written(store, &codes, &answers));
}
