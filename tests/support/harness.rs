//! The harness of the test binaries that need a server (`harness = false`, on
//! `libtest-mimic`): `main` looks for the server before it lists the trials, and where the
//! server is missing every trial that needs it is reported **ignored**, the reason printed
//! above the list, never `ok` for a test that ran nothing. Under `CI=true` a missing server
//! fails the run instead. `cargo test -- --include-ignored` runs them anyway (and they fail
//! without the server).

use libtest_mimic::{Arguments, Trial};

/// Runs `trials` (a name, whether it needs the server, the test), all of the server's
/// ignored when `missing` says why it cannot be found; exits with the run's status.
#[allow(dead_code)]
pub fn run(missing: Option<&str>, trials: Vec<(&'static str, bool, fn())>) -> ! {
    run_with(Arguments::from_args(), missing, trials)
}

/// [`run`], one trial at a time unless `--test-threads` says otherwise: for trials that
/// each start a cluster of servers and time their waits, which trials run beside each
/// other on a small machine would starve.
#[allow(dead_code)]
pub fn run_one_at_a_time(missing: Option<&str>, trials: Vec<(&'static str, bool, fn())>) -> ! {
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(1);
    run_with(args, missing, trials)
}

fn run_with(args: Arguments, missing: Option<&str>, trials: Vec<(&'static str, bool, fn())>) -> ! {
    if let Some(reason) = missing {
        if std::env::var("CI").as_deref() == Ok("true") {
            eprintln!("CI=true but {reason}");
            std::process::exit(101);
        }
        eprintln!("ignored, every test that needs the server: {reason}");
    }
    let trials = trials
        .into_iter()
        .map(|(name, needs, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
            .with_ignored_flag(needs && missing.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// The trials of a binary: `trials!(server: a, b; plain: c)` lists `a` and `b` as needing
/// the server and `c` as not.
#[macro_export]
macro_rules! trials {
    (generic $g:ty; server: $($s:ident),* $(,)?) => {
        vec![$((stringify!($s), true, $s::<$g> as fn()),)*]
    };
    (server: $($s:ident),* $(,)? $(; plain: $($p:ident),* $(,)?)?) => {
        vec![
            $((stringify!($s), true, $s as fn()),)*
            $($((stringify!($p), false, $p as fn()),)*)?
        ]
    };
}
