//! The Discord door, on serenity 0.12.
//!
//! Direct messages and interactions (buttons, slash commands, modal submits) arrive over
//! the gateway; each is written to `discord_events` by its snowflake id before it is
//! handled, so a dispatch Discord sends again after a RESUME has no second effect.
//! Every interaction is acknowledged first (a deferred reply or update, well inside
//! Discord's 3 seconds) and answered with follow-ups once the chat service has replied.
//! Up to five choices become buttons (custom_id = the choice id), more a select menu (the
//! chosen value = the choice id), a form becomes a button that opens a modal, and every message goes out with empty `allowed_mentions`, so nothing a user
//! typed can ping anyone. Clicks are checked against the DM's owner: a click by anyone
//! else is acknowledged and ignored.
//!
//! With `DISCORD_GROUP_CHANNELS`, a job offered to a group's engineers is posted once as a
//! card in the group's channel (instead of privately to each): the first linked engineer
//! of that group to click Accept takes it, everyone else who clicks is answered
//! ephemerally, and the card is edited for everyone to say who took it, without buttons.
//! Slash-command descriptions come from `messages.toml` (`cmd_*`), in English with
//! Discord's `zh-CN` localisation.
//!
//! With `DISCORD_PUBLIC_KEY`, [`Discord::interactions_router`] also serves Discord's
//! HTTP interactions endpoint (signatures verified first; see `endpoint.rs`).
//!
//! REST goes through `HttpBuilder::proxy` when `DISCORD_API_URL` is set (tests point it
//! at [`crate::discordsim`]). serenity applies its proxy only with its own rate limiter
//! off, and its errors drop the response headers, so this door keeps Discord's limits
//! itself for the outbox ([`DiscordCourier`]: 50 requests/s, 5 messages per 5 s per DM,
//! counted on the desk's clock) and treats a 429 that still comes back as "wait a
//! second" (its exact `Retry-After` is not visible through serenity).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serenity::all::{
    ActionRowComponent, ButtonStyle, ChannelId, Command, CommandDataOptionValue,
    CommandInteraction, CommandOptionType, ComponentInteraction, ComponentInteractionDataKind,
    Context, CreateActionRow, CreateAllowedMentions, CreateButton, CreateCommand,
    CreateCommandOption, CreateInputText, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    CreateModal, CreateSelectMenu, CreateSelectMenuKind, CreateSelectMenuOption, EditMessage,
    EventHandler, GatewayIntents, Http, HttpBuilder, InputTextStyle, Interaction, InteractionId,
    Message, MessageId, ModalInteraction, Ready, User, UserId,
};
use serenity::builder::Builder;

mod endpoint;
mod signature;

pub use endpoint::INTERACTIONS_PATH;
pub use signature::{KeyError, SignatureError};

use super::cards::{self, CardWall, is_accept};
use super::{Chat, Person};
use crate::flow::{Flows, FormField, Incoming, Lang, Outgoing};
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel, Pieces};
use crate::store::StoreError;

/// The channel name of this door.
pub const CHANNEL: &str = "discord";
/// Discord's limit on a message's content, in characters.
pub const MAX_CONTENT: usize = 2000;
/// Discord's limit on a component's custom_id, in characters.
pub const MAX_CUSTOM_ID: usize = 100;
/// The custom_id of the button that opens the pending form as a modal.
const FORM_BUTTON: &str = "bx:form";
/// The custom_id of a select menu of choices (the choice is the selected value).
const MENU: &str = "bx:menu";
/// The custom_id of the modal itself.
const FORM_MODAL: &str = "bx:form-submit";
/// Discord's limits on modals: title length, text inputs, label and placeholder lengths.
const MODAL_TITLE: usize = 45;
const MODAL_FIELDS: usize = 5;
const INPUT_LABEL: usize = 45;
const INPUT_PLACEHOLDER: usize = 100;
/// Buttons per row and rows per message.
const ROW: usize = 5;
const ROWS: usize = 5;
/// Times a reply is retried after a 429 (a second apart) before it is given up.
const RATE_LIMIT_RETRIES: u32 = 5;
/// Received event ids are kept this long (Discord replays within a session only).
const KEEP_EVENTS: chrono::Duration = chrono::Duration::days(2);
/// Outbox limits: Discord's 50 requests/s overall and 5 messages per 5 s per channel.
const GLOBAL_PER_SEC: usize = 50;
const CHANNEL_MESSAGES: (usize, i64) = (5, 5);

/// The slash commands registered (names as the chat service knows them), each with the
/// `messages.toml` key of its description and, if it takes one, its required string
/// option `(name, description key)`.
const COMMANDS: [(&str, &str, Option<CommandOption>); 6] = [
    ("report", "cmd_report", None),
    ("status", "cmd_status", None),
    ("mytickets", "cmd_mytickets", None),
    ("cancel", "cmd_cancel", None),
    ("lang", "cmd_lang", Some(("language", "cmd_lang_option"))),
    ("link", "cmd_link", Some(("code", "cmd_link_option"))),
];
/// A command's required string option: its name and the key of its description.
type CommandOption = (&'static str, &'static str);
/// Discord's limit on a command's or option's description, in characters.
const MAX_DESCRIPTION: usize = 100;
/// The Discord locale the Chinese texts are registered under.
const ZH_LOCALE: &str = "zh-CN";

/// Why the Discord door could not start or do its work.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
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
    /// Discord (or the gateway) refused or failed.
    #[error("discord: {0}")]
    Api(String),
}

/// How to reach Discord. `DISCORD_BOT_TOKEN` switches the door on.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot token.
    pub token: SecretString,
    /// The application id (interaction follow-ups and commands need it).
    pub application_id: u64,
    /// Another REST base (tests, a proxy): requests go to `{api_url}/api/v10/...`.
    pub api_url: Option<String>,
    /// Engineer groups' channels (`DISCORD_GROUP_CHANNELS`, e.g.
    /// `printer=1234567890,network=2345678901`): offers to a group's engineers are posted
    /// there once, as one job card with an Accept button, instead of privately to each.
    pub group_channels: BTreeMap<String, u64>,
    /// The application's public key (`DISCORD_PUBLIC_KEY`, hex): with it,
    /// [`Discord::interactions_router`] serves the HTTP interactions endpoint.
    pub public_key: Option<ed25519_dalek::VerifyingKey>,
}

impl DiscordConfig {
    /// Reads `DISCORD_BOT_TOKEN` (absent or empty: `Ok(None)`, the door stays off),
    /// `DISCORD_APPLICATION_ID` (required with it), `DISCORD_API_URL`,
    /// `DISCORD_GROUP_CHANNELS` (`group=channel_id,…`) and `DISCORD_PUBLIC_KEY` (hex).
    pub fn from_env() -> Result<Option<DiscordConfig>, DiscordError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`DiscordConfig::from_env`], reading variables through `get`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DiscordConfig>, DiscordError> {
        let get = |var: &str| {
            get(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(token) = get("DISCORD_BOT_TOKEN") else {
            return Ok(None);
        };
        if token.chars().any(char::is_whitespace) {
            return Err(DiscordError::Config {
                var: "DISCORD_BOT_TOKEN",
                reason: "the token contains spaces".into(),
            });
        }
        let application_id = get("DISCORD_APPLICATION_ID")
            .ok_or_else(|| DiscordError::Config {
                var: "DISCORD_APPLICATION_ID",
                reason: "is required with DISCORD_BOT_TOKEN".into(),
            })?
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| DiscordError::Config {
                var: "DISCORD_APPLICATION_ID",
                reason: "must be the application's numeric id".into(),
            })?;
        let api_url = get("DISCORD_API_URL");
        if let Some(url) = &api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(DiscordError::Config {
                var: "DISCORD_API_URL",
                reason: format!("not an http(s) URL: {url}"),
            });
        }
        let group_channels = match get("DISCORD_GROUP_CHANNELS") {
            Some(v) => parse_group_channels(&v)?,
            None => BTreeMap::new(),
        };
        let public_key = get("DISCORD_PUBLIC_KEY")
            .map(|hex| signature::public_key(&hex))
            .transpose()
            .map_err(|e| DiscordError::Config {
                var: "DISCORD_PUBLIC_KEY",
                reason: e.to_string(),
            })?;
        Ok(Some(DiscordConfig {
            token: SecretString::from(token),
            application_id,
            api_url,
            group_channels,
            public_key,
        }))
    }
}

/// Reads `printer=1234567890, network=2345678901`: each engineer group and its channel
/// (a snowflake: a positive number).
fn parse_group_channels(value: &str) -> Result<BTreeMap<String, u64>, DiscordError> {
    super::group_places(
        value,
        "channel_id",
        |id| id.parse().ok().filter(|id: &u64| *id > 0),
        "a channel id (a positive number)",
    )
    .map_err(|reason| DiscordError::Config {
        var: "DISCORD_GROUP_CHANNELS",
        reason,
    })
}

/// Starts the Discord door over the chat service; nothing is received until
/// [`Discord::run`] runs.
pub fn start(chat: Chat, config: DiscordConfig) -> Result<Discord, DiscordError> {
    Discord::new(chat, config)
}

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Discord {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    http: Arc<Http>,
    token: SecretString,
    app_id: u64,
    /// Users' DM channels with the bot.
    dms: Mutex<HashMap<u64, u64>>,
    /// The form each user was last offered, opened as a modal by its button.
    forms: Mutex<HashMap<u64, (String, Vec<FormField>)>>,
    /// Pieces of a parcel already sent: a retry does not repeat them.
    parcels_sent: Pieces,
    /// The courier's own count of Discord's limits.
    limits: Mutex<Windows>,
    /// Engineer groups' channels for job cards.
    group_channels: BTreeMap<String, u64>,
    /// One card posting or edit at a time (per instance; the store's claim covers others).
    cards: tokio::sync::Mutex<()>,
    /// The key HTTP interactions are signed with.
    public_key: Option<ed25519_dalek::VerifyingKey>,
}

/// One message to post: text and choices `(custom_id, label)` in rows of buttons, or
/// (with `menu`) one row that is a select menu.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    content: String,
    buttons: Vec<Vec<(String, String)>>,
    menu: bool,
}

/// Where an interaction's first answer goes.
enum Ack {
    /// A callback request to Discord (interactions from the gateway).
    Callback,
    /// The HTTP response to Discord's POST (the interactions endpoint), taken once.
    Http(Mutex<Option<tokio::sync::oneshot::Sender<CreateInteractionResponse>>>),
}

impl Discord {
    /// See [`start`].
    pub fn new(chat: Chat, config: DiscordConfig) -> Result<Discord, DiscordError> {
        let token = config.token.expose_secret().to_owned();
        let mut builder = HttpBuilder::new(&token)
            .application_id(config.application_id.into())
            .default_allowed_mentions(CreateAllowedMentions::new());
        if let Some(url) = &config.api_url {
            // serenity rewrites https://discord.com to the proxy only without its limiter.
            builder = builder.proxy(url.clone()).ratelimiter_disabled(true);
        }
        Ok(Discord {
            inner: Arc::new(Inner {
                chat,
                http: Arc::new(builder.build()),
                token: config.token,
                app_id: config.application_id,
                dms: Mutex::default(),
                forms: Mutex::default(),
                parcels_sent: Pieces::default(),
                limits: Mutex::default(),
                group_channels: config.group_channels,
                cards: tokio::sync::Mutex::new(()),
                public_key: config.public_key,
            }),
        })
    }

    /// The courier the outbox dispatcher delivers `discord` messages with.
    pub fn courier(&self) -> Arc<dyn Courier> {
        Arc::new(DiscordCourier {
            inner: self.inner.clone(),
        })
    }

    /// Registers the slash commands (a bulk overwrite: repeating it changes nothing), with
    /// English descriptions and Chinese ones for Discord's `zh-CN` locale, from
    /// `messages.toml`.
    pub async fn register_commands(&self) -> Result<(), DiscordError> {
        let flows = self.inner.chat.flows();
        let commands = slash_commands(&|key, lang| flows.text(key, lang, &serde_json::Value::Null));
        Command::set_global_commands(&self.inner.http, commands)
            .await
            .map(drop)
            .map_err(|e| DiscordError::Api(e.to_string()))
    }

    /// Registers the commands, connects to the gateway and handles events until the task
    /// is dropped; reconnects (after a pause) if the client stops.
    pub async fn run(self) {
        let mut pause = Duration::from_secs(1);
        loop {
            if let Err(e) = self.register_commands().await {
                tracing::warn!(error = %e, "discord: commands not registered");
            }
            let intents = GatewayIntents::DIRECT_MESSAGES;
            let http = HttpBuilder::new(self.inner.token.expose_secret())
                .application_id(self.inner.app_id.into());
            // The gateway client's own Http, pointed where ours is.
            let http = match &self.inner.http.proxy {
                Some(url) => http.proxy(url.clone()).ratelimiter_disabled(true),
                None => http,
            };
            let client = serenity::client::ClientBuilder::new_with_http(http.build(), intents)
                .event_handler(Handler {
                    inner: self.inner.clone(),
                });
            match client.await {
                Ok(mut c) => match c.start().await {
                    Ok(()) => pause = Duration::from_secs(1),
                    Err(e) => tracing::warn!(error = %e, "discord: gateway stopped"),
                },
                Err(e) => tracing::warn!(error = %e, "discord: client not built"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(60));
        }
    }
}

struct Handler {
    inner: Arc<Inner>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord: connected");
        let now = self.inner.chat.desk().now();
        if let Err(e) = self.inner.store().discord_prune(now - KEEP_EVENTS).await {
            tracing::warn!(error = %e, "discord: could not prune old events");
        }
    }

    async fn message(&self, _ctx: Context, m: Message) {
        self.inner.on_message(m).await;
    }

    async fn interaction_create(&self, _ctx: Context, i: Interaction) {
        self.inner.on_interaction(i, &Ack::Callback).await;
    }
}

impl Inner {
    fn store(&self) -> &crate::store::Store {
        self.chat.desk().store()
    }

    /// Records an event id; false if it was seen before (or cannot be recorded: then it
    /// is not handled, rather than risk handling it twice).
    async fn first_time(&self, id: u64, kind: &str) -> bool {
        let now = self.chat.desk().now();
        match self
            .store()
            .discord_receive(&id.to_string(), kind, now)
            .await
        {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %e, "discord: cannot record an event");
                false
            }
        }
    }

    async fn handled(&self, id: u64) {
        let now = self.chat.desk().now();
        if let Err(e) = self.store().discord_handled(&id.to_string(), now).await {
            tracing::warn!(error = %e, "discord: cannot mark an event handled");
        }
    }

    async fn on_message(&self, m: Message) {
        // DMs only; what is said in servers is not for the bot.
        if m.author.bot || m.guild_id.is_some() {
            return;
        }
        if !self.first_time(m.id.get(), "message").await {
            return;
        }
        let user = m.author.id.get();
        self.lock_dms().insert(user, m.channel_id.get());
        let person = person_of(&m.author, None);
        let text = m.content.trim();
        let out = if let Some((cmd, args)) = command_of(text) {
            if cmd == "link" {
                self.link(&person, &args).await
            } else {
                self.converse(&person, Incoming::Command(cmd, args)).await
            }
        } else if text.is_empty() {
            match m.attachments.first() {
                Some(a) => self.converse(&person, Incoming::Photo(a.url.clone())).await,
                None => vec![],
            }
        } else {
            self.converse(&person, Incoming::Text(m.content.clone()))
                .await
        };
        let pieces = self.render(user, &out);
        for piece in &pieces {
            if let Err(e) = self.post_patiently(m.channel_id.get(), piece).await {
                tracing::warn!(error = %e, "discord: reply not delivered");
                break;
            }
        }
        self.handled(m.id.get()).await;
    }

    /// Handles an interaction from the gateway or the HTTP endpoint; `ack` says where its
    /// first answer goes.
    async fn on_interaction(&self, i: Interaction, ack: &Ack) {
        match i {
            Interaction::Component(c) => self.on_click(c, ack).await,
            Interaction::Command(c) => self.on_command(c, ack).await,
            Interaction::Modal(m) => self.on_modal(m, ack).await,
            _ => {}
        }
    }

    /// Gives an interaction its first answer.
    async fn respond(
        &self,
        ack: &Ack,
        id: InteractionId,
        token: &str,
        r: CreateInteractionResponse,
    ) -> Result<(), serenity::Error> {
        match ack {
            Ack::Callback => r.execute(&*self.http, (id, token)).await,
            Ack::Http(tx) => {
                if let Some(tx) = lock(tx).take() {
                    // The endpoint may have answered with a deferral already: no matter.
                    let _ = tx.send(r);
                }
                Ok(())
            }
        }
    }

    /// Whether `channel` is `user`'s DM with the bot (a click anywhere else is refused).
    async fn owns(&self, user: &User, channel: ChannelId) -> bool {
        let known = self.lock_dms().get(&user.id.get()).copied();
        let dm = match known {
            Some(dm) => dm,
            None => match user.id.create_dm_channel(&*self.http).await {
                Ok(c) => {
                    self.lock_dms().insert(user.id.get(), c.id.get());
                    c.id.get()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "discord: DM channel unknown");
                    return false;
                }
            },
        };
        dm == channel.get()
    }

    async fn on_click(&self, c: ComponentInteraction, ack: &Ack) {
        if !self.first_time(c.id.get(), "interaction").await {
            return;
        }
        // A click in a server can only be on a group's job card.
        if c.guild_id.is_some() {
            self.on_card_click(&c, ack).await;
            self.handled(c.id.get()).await;
            return;
        }
        let user = c.user.id.get();
        let owner_ok = c.guild_id.is_none()
            && c.message.author.id.get() == self.app_id
            && self.owns(&c.user, c.channel_id).await;
        // The form button is answered with the modal itself (it must be the first answer).
        if owner_ok && c.data.custom_id == FORM_BUTTON {
            let form = lock(&self.forms).get(&user).cloned();
            if let Some((title, fields)) = form {
                let r = CreateInteractionResponse::Modal(modal(&title, &fields));
                if let Err(e) = self.respond(ack, c.id, &c.token, r).await {
                    tracing::warn!(error = %e, "discord: modal not shown");
                }
                self.handled(c.id.get()).await;
                return;
            }
        }
        if let Err(e) = self
            .respond(ack, c.id, &c.token, CreateInteractionResponse::Acknowledge)
            .await
        {
            tracing::warn!(error = %e, "discord: click not acknowledged");
        }
        if !owner_ok {
            tracing::warn!(
                user,
                "discord: a click on someone else's message was ignored"
            );
            self.handled(c.id.get()).await;
            return;
        }
        let person = person_of(&c.user, Some(&c.locale));
        let out = if c.data.custom_id == FORM_BUTTON {
            // The form is gone (a restart): show where the conversation stands.
            self.chat.resume(&person).await.unwrap_or_default()
        } else {
            self.chat_or_sorry(&person, Incoming::Choice(choice_of(&c)))
                .await
        };
        for piece in self.render(user, &out) {
            let f = followup(&piece);
            if let Err(e) = c.create_followup(&*self.http, f).await {
                tracing::warn!(error = %e, "discord: follow-up not delivered");
                break;
            }
        }
        self.handled(c.id.get()).await;
    }

    async fn on_command(&self, c: CommandInteraction, ack: &Ack) {
        if !self.first_time(c.id.get(), "interaction").await {
            return;
        }
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        if let Err(e) = self.respond(ack, c.id, &c.token, defer).await {
            tracing::warn!(error = %e, "discord: command not acknowledged");
        }
        let person = person_of(&c.user, Some(&c.locale));
        let args: Vec<String> = c
            .data
            .options
            .iter()
            .filter_map(|o| match &o.value {
                CommandDataOptionValue::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let args = args.join(" ");
        let out = if c.guild_id.is_some() {
            vec![]
        } else if c.data.name == "link" {
            self.link(&person, &args).await
        } else {
            self.converse(&person, Incoming::Command(c.data.name.clone(), args))
                .await
        };
        for piece in self.render(c.user.id.get(), &out) {
            if let Err(e) = c.create_followup(&*self.http, followup(&piece)).await {
                tracing::warn!(error = %e, "discord: follow-up not delivered");
                break;
            }
        }
        self.handled(c.id.get()).await;
    }

    async fn on_modal(&self, m: ModalInteraction, ack: &Ack) {
        if !self.first_time(m.id.get(), "interaction").await {
            return;
        }
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        if let Err(e) = self.respond(ack, m.id, &m.token, defer).await {
            tracing::warn!(error = %e, "discord: modal not acknowledged");
        }
        let user = m.user.id.get();
        let out = if m.guild_id.is_none() && m.data.custom_id == FORM_MODAL {
            let values: BTreeMap<String, String> = m
                .data
                .components
                .iter()
                .flat_map(|row| row.components.iter())
                .filter_map(|c| match c {
                    ActionRowComponent::InputText(t) => {
                        Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
                    }
                    _ => None,
                })
                .collect();
            lock(&self.forms).remove(&user);
            let person = person_of(&m.user, Some(&m.locale));
            self.chat_or_sorry(&person, Incoming::Form(values)).await
        } else {
            vec![]
        };
        for piece in self.render(user, &out) {
            if let Err(e) = m.create_followup(&*self.http, followup(&piece)).await {
                tracing::warn!(error = %e, "discord: follow-up not delivered");
                break;
            }
        }
        self.handled(m.id.get()).await;
    }

    async fn converse(&self, person: &Person, input: Incoming) -> Vec<Outgoing> {
        self.chat_or_sorry(person, input).await
    }

    /// The chat service's replies, or an apology.
    async fn chat_or_sorry(&self, person: &Person, input: Incoming) -> Vec<Outgoing> {
        match self.chat.handle(person, input).await {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "discord: the chat service failed");
                let lang = person
                    .language
                    .as_deref()
                    .map_or(Lang::ZhCn, Lang::from_code);
                vec![Outgoing::Text(self.text("try_again", lang))]
            }
        }
    }

    /// `/link CODE`: links this Discord account to the engineer the code was issued for.
    async fn link(&self, person: &Person, code: &str) -> Vec<Outgoing> {
        let lang = person
            .language
            .as_deref()
            .map_or(Lang::ZhCn, Lang::from_code);
        let text = if code.trim().is_empty() {
            self.text("link_usage", lang)
        } else {
            match self
                .chat
                .desk()
                .redeem_link_code(code, CHANNEL, &person.external_id)
                .await
            {
                Ok(Some(e)) => self.chat.flows().text(
                    "link_done",
                    lang,
                    &serde_json::json!({ "engineer": e.name }),
                ),
                Ok(None) => self.text("link_refused", lang),
                Err(e) => {
                    tracing::error!(error = %e, "discord: linking failed");
                    self.text("try_again", lang)
                }
            }
        };
        vec![Outgoing::Text(text)]
    }

    fn text(&self, key: &str, lang: Lang) -> String {
        self.chat.flows().text(key, lang, &serde_json::Value::Null)
    }

    fn lock_dms(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        lock(&self.dms)
    }

    /// Replies as Discord messages; a form is remembered for `user` and offered as a
    /// button that opens it as a modal.
    fn render(&self, user: u64, out: &[Outgoing]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for o in out {
            if let Outgoing::Form { title, fields } = o {
                if (1..=MODAL_FIELDS).contains(&fields.len()) {
                    lock(&self.forms).insert(user, (title.clone(), fields.clone()));
                    pieces.push(Piece {
                        content: title.clone(),
                        buttons: vec![vec![(
                            FORM_BUTTON.to_owned(),
                            format!("📝 {}", cut(title, 70)),
                        )]],
                        menu: false,
                    });
                }
                continue;
            }
            pieces.extend(render_one(o));
        }
        pieces
    }

    /// Posts a reply, waiting out 429s a few times (a reply is not in the outbox).
    async fn post_patiently(&self, channel: u64, piece: &Piece) -> Result<(), DeliveryError> {
        let mut tries = 0;
        loop {
            match self.post(channel, piece).await {
                Err(DeliveryError::RateLimited(wait)) if tries < RATE_LIMIT_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(wait).await;
                }
                other => return other.map(drop),
            }
        }
    }

    async fn post(&self, channel: u64, piece: &Piece) -> Result<u64, DeliveryError> {
        let mut m = CreateMessage::new()
            .content(piece.content.clone())
            .allowed_mentions(CreateAllowedMentions::new());
        if !piece.buttons.is_empty() {
            m = m.components(action_rows(piece));
        }
        ChannelId::new(channel)
            .send_message(&*self.http, m)
            .await
            .map(|m| m.id.get())
            .map_err(delivery_error)
    }

    /// A click on a message in a server: only a linked engineer of the card's group may
    /// press its Accept button. The clicker alone is answered (ephemerally); replies
    /// with buttons also go to their DM; a take shows on the card for everyone.
    async fn on_card_click(&self, c: &ComponentInteraction, ack: &Ack) {
        let quietly = CreateInteractionResponseMessage::new().ephemeral(true);
        let defer = CreateInteractionResponse::Defer(quietly);
        if let Err(e) = self.respond(ack, c.id, &c.token, defer).await {
            tracing::warn!(error = %e, "discord: card click not acknowledged");
        }
        let (channel, message) = (c.channel_id.get(), c.message.id.get());
        let person = person_of(&c.user, Some(&c.locale));
        let out = self
            .card_click(&person, channel, message, &c.data.custom_id)
            .await;
        let said: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Outgoing::Text(t) | Outgoing::Choices { text: t, .. } => Some(t.as_str()),
                Outgoing::Form { .. } => None,
            })
            .collect();
        let note = CreateInteractionResponseFollowup::new()
            .content(cut(&said.join("\n"), MAX_CONTENT))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = c.create_followup(&*self.http, note).await {
            tracing::warn!(error = %e, "discord: card reply not delivered");
        }
        // Buttons for the job (what to do next) belong in the engineer's DM.
        if out.iter().any(|o| matches!(o, Outgoing::Choices { .. })) {
            let user = c.user.id.get();
            match self.dm_of(user).await {
                Ok(dm) => {
                    for piece in self.render(user, &out) {
                        if let Err(e) = self.post_patiently(dm, &piece).await {
                            tracing::warn!(error = %e, "discord: job buttons not delivered");
                            break;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "discord: DM channel unknown"),
            }
        }
        let (place, message) = (channel.to_string(), message.to_string());
        if let Some(text) = cards::taken_text(self, &place, &message).await
            && let Err(e) = self.edit_card(&place, &message, &text).await
        {
            tracing::warn!(error = %e, "discord: card not edited");
        }
    }

    /// What a card click does: the chat service's replies to the engineer, or why not.
    async fn card_click(
        &self,
        person: &Person,
        channel: u64,
        message: u64,
        custom_id: &str,
    ) -> Vec<Outgoing> {
        let lang = person
            .language
            .as_deref()
            .map_or(Lang::ZhCn, Lang::from_code);
        let say = |key: &str| vec![Outgoing::Text(self.text(key, lang))];
        let store = self.store();
        let card = match store
            .card_at(CHANNEL, &channel.to_string(), &message.to_string())
            .await
        {
            Ok(Some(card)) => card,
            Ok(None) => return say("not_allowed"),
            Err(e) => {
                tracing::error!(error = %e, "discord: card lookup failed");
                return say("try_again");
            }
        };
        // Only the card's own Accept, whatever custom_id a forger sends.
        if !is_accept_for(custom_id, &card.ticket) {
            return say("not_allowed");
        }
        let engineer = match store
            .engineer_by_identity(CHANNEL, &person.external_id)
            .await
        {
            Ok(Some(e)) => e,
            Ok(None) => return say("card_not_engineer"),
            Err(e) => {
                tracing::error!(error = %e, "discord: engineer lookup failed");
                return say("try_again");
            }
        };
        if self.group_channels.get(&engineer.group) != Some(&channel) {
            return say("not_allowed");
        }
        self.chat_or_sorry(person, Incoming::Choice(custom_id.to_owned()))
            .await
    }

    /// The DM channel of a user, opened if need be.
    async fn dm_of(&self, user: u64) -> Result<u64, DeliveryError> {
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

/// The slash commands to register, their descriptions from `text(key, lang)` (cut to
/// Discord's 100 characters).
fn slash_commands(text: &dyn Fn(&str, Lang) -> String) -> Vec<CreateCommand> {
    let describe = |key: &str, lang| cut(&text(key, lang), MAX_DESCRIPTION);
    COMMANDS
        .iter()
        .map(|(name, key, option)| {
            let c = CreateCommand::new(*name)
                .description(describe(key, Lang::En))
                .description_localized(ZH_LOCALE, describe(key, Lang::ZhCn));
            match option {
                Some((option, key)) => c.add_option(
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        *option,
                        describe(key, Lang::En),
                    )
                    .description_localized(ZH_LOCALE, describe(key, Lang::ZhCn))
                    .required(true),
                ),
                None => c,
            }
        })
        .collect()
}

/// One reply as messages: long texts split, the choices on the last piece — up to five
/// as buttons, more as a select menu (Discord's idiom for a list) — and at most 25 per
/// message (more go on further messages).
fn render_one(o: &Outgoing) -> Vec<Piece> {
    let (text, options) = match o {
        Outgoing::Text(t) => (t, &[][..]),
        Outgoing::Choices { text, options } => (text, &options[..]),
        Outgoing::Form { .. } => return vec![],
    };
    let options: Vec<(String, String)> = options
        .iter()
        .filter(|(id, _)| !id.is_empty() && id.chars().count() <= MAX_CUSTOM_ID)
        .map(|(id, label)| (id.clone(), cut(label, 80)))
        .collect();
    let menu = options.len() > ROW;
    let rows = |chunk: &[(String, String)]| -> Vec<Vec<(String, String)>> {
        if menu {
            vec![chunk.to_vec()]
        } else {
            chunk.chunks(ROW).map(<[_]>::to_vec).collect()
        }
    };
    let mut pieces: Vec<Piece> = split(text, MAX_CONTENT)
        .into_iter()
        .map(|content| Piece {
            content,
            buttons: vec![],
            menu: false,
        })
        .collect();
    let mut groups = options.chunks(ROW * ROWS);
    if let Some(first) = groups.next() {
        match pieces.last_mut() {
            Some(last) => {
                last.buttons = rows(first);
                last.menu = menu;
            }
            None => pieces.push(Piece {
                content: "⬇️".into(),
                buttons: rows(first),
                menu,
            }),
        }
    }
    for more in groups {
        pieces.push(Piece {
            content: "⬇️".into(),
            buttons: rows(more),
            menu,
        });
    }
    pieces
}

impl CardWall for Inner {
    const DOOR: &'static str = CHANNEL;

    fn chat(&self) -> &Chat {
        &self.chat
    }

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
            content: cut(text, MAX_CONTENT),
            buttons: buttons.to_vec(),
            menu: false,
        };
        let fits = lock(&self.limits).take(channel, self.chat.desk().now());
        match fits {
            Ok(()) => self.post(channel, &piece).await.map(|m| m.to_string()),
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
        let edit = EditMessage::new()
            .content(cut(text, MAX_CONTENT))
            .components(vec![])
            .allowed_mentions(CreateAllowedMentions::new());
        ChannelId::new(snowflake(place)?)
            .edit_message(&*self.http, MessageId::new(snowflake(message_id)?), edit)
            .await
            .map(drop)
            .map_err(delivery_error)
    }
}

/// A channel or message id as stored with a card.
fn snowflake(id: &str) -> Result<u64, DeliveryError> {
    id.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| DeliveryError::Permanent(format!("`{id}` is not a Discord id")))
}

/// What a click chose: a button's custom_id, or the value picked in a select menu.
fn choice_of(c: &ComponentInteraction) -> String {
    match &c.data.kind {
        ComponentInteractionDataKind::StringSelect { values } if c.data.custom_id == MENU => {
            values.first().cloned().unwrap_or_default()
        }
        _ => c.data.custom_id.clone(),
    }
}

/// Whether a custom_id is the Accept of `ticket`'s card.
fn is_accept_for(custom_id: &str, ticket: &str) -> bool {
    is_accept(custom_id) && Flows::choice_scope(custom_id) == Some(ticket)
}

fn action_rows(piece: &Piece) -> Vec<CreateActionRow> {
    if piece.menu {
        let options = piece
            .buttons
            .iter()
            .flatten()
            .map(|(id, label)| CreateSelectMenuOption::new(label.clone(), id.clone()))
            .collect();
        let kind = CreateSelectMenuKind::String { options };
        return vec![CreateActionRow::SelectMenu(CreateSelectMenu::new(
            MENU, kind,
        ))];
    }
    piece
        .buttons
        .iter()
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|(id, label)| {
                        CreateButton::new(id.clone())
                            .label(label.clone())
                            .style(ButtonStyle::Primary)
                    })
                    .collect(),
            )
        })
        .collect()
}

fn followup(piece: &Piece) -> CreateInteractionResponseFollowup {
    let mut f = CreateInteractionResponseFollowup::new()
        .content(piece.content.clone())
        .allowed_mentions(CreateAllowedMentions::new());
    if !piece.buttons.is_empty() {
        f = f.components(action_rows(piece));
    }
    f
}

fn modal(title: &str, fields: &[FormField]) -> CreateModal {
    let rows = fields
        .iter()
        .take(MODAL_FIELDS)
        .map(|f| {
            let style = if f.max_len > 200 {
                InputTextStyle::Paragraph
            } else {
                InputTextStyle::Short
            };
            let mut input = CreateInputText::new(style, cut(&f.label, INPUT_LABEL), f.id.clone())
                .placeholder(cut(&f.hint, INPUT_PLACEHOLDER))
                .required(f.required)
                .max_length(u16::try_from(f.max_len.clamp(1, 4000)).unwrap_or(4000));
            if let Some(v) = &f.value {
                input = input.value(v.clone());
            }
            CreateActionRow::InputText(input)
        })
        .collect();
    CreateModal::new(FORM_MODAL, cut(title, MODAL_TITLE)).components(rows)
}

/// At most `max` characters (an ellipsis marks a cut).
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Splits `text` into pieces of at most `max` characters, at line breaks where possible.
fn split(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if current.chars().count() + line.chars().count() > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        let mut rest: Vec<char> = line.chars().collect();
        while rest.len() > max {
            let tail = rest.split_off(max);
            pieces.push(rest.into_iter().collect());
            rest = tail;
        }
        current.extend(rest);
    }
    pieces.push(current);
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// A Discord user as the chat service knows people.
fn person_of(u: &User, locale: Option<&str>) -> Person {
    let name: String = u
        .global_name
        .clone()
        .unwrap_or_else(|| u.name.clone())
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>()
        .trim()
        .to_owned();
    Person {
        channel: CHANNEL.to_owned(),
        external_id: u.id.get().to_string(),
        name: if name.is_empty() {
            u.id.get().to_string()
        } else {
            name
        },
        language: locale.map(str::to_owned),
    }
}

/// `/cmd args` typed in a DM → (`cmd`, `args`); `None` for text that is not a command.
fn command_of(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix('/')?;
    let (word, args) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, a)| (w, a.trim()));
    let cmd = word.to_ascii_lowercase();
    let ok = !cmd.is_empty()
        && cmd.len() <= 32
        && cmd
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then(|| (cmd, args.to_owned()))
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Recent sends, on the desk's clock: overall and per channel.
#[derive(Default)]
struct Windows {
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
struct DiscordCourier {
    inner: Arc<Inner>,
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
            if cards::deliver(&**inner, parcel).await? {
                return Ok(());
            }
            let dm = inner.dm_of(user).await?;
            let pieces = inner.render(user, &parcel.replies);
            let from = inner.parcels_sent.resume_from(parcel.id);
            for (i, piece) in pieces.iter().enumerate().skip(from) {
                let now = inner.chat.desk().now();
                let fits = lock(&inner.limits).take(dm, now);
                let sent = match fits {
                    Ok(()) => inner.post(dm, piece).await.map(drop),
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
    use crate::chat::cards::accept_button;

    #[test]
    fn up_to_five_choices_are_buttons_more_are_a_select_menu() {
        let choices = |n: usize| Outgoing::Choices {
            text: "Which?".into(),
            options: (0..n)
                .map(|i| (format!("q:{i}"), format!("Option {i}")))
                .collect(),
        };
        let five = render_one(&choices(5));
        assert_eq!(five.len(), 1);
        assert!(!five[0].menu);
        assert_eq!(five[0].buttons, [five[0].buttons[0].clone()]);
        assert_eq!(five[0].buttons[0].len(), 5);

        let seven = render_one(&choices(7));
        assert_eq!(seven.len(), 1);
        assert!(seven[0].menu);
        assert_eq!(seven[0].buttons.len(), 1, "one menu");
        assert_eq!(seven[0].buttons[0][6], ("q:6".into(), "Option 6".into()));
        let rows = serde_json::to_value(action_rows(&seven[0])).expect("json");
        assert_eq!(rows[0]["components"][0]["type"], 3, "{rows}");
        assert_eq!(rows[0]["components"][0]["custom_id"], MENU);
        assert_eq!(rows[0]["components"][0]["options"][6]["value"], "q:6");

        // A menu holds 25 options: more go on a further message.
        let thirty = render_one(&choices(30));
        assert_eq!(thirty.len(), 2);
        assert_eq!(thirty[0].buttons[0].len(), 25);
        assert!(thirty[1].menu && thirty[1].buttons[0].len() == 5);
    }

    #[test]
    fn long_texts_split_under_discords_limit() {
        let text = "第一行 some words\n".repeat(300);
        let pieces = split(&text, MAX_CONTENT);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_CONTENT));
        assert!(split(" \n", MAX_CONTENT).is_empty());
    }

    #[test]
    fn slash_commands_are_described_from_messages_in_both_languages() {
        let flows = crate::flow::Flows::load_dir(&crate::flow::Flows::builtin_dir())
            .expect("bundled flows load");
        let text = |key: &str, lang| flows.text(key, lang, &serde_json::Value::Null);
        let commands = serde_json::to_value(slash_commands(&text)).expect("json");
        let commands = commands.as_array().expect("a list");
        assert_eq!(commands.len(), COMMANDS.len());
        for (c, (name, key, option)) in commands.iter().zip(COMMANDS) {
            assert_eq!(c["name"], name);
            assert_eq!(c["description"], text(key, Lang::En), "{c}");
            assert_eq!(
                c["description_localizations"][ZH_LOCALE],
                text(key, Lang::ZhCn),
                "{c}"
            );
            // A key missing from messages.toml would show as the key itself.
            assert_ne!(c["description"], key);
            let options = c["options"].as_array().cloned().unwrap_or_default();
            assert_eq!(options.len(), usize::from(option.is_some()), "{c}");
            if let Some((option, key)) = option {
                assert_eq!(options[0]["name"], option);
                assert_eq!(options[0]["description"], text(key, Lang::En));
                assert_eq!(
                    options[0]["description_localizations"][ZH_LOCALE],
                    text(key, Lang::ZhCn)
                );
                assert_eq!(options[0]["required"], true);
            }
        }
    }

    #[test]
    fn descriptions_are_cut_to_discords_limit() {
        let long = |_: &str, _| "说".repeat(300);
        let commands = serde_json::to_value(slash_commands(&long)).expect("json");
        for c in commands.as_array().expect("a list") {
            let d = c["description"].as_str().expect("text");
            assert_eq!(d.chars().count(), MAX_DESCRIPTION);
        }
    }

    #[test]
    fn a_card_offers_only_its_own_accept_button() {
        let card = Outgoing::Choices {
            text: "Job BX-2026-000001".into(),
            options: vec![
                ("job:details@BX-2026-000001".into(), "Details".into()),
                ("job:accept@BX-2026-000001".into(), "Accept".into()),
            ],
        };
        let buttons = accept_button(&[Outgoing::Text("New job".into()), card]).expect("one");
        assert_eq!(
            buttons,
            vec![vec![(
                "job:accept@BX-2026-000001".to_owned(),
                "Accept".to_owned()
            )]]
        );
        assert!(accept_button(&[Outgoing::Text("no buttons".into())]).is_none());
        assert!(is_accept_for("job:accept@BX-1", "BX-1"));
        for forged in [
            "job:accept@BX-2",
            "job:resolve@BX-1",
            "job:accept",
            "accept@BX-1x",
        ] {
            assert!(!is_accept_for(forged, "BX-1"), "{forged}");
        }
    }

    #[test]
    fn group_channels_are_parsed_like_telegrams_group_chats() {
        let parsed = parse_group_channels(" printer=1234567890, network = 42 ,").expect("ok");
        assert_eq!(
            parsed,
            BTreeMap::from([
                ("printer".to_owned(), 1_234_567_890),
                ("network".to_owned(), 42)
            ])
        );
        for (bad, says) in [
            ("printer", "is not `group=channel_id`"),
            ("printer=-5", "is not a channel id"),
            ("printer=0", "is not a channel id"),
            ("printer=abc", "is not a channel id"),
            ("=42", "names no group"),
            ("printer=1,printer=2", "given twice"),
        ] {
            let e = parse_group_channels(bad).expect_err(bad).to_string();
            assert!(e.starts_with("DISCORD_GROUP_CHANNELS: "), "{e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
        let env = |var: &str| match var {
            "DISCORD_BOT_TOKEN" => Some("abc.def".to_owned()),
            "DISCORD_APPLICATION_ID" => Some("42".to_owned()),
            "DISCORD_GROUP_CHANNELS" => Some("printer=77".to_owned()),
            _ => None,
        };
        let config = DiscordConfig::from_lookup(env).expect("ok").expect("on");
        assert_eq!(config.group_channels.get("printer"), Some(&77));
    }

    #[test]
    fn a_malformed_public_key_is_refused_with_its_variable() {
        let env = |key: &'static str| {
            move |var: &str| match var {
                "DISCORD_BOT_TOKEN" => Some("abc.def".to_owned()),
                "DISCORD_APPLICATION_ID" => Some("42".to_owned()),
                "DISCORD_PUBLIC_KEY" => Some(key.to_owned()),
                _ => None,
            }
        };
        let e = DiscordConfig::from_lookup(env("abc")).expect_err("refused");
        assert!(e.to_string().starts_with("DISCORD_PUBLIC_KEY: "), "{e}");
        let none = DiscordConfig::from_lookup(env(""))
            .expect("ok")
            .expect("on");
        assert!(none.public_key.is_none());
    }

    #[test]
    fn config_needs_the_application_id() {
        let env = |app: Option<&'static str>| {
            move |var: &str| match var {
                "DISCORD_BOT_TOKEN" => Some("abc.def".to_owned()),
                "DISCORD_APPLICATION_ID" => app.map(str::to_owned),
                _ => None,
            }
        };
        assert!(DiscordConfig::from_lookup(env(Some("42"))).is_ok());
        for bad in [None, Some("x")] {
            let e = DiscordConfig::from_lookup(env(bad)).expect_err("refused");
            assert!(e.to_string().starts_with("DISCORD_APPLICATION_ID"), "{e}");
        }
        assert!(matches!(DiscordConfig::from_lookup(|_| None), Ok(None)));
    }

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
