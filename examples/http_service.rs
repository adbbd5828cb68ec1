//! The vaccination centre's API as an HTTP service: axum on SQLite or PostgreSQL.
//!
//! ```text
//! cargo run --example http_service --features sqlite,postgres,serde -- \
//!     --store sqlite:centre.db --listen 127.0.0.1:8080 --token t0ken=vaccinator-7
//! cargo run --example http_service --features sqlite,postgres,serde -- \
//!     --store 'postgres:host=127.0.0.1 user=app dbname=app'
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `POST /bookings/{id}/issue` `{"valid_secs": 900}` | 201, the code goes to the SMS gateway |
//! | `POST /bookings/{id}/resend` | 202; 429 with `Retry-After` past the send limit |
//! | `POST /bookings/{id}/verify` `{"code": "0427"}`, `Authorization: Bearer TOKEN`, optional `Idempotency-Key` | the [`Outcome`] as JSON |
//!
//! Statuses: 200 accepted (or an acceptance replayed), 422 wrong code (or one replayed), 423 locked, 410 expired or
//! revoked, 409 already redeemed, 404 unknown booking, 429 with `Retry-After` for a
//! suspended vaccinator and for the send limit, 400 for malformed input, 401 without a known
//! bearer token, 503 with `Retry-After` for a busy budget or a store that is down.
//!
//! One [`SharedService`] lives in the router's state for every request. SQLite's calls block,
//! so they run in `spawn_blocking`; PostgreSQL's are async. Ctrl-C shuts down gracefully:
//! requests in flight are answered first.
//!
//! The secret comes from `HANDOVER_SECRET` (64 hex digits or more); without it a fixed demo
//! secret is used and said so. The "SMS gateway" here prints the message it would send.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Json, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Router, serve};
use handover_code::record::Earlier;
use handover_code::store::postgres::PostgresStore;
use handover_code::store::sqlite::{Durability, SqliteStore};
use handover_code::{
    AsyncStore, BookingId, Code, Context, Digits, Error, KeyId, Keyring, Outcome, Policy,
    RequestId, Secret, SharedService, Store, Timestamp, VerifierId,
};
use serde::Deserialize;
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
}

/// What every request shares: cloned per request for the price of a few reference counts.
#[derive(Clone)]
pub struct App {
    /// The centre's one service.
    pub service: SharedService,
    /// Its store.
    pub backend: Backend,
    /// Bearer token → verifier id. A real host checks tokens with its identity provider.
    pub verifiers: Arc<HashMap<String, String>>,
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

/// The centre's policy: 4 digits, 3 wrong codes a booking, 20 wrong codes per vaccinator a
/// day.
///
/// # Errors
///
/// Never with these constants; a policy out of range would be.
pub fn centre_service(keys: Arc<Keyring>) -> Result<SharedService, handover_code::Invalid> {
    let policy = Policy::new(Digits::Four)
        .with_attempts(3)?
        .with_verifier_budget(20, 86_400)?;
    Ok(SharedService::new(
        keys,
        policy,
        Context::new("cowin/dose")?,
    ))
}

/// The routes, over `app`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/bookings/{id}/issue", post(issue))
        .route("/bookings/{id}/resend", post(resend))
        .route("/bookings/{id}/verify", post(verify))
        .with_state(app)
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

enum Done {
    Sent(Code),
    Answered(Outcome),
}

async fn issue(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Option<Json<IssueBody>>,
) -> Response {
    let now = Timestamp::now();
    let valid = body.and_then(|Json(b)| b.valid_secs).unwrap_or(86_400);
    let until = Timestamp(now.0.saturating_add(valid));
    match app.run(id.clone(), Op::Issue { until }, now).await {
        Ok(Done::Sent(code)) => {
            (app.sms)(&id, &code);
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "sent": true })),
            )
                .into_response()
        }
        Ok(Done::Answered(_)) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn resend(State(app): State<App>, Path(id): Path<String>) -> Response {
    let now = Timestamp::now();
    match app.run(id.clone(), Op::Resend, now).await {
        Ok(Done::Sent(code)) => {
            (app.sms)(&id, &code);
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "sent": true })),
            )
                .into_response()
        }
        Ok(Done::Answered(_)) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn verify(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<VerifyBody>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(verifier) = token.and_then(|t| app.verifiers.get(t)).cloned() else {
        let mut response = Failure::new(StatusCode::UNAUTHORIZED, "a known bearer token is needed")
            .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
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
        Ok(Done::Sent(_)) => Failure::internal().into_response(),
        Err(failure) => failure.into_response(),
    }
}

impl App {
    /// Runs `op` on the booking: SQLite on the blocking pool, PostgreSQL on this task.
    async fn run(&self, booking: String, op: Op, now: Timestamp) -> Result<Done, Failure> {
        match &self.backend {
            Backend::Sqlite(store) => {
                let (service, store) = (self.service.clone(), Arc::clone(store));
                let blocking = move || on_store(&service, &*store, &booking, &op, now);
                match tokio::task::spawn_blocking(blocking).await {
                    Ok(done) => done.map_err(Failure::from),
                    Err(_) => Err(Failure::internal()),
                }
            }
            Backend::Postgres(store) => on_async_store(&self.service, &**store, &booking, &op, now)
                .await
                .map_err(Failure::from),
        }
    }
}

fn on_store<S: Store>(
    service: &SharedService,
    store: &S,
    booking: &str,
    op: &Op,
    now: Timestamp,
) -> Result<Done, Error<S::Error>> {
    let booking = BookingId::new(booking)?;
    Ok(match op {
        Op::Issue { until } => Done::Sent(service.issue(store, booking, *until, now)?),
        Op::Resend => Done::Sent(service.resend(store, booking, now)?),
        Op::Verify {
            typed,
            verifier,
            request,
        } => {
            let verifier = Some(VerifierId::new(verifier)?);
            Done::Answered(match request {
                Some(id) => {
                    let id = RequestId::new(id)?;
                    service.verify_request(store, booking, typed, verifier, id, now)?
                }
                None => service.verify(store, booking, typed, verifier, now)?,
            })
        }
    })
}

async fn on_async_store<S: AsyncStore>(
    service: &SharedService,
    store: &S,
    booking: &str,
    op: &Op,
    now: Timestamp,
) -> Result<Done, Error<S::Error>> {
    let booking = BookingId::new(booking)?;
    Ok(match op {
        Op::Issue { until } => Done::Sent(service.issue_async(store, booking, *until, now).await?),
        Op::Resend => Done::Sent(service.resend_async(store, booking, now).await?),
        Op::Verify {
            typed,
            verifier,
            request,
        } => {
            let verifier = Some(VerifierId::new(verifier)?);
            Done::Answered(match request {
                Some(id) => {
                    let id = RequestId::new(id)?;
                    service
                        .verify_request_async(store, booking, typed, verifier, id, now)
                        .await?
                }
                None => {
                    service
                        .verify_async(store, booking, typed, verifier, now)
                        .await?
                }
            })
        }
    })
}

/// An outcome as JSON with its status; a suspension with `Retry-After`.
fn answer(outcome: Outcome, now: Timestamp) -> Response {
    let status = match outcome {
        Outcome::Rejected { .. } | Outcome::Replayed(Earlier::Rejected { .. }) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Outcome::Locked => StatusCode::LOCKED,
        Outcome::Expired | Outcome::Revoked => StatusCode::GONE,
        Outcome::AlreadyRedeemed => StatusCode::CONFLICT,
        Outcome::UnknownBooking => StatusCode::NOT_FOUND,
        Outcome::VerifierSuspended { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    };
    let mut response = (status, Json(outcome)).into_response();
    if let Outcome::VerifierSuspended { until } = outcome {
        retry_after(&mut response, until.0.saturating_sub(now.0));
    }
    response
}

fn retry_after(response: &mut Response, secs: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// An error answer: a status, an optional `Retry-After`, and the error's message, which
/// never carries a code or a secret.
struct Failure {
    status: StatusCode,
    retry_after: Option<u64>,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            retry_after: None,
            message: message.to_owned(),
        }
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl<S: std::error::Error> From<Error<S>> for Failure {
    fn from(e: Error<S>) -> Self {
        let now = Timestamp::now();
        let (status, retry_after) = match &e {
            Error::SendLimit { retry_at } => (
                StatusCode::TOO_MANY_REQUESTS,
                Some(retry_at.0.saturating_sub(now.0)),
            ),
            Error::BudgetBusy | Error::Contention | Error::Store(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(1))
            }
            Error::UnknownBooking => (StatusCode::NOT_FOUND, None),
            Error::AlreadyIssued | Error::Inactive(_) => (StatusCode::CONFLICT, None),
            Error::Clock | Error::Corrupt | Error::UnknownKey => {
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
            _ => (StatusCode::BAD_REQUEST, None),
        };
        Self {
            status,
            retry_after,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            retry_after(&mut response, secs);
        }
        response
    }
}

/// The secret from `HANDOVER_SECRET` (hex), or the demo secret.
fn secret() -> Result<Secret, Box<dyn std::error::Error>> {
    let Ok(hex) = std::env::var("HANDOVER_SECRET") else {
        eprintln!("HANDOVER_SECRET is not set: using the fixed demo secret; never in production");
        return Ok(Secret::from_bytes(&[0x42; 32])?);
    };
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| "HANDOVER_SECRET must be hex digits")?;
    Ok(Secret::from_bytes(&bytes)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut store = String::from("sqlite:centre.db");
    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut verifiers = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--store" => store = value,
            "--listen" => listen = value.parse()?,
            "--token" => {
                let (token, verifier) = value.split_once('=').ok_or("--token TOKEN=VERIFIER")?;
                verifiers.insert(token.to_owned(), verifier.to_owned());
            }
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if verifiers.is_empty() {
        eprintln!("no --token given: accepting bearer token demo-token as vaccinator-1");
        verifiers.insert("demo-token".to_owned(), "vaccinator-1".to_owned());
    }
    let backend = match store.split_once(':') {
        Some(("sqlite", path)) => {
            Backend::Sqlite(Arc::new(SqliteStore::open(path, Durability::Full)?))
        }
        Some(("postgres", params)) => {
            let store = PostgresStore::connect(params, 16, Duration::from_secs(3))?;
            store.create_schema().await?;
            Backend::Postgres(Arc::new(store))
        }
        _ => return Err("--store sqlite:PATH or --store postgres:PARAMS".into()),
    };
    let keys = Arc::new(Keyring::new(KeyId(1), secret()?));
    let sms: Sms = Arc::new(|booking, code| {
        println!(
            "SMS gateway: booking {booking}: your security code is {}",
            code.expose()
        );
    });
    let app = App {
        service: centre_service(keys)?,
        backend,
        verifiers: Arc::new(verifiers),
        sms,
    };
    let listener = TcpListener::bind(listen).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    run(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down: answering requests in flight");
    })
    .await?;
    Ok(())
}
