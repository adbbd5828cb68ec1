//! A host of handover-code, as a service that embeds it is built: the vaccination centre's
//! API over HTTP, axum on SQLite or PostgreSQL, each store from its adapter crate. Not
//! published; the workspace builds and tests it in CI, so every adapter is proven usable
//! from outside the core as a host uses it.
//!
//! ```text
//! cargo run -p handover-code-host -- \
//!     --store sqlite:centre.db --listen 127.0.0.1:8080 --token t0ken=vaccinator-7 \
//!     --issuer-token booking-system-token --print-codes --metrics-listen 127.0.0.1:9100
//! cargo run -p handover-code-host -- --store 'postgres://app@127.0.0.1/app?pool=32'
//! ```
//!
//! The binary opens whatever store `--store` names with `handover-code-any`'s `AnyStore`
//! (`memory:`, `sqlite:PATH`, `postgres://…`, `redis://…`) and prunes it every 10 minutes.
//! The host builds `AnyStore` with every adapter, Redis among them, so every store it opens
//! verifies in the reservation mode (`AnyStore`'s docs say why); the load test drives the
//! concrete stores too, a blocking `SqliteStore` on the blocking pool. Before `AnyStore`,
//! `--store` took `postgres:KEY=VALUE …`; it now takes a `postgres://` URL.
//!
//! | request | answer |
//! |---|---|
//! | `POST /bookings/{id}/issue` `{"valid_secs": 900}`, `Authorization: Bearer ISSUER` | 201, the code goes to the SMS gateway |
//! | `POST /bookings/{id}/resend`, `Authorization: Bearer ISSUER` | 202; 429 with `Retry-After` past the send limit |
//! | `POST /bookings/{id}/verify` `{"code": "0427"}`, `Authorization: Bearer TOKEN`, optional `Idempotency-Key` | the [`Outcome`] as JSON |
//!
//!
//! Metrics are served on a listener of their own ([`metrics_router`]; the binary's
//! `--metrics-listen`, loopback by default): `GET /metrics` gives the service's counts and
//! store-call latencies as Prometheus text
//! ([`MetricsEvents`](handover_code::audit::MetricsEvents)'s table), for a scraper inside
//! the network, never on the public listener.
//!
//! Statuses: 200 accepted (or an acceptance replayed), 422 wrong code (or one replayed), 423 locked, 410 expired or
//! revoked, 409 already redeemed (and an issue of a booking already issued), 404 unknown
//! booking, 429 with `Retry-After` for a suspended vaccinator, a busy budget and the send
//! limit, 400 for malformed input, 401 without a known bearer token, 503 with
//! `Retry-After` for a store that is down or a race lost, 500 for a fault of the server (a
//! store that refuses, a corrupt record, its clock): errors by `Error::class`.
//! Issuing and resending need the issuer's token (the booking system's, `--issuer-token`):
//! every send is an SMS someone pays for.
//!
//! One [`Service`] lives in the router's state for every request. Each operation runs
//! in a task of its own (a blocking `SqliteStore`'s calls in `spawn_blocking`, an async
//! store's in `tokio::spawn`), so a client that hangs up cannot cut an operation off half-way
//! or leave an issued code unsent. Ctrl-C shuts down gracefully: requests in flight are
//! answered first.
//!
//! The secret comes from `HANDOVER_SECRET` (64 hex digits or more); without it a fixed demo
//! secret is used and said so. The "SMS gateway" here says which booking it sent to; with
//! `--print-codes` (a demo on your own machine only) it prints the code too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, serve};
use handover_code::Attempt;
use handover_code::{
    AsyncStore, Code, Digits, Error, Keyring, Outcome, Policy, Service, Store, Timestamp,
};
use handover_code_any::AnyStore;
use handover_code_postgres::PostgresStore;
use handover_code_sqlite::SqliteStore;
use serde::Deserialize;

mod answer;

use answer::{Failure, answer};
use tokio::net::TcpListener;

/// Where codes go: an SMS gateway in production, a print or a test's outbox here.
pub type Sms = Arc<dyn Fn(&str, &Code) + Send + Sync>;

/// The store behind the service.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Blocking calls, run on tokio's blocking pool.
    Sqlite(Arc<SqliteStore>),
    /// Async calls on the request's task.
    Postgres(Arc<PostgresStore>),
    /// Whichever store a URL named, async calls on the request's task.
    Any(Arc<AnyStore>),
}

/// What every request shares: cloned per request for the price of a few reference counts.
#[derive(Clone)]
pub struct App {
    /// The centre's one service.
    pub service: Service,
    /// Its store.
    pub backend: Backend,
    /// Bearer token → verifier id. A real host checks tokens with its identity provider.
    pub verifiers: Arc<HashMap<String, String>>,
    /// The booking system's bearer token, needed to issue and resend.
    pub issuer: Arc<str>,
    /// Where issued and resent codes go.
    pub sms: Sms,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("service", &self.service)
            .field("backend", &self.backend)
            .field("verifiers", &self.verifiers.len())
            .finish_non_exhaustive()
    }
}

/// The longest validity an issue may ask for: a week.
pub const MAX_VALID_SECS: u64 = 7 * 86_400;

/// The centre's policy: 4 digits, 3 wrong codes a booking, `budget` wrong codes per
/// vaccinator a day (the binary runs with 20).
///
/// # Errors
///
/// [`handover_code::Error::PolicyBudget`] for a budget of 0.
pub fn centre_service(keys: Arc<Keyring>, budget: u32) -> Result<Service, handover_code::Error> {
    let policy = Policy::new(Digits::Four)
        .with_attempts(3)?
        .with_verifier_budget(budget, 86_400)?;
    Service::new(keys, policy, "cowin/dose")
}

/// The routes, over `app`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/bookings/{id}/issue", post(issue))
        .route("/bookings/{id}/resend", post(resend))
        .route("/bookings/{id}/verify", post(verify))
        .with_state(app)
}

/// `GET /metrics`: what `handle`'s recorder holds, as Prometheus text, for a scraper. Serve
/// it on a listener of its own, inside the network: it shows rates per context.
pub fn metrics_router(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(handle)
}

/// The metrics as Prometheus text.
async fn scrape(State(handle): State<metrics_exporter_prometheus::PrometheusHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then answers what is in flight.
///
/// # Errors
///
/// The listener's I/O errors.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Deserialize)]
struct IssueBody {
    valid_secs: Option<u64>,
}

#[derive(Deserialize)]
struct VerifyBody {
    code: String,
}

/// One operation, owned, so it can move onto the blocking pool.
enum Op {
    Issue {
        until: Timestamp,
    },
    Resend,
    Verify {
        typed: String,
        verifier: String,
        request: Option<String>,
    },
}

/// What an operation produced on the store.
enum Finished {
    Sent(Code),
    Answered(Outcome),
}

/// What a handler answers: the code itself stays with the SMS gateway.
enum Done {
    Sent,
    Answered(Outcome),
}

async fn issue(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<IssueBody>, JsonRejection>,
) -> Response {
    if bearer(&headers) != Some(&*app.issuer) {
        return unauthorized();
    }
    let valid = match body {
        Ok(Json(body)) => body.valid_secs.unwrap_or(86_400),
        Err(rejection) => return Failure::body(&rejection).into_response(),
    };
    if valid > MAX_VALID_SECS {
        return Failure::new(StatusCode::BAD_REQUEST, "valid_secs may be at most a week")
            .into_response();
    }
    let now = Timestamp::now();
    let until = Timestamp(now.0.saturating_add(valid));
    match app.run(id, Op::Issue { until }, now).await {
        Ok(Done::Sent) => sent(StatusCode::CREATED),
        Ok(Done::Answered(_)) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn resend(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if bearer(&headers) != Some(&*app.issuer) {
        return unauthorized();
    }
    match app.run(id, Op::Resend, Timestamp::now()).await {
        Ok(Done::Sent) => sent(StatusCode::ACCEPTED),
        Ok(Done::Answered(_)) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn verify(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<VerifyBody>, JsonRejection>,
) -> Response {
    let Some(verifier) = bearer(&headers).and_then(|t| app.verifiers.get(t)).cloned() else {
        return unauthorized();
    };
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return Failure::body(&rejection).into_response(),
    };
    let request = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = Timestamp::now();
    let op = Op::Verify {
        typed: body.code,
        verifier,
        request,
    };
    match app.run(id, op, now).await {
        Ok(Done::Answered(outcome)) => answer(outcome, now),
        Ok(Done::Sent) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// A send that went to the gateway; the code is never in the answer.
fn sent(status: StatusCode) -> Response {
    (status, Json(serde_json::json!({ "sent": true }))).into_response()
}

/// The bearer token of the request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn unauthorized() -> Response {
    let mut response =
        Failure::new(StatusCode::UNAUTHORIZED, "a known bearer token is needed").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

impl App {
    /// Runs `op` on the booking in a task of its own, and hands a code it produced to the
    /// SMS gateway there: a dropped request stops neither half-way.
    async fn run(&self, booking: String, op: Op, now: Timestamp) -> Result<Done, Failure> {
        let (service, backend) = (self.service.clone(), self.backend.clone());
        let sms = Arc::clone(&self.sms);
        let task = tokio::spawn(async move {
            let finished = match backend {
                Backend::Sqlite(store) => {
                    let id = booking.clone();
                    let blocking = move || on_store(&service, &*store, &id, &op, now);
                    match tokio::task::spawn_blocking(blocking).await {
                        Ok(finished) => finished.map_err(Failure::from),
                        Err(_) => Err(Failure::internal()),
                    }
                }
                Backend::Postgres(store) => on_async_store(&service, &*store, &booking, &op, now)
                    .await
                    .map_err(Failure::from),
                Backend::Any(store) => on_async_store(&service, &*store, &booking, &op, now)
                    .await
                    .map_err(Failure::from),
            };
            finished.map(|finished| match finished {
                Finished::Sent(code) => {
                    sms(&booking, &code);
                    Done::Sent
                }
                Finished::Answered(outcome) => Done::Answered(outcome),
            })
        });
        task.await.unwrap_or_else(|_| Err(Failure::internal()))
    }
}

fn on_store<S: Store>(
    service: &Service,
    store: &S,
    booking: &str,
    op: &Op,
    now: Timestamp,
) -> Result<Finished, Error> {
    Ok(match op {
        Op::Issue { until } => Finished::Sent(service.issue(store, booking, *until, now)?),
        Op::Resend => Finished::Sent(service.resend(store, booking, now)?),
        Op::Verify {
            typed,
            verifier,
            request,
        } => Finished::Answered(service.verify(
            store,
            booking,
            typed,
            attempt(verifier, request),
            now,
        )?),
    })
}

async fn on_async_store<S: AsyncStore>(
    service: &Service,
    store: &S,
    booking: &str,
    op: &Op,
    now: Timestamp,
) -> Result<Finished, Error> {
    Ok(match op {
        Op::Issue { until } => {
            Finished::Sent(service.issue_async(store, booking, *until, now).await?)
        }
        Op::Resend => Finished::Sent(service.resend_async(store, booking, now).await?),
        Op::Verify {
            typed,
            verifier,
            request,
        } => {
            let attempt = attempt(verifier, request);
            Finished::Answered(
                service
                    .verify_async(store, booking, typed, attempt, now)
                    .await?,
            )
        }
    })
}

/// The verifier, under the request's `Idempotency-Key` when it has one.
fn attempt<'a>(verifier: &'a str, request: &'a Option<String>) -> Attempt<'a> {
    match request {
        Some(id) => Attempt::by(verifier).request(id),
        None => Attempt::by(verifier),
    }
}
