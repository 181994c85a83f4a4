//! Load mode in-process: virtual users against a toy long-polling bot.

use std::time::Duration;

use tgsim::load::{self, LoadOptions, Script};

use crate::helpers::{TOKEN, start, toy_polling_bot};

#[tokio::test]
async fn closed_loop_walks_the_script_and_reports() {
    let sim = start().await;
    let bot = tokio::spawn(toy_polling_bot(format!("{}/bot{TOKEN}", sim.url())));
    // The third line is a first-walk-only answer (like a department asked once).
    let script = Script::parse("/start\n[Printer]\n@once it is jammed\n").expect("script");
    let opts = LoadOptions {
        users: 5,
        first_user_id: 5000,
        duration: None,
        repetitions: Some(3),
        step_timeout: Duration::from_secs(5),
    };
    let summary = load::run(&sim, &script, &opts).await;
    bot.abort();
    assert_eq!(summary.steps, 5 * (3 + 2 + 2), "{summary:?}");
    assert_eq!((summary.timeouts, summary.errors), (0, 0), "{summary:?}");
    assert_eq!(summary.repetitions, 15);
    assert!(summary.latency_ms.p50 > 0.0 && summary.latency_ms.p99 >= summary.latency_ms.p50);
    assert!(summary.bot_requests >= 45);
    // Walk 1: question (edited after the tap), acknowledgement; walks 2–3: question.
    let msgs = sim.bot_messages(5000).expect("chat");
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[0].content.text.as_deref(), Some("You chose k:printer"));
}

#[tokio::test]
async fn missing_buttons_and_silence_are_counted() {
    let sim = start().await;
    // No bot at all: the first step times out.
    let opts = LoadOptions {
        users: 2,
        step_timeout: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let script = Script::parse("hello\n[Nope]\n").expect("script");
    let summary = load::run(&sim, &script, &opts).await;
    assert_eq!((summary.steps, summary.timeouts), (0, 2));
    assert!(summary.first_error.is_some());
}

/// tgsim's own ceiling with a trivial bot on the same runtime (not a benchmark of
/// baoxiu): `cargo test --release -p tgsim --test tgsim -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures throughput; run explicitly"]
async fn self_throughput() {
    let sim = start().await;
    let bot = tokio::spawn(crate::helpers::toy_concurrent_bot(format!(
        "{}/bot{TOKEN}",
        sim.url()
    )));
    let script = Script::parse("/start\n[Printer]\nit is jammed\n").expect("script");
    let opts = LoadOptions {
        users: 200,
        first_user_id: 10_000,
        duration: Some(Duration::from_secs(3)),
        repetitions: None,
        step_timeout: Duration::from_secs(5),
    };
    let summary = load::run(&sim, &script, &opts).await;
    bot.abort();
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    assert_eq!(summary.timeouts + summary.errors, 0, "{summary:?}");
}
