//! Complaints: the list by status, one complaint with its trail, and the answer (the
//! complainant is told) — the desk calls of `/api/complaints`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{done, manager, manager_form, refused};
use crate::console::pages::{L, Me, Note};
use crate::console::{Console, Inner, Person, failed};
use crate::desk::ComplaintDetail;
use crate::domain::complaint::ComplaintStatus;

/// Complaints listed at most.
const SHOWN: i64 = 100;

/// One complaint in the list.
#[derive(Debug, Clone)]
pub struct ComplaintLine {
    /// Id.
    pub id: i64,
    /// Status.
    pub status: String,
    /// The ticket it is about (empty: none).
    pub ticket: String,
    /// Filed at (local).
    pub filed: String,
    /// Answer due (local).
    pub due: String,
    /// The start of its text.
    pub text: String,
}

/// `templates/console/admin_complaints.html`.
#[derive(Template)]
#[template(path = "console/admin_complaints.html")]
pub struct ComplaintsPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// The status listed (empty: all).
    pub status: String,
    /// The list.
    pub complaints: Vec<ComplaintLine>,
    /// One complaint opened, with its trail as lines.
    pub open: Option<(ComplaintLine, String, Vec<String>)>,
}

/// `?status=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ComplaintQuery {
    status: Option<String>,
    done: Option<String>,
}

fn line(c: &Inner, x: &crate::desk::Complaint) -> ComplaintLine {
    ComplaintLine {
        id: x.id,
        status: x.status.clone(),
        ticket: x.ticket.clone().unwrap_or_default(),
        filed: c.local(x.created_at),
        due: c.local(x.due_at),
        text: x.text.chars().take(80).collect(),
    }
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    filter: &str,
    open: Option<ComplaintDetail>,
) -> Response {
    let l = person.l();
    let wanted = filter.parse::<ComplaintStatus>().ok();
    let list = match c.desk.complaints(&person.caller(), wanted, 1, SHOWN).await {
        Ok(list) => list,
        Err(e) => return failed(&e, l),
    };
    let open = open.map(|d| {
        let trail = d
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} → {}{}",
                    c.local(e.at),
                    e.actor_name,
                    e.action,
                    e.to_status,
                    e.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        (line(c, &d.complaint), d.complaint.text.clone(), trail)
    });
    crate::console::page(
        status,
        &ComplaintsPage {
            l,
            me: person.me(),
            note,
            status: wanted.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            complaints: list.iter().map(|x| line(c, x)).collect(),
            open,
        },
    )
}

/// `GET /desk/admin/complaints?status=…`.
pub(in crate::console) async fn complaints(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ComplaintQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    let filter = q.status.unwrap_or_else(|| "open".to_owned());
    render(c, &person, StatusCode::OK, note, &filter, None).await
}

/// `GET /desk/admin/complaints/{id}`: one complaint and the answer form.
pub(in crate::console) async fn complaint(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ComplaintQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    match c.desk.complaint(&person.caller(), id).await {
        Ok(d) => render(c, &person, StatusCode::OK, note, "", Some(d)).await,
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, "", None).await
        }
    }
}

/// `POST /desk/admin/complaints/{id}/answer`: `outcome`, `close`.
pub(in crate::console) async fn answer_complaint(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let close = f.get("close") == "yes";
    match c
        .desk
        .answer_complaint(&caller, id, f.get("outcome"), close)
        .await
    {
        Ok(d) => done(
            &format!("/desk/admin/complaints/{id}"),
            &format!("{id} {}", d.complaint.status),
        ),
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            let open = c.desk.complaint(&caller, id).await.ok();
            render(c, &person, status, note, "", open).await
        }
    }
}
