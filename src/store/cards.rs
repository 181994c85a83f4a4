//! Job cards posted in engineer groups' chats, for every door alike: one per door, ticket
//! and chat at a time, claimed before it is posted (so two instances never post it twice)
//! and marked when the job is taken (so the card is edited once). A later offer of the job
//! (escalated, or offered again after it was taken) takes the row over for a new card.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};

/// A job card in a group's chat. Chat and message ids are the door's, as text.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Card {
    /// The ticket number.
    pub ticket: String,
    /// The group chat (Telegram) or channel (Discord).
    pub chat: String,
    /// The card message (`None` while it is being posted).
    pub message_id: Option<String>,
    /// The text as posted.
    pub text: String,
    /// The id of the engineer who took the job, once the card shows it.
    pub taken_by: Option<String>,
    /// Which offer of the job it shows (the tier and escalation level offered at), or
    /// `closed` once the job was cancelled with nobody on it.
    pub offer: String,
}

/// A card's `offer` once its job was cancelled before anyone took it.
const CLOSED: &str = "closed";

impl Card {
    /// Whether the card shows its job cancelled (it has no Accept any more).
    pub fn closed(&self) -> bool {
        self.offer == CLOSED
    }
}

/// How a card's offer ended, for [`super::Store::card_ended`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardEnd<'a> {
    /// Taken by the engineer with this id.
    Taken(&'a str),
    /// Cancelled before anyone took it.
    Cancelled,
}

/// The outcome of [`super::Store::card_claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardClaim {
    /// Nobody posted the card for this offer yet: the caller posts it, then calls
    /// [`super::Store::card_posted`] (or [`super::Store::card_release`] on failure).
    Post {
        /// The card of an earlier offer that nobody took, still showing its Accept.
        replaces: Option<Card>,
    },
    /// Already posted.
    Posted(Card),
    /// Someone else is posting it right now.
    Busy,
}

/// A query for cards matching `$where`.
macro_rules! select_cards {
    ($where:literal) => {
        concat!(
            "SELECT ticket, chat, message_id, text, taken_by, offer FROM group_cards WHERE ",
            $where
        )
    };
}

macro_rules! cards_sql {
    ($store:ty) => {
        impl $store {
            pub(super) async fn card_claim(
                &self,
                door: &str,
                ticket: &str,
                chat: &str,
                offer: &str,
                now: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<CardClaim, StoreError> {
                let mut tx = self.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO group_cards (door, ticket, chat, offer, claimed_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (door, ticket, chat) DO NOTHING",
                )
                .bind(door)
                .bind(ticket)
                .bind(chat)
                .bind(offer)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 1 {
                    tx.commit().await?;
                    return Ok(CardClaim::Post { replaces: None });
                }
                let card: Option<Card> = sqlx::query_as(select_cards!(
                    "door = $1 AND ticket = $2 AND chat = $3"
                ))
                .bind(door)
                .bind(ticket)
                .bind(chat)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(card) = card else {
                    tx.commit().await?;
                    return Ok(CardClaim::Busy);
                };
                // Posted and nobody took it yet: it still shows Accept.
                let open = card.message_id.is_some() && card.taken_by.is_none();
                if open && card.offer == offer {
                    tx.commit().await?;
                    return Ok(CardClaim::Posted(card));
                }
                // Posted for an earlier offer (or taken, which ended its offer): the row is
                // this offer's from now on. Unposted: a posting that began long ago and never
                // finished was cut short, one under way is left alone.
                let replaced = sqlx::query(
                    "UPDATE group_cards
                     SET offer = $4, claimed_at = $5, message_id = NULL, text = '', taken_by = NULL
                     WHERE door = $1 AND ticket = $2 AND chat = $3
                       AND (message_id IS NOT NULL OR claimed_at < $6)",
                )
                .bind(door)
                .bind(ticket)
                .bind(chat)
                .bind(offer)
                .bind(now)
                .bind(stale_before)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                tx.commit().await?;
                Ok(match replaced {
                    // The caller closes the earlier card if it still shows Accept.
                    true => CardClaim::Post {
                        replaces: open.then_some(card),
                    },
                    false => CardClaim::Busy,
                })
            }

            pub(super) async fn card_posted(
                &self,
                door: &str,
                ticket: &str,
                chat: &str,
                message_id: &str,
                text: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "UPDATE group_cards SET message_id = $4, text = $5
                         WHERE door = $1 AND ticket = $2 AND chat = $3",
                    )
                    .bind(door)
                    .bind(ticket)
                    .bind(chat)
                    .bind(message_id)
                    .bind(text),
                )
                .await
                .map(drop)
            }

            pub(super) async fn card_release(
                &self,
                door: &str,
                ticket: &str,
                chat: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "DELETE FROM group_cards
                         WHERE door = $1 AND ticket = $2 AND chat = $3 AND message_id IS NULL",
                    )
                    .bind(door)
                    .bind(ticket)
                    .bind(chat),
                )
                .await
                .map(drop)
            }

            pub(super) async fn card(
                &self,
                door: &str,
                ticket: &str,
                chat: &str,
            ) -> Result<Option<Card>, StoreError> {
                Ok(sqlx::query_as(select_cards!(
                    "door = $1 AND ticket = $2 AND chat = $3 AND message_id IS NOT NULL"
                ))
                .bind(door)
                .bind(ticket)
                .bind(chat)
                .fetch_optional(self.reader())
                .await?)
            }

            pub(super) async fn card_at(
                &self,
                door: &str,
                chat: &str,
                message_id: &str,
            ) -> Result<Option<Card>, StoreError> {
                Ok(sqlx::query_as(select_cards!("door = $1 AND chat = $2 AND message_id = $3"))
                .bind(door)
                .bind(chat)
                .bind(message_id)
                .fetch_optional(self.reader())
                .await?)
            }

            pub(super) async fn card_ended(
                &self,
                door: &str,
                ticket: &str,
                chat: &str,
                end: CardEnd<'_>,
            ) -> Result<bool, StoreError> {
                let (sql, value) = match end {
                    CardEnd::Taken(by) => (
                        "UPDATE group_cards SET taken_by = $4
                         WHERE door = $1 AND ticket = $2 AND chat = $3 AND taken_by IS NULL",
                        by,
                    ),
                    CardEnd::Cancelled => (
                        "UPDATE group_cards SET offer = $4
                         WHERE door = $1 AND ticket = $2 AND chat = $3 AND taken_by IS NULL
                           AND offer <> $4",
                        CLOSED,
                    ),
                };
                let done = self
                    .write_one(sqlx::query(sql).bind(door).bind(ticket).bind(chat).bind(value))
                    .await?;
                Ok(done == 1)
            }
        }
    };
}

cards_sql!(SqliteStore);
cards_sql!(PgStore);
