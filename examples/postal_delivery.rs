//! The India Post delivery-OTP flow, on the embedded SQLite store.
//!
//! `cargo run --example postal_delivery --features sqlite`
//!
//! A Speed Post parcel is booked and its 6-digit OTP sent to the addressee. The SMS is lost
//! and resent (the same code). The first delivery attempt fails (nobody home); the next day
//! the parcel is re-issued with a new code, the old one dead. At the door the postman's
//! device takes a mistyped OTP, then the right one: delivered, exactly once. A second parcel
//! is returned to sender and revoked. With feature `postgres` the same calls take the
//! `_async` form on `PostgresStore`.

use handover_code::store::sqlite::{Durability, SqliteStore};
use handover_code::{
    BookingId, Context, Digits, KeyId, Keyring, Policy, Secret, Service, Timestamp, VerifierId,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("postal-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(dir.join("post.db"), Durability::Full)?;
    let keys: Keyring = Keyring::new(
        KeyId(2026),
        Secret::from_bytes(b"india post demo key: load yours from a vault")?,
    );
    // Six digits, as India Post sends; 5 tries at the door, 15 over the parcel's life.
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)?
        .with_verifier_budget(20, 86_400)?;
    let service = Service::new(&keys, policy, Context::new("post/parcel")?);
    let day = 86_400;
    let booked = Timestamp(1_700_000_000);

    let parcel = BookingId::new("EE123456789IN")?;
    let otp = service.issue(&store, parcel, Timestamp(booked.0 + 2 * day), booked)?;
    println!("booked EE123456789IN; OTP {} sent by SMS", otp.expose());
    let resent = service.resend(&store, parcel, Timestamp(booked.0 + 60))?;
    println!(
        "SMS lost; resent: {} (same code: {})",
        resent.expose(),
        resent == otp
    );

    // Day 1: nobody home. The delivery is rescheduled with a fresh code.
    let day2 = Timestamp(booked.0 + day);
    let otp2 = service.reissue(&store, parcel, Timestamp(day2.0 + 2 * day), day2)?;
    println!(
        "nobody home; re-issued for tomorrow: OTP {} sent",
        otp2.expose()
    );

    let postman = VerifierId::new("postman-PIN110001-07")?;
    let at_door = Timestamp(day2.0 + 3_600);
    println!(
        "at the door, the old OTP: {:?}",
        service.verify(&store, parcel, otp.expose(), Some(postman), at_door)?
    );
    let typo = format!("{:06}", (otp2.expose().parse::<u32>()? + 10) % 1_000_000);
    println!(
        "at the door, a typo:      {:?}",
        service.verify(&store, parcel, &typo, Some(postman), at_door)?
    );
    let spaced = format!("{} {}", &otp2.expose()[..3], &otp2.expose()[3..]);
    println!(
        "at the door, {spaced:?}:  {:?}",
        service.verify(&store, parcel, &spaced, Some(postman), at_door)?
    );
    println!(
        "handed over twice?        {:?}",
        service.verify(&store, parcel, otp2.expose(), Some(postman), at_door)?
    );

    let returned = BookingId::new("EE987654321IN")?;
    let code = service.issue(&store, returned, Timestamp(booked.0 + 2 * day), booked)?;
    service.revoke(&store, returned, booked)?;
    println!(
        "EE987654321IN returned to sender and revoked; its OTP now: {:?}",
        service.verify(&store, returned, code.expose(), Some(postman), at_door)?
    );

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
