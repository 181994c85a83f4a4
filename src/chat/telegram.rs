//! The Telegram door, on teloxide.
//!
//! Updates arrive by long polling (getUpdates) or, with `TELEGRAM_WEBHOOK_URL`, by our
//! own axum route. Either way each update is first written to `telegram_updates`, then
//! handled, then marked handled together with the replies it produced, then the replies
//! are sent and the row is finished. So:
//! - a crash loses nothing: the polling offset is read from the table (highest id + 1),
//!   and a webhook POST is answered only after the row is written;
//! - an update delivered twice has one effect (the id is the primary key);
//! - an update whose handling began before a crash but did not finish is not applied a
//!   second time (it may or may not have reached the conversation): the person is shown
//!   their current question instead.
//!
//! Replies to a person's own message are sent from here; notifications arrive through the
//! outbox and this door's [`Courier`]. Messages use no parse mode (plain text), so
//! nothing a user typed can be read as markup and nothing needs escaping. Sending goes
//! through teloxide's `Throttle` (Telegram's flood limits); a 429 that still happens is
//! waited out for replies and handed back as [`DeliveryError::RateLimited`] by the
//! courier.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::future::join_all;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::{Limits, Settings};
use teloxide::payloads::{
    AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters, SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, CallbackQuery, CallbackQueryId, ChatId, InlineKeyboardButton,
    InlineKeyboardMarkup, Message, Update, UpdateKind, User,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::Notify;

use super::{Chat, Person};
use crate::flow::{Flows, Incoming, Lang, Outgoing};
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel};
use crate::store::StoreError;

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
/// Updates read from the table per round.
const BATCH: i64 = 100;
/// A handling that began this long ago and never finished was cut short by a crash.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);
/// Finished updates are kept this long (a week: Telegram's own redelivery horizon).
const KEEP_UPDATES: chrono::Duration = chrono::Duration::days(7);
/// How often finished updates are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Times a reply is retried after a 429 before it waits for the next round.
const RATE_LIMIT_RETRIES: usize = 5;
/// In webhook mode the worker also looks at the table this often (for updates another
/// instance received and left unfinished).
const WEBHOOK_IDLE_CHECK: Duration = Duration::from_secs(5);

/// Telegram's documented flood limits: 30 messages/s overall, 1/s per chat, 20/min per
/// chat and per group.
pub const TELEGRAM_LIMITS: Limits = Limits {
    messages_per_sec_chat: 1,
    messages_per_min_chat: 20,
    messages_per_min_channel_or_supergroup: 20,
    messages_per_sec_overall: 30,
};

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
    /// Flood limits applied before sending ([`TELEGRAM_LIMITS`] by default).
    pub limits: Limits,
}

impl TelegramConfig {
    /// A configuration for long polling with Telegram's limits.
    pub fn new(token: impl Into<String>) -> TelegramConfig {
        TelegramConfig {
            token: SecretString::from(token.into()),
            api_url: None,
            webhook_url: None,
            webhook_secret: None,
            limits: TELEGRAM_LIMITS,
        }
    }

    /// Reads `TELEGRAM_BOT_TOKEN` (absent or empty: `Ok(None)`, the door stays off),
    /// `TELEGRAM_API_URL`, `TELEGRAM_WEBHOOK_URL` and `TELEGRAM_WEBHOOK_SECRET`.
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
            limits: TELEGRAM_LIMITS,
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

/// Starts the Telegram door over the chat service: builds the throttled bot (its limiter
/// task starts now, so call this inside the Tokio runtime). Nothing is received until
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
    bot: Throttle<Bot>,
    webhook_url: Option<Url>,
    webhook_secret: Option<SecretString>,
    /// The webhook route pokes the worker when it stored a new update.
    wake: Notify,
    /// Pieces of a message already sent, by outbox id (courier) or update id (replies):
    /// a retry after a partial failure does not repeat them.
    parcels_sent: Mutex<HashMap<i64, usize>>,
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
}

impl Telegram {
    /// See [`start`].
    pub fn new(chat: Chat, config: TelegramConfig) -> Result<Telegram, TelegramError> {
        config.validate()?;
        let mut bot = Bot::new(config.token.expose_secret());
        if let Some(url) = config.api_url {
            bot = bot.set_api_url(url);
        }
        // No automatic retries inside Throttle: replies retry here after a 429, and the
        // courier hands the wait to the dispatcher instead of blocking it.
        let settings = Settings::default().limits(config.limits).no_retry();
        let bot = Throttle::spawn_with_settings(bot, settings);
        Ok(Telegram {
            inner: Arc::new(Inner {
                chat,
                bot,
                webhook_url: config.webhook_url,
                webhook_secret: config.webhook_secret,
                wake: Notify::new(),
                parcels_sent: Mutex::default(),
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

    /// Receives and handles updates until the task is dropped: long polling, or with a
    /// webhook URL, registers the webhook and handles what the route stores. Updates left
    /// unfinished by an earlier run are finished first.
    pub async fn run(self) {
        match self.inner.webhook_url.clone() {
            Some(url) => self.run_webhook(url).await,
            None => self.run_polling().await,
        }
    }

    async fn run_polling(self) {
        let mut backoff = Backoff::default();
        // getUpdates refuses to work while a webhook is set.
        while let Err(e) = self.inner.bot.delete_webhook().await {
            tracing::warn!(error = %e, "telegram: deleteWebhook failed");
            backoff.wait().await;
        }
        backoff.reset();
        let mut pruned: Option<tokio::time::Instant> = None;
        loop {
            self.inner.prune(&mut pruned).await;
            self.drain().await;
            let offset = match self.inner.store().telegram_next_offset().await {
                Ok(o) => i32::try_from(o).unwrap_or(i32::MAX),
                Err(e) => {
                    tracing::error!(error = %e, "telegram: cannot read the update offset");
                    backoff.wait().await;
                    continue;
                }
            };
            let updates = self
                .inner
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT_SECS)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .await;
            match updates {
                Ok(updates) => {
                    backoff.reset();
                    for u in updates {
                        // Stop at the first failure: the offset stays below the update,
                        // so Telegram sends it (and those after it) again.
                        if let Err(e) = self.inner.receive(&u).await {
                            tracing::error!(error = %e, "telegram: cannot store an update");
                            backoff.wait().await;
                            break;
                        }
                    }
                }
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

    async fn run_webhook(self, url: Url) {
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
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: setWebhook failed");
                    backoff.wait().await;
                }
            }
        }
        let mut pruned: Option<tokio::time::Instant> = None;
        loop {
            self.inner.prune(&mut pruned).await;
            self.drain().await;
            // A wake that came while draining is kept as a permit: nothing is missed.
            let _ = tokio::time::timeout(WEBHOOK_IDLE_CHECK, self.inner.wake.notified()).await;
        }
    }

    /// Handles stored updates until none is left that can be finished now. Each person's
    /// updates go in order; different people's run concurrently.
    async fn drain(&self) {
        loop {
            let rows = match self.inner.store().telegram_pending(BATCH).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "telegram: cannot read stored updates");
                    return;
                }
            };
            if rows.is_empty() {
                return;
            }
            let mut lanes: BTreeMap<u64, Vec<Stored>> = BTreeMap::new();
            for (id, body, replies) in rows {
                let update = serde_json::from_str::<Update>(&body).ok();
                let lane = update.as_ref().and_then(Update::from).map_or(0, |u| u.id.0);
                lanes.entry(lane).or_default().push(Stored {
                    id,
                    update,
                    replies,
                });
            }
            let finished: usize = join_all(lanes.into_values().map(|l| self.inner.lane(l)))
                .await
                .into_iter()
                .sum();
            if finished == 0 {
                // What is left waits for the next round (held elsewhere, or Telegram is
                // unreachable right now).
                return;
            }
        }
    }
}

/// A row of `telegram_updates` still to finish.
struct Stored {
    id: i64,
    /// `None` when the body is not an update teloxide can read (it is skipped).
    update: Option<Update>,
    replies: Option<String>,
}

impl Inner {
    fn store(&self) -> &crate::store::Store {
        self.chat.desk().store()
    }

    fn flows(&self) -> &Flows {
        self.chat.flows()
    }

    /// Forgets finished updates older than a week, at most once every `PRUNE_EVERY`.
    async fn prune(&self, last: &mut Option<tokio::time::Instant>) {
        if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            return;
        }
        *last = Some(tokio::time::Instant::now());
        let now = self.chat.desk().now();
        if let Err(e) = self.store().telegram_prune(now - KEEP_UPDATES).await {
            tracing::warn!(error = %e, "telegram: could not prune old updates");
        }
    }

    /// Writes an update down (a repeat changes nothing) and wakes the worker.
    async fn receive(&self, u: &Update) -> Result<(), TelegramError> {
        let body = serde_json::to_string(u)?;
        let now = self.chat.desk().now();
        if self
            .store()
            .telegram_receive(i64::from(u.id.0), &body, now)
            .await?
        {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// One person's updates in order; stops at the first that cannot be finished now.
    /// Returns how many were finished.
    async fn lane(&self, rows: Vec<Stored>) -> usize {
        let mut finished = 0;
        for row in rows {
            match self.process(row).await {
                Ok(true) => finished += 1,
                Ok(false) => break,
                Err(e) => {
                    tracing::error!(error = %e, "telegram: cannot finish an update");
                    break;
                }
            }
        }
        finished
    }

    /// Handles (unless already handled) and answers one stored update; false if it must
    /// wait for a later round.
    async fn process(&self, row: Stored) -> Result<bool, TelegramError> {
        let replies: Vec<Reply> = match row.replies {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::error!(update = row.id, error = %e, "telegram: stored replies unreadable");
                Vec::new()
            }),
            None => {
                let now = self.chat.desk().now();
                let Some(attempt) = self
                    .store()
                    .telegram_claim(row.id, now, now - STALE_AFTER)
                    .await?
                else {
                    return Ok(false);
                };
                let replies = match &row.update {
                    None => {
                        tracing::warn!(update = row.id, "telegram: skipping an unreadable update");
                        Vec::new()
                    }
                    Some(u) if attempt == 1 => self.handle(u).await,
                    // Begun before a crash: it may have reached the conversation already,
                    // so it is not applied again; the person sees where they are.
                    Some(u) => self.recover(u).await,
                };
                let json = serde_json::to_string(&replies)?;
                self.store()
                    .telegram_handled(row.id, &json, self.chat.desk().now())
                    .await?;
                replies
            }
        };
        if !self.send_replies(row.id, &replies).await {
            return Ok(false);
        }
        self.store()
            .telegram_sent(row.id, self.chat.desk().now())
            .await?;
        Ok(true)
    }

    /// What an update asks for, as replies (the conversation's state is durable when this
    /// returns).
    async fn handle(&self, u: &Update) -> Vec<Reply> {
        match &u.kind {
            UpdateKind::Message(m) => self.on_message(m).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(q).await,
            _ => Vec::new(),
        }
    }

    async fn on_message(&self, m: &Message) -> Vec<Reply> {
        // Group chats carry job cards; what people say there is not for the bot.
        let Some(from) = m.from.as_ref().filter(|f| !f.is_bot) else {
            return Vec::new();
        };
        if !m.chat.is_private() || i64::try_from(from.id.0).ok() != Some(m.chat.id.0) {
            return Vec::new();
        }
        let person = person_of(from);
        let chat = m.chat.id.0;
        let input = if let Some(text) = m.text() {
            match command_of(text) {
                Some((cmd, args)) if cmd == "link" => return self.link(&person, &args, chat).await,
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
            return render(&out, chat);
        };
        self.converse(&person, input, chat).await
    }

    async fn on_callback(&self, q: &CallbackQuery) -> Vec<Reply> {
        let answer = |text: Option<String>| Reply::Answer {
            id: q.id.0.clone(),
            text,
        };
        // Buttons on inline-mode messages, or without data, are not ours.
        let (Some(data), Some(msg)) = (q.data.clone(), q.message.as_ref()) else {
            return vec![answer(None)];
        };
        if q.from.is_bot {
            return vec![answer(None)];
        }
        let person = person_of(&q.from);
        let on = msg.chat();
        if on.is_private() {
            // Only the owner of a private chat can tap its buttons: anything else is forged.
            if i64::try_from(q.from.id.0).ok() != Some(on.id.0) {
                return vec![answer(None)];
            }
            let mut out = vec![answer(None)];
            out.extend(
                self.converse(&person, Incoming::Choice(data), on.id.0)
                    .await,
            );
            return out;
        }
        // In a group only job-card buttons count, and only for linked engineers (the chat
        // module then checks that engineer's rights on the ticket). Replies go to the
        // engineer privately; the first line also shows as the tap's toast.
        if Flows::choice_scope(&data).is_none() {
            return vec![answer(None)];
        }
        let lang = self.lang_of(&person).await;
        match self
            .store()
            .engineer_by_identity(CHANNEL, &person.external_id)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return vec![answer(Some(self.text("not_allowed", lang)))],
            Err(e) => {
                tracing::error!(error = %e, "telegram: engineer lookup failed");
                return vec![answer(Some(self.text("try_again", lang)))];
            }
        }
        let Ok(private) = i64::try_from(q.from.id.0) else {
            return vec![answer(None)];
        };
        let replies = self
            .converse(&person, Incoming::Choice(data), private)
            .await;
        let toast = replies.iter().find_map(|r| match r {
            Reply::Message { text, .. } => Some(text.chars().take(MAX_TOAST).collect()),
            Reply::Answer { .. } => None,
        });
        let mut out = vec![answer(toast)];
        out.extend(replies);
        out
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

    /// Hands input to the chat service; its replies (or an apology) for `chat`.
    async fn converse(&self, person: &Person, input: Incoming, chat: i64) -> Vec<Reply> {
        match self.chat.handle(person, input).await {
            Ok(out) => render(&out, chat),
            Err(e) => {
                tracing::error!(error = %e, "telegram: the chat service failed");
                let lang = self.lang_of(person).await;
                render(&[Outgoing::Text(self.text("try_again", lang))], chat)
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
        for (i, reply) in replies.iter().enumerate().skip(done) {
            let mut tries = 0;
            let outcome = loop {
                match self.send(reply).await {
                    Err(DeliveryError::RateLimited(wait)) if tries < RATE_LIMIT_RETRIES => {
                        tries += 1;
                        tokio::time::sleep(wait).await;
                    }
                    other => break other,
                }
            };
            match outcome {
                Ok(()) => {}
                // A callback answer is best effort: the query may have expired meanwhile.
                Err(_) if matches!(reply, Reply::Answer { .. }) => {}
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
    }

    /// Sends one message or callback answer.
    async fn send(&self, reply: &Reply) -> Result<(), DeliveryError> {
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
                    let rows = buttons.iter().map(|row| {
                        row.iter()
                            .map(|(data, label)| InlineKeyboardButton::callback(label, data))
                            .collect::<Vec<_>>()
                    });
                    req = req.reply_markup(InlineKeyboardMarkup::new(rows));
                }
                req.await.map(drop).map_err(delivery_error)
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
            let pieces = render(&parcel.replies, chat);
            let done = lock(&inner.parcels_sent)
                .get(&parcel.id)
                .copied()
                .unwrap_or(0);
            for (i, piece) in pieces.iter().enumerate().skip(done) {
                if let Err(e) = inner.send(piece).await {
                    let mut sent = lock(&inner.parcels_sent);
                    if matches!(e, DeliveryError::Permanent(_)) {
                        sent.remove(&parcel.id);
                    } else {
                        // Parcels that never come back must not pile up here.
                        if sent.len() > 10_000 {
                            sent.clear();
                        }
                        sent.insert(parcel.id, i);
                    }
                    return Err(e);
                }
            }
            lock(&inner.parcels_sent).remove(&parcel.id);
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
    match inner.store().telegram_receive(id, text, now).await {
        Ok(new) => {
            if new {
                inner.wake.notify_one();
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

/// The chat service's replies as Telegram messages for `chat`: long texts split, choices
/// as inline keyboards (on the last piece), forms dropped (the question that follows a
/// form asks its first field as text).
fn render(out: &[Outgoing], chat: i64) -> Vec<Reply> {
    let mut replies = Vec::new();
    for o in out {
        let (text, options) = match o {
            Outgoing::Text(t) => (t, &[][..]),
            Outgoing::Choices { text, options } => (text, &options[..]),
            Outgoing::Form { .. } => continue,
        };
        let mut pieces = split_text(text, MAX_TEXT);
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
