//! The Telegram door under load: tgsim's load mode (rate limits off — this measures
//! baoxiu, not Telegram) against the service as `baoxiu serve` builds it
//! (`Application::build` + `with_telegram`, polling, on a SQLite file with WAL and
//! synchronous NORMAL), in one process on the same cores. Virtual reporters walk the whole
//! fault report (`crates/tgsim/scripts/fault_report_printer.txt`) in a closed loop: each
//! answer goes when the bot's reply to the previous one has arrived, and every step's
//! conversation state is durable before its reply is sent. Prints steps/s and reply
//! latency p50/p95/p99 at 200 and 1,000 virtual reporters (issue 4 targets: ≥ 5,000
//! steps/s with p99 ≤ 50 ms at 200; ≥ 4,000 steps/s at 1,000).
//! Run: `cargo bench --bench telegram_load` (`LOAD_SECS` sets each run's length, default
//! 20; `LOAD_USERS=50,200` other sizes; `LOAD_MODE=webhook` the webhook instead of polling;
//! `LOAD_BACKEND=postgres` a fresh database on the server `TEST_POSTGRES_URL` names, issue
//! 18's target there being ≥ 4,000 steps/s with p99 ≤ 100 ms at 200; `LOAD_POOL=N` its
//! pool size; `LOAD_INSTANCES=2 LOAD_MODE=webhook` two services on the database behind a
//! round-robin balancer, `LOAD_BALANCER=1` one instance behind it; `LOAD_WARMUP` the
//! seconds of other reporters' load, then statistics brought up to date, before each
//! measured run: default 5).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use baoxiu::app::Application;
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::doors::telegram::TelegramConfig;
use reqwest::Url;
use tgsim::load::{LoadOptions, LoadSummary, Script};
use tgsim::{RateLimits, TgSim, TgSimConfig};

#[path = "support/database.rs"]
mod database;
mod support;
use database::Database;

const TOKEN: &str = "123:ABC";

/// A round-robin TCP balancer on a port of its own in front of `backends` (each new
/// connection goes to the next), as a load balancer spreads webhook calls.
async fn balancer(backends: Vec<std::net::SocketAddr>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let backend = backends[n % backends.len()];
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

async fn run(
    users: u32,
    duration: Duration,
    script: &Script,
    webhook: bool,
    instances: usize,
) -> LoadSummary {
    let database = Database::new().await;
    let mut config = Config::default();
    config.database.url = database.url();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    // `LOAD_POOL=32`: PostgreSQL connections (default as `[database] max_connections`).
    if let Some(n) = std::env::var("LOAD_POOL").ok().and_then(|n| n.parse().ok()) {
        config.database.max_connections = n;
    }
    let sim = TgSim::start(
        TgSimConfig::new(TOKEN)
            .limits(RateLimits::off())
            .wait_timeout(Duration::from_secs(30)),
    )
    .await
    .expect("tgsim");
    let mut telegram = TelegramConfig::new(TOKEN);
    telegram.api_url = Some(Url::parse(&sim.url()).expect("url"));
    // As `[telegram] flood_limits = false`: tgsim has none, and ours would cap the run at 30/s.
    telegram.limits = None;
    let mut apps = Vec::new();
    for _ in 0..instances {
        apps.push(
            Application::build(&config, "bench", Vec::new(), Arc::new(SystemClock))
                .await
                .expect("app"),
        );
    }
    if webhook {
        // tgsim pushes each update to our route (as many at once as setWebhook asked
        // for) instead of us polling; with several instances, through a balancer.
        let addrs: Vec<_> = apps
            .iter()
            .map(|a| a.local_addr().expect("bound"))
            .collect();
        // `LOAD_BALANCER=1` puts one instance behind the balancer too (to tell its cost).
        let balanced = addrs.len() > 1 || std::env::var_os("LOAD_BALANCER").is_some();
        let addr = if balanced {
            balancer(addrs).await
        } else {
            addrs[0]
        };
        telegram.webhook_url =
            Some(Url::parse(&format!("http://{addr}/telegram/webhook")).expect("url"));
        telegram.webhook_secret = Some("bench_secret".to_owned().into());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for app in apps {
        let app = app.with_telegram(telegram.clone()).expect("telegram");
        let mut stopped = stopped.clone();
        servers.push(tokio::spawn(app.run_until(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }
    sim.bot_connected().await;
    let reporters = |first_user_id, duration| LoadOptions {
        users,
        first_user_id,
        duration: Some(duration),
        repetitions: None,
        step_timeout: Duration::from_secs(10),
    };
    // Other reporters first (see `warmup`): their walks fill the tables.
    let warmup = warmup();
    if !warmup.is_zero() {
        tgsim::load::run(&sim.handle(), script, &reporters(2_000_000, warmup)).await;
        database.settle().await;
    }
    let summary = tgsim::load::run(&sim.handle(), script, &reporters(1_000_000, duration)).await;
    let _ = stop.send(true);
    for server in servers {
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    }
    sim.shutdown().await;
    database.drop_database().await;
    summary
}

/// How long other reporters load the service before a measured run (`LOAD_WARMUP`
/// seconds, default 5; none in the quick pass), so that it measures a database in use
/// rather than one seconds old (see `Database::settle`).
fn warmup() -> Duration {
    if !std::env::args().any(|a| a == "--bench") {
        return Duration::ZERO;
    }
    let secs = std::env::var("LOAD_WARMUP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

#[tokio::main]
async fn main() {
    support::init_logging();
    let script = support::script();
    // `LOAD_MODE=webhook`: updates pushed to our route instead of long polling.
    let webhook = std::env::var("LOAD_MODE").is_ok_and(|m| m == "webhook");
    // `LOAD_INSTANCES=2` (with the webhook): several services on one database.
    let instances: usize = std::env::var("LOAD_INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    assert!(
        instances == 1 || webhook,
        "several instances take Telegram's updates through the webhook (LOAD_MODE=webhook)"
    );
    for (users, secs) in support::runs(&[200, 1000]) {
        let s = run(
            users,
            Duration::from_secs(secs),
            &script,
            webhook,
            instances,
        )
        .await;
        let what = format!(
            "telegram load ({}, {}, {instances} instance(s))",
            if webhook { "webhook" } else { "polling" },
            if database::postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            },
        );
        support::report(&what, users, secs, &s);
    }
}
