//! Direct SQLite calls for the per-message chat path (and the ticket a chat files).
//!
//! sqlx runs every statement on its connection's own thread: two context switches per
//! statement, which cost more than the statements a chat message needs (a point read, an
//! upsert). So on SQLite that path's reads run on connections of our own, in the calling
//! task, and its writes run in the group commit (`writer.rs`) on the writer connection's
//! handle, borrowed from sqlx: one hand-off per batch instead of one per statement (a
//! ticket's insert is eight or so statements). Same library (the libsqlite3-sys sqlx
//! links), same file, same transactions and durability.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, named_params};
use sqlx::SqliteConnection;

use crate::domain::ticket::{Ticket, TicketNumber};
use crate::domain::{ReporterId, TicketId};
use crate::store::params::{self, Param};
use crate::store::{
    Expect, Reporter, StepRecord, StoreError, StoredConversation, TicketWrite, sql,
};

/// Idle read connections kept open (reads run to completion without yielding, so no more
/// than the runtime's threads are ever in use at once).
const KEEP_IDLE: usize = 8;

/// Read-only connections to the database file, used in the calling thread.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs a read on an idle connection (opening one if none is idle).
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle().pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
        };
        let result = f(&conn);
        let mut idle = self.idle();
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        result
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `f` on the SQLite handle of a sqlx connection, in the calling thread.
pub(super) async fn with_handle<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&Connection) -> T,
) -> Result<T, StoreError> {
    let mut locked = conn.lock_handle().await?;
    // SAFETY: the handle is open for as long as `locked` lives, and nobody else uses it
    // meanwhile (sqlx's thread waits for the lock). The wrapper does not close the handle,
    // finalises its own statements when dropped, and is dropped before `locked`.
    let db = unsafe { Connection::from_handle(locked.as_raw_handle().as_ptr()) }?;
    let out = f(&db);
    drop(db);
    drop(locked);
    Ok(out)
}

/// A time as sqlx stores `DateTime<Utc>` in SQLite (RFC 3339), so both compare alike.
pub(in crate::store) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A stored time: RFC 3339, or SQLite's own `YYYY-MM-DD HH:MM:SS` form.
pub(super) fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%F %T%.f").map(|t| t.and_utc()))
        .map_err(|_| StoreError::Corrupt(format!("time `{s}`")))
}

/// A reporter, their conversation in progress (state, last activity) and whether they
/// are also a linked engineer.
type Found = (Reporter, Option<StoredConversation>, bool);

/// As `Store::reporter_with_conversation`, on a read connection.
pub(super) fn reporter_with_conversation(
    db: &Connection,
    sql: &str,
    channel: &str,
    external_id: &str,
) -> Result<Option<Found>, StoreError> {
    let row = db
        .prepare_cached(sql)?
        .query_row([channel, external_id], |r| {
            Ok((
                Reporter {
                    id: ReporterId(r.get("id")?),
                    name: r.get("name")?,
                    department: r.get("department")?,
                    phone: r.get("phone")?,
                    vip: r.get("vip")?,
                    language: r.get("language")?,
                },
                r.get::<_, Option<String>>("conversation")?,
                r.get::<_, Option<String>>("conversation_at")?,
                r.get::<_, Option<i64>>("conversation_version")?,
                r.get::<_, bool>("engineer")?,
            ))
        })
        .optional()?;
    let Some((reporter, state, at, version, engineer)) = row else {
        return Ok(None);
    };
    let conversation = match (state, at, version) {
        (Some(state), Some(at), Some(version)) => Some(StoredConversation {
            state,
            at: parse_time(&at)?,
            version,
        }),
        _ => None,
    };
    Ok(Some((reporter, conversation, engineer)))
}

/// A conversation's state (`None` ends it) and, if given, its door's record of the step,
/// in the caller's transaction, if the conversation is as `expect` says: its new version
/// (`None` once ended), else `Conflict` (the caller's transaction is then rolled back).
pub(super) fn save_conversation(
    db: &Connection,
    (channel, external_id, state): (&str, &str, Option<&str>),
    now: DateTime<Utc>,
    record: Option<&StepRecord>,
    expect: Expect,
) -> Result<Option<i64>, StoreError> {
    let now = time(now);
    let (changed, version) = match (state, expect) {
        // Ending what is not there.
        (None, Expect::Absent | Expect::Restoring) => (1, None),
        (None, Expect::At(v)) => (
            db.prepare_cached(sql::END_CONVERSATION_AT)?
                .execute((channel, external_id, v))?,
            None,
        ),
        (Some(state), expect @ (Expect::Absent | Expect::Restoring)) => {
            let started = db.prepare_cached(sql::START_CONVERSATION)?.execute((
                channel,
                external_id,
                state,
                &now,
            ))?;
            if started == 1 && expect == Expect::Restoring {
                db.prepare_cached(sql::TAKE_DRAFT)?
                    .execute((channel, external_id))?;
            }
            (started, Some(1))
        }
        // By name: SQLite numbers `$N` parameters in the order they appear.
        (Some(state), Expect::At(v)) => (
            db.prepare_cached(sql::UPDATE_CONVERSATION)?
                .execute(named_params! {
                    "$1": channel, "$2": external_id, "$3": state, "$4": &now, "$5": v,
                })?,
            Some(v + 1),
        ),
    };
    if changed != 1 {
        return Err(StoreError::Conflict);
    }
    if let Some(record) = record {
        step_record(db, record, &now)?;
    }
    Ok(version)
}

/// A door's record of a chat step (`now` as [`time`] writes it), in the caller's
/// transaction.
pub(super) fn step_record(
    db: &Connection,
    record: &StepRecord,
    now: &str,
) -> Result<(), StoreError> {
    match record {
        StepRecord::TelegramHandled { update_id, replies } => {
            telegram_handled(db, *update_id, now, replies)
        }
        StepRecord::DiscordHandled { event_id } => {
            db.prepare_cached(crate::store::discord::HANDLED)?
                .execute(named_params! { "$1": event_id, "$2": now })?;
            Ok(())
        }
        StepRecord::WecomHandled { key } => wecom_handled(db, key, now).map(|_| ()),
    }
}

/// As `Store::telegram_handled` (`now` as [`time`] writes it), in the caller's transaction.
pub(super) fn telegram_handled(
    db: &Connection,
    update_id: i64,
    now: &str,
    replies: &str,
) -> Result<(), StoreError> {
    db.prepare_cached(crate::store::telegram::HANDLED)?
        .execute(named_params! { "$1": update_id, "$2": now, "$3": replies })?;
    Ok(())
}

/// As the PostgreSQL store's `insert_ticket`, in the caller's transaction. The ticket
/// returned is the one written, with its id, number and first version: SQLite gives back
/// exactly what it was given, so there is nothing to read back.
pub(super) fn insert_ticket(
    db: &Connection,
    series: &str,
    year: i32,
    remember_reporter: bool,
    write: &TicketWrite,
) -> Result<Ticket, StoreError> {
    let t = &write.ticket;
    let i = &t.intake;
    let seq: i64 = db
        .prepare_cached(sql::NEXT_NUMBER)?
        .query_row([sql::counter(series, year)], |r| r.get(0))?;
    let number = TicketNumber::new(series, year, seq);
    let id: i64 = {
        let mut insert = db.prepare_cached(sql::INSERT_TICKET)?;
        bind_numbered(&mut insert, &params::ticket(&number, t)?)?;
        let mut rows = insert.raw_query();
        match rows.next()? {
            Some(row) => row.get("id")?,
            None => {
                return Err(StoreError::WriteFailed(
                    "the ticket was not inserted".into(),
                ));
            }
        }
    };
    let stored = Ticket {
        id: TicketId(id),
        number: number.clone(),
        version: 1,
        ..t.clone()
    };
    let created = time(t.created_at);
    if remember_reporter {
        db.prepare_cached(sql::REMEMBER_REPORTER)?
            .execute(named_params! {
                "$1": t.reporter.0,
                "$2": i.department.as_str(),
                "$3": i.phone.as_str(),
                "$4": &created,
            })?;
    }
    let outbox = crate::store::numbered(&write.outbox, &number);
    let (audit, messages) = crate::store::side_effects_sql(outbox.len());
    let side_effects = params::side_effects(stored.id, &write.audit, &outbox);
    execute_numbered(db, audit, &side_effects)?;
    if let Some(messages) = messages {
        execute_numbered(db, &messages, &side_effects)?;
    }
    if !write.clocks.is_empty() {
        let sql = crate::store::clocks_sql(write.clocks.len());
        execute_numbered(db, &sql, &params::clocks(stored.id, &write.clocks))?;
    }
    if let Some((channel, external_id, expect)) = &write.end_conversation {
        save_conversation(
            db,
            (channel, external_id, None),
            t.created_at,
            None,
            *expect,
        )?;
        for (n, file_ref) in (1..).zip(&i.photos) {
            db.prepare_cached(sql::ADD_ATTACHMENT)?
                .execute((id, n, channel, file_ref, &created))?;
        }
    }
    if let Some(record) = &write.record {
        step_record(db, &record.numbered(&number), &created)?;
    }
    Ok(stored)
}

/// Binds `params` to `$1`, `$2`, … by name: SQLite numbers named parameters in the order
/// they first appear, not by their digits, and a statement may skip some (the outbox
/// insert shares the audit insert's list).
pub(super) fn bind_numbered(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[Param<'_>],
) -> Result<(), StoreError> {
    for (n, p) in (1..).zip(params) {
        if let Some(at) = stmt.parameter_index(&format!("${n}"))? {
            stmt.raw_bind_parameter(at, p)?;
        }
    }
    Ok(())
}

/// Runs a statement with `$n` parameters (see [`bind_numbered`]).
fn execute_numbered(db: &Connection, sql: &str, params: &[Param<'_>]) -> Result<(), StoreError> {
    let mut stmt = db.prepare_cached(sql)?;
    bind_numbered(&mut stmt, params)?;
    stmt.raw_execute()?;
    Ok(())
}

/// The draft kept since `since`, if any (most reports have none).
pub(super) fn kept_draft(
    db: &Connection,
    channel: &str,
    external_id: &str,
    since: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(db
        .prepare_cached(sql::KEPT_DRAFT)?
        .query_row((channel, external_id, time(since)), |r| r.get(0))
        .optional()?)
}

/// As `Store::telegram_receive`, in the caller's transaction.
pub(super) fn telegram_receive(
    db: &Connection,
    updates: &[(i64, String)],
    now: DateTime<Utc>,
    claim: bool,
) -> Result<Vec<bool>, StoreError> {
    let (started, attempts) = if claim {
        (Some(time(now)), 1)
    } else {
        (None, 0)
    };
    let now = time(now);
    let mut insert = db.prepare_cached(
        "INSERT INTO telegram_updates (update_id, body, received_at, started_at, attempts)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (update_id) DO NOTHING",
    )?;
    // A batch may hold one id twice: only its first copy is new.
    updates
        .iter()
        .map(|(id, body)| Ok(insert.execute((id, body, &now, &started, attempts))? == 1))
        .collect()
}

/// As `Store::discord_receive`, in the caller's transaction: false for an id seen before.
pub(super) fn discord_receive(
    db: &Connection,
    event_id: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = db
        .prepare_cached(crate::store::discord::RECEIVE)?
        .execute(named_params! { "$1": event_id, "$2": kind, "$3": time(now) })?;
    Ok(inserted == 1)
}

/// As `Store::wecom_receive`, in the caller's transaction: false for a key seen before.
pub(super) fn wecom_receive(
    db: &Connection,
    key: &str,
    kind: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = db
        .prepare_cached(crate::store::wecom::RECEIVE)?
        .execute(named_params! { "$1": key, "$2": kind, "$3": body, "$4": time(now) })?;
    Ok(inserted == 1)
}

/// As `Store::wecom_handled` (`now` as [`time`] writes it), in the caller's transaction:
/// false if it was marked already.
pub(super) fn wecom_handled(db: &Connection, key: &str, now: &str) -> Result<bool, StoreError> {
    let marked = db
        .prepare_cached(crate::store::wecom::HANDLED)?
        .execute(named_params! { "$1": key, "$2": now })?;
    Ok(marked == 1)
}

/// As `Store::wecom_count_sends`, in the caller's transaction: whether they were counted.
pub(super) fn wecom_count_sends(
    db: &Connection,
    member: &str,
    n: i64,
    now: DateTime<Utc>,
    per_minute: i64,
    per_hour: i64,
) -> Result<bool, StoreError> {
    let (ms, minute, hour) = crate::store::wecom::windows(now);
    let mut count = db.prepare_cached(crate::store::wecom::COUNT_SENDS)?;
    // The statement returns the row it counted in (none when they did not fit).
    let mut counted = count.query(named_params! {
        "$1": member, "$2": n, "$3": ms, "$4": minute, "$5": hour,
        "$6": per_minute, "$7": per_hour,
    })?;
    Ok(counted.next()?.is_some())
}

/// As `Store::telegram_sent`, in the caller's transaction.
pub(super) fn telegram_sent(
    db: &Connection,
    update_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = time(now);
    let mut mark =
        db.prepare_cached("UPDATE telegram_updates SET sent_at = $1 WHERE update_id = $2")?;
    for id in update_ids {
        mark.execute((&now, id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_sqlx_writes_them_and_read_back() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T03:04:05.123456+00:00")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        assert_eq!(time(t), "2026-12-02T03:04:05.123456+00:00");
        assert_eq!(parse_time(&time(t)).expect("parses"), t);
        let plain = parse_time("2026-12-02 03:04:05").expect("parses");
        assert_eq!(time(plain), "2026-12-02T03:04:05+00:00");
        assert!(matches!(
            parse_time("yesterday"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
