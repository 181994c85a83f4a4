//! Stopping the real binary as systemd does (SIGTERM) in the middle of Telegram load:
//! it exits 0 within the deadline and leaves no step half-done.

use std::time::Duration;

use sqlx::Connection;
use tgsim::load::{LoadOptions, Script};
use tgsim::{RateLimits, TgSim, TgSimConfig};

use crate::cli::Served;

const TOKEN: &str = "123:ABC";
const USERS: u32 = 20;
const FIRST_USER: i64 = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_telegram_load_drains_and_exits_0() {
    let dir = tempfile::tempdir().expect("dir");
    let sim = TgSim::start(
        TgSimConfig::new(TOKEN)
            .limits(RateLimits::off())
            .wait_timeout(Duration::from_secs(20)),
    )
    .await
    .expect("tgsim");
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        format!(
            "[telegram]\napi_url = \"{}\"\nflood_limits = false\n",
            sim.url()
        ),
    )
    .expect("config");
    let mut served = Served::start(dir.path(), &[("TELEGRAM_BOT_TOKEN", TOKEN)]);
    tokio::time::timeout(Duration::from_secs(20), sim.bot_connected())
        .await
        .expect("the bot polls tgsim");

    let script = Script::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/tgsim/scripts/fault_report_printer.txt"),
    )
    .expect("script");
    let handle = sim.handle();
    let load = tokio::spawn(async move {
        tgsim::load::run(
            &handle,
            &script,
            &LoadOptions {
                users: USERS,
                first_user_id: FIRST_USER,
                duration: Some(Duration::from_secs(60)),
                repetitions: None,
                step_timeout: Duration::from_secs(5),
            },
        )
        .await
    });
    // Mid-load: the bot has answered a good many steps and reporters keep writing.
    tokio::time::timeout(Duration::from_secs(30), async {
        while sim.stats().messages_sent < 600 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the load never got going:\n{}", served.log()));

    served.terminate();
    let (status, took) = served.wait(Duration::from_secs(15));
    load.abort();
    let log = served.log();
    assert_eq!(status.code(), Some(0), "exit status {status:?}:\n{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{log}");
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(!log.contains("still running after"), "cut short:\n{log}");

    let url = format!("sqlite://{}", dir.path().join("baoxiu.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("db");
    let count = |q: &'static str| sqlx::query_scalar::<_, i64>(q);
    let updates = count("SELECT COUNT(*) FROM telegram_updates")
        .fetch_one(&mut db)
        .await
        .expect("count");
    // Every update is either finished (handled and its replies sent) or untouched for
    // the next start; none begun and left.
    let torn = count(
        "SELECT COUNT(*) FROM telegram_updates
         WHERE (started_at IS NOT NULL AND handled_at IS NULL)
            OR (handled_at IS NOT NULL AND sent_at IS NULL)",
    )
    .fetch_one(&mut db)
    .await
    .expect("count");
    if torn > 0 {
        type Row = (i64, Option<String>, Option<String>, Option<String>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT update_id, started_at, handled_at, sent_at, attempts FROM telegram_updates
             WHERE (started_at IS NOT NULL AND handled_at IS NULL)
                OR (handled_at IS NOT NULL AND sent_at IS NULL)",
        )
        .fetch_all(&mut db)
        .await
        .expect("rows");
        panic!("{torn} of {updates} updates half-done: {rows:?}\n{log}");
    }
    let claimed =
        count("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND lease_until IS NOT NULL")
            .fetch_one(&mut db)
            .await
            .expect("count");
    assert_eq!(claimed, 0, "outbox rows left claimed");
    let tickets = count("SELECT COUNT(*) FROM tickets")
        .fetch_one(&mut db)
        .await
        .expect("count");
    let bare = count(
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS
           (SELECT 1 FROM audit_events a WHERE a.ticket_id = t.id)
         OR NOT EXISTS (SELECT 1 FROM sla_clocks c WHERE c.ticket_id = t.id)",
    )
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert!(tickets > 0, "no report was filed during the load");
    assert_eq!(bare, 0, "tickets without their audit trail or clocks");

    // Every message of a reporter that the bot answered was recorded as handled.
    let mut answered = 0;
    for user in FIRST_USER..FIRST_USER + i64::from(USERS) {
        let transcript = sim.transcript(user).expect("transcript");
        let Some(last_answer) = transcript.iter().rposition(|m| m.from_bot) else {
            continue;
        };
        for m in transcript[..last_answer].iter().filter(|m| !m.from_bot) {
            let handled: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM telegram_updates
                 WHERE json_extract(body, '$.message.chat.id') = $1
                   AND json_extract(body, '$.message.message_id') = $2
                   AND handled_at IS NOT NULL",
            )
            .bind(user)
            .bind(m.message_id)
            .fetch_one(&mut db)
            .await
            .expect("count");
            assert_eq!(
                handled, 1,
                "user {user}'s message {} was answered but not recorded",
                m.message_id
            );
            answered += 1;
        }
    }
    assert!(answered > 100, "only {answered} answered messages");
    eprintln!(
        "stopped in {took:?} under load: {updates} updates, {answered} answered messages checked, {tickets} tickets"
    );
    sim.shutdown().await;
}

/// A browser's open event stream (`/chat/events` never ends by itself) does not hold the
/// stop up: the stream ends, the process exits 0 at once, not at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_does_not_hold_up_the_stop() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = Served::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/chat/hello", served.base))
        .json(&serde_json::json!({ "name": "陈静", "lang": "zh-CN" }))
        .send()
        .await
        .expect("hello");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let mut events = client
        .get(format!("{}/chat/events", served.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), reqwest::StatusCode::OK);
    // The stream is open: its first event (the greeting kept in history) arrives.
    let first = tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("an event")
        .expect("chunk");
    assert!(first.is_some());

    served.terminate();
    let (status, took) = served.wait(Duration::from_secs(15));
    let log = served.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(took < Duration::from_secs(5), "took {took:?}:\n{log}");
    assert!(!log.contains("still running after"), "{log}");
    // The stream ended rather than being cut.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream never ended");
}
