//! The axum service a newcomer writes first, as issue 23 tried it on the old API: the
//! service in axum's `State`, `?` on constructors and operations inside a handler with one
//! `From` impl, and a SQLite service moved into `spawn_blocking`. `scripts/fresh_project.sh`
//! builds it in a fresh project with README's `cargo add` line, and runs it.

use std::sync::Arc;

use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use handover_code::{Error, ErrorClass, Policy, Secret, Service, Timestamp};
use handover_code_sqlite::SqliteStore;

#[derive(Clone)]
struct AppState {
    service: Service,
    store: Arc<SqliteStore>,
}

struct AppError(Error);

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match self.0.class() {
            ErrorClass::BadInput => StatusCode::BAD_REQUEST,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Limit => StatusCode::TOO_MANY_REQUESTS,
            ErrorClass::Transient => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (status, self.0.to_string()).into_response();
        if let Some(at) = self.0.retry_after() {
            let secs = (at - Timestamp::now()).as_secs().to_string();
            response.headers_mut().insert("retry-after", secs.parse().unwrap());
        }
        response
    }
}

async fn issue(State(state): State<AppState>, Path(id): Path<String>) -> Result<String, AppError> {
    let policy = Policy::default().with_attempts(3)?; // `?` on a constructor
    assert_eq!(policy.attempts(), 3);
    let (service, store) = (state.service.clone(), state.store.clone());
    let now = Timestamp::now();
    let code = tokio::task::spawn_blocking(move || service.issue(&*store, &id, now.0 + 600, now))
        .await
        .expect("the blocking task ran")?;
    Ok(code.expose().to_string()) // a real service sends it by SMS instead
}

async fn verify(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(typed): Json<String>,
) -> Result<Json<bool>, AppError> {
    let (service, store) = (state.service.clone(), state.store.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        service.verify(&*store, &id, &typed, "vaccinator-1", Timestamp::now())
    })
    .await
    .expect("the blocking task ran")?;
    Ok(Json(outcome.is_accepted()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = Secret::from_hex(&"42".repeat(32))?;
    let service = Service::new(secret, Policy::default(), "cowin/dose")?;
    let store = Arc::new(SqliteStore::open_in_memory()?);
    let state = AppState { service, store };
    let _app: Router = Router::new()
        .route("/bookings/{id}/issue", post(issue))
        .route("/bookings/{id}/verify", post(verify))
        .with_state(state.clone());

    // The handlers, called as axum would call them.
    let id = || Path("SLOT-1".to_string());
    let Ok(code) = issue(State(state.clone()), id()).await else { panic!("issue failed") };
    let Ok(Json(accepted)) = verify(State(state.clone()), id(), Json(code)).await else {
        panic!("verify failed")
    };
    assert!(accepted);
    let Err(AppError(e)) = issue(State(state), Path(String::new())).await else {
        panic!("an empty booking id was taken")
    };
    assert!(matches!(e, Error::BookingIdLength));
    println!("the newcomer's axum service issued, verified and refused an empty id");
    Ok(())
}
