//! `POST /api/engineers/{id}/link-code`: the one-time code an engineer sends to the bot
//! (`/link CODE`) to link their chat account to themselves. Managers only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Authed};
use crate::desk::DeskError;
use crate::domain::EngineerId;

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
