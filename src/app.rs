//! The one composition root (zero-to-production style): configuration in, the running
//! service out. [`Core`] is the store, the desk and the conversation service, wired with
//! the desk's ports, for every command that works on the database (`serve`, `chat`,
//! `report`, `outbox`); [`Application`] adds the HTTP server, the doors, the scheduler
//! and the dispatcher. Tests call [`Application::build`] with port 0 and their own clock
//! and tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{ApiToken, Config, ConfigError};
use crate::console::Console;
use crate::conversation::Chat;
use crate::desk::Desk;
use crate::doors::DoorError;
use crate::doors::discord::{Discord, DiscordConfig};
use crate::doors::telegram::{Telegram, TelegramConfig};
use crate::doors::web::Web;
use crate::doors::wecom::{Wecom, WecomConfig};
use crate::flow::{FlowProblem, Flows};
use crate::http::{AppState, router};
use crate::lease::{Lease, holder_id};
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
    /// A chat door could not start.
    #[error("{0}")]
    Door(#[from] DoorError),
    /// The port is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The service's core: the database, the desk over it and the conversation service over
/// the desk, each consumer with its port.
#[derive(Clone)]
pub struct Core {
    store: Store,
    /// The desk.
    pub desk: Desk,
    /// The conversation service.
    pub chat: Chat,
}

impl Core {
    /// Checks the configuration, loads the conversation files, opens and migrates the
    /// database, syncs the engineer groups and wires the desk and the conversations.
    pub async fn assemble(
        config: &Config,
        source: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Core, StartError> {
        let policy = config.policy(source)?;
        let flows = Flows::load(config.chat.flows_dir.as_deref())
            .map(|f| f.with_time_zone(policy.calendar.time_zone()))
            .map_err(StartError::Flows)?;
        let store = Store::connect(&config.database.url, &config.database.store_options()).await?;
        store.migrate().await?;
        store.sync_groups(policy.routing.groups()).await?;
        let desk = Desk::new(store.clone(), clock, policy);
        let ports = desk.ports();
        let chat = Chat::new(
            desk.clone(),
            ports.conversations,
            ports.cards,
            flows,
            config.chat.idle.0,
        );
        Ok(Core { store, desk, chat })
    }

    /// Opens and migrates the configured database only (`baoxiu migrate`).
    pub async fn migrate(config: &Config) -> Result<(), StoreError> {
        let store = Store::connect(&config.database.url, &config.database.store_options()).await?;
        store.migrate().await?;
        store.close().await;
        Ok(())
    }

    /// The database, for inspection by tests and benchmarks: nothing in the service
    /// reaches it but through the desk and its ports.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the database (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.desk.close().await;
    }
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    /// The REST API's own listener, when `[server] admin_listen` is set.
    admin: Option<TcpListener>,
    core: Core,
    web: Web,
    /// The desk console (`/desk`).
    console: Console,
    state: AppState,
    dispatcher: Dispatcher,
    background: bool,
    telegram: Option<Telegram>,
    discord: Option<Discord>,
    wecom: Option<Wecom>,
    /// This instance as a lease holder, and how long its leases last unrenewed.
    holder: String,
    lease_term: std::time::Duration,
}

impl Application {
    /// Assembles the [`Core`] and binds the listener (`server.listen`; port 0 picks a
    /// free port). The web chat is on; chat doors are added with
    /// [`Application::with_telegram`] and [`Application::with_discord`].
    pub async fn build(
        config: &Config,
        source: &str,
        tokens: Vec<ApiToken>,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        let core = Core::assemble(config, source, clock).await?;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })
        };
        let listener = bind(config.server.listen).await?;
        let holder = holder_id(listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.server.listen,
            source,
        })?);
        let admin = match config.server.admin_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let web = Web::new(core.chat.clone(), core.desk.ports().web, config.web.clone());
        let console = Console::new(
            core.desk.clone(),
            core.chat.flows().clone(),
            config.console.clone(),
            config.web.secure(),
        );
        let couriers: Vec<Arc<dyn Courier>> = vec![web.courier()];
        let dispatcher = Dispatcher::new(core.desk.clone(), Arc::new(core.chat.clone()), couriers);
        let state = AppState {
            desk: core.desk.clone(),
            tokens: Arc::new(tokens),
            deliveries: dispatcher.counters(),
        };
        Ok(Application {
            listener,
            admin,
            core,
            web,
            console,
            state,
            dispatcher,
            background: true,
            telegram: None,
            discord: None,
            wecom: None,
            holder,
            lease_term: config
                .database
                .lease
                .0
                .to_std()
                .unwrap_or(crate::lease::DEFAULT_TERM),
        })
    }

    /// The bound address (the web chat's; and the REST API's unless it has its own).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The REST API's address: its own listener's, or the one address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin
            .as_ref()
            .map_or_else(|| self.local_addr(), TcpListener::local_addr)
    }

    /// The desk behind the service (tests seed data through it).
    pub fn desk(&self) -> &Desk {
        &self.core.desk
    }

    /// The conversation service (tests drive it directly, like a door would).
    pub fn chat(&self) -> &Chat {
        &self.core.chat
    }

    /// The database, for inspection (see [`Core::store`]).
    pub fn store(&self) -> &Store {
        self.core.store()
    }

    /// The web chat door.
    pub fn web(&self) -> &Web {
        &self.web
    }

    /// The desk console.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The outbox dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Switches the Telegram door on: its updates are received (polling or webhook at
    /// `POST /telegram/webhook`) and the dispatcher delivers `telegram` messages.
    pub fn with_telegram(mut self, config: TelegramConfig) -> Result<Application, StartError> {
        let ports = self.core.desk.ports();
        let lease = self.lease(ports.leases, "telegram polling");
        let telegram = Telegram::new(
            self.core.chat.clone(),
            ports.telegram,
            ports.photos,
            lease,
            config,
        )?;
        self.dispatcher = self.dispatcher.with_courier(telegram.courier());
        self.telegram = Some(telegram);
        Ok(self)
    }

    /// Switches the Discord door on: the gateway is connected when the service runs,
    /// `POST /discord/interactions` is served when a public key is set, and the
    /// dispatcher delivers `discord` messages.
    pub fn with_discord(mut self, config: DiscordConfig) -> Application {
        let ports = self.core.desk.ports();
        let lease = self.lease(ports.leases, "discord gateway");
        let discord = Discord::new(self.core.chat.clone(), ports.discord, lease, config);
        self.dispatcher = self.dispatcher.with_courier(discord.courier());
        self.discord = Some(discord);
        self
    }

    /// Switches the WeCom door on: callbacks are received at `/wecom/callback`, photos
    /// are fetched into tickets, and the dispatcher delivers `wecom` messages.
    pub fn with_wecom(mut self, config: WecomConfig) -> Application {
        let ports = self.core.desk.ports();
        let wecom = Wecom::new(self.core.chat.clone(), ports.wecom, ports.photos, config);
        self.dispatcher = self.dispatcher.with_courier(wecom.courier());
        self.wecom = Some(wecom);
        self
    }

    /// This instance's lease on `name` (see [`crate::lease`]).
    fn lease(&self, port: crate::desk::ports::Leases, name: &'static str) -> Lease {
        Lease::new(port, name, &self.holder, self.lease_term)
    }

    /// Serve without starting the SLA scheduler and the dispatcher: tests run their rounds
    /// themselves, in virtual time.
    pub fn without_background_work(mut self) -> Application {
        self.background = false;
        self
    }

    /// Serves until the future `shutdown` completes; alongside run the SLA scheduler, the
    /// outbox dispatcher, the retention job and the web chat's sweep of idle
    /// conversations. Then stops gracefully within [`STOP_WITHIN`]: intake ends at once
    /// (the listeners accept nothing new, the web chat's event streams end, Telegram
    /// polling stops, the Discord gateway is left), the requests and conversation steps
    /// under way finish and are answered, the scheduler and the dispatcher finish their
    /// round, claims this process still holds are given back (outbox messages, Telegram
    /// updates it could not get to, the polling and gateway leases), and the database is
    /// closed. Work still running at
    /// the deadline is cut short as a crash would cut it (every change is one
    /// transaction), and the log says so.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                if rx.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        // Aborted at the stop: periodic housekeeping.
        let cut = vec![
            tokio::spawn(self.web.clone().sweep_forever()),
            tokio::spawn(self.web.clone().follow_other_instances()),
        ];
        // Finish on their own once told to stop.
        let mut finish = Vec::new();
        let dispatcher = self.dispatcher.clone();
        if self.background {
            finish.push(tokio::spawn(
                Scheduler::new(self.core.desk.clone()).run(stopped()),
            ));
            finish.push(tokio::spawn(self.dispatcher.clone().run(stopped())));
            finish.push(tokio::spawn(
                crate::sla::RetentionJob::new(self.core.desk.clone()).run(stopped()),
            ));
        }
        let mut app = self.web.router().merge(self.console.router());
        if let Some(telegram) = self.telegram {
            app = app.merge(telegram.webhook_router());
            finish.push(tokio::spawn(telegram.run_until(stopped())));
        }
        if let Some(discord) = self.discord {
            // Empty unless a public key is configured.
            app = app.merge(discord.interactions_router());
            finish.push(tokio::spawn(discord.run_until(stopped())));
        }
        if let Some(wecom) = self.wecom {
            app = app.merge(wecom.callback_router());
            // Photos are fetched alongside; the callback needs no background work.
            finish.push(tokio::spawn(wecom.run_until(stopped())));
        }
        // The stop begins: the web chat's streams end (else the server would wait for
        // them forever), then everything else is told.
        let web = self.web.clone();
        let console = self.console.clone();
        let begin = {
            let stop_tx = stop_tx.clone();
            async move {
                shutdown.await;
                web.close_streams();
                console.close_streams();
                let _ = stop_tx.send(true);
            }
        };
        tokio::spawn(begin);
        let shutdown = shared_signal(stopped());
        // The REST API on its own listener when there is one, else beside the web chat.
        let admin = match self.admin {
            Some(listener) => {
                app = app.merge(crate::http::health_router(self.state.clone()));
                let api =
                    router(self.state).layer(axum::middleware::from_fn(crate::http::access_log));
                let stop = shutdown.clone();
                Some(tokio::spawn(async move {
                    axum::serve(listener, api)
                        .with_graceful_shutdown(stop)
                        .await
                }))
            }
            None => {
                app = app.merge(router(self.state));
                None
            }
        };
        let app = app.layer(axum::middleware::from_fn(crate::http::access_log));
        // The web chat's limits count per client address.
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone())
        .into_future();
        tokio::pin!(served);
        // Serve until the stop; from then on, the deadline holds for everything.
        let ended = tokio::select! {
            r = &mut served => {
                // The server failed by itself: stop the rest as well.
                let _ = stop_tx.send(true);
                Some(r)
            }
            () = shutdown.clone() => None,
        };
        let deadline = tokio::time::Instant::now() + STOP_WITHIN;
        for task in &cut {
            task.abort();
        }
        let mut late = Vec::new();
        let served = match ended {
            Some(r) => r,
            None => tokio::time::timeout_at(deadline, &mut served)
                .await
                .unwrap_or_else(|_| {
                    late.push("HTTP requests");
                    Ok(())
                }),
        };
        if let Some(admin) = admin
            && tokio::time::timeout_at(deadline, admin).await.is_err()
        {
            late.push("REST API requests");
        }
        for task in finish {
            let handle = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                handle.abort();
                late.push("background work");
            }
        }
        match dispatcher.release_claims().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "outbox: claims given back"),
            Err(e) => tracing::error!(error = %e, "outbox: claims not given back"),
        }
        if !late.is_empty() {
            late.dedup();
            tracing::warn!(
                "stopping: {} still running after {STOP_WITHIN:?}, cut short; the next start resumes it",
                late.join(", ")
            );
        }
        self.core.close().await;
        served
    }
}

/// How long a stop may take after the signal (`run_until`); the process gives itself a
/// little more before it exits regardless (`baoxiu serve`: 10 s).
pub const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(8);

/// A shutdown signal several servers can wait on.
fn shared_signal(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> futures_util::future::Shared<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
    use futures_util::FutureExt;
    let boxed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(shutdown);
    boxed.shared()
}
