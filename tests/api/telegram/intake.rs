//! Reporting a fault over Telegram, as a reporter's client shows it.

use super::*;

on_both_backends!(a_reporter_walks_the_whole_report_with_buttons,);

async fn a_reporter_walks_the_whole_report_with_buttons(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, photo) = walk_report(&sim, &mut anna).await;
    // The submit tap's record (handled, with the receipt to send again after a crash) was
    // written with the ticket, so it names the ticket's number.
    let receipts = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM telegram_updates
             WHERE handled_at IS NOT NULL AND replies LIKE '%{number}%'"
        ))
        .await;
    assert_eq!(receipts, 1, "the receipt is recorded with the submit tap");

    let d = ticket_json(&app, &number).await;
    let t = &d["ticket"];
    assert_eq!(t["intake"]["category"], "printer");
    assert_eq!(t["intake"]["reporter_name"], "Anna Smith");
    assert_eq!(t["intake"]["location"]["site"], "Head office");
    assert_eq!(t["intake"]["device"]["asset_tag"], "PRN-12F-01");
    assert_eq!(t["intake"]["phone"], "+862155550100");
    assert_eq!(t["intake"]["department"], "Finance");
    assert_eq!(
        t["intake"]["photos"],
        serde_json::json!([photo]),
        "the photo's file id is kept"
    );
    // Every tap was answered (the button's spinner stops), each exactly once.
    for id in &anna.taps {
        let cb = sim.callback(id).expect("callback recorded");
        assert!(cb.answer.is_some(), "tap {} answered", cb.data);
    }
    assert_eq!(
        sim.stats().requests.get("answerCallbackQuery").copied(),
        Some(anna.taps.len() as u64)
    );
    // /status lists the new ticket.
    let status = anna.say("/status", &number).await;
    assert!(status.content.text.is_some());
    stop([task]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_texts_are_split_under_the_limit() {
    let app = spawn_app(Backend::Sqlite).await;
    let sim = sim().await;
    let tg = app.telegram(config(&sim));
    // The chat exists once the user wrote to the bot.
    sim.inject_text(REPORTER, REPORTER, "hi").expect("inject");
    let line = "• BX-2026-000001 · 处理中 · 打印机与外设 · 打印机卡纸，指示灯红色闪烁 😀\n";
    let text = line.repeat(250);
    let parcel = Parcel {
        id: 9,
        to: Address {
            channel: "telegram".into(),
            external_id: REPORTER.to_string(),
        },
        lang: Lang::ZhCn,
        event: "status".into(),
        ticket: None,
        replies: vec![Outgoing::Text(text.clone())],
    };
    tg.courier().deliver(&parcel).await.expect("delivered");
    let shown = texts(&sim, REPORTER);
    assert!(shown.len() >= 3, "{}", shown.len());
    for piece in &shown {
        let units: usize = piece.chars().map(char::len_utf16).sum();
        assert!(units <= 4096, "{units}");
        assert!(piece.ends_with('😀'), "split between lines");
    }
    assert_eq!(shown.join("\n") + "\n", text, "nothing lost or repeated");
}
