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
}

/// Survey rules, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyPolicy {
    /// Local minute of the day to send at.
    pub minute_of_day: u16,
    /// Share surveyed.
    pub sample_rate: f64,
    /// Validity.
    pub valid_for: chrono::Duration,
}
