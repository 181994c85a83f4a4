//! Preventive inspections: plans, the jobs they open once per period, the checks recorded
//! on a job and their trail. Every change is one transaction with its trail event and
//! messages; the guards (the plan's `next_due_at`, the job's status and version, the
//! unique keys) make each happen once however many instances race. A fault found files
//! its ticket in the same transaction as the check that found it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    Actor, NewOutboxMessage, PgStore, SqliteStore, StoreError, TicketWrite, params, rows, sql,
};
use crate::domain::ticket::{Ticket, TicketNumber};
use crate::domain::{EngineerId, TicketId};

/// A plan to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    /// Name.
    pub name: String,
    /// Site.
    pub site: String,
    /// Buildings or rooms, JSON list.
    pub buildings: String,
    /// What is covered.
    pub scope: Option<String>,
    /// Asset group, for later.
    pub asset_group: Option<String>,
    /// Engineer group.
    pub group: String,
    /// Category of faults found.
    pub category: String,
    /// Department of faults found.
    pub department: String,
    /// Contact phone of faults found.
    pub phone: String,
    /// `half_yearly`, `quarterly`, `monthly`.
    pub frequency: &'static str,
    /// Target, percent.
    pub target_pct: i64,
    /// Units per period.
    pub units: i64,
    /// Checks, JSON.
    pub checklist: String,
    /// When the scheduler opens its first job.
    pub next_due_at: DateTime<Utc>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PlanRecord {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Site.
    pub site: String,
    /// Buildings or rooms, JSON list.
    pub buildings: String,
    /// What is covered.
    pub scope: Option<String>,
    /// Asset group.
    pub asset_group: Option<String>,
    /// Engineer group.
    pub group_id: String,
    /// Category of faults found.
    pub category: String,
    /// Department of faults found.
    pub department: String,
    /// Contact phone of faults found.
    pub phone: String,
    /// Frequency.
    pub frequency: String,
    /// Target, percent.
    pub target_pct: i64,
    /// Units per period.
    pub units: i64,
    /// Checks, JSON.
    pub checklist: String,
    /// `active`, `paused`, `retired`.
    pub status: String,
    /// When the scheduler next opens a job.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A job to open for a plan's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The plan.
    pub plan_id: i64,
    /// Period label.
    pub period: String,
    /// The period's first instant.
    pub period_start: DateTime<Utc>,
    /// The period's end.
    pub due_at: DateTime<Utc>,
    /// Group offered to.
    pub group: String,
    /// The plan's checks (JSON) now.
    pub checklist: String,
    /// The plan's units now.
    pub units_planned: i64,
    /// The plan's target now.
    pub target_pct: i64,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// A job as stored, with its plan's name and site and its checks counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct JobRecord {
    /// Id.
    pub id: i64,
    /// Plan.
    pub plan_id: i64,
    /// Plan name.
    pub plan: String,
    /// Plan site.
    pub site: String,
    /// Period label.
    pub period: String,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Due (the period's end).
    pub due_at: DateTime<Utc>,
    /// Group.
    pub group_id: String,
    /// `offered`, `in_progress`, `done`.
    pub status: String,
    /// Holder.
    pub assignee_id: Option<i64>,
    /// Checks, JSON.
    pub checklist: String,
    /// Units planned.
    pub units_planned: i64,
    /// Target, percent.
    pub target_pct: i64,
    /// Units inspected (when done).
    pub units_inspected: Option<i64>,
    /// Who signed the check report on site.
    pub signed_by: Option<String>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Version (optimistic concurrency).
    pub version: i64,
    /// Checks recorded.
    pub checked: i64,
    /// Of them, faults found.
    pub faults: i64,
}

/// One recorded check, with the number of the ticket a fault filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CheckRecord {
    /// Check number, from 1.
    pub n: i64,
    /// `pass` or `fault`.
    pub result: String,
    /// What was found.
    pub note: Option<String>,
    /// The fault ticket's number.
    pub ticket: Option<String>,
    /// Who recorded it.
    pub engineer_id: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// A check to record on a job read at `version`, held by `engineer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheck {
    /// Job.
    pub job_id: i64,
    /// The job's version when read.
    pub version: i64,
    /// Check number.
    pub n: i64,
    /// `pass` or `fault`.
    pub result: &'static str,
    /// What was found.
    pub note: Option<String>,
    /// Holder.
    pub engineer: EngineerId,
    /// Now.
    pub at: DateTime<Utc>,
}

/// Closing a job read at `version`, held by `engineer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClose {
    /// Job.
    pub job: i64,
    /// The job's version when read.
    pub version: i64,
    /// Holder.
    pub engineer: EngineerId,
    /// Units inspected.
    pub units: i64,
    /// Who signed the check report on site.
    pub signed_by: String,
}

/// One event of a plan's or job's trail, to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInspectionEvent {
    /// The plan.
    pub plan_id: i64,
    /// The job, if it is about one (filled in when the job is opened).
    pub job_id: Option<i64>,
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// Verb (`plan_created`, `paused`, `opened`, `accepted`, `checked`, `fault_found`,
    /// `finished`).
    pub action: &'static str,
    /// Status before.
    pub from: Option<&'static str>,
    /// Status after.
    pub to: &'static str,
    /// Free text.
    pub note: Option<String>,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InspectionEvent {
    /// Row id.
    pub id: i64,
    /// The job, if any.
    pub job_id: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
    /// `engineer`, `desk`, `system`.
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

/// Jobs with their plans' names and their checks counted.
const JOBS: &str = "SELECT j.id, j.plan_id, p.name AS plan, p.site, j.period, j.period_start,
       j.due_at, j.group_id, j.status, j.assignee_id, j.checklist, j.units_planned,
       j.target_pct, j.units_inspected, j.signed_by, j.created_at, j.accepted_at,
       j.finished_at, j.version,
       (SELECT COUNT(*) FROM inspection_results r WHERE r.job_id = j.id) AS checked,
       (SELECT COUNT(*) FROM inspection_results r
         WHERE r.job_id = j.id AND r.result = 'fault') AS faults
     FROM inspection_jobs j JOIN inspection_plans p ON p.id = j.plan_id";

/// Moves a job on from the version it was read at by its holder: `$1` job, `$2` version,
/// `$3` holder; returns the plan (no row: it changed meanwhile).
const BUMP_JOB: &str = "UPDATE inspection_jobs SET version = version + 1
     WHERE id = $1 AND version = $2 AND status = 'in_progress' AND assignee_id = $3
     RETURNING plan_id";

macro_rules! inspections {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Writes a trail event and messages (no ticket) inside `tx`.
            async fn inspection_side_effects(
                tx: &mut <$db as sqlx::Database>::Connection,
                event: &NewInspectionEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO inspection_events (plan_id, job_id, at, actor_kind, actor_id,
                       actor_name, action, from_status, to_status, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(event.plan_id)
                .bind(event.job_id)
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
                    let (kind, to) = m.to.parts();
                    sqlx::query(
                        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload,
                           status, attempts, next_attempt_at, created_at)
                         VALUES (NULL, $1, $2, $3, $4, 'pending', 0, $5, $6)",
                    )
                    .bind(kind)
                    .bind(to)
                    .bind(&m.event)
                    .bind(m.payload.to_string())
                    .bind(m.not_before.unwrap_or(event.at))
                    .bind(event.at)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok(())
            }

            pub(super) async fn insert_plan(
                &self,
                new: &NewPlan,
                event: &NewInspectionEvent,
            ) -> Result<i64, StoreError> {
                let mut tx = self.begin().await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO inspection_plans (name, site, buildings, scope, asset_group,
                       group_id, category, department, phone, frequency, target_pct, units,
                       checklist, status, next_due_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'active',
                       $14, $15, $15)
                     RETURNING id",
                )
                .bind(&new.name)
                .bind(&new.site)
                .bind(&new.buildings)
                .bind(&new.scope)
                .bind(&new.asset_group)
                .bind(&new.group)
                .bind(&new.category)
                .bind(&new.department)
                .bind(&new.phone)
                .bind(new.frequency)
                .bind(new.target_pct)
                .bind(new.units)
                .bind(&new.checklist)
                .bind(new.next_due_at)
                .bind(new.created_at)
                .fetch_one(&mut *tx)
                .await?;
                let event = NewInspectionEvent {
                    plan_id: id,
                    ..event.clone()
                };
                Self::inspection_side_effects(&mut *tx, &event, &[]).await?;
                tx.commit().await?;
                Ok(id)
            }

            pub(super) async fn inspection_plan(
                &self,
                id: i64,
            ) -> Result<Option<PlanRecord>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM inspection_plans WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            pub(super) async fn inspection_plans(&self) -> Result<Vec<PlanRecord>, StoreError> {
                Ok(sqlx::query_as("SELECT * FROM inspection_plans ORDER BY id")
                    .fetch_all(self.reader())
                    .await?)
            }

            pub(super) async fn set_plan_status(
                &self,
                id: i64,
                next_due_at: Option<DateTime<Utc>>,
                event: &NewInspectionEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // Only from the status the desk decided from.
                let done = sqlx::query(
                    "UPDATE inspection_plans SET status = $2, next_due_at = $3, updated_at = $4
                     WHERE id = $1 AND status = $5",
                )
                .bind(id)
                .bind(event.to)
                .bind(next_due_at)
                .bind(event.at)
                .bind(event.from)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
                Self::inspection_side_effects(&mut *tx, event, &[]).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn due_inspection_plans(
                &self,
                now: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<PlanRecord>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM inspection_plans
                     WHERE status = 'active' AND next_due_at <= $1
                     ORDER BY next_due_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn open_inspection(
                &self,
                job: &NewJob,
                next_due_at: DateTime<Utc>,
                event: &NewInspectionEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<Option<i64>, StoreError> {
                let mut tx = self.begin().await?;
                // The plan moves on to its next period once: another scheduler that read it
                // as due finds it moved and does nothing.
                let moved = sqlx::query(
                    "UPDATE inspection_plans SET next_due_at = $2
                     WHERE id = $1 AND status = 'active' AND next_due_at <= $3",
                )
                .bind(job.plan_id)
                .bind(next_due_at)
                .bind(job.created_at)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    return Ok(None);
                }
                // And a period has one job, whatever happened before.
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO inspection_jobs (plan_id, period, period_start, due_at, group_id,
                       status, checklist, units_planned, target_pct, created_at)
                     VALUES ($1, $2, $3, $4, $5, 'offered', $6, $7, $8, $9)
                     ON CONFLICT (plan_id, period) DO NOTHING
                     RETURNING id",
                )
                .bind(job.plan_id)
                .bind(&job.period)
                .bind(job.period_start)
                .bind(job.due_at)
                .bind(&job.group)
                .bind(&job.checklist)
                .bind(job.units_planned)
                .bind(job.target_pct)
                .bind(job.created_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((id,)) = id else {
                    tx.commit().await?;
                    return Ok(None);
                };
                let event = NewInspectionEvent {
                    job_id: Some(id),
                    ..event.clone()
                };
                let outbox: Vec<NewOutboxMessage> = outbox
                    .iter()
                    .cloned()
                    .map(|mut m| {
                        m.payload["inspection"] = format!("INS-{id}").into();
                        m
                    })
                    .collect();
                Self::inspection_side_effects(&mut *tx, &event, &outbox).await?;
                tx.commit().await?;
                Ok(Some(id))
            }

            pub(super) async fn inspection_jobs(
                &self,
                plan: Option<i64>,
                period: Option<&str>,
                group: Option<&str>,
            ) -> Result<Vec<JobRecord>, StoreError> {
                let sql = format!(
                    "{JOBS} WHERE ($1 IS NULL OR j.plan_id = $1) AND ($2 IS NULL OR j.period = $2)
                       AND ($3 IS NULL OR j.group_id = $3)
                     ORDER BY j.id DESC LIMIT 500"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(plan)
                    .bind(period)
                    .bind(group)
                    .fetch_all(self.reader())
                    .await?)
            }

            pub(super) async fn inspection_job(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
                let sql = format!("{JOBS} WHERE j.id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            pub(super) async fn inspection_checks(&self, job: i64) -> Result<Vec<CheckRecord>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT r.n, r.result, r.note, t.number AS ticket, r.engineer_id, r.at
                     FROM inspection_results r LEFT JOIN tickets t ON t.id = r.ticket_id
                     WHERE r.job_id = $1 ORDER BY r.n",
                )
                .bind(job)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn inspection_events(&self, job: i64) -> Result<Vec<InspectionEvent>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, job_id, at, actor_kind, actor_id, actor_name, action, from_status,
                       to_status, note
                     FROM inspection_events WHERE job_id = $1 ORDER BY id",
                )
                .bind(job)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn inspection_plan_events(&self, plan: i64) -> Result<Vec<InspectionEvent>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, job_id, at, actor_kind, actor_id, actor_name, action, from_status,
                       to_status, note
                     FROM inspection_events WHERE plan_id = $1 AND job_id IS NULL ORDER BY id",
                )
                .bind(plan)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn accept_inspection(
                &self,
                job: i64,
                engineer: EngineerId,
                event: &NewInspectionEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                // First to accept wins: the status guard lets one through.
                let taken = sqlx::query(
                    "UPDATE inspection_jobs SET status = 'in_progress', assignee_id = $2,
                       accepted_at = $3, version = version + 1
                     WHERE id = $1 AND status = 'offered'",
                )
                .bind(job)
                .bind(engineer.0)
                .bind(event.at)
                .execute(&mut *tx)
                .await?;
                if taken.rows_affected() == 0 {
                    return Ok(false);
                }
                Self::inspection_side_effects(&mut *tx, event, outbox).await?;
                tx.commit().await?;
                Ok(true)
            }

            /// Records a check inside `tx` (the job's guard first); `Conflict` if the job
            /// moved or the check is recorded already.
            async fn check_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                check: &NewCheck,
                ticket: Option<TicketId>,
            ) -> Result<(), StoreError> {
                let moved: Option<(i64,)> = sqlx::query_as(BUMP_JOB)
                    .bind(check.job_id)
                    .bind(check.version)
                    .bind(check.engineer.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                if moved.is_none() {
                    return Err(StoreError::Conflict);
                }
                sqlx::query(
                    "INSERT INTO inspection_results (job_id, n, result, note, ticket_id,
                       engineer_id, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(check.job_id)
                .bind(check.n)
                .bind(check.result)
                .bind(&check.note)
                .bind(ticket.map(|t| t.0))
                .bind(check.engineer.0)
                .bind(check.at)
                .execute(&mut *tx)
                .await
                .map_err(|e| match StoreError::from_write(e) {
                    StoreError::Duplicate(_) => StoreError::Conflict,
                    other => other,
                })?;
                Ok(())
            }

            pub(super) async fn record_inspection_check(
                &self,
                check: &NewCheck,
                event: &NewInspectionEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                Self::check_in(&mut *tx, check, None).await?;
                Self::inspection_side_effects(&mut *tx, event, outbox).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn record_inspection_fault(
                &self,
                series: &str,
                year: i32,
                write: &TicketWrite,
                check: &NewCheck,
                event: &NewInspectionEvent,
            ) -> Result<Ticket, StoreError> {
                let mut tx = self.begin().await?;
                // The fault ticket, as `insert_ticket` files one (number, ticket, audit
                // event, messages, clocks), then the check that links it.
                let (seq,): (i64,) = sqlx::query_as(sql::NEXT_NUMBER)
                    .bind(sql::counter(series, year))
                    .fetch_one(&mut *tx)
                    .await?;
                let number = TicketNumber::new(series, year, seq);
                let row = params::bind(
                    sqlx::query(sql::INSERT_TICKET),
                    &params::ticket(&number, &write.ticket)?,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                let stored: Ticket =
                    <rows::TicketRow as sqlx::FromRow<_>>::from_row(&row)?.try_into()?;
                let outbox = super::numbered(&write.outbox, &number);
                Self::write_side_effects(&mut *tx, stored.id, &write.audit, &outbox).await?;
                Self::write_clocks(&mut *tx, stored.id, &write.clocks).await?;
                Self::check_in(&mut *tx, check, Some(stored.id)).await?;
                let event = NewInspectionEvent {
                    note: Some(match &event.note {
                        Some(n) => format!("{}: {n}", number.as_str()),
                        None => number.as_str().to_owned(),
                    }),
                    ..event.clone()
                };
                Self::inspection_side_effects(&mut *tx, &event, &[]).await?;
                tx.commit().await?;
                Ok(stored)
            }

            pub(super) async fn finish_inspection(
                &self,
                close: &JobClose,
                event: &NewInspectionEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE inspection_jobs SET status = 'done', units_inspected = $4,
                       signed_by = $5, finished_at = $6, version = version + 1
                     WHERE id = $1 AND version = $2 AND status = 'in_progress'
                       AND assignee_id = $3",
                )
                .bind(close.job)
                .bind(close.version)
                .bind(close.engineer.0)
                .bind(close.units)
                .bind(&close.signed_by)
                .bind(event.at)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
                Self::inspection_side_effects(&mut *tx, event, outbox).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn inspection_report_jobs(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<Vec<JobRecord>, StoreError> {
                let sql = format!(
                    "{JOBS} WHERE j.period_start >= $1 AND j.period_start < $2 ORDER BY j.id"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reader())
                    .await?)
            }
        }
    };
}

inspections!(SqliteStore, sqlx::Sqlite);
inspections!(PgStore, sqlx::Postgres);
