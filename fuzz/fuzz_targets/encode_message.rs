//! Message encoding: never a panic, and a decoder written from SPEC.md alone recovers the
//! exact fields from the bytes. A round trip through an exact decoder proves the encoding
//! injective: two field tuples with the same bytes would decode to the same tuple.
#![no_main]

use handover_code::derive::{self, MESSAGE_MAX_LEN, MESSAGE_TAG};
use handover_code::{BookingId, Context, Digits};
use libfuzzer_sys::fuzz_target;

/// The fields of a message, read back by SPEC.md's layout; `None` if the bytes are not one.
fn decode(bytes: &[u8]) -> Option<(&[u8], &[u8], u32, u8)> {
    let rest = bytes.strip_prefix(MESSAGE_TAG.as_slice())?;
    let (&ctx_len, rest) = rest.split_first()?;
    let (ctx, rest) = rest.split_at_checked(usize::from(ctx_len))?;
    let (&id_len, rest) = rest.split_first()?;
    let (id, rest) = rest.split_at_checked(usize::from(id_len))?;
    let (generation, rest) = rest.split_first_chunk::<4>()?;
    let (&digits, rest) = rest.split_first()?;
    rest.is_empty()
        .then_some((ctx, id, u32::from_be_bytes(*generation), digits))
}

fuzz_target!(|data: (&[u8], &[u8], u32, u8)| {
    let (ctx, id, generation, selector) = data;
    let digits = [Digits::Four, Digits::Five, Digits::Six][usize::from(selector % 3)];
    let (Ok(context), Ok(booking)) = (Context::new(ctx), BookingId::new(id)) else {
        // Out-of-range fields are refused by length alone.
        assert!(
            ctx.is_empty()
                || ctx.len() > Context::MAX_LEN
                || id.is_empty()
                || id.len() > BookingId::MAX_LEN
        );
        return;
    };
    let msg = derive::message(context, booking, generation, digits);
    assert!(msg.as_ref().len() <= MESSAGE_MAX_LEN);
    let decoded = decode(msg.as_ref()).expect("every message decodes");
    assert_eq!(decoded, (ctx, id, generation, digits.count()));
});
