//! tgsim: a local stand-in for the Telegram Bot API server.
//!
//! Any Bot API client pointed at [`TgSim::url`] (teloxide's `set_api_url`,
//! python-telegram-bot's `base_url`, aiogram's `TelegramAPIServer`) talks to it as to
//! Telegram: same routes (`/bot<TOKEN>/<method>`, `/file/bot<TOKEN>/<path>`), same JSON
//! shapes, same error codes, the same flood limits answered with 429 and
//! `retry_after`. Tests play the users' side through the [`SimHandle`] methods (or the
//! `/control` HTTP API) and read back every message the bot sent or edited.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tgsim::SimError> {
//! use tgsim::{TgSim, TgSimConfig};
//! let sim = TgSim::start(TgSimConfig::new("123:ABC")).await?;
//! // point the bot at sim.url(), then:
//! sim.inject_text(42, 42, "/start")?;
//! let reply = sim.wait_for_bot_message(42, |m| m.content.text.is_some()).await?;
//! # let _ = reply; Ok(()) }
//! ```

pub mod clock;
pub mod limits;
pub mod load;
pub mod model;

mod api;
mod control;
mod markup;
mod params;
mod state;
mod webhook;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use clock::{ManualClock, RealClock, SimClock};
pub use limits::{Limit, RateLimits};
pub use model::{
    BotEvent, BotEventKind, Button, CallbackAnswer, CallbackRecord, ChatType, Contact, Content,
    Injected, SimChat, SimMessage, SimUser, Stats, WebhookState,
};
pub use params::ApiError;
pub use state::{MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT};

use state::Shared;

/// A few bytes shaped like a JPEG, for photos whose content does not matter.
pub const PLACEHOLDER_JPEG: &[u8] =
    b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9";

/// Errors of the simulator's own API (not Bot API answers: those are [`ApiError`]).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No such chat (users create their chats by writing in them).
    #[error("chat {0} does not exist")]
    UnknownChat(i64),
    /// No such live message in the chat.
    #[error("message {message_id} does not exist in chat {chat}")]
    UnknownMessage {
        /// The chat.
        chat: i64,
        /// The message id.
        message_id: i64,
    },
    /// The message has no button with that label or callback data.
    #[error("no button {0:?} on the message")]
    NoSuchButton(String),
    /// User ids are positive.
    #[error("invalid user id {0}: user ids are positive")]
    InvalidUser(i64),
    /// Chat id 0, or a group id that is not negative.
    #[error("invalid chat id {0}")]
    InvalidChat(i64),
    /// A user can only write in their own private chat (chat id = user id).
    #[error("user {user} cannot write in private chat {chat}")]
    NotYourChat {
        /// The user.
        user: i64,
        /// The private chat.
        chat: i64,
    },
    /// A malformed control request.
    #[error("{0}")]
    InvalidInput(String),
    /// The bot did not do what was awaited in time.
    #[error("timed out after {0:?} waiting for the bot")]
    Timeout(Duration),
    /// The simulator was reset or shut down while waiting.
    #[error("the simulator was reset or shut down while waiting")]
    Closed,
    /// Only a [`ManualClock`] can be advanced.
    #[error("the simulator's clock is not a manual clock")]
    ClockNotManual,
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct TgSimConfig {
    /// Address to listen on; port 0 picks a free port (see [`TgSim::url`]).
    pub listen: SocketAddr,
    /// The one bot token accepted; others get 401. Its numeric prefix is the bot id.
    pub token: String,
    /// The bot's first name in getMe and in its messages.
    pub bot_first_name: String,
    /// The bot's @username (without `@`).
    pub bot_username: String,
    /// Flood limits; [`RateLimits::off`] for tests not about them.
    pub limits: RateLimits,
    /// Time source of the rate limiter and message dates.
    pub clock: Arc<dyn SimClock>,
    /// Id of the first update (Telegram's ids start at an arbitrary number).
    pub first_update_id: i64,
    /// Pause before retrying a failed webhook delivery.
    pub webhook_retry_delay: Duration,
    /// How long `wait_for_*` waits for the bot before failing.
    pub wait_timeout: Duration,
}

impl TgSimConfig {
    /// Defaults: listen on 127.0.0.1 port 0, Telegram's limits on real time, bot
    /// "baoxiu_test_bot", first update id 100000001, webhook retries after 1 s,
    /// waits up to 10 s.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.into(),
            bot_first_name: "Baoxiu Test Bot".to_owned(),
            bot_username: "baoxiu_test_bot".to_owned(),
            limits: RateLimits::telegram(),
            clock: Arc::new(RealClock::new()),
            first_update_id: 100_000_001,
            webhook_retry_delay: Duration::from_secs(1),
            wait_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Sets the flood limits.
    pub fn limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `clock` for the rate limiter and message dates.
    pub fn clock(mut self, clock: impl SimClock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the webhook retry delay.
    pub fn webhook_retry_delay(mut self, delay: Duration) -> Self {
        self.webhook_retry_delay = delay;
        self
    }

    /// Sets how long waits for the bot last.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }
}

/// A running simulator. Derefs to [`SimHandle`] for injections and reads; dropping it
/// stops the server.
#[derive(Debug)]
pub struct TgSim {
    handle: SimHandle,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl TgSim {
    /// Binds `config.listen` and serves the Bot API and control API on it.
    pub async fn start(config: TgSimConfig) -> Result<TgSim, SimError> {
        let addr = config.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let shared = Arc::new(Shared::new(config));
        let app = api::router(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("tgsim: server stopped: {e}");
            }
        });
        let hooks = tokio::spawn(webhook::run(shared.clone()));
        tracing::info!(target: "tgsim", "Bot API simulator listening on http://{local}");
        Ok(TgSim {
            handle: SimHandle { shared },
            addr: local,
            tasks: vec![server, hooks],
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for clients, e.g. `http://127.0.0.1:8081` (teloxide's `set_api_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A cloneable handle for injections and reads, usable from other tasks.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops the server and waits for its tasks (long polls are answered first).
    pub async fn shutdown(mut self) {
        self.handle.shared.shutdown.send_replace(true);
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Deref for TgSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for TgSim {
    fn drop(&mut self) {
        self.handle.shared.shutdown.send_replace(true);
    }
}

/// Plays the users' side and reads what the bot did. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

impl SimHandle {
    /// The token the simulator accepts.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    /// The bot's user id (the token's numeric prefix).
    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }

    /// Creates or renames a user (injections create unnamed users on their own).
    pub fn add_user(&self, user: SimUser) -> Result<SimUser, SimError> {
        self.shared.upsert_user(user)
    }

    /// Creates or updates a group chat (negative id) with members. A `username` lets
    /// the bot address it as `@username`.
    pub fn add_group(
        &self,
        id: i64,
        title: &str,
        kind: ChatType,
        username: Option<&str>,
        members: &[i64],
    ) -> Result<SimChat, SimError> {
        self.shared
            .upsert_group(id, title, kind, username.map(str::to_owned), members)
    }

    /// Marks that `user` blocked (or unblocked) the bot: sends to them get 403.
    pub fn set_blocked(&self, user: i64, blocked: bool) {
        self.shared.set_blocked(user, blocked);
    }

    /// `user` writes `text` in `chat` (their private chat: `chat == user`; a group:
    /// negative id, created on first use). A leading `/command` gets a bot_command
    /// entity.
    pub fn inject_text(&self, user: i64, chat: i64, text: &str) -> Result<Injected, SimError> {
        self.shared.inject_text(user, chat, text)
    }

    /// `user` sends a photo with `bytes` (fetchable with getFile) and an optional caption.
    pub fn inject_photo(
        &self,
        user: i64,
        chat: i64,
        caption: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<Injected, SimError> {
        inject_photo(&self.shared, user, chat, caption, bytes)
    }

    /// `user` shares a contact.
    pub fn inject_contact(
        &self,
        user: i64,
        chat: i64,
        contact: Contact,
    ) -> Result<Injected, SimError> {
        self.shared.inject_contact(user, chat, contact)
    }

    /// `user` taps the inline button carrying `data` on bot message `message_id`.
    /// Fails if the message shows no such button, or if `user` is not the owner of
    /// the private chat.
    pub fn tap(
        &self,
        user: i64,
        chat: i64,
        message_id: i64,
        data: &str,
    ) -> Result<Injected, SimError> {
        self.shared
            .inject_tap(user, chat, message_id, data, false, true)
    }

    /// `user` taps the inline button labelled `label` on bot message `message_id`.
    pub fn tap_label(
        &self,
        user: i64,
        chat: i64,
        message_id: i64,
        label: &str,
    ) -> Result<Injected, SimError> {
        self.shared
            .inject_tap(user, chat, message_id, label, true, true)
    }

    /// A callback query with arbitrary `data` from any user, on any message in the
    /// chat: what a modified client could send. For testing that the bot refuses it.
    pub fn forge_tap(
        &self,
        user: i64,
        chat: i64,
        message_id: i64,
        data: &str,
    ) -> Result<Injected, SimError> {
        self.shared
            .inject_tap(user, chat, message_id, data, false, false)
    }

    /// Every message in `chat` (user and bot) in order, with edit history.
    pub fn transcript(&self, chat: i64) -> Result<Vec<SimMessage>, SimError> {
        self.shared.transcript(chat)
    }

    /// The bot's live (not deleted) messages in `chat`, in order.
    pub fn bot_messages(&self, chat: i64) -> Result<Vec<SimMessage>, SimError> {
        Ok(self
            .transcript(chat)?
            .into_iter()
            .filter(|m| m.from_bot && !m.deleted)
            .collect())
    }

    /// The bot's sends, edits and deletes in `chat` with `seq > after`, in order.
    pub fn bot_events(&self, chat: i64, after: u64) -> Result<Vec<BotEvent>, SimError> {
        self.shared.events_after(chat, after)
    }

    /// Sequence number of the bot's latest event in `chat` (0 if none): pass it to
    /// [`SimHandle::wait_for_bot_event`] to wait for what comes next.
    pub fn last_event_seq(&self, chat: i64) -> Result<u64, SimError> {
        Ok(*self.shared.subscribe(chat)?.borrow())
    }

    /// Waits (up to the configured `wait_timeout`) until a live bot message in `chat`
    /// matches `pred`, and returns the first that does. Existing messages count.
    pub async fn wait_for_bot_message(
        &self,
        chat: i64,
        pred: impl Fn(&SimMessage) -> bool,
    ) -> Result<SimMessage, SimError> {
        let timeout = self.shared.config.wait_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.shared.subscribe(chat)?;
        loop {
            rx.borrow_and_update();
            if let Some(m) = self.shared.find_bot_message(chat, &pred)? {
                return Ok(m);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(SimError::Closed),
                Err(_) => return Err(SimError::Timeout(timeout)),
            }
        }
    }

    /// Waits (up to `timeout`) for the bot's next send, edit or delete in `chat` after
    /// event `after`.
    pub async fn wait_for_bot_event(
        &self,
        chat: i64,
        after: u64,
        timeout: Duration,
    ) -> Result<BotEvent, SimError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.shared.subscribe(chat)?;
        loop {
            rx.borrow_and_update();
            if let Some(e) = self.shared.events_after(chat, after)?.into_iter().next() {
                return Ok(e);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(SimError::Closed),
                Err(_) => return Err(SimError::Timeout(timeout)),
            }
        }
    }

    /// A callback query sent to the bot, with its answer once answered.
    pub fn callback(&self, callback_query_id: &str) -> Option<CallbackRecord> {
        self.shared.callback(callback_query_id)
    }

    /// Counters: requests per method, 429s, errors, deliveries.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The webhook, if one is set.
    pub fn webhook(&self) -> Option<WebhookState> {
        self.shared.lock().webhook_state()
    }

    /// Updates not yet confirmed by the bot (getUpdates offset or webhook 2xx).
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Forgets users, chats, updates, files, the webhook and counters. Update ids keep
    /// increasing.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Moves a [`ManualClock`] forward.
    pub fn advance_clock(&self, by: Duration) -> Result<(), SimError> {
        if self.shared.config.clock.advance(by) {
            Ok(())
        } else {
            Err(SimError::ClockNotManual)
        }
    }

    /// Sets the webhook as the bot's setWebhook would (load mode uses it to push to
    /// a bot that does not set its own).
    pub fn set_webhook(
        &self,
        url: &str,
        secret_token: Option<&str>,
        max_connections: Option<u32>,
    ) -> Result<(), ApiError> {
        let mut map = serde_json::Map::new();
        map.insert("url".into(), url.into());
        if let Some(s) = secret_token {
            map.insert("secret_token".into(), s.into());
        }
        if let Some(n) = max_connections {
            map.insert("max_connections".into(), n.into());
        }
        self.shared
            .call("setwebhook", &params::Params::from_map(map))
            .map(|_| ())
    }

    /// Resolves once the bot has made its first authorized request.
    pub async fn bot_connected(&self) {
        let mut rx = self.shared.bot_seen.subscribe();
        let _ = rx.wait_for(|seen| *seen).await;
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn inject_photo(
    shared: &Shared,
    user: i64,
    chat: i64,
    caption: Option<&str>,
    bytes: Vec<u8>,
) -> Result<Injected, SimError> {
    let content = Content {
        caption: caption.map(str::to_owned),
        ..Content::default()
    };
    shared.inject_message(user, chat, content, Some(bytes))
}
