//! The control API over HTTP, for driving the stand-in from outside a test process:
//!
//! | route | does |
//! |---|---|
//! | `POST /control/text` `{"user", "text"}` | the member types a message |
//! | `POST /control/tap` `{"user", "task_id", "key"}` | the member taps a card's button |
//! | `POST /control/photo` `{"user", "data_base64"}` | the member sends a picture |
//! | `GET /control/transcript?user=…` | what the member received, in order |
//! | `POST /control/expire_tokens` | every access token expires now |
//!
//! A callback's answer comes back as `{"status", "passive"}`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::{Answer, SimError, SimHandle};

pub(super) fn router(handle: SimHandle) -> Router {
    Router::new()
        .route("/control/text", post(text))
        .route("/control/tap", post(tap))
        .route("/control/photo", post(photo))
        .route("/control/transcript", get(transcript))
        .route("/control/expire_tokens", post(expire))
        .with_state(handle)
}

#[derive(Deserialize)]
struct Text {
    user: String,
    text: String,
}

#[derive(Deserialize)]
struct Tap {
    user: String,
    task_id: String,
    key: String,
}

#[derive(Deserialize)]
struct Photo {
    user: String,
    data_base64: String,
}

#[derive(Deserialize)]
struct Who {
    user: String,
}

fn answered(r: Result<Answer, SimError>) -> Response {
    match r {
        Ok(a) => Json(json!({ "status": a.status, "passive": a.passive })).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn text(State(h): State<SimHandle>, Json(t): Json<Text>) -> Response {
    answered(h.send_text(&t.user, &t.text).await)
}

async fn tap(State(h): State<SimHandle>, Json(t): Json<Tap>) -> Response {
    answered(h.tap(&t.user, &t.task_id, &t.key).await)
}

async fn photo(State(h): State<SimHandle>, Json(p): Json<Photo>) -> Response {
    match base64::engine::general_purpose::STANDARD.decode(p.data_base64) {
        Ok(bytes) => answered(h.send_photo(&p.user, &bytes).await),
        Err(_) => (StatusCode::BAD_REQUEST, "data_base64 is not base64").into_response(),
    }
}

async fn transcript(State(h): State<SimHandle>, Query(w): Query<Who>) -> Response {
    let entries: Vec<_> = h
        .transcript(&w.user)
        .into_iter()
        .map(|r| {
            json!({
                "text": r.text,
                "buttons": r.buttons.iter().map(|(k, l)| json!({"key": k, "label": l})).collect::<Vec<_>>(),
                "task_id": r.task_id,
                "passive": r.passive,
            })
        })
        .collect();
    Json(json!({ "user": w.user, "received": entries, "dropped": h.dropped(&w.user) }))
        .into_response()
}

async fn expire(State(h): State<SimHandle>) -> Response {
    h.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}
