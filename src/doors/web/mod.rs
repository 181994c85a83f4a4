//! The browser door: a chat page at `/`, its JSON endpoints, and a server-sent-events
//! stream for what arrives later (notices, idle warnings).
//!
//! - **Sessions are the server's.** The cookie holds a random token the server issued
//!   (only its hash is stored); the web identity behind it is the server's own and never
//!   leaves it. A cookie the server did not issue is no one: planting one reads nothing.
//! - **Who may start** is `[web] reporters`: `open` (anyone gives a name; the localhost
//!   default) or `invite` (only through a one-time link the desk sends: `/chat/invite/…`).
//! - **A mailbox, not a pipe.** Everything said both ways is kept per person (for
//!   `[web] keep_history`): the outbox delivers a notice by storing it there, open tabs get
//!   it at once, and a reporter who comes back sees what was said while away and the
//!   conversation's recent history. A reload shows the history; nothing is sent again.
//! - **Limits:** requests a minute per address and per person (`[web] per_*_per_minute`),
//!   answered 429 with `Retry-After` beyond them.
//!
//! Nothing a user typed is ever inserted as HTML (the page only uses `textContent`).

mod limits;
mod settings;

pub use settings::{WebReporters, WebSettings};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::conversation::{Chat, ChatError, Person};
use crate::desk::WebEntry;
use crate::desk::ports::WebChat;
use crate::doors::lock;
use crate::flow::{Incoming, Outgoing};
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel};
use limits::{Knock, Limits};

/// The channel name of this door.
pub const CHANNEL: &str = "web";
const COOKIE: &str = "baoxiu_web";
const LANG_COOKIE: &str = "baoxiu_lang";
const PAGE: &str = include_str!("page.html");
/// Entries of a person's history shown when they open the page.
const HISTORY_SHOWN: i64 = 50;
/// How often idle conversations are swept and old history pruned.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a request was refused, as the page hears it.
enum Refusal {
    /// No session: say hello (open) or use your invitation (invite).
    NoSession,
    /// Too many requests; try again after this many seconds.
    TooMany(u64),
}

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Web {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    /// Sessions and each person's messages.
    port: WebChat,
    /// Open tabs, by web identity: told when there is something new in the history.
    tabs: Mutex<HashMap<String, broadcast::Sender<()>>>,
    /// Set when the service stops: event streams end and no new one lasts.
    closing: std::sync::atomic::AtomicBool,
    settings: WebSettings,
    limits: Limits,
}

/// A person the request comes from, by their session.
struct Visitor {
    person: Person,
}

impl Web {
    /// The door over the conversation service, keeping sessions and messages through
    /// `port`.
    pub fn new(chat: Chat, port: WebChat, settings: WebSettings) -> Web {
        let limits = Limits::new(
            settings.per_address_per_minute,
            settings.new_people_per_address_per_hour,
            settings.per_person_per_minute,
        );
        Web {
            inner: Arc::new(Inner {
                chat,
                port,
                tabs: Mutex::default(),
                closing: std::sync::atomic::AtomicBool::new(false),
                settings,
                limits,
            }),
        }
    }

    /// The courier the outbox dispatcher delivers `web` messages with: into the person's
    /// history (durable), and to their open tabs.
    pub fn courier(&self) -> Arc<dyn Courier> {
        Arc::new(self.clone())
    }

    /// The web chat's routes (serve them with the client's address: see
    /// `into_make_service_with_connect_info`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/chat/hello", post(hello))
            .route("/chat/invite/{code}", get(invite))
            .route("/chat/send", post(send))
            .route("/chat/history", get(history))
            .route("/chat/events", get(events))
            .route("/chat/bye", post(bye))
            .route("/r/{tag}", get(qr))
            .with_state(self.clone())
    }

    /// Ends every open event stream, and any opened from now on (the service is
    /// stopping: a server waits for its responses, and a stream never ends by itself). The
    /// page reconnects with `Last-Event-ID` and misses nothing.
    pub fn close_streams(&self) {
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
        lock(&self.inner.tabs).clear();
    }

    /// Says `replies` to a web identity: kept in their history, shown on their open tabs.
    pub async fn tell(&self, external_id: &str, replies: &[Outgoing]) -> Result<(), ChatError> {
        self.inner
            .record(external_id, vec![(true, replies_json(replies))])
            .await
            .map(drop)
    }

    /// Until the task is dropped, where several instances share the database: shows on
    /// the tabs open here what another instance added to their history (a notice its
    /// dispatcher delivered, a reply to a request the balancer sent there). After a lost
    /// connection every tab here looks, since announcements may have been missed.
    pub async fn follow_other_instances(self) {
        let mut pause = std::time::Duration::from_secs(1);
        loop {
            match self.inner.port.announcements().await {
                Ok(None) => return,
                Ok(Some(mut heard)) => loop {
                    match heard.next().await {
                        Ok(Some(external_id)) => self.inner.poke(&external_id),
                        Ok(None) => self.inner.poke_all(),
                        Err(e) => {
                            tracing::warn!(error = %e, "web: not hearing other instances");
                            break;
                        }
                    }
                    pause = std::time::Duration::from_secs(1);
                },
                Err(e) => tracing::warn!(error = %e, "web: cannot hear other instances"),
            }
            self.inner.poke_all();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(30));
        }
    }

    /// Until the task is dropped: discards idle conversations once a minute, telling the
    /// web chat's people, and forgets history older than `[web] keep_history`.
    pub async fn sweep_forever(self) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            match self.inner.chat.expire_idle().await {
                Ok(expired) => {
                    for (person, text) in expired.into_iter().filter(|(p, _)| p.channel == CHANNEL)
                    {
                        if let Err(e) = self
                            .tell(&person.external_id, &[Outgoing::Text(text)])
                            .await
                        {
                            tracing::warn!(error = %e, "web: idle notice not kept");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not sweep idle conversations"),
            }
            let before = self.inner.port.now() - self.inner.settings.keep_history.0;
            if let Err(e) = self.inner.port.prune(before).await {
                tracing::warn!(error = %e, "web: old history not pruned");
            }
            self.inner.limits.forget_idle();
        }
    }
}

impl Courier for Web {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            self.tell(&parcel.to.external_id, &parcel.replies)
                .await
                .map_err(|e| DeliveryError::Temporary(e.to_string()))
        })
    }
}

impl Inner {
    /// Keeps entries `(from_bot, body)` in a person's history and shows them on their open
    /// tabs; the entries as the page reads them.
    async fn record(
        &self,
        external_id: &str,
        entries: Vec<(bool, String)>,
    ) -> Result<Vec<Value>, ChatError> {
        let now = self.port.now();
        let ids = self.port.append(external_id, &entries, now).await?;
        let shown: Vec<Value> = ids
            .into_iter()
            .zip(entries)
            .map(|(id, (from_bot, body))| {
                entry(&WebEntry {
                    id,
                    at: now,
                    from_bot,
                    body,
                })
            })
            .collect();
        self.poke(external_id);
        Ok(shown)
    }

    /// Tells every open tab here to look for something new.
    fn poke_all(&self) {
        for tx in lock(&self.tabs).values() {
            let _ = tx.send(());
        }
    }

    /// Tells a person's open tabs here that their history has something new.
    fn poke(&self, external_id: &str) {
        if let Some(tx) = lock(&self.tabs).get(external_id) {
            // No tab listening is fine: the history has it.
            let _ = tx.send(());
        }
    }

    fn subscribe(&self, external_id: &str) -> broadcast::Receiver<()> {
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            // A stream opened while stopping ends at once.
            return broadcast::channel(1).1;
        }
        let mut tabs = lock(&self.tabs);
        // Forget the channels of tabs that closed.
        tabs.retain(|_, tx| tx.receiver_count() > 0);
        tabs.entry(external_id.to_owned())
            .or_insert_with(|| broadcast::channel(16).0)
            .subscribe()
    }

    /// The person behind the request's session cookie, if the server issued it and it is
    /// still valid.
    async fn visitor(&self, headers: &HeaderMap) -> Result<Option<Visitor>, ChatError> {
        let Some(token) = cookie(headers, COOKIE).filter(|t| is_token(t)) else {
            return Ok(None);
        };
        let now = self.port.now();
        let Some(external_id) = self.port.session(&token_hash(&token), now).await? else {
            return Ok(None);
        };
        Ok(Some(Visitor {
            person: Person {
                channel: CHANNEL.into(),
                external_id,
                name: String::new(),
                language: cookie(headers, LANG_COOKIE)
                    .filter(|l| matches!(l.as_str(), "en" | "zh-CN")),
            },
        }))
    }

    /// A new session for a web identity: the cookie to set.
    async fn open_session(&self, external_id: &str) -> Result<HeaderValue, ChatError> {
        let token = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let now = self.port.now();
        let valid = self.settings.session_valid_for.0;
        self.port
            .create_session(&token_hash(&token), external_id, now, now + valid)
            .await?;
        let secure = if self.settings.secure() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            valid.num_seconds()
        );
        HeaderValue::from_str(&cookie).map_err(|e| ChatError::State(e.to_string()))
    }

    /// The client's address (from `X-Forwarded-For` only when the proxy is trusted).
    fn address(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        crate::proxy::client_ip(Some(peer.ip()), headers, self.settings.trust_forwarded_for)
            .unwrap_or_else(|| peer.ip())
    }

    /// Counts a request against the address's limit and the knock's own.
    fn admit(&self, address: IpAddr, knock: Knock<'_>) -> Result<(), Refusal> {
        self.limits.admit(address, knock).map_err(Refusal::TooMany)
    }

    /// The person whose session the request carries, within their rate limits; else the
    /// answer to give instead.
    async fn signed_in(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<Visitor, Response> {
        let visitor = match self.visitor(headers).await {
            Ok(Some(v)) => v,
            Ok(None) => return Err(Refusal::NoSession.into_response()),
            Err(e) => return Err(chat_failed(e)),
        };
        self.admit(
            self.address(peer, headers),
            Knock::Person(&visitor.person.external_id),
        )
        .map_err(IntoResponse::into_response)?;
        Ok(visitor)
    }
}

/// A page entry: `{id, from_bot, replies}` from the desk, `{id, from_bot, said}` from the
/// person.
fn entry(e: &WebEntry) -> Value {
    let body: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
    if e.from_bot {
        json!({ "id": e.id, "from_bot": true, "replies": body })
    } else {
        json!({ "id": e.id, "from_bot": false, "said": body })
    }
}

fn replies_json(replies: &[Outgoing]) -> String {
    serde_json::to_string(replies).unwrap_or_else(|_| "[]".into())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A session token as the server issues them: 64 hexadecimal digits.
fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({ "status": status.as_u16(), "code": code, "detail": detail })),
    )
        .into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoSession => problem(
                StatusCode::UNAUTHORIZED,
                "no_session",
                "say hello first (POST /chat/hello), or open your invitation link",
            ),
            Refusal::TooMany(secs) => {
                let mut r = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many requests; please wait a moment",
                );
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
        }
    }
}

fn chat_failed(e: ChatError) -> Response {
    tracing::error!(error = %e, "web chat failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "try_again",
        "something went wrong on our side; please send that again",
    )
}

async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(PAGE),
    )
}

/// `POST /chat/hello {name, lang}`: a first visit where anyone may start (`open`): a new
/// person, their session and the conversation's first question. A visitor who already has
/// a session keeps it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    name: String,
    #[serde(default)]
    lang: Option<String>,
    /// The asset tag of the QR sticker that opened the page (see [`qr`]).
    #[serde(default)]
    asset: Option<String>,
}

/// Whether `tag` is a sticker's tag as its link spells it (letters, digits, `_`, `-`).
fn link_tag(tag: &str) -> bool {
    (1..=64).contains(&tag.len())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// `GET /r/TAG`: an asset sticker's QR code (issue 20). The page opens with the report
/// for that device: the tag rides along as `?asset=TAG` and the page starts the report
/// with it (`/start asset_TAG`, as Telegram's deep link does).
async fn qr(Path(tag): Path<String>) -> Redirect {
    if link_tag(&tag) {
        Redirect::to(&format!("/?asset={tag}"))
    } else {
        Redirect::to("/")
    }
}

async fn hello(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<Hello>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let w = &web.inner;
    let address = w.address(peer, &headers);
    if let Err(r) = w.admit(address, Knock::Anyone) {
        return r.into_response();
    }
    if w.settings.reporters == WebReporters::Invite {
        return problem(
            StatusCode::FORBIDDEN,
            "invite_only",
            "this web chat is by invitation: open the link your service desk sent you",
        );
    }
    let Ok(Json(h)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON: {\"name\": …, \"lang\": …}",
        );
    };
    let lang = match h.lang.as_deref() {
        Some("en") => "en",
        _ => "zh-CN",
    };
    let (person, cookie) = match w.visitor(&headers).await {
        Ok(Some(v)) => (v.person, None),
        Ok(None) => {
            if let Err(r) = w.admit(address, Knock::Newcomer) {
                return r.into_response();
            }
            let external_id = format!("{:032x}", rand::random::<u128>());
            let person = Person {
                channel: CHANNEL.into(),
                external_id,
                name: h.name,
                language: Some(lang.into()),
            };
            match w.chat.reporter(&person).await {
                Ok(_) => {}
                Err(ChatError::Desk(e)) => {
                    return problem(StatusCode::UNPROCESSABLE_ENTITY, "bad_name", &e.to_string());
                }
                Err(e) => return chat_failed(e),
            }
            match w.open_session(&person.external_id).await {
                Ok(c) => (person, Some(c)),
                Err(e) => return chat_failed(e),
            }
        }
        Err(e) => return chat_failed(e),
    };
    let start = Incoming::Command(
        "start".into(),
        h.asset
            .filter(|t| link_tag(t))
            .map(|t| format!("asset_{t}"))
            .unwrap_or_default(),
    );
    let entries = match w.chat.handle(&person, start).await {
        Ok(replies) => {
            w.record(&person.external_id, vec![(true, replies_json(&replies))])
                .await
        }
        Err(e) => Err(e),
    };
    let mut response = match entries {
        Ok(entries) => Json(json!({ "entries": entries })).into_response(),
        Err(e) => return chat_failed(e),
    };
    let year = 60 * 60 * 24 * 365;
    let lang_cookie = format!("{LANG_COOKIE}={lang}; Path=/; Max-Age={year}; SameSite=Strict");
    for c in cookie
        .into_iter()
        .chain(HeaderValue::from_str(&lang_cookie).ok())
    {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// `GET /chat/invite/{code}`: opens a one-time invitation: this browser becomes the
/// invited reporter, and goes to the chat page.
async fn invite(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let w = &web.inner;
    if let Err(r) = w.admit(w.address(peer, &headers), Knock::Anyone) {
        return r.into_response();
    }
    let external_id = format!("{:032x}", rand::random::<u128>());
    match w.chat.join_by_invite(&code, &external_id).await {
        Ok(true) => match w.open_session(&external_id).await {
            Ok(cookie) => {
                let mut r = Redirect::to("/").into_response();
                r.headers_mut().append(header::SET_COOKIE, cookie);
                r
            }
            Err(e) => chat_failed(e),
        },
        Ok(false) => Redirect::to("/?invite=invalid").into_response(),
        Err(e) => chat_failed(e),
    }
}

/// `POST /chat/send` body: one of `{text}`, `{choice}`, `{form: {field: value}}`,
/// `{command}`, and what the page showed for it (`shown`, kept in the history).
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
    #[serde(default)]
    shown: Option<String>,
}

async fn send(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let w = &web.inner;
    let visitor = match w.signed_in(peer, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Ok(Json(m)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON: {\"text\": …}, {\"choice\": …}, {\"form\": …} or {\"command\": …}",
        );
    };
    let shown = m
        .shown
        .clone()
        .or_else(|| m.text.clone())
        .unwrap_or_default();
    let input = match (m.text, m.choice, m.form, m.command) {
        (Some(t), None, None, None) => Incoming::Text(t),
        (None, Some(c), None, None) => Incoming::Choice(c),
        (None, None, Some(f), None) => Incoming::Form(f),
        (None, None, None, Some(c)) => {
            match crate::flow::parse_command(&format!("/{}", c.trim().trim_start_matches('/'))) {
                Some((name, args)) => Incoming::Command(name, args),
                None => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "that is not a command",
                    );
                }
            }
        }
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "send exactly one of text, choice, form or command",
            );
        }
    };
    let person = &visitor.person;
    let replies = match w.chat.handle(person, input).await {
        Ok(r) => r,
        Err(e) => return chat_failed(e),
    };
    let said: String = shown.chars().take(500).collect();
    let mut entries = Vec::new();
    if !said.trim().is_empty() {
        entries.push((false, Value::String(said).to_string()));
    }
    entries.push((true, replies_json(&replies)));
    match w.record(&person.external_id, entries).await {
        Ok(entries) => Json(json!({ "entries": entries })).into_response(),
        Err(e) => chat_failed(e),
    }
}

/// `GET /chat/history?after=ID`: the person's messages after `after` (the newest 50;
/// from the start with no `after`). Someone with no history yet is greeted (their current
/// question, or a new report's first), so a reload or a first visit by invitation shows
/// where they are, and nothing is ever said twice.
#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

async fn history(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Response {
    let w = &web.inner;
    let visitor = match w.signed_in(peer, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = &visitor.person.external_id;
    let mut entries: Vec<Value> = match w.port.since(id, q.after, HISTORY_SHOWN).await {
        Ok(found) => found.iter().map(entry).collect(),
        Err(e) => return chat_failed(e.into()),
    };
    if q.after == 0 && entries.is_empty() {
        let greeted = match w.chat.resume(&visitor.person).await {
            Ok(replies) => w.record(id, vec![(true, replies_json(&replies))]).await,
            Err(e) => Err(e),
        };
        match greeted {
            Ok(e) => entries = e,
            Err(e) => return chat_failed(e),
        }
    }
    Json(json!({ "entries": entries })).into_response()
}

/// `GET /chat/events?after=ID` (or `Last-Event-ID`): server-sent events with what was
/// kept after `after`, then what arrives, each with its id.
async fn events(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let w = &web.inner;
    let visitor = w.signed_in(peer, &headers).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after);
    let id = visitor.person.external_id;
    // Listening first, then reading what was kept: nothing falls between the two.
    let live = w.subscribe(&id);
    let kept = w
        .port
        .since(&id, after, HISTORY_SHOWN)
        .await
        .map_err(|e| chat_failed(e.into()))?;
    let last = kept.last().map_or(after, |e| e.id);
    let kept: Vec<Value> = kept.iter().map(entry).collect();
    let port = w.port.clone();
    let newer = move |after: i64| {
        let (port, id) = (port.clone(), id.clone());
        async move {
            match port.since(&id, after, HISTORY_SHOWN).await {
                Ok(found) => found.iter().map(entry).collect(),
                Err(e) => {
                    // The next poke, or the page's reconnect, reads them.
                    tracing::warn!(error = %e, "web: new entries not read");
                    Vec::new()
                }
            }
        }
    };
    Ok(Sse::new(stream(kept, live, last, newer)).keep_alive(KeepAlive::default()))
}

/// The kept entries, then, each time the history is poked, the entries newer than the
/// last one sent (read by `newer`, whichever instance wrote them). The stream owns the
/// receiver and a handle on the store, and no task: when the tab goes, both go with it.
fn stream<R, F>(
    kept: Vec<Value>,
    live: broadcast::Receiver<()>,
    last: i64,
    newer: R,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    R: Fn(i64) -> F,
    F: Future<Output = Vec<Value>>,
{
    let kept = futures_util::stream::iter(kept);
    let live = futures_util::stream::unfold(
        (live, last, newer, VecDeque::new()),
        |(mut rx, mut last, newer, mut ready)| async move {
            loop {
                if let Some(v) = ready.pop_front() {
                    return Some((v, (rx, last, newer, ready)));
                }
                match rx.recv().await {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
                for v in newer(last).await {
                    if let Some(id) = v["id"].as_i64().filter(|id| *id > last) {
                        last = id;
                        ready.push_back(v);
                    }
                }
            }
        },
    );
    futures_util::StreamExt::map(futures_util::StreamExt::chain(kept, live), |v| {
        let id = v["id"].as_i64().unwrap_or_default().to_string();
        Ok(Event::default().event("entry").id(id).data(v.to_string()))
    })
}

/// `POST /chat/bye`: ends this browser's session.
async fn bye(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE).filter(|t| is_token(t))
        && let Err(e) = web.inner.port.end_session(&token_hash(&token)).await
    {
        return chat_failed(e.into());
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history of entries 1..=n, read as the stream reads it.
    fn history(
        n: &Arc<std::sync::atomic::AtomicI64>,
    ) -> impl Fn(i64) -> std::future::Ready<Vec<Value>> {
        let n = n.clone();
        move |after| {
            let upto = n.load(std::sync::atomic::Ordering::SeqCst);
            std::future::ready(((after + 1)..=upto).map(|id| json!({ "id": id })).collect())
        }
    }

    #[tokio::test]
    async fn a_closed_tab_leaves_nothing_listening() {
        let (tx, rx) = broadcast::channel(4);
        let n = Arc::new(std::sync::atomic::AtomicI64::new(1));
        let tab = stream(vec![json!({ "id": 1 })], rx, 1, history(&n));
        assert_eq!(tx.receiver_count(), 1);
        // The tab goes: its response (and the stream in it) is dropped.
        drop(tab);
        assert_eq!(tx.receiver_count(), 0, "no task holds the receiver");
    }

    #[tokio::test]
    async fn a_tab_gets_what_was_kept_then_what_is_new_once() {
        use futures_util::StreamExt;
        let (tx, rx) = broadcast::channel(4);
        let n = Arc::new(std::sync::atomic::AtomicI64::new(2));
        let mut tab = Box::pin(stream(
            vec![json!({ "id": 1 }), json!({ "id": 2 })],
            rx,
            2,
            history(&n),
        ));
        // A poke with nothing new (entry 2 was kept and poked meanwhile), then entry 3
        // poked twice (by this instance and by another's announcement), then 4.
        tx.send(()).expect("listening");
        n.store(3, std::sync::atomic::Ordering::SeqCst);
        tx.send(()).expect("listening");
        tx.send(()).expect("listening");
        let mut events = Vec::new();
        for _ in 0..3 {
            let event = tab.next().await.expect("an event").expect("infallible");
            events.push(format!("{event:?}"));
        }
        n.store(4, std::sync::atomic::Ordering::SeqCst);
        tx.send(()).expect("listening");
        let event = tab.next().await.expect("an event").expect("infallible");
        events.push(format!("{event:?}"));
        for (event, id) in events.iter().zip(1..) {
            assert!(event.contains(&format!("\\nid: {id}\\n")), "{events:?}");
        }
    }
}
