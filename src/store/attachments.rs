//! Photos filed with a ticket: references on the door they came through, fetched by that
//! door after the ticket is filed and kept in the database.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};
use crate::domain::TicketId;

/// A photo still to fetch.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingPhoto {
    /// The ticket.
    pub ticket_id: i64,
    /// Its place in the ticket's list, from 1.
    pub n: i32,
    /// The door's reference (Telegram: the file id).
    pub file_ref: String,
    /// Tries so far.
    pub attempts: i32,
}

/// A photo as stored: `fetched` with its bytes, `pending`, or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attachment {
    /// pending | fetched | failed.
    pub status: String,
    /// The bytes, once fetched.
    pub content: Option<Vec<u8>>,
}

macro_rules! attachments_sql {
    ($store:ty, lock = $lock:literal) => {
        impl $store {
            pub(super) async fn photos_claim(
                &self,
                door: &str,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<PendingPhoto>, StoreError> {
                // Claimed by moving the next try past the fetch: another instance skips
                // them, and a fetch cut short by a crash is tried again then.
                let mut tx = self.begin().await?;
                let mut due: Vec<PendingPhoto> = sqlx::query_as(concat!(
                    "UPDATE attachments SET next_try_at = $3 WHERE (ticket_id, n) IN (
                       SELECT ticket_id, n FROM attachments
                       WHERE door = $1 AND status = 'pending' AND next_try_at <= $2
                       ORDER BY next_try_at LIMIT $4",
                    $lock,
                    ") RETURNING ticket_id, n, file_ref, attempts"
                ))
                .bind(door)
                .bind(now)
                .bind(until)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                due.sort_by_key(|p| (p.ticket_id, p.n));
                Ok(due)
            }

            pub(super) async fn photo_fetched(
                &self,
                ticket_id: i64,
                n: i32,
                content: &[u8],
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE attachments SET status = 'fetched', content = $3, size = $4,
                           attempts = attempts + 1, error = NULL
                         WHERE ticket_id = $1 AND n = $2",
                    )
                    .bind(ticket_id)
                    .bind(n)
                    .bind(content)
                    .bind(i64::try_from(content.len()).unwrap_or(i64::MAX)),
                )
                .await
                .map(drop)
            }

            pub(super) async fn photo_not_fetched(
                &self,
                ticket_id: i64,
                n: i32,
                retry_at: Option<DateTime<Utc>>,
                error: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE attachments SET attempts = attempts + 1, error = $3,
                           status = CASE WHEN $4 THEN 'pending' ELSE 'failed' END,
                           next_try_at = COALESCE($5, next_try_at)
                         WHERE ticket_id = $1 AND n = $2",
                    )
                    .bind(ticket_id)
                    .bind(n)
                    .bind(error)
                    .bind(retry_at.is_some())
                    .bind(retry_at),
                )
                .await
                .map(drop)
            }

            pub(super) async fn attachment(
                &self,
                ticket: TicketId,
                n: i32,
            ) -> Result<Option<Attachment>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT status, content FROM attachments WHERE ticket_id = $1 AND n = $2",
                )
                .bind(ticket.0)
                .bind(n)
                .fetch_optional(self.reader())
                .await?)
            }
        }
    };
}

attachments_sql!(SqliteStore, lock = "");
attachments_sql!(PgStore, lock = " FOR UPDATE SKIP LOCKED");
