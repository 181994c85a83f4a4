//! The desk console (`/desk`): signed-in pages for engineers and managers — the queue,
//! each ticket with the actions its viewer may take, live refresh — served as HTML from
//! templates compiled into the binary, with one small script of our own for the live
//! parts. A door like the REST API: every action is the same desk call
//! (`Desk::act`), with the same role rules and refusals.
//!
//! - **Sessions are the server's**: the cookie holds a random token (only its hash is
//!   stored), `HttpOnly`, `SameSite=Lax`, `Path=/desk`, and `Secure` when the console is
//!   served over https (see [`ConsoleSettings`]).
//! - **Every form carries a token**: the session's own once signed in; before, a
//!   pre-session token in its own `SameSite=Strict` cookie (double submit). A form
//!   without it changes nothing and is answered 403.
//! - **Who sees what** is the desk's: an engineer sees their group's tickets (and any
//!   they hold or were offered), a manager everything; another group's ticket is "not
//!   found", exactly like a missing one.
//! - Pages are never cached, never framed, and send no referrer (links carry codes).

mod admin;
mod chart;
mod live;
mod pages;
mod reports;
mod settings;

pub use settings::ConsoleSettings;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::desk::console::{ConsoleRules, ConsoleSession, QueueFilter, QueueItem, SignInRefusal};
use crate::desk::{Desk, DeskError};
use crate::domain::EngineerId;
use crate::domain::intake::Note;
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Action, Caller, PendingReason, Status, Ticket, TicketError, WorkMode};
use crate::flow::{Flows, Lang};
use pages::{
    ClockLine, L, LinkPage, Me, MessagePage, Opt, Pager, PastFault, QueuePage, Row, RowsFragment,
    SignInPage, TicketPage, TrailLine,
};

const SESSION_COOKIE: &str = "baoxiu_desk";
const PRE_COOKIE: &str = "baoxiu_desk_pre";
const LANG_COOKIE: &str = "baoxiu_desk_lang";
const SCRIPT: &str = include_str!("static/console.js");
const STYLE: &str = include_str!("static/console.css");
/// Other tickets of the same asset shown on a ticket's page.
const PAST_FAULTS: u32 = 5;

/// The console: cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    desk: Desk,
    flows: Flows,
    settings: ConsoleSettings,
    rules: ConsoleRules,
    /// `[web] public_url` is https: cookies are always `Secure`.
    https: bool,
    live: Arc<live::Live>,
}

/// The signed-in person of a request.
struct Person {
    engineer: Engineer,
    csrf: String,
    lang: Lang,
    /// May write articles (the desk's rule: experts and managers).
    edits_articles: bool,
}

impl Person {
    fn caller(&self) -> Caller {
        Caller::Engineer(self.engineer.clone())
    }

    fn me(&self) -> Me {
        Me {
            name: self.engineer.name.clone(),
            handle: self.engineer.handle.clone(),
            manager: self.caller().is_manager(),
            articles: self.edits_articles,
            csrf: self.csrf.clone(),
        }
    }

    fn l(&self) -> L {
        L {
            en: self.lang == Lang::En,
        }
    }
}

impl Console {
    /// The console over the desk, with the bot-flows' texts (for refusals and the names
    /// of statuses, categories and clocks). `https`: the service's public URL is https.
    pub fn new(desk: Desk, flows: Flows, settings: ConsoleSettings, https: bool) -> Console {
        let rules = settings.rules();
        Console {
            inner: Arc::new(Inner {
                live: Arc::new(live::Live::new(desk.clone())),
                desk,
                flows,
                settings,
                rules,
                https,
            }),
        }
    }

    /// The console's routes, all under `/desk`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/desk", get(home))
            .route("/desk/", get(home))
            .route("/desk/sign-in", post(sign_in))
            .route("/desk/sign-in-link", post(send_link))
            .route("/desk/link/{code}", get(link_page).post(use_link))
            .route(
                "/desk/password/{code}",
                get(password_page).post(set_password),
            )
            .route("/desk/sign-out", post(sign_out))
            .route("/desk/language", post(language))
            .route("/desk/queue/rows", get(rows))
            .route("/desk/events", get(events))
            .route("/desk/tickets/{number}", get(ticket))
            .route("/desk/tickets/{number}/photos/{n}", get(photo))
            .route("/desk/tickets/{number}/{action}", post(act))
            .route("/desk/reports", get(reports::page))
            .route("/desk/reports.csv", get(reports::csv))
            .route("/desk/reports.xlsx", get(reports::xlsx))
            .route("/desk/admin", get(admin::page))
            .route("/desk/admin/engineers", post(admin::add_engineer))
            .route("/desk/admin/engineers/{id}/{what}", post(admin::engineer))
            .route("/desk/admin/engineers/{id}", get(admin::engineer_page))
            .route("/desk/admin/reporters", get(admin::reporters))
            .route(
                "/desk/admin/reporters/{id}/{what}",
                post(admin::reporter_action),
            )
            .route("/desk/admin/complaints", get(admin::complaints))
            .route("/desk/admin/complaints/{id}", get(admin::complaint))
            .route(
                "/desk/admin/complaints/{id}/answer",
                post(admin::answer_complaint),
            )
            .route(
                "/desk/admin/articles",
                get(admin::articles).post(admin::create_article),
            )
            .route("/desk/admin/articles/{id}", get(admin::article))
            .route(
                "/desk/admin/articles/{id}/{what}",
                post(admin::article_action),
            )
            .route("/desk/admin/setup", get(admin::setup))
            .route("/desk/admin/inspections", get(admin::inspections))
            .route("/desk/admin/inspections/{id}", get(admin::inspection))
            .route("/desk/admin/inspections/plans", post(admin::create_plan))
            .route(
                "/desk/admin/inspections/plans/{id}/status",
                post(admin::plan_status),
            )
            .route(
                "/desk/admin/assets",
                get(admin::assets).post(admin::save_asset),
            )
            .route("/desk/admin/assets/labels.pdf", get(admin::asset_labels))
            .route("/desk/admin/assets/{tag}", get(admin::asset))
            .route("/desk/admin/assets/{tag}/status", post(admin::asset_status))
            .route("/desk/admin/outbox/retry-all", post(admin::retry_all))
            .route("/desk/admin/outbox/{id}/retry", post(admin::retry))
            .route("/desk/static/console.js", get(script))
            .route("/desk/static/console.css", get(style))
            .layer(axum::middleware::map_response(guard_headers))
            .with_state(self.clone())
    }

    /// Ends the live views' event streams, and any opened from now on (the service is
    /// stopping; the pages reconnect to the next instance).
    pub fn close_streams(&self) {
        self.inner.live.close();
    }
}

impl Inner {
    /// The person behind the request's session cookie, if valid.
    async fn person(&self, headers: &HeaderMap) -> Result<Option<Person>, DeskError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(signed) = self.desk.console_session(&token).await? else {
            return Ok(None);
        };
        let lang = match signed.language.as_deref() {
            Some(code) => Lang::from_code(code),
            None => guest_lang(headers),
        };
        let edits_articles = self
            .desk
            .may_edit_articles(&Caller::Engineer(signed.engineer.clone()));
        Ok(Some(Person {
            engineer: signed.engineer,
            csrf: signed.csrf,
            lang,
            edits_articles,
        }))
    }

    /// Whether cookies must be `Secure` for this request.
    fn secure(&self, headers: &HeaderMap) -> bool {
        self.https
            || self.settings.secure_cookies
            || (self.settings.trust_forwarded_proto
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
    }

    fn cookie(&self, headers: &HeaderMap, name: &str, value: &str, attrs: &str) -> HeaderValue {
        let secure = if self.secure(headers) { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{name}={value}; Path=/desk; {attrs}{secure}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn session_cookie(&self, headers: &HeaderMap, s: &ConsoleSession) -> HeaderValue {
        let age = (s.expires_at - self.desk.now()).num_seconds().max(0);
        self.cookie(
            headers,
            SESSION_COOKIE,
            &s.token,
            &format!("Max-Age={age}; HttpOnly; SameSite=Lax"),
        )
    }

    /// A value the bot-flows translate (`[value.status]` …), in `lang`.
    fn value(&self, what: &str, raw: &str, lang: Lang) -> String {
        self.flows
            .text(&format!("console_{what}"), lang, &json!({ what: raw }))
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.desk.policy().calendar.time_zone())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// A desk refusal as a sentence from bot-flows, in the person's language (as the
    /// chat says it), and the status it is answered with.
    fn refusal(&self, e: &DeskError, number: &str, lang: Lang) -> (StatusCode, String) {
        let none = serde_json::Value::Null;
        let (status, key, vars) = match e {
            DeskError::AlreadyTaken { by } => (
                StatusCode::CONFLICT,
                "already_taken",
                json!({ "engineer": by }),
            ),
            DeskError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "not_found",
                json!({ "ticket": number }),
            ),
            DeskError::Forbidden(_) | DeskError::Ticket(TicketError::Forbidden { .. }) => {
                (StatusCode::FORBIDDEN, "not_allowed", none)
            }
            DeskError::Ticket(TicketError::IllegalTransition { status, .. }) => (
                StatusCode::CONFLICT,
                "not_now",
                json!({ "status": status.as_str() }),
            ),
            DeskError::Ticket(TicketError::AlreadyArrived) => {
                (StatusCode::CONFLICT, "already_arrived", none)
            }
            DeskError::Ticket(TicketError::ConsentPending) => {
                (StatusCode::CONFLICT, "remote_consent_pending", none)
            }
            DeskError::Store(err) | DeskError::Unavailable(err) => {
                tracing::error!(error = %err, "console action failed");
                (StatusCode::SERVICE_UNAVAILABLE, "try_again", none)
            }
            DeskError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "try_again", none),
            // The rest carry specifics (which field, which group) in their sentence.
            DeskError::Ticket(TicketError::NotInGroup { .. })
            | DeskError::Invalid(_)
            | DeskError::Period(_)
            | DeskError::Article(_)
            | DeskError::BadValue(_) => return (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            other => return (StatusCode::CONFLICT, other.to_string()),
        };
        (status, self.flows.text(key, lang, &vars))
    }
}

/// The language before sign-in: the cookie the switch sets, else the browser's.
fn guest_lang(headers: &HeaderMap) -> Lang {
    if let Some(code) = cookie(headers, LANG_COOKIE) {
        return Lang::from_code(&code);
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split([',', ';']).next())
        .map_or(Lang::ZhCn, Lang::from_code)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// Constant-time comparison of a form's token with the expected one.
fn same_token(given: Option<&str>, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.is_some_and(|g| {
        !expected.is_empty() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
    })
}

fn random_token() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

/// Renders a page, or the generic failure.
fn page(status: StatusCode, t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn message(
    status: StatusCode,
    l: L,
    me: Option<Me>,
    kind: &'static str,
    detail: String,
) -> Response {
    page(
        status,
        &MessagePage {
            l,
            me,
            kind,
            detail,
        },
    )
}

/// The generic failure page (the desk's database did not answer, …).
fn failed(e: &DeskError, l: L) -> Response {
    tracing::error!(error = %e, "console request failed");
    let status = if matches!(e, DeskError::Unavailable(_) | DeskError::Busy) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    message(status, l, None, "error", String::new())
}

/// Every console answer: never cached (they show who is signed in), never framed, no
/// referrer (links carry one-time codes), and only our own script and style.
async fn guard_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    r
}

/// The request's person, or the answer to give instead (the sign-in page's pointer).
async fn signed_in(c: &Inner, headers: &HeaderMap) -> Result<Person, Response> {
    let l = L {
        en: guest_lang(headers) == Lang::En,
    };
    match c.person(headers).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(message(
            StatusCode::UNAUTHORIZED,
            l,
            None,
            "sign_in",
            String::new(),
        )),
        Err(e) => Err(failed(&e, l)),
    }
}

/// The sign-in page with a fresh pre-session form token (its cookie set beside it).
fn sign_in_page(
    c: &Inner,
    headers: &HeaderMap,
    status: StatusCode,
    lang: Lang,
    handle: String,
    say: &'static str,
    until: String,
) -> Response {
    let csrf = random_token();
    let mut r = page(
        status,
        &SignInPage {
            l: L {
                en: lang == Lang::En,
            },
            csrf: csrf.clone(),
            handle,
            say,
            until,
        },
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        c.cookie(
            headers,
            PRE_COOKIE,
            &csrf,
            "Max-Age=3600; HttpOnly; SameSite=Strict",
        ),
    );
    r
}

/// The queue's filters as the page sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    #[serde(default)]
    group: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    breached: String,
    #[serde(default)]
    due_soon: String,
    #[serde(default)]
    q: String,
    /// The page, from 1 (anything else reads as the first).
    #[serde(default)]
    page: String,
    lang: Option<String>,
}

impl QueueQuery {
    fn filter(&self, now: DateTime<Utc>) -> QueueFilter {
        let some = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        QueueFilter {
            status: self.status.parse::<Status>().ok(),
            priority: some(&self.priority).map(|p| p.to_ascii_uppercase()),
            group: some(&self.group),
            assignee: self.assignee.trim().parse().ok().map(EngineerId),
            site: some(&self.site),
            breached: !self.breached.is_empty(),
            due_by: (!self.due_soon.is_empty()).then(|| now + chrono::Duration::hours(1)),
            search: some(&self.q).map(|q| q.chars().take(100).collect()),
        }
    }

    /// The page asked for, from 1.
    fn page(&self) -> u32 {
        self.page.trim().parse::<u32>().unwrap_or(1).max(1)
    }

    /// The tickets before the page asked for, with `size` a page: at most the 1,000,000th
    /// (no queue holds that many open tickets, and the store reads that far at most).
    fn offset(&self, size: u32) -> u32 {
        self.page()
            .saturating_sub(1)
            .saturating_mul(size)
            .min(1_000_000)
    }

    /// This query's filters as a link's query, on page `page` (without `lang`).
    fn link(&self, page: u32) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("q", &self.q),
            ("group", &self.group),
            ("priority", &self.priority),
            ("status", &self.status),
            ("assignee", &self.assignee),
            ("site", &self.site),
            ("breached", &self.breached),
            ("due_soon", &self.due_soon),
        ] {
            if !v.trim().is_empty() {
                parts.push(format!("{k}={}", urlencode(v.trim())));
            }
        }
        parts.push(format!("page={page}"));
        format!("/desk?{}", parts.join("&"))
    }
}

/// The queue's pager: where the lines start, and the links to the pages around.
fn pager(q: &QueueQuery, size: u32, shown: usize, total: i64) -> Pager {
    let page = q.page();
    let first = i64::from(q.offset(size)) + 1;
    let last = first + i64::try_from(shown).unwrap_or(0) - 1;
    Pager {
        first: if shown == 0 { 0 } else { first },
        last: if shown == 0 { 0 } else { last },
        previous: if page > 1 {
            q.link(page - 1)
        } else {
            String::new()
        },
        next: if last < total && shown > 0 {
            q.link(page + 1)
        } else {
            String::new()
        },
    }
}

/// `GET /desk`: the queue, or the sign-in page.
async fn home(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Response {
    let c = &console.inner;
    let person = match c.person(&headers).await {
        Ok(p) => p,
        Err(e) => return failed(&e, L { en: false }),
    };
    let Some(person) = person else {
        // The language switch of the sign-in page: remembered in a cookie until sign-in.
        let (lang, set) = match q.lang.as_deref() {
            Some(code) => (Lang::from_code(code), Some(Lang::from_code(code))),
            None => (guest_lang(&headers), None),
        };
        let mut r = sign_in_page(
            c,
            &headers,
            StatusCode::OK,
            lang,
            String::new(),
            "",
            String::new(),
        );
        if let Some(lang) = set {
            r.headers_mut().append(
                header::SET_COOKIE,
                c.cookie(
                    &headers,
                    LANG_COOKIE,
                    lang.as_code(),
                    "Max-Age=31536000; SameSite=Lax",
                ),
            );
        }
        return r;
    };
    let l = person.l();
    let caller = person.caller();
    let queue = match c
        .desk
        .queue(
            &caller,
            &q.filter(c.desk.now()),
            q.offset(c.settings.queue_limit),
            c.settings.queue_limit,
        )
        .await
    {
        Ok(queue) => queue,
        Err(e) => return failed(&e, l),
    };
    let engineers = c.desk.engineers(&caller).await.unwrap_or_default();
    let names: HashMap<EngineerId, String> =
        engineers.iter().map(|e| (e.id, e.name.clone())).collect();
    let rows: Vec<Row> = queue
        .items
        .iter()
        .map(|i| row(c, i, &names, person.lang))
        .collect();
    let opt = |value: &str, label: String, chosen: &str| Opt {
        value: value.to_owned(),
        label,
        selected: value == chosen.trim(),
    };
    let groups = c
        .desk
        .groups()
        .iter()
        .map(|g| {
            let name = if l.en { &g.name_en } else { &g.name };
            opt(&g.id, name.clone(), &q.group)
        })
        .collect();
    let priorities = ["P1", "P2", "P3", "P4"]
        .into_iter()
        .map(|p| opt(p, p.to_owned(), &q.priority.to_ascii_uppercase()))
        .collect();
    let statuses = Status::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| {
            opt(
                s.as_str(),
                c.value("status", s.as_str(), person.lang),
                &q.status,
            )
        })
        .collect();
    let engineers = engineers
        .iter()
        .map(|e| opt(&e.id.to_string(), e.name.clone(), &q.assignee))
        .collect();
    page(
        StatusCode::OK,
        &QueuePage {
            l,
            me: person.me(),
            pager: pager(&q, c.settings.queue_limit, rows.len(), queue.total),
            rows,
            total: queue.total,
            groups,
            priorities,
            statuses,
            engineers,
            site: q.site.trim().to_owned(),
            q: q.q.trim().to_owned(),
            breached: !q.breached.is_empty(),
            due_soon: !q.due_soon.is_empty(),
        },
    )
}

/// One queue line for the page.
fn row(c: &Inner, i: &QueueItem, names: &HashMap<EngineerId, String>, lang: Lang) -> Row {
    let t = &i.ticket;
    let now = c.desk.now();
    let (clock, due, left, overdue) = match &i.urgent {
        Some(u) => {
            let clock = c.value("clock", u.kind.as_str(), lang);
            match u.due_at {
                Some(due) => {
                    let overdue = due <= now;
                    (clock, c.local(due), span((due - now).abs()), overdue)
                }
                None => (clock, String::new(), String::new(), false),
            }
        }
        None => Default::default(),
    };
    let place = match &t.intake.location.room {
        Some(room) => format!("{} {}", t.intake.location.site.as_str(), room.as_str()),
        None => t.intake.location.site.as_str().to_owned(),
    };
    Row {
        number: t.number.as_str().to_owned(),
        priority: t.priority.as_str().to_owned(),
        vip: t.vip,
        status: c.value("status", t.status.as_str(), lang),
        category: c.value("category", &t.intake.category, lang),
        place,
        reporter: t.intake.reporter_name.as_str().to_owned(),
        assignee: t
            .assignee
            .and_then(|a| names.get(&a).cloned())
            .unwrap_or_default(),
        summary: t.intake.description.as_str().chars().take(60).collect(),
        shade: i.shade.as_str(),
        clock,
        due,
        left,
        overdue,
    }
}

/// A duration as `2d 3h`, `1h 05m` or `7m`.
fn span(d: chrono::Duration) -> String {
    let m = d.num_minutes();
    match (m / 1440, (m % 1440) / 60, m % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m:02}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `GET /desk/queue/rows`: the queue's lines alone, for the live refresh.
async fn rows(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let queue = match c
        .desk
        .queue(
            &caller,
            &q.filter(c.desk.now()),
            q.offset(c.settings.queue_limit),
            c.settings.queue_limit,
        )
        .await
    {
        Ok(queue) => queue,
        Err(e) => return failed(&e, person.l()),
    };
    let engineers = c.desk.engineers(&caller).await.unwrap_or_default();
    let names: HashMap<EngineerId, String> =
        engineers.iter().map(|e| (e.id, e.name.clone())).collect();
    let rows: Vec<Row> = queue
        .items
        .iter()
        .map(|i| row(c, i, &names, person.lang))
        .collect();
    page(
        StatusCode::OK,
        &RowsFragment {
            l: person.l(),
            pager: pager(&q, c.settings.queue_limit, rows.len(), queue.total),
            rows,
            total: queue.total,
        },
    )
}

/// The fields of any console form; which are needed depends on the form.
#[derive(Debug, Default, Deserialize)]
struct Form {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    again: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    solution: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    engineer: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    on: Option<String>,
}

/// A form body, however malformed (a field that is not there is `None`).
fn form(body: &axum::body::Bytes) -> Form {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The client's address for the sign-in audit: the last `X-Forwarded-For` entry when
/// `[console] trust_forwarded_for` says a proxy in front sets it, else the connection's
/// peer when the server records it (the public listener does); none otherwise.
struct Peer(Option<String>);

impl axum::extract::FromRequestParts<Console> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Console,
    ) -> Result<Peer, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let trusted = console.inner.settings.trust_forwarded_for;
        Ok(Peer(
            crate::proxy::client_ip(peer, &parts.headers, trusted).map(|ip| ip.to_string()),
        ))
    }
}

/// Whether a pre-sign-in form carries the token its cookie holds.
fn pre_token_ok(headers: &HeaderMap, f: &Form) -> bool {
    cookie(headers, PRE_COOKIE).is_some_and(|expected| same_token(f.csrf.as_deref(), &expected))
}

/// A form posted before signing in: the form, the page's language and the handle typed;
/// or, when the form's token is not its cookie's (an old or forged page), the sign-in
/// page again saying it expired.
// The refusal is the page to answer with, once per request: boxing it gains nothing.
#[allow(clippy::result_large_err)]
fn guest_form(
    c: &Inner,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> Result<(Form, Lang, String), Response> {
    let f = form(body);
    let lang = guest_lang(headers);
    let handle = f.handle.clone().unwrap_or_default().trim().to_owned();
    if !pre_token_ok(headers, &f) {
        return Err(sign_in_page(
            c,
            headers,
            StatusCode::FORBIDDEN,
            lang,
            handle,
            "expired",
            String::new(),
        ));
    }
    Ok((f, lang, handle))
}

/// `POST /desk/sign-in`.
async fn sign_in(
    State(console): State<Console>,
    headers: HeaderMap,
    Peer(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (f, lang, handle) = match guest_form(c, &headers, &body) {
        Ok(got) => got,
        Err(refused) => return refused,
    };
    let password = f.password.unwrap_or_default();
    match c
        .desk
        .console_sign_in(&handle, &password, &c.rules, peer.as_deref())
        .await
    {
        Ok(Ok(session)) => {
            let mut r = Redirect::to("/desk").into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, c.session_cookie(&headers, &session));
            r
        }
        Ok(Err(SignInRefusal::Wrong)) => sign_in_page(
            c,
            &headers,
            StatusCode::UNAUTHORIZED,
            lang,
            handle,
            "wrong",
            String::new(),
        ),
        Ok(Err(SignInRefusal::Locked { until })) => sign_in_page(
            c,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            handle,
            "locked",
            c.local(until),
        ),
        Err(e) => failed(
            &e,
            L {
                en: lang == Lang::En,
            },
        ),
    }
}

/// `POST /desk/sign-in-link`: a one-time link to the engineer's linked chat. The answer
/// is the same whether or not the handle exists and has a chat.
async fn send_link(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (_, lang, handle) = match guest_form(c, &headers, &body) {
        Ok(got) => got,
        Err(refused) => return refused,
    };
    if let Err(e) = c.desk.send_console_sign_in_link(&handle, &c.rules).await {
        return failed(
            &e,
            L {
                en: lang == Lang::En,
            },
        );
    }
    sign_in_page(
        c,
        &headers,
        StatusCode::OK,
        lang,
        handle,
        "link_sent",
        String::new(),
    )
}

/// A one-time link's page: a button, so a chat's link preview cannot use it up.
fn link_form(
    c: &Inner,
    headers: &HeaderMap,
    status: StatusCode,
    action: String,
    purpose: &'static str,
    name: String,
    say: &'static str,
) -> Response {
    let csrf = random_token();
    let mut r = page(
        status,
        &LinkPage {
            l: L {
                en: guest_lang(headers) == Lang::En,
            },
            csrf: csrf.clone(),
            action,
            purpose,
            name,
            say,
        },
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        c.cookie(
            headers,
            PRE_COOKIE,
            &csrf,
            "Max-Age=3600; HttpOnly; SameSite=Strict",
        ),
    );
    r
}

/// `GET /desk/link/{code}`.
async fn link_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    link_form(
        &console.inner,
        &headers,
        StatusCode::OK,
        format!("/desk/link/{code}"),
        "sign_in",
        String::new(),
        "",
    )
}

/// `POST /desk/link/{code}`: signs in with a one-time link.
async fn use_link(
    State(console): State<Console>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let l = L {
        en: guest_lang(&headers) == Lang::En,
    };
    if !pre_token_ok(&headers, &form(&body)) {
        return message(StatusCode::FORBIDDEN, l, None, "csrf", String::new());
    }
    match c
        .desk
        .redeem_console_sign_in_link(&code, &c.rules, peer.as_deref())
        .await
    {
        Ok(Some(session)) => {
            let mut r = Redirect::to("/desk").into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, c.session_cookie(&headers, &session));
            r
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            l,
            None,
            "link_invalid",
            String::new(),
        ),
        Err(e) => failed(&e, l),
    }
}

/// `GET /desk/password/{code}`: the form to set a password with a one-time link.
async fn password_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let c = &console.inner;
    let l = L {
        en: guest_lang(&headers) == Lang::En,
    };
    match c.desk.console_password_link_engineer(&code).await {
        Ok(Some(e)) => link_form(
            c,
            &headers,
            StatusCode::OK,
            format!("/desk/password/{code}"),
            "set_password",
            format!("{} ({})", e.name, e.handle),
            "",
        ),
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            l,
            None,
            "link_invalid",
            String::new(),
        ),
        Err(e) => failed(&e, l),
    }
}

/// `POST /desk/password/{code}`: sets the password and signs in.
async fn set_password(
    State(console): State<Console>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let l = L {
        en: guest_lang(&headers) == Lang::En,
    };
    let f = form(&body);
    if !pre_token_ok(&headers, &f) {
        return message(StatusCode::FORBIDDEN, l, None, "csrf", String::new());
    }
    let name = match c.desk.console_password_link_engineer(&code).await {
        Ok(Some(e)) => format!("{} ({})", e.name, e.handle),
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                l,
                None,
                "link_invalid",
                String::new(),
            );
        }
        Err(e) => return failed(&e, l),
    };
    let password = f.password.unwrap_or_default();
    let retry = |say| {
        link_form(
            c,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("/desk/password/{code}"),
            "set_password",
            name.clone(),
            say,
        )
    };
    if f.again.as_deref() != Some(password.as_str()) {
        return retry("mismatch");
    }
    match c
        .desk
        .set_console_password_with_link(&code, &password, &c.rules, peer.as_deref())
        .await
    {
        Ok(Some(session)) => {
            let mut r = Redirect::to("/desk").into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, c.session_cookie(&headers, &session));
            r
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            l,
            None,
            "link_invalid",
            String::new(),
        ),
        Err(DeskError::BadValue(_)) => retry("bad_password"),
        Err(e) => failed(&e, l),
    }
}

/// `POST /desk/sign-out`.
async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    Peer(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !same_token(form(&body).csrf.as_deref(), &person.csrf) {
        return message(
            StatusCode::FORBIDDEN,
            person.l(),
            Some(person.me()),
            "csrf",
            String::new(),
        );
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = c.desk.console_sign_out(&token, peer.as_deref()).await
    {
        return failed(&e, person.l());
    }
    let mut r = sign_in_page(
        c,
        &headers,
        StatusCode::OK,
        person.lang,
        String::new(),
        "signed_out",
        String::new(),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        c.cookie(
            &headers,
            SESSION_COOKIE,
            "",
            "Max-Age=0; HttpOnly; SameSite=Lax",
        ),
    );
    r
}

/// `POST /desk/language`: the person's console language, remembered.
async fn language(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let f = form(&body);
    if !same_token(f.csrf.as_deref(), &person.csrf) {
        return message(
            StatusCode::FORBIDDEN,
            person.l(),
            Some(person.me()),
            "csrf",
            String::new(),
        );
    }
    let lang = Lang::from_code(f.lang.as_deref().unwrap_or_default());
    if let Err(e) = c
        .desk
        .set_console_language(person.engineer.id, lang.as_code())
        .await
    {
        return failed(&e, person.l());
    }
    Redirect::to("/desk").into_response()
}

/// `?done=` after an action.
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

/// `GET /desk/tickets/{number}`.
async fn ticket(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    ticket_page(
        c,
        &person,
        &number,
        StatusCode::OK,
        done.done.unwrap_or_default(),
        String::new(),
    )
    .await
}

/// The ticket's page for `person`, with what was just done or refused.
async fn ticket_page(
    c: &Inner,
    person: &Person,
    number: &str,
    status: StatusCode,
    done: String,
    problem: String,
) -> Response {
    let caller = person.caller();
    let (l, lang) = (person.l(), person.lang);
    let detail = match c.desk.ticket(&caller, number).await {
        Ok(d) => d,
        Err(DeskError::NotFound(_)) => {
            return message(
                StatusCode::NOT_FOUND,
                l,
                Some(person.me()),
                "not_found",
                String::new(),
            );
        }
        Err(e) => return failed(&e, l),
    };
    let t: &Ticket = &detail.ticket;
    let past = c
        .desk
        .asset_history(&caller, t, PAST_FAULTS)
        .await
        .unwrap_or_default();
    let engineers = c.desk.engineers(&caller).await.unwrap_or_default();
    let item = c.desk.queue_item(t.clone(), &detail.clocks, c.desk.now());
    let name_of = |id: Option<EngineerId>| {
        id.and_then(|id| engineers.iter().find(|e| e.id == id))
            .map(|e| e.name.clone())
            .unwrap_or_default()
    };
    let group = c
        .desk
        .groups()
        .iter()
        .find(|g| g.id == t.group)
        .map_or_else(
            || t.group.clone(),
            |g| {
                if l.en {
                    g.name_en.clone()
                } else {
                    g.name.clone()
                }
            },
        );
    let loc = &t.intake.location;
    let place = [
        Some(loc.site.as_str()),
        loc.building.as_ref().map(|b| b.as_str()),
        loc.room.as_ref().map(|r| r.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" / ");
    let clocks = item
        .clocks
        .iter()
        .map(|v| ClockLine {
            name: c.value("clock", v.kind.as_str(), lang),
            shade: v.shade.as_str(),
            due: v.due_at.map(|d| c.local(d)).unwrap_or_default(),
            used: format!("{:.0} %", v.used * 100.0),
            open: v.open,
        })
        .collect();
    let trail = detail
        .audit
        .iter()
        .map(|e| TrailLine {
            at: c.local(e.at),
            who: e.actor.name.clone(),
            action: e.action.clone(),
            change: match &e.from {
                Some(from) if *from != e.to => format!(
                    "{} → {}",
                    c.value("status", from, lang),
                    c.value("status", &e.to, lang)
                ),
                _ => c.value("status", &e.to, lang),
            },
            note: e.note.clone().unwrap_or_default(),
        })
        .collect();
    let past = past
        .iter()
        .map(|p| PastFault {
            number: p.number.as_str().to_owned(),
            at: c.local(p.created_at),
            status: c.value("status", p.status.as_str(), lang),
            summary: p.intake.description.as_str().chars().take(60).collect(),
        })
        .collect();
    let groups = c
        .desk
        .groups()
        .iter()
        .map(|g| Opt {
            value: g.id.clone(),
            label: if l.en {
                g.name_en.clone()
            } else {
                g.name.clone()
            },
            selected: g.id == t.group,
        })
        .collect();
    let engineer_opts = engineers
        .iter()
        .map(|e| Opt {
            value: e.handle.clone(),
            label: format!("{} ({})", e.name, e.group),
            selected: false,
        })
        .collect();
    page(
        status,
        &TicketPage {
            l,
            me: person.me(),
            number: t.number.as_str().to_owned(),
            priority: t.priority.as_str().to_owned(),
            vip: t.vip,
            status: c.value("status", t.status.as_str(), lang),
            status_code: t.status.as_str().to_owned(),
            category: c.value("category", &t.intake.category, lang),
            group,
            tier: t.tier.as_str().to_owned(),
            assignee: name_of(t.assignee),
            reporter: t.intake.reporter_name.as_str().to_owned(),
            department: t.intake.department.as_str().to_owned(),
            phone: t.intake.phone.as_str().to_owned(),
            place,
            asset: t
                .intake
                .device
                .asset_tag
                .as_ref()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            model: t
                .intake
                .device
                .model
                .as_ref()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            ip: t
                .intake
                .device
                .ip
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            description: t.intake.description.as_str().to_owned(),
            started: t.intake.started_at.map(|s| c.local(s)).unwrap_or_default(),
            affected: t.intake.people_affected,
            created: c.local(t.created_at),
            work_mode: t
                .work_mode
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            consent: t
                .remote_consent
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            cause: t
                .cause
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            solution: t
                .solution
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            loaner: t
                .loaner
                .as_ref()
                .filter(|_| t.loaner_returned_at.is_none())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            photos: (1..=t.intake.photos.len()).collect(),
            clocks,
            trail,
            past,
            actions: c.desk.possible_actions(&caller, t),
            groups,
            engineers: engineer_opts,
            done,
            problem,
        },
    )
}

/// `POST /desk/tickets/{number}/{action}`: the same desk call as the REST API's, with the
/// same rules and refusals; then back to the ticket's page.
async fn act(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((number, verb)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let f = form(&body);
    if !same_token(f.csrf.as_deref(), &person.csrf) {
        return message(
            StatusCode::FORBIDDEN,
            person.l(),
            Some(person.me()),
            "csrf",
            String::new(),
        );
    }
    let caller = person.caller();
    let done = match action_of(&c.desk, &verb, f).await {
        Ok(action) => c.desk.act(&caller, &number, action).await.map(drop),
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => Redirect::to(&format!(
            "/desk/tickets/{}?done={verb}",
            urlencode(number.trim())
        ))
        .into_response(),
        Err(DeskError::NotFound(_)) => message(
            StatusCode::NOT_FOUND,
            person.l(),
            Some(person.me()),
            "not_found",
            String::new(),
        ),
        Err(e) => {
            let (status, sentence) = c.refusal(&e, number.trim(), person.lang);
            ticket_page(c, &person, &number, status, String::new(), sentence).await
        }
    }
}

/// A ticket number for a URL (they are letters, digits and dashes; anything else is
/// escaped).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The desk action a console form asks for.
async fn action_of(desk: &Desk, verb: &str, f: Form) -> Result<Action, DeskError> {
    let note = |field: &'static str, v: Option<String>| -> Result<Note, DeskError> {
        let raw = v.unwrap_or_default();
        Note::parse(&raw).map_err(|e| DeskError::BadValue(format!("{field}: {e}")))
    };
    Ok(match verb {
        "accept" => Action::Accept,
        "start_remote" => Action::StartWork(WorkMode::Remote),
        "start_on_site" => Action::StartWork(WorkMode::OnSite),
        "arrive" => Action::Arrive,
        "progress" => Action::Progress(note("note", f.note)?),
        "comment" => Action::Comment(note("note", f.note)?),
        "pend" => Action::Pend(
            match f.reason.as_deref() {
                Some("vendor") => PendingReason::Vendor,
                _ => PendingReason::Reporter,
            },
            note("note", f.note)?,
        ),
        "resume" => Action::Resume,
        "resolve" => Action::Resolve {
            cause: note("cause", f.cause)?,
            solution: note("solution", f.solution)?,
        },
        "escalate" => Action::Escalate(note("note", f.note)?),
        "cancel" => Action::Cancel(
            f.note
                .filter(|n| !n.trim().is_empty())
                .map(|n| note("note", Some(n)))
                .transpose()?,
        ),
        "return_loaner" => Action::ReturnLoaner,
        "reassign" => {
            let engineer = match f.engineer.filter(|h| !h.trim().is_empty()) {
                Some(handle) => Some(
                    desk.engineer_by_handle(handle.trim())
                        .await?
                        .ok_or_else(|| DeskError::NotFound(format!("engineer `{handle}`")))?,
                ),
                None => None,
            };
            let group = engineer
                .as_ref()
                .map(|e| e.group.clone())
                .or(f.group.filter(|g| !g.trim().is_empty()))
                .ok_or_else(|| {
                    DeskError::BadValue("reassign needs a group or an engineer".into())
                })?;
            if desk.policy().routing.group(&group).is_none() {
                return Err(DeskError::BadValue(format!("unknown group `{group}`")));
            }
            Action::Reassign { group, engineer }
        }
        other => return Err(DeskError::BadValue(format!("unknown action `{other}`"))),
    })
}

/// `GET /desk/tickets/{number}/photos/{n}`: a photo the reporter sent (same visibility
/// as the ticket).
async fn photo(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((number, n)): Path<(String, i32)>,
) -> Response {
    let c = &console.inner;
    let person = match signed_in(c, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match c.desk.photo(&person.caller(), &number, n).await {
        Ok(bytes) => {
            let kind = if bytes.starts_with(b"\x89PNG") {
                "image/png"
            } else {
                "image/jpeg"
            };
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
        Err(DeskError::NotFound(_)) => message(
            StatusCode::NOT_FOUND,
            person.l(),
            Some(person.me()),
            "not_found",
            String::new(),
        ),
        Err(e) => failed(&e, person.l()),
    }
}

/// `GET /desk/events`: server-sent events, `changed` whenever any ticket changed (the
/// page then reloads what it shows, as its person may see it).
async fn events(State(console): State<Console>, headers: HeaderMap) -> Response {
    let c = &console.inner;
    if let Err(r) = signed_in(c, &headers).await {
        return r;
    }
    c.live.stream().await.into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(chrono::Duration::minutes(7)), "7m");
        assert_eq!(span(chrono::Duration::minutes(65)), "1h 05m");
        assert_eq!(span(chrono::Duration::minutes(3 * 1440 + 125)), "3d 2h");
    }

    #[test]
    fn form_tokens_must_match_exactly() {
        assert!(same_token(Some("abc"), "abc"));
        assert!(!same_token(Some("abd"), "abc"));
        assert!(!same_token(None, "abc"));
        assert!(!same_token(Some(""), ""));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; baoxiu_desk=tok; baoxiu_desk_pre=pre"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, PRE_COOKIE).as_deref(), Some("pre"));
        assert_eq!(cookie(&h, "nope"), None);
    }
}
