//! Verifications per second on the real stores, against the targets the issues set.
//!
//! `cargo run --release --example throughput --features sqlite`
//!
//! Each verification is a read and a compare-and-swap write: half are right codes
//! (redeeming), half wrong (counting a failure).
#![allow(
    clippy::arithmetic_side_effects,
    clippy::std_instead_of_core,
    clippy::cast_precision_loss,
    clippy::unwrap_used
)]

use std::time::Instant;

use handover_code::store::sqlite::{Durability, SqliteStore};
use handover_code::{
    BookingId, Context, Digits, KeyId, Keyring, Policy, Secret, Service, Store, Timestamp,
};

const NOW: Timestamp = Timestamp(1_000_000);
const UNTIL: Timestamp = Timestamp(2_000_000);

fn report(what: &str, per_sec: f64, target: f64) {
    let verdict = if per_sec >= target { "met" } else { "MISSED" };
    println!("{what}: {per_sec:.0} verifications/s (target >= {target:.0}): {verdict}");
}

/// Issues `n` bookings (untimed), then times verifying each once, in one thread.
fn run<S: Store>(service: &Service<'_>, store: &S, n: u32) -> f64 {
    let items: Vec<(String, String)> = (0..n)
        .map(|i| {
            let id = format!("SLOT-{i:08}");
            let code = service
                .issue(store, BookingId::new(&id).unwrap(), UNTIL, NOW)
                .unwrap();
            let typed = if i % 2 == 0 {
                code.expose().to_owned()
            } else {
                format!(
                    "{:04}",
                    (code.expose().parse::<u32>().unwrap() + 1) % 10_000
                )
            };
            (id, typed)
        })
        .collect();
    let start = Instant::now();
    for (id, typed) in &items {
        service
            .verify(
                store,
                BookingId::new(id.as_str()).unwrap(),
                typed,
                None,
                NOW,
            )
            .unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32])?);
    let service = Service::new(
        &keys,
        Policy::new(Digits::Four),
        Context::new("cowin/dose")?,
    );
    let dir = std::env::temp_dir().join(format!("handover-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (durability, n, target) in [
        (Durability::Normal, 50_000, 25_000.0),
        (Durability::Full, 5_000, 3_000.0),
    ] {
        let best = (0..3)
            .map(|run_no| {
                let store =
                    SqliteStore::open(dir.join(format!("{durability:?}-{run_no}.db")), durability)
                        .unwrap();
                run(&service, &store, n)
            })
            .fold(0.0f64, f64::max);
        report(
            &format!("SQLite, WAL, synchronous {durability:?}, one process, best of 3"),
            best,
            target,
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
