//! The Telegram door, on teloxide.
//!
//! Updates arrive by long polling (getUpdates) or, with `TELEGRAM_WEBHOOK_URL`, by our
//! own axum route. Either way each update is first written to `telegram_updates` (a
//! polled batch in one statement) — as begun, when a running worker takes it straight
//! away — then handled, then marked handled together with the replies it produced, then
//! the replies are sent and the row is finished (marked in batches). When a step ends
//! with its conversation's state (most do), the handled mark and the replies are written
//! in the same transaction as that state, so a step costs two writes: received-and-begun,
//! and state-and-replies. Receiving never waits for handling; each person's updates are
//! handled in order, different people's in parallel. So:
//! - a crash loses nothing: the polling offset confirms only what is written, and a
//!   webhook POST is answered only after the row is written (a crash after replies went
//!   out but before their row was marked finished sends them again);
//! - an update delivered twice has one effect (the id is the primary key);
//! - an update whose handling began before a crash but did not finish is not applied a
//!   second time (it may or may not have reached the conversation): the person is shown
//!   their current question instead. An update received by a running worker counts as
//!   begun, so one cut short between its receipt and its handling is treated the same.
//!
//! Replies to a person's own message are sent from here; notifications arrive through the
//! outbox and this door's [`Courier`]. Messages use no parse mode (plain text), so
//! nothing a user typed can be read as markup and nothing needs escaping. Every message
//! passes our own flood limiter first ([`FloodLimits`]: 30/s overall, 1/s per chat,
//! 20/min per group), which counts a send until Telegram has answered it, so latency can
//! never make Telegram see more than the limit; a 429 that still happens is waited out
//! for replies and handed back as [`DeliveryError::RateLimited`] by the courier.
//!
//! With `TELEGRAM_GROUP_CHATS`, a job offered to a group's engineers is posted once as a
//! card in the group's chat instead of privately to each (one place where the first tap
//! wins and everyone sees it, one message instead of one per engineer against the
//! group's 20/min); when the job is taken — by a tap on the card or anywhere else — the
//! card is edited to say who took it and loses its button.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters, SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, CallbackQuery, CallbackQueryId, ChatId, InlineKeyboardButton,
    InlineKeyboardMarkup, Message, Update, UpdateKind, User,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cards::{self, CardWall};
use super::{Chat, Person, Recorder};
use crate::flow::{Flows, Incoming, Lang, Outgoing};
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel, Pieces};
use crate::store::{StepRecord, StoreError};

mod photos;

/// The channel name of this door (in `Person`, `Address`, and the engineers table).
pub const CHANNEL: &str = "telegram";
/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_TEXT: usize = 4096;
/// Telegram's limit on a callback answer's text, in characters.
const MAX_TOAST: usize = 200;
/// The header Telegram sends the webhook secret in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Long-poll wait (teloxide adds it to its request timeout).
const POLL_TIMEOUT_SECS: u32 = 25;
/// Unfinished updates read from the table per rescan.
const RESCAN_BATCH: i64 = 1000;
/// A handling that began this long ago and never finished was cut short by a crash.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);
/// Finished updates are kept this long (a week: Telegram's own redelivery horizon).
const KEEP_UPDATES: chrono::Duration = chrono::Duration::days(7);
/// How often finished updates are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Times a reply is retried after a 429 before it waits for the next round.
const RATE_LIMIT_RETRIES: usize = 5;
/// The worker also looks at the table this often (for updates an earlier run or another
/// instance received and left unfinished).
const RESCAN_EVERY: Duration = Duration::from_secs(5);

/// Telegram's documented flood limits: 30 messages/s overall, 1/s per chat, 20/min per
/// group.
pub const TELEGRAM_LIMITS: FloodLimits = FloodLimits {
    per_sec_overall: 30,
    per_sec_chat: 1,
    per_min_group: 20,
};
/// A send waiting longer than this for its chat's limit is handed back to the dispatcher
/// (as rate limited) instead of holding one of its delivery slots.
const COURIER_MAX_WAIT: Duration = Duration::from_secs(2);

/// Messages the bot may send (sendMessage, sendPhoto; edits and callback answers are not
/// limited by Telegram the same way and are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    /// To all chats together, per second.
    pub per_sec_overall: u32,
    /// To one chat (private or group), per second.
    pub per_sec_chat: u32,
    /// To one group, supergroup or channel (negative chat id), per minute.
    pub per_min_group: u32,
}

/// Why the Telegram door could not start or do its work.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// A setting is missing or malformed (names the environment variable).
    #[error("{var}: {reason}")]
    Config {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Replies could not be written down as JSON.
    #[error("replies could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// How to reach Telegram. `TELEGRAM_BOT_TOKEN` switches the door on.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub token: SecretString,
    /// Another Bot API server (tests, a self-hosted server); Telegram's by default.
    pub api_url: Option<Url>,
    /// Receive updates by webhook at this public URL (it must route to
    /// `POST /telegram/webhook`); long polling when `None`.
    pub webhook_url: Option<Url>,
    /// The secret Telegram sends with every webhook POST (required with a webhook URL).
    pub webhook_secret: Option<SecretString>,
    /// Flood limits applied before sending ([`TELEGRAM_LIMITS`] by default; `None`
    /// switches them off — only for load tests against a server without limits).
    pub limits: Option<FloodLimits>,
    /// Engineer groups' Telegram group chats (`TELEGRAM_GROUP_CHATS`, e.g.
    /// `printer=-1001234,network=-1005678`): offers to a group's engineers are posted
    /// there once, as one job card, instead of privately to each of them.
    pub group_chats: BTreeMap<String, i64>,
    /// How often reporters' photos are fetched into their tickets (`None`: never in the
    /// background — tests call [`Telegram::fetch_photos`] themselves).
    pub photo_fetch_every: Option<Duration>,
}

impl TelegramConfig {
    /// A configuration for long polling with Telegram's limits.
    pub fn new(token: impl Into<String>) -> TelegramConfig {
        TelegramConfig {
            token: SecretString::from(token.into()),
            api_url: None,
            webhook_url: None,
            webhook_secret: None,
            limits: Some(TELEGRAM_LIMITS),
            group_chats: BTreeMap::new(),
            photo_fetch_every: Some(photos::EVERY),
        }
    }

    /// Reads `TELEGRAM_BOT_TOKEN` (absent or empty: `Ok(None)`, the door stays off),
    /// `TELEGRAM_API_URL`, `TELEGRAM_WEBHOOK_URL`, `TELEGRAM_WEBHOOK_SECRET` and
    /// `TELEGRAM_FLOOD_LIMITS` (`off` for load tests against tgsim `--no-rate-limit`) and
    /// `TELEGRAM_GROUP_CHATS` (`group=chat_id,…`).
    pub fn from_env() -> Result<Option<TelegramConfig>, TelegramError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`TelegramConfig::from_env`], reading variables through `get`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TelegramConfig>, TelegramError> {
        let get = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let Some(token) = get("TELEGRAM_BOT_TOKEN") else {
            return Ok(None);
        };
        let url = |var: &'static str| {
            get(var)
                .map(|v| {
                    Url::parse(v.trim()).map_err(|e| TelegramError::Config {
                        var,
                        reason: format!("not a URL ({e})"),
                    })
                })
                .transpose()
        };
        let config = TelegramConfig {
            token: SecretString::from(token.trim().to_owned()),
            api_url: url("TELEGRAM_API_URL")?,
            webhook_url: url("TELEGRAM_WEBHOOK_URL")?,
            webhook_secret: get("TELEGRAM_WEBHOOK_SECRET").map(SecretString::from),
            limits: match get("TELEGRAM_FLOOD_LIMITS").as_deref().map(str::trim) {
                None | Some("on") => Some(TELEGRAM_LIMITS),
                Some("off") => None,
                Some(other) => {
                    return Err(TelegramError::Config {
                        var: "TELEGRAM_FLOOD_LIMITS",
                        reason: format!("must be `on` or `off` (got `{other}`)"),
                    });
                }
            },
            group_chats: match get("TELEGRAM_GROUP_CHATS") {
                Some(v) => parse_group_chats(&v)?,
                None => BTreeMap::new(),
            },
            photo_fetch_every: Some(photos::EVERY),
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// Checks the settings fit together and Telegram's rules.
    pub fn validate(&self) -> Result<(), TelegramError> {
        let token = self.token.expose_secret();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(TelegramError::Config {
                var: "TELEGRAM_BOT_TOKEN",
                reason: "the bot token is empty or contains spaces".into(),
            });
        }
        if let Some(secret) = &self.webhook_secret {
            let s = secret.expose_secret();
            let ok = (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(TelegramError::Config {
                    var: "TELEGRAM_WEBHOOK_SECRET",
                    reason: format!(
                        "must be 1–256 characters of A-Z, a-z, 0-9, _ and - (got {} characters)",
                        s.chars().count()
                    ),
                });
            }
        }
        if self.webhook_url.is_some() && self.webhook_secret.is_none() {
            return Err(TelegramError::Config {
                var: "TELEGRAM_WEBHOOK_SECRET",
                reason:
                    "is required with TELEGRAM_WEBHOOK_URL (webhook POSTs are verified with it)"
                        .into(),
            });
        }
        Ok(())
    }
}

/// Reads `printer=-1001234, network=-1005678`: each engineer group and its group chat
/// (a negative id, as Telegram gives groups).
fn parse_group_chats(value: &str) -> Result<BTreeMap<String, i64>, TelegramError> {
    super::group_places(
        value,
        "chat_id",
        |id| id.parse().ok().filter(|id: &i64| *id < 0),
        "a group chat id (they are negative)",
    )
    .map_err(|reason| TelegramError::Config {
        var: "TELEGRAM_GROUP_CHATS",
        reason,
    })
}

/// Starts the Telegram door over the chat service. Nothing is received until
/// [`Telegram::run`] runs (and, for webhooks, [`Telegram::webhook_router`] is served).
pub fn start(chat: Chat, config: TelegramConfig) -> Result<Telegram, TelegramError> {
    Telegram::new(chat, config)
}

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Telegram {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    bot: Bot,
    /// Telegram's flood limits, applied to every message sent.
    flood: Arc<Flood>,
    webhook_url: Option<Url>,
    webhook_secret: Option<SecretString>,
    /// Hands stored updates to the running worker.
    incoming: Mutex<Option<mpsc::UnboundedSender<Stored>>>,
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
}

/// One thing to send, as stored with a handled update (so a crash before sending does
/// not lose it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Reply {
    /// answerCallbackQuery (stops the button's spinner; the text shows as a toast).
    Answer { id: String, text: Option<String> },
    /// sendMessage, with an inline keyboard of `(callback data, label)` rows.
    Message {
        chat: i64,
        text: String,
        #[serde(default)]
        buttons: Vec<Vec<(String, String)>>,
    },
    /// editMessageText without a keyboard (Telegram then removes the message's buttons):
    /// a group's job card showing who took the job.
    Edit {
        chat: i64,
        message_id: i64,
        text: String,
    },
}

impl Telegram {
    /// See [`start`].
    pub fn new(chat: Chat, config: TelegramConfig) -> Result<Telegram, TelegramError> {
        config.validate()?;
        let mut bot = Bot::new(config.token.expose_secret());
        if let Some(url) = config.api_url {
            bot = bot.set_api_url(url);
        }
        Ok(Telegram {
            inner: Arc::new(Inner {
                chat,
                bot,
                flood: Arc::new(Flood::new(config.limits)),
                webhook_url: config.webhook_url,
                webhook_secret: config.webhook_secret,
                incoming: Mutex::default(),
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
        Arc::new(TelegramCourier {
            inner: self.inner.clone(),
        })
    }

    /// `POST /telegram/webhook`: verifies the secret header, stores the update, answers
    /// 200 and wakes the worker. Merge it into the server's router.
    pub fn webhook_router(&self) -> Router {
        Router::new()
            .route("/telegram/webhook", post(webhook))
            .with_state(self.clone())
    }

    /// Receives and handles updates until the task is dropped (which stops everything it
    /// started, as a crash would): long polling, or with a webhook URL, registers the
    /// webhook and handles what the route stores. Updates left unfinished by an earlier
    /// run are finished first.
    pub async fn run(self) {
        let (tx, incoming) = mpsc::unbounded_channel();
        *lock(&self.inner.incoming) = Some(tx);
        let worker = Worker::new(self.inner.clone(), incoming);
        match self.inner.webhook_url.clone() {
            Some(url) => {
                tokio::join!(
                    worker.run(),
                    self.register_webhook(url),
                    self.fetch_photos_forever()
                );
            }
            None => {
                tokio::join!(worker.run(), self.poll(), self.fetch_photos_forever());
            }
        }
    }

    /// Long polling: stores each batch of updates in one transaction and hands it to the
    /// worker, then asks for the next at once (handling does not hold up receiving).
    async fn poll(&self) {
        let mut backoff = Backoff::default();
        // getUpdates refuses to work while a webhook is set.
        while let Err(e) = self.inner.bot.delete_webhook().await {
            tracing::warn!(error = %e, "telegram: deleteWebhook failed");
            backoff.wait().await;
        }
        backoff.reset();
        let mut offset: Option<i64> = None;
        loop {
            let next = match offset {
                Some(o) => o,
                None => match self.inner.store().telegram_next_offset().await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::error!(error = %e, "telegram: cannot read the update offset");
                        backoff.wait().await;
                        continue;
                    }
                },
            };
            let updates = self
                .inner
                .bot
                .get_updates()
                .offset(i32::try_from(next).unwrap_or(i32::MAX))
                .timeout(POLL_TIMEOUT_SECS)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .await;
            match updates {
                Ok(updates) if updates.is_empty() => backoff.reset(),
                Ok(updates) => match self.inner.receive(updates).await {
                    // Confirmed with the next getUpdates, once stored.
                    Ok(last) => {
                        backoff.reset();
                        offset = Some(last + 1);
                    }
                    Err(e) => {
                        // The offset stays below them, so Telegram sends them again.
                        tracing::error!(error = %e, "telegram: cannot store updates");
                        offset = None;
                        backoff.wait().await;
                    }
                },
                Err(RequestError::RetryAfter(s)) => {
                    tokio::time::sleep(s.duration()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: getUpdates failed");
                    backoff.wait().await;
                }
            }
        }
    }

    /// Registers the webhook (retrying until Telegram takes it); the route does the rest.
    async fn register_webhook(&self, url: Url) {
        let mut backoff = Backoff::default();
        let secret = self
            .inner
            .webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default();
        loop {
            let set = self
                .inner
                .bot
                .set_webhook(url.clone())
                .secret_token(secret.clone())
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .await;
            match set {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: setWebhook failed");
                    backoff.wait().await;
                }
            }
        }
    }
}

/// A row of `telegram_updates` still to finish.
struct Stored {
    id: i64,
    /// `None` when the body is not an update teloxide can read (it is skipped).
    update: Option<Update>,
    /// Set once handled: what to send.
    replies: Option<Vec<Reply>>,
    /// Written as begun (attempt 1) when it was received, at this time: handled without
    /// a claim of its own.
    claimed: Option<chrono::DateTime<chrono::Utc>>,
}

impl Stored {
    /// A row as read back from the table.
    fn read(id: i64, body: &str, replies: Option<String>) -> Stored {
        Stored {
            id,
            update: serde_json::from_str::<Update>(body).ok(),
            replies: replies.map(|json| {
                serde_json::from_str(&json).unwrap_or_else(|e| {
                    tracing::error!(update = id, error = %e, "telegram: stored replies unreadable");
                    Vec::new()
                })
            }),
            claimed: None,
        }
    }

    /// Whose update it is: one person's updates are handled in order.
    fn lane(&self) -> u64 {
        self.update
            .as_ref()
            .and_then(Update::from)
            .map_or(0, |u| u.id.0)
    }
}

/// What a lane task reports back to the worker.
enum LaneEvent {
    /// The lane's first update was tried: finished (true) or to be tried again.
    Tried {
        lane: u64,
        row: Box<Stored>,
        outcome: Result<bool, TelegramError>,
    },
    /// A lane's wait before trying again is over.
    Again { lane: u64 },
    /// Finished updates were marked sent in the table (or not, and are to be again).
    Marked {
        ids: Vec<i64>,
        result: Result<(), StoreError>,
    },
}

/// Handles stored updates: each person's in order, one at a time; different people's in
/// parallel (a task each). Updates come from the receivers (polling, webhook route) as
/// they are stored, and from the table at start and every `RESCAN_EVERY` (what an earlier
/// run or another instance left unfinished).
struct Worker {
    inner: Arc<Inner>,
    incoming: mpsc::UnboundedReceiver<Stored>,
    /// Updates waiting per person; the person's task holds the one being handled.
    lanes: HashMap<u64, VecDeque<Stored>>,
    /// People whose task is running (or waiting to try again).
    busy: HashMap<u64, u32>,
    /// Update ids queued or being handled.
    known: HashSet<i64>,
    /// Recently finished ids (a rescan may have seen an update before its receiver
    /// handed it over): bounded.
    finished: HashSet<i64>,
    finished_order: VecDeque<i64>,
    /// Finished updates not marked sent yet, and whether a marking is under way.
    unmarked: Vec<i64>,
    marking: bool,
    tasks: JoinSet<LaneEvent>,
}

/// How many finished ids the worker remembers.
const REMEMBER_FINISHED: usize = 10_000;

impl Worker {
    fn new(inner: Arc<Inner>, incoming: mpsc::UnboundedReceiver<Stored>) -> Worker {
        Worker {
            inner,
            incoming,
            lanes: HashMap::new(),
            busy: HashMap::new(),
            known: HashSet::new(),
            finished: HashSet::new(),
            finished_order: VecDeque::new(),
            unmarked: Vec::new(),
            marking: false,
            tasks: JoinSet::new(),
        }
    }

    async fn run(mut self) {
        let mut rescan = tokio::time::interval(RESCAN_EVERY);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned: Option<Instant> = None;
        loop {
            tokio::select! {
                Some(row) = self.incoming.recv() => self.enqueue(row),
                Some(event) = self.tasks.join_next(), if !self.tasks.is_empty() => match event {
                    Ok(event) => self.on_event(event),
                    Err(e) => tracing::error!(error = %e, "telegram: an update task failed"),
                },
                _ = rescan.tick() => {
                    self.inner.prune(&mut pruned).await;
                    self.rescan().await;
                }
            }
            if !self.marking && !self.unmarked.is_empty() {
                // One statement for all updates finished since the last marking.
                self.marking = true;
                let ids = std::mem::take(&mut self.unmarked);
                let inner = self.inner.clone();
                self.tasks.spawn(async move {
                    let result = inner
                        .store()
                        .telegram_sent(&ids, inner.chat.desk().now())
                        .await;
                    LaneEvent::Marked { ids, result }
                });
            }
        }
    }

    /// Picks up unfinished updates from the table that the worker does not hold.
    async fn rescan(&mut self) {
        // Whatever the receivers handed over first, so a person's updates stay in order.
        while let Ok(row) = self.incoming.try_recv() {
            self.enqueue(row);
        }
        let now = self.inner.chat.desk().now();
        match self
            .inner
            .store()
            .telegram_pending(RESCAN_BATCH, now - STALE_AFTER)
            .await
        {
            Ok(rows) => {
                for (id, body, replies) in rows {
                    if !self.known.contains(&id) && !self.finished.contains(&id) {
                        self.enqueue(Stored::read(id, &body, replies));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "telegram: cannot read stored updates"),
        }
    }

    fn enqueue(&mut self, row: Stored) {
        if self.finished.contains(&row.id) || !self.known.insert(row.id) {
            return;
        }
        let lane = row.lane();
        let queue = self.lanes.entry(lane).or_default();
        // In id order (a rescan may find an older one late).
        let at = queue
            .iter()
            .position(|r| r.id > row.id)
            .unwrap_or(queue.len());
        queue.insert(at, row);
        if let std::collections::hash_map::Entry::Vacant(idle) = self.busy.entry(lane) {
            idle.insert(0);
            self.start(lane);
        }
    }

    /// Starts a task on the lane's first update (the lane is marked busy).
    fn start(&mut self, lane: u64) {
        let Some(row) = self.lanes.get_mut(&lane).and_then(VecDeque::pop_front) else {
            self.lanes.remove(&lane);
            self.busy.remove(&lane);
            return;
        };
        let inner = self.inner.clone();
        self.tasks.spawn(async move {
            let mut row = Box::new(row);
            let outcome = inner.process(&mut row).await;
            LaneEvent::Tried { lane, row, outcome }
        });
    }

    fn on_event(&mut self, event: LaneEvent) {
        match event {
            LaneEvent::Tried {
                lane,
                row,
                outcome: Ok(true),
            } => {
                self.known.remove(&row.id);
                self.unmarked.push(row.id);
                self.finished.insert(row.id);
                self.finished_order.push_back(row.id);
                if self.finished_order.len() > REMEMBER_FINISHED
                    && let Some(old) = self.finished_order.pop_front()
                {
                    self.finished.remove(&old);
                }
                self.busy.insert(lane, 0);
                self.start(lane);
            }
            LaneEvent::Tried { lane, row, outcome } => {
                if let Err(e) = outcome {
                    tracing::error!(update = row.id, error = %e, "telegram: cannot finish an update");
                }
                // It stays first in its lane; the lane waits, longer after each failure
                // (Telegram unreachable, or another instance is handling it).
                self.lanes.entry(lane).or_default().push_front(*row);
                let failures = self.busy.entry(lane).or_default();
                let wait =
                    Duration::from_secs(1 << (*failures).min(6)).min(Duration::from_secs(60));
                *failures += 1;
                self.tasks.spawn(async move {
                    tokio::time::sleep(wait).await;
                    LaneEvent::Again { lane }
                });
            }
            LaneEvent::Again { lane } => self.start(lane),
            LaneEvent::Marked { ids, result } => {
                self.marking = false;
                if let Err(e) = result {
                    // Tried again with the next finished update (or the next rescan).
                    tracing::error!(error = %e, "telegram: cannot mark updates finished");
                    self.unmarked.extend(ids);
                }
            }
        }
    }
}

impl Inner {
    fn store(&self) -> &crate::store::Store {
        self.chat.desk().store()
    }

    fn flows(&self) -> &Flows {
        self.chat.flows()
    }

    /// Forgets finished updates older than a week, at most once every `PRUNE_EVERY`.
    async fn prune(&self, last: &mut Option<Instant>) {
        if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let now = self.chat.desk().now();
        if let Err(e) = self.store().telegram_prune(now - KEEP_UPDATES).await {
            tracing::warn!(error = %e, "telegram: could not prune old updates");
        }
    }

    /// Writes updates down in one transaction (repeats change nothing) and hands the new
    /// ones to the worker. Returns the highest id.
    async fn receive(&self, updates: Vec<Update>) -> Result<i64, TelegramError> {
        let rows = updates
            .iter()
            .map(|u| Ok((i64::from(u.id.0), serde_json::to_string(u)?)))
            .collect::<Result<Vec<(i64, String)>, TelegramError>>()?;
        let now = self.chat.desk().now();
        let claim = self.worker_runs();
        let new = self.store().telegram_receive(&rows, now, claim).await?;
        for (u, new) in updates.into_iter().zip(new) {
            if new {
                self.hand_over(Stored {
                    id: i64::from(u.id.0),
                    update: Some(u),
                    replies: None,
                    claimed: claim.then_some(now),
                });
            }
        }
        Ok(rows.iter().map(|(id, _)| *id).max().unwrap_or(0))
    }

    /// Whether a worker takes what is received: then updates are recorded as begun as
    /// they are written (one write instead of two; a crash in between is then taken for
    /// one during handling, and the person is shown their current question).
    fn worker_runs(&self) -> bool {
        lock(&self.incoming)
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Gives a stored update to the running worker (if none runs, the next one finds it
    /// in the table).
    fn hand_over(&self, row: Stored) {
        if let Some(tx) = lock(&self.incoming).as_ref() {
            let _ = tx.send(row);
        }
    }

    /// Handles (unless already handled) and sends the replies of one stored update;
    /// false if it must wait for a later try.
    async fn process(&self, row: &mut Stored) -> Result<bool, TelegramError> {
        if row.replies.is_none() {
            let now = self.chat.desk().now();
            let attempt = match row.claimed {
                // Begun as it was received: no write, unless it waited long in its lane.
                Some(at) if now - at < STALE_AFTER / 2 => Some(1),
                Some(_) if self.store().telegram_renew(row.id, 1, now).await? => Some(1),
                _ => {
                    self.store()
                        .telegram_claim(row.id, now, now - STALE_AFTER)
                        .await?
                }
            };
            // From here handling has begun: a retry is a new attempt.
            row.claimed = None;
            let Some(attempt) = attempt else {
                return Ok(false);
            };
            let (replies, recorded) = match &row.update {
                None => {
                    tracing::warn!(update = row.id, "telegram: skipping an unreadable update");
                    (Vec::new(), false)
                }
                Some(u) if attempt == 1 => self.handle(row.id, u).await,
                // Begun before a crash: it may have reached the conversation already,
                // so it is not applied again; the person sees where they are.
                Some(u) => (self.recover(u).await, false),
            };
            if !recorded {
                let json = serde_json::to_string(&replies)?;
                self.store()
                    .telegram_handled(row.id, &json, self.chat.desk().now())
                    .await?;
            }
            // A retry sends these, as a rescan would read them from the table.
            row.replies = Some(replies);
        }
        // Finished once sent; the worker marks it in the table (in batches, off the
        // person's path: until then a crash only means these replies go out again).
        let replies = row.replies.as_deref().unwrap_or_default();
        Ok(self.send_replies(row.id, replies).await)
    }

    /// What update `id` asks for, as replies, and whether they were recorded with the
    /// conversation's state (else the caller records them). The conversation's state is
    /// durable when this returns.
    async fn handle(&self, id: i64, u: &Update) -> (Vec<Reply>, bool) {
        match &u.kind {
            UpdateKind::Message(m) => self.on_message(id, m).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(id, q).await,
            _ => (Vec::new(), false),
        }
    }

    async fn on_message(&self, update: i64, m: &Message) -> (Vec<Reply>, bool) {
        // Group chats carry job cards; what people say there is not for the bot.
        let Some(from) = m.from.as_ref().filter(|f| !f.is_bot) else {
            return (Vec::new(), false);
        };
        if !m.chat.is_private() || i64::try_from(from.id.0).ok() != Some(m.chat.id.0) {
            return (Vec::new(), false);
        }
        let person = person_of(from);
        let chat = m.chat.id.0;
        let input = if let Some(text) = m.text() {
            match command_of(text) {
                Some((cmd, args)) if cmd == "link" => {
                    return (self.link(&person, &args, chat).await, false);
                }
                Some((cmd, args)) => Incoming::Command(cmd, args),
                None => Incoming::Text(text.to_owned()),
            }
        } else if let Some(photo) = m.photo().and_then(|sizes| {
            sizes
                .iter()
                .max_by_key(|s| u64::from(s.width) * u64::from(s.height))
        }) {
            Incoming::Photo(photo.file.id.0.clone())
        } else if let Some(doc) = m
            .document()
            .filter(|d| d.mime_type.as_ref().is_some_and(|t| t.type_() == "image"))
        {
            // A picture sent "as a file" is still a photo of the fault.
            Incoming::Photo(doc.file.id.0.clone())
        } else if let Some(contact) = m.contact() {
            Incoming::Contact(contact.phone_number.clone())
        } else {
            let lang = self.lang_of(&person).await;
            let mut out = vec![Outgoing::Text(self.text("unsupported_message", lang))];
            match self.chat.resume(&person).await {
                Ok(current) => out.extend(current),
                Err(e) => tracing::error!(error = %e, "telegram: resume failed"),
            }
            return (render(&out, chat), false);
        };
        self.converse(&person, input, chat, Some((update, Vec::new())))
            .await
    }

    async fn on_callback(&self, update: i64, q: &CallbackQuery) -> (Vec<Reply>, bool) {
        let answer = |text: Option<String>| Reply::Answer {
            id: q.id.0.clone(),
            text,
        };
        // Buttons on inline-mode messages, or without data, are not ours.
        let (Some(data), Some(msg)) = (q.data.clone(), q.message.as_ref()) else {
            return (vec![answer(None)], false);
        };
        if q.from.is_bot {
            return (vec![answer(None)], false);
        }
        let person = person_of(&q.from);
        let on = msg.chat();
        if on.is_private() {
            // Only the owner of a private chat can tap its buttons: anything else is forged.
            if i64::try_from(q.from.id.0).ok() != Some(on.id.0) {
                return (vec![answer(None)], false);
            }
            let first = vec![answer(None)];
            return self
                .converse(
                    &person,
                    Incoming::Choice(data),
                    on.id.0,
                    Some((update, first)),
                )
                .await;
        }
        // In a group only job-card buttons count, and only for linked engineers (the chat
        // module then checks that engineer's rights on the ticket). Replies go to the
        // engineer privately; the first line also shows as the tap's toast.
        if Flows::choice_scope(&data).is_none() {
            return (vec![answer(None)], false);
        }
        let lang = self.lang_of(&person).await;
        match self
            .store()
            .engineer_by_identity(CHANNEL, &person.external_id)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return (vec![answer(Some(self.text("not_allowed", lang)))], false),
            Err(e) => {
                tracing::error!(error = %e, "telegram: engineer lookup failed");
                return (vec![answer(Some(self.text("try_again", lang)))], false);
            }
        }
        let Ok(private) = i64::try_from(q.from.id.0) else {
            return (vec![answer(None)], false);
        };
        // Not recorded with the step: the card's edit below comes after it.
        let (replies, _) = self
            .converse(&person, Incoming::Choice(data), private, None)
            .await;
        let toast = replies.iter().find_map(|r| match r {
            Reply::Message { text, .. } => Some(text.chars().take(MAX_TOAST).collect()),
            Reply::Answer { .. } | Reply::Edit { .. } => None,
        });
        let mut out = vec![answer(toast)];
        out.extend(replies);
        // The first tap that took the job shows on the card for everyone.
        let message_id = i64::from(msg.id().0);
        if let Some(text) =
            cards::taken_text(self, &on.id.0.to_string(), &message_id.to_string()).await
        {
            out.push(Reply::Edit {
                chat: on.id.0,
                message_id,
                text,
            });
        }
        (out, false)
    }

    /// An update whose handling was cut short: answer a tap, and show the person their
    /// current question (which is right whether or not the update got through).
    async fn recover(&self, u: &Update) -> Vec<Reply> {
        let (from, chat, callback) = match &u.kind {
            UpdateKind::Message(m) => (m.from.as_ref(), &m.chat, None),
            UpdateKind::CallbackQuery(q) => {
                let answer = Some(q.id.0.clone());
                match q.message.as_ref() {
                    Some(m) => (Some(&q.from), m.chat(), answer),
                    None => {
                        return answer
                            .map(|id| Reply::Answer { id, text: None })
                            .into_iter()
                            .collect();
                    }
                }
            }
            _ => return Vec::new(),
        };
        let mut out: Vec<Reply> = callback
            .map(|id| Reply::Answer { id, text: None })
            .into_iter()
            .collect();
        let Some(from) = from.filter(|f| !f.is_bot) else {
            return out;
        };
        if chat.is_private() && i64::try_from(from.id.0).ok() == Some(chat.id.0) {
            match self.chat.resume(&person_of(from)).await {
                Ok(current) => out.extend(render(&current, chat.id.0)),
                Err(e) => tracing::error!(error = %e, "telegram: resume failed"),
            }
        }
        out
    }

    /// Hands input to the chat service; `first` and its replies (or an apology) for
    /// `chat`. With `record: Some((update, first))`, the replies are recorded as the
    /// update's with the conversation's state when the step allows (the flag says so).
    async fn converse(
        &self,
        person: &Person,
        input: Incoming,
        chat: i64,
        record: Option<(i64, Vec<Reply>)>,
    ) -> (Vec<Reply>, bool) {
        let (update, first) = record.map_or((None, Vec::new()), |(u, f)| (Some(u), f));
        // The replies rendered for the record, kept so they are not rendered again.
        let rendered: Arc<Mutex<Option<Vec<Reply>>>> = Arc::default();
        let recorder: Recorder = {
            let (rendered, first) = (rendered.clone(), first.clone());
            Arc::new(move |out: &[Outgoing]| {
                let update_id = update?;
                let mut all = first.clone();
                all.extend(render(out, chat));
                let replies = serde_json::to_string(&all)
                    .map_err(|e| tracing::error!(error = %e, "telegram: replies not encoded"))
                    .ok()?;
                *lock(&rendered) = Some(all);
                Some(StepRecord::TelegramHandled { update_id, replies })
            })
        };
        match self.chat.handle_recorded(person, input, recorder).await {
            Ok((out, true)) => match lock(&rendered).take() {
                Some(all) => (all, true),
                None => (with_first(first, render(&out, chat)), true),
            },
            Ok((out, false)) => (with_first(first, render(&out, chat)), false),
            Err(e) => {
                tracing::error!(error = %e, "telegram: the chat service failed");
                let lang = self.lang_of(person).await;
                let sorry = render(&[Outgoing::Text(self.text("try_again", lang))], chat);
                (with_first(first, sorry), false)
            }
        }
    }

    /// `/link CODE`: links this Telegram account to the engineer the desk issued the code
    /// for.
    async fn link(&self, person: &Person, code: &str, chat: i64) -> Vec<Reply> {
        let lang = self.lang_of(person).await;
        let text = if code.trim().is_empty() {
            self.text("link_usage", lang)
        } else {
            match self
                .chat
                .desk()
                .redeem_link_code(code, CHANNEL, &person.external_id)
                .await
            {
                Ok(Some(e)) => self.flows().text(
                    "link_done",
                    lang,
                    &serde_json::json!({ "engineer": e.name }),
                ),
                Ok(None) => self.text("link_refused", lang),
                Err(e) => {
                    tracing::error!(error = %e, "telegram: linking failed");
                    self.text("try_again", lang)
                }
            }
        };
        render(&[Outgoing::Text(text)], chat)
    }

    /// The person's language: a reporter's saved choice, else their Telegram app's.
    async fn lang_of(&self, person: &Person) -> Lang {
        let saved = self
            .store()
            .reporter_by_identity(CHANNEL, &person.external_id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.language);
        saved
            .or_else(|| person.language.clone())
            .map_or(Lang::ZhCn, |l| Lang::from_code(&l))
    }

    fn text(&self, key: &str, lang: Lang) -> String {
        self.flows().text(key, lang, &serde_json::Value::Null)
    }

    /// Sends an update's replies, skipping what went out before; false if some must wait
    /// for a later round (Telegram unreachable, or still rate limited).
    async fn send_replies(&self, update: i64, replies: &[Reply]) -> bool {
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

    fn chat(&self) -> &Chat {
        &self.chat
    }

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

/// `first`, then `rest`.
fn with_first(mut first: Vec<Reply>, rest: Vec<Reply>) -> Vec<Reply> {
    first.extend(rest);
    first
}

/// A group chat id as stored with a card.
fn chat_id(place: &str) -> Result<i64, DeliveryError> {
    place
        .parse()
        .map_err(|_| DeliveryError::Permanent(format!("`{place}` is not a chat id")))
}

fn inline_keyboard(buttons: &[Vec<(String, String)>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().map(|row| {
        row.iter()
            .map(|(data, label)| InlineKeyboardButton::callback(label, data))
            .collect::<Vec<_>>()
    }))
}

/// Telegram's flood limits on our side. A send counts from the moment it is allowed until
/// a minute after Telegram answered it: as Telegram received it somewhere in between,
/// counting answered sends by their answer time (and unanswered ones always) can only
/// over-count, so however late a request arrives, Telegram never sees more than the
/// limit in any window. Waiting sends are woken by answers and by sends ageing out.
struct Flood {
    limits: Option<FloodLimits>,
    state: Mutex<FloodState>,
    answered: Notify,
}

#[derive(Default)]
struct FloodState {
    global: Window,
    chats: HashMap<i64, Window>,
    /// Acquisitions since the last sweep of idle chats.
    since_sweep: u32,
}

/// One limit's recent sends.
#[derive(Default)]
struct Window {
    /// When recent sends were answered, oldest first.
    answered: VecDeque<Instant>,
    /// Sends not answered yet.
    in_flight: u32,
    /// A 429 asked us not to send to this chat before then.
    blocked_until: Option<Instant>,
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
/// Chats are forgotten once idle; this often they are swept.
const SWEEP_EVERY: u32 = 4096;

/// Whether one more send fits in a window now.
enum Fits {
    Now,
    /// When enough earlier sends will have aged out.
    At(Instant),
    /// Only unanswered sends are in the way.
    AfterAnswer,
}

impl Window {
    /// Forgets answers older than `keep`.
    fn trim(&mut self, now: Instant, keep: Duration) {
        while self.answered.front().is_some_and(|t| *t + keep <= now) {
            self.answered.pop_front();
        }
    }

    /// Whether one more send fits under `limit` sends per `per`.
    fn fits(&self, now: Instant, limit: u32, per: Duration) -> Fits {
        let limit = limit.max(1) as usize;
        let in_flight = self.in_flight as usize;
        if in_flight >= limit {
            return Fits::AfterAnswer;
        }
        let recent: Vec<&Instant> = self
            .answered
            .iter()
            .rev()
            .take_while(|t| **t + per > now)
            .collect();
        if in_flight + recent.len() < limit {
            return Fits::Now;
        }
        // `recent` is newest first: the send that must age out is the (limit − in
        // flight)th newest.
        recent
            .get(limit - in_flight - 1)
            .map_or(Fits::AfterAnswer, |t| Fits::At(**t + per))
    }

    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.answered.is_empty()
            && self.blocked_until.is_none_or(|t| t <= now)
    }
}

/// A send that counts against the limits until it is answered (or dropped).
struct Permit {
    flood: Option<Arc<Flood>>,
    chat: i64,
    retry_after: Option<Duration>,
}

impl Permit {
    /// Telegram answered: a 429 blocks the chat for the time it asks.
    fn answered<T>(mut self, result: &Result<T, RequestError>) {
        if let Err(RequestError::RetryAfter(s)) = result {
            self.retry_after = Some(s.duration());
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(flood) = self.flood.take() else {
            return;
        };
        let now = Instant::now();
        {
            let mut st = lock(&flood.state);
            st.global.in_flight = st.global.in_flight.saturating_sub(1);
            st.global.answered.push_back(now);
            let w = st.chats.entry(self.chat).or_default();
            w.in_flight = w.in_flight.saturating_sub(1);
            w.answered.push_back(now);
            if let Some(wait) = self.retry_after {
                w.blocked_until = Some(now + wait);
            }
        }
        flood.answered.notify_waiters();
    }
}

impl Flood {
    fn new(limits: Option<FloodLimits>) -> Flood {
        Flood {
            limits,
            state: Mutex::default(),
            answered: Notify::new(),
        }
    }

    /// Waits until a message to `chat` fits the limits. With `patience`, a wait for the
    /// chat itself (a group's minute, a 429) longer than that is refused with its length.
    async fn acquire(
        self: &Arc<Self>,
        chat: i64,
        patience: Option<Duration>,
    ) -> Result<Permit, Duration> {
        let Some(limits) = self.limits else {
            return Ok(Permit {
                flood: None,
                chat,
                retry_after: None,
            });
        };
        loop {
            // Registered before looking, so an answer that comes meanwhile wakes us.
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let wake = {
                let mut st = lock(&self.state);
                let now = Instant::now();
                let st = &mut *st;
                st.since_sweep += 1;
                if st.since_sweep >= SWEEP_EVERY {
                    st.since_sweep = 0;
                    st.chats.retain(|id, w| {
                        w.trim(now, if *id < 0 { MINUTE } else { SECOND });
                        !w.idle(now)
                    });
                }
                st.global.trim(now, SECOND);
                let w = st.chats.entry(chat).or_default();
                w.trim(now, if chat < 0 { MINUTE } else { SECOND });
                let mut checks = vec![
                    w.fits(now, limits.per_sec_chat, SECOND),
                    st.global.fits(now, limits.per_sec_overall, SECOND),
                ];
                if chat < 0 {
                    checks.push(w.fits(now, limits.per_min_group, MINUTE));
                }
                if let Some(t) = w.blocked_until.filter(|t| *t > now) {
                    checks.push(Fits::At(t));
                }
                if checks.iter().all(|f| matches!(f, Fits::Now)) {
                    w.in_flight += 1;
                    st.global.in_flight += 1;
                    return Ok(Permit {
                        flood: Some(self.clone()),
                        chat,
                        retry_after: None,
                    });
                }
                let at = checks
                    .iter()
                    .filter_map(|f| match f {
                        Fits::At(t) => Some(*t),
                        _ => None,
                    })
                    .max();
                // The global limit frees within a second; only the chat's own wait (a
                // group's minute, a 429) is worth handing back.
                let chat_wait = [
                    w.blocked_until.filter(|t| *t > now),
                    match (chat < 0).then(|| w.fits(now, limits.per_min_group, MINUTE)) {
                        Some(Fits::At(t)) => Some(t),
                        _ => None,
                    },
                ]
                .into_iter()
                .flatten()
                .max();
                if let (Some(max), Some(t)) = (patience, chat_wait)
                    && t.duration_since(now) > max
                {
                    return Err(t.duration_since(now));
                }
                at
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = &mut answered => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => answered.await,
            }
        }
    }
}

/// Delivers outbox parcels to Telegram chats (a person's private chat or a group).
struct TelegramCourier {
    inner: Arc<Inner>,
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
            if cards::deliver(&**inner, parcel).await? {
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

/// The webhook route: secret checked in constant time; stored before the 200.
async fn webhook(State(tg): State<Telegram>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let inner = &tg.inner;
    let Some(secret) = inner.webhook_secret.as_ref() else {
        return StatusCode::UNAUTHORIZED;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret.expose_secret().as_bytes())) {
        return StatusCode::UNAUTHORIZED;
    }
    // Kept as received (not re-encoded): the worker reads it with teloxide's types.
    let Ok(text) = std::str::from_utf8(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(id) = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("update_id")?.as_i64())
        .filter(|id| *id >= 0)
    else {
        return StatusCode::BAD_REQUEST;
    };
    let now = inner.chat.desk().now();
    let claim = inner.worker_runs();
    match inner
        .store()
        .telegram_receive(&[(id, text.to_owned())], now, claim)
        .await
    {
        Ok(new) => {
            if new.first().copied().unwrap_or(false) {
                let mut row = Stored::read(id, text, None);
                row.claimed = claim.then_some(now);
                inner.hand_over(row);
            }
            StatusCode::OK
        }
        Err(e) => {
            // Telegram delivers it again later.
            tracing::error!(error = %e, "telegram: cannot store a webhook update");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// A Telegram user as the chat service knows people.
fn person_of(u: &User) -> Person {
    let full = match &u.last_name {
        Some(last) => format!("{} {last}", u.first_name),
        None => u.first_name.clone(),
    };
    let mut name: String = full
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        // The desk needs a name; a Telegram account always has an id.
        name = u
            .username
            .as_ref()
            .map_or_else(|| u.id.0.to_string(), |n| format!("@{n}"));
    }
    Person {
        channel: CHANNEL.to_owned(),
        external_id: u.id.0.to_string(),
        name,
        language: u.language_code.clone(),
    }
}

/// `/cmd@bot args` → (`cmd`, `args`); `None` for text that is not a command (a lone
/// slash, a path such as `/home/x`).
fn command_of(text: &str) -> Option<(String, String)> {
    let rest = text.trim_start().strip_prefix('/')?;
    let (word, args) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, a)| (w, a.trim()));
    let cmd = word
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ok = !cmd.is_empty()
        && cmd.len() <= 32
        && cmd
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| (cmd, args.to_owned()))
}

/// The chat service's replies as Telegram messages for `chat`: a step's texts joined
/// into one message while they fit (one message instead of several also spares the
/// one-per-second limit of a private chat), long texts split, choices as inline keyboards
/// (on the last piece), forms dropped (the question that follows a form asks its first
/// field as text).
fn render(out: &[Outgoing], chat: i64) -> Vec<Reply> {
    let mut joined: Vec<(String, &[(String, String)])> = Vec::new();
    for o in out {
        let (text, options) = match o {
            Outgoing::Text(t) => (t, &[][..]),
            Outgoing::Choices { text, options } => (text, &options[..]),
            Outgoing::Form { .. } => continue,
        };
        match joined.last_mut() {
            Some((before, none)) if none.is_empty() && fits_after(before, text) => {
                if before.trim().is_empty() {
                    before.clone_from(text);
                } else if !text.trim().is_empty() {
                    before.push_str("\n\n");
                    before.push_str(text);
                }
                *none = options;
            }
            _ => joined.push((text.clone(), options)),
        }
    }
    let mut replies = Vec::new();
    for (text, options) in joined {
        let mut pieces = split_text(&text, MAX_TEXT);
        if pieces.is_empty() && !options.is_empty() {
            // Telegram needs some text to hang buttons on.
            pieces.push("⬇️".to_owned());
        }
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.into_iter().enumerate() {
            replies.push(Reply::Message {
                chat,
                text: piece,
                buttons: if i == last {
                    keyboard(options)
                } else {
                    Vec::new()
                },
            });
        }
    }
    replies
}

/// Whether `next` can follow `text` in the same message.
fn fits_after(text: &str, next: &str) -> bool {
    utf16_len(text) + 2 + utf16_len(next) <= MAX_TEXT
}

/// Buttons in rows: short labels three or two to a row, long ones alone.
fn keyboard(options: &[(String, String)]) -> Vec<Vec<(String, String)>> {
    let widest = options
        .iter()
        .map(|(_, label)| label.chars().count())
        .max()
        .unwrap_or(0);
    let per_row = match widest {
        0..=8 => 3,
        9..=16 => 2,
        _ => 1,
    };
    options.chunks(per_row).map(<[_]>::to_vec).collect()
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into pieces of at most `max` UTF-16 code units (Telegram's measure),
/// at line breaks where possible, else at a space, else anywhere between characters.
/// Blank pieces are dropped (Telegram refuses empty messages).
fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split_inclusive('\n') {
        let len = utf16_len(line);
        if current_len + len > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            current_len = 0;
        }
        let mut rest = line;
        while utf16_len(rest) > max {
            let cut = cut_point(rest, max);
            pieces.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        current.push_str(rest);
        current_len += utf16_len(rest);
    }
    pieces.push(current);
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// Where to cut an overlong line: after the last space that keeps the first part within
/// `max` (if it is not too early), else at the last character boundary that does.
fn cut_point(line: &str, max: usize) -> usize {
    let mut units = 0;
    let mut end = 0;
    let mut space = None;
    for (i, c) in line.char_indices() {
        if units + c.len_utf16() > max {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
        if c.is_whitespace() {
            space = Some(end);
        }
    }
    match space {
        Some(s) if s > end / 2 => s,
        // At least one character, so the loop in `split_text` always advances.
        _ if end == 0 => line.chars().next().map_or(line.len(), char::len_utf8),
        _ => end,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits between failed attempts: 1 s, doubling up to a minute.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    async fn wait(&mut self) {
        let secs = 1u64 << self.failures.min(6);
        self.failures += 1;
        tokio::time::sleep(Duration::from_secs(secs.min(60))).await;
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_split_at_lines_under_the_limit() {
        let line = "第一行 line with some words\n";
        let text = line.repeat(400);
        let pieces = split_text(&text, MAX_TEXT);
        assert!(pieces.len() > 1);
        for p in &pieces {
            assert!(utf16_len(p) <= MAX_TEXT, "{}", utf16_len(p));
            assert!(p.ends_with("words"), "cut inside a line");
        }
        assert_eq!(pieces.join("\n") + "\n", text);
    }

    #[test]
    fn an_overlong_line_is_cut_between_characters() {
        // Emoji are two UTF-16 units each: 3000 of them need two messages.
        let text = "😀".repeat(3000);
        let pieces = split_text(&text, MAX_TEXT);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| utf16_len(p) <= MAX_TEXT));
        assert_eq!(pieces.concat(), text);
        let words = "word ".repeat(2000);
        let pieces = split_text(&words, 100);
        assert!(pieces.iter().all(|p| p.ends_with("word")), "{pieces:?}");
    }

    #[test]
    fn blank_texts_send_nothing() {
        assert!(split_text("", MAX_TEXT).is_empty());
        assert!(split_text("\n \n", MAX_TEXT).is_empty());
    }

    #[test]
    fn commands_are_recognised() {
        assert_eq!(
            command_of("/start asset_PRN-3F-02"),
            Some(("start".into(), "asset_PRN-3F-02".into()))
        );
        assert_eq!(
            command_of("/Link@baoxiu_bot  k7qm 2xpa "),
            Some(("link".into(), "k7qm 2xpa".into()))
        );
        assert_eq!(command_of("/home/x is broken"), None);
        assert_eq!(command_of("/"), None);
        assert_eq!(command_of("printer"), None);
    }

    #[test]
    fn choices_become_a_keyboard_on_the_last_piece() {
        let out = vec![
            Outgoing::Form {
                title: "t".into(),
                fields: vec![],
            },
            Outgoing::Choices {
                text: "Which?".into(),
                options: vec![("q:a".into(), "A".into()), ("q:b".into(), "B".into())],
            },
        ];
        let replies = render(&out, 7);
        assert_eq!(
            replies,
            vec![Reply::Message {
                chat: 7,
                text: "Which?".into(),
                buttons: vec![vec![("q:a".into(), "A".into()), ("q:b".into(), "B".into())]],
            }]
        );
    }

    #[test]
    fn a_steps_texts_go_as_one_message_while_they_fit() {
        let text = |t: &str| Outgoing::Text(t.into());
        let choices = |t: &str| Outgoing::Choices {
            text: t.into(),
            options: vec![("q:a".into(), "A".into())],
        };
        let message = |text: &str, buttons: bool| Reply::Message {
            chat: 7,
            text: text.into(),
            buttons: if buttons {
                vec![vec![("q:a".into(), "A".into())]]
            } else {
                Vec::new()
            },
        };
        assert_eq!(
            render(&[text("Hello."), text(" "), choices("Which?")], 7),
            vec![message("Hello.\n\nWhich?", true)]
        );
        // Buttons end a message: what follows starts the next one.
        assert_eq!(
            render(&[choices("Which?"), text("Noted.")], 7),
            vec![message("Which?", true), message("Noted.", false)]
        );
        // Texts that would not fit together stay apart.
        let long = "x".repeat(MAX_TEXT - 5);
        assert_eq!(
            render(&[text(&long), text("Next.")], 7),
            vec![message(&long, false), message("Next.", false)]
        );
    }

    #[test]
    fn flood_windows_count_unanswered_sends_and_age_answered_ones_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = Window::default();
        assert!(matches!(w.fits(t0, 2, SECOND), Fits::Now));
        w.in_flight = 2;
        assert!(matches!(w.fits(t0, 2, SECOND), Fits::AfterAnswer));
        // One answered at t0, one still out: the next fits when the answered one is a
        // second old.
        w.in_flight = 1;
        w.answered.push_back(t0);
        assert!(matches!(w.fits(t0 + ms(10), 2, SECOND), Fits::At(t) if t == t0 + SECOND));
        assert!(matches!(w.fits(t0 + SECOND, 2, SECOND), Fits::Now));
        w.trim(t0 + SECOND, SECOND);
        assert!(w.answered.is_empty());
        w.in_flight = 0;
        assert!(w.idle(t0 + SECOND));
    }

    #[tokio::test]
    async fn a_chat_told_to_wait_is_handed_back_to_an_impatient_sender() {
        let flood = Arc::new(Flood::new(Some(TELEGRAM_LIMITS)));
        let permit = flood.acquire(7, None).await.expect("fits");
        permit.answered::<()>(&Err(RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(30),
        )));
        let wait = flood
            .acquire(7, Some(COURIER_MAX_WAIT))
            .await
            .err()
            .expect("refused");
        assert!(wait > Duration::from_secs(29), "{wait:?}");
        // Other chats are not held up by it.
        drop(
            flood
                .acquire(8, Some(COURIER_MAX_WAIT))
                .await
                .expect("fits"),
        );
        // Off: nothing is counted.
        let off = Arc::new(Flood::new(None));
        for _ in 0..100 {
            drop(
                off.acquire(7, Some(Duration::ZERO))
                    .await
                    .expect("no limits"),
            );
        }
    }

    #[test]
    fn webhook_secrets_are_validated() {
        let env = |secret: String| {
            move |var: &str| match var {
                "TELEGRAM_BOT_TOKEN" => Some("123:ABC".to_owned()),
                "TELEGRAM_WEBHOOK_URL" => Some("https://bx.example/telegram/webhook".to_owned()),
                "TELEGRAM_WEBHOOK_SECRET" => Some(secret.clone()),
                _ => None,
            }
        };
        assert!(TelegramConfig::from_lookup(env("good_Secret-1".into())).is_ok());
        for bad in ["has space".to_owned(), "ümlaut".to_owned(), "x".repeat(257)] {
            let e = TelegramConfig::from_lookup(env(bad.clone())).expect_err(&bad);
            assert!(e.to_string().starts_with("TELEGRAM_WEBHOOK_SECRET"), "{e}");
        }
        assert!(matches!(TelegramConfig::from_lookup(|_| None), Ok(None)));
    }

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
