//! The Telegram door, on teloxide.
//!
//! Updates arrive by long polling (getUpdates) or, with `telegram.webhook_url`, by our
//! own axum route; either way each is stored before it is handled ([`inbox`]), handled
//! as [`handling`] tabulates, and answered as [`render`] and [`courier`] say, within
//! Telegram's [`flood`] limits. When a step ends with its conversation's state (most do),
//! the update's handled mark and replies are written in the same transaction as that
//! state, so a step costs two writes: received-and-begun, and state-and-replies.
//!
//! Replies to a person's own message are sent from here; notifications arrive through
//! the outbox and this door's courier. Messages use no parse mode (plain text), so nothing
//! a user typed can be read as markup and nothing needs escaping.
//!
//! With `telegram.group_chats`, a job offered to a group's engineers is posted once as a
//! card in the group's chat instead of privately to each (one place where the first tap
//! wins and everyone sees it, one message instead of one per engineer against the
//! group's 20/min); when the job is taken — by a tap on the card or anywhere else — the
//! card is edited to say who took it and loses its button.

mod courier;
mod flood;
mod handling;
mod inbox;
mod photos;
mod render;
mod settings;
mod webhook;

pub use flood::{FloodLimits, TELEGRAM_LIMITS};
pub use render::MAX_TEXT;
pub use settings::{TelegramConfig, TelegramSettings};

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use teloxide::Bot;
use tokio::sync::mpsc;

use crate::conversation::Chat;
use crate::desk::ports::{PhotoQueue, TelegramInbox};
use crate::doors::{DoorError, lock};
use crate::lease::Lease;
use crate::outbox::{Courier, Pieces};
use flood::Flood;
use inbox::{Stored, Worker};

/// The channel name of this door (in `Person`, `Address`, and the engineers table).
pub const CHANNEL: &str = "telegram";

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Telegram {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    /// Updates as received, until their replies are sent.
    inbox: TelegramInbox,
    /// Photos to fetch into tickets.
    photos: PhotoQueue,
    bot: Bot,
    /// Telegram's flood limits, applied to every message sent.
    flood: Arc<Flood>,
    webhook_url: Option<Url>,
    webhook_secret: Option<SecretString>,
    /// Hands stored updates to the running worker.
    incoming: Mutex<Option<mpsc::UnboundedSender<Stored>>>,
    /// Receives under way that record their updates as begun for the worker.
    receiving: std::sync::atomic::AtomicUsize,
    /// Engineer groups' group chats.
    group_chats: BTreeMap<String, i64>,
    /// How often photos are fetched (see `photos`).
    photo_fetch_every: Option<Duration>,
    /// Group card work, one at a time (posting a card once per ticket, editing it once).
    cards: tokio::sync::Mutex<()>,
    /// Pieces of a message already sent, by outbox id (courier) or update id (replies):
    /// a retry after a partial failure does not repeat them.
    parcels_sent: Pieces,
    replies_sent: Mutex<HashMap<i64, usize>>,
    /// Long polling is done by one instance at a time: the one holding this lease.
    lease: Lease,
    /// While this instance polls: since when it holds the lease. A handling begun before
    /// then was begun by a process that is gone (see `Inner::stale_before`).
    polling_since: Mutex<Option<DateTime<Utc>>>,
}

impl Telegram {
    /// The door over the conversation service, keeping its updates in `inbox` and
    /// fetching photos from `photos`, polling only while it holds `lease`. Nothing is
    /// received until [`Telegram::run`] runs (and, for webhooks,
    /// [`Telegram::webhook_router`] is served: every instance may).
    pub fn new(
        chat: Chat,
        inbox: TelegramInbox,
        photos: PhotoQueue,
        lease: Lease,
        config: TelegramConfig,
    ) -> Result<Telegram, DoorError> {
        config.validate(&TelegramSettings::default())?;
        let mut bot = Bot::new(config.token.expose_secret());
        if let Some(url) = config.api_url {
            bot = bot.set_api_url(url);
        }
        Ok(Telegram {
            inner: Arc::new(Inner {
                lease,
                polling_since: Mutex::default(),
                chat,
                inbox,
                photos,
                bot,
                flood: Arc::new(Flood::new(config.limits)),
                webhook_url: config.webhook_url,
                webhook_secret: config.webhook_secret,
                incoming: Mutex::default(),
                receiving: std::sync::atomic::AtomicUsize::new(0),
                group_chats: config.group_chats,
                photo_fetch_every: config.photo_fetch_every,
                cards: tokio::sync::Mutex::new(()),
                parcels_sent: Pieces::default(),
                replies_sent: Mutex::default(),
            }),
        })
    }

    /// The courier the outbox dispatcher delivers `telegram` messages with.
    pub fn courier(&self) -> Arc<dyn Courier> {
        Arc::new(courier::TelegramCourier {
            inner: self.inner.clone(),
        })
    }

    /// `POST /telegram/webhook`: verifies the secret header, stores the update, answers
    /// 200 and wakes the worker. Merge it into the server's router.
    pub fn webhook_router(&self) -> Router {
        Router::new()
            .route("/telegram/webhook", post(webhook::webhook))
            .with_state(self.clone())
    }

    /// Receives and handles updates until the task is dropped (which stops everything it
    /// started, as a crash would): long polling, or with a webhook URL, registers the
    /// webhook and handles what the route stores. Updates left unfinished by an earlier
    /// run are finished first.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// [`Telegram::run`] until `stop`, then a graceful stop: nothing more is received
    /// (polling ends between batches, never halfway through storing one; the webhook
    /// route stops with the server), the updates already received are handled and
    /// answered, and those it cannot get to within `DRAIN` are given back to the next
    /// start (see `inbox::Worker::run`). Returns when it is done.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        let (tx, incoming) = mpsc::unbounded_channel();
        *lock(&self.inner.incoming) = Some(tx);
        // Asked to stop: polling ends at its next safe point (never while storing a batch).
        let (stopping, stop_asked) = tokio::sync::watch::channel(false);
        // Receiving is over: the worker drains.
        let (closed, intake_closed) = tokio::sync::watch::channel(false);
        let worker = Worker::new(self.inner.clone(), incoming);
        let receiving = async {
            // Registering the webhook and fetching photos hold no claims: dropped at once.
            let side = async {
                match self.inner.webhook_url.clone() {
                    Some(url) => {
                        tokio::join!(self.register_webhook(url), self.fetch_photos_forever());
                    }
                    None => self.fetch_photos_forever().await,
                }
                std::future::pending::<()>().await;
            };
            let intake = async {
                match self.inner.webhook_url {
                    // The route stops with the server; the worker waits for any update
                    // it is storing (see `Inner::begin_receive`).
                    Some(_) => inbox::stopped(&mut stop_asked.clone()).await,
                    None => self.poll_while_held(stop_asked.clone()).await,
                }
            };
            tokio::select! {
                () = side => {}
                () = intake => {}
            }
            let _ = closed.send(true);
        };
        let asking = async {
            stop.await;
            let _ = stopping.send(true);
        };
        tokio::join!(worker.run(intake_closed), receiving, asking);
    }
}

impl Telegram {
    /// Long polling whenever this instance holds the lease, until `stop`.
    async fn poll_while_held(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let lease = self.inner.lease.clone();
        lease
            .hold(inbox::stopped(&mut stop), |held| async move {
                *lock(&self.inner.polling_since) = Some(held.since);
                self.poll(held.ending).await;
                *lock(&self.inner.polling_since) = None;
            })
            .await;
    }
}

/// Waits between failed attempts: 1 s, doubling up to a minute.
#[derive(Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(super) async fn wait(&mut self) {
        let secs = 1u64 << self.failures.min(6);
        self.failures += 1;
        tokio::time::sleep(Duration::from_secs(secs.min(60))).await;
    }

    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }
}
