//! The retention job: has the desk apply `[retention]` once an hour (the desk decides
//! what is old by its injected clock; see `Desk::apply_retention`).

use std::time::Duration;

use crate::desk::Desk;

/// How often retention runs; the first pass comes this long after start, so a restart
/// loop does not purge on every start.
const EVERY: Duration = Duration::from_secs(60 * 60);

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

    /// Applies retention every hour until `shutdown` (a pass under way finishes first:
    /// each of its batches is a transaction of its own).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(EVERY) => {}
            }
            match self.desk.apply_retention().await {
                Ok(r) => tracing::info!(
                    sent_messages = r.sent_messages,
                    handled_updates = r.handled_updates,
                    attachments = r.attachments,
                    "retention applied"
                ),
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
    }
}
