//! Promises the product makes to the people it serves, kept (issue 19): the acceptance
//! notice says by when the engineer comes; "reply to add details" adds to the ticket.

use baoxiu::flow::Lang;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::Browser;
use crate::helpers::{Backend, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    the_acceptance_notice_says_when_the_engineer_will_be_there,
    a_reply_adds_to_the_open_ticket
);

/// The outbox rows of a ticket: (recipient, event, payload).
async fn outbox(app: &TestApp, number: &str) -> Vec<(String, String, Value)> {
    let t = app
        .store
        .ticket_by_number(number)
        .await
        .expect("load")
        .expect("exists");
    app.store
        .outbox_for_ticket(t.id)
        .await
        .expect("outbox")
        .into_iter()
        .map(|m| {
            let (kind, id) = m.to.parts();
            (format!("{kind}:{id}"), m.event, m.payload)
        })
        .collect()
}

fn due_of(detail: &Value, clock: &str) -> DateTime<Utc> {
    let c = detail["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["kind"] == clock)
        .unwrap_or_else(|| panic!("no {clock} clock: {detail}"));
    serde_json::from_value(c["due_at"].clone()).expect("a due time")
}

async fn the_acceptance_notice_says_when_the_engineer_will_be_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    let detail = app.detail(&number).await;
    let on_site = due_of(&detail, "on_site");
    let resolution = due_of(&detail, "resolution");

    let (_, event, payload) = outbox(&app, &number)
        .await
        .into_iter()
        .find(|(to, event, _)| to.starts_with("reporter") && event.starts_with("ticket_accepted"))
        .expect("the reporter is told of the acceptance");
    assert_eq!(event, "ticket_accepted");
    let at: DateTime<Utc> =
        serde_json::from_value(payload["on_site_due_at"].clone()).expect("on_site_due_at");
    assert_eq!(at, on_site);

    // Shown in the reporter's (the calendar's) time zone, in both languages.
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    for lang in [Lang::ZhCn, Lang::En] {
        let text = app.chat.flows().text(&event, lang, &payload);
        assert!(text.contains(&local(on_site)), "{text}");
        assert!(text.contains(&local(resolution)), "{text}");
        assert!(!text.contains('—'), "every value is there: {text}");
    }
}

async fn a_reply_adds_to_the_open_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let number = me.file_a_printer_fault().await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;

    let said = me.say("It also makes a grinding noise now").await;
    assert!(said.contains(&number), "the reply names the ticket: {said}");
    assert!(said.contains("Added to your ticket"), "{said}");

    // Recorded on the ticket, and the engineer who has the job is told.
    let detail = app.detail(&number).await;
    let comment = detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .find(|e| e["action"] == "comment")
        .unwrap_or_else(|| panic!("a comment in the trail: {detail}"));
    assert_eq!(comment["note"], "It also makes a grinding noise now");
    assert_eq!(comment["actor"]["kind"], "reporter");
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("db")
        .expect("alice");
    let told = outbox(&app, &number).await;
    assert!(
        told.iter().any(
            |(to, event, payload)| *to == format!("engineer:{}", alice.id)
                && event == "reporter_comment"
                && payload["note"] == "It also makes a grinding noise now"
        ),
        "{told:?}"
    );
    // No second ticket was started.
    assert_eq!(app.count("tickets").await, 1);

    // /report still starts a new report.
    let asked = me.say("/report").await;
    assert!(asked.contains("What kind of fault"), "{asked}");
}
