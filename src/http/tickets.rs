//! REST handlers for tickets, groups, engineers and reporters.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, ApiJson, AppState, Authed};
use crate::desk::{
    DeskError, EngineerChange, NewEngineer, Page, ReportForm, Reporter, TicketDetail, TicketFilter,
};
use crate::domain::intake::Note;
use crate::domain::routing::{Engineer, Group, Tier};
use crate::domain::ticket::{Action, PendingReason, Status, Ticket, WorkMode};
use crate::domain::{EngineerId, ReporterId};

/// `GET /api/tickets` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<Status>,
    priority: Option<String>,
    group: Option<String>,
    category: Option<String>,
    assignee: Option<i64>,
    #[serde(default)]
    open: bool,
    page: Option<u32>,
    per_page: Option<u32>,
}

pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Ticket>>, ApiError> {
    let filter = TicketFilter {
        status: q.status,
        priority: q.priority.map(|p| p.to_ascii_uppercase()),
        group: q.group,
        category: q.category,
        assignee: q.assignee.map(EngineerId),
        open_only: q.open,
    };
    Ok(Json(
        s.desk
            .list(
                &caller,
                &filter,
                q.page.unwrap_or(1),
                q.per_page.unwrap_or(20),
            )
            .await?,
    ))
}

/// `POST /api/tickets` query: managers record a report on a reporter's behalf.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    on_behalf_of: Option<i64>,
}

pub async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<CreateQuery>,
    ApiJson(form): ApiJson<ReportForm>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let reporter = match (&caller, q.on_behalf_of) {
        (_, Some(id)) => ReporterId(id),
        (crate::domain::ticket::Caller::Reporter(id), None) => *id,
        _ => {
            return Err(ApiError::BadRequest(
                "say whose report this is with ?on_behalf_of=REPORTER_ID".into(),
            ));
        }
    };
    let t = s.desk.report(&caller, reporter, form).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(number): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    Ok(Json(s.desk.ticket(&caller, &number).await?))
}

/// Body of `POST /api/tickets/{number}/{action}`; which fields are needed depends on the action.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    note: Option<String>,
    mode: Option<WorkMode>,
    reason: Option<PendingReason>,
    cause: Option<String>,
    solution: Option<String>,
    group: Option<String>,
    engineer: Option<String>,
    /// The reporter's answer to remote work (`remote_consent`): true allows it.
    allow: Option<bool>,
}

fn required_note(field: &'static str, v: Option<String>) -> Result<Note, ApiError> {
    let raw = v.ok_or_else(|| {
        ApiError::Desk(DeskError::BadValue(format!(
            "`{field}` is required for this action"
        )))
    })?;
    Note::parse(&raw).map_err(|e| ApiError::Desk(DeskError::BadValue(format!("{field}: {e}"))))
}

pub async fn act(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path((number, verb)): Path<(String, String)>,
    body: Option<ApiJson<ActionBody>>,
) -> Result<Json<Ticket>, ApiError> {
    let b = body.map(|ApiJson(b)| b).unwrap_or_default();
    let action = match verb.as_str() {
        "accept" => Action::Accept,
        "start" => Action::StartWork(b.mode.unwrap_or(WorkMode::OnSite)),
        "arrive" => Action::Arrive,
        "remote_consent" => Action::AnswerRemoteConsent(b.allow.ok_or_else(|| {
            ApiError::Desk(DeskError::BadValue(
                "`allow` (true or false) is required for this action".into(),
            ))
        })?),
        "progress" => Action::Progress(required_note("note", b.note)?),
        "comment" => Action::Comment(required_note("note", b.note)?),
        "pend" => Action::Pend(
            b.reason.unwrap_or(PendingReason::Reporter),
            required_note("note", b.note)?,
        ),
        "resume" => Action::Resume,
        "resolve" => Action::Resolve {
            cause: required_note("cause", b.cause)?,
            solution: required_note("solution", b.solution)?,
        },
        "confirm" => Action::Confirm,
        "reopen" => Action::Reopen(required_note("note", b.note)?),
        "cancel" => Action::Cancel(
            b.note
                .filter(|n| !n.trim().is_empty())
                .map(|n| required_note("note", Some(n)))
                .transpose()?,
        ),
        "reassign" => {
            let engineer = match b.engineer {
                Some(handle) => Some(
                    s.desk
                        .engineer_by_handle(&handle)
                        .await?
                        .ok_or_else(|| DeskError::NotFound(format!("engineer `{handle}`")))?,
                ),
                None => None,
            };
            let group = b
                .group
                .or_else(|| engineer.as_ref().map(|e| e.group.clone()))
                .ok_or_else(|| {
                    DeskError::BadValue("reassign needs a `group` or an `engineer`".into())
                })?;
            if s.desk.policy().routing.group(&group).is_none() {
                return Err(DeskError::BadValue(format!("unknown group `{group}`")).into());
            }
            Action::Reassign { group, engineer }
        }
        "escalate" => Action::Escalate(required_note("note", b.note)?),
        // The replacement device (plan 003): `note` says which device was lent.
        "issue_loaner" => Action::IssueLoaner(required_note("note", b.note)?),
        "return_loaner" => Action::ReturnLoaner,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action `{other}`; use accept, start, remote_consent, arrive, progress, comment, pend, resume, \
                 resolve, confirm, reopen, cancel, reassign, escalate, issue_loaner or return_loaner"
            )));
        }
    };
    Ok(Json(s.desk.act(&caller, &number, action).await?))
}

pub async fn groups(State(s): State<AppState>, Authed(_): Authed) -> Json<Vec<Group>> {
    Json(s.desk.groups().to_vec())
}

pub async fn engineers(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<Engineer>>, ApiError> {
    Ok(Json(s.desk.engineers(&caller).await?))
}

/// `POST /api/engineers` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEngineerBody {
    handle: String,
    name: String,
    group: String,
    #[serde(default = "first_line")]
    tier: Tier,
    #[serde(default = "yes")]
    on_duty: bool,
}

fn first_line() -> Tier {
    Tier::FirstLine
}

fn yes() -> bool {
    true
}

pub async fn add_engineer(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(b): ApiJson<NewEngineerBody>,
) -> Result<(StatusCode, Json<Engineer>), ApiError> {
    let e = s
        .desk
        .add_engineer(
            &caller,
            NewEngineer {
                handle: b.handle,
                name: b.name,
                group: b.group,
                tier: b.tier,
                on_duty: b.on_duty,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// `PATCH /api/engineers/{id}` body. `wecom_id`: their WeCom UserID (`null` or `""`
/// clears it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineerPatch {
    name: Option<String>,
    on_duty: Option<bool>,
    group: Option<String>,
    tier: Option<Tier>,
    #[serde(default, deserialize_with = "present")]
    wecom_id: Option<Option<String>>,
}

/// A field that is present (even as `null`) is `Some`; a missing one stays `None`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

pub async fn update_engineer(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<EngineerPatch>,
) -> Result<Json<Engineer>, ApiError> {
    let change = EngineerChange {
        name: b.name,
        on_duty: b.on_duty,
        group: b.group,
        tier: b.tier,
        wecom_id: b.wecom_id,
    };
    Ok(Json(
        s.desk
            .change_engineer(&caller, EngineerId(id), change)
            .await?,
    ))
}

/// `DELETE /api/engineers/{id}`: deactivates an engineer who left (managers only); 204
/// when done. Their record and name on past tickets stay.
pub async fn deactivate_engineer(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    s.desk.deactivate_engineer(&caller, EngineerId(id)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `PATCH /api/reporters/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterPatch {
    vip: bool,
}

pub async fn update_reporter(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReporterPatch>,
) -> Result<Json<Reporter>, ApiError> {
    Ok(Json(s.desk.set_vip(&caller, ReporterId(id), b.vip).await?))
}

/// `DELETE /api/reporters/{id}`: erases the reporter's personal data (managers only);
/// their tickets stay as anonymous records. 204 when done.
pub async fn erase_reporter(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    s.desk.erase_reporter(&caller, ReporterId(id)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `POST /api/reporters` body: a person the desk takes a phone report from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReporterBody {
    name: String,
    phone: String,
}

/// Finds or creates the reporter behind a phone number (managers only), so the desk can
/// record a phone report with `POST /api/tickets?on_behalf_of=ID`.
pub async fn add_reporter(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(b): ApiJson<NewReporterBody>,
) -> Result<Json<Reporter>, ApiError> {
    if !caller.is_manager() {
        return Err(DeskError::Forbidden("only the desk can register reporters".into()).into());
    }
    let phone = crate::domain::intake::Phone::parse(&b.phone)
        .map_err(|e| DeskError::BadValue(e.to_string()))?;
    Ok(Json(
        s.desk
            .reporter_for_identity("phone", phone.as_str(), &b.name)
            .await?,
    ))
}
