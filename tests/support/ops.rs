//! The proptest strategy for model operation sequences, shared by the stores' test files.

use handover_code::conformance::model::{Fault, Guess, Op};
use proptest::prelude::*;

fn guess() -> impl Strategy<Value = Guess> {
    prop_oneof![
        3 => Just(Guess::Right),
        4 => any::<u16>().prop_map(Guess::Wrong),
        1 => Just(Guess::Old),
        1 => Just(Guess::Malformed),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![Just(0u16), 1u16..400];
    let fault = prop_oneof![
        Just(Fault::LoadError),
        Just(Fault::SwapError),
        Just(Fault::SpuriousConflict),
        (0u8..5, any::<bool>()).prop_map(|(at, lands)| Fault::Cut { at, lands }),
    ];
    let service = 0u8..4;
    prop_oneof![
        2 => (service.clone(), any::<u8>(), ttl.clone())
            .prop_map(|(service, booking, ttl)| Op::Issue { service, booking, ttl }),
        1 => (service.clone(), any::<u8>()).prop_map(|(service, booking)| Op::Resend { service, booking }),
        1 => (service.clone(), any::<u8>(), ttl)
            .prop_map(|(service, booking, ttl)| Op::Reissue { service, booking, ttl }),
        1 => (service.clone(), any::<u8>()).prop_map(|(service, booking)| Op::Revoke { service, booking }),
        8 => (
            service.clone(),
            any::<u8>(),
            guess(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(0u8..4),
        )
            .prop_map(|(service, booking, guess, verifier, request)| Op::Verify {
                service,
                booking,
                guess,
                verifier,
                request,
            }),
        2 => (-150i16..300).prop_map(|seconds| Op::Time { seconds }),
        1 => (0u16..400).prop_map(|age| Op::Prune { age }),
        1 => (service.clone(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(service, booking, actor, reason)| Op::Override { service, booking, actor, reason }),
        1 => fault.prop_map(Op::Arm),
    ]
}
