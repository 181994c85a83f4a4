//! Inspections: plans (list, create, pause / resume / retire) and their runs (list, one
//! with its checklist) — the desk calls of `/api/inspection-plans` and `/api/inspections`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{Fields, done, group_options, manager, manager_form, refused};
use crate::console::pages::{L, Me, Note, Opt};
use crate::console::{Console, Inner, Person, failed};
use crate::desk::DeskError;
use crate::desk::inspections::{InspectionDetail, InspectionJob, InspectionPlan};
use crate::domain::inspection::{CheckItem, Frequency, PlanForm, PlanStatus};

/// `templates/console/admin_inspections.html`.
#[derive(Template)]
#[template(path = "console/admin_inspections.html")]
pub struct InspectionsPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// Every plan.
    pub plans: Vec<InspectionPlan>,
    /// The runs (of one plan, or all), newest first.
    pub runs: Vec<InspectionJob>,
    /// One run opened: the run, and its checks as lines.
    pub open: Option<(InspectionJob, Vec<String>)>,
    /// Groups for a new plan.
    pub groups: Vec<Opt>,
    /// The new plan's fields as typed (after a refusal).
    pub typed: PlanTyped,
}

/// What was typed into the new-plan form, kept after a refusal.
#[derive(Debug, Clone, Default)]
pub struct PlanTyped {
    /// Name.
    pub name: String,
    /// Site.
    pub site: String,
    /// Buildings, comma-separated.
    pub buildings: String,
    /// Department of the faults found.
    pub department: String,
    /// Their phone.
    pub phone: String,
    /// Units each period.
    pub units: String,
    /// Target percent.
    pub target: String,
    /// Checks, one a line.
    pub checklist: String,
}

/// `?plan=&done=`.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct InspectionQuery {
    plan: Option<i64>,
    done: Option<String>,
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    plan: Option<i64>,
    open: Option<InspectionDetail>,
    typed: PlanTyped,
) -> Response {
    let l = person.l();
    let caller = person.caller();
    let (plans, runs) = tokio::join!(
        c.desk.inspection_plans(&caller),
        c.desk.inspections(&caller, plan, None)
    );
    let (plans, runs) = match (plans, runs) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => return failed(&e, l),
    };
    let open = open.map(|d| {
        let lines = d
            .checklist
            .iter()
            .map(|ch| {
                let text = if l.en {
                    ch.item.en.clone().unwrap_or_else(|| ch.item.zh.clone())
                } else {
                    ch.item.zh.clone()
                };
                let result = ch
                    .result
                    .map_or_else(|| "—".to_owned(), |r| r.as_str().to_owned());
                let mut line = format!("{}. {text}: {result}", ch.n);
                if let Some(n) = &ch.note {
                    line.push_str(&format!(" ({n})"));
                }
                if let Some(t) = &ch.ticket {
                    line.push_str(&format!(" → {t}"));
                }
                line
            })
            .collect();
        (d.job, lines)
    });
    crate::console::page(
        status,
        &InspectionsPage {
            l,
            me: person.me(),
            note,
            plans,
            runs,
            open,
            groups: group_options(c, l.en, ""),
            typed,
        },
    )
}

/// `GET /desk/admin/inspections?plan=`.
pub(in crate::console) async fn inspections(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<InspectionQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    render(
        c,
        &person,
        StatusCode::OK,
        note,
        q.plan,
        None,
        PlanTyped::default(),
    )
    .await
}

/// `GET /desk/admin/inspections/{id}`: one run with its checklist.
pub(in crate::console) async fn inspection(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match c.desk.inspection(&person.caller(), id).await {
        Ok(d) => {
            let plan = Some(d.job.plan_id);
            render(
                c,
                &person,
                StatusCode::OK,
                Note::default(),
                plan,
                Some(d),
                PlanTyped::default(),
            )
            .await
        }
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, None, None, PlanTyped::default()).await
        }
    }
}

fn typed(f: &Fields) -> PlanTyped {
    PlanTyped {
        name: f.get("name").to_owned(),
        site: f.get("site").to_owned(),
        buildings: f.get("buildings").to_owned(),
        department: f.get("department").to_owned(),
        phone: f.get("phone").to_owned(),
        units: f.get("units").to_owned(),
        target: f.get("target_pct").to_owned(),
        checklist: f.get("checklist").to_owned(),
    }
}

/// A number field: empty is `None`; anything else must be a whole number.
fn number(f: &Fields, name: &str) -> Result<Option<u32>, DeskError> {
    match f.get(name).trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| DeskError::BadValue(format!("`{name}` must be a whole number"))),
    }
}

/// `POST /desk/admin/inspections/plans`: a new plan.
pub(in crate::console) async fn create_plan(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let made = async {
        let frequency = match f.get("frequency") {
            "" => None,
            s => Some(s.parse::<Frequency>().map_err(DeskError::BadValue)?),
        };
        let form = PlanForm {
            name: f.get("name").to_owned(),
            site: f.get("site").to_owned(),
            buildings: f
                .get("buildings")
                .split([',', '，'])
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
                .collect(),
            scope: f.some("scope"),
            asset_group: None,
            group: f.get("group").to_owned(),
            category: f.some("category"),
            department: f.get("department").to_owned(),
            phone: f.get("phone").to_owned(),
            frequency,
            target_pct: number(&f, "target_pct")?,
            units: number(&f, "units")?,
            checklist: f
                .get("checklist")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| match l.split_once('|') {
                    Some((zh, en)) => CheckItem {
                        zh: zh.trim().to_owned(),
                        en: Some(en.trim().to_owned()).filter(|e| !e.is_empty()),
                    },
                    None => CheckItem {
                        zh: l.to_owned(),
                        en: None,
                    },
                })
                .collect(),
        };
        c.desk.create_inspection_plan(&person.caller(), form).await
    };
    match made.await {
        Ok(p) => done(
            &format!("/desk/admin/inspections?plan={}", p.id),
            &format!("{} {}", p.id, p.name),
        ),
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, None, None, typed(&f)).await
        }
    }
}

/// `POST /desk/admin/inspections/plans/{id}/status`: pause, resume or retire a plan.
pub(in crate::console) async fn plan_status(
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
    let result = match f.get("status").parse::<PlanStatus>() {
        Ok(to) => {
            c.desk
                .set_inspection_plan_status(&person.caller(), id, to)
                .await
        }
        Err(e) => Err(DeskError::BadValue(e)),
    };
    match result {
        Ok(p) => done(
            "/desk/admin/inspections",
            &format!("{} {}", p.id, p.status.as_str()),
        ),
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, None, None, PlanTyped::default()).await
        }
    }
}
