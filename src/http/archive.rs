//! `GET /api/reports/archive`: the frozen periodic reports (managers); one of them as
//! JSON, CSV (the live report's writer) or a printable HTML summary.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState, Authed};
use crate::desk::{ArchiveEntry, DeskError};

/// `?format=json|csv|html`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    format: Option<String>,
}

/// The archived reports, newest period first.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<ArchiveEntry>>, ApiError> {
    Ok(Json(s.desk.report_archive(&caller).await?))
}

/// One archived report as it was frozen.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    Query(q): Query<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let (entry, snapshot) = s.desk.archived_report(&caller, id).await?;
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(serde_json::json!({
            "archive": entry,
            "snapshot": snapshot,
        }))
        .into_response(),
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            snapshot.report.to_csv(),
        )
            .into_response(),
        Some("html") => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            snapshot.to_html(),
        )
            .into_response(),
        Some(other) => {
            return Err(DeskError::BadValue(format!(
                "unknown format `{other}`; use json, csv or html"
            ))
            .into());
        }
    })
}
