//! Known answers: every test vector in SPEC.md, which an independent Python implementation
//! (`scripts/spec_vectors.py`) produced, checked against the crate.

use handover_code::derive::{Message, derive};
use handover_code::{BookingId, Context, Digits, Secret};

const SPEC: &str = include_str!("../SPEC.md");

/// One vector as SPEC.md writes it.
#[derive(Default)]
struct Vector {
    name: String,
    key: Vec<u8>,
    context: Vec<u8>,
    booking: Vec<u8>,
    generation: u32,
    digits: u8,
    message: Vec<u8>,
    code: String,
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn spec_vectors() -> Vec<Vector> {
    let begin = SPEC
        .find("<!-- vectors:begin -->")
        .expect("SPEC.md has a vectors section");
    let end = SPEC
        .find("<!-- vectors:end -->")
        .expect("SPEC.md closes its vectors section");
    let mut vectors: Vec<Vector> = Vec::new();
    for line in SPEC[begin..end].lines() {
        if let Some(name) = line.strip_prefix("# ") {
            vectors.push(Vector {
                name: name.to_owned(),
                ..Vector::default()
            });
            continue;
        }
        let Some((field, value)) = line.split_once(" = ") else {
            continue;
        };
        let v = vectors.last_mut().expect("a field before the first vector");
        match field.trim() {
            "key" => v.key = hex(value),
            "context" => v.context = hex(value),
            "booking" => v.booking = hex(value),
            "generation" => v.generation = value.parse().unwrap(),
            "digits" => v.digits = value.parse().unwrap(),
            "message" => v.message = hex(value),
            "code" => v.code = value.to_owned(),
            "mac" => {}
            other => panic!("unknown field {other} in SPEC.md"),
        }
    }
    vectors
}

#[test]
fn spec_vectors_match() {
    let vectors = spec_vectors();
    assert!(vectors.len() >= 16, "SPEC.md must list at least 16 vectors");
    for (index, v) in vectors.iter().enumerate() {
        let context = Context::new(&v.context).unwrap();
        let booking = BookingId::new(&v.booking).unwrap();
        let digits = Digits::from_count(v.digits).unwrap();
        let secret = Secret::from_bytes(&v.key).unwrap();
        let message = Message::new(context, booking, v.generation, digits);
        assert_eq!(
            message.as_bytes(),
            v.message,
            "vector {} ({}): message",
            index + 1,
            v.name
        );
        let code = derive(&secret, context, booking, v.generation, digits);
        assert_eq!(
            code.expose(),
            v.code,
            "vector {} ({}): code",
            index + 1,
            v.name
        );
    }
}

#[test]
fn spec_vectors_cover_what_the_spec_promises() {
    let vectors = spec_vectors();
    for d in [4, 5, 6] {
        assert!(vectors.iter().any(|v| v.digits == d), "no {d}-digit vector");
    }
    assert!(
        vectors.iter().any(|v| v.code.starts_with('0')),
        "no code with a leading zero"
    );
    assert!(
        vectors
            .iter()
            .any(|v| v.booking.len() == BookingId::MAX_LEN)
    );
    assert!(vectors.iter().any(|v| v.context.len() == Context::MAX_LEN));
    assert!(
        vectors
            .iter()
            .any(|v| v.booking.contains(&0) && v.context.contains(&0))
    );
    assert!(
        vectors
            .iter()
            .any(|v| std::str::from_utf8(&v.booking).is_ok_and(|s| !s.is_ascii()))
    );
    assert!(vectors.iter().any(|v| v.generation == 0));
    assert!(vectors.iter().any(|v| v.generation == u32::MAX));
    assert!(
        vectors.iter().any(|v| v.key.len() > 64),
        "no key that HMAC hashes first"
    );
    // SHA-256's padding edges: the last partial block of the message holds 55 bytes (the
    // padding fits) or 56 (it takes another block), after 0, 1 and 2 full blocks.
    for len in [55, 56, 119, 120, 183, 184] {
        assert!(
            vectors.iter().any(|v| v.message.len() == len),
            "no {len}-byte message"
        );
    }
    for len in [Secret::MIN_LEN, 33, 63, 64, 65, Secret::MAX_LEN] {
        assert!(
            vectors.iter().any(|v| v.key.len() == len),
            "no {len}-byte key"
        );
    }
}
