//! The scheduler's and the dispatcher's queries: due clocks and outgoing messages, claimed
//! with a lease so several instances on one PostgreSQL never work on the same row at once
//! (`FOR UPDATE SKIP LOCKED`; SQLite has a single writer, so its claim is one `UPDATE`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{NewOutboxMessage, OutboxMessage, PgStore, SqliteStore, StoreError, rows};
use crate::domain::TicketId;
use crate::domain::clocks::SlaClock;

/// Messages per status and door (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StatusCount {
    /// `pending`, `sent`, `dead`, `unroutable`.
    pub status: String,
    /// The door (empty before delivery).
    pub channel: String,
    /// How many.
    pub count: i64,
}

/// The queue at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Per status and door.
    pub counts: Vec<StatusCount>,
    /// When the oldest pending message was written.
    pub oldest_pending: Option<DateTime<Utc>>,
}

macro_rules! delivery {
    ($store:ty, $db:ty, lock = $lock:literal) => {
        impl $store {
            /// Runs one write statement in its own transaction; returns the rows it changed.
            pub(super) async fn write_one(
                &self,
                q: sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments>,
            ) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let n = q.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            pub(super) async fn clocks(&self, ticket: TicketId) -> Result<Vec<SlaClock>, StoreError> {
                let rows: Vec<rows::ClockRow> =
                    sqlx::query_as("SELECT * FROM sla_clocks WHERE ticket_id = $1 ORDER BY kind")
                        .bind(ticket.0)
                        .fetch_all(self.reader())
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(super) async fn claim_due_clocks(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<TicketId>, StoreError> {
                let mut tx = self.begin().await?;
                let ids: Vec<(i64,)> = sqlx::query_as(concat!(
                    "UPDATE sla_clocks SET lease_until = $2 WHERE (ticket_id, kind) IN (
                       SELECT ticket_id, kind FROM sla_clocks
                       WHERE next_at IS NOT NULL AND next_at <= $1
                         AND (lease_until IS NULL OR lease_until < $1)
                       ORDER BY next_at LIMIT $3",
                    $lock,
                    ") RETURNING ticket_id"
                ))
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut ids: Vec<TicketId> = ids.into_iter().map(|(id,)| TicketId(id)).collect();
                ids.sort();
                ids.dedup();
                Ok(ids)
            }

            pub(super) async fn next_clock_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                let (at,): (Option<DateTime<Utc>>,) =
                    sqlx::query_as("SELECT MIN(next_at) FROM sla_clocks WHERE next_at IS NOT NULL")
                        .fetch_one(self.reader())
                        .await?;
                Ok(at)
            }

            pub(super) async fn save_clocks(&self, ticket: TicketId, version: i64, clocks: &[SlaClock]) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // A no-op update that locks the ticket row and re-checks its version after
                // any concurrent change commits, so stale clocks are never written.
                let same = sqlx::query("UPDATE tickets SET version = version WHERE id = $1 AND version = $2")
                    .bind(ticket.0)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if same == 0 {
                    return Err(StoreError::Conflict);
                }
                Self::write_clocks(&mut *tx, ticket, clocks).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn claim_outbox(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<OutboxMessage>, StoreError> {
                // The dispatcher looks every second and after every change: look before
                // taking the writer (on SQLite, the one the chat path's commits wait for).
                let (due,): (bool,) = sqlx::query_as(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'pending'
                       AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1))",
                )
                .bind(now)
                .fetch_one(self.reader())
                .await?;
                if !due {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin().await?;
                // An older message to the same person holds this one back if it is due,
                // failing or rate limited (order kept); one held for quiet hours does not
                // block a later one.
                let rows: Vec<rows::OutboxRow> = sqlx::query_as(concat!(
                    "UPDATE outbox SET lease_until = $2 WHERE id IN (
                       SELECT o.id FROM outbox o
                       WHERE o.status = 'pending' AND o.next_attempt_at <= $1
                         AND (o.lease_until IS NULL OR o.lease_until < $1)
                         AND NOT EXISTS (
                           SELECT 1 FROM outbox p
                           WHERE p.status = 'pending' AND p.recipient_kind = o.recipient_kind
                             AND p.recipient_id = o.recipient_id AND p.id < o.id
                             AND (p.attempts > 0 OR p.last_error IS NOT NULL OR p.next_attempt_at <= $1))
                       ORDER BY o.next_attempt_at, o.id LIMIT $3",
                    $lock,
                    ") RETURNING *"
                ))
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut messages: Vec<OutboxMessage> =
                    rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
                messages.sort_by_key(|m| m.id);
                Ok(messages)
            }

            pub(super) async fn outbox_sent(&self, id: i64, channel: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE outbox SET status = 'sent', channel = $2, sent_at = $3,
                           attempts = attempts + 1, lease_until = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .bind(channel)
                    .bind(now),
                )
                .await?;
                Ok(())
            }

            pub(super) async fn outbox_release(&self, ids: &[i64]) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let mut n = 0;
                for id in ids {
                    n += sqlx::query(
                        "UPDATE outbox SET lease_until = NULL WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(n)
            }

            pub(super) async fn outbox_retry_at(
                &self,
                id: i64,
                attempts: i32,
                at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4,
                           lease_until = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .bind(attempts)
                    .bind(at)
                    .bind(error),
                )
                .await?;
                Ok(())
            }

            pub(super) async fn outbox_give_up(
                &self,
                id: i64,
                status: &str,
                attempts: i32,
                error: &str,
                alerts: &[NewOutboxMessage],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE outbox SET status = $2, attempts = $3, last_error = $4,
                       lease_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(status)
                .bind(attempts)
                .bind(error)
                .execute(&mut *tx)
                .await?;
                for a in alerts {
                    let (kind, to) = a.to.parts();
                    sqlx::query(
                        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload,
                           status, attempts, next_attempt_at, created_at)
                         SELECT ticket_id, $2, $3, $4, $5, 'pending', 0, $6, $7 FROM outbox WHERE id = $1",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(to)
                    .bind(&a.event)
                    .bind(a.payload.to_string())
                    .bind(a.not_before.unwrap_or(now))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn outbox_by_status(&self, status: &str, limit: i64) -> Result<Vec<OutboxMessage>, StoreError> {
                let rows: Vec<rows::OutboxRow> =
                    sqlx::query_as("SELECT * FROM outbox WHERE status = $1 ORDER BY id DESC LIMIT $2")
                        .bind(status)
                        .bind(limit)
                        .fetch_all(self.reader())
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(super) async fn outbox_requeue(&self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
                self.write_one(match id {
                    Some(id) => sqlx::query(
                        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1,
                           lease_until = NULL WHERE id = $2 AND status IN ('dead', 'unroutable')",
                    )
                    .bind(now)
                    .bind(id),
                    None => sqlx::query(
                        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1,
                           lease_until = NULL WHERE status = 'dead'",
                    )
                    .bind(now),
                })
                .await
            }

            pub(super) async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
                let counts: Vec<StatusCount> = sqlx::query_as(
                    "SELECT status, COALESCE(channel, '') AS channel, COUNT(*) AS count
                     FROM outbox GROUP BY status, channel ORDER BY status, channel",
                )
                .fetch_all(self.reader())
                .await?;
                let (oldest_pending,): (Option<DateTime<Utc>>,) = sqlx::query_as(
                    "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'",
                )
                .fetch_one(self.reader())
                .await?;
                Ok(OutboxStats { counts, oldest_pending })
            }
        }
    };
}

delivery!(SqliteStore, sqlx::Sqlite, lock = "");
delivery!(PgStore, sqlx::Postgres, lock = " FOR UPDATE SKIP LOCKED");
