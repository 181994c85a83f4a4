//! An engineer's edit page: group, tier and WeCom UserID (the chats linked with a code
//! are shown; they change by `/link`), through the desk calls `PATCH /api/engineers/{id}`
//! uses.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Fields, done, group_options, manager, refused};
use crate::console::pages::{L, Me, Note, Opt};
use crate::console::{Console, Done, Inner, Person, failed};
use crate::desk::DeskError;
use crate::desk::Recipient;
use crate::domain::EngineerId;
use crate::domain::routing::{Engineer, Tier};

/// `templates/console/admin_engineer.html`.
#[derive(Template)]
#[template(path = "console/admin_engineer.html")]
pub struct EngineerPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// The engineer.
    pub id: i64,
    /// Handle.
    pub handle: String,
    /// Name.
    pub name: String,
    /// Groups, theirs chosen.
    pub groups: Vec<Opt>,
    /// Tiers, theirs chosen.
    pub tiers: Vec<Opt>,
    /// WeCom UserID (empty: none).
    pub wecom: String,
    /// Chats linked with a code, e.g. `telegram 42`.
    pub linked: Vec<String>,
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    e: &Engineer,
) -> Response {
    let l = person.l();
    let contact = match c.desk.contact(Recipient::Engineer(e.id)).await {
        Ok(found) => found,
        Err(err) => return failed(&err, l),
    };
    let identities = contact.map(|c| c.identities).unwrap_or_default();
    let wecom = identities
        .iter()
        .find(|(ch, _)| ch == "wecom")
        .map(|(_, id)| id.clone())
        .unwrap_or_default();
    let linked = identities
        .iter()
        .filter(|(ch, _)| ch != "wecom")
        .map(|(ch, id)| format!("{ch} {id}"))
        .collect();
    let tiers = [
        (Tier::FirstLine, l.t("一线", "first line")),
        (Tier::Expert, l.t("二线专家", "expert")),
        (Tier::Manager, l.t("经理", "manager")),
    ]
    .into_iter()
    .map(|(t, label)| Opt {
        value: t.as_str().to_owned(),
        label: label.to_owned(),
        selected: t == e.tier,
    })
    .collect();
    crate::console::page(
        status,
        &EngineerPage {
            l,
            me: person.me(),
            note,
            id: e.id.0,
            handle: e.handle.clone(),
            name: e.name.clone(),
            groups: group_options(c, l.en, &e.group),
            tiers,
            wecom,
            linked,
        },
    )
}

async fn load(c: &Inner, person: &Person, id: i64) -> Result<Engineer, Response> {
    match c.desk.engineer(EngineerId(id)).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(crate::console::message(
            StatusCode::NOT_FOUND,
            person.l(),
            Some(person.me()),
            "not_found",
            String::new(),
        )),
        Err(e) => Err(failed(&e, person.l())),
    }
}

/// `GET /desk/admin/engineers/{id}`: the edit form.
pub(in crate::console) async fn edit_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(d): Query<Done>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let e = match load(c, &person, id).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let note = Note::done(d.done);
    render(c, &person, StatusCode::OK, note, &e).await
}

/// `POST /desk/admin/engineers/{id}/edit` (token already checked): group, tier, WeCom
/// UserID. Everything is checked before anything is saved.
pub(super) async fn edit(
    c: &Inner,
    person: &Person,
    e: Engineer,
    body: &axum::body::Bytes,
) -> Response {
    let f = Fields::of(body);
    let caller = person.caller();
    let tier = match f.get("tier").parse::<Tier>() {
        Ok(t) => t,
        Err(_) => {
            let (status, note) = refused(
                c,
                person,
                &DeskError::BadValue(format!("unknown tier `{}`", f.get("tier"))),
            );
            return render(c, person, status, note, &e).await;
        }
    };
    // One change, so a refusal (an unknown group, a UserID WeCom would not take)
    // changes nothing.
    let change = crate::desk::EngineerChange {
        name: Some(f.get("name").to_owned()),
        group: Some(f.get("group").trim().to_owned()),
        tier: Some(tier),
        wecom_id: Some(f.some("wecom")),
        on_duty: None,
    };
    match c.desk.change_engineer(&caller, e.id, change).await {
        Ok(saved) => done(
            &format!("/desk/admin/engineers/{}", saved.id.0),
            &saved.handle,
        ),
        Err(err) => {
            let (status, note) = refused(c, person, &err);
            render(c, person, status, note, &e).await
        }
    }
}
