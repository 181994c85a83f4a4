//! Statement parameters as values: one list per statement, bound by sqlx (both backends)
//! or by direct SQLite calls (`sqlite/direct.rs`), so a statement's columns are written once.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use sqlx::{Database, Encode, Type};

use super::sqlite::sqlite_time;
use super::{NewAuditEvent, NewOutboxMessage, StoreError, rows};
use crate::domain::TicketId;
use crate::domain::clocks::SlaClock;
use crate::domain::ticket::{Ticket, TicketNumber};

/// One parameter (`$n` is the n-th of a statement's list).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Param<'a> {
    /// BIGINT.
    Int(Option<i64>),
    /// INTEGER (PostgreSQL tells the two apart).
    Int4(Option<i32>),
    Text(Option<Cow<'a, str>>),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
}

impl<'a> Param<'a> {
    fn text(s: &'a str) -> Param<'a> {
        Param::Text(Some(Cow::Borrowed(s)))
    }

    fn owned(s: String) -> Param<'a> {
        Param::Text(Some(Cow::Owned(s)))
    }

    fn text_opt(s: Option<&'a str>) -> Param<'a> {
        Param::Text(s.map(Cow::Borrowed))
    }

    fn count(n: u32) -> Param<'a> {
        Param::Int4(Some(int4(n)))
    }
}

/// A count as an INTEGER column holds it (saturating).
pub(super) fn int4(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Binds `params` in order onto a sqlx query (`$1`, `$2`, …).
pub(super) fn bind<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as Database>::Arguments>,
    params: &[Param<'_>],
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments>
where
    DB: Database,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i32>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> Option<DateTime<Utc>>: Encode<'t, DB> + Type<DB>,
{
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(*v),
            Param::Int4(v) => q.bind(*v),
            Param::Text(v) => q.bind(v.as_deref()),
            Param::Bool(v) => q.bind(*v),
            Param::Time(v) => q.bind(*v),
        };
    }
    q
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let null = ToSqlOutput::Owned(Value::Null);
        Ok(match self {
            Param::Int(v) => v.map_or(null, |i| ToSqlOutput::Owned(Value::Integer(i))),
            Param::Int4(v) => v.map_or(null, |i| ToSqlOutput::Owned(Value::Integer(i.into()))),
            Param::Text(v) => v.as_deref().map_or(null, |s| {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }),
            Param::Bool(b) => ToSqlOutput::Owned(Value::Integer((*b).into())),
            // As sqlx writes times to SQLite, so both paths' times compare alike.
            Param::Time(v) => v.map_or(null, |t| ToSqlOutput::Owned(Value::Text(sqlite_time(t)))),
        })
    }
}

/// `sql::INSERT_TICKET`'s parameters.
pub(super) fn ticket<'a>(
    number: &'a TicketNumber,
    t: &'a Ticket,
) -> Result<Vec<Param<'a>>, StoreError> {
    let i = &t.intake;
    let photos =
        serde_json::to_string(&i.photos).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(vec![
        Param::text(number.as_str()),
        Param::owned(rows::enum_text(&i.kind)),
        Param::text(t.status.as_str()),
        Param::text(t.priority.as_str()),
        Param::owned(rows::enum_text(&t.impact)),
        Param::owned(rows::enum_text(&t.urgency)),
        Param::Int(Some(t.reporter.0)),
        Param::text(i.reporter_name.as_str()),
        Param::text(i.department.as_str()),
        Param::text(i.phone.as_str()),
        Param::text(i.location.site.as_str()),
        Param::text_opt(i.location.building.as_ref().map(|p| p.as_str())),
        Param::text_opt(i.location.room.as_ref().map(|p| p.as_str())),
        Param::text_opt(i.device.asset_tag.as_ref().map(|a| a.as_str())),
        Param::text_opt(i.device.model.as_ref().map(|p| p.as_str())),
        Param::Text(i.device.ip.map(|ip| Cow::Owned(ip.to_string()))),
        Param::text(&i.category),
        Param::text(i.description.as_str()),
        Param::Time(i.started_at),
        Param::count(i.people_affected),
        Param::Bool(t.vip),
        Param::owned(photos),
        Param::text(&t.group),
        Param::text(t.tier.as_str()),
        Param::Int(t.assignee.map(|e| e.0)),
        Param::Int(t.offered_to.map(|e| e.0)),
        Param::text_opt(t.work_mode.map(|m| m.as_str())),
        Param::Time(t.arrived_at),
        Param::text_opt(t.pending_reason.map(|p| p.as_str())),
        Param::text_opt(t.cause.as_ref().map(|n| n.as_str())),
        Param::text_opt(t.solution.as_ref().map(|n| n.as_str())),
        Param::text_opt(t.closure.map(|c| c.as_str())),
        Param::count(t.reopen_count),
        Param::count(t.escalation_level),
        Param::Time(t.response_due_at),
        Param::Time(t.resolution_due_at),
        Param::Time(Some(t.created_at)),
        Param::Time(Some(t.updated_at)),
        Param::Time(t.accepted_at),
        Param::Time(t.resolved_at),
        Param::Time(t.closed_at),
        Param::text(i.channel.as_str()),
        Param::Time(i.received_at),
        Param::Time(t.next_due_at),
    ])
}

/// The audit insert's parameters and, after them, the outbox insert's (see
/// `side_effects_sql`: both statements number them alike).
pub(super) fn side_effects<'a>(
    ticket: TicketId,
    a: &'a NewAuditEvent,
    outbox: &'a [NewOutboxMessage],
) -> Vec<Param<'a>> {
    let mut params = vec![
        Param::Int(Some(ticket.0)),
        Param::Time(Some(a.at)),
        Param::text(a.actor.kind),
        Param::text_opt(a.actor.id.as_deref()),
        Param::text(&a.actor.name),
        Param::text(&a.action),
        Param::text_opt(a.from.map(|s| s.as_str())),
        Param::text(a.to.as_str()),
        Param::text_opt(a.note.as_deref()),
    ];
    for m in outbox {
        let (kind, id) = m.to.parts();
        params.extend([
            Param::text(kind),
            Param::Int(Some(id)),
            Param::text(&m.event),
            Param::owned(m.payload.to_string()),
            Param::Time(Some(m.not_before.unwrap_or(a.at))),
        ]);
    }
    params
}

/// `clocks_sql`'s parameters.
pub(super) fn clocks(ticket: TicketId, clocks: &[SlaClock]) -> Vec<Param<'static>> {
    let mut params = vec![Param::Int(Some(ticket.0))];
    for c in clocks {
        params.extend([
            Param::text(c.kind.as_str()),
            Param::text(c.status.as_str()),
            Param::Bool(c.open),
            Param::Int(Some(c.budget.num_seconds())),
            Param::Int(Some(c.used.num_seconds())),
            Param::Time(c.since),
            Param::Time(c.due_at),
            Param::Bool(c.warned),
            Param::count(c.breaches),
            Param::count(c.steps),
            Param::Time(c.next_at),
        ]);
    }
    params
}
