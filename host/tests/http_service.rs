//! The host's HTTP service (`handover_code_host::run`) on a loopback port, driven over HTTP
//! by 64 concurrent clients on shared bookings, on SQLite, on a store opened from a URL
//! (`AnyStore`) and on PostgreSQL: no answer over a limit, every booking redeemed at most
//! once and only with its code, the store agreeing with the answers, and the p50/p99
//! latency and throughput printed.
#![allow(unreachable_pub, missing_docs, missing_debug_implementations)]

#[path = "../../tests/support/harness.rs"]
#[macro_use]
mod harness;

#[path = "../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

#[path = "../../tests/support/pg_cluster.rs"]
#[allow(dead_code)]
mod pg_cluster;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handover_code::record::State;
use handover_code::{BookingId, KeyId, Keyring, Secret, Service};
use handover_code_host as http_service;
use handover_code_postgres::PostgresStore;
use handover_code_sqlite::{Durability, SqliteStore};
use http_service::{App, Backend, Sms};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, oneshot};

const CLIENTS: usize = 64;
const BOOKINGS: usize = 16;
const ROUNDS: usize = 24;
/// The centre's limits: wrong codes per booking (`centre_service`), and per vaccinator a
/// day (the example's 20 would never be reached by this load; 3 is).
const ATTEMPTS: usize = 3;
const BUDGET: usize = 3;
const ISSUER: [(&str, &str); 1] = [("authorization", "Bearer issuer-token")];

/// One HTTP/1.1 exchange on a fresh connection: status, headers (lowercase names), body.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn outcome(&self) -> String {
        let json = self.json();
        match (json["outcome"].as_str(), json["answer"].as_str()) {
            (Some("replayed"), Some(answer)) => format!("replayed_{answer}"),
            (Some(outcome), _) => outcome.to_owned(),
            _ => format!(
                "error {} {}",
                self.status,
                json["error"].as_str().unwrap_or("")
            ),
        }
    }
}

async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    request(addr, "POST", path, headers, body).await
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("the service listens");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).expect("a UTF-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete reply");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The code most recently sent for each booking, as the SMS gateway saw it.
type Outbox = Arc<Mutex<HashMap<String, String>>>;

fn app(backend: Backend, outbox: &Outbox) -> App {
    let keys = Arc::new(Keyring::new(
        KeyId(1),
        Secret::from_bytes(&[9; 32]).unwrap(),
    ));
    let service: Service = http_service::centre_service(keys, BUDGET as u32).unwrap();
    let verifiers = (0..CLIENTS)
        .map(|i| (format!("token-{i}"), format!("vaccinator-{i}")))
        .chain([("token-spray".to_owned(), "sprayer".to_owned())])
        .collect();
    let sent = Arc::clone(outbox);
    let sms: Sms = Arc::new(move |booking, code| {
        let mut sent = sent.lock().unwrap();
        sent.insert(booking.to_owned(), code.expose().to_owned());
    });
    App {
        service,
        backend,
        verifiers: Arc::new(verifiers),
        issuer: "issuer-token".into(),
        sms,
    }
}

/// A wrong code for `right`: one digit moved on by `k`.
fn wrong(right: &str, k: usize) -> String {
    let mut digits: Vec<u8> = right.bytes().collect();
    let at = k % digits.len();
    digits[at] = b'0' + (digits[at] - b'0' + 1 + (k % 9) as u8) % 10;
    String::from_utf8(digits).unwrap()
}

/// One client's answer, as the checks need it.
struct Answer {
    client: usize,
    booking: usize,
    right: bool,
    status: u16,
    outcome: String,
    retry_of: Option<String>,
    latency: Duration,
}

/// Serves `backend`, drives it, checks every invariant, prints the figures.
async fn drive(backend: Backend, label: &str) {
    let outbox = Outbox::default();
    let app = app(backend, &outbox);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(http_service::run(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let tag = label.split_whitespace().next().unwrap_or(label);
    let run: Arc<str> = format!("{}-{tag}", std::process::id()).into();
    let id = move |b: usize| format!("SLOT-{run}-{b}");

    // Issue every booking; the codes reach the outbox, never the HTTP answer.
    for b in 0..BOOKINGS {
        let reply = post(
            addr,
            &format!("/bookings/{}/issue", id(b)),
            &ISSUER,
            r#"{"valid_secs":3600}"#,
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert!(!reply.body.contains(&outbox.lock().unwrap()[&id(b)]));
    }
    let codes: Vec<String> = (0..BOOKINGS)
        .map(|b| outbox.lock().unwrap()[&id(b)].clone())
        .collect();

    // The door checks: no token, an unknown token, malformed input, an unknown booking.
    let me = [("authorization", "Bearer token-0")];
    let path = format!("/bookings/{}/verify", id(0));
    let reply = post(addr, &path, &[], r#"{"code":"1234"}"#).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.headers.get("www-authenticate").map(String::as_str),
        Some("Bearer")
    );
    let reply = post(
        addr,
        &path,
        &[("authorization", "Bearer nobody")],
        r#"{"code":"1"}"#,
    )
    .await;
    assert_eq!(reply.status, 401);
    let reply = post(addr, &path, &me, r#"{"code":"12a4"}"#).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = post(addr, "/bookings/NO-SUCH/verify", &me, r#"{"code":"1234"}"#).await;
    assert_eq!(
        (reply.status, reply.outcome().as_str()),
        (404, "unknown_booking")
    );
    // A body that is not the JSON asked for is a 400 with a JSON error, never a 422 that
    // reads like a wrong code.
    for body in [r#"{"code":1234}"#, "{}", "not json"] {
        let reply = post(addr, &path, &me, body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
    }
    // Sends need the issuer's token, and validity is bounded.
    let issue = format!("/bookings/{}/issue", id(BOOKINGS + 99));
    assert_eq!(post(addr, &issue, &me, "{}").await.status, 401);
    let resend0 = format!("/bookings/{}/resend", id(0));
    assert_eq!(post(addr, &resend0, &[], "").await.status, 401);
    let long = post(addr, &issue, &ISSUER, r#"{"valid_secs":999999999}"#).await;
    assert_eq!(long.status, 400, "{}", long.body);

    // The send limit: issue was the first of 5 sends in 10 minutes; the sixth is refused.
    let resend = format!("/bookings/{}/resend", id(0));
    for _ in 0..4 {
        assert_eq!(post(addr, &resend, &ISSUER, "").await.status, 202);
    }
    let refused = post(addr, &resend, &ISSUER, "").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let wait: u64 = refused.headers["retry-after"].parse().unwrap();
    assert!((1..=600).contains(&wait), "Retry-After {wait}");

    // Meanwhile a vaccinator sprays guesses over fresh bookings: it is answered 3 wrong
    // codes, then 429 with the end of its window in Retry-After, on every booking.
    for b in BOOKINGS..BOOKINGS + 8 {
        let issued = post(addr, &format!("/bookings/{}/issue", id(b)), &ISSUER, "{}").await;
        assert_eq!(issued.status, 201);
    }
    let sprayer = {
        let (outbox, id) = (Arc::clone(&outbox), id.clone());
        tokio::spawn(async move {
            let spray = [("authorization", "Bearer token-spray")];
            let (mut answered, mut suspended) = (0, 0);
            for b in BOOKINGS..BOOKINGS + 8 {
                let right = outbox.lock().unwrap()[&id(b)].clone();
                for k in 0..ATTEMPTS {
                    let body = format!(r#"{{"code":"{}"}}"#, wrong(&right, k));
                    let path = format!("/bookings/{}/verify", id(b));
                    let reply = post(addr, &path, &spray, &body).await;
                    match reply.outcome().as_str() {
                        "rejected" => answered += 1,
                        "verifier_suspended" => {
                            assert_eq!(reply.status, 429);
                            let wait: u64 = reply.headers["retry-after"].parse().unwrap();
                            assert!((1..=86_400).contains(&wait), "Retry-After {wait}");
                            suspended += 1;
                        }
                        other => panic!("the sprayer got {other}"),
                    }
                }
            }
            (answered, suspended)
        })
    };

    // 64 clients released together; each verifies 24 times on bookings shared with the
    // others, a third of the time with the right code; every fourth request is retried with
    // the same idempotency key, as after a timeout.
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let codes = Arc::new(codes);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (barrier, codes, id) = (Arc::clone(&barrier), Arc::clone(&codes), id.clone());
            tokio::spawn(async move {
                let token = format!("Bearer token-{client}");
                let mut answers = Vec::new();
                barrier.wait().await;
                for round in 0..ROUNDS {
                    let booking = (client * 7 + round) % BOOKINGS;
                    let right = (client + round) % 3 == 0;
                    let typed = if right {
                        codes[booking].clone()
                    } else {
                        wrong(&codes[booking], client + round)
                    };
                    let key = format!("c{client}-r{round}");
                    let headers = [
                        ("authorization", token.as_str()),
                        ("idempotency-key", key.as_str()),
                    ];
                    let path = format!("/bookings/{}/verify", id(booking));
                    let body = format!(r#"{{"code":"{typed}"}}"#);
                    let tries = if round % 4 == 0 { 2 } else { 1 };
                    let mut first = None;
                    for _ in 0..tries {
                        let sent = Instant::now();
                        let reply = post(addr, &path, &headers, &body).await;
                        let outcome = reply.outcome();
                        answers.push(Answer {
                            client,
                            booking,
                            right,
                            status: reply.status,
                            outcome: outcome.clone(),
                            retry_of: first.clone(),
                            latency: sent.elapsed(),
                        });
                        first = Some(outcome);
                    }
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.expect("a client finished"));
    }
    let elapsed = started.elapsed();
    let (answered, suspended) = sprayer.await.expect("the sprayer finished");
    assert_eq!((answered, suspended), (BUDGET, 8 * ATTEMPTS - BUDGET));

    // Every answer is one the API documents, with its status.
    for a in &answers {
        let expected = match a.outcome.as_str() {
            "accepted" | "replayed_accepted" => 200,
            "rejected" | "replayed_rejected" => 422,
            "locked" => 423,
            "already_redeemed" => 409,
            "verifier_suspended" => 429,
            o if o.starts_with("error 503") => 503,
            other => panic!("client {} got {other}: status {}", a.client, a.status),
        };
        assert_eq!(a.status, expected, "{}", a.outcome);
        assert!(
            a.right || !a.outcome.contains("accepted"),
            "a wrong code was accepted"
        );
        if a.retry_of.as_deref() == Some("accepted") {
            assert_eq!(
                a.outcome, "replayed_accepted",
                "a retried acceptance was not replayed"
            );
        }
    }
    // No answer over a limit: per booking, at most 3 fresh rejections and one acceptance;
    // per vaccinator, at most its budget of fresh rejections.
    let fresh = |outcome: &str, of: &dyn Fn(&Answer) -> bool| {
        answers
            .iter()
            .filter(|a| a.outcome == outcome && of(a))
            .count()
    };
    let mut redeemed = 0;
    for b in 0..BOOKINGS {
        let rejected = fresh("rejected", &|a| a.booking == b);
        let accepted = fresh("accepted", &|a| a.booking == b);
        assert!(
            rejected <= ATTEMPTS,
            "booking {b}: {rejected} wrong codes answered"
        );
        assert!(accepted <= 1, "booking {b} redeemed {accepted} times");
        let booking = app_booking(&app, &id(b)).await;
        let state = booking.map(|bk| bk.state());
        assert_eq!(
            state == Some(State::Redeemed),
            accepted == 1,
            "booking {b}: {state:?}"
        );
        redeemed += accepted;
    }
    for c in 0..CLIENTS {
        let rejected = fresh("rejected", &|a| a.client == c);
        assert!(
            rejected <= BUDGET,
            "vaccinator {c}: {rejected} wrong codes answered"
        );
    }
    assert!(
        redeemed > 0,
        "the load redeemed nothing: the checks above would prove little"
    );
    // Store faults and lost races may answer 503, but not as a matter of course.
    let unavailable = answers.iter().filter(|a| a.status == 503).count();
    let mut why: Vec<&str> = answers
        .iter()
        .filter(|a| a.status == 503)
        .map(|a| a.outcome.as_str())
        .collect();
    why.dedup();
    assert!(
        unavailable * 100 <= answers.len(),
        "{unavailable} of {} answers were 503: {why:?}",
        answers.len()
    );

    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "http_service on {label}: {} requests from {CLIENTS} clients in {:.2} s = {:.0} req/s; \
         p50 {:.2} ms, p99 {:.2} ms; {redeemed}/{BOOKINGS} bookings redeemed, {} suspended answers, {unavailable} 503s",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        pick(0.50).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        answers.iter().filter(|a| a.status == 429).count(),
    );

    // Graceful shutdown: the server stops and its task ends cleanly.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server shut down within 10 s")
        .expect("the server task did not panic")
        .expect("the server ended without an I/O error");
}

/// The booking's record, read through the service on the app's own store.
async fn app_booking(app: &App, id: &str) -> Option<handover_code::record::Booking> {
    let booking = BookingId::new(id).unwrap();
    match &app.backend {
        Backend::Sqlite(store) => app.service.booking(&**store, booking).unwrap(),
        Backend::Postgres(store) => app.service.booking_async(&**store, booking).await.unwrap(),
        Backend::Any(store) => app.service.booking_async(&**store, booking).await.unwrap(),
    }
}

async fn on_sqlite() {
    let dir = scratch::ScratchDir::new("http-service");
    let path = dir.join("http-service.db");
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        drive(Backend::Sqlite(Arc::new(store)), "SQLite (Normal)"),
    );
    run.await.expect("the load ran within 120 s");
}

/// The same load on a store opened from a URL, as the binary opens its `--store`.
async fn on_a_url() {
    let dir = scratch::ScratchDir::new("http-service-url");
    let url = format!("sqlite:{}?durability=normal", dir.join("url.db").display());
    let store = handover_code_any::AnyStore::connect(&url).await.unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        drive(
            Backend::Any(Arc::new(store)),
            "SQLite from a URL (AnyStore)",
        ),
    );
    run.await.expect("the load ran within 120 s");
}

async fn on_postgres() {
    let Some(cluster) = pg_cluster::Cluster::start() else {
        return;
    };
    let store = PostgresStore::connect(&cluster.params(), 16, Duration::from_secs(5)).unwrap();
    store.create_schema().await.unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        drive(Backend::Postgres(Arc::new(store)), "PostgreSQL"),
    );
    run.await.expect("the load ran within 120 s");
}

/// The same load on the host's own sqlx pool, as a sqlx service has it: the store takes the
/// pool as it is, and the host goes on using it for its own queries (here: reading the
/// records table back).
async fn on_the_hosts_sqlx_sqlite_pool() {
    use handover_code_any::AnyStore;
    use handover_code_sqlx::SqliteStore as SqlxSqliteStore;
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let dir = scratch::ScratchDir::new("http-service-sqlx");
    let options = SqliteConnectOptions::new()
        .filename(dir.join("sqlx.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = SqlxSqliteStore::new(pool.clone());
    store.create_schema().await.unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        drive(
            Backend::Any(Arc::new(AnyStore::from(store))),
            "SQLite on the host's sqlx pool",
        ),
    );
    run.await.expect("the load ran within 120 s");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM handover_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(rows > 0, "the host's pool does not see the store's rows");
}

/// The same load on PostgreSQL through the host's own sqlx pool.
async fn on_the_hosts_sqlx_pg_pool() {
    use handover_code_any::AnyStore;
    use handover_code_sqlx::PgStore;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let Some(cluster) = pg_cluster::Cluster::start() else {
        return;
    };
    let options: PgConnectOptions = cluster.url().parse().unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.options([("statement_timeout", "5000")]))
        .await
        .unwrap();
    let store = PgStore::new(pool.clone());
    store.create_schema().await.unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        drive(
            Backend::Any(Arc::new(AnyStore::from(store))),
            "PostgreSQL on the host's sqlx pool",
        ),
    );
    run.await.expect("the load ran within 120 s");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM handover_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(rows > 0, "the host's pool does not see the store's rows");
}

/// Issue 32: the service's counts and store-call latencies, scraped from `GET /metrics` as
/// Prometheus text after a known run (an issue, a wrong code, the right one, a verification
/// of a booking that is not there), labelled by context, store and outcome, and never by
/// booking or code. Without a recorder the route is 404.
async fn on_sqlite_with_metrics() {
    let dir = scratch::ScratchDir::new("http-metrics");
    let store = SqliteStore::open(dir.join("metrics.db"), Durability::Normal).unwrap();
    let outbox = Outbox::default();
    let mut app = app(Backend::Sqlite(Arc::new(store)), &outbox);
    app.service = app
        .service
        .clone()
        .with_events(handover_code::audit::MetricsEvents::new("sqlite"));
    // The process's one recorder (the only trial that installs one).
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let serve = |router: axum::Router| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        (addr, stop, server)
    };
    let (addr, stop, server) = serve(http_service::router(app)).await;
    let (metrics_addr, metrics_stop, metrics_server) =
        serve(http_service::metrics_router(handle)).await;
    let booking = "METRICS-7";
    let reply = post(addr, &format!("/bookings/{booking}/issue"), &ISSUER, "{}").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let code = outbox.lock().unwrap()[booking].clone();
    let me = [("authorization", "Bearer token-0")];
    let path = format!("/bookings/{booking}/verify");
    let reply = post(
        addr,
        &path,
        &me,
        &format!(r#"{{"code":"{}"}}"#, wrong(&code, 1)),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let reply = post(addr, &path, &me, &format!(r#"{{"code":"{code}"}}"#)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(addr, "/bookings/NOBODY/verify", &me, r#"{"code":"1234"}"#).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // Never on the public listener.
    assert_eq!(request(addr, "GET", "/metrics", &[], "").await.status, 404);

    let scraped = request(metrics_addr, "GET", "/metrics", &[], "").await;
    assert_eq!(scraped.status, 200);
    assert!(
        scraped.headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{:?}",
        scraped.headers
    );
    let text = scraped.body;
    for line in [
        r#"handover_issued_total{context="cowin/dose",store="sqlite"} 1"#,
        r#"handover_sends_total{context="cowin/dose",store="sqlite",send="issue"} 1"#,
        r#"handover_verifications_total{context="cowin/dose",store="sqlite",outcome="rejected"} 1"#,
        r#"handover_verifications_total{context="cowin/dose",store="sqlite",outcome="accepted"} 1"#,
        r#"handover_verifications_total{context="cowin/dose",store="sqlite",outcome="unknown_booking"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    for operation in ["load", "compare_and_swap"] {
        let count = format!(r#"handover_store_call_seconds_count{{operation="{operation}"}}"#);
        assert!(
            text.lines()
                .any(|l| l.starts_with(&count) && !l.ends_with(" 0")),
            "no {count} in:\n{text}"
        );
    }
    assert!(
        !text.contains(booking) && !text.contains(&code) && !text.contains("vaccinator"),
        "a booking, a code or a verifier in the metrics:\n{text}"
    );
    println!(
        "http_service metrics: {} lines of Prometheus text after 4 requests",
        text.lines().count()
    );
    for (stop, server) in [(stop, server), (metrics_stop, metrics_server)] {
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

fn metrics_are_scraped_as_prometheus_text() {
    on_runtime(on_sqlite_with_metrics());
}

/// Runs `f` on a multi-thread runtime of 4 workers, as the service's host would.
fn on_runtime(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

fn sixty_four_clients_on_sqlite() {
    on_runtime(on_sqlite());
}

fn sixty_four_clients_on_a_store_from_a_url() {
    on_runtime(on_a_url());
}

fn sixty_four_clients_on_postgres() {
    on_runtime(on_postgres());
}

fn sixty_four_clients_on_the_hosts_sqlx_sqlite_pool() {
    on_runtime(on_the_hosts_sqlx_sqlite_pool());
}

fn sixty_four_clients_on_the_hosts_sqlx_pg_pool() {
    on_runtime(on_the_hosts_sqlx_pg_pool());
}

/// Both loads; the PostgreSQL one is ignored, with the reason, where PostgreSQL is missing.
fn main() {
    harness::run(
        pg_cluster::missing(),
        trials!(
            server: sixty_four_clients_on_postgres, sixty_four_clients_on_the_hosts_sqlx_pg_pool;
            plain: sixty_four_clients_on_sqlite,
            sixty_four_clients_on_a_store_from_a_url,
            sixty_four_clients_on_the_hosts_sqlx_sqlite_pool,
            metrics_are_scraped_as_prometheus_text
        ),
    );
}
