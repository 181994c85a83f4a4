//! Building the running service from configuration (zero-to-production style): tests call
//! [`Application::build`] with port 0 and their own clock and tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{ApiToken, Config, ConfigError};
use crate::desk::Desk;
use crate::http::{AppState, router};
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
    state: AppState,
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
        let store = open_store(config).await?;
        store.sync_groups(policy.routing.groups()).await?;
        let desk = Desk::new(store, clock, policy);
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        let state = AppState {
            desk: desk.clone(),
            tokens: Arc::new(tokens),
        };
        Ok(Application {
            listener,
            desk,
            state,
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

    /// Serves until the future `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
    }
}
