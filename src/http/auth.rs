//! Bearer-token authentication: each configured token acts as a manager, one engineer or
//! one reporter.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::config::TokenRole;
use crate::domain::ticket::Caller;

/// The authenticated caller of a request.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "send an API token as `Authorization: Bearer <token>`".into(),
                )
            })?;
        // Check every token (no early exit) so timing does not reveal which one matched.
        let matched = state
            .tokens
            .iter()
            .fold(
                None,
                |found, t| if t.matches(presented) { Some(t) } else { found },
            )
            .ok_or_else(|| ApiError::Unauthorized("that API token is not valid".into()))?;
        let config = &matched.config;
        let subject = config.subject.as_deref().unwrap_or_default();
        let caller = match config.role {
            TokenRole::Manager => Caller::Desk {
                name: config.name.clone(),
            },
            TokenRole::Engineer => {
                Caller::Engineer(state.desk.engineer_by_handle(subject).await?.ok_or_else(
                    || {
                        ApiError::Unauthorized(format!(
                            "this token's engineer `{subject}` does not exist"
                        ))
                    },
                )?)
            }
            TokenRole::Reporter => Caller::Reporter(
                state
                    .desk
                    .reporter_for_identity("api", subject, &config.name)
                    .await?
                    .id,
            ),
        };
        Ok(Authed(caller))
    }
}
