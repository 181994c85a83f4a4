//! The Telegram door's own tables: updates as received (so a crash loses none and a
//! repeated update has one effect), and the one-time codes engineers link their accounts
//! with.

use chrono::{DateTime, Utc};

use super::{Expect, PgStore, SqliteStore, StepRecord, Store, StoreError};
use crate::domain::EngineerId;

/// A received update not finished yet: `(update_id, body, replies)`, where `replies` is
/// set once it was handled (the replies still to send).
pub type PendingUpdate = (i64, String, Option<String>);

/// How many failed `/link` attempts a chat identity may make in how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLimit {
    /// Failures that lock the identity out.
    pub failures: i32,
    /// The window they are counted in, from the first; the lock lasts until it passes.
    pub window: chrono::Duration,
}

/// What became of a `/link` attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The identity is now this engineer's.
    Linked(EngineerId),
    /// A wrong, expired or used code (counted).
    Refused,
    /// Too many failures: no code is tried until then.
    Locked {
        /// When the identity may try again.
        until: DateTime<Utc>,
    },
}

/// An update handled: `$1` its id, `$2` the time, `$3` the replies to send (JSON).
pub(super) const HANDLED: &str =
    "UPDATE telegram_updates SET handled_at = $2, replies = $3 WHERE update_id = $1";

/// The door's small per-update writes that both backends share, as functions of a
/// connection: SQLite runs them in its group commit (shared with conversation saves, so
/// one transaction carries many people's steps), PostgreSQL in a transaction each. The
/// writes on every message's path are each backend's own (`sqlite/chat.rs`,
/// `postgres/chat.rs`).
macro_rules! telegram_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn telegram_claim_in(
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

            pub(super) async fn telegram_renew_in(
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
                // Not the ones someone is handling or sending right now (begun after
                // `stale_before`): their worker has them (its sent marks follow the sends
                // in batches), and if it died they show up once that is stale. A handled
                // update was begun: only unclaimed ones have no start.
                Ok(sqlx::query_as(
                    "SELECT update_id, body, replies FROM telegram_updates
                     WHERE sent_at IS NULL AND (started_at IS NULL OR started_at < $2)
                     ORDER BY update_id LIMIT $1",
                )
                .bind(limit)
                .bind(stale_before)
                .fetch_all(self.reader())
                .await?)
            }

            async fn telegram_release(&self, update_ids: &[i64]) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let mut n = 0;
                for id in update_ids {
                    // Only a claim taken on receipt and never begun (attempt 1, no result).
                    n += sqlx::query(
                        "UPDATE telegram_updates SET started_at = NULL, attempts = 0
                         WHERE update_id = $1 AND attempts = 1 AND handled_at IS NULL",
                    )
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(n)
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
                limit: LinkLimit,
            ) -> Result<Redeemed, StoreError> {
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
                    "web" => (
                        "UPDATE engineers SET web_id = NULL WHERE web_id = $1",
                        "UPDATE engineers SET web_id = $2 WHERE id = $1",
                    ),
                    "wecom" => (
                        "UPDATE engineers SET wecom_id = NULL WHERE wecom_id = $1",
                        "UPDATE engineers SET wecom_id = $2 WHERE id = $1",
                    ),
                    _ => return Ok(Redeemed::Refused),
                };
                let mut tx = self.begin().await?;
                // The identity's failures in its current window (a window that has passed
                // starts again). Taking the row first serialises attempts of one identity,
                // however many instances receive them.
                let (failures, window_start): (i32, DateTime<Utc>) = sqlx::query_as(
                    "INSERT INTO link_attempts (channel, external_id, failures, window_start)
                     VALUES ($1, $2, 0, $3)
                     ON CONFLICT (channel, external_id) DO UPDATE SET
                       failures = CASE WHEN link_attempts.window_start <= $4 THEN 0
                                       ELSE link_attempts.failures END,
                       window_start = CASE WHEN link_attempts.window_start <= $4 THEN $3
                                           ELSE link_attempts.window_start END
                     RETURNING failures, window_start",
                )
                .bind(channel)
                .bind(external_id)
                .bind(now)
                .bind(now - limit.window)
                .fetch_one(&mut *tx)
                .await?;
                if failures >= limit.failures {
                    tx.commit().await?;
                    return Ok(Redeemed::Locked {
                        until: window_start + limit.window,
                    });
                }
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
                    let (failures, window_start): (i32, DateTime<Utc>) = sqlx::query_as(
                        "UPDATE link_attempts SET failures = failures + 1
                         WHERE channel = $1 AND external_id = $2
                         RETURNING failures, window_start",
                    )
                    .bind(channel)
                    .bind(external_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(if failures >= limit.failures {
                        Redeemed::Locked {
                            until: window_start + limit.window,
                        }
                    } else {
                        Redeemed::Refused
                    });
                };
                // A success starts the count again.
                sqlx::query("DELETE FROM link_attempts WHERE channel = $1 AND external_id = $2")
                    .bind(channel)
                    .bind(external_id)
                    .execute(&mut *tx)
                    .await?;
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
                Ok(Redeemed::Linked(EngineerId(id)))
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
    /// in one transaction (on SQLite, one group commit), if the conversation is as `expect`
    /// says: its new version (`None` once ended), else `Conflict` and nothing is written.
    pub async fn save_conversation_with(
        &self,
        channel: &str,
        external_id: &str,
        state: Option<String>,
        now: DateTime<Utc>,
        record: StepRecord,
        expect: Expect,
    ) -> Result<Option<i64>, StoreError> {
        on_backend!(self.save_conversation_with(channel, external_id, state, now, record, expect))
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

    /// Gives back updates recorded as begun when they were received but never handled
    /// (a stopping worker could not get to them): the next worker handles them as new,
    /// not as cut short by a crash. Returns how many were given back.
    pub async fn telegram_release(&self, update_ids: &[i64]) -> Result<u64, StoreError> {
        on_backend!(self.telegram_release(update_ids))
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

    /// Uses a link code from the chat identity (`channel`, `external_id`), all in one
    /// transaction: refused while the identity has `limit.failures` failed attempts in a
    /// window that has not passed (a right code too); otherwise, if the code exists, is
    /// unused and unexpired, links the identity to its engineer and forgets its failures;
    /// a wrong, expired or used code counts as a failure and changes nothing else.
    pub async fn redeem_link_code(
        &self,
        code_hash: &str,
        channel: &str,
        external_id: &str,
        now: DateTime<Utc>,
        limit: LinkLimit,
    ) -> Result<Redeemed, StoreError> {
        on_backend!(self.redeem_link_code(code_hash, channel, external_id, now, limit))
    }
}
