//! The managers' reports page, first part: a period (preset or dates) and a breakdown,
//! the contract's figures with SLA compliance per clock as server-rendered SVG bars, and
//! the CSV download (the report's own writer: UTF-8 with a BOM, formula-safe). The same
//! desk call as `GET /api/reports` and `baoxiu report`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::admin::manager;
use super::pages::{Opt, ReportLine, ReportsPage, SlaBar};
use super::{Console, Inner, Person};
use crate::domain::report::{Figures, GroupBy, Report};

/// The page's choices (empty means none).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReportQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    by: String,
}

const PERIODS: [&str; 5] = ["week", "month", "quarter", "half-year", "year"];
const BREAKDOWNS: [&str; 5] = ["category", "department", "site", "engineer", "priority"];

/// The report asked for, or the sentence saying why it cannot be made.
async fn report(
    c: &Inner,
    person: &Person,
    q: &ReportQuery,
) -> Result<Report, (StatusCode, String)> {
    let date = |s: &str| {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
        }
    };
    let bad = |e: String| (StatusCode::UNPROCESSABLE_ENTITY, e);
    let from = date(&q.from).map_err(bad)?;
    let to = date(&q.to).map_err(bad)?;
    let period = match (from, to, q.period.trim()) {
        (Some(_), Some(_), _) => None,
        (_, _, "") => Some("month"),
        (_, _, p) => Some(p),
    };
    let (from, to) = if period.is_some() {
        (None, None)
    } else {
        (from, to)
    };
    let by = match q.by.trim() {
        "" => None,
        b => Some(GroupBy::parse(b).ok_or_else(|| bad(format!("unknown breakdown `{b}`")))?),
    };
    let (start, end) = c
        .desk
        .report_period(from, to, period)
        .map_err(|e| c.refusal(&e, "", person.lang))?;
    c.desk
        .report_for(&person.caller(), start, end, by)
        .await
        .map_err(|e| c.refusal(&e, "", person.lang))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".into(), |r| format!("{:.1} %", r * 100.0))
}

fn line(key: String, f: &Figures) -> ReportLine {
    ReportLine {
        key,
        tickets: f.tickets,
        sla: percent({
            let (met, breached) = f
                .sla
                .values()
                .fold((0, 0), |(m, b), c| (m + c.met, b + c.breached));
            (met + breached > 0).then(|| met as f64 / (met + breached) as f64)
        }),
        satisfaction: percent(f.satisfaction_rate),
        response: percent(f.response_rate),
        complaints: f.complaints,
    }
}

/// `GET /desk/reports`.
pub(super) async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let l = person.l();
    let (status, made, problem) = match report(c, &person, &q).await {
        Ok(r) => (StatusCode::OK, Some(r), String::new()),
        Err((status, sentence)) => (status, None, sentence),
    };
    let opts = |all: &[&str], chosen: &str| {
        all.iter()
            .map(|v| Opt {
                value: (*v).to_owned(),
                label: (*v).to_owned(),
                selected: *v == chosen.trim(),
            })
            .collect()
    };
    let (summary, sla, lines, first_day, last_day) = match &made {
        Some(r) => {
            let tz = c.desk.policy().calendar.time_zone();
            let day = |t: chrono::DateTime<chrono::Utc>| {
                t.with_timezone(&tz).format("%Y-%m-%d").to_string()
            };
            let sla = r
                .total
                .sla
                .iter()
                .map(|(kind, comp)| {
                    let share = comp.rate.unwrap_or(0.0).clamp(0.0, 1.0);
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let width = (share * 200.0).round() as u32;
                    SlaBar {
                        name: c.value("clock", kind, person.lang),
                        met: comp.met,
                        breached: comp.breached,
                        rate: percent(comp.rate),
                        width,
                    }
                })
                .collect();
            let lines = r.groups.iter().map(|(k, f)| line(k.clone(), f)).collect();
            (
                Some(line(String::new(), &r.total)),
                sla,
                lines,
                day(r.from),
                day(r.to - chrono::Duration::seconds(1)),
            )
        }
        None => (None, Vec::new(), Vec::new(), String::new(), String::new()),
    };
    let query = format!(
        "period={}&from={}&to={}&by={}",
        enc(&q.period),
        enc(&q.from),
        enc(&q.to),
        enc(&q.by)
    );
    super::page(
        status,
        &ReportsPage {
            l,
            me: person.me(),
            periods: opts(
                &PERIODS,
                if q.period.is_empty() && q.from.is_empty() {
                    "month"
                } else {
                    &q.period
                },
            ),
            breakdowns: opts(&BREAKDOWNS, &q.by),
            from: q.from.trim().to_owned(),
            to: q.to.trim().to_owned(),
            first_day,
            last_day,
            summary,
            sla,
            lines,
            problem,
            csv: format!("/desk/reports.csv?{query}"),
        },
    )
}

/// `GET /desk/reports.csv`: the same report as a CSV file.
pub(super) async fn csv(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match report(c, &person, &q).await {
        Ok(r) => {
            let mut resp = r.to_csv().into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"baoxiu-report.csv\""),
            );
            resp
        }
        Err((status, sentence)) => (status, sentence).into_response(),
    }
}

/// A query value for a link (what the page was given, escaped).
fn enc(s: &str) -> String {
    s.trim()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
