//! The SLA scheduler: finds clocks that fell due (an indexed query on `next_at`, so its
//! cost follows the number of due clocks, not of open tickets), leases them so that
//! several instances on one PostgreSQL share the work, and lets the desk record each
//! warning, breach and escalation once (see `Desk::run_clocks`).

use chrono::Duration;

use crate::desk::{Desk, DeskError};

/// Tickets claimed per query.
const BATCH: i64 = 100;
/// A claim expires after this (a crashed instance's work is picked up again).
const LEASE: Duration = Duration::seconds(60);

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Tickets looked at.
    pub tickets: u32,
    /// Events recorded (warnings, breaches, escalation steps, reminders, auto-closes).
    pub events: u32,
    /// Satisfaction surveys sent.
    pub surveys: u32,
}

/// The scheduler over a desk.
#[derive(Clone)]
pub struct Scheduler {
    desk: Desk,
}

impl Scheduler {
    /// A scheduler for the desk's clocks.
    pub fn new(desk: Desk) -> Scheduler {
        Scheduler { desk }
    }

    /// Handles every clock due at the desk's current time, then sends the surveys that
    /// are due and expires those past their validity.
    pub async fn tick(&self) -> Result<Tick, DeskError> {
        let mut tick = self.clocks().await?;
        let store = self.desk.store();
        let now = self.desk.now();
        store.expire_surveys(now).await?;
        loop {
            let due = store.due_surveys(now, BATCH).await?;
            for id in &due {
                if self.desk.send_survey(*id).await? {
                    tick.surveys += 1;
                }
            }
            if (due.len() as i64) < BATCH {
                return Ok(tick);
            }
        }
    }

    async fn clocks(&self) -> Result<Tick, DeskError> {
        let store = self.desk.store();
        let mut tick = Tick::default();
        loop {
            let now = self.desk.now();
            let due = store.claim_due_clocks(now, now + LEASE, BATCH).await?;
            if due.is_empty() {
                return Ok(tick);
            }
            let roster = store.roster().await?;
            for id in &due {
                match self.desk.run_clocks(*id, &roster).await {
                    Ok(n) => tick.events += n,
                    // Left leased: another round (or instance) retries after the lease.
                    Err(e) => tracing::warn!(ticket = %id, error = %e, "SLA clocks not run"),
                }
                tick.tickets += 1;
            }
            if (due.len() as i64) < BATCH {
                return Ok(tick);
            }
        }
    }

    /// Ticks until `shutdown`: at once when a clock is due, else when the next falls due
    /// (at most a minute apart, since changes elsewhere may bring deadlines forward).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "SLA tick failed");
            }
            let now = self.desk.now();
            let wait = match self.desk.store().next_clock_due().await {
                Ok(Some(at)) => (at - now).clamp(Duration::seconds(1), Duration::minutes(1)),
                _ => Duration::minutes(1),
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait.to_std().unwrap_or_default()) => {}
            }
        }
    }
}
