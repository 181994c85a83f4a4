//! Who is there to act on a report: the reporter's receipt says honestly what happens next,
//! and an unstaffed desk is visible (a warning at start-up, in `/readyz` and `/metrics`).

use chrono::Datelike;
use serde::Serialize;

use super::{Desk, DeskError, managers};
use crate::domain::routing::{Tier, offer_order};

/// The receipt for a new report: `ticket_received` when the group's engineers on duty were
/// offered the job; `ticket_received_no_engineer` when nobody is on duty but a manager (the
/// one on call, else every manager) was alerted; `ticket_received_unstaffed` when there is
/// nobody at all to tell.
pub fn receipt_event(engineer_on_duty: bool, someone_alerted: bool) -> &'static str {
    match (engineer_on_duty, someone_alerted) {
        (true, _) => "ticket_received",
        (false, true) => "ticket_received_no_engineer",
        (false, false) => "ticket_received_unstaffed",
    }
}

/// How the desk is staffed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staffing {
    /// First-line engineers on duty, all groups together.
    pub engineers_on_duty: usize,
    /// Groups (ids) whose reports no first-line engineer on duty would be offered.
    pub groups_unstaffed: Vec<String>,
    /// Managers (third line) on the roster.
    pub managers: usize,
    /// Engineers the on-call rota has on call now.
    pub on_call: usize,
}

impl Staffing {
    /// What is wrong, as sentences for a log or a monitoring page (none: fully staffed).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.groups_unstaffed.is_empty() {
            out.push(format!(
                "no engineer on duty for group(s) {}: their reports reach no engineer",
                self.groups_unstaffed.join(", ")
            ));
        }
        if self.managers == 0 && self.on_call == 0 {
            out.push(
                "no manager on the roster and nobody on call: alerts about unattended tickets reach no one"
                    .into(),
            );
        }
        out
    }
}

impl Desk {
    /// What is wrong with the SLA calendar now, as sentences: a working-hours calendar
    /// with no holiday in the current year counts public holidays as working days.
    pub fn calendar_warnings(&self) -> Vec<String> {
        let calendar = &self.policy.calendar;
        let year = self.now().with_timezone(&calendar.time_zone()).year();
        if calendar.lacks_holidays_in(year) {
            vec![format!(
                "the working-hours calendar has no holidays for {year}: SLA clocks count public holidays as working days; run `baoxiu calendar import FILE` with the official list"
            )]
        } else {
            Vec::new()
        }
    }

    /// How the desk is staffed now (engineers on duty per group, managers, on call).
    pub async fn staffing(&self) -> Result<Staffing, DeskError> {
        let roster = self.store.roster().await?;
        let engineers = &roster.engineers;
        let handles = self.policy.on_call.at(self.now());
        Ok(Staffing {
            engineers_on_duty: engineers
                .iter()
                .filter(|e| e.on_duty && e.tier == Tier::FirstLine)
                .count(),
            groups_unstaffed: self
                .policy
                .routing
                .groups()
                .iter()
                .filter(|g| offer_order(engineers, &g.id, Tier::FirstLine, |_| 0).is_empty())
                .map(|g| g.id.clone())
                .collect(),
            managers: managers(engineers).count(),
            on_call: engineers
                .iter()
                .filter(|e| handles.contains(&e.handle.as_str()))
                .count(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_says_who_was_told() {
        assert_eq!(receipt_event(true, true), "ticket_received");
        assert_eq!(receipt_event(true, false), "ticket_received");
        assert_eq!(receipt_event(false, true), "ticket_received_no_engineer");
        assert_eq!(receipt_event(false, false), "ticket_received_unstaffed");
    }

    #[test]
    fn an_unstaffed_desk_is_named() {
        let full = Staffing {
            engineers_on_duty: 3,
            groups_unstaffed: Vec::new(),
            managers: 1,
            on_call: 0,
        };
        assert!(full.warnings().is_empty());
        let empty = Staffing {
            engineers_on_duty: 0,
            groups_unstaffed: vec!["printer".into(), "network".into()],
            managers: 0,
            on_call: 0,
        };
        let w = empty.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("printer, network"), "{w:?}");
    }
}
