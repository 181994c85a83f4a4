//! The SLA scheduler: wakes when a clock falls due (the desk finds due clocks with an
//! indexed query on `next_at`, so the cost follows the number of due clocks, not of open
//! tickets) and has the desk record each warning, breach and escalation once, then send
//! the satisfaction surveys that are due (see `Desk::run_due_clocks`).

mod retention;

pub use retention::RetentionJob;

use chrono::Duration;

use crate::desk::{Desk, DeskError};

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Tickets looked at.
    pub tickets: u32,
    /// Events recorded (warnings, breaches, escalation steps, reminders, auto-closes).
    pub events: u32,
    /// Satisfaction surveys sent.
    pub surveys: u32,
    /// Complaints whose response time ran out, escalated to the managers.
    pub complaints: u32,
    /// Periodic reports frozen (at the end of a week, month, quarter, half-year, year).
    pub archived: u32,
    /// Inspection jobs opened (a plan's period began).
    pub inspections: u32,
}

/// The scheduler over a desk.
#[derive(Clone)]
pub struct Scheduler {
    desk: Desk,
    /// The local day whose complete periods are archived: periods end at midnight, so
    /// the archive is looked at once a day, not at every tick.
    archived_on: std::sync::Arc<std::sync::Mutex<Option<chrono::NaiveDate>>>,
}

impl Scheduler {
    /// A scheduler for the desk's clocks.
    pub fn new(desk: Desk) -> Scheduler {
        Scheduler {
            desk,
            archived_on: std::sync::Arc::default(),
        }
    }

    /// Handles every clock due at the desk's current time, then sends the surveys that
    /// are due and expires those past their validity, then escalates the complaints
    /// whose response time ran out, then freezes the reports of periods that ended, then
    /// opens the inspection jobs of plans whose period began.
    pub async fn tick(&self) -> Result<Tick, DeskError> {
        let clocks = self.desk.run_due_clocks().await?;
        let surveys = self.desk.send_due_surveys().await?;
        let complaints = self.desk.escalate_overdue_complaints().await?;
        let archived = self.archive().await?;
        let inspections = self.desk.open_due_inspections().await?;
        Ok(Tick {
            tickets: clocks.tickets,
            events: clocks.events,
            surveys,
            complaints,
            archived,
            inspections,
        })
    }

    /// Freezes the reports of the periods that ended, on the first tick of each local day.
    async fn archive(&self) -> Result<u32, DeskError> {
        let today = self.desk.local_today();
        let done = |d: &Option<chrono::NaiveDate>| *d == Some(today);
        if self.archived_on.lock().is_ok_and(|d| done(&d)) {
            return Ok(0);
        }
        let frozen = self.desk.archive_reports().await?;
        if let Ok(mut d) = self.archived_on.lock() {
            *d = Some(today);
        }
        Ok(frozen)
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
            let wait = match self.desk.next_clock_due().await {
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
