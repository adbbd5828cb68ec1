//! Nothing secret is ever printed: not key bytes, not a code's digits.

use handover_code::Attempt;
use handover_code::derive::derive;
use handover_code::{BookingId, Context, Digits, Error, KeyId, Keyring, Secret, input};

/// A key whose bytes are easy to spot in any rendering: as hex, as decimal, as text.
const SENTINEL: [u8; 32] = *b"SENTINEL-KEY-0123456789abcdefXYZ";

fn renderings_of_key() -> Vec<String> {
    let hex: String = SENTINEL.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        "SENTINEL".to_owned(),
        hex[..16].to_owned(),
        format!("{:?}", &SENTINEL[..4]), // [83, 69, 78, 84]
        "83, 69, 78".to_owned(),
    ]
}

fn assert_clean(what: &str, rendered: &str, code: &str) {
    for needle in renderings_of_key() {
        assert!(
            !rendered.contains(&needle),
            "{what} shows key bytes: {rendered}"
        );
    }
    assert!(
        !rendered.contains(code),
        "{what} shows the code {code}: {rendered}"
    );
}

#[test]
fn debug_output_carries_no_key_and_no_code() {
    let secret = Secret::from_bytes(&SENTINEL).unwrap();
    let ctx = Context::new("cowin/dose").unwrap();
    for (i, d) in [Digits::Four, Digits::Five, Digits::Six]
        .into_iter()
        .enumerate()
    {
        // A redacted rendering holds one digit at most (the length), never a 4-digit run.
        let id = format!("SLOT-{i}");
        let code = derive(&secret, ctx, BookingId::new(&id).unwrap(), 0, d);
        let digits = code.expose().to_owned();
        assert_clean("Code", &format!("{code:?}"), &digits);
        assert_clean("Code (pretty)", &format!("{code:#?}"), &digits);
        let typed = input::normalize(&digits, d).unwrap();
        assert_clean("typed Code", &format!("{typed:?}"), &digits);
        assert_clean("Secret", &format!("{secret:?}"), &digits);
    }
    let keyring: Keyring = Keyring::new(KeyId(7), Secret::from_bytes(&SENTINEL).unwrap());
    let rendered = format!("{keyring:?}");
    assert_clean("Keyring", &rendered, "never-a-code");
    assert!(
        rendered.contains("KeyId(7)"),
        "a keyring shows its ids: {rendered}"
    );
}

#[test]
fn errors_about_typed_input_never_echo_it() {
    for typed in ["12345", "98a7", "", "4242424242"] {
        let err = input::normalize(typed, Digits::Four).unwrap_err();
        for rendered in [format!("{err}"), format!("{err:?}")] {
            assert!(
                typed.is_empty() || !rendered.contains(typed),
                "{rendered} echoes {typed}"
            );
        }
        assert!(matches!(err, Error::Malformed(_)));
    }
}

#[test]
fn outcomes_and_operation_errors_carry_no_code() {
    use handover_code::{MemoryStore, Outcome, Policy, Service, Timestamp, VerifierId};
    let keys: std::sync::Arc<Keyring> =
        Keyring::new(KeyId(1), Secret::from_bytes(&SENTINEL).unwrap()).into();
    let policy = Policy::new(Digits::Six)
        .with_verifier_budget(1, 60)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "post/parcel").unwrap();
    let store = MemoryStore::new();
    let id = BookingId::new("EE123456789IN").unwrap();
    let code = service
        .issue(&store, id, Timestamp(100), Timestamp(1))
        .unwrap();
    let digits = code.expose().to_owned();
    let wrong: String = digits.chars().rev().collect::<String>() + "";
    let verifier = VerifierId::new("postman-7").unwrap();
    let mut rendered = vec![format!("{service:?}"), format!("{store:?}")];
    for typed in [wrong.as_str(), "12-34-5x", &digits, &digits] {
        match service.verify(&store, id, typed, Some(verifier), Timestamp(2)) {
            Ok(outcome) => rendered.push(format!("{outcome:?}")),
            Err(e) => rendered.extend([format!("{e}"), format!("{e:?}")]),
        }
    }
    let fresh = BookingId::new("EE000000001IN").unwrap();
    service
        .issue(&store, fresh, Timestamp(100), Timestamp(10))
        .unwrap();
    // Further before the issue time than the policy's clock-skew tolerance (5 s).
    let clock = service.verify(&store, fresh, &digits, None, Timestamp(0));
    service.revoke(&store, id, Timestamp(2)).unwrap();
    for e in [
        service
            .issue(&store, id, Timestamp(100), Timestamp(1))
            .unwrap_err(),
        service.resend(&store, id, Timestamp(2)).unwrap_err(),
        clock.map(|_: Outcome| ()).unwrap_err(),
    ] {
        rendered.extend([format!("{e}"), format!("{e:?}")]);
    }
    for r in &rendered {
        assert_clean("operation output", r, &digits);
    }
}

#[test]
fn plans_records_replays_and_send_refusals_carry_no_code() {
    use handover_code::{MemoryStore, Policy, RequestId, Service, Timestamp, VerifierId};
    let keys: std::sync::Arc<Keyring> =
        Keyring::new(KeyId(1), Secret::from_bytes(&SENTINEL).unwrap()).into();
    let policy = Policy::new(Digits::Six)
        .with_verifier_budget(3, 60)
        .unwrap()
        .with_send_limit(1, 60)
        .unwrap();
    let context = Context::new("post/parcel").unwrap();
    let service = Service::new(keys.clone(), policy, context).unwrap();
    let store = MemoryStore::new();
    let id = BookingId::new("EE123456789IN").unwrap();
    let code = service
        .issue(&store, id, Timestamp(100), Timestamp(1))
        .unwrap();
    let digits = code.expose().to_owned();
    let (verifier, request) = (
        Some(VerifierId::new("postman-7").unwrap()),
        RequestId::new("req-1").unwrap(),
    );
    let mut rendered = Vec::new();
    for _ in 0..2 {
        let answer = service.verify(
            &store,
            id,
            &digits,
            Attempt::from(verifier).request(&request),
            Timestamp(2),
        );
        rendered.push(format!("{:?}", answer.unwrap()));
    }
    rendered.push(format!("{:?}", service.booking(&store, id).unwrap()));
    let other = BookingId::new("EE000000002IN").unwrap();
    service
        .issue(&store, other, Timestamp(100), Timestamp(1))
        .unwrap();
    let refused = service.resend(&store, other, Timestamp(3)).unwrap_err();
    assert!(matches!(
        refused,
        handover_code::Error::SendLimit { retry_at } if retry_at == Timestamp(61)
    ));
    rendered.extend([format!("{refused}"), format!("{refused:?}")]);
    for r in &rendered {
        assert_clean("plan, record or answer", r, &digits);
    }
}
