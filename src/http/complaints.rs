//! `/api/complaints`: a reporter files one (`POST`); managers list, read and answer them.
//! A complaint's text is for managers only: engineers are refused every read.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, ApiJson, AppState, Authed};
use crate::desk::{Complaint, ComplaintDetail};
use crate::domain::complaint::ComplaintStatus;

/// A complaint as a reporter files it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComplaintBody {
    /// The ticket it is about (number), if any.
    ticket: Option<String>,
    /// What happened.
    text: String,
}

/// A manager's answer: the outcome told to the complainant, and whether that closes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    outcome: String,
    #[serde(default)]
    close: bool,
}

/// Listing filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<ComplaintStatus>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// `POST /api/complaints` (a reporter's token): files a complaint.
pub async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(body): ApiJson<NewComplaintBody>,
) -> Result<(StatusCode, Json<Complaint>), ApiError> {
    let c = s
        .desk
        .complain(&caller, body.ticket.as_deref(), &body.text, "api")
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// `GET /api/complaints` (managers): newest first.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Complaint>>, ApiError> {
    let page = i64::from(q.page.unwrap_or(1));
    let per_page = i64::from(q.per_page.unwrap_or(50));
    Ok(Json(
        s.desk.complaints(&caller, q.status, page, per_page).await?,
    ))
}

/// `GET /api/complaints/{id}` (managers): with its trail.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Json<ComplaintDetail>, ApiError> {
    Ok(Json(s.desk.complaint(&caller, id).await?))
}

/// `POST /api/complaints/{id}/answer` (managers): the outcome, told to the complainant.
pub async fn answer(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<Json<ComplaintDetail>, ApiError> {
    Ok(Json(
        s.desk
            .answer_complaint(&caller, id, &body.outcome, body.close)
            .await?,
    ))
}
