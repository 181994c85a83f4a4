//! The Discord door's tables: gateway events by id, so that an event dispatched twice
//! (Discord replays after a RESUME) is handled once; and job cards posted in engineer
//! groups' channels.

use chrono::{DateTime, Utc};

use super::telegram::CardClaim;
use super::{PgStore, SqliteStore, Store, StoreError};

/// A job card in an engineer group's Discord channel (snowflakes as text).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DiscordCard {
    /// The ticket number.
    pub ticket: String,
    /// The channel.
    pub channel_id: String,
    /// The card message (`None` while it is being posted).
    pub message_id: Option<String>,
    /// The text as posted.
    pub text: String,
    /// The id of the engineer who took the job, once the card shows it.
    pub taken_by: Option<String>,
}

macro_rules! discord_sql {
    ($store:ty) => {
        impl $store {
            async fn discord_receive(
                &self,
                event_id: &str,
                kind: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "INSERT INTO discord_events (event_id, kind, received_at) VALUES ($1, $2, $3)
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id)
                .bind(kind)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn discord_handled(
                &self,
                event_id: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE discord_events SET handled_at = $2 WHERE event_id = $1")
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn discord_card_claim(
                &self,
                ticket: &str,
                channel: &str,
                now: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<CardClaim<DiscordCard>, StoreError> {
                let mut tx = self.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO discord_cards (ticket, channel_id, claimed_at) VALUES ($1, $2, $3)
                     ON CONFLICT (ticket, channel_id) DO NOTHING",
                )
                .bind(ticket)
                .bind(channel)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // A posting that began long ago and never finished was cut short.
                let taken_over = inserted == 0
                    && sqlx::query(
                        "UPDATE discord_cards SET claimed_at = $3
                         WHERE ticket = $1 AND channel_id = $2 AND message_id IS NULL
                           AND claimed_at < $4",
                    )
                    .bind(ticket)
                    .bind(channel)
                    .bind(now)
                    .bind(stale_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                let claim = if inserted == 1 || taken_over {
                    CardClaim::Post
                } else {
                    let card: Option<DiscordCard> = sqlx::query_as(
                        "SELECT ticket, channel_id, message_id, text, taken_by FROM discord_cards
                         WHERE ticket = $1 AND channel_id = $2",
                    )
                    .bind(ticket)
                    .bind(channel)
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

            async fn discord_card_posted(
                &self,
                ticket: &str,
                channel: &str,
                message_id: &str,
                text: &str,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE discord_cards SET message_id = $3, text = $4
                     WHERE ticket = $1 AND channel_id = $2",
                )
                .bind(ticket)
                .bind(channel)
                .bind(message_id)
                .bind(text)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn discord_card_release(
                &self,
                ticket: &str,
                channel: &str,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "DELETE FROM discord_cards
                     WHERE ticket = $1 AND channel_id = $2 AND message_id IS NULL",
                )
                .bind(ticket)
                .bind(channel)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn discord_card(
                &self,
                ticket: &str,
                channel: &str,
            ) -> Result<Option<DiscordCard>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT ticket, channel_id, message_id, text, taken_by FROM discord_cards
                     WHERE ticket = $1 AND channel_id = $2 AND message_id IS NOT NULL",
                )
                .bind(ticket)
                .bind(channel)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn discord_card_at(
                &self,
                channel: &str,
                message_id: &str,
            ) -> Result<Option<DiscordCard>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT ticket, channel_id, message_id, text, taken_by FROM discord_cards
                     WHERE channel_id = $1 AND message_id = $2",
                )
                .bind(channel)
                .bind(message_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn discord_card_taken(
                &self,
                ticket: &str,
                channel: &str,
                taken_by: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE discord_cards SET taken_by = $3
                     WHERE ticket = $1 AND channel_id = $2 AND taken_by IS NULL",
                )
                .bind(ticket)
                .bind(channel)
                .bind(taken_by)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn discord_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query("DELETE FROM discord_events WHERE received_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }
        }
    };
}

discord_sql!(SqliteStore);
discord_sql!(PgStore);

impl Store {
    /// Records a received Discord event (a message or interaction id); false if it was
    /// seen before (then it must not be handled again).
    pub async fn discord_receive(
        &self,
        event_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_receive(event_id, kind, now).await,
            Store::Postgres(s) => s.discord_receive(event_id, kind, now).await,
        }
    }

    /// Marks a received Discord event handled.
    pub async fn discord_handled(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_handled(event_id, now).await,
            Store::Postgres(s) => s.discord_handled(event_id, now).await,
        }
    }

    /// Forgets events received before `before` (Discord never replays them that late).
    pub async fn discord_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_prune(before).await,
            Store::Postgres(s) => s.discord_prune(before).await,
        }
    }

    /// Claims the posting of `ticket`'s job card in `channel` (a posting begun before
    /// `stale_before` and never finished is taken over).
    pub async fn discord_card_claim(
        &self,
        ticket: &str,
        channel: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<CardClaim<DiscordCard>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.discord_card_claim(ticket, channel, now, stale_before)
                    .await
            }
            Store::Postgres(s) => {
                s.discord_card_claim(ticket, channel, now, stale_before)
                    .await
            }
        }
    }

    /// Records the posted card's message id and text.
    pub async fn discord_card_posted(
        &self,
        ticket: &str,
        channel: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.discord_card_posted(ticket, channel, message_id, text)
                    .await
            }
            Store::Postgres(s) => {
                s.discord_card_posted(ticket, channel, message_id, text)
                    .await
            }
        }
    }

    /// Gives up a claimed posting that failed, so it can be tried again.
    pub async fn discord_card_release(
        &self,
        ticket: &str,
        channel: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_card_release(ticket, channel).await,
            Store::Postgres(s) => s.discord_card_release(ticket, channel).await,
        }
    }

    /// `ticket`'s posted card in `channel`.
    pub async fn discord_card(
        &self,
        ticket: &str,
        channel: &str,
    ) -> Result<Option<DiscordCard>, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_card(ticket, channel).await,
            Store::Postgres(s) => s.discord_card(ticket, channel).await,
        }
    }

    /// The card that is message `message_id` of `channel`, if it is one.
    pub async fn discord_card_at(
        &self,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<DiscordCard>, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_card_at(channel, message_id).await,
            Store::Postgres(s) => s.discord_card_at(channel, message_id).await,
        }
    }

    /// Records who took the card's job; false if that was recorded already.
    pub async fn discord_card_taken(
        &self,
        ticket: &str,
        channel: &str,
        taken_by: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_card_taken(ticket, channel, taken_by).await,
            Store::Postgres(s) => s.discord_card_taken(ticket, channel, taken_by).await,
        }
    }
}
