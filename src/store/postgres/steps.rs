//! The per-message chat calls on PostgreSQL, grouped (see `batch`): each Telegram update
//! is recorded as received, each step reads its person's reporter and conversation, and
//! saves the conversation with its door's record of the update.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;

use super::batch::Batcher;
use crate::store::{Expect, StepRecord, StoreError, rows};

/// Saves (state) or ends (no state) each step's conversation and marks its record, for
/// every row of the arrays at once.
/// A step whose conversation is no longer as it read it (`expected`: its version, null
/// for none) writes nothing, its record neither; the rows of those that wrote come back
/// (`n`, counted from 1), with their conversation's new version (null once ended).
const WRITE_STEPS: &str = "WITH v AS (
       SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                            $5::int8[], $6::text[], $7::text[], $8::text[], $9::int8[],
                            $10::bool[])
         WITH ORDINALITY AS v(channel, external_id, state, at, update_id, replies, event_id,
                              wecom_key, expected, restoring, n)
     ), started AS (
       INSERT INTO conversations (channel, external_id, state, updated_at, version)
       SELECT channel, external_id, state, at, 1 FROM v
       WHERE state IS NOT NULL AND expected IS NULL
       ON CONFLICT (channel, external_id) DO NOTHING
       RETURNING channel, external_id, version
     ), taken AS (
       -- A conversation restored from its draft takes the draft (`Expect::Restoring`).
       DELETE FROM conversation_drafts d USING v, started s
       WHERE v.restoring AND s.channel = v.channel AND s.external_id = v.external_id
         AND d.channel = v.channel AND d.external_id = v.external_id
     ), updated AS (
       UPDATE conversations c SET state = v.state, updated_at = v.at, version = c.version + 1
       FROM v
       WHERE v.state IS NOT NULL AND c.channel = v.channel AND c.external_id = v.external_id
         AND c.version = v.expected
       RETURNING c.channel, c.external_id, c.version
     ), ended AS (
       DELETE FROM conversations c USING v
       WHERE v.state IS NULL AND c.channel = v.channel AND c.external_id = v.external_id
         AND c.version = v.expected
       RETURNING c.channel, c.external_id
     ), ok AS (
       SELECT v.*, w.version AS saved FROM v
       JOIN (SELECT channel, external_id, version FROM started
             UNION ALL SELECT channel, external_id, version FROM updated) w
         ON w.channel = v.channel AND w.external_id = v.external_id
       UNION ALL
       SELECT v.*, NULL FROM v JOIN ended e
         ON e.channel = v.channel AND e.external_id = v.external_id
       UNION ALL
       -- Ending what was not there: nothing to write, nothing to refuse.
       SELECT v.*, NULL FROM v WHERE v.state IS NULL AND v.expected IS NULL
     ), discord AS (
       UPDATE discord_events e SET handled_at = ok.at FROM ok WHERE e.event_id = ok.event_id
     ), telegram AS (
       UPDATE telegram_updates u SET handled_at = ok.at, replies = ok.replies
       FROM ok WHERE u.update_id = ok.update_id
     ), wecom AS (
       UPDATE wecom_inbox w SET handled_at = ok.at FROM ok
       WHERE w.msg_key = ok.wecom_key AND w.handled_at IS NULL
     )
     SELECT n, saved FROM ok";

/// The reporter behind each chat identity with their conversation, and whether the
/// identity is also an engineer's (as `sql::reporter_with_conversation`, for many).
const READ_PEOPLE: &str =
    "SELECT v.n, r.*, c.state AS conversation, c.updated_at AS conversation_at,
       c.version AS conversation_version,
       CASE v.channel
         WHEN 'telegram' THEN EXISTS (SELECT 1 FROM engineers e WHERE e.telegram_id = i.external_id)
         WHEN 'discord' THEN EXISTS (SELECT 1 FROM engineers e WHERE e.discord_id = i.external_id)
         WHEN 'web' THEN EXISTS (SELECT 1 FROM engineers e WHERE e.web_id = i.external_id)
         WHEN 'wecom' THEN EXISTS (SELECT 1 FROM engineers e WHERE e.wecom_id = i.external_id)
         WHEN 'console-engineer' THEN TRUE
         ELSE FALSE
       END AS engineer
     FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS v(channel, external_id, n)
     JOIN reporter_identities i ON i.channel = v.channel AND i.external_id = v.external_id
     JOIN reporters r ON r.id = i.reporter_id
     LEFT JOIN conversations c ON c.channel = i.channel AND c.external_id = i.external_id";

/// Records each Telegram update as received (claimed for handling at once where `claim`:
/// attempt 1), for every row of the arrays at once; the ids that were new come back.
const RECEIVE_TELEGRAM: &str =
    "INSERT INTO telegram_updates (update_id, body, received_at, started_at, attempts)
     SELECT v.update_id, v.body, v.at, CASE WHEN v.claim THEN v.at END,
            CASE WHEN v.claim THEN 1 ELSE 0 END
     FROM UNNEST($1::int8[], $2::text[], $3::timestamptz[], $4::bool[])
       AS v(update_id, body, at, claim)
     ON CONFLICT (update_id) DO NOTHING
     RETURNING update_id";

/// A Telegram update to record as received.
pub(super) struct Receipt {
    pub update_id: i64,
    pub body: String,
    pub now: DateTime<Utc>,
    pub claim: bool,
}

/// One step to save.
pub(super) struct Step {
    pub channel: String,
    pub external_id: String,
    pub state: Option<String>,
    pub now: DateTime<Utc>,
    pub record: StepRecord,
    pub expect: Expect,
}

/// A chat identity to look up: (channel, external id).
pub(super) type Identity = (String, String);

/// The grouped calls.
#[derive(Debug, Clone)]
pub(super) struct Steps {
    /// Whether each update was new (a webhook's request, or one of a polled batch).
    pub receipts: Batcher<Receipt, bool>,
    /// Each step's new conversation version (`None` once ended), or `Conflict`.
    pub saves: Batcher<Step, Result<Option<i64>, StoreError>>,
    pub people: Batcher<Identity, Option<rows::ReporterConversationRow>>,
}

impl Steps {
    /// Starts the groupings, each with at most `in_flight` statements at once.
    pub(super) fn start(pool: &PgPool, in_flight: usize) -> Steps {
        Steps {
            receipts: Batcher::start(pool.clone(), in_flight, |_| None, receive),
            // One person's steps come one at a time; the key keeps it so regardless.
            saves: Batcher::start(
                pool.clone(),
                in_flight,
                |s: &Step| Some(format!("{}\u{0}{}", s.channel, s.external_id)),
                save,
            ),
            people: Batcher::start(pool.clone(), in_flight, |_| None, read),
        }
    }
}

async fn receive(pool: PgPool, receipts: Vec<Receipt>) -> Result<Vec<bool>, sqlx::Error> {
    let mut ids = Vec::with_capacity(receipts.len());
    let mut bodies = Vec::with_capacity(receipts.len());
    let mut times = Vec::with_capacity(receipts.len());
    let mut claims = Vec::with_capacity(receipts.len());
    for r in &receipts {
        ids.push(r.update_id);
        bodies.push(r.body.as_str());
        times.push(r.now);
        claims.push(r.claim);
    }
    let mut new: HashSet<i64> = sqlx::query_as::<_, (i64,)>(RECEIVE_TELEGRAM)
        .bind(&ids)
        .bind(bodies)
        .bind(times)
        .bind(claims)
        .fetch_all(&pool)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    // An update received twice at once (a polled batch holding it twice, or two
    // deliveries racing): only its first copy is new.
    Ok(ids.iter().map(|id| new.remove(id)).collect())
}

async fn save(
    pool: PgPool,
    steps: Vec<Step>,
) -> Result<Vec<Result<Option<i64>, StoreError>>, sqlx::Error> {
    let n = steps.len();
    let (mut expected, mut restoring) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut channels, mut ids, mut states, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut wecom_keys = Vec::with_capacity(n);
    let (mut updates, mut replies, mut events) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in &steps {
        channels.push(s.channel.as_str());
        ids.push(s.external_id.as_str());
        states.push(s.state.as_deref());
        times.push(s.now);
        expected.push(match s.expect {
            Expect::Absent | Expect::Restoring => None,
            Expect::At(v) => Some(v),
        });
        restoring.push(s.expect == Expect::Restoring);
        match &s.record {
            StepRecord::TelegramHandled {
                update_id,
                replies: r,
            } => {
                updates.push(Some(*update_id));
                replies.push(Some(r.as_str()));
                events.push(None);
                wecom_keys.push(None);
            }
            StepRecord::DiscordHandled { event_id } => {
                updates.push(None);
                replies.push(None);
                events.push(Some(event_id.as_str()));
                wecom_keys.push(None);
            }
            StepRecord::WecomHandled { key } => {
                updates.push(None);
                replies.push(None);
                events.push(None);
                wecom_keys.push(Some(key.as_str()));
            }
        }
    }
    let written: Vec<(i64, Option<i64>)> = sqlx::query_as(WRITE_STEPS)
        .bind(channels)
        .bind(ids)
        .bind(states)
        .bind(times)
        .bind(updates)
        .bind(replies)
        .bind(events)
        .bind(wecom_keys)
        .bind(expected)
        .bind(restoring)
        .fetch_all(&pool)
        .await?;
    let mut answers: Vec<Result<Option<i64>, StoreError>> =
        (0..n).map(|_| Err(StoreError::Conflict)).collect();
    for (row, saved) in written {
        // ORDINALITY counts from 1.
        if let Some(slot) = usize::try_from(row - 1)
            .ok()
            .and_then(|i| answers.get_mut(i))
        {
            *slot = Ok(saved);
        }
    }
    Ok(answers)
}

/// A looked-up row with its place in the batch.
#[derive(sqlx::FromRow)]
struct Numbered {
    n: i64,
    #[sqlx(flatten)]
    row: rows::ReporterConversationRow,
}

async fn read(
    pool: PgPool,
    people: Vec<Identity>,
) -> Result<Vec<Option<rows::ReporterConversationRow>>, sqlx::Error> {
    let (channels, ids): (Vec<&str>, Vec<&str>) =
        people.iter().map(|(c, e)| (c.as_str(), e.as_str())).unzip();
    let found: Vec<Numbered> = sqlx::query_as(READ_PEOPLE)
        .bind(channels)
        .bind(ids)
        .fetch_all(&pool)
        .await?;
    let mut answers: Vec<Option<rows::ReporterConversationRow>> =
        people.iter().map(|_| None).collect();
    for f in found {
        // ORDINALITY counts from 1.
        if let Some(slot) = usize::try_from(f.n - 1)
            .ok()
            .and_then(|i| answers.get_mut(i))
        {
            *slot = Some(f.row);
        }
    }
    Ok(answers)
}
