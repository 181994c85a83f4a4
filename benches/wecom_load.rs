//! The WeCom door under load: wecomsim with its per-member limits off (this measures
//! baoxiu, not WeCom; the door's own holdback is off too) against the service as
//! `baoxiu serve` builds it (`Application::build` + `with_wecom`, on a SQLite file with
//! WAL and synchronous NORMAL), in one process on the same cores. Virtual reporters walk
//! the whole fault report (`crates/tgsim/scripts/fault_report_printer.txt`: typed answers
//! and card taps) in a closed loop: each answer goes when the app has said something back
//! (the callback's encrypted passive reply, or a message through `message/send`), every
//! callback signed, encrypted, decrypted and stored before it is answered.
//! Prints steps/s and reply latency p50/p95/p99 at 200 virtual reporters, in the form of
//! `telegram_load` (issue 22's target: ≥ 0.7× Telegram's steps/s in the same run).
//! Run: `cargo bench --bench wecom_load` (`LOAD_SECS` sets each run's length, default
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
use baoxiu::doors::wecom::crypto::AesKey;
use baoxiu::doors::wecom::{CALLBACK_PATH, WecomConfig};
use secrecy::SecretString;
use wecomsim::load::{LoadOptions, LoadSummary, Script};
use wecomsim::{SimConfig, WecomSim};

async fn run(users: u32, duration: Duration, script: &Script) -> LoadSummary {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.path().join("load.db").display());
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    let sim = WecomSim::start(SimConfig {
        limits: false,
        ..SimConfig::default()
    })
    .await
    .expect("wecomsim");
    let c = sim.config().clone();
    let app = Application::build(&config, "bench", Vec::new(), Arc::new(SystemClock))
        .await
        .expect("app");
    let app = app.with_wecom(WecomConfig {
        corp_id: c.corp_id,
        agent_id: c.agent_id,
        api_url: sim.url(),
        secret: SecretString::from(c.secret),
        token: SecretString::from(c.token),
        key: AesKey::from_encoding_key(&c.encoding_aes_key).expect("key"),
        group_members: Default::default(),
        timestamp_window: Duration::from_secs(300),
        answer_within: Duration::from_secs(3),
        hold_back: false,
        keep_callbacks: Duration::from_secs(7 * 86_400),
    });
    let addr = app.local_addr().expect("address");
    sim.set_callback(&format!("http://{addr}{CALLBACK_PATH}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let summary = wecomsim::load::run(
        &sim.handle(),
        script,
        &LoadOptions {
            users,
            first_user_id: 1,
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
        .unwrap_or_else(|| vec![200]);
    let runs: Vec<(u32, u64)> = if quick {
        vec![(20, 2)]
    } else {
        sizes.into_iter().map(|n| (n, secs)).collect()
    };
    for (users, secs) in runs {
        let s = run(users, Duration::from_secs(secs), &script).await;
        println!(
            "wecom load (callback), {users} reporters, {secs} s: {:.0} steps/s, reply latency \
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
