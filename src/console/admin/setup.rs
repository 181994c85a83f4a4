//! The setup in effect, read-only: groups with their engineers and categories, working
//! hours, holidays and make-up days, the on-call rota (from `baoxiu.toml` and the holidays
//! directory, read at start).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Datelike;

use super::manager;
use crate::console::pages::{L, Me, Note};
use crate::console::{Console, failed};

/// One group as shown.
#[derive(Debug, Clone)]
pub struct GroupLine {
    /// Id.
    pub id: String,
    /// Name in the page's language.
    pub name: String,
    /// Engineers' handles.
    pub members: String,
    /// Categories routed to it, translated.
    pub categories: String,
}

/// One day ahead as shown.
#[derive(Debug, Clone)]
pub struct DayLine {
    /// `2026-10-01`.
    pub date: String,
    /// Day of the week, 0 = Monday.
    pub weekday: u32,
    /// `08:30–12:00, 13:30–17:30`, empty for a day off.
    pub hours: String,
    /// `zhou 00:00–08:30`, …
    pub on_call: String,
}

/// One year's holidays and make-up days.
#[derive(Debug, Clone)]
pub struct YearLine {
    /// The year.
    pub year: i32,
    /// Holidays, comma-separated.
    pub holidays: String,
    /// Make-up working days, comma-separated.
    pub workdays: String,
}

/// `templates/console/admin_setup.html`.
#[derive(Template)]
#[template(path = "console/admin_setup.html")]
pub struct SetupPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Nothing is done here; the navigation shows it.
    pub note: Note,
    /// Groups.
    pub groups: Vec<GroupLine>,
    /// The calendar's time zone.
    pub time_zone: String,
    /// 24×7.
    pub always: bool,
    /// This year and the next.
    pub years: Vec<YearLine>,
    /// The days ahead.
    pub days: Vec<DayLine>,
    /// On call now (handles).
    pub on_call_now: String,
}

fn hm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn ranges(r: &[(u16, u16)]) -> String {
    r.iter()
        .map(|(a, b)| format!("{}–{}", hm(*a), hm(*b)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /desk/admin/setup`.
pub(in crate::console) async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let l = person.l();
    let setup = match c.desk.setup(&person.caller()).await {
        Ok(s) => s,
        Err(e) => return failed(&e, l),
    };
    let groups = setup
        .groups
        .iter()
        .map(|g| GroupLine {
            id: g.group.id.clone(),
            name: if l.en {
                g.group.name_en.clone()
            } else {
                g.group.name.clone()
            },
            members: g.members.join(", "),
            categories: g
                .group
                .categories
                .iter()
                .map(|k| c.value("category", k, person.lang))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let dates = |d: &[chrono::NaiveDate]| {
        d.iter()
            .map(|d| d.format("%m-%d").to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let years = setup
        .years
        .iter()
        .map(|(year, holidays, workdays)| YearLine {
            year: *year,
            holidays: dates(holidays),
            workdays: dates(workdays),
        })
        .collect();
    let days = setup
        .days
        .iter()
        .map(|d| DayLine {
            date: d.date.format("%Y-%m-%d").to_string(),
            weekday: d.date.weekday().num_days_from_monday(),
            hours: ranges(&d.hours),
            on_call: d
                .on_call
                .iter()
                .map(|(h, r)| format!("{h} {}", ranges(r)))
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    crate::console::page(
        StatusCode::OK,
        &SetupPage {
            l,
            me: person.me(),
            note: Note::default(),
            groups,
            time_zone: setup.time_zone,
            always: setup.always,
            years,
            days,
            on_call_now: setup.on_call_now.join(", "),
        },
    )
}
