//! The contract's statistics over a period, as pure arithmetic on stored tickets, clocks
//! and surveys: volume, times to accept / arrive / resolve, SLA compliance per clock,
//! reopen rate, confirmed vs auto-closed, survey response and satisfaction, complaints,
//! and repeat faults per device. Times are wall-clock durations.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::clocks::{ClockKind, ClockStatus, SlaClock};
use super::ticket::{Closure, Ticket};

/// One ticket with what the report needs about it.
#[derive(Debug, Clone)]
pub struct Row {
    /// The ticket.
    pub ticket: Ticket,
    /// Its clocks.
    pub clocks: Vec<SlaClock>,
    /// Its survey: status (`sent`, `answered`, `expired`, …), rating, complaint.
    pub survey: Option<(String, Option<i32>, bool)>,
    /// The assignee's name, if any.
    pub engineer: Option<String>,
}

/// How to break the figures down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Fault category.
    Category,
    /// Reporter's department.
    Department,
    /// Site.
    Site,
    /// Assigned engineer.
    Engineer,
    /// Priority.
    Priority,
    /// The channel the report came by.
    Channel,
}

impl GroupBy {
    /// The breakdowns by name, for error messages.
    pub const NAMES: &'static str = "category, department, site, engineer, priority or channel";

    /// Parses `category`, `department`, `site`, `engineer`, `priority` or `channel`.
    pub fn parse(text: &str) -> Option<GroupBy> {
        Some(match text {
            "category" => GroupBy::Category,
            "department" => GroupBy::Department,
            "site" => GroupBy::Site,
            "engineer" => GroupBy::Engineer,
            "priority" => GroupBy::Priority,
            "channel" => GroupBy::Channel,
            _ => return None,
        })
    }

    fn key(self, r: &Row) -> String {
        let t = &r.ticket;
        match self {
            GroupBy::Category => t.intake.category.clone(),
            GroupBy::Department => t.intake.department.to_string(),
            GroupBy::Site => t.intake.location.site.to_string(),
            GroupBy::Engineer => r.engineer.clone().unwrap_or_else(|| "-".into()),
            GroupBy::Priority => t.priority.as_str().to_owned(),
            GroupBy::Channel => t.intake.channel.as_str().to_owned(),
        }
    }
}

/// Mean and 90th percentile of a duration, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Times {
    /// How many tickets had one.
    pub count: usize,
    /// Mean, minutes.
    pub mean_minutes: Option<f64>,
    /// 90th percentile (nearest rank), minutes.
    pub p90_minutes: Option<f64>,
}

impl Times {
    fn of(mut spans: Vec<Duration>) -> Times {
        spans.sort();
        let count = spans.len();
        let minutes = |d: Duration| d.num_seconds() as f64 / 60.0;
        let mean = (count > 0).then(|| {
            spans.iter().map(|d| d.num_seconds()).sum::<i64>() as f64 / count as f64 / 60.0
        });
        // Nearest rank: the smallest value with at least 90 % of values at or below it.
        let p90 = (count > 0).then(|| minutes(spans[(count * 9).div_ceil(10) - 1]));
        Times {
            count,
            mean_minutes: mean,
            p90_minutes: p90,
        }
    }
}

/// Met and breached clocks of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Compliance {
    /// Stopped within their budget.
    pub met: usize,
    /// Breached (stopped or still running).
    pub breached: usize,
    /// met / (met + breached).
    pub rate: Option<f64>,
}

/// The figures for a set of tickets.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Figures {
    /// Tickets reported.
    pub tickets: usize,
    /// Report → accept.
    pub to_accept: Times,
    /// Accept → arrival on site.
    pub to_arrive: Times,
    /// Report → resolved.
    pub to_resolve: Times,
    /// Per SLA clock (response, on_site, resolution, progress, replacement).
    pub sla: BTreeMap<String, Compliance>,
    /// Tickets reopened at least once, of those resolved at least once.
    pub reopened: usize,
    /// reopened / resolved at least once.
    pub reopen_rate: Option<f64>,
    /// Closed on the reporter's confirmation.
    pub confirmed: usize,
    /// Closed because nobody confirmed in time.
    pub auto_closed: usize,
    /// Surveys sent.
    pub surveys_sent: usize,
    /// Surveys answered.
    pub surveys_answered: usize,
    /// answered / sent.
    pub response_rate: Option<f64>,
    /// Answers rated 4 or 5 without a complaint.
    pub satisfied: usize,
    /// Answers that say how the reporter felt: those with a rating or a complaint.
    pub judged: usize,
    /// satisfied / judged: a complaint, rated or not, is never "satisfied".
    pub satisfaction_rate: Option<f64>,
    /// Mean rating.
    pub average_rating: Option<f64>,
    /// Complaints filed.
    pub complaints: usize,
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Figures {
    /// Computes the figures for `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Figures {
        let rows: Vec<&Row> = rows.into_iter().collect();
        let span = |f: &dyn Fn(&Ticket) -> Option<Duration>| {
            Times::of(rows.iter().filter_map(|r| f(&r.ticket)).collect())
        };
        let mut sla = BTreeMap::new();
        for kind in ClockKind::ALL
            .iter()
            .filter(|k| **k != ClockKind::Confirmation)
        {
            let mut c = Compliance::default();
            for clock in rows
                .iter()
                .flat_map(|r| &r.clocks)
                .filter(|c| c.kind == *kind)
            {
                if clock.breaches > 0 {
                    c.breached += 1;
                } else if clock.status == ClockStatus::Met {
                    c.met += 1;
                }
            }
            c.rate = rate(c.met, c.met + c.breached);
            sla.insert(kind.as_str().to_owned(), c);
        }
        let resolved_once = rows
            .iter()
            .filter(|r| r.ticket.resolved_at.is_some() || r.ticket.reopen_count > 0)
            .count();
        let reopened = rows.iter().filter(|r| r.ticket.reopen_count > 0).count();
        let closure = |c: Closure| rows.iter().filter(|r| r.ticket.closure == Some(c)).count();
        let surveys: Vec<&(String, Option<i32>, bool)> =
            rows.iter().filter_map(|r| r.survey.as_ref()).collect();
        let sent = surveys
            .iter()
            .filter(|s| matches!(s.0.as_str(), "sent" | "answered" | "expired"))
            .count();
        let answered: Vec<_> = surveys.iter().filter(|s| s.0 == "answered").collect();
        let ratings: Vec<i32> = answered.iter().filter_map(|s| s.1).collect();
        // The contract's target is "≥ 95 % satisfied, zero complaints", and a contract
        // manager reads the rate as "of the users who told us, how many were satisfied".
        // A complaint is a user who was not: counting ratings only would let a complaint
        // without a rating drop out of the denominator (and a rated complaint count as
        // satisfied), so the rate could read 100 % beside a complaint.
        let judged = answered.iter().filter(|s| s.1.is_some() || s.2).count();
        let satisfied = answered
            .iter()
            .filter(|s| !s.2 && s.1.is_some_and(|r| r >= 4))
            .count();
        Figures {
            tickets: rows.len(),
            to_accept: span(&|t| Some(t.accepted_at? - t.created_at)),
            to_arrive: span(&|t| Some(t.arrived_at? - t.accepted_at?)),
            to_resolve: span(&|t| Some(t.resolved_at? - t.created_at)),
            sla,
            reopened,
            reopen_rate: rate(reopened, resolved_once),
            confirmed: closure(Closure::Confirmed),
            auto_closed: closure(Closure::AutoClosed),
            surveys_sent: sent,
            surveys_answered: answered.len(),
            response_rate: rate(answered.len(), sent),
            satisfied,
            judged,
            satisfaction_rate: rate(satisfied, judged),
            average_rating: (!ratings.is_empty())
                .then(|| ratings.iter().sum::<i32>() as f64 / ratings.len() as f64),
            complaints: surveys.iter().filter(|s| s.2).count(),
        }
    }
}

/// A device reported again and again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RepeatFault {
    /// Asset tag.
    pub asset_tag: String,
    /// Tickets in the 90 days before the period's end.
    pub tickets: i64,
}

/// A complaint filed on a ticket of the period, listed by name so none can hide in a rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ComplaintEntry {
    /// The ticket's number.
    pub number: String,
    /// The rating given with it, if any.
    pub rating: Option<i32>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Report {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// The breakdown used, if any.
    pub by: Option<GroupBy>,
    /// All tickets of the period.
    pub total: Figures,
    /// Per group, by key.
    pub groups: BTreeMap<String, Figures>,
    /// Devices with 3 or more tickets in the 90 days to the period's end.
    pub repeat_faults: Vec<RepeatFault>,
    /// Every complaint on the period's tickets (the contract's target is zero).
    pub complaint_list: Vec<ComplaintEntry>,
    /// The complaint records filed in the period (from any door, about a ticket or the
    /// service); set by the caller, since they are not rows of tickets.
    pub complaint_records: super::complaint::ComplaintFigures,
    /// The preventive inspections of periods starting in the range (plan 000: ≥ 90 % of
    /// the devices, twice a year); set by the caller. Reports archived before there were
    /// inspections read as having none.
    #[serde(default)]
    pub inspections: super::inspection::InspectionSection,
    /// The period day by day (a week a point past 31 days); set by the caller, who knows
    /// the calendar's zone (see [`trend`]). Reports archived before it read as empty.
    #[serde(default)]
    pub trend: Vec<TrendPoint>,
}

/// One point of a report's trend: the tickets of the period reported and resolved on
/// its days, and the surveys of the tickets reported on them (as [`Figures`] counts them).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrendPoint {
    /// The point's first day (local).
    pub start: chrono::NaiveDate,
    /// Its days.
    pub days: i64,
    /// Tickets reported on these days.
    pub opened: usize,
    /// Tickets of the period resolved on these days.
    pub resolved: usize,
    /// Surveys sent for the tickets reported on these days.
    pub surveys_sent: usize,
    /// Of those, answered.
    pub surveys_answered: usize,
    /// answered / sent.
    pub response_rate: Option<f64>,
    /// Mean rating of the answers.
    pub average_rating: Option<f64>,
    /// Satisfied of those who said how they felt (as [`Figures::satisfaction_rate`]).
    pub satisfaction_rate: Option<f64>,
}

/// A trend point covers a day while the period is at most this many days, else a week.
pub const DAILY_UP_TO: i64 = 31;

/// The trend of `rows` (the tickets reported in `[from, to)`): a point per local day in
/// `tz`, or per 7 days from the first when the period is longer than [`DAILY_UP_TO`]
/// days. Resolutions are counted on the day they happened, if within the period.
pub fn trend(
    rows: &[Row],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Vec<TrendPoint> {
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    if to <= from {
        return Vec::new();
    }
    let first = day(from);
    let last = day(to - Duration::seconds(1));
    let span = (last - first).num_days() + 1;
    let step = if span > DAILY_UP_TO { 7 } else { 1 };
    let points = usize::try_from((span + step - 1) / step).unwrap_or(0);
    let slot = |t: DateTime<Utc>| {
        (from <= t && t < to)
            .then(|| usize::try_from((day(t) - first).num_days() / step).ok())
            .flatten()
            .filter(|i| *i < points)
    };
    let mut opened: Vec<Vec<&Row>> = vec![Vec::new(); points];
    let mut resolved = vec![0; points];
    for r in rows {
        if let Some(i) = slot(r.ticket.created_at) {
            opened[i].push(r);
        }
        if let Some(i) = r.ticket.resolved_at.and_then(slot) {
            resolved[i] += 1;
        }
    }
    opened
        .into_iter()
        .zip(resolved)
        .enumerate()
        .map(|(i, (rows, resolved))| {
            let f = Figures::of(rows.iter().copied());
            let start = first + Duration::days(i64::try_from(i).unwrap_or(0) * step);
            TrendPoint {
                start,
                days: step.min((last - start).num_days() + 1),
                opened: f.tickets,
                resolved,
                surveys_sent: f.surveys_sent,
                surveys_answered: f.surveys_answered,
                response_rate: f.response_rate,
                average_rating: f.average_rating,
                satisfaction_rate: f.satisfaction_rate,
            }
        })
        .collect()
}

impl Report {
    /// Builds the report for tickets reported in `[from, to)`.
    pub fn build(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<GroupBy>,
        rows: &[Row],
        repeat_faults: Vec<RepeatFault>,
    ) -> Report {
        let mut grouped: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        if let Some(by) = by {
            for r in rows {
                grouped.entry(by.key(r)).or_default().push(r);
            }
        }
        Report {
            from,
            to,
            by,
            total: Figures::of(rows),
            groups: grouped
                .into_iter()
                .map(|(k, rs)| (k, Figures::of(rs)))
                .collect(),
            repeat_faults,
            complaint_list: rows
                .iter()
                .filter_map(|r| match &r.survey {
                    Some((_, rating, true)) => Some(ComplaintEntry {
                        number: r.ticket.number.as_str().to_owned(),
                        rating: *rating,
                    }),
                    _ => None,
                })
                .collect(),
            complaint_records: super::complaint::ComplaintFigures::default(),
            inspections: super::inspection::InspectionSection::default(),
            trend: Vec::new(),
        }
    }
}

/// A report period preset, as the contracts require them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// January–June or July–December.
    HalfYear,
    /// A calendar year.
    Year,
}

impl Period {
    /// Parses `week`, `month`, `quarter`, `half-year` or `year`.
    pub fn parse(text: &str) -> Option<Period> {
        Some(match text {
            "week" => Period::Week,
            "month" => Period::Month,
            "quarter" => Period::Quarter,
            "half-year" | "half_year" => Period::HalfYear,
            "year" => Period::Year,
            _ => return None,
        })
    }

    /// The name `parse` reads: `week`, `month`, `quarter`, `half-year` or `year`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::HalfYear => "half-year",
            Period::Year => "year",
        }
    }

    /// The last complete period before `today`: `[first day, day after the last)`.
    pub fn last_before(self, today: chrono::NaiveDate) -> (chrono::NaiveDate, chrono::NaiveDate) {
        use chrono::{Datelike, Months, NaiveDate};
        let months_start = |every: u32| {
            let m0 = (today.month0() / every) * every;
            NaiveDate::from_ymd_opt(today.year(), m0 + 1, 1).unwrap_or(today)
        };
        match self {
            Period::Week => {
                let this =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (this - Duration::days(7), this)
            }
            Period::Month | Period::Quarter | Period::HalfYear | Period::Year => {
                let every = match self {
                    Period::Month => 1,
                    Period::Quarter => 3,
                    Period::HalfYear => 6,
                    _ => 12,
                };
                let end = months_start(every);
                (
                    end.checked_sub_months(Months::new(every)).unwrap_or(end),
                    end,
                )
            }
        }
    }
}

/// The longest span a report covers, in days (from and to inclusive): a leap year.
pub const MAX_REPORT_DAYS: i64 = 366;
/// The years a report's dates may fall in: what the database's timestamps can hold, and
/// far from the calendar's limits, so no date arithmetic can overflow.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Why a report's period cannot be used (a sentence for the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Neither both dates nor a preset, or both.
    #[error("give either from and to (dates) or a period")]
    Shape,
    /// A date out of the years reports can cover.
    #[error("{0} is out of range: dates go from 1970-01-01 to 9999-12-31")]
    OutOfBounds(chrono::NaiveDate),
    /// The first day is after the last.
    #[error("the period must end after it starts: {from} is after {to}")]
    Backwards {
        /// First day asked for.
        from: chrono::NaiveDate,
        /// Last day asked for.
        to: chrono::NaiveDate,
    },
    /// Longer than [`MAX_REPORT_DAYS`].
    #[error("a report covers at most 366 days; {from} to {to} is {days} days")]
    TooLong {
        /// First day.
        from: chrono::NaiveDate,
        /// Last day.
        to: chrono::NaiveDate,
        /// Days from `from` to `to`, both included.
        days: i64,
    },
    /// A day that does not begin at midnight in the zone (cannot happen in zones without
    /// midnight transitions; named rather than guessed).
    #[error("{0} has no midnight in {1}")]
    NoMidnight(chrono::NaiveDate, chrono_tz::Tz),
}

/// The instants bounding a report, `[start of from, start of the day after to)` in `tz`:
/// local dates `from` to `to` inclusive, or the last complete `period` before `today`.
/// Refuses dates outside 1970–9999, `from` after `to`, and spans over 366 days, so any
/// query gives an answer and never an overflow.
pub fn report_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<Period>,
    today: chrono::NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<(DateTime<Utc>, DateTime<Utc>), RangeError> {
    use chrono::Datelike;
    let (first, last) = match (from, to, period) {
        (Some(f), Some(t), None) => (f, t),
        (None, None, Some(p)) => {
            let (first, after_last) = p.last_before(today);
            let last = after_last
                .pred_opt()
                .ok_or(RangeError::OutOfBounds(after_last))?;
            (first, last)
        }
        _ => return Err(RangeError::Shape),
    };
    for d in [first, last] {
        if !YEARS.contains(&d.year()) {
            return Err(RangeError::OutOfBounds(d));
        }
    }
    if first > last {
        return Err(RangeError::Backwards {
            from: first,
            to: last,
        });
    }
    let days = (last - first).num_days() + 1;
    if days > MAX_REPORT_DAYS {
        return Err(RangeError::TooLong {
            from: first,
            to: last,
            days,
        });
    }
    let after_last = last.succ_opt().ok_or(RangeError::OutOfBounds(last))?;
    let start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or(RangeError::NoMidnight(d, tz))
    };
    Ok((start(first)?, start(after_last)?))
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.1}", r * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// One CSV field. Group names are what reporters typed (departments, sites): a cell
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return would run as a formula in a
/// spreadsheet (`=HYPERLINK(…)`), so it gets a leading `'` — unless it is a plain number or
/// the `-` of a missing figure, which stay as they are. Then RFC 4180 quoting: a field with
/// a quote, comma or line break is quoted, its quotes doubled.
fn csv_field(cell: &str) -> String {
    let plain_number = !cell.is_empty()
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        && cell.parse::<f64>().is_ok_and(f64::is_finite);
    let formula =
        cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number && cell != "-";
    let cell = if formula {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if cell.contains(['"', ',', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// Column names of the table and CSV forms.
const COLUMNS: [&str; 21] = [
    "group",
    "tickets",
    "accept_mean_min",
    "accept_p90_min",
    "arrive_mean_min",
    "arrive_p90_min",
    "resolve_mean_min",
    "resolve_p90_min",
    "response_sla_pct",
    "on_site_sla_pct",
    "resolution_sla_pct",
    "progress_sla_pct",
    "replacement_sla_pct",
    "reopen_pct",
    "confirmed",
    "auto_closed",
    "surveys_sent",
    "survey_response_pct",
    "satisfied_pct",
    "avg_rating",
    "complaints",
];

/// The same columns' names for a Chinese reader (the CSV and .xlsx downloads of a
/// Chinese page), in the same order as [`COLUMNS`].
const COLUMNS_ZH: [&str; 21] = [
    "分组",
    "报修数",
    "平均受理时长（分钟）",
    "受理时长P90（分钟）",
    "平均到场时长（分钟）",
    "到场时长P90（分钟）",
    "平均解决时长（分钟）",
    "解决时长P90（分钟）",
    "响应时限达成率（%）",
    "到场时限达成率（%）",
    "解决时限达成率（%）",
    "进度更新时限达成率（%）",
    "备机时限达成率（%）",
    "重开率（%）",
    "确认关闭",
    "自动关闭",
    "回访发送数",
    "回访响应率（%）",
    "满意率（%）",
    "平均评分",
    "投诉",
];

/// The language of a download's header row (and its `total` row's name); the figures
/// and group names are the same in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    /// `group`, `tickets`, … (what scripts read: the CLI and `GET /api/reports`).
    English,
    /// `分组`, `报修数`, …
    Chinese,
}

/// A cell of the spreadsheet download.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A name: the header, a group.
    Text(String),
    /// A figure.
    Number(f64),
    /// A figure that has no value (no denominator): an empty cell.
    Empty,
}

impl Figures {
    fn cells(&self, group: &str) -> Vec<String> {
        let sla = |k: &str| pct(self.sla.get(k).and_then(|c| c.rate));
        vec![
            group.to_owned(),
            self.tickets.to_string(),
            num(self.to_accept.mean_minutes),
            num(self.to_accept.p90_minutes),
            num(self.to_arrive.mean_minutes),
            num(self.to_arrive.p90_minutes),
            num(self.to_resolve.mean_minutes),
            num(self.to_resolve.p90_minutes),
            sla("response"),
            sla("on_site"),
            sla("resolution"),
            sla("progress"),
            sla("replacement"),
            pct(self.reopen_rate),
            self.confirmed.to_string(),
            self.auto_closed.to_string(),
            self.surveys_sent.to_string(),
            pct(self.response_rate),
            pct(self.satisfaction_rate),
            num(self.average_rating),
            self.complaints.to_string(),
        ]
    }
}

impl Report {
    fn lines(&self) -> Vec<Vec<String>> {
        self.lines_in(Headers::English)
    }

    fn lines_in(&self, headers: Headers) -> Vec<Vec<String>> {
        let (columns, total) = match headers {
            Headers::English => (&COLUMNS, "total"),
            Headers::Chinese => (&COLUMNS_ZH, "合计"),
        };
        let mut lines = vec![columns.iter().map(|c| (*c).to_owned()).collect()];
        for (k, f) in &self.groups {
            lines.push(f.cells(k));
        }
        lines.push(self.total.cells(total));
        lines
    }

    /// The CSV's table as typed cells for a spreadsheet: the header row and the group
    /// column as text, every figure a number (a missing one empty).
    pub fn cells(&self, headers: Headers) -> Vec<Vec<Cell>> {
        self.lines_in(headers)
            .into_iter()
            .enumerate()
            .map(|(row, line)| {
                line.into_iter()
                    .enumerate()
                    .map(|(col, c)| {
                        if row == 0 || col == 0 {
                            Cell::Text(c)
                        } else {
                            c.parse::<f64>()
                                .ok()
                                .filter(|v| v.is_finite())
                                .map_or(Cell::Empty, Cell::Number)
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// CSV for spreadsheets: one row per group and a `total` row (repeat faults are in the
    /// JSON form). UTF-8 with a byte order mark, so Excel on Chinese Windows reads the
    /// Chinese; RFC 4180 records (CRLF) and quoting; and no cell can run as a formula
    /// (see [`csv_field`]).
    pub fn to_csv(&self) -> String {
        self.to_csv_in(Headers::English)
    }

    /// [`Report::to_csv`] with the header row in `headers`' language.
    pub fn to_csv_in(&self, headers: Headers) -> String {
        let mut out = String::from('\u{feff}');
        for line in self.lines_in(headers) {
            let fields: Vec<String> = line.iter().map(|c| csv_field(c)).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// A plain-text table (one column per figure), then the repeat faults.
    pub fn to_table(&self) -> String {
        let lines = self.lines();
        let widths: Vec<usize> = (0..COLUMNS.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("tickets reported {} – {}\n", self.from, self.to);
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}", w = *w))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str("complaints:");
        if self.complaint_list.is_empty() {
            out.push_str(" none\n");
        } else {
            out.push('\n');
            for c in &self.complaint_list {
                let rating = c
                    .rating
                    .map_or_else(|| "no rating".into(), |r| format!("rated {r}"));
                out.push_str(&format!("  {}  {rating}\n", c.number));
            }
        }
        let c = &self.complaint_records;
        out.push_str(&format!(
            "complaint records: {} received, {} answered in time, {} open\n",
            c.received, c.answered_in_time, c.open
        ));
        for (department, n) in &c.by_department {
            out.push_str(&format!("  {department}  {n}\n"));
        }
        let i = &self.inspections;
        out.push_str(&format!(
            "inspections: {} jobs, {} done ({} on time), {} met target, {}/{} units, {} faults\n",
            i.jobs,
            i.done,
            i.done_on_time,
            i.met_target,
            i.units_inspected,
            i.units_planned,
            i.faults
        ));
        for r in &i.rows {
            out.push_str(&format!(
                "  {}  {}  {}  {}/{} = {}% (target {}%)  {} faults\n",
                r.plan,
                r.period,
                r.status,
                r.completion.units_inspected,
                r.completion.units_planned,
                r.completion.rate_pct,
                r.completion.target_pct,
                r.faults
            ));
        }
        out.push_str("repeat faults (≥ 3 tickets in 90 days):");
        if self.repeat_faults.is_empty() {
            out.push_str(" none\n");
        } else {
            out.push('\n');
            for r in &self.repeat_faults {
                out.push_str(&format!("  {}  {}\n", r.asset_tag, r.tickets));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_last_complete_period() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let today = d(2026, 11, 22); // a Sunday
        assert_eq!(
            Period::Week.last_before(today),
            (d(2026, 11, 9), d(2026, 11, 16))
        );
        assert_eq!(
            Period::Month.last_before(today),
            (d(2026, 10, 1), d(2026, 11, 1))
        );
        assert_eq!(
            Period::Quarter.last_before(today),
            (d(2026, 7, 1), d(2026, 10, 1))
        );
        assert_eq!(
            Period::HalfYear.last_before(today),
            (d(2026, 1, 1), d(2026, 7, 1))
        );
        assert_eq!(
            Period::Year.last_before(today),
            (d(2025, 1, 1), d(2026, 1, 1))
        );
        assert_eq!(
            Period::Month.last_before(d(2026, 1, 5)),
            (d(2025, 12, 1), d(2026, 1, 1))
        );
        assert_eq!(Period::parse("half-year"), Some(Period::HalfYear));
        assert_eq!(Period::parse("fortnight"), None);
    }

    #[test]
    fn report_ranges_are_bounded() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        let today = d(2026, 11, 22);
        let range = |f, t| report_range(Some(f), Some(t), None, today, tz);
        let (start, end) = range(d(2024, 1, 1), d(2024, 12, 31)).unwrap();
        assert_eq!(start.to_rfc3339(), "2023-12-31T16:00:00+00:00");
        assert_eq!((end - start).num_days(), 366, "a leap year is the longest");
        assert!(matches!(
            range(d(2024, 1, 1), d(2025, 1, 1)),
            Err(RangeError::TooLong { days: 367, .. })
        ));
        assert!(matches!(
            range(d(2026, 2, 1), d(2026, 1, 1)),
            Err(RangeError::Backwards { .. })
        ));
        assert!(matches!(
            range(d(2026, 1, 1), chrono::NaiveDate::MAX),
            Err(RangeError::OutOfBounds(_))
        ));
        assert!(matches!(
            range(chrono::NaiveDate::MIN, chrono::NaiveDate::MIN),
            Err(RangeError::OutOfBounds(_))
        ));
        assert!(matches!(
            range(d(9999, 12, 31), d(9999, 12, 31)),
            Ok((s, e)) if (e - s).num_days() == 1
        ));
        assert_eq!(
            report_range(None, None, Some(Period::Year), today, tz)
                .map(|(s, e)| (e - s).num_days()),
            Ok(365)
        );
        assert_eq!(
            report_range(Some(today), None, None, today, tz),
            Err(RangeError::Shape)
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        for (cell, field) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("Sales, \"East\"", "\"Sales, \"\"East\"\"\""),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("two\nlines", "\"two\nlines\""),
            ("财务部", "财务部"),
            ("-12.5", "-12.5"),
            ("+3", "+3"),
            ("73.3", "73.3"),
            ("-", "-"),
            ("", ""),
        ] {
            assert_eq!(csv_field(cell), field, "{cell:?}");
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let m = |n: i64| Duration::minutes(n);
        let t = Times::of((1..=10).map(m).collect());
        assert_eq!(t.p90_minutes, Some(9.0));
        assert_eq!(t.mean_minutes, Some(5.5));
        let t = Times::of(vec![m(5)]);
        assert_eq!((t.p90_minutes, t.mean_minutes), (Some(5.0), Some(5.0)));
        let t = Times::of(Vec::new());
        assert_eq!((t.count, t.p90_minutes, t.mean_minutes), (0, None, None));
        let t = Times::of((1..=11).map(m).collect());
        assert_eq!(t.p90_minutes, Some(10.0), "ceil(0.9 × 11) = 10th value");
    }

    /// A closed ticket numbered `n` with a survey answered `rating` / `complaint`.
    fn surveyed(n: i64, rating: Option<i32>, complaint: bool) -> Row {
        use crate::domain::ticket::{Status, TicketNumber, tests::ticket_in};
        let mut ticket = ticket_in(Status::Closed);
        ticket.number = TicketNumber::new("BX", 2026, n);
        Row {
            ticket,
            clocks: Vec::new(),
            survey: Some(("answered".into(), rating, complaint)),
            engineer: None,
        }
    }

    #[test]
    fn a_complaint_is_never_satisfied_and_always_listed() {
        let rows = [
            surveyed(1, Some(5), false),
            surveyed(2, None, true),
            surveyed(3, Some(4), true),
            surveyed(4, Some(2), false),
        ];
        let f = Figures::of(&rows);
        assert_eq!((f.satisfied, f.judged, f.complaints), (1, 4, 2));
        assert_eq!(f.satisfaction_rate, Some(0.25));
        assert_eq!(f.average_rating, Some(11.0 / 3.0), "ratings only");
        // One happy answer beside a complaint without a rating: 50 %, not 100 %.
        let f = Figures::of(&rows[..2]);
        assert_eq!(f.satisfaction_rate, Some(0.5));
        let now = Utc::now();
        let report = Report::build(now, now, None, &rows, Vec::new());
        assert_eq!(
            report.complaint_list,
            vec![
                ComplaintEntry {
                    number: "BX-2026-000002".into(),
                    rating: None
                },
                ComplaintEntry {
                    number: "BX-2026-000003".into(),
                    rating: Some(4)
                },
            ]
        );
        let table = report.to_table();
        assert!(
            table.contains("complaints:\n  BX-2026-000002  no rating\n  BX-2026-000003  rated 4\n"),
            "{table}"
        );
        let calm = Report::build(now, now, None, &rows[..1], Vec::new());
        assert!(calm.to_table().contains("complaints: none\n"));
    }

    #[test]
    fn rates_are_absent_without_a_denominator() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
        let empty = Figures::of(&[]);
        assert_eq!(empty.tickets, 0);
        assert_eq!(empty.response_rate, None);
        assert_eq!(empty.sla["response"].rate, None);
    }

    #[test]
    fn the_trend_counts_each_local_day_or_week() {
        let tz = chrono_tz::Asia::Shanghai;
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let (from, to) = report_range(
            Some(d(2026, 11, 1)),
            Some(d(2026, 11, 3)),
            None,
            d(2026, 12, 1),
            tz,
        )
        .unwrap();
        // 23:30 on the 1st in Shanghai is still the 1st (15:30 UTC).
        let at = |day: u32, h: u32, m: u32| {
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, day, h, m, 0).unwrap()
        };
        let mut late = surveyed(1, Some(5), false);
        late.ticket.created_at = at(1, 15, 30);
        late.ticket.resolved_at = Some(at(2, 2, 0));
        let mut next = surveyed(2, Some(2), false);
        next.ticket.created_at = at(1, 16, 30); // 00:30 on the 2nd
        next.ticket.resolved_at = Some(at(30, 0, 0)); // after the period: not counted
        let mut quiet = surveyed(3, None, false);
        quiet.ticket.created_at = at(1, 17, 0);
        quiet.ticket.resolved_at = None;
        quiet.survey = Some(("sent".into(), None, false));
        let t = trend(&[late, next, quiet], from, to, tz);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.iter().map(|p| p.start).collect::<Vec<_>>(),
            vec![d(2026, 11, 1), d(2026, 11, 2), d(2026, 11, 3)]
        );
        assert_eq!(
            t.iter().map(|p| p.opened).collect::<Vec<_>>(),
            vec![1, 2, 0]
        );
        assert_eq!(
            t.iter().map(|p| p.resolved).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        assert_eq!(t[0].average_rating, Some(5.0));
        assert_eq!(
            t[1].average_rating,
            Some(2.0),
            "the unanswered survey has no rating"
        );
        assert_eq!(t[1].surveys_sent, 2);
        assert_eq!(t[1].response_rate, Some(0.5));
        assert_eq!(t[2].response_rate, None, "no surveys: no rate, not 0");
        assert!(t.iter().all(|p| p.days == 1));

        // Past 31 days, a point a week from the first day; the last may be shorter.
        let (from, to) = report_range(
            Some(d(2026, 1, 1)),
            Some(d(2026, 3, 31)),
            None,
            d(2026, 12, 1),
            tz,
        )
        .unwrap();
        let t = trend(&[], from, to, tz);
        assert_eq!(t.len(), 13, "90 days");
        assert_eq!(t[1].start, d(2026, 1, 8));
        assert_eq!(t[12].days, 6);
        assert!(t.iter().all(|p| p.opened == 0 && p.surveys_sent == 0));
        assert!(trend(&[], to, from, tz).is_empty());
    }
}
