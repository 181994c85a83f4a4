//! Satisfaction surveys: scheduled with the closure that causes them, sent once by the
//! scheduler, answered at most once by their reporter while valid.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{NewAuditEvent, NewOutboxMessage, PgStore, SqliteStore, StoreError};
use crate::domain::ticket::Ticket;
use crate::domain::{ReporterId, TicketId};

/// A survey to schedule when a ticket closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSurvey {
    /// `scheduled`, or `skipped` when the ticket was not sampled.
    pub status: &'static str,
    /// When to send it.
    pub send_at: DateTime<Utc>,
    /// Answers are refused after this.
    pub expires_at: DateTime<Utc>,
}

/// A survey as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Survey {
    /// The ticket.
    pub ticket_id: i64,
    /// Who may answer.
    pub reporter_id: i64,
    /// `scheduled`, `skipped`, `sent`, `answered` or `expired`.
    pub status: String,
    /// When it is (or was) to be sent.
    pub send_at: DateTime<Utc>,
    /// End of validity.
    pub expires_at: DateTime<Utc>,
    /// Sent at.
    pub sent_at: Option<DateTime<Utc>>,
    /// Answered at.
    pub answered_at: Option<DateTime<Utc>>,
    /// 1–5 (none for a complaint without a rating).
    pub rating: Option<i32>,
    /// Free text.
    pub comment: Option<String>,
    /// A complaint was filed.
    pub complaint: bool,
}

/// A reporter's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyAnswer {
    /// Who answers (only the ticket's reporter may).
    pub reporter: ReporterId,
    /// When.
    pub at: DateTime<Utc>,
    /// 1–5.
    pub rating: Option<i32>,
    /// Comment or complaint text.
    pub comment: Option<String>,
    /// A complaint.
    pub complaint: bool,
    /// The complaint's own record, filed with the answer (a `complaint` key in the
    /// messages' payloads gets its id).
    pub record: Option<(super::NewComplaint, super::NewComplaintEvent)>,
}

macro_rules! surveys {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn schedule_survey(
                tx: &mut <$db as sqlx::Database>::Connection,
                t: &Ticket,
                s: &NewSurvey,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO surveys (ticket_id, reporter_id, status, send_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id) DO NOTHING",
                )
                .bind(t.id.0)
                .bind(t.reporter.0)
                .bind(s.status)
                .bind(s.send_at)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await?;
                Ok(())
            }

            pub(super) async fn survey(&self, ticket: TicketId) -> Result<Option<Survey>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM surveys WHERE ticket_id = $1")
                    .bind(ticket.0)
                    .fetch_optional(self.reader())
                    .await?)
            }

            pub(super) async fn due_surveys(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketId>, StoreError> {
                let ids: Vec<(i64,)> = sqlx::query_as(
                    "SELECT ticket_id FROM surveys WHERE status = 'scheduled' AND send_at <= $1
                     ORDER BY send_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                Ok(ids.into_iter().map(|(id,)| TicketId(id)).collect())
            }

            pub(super) async fn send_survey(
                &self,
                ticket: TicketId,
                now: DateTime<Utc>,
                audit: &NewAuditEvent,
                message: &NewOutboxMessage,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                // The status guard makes this happen once, however many schedulers race.
                let sent = sqlx::query(
                    "UPDATE surveys SET status = 'sent', sent_at = $2
                     WHERE ticket_id = $1 AND status = 'scheduled'",
                )
                .bind(ticket.0)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if sent == 0 {
                    return Ok(false);
                }
                Self::write_side_effects(&mut *tx, ticket, audit, std::slice::from_ref(message)).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(super) async fn expire_surveys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE surveys SET status = 'expired' WHERE status = 'sent' AND expires_at <= $1",
                    )
                    .bind(now),
                )
                .await
            }

            pub(super) async fn answer_survey(
                &self,
                ticket: TicketId,
                answer: &SurveyAnswer,
                audit: &NewAuditEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE surveys SET status = 'answered', answered_at = $3, rating = $4,
                       comment = $5, complaint = $6
                     WHERE ticket_id = $1 AND reporter_id = $2 AND status = 'sent' AND expires_at > $3",
                )
                .bind(ticket.0)
                .bind(answer.reporter.0)
                .bind(answer.at)
                .bind(answer.rating)
                .bind(&answer.comment)
                .bind(answer.complaint)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Err(StoreError::Conflict);
                }
                let mut outbox = outbox.to_vec();
                if let Some((new, event)) = &answer.record {
                    let id = Self::insert_complaint_in(&mut *tx, new, event, &[]).await?;
                    for m in &mut outbox {
                        if let Some(p) = m.payload.as_object_mut()
                            && p.contains_key("complaint")
                        {
                            p.insert("complaint".into(), id.into());
                        }
                    }
                }
                Self::write_side_effects(&mut *tx, ticket, audit, &outbox).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

surveys!(SqliteStore, sqlx::Sqlite);
surveys!(PgStore, sqlx::Postgres);

/// What the report reads per ticket: the ticket, its clocks and its survey.
pub type ReportRow = (Ticket, Vec<crate::domain::clocks::SlaClock>, Option<Survey>);

macro_rules! reports {
    ($store:ty) => {
        impl $store {
            pub(super) async fn report_rows(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<Vec<ReportRow>, StoreError> {
                let tickets: Vec<super::rows::TicketRow> = sqlx::query_as(
                    "SELECT * FROM tickets WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
                )
                .bind(from)
                .bind(to)
                .fetch_all(self.reader())
                .await?;
                let clocks: Vec<(i64, super::rows::ClockRow)> = {
                    let rows: Vec<super::rows::ClockRowWithTicket> = sqlx::query_as(
                        "SELECT c.* FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
                         WHERE t.created_at >= $1 AND t.created_at < $2",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reader())
                    .await?;
                    rows.into_iter().map(|r| r.split()).collect()
                };
                let surveys: Vec<Survey> = sqlx::query_as(
                    "SELECT s.* FROM surveys s JOIN tickets t ON t.id = s.ticket_id
                     WHERE t.created_at >= $1 AND t.created_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_all(self.reader())
                .await?;
                let mut by_ticket: std::collections::HashMap<i64, ReportRow> =
                    std::collections::HashMap::new();
                let mut order = Vec::new();
                for row in tickets {
                    let t: Ticket = row.try_into()?;
                    order.push(t.id.0);
                    by_ticket.insert(t.id.0, (t, Vec::new(), None));
                }
                for (id, c) in clocks {
                    if let Some(entry) = by_ticket.get_mut(&id) {
                        entry.1.push(c.try_into()?);
                    }
                }
                for s in surveys {
                    if let Some(entry) = by_ticket.get_mut(&s.ticket_id) {
                        entry.2 = Some(s);
                    }
                }
                Ok(order
                    .into_iter()
                    .filter_map(|id| by_ticket.remove(&id))
                    .collect())
            }

            pub(super) async fn follow_ups(&self) -> Result<Vec<Ticket>, StoreError> {
                // A confirmation timer that ran out on a ticket still resolved (a reopen
                // or a new resolution starts a fresh timer; a confirmation closes it).
                let rows: Vec<super::rows::TicketRow> = sqlx::query_as(
                    "SELECT t.* FROM tickets t JOIN sla_clocks c ON c.ticket_id = t.id
                     WHERE t.status = 'resolved' AND c.kind = 'confirmation' AND c.breaches > 0
                     ORDER BY t.resolved_at, t.id",
                )
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(Ticket::try_from).collect()
            }

            pub(super) async fn repeat_faults(
                &self,
                since: DateTime<Utc>,
                to: DateTime<Utc>,
                at_least: i64,
            ) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT asset_tag, COUNT(*) AS n FROM tickets
                     WHERE asset_tag IS NOT NULL AND created_at >= $1 AND created_at < $2
                     GROUP BY asset_tag HAVING COUNT(*) >= $3 ORDER BY n DESC, asset_tag",
                )
                .bind(since)
                .bind(to)
                .bind(at_least)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

reports!(SqliteStore);
reports!(PgStore);
