//! Job offers as one card in the engineer group's chat.

use super::*;

on_both_backends!(offers_go_to_the_groups_chat_as_one_card_that_shows_who_took_the_job,);

async fn offers_go_to_the_groups_chat_as_one_card_that_shows_who_took_the_job(backend: Backend) {
    const GROUP: i64 = -1_001_500;
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let mut c = config(&sim);
    c.group_chats = std::collections::BTreeMap::from([("printer".to_owned(), GROUP)]);
    let tg = app.telegram(c);
    let task = tokio::spawn(tg.clone().run());
    let alice = linked(&app, &sim, 88, "Alice", "alice").await;
    let bob = linked(&app, &sim, 89, "Bob", "bob").await;
    let carol = linked(&app, &sim, 90, "Carol", "carol").await;
    sim.add_group(GROUP, "打印机组", ChatType::Supergroup, None, &[88, 89, 90])
        .expect("group");
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let dispatcher = telegram_dispatcher(&app, &tg);

    // Both offers (to Alice and to Bob) are delivered by one card in the group.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 1, "one card per ticket: {cards:#?}");
    let card = &cards[0];
    let buttons = card.content.buttons();
    assert_eq!(buttons.len(), 1, "only Accept on a group card: {buttons:?}");
    assert_eq!(buttons[0].text, "✋ 接单");
    let accept = buttons[0].callback_data.clone().expect("callback data");
    assert!(
        card.content
            .text
            .as_deref()
            .is_some_and(|t| t.contains(&number))
    );
    assert_eq!(
        alice.count(&number) + bob.count(&number),
        0,
        "nothing privately"
    );
    assert_eq!(dispatcher.run_once().await.expect("round").handled(), 0);

    // Bob taps first: the job is his, and the card shows it to everyone, without buttons.
    let tap = sim
        .tap_label(89, GROUP, card.message_id, "✋ 接单")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains(&number), "{toast}");
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == card.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("card edited");
    let text = shown.content.text.clone().unwrap_or_default();
    assert!(
        text.contains("已由 bob 接单") && text.contains(&number),
        "{text}"
    );
    let bob_id = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob")
        .id;
    assert_eq!(
        ticket_json(&app, &number).await["ticket"]["assignee"],
        serde_json::json!(bob_id)
    );
    // Alice's late tap (replayed, the button is gone) changes nothing.
    let late = sim
        .forge_tap(88, GROUP, card.message_id, &accept)
        .expect("tap");
    let toast = answered(&sim, late.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains("bob"), "{toast}");

    // The next round tells the reporter; Alice's "taken" notice is the card already
    // showing it: not sent privately, and the card is not edited again.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let told = anna.expect(&number).await;
    assert!(
        told.content
            .text
            .as_deref()
            .is_some_and(|t| t.contains("bob"))
    );
    assert_eq!(alice.count("已由 bob 接单"), 0, "{}", alice.shown());
    let card_now = &sim.bot_messages(GROUP).expect("group")[0];
    assert_eq!(card_now.edits.len(), 1, "{card_now:#?}");

    // A second job, taken outside the group chat (the REST API): the "taken" notice to
    // Bob edits its card.
    let second = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 2);
    let second_card = cards[1].clone();
    assert!(second_card.content.button("✋ 接单").is_some());
    app.act(
        &crate::helpers::token("alice"),
        &second,
        "accept",
        serde_json::json!({}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 1);
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == second_card.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("second card edited");
    let text = shown.content.text.clone().unwrap_or_default();
    assert!(
        text.contains("已由 alice 接单") && text.contains(&second),
        "{text}"
    );
    assert_eq!(bob.count(&second), 0, "{}", bob.shown());
    assert_eq!(sim.bot_messages(GROUP).expect("group").len(), 2);

    // The manager hands the second job back to the whole group: a new round, so a new
    // card with Accept, while the old one keeps showing who had it.
    app.act(
        crate::helpers::MANAGER,
        &second,
        "reassign",
        serde_json::json!({"group": "printer"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 3, "a new card for the new offer: {cards:#?}");
    let third = &cards[2];
    assert!(third.content.button("✋ 接单").is_some(), "{third:#?}");
    assert!(
        third
            .content
            .text
            .as_deref()
            .is_some_and(|t| t.contains(&second))
    );
    assert_eq!(cards[1].content.buttons().len(), 0);
    assert_eq!(cards[1].edits.len(), 1, "the old card is left as it was");
    // …and a tap on it takes the job again, edited on the new card.
    sim.tap_label(89, GROUP, third.message_id, "✋ 接单")
        .expect("tap");
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == third.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("new card edited");
    assert!(
        shown
            .content
            .text
            .as_deref()
            .is_some_and(|t| t.contains("已由 bob 接单")),
        "{shown:#?}"
    );

    // A job nobody took is escalated to the expert tier: the experts get a card of their
    // own, and the first-line card loses its Accept, pointing to it.
    let fourth = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let first_line = sim.bot_messages(GROUP).expect("group")[3].clone();
    assert!(first_line.content.button("✋ 接单").is_some());
    app.act(
        crate::helpers::MANAGER,
        &fourth,
        "escalate",
        serde_json::json!({"note": "需要专家"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 5, "a card for the experts: {cards:#?}");
    let closed = cards[3].content.text.clone().unwrap_or_default();
    assert!(
        cards[3].content.buttons().is_empty() && closed.contains("已重新派出"),
        "{:#?}",
        cards[3]
    );
    let experts = &cards[4];
    assert!(experts.content.button("✋ 接单").is_some(), "{experts:#?}");
    assert_eq!(carol.count(&fourth), 0, "not privately: {}", carol.shown());
    sim.tap_label(90, GROUP, experts.message_id, "✋ 接单")
        .expect("tap");
    sim.wait_for_bot_message(GROUP, |m| {
        m.message_id == experts.message_id
            && m.content
                .text
                .as_deref()
                .is_some_and(|t| t.contains("已由 carol 接单"))
    })
    .await
    .expect("expert card edited");

    // The reporter cancels a job nobody took yet: its card says so and loses its Accept,
    // instead of each engineer being told privately.
    let fifth = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let open = sim.bot_messages(GROUP).expect("group")[5].clone();
    assert!(open.content.button("✋ 接单").is_some());
    app.act(
        &crate::helpers::token("li.na"),
        &fifth,
        "cancel",
        serde_json::json!({"note": "自己好了"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let closed = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == open.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("cancelled card edited");
    let text = closed.content.text.clone().unwrap_or_default();
    assert!(text.contains(&fifth) && text.contains("已取消"), "{text}");
    assert_eq!(sim.bot_messages(GROUP).expect("group").len(), 6);
    assert_eq!(
        alice.count(&fifth) + bob.count(&fifth),
        0,
        "nothing privately"
    );
    stop([task]).await;
}
