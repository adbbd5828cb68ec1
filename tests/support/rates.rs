//! What the throughput examples share: the bookings they issue, what is typed for each,
//! the timed verification loops on an async store, and the report line against a target.
//! Included by `host/examples/sql_throughput.rs` and by the Redis crate's throughput example.

use std::time::Instant;

use handover_code::{BookingId, Code, Service, Timestamp};

pub const NOW: Timestamp = Timestamp(1_000_000);
pub const UNTIL: Timestamp = Timestamp(2_000_000);

pub fn report(what: &str, per_sec: f64, target: f64) {
    let verdict = if per_sec >= target { "met" } else { "MISSED" };
    println!("{what}: {per_sec:.0} verifications/s (target >= {target:.0}): {verdict}");
}

/// What is typed for the `i`-th booking: its code for even `i`, a wrong one for odd.
pub fn typed(i: u32, code: &Code) -> String {
    if i.is_multiple_of(2) {
        code.expose().to_owned()
    } else {
        format!(
            "{:04}",
            (code.expose().parse::<u32>().unwrap() + 1) % 10_000
        )
    }
}

/// Issues `n` bookings named `{prefix}-{i}` on an async store: each id with what is typed.
pub async fn issued<S: handover_code::AsyncStore>(
    service: &Service,
    store: &S,
    prefix: &str,
    n: u32,
) -> Vec<(String, String)> {
    let mut items = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i:08}");
        let booking = BookingId::new(&id).unwrap();
        let code = service
            .issue_async(store, booking, UNTIL, NOW)
            .await
            .unwrap();
        items.push((id, typed(i, &code)));
    }
    items
}

/// Verifies each of `items` once, in turn.
pub async fn verify_each<S: handover_code::AsyncStore>(
    service: &Service,
    store: &S,
    items: &[(String, String)],
) {
    for (id, typed) in items {
        let booking = BookingId::new(id.as_str()).unwrap();
        service
            .verify_async(store, booking, typed, None, NOW)
            .await
            .unwrap();
    }
}

/// Verifications per second with `clients` concurrent clients, each on its own bookings.
pub fn concurrent_rate<S: handover_code::AsyncStore>(
    rt: &tokio::runtime::Runtime,
    service: &Service,
    store: &S,
    clients: usize,
    tag: &str,
) -> f64 {
    let per_client = 2_500u32;
    rt.block_on(async {
        let mut pools = Vec::new();
        for c in 0..clients {
            pools.push(issued(service, store, &format!("{tag}-{clients}-{c}"), per_client).await);
        }
        let start = Instant::now();
        let tasks = pools.iter().map(|items| verify_each(service, store, items));
        futures_join_all(tasks).await;
        f64::from(per_client) * clients as f64 / start.elapsed().as_secs_f64()
    })
}

/// Runs the futures concurrently on the current task and waits for all of them.
pub async fn futures_join_all<F: std::future::Future<Output = ()>>(
    futures: impl Iterator<Item = F>,
) {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
