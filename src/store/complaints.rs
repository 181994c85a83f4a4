//! Complaints and their own trail: written with their messages in one transaction; the
//! status guards make an escalation or an answer happen once, however many instances race.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, NewOutboxMessage, PgStore, SqliteStore, StoreError};
use crate::domain::{EngineerId, ReporterId, TicketId};

/// A complaint to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    /// The ticket it is about, if any.
    pub ticket: Option<TicketId>,
    /// Who complains.
    pub reporter: ReporterId,
    /// Their department, when known.
    pub department: Option<String>,
    /// What they said.
    pub text: String,
    /// The door it came through (`telegram`, `web`, `api`, …).
    pub channel: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The manager who owns it.
    pub owner: Option<EngineerId>,
    /// When its response is due.
    pub due_at: DateTime<Utc>,
}

/// One event of a complaint's trail, to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaintEvent {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// Verb (`filed`, `escalated`, `answered`, `closed`).
    pub action: &'static str,
    /// Status before (none when filed).
    pub from: Option<&'static str>,
    /// Status after.
    pub to: &'static str,
    /// Free text (the outcome).
    pub note: Option<String>,
}

/// A complaint as stored (managers only: it carries the complaint's text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Complaint {
    /// Id.
    pub id: i64,
    /// The ticket's id, if it is about one.
    pub ticket_id: Option<i64>,
    /// The ticket's number, if it is about one.
    pub ticket: Option<String>,
    /// The complainant.
    pub reporter_id: i64,
    /// Their department when filed.
    pub department: Option<String>,
    /// What they said.
    pub text: String,
    /// The door it came through.
    pub channel: String,
    /// Filed at.
    pub created_at: DateTime<Utc>,
    /// The owning manager.
    pub owner_id: Option<i64>,
    /// Response due by.
    pub due_at: DateTime<Utc>,
    /// When the managers were told it ran out, if it did.
    pub escalated_at: Option<DateTime<Utc>>,
    /// `open`, `answered` or `closed`.
    pub status: String,
    /// The outcome told to the complainant.
    pub outcome: Option<String>,
    /// When the outcome was told.
    pub answered_at: Option<DateTime<Utc>>,
    /// Who told it.
    pub answered_by: Option<String>,
}

/// One event of a complaint's trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ComplaintEvent {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `reporter`, `engineer`, `desk` or `system`.
    pub actor_kind: String,
    /// Their id.
    pub actor_id: Option<String>,
    /// Their name then.
    pub actor_name: String,
    /// Verb.
    pub action: String,
    /// Status before.
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: String,
    /// Free text.
    pub note: Option<String>,
}

/// What a report counts per complaint: filed at, answered at, status, department.
pub type ComplaintFactRow = (DateTime<Utc>, Option<DateTime<Utc>>, String, Option<String>);

/// The complaints with their tickets' numbers.
const SELECT: &str = "SELECT c.*, t.number AS ticket FROM complaints c
     LEFT JOIN tickets t ON t.id = c.ticket_id";

macro_rules! complaints {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Writes a complaint's event and messages (a `complaint` key in a payload gets
            /// the complaint's id) inside `tx`.
            async fn complaint_side_effects(
                tx: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                ticket: Option<TicketId>,
                event: &NewComplaintEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO complaint_events (complaint_id, at, actor_kind, actor_id,
                       actor_name, action, from_status, to_status, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(event.at)
                .bind(event.actor.kind)
                .bind(&event.actor.id)
                .bind(&event.actor.name)
                .bind(event.action)
                .bind(event.from)
                .bind(event.to)
                .bind(&event.note)
                .execute(&mut *tx)
                .await?;
                for m in outbox {
                    let mut payload = m.payload.clone();
                    if let Some(p) = payload.as_object_mut()
                        && p.contains_key("complaint")
                    {
                        p.insert("complaint".into(), id.into());
                    }
                    let (kind, to) = m.to.parts();
                    sqlx::query(
                        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload,
                           status, attempts, next_attempt_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
                    )
                    .bind(ticket.map(|t| t.0))
                    .bind(kind)
                    .bind(to)
                    .bind(&m.event)
                    .bind(payload.to_string())
                    .bind(m.not_before.unwrap_or(event.at))
                    .bind(event.at)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok(())
            }

            /// Records a complaint with its first event and messages inside `tx`; its id.
            pub(super) async fn insert_complaint_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                new: &NewComplaint,
                event: &NewComplaintEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<i64, StoreError> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO complaints (ticket_id, reporter_id, department, text, channel,
                       created_at, owner_id, due_at, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open') RETURNING id",
                )
                .bind(new.ticket.map(|t| t.0))
                .bind(new.reporter.0)
                .bind(&new.department)
                .bind(&new.text)
                .bind(&new.channel)
                .bind(new.created_at)
                .bind(new.owner.map(|e| e.0))
                .bind(new.due_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::complaint_side_effects(&mut *tx, id, new.ticket, event, outbox).await?;
                Ok(id)
            }

            pub(super) async fn insert_complaint(
                &self,
                new: &NewComplaint,
                event: &NewComplaintEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<i64, StoreError> {
                let mut tx = self.begin().await?;
                let id = Self::insert_complaint_in(&mut *tx, new, event, outbox).await?;
                tx.commit().await?;
                Ok(id)
            }

            pub(super) async fn complaint(&self, id: i64) -> Result<Option<Complaint>, StoreError> {
                let sql = format!("{SELECT} WHERE c.id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            pub(super) async fn complaints(
                &self,
                status: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> Result<Vec<Complaint>, StoreError> {
                let sql = format!(
                    "{SELECT} WHERE $1 IS NULL OR c.status = $1 ORDER BY c.id DESC LIMIT $2 OFFSET $3"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(status)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.reader())
                    .await?)
            }

            pub(super) async fn complaint_events(&self, id: i64) -> Result<Vec<ComplaintEvent>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, at, actor_kind, actor_id, actor_name, action, from_status,
                       to_status, note FROM complaint_events WHERE complaint_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn overdue_complaints(
                &self,
                now: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<Complaint>, StoreError> {
                let sql = format!(
                    "{SELECT} WHERE c.status = 'open' AND c.escalated_at IS NULL AND c.due_at <= $1
                     ORDER BY c.due_at LIMIT $2"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
            }

            pub(super) async fn escalate_complaint(
                &self,
                id: i64,
                event: &NewComplaintEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                // The guard makes the escalation happen once, however many schedulers race.
                let ticket: Option<(Option<i64>,)> = sqlx::query_as(
                    "UPDATE complaints SET escalated_at = $2
                     WHERE id = $1 AND status = 'open' AND escalated_at IS NULL
                     RETURNING ticket_id",
                )
                .bind(id)
                .bind(event.at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((ticket,)) = ticket else {
                    return Ok(false);
                };
                Self::complaint_side_effects(&mut *tx, id, ticket.map(TicketId), event, outbox)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(super) async fn answer_complaint(
                &self,
                id: i64,
                outcome: &str,
                event: &NewComplaintEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // Only from the status the desk decided from: `Conflict` if it moved meanwhile.
                let ticket: Option<(Option<i64>,)> = sqlx::query_as(
                    "UPDATE complaints SET status = $2, outcome = $3,
                       answered_at = COALESCE(answered_at, $4), answered_by = $5
                     WHERE id = $1 AND status = $6 RETURNING ticket_id",
                )
                .bind(id)
                .bind(event.to)
                .bind(outcome)
                .bind(event.at)
                .bind(&event.actor.name)
                .bind(event.from)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((ticket,)) = ticket else {
                    return Err(StoreError::Conflict);
                };
                Self::complaint_side_effects(&mut *tx, id, ticket.map(TicketId), event, outbox)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn complaint_facts(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<Vec<ComplaintFactRow>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT created_at, answered_at, status, department FROM complaints
                     WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
                )
                .bind(from)
                .bind(to)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

complaints!(SqliteStore, sqlx::Sqlite);
complaints!(PgStore, sqlx::Postgres);
