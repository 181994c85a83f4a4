//! The `baoxiu` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use baoxiu::app::{Application, open_store};
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;

/// baoxiu (报修): office staff report IT faults from chat; the desktop-support desk
/// dispatches, works and closes them within the contract's service levels.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: ./baoxiu.toml if it exists, else built-in defaults).
    /// Any setting can also be given as BAOXIU_SECTION__KEY, e.g. BAOXIU_DATABASE__URL.
    #[arg(long, short, global = true, env = "BAOXIU_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: REST API and health check on http://127.0.0.1:8080 by default.
    /// Creates and migrates the database (./baoxiu.db by default) on start.
    Serve,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration file and environment; print the effective settings.
    Check,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("baoxiu: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (config, source) = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve => {
            let (tokens, warnings) = config.api_tokens().map_err(|e| e.to_string())?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            let app = Application::build(&config, &source, tokens, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let addr = app.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(config = %source, database = %config.database.url, "baoxiu listening on http://{addr}");
            app.run_until(async {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("shutting down");
            })
            .await
            .map_err(|e| e.to_string())
        }
        Command::Migrate => {
            config.policy(&source).map_err(|e| e.to_string())?;
            let store = open_store(&config)
                .await
                .map_err(|e| format!("database: {e}"))?;
            store.close().await;
            println!("database {} is up to date", config.database.url);
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            config.policy(&source).map_err(|e| e.to_string())?;
            let (tokens, warnings) = config.api_tokens().map_err(|e| e.to_string())?;
            let effective = toml::to_string_pretty(&config).map_err(|e| e.to_string())?;
            println!("# configuration from {source}: OK\n{effective}");
            println!("# {} API token(s) enabled", tokens.len());
            for w in warnings {
                println!("# {w}");
            }
            Ok(())
        }
    }
}
