//! The managers' statistics over a period.

use chrono::{DateTime, Duration, Utc};

use super::{Desk, DeskError};
use crate::domain::report::{GroupBy, Period, RepeatFault, Report, Row};
use crate::domain::ticket::Caller;

/// A device counts as a repeat fault with this many tickets in [`REPEAT_WINDOW`].
const REPEAT_AT_LEAST: i64 = 3;
/// The look-back for repeat faults, ending at the period's end.
const REPEAT_WINDOW: Duration = Duration::days(90);

impl Desk {
    /// The instants bounding a report: local dates `from` to `to` inclusive in the SLA
    /// calendar's zone, or a preset period (the last complete one before today).
    pub fn report_period(
        &self,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        period: Option<&str>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), DeskError> {
        let tz = self.policy.calendar.time_zone();
        let today = self.now().with_timezone(&tz).date_naive();
        let (first, after_last) = match (from, to, period) {
            (Some(f), Some(t), None) => (f, t + Duration::days(1)),
            (None, None, Some(p)) => Period::parse(p)
                .ok_or_else(|| {
                    DeskError::BadValue(format!(
                        "unknown period `{p}`; use week, month, quarter, half-year or year"
                    ))
                })?
                .last_before(today),
            _ => {
                return Err(DeskError::BadValue(
                    "give either --from and --to (dates) or --period".into(),
                ));
            }
        };
        let start = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(tz).earliest())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| DeskError::BadValue(format!("{d} has no midnight in {tz}")))
        };
        Ok((start(first)?, start(after_last)?))
    }

    /// The report for tickets reported in `[from, to)`, optionally broken down. Managers only.
    pub async fn report_for(
        &self,
        caller: &Caller,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<GroupBy>,
    ) -> Result<Report, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can read reports".into(),
            ));
        }
        if to <= from {
            return Err(DeskError::BadValue(
                "the period must end after it starts".into(),
            ));
        }
        let (rows, roster, repeats) = tokio::join!(
            self.store.report_rows(from, to),
            self.store.roster(),
            self.store
                .repeat_faults(to - REPEAT_WINDOW, to, REPEAT_AT_LEAST)
        );
        let roster = roster?;
        let rows: Vec<Row> = rows?
            .into_iter()
            .map(|(ticket, clocks, survey)| Row {
                engineer: ticket.assignee.and_then(|id| {
                    roster
                        .engineers
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| e.name.clone())
                }),
                survey: survey.map(|s| (s.status, s.rating, s.complaint)),
                ticket,
                clocks,
            })
            .collect();
        let repeat_faults = repeats?
            .into_iter()
            .map(|(asset_tag, tickets)| RepeatFault { asset_tag, tickets })
            .collect();
        Ok(Report::build(from, to, by, &rows, repeat_faults))
    }
}
