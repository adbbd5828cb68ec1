//! What a child process of the several-processes tests does on an async store, by role:
//! `guesser` (5 wrong codes on the shared booking), `holder` (the right code third), or
//! `sprayer` (one wrong code on each of 10 bookings, as verifier `eve`, retrying a busy
//! budget as a host would). Answers one word per verification ([`super::fixtures::describe`]).

use std::time::Duration;

use handover_code::{AsyncStore, BookingId, Error, Service, VerifierId};

use super::fixtures::{NOW, describe, wrong};

pub async fn play<S: AsyncStore>(
    role: &str,
    service: &Service,
    store: &S,
    index: u32,
    code: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    match role {
        "guesser" | "holder" => {
            let id = BookingId::new("shared").unwrap();
            for k in 0..5 {
                let typed = if role == "holder" && k == 2 {
                    code.to_owned()
                } else {
                    wrong(code, index * 10 + k)
                };
                out.push(describe(
                    &service.verify_async(store, id, &typed, None, NOW).await,
                ));
            }
        }
        "sprayer" => {
            let eve = VerifierId::new("eve").unwrap();
            for k in 0..10 {
                let name = format!("spray-{}", (index * 10 + k) % 40);
                let mut tries = 0;
                let answer = loop {
                    tries += 1;
                    let answer = service
                        .verify_async(
                            store,
                            BookingId::new(&name).unwrap(),
                            "0000",
                            Some(eve),
                            NOW,
                        )
                        .await;
                    // Bounded: a slot leaked by a store fault fails the test, not hangs it.
                    if !matches!(answer, Err(Error::BudgetBusy { .. })) || tries > 10_000 {
                        break answer;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                };
                out.push(describe(&answer));
            }
        }
        other => panic!("unknown role {other}"),
    }
    out
}
