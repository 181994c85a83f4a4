//! The control API under `/control`: what a test harness in any language needs to
//! play the users' side and read what the bot did. JSON in, JSON out.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::SimError;
use super::model::{ChatType, Contact, SimUser};
use super::state::Shared;

type S = State<Arc<Shared>>;

/// Routes, mounted at `/control`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}/blocked", post(set_blocked))
        .route("/chats", post(create_chat))
        .route("/chats/{id}/transcript", get(transcript))
        .route("/chats/{id}/events", get(events))
        .route("/messages", post(inject_text))
        .route("/photos", post(inject_photo))
        .route("/contacts", post(inject_contact))
        .route("/taps", post(tap))
        .route("/callbacks/{id}", get(callback))
        .route("/stats", get(stats))
        .route("/webhook", get(webhook))
        .route("/reset", post(reset))
        .route("/clock/advance", post(advance_clock))
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match &self {
            SimError::UnknownChat(_)
            | SimError::UnknownMessage { .. }
            | SimError::NoSuchButton(_) => StatusCode::NOT_FOUND,
            SimError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            SimError::Closed => StatusCode::GONE,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

async fn create_user(State(s): S, Json(user): Json<SimUser>) -> Result<Response, SimError> {
    Ok(Json(s.upsert_user(user)?).into_response())
}

#[derive(Deserialize)]
struct Blocked {
    blocked: bool,
}

async fn set_blocked(State(s): S, Path(id): Path<i64>, Json(b): Json<Blocked>) -> Response {
    s.set_blocked(id, b.blocked);
    Json(json!({"user": id, "blocked": b.blocked})).into_response()
}

#[derive(Deserialize)]
struct NewChat {
    id: i64,
    title: String,
    #[serde(rename = "type", default = "group")]
    kind: ChatType,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    members: Vec<i64>,
}

fn group() -> ChatType {
    ChatType::Group
}

async fn create_chat(State(s): S, Json(c): Json<NewChat>) -> Result<Response, SimError> {
    let chat = s.upsert_group(c.id, &c.title, c.kind, c.username, &c.members)?;
    Ok(Json(chat).into_response())
}

async fn transcript(State(s): S, Path(id): Path<i64>) -> Result<Response, SimError> {
    Ok(Json(s.transcript(id)?).into_response())
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

/// Bot events after `after`; with `wait_ms`, waits that long for the first one.
async fn events(
    State(s): S,
    Path(id): Path<i64>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, SimError> {
    let mut rx = s.subscribe(id)?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.wait_ms.min(60_000));
    loop {
        rx.borrow_and_update();
        let found = s.events_after(id, q.after)?;
        if !found.is_empty() || q.wait_ms == 0 {
            return Ok(Json(found).into_response());
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(SimError::Closed),
            Err(_) => return Ok(Json(found).into_response()),
        }
    }
}

#[derive(Deserialize)]
struct TextIn {
    from: i64,
    #[serde(default)]
    chat: Option<i64>,
    text: String,
}

async fn inject_text(State(s): S, Json(m): Json<TextIn>) -> Result<Response, SimError> {
    let chat = m.chat.unwrap_or(m.from);
    Ok(Json(s.inject_text(m.from, chat, &m.text)?).into_response())
}

#[derive(Deserialize)]
struct PhotoIn {
    from: i64,
    #[serde(default)]
    chat: Option<i64>,
    #[serde(default)]
    caption: Option<String>,
    /// File content, base64; a small placeholder image when absent.
    #[serde(default)]
    data_base64: Option<String>,
}

async fn inject_photo(State(s): S, Json(m): Json<PhotoIn>) -> Result<Response, SimError> {
    let bytes = match &m.data_base64 {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| SimError::InvalidInput("data_base64 is not base64".to_owned()))?,
        None => super::PLACEHOLDER_JPEG.to_vec(),
    };
    let chat = m.chat.unwrap_or(m.from);
    Ok(Json(super::inject_photo(
        &s,
        m.from,
        chat,
        m.caption.as_deref(),
        bytes,
    )?)
    .into_response())
}

#[derive(Deserialize)]
struct ContactIn {
    from: i64,
    #[serde(default)]
    chat: Option<i64>,
    phone_number: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    /// Defaults to the sender (sharing one's own contact).
    #[serde(default)]
    user_id: Option<i64>,
}

async fn inject_contact(State(s): S, Json(m): Json<ContactIn>) -> Result<Response, SimError> {
    let contact = Contact {
        phone_number: m.phone_number,
        first_name: m.first_name.unwrap_or_else(|| format!("User {}", m.from)),
        last_name: m.last_name,
        user_id: Some(m.user_id.unwrap_or(m.from)),
        vcard: None,
    };
    let chat = m.chat.unwrap_or(m.from);
    Ok(Json(s.inject_contact(m.from, chat, contact)?).into_response())
}

#[derive(Deserialize)]
struct TapIn {
    from: i64,
    #[serde(default)]
    chat: Option<i64>,
    message_id: i64,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    label: Option<String>,
    /// Send `data` even if no button carries it, or from a user outside the chat.
    #[serde(default)]
    forge: bool,
}

async fn tap(State(s): S, Json(t): Json<TapIn>) -> Result<Response, SimError> {
    let chat = t.chat.unwrap_or(t.from);
    let injected = match (&t.label, &t.data) {
        (Some(label), _) => s.inject_tap(t.from, chat, t.message_id, label, true, !t.forge)?,
        (None, Some(data)) => s.inject_tap(t.from, chat, t.message_id, data, false, !t.forge)?,
        (None, None) => return Err(SimError::InvalidInput("give data or label".to_owned())),
    };
    Ok(Json(injected).into_response())
}

async fn callback(State(s): S, Path(id): Path<String>) -> Response {
    match s.callback(&id) {
        Some(c) => Json(c).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such callback query"})),
        )
            .into_response(),
    }
}

async fn stats(State(s): S) -> Response {
    Json(s.stats()).into_response()
}

async fn webhook(State(s): S) -> Response {
    Json(s.lock().webhook_state()).into_response()
}

async fn reset(State(s): S) -> Response {
    s.reset();
    Json(json!({"reset": true})).into_response()
}

#[derive(Deserialize)]
struct Advance {
    ms: u64,
}

async fn advance_clock(State(s): S, Json(a): Json<Advance>) -> Result<Response, SimError> {
    if !s.config.clock.advance(Duration::from_millis(a.ms)) {
        return Err(SimError::ClockNotManual);
    }
    Ok(Json(json!({"now_ms": s.config.clock.now().as_millis() as u64})).into_response())
}
