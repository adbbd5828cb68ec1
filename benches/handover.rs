//! The crate's one criterion harness.
//!
//! Besides criterion's own figures, each target the issues set is measured as a ratio in the
//! same run (interleaved rounds, best round of each, so both sides see the same machine) and
//! printed as `target ...: met` or `MISSED`. Run with `cargo bench --bench handover`.
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

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use handover_code::derive::derive;
use handover_code::{BookingId, Context, Digits, Secret};
use sha2::block_api::compress256;

const DIGITS: [Digits; 3] = [Digits::Four, Digits::Five, Digits::Six];

fn secret() -> Secret {
    Secret::from_bytes(&[0x42; 32]).unwrap()
}

/// A realistic booking: a 10-byte context and a 16-byte id, one block of message.
fn derive_once(secret: &Secret, d: Digits) {
    let ctx = Context::new(black_box("cowin/dose")).unwrap();
    let id = BookingId::new(black_box("SLOT-2021-000123")).unwrap();
    black_box(derive(secret, ctx, id, black_box(0), d));
}

/// The floor: the two SHA-256 compressions a code needs at the least.
fn floor_once(state: &mut [u32; 8], blocks: &[[u8; 64]; 2]) {
    compress256(state, black_box(&blocks[..1]));
    compress256(state, black_box(&blocks[1..]));
    black_box(state);
}

fn bench_derive(c: &mut Criterion) {
    let secret = secret();
    let mut group = c.benchmark_group("derive");
    for d in DIGITS {
        group.bench_function(format!("{}", d.count()), |b| {
            b.iter(|| derive_once(&secret, d))
        });
    }
    group.finish();
    let mut state = [0u32; 8];
    let blocks = [[0x5a; 64]; 2];
    c.bench_function("floor/two_compressions", |b| {
        b.iter(|| floor_once(&mut state, &blocks))
    });
}

/// Nanoseconds per call of `f`: the best of `rounds` rounds of `per_round` calls.
fn best_ns(rounds: u32, per_round: u32, mut f: impl FnMut()) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(per_round)
        })
        .collect()
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Prints `measured / reference` against a ceiling, as the issue states the target.
fn report_ratio(what: &str, measured: f64, reference: f64, ceiling: f64) {
    let ratio = measured / reference;
    let verdict = if ratio <= ceiling { "met" } else { "MISSED" };
    println!(
        "target {what}: {measured:.1} ns / {reference:.1} ns = {ratio:.2}x (<= {ceiling}x): {verdict}"
    );
}

fn targets() {
    let secret = secret();
    let mut state = [0u32; 8];
    let blocks = [[0x5a; 64]; 2];
    let (mut derive_ns, mut floor_ns) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        derive_ns.extend(best_ns(1, 200_000, || derive_once(&secret, Digits::Four)));
        floor_ns.extend(best_ns(1, 200_000, || floor_once(&mut state, &blocks)));
    }
    report_ratio(
        "derive(4) vs two compressions",
        min(&derive_ns),
        min(&floor_ns),
        2.0,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_derive
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    targets();
}
