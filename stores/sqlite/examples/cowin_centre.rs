//! A vaccination day at a CoWIN centre, on the embedded SQLite store.
//!
//! `cargo run --release -p handover-code-sqlite --example cowin_centre`
//!
//! Bookings are issued for the day's slots and their 4-digit security codes "sent". People
//! arrive and show their code; vaccinators type it, some in Devanagari or Bengali digits,
//! some with a slip of the finger; some people never come. One dishonest vaccinator tries
//! to mark doses as given by guessing codes for people who are not there, and is suspended
//! by the verifier budget. Some people have no phone at all, as at any camp: they show an
//! ID, and the centre's supervisor hands over their dose by the audited override, within
//! the supervisor's daily override budget. An event sink counts what a host would alert on
//! (suspensions, locks). A progress bar runs while the day does (plain lines when the output
//! is not a terminal); a summary closes it, with the supervisor's override count and the
//! suspended vaccinator's audit trail, read back from the store's audit log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use handover_code::audit::{Action, Event, Events, Override, Reason};
use handover_code::store::AuditLog;
use handover_code::{
    ActorId, BookingId, Digits, Error, Key, KeyId, Keyring, Outcome, Policy, Secret, Service,
    Timestamp, VerifierId,
};
use handover_code_sqlite::{Durability, SqliteStore};
use indicatif::{ProgressBar, ProgressStyle};

const BOOKINGS: u64 = 20_000;
const VACCINATORS: u64 = 4;
/// 2021-06-21, 09:00 IST, the day India gave 8.6 million doses.
const OPEN: u64 = 1_624_246_200;
const HOURS: u64 = 8;

/// A small deterministic generator, so every run of the day is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// How a person's code gets typed.
fn in_script(code: &str, zero: u32) -> String {
    code.chars()
        .map(|c| char::from_u32(zero + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

/// What a host would page someone about: suspended verifiers and locked bookings.
#[derive(Default)]
struct Alerts {
    suspensions: AtomicU64,
    locks: AtomicU64,
}

impl Events for Alerts {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::VerifierSuspended { .. } => self.suspensions.fetch_add(1, Ordering::Relaxed),
            Event::Locked { .. } => self.locks.fetch_add(1, Ordering::Relaxed),
            _ => return,
        };
    }
}

#[derive(Default)]
struct Tally {
    handovers: AtomicU64,
    rejections: AtomicU64,
    lockouts: AtomicU64,
    suspensions: AtomicU64,
    malformed: AtomicU64,
    no_shows: AtomicU64,
    seen: AtomicU64,
    overridden: AtomicU64,
    fake_handovers: AtomicU64,
    verifications: AtomicU64,
}

impl Tally {
    fn count(&self, answer: &Result<Outcome, Error>) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let counter = match answer {
            Ok(Outcome::Accepted) => &self.handovers,
            Ok(Outcome::Rejected { attempts_left: 0 }) => &self.lockouts,
            Ok(Outcome::Rejected { .. }) => &self.rejections,
            Ok(Outcome::VerifierSuspended { .. }) => &self.suspensions,
            Err(Error::Malformed(_)) => &self.malformed,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cowin-centre-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(dir.join("centre.db"), Durability::Normal)?;
    let keys: std::sync::Arc<Keyring> = Keyring::new(
        KeyId(1),
        Secret::from_bytes(b"cowin demo key: load yours from a vault")?,
    )
    .into();
    // 4 digits, 3 tries per code, at most 30 wrong codes per vaccinator per hour: room for
    // honest slips (about 12 an hour at this centre's pace), little for spraying.
    // Overrides for people with no phone: at most 300 per supervisor per day.
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(30, 3_600)?
        .with_override_budget(300, 86_400)?;
    let alerts = std::sync::Arc::new(Alerts::default());
    let service = Service::new(keys.clone(), policy, "cowin/dose")?
        .with_events(std::sync::Arc::clone(&alerts));
    let supervisor = ActorId::new("supervisor-centre-17")?;
    let close = Timestamp(OPEN + HOURS * 3_600);

    // The night before: every booking gets its code by SMS.
    let mut rng = Rng(0x2021_0621);
    let started = Instant::now();
    let mut people = Vec::new();
    for i in 0..BOOKINGS {
        let id = format!("SLOT-2021-{i:06}");
        let code = service.issue(
            &store,
            BookingId::new(&id)?,
            close,
            Timestamp(OPEN - 43_200),
        )?;
        // 8% will not come; of those who do, about 1 in 70 has no phone.
        let no_show = rng.chance(8);
        let no_phone = !no_show && rng.next().is_multiple_of(70);
        people.push((id, code.expose().to_owned(), no_show, no_phone));
    }
    let issued_in = started.elapsed();
    println!("issued {BOOKINGS} bookings for the day in {issued_in:.2?}; codes sent by SMS");

    let tally = Tally::default();
    // Threads still at work; the progress line stops when none is.
    let people_left = AtomicU64::new(VACCINATORS + 1);
    let started = Instant::now();
    std::thread::scope(|s| {
        for v in 0..VACCINATORS {
            let (service, store, tally, people_left) = (&service, &store, &tally, &people_left);
            // Each vaccinator has a queue of their own: every VACCINATORS-th person.
            let queue = people
                .iter()
                .enumerate()
                .skip(v as usize)
                .step_by(VACCINATORS as usize);
            s.spawn(move || {
                let name = format!("vaccinator-{v}");
                let me = VerifierId::new(&name).unwrap();
                let mut rng = Rng(0x5eed ^ (v + 1));
                for (i, (id, code, no_show, no_phone)) in queue {
                    tally.seen.fetch_add(1, Ordering::Relaxed);
                    if *no_show {
                        tally.no_shows.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let now = Timestamp(OPEN + (i as u64) * HOURS * 3_600 / BOOKINGS);
                    let booking = BookingId::new(id).unwrap();
                    if *no_phone {
                        // No code to show: the supervisor checks an ID and overrides.
                        let why =
                            Override::new(supervisor, Reason::NoPhone, "no phone; Aadhaar seen")
                                .unwrap();
                        if service.overrule(store, booking, why, now).is_ok() {
                            tally.overridden.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    if rng.chance(2) {
                        // A slip of the finger first: one digit off.
                        let slip = format!("{:04}", (code.parse::<u32>().unwrap() + 1) % 10_000);
                        tally.count(&service.verify(store, booking, &slip, Some(me), now));
                    }
                    if rng.chance(2) {
                        tally.count(&service.verify(store, booking, "12 3", Some(me), now));
                    }
                    let typed = match rng.next() % 10 {
                        0..=2 => in_script(code, 0x0966), // Devanagari
                        3 => in_script(code, 0x09E6),     // Bengali
                        4 => format!("{}-{}", &code[..2], &code[2..]),
                        _ => code.clone(),
                    };
                    tally.count(&service.verify(store, booking, &typed, Some(me), now));
                }
                people_left.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // The dishonest vaccinator: "vaccinates" no-shows by guessing their codes.
        s.spawn(|| {
            let me = VerifierId::new("vaccinator-x").unwrap();
            let mut rng = Rng(0xbad);
            for (i, (id, _, no_show, _)) in people.iter().enumerate().filter(|(_, p)| p.2).take(200)
            {
                let now = Timestamp(OPEN + (i as u64) * HOURS * 3_600 / BOOKINGS);
                let guess = format!("{:04}", rng.next() % 10_000);
                let answer =
                    service.verify(&store, BookingId::new(id).unwrap(), &guess, Some(me), now);
                if *no_show && matches!(answer, Ok(Outcome::Accepted)) {
                    tally.fake_handovers.fetch_add(1, Ordering::Relaxed);
                }
                tally.count(&answer);
            }
            people_left.fetch_sub(1, Ordering::Relaxed);
        });
        // Progress: a bar on a terminal, a plain line every two seconds in a log.
        s.spawn(|| {
            let bar = ProgressBar::new(BOOKINGS);
            bar.set_style(
                ProgressStyle::with_template("  {pos:>6}/{len} people seen {wide_bar} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let mut last_line = Instant::now();
            loop {
                let done = tally.seen.load(Ordering::Relaxed);
                let elapsed = started.elapsed().as_secs_f64().max(1e-9);
                let status = format!(
                    "{} doses given | {} wrong codes | {} suspensions | {:.0} verifications/s",
                    tally.handovers.load(Ordering::Relaxed),
                    tally.rejections.load(Ordering::Relaxed)
                        + tally.lockouts.load(Ordering::Relaxed),
                    tally.suspensions.load(Ordering::Relaxed),
                    tally.verifications.load(Ordering::Relaxed) as f64 / elapsed,
                );
                let finished = done >= BOOKINGS && people_left.load(Ordering::Relaxed) == 0;
                if bar.is_hidden() {
                    if finished || last_line.elapsed().as_secs() >= 2 {
                        println!("  {done}/{BOOKINGS} people seen | {status}");
                        last_line = Instant::now();
                    }
                } else {
                    bar.set_position(done);
                    bar.set_message(status);
                }
                if finished {
                    bar.finish();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    });
    let elapsed = started.elapsed();
    let verifications = tally.verifications.load(Ordering::Relaxed);
    println!(
        "\nThe day at the centre ({HOURS} hours, {VACCINATORS} honest vaccinators and one who is not):"
    );
    println!(
        "  doses given (codes accepted)      {:>7}",
        tally.handovers.load(Ordering::Relaxed)
    );
    println!(
        "  no-shows                          {:>7}",
        tally.no_shows.load(Ordering::Relaxed)
    );
    println!(
        "  wrong codes rejected              {:>7}",
        tally.rejections.load(Ordering::Relaxed)
    );
    println!(
        "  wrong codes that locked a booking {:>7}",
        tally.lockouts.load(Ordering::Relaxed)
    );
    println!(
        "  malformed entries (not counted)   {:>7}",
        tally.malformed.load(Ordering::Relaxed)
    );
    println!(
        "  guesses refused: verifier suspended {:>5}",
        tally.suspensions.load(Ordering::Relaxed)
    );
    println!(
        "  doses faked for no-shows          {:>7}",
        tally.fake_handovers.load(Ordering::Relaxed)
    );
    println!(
        "  no phone: handed over by override {:>7}",
        tally.overridden.load(Ordering::Relaxed)
    );
    println!(
        "  alerts told to the event sink: {} suspension(s), {} locked booking(s)",
        alerts.suspensions.load(Ordering::Relaxed),
        alerts.locks.load(Ordering::Relaxed)
    );
    println!(
        "  throughput: {verifications} verifications in {elapsed:.2?}, {:.0}/s on SQLite (WAL, synchronous NORMAL)",
        verifications as f64 / elapsed.as_secs_f64()
    );

    // The review at the end of the day, from the audit log the store kept with the records.
    let scope = service.budget_scope();
    let overrides = store.history(Key::Actor {
        scope,
        id: supervisor,
    })?;
    let counted = overrides
        .iter()
        .filter(|e| e.action == Action::OverrideCounted)
        .count();
    println!(
        "\nsupervisor-centre-17 overrode {counted} bookings today (budget 300), each audited with its reason"
    );
    let cheat = VerifierId::new("vaccinator-x")?;
    let trail = store.history(Key::Verifier { scope, id: cheat })?;
    let failures = trail
        .iter()
        .filter(|e| e.action == (Action::BudgetSettled { failed: true }))
        .count();
    println!(
        "vaccinator-x's audit trail: {} budget entries, {failures} wrong codes counted, then:",
        trail.len()
    );
    for e in trail
        .iter()
        .filter(|e| matches!(e.action, Action::Suspended { .. }))
    {
        let Action::Suspended { until } = e.action else {
            continue;
        };
        let at = e.at.0 - OPEN;
        println!(
            "  {:02}:{:02} suspended until {:02}:{:02}, on a wrong code for booking {}",
            9 + at / 3_600,
            at / 60 % 60,
            9 + (until.0 - OPEN) / 3_600,
            (until.0 - OPEN) / 60 % 60,
            String::from_utf8_lossy(&e.booking)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
