//! Known answers: every test vector in SPEC.md, which an independent Python implementation
//! (`scripts/spec_vectors.py`) produced, checked against the crate: the derivation vectors,
//! the typed-input vectors, and SPEC.md's tables of the characters typed input drops and the
//! digits it reads.

use handover_code::derive::{derive, message};
use handover_code::input::{self, MAX_INPUT_LEN};
use handover_code::{BookingId, Context, Digits, Malformed, Secret};

/// The error type of `input::normalize`: the one line that names it.
type NormalizeError = handover_code::Error;

/// Why `input::normalize` refused an input.
fn why(e: NormalizeError) -> Malformed {
    match e {
        NormalizeError::Malformed(why) => why,
        other => panic!("normalize refused an input with {other:?}, not a reason about it"),
    }
}

const SPEC: &str = include_str!("../SPEC.md");

/// The text SPEC.md holds between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn section(name: &str) -> &'static str {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let start = SPEC
        .find(&begin)
        .unwrap_or_else(|| panic!("SPEC.md has no {begin}"))
        + begin.len();
    let stop = SPEC
        .find(&end)
        .unwrap_or_else(|| panic!("SPEC.md has no {end}"));
    &SPEC[start..stop]
}

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
    let mut vectors: Vec<Vector> = Vec::new();
    for line in section("vectors").lines() {
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
        let message = message(context, booking, v.generation, digits);
        assert_eq!(
            message.as_ref(),
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

/// One typed-input vector as SPEC.md writes it.
struct Typed {
    name: String,
    digits: Digits,
    typed: String,
    answer: Result<String, Malformed>,
}

/// A code point as SPEC.md writes it: `U+` and hex digits.
fn code_point(s: &str) -> char {
    let hex = s
        .strip_prefix("U+")
        .unwrap_or_else(|| panic!("{s} is not a code point"));
    char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap()
}

fn malformed(name: &str) -> Malformed {
    match name {
        "Empty" => Malformed::Empty,
        "TooLong" => Malformed::TooLong,
        "WrongLength" => Malformed::WrongLength,
        "NotADigit" => Malformed::NotADigit,
        other => panic!("SPEC.md names an unknown error {other}"),
    }
}

fn typed_vectors() -> Vec<Typed> {
    let mut vectors = Vec::new();
    let mut name = String::new();
    for line in section("typed-input-vectors").lines() {
        if let Some(note) = line.strip_prefix("# ") {
            note.clone_into(&mut name);
            continue;
        }
        if line.is_empty() || line.starts_with("```") {
            continue;
        }
        let mut fields = line.split_whitespace();
        let count: u8 = fields.next().unwrap().parse().unwrap();
        let answer = fields.next().expect("an answer after the digit count");
        vectors.push(Typed {
            name: name.clone(),
            digits: Digits::from_count(count).unwrap(),
            typed: fields.map(code_point).collect(),
            answer: if answer.bytes().all(|b| b.is_ascii_digit()) {
                Ok(answer.to_owned())
            } else {
                Err(malformed(answer))
            },
        });
    }
    vectors
}

/// What `input::normalize` answers, as the vectors write it.
fn read(typed: &str, digits: Digits) -> Result<String, Malformed> {
    input::normalize(typed, digits)
        .map(|code| code.expose().to_owned())
        .map_err(why)
}

#[test]
fn spec_typed_input_vectors_match() {
    let vectors = typed_vectors();
    assert!(
        vectors.len() >= 100,
        "SPEC.md must list its typed-input vectors"
    );
    for v in &vectors {
        assert_eq!(read(&v.typed, v.digits), v.answer, "{}", v.name);
    }
}

/// SPEC.md's tables: the code point of each script's zero, and the characters dropped.
fn spec_tables() -> (Vec<char>, Vec<char>) {
    let (mut zeros, mut dropped) = (Vec::new(), Vec::new());
    for line in section("typed-input-table").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, first, second, .., bytes, _] = cells[..] else {
            continue;
        };
        let (c, n) = if first.starts_with("U+") {
            dropped.push(code_point(first));
            (code_point(first), 1)
        } else if let Some((zero, nine)) = second
            .split_once(" to ")
            .filter(|_| second.starts_with("U+"))
        {
            let (zero, nine) = (code_point(zero), code_point(nine));
            assert_eq!(u32::from(nine) - u32::from(zero), 9, "{line}");
            zeros.push(zero);
            (zero, 10)
        } else {
            continue;
        };
        let width: usize = bytes.parse().unwrap();
        for d in 0..n {
            let c = char::from_u32(u32::from(c) + d).unwrap();
            assert_eq!(c.len_utf8(), width, "{line}");
        }
    }
    assert!(!zeros.is_empty(), "SPEC.md's table of scripts");
    assert!(!dropped.is_empty(), "SPEC.md's table of dropped characters");
    (zeros, dropped)
}

#[test]
fn spec_tables_are_exactly_what_the_crate_reads() {
    let (zeros, dropped) = spec_tables();
    let mut typed = String::new();
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        let value = zeros.iter().find_map(|&zero| {
            let d = u32::from(c).checked_sub(u32::from(zero))?;
            u8::try_from(d).ok().filter(|&d| d < 10)
        });
        assert_eq!(input::digit_value(c), value, "U+{:04X}", u32::from(c));
        // Between the second and third of four digits: dropped, a fifth digit, or refused.
        let want = if dropped.contains(&c) {
            Ok("0427".to_owned())
        } else if value.is_some() {
            Err(Malformed::WrongLength)
        } else {
            Err(Malformed::NotADigit)
        };
        typed.clear();
        typed.extend(['0', '4', c, '2', '7']);
        assert_eq!(read(&typed, Digits::Four), want, "U+{:04X}", u32::from(c));
    }
}

#[test]
fn spec_typed_input_vectors_cover_what_the_spec_promises() {
    let vectors = typed_vectors();
    let (zeros, dropped) = spec_tables();
    let read_in = |c: char| {
        vectors
            .iter()
            .any(|v| v.answer.is_ok() && v.typed.contains(c))
    };
    for zero in zeros {
        for d in 0..10 {
            let c = char::from_u32(u32::from(zero) + d).unwrap();
            assert!(read_in(c), "no vector reads U+{:04X}", u32::from(c));
        }
    }
    for c in dropped {
        assert!(read_in(c), "no vector drops U+{:04X}", u32::from(c));
    }
    for why in [
        Malformed::Empty,
        Malformed::TooLong,
        Malformed::WrongLength,
        Malformed::NotADigit,
    ] {
        assert!(vectors.iter().any(|v| v.answer == Err(why)), "no {why:?}");
    }
    for len in [MAX_INPUT_LEN, MAX_INPUT_LEN + 1] {
        assert!(
            vectors.iter().any(|v| v.typed.len() == len),
            "no {len}-byte input"
        );
    }
    assert!(
        vectors
            .iter()
            .any(|v| v.typed.contains('\u{2015}') && v.answer == Err(Malformed::NotADigit)),
        "U+2015 HORIZONTAL BAR is refused"
    );
}

/// The fuzz targets' seed corpora (`fuzz/seeds`, written by `scripts/fuzz_seeds.py`) are
/// SPEC.md's vectors, as `arbitrary` reads them: every seed decodes to the vector it was
/// made from, so the short fuzz runs in CI start from meaningful inputs.
#[cfg(feature = "arbitrary")]
#[test]
fn fuzz_seeds_are_the_spec_vectors() {
    use arbitrary::{Arbitrary, Unstructured};
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let read = |path: std::path::PathBuf| {
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let selector = |d: u8| [Digits::Four, Digits::Five, Digits::Six][usize::from(d % 3)];
    let typed = typed_vectors();
    assert!(!typed.is_empty());
    for (i, vector) in typed.iter().enumerate() {
        let bytes = read(seeds.join(format!("normalize_input/typed-{i:03}")));
        let (d, text) = <(u8, &str)>::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(
            (selector(d), text),
            (vector.digits, vector.typed.as_str()),
            "{}",
            vector.name
        );
    }
    let vectors = spec_vectors();
    assert!(!vectors.is_empty());
    for (i, v) in vectors.iter().enumerate() {
        let bytes = read(seeds.join(format!("encode_message/vector-{:02}", i + 1)));
        let (context, booking, generation, d) =
            <(&[u8], &[u8], u32, u8)>::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(
            (context, booking, generation, selector(d).count()),
            (
                v.context.as_slice(),
                v.booking.as_slice(),
                v.generation,
                v.digits
            ),
            "{}",
            v.name
        );
    }
}
