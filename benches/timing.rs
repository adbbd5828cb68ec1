//! Timing leakage, by the dudect method (Reparaz, Balasch, Verbauwhede, "Dude, is my code
//! constant time?", 2017): many measurements of one operation on two classes of input, the
//! class of each measurement picked at random, then Welch's t-test between the two classes'
//! times. |t| above 4.5 is evidence of a leak; above 10 the method calls it a definite leak.
//!
//! `cargo bench --bench timing` runs the long version (2,000,000 measurements a pair) and
//! judges against 4.5; `cargo bench --bench timing -- --quick` (what CI runs) takes 400,000 a
//! pair and judges against 10. Either exits 1 when it finds a leak. `--leak NAME` puts one
//! of the deliberate leaks below in place of the real operation, to show the check finds it.
//!
//! # Why the verdict depends on the code, not on the machine
//!
//! An earlier version of this check failed three runs in four on an unchanged build, each
//! time on another pair, with the classes' means a tenth of a nanosecond apart (|t| up to
//! 23). The harness itself told the classes apart: each class's input lived at its own
//! address and was chosen by a branch inside the timed loop, and where two addresses fall
//! (4 KiB aliasing, cache sets, the heap against the stack) changes with every run's layout,
//! so a pair's |t| drifted from run to run. The method here takes out what is not the code,
//! then asks a leak to stand above the environment's own figure and to show itself twice:
//!
//! 1. **Shared slots, filled blind.** Each pair has 64 slots (buffers of different sizes, so
//!    spread over many pages); every measurement picks one at random, whatever its class,
//!    and fills it, outside the timed region, by reading both classes' inputs whole and
//!    keeping one by a mask. The timed loop reads only the slot. So both classes run the
//!    same instructions on the same spread of addresses and differ only in the values.
//! 2. **Warm calls.** Eight untimed calls precede each timed batch of 32, so what the fill
//!    left in the branch predictor and the store buffer (it branches on the text it checks
//!    and copies) is gone before the clock starts. Without them the Devanagari vs full-width
//!    pair reached |t| = 11 to 20 on an unchanged build.
//! 3. **Many short alternating blocks.** A run is cut into 40 blocks. In each block every
//!    pair, in an order shuffled per block, takes its share of measurements, each of a class
//!    drawn at random. So every pair, and the null pairs, see the whole run's weather (the
//!    other core's load, frequency steps) in the same proportions.
//! 4. **Cropping.** As dudect crops, measurements above the 95th percentile of a first pass
//!    (interrupts, migrations, taken in the same blocks) are left out.
//! 5. **A null pair per operation.** Its two classes are the same input, so any |t| it shows
//!    is the environment's. A pair's line is `max(ceiling, 3 × its null's |t|)`; a run whose
//!    null pair itself passes the ceiling is too noisy to judge and is measured again (five
//!    runs at most, then the check fails saying so: it cannot pass what it could not judge).
//! 6. **A leak repeats.** A pair above its line is measured again: it is a leak when it is
//!    above its line, the same way, in two runs of at most three. A difference in the code
//!    shows in every run; a burst of noise does not come back. (Splitting one run into
//!    halves and asking each to pass half the ceiling was tried first: under a heavy load
//!    on the other core a burst in one half hid the early-exit leak, |t| = 45 over the run,
//!    in one run of ten.) A clean first run ends the check at once, so it takes one run
//!    unless something is above a line.
//!
//! # What is compared: values and scripts, at equal byte lengths
//!
//! The secret is the issued code; what a verifier typed is theirs, and its length in bytes
//! is public (it is the request's size). Every judged pair of typed input therefore has the
//! same byte length in both classes and asks whether the *values* or the *scripts* change
//! the time: 0000 vs 9999, in ASCII and in Devanagari; Devanagari vs full-width (both three
//! bytes a digit, at the two ends of the table of scripts); and two bytes a digit
//! (Arabic-Indic) vs one and three (ASCII and Devanagari mixed), where a branch on the
//! UTF-8 length shows. Devanagari vs ASCII (12 bytes vs 4) differs in length: any reader
//! touches more memory for a longer input, and on this machine that shows as about 0.05 ns
//! of a 45 ns call in its quietest moments (|t| up to 30 in 400,000 measurements, in about
//! one run in four, and never when the machine is busy): a property of the input's public
//! length and of the machine's state, not a leak of a secret. So that pair is a leak only
//! when it is also more than 1% of a call apart (0.45 ns: ten times what the length costs;
//! the branch on the UTF-8 length costs 2.4 ns, ten times the floor).
//!
//! # It still finds a leak
//!
//! `--leak NAME` runs the same pairs with one deliberately leaky operation in place of the
//! real one, and must exit 1:
//!
//! - `early-exit`: the comparison of codes stops at the first digit that differs;
//! - `utf8-branch`: typed input decoded by `str::chars`, which branches on each character's
//!   UTF-8 length (the digit values still read in constant time);
//! - `search-tree`: each digit's script found by a `match` on code point ranges, which LLVM
//!   compiles into a search tree whose path depends on the script (the decode by `chars`, so
//!   the Devanagari vs full-width pair, both three-byte scripts, shows the tree alone).
//!
//! Each is judged a leak by the same rule as the real code: |t| in the hundreds or
//! thousands where the real operations stay within the null pairs' range.
//!
//! CI runs the real check and each deliberate leak on every run.
//!
//! Each measurement times a batch of calls (one call is shorter than the clock's
//! resolution).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use handover_code::{Code, Digits, input};

/// Calls per measurement.
const BATCH: u32 = 32;
/// Slots a pair's inputs are filled into, one picked at random for each measurement.
const SLOTS: usize = 64;
/// Untimed calls before each batch.
const WARM: u32 = 8;
/// Blocks a run is cut into; each pair takes a share of its measurements in every block.
const BLOCKS: u32 = 40;
/// How far above its null pair's |t| a pair must stand to be judged a leak.
const MARGIN: f64 = 3.0;
/// How far apart, as a fraction of a call, a length pair's classes must be to leak.
const LENGTH_FLOOR: f64 = 0.01;
/// A leak is a pair above its line, the same way, in this many judged runs...
const REPEATS: u32 = 2;
/// ...of at most this many.
const RUNS: u32 = 3;
/// Runs measured at most, those too noisy to judge included.
const MEASURED: u32 = 5;

/// A small, fast generator for the classes and the block order (not for secrets).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn class(&mut self) -> usize {
        usize::from(self.next() & 1 == 1)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Running mean and variance (Welford).
#[derive(Default, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    fn variance(&self) -> f64 {
        self.m2 / (self.n - 1.0)
    }
}

/// Welch's t between two classes.
fn welch(a: &Moments, b: &Moments) -> f64 {
    (a.mean - b.mean) / (a.variance() / a.n + b.variance() / b.n).sqrt()
}

/// An operation measured on two classes of input through slots that both classes share.
trait Subject {
    /// Copies class `class`'s input into slot number `place` (modulo the number of slots),
    /// outside the timed region.
    fn fill(&mut self, class: usize, place: usize);
    /// Nanoseconds for one batch of the operation on the slot last filled.
    fn time(&self) -> f64;
}

/// Both classes' inputs as text, the slot the operation reads, how a text becomes the slot,
/// and the operation.
struct Slotted<T> {
    texts: [[u8; input::MAX_INPUT_LEN]; 2],
    lens: [usize; 2],
    slots: Vec<T>,
    /// The slot last filled.
    at: usize,
    set: fn(&str, &mut T),
    op: fn(&T),
}

impl<T> Slotted<T> {
    /// `SLOTS` slots made by `make` (given each slot's number), each filled by `set`.
    fn new(texts: [&str; 2], make: impl Fn(usize) -> T, set: fn(&str, &mut T), op: fn(&T)) -> Self {
        let mut slots: Vec<T> = (0..SLOTS).map(make).collect();
        for slot in &mut slots {
            set(texts[0], slot);
        }
        Self {
            texts: texts.map(|text| {
                let mut bytes = [0; input::MAX_INPUT_LEN];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                bytes
            }),
            lens: texts.map(str::len),
            slots,
            at: 0,
            set,
            op,
        }
    }
}

impl<T> Subject for Slotted<T> {
    fn fill(&mut self, class: usize, place: usize) {
        // Both texts are read whole and one is kept by a mask, so the fill touches the same
        // memory, and leaves the same lines in the cache, whichever class it fills.
        let byte_mask = black_box(0u8.wrapping_sub(class as u8));
        let len_mask = black_box(0usize.wrapping_sub(class));
        let [a, b] = &self.texts;
        let mut text = [0u8; input::MAX_INPUT_LEN];
        for ((t, x), y) in text.iter_mut().zip(a).zip(b) {
            *t = x ^ ((x ^ y) & byte_mask);
        }
        let len = self.lens[0] ^ ((self.lens[0] ^ self.lens[1]) & len_mask);
        self.at = place % self.slots.len();
        let slot = &mut self.slots[self.at];
        (self.set)(std::str::from_utf8(&text[..len]).unwrap(), slot);
    }

    fn time(&self) -> f64 {
        let (op, slot) = (self.op, &self.slots[self.at]);
        // Calls untimed first: the fill's own branches (validating the text, copying it)
        // differ by class and would otherwise still steer the branch predictor for the
        // batch's first calls; after these, its history is the operation's own.
        for _ in 0..WARM {
            op(black_box(slot));
        }
        let start = Instant::now();
        for _ in 0..BATCH {
            op(black_box(slot));
        }
        start.elapsed().as_nanos() as f64
    }
}

/// What a pair is for: a real pair must not leak; a null pair shows the environment; a
/// length pair's classes differ in byte length, which is public, so it must also differ by
/// more than [`LENGTH_FLOOR`] of a call to leak (see the module docs).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Real,
    Null,
    Length,
}

/// A named pair under test, with its measurements by class.
struct Pair {
    name: &'static str,
    /// Index of the null pair of the same operation.
    null: usize,
    role: Role,
    subject: Box<dyn Subject>,
    crop: f64,
    classes: [Moments; 2],
}

/// |t| of a run, signed (class 1 slower: positive), and each class's mean time a call.
struct Figures {
    t: f64,
    means: [f64; 2],
}

impl Figures {
    /// Whether the classes' means are further apart than `fraction` of the faster one.
    fn beyond(&self, fraction: f64) -> bool {
        let [a, b] = self.means;
        (a - b).abs() > fraction * a.min(b)
    }
}

impl Pair {
    /// Pair number `index`, whose operation's null pair is number `null`.
    fn new(name: &'static str, null: usize, index: usize, subject: Box<dyn Subject>) -> Self {
        Self {
            name,
            null,
            role: if index == null {
                Role::Null
            } else if name.starts_with("length") {
                Role::Length
            } else {
                Role::Real
            },
            subject,
            crop: f64::INFINITY,
            classes: [Moments::default(); 2],
        }
    }

    fn measure(&mut self, class: usize, place: usize) -> f64 {
        self.subject.fill(class, place);
        self.subject.time()
    }

    fn figures(&self) -> Figures {
        let [a, b] = &self.classes;
        Figures {
            t: welch(b, a),
            means: [a.mean, b.mean].map(|m| m / f64::from(BATCH)),
        }
    }
}

/// The deliberate leaks the check is run against (`--leak NAME`).
#[derive(Clone, Copy, PartialEq)]
enum Leak {
    EarlyExit,
    Utf8Branch,
    SearchTree,
}

impl Leak {
    fn named(name: &str) -> Option<Self> {
        match name {
            "early-exit" => Some(Self::EarlyExit),
            "utf8-branch" => Some(Self::Utf8Branch),
            "search-tree" => Some(Self::SearchTree),
            _ => None,
        }
    }
}

/// The real comparison: `Code`'s constant-time equality.
fn compare(pair: &(Code, Code)) {
    black_box(pair.0 == pair.1);
}

/// Deliberate leak: stops at the first digit that differs.
fn compare_early_exit(pair: &(Code, Code)) {
    let (a, b) = (pair.0.expose().as_bytes(), pair.1.expose().as_bytes());
    let mut same = a.len() == b.len();
    for (x, y) in a.iter().zip(b) {
        if black_box(*x) != *y {
            same = false;
            break;
        }
    }
    black_box(same);
}

/// The real reading of typed input.
#[allow(
    clippy::ptr_arg,
    reason = "the slot is a `String` so that filling it keeps its buffer"
)]
fn read(typed: &String) {
    black_box(input::normalize(black_box(typed), Digits::Four).is_ok());
}

/// Deliberate leak: `str::chars` branches on each character's UTF-8 length.
#[allow(
    clippy::ptr_arg,
    reason = "the slot is a `String` so that filling it keeps its buffer"
)]
fn read_by_chars(typed: &String) {
    let digits = typed
        .chars()
        .filter(|c| input::digit_value(*c).is_some())
        .count();
    black_box(digits == 4);
}

/// Deliberate leak: a `match` on code point ranges, a search tree over the scripts.
#[allow(
    clippy::ptr_arg,
    reason = "the slot is a `String` so that filling it keeps its buffer"
)]
fn read_by_match(typed: &String) {
    let mut digits = 0u32;
    for c in typed.chars() {
        let c = u32::from(black_box(c));
        let zero = match c {
            0x0030..=0x0039 => 0x0030,
            0x0660..=0x0669 => 0x0660,
            0x06F0..=0x06F9 => 0x06F0,
            0x0966..=0x096F => 0x0966,
            0x09E6..=0x09EF => 0x09E6,
            0x0A66..=0x0A6F => 0x0A66,
            0x0AE6..=0x0AEF => 0x0AE6,
            0x0B66..=0x0B6F => 0x0B66,
            0x0BE6..=0x0BEF => 0x0BE6,
            0x0C66..=0x0C6F => 0x0C66,
            0x0CE6..=0x0CEF => 0x0CE6,
            0x0D66..=0x0D6F => 0x0D66,
            0xFF10..=0xFF19 => 0xFF10,
            _ => continue,
        };
        digits = digits.wrapping_add(u32::from(black_box(c - zero) < 10));
    }
    black_box(digits == 4);
}

fn code(text: &str, digits: Digits) -> Code {
    input::normalize(text, digits).unwrap()
}

/// Slot number `k` for typed input: a buffer reserved for the longest input, so filling it
/// never moves it, and of its own size, so the slots' buffers are spread over many pages.
fn buffer(k: usize) -> String {
    String::with_capacity(input::MAX_INPUT_LEN + 80 * k)
}

/// Puts `text` in the slot as the typed code, beside the issued one.
fn set_typed_code(text: &str, slot: &mut (Code, Code)) {
    slot.1 = code(text, slot.0.digits());
}

/// Puts `text` in the slot's buffer, in place.
fn set_text(text: &str, slot: &mut String) {
    slot.clear();
    slot.push_str(text);
}

/// Codes compared with an issued one: what is measured, the issued code, and the typed code
/// of each class. The null pair first.
#[rustfmt::skip]
const COMPARED: [(&str, &str, [&str; 2]); 4] = [
    ("null: compare, one wrong code in both classes", "0427", ["9427", "9427"]),
    ("compare 4 digits: first digit wrong vs last digit wrong", "0427", ["9427", "0429"]),
    ("compare 6 digits: first digit wrong vs last digit wrong", "042719", ["942719", "042711"]),
    ("compare: right vs wrong in every digit", "0427", ["0427", "9999"]),
];

/// Typed input read as a four-digit code: what is measured, and the input of each class.
/// The null pair first.
#[rustfmt::skip]
const TYPED: [(&str, [&str; 2]); 6] = [
    ("null: read typed input, one input in both classes", ["०४२७", "०४२७"]),
    // Two bytes a digit against one and three: a branch on the UTF-8 length shows here.
    ("read typed input: Arabic-Indic vs ASCII and Devanagari, 8 bytes each", ["٠٤٢٧", "04२७"]),
    // Both three-byte scripts, at the two ends of the table of scripts.
    ("read typed input: Devanagari vs full-width digits", ["०४२७", "０４２７"]),
    ("read typed input: 0000 vs 9999", ["0000", "9999"]),
    ("read typed input: Devanagari 0000 vs Devanagari 9999", ["००००", "९९९९"]),
    ("length: Devanagari vs ASCII digits, 12 bytes vs 4", ["०४२७", "0427"]),
];

/// The pairs of both tables, each operation's null pair first, with the leak asked for in
/// place of its real operation.
fn pairs(leak: Option<Leak>) -> Vec<Pair> {
    let cmp: fn(&(Code, Code)) = if leak == Some(Leak::EarlyExit) {
        compare_early_exit
    } else {
        compare
    };
    let rd: fn(&String) = match leak {
        Some(Leak::Utf8Branch) => read_by_chars,
        Some(Leak::SearchTree) => read_by_match,
        _ => read,
    };
    let mut pairs = Vec::new();
    for (name, issued, texts) in COMPARED {
        let digits = Digits::from_count(issued.len() as u8).unwrap();
        let slot = |_| (code(issued, digits), code(issued, digits));
        let subject = Slotted::new(texts, slot, set_typed_code, cmp);
        pairs.push(Pair::new(name, 0, pairs.len(), Box::new(subject)));
    }
    let null = pairs.len();
    for (name, texts) in TYPED {
        let subject = Slotted::new(texts, buffer, set_text, rd);
        pairs.push(Pair::new(name, null, pairs.len(), Box::new(subject)));
    }
    pairs
}

/// Measures every pair: a first pass for the crop lines, then `samples` measurements a pair
/// in `BLOCKS` blocks, the pairs in a shuffled order in each block.
fn measure(pairs: &mut [Pair], samples: u32, rng: &mut XorShift) {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let per_block = samples / BLOCKS;
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); pairs.len()];
    for _ in 0..BLOCKS {
        rng.shuffle(&mut order);
        for &p in &order {
            for _ in 0..per_block / 10 {
                let (class, place) = (rng.class(), rng.next() as usize);
                first[p].push(pairs[p].measure(class, place));
            }
        }
    }
    for (pair, mut times) in pairs.iter_mut().zip(first) {
        times.sort_by(f64::total_cmp);
        pair.crop = times[times.len() * 95 / 100];
    }
    for _ in 0..BLOCKS {
        rng.shuffle(&mut order);
        for &p in &order {
            let pair = &mut pairs[p];
            for _ in 0..per_block {
                let (class, place) = (rng.class(), rng.next() as usize);
                let ns = pair.measure(class, place);
                if ns <= pair.crop {
                    pair.classes[class].push(ns);
                }
            }
        }
    }
}

/// What one run found: `None` when a null pair was above the ceiling (too noisy to judge),
/// else for each pair the sign of its |t| where that is above its line (0: not above).
fn judge(pairs: &[Pair], ceiling: f64) -> Option<Vec<i8>> {
    let figures: Vec<Figures> = pairs.iter().map(Pair::figures).collect();
    let mut noisy = false;
    let mut above = Vec::with_capacity(pairs.len());
    for (pair, f) in pairs.iter().zip(&figures) {
        let line = match pair.role {
            Role::Null => ceiling,
            Role::Real | Role::Length => ceiling.max(MARGIN * figures[pair.null].t.abs()),
        };
        let over = f.t.abs() > line;
        let verdict = match (pair.role, over) {
            (Role::Null, true) => {
                noisy = true;
                "TOO NOISY"
            }
            (Role::Real, true) => "above the line",
            (Role::Length, true) if f.beyond(LENGTH_FLOOR) => "above the line",
            (Role::Length, true) => "above the line, within 1% of a call (a public length)",
            (_, false) => "ok",
        };
        let judged = match pair.role {
            Role::Real => true,
            Role::Length => f.beyond(LENGTH_FLOOR),
            Role::Null => false,
        };
        above.push(if over && judged {
            if f.t > 0.0 { 1 } else { -1 }
        } else {
            0
        });
        println!(
            "  {}: |t| = {:.2} ({:.1} ns vs {:.1} ns a call; line {line:.1}): {verdict}",
            pair.name,
            f.t.abs(),
            f.means[1],
            f.means[0],
        );
    }
    (!noisy).then_some(above)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let leak = match args.iter().position(|a| a == "--leak") {
        None => None,
        Some(i) => match args.get(i + 1).and_then(|name| Leak::named(name)) {
            Some(leak) => Some(leak),
            None => {
                eprintln!("--leak takes one of: early-exit, utf8-branch, search-tree");
                return ExitCode::from(2);
            }
        },
    };
    let samples = if quick { 400_000 } else { 2_000_000 };
    let ceiling = if quick { 10.0 } else { 4.5 };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64 | 1);
    let mut rng = XorShift(seed);

    // Each pair's runs above its line, by sign.
    let mut strikes: Vec<[u32; 2]> = Vec::new();
    let mut judged = 0;
    for measured in 1..=MEASURED {
        println!(
            "dudect, {samples} measurements a pair of {BATCH} calls each in {BLOCKS} blocks, \
             |t| against {ceiling} (run {measured}){}:",
            leak.map_or("", |_| ", with a deliberate leak"),
        );
        let mut pairs = pairs(leak);
        measure(&mut pairs, samples, &mut rng);
        let Some(above) = judge(&pairs, ceiling) else {
            println!("a null pair is above {ceiling}: this run is not judged, measuring again");
            continue;
        };
        judged += 1;
        strikes.resize(above.len(), [0, 0]);
        for (count, sign) in strikes.iter_mut().zip(&above) {
            match sign {
                1 => count[1] += 1,
                -1 => count[0] += 1,
                _ => {}
            }
        }
        let leaking: Vec<&str> = pairs
            .iter()
            .zip(&strikes)
            .filter(|(_, count)| count.iter().any(|n| *n >= REPEATS))
            .map(|(pair, _)| pair.name)
            .collect();
        if !leaking.is_empty() {
            for name in leaking {
                println!("LEAK: {name}");
            }
            eprintln!(
                "a pair's |t| is above its line, the same way, in {REPEATS} runs: a timing leak"
            );
            return ExitCode::FAILURE;
        }
        let pending = strikes.iter().any(|count| count.iter().any(|n| *n > 0));
        if !pending {
            println!("no pair above its line: no leak");
            return ExitCode::SUCCESS;
        }
        if judged == RUNS {
            println!("no pair above its line in {REPEATS} of {RUNS} runs: no leak");
            return ExitCode::SUCCESS;
        }
        println!("a pair is above its line once: measuring again to see if it repeats");
    }
    eprintln!("the null pairs were above {ceiling} too often: too noisy to judge");
    ExitCode::FAILURE
}
