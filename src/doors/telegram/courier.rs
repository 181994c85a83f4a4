//! Sending: an update's replies (retried after a 429 a few times, resumed where a partial
//! failure stopped), outbox parcels as this door's [`Courier`] (through the group's job
//! card where the group has a chat), and the cards themselves ([`CardWall`]). Every
//! message waits for the flood limits first.

use std::sync::Arc;
use std::time::Duration;

use teloxide::payloads::{AnswerCallbackQuerySetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{CallbackQueryId, ChatId};
use teloxide::{ApiError, RequestError};

use super::render::{Reply, inline_keyboard, render};
use super::{CHANNEL, Inner};
use crate::conversation::CardWall;
use crate::doors::lock;
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel};

/// Times a reply is retried after a 429 before it waits for the next round.
const RATE_LIMIT_RETRIES: usize = 5;
/// A send waiting longer than this for its chat's limit is handed back to the dispatcher
/// (as rate limited) instead of holding one of its delivery slots.
const COURIER_MAX_WAIT: Duration = Duration::from_secs(2);

impl Inner {
    /// Sends an update's replies, skipping what went out before; false if some must wait
    /// for a later round (Telegram unreachable, or still rate limited).
    pub(super) async fn send_replies(&self, update: i64, replies: &[Reply]) -> bool {
        let done = lock(&self.replies_sent).get(&update).copied().unwrap_or(0);
        // A tap's answer only stops its button's spinner: it goes alongside the messages
        // rather than before them, and is best effort (the query may have expired).
        let answering = async {
            for reply in replies.iter().skip(done) {
                if matches!(reply, Reply::Answer { .. }) {
                    let _ = self.send(reply, None).await;
                }
            }
        };
        let sending = async {
            for (i, reply) in replies.iter().enumerate().skip(done) {
                if matches!(reply, Reply::Answer { .. }) {
                    continue;
                }
                let mut tries = 0;
                let outcome = loop {
                    match self.send(reply, None).await {
                        Err(DeliveryError::RateLimited(wait)) if tries < RATE_LIMIT_RETRIES => {
                            tries += 1;
                            tokio::time::sleep(wait).await;
                        }
                        other => break other,
                    }
                };
                match outcome {
                    Ok(()) => {}
                    // A card edit that cannot be made (deleted, too old) is not worth a retry.
                    Err(DeliveryError::Permanent(e)) if matches!(reply, Reply::Edit { .. }) => {
                        tracing::warn!(update, error = %e, "telegram: card not edited");
                    }
                    // Blocked, chat gone: nothing more can be done for this one.
                    Err(DeliveryError::Permanent(e)) => {
                        tracing::warn!(update, error = %e, "telegram: reply not deliverable");
                    }
                    Err(e) => {
                        tracing::warn!(update, error = %e, "telegram: reply will be retried");
                        lock(&self.replies_sent).insert(update, i);
                        return false;
                    }
                }
            }
            lock(&self.replies_sent).remove(&update);
            true
        };
        tokio::join!(answering, sending).1
    }

    /// Sends one message or callback answer. A message first waits for the flood limits:
    /// up to `patience` for its chat (then it is rate limited), or as long as it takes.
    async fn send(&self, reply: &Reply, patience: Option<Duration>) -> Result<(), DeliveryError> {
        match reply {
            Reply::Answer { id, text } => {
                let mut req = self.bot.answer_callback_query(CallbackQueryId(id.clone()));
                if let Some(t) = text {
                    req = req.text(t.clone());
                }
                req.await.map(drop).map_err(delivery_error)
            }
            Reply::Message {
                chat,
                text,
                buttons,
            } => {
                // No parse mode: plain text, so user input needs no escaping.
                let mut req = self.bot.send_message(ChatId(*chat), text.clone());
                if !buttons.is_empty() {
                    req = req.reply_markup(inline_keyboard(buttons));
                }
                let permit = self
                    .flood
                    .acquire(*chat, patience)
                    .await
                    .map_err(DeliveryError::RateLimited)?;
                let sent = req.await;
                permit.answered(&sent);
                sent.map(drop).map_err(delivery_error)
            }
            Reply::Edit {
                chat,
                message_id,
                text,
            } => self.edit(*chat, *message_id, text).await,
        }
    }

    /// Sends a message and returns its id (for a card edited later).
    async fn post(
        &self,
        chat: i64,
        text: &str,
        buttons: &[Vec<(String, String)>],
    ) -> Result<i64, DeliveryError> {
        let mut req = self.bot.send_message(ChatId(chat), text);
        if !buttons.is_empty() {
            req = req.reply_markup(inline_keyboard(buttons));
        }
        let permit = self
            .flood
            .acquire(chat, Some(COURIER_MAX_WAIT))
            .await
            .map_err(DeliveryError::RateLimited)?;
        let sent = req.await;
        permit.answered(&sent);
        sent.map(|m| i64::from(m.id.0)).map_err(delivery_error)
    }

    /// Replaces a message's text and removes its keyboard. Already so: done.
    async fn edit(&self, chat: i64, message_id: i64, text: &str) -> Result<(), DeliveryError> {
        let id = i32::try_from(message_id).map_err(|_| {
            DeliveryError::Permanent(format!("message id {message_id} is out of range"))
        })?;
        match self
            .bot
            .edit_message_text(ChatId(chat), teloxide::types::MessageId(id), text)
            .await
        {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(delivery_error(e)),
        }
    }
}

impl CardWall for Inner {
    const DOOR: &'static str = CHANNEL;

    fn place_of(&self, group: &str) -> Option<String> {
        self.group_chats.get(group).map(ToString::to_string)
    }

    fn one_at_a_time(&self) -> &tokio::sync::Mutex<()> {
        &self.cards
    }

    async fn post_card(
        &self,
        place: &str,
        text: &str,
        buttons: &[Vec<(String, String)>],
    ) -> Result<String, DeliveryError> {
        self.post(chat_id(place)?, text, buttons)
            .await
            .map(|id| id.to_string())
    }

    async fn edit_card(
        &self,
        place: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let message_id = message_id
            .parse()
            .map_err(|_| DeliveryError::Permanent(format!("`{message_id}` is not a message id")))?;
        self.edit(chat_id(place)?, message_id, text).await
    }
}

/// A group chat id as stored with a card.
fn chat_id(place: &str) -> Result<i64, DeliveryError> {
    place
        .parse()
        .map_err(|_| DeliveryError::Permanent(format!("`{place}` is not a chat id")))
}

/// Delivers outbox parcels to Telegram chats (a person's private chat or a group).
pub(super) struct TelegramCourier {
    pub(super) inner: Arc<Inner>,
}

impl Courier for TelegramCourier {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            let chat: i64 = parcel.to.external_id.parse().map_err(|_| {
                DeliveryError::Permanent(format!(
                    "`{}` is not a Telegram chat id",
                    parcel.to.external_id
                ))
            })?;
            let inner = &self.inner;
            if inner.chat.deliver_card(&**inner, parcel).await? {
                return Ok(());
            }
            let pieces = render(&parcel.replies, chat);
            let from = inner.parcels_sent.resume_from(parcel.id);
            for (i, piece) in pieces.iter().enumerate().skip(from) {
                if let Err(e) = inner.send(piece, Some(COURIER_MAX_WAIT)).await {
                    return Err(inner.parcels_sent.failed(parcel.id, i, e));
                }
            }
            inner.parcels_sent.finished(parcel.id);
            Ok(())
        })
    }
}

/// What a failed Bot API call means for a delivery.
fn delivery_error(e: RequestError) -> DeliveryError {
    match e {
        RequestError::RetryAfter(s) => DeliveryError::RateLimited(s.duration()),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            DeliveryError::Temporary(e.to_string())
        }
        RequestError::MigrateToChatId(_) => DeliveryError::Permanent(e.to_string()),
        RequestError::Api(api) => match api {
            // A wrong token is a configuration mistake: keep the messages until it is fixed.
            ApiError::InvalidToken => DeliveryError::Temporary(api.to_string()),
            // Server trouble on Telegram's side ("Internal Server Error", "Bad Gateway" …).
            ApiError::Unknown(ref text)
                if !(text.starts_with("Bad Request") || text.starts_with("Forbidden")) =>
            {
                DeliveryError::Temporary(api.to_string())
            }
            // Blocked, chat not found, kicked, deactivated, malformed: a retry repeats it.
            _ => DeliveryError::Permanent(api.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_errors_map_to_delivery_errors() {
        use teloxide::types::Seconds;
        assert_eq!(
            delivery_error(RequestError::RetryAfter(Seconds::from_seconds(3))),
            DeliveryError::RateLimited(Duration::from_secs(3))
        );
        assert!(matches!(
            delivery_error(RequestError::Api(ApiError::BotBlocked)),
            DeliveryError::Permanent(_)
        ));
        assert!(matches!(
            delivery_error(RequestError::Api(ApiError::ChatNotFound)),
            DeliveryError::Permanent(_)
        ));
        assert!(matches!(
            delivery_error(RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            DeliveryError::Temporary(_)
        ));
    }
}
