//! Verifications per second on Redis, against the target the issues set.
//!
//! `cargo run --release -p handover-code-redis --example throughput`
//!
//! Starts a throwaway `redis-server` (append-only file, on 127.0.0.1) as the tests do, and
//! measures 8 concurrent clients, each verification a read and a compare-and-swap write:
//! half right codes (redeeming), half wrong (counting a failure). Needs `redis-server`.

use handover_code::{Digits, KeyId, Keyring, Policy, Secret, Service};
use handover_code_redis::RedisStore;

#[path = "../../../tests/support/rates.rs"]
#[allow(dead_code, unreachable_pub)]
mod rates;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod scratch;

#[path = "../../../tests/support/redis_server.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::panic,
    clippy::unwrap_used,
    clippy::all
)]
mod redis_server;

use rates::{concurrent_rate, report};

/// Verifications per second on one Redis server with 8 concurrent clients, best of 3, at
/// `appendfsync everysec`, and at `always` for the cost of never losing an answer; on a
/// current-thread runtime (on a 2-core machine the server needs the other core).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32])?);
    let service = Service::new(keys, Policy::new(Digits::Four), "cowin/dose")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for (fsync, target) in [("everysec", 15_000.0), ("always", 0.0)] {
        let Some(server) = redis_server::Server::start(fsync) else {
            return Ok(());
        };
        let store = rt.block_on(RedisStore::connect(
            &server.url(),
            std::time::Duration::from_secs(5),
        ))?;
        let best = (0..3)
            .map(|run_no| concurrent_rate(&rt, &service, &store, 8, &format!("R{run_no}")))
            .fold(0.0f64, f64::max);
        let what = format!("Redis, 8 concurrent clients, appendfsync {fsync}, best of 3");
        if target > 0.0 {
            report(&what, best, target);
        } else {
            println!("{what}: {best:.0} verifications/s (no target)");
        }
    }
    Ok(())
}
