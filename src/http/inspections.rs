//! `/api/inspection-plans` (managers keep the plans) and `/api/inspections` (the jobs:
//! managers see all, an engineer their group's and works them; reporters see none).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, ApiJson, AppState, Authed};
use crate::desk::inspections::{
    CheckOutcome, InspectionDetail, InspectionJob, InspectionPlan, InspectionPlanDetail,
};
use crate::domain::inspection::{CheckResult, PlanForm, PlanStatus};

/// A plan's change: its status (`active` resumes, `paused`, `retired`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    status: PlanStatus,
}

/// Listing filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    plan: Option<i64>,
    period: Option<String>,
}

/// A check recorded: its number, and pass or fault (with what was found).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    n: u32,
    result: CheckResult,
    #[serde(default)]
    note: Option<String>,
}

/// Closing a job: units inspected and who signed the check report on site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    units: u32,
    signed_by: String,
}

/// `POST /api/inspection-plans` (managers).
pub async fn create_plan(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(form): ApiJson<PlanForm>,
) -> Result<(StatusCode, Json<InspectionPlan>), ApiError> {
    let plan = s.desk.create_inspection_plan(&caller, form).await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// `GET /api/inspection-plans` (managers).
pub async fn plans(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<InspectionPlan>>, ApiError> {
    Ok(Json(s.desk.inspection_plans(&caller).await?))
}

/// `GET /api/inspection-plans/{id}` (managers): with its trail.
pub async fn plan(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Json<InspectionPlanDetail>, ApiError> {
    Ok(Json(s.desk.inspection_plan_detail(&caller, id).await?))
}

/// `PATCH /api/inspection-plans/{id}` (managers): pause, resume or retire.
pub async fn change_plan(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<PlanChange>,
) -> Result<Json<InspectionPlan>, ApiError> {
    Ok(Json(
        s.desk
            .set_inspection_plan_status(&caller, id, body.status)
            .await?,
    ))
}

/// `GET /api/inspections?plan=&period=`: the jobs the caller may see, newest first.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<InspectionJob>>, ApiError> {
    Ok(Json(
        s.desk
            .inspections(&caller, q.plan, q.period.as_deref())
            .await?,
    ))
}

/// `GET /api/inspections/{id}`: a job with its checklist results and trail.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Json<InspectionDetail>, ApiError> {
    Ok(Json(s.desk.inspection(&caller, id).await?))
}

/// `POST /api/inspections/{id}/accept` (an engineer of the group).
pub async fn accept(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Json<InspectionJob>, ApiError> {
    Ok(Json(s.desk.accept_inspection(&caller, id).await?))
}

/// `POST /api/inspections/{id}/check` (the engineer holding it): the next check.
pub async fn check(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CheckBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let outcome = match body.result {
        CheckResult::Pass => CheckOutcome::Pass,
        CheckResult::Fault => CheckOutcome::Fault(body.note.unwrap_or_default()),
    };
    let (job, ticket) = s
        .desk
        .check_inspection(&caller, id, body.n, outcome)
        .await?;
    Ok(Json(serde_json::json!({
        "inspection": job,
        "ticket": ticket.map(|t| t.number.as_str().to_owned()),
    })))
}

/// `POST /api/inspections/{id}/finish` (the engineer holding it).
pub async fn finish(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<FinishBody>,
) -> Result<Json<InspectionJob>, ApiError> {
    Ok(Json(
        s.desk
            .finish_inspection(&caller, id, body.units, &body.signed_by)
            .await?,
    ))
}
