//! Flood limits: 429 with retry_after, on a manual clock.

use std::time::Duration;

use serde_json::json;
use tgsim::{ManualClock, RateLimits};

use crate::helpers::{call, config, ok, start_with};

#[tokio::test]
async fn second_message_within_a_second_to_a_private_chat_is_refused() {
    let clock = ManualClock::new();
    let sim = start_with(config().limits(RateLimits::telegram()).clock(clock.clone())).await;
    sim.inject_text(42, 42, "hi").expect("inject");
    sim.inject_text(43, 43, "hi").expect("inject");

    ok(&sim, "sendMessage", json!({"chat_id": 42, "text": "1"})).await;
    clock.advance(Duration::from_millis(400));
    let (status, body) = call(&sim, "sendMessage", json!({"chat_id": 42, "text": "2"})).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 429,
               "description": "Too Many Requests: retry after 1",
               "parameters": {"retry_after": 1}})
    );
    // Another chat is not affected; edits are not counted.
    ok(&sim, "sendMessage", json!({"chat_id": 43, "text": "1"})).await;
    ok(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": 2, "text": "1 edited"}),
    )
    .await;

    clock.advance(Duration::from_millis(600));
    ok(&sim, "sendMessage", json!({"chat_id": 42, "text": "2"})).await;
    let stats = sim.stats();
    assert_eq!(stats.too_many_requests, 1);
    assert_eq!(stats.too_many_requests_by_chat.get(&42), Some(&1));
    assert_eq!(stats.errors.get(&429), Some(&1));
    assert_eq!(sim.bot_messages(42).expect("chat").len(), 2);
}

#[tokio::test]
async fn twenty_first_message_in_a_minute_to_a_group_is_refused() {
    let clock = ManualClock::new();
    let sim = start_with(config().limits(RateLimits::telegram()).clock(clock.clone())).await;
    sim.inject_text(7, -500, "hi").expect("inject");
    for i in 0..20 {
        ok(
            &sim,
            "sendMessage",
            json!({"chat_id": -500, "text": format!("job {i}")}),
        )
        .await;
        // Spread over 20 s so the private-chat and global limits never bite.
        clock.advance(Duration::from_secs(1));
    }
    let (status, body) = call(&sim, "sendMessage", json!({"chat_id": -500, "text": "21"})).await;
    assert_eq!(status, 429);
    // The first left at t=0, so a slot frees at t=60: 40 s from now.
    assert_eq!(body["parameters"]["retry_after"], 40);
    clock.advance(Duration::from_secs(40));
    ok(&sim, "sendMessage", json!({"chat_id": -500, "text": "21"})).await;
    assert_eq!(sim.stats().too_many_requests, 1);
}

#[tokio::test]
async fn global_limit_is_thirty_per_second_and_limits_can_be_off() {
    let clock = ManualClock::new();
    let sim = start_with(config().limits(RateLimits::telegram()).clock(clock.clone())).await;
    for user in 1..=31 {
        sim.inject_text(user, user, "hi").expect("inject");
    }
    for user in 1..=30 {
        ok(&sim, "sendMessage", json!({"chat_id": user, "text": "x"})).await;
    }
    let (status, _) = call(&sim, "sendMessage", json!({"chat_id": 31, "text": "x"})).await;
    assert_eq!(status, 429);
    // The control API moves the manual clock too.
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/control/clock/advance", sim.url()))
        .json(&json!({"ms": 1000}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(r["now_ms"], 1000);
    ok(&sim, "sendMessage", json!({"chat_id": 31, "text": "x"})).await;

    let free = start_with(config()).await;
    free.inject_text(42, 42, "hi").expect("inject");
    for i in 0..50 {
        ok(
            &free,
            "sendMessage",
            json!({"chat_id": 42, "text": format!("{i}")}),
        )
        .await;
    }
    assert_eq!(free.stats().too_many_requests, 0);
    assert!(free.advance_clock(Duration::from_secs(1)).is_err());
}
