//! getUpdates: offset confirmation, limit, long polling, conflicts.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{err, ok, start, until};

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|u| u["update_id"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn offset_confirms_and_limit_caps() {
    let sim = start().await;
    let first = sim.inject_text(42, 42, "one").expect("inject").update_id;
    sim.inject_text(42, 42, "two").expect("inject");
    sim.inject_text(43, 43, "/start").expect("inject");

    let all = ok(&sim, "getUpdates", json!({})).await;
    assert_eq!(ids(&all), [first, first + 1, first + 2]);
    assert_eq!(all[0]["message"]["text"], "one");
    assert_eq!(
        all[0]["message"]["from"],
        json!({"id": 42, "is_bot": false, "first_name": "User 42"})
    );
    assert_eq!(
        all[2]["message"]["entities"],
        json!([{"type": "bot_command", "offset": 0, "length": 6}])
    );

    // Unconfirmed updates come again; limit caps the batch.
    let one = ok(&sim, "getUpdates", json!({"limit": 1})).await;
    assert_eq!(ids(&one), [first]);
    // offset = last + 1 confirms everything before it.
    let rest = ok(&sim, "getUpdates", json!({"offset": first + 1})).await;
    assert_eq!(ids(&rest), [first + 1, first + 2]);
    assert_eq!(sim.pending_updates(), 2);
    // Out-of-range limits mean the default (100), as on Telegram.
    assert_eq!(
        ids(&ok(&sim, "getUpdates", json!({"limit": 0})).await).len(),
        2
    );
    // Negative offset keeps only the last N.
    let last = ok(&sim, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(ids(&last), [first + 2]);
    ok(&sim, "getUpdates", json!({"offset": first + 3})).await;
    assert_eq!(sim.pending_updates(), 0);
    assert_eq!(sim.stats().updates_confirmed, 3);
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_an_update_arrives() {
    let sim = start().await;
    let started = Instant::now();
    // Short poll: nothing waiting, returns at once.
    assert_eq!(
        ok(&sim, "getUpdates", json!({"timeout": 0})).await,
        json!([])
    );

    let url = format!("{}/bot123:ABC/getUpdates", sim.url());
    let poll = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(url)
            .json(&json!({"timeout": 30}))
            .send()
            .await
            .expect("sent");
        resp.json::<serde_json::Value>().await.expect("json")
    });
    // Wait until the poll is parked on the server, then inject.
    until(|| sim.stats().requests.get("getUpdates") == Some(&2)).await;
    let injected = sim.inject_text(42, 42, "wake up").expect("inject");
    let body = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("poll returned well before its 30 s timeout")
        .expect("task");
    assert_eq!(ids(&body["result"]), [injected.update_id]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn newer_poll_and_webhook_conflict_with_polling() {
    let sim = start().await;
    let url = format!("{}/bot123:ABC/getUpdates", sim.url());
    let older = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(url)
            .json(&json!({"timeout": 30}))
            .send()
            .await
            .expect("sent");
        (
            resp.status().as_u16(),
            resp.json::<serde_json::Value>().await.expect("json"),
        )
    });
    until(|| sim.stats().requests.get("getUpdates") == Some(&1)).await;
    // A second poller terminates the first with 409, as Telegram does.
    ok(&sim, "getUpdates", json!({"timeout": 0})).await;
    let (status, body) = older.await.expect("task");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Conflict: terminated by other getUpdates"))
    );

    ok(
        &sim,
        "setWebhook",
        json!({"url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let d = err(&sim, "getUpdates", json!({}), 409).await;
    assert!(d.contains("webhook is active"), "{d}");
    ok(&sim, "deleteWebhook", json!({})).await;
    ok(&sim, "getUpdates", json!({})).await;
}
