//! discordsim: a local stand-in for Discord's REST API and gateway.
//!
//! A bot pointed at it — serenity's `HttpBuilder::new(token).proxy(sim.url())` (requests
//! then arrive as `/api/v10/...`) with the gateway URL read from `GET /api/v10/gateway` —
//! talks to it as to Discord: the same routes, JSON shapes and error codes, rate-limit
//! headers and 429s with `Retry-After`, and a websocket gateway speaking HELLO, IDENTIFY,
//! READY, heartbeats, RESUME and dispatches (`MESSAGE_CREATE`, `INTERACTION_CREATE`).
//! Tests play the users' side through the [`DiscordSim`] methods (or the `/control` HTTP
//! API): a DM, a button click, a slash command, a modal submit, dropping the gateway; and
//! read each channel's transcript back, waiting on it without sleeping. They can also
//! script Discord's failures: the next request to a route answered with a 5xx or a 429
//! ([`SimHandle::fail_next`]), with no effect or after it took effect, as a hostile
//! network has it. A message created with `nonce` and `enforce_nonce` is created once
//! per channel and nonce, as on Discord.
//!
//! Servers are reduced to what job cards need: text channels of a guild with a member
//! list ([`SimHandle::add_guild_channel`]), where the bot may post and edit messages and
//! members may click buttons (the interaction carries `guild_id` and `member`, as on
//! Discord); ephemeral replies are kept with the one user who can see them.
//!
//! What it does not do: roles, permissions, attachments' content, voice, zlib
//! compression (dispatches are sent as text frames, which clients accept too).

mod gateway;
pub mod load;
mod rest;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use state::{Limits, Stats};
pub use tgsim::clock::{ManualClock, RealClock, SimClock};

use state::State;

/// Errors of the stand-in's own API (Discord's answers are HTTP statuses with JSON).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A listen address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No such user (add them first).
    #[error("user {0} does not exist")]
    UnknownUser(u64),
    /// No such message.
    #[error("message {0} does not exist")]
    UnknownMessage(u64),
    /// The message has no button with that custom_id or label.
    #[error("no button {0:?} on the message")]
    NoSuchButton(String),
    /// No modal was shown for that interaction.
    #[error("no modal is open for user {0}")]
    NoModal(u64),
    /// The user is not a member of the guild whose channel the message is in.
    #[error("user {user} is not a member of the server of channel {channel}")]
    NotMember {
        /// The user.
        user: u64,
        /// The channel.
        channel: u64,
    },
    /// The bot did not do what was awaited in time.
    #[error("timed out after {0:?} waiting for the bot")]
    Timeout(Duration),
}

/// How to run the stand-in.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// REST address (port 0: any free port).
    pub listen: SocketAddr,
    /// The bot token accepted (`Bot ` prefix optional); others get 401.
    pub token: String,
    /// The application (and bot user) id.
    pub application_id: u64,
    /// Rate limits; [`Limits::off`] for tests not about them.
    pub limits: Limits,
    /// Time source of the rate limits and timestamps.
    pub clock: Arc<dyn SimClock>,
    /// How long `wait_*` helpers wait before failing.
    pub wait_timeout: Duration,
}

impl SimConfig {
    /// Defaults: 127.0.0.1 port 0, Discord's limits on real time, waits of 10 s.
    pub fn new(token: impl Into<String>, application_id: u64) -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.into(),
            application_id,
            limits: Limits::discord(),
            clock: Arc::new(RealClock::new()),
            wait_timeout: Duration::from_secs(10),
        }
    }

    /// With these limits.
    pub fn limits(mut self, limits: Limits) -> SimConfig {
        self.limits = limits;
        self
    }

    /// With this clock.
    pub fn clock(mut self, clock: impl SimClock) -> SimConfig {
        self.clock = Arc::new(clock);
        self
    }

    /// With this wait timeout.
    pub fn wait_timeout(mut self, wait: Duration) -> SimConfig {
        self.wait_timeout = wait;
        self
    }
}

/// A button as shown on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimButton {
    /// The custom_id sent back on a click (for a select menu's option, its value).
    pub custom_id: String,
    /// The label shown.
    pub label: String,
    /// Greyed out.
    pub disabled: bool,
    /// For an option of a select menu: the menu's custom_id (choosing the option sends
    /// the menu's id with this option's value). A row of options is one menu.
    #[serde(default)]
    pub menu: Option<String>,
}

/// A message in a channel, as the transcript shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMessage {
    /// The message id.
    pub id: u64,
    /// The channel.
    pub channel_id: u64,
    /// Who wrote it (the bot's id for the bot).
    pub author_id: u64,
    /// Whether the bot wrote it.
    pub from_bot: bool,
    /// The text.
    pub content: String,
    /// Buttons, in rows (a select menu is a row of its options).
    pub buttons: Vec<Vec<SimButton>>,
    /// The `allowed_mentions` the bot sent with it, if any.
    pub allowed_mentions: Option<Value>,
    /// Times the bot edited it.
    pub edits: u32,
    /// A deferred interaction's "thinking…" placeholder not filled yet.
    pub thinking: bool,
    /// The interaction it answers, if any.
    pub interaction: Option<u64>,
    /// An ephemeral message: the one user who can see it.
    pub ephemeral_to: Option<u64>,
}

impl SimMessage {
    /// The button labelled `label` (or with that custom_id).
    pub fn button(&self, label: &str) -> Option<&SimButton> {
        self.buttons
            .iter()
            .flatten()
            .find(|b| b.label == label || b.custom_id == label)
    }
}

/// A failure Discord answers a request with instead of doing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// The `Retry-After` header, if any.
    pub retry_after_header: Option<String>,
    /// The request takes effect all the same: only its answer is lost (a timeout or a
    /// 5xx after the work was done), so a retry must not do it twice.
    pub applied: bool,
}

impl Fault {
    /// A 500 with Discord's error body.
    pub fn server_error() -> Fault {
        Fault {
            status: 500,
            body: serde_json::json!({"message": "500: Internal Server Error", "code": 0}),
            retry_after_header: None,
            applied: false,
        }
    }

    /// This failure, after the request took effect (see [`Fault::applied`]).
    pub fn after_effect(self) -> Fault {
        Fault {
            applied: true,
            ..self
        }
    }

    /// A 429 exactly as Discord documents it: a body without `code`, with `retry_after`
    /// in (fractional) seconds, and `Retry-After` in whole seconds (rounded up).
    pub fn rate_limited(retry_after: Duration) -> Fault {
        let whole = retry_after.as_millis().div_ceil(1000).max(1);
        Fault {
            status: 429,
            body: serde_json::json!({
                "message": "You are being rate limited.",
                "retry_after": retry_after.as_secs_f64(),
                "global": false,
            }),
            retry_after_header: Some(whole.to_string()),
            applied: false,
        }
    }
}

/// A modal the bot opened in answer to an interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimModal {
    /// The interaction it answered.
    pub interaction: u64,
    /// Its custom_id.
    pub custom_id: String,
    /// Its title.
    pub title: String,
    /// The text inputs: (custom_id, label).
    pub fields: Vec<(String, String)>,
}

/// What became of an interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimInteraction {
    /// Its id.
    pub id: u64,
    /// Who made it.
    pub user: u64,
    /// The callback type the bot answered with (4, 5, 6, 7, 9), if it did.
    pub callback: Option<u8>,
    /// How long after dispatch it was answered (real time).
    pub answered_after: Option<Duration>,
    /// Callbacks refused (late, or a second one).
    pub refused_callbacks: u32,
}

/// A running stand-in. Dropping it stops its servers.
pub struct DiscordSim {
    handle: SimHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl std::ops::Deref for DiscordSim {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for DiscordSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.handle.shared.drop_gateway(false);
    }
}

/// The test side of the stand-in: cheap to clone.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

/// What the servers and the handle share.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<State>,
    /// Woken on every change (new message, edit, callback, connection).
    pub(crate) changed: Notify,
    pub(crate) rest_url: String,
    pub(crate) gateway_url: String,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the live gateway connection: with a resumable close code (4000), or abruptly.
    pub(crate) fn drop_gateway(&self, resumable: bool) {
        let conn = {
            let mut st = self.lock();
            st.gateway.ready = false;
            st.gateway.conn.take()
        };
        if let Some(tx) = conn {
            let _ = tx.send(gateway::Command::Close(resumable));
        }
        self.changed.notify_waiters();
    }
}

impl DiscordSim {
    /// Starts the REST server and the gateway.
    pub async fn start(config: SimConfig) -> Result<DiscordSim, SimError> {
        let rest = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let gw_addr = SocketAddr::new(config.listen.ip(), 0);
        let gw = tokio::net::TcpListener::bind(gw_addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: gw_addr,
                source,
            })?;
        let rest_addr = rest.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let gw_local = gw.local_addr().map_err(|source| SimError::Bind {
            addr: gw_addr,
            source,
        })?;
        let state = State::new(&config);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
            changed: Notify::new(),
            rest_url: format!("http://{rest_addr}"),
            gateway_url: format!("ws://{gw_local}"),
        });
        let app = rest::router(shared.clone());
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(rest, app).await;
            }),
            tokio::spawn(gateway::serve(gw, shared.clone())),
        ];
        Ok(DiscordSim {
            handle: SimHandle { shared },
            tasks,
        })
    }

    /// A handle to use elsewhere.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }
}

impl SimHandle {
    /// The REST base URL (give it to `HttpBuilder::proxy`).
    pub fn url(&self) -> String {
        self.shared.rest_url.clone()
    }

    /// The gateway's websocket URL.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url.clone()
    }

    /// The bot's application (and user) id.
    pub fn application_id(&self) -> u64 {
        self.shared.config.application_id
    }

    /// Adds a user (their DM channel with the bot is created with them).
    pub fn add_user(&self, id: u64, name: &str, locale: &str) -> u64 {
        self.shared.lock().add_user(id, name, locale)
    }

    /// Adds a text channel of guild `guild` with these members (users are added as
    /// needed); the bot may post there and members may click.
    pub fn add_guild_channel(&self, guild: u64, channel: u64, members: &[(u64, &str, &str)]) {
        self.shared
            .lock()
            .add_guild_channel(guild, channel, members);
    }

    /// What `user` sees of the bot's messages in `channel`: the public ones and those
    /// ephemeral to them, oldest first.
    pub fn seen_by(&self, user: u64, channel: u64) -> Vec<SimMessage> {
        self.transcript(channel)
            .into_iter()
            .filter(|m| m.from_bot && m.ephemeral_to.is_none_or(|to| to == user))
            .collect()
    }

    /// A counter that moves whenever the bot posts or edits a message in `channel`.
    pub fn watch(&self, channel: u64) -> tokio::sync::watch::Receiver<u64> {
        self.shared
            .lock()
            .watchers
            .entry(channel)
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    /// The newest bot message in `user`'s DM with an enabled button `label` (label or
    /// custom_id).
    pub fn newest_button(&self, user: u64, label: &str) -> Option<u64> {
        let st = self.shared.lock();
        let dm = st.users.get(&user)?.dm;
        st.by_channel.get(&dm)?.iter().rev().find_map(|id| {
            let m = st.messages.get(id)?;
            (m.from_bot && m.button(label).is_some_and(|b| !b.disabled)).then_some(m.id)
        })
    }

    /// The DM channel between the bot and `user`.
    pub fn dm_channel(&self, user: u64) -> Result<u64, SimError> {
        self.shared
            .lock()
            .users
            .get(&user)
            .map(|u| u.dm)
            .ok_or(SimError::UnknownUser(user))
    }

    /// `user` writes `text` in their DM with the bot; the message as dispatched.
    pub fn send_dm(&self, user: u64, text: &str) -> Result<SimMessage, SimError> {
        let m = self.shared.lock().user_message(user, text)?;
        self.shared.changed.notify_waiters();
        Ok(m)
    }

    /// `user` clicks the button `label` (label or custom_id), or chooses that option of a
    /// select menu, on message `message_id`,
    /// wherever it is (a click on someone else's DM is how a forged one looks); the
    /// interaction id.
    pub fn click(&self, user: u64, message_id: u64, label: &str) -> Result<u64, SimError> {
        let id = self.shared.lock().click(user, message_id, label, false)?;
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    /// A component interaction with any custom_id at all, as a forger would craft it.
    pub fn forge_click(
        &self,
        user: u64,
        message_id: u64,
        custom_id: &str,
    ) -> Result<u64, SimError> {
        let id = self
            .shared
            .lock()
            .click(user, message_id, custom_id, true)?;
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    /// `user` runs the slash command `/name` (with string options) in their DM.
    pub fn slash(&self, user: u64, name: &str, options: &[(&str, &str)]) -> Result<u64, SimError> {
        let id = self.shared.lock().slash(user, name, options)?;
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    /// A slash command by `user` in their DM, for the test to POST to the bot's HTTP
    /// interactions endpoint itself (not dispatched on the gateway): its id and body.
    pub fn http_slash(
        &self,
        user: u64,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<(u64, Value), SimError> {
        self.shared.lock().http_slash(user, name, options)
    }

    /// `user` submits the modal the bot last opened for them, with these values by field
    /// custom_id.
    pub fn submit_modal(
        &self,
        user: u64,
        values: &BTreeMap<String, String>,
    ) -> Result<u64, SimError> {
        let id = self.shared.lock().submit_modal(user, values)?;
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    /// The modal last opened for `user`, if any.
    pub fn modal(&self, user: u64) -> Option<SimModal> {
        self.shared.lock().modals.get(&user).cloned()
    }

    /// What became of an interaction.
    pub fn interaction(&self, id: u64) -> Option<SimInteraction> {
        self.shared.lock().interactions.get(&id).map(|i| i.public())
    }

    /// A channel's messages, oldest first (the user's and the bot's).
    pub fn transcript(&self, channel: u64) -> Vec<SimMessage> {
        self.shared
            .lock()
            .messages
            .values()
            .filter(|m| m.channel_id == channel)
            .cloned()
            .collect()
    }

    /// The bot's messages in `user`'s DM, oldest first.
    pub fn bot_messages(&self, user: u64) -> Vec<SimMessage> {
        let Ok(dm) = self.dm_channel(user) else {
            return Vec::new();
        };
        self.transcript(dm)
            .into_iter()
            .filter(|m| m.from_bot)
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// The slash commands the bot registered.
    pub fn commands(&self) -> Vec<String> {
        self.shared
            .lock()
            .commands
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Ends the gateway connection with close code 4000 (Discord's "unknown error",
    /// resumable): the client resumes and the events it missed are replayed. With
    /// `replay`, the resume also re-sends that many events it had already received (as
    /// Discord may): the bot must not apply them twice.
    pub fn drop_gateway(&self, replay: u64) {
        self.shared.lock().gateway.replay_extra = replay;
        self.shared.drop_gateway(true);
    }

    /// Answers the next `n` rate-limited requests with 429 (global, `retry_after`), as
    /// when the bot's IP is limited: a burst to test that nothing is lost or repeated.
    pub fn burst_429(&self, n: u32, retry_after: Duration) {
        let mut st = self.shared.lock();
        st.forced_429 = n;
        st.forced_retry_after = retry_after;
    }

    /// The next request to `route` (a name as [`Stats::requests`] counts it: `followup`,
    /// `interaction_callback`, `edit_original`, `create_message`, `edit_message`, …) is
    /// answered with `fault` and has no effect (unless [`Fault::applied`]); faults for one
    /// route are used in order.
    pub fn fail_next(&self, route: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(route.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// Advances a manual clock (false for a real one).
    pub fn advance(&self, by: Duration) -> bool {
        self.shared.config.clock.advance(by)
    }

    /// Waits (without polling on a timer) until `check` finds something.
    pub async fn wait_for<T>(
        &self,
        mut check: impl FnMut(&SimHandle) -> Option<T>,
    ) -> Result<T, SimError> {
        let wait = self.shared.config.wait_timeout;
        tokio::time::timeout(wait, async {
            loop {
                let changed = self.shared.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(found) = check(self) {
                    return found;
                }
                changed.await;
            }
        })
        .await
        .map_err(|_| SimError::Timeout(wait))
    }

    /// Waits for a bot message in `user`'s DM with an id above `after` that `pred` likes.
    pub async fn wait_for_bot_message(
        &self,
        user: u64,
        after: u64,
        mut pred: impl FnMut(&SimMessage) -> bool,
    ) -> Result<SimMessage, SimError> {
        self.wait_for(|sim| {
            sim.bot_messages(user)
                .into_iter()
                .find(|m| m.id > after && !m.thinking && pred(m))
        })
        .await
    }

    /// Waits until the gateway has a live, identified (or resumed) connection.
    pub async fn wait_connected(&self) -> Result<(), SimError> {
        self.wait_for(|sim| sim.shared.lock().gateway.ready.then_some(()))
            .await
    }

    /// Waits until interaction `id` was answered; its record.
    pub async fn wait_answered(&self, id: u64) -> Result<SimInteraction, SimError> {
        self.wait_for(|sim| sim.interaction(id).filter(|i| i.callback.is_some()))
            .await
    }
}
