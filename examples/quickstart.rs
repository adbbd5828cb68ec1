//! The whole flow on the in-memory store: issue a code, resend it, verify wrong and right
//! guesses typed in different scripts, and watch a spraying verifier get suspended.
//!
//! `cargo run --example quickstart`

use handover_code::{MemoryStore, Policy, Secret, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real service loads its secret from a secret manager (`Secret::from_hex`); this one
    // is fixed so the example prints the same codes every time.
    let secret = Secret::from_bytes(&[0x42; 32])?;
    let policy = Policy::default().with_verifier_budget(3, 86_400)?;
    let service = Service::new(secret, policy, "cowin/dose")?;
    let store = MemoryStore::new();
    let now = 1_623_000_000;
    let until = now + 86_400;

    let booking = "SLOT-2021-000123";
    let code = service.issue(&store, booking, until, now)?;
    println!(
        "issued  {booking}: security code {} (sent by SMS)",
        code.expose()
    );
    println!(
        "resent  {booking}: {}",
        service.resend(&store, booking, now)?.expose()
    );

    let devanagari: String = code
        .expose()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .filter_map(|d| char::from_u32(0x0966 + d))
        .collect();
    let wrong = if code.expose() == "1234" {
        "4321"
    } else {
        "1234"
    };
    for typed in [wrong, "12", devanagari.as_str(), code.expose()] {
        match service.verify(&store, booking, typed, "vaccinator-17", now) {
            Ok(outcome) => println!("typed {typed:>14?}: {outcome:?}"),
            Err(e) => println!("typed {typed:>14?}: error: {e}"),
        }
    }

    // A dishonest verifier tries one guess at each of five other bookings.
    for i in 0..5 {
        let other = format!("SLOT-2021-{:06}", 200 + i);
        service.issue(&store, &other, until, now)?;
        let outcome = service.verify(&store, &other, "0000", "eve", now)?;
        println!("eve guesses 0000 at {other}: {outcome:?}");
    }
    Ok(())
}
