//! The managers' administration pages, first part: engineers (add, on/off duty, chat
//! link codes, password links) and dead letters (list, retry) — each the desk call the
//! REST API and the command line use, for managers only (the articles pages also for
//! experts, who write articles through the REST API too).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

mod articles;
mod assets;
mod complaints;
mod engineers;
mod inspections;
mod reporters;
mod setup;

use std::collections::HashMap;

use super::pages::{AdminPage, DeadLine, EngineerLine, Note, Opt};
use super::{
    Console, Done, Form, Inner, Person, failed, form, message, same_token, signed_in, urlencode,
};
use crate::desk::DeskError;
use crate::domain::EngineerId;

pub(super) use articles::{article, article_action, articles, create as create_article};
pub(super) use assets::{
    asset, assets, labels as asset_labels, save as save_asset, set_status as asset_status,
};
pub(super) use complaints::{answer_complaint, complaint, complaints};
pub(super) use engineers::edit_page as engineer_page;
pub(super) use inspections::{create_plan, inspection, inspections, plan_status};
pub(super) use reporters::{reporter_action, reporters};
pub(super) use setup::page as setup;

/// What the administration page shows besides its lists.
#[derive(Debug, Default)]
struct AdminNote {
    done: String,
    problem: String,
    secret_kind: &'static str,
    secret: String,
    secret_for: String,
}

/// A manager's request: the person, or the answer to give instead (another's is "not
/// found", as a hidden ticket is; a form without its token, 403).
pub(super) async fn manager(
    c: &Inner,
    headers: &HeaderMap,
    body: Option<&Form>,
) -> Result<Person, Response> {
    admitted(c, headers, body, |caller| caller.is_manager()).await
}

/// Like [`manager`], for the articles pages: whoever may write articles (experts and
/// managers, by the desk's rule, as the REST API has it).
pub(super) async fn article_editor(
    c: &Inner,
    headers: &HeaderMap,
    body: Option<&Form>,
) -> Result<Person, Response> {
    admitted(c, headers, body, |caller| c.desk.may_edit_articles(caller)).await
}

/// A request of someone `may` admits, else "not found"; a form without its token, 403.
async fn admitted(
    c: &Inner,
    headers: &HeaderMap,
    body: Option<&Form>,
    may: impl Fn(&crate::domain::ticket::Caller) -> bool,
) -> Result<Person, Response> {
    let person = signed_in(c, headers).await?;
    if !may(&person.caller()) {
        return Err(message(
            StatusCode::NOT_FOUND,
            person.l(),
            Some(person.me()),
            "not_found",
            String::new(),
        ));
    }
    if let Some(f) = body
        && !same_token(f.csrf.as_deref(), &person.csrf)
    {
        return Err(message(
            StatusCode::FORBIDDEN,
            person.l(),
            Some(person.me()),
            "csrf",
            String::new(),
        ));
    }
    Ok(person)
}

/// The administration page for a manager, with what was just done.
async fn admin_page(c: &Inner, person: &Person, status: StatusCode, note: AdminNote) -> Response {
    let caller = person.caller();
    let l = person.l();
    let group_name = |id: &str| {
        c.desk.groups().iter().find(|g| g.id == id).map_or_else(
            || id.to_owned(),
            |g| {
                if l.en {
                    g.name_en.clone()
                } else {
                    g.name.clone()
                }
            },
        )
    };
    let engineers = match c.desk.engineers(&caller).await {
        Ok(list) => list,
        Err(e) => return failed(&e, l),
    };
    let engineers = engineers
        .iter()
        .map(|e| EngineerLine {
            id: e.id.0,
            name: e.name.clone(),
            handle: e.handle.clone(),
            group: group_name(&e.group),
            tier: e.tier.as_str().to_owned(),
            on_duty: e.on_duty,
            chats: [
                ("telegram", e.telegram_id.is_some()),
                ("discord", e.discord_id.is_some()),
                ("web", e.web_id.is_some()),
            ]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(door, _)| door)
            .collect::<Vec<_>>()
            .join(", "),
        })
        .collect();
    let mut dead = Vec::new();
    for status in ["dead", "unroutable"] {
        match c.desk.deliveries(&caller, status, 50).await {
            Ok(list) => dead.extend(list.into_iter().map(|m| {
                let (kind, id) = m.to.parts();
                DeadLine {
                    id: m.id,
                    status: m.status.clone(),
                    ticket: m.payload["ticket"].as_str().unwrap_or("—").to_owned(),
                    to: format!("{kind} {id}"),
                    event: m.event.clone(),
                    attempts: m.attempts,
                    error: m.last_error.clone().unwrap_or_default(),
                }
            })),
            Err(e) => return failed(&e, l),
        }
    }
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
            selected: false,
        })
        .collect();
    super::page(
        status,
        &AdminPage {
            l,
            me: person.me(),
            engineers,
            groups,
            dead,
            note: Note {
                done: note.done,
                problem: note.problem,
            },
            secret_kind: note.secret_kind,
            secret: note.secret,
            secret_for: note.secret_for,
        },
    )
}

/// `GET /desk/admin`: engineers and dead letters (managers).
pub(super) async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    let c = &console.inner;
    match manager(c, &headers, None).await {
        Ok(person) => {
            let note = AdminNote {
                done: done.done.unwrap_or_default(),
                ..AdminNote::default()
            };
            admin_page(c, &person, StatusCode::OK, note).await
        }
        Err(r) => r,
    }
}

/// The administration page after a refusal, in the person's words.
async fn admin_refused(c: &Inner, person: &Person, e: &DeskError) -> Response {
    let (status, sentence) = c.refusal(e, "", person.lang);
    let note = AdminNote {
        problem: sentence,
        ..AdminNote::default()
    };
    admin_page(c, person, status, note).await
}

/// `POST /desk/admin/engineers`: adds an engineer.
pub(super) async fn add_engineer(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let f = form(&body);
    let person = match manager(c, &headers, Some(&f)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let tier = match f.tier.as_deref() {
        Some("manager") => crate::domain::routing::Tier::Manager,
        Some("expert") => crate::domain::routing::Tier::Expert,
        _ => crate::domain::routing::Tier::FirstLine,
    };
    let new = crate::desk::NewEngineer {
        handle: f.handle.unwrap_or_default().trim().to_owned(),
        name: f.name.unwrap_or_default(),
        group: f.group.unwrap_or_default(),
        tier,
        on_duty: true,
    };
    match c.desk.add_engineer(&person.caller(), new).await {
        Ok(e) => {
            Redirect::to(&format!("/desk/admin?done={}", urlencode(&e.handle))).into_response()
        }
        Err(e) => admin_refused(c, &person, &e).await,
    }
}

/// `POST /desk/admin/engineers/{id}/{duty|link-code|password-link}`.
pub(super) async fn engineer(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((id, what)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let f = form(&body);
    let person = match manager(c, &headers, Some(&f)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let engineer = match c.desk.engineer(EngineerId(id)).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            return admin_refused(c, &person, &DeskError::NotFound(format!("engineer {id}"))).await;
        }
        Err(e) => return failed(&e, person.l()),
    };
    let shown = format!("{} ({})", engineer.name, engineer.handle);
    match what.as_str() {
        "duty" => {
            let on = f.on.as_deref() == Some("true");
            match c
                .desk
                .change_engineer(
                    &caller,
                    engineer.id,
                    crate::desk::EngineerChange {
                        on_duty: Some(on),
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(e) => Redirect::to(&format!("/desk/admin?done={}", urlencode(&e.handle)))
                    .into_response(),
                Err(e) => admin_refused(c, &person, &e).await,
            }
        }
        "edit" => engineers::edit(c, &person, engineer, &body).await,
        "deactivate" if Fields::of(&body).get("confirm") == "yes" => {
            match c.desk.deactivate_engineer(&caller, engineer.id).await {
                Ok(e) => done("/desk/admin", &format!("{} ✗", e.handle)),
                Err(e) => admin_refused(c, &person, &e).await,
            }
        }
        "deactivate" => {
            admin_refused(
                c,
                &person,
                &DeskError::BadValue("tick the box to confirm the deactivation".into()),
            )
            .await
        }
        "link-code" => match c.desk.issue_link_code(&caller, &engineer.handle).await {
            Ok(code) => {
                let note = AdminNote {
                    secret_kind: "link_code",
                    secret: code.code,
                    secret_for: shown,
                    ..AdminNote::default()
                };
                admin_page(c, &person, StatusCode::OK, note).await
            }
            Err(e) => admin_refused(c, &person, &e).await,
        },
        "password-link" => match c
            .desk
            .console_password_link(&caller, &engineer.handle, &c.rules)
            .await
        {
            Ok((link, _)) => {
                let note = AdminNote {
                    secret_kind: "password_link",
                    secret: link,
                    secret_for: shown,
                    ..AdminNote::default()
                };
                admin_page(c, &person, StatusCode::OK, note).await
            }
            Err(e) => admin_refused(c, &person, &e).await,
        },
        other => {
            admin_refused(
                c,
                &person,
                &DeskError::BadValue(format!("unknown action `{other}`")),
            )
            .await
        }
    }
}

/// `POST /desk/admin/outbox/{id}/retry`: a dead or unroutable message queued again.
pub(super) async fn retry(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let f = form(&body);
    let person = match manager(c, &headers, Some(&f)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match c.desk.redeliver(&person.caller(), Some(id)).await {
        Ok(0) => admin_refused(c, &person, &DeskError::NotFound(format!("message {id}"))).await,
        Ok(_) => Redirect::to(&format!("/desk/admin?done=retry%20{id}")).into_response(),
        Err(e) => admin_refused(c, &person, &e).await,
    }
}

/// `POST /desk/admin/outbox/retry-all`: every dead message queued again.
pub(super) async fn retry_all(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let f = form(&body);
    let person = match manager(c, &headers, Some(&f)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match c.desk.redeliver(&person.caller(), None).await {
        Ok(n) => Redirect::to(&format!("/desk/admin?done=retry%20{n}")).into_response(),
        Err(e) => admin_refused(c, &person, &e).await,
    }
}

/// An administration form's fields by name, and the token they came with (forms differ;
/// each handler takes what it needs).
pub(super) struct Fields(HashMap<String, String>);

impl Fields {
    /// The fields of a form body, however malformed.
    pub(super) fn of(body: &axum::body::Bytes) -> Fields {
        Fields(
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        )
    }

    /// A field as sent, or empty.
    pub(super) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// A field trimmed, `None` if empty.
    pub(super) fn some(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The form token only, for [`manager`].
    pub(super) fn token(&self) -> Form {
        Form {
            csrf: self.0.get("csrf").cloned(),
            ..Form::default()
        }
    }
}

/// A manager's form: the person and its fields, or the answer to give instead.
pub(super) async fn manager_form(
    c: &Inner,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> Result<(Person, Fields), Response> {
    let fields = Fields::of(body);
    let person = manager(c, headers, Some(&fields.token())).await?;
    Ok((person, fields))
}

/// An article editor's form (see [`article_editor`]): the person and its fields, or the
/// answer to give instead.
pub(super) async fn editor_form(
    c: &Inner,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> Result<(Person, Fields), Response> {
    let fields = Fields::of(body);
    let person = article_editor(c, headers, Some(&fields.token())).await?;
    Ok((person, fields))
}

/// Back to `path` with a "done" note.
pub(super) fn done(path: &str, what: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={}", urlencode(what))).into_response()
}

/// A refusal's status and sentence in the person's words, as a page's note.
pub(super) fn refused(c: &Inner, person: &Person, e: &DeskError) -> (StatusCode, Note) {
    let (status, sentence) = c.refusal(e, "", person.lang);
    (
        status,
        Note {
            done: String::new(),
            problem: sentence,
        },
    )
}

/// The groups as choices, `selected` chosen.
pub(super) fn group_options(c: &Inner, en: bool, selected: &str) -> Vec<Opt> {
    c.desk
        .groups()
        .iter()
        .map(|g| Opt {
            value: g.id.clone(),
            label: if en {
                g.name_en.clone()
            } else {
                g.name.clone()
            },
            selected: g.id == selected,
        })
        .collect()
}
