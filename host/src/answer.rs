//! What the service answers: an [`Outcome`] as JSON with its status, and a [`Failure`] (the
//! crate's [`Error`], a missing token, a malformed body) as a status, `Retry-After` where a
//! retry may clear it, and a message that never carries a code or a secret.

use axum::extract::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use handover_code::record::Earlier;
use handover_code::{Error, ErrorClass, Outcome, Timestamp};

/// An outcome as JSON with its status; a suspension with `Retry-After`.
pub(crate) fn answer(outcome: Outcome, now: Timestamp) -> Response {
    let status = match outcome {
        Outcome::Accepted | Outcome::Replayed(Earlier::Accepted) => StatusCode::OK,
        Outcome::Rejected { .. } | Outcome::Replayed(Earlier::Rejected { .. }) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Outcome::Locked => StatusCode::LOCKED,
        Outcome::Expired | Outcome::Revoked => StatusCode::GONE,
        Outcome::AlreadyRedeemed { .. } => StatusCode::CONFLICT,
        Outcome::UnknownBooking => StatusCode::NOT_FOUND,
        Outcome::VerifierSuspended { .. } => StatusCode::TOO_MANY_REQUESTS,
        // An answer this service does not know yet is never taken for a handover.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
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
pub(crate) struct Failure {
    status: StatusCode,
    retry_after: Option<u64>,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            retry_after: None,
            message: message.to_owned(),
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// A body that is not the JSON asked for: 400, whatever axum's own status would be.
    pub(crate) fn body(rejection: &JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, &rejection.body_text())
    }
}

/// The crate's error as an answer, by its class (`ErrorClass`'s table): bad input 400 (an
/// unknown booking 404), a booking in the wrong state 409, a limit 429 with the seconds
/// to its time in `Retry-After`, a fault of the moment 503 (`Retry-After: 1`), a fault of
/// the server (its store refusing, a corrupt record, its clock, its keyring) 500.
impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let now = Timestamp::now();
        let (status, retry_after) = match (e.class(), &e) {
            (ErrorClass::Conflict, Error::UnknownBooking) => (StatusCode::NOT_FOUND, None),
            (ErrorClass::BadInput, _) => (StatusCode::BAD_REQUEST, None),
            (ErrorClass::Conflict, _) => (StatusCode::CONFLICT, None),
            (ErrorClass::Limit, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                e.retry_after().map(|at| (at - now).as_secs()),
            ),
            (ErrorClass::Transient, _) => (StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            (ErrorClass::Permanent, _) => (StatusCode::INTERNAL_SERVER_ERROR, None),
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
