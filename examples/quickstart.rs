//! The whole flow on the in-memory store: issue a code, resend it, verify wrong and right
//! guesses typed in different scripts, and watch a spraying verifier get suspended.
//!
//! `cargo run --example quickstart`

use handover_code::{
    BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy, Secret, Service, Timestamp,
    VerifierId,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real service loads its secret from a secret manager; this one is fixed so the
    // example prints the same codes every time.
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32])?);
    let policy = Policy::new(Digits::Four).with_verifier_budget(3, 86_400)?;
    let service = Service::new(&keys, policy, Context::new("cowin/dose")?);
    let store = MemoryStore::new();
    let now = Timestamp(1_623_000_000);
    let until = Timestamp(now.0 + 86_400);

    let booking = BookingId::new("SLOT-2021-000123")?;
    let code = service.issue(&store, booking, until, now)?;
    println!(
        "issued  SLOT-2021-000123: security code {} (sent by SMS)",
        code.expose()
    );
    println!(
        "resent  SLOT-2021-000123: {}",
        service.resend(&store, booking, now)?.expose()
    );

    let vaccinator = VerifierId::new("vaccinator-17")?;
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
        match service.verify(&store, booking, typed, Some(vaccinator), now) {
            Ok(outcome) => println!("typed {typed:>14?}: {outcome:?}"),
            Err(e) => println!("typed {typed:>14?}: error: {e}"),
        }
    }

    // A dishonest verifier tries one guess at each of five other bookings.
    let eve = VerifierId::new("eve")?;
    for i in 0..5 {
        let name = format!("SLOT-2021-{:06}", 200 + i);
        let other = BookingId::new(&name)?;
        service.issue(&store, other, until, now)?;
        let outcome = service.verify(&store, other, "0000", Some(eve), now)?;
        println!("eve guesses 0000 at {name}: {outcome:?}");
    }
    Ok(())
}
