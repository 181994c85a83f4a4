//! What the desk does when an SLA clock falls due: one transaction per event (the audit
//! event, the messages and the clocks, guarded by the ticket's version), so each warning,
//! breach and escalation is recorded and sent exactly once however many schedulers run.

use chrono::{DateTime, Utc};

use super::{Desk, DeskError, MAX_ATTEMPTS};
use crate::domain::TicketId;
use crate::domain::clocks::{ClockKind, Clocks, Due, SlaClock};
use crate::domain::intake::Note;
use crate::domain::routing::Tier;
use crate::domain::sla::{EscalationTarget, Unconfirmed};
use crate::domain::ticket::{Action, Audience, Caller, Change, Notice, Status, Ticket};
use crate::store::{Roster, StoreError};

/// Tickets claimed per query.
const BATCH: i64 = 100;
/// A claim expires after this (a crashed instance's work is picked up again).
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// What one round of due clocks did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockRound {
    /// Tickets looked at.
    pub tickets: u32,
    /// Events recorded (warnings, breaches, escalation steps, reminders, auto-closes).
    pub events: u32,
}

impl Desk {
    /// Runs every clock due now: claims the tickets concerned (a lease, so several
    /// instances on one PostgreSQL share the work and a crashed one's claims come back)
    /// and fires each ticket's events.
    pub async fn run_due_clocks(&self) -> Result<ClockRound, DeskError> {
        let mut round = ClockRound::default();
        loop {
            let now = self.now();
            let due = self.store.claim_due_clocks(now, now + LEASE, BATCH).await?;
            if due.is_empty() {
                return Ok(round);
            }
            let roster = self.store.roster().await?;
            for id in &due {
                match self.run_clocks(*id, &roster).await {
                    Ok(n) => round.events += n,
                    // Left leased: another round (or instance) retries after the lease.
                    Err(e) => tracing::warn!(ticket = %id, error = %e, "SLA clocks not run"),
                }
                round.tickets += 1;
            }
            if (due.len() as i64) < BATCH {
                return Ok(round);
            }
        }
    }

    /// When the next clock falls due, if any runs.
    pub async fn next_clock_due(&self) -> Result<Option<DateTime<Utc>>, DeskError> {
        Ok(self.store.next_clock_due().await?)
    }

    /// Fires everything due on one ticket's clocks now, one event per transaction, and
    /// saves the clocks' next look (releasing the scheduler's lease). Returns the number
    /// of events recorded.
    pub async fn run_clocks(&self, id: TicketId, roster: &Roster) -> Result<u32, DeskError> {
        let mut fired = 0;
        let mut conflicts = 0;
        loop {
            let now = self.now();
            let (ticket, clocks) = tokio::join!(self.store.ticket(id), self.store.clocks(id));
            let Some(ticket) = ticket? else {
                return Ok(fired);
            };
            let mut clocks = Clocks(clocks?);
            let rules = self.rules(ticket.priority);
            let event = clocks
                .0
                .iter_mut()
                .filter(|c| c.next_at.is_some_and(|at| at <= now))
                .find_map(|c| c.fire(now, rules).map(|due| (c.clone(), due)));
            let result = match event {
                None => self
                    .store
                    .save_clocks(id, ticket.version, &clocks.0)
                    .await
                    .map(|()| false),
                Some((clock, due)) => {
                    let change = self.clock_change(&ticket, &clock, due, now);
                    let mut write = self.write_for(&Caller::System, change, roster, now);
                    for m in &mut write.outbox {
                        m.payload["clock"] = clock.kind.as_str().into();
                        m.payload["due_at"] = serde_json::json!(clock.due_at);
                        m.payload["hours"] = hours(clock.budget).into();
                    }
                    // A confirmation clock running out stops it: the deadlines follow.
                    write.ticket = super::with_deadlines(write.ticket, &clocks);
                    write.clocks = clocks.0;
                    self.store.update_ticket(write).await.map(|t| {
                        tracing::info!(ticket = %t.number, clock = %clock.kind, event = ?due, "SLA event");
                        true
                    })
                }
            };
            match result {
                Ok(true) => {
                    fired += 1;
                    self.signal.notify_one();
                }
                Ok(false) => return Ok(fired),
                Err(StoreError::Conflict) if conflicts < MAX_ATTEMPTS => conflicts += 1,
                Err(StoreError::Conflict) => return Err(DeskError::Busy),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The change an SLA event makes: a notice-only audit event, or (a response clock's
    /// escalation step while nobody has accepted) a real escalation to the next tier.
    fn clock_change(&self, t: &Ticket, clock: &SlaClock, due: Due, now: DateTime<Utc>) -> Change {
        let record = |action: &'static str, note: String, notices: Vec<Notice>| Change {
            ticket: t.clone(),
            action,
            from: Some(t.status),
            note: Some(note),
            notices,
        };
        let notice = |to: Audience, event: &'static str| Notice { to, event };
        let kind = clock.kind;
        let due_at = clock
            .due_at
            .map_or_else(String::new, |d| format!(", due {}", d.to_rfc3339()));
        match due {
            Due::Warning => record(
                "sla_warning",
                format!("{kind} clock{due_at}"),
                vec![notice(t.holder(), "sla_warning")],
            ),
            Due::ConfirmReminder => record(
                "confirmation_reminder",
                "the reporter has not confirmed the fix yet".into(),
                vec![notice(Audience::Reporter, "confirm_reminder")],
            ),
            Due::Breach
                if kind == ClockKind::Confirmation
                    && self.policy.sla.unconfirmed == Unconfirmed::AutoClose =>
            {
                t.apply(&Caller::System, Action::AutoClose, now)
                    .unwrap_or_else(|_| {
                        record("confirmation_expired", format!("{kind} timer"), Vec::new())
                    })
            }
            // Plan 002: closed only after the user confirms. The ticket stays resolved and
            // is on the managers' follow-up list (`Desk::follow_ups`) until the reporter
            // answers; the managers are told to call.
            Due::Breach if kind == ClockKind::Confirmation => record(
                "follow_up",
                "no confirmation in time: the reporter is to be called".into(),
                vec![notice(Audience::Managers, "follow_up_due")],
            ),
            // The reporter is told what happens next (a loaner is on its way), the
            // engineer and the managers that one is owed.
            Due::Breach if kind == ClockKind::Replacement => record(
                "replacement_due",
                format!("{kind} rule: the device is owed a replacement"),
                vec![
                    notice(t.holder(), "replacement_due"),
                    notice(Audience::Managers, "replacement_due"),
                    notice(Audience::Reporter, "replacement_offered"),
                ],
            ),
            Due::Breach => record(
                "sla_breach",
                format!("{kind} clock{due_at}"),
                vec![notice(t.holder(), "sla_breached")],
            ),
            Due::Step(_, target) => {
                let tier = match target {
                    EscalationTarget::Experts => Tier::Expert,
                    EscalationTarget::Managers => Tier::Manager,
                };
                let unaccepted = matches!(t.status, Status::New | Status::Offered);
                if kind == ClockKind::Response
                    && unaccepted
                    && t.tier < tier
                    && let Ok(note) = Note::parse(&format!("{kind} time exceeded"))
                    && let Ok(change) = t.apply(&Caller::System, Action::Escalate(note), now)
                {
                    return change;
                }
                let to = match target {
                    EscalationTarget::Experts => Audience::Offer {
                        group: t.group.clone(),
                        tier: Tier::Expert,
                        to: None,
                    },
                    EscalationTarget::Managers => Audience::Managers,
                };
                record(
                    "sla_escalation",
                    format!("{kind} clock: {target:?} alerted").to_lowercase(),
                    vec![notice(to, "sla_escalated")],
                )
            }
            Due::Reminder => record(
                "sla_reminder",
                format!("{kind} clock still breached"),
                vec![notice(Audience::Managers, "sla_reminder")],
            ),
            Due::ProgressMissed => record(
                "progress_missed",
                format!("no progress note{due_at}"),
                vec![
                    notice(t.holder(), "progress_overdue"),
                    notice(Audience::Reporter, "work_continues"),
                ],
            ),
        }
    }
}

/// A clock's budget in hours for a message (`48`, or `1.5`), so texts never hard-code it.
fn hours(budget: chrono::Duration) -> String {
    let minutes = budget.num_minutes();
    if minutes % 60 == 0 {
        (minutes / 60).to_string()
    } else {
        format!("{:.1}", minutes as f64 / 60.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn budgets_read_as_hours() {
        let h = |m| super::hours(chrono::Duration::minutes(m));
        assert_eq!(
            (h(48 * 60), h(90), h(30)),
            ("48".into(), "1.5".into(), "0.5".into())
        );
    }
}
