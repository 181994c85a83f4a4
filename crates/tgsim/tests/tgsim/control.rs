//! The /control HTTP API and the Rust handle's injections and waits.

use std::time::Duration;

use serde_json::{Value, json};
use tgsim::{SimError, SimUser};

use crate::helpers::{config, ok, start, start_with};

async fn control(
    sim: &tgsim::TgSim,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/control{path}", sim.url());
    let req = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body.unwrap_or(json!({}))),
    };
    let resp = req.send().await.expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn control_api_plays_users_and_reads_transcripts() {
    let sim = start().await;
    let (s, _) = control(&sim, "POST", "/users", Some(json!({"id": 42, "first_name": "张三", "username": "zhangsan", "language_code": "zh-hans"}))).await;
    assert_eq!(s, 200);
    let (s, inj) = control(
        &sim,
        "POST",
        "/messages",
        Some(json!({"from": 42, "text": "/start"})),
    )
    .await;
    assert_eq!(s, 200, "{inj}");
    let updates = ok(&sim, "getUpdates", json!({})).await;
    assert_eq!(updates[0]["update_id"], inj["update_id"]);
    assert_eq!(updates[0]["message"]["from"]["first_name"], "张三");
    assert_eq!(updates[0]["message"]["from"]["language_code"], "zh-hans");
    assert_eq!(updates[0]["message"]["chat"]["username"], "zhangsan");

    let kb = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]});
    let m = ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "Sure?", "reply_markup": kb}),
    )
    .await;
    let mid = m["message_id"].clone();

    let (s, tap) = control(
        &sim,
        "POST",
        "/taps",
        Some(json!({"from": 42, "message_id": mid, "label": "Yes"})),
    )
    .await;
    assert_eq!(s, 200, "{tap}");
    let (s, _) = control(
        &sim,
        "POST",
        "/taps",
        Some(json!({"from": 42, "message_id": mid, "data": "no"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = control(
        &sim,
        "POST",
        "/taps",
        Some(json!({"from": 99, "chat": 42, "message_id": mid, "data": "admin", "forge": true})),
    )
    .await;
    assert_eq!(s, 200);
    let updates = ok(
        &sim,
        "getUpdates",
        json!({"offset": inj["update_id"].as_i64().unwrap_or(0) + 1}),
    )
    .await;
    let q = &updates[0]["callback_query"];
    assert_eq!(q["data"], "yes");
    assert_eq!(q["message"]["message_id"], mid);
    assert_eq!(q["message"]["reply_markup"], kb);
    assert_eq!(updates[1]["callback_query"]["from"]["id"], 99);

    let cb_id = tap["callback_query_id"].as_str().expect("id").to_owned();
    ok(
        &sim,
        "answerCallbackQuery",
        json!({"callback_query_id": cb_id, "text": "Done", "show_alert": true}),
    )
    .await;
    let (_, cb) = control(&sim, "GET", &format!("/callbacks/{cb_id}"), None).await;
    assert_eq!(cb["answer"], json!({"text": "Done", "show_alert": true}));
    // Answering twice, or an unknown id, is refused as on Telegram.
    crate::helpers::err(
        &sim,
        "answerCallbackQuery",
        json!({"callback_query_id": cb_id}),
        400,
    )
    .await;

    // Events: wait for the bot's next action over HTTP.
    let (_, events) = control(&sim, "GET", "/chats/42/events", None).await;
    let after = events[0]["seq"].as_u64().expect("seq");
    let url = format!(
        "{}/control/chats/42/events?after={after}&wait_ms=5000",
        sim.url()
    );
    let waiter = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .expect("sent")
            .json::<Value>()
            .await
            .expect("json")
    });
    ok(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": mid, "text": "Confirmed"}),
    )
    .await;
    let next = waiter.await.expect("task");
    assert_eq!(next[0]["kind"], "edited");
    assert_eq!(next[0]["content"]["text"], "Confirmed");

    let (s, photo) = control(
        &sim,
        "POST",
        "/photos",
        Some(json!({"from": 42, "caption": "卡纸", "data_base64": "SGVsbG8="})),
    )
    .await;
    assert_eq!(s, 200);
    let f = ok(&sim, "getFile", json!({"file_id": photo["file_id"]})).await;
    assert_eq!(f["file_size"], 5);
    let (s, _) = control(
        &sim,
        "POST",
        "/contacts",
        Some(json!({"from": 42, "phone_number": "+8613800000000"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, chat) = control(
        &sim,
        "POST",
        "/chats",
        Some(json!({"id": -100_123, "title": "IT", "type": "supergroup", "members": [7, 8]})),
    )
    .await;
    assert_eq!((s, chat["type"].clone()), (200, json!("supergroup")));

    let (_, transcript) = control(&sim, "GET", "/chats/42/transcript", None).await;
    let t = transcript.as_array().expect("array");
    assert_eq!(t.len(), 4);
    assert_eq!(t[0]["content"]["text"], "/start");
    assert_eq!(t[1]["from_bot"], true);
    assert_eq!(t[1]["edits"][0]["text"], "Sure?");
    assert_eq!(t[2]["content"]["caption"], "卡纸");
    assert_eq!(t[3]["content"]["contact"]["user_id"], 42);

    let (_, stats) = control(&sim, "GET", "/stats", None).await;
    assert_eq!(stats["requests"]["sendMessage"], 1);
    assert_eq!(stats["errors"]["400"], 1);
    let (s, _) = control(&sim, "POST", "/clock/advance", Some(json!({"ms": 5}))).await;
    assert_eq!(s, 400);
    control(&sim, "POST", "/reset", None).await;
    let (s, _) = control(&sim, "GET", "/chats/42/transcript", None).await;
    assert_eq!(s, 404);
    assert_eq!(sim.stats().requests.len(), 0);
}

#[tokio::test]
async fn rust_handle_checks_taps_and_times_out_waits() {
    let sim = start_with(config().wait_timeout(Duration::from_millis(50))).await;
    sim.add_user(SimUser {
        username: Some("li".into()),
        ..SimUser::new(7)
    })
    .expect("user");
    assert!(matches!(
        sim.inject_text(7, 8, "x"),
        Err(SimError::NotYourChat { .. })
    ));
    assert!(matches!(
        sim.inject_text(-1, -1, "x"),
        Err(SimError::InvalidUser(-1))
    ));
    sim.inject_text(7, 7, "hi").expect("inject");
    assert!(matches!(
        sim.wait_for_bot_message(7, |_| true).await,
        Err(SimError::Timeout(_))
    ));
    let kb = json!({"inline_keyboard": [[{"text": "Take", "callback_data": "take:9"}]]});
    ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 7, "text": "Job", "reply_markup": kb}),
    )
    .await;
    let msg = sim
        .wait_for_bot_message(7, |m| m.content.button("Take").is_some())
        .await
        .expect("found");
    assert!(matches!(
        sim.tap(7, 7, msg.message_id, "take:10"),
        Err(SimError::NoSuchButton(_))
    ));
    assert!(matches!(
        sim.tap(7, 7, 1, "take:9"),
        Err(SimError::UnknownMessage { .. })
    ));
    assert!(matches!(
        sim.tap(8, 7, msg.message_id, "take:9"),
        Err(SimError::NotYourChat { .. })
    ));
    let forged = sim
        .forge_tap(8, 7, msg.message_id, "take:10")
        .expect("forged");
    let tapped = sim.tap(7, 7, msg.message_id, "take:9").expect("tapped");
    assert_eq!(tapped.update_id, forged.update_id + 1);
    let seq = sim.last_event_seq(7).expect("chat");
    let waiter = {
        let h = sim.handle();
        tokio::spawn(async move { h.wait_for_bot_event(7, seq, Duration::from_secs(5)).await })
    };
    ok(&sim, "sendMessage", json!({"chat_id": 7, "text": "next"})).await;
    let ev = waiter.await.expect("task").expect("event");
    assert_eq!(ev.content.text.as_deref(), Some("next"));
}
