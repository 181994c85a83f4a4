//! The Discord door, on serenity 0.12.
//!
//! Direct messages and interactions (buttons, slash commands, modal submits) arrive over
//! the gateway, or with `discord.public_key` also at Discord's HTTP interactions endpoint
//! ([`endpoint`], signatures verified first by [`signature`]); each is recorded by id in
//! the [`inbox`] before it is handled as [`handling`] tabulates, and answered as
//! [`render`] and [`courier`] say.
//!
//! With `discord.group_channels`, a job offered to a group's engineers is posted once as
//! a card in the group's channel (instead of privately to each): the first linked
//! engineer of that group to click Accept takes it, everyone else who clicks is answered
//! ephemerally, and the card is edited for everyone to say who took it, without buttons.
//! Slash-command descriptions come from `messages.toml` (`cmd_*`), in English with
//! Discord's `zh-CN` localisation.
//!
//! REST goes through `HttpBuilder::proxy` when `discord.api_url` is set (tests point it at
//! the `discordsim` stand-in). What a person waits for (an interaction's answers, replies,
//! cards) is sent through [`rest`], which retries 5xx and 429 answers as Discord asks.

mod courier;
mod endpoint;
#[cfg(test)]
mod fuzz;
mod handling;
mod inbox;
mod render;
mod rest;
mod settings;
mod signature;

pub use endpoint::INTERACTIONS_PATH;
pub use render::{MAX_CONTENT, MAX_CUSTOM_ID};
pub use rest::Patience;
pub use settings::{DiscordConfig, DiscordSettings};
pub use signature::{KeyError, SignatureError};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{Command, CreateAllowedMentions, GatewayIntents, Http, HttpBuilder};
use tokio::sync::watch;

use crate::conversation::{Chat, Lanes};
use crate::desk::ports::DiscordInbox;
use crate::doors::{DoorError, lock};
use crate::flow::FormField;
use crate::lease::Lease;
use crate::outbox::{Courier, Pieces};
use courier::{DiscordCourier, Windows};
use handling::Handler;

/// The channel name of this door.
pub const CHANNEL: &str = "discord";

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Discord {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    /// Events by id, so one dispatched twice is handled once.
    inbox: DiscordInbox,
    http: Arc<Http>,
    /// The client of the calls the door sends itself, with retries ([`rest`]).
    rest: reqwest::Client,
    /// How long to wait for a step before deferring, and how to retry.
    patience: Patience,
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
    /// Each user's events, one at a time.
    lanes: Lanes<u64>,
    /// The gateway session is held by one instance at a time: the one holding this lease.
    lease: Lease,
}

impl Discord {
    /// The door over the conversation service, recording its events in `inbox`, with a
    /// gateway session only while it holds `lease`; nothing is received until
    /// [`Discord::run`] runs (the HTTP interactions endpoint works on every instance).
    pub fn new(chat: Chat, inbox: DiscordInbox, lease: Lease, config: DiscordConfig) -> Discord {
        let token = config.token.expose_secret().to_owned();
        let mut builder = HttpBuilder::new(&token)
            .application_id(config.application_id.into())
            .default_allowed_mentions(CreateAllowedMentions::new());
        if let Some(url) = &config.api_url {
            // serenity rewrites https://discord.com to the proxy only without its limiter.
            builder = builder.proxy(url.clone()).ratelimiter_disabled(true);
        }
        // As serenity builds its own; only a TLS backend that cannot start fails here.
        let rest = reqwest::Client::builder()
            .use_rustls_tls()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Discord {
            inner: Arc::new(Inner {
                chat,
                inbox,
                http: Arc::new(builder.build()),
                rest,
                patience: config.patience,
                token: config.token,
                app_id: config.application_id,
                dms: Mutex::default(),
                forms: Mutex::default(),
                parcels_sent: Pieces::default(),
                limits: Mutex::default(),
                group_channels: config.group_channels,
                cards: tokio::sync::Mutex::new(()),
                public_key: config.public_key,
                lanes: Lanes::default(),
                lease,
            }),
        }
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
    pub async fn register_commands(&self) -> Result<(), DoorError> {
        let chat = &self.inner.chat;
        let commands = render::slash_commands(&|key, lang| chat.text(key, lang));
        Command::set_global_commands(&self.inner.http, commands)
            .await
            .map(drop)
            .map_err(|e| DoorError::Api(e.to_string()))
    }

    /// [`Discord::run_until`] until the task is dropped.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Whenever this instance holds the gateway lease, until `stop`: registers the
    /// commands, connects to the gateway and handles events. The session is left when
    /// the lease is lost or at the stop, before the lease is given up, so that two
    /// instances never hold sessions at once (each would be sent every event). Events
    /// sent while no instance is connected are not replayed to the next one's new
    /// session: a stopping holder hands over within a third of the lease's term, a dead
    /// one's lease runs out in its term.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        let lease = self.inner.lease.clone();
        lease
            .hold(stop, |held| self.clone().gateway(held.ending))
            .await;
    }

    /// Registers the commands, connects to the gateway and handles events until `ending`
    /// turns true, then closes the session; reconnects (after a pause) if the client stops.
    async fn gateway(self, mut ending: watch::Receiver<bool>) {
        let mut pause = Duration::from_secs(1);
        let mut ended = async move || {
            let _ = ending.wait_for(|e| *e).await;
        };
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
                Ok(mut c) => {
                    // The shards run in tasks of their own: dropping the client leaves
                    // them connected, so they are shut down explicitly.
                    let shards = c.shard_manager.clone();
                    tokio::select! {
                        started = c.start() => match started {
                            Ok(()) => pause = Duration::from_secs(1),
                            Err(e) => tracing::warn!(error = %e, "discord: gateway stopped"),
                        },
                        () = ended() => {
                            shards.shutdown_all().await;
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "discord: client not built"),
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = ended() => return,
            }
            pause = (pause * 2).min(Duration::from_secs(60));
        }
    }
}

impl Inner {
    fn lock_dms(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        lock(&self.dms)
    }
}
