//! Archived periodic reports: at the end of each week, month, quarter, half-year and year
//! (in the desk's time zone) the report of that period is frozen once, by the scheduler;
//! managers list and download them.

use chrono::NaiveDate;

use super::{Desk, DeskError};
use crate::domain::archive::{MonthFigures, Snapshot, complete_on, months};
use crate::domain::report::{Period, report_range};
use crate::domain::ticket::Caller;
use crate::store::{ArchiveEntry, NewArchive, StoreError};

impl Desk {
    /// Today in the desk's time zone (the SLA calendar's).
    pub fn local_today(&self) -> NaiveDate {
        let tz = self.policy.calendar.time_zone();
        self.now().with_timezone(&tz).date_naive()
    }

    /// Freezes the report of every period complete by today that is not archived yet
    /// (once, however many instances race); how many were frozen now.
    pub async fn archive_reports(&self) -> Result<u32, DeskError> {
        let tz = self.policy.calendar.time_zone();
        let today = self.local_today();
        let mut frozen = 0;
        for (kind, first, end) in complete_on(today) {
            let kind_name = kind.as_str();
            if self.store.archived(kind_name, &first.to_string()).await? {
                continue;
            }
            let last = end.pred_opt().unwrap_or(first);
            let (from, to) = report_range(Some(first), Some(last), None, today, tz)?;
            let report = self.build_report(from, to, None).await?;
            let mut trend = Vec::new();
            if kind != Period::Month && kind != Period::Week {
                for (month, a, b) in months(first, end) {
                    let b = b.pred_opt().unwrap_or(a);
                    let (from, to) = report_range(Some(a), Some(b), None, today, tz)?;
                    trend.push(MonthFigures {
                        month,
                        figures: self.build_report(from, to, None).await?.total,
                    });
                }
            }
            let snapshot = Snapshot {
                kind: kind_name.to_owned(),
                first_day: first,
                last_day: last,
                report,
                months: trend,
            };
            let report = serde_json::to_string(&snapshot)
                .map_err(|e| DeskError::Store(StoreError::Corrupt(e.to_string())))?;
            let new = NewArchive {
                kind: kind_name.to_owned(),
                first_day: first.to_string(),
                last_day: last.to_string(),
                generated_at: self.now(),
                report,
            };
            if self.store.archive_report(&new).await? {
                frozen += 1;
            }
        }
        Ok(frozen)
    }

    /// The archived reports, newest period first (managers only).
    pub async fn report_archive(&self, caller: &Caller) -> Result<Vec<ArchiveEntry>, DeskError> {
        self.may_read_reports(caller)?;
        Ok(self.store.archive_list().await?)
    }

    /// One archived report, as frozen (managers only).
    pub async fn archived_report(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<(ArchiveEntry, Snapshot), DeskError> {
        self.may_read_reports(caller)?;
        let (entry, json) = self
            .store
            .archived_report(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("archived report {id}")))?;
        let snapshot = serde_json::from_str(&json).map_err(|e| {
            DeskError::Store(StoreError::Corrupt(format!("archived report {id}: {e}")))
        })?;
        Ok((entry, snapshot))
    }
}
