//! The per-message chat path on PostgreSQL: a conversation saved with its door's record in
//! one transaction, Telegram updates received (grouped, in `steps`),
//! Discord events by id, WeCom callbacks by key and WeCom's sends counted, each in one
//! statement.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::{
    Expect, Reporter, SendCounts, StepRecord, StoreError, StoredConversation, discord, rows, sql,
    telegram, wecom,
};

/// `sql::START_CONVERSATION` for a conversation restored from the person's draft, which
/// it takes (`$1` channel, `$2` external id, `$3` state, `$4` time): one row if started.
const START_RESTORED: &str = "WITH started AS (
       INSERT INTO conversations (channel, external_id, state, updated_at, version)
       VALUES ($1, $2, $3, $4, 1)
       ON CONFLICT (channel, external_id) DO NOTHING
       RETURNING channel, external_id
     ), taken AS (
       DELETE FROM conversation_drafts d USING started s
       WHERE d.channel = s.channel AND d.external_id = s.external_id
     )
     SELECT 1 FROM started";

impl PgStore {
    /// Saves (or, with `state: None`, ends) a conversation on an open transaction if it is
    /// as `expect` says: its new version (`None` once ended), else `Conflict`.
    pub(in crate::store) async fn save_conversation_in(
        tx: &mut <sqlx::Postgres as sqlx::Database>::Connection,
        (channel, external_id): (&str, &str),
        state: Option<&str>,
        now: DateTime<Utc>,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        let (query, version) = match (state, expect) {
            // Ending what is not there.
            (None, Expect::Absent | Expect::Restoring) => return Ok(None),
            (None, Expect::At(v)) => (
                sqlx::query(sql::END_CONVERSATION_AT)
                    .bind(channel)
                    .bind(external_id)
                    .bind(v),
                None,
            ),
            (Some(state), Expect::Absent) => (
                sqlx::query(sql::START_CONVERSATION)
                    .bind(channel)
                    .bind(external_id)
                    .bind(state)
                    .bind(now),
                Some(1),
            ),
            // One statement, so that a plain connection takes the draft atomically too.
            (Some(state), Expect::Restoring) => (
                sqlx::query(START_RESTORED)
                    .bind(channel)
                    .bind(external_id)
                    .bind(state)
                    .bind(now),
                Some(1),
            ),
            (Some(state), Expect::At(v)) => (
                sqlx::query(sql::UPDATE_CONVERSATION)
                    .bind(channel)
                    .bind(external_id)
                    .bind(state)
                    .bind(now)
                    .bind(v),
                Some(v + 1),
            ),
        };
        match query.execute(&mut *tx).await?.rows_affected() {
            1 => Ok(version),
            _ => Err(StoreError::Conflict),
        }
    }

    pub(in crate::store) async fn save_conversation(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        let mut c = self.pool.acquire().await?;
        let key = (channel, external_id);
        Self::save_conversation_in(&mut c, key, state.as_deref(), now, expect).await
    }

    pub(in crate::store) async fn reporter_with_conversation(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<(Reporter, Option<StoredConversation>, bool)>, StoreError> {
        // With other people's lookups, in one statement (see `steps`).
        let row = self
            .steps
            .people
            .call((channel.to_owned(), external_id.to_owned()))
            .await?;
        Ok(row.map(rows::ReporterConversationRow::split))
    }

    pub(in crate::store) async fn kept_draft(
        &self,
        channel: &str,
        external_id: &str,
        drafts_since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let draft: Option<(String,)> = sqlx::query_as(sql::KEPT_DRAFT)
            .bind(channel)
            .bind(external_id)
            .bind(drafts_since)
            .fetch_optional(&self.pool)
            .await?;
        Ok(draft.map(|(state,)| state))
    }
}

impl PgStore {
    pub(in crate::store) async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        // With other people's steps, in one statement (see `steps`).
        self.steps
            .saves
            .call(super::steps::Step {
                channel: channel.to_owned(),
                external_id: external_id.to_owned(),
                state,
                now,
                record,
                expect,
            })
            .await?
    }
}

impl PgStore {
    pub(in crate::store) async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
        claim: bool,
    ) -> Result<Vec<bool>, StoreError> {
        // Each with whatever else is being received (see `steps`); a polled batch's
        // updates go together.
        let receipts = updates.iter().map(|(update_id, body)| {
            self.steps.receipts.call(super::steps::Receipt {
                update_id: *update_id,
                body: body.clone(),
                now,
                claim,
            })
        });
        futures_util::future::try_join_all(receipts).await
    }

    pub(in crate::store) async fn telegram_renew(
        &self,
        update_id: i64,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut c = self.pool.acquire().await?;
        Self::telegram_renew_in(&mut c, update_id, attempt, now).await
    }

    pub(in crate::store) async fn telegram_claim(
        &self,
        update_id: i64,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<i32>, StoreError> {
        let mut tx = self.begin().await?;
        let attempts = Self::telegram_claim_in(&mut tx, update_id, now, stale_before).await?;
        tx.commit().await?;
        Ok(attempts)
    }

    pub(in crate::store) async fn telegram_handled(
        &self,
        update_id: i64,
        replies: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(telegram::HANDLED)
            .bind(update_id)
            .bind(now)
            .bind(replies)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn telegram_sent(
        &self,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // One statement text whatever the count: prepared once per connection.
        sqlx::query("UPDATE telegram_updates SET sent_at = $1 WHERE update_id = ANY($2)")
            .bind(now)
            .bind(update_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl PgStore {
    pub(in crate::store) async fn discord_receive(
        &self,
        event_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One statement: atomic without a transaction of its own.
        let done = sqlx::query(discord::RECEIVE)
            .bind(event_id)
            .bind(kind)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(in crate::store) async fn discord_handled(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(discord::HANDLED)
            .bind(event_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn wecom_receive(
        &self,
        key: &str,
        kind: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One statement: atomic without a transaction of its own.
        let done = sqlx::query(wecom::RECEIVE)
            .bind(key)
            .bind(kind)
            .bind(body)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(in crate::store) async fn wecom_handled(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(wecom::HANDLED)
            .bind(key)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(in crate::store) async fn wecom_count_sends(
        &self,
        member: &str,
        n: i64,
        now: DateTime<Utc>,
        per_minute: i64,
        per_hour: i64,
    ) -> Result<Option<SendCounts>, StoreError> {
        let (ms, minute, hour) = wecom::windows(now);
        let counted = sqlx::query(wecom::COUNT_SENDS)
            .bind(member)
            .bind(n)
            .bind(ms)
            .bind(minute)
            .bind(hour)
            .bind(per_minute)
            .bind(per_hour)
            .execute(&self.pool)
            .await?;
        if counted.rows_affected() == 1 {
            return Ok(None);
        }
        Ok(Some(self.wecom_sends(member).await?))
    }
}
