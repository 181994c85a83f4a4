//! The Telegram door's own tables: updates as received (so a crash loses none and a
//! repeated update has one effect), and the one-time codes engineers link their accounts
//! with.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StepRecord, Store, StoreError, direct};
use crate::domain::EngineerId;

/// A received update not finished yet: `(update_id, body, replies)`, where `replies` is
/// set once it was handled (the replies still to send).
pub type PendingUpdate = (i64, String, Option<String>);

/// Updates written per INSERT (two parameters each, well under SQLite's limit).
const RECEIVE_CHUNK: usize = 200;

/// An update handled: `$1` its id, `$2` the time, `$3` the replies to send (JSON).
pub(super) const HANDLED: &str =
    "UPDATE telegram_updates SET handled_at = $2, replies = $3 WHERE update_id = $1";

/// The door's small per-update writes, as functions of a connection: SQLite runs them in
/// the store's group commit (shared with conversation saves, so one transaction carries
/// many people's steps), PostgreSQL in a transaction each. Those on every message's path
/// are direct SQLite calls on SQLite (`direct.rs`), so only PostgreSQL's are here.
macro_rules! telegram_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn telegram_claim_in(
                c: &mut <$db as sqlx::Database>::Connection,
                update_id: i64,
                now: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<Option<i32>, StoreError> {
                let attempts: Option<(i32,)> = sqlx::query_as(
                    "UPDATE telegram_updates SET started_at = $2, attempts = attempts + 1
                     WHERE update_id = $1 AND handled_at IS NULL
                       AND (started_at IS NULL OR started_at < $3)
                     RETURNING attempts",
                )
                .bind(update_id)
                .bind(now)
                .bind(stale_before)
                .fetch_optional(&mut *c)
                .await?;
                Ok(attempts.map(|(a,)| a))
            }

            async fn telegram_renew_in(
                c: &mut <$db as sqlx::Database>::Connection,
                update_id: i64,
                attempt: i32,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                // Still ours only if nobody counted another attempt since.
                let done = sqlx::query(
                    "UPDATE telegram_updates SET started_at = $2
                     WHERE update_id = $1 AND attempts = $3 AND handled_at IS NULL",
                )
                .bind(update_id)
                .bind(now)
                .bind(attempt)
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

telegram_writes!(SqliteStore, sqlx::Sqlite);
telegram_writes!(PgStore, sqlx::Postgres);

impl PgStore {
    async fn telegram_handled_in(
        c: &mut sqlx::PgConnection,
        update_id: i64,
        replies: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(HANDLED)
            .bind(update_id)
            .bind(now)
            .bind(replies)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Writes a door's record of a chat step, in the caller's transaction.
    pub(super) async fn step_record_in(
        c: &mut sqlx::PgConnection,
        record: &StepRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match record {
            StepRecord::TelegramHandled { update_id, replies } => {
                Self::telegram_handled_in(c, *update_id, replies, now).await
            }
            StepRecord::DiscordHandled { event_id } => {
                sqlx::query(super::discord::HANDLED)
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }
        }
    }

    async fn telegram_receive_in(
        c: &mut sqlx::PgConnection,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
        claim: bool,
    ) -> Result<Vec<bool>, StoreError> {
        // One statement per chunk (a polled batch is up to 100): each statement is a
        // round trip to the server. Claimed rows start as attempt 1.
        let (started, attempts) = if claim { (Some(now), 1) } else { (None, 0) };
        let mut inserted = HashSet::with_capacity(updates.len());
        for chunk in updates.chunks(RECEIVE_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO telegram_updates (update_id, body, received_at, started_at, attempts) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let p = 4 + i * 2;
                sql.push_str(&format!("(${p}, ${}, $1, $2, $3)", p + 1));
            }
            sql.push_str(" ON CONFLICT (update_id) DO NOTHING RETURNING update_id");
            let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(started)
                .bind(attempts);
            for (update_id, body) in chunk {
                q = q.bind(update_id).bind(body);
            }
            inserted.extend(q.fetch_all(&mut *c).await?.into_iter().map(|(id,)| id));
        }
        // A batch may hold one id twice: only its first copy is new.
        Ok(updates.iter().map(|(id, _)| inserted.remove(id)).collect())
    }

    async fn telegram_sent_in(
        c: &mut sqlx::PgConnection,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in update_ids.chunks(500) {
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE telegram_updates SET sent_at = $1 WHERE update_id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut *c).await?;
        }
        Ok(())
    }
}

/// One write on SQLite: queued for the group commit (the work may run twice, so it owns
/// its inputs).
macro_rules! grouped {
    ($self:ident, |$c:ident| $body:expr) => {
        $self.batch.run(move |$c| Box::pin($body)).await
    };
}

impl SqliteStore {
    async fn telegram_receive(
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

    async fn telegram_renew(
        &self,
        update_id: i64,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        grouped!(self, |c| Self::telegram_renew_in(
            c, update_id, attempt, now
        ))
    }

    async fn telegram_claim(
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

    async fn telegram_handled(
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

    async fn telegram_sent(
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
    async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
    ) -> Result<(), StoreError> {
        let (channel, external_id) = (channel.to_owned(), external_id.to_owned());
        self.batch
            .run_direct(move |db| {
                let key = (channel.as_str(), external_id.as_str(), state.as_deref());
                direct::save_conversation_with(db, key, now, &record)
            })
            .await
    }
}

impl PgStore {
    async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        Self::save_conversation_in(&mut tx, channel, external_id, state.as_deref(), now).await?;
        Self::step_record_in(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl PgStore {
    async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
        claim: bool,
    ) -> Result<Vec<bool>, StoreError> {
        if updates.len() <= RECEIVE_CHUNK {
            // One statement: atomic without a transaction of its own.
            let mut c = self.pool.acquire().await?;
            return Self::telegram_receive_in(&mut c, updates, now, claim).await;
        }
        let mut tx = self.begin().await?;
        let new = Self::telegram_receive_in(&mut tx, updates, now, claim).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn telegram_renew(
        &self,
        update_id: i64,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut c = self.pool.acquire().await?;
        Self::telegram_renew_in(&mut c, update_id, attempt, now).await
    }

    async fn telegram_claim(
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

    async fn telegram_handled(
        &self,
        update_id: i64,
        replies: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.acquire().await?;
        Self::telegram_handled_in(&mut c, update_id, replies, now).await
    }

    async fn telegram_sent(
        &self,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.acquire().await?;
        Self::telegram_sent_in(&mut c, update_ids, now).await
    }
}

macro_rules! telegram_sql {
    ($store:ty) => {
        impl $store {
            async fn telegram_next_offset(&self) -> Result<i64, StoreError> {
                let (max,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(update_id) FROM telegram_updates")
                        .fetch_one(self.reader())
                        .await?;
                Ok(max.map_or(0, |m| m + 1))
            }

            async fn telegram_pending(
                &self,
                limit: i64,
                stale_before: DateTime<Utc>,
            ) -> Result<Vec<PendingUpdate>, StoreError> {
                // Not the ones someone is handling right now (a fresh lease): their worker
                // has them, and if it died they show up once the lease is stale.
                Ok(sqlx::query_as(
                    "SELECT update_id, body, replies FROM telegram_updates
                     WHERE sent_at IS NULL
                       AND (handled_at IS NOT NULL OR started_at IS NULL OR started_at < $2)
                     ORDER BY update_id LIMIT $1",
                )
                .bind(limit)
                .bind(stale_before)
                .fetch_all(self.reader())
                .await?)
            }

            async fn telegram_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                // The newest row stays: the polling offset is read from it.
                let done = sqlx::query(
                    "DELETE FROM telegram_updates WHERE sent_at IS NOT NULL AND received_at < $1
                     AND update_id < (SELECT MAX(update_id) FROM telegram_updates)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn issue_link_code(
                &self,
                engineer: EngineerId,
                code_hash: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // One live code per engineer: a new one replaces any unused one.
                sqlx::query("DELETE FROM engineer_link_codes WHERE engineer_id = $1 AND used_at IS NULL")
                    .bind(engineer.0)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO engineer_link_codes (code_hash, engineer_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(code_hash)
                .bind(engineer.0)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_link_code(
                &self,
                code_hash: &str,
                channel: &str,
                external_id: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<EngineerId>, StoreError> {
                // The identity moves to this engineer (from another one, if it was linked).
                let (unlink, link) = match channel {
                    "telegram" => (
                        "UPDATE engineers SET telegram_id = NULL WHERE telegram_id = $1",
                        "UPDATE engineers SET telegram_id = $2 WHERE id = $1",
                    ),
                    "discord" => (
                        "UPDATE engineers SET discord_id = NULL WHERE discord_id = $1",
                        "UPDATE engineers SET discord_id = $2 WHERE id = $1",
                    ),
                    _ => return Ok(None),
                };
                let mut tx = self.begin().await?;
                let engineer: Option<(i64,)> = sqlx::query_as(
                    "UPDATE engineer_link_codes SET used_at = $2
                     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
                     RETURNING engineer_id",
                )
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((id,)) = engineer else {
                    return Ok(None);
                };
                sqlx::query(unlink).bind(external_id).execute(&mut *tx).await?;
                sqlx::query(link)
                    .bind(id)
                    .bind(external_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                // A conversation begun as a reporter does not carry over to the engineer.
                sqlx::query(super::sql::END_CONVERSATION)
                    .bind(channel)
                    .bind(external_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(EngineerId(id)))
            }
        }
    };
}

telegram_sql!(SqliteStore);
telegram_sql!(PgStore);

macro_rules! on_backend {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Records received Telegram updates `(update_id, body)`, all in one transaction;
    /// for each, false if its id was seen before (nothing changes for it then). With
    /// `claim`, the new ones are recorded as begun (attempt 1, as [`Store::telegram_claim`]
    /// would): for updates handed straight to a running worker, which saves a write.
    pub async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
        claim: bool,
    ) -> Result<Vec<bool>, StoreError> {
        on_backend!(self.telegram_receive(updates, now, claim))
    }

    /// Renews the lease on an update begun as attempt `attempt` (it waited in line):
    /// false if it was taken over or handled meanwhile.
    pub async fn telegram_renew(
        &self,
        update_id: i64,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_backend!(self.telegram_renew(update_id, attempt, now))
    }

    /// The getUpdates offset that confirms every recorded update: the highest id + 1
    /// (0 when none was recorded yet).
    pub async fn telegram_next_offset(&self) -> Result<i64, StoreError> {
        on_backend!(self.telegram_next_offset())
    }

    /// Up to `limit` updates whose handling or replies are not finished, oldest first,
    /// leaving out those whose handling began at or after `stale_before` and is not
    /// finished (someone is at them).
    pub async fn telegram_pending(
        &self,
        limit: i64,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<PendingUpdate>, StoreError> {
        on_backend!(self.telegram_pending(limit, stale_before))
    }

    /// Starts handling an update: returns the attempt number (1 the first time), or
    /// `None` if it was handled already or someone started it after `stale_before`.
    pub async fn telegram_claim(
        &self,
        update_id: i64,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<i32>, StoreError> {
        on_backend!(self.telegram_claim(update_id, now, stale_before))
    }

    /// Saves a conversation's state (`None` ends it) and the door's record of the step,
    /// in one transaction (on SQLite, one group commit).
    pub async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
    ) -> Result<(), StoreError> {
        on_backend!(self.save_conversation_with(channel, external_id, state, now, record))
    }

    /// Marks an update handled, with the replies (JSON) still to send.
    pub async fn telegram_handled(
        &self,
        update_id: i64,
        replies: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self.telegram_handled(update_id, replies, now))
    }

    /// Marks updates' replies sent: they are finished.
    pub async fn telegram_sent(
        &self,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self.telegram_sent(update_ids, now))
    }

    /// Forgets finished updates received before `before` (keeping the newest).
    pub async fn telegram_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self.telegram_prune(before))
    }

    /// Stores a one-time link code (its hash) for an engineer, replacing any unused one.
    pub async fn issue_link_code(
        &self,
        engineer: EngineerId,
        code_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_backend!(self.issue_link_code(engineer, code_hash, now, expires_at))
    }

    /// Uses a link code: if it exists, is unused and unexpired, links the chat identity
    /// (`telegram` or `discord`) to its engineer, all in one transaction, and returns the
    /// engineer; `None` (and nothing changes) for a wrong, expired or used code.
    pub async fn redeem_link_code(
        &self,
        code_hash: &str,
        channel: &str,
        external_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EngineerId>, StoreError> {
        on_backend!(self.redeem_link_code(code_hash, channel, external_id, now))
    }
}
