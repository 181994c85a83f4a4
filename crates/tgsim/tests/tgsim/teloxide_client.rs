//! A real framework against tgsim: teloxide 0.17 over real HTTP.

use std::time::Duration;

use teloxide::RequestError;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, UpdateKind};
use tgsim::{RateLimits, TgSim};

use crate::helpers::{TOKEN, config, start, start_with};

fn bot(sim: &TgSim) -> Bot {
    Bot::new(TOKEN).set_api_url(reqwest::Url::parse(&sim.url()).expect("url"))
}

#[tokio::test]
async fn teloxide_requests_round_trip() {
    let sim = start().await;
    let bot = bot(&sim);
    let me = bot.get_me().await.expect("getMe");
    assert_eq!(me.username(), "baoxiu_test_bot");
    assert_eq!(me.user.id, UserId(123));

    sim.inject_text(42, 42, "/start").expect("inject");
    let updates = bot.get_updates().timeout(5).await.expect("getUpdates");
    assert_eq!(updates.len(), 1);
    let UpdateKind::Message(msg) = &updates[0].kind else {
        panic!("expected a message, got {:?}", updates[0].kind);
    };
    assert_eq!(msg.text(), Some("/start"));
    assert_eq!(msg.chat.id, ChatId(42));
    assert_eq!(msg.from.as_ref().map(|u| u.id), Some(UserId(42)));

    let kb = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("打印机", "kind:printer"),
        InlineKeyboardButton::callback("电脑", "kind:pc"),
    ]]);
    let sent = bot
        .send_message(ChatId(42), "What is broken?")
        .reply_markup(kb)
        .await
        .expect("sendMessage");
    let tap = sim
        .tap_label(42, 42, i64::from(sent.id.0), "打印机")
        .expect("tap");

    let updates = bot
        .get_updates()
        .offset(updates[0].id.as_offset())
        .timeout(5)
        .await
        .expect("getUpdates");
    let UpdateKind::CallbackQuery(q) = &updates[0].kind else {
        panic!("expected a callback query, got {:?}", updates[0].kind);
    };
    assert_eq!(q.data.as_deref(), Some("kind:printer"));
    assert_eq!(q.from.id, UserId(42));
    let on = q.regular_message().expect("message");
    assert_eq!(on.id, sent.id);
    bot.answer_callback_query(q.id.clone())
        .text("OK")
        .await
        .expect("answerCallbackQuery");
    let edited = bot
        .edit_message_text(on.chat.id, on.id, "Printer it is")
        .await
        .expect("editMessageText");
    assert!(edited.edit_date().is_some());

    let cb = sim
        .callback(tap.callback_query_id.as_deref().unwrap_or_default())
        .expect("record");
    assert_eq!(cb.answer.and_then(|a| a.text).as_deref(), Some("OK"));
    let shown = sim.bot_messages(42).expect("chat");
    assert_eq!(shown[0].content.text.as_deref(), Some("Printer it is"));
    assert_eq!(shown[0].edits[0].text.as_deref(), Some("What is broken?"));
    assert!(shown[0].content.reply_markup.is_none());

    // Photos: the file id from the update fetches the bytes through getFile + download.
    sim.inject_photo(42, 42, Some("jammed"), b"\xFF\xD8photo".to_vec())
        .expect("photo");
    let updates = bot
        .get_updates()
        .offset(updates[0].id.as_offset())
        .timeout(5)
        .await
        .expect("getUpdates");
    let UpdateKind::Message(photo_msg) = &updates[0].kind else {
        panic!("expected a photo message");
    };
    assert_eq!(photo_msg.caption(), Some("jammed"));
    let size = photo_msg
        .photo()
        .and_then(|p| p.last())
        .expect("photo size");
    let file = bot.get_file(size.file.id.clone()).await.expect("getFile");
    let mut bytes = Vec::new();
    bot.download_file(&file.path, &mut bytes)
        .await
        .expect("download");
    assert_eq!(bytes, b"\xFF\xD8photo");

    // Bad callback data comes back as teloxide's typed API error.
    let bad = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("x", "d".repeat(65))]]);
    let e = bot
        .send_message(ChatId(42), "bad")
        .reply_markup(bad)
        .await
        .expect_err("too long callback data");
    assert!(matches!(e, RequestError::Api(_)), "{e:?}");
}

#[tokio::test]
async fn teloxide_sees_429_as_retry_after() {
    let sim = start_with(config().limits(RateLimits::telegram())).await;
    let bot = bot(&sim);
    sim.inject_text(42, 42, "hi").expect("inject");
    bot.send_message(ChatId(42), "one").await.expect("first");
    match bot.send_message(ChatId(42), "two").await {
        Err(RequestError::RetryAfter(secs)) => assert_eq!(secs.seconds(), 1),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert_eq!(sim.stats().too_many_requests, 1);
}

#[tokio::test]
async fn teloxide_dispatcher_runs_a_conversation() {
    let sim = start().await;
    let handler = dptree::entry()
        .branch(
            Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
                let kb =
                    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Take", "take:1")]]);
                bot.send_message(
                    msg.chat.id,
                    format!("echo: {}", msg.text().unwrap_or_default()),
                )
                .reply_markup(kb)
                .await?;
                Ok::<(), RequestError>(())
            }),
        )
        .branch(Update::filter_callback_query().endpoint(
            |bot: Bot, q: CallbackQuery| async move {
                bot.answer_callback_query(q.id.clone()).await?;
                if let Some(m) = q.regular_message() {
                    bot.edit_message_text(
                        m.chat.id,
                        m.id,
                        format!("taken by {}", q.from.first_name),
                    )
                    .await?;
                }
                Ok::<(), RequestError>(())
            },
        ));
    let mut dispatcher = Dispatcher::builder(bot(&sim), handler).build();
    let run = tokio::spawn(async move { dispatcher.dispatch().await });

    sim.inject_text(42, 42, "hello").expect("inject");
    sim.wait_for_bot_message(42, |m| m.content.text.as_deref() == Some("echo: hello"))
        .await
        .expect("reply in the private chat");

    // In a group: one member posts, another takes the job card.
    sim.inject_text(7, -500, "/jobs").expect("inject");
    let card = sim
        .wait_for_bot_message(-500, |m| m.content.button("Take").is_some())
        .await
        .expect("card");
    let tap = sim.tap(8, -500, card.message_id, "take:1").expect("tap");
    sim.wait_for_bot_message(-500, |m| {
        m.content.text.as_deref() == Some("taken by User 8")
    })
    .await
    .expect("card edited");
    assert!(
        sim.callback(tap.callback_query_id.as_deref().unwrap_or_default())
            .and_then(|c| c.answer)
            .is_some()
    );
    // teloxide checked for a webhook before polling.
    assert!(sim.stats().requests.contains_key("getWebhookInfo"));
    run.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), run).await;
}
