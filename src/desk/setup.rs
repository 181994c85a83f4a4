//! The setup in effect, as the managers' console shows it: groups and their categories,
//! working hours, holidays and make-up days, the on-call rota. All of it comes from
//! `baoxiu.toml` and the holidays directory and is read at start; this only reads it.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::{Desk, DeskError};
use crate::domain::routing::Group;
use crate::domain::ticket::Caller;

/// Days of working hours and on-call shifts shown ahead.
pub const DAYS_AHEAD: i64 = 14;

/// A group with the engineers in it (handles) and the categories routed to it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSetup {
    /// The configured group.
    pub group: Group,
    /// Handles of its engineers.
    pub members: Vec<String>,
}

/// One local day ahead: its working hours and who is on call when.
#[derive(Debug, Clone, Serialize)]
pub struct DaySetup {
    /// Local date.
    pub date: NaiveDate,
    /// Local minute ranges worked (none: a day off).
    pub hours: Vec<(u16, u16)>,
    /// Handles on call that day, each with their local minute ranges.
    pub on_call: Vec<(String, Vec<(u16, u16)>)>,
}

/// The setup in effect now.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Groups in configured order.
    pub groups: Vec<GroupSetup>,
    /// The SLA calendar's time zone.
    pub time_zone: String,
    /// SLA time runs 24×7.
    pub always: bool,
    /// This year and the next, each with its holidays and make-up days.
    pub years: Vec<(i32, Vec<NaiveDate>, Vec<NaiveDate>)>,
    /// Today and the days after it.
    pub days: Vec<DaySetup>,
    /// Handles on call at this instant.
    pub on_call_now: Vec<String>,
}

impl Desk {
    /// The groups, calendar and on-call rota in effect (managers only).
    pub async fn setup(&self, caller: &Caller) -> Result<Setup, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can read the setup".into(),
            ));
        }
        let engineers = self.store.engineers().await?;
        let groups = self
            .groups()
            .iter()
            .map(|g| GroupSetup {
                group: g.clone(),
                members: engineers
                    .iter()
                    .filter(|e| e.group == g.id)
                    .map(|e| e.handle.clone())
                    .collect(),
            })
            .collect();
        let now = self.now();
        let calendar = &self.policy.calendar;
        let today = now.with_timezone(&calendar.time_zone()).date_naive();
        let years = [today.year(), today.year() + 1]
            .into_iter()
            .map(|y| (y, calendar.holidays_in(y), calendar.workdays_in(y)))
            .collect();
        let days = (0..DAYS_AHEAD)
            .map(|n| {
                let date = today + Duration::days(n);
                DaySetup {
                    date,
                    hours: calendar.hours_on(date),
                    on_call: self
                        .policy
                        .on_call
                        .shifts()
                        .map(|(h, c)| (h.to_owned(), c.hours_on(date)))
                        .filter(|(_, hours)| !hours.is_empty())
                        .collect(),
                }
            })
            .collect();
        Ok(Setup {
            groups,
            time_zone: calendar.time_zone().name().to_owned(),
            always: calendar.is_always(),
            years,
            days,
            on_call_now: self
                .policy
                .on_call
                .at(now)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }
}
