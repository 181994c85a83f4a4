//! Shared set-up: a simulator on port 0 and a tiny Bot API client.

use std::time::Duration;

use serde_json::Value;
use tgsim::{RateLimits, TgSim, TgSimConfig};

pub const TOKEN: &str = "123:ABC";

/// Limits off, fast webhook retries, short waits.
pub fn config() -> TgSimConfig {
    TgSimConfig::new(TOKEN)
        .limits(RateLimits::off())
        .webhook_retry_delay(Duration::from_millis(20))
        .wait_timeout(Duration::from_secs(5))
}

pub async fn start() -> TgSim {
    start_with(config()).await
}

pub async fn start_with(config: TgSimConfig) -> TgSim {
    TgSim::start(config).await.expect("tgsim starts")
}

/// A Bot API call with a JSON body: (HTTP status, parsed body).
pub async fn call(sim: &TgSim, method: &str, body: Value) -> (u16, Value) {
    let url = format!("{}/bot{}/{}", sim.url(), TOKEN, method);
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

/// A call that must succeed; returns `result`.
pub async fn ok(sim: &TgSim, method: &str, body: Value) -> Value {
    let (status, v) = call(sim, method, body).await;
    assert_eq!(status, 200, "{method}: {v}");
    assert_eq!(v["ok"], true, "{method}: {v}");
    v["result"].clone()
}

/// A call that must fail with `code`; returns the description.
pub async fn err(sim: &TgSim, method: &str, body: Value, code: u16) -> String {
    let (status, v) = call(sim, method, body).await;
    assert_eq!(status, code, "{method}: {v}");
    assert_eq!(v["ok"], false, "{method}: {v}");
    assert_eq!(v["error_code"], code, "{method}: {v}");
    v["description"].as_str().unwrap_or_default().to_owned()
}

/// Awaits a condition on the simulator by yielding, bounded by a deadline.
pub async fn until(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("condition met in time");
}

/// A toy bot's reaction to one update, through the Bot API at `api` (…/bot<TOKEN>):
/// `/start` asks a question with two buttons, a tap answers and edits the question,
/// any other text is acknowledged.
pub async fn toy_bot_react(client: &reqwest::Client, api: &str, update: &Value) {
    if let Some(msg) = update.get("message") {
        let chat = msg["chat"]["id"].clone();
        let body = if msg["text"] == "/start" {
            serde_json::json!({"chat_id": chat, "text": "Printer or PC?", "reply_markup":
                {"inline_keyboard": [[{"text": "Printer", "callback_data": "k:printer"},
                                      {"text": "PC", "callback_data": "k:pc"}]]}})
        } else {
            serde_json::json!({"chat_id": chat, "text": "Noted."})
        };
        let _ = client
            .post(format!("{api}/sendMessage"))
            .json(&body)
            .send()
            .await;
    } else if let Some(q) = update.get("callback_query") {
        let _ = client
            .post(format!("{api}/answerCallbackQuery"))
            .json(&serde_json::json!({"callback_query_id": q["id"]}))
            .send()
            .await;
        let body = serde_json::json!({
            "chat_id": q["message"]["chat"]["id"],
            "message_id": q["message"]["message_id"],
            "text": format!("You chose {}", q["data"].as_str().unwrap_or_default()),
        });
        let _ = client
            .post(format!("{api}/editMessageText"))
            .json(&body)
            .send()
            .await;
    }
}

/// The toy bot long-polling `api` until the task is aborted.
pub async fn toy_polling_bot(api: String) {
    toy_bot(api, false).await
}

/// The toy bot handling each update in its own task, as dispatchers do (chats in
/// parallel), long-polling until aborted.
pub async fn toy_concurrent_bot(api: String) {
    toy_bot(api, true).await
}

async fn toy_bot(api: String, concurrent: bool) {
    let client = reqwest::Client::new();
    let mut offset = 0i64;
    loop {
        let Ok(resp) = client
            .post(format!("{api}/getUpdates"))
            .json(&serde_json::json!({"offset": offset, "timeout": 10}))
            .send()
            .await
        else {
            return;
        };
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        for u in body["result"].as_array().into_iter().flatten() {
            offset = u["update_id"].as_i64().unwrap_or(offset) + 1;
            if concurrent {
                let (client, api, u) = (client.clone(), api.clone(), u.clone());
                tokio::spawn(async move { toy_bot_react(&client, &api, &u).await });
            } else {
                toy_bot_react(&client, &api, u).await;
            }
        }
    }
}
