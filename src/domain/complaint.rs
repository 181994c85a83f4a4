//! Complaints as records: who owns one, how its status may move, what `/complain` was
//! given, and the complaint figures of a report. Plan 004 counts any user complaint as
//! urgent (answered within 8 hours); plan 002's target is zero complaints.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::routing::{Engineer, Tier};
use super::ticket::TicketNumber;

text_enum! {
    /// Where a complaint stands.
    ComplaintStatus {
        /// Filed; the owner has not told the complainant the outcome yet.
        Open = "open",
        /// The outcome was told to the complainant.
        Answered = "answered",
        /// Finished (answered, and nothing more to do).
        Closed = "closed",
    }
}

/// Why a complaint's status cannot move as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ComplaintError {
    /// Only an open complaint is answered, and only to `answered` or `closed`; an
    /// answered one may still be closed.
    #[error("a complaint that is {from} cannot become {to}")]
    Transition {
        /// Its status now.
        from: ComplaintStatus,
        /// The status asked for.
        to: ComplaintStatus,
    },
}

impl ComplaintStatus {
    /// The status an answer moves a complaint to, if it may.
    pub fn answer(self, to: ComplaintStatus) -> Result<ComplaintStatus, ComplaintError> {
        use ComplaintStatus::{Answered, Closed, Open};
        match (self, to) {
            (Open, Answered | Closed) | (Answered, Closed) => Ok(to),
            (from, to) => Err(ComplaintError::Transition { from, to }),
        }
    }
}

/// Who owns a complaint filed while `on_call` (handles, in rota order) are on call: the
/// first of them who is an engineer of the desk, else the first manager, else nobody.
pub fn owner<'a>(on_call: &[&str], engineers: &'a [Engineer]) -> Option<&'a Engineer> {
    on_call
        .iter()
        .find_map(|h| engineers.iter().find(|e| e.handle == *h))
        .or_else(|| engineers.iter().find(|e| e.tier == Tier::Manager))
}

/// What `/complain` was given: an optional ticket number first, then the complaint's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplainArgs {
    /// The ticket it is about, when the first word is a ticket number.
    pub ticket: Option<TicketNumber>,
    /// The complaint's text, when there is any.
    pub text: Option<String>,
}

impl ComplainArgs {
    /// Splits `/complain`'s arguments: `BX-2026-000123 text…`, `text…`, a number alone,
    /// or nothing.
    pub fn parse(args: &str) -> ComplainArgs {
        let args = args.trim();
        let (first, rest) = args
            .split_once(char::is_whitespace)
            .map_or((args, ""), |(f, r)| (f, r.trim()));
        let text = |t: &str| (!t.is_empty()).then(|| t.to_owned());
        match TicketNumber::parse(first) {
            Some(number) => ComplainArgs {
                ticket: Some(number),
                text: text(rest),
            },
            None => ComplainArgs {
                ticket: None,
                text: text(args),
            },
        }
    }
}

/// One complaint as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintFact {
    /// Filed at.
    pub created_at: DateTime<Utc>,
    /// The outcome told at (answered or closed).
    pub answered_at: Option<DateTime<Utc>>,
    /// Status now.
    pub status: ComplaintStatus,
    /// The complainant's department (`-` when unknown).
    pub department: String,
}

/// Complaint figures for a period, beside the satisfaction figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ComplaintFigures {
    /// Complaints received.
    pub received: usize,
    /// Of them, answered within the response target (`[complaints] respond_within`).
    pub answered_in_time: usize,
    /// Of them, still open.
    pub open: usize,
    /// Received, by the complainant's department.
    pub by_department: BTreeMap<String, usize>,
}

impl ComplaintFigures {
    /// The figures of the complaints received in a period, with `respond_within` the
    /// response target.
    pub fn of(facts: &[ComplaintFact], respond_within: Duration) -> ComplaintFigures {
        let mut f = ComplaintFigures {
            received: facts.len(),
            ..ComplaintFigures::default()
        };
        for c in facts {
            if c.answered_at
                .is_some_and(|a| a - c.created_at <= respond_within)
            {
                f.answered_in_time += 1;
            }
            if c.status == ComplaintStatus::Open {
                f.open += 1;
            }
            *f.by_department.entry(c.department.clone()).or_default() += 1;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::EngineerId;

    fn engineer(id: i64, handle: &str, tier: Tier) -> Engineer {
        Engineer {
            id: EngineerId(id),
            handle: handle.into(),
            name: handle.into(),
            group: "desktop".into(),
            tier,
            on_duty: true,
            telegram_id: None,
            discord_id: None,
            web_id: None,
            wecom_id: None,
        }
    }

    #[test]
    fn the_owner_is_who_is_on_call_else_the_first_manager() {
        let staff = [
            engineer(1, "alice", Tier::FirstLine),
            engineer(2, "mia", Tier::Manager),
            engineer(3, "zhou", Tier::Manager),
        ];
        assert_eq!(owner(&["zhou"], &staff).map(|e| e.id), Some(EngineerId(3)));
        assert_eq!(
            owner(&["gone", "zhou"], &staff).map(|e| e.id),
            Some(EngineerId(3)),
            "a handle not on the desk is passed over"
        );
        assert_eq!(owner(&[], &staff).map(|e| e.id), Some(EngineerId(2)));
        assert_eq!(owner(&["gone"], &staff[..1]), None, "no manager at all");
    }

    #[test]
    fn only_open_complaints_are_answered_and_answered_ones_closed() {
        use ComplaintStatus::{Answered, Closed, Open};
        for from in ComplaintStatus::ALL {
            for to in ComplaintStatus::ALL {
                let allowed = matches!(
                    (from, to),
                    (Open, Answered) | (Open, Closed) | (Answered, Closed)
                );
                assert_eq!(from.answer(*to).is_ok(), allowed, "{from} → {to}");
            }
        }
    }

    #[test]
    fn complain_arguments_split_into_ticket_and_text() {
        let n = |s| TicketNumber::parse(s);
        assert_eq!(ComplainArgs::parse(""), ComplainArgs::default());
        assert_eq!(
            ComplainArgs::parse(" bx-2026-000123  修了三次还坏 "),
            ComplainArgs {
                ticket: n("BX-2026-000123"),
                text: Some("修了三次还坏".into()),
            }
        );
        assert_eq!(
            ComplainArgs::parse("BX-2026-000123"),
            ComplainArgs {
                ticket: n("BX-2026-000123"),
                text: None,
            }
        );
        assert_eq!(
            ComplainArgs::parse("服务 太慢"),
            ComplainArgs {
                ticket: None,
                text: Some("服务 太慢".into()),
            }
        );
    }

    #[test]
    fn figures_count_received_answered_in_time_open_and_departments() {
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap();
        let fact = |answered: Option<u32>, status, dept: &str| ComplaintFact {
            created_at: at(1),
            answered_at: answered.map(at),
            status,
            department: dept.into(),
        };
        let facts = [
            fact(Some(9), ComplaintStatus::Answered, "财务部"), // exactly 8 h: in time
            fact(Some(10), ComplaintStatus::Closed, "财务部"),  // 9 h: late
            fact(None, ComplaintStatus::Open, "-"),
        ];
        let f = ComplaintFigures::of(&facts, Duration::hours(8));
        assert_eq!(f.received, 3);
        assert_eq!(f.answered_in_time, 1);
        assert_eq!(f.open, 1);
        assert_eq!(
            f.by_department,
            BTreeMap::from([("-".into(), 1), ("财务部".into(), 2)])
        );
        assert_eq!(ComplaintFigures::of(&[], Duration::hours(8)).received, 0);
    }
}
