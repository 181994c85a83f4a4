//! The Bot API over HTTP: `/bot<TOKEN>/<method>` and `/file/bot<TOKEN>/<path>`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control;
use super::params::{ApiError, Params};
use super::state::Shared;

/// Largest request body read (Telegram allows 50 MB uploads).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Method names as Telegram spells them; matching is case-insensitive as on Telegram.
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "sendPhoto",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
    "sendChatAction",
    "getFile",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "logOut",
    "close",
];

/// The whole HTTP surface: Bot API, file downloads and `/control`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/control", control::router())
        .fallback(handle)
        .with_state(shared)
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn error(shared: &Shared, e: &ApiError) -> Response {
    shared.count_error(e.code);
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(e.to_json())).into_response()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = percent_decode(req.uri().path());
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["file", bot, rest @ ..] if bot.starts_with("bot") && !rest.is_empty() => {
            if bot[3..] != shared.config.token {
                return error(&shared, &ApiError::unauthorized());
            }
            match shared.file_bytes(&rest.join("/")) {
                Some(bytes) => (
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    Body::from(bytes.as_ref().clone()),
                )
                    .into_response(),
                None => error(&shared, &ApiError::not_found()),
            }
        }
        [bot, method] if bot.starts_with("bot") => {
            if bot[3..] != shared.config.token {
                return error(&shared, &ApiError::unauthorized());
            }
            let method = METHODS
                .iter()
                .find(|m| m.eq_ignore_ascii_case(method))
                .map_or_else(|| (*method).to_owned(), |m| (*m).to_owned());
            shared.count_request(&method);
            let params = match read_params(req).await {
                Ok(p) => p,
                Err(e) => return error(&shared, &e),
            };
            let lower = method.to_ascii_lowercase();
            let result = if lower == "getupdates" {
                // The updates are JSON text already: spliced in, not parsed and written again.
                shared.get_updates(&params).await.map(|updates| {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        format!(r#"{{"ok":true,"result":{updates}}}"#),
                    )
                        .into_response()
                })
            } else {
                shared.call(&lower, &params).map(ok)
            };
            tracing::debug!(target: "tgsim", %method, ok = result.is_ok(), "bot api call");
            result.unwrap_or_else(|e| error(&shared, &e))
        }
        _ => error(&shared, &ApiError::not_found()),
    }
}

/// Merges body parameters (JSON, form or multipart) with query parameters.
async fn read_params(req: Request) -> Result<Params, ApiError> {
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut params = Params::default();
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type)
            .map_err(|_| ApiError::bad_request("can't parse multipart/form-data request"))?;
        let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
        loop {
            let field = multipart.next_field().await.map_err(|e| {
                ApiError::bad_request(format!("can't parse multipart/form-data request: {e}"))
            })?;
            let Some(field) = field else { break };
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field.file_name().is_some();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::bad_request(format!("can't read file: {e}")))?;
            if is_file {
                params.insert_upload(name, bytes.to_vec());
            } else {
                params.insert_str(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    } else {
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::bad_request("request is too large"))?;
        if content_type.starts_with("application/json") {
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(map)) => params = Params::from_map(map),
                    _ => return Err(ApiError::bad_request("can't parse JSON object")),
                }
            }
        } else if !bytes.is_empty() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| ApiError::bad_request("can't parse form data"))?;
            for (k, v) in pairs {
                params.insert_str(k, v);
            }
        }
    }
    if let Some(query) = parts.uri.query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        for (k, v) in pairs {
            params.insert_str(k, v);
        }
    }
    Ok(params)
}
