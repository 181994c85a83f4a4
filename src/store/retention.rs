//! Retention: forgetting what is no longer needed, in bounded batches (one short
//! transaction each, so the chat path's writes never wait long behind a purge). Each
//! statement deletes at most `limit` rows and returns how many it did; the caller repeats
//! while a batch comes back full.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, Store, StoreError};

/// What the retention statements are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Outbox messages delivered (`sent`) before the cutoff.
    SentMessages,
    /// Telegram updates finished and received before the cutoff (the newest is kept:
    /// the polling offset is read from it).
    TelegramUpdates,
    /// Discord event receipts handled and received before the cutoff.
    DiscordEvents,
    /// Photos of tickets closed or cancelled before the cutoff (never an open ticket's).
    Attachments,
    /// The console's sign-in audit events recorded before the cutoff.
    SignInEvents,
}

impl Purge {
    fn sql(self) -> &'static str {
        match self {
            Purge::SentMessages => {
                "DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox WHERE status = 'sent' AND sent_at < $1
                   ORDER BY id LIMIT $2)"
            }
            Purge::TelegramUpdates => {
                "DELETE FROM telegram_updates WHERE update_id IN (
                   SELECT update_id FROM telegram_updates
                   WHERE sent_at IS NOT NULL AND received_at < $1
                     AND update_id < (SELECT MAX(update_id) FROM telegram_updates)
                   ORDER BY update_id LIMIT $2)"
            }
            Purge::DiscordEvents => {
                "DELETE FROM discord_events WHERE event_id IN (
                   SELECT event_id FROM discord_events
                   WHERE handled_at IS NOT NULL AND received_at < $1 LIMIT $2)"
            }
            Purge::Attachments => {
                "DELETE FROM attachments WHERE (ticket_id, n) IN (
                   SELECT a.ticket_id, a.n FROM attachments a JOIN tickets t ON t.id = a.ticket_id
                   WHERE t.status IN ('closed', 'cancelled') AND t.closed_at IS NOT NULL
                     AND t.closed_at < $1
                   LIMIT $2)"
            }
            Purge::SignInEvents => {
                "DELETE FROM sign_in_events WHERE id IN (
                   SELECT id FROM sign_in_events WHERE at < $1 ORDER BY at, id LIMIT $2)"
            }
        }
    }
}

macro_rules! retention {
    ($store:ty) => {
        impl $store {
            pub(super) async fn purge(
                &self,
                what: Purge,
                before: DateTime<Utc>,
                limit: i64,
            ) -> Result<u64, StoreError> {
                self.write_one(sqlx::query(what.sql()).bind(before).bind(limit))
                    .await
            }
        }
    };
}

retention!(SqliteStore);
retention!(PgStore);

impl Store {
    /// Deletes at most `limit` rows of `what` older than `before`, in one transaction;
    /// how many it deleted.
    pub async fn purge(
        &self,
        what: Purge,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.purge(what, before, limit).await,
            Store::Postgres(s) => s.purge(what, before, limit).await,
        }
    }
}
