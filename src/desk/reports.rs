//! The managers' statistics over a period.

use chrono::{DateTime, Duration, Utc};

use super::{Desk, DeskError};
use crate::domain::report::{GroupBy, Period, RepeatFault, Report, Row, report_range, trend};
use crate::domain::ticket::{Caller, Ticket};

/// A device counts as a repeat fault with this many tickets in [`REPEAT_WINDOW`].
const REPEAT_AT_LEAST: i64 = 3;
/// The look-back for repeat faults, ending at the period's end.
const REPEAT_WINDOW: Duration = Duration::days(90);

/// A report's period on `today` in `tz`: an unknown preset is a bad value; dates out of
/// range, backwards or over 366 days are refused by [`report_range`].
pub fn report_period_on(
    today: chrono::NaiveDate,
    tz: chrono_tz::Tz,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), DeskError> {
    let period = period
        .map(|p| {
            Period::parse(p).ok_or_else(|| {
                DeskError::BadValue(format!(
                    "unknown period `{p}`; use week, month, quarter, half-year or year"
                ))
            })
        })
        .transpose()?;
    Ok(report_range(from, to, period, today, tz)?)
}

impl Desk {
    /// The instants bounding a report: local dates `from` to `to` inclusive in the SLA
    /// calendar's zone, or a preset period (the last complete one before today); see
    /// [`report_period_on`].
    pub fn report_period(
        &self,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        period: Option<&str>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), DeskError> {
        let tz = self.policy.calendar.time_zone();
        let today = self.now().with_timezone(&tz).date_naive();
        report_period_on(today, tz, from, to, period)
    }

    /// Refuses anyone but managers (and the desk) before they say what they want to see.
    pub fn may_read_reports(&self, caller: &Caller) -> Result<(), DeskError> {
        if caller.is_manager() {
            Ok(())
        } else {
            Err(DeskError::Forbidden(
                "only managers can read reports".into(),
            ))
        }
    }

    /// The managers' follow-up list: resolved tickets whose reporter did not confirm the
    /// fix in time (`[sla] unconfirmed = "follow_up"`), to be called; longest waiting
    /// first. A ticket leaves it when the reporter confirms or reopens. Managers only.
    pub async fn follow_ups(&self, caller: &Caller) -> Result<Vec<Ticket>, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can read the follow-up list".into(),
            ));
        }
        Ok(self.store.follow_ups().await?)
    }

    /// The report for tickets reported in `[from, to)`, optionally broken down. Managers only.
    pub async fn report_for(
        &self,
        caller: &Caller,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<GroupBy>,
    ) -> Result<Report, DeskError> {
        self.may_read_reports(caller)?;
        self.build_report(from, to, by).await
    }

    /// The report for tickets reported in `[from, to)`, for whoever may read it (the
    /// callers check; the archive job freezes it).
    pub(super) async fn build_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<GroupBy>,
    ) -> Result<Report, DeskError> {
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
        let mut report = Report::build(from, to, by, &rows, repeat_faults);
        report.trend = trend(&rows, from, to, self.policy.calendar.time_zone());
        report.complaint_records = self.complaint_figures(from, to).await?;
        report.inspections = self.inspection_section(from, to).await?;
        Ok(report)
    }
}
