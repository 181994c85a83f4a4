//! The managers' reports page, first part: a period (preset or dates) and a breakdown,
//! the contract's figures with SLA compliance per clock as server-rendered SVG bars, and
//! the CSV download (the report's own writer: UTF-8 with a BOM, formula-safe). The same
//! desk call as `GET /api/reports` and `baoxiu report`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::admin::manager;
use super::chart::{Frame, LineChart, Series};
use super::pages::{ChartBlock, L, Opt, ReportLine, ReportsPage, SignInLine, SlaBar};
use super::{Console, Inner, Person};
use crate::domain::report::{Cell, Figures, GroupBy, Headers, Report};
use crate::flow::Lang;

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
    let charts = made.as_ref().map(|r| charts(r, l)).unwrap_or_default();
    // The last sign-ins (a glance; the whole list is `GET /api/audit/sign-ins`).
    let sign_ins = c
        .desk
        .sign_in_events(&person.caller(), 30, 20)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| SignInLine {
            at: c.local(e.at),
            handle: e.handle,
            what: sign_in_words(&e.event, e.method.as_deref(), l),
            address: e.address.unwrap_or_default(),
            bad: matches!(e.event.as_str(), "failed" | "locked_out"),
        })
        .collect();
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
            xlsx: format!("/desk/reports.xlsx?{query}"),
            charts,
            sign_ins,
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
            let mut resp = r.to_csv_in(headers_for(person.lang)).into_response();
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

/// A sign-in event in words.
fn sign_in_words(event: &str, method: Option<&str>, l: L) -> String {
    let how = match method {
        Some("link") => l.t("（链接）", " (link)"),
        Some("password") => l.t("（密码）", " (password)"),
        _ => "",
    };
    let what = match event {
        "signed_in" => l.t("登录", "signed in"),
        "failed" => l.t("登录失败", "failed sign-in"),
        "locked_out" => l.t("已锁定", "locked out"),
        "signed_out" => l.t("退出", "signed out"),
        "password_set" => l.t("设置密码", "password set"),
        other => other,
    };
    format!("{what}{how}")
}

/// The downloads' header row follows the page's language.
fn headers_for(lang: Lang) -> Headers {
    match lang {
        Lang::En => Headers::English,
        _ => Headers::Chinese,
    }
}

/// The trend's charts: tickets reported and resolved, the average rating (1–5) and the
/// survey response rate, a point a day (a week for long periods).
fn charts(r: &Report, l: L) -> Vec<ChartBlock> {
    let labels: Vec<String> = r
        .trend
        .iter()
        .map(|p| p.start.format("%m-%d").to_string())
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let count = |f: &dyn Fn(&crate::domain::report::TrendPoint) -> usize| {
        r.trend.iter().map(|p| Some(f(p) as f64)).collect()
    };
    let frame = Frame::default();
    let block = |id: &'static str, chart: LineChart| ChartBlock {
        id,
        heading: chart.title.clone(),
        svg: chart.svg(&frame),
    };
    vec![
        block(
            "chart-volume",
            LineChart {
                title: l
                    .t(
                        "报修与解决（按日或按周）",
                        "Reported and resolved (per day or week)",
                    )
                    .into(),
                labels: labels.clone(),
                series: vec![
                    Series {
                        name: l.t("报修", "reported").into(),
                        colour: "#1565c0",
                        values: count(&|p| p.opened),
                    },
                    Series {
                        name: l.t("解决", "resolved").into(),
                        colour: "#2e7d32",
                        values: count(&|p| p.resolved),
                    },
                ],
                fixed_max: None,
                unit: "",
            },
        ),
        block(
            "chart-rating",
            LineChart {
                title: l.t("平均评分（1–5）", "Average rating (1–5)").into(),
                labels: labels.clone(),
                series: vec![Series {
                    name: l.t("平均评分", "average rating").into(),
                    colour: "#ef6c00",
                    values: r.trend.iter().map(|p| p.average_rating).collect(),
                }],
                fixed_max: Some(5.0),
                unit: "",
            },
        ),
        block(
            "chart-response",
            LineChart {
                title: l.t("回访响应率", "Survey response rate").into(),
                labels,
                series: vec![Series {
                    name: l.t("回访响应率", "response rate").into(),
                    colour: "#6a1b9a",
                    values: r
                        .trend
                        .iter()
                        .map(|p| p.response_rate.map(|v| v * 100.0))
                        .collect(),
                }],
                fixed_max: Some(100.0),
                unit: " %",
            },
        ),
    ]
}

/// The report's table as an Excel workbook: one sheet, the CSV's rows, figures as
/// numbers (a missing one an empty cell), names as text (never formulas).
fn workbook(r: &Report, headers: Headers) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(match headers {
        Headers::English => "report",
        Headers::Chinese => "报表",
    })?;
    for (row, line) in r.cells(headers).iter().enumerate() {
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        for (col, cell) in line.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            match cell {
                // write_string: a group named `=1+1` stays text.
                Cell::Text(t) => {
                    sheet.write_string(row, col, t)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(row, col, *n)?;
                }
                Cell::Empty => {}
            }
        }
    }
    book.save_to_buffer()
}

/// `GET /desk/reports.xlsx`: the same report as an Excel workbook.
pub(super) async fn xlsx(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = match report(c, &person, &q).await {
        Ok(r) => r,
        Err((status, sentence)) => return (status, sentence).into_response(),
    };
    match workbook(&r, headers_for(person.lang)) {
        Ok(bytes) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"baoxiu-report.xlsx\""),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "the report's workbook could not be written");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                person
                    .l()
                    .t(
                        "报表文件生成失败，请稍后再试。",
                        "The workbook could not be made; try again later.",
                    )
                    .to_owned(),
            )
                .into_response()
        }
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
