//! Reporters: find by name, phone or department; VIP on/off; a web-chat invitation;
//! erasure of their personal data after a confirmation — the desk calls of
//! `PATCH /api/reporters/{id}`, `POST /api/reporters/{id}/web-invite` and
//! `DELETE /api/reporters/{id}`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{done, manager, manager_form, refused};
use crate::console::pages::{L, Me, Note};
use crate::console::{Console, Inner, Person, failed};
use crate::desk::{DeskError, Reporter};
use crate::domain::ReporterId;

/// Reporters shown at most.
const SHOWN: i64 = 100;

/// `templates/console/admin_reporters.html`.
#[derive(Template)]
#[template(path = "console/admin_reporters.html")]
pub struct ReportersPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// The search as typed.
    pub q: String,
    /// Reporters found.
    pub reporters: Vec<Reporter>,
    /// A reporter whose erasure is to be confirmed.
    pub confirm: Option<Reporter>,
    /// A web-chat invitation just made: link, until (local time).
    pub invite: Option<(String, String)>,
}

/// `?q=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ReporterQuery {
    q: Option<String>,
    done: Option<String>,
    erase: Option<i64>,
}

struct Extra {
    confirm: Option<Reporter>,
    invite: Option<(String, String)>,
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    q: &str,
    extra: Extra,
) -> Response {
    let l = person.l();
    let search = Some(q).filter(|q| !q.trim().is_empty());
    let reporters = match c.desk.reporters(&person.caller(), search, SHOWN).await {
        Ok(list) => list,
        Err(e) => return failed(&e, l),
    };
    crate::console::page(
        status,
        &ReportersPage {
            l,
            me: person.me(),
            note,
            q: q.to_owned(),
            reporters,
            confirm: extra.confirm,
            invite: extra.invite,
        },
    )
}

/// `GET /desk/admin/reporters?q=…` (and `&erase=ID`: the confirmation).
pub(in crate::console) async fn reporters(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<ReporterQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(query.done);
    let mut extra = Extra {
        confirm: None,
        invite: None,
    };
    if let Some(id) = query.erase {
        match c.desk.reporter(&person.caller(), ReporterId(id)).await {
            Ok(r) => extra.confirm = Some(r),
            Err(e) => {
                let (status, note) = refused(c, &person, &e);
                return render(c, &person, status, note, "", extra).await;
            }
        }
    }
    let q = query.q.unwrap_or_default();
    render(c, &person, StatusCode::OK, note, &q, extra).await
}

/// `POST /desk/admin/reporters/{id}/{vip|invite|erase}`.
pub(in crate::console) async fn reporter_action(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((id, what)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let id = ReporterId(id);
    let q = f.get("q").to_owned();
    let back = format!("/desk/admin/reporters?q={}", crate::console::urlencode(&q));
    let result = match what.as_str() {
        "vip" => {
            let on = f.get("on") == "true";
            c.desk.set_vip(&caller, id, on).await.map(|r| {
                done(
                    &back,
                    &format!("{} VIP {}", r.name, if on { "✓" } else { "✗" }),
                )
            })
        }
        "invite" => match c.desk.invite_to_web(&caller, id).await {
            Ok(invite) => {
                let extra = Extra {
                    confirm: None,
                    invite: Some((invite.link, c.local(invite.expires_at))),
                };
                return render(c, &person, StatusCode::OK, Note::default(), &q, extra).await;
            }
            Err(e) => Err(e),
        },
        "erase" if f.get("confirm") == "yes" => c
            .desk
            .erase_reporter(&caller, id)
            .await
            .map(|()| done("/desk/admin/reporters", &format!("erased {id}"))),
        "erase" => Err(DeskError::BadValue(
            "tick the box to confirm the erasure".into(),
        )),
        other => Err(DeskError::BadValue(format!("unknown action `{other}`"))),
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            let extra = Extra {
                confirm: None,
                invite: None,
            };
            render(c, &person, status, note, &q, extra).await
        }
    }
}
