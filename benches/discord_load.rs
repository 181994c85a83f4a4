//! The Discord door under load: discordsim with its rate limits off (this measures
//! baoxiu, not Discord) against the service as `baoxiu serve` builds it
//! (`Application::build`, on a SQLite file with WAL and synchronous NORMAL) with the
//! Discord door on the real serenity client over the stand-in's REST and gateway, in one
//! process on the same cores. Virtual reporters walk the whole fault report in their DMs
//! (`crates/tgsim/scripts/fault_report_printer.txt`: typed answers and button clicks) in a
//! closed loop: each answer goes when the bot's reply to the previous one has arrived.
//! Prints steps/s and reply latency p50/p95/p99 at 200 and 1,000 virtual reporters.
//! Run: `cargo bench --bench discord_load` (`LOAD_SECS` sets each run's length, default
//! 20; `LOAD_USERS=50,200` other sizes).

// The service's allocator, as in `baoxiu serve` (src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use baoxiu::app::Application;
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::doors::discord::DiscordConfig;
use discordsim::load::{LoadOptions, LoadSummary, Script};
use discordsim::{DiscordSim, Limits, SimConfig};
use secrecy::SecretString;

mod support;

const TOKEN: &str = "discord-bench-token";
const APP: u64 = 900_000_000_000_000_001;

async fn run(users: u32, duration: Duration, script: &Script) -> LoadSummary {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.path().join("load.db").display());
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    let sim = DiscordSim::start(
        SimConfig::new(TOKEN, APP)
            .limits(Limits::off())
            .wait_timeout(Duration::from_secs(30)),
    )
    .await
    .expect("discordsim");
    let app = Application::build(&config, "bench", Vec::new(), Arc::new(SystemClock))
        .await
        .expect("app");
    let app = app.with_discord(DiscordConfig {
        token: SecretString::from(TOKEN),
        application_id: APP,
        api_url: Some(sim.url()),
        group_channels: Default::default(),
        public_key: None,
        patience: Default::default(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    sim.wait_connected().await.expect("gateway connects");
    let summary = discordsim::load::run(
        &sim.handle(),
        script,
        &LoadOptions {
            users,
            first_user_id: 1_000_000,
            duration: Some(duration),
            repetitions: None,
            step_timeout: Duration::from_secs(10),
        },
    )
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    summary
}

#[tokio::main]
async fn main() {
    support::init_logging();
    let script = support::script();
    for (users, secs) in support::runs(&[200, 1000]) {
        let s = run(users, Duration::from_secs(secs), &script).await;
        support::report("discord load (gateway)", users, secs, &s);
    }
}
