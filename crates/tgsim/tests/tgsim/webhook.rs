//! setWebhook push delivery: secret header, retry until 2xx, order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{err, ok, start};

/// What the receiver saw: (secret header, update id, status it answered).
type Seen = (Option<String>, i64, u16);

/// A webhook receiver failing its first `fail_first` requests with 500.
async fn receiver(fail_first: usize) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let tx = tx.clone();
            let count = count.clone();
            async move {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let status = if n < fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let secret = headers
                    .get("X-Telegram-Bot-Api-Secret-Token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let id = body.0["update_id"].as_i64().unwrap_or(-1);
                let _ = tx.send((secret, id, status.as_u16()));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivery in time")
        .expect("receiver alive")
}

#[tokio::test]
async fn pushes_with_secret_and_retries_until_accepted_in_order() {
    let sim = start().await;
    let (url, mut rx) = receiver(2).await;
    ok(
        &sim,
        "setWebhook",
        json!({"url": url, "secret_token": "s3cr3t_-X", "max_connections": 1}),
    )
    .await;
    let a = sim.inject_text(42, 42, "a").expect("inject").update_id;
    let b = sim.inject_text(43, 43, "b").expect("inject").update_id;
    let c = sim.inject_text(42, 42, "c").expect("inject").update_id;

    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next(&mut rx).await);
    }
    let secret = Some("s3cr3t_-X".to_owned());
    assert_eq!(
        seen,
        [
            (secret.clone(), a, 500),
            (secret.clone(), a, 500),
            (secret.clone(), a, 200),
            (secret.clone(), b, 200),
            (secret.clone(), c, 200),
        ]
    );
    crate::helpers::until(|| sim.pending_updates() == 0).await;
    let info = ok(&sim, "getWebhookInfo", json!({})).await;
    assert_eq!(info["url"], url);
    assert_eq!(info["pending_update_count"], 0);
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 500 Internal Server Error"
    );
    let stats = sim.stats();
    assert_eq!((stats.webhook_deliveries, stats.webhook_failures), (3, 2));
}

#[tokio::test]
async fn parallel_delivery_keeps_each_chats_order() {
    let sim = start().await;
    let (url, mut rx) = receiver(0).await;
    ok(&sim, "setWebhook", json!({"url": url})).await;
    let mut expected: Vec<Vec<i64>> = vec![Vec::new(); 3];
    for round in 0..5 {
        for (i, user) in [42, 43, 44].into_iter().enumerate() {
            let id = sim
                .inject_text(user, user, &format!("m{round}"))
                .expect("inject")
                .update_id;
            expected[i].push(id);
        }
    }
    let mut got: Vec<i64> = Vec::new();
    for _ in 0..15 {
        got.push(next(&mut rx).await.1);
    }
    for chat in expected {
        let order: Vec<i64> = got.iter().copied().filter(|id| chat.contains(id)).collect();
        assert_eq!(order, chat);
    }
}

#[tokio::test]
async fn webhook_settings_are_validated() {
    let sim = start().await;
    let d = err(
        &sim,
        "setWebhook",
        json!({"url": "http://127.0.0.1:9/h", "secret_token": "no spaces!"}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: secret token contains unallowed characters");
    let d = err(
        &sim,
        "setWebhook",
        json!({"url": "http://127.0.0.1:9/h", "secret_token": "a".repeat(257)}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: secret token contains unallowed characters");
    err(&sim, "setWebhook", json!({"url": "ftp://x"}), 400).await;

    // Nothing listens on port 9: updates stay pending until deleteWebhook drops them.
    ok(&sim, "setWebhook", json!({"url": "http://127.0.0.1:9/h"})).await;
    sim.inject_text(42, 42, "x").expect("inject");
    assert_eq!(
        ok(&sim, "getWebhookInfo", json!({})).await["pending_update_count"],
        1
    );
    ok(&sim, "deleteWebhook", json!({"drop_pending_updates": true})).await;
    let info = ok(&sim, "getWebhookInfo", json!({})).await;
    assert_eq!(
        info,
        json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0})
    );
}
