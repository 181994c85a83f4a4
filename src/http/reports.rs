//! `GET /api/reports`: the managers' statistics as JSON or CSV.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState, Authed};
use crate::desk::DeskError;
use crate::domain::report::GroupBy;

/// Query parameters: `from` and `to` (local dates, inclusive) or `period`; `by`; `format`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<String>,
    by: Option<String>,
    format: Option<String>,
}

/// The report for a period.
pub async fn show(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let by =
        q.by.as_deref()
            .map(|b| {
                GroupBy::parse(b).ok_or_else(|| {
                DeskError::BadValue(format!(
                    "unknown breakdown `{b}`; use category, department, site, engineer or priority"
                ))
            })
            })
            .transpose()?;
    let (from, to) = state
        .desk
        .report_period(q.from, q.to, q.period.as_deref())?;
    let report = state.desk.report_for(&caller, from, to, by).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response(),
        None | Some("json") => axum::Json(report).into_response(),
        Some(other) => {
            return Err(
                DeskError::BadValue(format!("unknown format `{other}`; use json or csv")).into(),
            );
        }
    })
}
