//! Derives the code for a booking, as the issuing service does before sending the SMS.
//!
//! `cargo run --example quickstart`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::std_instead_of_core
)]

use handover_code::{BookingId, Context, Digits, Secret, derive::derive, input};

fn main() -> Result<(), handover_code::Error> {
    // A real service loads its secret from a secret manager; this one is fixed so the
    // example prints the same code every time.
    let secret = Secret::from_bytes(&[0x42; 32])?;
    let context = Context::new("cowin/dose")?;
    let booking = BookingId::new("SLOT-2021-000123")?;

    let code = derive(&secret, context, booking, 0, Digits::Four);
    println!(
        "booking SLOT-2021-000123, generation 0: security code {}",
        code.expose()
    );

    // What the vaccinator types, in Devanagari digits with a space, reads as the same code.
    let typed: String = code
        .expose()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .filter_map(|d| char::from_u32(0x0966 + d))
        .collect();
    let typed = format!("{} {}", &typed[..6], &typed[6..]);
    let read = input::normalize(&typed, Digits::Four)?;
    println!("typed {typed:?} reads as the code: {}", read == code);
    Ok(())
}
