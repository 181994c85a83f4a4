//! The HTTP door (axum): the REST API over the desk, and health.

mod access;
mod archive;
mod assets;
mod attachments;
mod auth;
mod complaints;
mod error;
mod inspections;
mod knowledge;
mod link;
mod people;
mod reports;
mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request, State};
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;

pub use access::access_log;
pub use auth::Authed;
pub use error::ApiError;

use crate::config::ApiToken;
use crate::desk::Desk;
use crate::outbox::dispatcher::Counters;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The desk.
    pub desk: Desk,
    /// Accepted API tokens.
    pub tokens: Arc<Vec<ApiToken>>,
    /// Delivery counters of this instance's dispatcher.
    pub deliveries: Arc<Counters>,
}

/// JSON body extractor whose rejections are problem+json with serde's own explanation
/// (e.g. "unknown field `colour`, expected one of …").
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        <axum::Json<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(|axum::Json(v)| ApiJson(v))
            .map_err(|e: JsonRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// An optional JSON body: absent when the request has no `Content-Type`.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            <ApiJson<T> as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Liveness and readiness alone, for a listener that carries no API.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/tickets", get(tickets::list).post(tickets::create))
        .route("/api/tickets/{number}", get(tickets::show))
        .route("/api/tickets/{number}/{action}", post(tickets::act))
        .route("/api/tickets/{number}/photos/{n}", get(attachments::photo))
        .route("/api/groups", get(tickets::groups))
        .route("/api/reports", get(reports::show))
        .route("/api/follow-ups", get(reports::follow_ups))
        .route("/api/audit/sign-ins", get(reports::sign_ins))
        .route("/api/reports/archive", get(archive::list))
        .route("/api/reports/archive/{id}", get(archive::show))
        .route(
            "/api/complaints",
            get(complaints::list).post(complaints::create),
        )
        .route("/api/complaints/{id}", get(complaints::show))
        .route("/api/complaints/{id}/answer", post(complaints::answer))
        .route(
            "/api/engineers",
            get(tickets::engineers).post(tickets::add_engineer),
        )
        .route(
            "/api/engineers/{id}",
            patch(tickets::update_engineer).delete(tickets::deactivate_engineer),
        )
        .route("/api/engineers/{id}/link-code", post(link::issue))
        .route("/api/reporters", post(tickets::add_reporter))
        .route(
            "/api/reporters/{id}",
            patch(tickets::update_reporter).delete(tickets::erase_reporter),
        )
        .route("/api/reporters/{id}/web-invite", post(link::web_invite))
        .route(
            "/api/inspection-plans",
            get(inspections::plans).post(inspections::create_plan),
        )
        .route(
            "/api/inspection-plans/{id}",
            get(inspections::plan).patch(inspections::change_plan),
        )
        .route("/api/inspections", get(inspections::list))
        .route("/api/inspections/{id}", get(inspections::show))
        .route("/api/inspections/{id}/accept", post(inspections::accept))
        .route("/api/inspections/{id}/check", post(inspections::check))
        .route("/api/inspections/{id}/finish", post(inspections::finish))
        // The registers (issue 20): the staff directory and the asset register.
        .merge(people::routes())
        .merge(assets::routes())
        .route(
            "/api/articles",
            get(knowledge::list).post(knowledge::create),
        )
        .route(
            "/api/articles/{id}",
            get(knowledge::show).patch(knowledge::edit),
        )
        .route("/api/articles/{id}/{action}", post(knowledge::set_status))
        .route("/api/reports/knowledge", get(knowledge::report))
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn health(State(state): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    state.desk.health().await?;
    Ok(axum::Json(serde_json::json!({
        "status": "ok",
        "database": state.desk.backend(),
    })))
}

/// Readiness (for a load balancer or an orchestrator): 200 when the database answers
/// and has this build's migrations, else 503 with the reason. `/healthz` stays liveness.
/// A ready answer also says how the desk is staffed, with `warnings` when reports would
/// reach nobody (the service works; the desk is not manned).
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.desk.readiness().await {
        Ok(()) => {
            let staffing = state.desk.staffing().await.ok();
            let mut warnings = staffing.as_ref().map(|s| s.warnings()).unwrap_or_default();
            warnings.extend(state.desk.calendar_warnings());
            axum::Json(serde_json::json!({
                "status": "ready",
                "database": state.desk.backend(),
                "staffing": staffing,
                "warnings": warnings,
            }))
            .into_response()
        }
        Err(reason) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "not ready", "detail": reason })),
        )
            .into_response(),
    }
}

/// Prometheus text format: the outbox queue (shared by all instances) and this instance's
/// delivery counters.
async fn metrics(State(state): State<AppState>) -> Result<String, ApiError> {
    use std::fmt::Write;
    let stats = state.desk.outbox_stats().await?;
    let mut out = String::new();
    let pending: i64 = stats
        .counts
        .iter()
        .filter(|c| c.status == "pending")
        .map(|c| c.count)
        .sum();
    let oldest = stats
        .oldest_pending
        .map_or(0, |t| (state.desk.now() - t).num_seconds().max(0));
    let _ = writeln!(
        out,
        "# HELP baoxiu_outbox_pending Messages waiting to be delivered."
    );
    let _ = writeln!(out, "# TYPE baoxiu_outbox_pending gauge");
    let _ = writeln!(out, "baoxiu_outbox_pending {pending}");
    let _ = writeln!(
        out,
        "# HELP baoxiu_outbox_oldest_pending_seconds Age of the oldest waiting message."
    );
    let _ = writeln!(out, "# TYPE baoxiu_outbox_oldest_pending_seconds gauge");
    let _ = writeln!(out, "baoxiu_outbox_oldest_pending_seconds {oldest}");
    let _ = writeln!(
        out,
        "# HELP baoxiu_outbox_messages Messages by status and door."
    );
    let _ = writeln!(out, "# TYPE baoxiu_outbox_messages gauge");
    for c in &stats.counts {
        let _ = writeln!(
            out,
            "baoxiu_outbox_messages{{status=\"{}\",channel=\"{}\"}} {}",
            c.status, c.channel, c.count
        );
    }
    let staffing = state.desk.staffing().await?;
    let _ = writeln!(
        out,
        "# HELP baoxiu_engineers_on_duty First-line engineers on duty."
    );
    let _ = writeln!(out, "# TYPE baoxiu_engineers_on_duty gauge");
    let _ = writeln!(
        out,
        "baoxiu_engineers_on_duty {}",
        staffing.engineers_on_duty
    );
    let _ = writeln!(
        out,
        "# HELP baoxiu_groups_unstaffed Groups with no first-line engineer on duty (1 each)."
    );
    let _ = writeln!(out, "# TYPE baoxiu_groups_unstaffed gauge");
    for g in &staffing.groups_unstaffed {
        let _ = writeln!(out, "baoxiu_groups_unstaffed{{group=\"{g}\"}} 1");
    }
    let _ = writeln!(
        out,
        "# HELP baoxiu_managers_reachable Managers on the roster plus engineers on call now."
    );
    let _ = writeln!(out, "# TYPE baoxiu_managers_reachable gauge");
    let _ = writeln!(
        out,
        "baoxiu_managers_reachable {}",
        staffing.managers + staffing.on_call
    );
    let _ = writeln!(
        out,
        "# HELP baoxiu_deliveries_total Delivery attempts by door and outcome (this instance)."
    );
    let _ = writeln!(out, "# TYPE baoxiu_deliveries_total counter");
    for (channel, outcome, n) in state.deliveries.snapshot() {
        let _ = writeln!(
            out,
            "baoxiu_deliveries_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    Ok(out)
}
