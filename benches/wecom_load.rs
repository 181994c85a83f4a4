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

mod support;

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
    support::init_logging();
    let script = support::script();
    for (users, secs) in support::runs(&[200]) {
        let s = run(users, Duration::from_secs(secs), &script).await;
        support::report("wecom load (callback)", users, secs, &s);
    }
}
