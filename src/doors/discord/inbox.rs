//! The inbox: every event is recorded by its snowflake id before it is handled, so one
//! Discord dispatches twice (a replay after RESUME, an HTTP interaction resent) has one
//! effect. Discord replays within a session only, so ids are kept two days — far longer
//! than the interactions endpoint accepts a signed request for, so a replayed one is
//! either refused as stale or remembered.

use super::Inner;
use super::signature::TIMESTAMP_WINDOW_SECS;

/// Received event ids are kept this long, in seconds (Discord replays within a session
/// only).
const KEEP_EVENTS_SECS: u64 = 2 * 24 * 60 * 60;
const _: () = assert!(
    KEEP_EVENTS_SECS >= TIMESTAMP_WINDOW_SECS,
    "an id must be remembered as long as its request is accepted"
);

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
        let keep = chrono::Duration::seconds(KEEP_EVENTS_SECS.cast_signed());
        if let Err(e) = self.inbox.prune(now - keep).await {
            tracing::warn!(error = %e, "discord: could not prune old events");
        }
    }
}
