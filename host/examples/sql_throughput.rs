//! Verifications per second on the real stores, against the targets the issues set.
//!
//! `cargo run --release -p handover-code-host --example sql_throughput`
//!
//! Each verification is a read and a compare-and-swap write: half are right codes
//! (redeeming), half wrong (counting a failure). SQLite blocking and async, then a
//! throwaway PostgreSQL cluster (as the tests start, default durability; skipped when no
//! PostgreSQL is installed) at 1 and 8 concurrent clients. Redis is measured by its own crate's example:
//! `cargo run --release -p handover-code-redis --example sql_throughput`.

use std::time::Instant;

use handover_code::{BookingId, Digits, KeyId, Keyring, Policy, Secret, Service, Store};
use handover_code_sqlite::{Durability, SqliteStore};

#[path = "../../tests/support/rates.rs"]
#[allow(dead_code, unreachable_pub)]
mod rates;

use rates::concurrent_rate;
use rates::{NOW, UNTIL, report, typed};
use rates::{issued, verify_each};

/// Issues `n` bookings (untimed), then times verifying each once, in one thread.
fn run<S: Store>(service: &Service, store: &S, n: u32) -> f64 {
    let items: Vec<(String, String)> = (0..n)
        .map(|i| {
            let id = format!("SLOT-{i:08}");
            let code = service
                .issue(store, BookingId::new(&id).unwrap(), UNTIL, NOW)
                .unwrap();
            (id, typed(i, &code))
        })
        .collect();
    let start = Instant::now();
    for (id, typed) in &items {
        service
            .verify(
                store,
                BookingId::new(id.as_str()).unwrap(),
                typed,
                None,
                NOW,
            )
            .unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32])?);
    let service = Service::new(keys, Policy::new(Digits::Four), "cowin/dose")?;
    let dir = std::env::temp_dir().join(format!("handover-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (durability, n, target) in [
        (Durability::Normal, 50_000, 25_000.0),
        (Durability::Full, 5_000, 3_000.0),
    ] {
        let best = (0..3)
            .map(|run_no| {
                let store =
                    SqliteStore::open(dir.join(format!("{durability:?}-{run_no}.db")), durability)
                        .unwrap();
                run(&service, &store, n)
            })
            .fold(0.0f64, f64::max);
        report(
            &format!("SQLite, WAL, synchronous {durability:?}, one process, best of 3"),
            best,
            target,
        );
    }
    sqlite_async(&service, &dir)?;
    std::fs::remove_dir_all(&dir)?;
    postgres(&service)?;
    Ok(())
}

/// The SQLite store's async face against its sync one, one client each, same durability,
/// in the same run: on the blocking pool (two hand-offs per verification) and blocking in
/// place.
fn sqlite_async(
    service: &Service,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use handover_code_sqlite::AsyncSqliteStore;
    let n = 20_000u32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (mut sync_best, mut pool_best, mut in_place_best) = (0.0f64, 0.0f64, 0.0f64);
    let mut sqlx_best = 0.0f64;
    for run_no in 0..3 {
        let sync_store =
            SqliteStore::open(dir.join(format!("sync-{run_no}.db")), Durability::Normal)?;
        sync_best = sync_best.max(run(service, &sync_store, n));
        for in_place in [false, true] {
            let path = dir.join(format!("async-{run_no}-{in_place}.db"));
            let store = AsyncSqliteStore::new(SqliteStore::open(path, Durability::Normal)?)
                .blocking_in_place(in_place);
            let rate = rt.block_on(async_rate(service, &store, n));
            let best = if in_place {
                &mut in_place_best
            } else {
                &mut pool_best
            };
            *best = best.max(rate);
        }
        sqlx_best = sqlx_best.max(rt.block_on(sqlx_sqlite_rate(service, dir, run_no, n))?);
    }
    println!(
        "SQLite sync, synchronous Normal, one client, best of 3: {sync_best:.0} verifications/s"
    );
    report(
        "SQLite async face (blocking pool), synchronous Normal, one task, best of 3",
        pool_best,
        0.8 * sync_best,
    );
    report(
        "SQLite async face (blocking in place), synchronous Normal, one task, best of 3",
        in_place_best,
        0.8 * sync_best,
    );
    report(
        "SQLite on a sqlx pool (handover-code-sqlx), synchronous Normal, one task, best of 3",
        sqlx_best,
        pool_best.max(in_place_best),
    );
    Ok(())
}

/// One run of the sqlx SQLite store, on a pool of its own with the same durability as the
/// others (WAL, synchronous Normal).
async fn sqlx_sqlite_rate(
    service: &Service,
    dir: &std::path::Path,
    run_no: u32,
    n: u32,
) -> Result<f64, handover_code::Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(dir.join(format!("sqlx-{run_no}.db")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let store = handover_code_sqlx::SqliteStore::connect_with(
        options,
        4,
        std::time::Duration::from_secs(5),
    )
    .await?;
    store.create_schema().await?;
    Ok(async_rate(service, &store, n).await)
}

/// Issues `n` bookings (untimed), then times verifying each once, in one task.
async fn async_rate<S: handover_code::AsyncStore>(service: &Service, store: &S, n: u32) -> f64 {
    let items = issued(service, store, "SLOT", n).await;
    let start = Instant::now();
    verify_each(service, store, &items).await;
    f64::from(n) / start.elapsed().as_secs_f64()
}

#[path = "../../tests/support/scratch.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod scratch;

#[path = "../../tests/support/pg_cluster.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::panic,
    clippy::unwrap_used,
    clippy::all
)]
mod pg_cluster;

/// Verifications per second on PostgreSQL with 1 and 8 concurrent clients, each on its own
/// bookings, on a current-thread runtime: on this 2-core machine the server's backends
/// need the cores, and a multi-thread runtime spends its share waking its workers (futex
/// calls and context switches were 80% of the client's time in `perf record`; it measured
/// 67–73% of pgbench, against 91% on one thread).
fn postgres(service: &Service) -> Result<(), Box<dyn std::error::Error>> {
    use handover_code_postgres::{PostgresStore, Tls};
    let Some(cluster) = pg_cluster::Cluster::start() else {
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let timeout = std::time::Duration::from_secs(5);
    let mut eight_plain = 0.0;
    let mut sqlx_rates = [0.0f64; 2];
    for (clients, target) in [(1usize, 0.0), (8, 2_500.0)] {
        let store = PostgresStore::connect(&cluster.params(), clients, timeout)?;
        rt.block_on(store.create_schema())?;
        // Best of 3, as pgbench's figure is.
        let rate = (0..3)
            .map(|run_no| concurrent_rate(&rt, service, &store, clients, &format!("plain{run_no}")))
            .fold(0.0f64, f64::max);
        if clients == 1 {
            println!(
                "PostgreSQL, 1 client, default durability: {rate:.0} verifications/s (no target)"
            );
        } else {
            eight_plain = rate;
            report(
                &format!("PostgreSQL, {clients} concurrent clients, default durability"),
                rate,
                target,
            );
        }
        // The sqlx store on a pool of the same size, in the same run.
        let url = cluster.url();
        let store = rt.block_on(handover_code_sqlx::PgStore::connect(
            &url,
            clients as u32,
            timeout,
        ))?;
        rt.block_on(store.create_schema())?;
        let sqlx_rate = (0..3)
            .map(|run_no| concurrent_rate(&rt, service, &store, clients, &format!("sqlx{run_no}")))
            .fold(0.0f64, f64::max);
        println!(
            "PostgreSQL on a sqlx pool (handover-code-sqlx), {clients} client(s): {sqlx_rate:.0} verifications/s: {:+.1}% against tokio-postgres",
            (sqlx_rate / rate - 1.0) * 100.0
        );
        sqlx_rates[usize::from(clients != 1)] = sqlx_rate;
    }
    // pgbench on the same cluster, in the same run: the same two statements a verification
    // without a budget makes (a load, then a compare-and-swap on the version), prepared, by
    // 8 clients, on rows of the same shape.
    let mut bench = 0.0f64;
    for _ in 0..3 {
        bench = bench.max(pgbench(&cluster, 8)?);
    }
    println!(
        "pgbench, 8 clients, the same SELECT-then-UPDATE, prepared, best of 3: {bench:.0} transactions/s"
    );
    report(
        "PostgreSQL, 8 clients, against 90% of pgbench in the same run",
        eight_plain,
        0.9 * bench,
    );
    report(
        "PostgreSQL on a sqlx pool, 8 clients, against 90% of pgbench in the same run",
        sqlx_rates[1],
        0.9 * bench,
    );
    // The same 8 clients over TLS (rustls, the server's test CA trusted).
    let ca = cluster.require_tls();
    let store = PostgresStore::connect_with(&cluster.params(), 8, timeout, &Tls::CaFile(ca))?;
    let tls = (0..3)
        .map(|run_no| concurrent_rate(&rt, service, &store, 8, &format!("tls{run_no}")))
        .fold(0.0f64, f64::max);
    println!(
        "PostgreSQL over TLS, 8 clients, best of 3: {tls:.0} verifications/s: {:+.1}% against plain",
        (tls / eight_plain - 1.0) * 100.0
    );
    Ok(())
}

/// pgbench's transactions per second with `clients` clients for 5 s, each transaction the
/// statements of a verification: read a row's version, then update it where the version is
/// still that one.
fn pgbench(
    cluster: &pg_cluster::Cluster,
    clients: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("handover-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("verify.sql");
    std::fs::write(
        &script,
        "\\set n random(1, 20000)\n\
         SELECT record, version AS v FROM handover_records WHERE kind = 1 AND namespace = 'pgbench'::bytea AND id = int8send(:n) \\gset\n\
         UPDATE handover_records SET version = :v + 1, record = :record, prune_at = prune_at WHERE kind = 1 AND namespace = 'pgbench'::bytea AND id = int8send(:n) AND version = :v;\n",
    )?;
    let port = cluster.port.to_string();
    let server = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    let psql = std::process::Command::new(cluster.program("psql"))
        .args(server)
        .args(["-d", "postgres", "-q", "-c"])
        .arg(
            "INSERT INTO handover_records (kind, namespace, id, version, record, prune_at) \
             SELECT 1, 'pgbench'::bytea, int8send(i), 1, decode(repeat('ab', 60), 'hex'), 0 \
             FROM generate_series(1, 20000) AS i ON CONFLICT DO NOTHING",
        )
        .output()?;
    if !psql.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&psql.stderr)).into());
    }
    let out = std::process::Command::new(cluster.program("pgbench"))
        .args(server)
        .args(["-n", "-M", "prepared"])
        .args(["-c", &clients.to_string(), "-j", "2", "-T", "5", "-f"])
        .arg(&script)
        .arg("postgres")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::remove_dir_all(&dir)?;
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "pgbench said: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into()
        })
}
