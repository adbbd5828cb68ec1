//! A replay storm: one request accepted, then replayed by many tasks released together, in
//! rounds. Every replay must be answered the replayed acceptance: a confirmation
//! (`make_durable`) that contends answers `Contention` instead, and a second acceptance
//! would be a code redeemed twice.

use std::sync::Arc;

use handover_code::record::Earlier;
use handover_code::{AsyncStore, Attempt, BookingId, Error, Outcome, Service};

use super::fixtures::{NOW, UNTIL};

/// What the replays were answered.
#[derive(Debug, Default)]
pub struct Storm {
    pub replayed: usize,
    pub contention: usize,
    pub second_acceptances: usize,
    pub other: Vec<String>,
}

impl Storm {
    /// Prints what `replays` replays under `what` were answered, and checks that every one
    /// was the replayed acceptance: no `Contention`, no second acceptance, nothing else.
    pub fn check(&self, what: &str, replays: usize) {
        println!(
            "{what}: {replays} replays, {} answered the replayed acceptance, {} Contention, {} second acceptances, {} other",
            self.replayed,
            self.contention,
            self.second_acceptances,
            self.other.len()
        );
        assert_eq!(
            self.second_acceptances, 0,
            "{what}: a replay was accepted again"
        );
        assert_eq!(self.contention, 0, "{what}: replays contended");
        assert!(self.other.is_empty(), "{what}: {:?}", self.other);
        assert_eq!(self.replayed, replays, "{what}");
    }
}

/// `rounds` rounds, each a booking issued, accepted under request `r1`, then replayed by
/// `replays` tasks at once, under `tag`'s booking ids.
pub async fn replay_storm<S: AsyncStore + Clone + Send + Sync + 'static>(
    store: &S,
    service: &Service,
    tag: &str,
    rounds: usize,
    replays: usize,
) -> Storm {
    let mut storm = Storm::default();
    for round in 0..rounds {
        let id = format!("{tag}-{round}");
        let booking = BookingId::new(&id).unwrap();
        let code = service
            .issue_async(store, booking, UNTIL, NOW)
            .await
            .unwrap();
        let attempt = Attempt::by("v").request("r1");
        let first = service
            .verify_async(store, booking, code.expose(), attempt, NOW)
            .await;
        assert!(matches!(first, Ok(Outcome::Accepted)), "{first:?}");
        let start = Arc::new(tokio::sync::Barrier::new(replays));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..replays {
            let (store, service, start) = (store.clone(), service.clone(), Arc::clone(&start));
            let (code, id) = (code.expose().to_owned(), id.clone());
            tasks.spawn(async move {
                start.wait().await;
                let booking = BookingId::new(&id).unwrap();
                let attempt = Attempt::by("v").request("r1");
                service
                    .verify_async(&store, booking, &code, attempt, NOW)
                    .await
            });
        }
        while let Some(answer) = tasks.join_next().await {
            match answer.unwrap() {
                Ok(Outcome::Replayed(Earlier::Accepted)) => storm.replayed += 1,
                Ok(Outcome::Accepted) => storm.second_acceptances += 1,
                Err(Error::Contention) => storm.contention += 1,
                answer => storm.other.push(format!("{answer:?}")),
            }
        }
    }
    storm
}
