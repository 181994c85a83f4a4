//! The inbox: every event is recorded by its snowflake id before it is handled, so one
//! Discord dispatches twice (a replay after RESUME, an HTTP interaction resent) has one
//! effect. Discord replays within a session only, so ids are kept two days.

use super::Inner;

/// Received event ids are kept this long (Discord replays within a session only).
const KEEP_EVENTS: chrono::Duration = chrono::Duration::days(2);

impl Inner {
    /// Records an event id; false if it was seen before (or cannot be recorded: then it
    /// is not handled, rather than risk handling it twice).
    pub(super) async fn first_time(&self, id: u64, kind: &str) -> bool {
        let now = self.inbox.now();
        match self.inbox.receive(&id.to_string(), kind, now).await {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %e, "discord: cannot record an event");
                false
            }
        }
    }

    /// Marks an event handled (when its step did not record that itself).
    pub(super) async fn handled(&self, id: u64) {
        let now = self.inbox.now();
        if let Err(e) = self.inbox.handled(&id.to_string(), now).await {
            tracing::warn!(error = %e, "discord: cannot mark an event handled");
        }
    }

    /// Forgets events Discord can no longer replay.
    pub(super) async fn prune(&self) {
        let now = self.inbox.now();
        if let Err(e) = self.inbox.prune(now - KEEP_EVENTS).await {
            tracing::warn!(error = %e, "discord: could not prune old events");
        }
    }
}
