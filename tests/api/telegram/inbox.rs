//! The inbox: every update stored before it is handled, a webhook that verifies its secret first, repeats and crashes that change nothing, forged taps refused.

use super::*;

on_both_backends!(
    the_webhook_refuses_a_wrong_or_missing_secret,
    the_same_update_twice_has_one_effect,
    a_restart_mid_report_skips_nothing,
    an_update_cut_short_by_a_crash_is_not_applied_twice,
    a_step_cut_short_is_answered_as_soon_as_polling_restarts,
    forged_taps_change_nothing,
);

async fn the_webhook_refuses_a_wrong_or_missing_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, url, tasks) = webhook(&app, &sim, false).await;
    let body = serde_json::json!({
        "update_id": 7,
        "message": {
            "message_id": 1, "date": 1_800_000_000,
            "chat": {"id": REPORTER, "type": "private", "first_name": "Anna"},
            "from": {"id": REPORTER, "is_bot": false, "first_name": "Anna"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}]
        }
    });
    let client = reqwest::Client::new();
    let post = |secret: Option<&str>| {
        let mut r = client.post(&url).json(&body);
        if let Some(s) = secret {
            r = r.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        r.send()
    };
    for wrong in [
        None,
        Some(""),
        Some("webhook_Secret-012345678"),
        Some("webhook_Secret-01234567890"),
        Some("WEBHOOK_SECRET-0123456789"),
    ] {
        let r = post(wrong).await.expect("post");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    assert_eq!(app.count("telegram_updates").await, 0, "nothing stored");
    // The right secret is accepted and the update stored before the answer.
    let r = post(Some(SECRET)).await.expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.count("telegram_updates").await, 1);
    // Not an update at all: refused, nothing stored.
    let r = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body("{\"hello\": 1}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("telegram_updates").await, 1);
    stop(tasks).await;
}

async fn the_same_update_twice_has_one_effect(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, url, tasks) = webhook(&app, &sim, true).await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;
    let tap = sim
        .tap_label(REPORTER, REPORTER, q.message_id, "Network")
        .expect("tap");
    let q = anna.expect("How far does the network").await;
    let registered = sim.webhook().expect("the adapter registered its webhook");
    assert_eq!(
        registered.max_connections, 100,
        "as many deliveries at once as Telegram allows"
    );

    // Telegram sends the tap again (our 200 was lost, say): nothing happens twice.
    let body = stored_body(&app, tap.update_id).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::OK, "a repeat is acknowledged");
    }
    // Anna's next answer is handled after anything queued before it for her.
    anna.tap(&q, "Whole floor / many PCs", "Which site").await;
    assert_eq!(
        anna.count("How far does the network"),
        1,
        "{}",
        anna.shown()
    );
    assert_eq!(
        anna.count("out of date"),
        0,
        "the repeat was not seen as a stale tap"
    );
    assert_eq!(app.count("telegram_updates").await, 3);
    assert_eq!(
        sim.stats().requests.get("answerCallbackQuery").copied(),
        Some(2),
        "one answer per tap"
    );

    // A new update delivered twice at the same moment (two deliveries racing): one of
    // them finds it new, and it is answered once.
    let mut boris = User::new(&sim, 4242, "Boris", "en");
    let start = sim.inject_text(4242, 4242, "/start").expect("inject");
    boris.expect("What kind of fault").await;
    let mut again: serde_json::Value =
        serde_json::from_str(&stored_body(&app, start.update_id).await).expect("json");
    again["update_id"] = 9_000_001.into();
    let deliver = || {
        client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&again)
            .send()
    };
    let (a, b) = tokio::join!(deliver(), deliver());
    for r in [a, b] {
        assert_eq!(r.expect("post").status(), StatusCode::OK);
    }
    let q = boris.expect("What kind of fault").await;
    // His next answer is handled after anything queued before it for him.
    boris.tap(&q, "Network", "How far does the network").await;
    assert_eq!(boris.count("What kind of fault"), 2, "{}", boris.shown());
    stop(tasks).await;
}

async fn a_restart_mid_report_skips_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_a, first) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;
    let q = anna.tap(&q, "Printer & peripherals", "Which printer").await;
    anna.tap(&q, "Skip", "What is the printer doing").await;
    let symptom = anna.last;
    stop([first]).await;

    // While the service is down Anna answers twice more.
    let tap = sim
        .tap_label(REPORTER, REPORTER, symptom, "Toner / ink")
        .expect("tap");
    sim.inject_text(REPORTER, REPORTER, "Head office")
        .expect("inject");

    // A new instance on the same database takes both, in order, once the crashed one's
    // polling lease has run out (it is at another address, so not its holder).
    let again = app.restart().await;
    again.clock.advance(chrono::Duration::seconds(1));
    let (_b, second) = polling(&again, &sim);
    anna.expect("Which site").await;
    let q = anna.expect("Which building").await;
    assert!(q.content.button("Skip").is_some());
    assert_eq!(anna.count("What kind of fault"), 1, "not started over");
    answered(&sim, tap.callback_query_id.as_deref()).await;
    // And the report finishes on the new instance.
    anna.say("Skip", "Which room").await;
    anna.say("3F", "asset tag").await;
    anna.say("Skip", "describe the fault").await;
    let q = anna.say("Out of toner", "When did it start").await;
    let q = anna.tap(&q, "Just now", "How many people").await;
    let q = anna.tap(&q, "Just me", "How badly").await;
    anna.tap(&q, "It can wait", "Which department").await;
    anna.say("Finance", "reach you").await;
    let summary = anna.say("13800138000", "check your report").await;
    let receipt = anna.tap(&summary, "✅ Submit", "recorded as ticket").await;
    let number =
        ticket_number(receipt.content.text.as_deref().unwrap_or_default()).expect("number");
    let d = ticket_json(&app, &number).await;
    assert_eq!(d["ticket"]["intake"]["location"]["site"], "Head office");
    assert_eq!(app.count("tickets").await, 1);
    stop([second]).await;
}

async fn an_update_cut_short_by_a_crash_is_not_applied_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    // 1. Stored, then a crash before handling: the next run handles it.
    let (_a, _url, tasks) = webhook(&app, &sim, false).await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    sim.inject_text(REPORTER, REPORTER, "/start")
        .expect("inject");
    stored(&app, 1).await;
    assert_eq!(texts(&sim, REPORTER).len(), 0, "not handled yet");
    stop(tasks).await;
    let (_b, _url, tasks) = webhook(&app, &sim, true).await;
    let q = anna.expect("What kind of fault").await;
    stop(tasks).await;

    // 2. Handling began and reached the conversation, then a crash before it was marked
    //    handled: after the restart the answer is not applied again.
    begin_network_tap_then_crash(&app, &sim, q.message_id).await;
    // Once its lease has run out, the next run sees it was cut short.
    app.clock.advance(chrono::Duration::minutes(3));
    let (_d, _url, tasks) = webhook(&app, &sim, true).await;
    let q = anna.expect("How far does the network").await;
    assert!(q.content.button("Just one PC").is_some());
    assert_eq!(anna.count("out of date"), 0, "{}", anna.shown());
    // The person carries on from there.
    anna.tap(&q, "Just one PC", "Which site").await;
    stop(tasks).await;
}

/// Anna taps "Network" on `question`; its handling begins and reaches the conversation,
/// then the process dies before the update is marked handled.
async fn begin_network_tap_then_crash(app: &TestApp, sim: &TgSim, question: i64) {
    let (_c, _url, tasks) = webhook(app, sim, false).await;
    let tap = sim
        .tap_label(REPORTER, REPORTER, question, "Network")
        .expect("tap");
    stored(app, 2).await;
    let now = app.clock_now();
    assert_eq!(
        app.store
            .telegram_claim(tap.update_id, now, now - chrono::Duration::minutes(2))
            .await
            .expect("claim"),
        Some(1)
    );
    let anna = Person {
        channel: "telegram".into(),
        external_id: REPORTER.to_string(),
        name: "Anna Smith".into(),
        language: Some("en".into()),
    };
    app.chat
        .handle(&anna, Incoming::Choice("category:network".into()))
        .await
        .expect("the conversation took the tap");
    stop(tasks).await;
}

async fn a_step_cut_short_is_answered_as_soon_as_polling_restarts(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;
    stop([task]).await;
    begin_network_tap_then_crash(&app, &sim, q.message_id).await;

    // A second later the service is back, polling: it is the bot's only receiver, so
    // what was begun before it started was begun by a process that is gone. Anna sees
    // where she is now, not two minutes from now.
    app.clock.advance(chrono::Duration::seconds(1));
    let (_tg, task) = polling(&app, &sim);
    let q = anna.expect("How far does the network").await;
    assert!(q.content.button("Just one PC").is_some());
    anna.tap(&q, "Just one PC", "Which site").await;
    stop([task]).await;
}

async fn forged_taps_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;

    // Someone else sends a tap on Anna's private question.
    let forged = sim
        .forge_tap(66, REPORTER, q.message_id, "category:printer")
        .expect("forge");
    let toast = answered(&sim, forged.callback_query_id.as_deref()).await;
    assert_eq!(toast, None);
    anna.tap(&q, "Network", "How far does the network").await;
    assert_eq!(anna.count("Which printer"), 0, "{}", anna.shown());
    assert!(
        app.store
            .reporter_by_identity("telegram", "66")
            .await
            .expect("lookup")
            .is_none(),
        "the forger got nothing, not even a report of their own"
    );

    // A job card in the printer group's chat.
    let number = app.report("li.na", &printer_fault()).await;
    let group = -1_001_234_567_890;
    User::new(&sim, 77, "Mallory", "en");
    User::new(&sim, 88, "Alice", "en");
    sim.add_group(group, "Printer desk", ChatType::Supergroup, None, &[77, 88])
        .expect("group");
    let card = Parcel {
        id: 1,
        to: Address {
            channel: "telegram".into(),
            external_id: group.to_string(),
        },
        lang: Lang::En,
        event: "job_offered".into(),
        ticket: Some(number.clone()),
        replies: vec![Outgoing::Choices {
            text: format!("New job {number}"),
            options: vec![(format!("card:accept@{number}"), "Accept".into())],
        }],
    };
    tg.courier().deliver(&card).await.expect("card delivered");
    let shown = sim
        .wait_for_bot_message(group, |m| m.content.button("Accept").is_some())
        .await
        .expect("card in the group");
    // Text in the group is not for the bot; a group member who is not a linked engineer
    // taps Accept: refused, nothing changes.
    sim.inject_text(77, group, "/start").expect("inject");
    let tap = sim
        .tap_label(77, group, shown.message_id, "Accept")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains("cannot do that"), "{toast}");
    assert_eq!(
        ticket_json(&app, &number).await["ticket"]["assignee"],
        serde_json::Value::Null
    );

    // Alice, linked, takes the job from the group card.
    app.link("alice", |e| e.telegram_id = Some("88".into()))
        .await;
    let tap = sim
        .tap_label(88, group, shown.message_id, "Accept")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(
        toast.contains(&number),
        "the outcome shows on the tap: {toast}"
    );
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["assignee"], alice_id(&app).await);
    assert_eq!(t["ticket"]["status"], "accepted");
    let group_texts = texts(&sim, group);
    assert_eq!(
        group_texts.len(),
        1,
        "nothing said in the group: {group_texts:?}"
    );
    stop([task]).await;
}
