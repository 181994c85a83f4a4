//! Priority from impact × urgency (ITIL-style matrix, configurable), with the contracts'
//! rule that a VIP's outage is always top priority.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::intake::TicketKind;

/// How many people the fault affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Everyone (all desktops, a whole site or a core system).
    Everyone,
    /// Part of the users (a floor, a department, a shared printer).
    Some,
    /// One person.
    One,
}

/// How badly work is held up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Work has stopped.
    High,
    /// Work is degraded.
    Medium,
    /// Work goes on (the contract's "does not stop work": still a fault with a clock).
    Low,
}

/// Ticket priority; P1 is the contracts' level 1 / "critical".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Level 1: respond in 10 minutes, resolve in 4 hours.
    P1,
    /// Level 2: respond in 30 minutes, resolve in 8 hours.
    P2,
    /// Level 3: respond in 2 hours, resolve in 12 hours.
    P3,
    /// Requests and consultations: scheduled, no clock.
    P4,
}

impl Priority {
    /// All priorities, highest first.
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    /// Stable text form (`P1` …), used in storage and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown priority `{s}` (expected P1, P2, P3 or P4)"))
    }
}

/// Rows: impact (everyone, some, one); columns: urgency (high, medium, low).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityMatrix {
    /// Priorities when everyone is affected, by urgency high, medium, low.
    pub everyone: [Priority; 3],
    /// … when part of the users are affected.
    pub some: [Priority; 3],
    /// … when one person is affected.
    pub one: [Priority; 3],
}

impl Default for PriorityMatrix {
    /// DOMAIN.md: level 1 = all desktops down or badly degraded; level 2 = part of the users
    /// down; level 3 = one user down, or "non-functional issues for everyone" (plan 000), and
    /// plan 004's "normal — does not stop work: 12 hours". A fault always has a clock: P4
    /// (no clock) is for requests and consultations only.
    fn default() -> Self {
        use Priority::*;
        Self {
            everyone: [P1, P1, P3],
            some: [P2, P2, P3],
            one: [P3, P3, P3],
        }
    }
}

impl PriorityMatrix {
    /// The priority of a new ticket.
    pub fn priority(
        &self,
        kind: TicketKind,
        impact: Impact,
        urgency: Urgency,
        vip: bool,
    ) -> Priority {
        if kind == TicketKind::Consultation {
            return Priority::P4;
        }
        if vip {
            return Priority::P1;
        }
        let row = match impact {
            Impact::Everyone => &self.everyone,
            Impact::Some => &self.some,
            Impact::One => &self.one,
        };
        row[match urgency {
            Urgency::High => 0,
            Urgency::Medium => 1,
            Urgency::Low => 2,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPACTS: [Impact; 3] = [Impact::Everyone, Impact::Some, Impact::One];
    const URGENCIES: [Urgency; 3] = [Urgency::High, Urgency::Medium, Urgency::Low];

    /// The contract's table, written out cell by cell (DOMAIN.md): plan 000's levels 1–3
    /// and plan 004's "normal — does not stop work: 12 hours" (level 3, never "no clock").
    fn contract_level(kind: TicketKind, impact: Impact, urgency: Urgency, vip: bool) -> Priority {
        use Impact::*;
        use Urgency::*;
        match (kind, vip, impact, urgency) {
            // Requests and consultations are scheduled: the only P4.
            (TicketKind::Consultation, _, _, _) => Priority::P4,
            // Level 1: a VIP's desktop; all desktops unusable or badly degraded.
            (TicketKind::Fault, true, _, _) => Priority::P1,
            (TicketKind::Fault, false, Everyone, High | Medium) => Priority::P1,
            // Level 2: desktops unusable (or degraded) for part of the users.
            (TicketKind::Fault, false, Some, High | Medium) => Priority::P2,
            // Level 3: one user's desktop unusable; non-functional issues for everyone; any
            // fault that does not stop work.
            (TicketKind::Fault, false, One, _) | (TicketKind::Fault, false, _, Low) => Priority::P3,
        }
    }

    #[test]
    fn default_matrix_matches_the_contract_table_in_every_cell() {
        let m = PriorityMatrix::default();
        for kind in [TicketKind::Fault, TicketKind::Consultation] {
            for i in IMPACTS {
                for u in URGENCIES {
                    for vip in [false, true] {
                        assert_eq!(
                            m.priority(kind, i, u, vip),
                            contract_level(kind, i, u, vip),
                            "{kind:?}, impact {i:?}, urgency {u:?}, vip {vip}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_fault_always_has_a_clock_by_default() {
        let m = PriorityMatrix::default();
        for i in IMPACTS {
            for u in URGENCIES {
                for vip in [false, true] {
                    assert_ne!(m.priority(TicketKind::Fault, i, u, vip), Priority::P4);
                }
            }
        }
    }

    #[test]
    fn vip_fault_is_always_p1_and_consultations_never_have_a_clock() {
        let m = PriorityMatrix::default();
        for i in IMPACTS {
            for u in URGENCIES {
                assert_eq!(m.priority(TicketKind::Fault, i, u, true), Priority::P1);
                for vip in [false, true] {
                    assert_eq!(
                        m.priority(TicketKind::Consultation, i, u, vip),
                        Priority::P4
                    );
                }
            }
        }
    }

    #[test]
    fn more_impact_or_urgency_never_lowers_priority() {
        let m = PriorityMatrix::default();
        for (a, b) in IMPACTS.iter().zip(IMPACTS.iter().skip(1)) {
            for u in URGENCIES {
                assert!(
                    m.priority(TicketKind::Fault, *a, u, false)
                        <= m.priority(TicketKind::Fault, *b, u, false)
                );
            }
        }
        for i in IMPACTS {
            for (a, b) in URGENCIES.iter().zip(URGENCIES.iter().skip(1)) {
                assert!(
                    m.priority(TicketKind::Fault, i, *a, false)
                        <= m.priority(TicketKind::Fault, i, *b, false)
                );
            }
        }
    }

    #[test]
    fn priority_text_round_trips() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
        assert!("P5".parse::<Priority>().is_err());
    }
}
