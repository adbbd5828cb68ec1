//! Typed input: never a panic; the output is exactly d ASCII digits or a `Malformed` error;
//! normalising the output again gives the same code.
#![no_main]

use handover_code::{Digits, Error, input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (u8, &str)| {
    let (selector, typed) = data;
    let digits = [Digits::Four, Digits::Five, Digits::Six][usize::from(selector % 3)];
    match input::normalize(typed, digits) {
        Ok(code) => {
            let text = code.expose();
            assert_eq!(text.len(), usize::from(digits.count()));
            assert!(text.bytes().all(|b| b.is_ascii_digit()));
            let again = input::normalize(text, digits).expect("a normalised code reads again");
            assert!(again == code, "normalising is idempotent");
        }
        Err(Error::Malformed(_)) => {}
        Err(other) => panic!("typed input gave a non-input error: {other:?}"),
    }
});
