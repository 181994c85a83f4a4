//! One error type for the HTTP edge, rendered as RFC 9457 problem+json with a sentence a
//! person can act on. Internal failures are logged, never shown.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::desk::{DeskError, FieldError};
use crate::domain::ticket::TicketError;

/// Everything an API call can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// Malformed request (bad JSON, unknown field, bad query).
    #[error("{0}")]
    BadRequest(String),
    /// The desk refused or failed.
    #[error(transparent)]
    Desk(#[from] DeskError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Desk(e) => match e {
                DeskError::Invalid(_) | DeskError::BadValue(_) | DeskError::Article(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                DeskError::Period(_) => StatusCode::BAD_REQUEST,
                DeskError::NotFound(_) => StatusCode::NOT_FOUND,
                DeskError::Forbidden(_) => StatusCode::FORBIDDEN,
                DeskError::Ticket(TicketError::Forbidden { .. }) => StatusCode::FORBIDDEN,
                DeskError::Ticket(TicketError::NotInGroup { .. }) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                DeskError::Ticket(_)
                | DeskError::AlreadyTaken { .. }
                | DeskError::Duplicate(_)
                | DeskError::Survey(_) => StatusCode::CONFLICT,
                DeskError::Inspection(e) if e.is_input() => StatusCode::UNPROCESSABLE_ENTITY,
                DeskError::Inspection(_) => StatusCode::CONFLICT,
                DeskError::Busy | DeskError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                DeskError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let errors: &[FieldError] = match &self {
            ApiError::Desk(DeskError::Invalid(list)) => list,
            _ => &[],
        };
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
            "errors": errors,
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
