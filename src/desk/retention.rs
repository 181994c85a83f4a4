//! Retention (`[retention]`): what the desk forgets, and when. Delivered messages,
//! finished chat updates and receipts, and the photos of tickets closed long ago go after
//! their configured age; tickets, their audit trails and open tickets' photos never do
//! (the contract's records). Deletes run in bounded batches so a large backlog never
//! holds the database for long. The console's expired sessions, expired or used one-time
//! links and old failed sign-ins go too, and the sign-in audit events after their own
//! period (a year by default).

use chrono::Duration;

use super::{Desk, DeskError};
use crate::store::Purge;

/// Rows deleted per statement.
const BATCH: i64 = 500;

/// How long things are kept, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delivered outbox messages, counted from delivery.
    pub sent_messages: Duration,
    /// Finished Telegram updates and handled Discord event receipts, from receipt.
    pub handled_updates: Duration,
    /// Photos of closed and cancelled tickets, from the ticket's closing.
    pub attachments: Duration,
    /// The console's sign-in audit events, from when they happened.
    pub sign_in_events: Duration,
}

impl Default for RetentionPolicy {
    /// 30 days of sent messages, 7 of chat updates (Telegram's own redelivery horizon),
    /// a year of closed tickets' photos and of sign-in audit events.
    fn default() -> Self {
        RetentionPolicy {
            sent_messages: Duration::days(30),
            handled_updates: Duration::days(7),
            attachments: Duration::days(365),
            sign_in_events: Duration::days(365),
        }
    }
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    /// Delivered outbox messages.
    pub sent_messages: u64,
    /// Telegram updates and Discord event receipts.
    pub handled_updates: u64,
    /// Photos.
    pub attachments: u64,
    /// Sign-in audit events.
    pub sign_in_events: u64,
    /// The console's expired sessions and links and old failed sign-ins.
    pub console: crate::store::ConsoleSwept,
}

/// Failed sign-ins of a handle are forgotten this long after the last one (unless the
/// handle is still locked): long past any lockout, so a guesser gains nothing.
pub const SIGN_IN_ATTEMPTS_KEPT: Duration = Duration::days(1);

impl Desk {
    /// Deletes, at the desk's current time, everything older than the retention policy
    /// allows, in batches of at most 500 rows per transaction.
    pub async fn apply_retention(&self) -> Result<Retained, DeskError> {
        let now = self.now();
        let keep = &self.policy.retention;
        Ok(Retained {
            sent_messages: self
                .purge_all(Purge::SentMessages, now - keep.sent_messages)
                .await?,
            handled_updates: self
                .purge_all(Purge::TelegramUpdates, now - keep.handled_updates)
                .await?
                + self
                    .purge_all(Purge::DiscordEvents, now - keep.handled_updates)
                    .await?,
            attachments: self
                .purge_all(Purge::Attachments, now - keep.attachments)
                .await?,
            sign_in_events: self
                .purge_all(Purge::SignInEvents, now - keep.sign_in_events)
                .await?,
            // Small tables (a row per session, link or handle tried): one statement each.
            console: self
                .store
                .console_sweep(now, now - SIGN_IN_ATTEMPTS_KEPT)
                .await?,
        })
    }

    async fn purge_all(
        &self,
        what: Purge,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, DeskError> {
        let mut total = 0;
        loop {
            let n = self.store.purge(what, before, BATCH).await?;
            total += n;
            if n < BATCH.unsigned_abs() {
                return Ok(total);
            }
            // Let the chat path's writes in between batches.
            tokio::task::yield_now().await;
        }
    }
}
