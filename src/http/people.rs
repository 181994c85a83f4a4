//! `/api/people`: the staff directory. Managers import the client's staff list (the CSV as
//! the request body: UTF-8 with or without a BOM, or GBK); engineers and managers read it.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{ApiError, AppState, Authed};
use crate::desk::{DirectoryEntry, Imported};

/// The largest staff list accepted (a CSV of a few hundred thousand people).
pub(super) const MAX_FILE: usize = 32 * 1024 * 1024;

/// The directory's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/people", get(list)).route(
        "/api/people/import",
        post(import).layer(DefaultBodyLimit::max(MAX_FILE)),
    )
}

/// `GET /api/people` (engineers and managers): the directory, in import order.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<DirectoryEntry>>, ApiError> {
    Ok(Json(s.desk.people(&caller).await?))
}

/// `POST /api/people/import` (managers; body: the CSV): replaces the directory, or
/// refuses the file with the line that is wrong and changes nothing.
pub async fn import(
    State(s): State<AppState>,
    Authed(caller): Authed,
    body: Bytes,
) -> Result<Json<Imported>, ApiError> {
    Ok(Json(s.desk.import_people(&caller, &body).await?))
}
