//! The rules the desk works by, built from a checked configuration (`Config::policy`).

use crate::domain::calendar::Calendar;
use crate::domain::priority::PriorityMatrix;
use crate::domain::routing::Routing;
use crate::domain::sla::{EscalationPolicy, SlaPolicy};

/// The rules built from a valid configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Ticket number prefix.
    pub ticket_prefix: String,
    /// SLA calendar.
    pub calendar: Calendar,
    /// Wall-clock time in the SLA calendar's zone (timers that are not SLA clocks).
    pub wall: Calendar,
    /// Priority matrix.
    pub matrix: PriorityMatrix,
    /// SLA targets.
    pub sla: SlaPolicy,
    /// Warnings and escalation chains.
    pub escalation: EscalationPolicy,
    /// When managers may be notified about tickets below P1.
    pub manager_hours: Calendar,
    /// Who is on call for messages that mean nobody is working a ticket.
    pub on_call: crate::domain::on_call::OnCall,
    /// Category → group.
    pub routing: Routing,
    /// Satisfaction surveys.
    pub survey: SurveyPolicy,
    /// Outbox delivery retries.
    pub retry: super::RetryPolicy,
    /// The web chat's invitations.
    pub web: super::WebPolicy,
    /// How long delivered messages, chat updates and closed tickets' photos are kept.
    pub retention: super::RetentionPolicy,
    /// How long after filing a complaint's outcome is due (`[complaints] respond_within`).
    pub complaint_response: chrono::Duration,
    /// The staff directory's and the asset register's rules (`[intake]`, `[assets]`).
    pub registers: super::RegistersPolicy,
}

/// Which day a closed ticket's survey goes out (`[survey] day`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyDay {
    /// The calendar day after the fault was resolved (plan 002: "the day after the fault
    /// is cleared"), whatever day of the week; at once if the ticket closes later.
    #[default]
    AfterResolution,
    /// The first working day of the office calendar (`manager_hours`) after the closure.
    NextWorkingDay,
}

/// Survey rules, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyPolicy {
    /// Which day it is sent.
    pub day: SurveyDay,
    /// Local minute of the day to send at.
    pub minute_of_day: u16,
    /// Share surveyed.
    pub sample_rate: f64,
    /// Validity.
    pub valid_for: chrono::Duration,
}

impl SurveyPolicy {
    /// When the survey of a ticket resolved at `resolved` and closed at `closed` is sent:
    /// `wall` is the customer's 24×7 calendar, `office` the managers' working days. Never
    /// before the closure (a survey is about a closed ticket).
    pub fn send_at(
        &self,
        wall: &Calendar,
        office: &Calendar,
        resolved: chrono::DateTime<chrono::Utc>,
        closed: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        match self.day {
            SurveyDay::AfterResolution => wall
                .next_working_day_at(resolved, self.minute_of_day)
                .max(closed),
            SurveyDay::NextWorkingDay => office.next_working_day_at(closed, self.minute_of_day),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::domain::calendar::CalendarConfig;

    fn local(month: u32, d: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, month, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn policy(day: SurveyDay) -> SurveyPolicy {
        SurveyPolicy {
            day,
            minute_of_day: 10 * 60,
            sample_rate: 1.0,
            valid_for: chrono::Duration::days(7),
        }
    }

    #[test]
    fn the_survey_day_follows_the_resolution_or_the_office_week() {
        let wall = Calendar::always(chrono_tz::Asia::Shanghai);
        let office = CalendarConfig {
            kind: crate::domain::calendar::CalendarKind::WorkingHours,
            holidays: vec![NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()],
            ..CalendarConfig::default()
        }
        .build()
        .unwrap();
        let after = policy(SurveyDay::AfterResolution);
        let working = policy(SurveyDay::NextWorkingDay);
        // Resolved and confirmed Friday evening: Saturday 10:00, or Tuesday (Monday is a holiday).
        let friday = local(11, 27, 18, 0);
        assert_eq!(
            after.send_at(&wall, &office, friday, friday),
            local(11, 28, 10, 0)
        );
        assert_eq!(
            working.send_at(&wall, &office, friday, friday),
            local(12, 1, 10, 0)
        );
        // Resolved Monday, confirmed only on Wednesday: sent at the closure, not before it.
        let (resolved, closed) = (local(11, 23, 11, 0), local(11, 25, 15, 0));
        assert_eq!(after.send_at(&wall, &office, resolved, closed), closed);
        assert_eq!(
            working.send_at(&wall, &office, resolved, closed),
            local(11, 26, 10, 0)
        );
        // Resolved Monday 09:00, confirmed at once: Tuesday 10:00 either way.
        let monday = local(11, 23, 9, 0);
        assert_eq!(
            after.send_at(&wall, &office, monday, monday),
            local(11, 24, 10, 0)
        );
        assert_eq!(
            working.send_at(&wall, &office, monday, monday),
            local(11, 24, 10, 0)
        );
    }
}
