//! `GET /api/tickets/{number}/photos/{n}`: a photo filed with a ticket, to whoever may see
//! the ticket.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Authed};

/// The photo's bytes, typed by their first bytes (chat platforms send JPEG or PNG).
pub async fn photo(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path((number, n)): Path<(String, i32)>,
) -> Result<Response, ApiError> {
    let bytes = s.desk.photo(&caller, &number, n).await?;
    let kind = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Never sniffed into something a browser would run.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
