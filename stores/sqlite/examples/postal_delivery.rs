//! The India Post delivery-OTP flow, on the embedded SQLite store.
//!
//! `cargo run -p handover-code-sqlite --example postal_delivery`
//!
//! A Speed Post parcel is booked and its 6-digit OTP sent to the addressee. The SMS is lost
//! and resent (the same code). The first delivery attempt fails (nobody home); the next day
//! the parcel is re-issued with a new code, the old one dead. At the door the postman's
//! device takes a mistyped OTP, then the right one: delivered, exactly once. A second parcel
//! is returned to sender and revoked. A third addressee's phone is dead: the post office
//! inspector hands it over by the audited override, after checking an ID.
//!
//! Weeks later the first addressee disputes the delivery. The answer comes from the audit
//! log the store wrote in the same transactions as the records: every send, every OTP typed
//! at the door, by which device and when, and the redemption.
//!
//! On an async store (`AsyncSqliteStore`, `PostgresStore`) the same calls take the `_async` form.

use handover_code::audit::{Action, Override, Reason};
use handover_code::store::{AuditEntry, AuditLog};
use handover_code::{
    ActorId, BookingId, Digits, Key, KeyId, Keyring, Policy, Secret, Service, Timestamp, VerifierId,
};
use handover_code_sqlite::{Durability, SqliteStore};

/// One audit entry as a line of the dispute's answer, its time from the booking.
fn line(e: &AuditEntry, booked: Timestamp) -> String {
    let since = e.at.0.saturating_sub(booked.0);
    let when = format!(
        "day {} {:02}:{:02}",
        since / 86_400,
        since / 3_600 % 24,
        since / 60 % 60
    );
    let who = match (&e.verifier, &e.actor) {
        (Some(v), _) => format!(" by {}", AuditEntry::text(v)),
        (_, Some(a)) => format!(" by {} (override)", AuditEntry::text(a)),
        _ => String::new(),
    };
    let what = match e.action {
        Action::Issued { .. } => "booked; OTP sent".to_owned(),
        Action::Resent { .. } => "OTP sent again".to_owned(),
        Action::Reissued { .. } => "re-issued; new OTP sent, the old one dead".to_owned(),
        Action::Rejected { attempts_left } => {
            format!("a wrong OTP typed ({attempts_left} tries left)")
        }
        Action::Accepted => "the right OTP typed: delivered".to_owned(),
        Action::Overridden { reason } => format!("handed over without an OTP ({})", reason.name()),
        other => other.name().to_owned(),
    };
    let note = if e.note.is_empty() {
        String::new()
    } else {
        format!(": \"{}\"", e.note)
    };
    format!("  {when}  {what}{who}{note}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("postal-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(dir.join("post.db"), Durability::Full)?;
    let keys: std::sync::Arc<Keyring> = Keyring::new(
        KeyId(2026),
        Secret::from_bytes(b"india post demo key: load yours from a vault")?,
    )
    .into();
    // Six digits, as India Post sends; 5 tries at the door, 15 over the parcel's life.
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)?
        .with_verifier_budget(20, 86_400)?;
    let service = Service::new(keys.clone(), policy, "post/parcel")?;
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

    // A third parcel: the addressee's phone is dead. The inspector checks an ID and hands
    // it over by the override, which is audited like any handover.
    let counter = BookingId::new("EE555000111IN")?;
    service.issue(&store, counter, Timestamp(booked.0 + 2 * day), booked)?;
    let inspector = ActorId::new("inspector-PIN110001")?;
    let why = Override::new(
        inspector,
        Reason::CannotAccess,
        "phone dead; Aadhaar checked at the door",
    )?;
    service.overrule(&store, counter, why, at_door)?;
    println!(
        "EE555000111IN handed over by the inspector; a code typed now: {:?}",
        service.verify(&store, counter, "000000", Some(postman), at_door)?
    );

    // Weeks later: "I never got EE123456789IN." The audit log answers.
    println!(
        "\ndispute: the addressee of EE123456789IN says it was never delivered. The audit log:"
    );
    let trail = store.history(Key::Booking {
        context: service.context(),
        id: parcel,
    })?;
    for entry in &trail {
        println!("{}", line(entry, booked));
    }
    let delivered = trail.iter().find(|e| e.action == Action::Accepted);
    match delivered {
        Some(e) => println!(
            "answer: delivered on day {} by {}, after the OTP sent to the addressee's phone was typed at the door",
            (e.at.0 - booked.0) / day,
            e.verifier
                .as_deref()
                .map(AuditEntry::text)
                .unwrap_or_default()
        ),
        None => println!("answer: no delivery on record"),
    }
    println!("\nand EE555000111IN, for the inspector's review of overrides:");
    for entry in store.history(Key::Booking {
        context: service.context(),
        id: counter,
    })? {
        println!("{}", line(&entry, booked));
    }

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
