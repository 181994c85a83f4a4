//! The Telegram door's own tables: updates as received (so a crash loses none and a
//! repeated update has one effect), job cards posted in group chats, and the one-time
//! codes engineers link their accounts with.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, Store, StoreError};
use crate::domain::EngineerId;

/// A job card in a group chat.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Card {
    /// The ticket number.
    pub ticket: String,
    /// The group chat.
    pub chat_id: i64,
    /// The card message (`None` while it is being posted).
    pub message_id: Option<i64>,
    /// The text as posted.
    pub text: String,
    /// The id of the engineer who took the job, once the card shows it.
    pub taken_by: Option<String>,
}

/// The outcome of [`Store::telegram_card_claim`] (and, with a Discord card, of
/// `Store::discord_card_claim`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardClaim<C = Card> {
    /// Nobody posted the card yet: the caller posts it, then calls
    /// [`Store::telegram_card_posted`] (or [`Store::telegram_card_release`] on failure).
    Post,
    /// Already posted.
    Posted(C),
    /// Someone else is posting it right now.
    Busy,
}

impl<C> CardClaim<C> {
    /// Whether the caller must post the card.
    pub fn must_post(&self) -> bool {
        matches!(self, CardClaim::Post)
    }

    /// The card, if it is posted.
    pub fn posted(self) -> Option<C> {
        match self {
            CardClaim::Posted(c) => Some(c),
            _ => None,
        }
    }
}

/// A received update not finished yet: `(update_id, body, replies)`, where `replies` is
/// set once it was handled (the replies still to send).
pub type PendingUpdate = (i64, String, Option<String>);

/// The door's small per-update writes, as functions of a connection: SQLite runs them in
/// the store's group commit (shared with conversation saves, so one transaction carries
/// many people's steps), PostgreSQL in a transaction each.
macro_rules! telegram_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn telegram_receive_in(
                c: &mut <$db as sqlx::Database>::Connection,
                updates: &[(i64, String)],
                now: DateTime<Utc>,
            ) -> Result<Vec<bool>, StoreError> {
                let mut new = Vec::with_capacity(updates.len());
                for (update_id, body) in updates {
                    let done = sqlx::query(
                        "INSERT INTO telegram_updates (update_id, body, received_at) VALUES ($1, $2, $3)
                         ON CONFLICT (update_id) DO NOTHING",
                    )
                    .bind(update_id)
                    .bind(body)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                    new.push(done.rows_affected() == 1);
                }
                Ok(new)
            }

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

            async fn telegram_handled_in(
                c: &mut <$db as sqlx::Database>::Connection,
                update_id: i64,
                replies: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE telegram_updates SET handled_at = $2, replies = $3 WHERE update_id = $1",
                )
                .bind(update_id)
                .bind(now)
                .bind(replies)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn telegram_sent_in(
                c: &mut <$db as sqlx::Database>::Connection,
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
    };
}

telegram_writes!(SqliteStore, sqlx::Sqlite);
telegram_writes!(PgStore, sqlx::Postgres);

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
    ) -> Result<Vec<bool>, StoreError> {
        let updates = Arc::new(updates.to_vec());
        grouped!(self, |c| {
            let updates = updates.clone();
            async move { Self::telegram_receive_in(c, &updates, now).await }
        })
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
        let replies = Arc::new(replies.to_owned());
        grouped!(self, |c| {
            let replies = replies.clone();
            async move { Self::telegram_handled_in(c, update_id, &replies, now).await }
        })
    }

    async fn telegram_sent(
        &self,
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids = Arc::new(update_ids.to_vec());
        grouped!(self, |c| {
            let ids = ids.clone();
            async move { Self::telegram_sent_in(c, &ids, now).await }
        })
    }
}

impl PgStore {
    async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.begin().await?;
        let new = Self::telegram_receive_in(&mut tx, updates, now).await?;
        tx.commit().await?;
        Ok(new)
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

            async fn telegram_pending(&self, limit: i64) -> Result<Vec<PendingUpdate>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT update_id, body, replies FROM telegram_updates
                     WHERE sent_at IS NULL ORDER BY update_id LIMIT $1",
                )
                .bind(limit)
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

            async fn telegram_card_claim(
                &self,
                ticket: &str,
                chat_id: i64,
                now: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<CardClaim, StoreError> {
                let mut tx = self.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO telegram_cards (ticket, chat_id, claimed_at) VALUES ($1, $2, $3)
                     ON CONFLICT (ticket, chat_id) DO NOTHING",
                )
                .bind(ticket)
                .bind(chat_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // A posting that began long ago and never finished was cut short.
                let taken_over = inserted == 0
                    && sqlx::query(
                        "UPDATE telegram_cards SET claimed_at = $3
                         WHERE ticket = $1 AND chat_id = $2 AND message_id IS NULL AND claimed_at < $4",
                    )
                    .bind(ticket)
                    .bind(chat_id)
                    .bind(now)
                    .bind(stale_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                let claim = if inserted == 1 || taken_over {
                    CardClaim::Post
                } else {
                    let card: Option<Card> = sqlx::query_as(
                        "SELECT ticket, chat_id, message_id, text, taken_by FROM telegram_cards
                         WHERE ticket = $1 AND chat_id = $2",
                    )
                    .bind(ticket)
                    .bind(chat_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match card {
                        Some(c) if c.message_id.is_some() => CardClaim::Posted(c),
                        _ => CardClaim::Busy,
                    }
                };
                tx.commit().await?;
                Ok(claim)
            }

            async fn telegram_card_posted(
                &self,
                ticket: &str,
                chat_id: i64,
                message_id: i64,
                text: &str,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE telegram_cards SET message_id = $3, text = $4 WHERE ticket = $1 AND chat_id = $2",
                )
                .bind(ticket)
                .bind(chat_id)
                .bind(message_id)
                .bind(text)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn telegram_card_release(&self, ticket: &str, chat_id: i64) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "DELETE FROM telegram_cards WHERE ticket = $1 AND chat_id = $2 AND message_id IS NULL",
                )
                .bind(ticket)
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn telegram_card(&self, ticket: &str, chat_id: i64) -> Result<Option<Card>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT ticket, chat_id, message_id, text, taken_by FROM telegram_cards
                     WHERE ticket = $1 AND chat_id = $2 AND message_id IS NOT NULL",
                )
                .bind(ticket)
                .bind(chat_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn telegram_card_at(&self, chat_id: i64, message_id: i64) -> Result<Option<Card>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT ticket, chat_id, message_id, text, taken_by FROM telegram_cards
                     WHERE chat_id = $1 AND message_id = $2",
                )
                .bind(chat_id)
                .bind(message_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn telegram_card_taken(
                &self,
                ticket: &str,
                chat_id: i64,
                taken_by: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE telegram_cards SET taken_by = $3
                     WHERE ticket = $1 AND chat_id = $2 AND taken_by IS NULL",
                )
                .bind(ticket)
                .bind(chat_id)
                .bind(taken_by)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
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
                sqlx::query("DELETE FROM conversations WHERE channel = $1 AND external_id = $2")
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
    /// for each, false if its id was seen before (nothing changes for it then).
    pub async fn telegram_receive(
        &self,
        updates: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        on_backend!(self.telegram_receive(updates, now))
    }

    /// The getUpdates offset that confirms every recorded update: the highest id + 1
    /// (0 when none was recorded yet).
    pub async fn telegram_next_offset(&self) -> Result<i64, StoreError> {
        on_backend!(self.telegram_next_offset())
    }

    /// Up to `limit` updates whose handling or replies are not finished, oldest first.
    pub async fn telegram_pending(&self, limit: i64) -> Result<Vec<PendingUpdate>, StoreError> {
        on_backend!(self.telegram_pending(limit))
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

    /// Claims the posting of `ticket`'s job card in group chat `chat_id` (a posting
    /// begun before `stale_before` and never finished is taken over).
    pub async fn telegram_card_claim(
        &self,
        ticket: &str,
        chat_id: i64,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<CardClaim, StoreError> {
        on_backend!(self.telegram_card_claim(ticket, chat_id, now, stale_before))
    }

    /// Records the posted card's message id and text.
    pub async fn telegram_card_posted(
        &self,
        ticket: &str,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self.telegram_card_posted(ticket, chat_id, message_id, text))
    }

    /// Gives up a claimed posting that failed, so it can be tried again.
    pub async fn telegram_card_release(
        &self,
        ticket: &str,
        chat_id: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self.telegram_card_release(ticket, chat_id))
    }

    /// `ticket`'s posted card in `chat_id`.
    pub async fn telegram_card(
        &self,
        ticket: &str,
        chat_id: i64,
    ) -> Result<Option<Card>, StoreError> {
        on_backend!(self.telegram_card(ticket, chat_id))
    }

    /// The card that is message `message_id` of `chat_id`, if it is one.
    pub async fn telegram_card_at(
        &self,
        chat_id: i64,
        message_id: i64,
    ) -> Result<Option<Card>, StoreError> {
        on_backend!(self.telegram_card_at(chat_id, message_id))
    }

    /// Records who took the card's job; false if that was recorded already.
    pub async fn telegram_card_taken(
        &self,
        ticket: &str,
        chat_id: i64,
        taken_by: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self.telegram_card_taken(ticket, chat_id, taken_by))
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
