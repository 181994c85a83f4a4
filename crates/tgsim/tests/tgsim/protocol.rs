//! Bot API shapes, encodings and error answers.

use serde_json::json;
use tgsim::ChatType;

use crate::helpers::{TOKEN, err, ok, start};

#[tokio::test]
async fn get_me_and_routing_errors() {
    let sim = start().await;
    let me = ok(&sim, "getMe", json!({})).await;
    assert_eq!(me["id"], 123);
    assert_eq!(me["is_bot"], true);
    assert_eq!(me["username"], "baoxiu_test_bot");
    assert_eq!(me["has_main_web_app"], false);

    // Method names are case-insensitive, GET works too.
    let body: serde_json::Value = reqwest::get(format!("{}/bot{TOKEN}/GETME", sim.url()))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(body["ok"], true);

    let unknown = reqwest::get(format!("{}/bot{TOKEN}/sendTelepathy", sim.url()))
        .await
        .expect("sent");
    assert_eq!(unknown.status().as_u16(), 404);
    let body: serde_json::Value = unknown.json().await.expect("json");
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );

    let wrong = reqwest::get(format!("{}/bot999:XYZ/getMe", sim.url()))
        .await
        .expect("sent");
    assert_eq!(wrong.status().as_u16(), 401);
    let body: serde_json::Value = wrong.json().await.expect("json");
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    assert_eq!(sim.stats().errors.get(&401), Some(&1));
}

#[tokio::test]
async fn send_message_accepts_json_form_and_query_params() {
    let sim = start().await;
    sim.inject_text(42, 42, "hi").expect("inject");

    let m = ok(&sim, "sendMessage", json!({"chat_id": 42, "text": "json"})).await;
    assert_eq!(m["message_id"], 2);
    assert_eq!(m["from"]["is_bot"], true);
    assert_eq!(
        m["chat"],
        json!({"id": 42, "type": "private", "first_name": "User 42"})
    );
    assert!(m["date"].as_i64().is_some_and(|d| d > 1_600_000_000));

    // Form encoding, with reply_markup as a JSON string (python clients, curl -F/-d).
    let markup = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}).to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/sendMessage", sim.url()))
        .form(&[
            ("chat_id", "42"),
            ("text", "form"),
            ("reply_markup", markup.as_str()),
        ])
        .send()
        .await
        .expect("sent");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "y"
    );

    // Query string only.
    let resp = reqwest::get(format!(
        "{}/bot{TOKEN}/sendMessage?chat_id=42&text=query",
        sim.url()
    ))
    .await
    .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);

    let texts: Vec<_> = sim
        .bot_messages(42)
        .expect("chat")
        .into_iter()
        .filter_map(|m| m.content.text.clone())
        .collect();
    assert_eq!(texts, ["json", "form", "query"]);
}

#[tokio::test]
async fn message_length_and_chat_errors() {
    let sim = start().await;
    sim.inject_text(42, 42, "hi").expect("inject");
    ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "a".repeat(4096)}),
    )
    .await;
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "a".repeat(4097)}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: message is too long");
    // Limits count UTF-16 code units: 2049 emoji are 4098 units.
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "😀".repeat(2049)}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: message is too long");
    let d = err(&sim, "sendMessage", json!({"chat_id": 42, "text": ""}), 400).await;
    assert_eq!(d, "Bad Request: message text is empty");
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 777, "text": "x"}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: chat not found");
    // A known user who never wrote to the bot cannot be messaged first.
    sim.add_user(tgsim::SimUser::new(778)).expect("user");
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 778, "text": "x"}),
        403,
    )
    .await;
    assert_eq!(d, "Forbidden: bot can't initiate conversation with a user");
    let d = err(&sim, "sendMessage", json!({"text": "x"}), 400).await;
    assert_eq!(d, "Bad Request: chat_id is empty");
    sim.set_blocked(42, true);
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "x"}),
        403,
    )
    .await;
    assert_eq!(d, "Forbidden: bot was blocked by the user");
}

#[tokio::test]
async fn callback_data_must_be_1_to_64_bytes() {
    let sim = start().await;
    sim.inject_text(42, 42, "hi").expect("inject");
    let kb = |data: &str| json!({"inline_keyboard": [[{"text": "B", "callback_data": data}]]});
    ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "ok", "reply_markup": kb(&"x".repeat(64))}),
    )
    .await;
    for bad in ["x".repeat(65), String::new(), "修".repeat(22)] {
        let d = err(
            &sim,
            "sendMessage",
            json!({"chat_id": 42, "text": "t", "reply_markup": kb(&bad)}),
            400,
        )
        .await;
        assert_eq!(d, "Bad Request: BUTTON_DATA_INVALID", "{bad:?}");
    }
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "t", "reply_markup": {"inline_keyboard": [[{"text": "no action"}]]}}),
        400,
    )
    .await;
    assert!(
        d.starts_with("Bad Request: can't parse inline keyboard button"),
        "{d}"
    );
}

#[tokio::test]
async fn edits_keep_history_and_refuse_no_ops() {
    let sim = start().await;
    sim.inject_text(42, 42, "hi").expect("inject");
    let kb = json!({"inline_keyboard": [[{"text": "Take", "callback_data": "take:1"}]]});
    let m = ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "Job 1", "reply_markup": kb}),
    )
    .await;
    let id = m["message_id"].clone();

    let d = err(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": id, "text": "Job 1", "reply_markup": kb}),
        400,
    )
    .await;
    assert!(d.starts_with("Bad Request: message is not modified"), "{d}");

    // Editing text without reply_markup drops the keyboard, as on Telegram.
    let e = ok(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": id, "text": "Job 1 taken"}),
    )
    .await;
    assert!(e["edit_date"].is_i64());
    assert!(e.get("reply_markup").is_none());
    ok(
        &sim,
        "editMessageReplyMarkup",
        json!({"chat_id": 42, "message_id": id, "reply_markup": kb}),
    )
    .await;

    let d = err(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": 99, "text": "x"}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: message to edit not found");
    let d = err(
        &sim,
        "editMessageText",
        json!({"chat_id": 42, "message_id": 1, "text": "x"}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: message can't be edited");

    let msg = sim.bot_messages(42).expect("chat").remove(0);
    assert_eq!(msg.content.text.as_deref(), Some("Job 1 taken"));
    assert_eq!(
        msg.content.buttons()[0].callback_data.as_deref(),
        Some("take:1")
    );
    assert_eq!(msg.edits.len(), 2);
    assert_eq!(msg.edits[0].text.as_deref(), Some("Job 1"));
    assert!(msg.edits[1].reply_markup.is_none());

    ok(
        &sim,
        "deleteMessage",
        json!({"chat_id": 42, "message_id": id}),
    )
    .await;
    let d = err(
        &sim,
        "deleteMessage",
        json!({"chat_id": 42, "message_id": id}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: message to delete not found");
    assert!(sim.bot_messages(42).expect("chat").is_empty());
    let kinds: Vec<_> = sim
        .bot_events(42, 0)
        .expect("chat")
        .iter()
        .map(|e| e.kind)
        .collect();
    use tgsim::BotEventKind::*;
    assert_eq!(kinds, [Sent, Edited, Edited, Deleted]);
}

#[tokio::test]
async fn parse_modes_are_checked_and_stripped() {
    let sim = start().await;
    sim.inject_text(42, 42, "hi").expect("inject");
    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "Ticket #12 (printer).", "parse_mode": "MarkdownV2"}),
        400,
    )
    .await;
    assert!(
        d.starts_with("Bad Request: can't parse entities: Character '#' is reserved"),
        "{d}"
    );
    let m = ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "*Ticket* \\#12 \\(printer\\)\\.", "parse_mode": "MarkdownV2"}),
    )
    .await;
    assert_eq!(m["text"], "Ticket #12 (printer).");
    assert_eq!(
        m["entities"][0],
        json!({"type": "bold", "offset": 0, "length": 6})
    );

    let d = err(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "a <b>b", "parse_mode": "HTML"}),
        400,
    )
    .await;
    assert!(d.contains("Can't find end tag"), "{d}");
    let m = ok(
        &sim,
        "sendMessage",
        json!({"chat_id": 42, "text": "<b>工单</b> &lt;3&gt;", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(m["text"], "工单 <3>");
    let raw = sim.bot_messages(42).expect("chat")[1]
        .content
        .raw_text
        .clone();
    assert_eq!(raw.as_deref(), Some("<b>工单</b> &lt;3&gt;"));
}

#[tokio::test]
async fn photos_files_commands_and_actions() {
    let sim = start().await;
    // A user's photo can be fetched with getFile and downloaded.
    let injected = sim
        .inject_photo(42, 42, Some("卡纸"), b"JPEGDATA".to_vec())
        .expect("inject");
    let file_id = injected.file_id.expect("file id");
    let f = ok(&sim, "getFile", json!({"file_id": file_id})).await;
    assert_eq!(f["file_size"], 8);
    let path = f["file_path"].as_str().expect("path");
    let bytes = reqwest::get(format!("{}/file/bot{TOKEN}/{path}", sim.url()))
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&bytes[..], b"JPEGDATA");
    err(&sim, "getFile", json!({"file_id": "nope"}), 400).await;

    // The bot uploads a photo as multipart (attach:// as teloxide does, and a direct part).
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "42")
        .text("caption", "<b>done</b>")
        .text("parse_mode", "HTML")
        .text("photo", "attach://f1")
        .part(
            "f1",
            reqwest::multipart::Part::bytes(b"PNG!".to_vec()).file_name("a.png"),
        );
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/sendPhoto", sim.url()))
        .multipart(form)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["result"]["caption"], "done");
    let sent_id = body["result"]["photo"][0]["file_id"]
        .as_str()
        .expect("file id")
        .to_owned();
    let f = ok(&sim, "getFile", json!({"file_id": sent_id})).await;
    assert_eq!(f["file_size"], 4);
    // Re-sending by file id works.
    ok(&sim, "sendPhoto", json!({"chat_id": 42, "photo": sent_id})).await;

    let cmds = json!([{"command": "report", "description": "报修"}, {"command": "help", "description": "Help"}]);
    ok(&sim, "setMyCommands", json!({"commands": cmds})).await;
    assert_eq!(ok(&sim, "getMyCommands", json!({})).await, cmds);
    let zh =
        json!({"commands": [{"command": "report", "description": "报修"}], "language_code": "zh"});
    ok(&sim, "setMyCommands", zh).await;
    assert_eq!(
        ok(&sim, "getMyCommands", json!({"language_code": "zh"}))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let d = err(
        &sim,
        "setMyCommands",
        json!({"commands": [{"command": "Bad Name", "description": "x"}]}),
        400,
    )
    .await;
    assert_eq!(d, "Bad Request: BOT_COMMAND_INVALID");

    assert_eq!(
        ok(
            &sim,
            "sendChatAction",
            json!({"chat_id": 42, "action": "typing"})
        )
        .await,
        true
    );
    err(
        &sim,
        "sendChatAction",
        json!({"chat_id": 42, "action": "dancing"}),
        400,
    )
    .await;

    // Groups can be addressed by @username.
    sim.add_group(
        -100_500,
        "IT 工程师",
        ChatType::Supergroup,
        Some("it_engineers"),
        &[7],
    )
    .expect("group");
    let m = ok(
        &sim,
        "sendMessage",
        json!({"chat_id": "@it_engineers", "text": "job"}),
    )
    .await;
    assert_eq!(m["chat"]["type"], "supergroup");
    assert_eq!(m["chat"]["title"], "IT 工程师");
    let stats = sim.stats();
    assert_eq!(stats.requests.get("sendPhoto"), Some(&2));
}
