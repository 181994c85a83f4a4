//! The managers' on-call rota (`[managers] on_call`) and which manager messages mean that
//! nobody is working a ticket. Hotline and call-out are 7 × 24 (DOMAIN.md): such messages
//! are never held for office hours, and go to whoever is on call at that hour.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, CalendarConfig, CalendarError, CalendarKind, WeekHours};
use super::ticket::{Caller, Ticket};

/// One person's place on the rota, in the config file:
/// `{ handle = "zhou", hours = { mon = ["00:00-08:30", "17:30-24:00"], sat = ["00:00-24:00"] } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// The engineer's handle (normally a manager).
    pub handle: String,
    /// When they are on call, by weekday: local `HH:MM-HH:MM` ranges as in `[calendar]`
    /// (a night shift is split over two days).
    pub hours: WeekHours,
}

/// The checked rota: who is on call at any instant.
#[derive(Debug, Clone, Default)]
pub struct OnCall {
    shifts: Vec<(String, Calendar)>,
}

impl OnCall {
    /// Checks the shifts' hours (as a calendar's) in time zone `time_zone`.
    pub fn build(shifts: &[Shift], time_zone: &str) -> Result<OnCall, CalendarError> {
        let shifts = shifts
            .iter()
            .map(|s| {
                let calendar = CalendarConfig {
                    kind: CalendarKind::WorkingHours,
                    time_zone: time_zone.to_owned(),
                    hours: Some(s.hours.clone()),
                    ..CalendarConfig::default()
                }
                .build()?;
                Ok((s.handle.clone(), calendar))
            })
            .collect::<Result<_, CalendarError>>()?;
        Ok(OnCall { shifts })
    }

    /// The handles on call at `t`, in rota order (none: nobody is, or there is no rota).
    pub fn at(&self, t: DateTime<Utc>) -> Vec<&str> {
        self.shifts
            .iter()
            .filter(|(_, c)| c.is_working(t))
            .map(|(h, _)| h.as_str())
            .collect()
    }

    /// The rota's shifts in order: each handle with the calendar of its hours.
    pub fn shifts(&self) -> impl Iterator<Item = (&str, &Calendar)> {
        self.shifts.iter().map(|(h, c)| (h.as_str(), c))
    }

    /// Whether anyone is on the rota at all.
    pub fn is_empty(&self) -> bool {
        self.shifts.is_empty()
    }
}

/// Whether a message `event` about ticket `t` (as it is after the change), caused by
/// `caller`, means nobody is working the ticket: no engineer on duty to offer it to, or an
/// SLA clock's event (a breach, an escalation, a reminder) on an open ticket no one is
/// assigned to. Such messages are never held for the managers' hours. What people do
/// (an expert escalating to the managers) keeps the quiet hours.
pub fn nobody_working(t: &Ticket, event: &str, caller: &Caller) -> bool {
    event == "no_engineer_on_duty"
        || (*caller == Caller::System && t.assignee.is_none() && !t.status.is_final())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::EngineerId;
    use crate::domain::ticket::Status;
    use crate::domain::ticket::tests::ticket_in;

    fn local(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn shift(handle: &str, hours: &str) -> Shift {
        toml::from_str(&format!("handle = \"{handle}\"\nhours = {hours}")).unwrap()
    }

    #[test]
    fn the_rota_says_who_is_on_call_by_weekday_and_hour() {
        let rota = OnCall::build(
            &[
                shift("mia", r#"{ mon = ["08:30-17:30"], tue = ["08:30-17:30"] }"#),
                shift(
                    "zhou",
                    r#"{ mon = ["00:00-08:30", "17:30-24:00"], tue = ["00:00-08:30"], sun = ["00:00-24:00"] }"#,
                ),
            ],
            "Asia/Shanghai",
        )
        .unwrap();
        // 2026-11-23 is a Monday.
        assert_eq!(rota.at(local(23, 3, 0)), ["zhou"]);
        assert_eq!(rota.at(local(23, 8, 30)), ["mia"]);
        assert_eq!(rota.at(local(23, 17, 29)), ["mia"]);
        assert_eq!(rota.at(local(23, 22, 0)), ["zhou"], "Monday night");
        assert_eq!(rota.at(local(24, 8, 29)), ["zhou"], "into Tuesday morning");
        assert_eq!(rota.at(local(25, 22, 0)), Vec::<&str>::new(), "a gap");
        assert_eq!(rota.at(local(29, 12, 0)), ["zhou"], "Sunday");
        assert!(!rota.is_empty());
        assert!(OnCall::default().at(local(23, 3, 0)).is_empty());
        let bad = OnCall::build(
            &[shift("x", r#"{ mon = ["22:00-06:00"] }"#)],
            "Asia/Shanghai",
        );
        assert!(bad.is_err(), "a range past midnight is split over two days");
    }

    #[test]
    fn only_messages_that_mean_nobody_is_working_the_ticket_count() {
        use crate::domain::routing::{Engineer, Tier};
        let expert = Caller::Engineer(Engineer {
            id: EngineerId(3),
            handle: "carol".into(),
            name: "carol".into(),
            group: "printer".into(),
            tier: Tier::Expert,
            on_duty: true,
            telegram_id: None,
            discord_id: None,
            web_id: None,
            wecom_id: None,
        });
        let callers = [
            Caller::System,
            expert,
            Caller::Desk {
                name: "desk".into(),
            },
        ];
        for status in Status::ALL {
            let mut t = ticket_in(*status);
            for assignee in [None, Some(EngineerId(1))] {
                t.assignee = assignee;
                for caller in &callers {
                    assert!(nobody_working(&t, "no_engineer_on_duty", caller));
                    for event in [
                        "sla_breached",
                        "sla_escalated",
                        "ticket_escalated_to_managers",
                    ] {
                        let want =
                            *caller == Caller::System && assignee.is_none() && !status.is_final();
                        assert_eq!(
                            nobody_working(&t, event, caller),
                            want,
                            "{event} on {status:?}, {assignee:?}, by {caller:?}"
                        );
                    }
                }
            }
        }
    }
}
