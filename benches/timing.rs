//! Timing leakage, by the dudect method (Reparaz, Balasch, Verbauwhede, "Dude, is my code
//! constant time?", 2017): many measurements of one operation on two classes of input,
//! the class of each measurement picked at random and the classes interleaved, then
//! Welch's t-test between the two classes' times. |t| above 4.5 is evidence of a leak; above
//! 10 the method calls it a definite leak.
//!
//! `cargo bench --bench timing` runs the long version (2,000,000 measurements a pair) and
//! prints |t| per pair against the target 4.5; `cargo bench --bench timing -- --quick`
//! (what CI runs) takes 200,000 a pair and exits non-zero when a pair's |t| exceeds 10.
//!
//! Each measurement times a batch of calls (one call is shorter than the clock's
//! resolution); the slowest 5% of each class's measurements (interrupts, migrations) are
//! cropped, as dudect crops, at a percentile taken from a first pass.

use std::hint::black_box;
use std::time::Instant;

use handover_code::{Code, Digits, input};

/// Calls per measurement.
const BATCH: u32 = 32;

/// A small, fast generator for the class of each measurement (not for secrets).
struct XorShift(u64);

impl XorShift {
    fn bit(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
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

/// Nanoseconds for one batch of `op` on class `class`.
fn measure(op: &mut impl FnMut(bool), class: bool) -> f64 {
    let start = Instant::now();
    for _ in 0..BATCH {
        op(black_box(class));
    }
    start.elapsed().as_nanos() as f64
}

/// |t| between the two classes of `op` over `samples` measurements, after cropping each
/// class above the 95th percentile of a first pass of a tenth as many.
fn leak(samples: u32, op: &mut impl FnMut(bool)) -> (f64, f64, f64) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut first: Vec<f64> = (0..samples / 10)
        .map(|_| {
            let class = rng.bit();
            measure(op, class)
        })
        .collect();
    first.sort_by(f64::total_cmp);
    let crop = first[first.len() * 95 / 100];
    let mut classes = [Moments::default(); 2];
    for _ in 0..samples {
        let class = rng.bit();
        let ns = measure(op, class);
        if ns <= crop {
            classes[usize::from(class)].push(ns);
        }
    }
    let t = welch(&classes[0], &classes[1]).abs();
    (
        t,
        classes[0].mean / f64::from(BATCH),
        classes[1].mean / f64::from(BATCH),
    )
}

/// One operation under test, given the class of its input.
type Op<'a> = Box<dyn FnMut(bool) + 'a>;

fn code(text: &str, digits: Digits) -> Code {
    input::normalize(text, digits).unwrap()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let samples = if quick { 200_000 } else { 2_000_000 };
    let ceiling = if quick { 10.0 } else { 4.5 };

    let issued = code("0427", Digits::Four);
    let first_wrong = code("9427", Digits::Four);
    let last_wrong = code("0429", Digits::Four);
    let right = code("0427", Digits::Four);
    let all_wrong = code("9999", Digits::Four);
    let six = code("042719", Digits::Six);
    let six_first = code("942719", Digits::Six);
    let six_last = code("042711", Digits::Six);

    let mut pairs: Vec<(&str, Op<'_>)> = vec![
        (
            "compare 4 digits: first digit wrong vs last digit wrong",
            Box::new(|class| {
                let typed = if class { &first_wrong } else { &last_wrong };
                black_box(black_box(&issued) == black_box(typed));
            }),
        ),
        (
            "compare 6 digits: first digit wrong vs last digit wrong",
            Box::new(|class| {
                let typed = if class { &six_first } else { &six_last };
                black_box(black_box(&six) == black_box(typed));
            }),
        ),
        (
            "compare: right vs wrong in every digit",
            Box::new(|class| {
                let typed = if class { &right } else { &all_wrong };
                black_box(black_box(&issued) == black_box(typed));
            }),
        ),
        (
            "read typed input: Devanagari vs ASCII digits",
            Box::new(|class| {
                let typed = if class { "०४२७" } else { "0427" };
                black_box(input::normalize(black_box(typed), Digits::Four).is_ok());
            }),
        ),
        (
            "read typed input: 0000 vs 9999",
            Box::new(|class| {
                let typed = if class { "0000" } else { "9999" };
                black_box(input::normalize(black_box(typed), Digits::Four).is_ok());
            }),
        ),
        (
            "read typed input: Devanagari 0000 vs Devanagari 9999",
            Box::new(|class| {
                let typed = if class {
                    "००००"
                } else {
                    "९९९९"
                };
                black_box(input::normalize(black_box(typed), Digits::Four).is_ok());
            }),
        ),
    ];

    println!("dudect, {samples} measurements a pair of {BATCH} calls each, |t| against {ceiling}:");
    let mut failed = false;
    for (name, op) in &mut pairs {
        let (t, a, b) = leak(samples, op);
        let verdict = if t <= ceiling { "ok" } else { "LEAK" };
        failed |= t > ceiling;
        println!("  {name}: |t| = {t:.2} ({b:.1} ns vs {a:.1} ns a call): {verdict}");
    }
    if quick && failed {
        eprintln!("a pair's |t| is above {ceiling}: a definite timing leak");
        std::process::exit(1);
    }
}
