//! The per-message chat path on SQLite: a person and their conversation read on our own
//! connections in the calling thread; a conversation saved (with its door's record), a
//! Telegram update received, handled and sent, a Discord event or WeCom callback received
//! and handled, and WeCom's sends counted, each as direct calls in the group commit.

use chrono::{DateTime, Utc};

use super::{SqliteStore, direct};
use crate::store::{Expect, Reporter, SendCounts, StepRecord, StoreError, StoredConversation, sql};

/// One write on SQLite: queued for the group commit (the work may run twice, so it owns
/// its inputs).
macro_rules! grouped {
    ($self:ident, |$c:ident| $body:expr) => {
        $self.batch.run(move |$c| Box::pin($body)).await
    };
}

impl SqliteStore {
    pub(in crate::store) async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
        claim: bool,
    ) -> Result<Vec<bool>, StoreError> {
        let updates = updates.to_vec();
        self.batch
            .run_direct(move |db| direct::telegram_receive(db, &updates, now, claim))
            .await
    }

    pub(in crate::store) async fn telegram_renew(
        &self,
        update_id: i64,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        grouped!(self, |c| Self::telegram_renew_in(
            c, update_id, attempt, now
        ))
    }

    pub(in crate::store) async fn telegram_claim(
        &self,
        update_id: i64,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<i32>, StoreError> {
        grouped!(self, |c| Self::telegram_claim_in(
            c,
            update_id,
            now,
            stale_before
        ))
    }

    pub(in crate::store) async fn telegram_handled(
        &self,
        update_id: i64,
        replies: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let replies = replies.to_owned();
        self.batch
            .run_direct(move |db| {
                direct::telegram_handled(db, update_id, &direct::time(now), &replies)
            })
            .await
    }

    pub(in crate::store) async fn telegram_sent(
        &self,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids = update_ids.to_vec();
        self.batch
            .run_direct(move |db| direct::telegram_sent(db, &ids, now))
            .await
    }
}

impl SqliteStore {
    pub(in crate::store) async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        let (channel, external_id) = (channel.to_owned(), external_id.to_owned());
        self.batch
            .run_direct(move |db| {
                let key = (channel.as_str(), external_id.as_str(), state.as_deref());
                direct::save_conversation(db, key, now, Some(&record), expect)
            })
            .await
    }
}

impl SqliteStore {
    pub(in crate::store) async fn save_conversation(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        let (channel, external_id) = (channel.to_owned(), external_id.to_owned());
        self.batch
            .run_direct(move |db| {
                let key = (channel.as_str(), external_id.as_str(), state.as_deref());
                direct::save_conversation(db, key, now, None, expect)
            })
            .await
    }

    pub(in crate::store) async fn reporter_with_conversation(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<(Reporter, Option<StoredConversation>, bool)>, StoreError> {
        self.readers.read(|db| {
            let sql = sql::reporter_with_conversation(channel);
            direct::reporter_with_conversation(db, sql, channel, external_id)
        })
    }

    pub(in crate::store) async fn kept_draft(
        &self,
        channel: &str,
        external_id: &str,
        drafts_since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.readers
            .read(|db| direct::kept_draft(db, channel, external_id, drafts_since))
    }

    pub(in crate::store) async fn discord_receive(
        &self,
        event_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (id, kind) = (event_id.to_owned(), kind.to_owned());
        self.batch
            .run_direct(move |db| direct::discord_receive(db, &id, &kind, now))
            .await
    }

    pub(in crate::store) async fn discord_handled(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = StepRecord::DiscordHandled {
            event_id: event_id.to_owned(),
        };
        self.batch
            .run_direct(move |db| direct::step_record(db, &record, &direct::time(now)))
            .await
    }

    pub(in crate::store) async fn wecom_receive(
        &self,
        key: &str,
        kind: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key, kind, body) = (key.to_owned(), kind.to_owned(), body.to_owned());
        self.batch
            .run_direct(move |db| direct::wecom_receive(db, &key, &kind, &body, now))
            .await
    }

    pub(in crate::store) async fn wecom_handled(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.batch
            .run_direct(move |db| direct::wecom_handled(db, &key, &direct::time(now)))
            .await
    }

    pub(in crate::store) async fn wecom_count_sends(
        &self,
        member: &str,
        n: i64,
        now: DateTime<Utc>,
        per_minute: i64,
        per_hour: i64,
    ) -> Result<Option<SendCounts>, StoreError> {
        let owned = member.to_owned();
        let counted = self
            .batch
            .run_direct(move |db| {
                direct::wecom_count_sends(db, &owned, n, now, per_minute, per_hour)
            })
            .await?;
        if counted {
            return Ok(None);
        }
        Ok(Some(self.wecom_sends(member).await?))
    }
}
