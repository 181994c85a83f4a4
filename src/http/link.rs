//! One-time codes that link a person to a door: `POST /api/engineers/{id}/link-code` (the
//! code an engineer sends the bot as `/link CODE`) and `POST /api/reporters/{id}/web-invite`
//! (a link that opens the web chat as that reporter, also sent to them through the chat
//! they are known on). Managers only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Authed};
use crate::desk::DeskError;
use crate::domain::{EngineerId, ReporterId};

/// Issues a code for engineer `id` (replacing their unused one): `201` with `code`,
/// `engineer` (the handle) and `expires_at`. The code is shown once and never stored in
/// clear, so the answer must not be cached.
pub async fn issue(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    // Refused before the lookup, so nobody else can probe which engineer ids exist.
    if !caller.is_manager() {
        return Err(DeskError::Forbidden("only managers can issue link codes".into()).into());
    }
    let engineer = s
        .desk
        .engineer(EngineerId(id))
        .await?
        .ok_or_else(|| DeskError::NotFound(format!("engineer {id}")))?;
    let code = s.desk.issue_link_code(&caller, &engineer.handle).await?;
    let mut response = (StatusCode::CREATED, Json(code)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Invites reporter `id` to the web chat: `201` with `link` and `expires_at`; the link
/// also goes to the reporter through the outbox. Not to be cached.
pub async fn web_invite(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let invite = s.desk.invite_to_web(&caller, ReporterId(id)).await?;
    let mut response = (StatusCode::CREATED, Json(invite)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
