//! `GET /api/reports`: the managers' statistics as JSON or CSV; `GET /api/follow-ups`:
//! the tickets to call the reporter about; `GET /api/audit/sign-ins`: the console's
//! sign-in audit events.

use axum::extract::{Query, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState, Authed};
use crate::desk::DeskError;
use crate::domain::report::GroupBy;

/// Query parameters: `from` and `to` (local dates, inclusive) or `period`; `by`; `format`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<String>,
    by: Option<String>,
    format: Option<String>,
}

/// How the report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// A report request as the query string gives it, every word checked.
#[derive(Debug)]
struct ReportRequest {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<String>,
    by: Option<GroupBy>,
    format: Format,
}

impl ReportRequest {
    /// Reads the query string of `uri`: a malformed query (a date that is not one, an
    /// unknown parameter) is a bad request; an unknown breakdown or format a bad value.
    fn parse(uri: &Uri) -> Result<ReportRequest, ApiError> {
        let Query(q) = Query::<ReportQuery>::try_from_uri(uri)
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let by = q
            .by
            .as_deref()
            .map(|b| {
                GroupBy::parse(b).ok_or_else(|| {
                    DeskError::BadValue(format!("unknown breakdown `{b}`; use {}", GroupBy::NAMES))
                })
            })
            .transpose()?;
        let format = match q.format.as_deref() {
            Some("csv") => Format::Csv,
            None | Some("json") => Format::Json,
            Some(other) => {
                return Err(DeskError::BadValue(format!(
                    "unknown format `{other}`; use json or csv"
                ))
                .into());
            }
        };
        Ok(ReportRequest {
            from: q.from,
            to: q.to,
            period: q.period,
            by,
            format,
        })
    }
}

/// The report for a period. Only managers may ask: anyone else is refused before the
/// query is even read, so nothing about it can matter to them.
pub async fn show(
    State(state): State<AppState>,
    Authed(caller): Authed,
    uri: Uri,
) -> Result<Response, ApiError> {
    state.desk.may_read_reports(&caller)?;
    let request = ReportRequest::parse(&uri)?;
    let (from, to) =
        state
            .desk
            .report_period(request.from, request.to, request.period.as_deref())?;
    let report = state.desk.report_for(&caller, from, to, request.by).await?;
    Ok(match request.format {
        Format::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response(),
        Format::Json => axum::Json(report).into_response(),
    })
}

/// `GET /api/follow-ups`: the resolved tickets whose reporter did not confirm in time, to
/// be called (managers only).
pub async fn follow_ups(
    State(state): State<AppState>,
    Authed(caller): Authed,
) -> Result<axum::Json<Vec<crate::domain::ticket::Ticket>>, ApiError> {
    Ok(axum::Json(state.desk.follow_ups(&caller).await?))
}

/// `GET /api/audit/sign-ins` query: `days` back (default 30), at most `limit` events
/// (default 200).
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    days: Option<u32>,
    limit: Option<u32>,
}

/// `GET /api/audit/sign-ins`: console sign-ins, failures, lockouts, sign-outs and
/// passwords set, newest first (managers only).
pub async fn sign_ins(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<SignInQuery>,
) -> Result<axum::Json<Vec<crate::desk::console::SignInEvent>>, ApiError> {
    Ok(axum::Json(
        state
            .desk
            .sign_in_events(&caller, q.days.unwrap_or(30), q.limit.unwrap_or(200))
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::report_period_on;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// Percent-encodes every byte that is not unreserved, so any text is a valid query.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// Dates as people and attackers write them: plausible, extreme, signed, malformed.
    fn date() -> impl Strategy<Value = String> {
        prop_oneof![
            (1900i32..2200, 1u32..=12, 1u32..=31)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
            (any::<i32>(), 0u32..=13, 0u32..=32).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
            (
                select(vec!["+", "-", "", "%2B", "%2D", " ", "0"]),
                9_999i32..=300_000,
                1u32..=12,
                1u32..=31
            )
                .prop_map(|(sign, y, m, d)| format!("{sign}{y}-{m:02}-{d:02}")),
            Just("+262142-12-31".to_owned()),
            Just("-262143-01-01".to_owned()),
            Just("262142-12-31".to_owned()),
            any::<String>().prop_map(|s| encode(&s)),
        ]
    }

    /// One `key=value` pair: the known keys with likely and unlikely values, and noise.
    fn pair() -> impl Strategy<Value = String> {
        prop_oneof![
            date().prop_map(|d| format!("from={d}")),
            date().prop_map(|d| format!("to={d}")),
            select(vec![
                "week",
                "month",
                "quarter",
                "half-year",
                "year",
                "fortnight",
                ""
            ])
            .prop_map(|p| format!("period={p}")),
            select(vec![
                "category",
                "department",
                "site",
                "engineer",
                "priority",
                "channel",
                "x"
            ])
            .prop_map(|b| format!("by={b}")),
            select(vec!["json", "csv", "xml", ""]).prop_map(|f| format!("format={f}")),
            (any::<String>(), any::<String>()).prop_map(|(k, v)| format!(
                "{}={}",
                encode(&k),
                encode(&v)
            )),
            "[a-z=&%+0-9-]{0,24}",
        ]
    }

    /// `from` and `to` near one another (around the limits of the range, or of the
    /// years allowed), with other pairs mixed in.
    fn range() -> impl Strategy<Value = String> {
        let base = prop_oneof![1960i32..2040, 9990i32..=9999, Just(1970), Just(262_142),];
        (
            base,
            1u32..=366,
            -3i64..400,
            proptest::collection::vec(pair(), 0..2),
        )
            .prop_map(|(year, ordinal, days, extra)| {
                let from =
                    chrono::NaiveDate::from_yo_opt(year, ordinal).unwrap_or(chrono::NaiveDate::MAX);
                let to = from
                    .checked_add_signed(chrono::Duration::days(days))
                    .unwrap_or(chrono::NaiveDate::MAX);
                let mut pairs = vec![
                    format!("from={}", encode(&from.to_string())),
                    format!("to={}", encode(&to.to_string())),
                ];
                pairs.extend(extra);
                pairs.join("&")
            })
    }

    /// A query string: well-formed pairs, or anything a URI can carry.
    fn query() -> impl Strategy<Value = String> {
        prop_oneof![
            range(),
            proptest::collection::vec(pair(), 0..6).prop_map(|p| p.join("&")),
            any::<String>(),
            "[ -~]{0,64}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::fuzz_cases(512),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// No query string panics the endpoint's parsing; whatever is accepted is a period
        /// that starts before it ends and spans at most 366 days (a day more or less for a
        /// zone's clock change).
        #[test]
        fn fuzz_report_queries(q in query()) {
            let Ok(uri) = format!("/api/reports?{q}").parse::<Uri>() else {
                // The server refuses such a request line before any handler runs.
                return Ok(());
            };
            let Ok(request) = ReportRequest::parse(&uri) else {
                return Ok(());
            };
            let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
            for tz in [chrono_tz::Asia::Shanghai, chrono_tz::America::Santiago, chrono_tz::Pacific::Kiritimati] {
                if let Ok((from, to)) =
                    report_period_on(today, tz, request.from, request.to, request.period.as_deref())
                {
                    prop_assert!(from < to, "{q}: {from} – {to}");
                    prop_assert!((to - from).num_hours() <= 367 * 24, "{q}: {from} – {to}");
                }
            }
        }
    }
}
