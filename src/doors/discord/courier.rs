//! Sending: replies (tried again after a 5xx or a 429, as [`super::rest`] does: a reply is
//! not in the outbox), outbox parcels as this door's [`Courier`] — through the group's
//! job card where the group has a channel — and the cards themselves ([`CardWall`]).
//! serenity applies its proxy only with its own rate limiter off, so the door keeps
//! Discord's limits itself for the outbox (50 requests/s, 5 messages per 5 s per channel,
//! counted on the desk's clock); a 429 that still comes back hands the outbox Discord's
//! own `retry_after`, and the outbox tries again then. Every message is created with a
//! nonce Discord enforces (the same on every try: random for a reply, the outbox row and
//! piece for a parcel), so a try whose answer was lost after Discord created the message
//! does not create it twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateMessage, EditMessage, MessageId, Nonce, UserId,
};
use serenity::http::{LightMethod, Route};
use tokio::time::Instant;

use super::render::{Piece, action_rows, shown};
use super::{CHANNEL, Inner};
use crate::conversation::CardWall;
use crate::doors::lock;
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel};

/// How long a reply (or a card's edit after a click) is tried before it is given up.
const REPLY_WITHIN: Duration = Duration::from_secs(2 * 60);
/// Outbox limits: Discord's 50 requests/s overall and 5 messages per 5 s per channel.
const GLOBAL_PER_SEC: usize = 50;
const CHANNEL_MESSAGES: (usize, i64) = (5, 5);

impl Inner {
    /// Posts a reply, tried again after a 5xx or a 429 (a reply is not in the outbox).
    pub(super) async fn post_patiently(
        &self,
        channel: u64,
        piece: &Piece,
    ) -> Result<(), DeliveryError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let until = Instant::now() + REPLY_WITHIN;
        let m = message(piece, &format!("r{:x}", rand::random::<u64>()));
        self.call_patiently(route, LightMethod::Post, &m, until)
            .await
            .map(drop)
            .map_err(DeliveryError::from)
    }

    /// Posts a message once (the outbox tries again as the error says), with `nonce` (at
    /// most 25 characters; a message with the same one is not created again); its id.
    pub(super) async fn post(
        &self,
        channel: u64,
        piece: &Piece,
        nonce: &str,
    ) -> Result<u64, DeliveryError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let sent = self
            .call(route, LightMethod::Post, &message(piece, nonce))
            .await?;
        sent["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| DeliveryError::Permanent(format!("Discord answered no id: {sent}")))
    }

    /// Replaces a card's text and removes its buttons, tried again after a 5xx or a 429
    /// (after a click: the clicker is waiting, and the outbox has no part in it).
    pub(super) async fn edit_card_patiently(
        &self,
        place: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let (route, edit) = card_edit(place, message_id, text)?;
        let until = Instant::now() + REPLY_WITHIN;
        self.call_patiently(route, LightMethod::Patch, &edit, until)
            .await
            .map(drop)
            .map_err(DeliveryError::from)
    }

    /// The DM channel of a user, opened if need be.
    pub(super) async fn dm_of(&self, user: u64) -> Result<u64, DeliveryError> {
        if let Some(dm) = self.lock_dms().get(&user).copied() {
            return Ok(dm);
        }
        let c = UserId::new(user)
            .create_dm_channel(&*self.http)
            .await
            .map_err(delivery_error)?;
        self.lock_dms().insert(user, c.id.get());
        Ok(c.id.get())
    }
}

impl CardWall for Inner {
    const DOOR: &'static str = CHANNEL;

    fn place_of(&self, group: &str) -> Option<String> {
        self.group_channels.get(group).map(ToString::to_string)
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
        let channel = snowflake(place)?;
        let piece = Piece {
            content: shown(text),
            buttons: buttons.to_vec(),
            menu: false,
        };
        let fits = lock(&self.limits).take(channel, self.inbox.now());
        match fits {
            Ok(()) => {
                let nonce = format!("c{:x}", rand::random::<u64>());
                self.post(channel, &piece, &nonce)
                    .await
                    .map(|m| m.to_string())
            }
            Err(wait) => Err(DeliveryError::RateLimited(wait)),
        }
    }

    /// Replaces a card's text and removes its buttons.
    async fn edit_card(
        &self,
        place: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let (route, edit) = card_edit(place, message_id, text)?;
        self.call(route, LightMethod::Patch, &edit).await?;
        Ok(())
    }
}

/// A piece as a new message, created once per `nonce` (Discord checks it for a few
/// minutes).
fn message(piece: &Piece, nonce: &str) -> CreateMessage {
    let mut m = CreateMessage::new()
        .content(piece.content.clone())
        .allowed_mentions(CreateAllowedMentions::new())
        .nonce(Nonce::String(nonce.to_owned()))
        .enforce_nonce(true);
    if !piece.buttons.is_empty() {
        m = m.components(action_rows(piece));
    }
    m
}

/// The edit of a card that leaves `text` and no buttons, and where it goes.
fn card_edit<'a>(
    place: &str,
    message_id: &str,
    text: &str,
) -> Result<(Route<'a>, EditMessage), DeliveryError> {
    let route = Route::ChannelMessage {
        channel_id: ChannelId::new(snowflake(place)?),
        message_id: MessageId::new(snowflake(message_id)?),
    };
    let edit = EditMessage::new()
        .content(shown(text))
        .components(vec![])
        .allowed_mentions(CreateAllowedMentions::new());
    Ok((route, edit))
}

/// A channel or message id as stored with a card.
fn snowflake(id: &str) -> Result<u64, DeliveryError> {
    id.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| DeliveryError::Permanent(format!("`{id}` is not a Discord id")))
}

/// What a failed REST call means for a delivery.
fn delivery_error(e: serenity::Error) -> DeliveryError {
    use serenity::http::HttpError;
    match &e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            match r.status_code.as_u16() {
                // The exact Retry-After is not visible through serenity: a second.
                429 => DeliveryError::RateLimited(Duration::from_secs(1)),
                // A wrong token is a configuration mistake: keep the messages.
                401 | 500..=599 => DeliveryError::Temporary(e.to_string()),
                _ => DeliveryError::Permanent(e.to_string()),
            }
        }
        _ => DeliveryError::Temporary(e.to_string()),
    }
}

/// Recent sends, on the desk's clock: overall and per channel.
#[derive(Default)]
pub(super) struct Windows {
    global: VecDeque<DateTime<Utc>>,
    channels: HashMap<u64, VecDeque<DateTime<Utc>>>,
}

impl Windows {
    /// Counts a message to `channel` now, or says how long until it fits.
    fn take(&mut self, channel: u64, now: DateTime<Utc>) -> Result<(), Duration> {
        let second = chrono::Duration::seconds(1);
        let (per_channel, window) = CHANNEL_MESSAGES;
        let window = chrono::Duration::seconds(window);
        while self.global.front().is_some_and(|t| *t + second <= now) {
            self.global.pop_front();
        }
        if self.channels.len() > 10_000 {
            self.channels
                .retain(|_, w| w.back().is_some_and(|t| *t + window > now));
        }
        let w = self.channels.entry(channel).or_default();
        while w.front().is_some_and(|t| *t + window <= now) {
            w.pop_front();
        }
        let wait = |t: Option<&DateTime<Utc>>, per: chrono::Duration| {
            t.map_or(Duration::from_secs(1), |t| {
                (*t + per - now)
                    .to_std()
                    .unwrap_or(Duration::from_millis(1))
            })
        };
        if w.len() >= per_channel {
            return Err(wait(w.front(), window));
        }
        if self.global.len() >= GLOBAL_PER_SEC {
            return Err(wait(self.global.front(), second));
        }
        w.push_back(now);
        self.global.push_back(now);
        Ok(())
    }
}

/// Delivers outbox parcels to users' DMs (and job offers to groups' channels).
pub(super) struct DiscordCourier {
    pub(super) inner: Arc<Inner>,
}

impl Courier for DiscordCourier {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            let inner = &self.inner;
            let user: u64 = parcel.to.external_id.parse().map_err(|_| {
                DeliveryError::Permanent(format!(
                    "`{}` is not a Discord user id",
                    parcel.to.external_id
                ))
            })?;
            if inner.chat.deliver_card(&**inner, parcel).await? {
                return Ok(());
            }
            let dm = inner.dm_of(user).await?;
            let pieces = inner.render(user, &parcel.replies);
            let from = inner.parcels_sent.resume_from(parcel.id);
            for (i, piece) in pieces.iter().enumerate().skip(from) {
                let now = inner.inbox.now();
                let fits = lock(&inner.limits).take(dm, now);
                let sent = match fits {
                    // The same on every try of this parcel's piece.
                    Ok(()) => inner
                        .post(dm, piece, &format!("p{:x}.{i}", parcel.id))
                        .await
                        .map(drop),
                    Err(wait) => Err(DeliveryError::RateLimited(wait)),
                };
                if let Err(e) = sent {
                    return Err(inner.parcels_sent.failed(parcel.id, i, e));
                }
            }
            inner.parcels_sent.finished(parcel.id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_window_keeps_five_per_channel_in_five_seconds() {
        let t0 = DateTime::<Utc>::default();
        let mut w = Windows::default();
        for _ in 0..5 {
            assert!(w.take(1, t0).is_ok());
        }
        assert!(w.take(1, t0).is_err());
        assert!(w.take(2, t0).is_ok());
        assert!(w.take(1, t0 + chrono::Duration::seconds(5)).is_ok());
    }
}
