//! The HTTP interactions endpoint (`POST /discord/interactions`), Discord's alternative to
//! receiving interactions over the gateway. Every request is verified against the
//! application's public key before anything else ([`super::signature`]): a bad or
//! missing signature is answered 401 and nothing is read, as Discord's own probes expect;
//! so is a signed request whose timestamp is more than five minutes from the desk's clock
//! (a replay: within the window, the inbox still remembers its id and a repeat is
//! answered without a second effect).
//! A PING is answered with a PONG. Any other interaction goes through the same handlers
//! as gateway ones (recorded in `discord_events` by id first, so a repeat has no second
//! effect); their first answer (a deferral, or a modal for the form button) becomes the
//! HTTP response, and the replies follow as follow-ups, as over the gateway.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serenity::all::{CreateInteractionResponse, CreateInteractionResponseMessage, Interaction};

use super::Discord;
use super::handling::Ack;
use super::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Where Discord POSTs interactions (the application's "Interactions Endpoint URL").
pub const INTERACTIONS_PATH: &str = "/discord/interactions";
/// Discord waits 3 s for the answer: past this the endpoint defers on its own.
const ANSWER_WITHIN: Duration = Duration::from_millis(2_500);
/// Interaction type numbers.
const PING: u64 = 1;
const COMPONENT: u64 = 3;

impl Discord {
    /// The router serving [`INTERACTIONS_PATH`] when a public key is configured
    /// (`[discord] public_key`); an empty router otherwise, so merging it is always safe.
    pub fn interactions_router(&self) -> Router {
        if self.inner.public_key.is_none() {
            return Router::new();
        }
        Router::new()
            .route(INTERACTIONS_PATH, post(interactions))
            .with_state(self.clone())
    }
}

async fn interactions(State(dc): State<Discord>, headers: HeaderMap, body: Bytes) -> Response {
    let received = tokio::time::Instant::now();
    let Some(key) = dc.inner.public_key.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(
        key,
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        &body,
    ) {
        tracing::debug!(error = %e, "discord: interaction refused");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    if let Err(e) = signature::fresh(header(TIMESTAMP_HEADER), dc.inner.inbox.now()) {
        tracing::warn!(error = %e, "discord: interaction refused");
        return (StatusCode::UNAUTHORIZED, "stale request timestamp").into_response();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let kind = value["type"].as_u64();
    if kind == Some(PING) {
        return Json(serde_json::json!({ "type": 1 })).into_response();
    }
    // Without an answer from the handler in time (or for a repeat it ignores): a click is
    // deferred as an update of its message, anything else as a reply to come.
    let deferred = if kind == Some(COMPONENT) {
        CreateInteractionResponse::Acknowledge
    } else {
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new())
    };
    let interaction: Interaction = match serde_json::from_value(value) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "discord: unreadable interaction");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ack = Ack::Http(std::sync::Mutex::new(Some(tx)));
    let inner = dc.inner.clone();
    // The handling (and its follow-ups) goes on after the response; when it ends without
    // answering (a repeat), the dropped sender leaves the deferral to the endpoint.
    tokio::spawn(async move {
        inner.on_interaction(interaction, &ack, received).await;
    });
    let first = match tokio::time::timeout(ANSWER_WITHIN, rx).await {
        Ok(Ok(answer)) => answer,
        _ => deferred,
    };
    Json(first).into_response()
}
