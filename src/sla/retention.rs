//! The retention job: has the desk apply `[retention]` once an hour (the desk decides
//! what is old by its injected clock; see `Desk::apply_retention`).

use std::time::Duration;

use crate::desk::Desk;

/// How often retention runs.
const EVERY: Duration = Duration::from_secs(60 * 60);
/// The first pass comes this long after start: not in the way of start-up, yet soon
/// enough that a service restarted more often than hourly still purges.
const FIRST: Duration = Duration::from_secs(60);

/// The job over a desk.
#[derive(Clone)]
pub struct RetentionJob {
    desk: Desk,
}

impl RetentionJob {
    /// A job for the desk's retention policy.
    pub fn new(desk: Desk) -> RetentionJob {
        RetentionJob { desk }
    }

    /// Applies retention a minute after start, then every hour, until `shutdown` (a pass
    /// under way finishes first: each of its batches is a transaction of its own).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST, EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            match self.desk.apply_retention().await {
                Ok(r) => tracing::info!(
                    sent_messages = r.sent_messages,
                    handled_updates = r.handled_updates,
                    attachments = r.attachments,
                    sign_in_events = r.sign_in_events,
                    "retention applied"
                ),
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
    }
}
