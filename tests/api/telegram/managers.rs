//! The notices that mean the contract is at stake reach a manager through a real chat door
//! (issue 19): a complaint filed in Telegram, and a device owed under the replacement rule,
//! each delivered by the outbox to the manager's Telegram chat, and the reporter told.

use super::*;
use baoxiu::sla::Scheduler;
use chrono::Duration as Span;
use serde_json::json;

use crate::helpers::token;

on_both_backends!(complaint_and_replacement_notices_reach_the_manager_in_telegram);

/// Dispatcher rounds until nothing is left to send.
async fn deliver_all(dispatcher: &Dispatcher) {
    while dispatcher.run_once().await.expect("round").handled() > 0 {}
}

async fn complaint_and_replacement_notices_reach_the_manager_in_telegram(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let dispatcher = telegram_dispatcher(&app, &tg);
    // mia is the desk's only manager, so also the one on call.
    let mut mia = linked(&app, &sim, 90, "Mia", "mia").await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    deliver_all(&dispatcher).await;

    // The complaint, typed in Telegram, reaches mia's Telegram chat with its text.
    anna.say(
        &format!("/complain {number} COMPLAINT-TG engineer never came"),
        "recorded",
    )
    .await;
    deliver_all(&dispatcher).await;
    let told = mia.expect("COMPLAINT-TG").await;
    let text = told.content.text.clone().unwrap_or_default();
    assert!(text.contains("新投诉") && text.contains(&number), "{text}");

    // The job is accepted and waits for parts; 48 wall-clock hours after the report the
    // replacement rule fires, and both hear it in Telegram.
    let reported = app.desk.now();
    let alice = token("alice");
    app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &alice,
        &number,
        "pend",
        json!({"reason": "vendor", "note": "waiting for a fuser"}),
        StatusCode::OK,
    )
    .await;
    deliver_all(&dispatcher).await;
    app.clock.set(reported + Span::hours(48));
    Scheduler::new(app.desk.clone()).tick().await.expect("tick");
    deliver_all(&dispatcher).await;
    let owed = mia.expect("备用设备").await;
    let text = owed.content.text.clone().unwrap_or_default();
    assert!(text.contains(&number) && text.contains("48 小时"), "{text}");
    let offered = anna.expect("replacement device").await;
    let text = offered.content.text.clone().unwrap_or_default();
    assert!(
        text.contains(&number) && text.contains("48 hours"),
        "{text}"
    );
    // Each was said once; the complaint, still unanswered, was escalated once too.
    assert_eq!(mia.count("新投诉"), 1, "{}", mia.shown());
    assert_eq!(mia.count("仍未答复：COMPLAINT-TG"), 1, "{}", mia.shown());
    assert_eq!(mia.count("备用设备"), 1, "{}", mia.shown());
    stop([task]).await;
}
