//! The whole loop over Telegram: a reporter's report, an engineer working the job with the
//! buttons of the card the offer brought, "is it fixed?" answered with a button, the next working day's survey
//! rated with a button, and the report counting all of it.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::helpers::{Backend, MANAGER, spawn_app};
use crate::on_both_backends;
use crate::telegram::{
    REPORTER, User, linked, polling, sim, stop, telegram_dispatcher, ticket_json, walk_report,
};

on_both_backends!(the_whole_loop_over_telegram);

async fn the_whole_loop_over_telegram(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut alice = linked(&app, &sim, 88, "Alice", "alice").await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let dispatcher = telegram_dispatcher(&app, &tg);
    // One message per person per round keeps their order: deliver until nothing is left.
    let deliver = || async {
        for _ in 0..20 {
            if dispatcher.run_once().await.expect("round").handled() == 0 {
                return;
            }
        }
        panic!("the outbox never emptied");
    };

    // The engineer works the job from the card: accept, remote (with the reporter's
    // consent), resolve (cause, solution).
    deliver().await;
    let card = alice.expect_button("✋ 接单").await;
    alice.tap(&card, "✋ 接单", "已接单").await;
    // Remote work waits for the reporter's consent (plan 004), asked with buttons.
    alice.tap(&card, "💻 远程处理", "已请报修人同意").await;
    deliver().await;
    let consent = anna.expect_button("Allow ✔").await;
    anna.tap(&consent, "Allow ✔", "you allowed remote work")
        .await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "in_progress");
    assert_eq!(t["ticket"]["work_mode"], "remote");
    deliver().await;
    alice.expect("报修人已同意远程").await;
    alice.tap(&card, "✅ 已解决", "故障原因").await;
    alice.say("worn pickup roller", "怎么解决").await;
    alice.say("replaced the roller", &number).await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "resolved", "{}", alice.shown());

    // The reporter is told what was done and answers "is it fixed?" with a button.
    deliver().await;
    // One message: what was done, and the question with its buttons.
    let asked = anna.expect_button("Fixed ✔").await;
    let told = asked.content.text.clone().unwrap_or_default();
    assert!(
        told.contains("has been resolved")
            && told.contains("worn pickup roller")
            && told.contains("replaced the roller"),
        "{told}"
    );
    anna.tap(&asked, "Fixed ✔", "Thank you for confirming")
        .await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "closed");
    assert_eq!(t["ticket"]["closure"], "confirmed");

    // The survey comes the next working day at 10:00 in Shanghai (Tuesday 02:00 UTC).
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap());
    let tick = baoxiu::sla::Scheduler::new(app.desk.clone())
        .tick()
        .await
        .expect("tick");
    assert_eq!(tick.surveys, 1);
    deliver().await;
    let survey = anna.expect("How satisfied").await;
    let comment = anna.tap(&survey, "5 Very satisfied", "Anything else").await;
    anna.tap(&comment, "Skip", "Thank you for your feedback")
        .await;

    let r = app
        .get(MANAGER, "/api/reports?from=2026-11-23&to=2026-11-23")
        .await;
    let report: Value = r.json().await.expect("json");
    let total = &report["total"];
    assert_eq!(total["tickets"], 1, "{report:#}");
    assert_eq!(total["confirmed"], 1, "{report:#}");
    assert_eq!(total["surveys_answered"], 1, "{report:#}");
    assert_eq!(total["average_rating"], 5.0, "{report:#}");
    stop([task]).await;
}
