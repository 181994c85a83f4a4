//! The browser door: a chat page at `/`, its JSON endpoints, and a server-sent-events
//! stream for messages that arrive later (idle notices, and notifications as the outbox
//! delivers them). A cookie keeps the person's identity; nothing a user typed is ever
//! inserted as HTML (the page only uses `textContent`).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::conversation::{Chat, ChatError, Person};
use crate::flow::{Incoming, Outgoing};

const COOKIE: &str = "baoxiu_web";
const PAGE: &str = include_str!("page.html");

/// Live delivery to open browser tabs, keyed by web identity.
#[derive(Clone, Default)]
pub struct WebHub {
    tabs: Arc<Mutex<HashMap<String, broadcast::Sender<serde_json::Value>>>>,
}

impl WebHub {
    /// Sends replies to every open tab of a web identity; false if none is open.
    pub fn push(&self, external_id: &str, replies: &[Outgoing]) -> bool {
        let tabs = self.tabs.lock().unwrap_or_else(|e| e.into_inner());
        tabs.get(external_id)
            .is_some_and(|tx| tx.send(json!({ "replies": replies })).is_ok())
    }

    fn subscribe(&self, external_id: &str) -> broadcast::Receiver<serde_json::Value> {
        let mut tabs = self.tabs.lock().unwrap_or_else(|e| e.into_inner());
        tabs.retain(|_, tx| tx.receiver_count() > 0);
        tabs.entry(external_id.to_owned())
            .or_insert_with(|| broadcast::channel(64).0)
            .subscribe()
    }
}

/// Notifications to open tabs. A person with no tab open is a temporary failure: the
/// dispatcher retries with backoff, so they see it when they come back (within the
/// retry window), and the desk hears of it if they never do.
impl crate::outbox::Courier for WebHub {
    fn channel(&self) -> &'static str {
        "web"
    }

    fn deliver<'a>(&'a self, parcel: &'a crate::outbox::Parcel) -> crate::outbox::Delivery<'a> {
        Box::pin(async move {
            if self.push(&parcel.to.external_id, &parcel.replies) {
                Ok(())
            } else {
                Err(crate::outbox::DeliveryError::Temporary(
                    "no web chat tab is open".into(),
                ))
            }
        })
    }
}

#[derive(Clone)]
struct WebState {
    chat: Chat,
    hub: WebHub,
}

/// The web chat's routes.
pub fn router(chat: Chat, hub: WebHub) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/chat/hello", post(hello))
        .route("/chat/send", post(send))
        .route("/chat/events", get(events))
        .with_state(WebState { chat, hub })
}

async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(PAGE),
    )
}

/// The identity in the cookie, with the name the person gave (kept in a second cookie
/// so a returning visitor is not asked again).
fn person(headers: &HeaderMap) -> Option<Person> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let mut id = None;
    let mut lang = None;
    for c in cookies.split(';') {
        match c.trim().split_once('=') {
            Some((COOKIE, v)) if v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit()) => {
                id = Some(v.to_owned())
            }
            Some(("baoxiu_lang", v)) if matches!(v, "en" | "zh-CN") => lang = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(Person {
        channel: "web".into(),
        external_id: id?,
        name: String::new(),
        language: lang,
    })
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({ "status": status.as_u16(), "detail": detail })),
    )
        .into_response()
}

/// `POST /chat/hello {name, lang}`: first visit — creates the reporter and sets the cookie.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    name: String,
    #[serde(default)]
    lang: Option<String>,
}

async fn hello(State(s): State<WebState>, headers: HeaderMap, Json(h): Json<Hello>) -> Response {
    let lang = match h.lang.as_deref() {
        Some("en") => "en",
        _ => "zh-CN",
    };
    let mut person = person(&headers).unwrap_or_else(|| Person {
        channel: "web".into(),
        external_id: format!("{:032x}", rand::random::<u128>()),
        name: String::new(),
        language: None,
    });
    person.name = h.name;
    person.language = Some(lang.into());
    match s.chat.reporter(&person).await {
        Ok(_) => {}
        Err(ChatError::Desk(e)) => {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
        }
        Err(e) => return chat_failed(e),
    }
    let replies = match s
        .chat
        .handle(&person, Incoming::Command("start".into(), String::new()))
        .await
    {
        Ok(r) => r,
        Err(e) => return chat_failed(e),
    };
    let mut response = Json(json!({ "replies": replies })).into_response();
    let year = 60 * 60 * 24 * 365;
    for cookie in [
        format!(
            "{COOKIE}={}; Path=/; Max-Age={year}; HttpOnly; SameSite=Strict",
            person.external_id
        ),
        format!("baoxiu_lang={lang}; Path=/; Max-Age={year}; SameSite=Strict"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `POST /chat/send` body: one of `{text}`, `{choice}`, `{form: {field: value}}`, `{command}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    choice: Option<String>,
    #[serde(default)]
    form: Option<BTreeMap<String, String>>,
    #[serde(default)]
    command: Option<String>,
}

async fn send(
    State(s): State<WebState>,
    headers: HeaderMap,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(person) = person(&headers) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "say hello first: POST /chat/hello with your name",
        );
    };
    let Ok(Json(m)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "send JSON: {\"text\": …}, {\"choice\": …}, {\"form\": …} or {\"command\": …}",
        );
    };
    let input = match (m.text, m.choice, m.form, m.command) {
        (Some(t), None, None, None) => Incoming::Text(t),
        (None, Some(c), None, None) => Incoming::Choice(c),
        (None, None, Some(f), None) => Incoming::Form(f),
        (None, None, None, Some(c)) => {
            match crate::flow::parse_command(&format!("/{}", c.trim().trim_start_matches('/'))) {
                Some((name, args)) => Incoming::Command(name, args),
                None => return problem(StatusCode::BAD_REQUEST, "that is not a command"),
            }
        }
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "send exactly one of text, choice, form or command",
            );
        }
    };
    match s.chat.handle(&person, input).await {
        Ok(replies) => Json(json!({ "replies": replies })).into_response(),
        Err(e) => chat_failed(e),
    }
}

fn chat_failed(e: ChatError) -> Response {
    tracing::error!(error = %e, "web chat failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "something went wrong on our side; please send that again",
    )
}

/// `GET /chat/events`: server-sent events with messages that arrive later.
async fn events(
    State(s): State<WebState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let person =
        person(&headers).ok_or_else(|| problem(StatusCode::UNAUTHORIZED, "no web identity"))?;
    let mut rx = s.hub.subscribe(&person.external_id);
    let stream = async_stream(move |tx| async move {
        loop {
            match rx.recv().await {
                Ok(v) => {
                    if tx
                        .send(Ok(Event::default().event("replies").data(v.to_string())))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A stream fed by a task (keeps this file free of a stream-macro dependency).
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
}
