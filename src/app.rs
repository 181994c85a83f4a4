//! Building the running service from configuration (zero-to-production style): tests call
//! [`Application::build`] with port 0 and their own clock and tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::chat::Chat;
use crate::chat::discord::{Discord, DiscordConfig, DiscordError};
use crate::chat::telegram::{Telegram, TelegramConfig, TelegramError};
use crate::chat::web::WebHub;
use crate::clock::Clock;
use crate::config::{ApiToken, Config, ConfigError};
use crate::desk::Desk;
use crate::flow::{FlowProblem, Flows};
use crate::http::{AppState, router};
use crate::outbox::Courier;
use crate::outbox::dispatcher::Dispatcher;
use crate::sla::Scheduler;
use crate::store::{Store, StoreError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Database unreachable or migrations failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The conversation files have problems (each `file:line: reason`).
    #[error("bot-flows has problems:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Flows(Vec<FlowProblem>),
    /// The Telegram door could not start.
    #[error("telegram: {0}")]
    Telegram(#[from] TelegramError),
    /// The Discord door could not start.
    #[error("discord: {0}")]
    Discord(#[from] DiscordError),
    /// The port is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    desk: Desk,
    chat: Chat,
    hub: WebHub,
    state: AppState,
    dispatcher: Dispatcher,
    background: bool,
    telegram: Option<Telegram>,
    discord: Option<Discord>,
}

/// Loads and validates the conversation files the configuration points at.
pub fn load_flows(config: &Config, tz: chrono_tz::Tz) -> Result<Flows, StartError> {
    Flows::load_dir(&config.chat.flows_dir())
        .map(|f| f.with_time_zone(tz))
        .map_err(StartError::Flows)
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::connect(&config.database.url, config.database.sqlite_sync).await?;
    store.migrate().await?;
    Ok(store)
}

impl Application {
    /// Checks the configuration, opens and migrates the database, syncs the groups and
    /// binds the listener (`server.listen`; port 0 picks a free port).
    pub async fn build(
        config: &Config,
        source: &str,
        tokens: Vec<ApiToken>,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        let policy = config.policy(source)?;
        let flows = load_flows(config, policy.calendar.time_zone())?;
        let store = open_store(config).await?;
        store.sync_groups(policy.routing.groups()).await?;
        let desk = Desk::new(store, clock, policy);
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        let chat = Chat::new(desk.clone(), flows, config.chat.idle.0);
        let hub = WebHub::default();
        let couriers: Vec<Arc<dyn Courier>> = vec![Arc::new(hub.clone())];
        let dispatcher = Dispatcher::new(chat.clone(), couriers, config.outbox.clone());
        let state = AppState {
            desk: desk.clone(),
            tokens: Arc::new(tokens),
            deliveries: dispatcher.counters(),
        };
        Ok(Application {
            listener,
            desk,
            chat,
            hub,
            state,
            dispatcher,
            background: true,
            telegram: None,
            discord: None,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The desk behind the service (tests seed data through it).
    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// The conversation service (tests drive it directly, like a door would).
    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    /// Live delivery to open web chat tabs.
    pub fn web_hub(&self) -> &WebHub {
        &self.hub
    }

    /// The outbox dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Switches the Telegram door on: its updates are received (polling or webhook at
    /// `POST /telegram/webhook`) and the dispatcher delivers `telegram` messages.
    pub fn with_telegram(mut self, config: TelegramConfig) -> Result<Application, StartError> {
        let telegram = crate::chat::telegram::start(self.chat.clone(), config)?;
        self.dispatcher = self.dispatcher.with_courier(telegram.courier());
        self.telegram = Some(telegram);
        Ok(self)
    }

    /// Switches the Discord door on: the gateway is connected when the service runs and
    /// the dispatcher delivers `discord` messages.
    pub fn with_discord(mut self, config: DiscordConfig) -> Result<Application, StartError> {
        let discord = crate::chat::discord::start(self.chat.clone(), config)?;
        self.dispatcher = self.dispatcher.with_courier(discord.courier());
        self.discord = Some(discord);
        Ok(self)
    }

    /// Serve without starting the SLA scheduler and the dispatcher: tests run their rounds
    /// themselves, in virtual time.
    pub fn without_background_work(mut self) -> Application {
        self.background = false;
        self
    }

    /// Serves until the future `shutdown` completes, then finishes in-flight requests.
    /// Alongside: the SLA scheduler, the outbox dispatcher, and a sweep of idle
    /// conversations once a minute.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = || {
            let stop = stop.clone();
            async move { stop.notified().await }
        };
        let mut workers = vec![tokio::spawn(sweep_idle(
            self.chat.clone(),
            self.hub.clone(),
        ))];
        if self.background {
            workers.push(tokio::spawn(
                Scheduler::new(self.desk.clone()).run(stopped()),
            ));
            workers.push(tokio::spawn(self.dispatcher.clone().run(stopped())));
        }
        let mut app = router(self.state).merge(crate::chat::web::router(self.chat, self.hub));
        if let Some(telegram) = self.telegram {
            app = app.merge(telegram.webhook_router());
            workers.push(tokio::spawn(telegram.run()));
        }
        if let Some(discord) = self.discord {
            // Empty unless DISCORD_PUBLIC_KEY is set.
            app = app.merge(discord.interactions_router());
            workers.push(tokio::spawn(discord.run()));
        }
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        stop.notify_waiters();
        for w in workers {
            w.abort();
        }
        served
    }
}

/// Discards idle conversations and tells the people still looking (open web tabs).
async fn sweep_idle(chat: Chat, hub: WebHub) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match chat.expire_idle().await {
            Ok(expired) => {
                for (person, text) in expired {
                    if person.channel == "web" {
                        hub.push(&person.external_id, &[crate::flow::Outgoing::Text(text)]);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not sweep idle conversations"),
        }
    }
}
