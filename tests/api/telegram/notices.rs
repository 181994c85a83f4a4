//! Notices through the outbox and the Telegram courier: flood limits, dead chats, 429 storms.

use super::*;

on_both_backends!(
    an_offer_goes_out_through_the_outbox_and_the_reporter_hears_who_is_coming,
    a_429_storm_over_500_notifications_loses_nothing_and_repeats_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_courier_reports_flood_limits_and_dead_chats() {
    let app = spawn_app(Backend::Sqlite).await;
    let clock = ManualClock::new();
    let sim = TgSim::start(
        sim_config()
            .limits(RateLimits::telegram())
            .clock(clock.clone()),
    )
    .await
    .expect("tgsim");
    let tg = app.telegram(config(&sim));
    let courier = tg.courier();
    assert_eq!(courier.channel(), "telegram");
    sim.inject_text(REPORTER, REPORTER, "hi").expect("inject");
    let parcel = |id: i64, to: i64, text: &str| Parcel {
        id,
        to: Address {
            channel: "telegram".into(),
            external_id: to.to_string(),
        },
        lang: Lang::En,
        event: "ticket_accepted".into(),
        ticket: None,
        replies: vec![Outgoing::Text(text.into())],
    };
    courier
        .deliver(&parcel(1, REPORTER, "first"))
        .await
        .expect("first");
    // A second message to the same chat within the second: Telegram says 429.
    let second = parcel(2, REPORTER, "second");
    assert_eq!(
        courier.deliver(&second).await,
        Err(DeliveryError::RateLimited(Duration::from_secs(1)))
    );
    assert_eq!(sim.stats().too_many_requests, 1);
    clock.advance(Duration::from_secs(1));
    courier.deliver(&second).await.expect("after the wait");
    assert_eq!(texts(&sim, REPORTER), vec!["first", "second"]);
    // A chat that does not exist, a user who blocked the bot, an id that is no chat id.
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        courier.deliver(&parcel(3, 4242, "lost")).await,
        Err(DeliveryError::Permanent(_))
    ));
    sim.set_blocked(REPORTER, true);
    assert!(matches!(
        courier.deliver(&parcel(4, REPORTER, "blocked")).await,
        Err(DeliveryError::Permanent(_))
    ));
    let mut bad = parcel(5, 0, "bad");
    bad.to.external_id = "web-cookie".into();
    assert!(matches!(
        courier.deliver(&bad).await,
        Err(DeliveryError::Permanent(_))
    ));
}

async fn an_offer_goes_out_through_the_outbox_and_the_reporter_hears_who_is_coming(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut alice = linked(&app, &sim, 88, "Alice", "alice").await;
    let mut bob = linked(&app, &sim, 89, "Bob", "bob").await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let dispatcher = telegram_dispatcher(&app, &tg);

    // One round: the offer reaches both on-duty printer engineers as a job card.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let alices_card = alice.expect(&number).await;
    let alices_card = if alices_card.content.button("✋ 接单").is_some() {
        alices_card
    } else {
        alice.expect(&number).await
    };
    assert!(
        alices_card.content.button("✋ 接单").is_some(),
        "{}",
        alice.shown()
    );
    let bobs_card = sim
        .wait_for_bot_message(bob.id, |m| m.content.button("✋ 接单").is_some())
        .await
        .expect("bob's card");
    assert!(bob.count(&number) >= 1);
    // Nothing new for the reporter yet: the offer is not news to her.
    assert_eq!(anna.count("alice"), 0);

    // Alice takes the job with one tap on the card.
    alice.tap(&alices_card, "✋ 接单", &number).await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "accepted");

    // The next round tells the reporter who is coming, and Bob that it is taken.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    // (In the reporter's saved language, else Chinese: match on the name and number.)
    let told = anna.expect(&number).await;
    let text = told.content.text.clone().unwrap_or_default();
    assert!(text.contains("alice") && text.contains(&number), "{text}");
    let taken = sim
        .wait_for_bot_message(bob.id, |m| {
            m.content
                .text
                .as_deref()
                .is_some_and(|t| t.contains("已由 alice 接单") && t.contains(&number))
        })
        .await
        .unwrap_or_else(|e| panic!("bob told: {e}\n{}", bob.shown()));
    assert!(taken.content.buttons().is_empty());
    // Bob's old card is stale: his tap is refused with who has it, and nothing changes.
    bob.last = taken.message_id;
    bob.tap(&bobs_card, "✋ 接单", "alice").await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(
        t["ticket"]["assignee"],
        serde_json::json!(alice_id(&app).await)
    );
    // Everything was delivered exactly once: nothing is left, nothing went out twice.
    assert_eq!(dispatcher.run_once().await.expect("round").handled(), 0);
    assert_eq!(anna.count("alice"), 1, "{}", anna.shown());
    stop([task]).await;
}

/// Fifty Telegram reporters, ten pieces of news each, all due at once: 500 notifications
/// against tgsim's real limits (30/s overall, 1/s per chat) in virtual time — the
/// dispatcher runs once per virtual second, tgsim's clock moves with the desk's. Our own
/// limiter is off, so tgsim refuses what does not fit and the dispatcher must honour each
/// 429.
async fn a_429_storm_over_500_notifications_loses_nothing_and_repeats_nothing(backend: Backend) {
    use baoxiu::domain::intake::Note;
    use baoxiu::domain::ticket::{Action, WorkMode};
    const USERS: i64 = 50;
    const FIRST: i64 = 7_000;
    let app = spawn_app(backend).await;
    let sim_clock = ManualClock::new();
    let sim = TgSim::start(
        sim_config()
            .limits(RateLimits::telegram())
            .clock(sim_clock.clone()),
    )
    .await
    .expect("tgsim");
    let tg = app.telegram(config(&sim));
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let alice = Caller::Engineer(
        app.desk
            .engineer_by_handle("alice")
            .await
            .expect("load")
            .expect("alice"),
    );
    // Ten pieces of news per reporter: received, accepted, on the way, arrived and six
    // progress notes.
    let mut markers = vec![
        "✅".to_owned(),
        "👷".to_owned(),
        "🚶".to_owned(),
        "📍".to_owned(),
    ];
    markers.extend((1..=6).map(|k| format!("note {k}/6")));
    for i in 0..USERS {
        let user = FIRST + i;
        sim.inject_text(user, user, "/start").expect("inject");
        let r = app
            .desk
            .reporter_for_identity("telegram", &user.to_string(), &format!("Reporter {i}"))
            .await
            .expect("reporter");
        let form = serde_json::from_value(printer_fault()).expect("form");
        let t = app.desk.report(&desk, r.id, form).await.expect("report");
        let number = t.number.as_str();
        let mut actions = vec![
            Action::Accept,
            Action::StartWork(WorkMode::OnSite),
            Action::Arrive,
        ];
        actions.extend(
            (1..=6).map(|k| Action::Progress(Note::parse(&format!("note {k}/6")).expect("note"))),
        );
        for a in actions {
            app.desk.act(&alice, number, a).await.expect("act");
        }
    }
    let news = "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter'";
    assert_eq!(app.scalar(news).await, USERS * 10);

    let dispatcher = telegram_dispatcher(&app, &tg);
    let mut rounds = 0;
    let mut retried = 0;
    while app
        .scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'pending'",
        )
        .await
        > 0
    {
        rounds += 1;
        assert!(
            rounds <= 100,
            "still pending after {rounds} virtual seconds"
        );
        // Two rounds a second: a message held back by a 429 must not be overtaken by the
        // next one to the same chat.
        for _ in 0..2 {
            retried += dispatcher.run_once().await.expect("round").retried;
        }
        app.clock.advance(chrono::Duration::seconds(1));
        sim_clock.advance(Duration::from_secs(1));
    }

    // All delivered, once each, in order, to the right people.
    let stats = sim.stats();
    assert_eq!(stats.messages_sent, (USERS * 10) as u64, "{stats:?}");
    let mut times = Vec::new();
    for i in 0..USERS {
        let shown = sim.bot_messages(FIRST + i).expect("chat");
        let texts: Vec<&str> = shown
            .iter()
            .map(|m| m.content.text.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(texts.len(), markers.len(), "{texts:#?}");
        for (text, marker) in texts.iter().zip(&markers) {
            assert!(
                text.contains(marker.as_str()),
                "{marker} expected: {texts:#?}"
            );
        }
        // Tgsim's limits held in every chat: one message per second at most.
        for w in shown.windows(2) {
            assert!(w[1].sent_at_ms >= w[0].sent_at_ms + 1000, "{w:?}");
        }
        times.extend(shown.iter().map(|m| m.sent_at_ms));
    }
    // …and overall: no 31 messages within one second.
    times.sort_unstable();
    for w in times.windows(31) {
        assert!(w[30] >= w[0] + 1000, "31 messages within a second: {w:?}");
    }
    // It was a storm: tgsim refused many sends, and every refusal was honoured — nothing
    // came back before its retry_after, and none counted as a failed attempt.
    assert!(stats.too_many_requests >= 100, "{stats:?}");
    assert_eq!(stats.retry_after_ignored, 0, "{stats:?}");
    assert!(
        u64::from(retried) >= stats.too_many_requests,
        "{retried} rescheduled"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'sent'
               AND channel = 'telegram' AND attempts = 1"
        )
        .await,
        USERS * 10
    );
    // The ceiling shapes the time it took: 500 messages at 30 per second.
    assert!((17..=40).contains(&rounds), "{rounds} rounds");
}
