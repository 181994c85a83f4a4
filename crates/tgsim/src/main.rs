//! `tgsim`: a local Telegram Bot API server for testing and load-testing bots.
//!
//! `tgsim serve` runs the simulator; `tgsim load` runs it and drives virtual users
//! against a bot pointed at it. See the crate's README.md.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tgsim::limits::parse_duration;
use tgsim::load::{self, LoadOptions, Script};
use tgsim::{Limit, RateLimits, TgSim, TgSimConfig};

#[derive(Parser)]
#[command(
    name = "tgsim",
    version,
    about = "A local Telegram Bot API server for bot tests and load tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Bot API and the /control API until Ctrl-C.
    Serve(ServerArgs),
    /// Serve, wait for the bot, run virtual users through a script, print a JSON summary.
    Load(LoadArgs),
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}: use e.g. 500ms, 30s, 2m"))
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "TGSIM_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The bot token to accept (its numeric prefix is the bot's user id).
    #[arg(long, env = "TGSIM_TOKEN", default_value = "123:ABC")]
    token: String,
    /// The bot's @username in getMe.
    #[arg(long, default_value = "baoxiu_test_bot")]
    bot_username: String,
    /// Switch all flood limits off.
    #[arg(long)]
    no_rate_limit: bool,
    /// Overall limit, COUNT/WINDOW.
    #[arg(long, value_name = "N/DUR", default_value = "30/1s")]
    global_limit: Limit,
    /// Per private chat limit, COUNT/WINDOW (e.g. 3/3s allows a burst of 3).
    #[arg(long, value_name = "N/DUR", default_value = "1/1s")]
    private_limit: Limit,
    /// Per group chat limit, COUNT/WINDOW.
    #[arg(long, value_name = "N/DUR", default_value = "20/60s")]
    group_limit: Limit,
    /// Pause before a failed webhook delivery is retried.
    #[arg(long, value_parser = duration, default_value = "1s")]
    webhook_retry: Duration,
}

impl ServerArgs {
    fn config(&self) -> TgSimConfig {
        let limits = if self.no_rate_limit {
            RateLimits::off()
        } else {
            RateLimits {
                global: Some(self.global_limit),
                private_chat: Some(self.private_limit),
                group_chat: Some(self.group_limit),
            }
        };
        let mut config = TgSimConfig::new(self.token.clone())
            .listen(self.listen)
            .limits(limits)
            .webhook_retry_delay(self.webhook_retry);
        config.bot_username = self.bot_username.clone();
        config
    }
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Number of virtual users.
    #[arg(long, default_value_t = 10)]
    users: u32,
    /// Script file: one answer per line; `[label]` taps a button.
    #[arg(long)]
    script: PathBuf,
    /// Run for this long.
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// Walk the script this many times per user (default 1 without --duration).
    #[arg(long)]
    repetitions: Option<u32>,
    /// How long a user waits for the bot's reaction to one step.
    #[arg(long, value_parser = duration, default_value = "10s")]
    step_timeout: Duration,
    /// User id of the first virtual user.
    #[arg(long, default_value_t = 1_000_000)]
    first_user_id: i64,
    /// Push updates to the bot's webhook at this URL (else the bot long-polls or sets
    /// its own webhook).
    #[arg(long)]
    bot_url: Option<String>,
    /// Secret token sent with webhook pushes (with --bot-url).
    #[arg(long)]
    webhook_secret: Option<String>,
    /// Parallel webhook POSTs (with --bot-url).
    #[arg(long, default_value_t = 40)]
    webhook_connections: u32,
    /// Wait this long for the bot's first request before starting.
    #[arg(long, value_parser = duration, default_value = "60s")]
    wait_for_bot: Duration,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tgsim=info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Load(args) => run_load(args).await,
    }
}

async fn serve(args: ServerArgs) -> ExitCode {
    let sim = match TgSim::start(args.config()).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "tgsim: Bot API at {url}/bot{token}/<method>, control API at {url}/control",
        url = sim.url(),
        token = sim.token()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("tgsim: cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn run_load(args: LoadArgs) -> ExitCode {
    let script = match Script::load(&args.script) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sim = match TgSim::start(args.server.config()).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("tgsim: Bot API at {}; token {}", sim.url(), sim.token());
    if let Some(url) = &args.bot_url {
        if let Err(e) = sim.set_webhook(
            url,
            args.webhook_secret.as_deref(),
            Some(args.webhook_connections),
        ) {
            eprintln!("tgsim: cannot set webhook {url}: {}", e.description);
            return ExitCode::FAILURE;
        }
        eprintln!("tgsim: pushing updates to {url}");
    } else {
        eprintln!(
            "tgsim: waiting up to {:?} for the bot's first request…",
            args.wait_for_bot
        );
        if tokio::time::timeout(args.wait_for_bot, sim.bot_connected())
            .await
            .is_err()
        {
            eprintln!("tgsim: the bot never connected");
            return ExitCode::FAILURE;
        }
    }
    let opts = LoadOptions {
        users: args.users,
        first_user_id: args.first_user_id,
        duration: args.duration,
        repetitions: args.repetitions,
        step_timeout: args.step_timeout,
    };
    eprintln!(
        "tgsim: {} virtual users, {} steps per walk",
        opts.users,
        script.steps.len()
    );
    let summary = load::run(&sim, &script, &opts).await;
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{json}");
    if let Some(path) = &args.output
        && let Err(e) = std::fs::write(path, format!("{json}\n"))
    {
        eprintln!("tgsim: cannot write {}: {e}", path.display());
    }
    sim.shutdown().await;
    if summary.steps == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
