//! A report filed on PostgreSQL: the ticket with its audit event, messages, clocks and
//! photos, the end of the conversation that filed it and the door's record of that step,
//! in one statement. One statement is atomic without a transaction of its own, and makes
//! one round trip where a transaction made eight to ten; under load each of those waited
//! its turn for the database, which made "Submit" the slowest step of a report.

use sqlx::postgres::PgPool;

use crate::store::{
    Expect, StepRecord, StoreError, Ticket, TicketNumber, TicketWrite, numbered, params, rows, sql,
};

/// Files a ticket (`$1`–`$44` as `params::ticket` lists them) if the conversation that
/// filed it is still as that step read it: `$45` channel, `$46` external id, `$47` its
/// version (null: nothing to end). No row back means it was not (nothing is written).
/// `$48` whether to remember the reporter's department and phone; `$49`–`$56` the audit
/// event; `$57`–`$61` the messages and `$62`–`$72` the clocks, as arrays; `$73` the
/// photos' references on the channel's door; `$74`–`$77` the door's record of the step.
const FILE_REPORT: &str = concat!(
    "WITH ended AS (
       DELETE FROM conversations WHERE channel = $45 AND external_id = $46 AND version = $47
       RETURNING 1
     ), go AS (
       SELECT 1 WHERE $47::int8 IS NULL OR EXISTS (SELECT 1 FROM ended)
     ), ticket AS (
       INSERT INTO tickets (",
    sql::ticket_columns!(),
    ") SELECT ",
    sql::ticket_values!(),
    " FROM go
       RETURNING *
     ), remembered AS (
       UPDATE reporters r SET department = t.department, phone = t.phone,
         updated_at = t.created_at
       FROM ticket t WHERE $48 AND r.id = t.reporter_id
     ), audit AS (
       INSERT INTO audit_events (ticket_id, at, actor_kind, actor_id, actor_name, action,
         from_status, to_status, note)
       SELECT t.id, $49, $50, $51, $52, $53, $54, $55, $56 FROM ticket t
     ), outbox AS (
       INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload, status,
         attempts, next_attempt_at, created_at)
       SELECT t.id, m.kind, m.id, m.event, m.payload, 'pending', 0, m.not_before, $49
       FROM ticket t, UNNEST($57::text[], $58::int8[], $59::text[], $60::text[],
                             $61::timestamptz[]) AS m(kind, id, event, payload, not_before)
     ), clocks AS (
       INSERT INTO sla_clocks (ticket_id, kind, status, open, budget_secs, used_secs, since,
         due_at, warned, breaches, steps, next_at)
       SELECT t.id, c.* FROM ticket t,
         UNNEST($62::text[], $63::text[], $64::bool[], $65::int8[], $66::int8[],
                $67::timestamptz[], $68::timestamptz[], $69::bool[], $70::int4[],
                $71::int4[], $72::timestamptz[]) AS c
     ), photos AS (
       -- Photos are references on the door they came through: its door fetches them
       -- later (see store/attachments.rs).
       INSERT INTO attachments (ticket_id, n, door, file_ref, next_try_at)
       SELECT t.id, p.n, $45, p.file_ref, t.created_at
       FROM ticket t, UNNEST($73::text[]) WITH ORDINALITY AS p(file_ref, n)
     ), telegram AS (
       UPDATE telegram_updates u SET handled_at = t.created_at, replies = $75
       FROM ticket t WHERE u.update_id = $74
     ), discord AS (
       UPDATE discord_events e SET handled_at = t.created_at
       FROM ticket t WHERE e.event_id = $76
     ), wecom AS (
       UPDATE wecom_inbox w SET handled_at = t.created_at
       FROM ticket t WHERE w.msg_key = $77 AND w.handled_at IS NULL
     )
     SELECT * FROM ticket"
);

/// Writes a new ticket numbered `number` with everything that goes with it (see
/// `FILE_REPORT`).
pub(super) async fn file(
    pool: &PgPool,
    number: &TicketNumber,
    remember: bool,
    write: &TicketWrite,
) -> Result<Ticket, StoreError> {
    let t = &write.ticket;
    let a = &write.audit;
    let (channel, external_id, expected) = match &write.end_conversation {
        Some((channel, external_id, expect)) => (
            Some(channel.as_str()),
            Some(external_id.as_str()),
            match expect {
                Expect::At(v) => Some(*v),
                Expect::Absent | Expect::Restoring => None,
            },
        ),
        None => (None, None, None),
    };
    // Photos are fetched through the door of the conversation that filed them.
    let photos: &[String] = if channel.is_some() {
        &t.intake.photos
    } else {
        &[]
    };

    // The desk wrote the notices before the ticket had its number.
    let outbox = numbered(&write.outbox, number);
    let n = outbox.len();
    let (mut kinds, mut ids, mut events, mut payloads, mut not_before) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in &outbox {
        let (kind, id) = m.to.parts();
        kinds.push(kind);
        ids.push(id);
        events.push(m.event.as_str());
        payloads.push(m.payload.to_string());
        not_before.push(m.not_before.unwrap_or(a.at));
    }

    let c = &write.clocks;
    let record = write.record.as_ref().map(|r| r.numbered(number));
    let (update_id, replies, event_id, wecom_key) = match &record {
        Some(StepRecord::TelegramHandled { update_id, replies }) => {
            (Some(*update_id), Some(replies.as_str()), None, None)
        }
        Some(StepRecord::DiscordHandled { event_id }) => {
            (None, None, Some(event_id.as_str()), None)
        }
        Some(StepRecord::WecomHandled { key }) => (None, None, None, Some(key.as_str())),
        None => (None, None, None, None),
    };

    let row = params::bind(sqlx::query(FILE_REPORT), &params::ticket(number, t)?)
        .bind(channel)
        .bind(external_id)
        .bind(expected)
        .bind(remember)
        .bind(a.at)
        .bind(a.actor.kind)
        .bind(a.actor.id.as_deref())
        .bind(&a.actor.name)
        .bind(&a.action)
        .bind(a.from.map(|s| s.as_str()))
        .bind(a.to.as_str())
        .bind(a.note.as_deref())
        .bind(kinds)
        .bind(ids)
        .bind(events)
        .bind(payloads)
        .bind(not_before)
        .bind(c.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.open).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.budget.num_seconds()).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.used.num_seconds()).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.since).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.due_at).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.warned).collect::<Vec<_>>())
        .bind(
            c.iter()
                .map(|c| params::int4(c.breaches))
                .collect::<Vec<_>>(),
        )
        .bind(c.iter().map(|c| params::int4(c.steps)).collect::<Vec<_>>())
        .bind(c.iter().map(|c| c.next_at).collect::<Vec<_>>())
        .bind(photos)
        .bind(update_id)
        .bind(replies)
        .bind(event_id)
        .bind(wecom_key)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::from_write)?;
    let Some(row) = row else {
        return Err(StoreError::Conflict);
    };
    <rows::TicketRow as sqlx::FromRow<_>>::from_row(&row)?.try_into()
}
