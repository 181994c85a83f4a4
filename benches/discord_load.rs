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

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use baoxiu::app::Application;
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::doors::discord::DiscordConfig;
use discordsim::load::{LoadOptions, LoadSummary, Script};
use discordsim::{DiscordSim, Limits, SimConfig};
use secrecy::SecretString;

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
    // RUST_LOG=warn shows what the service logs during the run (to stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: one short
    // pass then, so the bench cannot rot.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let script = Script::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/tgsim/scripts/fault_report_printer.txt"),
    )
    .expect("script");
    let sizes: Vec<u32> = std::env::var("LOAD_USERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![200, 1000]);
    let runs: Vec<(u32, u64)> = if quick {
        vec![(20, 2)]
    } else {
        sizes.into_iter().map(|n| (n, secs)).collect()
    };
    for (users, secs) in runs {
        let s = run(users, Duration::from_secs(secs), &script).await;
        println!(
            "discord load (gateway), {users} reporters, {secs} s: {:.0} steps/s, reply latency \
             p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms (max {:.1}); {} walks, {} timeouts, \
             {} errors{}",
            s.steps_per_sec,
            s.latency_ms.p50,
            s.latency_ms.p95,
            s.latency_ms.p99,
            s.latency_ms.max,
            s.repetitions,
            s.timeouts,
            s.errors,
            s.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        for l in s.slowest_steps(3) {
            println!("  slow step {l}");
        }
        assert!(s.steps > 0, "no step was answered");
    }
}
